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
