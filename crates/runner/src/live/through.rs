//! One request through a gateway over HTTP, judged by what the client sees.

use http_body_util::BodyExt;
use switchyard_core::outcome::{AttemptRecord, ErrorKind, FailureReason, FinalOutcome};
use switchyard_core::request::Request;
use switchyard_core::router::RouterParams;
use switchyard_core::time::{Duration, Instant};
use switchyard_live::HttpClient;

use super::books::{Done, Gaps};
use super::{Ticket, prompt_text};

/// The attempts an `x-switchyard-attempt-log` line tells, and which one (if any) is a stream
/// still flowing when the gateway answered. `None` when the line does not parse or names a
/// target this scenario does not have.
fn attempt_records(
    line: &str,
    params: &switchyard_core::router::RouterParams,
    intended: Instant,
) -> Option<(Vec<AttemptRecord>, Option<usize>)> {
    let entries = switchyard_core::attempt_log::parse(line)?;
    let mut streaming = None;
    let mut records = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        let outcome = match e.outcome {
            Some(o) => o,
            None if e.label == switchyard_core::attempt_log::STREAMING => {
                streaming = Some(i);
                switchyard_core::outcome::Outcome::Success
            }
            None => return None,
        };
        records.push(AttemptRecord {
            target: params.target_id(&e.target)?,
            started: intended,
            outcome,
            latency: e.latency,
            hedge: false,
        });
    }
    Some((records, streaming))
}

/// A stream's attempts when it broke after it was committed: the streaming one ends `kind`.
fn stream_log(
    log: Option<(Vec<AttemptRecord>, Option<usize>)>,
    kind: switchyard_core::outcome::ErrorKind,
) -> Vec<AttemptRecord> {
    let Some((mut records, streaming)) = log else {
        return Vec::new();
    };
    if let Some(last) = streaming.and_then(|i| records.get_mut(i)) {
        last.outcome = switchyard_core::outcome::Outcome::error(kind);
    }
    records
}

/// The largest reply body read from a gateway (a whole reply; a stream is read event by
/// event, each bounded by the SSE parser).
const MAX_REPLY_BYTES: usize = 32 << 20;

/// What a gateway's stream told the client, read event by event with the project's SSE
/// parser.
#[derive(Debug, Default)]
struct StreamRead {
    first: Option<Duration>,
    gaps: Gaps,
    model: Option<String>,
    usage: Option<switchyard_core::request::Usage>,
    /// `[DONE]` or a finish reason arrived: the stream is complete when the body ends.
    complete: bool,
    /// An event that is not a chunk (an error event, or garbage).
    broken: bool,
}

impl StreamRead {
    /// One event at `at`, `intended` being the request's start.
    fn event(&mut self, data: &str, at: Instant, intended: Instant) {
        use switchyard_core::dialect::openai::ChatCompletionChunk;
        if data.trim() == "[DONE]" {
            self.complete = true;
            return;
        }
        let Ok(chunk) = serde_json::from_str::<ChatCompletionChunk>(data) else {
            self.broken = true;
            return;
        };
        if self.model.is_none() {
            self.model = Some(chunk.model.clone());
        }
        if let Some(Some(u)) = chunk.usage {
            self.usage = Some(u.into());
        }
        // A content chunk: text or a tool call, not a role-only or empty delta.
        let content = chunk.choices.iter().any(|c| {
            c.delta.content.as_deref().is_some_and(|t| !t.is_empty())
                || c.delta.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
        });
        if content {
            self.first = self.first.or(Some(at.saturating_since(intended)));
            self.gaps.chunk(at);
        }
        if chunk.choices.iter().any(|c| c.finish_reason.is_some()) {
            self.complete = true;
        }
    }
}

