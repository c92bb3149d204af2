//! Same dialect in and out, streamed: an OpenAI client's stream served by an OpenAI target is
//! the target's own chunks, each re-framed only as `data: ...\n\n`, with usage cut when the
//! client did not ask for it (docs/GATEWAY.md, "Streams"). Upstreams are a stub answering
//! exact bytes, and the OpenAI fake (its chunks compared with the same fake's direct stream).
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::stubs::{gateway, post, stub};
use switchyard_gateway::{Gateway, sha256_hex};
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

/// Chunks as OpenAI sends them with `include_usage`: a role chunk, text with fields the
/// gateway does not model (a chunk's `logprobs`, `service_tier`, `obfuscation`), a refusal
/// delta, the finish, and the usage chunk.
const CHUNKS: [&str; 5] = [
    r#"{"id":"chatcmpl-up1","object":"chat.completion.chunk","created":1700000007,"model":"gpt-up-2026-01-01","service_tier":"default","system_fingerprint":"fp_up","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"q1"}"#,
    r#"{"id":"chatcmpl-up1","object":"chat.completion.chunk","created":1700000007,"model":"gpt-up-2026-01-01","service_tier":"default","system_fingerprint":"fp_up","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.03,"bytes":[72,105],"top_logprobs":[]}],"refusal":null},"finish_reason":null}],"usage":null,"obfuscation":"x9z"}"#,
    r#"{"usage":null,"id":"chatcmpl-up1","object":"chat.completion.chunk","created":1700000007,"model":"gpt-up-2026-01-01","service_tier":"default","system_fingerprint":"fp_up","choices":[{"index":0,"delta":{"refusal":" there"},"logprobs":null,"finish_reason":null}]}"#,
    r#"{"id":"chatcmpl-up1","object":"chat.completion.chunk","created":1700000007,"model":"gpt-up-2026-01-01","service_tier":"default","system_fingerprint":"fp_up","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    r#"{"id":"chatcmpl-up1","object":"chat.completion.chunk","created":1700000007,"model":"gpt-up-2026-01-01","service_tier":"default","system_fingerprint":"fp_up","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0}}}"#,
];

/// The stub's stream: each chunk framed as a server may (`data:` without a space, CRLF).
fn upstream_stream() -> String {
    let mut body: String = CHUNKS.iter().map(|c| format!("data:{c}\r\n\r\n")).collect();
    body.push_str("data: [DONE]\r\n\r\n");
    body
}

fn stream_request(include_usage: Option<bool>) -> Value {
    let mut v = json!({
        "model": "chat", "stream": true,
        "messages": [{"role": "user", "content": "hi"}],
    });
    if let Some(u) = include_usage {
        v["stream_options"] = json!({ "include_usage": u });
    }
    v
}

/// `chunks` as the gateway frames them, then `[DONE]`.
fn framed<'a>(chunks: impl IntoIterator<Item = &'a str>) -> String {
    let mut out: String = chunks
        .into_iter()
        .map(|c| format!("data: {c}\n\n"))
        .collect();
    out.push_str("data: [DONE]\n\n");
    out
}

