//! An open breaker as a client and an operator see it (issue 13): the 503 `no_target_available`
//! says when to come back (`Retry-After`), and `/admin/state` and `/metrics` show the state a
//! request arriving now would find, not the one of the last request. And an idle target's
//! availability as they show it: none, not 1.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::sync::Arc;

use switchyard_gateway::Gateway;

mod support;

use support::*;

/// `tb` alone on route `chat`: nothing answers it, one failure opens its breaker for
/// `open_for`.
fn gateway(open_for: &str) -> Arc<Gateway> {
    let tb = TB.replace("open_for: 1h", &format!("open_for: {open_for}"));
    rig(&config(
        &tb,
        "    - { name: chat, policy: static, targets: [tb] }\n",
        "",
    ))
    .gw
}

/// Opens `tb`'s breaker (a connect failure), then asks again: the 503 and its headers.
async fn refused_with_the_breaker_open(gw: &Arc<Gateway>) -> (u16, axum::http::HeaderMap, String) {
    let (status, _, body) = send_chat_with_headers(gw, false).await;
    assert_eq!(status, 502, "{body}");
    send_chat_with_headers(gw, false).await
}

#[tokio::test(start_paused = true)]
async fn no_target_available_says_when_the_first_breaker_closes_its_cooldown() {
    let gw = gateway("5s");
    let (status, headers, body) = refused_with_the_breaker_open(&gw).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no_target_available"), "{body}");
    assert_eq!(headers["retry-after"], "5", "{body}");
    assert!(body.contains("Retry after 5 s."), "{body}");

    // Halfway through the cooldown: what is left, rounded up.
    tokio::time::advance(std::time::Duration::from_millis(2500)).await;
    let (status, headers, _) = send_chat_with_headers(&gw, false).await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "3");

    // A cooldown past `plan.retry_after_max` (20 s by default) is told as that bound.
    let gw = gateway("1h");
    let (status, headers, _) = refused_with_the_breaker_open(&gw).await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "20");
}

/// The `switchyard_breaker_state` series of `tb` that reads 1.
async fn metric_state(gw: &Arc<Gateway>) -> String {
    let text = metrics(gw).await;
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("switchyard_breaker_state{") && l.contains("\"tb\"") && l.ends_with(" 1")
        })
        .unwrap();
    let at = line.find("state=\"").unwrap() + "state=\"".len();
    line[at..].split('"').next().unwrap().to_owned()
}

async fn admin_tb(gw: &Arc<Gateway>) -> serde_json::Value {
    target(&admin_state(gw).await, "tb").clone()
}

#[tokio::test(start_paused = true)]
async fn an_idle_breaker_whose_cooldown_ended_reads_half_open() {
    let gw = gateway("5s");
    refused_with_the_breaker_open(&gw).await;
    let tb = admin_tb(&gw).await;
    assert_eq!(tb["breaker"], "open", "{tb}");
    let left = tb["breaker_retry_in_secs"].as_f64().unwrap();
    assert!(left > 4.9 && left <= 5.0, "{tb}");
    assert_eq!(metric_state(&gw).await, "open");

    // No request comes; the cooldown ends.
    tokio::time::advance(std::time::Duration::from_secs(6)).await;
    let tb = admin_tb(&gw).await;
    assert_eq!(tb["breaker"], "half_open", "{tb}");
    assert_eq!(tb["breaker_retry_in_secs"], 0.0, "{tb}");
    assert_eq!(metric_state(&gw).await, "half_open");
}

/// An open breaker never reads `breaker_retry_in_secs: 0`: docs/GATEWAY.md gives 0 for a
/// breaker that is not open, and `thousandths` rounds the last half millisecond of a
/// cooldown down to it (rounding up to the millisecond would not).
#[tokio::test(start_paused = true)]
async fn an_open_breaker_never_reads_zero_seconds_left() {
    let gw = gateway("5s");
    refused_with_the_breaker_open(&gw).await;
    let left = admin_tb(&gw).await["breaker_retry_in_secs"]
        .as_f64()
        .unwrap();
    // To 400 µs before the cooldown ends.
    let to = std::time::Duration::from_secs_f64(left) - std::time::Duration::from_micros(400);
    tokio::time::advance(to).await;
    let tb = admin_tb(&gw).await;
    assert_eq!(tb["breaker"], "open", "{tb}");
    assert!(tb["breaker_retry_in_secs"].as_f64().unwrap() > 0.0, "{tb}");
}

/// `switchyard_availability_ratio`'s sample for `target`, if `/metrics` has one.
async fn metric_availability(gw: &Arc<Gateway>, target: &str) -> Option<f64> {
    let text = metrics(gw).await;
    let label = format!("target=\"{target}\"");
    let line = text
        .lines()
        .find(|l| l.starts_with("switchyard_availability_ratio{") && l.contains(&label))?;
    Some(line.rsplit(' ').next()?.parse().unwrap())
}

/// A target that finished no attempt has no availability (docs/GATEWAY.md): `null` in
/// `/admin/state`, no `switchyard_availability_ratio` sample in `/metrics`; one finished
/// attempt gives it one, and leaves the idle target without.
#[tokio::test(start_paused = true)]
async fn an_idle_target_has_no_availability_until_an_attempt_finishes() {
    let gw = rig(&config(&format!("{TA}{TB}"), CHAT_TA, "")).gw;
    for name in ["ta", "tb"] {
        let t = target(&admin_state(&gw).await, name).clone();
        assert!(t["availability"].is_null(), "{t}");
        assert_eq!(metric_availability(&gw, name).await, None, "{name}");
    }

    let (status, body) = send_chat(&gw, false).await;
    assert_eq!(status, 200, "{body}");
    let state = admin_state(&gw).await;
    assert_eq!(target(&state, "ta")["availability"], 1.0, "{state}");
    assert_eq!(metric_availability(&gw, "ta").await, Some(1.0));
    assert!(target(&state, "tb")["availability"].is_null(), "{state}");
    assert_eq!(metric_availability(&gw, "tb").await, None);
}
