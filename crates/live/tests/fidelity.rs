//! Request fidelity through the live driver: what each target is sent, and which targets a
//! request is sent to at all, when a dialect cannot express it.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use switchyard_core::credentials::{Date, Environment, ProviderConfig, resolve_providers};
use switchyard_core::dialect::Dialect;
use switchyard_core::dialect::openai::ChatRequest;
use switchyard_core::outcome::FailureReason;
use switchyard_core::request::{Message, Original, Request, ResponseFormat, Role};
use switchyard_core::telemetry::failure_index;
use switchyard_live::credentials::CredentialStore;
use switchyard_live::{Driver, InProcess, Transport};
use tower::ServiceExt;

type Seen = Arc<Mutex<Vec<(String, Bytes)>>>;

/// A fake that records every request's path and body before answering it.
fn recording(fake: axum::Router, seen: Seen) -> axum::Router {
    axum::Router::new().fallback(move |req: axum::extract::Request| {
        let fake = fake.clone();
        let seen = seen.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            let path = parts.uri.path().to_owned();
            seen.lock().unwrap().push((path, bytes.clone()));
            let req = axum::extract::Request::from_parts(parts, Body::from(bytes));
            fake.oneshot(req).await.unwrap()
        }
    })
}

/// One provider per `(name, dialect)`, target `t-<name>` able to do everything; every
/// request each fake receives is recorded.
fn rig(providers: &[(&str, &str)], routes: &str) -> (Driver, Vec<(String, Seen)>) {
    let mut transport = InProcess::new();
    let mut provider_yaml = String::new();
    let mut targets = String::new();
    let mut seen = Vec::new();
    for (name, dialect) in providers {
        let log: Seen = Arc::default();
        let fake = switchyard_fake::server::router(common::profile(name, dialect), 1);
        transport = transport.with(&format!("{name}.fake"), recording(fake, log.clone()));
        seen.push(((*name).to_owned(), log));
        provider_yaml.push_str(&format!(
            "  - {{ name: {name}, dialect: {dialect}, base_url: 'https://{name}.example', fake_base_url: 'http://{name}.fake', mock_key: dev-key }}\n"
        ));
        targets.push_str(&format!(
            "  - {{ name: t-{name}, provider: {name}, model: m-{name}, context_window: 100000, capabilities: [streaming, tools, json_mode, vision] }}\n"
        ));
    }
    let configs: Vec<ProviderConfig> = serde_yaml::from_str(&provider_yaml).unwrap();
    let yaml = format!(
        "targets:\n{targets}routes:\n{routes}plan:\n  max_attempts: 3\n  attempt_timeout: 10s\n  deadline: 30s\n"
    );
    let params = switchyard_core::config::load_router(&yaml, "fidelity.yaml").unwrap();
    let used: Vec<&str> = providers.iter().map(|p| p.0).collect();
    let resolved = resolve_providers(&configs, Environment::Development, &used).unwrap();
    let store = CredentialStore::load(
        resolved,
        Environment::Development,
        &used,
        Date(20_000),
        &|_| None,
    )
    .unwrap();
    let router = Driver::new(params, store, Transport::new(transport), 7).unwrap();
    (router, seen)
}

/// The normalized request for an OpenAI client's body, carrying that body.
fn from_client(body: &str) -> Request {
    let parsed: ChatRequest = serde_json::from_str(body).unwrap();
    Request {
        original: Some(Original {
            dialect: Dialect::Openai,
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            raw_reply: false,
            layout: None,
        }),
        ..parsed.try_to_normalized().unwrap()
    }
}

fn bodies(seen: &Seen) -> Vec<(String, String)> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(p, b)| (p.clone(), String::from_utf8(b.to_vec()).unwrap()))
        .collect()
}

const CLIENT_BODY: &str = r#"{"model":"chat","messages":[{"role":"user","content":"What is the weather in Paris?"}],"x_vendor_extension":{"keep":[1,2.50,"three"]},"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"temperature":0.70,"logit_bias":{"50256":-100}}"#;

