//! What the gateway's integration tests share: a config with a fake and a dead target, a
//! gateway loaded from it (with this crate's fakes or another), calls through the app
//! in process (a chat request, a stream read then left, a fake's control API), a gateway
//! served over TCP on 127.0.0.1:0 ([`Served`]) and exchanges with it, the log lines of the
//! test's thread, and which path served (`/metrics`).
#![allow(dead_code, reason = "each test binary uses part of it")]
#![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]

pub mod fleet;
pub mod one_route;
pub mod resuming;
mod served;
pub mod stubs;

pub use served::*;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use switchyard_gateway::{Gateway, app, sha256_hex};
use switchyard_live::config::{LogFormat, LogLevel};
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

pub const CLIENT_KEY: &str = "sk-client-SECRET-7f3a";
pub const UPSTREAM_KEY: &str = "sk-upstream-SECRET-91c2";
pub const MARKER: &str = "PROMPT-MARKER-4d2e";
/// The chat endpoint.
pub const CHAT_PATH: &str = "/v1/chat/completions";

/// A fake of the OpenAI dialect, model `m`, answering 5 tokens.
pub fn fake(name: &str) -> axum::Router {
    fake_of(name, "openai", 5)
}

/// A fake of `dialect`, model `m`, answering `tokens` tokens (10 ms to the first, 1000 a
/// second).
pub fn fake_of(name: &str, dialect: &str, tokens: u32) -> axum::Router {
    fake_with(
        name,
        dialect,
        &format!(
            "latency:\n  first_token: {{ fixed: 10ms }}\n  tokens_per_second: {{ fixed: 1000 }}\noutput_tokens: {{ fixed: {tokens} }}\n"
        ),
    )
}

/// A fake of `dialect`, model `m`, with the rest of its profile `profile` (e.g. `latency`
/// and `output_tokens` lines).
pub fn fake_with(name: &str, dialect: &str, profile: &str) -> axum::Router {
    let text = format!("name: {name}\ndialect: {dialect}\nmodels:\n  - {{ name: m }}\n{profile}");
    switchyard_fake::server::router(switchyard_fake::load_profile(&text, "p.yaml").unwrap(), 1)
}

/// Targets `ta` (a fake) and `tb` (a host nothing answers: every attempt fails to connect,
/// and one failure opens its breaker); `routes` and `gateway` lines are the caller's.
pub fn config(targets: &str, routes: &str, gateway: &str) -> String {
    format!(
        "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake', mock_key: {UPSTREAM_KEY} }}\n  - {{ name: b, dialect: openai, base_url: 'https://y', fake_base_url: 'http://b.fake' }}\n\
         router:\n  targets:\n{targets}  routes:\n{routes}  plan: {{ max_attempts: 2 }}\n\
         gateway:\n  admin_token_sha256: {}\n  keys:\n    - {{ name: app, sha256: {} }}\n{gateway}",
        sha256_hex("admin"),
        sha256_hex(CLIENT_KEY)
    )
}

pub const TA: &str = "    - { name: ta, provider: a, model: m, price: { input: 2, output: 10 } }\n";
pub const TB: &str = "    - { name: tb, provider: b, model: m, breaker: { consecutive_failures: 1, open_for: 1h, open_max: 1h } }\n";
pub const TB_THEN_TA: &str = "    - { name: chat, policy: priority, tiers: [[tb], [ta]] }\n";

pub struct Rig {
    pub gw: Arc<Gateway>,
    pub path: std::path::PathBuf,
}

/// A gateway loaded from `text`, written to a file of its own (so that a test can rewrite
/// it and reload), its upstreams on `transport`; with the file's path.
pub fn from_file(text: &str, transport: Transport) -> (Arc<Gateway>, std::path::PathBuf) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("switchyard-gw-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gw.yaml");
    std::fs::write(&path, text).unwrap();
    (Gateway::from_file(path.clone(), transport).unwrap(), path)
}

/// Route `chat` with `ta` alone (a [`config`]'s `routes`).
pub const CHAT_TA: &str = "    - { name: chat, policy: static, targets: [ta] }\n";

/// A gateway for `text` (a [`config`]) with `fake` behind `a.fake`.
pub fn with_fake(text: &str, fake: axum::Router) -> Arc<Gateway> {
    from_file(text, Transport::new(InProcess::new().with("a.fake", fake))).0
}

/// A gateway for `text` (a [`config`]) with the fake `a` behind `a.fake`.
pub fn rig(text: &str) -> Rig {
    let transport = Transport::new(InProcess::new().with("a.fake", fake("a")));
    let (gw, path) = from_file(text, transport);
    Rig { gw, path }
}

/// One request through the gateway's app: status, headers and body.
pub async fn call_with_headers(
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
    send(gw, req.body(Body::from(body)).unwrap()).await
}

