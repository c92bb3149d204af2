//! What an OpenAI client gets back through the gateway from upstreams of every dialect:
//! tool calls (JSON and SSE), cached tokens, several choices, task rules and pinned targets,
//! and replies forwarded as they came. Upstreams are small in-test stubs answering canned
//! vendor bodies (`support/stubs.rs`); the provider's own error words are in
//! `upstream_errors.rs`.
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::stubs::{Reply, chat, gateway, json_stub, post, sse_stub, stub};
use switchyard_gateway::{Gateway, app, sha256_hex};
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

fn anthropic_tool_reply() -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1024, "output_tokens": 20}
    })
}

#[tokio::test]
async fn an_openai_client_gets_tool_calls_from_an_anthropic_upstream() {
    let gw = gateway("anthropic", json_stub(200, anthropic_tool_reply()));
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(
        choice["message"]["content"],
        Value::Null,
        "only calls: null"
    );
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    assert_eq!(v["usage"]["prompt_tokens"], 1036);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 1024);
    assert_eq!(v["usage"]["total_tokens"], 1056);
    assert!(
        !r.has_attempt_headers(),
        "attempt headers are off by default"
    );
}

#[tokio::test]
async fn an_openai_client_gets_tool_calls_from_a_gemini_upstream() {
    let reply = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {}}}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 8, "cachedContentTokenCount": 16, "totalTokenCount": 38}
    });
    let gw = gateway("gemini", json_stub(200, reply));
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let msg = &v["choices"][0]["message"];
    assert_eq!(
        v["choices"][0]["finish_reason"], "tool_calls",
        "derived from the parts"
    );
    assert_eq!(msg["tool_calls"][0]["id"], "call_0");
    assert_eq!(
        msg["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(msg["tool_calls"][1]["id"], "call_1");
    assert_eq!(msg["tool_calls"][1]["function"]["name"], "get_time");
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 16);
}

/// The tool-call chunks of an OpenAI stream, as (index, id, name, arguments) per chunk.
fn call_deltas(events: &[Value]) -> Vec<(u64, Option<String>, Option<String>, String)> {
    events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .map(|c| {
            if c.get("id").is_some() {
                assert_eq!(c["type"], "function", "{c}");
            }
            (
                c["index"].as_u64().unwrap(),
                c["id"].as_str().map(str::to_owned),
                c["function"]["name"].as_str().map(str::to_owned),
                c["function"]["arguments"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn finish_and_tail(events: &[Value]) -> (Value, Value, Value) {
    let n = events.len();
    assert!(n >= 3, "{events:?}");
    (
        events[n - 3]["choices"][0]["finish_reason"].clone(),
        events[n - 2]["usage"].clone(),
        events[n - 1].clone(),
    )
}

#[tokio::test]
async fn a_streamed_gemini_call_reaches_an_openai_client_as_tool_call_deltas() {
    let gw = gateway(
        "gemini",
        sse_stub(&[
            (
                None,
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Checking."}]}, "index": 0}]}),
            ),
            (
                None,
                json!({"candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
            ]}, "finishReason": "STOP", "index": 0}],
              "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 8, "cachedContentTokenCount": 16}}),
            ),
        ]),
    );
    let r = post(&gw, "key", &[], chat("chat", true)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.events();
    assert_eq!(
        call_deltas(&events),
        [
            (
                0,
                Some("call_0".into()),
                Some("get_weather".into()),
                String::new()
            ),
            (0, None, None, "{\"city\":\"Paris\"}".into()),
        ]
    );
    let (finish, usage, done) = finish_and_tail(&events);
    assert_eq!(finish, "tool_calls");
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 16);
    assert_eq!(done, "[DONE]");
    assert!(!r.has_attempt_headers());
}

#[tokio::test]
async fn a_streamed_anthropic_call_reaches_an_openai_client_as_tool_call_deltas() {
    let start = json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 7, "cache_read_input_tokens": 64, "output_tokens": 1}}});
    let gw = gateway(
        "anthropic",
        sse_stub(&[
            (Some("message_start"), start),
            (
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me look."}}),
            ),
            (
                Some("content_block_stop"),
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": " \"Paris\"}"}}),
            ),
            (
                Some("content_block_stop"),
                json!({"type": "content_block_stop", "index": 1}),
            ),
            (
                Some("message_delta"),
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 30}}),
            ),
            (Some("message_stop"), json!({"type": "message_stop"})),
        ]),
    );
    let r = post(&gw, "key", &[], chat("chat", true)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.events();
    assert_eq!(
        call_deltas(&events),
        [
            (
                0,
                Some("toolu_9".into()),
                Some("get_weather".into()),
                String::new()
            ),
            (0, None, None, "{\"city\":".into()),
            (0, None, None, " \"Paris\"}".into()),
        ],
        "block 1 is tool call 0"
    );
    let text: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Let me look.");
    let (finish, usage, done) = finish_and_tail(&events);
    assert_eq!(finish, "tool_calls");
    assert_eq!(usage["prompt_tokens"], 71);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 64);
    assert_eq!(usage["completion_tokens"], 30);
    assert_eq!(done, "[DONE]");
}

