//! Each replica of a live fleet reaches Redis through a small TCP relay of its own in the
//! runner, so the store faults that are not "Redis is down" can be played for real: `slow`
//! delays every byte each way, and `partitioned` cuts that replica's connections and refuses
//! new ones while it lasts, the other replicas' relays untouched.
//!
//! A relay holds little: each direction of a connection reads at most [`CHUNK`] bytes at a
//! time and queues at most [`QUEUED`] chunks for their delayed delivery; a full queue stops the
//! reading (back-pressure), so a stalled side cannot grow memory.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The most bytes read at once.
const CHUNK: usize = 16 << 10;
/// The most chunks waiting for their delay, per direction of a connection.
const QUEUED: usize = 64;
/// How long the accept loop waits after a failed accept (out of descriptors) before the next.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// What the runner tells a relay.
#[derive(Debug)]
struct Control {
    /// Added to each direction, in microseconds.
    delay_us: AtomicU64,
    /// Cut: connections closed, new ones refused.
    cut: AtomicBool,
    /// Fires when `cut` turns on.
    cuts: tokio::sync::watch::Sender<u64>,
}

/// One replica's relay to the store: its address, and the switches.
#[derive(Debug)]
pub(super) struct Relay {
    addr: std::net::SocketAddr,
    control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Listens on 127.0.0.1, port 0, and relays every connection to the unix socket
    /// `upstream`.
    pub(super) async fn start(upstream: PathBuf) -> Result<Relay, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let control = Arc::new(Control {
            delay_us: AtomicU64::new(0),
            cut: AtomicBool::new(false),
            cuts: tokio::sync::watch::channel(0).0,
        });
        let c = control.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    // Out of descriptors (EMFILE) and the like: back off, not a busy loop.
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                };
                // Subscribed before the flag is read: a cut from here on reaches this
                // connection, even while it is still connecting upstream.
                let cuts = c.cuts.subscribe();
                if c.cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let (c, upstream) = (c.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::UnixStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    connection(client, server, &c, cuts).await;
                });
            }
        });
        Ok(Relay {
            addr,
            control,
            task,
        })
    }

    /// The store's URL through this relay.
    pub(super) fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Each direction delayed by `delay` from now on (zero: none).
    pub(super) fn set_delay(&self, delay: std::time::Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.control.delay_us.store(us, Ordering::SeqCst);
    }

    /// Cuts (`true`: open connections closed, new ones refused) or heals.
    pub(super) fn set_cut(&self, cut: bool) {
        self.control.cut.store(cut, Ordering::SeqCst);
        if cut {
            self.control.cuts.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        // Open connections end with the cut.
        self.set_cut(true);
    }
}

/// Relays one connection both ways until either side closes or the relay is cut.
async fn connection(
    client: tokio::net::TcpStream,
    server: tokio::net::UnixStream,
    c: &Control,
    mut cuts: tokio::sync::watch::Receiver<u64>,
) {
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        _ = direction(cr, sw, c) => {}
        _ = direction(sr, cw, c) => {}
        _ = cuts.changed() => {}
    }
}

/// Copies `from` to `to`, each chunk delivered the relay's delay after it was read.
async fn direction(
    mut from: impl AsyncRead + Unpin + Send,
    mut to: impl AsyncWrite + Unpin + Send,
    c: &Control,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(QUEUED);
    let read = async move {
        loop {
            let mut buf = vec![0u8; CHUNK];
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    buf.truncate(n);
                    let delay = std::time::Duration::from_micros(c.delay_us.load(Ordering::SeqCst));
                    if tx
                        .send((tokio::time::Instant::now() + delay, buf))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let write = async move {
        while let Some((due, buf)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&buf).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    // The writer drains what was read before the reader ended.
    tokio::join!(read, write);
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_fleet::RedisServer;

    /// PING through `stream`, the reply's first bytes (empty: the connection closed).
    async fn ping(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        if stream.write_all(b"PING\r\n").await.is_err() {
            return Vec::new();
        }
        let mut buf = [0u8; 16];
        match tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(n)) => buf[..n].to_vec(),
            _ => Vec::new(),
        }
    }

    async fn connect(relay: &Relay) -> tokio::net::TcpStream {
        tokio::net::TcpStream::connect(relay.addr).await.unwrap()
    }

    /// A real Redis through the relay: answered at once; slowed, each way takes the delay;
    /// cut, the open connection is closed and a new one refused, and only this relay's;
    /// healed, it answers again. Killed, the guard's Redis is gone with its files.
    #[tokio::test]
    async fn the_relay_slows_cuts_and_heals_and_the_guard_leaves_nothing() {
        let mut redis = RedisServer::start("run", &[]).await.unwrap();
        assert!(redis.running());
        let socket = redis.socket().to_path_buf();
        let relay = Relay::start(socket.clone()).await.unwrap();
        let other = Relay::start(socket.clone()).await.unwrap();
        let mut a = connect(&relay).await;
        let mut b = connect(&other).await;
        assert_eq!(ping(&mut a).await, b"+PONG\r\n");

        relay.set_delay(std::time::Duration::from_millis(150));
        let sent = tokio::time::Instant::now();
        assert_eq!(ping(&mut a).await, b"+PONG\r\n");
        let took = sent.elapsed();
        assert!(
            took >= std::time::Duration::from_millis(300),
            "150 ms each way: {took:?}"
        );
        relay.set_delay(std::time::Duration::ZERO);

        relay.set_cut(true);
        assert_eq!(ping(&mut a).await, b"", "the open connection is closed");
        let mut again = connect(&relay).await;
        assert_eq!(ping(&mut again).await, b"", "a new one is refused");
        assert_eq!(
            ping(&mut b).await,
            b"+PONG\r\n",
            "the other relay is not cut"
        );
        relay.set_cut(false);
        let mut healed = connect(&relay).await;
        assert_eq!(ping(&mut healed).await, b"+PONG\r\n");

        let dir = socket.parent().unwrap().to_path_buf();
        assert!(dir.exists());
        drop(redis);
        assert!(!dir.exists(), "the guard removes its directory");
        let mut gone = connect(&other).await;
        assert_eq!(ping(&mut gone).await, b"", "and Redis is gone");
    }

    /// A cut landing while a just-accepted connection is still connecting upstream closes
    /// it too (the cut watch is subscribed before the flag is read): every connection
    /// opened just before a cut is closed by it, never left relaying.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cut_during_a_connection_s_setup_still_closes_it() {
        let redis = RedisServer::start("run", &[]).await.unwrap();
        let relay = Relay::start(redis.socket().to_path_buf()).await.unwrap();
        for _ in 0..100 {
            let mut s = connect(&relay).await;
            tokio::task::yield_now().await;
            relay.set_cut(true);
            // Closed (or refused): no PONG, within a second.
            let answer = tokio::time::timeout(std::time::Duration::from_secs(1), ping(&mut s))
                .await
                .unwrap_or_default();
            assert_eq!(answer, b"", "a connection outlived the cut");
            relay.set_cut(false);
        }
    }

    /// `down` and back: stopped, nothing answers; started again, the same socket answers.
    #[tokio::test]
    async fn redis_stopped_and_started_again_answers_on_the_same_socket() {
        let mut redis = RedisServer::start("run", &[]).await.unwrap();
        let relay = Relay::start(redis.socket().to_path_buf()).await.unwrap();
        redis.stop().await;
        assert!(!redis.running());
        assert_eq!(ping(&mut connect(&relay).await).await, b"");
        redis.start_again().await.unwrap();
        assert!(redis.running());
        assert_eq!(ping(&mut connect(&relay).await).await, b"+PONG\r\n");
    }
}
