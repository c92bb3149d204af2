//! The access log: one line per request to a `/v1/` endpoint (a path no endpoint serves, such as `/v1/nope`, gets its 404 without a line) (target `switchyard::access`), written once,
//! when the request is finished: for a JSON reply when its body has been sent, for a streamed
//! reply when the stream ends or the client leaves, and for a client that leaves before any
//! reply when the request is dropped (`status=499`, `result=client_closed`).
//!
//! Fields: `request_id` (also sent back as `x-request-id`), `client` (the client key's
//! configured `name`, a label, never the key), `method`, `path`, `route` (the route the
//! request is booked on, as `/metrics` books it: by a rule, its `model`, or the route of the
//! target its `model` named), `model` (what the client asked for), `attempts` (every target tried with its outcome, `target:outcome,...`; `-` for none), `served_by`,
//! `status`, `result` (`ok`, `client_closed` or the failure), `latency_ms` (to the
//! microsecond), `prompt_tokens`, `completion_tokens`, `cost_usd` (to 1e-10 USD), and
//! `tokens_estimated=true` when some of those tokens are estimates (telemetry's
//! `usage_missing`; absent otherwise). Never a key, a token, a header or any prompt or reply
//! text.
//!
//! # How a handler publishes what is logged
//!
//! The `middleware` (on every `/v1/` route in [`crate::app`]) gives each request an
//! [`AccessLog`] and holds the line in a guard that travels with the response body: the guard
//! writes the line when it is dropped, so a line is written exactly once however the request
//! ends. A handler on a `/v1/` route adopts it with one line, an extractor argument:
//!
//! ```ignore
//! async fn handler(State(gw): State<Arc<Gateway>>, log: AccessLog, request: Request) -> Response
//! ```
//!
//! and tells it what happened as it learns it: [`AccessLog::client`] and [`AccessLog::model`],
//! then [`AccessLog::reply`] or [`AccessLog::failed`], or for a stream [`AccessLog::stream`]
//! and, from the body, [`AccessLog::stream_end`] or [`AccessLog::failed`]. A handler that tells
//! it nothing still gets its line (status, latency, path).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use switchyard_core::id::TargetId;
use switchyard_core::outcome::AttemptRecord;
use switchyard_core::request::Usage;
use switchyard_live::{AttemptSink, ChatStream, Driver, RouteError};

use crate::Gateway;

mod line;

use line::{ACCESS, Line, cost_usd, latency_ms};

/// What a handler publishes for its request's access-log line. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct AccessLog(Arc<Mutex<Entry>>);

#[derive(Debug, Default)]
struct Entry {
    /// The request id, as the middleware assigned it.
    id: Option<String>,
    client: Option<String>,
    /// The route the request is booked on, once the router resolved it.
    route: Option<Arc<str>>,
    /// The `model` the client asked for.
    model: Option<String>,
    /// `target:outcome,...`, as the line writes it: one buffer, not a name per attempt.
    attempts: String,
    served_by: Option<String>,
    usage: Option<Usage>,
    cost_usd: Option<f64>,
    /// Some of `usage` (and of what `cost_usd` prices) are estimates, not the vendor's count.
    tokens_estimated: bool,
    result: Option<&'static str>,
    /// A stream's booking, filled if the client leaves before its end.
    booking: Option<switchyard_live::StreamBooking>,
    /// The request's attempts, route and target as the driver ends its plan: what the line
    /// says of a request the client left (no reply, error or stream end tells it).
    sink: Option<AttemptSink>,
}

/// At most this many characters of a client-chosen value (the model) are logged.
const MAX_LOGGED_CHARS: usize = 64;

