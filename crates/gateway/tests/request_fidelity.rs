//! What the gateway does with a request's fields: refuses what it cannot represent or route
//! (400 naming the field), and sends an OpenAI target the client's own body.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use switchyard_gateway::{Gateway, app};
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

type Seen = Arc<Mutex<Vec<Bytes>>>;

fn fake(name: &str, dialect: &str, seen: Seen) -> axum::Router {
    let text = format!(
        "name: {name}\ndialect: {dialect}\nmodels:\n  - {{ name: m }}\nlatency:\n  first_token: {{ fixed: 10ms }}\n  tokens_per_second: {{ fixed: 1000 }}\noutput_tokens: {{ fixed: 5 }}\n"
    );
    let fake =
        switchyard_fake::server::router(switchyard_fake::load_profile(&text, "p.yaml").unwrap(), 1);
    axum::Router::new().fallback(move |req: axum::extract::Request| {
        let fake = fake.clone();
        let seen = seen.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            seen.lock().unwrap().push(bytes.clone());
            fake.oneshot(axum::extract::Request::from_parts(parts, Body::from(bytes)))
                .await
                .unwrap()
        }
    })
}

struct Rig {
    gw: Arc<Gateway>,
    openai: Seen,
    anthropic: Seen,
}

fn rig() -> Rig {
    let dir = std::env::temp_dir().join(format!("switchyard-gw-req-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("gw-{n}.yaml"));
    let all = "capabilities: [streaming, tools, json_mode, vision]";
    std::fs::write(
        &path,
        format!(
            "providers:\n  - {{ name: o, dialect: openai, base_url: 'https://x', fake_base_url: 'http://o.fake' }}\n  - {{ name: an, dialect: anthropic, base_url: 'https://y', fake_base_url: 'http://an.fake' }}\n\
             router:\n  targets:\n    - {{ name: to, provider: o, model: m, {all} }}\n    - {{ name: ta, provider: an, model: m, {all} }}\n    - {{ name: tt, provider: o, model: m }}\n    - {{ name: ts, provider: o, model: m, context_window: 8000 }}\n    - {{ name: tc, provider: an, model: m, context_window: 8000, default_max_tokens: 4000 }}\n    - {{ name: td, provider: an, model: m, context_window: 8500 }}\n    - {{ name: tw, provider: an, model: m, context_window: 10000, default_max_tokens: 8000 }}\n  routes:\n    - {{ name: chat, policy: static, targets: [to] }}\n    - {{ name: claude, policy: static, targets: [ta] }}\n    - {{ name: text, policy: static, targets: [tt] }}\n    - {{ name: both, policy: priority, tiers: [[to], [ta]] }}\n    - {{ name: small, policy: static, targets: [ts], fallback: chat }}\n    - {{ name: tight, policy: static, targets: [tc] }}\n    - {{ name: tight-default, policy: static, targets: [td] }}\n    - {{ name: wide-or-small, policy: priority, tiers: [[tw], [ts]] }}\n    - {{ name: tight-or-small, policy: priority, tiers: [[tc], [ts]] }}\n  plan: {{ max_attempts: 1 }}\n"
        ),
    )
    .unwrap();
    let openai: Seen = Arc::default();
    let anthropic: Seen = Arc::default();
    let transport = Transport::new(
        InProcess::new()
            .with("o.fake", fake("o", "openai", openai.clone()))
            .with("an.fake", fake("an", "anthropic", anthropic.clone())),
    );
    Rig {
        gw: Gateway::from_file(path, transport).unwrap(),
        openai,
        anthropic,
    }
}

async fn post(gw: &Arc<Gateway>, body: &str) -> (u16, Value) {
    let req = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = app(gw.clone()).oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(start_paused = true)]
async fn an_unknown_role_is_a_400_naming_it() {
    let r = rig();
    let (status, body) = post(
        &r.gw,
        r#"{"model":"chat","messages":[{"role":"user","content":"a"},{"role":"wizard","content":"b"}]}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "messages[1].role");
    assert!(r.openai.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn what_no_target_of_the_route_can_express_is_a_400_naming_the_field() {
    let r = rig();
    let (status, body) = post(
        &r.gw,
        r#"{"model":"claude","messages":[{"role":"user","content":"JSON please"}],"response_format":{"type":"json_object"}}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "response_format");
    assert_eq!(body["error"]["code"], "unsupported_parameter");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic"),
        "{body}"
    );
    assert!(r.anthropic.lock().unwrap().is_empty(), "never sent");
}

/// An image on a route none of whose targets has `vision` is the client's to fix: a 400
/// naming the image part and the capability (it used to be a 503 "no target available",
/// which SDKs retry), on both endpoints, and nothing is sent.
#[tokio::test(start_paused = true)]
async fn a_need_no_target_of_the_route_has_is_a_400_naming_it() {
    let r = rig();
    let image = r#"{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}"#;
    for stream in [false, true] {
        let (status, body) = post(
            &r.gw,
            &format!(
                r#"{{"model":"text","stream":{stream},"messages":[{{"role":"user","content":[{{"type":"text","text":"what is it?"}},{image}]}}]}}"#
            ),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "messages[0].content[1]");
        assert_eq!(body["error"]["code"], "unsupported_parameter");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("`vision`"), "{message}");
    }
    let (status, body) = post(
        &r.gw,
        r#"{"model":"text","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}"#,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["param"]),
        (400, &json!("tools")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`tools`"),
        "{body}"
    );
    let req = Request::post("/v1/messages")
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(Body::from(
            r#"{"model":"text","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}]}"#,
        ))
        .unwrap();
    let resp = app(r.gw.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`vision`"),
        "{body}"
    );
    assert!(r.openai.lock().unwrap().is_empty(), "never sent");
}

/// A request no target of its route has the context window for is the client's to fix too:
/// a 400 `context_length_exceeded` naming `messages` with the sizes and the largest window
/// (it was a 503 "retry after 1 s", which SDKs retry), on both endpoints; nothing is sent.
#[tokio::test(start_paused = true)]
async fn a_request_too_long_for_every_target_is_a_400_saying_so() {
    let r = rig();
    // `small` (8k) falls back to `chat` (128k): the larger window is the one named.
    for (model, stream) in [
        ("chat", false),
        ("chat", true),
        ("both", false),
        ("small", false),
    ] {
        let (status, body) = post(
            &r.gw,
            &format!(
                r#"{{"model":"{model}","stream":{stream},"max_tokens":4000000000,"messages":[{{"role":"user","content":"hi"}}]}}"#
            ),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "messages");
        assert_eq!(body["error"]["code"], "context_length_exceeded");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message
                .contains("context window of the models this request can go to is 128000 tokens"),
            "{message}"
        );
        assert!(
            message.contains("4000000000 for the completion"),
            "{message}"
        );
    }
    let req = Request::post("/v1/messages")
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(Body::from(
            r#"{"model":"claude","max_tokens":4000000000,"messages":[{"role":"user","content":"hi"}]}"#,
        ))
        .unwrap();
    let resp = app(r.gw.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("context window of the models"),
        "{body}"
    );
    assert!(r.openai.lock().unwrap().is_empty(), "never sent");
    assert!(r.anthropic.lock().unwrap().is_empty(), "never sent");
}

/// A request without `max_tokens` is sent an Anthropic target's `default_max_tokens`, so the
/// context-window check counts it: a prompt that leaves less room than that goes to a target
/// that holds it, or is refused naming the completion counted; with `max_tokens` set, the
/// request's own counts.
#[tokio::test(start_paused = true)]
async fn a_targets_default_max_tokens_counts_against_its_window() {
    let r = rig();
    // About 5 000 tokens: under the 8 000-token window of `tc`, not with its 4 000 default.
    let prompt = "word ".repeat(4000);
    let request = |model: &str, max_tokens: &str| {
        format!(
            r#"{{"model":"{model}",{max_tokens}"messages":[{{"role":"user","content":"{prompt}"}}]}}"#
        )
    };
    let (status, body) = post(&r.gw, &request("tight", "")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("is 8000 tokens")
            && message.contains("the messages are about 5004 tokens")
            && message.contains("set `max_tokens` to at most 2996"),
        "{message}"
    );
    // Without a `default_max_tokens` of its own, an Anthropic target is sent 4096.
    let (status, body) = post(&r.gw, &request("tight-default", "")).await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("is 8500 tokens") && message.contains("at most 3496"),
        "{message}"
    );
    // The way out named is the largest window's (10 000, with its 8 000 default it did not
    // hold the prompt), not the OpenAI target's (8 000, sent no default, too small).
    let long = "word ".repeat(6800);
    let (status, body) = post(
        &r.gw,
        &format!(
            r#"{{"model":"wide-or-small","messages":[{{"role":"user","content":"{long}"}}]}}"#
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("is 10000 tokens") && message.contains("at most 1496"),
        "{message}"
    );
    assert!(r.anthropic.lock().unwrap().is_empty(), "never sent");
    // Priority to `tc`, which cannot hold it: the OpenAI target, which sends no default, serves.
    let (status, body) = post(&r.gw, &request("tight-or-small", "")).await;
    assert_eq!(status, 200, "{body}");
    assert!(r.anthropic.lock().unwrap().is_empty(), "not sent to `tc`");
    assert_eq!(r.openai.lock().unwrap().len(), 1);
    // The request's own `max_tokens` leaves room: `tc` serves, sent that.
    let (status, body) = post(&r.gw, &request("tight-or-small", r#""max_tokens":100,"#)).await;
    assert_eq!(status, 200, "{body}");
    let sent = r.anthropic.lock().unwrap();
    assert_eq!(sent.len(), 1);
    let sent: Value = serde_json::from_slice(&sent[0]).unwrap();
    assert_eq!(sent["max_tokens"], 100);
}

/// What OpenAI refuses whichever model serves (no message, a message without content, a
/// sampling field out of its range) the gateway refuses itself, word for word as the OpenAI
/// fake does, whatever the target: a Claude route answered in Anthropic's words about its own
/// fields ("at least one message is required", `param: null`), and a Gemini one took
/// `temperature: 9`. Nothing is sent.
#[tokio::test(start_paused = true)]
async fn what_openai_refuses_is_refused_in_its_words_whatever_the_target() {
    let r = rig();
    let direct = fake("direct", "openai", Seen::default());
    let hi = r#"{"role":"user","content":"hi"}"#;
    for (rest, param, code) in [
        (r#""messages":[]"#.to_owned(), "messages", "empty_array"),
        (
            r#""messages":[{"role":"user"}]"#.to_owned(),
            "messages[0].content",
            "missing_required_parameter",
        ),
        (
            format!(r#""messages":[{hi},{{"role":"system","content":null}}]"#),
            "messages[1].content",
            "missing_required_parameter",
        ),
        (
            format!(r#""messages":[{hi}],"temperature":9"#),
            "temperature",
            "decimal_above_max_value",
        ),
        (
            format!(r#""messages":[{hi}],"top_p":-0.5"#),
            "top_p",
            "decimal_below_min_value",
        ),
        (
            format!(r#""messages":[{hi}],"frequency_penalty":2.5"#),
            "frequency_penalty",
            "decimal_above_max_value",
        ),
        // Quoted as written, as OpenAI quotes it.
        (
            format!(r#""messages":[{hi}],"temperature":5.0"#),
            "temperature",
            "decimal_above_max_value",
        ),
        (
            format!(r#""messages":[{hi}],"presence_penalty":-1e300"#),
            "presence_penalty",
            "decimal_below_min_value",
        ),
        // The messages first, as OpenAI: the empty array, not `n`; the content, not the
        // temperature.
        (
            r#""messages":[],"n":0"#.to_owned(),
            "messages",
            "empty_array",
        ),
        (
            r#""messages":[{"role":"user"}],"temperature":9"#.to_owned(),
            "messages[0].content",
            "missing_required_parameter",
        ),
    ] {
        let req = Request::post("/v1/chat/completions")
            .header("content-type", "application/json")
            .header("authorization", "Bearer k")
            .body(Body::from(format!(r#"{{"model":"m",{rest}}}"#)))
            .unwrap();
        let resp = direct.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let vendor: Value = serde_json::from_slice(&bytes).unwrap();
        for model in ["chat", "claude"] {
            let (status, said) = post(&r.gw, &format!(r#"{{"model":"{model}",{rest}}}"#)).await;
            assert_eq!(status, 400, "{rest}: {said}");
            assert_eq!(said["error"]["param"], param, "{said}");
            assert_eq!(said["error"]["code"], code, "{said}");
            assert_eq!(
                said["error"]["message"], vendor["error"]["message"],
                "{said}"
            );
        }
    }
    assert!(r.openai.lock().unwrap().is_empty(), "never sent");
    assert!(r.anthropic.lock().unwrap().is_empty(), "never sent");
}

#[tokio::test(start_paused = true)]
async fn an_openai_target_gets_the_clients_body_and_an_anthropic_one_the_translation() {
    let r = rig();
    let client = json!({
        "model": "chat", "messages": [{ "role": "user", "content": "hi" }],
        "x_future_field": { "a": [1, 2] }, "max_tokens": 7
    })
    .to_string();
    let (status, _) = post(&r.gw, &client).await;
    assert_eq!(status, 200);
    let sent = r.openai.lock().unwrap()[0].clone();
    assert_eq!(
        String::from_utf8(sent.to_vec()).unwrap(),
        client.replace(r#""model":"chat""#, r#""model":"m""#)
    );
    // A field Switchyard does not model cannot be translated: never dropped, refused.
    let (status, body) = post(&r.gw, &client.replace(r#""chat""#, r#""claude""#)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "x_future_field", "{body}");
    assert_eq!(body["error"]["code"], "unsupported_parameter", "{body}");
    assert!(r.anthropic.lock().unwrap().is_empty(), "never sent");
    // Set to null or false it asks for nothing: translated without it.
    let harmless = client.replace(r#"{"a":[1,2]}"#, "false");
    let (status, _) = post(&r.gw, &harmless.replace(r#""chat""#, r#""claude""#)).await;
    assert_eq!(status, 200);
    let sent: Value = serde_json::from_slice(&r.anthropic.lock().unwrap()[0]).unwrap();
    assert_eq!(sent["max_tokens"], 7);
    assert!(sent.get("x_future_field").is_none());
}

/// OpenAI takes at most 4 stop sequences: a request with 5 goes to a target that takes them
/// (Anthropic) and never to the OpenAI one; on a route with only OpenAI it is a 400 naming
/// `stop`; 4 go to OpenAI as sent.
#[tokio::test(start_paused = true)]
async fn more_stop_sequences_than_openai_takes_go_to_a_target_that_takes_them() {
    let r = rig();
    let body = |route: &str, n: usize| {
        json!({ "model": route, "messages": [{ "role": "user", "content": "hi" }],
                "stop": vec!["s"; n] })
        .to_string()
    };
    let (status, reply) = post(&r.gw, &body("both", 5)).await;
    assert_eq!(status, 200, "{reply}");
    assert!(r.openai.lock().unwrap().is_empty(), "never sent to OpenAI");
    let sent: Value = serde_json::from_slice(&r.anthropic.lock().unwrap()[0]).unwrap();
    assert_eq!(sent["stop_sequences"], json!(vec!["s"; 5]), "{sent}");
    let (status, reply) = post(&r.gw, &body("chat", 5)).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["param"], "stop", "{reply}");
    assert_eq!(reply["error"]["code"], "unsupported_parameter", "{reply}");
    assert!(r.openai.lock().unwrap().is_empty(), "never sent to OpenAI");
    let (status, reply) = post(&r.gw, &body("both", 4)).await;
    assert_eq!(status, 200, "{reply}");
    let sent: Value = serde_json::from_slice(&r.openai.lock().unwrap()[0]).unwrap();
    assert_eq!(sent["stop"], json!(vec!["s"; 4]), "{sent}");
}
