//! The async router: runs the core's plans over HTTP with tokio timers.
//!
//! `chat` and `chat_stream` are the one interface a Rust service needs. Each request loops on
//! the core's decision seam (`begin` / `next` / `record` / `first_token`); attempts run
//! concurrently when the plan hedges. The core makes every decision: the first stream attempt
//! to yield a token is committed and the core cancels the others (their futures are dropped,
//! which drops their HTTP requests).
//!
//! Drop safety: a request's plan lives in a `PlanGuard` for as long as the request does —
//! in `chat`'s future, or in the [`ChatStream`] a caller reads. Dropping either at any await
//! (a client that disconnects, an SDK timeout, a `tokio::time::timeout` around `chat`) drops
//! the guard, which abandons the plan in the core: every outstanding attempt is recorded
//! `cancelled`, its `in_flight` and any half-open probe slot released, and the request is
//! counted once, as `abandoned`. Nothing is ever sent to close a plan.
//!
//! Timeouts (see `switchyard_core::plan`): a non-streaming attempt is bounded as a whole; a
//! stream by its first-token timeout until its first token, then by the idle timeout between
//! chunks and the optional stream cap. A stream that has delivered its first token is
//! committed: if it breaks later the caller gets `stream_interrupted`, never a truncated
//! success. A stream that ends cleanly after its finish reason is complete, `[DONE]` or not.
//!
//! Resume (a route's `resume: prefill`): when the committed stream breaks after delivering
//! text (a cut, a stall past the idle timeout or the stream cap, a malformed or error event),
//! [`ChatStream`] records the break with the tokens it delivered (estimated from the text,
//! [`estimate_tokens_from_chars`]) and follows the core: the continuation goes to the target
//! it names as the request plus the text the caller received, across every break, as a final
//! assistant message (trailing whitespace trimmed), with `max_tokens` reduced by the tokens
//! delivered (at least 1). It waits for the continuation's first token under the usual
//! timeouts and then yields only the continuation's text, as more `Delta`s of the same
//! stream. A stream that delivered a tool call, or more text than one reply body may hold
//! (`limits.max_body_bytes`), is not continued. When no continuation completes, the caller
//! gets the first break's error (`stream_interrupted` for a cut), never a refusal's.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use http_body_util::BodyExt;
use serde::Serialize;
use std::collections::VecDeque;
use switchyard_core::credentials::Date;
use switchyard_core::dialect::upstream::UpstreamError;
use switchyard_core::dialect::{self, Dialect, Unsupported, estimate_tokens_from_chars};
use switchyard_core::id::TargetId;
use switchyard_core::outcome::{
    AttemptRecord, AttemptReport, ErrorKind, FailureReason, FinalOutcome, Outcome,
};
use switchyard_core::overrides::Override;
use switchyard_core::plan::{Action, AttemptId, Plan, Timeouts};
use switchyard_core::request::{FinishReason, Message, Request, Response, Role, ToolCall, Usage};
use switchyard_core::rng::SeededRng;
use switchyard_core::router::{NotCarried, ResumeMode, Router as CoreRouter, RouterParams};
use switchyard_core::telemetry::Telemetry;
use switchyard_core::time::{Duration, Instant};

use crate::adapter::{self, Endpoint, Piece, StreamDecoder};
use crate::credentials::CredentialStore;
use crate::transport::Transport;

/// A request that ended without a reply, with its whole story.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{reason}: {story}", reason = .outcome.label(), story = self.story())]
pub struct RouteError {
    pub outcome: FailureReason,
    /// Every attempt, in order, with target names.
    pub attempts: Vec<(String, AttemptRecord)>,
    /// When every target was rate-limited: the soonest a retry could succeed.
    pub retry_after: Option<Duration>,
    /// With `FailureReason::Unsupported`: what the route's first target cannot express
    /// (every member was excluded for some such field; this one names it to the client).
    pub unsupported: Option<Unsupported>,
    /// What the upstream said about the error that decided the outcome (the last attempt
    /// that failed with the outcome's kind), for the client: its status, type, code, param
    /// and message, bounded and with keys redacted. It never took part in a decision.
    pub upstream: Option<Box<UpstreamError>>,
    /// What the request's attempts cost (`Plan::cost`): an attempt that failed without usage
    /// costs nothing; a stream that broke costs its prompt and the tokens it delivered.
    pub cost: f64,
}

