//! What the driver reports back: first tokens, attempts' ends, a caller that left, and the
//! rate-limit state of replies; each folded into the plan and the target's health.

use super::{ResumeMode, Router, RouterParams};
use crate::health::LimitSnapshot;
use crate::health::breaker::{HealthSignal, ProbeTicket, Transition};
use crate::id::TargetId;
use crate::outcome::{AttemptReport, ErrorKind, FailureReason, FinalOutcome, Outcome};
use crate::plan::{AttemptId, AttemptSet, Plan, Resume};
use crate::rng::Rng;
use crate::telemetry::EventKind;
use crate::time::Instant;

impl<R: Rng> Router<R> {
    /// The driver saw the first token of `attempt`, and for a stream that token reaches the
    /// caller: the request is committed to this attempt. Every other outstanding attempt (a
    /// hedge that lost) is recorded `cancelled` now and returned, for the driver to drop; it
    /// was sent the prompt, which its provider bills, so it is booked as
    /// [`caller_left`](Self::caller_left) books one: the request's estimated prompt tokens,
    /// marked `usage_missing`. From here on only the committed attempt's report decides the
    /// request (no hedging, no failover). Calls for an attempt that is not outstanding, or
    /// after a commit, change nothing.
    pub fn first_token(&mut self, plan: &mut Plan, attempt: AttemptId, now: Instant) -> AttemptSet {
        if plan.outcome().is_some() || plan.committed.is_some() || !plan.is_outstanding(attempt) {
            return AttemptSet::EMPTY;
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
        self.cancel_others(plan, Some(attempt), now)
    }

    /// The caller went away: every outstanding attempt is recorded `cancelled` (the driver
    /// stops them) and the request is counted once, as `abandoned` — unless it had already
    /// finished, which stands. Nothing is sent afterwards: `next` only says `Finish`.
    pub fn abandon(&mut self, plan: &mut Plan, now: Instant) {
        self.end_outstanding(plan, now, false);
    }

    /// The caller left (a client that closed its connection, a simulated `abandon_after`):
    /// as [`abandon`](Self::abandon), but each attempt still outstanding was sent the prompt,
    /// which its provider bills, and no usage of it was read: it is booked `cancelled` with
    /// the request's estimated prompt tokens (`Request::estimated_prompt_tokens`, the estimate
    /// routing uses), marked `usage_missing`. A stream the caller was reading is recorded by
    /// the driver first, with what it generated.
    pub fn caller_left(&mut self, plan: &mut Plan, now: Instant) {
        self.end_outstanding(plan, now, true);
    }

    /// Every outstanding attempt cancelled (`billed`: booked the prompt's estimate), then
    /// the request counted `abandoned` unless it had finished.
    fn end_outstanding(&mut self, plan: &mut Plan, now: Instant, billed: bool) {
        for i in 0..plan.len {
            let attempt = AttemptId(i);
            if plan.is_outstanding(attempt) {
                self.cancel_billed(plan, attempt, now, billed);
            }
        }
        self.finish(plan, FinalOutcome::Failed(FailureReason::Abandoned), now);
    }

    /// The driver gave `attempt` up after sending it (a continuation left outstanding by a
    /// call its caller dropped): recorded `cancelled` and booked the request's estimated
    /// prompt, `usage_missing`, as an attempt cancelled at a commit is. An attempt that is not
    /// outstanding changes nothing.
    pub fn give_up(&mut self, plan: &mut Plan, attempt: AttemptId, now: Instant) {
        if plan.is_outstanding(attempt) {
            self.cancel_billed(plan, attempt, now, true);
        }
    }

    /// Every outstanding attempt but `keep` is given up by the core itself (a commit to
    /// another attempt, a finish, a break that resumes) and returned: each is recorded
    /// `cancelled`, booked with the prompt's estimate, as its provider bills the prompt it was
    /// sent.
    pub(super) fn cancel_others(
        &mut self,
        plan: &mut Plan,
        keep: Option<AttemptId>,
        now: Instant,
    ) -> AttemptSet {
        let mut cancelled = AttemptSet::EMPTY;
        for i in 0..plan.len {
            let other = AttemptId(i);
            if Some(other) != keep && plan.is_outstanding(other) {
                self.cancel_billed(plan, other, now, true);
                cancelled.insert(other);
            }
        }
        cancelled
    }

    /// `attempt` recorded `cancelled`; `billed`: with the request's estimated prompt, an
    /// estimate (`usage_missing`).
    fn cancel_billed(&mut self, plan: &mut Plan, attempt: AttemptId, now: Instant, billed: bool) {
        let started = plan.slot(attempt).map_or(now, |s| s.record.started);
        let mut report = AttemptReport::new(Outcome::Cancelled, now.saturating_since(started));
        if billed {
            report.prompt_tokens = sent_prompt(plan, attempt);
            report.usage_missing = true;
        }
        self.record(plan, attempt, report, now);
    }

    /// The driver reports how an attempt ended. Every `Send` gets exactly one `record`. An
    /// attempt whose provider had the prompt (`AttemptReport::prompt_sent`: it failed after
    /// its reply's 2xx head came) and that reports no tokens is booked the request's
    /// estimated prompt, `usage_missing`, as one given up is.
    pub fn record(
        &mut self,
        plan: &mut Plan,
        attempt: AttemptId,
        report: AttemptReport,
        now: Instant,
    ) {
        // Provider hints are bounded before anything reads them.
        let max = self.params.plan.retry_after_max;
        let mut report = AttemptReport {
            outcome: match report.outcome {
                Outcome::Error { kind, retry_after } => Outcome::Error {
                    kind,
                    retry_after: retry_after.map(|d| d.min(max)),
                },
                o => o,
            },
            ..report
        };
        // An attempt that failed after its provider had the prompt (`prompt_sent`),
        // with no usage read: booked as a cancelled attempt is, the estimate, `usage_missing`.
        if report.prompt_sent && report.prompt_tokens == 0 && report.completion_tokens == 0 {
            report.prompt_tokens = sent_prompt(plan, attempt);
            report.usage_missing = true;
        }
        let Some(slot) = plan.complete(attempt, report.outcome, report.latency) else {
            return; // unknown or already reported: ignore rather than double count
        };
        let target = slot.record.target;
        let t = &self.params.targets[target.index()];
        let cost = t.price.cost(crate::request::Usage {
            prompt_tokens: report.prompt_tokens,
            completion_tokens: report.completion_tokens,
            cached_prompt_tokens: report.cached_prompt_tokens,
        });
        plan.cost += cost;
        plan.tokens_estimated |= report.usage_missing;
        plan.tokens.prompt_tokens = plan
            .tokens
            .prompt_tokens
            .saturating_add(report.prompt_tokens);
        plan.tokens.cached_prompt_tokens = plan
            .tokens
            .cached_prompt_tokens
            .saturating_add(report.cached_prompt_tokens.min(report.prompt_tokens));
        plan.tokens.completion_tokens = plan
            .tokens
            .completion_tokens
            .saturating_add(report.completion_tokens);
        if let Some(fleet) = self.fleet.as_mut() {
            let reserved = plan.request_tokens(t);
            let used = u64::from(report.prompt_tokens) + u64::from(report.completion_tokens);
            let micro_usd = (cost * 1e6).round();
            let micro_usd = if micro_usd.is_finite() && micro_usd > 0.0 {
                micro_usd as u64
            } else {
                0
            };
            fleet.settle(target.index(), reserved, used, micro_usd, now);
        }
        if !report.outcome.is_success() {
            plan.wasted_cost += cost;
        }
        self.fold_into_health(target, &report, slot.probe, cost, now);
        if plan.outcome().is_some() {
            return; // a hedge that lost, cancelled as the plan finished or after
        }
        self.after_attempt(plan, attempt, target, &report, now);
    }

    /// The attempt's end, in its target's health: in flight, breaker, latency estimate,
    /// parking, telemetry and the cost cap.
    fn fold_into_health(
        &mut self,
        target: TargetId,
        report: &AttemptReport,
        probe: Option<ProbeTicket>,
        cost: f64,
        now: Instant,
    ) {
        let t = &self.params.targets[target.index()];
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
        let transition = h.breaker.record(now, signal, slow, probe, retry_after);
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
        self.telemetry.attempt_finished(target, report, cost, now);
        if report.outcome.is_success() {
            self.telemetry
                .track_latency(target, report.first_token.unwrap_or(report.latency), now);
        }
        self.spend_cost_cap(target, cost, now);
    }

    /// What the attempt's end means for a plan still undecided: served, a stream to resume,
    /// a request that cannot succeed elsewhere, or (by returning) another try from `next`.
    fn after_attempt(
        &mut self,
        plan: &mut Plan,
        attempt: AttemptId,
        target: TargetId,
        report: &AttemptReport,
        now: Instant,
    ) {
        match report.outcome {
            Outcome::Success => {
                // A whole reply's hedge that lost, still on its way, is cancelled by the
                // finish, booked as at a stream's commit (`finish`).
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
    /// the first such error; any other attempt still out is cancelled (booked the prompt's
    /// estimate, as at a commit), since the caller already holds part of this answer.
    /// Otherwise the request ends with the error.
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
        self.cancel_others(plan, None, now);
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

    pub(super) fn log_transition(
        &mut self,
        target: TargetId,
        transition: Option<Transition>,
        now: Instant,
    ) {
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
}

fn t_window(params: &RouterParams, target: TargetId) -> u32 {
    params.targets[target.index()].context_window
}

/// The prompt tokens `attempt` was sent, by the request's estimate: a continuation was sent the
/// caller's delivered tokens too, as its prefill.
fn sent_prompt(plan: &Plan, attempt: AttemptId) -> u32 {
    let prefill = match plan.continuation() {
        Some(c) if plan.is_continuation(attempt) => c.delivered_tokens,
        _ => 0,
    };
    plan.prompt_tokens.saturating_add(prefill)
}
