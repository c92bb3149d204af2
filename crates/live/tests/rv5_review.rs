//! Review (rv5) of this session's live changes: a Gemini stream refused after its first token,
//! booked the `usageMetadata` its refusal carries.
#![expect(clippy::unwrap_used, reason = "test code")]

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

/// What the target was booked (prompt, completion, usage_missing) for a Gemini stream that
/// sends `text`, then, a moment later (the first token is the caller's), `refusal`.
async fn booked(text: &'static str, refusal: &'static str) -> (u64, u64, u64) {
    let upstream = axum::Router::new().fallback(move || async move {
        let body = futures_util::stream::unfold(0u32, move |i| async move {
            let chunk = match i {
                0 => text,
                1 => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    refusal
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
    (s.prompt_tokens, s.completion_tokens, s.usage_missing)
}

const REFUSAL: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[]},\"finishReason\":\"MALFORMED_FUNCTION_CALL\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":57,\"totalTokenCount\":57}}\n\n";

/// Gemini's `MALFORMED_FUNCTION_CALL` often reports a `usageMetadata` without
/// `candidatesTokenCount` (only `promptTokenCount` and `totalTokenCount`). After text the
/// client received (and an earlier chunk reported 3 completion tokens), such a refusal must
/// not book the attempt 0 completion tokens, as fully reported usage.
#[tokio::test(start_paused = true)]
async fn a_gemini_refusal_without_a_candidates_count_after_text_is_not_booked_zero_completion() {
    const TEXT: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hello there, here is a longer answer\"}]},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":57,\"candidatesTokenCount\":3,\"totalTokenCount\":60}}\n\n";
    // The stream's latest count (3) stands: reported, not an estimate.
    assert_eq!(booked(TEXT, REFUSAL).await, (57, 3, 0));
}

/// Neither the text's chunk nor the refusal counted completion tokens: the text the caller
/// received is booked as estimated (`usage_missing`), its prompt as the refusal reported.
#[tokio::test(start_paused = true)]
async fn a_gemini_refusal_after_uncounted_text_books_the_texts_estimate() {
    const TEXT: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hello there, here is a longer answer\"}]},\"index\":0}]}\n\n";
    let (prompt, completion, missing) = booked(TEXT, REFUSAL).await;
    assert_eq!((prompt, missing), (57, 1));
    // "Hello there, here is a longer answer": 36 characters, about 9 tokens.
    assert_eq!(completion, 9);
}

/// A Gemini stream refused after its first token (a chunk of text, then a chunk ending
/// `MALFORMED_FUNCTION_CALL` with the whole attempt's usage): the stream breaks, in-band,
/// and the attempt is booked the usage the refusal reports, not the text's estimate, and not
/// as `usage_missing`.
#[tokio::test(start_paused = true)]
async fn a_gemini_streams_refusal_after_its_first_token_is_booked_its_usage() {
    const TEXT: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hello there\"}]},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":57,\"candidatesTokenCount\":3,\"totalTokenCount\":60}}\n\n";
    const COUNTED: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[]},\"finishReason\":\"MALFORMED_FUNCTION_CALL\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":57,\"candidatesTokenCount\":12,\"cachedContentTokenCount\":20,\"totalTokenCount\":69}}\n\n";
    assert_eq!(booked(TEXT, COUNTED).await, (57, 12, 0));
}
