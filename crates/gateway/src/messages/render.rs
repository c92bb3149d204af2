//! Replies in Anthropic's format: a whole message as JSON, or a stream as Anthropic's named
//! SSE events. Pure: no I/O, so the event sequences are unit-tested from synthetic input.
//!
//! A stream is, exactly:
//!
//! ```text
//! message_start            (usage: the prompt estimate; the real counts come in message_delta)
//! for each block, in order (index counts every block, text and tool_use alike):
//!   content_block_start    (text: "" | tool_use: {id, name, input: {}})
//!   content_block_delta*   (text_delta | input_json_delta)
//!   content_block_stop
//! message_delta            (stop_reason, usage: input, output and cache-read tokens)
//! message_stop
//! ```
//!
//! or, when the stream breaks, the same up to the break and then one `error` event.

use serde_json::{Value, json};
use switchyard_core::request::{FinishReason, Response, ToolCall, Usage};
use switchyard_live::StreamEvent;

/// Anthropic's `stop_reason` for a reply. A reply that carries tool calls stopped to call
/// them, whatever the upstream's finish reason said (OpenAI says `stop` when a named tool
/// was forced); `tool_use` without a call would leave an SDK's tool loop with nothing to run.
/// `stop_sequence` is never said: the normalized reply does not tell a stop sequence apart
/// from a natural end.
pub(crate) fn stop_reason(finish: FinishReason, has_tool_calls: bool) -> &'static str {
    match finish {
        FinishReason::Length => "max_tokens",
        FinishReason::ContentFilter => "refusal",
        FinishReason::Stop | FinishReason::ToolCalls if has_tool_calls => "tool_use",
        FinishReason::Stop | FinishReason::ToolCalls => "end_turn",
    }
}

/// Anthropic's usage: `input_tokens` excludes cache reads, which are counted apart.
pub(crate) fn usage(u: Usage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens.saturating_sub(u.cached_prompt_tokens),
        "output_tokens": u.completion_tokens,
        "cache_read_input_tokens": u.cached_prompt_tokens,
    })
}

/// A tool call's arguments as Anthropic's `input`: a JSON object. Empty arguments are `{}`;
/// anything that is not an object is `None` (the model wrote invalid arguments).
pub(crate) fn tool_input(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(json!({}));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// The id of a tool call: the upstream's, or one made from the message id when it has none.
fn tool_id(id: Option<&str>, message_id: &str, n: u32) -> String {
    match id {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => format!("toolu_{}_{n}", message_id.trim_start_matches("msg_")),
    }
}

/// A reply the gateway cannot put in Anthropic's format.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unrenderable(pub(crate) String);

/// The whole reply: `{id, type, role, model, content, stop_reason, stop_sequence, usage}`;
/// content is the text block (when there is text), then a `tool_use` block per call.
pub(crate) fn message(id: &str, model: &str, reply: &Response) -> Result<Value, Unrenderable> {
    let mut content = Vec::with_capacity(1 + reply.tool_calls.len());
    if !reply.text.is_empty() {
        content.push(json!({"type": "text", "text": reply.text}));
    }
    for (n, call) in (0u32..).zip(&reply.tool_calls) {
        content.push(tool_use(id, n, call)?);
    }
    Ok(json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(reply.finish_reason, !reply.tool_calls.is_empty()),
        "stop_sequence": null,
        "usage": usage(reply.usage),
    }))
}

fn tool_use(message_id: &str, n: u32, call: &ToolCall) -> Result<Value, Unrenderable> {
    let Some(input) = tool_input(&call.arguments) else {
        return Err(Unrenderable(format!(
            "the model called tool `{}` with arguments that are not a JSON object",
            call.name
        )));
    };
    Ok(json!({
        "type": "tool_use",
        "id": tool_id(Some(&call.id), message_id, n),
        "name": call.name,
        "input": input,
    }))
}

/// An error event's (or error reply's) body.
pub(crate) fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// One SSE event: its name and its data.
pub(crate) type Event = (&'static str, Value);

/// The block now open in a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    None,
    Text,
    /// The tool call of this (OpenAI-style, tool-calls-only) index.
    Tool(u32),
}

