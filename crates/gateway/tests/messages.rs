//! `POST /v1/messages` in process: an OpenAI-dialect and an Anthropic-dialect fake behind the
//! in-process transport, requests by `oneshot`.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use switchyard_gateway::{Gateway, app, sha256_hex};
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

mod support;

struct Rig {
    gw: Arc<Gateway>,
    openai: axum::Router,
    anthropic: axum::Router,
}

/// Route `chat` goes to the OpenAI-dialect fake, route `claude` to the Anthropic-dialect one.
fn rig(extra: &str) -> Rig {
    rig_exposing(extra, true)
}

/// [`rig`], with the attempt headers exposed or not (`gateway.expose_attempts`).
fn rig_exposing(extra: &str, expose: bool) -> Rig {
    let text = format!(
        "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake' }}\n  \
         - {{ name: b, dialect: anthropic, base_url: 'https://y', fake_base_url: 'http://b.fake' }}\n\
         router:\n  targets:\n    - {{ name: ta, provider: a, model: m }}\n    - {{ name: tb, provider: b, model: m }}\n  \
         routes:\n    - {{ name: chat, policy: static, targets: [ta] }}\n    - {{ name: claude, policy: static, targets: [tb] }}\n  \
         plan: {{ max_attempts: 1 }}\n\
         gateway:\n  expose_attempts: {expose}\n  max_body_bytes: 4000\n  admin_token_sha256: {}\n  keys:\n    - {{ name: app, sha256: {} }}\n{extra}",
        sha256_hex("admin"),
        sha256_hex("key")
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let (openai, anthropic) = (
        support::fake_of("a", "openai", 5),
        support::fake_of("b", "anthropic", 5),
    );
    let transport = Transport::new(
        InProcess::new()
            .with("a.fake", openai.clone())
            .with("b.fake", anthropic.clone()),
    );
    Rig {
        gw: Gateway::new(&params, None, transport).unwrap(),
        openai,
        anthropic,
    }
}

async fn fault(fake: &axum::Router, spec: &str) {
    let req = Request::post("/_fake/faults")
        .body(Body::from(spec.to_owned()))
        .unwrap();
    assert_eq!(fake.clone().oneshot(req).await.unwrap().status(), 201);
}

enum Auth<'a> {
    None,
    XApiKey(&'a str),
    Bearer(&'a str),
}

fn request(key: &Auth, body: String) -> Request<Body> {
    let mut req = Request::post("/v1/messages")
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01");
    match key {
        Auth::None => {}
        Auth::XApiKey(k) => req = req.header("x-api-key", *k),
        Auth::Bearer(k) => req = req.header("authorization", format!("Bearer {k}")),
    }
    req.body(Body::from(body)).unwrap()
}

async fn call(
    gw: &Arc<Gateway>,
    key: Auth<'_>,
    body: Value,
) -> (u16, axum::http::HeaderMap, String) {
    support::send(gw, request(&key, body.to_string())).await
}

fn ask(route: &str) -> Value {
    json!({"model": route, "max_tokens": 50, "messages": [{"role": "user", "content": "Say hello"}]})
}

fn streamed(route: &str) -> Value {
    let mut v = ask(route);
    v["stream"] = json!(true);
    v
}

/// An SSE body as (event name, data) pairs; every frame must be `event: NAME\ndata: JSON`
/// whose `type` repeats the name.
fn events(body: &str) -> Vec<(String, Value)> {
    let events = support::anthropic_events(body);
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str(), "{body}");
    }
    events
}

fn error_of(status: u16, body: &str, kind: &str) -> Value {
    let e: Value = serde_json::from_str(body).unwrap();
    assert_eq!(e["type"], "error", "{status} {body}");
    assert_eq!(e["error"]["type"], kind, "{status} {body}");
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        e["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req-")),
        "{body}"
    );
    e
}

