//! OpenAI Chat Completions requests, both ways: a client's body into the normalized
//! [`Request`] (`try_to_normalized`, which refuses what it cannot represent, naming the field),
//! and a normalized request onto the wire (`from_normalized`, which refuses what OpenAI cannot
//! express — see [`check`]).
//!
//! Also the same-dialect fast path: [`pass_through`] rewrites a client's own body with only
//! `model` (and, for a stream, `stream_options.include_usage`) changed, every other byte kept.

mod from_client;
mod pass_through;
mod quick;
mod to_wire;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dialect::{Dialect, Unsupported};
use crate::request::{Image, ImageSource, Message, Part, Request, Role, Tool};

pub use from_client::{DECIMAL_RANGES, MAX_CHOICES};
pub use pass_through::{Parsed, parse, pass_through, pass_through_at, unmodelled_fields};

/// A Chat Completions request body, both as a client sends it to the gateway and as the live
/// driver sends it to an OpenAI target. Fields it does not model are not kept here (see
/// [`unmodelled_fields`] and [`pass_through`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// From a client: the route (or target) name. To a vendor: the target's model.
    pub model: String,
    /// The conversation, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Deprecated by OpenAI for `max_completion_tokens`; read, never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The cap on output tokens; wins over `max_tokens` when a client sends both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Sampling temperature (OpenAI: 0–2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// How many choices to generate, 1 to 128 (a value outside is refused, as OpenAI refuses
    /// it); default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// A string or an array of strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Value>,
    /// Best-effort deterministic sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Penalty on tokens already present (OpenAI: -2–2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Penalty by how often a token has appeared (OpenAI: -2–2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// The client's end-user id, for the vendor's abuse monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Stream the reply as server-sent events; absent means no.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Stream settings; the live driver always sends `include_usage: true` on a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// `[{"type":"function","function":{name, description?, parameters?, strict?}}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDef>>,
    /// `"auto"`, `"none"`, `"required"` or `{"type":"function","function":{"name"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Whether the model may call several tools in one turn; absent: the vendor's default
    /// (yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// `{"type":"text"|"json_object"}` or `{"type":"json_schema","json_schema":{...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
}

/// A streamed request's `stream_options`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with the usage (and `"usage": null` on every chunk before it).
    /// `null` is its absence, as OpenAI reads it.
    #[serde(default, deserialize_with = "null_as_false")]
    pub include_usage: bool,
}

/// A boolean that may be `null` (read as `false`).
fn null_as_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// One message of [`ChatRequest::messages`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant`, `tool` or `function` (see [`parse_role`]).
    pub role: String,
    /// A string, an array of content parts (`text`, `image_url`), or `null` (an assistant
    /// message that only calls tools).
    #[serde(default)]
    pub content: Option<Value>,
    /// A participant's name, to tell apart speakers of the same role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An assistant's calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<WireToolCall>>,
    /// A `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A tool the model may call. Only `function` tools normalize; any other type is refused.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// The tool's type: `function` (a `custom` tool is refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function; required for a `function` tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
}

/// A function tool's declaration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its arguments, as a JSON Schema object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Whether the arguments must follow `parameters` exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// A tool call in an assistant message of a request (the conversation so far).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WireToolCall {
    /// The call's id, which a later `tool` message answers.
    pub id: String,
    /// `function` (any other type is refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function called.
    pub function: WireFunctionCall,
}

/// The function of a [`WireToolCall`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WireFunctionCall {
    /// The tool's name.
    pub name: String,
    /// JSON text (a model may write invalid JSON).
    #[serde(default)]
    pub arguments: String,
}

/// A request body Switchyard cannot represent faithfully (a 400 for the client, naming
/// `param`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// The field, in OpenAI's spelling (`messages[2].role`, `tool_choice`).
    pub param: String,
    /// What is wrong with it, for the client.
    pub message: String,
    /// OpenAI's `code` for it: `invalid_value`, `integer_below_min_value` and
    /// `integer_above_max_value` for a count out of its range, `decimal_below_min_value` and
    /// `decimal_above_max_value` for a sampling field out of its, `invalid_type` for a `stop`
    /// of the wrong JSON type, `empty_array` for no message, `missing_required_parameter` for
    /// a message without content.
    pub code: &'static str,
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> RequestError {
    RequestError {
        param: param.into(),
        message: message.into(),
        code: "invalid_value",
    }
}

