//! OpenAI Chat Completions (and Azure OpenAI), as the API reads a body: required fields,
//! roles, content per role, the tool-call protocol (every `tool_calls` answered by one `tool`
//! message per id, right after it), tools and `tool_choice`, `response_format` (and the word
//! "JSON" that `json_object` needs), images (user messages only, `http(s):` or `data:image/`
//! URLs). A trailing assistant message is a past turn here, not a prefill.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    Asked, Choice, Format, Options, Refusal, Tally, ToolDecl, no_arguments, plain_name, type_name,
};

/// The message roles OpenAI takes (`function` is deprecated, still accepted).
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// The body could not be read as JSON (OpenAI's own words).
pub(in crate::server) const NOT_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";

fn invalid_type(param: &str, expected: &str, got: &Value) -> Refusal {
    Refusal::bad(format!(
        "Invalid type for '{param}': expected {expected}, but got {} instead.",
        type_name(got)
    ))
    .param(param)
    .code("invalid_type")
}

fn missing(param: &str) -> Refusal {
    Refusal::bad(format!("Missing required parameter: '{param}'."))
        .param(param)
        .code("missing_required_parameter")
}

/// One assistant message's calls, waiting for their `tool` messages.
struct Pending {
    index: usize,
    ids: Vec<String>,
    answered: BTreeSet<String>,
}

impl Pending {
    fn unanswered(&self) -> Vec<&str> {
        self.ids
            .iter()
            .filter(|id| !self.answered.contains(*id))
            .map(String::as_str)
            .collect()
    }

    fn check(&self) -> Result<(), Refusal> {
        let left = self.unanswered();
        if left.is_empty() {
            return Ok(());
        }
        Err(Refusal::bad(format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
            left.join(", ")
        ))
        .param(format!("messages.[{}].role", self.index)))
    }
}

