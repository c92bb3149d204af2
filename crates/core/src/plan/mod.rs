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
//! streaming request fails over only until its first token reached the caller (after that,
//! only a route with `resume: prefill` goes on, with a continuation). With hedging,
//! a second attempt goes to another target when the first has not produced a first token
//! after `hedge_after`; the first reply wins. The core cancels the other as that reply
//! serves the request (`Router::record`), booked the request's estimated prompt, which it
//! was sent, as a stream's is at its commit; the driver drops it.
//!
//! Commit and abandon: the first attempt of a stream to yield a token is *committed*
//! (`Router::first_token`): every other attempt is cancelled there and then (booked the
//! request's estimated prompt, which it was sent), and from then on only the committed
//! attempt decides the request. A caller that goes away ends the plan with
//! `Router::abandon`: outstanding attempts are recorded `cancelled` and the request is counted
//! once, as `abandoned`. No attempt is ever chosen to close a plan.
//!
//! Resume (a route's `resume: prefill`): when the committed attempt of a stream fails after
//! its first token, the request is not over. The plan remembers the error and the tokens
//! delivered, un-commits, and `next` sends a *continuation* (`Action::Send` with
//! `continuation: Some(..)`) to another member with the `prefill` capability: eligible as
//! usual, not a target whose stream broke or whose continuation failed in this request. Its
//! first token commits it like any stream's; its success serves the request. A continuation
//! that fails before its first token (a 400 that refuses the prefill included) moves on to
//! the next capable member; a continuation that breaks mid-way resumes again. Continuations
//! count against `max_attempts`, the deadline and the retry budget, and are never hedged.
//! When none is left, the request fails with the *first* mid-stream error (never a
//! continuation's own error), so the caller learns its stream broke.
//!
//! Provider hints are bounded: a Retry-After (or a rate-limit reset) counts for at most
//! `retry_after_max`; a same-target retry after an error that carried one waits for it; and a
//! request waits for a parked target at most `park_wait_max`, else it fails fast with the
//! time the caller should retry after (`Plan::retry_after`).
//!
//! Timeouts, the same in every driver:
//! - a non-streaming attempt: `attempt_timeout` for the whole reply;
//! - a streaming attempt, before its first token: `first_token_timeout` (default
//!   `attempt_timeout`); after it: `idle_timeout` between chunks, and `stream_timeout` over
//!   the whole stream when set;
//! - the request's `deadline` bounds the time until an answer is committed (a whole reply, or
//!   a stream's first token), every retry and fallback included; a committed stream is then
//!   bounded by its idle and stream timeouts only.

pub mod budget;

use crate::health::breaker::ProbeTicket;
use crate::id::{RouteId, TargetId};
use crate::outcome::{AttemptRecord, ErrorKind, FinalOutcome, Outcome};
use crate::request::Capabilities;
use crate::time::{Duration, Instant};

pub use budget::{BudgetParams, RetryBudget};

/// The most attempts one request may make (so a plan lives inline, without allocating).
pub const MAX_ATTEMPTS: usize = 8;

/// The router's validated `plan:` settings: how many attempts a request may make, how long
/// each may take, and how it waits between them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanParams {
    /// Attempts per request, first one included (1..=8).
    pub max_attempts: u32,
    /// Longest a non-streaming attempt may take (and, unless `first_token_timeout` is set, a
    /// streaming attempt's wait for its first token).
    pub attempt_timeout: Duration,
    /// Longest a streaming attempt may wait for its first token, if set.
    pub first_token_timeout: Option<Duration>,
    /// Longest gap between two chunks of a stream after its first token, if set.
    pub idle_timeout: Option<Duration>,
    /// Longest a whole stream may take from its send, if set.
    pub stream_timeout: Option<Duration>,
    /// The longest a provider's Retry-After or rate-limit reset is taken to mean.
    pub retry_after_max: Duration,
    /// The longest a request waits for a parked target (or a same-target Retry-After) before
    /// it fails fast.
    pub park_wait_max: Duration,
    /// Overall limit for the request, every retry and fallback included.
    pub deadline: Duration,
    /// The first retry's backoff: the `n`-th retry of a tried target waits between half and
    /// all of `backoff_base · 2^n` (the rest random), capped at `backoff_max`.
    pub backoff_base: Duration,
    /// The longest backoff.
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
            idle_timeout: Some(Duration::from_secs(30)),
            stream_timeout: None,
            retry_after_max: Duration::from_secs(20),
            park_wait_max: Duration::from_secs(2),
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

