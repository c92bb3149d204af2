//! A client's body into the normalized request: [`ChatRequest::try_to_normalized`], which
//! refuses what it cannot represent, naming the field.

use serde_json::{Value, json};

use super::{
    ChatMessage, ChatRequest, RequestError, content_text, estimate_prompt_tokens, image_source,
    invalid, parse_role,
};
use crate::request::{
    Capabilities, Image, Message, Part, Request, ResponseFormat, Role, Sampling, Tool, ToolCall,
    ToolChoice, ToolResult,
};

/// Where message `i` is, as an error names it: `messages[i]`. Written only when an error
/// is (not once per message of every request).
#[derive(Clone, Copy)]
struct At(usize);

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "messages[{}]", self.0)
    }
}

/// Part `j` of message `i`'s content: `messages[i].content[j]`, written only for an error.
#[derive(Clone, Copy)]
struct PartAt(At, usize);

impl std::fmt::Display for PartAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.content[{}]", self.0, self.1)
    }
}

/// A message's content parts (`text` and `image_url`; a string is one text part), its text
/// taken out of `content` rather than copied.
fn content_parts(content: &mut Option<Value>, at: At) -> Result<Vec<Part>, RequestError> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![Part::Text(std::mem::take(s))]),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(invalid(
                format!("{at}.content"),
                "content must be a string or an array of content parts",
            ));
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter_mut().enumerate() {
        let here = PartAt(at, j);
        match p.get("type").and_then(Value::as_str) {
            Some("text") => match p.get_mut("text") {
                Some(Value::String(t)) => out.push(Part::Text(std::mem::take(t))),
                _ => return Err(invalid(format!("{here}.text"), "a text part needs `text`")),
            },
            Some("image_url") => {
                let inner = p.get("image_url");
                let url = inner
                    .and_then(|i| i.get("url").or(Some(i)))
                    .and_then(Value::as_str);
                let Some(url) = url else {
                    return Err(invalid(
                        format!("{here}.image_url.url"),
                        "an image part needs `image_url.url`",
                    ));
                };
                let detail = inner
                    .and_then(|i| i.get("detail"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                out.push(Part::Image(Image {
                    source: image_source(url),
                    detail,
                }));
            }
            Some(other) => {
                return Err(invalid(
                    format!("{here}.type"),
                    format!("content parts of type `{other}` are not supported by this gateway"),
                ));
            }
            None => {
                return Err(invalid(
                    format!("{here}.type"),
                    "a content part needs `type`",
                ));
            }
        }
    }
    Ok(out)
}

fn parse_tool_choice(v: &Value) -> Result<ToolChoice, RequestError> {
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(invalid(
                "tool_choice",
                format!(
                    "unknown tool_choice `{other}`: expected auto, none, required or a function"
                ),
            )),
        },
        Value::Object(_) if v.get("type").and_then(Value::as_str) == Some("function") => v
            .pointer("/function/name")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Named(n.to_owned()))
            .ok_or_else(|| {
                invalid(
                    "tool_choice.function.name",
                    "a named tool_choice needs a name",
                )
            }),
        _ => Err(invalid(
            "tool_choice",
            "tool_choice must be auto, none, required or {\"type\":\"function\",...}",
        )),
    }
}

fn parse_response_format(v: &Value) -> Result<ResponseFormat, RequestError> {
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let Some(js) = v.get("json_schema") else {
                return Err(invalid(
                    "response_format.json_schema",
                    "a json_schema response_format needs `json_schema`",
                ));
            };
            let Some(name) = js.get("name").and_then(Value::as_str) else {
                return Err(invalid(
                    "response_format.json_schema.name",
                    "a json_schema response_format needs a name",
                ));
            };
            Ok(ResponseFormat::JsonSchema {
                name: name.to_owned(),
                description: js
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                schema: js.get("schema").cloned().unwrap_or_else(|| json!({})),
                strict: js.get("strict").and_then(Value::as_bool),
            })
        }
        _ => Err(invalid(
            "response_format.type",
            "response_format.type must be text, json_object or json_schema",
        )),
    }
}

fn parse_stop(v: &Option<Value>) -> Result<Vec<String>, RequestError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| wrong_type(&format!("stop[{i}]"), "a string", s))
            })
            .collect(),
        Some(other) => Err(wrong_type(
            "stop",
            "one of a string or array of strings",
            other,
        )),
    }
}

