//! HTTP/1.1 on the wire, without IO: a request's head written into a buffer, a response's
//! head parsed from one, and the response body's framing decoded from whatever bytes have
//! arrived so far ([`Decoder`]). The client in `client.rs` does the reading and writing.
//!
//! Everything a peer sends is bounded: a head is at most [`MAX_HEAD`] bytes and
//! [`MAX_HEADERS`] headers, a chunk-size line at most [`MAX_LINE`] bytes, a chunked body's
//! trailers at most [`MAX_TRAILERS`] bytes; lengths are parsed digit by digit with checked
//! arithmetic, and no buffer is ever sized from a length the peer sent.

use std::mem::MaybeUninit;

use axum::http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use bytes::{Buf, Bytes, BytesMut};

pub(super) use spans::Spans;

use super::ReplyHeaders;

/// The largest response head read (status line and headers).
pub(super) const MAX_HEAD: usize = 64 * 1024;
/// The most headers a response head may have.
pub(super) const MAX_HEADERS: usize = 100;
/// The longest chunk-size line (size, extensions, CRLF).
pub(super) const MAX_LINE: usize = 4 * 1024;
/// The most bytes of trailers after a chunked body's last chunk.
pub(super) const MAX_TRAILERS: usize = 16 * 1024;

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum WireError {
    #[error("malformed response head: {0}")]
    Head(&'static str),
    #[error("response head over {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("malformed response body: {0}")]
    Body(&'static str),
    #[error("the connection closed before the response body's end")]
    EarlyEof,
}

impl From<WireError> for std::io::Error {
    fn from(e: WireError) -> Self {
        let kind = match e {
            WireError::EarlyEof => std::io::ErrorKind::UnexpectedEof,
            _ => std::io::ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, e)
    }
}

/// Writes the head of a request to an origin into `out`: the request line with `path` (the
/// origin form: path and query), the headers (`host` first when given, for a request that
/// has none), and `content-length: body_len` unless the body is empty on a method that has
/// none. The caller's own `content-length` and `transfer-encoding` are left out: the body is
/// sent whole, and its length is the one that counts.
///
/// Returns whether the request asks to close the connection after its reply (a
/// `connection: close` among the caller's headers, as a provider's `headers:` may give):
/// such a connection must never be pooled, whatever the reply says.
#[must_use]
pub(super) fn encode_head(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    host: Option<&HeaderValue>,
    body_len: usize,
    out: &mut Vec<u8>,
) -> bool {
    let close = encode_fields(method, path, headers, host, out);
    encode_length(method, body_len, out);
    close
}

/// The part of [`encode_head`] that does not depend on the body: the request line and the
/// headers (a request's prepared head, [`Prepared`](super::Prepared)). Returns whether the
/// request asks to close the connection.
#[must_use]
pub(super) fn encode_fields(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    host: Option<&HeaderValue>,
    out: &mut Vec<u8>,
) -> bool {
    let mut close = false;
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(host) = host {
        header_line(out, HOST.as_str(), host);
    }
    for (name, value) in headers {
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING {
            header_line(out, name.as_str(), value);
        }
        if name == CONNECTION {
            close |= has_close(value.as_bytes());
        }
    }
    close
}

/// The rest of [`encode_head`] after [`encode_fields`]: the body's length (unless it is
/// empty on a method that has none) and the head's end.
pub(super) fn encode_length(method: &Method, body_len: usize, out: &mut Vec<u8>) {
    let bodiless = matches!(*method, Method::GET | Method::HEAD);
    if body_len > 0 || !bodiless {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether a `connection` value lists `close`.
fn has_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
}

fn header_line(out: &mut Vec<u8>, name: &str, value: &HeaderValue) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body (HEAD, 1xx, 204, 304, or `content-length: 0`).
    Empty,
    /// `content-length` bytes.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    Eof,
}

/// A response head.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) status: StatusCode,
    pub(super) version: Version,
    /// The headers: the head's bytes, read when asked ([`ReplyHeaders`]).
    pub(super) headers: ReplyHeaders,
    pub(super) framing: Framing,
    /// Whether the connection may carry another request once this body is read.
    pub(super) keep_alive: bool,
    /// How long the server keeps the connection open idle, in seconds, when it says so
    /// (`keep-alive: timeout=N`; the smallest if it says it more than once).
    pub(super) idle_timeout: Option<u64>,
    /// The head's length in bytes: where the body begins.
    pub(super) len: usize,
}

/// Parses a response head at the start of `buf`: `Ok(None)` when more bytes are needed.
/// `head_request` says the request was a HEAD (its response has no body whatever it says).
/// A 1xx head is returned like any other; the caller skips it. (For tests: the client
/// takes heads off its buffer with [`take_head`].)
#[cfg(test)]
pub(super) fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Head>, WireError> {
    let mut spans = Spans::default();
    let Some(mut head) = parse(buf, head_request, &mut spans)? else {
        return Ok(None);
    };
    head.headers = spans.headers(&Bytes::copy_from_slice(
        buf.get(..head.len).unwrap_or_default(),
    ))?;
    Ok(Some(head))
}

/// The first pass over a response head at the start of `buf`: `Ok(None)` when more bytes
/// are needed. Everything but the headers (left empty), which go into `spans`.
fn parse(buf: &[u8], head_request: bool, spans: &mut Spans) -> Result<Option<Head>, WireError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    // A folded header line (obs-fold) is read, not refused: its folds are replaced with SP
    // when its value is built (`Spans::headers`; RFC 9112 5.2).
    let len = match httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response_with_uninit_headers(&mut response, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(WireError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(WireError::Head("over 100 headers")),
        Err(_) => return Err(WireError::Head("not an HTTP/1.x status line and headers")),
    };
    if len > MAX_HEAD {
        return Err(WireError::HeadTooLarge);
    }
    let status = response
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(WireError::Head("bad status code"))?;
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut idle_timeout: Option<u64> = None;
    spans.record(buf, len, response.headers)?;
    for h in response.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = content_length(h.value)?;
            if length.is_some_and(|l| l != n) {
                return Err(WireError::Head("content-length values disagree"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // The last coding of the last header says whether the body is chunked.
            chunked = Some(
                h.value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked")),
            );
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"keep-alive")
            && let Some(n) = timeout_param(h.value)
        {
            idle_timeout = Some(idle_timeout.map_or(n, |t| t.min(n)));
        }
    }
    let framing = framing(version, status, head_request, chunked, length)?;
    let keep_alive =
        !close && framing != Framing::Eof && (version == Version::HTTP_11 || keep_alive_token);
    Ok(Some(Head {
        status,
        version,
        headers: ReplyHeaders::default(),
        framing,
        keep_alive,
        idle_timeout,
        len,
    }))
}

/// The `timeout=N` parameter of a `keep-alive` value (`timeout=5, max=100`), in seconds:
/// decimal digits (quoted or not), checked; `None` when absent or not a number.
fn timeout_param(value: &[u8]) -> Option<u64> {
    value.split(|&b| b == b',').find_map(|param| {
        let at = param.iter().position(|&b| b == b'=')?;
        let (name, rest) = param.split_at(at);
        if !name.trim_ascii().eq_ignore_ascii_case(b"timeout") {
            return None;
        }
        let n = rest.get(1..)?.trim_ascii();
        let n = n
            .strip_prefix(b"\"")
            .and_then(|n| n.strip_suffix(b"\""))
            .unwrap_or(n);
        digits(n, 10)
    })
}

/// How a body is delimited, from the status, whether the request was a HEAD, whether a
/// `transfer-encoding` ended in `chunked` (if there was one) and the `content-length` (if
/// any). Both headers at once is an error: which one to believe is how responses get
/// smuggled. So is a `transfer-encoding` in an HTTP/1.0 reply (RFC 9112 6.1: faulty framing,
/// an HTTP/1.0 peer would not have encoded it; hyper refuses it too).
fn framing(
    version: Version,
    status: StatusCode,
    head_request: bool,
    chunked: Option<bool>,
    length: Option<u64>,
) -> Result<Framing, WireError> {
    if length.is_some() && chunked.is_some() {
        return Err(WireError::Head("both transfer-encoding and content-length"));
    }
    if version == Version::HTTP_10 && chunked.is_some() {
        return Err(WireError::Head("transfer-encoding in an HTTP/1.0 reply"));
    }
    if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Empty);
    }
    Ok(match (chunked, length) {
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) | (None, None) => Framing::Eof,
        (None, Some(0)) => Framing::Empty,
        (None, Some(n)) => Framing::Length(n),
    })
}