/// A set of a plan's attempts (the ones `Router::first_token` cancelled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttemptSet(u8);

impl AttemptSet {
    /// No attempt.
    pub const EMPTY: AttemptSet = AttemptSet(0);
    pub(crate) fn insert(&mut self, a: AttemptId) {
        self.0 |= 1u8.checked_shl(u32::from(a.0)).unwrap_or(0);
    }
    /// Whether `a` is in the set (never, for an id of [`MAX_ATTEMPTS`] or more).
    pub fn contains(self, a: AttemptId) -> bool {
        self.0 & 1u8.checked_shl(u32::from(a.0)).unwrap_or(0) != 0
    }
    /// Whether the set holds no attempt.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The attempts in the set, lowest id first.
    pub fn iter(self) -> impl Iterator<Item = AttemptId> {
        (0..MAX_ATTEMPTS as u8)
            .map(AttemptId)
            .filter(move |&a| self.contains(a))
    }
}

/// How long an attempt may take, by phase (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Non-streaming: the whole attempt. Streaming: until the first token. Already capped by
    /// the request's deadline.
    pub first: Duration,
    /// Streaming, after the first token: the longest gap between chunks.
    pub idle: Option<Duration>,
    /// Streaming: the longest the whole stream may take from its send.
    pub total: Option<Duration>,
}

/// Marks an attempt that continues a broken stream: the driver sends the request with the
/// text the caller already received as a final assistant message (trailing whitespace
/// trimmed), asks for at most the output left, and streams only what the target adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Continuation {
    /// Tokens the caller received before the stream broke (the sum of the
    /// `completion_tokens` the broken attempts reported).
    pub delivered_tokens: u32,
}

/// What the driver should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send attempt `attempt` to `target`, within `timeouts`.
    Send {
        /// The attempt's id, for `Router::record` (and `first_token`).
        attempt: AttemptId,
        /// Where to send it.
        target: TargetId,
        /// Its limits; the driver enforces them and reports a timeout as the outcome.
        timeouts: Timeouts,
        /// The attempt races one still in flight (sent after `hedge_after` without a first
        /// token); the first answer wins and the core cancels the other.
        hedge: bool,
        /// Set when the attempt continues a stream that broke after its first token.
        continuation: Option<Continuation>,
    },
    /// Nothing to do before `until` (a backoff, a parked target, a hedge timer), unless an
    /// outstanding attempt reports first.
    Wait {
        /// When to call `next` again.
        until: Instant,
    },
    /// Nothing to do until an outstanding attempt reports.
    Await,
    /// The request is over.
    Finish(FinalOutcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
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
    /// The breaker's ticket when the attempt went as a half-open probe.
    pub probe: Option<ProbeTicket>,
    pub done: bool,
}

/// A stream that broke after its first token, being resumed (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resume {
    /// The first mid-stream error: the request's error if no continuation completes.
    pub kind: ErrorKind,
    /// Tokens the caller has received so far.
    pub delivered: u32,
    /// Attempts that broke mid-stream or were continuations: their targets may not continue.
    pub spent: AttemptSet,
    /// Attempts sent before the first break; every later one is a continuation.
    pub since: u8,
}

