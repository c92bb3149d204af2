//! An Anthropic Messages request body, as a client sends it, into the normalized [`Request`].
//!
//! The body is walked as JSON rather than deserialized into structs so that every refusal
//! names its field the way Anthropic does (`messages.1.content.0.type`). Like Anthropic, the
//! gateway refuses fields it does not know: a field it cannot honour for every target is a
//! 400 naming it, never dropped. Two are accepted and ignored, on purpose:
//!
//! - `cache_control` (top level, on blocks and tools): prompt caching is a cost hint that
//!   never changes a reply, and OpenAI and Gemini cache on their own;
//! - `citations: null` or `[]` on text blocks, and `thinking: {"type": "disabled"}`, which
//!   ask for nothing.
//!
//! Refused: extended `thinking` (replies carry no thinking blocks), `output_config.effort`,
//! a `service_tier` other than `auto`, server tools, documents, files, thinking blocks,
//! images inside tool results, and any field this module does not name.
//!
//! Tool results: the normalized conversation follows OpenAI, where each tool result is its
//! own `tool` message. A user message's `tool_result` blocks become one [`Role::Tool`]
//! message each, split out of the user message in the order they came.

use serde_json::{Map, Value};
use switchyard_core::dialect::{Dialect, estimate_tokens_from_chars};
use switchyard_core::request::{
    Capabilities, Image, ImageSource, Message, Original, Part, Request, ResponseFormat, Role,
    Sampling, Tool, ToolCall, ToolChoice, ToolResult,
};

/// What an image counts for in the prompt-token estimate: its size is unknown here, and an
/// image Anthropic does not scale down costs up to about 1 600 tokens (1.15 megapixels).
pub(crate) const IMAGE_TOKENS: u32 = 1_600;

/// Per-message overhead in the token estimate (role markers), as the OpenAI endpoint counts.
const MESSAGE_TOKENS: u32 = 4;

/// The image types Anthropic accepts.
const MEDIA_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// A request the gateway refuses: a 400 `invalid_request_error` whose message starts with
/// the field, as Anthropic's do (`max_tokens: Field required`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) field: String,
    pub(crate) reason: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

fn refuse<T>(field: impl Into<String>, reason: impl Into<String>) -> Result<T, Refused> {
    Err(Refused {
        field: field.into(),
        reason: reason.into(),
    })
}

fn extra<T>(field: impl Into<String>) -> Result<T, Refused> {
    refuse(
        field,
        "Extra inputs are not permitted (this gateway cannot honour this field for every target)",
    )
}

fn as_object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, Refused> {
    v.as_object()
        .map_or_else(|| refuse(field, "Input should be an object"), Ok)
}

fn as_str<'a>(v: &'a Value, field: &str) -> Result<&'a str, Refused> {
    v.as_str()
        .map_or_else(|| refuse(field, "Input should be a valid string"), Ok)
}

fn as_bool(v: &Value, field: &str) -> Result<bool, Refused> {
    v.as_bool()
        .map_or_else(|| refuse(field, "Input should be a valid boolean"), Ok)
}

fn as_array<'a>(v: &'a Value, field: &str) -> Result<&'a Vec<Value>, Refused> {
    v.as_array()
        .map_or_else(|| refuse(field, "Input should be a valid list"), Ok)
}

fn as_u32(v: &Value, field: &str) -> Result<u32, Refused> {
    match v.as_u64().map(u32::try_from) {
        Some(Ok(n)) => Ok(n),
        Some(Err(_)) => refuse(field, "Input should be less than or equal to 4294967295"),
        None if v.as_i64().is_some() => refuse(field, "Input should be greater than or equal to 0"),
        None => refuse(field, "Input should be a valid integer"),
    }
}

/// A number within `[0, 1]` (Anthropic's range for `temperature` and `top_p`).
fn unit_interval(v: &Value, field: &str) -> Result<f64, Refused> {
    let Some(x) = v.as_f64() else {
        return refuse(field, "Input should be a valid number");
    };
    if !(0.0..=1.0).contains(&x) {
        return refuse(
            field,
            "Input should be greater than or equal to 0 and less than or equal to 1",
        );
    }
    Ok(x)
}

