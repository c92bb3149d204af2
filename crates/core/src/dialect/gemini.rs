//! Google Gemini (`POST /v1beta/models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse`, whose events are bare `data:` lines with no `[DONE]`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{HeaderSource, header_duration, kind_for_status, retry_after};
use crate::outcome::{ErrorKind, Outcome};
use crate::request::{FinishReason, Usage};
use crate::time::Duration;

mod request;

pub use request::{
    Blob, FileData, FunctionCall, FunctionResponse, GenerateRequest, InputContent, InputPart,
    MAX_STOP_SEQUENCES, SKIP_THOUGHT_SIGNATURE, check,
};

/// `/v1beta/models/{model}:generateContent` or `:streamGenerateContent`.
pub fn path(model: &str, stream: bool) -> String {
    let method = if stream {
        "streamGenerateContent"
    } else {
        "generateContent"
    };
    format!("/v1beta/models/{model}:{method}")
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub parts: Vec<Part>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// `application/json` for JSON output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// A JSON Schema the output must follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
}

impl Content {
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateResponse {
    /// Absent when the prompt itself was blocked (`promptFeedback` says why) and on a
    /// usage-only chunk.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default)]
    pub content: Content,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub index: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u32,
    #[serde(default)]
    pub candidates_token_count: u32,
    #[serde(default)]
    pub total_token_count: u32,
}

pub fn finish_label(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::ToolCalls => "STOP",
        FinishReason::Length => "MAX_TOKENS",
        FinishReason::ContentFilter => "SAFETY",
    }
}

/// Gemini's `finishReason`: `MAX_TOKENS` is `length`; the safety family (`SAFETY`,
/// `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, `IMAGE_*`) is `content_filter`;
/// the rest `stop` (Gemini has no tool-call reason: a reply with `functionCall` parts says
/// `STOP`, and readers derive `tool_calls` from the parts). The tool-failure reasons are not
/// finish reasons at all: see [`TOOL_FAILURES`].
pub fn parse_finish(label: &str) -> FinishReason {
    match label {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => {
            FinishReason::ContentFilter
        }
        l if l.starts_with("IMAGE_") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// The `finishReason`s that mean the model failed at calling a tool: a reply that ends so has
/// no usable answer (readers treat it as an error, not a finish).
pub const TOOL_FAILURES: [&str; 3] = [
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
];

impl GenerateResponse {
    /// A response (or one stream event) with `text`; `finish` only on the last.
    pub fn new(
        model: &str,
        id: &str,
        text: String,
        finish: Option<FinishReason>,
        usage: Option<Usage>,
    ) -> Self {
        GenerateResponse {
            candidates: vec![Candidate {
                content: Content {
                    role: Some("model".to_owned()),
                    parts: vec![Part { text: Some(text) }],
                },
                finish_reason: finish.map(|f| finish_label(f).to_owned()),
                index: 0,
            }],
            usage_metadata: usage.map(|u| UsageMetadata {
                prompt_token_count: u.prompt_tokens,
                candidates_token_count: u.completion_tokens,
                total_token_count: u.total(),
            }),
            model_version: Some(model.to_owned()),
            response_id: Some(id.to_owned()),
        }
    }

    pub fn text(&self) -> (String, Option<FinishReason>) {
        self.candidates.first().map_or((String::new(), None), |c| {
            (
                c.content.text(),
                c.finish_reason.as_deref().map(parse_finish),
            )
        })
    }
}

/// The status and body Gemini answers with for an error of this kind.
pub fn error_for_kind(kind: ErrorKind, retry_delay: Option<Duration>) -> (u16, Value) {
    let (code, status, message) = match kind {
        ErrorKind::Unauthorized => (
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
        ),
        ErrorKind::Forbidden => (
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        ),
        ErrorKind::BadRequest => (400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
        ErrorKind::ContextLengthExceeded => (
            400,
            "INVALID_ARGUMENT",
            "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).",
        ),
        ErrorKind::ContentFiltered => (
            400,
            "INVALID_ARGUMENT",
            "The request was blocked by safety filters.",
        ),
        ErrorKind::RateLimited => (
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        ErrorKind::Overloaded => (
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        ErrorKind::Timeout => (
            504,
            "DEADLINE_EXCEEDED",
            "The request timed out. Please try again.",
        ),
        _ => (
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        ),
    };
    let mut details = Vec::new();
    if kind == ErrorKind::Unauthorized {
        details.push(json!({ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com" }));
    }
    if let Some(delay) = retry_delay {
        details.push(json!({ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{}s", delay.as_secs_f64().ceil() as u64) }));
    }
    let mut error = json!({ "code": code, "message": message, "status": status });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    (code, json!({ "error": error }))
}

/// Maps an error reply to the taxonomy; the retry delay comes from a `RetryInfo` detail.
pub fn classify(status: u16, headers: &dyn HeaderSource, body: &[u8]) -> Outcome {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let grpc = parsed
        .pointer("/error/status")
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = parsed
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    let details = parsed.pointer("/error/details").and_then(Value::as_array);
    let detail = |key: &str| {
        details
            .and_then(|d| d.iter().find_map(|x| x.get(key).and_then(Value::as_str)))
            .map(str::to_owned)
    };
    let kind = match grpc {
        "INVALID_ARGUMENT" if detail("reason").as_deref() == Some("API_KEY_INVALID") => {
            ErrorKind::Unauthorized
        }
        "INVALID_ARGUMENT" if message.contains("maximum number of tokens") => {
            ErrorKind::ContextLengthExceeded
        }
        "INVALID_ARGUMENT" if message.contains("safety") => ErrorKind::ContentFiltered,
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" => ErrorKind::BadRequest,
        "UNAUTHENTICATED" => ErrorKind::Unauthorized,
        "PERMISSION_DENIED" | "NOT_FOUND" => ErrorKind::Forbidden,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        "INTERNAL" => ErrorKind::ServerError,
        _ => kind_for_status(status),
    };
    let delay = detail("retryDelay").and_then(|d| header_duration(&d));
    Outcome::Error {
        kind,
        retry_after: delay.or_else(|| retry_after(headers)),
    }
}
