//! Failover plans: the sequence of attempts one request makes.
//!
//! `Router::begin` makes a [`Plan`]; the driver then loops on `Router::next(&mut plan, now)`
//! and does what the [`Action`] says — send an attempt, wait until a time, await an
//! outstanding attempt, or finish — and reports every attempt it sent with `Router::record`.
//! The plan is bounded four ways: `max_attempts`, a per-attempt timeout, one overall
//! deadline that covers every retry and fallback, and the shared retry budget (`budget`).
//!
//! How the next attempt is chosen, in order:
//! 1. a target this request has not tried yet, immediately (failover);
//! 2. else a target it tried whose failure was retryable, after a backoff with jitter
//!    (`backoff_base · 2^n`, capped at `backoff_max`; half fixed, half random);
//! 3. else, when targets are only parked by rate limits and unpark before the deadline,
//!    wait for them;
//! 4. else the route's fallback route, if it has one;
//! 5. else finish with the last attempt's error.
//!
//! Retries and hedges withdraw from the retry budget; first attempts deposit into it. A
//! streaming request fails over only until its first token reached the caller. With hedging,
//! a second attempt goes to another target when the first has not produced a first token
//! after `hedge_after`; the first reply wins and the driver cancels the other.

pub mod budget;

use crate::id::{RouteId, TargetId};
use crate::outcome::{AttemptRecord, ErrorKind, FinalOutcome, Outcome};
use crate::request::Capabilities;
use crate::time::{Duration, Instant};

pub use budget::{BudgetParams, RetryBudget};

/// The most attempts one request may make (so a plan lives inline, without allocating).
pub const MAX_ATTEMPTS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanParams {
    /// Attempts per request, first one included (1..=8).
    pub max_attempts: u32,
    /// Longest one attempt may take.
    pub attempt_timeout: Duration,
    /// Longest wait for an attempt's first token (streaming or not), if set.
    pub first_token_timeout: Option<Duration>,
    /// Overall limit for the request, every retry and fallback included.
    pub deadline: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Send a hedge to another target when no first token arrived after this long.
    pub hedge_after: Option<Duration>,
}

impl Default for PlanParams {
    fn default() -> Self {
        PlanParams {
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(60),
            first_token_timeout: None,
            deadline: Duration::from_secs(120),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            hedge_after: None,
        }
    }
}

/// Which attempt of a plan (its index in the plan's story).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptId(pub u8);

/// What the driver should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send attempt `attempt` to `target`, giving up after `timeout` (already capped by the
    /// deadline), or after `first_token_timeout` without a first token.
    Send {
        attempt: AttemptId,
        target: TargetId,
        timeout: Duration,
        first_token_timeout: Option<Duration>,
        hedge: bool,
    },
    /// Nothing to do before `until` (a backoff, a parked target, a hedge timer), unless an
    /// outstanding attempt reports first.
    Wait { until: Instant },
    /// Nothing to do until an outstanding attempt reports.
    Await,
    /// The request is over.
    Finish(FinalOutcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Ready to choose the next attempt.
    Ready,
    /// Backing off before retrying a target already tried.
    Backoff {
        until: Instant,
    },
    /// Waiting for a parked target to unpark.
    Parked {
        until: Instant,
    },
    Done(FinalOutcome),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub record: AttemptRecord,
    pub probe: bool,
    pub done: bool,
}

/// One request's failover plan. Lives inline: no allocation per request.
#[derive(Clone, Debug)]
pub struct Plan {
    pub(crate) route: Option<RouteId>,
    /// The route the request resolved to first (its telemetry is counted there).
    pub(crate) home_route: Option<RouteId>,
    pub(crate) needs: Capabilities,
    pub(crate) prompt_tokens: u32,
    pub(crate) max_tokens: u32,
    pub(crate) stream: bool,
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
    pub(crate) slots: [Option<Slot>; MAX_ATTEMPTS],
    pub(crate) len: u8,
    pub(crate) in_flight: u8,
    pub(crate) phase: Phase,
    pub(crate) hedged: bool,
    pub(crate) first_token: bool,
    pub(crate) backoffs: u8,
    pub(crate) fallback_hops: u8,
    /// After `context_length_exceeded`, only targets with at least this window qualify.
    pub(crate) min_context: u32,
}

impl Plan {
    pub fn route(&self) -> Option<RouteId> {
        self.route
    }
    /// The route the request resolved to at the start (before any fallback): its telemetry
    /// is counted there.
    pub fn home_route(&self) -> Option<RouteId> {
        self.home_route
    }
    pub fn started(&self) -> Instant {
        self.started
    }
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
    /// The request's estimated prompt tokens and its `max_tokens`.
    pub fn traits(&self) -> (u32, u32) {
        (self.prompt_tokens, self.max_tokens)
    }
    /// Attempts sent so far.
    pub fn attempts(&self) -> usize {
        usize::from(self.len)
    }
    pub fn in_flight(&self) -> usize {
        usize::from(self.in_flight)
    }
    /// The final outcome, once there is one.
    pub fn outcome(&self) -> Option<FinalOutcome> {
        match self.phase {
            Phase::Done(o) => Some(o),
            _ => None,
        }
    }
    /// The request's story: every attempt, in the order sent.
    pub fn history(&self) -> impl Iterator<Item = &AttemptRecord> {
        self.slots.iter().flatten().map(|s| &s.record)
    }

    pub(crate) fn tried(&self, target: TargetId) -> bool {
        self.history().any(|r| r.target == target)
    }

    /// A target whose attempt ended in a kind that may not be retried on it.
    pub(crate) fn excluded(&self, target: TargetId) -> bool {
        self.history().any(|r| {
            r.target == target && r.outcome.error_kind().is_some_and(|k| !k.is_retryable())
        })
    }

    /// The last error any finished attempt of this request returned.
    pub(crate) fn last_error(&self) -> Option<ErrorKind> {
        self.history().filter_map(|r| r.outcome.error_kind()).last()
    }

    /// The target of the first attempt (the only one allowed while failover is frozen).
    pub(crate) fn first_target(&self) -> Option<TargetId> {
        self.history().next().map(|r| r.target)
    }

    pub(crate) fn push(&mut self, record: AttemptRecord, probe: bool) -> AttemptId {
        let id = self.len;
        if let Some(slot) = self.slots.get_mut(usize::from(id)) {
            *slot = Some(Slot {
                record,
                probe,
                done: false,
            });
            self.len += 1;
            self.in_flight += 1;
        }
        AttemptId(id)
    }

    pub(crate) fn complete(
        &mut self,
        attempt: AttemptId,
        outcome: Outcome,
        latency: Duration,
    ) -> Option<Slot> {
        let slot = self.slots.get_mut(usize::from(attempt.0))?.as_mut()?;
        if slot.done {
            return None;
        }
        slot.done = true;
        slot.record.outcome = outcome;
        slot.record.latency = latency;
        self.in_flight = self.in_flight.saturating_sub(1);
        Some(*slot)
    }
}