/// A client-chosen value, safe to log: bounded, control characters (a forged line break)
/// replaced.
fn sanitized(text: &str) -> String {
    // The usual value (a route, a path): short printable ASCII, kept as it is without a
    // walk through its characters.
    if text.len() <= MAX_LOGGED_CHARS && crate::logging::ascii_in(text.as_bytes(), 0x20, b"") {
        return text.to_owned();
    }
    text.chars()
        .take(MAX_LOGGED_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl AccessLog {
    fn entry(&self) -> std::sync::MutexGuard<'_, Entry> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The client key's name (a label from the config), when keys are configured.
    pub fn client(&self, name: Option<&str>) {
        self.entry().client = name.map(sanitized);
    }

    /// The request's id (the `x-request-id` header and the log line's `request_id`), for an
    /// endpoint that names requests in its own replies too; `None` outside the middleware.
    pub fn request_id(&self) -> Option<String> {
        self.entry().id.clone()
    }

    /// The `model` the client asked for (a route's or a target's name, or neither).
    pub fn model(&self, model: &str) {
        self.entry().model = Some(sanitized(model));
    }

    /// The `model` named in `body`, a request refused before it was read as one (a required
    /// field missing, a field of the wrong type), when the body is a JSON object whose
    /// `model` is a string. Only `model` is kept; the other fields are skipped unread.
    pub fn model_in(&self, body: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Named<'a> {
            #[serde(borrow)]
            model: Option<std::borrow::Cow<'a, str>>,
        }
        if let Ok(Named { model: Some(model) }) = serde_json::from_slice::<Named<'_>>(body) {
            self.model(&model);
        }
    }

    /// A sink for the driver ([`Driver::chat_into`], [`Driver::chat_stream_into`]): the
    /// request's attempts and route, for the line of a request its client left.
    pub fn sink(&self) -> AttemptSink {
        self.entry()
            .sink
            .get_or_insert_with(AttemptSink::default)
            .clone()
    }

    /// The route the router booked the request on.
    fn route(&self, router: &Driver, route: Option<switchyard_core::id::RouteId>) {
        let name = route.and_then(|r| router.route_name(r)).cloned();
        self.entry().route = name;
    }

    /// `attempts`, the one at `committed` (when given) with that outcome instead of its own.
    fn attempts(
        &self,
        router: &Driver,
        attempts: &[AttemptRecord],
        committed: Option<(usize, &'static str)>,
    ) {
        write_attempts(
            &mut self.entry().attempts,
            attempts.iter().enumerate().map(|(i, a)| {
                let outcome = match committed {
                    Some((c, label)) if c == i => label,
                    _ => a.outcome.label(),
                };
                (router.target_names(a.target).0, outcome)
            }),
        );
    }

    /// `cost`: the whole request's, every attempt's tokens at its own target's price.
    fn served(&self, router: &Driver, target: TargetId, usage: Usage, cost: f64) {
        let mut e = self.entry();
        e.served_by = Some(router.target_names(target).0.to_owned());
        e.usage = Some(usage);
        e.cost_usd = Some(cost);
        e.result = Some("ok");
    }

    /// A whole reply: its attempts, target, usage and the cost of all its attempts.
    pub fn reply(&self, router: &Driver, reply: &switchyard_core::request::Response) {
        self.attempts(router, &reply.attempts, None);
        self.route(router, reply.route);
        self.served(router, reply.served_by, reply.usage, reply.cost);
        self.entry().tokens_estimated = reply.tokens_estimated;
    }

    /// A request that failed: its attempts (named in the error), why, and what its attempts
    /// cost (a stream that broke costs its prompt and the tokens it delivered), with the
    /// tokens that cost prices.
    pub fn failed(&self, error: &RouteError) {
        let mut e = self.entry();
        write_attempts(
            &mut e.attempts,
            error
                .attempts
                .iter()
                .map(|(name, a)| (name.as_str(), a.outcome.label())),
        );
        e.result = Some(error.outcome.label());
        e.route.clone_from(&error.route);
        e.usage = Some(error.tokens);
        e.cost_usd = Some(error.cost);
        e.tokens_estimated = error.tokens_estimated;
    }

    /// A stream that started: its attempts so far (the committed one `streaming`) and what
    /// they cost so far.
    pub fn stream(&self, router: &Driver, stream: &ChatStream) {
        self.attempts(
            router,
            &stream.attempts,
            Some((stream.committed, switchyard_core::attempt_log::STREAMING)),
        );
        self.route(router, stream.route);
        let mut e = self.entry();
        e.served_by = Some(stream.target.clone());
        e.result = Some(switchyard_core::attempt_log::STREAMING);
        e.cost_usd = Some(stream.cost().0);
        e.booking = Some(stream.booking());
    }

    /// The stream ended well, with this usage: its attempts as they are now (a stream
    /// continued after a break has the broken attempt and the continuation's), the one it
    /// ended on a success.
    pub fn stream_end(&self, router: &Driver, stream: &ChatStream, usage: Usage) {
        self.attempts(
            router,
            &stream.attempts,
            Some((stream.committed, "success")),
        );
        self.served(router, stream.served_by, usage, stream.cost().0);
        self.entry().tokens_estimated = stream.tokens_estimated();
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AccessLog {
    type Rejection = std::convert::Infallible;

    /// The request's log, or a detached one on a route without the middleware.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<AccessLog>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Replaces `out` with `target:outcome,...`.
fn write_attempts<'a>(out: &mut String, attempts: impl Iterator<Item = (&'a str, &'static str)>) {
    out.clear();
    // The usual line's attempts (a name and an outcome or two) without growing twice.
    out.reserve(48);
    for (i, (target, outcome)) in attempts.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(target);
        out.push(':');
        out.push_str(outcome);
    }
}

/// Writes the line when dropped.
#[derive(Debug)]
struct Finish {
    gw: Arc<Gateway>,
    /// The entry, with the request's id (kept there only: the handler may ask for it).
    log: AccessLog,
    method: axum::http::Method,
    /// Sanitized; the chat endpoint's path, the usual one, without a copy.
    path: std::borrow::Cow<'static, str>,
    started: tokio::time::Instant,
    /// `None` until the handler answered.
    status: Option<StatusCode>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut e = self.log.entry();
        // Left after the target's finish chunk reached it: the answer was whole, and the
        // books have the request served.
        let served = as_booked(&mut e, self.status.is_none());
        let status = self.status.unwrap_or(crate::errors::CLIENT_CLOSED).as_u16();
        let result = match (self.status, e.result) {
            (Some(_), Some(switchyard_core::attempt_log::STREAMING)) if served => "ok",
            // Cut by the gateway itself at the end of shutdown's grace, not left by its client.
            (None, _) | (Some(_), Some(switchyard_core::attempt_log::STREAMING))
                if self.gw.cut().is_set() =>
            {
                "shutdown"
            }
            (None, _) | (Some(_), Some(switchyard_core::attempt_log::STREAMING)) => "client_closed",
            (Some(_), Some(r)) => r,
            (Some(s), None) if s.is_success() => "ok",
            // Left while its body was read (`ApiError::client_closed`).
            (Some(crate::errors::CLIENT_CLOSED), None) => "client_closed",
            (Some(_), None) => "refused",
        };
        if e.route.is_none() {
            // No route books it in `switchyard_requests_total`: counted here instead.
            self.gw.unrouted.count(status, result);
        }
        let usage = e.usage.unwrap_or_default();
        if tracing::enabled!(target: ACCESS, tracing::Level::INFO) {
            let line = Line {
                request_id: e.id.as_deref().unwrap_or("-"),
                client: e.client.as_deref().unwrap_or("-"),
                method: self.method.as_str(),
                path: &self.path,
                route: e.route.as_deref().unwrap_or("-"),
                model: e.model.as_deref().unwrap_or("-"),
                // No attempt made (refused, unknown model, failed fast): `-`, as for the
                // other absent values, in both formats.
                attempts: match e.attempts.as_str() {
                    "" => "-",
                    a => a,
                },
                served_by: e.served_by.as_deref().unwrap_or("-"),
                status,
                result,
                latency_ms: latency_ms(self.started.elapsed()),
                usage,
                cost_usd: cost_usd(e.cost_usd.unwrap_or(0.0)),
                tokens_estimated: e.tokens_estimated,
            };
            line.write();
        }
        drop(e);
        self.gw.log_router_events();
    }
}

/// A request its client left (before its reply: `before_reply`), or a stream that had not
/// ended when its body was dropped: the entry takes the attempts, route, target, tokens and
/// cost the books have. Whether the stream was booked served (left after the target's finish
/// chunk reached it: the answer was whole, `StreamBooking::served`).
fn as_booked(e: &mut Entry, before_reply: bool) -> bool {
    let streaming = e.result == Some(switchyard_core::attempt_log::STREAMING);
    let served = streaming
        && e.booking
            .as_ref()
            .is_some_and(switchyard_live::StreamBooking::served);
    if streaming {
        // The client left mid-stream: the attempt it was on is booked `cancelled` (the
        // request abandoned), and the line says so too, with the tokens the stream was
        // booked at when it was dropped (the body, dropped before this guard).
        let outcome = if served { ":success" } else { ":cancelled" };
        e.attempts = e.attempts.replace(":streaming", outcome);
        if let Some(booking) = e.booking.as_ref()
            && let Some((usage, cost)) = booking.get()
        {
            e.tokens_estimated = booking.tokens_estimated();
            e.usage = Some(usage);
            e.cost_usd = Some(cost);
        }
    }
    if streaming || before_reply {
        // Left before the reply or mid-stream: the attempts, route and target as the plan
        // ended (a stream continued after a break has both attempts; a request left
        // before its reply has its route and its attempt `cancelled`).
        if let Some(named) = e.sink.as_ref().and_then(AttemptSink::named) {
            if !named.attempts.is_empty() {
                write_attempts(
                    &mut e.attempts,
                    named.attempts.iter().map(|(t, o)| (t.as_str(), *o)),
                );
            }
            if e.route.is_none() {
                e.route = named.route;
            }
            if let Some(served_by) = named.served_by {
                e.served_by = Some(served_by);
            }
        }
        if before_reply
            && let Some(sink) = e.sink.as_ref()
            && let Some((usage, cost)) = sink.booked()
        {
            // Left before the reply: what its attempts were booked at (an attempt sent
            // and cancelled before its first token, the prompt's estimate).
            e.tokens_estimated = sink.tokens_estimated();
            e.usage = Some(usage);
            e.cost_usd = Some(cost);
        }
    }
    served
}

/// `req-{instance:08x}-{n:x}`, written without `format!` (on every request).
fn request_id(instance: u32, n: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(4 + 8 + 1 + 16);
    id.push_str("req-");
    for shift in (0..8).rev() {
        id.push(char::from(HEX[(instance >> (shift * 4)) as usize & 0xf]));
    }
    id.push('-');
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        id.push(char::from(HEX[(n >> (shift * 4)) as usize & 0xf]));
    }
    id
}