impl RouteError {
    /// Which targets were tried, for a person: `ta → server_error after 2.0 ms, tb → ...`.
    fn story(&self) -> String {
        if self.attempts.is_empty() {
            return "no attempt was made".to_owned();
        }
        self.attempts
            .iter()
            .map(|(name, a)| {
                // Milliseconds to a tenth: a person reads this, not a config parser.
                let ms = a.latency.as_secs_f64() * 1e3;
                format!("{name} → {} after {ms:.1} ms", a.outcome.label())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn kind(&self) -> Option<ErrorKind> {
        match self.outcome {
            FailureReason::Attempt(k) | FailureReason::BudgetExhausted(k) => Some(k),
            _ => None,
        }
    }
}

/// What a streaming request yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// Text, in order.
    Delta(String),
    /// A piece of a tool call, in OpenAI's streaming shape: the first piece of call `index`
    /// (0, 1, ... counting tool calls only) carries its `id` and `name`; later pieces carry
    /// only more `arguments` text, to be concatenated. A dialect that delivers a call whole
    /// (Gemini) gives one piece with everything.
    ToolCall {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// The stream completed. `tool_calls` are the calls its pieces made, assembled.
    ///
    /// `usage` is the serving attempt's, as reported (or estimated). For a stream that was
    /// continued after a break, it is the answer's as the caller received it: the prompt of
    /// the first attempt (as reported before the break, else the request's estimate) and,
    /// as completion, the tokens delivered before the breaks plus the continuation's.
    End {
        finish: FinishReason,
        usage: Usage,
        tool_calls: Vec<ToolCall>,
    },
}

impl From<Piece> for StreamEvent {
    fn from(p: Piece) -> Self {
        match p {
            Piece::Text(t) => StreamEvent::Delta(t),
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => StreamEvent::ToolCall {
                index,
                id,
                name,
                arguments,
            },
        }
    }
}

/// A streaming reply: which target serves it, and its events. It owns its request's plan:
/// dropping it before the end abandons the request (recorded `cancelled` / `abandoned`).
#[derive(Debug)]
pub struct ChatStream {
    pub served_by: TargetId,
    pub target: String,
    pub model: String,
    /// The attempts so far, in the order they were sent. The stream's own attempt is at
    /// `committed` (not always last: a hedge sent after it is among them, cancelled); its
    /// record's outcome is not known yet.
    pub attempts: Vec<AttemptRecord>,
    pub committed: usize,
    /// From sending the stream's attempt to its first token.
    pub first_token: Duration,
    guard: PlanGuard,
    attempt: AttemptId,
    open: Box<OpenStream>,
    queued: VecDeque<Piece>,
    /// What the upstream said when the stream broke with an error event.
    said: Option<Box<UpstreamError>>,
    /// Set once the stream ended: what `next` yields after the queued text.
    end: Option<Result<StreamEvent, RouteError>>,
    over: bool,
    /// What a continuation needs and what the caller received (see the module doc).
    resume: Box<ResumeState>,
}

/// A stream's record of what reached its caller, for continuing it after a break.
#[derive(Debug)]
struct ResumeState {
    request: Arc<Request>,
    /// The route resumes, and the text so far fits (`limits.max_body_bytes`).
    enabled: bool,
    /// Bytes of text a continuation may carry back as its prefill.
    max_bytes: usize,
    /// The text the caller received, across every attempt (kept only while `enabled`).
    text: String,
    /// Characters of text the current attempt delivered.
    attempt_chars: usize,
    /// A tool call reached the caller: a prefill cannot carry it.
    tool_call: bool,
    /// The committed attempt broke; `next` sends a continuation before reading on.
    pending: bool,
    /// The caller already has whitespace the prefill left out (it is trimmed, as Anthropic
    /// requires): the continuation's leading whitespace, which says it again, is skipped.
    skip_leading_whitespace: bool,
    /// Set at the first break: the tokens delivered by broken attempts, the first attempt's
    /// prompt (tokens, cached), and what the upstream said about that first break.
    broke: Option<Broke>,
}

#[derive(Debug)]
struct Broke {
    delivered: u32,
    prompt: (u32, u32),
    said: Option<Box<UpstreamError>>,
}

impl ResumeState {
    /// A piece on its way to the caller.
    fn deliver(&mut self, piece: &Piece) {
        match piece {
            Piece::Text(t) => {
                self.attempt_chars = self.attempt_chars.saturating_add(t.chars().count());
                if self.enabled {
                    if self.text.len().saturating_add(t.len()) > self.max_bytes {
                        self.enabled = false;
                        self.text = String::new();
                    } else {
                        self.text.push_str(t);
                    }
                }
            }
            Piece::ToolCall { .. } => self.tool_call = true,
        }
    }

    /// The request a continuation sends: the caller's, with the text it received as a final
    /// assistant message (none when that text is only whitespace), the output left, and the
    /// prefill counted in the prompt estimate. Never the client's own body: that one has no
    /// prefill.
    fn continuation(&self, delivered_tokens: u32) -> Request {
        let mut request = Request::clone(&self.request);
        let prefix = self.text.trim_end();
        if !prefix.is_empty() {
            request
                .messages
                .push(Message::text(Role::Assistant, prefix.to_owned()));
        }
        request.max_tokens = request
            .max_tokens
            .map(|m| m.saturating_sub(delivered_tokens).max(1));
        request.estimated_prompt_tokens = request
            .estimated_prompt_tokens
            .saturating_add(delivered_tokens);
        request.original = None;
        request.stream = true;
        request
    }
}

impl ChatStream {
    /// Every attempt so far, in order, with its outcome when known (the attempt streaming
    /// now is still `cancelled` in it).
    pub fn history(&self) -> Vec<AttemptRecord> {
        self.guard.plan.history().copied().collect()
    }

    /// What the request's attempts cost so far, and the part spent on attempts that did not
    /// succeed (`Plan::cost`, `Plan::wasted_cost`): once the stream ended, every attempt's.
    pub fn cost(&self) -> (f64, f64) {
        (self.guard.plan.cost(), self.guard.plan.wasted_cost())
    }

    /// Whether the stream broke after its first token on a route that resumes and a
    /// continuation completed it: `Some(true)` once it was served so, `Some(false)` once it
    /// failed so, `None` otherwise (no such break, not over, or the caller left).
    pub fn resumed(&self) -> Option<bool> {
        self.guard.plan.continuation()?;
        match self.guard.plan.outcome()? {
            FinalOutcome::Served(_) => Some(true),
            FinalOutcome::Failed(FailureReason::Abandoned) => None,
            FinalOutcome::Failed(_) => Some(false),
        }
    }

    /// The next event; `None` after `End` or an error.
    ///
    /// Cancel-safe: a call dropped while a continuation was on its way records that
    /// continuation `cancelled`, and the next call goes on with the plan.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, RouteError>> {
        loop {
            if let Some(mut piece) = self.queued.pop_front() {
                if self.resume.skip_leading_whitespace
                    && let Piece::Text(t) = &mut piece
                {
                    let kept = t.trim_start();
                    if kept.is_empty() {
                        continue;
                    }
                    *t = kept.to_owned();
                    self.resume.skip_leading_whitespace = false;
                }
                if matches!(piece, Piece::ToolCall { .. }) {
                    self.resume.skip_leading_whitespace = false;
                }
                self.resume.deliver(&piece);
                return Some(Ok(piece.into()));
            }
            if self.over {
                return None;
            }
            if let Some(end) = self.end.take() {
                self.over = true;
                return Some(end);
            }
            if self.resume.pending {
                if let Err(e) = self.continue_stream().await {
                    self.end = Some(Err(e));
                }
                continue;
            }
            let ended = self.pull().await;
            if let Some(result) = ended {
                self.end = self.close(result);
            }
        }
    }

    /// Reads the upstream until it yields text or ends; `Some` when it ended.
    async fn pull(&mut self) -> Option<Result<adapter::StreamEnd, ErrorKind>> {
        let open = &mut self.open;
        if open.decoder.done {
            return Some(open.decoder.end());
        }
        let idle = open.timeouts.idle.map_or(open.cap, |i| {
            open.cap.min(tokio::time::Instant::now() + i.into())
        });
        match tokio::time::timeout_at(idle, open.body.frame()).await {
            // Silent past the idle timeout, or past the stream cap.
            Err(_) => Some(Err(ErrorKind::StreamInterrupted)),
            Ok(None) => Some(open.decoder.end()),
            Ok(Some(Err(_))) => Some(Err(ErrorKind::StreamInterrupted)),
            Ok(Some(Ok(frame))) => {
                let data = frame.into_data().ok()?;
                match open.decoder.feed(&data) {
                    Ok(pieces) => {
                        self.queued.extend(pieces);
                        None
                    }
                    // After the first token, any breakage is an interrupted stream.
                    Err(failure) => {
                        self.said = failure.upstream;
                        Some(Err(ErrorKind::StreamInterrupted))
                    }
                }
            }
        }
    }

    /// Records how the committed attempt ended and turns it into the stream's last event;
    /// `None` when it broke and the core goes on with a continuation.
    fn close(
        &mut self,
        result: Result<adapter::StreamEnd, ErrorKind>,
    ) -> Option<Result<StreamEvent, RouteError>> {
        let latency = Duration::from(self.open.started.elapsed());
        let first_token = Some(Duration::from(self.open.first_token));
        let result = result.map(|mut end| {
            estimate_prompt(&mut end.usage, end.usage_missing, self.open.prompt_estimate);
            end
        });
        // What reached the caller from this attempt, counted as the adapters estimate it.
        let delivered = estimate_tokens_from_chars(self.resume.attempt_chars);
        let prompt = self
            .open
            .decoder
            .reported_prompt()
            .unwrap_or((self.open.prompt_estimate, 0));
        let report = match &result {
            Ok(end) => AttemptReport {
                first_token,
                prompt_tokens: end.usage.prompt_tokens,
                completion_tokens: end.usage.completion_tokens,
                delivered_tokens: true,
                usage_missing: end.usage_missing,
                ..AttemptReport::new(Outcome::Success, latency)
            },
            Err(kind) => AttemptReport {
                first_token,
                prompt_tokens: prompt.0,
                completion_tokens: delivered,
                delivered_tokens: true,
                ..AttemptReport::new(Outcome::error(*kind), latency)
            },
        };
        let said = self.said.take();
        if result.is_err() {
            let broke = self.resume.broke.get_or_insert(Broke {
                delivered: 0,
                prompt,
                said,
            });
            broke.delivered = broke.delivered.saturating_add(delivered);
        }
        let router = self.guard.router.clone();
        let now = router.now();
        if !self.resume.enabled || self.resume.tool_call {
            // What the caller holds cannot be sent back as a prefill.
            self.guard.plan.forbid_resume();
        }
        router
            .core()
            .record(&mut self.guard.plan, self.attempt, report, now);
        match result {
            Ok(end) => {
                let usage = match &self.resume.broke {
                    Some(b) => Usage {
                        prompt_tokens: b.prompt.0,
                        cached_prompt_tokens: b.prompt.1,
                        completion_tokens: b.delivered.saturating_add(end.usage.completion_tokens),
                    },
                    None => end.usage,
                };
                Some(Ok(StreamEvent::End {
                    finish: end.finish,
                    usage,
                    tool_calls: end.tool_calls,
                }))
            }
            Err(_) if self.guard.plan.outcome().is_none() => {
                self.resume.pending = true;
                None
            }
            Err(_) => Some(Err(self.broken_error())),
        }
    }

    /// The request's error after a break: the core's (the first break's kind), with what the
    /// upstream said about that first break, never what a continuation's target said.
    fn broken_error(&mut self) -> RouteError {
        let router = self.guard.router.clone();
        let mut e = router.error(&self.guard.plan, None, &[]);
        e.upstream = self.resume.broke.as_mut().and_then(|b| b.said.take());
        e
    }

    /// Sends continuations as the core says until one yields its first token (it becomes the
    /// stream's attempt) or the plan ends (the error to give the caller).
    async fn continue_stream(&mut self) -> Result<(), RouteError> {
        let router = self.guard.router.clone();
        let plan = &mut self.guard.plan;
        // A continuation left outstanding by a dropped call: its wait is gone.
        let now = router.now();
        for i in 0..plan.attempts() {
            let id = AttemptId(u8::try_from(i).unwrap_or(u8::MAX));
            if plan.is_outstanding(id) {
                let started = plan.history().nth(i).map_or(now, |a| a.started);
                let report = AttemptReport::new(Outcome::Cancelled, now.saturating_since(started));
                router.core().record(plan, id, report, now);
            }
        }
        let delivered = plan.continuation().map_or(0, |c| c.delivered_tokens);
        let request = Arc::new(self.resume.continuation(delivered));
        let text = &self.resume.text;
        self.resume.skip_leading_whitespace = text.trim_end().len() < text.len();
        let mut said = Said::new();
        let won = router.run(plan, &request, &mut said).await;
        self.resume.pending = false;
        let Some((Won::Stream(mut open), attempt, target)) = won else {
            return Err(self.broken_error());
        };
        let (name, model) = router.target_names(target);
        self.served_by = target;
        self.target = name.to_owned();
        self.model = model.to_owned();
        self.attempts = self.guard.plan.history().copied().collect();
        self.committed = usize::from(attempt.0);
        self.queued = std::mem::take(&mut open.first).into();
        self.open = open;
        self.attempt = attempt;
        self.resume.attempt_chars = 0;
        Ok(())
    }
}

/// Owns a request's plan while the request lives; dropping it abandons the plan in the core
/// (outstanding attempts recorded `cancelled`, the request counted once). After the plan
/// finished, the drop only cancels attempts still outstanding (hedges that lost).
#[derive(Debug)]
struct PlanGuard {
    router: LiveRouter,
    plan: Plan,
    /// Where the request's attempts go when the guard drops (see [`AttemptSink`]).
    sink: Option<AttemptSink>,
}

impl Drop for PlanGuard {
    fn drop(&mut self) {
        let now = self.router.now();
        self.router.core().abandon(&mut self.plan, now);
        if let Some(sink) = &self.sink {
            sink.fill(self.plan.history().copied());
        }
    }
}

/// A slot that receives a request's attempts when the request ends, however it ends: as the
/// plan's guard drops, so also when the caller gave up at any await (a `timeout` around
/// `chat`, a dropped `ChatStream`), when no reply or error carries them. An attempt that was
/// on its way is in it, `cancelled`. Cheap to clone; one per request.
#[derive(Clone, Debug, Default)]
pub struct AttemptSink(Arc<Mutex<Vec<AttemptRecord>>>);

impl AttemptSink {
    fn fill(&self, attempts: impl Iterator<Item = AttemptRecord>) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.clear();
        slot.extend(attempts);
    }

    /// The attempts written so far (none before the request ended), taken out.
    pub fn take(&self) -> Vec<AttemptRecord> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

#[derive(Debug)]
struct Binding {
    provider: usize,
    dialect: Dialect,
    model: String,
    name: String,
    default_max_tokens: Option<u32>,
    /// The target's URL for a reply and for a stream ([`adapter::url`]).
    urls: [Option<axum::http::Uri>; 2],
}

#[derive(Debug)]
struct Inner {
    core: Mutex<CoreRouter>,
    bindings: Vec<Binding>,
    store: CredentialStore,
    transport: Arc<dyn Transport>,
    /// Each provider's auth header value for each of its keys ([`adapter::auth_value`]), by
    /// provider then key index: made once, marked sensitive.
    auth_values: Vec<Vec<Option<axum::http::HeaderValue>>>,
    /// Caps on what an upstream may send (reply bodies, error bodies, stream events).
    limits: adapter::InputLimits,
    start: tokio::time::Instant,
    wall_start: u64,
}

/// The router, embeddable in any tokio service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LiveRouter {
    inner: Arc<Inner>,
}

/// Per-target state for admin views.
#[derive(Clone, Debug, Serialize)]
pub struct TargetSnapshot {
    pub name: String,
    pub provider: String,
    pub model: String,
    pub breaker: &'static str,
    pub breaker_mode: &'static str,
    pub drained: bool,
    /// Seconds until the target unparks (0 when not parked).
    pub parked_for_secs: f64,
    pub in_flight: u32,
    pub latency_estimate_ms: f64,
    pub attempts: u64,
    pub successes: u64,
    pub errors: u64,
    pub availability: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("target `{target}` uses provider `{provider}`, which has no settings")]
    UnknownProvider { target: String, provider: String },
}

