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
mod cost_cap;
mod eligibility;
mod finish;
mod fleet;
mod operator;
mod params;
pub mod prometheus;
mod record;
mod send;
#[cfg(test)]
mod tests;

use crate::health::TargetHealth;
use crate::id::{RouteId, TargetId};
use crate::outcome::{FailureReason, FinalOutcome};
use crate::overrides::Overrides;
use crate::plan::{Action, MAX_ATTEMPTS, Plan, RetryBudget, Stage};
use crate::policy::{SelectionInputs, members};
use crate::request::Request;
use crate::rng::{Rng, SeededRng};
use crate::rule;
use crate::telemetry::Telemetry;
use crate::time::Instant;

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
    /// The fleet's shared state, when the router joined one (`join_fleet`).
    fleet: Option<crate::fleet::Fleet>,
}

impl<R: Rng> Router<R> {
    /// A router for `params`, every target healthy, no override, empty telemetry; `rng`
    /// draws every random choice it makes, so the same generator state gives the same
    /// decisions.
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
            fleet: None,
            params,
            rng,
        }
    }

    /// The params it runs on.
    pub fn params(&self) -> &RouterParams {
        &self.params
    }
    /// A target's health; panics for an id not of these params.
    pub fn health(&self, target: TargetId) -> &TargetHealth {
        &self.health[target.index()]
    }
    /// Its counters, series, events and alerts.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }
    /// The event log, to turn its tap on and drain it ([`crate::telemetry::EventLog::tap`]).
    pub fn events_mut(&mut self) -> &mut crate::telemetry::EventLog {
        &mut self.telemetry.events
    }
    /// The operator's overrides in force.
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
            max_tokens: request.max_tokens,
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
            tokens: crate::request::Usage::default(),
            tokens_estimated: false,
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
            // Not each target's default completion: the other vendors' are unbounded, so
            // counting Anthropic's alone would rank it behind them as dearer (see
            // `least_cost_prices_a_request_without_max_tokens_at_its_prompt`).
            max_tokens: plan.max_tokens.unwrap_or(0),
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
}
