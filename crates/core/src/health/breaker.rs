//! The circuit breaker of one target.
//!
//! A breaker watches the outcomes that count against health (see `outcome`) and stops
//! sending traffic to a target that is failing, then brings traffic back carefully.
//!
//! Transitions (numbered as in the tests):
//!
//! 1. Closed → Open: `consecutive_failures` in a row, or — once the sliding window holds at
//!    least `min_calls` — a failure rate ≥ `failure_rate`, or a slow-call rate ≥
//!    `slow_call_rate` (a call is slow when its time to first token exceeds `slow_call`).
//! 2. Open → HalfOpen: the cooldown elapsed. The cooldown is `open_for · 2^reopens`, capped
//!    at `open_max`, or the provider's Retry-After when that is longer.
//! 3. HalfOpen → Recovering: `probe_successes` probes succeeded. At most `probes` probes are
//!    in flight at once; other requests see the target as unavailable.
//! 4. HalfOpen → Open: a probe failed, or its lease ran out (a probe unreported after its
//!    attempt's timeout counts as failed, so a lost probe cannot wedge the breaker half-open);
//!    `reopens` grows, so the next cooldown is longer (capped at `open_max`).
//! 5. Recovering → Closed: `recovery` elapsed without a failure. Meanwhile the target's share
//!    of traffic ramps linearly from `recovery_start_share` to 1.
//! 6. Recovering → Open: a failure while recovering; `reopens` grows.
//! 7. A peer's advisory (a fleet's shared state, `crate::fleet`): Closed, HalfOpen or
//!    Recovering → Open until the advised time (an Open breaker keeps the later `until`);
//!    HalfOpen, or Open with its cooldown over by the ramp's start, → Recovering since the
//!    advised `since` (a Recovering breaker keeps the earlier `since`: one ramp fleet-wide).
//!    Both bounded like the breaker's own: an advised cooldown ends at most `open_max` from
//!    `now`, and a `since` in the future is ignored.
//!
//! Probes carry a [`ProbeTicket`]: the half-open period's generation and a lease. A report
//! from a probe of an earlier half-open period (a stale ticket) is taken as an ordinary call,
//! never as this period's probe.
//!
//! Manual modes set by an operator win over all of this: `ForcedOpen` admits nothing,
//! `Disabled` admits everything and tracks nothing, `MetricsOnly` runs the automaton and
//! reports its transitions but admits everything. `restore` returns to automatic, Closed.
//! Rate-limit replies never reach the breaker: they park the target instead (`limits`).

use super::window::Window;
use crate::time::{Duration, Instant};

/// A breaker's validated settings (a target's or the router's `breaker:`); the defaults
/// are [`BreakerParams::default`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerParams {
    /// Trip after this many counted failures in a row; 0 turns the rule off.
    pub consecutive_failures: u32,
    /// Trip when counted failures / calls in the window reach this (0 < r ≤ 1).
    pub failure_rate: f64,
    /// Trip when slow calls / calls in the window reach this (0 < r ≤ 1).
    pub slow_call_rate: f64,
    /// A call whose first token took longer than this is slow.
    pub slow_call: Duration,
    /// Span of the sliding window.
    pub window: Duration,
    /// The rate rules apply only once the window holds this many calls.
    pub min_calls: u32,
    /// First cooldown.
    pub open_for: Duration,
    /// Longest cooldown, whatever the number of re-opens or the provider's Retry-After: a
    /// provider that recovers is probed again at most this long after its recovery.
    pub open_max: Duration,
    /// Probes allowed in flight at once while half-open (≥ 1).
    pub probes: u32,
    /// Successful probes needed to start recovering (≥ 1).
    pub probe_successes: u32,
    /// How long the ramp back to full share lasts.
    pub recovery: Duration,
    /// Share of traffic at the start of the ramp (0 < s ≤ 1).
    pub recovery_start_share: f64,
}

impl Default for BreakerParams {
    fn default() -> Self {
        BreakerParams {
            consecutive_failures: 5,
            failure_rate: 0.5,
            slow_call_rate: 1.0,
            slow_call: Duration::from_secs(30),
            window: Duration::from_secs(30),
            min_calls: 20,
            open_for: Duration::from_secs(5),
            open_max: Duration::from_secs(20),
            probes: 1,
            probe_successes: 3,
            recovery: Duration::from_secs(30),
            recovery_start_share: 0.1,
        }
    }
}

