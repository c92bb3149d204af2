//! A normalized request onto OpenAI's wire: [`ChatRequest::from_normalized`].

use serde_json::{Value, json};

use super::{
    ChatMessage, ChatRequest, FunctionDef, StreamOptions, ToolDef, WireFunctionCall, WireToolCall,
    check, image_url, role_name,
};
use crate::dialect::{Dialect, Unsupported};
use crate::request::{Message, Part, Request, ResponseFormat, Role, ToolChoice};

impl ChatRequest {
    /// The wire request for a normalized one, sent to `model`; refused (naming the field)
    /// when OpenAI cannot express it (see [`check`]).
    pub fn from_normalized(request: &Request, model: &str) -> Result<Self, Unsupported> {
        check(Dialect::Openai, request)?;
        let mut messages = Vec::with_capacity(request.messages.len());
        for m in &request.messages {
            push_wire_messages(m, &mut messages);
        }
        let tools = (!request.tools.is_empty()).then(|| {
            request
                .tools
                .iter()
                .map(|t| ToolDef {
                    kind: "function".to_owned(),
                    function: Some(FunctionDef {
                        name: t.name.clone(),
                        description: t.description.clone(),
                        parameters: t.parameters.clone(),
                        strict: t.strict,
                    }),
                })
                .collect()
        });
        let s = &request.sampling;
        Ok(ChatRequest {
            model: model.to_owned(),
            messages,
            max_tokens: None,
            max_completion_tokens: request.max_tokens,
            temperature: s.temperature,
            top_p: s.top_p,
            n: request.n,
            stop: (!s.stop.is_empty()).then(|| json!(s.stop)),
            seed: s.seed,
            presence_penalty: s.presence_penalty,
            frequency_penalty: s.frequency_penalty,
            user: request.user.clone(),
            stream: request.stream.then_some(true),
            stream_options: request.stream.then_some(StreamOptions {
                include_usage: true,
            }),
            tools,
            tool_choice: request.tool_choice.as_ref().map(wire_tool_choice),
            parallel_tool_calls: request.parallel_tool_calls,
            response_format: request.response_format.as_ref().map(wire_response_format),
        })
    }
}

/// One normalized message as OpenAI's messages: its tool results as `tool` messages, in
/// place, then the rest of it (if any).
fn push_wire_messages(m: &Message, messages: &mut Vec<ChatMessage>) {
    // Tool results become `tool` messages, in place, before the rest of the message.
    for p in &m.content {
        if let Part::ToolResult(r) = p {
            messages.push(ChatMessage {
                role: "tool".to_owned(),
                content: Some(Value::String(r.content.clone())),
                tool_call_id: Some(r.call_id.clone()),
                ..ChatMessage::default()
            });
        }
    }
    let calls: Vec<WireToolCall> = m
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(WireToolCall {
                id: c.id.clone(),
                kind: "function".to_owned(),
                function: WireFunctionCall {
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                },
            }),
            _ => None,
        })
        .collect();
    let rest: Vec<&Part> = m
        .content
        .iter()
        .filter(|p| matches!(p, Part::Text(_) | Part::Image(_)))
        .collect();
    let had_results = m.content.iter().any(|p| matches!(p, Part::ToolResult(_)));
    if m.role == Role::Tool || (had_results && rest.is_empty() && calls.is_empty()) {
        return;
    }
    let content = match rest.as_slice() {
        [] if !calls.is_empty() => None,
        [] => Some(Value::String(String::new())),
        [Part::Text(t)] => Some(Value::String(t.clone())),
        parts if m.role == Role::User => Some(Value::Array(
            parts
                .iter()
                .map(|p| match p {
                    Part::Image(image) => image_url(image),
                    Part::Text(t) => json!({ "type": "text", "text": t }),
                    // Only text and images are in `rest`.
                    Part::ToolCall(_) | Part::ToolResult(_) => Value::Null,
                })
                .collect(),
        )),
        _ => Some(Value::String(m.text_content())),
    };
    messages.push(ChatMessage {
        role: role_name(m.role).to_owned(),
        content,
        name: m.name.clone(),
        tool_calls: (!calls.is_empty()).then_some(calls),
        tool_call_id: None,
    });
}

fn wire_tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Named(name) => {
            json!({ "type": "function", "function": { "name": name } })
        }
    }
}

fn wire_response_format(f: &ResponseFormat) -> Value {
    match f {
        ResponseFormat::Text => json!({ "type": "text" }),
        ResponseFormat::JsonObject => json!({ "type": "json_object" }),
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => {
            let mut js = json!({ "name": name, "schema": schema });
            if let Some(map) = js.as_object_mut() {
                if let Some(d) = description {
                    map.insert("description".to_owned(), json!(d));
                }
                if let Some(s) = strict {
                    map.insert("strict".to_owned(), json!(s));
                }
            }
            json!({ "type": "json_schema", "json_schema": js })
        }
    }
}
