//! Errors in OpenAI's format, with the status a client expects.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use switchyard_core::attempt_log;
use switchyard_core::dialect::Dialect;
use switchyard_core::dialect::openai::ErrorBody;
use switchyard_core::outcome::{ErrorKind, FailureReason};
use switchyard_core::time::Duration;
use switchyard_live::RouteError;

/// 499, nginx's "client closed request": the status the access log gives a request whose
/// client left before its answer.
pub(crate) const CLIENT_CLOSED: StatusCode = match StatusCode::from_u16(499) {
    Ok(s) => s,
    Err(_) => StatusCode::BAD_REQUEST,
};

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: Box<ErrorBody>,
    retry_after: Option<Duration>,
    /// The attempts made, for `x-switchyard-attempt-log`.
    attempt_log: Option<String>,
    /// Why the router failed the request ([`FailureReason::label`]), for
    /// `x-switchyard-outcome`: with `expose_attempts` only.
    outcome: Option<&'static str>,
}

/// The most of a client's unknown `model` a 404 quotes, in bytes.
const MODEL_QUOTED: usize = 128;

impl ApiError {
    fn new(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorBody::new(message, kind, None, code)),
            retry_after: None,
            attempt_log: None,
            outcome: None,
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
        let wait = wait.max(Duration::from_secs(1));
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Rate limit reached for key `{key}`. Retry after {}.",
                human(wait)
            ),
            "requests",
            Some("rate_limit_exceeded"),
        );
        e.retry_after = Some(wait);
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
        Self::invalid_param(message, param, "invalid_value")
    }

    /// A 400 naming the request field (or header) at fault in `param`.
    pub(crate) fn invalid_param(message: &str, param: &str, code: &str) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: Box::new(ErrorBody::new(
                message,
                "invalid_request_error",
                Some(param),
                Some(code),
            )),
            retry_after: None,
            attempt_log: None,
            outcome: None,
        }
    }

    pub(crate) fn forbidden(message: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            message,
            "invalid_request_error",
            None,
        )
    }

    /// A `model` that names no route or target: says where the names are listed, and
    /// quotes at most [`MODEL_QUOTED`] bytes of what the client sent.
    pub(crate) fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            &format!(
                "The model `{}` is not a route or target of this gateway; GET /v1/models lists them.",
                crate::logging::capped_to(model, MODEL_QUOTED)
            ),
            "invalid_request_error",
            Some("model_not_found"),
        )
    }

    /// A path the gateway does not serve (OpenAI's shape, so SDKs show a message).
    pub(crate) fn unknown_path(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            &format!("This gateway does not serve {method} {path}."),
            "invalid_request_error",
            Some("unknown_url"),
        )
    }

    /// A path the gateway serves, asked with a method it does not serve there (the
    /// response's `allow` header lists those it does).
    pub(crate) fn wrong_method(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "This gateway does not serve {method} {path}; the `allow` header lists the methods it serves there."
            ),
            "invalid_request_error",
            Some("method_not_allowed"),
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
                "This gateway is serving as many requests at once as it may ({limit}). Please retry shortly."
            ),
            "server_error",
            Some("overloaded"),
        );
        e.retry_after = Some(Duration::from_secs(1));
        e
    }

    /// The client left while its body was being read (the connection ended before the body
    /// was whole): nobody reads this answer, and its access line says `499 client_closed`
    /// (nginx's status for a client that closed its connection), not a refusal.
    pub(crate) fn client_closed() -> Self {
        Self::new(
            CLIENT_CLOSED,
            "The client closed the connection before its request body was whole.",
            "invalid_request_error",
            Some("client_closed"),
        )
    }

    /// Shutdown's grace ran out (or a second signal came) while a stream was being sent: the
    /// in-band event that ends it, so an SDK raises an error rather than a transport one.
    pub(crate) fn shutdown() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The gateway shut down before this reply ended. Please retry the request.",
            "server_error",
            Some("shutdown"),
        )
    }

    /// The client did not send its whole body within `gateway.body_read_timeout`.
    pub(crate) fn body_timeout(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            &format!(
                "The request body did not arrive within this gateway's limit of {}.",
                human(Duration::from(timeout))
            ),
            "invalid_request_error",
            Some("request_timeout"),
        )
    }

    /// The body, `{"error":{"message","type","param","code"}}`: for a stream whose status
    /// was already sent, it goes in band as the stream's last event.
    pub(crate) fn body(&self) -> &ErrorBody {
        &self.body
    }

    /// No target of the route can express a field of the request, or hold it: the client's
    /// to fix.
    fn unsupported(e: &RouteError) -> Self {
        if let Some(t) = e.too_long {
            return Self::invalid_param(&too_long(t), "messages", "context_length_exceeded");
        }
        let mut err = match &e.unsupported {
            Some(u) => Self::bad_request_param(&u.to_string(), &u.field),
            None => Self::bad_request(&describe(e), Some("invalid_value")),
        };
        err.body.error.code = Some(serde_json::Value::String("unsupported_parameter".into()));
        err
    }

    /// The status and body for a request the router could not serve.
    ///
    /// When the upstream said why (`e.upstream`), the client gets its words: the message, its
    /// status when that is a 4xx the client can act on (400, 404, 413, 422, 429), and, from an
    /// OpenAI or Azure target, its `type`, `param` and `code` (else the gateway's for the
    /// kind: an Anthropic `overloaded_error` or a Gemini `RESOURCE_EXHAUSTED` is no OpenAI
    /// type, and an OpenAI client is told in OpenAI's words). Authentication and
    /// permission errors are the gateway's own business with its providers, never passed on.
    /// A wait is said in human units ("Retry after 20 s."). Target names (the attempt story
    /// and the attempt-log header) only when `expose_attempts`, and then the failure's reason
    /// in `x-switchyard-outcome` too (what the runner books a request failed through the
    /// gateway as).
    pub(crate) fn from_route(e: &RouteError, model: &str, expose_attempts: bool) -> Self {
        let mut err = Self::decided(e, model, expose_attempts);
        if expose_attempts {
            err.outcome = Some(e.outcome.label());
        }
        err
    }

    fn decided(e: &RouteError, model: &str, expose_attempts: bool) -> Self {
        let (status, kind, code) = match e.outcome {
            FailureReason::UnknownRoute => return Self::model_not_found(model),
            FailureReason::Unsupported => return Self::unsupported(e),
            FailureReason::DeadlineExceeded => {
                (StatusCode::GATEWAY_TIMEOUT, "server_error", "timeout")
            }
            FailureReason::NoTargetAvailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "no_target_available",
            ),
            // Nobody reads this one: the client left (nginx's 499 in the logs).
            FailureReason::Abandoned => (CLIENT_CLOSED, "server_error", "client_closed_request"),
            FailureReason::Attempt(k) | FailureReason::BudgetExhausted(k) => attempt_status(k),
        };
        let private = matches!(
            e.kind(),
            Some(ErrorKind::Unauthorized | ErrorKind::Forbidden)
        );
        let said = e.upstream.as_deref().filter(|_| !private);
        // Its type, param and code only when they are in the client's (OpenAI's) words.
        let words = said.filter(|u| {
            matches!(
                u.dialect,
                None | Some(Dialect::Openai | Dialect::AzureOpenai)
            )
        });
        let mut message = said.map_or_else(|| describe(e), |u| u.message.clone());
        if let Some(after) = e.retry_after {
            end_sentence(&mut message);
            message.push_str(&format!(" Retry after {}.", human(after)));
        }
        if expose_attempts {
            end_sentence(&mut message);
            message.push_str(&format!(" Attempts: {}.", e));
        }
        let status = said
            .and_then(|u| StatusCode::from_u16(u.status).ok())
            .filter(|s| matches!(s.as_u16(), 400 | 404 | 413 | 422 | 429))
            .unwrap_or(status);
        let body = ErrorBody::new(
            message,
            words.and_then(|u| u.kind.as_deref()).unwrap_or(kind),
            words.and_then(|u| u.param.as_deref()),
            Some(words.and_then(|u| u.code.as_deref()).unwrap_or(code)),
        );
        let mut err = ApiError {
            status,
            body: Box::new(body),
            retry_after: e.retry_after,
            attempt_log: None,
            outcome: None,
        };
        // No attempt made (failed fast): no header, rather than an empty one.
        if expose_attempts && !e.attempts.is_empty() {
            err.attempt_log =
                Some(attempt_log::format(e.attempts.iter().map(|(name, a)| {
                    (name.as_str(), a.outcome.label(), a.latency)
                })));
        }
        err
    }
}

