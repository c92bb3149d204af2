//! Google Gemini (`POST /v1beta/models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse`, whose events are bare `data:` lines with no `[DONE]`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{HeaderSource, header_duration, kind_for_status, retry_after};
use crate::outcome::{ErrorKind, Outcome};
use crate::request::{FinishReason, Usage};
use crate::time::Duration;

mod request;

pub use request::{
    Blob, FileData, FunctionCall, FunctionResponse, GenerateRequest, InputContent, InputPart,
    MAX_STOP_SEQUENCES, SKIP_THOUGHT_SIGNATURE, check,
};

/// `/v1beta/models/{model}:generateContent` or `:streamGenerateContent`.
pub fn path(model: &str, stream: bool) -> String {
    let method = if stream {
        "streamGenerateContent"
    } else {
        "generateContent"
    };
    format!("/v1beta/models/{model}:{method}")
}

/// A candidate's content in a reply: text parts only (readers that need a reply's function
/// calls read the body with their own types).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// `model` in a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The parts, in order; a part that is not text reads as a part without text.
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// One part of a reply's [`Content`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// The part's text; `None` for any other kind of part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A request's `generationConfig`: the output cap and sampling. The encoder leaves it out
/// when every field is `None`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// The cap on output tokens; absent: the model's own limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature (Gemini: 0–2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Up to [`MAX_STOP_SEQUENCES`] sequences that end the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// How many candidates to generate (OpenAI's `n`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    /// Nucleus sampling mass (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sample among the `top_k` likeliest tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Penalty on tokens already present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Penalty by how often a token has appeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// `application/json` for JSON output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// A JSON Schema the output must follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
}

impl Content {
    /// The text parts, joined with nothing between them.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .collect()
    }
}

/// A `generateContent` reply, and the body of each event of a `streamGenerateContent`
/// stream (each event is a whole response carrying the next slice of text).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateResponse {
    /// Absent when the prompt itself was blocked (`promptFeedback` says why) and on a
    /// usage-only chunk.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Token counts; in a stream, the last event's are the reply's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model version that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The response's id, the same on every event of a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
}

/// One generated candidate of a [`GenerateResponse`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// Its content (in a stream: this event's slice).
    #[serde(default)]
    pub content: Content,
    /// Why it ended (see [`parse_finish`]); only on a candidate's last event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Its position among the candidates, from 0; absent reads as 0.
    #[serde(default)]
    pub index: u32,
}

/// A reply's `usageMetadata`; every count absent reads as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Tokens of the prompt.
    #[serde(default)]
    pub prompt_token_count: u32,
    /// Tokens generated, over all candidates.
    #[serde(default)]
    pub candidates_token_count: u32,
    /// All tokens counted, thinking tokens included, so it may exceed the other two's sum.
    #[serde(default)]
    pub total_token_count: u32,
}

/// `reason` as Gemini's `finishReason`: `tool_calls` is `STOP` (Gemini has no tool-call
/// reason), `length` `MAX_TOKENS`, `content_filter` `SAFETY`.
pub fn finish_label(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::ToolCalls => "STOP",
        FinishReason::Length => "MAX_TOKENS",
        FinishReason::ContentFilter => "SAFETY",
    }
}

