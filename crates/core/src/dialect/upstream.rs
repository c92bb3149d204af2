//! What an upstream said when it refused a request, normalized across dialects, so a client
//! gets the provider's own words (a context-length error's token counts, the parameter at
//! fault) in its own dialect, whichever vendor answered.
//!
//! This travels beside the outcome, never into it: the router decides on the [`ErrorKind`]
//! that `classify` gives; an [`UpstreamError`] is only read back when the request fails, to
//! write the client's error.
//!
//! Invariants: every field is bounded ([`MAX_MESSAGE_BYTES`] for the message,
//! [`MAX_FIELD_BYTES`] for the others) and free of control characters; the message has what
//! looks like an API key (`sk-…`, `AIza…`) replaced by `[redacted]`, and a driver redacts the
//! key it sent as well ([`UpstreamError::redact`]). Only the error body is read, never the
//! request.
//!
//! [`ErrorKind`]: crate::outcome::ErrorKind

use serde_json::Value;

use super::Dialect;

/// The longest message kept, in bytes (cut at a character boundary, with `…`).
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// The longest `kind`, `code` or `param` kept, in bytes (longer ones are dropped).
pub const MAX_FIELD_BYTES: usize = 128;

/// An upstream's error, as it said it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamError {
    /// The HTTP status of the reply (200 for an error event inside a stream).
    pub status: u16,
    /// The vendor's error type: OpenAI's `type` (`invalid_request_error`), Anthropic's
    /// `error.type` (`overloaded_error`), Gemini's `status` (`INVALID_ARGUMENT`).
    pub kind: Option<String>,
    /// OpenAI's `code` (`context_length_exceeded`); Gemini's `ErrorInfo` reason.
    pub code: Option<String>,
    /// OpenAI's `param` (`messages`).
    pub param: Option<String>,
    /// The vendor's message, bounded and with keys redacted.
    pub message: String,
    /// The dialect whose words `kind` and `code` are in: the target's, or `None` for an
    /// error the driver wrote itself (in OpenAI's words).
    pub dialect: Option<Dialect>,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl UpstreamError {
    /// An error the driver writes itself (a reply that ends in a way that is no answer).
    pub fn new(status: u16, kind: &str, message: &str) -> Self {
        UpstreamError {
            status,
            kind: field(Some(kind)),
            code: None,
            param: None,
            message: bounded_message(message),
            dialect: None,
        }
    }

    /// Replaces every occurrence of `secret` (a key the driver sent) in the message.
    pub fn redact(&mut self, secret: &str) {
        if secret.len() >= 4 && self.message.contains(secret) {
            self.message = self.message.replace(secret, REDACTED);
        }
    }
}

const REDACTED: &str = "[redacted]";

/// The error in an error reply's body (or an error event's), or `None` when the body is not
/// the dialect's error shape or has no message.
pub fn parse(dialect: Dialect, status: u16, body: &[u8]) -> Option<UpstreamError> {
    let value: Value = serde_json::from_slice(body).ok()?;
    // Gemini (and proxies in front of it) sometimes wrap the error in a one-element array.
    let value = match value {
        Value::Array(mut items) if items.len() == 1 => items.pop()?,
        v => v,
    };
    let error = value.get("error")?;
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let message = error.get("message").and_then(Value::as_str)?;
    let (kind, code, param) = match dialect {
        Dialect::Openai | Dialect::AzureOpenai => (
            text(error.get("type")),
            text(error.get("code")),
            text(error.get("param")),
        ),
        Dialect::Anthropic => (text(error.get("type")), None, None),
        Dialect::Gemini => {
            let reason = error
                .get("details")
                .and_then(Value::as_array)
                .and_then(|d| d.iter().find_map(|x| x.get("reason")))
                .and_then(Value::as_str)
                .map(str::to_owned);
            (text(error.get("status")), reason, None)
        }
    };
    Some(UpstreamError {
        status,
        kind: field(kind.as_deref()),
        code: field(code.as_deref()),
        param: field(param.as_deref()),
        message: bounded_message(message),
        dialect: Some(dialect),
    })
}

/// A short identifier-like field: kept when it is printable ASCII within the bound.
fn field(value: Option<&str>) -> Option<String> {
    value
        .filter(|v| !v.is_empty() && v.len() <= MAX_FIELD_BYTES)
        .filter(|v| v.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .map(str::to_owned)
}

/// The message with control characters as spaces, key-like words redacted, cut to
/// [`MAX_MESSAGE_BYTES`].
fn bounded_message(message: &str) -> String {
    // Work on a bounded prefix: a hostile body may hold megabytes of message.
    let mut end = message.len().min(MAX_MESSAGE_BYTES * 2);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let clean: String = message[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = redact_key_like(&clean);
    if out.len() > MAX_MESSAGE_BYTES || end < message.len() {
        let mut cut = out.len().min(MAX_MESSAGE_BYTES - '…'.len_utf8());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Words that look like API keys: `sk-` or `AIza` followed by key characters (letters,
/// digits, `-`, `_`, `*`), at least 8 of them.
fn redact_key_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = ["sk-", "AIza"]
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
            .min();
        let Some((at, prefix)) = next else {
            out.push_str(rest);
            return out;
        };
        let tail = &rest[at + prefix..];
        let run = tail
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*'))
            .count();
        out.push_str(&rest[..at]);
        if run >= 8 {
            out.push_str(REDACTED);
        } else {
            out.push_str(&rest[at..at + prefix + run]);
        }
        rest = &tail[run..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_keeps_the_vendor_words() {
        let openai = br#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        let e = parse(Dialect::Openai, 400, openai).unwrap();
        assert_eq!(e.status, 400);
        assert_eq!(e.kind.as_deref(), Some("invalid_request_error"));
        assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
        assert_eq!(e.param.as_deref(), Some("messages"));
        assert!(e.message.contains("130512 tokens"));

        let anthropic = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"},"request_id":"req_1"}"#;
        let e = parse(Dialect::Anthropic, 400, anthropic).unwrap();
        assert_eq!(e.kind.as_deref(), Some("invalid_request_error"));
        assert_eq!(
            e.message,
            "prompt is too long: 210000 tokens > 200000 maximum"
        );

        let gemini = br#"[{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}]"#;
        let e = parse(Dialect::Gemini, 400, gemini).unwrap();
        assert_eq!(e.kind.as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(e.code.as_deref(), Some("API_KEY_INVALID"));

        assert_eq!(
            parse(Dialect::Openai, 500, b"<html>bad gateway</html>"),
            None
        );
        assert_eq!(parse(Dialect::Openai, 500, br#"{"error":{}}"#), None);
    }

    #[test]
    fn messages_are_bounded_cleaned_and_keys_redacted() {
        let long = format!(
            r#"{{"error":{{"message":"{}","type":"x"}}}}"#,
            "é".repeat(5000)
        );
        let e = parse(Dialect::Openai, 400, long.as_bytes()).unwrap();
        assert!(e.message.len() <= MAX_MESSAGE_BYTES, "{}", e.message.len());
        assert!(e.message.ends_with('…'));

        let keyed = br#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdefgh1234****wxyz.\nSee AIzaSyA1234567890abcdefghij and sk-short.","type":"invalid_request_error\u0007"}}"#;
        let mut e = parse(Dialect::Openai, 401, keyed).unwrap();
        assert_eq!(
            e.message,
            "Incorrect API key provided: [redacted]. See [redacted] and sk-short."
        );
        assert_eq!(e.kind, None, "a control character drops the field");
        e.message.push_str(" my-secret-value");
        e.redact("my-secret-value");
        assert!(e.message.ends_with("[redacted]"));
    }
}