#[tokio::test]
async fn several_choices_are_all_rendered_and_streams_with_several_are_refused() {
    let reply = json!({
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "one"}, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": "two"}, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    });
    let gw = gateway("openai", json_stub(200, reply));
    let mut body = chat("chat", false);
    body["n"] = json!(2);
    let v = post(&gw, "key", &[], body.clone()).await.json();
    let choices: Vec<(u64, &str, &str)> = v["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["index"].as_u64().unwrap(),
                c["message"]["content"].as_str().unwrap(),
                c["finish_reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(choices, [(0, "one", "stop"), (1, "two", "length")]);
    body["stream"] = json!(true);
    let r = post(&gw, "key", &[], body).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["param"], "n");
}

/// Two targets: `t` (route `chat`) answers "from t", `u` (route `other`) "from u"; a rule
/// sends task `summarize` to route `other`.
fn two_targets() -> Arc<Gateway> {
    let answer = |text: &str| {
        json_stub(
            200,
            json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}),
        )
    };
    let text = format!(
        "providers:\n  - {{ name: p, dialect: openai, base_url: 'https://x', fake_base_url: 'http://t.stub' }}\n  - {{ name: q, dialect: openai, base_url: 'https://y', fake_base_url: 'http://u.stub' }}\n\
         router:\n  targets:\n    - {{ name: t, provider: p, model: m }}\n    - {{ name: u, provider: q, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [t] }}\n    - {{ name: other, policy: static, targets: [u] }}\n\
         \x20 rules:\n    - {{ when: {{ task: summarize }}, route: other }}\n\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n",
        sha256_hex("key"),
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let transport = Transport::new(
        InProcess::new()
            .with("t.stub", answer("from t"))
            .with("u.stub", answer("from u")),
    );
    Gateway::new(&params, None, transport).unwrap()
}

fn content(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_task_header_drives_task_rules() {
    let gw = two_targets();
    assert_eq!(
        content(&post(&gw, "key", &[], chat("chat", false)).await),
        "from t"
    );
    let tagged = [("x-switchyard-task", "summarize")];
    assert_eq!(
        content(&post(&gw, "key", &tagged, chat("chat", false)).await),
        "from u"
    );
    for bad in ["has space", "", &"x".repeat(65)] {
        let r = post(
            &gw,
            "key",
            &[("x-switchyard-task", bad)],
            chat("chat", false),
        )
        .await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
        assert_eq!(r.json()["error"]["param"], "x-switchyard-task");
    }
}

#[tokio::test]
async fn model_may_name_a_target() {
    let gw = two_targets();
    assert_eq!(
        content(&post(&gw, "key", &[], chat("u", false)).await),
        "from u"
    );
    assert_eq!(
        content(&post(&gw, "key", &[], chat("t", false)).await),
        "from t"
    );
    let r = post(&gw, "key", &[], chat("nobody", false)).await;
    assert_eq!(r.status, 404);
    let models = app(gw.clone())
        .oneshot(
            Request::get("/v1/models")
                .header("authorization", "Bearer key")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let bytes = models.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["chat", "other", "t", "u"]);
}

#[tokio::test]
async fn an_openai_upstreams_reply_reaches_an_openai_client_as_it_came() {
    // Fields Switchyard does not model (logprobs, system_fingerprint, service_tier, a
    // refusal, a vendor's future field) arrive byte for byte: the body is forwarded whole.
    let body = r#"{"id":"chatcmpl-up","object":"chat.completion","created":7,"model":"gpt-up-2026","system_fingerprint":"fp_1","service_tier":"default","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"no"},"logprobs":{"content":[{"token":"no","logprob":-0.1}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4},"x_future":[1,2]}"#;
    let gw = gateway("openai", stub(200, "application/json", body.to_owned()));
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, body);
    assert_eq!(r.headers["content-type"], "application/json");
    // The books still see the reply's usage.
    let t = gw.router().telemetry();
    assert_eq!(
        (t.targets[0].prompt_tokens, t.targets[0].completion_tokens),
        (3, 1)
    );
}

#[tokio::test]
async fn a_forwarded_reply_is_still_checked() {
    // A 200 that is not a chat completion fails as malformed (502), whole-body forwarding or not.
    let head = r#""id":"c","object":"chat.completion","created":1,"model":"m","#;
    for body in [
        format!(r#"{{{head}"choices":[{{"index":0}}],"usage":{{"prompt_tokens":1,"completion_tokens":1}}}}"#),
        format!(r#"{{{head}"usage":{{"prompt_tokens":1,"completion_tokens":1}}}}"#),
        r#"{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#.to_owned(),
        format!(r#"{{{head}"choices":[{{"message":{{"content":"hi"}}}}],"usage":{{"prompt_tokens":1,"#),
        format!(r#"{{{head}"choices":[{{"message":7}}],"usage":{{"prompt_tokens":1,"completion_tokens":1}}}}"#),
        format!(r#"{{{head}"choices":[{{"message":{{"content":5}}}}],"usage":{{"prompt_tokens":1,"completion_tokens":1}}}}"#),
        format!(r#"{{{head}"choices":[{{"message":{{"tool_calls":{{}}}}}}],"usage":{{"prompt_tokens":1,"completion_tokens":1}}}}"#),
    ] {
        let gw = gateway("openai", stub(200, "application/json", body.to_owned()));
        let r = post(&gw, "key", &[], chat("chat", false)).await;
        assert_eq!(r.status, 502, "{body}: {}", r.body);
    }
    // Bytes that are not UTF-8 inside the text are refused too (the body would go out as is).
    let mut bytes = format!(r#"{{{head}"choices":[{{"message":{{"content":"hi XX"}}}}],"usage":{{"prompt_tokens":1,"completion_tokens":1}}}}"#).into_bytes();
    let at = bytes.windows(2).position(|w| w == b"XX").unwrap();
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    let upstream = axum::Router::new().fallback(move || {
        let bytes = bytes.clone();
        async move { ([("content-type", "application/json")], bytes).into_response() }
    });
    let gw = gateway("openai", upstream);
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 502, "{}", r.body);
    // A reply without usage is forwarded too (its usage estimated from its text).
    let body = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"four words of text"},"finish_reason":"stop"}]}"#;
    let gw = gateway("openai", stub(200, "application/json", body.to_owned()));
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, body);
    let t = gw.router().telemetry();
    assert!(t.targets[0].completion_tokens > 0);
    assert_eq!(t.targets[0].usage_missing, 1);
}

/// A reply and a stream whose upstream reported no usage are logged with the gateway's
/// estimate of their tokens, marked `tokens_estimated` (docs/GATEWAY.md, "Logs").
#[tokio::test]
async fn a_reply_without_usage_is_logged_with_its_tokens_marked_estimated() {
    let log = support::Captured::start();
    let candidate = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "sunny and warm, twenty degrees"}]}, "finishReason": "STOP"}]});
    let whole = gateway("gemini", json_stub(200, candidate.clone()));
    let r = post(&whole, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let streamed = gateway("gemini", sse_stub(&[(None, candidate)]));
    let r = post(&streamed, "key", &[], chat("chat", true)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let lines = log.access_lines(2).await;
    assert_eq!(lines.len(), 2, "{}", log.text());
    for line in &lines {
        assert_eq!(line["result"], "ok", "{line}");
        assert!(line["completion_tokens"].as_u64().unwrap() > 0, "{line}");
        assert_eq!(line["tokens_estimated"], true, "{line}");
    }
}

/// A stream cut after its first token is booked with the prompt's estimate (an OpenAI stream
/// reports its prompt only in its usage chunk) and the completion estimated from the text
/// delivered, four characters a token (docs/GATEWAY.md, "Tokens of a stream that did not end
/// well"): its access line must say so. Found by helper NU: the line of a cut stream has no
/// `tokens_estimated`, as if the vendor had counted them.
#[tokio::test]
async fn a_cut_streams_access_line_marks_its_tokens_estimated() {
    let log = support::Captured::start();
    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "sunny and warm, twenty degrees"}, "finish_reason": null}]});
    let gw = gateway("openai", sse_stub(&[(None, chunk)]));
    let r = post(&gw, "key", &[], chat("chat", true)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("stream_interrupted"), "{}", r.body);
    let lines = log.access_lines(1).await;
    assert_eq!(lines.len(), 1, "{}", log.text());
    let line = &lines[0];
    assert_eq!(line["result"], "stream_interrupted", "{line}");
    assert!(line["completion_tokens"].as_u64().unwrap() > 0, "{line}");
    assert_eq!(line["tokens_estimated"], true, "{line}");
}
