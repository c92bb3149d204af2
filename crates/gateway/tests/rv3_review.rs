//! Reviewer RV's findings on the issue-13 diff (0685881..c4d8c26: held log lines written
//! every `MAX_HOLD`, errors in OpenAI's words, the 404 for an unknown model). A test of a
//! bug is `#[ignore]`d with the bug it shows (run with `--ignored`); the others add coverage
//! the diff's own tests lack.

mod support;

use serde_json::json;
use support::stubs::{chat, gateway, json_stub, post};

/// `UpstreamError.dialect == None` is taken to mean "the driver wrote it, in OpenAI's
/// words", so its `kind` becomes the client's `type`. But the Gemini adapter writes its
/// blocked-prompt error with kind `content_filter` (`adapter/gemini.rs`, `refusal`), which
/// is no OpenAI error type: an OpenAI client of a Gemini target whose prompt was blocked gets
/// `type: content_filter`, where an OpenAI target's refusal says `invalid_request_error`
/// (the gateway's own type for `ContentFiltered`, `errors.rs::attempt_status`).
#[tokio::test]
#[ignore = "RV: a Gemini blocked prompt reaches an OpenAI client as type `content_filter`, no OpenAI type"]
async fn a_gemini_blocked_prompt_is_said_in_openais_type() {
    let gw = gateway(
        "gemini",
        json_stub(
            200,
            json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}),
        ),
    );
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let e = &r.json()["error"];
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("blockReason SAFETY"),
        "{e}"
    );
    assert_eq!(e["code"], "content_policy_violation", "{e}");
    assert_eq!(e["type"], "invalid_request_error", "{e}");
}

/// The 404's cut of an unknown `model` at 128 bytes (`MODEL_QUOTED`) walks back to a character
/// boundary, but `bad_bodies_get_openais_errors` quotes `é` (2 bytes), for which byte 128 is
/// always a boundary: the walk is untested (remove it and that test still passes). `€` is 3
/// bytes, so byte 128 falls inside the 43rd: without the walk the handler panics.
/// Not a bug today: coverage for the walk (fails with the `while` loop removed).
#[tokio::test]
async fn an_unknown_model_of_three_byte_characters_is_cut_at_a_boundary() {
    let gw = gateway("openai", json_stub(200, json!({})));
    let model = "€".repeat(100);
    let r = post(&gw, "key", &[], chat(&model, false)).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    // 42 whole characters (126 bytes), then the ellipsis.
    assert!(
        message.contains(&format!("`{}…`", "€".repeat(42))),
        "{message}"
    );
    assert!(!message.contains(&"€".repeat(43)), "{message}");
}

/// docs/GATEWAY.md's new `/admin/state` paragraph: "`errors` (every failed attempt, 429s
/// included) ... `latency_estimate_ms` (...: a failure or a 429 counts as
/// `router.latency.failure_penalty`, 5 s by default)". In its own words a failure is any
/// failed attempt, but `fold_into_health` (core `router/record.rs`) penalizes only a 429 and
/// a failure that counts against health: a target that answered only 400s (or
/// context-length or content-filter errors) shows 1 error and an estimate of 0, not 5 000.
/// The code is sound (a bad request says nothing of the target's speed); the sentence is
/// not. Its test (`admin_state_counts_429s_as_errors_not_against_availability`) checks 429s
/// only.
#[tokio::test]
#[ignore = "RV: docs/GATEWAY.md says any failure counts as the latency penalty; a 400 does not"]
async fn admin_state_penalizes_every_failure_as_the_docs_say() {
    let gw = support::stubs::gateway_with(
        "openai",
        json_stub(
            400,
            json!({"error": {"message": "Invalid 'messages'.", "type": "invalid_request_error", "param": "messages", "code": null}}),
        ),
        &format!(
            "  admin_token_sha256: {}\n",
            switchyard_gateway::sha256_hex("admin")
        ),
        "",
    );
    let r = post(&gw, "key", &[], chat("chat", false)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let state = support::admin_state(&gw).await;
    let t = support::target(&state, "t");
    assert_eq!(t["errors"], 1, "{t}");
    assert_eq!(t["availability"], 1.0, "{t}");
    assert_eq!(t["latency_estimate_ms"], 5000.0, "{t}");
}

/// The new rule on the stream path (`chat/sse.rs` words its in-band error event with
/// `ApiError::from_route`): an Anthropic target's `overloaded_error` event mid-stream reaches
/// an OpenAI client as OpenAI's `server_error` (code `stream_interrupted`, a cut), not as
/// `overloaded_error`. Only the JSON path had a test. Not a bug: coverage (fails with the `words` filter in `from_route` removed).
#[tokio::test]
async fn an_anthropic_error_event_mid_stream_is_said_in_openais_words() {
    let frame = |name: &str, data: serde_json::Value| format!("event: {name}\ndata: {data}\n\n");
    let began = [
        frame(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": null, "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        ),
        frame(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        frame(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        ),
    ]
    .concat();
    let broke = frame(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    // The error event a moment after the text: the client has had its first bytes.
    let upstream = axum::Router::new().fallback(move || {
        let (began, broke) = (began.clone(), broke.clone());
        async move {
            let later = async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Ok::<_, std::convert::Infallible>(broke)
            };
            let body = futures_util::StreamExt::chain(
                futures_util::stream::iter([Ok::<_, std::convert::Infallible>(began)]),
                futures_util::stream::once(later),
            );
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(body))
                .unwrap()
        }
    });
    let gw = gateway("anthropic", upstream);
    let r = post(&gw, "key", &[], chat("chat", true)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let event = r
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .find(|d| d.starts_with("{\"error\""))
        .unwrap_or_else(|| panic!("no in-band error: {}", r.body));
    let e: serde_json::Value = serde_json::from_str(event).unwrap();
    let e = &e["error"];
    assert_eq!(e["message"], "Overloaded", "{e}");
    assert_eq!(e["type"], "server_error", "{e}");
    // A break mid-stream is booked as a cut, whatever the event said (README).
    assert_eq!(e["code"], "stream_interrupted", "{e}");
}