/// Where the automaton is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Healthy: every attempt admitted; outcomes are counted towards tripping.
    Closed,
    /// Tripped: nothing admitted until the cooldown ends.
    Open {
        /// When the cooldown ends and the breaker turns half-open (at the next `poll`).
        until: Instant,
    },
    /// Probing: at most `probes` attempts at once, each a probe.
    HalfOpen,
    /// Probes succeeded: traffic ramps back up; one failure re-opens.
    Recovering {
        /// When the ramp began; it ends `recovery` later.
        since: Instant,
    },
}

/// Who decides admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerMode {
    /// The automaton does.
    Automatic,
    /// An operator: nothing is admitted; the automaton still counts outcomes.
    ForcedOpen,
    /// An operator: everything is admitted and nothing is tracked (outcomes and polls are
    /// ignored, the state stays as it was).
    Disabled,
    /// An operator: everything is admitted; the automaton runs and reports its transitions,
    /// as a dry run of the settings.
    MetricsOnly,
}

impl BreakerMode {
    /// Every mode, in the order messages list them.
    pub const ALL: [BreakerMode; 4] = [
        BreakerMode::ForcedOpen,
        BreakerMode::Disabled,
        BreakerMode::MetricsOnly,
        BreakerMode::Automatic,
    ];
    /// The modes as an operator writes them, for messages.
    pub const CHOICES: &'static str = "forced_open, disabled, metrics_only or automatic";

    /// The mode a label names (`forced_open`, `disabled`, `metrics_only`, `automatic`).
    pub fn from_label(label: &str) -> Option<BreakerMode> {
        Self::ALL.into_iter().find(|m| m.label() == label)
    }

    /// The mode as an operator writes it (`forced_open`), for commands, logs and reports.
    pub const fn label(self) -> &'static str {
        match self {
            BreakerMode::Automatic => "automatic",
            BreakerMode::ForcedOpen => "forced_open",
            BreakerMode::Disabled => "disabled",
            BreakerMode::MetricsOnly => "metrics_only",
        }
    }
}

impl BreakerState {
    /// The state's name (`closed`, `open`, `half_open`, `recovering`), for logs, metrics
    /// and reports.
    pub const fn label(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Recovering { .. } => "recovering",
        }
    }
}

/// Why a transition happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionReason {
    /// Transition 1: `consecutive_failures` counted failures in a row.
    ConsecutiveFailures,
    /// Transition 1: the window's failure rate reached `failure_rate`.
    FailureRate,
    /// Transition 1: the window's slow-call rate reached `slow_call_rate`.
    SlowCalls,
    /// Transition 2: the cooldown is over.
    CooldownElapsed,
    /// Transition 3: `probe_successes` probes succeeded.
    ProbesSucceeded,
    /// Transition 4: a probe failed.
    ProbeFailed,
    /// Transition 4: a probe's lease ran out before it reported.
    ProbeExpired,
    /// Transition 5: `recovery` passed without a failure.
    RecoveryComplete,
    /// Transition 6: a failure while recovering.
    FailedWhileRecovering,
    /// Transition 7: a peer's advisory (the fleet's shared state) opened the breaker, or
    /// started its recovery ramp.
    PeerAdvisory,
}

impl TransitionReason {
    /// The reason in snake case (`probe_expired`), for logs and reports.
    pub const fn label(self) -> &'static str {
        match self {
            TransitionReason::ConsecutiveFailures => "consecutive_failures",
            TransitionReason::FailureRate => "failure_rate",
            TransitionReason::SlowCalls => "slow_calls",
            TransitionReason::CooldownElapsed => "cooldown_elapsed",
            TransitionReason::ProbesSucceeded => "probes_succeeded",
            TransitionReason::ProbeFailed => "probe_failed",
            TransitionReason::ProbeExpired => "probe_expired",
            TransitionReason::RecoveryComplete => "recovery_complete",
            TransitionReason::FailedWhileRecovering => "failed_while_recovering",
            TransitionReason::PeerAdvisory => "peer_advisory",
        }
    }
}