/// One request through a gateway over HTTP, judged by what the client sees: the status, the
/// body (or the stream, event by event), and the gateway's headers naming the target and
/// the attempts made. Streams ask for usage (`stream_options.include_usage`); the cost is
/// the served reply's usage at its target's price: the client cannot see what other
/// attempts were billed, so `wasted_cost` is 0 through a gateway.
pub(super) async fn through_gateway(
    client: &HttpClient,
    url: &str,
    params: &RouterParams,
    request: Request,
    ticket: Ticket,
) -> Done {
    let stream = request.stream;
    // Through a gateway, the client cannot tell a continued stream (`resumed` stays None).
    let failed = |reason: FailureReason, attempts: Vec<AttemptRecord>| {
        ticket.done(stream, FinalOutcome::Failed(reason), attempts)
    };
    let Ok(response) = client.send(gateway_request(url, &request)).await else {
        return failed(FailureReason::Attempt(ErrorKind::ConnectFailed), Vec::new());
    };
    let status = response.status().as_u16();
    let told = Told::read(response.headers(), params, ticket.intended);
    if status != 200 {
        let attempts = told.log.map(|(records, _)| records).unwrap_or_default();
        let reason = told
            .outcome
            .and_then(|said| FailureReason::from_label(&said, last_error(&attempts)))
            .unwrap_or_else(|| failure_of(status));
        return failed(reason, attempts);
    }
    // A black-box gateway does not say which target served: the reply's model (or, for a
    // stream, the first chunk's) names it, read below.
    let read = match read_body(response.into_body(), stream, ticket).await {
        Ok(read) => read,
        Err(Broken::Interrupted) => {
            return failed(
                FailureReason::Attempt(ErrorKind::StreamInterrupted),
                stream_log(told.log, ErrorKind::StreamInterrupted),
            );
        }
        Err(Broken::Malformed) => {
            return failed(
                FailureReason::Attempt(ErrorKind::MalformedResponse),
                Vec::new(),
            );
        }
    };
    let target = told.target.or_else(|| {
        read.model
            .as_ref()
            .and_then(|m| params.targets.iter().position(|t| &t.model == m))
            .map(|i| switchyard_core::id::TargetId::new(i as u32))
    });
    let Some(target) = target else {
        return failed(
            FailureReason::Attempt(ErrorKind::MalformedResponse),
            Vec::new(),
        );
    };
    // Without usage, the content chunks the client received are its output tokens.
    let usage = read.usage.unwrap_or_default();
    let output_tokens = if usage.completion_tokens == 0 {
        read.gaps.chunks()
    } else {
        usage.completion_tokens
    };
    // The gateway's attempt log tells every attempt; without it (another gateway), the
    // attempts are not observed: none is booked (an attempt count or a serving target
    // guessed from the reply would be the runner's invention, docs/BLACKBOX.md).
    let attempts = told.log.map(|(records, _)| records).unwrap_or_default();
    let mut done = ticket.done(stream, FinalOutcome::Served(target), attempts);
    done.first_token = read.first;
    done.cost = params.target(target).price.cost(usage);
    done.output_tokens = output_tokens;
    done.gaps = read.gaps;
    done
}

/// The chat request a gateway is sent: the route as the model, a prompt of the class's size.
fn gateway_request(
    url: &str,
    request: &Request,
) -> axum::http::Request<http_body_util::Full<bytes::Bytes>> {
    let mut body = serde_json::json!({
        "model": request.route,
        "messages": [{ "role": "user", "content": prompt_text(request.estimated_prompt_tokens) }],
        "max_tokens": request.max_tokens,
        "stream": request.stream,
    });
    if request.stream {
        body["stream_options"] = serde_json::json!({ "include_usage": true });
    }
    axum::http::Request::post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .unwrap_or_default()
}

/// The kind of the last failed attempt (as the router's `Plan::last_error` reads it).
fn last_error(attempts: &[AttemptRecord]) -> Option<ErrorKind> {
    attempts.iter().rev().find_map(|a| a.outcome.error_kind())
}

