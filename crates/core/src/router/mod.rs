//! The router: the decision seam that both drivers run.
//!
//! ```text
//! let mut plan = router.begin(&request, now);
//! loop {
//!     match router.next(&mut plan, now) {
//!         Action::Send { attempt, target, .. } => /* send; later: */ router.record(&mut plan, attempt, report, later),
//!         Action::Wait { until } => /* sleep until `until`, or until an attempt reports */,
//!         Action::Await => /* wait for an outstanding attempt to report */,
//!         Action::Finish(outcome) => break,
//!     }
//! }
//! // A stream's first token: `router.first_token(&mut plan, attempt, now)` commits it and
//! // cancels the others. A caller that left: `router.abandon(&mut plan, now)`.
//! ```
//!
//! On a route with `resume: prefill`, a committed stream that fails does not end the
//! request: `record` un-commits it and `next` answers with a `Send` whose `continuation` is
//! set, to another member with the `prefill` capability (see `crate::plan`).
//!
//! The router owns every target's health, the retry budget, the overrides, the telemetry and
//! an RNG seeded by the driver. It never reads a clock: `now` is always an argument, so the
//! simulator and the live driver make the same decisions from the same inputs. Every
//! request that `begin` accepts ends in exactly one `Finish`, and is counted exactly once.

mod carry;
mod eligibility;
mod params;
pub mod prometheus;
#[cfg(test)]
mod tests;

use crate::health::breaker::{HealthSignal, Transition};
use crate::health::{LimitSnapshot, TargetHealth};
use crate::id::{RouteId, TargetId};
use crate::outcome::{
    AttemptRecord, AttemptReport, ErrorKind, FailureReason, FinalOutcome, Outcome,
};
use crate::overrides::{Override, Overrides, Scope};
use crate::plan::{
    Action, AttemptId, AttemptSet, MAX_ATTEMPTS, Plan, Resume, RetryBudget, Stage, Timeouts,
};
use crate::policy::{SelectionInputs, members};
use crate::request::Request;
use crate::rng::{Rng, SeededRng};
use crate::rule;
use crate::telemetry::{EventKind, Telemetry};
use crate::time::{Duration, Instant};
use rand::RngExt as _;

pub use carry::NotCarried;
pub use params::{CommandError, OverrideCommand, PanicMode, ResumeMode, RouteParams, RouterParams};

use eligibility::Pass;

/// The router, generic over its generator: the drivers give it a [`SeededRng`] substream;
/// an embedder may pass any [`Rng`].
#[derive(Debug)]
pub struct Router<R = SeededRng> {
    params: RouterParams,
    health: Vec<TargetHealth>,
    cursors: Vec<usize>,
    budget: RetryBudget,
    overrides: Overrides,
    telemetry: Telemetry,
    rng: R,
    /// Per route: whether panic mode is bypassing the breakers (for edge-triggered events).
    panicking: Vec<bool>,
    /// When the last `BudgetExhausted` event was logged (at most one per budget window).
    last_budget_event: Option<Instant>,
    /// Per target: (window index, USD spent in it), for cost caps.
    spend: Vec<(u64, f64)>,
}

impl<R: Rng> Router<R> {
    pub fn new(params: RouterParams, rng: R) -> Self {
        let health = params
            .targets
            .iter()
            .map(|t| TargetHealth::new(t.breaker, t.limits))
            .collect();
        Router {
            health,
            cursors: vec![0; params.routes.len()],
            budget: RetryBudget::new(params.budget),
            overrides: Overrides::new(params.targets.len(), params.routes.len()),
            telemetry: Telemetry::with_params(
                params.targets.len(),
                params.routes.len(),
                params.alerts,
                params.availability_kinds,
            ),
            spend: vec![(u64::MAX, 0.0); params.targets.len()],
            panicking: vec![false; params.routes.len()],
            last_budget_event: None,
            params,
            rng,
        }
    }