/// Reads a Chat Completions body; `model_override` is Azure's deployment (the path names
/// the model, so the body need not).
pub(in crate::server) fn read(
    body: &Value,
    model_override: Option<&str>,
    options: Options,
) -> Result<Asked, Refusal> {
    if !body.is_object() {
        return Err(Refusal::bad(NOT_JSON));
    }
    if model_override.is_none() && body.get("model").is_none() {
        return Err(missing("model"));
    }
    let Some(messages_value) = body.get("messages") else {
        return Err(missing("messages"));
    };
    let model = match model_override {
        Some(m) => m.to_owned(),
        None => match &body["model"] {
            Value::String(m) => m.clone(),
            other => return Err(invalid_type("model", "a string", other)),
        },
    };
    let Some(messages) = messages_value.as_array() else {
        return Err(invalid_type("messages", "an array", messages_value));
    };
    if messages.is_empty() {
        return Err(Refusal::bad(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        )
        .param("messages")
        .code("empty_array"));
    }
    let mut tally = Tally::default();
    let mut pending: Option<Pending> = None;
    let mut all_text = String::new();
    let mut last_user_text = String::new();
    for (i, m) in messages.iter().enumerate() {
        if !m.is_object() {
            return Err(invalid_type(&format!("messages[{i}]"), "an object", m));
        }
        let role = match m.get("role") {
            Some(Value::String(r)) => r.as_str(),
            Some(other) => {
                return Err(invalid_type(
                    &format!("messages[{i}].role"),
                    "a string",
                    other,
                ));
            }
            None => return Err(missing(&format!("messages[{i}].role"))),
        };
        if !ROLES.contains(&role) {
            return Err(Refusal::bad(format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
            ))
            .param(format!("messages[{i}].role"))
            .code("invalid_value"));
        }
        let (text, images) = content(m.get("content"), i, role, options)?;
        let mut chars = text.chars().count();
        for _ in 0..images {
            tally.image();
        }
        all_text.push_str(&text);
        all_text.push('\n');
        if role == "user" {
            last_user_text = text;
        }
        // The tool-call protocol: calls, then one `tool` message per id, then anything else.
        if role == "tool" {
            let id = match m.get("tool_call_id") {
                Some(Value::String(id)) => id.clone(),
                Some(other) => {
                    return Err(invalid_type(
                        &format!("messages[{i}].tool_call_id"),
                        "a string",
                        other,
                    ));
                }
                None => return Err(missing(&format!("messages[{i}].tool_call_id"))),
            };
            let Some(p) = pending.as_mut() else {
                return Err(Refusal::bad(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                )
                .param(format!("messages.[{i}].role")));
            };
            if !p.ids.contains(&id) {
                return Err(Refusal::bad(format!(
                    "Invalid parameter: 'tool_call_id' of '{id}' not found in 'tool_calls' of previous message."
                ))
                .param(format!("messages.[{i}].tool_call_id")));
            }
            p.answered.insert(id);
        } else {
            if let Some(p) = pending.take() {
                p.check()?;
            }
            if role == "assistant" {
                let (ids, call_chars) = tool_calls(m.get("tool_calls"), i)?;
                chars = chars.saturating_add(call_chars);
                if !ids.is_empty() {
                    pending = Some(Pending {
                        index: i,
                        ids,
                        answered: BTreeSet::new(),
                    });
                }
            }
        }
        tally.message(chars);
    }
    if let Some(p) = pending.take() {
        p.check()?;
    }
    let after_tool_result = messages
        .last()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        .is_some_and(|r| r == "tool" || r == "function");

    let tools = tools(body.get("tools"))?;
    if let Some(declared) = body.get("tools").filter(|t| !t.is_null()) {
        tally.tools(declared);
    }
    let choice = tool_choice(body.get("tool_choice"), &tools)?;
    let parallel = match body.get("parallel_tool_calls") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(invalid_type("parallel_tool_calls", "a boolean", other)),
    };
    let format = response_format(body.get("response_format"), &all_text)?;
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(invalid_type("stream", "a boolean", other)),
    };
    let stream_options = body.get("stream_options").filter(|o| !o.is_null());
    if stream_options.is_some() && !stream {
        return Err(Refusal::bad(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        )
        .param("stream_options")
        .code("invalid_value"));
    }
    let include_usage = stream_options
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut max_tokens = 0;
    for field in ["max_tokens", "max_completion_tokens"] {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_u64() {
                Some(n) => max_tokens = u32::try_from(n).unwrap_or(u32::MAX),
                None => return Err(invalid_type(field, "an integer", v)),
            },
        }
    }
    Ok(Asked {
        model,
        prompt_tokens: tally.total(),
        max_tokens,
        stream,
        include_usage,
        tools,
        choice,
        parallel,
        format,
        prefill: None,
        last_user_text,
        after_tool_result,
    })
}

/// A message's text and image count, checking each part for the role.
fn content(
    content: Option<&Value>,
    i: usize,
    role: &str,
    options: Options,
) -> Result<(String, u32), Refusal> {
    let param = format!("messages[{i}].content");
    let parts = match content {
        None | Some(Value::Null) => {
            // The assistant may send only tool calls (or nothing); every other role needs content.
            if role == "assistant" || role == "function" {
                return Ok((String::new(), 0));
            }
            return Err(missing(&param));
        }
        Some(Value::String(s)) => return Ok((s.clone(), 0)),
        Some(Value::Array(parts)) => parts,
        Some(other) => {
            return Err(invalid_type(
                &param,
                "one of a string or array of objects",
                other,
            ));
        }
    };
    let mut text = String::new();
    let mut images = 0;
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{param}[{j}]");
        let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "text" => match part.get("text") {
                Some(Value::String(t)) => text.push_str(t),
                Some(other) => return Err(invalid_type(&format!("{at}.text"), "a string", other)),
                None => return Err(missing(&format!("{at}.text"))),
            },
            "refusal" if role == "assistant" => {}
            "image_url" => {
                if role != "user" {
                    return Err(Refusal::bad(format!(
                        "Invalid 'messages[{i}]'. Image URLs are only allowed for messages with role 'user', but this message with role '{role}' contains an image URL."
                    ))
                    .param(format!("{at}.type"))
                    .code("invalid_value"));
                }
                let url = part
                    .get("image_url")
                    .and_then(|u| u.get("url"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing(&format!("{at}.image_url.url")))?;
                if !image_url_ok(url) {
                    return Err(Refusal::bad(format!(
                        "Invalid '{at}.image_url.url'. Expected a valid URL (http or https) or a base64-encoded data URL with an image MIME type (e.g. 'data:image/png;base64,...')."
                    ))
                    .param(format!("{at}.image_url.url"))
                    .code("invalid_value"));
                }
                if !options.vision {
                    return Err(Refusal::bad(
                        "Invalid content type. image_url is only supported by certain models.",
                    )
                    .param(format!("{at}.type"))
                    .code("invalid_value"));
                }
                images += 1;
            }
            "input_audio" | "file" if role == "user" => {}
            _ => {
                return Err(Refusal::bad(format!(
                    "Invalid value: '{kind}'. Supported values for role '{role}' are: 'text'{}.",
                    if role == "user" {
                        ", 'image_url', 'input_audio' and 'file'"
                    } else {
                        ""
                    }
                ))
                .param(format!("{at}.type"))
                .code("invalid_value"));
            }
        }
    }
    Ok((text, images))
}

