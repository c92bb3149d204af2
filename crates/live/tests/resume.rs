//! Streams that survive their provider (a route's `resume: prefill`), in the live driver over
//! in-process fakes: an OpenAI-dialect primary cuts its stream after 40 of its 60 tokens; an
//! Anthropic-dialect fallback declared `prefill` continues it from the text the caller
//! received, or refuses the prefill (its `prefill: false` option), and then the caller gets
//! the cut, never the refusal. Dropping the stream while a continuation connects or streams
//! abandons the request exactly once.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::time::Duration as StdDuration;

use common::{Rig, rig_full};
use switchyard_core::dialect::estimate_tokens;
use switchyard_core::id::TargetId;
use switchyard_core::outcome::{ErrorKind, FailureReason};
use switchyard_core::request::{FinishReason, Request};
use switchyard_core::telemetry::failure_index;
use switchyard_live::{ChatStream, RouteError, StreamEvent};

const PLAN: &str = "  max_attempts: 3\n  attempt_timeout: 10s\n  deadline: 30s\n";
const ROUTES: &str = "  - { name: r, policy: priority, tiers: [[t-a], [t-b]], resume: prefill }\n";

fn profile(name: &str, dialect: &str, tokens: u32) -> switchyard_fake::ProfileParams {
    let text = format!(
        "name: {name}\ndialect: {dialect}\nmodels:\n  - {{ name: m-{name}, context_window: 100000 }}\n\
         latency:\n  first_token: {{ fixed: 100ms }}\n  tokens_per_second: {{ fixed: 100 }}\n\
         output_tokens: {{ fixed: {tokens} }}\nkeys: [dev-key]\n"
    );
    switchyard_fake::load_profile(&text, "resume.yaml").unwrap()
}

/// `a`: OpenAI, 60-token answers, its streams cut after 40; `b`: Anthropic, 20-token
/// answers, a `prefill` member of route `r`.
async fn resume_rig() -> Rig {
    let providers = [("a", "openai"), ("b", "anthropic")];
    let servers = vec![
        switchyard_fake::server::router(profile("a", "openai", 60), 1),
        switchyard_fake::server::router(profile("b", "anthropic", 20), 2),
    ];
    let rig = rig_full(
        &providers,
        servers,
        ROUTES,
        PLAN,
        Default::default(),
        &[("b", "[streaming, prefill]")],
    );
    rig.inject("a", r#"{"kind":"stream_cut","after_tokens":40}"#)
        .await;
    rig
}

fn stream_request() -> Request {
    Request {
        stream: true,
        max_tokens: Some(200),
        ..common::request("r")
    }
}

/// The deltas in order, and how the stream ended.
async fn read_all(
    stream: &mut ChatStream,
) -> (Vec<String>, Option<Result<StreamEvent, RouteError>>) {
    let mut deltas = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Delta(t)) => deltas.push(t),
            other => return (deltas, Some(other)),
        }
    }
    (deltas, None)
}

/// The text of the last message of the newest request `provider` received.
async fn last_message(rig: &Rig, provider: &str) -> (serde_json::Value, String) {
    let journal = rig.journal(provider).await;
    let body = journal["entries"][0]["body"].clone();
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    let text = match &last["content"] {
        serde_json::Value::String(s) => s.clone(),
        blocks => blocks
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["text"].as_str().unwrap_or_default())
            .collect(),
    };
    (last, text)
}

fn books(rig: &Rig) -> (u32, u64, u64) {
    rig.router.inspect(|core| {
        let in_flight = (0..2)
            .map(|i| core.health(TargetId::new(i)).in_flight)
            .sum();
        let tel = core.telemetry();
        let abandoned = tel.routes[0].failures[failure_index(FailureReason::Abandoned)];
        (in_flight, tel.routes[0].requests, abandoned)
    })
}

