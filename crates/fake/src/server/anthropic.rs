//! Anthropic's `POST /v1/messages`: `x-api-key` and `anthropic-version` headers, JSON or a
//! named-event stream.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_core::dialect::anthropic::stop_label;

use super::Shared;
use super::content::{Call, Content};
use super::request::{self, Asked};
use super::respond::{self, Stamp, StreamShape};
use crate::model::Reply;

/// An error in Anthropic's format (with its `request_id`), counted.
fn reject(shared: &Shared, status: u16, kind: &str, message: &str) -> Response {
    shared.count_status(status);
    let body = json!({
        "type": "error",
        "error": { "type": kind, "message": message },
        "request_id": format!("req_{:024x}", shared.next_id()),
    });
    respond::json(status, &body)
}

pub(super) async fn messages(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Anthropic takes `x-api-key`; newer SDKs send the key as a bearer token.
    let key = header("x-api-key")
        .or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer ")));
    match key {
        None => {
            return reject(
                &shared,
                401,
                "authentication_error",
                "x-api-key header is required",
            );
        }
        Some(k) if !shared.profile.accepts(k.trim()) => {
            return reject(&shared, 401, "authentication_error", "invalid x-api-key");
        }
        Some(_) => {}
    }
    if header("anthropic-version").is_none() {
        return reject(
            &shared,
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return reject(
            &shared,
            400,
            "invalid_request_error",
            "There was an issue with your request body: not valid JSON",
        );
    };
    let asked = match request::anthropic::read(&value, shared.options()) {
        Ok(a) => a,
        Err(r) => return reject(&shared, r.status, "invalid_request_error", &r.message),
    };
    if shared.profile.model(&asked.model).is_none() {
        return reject(
            &shared,
            404,
            "not_found_error",
            &format!("model: {}", asked.model),
        );
    }
    respond::answer(&shared, asked).await
}

fn id(stamp: Stamp) -> String {
    format!("msg_{:024x}", stamp.id)
}

fn tool_id(stamp: Stamp, k: usize) -> String {
    format!("toolu_{:016x}{k:08x}", stamp.id)
}

/// The message with `content` blocks and the stop reason (`null` at a stream's start).
fn message(
    reply: &Reply,
    asked: &Asked,
    stamp: Stamp,
    content: Value,
    stop: Value,
    output_tokens: u32,
) -> Value {
    // Anthropic's `input_tokens` leaves out the tokens read from the cache.
    let cached = reply.cached_prompt_tokens.min(reply.prompt_tokens);
    let mut usage = json!({
        "input_tokens": reply.prompt_tokens.saturating_sub(cached),
        "output_tokens": output_tokens,
    });
    if cached > 0 {
        usage["cache_read_input_tokens"] = json!(cached);
    }
    json!({
        "id": id(stamp), "type": "message", "role": "assistant", "model": asked.model,
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": usage,
    })
}

/// A whole reply.
pub(super) fn reply(reply: &Reply, asked: &Asked, stamp: Stamp, content: &Content) -> Value {
    let blocks = match content {
        Content::Text { text, .. } => json!([{ "type": "text", "text": text }]),
        Content::Calls(calls) => Value::Array(
            calls
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    json!({ "type": "tool_use", "id": tool_id(stamp, k), "name": c.name, "input": c.arguments })
                })
                .collect(),
        ),
    };
    message(
        reply,
        asked,
        stamp,
        blocks,
        json!(stop_label(reply.finish)),
        reply.output_tokens,
    )
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn block_stop(index: usize) -> String {
    event(
        "content_block_stop",
        &json!({ "type": "content_block_stop", "index": index }),
    )
}

/// A call's events: its block's start, its `input_json_delta` pieces, the last one carrying
/// the block's stop.
fn call_events(stamp: Stamp, k: usize, call: &Call) -> Vec<String> {
    let mut out = Vec::with_capacity(call.pieces.len() + 1);
    out.push(event(
        "content_block_start",
        &json!({ "type": "content_block_start", "index": k,
                 "content_block": { "type": "tool_use", "id": tool_id(stamp, k), "name": call.name, "input": {} } }),
    ));
    for piece in &call.pieces {
        out.push(event(
            "content_block_delta",
            &json!({ "type": "content_block_delta", "index": k,
                     "delta": { "type": "input_json_delta", "partial_json": piece } }),
        ));
    }
    if let Some(last) = out.last_mut() {
        last.push_str(&block_stop(k));
    }
    out
}

pub(super) fn stream_shape(
    reply: &Reply,
    asked: &Asked,
    stamp: Stamp,
    content: &Content,
) -> StreamShape {
    let start = message(reply, asked, stamp, json!([]), Value::Null, 1);
    let mut prelude = vec![event(
        "message_start",
        &json!({ "type": "message_start", "message": start }),
    )];
    let mut closing = Vec::new();
    let tokens = match content {
        Content::Text { pieces, .. } => {
            prelude.push(event(
                "content_block_start",
                &json!({ "type": "content_block_start", "index": 0,
                         "content_block": { "type": "text", "text": "" } }),
            ));
            closing.push(block_stop(0));
            pieces
                .iter()
                .map(|p| {
                    event(
                        "content_block_delta",
                        &json!({ "type": "content_block_delta", "index": 0,
                                 "delta": { "type": "text_delta", "text": p } }),
                    )
                })
                .collect()
        }
        Content::Calls(calls) => calls
            .iter()
            .enumerate()
            .flat_map(|(k, c)| call_events(stamp, k, c))
            .collect(),
    };
    prelude.push(event("ping", &json!({ "type": "ping" })));
    closing.push(event(
        "message_delta",
        &json!({ "type": "message_delta",
                 "delta": { "stop_reason": stop_label(reply.finish), "stop_sequence": null },
                 "usage": { "output_tokens": reply.output_tokens } }),
    ));
    StreamShape {
        prelude,
        tokens,
        closing,
        terminator: Some(event("message_stop", &json!({ "type": "message_stop" }))),
    }
}
