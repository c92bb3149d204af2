//! Anthropic Messages.
//!
//! Replies and stream events are read with lenient types of this module's own rather than
//! the core's (which are what the fakes write): usage may be missing, and event types this
//! version does not know are skipped, as Anthropic's versioning policy asks of clients.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use switchyard_core::dialect::Unsupported;
use switchyard_core::dialect::anthropic::{
    ContentBlock, DEFAULT_MAX_TOKENS, MessageUsage, MessagesRequest, PATH, parse_stop,
};
use switchyard_core::outcome::Outcome;
use switchyard_core::request::{FinishReason, Request, Usage};

use super::{Decoded, Step, StreamDecoder, estimated_usage, malformed};
use crate::sse::Event;

pub(super) fn encode(
    model: &str,
    request: &Request,
    default_max_tokens: Option<u32>,
) -> Result<(String, Vec<u8>), Unsupported> {
    let body = MessagesRequest::from_normalized(
        request,
        model,
        default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
    )?;
    Ok((
        PATH.to_owned(),
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
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
    content: Vec<ContentBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<MessageUsage>,
}

pub(super) fn decode(body: &[u8]) -> Option<Decoded> {
    let reply: Reply = serde_json::from_slice(body).ok()?;
    let text: String = reply
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .map(|b| b.text.as_str())
        .collect();
    let finish = reply
        .stop_reason
        .as_deref()
        .map_or(FinishReason::Stop, parse_stop);
    let usage = reply.usage.map(|u| Usage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        cached_prompt_tokens: 0,
    });
    Some(Decoded {
        usage: usage.unwrap_or_else(|| estimated_usage(&text)),
        usage_missing: usage.is_none(),
        text,
        finish,
    })
}

/// The stream events the decoder acts on; every other `type` is [`Incoming::Other`].
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockDelta {
        delta: Delta,
    },
    MessageDelta {
        #[serde(default)]
        delta: Option<StopDelta>,
        #[serde(default)]
        usage: Option<DeltaUsage>,
    },
    MessageStop,
    Error {
        #[serde(default)]
        error: Value,
    },
    /// `ping`, `content_block_start`, `content_block_stop`, and types added later.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: Option<StartUsage>,
}

#[derive(Deserialize)]
struct StartUsage {
    input_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct StopDelta {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct DeltaUsage {
    output_tokens: Option<u32>,
}

pub(super) fn step(d: &mut StreamDecoder, event: &Event) -> Result<Step, Outcome> {
    let parsed: Incoming = serde_json::from_str(&event.data).map_err(|_| malformed())?;
    Ok(match parsed {
        Incoming::MessageStart { message } => {
            if let Some(tokens) = message.usage.and_then(|u| u.input_tokens) {
                d.report_prompt(tokens);
            }
            Step::Nothing
        }
        // Only text deltas are text (`input_json_delta`, `thinking_delta`... are not).
        Incoming::ContentBlockDelta { delta } if delta.kind == "text_delta" => {
            Step::Text(delta.text)
        }
        Incoming::MessageDelta { delta, usage } => {
            if let Some(reason) = delta.and_then(|d| d.stop_reason) {
                d.finish = Some(parse_stop(&reason));
            }
            if let Some(tokens) = usage.and_then(|u| u.output_tokens) {
                d.report_completion(tokens);
            }
            Step::Nothing
        }
        Incoming::MessageStop => Step::Done,
        Incoming::Error { error } => {
            // An error in the middle of a stream (`overloaded_error`, ...).
            let body = serde_json::json!({ "type": "error", "error": error }).to_string();
            return Err(switchyard_core::dialect::anthropic::classify(
                500,
                &[("x", "x")],
                body.as_bytes(),
            ));
        }
        Incoming::ContentBlockDelta { .. } | Incoming::Other => Step::Nothing,
    })
}