/// The response head at the start of `buf`, taken off it, after any 1xx heads (taken off
/// too); `Ok(None)` until it has arrived. A 101 (a protocol switch nobody asked for) is an
/// error.
///
/// `spans` is the connection's (see [`Spans`]).
pub(super) fn take_head(
    buf: &mut BytesMut,
    head_request: bool,
    spans: &mut Spans,
) -> Result<Option<Head>, WireError> {
    while let Some(mut head) = parse(buf, head_request, spans)? {
        let bytes = buf.split_to(head.len).freeze();
        head.headers = spans.headers(&bytes)?;
        if head.status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(WireError::Head("101 switching protocols, unasked"));
        }
        if !head.status.is_informational() {
            return Ok(Some(head));
        }
    }
    Ok(None)
}

/// One response read from `pieces` (the bytes of successive reads) as the client reads it:
/// the head after any 1xx, then the body by its framing, the end of `pieces` being the
/// connection's end. The status and the body, or why the response was refused.
pub(super) fn read_response(pieces: &[&[u8]]) -> Result<(StatusCode, Vec<u8>), WireError> {
    let mut buf = BytesMut::new();
    let mut spans = Spans::default();
    let mut pieces = pieces.iter();
    let head = loop {
        if let Some(head) = take_head(&mut buf, false, &mut spans)? {
            break head;
        }
        match pieces.next() {
            Some(piece) => buf.extend_from_slice(piece),
            None => return Err(WireError::EarlyEof),
        }
    };
    let mut decoder = Decoder::new(head.framing);
    let mut body = Vec::new();
    loop {
        match decoder.decode(&mut buf)? {
            Step::Data(data) => body.extend_from_slice(&data),
            Step::End => return Ok((head.status, body)),
            Step::NeedMore => match pieces.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => {
                    decoder.at_eof()?;
                    return Ok((head.status, body));
                }
            },
        }
    }
}

