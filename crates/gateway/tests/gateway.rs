//! The gateway in process: fakes behind the in-process transport, requests by `oneshot`.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use switchyard_gateway::{Gateway, app, sha256_hex};
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

fn fake(name: &str) -> axum::Router {
    let text = format!(
        "name: {name}\ndialect: openai\nmodels:\n  - {{ name: m }}\nlatency:\n  first_token: {{ fixed: 10ms }}\n  tokens_per_second: {{ fixed: 1000 }}\noutput_tokens: {{ fixed: 5 }}\n"
    );
    switchyard_fake::server::router(switchyard_fake::load_profile(&text, "p.yaml").unwrap(), 1)
}

fn config(route: &str, rpm: u64) -> String {
    config_with(route, rpm, "")
}

/// `extra`: more lines for the `gateway:` section.
fn config_with(route: &str, rpm: u64, extra: &str) -> String {
    format!(
        "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake' }}\n\
         router:\n  targets:\n    - {{ name: ta, provider: a, model: m }}\n  routes:\n    - {{ name: {route}, policy: static, targets: [ta] }}\n  plan: {{ max_attempts: 1 }}\n\
         gateway:\n  max_body_bytes: 2000\n  expose_attempts: true\n  admin_token_sha256: {}\n  keys:\n    - {{ name: app, sha256: {}, requests_per_minute: {rpm} }}\n{extra}",
        sha256_hex("admin"),
        sha256_hex("key")
    )
}

struct Rig {
    gw: Arc<Gateway>,
    fake: axum::Router,
    path: std::path::PathBuf,
}

fn rig(rpm: u64) -> Rig {
    rig_with(rpm, "")
}

fn rig_with(rpm: u64, extra: &str) -> Rig {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("switchyard-gw-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gw.yaml");
    std::fs::write(&path, config_with("chat", rpm, extra)).unwrap();
    let fake = fake("a");
    let transport = Transport::new(InProcess::new().with("a.fake", fake.clone()));
    Rig {
        gw: Gateway::from_file(path.clone(), transport).unwrap(),
        fake,
        path,
    }
}

async fn call(
    gw: &Arc<Gateway>,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: String,
) -> (u16, axum::http::HeaderMap, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app(gw.clone())
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

const CHAT: &str = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test(start_paused = true)]
async fn keys_rates_and_bodies() {
    let r = rig(2);
    assert_eq!(
        call(&r.gw, "POST", "/v1/chat/completions", None, CHAT.into())
            .await
            .0,
        401
    );
    assert_eq!(
        call(
            &r.gw,
            "POST",
            "/v1/chat/completions",
            Some("wrong"),
            CHAT.into()
        )
        .await
        .0,
        401
    );
    let (status, headers, body) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        CHAT.into(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-switchyard-attempts"], "1");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["model"], "m");
    assert_eq!(reply["usage"]["completion_tokens"], 5);
    assert_eq!(
        call(
            &r.gw,
            "POST",
            "/v1/chat/completions",
            Some("key"),
            CHAT.into()
        )
        .await
        .0,
        200
    );
    // Two a minute: the third is refused with a Retry-After.
    let (status, headers, body) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        CHAT.into(),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert!(body.contains("rate_limit_exceeded"));
    let r = rig(100);
    let (status, _, body) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        "{nope".into(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("\"error\""), "OpenAI's format: {body}");
    let big = format!(
        r#"{{"model":"chat","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(5000)
    );
    let (status, _, body) = call(&r.gw, "POST", "/v1/chat/completions", Some("key"), big).await;
    assert_eq!(status, 413);
    assert!(
        body.contains("\"request_too_large\""),
        "OpenAI's format: {body}"
    );
    let (status, _, body) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        CHAT.replace("chat", "nope"),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("model_not_found"));
}

