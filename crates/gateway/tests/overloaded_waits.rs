//! An overloaded provider's 503 (529 on `POST /v1/messages`, as Anthropic says it): when to
//! come back (`Retry-After`, and in the message as a sentence of its own), whether or not the
//! provider said (found trying the gateway with the SDKs, issue 13).
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use serde_json::json;
use support::stubs::{chat, gateway, post};
use switchyard_gateway::{Gateway, sha256_hex};
use switchyard_live::{InProcess, Transport};

/// An Anthropic upstream answering 529 `overloaded_error` ("Overloaded", as Anthropic
/// says it), with a `retry-after` header when `retry_after` is set.
fn overloaded(retry_after: Option<&'static str>) -> axum::Router {
    axum::Router::new().fallback(move || async move {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        if let Some(after) = retry_after {
            headers.insert("retry-after", HeaderValue::from_static(after));
        }
        let body = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        (StatusCode::from_u16(529).unwrap(), headers, body.to_string())
    })
}

/// docs/GATEWAY.md, "Headers": `Retry-After` is set "on a 429 or 503: seconds to wait,
/// whole and rounded up, at least 1": a 503 for an overloaded provider that gave no wait
/// gets one too (when a target of the route can be tried again, else 1 s), also in the
/// message.
#[tokio::test]

async fn an_overloaded_503_says_when_to_retry_even_when_the_provider_did_not() {
    let gw = gateway("anthropic", overloaded(None));
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let after = r.headers.get("retry-after").map(|v| v.to_str().unwrap());
    let secs: u64 = after
        .unwrap_or_else(|| panic!("no Retry-After on a 503: {:?}", r.headers))
        .parse()
        .unwrap();
    assert!(secs >= 1, "{secs}");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("Retry after "), "{message}");
    // Which 503 it is, for a key that may know (a runner through the gateway books it so):
    // an overloaded provider's, not `no_target_available`.
    assert!(!r.headers.contains_key("x-switchyard-outcome"));
    let r = post(&gw, "ops-key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.headers["x-switchyard-outcome"], "overloaded");
}

/// The provider said when to come back (`retry-after: 4` on its 529) and the plan had no
/// attempt left (`max_attempts: 1`): the client still gets its wait (an overloaded error
/// does not park its target, so the plan's own wait said nothing).
#[tokio::test]

async fn an_overloaded_providers_wait_reaches_the_client_on_the_last_attempt() {
    let gw = gateway("anthropic", overloaded(Some("4")));
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let after = r.headers.get("retry-after");
    assert_eq!(after.map(|v| v.to_str().unwrap()), Some("4"), "{}", r.body);
}

/// The wait is appended to the provider's message as its own sentence: a message without a
/// final stop gets one (`Overloaded. Retry after 4 s.`, not `Overloaded Retry after 4 s.`).
#[tokio::test]

async fn the_wait_is_its_own_sentence_after_a_message_without_a_stop() {
    let text = format!(
        "providers:\n  - {{ name: p, dialect: anthropic, base_url: 'https://x', fake_base_url: 'http://up.stub' }}\n\
         router:\n  targets:\n    - {{ name: t, provider: p, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [t] }}\n  plan: {{ max_attempts: 3 }}\n\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n",
        sha256_hex("key"),
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let transport = Transport::new(InProcess::new().with("up.stub", overloaded(Some("4"))));
    let gw = Gateway::new(&params, None, transport).unwrap();
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.headers.get("retry-after").unwrap(), "4", "{}", r.body);
    assert_eq!(r.json()["error"]["message"], "Overloaded. Retry after 4 s.");
}

/// `POST /v1/messages` says an overloaded provider as Anthropic does, 529 `overloaded_error`
/// (the status for which the Anthropic SDKs raise `OverloadedError`; a 503 is a generic
/// server error to them), with the provider's wait in `Retry-After` as on the OpenAI endpoint.
#[tokio::test]

async fn the_messages_endpoint_says_overloaded_with_anthropics_529() {
    let gw = gateway("anthropic", overloaded(Some("4")));
    let sent =
        json!({"model": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let req = Request::post("/v1/messages")
        .header("content-type", "application/json")
        .header("x-api-key", "key")
        .body(Body::from(sent.to_string()))
        .unwrap();
    let (status, headers, body) = support::send(&gw, req).await;
    assert_eq!(status, 529, "{body}");
    assert_eq!(headers.get("retry-after").unwrap(), "4", "{body}");
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["type"], "error", "{body}");
    assert_eq!(e["error"]["type"], "overloaded_error", "{body}");
    assert_eq!(
        e["error"]["message"], "Overloaded. Retry after 4 s.",
        "{body}"
    );
    // With the attempts exposed, the reason too, on this endpoint as on the chat one.
    let req = Request::post("/v1/messages")
        .header("content-type", "application/json")
        .header("x-api-key", "ops-key")
        .body(Body::from(sent.to_string()))
        .unwrap();
    let (status, headers, body) = support::send(&gw, req).await;
    assert_eq!(status, 529, "{body}");
    assert_eq!(headers["x-switchyard-outcome"], "overloaded", "{body}");
}
