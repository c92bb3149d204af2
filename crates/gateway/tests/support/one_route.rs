//! What the in-process tests of one route share (`gateway.rs`, `limits.rs`): a config
//! with one fake target `ta` behind route `chat` and client key `key` (admin token `admin`),
//! a rig that loads it from a file, and a call that returns status, headers and body.

use std::sync::Arc;

pub use super::call_with_headers as call;
use switchyard_gateway::{Gateway, sha256_hex};
use switchyard_live::{InProcess, Transport};

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
    let fake = super::fake("a");
    let transport = Transport::new(InProcess::new().with("a.fake", fake.clone()));
    let (gw, path) = super::from_file(&config_with("chat", rpm, extra), transport);
    Rig { gw, fake, path }
}

pub const CHAT: &str = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;

/// [`CHAT`] for `route` on the chat endpoint, with the client key.
pub async fn post_chat(gw: &Arc<Gateway>, route: &str) -> (u16, axum::http::HeaderMap, String) {
    let body = CHAT.replace("\"chat\"", &format!("\"{route}\""));
    call(gw, "POST", "/v1/chat/completions", Some("key"), body).await
}

/// An override the admin API must accept.
pub async fn admin(gw: &Arc<Gateway>, body: &str) {
    let (status, reply) = super::overrides(gw, body).await;
    assert_eq!(status, 200, "{reply}");
}
