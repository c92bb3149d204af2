//! `docs/examples/gateway.yaml`, the config the gateway docs point a newcomer to, loads and
//! serves: the built-in fakes stand at the addresses it names, and requests from both
//! endpoints, a task rule and a debug key's attempt headers behave as its comments say.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use switchyard_fake::profile::builtin::builtin;
use switchyard_gateway::{Gateway, app};
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

fn fake(name: &str, seed: u64) -> axum::Router {
    let profile = switchyard_fake::load_profile(builtin(name).unwrap(), name).unwrap();
    switchyard_fake::server::router(profile, seed)
}

async fn post(
    gw: &Arc<Gateway>,
    path: &str,
    key: &str,
    extra: (&str, &str),
    body: &str,
) -> (u16, axum::http::HeaderMap, String) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .header(extra.0, extra.1)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = app(gw.clone()).oneshot(req).await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test(start_paused = true)]
async fn the_documented_example_config_serves_as_its_comments_say() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/gateway.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let params = switchyard_live::config::load_live(&text, path).unwrap();
    let transport = Transport::new(
        InProcess::new()
            .with("127.0.0.1:9101", fake("openai", 1))
            .with("127.0.0.1:9102", fake("anthropic", 2))
            .with("127.0.0.1:9103", fake("gemini", 3)),
    );
    let gw = Gateway::new(&params, None, transport).unwrap();
    let chat = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;

    let (status, headers, body) = post(
        &gw,
        "/v1/chat/completions",
        "app-key-change-me",
        ("x-none", "1"),
        chat,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !headers.contains_key("x-switchyard-target"),
        "the app key sees no attempts"
    );

    // The debug key sees them; the task rule sends `summarize` to the Gemini target.
    let (status, headers, body) = post(
        &gw,
        "/v1/chat/completions",
        "debug-key-change-me",
        ("x-switchyard-task", "summarize"),
        chat,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-switchyard-target"], "gemini-flash");

    let messages =
        r#"{"model":"chat","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;
    let (status, _, body) = post(
        &gw,
        "/v1/messages",
        "app-key-change-me",
        ("x-none", "1"),
        messages,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""type":"message""#), "{body}");

    let (status, _, _) = post(
        &gw,
        "/v1/chat/completions",
        "wrong-key",
        ("x-none", "1"),
        chat,
    )
    .await;
    assert_eq!(status, 401);
}
