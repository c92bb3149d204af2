//! A request's plan and the loop on the core's actions.
//!
//! Drop safety: a request's plan lives in a `PlanGuard` for as long as the request does —
//! in `chat`'s future, or in the [`ChatStream`](super::ChatStream) a caller reads. Dropping
//! either at any await (a client that disconnects, an SDK timeout, a `tokio::time::timeout`
//! around `chat`) drops the guard, which abandons the plan in the core: every outstanding
//! attempt is recorded `cancelled`, its `in_flight` and any half-open probe slot released, and
//! the request is counted once, as `abandoned`. Nothing is ever sent to close a plan.

use std::sync::{Arc, Mutex};

use futures_util::{FutureExt, StreamExt};
use switchyard_core::dialect::upstream::UpstreamError;
use switchyard_core::dialect::{self, Dialect};
use switchyard_core::id::{RouteId, TargetId};
use switchyard_core::outcome::{AttemptRecord, FinalOutcome};
use switchyard_core::plan::{Action, AttemptId, Plan};
use switchyard_core::request::{Request, Response};
use switchyard_core::time::Instant;

use super::attempt::{Lost, Won};
use super::inflight::Inflight;
use super::{Driver, RouteError};

/// Owns a request's plan while the request lives; dropping it abandons the plan in the core
/// (outstanding attempts recorded `cancelled`, the request counted once). After the plan
/// finished, the drop finds none outstanding: the core cancelled them as the plan finished
/// (booked their prompt's estimate).
#[derive(Debug)]
pub(super) struct PlanGuard {
    pub(super) driver: Driver,
    pub(super) plan: Plan,
    /// Where the request's attempts go when the guard drops before its caller was handed
    /// the request's end (see [`AttemptSink`]); `None` once it was ([`PlanGuard::told`]).
    sink: Option<AttemptSink>,
    /// The caller was handed the request's end ([`PlanGuard::told`]): an attempt still out
    /// when the guard drops (one the request failed beside) is cancelled, not booked as a
    /// caller's leaving.
    told: bool,
    /// The core's time when the plan began: the first [`Driver::run`]'s, which follows at
    /// once.
    pub(super) begun: Instant,
}

impl Drop for PlanGuard {
    fn drop(&mut self) {
        // A finished plan with nothing outstanding (the usual one) has nothing to abandon:
        // no clock read, no lock.
        if !self.plan.is_settled() {
            let now = self.driver.now();
            if self.told {
                // Told its end: what is still out is cancelled, as the simulator cancels
                // it. (Not a hedge that lost to a reply: the core cancelled that one as the
                // reply served the request, before the reply's cost was read.)
                self.driver.core().abandon(&mut self.plan, now);
            } else {
                // The caller left: an attempt on its way is booked with the prompt's estimate.
                self.driver.core().caller_left(&mut self.plan, now);
            }
        }
        // Only a caller that was not handed the request's end reads the sink: the usual
        // request, whose caller has its reply, error or stream end, writes nothing.
        if let Some(sink) = &self.sink {
            sink.fill(&self.driver, &self.plan);
        }
    }
}

impl PlanGuard {
    /// The caller is being handed the request's end (a reply, an error, a stream's last
    /// event): it has the attempts there, and the sink stays empty.
    pub(super) fn told(&mut self) {
        self.sink = None;
        self.told = true;
    }
}

/// A slot that receives a request's attempts when its caller gave up on it: the `chat_into`
/// or `chat_stream_into` future dropped before it returned (a `timeout` around it, a client
/// that left), or a [`ChatStream`](super::ChatStream) dropped before it yielded its last
/// event (`End` or an error) — the cases where no reply, error or stream end carries them.
/// It is filled as the plan's guard drops, after the plan was abandoned: an attempt that was
/// on its way is in it, `cancelled`. With them, the route the request was booked on (its home
/// route, where its telemetry is counted) and the target its committed attempt went to.
///
/// A request whose caller was handed its end leaves the sink empty (`take` gives nothing,
/// `named` gives `None`): the caller has the attempts in the reply, the error or the stream,
/// and the usual request pays for no copy. Cheap to clone; one per request.
#[derive(Clone, Debug, Default)]
pub struct AttemptSink(Arc<Mutex<Sunk>>);

