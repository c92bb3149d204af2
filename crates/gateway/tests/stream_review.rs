//! Review of the stream pass-through (reviewer RS): what an OpenAI client receives when an
//! OpenAI target's forwarded stream breaks after chunks the gateway cannot take back, and
//! when chunks carry usage beside their choices. Upstreams are stubs answering exact bytes
//! (a body that errors after its chunks is a cut), the fallback the Anthropic fake with
//! prefill.
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use support::stubs::{gateway, post, stub};
use switchyard_gateway::{Gateway, sha256_hex};
use switchyard_live::{InProcess, Transport};

fn chunk(delta: &Value, finish: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-up1", "object": "chat.completion.chunk", "created": 1_700_000_007,
        "model": "gpt-up", "system_fingerprint": "fp_up",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        "usage": null,
    })
    .to_string()
}

/// An OpenAI upstream whose stream sends `chunks` and then breaks (the body errors: no
/// `[DONE]`, no clean end).
fn cut_after(chunks: Vec<String>) -> axum::Router {
    let frames = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    in_reads(frames, true)
}

/// An upstream whose stream body is `reads`, each its own frame, then an error when `cut`.
fn in_reads(reads: Vec<String>, cut: bool) -> axum::Router {
    axum::Router::new().fallback(move || {
        let reads = reads.clone();
        async move {
            let mut frames: Vec<Result<Bytes, std::io::Error>> =
                reads.into_iter().map(|r| Ok(Bytes::from(r))).collect();
            if cut {
                frames.push(Err(std::io::Error::other("connection reset")));
            }
            (
                [("content-type", "text/event-stream")],
                Body::from_stream(futures_util::stream::iter(frames)),
            )
                .into_response()
        }
    })
}

/// Route `chat` (`resume: prefill`): `primary` (OpenAI) first, then the Anthropic fake,
/// which continues a prefill.
fn resuming(primary: axum::Router) -> Arc<Gateway> {
    let text = support::resuming::config("a.stub", "", "");
    let anthropic = support::fake_of("b", "anthropic", 5);
    support::resuming::gateway(&text, vec![("a.stub", primary), ("b.fake", anthropic)])
}

fn stream_request(include_usage: bool) -> Value {
    json!({
        "model": "chat", "stream": true, "max_tokens": 200,
        "stream_options": {"include_usage": include_usage},
        "messages": [{"role": "user", "content": "Say hello"}],
    })
}

