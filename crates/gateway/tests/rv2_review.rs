//! Reviewer RV2's findings on helper F4's change (issue 13: an abandoned stream is booked).
//! Each test is `#[ignore]`d with the bug it shows; run with `--ignored`.

use std::sync::Arc;

use serde_json::{Value, json};
use switchyard_gateway::Gateway;

mod support;

use support::*;

/// A stream of one tool call (OpenAI's forwarded chunks, the call's arguments in pieces) that
/// the client leaves after a few argument pieces: the provider generated and bills those
/// argument tokens, but the booking estimates completion tokens from text deltas only
/// (`StreamDecoder::chars` counts `text`, never arguments), so the abandoned attempt is
/// booked with 0 completion tokens and priced as if nothing was generated.
#[tokio::test(start_paused = true)]
async fn an_abandoned_tool_call_stream_books_the_argument_tokens_generated() {
    let logs = Captured::start();
    let ta = TA.replace("model: m,", "model: m, capabilities: [streaming, tools],");
    let text = config(&ta, CHAT_TA, "");
    let gw = with_fake(&text, fake_of("a", "openai", 400));
    let body = json!({
        "model": "chat", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "write it"}],
        "tools": [{"type": "function", "function": {"name": "write", "parameters": {
            "type": "object", "required": ["text"],
            "properties": {"text": {"type": "string", "minLength": 2000}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "write"}},
    });
    let frames = read_then_leave(&gw, CHAT_PATH, CLIENT_KEY, body.to_string(), 8).await;
    let arguments: usize = frames
        .iter()
        .filter_map(|f| serde_json::from_str::<Value>(f.trim().strip_prefix("data: ")?).ok())
        .filter_map(|c| {
            let a = c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].clone();
            a.as_str().map(|s| s.chars().count())
        })
        .sum();
    assert!(
        arguments >= 8,
        "the client read argument pieces: {frames:?}"
    );
    let lines = logs.access();
    assert_eq!(lines.len(), 1, "{}", logs.text());
    let line = &lines[0];
    assert_eq!(line["result"], "client_closed", "{line}");
    assert_eq!(line["attempts"], "ta:cancelled", "{line}");
    // At least the argument characters the client itself received, at four a token.
    let completion = line["completion_tokens"].as_u64().unwrap();
    assert!(
        completion >= (arguments / 4) as u64,
        "{arguments} argument characters read, {completion} completion tokens booked: {line}"
    );
}

/// Route `chat` (`resume: prefill`): `ta` (OpenAI) cuts its 60-token stream after 40; `tb`
/// (Anthropic, `prefill`) continues it with 20 tokens. Both priced.
async fn resuming() -> Arc<Gateway> {
    let text = resuming::config("a.fake", resuming::PRICED, resuming::PRICED);
    let (openai, anthropic) = resuming::fakes(true).await;
    resuming::gateway(&text, vec![("a.fake", openai), ("b.fake", anthropic)])
}

/// A stream cut on `ta` and continued on `tb`, left by its client while `tb` streams: the
/// access line is the one written when the stream started (`ta:streaming` turned into
/// `ta:cancelled`, served by `ta`), while its tokens (the `StreamBooking`) are the whole
/// plan's, `ta`'s delivered ones and `tb`'s. The line says `ta` was cancelled, which it was
/// not (it broke, `stream_interrupted`), names no `tb`, and books tokens to a target list that
/// does not add up to them. /admin and `/metrics` say `ta` broke and `tb` was cancelled.
#[tokio::test(start_paused = true)]
async fn an_abandoned_continued_stream_logs_the_attempts_it_was_booked_with() {
    let logs = Captured::start();
    let stream = json!({"model": "chat", "stream": true, "max_tokens": 200,
                        "messages": [{"role": "user", "content": "Say hello"}]});
    // The whole stream, once: how many frames it has (the last three: finish, usage, done).
    let whole = read_then_leave(
        &resuming().await,
        CHAT_PATH,
        "key",
        stream.to_string(),
        usize::MAX,
    )
    .await
    .len();
    let before = logs.access().len();
    let frames = read_then_leave(
        &resuming().await,
        CHAT_PATH,
        "key",
        stream.to_string(),
        whole - 5,
    )
    .await;
    let lines = logs.access();
    assert_eq!(lines.len(), before + 1, "{}", logs.text());
    let line = &lines[before];
    assert_eq!(line["result"], "client_closed", "{line}");
    assert!(
        line["attempts"] == "ta:stream_interrupted,tb:cancelled" && line["served_by"] == "tb",
        "left after {} of {whole} frames (the last read: {:?}): {line}",
        frames.len(),
        frames.last()
    );
}

