//! One attempt: build the request, send it through the transport, classify what came back.
//!
//! Timeouts (see `switchyard_core::plan`): a non-streaming attempt is bounded as a whole; a
//! stream by its first-token timeout until its first token, then (in [`ChatStream`](super::ChatStream))
//! by the idle timeout between chunks and the optional stream cap.

use axum::body::Body;
use http_body_util::BodyExt;
use switchyard_core::credentials::Secret;
use switchyard_core::dialect::Dialect;
use switchyard_core::dialect::upstream::UpstreamError;
use switchyard_core::fleet::Until;
use switchyard_core::health::LimitSnapshot;
use switchyard_core::id::TargetId;
use switchyard_core::outcome::{AttemptReport, ErrorKind, Outcome};
use switchyard_core::plan::{AttemptId, Timeouts};
use switchyard_core::request::{Request, Usage};
use switchyard_core::time::Duration;

use super::{Binding, Driver};
use crate::adapter::{self, Endpoint, Piece, StreamDecoder};
use crate::transport::ReadFuture;

/// A winning attempt, before its outcome is recorded.
pub(super) enum Won {
    Reply {
        decoded: adapter::Decoded,
        report: AttemptReport,
    },
    Stream(Box<OpenStream>),
}

/// A losing attempt: its report, and what the upstream said.
pub(super) struct Lost {
    pub(super) report: AttemptReport,
    pub(super) upstream: Option<Box<UpstreamError>>,
}

impl From<AttemptReport> for Lost {
    fn from(report: AttemptReport) -> Self {
        Lost {
            report,
            upstream: None,
        }
    }
}

#[derive(Debug)]
pub(super) struct OpenStream {
    pub(super) body: Body,
    pub(super) decoder: StreamDecoder,
    pub(super) first: Vec<Piece>,
    pub(super) started: tokio::time::Instant,
    /// The request's own prompt estimate, for a stream that reports no usage.
    pub(super) prompt_estimate: u32,
    pub(super) first_token: std::time::Duration,
    pub(super) timeouts: Timeouts,
    /// The stream cap (`timeouts.total` from the send), or far away.
    pub(super) cap: tokio::time::Instant,
    /// The timer the first token was awaited under, at its deadline still: the stream's
    /// reads move it on (idle timeout, stream cap) rather than putting a timer of their own
    /// into tokio's wheel (see [`within`]).
    pub(super) timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

/// When an attempt was sent, and when its wait ends: for a reply, the whole reply's; for a
/// stream, its first token's.
#[derive(Clone, Copy)]
struct Sent {
    at: tokio::time::Instant,
    deadline: tokio::time::Instant,
}

impl Sent {
    fn latency(self) -> Duration {
        Duration::from(self.at.elapsed())
    }

    /// The attempt failed with `kind`, and the upstream said nothing about it.
    fn fail(self, kind: ErrorKind) -> Lost {
        Lost::from(AttemptReport::new(Outcome::error(kind), self.latency()))
    }

    /// The attempt failed as its dialect's adapter classified what came back.
    fn failure(self, f: adapter::Failure) -> Lost {
        let mut report = AttemptReport::new(f.outcome, self.latency());
        if let Some(usage) = f.usage {
            report.prompt_tokens = usage.prompt_tokens;
            report.cached_prompt_tokens = usage.cached_prompt_tokens;
            report.completion_tokens = usage.completion_tokens;
        }
        Lost {
            report,
            upstream: f.upstream,
        }
    }
}

impl Driver {
    /// One attempt: send, wait for the reply (for a stream, its first token), classify.
    pub(super) async fn attempt(
        &self,
        attempt: AttemptId,
        target: TargetId,
        request: &Request,
        timeouts: Timeouts,
    ) -> (AttemptId, TargetId, Result<Won, Lost>) {
        let result = self.try_attempt(target, request, timeouts).await;
        (attempt, target, result)
    }

