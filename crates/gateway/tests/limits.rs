//! The gateway's limits in process: an upstream's rate limit passed on with its wait, load
//! shed past `max_in_flight`, and a body that never completes.
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;

use axum::body::Body;
use axum::http::Request;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use support::one_route::{call, post_chat, rig, rig_with};
use switchyard_gateway::app;
use tower::ServiceExt;

#[tokio::test(start_paused = true)]
async fn upstream_rate_limits_come_back_as_429_with_retry_after() {
    let r = rig(100);
    let fault = Request::post("/_fake/faults")
        .body(Body::from(
            r#"{"kind":"http","status":429,"retry_after":"9s"}"#,
        ))
        .unwrap();
    r.fake.clone().oneshot(fault).await.unwrap();
    let (status, headers, body) = post_chat(&r.gw, "chat").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "9");
}

fn stream_request() -> Request<Body> {
    let body = r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", "Bearer key")
        .body(Body::from(body))
        .unwrap()
}

/// Two streams in flight at `max_in_flight: 2`: a third request is shed with OpenAI's 503
/// and `Retry-After: 1`; probes still answer; when one stream's body is dropped, the next
/// request is admitted.
#[tokio::test(start_paused = true)]
async fn requests_past_max_in_flight_are_shed_until_a_stream_ends() {
    let r = rig_with(100, "  max_in_flight: 2\n");
    let stall = r#"{"kind":"stream_stall","after_tokens":2,"stall":"10m"}"#;
    let req = Request::post("/_fake/faults")
        .body(Body::from(stall))
        .unwrap();
    assert_eq!(r.fake.clone().oneshot(req).await.unwrap().status(), 201);
    let mut open = Vec::new();
    for _ in 0..2 {
        let resp = app(r.gw.clone()).oneshot(stream_request()).await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        assert!(body.frame().await.unwrap().unwrap().is_data());
        open.push(body);
    }
    assert_eq!(r.gw.in_flight(), 2);
    let (status, headers, body) = post_chat(&r.gw, "chat").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "1");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["type"], "server_error", "{body}");
    assert_eq!(error["error"]["code"], "overloaded", "{body}");
    assert_eq!(
        call(&r.gw, "GET", "/healthz", None, String::new()).await.0,
        200
    );
    assert_eq!(
        call(&r.gw, "GET", "/readyz", None, String::new()).await.0,
        200
    );
    drop(open.pop());
    assert_eq!(r.gw.in_flight(), 1, "the dropped body released its permit");
    let resp = app(r.gw.clone()).oneshot(stream_request()).await.unwrap();
    assert_eq!(resp.status(), 200, "the next request is admitted");
    open.push(resp.into_body());
    assert_eq!(r.gw.in_flight(), 2);
    drop(open);
    assert_eq!(r.gw.in_flight(), 0);
}

/// A client that sends part of its body and then nothing: a 408 in OpenAI's format once
/// `body_read_timeout` has passed (paused clock: the wait is virtual).
#[tokio::test(start_paused = true)]
async fn a_body_that_never_completes_gets_408_after_the_deadline() {
    let r = rig_with(100, "  body_read_timeout: 2s\n");
    let start = tokio::time::Instant::now();
    let trickle = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"{\"model\":",
    ))])
    .chain(futures_util::stream::pending());
    let req = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", "Bearer key")
        .body(Body::from_stream(trickle))
        .unwrap();
    // Bounded, so that a gateway that waits forever fails the test rather than hanging it.
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        app(r.gw.clone()).oneshot(req),
    )
    .await
    .expect("a 408 before the test's own bound")
    .unwrap();
    assert_eq!(resp.status(), 408);
    assert_eq!(start.elapsed(), std::time::Duration::from_secs(2));
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "request_timeout", "{error}");
    assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
    assert_eq!(r.gw.in_flight(), 0);
}

/// A target whose own token bucket (`limits.tokens_per_minute`, 60 000: 1 000 a second, not
/// reset from the provider's headers) has no room left for the next request: the 503
/// `no_target_available` says, in `Retry-After`, when it will. The first request reserves
/// 32 500 tokens and its prompt's estimate, leaving about 27 500; the second needs as many:
/// about 5 s of refill (docs/GATEWAY.md, "Headers").
#[tokio::test(start_paused = true)]
async fn a_target_whose_token_bucket_is_short_says_when_it_has_room() {
    let ta = support::TA.replace(
        "model: m,",
        "model: m, limits: { tokens_per_minute: 60000, learn: false },",
    );
    let gw = support::rig(&support::config(&ta, support::CHAT_TA, "")).gw;
    let body = r#"{"model":"chat","max_tokens":32500,"messages":[{"role":"user","content":"hi"}]}"#;
    let send = || {
        support::call_with_headers(
            &gw,
            "POST",
            support::CHAT_PATH,
            Some(support::CLIENT_KEY),
            body.to_owned(),
        )
    };
    let (status, _, reply) = send().await;
    assert_eq!(status, 200, "{reply}");
    let (status, headers, reply) = send().await;
    assert_eq!(status, 503, "{reply}");
    assert!(reply.contains("no_target_available"), "{reply}");
    let after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((5..=6).contains(&after), "retry-after {after}: {reply}");
}

/// What `/admin/state` and `/metrics` show of a target's client-side buckets
/// (docs/GATEWAY.md, "Overrides" and "Metrics"): its token bucket's size and what the first
/// request left of it (32 500 tokens and its prompt's estimate reserved, none given back), no
/// request bucket (none configured, none learned), and the same figure in both.
#[tokio::test(start_paused = true)]
async fn admin_state_and_metrics_show_what_is_left_of_a_targets_buckets() {
    let ta = support::TA.replace(
        "model: m,",
        "model: m, limits: { tokens_per_minute: 60000, learn: false },",
    );
    let gw = support::rig(&support::config(&ta, support::CHAT_TA, "")).gw;
    let state = support::admin_state(&gw).await;
    let limits = &support::target(&state, "ta")["rate_limits"];
    // Whole units, written as integers.
    assert_eq!(limits["tokens"]["left"].as_i64(), Some(60000), "{state}");
    let body = r#"{"model":"chat","max_tokens":32500,"messages":[{"role":"user","content":"hi"}]}"#;
    let (status, _, reply) = support::call_with_headers(
        &gw,
        "POST",
        support::CHAT_PATH,
        Some(support::CLIENT_KEY),
        body.to_owned(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let state = support::admin_state(&gw).await;
    let limits = &support::target(&state, "ta")["rate_limits"];
    assert_eq!(limits["tokens"]["per_minute"], 60000.0, "{state}");
    assert!(limits["requests"].is_null(), "{state}");
    let left = limits["tokens"]["left"].as_f64().unwrap();
    // What the reply's time (paused, the fake's few ms) refilled is back too.
    assert!((27_400.0..27_600.0).contains(&left), "{state}");
    let (_, metrics) = support::call(&gw, "GET", "/metrics", None, String::new()).await;
    let line = format!(
        "switchyard_rate_limit_remaining{{provider=\"a\",target=\"ta\",limit=\"tokens\"}} {left}"
    );
    assert!(metrics.contains(&line), "{line}\n{metrics}");
    assert!(
        !metrics.contains("limit=\"requests\""),
        "no request bucket: {metrics}"
    );
}