#[tokio::test(start_paused = true)]
async fn upstream_rate_limits_come_back_as_429_with_retry_after() {
    let r = rig(100);
    let fault = Request::post("/_fake/faults")
        .body(Body::from(
            r#"{"kind":"http","status":429,"retry_after":"9s"}"#,
        ))
        .unwrap();
    r.fake.clone().oneshot(fault).await.unwrap();
    let (status, headers, body) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        CHAT.into(),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "9");
}

#[tokio::test(start_paused = true)]
async fn admin_and_reload() {
    let r = rig(100);
    assert_eq!(
        call(&r.gw, "GET", "/admin/state", None, String::new())
            .await
            .0,
        401
    );
    let (status, _, body) = call(&r.gw, "GET", "/admin/state", Some("admin"), String::new()).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"breaker\":\"closed\""), "{body}");
    let (status, _, body) = call(
        &r.gw,
        "POST",
        "/admin/overrides",
        Some("admin"),
        r#"{"action":"force","target":"ta","mode":"open"}"#.into(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("forced_open, disabled, metrics_only or automatic (got `open`)"),
        "{body}"
    );
    let (status, _, _) = call(
        &r.gw,
        "POST",
        "/admin/overrides",
        Some("admin"),
        r#"{"action":"force","target":"ta","mode":"forced_open"}"#.into(),
    )
    .await;
    assert_eq!(status, 200);
    // A path the gateway does not serve: a JSON error an SDK can show, not an empty 404.
    let (status, _, body) = call(
        &r.gw,
        "POST",
        "/v1/messages/count_tokens",
        Some("key"),
        "{}".into(),
    )
    .await;
    assert_eq!(status, 404);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "unknown_url", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("POST /v1/messages/count_tokens"),
        "{body}"
    );
    assert_eq!(
        call(
            &r.gw,
            "POST",
            "/v1/chat/completions",
            Some("key"),
            CHAT.into()
        )
        .await
        .0,
        503
    );
    let (status, _, _) = call(
        &r.gw,
        "POST",
        "/admin/overrides",
        Some("admin"),
        r#"{"action":"drain","target":"nope"}"#.into(),
    )
    .await;
    assert_eq!(status, 400);
    // A new route name on disk; reload swaps the router.
    std::fs::write(&r.path, config("assistant", 100)).unwrap();
    assert_eq!(
        call(&r.gw, "POST", "/admin/reload", Some("admin"), String::new())
            .await
            .0,
        200
    );
    let (_, _, models) = call(&r.gw, "GET", "/v1/models", Some("key"), String::new()).await;
    assert!(
        models.contains("assistant") && !models.contains("\"chat\""),
        "{models}"
    );
    let (status, _, one) = call(
        &r.gw,
        "GET",
        "/v1/models/assistant",
        Some("key"),
        String::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(one.contains("\"id\":\"assistant\""), "{one}");
    let (status, _, gone) = call(&r.gw, "GET", "/v1/models/chat", Some("key"), String::new()).await;
    assert_eq!(status, 404);
    assert!(gone.contains("model_not_found"), "{gone}");
    assert_eq!(
        call(
            &r.gw,
            "GET",
            "/v1/models/assistant",
            Some("wrong"),
            String::new()
        )
        .await
        .0,
        401
    );
    // The target kept its name, so the reload kept its forced-open breaker.
    assert_eq!(
        call(
            &r.gw,
            "POST",
            "/v1/chat/completions",
            Some("key"),
            CHAT.replace("chat", "assistant")
        )
        .await
        .0,
        503
    );
    admin(&r.gw, r#"{"action":"restore","target":"ta"}"#).await;
    assert_eq!(
        call(
            &r.gw,
            "POST",
            "/v1/chat/completions",
            Some("key"),
            CHAT.replace("chat", "assistant")
        )
        .await
        .0,
        200
    );
    // A broken config on disk: reload refuses and the running router stays.
    std::fs::write(&r.path, "router: {").unwrap();
    assert_eq!(
        call(&r.gw, "POST", "/admin/reload", Some("admin"), String::new())
            .await
            .0,
        400
    );
    assert_eq!(
        call(
            &r.gw,
            "POST",
            "/v1/chat/completions",
            Some("key"),
            CHAT.replace("chat", "assistant")
        )
        .await
        .0,
        200
    );
    let (_, _, state) = call(&r.gw, "GET", "/admin/state", Some("admin"), String::new()).await;
    assert!(
        state.contains("\"action\":\"force\"") && state.contains("\"action\":\"reload\""),
        "{state}"
    );
    let (status, _, metrics) = call(&r.gw, "GET", "/metrics", None, String::new()).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("switchyard_attempts_total"));
}