/// A winning attempt, before its outcome is recorded.
enum Won {
    Reply {
        decoded: adapter::Decoded,
        report: AttemptReport,
    },
    Stream(Box<OpenStream>),
}

/// A losing attempt: its report, and what the upstream said.
struct Lost {
    report: AttemptReport,
    upstream: Option<Box<UpstreamError>>,
}

impl From<AttemptReport> for Lost {
    fn from(report: AttemptReport) -> Self {
        Lost {
            report,
            upstream: None,
        }
    }
}

/// What upstreams said about the attempts that failed, by attempt (at most `MAX_ATTEMPTS`).
type Said = Vec<(AttemptId, UpstreamError)>;

#[derive(Debug)]
struct OpenStream {
    body: Body,
    decoder: StreamDecoder,
    first: Vec<Piece>,
    started: tokio::time::Instant,
    /// The request's own prompt estimate, for a stream that reports no usage.
    prompt_estimate: u32,
    first_token: std::time::Duration,
    timeouts: Timeouts,
    /// The stream cap (`timeouts.total` from the send), or far away.
    cap: tokio::time::Instant,
}

type AttemptFuture =
    futures_util::future::BoxFuture<'static, (AttemptId, TargetId, Result<Won, Lost>)>;

impl LiveRouter {
    /// A router with the default input limits.
    pub fn new(
        params: RouterParams,
        store: CredentialStore,
        transport: Arc<dyn Transport>,
        seed: u64,
    ) -> Result<Self, BuildError> {
        Self::with_limits(
            params,
            store,
            transport,
            seed,
            adapter::InputLimits::default(),
        )
    }

