//! `system` and `messages`: the conversation, block by block. A user message's
//! `tool_result` blocks split it into one [`Role::Tool`] message each.

use serde_json::{Map, Value};
use switchyard_core::request::{
    Capabilities, Image, ImageSource, Message, Part, Role, ToolCall, ToolResult,
};

use super::Origins;
use super::read::{Refused, as_bool, as_object, as_str, field, only, refuse};

/// The image types Anthropic accepts.
const MEDIA_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// `system`, then every message of `messages` (`list`), normalized, with where each came
/// from ([`Origins`]).
pub(super) fn messages(
    top: &Map<String, Value>,
    list: &[Value],
    needs: &mut Capabilities,
) -> Result<(Vec<Message>, Origins), Refused> {
    let mut out = Out {
        messages: Vec::with_capacity(list.len().saturating_add(1)),
        origins: Vec::with_capacity(list.len().saturating_add(1)),
        message: None,
    };
    if let Some(system) = field(top, "system")
        && let Some(m) = system_message(system)?
    {
        out.push(m, 0);
    }
    for (i, m) in list.iter().enumerate() {
        let last = i + 1 == list.len();
        out.message = Some(i);
        conversation_message(m, i, last, &mut out, needs)?;
    }
    Ok((out.messages, out.origins))
}

/// The normalized messages being built, each with its origin.
struct Out {
    messages: Vec<Message>,
    origins: Origins,
    /// The client's message being read (`None`: `system`).
    message: Option<usize>,
}

impl Out {
    /// Adds `m`, made from the current client message from its block `block` on.
    fn push(&mut self, m: Message, block: usize) {
        self.messages.push(m);
        self.origins.push((self.message, block));
    }

    /// Adds a message of `role` holding `content`, from block `block` on.
    fn push_parts(&mut self, role: Role, content: Vec<Part>, block: usize) {
        let m = Message {
            role,
            content,
            name: None,
        };
        self.push(m, block);
    }
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
    out: &mut Out,
    needs: &mut Capabilities,
) -> Result<(), Refused> {
    let path = format!("messages.{i}");
    let m = as_object(v, &path)?;
    only(m, &["role", "content"], &path)?;
    let role = role(m, &path)?;
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
            out.push(Message::text(role, s.clone()), 0);
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
    content_blocks(blocks, role, &path, out, needs)
}

/// A message's `role`: `user` or `assistant`.
fn role(m: &Map<String, Value>, path: &str) -> Result<Role, Refused> {
    match field(m, "role").map(|r| as_str(r, &format!("{path}.role"))) {
        Some(Ok("user")) => Ok(Role::User),
        Some(Ok("assistant")) => Ok(Role::Assistant),
        Some(Ok(other)) => refuse(
            format!("{path}.role"),
            format!("Input should be 'user' or 'assistant', not '{other}'"),
        ),
        Some(Err(e)) => Err(e),
        None => refuse(format!("{path}.role"), "Field required"),
    }
}

/// A message's list of content blocks, appended to `out` as one message, or several when
/// `tool_result` blocks split it.
fn content_blocks(
    blocks: &[Value],
    role: Role,
    path: &str,
    out: &mut Out,
    needs: &mut Capabilities,
) -> Result<(), Refused> {
    // Parts of the message being built; tool results split it. `start`: the block its
    // first part came from.
    let mut parts = Vec::with_capacity(blocks.len());
    let mut start = 0;
    for (j, b) in blocks.iter().enumerate() {
        if parts.is_empty() {
            start = j;
        }
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
                    out.push_parts(role, std::mem::take(&mut parts), start);
                }
                out.push_parts(Role::Tool, vec![Part::ToolResult(result)], j);
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
        out.push_parts(role, parts, start);
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
    only(
        b,
        &["type", "id", "name", "input", "cache_control", "caller"],
        path,
    )?;
    // Who made the call: `direct` (the model, as every target's calls are) or absent, as the
    // SDK's own reply replays it; a call made by a tool's code (programmatic tool calling)
    // has no counterpart in the other dialects.
    if let Some(caller) = field(b, "caller") {
        let direct = caller.as_object().is_some_and(|o| {
            o.len() == 1 && o.get("type").and_then(Value::as_str) == Some("direct")
        });
        if !direct {
            return refuse(
                format!("{path}.caller"),
                "tool calls made by code (a caller other than `direct`) are not supported by this gateway",
            );
        }
    }
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