/// One request's failover plan. Lives inline: no allocation per request.
#[derive(Clone, Debug)]
pub struct Plan {
    pub(crate) route: Option<RouteId>,
    /// The route the request resolved to first (its telemetry is counted there).
    pub(crate) home_route: Option<RouteId>,
    pub(crate) needs: Capabilities,
    pub(crate) prompt_tokens: u32,
    /// The request's `max_tokens`, when it set one.
    pub(crate) max_tokens: Option<u32>,
    pub(crate) stream: bool,
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
    pub(crate) slots: [Option<Slot>; MAX_ATTEMPTS],
    pub(crate) len: u8,
    pub(crate) in_flight: u8,
    pub(crate) stage: Stage,
    pub(crate) hedged: bool,
    /// The attempt whose first token reached the caller: it alone decides the request now.
    pub(crate) committed: Option<AttemptId>,
    /// When the plan failed fast on parked targets: how long the caller should wait.
    pub(crate) retry_after: Option<Duration>,
    pub(crate) backoffs: u8,
    pub(crate) fallback_hops: u8,
    /// After `context_length_exceeded`, only targets with at least this window qualify.
    pub(crate) min_context: u32,
    /// Set once a stream broke after its first token on a route that resumes.
    pub(crate) resume: Option<Resume>,
    /// The driver cannot continue this stream (it delivered something a prefill cannot
    /// carry, such as a tool call): a break ends the request.
    pub(crate) resume_forbidden: bool,
    /// Targets whose dialect cannot express the request ([`Plan::exclude_unfit`]). Empty,
    /// and so unallocated, for every request that needs nothing a dialect lacks.
    pub(crate) unfit: Vec<TargetId>,
    /// The request named this target rather than a route: it alone may serve (no failover
    /// to other targets, no fallback route); its books go to `home_route`.
    pub(crate) pin: Option<TargetId>,
    /// What the attempts recorded so far cost, each by its report's tokens at its target's
    /// price (the figure telemetry books per target), and the part from attempts that did
    /// not succeed.
    pub(crate) cost: f64,
    pub(crate) wasted_cost: f64,
    /// The tokens those attempts reported, summed: what [`Plan::cost`] prices (the cached
    /// prompt tokens among them at the cached rate).
    pub(crate) tokens: crate::request::Usage,
    /// Some of `tokens` are estimates: an attempt reported `usage_missing`.
    pub(crate) tokens_estimated: bool,
}

