//! The async router: runs the core's plans over HTTP with tokio timers.
//!
//! `chat` and `chat_stream` are the one interface a Rust service needs. Each request loops on
//! the core's decision seam (`begin` / `next` / `record`); attempts run concurrently when the
//! plan hedges, and the first to win cancels the rest (dropping an attempt drops its HTTP
//! request, and it is recorded as `cancelled`). Every attempt gets exactly one `record`.
//!
//! Timeouts: an attempt is bounded by the plan's per-attempt timeout (already capped by the
//! overall deadline); a non-streaming attempt's response headers and a streaming attempt's
//! first token must also come within the time-to-first-token timeout. A stream that has
//! delivered its first token is committed: if it breaks later the caller gets
//! `stream_interrupted`, never a truncated success.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use http_body_util::BodyExt;
use serde::Serialize;
use switchyard_core::credentials::Date;
use switchyard_core::dialect::Dialect;
use switchyard_core::id::TargetId;
use switchyard_core::outcome::{
    AttemptRecord, AttemptReport, ErrorKind, FailureReason, FinalOutcome, Outcome,
};
use switchyard_core::overrides::Override;
use switchyard_core::plan::{Action, AttemptId, Plan};
use switchyard_core::request::{FinishReason, Request, Response, Usage};
use switchyard_core::rng::Rng;
use switchyard_core::router::{Router as CoreRouter, RouterParams};
use switchyard_core::telemetry::Telemetry;
use switchyard_core::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::adapter::{self, Endpoint, StreamDecoder};
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
}

impl RouteError {
    fn story(&self) -> String {
        if self.attempts.is_empty() {
            return "no attempt was made".to_owned();
        }
        self.attempts
            .iter()
            .map(|(name, a)| format!("{name} → {} after {}", a.outcome.label(), a.latency))
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
    /// The stream completed.
    End { finish: FinishReason, usage: Usage },
}

/// A streaming reply: which target serves it, and its events.
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
    receiver: mpsc::Receiver<Result<StreamEvent, RouteError>>,
}

impl ChatStream {
    /// The next event; `None` after `End` or an error.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, RouteError>> {
        self.receiver.recv().await
    }
}

#[derive(Debug)]
struct Binding {
    provider: usize,
    dialect: Dialect,
    model: String,
    name: String,
}

#[derive(Debug)]
struct Inner {
    core: Mutex<CoreRouter>,
    bindings: Vec<Binding>,
    store: CredentialStore,
    transport: Arc<dyn Transport>,
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

struct OpenStream {
    body: Body,
    decoder: StreamDecoder,
    first: Vec<String>,
    started: tokio::time::Instant,
    first_token: std::time::Duration,
    deadline: tokio::time::Instant,
}

type AttemptFuture =
    futures_util::future::BoxFuture<'static, (AttemptId, Result<Won, AttemptReport>)>;

impl LiveRouter {
    pub fn new(
        params: RouterParams,
        store: CredentialStore,
        transport: Arc<dyn Transport>,
        seed: u64,
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
            bindings.push(Binding {
                provider,
                dialect: store.providers()[provider].dialect,
                model: t.model.clone(),
                name: t.name.clone(),
            });
        }
        let core = CoreRouter::new(params, Rng::substream(seed, "router"));
        Ok(LiveRouter {
            inner: Arc::new(Inner {
                core: Mutex::new(core),
                bindings,
                store,
                transport,
                start: tokio::time::Instant::now(),
                wall_start: crate::wall::unix_now(),
            }),
        })
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