    /// A router whose upstream input is capped by `limits` (the live config's `limits:`).
    pub fn with_limits(
        params: RouterParams,
        store: CredentialStore,
        transport: Arc<dyn Transport>,
        seed: u64,
        limits: adapter::InputLimits,
    ) -> Result<Self, BuildError> {
        let mut bindings = Vec::with_capacity(params.targets.len());
        for t in &params.targets {
            let provider_name = params.providers.name(t.provider.index() as u32).to_owned();
            let provider = store.provider_index(&provider_name).ok_or_else(|| {
                BuildError::UnknownProvider {
                    target: t.name.clone(),
                    provider: provider_name.clone(),
                }
            })?;
            let p = &store.providers()[provider];
            let url = |stream| adapter::url(p.dialect, &p.base_url, &t.model, &p.auth, stream);
            bindings.push(Binding {
                provider,
                dialect: p.dialect,
                model: t.model.clone(),
                name: t.name.clone(),
                default_max_tokens: t.default_max_tokens,
                urls: [url(false), url(true)],
            });
        }
        let auth_values = (0..store.providers().len())
            .map(|i| {
                let auth = &store.providers()[i].auth;
                store
                    .resolved(i)
                    .iter()
                    .map(|key| key.as_ref().and_then(|k| adapter::auth_value(auth, k)))
                    .collect()
            })
            .collect();
        let core = CoreRouter::new(params, SeededRng::substream(seed, "router"));
        Ok(LiveRouter {
            inner: Arc::new(Inner {
                core: Mutex::new(core),
                bindings,
                store,
                transport,
                auth_values,
                limits,
                start: tokio::time::Instant::now(),
                wall_start: crate::wall::unix_now(),
            }),
        })
    }

