//! Streams that survive their provider, through the gateway: route `chat` (`resume: prefill`)
//! streams from an OpenAI-dialect fake that cuts after 40 of its 60 tokens, and continues on
//! an Anthropic-dialect fake declared `prefill`. Both endpoints give one whole answer; when
//! the fallback refuses prefill, both end with an in-band error naming the cut
//! (`stream_interrupted`), never a clean end, and never the refusal.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use switchyard_gateway::Gateway;
use tower::ServiceExt;

mod support;

use support::{control, resuming};

struct Rig {
    gw: Arc<Gateway>,
    anthropic: axum::Router,
}

/// `prefill`: whether the Anthropic fake continues a prefill (its `/_fake/options`).
async fn rig(prefill: bool) -> Rig {
    let text = resuming::config("a.fake", resuming::PRICED, "");
    let (openai, anthropic) = resuming::fakes(prefill).await;
    Rig {
        gw: resuming::gateway(
            &text,
            vec![("a.fake", openai), ("b.fake", anthropic.clone())],
        ),
        anthropic,
    }
}

async fn post(gw: &Arc<Gateway>, path: &str, body: Value) -> (u16, String) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .header("authorization", "Bearer key")
        .header("anthropic-version", "2023-06-01")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, body) = support::send(gw, req).await;
    (status, body)
}

fn openai_stream() -> Value {
    json!({"model": "chat", "stream": true, "max_tokens": 200,
           "messages": [{"role": "user", "content": "Say hello"}]})
}

fn anthropic_stream() -> Value {
    json!({"model": "chat", "stream": true, "max_tokens": 200,
           "messages": [{"role": "user", "content": "Say hello"}]})
}

/// The `data:` payloads of an OpenAI SSE body, in order.
fn data(body: &str) -> Vec<String> {
    assert!(body.ends_with("\n\n"), "{body:?}");
    body.trim_end_matches("\n\n")
        .split("\n\n")
        .map(|frame| frame.strip_prefix("data: ").unwrap().to_owned())
        .collect()
}

/// The last message the Anthropic fake was sent, as text.
async fn prefill_sent(rig: &Rig) -> (Value, String) {
    let journal = control(&rig.anthropic, "GET", "/_fake/journal", "").await;
    let last = journal["entries"][0]["body"]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let text = match &last["content"] {
        Value::String(s) => s.clone(),
        blocks => blocks
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["text"].as_str().unwrap_or_default())
            .collect(),
    };
    (last["role"].clone(), text)
}

#[tokio::test(start_paused = true)]
async fn openai_endpoint_a_cut_stream_continues_into_one_answer() {
    let rig = rig(true).await;
    let (status, body) = post(&rig.gw, "/v1/chat/completions", openai_stream()).await;
    assert_eq!(status, 200, "{body}");
    let frames = data(&body);
    assert_eq!(frames.last().unwrap(), "[DONE]", "{body}");
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c.get("error").is_none()), "{body}");
    let pieces: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .filter(|t| !t.is_empty())
        .collect();
    let text = pieces.concat();
    assert_eq!(text.split_whitespace().count(), 60, "{text}");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop",
        "{body}"
    );
    let (role, sent) = prefill_sent(&rig).await;
    assert_eq!(role, "assistant");
    assert_eq!(sent, pieces[..40].concat().trim_end());
    // The OpenAI target's own chunks (its id: 24 hex digits, the gateway's 16), then the
    // continuation written by the gateway under the same id, time and model, with no second
    // role chunk; no usage anywhere (the client did not ask).
    let head = |c: &Value| (c["id"].clone(), c["created"].clone(), c["model"].clone());
    assert_eq!(
        chunks[0]["id"].as_str().unwrap().len(),
        "chatcmpl-".len() + 24
    );
    assert!(chunks.iter().all(|c| head(c) == head(&chunks[0])), "{body}");
    let roles = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["role"].is_string())
        .count();
    assert_eq!(roles, 1, "{body}");
    assert!(!body.contains("usage"), "{body}");
}

/// A continuation goes only where the request can go: `logprobs`, which an Anthropic target
/// cannot give, keeps the cut stream from being continued there (in-band error, nothing sent
/// to the Anthropic fake), as it keeps failover from it.
#[tokio::test(start_paused = true)]
async fn a_request_a_prefill_target_cannot_express_is_not_continued_there() {
    let rig = rig(true).await;
    let mut request = openai_stream();
    request["logprobs"] = json!(true);
    let (status, body) = post(&rig.gw, "/v1/chat/completions", request).await;
    assert_eq!(status, 200, "{body}");
    let last = data(&body).pop().unwrap();
    let error: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(error["error"]["code"], "stream_interrupted", "{body}");
    let journal = control(&rig.anthropic, "GET", "/_fake/journal", "").await;
    assert_eq!(
        journal["entries"].as_array().map(Vec::len),
        Some(0),
        "{journal}"
    );
}

