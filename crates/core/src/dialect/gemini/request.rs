//! Gemini generateContent requests: a normalized [`Request`] onto the wire (`from_normalized`,
//! refusing what Gemini cannot express — see [`check`]), and a body back to a (text-only)
//! normalized request for the fakes.
//!
//! Translation rules (from the vendors' documented request shapes): leading system messages become
//! `systemInstruction`; turns are `user` or `model`, same-role runs merged; tool calls become
//! `functionCall` parts, the first of each model turn carrying the documented placeholder
//! `thoughtSignature` (the client never saw Gemini's own); tool results become
//! `functionResponse` parts named after the call they answer; images become `inlineData` or
//! `fileData`; `json_object` and `json_schema` become `responseMimeType` (and
//! `responseJsonSchema`). The end user's id (`user`) is dropped: Gemini has no such field and
//! it has no effect on a reply.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::GenerationConfig;
use crate::dialect::{Dialect, Unsupported};
use crate::request::{
    Image, ImageSource, Message, Part, Request, ResponseFormat, Role, ToolCall, ToolChoice,
};

/// The placeholder Gemini documents for calls it did not produce itself.
pub const SKIP_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";
/// The most stop sequences Gemini takes.
pub const MAX_STOP_SEQUENCES: usize = 5;

/// A `generateContent` request body (the model is in the path: [`path`](super::path)).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateRequest {
    /// The conversation's turns, oldest first, alternating `user` and `model`.
    pub contents: Vec<InputContent>,
    /// The leading system messages, one text part each, without a role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<InputContent>,
    /// Output cap and sampling; absent when nothing is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// Per-category blocking thresholds; accepted in a body the fake reads, never sent (the
    /// vendor's defaults apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_settings: Option<Value>,
    /// `[{"functionDeclarations":[{name, description?, parametersJsonSchema?}]}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    /// `{"functionCallingConfig":{"mode", "allowedFunctionNames"?}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<Value>,
}

/// One turn of a request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InputContent {
    /// `user` (tool results too) or `model`; none on `systemInstruction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The turn's parts, in order.
    #[serde(default)]
    pub parts: Vec<InputPart>,
}

/// One part of a request turn: text, an image, a function call or a function's response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputPart {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An image sent inline (from a `data:` URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    /// An image by URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    /// A call the model made, in a `model` turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// A tool's result, in a `user` turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    /// On the first `functionCall` of each model turn: [`SKIP_THOUGHT_SIGNATURE`] (we
    /// never hold Gemini's own signature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

/// Inline bytes of an [`InputPart`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// The data's media type (`image/png`).
    pub mime_type: String,
    /// Base64.
    pub data: String,
}

/// A file by URI in an [`InputPart`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    /// The media type, guessed from the URL's extension (`.png`, `.jpg`, `.webp`, …) when
    /// it has a known one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The file's URL.
    pub file_uri: String,
}

/// A `functionCall` part: a call the model made earlier in the conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The call's id as the client knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function's name.
    pub name: String,
    /// The arguments, a JSON object (text arguments that are not one are refused; empty text
    /// is `{}`).
    #[serde(default)]
    pub args: Value,
}

/// A `functionResponse` part: a tool's result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionResponse {
    /// The id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The called function's name (Gemini needs it; taken from the call it answers).
    pub name: String,
    /// `{"output": ...}` or `{"error": ...}`.
    pub response: Value,
}

impl InputContent {
    /// The text parts, joined.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .collect()
    }
}

fn refuse(field: String, reason: &str) -> Unsupported {
    Unsupported {
        field,
        dialect: Dialect::Gemini,
        reason: reason.to_owned(),
    }
}

/// A call's arguments as the object `functionCall.args` needs (empty text is `{}`).
fn call_args(call: &ToolCall, field: impl FnOnce() -> String) -> Result<Value, Unsupported> {
    if call.arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(refuse(
            format!("{}.arguments", field()),
            "tool call arguments must be a JSON object to become functionCall args",
        )),
    }
}

/// The name of the call `call_id` answers: the nearest earlier assistant turn (before message
/// `before`) with a call of that id — nearest, because ids repeat across turns (Gemini's own
/// replies carry none, and synthesised ones restart in each reply).
fn call_name<'a>(request: &'a Request, before: usize, call_id: &str) -> Option<&'a str> {
    request
        .messages
        .iter()
        .take(before)
        .rev()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| &m.content)
        .find_map(|p| match p {
            Part::ToolCall(c) if c.id == call_id => Some(c.name.as_str()),
            _ => None,
        })
}

