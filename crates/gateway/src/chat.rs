//! `POST /v1/chat/completions`, `GET /v1/models`, `GET /metrics`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use switchyard_core::attempt_log;
use switchyard_core::dialect::openai::{ChatCompletion, ChatRequest, ModelEntry, ModelList};

use crate::Gateway;
use crate::access_log::AccessLog;
use crate::errors::ApiError;

use crate::secret::bearer;

mod refusal;
mod sse;

/// What a client is told of a request body that is JSON but not an object (`None` for an
/// object), on both endpoints: `The request body should be a JSON object, not an array.`
pub(crate) fn not_an_object(value: &serde_json::Value) -> Option<String> {
    let kind = match value {
        serde_json::Value::Object(_) => return None,
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Null => "null",
    };
    Some(format!(
        "The request body should be a JSON object, not {kind}."
    ))
}

fn describe_bad_body(body: &[u8], access: &AccessLog) -> ApiError {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return ApiError::bad_request("We could not parse the JSON body of your request.", None);
    };
    // JSON, but not an object: said as such, not as a `model` missing from it.
    if let Some(said) = not_an_object(&value) {
        return ApiError::bad_request(&said, None);
    }
    // The body is JSON: the `model` it names is logged, though the request is refused.
    if let Some(model) = value.get("model").and_then(serde_json::Value::as_str) {
        access.model(model);
    }
    for field in ["model", "messages"] {
        if value.get(field).is_none() {
            return ApiError::invalid_param(
                &format!("Missing required parameter: '{field}'."),
                field,
                "missing_required_parameter",
            );
        }
    }
    let Err(e) = serde_json::from_value::<ChatRequest>(value.clone()) else {
        // The value reads, the bytes do not: what only the bytes have, a field written twice
        // (a JSON value keeps the last), in serde's words with its place.
        let Err(e) = serde_json::from_slice::<ChatRequest>(body) else {
            return ApiError::bad_request("Invalid request.", Some("invalid_value"));
        };
        let why = format!("Invalid request: {e}.");
        // serde names the field ("duplicate field `temperature` at line 1 column 60"), not
        // where it is: a top-level one is named in `param`, one in a message or tool is not.
        let twice = why
            .split_once("duplicate field `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(field, _)| field)
            .filter(|field| value.get(field).is_some());
        return match twice {
            Some(field) => ApiError::bad_request_param(&why, field),
            None => ApiError::bad_request(&why, Some("invalid_value")),
        };
    };
    match value.as_object().and_then(culprit) {
        // A wrong type or an integer out of range in OpenAI's words, else serde's.
        Some(field) => value
            .get(&field)
            .and_then(|v| refusal::openai(&field, v))
            .unwrap_or_else(|| {
                ApiError::bad_request_param(&format!("Invalid value for '{field}': {e}"), &field)
            }),
        None => ApiError::bad_request(&format!("Invalid request: {e}"), Some("invalid_value")),
    }
}

/// The top-level field of a refused body that the typed request refuses, for the error's
/// `param`: `model` when it is not a string, `messages` when they are refused on their own,
/// else the first other field refused beside a minimal valid request. Each value is parsed
/// once more at most (a refused body costs twice its parse, never a parse per field of it).
fn culprit(o: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    use serde_json::{Value, json};
    if !o.get("model").is_some_and(Value::is_string) {
        return Some("model".to_owned());
    }
    let refused = |key: &str, v: &Value, messages: Value| {
        let mut m = serde_json::Map::new();
        m.insert("model".to_owned(), json!("m"));
        m.insert("messages".to_owned(), messages);
        m.insert(key.to_owned(), v.clone());
        serde_json::from_value::<ChatRequest>(Value::Object(m)).is_err()
    };
    let messages = o.get("messages")?;
    if refused("messages", messages, Value::Null) {
        return Some("messages".to_owned());
    }
    let minimal = || json!([{"role": "user", "content": "x"}]);
    o.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "model" | "messages"))
        .find(|(k, v)| refused(k, v, minimal()))
        .map(|(k, _)| k.clone())
}

