//! What the in-process tests of one route share (`gateway.rs`, `limits.rs`): a config
//! with one fake target `ta` behind route `chat` and client key `key` (admin token `admin`),
//! a rig that loads it from a file, and a call that returns status, headers and body.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use switchyard_gateway::{Gateway, app, sha256_hex};
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

pub fn config(route: &str, rpm: u64) -> String {
    config_with(route, rpm, "")
}

/// `extra`: more lines for the `gateway:` section.
pub fn config_with(route: &str, rpm: u64, extra: &str) -> String {
    format!(
        "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake' }}\n\
         router:\n  targets:\n    - {{ name: ta, provider: a, model: m }}\n  routes:\n    - {{ name: {route}, policy: static, targets: [ta] }}\n  plan: {{ max_attempts: 1 }}\n\
         gateway:\n  max_body_bytes: 2000\n  expose_attempts: true\n  admin_token_sha256: {}\n  keys:\n    - {{ name: app, sha256: {}, requests_per_minute: {rpm} }}\n{extra}",
        sha256_hex("admin"),
        sha256_hex("key")
    )
}

pub struct Rig {
    pub gw: Arc<Gateway>,
    pub fake: axum::Router,
    pub path: std::path::PathBuf,
}

pub fn rig(rpm: u64) -> Rig {
    rig_with(rpm, "")
}

pub fn rig_with(rpm: u64, extra: &str) -> Rig {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("switchyard-gw-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gw.yaml");
    std::fs::write(&path, config_with("chat", rpm, extra)).unwrap();
    let fake = super::fake("a");
    let transport = Transport::new(InProcess::new().with("a.fake", fake.clone()));
    Rig {
        gw: Gateway::from_file(path.clone(), transport).unwrap(),
        fake,
        path,
    }
}

pub async fn call(
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

pub const CHAT: &str = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;

/// An override the admin API must accept.
pub async fn admin(gw: &Arc<Gateway>, body: &str) {
    let (status, _, reply) = call(gw, "POST", "/admin/overrides", Some("admin"), body.into()).await;
    assert_eq!(status, 200, "{reply}");
}