/// A `content-length` value: digits only (a list of equal values, as some servers repeat it,
/// is one length), checked.
fn content_length(value: &[u8]) -> Result<u64, WireError> {
    let mut length = None;
    for part in value.split(|&b| b == b',') {
        let n = digits(part.trim_ascii(), 10)
            .ok_or(WireError::Head("content-length is not a number"))?;
        if length.is_some_and(|l| l != n) {
            return Err(WireError::Head("content-length values disagree"));
        }
        length = Some(n);
    }
    length.ok_or(WireError::Head("content-length is not a number"))
}

/// `text` as a number in `radix` (10 or 16): at least one digit, nothing else, no overflow.
fn digits(text: &[u8], radix: u32) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |n, &b| {
        let d = char::from(b).to_digit(radix)?;
        n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))
    })
}

/// Decodes a response body from the bytes read so far.
#[derive(Debug)]
pub(super) struct Decoder {
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes to go.
    Length(u64),
    /// A chunk-size line next.
    Size,
    /// This many bytes of the current chunk to go.
    Chunk(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer lines after the last chunk, this many bytes of them so far.
    Trailers(usize),
    /// Until the connection closes.
    Eof,
    /// The body's end was read.
    Done,
}

/// What [`Decoder::decode`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Body bytes.
    Data(Bytes),
    /// Nothing until more bytes arrive.
    NeedMore,
    /// The body's end.
    End,
}