#[tokio::test(start_paused = true)]
async fn a_stream_cut_after_40_tokens_completes_on_the_prefill_fallback() {
    let rig = resume_rig().await;
    let mut stream = rig.router.chat_stream(stream_request()).await.unwrap();
    assert_eq!(stream.target, "t-a");
    let (deltas, end) = read_all(&mut stream).await;
    let Some(Ok(StreamEvent::End { finish, usage, .. })) = end else {
        panic!("the stream did not complete: {end:?}");
    };
    assert_eq!(finish, FinishReason::Stop);
    // One answer: the 40 words the primary delivered, then the fallback's 20.
    let text: String = deltas.concat();
    let prefix: String = deltas[..40].concat();
    let rest: String = deltas[40..].concat();
    assert_eq!(text.split_whitespace().count(), 60, "{text}");
    assert_eq!(prefix.split_whitespace().count(), 40);
    assert!(
        rest.starts_with(' '),
        "the continuation starts a new word: {rest:?}"
    );
    assert_eq!(stream.target, "t-b", "the continuation serves the rest");
    // The fallback was sent the delivered text as a final assistant message, trimmed, and
    // asked for the output left.
    let (last, sent) = last_message(&rig, "b").await;
    assert_eq!(last["role"], "assistant");
    assert_eq!(sent, prefix.trim_end());
    let delivered = estimate_tokens(&prefix);
    let journal = rig.journal("b").await;
    assert_eq!(
        journal["entries"][0]["body"]["max_tokens"],
        200 - delivered,
        "max_tokens less the tokens delivered"
    );
    // The caller's usage: the first attempt's prompt (the request's estimate: a cut OpenAI
    // stream reports none), the delivered tokens plus the continuation's 20.
    assert_eq!(usage.prompt_tokens, 10);
    assert_eq!(usage.completion_tokens, delivered + 20);
    drop(stream);
    let tel = rig.router.telemetry();
    assert_eq!((tel.routes[0].served, tel.routes[0].resumed), (1, 1));
    assert_eq!(tel.routes[0].resume_failed, 0);
    let metrics = rig
        .router
        .inspect(switchyard_core::router::prometheus::render);
    assert!(
        metrics.contains("switchyard_stream_resumes_total{route=\"r\",result=\"resumed\"} 1\n"),
        "{metrics}"
    );
    assert_eq!(tel.targets[0].errors_total(), 1, "the cut");
    // The broken attempt is booked with what it delivered and its prompt (for its cost).
    assert_eq!(
        (
            tel.targets[0].prompt_tokens,
            tel.targets[0].completion_tokens
        ),
        (10, u64::from(delivered))
    );
    assert_eq!(tel.targets[1].successes, 1);
    assert_eq!(books(&rig), (0, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn behind_a_fallback_that_refuses_prefill_the_caller_gets_the_cut() {
    let rig = resume_rig().await;
    rig.options("b", r#"{"prefill": false}"#).await;
    let mut stream = rig.router.chat_stream(stream_request()).await.unwrap();
    let (deltas, end) = read_all(&mut stream).await;
    assert_eq!(deltas.len(), 40, "the primary's text reached the caller");
    let Some(Err(e)) = end else {
        panic!("a truncated success: {end:?}");
    };
    assert_eq!(
        e.outcome,
        FailureReason::Attempt(ErrorKind::StreamInterrupted),
        "the cut, not the refusal"
    );
    assert!(
        e.upstream.is_none(),
        "not the refusal's words: {:?}",
        e.upstream
    );
    assert!(stream.next().await.is_none());
    // The fallback was asked (and refused with its 400).
    let (last, _) = last_message(&rig, "b").await;
    assert_eq!(last["role"], "assistant");
    drop(stream);
    let tel = rig.router.telemetry();
    assert_eq!((tel.routes[0].resumed, tel.routes[0].resume_failed), (0, 1));
    let metrics = rig
        .router
        .inspect(switchyard_core::router::prometheus::render);
    assert!(
        metrics.contains("switchyard_stream_resumes_total{route=\"r\",result=\"failed\"} 1\n"),
        "{metrics}"
    );
    assert_eq!(tel.targets[1].errors_total(), 1, "the refusal");
    assert_eq!(books(&rig), (0, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_delivered_a_tool_call_is_not_continued() {
    let rig = resume_rig().await;
    rig.inject("a", r#"{"kind":"stream_cut","after_tokens":2}"#)
        .await;
    let tool = switchyard_core::request::Tool {
        name: "lookup".to_owned(),
        description: None,
        parameters: Some(
            serde_json::json!({"type": "object", "properties": {"q": {"type": "string"}}}),
        ),
        strict: None,
    };
    let mut request = stream_request();
    request.tools = vec![tool];
    request.messages = vec![switchyard_core::request::Message::text(
        switchyard_core::request::Role::User,
        "please lookup the weather",
    )];
    let mut stream = rig.router.chat_stream(request).await.unwrap();
    let mut calls = 0;
    let end = loop {
        match stream.next().await {
            Some(Ok(StreamEvent::ToolCall { .. })) => calls += 1,
            Some(Ok(StreamEvent::Delta(_))) => {}
            other => break other,
        }
    };
    assert!(calls > 0, "a call piece reached the caller");
    let Some(Err(e)) = end else {
        panic!("not failed: {end:?}");
    };
    assert_eq!(e.kind(), Some(ErrorKind::StreamInterrupted));
    drop(stream);
    let journal = rig.journal("b").await;
    assert_eq!(
        journal["entries"].as_array().unwrap().len(),
        0,
        "no continuation sent"
    );
    let tel = rig.router.telemetry();
    assert_eq!((tel.routes[0].resumed, tel.routes[0].resume_failed), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_while_its_continuation_connects_is_abandoned_once() {
    let rig = resume_rig().await;
    rig.inject("b", r#"{"kind":"slow_first_token","extra":"5s"}"#)
        .await;
    let mut stream = rig.router.chat_stream(stream_request()).await.unwrap();
    for _ in 0..40 {
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamEvent::Delta(_)))
        ));
    }
    // The cut, then the continuation's connect: the caller gives up waiting.
    let waited = tokio::time::timeout(StdDuration::from_secs(1), stream.next()).await;
    assert!(waited.is_err(), "still waiting for the continuation");
    assert_eq!(books(&rig).0, 1, "the continuation is in flight");
    drop(stream);
    assert_eq!(books(&rig), (0, 1, 1), "in flight, requests, abandoned");
    let tel = rig.router.telemetry();
    assert_eq!(tel.targets[1].cancelled, 1);
    tokio::time::sleep(StdDuration::from_secs(60)).await;
    let tel = rig.router.telemetry();
    assert_eq!(tel.targets[0].attempts + tel.targets[1].attempts, 2);
    assert_eq!(tel.routes[0].requests, 1);
}

/// RV: a caller that drops one `next()` while a continuation connects (a `timeout` around
/// it) and then reads on. The continuation left outstanding was sent its prompt (the request
/// and the delivered text), which its provider bills; `ChatStream::continue_stream` records
/// it `cancelled` with no tokens, where the core's own cancels (`first_token`, a resume) and
/// a caller's leaving (`caller_left`) book the prompt's estimate, `usage_missing`.
#[tokio::test(start_paused = true)]
async fn rv_a_continuation_given_up_after_a_dropped_next_is_booked_its_prompt_estimate() {
    let rig = resume_rig().await;
    rig.inject("b", r#"{"kind":"slow_first_token","extra":"5s"}"#)
        .await;
    let mut stream = rig.router.chat_stream(stream_request()).await.unwrap();
    for _ in 0..40 {
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamEvent::Delta(_)))
        ));
    }
    let waited = tokio::time::timeout(StdDuration::from_secs(1), stream.next()).await;
    assert!(waited.is_err(), "still waiting for the continuation");
    assert_eq!(books(&rig).0, 1, "the continuation is in flight");
    // The caller reads on: the continuation it stopped waiting for is given up.
    let _ = stream.next().await;
    let tel = rig.router.telemetry();
    let b = &tel.targets[1];
    assert_eq!(
        (b.attempts, b.cancelled),
        (1, 1),
        "the continuation given up"
    );
    assert_eq!(
        (b.usage_missing, b.prompt_tokens > 0),
        (1, true),
        "the given-up continuation is booked its prompt's estimate: {} prompt tokens",
        b.prompt_tokens
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_mid_continuation_is_abandoned_once() {
    let rig = resume_rig().await;
    let mut stream = rig.router.chat_stream(stream_request()).await.unwrap();
    for _ in 0..41 {
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamEvent::Delta(_)))
        ));
    }
    assert_eq!(stream.target, "t-b", "the continuation streams");
    drop(stream);
    assert_eq!(books(&rig), (0, 1, 1));
    let tel = rig.router.telemetry();
    assert_eq!((tel.targets[1].cancelled, tel.targets[1].successes), (1, 0));
    assert_eq!(
        tel.routes[0].resumed, 0,
        "an abandoned resume is not counted"
    );
}

/// A primary whose stream delivers text ending in whitespace, then breaks (no finish).
fn whitespace_then_cut() -> axum::Router {
    axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            let chunk = serde_json::json!({
                "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m-a",
                "choices": [{ "index": 0, "finish_reason": null,
                    "delta": { "role": "assistant", "content": "Hello world.\n\n" } }]
            });
            (
                [("content-type", "text/event-stream")],
                format!("data: {chunk}\n\n"),
            )
        }),
    )
}

