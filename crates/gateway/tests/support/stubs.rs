//! What the reply tests share (`reply.rs`, `upstream_errors.rs`): upstreams that are small
//! stubs answering canned vendor bodies, a gateway with one target of a given dialect in front
//! of one, and a post that returns the reply.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use switchyard_gateway::{Gateway, sha256_hex};
use switchyard_live::{InProcess, Transport};

/// An upstream that answers every request with `status`, `content_type` and `body`.
pub fn stub(status: u16, content_type: &'static str, body: String) -> axum::Router {
    axum::Router::new().fallback(move || {
        let body = body.clone();
        async move {
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", content_type)],
                body,
            )
                .into_response()
        }
    })
}

pub fn json_stub(status: u16, body: Value) -> axum::Router {
    stub(status, "application/json", body.to_string())
}

pub fn sse_stub(events: &[(Option<&str>, Value)]) -> axum::Router {
    let body: String = events
        .iter()
        .map(|(name, data)| match name {
            Some(n) => format!("event: {n}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        })
        .collect();
    stub(200, "text/event-stream", body)
}

/// A gateway whose route `chat` has one target, `t`, of `dialect`, served by `upstream`;
/// `gateway` is more of the `gateway:` section, `router` more of the `router:` section.
pub fn gateway_with(
    dialect: &str,
    upstream: axum::Router,
    gateway: &str,
    router: &str,
) -> Arc<Gateway> {
    let text = format!(
        "providers:\n  - {{ name: p, dialect: {dialect}, base_url: 'https://x', fake_base_url: 'http://up.stub' }}\n\
         router:\n  targets:\n    - {{ name: t, provider: p, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [t] }}\n  plan: {{ max_attempts: 1 }}\n{router}\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n    - {{ name: ops, sha256: {}, expose_attempts: true }}\n{gateway}",
        sha256_hex("key"),
        sha256_hex("ops-key"),
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let transport = Transport::new(InProcess::new().with("up.stub", upstream));
    Gateway::new(&params, None, transport).unwrap()
}

pub fn gateway(dialect: &str, upstream: axum::Router) -> Arc<Gateway> {
    gateway_with(dialect, upstream, "", "")
}

pub struct Reply {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The SSE data lines, parsed (`[DONE]` as a string).
    pub fn events(&self) -> Vec<Value> {
        self.body
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap_or(Value::String(d.to_owned())))
            .collect()
    }

    pub fn has_attempt_headers(&self) -> bool {
        [
            "x-switchyard-target",
            "x-switchyard-attempts",
            "x-switchyard-attempt-log",
        ]
        .iter()
        .any(|h| self.headers.contains_key(*h))
    }
}

pub async fn post(gw: &Arc<Gateway>, key: &str, headers: &[(&str, &str)], body: Value) -> Reply {
    let mut req = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (status, headers, body) =
        super::send(gw, req.body(Body::from(body.to_string())).unwrap()).await;
    Reply {
        status,
        headers,
        body,
    }
}

pub fn chat(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "stream": stream,
        "stream_options": {"include_usage": true},
    })
}
