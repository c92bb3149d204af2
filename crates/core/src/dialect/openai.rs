//! OpenAI Chat Completions (`POST /v1/chat/completions`), also the base of Azure OpenAI.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{HeaderSource, header_duration, kind_for_status, retry_after};
use crate::health::LimitSnapshot;
use crate::outcome::{ErrorKind, Outcome};
use crate::request::{FinishReason, Response, ToolCall, Usage};

mod forwarded;
mod request;
mod stream;

pub use forwarded::{Chunk, Forwarded, NotAReply, read_chunk, read_forwarded};

pub use request::{
    ChatMessage, ChatRequest, DECIMAL_RANGES, FunctionDef, MAX_CHOICES, MAX_STOP_SEQUENCES, Parsed,
    RequestError, StreamOptions, ToolDef, WireFunctionCall, WireToolCall, check, content_text,
    estimate_prompt_tokens, image_source, parse, parse_role, pass_through, pass_through_at,
    role_name, unmodelled_fields,
};
pub use stream::{ChatCompletionChunk, ChunkChoice, DONE, Delta, DeltaFunction, DeltaToolCall};

/// The Chat Completions endpoint.
pub const PATH: &str = "/v1/chat/completions";
/// The model list endpoint (`GET`), answered with a [`ModelList`].
pub const MODELS_PATH: &str = "/v1/models";

/// A non-streamed reply body (`"object": "chat.completion"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// The completion's id (`chatcmpl-…`).
    pub id: String,
    /// Always `chat.completion`.
    pub object: String,
    /// When it was made, in Unix seconds.
    pub created: u64,
    /// The model that answered, as the vendor names it.
    pub model: String,
    /// One per requested completion (`n`), in `index` order.
    pub choices: Vec<Choice>,
    /// Token counts; absent from some vendors' replies.
    #[serde(default)]
    pub usage: Option<CompletionUsage>,
    /// The backend configuration's fingerprint; ours is `fp_switchyard`.
    #[serde(default)]
    pub system_fingerprint: Option<String>,
    /// Azure OpenAI only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_filter_results: Option<Value>,
}

/// One completion of a reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Its position among the choices, from 0.
    pub index: u32,
    /// The assistant's message.
    pub message: AssistantMessage,
    /// Token log-probabilities, kept as sent; `null` unless the request asked for them (the
    /// fake's are always `null`).
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Why it ended (`stop`, `length`, `tool_calls`, `content_filter`; see [`parse_finish`]).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Azure OpenAI only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_filter_results: Option<Value>,
}

/// The message of a [`Choice`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// Always `assistant`.
    pub role: String,
    /// `null` when the message is only tool calls.
    #[serde(default)]
    pub content: Option<String>,
    /// The model's refusal text, when it refused instead of answering; ours is `null`.
    #[serde(default)]
    pub refusal: Option<String>,
    /// The tools the model calls, in order; absent when it calls none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ReplyToolCall>>,
}

/// A tool call in a reply: `{"id","type":"function","function":{"name","arguments"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyToolCall {
    /// The call's id, which the client's `tool` message answering it names.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function called and its arguments.
    pub function: ReplyFunction,
}

/// The function of a [`ReplyToolCall`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyFunction {
    /// The tool's name, as the request declared it.
    pub name: String,
    /// JSON text (a model may write invalid JSON).
    pub arguments: String,
}

impl From<&ToolCall> for ReplyToolCall {
    fn from(c: &ToolCall) -> Self {
        ReplyToolCall {
            id: c.id.clone(),
            kind: "function".to_owned(),
            function: ReplyFunction {
                name: c.name.clone(),
                arguments: c.arguments.clone(),
            },
        }
    }
}

/// A reply's token counts. Read into [`Usage`], `total_tokens` is ignored (recomputed) and
/// `cached_tokens` is capped at `prompt_tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionUsage {
    /// Tokens of the prompt, cached ones included.
    pub prompt_tokens: u32,
    /// Tokens generated, over all choices.
    pub completion_tokens: u32,
    /// `prompt_tokens + completion_tokens` as the vendor counted them.
    pub total_tokens: u32,
    /// `cached_tokens`: of `prompt_tokens`, those read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

