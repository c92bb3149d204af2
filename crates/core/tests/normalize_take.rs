//! `ChatRequest::take_normalized`: the messages' text moved into the normalized request,
//! not copied.
#![allow(clippy::unwrap_used, reason = "tests")]

use serde_json::{Value, json};
use switchyard_core::dialect::openai;
use switchyard_core::request::Part;

fn full_openai_body() -> Value {
    json!({
        "model": "chat",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "name": "ann", "content": [
                { "type": "text", "text": "What is in this picture, and the weather?" },
                { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0K" } }
            ] },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": "{}" } }
            ] },
            { "role": "tool", "tool_call_id": "call_1", "content": "18C, cloudy" },
            { "role": "assistant", "content": "A cat; 18C." }
        ],
        "tools": [{ "type": "function", "function": { "name": "get_weather" } }]
    })
}

/// `take_normalized` moves the messages' text out of the body (the same buffers, not
/// copies), a string content and a text part alike; what it gives is checked whole by
/// `an_openai_body_normalizes_whole` (`try_to_normalized` is a clone and a take).
#[test]
fn taking_the_normalized_request_moves_the_text() {
    let body = full_openai_body();
    let mut taken = serde_json::from_value::<openai::ChatRequest>(body).unwrap();
    let texts = |r: &openai::ChatRequest| -> Vec<*const u8> {
        // (A tool message's text becomes its result's, joined: not the same buffer.)
        r.messages
            .iter()
            .filter(|m| m.role != "tool")
            .flat_map(|m| match &m.content {
                Some(Value::String(s)) => vec![s.as_ptr()],
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::as_ptr))
                    .collect(),
                _ => Vec::new(),
            })
            .collect()
    };
    let before = texts(&taken);
    let request = taken.take_normalized().unwrap();
    assert_eq!(request.messages[0].text_content(), "Be brief.");
    assert_eq!(request.messages[4].text_content(), "A cat; 18C.");
    let parts = request.messages.iter().flat_map(|m| &m.content);
    let text = |p: &Part| {
        if let Part::Text(t) = p {
            Some(t.as_ptr())
        } else {
            None
        }
    };
    let after: Vec<*const u8> = parts.filter_map(text).collect();
    assert!(before.len() >= 2, "{before:?}");
    for p in &before {
        assert!(after.contains(p), "text at {p:?} was copied");
    }
}
