//! Gemini's `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`, and the same under `/v1` (the stable API version, which
//! newer google-genai SDKs call); the key in `x-goog-api-key` or `?key=`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_core::dialect::SseEvent;
use switchyard_core::dialect::gemini::{error_for_kind, finish_label};
use switchyard_core::outcome::ErrorKind;

use super::Shared;
use super::content::Content;
use super::request::{self, Asked};
use super::respond::{self, Stamp, StreamShape};
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
    let asked = match request::gemini::read(&value, model, stream, shared.options()) {
        Ok(a) => a,
        Err(r) => return reject(&shared, r.status, &r.message, "INVALID_ARGUMENT"),
    };
    if shared.profile.model(model).is_none() {
        let message = format!(
            "models/{model} is not found for API version {version}, or is not supported for generateContent."
        );
        return reject(&shared, 404, &message, "NOT_FOUND");
    }
    respond::answer(&shared, asked).await
}

fn id(stamp: Stamp) -> String {
    format!("{:022x}", stamp.id)
}

fn usage(reply: &Reply) -> Value {
    let mut usage = json!({
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": reply.output_tokens,
        "totalTokenCount": reply.prompt_tokens.saturating_add(reply.output_tokens),
    });
    if reply.cached_prompt_tokens > 0 {
        // Part of `promptTokenCount`, as Gemini counts it.
        usage["cachedContentTokenCount"] = json!(reply.cached_prompt_tokens);
    }
    usage
}

/// A response (or one stream chunk) with `parts`; the finish reason and usage on the last.
fn response(asked: &Asked, stamp: Stamp, parts: Value, last: Option<&Reply>) -> Value {
    let mut candidate = json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
    let mut body =
        json!({ "candidates": [], "modelVersion": asked.model, "responseId": id(stamp) });
    if let Some(reply) = last {
        candidate["finishReason"] = json!(finish_label(reply.finish));
        body["usageMetadata"] = usage(reply);
    }
    body["candidates"] = json!([candidate]);
    body
}

fn call_part(name: &str, args: &Value) -> Value {
    json!({ "functionCall": { "name": name, "args": args } })
}

/// A whole reply.
pub(super) fn reply(reply: &Reply, asked: &Asked, stamp: Stamp, content: &Content) -> Value {
    let parts = match content {
        Content::Text { text, .. } => json!([{ "text": text }]),
        Content::Calls(calls) => Value::Array(
            calls
                .iter()
                .map(|c| call_part(&c.name, &c.arguments))
                .collect(),
        ),
    };
    response(asked, stamp, parts, Some(reply))
}

fn event(body: &Value) -> String {
    SseEvent::data(body.to_string()).to_wire()
}

/// Gemini has no terminating event: the last chunk carries `finishReason` and the usage, so
/// `missing_done` drops that chunk. A call arrives whole, in one chunk.
pub(super) fn stream_shape(
    reply: &Reply,
    asked: &Asked,
    stamp: Stamp,
    content: &Content,
) -> StreamShape {
    let tokens = match content {
        Content::Text { pieces, .. } => pieces
            .iter()
            .map(|p| event(&response(asked, stamp, json!([{ "text": p }]), None)))
            .collect(),
        Content::Calls(calls) => calls
            .iter()
            .map(|c| {
                event(&response(
                    asked,
                    stamp,
                    json!([call_part(&c.name, &c.arguments)]),
                    None,
                ))
            })
            .collect(),
    };
    let last = response(asked, stamp, json!([{ "text": "" }]), Some(reply));
    StreamShape {
        prelude: Vec::new(),
        tokens,
        closing: Vec::new(),
        terminator: Some(event(&last)),
    }
}
