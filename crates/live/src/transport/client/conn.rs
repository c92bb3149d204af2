//! A connection: its socket and its read buffer; writing a request while watching for an
//! early reply, and reading a reply's head.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::AsyncWrite;

use super::super::wire::{self, WireError};
use super::super::{TransportError, error_chain};
use super::Stream;

/// A connection's read buffer starts this big; a read is never given less spare room than
/// [`MIN_READ`], nor a buffer grown past what one head, line or read needs.
const READ_BUFFER: usize = 8 * 1024;
const MIN_READ: usize = 1024;

/// One connection: its socket and the bytes read from it not yet consumed.
pub(super) struct Conn {
    pub(super) io: Stream,
    pub(super) buf: BytesMut,
    /// What reading the last response head left for the next (`wire::Spans`).
    spans: wire::Spans,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.io {
            Stream::Plain(_) => "Conn(http)",
            Stream::Tls(_) => "Conn(https)",
        })
    }
}

impl Conn {
    pub(super) fn new(io: Stream) -> Self {
        Conn {
            io,
            buf: BytesMut::with_capacity(READ_BUFFER),
            spans: wire::Spans::default(),
        }
    }

    /// Reads what has arrived into `buf` (with room for at least `MIN_READ` bytes): the
    /// count, 0 at the connection's end.
    pub(super) fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < MIN_READ {
            self.buf.reserve(READ_BUFFER);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    /// Whether an idle connection can take a request: nothing to read on it yet (a closed
    /// one reads its end, a confused one bytes nobody asked for). Does not wait.
    ///
    /// Plain TCP asks the kernel: a peek at the socket (one `recv` with `MSG_PEEK`, which
    /// does not wait on a non-blocking socket, as the runtime's are). A poll would only tell
    /// what the runtime's IO driver has seen, and a close that arrived since it last looked
    /// (a server's idle timeout, just now) would go unseen: the request written on it would
    /// fail, and a request written is never sent again. TLS is not peeked (its records, a
    /// `close_notify` or data, cannot be told apart without reading them): it is polled, and
    /// a close the driver has not seen yet is missed there.
    pub(super) fn is_usable(&mut self) -> bool {
        if let Stream::Plain(tcp) = &self.io {
            let mut byte = [std::mem::MaybeUninit::uninit()];
            // 0: closed; a byte: unasked; `WouldBlock`: nothing there, alive.
            return matches!(
                socket2::SockRef::from(tcp).peek(&mut byte),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
            );
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        matches!(self.poll_read_some(&mut cx), Poll::Pending)
    }

    /// Writes `head` then `body` (one vectored write when the socket takes it whole), and
    /// flushes. While the socket takes no more (the server is not reading), reads what the
    /// server sent: a response head that arrives before the request is written whole (an
    /// early 413 or 401, the server reading no further) ends the writing and is returned,
    /// the rest of the request unwritten. So it is when the writing fails (the server closed
    /// after its reply): a head already arrived is the answer, not the error. Bytes read
    /// before a byte of the request was written are never taken for its reply.
    ///
    /// A request written whole in one go (the common case) never reads here.
    pub(super) async fn write(
        &mut self,
        head: &[u8],
        body: &[u8],
        head_request: bool,
    ) -> Result<Sent, Unsent> {
        let total = head.len().saturating_add(body.len());
        let mut written = 0usize;
        let mut read_open = true;
        let outcome = poll_fn(|cx| {
            loop {
                let step = if written < total {
                    let (h, b) = match head.get(written..) {
                        Some(h) if !h.is_empty() => (h, body),
                        _ => (
                            &[][..],
                            body.get(written.saturating_sub(head.len())..)
                                .unwrap_or_default(),
                        ),
                    };
                    let slices = [std::io::IoSlice::new(h), std::io::IoSlice::new(b)];
                    Pin::new(&mut self.io)
                        .poll_write_vectored(cx, &slices)
                        .map_ok(Some)
                } else {
                    Pin::new(&mut self.io).poll_flush(cx).map_ok(|()| None)
                };
                match step {
                    Poll::Ready(Ok(Some(0))) => {
                        return Poll::Ready(Err(Failure::Io(std::io::ErrorKind::WriteZero.into())));
                    }
                    Poll::Ready(Ok(Some(n))) => written = written.saturating_add(n),
                    Poll::Ready(Ok(None)) => return Poll::Ready(Ok(None)),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Failure::Io(e))),
                    Poll::Pending if written == 0 || !read_open => return Poll::Pending,
                    // The socket takes no more: the server's reply may be here already.
                    Poll::Pending => {
                        return match self.poll_early_head(cx, head_request, &mut read_open) {
                            Poll::Ready(Ok(head)) => Poll::Ready(Ok(Some(head))),
                            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                            Poll::Pending => Poll::Pending,
                        };
                    }
                }
            }
        })
        .await;
        let written = written > 0;
        match outcome {
            Ok(None) => Ok(Sent::Whole),
            Ok(Some(head)) => Ok(Sent::Early(head)),
            Err(e) => {
                // The server may have answered, then closed on the rest: its answer counts.
                if written && read_open {
                    let mut cx = Context::from_waker(std::task::Waker::noop());
                    if let Poll::Ready(Ok(head)) =
                        self.poll_early_head(&mut cx, head_request, &mut read_open)
                    {
                        return Ok(Sent::Early(head));
                    }
                }
                Err(Unsent {
                    error: e.into_transport(),
                    written,
                })
            }
        }
    }