/// The `x-request-id` response header.
const REQUEST_ID: axum::http::HeaderName = axum::http::HeaderName::from_static("x-request-id");

/// The access log as an axum middleware, for the `/v1/` routes of [`crate::app`]: [`logged`].
pub(crate) async fn middleware(
    State(gw): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    // A handler behind the router adopts the entry from the request (the extractor); the
    // chat endpoint's direct dispatch is handed it instead, and needs no extension.
    logged(gw, request, |mut request, log| {
        request.extensions_mut().insert(log);
        next.run(request)
    })
    .await
}

/// Gives the request an [`AccessLog`] (to `handler`; [`middleware`] also puts it in the
/// request's extensions, for the extractor), admits it or
/// sheds it ([`crate::shed::admit`]; its permit is held until the response body has ended)
/// and writes its line when the response body is dropped (or the request is, before any
/// response). The middleware of the `/v1/` routes, and what [`crate::serve`] wraps around
/// its direct call of the chat endpoint.
pub(crate) async fn logged<F, Fut>(gw: Arc<Gateway>, request: Request, handler: F) -> Response
where
    F: FnOnce(Request, AccessLog) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let n = gw
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = request_id(gw.instance, n);
    // Letters, digits and dashes: a valid header value.
    let id_header = HeaderValue::from_str(&id);
    let log = AccessLog(Arc::new(Mutex::new(Entry {
        id: Some(id),
        ..Entry::default()
    })));
    let permit = crate::shed::admit(&gw);
    let path = match request.uri().path() {
        crate::CHAT_PATH => std::borrow::Cow::Borrowed(crate::CHAT_PATH),
        other => std::borrow::Cow::Owned(sanitized(other)),
    };
    let mut finish = Finish {
        gw: gw.clone(),
        log: log.clone(),
        method: request.method().clone(),
        path,
        started: tokio::time::Instant::now(),
        status: None,
    };
    let mut response = match permit {
        Some(_) => handler(request, log).await,
        None => crate::shed::refusal(&gw, &request, log.request_id()),
    };
    finish.status = Some(response.status());
    if let Ok(v) = id_header {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    let held = Held {
        permit,
        _finish: finish,
    };
    // The body owns the guard: the line is written when the body is dropped.
    response.map(|body| Body::new(Logged { body, held }))
}