#[tokio::test(start_paused = true)]
async fn an_openai_target_gets_the_clients_own_body_with_only_the_model_replaced() {
    let (router, seen) = rig(
        &[("openai", "openai")],
        "  - { name: chat, policy: static, targets: [t-openai] }\n",
    );
    router.chat(from_client(CLIENT_BODY)).await.unwrap();
    let expected = CLIENT_BODY.replace(r#""model":"chat""#, r#""model":"m-openai""#);
    assert_eq!(
        bodies(&seen[0].1),
        [("/v1/chat/completions".to_owned(), expected)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_streamed_pass_through_asks_for_usage_and_keeps_the_rest() {
    let (router, seen) = rig(
        &[("openai", "openai")],
        "  - { name: chat, policy: static, targets: [t-openai] }\n",
    );
    let client = r#"{"model":"chat","stream":true,"stream_options":{"include_usage":false,"x":1},"messages":[{"role":"user","content":"hi"}],"x_unknown":null}"#;
    let mut stream = router.chat_stream(from_client(client)).await.unwrap();
    while let Some(event) = stream.next().await {
        event.unwrap();
    }
    let expected = r#"{"model":"m-openai","stream":true,"stream_options":{"x":1,"include_usage":true},"messages":[{"role":"user","content":"hi"}],"x_unknown":null}"#;
    assert_eq!(bodies(&seen[0].1)[0].1, expected);
}

/// Bytes that say when they are dropped.
struct Watched(Vec<u8>, Arc<std::sync::atomic::AtomicBool>);

impl AsRef<[u8]> for Watched {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.1.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Once a stream has begun, the client's body (perhaps a slice of its connection's whole read
/// buffer) is let go: the stream, which may last minutes, does not hold it.
#[tokio::test(start_paused = true)]
async fn a_stream_lets_the_clients_body_go_once_it_has_begun() {
    let (router, seen) = rig(
        &[("openai", "openai")],
        "  - { name: chat, policy: static, targets: [t-openai] }\n",
    );
    let client = r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut request = from_client(client);
    if let Some(o) = request.original.as_mut() {
        o.body = Bytes::from_owner(Watched(client.as_bytes().to_vec(), dropped.clone()));
    }
    let mut stream = router.chat_stream(request).await.unwrap();
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    while let Some(event) = stream.next().await {
        event.unwrap();
    }
    // It was sent as the client wrote it (the model replaced, usage asked for).
    assert!(bodies(&seen[0].1)[0].1.contains(r#""content":"hi""#));
}

#[tokio::test(start_paused = true)]
async fn an_anthropic_target_gets_a_translation_not_the_clients_body() {
    let (router, seen) = rig(
        &[("anthropic", "anthropic")],
        "  - { name: chat, policy: static, targets: [t-anthropic] }\n",
    );
    router.chat(from_client(CLIENT_BODY)).await.unwrap();
    let sent: serde_json::Value = serde_json::from_str(&bodies(&seen[0].1)[0].1).unwrap();
    assert_eq!(sent["model"], "m-anthropic");
    assert_eq!(sent["max_tokens"], 4096, "the documented default");
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert!(sent.get("x_vendor_extension").is_none());
}

fn json_object_request() -> Request {
    Request {
        route: "chat".into(),
        // OpenAI (and its fake) refuse `json_object` unless a message mentions JSON.
        messages: vec![Message::text(Role::User, "Answer in JSON: hello there")],
        response_format: Some(ResponseFormat::JsonObject),
        needs: switchyard_core::request::Capabilities::JSON_MODE,
        ..common::request("chat")
    }
}

#[tokio::test(start_paused = true)]
async fn json_mode_goes_only_to_the_target_that_can_express_it() {
    let (router, seen) = rig(
        &[("anthropic", "anthropic"), ("openai", "openai")],
        "  - { name: chat, policy: priority, tiers: [[t-anthropic], [t-openai]] }\n",
    );
    for _ in 0..3 {
        let reply = router.chat(json_object_request()).await.unwrap();
        assert_eq!(router.target_names(reply.served_by).0, "t-openai");
        assert_eq!(reply.attempts.len(), 1, "no attempt on the unfit target");
    }
    assert!(bodies(&seen[0].1).is_empty(), "anthropic was never sent it");
    assert_eq!(bodies(&seen[1].1).len(), 3);
    let tel = router.telemetry();
    assert_eq!(tel.targets[0].attempts, 0);
    assert_eq!(tel.targets[0].errors_total(), 0, "not the target's fault");
    // A plain request still goes to the first tier.
    let reply = router.chat(common::request("chat")).await.unwrap();
    assert_eq!(router.target_names(reply.served_by).0, "t-anthropic");
}

#[tokio::test(start_paused = true)]
async fn a_route_that_cannot_express_the_request_refuses_it_naming_the_field() {
    let (router, seen) = rig(
        &[("anthropic", "anthropic"), ("claude2", "anthropic")],
        "  - { name: chat, policy: round_robin, targets: [t-anthropic, t-claude2] }\n",
    );
    let err = router.chat(json_object_request()).await.unwrap_err();
    assert_eq!(err.outcome, FailureReason::Unsupported);
    assert!(err.attempts.is_empty());
    let u = err.unsupported.expect("the field is named");
    assert_eq!(u.field, "response_format");
    assert_eq!(u.dialect, Dialect::Anthropic);
    let err = router
        .chat_stream(json_object_request())
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.unsupported.map(|u| u.field).as_deref(),
        Some("response_format")
    );
    assert!(seen.iter().all(|(_, s)| bodies(s).is_empty()));
    let tel = router.telemetry();
    assert_eq!(
        tel.routes[0].failures[failure_index(FailureReason::Unsupported)],
        2,
        "each request counted once, as unsupported"
    );
}

#[tokio::test(start_paused = true)]
async fn an_azure_target_gets_the_clients_body_without_the_model() {
    let (router, seen) = rig(
        &[("azure", "azure-openai")],
        "  - { name: chat, policy: static, targets: [t-azure] }\n",
    );
    router.chat(from_client(CLIENT_BODY)).await.unwrap();
    let (path, body) = bodies(&seen[0].1).remove(0);
    assert_eq!(path, "/openai/deployments/m-azure/chat/completions");
    assert_eq!(body, CLIENT_BODY.replace(r#""model":"chat","#, ""));
}