#[tokio::test]
async fn an_openai_targets_chunks_reach_the_client_as_they_came() {
    let gw = gateway("openai", stub(200, "text/event-stream", upstream_stream()));
    // Asked for usage: every chunk as it came, the usage chunk included.
    let r = post(&gw, "key", &[], stream_request(Some(true))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, framed(CHUNKS));
    // Not asked: the usage chunk dropped, and the `usage` entry cut from the others, nothing
    // else touched (the entry first in its chunk too).
    for asked in [None, Some(false)] {
        let r = post(&gw, "key", &[], stream_request(asked)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let cut: Vec<String> = CHUNKS[..4]
            .iter()
            .map(|c| {
                c.replace(r#","usage":null"#, "")
                    .replace(r#""usage":null,"#, "")
            })
            .collect();
        assert_eq!(r.body, framed(cut.iter().map(String::as_str)), "{asked:?}");
        assert!(!r.body.contains("usage"), "{}", r.body);
    }
    // The books saw every stream's usage, whatever the client asked.
    let t = gw.router().telemetry();
    assert_eq!(
        (t.targets[0].prompt_tokens, t.targets[0].completion_tokens),
        (27, 6)
    );
}

#[tokio::test]
async fn asked_for_usage_from_a_target_that_sent_none_the_gateway_adds_it() {
    let body = framed(CHUNKS[..4].iter().copied());
    let gw = gateway("openai", stub(200, "text/event-stream", body));
    let r = post(&gw, "key", &[], stream_request(Some(true))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.events();
    assert_eq!(events.len(), 6, "{}", r.body);
    assert_eq!(
        r.body.split("\n\n").take(4).collect::<Vec<_>>(),
        CHUNKS[..4]
            .iter()
            .map(|c| format!("data: {c}"))
            .collect::<Vec<_>>()
    );
    // Written here, under the stream's own id and model, with the estimate.
    let usage = &events[4];
    assert_eq!(usage["id"], "chatcmpl-up1");
    assert_eq!(usage["model"], "gpt-up-2026-01-01");
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert_eq!(events[5], "[DONE]");
}

/// An upstream that answers OpenAI bodies with a model name other than the one it was asked
/// for, as OpenAI does (an alias answered by a dated model): JSON or SSE as asked.
fn dated_model_upstream() -> axum::Router {
    axum::Router::new().fallback(|body: axum::body::Bytes| async move {
        let asked: Value = serde_json::from_slice(&body).unwrap();
        if asked["stream"] == true {
            let body = framed(CHUNKS.iter().copied());
            ([("content-type", "text/event-stream")], body).into_response()
        } else {
            let reply = json!({
                "id": "chatcmpl-up2", "object": "chat.completion", "created": 1_700_000_007,
                "model": "gpt-up-2026-01-01", "system_fingerprint": "fp_up",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                             "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
            });
            ([("content-type", "application/json")], reply.to_string()).into_response()
        }
    })
}

#[tokio::test]
async fn streamed_and_unstreamed_replies_name_the_model_the_target_named() {
    let gw = gateway("openai", dated_model_upstream());
    let plain = post(
        &gw,
        "key",
        &[],
        json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    let streamed = post(&gw, "key", &[], stream_request(None)).await;
    assert_eq!(streamed.status, 200, "{}", streamed.body);
    let model = plain.json()["model"].clone();
    assert_eq!(
        model, "gpt-up-2026-01-01",
        "the target's own, not the target's configured `m`"
    );
    let chunks: Vec<Value> = streamed
        .events()
        .into_iter()
        .filter(|e| e.is_object())
        .collect();
    assert_eq!(chunks.len(), 4);
    assert!(
        chunks.iter().all(|c| c["model"] == model),
        "{}",
        streamed.body
    );
}

/// A gateway whose route `chat` streams from the fake `fake` of `dialect` (model `m`).
fn over_fake(dialect: &str, fake: axum::Router) -> Arc<Gateway> {
    let text = format!(
        "providers:\n  - {{ name: a, dialect: {dialect}, base_url: 'https://x', fake_base_url: 'http://a.fake' }}\n\
         router:\n  targets:\n    - {{ name: ta, provider: a, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [ta] }}\n\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n",
        sha256_hex("key")
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    Gateway::new(
        &params,
        None,
        Transport::new(InProcess::new().with("a.fake", fake)),
    )
    .unwrap()
}

/// The fake's own stream for `body`, asked directly.
async fn direct(fake: &axum::Router, body: &Value) -> String {
    let req = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", "Bearer k")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = fake.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// `created` is the fake's wall clock: two streams may straddle a second.
fn same_second(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(r#""created":"#) {
        let (head, tail) = rest.split_at(at + r#""created":"#.len());
        out.push_str(head);
        out.push('0');
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

#[tokio::test(start_paused = true)]
async fn through_the_fake_the_client_gets_the_fakes_own_chunks_with_their_logprobs() {
    for include_usage in [true, false] {
        let mut body = json!({
            "model": "chat", "stream": true, "logprobs": true, "top_logprobs": 1,
            "messages": [{"role": "user", "content": "Say hello"}],
        });
        if include_usage {
            body["stream_options"] = json!({ "include_usage": true });
        }
        let gw = over_fake("openai", support::fake_of("a", "openai", 6));
        let r = post(&gw, "key", &[], body.clone()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // The same fake, fresh (same seed), asked directly for what the gateway sends it.
        body["model"] = json!("m");
        body["stream_options"] = json!({ "include_usage": true });
        let mut want = direct(&support::fake_of("a", "openai", 6), &body).await;
        if !include_usage {
            let usage_chunk = want.rfind("data: {").unwrap();
            let done = want.rfind("data: [DONE]").unwrap();
            want.replace_range(usage_chunk..done, "");
            want = want.replace(r#","usage":null"#, "");
        }
        assert_eq!(
            same_second(&r.body),
            same_second(&want),
            "include_usage {include_usage}"
        );
        // What the fake gives with `logprobs` reached the client: every text token's.
        let chunks: Vec<Value> = r.events().into_iter().filter(|e| e.is_object()).collect();
        let texts: Vec<&Value> = chunks
            .iter()
            .filter(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
            })
            .collect();
        assert_eq!(texts.len(), 6, "{}", r.body);
        for c in texts {
            let token = &c["choices"][0]["logprobs"]["content"][0];
            assert_eq!(token["token"], c["choices"][0]["delta"]["content"], "{c}");
            assert_eq!(token["top_logprobs"].as_array().unwrap().len(), 1, "{c}");
        }
        assert_eq!(
            chunks.iter().any(|c| c["choices"] == json!([])),
            include_usage,
            "{}",
            r.body
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_azure_targets_chunks_are_forwarded_but_its_opening_filter_results() {
    let body = json!({
        "model": "chat", "stream": true, "logprobs": true,
        "messages": [{"role": "user", "content": "Say hello"}],
    });
    let gw = over_fake("azure-openai", support::fake_of("a", "azure-openai", 6));
    let r = post(&gw, "key", &[], body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.events();
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks = &events[..events.len() - 1];
    // Role, six tokens, finish: each the fake's own (its id, fingerprint and logprobs), none
    // without choices, none with usage.
    assert_eq!(chunks.len(), 8, "{}", r.body);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        chunks[0]["id"].as_str().unwrap().len(),
        "chatcmpl-".len() + 24
    );
    for c in chunks {
        assert_eq!(c["choices"].as_array().unwrap().len(), 1, "{c}");
        assert_eq!(c["system_fingerprint"], "fp_switchyard", "{c}");
        assert!(c.get("usage").is_none(), "{c}");
        assert_eq!(c["id"], chunks[0]["id"], "{c}");
    }
    assert!(
        chunks[1]["choices"][0]["logprobs"]["content"].is_array(),
        "{}",
        r.body
    );
}

/// An upstream whose stream sends the frames of `first` (each its own frame), then stalls
/// until `go` is notified, then sends `rest` and ends.
fn stalling(first: Vec<String>, rest: String, go: Arc<tokio::sync::Notify>) -> axum::Router {
    axum::Router::new().fallback(move || {
        let (first, rest, go) = (first.clone(), rest.clone(), go.clone());
        async move {
            let head = futures_util::stream::iter(first.into_iter().map(Ok::<_, Infallible>));
            let tail = futures_util::stream::once(async move {
                go.notified().await;
                Ok::<_, Infallible>(rest)
            });
            let body = Body::from_stream(futures_util::StreamExt::chain(head, tail));
            ([("content-type", "text/event-stream")], body).into_response()
        }
    })
}

/// The first content reaches the client as soon as the upstream sent it, together with the
/// head: the gateway does not wait for the upstream's next read (the next event, a second
/// chunk) before writing it. The upstream sends its opening events and its first text, then
/// stalls until the client has that text; a gateway that waited would wait for good (under
/// paused time the runtime is idle, so the bound below ends the test at once, not after a
/// wall-clock second). For a forwarded stream (OpenAI target) and a written one (Anthropic).
#[tokio::test(start_paused = true)]
async fn the_first_content_is_written_without_waiting_for_the_upstreams_next_read() {
    let sse = |c: &str| format!("data: {c}\n\n");
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let openai = (
        "openai",
        vec![sse(CHUNKS[0]), sse(CHUNKS[1])],
        [sse(CHUNKS[3]), sse(CHUNKS[4]), sse("[DONE]")].concat(),
    );
    let start = json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 7, "output_tokens": 1}}});
    let anthropic = (
        "anthropic",
        vec![
            ev("message_start", start),
            ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            ),
        ],
        [
            ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            ev(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 2}}),
            ),
            ev("message_stop", json!({"type": "message_stop"})),
        ]
        .concat(),
    );
    for (dialect, first, rest) in [openai, anthropic] {
        let go = Arc::new(tokio::sync::Notify::new());
        let gw = gateway(dialect, stalling(first, rest, go.clone()));
        let req = Request::post("/v1/chat/completions")
            .header("content-type", "application/json")
            .header("authorization", "Bearer key")
            .body(Body::from(stream_request(None).to_string()))
            .unwrap();
        let mut seen = String::new();
        let read = async {
            let resp = switchyard_gateway::app(gw.clone())
                .oneshot(req)
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let mut body = resp.into_body();
            while !seen.contains(r#""content":"Hi""#) {
                let frame = body.frame().await.unwrap().unwrap();
                seen.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
            }
            body
        };
        let bound = std::time::Duration::from_secs(1);
        let Ok(body) = tokio::time::timeout(bound, read).await else {
            panic!("{dialect}: the first content waited for the upstream's next read: {seen:?}");
        };
        // The stall ends: the rest follows, and the stream ends as usual.
        go.notify_one();
        let rest = body.collect().await.unwrap().to_bytes();
        let whole = seen + std::str::from_utf8(&rest).unwrap();
        assert!(whole.ends_with("data: [DONE]\n\n"), "{dialect}: {whole}");
    }
}