/// The status, error type and code for a request whose last attempt failed with `k`.
fn attempt_status(k: ErrorKind) -> (StatusCode, &'static str, &'static str) {
    match k {
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
    pub(crate) outcome: Option<&'static str>,
}

impl From<ApiError> for ErrorParts {
    fn from(e: ApiError) -> Self {
        ErrorParts {
            status: e.status,
            message: e.body.error.message,
            retry_after: e.retry_after,
            attempt_log: e.attempt_log,
            outcome: e.outcome,
        }
    }
}

/// Ends `message` with a full stop unless it ends a sentence already (a provider's
/// "Overloaded"), so what is appended after it reads as a sentence of its own.
fn end_sentence(message: &mut String) {
    let trimmed = message.trim_end().len();
    message.truncate(trimmed);
    if !message.is_empty() && !message.ends_with(['.', '!', '?', '…']) {
        message.push('.');
    }
}

/// What a request too long for every target it could go to is told: the sizes, estimated.
fn too_long(t: switchyard_live::TooLong) -> String {
    let largest = format!(
        "The largest context window of the models this request can go to is {} tokens.",
        t.window
    );
    match (t.max_tokens, t.window.checked_sub(t.prompt)) {
        (Some(out), _) => format!(
            "{largest} However, you requested about {} tokens (about {} in the messages, \
             estimated, and {out} for the completion). Please reduce the length of the \
             messages or completion.",
            u64::from(t.prompt) + u64::from(out),
            t.prompt
        ),
        // Under the largest window: the completion each target is sent without `max_tokens`
        // (an Anthropic target's default) left it no room.
        (None, Some(room)) if room > 0 => format!(
            "{largest} However, the messages are about {} tokens (estimated) and, without \
             `max_tokens`, the completion each model is sent by default does not fit beside \
             them. Please set `max_tokens` to at most {room}, or reduce the length of the \
             messages.",
            t.prompt
        ),
        (None, _) => format!(
            "{largest} However, the messages are about {} tokens (estimated). Please reduce \
             the length of the messages.",
            t.prompt
        ),
    }
}

/// What went wrong, for a client, without naming targets.
fn describe(e: &RouteError) -> String {
    match e.outcome {
        FailureReason::UnknownRoute => "The model names no route or target.".to_owned(),
        FailureReason::DeadlineExceeded => {
            "The request did not complete within the gateway's deadline.".to_owned()
        }
        FailureReason::NoTargetAvailable => {
            "No provider can take this request right now.".to_owned()
        }
        FailureReason::Abandoned => "The client closed the request.".to_owned(),
        FailureReason::Unsupported => {
            "No provider of this model can take a field of the request.".to_owned()
        }
        // A cut, a stall or a garbled event: the provider sent no error to quote.
        FailureReason::Attempt(ErrorKind::StreamInterrupted) => match e.tokens.completion_tokens {
            0 => "The provider's stream broke off before it ended (stream_interrupted).".to_owned(),
            n => format!(
                "The provider's stream broke off after about {n} tokens, before it ended (stream_interrupted)."
            ),
        },
        // Failed fast, no attempt made: the route's targets were held back (parked after a
        // 429, say) when the request came; no provider answered it.
        FailureReason::Attempt(ErrorKind::RateLimited) if e.attempts.is_empty() => {
            "The provider is rate-limiting this model (rate_limited); the request was not sent."
                .to_owned()
        }
        FailureReason::Attempt(k) if e.attempts.is_empty() => format!(
            "No provider was asked: the model's targets are held back after earlier errors ({}).",
            k.label()
        ),
        // No answer at all: the provider could not be reached, or did not answer in time.
        FailureReason::Attempt(k @ (ErrorKind::ConnectFailed | ErrorKind::Timeout)) => {
            format!("The provider did not answer ({}).", k.label())
        }
        FailureReason::Attempt(k) => format!("The provider's answer was an error: {}.", k.label()),
        FailureReason::BudgetExhausted(k) => format!(
            "The provider's answer was an error ({}), and the gateway's retry budget is spent.",
            k.label()
        ),
    }
}

/// A duration as a person reads it: whole seconds, rounded up (`20 s`, `1 min 30 s`), or
/// milliseconds under a second.
pub(crate) fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1000.0 {
        return format!("{} ms", ms.ceil() as u64);
    }
    let secs = d.as_secs_f64().ceil() as u64;
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
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
        if let Some(outcome) = self.outcome {
            r.headers_mut()
                .insert(crate::chat::OUTCOME, HeaderValue::from_static(outcome));
        }
        r
    }
}