/// A field's value, with `null` read as absent (the SDKs omit what is not given; a client
/// that writes `null` means the same).
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|v| !v.is_null())
}

/// Refuses any key of `object` outside `known`, naming it under `path`.
fn only(object: &Map<String, Value>, known: &[&str], path: &str) -> Result<(), Refused> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => extra(format!("{path}.{k}")),
        None => Ok(()),
    }
}

/// The top-level fields this module reads, and nothing else.
const TOP_LEVEL: [&str; 16] = [
    "model",
    "max_tokens",
    "messages",
    "system",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "stream",
    "tools",
    "tool_choice",
    "metadata",
    "output_config",
    "thinking",
    "cache_control",
    "service_tier",
];

/// Parses a client's body. `Err` names the field refused, in Anthropic's words where it
/// has them.
pub(crate) fn parse(body: &[u8]) -> Result<Request, Refused> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return refuse("", format!("The request body is not valid JSON: {e}")),
    };
    let Some(top) = value.as_object() else {
        return refuse("", "The request body should be a JSON object");
    };
    if let Some(k) = top.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return extra(k.as_str());
    }
    let Some(model) = field(top, "model") else {
        return refuse("model", "Field required");
    };
    let model = as_str(model, "model")?;
    if model.is_empty() {
        return refuse("model", "String should have at least 1 character");
    }
    let Some(max_tokens) = field(top, "max_tokens") else {
        return refuse("max_tokens", "Field required");
    };
    let max_tokens = as_u32(max_tokens, "max_tokens")?;
    if max_tokens < 1 {
        return refuse("max_tokens", "Input should be greater than or equal to 1");
    }
    let Some(list) = field(top, "messages") else {
        return refuse("messages", "Field required");
    };
    let list = as_array(list, "messages")?;
    if list.is_empty() {
        return refuse("messages", "List should have at least 1 item");
    }

    let mut needs = Capabilities::NONE;
    let mut messages = Vec::with_capacity(list.len().saturating_add(1));
    if let Some(system) = field(top, "system")
        && let Some(m) = system_message(system)?
    {
        messages.push(m);
    }
    for (i, m) in list.iter().enumerate() {
        let last = i + 1 == list.len();
        conversation_message(m, i, last, &mut messages, &mut needs)?;
    }

    let tools = match field(top, "tools") {
        Some(v) => tools(v)?,
        None => Vec::new(),
    };
    if !tools.is_empty() {
        needs = needs.union(Capabilities::TOOLS);
    }
    let (tool_choice, parallel_tool_calls) = match field(top, "tool_choice") {
        Some(v) => tool_choice(v)?,
        None => (None, None),
    };
    let response_format = match field(top, "output_config") {
        Some(v) => output_config(v)?,
        None => None,
    };
    if response_format.is_some() {
        needs = needs.union(Capabilities::JSON_MODE);
    }
    if let Some(t) = field(top, "thinking") {
        thinking(t)?;
    }
    if let Some(tier) = field(top, "service_tier")
        && as_str(tier, "service_tier")? != "auto"
    {
        return refuse(
            "service_tier",
            "only `auto` is supported: this gateway chooses the provider, not its capacity tier",
        );
    }
    if let Some(c) = field(top, "cache_control") {
        as_object(c, "cache_control")?;
    }

    let sampling = Sampling {
        temperature: field(top, "temperature")
            .map(|v| unit_interval(v, "temperature"))
            .transpose()?,
        top_p: field(top, "top_p")
            .map(|v| unit_interval(v, "top_p"))
            .transpose()?,
        top_k: field(top, "top_k")
            .map(|v| as_u32(v, "top_k"))
            .transpose()?,
        stop: match field(top, "stop_sequences") {
            Some(v) => as_array(v, "stop_sequences")?
                .iter()
                .enumerate()
                .map(|(i, s)| as_str(s, &format!("stop_sequences.{i}")).map(str::to_owned))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        },
        ..Sampling::default()
    };
    let user = match field(top, "metadata") {
        Some(v) => {
            let meta = as_object(v, "metadata")?;
            only(meta, &["user_id"], "metadata")?;
            field(meta, "user_id")
                .map(|u| as_str(u, "metadata.user_id").map(str::to_owned))
                .transpose()?
        }
        None => None,
    };
    let stream = field(top, "stream")
        .map(|v| as_bool(v, "stream"))
        .transpose()?
        .unwrap_or(false);

    let estimated_prompt_tokens = estimate(&messages, &tools);
    Ok(Request {
        route: model.to_owned(),
        messages,
        max_tokens: Some(max_tokens),
        stream,
        task: None,
        estimated_prompt_tokens,
        needs,
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format,
        sampling,
        n: None,
        user,
        // Unknown fields were refused above.
        unmodelled: Vec::new(),
        original: Some(Original {
            dialect: Dialect::Anthropic,
            body: body.into(),
            raw_reply: false,
            layout: None,
        }),
    })
}

