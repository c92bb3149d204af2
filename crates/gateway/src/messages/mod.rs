//! `POST /v1/messages`: the Anthropic Messages API in front of the same routes as
//! `/v1/chat/completions`, any target dialect behind it, so Anthropic SDK users get the same
//! routing and failover.
//!
//! - The client's key comes as `x-api-key` or as `Authorization: Bearer` (current Anthropic
//!   SDKs send either; `x-api-key` wins when both are sent), checked like the OpenAI
//!   endpoint's; the body is read within the same limits.
//! - `model` names a route, as on the OpenAI endpoint. The body becomes the normalized
//!   request in [`inbound`], which refuses what it cannot represent with a 400 naming the
//!   field.
//! - Replies, streams and errors are in Anthropic's format ([`render`], [`error`]); every
//!   reply and error carries a `request-id` header (the access log's id), and replies the
//!   `x-switchyard-*` headers of the OpenAI endpoint.
//! - A stream that breaks after it began ends with an in-band `error` event, never with a
//!   `message_stop`: the SDKs raise on it rather than return a truncated message.

mod error;
mod inbound;
mod names;
mod render;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use switchyard_live::{ChatStream, Driver};

use crate::Gateway;
use crate::access_log::AccessLog;
use crate::chat::{AttemptHeaders, header, read_body};
use crate::errors::{ApiError, ErrorParts};
use error::MessagesError;

/// Where this endpoint is served.
pub(crate) const PATH: &str = "/v1/messages";

/// An error of the gateway's own, outside this module's handler (a request shed at
/// `gateway.max_in_flight`), in this endpoint's format.
pub(crate) fn refusal(gw: &Gateway, e: ApiError, request_id: Option<String>) -> Response {
    let request_id =
        request_id.unwrap_or_else(|| format!("req_{:016x}", gw.start.elapsed().as_nanos()));
    MessagesError::new(e, &request_id).into_response()
}

/// The `x-api-key` request header, by its constant name (not parsed from text per request).
const X_API_KEY: axum::http::HeaderName = axum::http::HeaderName::from_static("x-api-key");

