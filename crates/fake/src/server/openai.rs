//! OpenAI's endpoints: `POST /v1/chat/completions` and `GET /v1/models`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_core::dialect::openai::{DONE, ModelEntry, ModelList};
use switchyard_core::dialect::{Dialect, SseEvent};
use switchyard_core::request::FinishReason;

use super::Shared;
use super::content::{Call, Content};
use super::request::{self, Asked, Refusal};
use super::respond::{self, Stamp, StreamShape};
use crate::model::Reply;

/// An error in OpenAI's format, counted.
pub(super) fn reject(
    shared: &Shared,
    status: u16,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    shared.count_status(status);
    let body = json!({ "error": {
        "message": message, "type": "invalid_request_error", "param": param, "code": code,
    } });
    respond::json(status, &body)
}

/// A refusal in OpenAI's format.
pub(super) fn refuse(shared: &Shared, r: &Refusal) -> Response {
    reject(shared, r.status, &r.message, r.param.as_deref(), r.code)
}

/// Checks the body the way OpenAI does, before the model is looked up (see
/// [`request::openai`]). `Err` is the response to send.
#[expect(
    clippy::result_large_err,
    reason = "the error is the response itself, built once per bad request"
)]
pub(super) fn parse(
    shared: &Shared,
    body: &[u8],
    model_override: Option<&str>,
) -> Result<Asked, Response> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| reject(shared, 400, request::openai::NOT_JSON, None, None))?;
    request::openai::read(&value, model_override, shared.options()).map_err(|r| refuse(shared, &r))
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
    let asked = match parse(&shared, &body, None) {
        Ok(a) => a,
        Err(response) => return response,
    };
    if shared.profile.model(&asked.model).is_none() {
        let message = format!(
            "The model `{}` does not exist or you do not have access to it.",
            asked.model
        );
        return reject(&shared, 404, &message, None, Some("model_not_found"));
    }
    respond::answer(&shared, asked).await
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

fn call_id(stamp: Stamp, k: usize) -> String {
    format!("call_{:016x}{k:08x}", stamp.id)
}

fn usage(reply: &Reply) -> Value {
    let mut usage = json!({
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.prompt_tokens.saturating_add(reply.output_tokens),
    });
    if reply.cached_prompt_tokens > 0 {
        usage["prompt_tokens_details"] = json!({ "cached_tokens": reply.cached_prompt_tokens });
    }
    usage
}

fn finish_label(finish: FinishReason) -> &'static str {
    finish.label()
}

/// A text token's log probability, as OpenAI writes it (`logprobs.content[]`): made up from
/// the token alone (no RNG). `top` alternatives, as OpenAI gives them: the token itself
/// first, then less likely ones (`alt1`, `alt2`, ...), each one log unit below the last.
fn token_logprob(token: &str, top: u8) -> Value {
    // `0.0 -`, not a negation: a token of no weight is `0.0`, never `-0.0`.
    let logprob = 0.0 - f64::from(u8::try_from(token.len() % 8).unwrap_or(0)) / 8.0;
    let entry = |token: &str, logprob: f64| json!({ "token": token, "logprob": logprob, "bytes": token.as_bytes() });
    let alternatives = (0..top)
        .map(|k| match k {
            0 => entry(token, logprob),
            k => entry(&format!("alt{k}"), logprob - f64::from(k)),
        })
        .collect();
    let mut first = entry(token, logprob);
    first["top_logprobs"] = Value::Array(alternatives);
    first
}

/// A choice's `logprobs`: `null` unless asked, else its text tokens'.
fn choice_logprobs(asked: &Asked, tokens: &[String]) -> Value {
    match asked.logprobs {
        None => Value::Null,
        Some(top) => json!({
            "content": tokens.iter().map(|t| token_logprob(t, top)).collect::<Vec<_>>(),
            "refusal": null,
        }),
    }
}