/// `http(s)://…` or `data:image/…;base64,…`.
fn image_url_ok(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return url.len() > 8;
    }
    url.strip_prefix("data:image/")
        .and_then(|rest| rest.split_once(";base64,"))
        .is_some_and(|(kind, data)| !kind.is_empty() && !data.is_empty())
}

/// An assistant message's call ids (in order) and the characters of its calls.
fn tool_calls(calls: Option<&Value>, i: usize) -> Result<(Vec<String>, usize), Refusal> {
    let calls = match calls {
        None | Some(Value::Null) => return Ok((Vec::new(), 0)),
        Some(Value::Array(c)) => c,
        Some(other) => {
            return Err(invalid_type(
                &format!("messages[{i}].tool_calls"),
                "an array",
                other,
            ));
        }
    };
    let mut ids = Vec::with_capacity(calls.len());
    let mut chars = 0usize;
    for (k, call) in calls.iter().enumerate() {
        let at = format!("messages[{i}].tool_calls[{k}]");
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| missing(&format!("{at}.id")))?;
        let function = call
            .get("function")
            .ok_or_else(|| missing(&format!("{at}.function")))?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| missing(&format!("{at}.function.name")))?;
        let arguments = match function.get("arguments") {
            Some(Value::String(a)) => a,
            Some(other) => {
                return Err(invalid_type(
                    &format!("{at}.function.arguments"),
                    "a string",
                    other,
                ));
            }
            None => return Err(missing(&format!("{at}.function.arguments"))),
        };
        chars = chars
            .saturating_add(name.len())
            .saturating_add(arguments.chars().count());
        ids.push(id.to_owned());
    }
    Ok((ids, chars))
}

fn tools(tools: Option<&Value>) -> Result<Vec<ToolDecl>, Refusal> {
    let tools = match tools {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(t)) => t,
        Some(other) => return Err(invalid_type("tools", "an array", other)),
    };
    let mut out = Vec::with_capacity(tools.len());
    for (k, tool) in tools.iter().enumerate() {
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {}
            // Custom (free-form) tools: declared, but the fake never calls them.
            Some("custom") => continue,
            _ => {
                return Err(Refusal::bad(format!(
                    "Invalid value for 'tools[{k}].type': expected 'function' or 'custom'."
                ))
                .param(format!("tools[{k}].type"))
                .code("invalid_value"));
            }
        }
        let function = tool
            .get("function")
            .ok_or_else(|| missing(&format!("tools[{k}].function")))?;
        let name = match function.get("name") {
            Some(Value::String(n)) => n,
            _ => return Err(missing(&format!("tools[{k}].function.name"))),
        };
        if !plain_name(name) {
            return Err(Refusal::bad(format!(
                "Invalid 'tools[{k}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
            ))
            .param(format!("tools[{k}].function.name"))
            .code("invalid_value"));
        }
        let schema = match function.get("parameters") {
            None | Some(Value::Null) => no_arguments(),
            Some(s @ Value::Object(_)) => s.clone(),
            Some(other) => {
                return Err(invalid_type(
                    &format!("tools[{k}].function.parameters"),
                    "an object",
                    other,
                ));
            }
        };
        out.push(ToolDecl {
            name: name.clone(),
            schema,
        });
    }
    Ok(out)
}