/// Route `chat` (`tb` alone, its breaker open 1 h once it fails) falls back to route `spare`
/// (`tc` alone, open 3 s). Both fail once (nothing answers either): the next request finds no
/// target in either route, and `tc` can be tried again in 3 s. `Retry-After` counts the
/// members of every route the request went through (`Router::retry_wait`), the fallback's
/// included, so it says 3, not 20 (`tb`'s hour, capped) (docs/GATEWAY.md, "Headers").
#[tokio::test(start_paused = true)]
async fn no_target_available_retry_after_counts_the_fallback_route() {
    let tc = "    - { name: tc, provider: b, model: m, breaker: { consecutive_failures: 1, open_for: 3s, open_max: 3s } }\n";
    let gw = rig(&config(
        &format!("{TB}{tc}"),
        "    - { name: chat, policy: static, targets: [tb], fallback: spare }\n    - { name: spare, policy: static, targets: [tc] }\n",
        "",
    ))
    .gw;
    let (status, _, body) = send_chat_with_headers(&gw, false).await;
    assert_eq!(status, 502, "{body}");
    let (status, headers, body) = send_chat_with_headers(&gw, false).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no_target_available"), "{body}");
    assert_eq!(headers["retry-after"], "3", "{body}");
}

/// The Anthropic endpoint (`/v1/messages`) books an abandoned stream as the OpenAI one does
/// (its body attaches the same `StreamBooking`): F4's tests cover `/v1/chat/completions` only.
#[tokio::test(start_paused = true)]
async fn a_messages_stream_the_client_leaves_is_booked_with_the_tokens_generated() {
    let logs = Captured::start();
    let text = config(TA, CHAT_TA, "");
    let gw = with_fake(&text, fake_of("a", "openai", 400));
    let body = json!({"model": "chat", "stream": true, "max_tokens": 1000,
                      "messages": [{"role": "user", "content": "say something"}]});
    let frames = read_then_leave(&gw, "/v1/messages", CLIENT_KEY, body.to_string(), 8).await;
    assert!(
        frames.iter().any(|f| f.contains("text_delta")),
        "text was read: {frames:?}"
    );
    let lines = logs.access();
    assert_eq!(lines.len(), 1, "{}", logs.text());
    let line = &lines[0];
    assert_eq!(line["result"], "client_closed", "{line}");
    assert_eq!(line["attempts"], "ta:cancelled", "{line}");
    let prompt = line["prompt_tokens"].as_u64().unwrap();
    let completion = line["completion_tokens"].as_u64().unwrap();
    assert!(prompt > 0 && completion > 0 && completion < 400, "{line}");
    let cost = (prompt as f64 * 2.0 + completion as f64 * 10.0) / 1e6;
    let logged = line["cost_usd"].as_f64().unwrap();
    assert!((logged - cost).abs() < 1e-12, "{line}: {cost}");
}

/// docs/GATEWAY.md ("Headers"): `Retry-After` on a 503 `no_target_available` is 1 s when no
/// target says when it comes back, a drained one for instance (untested by F4).
#[tokio::test(start_paused = true)]
async fn no_target_available_with_only_a_drained_target_says_one_second() {
    let gw = rig(&config(TA, CHAT_TA, "")).gw;
    let (status, _) = overrides(&gw, r#"{"action":"drain","target":"ta"}"#).await;
    assert_eq!(status, 200);
    let (status, headers, body) = send_chat_with_headers(&gw, false).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no_target_available"), "{body}");
    assert_eq!(headers["retry-after"], "1", "{body}");
}

/// A stream whose usage chunk reached the client, left before `[DONE]`: the provider
/// reported its completion tokens, and the client holds that number, but the booking takes
/// the larger of the reported count and the four-characters-a-token estimate
/// (`StreamDecoder::completion_so_far`), so it books more than the provider billed whenever
/// the text runs longer than four characters a token (the fake's words average six with
/// their space: about 1.5 times as many).
#[tokio::test(start_paused = true)]
async fn a_stream_left_after_its_usage_chunk_books_the_reported_tokens() {
    let logs = Captured::start();
    let gateway = || {
        let text = config(TA, CHAT_TA, "");
        with_fake(&text, fake_of("a", "openai", 100))
    };
    // The whole stream once: where its usage chunk is.
    let whole = read_then_leave(&gateway(), CHAT_PATH, CLIENT_KEY, chat(true), usize::MAX).await;
    let at = whole
        .iter()
        .position(|f| f.contains("\"usage\":{"))
        .unwrap_or_else(|| panic!("no usage chunk: {whole:?}"));
    let usage: Value =
        serde_json::from_str(whole[at].trim().strip_prefix("data: ").unwrap()).unwrap();
    let reported = usage["usage"]["completion_tokens"].as_u64().unwrap();
    let before = logs.access().len();
    let read = read_then_leave(&gateway(), CHAT_PATH, CLIENT_KEY, chat(true), at + 1).await;
    assert!(read[at].contains("\"usage\":{"), "{read:?}");
    let lines = logs.access();
    assert_eq!(lines.len(), before + 1, "{}", logs.text());
    let line = &lines[before];
    // After the finish chunk the answer was whole: served, not abandoned
    // (`a_client_that_leaves_after_the_finish_chunk_is_served`, `bookkeeping.rs`).
    assert_eq!(line["result"], "ok", "{line}");
    assert_eq!(
        line["completion_tokens"], reported,
        "the usage chunk said {reported}: {line}"
    );
}