/// A change of state, for telemetry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
    /// Why.
    pub reason: TransitionReason,
}

/// What the breaker thinks of one result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthSignal {
    /// The target answered: resets the consecutive-failure count.
    Success,
    /// A failure that counts against the target's health.
    Failure,
    /// Says nothing about health (rate limits, bad requests, cancelled hedges).
    Neutral,
}

/// Whether a new attempt may go to the target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Admission {
    /// Not now: open, forced open, or half-open with every probe slot taken.
    Denied,
    /// Admitted; `share` < 1 while recovering (the caller admits with that probability).
    Allowed {
        /// The fraction of traffic the target may take, in `recovery_start_share..=1`.
        share: f64,
    },
    /// Admitted as a half-open probe: the caller must call `probe_started`.
    Probe,
}

/// Identifies one half-open probe: which half-open period it belongs to, and its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTicket {
    generation: u32,
    lease: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lease {
    id: u32,
    /// When the probe counts as failed if it has not reported.
    expires: Instant,
}

/// One target's circuit breaker: the automaton of the module documentation, plus the
/// operator's mode. It reads no clock: every call takes `now`.
#[derive(Clone, Debug)]
pub struct Breaker {
    params: BreakerParams,
    mode: BreakerMode,
    state: BreakerState,
    window: Window,
    consecutive: u32,
    reopens: u32,
    /// Probes out in the current half-open period (at most `probes`).
    leases: Vec<Lease>,
    /// Counts half-open periods, so a probe from an earlier one is recognised.
    generation: u32,
    next_lease: u32,
    probe_successes: u32,
}

impl Breaker {
    /// Closed, automatic, with an empty window.
    pub fn new(params: BreakerParams) -> Self {
        Breaker {
            window: Window::new(params.window),
            params,
            mode: BreakerMode::Automatic,
            state: BreakerState::Closed,
            consecutive: 0,
            reopens: 0,
            leases: Vec::new(),
            generation: 0,
            next_lease: 0,
            probe_successes: 0,
        }
    }

    /// Where the automaton is, as of the last call (an `Open` whose `until` has passed stays
    /// `Open` until `poll`).
    pub fn state(&self) -> BreakerState {
        self.state
    }
    /// The state a request arriving at `now` would find: [`state`](Self::state) with the
    /// time-driven transitions due by `now` applied (an `Open` whose cooldown ended is
    /// `HalfOpen`), the breaker itself unchanged. For views that read a clock (the gateway's
    /// admin state and metrics): the breaker moves only when it is polled, by traffic.
    pub fn state_at(&self, now: Instant) -> BreakerState {
        let mut ahead = self.clone();
        // At most two transitions are due at once (an expired lease, then its cooldown).
        for _ in 0..3 {
            if ahead.poll(now).is_none() {
                break;
            }
        }
        ahead.state
    }
    /// Who decides admission.
    pub fn mode(&self) -> BreakerMode {
        self.mode
    }
    /// Probes out in this half-open period: started and not yet reported (one whose lease
    /// ran out counts until `poll` re-opens the breaker).
    pub fn probes_in_flight(&self) -> u32 {
        self.leases.len() as u32
    }
    /// The settings it was made with.
    pub fn params(&self) -> &BreakerParams {
        &self.params
    }

    /// Applies the next time-driven transition (2, 4 on an expired lease, or 5) due at `now`.
    /// Call it until it returns `None`: a late poll may find two due (4, then 2).
    pub fn poll(&mut self, now: Instant) -> Option<Transition> {
        if self.mode == BreakerMode::Disabled {
            return None;
        }
        match self.state {
            BreakerState::Open { until } if now >= until => {
                self.leases.clear();
                self.probe_successes = 0;
                self.generation = self.generation.wrapping_add(1);
                Some(self.go(BreakerState::HalfOpen, TransitionReason::CooldownElapsed))
            }
            BreakerState::HalfOpen if self.leases.iter().any(|l| now >= l.expires) => {
                // Opened as of the moment the lease ran out, however late this poll is.
                let expired = self.leases.iter().map(|l| l.expires).min().unwrap_or(now);
                self.reopens = self.reopens.saturating_add(1);
                Some(self.open(expired, TransitionReason::ProbeExpired, None))
            }
            BreakerState::Recovering { since }
                if now.saturating_since(since) >= self.params.recovery =>
            {
                self.reopens = 0;
                self.consecutive = 0;
                self.window.clear();
                Some(self.go(BreakerState::Closed, TransitionReason::RecoveryComplete))
            }
            _ => None,
        }
    }

