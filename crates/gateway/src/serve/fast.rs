//! The fast path: a connection's canonical chat requests ([`super::head`]) served here, without
//! hyper's connection machinery (its dispatcher, its request and response `HeaderMap`s, its
//! buffered IO: about 17k instructions a request, docs/PERFORMANCE.md).
//!
//! Each request is read into a bounded per-connection buffer and parsed; one that is
//! canonical and whose body is whole in the buffer (a body sent after its head, as OpenAI's
//! Python SDK sends it, waited for up to [`BODY_WAIT`]) is handed to the same [`crate::access_log::logged`] and [`crate::chat::complete`] as
//! hyper's path, with the only headers they read, its body a slice of the buffer (no copy).
//! Its response is written here as hyper writes it ([`super::reply`]), a small one in one
//! write, a stream chunk by chunk as its events come. The next request on the connection
//! takes the same path.
//!
//! Anything else (another path, a body not whole within [`BODY_WAIT`] or cut, `expect`, chunked, HTTP/1.0, a bad or
//! oversized head) hands the connection, the bytes read so far replayed first
//! ([`super::rewind`]), to hyper for the rest of its life: what hyper then does is what it
//! did before the fast path (auth before the body, the slow-body 408, 413, 100-continue).
//!
//! While a request is served the socket is watched: the client closing it (or an error) drops
//! the handler's future or the response body at once (the access line's `client_closed`, an
//! abandoned stream's booking), as hyper does; bytes of a pipelined next request are kept
//! (bounded) and served after the response. Shutdown closes an idle connection at once and
//! lets the request in flight finish, its response saying `connection: close`.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::head::{self, Canonical, Parsed};
use super::reply::{self, Framing};
use super::tally::Handoff;
use crate::{CHAT_PATH, Gateway};

/// The most a connection buffers: a head and body larger than this, or bytes of pipelined
/// requests beyond it, are not read ahead (the request goes to hyper, or waits its turn).
const MAX_BUFFERED: usize = 256 * 1024;
/// A head not whole within this many bytes goes to hyper (whose own bound is ~400 KB).
const MAX_HEAD: usize = 64 * 1024;
/// What a connection's buffers start with, and are brought back to after a large request.
const INITIAL: usize = 8 * 1024;
/// How much is read at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Body bytes up to this are copied next to the head (one write); a larger frame is written
/// from its own buffer.
const COPY_LIMIT: usize = 16 * 1024;

/// How long a canonical request's body may take after its head before the connection goes to
/// hyper (whose slow-body deadline then applies): long enough for a client's second write.
pub(super) const BODY_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// How long one write of a response may wait on a client that does not read, from its start
/// or the last bytes the client took (nginx's `send_timeout`, its default): past it the
/// connection ends, as if the client had left, and what the request holds (its
/// `max_in_flight` permit, a stream's upstream) is let go.
pub(super) const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a request's head may take from its first byte: a connection whose head is not
/// whole by then is closed (hyper's own `header_read_timeout`, the same 30 s, covers the
/// connections it serves).
pub(super) const HEAD_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the connection does next.
enum Next {
    /// Serve this canonical request (whole in the buffer).
    Serve(Canonical),
    /// Hand the connection to hyper, with what the buffer holds, and why.
    Hyper(Handoff),
    /// Close it (the client did, or shutdown with nothing in flight).
    Close,
}

/// A connection on the fast path.
pub(super) struct Conn {
    pub(super) tcp: tokio::net::TcpStream,
    /// Bytes read and not yet served.
    pub(super) buf: BytesMut,
    /// The response being written.
    out: Vec<u8>,
}

/// Why a response could not be written whole: the connection ends.
struct Ended;

/// Serves `tcp`'s canonical requests until the client closes it, shutdown (`closing`) ends it
/// or a request that is not canonical arrives: then the connection is returned, with the
/// bytes read, for hyper; `None` when it has ended.
pub(super) async fn serve(
    tcp: tokio::net::TcpStream,
    gw: &Arc<Gateway>,
    closing: &mut watch::Receiver<bool>,
) -> Option<Conn> {
    let mut conn = Conn {
        tcp,
        buf: BytesMut::with_capacity(INITIAL),
        out: Vec::with_capacity(INITIAL),
    };
    loop {
        match conn.next(gw, closing).await {
            Next::Serve(request) => {
                gw.tally.fast();
                let close = request.close;
                let ok = conn.serve(request, gw, closing).await;
                if !ok || close || *closing.borrow() {
                    let _ = conn.tcp.shutdown().await;
                    return None;
                }
            }
            Next::Hyper(why) => {
                gw.tally.handoff(why);
                return Some(conn);
            }
            Next::Close => return None,
        }
    }
}

