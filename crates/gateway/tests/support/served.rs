//! A gateway served over TCP on 127.0.0.1:0 (`switchyard_gateway::serve`), exchanges with it,
//! and which path served its requests (`/metrics`, read in process so not counted itself).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use switchyard_gateway::Gateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A gateway serving on 127.0.0.1:0 until [`Served::stop`], or until this drops.
pub struct Served {
    pub addr: std::net::SocketAddr,
    pub gw: Arc<Gateway>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The path counts as [`Served::took`] last read them.
    seen: BTreeMap<String, u64>,
}

/// Serves `gw` with `grace` for requests in flight at shutdown.
pub async fn listen(gw: Arc<Gateway>, grace: Duration) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = rx.await;
    };
    let task = tokio::spawn(switchyard_gateway::serve(
        listener,
        gw.clone(),
        shutdown,
        grace,
    ));
    Served {
        // A new gateway: every count 0.
        seen: BTreeMap::new(),
        addr,
        gw,
        stop: Some(tx),
        task,
    }
}

impl Served {
    /// Shuts down; how long `serve` took to return.
    pub async fn stop(mut self) -> Duration {
        let at = tokio::time::Instant::now();
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap().unwrap();
        at.elapsed()
    }

    /// Asserts that the requests since the last call (or the start) were served as `want`
    /// says (`fast`: by the fast path; a reason: a connection handed to hyper for it),
    /// nothing else counted.
    pub async fn took(&mut self, want: &[(&str, u64)]) {
        let now = paths(&self.gw).await;
        let grew: Vec<(&str, u64)> = now
            .iter()
            .map(|(k, n)| (k.as_str(), n - self.seen.get(k).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let mut want = want.to_vec();
        want.sort_unstable();
        assert_eq!(grew, want, "which path served");
        self.seen = now;
    }
}

/// Sends `bytes` on a connection of its own and reads until the server closes it (at most
/// 10 s).
pub async fn exchange(addr: std::net::SocketAddr, bytes: &str) -> Vec<u8> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

/// Which path served, from `/metrics` (read in process, so not counted itself): `fast` for
/// the fast path's requests, each hand-off reason for the connections handed to hyper.
pub async fn paths(gw: &Arc<Gateway>) -> BTreeMap<String, u64> {
    let text = super::metrics(gw).await;
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let (series, n) = line.rsplit_once(' ').unwrap_or((line, ""));
        let name = match series.strip_prefix("switchyard_fast_path_") {
            Some("requests_total") => "fast",
            Some(rest) => match rest.strip_prefix("handoffs_total{reason=\"") {
                Some(reason) => reason.trim_end_matches("\"}"),
                None => continue,
            },
            None => continue,
        };
        counts.insert(name.to_owned(), n.parse().unwrap());
    }
    assert!(counts.contains_key("fast"), "{text}");
    counts
}