/// Every attempt, in order (see [`attempt_log`]).
pub(crate) const ATTEMPT_LOG: HeaderName = HeaderName::from_static("x-switchyard-attempt-log");
/// Why a failed request failed (the router's reason, as reports label it).
pub(crate) const OUTCOME: HeaderName = HeaderName::from_static("x-switchyard-outcome");
/// The target that served the request.
pub(crate) const TARGET: HeaderName = HeaderName::from_static("x-switchyard-target");
/// How many attempts the request took.
pub(crate) const ATTEMPTS: HeaderName = HeaderName::from_static("x-switchyard-attempts");
/// The request's task tag, for the router's task rules.
pub(crate) const TASK: HeaderName = HeaderName::from_static("x-switchyard-task");
/// The longest task tag accepted, in bytes.
pub(crate) const MAX_TASK_BYTES: usize = 64;

/// The `x-switchyard-task` header: absent, or 1 to [`MAX_TASK_BYTES`] visible ASCII
/// characters (no spaces or controls); anything else is a 400 naming the header.
pub(crate) fn task(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(TASK).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if values.next().is_some()
        || bytes.is_empty()
        || bytes.len() > MAX_TASK_BYTES
        || !bytes.iter().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::invalid_param(
            &format!(
                "The header `x-switchyard-task` must appear once, with 1 to {MAX_TASK_BYTES} visible ASCII characters (no spaces)."
            ),
            "x-switchyard-task",
            "invalid_value",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

pub(crate) fn header(r: &mut Response, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// Which targets a request tried, for a client that may know (`expose_attempts`): the
/// serving target, the number of attempts and the attempt log, as response headers. Both
/// endpoints use it.
pub(crate) struct AttemptHeaders {
    target: String,
    attempts: usize,
    log: String,
}

impl AttemptHeaders {
    pub(crate) fn of_reply(
        router: &switchyard_live::Driver,
        reply: &switchyard_core::request::Response,
    ) -> Self {
        AttemptHeaders {
            target: router.target_names(reply.served_by).0.to_owned(),
            attempts: reply.attempts.len(),
            log: attempt_log::format(reply.attempts.iter().map(|a| {
                (
                    router.target_names(a.target).0,
                    a.outcome.label(),
                    a.latency,
                )
            })),
        }
    }

    /// A stream's: its committed attempt is still flowing, `streaming` at its first token.
    pub(crate) fn of_stream(
        router: &switchyard_live::Driver,
        stream: &switchyard_live::ChatStream,
    ) -> Self {
        AttemptHeaders {
            target: stream.target.clone(),
            attempts: stream.attempts.len(),
            log: attempt_log::format(stream.attempts.iter().enumerate().map(|(i, a)| {
                let name = router.target_names(a.target).0;
                if i == stream.committed {
                    (name, attempt_log::STREAMING, stream.first_token)
                } else {
                    (name, a.outcome.label(), a.latency)
                }
            })),
        }
    }

    pub(crate) fn apply(&self, r: &mut Response) {
        header(r, TARGET, &self.target);
        header(r, ATTEMPTS, &self.attempts.to_string());
        header(r, ATTEMPT_LOG, &self.log);
    }
}

/// A 200 with `body` as JSON, written into a buffer of about the right size at once (axum's
/// `Json` starts small and grows it several times for a typical reply).
fn json_response(body: &impl serde::Serialize, capacity: usize) -> Response {
    let mut buf = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut buf, body) {
        Ok(()) => {
            let mut r = Response::new(Body::from(buf));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A request body, whole: at most `max_body` bytes (413), within `body_read_timeout` of the
/// first poll (408). A client that trickles its body, or sends none after its headers, would
/// otherwise hold a connection and a permit for as long as it likes.
///
/// The read is polled once before its timer is armed: the usual body has arrived with its
/// head and is read at that first poll, without a timer made and cancelled on every request
/// (a body that is not whole by then gets the full `body_read_timeout` from that poll on).
pub(crate) async fn read_body(gw: &Gateway, body: Body) -> Result<Bytes, ApiError> {
    let read = whole(http_body_util::Limited::new(body, gw.max_body));
    let mut read = std::pin::pin!(read);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(read.as_mut().poll(cx))).await;
    let done = match first {
        std::task::Poll::Ready(done) => done,
        std::task::Poll::Pending => match tokio::time::timeout(gw.body_read_timeout, read).await {
            Ok(done) => done,
            Err(_) => return Err(ApiError::body_timeout(gw.body_read_timeout)),
        },
    };
    match done {
        Ok(b) => Ok(b),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::too_large(gw.max_body))
        }
        Err(e) if client_left(&*e) => Err(ApiError::client_closed()),
        Err(_) => Err(ApiError::bad_request(
            "The request body could not be read.",
            None,
        )),
    }
}

/// A body's data, whole (trailers, which no chat client sends, are ignored): a body of one
/// frame, as the fast path's always is, as it came, without the list and the collecting of
/// `http_body_util`'s `collect`; one of several frames joined into one buffer of exactly its
/// size (the frames, within the body limit, are held until then, as `collect` holds them).
async fn whole<B>(mut body: B) -> Result<Bytes, B::Error>
where
    B: axum::body::HttpBody<Data = Bytes> + Unpin,
{
    // The first frame, and any after it (a list made only for a second one).
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<Bytes> = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data()
            && !data.is_empty()
        {
            match first {
                None => first = Some(data),
                Some(_) => rest.push(data),
            }
        }
    }
    let Some(first) = first else {
        return Ok(Bytes::new());
    };
    if rest.is_empty() {
        return Ok(first);
    }
    // Within the body limit (`Limited`); saturating all the same.
    let size = rest
        .iter()
        .fold(first.len(), |n, d| n.saturating_add(d.len()));
    let mut joined = bytes::BytesMut::with_capacity(size);
    joined.extend_from_slice(&first);
    for data in &rest {
        joined.extend_from_slice(data);
    }
    Ok(joined.freeze())
}

/// Whether a body's read failed because the client's connection ended before the body was
/// whole (hyper's incomplete body: an unexpected end of file, a reset), not because the body
/// was malformed (a bad chunk size stays a 400).
fn client_left(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled())
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{
                BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof,
            };
            return matches!(
                io.kind(),
                UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
            );
        }
        cause = e.source();
    }
    false
}