/// `param`'s value `got` is not of the JSON type it takes, in OpenAI's words and code
/// (`invalid_type`), as the OpenAI fake says it.
fn wrong_type(param: &str, expected: &str, got: &Value) -> RequestError {
    RequestError {
        code: "invalid_type",
        ..invalid(
            param,
            crate::dialect::openai::wrong_type(param, expected, got),
        )
    }
}

/// The most choices (`n`) OpenAI generates for one request: a client's `n` above it is
/// refused, as OpenAI refuses it.
pub const MAX_CHOICES: u32 = 128;

/// The decimal sampling fields OpenAI bounds, with their ranges: `temperature`, `top_p`,
/// `presence_penalty`, `frequency_penalty`, in that order.
pub const DECIMAL_RANGES: [(&str, f64, f64); 4] = [
    ("temperature", 0.0, 2.0),
    ("top_p", 0.0, 1.0),
    ("presence_penalty", -2.0, 2.0),
    ("frequency_penalty", -2.0, 2.0),
];

impl ChatRequest {
    /// The normalized request this body asks for (its route is the model name), or what in
    /// it cannot be represented: an unknown role, a content part other than text and images,
    /// a custom tool, an `allowed_tools` choice, a malformed field.
    ///
    /// It clones the whole body first: for a caller that keeps the body (the gateway, done
    /// with it, takes it: [`take_normalized`](Self::take_normalized)).
    pub fn try_to_normalized(&self) -> Result<Request, RequestError> {
        self.clone().take_normalized()
    }