/// Prompt tokens, roughly: four characters a token over text, tool calls and results, a
/// fixed [`IMAGE_TOKENS`] an image, and the tools' names, descriptions and schemas.
pub(crate) fn estimate(messages: &[Message], tools: &[Tool]) -> u32 {
    let mut total: u32 = 0;
    for m in messages {
        let images = m
            .content
            .iter()
            .filter(|p| matches!(p, Part::Image(_)))
            .count();
        let images = u32::try_from(images).unwrap_or(u32::MAX);
        total = total
            .saturating_add(estimate_tokens_from_chars(m.chars()))
            .saturating_add(MESSAGE_TOKENS)
            .saturating_add(images.saturating_mul(IMAGE_TOKENS));
    }
    for t in tools {
        let schema = t.parameters.as_ref().map_or(0, |s| s.to_string().len());
        let chars = t
            .name
            .len()
            .saturating_add(t.description.as_ref().map_or(0, String::len))
            .saturating_add(schema);
        total = total.saturating_add(estimate_tokens_from_chars(chars));
    }
    total
}

/// `system`: a string or a list of text blocks; `None` when it says nothing.
fn system_message(v: &Value) -> Result<Option<Message>, Refused> {
    let parts = match v {
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => vec![Part::Text(s.clone())],
        Value::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (j, b) in blocks.iter().enumerate() {
                let path = format!("system.{j}");
                let b = as_object(b, &path)?;
                match field(b, "type").map(|t| as_str(t, &format!("{path}.type"))) {
                    Some(Ok("text")) => parts.push(Part::Text(text_block(b, &path)?)),
                    Some(Ok(other)) => {
                        return refuse(
                            format!("{path}.type"),
                            format!("only `text` blocks are allowed in `system`, not `{other}`"),
                        );
                    }
                    Some(Err(e)) => return Err(e),
                    None => return refuse(format!("{path}.type"), "Field required"),
                }
            }
            if parts.is_empty() {
                return Ok(None);
            }
            parts
        }
        _ => return refuse("system", "Input should be a valid string or list of blocks"),
    };
    Ok(Some(Message {
        role: Role::System,
        content: parts,
        name: None,
    }))
}

/// A `text` block's text: non-empty, as Anthropic requires.
fn text_block(b: &Map<String, Value>, path: &str) -> Result<String, Refused> {
    only(b, &["type", "text", "cache_control", "citations"], path)?;
    if let Some(c) = field(b, "citations")
        && !c.as_array().is_some_and(Vec::is_empty)
    {
        return refuse(
            format!("{path}.citations"),
            "citations in a request are not supported by this gateway",
        );
    }
    let Some(text) = field(b, "text") else {
        return refuse(format!("{path}.text"), "Field required");
    };
    let text = as_str(text, &format!("{path}.text"))?;
    if text.is_empty() {
        return refuse(
            format!("{path}.text"),
            "text content blocks must be non-empty",
        );
    }
    Ok(text.to_owned())
}