#[tokio::test(start_paused = true)]
async fn openai_endpoint_without_a_continuation_ends_with_an_in_band_error() {
    let rig = rig(false).await;
    let (status, body) = post(&rig.gw, "/v1/chat/completions", openai_stream()).await;
    assert_eq!(status, 200, "the stream had begun: {body}");
    let frames = data(&body);
    assert!(
        !frames.iter().any(|f| f == "[DONE]"),
        "never a clean end: {body}"
    );
    let last: Value = serde_json::from_str(frames.last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "server_error", "{last}");
    assert_eq!(last["error"]["code"], "stream_interrupted", "{last}");
    let message = last["error"]["message"].as_str().unwrap();
    // What happened, not "an error" the provider never sent: 40 words, about 50 tokens.
    assert!(
        message.starts_with("The provider's stream broke off after about ")
            && message.ends_with(" tokens, before it ended (stream_interrupted)."),
        "{message}"
    );
    assert!(!message.contains("prefill"), "not the refusal: {message}");
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null()),
        "no finish chunk: {body}"
    );
    let words: usize = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .map(|t| t.split_whitespace().count())
        .sum();
    assert_eq!(words, 40, "the delivered text, then the error");
}

#[tokio::test(start_paused = true)]
async fn anthropic_endpoint_a_cut_stream_continues_or_ends_with_the_cut() {
    let continuing = rig(true).await;
    let (status, body) = post(&continuing.gw, "/v1/messages", anthropic_stream()).await;
    assert_eq!(status, 200, "{body}");
    let frames = support::anthropic_events(&body);
    let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    assert!(!names.contains(&"error"), "{names:?}");
    let text: String = frames
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text.split_whitespace().count(), 60, "{text}");

    let refusing = rig(false).await;
    let (status, body) = post(&refusing.gw, "/v1/messages", anthropic_stream()).await;
    assert_eq!(status, 200, "{body}");
    let frames = support::anthropic_events(&body);
    let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"error"), "{names:?}");
    assert!(!names.contains(&"message_stop"), "{names:?}");
    let error = &frames.last().unwrap().1;
    assert_eq!(error["error"]["type"], "api_error", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("The provider's stream broke off after about "),
        "{message}"
    );
    assert!(message.contains("stream_interrupted"), "{message}");
    assert!(!message.contains("prefill"), "not the refusal: {message}");
}

