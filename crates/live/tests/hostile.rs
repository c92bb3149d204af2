//! Upstreams that send too much, or too little: bounded bodies and events, and replies
//! without usage, through the whole driver.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use axum::routing::post;
use common::{request, rig_with};
use switchyard_core::outcome::ErrorKind;
use switchyard_live::StreamEvent;
use switchyard_live::adapter::InputLimits;

const PLAN: &str = "  max_attempts: 1\n  attempt_timeout: 10s\n";
const ROUTE: &str = "  - { name: r, policy: static, targets: [t-a] }\n";

fn limits() -> InputLimits {
    InputLimits {
        max_body_bytes: 64 * 1024,
        max_error_body_bytes: 1024,
        max_event_bytes: 4 * 1024,
    }
}

fn upstream(status: u16, body: String, sse: bool) -> axum::Router {
    axum::Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let body = body.clone();
            async move {
                let ct = if sse {
                    "text/event-stream"
                } else {
                    "application/json"
                };
                axum::http::Response::builder()
                    .status(status)
                    .header("content-type", ct)
                    .body(axum::body::Body::from(body))
                    .unwrap()
            }
        }),
    )
}

fn reply(text: &str, usage: bool) -> String {
    let usage = if usage {
        r#","usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}"#
    } else {
        ""
    };
    format!(
        r#"{{"id":"x","object":"chat.completion","created":1,"model":"m-a","choices":[{{"index":0,"message":{{"role":"assistant","content":"{text}"}},"finish_reason":"stop"}}]{usage}}}"#
    )
}

#[tokio::test(start_paused = true)]
async fn a_reply_over_the_body_cap_is_malformed_not_buffered() {
    let huge = reply(&"x".repeat(200 * 1024), true);
    let rig = rig_with(
        &[("a", "openai")],
        vec![upstream(200, huge, false)],
        ROUTE,
        PLAN,
        limits(),
    );
    let err = rig.router.chat(request("r")).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::MalformedResponse), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_oversized_error_body_is_still_classified_by_its_status() {
    let huge = format!(r#"{{"error":{{"message":"{}"}}}}"#, "y".repeat(100 * 1024));
    let rig = rig_with(
        &[("a", "openai")],
        vec![upstream(503, huge, false)],
        ROUTE,
        PLAN,
        limits(),
    );
    let err = rig.router.chat(request("r")).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Overloaded), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_stream_event_over_the_cap_is_malformed() {
    let chunk = format!(
        "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m-a\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}},\"finish_reason\":null}}]}}\n\n",
        "z".repeat(8 * 1024)
    );
    let rig = rig_with(
        &[("a", "openai")],
        vec![upstream(200, chunk, true)],
        ROUTE,
        PLAN,
        limits(),
    );
    let request = switchyard_core::request::Request {
        stream: true,
        ..request("r")
    };
    let err = rig.router.chat_stream(request).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::MalformedResponse), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_reply_without_usage_is_served_with_estimates_and_counted() {
    let rig = rig_with(
        &[("a", "openai")],
        vec![upstream(200, reply("four score and seven", false), false)],
        ROUTE,
        PLAN,
        limits(),
    );
    let answer = rig.router.chat(request("r")).await.unwrap();
    assert_eq!(answer.text, "four score and seven");
    assert_eq!(answer.usage.completion_tokens, 5, "ceil(20 chars / 4)");
    let tel = rig.router.telemetry();
    assert_eq!(
        tel.targets[0].successes, 1,
        "not a failure against the target"
    );
    assert_eq!(tel.targets[0].usage_missing, 1);
    assert_eq!(
        tel.targets[0].prompt_tokens, 10,
        "the request's own prompt estimate"
    );
    // With usage: nothing missing.
    let rig = rig_with(
        &[("a", "openai")],
        vec![upstream(200, reply("hi", true), false)],
        ROUTE,
        PLAN,
        limits(),
    );
    rig.router.chat(request("r")).await.unwrap();
    assert_eq!(rig.router.telemetry().targets[0].usage_missing, 0);
}

#[tokio::test(start_paused = true)]
async fn a_stream_without_usage_or_done_is_served_with_estimates() {
    let body = "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m-a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"abcdefgh\"},\"finish_reason\":null}]}\n\n\
                data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m-a\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    let rig = rig_with(
        &[("a", "openai")],
        vec![upstream(200, body.to_owned(), true)],
        ROUTE,
        PLAN,
        limits(),
    );
    let request = switchyard_core::request::Request {
        stream: true,
        ..request("r")
    };
    let mut stream = rig.router.chat_stream(request).await.unwrap();
    let mut end = None;
    while let Some(e) = stream.next().await {
        if let StreamEvent::End { usage, .. } = e.unwrap() {
            end = Some(usage);
        }
    }
    let usage = end.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (10, 2));
    drop(stream);
    let tel = rig.router.telemetry();
    assert_eq!(
        (tel.targets[0].successes, tel.targets[0].usage_missing),
        (1, 1)
    );
}