    /// May an attempt go to this target now? Call `poll` first.
    pub fn admission(&self, now: Instant) -> Admission {
        match self.mode {
            BreakerMode::ForcedOpen => return Admission::Denied,
            BreakerMode::Disabled | BreakerMode::MetricsOnly => {
                return Admission::Allowed { share: 1.0 };
            }
            BreakerMode::Automatic => {}
        }
        match self.state {
            BreakerState::Closed => Admission::Allowed { share: 1.0 },
            BreakerState::Open { .. } => Admission::Denied,
            BreakerState::HalfOpen if self.probes_in_flight() < self.params.probes => {
                Admission::Probe
            }
            BreakerState::HalfOpen => Admission::Denied,
            BreakerState::Recovering { since } => Admission::Allowed {
                share: self.share(since, now),
            },
        }
    }

    fn share(&self, since: Instant, now: Instant) -> f64 {
        let ramp = self.params.recovery.as_nanos().max(1) as f64;
        let progress = (now.saturating_since(since).as_nanos() as f64 / ramp).min(1.0);
        let start = self.params.recovery_start_share;
        start + (1.0 - start) * progress
    }

    /// A probe was sent (after `admission` said `Probe`). Unless it reports within `lease`, it
    /// counts as failed (see `poll`).
    pub fn probe_started(&mut self, now: Instant, lease: Duration) -> ProbeTicket {
        let id = self.next_lease;
        self.next_lease = self.next_lease.wrapping_add(1);
        self.leases.push(Lease {
            id,
            expires: now + lease,
        });
        ProbeTicket {
            generation: self.generation,
            lease: id,
        }
    }

    /// The probe is a stream that delivered its first token: the target answers, which is
    /// what a probe asks. It counts as a successful probe now (a long stream must not hold
    /// the half-open slot to its end); the stream's own end is then an ordinary call.
    pub fn probe_answered(&mut self, now: Instant, ticket: ProbeTicket) -> Option<Transition> {
        if self.mode == BreakerMode::Disabled {
            return None;
        }
        self.record(now, HealthSignal::Success, false, Some(ticket), None)
    }

