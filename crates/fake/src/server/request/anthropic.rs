//! Anthropic Messages, as the API reads a body: `max_tokens` required and at least 1,
//! `user`/`assistant` roles, non-empty content (but for a final assistant message) and
//! non-empty text blocks, the tool protocol (every `tool_use` answered by `tool_result`
//! blocks at the start of the next user message, no result without its call), tools with an
//! object `input_schema`, `tool_choice`, image media types, `temperature` in 0..=1,
//! `output_config.format` schemas with closed objects, and prefill: a final assistant message
//! is continued (it must not end in whitespace), or refused when the fake's `prefill` option
//! is off.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Asked, Choice, Format, Options, Refusal, Tally, ToolDecl};

const MEDIA_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Anthropic's refusal of a prefill by a model that does not take one.
pub(in crate::server) const NO_PREFILL: &str = "This model does not support assistant message prefill. The conversation must end with a user message.";

/// A message's content read: its text, the ids of its `tool_use` blocks, the ids of its
/// `tool_result` blocks (and how many lead the content), its images, its characters.
#[derive(Default)]
struct Read {
    text: String,
    uses: Vec<String>,
    results: Vec<(usize, String)>,
    leading_results: BTreeSet<String>,
    images: u32,
    chars: usize,
}

fn result_text(content: Option<&Value>) -> usize {
    match content {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .map(|t| t.chars().count())
            .fold(0usize, usize::saturating_add),
        _ => 0,
    }
}

fn read_content(
    content: &Value,
    i: usize,
    role: &str,
    last: bool,
    options: Options,
) -> Result<Read, Refusal> {
    let mut read = Read::default();
    let empty_ok = last && role == "assistant";
    let empty = || {
        Refusal::bad(format!(
            "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
        ))
    };
    let blocks = match content {
        Value::String(s) => {
            if s.is_empty() && !empty_ok {
                return Err(empty());
            }
            read.chars = s.chars().count();
            read.text = s.clone();
            return Ok(read);
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(Refusal::bad(format!(
                "messages.{i}.content: Input should be a valid string or a valid list"
            )));
        }
    };
    if blocks.is_empty() && !empty_ok {
        return Err(empty());
    }
    let mut leading = true;
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("messages.{i}.content.{j}");
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        if kind != "tool_result" {
            leading = false;
        }
        match kind {
            "text" => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                if text.is_empty() {
                    return Err(Refusal::bad(
                        "messages: text content blocks must be non-empty",
                    ));
                }
                read.chars = read.chars.saturating_add(text.chars().count());
                read.text.push_str(text);
            }
            "image" => image(block, &at, options, &mut read)?,
            "tool_use" if role == "assistant" => tool_use(block, &at, &mut read)?,
            "tool_result" if role == "user" => tool_result(block, &at, j, leading, &mut read)?,
            "tool_use" | "tool_result" => {
                return Err(Refusal::bad(format!(
                    "{at}: `{kind}` blocks are only allowed in {} messages",
                    if kind == "tool_use" {
                        "assistant"
                    } else {
                        "user"
                    }
                )));
            }
            // Documents, thinking, server tools' blocks: taken as they are.
            _ => {}
        }
    }
    Ok(read)
}

/// An image block: its source, and the model's vision.
fn image(block: &Value, at: &str, options: Options, read: &mut Read) -> Result<(), Refusal> {
    let source = block.get("source").unwrap_or(&Value::Null);
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media = source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !MEDIA_TYPES.contains(&media) {
                return Err(Refusal::bad(format!(
                    "{at}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
                )));
            }
            if source
                .get("data")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(Refusal::bad(format!(
                    "{at}.image.source.base64.data: Field required"
                )));
            }
        }
        Some("url") => {
            if source
                .get("url")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(Refusal::bad(format!(
                    "{at}.image.source.url.url: Field required"
                )));
            }
        }
        Some("file") => {}
        _ => {
            return Err(Refusal::bad(format!(
                "{at}.image.source: Input tag does not match any of the expected tags: 'base64', 'url', 'file'"
            )));
        }
    }
    if !options.vision {
        return Err(Refusal::bad(format!(
            "{at}.image: this model does not support image input."
        )));
    }
    read.images += 1;
    Ok(())
}

/// An assistant's `tool_use` block: an id, a name and an object as input.
fn tool_use(block: &Value, at: &str, read: &mut Read) -> Result<(), Refusal> {
    let id = block.get("id").and_then(Value::as_str).unwrap_or("");
    let name = block.get("name").and_then(Value::as_str).unwrap_or("");
    if id.is_empty() || name.is_empty() {
        return Err(Refusal::bad(format!(
            "{at}.tool_use: `id` and `name` are required"
        )));
    }
    if !block.get("input").is_some_and(Value::is_object) {
        return Err(Refusal::bad(format!(
            "{at}.tool_use.input: Input should be a valid dictionary"
        )));
    }
    let input = block.get("input").map(Value::to_string).unwrap_or_default();
    read.chars = read
        .chars
        .saturating_add(name.len())
        .saturating_add(input.chars().count());
    read.uses.push(id.to_owned());
    Ok(())
}

