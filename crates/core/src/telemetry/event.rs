//! Events: the things that happened to the routing, in time order, for timelines and alerts.
//! The log holds at most [`MAX_EVENTS`]; beyond that, events are counted but dropped, so a
//! flapping target cannot grow memory without bound.

use crate::health::breaker::{BreakerMode, BreakerState, TransitionReason};
use crate::id::{RouteId, TargetId};
use crate::overrides::Override;
use crate::time::Instant;

pub const MAX_EVENTS: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EventKind {
    /// A breaker changed state. `metrics_only` says the breaker only reports (does not block).
    Breaker {
        target: TargetId,
        from: BreakerState,
        to: BreakerState,
        reason: TransitionReason,
        mode: BreakerMode,
    },
    /// A 429 (or exhausted rate-limit headers) parked a target.
    Parked { target: TargetId, until: Instant },
    /// A retry or hedge was refused by the retry budget (logged at most once per budget
    /// window; refusals show in the routes' `budget_exhausted` failures).
    BudgetExhausted { route: Option<RouteId> },
    /// Every target of a route was open and panic mode let requests through anyway.
    PanicBypass { route: RouteId },
    /// An operator's override.
    Override(Override),
    /// A target's latency alert was raised or cleared, with the evidence.
    Alert {
        target: TargetId,
        raised: bool,
        evidence: crate::telemetry::alert::Evidence,
    },
    /// A target spent its cost cap for the window and takes no traffic until the next.
    CostCapSpent { target: TargetId, spent_usd: f64 },
}

impl EventKind {
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

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    pub at: Instant,
    pub kind: EventKind,
}

#[derive(Clone, Debug, Default)]
pub struct EventLog {
    events: Vec<Event>,
    dropped: u64,
}

impl EventLog {
    pub fn push(&mut self, at: Instant, kind: EventKind) {
        if self.events.len() < MAX_EVENTS {
            self.events.push(Event { at, kind });
        } else {
            self.dropped += 1;
        }
    }
    pub fn events(&self) -> &[Event] {
        &self.events
    }
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