/// What a gateway's failure status means for the request, when the gateway does not say
/// (another gateway; this project's says why in `x-switchyard-outcome`, with the reason the
/// router gave it, which a status cannot carry: a 503 is an overloaded provider or no target
/// available, a 400 a bad request or a request no target can hold).
fn failure_of(status: u16) -> FailureReason {
    match status {
        429 => FailureReason::Attempt(ErrorKind::RateLimited),
        503 => FailureReason::NoTargetAvailable,
        504 => FailureReason::DeadlineExceeded,
        404 => FailureReason::UnknownRoute,
        400 => FailureReason::Attempt(ErrorKind::BadRequest),
        _ => FailureReason::Attempt(ErrorKind::ServerError),
    }
}

/// What the gateway's headers told: the serving target and the attempt log.
struct Told {
    target: Option<switchyard_core::id::TargetId>,
    log: Option<(Vec<AttemptRecord>, Option<usize>)>,
    /// Why a failed request failed: the router's reason's label.
    outcome: Option<String>,
}

impl Told {
    fn read(headers: &axum::http::HeaderMap, params: &RouterParams, intended: Instant) -> Told {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Told {
            target: header("x-switchyard-target").and_then(|t| params.target_id(&t)),
            log: header("x-switchyard-attempt-log")
                .and_then(|line| attempt_records(&line, params, intended)),
            outcome: header("x-switchyard-outcome"),
        }
    }
}

/// Why a 200 reply's body did not make a reply.
enum Broken {
    /// The body failed, or a stream broke or ended before it was complete.
    Interrupted,
    /// A whole reply too large to read.
    Malformed,
}

