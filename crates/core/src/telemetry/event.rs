//! Events: the things that happened to the routing, in time order, for timelines and alerts.
//! The log holds at most [`MAX_EVENTS`]; beyond that, events are counted but dropped, so a
//! flapping target cannot grow memory without bound.
//!
//! A driver that must see every event however long the run (to tally detections, breaker
//! openings and alerts as they happen) turns on the log's tap ([`EventLog::tap`]): every
//! event pushed from then on is also kept for the driver until it takes them with
//! [`EventLog::drain_tapped`]. The tap holds at most [`MAX_TAPPED`] events between two
//! drains; later ones are counted ([`EventLog::tap_lost`]), never kept, so a driver that
//! stops draining cannot grow memory either.

use crate::health::breaker::{BreakerMode, BreakerState, TransitionReason};
use crate::id::{RouteId, TargetId};
use crate::overrides::Override;
use crate::time::Instant;

/// The most events an [`EventLog`] keeps; later ones are only counted.
pub const MAX_EVENTS: usize = 10_000;

/// The most events the tap holds between two drains; later ones are only counted.
pub const MAX_TAPPED: usize = 10_000;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EventKind {
    /// A breaker changed state. `metrics_only` says the breaker only reports (does not block).
    Breaker {
        /// The target whose breaker it is.
        target: TargetId,
        /// The state it left.
        from: BreakerState,
        /// The state it entered.
        to: BreakerState,
        /// What made it change.
        reason: TransitionReason,
        /// Whether the breaker blocks traffic or only reports.
        mode: BreakerMode,
    },
    /// A 429 (or exhausted rate-limit headers) parked a target.
    Parked {
        /// The parked target.
        target: TargetId,
        /// When it may take traffic again.
        until: Instant,
    },
    /// A retry or hedge was refused by the retry budget (logged at most once per budget
    /// window; refusals show in the routes' `budget_exhausted` failures).
    BudgetExhausted {
        /// The route of the refused request; `None` when it had none (an unknown route).
        route: Option<RouteId>,
    },
    /// Every target of a route was open and panic mode let requests through anyway.
    PanicBypass {
        /// The route whose open breakers were bypassed.
        route: RouteId,
    },
    /// An operator's override.
    Override(Override),
    /// A target's latency alert was raised or cleared, with the evidence.
    Alert {
        /// The target judged.
        target: TargetId,
        /// `true` when the alert was raised, `false` when it cleared.
        raised: bool,
        /// The latencies compared.
        evidence: crate::telemetry::alert::Evidence,
    },
    /// A target spent its cost cap for the window and takes no traffic until the next.
    CostCapSpent {
        /// The target that spent its cost cap.
        target: TargetId,
        /// USD spent in the window, the attempt that crossed the cap included.
        spent_usd: f64,
    },
}

impl EventKind {
    /// The kind's low-cardinality label in reports (`breaker`, `parked`, `cost_cap_spent`, ...).
    pub fn label(&self) -> &'static str {
        match self {
            EventKind::Breaker { .. } => "breaker",
            EventKind::Parked { .. } => "parked",
            EventKind::BudgetExhausted { .. } => "budget_exhausted",
            EventKind::PanicBypass { .. } => "panic_bypass",
            EventKind::Override(_) => "override",
            EventKind::Alert { .. } => "alert",
            EventKind::CostCapSpent { .. } => "cost_cap_spent",
        }
    }
}

/// One event and when it happened.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// The `now` of the router call that caused it.
    pub at: Instant,
    /// What happened.
    pub kind: EventKind,
}

/// Events in the order they were pushed, at most [`MAX_EVENTS`] of them.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    events: Vec<Event>,
    dropped: u64,
    /// Events pushed since the last drain, when the tap is on.
    tapped: Option<Vec<Event>>,
    /// Events the tap could not hold (it was full).
    tap_lost: u64,
}

impl EventLog {
    /// Appends an event, or only counts it as dropped once the log holds [`MAX_EVENTS`].
    /// With the tap on, it is also kept for [`EventLog::drain_tapped`] (or counted as lost
    /// when the tap is full), whether or not the log keeps it.
    pub fn push(&mut self, at: Instant, kind: EventKind) {
        let event = Event { at, kind };
        if let Some(tapped) = &mut self.tapped {
            if tapped.len() < MAX_TAPPED {
                tapped.push(event);
            } else {
                self.tap_lost = self.tap_lost.saturating_add(1);
            }
        }
        if self.events.len() < MAX_EVENTS {
            self.events.push(event);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }
    /// Turns the tap on: from now on every pushed event is also kept until drained. Calling
    /// it again keeps what the tap holds.
    pub fn tap(&mut self) {
        self.tapped.get_or_insert_with(Vec::new);
    }
    /// The events pushed since the tap was turned on or last drained, oldest first (none
    /// when the tap is off).
    pub fn drain_tapped(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.tapped.iter_mut().flat_map(|tapped| tapped.drain(..))
    }
    /// How many events the tap could not hold because it was full (never drained in time).
    pub fn tap_lost(&self) -> u64 {
        self.tap_lost
    }
    /// The kept events, oldest first.
    pub fn events(&self) -> &[Event] {
        &self.events
    }
    /// How many events arrived after the log was full and were not kept.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
    /// Adds `other`'s kept events (another replica's log, `shift` later on this log's clock)
    /// in time order, this log's first among events at the same instant; beyond
    /// [`MAX_EVENTS`] the latest are dropped and counted, with those `other` dropped. The
    /// tap is left as it is.
    pub fn merge(&mut self, other: &EventLog, shift: crate::time::Duration) {
        let mut all = std::mem::take(&mut self.events);
        all.extend(other.events.iter().map(|e| Event {
            at: e.at + shift,
            kind: e.kind,
        }));
        // Stable: at the same instant, this log's events stay first and in their order.
        all.sort_by_key(|e| e.at);
        let over = all.len().saturating_sub(MAX_EVENTS);
        all.truncate(MAX_EVENTS);
        self.events = all;
        self.dropped = self
            .dropped
            .saturating_add(other.dropped)
            .saturating_add(over as u64);
    }
}