impl Conn {
    /// Reads until the buffer holds a whole canonical request, or something for hyper.
    async fn next(&mut self, gw: &Gateway, closing: &mut watch::Receiver<bool>) -> Next {
        // Set once part of a head is here (a whole one, the usual case, makes no timer).
        let mut deadline = None;
        // Set once a whole head waits for its body.
        let mut body_by = None;
        loop {
            let mut want = MAX_HEAD;
            if !self.buf.is_empty() {
                match head::parse(&self.buf, gw.max_body) {
                    Parsed::Canonical(c) => {
                        let Some(whole) = c.head_len.checked_add(c.body_len) else {
                            return Next::Hyper(Handoff::BodyLarge);
                        };
                        if whole > MAX_BUFFERED {
                            return Next::Hyper(Handoff::BodyLarge);
                        }
                        if self.buf.len() >= whole || self.read_ready(whole) {
                            return Next::Serve(c);
                        }
                        // A client that writes its head and its body apart (OpenAI's Python
                        // SDK does) has its body waited for, a moment: a body later than that
                        // gets hyper's slow-body deadline (and its 408).
                        body_by.get_or_insert_with(|| tokio::time::Instant::now() + BODY_WAIT);
                        want = whole;
                    }
                    Parsed::Partial if self.buf.len() < MAX_HEAD => {}
                    Parsed::Partial => return Next::Hyper(Handoff::HeadUnread),
                    Parsed::Other(why) => return Next::Hyper(why),
                }
            }
            self.room(want);
            // No request whole yet: shutdown closes the connection at once, as hyper's
            // graceful shutdown does one that has not read a whole head. A request whose body
            // is on its way goes to hyper then, as it does when its body is late or cut
            // (hyper answers it, or logs the client that left).
            if !self.buf.is_empty() && deadline.is_none() {
                deadline = Some(tokio::time::Instant::now() + HEAD_READ_TIMEOUT);
            }
            let ends = || match body_by {
                Some(_) => Next::Hyper(Handoff::BodyLater),
                None => Next::Close,
            };
            let late = async {
                match body_by.or(deadline) {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let read = tokio::select! {
                biased;
                read = self.tcp.read_buf(&mut self.buf) => read,
                _ = closing.wait_for(|c| *c) => return ends(),
                () = late => return ends(),
            };
            match read {
                Ok(0) | Err(_) => return ends(),
                Ok(_) => {}
            }
        }
    }

    /// Reads what the socket holds now, without waiting, until the buffer has `whole` bytes;
    /// whether it has.
    fn read_ready(&mut self, whole: usize) -> bool {
        while self.buf.len() < whole {
            self.room(whole);
            match self.tcp.try_read_buf(&mut self.buf) {
                Ok(n) if n > 0 => {}
                _ => return false,
            }
        }
        true
    }

    /// Room in the buffer for a read, the buffer holding at most `bound` bytes.
    fn room(&mut self, bound: usize) {
        let room = bound.saturating_sub(self.buf.len()).min(READ_CHUNK);
        self.buf.reserve(room);
    }

    /// Serves one request; whether the connection may serve another.
    async fn serve(
        &mut self,
        c: Canonical,
        gw: &Arc<Gateway>,
        closing: &watch::Receiver<bool>,
    ) -> bool {
        let asked_close = c.close;
        let request = self.request(c);
        let handler = super::logged_chat(gw, request);
        let mut handler = std::pin::pin!(handler);
        let Some(response) = self.watching(|cx| handler.as_mut().poll(cx)).await else {
            return false;
        };
        // Asked by the client, or shutdown while it was served: the connection closes after
        // it, and the response says so (as hyper's does).
        let close = asked_close || *closing.borrow();
        let ok = self.respond(response, close).await.is_ok();
        if self.out.capacity() > MAX_HEAD {
            self.out = Vec::with_capacity(INITIAL);
        }
        if self.buf.is_empty() && self.buf.capacity() > MAX_HEAD {
            self.buf = BytesMut::with_capacity(INITIAL);
        }
        ok
    }

    /// The request `c` heads, split off the buffer: what hyper's path would hand the handler
    /// (method, path, version, the headers it reads, the body), the body without a copy.
    fn request(&mut self, c: Canonical) -> Request {
        let whole = self.buf.split_to(c.head_len + c.body_len).freeze();
        let body = whole.slice(c.head_len..);
        let mut request = Request::new(Body::from(body));
        *request.method_mut() = axum::http::Method::POST;
        // Parsed once (`Uri::from_static` parses its text at every call: ~300 instructions).
        static CHAT_URI: std::sync::LazyLock<axum::http::Uri> =
            std::sync::LazyLock::new(|| axum::http::Uri::from_static(CHAT_PATH));
        *request.uri_mut() = CHAT_URI.clone();
        *request.headers_mut() = c.headers;
        request
    }

    /// Polls `poll` until it is ready, watching the socket meanwhile: bytes that arrive are
    /// kept (up to the bound); `None` if the client closed the connection (or it failed).
    async fn watching<T>(
        &mut self,
        mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Option<T> {
        std::future::poll_fn(|cx| {
            if let Poll::Ready(t) = poll(cx) {
                return Poll::Ready(Some(t));
            }
            // A full buffer is not read: the request waits, unwatched, for its answer.
            while self.buf.len() < MAX_BUFFERED {
                match self.tcp.poll_read_ready(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(_)) => return Poll::Ready(None),
                    Poll::Ready(Ok(())) => {}
                }
                self.room(MAX_BUFFERED);
                match self.tcp.try_read_buf(&mut self.buf) {
                    // The client's end of the stream with nothing of it unserved: it left.
                    Ok(0) if self.buf.is_empty() => return Poll::Ready(None),
                    // After pipelined requests (a half-close): they are answered first, as
                    // hyper does; the end is read again once they have been.
                    Ok(0) => return Poll::Pending,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return Poll::Ready(None),
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Writes `response`: its head, then its body as it comes (dropped at its end, or when the
    /// client leaves: that writes its access line).
    async fn respond(&mut self, response: Response, close: bool) -> Result<(), Ended> {
        let (parts, mut body) = response.into_parts();
        let framing = if body.is_end_stream() {
            Framing::Empty
        } else {
            body.size_hint()
                .exact()
                .map_or(Framing::Chunked, Framing::Length)
        };
        self.out.clear();
        reply::head(&mut self.out, parts.status, &parts.headers, framing, close);
        if framing == Framing::Empty || reply::bodiless(parts.status) {
            return self.flush().await;
        }
        let mut sent: u64 = 0;
        loop {
            // A frame ready now joins what is to be written; before waiting for the next one,
            // what is pending is written (a stream's event does not wait for the next).
            let polled = std::future::poll_fn(|cx| {
                Poll::Ready(std::pin::Pin::new(&mut body).poll_frame(cx))
            })
            .await;
            let frame = match polled {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    self.flush().await?;
                    let next = self.watching(|cx| std::pin::Pin::new(&mut body).poll_frame(cx));
                    next.await.ok_or(Ended)?
                }
            };
            let data = match frame {
                None => break,
                Some(Err(_)) => return Err(Ended),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    // Trailers: hyper sends none without a `trailer` header.
                    Err(_) => continue,
                },
            };
            sent = sent.saturating_add(data.len() as u64);
            self.push(data, framing).await?;
            if let Framing::Length(n) = framing {
                match sent.cmp(&n) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => break,
                    // More than it said: hyper ends the connection too.
                    std::cmp::Ordering::Greater => return Err(Ended),
                }
            }
        }
        match framing {
            Framing::Chunked => self.out.extend_from_slice(b"0\r\n\r\n"),
            // Less than it said: the client cannot tell where it ends; hyper closes too.
            Framing::Length(n) if sent < n => return Err(Ended),
            _ => {}
        }
        // Written before the body is dropped: its access line (and the router's events) are
        // made after the client has its reply, not before.
        let flushed = self.flush().await;
        drop(body);
        flushed
    }

    /// Adds a body frame to what is to be written (a large one is written from its own
    /// buffer, after what is pending).
    async fn push(&mut self, data: Bytes, framing: Framing) -> Result<(), Ended> {
        if data.is_empty() {
            return Ok(());
        }
        let chunked = framing == Framing::Chunked;
        if chunked {
            reply::chunk_size(&mut self.out, data.len());
        }
        if data.len() <= COPY_LIMIT {
            self.out.extend_from_slice(&data);
        } else {
            self.flush().await?;
            send(&mut self.tcp, &data).await?;
        }
        if chunked {
            self.out.extend_from_slice(b"\r\n");
        }
        if self.out.len() >= COPY_LIMIT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes what is pending.
    async fn flush(&mut self) -> Result<(), Ended> {
        if self.out.is_empty() {
            return Ok(());
        }
        let written = send(&mut self.tcp, &self.out).await;
        self.out.clear();
        written
    }
}

/// Writes `bytes` whole, each write waiting at most [`SEND_TIMEOUT`] on the client: a
/// client that reads slowly but steadily gets a large body however long it takes, one that
/// stops reading is let go (nginx's `send_timeout`, between two successive writes).
async fn send(tcp: &mut tokio::net::TcpStream, mut bytes: &[u8]) -> Result<(), Ended> {
    while !bytes.is_empty() {
        match tokio::time::timeout(SEND_TIMEOUT, tcp.write(bytes)).await {
            Ok(Ok(n)) if n > 0 => bytes = bytes.get(n..).unwrap_or_default(),
            Ok(_) | Err(_) => return Err(Ended),
        }
    }
    Ok(())
}

/// A connection as hyper serves it: the bytes the fast path read, replayed first.
pub(super) fn rewound(conn: Conn) -> super::rewind::Rewind {
    super::rewind::Rewind::new(conn.buf.freeze(), conn.tcp)
}

#[cfg(test)]
mod send_tests;
#[cfg(test)]
mod tests;