/// A 200 reply's body, read: a stream event by event, a whole reply as one bounded read.
async fn read_body(
    mut body: axum::body::Body,
    stream: bool,
    ticket: Ticket,
) -> Result<StreamRead, Broken> {
    let mut read = StreamRead::default();
    let mut parser = switchyard_live::sse::Parser::default();
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(Broken::Interrupted);
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if !stream {
            if text.len().saturating_add(data.len()) > MAX_REPLY_BYTES {
                return Err(Broken::Malformed);
            }
            text.extend_from_slice(&data);
            continue;
        }
        let Ok(events) = parser.feed(&data) else {
            return Err(Broken::Interrupted);
        };
        let at = ticket.now();
        for event in events {
            read.event(&event.data, at, ticket.intended);
        }
        if read.broken {
            return Err(Broken::Interrupted);
        }
    }
    if stream {
        return if read.complete {
            Ok(read)
        } else {
            Err(Broken::Interrupted)
        };
    }
    let reply =
        serde_json::from_slice::<switchyard_core::dialect::openai::ChatCompletion>(&text).ok();
    read.usage = reply.as_ref().and_then(|r| r.usage).map(Into::into);
    read.model = reply.map(|r| r.model);
    read.first = Some(ticket.now().saturating_since(ticket.intended));
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::outcome::Outcome;

    fn params() -> switchyard_core::router::RouterParams {
        switchyard_core::config::load_router(
            "targets:\n  - { name: 'first one', provider: p, model: m }\n  - { name: b, provider: q, model: m }\n\
             routes:\n  - { name: chat, policy: priority, tiers: [['first one'], [b]] }\n",
            "r.yaml",
        )
        .unwrap()
    }

    /// The last failed attempt's kind, past a cancelled one after it (a hedge that lost), as
    /// the router's `Plan::last_error` reads it: a `budget_exhausted` reason stands on it.
    #[test]
    fn the_last_error_is_the_last_failed_attempts() {
        let p = params();
        let log = |line| attempt_records(line, &p, Instant::ZERO).unwrap().0;
        let said = log("first%20one overloaded 0.400, b cancelled 0.100");
        assert_eq!(last_error(&said), Some(ErrorKind::Overloaded));
        assert_eq!(
            FailureReason::from_label("budget_exhausted", last_error(&said)),
            Some(FailureReason::BudgetExhausted(ErrorKind::Overloaded))
        );
        assert_eq!(last_error(&log("b success 0.100")), None);
    }

    #[test]
    fn the_gateway_attempt_log_becomes_attempt_records() {
        let p = params();
        let at = Instant::ZERO + Duration::from_secs(3);
        let (records, streaming) =
            attempt_records("first%20one overloaded 0.400, b success 1.500", &p, at).unwrap();
        assert_eq!(streaming, None);
        let story: Vec<_> = records
            .iter()
            .map(|r| (r.target.index(), r.outcome, r.latency, r.started))
            .collect();
        assert_eq!(
            story,
            [
                (
                    0,
                    Outcome::error(ErrorKind::Overloaded),
                    Duration::from_micros(400),
                    at
                ),
                (1, Outcome::Success, Duration::from_micros(1500), at),
            ]
        );
        // Another gateway's names, or a line that is not one: nothing is made up.
        assert!(attempt_records("elsewhere success 1.0", &p, at).is_none());
        assert!(attempt_records("b frobnicated 1.0", &p, at).is_none());
        assert!(attempt_records("b success", &p, at).is_none());
    }

    #[test]
    fn a_stream_that_broke_after_its_commit_ends_interrupted() {
        let p = params();
        let log = attempt_records(
            "first%20one timeout 30.000, b streaming 0.100",
            &p,
            Instant::ZERO,
        );
        assert_eq!(log.as_ref().unwrap().1, Some(1));
        assert_eq!(log.as_ref().unwrap().0[1].outcome, Outcome::Success);
        let records = stream_log(log, ErrorKind::StreamInterrupted);
        assert_eq!(
            records.iter().map(|r| r.outcome).collect::<Vec<_>>(),
            [
                Outcome::error(ErrorKind::Timeout),
                Outcome::error(ErrorKind::StreamInterrupted)
            ]
        );
        assert!(stream_log(None, ErrorKind::StreamInterrupted).is_empty());
    }

    /// Time to first token is the first chunk with content: not the role-only chunk a
    /// stream opens with, an empty delta, or the usage chunk; the usage is booked.
    #[test]
    fn a_gateway_stream_is_read_at_its_content_chunks() {
        let ms = |n| Instant::ZERO + Duration::from_millis(n);
        let chunk = |delta: &str, finish: &str, usage: &str| {
            format!(
                r#"{{"id":"c","object":"chat.completion.chunk","created":1,"model":"small-fast-1","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}]{usage}}}"#
            )
        };
        let mut read = StreamRead::default();
        read.event(
            &chunk(r#"{"role":"assistant","content":""}"#, "null", ""),
            ms(100),
            ms(0),
        );
        read.event(&chunk(r#"{"content":""}"#, "null", ""), ms(150), ms(0));
        assert_eq!(read.first, None);
        read.event(&chunk(r#"{"content":"Hel"}"#, "null", ""), ms(300), ms(0));
        read.event(&chunk(r#"{"content":"lo"}"#, "null", ""), ms(320), ms(0));
        assert!(!read.complete);
        read.event(&chunk("{}", r#""stop""#, ""), ms(330), ms(0));
        read.event(
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"small-fast-1","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":2,"total_tokens":42}}"#,
            ms(331),
            ms(0),
        );
        read.event("[DONE]", ms(332), ms(0));
        assert_eq!(read.first, Some(Duration::from_millis(300)));
        assert_eq!(read.gaps.runs(), [(Duration::from_millis(20), 1)]);
        assert_eq!(read.gaps.chunks(), 2);
        assert_eq!(
            read.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((40, 2))
        );
        assert!(read.complete && !read.broken);
        assert_eq!(read.model.as_deref(), Some("small-fast-1"));
        read.event(
            r#"{"error":{"message":"upstream went away"}}"#,
            ms(400),
            ms(0),
        );
        assert!(read.broken, "an error event breaks the stream");
    }
}
