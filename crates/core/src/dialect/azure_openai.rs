//! Azure OpenAI: OpenAI's bodies on deployment paths
//! (`/openai/deployments/{deployment}/chat/completions?api-version=…`), the `api-key` header,
//! content-filter annotations, and Azure's own error codes.

use serde_json::{Value, json};

use super::openai::ErrorBody;
use super::{HeaderSource, kind_for_status, retry_after};
use crate::outcome::{ErrorKind, Outcome};

/// The `api-version` query parameter the live driver sends on every Azure OpenAI request.
pub const API_VERSION: &str = "2024-10-21";

/// `/openai/deployments/{deployment}/chat/completions`.
pub fn path(deployment: &str) -> String {
    format!("/openai/deployments/{deployment}/chat/completions")
}

/// The per-choice and per-prompt annotation of a reply that passed the filters.
pub fn filter_results_passed() -> Value {
    let safe = json!({ "filtered": false, "severity": "safe" });
    json!({ "hate": safe, "self_harm": safe, "sexual": safe, "violence": safe })
}

/// A reply's `prompt_filter_results`: prompt 0, every category passed.
pub fn prompt_filter_results() -> Value {
    json!([{ "prompt_index": 0, "content_filter_results": filter_results_passed() }])
}

/// The status and JSON body Azure answers with for an error of this kind.
pub fn error_for_kind(kind: ErrorKind) -> (u16, Value) {
    match kind {
        ErrorKind::ContentFiltered => (
            400,
            json!({ "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
            "type": null, "param": "prompt", "code": "content_filter", "status": 400,
            "innererror": { "code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                "hate": { "filtered": true, "severity": "high" },
                "self_harm": { "filtered": false, "severity": "safe" },
                "sexual": { "filtered": false, "severity": "safe" },
                "violence": { "filtered": false, "severity": "safe" } } } } }),
        ),
        ErrorKind::Unauthorized => (
            401,
            json!({ "error": { "code": "401",
            "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource." } }),
        ),
        ErrorKind::Forbidden => (
            404,
            json!({ "error": { "code": "DeploymentNotFound",
            "message": "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again." } }),
        ),
        ErrorKind::RateLimited => (
            429,
            json!({ "error": { "code": "429",
            "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second." } }),
        ),
        other => {
            let (status, body) = ErrorBody::for_kind(other, "deployment");
            (status, serde_json::to_value(body).unwrap_or(Value::Null))
        }
    }
}

/// Maps an error reply to the taxonomy.
pub fn classify(status: u16, headers: &dyn HeaderSource, body_bytes: &[u8]) -> Outcome {
    let parsed: Value = serde_json::from_slice(body_bytes).unwrap_or(Value::Null);
    let code = parsed
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = match (status, code) {
        (_, "content_filter") => ErrorKind::ContentFiltered,
        (_, "DeploymentNotFound") => ErrorKind::Forbidden,
        (400, "context_length_exceeded") => ErrorKind::ContextLengthExceeded,
        (s, _) => kind_for_status(s),
    };
    Outcome::Error {
        kind,
        retry_after: retry_after(headers),
    }
}