impl Decoder {
    pub(super) fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size,
            Framing::Eof => State::Eof,
        };
        Decoder { state }
    }

    /// Whether the body's end was read.
    pub(super) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The body bytes still to come, when known.
    pub(super) fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// The next step from the bytes in `buf`, consuming what it reads. Body bytes are split
    /// off `buf` without a copy, as many as have arrived (up to the current chunk's end);
    /// what follows the body's end stays in `buf`.
    ///
    /// Transitions: 1. `Length(n)` yields up to `n` bytes, `Done` at 0. 2. `Size` reads a
    /// chunk-size line: `Chunk(n)`, or `Trailers` for size 0. 3. `Chunk(n)` yields up to `n`
    /// bytes, `ChunkEnd` at 0. 4. `ChunkEnd` reads CRLF: `Size`. 5. `Trailers` skips lines
    /// until an empty one: `Done`. 6. `Eof` yields whatever came.
    pub(super) fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, WireError> {
        loop {
            match self.state {
                State::Done => return Ok(Step::End),
                State::Length(0) => self.state = State::Done,
                State::Length(n) | State::Chunk(n) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
                    let left = n.saturating_sub(take as u64);
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::ChunkEnd,
                        _ => State::Chunk(left),
                    };
                    return Ok(Step::Data(buf.split_to(take).freeze()));
                }
                State::Size => {
                    let Some(line) = line(buf, MAX_LINE)? else {
                        return Ok(Step::NeedMore);
                    };
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers(0)
                    } else {
                        State::Chunk(size)
                    };
                }
                State::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if buf.get(..2) != Some(b"\r\n") {
                        return Err(WireError::Body("no CRLF after a chunk"));
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailers(seen) => {
                    let room = MAX_TRAILERS.saturating_sub(seen);
                    let Some(line) =
                        line(buf, room).map_err(|_| WireError::Body("trailers too long"))?
                    else {
                        return Ok(Step::NeedMore);
                    };
                    self.state = if line.len() == 2 {
                        State::Done
                    } else {
                        State::Trailers(seen.saturating_add(line.len()))
                    };
                }
                State::Eof => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
            }
        }
    }

    /// The connection closed: the end of a body read to EOF, an error for any other body
    /// not yet read to its end.
    pub(super) fn at_eof(&mut self) -> Result<(), WireError> {
        match self.state {
            State::Eof | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(WireError::EarlyEof),
        }
    }
}

/// The CRLF-terminated line at the start of `buf` (CRLF included), taken off it; `None`
/// until it has arrived. A line (or what has come of it) over `max` bytes is an error.
fn line(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, WireError> {
    let window = buf.get(..max.min(buf.len())).unwrap_or_default();
    match window.iter().position(|&b| b == b'\n') {
        Some(at) if at >= 1 && window.get(at - 1) == Some(&b'\r') => Ok(Some(buf.split_to(at + 1))),
        Some(_) => Err(WireError::Body("a line not ended by CRLF")),
        None if buf.len() >= max => Err(WireError::Body("chunk-size line too long")),
        None => Ok(None),
    }
}

/// A chunk-size line's size (hex digits, then optional whitespace and extensions, which are
/// ignored), its CRLF included.
fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let line = line.strip_suffix(b"\r\n").unwrap_or(line);
    let end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (hex, rest) = line.split_at(end);
    if hex.len() > 16 {
        return Err(WireError::Body("chunk size over 64 bits"));
    }
    let size = digits(hex, 16).ok_or(WireError::Body("chunk size is not hex"))?;
    let rest = rest.trim_ascii_start();
    if !rest.is_empty() && !rest.starts_with(b";") {
        return Err(WireError::Body("chunk size is not hex"));
    }
    Ok(size)
}

mod spans;
#[cfg(test)]
mod tests;