#[derive(Debug, Default)]
struct Sunk {
    attempts: Vec<AttemptRecord>,
    route: Option<RouteId>,
    served_by: Option<TargetId>,
    /// The driver that ran the plan, to name its targets and route: empty until filled.
    driver: Option<Driver>,
    /// The request's tokens and cost as booked (`Plan::tokens`, `Plan::cost`).
    booked: Option<(switchyard_core::request::Usage, f64)>,
    /// Some of those tokens are estimates (`Plan::tokens_estimated`).
    estimated: bool,
}

/// What an [`AttemptSink`] received, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamedAttempts {
    /// The route the request was booked on, if it resolved to one.
    pub route: Option<Arc<str>>,
    /// Every attempt: its target's name and its outcome's label.
    pub attempts: Vec<(String, &'static str)>,
    /// The target of the attempt the plan committed to, if it committed.
    pub served_by: Option<String>,
}

impl AttemptSink {
    fn slot(&self) -> std::sync::MutexGuard<'_, Sunk> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fill(&self, driver: &Driver, plan: &Plan) {
        let mut slot = self.slot();
        slot.attempts.clear();
        slot.attempts.extend(plan.history().copied());
        slot.route = plan.home_route();
        slot.served_by = plan
            .committed()
            .and_then(|a| plan.history().nth(usize::from(a.0)))
            .map(|a| a.target);
        slot.driver = Some(driver.clone());
        slot.booked = Some((plan.tokens(), plan.cost()));
        slot.estimated = plan.tokens_estimated();
    }

    /// The tokens the request's attempts were booked with, summed, and what they cost, as
    /// the plan ended; `None` unless the caller gave up on it. An attempt cancelled before
    /// its first token counts the request's prompt estimate (`Router::caller_left`).
    pub fn booked(&self) -> Option<(switchyard_core::request::Usage, f64)> {
        self.slot().booked
    }

    /// Whether some of the [`booked`](Self::booked) tokens are estimates (an attempt
    /// cancelled before its first token, a reply without usage); `false` unless the caller
    /// gave up on the request.
    pub fn tokens_estimated(&self) -> bool {
        self.slot().estimated
    }

    /// The attempts written (none unless the caller gave up on the request), taken out.
    pub fn take(&self) -> Vec<AttemptRecord> {
        std::mem::take(&mut self.slot().attempts)
    }

    /// What the request ended with, named; `None` unless the caller gave up on it.
    pub fn named(&self) -> Option<NamedAttempts> {
        let slot = self.slot();
        let driver = slot.driver.as_ref()?;
        Some(NamedAttempts {
            route: slot.route.and_then(|r| driver.route_name(r)).cloned(),
            attempts: slot
                .attempts
                .iter()
                .map(|a| {
                    (
                        driver.target_names(a.target).0.to_owned(),
                        a.outcome.label(),
                    )
                })
                .collect(),
            served_by: slot.served_by.map(|t| driver.target_names(t).0.to_owned()),
        })
    }
}

/// What upstreams said about the attempts that failed, by attempt (at most `MAX_ATTEMPTS`).
pub(super) type Said = Vec<(AttemptId, UpstreamError)>;

/// An attempt on its way: it borrows the driver and the request from the loop that runs it.
type AttemptFuture<'a> =
    futures_util::future::BoxFuture<'a, (AttemptId, TargetId, Result<Won, Lost>)>;

