//! A connection handed to hyper part way ([`super::fast`] read bytes it does not serve
//! itself): the bytes already read are read again first, then the socket's.
//!
//! Its writes are bounded as the fast path's are: one that waits on a client that does not
//! read for longer than [`super::fast::SEND_TIMEOUT`] (nginx's `send_timeout`) fails, which
//! ends the connection (hyper drops the response, with what it holds: its `max_in_flight`
//! permit, a stream's upstream), as if the client had left.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A socket with bytes already read from it, replayed before its own.
#[derive(Debug)]
pub(super) struct Rewind {
    read: Bytes,
    io: tokio::net::TcpStream,
    /// Set while a write waits on the client: when it fires, the write fails.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Rewind {
    pub(super) fn new(read: Bytes, io: tokio::net::TcpStream) -> Self {
        Rewind {
            read,
            io,
            stalled: None,
        }
    }

    /// What a write (`poll`) came to: done (or failed), the wait is over; waiting, it fails
    /// once it has waited [`super::fast::SEND_TIMEOUT`] since the write first waited.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut tokio::net::TcpStream>, &mut Context<'_>) -> Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if let Poll::Ready(done) = poll(Pin::new(&mut self.io), cx) {
            self.stalled = None;
            return Poll::Ready(done);
        }
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(super::fast::SEND_TIMEOUT)));
        match stalled.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.stalled = None;
                Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
            }
        }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.read.is_empty() {
            let n = this.read.len().min(buf.remaining());
            buf.put_slice(&this.read[..n]);
            this.read.advance(n);
            if this.read.is_empty() {
                // Replayed: the fast path's buffer is let go, not kept for the connection's
                // life (at least a read's 16 KiB on every connection hyper serves).
                this.read = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().bounded(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut()
            .bounded(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
