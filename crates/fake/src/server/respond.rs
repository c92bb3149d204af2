//! From a model's answer to an HTTP response, whatever the dialect: delays, errors with
//! Retry-After and rate-limit headers, JSON replies, and SSE streams with their faults.

use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use switchyard_core::dialect::{Dialect, openai_reset, rfc3339};
use switchyard_core::health::LimitSnapshot;
use switchyard_core::outcome::ErrorKind;
use switchyard_core::time::{Duration, Instant};

use super::content::{self, Content};
use super::request::Asked;
use super::{Inner, ResetConnection, Shared, anthropic, azure, gemini, openai};
use crate::model::{Answer, Behaviour, FakeRequest, Reply, StreamFault};

/// The wire events of one streamed reply, before timing.
#[derive(Debug, Default)]
pub(super) struct StreamShape {
    /// Sent at once, with the headers.
    pub prelude: Vec<String>,
    /// One per token, at the token's time.
    pub tokens: Vec<String>,
    /// After the last token.
    pub closing: Vec<String>,
    /// The terminating event (`[DONE]`, `message_stop`), which `missing_done` leaves out.
    pub terminator: Option<String>,
}

/// Ids and times stamped on one reply.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stamp {
    pub id: u64,
    pub created: u64,
}

/// A JSON response with a status.
pub(super) fn json(status: u16, body: &Value) -> Response {
    json_text(status, body.to_string())
}

fn json_text(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn header(response: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        response.headers_mut().insert(n, v);
    }
}

/// The dialect's rate-limit and request-id headers.
fn decorate(response: &mut Response, dialect: Dialect, limits: &LimitSnapshot, stamp: Stamp) {
    let request_id = format!("req_{:024x}", stamp.id);
    let anthropic = dialect == Dialect::Anthropic;
    match dialect {
        Dialect::Gemini => return,
        Dialect::Anthropic => header(response, "request-id", &request_id),
        Dialect::Openai => header(response, "x-request-id", &request_id),
        Dialect::AzureOpenai => {
            header(response, "x-request-id", &request_id);
            header(response, "apim-request-id", &request_id);
        }
    }
    let parts = [
        (
            "requests",
            limits.limit_requests,
            limits.remaining_requests,
            limits.reset_requests,
        ),
        (
            "tokens",
            limits.limit_tokens,
            limits.remaining_tokens,
            limits.reset_tokens,
        ),
    ];
    for (what, limit, remaining, until) in parts {
        let (Some(l), Some(r), Some(t)) = (limit, remaining, until) else {
            continue;
        };
        let name = |field: &str| {
            if anthropic {
                format!("anthropic-ratelimit-{what}-{field}")
            } else {
                format!("x-ratelimit-{field}-{what}")
            }
        };
        // OpenAI writes resets as durations, Anthropic as RFC 3339 times.
        let reset = if anthropic {
            rfc3339(stamp.created + t.as_secs_f64().ceil() as u64)
        } else {
            openai_reset(t)
        };
        header(response, &name("limit"), &l.to_string());
        header(response, &name("remaining"), &r.to_string());
        header(response, &name("reset"), &reset);
    }
}

/// Asks the model, then renders its answer in the profile's dialect. A reply's content
/// (text, JSON, tool calls) is decided from what the request asked ([`content::decide`]);
/// structured content sets the reply's token count and finish reason.
pub(super) async fn answer(shared: &Shared, asked: Asked) -> Response {
    let now = shared.now();
    let (answer, content) = consult(shared, &asked, now);
    let dialect = shared.profile.dialect;
    let stamp = Stamp {
        id: shared.next_id(),
        created: shared.wall_now(),
    };
    let mut response = match (answer.behaviour, content) {
        (Behaviour::Reset, _) => {
            let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            r.extensions_mut().insert(ResetConnection);
            // For in-process transports, which see the response but not the connection.
            header(&mut r, "x-switchyard-reset", "1");
            return r;
        }
        (Behaviour::Hang, _) => std::future::pending().await,
        (Behaviour::MalformedJson, _) => {
            tokio::time::sleep(StdDuration::from_millis(5)).await;
            (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                MALFORMED_BODY,
            )
                .into_response()
        }
        (
            Behaviour::Error {
                kind,
                status,
                retry_after,
            },
            _,
        ) => error_response(dialect, kind, status, retry_after, &asked.model),
        (Behaviour::Reply(reply), Some(content)) if asked.stream => {
            stream(dialect, &reply, &asked, stamp, &content)
        }
        (Behaviour::Reply(reply), content) => {
            if !reply.total().is_zero() {
                tokio::time::sleep(reply.total().into()).await;
            }
            let content = content.unwrap_or_else(|| content::decide(&asked, &reply));
            let body = match dialect {
                Dialect::Openai => openai::reply(&reply, &asked, stamp, &content),
                Dialect::AzureOpenai => azure::reply(&reply, &asked, stamp, &content),
                Dialect::Anthropic => anthropic::reply(&reply, &asked, stamp, &content),
                Dialect::Gemini => gemini::reply(&reply, &asked, stamp, &content),
            };
            let mut r = json_text(200, body.to_string());
            header(
                &mut r,
                "openai-processing-ms",
                &reply.total().as_millis().to_string(),
            );
            r
        }
    };
    decorate(&mut response, dialect, &answer.limits, stamp);
    shared.count_status(response.status().as_u16());
    response
}