    async fn try_attempt(
        &self,
        target: TargetId,
        request: &Request,
        timeouts: Timeouts,
    ) -> Result<Won, Lost> {
        let started = tokio::time::Instant::now();
        let sent = Sent {
            at: started,
            deadline: started + std::time::Duration::from(timeouts.first),
        };
        let binding = &self.inner.bindings[target.index()];
        let (key_index, key, send) = self.build(binding, request).map_err(|k| sent.fail(k))?;
        let response = match tokio::time::timeout_at(sent.deadline, send).await {
            Err(_) => return Err(sent.fail(ErrorKind::Timeout)),
            Ok(Err(e)) => {
                self.unreached(binding, &*e);
                return Err(sent.fail(ErrorKind::ConnectFailed));
            }
            Ok(Ok(r)) => r,
        };
        let (response, read) = response;
        let (parts, body) = response.into_parts();
        // Only Anthropic's resets are dates: the others need no wall clock.
        let wall_now = match binding.dialect {
            Dialect::Anthropic => self.inner.wall_start + started.elapsed().as_secs(),
            Dialect::Openai | Dialect::AzureOpenai | Dialect::Gemini => 0,
        };
        let headers = adapter::view(&parts, read.as_ref());
        let limits = adapter::limits(binding.dialect, &headers, wall_now);
        // A reply without rate-limit headers tells the core nothing (observing an empty
        // snapshot changes no state): no clock read, no lock.
        if limits != LimitSnapshot::default() {
            let now = self.now();
            self.core().observe_limits(target, &limits, now);
        }
        if !parts.status.is_success() {
            return Err(self
                .refused(binding, (key_index, &key), (&parts, &headers), body, sent)
                .await);
        }
        let answered = if request.stream {
            self.first_token(binding, request, (body, headers), sent, timeouts)
                .await
        } else {
            self.reply(binding, request, body, sent).await
        };
        // A 2xx head: the provider accepted the prompt. An answer that broke after it (a body
        // too slow, cut or not a reply; a stream cut, stalled, malformed or timed out before
        // its first token) is booked the request's estimated prompt by the core when it
        // reports no tokens (`AttemptReport::prompt_sent`). One the provider classified (an
        // in-band error event, a refusal) is an error reply: booked what it reported, as an
        // error status is (RV3).
        answered.map_err(|mut lost| {
            lost.report.prompt_sent = lost.upstream.is_none()
                && matches!(
                    lost.report.outcome.error_kind(),
                    Some(
                        ErrorKind::Timeout
                            | ErrorKind::StreamInterrupted
                            | ErrorKind::MalformedResponse
                    )
                );
            lost
        })
    }

    /// The attempt's HTTP request to `binding`'s target, with the provider's key in use (and
    /// its index, for a revocation), on its way: the target's prepared request with the
    /// body, when there is one for the key, else the request built whole. No key in use is
    /// `unauthorized`.
    fn build(
        &self,
        binding: &Binding,
        request: &Request,
    ) -> Result<(usize, Secret, ReadFuture), ErrorKind> {
        let provider = &self.inner.store.providers()[binding.provider];
        // One clock read for both the key's date and the core's time.
        let (today, now) = self.today_and_now();
        let Some((key_index, key)) = self.inner.store.key(binding.provider, today, now) else {
            return Err(ErrorKind::Unauthorized);
        };
        let endpoint = Endpoint {
            url: binding.urls[usize::from(request.stream)].as_ref(),
            auth_value: self
                .inner
                .auth_values
                .get(binding.provider)
                .and_then(|keys| keys.get(key_index))
                .and_then(Option::as_ref),
            dialect: binding.dialect,
            base_url: &provider.base_url,
            model: &binding.model,
            auth: &provider.auth,
            headers: self.inner.store.headers(binding.provider),
            key: &key,
            default_max_tokens: binding.default_max_tokens,
        };
        // Routing excluded targets that cannot express the request; should one still refuse
        // it, the attempt is a bad request (not the target's fault, no failover).
        let transport = &self.inner.transport;
        let prepared = binding.prepared[usize::from(request.stream)]
            .get(key_index)
            .and_then(Option::as_ref);
        let send = match prepared {
            Some(prepared) => {
                let body = adapter::body(&endpoint, request).map_err(|_| ErrorKind::BadRequest)?;
                transport.send_prepared_read(prepared, body)
            }
            None => transport
                .send_read(adapter::build(&endpoint, request).map_err(|_| ErrorKind::BadRequest)?),
        };
        Ok((key_index, key, send))
    }

