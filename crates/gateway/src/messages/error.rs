//! Errors in Anthropic's format: `{"type":"error","error":{"type","message"},"request_id"}`.
//!
//! The status is decided once, for both endpoints, by [`ApiError`] (`from_route` for route
//! failures, the constructors for the gateway's own refusals); this module names the
//! Anthropic error type that goes with it, and says OpenAI's 503 as Anthropic's 529
//! ([`status_for`]).

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::inbound::Refused;
use super::render::error_body;
use crate::errors::{ApiError, ErrorParts};

/// Anthropic's request id header (the access log's `x-request-id`), on every reply and error
/// of this endpoint.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

/// 529, Anthropic's status for `overloaded_error` (not a registered HTTP status).
const OVERLOADED: StatusCode = match StatusCode::from_u16(529) {
    Ok(s) => s,
    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
};

/// The status this endpoint answers for one decided by [`ApiError`]: what the OpenAI
/// endpoint says as 503 (an overloaded provider, no target available, a request shed at
/// `gateway.max_in_flight`) is Anthropic's 529 `overloaded_error` here, the status for which
/// the Anthropic SDKs raise their `OverloadedError` (a 503 is their `ServiceUnavailableError`,
/// or a bare `InternalServerError` in older versions). Anthropic documents no 503.
fn status_for(status: StatusCode) -> StatusCode {
    match status {
        StatusCode::SERVICE_UNAVAILABLE => OVERLOADED,
        s => s,
    }
}

/// Anthropic's error type for a status.
pub(crate) fn kind_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// An error reply for the Anthropic endpoint.
#[derive(Debug)]
pub(crate) struct MessagesError {
    parts: ErrorParts,
    request_id: String,
}

impl MessagesError {
    pub(crate) fn new(e: ApiError, request_id: &str) -> Self {
        MessagesError {
            parts: e.into(),
            request_id: request_id.to_owned(),
        }
    }

    /// A reply from upstream that cannot be put in Anthropic's format: 502 `api_error`.
    pub(crate) fn upstream(message: String, request_id: &str) -> Self {
        MessagesError {
            parts: ErrorParts {
                status: StatusCode::BAD_GATEWAY,
                message,
                retry_after: None,
                attempt_log: None,
                outcome: None,
            },
            request_id: request_id.to_owned(),
        }
    }

    pub(crate) fn refused(r: &Refused, request_id: &str) -> Self {
        Self::new(ApiError::bad_request(&r.to_string(), None), request_id)
    }
}

impl IntoResponse for MessagesError {
    fn into_response(self) -> Response {
        let status = status_for(self.parts.status);
        let mut body = error_body(kind_for(status), &self.parts.message);
        body["request_id"] = self.request_id.clone().into();
        let mut r = (status, axum::Json(body)).into_response();
        if status == OVERLOADED {
            // Not a registered status: without a phrase hyper writes `529 <none>`.
            r.extensions_mut()
                .insert(hyper::ext::ReasonPhrase::from_static(b"Overloaded"));
        }
        let headers = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            headers.insert(REQUEST_ID, v);
        }
        if let Some(after) = self.parts.retry_after
            && let Ok(v) = HeaderValue::from_str(&(after.as_secs_f64().ceil() as u64).to_string())
        {
            headers.insert("retry-after", v);
        }
        if let Some(log) = self.parts.attempt_log
            && let Ok(v) = HeaderValue::from_str(&log)
        {
            headers.insert(crate::chat::ATTEMPT_LOG, v);
        }
        if let Some(outcome) = self.parts.outcome {
            headers.insert(crate::chat::OUTCOME, HeaderValue::from_static(outcome));
        }
        r
    }
}