/// The model's answer to `asked`, and for a reply, its content: the reply's token count and
/// finish reason follow the content (and the counters with them).
fn consult(shared: &Shared, asked: &Asked, now: Instant) -> (Answer, Option<Content>) {
    let mut guard = shared.lock();
    let Inner { model, rng, .. } = &mut *guard;
    let request = FakeRequest {
        model: &asked.model,
        prompt_tokens: asked.prompt_tokens,
        max_tokens: asked.max_tokens,
        stream: asked.stream,
    };
    let mut answer = model.respond(&request, now, rng);
    let content = match &mut answer.behaviour {
        Behaviour::Reply(reply) => {
            let content = content::decide(asked, reply);
            let tokens = content.tokens();
            let counters = model.counters_mut();
            counters.completion_tokens = counters
                .completion_tokens
                .saturating_sub(u64::from(reply.output_tokens))
                .saturating_add(u64::from(tokens));
            reply.output_tokens = tokens;
            reply.finish = content::finish(asked, &content, reply.finish);
            Some(content)
        }
        _ => None,
    };
    (answer, content)
}

/// An error reply in the dialect, with `retry-after` (and OpenAI's `retry-after-ms`).
fn error_response(
    dialect: Dialect,
    kind: ErrorKind,
    status: Option<u16>,
    retry_after: Option<Duration>,
    model: &str,
) -> Response {
    let mut r = error(dialect, kind, status, retry_after, model);
    if let Some(after) = retry_after {
        header(
            &mut r,
            "retry-after",
            &(after.as_secs_f64().ceil() as u64).to_string(),
        );
        if matches!(dialect, Dialect::Openai | Dialect::AzureOpenai) {
            header(&mut r, "retry-after-ms", &after.as_millis().to_string());
        }
    }
    r
}

/// A truncated completion: what a proxy that gave up half-way delivers.
const MALFORMED_BODY: &str = "{\"id\": \"chatcmpl-broken\", \"object\": \"chat.completion\", \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assis";

/// A chunk that is not JSON, in the middle of a stream.
const MALFORMED_CHUNK: &str =
    "data: {\"id\": \"broken\", \"choices\": [{\"delta\": {\"content\": \"\n\n";

/// The dialect's error response for `kind`, with `status` overriding the usual one.
pub(super) fn error(
    dialect: Dialect,
    kind: ErrorKind,
    status: Option<u16>,
    retry_after: Option<Duration>,
    model: &str,
) -> Response {
    let (usual, body) = match dialect {
        Dialect::Openai => {
            let (s, b) = switchyard_core::dialect::openai::ErrorBody::for_kind(kind, model);
            (s, serde_json::to_value(b).unwrap_or(Value::Null))
        }
        Dialect::AzureOpenai => switchyard_core::dialect::azure_openai::error_for_kind(kind),
        Dialect::Anthropic => {
            let (s, b) = switchyard_core::dialect::anthropic::ErrorBody::for_kind(kind);
            (s, serde_json::to_value(b).unwrap_or(Value::Null))
        }
        Dialect::Gemini => switchyard_core::dialect::gemini::error_for_kind(kind, retry_after),
    };
    json(status.unwrap_or(usual), &body)
}

/// The least time between the last token written and a cut.
const CUT_GAP: Duration = Duration::from_millis(5);

