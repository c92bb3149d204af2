//! Streams that survive their provider (`resume.rs`, `rv2_review.rs`, `stream_review.rs`):
//! route `chat` (`resume: prefill`) with `ta`, OpenAI, first, then `tb`, Anthropic, declared
//! `prefill`; client key `key`.

use std::sync::Arc;

use switchyard_gateway::{Gateway, sha256_hex};
use switchyard_live::{InProcess, Transport};

/// The price `ta` or `tb` may be given: $100 per million tokens in and out.
pub const PRICED: &str = ", price: { input: 100, output: 100 }";

/// The config: `ta` behind `http://{a_host}`, `tb` behind `http://b.fake`, each with its
/// `extra` fields (e.g. [`PRICED`]).
pub fn config(a_host: &str, ta_extra: &str, tb_extra: &str) -> String {
    format!(
        "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://{a_host}' }}\n  \
         - {{ name: b, dialect: anthropic, base_url: 'https://y', fake_base_url: 'http://b.fake' }}\n\
         router:\n  targets:\n    - {{ name: ta, provider: a, model: m{ta_extra} }}\n    - {{ name: tb, provider: b, model: m, capabilities: [streaming, prefill]{tb_extra} }}\n  \
         routes:\n    - {{ name: chat, policy: priority, tiers: [[ta], [tb]], resume: prefill }}\n  \
         plan: {{ max_attempts: 3 }}\n\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n",
        sha256_hex("key")
    )
}

/// A gateway for `text` (a [`config`]) with these upstreams, each `(host, router)`.
pub fn gateway(text: &str, upstreams: Vec<(&str, axum::Router)>) -> Arc<Gateway> {
    let params = switchyard_live::config::load_live(text, "gw.yaml").unwrap();
    let mut hosts = InProcess::new();
    for (host, router) in upstreams {
        hosts = hosts.with(host, router);
    }
    Gateway::new(&params, None, Transport::new(hosts)).unwrap()
}

/// The fakes: `ta`'s (OpenAI) cuts its 60-token stream after 40; `tb`'s (Anthropic, 20
/// tokens) continues a prefill if `prefill`. Returns both, `ta`'s first.
pub async fn fakes(prefill: bool) -> (axum::Router, axum::Router) {
    let (openai, anthropic) = (
        super::fake_of("a", "openai", 60),
        super::fake_of("b", "anthropic", 20),
    );
    super::control(
        &openai,
        "POST",
        "/_fake/faults",
        r#"{"kind":"stream_cut","after_tokens":40}"#,
    )
    .await;
    let options = serde_json::json!({ "prefill": prefill }).to_string();
    super::control(&anthropic, "POST", "/_fake/options", &options).await;
    (openai, anthropic)
}
