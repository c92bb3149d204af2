//! Ending a request: the failure it ends with when nothing is left to try, and the one place
//! a plan gets its outcome and is counted.

use super::{PanicMode, Router};
use crate::health::{BreakerMode, BreakerState};
use crate::id::{RouteId, TargetId};
use crate::outcome::{ErrorKind, FailureReason, FinalOutcome};
use crate::plan::{Action, Plan, Stage};
use crate::rng::Rng;
use crate::time::{Duration, Instant};

impl<R: Rng> Router<R> {
    /// Nothing left to try now. When targets are only parked (rate limits, a Retry-After)
    /// beyond what the request may wait, it fails fast — with the last error, or
    /// `rate_limited` if it made no attempt — and says when to come back.
    pub(super) fn finish_parked_or_last_error(
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

    pub(super) fn finish_with_last_error(&mut self, plan: &mut Plan, now: Instant) -> Action {
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

    /// Whether every target the plan could go to ([`Router::reachable`]) was excluded as
    /// unfit for the request, lacks a capability it needs (an image for a route without
    /// `vision`), or has a context window the request does not fit (its estimated prompt and
    /// `max_tokens`): either way the request, not the targets' health, is at fault, and the
    /// client can fix it.
    fn all_unfit(&self, plan: &Plan) -> bool {
        self.reachable(plan).into_iter().all(|t| {
            plan.is_unfit(t)
                || !self.params.targets[t.index()].fits(
                    plan.needs,
                    plan.prompt_tokens,
                    plan.max_tokens,
                )
        })
    }

    /// How long until a request like `plan`'s could be sent again, read as a request arriving
    /// at `now` would find the targets it could go to ([`Router::reachable`]): the soonest
    /// wait of a target that could hold it (not unfit for its dialect, every capability it
    /// needs, a window it fits, not excluded by an earlier outcome) and is not taken out
    /// (drained, forced open). A target's wait is the latest of its open breaker's cooldown
    /// (a breaker the automaton runs, without `panic_mode: bypass`), its parking, its cost
    /// cap's window, and its buckets' room for the request; one held back by none of these
    /// (its probes out, a recovery ramp, a fleet's lease) waits nothing. On a route an
    /// operator pinned or froze, eligibility ignores health and limits but not the cost cap:
    /// only its pinned target (a frozen route's first, once tried; any member before) counts,
    /// forced open or not, waiting for its cost cap's window alone. `None` with no such
    /// target: nothing says when.
    /// What a refused request's `Retry-After` is read from (these are `Router::eligible`'s
    /// checks, as time passes them).
    pub fn retry_wait(&self, plan: &Plan, now: Instant) -> Option<Duration> {
        let first = plan.first_target();
        let wait = |tid: TargetId, route: Option<RouteId>| -> Option<Duration> {
            let t = &self.params.targets[tid.index()];
            let h = &self.health[tid.index()];
            let pinned = route.and_then(|r| self.overrides.pin(r));
            let frozen = route.is_some_and(|r| self.overrides.is_frozen(r));
            if self.overrides.is_drained(tid)
                || !self.could_hold(plan, tid)
                || pinned.is_some_and(|p| p != tid)
                || (frozen && first.is_some_and(|f| f != tid))
            {
                return None;
            }
            // The cost cap is checked before a pin or a freeze, which then skip the rest.
            let capped = self.cost_cap_until(tid, now);
            if pinned.is_some() || frozen {
                return Some(capped.saturating_since(now));
            }
            if h.breaker.mode() == BreakerMode::ForcedOpen {
                return None;
            }
            // A breaker's cooldown holds a target back while the automaton runs it, and not
            // under `panic_mode: bypass`, which sends to it when nothing else on its route
            // would take the request.
            let reopens = match (h.breaker.mode(), h.breaker.state_at(now)) {
                (BreakerMode::Automatic, BreakerState::Open { until })
                    if self.params.panic_mode != PanicMode::Bypass =>
                {
                    until
                }
                _ => now,
            };
            let room = now + h.limits.room_in(now, plan.request_tokens(t));
            let at = reopens.max(h.limits.parked_until()).max(capped).max(room);
            Some(at.saturating_since(now))
        };
        if let Some(pin) = plan.pin {
            // A request that named its target: the operator's pin or freeze of its route
            // still applies.
            return wait(pin, plan.route);
        }
        self.routes_gone_through(plan)
            .into_iter()
            .flat_map(|id| {
                let members = &self.params.route(id).members;
                members.iter().filter_map(move |&tid| wait(tid, Some(id)))
            })
            .min()
    }

    /// Whether `target` could take `plan`'s request at all, whatever its health and the
    /// operator's overrides: not unfit for its dialect, every capability the request needs
    /// and a window it fits, at least the window an earlier outcome asked for, not excluded
    /// by one.
    pub(super) fn could_hold(&self, plan: &Plan, target: TargetId) -> bool {
        let t = &self.params.targets[target.index()];
        !plan.is_unfit(target)
            && t.fits(plan.needs, plan.prompt_tokens, plan.max_tokens)
            && t.context_window >= plan.min_context
            && !plan.excluded(target)
    }

    /// The targets `plan` could go to: the one it named, else every member of every route it
    /// went through (its home route, then each fallback up to the current one).
    pub fn reachable(&self, plan: &Plan) -> Vec<TargetId> {
        if let Some(pin) = plan.pin {
            return vec![pin];
        }
        self.routes_gone_through(plan)
            .into_iter()
            .flat_map(|id| self.params.route(id).members.iter().copied())
            .collect()
    }

    /// The routes `plan` went through: its home route, then each fallback up to its current
    /// route (at most `fallback_hops` of them).
    fn routes_gone_through(&self, plan: &Plan) -> Vec<RouteId> {
        let mut routes = Vec::new();
        let mut route = plan.home_route;
        for _ in 0..=plan.fallback_hops {
            let Some(id) = route else {
                break;
            };
            routes.push(id);
            if Some(id) == plan.route {
                break;
            }
            route = self.params.route(id).fallback;
        }
        routes
    }

    pub(super) fn finish(
        &mut self,
        plan: &mut Plan,
        outcome: FinalOutcome,
        now: Instant,
    ) -> Action {
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
            // Whatever ended it (served, an error that fails the request), an attempt still on
            // its way was sent the prompt, which its provider bills: cancelled now and booked
            // the request's estimated prompt, `usage_missing`, as at a stream's commit, so the
            // plan's cost the driver reads next includes it and the driver's `abandon` finds
            // nothing left. (A caller that left has had its attempts cancelled before this,
            // by `caller_left` or `abandon`.)
            self.cancel_others(plan, None, now);
        }
        Action::Finish(plan.outcome().unwrap_or(outcome))
    }
}