/// `POST /v1/chat/completions` as an axum handler (the route in [`crate::app`]).
pub(crate) async fn completions(
    State(gw): State<Arc<Gateway>>,
    access: AccessLog,
    request: axum::extract::Request,
) -> Response {
    complete(gw, access, request).await
}

/// `POST /v1/chat/completions`: what [`completions`] does, called directly by
/// [`crate::serve`]'s dispatch (no router, no extractor), inside the access log's
/// [`crate::access_log::logged`].
pub(crate) async fn complete(
    gw: Arc<Gateway>,
    access: AccessLog,
    request: axum::extract::Request,
) -> Response {
    // The request's head is read here and dropped before the first wait: a future holds
    // only what it keeps across a wait, and the head (its headers) is over 200 bytes.
    let (expose, task, body) = {
        let (parts, body) = request.into_parts();
        let key = match gw.authenticate(bearer(&parts.headers)) {
            Ok(key) => key,
            Err(e) => return e.into_response(),
        };
        access.client(key.as_deref());
        let expose = gw.exposes_attempts(key.as_deref());
        match task(&parts.headers) {
            Ok(task) => (expose, task, body),
            Err(e) => return e.into_response(),
        }
    };
    // The body after the key: a stranger's request is refused before it is read.
    let body = match read_body(&gw, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (model, include_usage, normalized) = match parse_request(&body, task, &access) {
        Ok(parsed) => parsed,
        Err(e) => return e.into_response(),
    };
    let router = gw.router();
    if !normalized.stream {
        return match router.chat_into(normalized, Some(access.sink())).await {
            Ok(reply) => {
                access.reply(&router, &reply);
                reply_response(&gw, &router, &reply, expose)
            }
            Err(e) => {
                access.failed(&e);
                ApiError::from_route(&e, &model, expose).into_response()
            }
        };
    }
    // Boxed: the streaming path's state does not make every request's future bigger.
    let stream = match Box::pin(router.chat_stream_into(normalized, Some(access.sink()))).await {
        Ok(s) => s,
        Err(e) => {
            access.failed(&e);
            return ApiError::from_route(&e, &model, expose).into_response();
        }
    };
    access.stream(&router, &stream);
    let (id, created) = stamp(&gw);
    let attempts = expose.then(|| AttemptHeaders::of_stream(&router, &stream));
    let body = sse::sse_body(
        stream,
        id,
        created,
        include_usage,
        (access, router.clone()),
        (model, expose),
        gw.cut(),
    );
    let mut r = Response::new(body);
    header(&mut r, CONTENT_TYPE, "text/event-stream; charset=utf-8");
    header(&mut r, CACHE_CONTROL, "no-cache");
    if let Some(a) = attempts {
        a.apply(&mut r);
    }
    r
}

/// The request in `body`, parsed and normalized (`task` from its header), with the `model` it
/// names (logged on `access` as its route) and whether a stream should end with its usage.
fn parse_request(
    body: &Bytes,
    task: Option<String>,
    access: &AccessLog,
) -> Result<(String, bool, switchyard_core::request::Request), ApiError> {
    // One parse on the fast path (the typed request, the fields it does not model, where
    // each entry lies for the pass-through); the slow path finds out what exactly is wrong.
    let Ok(parsed) = switchyard_core::dialect::openai::parse(body) else {
        return Err(describe_bad_body(body, access));
    };
    let mut request = parsed.request;
    access.model(&request.model);
    let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
    // The messages' text moves into the normalized request (`request.messages` are not read
    // again).
    let mut normalized = match request.take_normalized() {
        Ok(r) => r,
        Err(e) => return Err(refusal::normalizing(body, &e)),
    };
    // The client's own body rides along: an OpenAI target is sent it (model replaced). Set
    // in place: a struct update would copy the whole request once more.
    normalized.unmodelled = parsed.unmodelled;
    normalized.original = Some(switchyard_core::request::Original {
        dialect: switchyard_core::dialect::Dialect::Openai,
        body: body.clone(),
        raw_reply: true,
        layout: parsed.layout,
    });
    if task.is_some() {
        normalized.task = task;
    }
    if normalized.stream && request.n.is_some_and(|n| n > 1) {
        // Several choices interleaved in one stream are not served: ask for them unstreamed.
        return Err(ApiError::invalid_param(
            "`n` greater than 1 is not supported with `stream: true` by this gateway; send the request without streaming to get several choices.",
            "n",
            "unsupported_value",
        ));
    }
    Ok((request.model, include_usage, normalized))
}

/// A reply's id and time, for the replies the gateway writes itself (not one forwarded as it
/// came, the usual case, which keeps its own).
fn stamp(gw: &Gateway) -> (String, u64) {
    (
        format!("chatcmpl-{:016x}", gw.start.elapsed().as_nanos()),
        switchyard_live::wall::unix_now(),
    )
}

/// An unstreamed reply's response: the target's own body when it spoke OpenAI, else one
/// written here; with the attempt headers when the client may see them (`expose`).
fn reply_response(
    gw: &Gateway,
    router: &switchyard_live::Driver,
    reply: &switchyard_core::request::Response,
    expose: bool,
) -> Response {
    if let Some(raw) = &reply.raw {
        // The target spoke OpenAI: its reply goes out as it came, every field kept.
        let mut r = Response::new(Body::from(raw.clone()));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if expose {
            AttemptHeaders::of_reply(router, reply).apply(&mut r);
        }
        return r;
    }
    let (id, created) = stamp(gw);
    let model = router.target_names(reply.served_by).1;
    let text_len = reply.text.len()
        + reply.choices.iter().map(|c| c.text.len()).sum::<usize>()
        + reply
            .tool_calls
            .iter()
            .chain(reply.choices.iter().flat_map(|c| &c.tool_calls))
            .map(|c| 64 + c.id.len() + c.name.len() + c.arguments.len())
            .sum::<usize>();
    let body = ChatCompletion::from_reply(id, created, model, reply);
    let mut r = json_response(&body, 256 + body.model.len() + text_len);
    if expose {
        AttemptHeaders::of_reply(router, reply).apply(&mut r);
    }
    r
}

/// What a client may name in `model`, as OpenAI lists models: the routes, then the targets
/// that belong to a route and share no route's name (a name that is both is the route).
fn model_entries(gw: &Gateway) -> Vec<ModelEntry> {
    let entry = |id: &str| ModelEntry {
        id: id.to_owned(),
        object: "model".to_owned(),
        created: 1_700_000_000,
        owned_by: "switchyard".to_owned(),
    };
    gw.router().inspect(|core| {
        let params = core.params();
        let routes = params.routes.iter().map(|r| entry(&r.name));
        let targets = params
            .targets
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                let id = switchyard_core::id::TargetId::new(*i as u32);
                params.route_id(&t.name).is_none()
                    && params.routes.iter().any(|r| r.members.contains(&id))
            })
            .map(|(_, t)| entry(&t.name));
        routes.chain(targets).collect()
    })
}

