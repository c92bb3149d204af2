//! Anthropic's `POST /v1/messages`: `x-api-key` and `anthropic-version` headers, JSON or a
//! named-event stream.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use switchyard_core::dialect::SseEvent;
use switchyard_core::dialect::anthropic::{
    ContentBlock, ErrorBody, MessageDeltaBody, MessageResponse, MessageUsage, MessagesRequest,
    StreamEvent, stop_label,
};
use switchyard_core::request::Usage;

use super::Shared;
use super::respond::{self, Parsed, Stamp, StreamShape};
use crate::model::Reply;

fn reject(shared: &Shared, status: u16, kind: &str, message: &str) -> Response {
    shared.count_status(status);
    respond::json(
        status,
        &serde_json::to_value(ErrorBody::new(kind, message)).unwrap_or(Value::Null),
    )
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
    for field in ["model", "max_tokens", "messages"] {
        if value.get(field).is_none() {
            return reject(
                &shared,
                400,
                "invalid_request_error",
                &format!("{field}: Field required"),
            );
        }
    }
    let request: MessagesRequest = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            return reject(
                &shared,
                400,
                "invalid_request_error",
                &format!("There was an issue with your request body: {e}"),
            );
        }
    };
    // Only the last message, if the assistant's, may be empty (a prefill to continue).
    let last = request.messages.len().saturating_sub(1);
    if let Some(i) = request.messages.iter().enumerate().position(|(i, m)| {
        let empty = match &m.content {
            Value::String(s) => s.is_empty(),
            Value::Array(blocks) => blocks.is_empty(),
            _ => false,
        };
        empty && !(i == last && m.role == "assistant")
    }) {
        return reject(
            &shared,
            400,
            "invalid_request_error",
            &format!(
                "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            ),
        );
    }
    if shared.profile.model(&request.model).is_none() {
        return reject(
            &shared,
            404,
            "not_found_error",
            &format!("model: {}", request.model),
        );
    }
    let normalized = request.to_normalized();
    let parsed = Parsed {
        model: request.model,
        prompt_tokens: normalized.estimated_prompt_tokens,
        max_tokens: normalized.max_tokens_or_zero(),
        stream: normalized.stream,
        include_usage: false,
    };
    respond::answer(&shared, parsed).await
}

fn id(stamp: Stamp) -> String {
    format!("msg_{:024x}", stamp.id)
}

fn usage(reply: &Reply) -> Usage {
    Usage {
        prompt_tokens: reply.prompt_tokens,
        completion_tokens: reply.output_tokens,
        cached_prompt_tokens: 0,
    }
}

pub(super) fn reply(reply: &Reply, parsed: &Parsed, stamp: Stamp, text: String) -> String {
    let body = MessageResponse::new(id(stamp), &parsed.model, text, reply.finish, usage(reply));
    serde_json::to_string(&body).unwrap_or_default()
}

fn event(e: &StreamEvent) -> String {
    SseEvent {
        event: Some(e.name()),
        data: serde_json::to_string(e).unwrap_or_default(),
    }
    .to_wire()
}

pub(super) fn stream_shape(reply: &Reply, parsed: &Parsed, stamp: Stamp) -> StreamShape {
    let mut start = MessageResponse::new(
        id(stamp),
        &parsed.model,
        String::new(),
        reply.finish,
        Usage {
            prompt_tokens: reply.prompt_tokens,
            completion_tokens: 1,
            cached_prompt_tokens: 0,
        },
    );
    start.content.clear();
    start.stop_reason = None;
    let prelude = vec![
        event(&StreamEvent::MessageStart { message: start }),
        event(&StreamEvent::ContentBlockStart {
            index: 0,
            content_block: ContentBlock {
                kind: "text".to_owned(),
                text: String::new(),
            },
        }),
        event(&StreamEvent::Ping),
    ];
    let tokens = crate::text::tokens(reply.text_seed, reply.output_tokens)
        .enumerate()
        .map(|(i, w)| event(&StreamEvent::text_delta(crate::text::piece(i as u32, w))))
        .collect();
    let closing = vec![
        event(&StreamEvent::ContentBlockStop { index: 0 }),
        event(&StreamEvent::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(stop_label(reply.finish).to_owned()),
                stop_sequence: None,
            },
            usage: MessageUsage {
                input_tokens: 0,
                output_tokens: reply.output_tokens,
            },
        }),
    ];
    StreamShape {
        prelude,
        tokens,
        closing,
        terminator: Some(event(&StreamEvent::MessageStop)),
    }
}