/// The text of a message's content, whichever form it takes.
pub fn content_text(content: &Option<Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// `role` as OpenAI spells it (a system message is `system`, never `developer`).
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// A role OpenAI accepts (`developer` is a system message; `function` is the deprecated form
/// of `tool`).
pub fn parse_role(name: &str) -> Option<Role> {
    match name {
        "system" | "developer" => Some(Role::System),
        "user" => Some(Role::User),
        "assistant" => Some(Role::Assistant),
        "tool" | "function" => Some(Role::Tool),
        _ => None,
    }
}

/// An OpenAI image URL: a `data:<type>;base64,<data>` URL split, anything else a URL.
pub fn image_source(url: &str) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((media_type, data)) = rest.split_once(";base64,")
    {
        return ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        };
    }
    ImageSource::Url(url.to_owned())
}

fn image_url(image: &Image) -> Value {
    let url = match &image.source {
        ImageSource::Url(u) => u.clone(),
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
    };
    let mut inner = json!({ "url": url });
    if let (Some(detail), Some(map)) = (&image.detail, inner.as_object_mut()) {
        map.insert("detail".to_owned(), Value::String(detail.clone()));
    }
    json!({ "type": "image_url", "image_url": inner })
}

/// Prompt-token estimate: four characters a token for every message (plus 4 a message for
/// its framing) and for every tool's declaration (name, description, schema).
pub fn estimate_prompt_tokens(messages: &[Message], tools: &[Tool]) -> u32 {
    let messages = messages
        .iter()
        .map(|m| super::super::estimate_tokens_from_chars(m.chars()).saturating_add(4))
        .fold(0u32, u32::saturating_add);
    let tools = tools
        .iter()
        .map(|t| {
            let schema = t
                .parameters
                .as_ref()
                .map_or(0, |p| p.to_string().chars().count());
            let chars = t
                .name
                .len()
                .saturating_add(t.description.as_ref().map_or(0, |d| d.chars().count()))
                .saturating_add(schema);
            super::super::estimate_tokens_from_chars(chars)
        })
        .fold(0u32, u32::saturating_add);
    messages.saturating_add(tools)
}

/// The most stop sequences OpenAI (and Azure OpenAI) take.
pub const MAX_STOP_SEQUENCES: usize = 4;

/// What OpenAI (and Azure OpenAI) cannot express: `top_k`; more than
/// [`MAX_STOP_SEQUENCES`] stop sequences; a failed tool result (no `is_error`); images
/// outside user messages; tool calls outside assistant messages; tool messages with anything
/// but results.
pub fn check(dialect: Dialect, request: &Request) -> Result<(), Unsupported> {
    let refuse = |field: String, reason: &str| Unsupported {
        field,
        dialect,
        reason: reason.to_owned(),
    };
    for (i, m) in request.messages.iter().enumerate() {
        for (j, p) in m.content.iter().enumerate() {
            let at = || format!("messages[{i}].content[{j}]");
            match p {
                Part::Image(_) if m.role != Role::User => {
                    return Err(refuse(at(), "images are accepted in user messages only"));
                }
                Part::ToolCall(_) if m.role != Role::Assistant => {
                    return Err(refuse(at(), "tool calls belong in assistant messages"));
                }
                Part::ToolResult(r) if r.is_error => {
                    return Err(refuse(
                        format!("{}.is_error", at()),
                        "a tool message cannot mark its result as an error",
                    ));
                }
                Part::ToolResult(_) if !matches!(m.role, Role::Tool | Role::User) => {
                    return Err(refuse(at(), "tool results belong in tool messages"));
                }
                Part::Text(_) | Part::Image(_) if m.role == Role::Tool => {
                    return Err(refuse(at(), "a tool message carries only its result"));
                }
                _ => {}
            }
        }
    }
    if request.sampling.top_k.is_some() {
        return Err(refuse("top_k".to_owned(), "there is no top_k"));
    }
    if request.sampling.stop.len() > MAX_STOP_SEQUENCES {
        return Err(refuse(
            "stop".to_owned(),
            &format!("at most {MAX_STOP_SEQUENCES} stop sequences are accepted"),
        ));
    }
    Ok(())
}