#[tokio::test(start_paused = true)]
async fn a_continuation_does_not_repeat_whitespace_the_caller_already_has() {
    let rig = rig_full(
        &[("a", "openai"), ("b", "anthropic")],
        vec![
            whitespace_then_cut(),
            switchyard_fake::server::router(profile("b", "anthropic", 20), 2),
        ],
        ROUTES,
        PLAN,
        Default::default(),
        &[("b", "[streaming, prefill]")],
    );
    let mut stream = rig.router.chat_stream(stream_request()).await.unwrap();
    let (deltas, end) = read_all(&mut stream).await;
    assert!(
        matches!(end, Some(Ok(StreamEvent::End { .. }))),
        "not continued: {end:?}"
    );
    let text = deltas.concat();
    // The prefill was trimmed (Anthropic refuses trailing whitespace); the continuation,
    // which starts with a space, must not add it again after the caller's "\n\n".
    let (_, sent) = last_message(&rig, "b").await;
    assert_eq!(sent, "Hello world.");
    let rest = text
        .strip_prefix("Hello world.\n\n")
        .expect("the delivered text first");
    assert!(
        rest.starts_with(|c: char| !c.is_whitespace()),
        "whitespace repeated: {text:?}"
    );
    assert_eq!(rest.split_whitespace().count(), 20, "{text:?}");
}