    /// An error status, classified on status, headers and what was read of the body within
    /// its cap. A 401 revokes the key; what the upstream said is kept, the key redacted.
    async fn refused(
        &self,
        binding: &Binding,
        (key_index, key): (usize, &Secret),
        (parts, headers): (&axum::http::response::Parts, &adapter::ReplyView<'_>),
        body: Body,
        sent: Sent,
    ) -> Lost {
        let read = adapter::read_error_body(body, self.inner.limits.max_error_body_bytes);
        let bytes = tokio::time::timeout_at(sent.deadline, read)
            .await
            .unwrap_or_default();
        let status = parts.status.as_u16();
        let outcome = adapter::classify(binding.dialect, status, headers, &bytes);
        if outcome.error_kind() == Some(ErrorKind::Unauthorized) {
            let store = &self.inner.store;
            if let Some(revoked) = store.revoke(binding.provider, key_index, self.now())
                && let Some(until) = revoked.revoked_until()
                && let Some(subject) = store.key_subject(binding.provider, key_index)
            {
                // The fleet's peers take the key out of use too (docs/FLEET.md).
                self.core()
                    .fleet_revoke(&subject, Until::At(until), revoked.at);
            }
        }
        let mut upstream = adapter::upstream_error(binding.dialect, status, &bytes).map(Box::new);
        if let Some(e) = &mut upstream {
            e.redact(key.expose());
        }
        Lost {
            report: AttemptReport::new(outcome, sent.latency()),
            upstream,
        }
    }

    /// A whole reply, read within `max_body_bytes` before the deadline, and decoded.
    async fn reply(
        &self,
        binding: &Binding,
        request: &Request,
        body: Body,
        sent: Sent,
    ) -> Result<Won, Lost> {
        let read = adapter::read_capped(body, self.inner.limits.max_body_bytes);
        let bytes = match tokio::time::timeout_at(sent.deadline, read).await {
            Err(_) => return Err(sent.fail(ErrorKind::Timeout)),
            // Too large, or cut mid-body.
            Ok(Err(_)) => return Err(sent.fail(ErrorKind::MalformedResponse)),
            Ok(Ok(b)) => b,
        };
        let raw = request
            .original
            .as_ref()
            .is_some_and(|o| o.raw_reply && o.dialect == Dialect::Openai);
        let decoded = raw
            .then(|| adapter::decode_raw(binding.dialect, &bytes))
            .flatten()
            .unwrap_or_else(|| adapter::decode(binding.dialect, &bytes));
        let mut decoded = decoded.map_err(|f| sent.failure(f))?;
        estimate_prompt(
            &mut decoded.usage,
            decoded.usage_missing,
            request.estimated_prompt_tokens,
        );
        let latency = sent.latency();
        let report = AttemptReport {
            outcome: Outcome::Success,
            latency,
            first_token: Some(latency),
            prompt_tokens: decoded.usage.prompt_tokens,
            cached_prompt_tokens: decoded.usage.cached_prompt_tokens,
            completion_tokens: decoded.usage.completion_tokens,
            delivered_tokens: true,
            usage_missing: decoded.usage_missing,
            prompt_sent: false,
        };
        Ok(Won::Reply { decoded, report })
    }

    /// A stream, read until its first token (a text or tool-call piece) before the deadline.
    /// `body` comes with its reply's headers: a body whose `content-type` says JSON and that
    /// ends without a single event is a whole JSON reply where a stream was asked for (a server that
    /// ignores `stream`, an error written as a 200), `malformed_response` as the simulator
    /// says; a stream mislabelled JSON streams (RV4).
    async fn first_token(
        &self,
        binding: &Binding,
        request: &Request,
        (mut body, headers): (Body, adapter::ReplyView<'_>),
        sent: Sent,
        timeouts: Timeouts,
    ) -> Result<Won, Lost> {
        let mut decoder = StreamDecoder::with_limits(binding.dialect, &self.inner.limits);
        decoder.forward_raw(
            request
                .original
                .as_ref()
                .is_some_and(|o| o.raw_reply && o.dialect == Dialect::Openai),
        );
        let mut first = Vec::new();
        // What may still be held of the chunks before the first token (see `hold`).
        let mut room = self.inner.limits.max_event_bytes;
        // One timer for every read up to the first token, handed on to the stream.
        let mut timer = Box::pin(tokio::time::sleep_until(sent.deadline));
        loop {
            let frame = match within(timer.as_mut(), body.frame()).await {
                Err(()) => return Err(sent.fail(ErrorKind::Timeout)),
                Ok(None) => {
                    // Ended before any token: complete-but-empty, or cut; or no stream at
                    // all, a whole JSON reply.
                    let kind = match decoder.finish() {
                        Err(ErrorKind::StreamInterrupted)
                            if !decoder.saw_event() && json_body(&headers) =>
                        {
                            ErrorKind::MalformedResponse
                        }
                        Err(kind) => kind,
                        Ok(_) => ErrorKind::MalformedResponse,
                    };
                    return Err(sent.fail(kind));
                }
                Ok(Some(Err(_))) => return Err(sent.fail(ErrorKind::StreamInterrupted)),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let pieces = decoder.feed(&data).map_err(|f| sent.failure(f))?;
            // A first text or tool-call piece is the first token.
            if hold(&mut first, pieces, &mut decoder, &mut room) || decoder.done {
                let started = sent.at;
                let far = started + std::time::Duration::from_secs(10 * 365 * 86_400);
                return Ok(Won::Stream(Box::new(OpenStream {
                    body,
                    decoder,
                    first,
                    started,
                    prompt_estimate: request.estimated_prompt_tokens,
                    first_token: started.elapsed(),
                    timeouts,
                    cap: timeouts
                        .total
                        .map_or(far, |t| started + std::time::Duration::from(t)),
                    timer,
                })));
            }
        }
    }
}

/// Whether a reply's `content-type` says JSON: `application/json` (any case), alone or with
/// parameters, not `application/jsonl` or `application/json-seq`.
fn json_body(headers: &adapter::ReplyView<'_>) -> bool {
    const JSON: &[u8] = b"application/json";
    headers.get("content-type").is_some_and(|v| {
        v.get(..JSON.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(JSON))
            && matches!(v.get(JSON.len()), None | Some(b';' | b' ' | b'\t'))
    })
}

/// `read`, or `Err` once `timer` has fired: the read polled first, as `timeout_at` polls it
/// (one that is ready is taken even past the deadline). Unlike `timeout_at`, the timer is
/// the caller's, kept across reads: the reads that wait put it into tokio's wheel once, and
/// moving it to a later deadline is a store, where a timer per read was put into the wheel
/// and taken out again each time.
pub(super) async fn within<F: std::future::Future>(
    mut timer: std::pin::Pin<&mut tokio::time::Sleep>,
    read: F,
) -> Result<F::Output, ()> {
    let mut read = std::pin::pin!(read);
    std::future::poll_fn(|cx| match read.as_mut().poll(cx) {
        std::task::Poll::Ready(out) => std::task::Poll::Ready(Ok(out)),
        std::task::Poll::Pending => timer.as_mut().poll(cx).map(Err),
    })
    .await
}

/// Keeps a stream's `pieces` until its first token; whether one came. The chunks before it
/// (a role chunk, Azure's filter results) are held as they came, while they fit in `room`
/// (the bytes left of the bound, taken as they are held): past that, the stream is not
/// forwarded raw at all (its chunks held so far dropped, its caller renders it).
fn hold(
    first: &mut Vec<Piece>,
    mut pieces: Vec<Piece>,
    decoder: &mut StreamDecoder,
    room: &mut usize,
) -> bool {
    let token = pieces.iter().any(|p| !matches!(p, Piece::Raw(_)));
    if decoder.forwards_raw() {
        let added = raw_bytes(&pieces);
        match room.checked_sub(added) {
            Some(left) => *room = left,
            None => {
                decoder.forward_raw(false);
                first.retain(|p| !matches!(p, Piece::Raw(_)));
                pieces.retain(|p| !matches!(p, Piece::Raw(_)));
            }
        }
    }
    first.extend(pieces);
    token
}

/// The bytes of the raw chunks among `pieces`.
fn raw_bytes(pieces: &[Piece]) -> usize {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Raw(r) => r.wire.len(),
            _ => 0,
        })
        .fold(0usize, usize::saturating_add)
}

/// A reply that reported no prompt tokens counts the request's own estimate instead.
pub(super) fn estimate_prompt(usage: &mut Usage, usage_missing: bool, estimate: u32) {
    if usage_missing && usage.prompt_tokens == 0 {
        usage.prompt_tokens = estimate;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
    const TEXT: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";

    fn feed(
        decoder: &mut StreamDecoder,
        first: &mut Vec<Piece>,
        wire: &str,
        room: &mut usize,
    ) -> bool {
        let pieces = decoder.feed(wire.as_bytes()).unwrap_or_default();
        hold(first, pieces, decoder, room)
    }

    #[test]
    fn chunks_before_the_first_token_are_held_across_reads_within_a_bound() {
        let mut decoder = StreamDecoder::new(Dialect::Openai);
        decoder.forward_raw(true);
        let mut first = Vec::new();
        let mut room = 1024;
        assert!(!feed(&mut decoder, &mut first, ROLE, &mut room));
        assert!(feed(&mut decoder, &mut first, TEXT, &mut room));
        // The role chunk, read before, is still there: raw, raw, then the text.
        assert!(matches!(
            first.as_slice(),
            [Piece::Raw(_), Piece::Raw(_), Piece::Text(t)] if t == "Hi"
        ));
        assert!(decoder.forwards_raw());

        // Past the bound, nothing is forwarded raw: what was held goes, the text stays.
        let mut decoder = StreamDecoder::new(Dialect::Openai);
        decoder.forward_raw(true);
        let mut first = Vec::new();
        let mut room = 3 * ROLE.len();
        for _ in 0..4 {
            assert!(!feed(&mut decoder, &mut first, ROLE, &mut room));
        }
        assert!(!decoder.forwards_raw());
        assert!(first.is_empty());
        assert!(feed(&mut decoder, &mut first, TEXT, &mut room));
        assert!(matches!(first.as_slice(), [Piece::Text(_)]));
    }

    /// Reviewer RS: a refusal (`delta.refusal`, `content` null: what OpenAI streams when a
    /// model refuses under structured outputs) is the reply's text: its first non-empty piece
    /// is the first token, on the forwarded path as on the decoded one, so a refusal stream
    /// is not held to its end (nor fails a long one as a first-token timeout).
    #[test]
    fn a_refusal_delta_is_a_first_token() {
        const REFUSAL: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"refusal\":\"I can't\"}}]}\n\n";
        let mut decoder = StreamDecoder::new(Dialect::Openai);
        decoder.forward_raw(true);
        let mut first = Vec::new();
        let mut room = 1024;
        assert!(!feed(&mut decoder, &mut first, ROLE, &mut room));
        assert!(feed(&mut decoder, &mut first, REFUSAL, &mut room));
        assert!(matches!(
            first.as_slice(),
            [Piece::Raw(_), Piece::Raw(_), Piece::Text(t)] if t == "I can't"
        ));

        // Decoded (not forwarded), the refusal is the text the client is rendered.
        let mut decoder = StreamDecoder::new(Dialect::Openai);
        let mut first = Vec::new();
        assert!(!feed(&mut decoder, &mut first, ROLE, &mut room));
        assert!(feed(&mut decoder, &mut first, REFUSAL, &mut room));
        assert!(matches!(first.as_slice(), [Piece::Text(t)] if t == "I can't"));
        // An empty or null refusal is nothing.
        let none = REFUSAL.replace("\"I can't\"", "\"\"");
        assert!(!feed(&mut decoder, &mut first, &none, &mut room));
        let none = REFUSAL.replace("\"I can't\"", "null");
        assert!(!feed(&mut decoder, &mut first, &none, &mut room));
    }
}