    /// Ends the lease of `ticket`; true when it was a live probe of this half-open period.
    fn release(&mut self, ticket: Option<ProbeTicket>) -> bool {
        let Some(t) = ticket else {
            return false;
        };
        if t.generation != self.generation || self.state != BreakerState::HalfOpen {
            return false;
        }
        match self.leases.iter().position(|l| l.id == t.lease) {
            Some(i) => {
                self.leases.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Folds in the result of an attempt. `probe` is the ticket it got if it was admitted as
    /// a probe; `retry_after` is the provider's hint, which lengthens a cooldown (up to
    /// `open_max`).
    pub fn record(
        &mut self,
        now: Instant,
        signal: HealthSignal,
        slow: bool,
        probe: Option<ProbeTicket>,
        retry_after: Option<Duration>,
    ) -> Option<Transition> {
        if self.mode == BreakerMode::Disabled {
            return None;
        }
        let probe = self.release(probe);
        let failed = match signal {
            HealthSignal::Neutral => return None,
            HealthSignal::Failure => true,
            HealthSignal::Success => false,
        };
        self.window.record(now, failed, slow);
        self.consecutive = if failed {
            self.consecutive.saturating_add(1)
        } else {
            0
        };
        match (self.state, failed) {
            (BreakerState::Closed, _) if slow || failed => self
                .trip_reason(now)
                .map(|reason| self.open(now, reason, retry_after)),
            (BreakerState::HalfOpen, true) if probe => {
                self.reopens = self.reopens.saturating_add(1);
                Some(self.open(now, TransitionReason::ProbeFailed, retry_after))
            }
            (BreakerState::HalfOpen, false) if probe => {
                self.probe_successes = self.probe_successes.saturating_add(1);
                (self.probe_successes >= self.params.probe_successes).then(|| {
                    self.leases.clear();
                    self.go(
                        BreakerState::Recovering { since: now },
                        TransitionReason::ProbesSucceeded,
                    )
                })
            }
            (BreakerState::Recovering { .. }, true) => {
                self.reopens = self.reopens.saturating_add(1);
                Some(self.open(now, TransitionReason::FailedWhileRecovering, retry_after))
            }
            _ => None,
        }
    }

    fn trip_reason(&self, now: Instant) -> Option<TransitionReason> {
        let p = &self.params;
        if p.consecutive_failures > 0 && self.consecutive >= p.consecutive_failures {
            return Some(TransitionReason::ConsecutiveFailures);
        }
        let totals = self.window.totals(now);
        if totals.calls < p.min_calls.max(1) {
            return None;
        }
        let calls = f64::from(totals.calls);
        if f64::from(totals.failures) / calls >= p.failure_rate {
            Some(TransitionReason::FailureRate)
        } else if f64::from(totals.slow) / calls >= p.slow_call_rate {
            Some(TransitionReason::SlowCalls)
        } else {
            None
        }
    }

    /// The cooldown for the current number of re-opens: `open_for · 2^reopens`, or the
    /// provider's Retry-After when longer, never more than `open_max`.
    pub fn cooldown(&self, retry_after: Option<Duration>) -> Duration {
        let factor = 1u64 << self.reopens.min(20);
        let max = self.params.open_max.max(self.params.open_for);
        let grown = self.params.open_for.saturating_mul(factor).min(max);
        grown.max(retry_after.unwrap_or(Duration::ZERO).min(max))
    }

    fn open(
        &mut self,
        now: Instant,
        reason: TransitionReason,
        retry_after: Option<Duration>,
    ) -> Transition {
        let until = now + self.cooldown(retry_after);
        self.consecutive = 0;
        self.leases.clear();
        self.probe_successes = 0;
        self.go(BreakerState::Open { until }, reason)
    }

    fn go(&mut self, to: BreakerState, reason: TransitionReason) -> Transition {
        let from = self.state;
        self.state = to;
        Transition { from, to, reason }
    }

    /// Transition 7: a peer says the target is open until `until` (see the module doc).
    /// Nothing changes in the `Disabled` mode or for an `until` already past.
    pub fn advised_open(&mut self, until: Instant, now: Instant) -> Option<Transition> {
        if self.mode == BreakerMode::Disabled || until <= now {
            return None;
        }
        let until = until.min(now + self.params.open_max.max(self.params.open_for));
        match self.state {
            BreakerState::Open { until: current } => {
                if until > current {
                    self.state = BreakerState::Open { until };
                }
                None
            }
            _ => {
                self.consecutive = 0;
                self.leases.clear();
                self.probe_successes = 0;
                Some(self.go(BreakerState::Open { until }, TransitionReason::PeerAdvisory))
            }
        }
    }

    /// Transition 7: a peer's probes succeeded and the fleet's recovery ramp began at
    /// `since` (see the module doc).
    pub fn advised_recovering(&mut self, since: Instant, now: Instant) -> Option<Transition> {
        if self.mode == BreakerMode::Disabled || since > now {
            return None;
        }
        match self.state {
            BreakerState::HalfOpen => {}
            BreakerState::Open { until } if until <= since => {}
            BreakerState::Recovering { since: current } => {
                if since < current {
                    self.state = BreakerState::Recovering { since };
                }
                return None;
            }
            _ => return None,
        }
        self.leases.clear();
        self.probe_successes = 0;
        Some(self.go(
            BreakerState::Recovering { since },
            TransitionReason::PeerAdvisory,
        ))
    }

    /// An operator sets the mode (forced open, disabled, metrics only).
    pub fn force(&mut self, mode: BreakerMode) {
        self.mode = mode;
    }

    /// Back to automatic, Closed, with a clean window.
    pub fn restore(&mut self) {
        *self = Breaker::new(self.params);
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