    pub fn params(&self) -> &RouterParams {
        &self.params
    }
    pub fn health(&self, target: TargetId) -> &TargetHealth {
        &self.health[target.index()]
    }
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }
    pub fn overrides(&self) -> &Overrides {
        &self.overrides
    }

    /// Starts a request: resolves its route (rules first) and makes its plan.
    ///
    /// `request.route` names a route or, when no route has that name, a target: the request
    /// then goes to that target alone (rules are not consulted; it may be retried there as the
    /// plan allows, never failed over to another target or a fallback route, and overrides
    /// such as a drain or a route's pin still apply), counted on the first route that has the
    /// target as a member. A target that is in no route cannot be named (`unknown_route`).
    pub fn begin(&mut self, request: &Request, now: Instant) -> Plan {
        let named_target = match self.params.route_id(&request.route) {
            Some(_) => None,
            None => self.params.target_id(&request.route),
        };
        let pin = named_target;
        let route = match named_target {
            Some(target) => self
                .params
                .routes
                .iter()
                .position(|r| r.members.contains(&target))
                .map(|i| RouteId::new(i as u32)),
            None => rule::pick(&self.params.rules, request)
                .or_else(|| self.params.route_id(&request.route)),
        };
        self.budget.deposit(now);
        let mut plan = Plan {
            route,
            home_route: route,
            needs: request.required_capabilities(),
            prompt_tokens: request.estimated_prompt_tokens,
            max_tokens: request.max_tokens_or_zero(),
            stream: request.stream,
            started: now,
            deadline: now + self.params.plan.deadline,
            slots: [None; MAX_ATTEMPTS],
            len: 0,
            in_flight: 0,
            stage: Stage::Ready,
            hedged: false,
            committed: None,
            retry_after: None,
            backoffs: 0,
            fallback_hops: 0,
            min_context: 0,
            resume: None,
            resume_forbidden: false,
            unfit: Vec::new(),
            pin,
            cost: 0.0,
            wasted_cost: 0.0,
        };
        if route.is_none() {
            self.finish(
                &mut plan,
                FinalOutcome::Failed(FailureReason::UnknownRoute),
                now,
            );
        }
        plan
    }

    /// What the driver should do next for this plan.
    pub fn next(&mut self, plan: &mut Plan, now: Instant) -> Action {
        if let Stage::Done(outcome) = plan.stage {
            return Action::Finish(outcome);
        }
        if plan.resume.is_some() {
            return self.next_continuation(plan, now);
        }
        if plan.in_flight > 0 {
            return self.next_while_in_flight(plan, now);
        }
        if now >= plan.deadline {
            return self.finish(
                plan,
                FinalOutcome::Failed(FailureReason::DeadlineExceeded),
                now,
            );
        }
        let (retrying, waited) = match plan.stage {
            Stage::Backoff { until } | Stage::Parked { until } if now < until => {
                return Action::Wait { until };
            }
            Stage::Backoff { .. } => (true, true),
            Stage::Parked { .. } => (true, true),
            _ => (false, false),
        };
        plan.stage = Stage::Ready;
        if plan.attempts() >= self.params.plan.max_attempts as usize {
            return self.finish_with_last_error(plan, now);
        }
        let mut parked_until: Option<Instant> = None;
        loop {
            let Some(route) = plan.route else {
                return self.finish_with_last_error(plan, now);
            };
            // 1. failover to a target not tried yet (or, after a backoff, any retryable one).
            let pass = if retrying { Pass::Retry } else { Pass::Fresh };
            let choice = self.eligible(plan, route, now, pass);
            if let Some(member) = self.choose(route, choice.mask, plan, now) {
                return self.send(plan, route, member, choice.probes, now, false, false);
            }
            // 2. retry a target tried before, after a backoff.
            if !retrying && plan.attempts() > 0 {
                let retry = self.eligible(plan, route, now, Pass::Retry);
                if retry.mask != 0 {
                    return self.back_off(plan, now);
                }
            }
            // 3. wait for a parked target (or a same-target Retry-After), if it unparks before
            //    the deadline and within `park_wait_max`.
            let unparks_at = match (
                choice.unparks_at,
                self.eligible(plan, route, now, Pass::Retry).unparks_at,
            ) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let wait_limit = plan.deadline.min(now + self.params.plan.park_wait_max);
            if let Some(until) = unparks_at.filter(|&u| u <= wait_limit && !waited) {
                plan.stage = Stage::Parked { until };
                return Action::Wait { until };
            }
            if let Some(until) = unparks_at {
                parked_until = Some(parked_until.map_or(until, |p: Instant| p.min(until)));
            }
            // 4. the fallback route (not for a request that named its target).
            match self.params.route(route).fallback {
                Some(next)
                    if plan.pin.is_none()
                        && usize::from(plan.fallback_hops) < self.params.routes.len() =>
                {
                    plan.route = Some(next);
                    plan.fallback_hops += 1;
                }
                // 5. nothing left: fail, fast, with when to come back if targets are parked.
                _ => return self.finish_parked_or_last_error(plan, parked_until, now),
            }
        }
    }

    fn next_while_in_flight(&mut self, plan: &mut Plan, now: Instant) -> Action {
        let Some(after) = self.params.plan.hedge_after else {
            return Action::Await;
        };
        if plan.hedged
            || plan.committed.is_some()
            || plan.attempts() >= self.params.plan.max_attempts as usize
        {
            return Action::Await;
        }
        let last_sent = plan.history().last().map_or(plan.started, |r| r.started);
        let at = last_sent + after;
        if now < at {
            return Action::Wait { until: at };
        }
        plan.hedged = true;
        let Some(route) = plan.route else {
            return Action::Await;
        };
        let choice = self.eligible(plan, route, now, Pass::Fresh);
        match self.choose(route, choice.mask, plan, now) {
            Some(member) => self.send(plan, route, member, choice.probes, now, true, false),
            None => Action::Await,
        }
    }

    /// A broken stream being resumed: one continuation at a time, never hedged, to a capable
    /// member that is eligible now (no backoff, no wait for a parked target: the caller is
    /// mid-answer). With none left, the request fails with the first mid-stream error.
    fn next_continuation(&mut self, plan: &mut Plan, now: Instant) -> Action {
        if plan.in_flight > 0 {
            return Action::Await;
        }
        if now >= plan.deadline || plan.attempts() >= self.params.plan.max_attempts as usize {
            return self.finish_with_last_error(plan, now);
        }
        let Some(route) = plan.route else {
            return self.finish_with_last_error(plan, now);
        };
        let choice = self.eligible(plan, route, now, Pass::Resume);
        match self.choose(route, choice.mask, plan, now) {
            Some(member) => self.send(plan, route, member, choice.probes, now, false, true),
            None => self.finish_with_last_error(plan, now),
        }
    }

    fn choose(&mut self, route: RouteId, mask: u64, plan: &Plan, now: Instant) -> Option<usize> {
        let r = &self.params.routes[route.index()];
        if let Some(pin) = self.overrides.pin(route) {
            return members(mask).find(|&m| r.members[m] == pin);
        }
        let inputs = SelectionInputs {
            members: &r.members,
            targets: &self.params.targets,
            health: &self.health,
            prompt_tokens: plan.prompt_tokens,
            max_tokens: plan.max_tokens,
            latency: &self.params.latency,
            now,
        };
        r.policy.select(
            mask,
            &mut self.cursors[route.index()],
            &inputs,
            &mut self.rng,
        )
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the one place an attempt is sent; each flag is named at its call"
    )]
    fn send(
        &mut self,
        plan: &mut Plan,
        route: RouteId,
        member: usize,
        probes: u64,
        now: Instant,
        hedge: bool,
        continuation: bool,
    ) -> Action {
        let target = self.params.routes[route.index()].members[member];
        if plan.attempts() > 0 && !self.budget.withdraw(now) {
            let window = self.params.budget.window;
            if self
                .last_budget_event
                .is_none_or(|at| now.saturating_since(at) >= window)
            {
                self.last_budget_event = Some(now);
                self.telemetry.events.push(
                    now,
                    EventKind::BudgetExhausted {
                        route: plan.home_route,
                    },
                );
            }
            if hedge {
                return Action::Await;
            }
            let last = plan.last_error().unwrap_or(ErrorKind::ServerError);
            return self.finish(
                plan,
                FinalOutcome::Failed(FailureReason::BudgetExhausted(last)),
                now,
            );
        }
        let p = &self.params.plan;
        let remaining = plan.deadline.saturating_since(now);
        let timeouts = if plan.stream {
            Timeouts {
                first: p
                    .first_token_timeout
                    .unwrap_or(p.attempt_timeout)
                    .min(remaining),
                idle: p.idle_timeout,
                total: p.stream_timeout,
            }
        } else {
            Timeouts {
                first: p.attempt_timeout.min(remaining),
                idle: None,
                total: None,
            }
        };
        let h = &mut self.health[target.index()];
        h.in_flight = h.in_flight.saturating_add(1);
        // A probe unreported by its timeout (and a second's grace) counts as failed.
        let probe = (probes & (1 << member) != 0)
            .then(|| h.breaker.probe_started(now, timeouts.first + PROBE_GRACE));
        h.limits.take(
            now,
            u64::from(plan.prompt_tokens) + u64::from(plan.max_tokens),
        );
        let record = AttemptRecord {
            target,
            started: now,
            outcome: Outcome::Cancelled,
            latency: Duration::ZERO,
            hedge,
        };
        let attempt = plan.push(record, probe);
        self.telemetry.attempt_sent(target, hedge);
        let continuation = if continuation {
            if let Some(r) = plan.resume.as_mut() {
                r.spent.insert(attempt);
            }
            plan.continuation()
        } else {
            None
        };
        Action::Send {
            attempt,
            target,
            timeouts,
            hedge,
            continuation,
        }
    }

    fn back_off(&mut self, plan: &mut Plan, now: Instant) -> Action {
        let p = &self.params.plan;
        let grown = p
            .backoff_base
            .saturating_mul(1 << plan.backoffs.min(20))
            .min(p.backoff_max);
        let half = grown.as_nanos() / 2;
        let delay = Duration::from_nanos(half + self.rng.random_range(0..=half));
        plan.backoffs = plan.backoffs.saturating_add(1);
        let until = now + delay;
        if until >= plan.deadline {
            return self.finish(
                plan,
                FinalOutcome::Failed(FailureReason::DeadlineExceeded),
                now,
            );
        }
        plan.stage = Stage::Backoff { until };
        Action::Wait { until }
    }

    /// The driver saw the first token of `attempt`, and for a stream that token reaches the
    /// caller: the request is committed to this attempt. Every other outstanding attempt is
    /// recorded `cancelled` now and returned, for the driver to drop; from here on only the
    /// committed attempt's report decides the request (no hedging, no failover). Calls for an
    /// attempt that is not outstanding, or after a commit, change nothing.
    pub fn first_token(&mut self, plan: &mut Plan, attempt: AttemptId, now: Instant) -> AttemptSet {
        let mut cancel = AttemptSet::EMPTY;
        if plan.outcome().is_some() || plan.committed.is_some() || !plan.is_outstanding(attempt) {
            return cancel;
        }
        plan.committed = Some(attempt);
        // A probe that answers has done its job: it frees its half-open slot now.
        if let Some(slot) = plan
            .slots
            .get_mut(usize::from(attempt.0))
            .and_then(Option::as_mut)
            && let Some(ticket) = slot.probe.take()
        {
            let target = slot.record.target;
            let transition = self.health[target.index()]
                .breaker
                .probe_answered(now, ticket);
            self.log_transition(target, transition, now);
        }
        for i in 0..plan.len {
            let other = AttemptId(i);
            if other != attempt && plan.is_outstanding(other) {
                self.cancel(plan, other, now);
                cancel.insert(other);
            }
        }
        cancel
    }

    /// The caller went away: every outstanding attempt is recorded `cancelled` (the driver
    /// stops them) and the request is counted once, as `abandoned` — unless it had already
    /// finished, which stands. Nothing is sent afterwards: `next` only says `Finish`.
    pub fn abandon(&mut self, plan: &mut Plan, now: Instant) {
        for i in 0..plan.len {
            let attempt = AttemptId(i);
            if plan.is_outstanding(attempt) {
                self.cancel(plan, attempt, now);
            }
        }
        self.finish(plan, FinalOutcome::Failed(FailureReason::Abandoned), now);
    }

    fn cancel(&mut self, plan: &mut Plan, attempt: AttemptId, now: Instant) {
        let started = plan.slot(attempt).map_or(now, |s| s.record.started);
        let report = AttemptReport::new(Outcome::Cancelled, now.saturating_since(started));
        self.record(plan, attempt, report, now);
    }

    /// The driver reports how an attempt ended. Every `Send` gets exactly one `record`.
    pub fn record(
        &mut self,
        plan: &mut Plan,
        attempt: AttemptId,
        report: AttemptReport,
        now: Instant,
    ) {
        // Provider hints are bounded before anything reads them.
        let max = self.params.plan.retry_after_max;
        let report = AttemptReport {
            outcome: match report.outcome {
                Outcome::Error { kind, retry_after } => Outcome::Error {
                    kind,
                    retry_after: retry_after.map(|d| d.min(max)),
                },
                o => o,
            },
            ..report
        };
        let Some(slot) = plan.complete(attempt, report.outcome, report.latency) else {
            return; // unknown or already reported: ignore rather than double count
        };
        let target = slot.record.target;
        let t = &self.params.targets[target.index()];
        let cost = t.price.cost(crate::request::Usage {
            prompt_tokens: report.prompt_tokens,
            completion_tokens: report.completion_tokens,
            cached_prompt_tokens: 0,
        });
        plan.cost += cost;
        if !report.outcome.is_success() {
            plan.wasted_cost += cost;
        }
        let slow_after = t.breaker.slow_call;
        let h = &mut self.health[target.index()];
        h.in_flight = h.in_flight.saturating_sub(1);
        let signal = match report.outcome {
            Outcome::Success => HealthSignal::Success,
            Outcome::Error { kind, .. } if kind.counts_against_health() => HealthSignal::Failure,
            _ => HealthSignal::Neutral,
        };
        let slow = report.first_token.unwrap_or(report.latency) > slow_after;
        let retry_after = report.outcome.retry_after();
        let transition = h.breaker.record(now, signal, slow, slot.probe, retry_after);
        match report.outcome {
            Outcome::Success => {
                h.latency.observe(
                    &self.params.latency,
                    now,
                    report.first_token.unwrap_or(report.latency),
                );
            }
            Outcome::Error {
                kind: ErrorKind::RateLimited,
                retry_after,
            } => {
                h.latency.penalize(&self.params.latency, now);
                if h.limits.park(now, retry_after) {
                    let until = h.limits.parked_until();
                    self.telemetry
                        .events
                        .push(now, EventKind::Parked { target, until });
                }
            }
            Outcome::Error { .. } if signal == HealthSignal::Failure => {
                h.latency.penalize(&self.params.latency, now);
            }
            _ => {}
        }
        self.log_transition(target, transition, now);
        self.telemetry.attempt_finished(target, &report, cost, now);
        if report.outcome.is_success() {
            self.telemetry
                .track_latency(target, report.first_token.unwrap_or(report.latency), now);
        }
        self.spend_cost_cap(target, cost, now);

        if plan.outcome().is_some() {
            return; // a hedge that lost
        }
        match report.outcome {
            Outcome::Success => {
                self.finish(plan, FinalOutcome::Served(target), now);
            }
            Outcome::Cancelled => {}
            Outcome::Error { kind, .. } => {
                if plan.committed == Some(attempt) || report.delivered_tokens {
                    // The caller saw part of an answer: no failover now, only a resume.
                    self.stream_broke(plan, attempt, kind, report.completion_tokens, now);
                } else if plan.resume.is_some() {
                    // A continuation failed before its first token (a prefill refused with a
                    // 400 included): `next` tries the next capable member, if any.
                } else if !kind.fails_over() && !kind.is_retryable() {
                    self.finish(
                        plan,
                        FinalOutcome::Failed(FailureReason::Attempt(kind)),
                        now,
                    );
                } else if kind == ErrorKind::ContextLengthExceeded {
                    plan.min_context = plan
                        .min_context
                        .max(t_window(&self.params, target).saturating_add(1));
                }
            }
        }
    }

    /// The committed stream failed after the caller received `delivered` tokens. On a route
    /// that resumes (and a stream the driver can continue), the plan un-commits and remembers
    /// the first such error; any other attempt still out is cancelled, since the caller
    /// already holds part of this answer. Otherwise the request ends with the error.
    fn stream_broke(
        &mut self,
        plan: &mut Plan,
        attempt: AttemptId,
        kind: ErrorKind,
        delivered: u32,
        now: Instant,
    ) {
        let resumes = plan.stream
            && !plan.resume_forbidden
            && plan
                .route
                .is_some_and(|r| self.params.route(r).resume == ResumeMode::Prefill);
        if !resumes {
            let kind = plan.resume.map_or(kind, |r| r.kind);
            self.finish(
                plan,
                FinalOutcome::Failed(FailureReason::Attempt(kind)),
                now,
            );
            return;
        }
        let resume = plan.resume.get_or_insert(Resume {
            kind,
            delivered: 0,
            spent: AttemptSet::EMPTY,
            since: plan.len,
        });
        resume.delivered = resume.delivered.saturating_add(delivered);
        resume.spent.insert(attempt);
        plan.committed = None;
        for i in 0..plan.len {
            let other = AttemptId(i);
            if plan.is_outstanding(other) {
                self.cancel(plan, other, now);
            }
        }
    }

    fn spend_cost_cap(&mut self, target: TargetId, cost: f64, now: Instant) {
        let Some(b) = self.params.targets[target.index()].cost_cap else {
            return;
        };
        let window = now.as_nanos() / b.window.as_nanos().max(1);
        let (w, spent) = &mut self.spend[target.index()];
        if *w != window {
            *w = window;
            *spent = 0.0;
        }
        let before = *spent;
        *spent += cost;
        if before < b.usd && *spent >= b.usd {
            let spent_usd = *spent;
            self.telemetry
                .events
                .push(now, EventKind::CostCapSpent { target, spent_usd });
        }
    }

    /// Whether the target spent its cost cap for the current window.
    pub(crate) fn over_cost_cap(&self, target: TargetId, now: Instant) -> bool {
        let Some(b) = self.params.targets[target.index()].cost_cap else {
            return false;
        };
        let window = now.as_nanos() / b.window.as_nanos().max(1);
        let (w, spent) = self.spend[target.index()];
        w == window && spent >= b.usd
    }

    /// Folds in the rate-limit state a reply's headers gave.
    pub fn observe_limits(&mut self, target: TargetId, snapshot: &LimitSnapshot, now: Instant) {
        let Some(h) = self.health.get_mut(target.index()) else {
            return;
        };
        let max = self.params.plan.retry_after_max;
        let snapshot = LimitSnapshot {
            reset_requests: snapshot.reset_requests.map(|d| d.min(max)),
            reset_tokens: snapshot.reset_tokens.map(|d| d.min(max)),
            ..*snapshot
        };
        if h.limits.observe(now, &snapshot) {
            let until = h.limits.parked_until();
            self.telemetry
                .events
                .push(now, EventKind::Parked { target, until });
        }
    }

    /// Applies an operator's override and logs it.
    pub fn apply(&mut self, command: Override, now: Instant) {
        let o = &mut self.overrides;
        match command {
            Override::Drain(t) => o.drained[t.index()] = true,
            Override::Pin(r, t) => o.pinned[r.index()] = Some(t),
            Override::Freeze(Some(r)) => o.frozen[r.index()] = true,
            Override::Freeze(None) => o.frozen.iter_mut().for_each(|f| *f = true),
            Override::Force(t, mode) => self.health[t.index()].breaker.force(mode),
            Override::Restore(scope) => self.restore(scope),
        }
        self.telemetry
            .events
            .push(now, EventKind::Override(command));
    }

    fn restore(&mut self, scope: Scope) {
        let restore_target = |router: &mut Self, t: TargetId| {
            router.overrides.drained[t.index()] = false;
            let h = &mut router.health[t.index()];
            h.breaker.restore();
            h.limits.unpark();
        };
        match scope {
            Scope::Target(t) => restore_target(self, t),
            Scope::Route(r) => {
                self.overrides.pinned[r.index()] = None;
                self.overrides.frozen[r.index()] = false;
            }
            Scope::All => {
                for i in 0..self.params.targets.len() {
                    restore_target(self, TargetId::new(i as u32));
                }
                self.overrides =
                    Overrides::new(self.params.targets.len(), self.params.routes.len());
            }
        }
    }

    fn log_transition(&mut self, target: TargetId, transition: Option<Transition>, now: Instant) {
        if let Some(t) = transition {
            let mode = self.health[target.index()].breaker.mode();
            self.telemetry.events.push(
                now,
                EventKind::Breaker {
                    target,
                    from: t.from,
                    to: t.to,
                    reason: t.reason,
                    mode,
                },
            );
        }
    }

    /// Nothing left to try now. When targets are only parked (rate limits, a Retry-After)
    /// beyond what the request may wait, it fails fast — with the last error, or
    /// `rate_limited` if it made no attempt — and says when to come back.
    fn finish_parked_or_last_error(
        &mut self,
        plan: &mut Plan,
        parked_until: Option<Instant>,
        now: Instant,
    ) -> Action {
        let Some(until) = parked_until else {
            return self.finish_with_last_error(plan, now);
        };
        plan.retry_after = Some(until.saturating_since(now));
        let kind = plan.last_error().unwrap_or(ErrorKind::RateLimited);
        self.finish(
            plan,
            FinalOutcome::Failed(FailureReason::Attempt(kind)),
            now,
        )
    }

    fn finish_with_last_error(&mut self, plan: &mut Plan, now: Instant) -> Action {
        if plan.last_error() == Some(ErrorKind::RateLimited) {
            // Every way out is rate-limited: the caller may come back when the first unparks.
            plan.retry_after = plan
                .history()
                .map(|a| self.health[a.target.index()].limits.parked_until())
                .filter(|&until| until > now)
                .min()
                .map(|until| until.saturating_since(now));
        }
        let reason = match plan.last_error() {
            Some(kind) => FailureReason::Attempt(kind),
            None if self.all_unfit(plan) => FailureReason::Unsupported,
            None => FailureReason::NoTargetAvailable,
        };
        self.finish(plan, FinalOutcome::Failed(reason), now)
    }

    /// Whether every member of every route the plan went through (its home route, then each
    /// fallback up to the current one) was excluded as unfit for the request, or lacks a
    /// capability it needs (an image for a route without `vision`): either way the request,
    /// not the targets' health, is at fault, and the client can fix it.
    fn all_unfit(&self, plan: &Plan) -> bool {
        let unfit = |t: TargetId| {
            plan.is_unfit(t)
                || !self.params.targets[t.index()]
                    .capabilities
                    .contains(plan.needs)
        };
        // A request that named its target: that target alone could serve.
        if let Some(pin) = plan.pin {
            return unfit(pin);
        }
        let mut route = plan.home_route;
        for _ in 0..=plan.fallback_hops {
            let Some(id) = route else {
                break;
            };
            let r = self.params.route(id);
            if !r.members.iter().all(|&t| unfit(t)) {
                return false;
            }
            if Some(id) == plan.route {
                break;
            }
            route = r.fallback;
        }
        true
    }

    fn finish(&mut self, plan: &mut Plan, outcome: FinalOutcome, now: Instant) -> Action {
        if plan.outcome().is_none() {
            // A stream that broke and was not resumed reports how it broke, whatever ended
            // the resume (a refused prefill, the deadline, the budget, no capable target).
            let outcome = match (plan.resume, outcome) {
                (Some(r), FinalOutcome::Failed(reason)) if reason != FailureReason::Abandoned => {
                    plan.retry_after = None;
                    FinalOutcome::Failed(FailureReason::Attempt(r.kind))
                }
                _ => outcome,
            };
            if plan.resume.is_some() && outcome != FinalOutcome::Failed(FailureReason::Abandoned) {
                self.telemetry
                    .stream_resumed(plan.home_route, outcome.is_success());
            }
            plan.stage = Stage::Done(outcome);
            let latency = now.saturating_since(plan.started);
            self.telemetry.request_finished(
                plan.home_route,
                outcome,
                latency,
                plan.attempts(),
                now,
            );
        }
        Action::Finish(plan.outcome().unwrap_or(outcome))
    }
}

/// Grace beyond a probe's timeout for its report to arrive before its lease expires.
const PROBE_GRACE: Duration = Duration::from_secs(1);

fn t_window(params: &RouterParams, target: TargetId) -> u32 {
    params.targets[target.index()].context_window
}