/// Turns the router's stream events into Anthropic's, block by block.
#[derive(Debug)]
pub(crate) struct Stream {
    id: String,
    model: String,
    /// Blocks started so far: the next block's index.
    blocks: u32,
    open: Open,
    /// The highest tool-call index started: calls arrive in order, one after another.
    last_call: Option<u32>,
    ended: bool,
}

impl Stream {
    pub(crate) fn new(id: String, model: String) -> Self {
        Stream {
            id,
            model,
            blocks: 0,
            open: Open::None,
            last_call: None,
            ended: false,
        }
    }

    /// The first event: the message, empty, with the prompt estimate as its input tokens.
    pub(crate) fn start(&self, estimated_input_tokens: u32) -> Event {
        (
            "message_start",
            json!({"type": "message_start", "message": {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": estimated_input_tokens, "output_tokens": 0},
            }}),
        )
    }

    /// Whether the stream ended with `message_stop` (or an error): nothing more may follow.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    fn close(&mut self, out: &mut Vec<Event>) {
        if self.open != Open::None {
            let index = self.blocks.saturating_sub(1);
            out.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
            self.open = Open::None;
        }
    }

    fn begin(&mut self, block: Value, open: Open, out: &mut Vec<Event>) -> u32 {
        self.close(out);
        let index = self.blocks;
        self.blocks = self.blocks.saturating_add(1);
        self.open = open;
        out.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        index
    }

    /// The events for one stream event, appended to `out`. `Err` for pieces Anthropic's
    /// format cannot carry (a tool call resumed after the next one began); the caller ends
    /// the stream with [`Stream::error`].
    pub(crate) fn next(
        &mut self,
        event: StreamEvent,
        out: &mut Vec<Event>,
    ) -> Result<(), Unrenderable> {
        if self.ended {
            return Ok(());
        }
        match event {
            StreamEvent::Delta(text) => {
                // Anthropic never sends an empty text delta; an empty block says nothing.
                if text.is_empty() {
                    return Ok(());
                }
                let index = if self.open == Open::Text {
                    self.blocks.saturating_sub(1)
                } else {
                    self.begin(json!({"type": "text", "text": ""}), Open::Text, out)
                };
                out.push(delta(index, json!({"type": "text_delta", "text": text})));
            }
            StreamEvent::ToolCall {
                index: call,
                id,
                name,
                arguments,
            } => {
                let index = if self.open == Open::Tool(call) {
                    self.blocks.saturating_sub(1)
                } else if self.last_call.is_none_or(|last| call > last) {
                    self.last_call = Some(call);
                    let block = json!({
                        "type": "tool_use",
                        "id": tool_id(id.as_deref(), &self.id, call),
                        "name": name.unwrap_or_default(),
                        "input": {},
                    });
                    self.begin(block, Open::Tool(call), out)
                } else {
                    return Err(Unrenderable(format!(
                        "the upstream resumed tool call {call} after a later block began"
                    )));
                };
                if !arguments.is_empty() {
                    out.push(delta(
                        index,
                        json!({"type": "input_json_delta", "partial_json": arguments}),
                    ));
                }
            }
            // The calls were rendered piece by piece; `tool_calls` here repeats them whole.
            StreamEvent::End {
                finish, usage: u, ..
            } => {
                self.close(out);
                self.ended = true;
                out.push((
                    "message_delta",
                    json!({
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": stop_reason(finish, self.last_call.is_some()),
                            "stop_sequence": null,
                        },
                        "usage": usage(u),
                    }),
                ));
                out.push(("message_stop", json!({"type": "message_stop"})));
            }
        }
        Ok(())
    }

    /// The in-band error that ends a broken stream (Anthropic's `error` event: the SDKs
    /// raise on it rather than return a truncated message).
    pub(crate) fn error(&mut self, kind: &str, message: &str) -> Event {
        self.ended = true;
        ("error", error_body(kind, message))
    }
}

fn delta(index: u32, delta: Value) -> Event {
    (
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}
