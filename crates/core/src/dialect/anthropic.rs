//! Anthropic Messages (`POST /v1/messages`).

use serde::{Deserialize, Serialize};

use super::{HeaderSource, MAX_HEADER_DELAY, kind_for_status, parse_rfc3339, retry_after};
use crate::health::LimitSnapshot;
use crate::outcome::{ErrorKind, Outcome};
use crate::request::{FinishReason, Usage};
use crate::time::Duration;

mod request;

pub use request::{IMAGE_TYPES, InputMessage, MessagesRequest, check};

/// The Messages endpoint.
pub const PATH: &str = "/v1/messages";
/// The `anthropic-version` header every request carries (a provider's default headers).
pub const VERSION: &str = "2023-06-01";
/// `max_tokens` sent when the request has none (Anthropic requires it): a target's
/// `default_max_tokens` overrides it ([`Dialect::sent_max_tokens`](crate::vendor::Dialect::sent_max_tokens)).
pub const DEFAULT_MAX_TOKENS: u32 = crate::vendor::ANTHROPIC_DEFAULT_MAX_TOKENS;

/// A non-streamed reply (`"type": "message"`), also the `message` of a stream's
/// `message_start` event (then with no content and no stop reason yet). Text blocks only:
/// readers that need a reply's tool calls read the body with their own types.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageResponse {
    /// The message's id (`msg_…`).
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `assistant`.
    pub role: String,
    /// The model that answered.
    pub model: String,
    /// The content blocks, in order.
    pub content: Vec<ContentBlock>,
    /// Why it ended (see [`parse_stop`]); `null` in `message_start`.
    pub stop_reason: Option<String>,
    /// The stop sequence that ended it, when one did.
    pub stop_sequence: Option<String>,
    /// Token counts.
    pub usage: MessageUsage,
}

/// One block of a reply's content, as far as text goes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContentBlock {
    /// `text`, or another type (`tool_use`, `thinking`) whose content this does not keep.
    #[serde(rename = "type")]
    pub kind: String,
    /// A `text` block's text; empty for other types.
    #[serde(default)]
    pub text: String,
}

/// A reply's `usage`; absent counts read as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageUsage {
    /// Tokens of the prompt not read from the cache.
    #[serde(default)]
    pub input_tokens: u32,
    /// Tokens generated (in `message_delta`: so far, cumulative).
    #[serde(default)]
    pub output_tokens: u32,
}

/// `reason` as Anthropic's `stop_reason`: `end_turn`, `max_tokens`, `tool_use`, `refusal`.
pub fn stop_label(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

/// Anthropic's `stop_reason`: `end_turn`, `stop_sequence` and `pause_turn` (server tools)
/// are `stop`; `max_tokens` and `model_context_window_exceeded` are `length`; `tool_use` is
/// `tool_calls`; `refusal` is `content_filter`; values it does not define read as `stop`.
pub fn parse_stop(label: &str) -> FinishReason {
    match label {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

impl MessageResponse {
    /// A reply of one text block, ending for `finish`, with `usage`'s prompt and completion
    /// counts: what the fake answers.
    pub fn new(id: String, model: &str, text: String, finish: FinishReason, usage: Usage) -> Self {
        MessageResponse {
            id,
            kind: "message".to_owned(),
            role: "assistant".to_owned(),
            model: model.to_owned(),
            content: vec![ContentBlock {
                kind: "text".to_owned(),
                text,
            }],
            stop_reason: Some(stop_label(finish).to_owned()),
            stop_sequence: None,
            usage: MessageUsage {
                input_tokens: usage.prompt_tokens,
                output_tokens: usage.completion_tokens,
            },
        }
    }

    /// The text blocks joined (other blocks skipped) and the finish reason (`Stop` when
    /// `stop_reason` is `null`).
    pub fn text(&self) -> (String, FinishReason) {
        let text = self
            .content
            .iter()
            .filter(|b| b.kind == "text")
            .map(|b| b.text.as_str())
            .collect();
        (
            text,
            self.stop_reason
                .as_deref()
                .map_or(FinishReason::Stop, parse_stop),
        )
    }
}

/// Streaming events, tagged by `type` (the SSE `event:` line repeats it). A reader meets
/// types added after this was written as [`WireEvent::Unknown`] and skips them, as
/// Anthropic's versioning policy asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireEvent {
    /// The stream's first event: the message with empty content.
    MessageStart {
        /// The message so far.
        message: MessageResponse,
    },
    /// A content block begins.
    ContentBlockStart {
        /// The block's position in the message's content, from 0.
        index: u32,
        /// The block, without its content yet.
        content_block: ContentBlock,
    },
    /// Keep-alive; carries nothing.
    Ping,
    /// More of a block's content.
    ContentBlockDelta {
        /// The block it extends.
        index: u32,
        /// What to append.
        delta: BlockDelta,
    },
    /// A block is complete.
    ContentBlockStop {
        /// The block that ended.
        index: u32,
    },
    /// Top-level changes at the message's end: the stop reason and the output count.
    MessageDelta {
        /// The stop reason and sequence.
        delta: MessageDeltaBody,
        /// Zero when absent (the live adapter reads its own type, which tells absent apart).
        #[serde(default)]
        usage: MessageUsage,
    },
    /// The stream's last event.
    MessageStop,
    /// An error in the middle of a stream (`overloaded_error` is the usual one); the stream
    /// ends with it.
    Error {
        /// What went wrong; [`classify`] reads it like an error reply's body.
        error: ErrorDetail,
    },
    /// Any other `type`; written as `{"type":"unknown"}`.
    #[serde(other)]
    Unknown,
}

/// The `delta` of a `content_block_delta` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockDelta {
    /// `text_delta`, or another type (`input_json_delta`, `thinking_delta`) whose content
    /// this does not keep.
    #[serde(rename = "type")]
    pub kind: String,
    /// A `text_delta`'s text; empty for other types.
    #[serde(default)]
    pub text: String,
}

/// The `delta` of a `message_delta` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaBody {
    /// Why the message ended (see [`parse_stop`]).
    pub stop_reason: Option<String>,
    /// The stop sequence that ended it, when one did.
    pub stop_sequence: Option<String>,
}