    /// Runs `f` on the routing core (for reports that read its telemetry and params).
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
                    availability: stats.availability(),
                }
            })
            .collect()
    }

    /// Sends a request through the router and waits for the whole reply.
    pub async fn chat(&self, request: Request) -> Result<Response, RouteError> {
        let request = Arc::new(Request {
            stream: false,
            ..request
        });
        let mut plan = { self.core().begin(&request, self.now()) };
        match self.run(&mut plan, &request).await {
            Ok((Won::Reply { decoded, .. }, _, target)) => Ok(Response {
                text: decoded.text,
                finish_reason: decoded.finish,
                usage: decoded.usage,
                served_by: target,
                attempts: plan.history().copied().collect(),
            }),
            Ok((Won::Stream(_), _, _)) | Err(()) => Err(self.error(&plan)),
        }
    }

    /// Sends a streaming request. Returns once a target delivered its first token (failing
    /// over until then); the stream then yields the rest as it arrives.
    pub async fn chat_stream(&self, request: Request) -> Result<ChatStream, RouteError> {
        let request = Arc::new(Request {
            stream: true,
            ..request
        });
        let mut plan = { self.core().begin(&request, self.now()) };
        let (open, attempt, target) = match self.run(&mut plan, &request).await {
            Ok((Won::Stream(open), attempt, target)) => (open, attempt, target),
            Ok((Won::Reply { .. }, _, _)) | Err(()) => return Err(self.error(&plan)),
        };
        let (tx, rx) = mpsc::channel(64);
        let binding = &self.inner.bindings[target.index()];
        let stream = ChatStream {
            served_by: target,
            target: binding.name.clone(),
            model: binding.model.clone(),
            attempts: plan.history().copied().collect(),
            committed: usize::from(attempt.0),
            first_token: Duration::from(open.first_token),
            receiver: rx,
        };
        let router = self.clone();
        tokio::spawn(async move { router.forward(plan, attempt, *open, tx).await });
        Ok(stream)
    }

    fn error(&self, plan: &Plan) -> RouteError {
        let outcome = match plan.outcome() {
            Some(FinalOutcome::Failed(reason)) => reason,
            _ => FailureReason::NoTargetAvailable,
        };
        let attempts: Vec<(String, AttemptRecord)> = plan
            .history()
            .map(|a| (self.inner.bindings[a.target.index()].name.clone(), *a))
            .collect();
        // Every target rate-limited: tell the caller when the first one unparks.
        let all_limited = !attempts.is_empty()
            && attempts
                .iter()
                .all(|(_, a)| a.outcome.error_kind() == Some(ErrorKind::RateLimited));
        let retry_after = all_limited.then(|| {
            let now = self.now();
            let core = self.core();
            attempts
                .iter()
                .map(|(_, a)| {
                    core.health(a.target)
                        .limits
                        .parked_until()
                        .saturating_since(now)
                })
                .min()
                .unwrap_or(Duration::from_secs(1))
        });
        RouteError {
            outcome,
            attempts,
            retry_after: retry_after.map(|d| d.max(Duration::from_secs(1))),
        }
    }

    /// Loops on the plan until it finishes (or, for a stream, until an attempt wins).
    async fn run(
        &self,
        plan: &mut Plan,
        request: &Arc<Request>,
    ) -> Result<(Won, AttemptId, TargetId), ()> {
        let mut inflight: FuturesUnordered<AttemptFuture> = FuturesUnordered::new();
        let mut pending: Vec<(AttemptId, TargetId, tokio::time::Instant)> = Vec::new();
        let mut won: Option<(Won, AttemptId, TargetId)> = None;
        loop {
            let action = { self.core().next(plan, self.now()) };
            let finished = match action {
                Action::Send {
                    attempt,
                    target,
                    timeout,
                    first_token_timeout,
                    ..
                } => {
                    pending.push((attempt, target, tokio::time::Instant::now()));
                    inflight.push(
                        self.attempt(
                            attempt,
                            target,
                            request.clone(),
                            timeout,
                            first_token_timeout,
                        )
                        .boxed(),
                    );
                    continue;
                }
                Action::Finish(_) => break,
                Action::Wait { until } => {
                    tokio::select! {
                        () = tokio::time::sleep_until(self.tokio_at(until)) => None,
                        Some(done) = inflight.next() => Some(done),
                    }
                }
                Action::Await => inflight.next().await,
            };
            let Some((attempt, result)) = finished else {
                continue;
            };
            let Some(pos) = pending.iter().position(|p| p.0 == attempt) else {
                continue;
            };
            let (_, target, _) = pending.swap_remove(pos);
            let now = self.now();
            match result {
                Err(report) => self.core().record(plan, attempt, report, now),
                Ok(Won::Reply { decoded, report }) => {
                    self.core().record(plan, attempt, report, now);
                    won = Some((Won::Reply { decoded, report }, attempt, target));
                }
                Ok(Won::Stream(open)) => {
                    self.core().first_token(plan, attempt);
                    won = Some((Won::Stream(open), attempt, target));
                    break;
                }
            }
        }
        // Whatever is still in flight lost: cancel it (dropping its request) and say so.
        drop(inflight);
        let now = self.now();
        for (attempt, _, started) in pending {
            let report = AttemptReport::new(Outcome::Cancelled, Duration::from(started.elapsed()));
            self.core().record(plan, attempt, report, now);
        }
        won.ok_or(())
    }

    /// One attempt: send, wait for headers (and for a stream, its first token), classify.
    fn attempt(
        &self,
        attempt: AttemptId,
        target: TargetId,
        request: Arc<Request>,
        timeout: Duration,
        first_token_timeout: Option<Duration>,
    ) -> impl std::future::Future<Output = (AttemptId, Result<Won, AttemptReport>)> + Send + 'static
    {
        let router = self.clone();
        async move {
            let started = tokio::time::Instant::now();
            let deadline = started + std::time::Duration::from(timeout);
            let first_deadline = first_token_timeout.map_or(deadline, |t| {
                deadline.min(started + std::time::Duration::from(t))
            });
            let result = router
                .try_attempt(target, &request, started, deadline, first_deadline)
                .await;
            (attempt, result)
        }
    }

    async fn try_attempt(
        &self,
        target: TargetId,
        request: &Request,
        started: tokio::time::Instant,
        deadline: tokio::time::Instant,
        first_deadline: tokio::time::Instant,
    ) -> Result<Won, AttemptReport> {
        let fail = |kind: ErrorKind| {
            AttemptReport::new(Outcome::error(kind), Duration::from(started.elapsed()))
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
            dialect: binding.dialect,
            base_url: &provider.base_url,
            model: &binding.model,
            auth: &provider.auth,
            headers: self.inner.store.headers(binding.provider),
            key: &key,
        };
        let http = adapter::build(&endpoint, request);
        let response =
            match tokio::time::timeout_at(first_deadline, self.inner.transport.send(http)).await {
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
        if !parts.status.is_success() {
            let bytes = match tokio::time::timeout_at(deadline, body.collect()).await {
                Ok(Ok(b)) => b.to_bytes(),
                _ => bytes::Bytes::new(),
            };
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
            return Err(AttemptReport::new(
                outcome,
                Duration::from(started.elapsed()),
            ));
        }
        if !request.stream {
            let bytes = match tokio::time::timeout_at(deadline, body.collect()).await {
                Err(_) => return Err(fail(ErrorKind::Timeout)),
                Ok(Err(_)) => return Err(fail(ErrorKind::MalformedResponse)),
                Ok(Ok(b)) => b.to_bytes(),
            };
            let decoded = adapter::decode(binding.dialect, &bytes).map_err(fail)?;
            let latency = Duration::from(started.elapsed());
            let report = AttemptReport {
                outcome: Outcome::Success,
                latency,
                first_token: Some(latency),
                prompt_tokens: decoded.usage.prompt_tokens,
                completion_tokens: decoded.usage.completion_tokens,
                delivered_tokens: true,
            };
            return Ok(Won::Reply { decoded, report });
        }
        // A stream: wait for its first token.
        let mut body = body;
        let mut decoder = StreamDecoder::new(binding.dialect);
        loop {
            let frame = match tokio::time::timeout_at(first_deadline, body.frame()).await {
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
            let texts = decoder
                .feed(&data)
                .map_err(|o| AttemptReport::new(o, Duration::from(started.elapsed())))?;
            if !texts.is_empty() || decoder.done {
                return Ok(Won::Stream(Box::new(OpenStream {
                    body,
                    decoder,
                    first: texts,
                    started,
                    first_token: started.elapsed(),
                    deadline,
                })));
            }
        }
    }

    /// Passes a committed stream to the caller, then records how it ended.
    async fn forward(
        self,
        mut plan: Plan,
        attempt: AttemptId,
        mut open: OpenStream,
        tx: mpsc::Sender<Result<StreamEvent, RouteError>>,
    ) {
        let mut caller_gone = false;
        for t in std::mem::take(&mut open.first) {
            caller_gone |= tx.send(Ok(StreamEvent::Delta(t))).await.is_err();
        }
        let end: Result<(FinishReason, Usage), ErrorKind> = loop {
            if caller_gone || open.decoder.done {
                break open.decoder.finish();
            }
            match tokio::time::timeout_at(open.deadline, open.body.frame()).await {
                Err(_) => break Err(ErrorKind::StreamInterrupted),
                Ok(None) => break open.decoder.finish(),
                Ok(Some(Err(_))) => break Err(ErrorKind::StreamInterrupted),
                Ok(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    match open.decoder.feed(&data) {
                        Ok(texts) => {
                            for t in texts {
                                caller_gone |= tx.send(Ok(StreamEvent::Delta(t))).await.is_err();
                            }
                        }
                        // After the first token, any breakage is an interrupted stream.
                        Err(_) => break Err(ErrorKind::StreamInterrupted),
                    }
                }
            }
        };
        let latency = Duration::from(open.started.elapsed());
        let report = match (&end, caller_gone) {
            (_, true) => AttemptReport::new(Outcome::Cancelled, latency),
            (Ok((_, usage)), false) => AttemptReport {
                outcome: Outcome::Success,
                latency,
                first_token: Some(Duration::from(open.first_token)),
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                delivered_tokens: true,
            },
            (Err(kind), false) => AttemptReport {
                first_token: Some(Duration::from(open.first_token)),
                delivered_tokens: true,
                ..AttemptReport::new(Outcome::error(*kind), latency)
            },
        };
        let now = self.now();
        {
            let mut core = self.core();
            core.record(&mut plan, attempt, report, now);
            // A cancelled stream leaves the plan waiting: close it now.
            let _ = core.next(&mut plan, now);
        }
        let message = match end {
            Ok((finish, usage)) => Ok(StreamEvent::End { finish, usage }),
            Err(_) => Err(self.error(&plan)),
        };
        let _ = tx.send(message).await;
    }
}