#[tokio::test(start_paused = true)]
async fn a_continued_streams_access_line_tells_the_cut_and_the_continuation() {
    for (path, body) in [
        ("/v1/chat/completions", openai_stream()),
        ("/v1/messages", anthropic_stream()),
    ] {
        let logs = support::Captured::start();
        let rig = rig(true).await;
        let (status, body) = post(&rig.gw, path, body).await;
        assert_eq!(status, 200, "{body}");
        drop(rig);
        let lines = logs.access();
        assert_eq!(lines.len(), 1, "{path}: {lines:?}");
        assert_eq!(
            lines[0]["attempts"], "ta:stream_interrupted,tb:success",
            "{path}: {}",
            lines[0]
        );
        assert_eq!(lines[0]["served_by"], "tb");
        assert_eq!(lines[0]["result"], "ok");
        // The whole request's cost: tb is free, the cut attempt on ta is not (its prompt and
        // the 40 tokens it delivered, at $100 per million).
        let cost = lines[0]["cost_usd"].as_f64().unwrap();
        assert!(cost >= 40.0 * 100.0 / 1e6, "{path}: {}", lines[0]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_requests_access_line_costs_what_its_attempts_spent() {
    let logs = support::Captured::start();
    let rig = rig(false).await;
    let (status, body) = post(&rig.gw, "/v1/chat/completions", openai_stream()).await;
    assert_eq!(status, 200, "{body}");
    let t = rig.gw.router().telemetry();
    drop(rig);
    let lines = logs.access();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["result"], "stream_interrupted", "{}", lines[0]);
    let cost = lines[0]["cost_usd"].as_f64().unwrap();
    assert!(cost >= 40.0 * 100.0 / 1e6, "{}", lines[0]);
    // Its tokens are the ones that cost prices (ta's, at $100 per million both ways), as the
    // books have them for its attempts.
    let tokens = |field: &str| lines[0][field].as_u64().unwrap();
    let (prompt, completion) = (tokens("prompt_tokens"), tokens("completion_tokens"));
    assert!(prompt > 0 && completion >= 40, "{}", lines[0]);
    let priced = (prompt + completion) as f64 * 100.0 / 1e6;
    assert!(
        (cost - priced).abs() < 1e-9,
        "{cost} vs {priced}: {}",
        lines[0]
    );
    let booked = |f: fn(&switchyard_core::telemetry::TargetStats) -> u64| -> u64 {
        t.targets.iter().map(f).sum()
    };
    assert_eq!(
        (prompt, completion),
        (booked(|s| s.prompt_tokens), booked(|s| s.completion_tokens)),
        "{}",
        lines[0]
    );
}

/// A request that named its target (`model: ta`) is never continued elsewhere: its cut is
/// counted `failed` in `switchyard_stream_resumes_total` of the target's route, like any
/// break that could not be continued (docs/GATEWAY.md, "Logs").
#[tokio::test(start_paused = true)]
async fn a_cut_stream_that_named_its_target_counts_as_a_failed_resume() {
    let rig = rig(true).await;
    let mut request = openai_stream();
    request["model"] = json!("ta");
    let (status, body) = post(&rig.gw, "/v1/chat/completions", request).await;
    assert_eq!(status, 200, "{body}");
    let last: Value = serde_json::from_str(&data(&body).pop().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted", "{body}");
    let journal = control(&rig.anthropic, "GET", "/_fake/journal", "").await;
    assert_eq!(journal["entries"].as_array().map(Vec::len), Some(0));
    let metrics = rig
        .gw
        .router()
        .inspect(switchyard_core::router::prometheus::render);
    for (result, n) in [("failed", 1), ("resumed", 0)] {
        let series =
            format!("switchyard_stream_resumes_total{{route=\"chat\",result=\"{result}\"}} {n}");
        assert!(metrics.contains(&series), "{series} in\n{metrics}");
    }
}

/// Reviewer RV: a client that leaves a stream mid-way (status 499, `client_closed`) after a
/// few tokens. The upstream billed its prompt and the tokens it delivered, and a stream that
/// *broke* there is booked so (`a_failed_requests_access_line_costs_what_its_attempts_spent`),
/// but the abandoned attempt is recorded `cancelled` with no tokens (`Router::cancel` reports
/// none): the books and the access line both say 0 tokens and $0 for ta (priced $100 per
/// million both ways), and the fleet's token budget is not charged either. Expected: the
/// books charge the prompt and the delivered tokens, and the line has the books' figures.
#[tokio::test(start_paused = true)]
async fn rv_a_client_closed_streams_access_line_has_the_books_tokens_and_cost() {
    let logs = support::Captured::start();
    let rig = rig(false).await;
    let req = Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", "Bearer key")
        .body(Body::from(openai_stream().to_string()))
        .unwrap();
    let resp = switchyard_gateway::app(rig.gw.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut seen = String::new();
    // A few tokens reach the client, then it leaves.
    while seen.matches("\"content\":").count() < 5 {
        let frame = body.frame().await.unwrap().unwrap();
        seen.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
    }
    drop(body);
    let t = rig.gw.router().telemetry();
    drop(rig);
    let lines = logs.access();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["result"], "client_closed", "{}", lines[0]);
    let booked = |f: fn(&switchyard_core::telemetry::TargetStats) -> u64| -> u64 {
        t.targets.iter().map(f).sum()
    };
    let (prompt, completion) = (booked(|s| s.prompt_tokens), booked(|s| s.completion_tokens));
    let books_cost: f64 = t
        .targets
        .iter()
        .map(|s| s.cost_success + s.cost_failed)
        .sum();
    assert!(
        prompt > 0 && completion > 0,
        "the books: {prompt} {completion}; the line: {}",
        lines[0]
    );
    let tokens = |field: &str| lines[0][field].as_u64().unwrap();
    assert_eq!(
        (tokens("prompt_tokens"), tokens("completion_tokens")),
        (prompt, completion),
        "{}",
        lines[0]
    );
    let cost = lines[0]["cost_usd"].as_f64().unwrap();
    assert!(
        (cost - books_cost).abs() < 1e-9,
        "{cost} vs the books' {books_cost}: {}",
        lines[0]
    );
}