impl WireEvent {
    /// The event's `type`, which is also its SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            WireEvent::MessageStart { .. } => "message_start",
            WireEvent::ContentBlockStart { .. } => "content_block_start",
            WireEvent::Ping => "ping",
            WireEvent::ContentBlockDelta { .. } => "content_block_delta",
            WireEvent::ContentBlockStop { .. } => "content_block_stop",
            WireEvent::MessageDelta { .. } => "message_delta",
            WireEvent::MessageStop => "message_stop",
            WireEvent::Error { .. } => "error",
            WireEvent::Unknown => "unknown",
        }
    }

    /// A `text_delta` of block 0: the fake's form, whose replies are one text block.
    pub fn text_delta(text: String) -> Self {
        WireEvent::ContentBlockDelta {
            index: 0,
            delta: BlockDelta {
                kind: "text_delta".to_owned(),
                text,
            },
        }
    }
}

/// An error reply's body: `{"type": "error", "error": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Always `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` of an [`ErrorBody`] or of an `error` stream event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The error's type (`rate_limit_error`, `overloaded_error`, `invalid_request_error`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// A sentence for people.
    pub message: String,
}

impl ErrorBody {
    /// An error body of type `kind`.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        ErrorBody {
            kind: "error".to_owned(),
            error: ErrorDetail {
                kind: kind.to_owned(),
                message: message.into(),
            },
        }
    }

    /// The status and body Anthropic answers with for an error of this kind.
    pub fn for_kind(kind: ErrorKind) -> (u16, ErrorBody) {
        let (status, t, m) = match kind {
            ErrorKind::RateLimited => (
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
            ),
            ErrorKind::Unauthorized => (401, "authentication_error", "invalid x-api-key"),
            ErrorKind::Forbidden => (
                403,
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            ErrorKind::BadRequest => (400, "invalid_request_error", "messages: field required"),
            ErrorKind::ContextLengthExceeded => (
                400,
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
            ),
            ErrorKind::ContentFiltered => (
                400,
                "invalid_request_error",
                "Output blocked by content filtering policy",
            ),
            ErrorKind::Overloaded => (529, "overloaded_error", "Overloaded"),
            _ => (500, "api_error", "Internal server error"),
        };
        (status, ErrorBody::new(t, m))
    }
}

/// Maps an error reply (or an `error` stream event's body) to the taxonomy.
pub fn classify(status: u16, headers: &dyn HeaderSource, body: &[u8]) -> Outcome {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let kind = match parsed
        .as_ref()
        .map(|b| (b.error.kind.as_str(), b.error.message.as_str()))
    {
        Some(("invalid_request_error", m)) if m.contains("prompt is too long") => {
            ErrorKind::ContextLengthExceeded
        }
        Some(("invalid_request_error", m)) if m.contains("content filtering") => {
            ErrorKind::ContentFiltered
        }
        Some(("rate_limit_error", _)) => ErrorKind::RateLimited,
        Some(("authentication_error", _)) => ErrorKind::Unauthorized,
        Some(("permission_error" | "not_found_error", _)) => ErrorKind::Forbidden,
        Some(("overloaded_error", _)) => ErrorKind::Overloaded,
        Some(("api_error", _)) => ErrorKind::ServerError,
        _ => kind_for_status(status),
    };
    Outcome::Error {
        kind,
        retry_after: retry_after(headers),
    }
}

/// The `anthropic-ratelimit-*` headers; resets are RFC 3339 times, turned into durations from
/// `wall_now` (Unix seconds, supplied by the driver: the core has no clock), saturated at
/// [`MAX_HEADER_DELAY`]; a reset in the past is zero.
pub fn limits(headers: &dyn HeaderSource, wall_now: u64) -> LimitSnapshot {
    let num = |name: &str| {
        headers
            .header(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let reset = |name: &str| {
        headers
            .header(name)
            .and_then(parse_rfc3339)
            .map(|at| Duration::from_secs(at.saturating_sub(wall_now)).min(MAX_HEADER_DELAY))
    };
    LimitSnapshot {
        limit_requests: num("anthropic-ratelimit-requests-limit"),
        remaining_requests: num("anthropic-ratelimit-requests-remaining"),
        reset_requests: reset("anthropic-ratelimit-requests-reset"),
        limit_tokens: num("anthropic-ratelimit-tokens-limit"),
        remaining_tokens: num("anthropic-ratelimit-tokens-remaining"),
        reset_tokens: reset("anthropic-ratelimit-tokens-reset"),
    }
}