/// One message of `messages`, appended to `out` (a user message with tool results becomes
/// several normalized messages).
fn conversation_message(
    v: &Value,
    i: usize,
    last: bool,
    out: &mut Vec<Message>,
    needs: &mut Capabilities,
) -> Result<(), Refused> {
    let path = format!("messages.{i}");
    let m = as_object(v, &path)?;
    only(m, &["role", "content"], &path)?;
    let role = match field(m, "role").map(|r| as_str(r, &format!("{path}.role"))) {
        Some(Ok("user")) => Role::User,
        Some(Ok("assistant")) => Role::Assistant,
        Some(Ok(other)) => {
            return refuse(
                format!("{path}.role"),
                format!("Input should be 'user' or 'assistant', not '{other}'"),
            );
        }
        Some(Err(e)) => return Err(e),
        None => return refuse(format!("{path}.role"), "Field required"),
    };
    let empty = || {
        refuse(
            path.as_str(),
            "all messages must have non-empty content except for the optional final assistant message",
        )
    };
    let blocks = match field(m, "content") {
        None => return refuse(format!("{path}.content"), "Field required"),
        Some(Value::String(s)) => {
            if s.is_empty() {
                // An empty final assistant message asks for nothing: it is left out.
                return if last && role == Role::Assistant {
                    Ok(())
                } else {
                    empty()
                };
            }
            out.push(Message::text(role, s.clone()));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        Some(_) => {
            return refuse(
                format!("{path}.content"),
                "Input should be a valid string or list of blocks",
            );
        }
    };
    if blocks.is_empty() && !(last && role == Role::Assistant) {
        return empty();
    }
    // Parts of the message being built; tool results split it.
    let mut parts = Vec::with_capacity(blocks.len());
    for (j, b) in blocks.iter().enumerate() {
        let bpath = format!("{path}.content.{j}");
        let b = as_object(b, &bpath)?;
        let kind = match field(b, "type") {
            Some(t) => as_str(t, &format!("{bpath}.type"))?,
            None => return refuse(format!("{bpath}.type"), "Field required"),
        };
        match (kind, role) {
            ("text", _) => parts.push(Part::Text(text_block(b, &bpath)?)),
            ("image", Role::User) => {
                parts.push(Part::Image(image_block(b, &bpath)?));
                *needs = needs.union(Capabilities::VISION);
            }
            ("tool_use", Role::Assistant) => parts.push(Part::ToolCall(tool_use_block(b, &bpath)?)),
            ("tool_result", Role::User) => {
                let result = tool_result_block(b, &bpath)?;
                if !parts.is_empty() {
                    out.push(Message {
                        role,
                        content: std::mem::take(&mut parts),
                        name: None,
                    });
                }
                out.push(Message {
                    role: Role::Tool,
                    content: vec![Part::ToolResult(result)],
                    name: None,
                });
            }
            ("image" | "tool_result", _) => {
                return refuse(
                    format!("{bpath}.type"),
                    format!("`{kind}` blocks are only allowed in user messages"),
                );
            }
            ("tool_use", _) => {
                return refuse(
                    format!("{bpath}.type"),
                    "`tool_use` blocks are only allowed in assistant messages",
                );
            }
            (other, _) => {
                return refuse(
                    format!("{bpath}.type"),
                    format!("`{other}` blocks are not supported by this gateway"),
                );
            }
        }
    }
    if !parts.is_empty() {
        out.push(Message {
            role,
            content: parts,
            name: None,
        });
    }
    Ok(())
}

fn image_block(b: &Map<String, Value>, path: &str) -> Result<Image, Refused> {
    only(b, &["type", "source", "cache_control"], path)?;
    let spath = format!("{path}.source");
    let Some(source) = field(b, "source") else {
        return refuse(spath, "Field required");
    };
    let source = as_object(source, &spath)?;
    let kind = match field(source, "type") {
        Some(t) => as_str(t, &format!("{spath}.type"))?,
        None => return refuse(format!("{spath}.type"), "Field required"),
    };
    let text = |name: &str| -> Result<String, Refused> {
        let p = format!("{spath}.{name}");
        match field(source, name) {
            Some(v) => as_str(v, &p).map(str::to_owned),
            None => refuse(p, "Field required"),
        }
    };
    let source = match kind {
        "base64" => {
            only(source, &["type", "media_type", "data"], &spath)?;
            let media_type = text("media_type")?;
            if !MEDIA_TYPES.contains(&media_type.as_str()) {
                return refuse(
                    format!("{spath}.media_type"),
                    format!("Input should be one of {}", MEDIA_TYPES.join(", ")),
                );
            }
            let data = text("data")?;
            if data.is_empty() {
                return refuse(format!("{spath}.data"), "image data must be non-empty");
            }
            ImageSource::Base64 { media_type, data }
        }
        "url" => {
            only(source, &["type", "url"], &spath)?;
            ImageSource::Url(text("url")?)
        }
        other => {
            return refuse(
                format!("{spath}.type"),
                format!(
                    "`{other}` image sources are not supported by this gateway (base64 and url are)"
                ),
            );
        }
    };
    Ok(Image {
        source,
        detail: None,
    })
}

fn tool_use_block(b: &Map<String, Value>, path: &str) -> Result<ToolCall, Refused> {
    only(b, &["type", "id", "name", "input", "cache_control"], path)?;
    let text = |name: &str| -> Result<String, Refused> {
        let p = format!("{path}.{name}");
        match field(b, name) {
            Some(v) => as_str(v, &p).map(str::to_owned),
            None => refuse(p, "Field required"),
        }
    };
    let (id, name) = (text("id")?, text("name")?);
    let ipath = format!("{path}.input");
    let Some(input) = field(b, "input") else {
        return refuse(ipath, "Field required");
    };
    as_object(input, &ipath)?;
    Ok(ToolCall {
        id,
        name,
        arguments: input.to_string(),
    })
}

fn tool_result_block(b: &Map<String, Value>, path: &str) -> Result<ToolResult, Refused> {
    only(
        b,
        &[
            "type",
            "tool_use_id",
            "content",
            "is_error",
            "cache_control",
        ],
        path,
    )?;
    let idpath = format!("{path}.tool_use_id");
    let call_id = match field(b, "tool_use_id") {
        Some(v) => as_str(v, &idpath)?.to_owned(),
        None => return refuse(idpath, "Field required"),
    };
    let cpath = format!("{path}.content");
    let content = match field(b, "content") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (k, inner) in blocks.iter().enumerate() {
                let ipath = format!("{cpath}.{k}");
                let inner = as_object(inner, &ipath)?;
                match field(inner, "type").map(|t| as_str(t, &format!("{ipath}.type"))) {
                    Some(Ok("text")) => texts.push(text_block(inner, &ipath)?),
                    Some(Ok(other)) => {
                        return refuse(
                            format!("{ipath}.type"),
                            format!(
                                "only `text` blocks are supported in a tool result by this gateway, not `{other}`"
                            ),
                        );
                    }
                    Some(Err(e)) => return Err(e),
                    None => return refuse(format!("{ipath}.type"), "Field required"),
                }
            }
            // Several text blocks are one result; a line between them keeps them apart.
            texts.join("\n")
        }
        Some(_) => {
            return refuse(cpath, "Input should be a valid string or list of blocks");
        }
    };
    let is_error = field(b, "is_error")
        .map(|v| as_bool(v, &format!("{path}.is_error")))
        .transpose()?
        .unwrap_or(false);
    Ok(ToolResult {
        call_id,
        content,
        is_error,
    })
}