enum Piece {
    Bytes(Bytes),
    /// Drop the connection: no terminating chunk, so the client sees an incomplete body.
    Abort,
}

/// When each piece of a stream goes out, as an offset from the response's start: the
/// prelude at once, a token per `token_interval` after `first_token`, the closing events and
/// terminator at the reply's end, and the reply's stream fault (a cut, a stall, a malformed
/// chunk, a missing `[DONE]`) where it falls.
fn schedule(shape: StreamShape, reply: &Reply) -> Vec<(Duration, Piece)> {
    let token_at = |i: u32| reply.first_token + reply.token_interval.saturating_mul(u64::from(i));
    let mut schedule: Vec<(Duration, Piece)> = Vec::with_capacity(shape.tokens.len() + 8);
    for event in shape.prelude {
        schedule.push((Duration::ZERO, Piece::Bytes(Bytes::from(event))));
    }
    let n = shape.tokens.len() as u32;
    let mut tokens = shape.tokens.into_iter();
    for i in 0..=n {
        let at = token_at(i);
        match reply.stream_fault {
            Some(StreamFault::Cut { after_tokens }) if after_tokens.min(n) == i => {
                // At least a few milliseconds after the last token, so the tokens before the
                // cut are on the wire (an abort in the same tick would discard them unsent).
                let last = if i == 0 {
                    Duration::ZERO
                } else {
                    token_at(i - 1)
                };
                schedule.push((at.max(last + CUT_GAP), Piece::Abort));
                break;
            }
            Some(StreamFault::Stall {
                after_tokens,
                stall,
            }) if after_tokens.min(n) == i => {
                schedule.push((at + stall, Piece::Abort));
                break;
            }
            Some(StreamFault::MalformedChunk { after_tokens }) if after_tokens.min(n) == i => {
                schedule.push((
                    at,
                    Piece::Bytes(Bytes::from_static(MALFORMED_CHUNK.as_bytes())),
                ));
            }
            _ => {}
        }
        if let Some(token) = tokens.next() {
            schedule.push((at, Piece::Bytes(Bytes::from(token))));
        } else {
            let end = reply.total();
            for event in shape.closing.iter().cloned() {
                schedule.push((end, Piece::Bytes(Bytes::from(event))));
            }
            if reply.stream_fault != Some(StreamFault::MissingDone)
                && let Some(t) = shape.terminator.clone()
            {
                schedule.push((end, Piece::Bytes(Bytes::from(t))));
            }
        }
    }
    schedule
}

fn stream(
    dialect: Dialect,
    reply: &Reply,
    asked: &Asked,
    stamp: Stamp,
    content: &Content,
) -> Response {
    let shape = match dialect {
        Dialect::Openai | Dialect::AzureOpenai => {
            openai::stream_shape(reply, asked, stamp, content, dialect)
        }
        Dialect::Anthropic => anthropic::stream_shape(reply, asked, stamp, content),
        Dialect::Gemini => gemini::stream_shape(reply, asked, stamp, content),
    };
    let schedule = schedule(shape, reply).into_iter();
    let start = tokio::time::Instant::now();
    // When the last bytes were handed on: a cut waits at least `CUT_GAP` after them in real
    // time, not only on the schedule, so that a task polled late (every piece due at once)
    // still writes the tokens before the cut, which would otherwise discard them unsent.
    let body = futures_util::stream::unfold(
        (schedule, None),
        move |(mut schedule, last): (_, Option<tokio::time::Instant>)| async move {
            let (offset, piece) = schedule.next()?;
            let mut at = start + StdDuration::from(offset);
            if let (Piece::Abort, Some(last)) = (&piece, last) {
                at = at.max(last + StdDuration::from(CUT_GAP));
            }
            tokio::time::sleep_until(at).await;
            Some(match piece {
                Piece::Bytes(b) => (Ok(b), (schedule, Some(tokio::time::Instant::now()))),
                Piece::Abort => (
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "stream cut by fault",
                    )),
                    (schedule, last),
                ),
            })
        },
    );
    let content_type = match dialect {
        Dialect::Openai | Dialect::AzureOpenai | Dialect::Anthropic | Dialect::Gemini => {
            "text/event-stream; charset=utf-8"
        }
    };
    let mut response = Response::new(Body::from_stream(body));
    header(&mut response, "content-type", content_type);
    header(&mut response, "cache-control", "no-cache");
    response
}