    /// A response head read while the request is still being written: `Pending` until one
    /// has arrived whole (1xx heads skipped), or for good once the server has ended its side
    /// (`read_open` turns false; the writing decides then).
    fn poll_early_head(
        &mut self,
        cx: &mut Context<'_>,
        head_request: bool,
        read_open: &mut bool,
    ) -> Poll<Result<wire::Head, Failure>> {
        loop {
            if !self.buf.is_empty() {
                match wire::take_head(&mut self.buf, head_request, &mut self.spans) {
                    Ok(Some(head)) => return Poll::Ready(Ok(head)),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Err(Failure::Wire(e))),
                }
            }
            match self.poll_read_some(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    *read_open = false;
                    return Poll::Pending;
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Failure::Io(e))),
            }
        }
    }

    /// Reads the response head, skipping any 1xx before it.
    pub(super) async fn read_head(
        &mut self,
        head_request: bool,
    ) -> Result<wire::Head, TransportError> {
        loop {
            // Nothing to parse before the first read of a reply.
            if !self.buf.is_empty()
                && let Some(head) = wire::take_head(&mut self.buf, head_request, &mut self.spans)?
            {
                return Ok(head);
            }
            let n = poll_fn(|cx| self.poll_read_some(cx))
                .await
                .map_err(|e| TransportError::Connect(error_chain(&e)))?;
            if n == 0 {
                return Err(TransportError::Connect(
                    "connection closed before a response".to_owned(),
                ));
            }
        }
    }
}

/// How writing a request ended.
pub(super) enum Sent {
    /// Written whole and flushed: its reply is read next.
    Whole,
    /// A reply head that came before the request was written whole: the rest of the request
    /// is not written, and the connection is never reused.
    Early(wire::Head),
}

/// Why a request could not be written.
pub(super) struct Unsent {
    pub(super) error: TransportError,
    /// Whether any byte of it was written (if none, it may be sent on another connection).
    pub(super) written: bool,
}

/// What failed while a request was written: the socket, or a reply that came early.
enum Failure {
    Io(std::io::Error),
    Wire(WireError),
}

impl Failure {
    fn into_transport(self) -> TransportError {
        match self {
            Failure::Io(e) => TransportError::Connect(error_chain(&e)),
            Failure::Wire(e) => e.into(),
        }
    }
}