/// The breakdown of [`CompletionUsage::prompt_tokens`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Absent or `null` reads as 0.
    #[serde(default, deserialize_with = "null_as_zero")]
    pub cached_tokens: u32,
}

fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(Option::<u32>::deserialize(d)?.unwrap_or(0))
}

impl From<Usage> for CompletionUsage {
    /// With `prompt_tokens_details.cached_tokens` always present, as OpenAI writes it.
    fn from(u: Usage) -> Self {
        CompletionUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total(),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: u.cached_prompt_tokens,
            }),
        }
    }
}

impl From<CompletionUsage> for Usage {
    fn from(u: CompletionUsage) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            // Never more than the prompt: a vendor's inconsistent count is capped, not trusted.
            cached_prompt_tokens: u
                .prompt_tokens_details
                .map_or(0, |d| d.cached_tokens.min(u.prompt_tokens)),
        }
    }
}

/// `reason` as OpenAI's `finish_reason` (the same as [`FinishReason::label`]).
pub fn finish_label(reason: FinishReason) -> &'static str {
    reason.label()
}

/// The JSON type of `v` as OpenAI's `invalid_type` errors name it ("expected an integer,
/// but got a string instead."): a number held as a 64-bit integer is "an integer", any
/// other (a fraction, an exponent, a whole number past 64 bits) "a decimal number". The
/// gateway's refusals and the OpenAI fake's.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// OpenAI's message for `param`'s value `got`, of another JSON type than the `expected` one:
/// "Invalid type for 'max_tokens': expected an integer, but got a string instead." (its code:
/// `invalid_type`). The gateway's refusals and the OpenAI fake's.
pub fn wrong_type(param: &str, expected: &str, got: &Value) -> String {
    format!(
        "Invalid type for '{param}': expected {expected}, but got {} instead.",
        type_name(got)
    )
}

/// OpenAI's message and code for integer `field` whose value, `got` as written, lies below
/// its minimum (`below`) or above its maximum, `bound`: "Invalid 'n': integer below minimum
/// value. Expected a value >= 1, but got 0 instead." (`integer_below_min_value`,
/// `integer_above_max_value`). The gateway's refusals and the OpenAI fake's.
pub fn out_of_range(field: &str, got: &str, below: bool, bound: i128) -> (String, &'static str) {
    let code = if below {
        "integer_below_min_value"
    } else {
        "integer_above_max_value"
    };
    (range_message("integer", field, got, below, &bound), code)
}

/// [`out_of_range`] for a decimal field: "Invalid 'temperature': decimal above maximum value.
/// Expected a value <= 2, but got 5 instead." (`decimal_below_min_value`,
/// `decimal_above_max_value`). The OpenAI fake's.
pub fn decimal_out_of_range(
    field: &str,
    got: &str,
    below: bool,
    bound: f64,
) -> (String, &'static str) {
    let code = if below {
        "decimal_below_min_value"
    } else {
        "decimal_above_max_value"
    };
    (range_message("decimal", field, got, below, &bound), code)
}

/// OpenAI's sentence for a `kind` (`integer`, `decimal`) value out of its range.
fn range_message(
    kind: &str,
    field: &str,
    got: &str,
    below: bool,
    bound: &dyn std::fmt::Display,
) -> String {
    let (side, sign) = if below {
        ("below minimum", ">=")
    } else {
        ("above maximum", "<=")
    };
    format!(
        "Invalid '{field}': {kind} {side} value. Expected a value {sign} {bound}, but got {got} instead."
    )
}

