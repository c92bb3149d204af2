//! Anthropic Messages.
//!
//! Replies and stream events are read with lenient types of this module's own rather than
//! the core's (which are what the fakes write): usage may be missing, and event types this
//! version does not know are skipped, as Anthropic's versioning policy asks of clients.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use switchyard_core::dialect::Unsupported;
use switchyard_core::dialect::anthropic::{DEFAULT_MAX_TOKENS, MessagesRequest, PATH, parse_stop};
use switchyard_core::dialect::{Dialect, upstream};
use switchyard_core::request::{FinishReason, Request, ToolCall, Usage};

use super::{
    Decoded, Failure, MAX_TOOL_CALLS, Piece, Step, StreamDecoder, estimated_usage, malformed,
};
use crate::sse::Event;

pub(super) fn encode(
    model: &str,
    request: &Request,
    default_max_tokens: Option<u32>,
) -> Result<Vec<u8>, Unsupported> {
    let body = MessagesRequest::from_normalized(
        request,
        model,
        default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
    )?;
    Ok(serde_json::to_vec(&body).unwrap_or_default())
}

/// Where an Anthropic request goes.
pub(super) fn path() -> String {
    PATH.to_owned()
}

/// What `decode` reads of a message: `id`, `type`, `role` and `model` must be there (it is
/// not a message otherwise); `usage` may not be.
#[derive(Deserialize)]
struct Reply {
    #[serde(rename = "id")]
    _id: IgnoredAny,
    #[serde(rename = "type")]
    _kind: IgnoredAny,
    #[serde(rename = "role")]
    _role: IgnoredAny,
    #[serde(rename = "model")]
    _model: IgnoredAny,
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// A content block: `text`, `tool_use` (an `input` object), or another kind (`thinking`,
/// server tool blocks), which is not part of the answer.
#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    input: Option<Value>,
}

/// Usage, every count optional: the prompt is `input_tokens` plus the cache writes and reads.
#[derive(Clone, Copy, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u32>,
    #[serde(default)]
    output_tokens: Option<u32>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u32>,
    #[serde(default)]
    cache_read_input_tokens: Option<u32>,
}

/// A `tool_use` block's input as arguments text (`{}` when it has none).
fn arguments(input: Option<&Value>) -> String {
    match input {
        Some(v) if !v.is_null() => v.to_string(),
        _ => "{}".to_owned(),
    }
}

pub(super) fn decode(body: &[u8]) -> Result<Decoded, Failure> {
    let reply: Reply = serde_json::from_slice(body).map_err(|_| malformed())?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for b in &reply.content {
        match b.kind.as_str() {
            "text" => text.push_str(&b.text),
            "tool_use" => {
                if tool_calls.len() >= MAX_TOOL_CALLS {
                    return Err(malformed());
                }
                tool_calls.push(ToolCall {
                    id: b.id.clone(),
                    name: b.name.clone(),
                    arguments: arguments(b.input.as_ref()),
                });
            }
            _ => {}
        }
    }
    let finish = reply
        .stop_reason
        .as_deref()
        .map_or(FinishReason::Stop, parse_stop);
    let usage = reply.usage.map(|u| {
        let read = u.cache_read_input_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: u
                .input_tokens
                .unwrap_or(0)
                .saturating_add(u.cache_creation_input_tokens.unwrap_or(0))
                .saturating_add(read),
            completion_tokens: u.output_tokens.unwrap_or(0),
            cached_prompt_tokens: read,
        }
    });
    Ok(Decoded {
        usage: usage.unwrap_or_else(|| estimated_usage(&text)),
        usage_missing: usage.is_none(),
        text,
        tool_calls,
        finish,
        choices: Vec::new(),
        raw: None,
    })
}

/// The stream events the decoder acts on; every other `type` is [`Incoming::Other`].
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: u64,
        content_block: Block,
    },
    ContentBlockDelta {
        index: u64,
        delta: Delta,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        #[serde(default)]
        delta: Option<StopDelta>,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Error {
        #[serde(default)]
        error: Value,
    },
    /// `ping`, and types added later.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    partial_json: String,
}

#[derive(Deserialize)]
struct StopDelta {
    #[serde(default)]
    stop_reason: Option<String>,
}