fn named(name: &str, tools: &[ToolDecl], param: &str) -> Result<String, Refusal> {
    if tools.iter().any(|t| t.name == name) {
        Ok(name.to_owned())
    } else {
        Err(Refusal::bad(format!(
            "Invalid value for '{param}': no function named '{name}' was specified in the 'tools' parameter."
        ))
        .param(param)
        .code("invalid_value"))
    }
}

fn tool_choice(choice: Option<&Value>, tools: &[ToolDecl]) -> Result<Choice, Refusal> {
    let choice = match choice {
        None | Some(Value::Null) => {
            return Ok(if tools.is_empty() {
                Choice::None
            } else {
                Choice::Auto
            });
        }
        Some(c) => c,
    };
    if tools.is_empty() {
        return Err(Refusal::bad(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
        )
        .param("tool_choice"));
    }
    match choice {
        Value::String(s) => match s.as_str() {
            "none" => Ok(Choice::None),
            "auto" => Ok(Choice::Auto),
            "required" => Ok(Choice::Required { allowed: None }),
            _ => Err(Refusal::bad(format!(
                "Invalid value: '{s}'. Supported values are: 'none', 'auto', and 'required'."
            ))
            .param("tool_choice")
            .code("invalid_value")),
        },
        Value::Object(_) => match choice.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = choice
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing("tool_choice.function.name"))?;
                Ok(Choice::Named(named(
                    name,
                    tools,
                    "tool_choice.function.name",
                )?))
            }
            Some("allowed_tools") => {
                let allowed = choice.get("allowed_tools").unwrap_or(&Value::Null);
                let mut names = Vec::new();
                for (k, t) in allowed
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let name = t
                        .get("function")
                        .and_then(|f| f.get("name"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            missing(&format!(
                                "tool_choice.allowed_tools.tools[{k}].function.name"
                            ))
                        })?;
                    names.push(named(
                        name,
                        tools,
                        &format!("tool_choice.allowed_tools.tools[{k}].function.name"),
                    )?);
                }
                match allowed.get("mode").and_then(Value::as_str) {
                    Some("required") => Ok(Choice::Required {
                        allowed: Some(names),
                    }),
                    // `auto` over a subset: the fake's auto rule over every tool is close enough.
                    _ => Ok(Choice::Auto),
                }
            }
            _ => Err(Refusal::bad("Invalid value for 'tool_choice.type'.")
                .param("tool_choice.type")
                .code("invalid_value")),
        },
        other => Err(invalid_type("tool_choice", "a string or an object", other)),
    }
}

fn response_format(format: Option<&Value>, all_text: &str) -> Result<Format, Refusal> {
    let format = match format {
        None | Some(Value::Null) => return Ok(Format::Text),
        Some(f @ Value::Object(_)) => f,
        Some(other) => return Err(invalid_type("response_format", "an object", other)),
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(Format::Text),
        Some("json_object") => {
            if !all_text.to_ascii_lowercase().contains("json") {
                return Err(Refusal::bad(
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                )
                .param("messages"));
            }
            Ok(Format::Json(None))
        }
        Some("json_schema") => {
            let spec = format
                .get("json_schema")
                .ok_or_else(|| missing("response_format.json_schema"))?;
            match spec.get("name").and_then(Value::as_str) {
                Some(name) if plain_name(name) => {}
                Some(_) => {
                    return Err(Refusal::bad(
                        "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    )
                    .param("response_format.json_schema.name")
                    .code("invalid_value"));
                }
                None => return Err(missing("response_format.json_schema.name")),
            }
            let schema = spec
                .get("schema")
                .filter(|s| s.is_object())
                .cloned()
                .unwrap_or_else(|| serde_json::json!({ "type": "object" }));
            Ok(Format::Json(Some(schema)))
        }
        _ => Err(Refusal::bad(
            "Invalid value for 'response_format.type': expected one of 'text', 'json_object' or 'json_schema'.",
        )
        .param("response_format.type")
        .code("invalid_value")),
    }
}