pub(crate) async fn models(
    State(gw): State<Arc<Gateway>>,
    access: AccessLog,
    headers: HeaderMap,
) -> Response {
    match gw.authenticate(bearer(&headers)) {
        Ok(client) => access.client(client.as_deref()),
        Err(e) => return e.into_response(),
    }
    let list = ModelList {
        object: "list".to_owned(),
        data: model_entries(&gw),
    };
    axum::Json(list).into_response()
}

/// `GET /v1/models/{model}`: one route, or OpenAI's 404.
pub(crate) async fn model(
    State(gw): State<Arc<Gateway>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    access: AccessLog,
    headers: HeaderMap,
) -> Response {
    match gw.authenticate(bearer(&headers)) {
        Ok(client) => access.client(client.as_deref()),
        Err(e) => return e.into_response(),
    }
    match model_entries(&gw).into_iter().find(|m| m.id == id) {
        Some(entry) => axum::Json(entry).into_response(),
        None => ApiError::model_not_found(&id).into_response(),
    }
}

pub(crate) async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    // Breakers as a request arriving now would find them (an idle one's cooldown may have
    // ended): docs/GATEWAY.md, "Metrics".
    let router = gw.router();
    let now = router.now();
    let mut text = router.inspect(|core| switchyard_core::router::prometheus::render_at(core, now));
    gw.tally.render(&mut text);
    gw.unrouted.render(&mut text);
    let mut r = text.into_response();
    header(&mut r, CONTENT_TYPE, "text/plain; version=0.0.4");
    r
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;

    use super::whole;

    type Item = Result<Frame<Bytes>, std::io::Error>;
    type Frames = Vec<Item>;
    type Framed = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Item>>>;

    fn frames(frames: Frames) -> Framed {
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_one_frame_body_is_taken_as_it_came() {
        let data = Bytes::from(b"{\"model\":\"m\"}".to_vec());
        let got = whole(Full::new(data.clone())).await.ok();
        // The same bytes, not a copy of them.
        assert_eq!(got.as_ref().map(|b| b.as_ptr()), Some(data.as_ptr()));
        assert_eq!(got, Some(data));
    }

    /// The client's body rides along to a same-dialect target as the buffer it came in, not a
    /// copy of it (a body of megabytes of images is not copied once more for each request).
    #[test]
    fn the_original_body_is_the_clients_buffer() {
        let body = Bytes::from(
            b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}".to_vec(),
        );
        let access = crate::access_log::AccessLog::default();
        let (model, _, normalized) = super::parse_request(&body, None, &access).unwrap();
        assert_eq!(model, "m");
        let original = normalized.original.unwrap();
        assert_eq!(original.body, body);
        assert_eq!(original.body.as_ptr(), body.as_ptr());
    }

    #[tokio::test]
    async fn frames_are_joined_in_order_without_empty_ones_or_trailers() {
        let mut trailers = axum::http::HeaderMap::new();
        trailers.insert("x-t", axum::http::HeaderValue::from_static("1"));
        let body = frames(vec![
            Ok(Frame::data(Bytes::new())),
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Ok(Frame::data(Bytes::new())),
            Ok(Frame::data(Bytes::from_static(b"cd"))),
            Ok(Frame::data(Bytes::from_static(b"e"))),
            Ok(Frame::trailers(trailers)),
        ]);
        assert_eq!(whole(body).await.ok(), Some(Bytes::from_static(b"abcde")));
        assert_eq!(whole(frames(vec![])).await.ok(), Some(Bytes::new()));
    }

    #[tokio::test]
    async fn a_failed_frame_fails_the_read() {
        let body = frames(vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
        ]);
        let err = whole(body).await.err().map(|e| e.kind());
        assert_eq!(err, Some(std::io::ErrorKind::UnexpectedEof));
        // After several frames too.
        let body = frames(vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Ok(Frame::data(Bytes::from_static(b"cd"))),
            Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ]);
        let err = whole(body).await.err().map(|e| e.kind());
        assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
    }
}