impl Plan {
    /// The route the plan is on now (its fallback route after a fallback); `None` for a
    /// request whose route is unknown.
    pub fn route(&self) -> Option<RouteId> {
        self.route
    }
    /// The route the request resolved to at the start (before any fallback): its telemetry
    /// is counted there.
    pub fn home_route(&self) -> Option<RouteId> {
        self.home_route
    }
    /// The target the request named in place of a route, if it did.
    pub fn pinned_target(&self) -> Option<TargetId> {
        self.pin
    }
    /// When `Router::begin` made the plan.
    pub fn started(&self) -> Instant {
        self.started
    }
    /// What this request's attempts cost so far: each recorded attempt's reported tokens at
    /// its target's price, as telemetry books them per target. An attempt on its way when
    /// its caller left, or when the request was committed to another attempt or finished (a
    /// hedge that lost, streamed or not; one still out when an error failed the request), is
    /// booked the request's estimated prompt (`Router::caller_left`, `Router::first_token`,
    /// `Router::record`); one that failed without usage, a timeout included, reported no
    /// tokens and costs nothing; a stream cancelled mid-way reports what it generated.
    pub fn cost(&self) -> f64 {
        self.cost
    }
    /// The part of [`Plan::cost`] spent on attempts that did not succeed.
    pub fn wasted_cost(&self) -> f64 {
        self.wasted_cost
    }
    /// The prompt and completion tokens the attempts recorded so far reported, summed
    /// (saturating): the tokens [`Plan::cost`] prices.
    pub fn tokens(&self) -> crate::request::Usage {
        self.tokens
    }
    /// Whether some of [`Plan::tokens`] are the driver's estimates, not the vendor's count:
    /// an attempt recorded so far reported `usage_missing` (a reply without usage, an attempt
    /// cancelled before its first token and booked the prompt's estimate: its caller left,
    /// or it was a hedge that lost), as telemetry counts it.
    pub fn tokens_estimated(&self) -> bool {
        self.tokens_estimated
    }
    /// When the request's overall deadline runs out (`started + deadline`).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
    /// The request's estimated prompt tokens and its `max_tokens` (0 when it set none).
    pub fn traits(&self) -> (u32, u32) {
        (self.prompt_tokens, self.max_tokens.unwrap_or(0))
    }
    /// Attempts sent so far.
    pub fn attempts(&self) -> usize {
        usize::from(self.len)
    }
    /// Attempts sent and not yet recorded.
    pub fn in_flight(&self) -> usize {
        usize::from(self.in_flight)
    }
    /// The attempt committed to the caller (a stream's first token), if any.
    pub fn committed(&self) -> Option<AttemptId> {
        self.committed
    }
    /// When the request failed because its targets were parked (rate limits, Retry-After):
    /// how long the caller should wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
    /// While a broken stream is being resumed: what a continuation must know.
    pub fn continuation(&self) -> Option<Continuation> {
        self.resume.map(|r| Continuation {
            delivered_tokens: r.delivered,
        })
    }
    /// Whether this attempt was sent as a continuation of a broken stream.
    pub fn is_continuation(&self, attempt: AttemptId) -> bool {
        self.resume
            .is_some_and(|r| attempt.0 >= r.since && attempt.0 < self.len)
    }
    /// The driver says this stream cannot be continued (what reached the caller cannot be
    /// sent back as a prefill, such as a tool call): if it breaks, the request ends with its
    /// error, whatever the route's `resume`. Call it before `record`.
    pub fn forbid_resume(&mut self) {
        self.resume_forbidden = true;
    }
    /// Whether `target` may not take a continuation: its stream broke, or its continuation
    /// failed, in this request.
    pub(crate) fn spent_for_resume(&self, target: TargetId) -> bool {
        self.resume.is_some_and(|r| {
            r.spent
                .iter()
                .any(|a| self.slot(a).is_some_and(|s| s.record.target == target))
        })
    }
    /// Takes `target` out of this request's plan because its dialect cannot express the
    /// request (`dialect::check` said so): it is never chosen, and this counts against
    /// nothing — not its health, not its books. Drivers call it before the first `next`.
    /// When every member of the route and of its fallbacks is unfit, the request fails with
    /// `FailureReason::Unsupported`.
    pub fn exclude_unfit(&mut self, target: TargetId) {
        if !self.unfit.contains(&target) {
            self.unfit.push(target);
        }
    }
    /// Whether [`Plan::exclude_unfit`] took `target` out.
    pub fn is_unfit(&self, target: TargetId) -> bool {
        self.unfit.contains(&target)
    }
    /// Whether this attempt was sent and has not reported yet.
    pub fn is_outstanding(&self, attempt: AttemptId) -> bool {
        self.slot(attempt).is_some_and(|s| !s.done)
    }
    pub(crate) fn slot(&self, attempt: AttemptId) -> Option<&Slot> {
        self.slots.get(usize::from(attempt.0))?.as_ref()
    }
    /// Finished, with no attempt outstanding: [`crate::router::Router::abandon`] would
    /// change nothing (a driver dropping a finished plan skips it, and its clock read).
    pub fn is_settled(&self) -> bool {
        self.outcome().is_some() && self.slots.iter().flatten().all(|s| s.done)
    }
    /// The final outcome, once there is one.
    pub fn outcome(&self) -> Option<FinalOutcome> {
        match self.stage {
            Stage::Done(o) => Some(o),
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

    /// When this request may retry `target` again, if its last attempt there carried a
    /// Retry-After (already bounded by `retry_after_max`).
    pub(crate) fn not_before(&self, target: TargetId) -> Option<Instant> {
        let last = self.history().filter(|r| r.target == target).last()?;
        let wait = last.outcome.retry_after()?;
        Some(last.started + last.latency + wait)
    }

    /// The last error any finished attempt of this request returned.
    pub(crate) fn last_error(&self) -> Option<ErrorKind> {
        self.history().filter_map(|r| r.outcome.error_kind()).last()
    }

    /// The target of the first attempt (the only one allowed while failover is frozen).
    pub(crate) fn first_target(&self) -> Option<TargetId> {
        self.history().next().map(|r| r.target)
    }

    /// The tokens an attempt of this request on `target` reserves of its limits: the
    /// prompt's estimate and its completion
    /// ([`TargetParams::request_tokens`](crate::target::TargetParams::request_tokens)).
    pub fn request_tokens(&self, target: &crate::target::TargetParams) -> u64 {
        target.request_tokens(self.prompt_tokens, self.max_tokens)
    }

    pub(crate) fn push(&mut self, record: AttemptRecord, probe: Option<ProbeTicket>) -> AttemptId {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_set_holds_ids_below_max_attempts_only() {
        let mut s = AttemptSet::EMPTY;
        assert!(s.is_empty());
        for a in [5, 0, 7, 8, 200] {
            s.insert(AttemptId(a));
        }
        assert!(!s.is_empty());
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [AttemptId(0), AttemptId(5), AttemptId(7)]
        );
        assert!(!s.contains(AttemptId(8)) && !s.contains(AttemptId(200)));
    }
}