/// What Gemini cannot express: a system message after the conversation started; a
/// participant `name`; an image `detail` other than `auto`; tool-call arguments that are not
/// a JSON object; a tool result whose call is not in an earlier assistant turn (Gemini needs
/// the function's name); a `strict` tool or JSON schema; `parallel_tool_calls: false`; more
/// than 5 stop sequences.
pub fn check(request: &Request) -> Result<(), Unsupported> {
    let lead = request.leading_system_messages();
    for (i, m) in request.messages.iter().enumerate() {
        if m.role == Role::System && i >= lead {
            return Err(refuse(
                format!("messages[{i}]"),
                "a system message after the conversation started has no place (only leading system messages become `systemInstruction`)",
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
                Part::Image(image) if image.detail.as_deref().is_some_and(|d| d != "auto") => {
                    return Err(refuse(
                        format!("{}.detail", at()),
                        "there is no per-image detail setting",
                    ));
                }
                Part::ToolCall(_) if m.role != Role::Assistant => {
                    return Err(refuse(at(), "tool calls belong in model turns"));
                }
                Part::ToolCall(call) => {
                    call_args(call, at)?;
                }
                Part::ToolResult(_) if !matches!(m.role, Role::Tool | Role::User) => {
                    return Err(refuse(at(), "tool results belong in user turns"));
                }
                Part::ToolResult(r) if call_name(request, i, &r.call_id).is_none() => {
                    return Err(refuse(
                        format!("{}.call_id", at()),
                        "a function response needs the name of its call, and no earlier assistant turn has a call with this id",
                    ));
                }
                _ => {}
            }
        }
    }
    if let Some(i) = request.tools.iter().position(|t| t.strict == Some(true)) {
        return Err(refuse(
            format!("tools[{i}].strict"),
            "function declarations have no strict mode",
        ));
    }
    if let Some(ResponseFormat::JsonSchema {
        strict: Some(true), ..
    }) = request.response_format
    {
        return Err(refuse(
            "response_format.json_schema.strict".to_owned(),
            "`responseJsonSchema` guides the reply but does not guarantee it (no strict mode)",
        ));
    }
    if request.parallel_tool_calls == Some(false) {
        return Err(refuse(
            "parallel_tool_calls".to_owned(),
            "the number of calls in a reply cannot be limited",
        ));
    }
    if request.sampling.stop.len() > MAX_STOP_SEQUENCES {
        return Err(refuse(
            "stop".to_owned(),
            "at most 5 stop sequences are accepted",
        ));
    }
    Ok(())
}

/// A MIME type for a URL's image, from its extension, if it names one.
fn url_mime(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    };
    Some(mime.to_owned())
}

fn image_part(image: &Image) -> InputPart {
    match &image.source {
        ImageSource::Base64 { media_type, data } => InputPart {
            inline_data: Some(Blob {
                mime_type: media_type.clone(),
                data: data.clone(),
            }),
            ..InputPart::default()
        },
        ImageSource::Url(url) => InputPart {
            file_data: Some(FileData {
                mime_type: url_mime(url),
                file_uri: url.clone(),
            }),
            ..InputPart::default()
        },
    }
}

/// The conversation after the leading system messages, as Gemini's turns: consecutive
/// messages of one side share a turn.
fn contents(request: &Request, lead: usize) -> Result<Vec<InputContent>, Unsupported> {
    let mut contents: Vec<InputContent> = Vec::new();
    for (i, m) in request.messages.iter().enumerate().skip(lead) {
        let role = if m.role == Role::Assistant {
            "model"
        } else {
            "user"
        };
        if contents
            .last()
            .is_none_or(|c| c.role.as_deref() != Some(role))
        {
            contents.push(InputContent {
                role: Some(role.to_owned()),
                parts: Vec::new(),
            });
        }
        let Some(turn) = contents.last_mut() else {
            continue;
        };
        for (j, p) in m.content.iter().enumerate() {
            let part = match p {
                Part::Text(t) => InputPart {
                    text: Some(t.clone()),
                    ..InputPart::default()
                },
                Part::Image(image) => image_part(image),
                Part::ToolCall(call) => {
                    let first = !turn.parts.iter().any(|p| p.function_call.is_some());
                    InputPart {
                        function_call: Some(FunctionCall {
                            id: Some(call.id.clone()),
                            name: call.name.clone(),
                            args: call_args(call, || format!("messages[{i}].content[{j}]"))?,
                        }),
                        thought_signature: first.then(|| SKIP_THOUGHT_SIGNATURE.to_owned()),
                        ..InputPart::default()
                    }
                }
                Part::ToolResult(r) => {
                    let Some(name) = call_name(request, i, &r.call_id) else {
                        // `check` refused this already.
                        continue;
                    };
                    let key = if r.is_error { "error" } else { "output" };
                    InputPart {
                        function_response: Some(FunctionResponse {
                            id: Some(r.call_id.clone()),
                            name: name.to_owned(),
                            response: json!({ key: r.content }),
                        }),
                        ..InputPart::default()
                    }
                }
            };
            turn.parts.push(part);
        }
    }
    Ok(contents)
}