/// `req` through the gateway's app: status, headers and the whole body.
pub async fn send(gw: &Arc<Gateway>, req: Request<Body>) -> (u16, axum::http::HeaderMap, String) {
    let resp = app(gw.clone()).oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// An Anthropic SSE body (each frame `event: NAME\ndata: JSON`) as (name, data) pairs.
pub fn anthropic_events(body: &str) -> Vec<(String, serde_json::Value)> {
    assert!(body.ends_with("\n\n"), "{body:?}");
    body.trim_end_matches("\n\n")
        .split("\n\n")
        .map(|frame| {
            let (event, data) = frame.split_once('\n').unwrap();
            let name = event.strip_prefix("event: ").unwrap().to_owned();
            let data = data.strip_prefix("data: ").unwrap();
            (name, serde_json::from_str(data).unwrap())
        })
        .collect()
}

/// [`chat`]`(stream)` to the chat endpoint with the client key: status, headers, body.
pub async fn send_chat_with_headers(
    gw: &Arc<Gateway>,
    stream: bool,
) -> (u16, axum::http::HeaderMap, String) {
    call_with_headers(gw, "POST", CHAT_PATH, Some(CLIENT_KEY), chat(stream)).await
}

/// As [`send_chat_with_headers`], without the headers.
pub async fn send_chat(gw: &Arc<Gateway>, stream: bool) -> (u16, String) {
    let (status, _, body) = send_chat_with_headers(gw, stream).await;
    (status, body)
}

/// `GET /metrics` (no metrics token set), which must answer 200: the Prometheus text.
pub async fn metrics(gw: &Arc<Gateway>) -> String {
    let (status, text) = call(gw, "GET", "/metrics", None, String::new()).await;
    assert_eq!(status, 200, "{text}");
    text
}

/// `body` to `POST /admin/overrides` with the admin token: status and body.
pub async fn overrides(gw: &Arc<Gateway>, body: &str) -> (u16, String) {
    call(gw, "POST", "/admin/overrides", Some("admin"), body.into()).await
}

/// `GET /admin/state` with the admin token, which must answer 200.
pub async fn admin_state(gw: &Arc<Gateway>) -> serde_json::Value {
    let (status, body) = call(gw, "GET", "/admin/state", Some("admin"), String::new()).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Target `name` in an [`admin_state`].
pub fn target<'a>(state: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    state["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap()
}

/// Posts `body` to `path` with `key` (and an `anthropic-version`, which `/v1/messages` wants),
/// reads at most `frames` frames of the reply, which must be a 200, then leaves (drops it).
/// The frames read, as text.
pub async fn read_then_leave(
    gw: &Arc<Gateway>,
    path: &str,
    key: &str,
    body: String,
    frames: usize,
) -> Vec<String> {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("anthropic-version", "2023-06-01")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = app(gw.clone()).oneshot(req).await.unwrap();
    if resp.status() != 200 {
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        panic!("{status}: {}", String::from_utf8_lossy(&bytes));
    }
    let mut body = resp.into_body();
    let mut read = Vec::new();
    for _ in 0..frames {
        let Some(frame) = body.frame().await else {
            break;
        };
        read.push(String::from_utf8_lossy(frame.unwrap().data_ref().unwrap()).into_owned());
    }
    drop(body);
    read
}

/// A request to a fake's control API (`/_fake/...`), which must succeed: its JSON reply
/// (`Null` when it has none).
pub async fn control(
    fake: &axum::Router,
    method: &str,
    path: &str,
    body: &str,
) -> serde_json::Value {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = fake.clone().oneshot(req).await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
}

/// As [`call_with_headers`], without the headers.
pub async fn call(
    gw: &Arc<Gateway>,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: String,
) -> (u16, String) {
    let (status, _, body) = call_with_headers(gw, method, uri, token, body).await;
    (status, body)
}

/// One request over TCP on its own connection (`connection: close`), `head` its request
/// line and any headers: the status and the whole response (head and body) as text.
pub async fn over_tcp(addr: std::net::SocketAddr, head: &str, body: &str) -> (u16, String) {
    let text = format!(
        "{head}\r\nhost: gw\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let out = String::from_utf8_lossy(&exchange(addr, &text).await).into_owned();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, out)
}

/// The router's estimate of the prompt of an OpenAI chat `body` (the one
/// `Request::estimated_prompt_tokens` holds), more than 0.
pub fn estimated_prompt(body: &str) -> u32 {
    let estimate = switchyard_core::dialect::openai::parse(body.as_bytes())
        .unwrap()
        .request
        .try_to_normalized()
        .unwrap()
        .estimated_prompt_tokens;
    assert!(estimate > 0);
    estimate
}

pub fn chat(stream: bool) -> String {
    // OpenAI refuses `stream_options` on a request that does not stream.
    let options = if stream {
        r#","stream_options":{"include_usage":true}"#
    } else {
        ""
    };
    format!(
        r#"{{"model":"chat","stream":{stream}{options},"messages":[{{"role":"user","content":"say {MARKER}"}}]}}"#
    )
}

thread_local! {
    /// This thread's log lines: each test runs on its own thread, and a current-thread
    /// runtime runs every task of the test there.
    static LINES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes into this thread's [`LINES`].
pub struct ThreadLines;

impl std::io::Write for ThreadLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LINES.with(|l| l.borrow_mut().extend_from_slice(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines of this thread, from the subscriber the binary uses (JSON). One global
/// subscriber for the whole test binary: per-thread subscribers race on tracing's cached
/// per-callsite interest when tests run in parallel.
pub struct Captured;

impl Captured {
    pub fn start() -> Self {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let subscriber =
                switchyard_gateway::logging::subscriber(LogFormat::Json, LogLevel::Info, || {
                    ThreadLines
                });
            tracing::subscriber::set_global_default(subscriber).unwrap();
        });
        LINES.with(|l| l.borrow_mut().clear());
        Captured
    }

    pub fn text(&self) -> String {
        LINES.with(|l| String::from_utf8_lossy(&l.borrow()).into_owned())
    }

    pub fn json(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    pub fn access(&self) -> Vec<serde_json::Value> {
        self.json()
            .into_iter()
            .filter(|l| l["target"] == "switchyard::access")
            .collect()
    }

    /// The access lines once there are `n` (polled for at most 5 s; panics with the log
    /// when there are fewer).
    pub async fn access_lines(&self, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..500 {
            let lines = self.access();
            if lines.len() >= n {
                return lines;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} access lines: {}", self.text());
    }
}