/// OpenAI's `finish_reason`; values it does not define read as `stop`.
pub fn parse_finish(label: &str) -> FinishReason {
    match label {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

impl ChatCompletion {
    /// A reply of one choice whose message is `text`, ending for `finish`, with `usage`
    /// (`cached_tokens` included) and our fingerprint: what the fake answers.
    pub fn new(
        id: String,
        created: u64,
        model: &str,
        text: String,
        finish: FinishReason,
        usage: Usage,
    ) -> Self {
        ChatCompletion {
            id,
            object: "chat.completion".to_owned(),
            created,
            model: model.to_owned(),
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant".to_owned(),
                    content: Some(text),
                    refusal: None,
                    tool_calls: None,
                },
                logprobs: None,
                finish_reason: Some(finish_label(finish).to_owned()),
                content_filter_results: None,
            }],
            usage: Some(usage.into()),
            system_fingerprint: Some("fp_switchyard".to_owned()),
            prompt_filter_results: None,
        }
    }

    /// The reply for a normalized response: choice 0 from `text`, `tool_calls` and
    /// `finish_reason`, then one choice per entry of `choices`; `content` is `null` in a choice
    /// that is only tool calls; usage with `prompt_tokens_details.cached_tokens`.
    pub fn from_reply(id: String, created: u64, model: &str, reply: &Response) -> Self {
        let first = std::iter::once((&reply.text, &reply.tool_calls, reply.finish_reason));
        let rest = reply
            .choices
            .iter()
            .map(|c| (&c.text, &c.tool_calls, c.finish_reason));
        ChatCompletion {
            id,
            object: "chat.completion".to_owned(),
            created,
            model: model.to_owned(),
            choices: first
                .chain(rest)
                .enumerate()
                .map(|(i, (text, calls, finish))| Choice {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    message: AssistantMessage {
                        role: "assistant".to_owned(),
                        content: (!text.is_empty() || calls.is_empty()).then(|| text.clone()),
                        refusal: None,
                        tool_calls: (!calls.is_empty())
                            .then(|| calls.iter().map(ReplyToolCall::from).collect()),
                    },
                    logprobs: None,
                    finish_reason: Some(finish_label(finish).to_owned()),
                    content_filter_results: None,
                })
                .collect(),
            usage: Some(reply.usage.into()),
            system_fingerprint: Some("fp_switchyard".to_owned()),
            prompt_filter_results: None,
        }
    }

    /// The first choice's text and finish reason: `("", Stop)` without a choice; a `null`
    /// content reads as empty and a missing finish reason as `Stop`.
    pub fn text(&self) -> (String, FinishReason) {
        self.choices
            .first()
            .map_or((String::new(), FinishReason::Stop), |c| {
                (
                    c.message.content.clone().unwrap_or_default(),
                    c.finish_reason
                        .as_deref()
                        .map_or(FinishReason::Stop, parse_finish),
                )
            })
    }
}

/// An error reply's body: `{"error": {...}}` (OpenAI's, and Azure's in the same shape).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` of an [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A sentence for people.
    pub message: String,
    /// The error's class (`invalid_request_error`, `server_error`, `requests`, …).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The request field at fault (`messages`, `prompt`), when there is one.
    #[serde(default)]
    pub param: Option<String>,
    /// A machine-readable code (`rate_limit_exceeded`, `context_length_exceeded`); a string
    /// from OpenAI, a number or a string from some compatible vendors.
    #[serde(default)]
    pub code: Option<Value>,
}

impl ErrorBody {
    /// An error of type `kind` with a string `code`.
    pub fn new(
        message: impl Into<String>,
        kind: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        ErrorBody {
            error: ErrorDetail {
                message: message.into(),
                kind: Some(kind.to_owned()),
                param: param.map(str::to_owned),
                code: code.map(|c| Value::String(c.to_owned())),
            },
        }
    }

