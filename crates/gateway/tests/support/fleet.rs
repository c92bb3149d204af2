//! Gateways of one fleet in one test (`fleet.rs`, `fleet_keys.rs`): each serves on
//! 127.0.0.1:0 over TCP, and they share the test's `redis-server`, syncing every [`SYNC`].

use std::time::Duration;

pub use super::Served;
use switchyard_gateway::Gateway;
use switchyard_live::Transport;

/// The fleet's sync period, as [`shared_state`] sets it.
pub const SYNC: Duration = Duration::from_millis(200);

/// The `gateway:` section of replica `replica` of a fleet sharing the Redis at `redis`.
pub fn shared_state(redis: &str, replica: u32) -> String {
    format!(
        "gateway:\n  shared_state: {{ redis: '{redis}', sync_every: {}ms, replica: {replica} }}\n",
        SYNC.as_millis()
    )
}

/// Serves a gateway for `config`, its upstreams on `transport`; it stops when the
/// [`Served`] drops.
pub async fn serve(config: &str, transport: Transport) -> Served {
    let params = switchyard_live::config::load_live(config, "gw.yaml").unwrap();
    let gw = Gateway::new(&params, None, transport).unwrap();
    super::listen(gw, Duration::from_secs(1)).await
}

/// One chat request to route `chat` over TCP: the status and the whole response.
pub async fn chat(addr: std::net::SocketAddr) -> (u16, String) {
    let body = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;
    super::over_tcp(addr, "POST /v1/chat/completions HTTP/1.1", body).await
}

/// The replicas `gw` counts alive (0 without a fleet).
pub fn alive(gw: &Gateway) -> u32 {
    gw.router()
        .with_core(|r, _| r.fleet().map_or(0, switchyard_core::fleet::Fleet::alive))
}

/// Waits until each of `fleet` counts all of them alive; fails after 5 s.
pub async fn joined(fleet: &[&Served]) {
    let n = u32::try_from(fleet.len()).unwrap();
    let t0 = tokio::time::Instant::now();
    while fleet.iter().any(|g| alive(&g.gw) < n) {
        assert!(t0.elapsed() < Duration::from_secs(5), "never joined");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until gateway 2 has `learned` (at most 3 s) what gateway 1 learned at `since`, and
/// checks it took at most one sync period plus the publisher's tick and slack.
pub async fn learned_within_one_sync(since: tokio::time::Instant, learned: impl Fn() -> bool) {
    while !learned() {
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "gateway 2 never learned"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = since.elapsed();
    assert!(took <= SYNC + SYNC / 2, "learned after {took:?}");
}
