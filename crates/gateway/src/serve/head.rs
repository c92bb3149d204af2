//! The head of a request, read by the fast path ([`super::fast`]): whether it is the canonical
//! chat request the fast path serves itself, and if so the little of it the handler reads.
//!
//! Canonical: `POST /v1/chat/completions HTTP/1.1` (no query), one valid `content-length` no
//! larger than the gateway's body limit, no `transfer-encoding`, `expect` or `upgrade`, at
//! most one `connection` header saying `keep-alive` or `close`, and at most [`MAX_HEADERS`]
//! headers. Anything else, or anything [`httparse`] refuses, is left to hyper, which then
//! answers as it always has (100-continue, chunked bodies, 413, 400 for a bad head); why is
//! counted for `/metrics` ([`Handoff`]).

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};

use super::tally::Handoff;
use crate::CHAT_PATH;
use crate::chat::TASK;

/// Headers a canonical head may have; one with more goes to hyper (which allows 100).
pub(super) const MAX_HEADERS: usize = 32;

/// A canonical chat request's head.
#[derive(Debug)]
pub(super) struct Canonical {
    /// The head's length in bytes: the body starts there.
    pub(super) head_len: usize,
    /// The body's length (`content-length`).
    pub(super) body_len: usize,
    /// The client asked for the connection to close after this request (`connection: close`).
    pub(super) close: bool,
    /// The only headers the handler reads (`authorization`, `x-switchyard-task`; every value
    /// of each, in order): the access log reads none, the chat handler these two.
    pub(super) headers: HeaderMap,
}

/// What the bytes read so far hold.
#[derive(Debug)]
pub(super) enum Parsed {
    /// A canonical chat request's head (its body may not be whole yet).
    Canonical(Canonical),
    /// Not a whole head yet.
    Partial,
    /// Anything else: hyper's, and why.
    Other(Handoff),
}

/// The head at the start of `buf`, for a gateway whose body limit is `max_body`.
pub(super) fn parse(buf: &[u8], max_body: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other(Handoff::HeadUnread),
    };
    if request.method != Some("POST") || request.path != Some(CHAT_PATH) {
        return Parsed::Other(Handoff::NotChat);
    }
    // What is left to hyper from here on is a chat request.
    let other = || Parsed::Other(Handoff::ChatNotCanonical);
    if request.version != Some(1) {
        return other();
    }
    let mut body_len = None;
    let mut connection = None;
    let mut kept = HeaderMap::new();
    for h in request.headers.iter() {
        let name = h.name.as_bytes();
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        if is("content-length") {
            match (body_len, length(h.value)) {
                (None, Some(n)) if n <= max_body => body_len = Some(n),
                _ => return other(),
            }
        } else if is("connection") {
            match (connection, close(h.value)) {
                (None, Some(c)) => connection = Some(c),
                _ => return other(),
            }
        } else if is("transfer-encoding") || is("expect") || is("upgrade") {
            return other();
        } else if is(AUTHORIZATION.as_str()) || is(TASK.as_str()) {
            // The values hyper would accept (httparse's own check is the same).
            let Ok(value) = HeaderValue::from_bytes(h.value) else {
                return other();
            };
            let name = if is(TASK.as_str()) {
                TASK
            } else {
                AUTHORIZATION
            };
            kept.append(name, value);
        }
    }
    let Some(body_len) = body_len else {
        return other();
    };
    Parsed::Canonical(Canonical {
        head_len,
        body_len,
        close: connection.unwrap_or(false),
        headers: kept,
    })
}

/// A `content-length` value: decimal digits only (no sign, no list), without overflow.
fn length(value: &[u8]) -> Option<usize> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0usize, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(usize::from(digit))
    })
}

