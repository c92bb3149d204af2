//! `Retry-After` on a 503 whose request no target could take now: read from the targets the
//! request could still go to (`Driver::next_try`, `Router::retry_wait`), not from one it could
//! never use, and never longer than the wait of one that is ready.
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use switchyard_gateway::{Gateway, sha256_hex};
use switchyard_live::{InProcess, Transport};

/// An Anthropic fake that is always overloaded (529, no `retry-after`).
fn overloaded() -> axum::Router {
    axum::Router::new().fallback(|| async {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let body = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        (StatusCode::from_u16(529).unwrap(), headers, body.to_string())
    })
}

/// A gateway: provider `a` (Anthropic) on `a`, `b` (OpenAI) on `b`; `targets` and `routes`
/// as given, `plan` the router's plan; the key `key`.
fn gateway(
    targets: &str,
    routes: &str,
    plan: &str,
    a: axum::Router,
    b: axum::Router,
) -> std::sync::Arc<Gateway> {
    let text = format!(
        "providers:\n  - {{ name: a, dialect: anthropic, base_url: 'https://x', fake_base_url: 'http://a.fake' }}\n  - {{ name: b, dialect: openai, base_url: 'https://y', fake_base_url: 'http://b.fake' }}\n\
         router:\n  targets:\n{targets}  routes:\n{routes}  plan: {plan}\n\
         gateway:\n  admin_token_sha256: {}\n  keys:\n    - {{ name: ops, sha256: {}, expose_attempts: true }}\n",
        sha256_hex("admin"),
        sha256_hex("key"),
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let transport = Transport::new(InProcess::new().with("a.fake", a).with("b.fake", b));
    Gateway::new(&params, None, transport).unwrap()
}

async fn post(gw: &std::sync::Arc<Gateway>, max_tokens: u32) -> (u16, HeaderMap, String) {
    let body = format!(
        r#"{{"model":"chat","max_tokens":{max_tokens},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    support::call_with_headers(gw, "POST", support::CHAT_PATH, Some("key"), body).await
}

fn retry_after(headers: &HeaderMap) -> u64 {
    headers["retry-after"].to_str().unwrap().parse().unwrap()
}

/// `ta` answers 529 without a wait, and its token bucket is left short by the attempt's
/// reservation; `tb` is ready. One attempt a request: the 503 `overloaded` says 1 s, as `tb`
/// could take the retry at once, not `ta`'s refill.
#[tokio::test(start_paused = true)]
async fn an_overloaded_reply_with_another_target_ready_says_one_second() {
    let targets = "    - { name: ta, provider: a, model: m, limits: { tokens_per_minute: 6000, learn: false } }\n    - { name: tb, provider: b, model: m }\n";
    let routes = "    - { name: chat, policy: priority, tiers: [[ta], [tb]] }\n";
    let gw = gateway(
        targets,
        routes,
        "{ max_attempts: 1 }",
        overloaded(),
        support::fake("b"),
    );
    let (status, headers, body) = post(&gw, 4000).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["x-switchyard-outcome"], "overloaded", "{body}");
    assert_eq!(retry_after(&headers), 1, "{body}");
}

/// `ta`'s window (2 000) can never hold a 32 500-token request, and its request bucket,
/// emptied by 12 requests, has room again in 5 s; `tb` can, and its token bucket is far from
/// room for another. The 503 says `tb`'s wait (over a minute's refill, capped at 20 s), not
/// `ta`'s 5 s.
#[tokio::test(start_paused = true)]
async fn a_target_that_could_never_hold_the_request_does_not_shorten_the_wait() {
    let targets = "    - { name: ta, provider: b, model: m, context_window: 2000, limits: { requests_per_minute: 12, learn: false } }\n    - { name: tb, provider: b, model: m, limits: { tokens_per_minute: 40000, learn: false } }\n";
    let routes = "    - { name: chat, policy: priority, tiers: [[ta], [tb]] }\n";
    let gw = gateway(
        targets,
        routes,
        "{ max_attempts: 2 }",
        support::fake("a"),
        support::fake("b"),
    );
    for _ in 0..12 {
        let (status, headers, body) = post(&gw, 100).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["x-switchyard-target"], "ta");
    }
    let (status, headers, body) = post(&gw, 32500).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-switchyard-target"], "tb");
    let (status, headers, body) = post(&gw, 32500).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        headers["x-switchyard-outcome"], "no_target_available",
        "{body}"
    );
    assert_eq!(retry_after(&headers), 20, "{body}");
}