#[tokio::test(start_paused = true)]
async fn a_message_through_an_openai_target_and_an_anthropic_target() {
    let r = rig("");
    for (route, target) in [("chat", "ta"), ("claude", "tb")] {
        let (status, headers, body) = call(&r.gw, Auth::XApiKey("key"), ask(route)).await;
        assert_eq!(status, 200, "{route}: {body}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["x-switchyard-target"], target);
        assert_eq!(headers["x-switchyard-attempts"], "1");
        // One id for a request: the Anthropic SDK's `request-id` is the access log's.
        assert!(headers["request-id"].to_str().unwrap().starts_with("req-"));
        assert_eq!(headers["request-id"], headers["x-request-id"]);
        let m: Value = serde_json::from_str(&body).unwrap();
        assert!(m["id"].as_str().unwrap().starts_with("msg_"), "{body}");
        assert_eq!(m["type"], "message");
        assert_eq!(m["role"], "assistant");
        assert_eq!(m["model"], "m");
        assert_eq!(m["stop_reason"], "end_turn", "{body}");
        assert_eq!(m["stop_sequence"], Value::Null);
        let content = m["content"].as_array().unwrap();
        assert_eq!(content.len(), 1, "{body}");
        assert_eq!(content[0]["type"], "text");
        assert_eq!(
            content[0]["text"].as_str().unwrap().split(' ').count(),
            5,
            "five tokens: {body}"
        );
        assert_eq!(m["usage"]["output_tokens"], 5, "{body}");
        assert!(m["usage"]["input_tokens"].as_u64().unwrap() > 0, "{body}");
        assert_eq!(m["usage"]["cache_read_input_tokens"], 0, "{body}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_through_either_target_is_anthropics_exact_event_sequence() {
    let r = rig("");
    for (route, target) in [("chat", "ta"), ("claude", "tb")] {
        let (status, headers, body) = call(&r.gw, Auth::Bearer("key"), streamed(route)).await;
        assert_eq!(status, 200, "{route}: {body}");
        assert_eq!(headers["content-type"], "text/event-stream; charset=utf-8");
        assert_eq!(headers["x-switchyard-target"], target);
        let events = events(&body);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        let deltas = names.len() - 5;
        let mut expected = vec!["message_start", "content_block_start"];
        expected.extend(std::iter::repeat_n("content_block_delta", deltas));
        expected.extend(["content_block_stop", "message_delta", "message_stop"]);
        assert!(deltas >= 1, "{route}: {names:?}");
        assert_eq!(names, expected, "{route}");
        let start = &events[0].1["message"];
        assert!(start["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(start["model"], "m");
        assert_eq!(start["content"], json!([]));
        assert_eq!(
            events[1].1["content_block"],
            json!({"type": "text", "text": ""})
        );
        let text: String = events[2..2 + deltas]
            .iter()
            .map(|(_, d)| {
                assert_eq!(d["index"], 0);
                assert_eq!(d["delta"]["type"], "text_delta");
                d["delta"]["text"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(text.split(' ').count(), 5, "{route}: {text:?}");
        assert_eq!(events[2 + deltas].1["index"], 0);
        let end = &events[3 + deltas].1;
        assert_eq!(end["delta"]["stop_reason"], "end_turn", "{route}: {end}");
        assert_eq!(end["usage"]["output_tokens"], 5, "{route}: {end}");
        assert!(end["usage"]["input_tokens"].as_u64().unwrap() > 0, "{end}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_cut_mid_way_ends_with_an_in_band_error_event() {
    let r = rig("");
    for (route, fake) in [("chat", &r.openai), ("claude", &r.anthropic)] {
        fault(fake, r#"{"kind":"stream_cut","after_tokens":2}"#).await;
        let (status, _, body) = call(&r.gw, Auth::XApiKey("key"), streamed(route)).await;
        assert_eq!(status, 200, "{body}");
        let events = events(&body);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names[..2],
            ["message_start", "content_block_start"],
            "{route}"
        );
        assert_eq!(names.last(), Some(&"error"), "{route}: {names:?}");
        assert!(!names.contains(&"message_stop"), "{route}: {names:?}");
        assert!(!names.contains(&"message_delta"), "{route}: {names:?}");
        assert!(names.contains(&"content_block_delta"), "{route}: {names:?}");
        let error = &events.last().unwrap().1;
        assert_eq!(error["error"]["type"], "api_error", "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("stream_interrupted"),
            "{error}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn keys_come_as_x_api_key_or_bearer() {
    let r = rig("");
    for key in [Auth::XApiKey("key"), Auth::Bearer("key")] {
        assert_eq!(call(&r.gw, key, ask("chat")).await.0, 200);
    }
    for key in [Auth::None, Auth::XApiKey("wrong"), Auth::Bearer("wrong")] {
        let (status, headers, body) = call(&r.gw, key, ask("chat")).await;
        assert_eq!(status, 401, "{body}");
        error_of(status, &body, "authentication_error");
        assert!(headers.contains_key("request-id"));
    }
    // Both sent: `x-api-key` wins.
    for (api_key, bearer, status) in [("key", "wrong", 200), ("wrong", "key", 401)] {
        let req = Request::post("/v1/messages")
            .header("content-type", "application/json")
            .header("x-api-key", api_key)
            .header("authorization", format!("Bearer {bearer}"))
            .body(Body::from(ask("chat").to_string()))
            .unwrap();
        let resp = app(r.gw.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "x-api-key {api_key}");
    }
}

#[tokio::test(start_paused = true)]
async fn bad_requests_get_anthropics_400_naming_the_field() {
    let r = rig("");
    let mut v = ask("chat");
    v.as_object_mut().unwrap().remove("max_tokens");
    let (status, _, body) = call(&r.gw, Auth::XApiKey("key"), v).await;
    assert_eq!(status, 400);
    let e = error_of(status, &body, "invalid_request_error");
    assert_eq!(e["error"]["message"], "max_tokens: Field required");
    let mut v = ask("chat");
    v["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let (status, _, body) = call(&r.gw, Auth::XApiKey("key"), v).await;
    assert_eq!(status, 400);
    let e = error_of(status, &body, "invalid_request_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("thinking: "),
        "{e}"
    );
    let (status, _, body) = call(&r.gw, Auth::XApiKey("key"), json!("nope")).await;
    assert_eq!(status, 400);
    error_of(status, &body, "invalid_request_error");
}

#[tokio::test(start_paused = true)]
async fn route_and_gateway_errors_keep_their_status_with_anthropics_types() {
    let r = rig("");
    let (status, _, body) = call(&r.gw, Auth::XApiKey("key"), ask("nope")).await;
    assert_eq!(status, 404, "{body}");
    error_of(status, &body, "not_found_error");

    let big = json!({"model": "chat", "max_tokens": 5,
        "messages": [{"role": "user", "content": "x".repeat(5000)}]});
    let (status, _, body) = call(&r.gw, Auth::XApiKey("key"), big).await;
    assert_eq!(status, 413, "{body}");
    error_of(status, &body, "request_too_large");

    fault(
        &r.openai,
        r#"{"kind":"http","status":429,"retry_after":"9s"}"#,
    )
    .await;
    let (status, headers, body) = call(&r.gw, Auth::XApiKey("key"), ask("chat")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "9");
    assert!(headers.contains_key("x-switchyard-attempt-log"));
    error_of(status, &body, "rate_limit_error");

    // Overloaded: Anthropic's 529 (the OpenAI endpoint's 503), for the SDK's OverloadedError.
    fault(&r.anthropic, r#"{"kind":"http","status":529}"#).await;
    let (status, _, body) = call(&r.gw, Auth::XApiKey("key"), ask("claude")).await;
    assert_eq!(status, 529, "{body}");
    error_of(status, &body, "overloaded_error");

    // No target available (the route's one target drained): 529 too, with its wait.
    let (status, body) = support::overrides(&r.gw, r#"{"action":"drain","target":"tb"}"#).await;
    assert_eq!(status, 200, "{body}");
    let (status, headers, body) = call(&r.gw, Auth::XApiKey("key"), ask("claude")).await;
    assert_eq!(status, 529, "{body}");
    assert_eq!(headers["retry-after"], "1");
    error_of(status, &body, "overloaded_error");
}

/// At `max_in_flight`, a request to this endpoint is shed in its format, not OpenAI's: 529
/// `overloaded_error` (the OpenAI endpoint's 503), with the same `Retry-After: 1`.
#[tokio::test(start_paused = true)]
async fn requests_shed_at_the_limit_get_anthropics_overloaded_error() {
    let r = rig("  max_in_flight: 1\n");
    fault(
        &r.openai,
        r#"{"kind":"stream_stall","after_tokens":2,"stall":"10m"}"#,
    )
    .await;
    let resp = app(r.gw.clone())
        .oneshot(request(&Auth::XApiKey("key"), streamed("chat").to_string()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut open = resp.into_body();
    assert!(open.frame().await.unwrap().unwrap().is_data());
    let (status, headers, body) = call(&r.gw, Auth::XApiKey("key"), ask("chat")).await;
    assert_eq!(status, 529, "{body}");
    assert_eq!(headers["retry-after"], "1");
    error_of(status, &body, "overloaded_error");
    // Shedding comes before the key check (docs/GATEWAY.md's `refused` row): a wrong key is
    // shed too at the limit.
    let (status, _, body) = call(&r.gw, Auth::XApiKey("wrong"), ask("chat")).await;
    assert_eq!(status, 529, "{body}");
    drop(open);
    assert_eq!(r.gw.in_flight(), 0);
}

/// A request shed on this endpoint is booked as what it was sent as: `/metrics` counts it
/// under `status="529"` and `result="refused"` (docs/GATEWAY.md's `refused` row), where the
/// OpenAI endpoint's shed request is a 503.
#[tokio::test(start_paused = true)]
async fn a_shed_request_is_booked_529_refused_in_metrics() {
    let r = rig("  max_in_flight: 1\n");
    fault(
        &r.openai,
        r#"{"kind":"stream_stall","after_tokens":2,"stall":"10m"}"#,
    )
    .await;
    let resp = app(r.gw.clone())
        .oneshot(request(&Auth::XApiKey("key"), streamed("chat").to_string()))
        .await
        .unwrap();
    let mut open = resp.into_body();
    assert!(open.frame().await.unwrap().unwrap().is_data());
    let _ = call(&r.gw, Auth::XApiKey("key"), ask("chat")).await;
    drop(open);
    let metrics = support::metrics(&r.gw).await;
    assert!(
        metrics.contains(
            "switchyard_gateway_unrouted_requests_total{status=\"529\",result=\"refused\"} 1"
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("status=\"503\""), "{metrics}");
}

#[tokio::test(start_paused = true)]
async fn which_targets_were_tried_stays_private_unless_exposed() {
    let r = rig_exposing("", false);
    let (status, headers, body) = call(&r.gw, Auth::XApiKey("key"), ask("chat")).await;
    assert_eq!(status, 200, "{body}");
    for name in [
        "x-switchyard-target",
        "x-switchyard-attempts",
        "x-switchyard-attempt-log",
    ] {
        assert!(!headers.contains_key(name), "{name} sent: {headers:?}");
    }
    let mut streamed = ask("claude");
    streamed["stream"] = json!(true);
    let (status, headers, _) = call(&r.gw, Auth::XApiKey("key"), streamed).await;
    assert_eq!(status, 200);
    assert!(!headers.contains_key("x-switchyard-target"), "{headers:?}");
}

/// A tool-use round trip whose assistant turn is the `anthropic` SDK's reply replayed with
/// `model_dump()` (its `ToolUseBlock` holds `caller: None`, a real Anthropic field:
/// programmatic tool calling), or with `caller: {"type": "direct"}` (the model called the
/// tool itself, as every target does): neither asks for anything, as `citations: null` does
/// not, so neither should be refused. Found by helper NU: both are a 400 "Extra inputs are
/// not permitted" naming `messages.1.content.0.caller`.
#[tokio::test(start_paused = true)]
async fn a_tool_use_blocks_caller_that_asks_nothing_is_accepted() {
    let text = format!(
        "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake' }}\n  \
         - {{ name: b, dialect: anthropic, base_url: 'https://y', fake_base_url: 'http://b.fake' }}\n\
         router:\n  targets:\n    - {{ name: ta, provider: a, model: m, capabilities: [tools] }}\n    - {{ name: tb, provider: b, model: m, capabilities: [tools] }}\n  \
         routes:\n    - {{ name: chat, policy: static, targets: [ta] }}\n    - {{ name: claude, policy: static, targets: [tb] }}\n\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n",
        sha256_hex("key")
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let transport = Transport::new(
        InProcess::new()
            .with("a.fake", support::fake_of("a", "openai", 5))
            .with("b.fake", support::fake_of("b", "anthropic", 5)),
    );
    let gw = Gateway::new(&params, None, transport).unwrap();
    for caller in [Value::Null, json!({"type": "direct"})] {
        for route in ["chat", "claude"] {
            let body = json!({"model": route, "max_tokens": 50,
            "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            "messages": [
                {"role": "user", "content": "Weather in Paris? Use get_weather."},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                    "input": {"city": "Paris"}, "caller": caller}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
            ]});
            let (status, _, body) = call(&gw, Auth::XApiKey("key"), body).await;
            assert_eq!(status, 200, "{route}, caller {caller}: {body}");
        }
    }
}

/// A tool call its code made (`caller` other than `direct`) cannot be replayed to any
/// target: refused with a 400 naming the field, in Anthropic's error shape.
#[tokio::test(start_paused = true)]
async fn a_tool_use_made_by_code_is_refused_naming_its_caller() {
    let r = rig("");
    let body = json!({"model": "chat", "max_tokens": 50,
    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
            "input": {}, "caller": {"type": "code_execution_20250825", "tool_id": "srvtoolu_1"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
    ]});
    let (status, _, body) = call(&r.gw, Auth::XApiKey("key"), body).await;
    let e = error_of(status, &body, "invalid_request_error");
    assert_eq!(status, 400, "{body}");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("messages.1.content.0.caller"), "{body}");
}

/// A field no target of the route can express is named as the Anthropic client sent it:
/// `stop_sequences` (the router's `stop`), a tool result's `is_error` by the client's
/// message and block (the router counts `system` as a message and a tool result as one).
#[tokio::test(start_paused = true)]
async fn what_no_target_can_express_is_named_as_the_client_sent_it() {
    let r = rig("");
    // Plain and streamed: both fail before a byte is sent.
    for mut v in [ask("chat"), streamed("chat")] {
        v["stop_sequences"] = json!(["a", "b", "c", "d", "e"]);
        let (status, _, body) = call(&r.gw, Auth::XApiKey("key"), v).await;
        let e = error_of(status, &body, "invalid_request_error");
        assert_eq!(status, 400, "{body}");
        let said = e["error"]["message"].as_str().unwrap();
        assert!(
            said.starts_with("`stop_sequences` cannot be sent"),
            "{said}"
        );
    }
    let mut v = ask("chat");
    v["system"] = json!("be brief");
    v["messages"] = json!([
        { "role": "user", "content": "weather?" },
        { "role": "assistant", "content": [{ "type": "tool_use", "id": "t1", "name": "f", "input": {} }] },
        { "role": "user", "content": [
            { "type": "text", "text": "here" },
            { "type": "tool_result", "tool_use_id": "t1", "content": "no", "is_error": true },
        ] },
    ]);
    let (status, _, body) = call(&r.gw, Auth::XApiKey("key"), v).await;
    let e = error_of(status, &body, "invalid_request_error");
    assert_eq!(status, 400, "{body}");
    let said = e["error"]["message"].as_str().unwrap();
    assert!(
        said.starts_with("`messages.2.content.1.is_error` cannot be sent"),
        "{said}"
    );
}