/// A `connection` value: `Some(true)` for `close`, `Some(false)` for `keep-alive` (either
/// case, surrounding spaces allowed), `None` for anything else (a list, `upgrade`).
fn close(value: &[u8]) -> Option<bool> {
    let value = value.trim_ascii();
    if value.eq_ignore_ascii_case(b"close") {
        Some(true)
    } else if value.eq_ignore_ascii_case(b"keep-alive") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{Handoff, Parsed, parse};

    const MAX: usize = 1000;

    fn canonical(head: &str) -> super::Canonical {
        match parse(head.as_bytes(), MAX) {
            Parsed::Canonical(c) => c,
            other => panic!("{other:?} for {head:?}"),
        }
    }

    /// Why `head` is left to hyper (`None`: it is not).
    fn other(head: &str) -> Option<Handoff> {
        match parse(head.as_bytes(), MAX) {
            Parsed::Other(why) => Some(why),
            _ => None,
        }
    }

    #[test]
    fn the_canonical_head_keeps_only_what_the_handler_reads() {
        let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer k\r\n\
                    X-Switchyard-Task: sum\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n";
        let c = canonical(head);
        assert_eq!((c.head_len, c.body_len, c.close), (head.len(), 12, false));
        assert_eq!(c.headers.len(), 2);
        assert_eq!(c.headers["authorization"], "Bearer k");
        assert_eq!(c.headers["x-switchyard-task"], "sum");
        let two = "POST /v1/chat/completions HTTP/1.1\r\nx-switchyard-task: a\r\n\
                   x-switchyard-task: b\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n";
        let c = canonical(two);
        assert!(c.close);
        assert_eq!(c.headers.get_all("x-switchyard-task").iter().count(), 2);
        let ka = "POST /v1/chat/completions HTTP/1.1\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n";
        assert!(!canonical(ka).close);
    }

    #[test]
    fn anything_else_is_hyper_s_or_partial() {
        let cl = "content-length: 2\r\n";
        let not_chat = [
            format!("GET /v1/chat/completions HTTP/1.1\r\n{cl}\r\n"),
            format!("POST /v1/chat/completions?x=1 HTTP/1.1\r\n{cl}\r\n"),
            format!("POST /v1/messages HTTP/1.1\r\n{cl}\r\n"),
        ];
        let chat = [
            format!("POST /v1/chat/completions HTTP/1.0\r\n{cl}\r\n"),
            "POST /v1/chat/completions HTTP/1.1\r\n\r\n".to_owned(),
            "POST /v1/chat/completions HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n".to_owned(),
            format!("POST /v1/chat/completions HTTP/1.1\r\n{cl}transfer-encoding: chunked\r\n\r\n"),
            format!("POST /v1/chat/completions HTTP/1.1\r\n{cl}expect: 100-continue\r\n\r\n"),
            format!("POST /v1/chat/completions HTTP/1.1\r\n{cl}upgrade: h2c\r\n\r\n"),
            format!("POST /v1/chat/completions HTTP/1.1\r\n{cl}connection: upgrade\r\n\r\n"),
            format!("POST /v1/chat/completions HTTP/1.1\r\n{cl}connection: close, te\r\n\r\n"),
            format!("POST /v1/chat/completions HTTP/1.1\r\n{cl}{cl}\r\n"),
            "POST /v1/chat/completions HTTP/1.1\r\ncontent-length: +2\r\n\r\n".to_owned(),
            "POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 2, 2\r\n\r\n".to_owned(),
            "POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 1001\r\n\r\n".to_owned(),
            "POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 99999999999999999999999\r\n\r\n"
                .to_owned(),
        ];
        let unread = [
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\n{}{cl}\r\n",
                "a: b\r\n".repeat(40)
            ),
            "\0garbage\r\n\r\n".to_owned(),
        ];
        for (heads, why) in [
            (&not_chat[..], Handoff::NotChat),
            (&chat[..], Handoff::ChatNotCanonical),
            (&unread[..], Handoff::HeadUnread),
        ] {
            for head in heads {
                assert_eq!(other(head), Some(why), "{head:?}");
            }
        }
        for partial in ["", "POST /v1/chat/completions HTTP/1.1\r\ncontent-le"] {
            assert!(
                matches!(parse(partial.as_bytes(), MAX), Parsed::Partial),
                "{partial:?}"
            );
        }
    }
}
