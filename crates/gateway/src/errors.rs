//! Errors in OpenAI's format, with the status a client expects.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use switchyard_core::attempt_log;
use switchyard_core::dialect::openai::ErrorBody;
use switchyard_core::outcome::{ErrorKind, FailureReason};
use switchyard_core::time::Duration;
use switchyard_live::RouteError;

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: Box<ErrorBody>,
    retry_after: Option<Duration>,
    /// The attempts made, for `x-switchyard-attempt-log`.
    attempt_log: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorBody::new(message, kind, None, code)),
            retry_after: None,
            attempt_log: None,
        }
    }

    pub(crate) fn unauthorized(message: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            message,
            "invalid_request_error",
            Some("invalid_api_key"),
        )
    }

    pub(crate) fn rate_limited(key: &str, wait: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Rate limit reached for key `{key}`. Please try again later."),
            "requests",
            Some("rate_limit_exceeded"),
        );
        e.retry_after = Some(wait.max(Duration::from_secs(1)));
        e
    }

    pub(crate) fn bad_request(message: &str, code: Option<&str>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            "invalid_request_error",
            code,
        )
    }

    /// A 400 naming the request field at fault (`param`).
    pub(crate) fn bad_request_param(message: &str, param: &str) -> Self {
        let mut e = Self::bad_request(message, Some("invalid_value"));
        e.body.error.param = Some(param.to_owned());
        e
    }

    pub(crate) fn forbidden(message: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            message,
            "invalid_request_error",
            None,
        )
    }

    pub(crate) fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            Some("model_not_found"),
        )
    }

    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("The request body is larger than this gateway's limit of {limit} bytes."),
            "invalid_request_error",
            Some("request_too_large"),
        )
    }

    /// Shed: the gateway is at `gateway.max_in_flight`. A 503 the SDKs retry, soon.
    pub(crate) fn overloaded(limit: usize) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "This gateway is serving its limit of {limit} requests at once. Please retry shortly."
            ),
            "server_error",
            Some("overloaded"),
        );
        e.retry_after = Some(Duration::from_secs(1));
        e
    }

    /// The client did not send its whole body within `gateway.body_read_timeout`.
    pub(crate) fn body_timeout(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            &format!(
                "The request body did not arrive within this gateway's limit of {}.",
                Duration::from(timeout)
            ),
            "invalid_request_error",
            Some("request_timeout"),
        )
    }

    /// The status and body for a request the router could not serve.
    pub(crate) fn from_route(e: &RouteError, model: &str) -> Self {
        let message = format!("{e}");
        let (status, kind, code) = match e.outcome {
            FailureReason::UnknownRoute => return Self::model_not_found(model),
            // No target of the route can express a field of the request: the client's to fix.
            FailureReason::Unsupported => {
                let mut err = match &e.unsupported {
                    Some(u) => Self::bad_request_param(&u.to_string(), &u.field),
                    None => Self::bad_request(&message, Some("invalid_value")),
                };
                err.body.error.code =
                    Some(serde_json::Value::String("unsupported_parameter".into()));
                return err;
            }
            FailureReason::DeadlineExceeded => {
                (StatusCode::GATEWAY_TIMEOUT, "server_error", "timeout")
            }
            FailureReason::NoTargetAvailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "no_target_available",
            ),
            // Nobody reads this one: the client left (nginx's 499 in the logs).
            FailureReason::Abandoned => (
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                "server_error",
                "client_closed_request",
            ),
            FailureReason::Attempt(k) | FailureReason::BudgetExhausted(k) => match k {
                ErrorKind::RateLimited => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "requests",
                    "rate_limit_exceeded",
                ),
                ErrorKind::BadRequest => (
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "invalid_request",
                ),
                ErrorKind::ContextLengthExceeded => (
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "context_length_exceeded",
                ),
                ErrorKind::ContentFiltered => (
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "content_policy_violation",
                ),
                ErrorKind::Overloaded => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    "overloaded",
                ),
                ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "server_error", "timeout"),
                _ => (StatusCode::BAD_GATEWAY, "server_error", k.label()),
            },
        };
        let mut err = Self::new(status, &message, kind, Some(code));
        err.retry_after = e.retry_after;
        err.attempt_log =
            Some(attempt_log::format(e.attempts.iter().map(|(name, a)| {
                (name.as_str(), a.outcome.label(), a.latency)
            })));
        err
    }
}

/// An [`ApiError`] taken apart, for an endpoint that renders errors in another dialect
/// (`POST /v1/messages`): the status decided here, the message, Retry-After and attempt log.
#[derive(Debug)]
pub(crate) struct ErrorParts {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) attempt_log: Option<String>,
}

impl From<ApiError> for ErrorParts {
    fn from(e: ApiError) -> Self {
        ErrorParts {
            status: e.status,
            message: e.body.error.message,
            retry_after: e.retry_after,
            attempt_log: e.attempt_log,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(*self.body)).into_response();
        if let Some(after) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&(after.as_secs_f64().ceil() as u64).to_string())
        {
            r.headers_mut().insert("retry-after", v);
        }
        if let Some(log) = self.attempt_log
            && let Ok(v) = HeaderValue::from_str(&log)
        {
            r.headers_mut().insert(crate::chat::ATTEMPT_LOG, v);
        }
        r
    }
}