    /// The body and status OpenAI answers with for an error of this kind.
    pub fn for_kind(kind: ErrorKind, model: &str) -> (u16, ErrorBody) {
        match kind {
            ErrorKind::RateLimited => (
                429,
                ErrorBody::new(
                    format!(
                        "Rate limit reached for {model} in organization org-switchyard on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again later."
                    ),
                    "requests",
                    None,
                    Some("rate_limit_exceeded"),
                ),
            ),
            ErrorKind::Unauthorized => (
                401,
                ErrorBody::new(
                    "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    None,
                    Some("invalid_api_key"),
                ),
            ),
            ErrorKind::Forbidden => (
                403,
                ErrorBody::new(
                    "You are not allowed to sample from this model",
                    "invalid_request_error",
                    None,
                    Some("model_not_allowed"),
                ),
            ),
            ErrorKind::BadRequest => (
                400,
                ErrorBody::new(
                    "Invalid request: the request body is not valid.",
                    "invalid_request_error",
                    None,
                    None,
                ),
            ),
            ErrorKind::ContextLengthExceeded => (
                400,
                ErrorBody::new(
                    format!(
                        "This model's maximum context length is 128000 tokens. However, your messages resulted in more tokens. Please reduce the length of the messages. ({model})"
                    ),
                    "invalid_request_error",
                    Some("messages"),
                    Some("context_length_exceeded"),
                ),
            ),
            ErrorKind::ContentFiltered => (
                400,
                ErrorBody::new(
                    "Your request was rejected as a result of our safety system.",
                    "invalid_request_error",
                    Some("prompt"),
                    Some("content_policy_violation"),
                ),
            ),
            ErrorKind::Overloaded => (
                503,
                ErrorBody::new(
                    "The engine is currently overloaded, please try again later.",
                    "server_error",
                    None,
                    None,
                ),
            ),
            _ => (
                500,
                ErrorBody::new(
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                    None,
                    None,
                ),
            ),
        }
    }

    fn code(&self) -> Option<&str> {
        self.error.code.as_ref().and_then(Value::as_str)
    }
}

/// Maps an error reply to the taxonomy: by `error.code` where it says more than the status
/// (`insufficient_quota` on a 429 is `forbidden`: no retry helps until someone pays;
/// `context_length_exceeded`; `content_policy_violation` or `content_filter`), else by status
/// ([`kind_for_status`]); the delay from `retry-after-ms` or `retry-after`. A body that is
/// not OpenAI's error shape is classified by its status alone.
pub fn classify(status: u16, headers: &dyn HeaderSource, body: &[u8]) -> Outcome {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(ErrorBody::code).unwrap_or("");
    let message = parsed.as_ref().map_or("", |b| b.error.message.as_str());
    let kind = match (status, code) {
        (429, "insufficient_quota") => ErrorKind::Forbidden,
        (400, "context_length_exceeded") => ErrorKind::ContextLengthExceeded,
        (400, "content_policy_violation" | "content_filter") => ErrorKind::ContentFiltered,
        (400, _) if message.contains("maximum context length") => ErrorKind::ContextLengthExceeded,
        (s, _) => kind_for_status(s),
    };
    Outcome::Error {
        kind,
        retry_after: retry_after(headers),
    }
}

/// The `x-ratelimit-*` headers: counts as `u64`s, resets as durations saturated at
/// [`MAX_HEADER_DELAY`](super::MAX_HEADER_DELAY); anything else is `None`.
pub fn limits(headers: &dyn HeaderSource) -> LimitSnapshot {
    let num = |name: &str| {
        headers
            .header(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let dur = |name: &str| headers.header(name).and_then(header_duration);
    LimitSnapshot {
        limit_requests: num("x-ratelimit-limit-requests"),
        remaining_requests: num("x-ratelimit-remaining-requests"),
        reset_requests: dur("x-ratelimit-reset-requests"),
        limit_tokens: num("x-ratelimit-limit-tokens"),
        remaining_tokens: num("x-ratelimit-remaining-tokens"),
        reset_tokens: dur("x-ratelimit-reset-tokens"),
    }
}

/// The body of `GET /v1/models`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `list`.
    pub object: String,
    /// The models (for the gateway: its routes, then the targets a request may name).
    pub data: Vec<ModelEntry>,
}

/// One entry of a [`ModelList`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// The name a request's `model` uses.
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// When the model was made, in Unix seconds.
    pub created: u64,
    /// Who owns it (`openai`, `system`; ours say `switchyard`).
    pub owned_by: String,
}
