//! The serving threads' listening sockets: one per thread on the one address.

use std::net::SocketAddr;

/// Connections a listening socket queues before the gateway accepts them (the kernel caps it
/// at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 1024;

/// Listening sockets on one address, one per serving thread, each with `SO_REUSEPORT`: the
/// kernel spreads new connections among them by a hash of the client's address and port.
#[derive(Debug)]
pub struct Listeners(pub(super) Vec<std::net::TcpListener>);

impl Listeners {
    /// `count` sockets listening on `addr`; with port 0, the first picks a free port and the
    /// others join it. Called within a tokio runtime (each socket is made by tokio, then
    /// handed over to its thread's runtime by [`super::serve_threads`]).
    ///
    /// A port some socket listens on already is refused (`AddrInUse`), as a plain bind would
    /// be: without this check a second gateway started on the same port, by the same user,
    /// would join the first one's sockets and take a share of its connections.
    pub fn bind(addr: SocketAddr, count: std::num::NonZeroUsize) -> std::io::Result<Self> {
        if addr.port() != 0 {
            // SO_REUSEADDR without SO_REUSEPORT: refused by a listening socket on the port,
            // not by connections of an earlier process still in TIME_WAIT. Never listens.
            let probe = socket_for(addr)?;
            probe.set_reuseaddr(true)?;
            probe.bind(addr)?;
        }
        let mut sockets = Vec::with_capacity(count.get());
        let mut at = addr;
        for _ in 0..count.get() {
            let socket = socket_for(at)?;
            socket.set_reuseaddr(true)?;
            socket.set_reuseport(true)?;
            socket.bind(at)?;
            let listener = socket.listen(LISTEN_BACKLOG)?;
            // The first one's port: the others join it (port 0 picked one).
            at = listener.local_addr()?;
            sockets.push(listener.into_std()?);
        }
        Ok(Listeners(sockets))
    }

    /// The address they listen on (its port picked when asked for 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self.0.first() {
            Some(l) => l.local_addr(),
            None => Err(std::io::Error::other("no listening socket")),
        }
    }

    /// How many there are: one per serving thread.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (never, when made by [`Listeners::bind`]).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A TCP socket of `addr`'s family (IPv4 or IPv6).
fn socket_for(addr: SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
}
