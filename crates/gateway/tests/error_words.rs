//! Errors an OpenAI client reads in OpenAI's words whatever the target's dialect, the 404
//! for an unknown model cut at a character boundary, and what `/admin/state` shows after a
//! bad request (first written by a review of issue 13's changes).

mod support;

use serde_json::json;
use support::stubs::{chat, gateway, json_stub, post};

/// An error the driver writes itself is in OpenAI's words (`UpstreamError.dialect` is
/// `None`): a Gemini blocked prompt reaches an OpenAI client as `invalid_request_error`,
/// code `content_policy_violation`, as an OpenAI target's refusal does (it said
/// `content_filter`, no OpenAI type).
#[tokio::test]
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

/// The 404's cut of an unknown `model` at 128 bytes (`MODEL_QUOTED`) walks back to a
/// character boundary: `€` is 3 bytes, so byte 128 falls inside the 43rd (fails, a panic,
/// with the walk removed; `é`, 2 bytes, always has a boundary at 128).
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

/// docs/GATEWAY.md, `/admin/state`: a bad request says nothing of a target's speed, so a
/// target that answered only 400s shows its error, an availability of 1 and its latency
/// estimate untouched (0 before any success), not the 5 s failure penalty.
#[tokio::test]
async fn admin_state_leaves_the_latency_estimate_alone_after_a_bad_request() {
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
    assert_eq!(t["latency_estimate_ms"], 0.0, "{t}");
}

/// On the stream path (`chat/sse.rs` words its in-band error event with
/// `ApiError::from_route`): an Anthropic target's `overloaded_error` event mid-stream reaches
/// an OpenAI client as OpenAI's `server_error` (code `stream_interrupted`, a cut), not as
/// `overloaded_error` (fails with the `words` filter in `from_route` removed).
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