/// Usage counts as they arrive: `message_start` has the prompt's (input, cache writes, cache
/// reads), each `message_delta` the cumulative output and, since 2025, optionally the prompt's
/// again. A count reported replaces the last one; one not reported keeps it.
fn report(d: &mut StreamDecoder, u: WireUsage) {
    let parts = [
        u.input_tokens,
        u.cache_creation_input_tokens,
        u.cache_read_input_tokens,
    ];
    if parts.iter().any(Option::is_some) {
        for (held, new) in d.prompt_parts.iter_mut().zip(parts) {
            if let Some(n) = new {
                *held = n;
            }
        }
        let [input, written, read] = d.prompt_parts;
        d.report_prompt(input.saturating_add(written).saturating_add(read));
        d.usage.cached_prompt_tokens = read;
    }
    if let Some(tokens) = u.output_tokens {
        d.report_completion(tokens);
    }
}

/// The tool-call index of content block `block`, if it is a tool call.
fn call_of(d: &StreamDecoder, block: u64) -> Option<u32> {
    d.blocks.iter().find(|(b, _)| *b == block).map(|(_, c)| *c)
}

/// A `tool_use` block starts: a new tool call.
fn start_call(
    d: &mut StreamDecoder,
    index: u64,
    block: Block,
    out: &mut Vec<Piece>,
) -> Result<(), Failure> {
    // Block indexes count every block; tool-call indexes count calls only.
    if call_of(d, index).is_some() {
        return Err(malformed());
    }
    let call = d.start_call(block.id.clone(), block.name.clone())?;
    d.blocks.push((index, call));
    out.push(Piece::ToolCall {
        index: call,
        id: Some(block.id),
        name: Some(block.name),
        arguments: String::new(),
    });
    Ok(())
}

/// A block stops. A call without arguments streams none: its arguments are `{}`, as in a
/// reply.
fn stop_block(d: &mut StreamDecoder, index: u64, out: &mut Vec<Piece>) -> Result<(), Failure> {
    if let Some(call) = call_of(d, index)
        && d.calls
            .get(call as usize)
            .is_some_and(|c| c.arguments.is_empty())
    {
        d.append_arguments(call, "{}")?;
        out.push(Piece::ToolCall {
            index: call,
            id: None,
            name: None,
            arguments: "{}".to_owned(),
        });
    }
    Ok(())
}

/// An error in the middle of a stream (`overloaded_error`, ...).
fn stream_error(error: Value) -> Failure {
    let body = serde_json::json!({ "type": "error", "error": error }).to_string();
    Failure {
        outcome: switchyard_core::dialect::anthropic::classify(500, &[("x", "x")], body.as_bytes()),
        upstream: upstream::parse(Dialect::Anthropic, 200, body.as_bytes()).map(Box::new),
        usage: None,
    }
}

pub(super) fn step(
    d: &mut StreamDecoder,
    event: &Event,
    out: &mut Vec<Piece>,
) -> Result<Step, Failure> {
    let parsed: Incoming = serde_json::from_str(&event.data).map_err(|_| malformed())?;
    match parsed {
        Incoming::MessageStart { message } => {
            if let Some(u) = message.usage {
                // Its `output_tokens` is a placeholder: only `message_delta` counts output.
                report(
                    d,
                    WireUsage {
                        output_tokens: None,
                        ..u
                    },
                );
            }
        }
        Incoming::ContentBlockStart {
            index,
            content_block,
        } if content_block.kind == "tool_use" => start_call(d, index, content_block, out)?,
        // Only text deltas are text (`thinking_delta`... are not).
        Incoming::ContentBlockDelta { delta, .. } if delta.kind == "text_delta" => {
            d.text(out, delta.text);
        }
        Incoming::ContentBlockDelta { index, delta } if delta.kind == "input_json_delta" => {
            let call = call_of(d, index).ok_or_else(malformed)?;
            d.append_arguments(call, &delta.partial_json)?;
            if !delta.partial_json.is_empty() {
                out.push(Piece::ToolCall {
                    index: call,
                    id: None,
                    name: None,
                    arguments: delta.partial_json,
                });
            }
        }
        Incoming::ContentBlockStop { index } => stop_block(d, index, out)?,
        Incoming::MessageDelta { delta, usage } => {
            if let Some(reason) = delta.and_then(|d| d.stop_reason) {
                d.finish = Some(parse_stop(&reason));
            }
            if let Some(u) = usage {
                report(d, u);
            }
        }
        Incoming::MessageStop => return Ok(Step::Done),
        Incoming::Error { error } => return Err(stream_error(error)),
        Incoming::ContentBlockStart { .. }
        | Incoming::ContentBlockDelta { .. }
        | Incoming::Other => {}
    }
    Ok(Step::More)
}
