//! Review (rv5) of this session's live changes: a Gemini stream refused after its first token,
//! booked the `usageMetadata` its refusal carries.

mod common;

use common::{request, rig_with};
use switchyard_core::outcome::ErrorKind;

const PLAN: &str = "  max_attempts: 1\n  attempt_timeout: 10s\n";
const ROUTE: &str = "  - { name: r, policy: static, targets: [t-a] }\n";

fn streamed() -> switchyard_core::request::Request {
    switchyard_core::request::Request {
        stream: true,
        ..request("r")
    }
}

/// Gemini's `MALFORMED_FUNCTION_CALL` often reports a `usageMetadata` without
/// `candidatesTokenCount` (only `promptTokenCount` and `totalTokenCount`: google/adk-go#325).
/// After text the client received (and an earlier chunk reported 3 completion tokens), such a
/// refusal must not book the attempt 0 completion tokens, as fully reported usage.
#[tokio::test(start_paused = true)]
#[ignore = "RV: a mid-stream Gemini refusal without candidatesTokenCount books 0 completion tokens (not usage_missing) after text was delivered"]
async fn a_gemini_refusal_without_a_candidates_count_after_text_is_not_booked_zero_completion() {
    const TEXT: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hello there, here is a longer answer\"}]},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":57,\"candidatesTokenCount\":3,\"totalTokenCount\":60}}\n\n";
    const REFUSAL: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[]},\"finishReason\":\"MALFORMED_FUNCTION_CALL\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":57,\"totalTokenCount\":57}}\n\n";
    let upstream = axum::Router::new().fallback(|| async {
        let body = futures_util::stream::unfold(0u32, |i| async move {
            let chunk = match i {
                0 => TEXT,
                1 => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    REFUSAL
                }
                _ => return None,
            };
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), i + 1))
        });
        axum::http::Response::builder()
            .header("content-type", "text/event-stream")
            .body(axum::body::Body::from_stream(body))
            .unwrap()
    });
    let rig = rig_with(
        &[("a", "gemini")],
        vec![upstream],
        ROUTE,
        PLAN,
        Default::default(),
    );
    let mut stream = rig.router.chat_stream(streamed()).await.unwrap();
    let mut last = None;
    while let Some(event) = stream.next().await {
        last = Some(event);
    }
    let err = last.unwrap().unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::StreamInterrupted), "{err}");
    drop(stream);
    let s = &rig.router.telemetry().targets[0];
    assert_eq!(s.prompt_tokens, 57);
    assert!(
        s.completion_tokens >= 3 || s.usage_missing == 1,
        "booked {} completion tokens as reported usage after 3 were reported and text delivered",
        s.completion_tokens
    );
}