#[tokio::test(start_paused = true)]
async fn the_attempt_log_tells_every_attempt_of_a_failover() {
    let text = "providers:\n  - { name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake' }\n  \
                - { name: b, dialect: openai, base_url: 'https://y', fake_base_url: 'http://b.fake' }\n\
                router:\n  targets:\n    - { name: 'first one', provider: a, model: m }\n    - { name: second, provider: b, model: m }\n  \
                routes:\n    - { name: chat, policy: priority, tiers: [['first one'], [second]] }\n\
                gateway:\n  expose_attempts: true\n";
    let params = switchyard_live::config::load_live(text, "gw.yaml").unwrap();
    let (a, b) = (fake("a"), fake("b"));
    let transport = Transport::new(
        InProcess::new()
            .with("a.fake", a.clone())
            .with("b.fake", b.clone()),
    );
    let gw = Gateway::new(&params, None, transport).unwrap();
    let outage = || {
        Request::post("/_fake/faults")
            .body(Body::from(r#"{"kind":"http","status":503}"#))
            .unwrap()
    };
    a.clone().oneshot(outage()).await.unwrap();
    let (status, headers, body) =
        call(&gw, "POST", "/v1/chat/completions", None, CHAT.into()).await;
    assert_eq!(status, 200, "{body}");
    let log = headers["x-switchyard-attempt-log"].to_str().unwrap();
    let entries = switchyard_core::attempt_log::parse(log).unwrap();
    let story: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.target.as_str(), e.label))
        .collect();
    assert_eq!(
        story,
        [("first one", "overloaded"), ("second", "success")],
        "{log}"
    );
    assert!(log.starts_with("first%20one overloaded "), "{log}");

    let streamed = CHAT.replace("}]}", "}],\"stream\":true}");
    let (status, headers, _) = call(&gw, "POST", "/v1/chat/completions", None, streamed).await;
    assert_eq!(status, 200);
    let log = headers["x-switchyard-attempt-log"].to_str().unwrap();
    assert!(log.starts_with("first%20one overloaded "), "{log}");
    assert!(log.contains(", second streaming "), "{log}");

    b.clone().oneshot(outage()).await.unwrap();
    let (status, headers, _) = call(&gw, "POST", "/v1/chat/completions", None, CHAT.into()).await;
    assert_eq!(status, 503);
    let log = headers["x-switchyard-attempt-log"].to_str().unwrap();
    let labels: Vec<&str> = switchyard_core::attempt_log::parse(log)
        .unwrap()
        .iter()
        .map(|e| e.label)
        .collect();
    assert!(
        !labels.is_empty() && labels.iter().all(|l| *l == "overloaded"),
        "{log}"
    );
}