fn tools(v: &Value) -> Result<Vec<Tool>, Refused> {
    let list = as_array(v, "tools")?;
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let path = format!("tools.{i}");
        let t = as_object(t, &path)?;
        if let Some(kind) = field(t, "type") {
            let kind = as_str(kind, &format!("{path}.type"))?;
            if kind != "custom" {
                return refuse(
                    format!("{path}.type"),
                    format!("server tools (`{kind}`) are not supported by this gateway"),
                );
            }
        }
        only(
            t,
            &[
                "type",
                "name",
                "description",
                "input_schema",
                "strict",
                "cache_control",
            ],
            &path,
        )?;
        let name = match field(t, "name") {
            Some(n) => as_str(n, &format!("{path}.name"))?.to_owned(),
            None => return refuse(format!("{path}.name"), "Field required"),
        };
        let description = field(t, "description")
            .map(|d| as_str(d, &format!("{path}.description")).map(str::to_owned))
            .transpose()?;
        let spath = format!("{path}.input_schema");
        let Some(schema) = field(t, "input_schema") else {
            return refuse(spath, "Field required");
        };
        as_object(schema, &spath)?;
        let strict = field(t, "strict")
            .map(|s| as_bool(s, &format!("{path}.strict")))
            .transpose()?;
        out.push(Tool {
            name,
            description,
            parameters: Some(schema.clone()),
            strict,
        });
    }
    Ok(out)
}