/// A whole reply (`chat.completion`).
pub(super) fn reply(reply: &Reply, asked: &Asked, stamp: Stamp, content: &Content) -> Value {
    let logprobs = match content {
        Content::Text { pieces, .. } => choice_logprobs(asked, pieces),
        Content::Calls(_) => choice_logprobs(asked, &[]),
    };
    let message = match content {
        Content::Text { text, .. } => {
            json!({ "role": "assistant", "content": text, "refusal": null })
        }
        Content::Calls(calls) => {
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    json!({ "id": call_id(stamp, k), "type": "function",
                            "function": { "name": c.name, "arguments": c.arguments_text() } })
                })
                .collect();
            json!({ "role": "assistant", "content": null, "refusal": null, "tool_calls": calls })
        }
    };
    json!({
        "id": id(stamp),
        "object": "chat.completion",
        "created": stamp.created,
        "model": asked.model,
        "choices": [{ "index": 0, "message": message, "logprobs": logprobs,
                      "finish_reason": finish_label(reply.finish) }],
        "usage": usage(reply),
        "system_fingerprint": "fp_switchyard",
    })
}

/// One `chat.completion.chunk` event.
struct Chunks<'a> {
    id: String,
    created: u64,
    model: &'a str,
    with_usage: bool,
}

impl Chunks<'_> {
    fn event(&self, delta: Value, finish: Option<&str>) -> String {
        self.event_with(delta, finish, Value::Null)
    }

    fn event_with(&self, delta: Value, finish: Option<&str>, logprobs: Value) -> String {
        let mut chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": "fp_switchyard",
            "choices": [{ "index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish }],
        });
        if self.with_usage {
            chunk["usage"] = Value::Null;
        }
        SseEvent::data(chunk.to_string()).to_wire()
    }

    fn usage(&self, reply: &Reply) -> String {
        let chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": "fp_switchyard",
            "choices": [], "usage": usage(reply),
        });
        SseEvent::data(chunk.to_string()).to_wire()
    }
}

/// A call's events: its head (index, id, name, empty arguments), then its argument pieces.
fn call_events(chunks: &Chunks<'_>, stamp: Stamp, k: usize, call: &Call) -> Vec<String> {
    let mut out = Vec::with_capacity(call.pieces.len() + 1);
    out.push(chunks.event(
        json!({ "tool_calls": [{ "index": k, "id": call_id(stamp, k), "type": "function",
                                 "function": { "name": call.name, "arguments": "" } }] }),
        None,
    ));
    for piece in &call.pieces {
        out.push(chunks.event(
            json!({ "tool_calls": [{ "index": k, "function": { "arguments": piece } }] }),
            None,
        ));
    }
    out
}

pub(super) fn stream_shape(
    reply: &Reply,
    asked: &Asked,
    stamp: Stamp,
    content: &Content,
    dialect: Dialect,
) -> StreamShape {
    let chunks = Chunks {
        id: id(stamp),
        created: stamp.created,
        model: asked.model.as_str(),
        with_usage: asked.include_usage,
    };
    let mut prelude = Vec::new();
    if dialect == Dialect::AzureOpenai {
        // Azure opens with the prompt's filter results and no choices.
        let first = json!({ "id": "", "object": "", "created": 0, "model": "", "choices": [],
            "prompt_filter_results": switchyard_core::dialect::azure_openai::prompt_filter_results() });
        prelude.push(SseEvent::data(first.to_string()).to_wire());
    }
    let tokens = match content {
        Content::Text { pieces, .. } => {
            prelude.push(chunks.event(json!({ "role": "assistant", "content": "" }), None));
            pieces
                .iter()
                .map(|p| {
                    let logprobs = choice_logprobs(asked, std::slice::from_ref(p));
                    chunks.event_with(json!({ "content": p }), None, logprobs)
                })
                .collect()
        }
        Content::Calls(calls) => {
            prelude.push(chunks.event(json!({ "role": "assistant", "content": null }), None));
            calls
                .iter()
                .enumerate()
                .flat_map(|(k, c)| call_events(&chunks, stamp, k, c))
                .collect()
        }
    };
    let mut closing = vec![chunks.event(json!({}), Some(finish_label(reply.finish)))];
    if asked.include_usage {
        closing.push(chunks.usage(reply));
    }
    StreamShape {
        prelude,
        tokens,
        closing,
        terminator: Some(SseEvent::data(DONE.to_owned()).to_wire()),
    }
}
