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
    // The usual head is read by hand ([`usual`]); any other by httparse, as hyper reads it.
    let mut lines = [Line::default(); MAX_HEADERS];
    if let Some((head_len, n)) = usual(buf, &mut lines) {
        let headers = lines.iter().take(n).map(|l| l.of(buf));
        return canonical(head_len, headers, max_body);
    }
    by_httparse(buf, max_body)
}

/// [`parse`] by httparse, for any head.
fn by_httparse(buf: &[u8], max_body: usize) -> Parsed {
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
    if request.version != Some(1) {
        return Parsed::Other(Handoff::ChatNotCanonical);
    }
    let headers = request.headers.iter().map(|h| (h.name.as_bytes(), h.value));
    canonical(head_len, headers, max_body)
}

/// A chat request's head of `head_len` bytes with these headers (name, value): canonical, or
/// what about it is not.
fn canonical<'a>(
    head_len: usize,
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    max_body: usize,
) -> Parsed {
    let other = || Parsed::Other(Handoff::ChatNotCanonical);
    let mut body_len = None;
    let mut connection = None;
    let mut kept = HeaderMap::new();
    for (name, value) in headers {
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        if is("content-length") {
            match (body_len, length(value)) {
                (None, Some(n)) if n <= max_body => body_len = Some(n),
                _ => return other(),
            }
        } else if is("connection") {
            match (connection, close(value)) {
                (None, Some(c)) => connection = Some(c),
                _ => return other(),
            }
        } else if is("transfer-encoding") || is("expect") || is("upgrade") {
            return other();
        } else if is(AUTHORIZATION.as_str()) || is(TASK.as_str()) {
            // The values hyper would accept (httparse's own check is the same).
            let Ok(value) = HeaderValue::from_bytes(value) else {
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

/// Where a header line's name and value lie in the head (start, end).
#[derive(Clone, Copy, Default)]
struct Line {
    name: (usize, usize),
    value: (usize, usize),
}

impl Line {
    fn of(self, buf: &[u8]) -> (&[u8], &[u8]) {
        let part = |(a, b): (usize, usize)| buf.get(a..b).unwrap_or_default();
        (part(self.name), part(self.value))
    }
}

/// The request line every canonical head starts with.
const REQUEST_LINE: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\n";

/// The usual head, read by hand: the canonical request line, then at most [`MAX_HEADERS`]
/// lines of a token, a colon and a value of printable ASCII, each ending in CR LF, then an
/// empty line; its length and how many header lines it has, put in `lines`. `None` for anything else — a head not whole
/// yet, a bare LF, a tab or a byte above 0x7e in a value, a space before a colon, anything
/// httparse would refuse —, which httparse then reads: what is read here, httparse reads
/// alike (a test compares both on generated heads).
fn usual(buf: &[u8], lines: &mut [Line; MAX_HEADERS]) -> Option<(usize, usize)> {
    let mut at = buf.strip_prefix(REQUEST_LINE).map(|_| REQUEST_LINE.len())?;
    let mut n = 0;
    loop {
        let rest = buf.get(at..)?;
        if rest.starts_with(b"\r\n") {
            return Some((at + 2, n));
        }
        let end = at + memchr::memchr(b'\n', rest)?;
        // A line: `name:value` then CR (its LF at `end`).
        let text = buf.get(at..end)?.strip_suffix(b"\r")?;
        let colon = text.iter().position(|&b| !is_token(b))?;
        let (name, value) = (text.get(..colon)?, text.get(colon + 1..)?);
        if name.is_empty() || text.get(colon) != Some(&b':') || !printable(value) {
            return None;
        }
        // The value without the spaces around it (httparse's trim; tabs are not read here).
        let lead = value.iter().take_while(|&&b| b == b' ').count();
        let kept = value.get(lead..)?.trim_ascii_end().len();
        let start = at + colon + 1 + lead;
        *lines.get_mut(n)? = Line {
            name: (at, at + colon),
            value: (start, start + kept),
        };
        n += 1;
        at = end + 1;
    }
}

/// A header name's byte (RFC 9110's `tchar`).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Printable ASCII, spaces included: a value read here (no tab, no control byte, nothing
/// above 0x7e).
fn printable(value: &[u8]) -> bool {
    crate::logging::ascii_in(value, 0x20, b"")
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
mod tests;
