//! Anthropic Messages requests: a normalized [`Request`] onto the wire (`from_normalized`,
//! refusing what Anthropic cannot express — see [`check`]), and a body back to a (text-only)
//! normalized request for the fakes.
//!
//! Translation rules (from the vendors' documented request shapes): leading system messages become `system`;
//! same-role runs merge (tool results are user turns, their blocks first); tool calls become
//! `tool_use` blocks with their arguments parsed; images become `image` blocks (base64 of
//! the four accepted types, or a URL); `json_schema` becomes `output_config.format`; `user`
//! becomes `metadata.user_id`; `max_tokens`, which Anthropic requires, falls back to the
//! target's default.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::dialect::{Dialect, Unsupported};
use crate::request::{
    Capabilities, Image, ImageSource, Message, Part, Request, ResponseFormat, Role, ToolCall,
    ToolChoice,
};

/// A Messages request body, as the live driver sends it (and the fake reads it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    /// The target's model.
    pub model: String,
    /// The cap on output tokens, which Anthropic requires: the request's, else the target's
    /// `default_max_tokens`.
    pub max_tokens: u32,
    /// The turns, `user` and `assistant` alternating (same-role runs merged), none empty.
    pub messages: Vec<InputMessage>,
    /// A string or an array of text blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Value>,
    /// Sequences that end the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Sampling temperature (Anthropic: 0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sample among the `top_k` likeliest tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Stream the reply as server-sent events; sent only as `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// `[{"name", "description"?, "input_schema", "strict"?}]` (an object schema with no
    /// properties when the tool declares none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    /// `{"type":"auto"|"any"|"none"}` or `{"type":"tool","name"}`, with
    /// `disable_parallel_tool_use` (not on `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// `{"format":{"type":"json_schema","schema":{...}}}` (structured output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<Value>,
    /// `{"user_id"}`: the client's end-user id (OpenAI's `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// One turn of [`MessagesRequest::messages`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputMessage {
    /// `user` (tool results included) or `assistant`.
    pub role: String,
    /// A string or an array of content blocks.
    pub content: Value,
}

fn blocks_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// The media types Anthropic accepts for base64 images.
pub const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

fn refuse(field: String, reason: &str) -> Unsupported {
    Unsupported {
        field,
        dialect: Dialect::Anthropic,
        reason: reason.to_owned(),
    }
}

/// A tool call's arguments as the JSON object `tool_use.input` needs (empty text is `{}`).
fn tool_input(call: &ToolCall, field: impl FnOnce() -> String) -> Result<Value, Unsupported> {
    if call.arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(refuse(
            format!("{}.arguments", field()),
            "tool call arguments must be a JSON object to become a tool_use input",
        )),
    }
}

fn image_block(image: &Image) -> Value {
    match &image.source {
        ImageSource::Base64 { media_type, data } => json!({
            "type": "image",
            "source": { "type": "base64", "media_type": media_type, "data": data },
        }),
        ImageSource::Url(url) => json!({
            "type": "image",
            "source": { "type": "url", "url": url },
        }),
    }
}

