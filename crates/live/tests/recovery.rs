//! A provider that recovers gets traffic back within 30 s of its recovery, whatever the
//! length of its outage (10 s, 1 min, 10 min), with the default breaker — in the live driver,
//! under tokio's paused clock. (The core's own test drives the same with explicit times.)
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::time::Duration as StdDuration;

use common::{request, rig};
use switchyard_core::id::TargetId;

const PLAN: &str = "  max_attempts: 3\n  attempt_timeout: 10s\n  deadline: 30s\n";
const ROUTES: &str = "  - { name: r, policy: priority, tiers: [[t-a], [t-b]] }\n";

async fn back_after(outage_secs: u64) -> StdDuration {
    let rig = rig(&[("a", "openai"), ("b", "openai")], ROUTES, PLAN);
    let fault = format!(r#"{{"kind":"http","status":503,"for":"{outage_secs}s"}}"#);
    rig.inject("a", &fault).await;
    let start = tokio::time::Instant::now();
    let recovered = start + StdDuration::from_secs(outage_secs);
    // Two requests a second, through the outage and up to a minute after it.
    loop {
        let reply = rig.router.chat(request("r")).await.unwrap();
        let now = tokio::time::Instant::now();
        if now >= recovered && reply.served_by == TargetId::new(0) {
            return now - recovered;
        }
        assert!(
            now < recovered + StdDuration::from_secs(60),
            "no traffic back a minute after a {outage_secs} s outage"
        );
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn traffic_returns_within_30_s_after_a_10_s_outage() {
    let back = back_after(10).await;
    assert!(back <= StdDuration::from_secs(30), "back after {back:?}");
}

#[tokio::test(start_paused = true)]
async fn traffic_returns_within_30_s_after_a_1_min_outage() {
    let back = back_after(60).await;
    assert!(back <= StdDuration::from_secs(30), "back after {back:?}");
}

#[tokio::test(start_paused = true)]
async fn traffic_returns_within_30_s_after_a_10_min_outage() {
    let back = back_after(600).await;
    assert!(back <= StdDuration::from_secs(30), "back after {back:?}");
}
