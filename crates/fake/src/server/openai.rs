//! OpenAI's endpoints: `POST /v1/chat/completions` and `GET /v1/models`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_core::dialect::openai::{
    ChatCompletion, ChatCompletionChunk, ChatRequest, DONE, ErrorBody, ModelEntry, ModelList,
};
use switchyard_core::dialect::{Dialect, SseEvent};
use switchyard_core::request::Usage;

use super::Shared;
use super::respond::{self, Parsed, Stamp, StreamShape};
use crate::model::Reply;

/// The message roles OpenAI takes (`function` is deprecated, still accepted).
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// An error in OpenAI's format, counted.
pub(super) fn reject(
    shared: &Shared,
    status: u16,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    shared.count_status(status);
    let body = ErrorBody::new(message, "invalid_request_error", param, code);
    respond::json(status, &serde_json::to_value(body).unwrap_or(Value::Null))
}

/// Checks the body the way OpenAI does, before the model is looked up: required fields, a
/// non-empty `messages`, known roles. `Err` is the response to send.
#[expect(
    clippy::result_large_err,
    reason = "the error is the response itself, built once per bad request"
)]
pub(super) fn parse(
    shared: &Shared,
    body: &[u8],
    model_override: Option<&str>,
) -> Result<(ChatRequest, Parsed), Response> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        reject(shared, 400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", None, None)
    })?;
    let required: &[&str] = if model_override.is_some() {
        &["messages"]
    } else {
        &["model", "messages"]
    };
    for field in required {
        if value.get(field).is_none() {
            return Err(reject(
                shared,
                400,
                &format!("Missing required parameter: '{field}'."),
                Some(field),
                Some("missing_required_parameter"),
            ));
        }
    }
    let mut value = value;
    if let Some(model) = model_override {
        value["model"] = Value::String(model.to_owned());
    }
    let request: ChatRequest = serde_json::from_value(value).map_err(|e| {
        reject(
            shared,
            400,
            &format!("Invalid request: {e}"),
            None,
            Some("invalid_value"),
        )
    })?;
    if request.messages.is_empty() {
        return Err(reject(
            shared,
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    if let Some((i, m)) = request
        .messages
        .iter()
        .enumerate()
        .find(|(_, m)| !ROLES.contains(&m.role.as_str()))
    {
        return Err(reject(
            shared,
            400,
            &format!(
                "Invalid value: '{}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.",
                m.role
            ),
            Some(&format!("messages[{i}].role")),
            Some("invalid_value"),
        ));
    }
    let normalized = request.to_normalized();
    let parsed = Parsed {
        model: request.model.clone(),
        prompt_tokens: normalized.estimated_prompt_tokens,
        max_tokens: normalized.max_tokens_or_zero(),
        stream: normalized.stream,
        include_usage: request.stream_options.is_some_and(|o| o.include_usage),
    };
    Ok((request, parsed))
}

pub(super) async fn chat(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match key {
        None => {
            return reject(
                &shared,
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                None,
                None,
            );
        }
        Some(k) if !shared.profile.accepts(k.trim()) => {
            return reject(
                &shared,
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                None,
                Some("invalid_api_key"),
            );
        }
        Some(_) => {}
    }
    let (request, parsed) = match parse(&shared, &body, None) {
        Ok(p) => p,
        Err(response) => return response,
    };
    if shared.profile.model(&request.model).is_none() {
        let message = format!(
            "The model `{}` does not exist or you do not have access to it.",
            request.model
        );
        return reject(&shared, 404, &message, None, Some("model_not_found"));
    }
    respond::answer(&shared, parsed).await
}

pub(super) async fn models(State(shared): State<Arc<Shared>>) -> Response {
    let list = ModelList {
        object: "list".to_owned(),
        data: shared
            .profile
            .models
            .iter()
            .map(|m| ModelEntry {
                id: m.name.clone(),
                object: "model".to_owned(),
                created: 1_700_000_000,
                owned_by: "switchyard".to_owned(),
            })
            .collect(),
    };
    respond::json(200, &serde_json::to_value(list).unwrap_or(Value::Null))
}

fn id(stamp: Stamp) -> String {
    format!("chatcmpl-{:024x}", stamp.id)
}

fn usage(reply: &Reply) -> Usage {
    Usage {
        prompt_tokens: reply.prompt_tokens,
        completion_tokens: reply.output_tokens,
        cached_prompt_tokens: 0,
    }
}

pub(super) fn reply(reply: &Reply, parsed: &Parsed, stamp: Stamp, text: String) -> String {
    let body = ChatCompletion::new(
        id(stamp),
        stamp.created,
        &parsed.model,
        text,
        reply.finish,
        usage(reply),
    );
    serde_json::to_string(&body).unwrap_or_default()
}

fn event<T: serde::Serialize>(chunk: &T) -> String {
    SseEvent::data(serde_json::to_string(chunk).unwrap_or_default()).to_wire()
}

pub(super) fn stream_shape(
    reply: &Reply,
    parsed: &Parsed,
    stamp: Stamp,
    dialect: Dialect,
) -> StreamShape {
    let (id, model, created, with_usage) = (
        id(stamp),
        parsed.model.as_str(),
        stamp.created,
        parsed.include_usage,
    );
    let mut prelude = Vec::new();
    if dialect == Dialect::AzureOpenai {
        // Azure opens with the prompt's filter results and no choices.
        let first = json!({ "id": "", "object": "", "created": 0, "model": "", "choices": [],
            "prompt_filter_results": switchyard_core::dialect::azure_openai::prompt_filter_results() });
        prelude.push(SseEvent::data(first.to_string()).to_wire());
    }
    prelude.push(event(&ChatCompletionChunk::delta(
        &id,
        created,
        model,
        true,
        Some(String::new()),
        None,
        with_usage,
    )));
    let tokens = crate::text::tokens(reply.text_seed, reply.output_tokens)
        .enumerate()
        .map(|(i, w)| {
            let piece = crate::text::piece(i as u32, w);
            event(&ChatCompletionChunk::delta(
                &id,
                created,
                model,
                false,
                Some(piece),
                None,
                with_usage,
            ))
        })
        .collect();
    let mut closing = vec![event(&ChatCompletionChunk::delta(
        &id,
        created,
        model,
        false,
        None,
        Some(reply.finish),
        with_usage,
    ))];
    if with_usage {
        closing.push(event(&ChatCompletionChunk::usage(
            &id,
            created,
            model,
            usage(reply),
        )));
    }
    StreamShape {
        prelude,
        tokens,
        closing,
        terminator: Some(SseEvent::data(DONE.to_owned()).to_wire()),
    }
}