/// The target's finish chunk was forwarded, then its connection broke before `[DONE]`: the
/// client has been told the answer is complete (`finish_reason: "stop"`), so a continuation
/// cannot coherently add to it. Today the gateway continues on the fallback anyway: the client
/// receives text after the finish chunk and a second finish chunk. Before the pass-through,
/// the gateway wrote the finish chunk itself, only at the end, so this could not happen.
#[tokio::test(start_paused = true)]
async fn after_a_forwarded_finish_a_break_does_not_add_a_continuation() {
    let gw = resuming(cut_after(vec![
        chunk(&json!({"role": "assistant", "content": ""}), None),
        chunk(&json!({"content": "Hello there."}), None),
        chunk(&json!({}), Some("stop")),
    ]));
    let r = post(&gw, "key", &[], stream_request(false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.events();
    let finishes = events
        .iter()
        .filter(|e| e["choices"][0]["finish_reason"].is_string())
        .count();
    assert_eq!(finishes, 1, "one finish chunk: {}", r.body);
    let last_finish = events
        .iter()
        .rposition(|e| e["choices"][0]["finish_reason"].is_string())
        .unwrap();
    let text_after = events[last_finish..]
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .any(|t| !t.is_empty());
    assert!(!text_after, "no text after the finish: {}", r.body);
}

/// The same with an error event after the finish chunk instead of a cut: the answer is
/// complete, nothing is continued, and the client gets one finish and `[DONE]`.
#[tokio::test(start_paused = true)]
async fn after_a_forwarded_finish_an_error_event_does_not_add_a_continuation() {
    let error = json!({"error": {"message": "late", "type": "server_error"}}).to_string();
    let gw = resuming(in_reads(
        [
            chunk(&json!({"role": "assistant", "content": ""}), None),
            chunk(&json!({"content": "Hello there."}), None),
            chunk(&json!({}), Some("stop")),
            error,
        ]
        .iter()
        .map(|c| format!("data: {c}\n\n"))
        .collect(),
        false,
    ));
    let r = post(&gw, "key", &[], stream_request(false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let finishes = r
        .events()
        .iter()
        .filter(|e| e["choices"][0]["finish_reason"].is_string())
        .count();
    assert_eq!(finishes, 1, "one finish chunk: {}", r.body);
    assert!(r.body.ends_with("data: [DONE]\n\n"), "{}", r.body);
}

/// With `include_usage`, the target's usage chunk was forwarded, then the connection broke
/// before `[DONE]`: the continuation's end writes a second usage chunk (the stream is no
/// longer forwarded, so `usage_sent` is not consulted), and the client counts usage twice.
#[tokio::test(start_paused = true)]
async fn a_client_gets_one_usage_chunk_even_after_a_continuation() {
    let mut usage = serde_json::from_str::<Value>(&chunk(&json!({}), None)).unwrap();
    usage["choices"] = json!([]);
    usage["usage"] = json!({"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12});
    let gw = resuming(cut_after(vec![
        chunk(&json!({"role": "assistant", "content": ""}), None),
        chunk(&json!({"content": "Hello there."}), None),
        chunk(&json!({}), Some("stop")),
        usage.to_string(),
    ]));
    let r = post(&gw, "key", &[], stream_request(true)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let usages = r
        .events()
        .iter()
        .filter(|e| e["choices"] == json!([]) && e["usage"].is_object())
        .count();
    assert_eq!(usages, 1, "{}", r.body);
}

/// A chunk that carries usage beside its choices (as some OpenAI-compatible servers send the
/// last one): not asked, the usage is cut and the text kept; asked, it is forwarded as it came
/// and the gateway adds no usage chunk of its own.
#[tokio::test]
async fn usage_beside_choices_is_cut_or_kept_and_never_doubled() {
    let mut last =
        serde_json::from_str::<Value>(&chunk(&json!({"content": "!"}), Some("stop"))).unwrap();
    last["usage"] = json!({"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11});
    let body = format!(
        "data: {}\n\ndata: {}\n\ndata: {last}\n\ndata: [DONE]\n\n",
        chunk(&json!({"role": "assistant", "content": ""}), None),
        chunk(&json!({"content": "Hi"}), None),
    );
    let gw = gateway("openai", stub(200, "text/event-stream", body));
    let asked = post(&gw, "key", &[], stream_request(true)).await;
    let events = asked.events();
    assert_eq!(events.len(), 4, "{}", asked.body);
    assert_eq!(events[2], last, "{}", asked.body);
    let not = post(&gw, "key", &[], stream_request(false)).await;
    assert!(!not.body.contains("usage"), "{}", not.body);
    let texts: String = not
        .events()
        .iter()
        .filter_map(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(texts, "Hi!", "{}", not.body);
    let t = gw.router().telemetry();
    assert_eq!(t.targets[0].completion_tokens, 4, "both streams booked");
}

/// A target whose first chunk names the stream's id but has no choices and no usage (a
/// proxy's opening chunk; OpenAI's `usage: null` with `include_usage`): the decoder gives the
/// stream's head on that chunk, which the gateway drops as empty before reading the head, so
/// a continuation after a break writes the gateway's own id, not the one the client saw.
#[tokio::test(start_paused = true)]
async fn a_continuation_keeps_the_id_even_when_the_first_chunk_was_empty() {
    let mut opening = serde_json::from_str::<Value>(&chunk(&json!({}), None)).unwrap();
    opening["choices"] = json!([]);
    let gw = resuming(cut_after(vec![
        opening.to_string(),
        chunk(&json!({"role": "assistant", "content": ""}), None),
        chunk(&json!({"content": "Hello"}), None),
    ]));
    let r = post(&gw, "key", &[], stream_request(false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.events();
    assert!(events.len() > 3, "{}", r.body);
    for e in events.iter().filter(|e| e.is_object()) {
        assert_eq!(e["id"], "chatcmpl-up1", "{}", r.body);
    }
}

/// An `error` event mid-stream after forwarded chunks: the client gets the chunks, then one
/// in-band error with the upstream's words, never a finish or `[DONE]`. A stream that ends
/// cleanly after its finish without `[DONE]` gets the gateway's `[DONE]`. Comment lines and
/// an `event: message` field are not forwarded (only the data is).
#[tokio::test]
async fn mid_stream_error_and_missing_done_end_as_documented() {
    let role = chunk(&json!({"role": "assistant", "content": ""}), None);
    let text = chunk(&json!({"content": "Hi"}), None);
    let broken = vec![
        format!(": keep-alive\n\ndata: {role}\n\nevent: message\ndata: {text}\n\n"),
        r#"data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}"#.to_owned() + "\n\n",
    ];
    let gw = gateway("openai", in_reads(broken, false));
    let r = post(&gw, "key", &[], stream_request(false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let frames: Vec<&str> = r.body.trim_end().split("\n\n").collect();
    assert_eq!(frames.len(), 3, "{}", r.body);
    // As they came, but for the `usage` entry the client did not ask for.
    let cut = |c: &str| format!("data: {}", c.replace(r#","usage":null"#, ""));
    assert_eq!(frames[0], cut(&role));
    assert_eq!(frames[1], cut(&text));
    let error: Value = serde_json::from_str(frames[2].strip_prefix("data: ").unwrap()).unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("The server had an error"),
        "{error}"
    );

    let no_done = format!(
        "data: {role}\n\ndata: {text}\n\ndata: {}\n\n",
        chunk(&json!({}), Some("stop"))
    );
    let gw = gateway("openai", stub(200, "text/event-stream", no_done));
    let r = post(&gw, "key", &[], stream_request(false)).await;
    let events = r.events();
    assert_eq!(events.len(), 4, "{}", r.body);
    assert_eq!(events[3], "[DONE]", "{}", r.body);
}

/// One target, `ta`, an OpenAI stub that sends the reply's first chunks, then stays silent
/// 3 s before the rest, under a 1 s first-token timeout.
fn slow_refusal() -> Arc<Gateway> {
    let refusal = |words: &str| chunk(&json!({"content": null, "refusal": words}), None);
    let usage = r#"{"id":"chatcmpl-up1","object":"chat.completion.chunk","created":1700000007,"model":"gpt-up","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":6,"total_tokens":15}}"#;
    let reads = vec![
        (
            0,
            chunk(&json!({"role": "assistant", "content": null}), None),
        ),
        (0, refusal("I can't")),
        (3, refusal(" help with that.")),
        (0, chunk(&json!({}), Some("stop"))),
        (0, usage.to_owned()),
        (0, "[DONE]".to_owned()),
    ];
    let upstream = axum::Router::new().fallback(move || {
        let reads = reads.clone();
        async move {
            use futures_util::StreamExt;
            let frames = futures_util::stream::iter(reads).then(|(wait, data)| async move {
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                Ok::<_, std::io::Error>(Bytes::from(format!("data: {data}\n\n")))
            });
            (
                [("content-type", "text/event-stream")],
                Body::from_stream(frames),
            )
                .into_response()
        }
    });
    let text = format!(
        "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.stub' }}\n\
         router:\n  targets:\n    - {{ name: ta, provider: a, model: m }}\n  \
         routes:\n    - {{ name: chat, policy: static, targets: [ta] }}\n  \
         plan: {{ max_attempts: 1, first_token_timeout: 1s }}\n\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n",
        sha256_hex("key")
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let transport = Transport::new(InProcess::new().with("a.stub", upstream));
    Gateway::new(&params, None, transport).unwrap()
}

/// Reviewer RS: a refusal (`delta.refusal`, `content` null) is the reply's text, so its first
/// chunk is the first token: the stream is not held to its end (which, longer than the
/// first-token timeout, failed it), TTFT is booked at that chunk, and the client gets it as
/// it comes; forwarded to an OpenAI client, rendered as text to an Anthropic one.
#[tokio::test(start_paused = true)]
async fn a_refusal_stream_is_streamed_from_its_first_chunk() {
    let gw = slow_refusal();
    let r = post(&gw, "key", &[], stream_request(false)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let refused: String = r
        .events()
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["refusal"].as_str())
        .collect();
    assert_eq!(refused, "I can't help with that.", "{}", r.body);
    let t = gw.router().telemetry();
    let first = t.targets[0].first_token.max();
    assert!(
        first < switchyard_core::time::Duration::from_millis(1000),
        "{first:?}"
    );

    let gw = slow_refusal();
    let body = json!({
        "model": "chat", "max_tokens": 100, "stream": true,
        "messages": [{"role": "user", "content": "Say hello"}],
    });
    let (status, body) =
        support::call(&gw, "POST", "/v1/messages", Some("key"), body.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let text: String = support::anthropic_events(&body)
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "I can't help with that.", "{body}");
}