    /// A router for new params and credentials, on this router's clock, that takes over this
    /// one's runtime state for the targets and routes that kept their names (breakers,
    /// parking, drains, pins, counters: [`CoreRouter::carry_from`]). Returns it with what could
    /// not carry. Requests in flight finish on this router.
    pub fn reloaded(
        &self,
        params: RouterParams,
        store: CredentialStore,
        seed: u64,
        limits: adapter::InputLimits,
    ) -> Result<(Self, Vec<NotCarried>), BuildError> {
        let mut next =
            Self::with_limits(params, store, self.inner.transport.clone(), seed, limits)?;
        if let Some(inner) = Arc::get_mut(&mut next.inner) {
            inner.start = self.inner.start;
            inner.wall_start = self.inner.wall_start;
        }
        let now = self.now();
        let lost = {
            let old = self.core();
            next.core().carry_from(&old, now)
        };
        Ok((next, lost))
    }

    fn core(&self) -> MutexGuard<'_, CoreRouter> {
        self.inner
            .core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now(&self) -> Instant {
        Instant::ZERO + Duration::from(self.inner.start.elapsed())
    }

    fn tokio_at(&self, at: Instant) -> tokio::time::Instant {
        self.inner.start + std::time::Duration::from(at.since_start())
    }

    fn today(&self) -> Date {
        Date::from_unix(self.inner.wall_start + self.inner.start.elapsed().as_secs())
    }

    /// Applies an operator's override; it takes effect on the next decision.
    pub fn apply(&self, command: Override) {
        let now = self.now();
        self.core().apply(command, now);
    }

    /// A target's name and model (what a reply says served it), without copying the params.
    pub fn target_names(&self, id: TargetId) -> (&str, &str) {
        let b = &self.inner.bindings[id.index()];
        (&b.name, &b.model)
    }

    pub fn params(&self) -> RouterParams {
        self.core().params().clone()
    }

    /// Runs `f` on the routing core (for reports that read its telemetry and params), under
    /// the core's lock: `f` must not drop a `ChatStream` or a `chat` future of this router
    /// (their guards take the same lock).
    pub fn inspect<T>(&self, f: impl FnOnce(&CoreRouter) -> T) -> T {
        f(&self.core())
    }

    /// A copy of the telemetry so far.
    pub fn telemetry(&self) -> Telemetry {
        self.core().telemetry().clone()
    }

    pub fn credentials(&self) -> &CredentialStore {
        &self.inner.store
    }