/// What Anthropic cannot express: a system message after the conversation started; a
/// participant `name`; images outside user turns, of another type than JPEG, PNG, GIF or
/// WebP, or with a `detail` other than `auto`; tool-call arguments that are not a JSON
/// object; `json_object`; a temperature above 1; `seed`; penalties; `n` above 1.
pub fn check(request: &Request) -> Result<(), Unsupported> {
    let lead = request.leading_system_messages();
    for (i, m) in request.messages.iter().enumerate() {
        if m.role == Role::System && i >= lead {
            return Err(refuse(
                format!("messages[{i}]"),
                "a system message after the conversation started has no place (only leading system messages become `system`)",
            ));
        }
        if m.name.is_some() {
            return Err(refuse(
                format!("messages[{i}].name"),
                "messages have no participant name",
            ));
        }
        for (j, p) in m.content.iter().enumerate() {
            let at = || format!("messages[{i}].content[{j}]");
            match p {
                Part::Image(_) if m.role != Role::User => {
                    return Err(refuse(at(), "images are accepted in user turns only"));
                }
                Part::Image(image) => {
                    if let ImageSource::Base64 { media_type, .. } = &image.source
                        && !IMAGE_TYPES.contains(&media_type.as_str())
                    {
                        return Err(refuse(
                            format!("{}.media_type", at()),
                            "only image/jpeg, image/png, image/gif and image/webp are accepted",
                        ));
                    }
                    if image.detail.as_deref().is_some_and(|d| d != "auto") {
                        return Err(refuse(
                            format!("{}.detail", at()),
                            "there is no image detail setting",
                        ));
                    }
                }
                Part::ToolCall(_) if m.role != Role::Assistant => {
                    return Err(refuse(at(), "tool calls belong in assistant turns"));
                }
                Part::ToolCall(call) => {
                    tool_input(call, at)?;
                }
                Part::ToolResult(_) if !matches!(m.role, Role::Tool | Role::User) => {
                    return Err(refuse(at(), "tool results belong in user turns"));
                }
                Part::Text(_) | Part::ToolResult(_) => {}
            }
        }
    }
    if request.response_format == Some(ResponseFormat::JsonObject) {
        return Err(refuse(
            "response_format".to_owned(),
            "there is no JSON mode without a schema (use json_schema)",
        ));
    }
    let s = &request.sampling;
    if s.temperature.is_some_and(|t| t > 1.0) {
        return Err(refuse("temperature".to_owned(), "temperature is at most 1"));
    }
    if s.seed.is_some() {
        return Err(refuse("seed".to_owned(), "there is no seed"));
    }
    if s.presence_penalty.is_some() {
        return Err(refuse(
            "presence_penalty".to_owned(),
            "there is no presence penalty",
        ));
    }
    if s.frequency_penalty.is_some() {
        return Err(refuse(
            "frequency_penalty".to_owned(),
            "there is no frequency penalty",
        ));
    }
    if request.n.is_some_and(|n| n > 1) {
        return Err(refuse("n".to_owned(), "a reply has one choice"));
    }
    Ok(())
}

/// One Anthropic turn being built: its role and blocks (tool results kept apart, to lead).
struct Turn {
    role: &'static str,
    results: Vec<Value>,
    blocks: Vec<Value>,
}

impl Turn {
    fn into_message(self) -> InputMessage {
        let mut blocks = self.results;
        blocks.extend(self.blocks);
        let content = match blocks.as_slice() {
            [b] if b.get("type").and_then(Value::as_str) == Some("text") => {
                b.get("text").cloned().unwrap_or(Value::Null)
            }
            _ => Value::Array(blocks),
        };
        InputMessage {
            role: self.role.to_owned(),
            content,
        }
    }
}

/// Turns as Anthropic accepts them: a turn left without blocks (an empty message carried
/// nothing) is dropped, since Anthropic refuses empty content, and its neighbours of the same
/// role merge (tool results still first); a final assistant turn — a prefill — loses trailing
/// whitespace, which Anthropic refuses there, and goes when nothing is left of it.
fn tidy(turns: Vec<Turn>) -> Vec<Turn> {
    let mut out: Vec<Turn> = Vec::with_capacity(turns.len());
    for t in turns {
        if t.results.is_empty() && t.blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(prev) if prev.role == t.role => {
                prev.results.extend(t.results);
                prev.blocks.extend(t.blocks);
            }
            _ => out.push(t),
        }
    }
    if let Some(last) = out.last_mut().filter(|t| t.role == "assistant") {
        if let Some(block) = last.blocks.last_mut()
            && block.get("type").and_then(Value::as_str) == Some("text")
            && let Some(text) = block.get("text").and_then(Value::as_str)
        {
            let trimmed = text.trim_end().to_owned();
            if trimmed.is_empty() {
                last.blocks.pop();
            } else {
                block["text"] = Value::String(trimmed);
            }
        }
        if last.blocks.is_empty() && last.results.is_empty() {
            out.pop();
        }
    }
    out
}

/// The conversation after the leading system messages, as Anthropic's turns: consecutive
/// messages of one side share a turn.
fn turns(request: &Request, lead: usize) -> Result<Vec<Turn>, Unsupported> {
    let mut turns: Vec<Turn> = Vec::new();
    for (i, m) in request.messages.iter().enumerate().skip(lead) {
        let role = if m.role == Role::Assistant {
            "assistant"
        } else {
            "user"
        };
        if turns.last().is_none_or(|t| t.role != role) {
            turns.push(Turn {
                role,
                results: Vec::new(),
                blocks: Vec::new(),
            });
        }
        let Some(turn) = turns.last_mut() else {
            continue;
        };
        for (j, p) in m.content.iter().enumerate() {
            match p {
                // Empty text blocks are refused by Anthropic; they carry nothing.
                Part::Text(t) if t.is_empty() => {}
                Part::Text(t) => turn.blocks.push(json!({ "type": "text", "text": t })),
                Part::Image(image) => turn.blocks.push(image_block(image)),
                Part::ToolCall(call) => {
                    let input = tool_input(call, || format!("messages[{i}].content[{j}]"))?;
                    turn.blocks.push(json!({
                        "type": "tool_use", "id": call.id, "name": call.name, "input": input,
                    }));
                }
                Part::ToolResult(r) => {
                    let mut block = json!({
                        "type": "tool_result", "tool_use_id": r.call_id, "content": r.content,
                    });
                    if r.is_error
                        && let Some(map) = block.as_object_mut()
                    {
                        map.insert("is_error".to_owned(), Value::Bool(true));
                    }
                    turn.results.push(block);
                }
            }
        }
    }
    Ok(turns)
}