/// Gemini's `finishReason`: `MAX_TOKENS` is `length`; the safety family (`SAFETY`,
/// `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, `IMAGE_*`) is `content_filter`;
/// the rest `stop` (Gemini has no tool-call reason: a reply with `functionCall` parts says
/// `STOP`, and readers derive `tool_calls` from the parts). The tool-failure reasons are not
/// finish reasons at all: see [`TOOL_FAILURES`].
pub fn parse_finish(label: &str) -> FinishReason {
    match label {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => {
            FinishReason::ContentFilter
        }
        l if l.starts_with("IMAGE_") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// The `finishReason`s that mean the model failed at calling a tool: a reply that ends so has
/// no usable answer (readers treat it as an error, not a finish).
pub const TOOL_FAILURES: [&str; 3] = [
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
];

impl GenerateResponse {
    /// A response (or one stream event) with `text`; `finish` only on the last.
    pub fn new(
        model: &str,
        id: &str,
        text: String,
        finish: Option<FinishReason>,
        usage: Option<Usage>,
    ) -> Self {
        GenerateResponse {
            candidates: vec![Candidate {
                content: Content {
                    role: Some("model".to_owned()),
                    parts: vec![Part { text: Some(text) }],
                },
                finish_reason: finish.map(|f| finish_label(f).to_owned()),
                index: 0,
            }],
            usage_metadata: usage.map(|u| UsageMetadata {
                prompt_token_count: u.prompt_tokens,
                candidates_token_count: u.completion_tokens,
                total_token_count: u.total(),
            }),
            model_version: Some(model.to_owned()),
            response_id: Some(id.to_owned()),
        }
    }

    /// The first candidate's text and finish reason; `("", None)` without a candidate (a
    /// blocked prompt, a usage-only event), and `None` for an event that does not end it.
    pub fn text(&self) -> (String, Option<FinishReason>) {
        self.candidates.first().map_or((String::new(), None), |c| {
            (
                c.content.text(),
                c.finish_reason.as_deref().map(parse_finish),
            )
        })
    }
}

/// The status and body Gemini answers with for an error of this kind.
pub fn error_for_kind(kind: ErrorKind, retry_delay: Option<Duration>) -> (u16, Value) {
    let (code, status, message) = match kind {
        ErrorKind::Unauthorized => (
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
        ),
        ErrorKind::Forbidden => (
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        ),
        ErrorKind::BadRequest => (400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
        ErrorKind::ContextLengthExceeded => (
            400,
            "INVALID_ARGUMENT",
            "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).",
        ),
        ErrorKind::ContentFiltered => (
            400,
            "INVALID_ARGUMENT",
            "The request was blocked by safety filters.",
        ),
        ErrorKind::RateLimited => (
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        ErrorKind::Overloaded => (
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        ErrorKind::Timeout => (
            504,
            "DEADLINE_EXCEEDED",
            "The request timed out. Please try again.",
        ),
        _ => (
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        ),
    };
    let mut details = Vec::new();
    if kind == ErrorKind::Unauthorized {
        details.push(json!({ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com" }));
    }
    if let Some(delay) = retry_delay {
        details.push(json!({ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{}s", delay.as_secs_f64().ceil() as u64) }));
    }
    let mut error = json!({ "code": code, "message": message, "status": status });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    (code, json!({ "error": error }))
}

/// Maps an error reply to the taxonomy; the retry delay comes from a `RetryInfo` detail.
pub fn classify(status: u16, headers: &dyn HeaderSource, body: &[u8]) -> Outcome {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let grpc = parsed
        .pointer("/error/status")
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = parsed
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    let details = parsed.pointer("/error/details").and_then(Value::as_array);
    let detail = |key: &str| {
        details
            .and_then(|d| d.iter().find_map(|x| x.get(key).and_then(Value::as_str)))
            .map(str::to_owned)
    };
    let kind = match grpc {
        "INVALID_ARGUMENT" if detail("reason").as_deref() == Some("API_KEY_INVALID") => {
            ErrorKind::Unauthorized
        }
        "INVALID_ARGUMENT" if message.contains("maximum number of tokens") => {
            ErrorKind::ContextLengthExceeded
        }
        "INVALID_ARGUMENT" if message.contains("safety") => ErrorKind::ContentFiltered,
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" => ErrorKind::BadRequest,
        "UNAUTHENTICATED" => ErrorKind::Unauthorized,
        "PERMISSION_DENIED" | "NOT_FOUND" => ErrorKind::Forbidden,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        "INTERNAL" => ErrorKind::ServerError,
        _ => kind_for_status(status),
    };
    let delay = detail("retryDelay").and_then(|d| header_duration(&d));
    Outcome::Error {
        kind,
        retry_after: delay.or_else(|| retry_after(headers)),
    }
}