/// The method and the path (not the query) of a request, bounded for a message: a client
/// chose them.
fn asked(method: &axum::http::Method, uri: &axum::http::Uri) -> (String, String) {
    (
        method.as_str().chars().take(32).collect(),
        uri.path().chars().take(128).collect(),
    )
}

/// A path the gateway does not serve: 404 with a JSON error an SDK can show.
pub(crate) async fn no_such_path(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    let (method, path) = asked(&method, &uri);
    axum::response::IntoResponse::into_response(ApiError::unknown_path(&method, &path))
}

/// A served path asked with another method: 405 with a JSON error an SDK can show, in the
/// endpoint's dialect (Anthropic's on `/v1/messages`), not an empty body.
pub(crate) async fn wrong_method(
    axum::extract::State(gw): axum::extract::State<std::sync::Arc<crate::Gateway>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    access: crate::access_log::AccessLog,
) -> axum::response::Response {
    let (method, path) = asked(&method, &uri);
    let e = ApiError::wrong_method(&method, &path);
    if uri.path() == crate::messages::PATH {
        return crate::messages::refusal(&gw, e, access.request_id());
    }
    axum::response::IntoResponse::into_response(e)
}

#[cfg(test)]
mod tests {
    use super::human;
    use switchyard_core::time::Duration;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_millis(19_200)), "20 s");
        assert_eq!(human(Duration::from_secs(60)), "1 min");
        assert_eq!(human(Duration::from_secs(90)), "1 min 30 s");
    }
}
