//! Gemini's `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`, and the same under `/v1` (the stable API version, which
//! newer google-genai SDKs call); the key in `x-goog-api-key` or `?key=`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use switchyard_core::dialect::SseEvent;
use switchyard_core::dialect::gemini::{GenerateRequest, GenerateResponse, error_for_kind};
use switchyard_core::outcome::ErrorKind;
use switchyard_core::request::Usage;

use super::Shared;
use super::respond::{self, Parsed, Stamp, StreamShape};
use crate::model::Reply;

fn reject(shared: &Shared, status: u16, message: &str, grpc: &str) -> Response {
    shared.count_status(status);
    let body =
        serde_json::json!({ "error": { "code": status, "message": message, "status": grpc } });
    respond::json(status, &body)
}

pub(super) async fn generate(
    State(shared): State<Arc<Shared>>,
    Path(call): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let version = if uri.path().starts_with("/v1beta/") {
        "v1beta"
    } else {
        "v1"
    };
    let Some((model, method)) = call.rsplit_once(':') else {
        return reject(&shared, 404, "Method not found.", "NOT_FOUND");
    };
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return reject(&shared, 404, "Method not found.", "NOT_FOUND"),
    };
    let key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .or(query.get("key").map(String::as_str));
    match key {
        None => {
            return reject(
                &shared,
                403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                "PERMISSION_DENIED",
            );
        }
        Some(k) if !shared.profile.accepts(k.trim()) => {
            let (status, body) = error_for_kind(ErrorKind::Unauthorized, None);
            shared.count_status(status);
            return respond::json(status, &body);
        }
        Some(_) => {}
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return reject(
            &shared,
            400,
            "Invalid JSON payload received.",
            "INVALID_ARGUMENT",
        );
    };
    // An empty list is "not specified" too (proto3 has no empty repeated field).
    if value
        .get("contents")
        .is_none_or(|c| c.as_array().is_some_and(Vec::is_empty))
    {
        return reject(
            &shared,
            400,
            "* GenerateContentRequest.contents: contents is not specified\n",
            "INVALID_ARGUMENT",
        );
    }
    let request: GenerateRequest = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            return reject(
                &shared,
                400,
                &format!("Invalid JSON payload received. {e}"),
                "INVALID_ARGUMENT",
            );
        }
    };
    if let Some(i) = request.contents.iter().position(|c| c.parts.is_empty()) {
        return reject(
            &shared,
            400,
            &format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
            ),
            "INVALID_ARGUMENT",
        );
    }
    if shared.profile.model(model).is_none() {
        let message = format!(
            "models/{model} is not found for API version {version}, or is not supported for generateContent."
        );
        return reject(&shared, 404, &message, "NOT_FOUND");
    }
    let normalized = request.to_normalized(model, stream);
    let parsed = Parsed {
        model: model.to_owned(),
        prompt_tokens: normalized.estimated_prompt_tokens,
        max_tokens: normalized.max_tokens_or_zero(),
        stream,
        include_usage: false,
    };
    respond::answer(&shared, parsed).await
}

fn id(stamp: Stamp) -> String {
    format!("{:022x}", stamp.id)
}

fn usage(reply: &Reply) -> Usage {
    Usage {
        prompt_tokens: reply.prompt_tokens,
        completion_tokens: reply.output_tokens,
        cached_prompt_tokens: 0,
    }
}

pub(super) fn reply(reply: &Reply, parsed: &Parsed, stamp: Stamp, text: String) -> String {
    let body = GenerateResponse::new(
        &parsed.model,
        &id(stamp),
        text,
        Some(reply.finish),
        Some(usage(reply)),
    );
    serde_json::to_string(&body).unwrap_or_default()
}

fn event(r: &GenerateResponse) -> String {
    SseEvent::data(serde_json::to_string(r).unwrap_or_default()).to_wire()
}

/// Gemini has no terminating event: the last chunk carries `finishReason` and the usage, so
/// `missing_done` drops that chunk.
pub(super) fn stream_shape(reply: &Reply, parsed: &Parsed, stamp: Stamp) -> StreamShape {
    let id = id(stamp);
    let tokens = crate::text::tokens(reply.text_seed, reply.output_tokens)
        .enumerate()
        .map(|(i, w)| {
            event(&GenerateResponse::new(
                &parsed.model,
                &id,
                crate::text::piece(i as u32, w),
                None,
                None,
            ))
        })
        .collect();
    let last = GenerateResponse::new(
        &parsed.model,
        &id,
        String::new(),
        Some(reply.finish),
        Some(usage(reply)),
    );
    StreamShape {
        prelude: Vec::new(),
        tokens,
        closing: Vec::new(),
        terminator: Some(event(&last)),
    }
}