    /// Every target's state now.
    pub fn snapshot(&self) -> Vec<TargetSnapshot> {
        let now = self.now();
        let core = self.core();
        let params = core.params();
        params
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let id = TargetId::new(i as u32);
                let h = core.health(id);
                let stats = &core.telemetry().targets[i];
                TargetSnapshot {
                    name: t.name.clone(),
                    provider: params.providers.name(t.provider.index() as u32).to_owned(),
                    model: t.model.clone(),
                    breaker: h.breaker.state().label(),
                    breaker_mode: h.breaker.mode().label(),
                    drained: core.overrides().is_drained(id),
                    parked_for_secs: h.limits.parked_until().saturating_since(now).as_secs_f64(),
                    in_flight: h.in_flight,
                    latency_estimate_ms: h.latency.estimate().as_secs_f64() * 1e3,
                    attempts: stats.attempts,
                    successes: stats.successes,
                    errors: stats.errors_total(),
                    availability: core.telemetry().availability(id),
                }
            })
            .collect()
    }

    /// Starts a request: its plan, in a guard that abandons it if dropped. Targets whose
    /// dialect cannot express the request are excluded from the plan first (see
    /// `dialect::check`; one check per dialect, and none of this for a request every
    /// dialect can express).
    fn begin(&self, request: &Request, sink: Option<AttemptSink>) -> PlanGuard {
        let now = self.now();
        let mut plan = self.core().begin(request, now);
        let fit = Dialect::ALL.map(|d| dialect::check(d, request).is_ok());
        if fit.contains(&false) {
            for (i, b) in self.inner.bindings.iter().enumerate() {
                if !fit[dialect_index(b.dialect)] {
                    plan.exclude_unfit(TargetId::new(i as u32));
                }
            }
        }
        PlanGuard {
            router: self.clone(),
            plan,
            sink,
        }
    }

    /// Sends a request through the router and waits for the whole reply. Dropping the future
    /// abandons the request (see the module doc).
    pub async fn chat(&self, request: Request) -> Result<Response, RouteError> {
        self.chat_into(request, None).await
    }

    /// As [`chat`](Self::chat), writing the request's attempts into `sink` when it ends.
    pub async fn chat_into(
        &self,
        request: Request,
        sink: Option<AttemptSink>,
    ) -> Result<Response, RouteError> {
        let request = Arc::new(Request {
            stream: false,
            ..request
        });
        let mut guard = self.begin(&request, sink);
        let mut said = Said::new();
        match self.run(&mut guard.plan, &request, &mut said).await {
            Some((Won::Reply { decoded, .. }, _, target)) => Ok(Response {
                text: decoded.text,
                tool_calls: decoded.tool_calls,
                finish_reason: decoded.finish,
                usage: decoded.usage,
                choices: decoded.choices,
                served_by: target,
                attempts: guard.plan.history().copied().collect(),
                raw: decoded.raw,
                cost: guard.plan.cost(),
            }),
            Some((Won::Stream(_), _, _)) | None => {
                Err(self.error(&guard.plan, Some(&request), &said))
            }
        }
    }

    /// Sends a streaming request. Returns once a target delivered its first token (failing
    /// over until then); the stream then yields the rest as it arrives. Dropping the future,
    /// or the stream before its end, abandons the request.
    pub async fn chat_stream(&self, request: Request) -> Result<ChatStream, RouteError> {
        self.chat_stream_into(request, None).await
    }

    /// As [`chat_stream`](Self::chat_stream), writing the request's attempts into `sink`
    /// when it ends (the stream dropped, or the future before it).
    pub async fn chat_stream_into(
        &self,
        request: Request,
        sink: Option<AttemptSink>,
    ) -> Result<ChatStream, RouteError> {
        let request = Arc::new(Request {
            stream: true,
            ..request
        });
        let mut guard = self.begin(&request, sink);
        let mut said = Said::new();
        let (mut open, attempt, target) = match self.run(&mut guard.plan, &request, &mut said).await
        {
            Some((Won::Stream(open), attempt, target)) => (open, attempt, target),
            Some((Won::Reply { .. }, _, _)) | None => {
                return Err(self.error(&guard.plan, Some(&request), &said));
            }
        };
        let binding = &self.inner.bindings[target.index()];
        let resumes = guard
            .plan
            .route()
            .is_some_and(|r| self.core().params().route(r).resume == ResumeMode::Prefill);
        let resume = Box::new(ResumeState {
            request,
            enabled: resumes,
            max_bytes: self.inner.limits.max_body_bytes,
            text: String::new(),
            attempt_chars: 0,
            tool_call: false,
            pending: false,
            skip_leading_whitespace: false,
            broke: None,
        });
        Ok(ChatStream {
            served_by: target,
            target: binding.name.clone(),
            model: binding.model.clone(),
            attempts: guard.plan.history().copied().collect(),
            committed: usize::from(attempt.0),
            first_token: Duration::from(open.first_token),
            queued: std::mem::take(&mut open.first).into(),
            said: None,
            guard,
            attempt,
            open,
            end: None,
            over: false,
            resume,
        })
    }

    /// The request's error; `said` is what upstreams said about failed attempts: the last
    /// one whose kind decided the outcome goes to the client. `request` names the field
    /// an unsupported request could not carry.
    fn error(
        &self,
        plan: &Plan,
        request: Option<&Request>,
        said: &[(AttemptId, UpstreamError)],
    ) -> RouteError {
        let outcome = match plan.outcome() {
            Some(FinalOutcome::Failed(reason)) => reason,
            _ => FailureReason::NoTargetAvailable,
        };
        // What the first member of the home route (or the named target) cannot express, or
        // the capability it lacks: every member was unfit or incapable.
        let unsupported = (outcome == FailureReason::Unsupported)
            .then(|| {
                let core = self.core();
                let route = core.params().route(plan.home_route()?);
                let request = request?;
                let candidates = match plan.pinned_target() {
                    Some(pin) => vec![pin],
                    None => route.members.clone(),
                };
                candidates.into_iter().find_map(|t| {
                    let binding = &self.inner.bindings[t.index()];
                    dialect::check(binding.dialect, request).err().or_else(|| {
                        let target = &core.params().targets[t.index()];
                        let missing = request.required_capabilities().without(target.capabilities);
                        let name = missing.names().next()?;
                        Some(Unsupported {
                            field: request.field_needing(missing)?,
                            dialect: binding.dialect,
                            reason: format!(
                                "it needs the `{name}` capability, which no target of the route has"
                            ),
                        })
                    })
                })
            })
            .flatten();
        let decided = match outcome {
            FailureReason::Attempt(k) | FailureReason::BudgetExhausted(k) => Some(k),
            _ => None,
        };
        let upstream = decided.and_then(|kind| {
            said.iter()
                .rev()
                .find(|(id, _)| {
                    plan.history()
                        .nth(usize::from(id.0))
                        .is_some_and(|a| a.outcome.error_kind() == Some(kind))
                })
                .map(|(_, e)| Box::new(e.clone()))
        });
        let attempts: Vec<(String, AttemptRecord)> = plan
            .history()
            .map(|a| (self.inner.bindings[a.target.index()].name.clone(), *a))
            .collect();
        RouteError {
            outcome,
            attempts,
            // The core says when parked targets come back (rate limits, a Retry-After).
            retry_after: plan.retry_after().map(|d| d.max(Duration::from_secs(1))),
            unsupported,
            upstream,
            cost: plan.cost(),
        }
    }

    /// Loops on the plan until it finishes (or, for a stream, until an attempt is committed).
    /// Attempts still running when it returns were cancelled by the core (a commit, or the
    /// plan's guard); dropping them here drops their HTTP requests.
    async fn run(
        &self,
        plan: &mut Plan,
        request: &Arc<Request>,
        said: &mut Said,
    ) -> Option<(Won, AttemptId, TargetId)> {
        let mut inflight: FuturesUnordered<AttemptFuture> = FuturesUnordered::new();
        loop {
            let action = { self.core().next(plan, self.now()) };
            let finished = match action {
                Action::Send {
                    attempt,
                    target,
                    timeouts,
                    ..
                } => {
                    inflight.push(
                        self.attempt(attempt, target, request.clone(), timeouts)
                            .boxed(),
                    );
                    continue;
                }
                Action::Finish(_) => return None,
                Action::Wait { until } => {
                    tokio::select! {
                        () = tokio::time::sleep_until(self.tokio_at(until)) => None,
                        Some(done) = inflight.next() => Some(done),
                    }
                }
                // The core awaits an attempt this loop no longer holds: it cannot come (a
                // disagreement of the books); end rather than spin. The guard records it.
                Action::Await if inflight.is_empty() => return None,
                Action::Await => inflight.next().await,
            };
            let Some((attempt, target, result)) = finished else {
                continue;
            };
            if !plan.is_outstanding(attempt) {
                continue; // cancelled by the core meanwhile: its result does not count
            }
            let now = self.now();
            match result {
                Err(lost) => {
                    self.core().record(plan, attempt, lost.report, now);
                    if let Some(e) = lost.upstream {
                        said.push((attempt, *e));
                    }
                }
                Ok(Won::Reply { decoded, report }) => {
                    self.core().record(plan, attempt, report, now);
                    if plan.outcome() == Some(FinalOutcome::Served(target)) {
                        return Some((Won::Reply { decoded, report }, attempt, target));
                    }
                }
                Ok(Won::Stream(open)) => {
                    // Committed: the core cancels every other attempt (dropped on return).
                    self.core().first_token(plan, attempt, now);
                    if plan.committed() == Some(attempt) {
                        return Some((Won::Stream(open), attempt, target));
                    }
                    // Not committed (the plan had ended): drop it; the guard records it.
                }
            }
        }
    }

    /// One attempt: send, wait for the reply (for a stream, its first token), classify.
    fn attempt(
        &self,
        attempt: AttemptId,
        target: TargetId,
        request: Arc<Request>,
        timeouts: Timeouts,
    ) -> impl std::future::Future<Output = (AttemptId, TargetId, Result<Won, Lost>)> + Send + 'static
    {
        let router = self.clone();
        async move {
            let result = router.try_attempt(target, &request, timeouts).await;
            (attempt, target, result)
        }
    }

    async fn try_attempt(
        &self,
        target: TargetId,
        request: &Request,
        timeouts: Timeouts,
    ) -> Result<Won, Lost> {
        let started = tokio::time::Instant::now();
        // Non-streaming: the whole reply. Streaming: until the first token.
        let deadline = started + std::time::Duration::from(timeouts.first);
        let fail = |kind: ErrorKind| {
            Lost::from(AttemptReport::new(
                Outcome::error(kind),
                Duration::from(started.elapsed()),
            ))
        };
        let binding = &self.inner.bindings[target.index()];
        let provider = &self.inner.store.providers()[binding.provider];
        let Some((key_index, key)) =
            self.inner
                .store
                .key(binding.provider, self.today(), self.now())
        else {
            return Err(fail(ErrorKind::Unauthorized));
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
        let Ok(http) = adapter::build(&endpoint, request) else {
            return Err(fail(ErrorKind::BadRequest));
        };
        let response =
            match tokio::time::timeout_at(deadline, self.inner.transport.send(http)).await {
                Err(_) => return Err(fail(ErrorKind::Timeout)),
                Ok(Err(_)) => return Err(fail(ErrorKind::ConnectFailed)),
                Ok(Ok(r)) => r,
            };
        let (parts, body) = response.into_parts();
        let limits = adapter::limits(
            binding.dialect,
            &parts.headers,
            self.inner.wall_start + started.elapsed().as_secs(),
        );
        {
            let now = self.now();
            self.core().observe_limits(target, &limits, now);
        }
        let limits = &self.inner.limits;
        if !parts.status.is_success() {
            // Classified on status, headers and what was read of the body, within its cap.
            let read = adapter::read_error_body(body, limits.max_error_body_bytes);
            let bytes = tokio::time::timeout_at(deadline, read)
                .await
                .unwrap_or_default();
            let outcome = adapter::classify(
                binding.dialect,
                parts.status.as_u16(),
                &parts.headers,
                &bytes,
            );
            if outcome.error_kind() == Some(ErrorKind::Unauthorized) {
                self.inner
                    .store
                    .revoke(binding.provider, key_index, self.now());
            }
            let mut upstream =
                adapter::upstream_error(binding.dialect, parts.status.as_u16(), &bytes)
                    .map(Box::new);
            if let Some(e) = &mut upstream {
                e.redact(key.expose());
            }
            return Err(Lost {
                report: AttemptReport::new(outcome, Duration::from(started.elapsed())),
                upstream,
            });
        }
        if !request.stream {
            let read = adapter::read_capped(body, limits.max_body_bytes);
            let bytes = match tokio::time::timeout_at(deadline, read).await {
                Err(_) => return Err(fail(ErrorKind::Timeout)),
                // Too large, or cut mid-body.
                Ok(Err(_)) => return Err(fail(ErrorKind::MalformedResponse)),
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
            let mut decoded = decoded.map_err(|f| Lost {
                report: AttemptReport::new(f.outcome, Duration::from(started.elapsed())),
                upstream: f.upstream,
            })?;
            estimate_prompt(
                &mut decoded.usage,
                decoded.usage_missing,
                request.estimated_prompt_tokens,
            );
            let latency = Duration::from(started.elapsed());
            let report = AttemptReport {
                outcome: Outcome::Success,
                latency,
                first_token: Some(latency),
                prompt_tokens: decoded.usage.prompt_tokens,
                completion_tokens: decoded.usage.completion_tokens,
                delivered_tokens: true,
                usage_missing: decoded.usage_missing,
            };
            return Ok(Won::Reply { decoded, report });
        }
        // A stream: wait for its first token.
        let mut body = body;
        let mut decoder = StreamDecoder::with_limits(binding.dialect, limits);
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return Err(fail(ErrorKind::Timeout)),
                Ok(None) => {
                    // Ended before any token: complete-but-empty, or cut.
                    let kind = decoder
                        .finish()
                        .err()
                        .unwrap_or(ErrorKind::MalformedResponse);
                    return Err(fail(kind));
                }
                Ok(Some(Err(_))) => return Err(fail(ErrorKind::StreamInterrupted)),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let pieces = decoder.feed(&data).map_err(|f| Lost {
                report: AttemptReport::new(f.outcome, Duration::from(started.elapsed())),
                upstream: f.upstream,
            })?;
            // A first text or tool-call piece is the first token.
            if !pieces.is_empty() || decoder.done {
                let far = started + std::time::Duration::from_secs(10 * 365 * 86_400);
                return Ok(Won::Stream(Box::new(OpenStream {
                    body,
                    decoder,
                    first: pieces,
                    started,
                    prompt_estimate: request.estimated_prompt_tokens,
                    first_token: started.elapsed(),
                    timeouts,
                    cap: timeouts
                        .total
                        .map_or(far, |t| started + std::time::Duration::from(t)),
                })));
            }
        }
    }
}