/// What a response body holds until it is dropped. Fields drop in order: the permit is
/// given back, then the line is written. The permit is given back earlier, once the body
/// has given its last frame ([`Logged`]): what is left is writing it to the client, which
/// a client that does not read can make last as long as it likes.
struct Held {
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    _finish: Finish,
}

/// A response body with its request's [`Held`]: the body's frames, end and size as they
/// are (a reply whose length is known goes out with `content-length`, not chunked).
struct Logged {
    body: Body,
    held: Held,
}

impl axum::body::HttpBody for Logged {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        // The body is whole: the request no longer counts against `max_in_flight`, though
        // its last bytes may still wait on the client.
        if matches!(polled, std::task::Poll::Ready(None)) || self.body.is_end_stream() {
            self.held.permit = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn logged_values_are_bounded_and_free_of_controls() {
        let long = "r".repeat(super::MAX_LOGGED_CHARS + 1);
        let cases = [
            ("chat", "chat"),
            ("/v1/chat/completions", "/v1/chat/completions"),
            ("a\nb\r\u{7f}c\u{85}", "a?b??c?"),
            ("é-ok", "é-ok"),
            (&long[1..], &long[1..]),
            (&long, &long[1..]),
        ];
        for (text, want) in cases {
            assert_eq!(super::sanitized(text), want, "{text:?}");
        }
    }

    /// The access line's `latency_ms` as written in `format`, for an `elapsed` of `nanos`.
    fn latency_text(format: switchyard_live::config::LogFormat, nanos: u64) -> String {
        let elapsed = std::time::Duration::from_nanos(nanos);
        number_text(format, super::latency_ms(elapsed))
    }

    /// A number as the gateway's subscriber writes it in `format` (a field's value).
    fn number_text(format: switchyard_live::config::LogFormat, number: f64) -> String {
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let writer = sink.clone();
        let s = crate::logging::subscriber(
            format,
            switchyard_live::config::LogLevel::Info,
            move || Writer(writer.clone()),
        );
        tracing::subscriber::with_default(s, || {
            tracing::info!(target: "switchyard::access", number, "request");
        });
        let line = String::from_utf8(sink.lock().map(|b| b.clone()).unwrap_or_default()).unwrap();
        let at = line.find("number").unwrap() + "number".len();
        let value = line[at..].trim_start_matches(['"', ':', '=']);
        value[..value.find([',', ' ', '}', '\n']).unwrap()].to_owned()
    }

    /// `cost_usd` is written to the ten-billionth of a dollar, without an exponent or the
    /// noise of summed float prices, in both formats; a JSON line's value is a number.
    #[test]
    fn cost_is_written_to_a_ten_billionth_of_a_dollar() {
        use switchyard_live::config::LogFormat;
        // 7 tokens at $0.10 per million, and 0.1 + 0.2: what a sum of prices makes.
        let seven_tokens = 7.0 * (0.1 / 1e6);
        assert_eq!(seven_tokens, 7.000_000_000_000_001e-7);
        for (cost, want) in [
            (seven_tokens, "0.0000007"),
            (0.1 + 0.2, "0.3"),
            (0.0, "0.0"),
            (2.5, "2.5"),
            (2.0, "2.0"),
            (1.234_567_890_123_4e-3, "0.0012345679"),
            (0.000_000_000_05, "0.0000000001"),
            (0.000_000_000_049, "0.0"),
            (12_345.678_9, "12345.6789"),
            (99_999.999_999_999_9, "99999.9999999999"),
            (99_999.999_999_999_99, "100000.0"),
            (1e6, "1000000.0"),
        ] {
            for format in [LogFormat::Text, LogFormat::Json] {
                let text = number_text(format, super::cost_usd(cost));
                assert_eq!(text, want, "{cost:?}, {format:?}");
            }
        }
        // Not a cost the books make, but not a panic or a changed value either.
        assert!(super::cost_usd(f64::NAN).is_nan());
        assert_eq!(super::cost_usd(-1.5), -1.5);
        assert_eq!(super::cost_usd(f64::INFINITY), f64::INFINITY);
    }

    struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn latency_is_written_to_the_microsecond() {
        use switchyard_live::config::LogFormat;
        for (nanos, want) in [
            (27_507_674, "27.508"),
            (27_507_499, "27.507"),
            (1_500_000, "1.5"),
            (999, "0.001"),
            (0, "0.0"),
            (3_600_000_000_001, "3600000.0"),
        ] {
            for format in [LogFormat::Text, LogFormat::Json] {
                assert_eq!(latency_text(format, nanos), want, "{nanos} ns, {format:?}");
            }
        }
    }

    /// What `log` writes through the gateway's subscriber in `format` at `level`, with each
    /// line's time stamp blanked (two lines written apart differ only there).
    fn written(
        format: switchyard_live::config::LogFormat,
        level: switchyard_live::config::LogLevel,
        log: impl FnOnce(),
    ) -> String {
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let writer = sink.clone();
        let s = crate::logging::subscriber(format, level, move || Writer(writer.clone()));
        tracing::subscriber::with_default(s, log);
        let text = String::from_utf8(sink.lock().map(|b| b.clone()).unwrap_or_default()).unwrap();
        let stamp = match format {
            switchyard_live::config::LogFormat::Text => 0..27,
            switchyard_live::config::LogFormat::Json => 14..41,
        };
        text.lines()
            .map(|l| format!("{}#{}\n", &l[..stamp.start], &l[stamp.end..]))
            .collect()
    }

    /// The line written straight into the log's buffer is, byte for byte, the one the same
    /// fields make as a `tracing` event, in both formats: ordinary values, values that must be
    /// quoted or escaped (spaces, quotes, line breaks, `=`, non-ASCII), empty ones, ones cut
    /// at the field limit, numbers at their extremes, and `tokens_estimated` (written only
    /// when true).
    #[test]
    fn the_direct_line_is_the_events_line() {
        use switchyard_live::config::{LogFormat, LogLevel};
        let long = "é\"".repeat(1500);
        let usage = switchyard_core::request::Usage {
            prompt_tokens: 12,
            completion_tokens: 5,
            ..Default::default()
        };
        let usual = super::Line {
            request_id: "req-6a1b2c3d-f",
            client: "app",
            method: "POST",
            path: "/v1/chat/completions",
            route: "chat",
            model: "gpt-4o",
            attempts: "ta:timeout,tb:success",
            served_by: "tb",
            status: 200,
            result: "ok",
            latency_ms: 27.508,
            usage,
            cost_usd: 0.1 + 0.2,
            tokens_estimated: false,
        };
        let odd = super::Line {
            request_id: "req 1=2",
            client: "a \"quoted\"\nclient",
            method: "GET",
            path: "/v1/x status=200\ttab",
            route: "é-route\\",
            model: "a model=x",
            attempts: "",
            served_by: "",
            status: 499,
            result: "client_closed",
            latency_ms: 0.0,
            usage: switchyard_core::request::Usage {
                prompt_tokens: u32::MAX,
                completion_tokens: 0,
                ..Default::default()
            },
            cost_usd: f64::NAN,
            tokens_estimated: true,
        };
        let huge = super::Line {
            request_id: &long,
            client: &long,
            path: &long,
            route: &long,
            model: &long,
            attempts: &long,
            served_by: &long,
            latency_ms: 1e-7,
            cost_usd: f64::INFINITY,
            tokens_estimated: true,
            ..usual
        };
        for line in [usual, odd, huge] {
            for format in [LogFormat::Text, LogFormat::Json] {
                let direct = written(format, LogLevel::Info, || {
                    let fields = line.fields();
                    let info = &tracing::Level::INFO;
                    assert!(crate::logging::direct(
                        info,
                        super::ACCESS,
                        "request",
                        line.shown(&fields)
                    ));
                });
                let event = written(format, LogLevel::Info, || line.event());
                assert_eq!(direct.lines().count(), 1, "{direct}");
                assert_eq!(direct, event, "{format:?}");
                // `tokens_estimated` only when true, last.
                let marked = direct.trim_end().ends_with("tokens_estimated=true")
                    || direct.contains(",\"tokens_estimated\":true,\"target\"");
                assert_eq!(marked, line.tokens_estimated, "{direct}");
                assert_eq!(direct.contains("tokens_estimated"), marked, "{direct}");
            }
        }
        // Another subscriber (here none): not written directly, left to `tracing`.
        assert!(!crate::logging::direct(
            &tracing::Level::INFO,
            super::ACCESS,
            "request",
            &usual.fields()
        ));
        // Below the subscriber's level, neither writes.
        for format in [LogFormat::Text, LogFormat::Json] {
            assert_eq!(written(format, LogLevel::Warn, || usual.write()), "");
        }
    }

    /// Every `result` the line can carry is in docs/GATEWAY.md's "Logs" table: the gateway's
    /// own (`Finish::drop`) and every failure's label (`AccessLog::failed`).
    #[test]
    fn every_access_result_is_documented() {
        use switchyard_core::outcome::{ErrorKind, FailureReason};
        let doc = include_str!("../../../docs/GATEWAY.md");
        let logs = &doc[doc.find("## Logs").unwrap()..];
        let logs = &logs[..logs[3..].find("\n## ").unwrap()];
        let reasons = [
            FailureReason::Attempt(ErrorKind::Timeout),
            FailureReason::DeadlineExceeded,
            FailureReason::NoTargetAvailable,
            FailureReason::BudgetExhausted(ErrorKind::Timeout),
            FailureReason::UnknownRoute,
            FailureReason::Abandoned,
            FailureReason::Unsupported,
        ];
        let mut results = vec!["ok", "client_closed", "shutdown", "refused"];
        for reason in reasons {
            // A new reason fails to compile here: add it to `reasons`, and to the doc.
            match reason {
                FailureReason::Attempt(_) => {
                    results.extend(ErrorKind::ALL.iter().map(|k| k.label()));
                }
                FailureReason::DeadlineExceeded
                | FailureReason::NoTargetAvailable
                | FailureReason::BudgetExhausted(_)
                | FailureReason::UnknownRoute
                | FailureReason::Abandoned
                | FailureReason::Unsupported => results.push(reason.label()),
            }
        }
        for result in results {
            assert!(
                logs.contains(&format!("`{result}`")),
                "`{result}` is not in docs/GATEWAY.md's Logs"
            );
        }
    }

    #[test]
    fn request_ids_are_the_instance_and_the_count_in_hex() {
        for (instance, n) in [
            (0, 0),
            (1, 1),
            (0x6a1b_2c3d, 15),
            (0x6a1b_2c3d, 16),
            (u32::MAX, 0x1234_5678_9abc),
            (7, u64::MAX),
        ] {
            assert_eq!(
                super::request_id(instance, n),
                format!("req-{instance:08x}-{n:x}")
            );
        }
    }
}