/// A user's `tool_result` block: the call it answers (`leading`: before any other block).
fn tool_result(
    block: &Value,
    at: &str,
    j: usize,
    leading: bool,
    read: &mut Read,
) -> Result<(), Refusal> {
    let id = block
        .get("tool_use_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    if id.is_empty() {
        return Err(Refusal::bad(format!(
            "{at}.tool_result.tool_use_id: Field required"
        )));
    }
    read.chars = read.chars.saturating_add(result_text(block.get("content")));
    if leading {
        read.leading_results.insert(id.to_owned());
    }
    read.results.push((j, id.to_owned()));
    Ok(())
}

pub(in crate::server) fn read(body: &Value, options: Options) -> Result<Asked, Refusal> {
    let (model, max_tokens, messages) = header(body)?;
    let mut tally = Tally::default();
    system(body, &mut tally)?;
    let Conversation {
        last_user_text,
        after_tool_result,
        prefill,
    } = conversation(messages, options, &mut tally)?;
    let tools = tools(body.get("tools"))?;
    if let Some(declared) = body.get("tools").filter(|t| !t.is_null()) {
        tally.tools(declared);
    }
    let (choice, parallel) = tool_choice(body.get("tool_choice"), &tools)?;
    let format = output_format(body)?;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    Ok(Asked {
        model: model.to_owned(),
        prompt_tokens: tally.total(),
        max_tokens: u32::try_from(max_tokens).unwrap_or(u32::MAX),
        stream,
        include_usage: false,
        logprobs: None,
        tools,
        choice,
        parallel,
        format,
        prefill,
        last_user_text,
        after_tool_result,
    })
}

/// The required fields (model, max_tokens, messages) and the temperature's range.
fn header(body: &Value) -> Result<(&str, i64, &[Value]), Refusal> {
    if !body.is_object() {
        return Err(Refusal::bad(
            "There was an issue with your request body: not valid JSON",
        ));
    }
    for field in ["model", "max_tokens", "messages"] {
        if body.get(field).is_none() {
            return Err(Refusal::bad(format!("{field}: Field required")));
        }
    }
    let Some(model) = body["model"].as_str() else {
        return Err(Refusal::bad("model: Input should be a valid string"));
    };
    let max_tokens = match &body["max_tokens"] {
        Value::Number(n) if n.is_u64() || n.is_i64() => n.as_i64().unwrap_or(i64::MAX),
        _ => return Err(Refusal::bad("max_tokens: Input should be a valid integer")),
    };
    if max_tokens < 1 {
        return Err(Refusal::bad(
            "max_tokens: Input should be greater than or equal to 1",
        ));
    }
    let Some(messages) = body["messages"].as_array() else {
        return Err(Refusal::bad("messages: Input should be a valid list"));
    };
    if messages.is_empty() {
        return Err(Refusal::bad("messages: at least one message is required"));
    }
    if let Some(t) = body.get("temperature").filter(|t| !t.is_null()) {
        match t.as_f64() {
            Some(t) if t > 1.0 => {
                return Err(Refusal::bad(
                    "temperature: Input should be less than or equal to 1",
                ));
            }
            Some(t) if t < 0.0 => {
                return Err(Refusal::bad(
                    "temperature: Input should be greater than or equal to 0",
                ));
            }
            Some(_) => {}
            None => return Err(Refusal::bad("temperature: Input should be a valid number")),
        }
    }
    Ok((model, max_tokens, messages))
}

/// The system prompt: a string, or text blocks none of them empty.
fn system(body: &Value, tally: &mut Tally) -> Result<(), Refusal> {
    match body.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => tally.message(s.chars().count()),
        Some(Value::Array(blocks)) => {
            let mut chars = 0usize;
            for b in blocks {
                let text = b.get("text").and_then(Value::as_str).unwrap_or("");
                if text.is_empty() {
                    return Err(Refusal::bad(
                        "system: text content blocks must be non-empty",
                    ));
                }
                chars = chars.saturating_add(text.chars().count());
            }
            tally.message(chars);
        }
        Some(_) => {
            return Err(Refusal::bad(
                "system: Input should be a valid string or a valid list",
            ));
        }
    }
    Ok(())
}

/// What the messages leave for the answer.
struct Conversation {
    last_user_text: String,
    after_tool_result: bool,
    /// The final assistant message's text, continued by the reply.
    prefill: Option<String>,
}