/// `tool_choice`, and `disable_parallel_tool_use: true` as `parallel_tool_calls: false`.
fn tool_choice(v: &Value) -> Result<(Option<ToolChoice>, Option<bool>), Refused> {
    let c = as_object(v, "tool_choice")?;
    let kind = match field(c, "type") {
        Some(t) => as_str(t, "tool_choice.type")?,
        None => return refuse("tool_choice.type", "Field required"),
    };
    let choice = match kind {
        "auto" => {
            only(c, &["type", "disable_parallel_tool_use"], "tool_choice")?;
            ToolChoice::Auto
        }
        "any" => {
            only(c, &["type", "disable_parallel_tool_use"], "tool_choice")?;
            ToolChoice::Required
        }
        "tool" => {
            only(
                c,
                &["type", "name", "disable_parallel_tool_use"],
                "tool_choice",
            )?;
            match field(c, "name") {
                Some(n) => ToolChoice::Named(as_str(n, "tool_choice.name")?.to_owned()),
                None => return refuse("tool_choice.name", "Field required"),
            }
        }
        "none" => {
            only(c, &["type"], "tool_choice")?;
            ToolChoice::None
        }
        other => {
            return refuse(
                "tool_choice.type",
                format!("Input should be 'auto', 'any', 'tool' or 'none', not '{other}'"),
            );
        }
    };
    let serial = field(c, "disable_parallel_tool_use")
        .map(|d| as_bool(d, "tool_choice.disable_parallel_tool_use"))
        .transpose()?
        .unwrap_or(false);
    Ok((Some(choice), serial.then_some(false)))
}

/// `output_config.format` (`json_schema`) as a JSON-schema response format.
fn output_config(v: &Value) -> Result<Option<ResponseFormat>, Refused> {
    let c = as_object(v, "output_config")?;
    if c.contains_key("effort") {
        return refuse(
            "output_config.effort",
            "reasoning effort is not supported by this gateway",
        );
    }
    only(c, &["format"], "output_config")?;
    let Some(format) = field(c, "format") else {
        return Ok(None);
    };
    let f = as_object(format, "output_config.format")?;
    match field(f, "type").map(|t| as_str(t, "output_config.format.type")) {
        Some(Ok("json_schema")) => {}
        Some(Ok(other)) => {
            return refuse(
                "output_config.format.type",
                format!("Input should be 'json_schema', not '{other}'"),
            );
        }
        Some(Err(e)) => return Err(e),
        None => return refuse("output_config.format.type", "Field required"),
    }
    only(f, &["type", "schema"], "output_config.format")?;
    let Some(schema) = field(f, "schema") else {
        return refuse("output_config.format.schema", "Field required");
    };
    as_object(schema, "output_config.format.schema")?;
    Ok(Some(ResponseFormat::JsonSchema {
        // Anthropic's format has no name; OpenAI's requires one.
        name: "response".to_owned(),
        description: None,
        schema: schema.clone(),
        strict: None,
    }))
}

/// `thinking`: only `{"type": "disabled"}`, which asks for nothing.
fn thinking(v: &Value) -> Result<(), Refused> {
    let t = as_object(v, "thinking")?;
    if field(t, "type").and_then(Value::as_str) == Some("disabled") {
        return only(t, &["type"], "thinking");
    }
    refuse(
        "thinking",
        "extended thinking is not supported by this gateway (its replies carry no thinking blocks)",
    )
}