/// The client's key: `x-api-key`, else an `Authorization: Bearer` token.
fn client_key(headers: &HeaderMap) -> Option<&str> {
    let api_key = headers
        .get(X_API_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    api_key.or_else(|| crate::secret::bearer(headers))
}

pub(crate) async fn create(
    State(gw): State<Arc<Gateway>>,
    access: AccessLog,
    request: axum::extract::Request,
) -> Response {
    let stamp = gw.start.elapsed().as_nanos();
    // The access log's id, so the id an Anthropic SDK shows is the one in the logs.
    let request_id = access
        .request_id()
        .unwrap_or_else(|| format!("req_{stamp:016x}"));
    let fail = |e: ApiError| MessagesError::new(e, &request_id).into_response();
    let (parts, body) = request.into_parts();
    let key = match gw.authenticate(client_key(&parts.headers)) {
        Ok(key) => key,
        Err(e) => return fail(e),
    };
    access.client(key.as_deref());
    let expose = gw.exposes_attempts(key.as_deref());
    let task = match crate::chat::task(&parts.headers) {
        Ok(task) => task,
        Err(e) => return fail(e),
    };
    // The body after the key: a stranger's request is refused before it is read.
    let body = match read_body(&gw, body).await {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let (mut normalized, origins) = match inbound::parse(&body) {
        Ok(parsed) => parsed,
        Err(refused) => {
            access.model_in(&body);
            return MessagesError::refused(&refused, &request_id).into_response();
        }
    };
    if task.is_some() {
        normalized.task = task;
    }
    let route = normalized.route.clone();
    access.model(&route);
    let estimate = normalized.estimated_prompt_tokens;
    let id = format!("msg_{stamp:016x}");
    let router = gw.router();
    let mut r = if normalized.stream {
        let stream = match router
            .chat_stream_into(normalized, Some(access.sink()))
            .await
        {
            Ok(s) => s,
            Err(e) => {
                access.failed(&e);
                let e = names::anthropic_names(e, &origins);
                return fail(ApiError::from_route(&e, &route, expose));
            }
        };
        access.stream(&router, &stream);
        streamed(
            &router,
            stream,
            (id, route),
            estimate,
            expose,
            (access, gw.cut()),
        )
    } else {
        let reply = match router.chat_into(normalized, Some(access.sink())).await {
            Ok(reply) => reply,
            Err(e) => {
                access.failed(&e);
                let e = names::anthropic_names(e, &origins);
                return fail(ApiError::from_route(&e, &route, expose));
            }
        };
        access.reply(&router, &reply);
        let model = router.target_names(reply.served_by).1;
        let body = match render::message(&id, model, &reply) {
            Ok(body) => body,
            Err(render::Unrenderable(message)) => {
                return MessagesError::upstream(message, &request_id).into_response();
            }
        };
        let mut r = match serde_json::to_vec(&body) {
            Ok(bytes) => Response::new(Body::from(bytes)),
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        };
        header(&mut r, CONTENT_TYPE, "application/json");
        if expose {
            AttemptHeaders::of_reply(&router, &reply).apply(&mut r);
        }
        r
    };
    header(&mut r, error::REQUEST_ID, &request_id);
    r
}

/// The SSE response for a stream the router committed to.
fn streamed(
    router: &Driver,
    stream: ChatStream,
    (id, route): (String, String),
    estimate: u32,
    expose: bool,
    (access, cut): (AccessLog, &crate::events::Cut),
) -> Response {
    let attempts = expose.then(|| AttemptHeaders::of_stream(router, &stream));
    let mut r = Response::new(sse_body(
        stream,
        (id, route),
        estimate,
        expose,
        (access, router.clone()),
        cut,
    ));
    header(&mut r, CONTENT_TYPE, "text/event-stream; charset=utf-8");
    header(&mut r, CACHE_CONTROL, "no-cache");
    if let Some(a) = attempts {
        a.apply(&mut r);
    }
    r
}

/// The `error` event a stream cut by shutdown ends with (made only then).
fn shutdown_event() -> Bytes {
    let shutdown = ErrorParts::from(ApiError::shutdown());
    frame((
        "error",
        render::error_body(error::kind_for(shutdown.status), &shutdown.message),
    ))
}

fn frame((name, data): render::Event) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The SSE body, pulled straight from the router's stream (no task in between, as on the
/// OpenAI endpoint): a client that leaves drops the body, which drops the `ChatStream`,
/// which abandons the request. Shutdown's cut ends it with an `error` event
/// (`overloaded_error`, retryable).
fn sse_body(
    stream: ChatStream,
    (id, route): (String, String),
    estimate: u32,
    expose: bool,
    access: (AccessLog, Driver),
    cut: &crate::events::Cut,
) -> Body {
    struct State {
        access: (AccessLog, Driver),
        stream: ChatStream,
        render: render::Stream,
        route: String,
        estimate: u32,
        expose: bool,
        queued: VecDeque<Bytes>,
        started: bool,
    }
    let render = render::Stream::new(id, stream.model.clone());
    let state = State {
        access,
        stream,
        render,
        route,
        estimate,
        expose,
        queued: VecDeque::new(),
        started: false,
    };
    // The state boxed: `unfold` moves it in and out of its future at every frame.
    crate::events::body(
        futures_util::stream::unfold(Box::new(state), |mut st| async move {
            loop {
                if let Some(frame) = st.queued.pop_front() {
                    return Some((frame, st));
                }
                if st.render.ended() {
                    return None;
                }
                if !st.started {
                    st.started = true;
                    return Some((frame(st.render.start(st.estimate)), st));
                }
                let mut out = Vec::new();
                match st.stream.next().await {
                    Some(Ok(event)) => {
                        if let switchyard_live::StreamEvent::End { usage, .. } = &event {
                            st.access.0.stream_end(&st.access.1, &st.stream, *usage);
                        }
                        if let Err(render::Unrenderable(message)) = st.render.next(event, &mut out)
                        {
                            out.push(st.render.error("api_error", &message));
                        }
                    }
                    Some(Err(e)) => {
                        st.access.0.failed(&e);
                        let parts =
                            ErrorParts::from(ApiError::from_route(&e, &st.route, st.expose));
                        out.push(
                            st.render
                                .error(error::kind_for(parts.status), &parts.message),
                        );
                    }
                    None => out.push(
                        st.render
                            .error("api_error", "The upstream stream ended without its end."),
                    ),
                }
                st.queued.extend(out.into_iter().map(frame));
            }
        }),
        cut,
        shutdown_event,
    )
}