/// A client that disconnects mid-stream: hyper drops the body, which abandons the request at
/// once (even while the upstream is silent), with nothing left in flight.
#[tokio::test(start_paused = true)]
async fn a_client_that_leaves_mid_stream_abandons_its_request() {
    let rig = rig(100);
    // The upstream goes silent after two tokens, when the client leaves.
    let slow = r#"{"kind":"stream_stall","after_tokens":2,"stall":"10m"}"#;
    let req = Request::post("/_fake/faults")
        .body(Body::from(slow))
        .unwrap();
    assert_eq!(rig.fake.clone().oneshot(req).await.unwrap().status(), 201);
    let body = r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let req = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", "Bearer key")
        .body(Body::from(body))
        .unwrap();
    let resp = app(rig.gw.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    let in_flight = |gw: &Gateway| {
        gw.router()
            .inspect(|c| c.health(switchyard_core::id::TargetId::new(0)).in_flight)
    };
    assert_eq!(in_flight(&rig.gw), 1);
    drop(body);
    assert_eq!(in_flight(&rig.gw), 0, "abandoned as the body dropped");
    let tel = rig.gw.router().telemetry();
    let abandoned = tel.routes[0].failures[switchyard_core::telemetry::failure_index(
        switchyard_core::outcome::FailureReason::Abandoned,
    )];
    assert_eq!((tel.routes[0].requests, abandoned), (1, 1));
}

async fn admin(gw: &Arc<Gateway>, body: &str) {
    let (status, _, reply) = call(gw, "POST", "/admin/overrides", Some("admin"), body.into()).await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test(start_paused = true)]
async fn probes_say_alive_and_ready_without_a_key() {
    let r = rig(100);
    let (status, _, body) = call(&r.gw, "GET", "/healthz", None, String::new()).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _, body) = call(&r.gw, "GET", "/readyz", None, String::new()).await;
    assert_eq!(status, 200, "{body}");
    // The only target forced open: nothing to send to.
    admin(
        &r.gw,
        r#"{"action":"force","target":"ta","mode":"forced_open"}"#,
    )
    .await;
    let (status, _, body) = call(&r.gw, "GET", "/readyz", None, String::new()).await;
    assert_eq!(status, 503, "{body}");
    let why: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(why["reason"], "no_target_available", "{body}");
    assert_eq!(why["targets"][0]["target"], "ta", "{body}");
    assert_eq!(why["targets"][0]["state"], "forced_open", "{body}");
    admin(&r.gw, r#"{"action":"restore"}"#).await;
    assert_eq!(
        call(&r.gw, "GET", "/readyz", None, String::new()).await.0,
        200
    );
    // Drained by an operator: the same.
    admin(&r.gw, r#"{"action":"drain","target":"ta"}"#).await;
    let (status, _, body) = call(&r.gw, "GET", "/readyz", None, String::new()).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""state":"drained""#), "{body}");
    admin(&r.gw, r#"{"action":"restore"}"#).await;
    assert_eq!(
        call(&r.gw, "GET", "/readyz", None, String::new()).await.0,
        200
    );
    // Shutting down: not ready, still alive.
    r.gw.start_draining();
    let (status, _, body) = call(&r.gw, "GET", "/readyz", None, String::new()).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""reason":"draining""#), "{body}");
    assert_eq!(
        call(&r.gw, "GET", "/healthz", None, String::new()).await.0,
        200
    );
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
    let (status, headers, body) = call(
        &r.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        CHAT.into(),
    )
    .await;
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

/// A reload cannot turn client authentication off (a SIGHUP or `POST /admin/reload` with a
/// keyless config would otherwise open the gateway to anyone): it is refused and the old keys
/// stay.
#[tokio::test]
async fn a_reload_that_would_drop_every_client_key_is_refused() {
    let rig = rig(100);
    let keyless = config("chat", 100).replace(
        &format!(
            "  keys:\n    - {{ name: app, sha256: {}, requests_per_minute: 100 }}\n",
            sha256_hex("key")
        ),
        "",
    );
    assert!(!keyless.contains("keys:"), "{keyless}");
    std::fs::write(&rig.path, keyless).unwrap();
    let err = rig.gw.reload().unwrap_err();
    assert!(err.to_string().contains("gateway.keys"), "{err}");
    let (status, _, _) = call(
        &rig.gw,
        "POST",
        "/v1/chat/completions",
        None,
        CHAT.to_owned(),
    )
    .await;
    assert_eq!(status, 401, "still needs a key");
    let (status, _, _) = call(
        &rig.gw,
        "POST",
        "/v1/chat/completions",
        Some("key"),
        CHAT.to_owned(),
    )
    .await;
    assert_eq!(status, 200);
}
