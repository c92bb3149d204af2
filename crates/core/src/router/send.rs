//! Sending an attempt (its timeouts, a probe's lease, the retry budget) and backing off
//! before a retry.

use super::Router;
use crate::id::RouteId;
use crate::outcome::{AttemptRecord, ErrorKind, FailureReason, FinalOutcome, Outcome};
use crate::plan::{Action, Plan, Stage, Timeouts};
use crate::rng::Rng;
use crate::telemetry::EventKind;
use crate::time::{Duration, Instant};
use rand::RngExt as _;

impl<R: Rng> Router<R> {
    #[expect(
        clippy::too_many_arguments,
        reason = "the one place an attempt is sent; each flag is named at its call"
    )]
    pub(super) fn send(
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
            return self.refuse_retry(plan, hedge, now);
        }
        let timeouts = self.timeouts(plan, now);
        // What the target is asked for, reserved of its token limits: a request without
        // `max_tokens` reserves the default completion the target is then sent.
        let tokens = plan.request_tokens(&self.params.targets[target.index()]);
        let h = &mut self.health[target.index()];
        h.in_flight = h.in_flight.saturating_add(1);
        // A probe unreported by its timeout (and a second's grace) counts as failed.
        let probe = (probes & (1 << member) != 0)
            .then(|| h.breaker.probe_started(now, timeouts.first + PROBE_GRACE));
        h.limits.take(now, tokens);
        if let Some(fleet) = self.fleet.as_mut() {
            fleet.admit(target.index(), tokens, now);
        }
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

    /// The retry budget refused this attempt: a hedge is not sent; any other retry ends the
    /// request. The refusal is logged at most once per budget window.
    fn refuse_retry(&mut self, plan: &mut Plan, hedge: bool, now: Instant) -> Action {
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
        self.finish(
            plan,
            FinalOutcome::Failed(FailureReason::BudgetExhausted(last)),
            now,
        )
    }

    /// The attempt's timeouts, none beyond the plan's deadline.
    fn timeouts(&self, plan: &Plan, now: Instant) -> Timeouts {
        let p = &self.params.plan;
        let remaining = plan.deadline.saturating_since(now);
        if plan.stream {
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
        }
    }

    pub(super) fn back_off(&mut self, plan: &mut Plan, now: Instant) -> Action {
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
}

/// Grace beyond a probe's timeout for its report to arrive before its lease expires.
const PROBE_GRACE: Duration = Duration::from_secs(1);