/// An SSE upstream that sends `tokens` chunks `interval` apart, then the finish chunk and
/// `[DONE]`, unless `stall_after` (then it goes silent for a day).
fn slow_stream(
    tokens: u32,
    interval: std::time::Duration,
    stall_after: Option<u32>,
) -> axum::Router {
    axum::Router::new().route(
        "/v1/chat/completions",
        post(move || async move {
            let chunk = |delta: &str, finish: &str| {
                format!(
                    "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m-a\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
                )
            };
            let body = futures_util::stream::unfold(0u32, move |i| async move {
                if i > tokens {
                    return None;
                }
                if stall_after == Some(i) {
                    tokio::time::sleep(std::time::Duration::from_secs(86_400)).await;
                }
                if i > 0 {
                    tokio::time::sleep(interval).await;
                }
                let data = if i == tokens {
                    format!("{}data: [DONE]\n\n", chunk("{}", "\"stop\""))
                } else {
                    chunk("{\"content\":\"tok \"}", "null")
                };
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(data)), i + 1))
            });
            axum::http::Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(body))
                .unwrap()
        }),
    )
}

fn stream_request() -> switchyard_core::request::Request {
    switchyard_core::request::Request {
        stream: true,
        ..request("r")
    }
}

/// A healthy stream of one token every 0.6 s runs for 36 s, well past the 10 s attempt
/// timeout: it is not cut (the first version cut it at the attempt timeout).
#[tokio::test(start_paused = true)]
async fn a_slow_healthy_stream_outlives_the_attempt_timeout() {
    let upstream = slow_stream(60, std::time::Duration::from_millis(600), None);
    let rig = rig_with(&[("a", "openai")], vec![upstream], ROUTE, PLAN, limits());
    let started = tokio::time::Instant::now();
    let mut stream = rig.router.chat_stream(stream_request()).await.unwrap();
    let mut deltas = 0;
    while let StreamEvent::Delta(_) = stream.next().await.unwrap().unwrap() {
        deltas += 1;
    }
    assert_eq!(deltas, 60);
    assert!(started.elapsed() >= std::time::Duration::from_secs(35));
    drop(stream);
    assert_eq!(rig.router.telemetry().targets[0].successes, 1);
}

/// Silence between chunks longer than the idle timeout interrupts the stream, at the idle
/// timeout (5 s here), not at the attempt's or the request's bound.
#[tokio::test(start_paused = true)]
async fn silence_past_the_idle_timeout_interrupts_the_stream() {
    let upstream = slow_stream(60, std::time::Duration::from_millis(100), Some(3));
    let plan = "  max_attempts: 1\n  attempt_timeout: 60s\n  idle_timeout: 5s\n";
    let rig = rig_with(&[("a", "openai")], vec![upstream], ROUTE, plan, limits());
    let mut stream = rig.router.chat_stream(stream_request()).await.unwrap();
    loop {
        match stream.next().await.unwrap() {
            Ok(StreamEvent::Delta(_)) => {}
            Ok(end) => panic!("{end:?}"),
            Err(e) => {
                assert_eq!(e.kind(), Some(ErrorKind::StreamInterrupted));
                break;
            }
        }
    }
    let tel = rig.router.telemetry();
    assert_eq!(
        tel.targets[0].errors[ErrorKind::StreamInterrupted.index()],
        1
    );
    let latency_ms = tel.targets[0].latency.quantile(1.0).as_millis();
    assert!(
        (5_000..6_000).contains(&latency_ms),
        "cut after {latency_ms} ms: the idle timeout after ~0.3 s of tokens"
    );
}
