//! OpenAI Chat Completions (and Azure OpenAI), as the API reads a body: required fields,
//! roles, content per role, the tool-call protocol (every `tool_calls` answered by one `tool`
//! message per id, right after it), tools and `tool_choice`, `response_format` (and the word
//! "JSON" that `json_object` needs), images (user messages only, `http(s):` or `data:image/`
//! URLs), the sampling fields' types and ranges ([`sampling`]). A trailing assistant message
//! is a past turn here, not a prefill.

mod sampling;
mod tools;

use std::collections::BTreeSet;

use serde_json::Value;
use switchyard_core::dialect::openai::wrong_type;

use super::{Asked, Format, Options, Refusal, Tally, plain_name};
use tools::{tool_choice, tools};

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
    Refusal::bad(wrong_type(param, expected, got))
        .param(param)
        .code("invalid_type")
}

/// An integer `param`'s `got` below (`below`) or above its `bound`, in OpenAI's words.
fn out_of_range(param: &str, got: &Value, below: bool, bound: i128) -> Refusal {
    let (message, code) =
        switchyard_core::dialect::openai::out_of_range(param, &got.to_string(), below, bound);
    Refusal::bad(message).param(param).code(code)
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
    let (model, messages) = model_and_messages(body, model_override)?;
    let Conversation {
        mut tally,
        all_text,
        last_user_text,
    } = conversation(messages, options)?;
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
    let (stream, include_usage) = stream(body)?;
    let logprobs = logprobs(body)?;
    choices(body)?;
    let max_tokens = max_tokens(body)?;
    sampling::check(body)?;
    Ok(Asked {
        model,
        prompt_tokens: tally.total(),
        max_tokens,
        stream,
        include_usage,
        logprobs,
        tools,
        choice,
        parallel,
        format,
        prefill: None,
        last_user_text,
        after_tool_result,
    })
}

/// The model (the body's, or Azure's deployment) and the messages, a non-empty array.
fn model_and_messages<'a>(
    body: &'a Value,
    model_override: Option<&str>,
) -> Result<(String, &'a [Value]), Refusal> {
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
        return Err(invalid_type(
            "messages",
            "an array of objects",
            messages_value,
        ));
    };
    if messages.is_empty() {
        return Err(Refusal::bad(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        )
        .param("messages")
        .code("empty_array"));
    }
    Ok((model, messages))
}

/// What the messages add up to.
struct Conversation {
    tally: Tally,
    /// Every message's text, for the word "JSON" that `json_object` needs.
    all_text: String,
    last_user_text: String,
}

/// Reads each message: its role, its content for the role, and the tool-call protocol.
fn conversation(messages: &[Value], options: Options) -> Result<Conversation, Refusal> {
    let mut tally = Tally::default();
    let mut pending: Option<Pending> = None;
    let mut all_text = String::new();
    let mut last_user_text = String::new();
    for (i, m) in messages.iter().enumerate() {
        let role = role(m, i)?;
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
            answer(m, i, pending.as_mut())?;
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
    Ok(Conversation {
        tally,
        all_text,
        last_user_text,
    })
}

/// Message `i`'s role, one that OpenAI takes.
fn role(m: &Value, i: usize) -> Result<&str, Refusal> {
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
    Ok(role)
}

/// Tool message `i` answers one of the calls of the assistant message before it.
fn answer(m: &Value, i: usize, pending: Option<&mut Pending>) -> Result<(), Refusal> {
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
    let Some(p) = pending else {
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
    Ok(())
}

/// `stream`, and a stream's `stream_options.include_usage` (the options only with a stream).
fn stream(body: &Value) -> Result<(bool, bool), Refusal> {
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
    Ok((stream, include_usage))
}

/// The most `top_logprobs` OpenAI gives.
const MAX_TOP_LOGPROBS: u64 = 20;

/// `logprobs` (a boolean) and `top_logprobs` (an integer from 0 to 20): `Some(top)` when
/// `logprobs` is true.
fn logprobs(body: &Value) -> Result<Option<u8>, Refusal> {
    let on = match body.get("logprobs") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(invalid_type("logprobs", "a boolean", other)),
    };
    let top = match body.get("top_logprobs") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_u64() {
            Some(n) if n <= MAX_TOP_LOGPROBS => u8::try_from(n).unwrap_or(0),
            Some(_) => {
                return Err(out_of_range(
                    "top_logprobs",
                    v,
                    false,
                    i128::from(MAX_TOP_LOGPROBS),
                ));
            }
            None if v.as_i64().is_some() => return Err(out_of_range("top_logprobs", v, true, 0)),
            None => return Err(invalid_type("top_logprobs", "an integer", v)),
        },
    };
    Ok(on.then_some(top))
}

/// The most choices (`n`) OpenAI generates for one request (the gateway's bound too).
const MAX_CHOICES: i64 = switchyard_core::dialect::openai::MAX_CHOICES as i64;

/// `n`, how many choices: an integer from 1 to [`MAX_CHOICES`], refused in OpenAI's words
/// otherwise. The fake answers one choice whatever it is.
fn choices(body: &Value) -> Result<(), Refusal> {
    let v = match body.get("n") {
        None | Some(Value::Null) => return Ok(()),
        Some(v) => v,
    };
    // An integer beyond i64 (a u64) is above the maximum too.
    let Some(n) = v.as_i64().or_else(|| v.as_u64().map(|_| i64::MAX)) else {
        return Err(invalid_type("n", "an integer", v));
    };
    match n {
        ..1 => Err(out_of_range("n", v, true, 1)),
        1..=MAX_CHOICES => Ok(()),
        _ => Err(out_of_range("n", v, false, i128::from(MAX_CHOICES))),
    }
}

/// `max_tokens` or `max_completion_tokens` (the latter wins); 0 when neither is set.
fn max_tokens(body: &Value) -> Result<u32, Refusal> {
    let mut max_tokens = 0;
    for field in ["max_tokens", "max_completion_tokens"] {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(v) => match (v.as_u64(), v.as_i64()) {
                (Some(n), _) => {
                    max_tokens = u32::try_from(n)
                        .map_err(|_| out_of_range(field, v, false, i128::from(u32::MAX)))?;
                }
                (None, Some(_)) => return Err(out_of_range(field, v, true, 0)),
                (None, None) => return Err(invalid_type(field, "an integer", v)),
            },
        }
    }
    Ok(max_tokens)
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
                image_url_part(part, &at, i, role, options)?;
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

/// An `image_url` part of message `i`: only in a user message, a URL that is one, and a
/// model with vision.
fn image_url_part(
    part: &Value,
    at: &str,
    i: usize,
    role: &str,
    options: Options,
) -> Result<(), Refusal> {
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
    Ok(())
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
                "an array of objects",
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