impl Driver {
    /// Starts a request: its plan, in a guard that abandons it if dropped. Targets whose
    /// dialect cannot express the request are excluded from the plan first (see
    /// `dialect::check`; one check per dialect the driver's targets speak, and none of this
    /// for a request they can all express).
    pub(super) fn begin(&self, request: &Request, sink: Option<AttemptSink>) -> PlanGuard {
        let now = self.now();
        let mut plan = self.core().begin(request, now);
        let used = &self.inner.dialects;
        let fit: [bool; Dialect::ALL.len()] =
            std::array::from_fn(|i| !used[i] || dialect::check(Dialect::ALL[i], request).is_ok());
        if fit.contains(&false) {
            for (i, b) in self.inner.bindings.iter().enumerate() {
                if !fit[dialect_index(b.dialect)] {
                    plan.exclude_unfit(TargetId::new(i as u32));
                }
            }
        }
        PlanGuard {
            driver: self.clone(),
            plan,
            sink,
            told: false,
            begun: now,
        }
    }

    /// Sends a request through the driver and waits for the whole reply. Dropping the future
    /// abandons the request (see the module doc).
    ///
    /// [`chat_into`](Self::chat_into)'s future itself, not one that awaits it: an `async fn`
    /// here would move that whole future (kilobytes) into its own on every request.
    pub fn chat(
        &self,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Response, RouteError>> + '_ {
        self.chat_into(request, None)
    }

    /// As [`chat`](Self::chat), writing the request's attempts into `sink` should the future
    /// be dropped before it returns (see [`AttemptSink`]).
    ///
    /// The request lives in the future, where its attempts borrow it: no copy on the heap.
    /// Not an `async fn`, which would hold it twice (as its argument, and moved out of it).
    pub fn chat_into(
        &self,
        mut request: Request,
        sink: Option<AttemptSink>,
    ) -> impl std::future::Future<Output = Result<Response, RouteError>> + '_ {
        request.stream = false;
        async move {
            let mut guard = self.begin(&request, sink);
            let mut said = Said::new();
            let won = self
                .run(&mut guard.plan, &request, &mut said, guard.begun)
                .await;
            guard.told();
            match won {
                Some((Won::Reply { decoded, .. }, _, target)) => {
                    let mut attempts = Vec::with_capacity(guard.plan.attempts());
                    attempts.extend(guard.plan.history().copied());
                    Ok(Response {
                        text: decoded.text,
                        tool_calls: decoded.tool_calls,
                        finish_reason: decoded.finish,
                        usage: decoded.usage,
                        choices: decoded.choices,
                        served_by: target,
                        route: guard.plan.home_route(),
                        attempts,
                        raw: decoded.raw,
                        cost: guard.plan.cost(),
                        wasted_cost: guard.plan.wasted_cost(),
                        tokens_estimated: guard.plan.tokens_estimated(),
                    })
                }
                Some((Won::Stream(_), _, _)) | None => {
                    Err(self.error(&guard.plan, Some(&request), &said))
                }
            }
        }
    }

    /// Loops on the plan until it finishes (or, for a stream, until an attempt is committed).
    /// Attempts still running when it returns were cancelled by the core (a commit, or the
    /// plan's guard); dropping them here drops their HTTP requests. `now`: the core's time,
    /// read by the caller with nothing awaited since.
    pub(super) async fn run(
        &self,
        plan: &mut Plan,
        request: &Request,
        said: &mut Said,
        mut now: Instant,
    ) -> Option<(Won, AttemptId, TargetId)> {
        let mut inflight: Inflight<AttemptFuture<'_>> = Inflight::default();
        // The time is read again after each wait only: the decisions between two waits (a
        // send, then the next decision) take no time worth a clock read.
        loop {
            let action = { self.core().next(plan, now) };
            let finished = match action {
                Action::Send {
                    attempt,
                    target,
                    timeouts,
                    ..
                } => {
                    inflight.push(self.attempt(attempt, target, request, timeouts).boxed());
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
            now = self.now();
            let Some((attempt, target, result)) = finished else {
                continue;
            };
            if !plan.is_outstanding(attempt) {
                continue; // cancelled by the core meanwhile: its result does not count
            }
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
}

/// A dialect's index in `Dialect::ALL`.
fn dialect_index(d: Dialect) -> usize {
    Dialect::ALL.iter().position(|&x| x == d).unwrap_or(0)
}