/// A dialect's index in `Dialect::ALL`.
fn dialect_index(d: Dialect) -> usize {
    Dialect::ALL.iter().position(|&x| x == d).unwrap_or(0)
}

/// A reply that reported no prompt tokens counts the request's own estimate instead.
fn estimate_prompt(usage: &mut Usage, usage_missing: bool, estimate: u32) {
    if usage_missing && usage.prompt_tokens == 0 {
        usage.prompt_tokens = estimate;
    }
}

#[cfg(test)]
mod story_tests {
    use super::*;

    #[test]
    fn the_attempt_story_says_milliseconds_to_a_tenth() {
        let record = |ns: u64| AttemptRecord {
            target: TargetId::new(0),
            started: Instant::ZERO,
            outcome: Outcome::error(ErrorKind::ServerError),
            latency: Duration::from_nanos(ns),
            hedge: false,
        };
        let e = RouteError {
            outcome: FailureReason::Attempt(ErrorKind::ServerError),
            attempts: vec![
                ("ta".to_owned(), record(2_021_371)),
                ("tb".to_owned(), record(1_500_000_000)),
            ],
            retry_after: None,
            unsupported: None,
            upstream: None,
            cost: 0.0,
        };
        assert_eq!(
            e.to_string(),
            "server_error: ta → server_error after 2.0 ms, tb → server_error after 1500.0 ms"
        );
    }
}