/// Reads each message: its role, its content, and the tool-use protocol.
fn conversation(
    messages: &[Value],
    options: Options,
    tally: &mut Tally,
) -> Result<Conversation, Refusal> {
    let last = messages.len() - 1;
    let mut previous_uses: Vec<String> = Vec::new();
    let mut last_user_text = String::new();
    let mut after_tool_result = false;
    let mut prefill = None;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if role != "user" && role != "assistant" {
            return Err(Refusal::bad(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )));
        }
        let Some(content) = m.get("content") else {
            return Err(Refusal::bad(format!(
                "messages.{i}.content: Field required"
            )));
        };
        let read = read_content(content, i, role, i == last, options)?;
        check_results(i, role, &read, &previous_uses)?;
        for _ in 0..read.images {
            tally.image();
        }
        tally.message(read.chars);
        if role == "user" {
            last_user_text = read.text.clone();
            after_tool_result = !read.results.is_empty();
        } else {
            after_tool_result = false;
        }
        if i == last && role == "assistant" && read.uses.is_empty() {
            if read.text.ends_with(char::is_whitespace) {
                return Err(Refusal::bad(
                    "messages: final assistant content cannot end with trailing whitespace",
                ));
            }
            if !options.prefill {
                return Err(Refusal::bad(NO_PREFILL));
            }
            prefill = Some(read.text.clone());
        }
        previous_uses = if role == "assistant" {
            read.uses
        } else {
            Vec::new()
        };
    }
    Ok(Conversation {
        last_user_text,
        after_tool_result,
        prefill,
    })
}

/// The previous assistant's calls are answered, each, by results that lead message `i`, and
/// every result answers one of them.
fn check_results(
    i: usize,
    role: &str,
    read: &Read,
    previous_uses: &[String],
) -> Result<(), Refusal> {
    // The results of the previous assistant's calls lead this message, every one.
    if !previous_uses.is_empty() {
        let missing: Vec<&str> = previous_uses
            .iter()
            .filter(|id| role != "user" || !read.leading_results.contains(*id))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Refusal::bad(format!(
                "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                missing.join(", ")
            )));
        }
    }
    if let Some((j, id)) = read
        .results
        .iter()
        .find(|(_, id)| !previous_uses.contains(id))
    {
        return Err(Refusal::bad(format!(
            "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
        )));
    }
    Ok(())
}

fn tools(tools: Option<&Value>) -> Result<Vec<ToolDecl>, Refusal> {
    let tools = match tools {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(t)) => t,
        Some(_) => return Err(Refusal::bad("tools: Input should be a valid list")),
    };
    let mut out = Vec::with_capacity(tools.len());
    for (k, tool) in tools.iter().enumerate() {
        // Server tools (`web_search_20250305`, …) carry a dated type and no schema.
        if tool
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "custom")
        {
            continue;
        }
        let Some(name) = tool
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            return Err(Refusal::bad(format!(
                "tools.{k}.custom.name: Field required"
            )));
        };
        let Some(schema) = tool.get("input_schema") else {
            return Err(Refusal::bad(format!(
                "tools.{k}.custom.input_schema: Field required"
            )));
        };
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(Refusal::bad(format!(
                "tools.{k}.custom.input_schema.type: Input should be 'object'"
            )));
        }
        out.push(ToolDecl {
            name: name.to_owned(),
            schema: schema.clone(),
        });
    }
    Ok(out)
}

fn tool_choice(choice: Option<&Value>, tools: &[ToolDecl]) -> Result<(Choice, bool), Refusal> {
    let Some(choice) = choice.filter(|c| !c.is_null()) else {
        let c = if tools.is_empty() {
            Choice::None
        } else {
            Choice::Auto
        };
        return Ok((c, true));
    };
    let parallel = !choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let kind = choice.get("type").and_then(Value::as_str).unwrap_or("");
    if matches!(kind, "any" | "tool") && tools.is_empty() {
        return Err(Refusal::bad(
            "tool_choice: a tool choice of `any` or `tool` requires `tools` to be provided",
        ));
    }
    let c = match kind {
        "auto" => {
            if tools.is_empty() {
                Choice::None
            } else {
                Choice::Auto
            }
        }
        "none" => Choice::None,
        "any" => Choice::Required { allowed: None },
        "tool" => {
            let name = choice.get("name").and_then(Value::as_str).unwrap_or("");
            if !tools.iter().any(|t| t.name == name) {
                return Err(Refusal::bad(format!(
                    "tool_choice.tool.name: tool `{name}` is not one of the provided tools"
                )));
            }
            Choice::Named(name.to_owned())
        }
        _ => {
            return Err(Refusal::bad(
                "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'",
            ));
        }
    };
    Ok((c, parallel))
}

/// `output_config.format` (or the deprecated top-level `output_format`).
fn output_format(body: &Value) -> Result<Format, Refusal> {
    let (at, format) = match (
        body.get("output_config").and_then(|c| c.get("format")),
        body.get("output_format"),
    ) {
        (Some(f), _) if !f.is_null() => ("output_config.format", f),
        (_, Some(f)) if !f.is_null() => ("output_format", f),
        _ => return Ok(Format::Text),
    };
    if format.get("type").and_then(Value::as_str) != Some("json_schema") {
        return Err(Refusal::bad(format!(
            "{at}.type: Input should be 'json_schema'"
        )));
    }
    let Some(schema) = format.get("schema").filter(|s| s.is_object()) else {
        return Err(Refusal::bad(format!("{at}.schema: Field required")));
    };
    if let Err(path) = crate::schema::closed_objects(schema) {
        return Err(Refusal::bad(format!(
            "{at}.{path}: For 'object' type, 'additionalProperties' must be explicitly set to false"
        )));
    }
    Ok(Format::Json(Some(schema.clone())))
}