fn tools(request: &Request) -> Value {
    Value::Array(
        request
            .tools
            .iter()
            .map(|t| {
                let mut tool = Map::new();
                tool.insert("name".to_owned(), json!(t.name));
                if let Some(d) = &t.description {
                    tool.insert("description".to_owned(), json!(d));
                }
                tool.insert(
                    "input_schema".to_owned(),
                    t.parameters
                        .clone()
                        .unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
                );
                if let Some(strict) = t.strict {
                    tool.insert("strict".to_owned(), json!(strict));
                }
                Value::Object(tool)
            })
            .collect(),
    )
}

/// The tool choice, with `disable_parallel_tool_use` when the request asks for one call.
fn tool_choice(request: &Request) -> Option<Value> {
    let single = request.parallel_tool_calls == Some(false);
    match (&request.tool_choice, single) {
        (Some(ToolChoice::None), _) => Some(json!({ "type": "none" })),
        (None, false) => None,
        (choice, _) => {
            let mut c = match choice {
                Some(ToolChoice::Required) => json!({ "type": "any" }),
                Some(ToolChoice::Named(name)) => json!({ "type": "tool", "name": name }),
                _ => json!({ "type": "auto" }),
            };
            if single && let Some(map) = c.as_object_mut() {
                map.insert("disable_parallel_tool_use".to_owned(), Value::Bool(true));
            }
            Some(c)
        }
    }
}

impl MessagesRequest {
    /// The wire request for `request`, sent to `model`; `default_max_tokens` is sent when the
    /// request sets no `max_tokens` (Anthropic requires one). Refused, naming the field, when
    /// Anthropic cannot express it (see [`check`]).
    pub fn from_normalized(
        request: &Request,
        model: &str,
        default_max_tokens: u32,
    ) -> Result<Self, Unsupported> {
        check(request)?;
        let lead = request.leading_system_messages();
        let system: Vec<String> = request
            .messages
            .iter()
            .take(lead)
            .map(Message::text_content)
            .collect();
        let turns = turns(request, lead)?;
        let tools = (!request.tools.is_empty()).then(|| tools(request));
        let tool_choice = tool_choice(request);
        let output_config = match &request.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => {
                Some(json!({ "format": { "type": "json_schema", "schema": schema } }))
            }
            _ => None,
        };
        let s = &request.sampling;
        Ok(MessagesRequest {
            model: model.to_owned(),
            max_tokens: request.max_tokens.unwrap_or(default_max_tokens),
            messages: tidy(turns).into_iter().map(Turn::into_message).collect(),
            system: (!system.is_empty()).then(|| Value::String(system.join("\n"))),
            stop_sequences: (!s.stop.is_empty()).then(|| s.stop.clone()),
            temperature: s.temperature,
            top_p: s.top_p,
            top_k: s.top_k,
            stream: request.stream.then_some(true),
            tools,
            tool_choice,
            output_config,
            metadata: request.user.as_ref().map(|u| json!({ "user_id": u })),
        })
    }

    /// The normalized request (text only): what a fake needs to answer.
    pub fn to_normalized(&self) -> Request {
        let mut messages = Vec::new();
        if let Some(system) = &self.system {
            messages.push(Message::text(Role::System, blocks_text(system)));
        }
        messages.extend(self.messages.iter().map(|m| {
            Message::text(
                if m.role == "assistant" {
                    Role::Assistant
                } else {
                    Role::User
                },
                blocks_text(&m.content),
            )
        }));
        let needs = if self.tools.is_some() {
            Capabilities::TOOLS
        } else {
            Capabilities::NONE
        };
        Request {
            route: self.model.clone(),
            estimated_prompt_tokens: messages
                .iter()
                .map(|m| crate::dialect::estimate_tokens_from_chars(m.chars()) + 4)
                .sum(),
            messages,
            max_tokens: Some(self.max_tokens),
            stream: self.stream.unwrap_or(false),
            needs,
            ..Request::default()
        }
    }
}