/// The request's tools, as one `functionDeclarations` entry.
fn tool_declarations(request: &Request) -> Value {
    let declarations: Vec<Value> = request
        .tools
        .iter()
        .map(|t| {
            let mut d = json!({ "name": t.name });
            if let Some(map) = d.as_object_mut() {
                if let Some(desc) = &t.description {
                    map.insert("description".to_owned(), json!(desc));
                }
                if let Some(p) = &t.parameters {
                    map.insert("parametersJsonSchema".to_owned(), p.clone());
                }
            }
            d
        })
        .collect();
    json!([{ "functionDeclarations": declarations }])
}

fn tool_config(c: &ToolChoice) -> Value {
    let config = match c {
        ToolChoice::Auto => json!({ "mode": "AUTO" }),
        ToolChoice::None => json!({ "mode": "NONE" }),
        ToolChoice::Required => json!({ "mode": "ANY" }),
        ToolChoice::Named(name) => {
            json!({ "mode": "ANY", "allowedFunctionNames": [name] })
        }
    };
    json!({ "functionCallingConfig": config })
}

/// Sampling, the output cap and the response format.
fn generation_config(request: &Request) -> GenerationConfig {
    let (mime, schema) = match &request.response_format {
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            (Some("application/json"), Some(schema.clone()))
        }
        Some(ResponseFormat::Text) | None => (None, None),
    };
    let s = &request.sampling;
    GenerationConfig {
        max_output_tokens: request.max_tokens,
        temperature: s.temperature,
        top_p: s.top_p,
        top_k: s.top_k,
        stop_sequences: (!s.stop.is_empty()).then(|| s.stop.clone()),
        candidate_count: request.n,
        seed: s.seed,
        presence_penalty: s.presence_penalty,
        frequency_penalty: s.frequency_penalty,
        response_mime_type: mime.map(str::to_owned),
        response_json_schema: schema,
    }
}

impl GenerateRequest {
    /// The wire request for `request` (Gemini names the model in the path). Refused, naming
    /// the field, when Gemini cannot express it (see [`check`]).
    pub fn from_normalized(request: &Request) -> Result<Self, Unsupported> {
        check(request)?;
        let lead = request.leading_system_messages();
        let contents = contents(request, lead)?;
        let system: Vec<InputPart> = request
            .messages
            .iter()
            .take(lead)
            .map(|m| InputPart {
                text: Some(m.text_content()),
                ..InputPart::default()
            })
            .collect();
        let tools = (!request.tools.is_empty()).then(|| tool_declarations(request));
        let tool_config = request.tool_choice.as_ref().map(tool_config);
        let config = generation_config(request);
        Ok(GenerateRequest {
            contents,
            system_instruction: (!system.is_empty()).then_some(InputContent {
                role: None,
                parts: system,
            }),
            generation_config: (config != GenerationConfig::default()).then_some(config),
            safety_settings: None,
            tools,
            tool_config,
        })
    }

    /// The normalized request (text only): what a fake needs to answer. Gemini names the
    /// model in the path, so the caller gives it.
    pub fn to_normalized(&self, model: &str, stream: bool) -> Request {
        let mut messages = Vec::new();
        if let Some(system) = &self.system_instruction {
            messages.push(Message::text(Role::System, system.text()));
        }
        messages.extend(self.contents.iter().map(|c| {
            Message::text(
                if c.role.as_deref() == Some("model") {
                    Role::Assistant
                } else {
                    Role::User
                },
                c.text(),
            )
        }));
        Request {
            route: model.to_owned(),
            estimated_prompt_tokens: messages
                .iter()
                .map(|m| crate::dialect::estimate_tokens_from_chars(m.chars()) + 4)
                .sum(),
            messages,
            max_tokens: self
                .generation_config
                .as_ref()
                .and_then(|g| g.max_output_tokens),
            stream,
            ..Request::default()
        }
    }
}
