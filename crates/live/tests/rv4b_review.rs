//! Review (rv4, second round) of the RV3 fixes: a JSON reply to a streamed request (`content-type`
//! variants), and a Gemini stream's refusal booked the usage it reports.
#![expect(clippy::unwrap_used, reason = "test code")]

mod common;

use common::{request, rig_with};
use switchyard_core::outcome::ErrorKind;

const PLAN: &str = "  max_attempts: 1\n  attempt_timeout: 10s\n";
const ROUTE: &str = "  - { name: r, policy: static, targets: [t-a] }\n";

/// An upstream that answers every request 200 with `body`, its `content-type` if any.
fn upstream(body: &'static str, content_type: Option<&'static str>) -> axum::Router {
    axum::Router::new().fallback(move || async move {
        let mut reply = axum::http::Response::builder().status(200);
        if let Some(t) = content_type {
            reply = reply.header("content-type", t);
        }
        reply.body(axum::body::Body::from(body)).unwrap()
    })
}

fn streamed() -> switchyard_core::request::Request {
    switchyard_core::request::Request {
        stream: true,
        ..request("r")
    }
}

/// OpenAI's stream with one token, its usage and `[DONE]`.
const SSE: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m-a\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m-a\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m-a\",\"choices\":[],\"usage\":{\"prompt_tokens\":57,\"completion_tokens\":1,\"total_tokens\":58}}\n\n\
data: [DONE]\n\n";

/// A whole JSON reply where a stream was asked for is `malformed_response`, booked the
/// request's estimate (`prompt_sent`), whatever the case or parameters of its
/// `content-type`.
#[tokio::test(start_paused = true)]
async fn a_json_reply_to_a_stream_is_malformed_whatever_its_content_types_spelling() {
    const JSON: &str = r#"{"id":"c","object":"chat.completion","choices":[]}"#;
    for t in [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "Application/Json;charset=UTF-8",
    ] {
        let rig = rig_with(
            &[("a", "openai")],
            vec![upstream(JSON, Some(t))],
            ROUTE,
            PLAN,
            Default::default(),
        );
        let err = rig.router.chat_stream(streamed()).await.unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::MalformedResponse), "{t}: {err}");
        let s = &rig.router.telemetry().targets[0];
        assert_eq!((s.prompt_tokens, s.usage_missing), (10, 1), "{t}");
    }
}

/// An OpenAI upstream answers a streamed request with an SSE stream labelled `content_type`:
/// it is read as a stream (the call succeeds).
async fn streams_with(content_type: Option<&'static str>) {
    let rig = rig_with(
        &[("a", "openai")],
        vec![upstream(SSE, content_type)],
        ROUTE,
        PLAN,
        Default::default(),
    );
    let stream = rig.router.chat_stream(streamed()).await;
    assert!(stream.is_ok(), "{content_type:?}: {:?}", stream.err());
}

/// A stream without a `content-type` (or `text/event-stream`) is read as a stream.
#[tokio::test(start_paused = true)]
async fn a_stream_without_a_content_type_still_streams() {
    for t in [
        None,
        Some("text/event-stream"),
        Some("text/event-stream; charset=utf-8"),
    ] {
        streams_with(t).await;
    }
}

/// A server that labels its SSE stream `application/json` (a proxy's mistake): it streams,
/// as the OpenAI SDKs read it; only a JSON-labelled body without a single event is a whole
/// JSON reply (it was refused on its label alone, RV4's finding).
#[tokio::test(start_paused = true)]
async fn a_mislabelled_sse_stream_still_streams() {
    streams_with(Some("application/json")).await;
}

/// `application/jsonl` (or `application/json-seq`) is not `application/json` (the check was
/// a 16-byte prefix, RV4's finding).
#[tokio::test(start_paused = true)]
async fn only_application_json_itself_is_a_json_reply() {
    for t in ["application/jsonl", "application/json-seq"] {
        streams_with(Some(t)).await;
    }
}

/// A Gemini stream whose first chunk is a refusal (`MALFORMED_FUNCTION_CALL`) with its usage
/// (cumulative: the whole attempt's) is booked that usage, cached tokens included, not the
/// estimate: an error reply, not `usage_missing`.
#[tokio::test(start_paused = true)]
async fn a_gemini_streams_refusal_before_its_first_token_is_booked_its_usage() {
    const BODY: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[]},\"finishReason\":\"MALFORMED_FUNCTION_CALL\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":57,\"candidatesTokenCount\":9,\"cachedContentTokenCount\":20,\"totalTokenCount\":66}}\n\n";
    let rig = rig_with(
        &[("a", "gemini")],
        vec![upstream(BODY, Some("text/event-stream"))],
        ROUTE,
        PLAN,
        Default::default(),
    );
    let err = rig.router.chat_stream(streamed()).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::MalformedResponse), "{err}");
    let s = &rig.router.telemetry().targets[0];
    assert_eq!(
        (s.prompt_tokens, s.completion_tokens, s.usage_missing),
        (57, 9, 0)
    );
}

/// A Gemini prompt blocked (`blockReason`), its usage saying the prompt's size: booked that
/// prompt, no completion, `content_filtered`.
#[tokio::test(start_paused = true)]
async fn a_blocked_gemini_prompt_is_booked_the_prompt_it_reports() {
    const BODY: &str = r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":57,"totalTokenCount":57}}"#;
    let rig = rig_with(
        &[("a", "gemini")],
        vec![upstream(BODY, Some("application/json"))],
        ROUTE,
        PLAN,
        Default::default(),
    );
    let err = rig.router.chat(request("r")).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::ContentFiltered), "{err}");
    let s = &rig.router.telemetry().targets[0];
    assert_eq!(
        (s.prompt_tokens, s.completion_tokens, s.usage_missing),
        (57, 0, 0)
    );
}
