//! Review (rv3) of `AttemptReport::prompt_sent` after a 2xx head: a 2xx reply that carries
//! the provider's own usage, yet is classified a failure, is booked what the provider
//! reported; an in-band error is booked as an error reply, not the request's estimate.
#![expect(clippy::unwrap_used, reason = "test code")]

mod common;

use common::{request, rig_with};

const PLAN: &str = "  max_attempts: 1\n  attempt_timeout: 10s\n";
const ROUTE: &str = "  - { name: r, policy: static, targets: [t-a] }\n";

/// An upstream that answers every request 200 with `body` (`content_type`).
fn upstream(body: &'static str, content_type: &'static str) -> axum::Router {
    axum::Router::new().fallback(move || async move {
        axum::http::Response::builder()
            .status(200)
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .unwrap()
    })
}

/// Gemini ends a reply with `MALFORMED_FUNCTION_CALL` (a 200, classified
/// `malformed_response` so another target may do better) and reports its usage with it: 57
/// prompt tokens, 9 generated. The attempt is booked that usage, as the provider said it
/// (it was booked the request's estimate, 10, marked `usage_missing`).
#[tokio::test(start_paused = true)]
async fn a_2xx_failure_that_reports_its_usage_is_booked_that_usage() {
    const BODY: &str = r#"{"candidates":[{"content":{"role":"model","parts":[]},"finishReason":"MALFORMED_FUNCTION_CALL","index":0}],"usageMetadata":{"promptTokenCount":57,"candidatesTokenCount":9,"totalTokenCount":66}}"#;
    let rig = rig_with(
        &[("a", "gemini")],
        vec![upstream(BODY, "application/json")],
        ROUTE,
        PLAN,
        Default::default(),
    );
    let err = rig.router.chat(request("r")).await.unwrap_err();
    assert_eq!(
        err.kind(),
        Some(switchyard_core::outcome::ErrorKind::MalformedResponse),
        "{err}"
    );
    let t = &rig.router.telemetry().targets[0];
    assert_eq!(
        (t.prompt_tokens, t.usage_missing),
        (57, 0),
        "booked the estimate as if no usage was read"
    );
}

/// Anthropic's stream says the prompt's size in `message_start` (57 input tokens), then an
/// in-band `overloaded_error` before any token. Whether such an in-band error is billed or
/// not, the books should not say "no usage read, 10 estimated": they either book nothing
/// (an error reply, as a 529 status is) or the 57 the stream reported.
#[tokio::test(start_paused = true)]
async fn an_in_band_stream_error_before_the_first_token_is_not_booked_as_usage_missing() {
    const BODY: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m-a\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":57,\"output_tokens\":1}}}\n\n\
event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let rig = rig_with(
        &[("a", "anthropic")],
        vec![upstream(BODY, "text/event-stream")],
        ROUTE,
        PLAN,
        Default::default(),
    );
    let request = switchyard_core::request::Request {
        stream: true,
        ..request("r")
    };
    let err = rig.router.chat_stream(request).await.unwrap_err();
    assert_eq!(
        err.kind(),
        Some(switchyard_core::outcome::ErrorKind::Overloaded),
        "{err}"
    );
    let t = &rig.router.telemetry().targets[0];
    let booked = (t.prompt_tokens, t.usage_missing);
    assert!(
        matches!(booked, (0 | 57, 0)),
        "(prompt, usage_missing) {booked:?}"
    );
}