    /// [`try_to_normalized`](Self::try_to_normalized), the messages' text moved out of the
    /// body into the request rather than copied (a prompt of megabytes is not copied once
    /// more): for a caller done with the messages, which are left without their text.
    pub fn take_normalized(&mut self) -> Result<Request, RequestError> {
        // In OpenAI's order (the OpenAI fake's): the messages, then `n`, then sampling.
        if self.messages.is_empty() {
            return Err(RequestError {
                code: "empty_array",
                ..invalid(
                    "messages",
                    "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                )
            });
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        let mut needs = Capabilities::NONE;
        for (i, m) in self.messages.iter_mut().enumerate() {
            let message = normalized_message(i, m)?;
            if message.content.iter().any(|p| matches!(p, Part::Image(_))) {
                needs = needs.union(Capabilities::VISION);
            }
            messages.push(message);
        }
        self.check_ranges()?;
        let tools = self.normalized_tools()?;
        if !tools.is_empty() {
            needs = needs.union(Capabilities::TOOLS);
        }
        let tool_choice = self
            .tool_choice
            .as_ref()
            .filter(|v| !v.is_null())
            .map(parse_tool_choice)
            .transpose()?;
        let response_format = self
            .response_format
            .as_ref()
            .filter(|v| !v.is_null())
            .map(parse_response_format)
            .transpose()?;
        if matches!(
            response_format,
            Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
        ) {
            needs = needs.union(Capabilities::JSON_MODE);
        }
        Ok(Request {
            route: self.model.clone(),
            estimated_prompt_tokens: estimate_prompt_tokens(&messages, &tools),
            messages,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            stream: self.stream.unwrap_or(false),
            needs,
            tools,
            tool_choice,
            parallel_tool_calls: self.parallel_tool_calls,
            response_format,
            sampling: Sampling {
                temperature: self.temperature,
                top_p: self.top_p,
                top_k: None,
                stop: parse_stop(&self.stop)?,
                seed: self.seed,
                presence_penalty: self.presence_penalty,
                frequency_penalty: self.frequency_penalty,
            },
            n: self.n,
            user: self.user.clone(),
            ..Request::default()
        })
    }

    /// What OpenAI refuses whichever model serves (with no message at all and a message
    /// without content, `take_normalized`): `n` out of its range, a decimal sampling field
    /// out of its ([`DECIMAL_RANGES`]); in its words and codes, so that a client gets the
    /// same refusal whatever the target (another vendor may take what OpenAI refuses, or
    /// refuse it in words about its own fields). A decimal is quoted as it prints here; the
    /// gateway quotes the client's literal (`5.0`, `1e300`), as OpenAI does.
    fn check_ranges(&self) -> Result<(), RequestError> {
        if let Some(n) = self.n
            && !(1..=MAX_CHOICES).contains(&n)
        {
            // OpenAI's own words and code, as it refuses the same value.
            let (message, code) = if n == 0 {
                crate::dialect::openai::out_of_range("n", "0", true, 1)
            } else {
                crate::dialect::openai::out_of_range(
                    "n",
                    &n.to_string(),
                    false,
                    i128::from(MAX_CHOICES),
                )
            };
            return Err(RequestError {
                code,
                ..invalid("n", message)
            });
        }
        let values = [
            self.temperature,
            self.top_p,
            self.presence_penalty,
            self.frequency_penalty,
        ];
        for ((field, min, max), value) in DECIMAL_RANGES.into_iter().zip(values) {
            let Some(x) = value.filter(|x| !(min..=max).contains(x)) else {
                continue;
            };
            let below = x < min;
            let bound = if below { min } else { max };
            let (message, code) =
                crate::dialect::openai::decimal_out_of_range(field, &x.to_string(), below, bound);
            return Err(RequestError {
                code,
                ..invalid(field, message)
            });
        }
        Ok(())
    }

    /// The body's tools: functions only.
    fn normalized_tools(&self) -> Result<Vec<Tool>, RequestError> {
        let mut tools = Vec::new();
        for (i, t) in self.tools.iter().flatten().enumerate() {
            let function = match (&*t.kind, &t.function) {
                ("function", Some(f)) => f,
                ("function", None) => {
                    return Err(invalid(
                        format!("tools[{i}].function"),
                        "a function tool needs `function`",
                    ));
                }
                (other, _) => {
                    return Err(invalid(
                        format!("tools[{i}].type"),
                        format!("tools of type `{other}` are not supported by this gateway"),
                    ));
                }
            };
            tools.push(Tool {
                name: function.name.clone(),
                description: function.description.clone(),
                parameters: function.parameters.clone(),
                strict: function.strict,
            });
        }
        Ok(tools)
    }

    /// [`try_to_normalized`](Self::try_to_normalized), or — for a body it refuses — the
    /// messages' text alone (unknown roles read as `user`): what a fake needs to answer.
    pub fn to_normalized(&self) -> Request {
        self.try_to_normalized().unwrap_or_else(|_| {
            let messages: Vec<Message> = self
                .messages
                .iter()
                .map(|m| {
                    Message::text(
                        parse_role(&m.role).unwrap_or(Role::User),
                        content_text(&m.content),
                    )
                })
                .collect();
            Request {
                route: self.model.clone(),
                estimated_prompt_tokens: estimate_prompt_tokens(&messages, &[]),
                messages,
                max_tokens: self.max_completion_tokens.or(self.max_tokens),
                stream: self.stream.unwrap_or(false),
                ..Request::default()
            }
        })
    }
}

/// Message `i` of a client's body, normalized: a tool message's text becomes its result, an
/// assistant's tool calls become parts after its content.
fn normalized_message(i: usize, m: &mut ChatMessage) -> Result<Message, RequestError> {
    let at = At(i);
    let Some(role) = parse_role(&m.role) else {
        return Err(invalid(
            format!("{at}.role"),
            format!(
                "unknown role `{}`: expected system, developer, user, assistant or tool",
                m.role
            ),
        ));
    };
    // Only an assistant (calling tools, or saying nothing) may leave its content out.
    if role != Role::Assistant && matches!(m.content, None | Some(Value::Null)) {
        return Err(RequestError {
            code: "missing_required_parameter",
            ..invalid(
                format!("{at}.content"),
                format!("Missing required parameter: '{at}.content'."),
            )
        });
    }
    let mut content = content_parts(&mut m.content, at)?;
    if role == Role::Tool {
        let Some(call_id) = &m.tool_call_id else {
            return Err(invalid(
                format!("{at}.tool_call_id"),
                "a tool message needs `tool_call_id`",
            ));
        };
        if content.iter().any(|p| !matches!(p, Part::Text(_))) {
            return Err(invalid(
                format!("{at}.content"),
                "a tool message's content is text",
            ));
        }
        let text = Message {
            role,
            content,
            name: None,
        }
        .text_content();
        content = vec![Part::ToolResult(ToolResult {
            call_id: call_id.clone(),
            content: text,
            is_error: false,
        })];
    }
    if let Some(calls) = &m.tool_calls {
        if role != Role::Assistant {
            return Err(invalid(
                format!("{at}.tool_calls"),
                "only assistant messages carry tool_calls",
            ));
        }
        for (j, c) in calls.iter().enumerate() {
            if c.kind != "function" {
                return Err(invalid(
                    format!("{at}.tool_calls[{j}].type"),
                    format!("tool calls of type `{}` are not supported", c.kind),
                ));
            }
            content.push(Part::ToolCall(ToolCall {
                id: c.id.clone(),
                name: c.function.name.clone(),
                arguments: c.function.arguments.clone(),
            }));
        }
    }
    Ok(Message {
        role,
        content,
        name: m.name.clone(),
    })
}
