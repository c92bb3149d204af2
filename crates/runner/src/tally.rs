//! Router events tallied as they happen: each fault's detection, breaker openings and latency
//! alerts per target, and each fault's first alert.
//!
//! The report's event list is capped ([`switchyard_core::telemetry::MAX_EVENTS`]), so a long
//! or flapping run would hide a detection or an opening if the figures were read back from
//! it. Instead both drivers turn on the router's event tap and hand every event to the
//! collector as it happens (the simulator after each step, live mode as each request
//! finishes and once at the end), and the collector folds it here. Counters and first
//! instants only: memory does not grow with the run, and the order events arrive in does
//! not matter (live requests finish out of order).
//!
//! Events the tap could not hold (a driver that did not drain it in time) are counted as
//! [`Tally::lost`]; a figure that may have missed them is then not observed, never a guess.

use switchyard_core::health::BreakerState;
use switchyard_core::id::TargetId;
use switchyard_core::telemetry::{Event, EventKind};
use switchyard_core::time::Instant;

use crate::failover::DETECT_GRACE;
use crate::scenario::ScenarioParams;

/// What one named fault needs from the events.
#[derive(Clone, Debug)]
struct Watch {
    /// Per target index: the target belongs to the fault's provider.
    on_provider: Vec<bool>,
    from: Instant,
    /// Detection must come before this: the fault's end plus [`DETECT_GRACE`].
    until: Instant,
    detected: Option<Instant>,
    first_alert: Option<Instant>,
}

/// The running tallies of a run's router events.
#[derive(Clone, Debug)]
pub struct Tally {
    faults: Vec<Watch>,
    /// Per target: breaker openings (any mode: a metrics-only breaker opens too).
    breaker_opens: Vec<u64>,
    /// Per target: latency alerts raised.
    alerts: Vec<u64>,
    /// Events tallied.
    events: u64,
    /// Events the driver's tap dropped before they could be tallied.
    lost: u64,
}

impl Tally {
    pub fn new(s: &ScenarioParams) -> Self {
        let p = &s.router;
        let targets = p.targets.len();
        Tally {
            faults: s
                .faults
                .iter()
                .map(|f| Watch {
                    on_provider: p
                        .targets
                        .iter()
                        .map(|t| p.providers.name(t.provider.index() as u32) == f.provider)
                        .collect(),
                    from: f.from,
                    until: f.to + DETECT_GRACE,
                    detected: None,
                    first_alert: None,
                })
                .collect(),
            breaker_opens: vec![0; targets],
            alerts: vec![0; targets],
            events: 0,
            lost: 0,
        }
    }

    /// Folds one router event.
    pub fn event(&mut self, e: &Event) {
        self.events = self.events.saturating_add(1);
        match e.kind {
            EventKind::Breaker {
                target,
                to: BreakerState::Open { .. },
                ..
            } => {
                bump(&mut self.breaker_opens, target);
                self.detect(target, e.at);
            }
            EventKind::Parked { target, .. } => self.detect(target, e.at),
            EventKind::Alert {
                target,
                raised: true,
                ..
            } => {
                bump(&mut self.alerts, target);
                for w in &mut self.faults {
                    if on(&w.on_provider, target) && e.at >= w.from {
                        earliest(&mut w.first_alert, e.at);
                    }
                }
            }
            _ => {}
        }
    }

    /// A breaker opening or a parking on `target` at `at`: the detection of every fault on
    /// its provider that it falls within (from the fault's start to its end plus the grace).
    fn detect(&mut self, target: TargetId, at: Instant) {
        for w in &mut self.faults {
            if on(&w.on_provider, target) && at >= w.from && at < w.until {
                earliest(&mut w.detected, at);
            }
        }
    }

    /// Records events the driver's tap could not hold.
    pub fn add_lost(&mut self, n: u64) {
        self.lost = self.lost.saturating_add(n);
    }

    /// Events the driver's tap dropped before they were tallied (0 in a sound run).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Router events tallied.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// When the fault (by its index among the scenario's faults) was detected.
    pub fn detected(&self, fault: usize) -> Option<Instant> {
        self.faults.get(fault).and_then(|w| w.detected)
    }

    /// The first latency alert raised on one of the fault's provider's targets at or after
    /// its start.
    pub fn first_alert(&self, fault: usize) -> Option<Instant> {
        self.faults.get(fault).and_then(|w| w.first_alert)
    }

    /// Breaker openings, of one target or of all.
    pub fn breaker_opens(&self, target: Option<TargetId>) -> u64 {
        count(&self.breaker_opens, target)
    }

    /// Latency alerts raised, on one target or on all.
    pub fn alerts(&self, target: Option<TargetId>) -> u64 {
        count(&self.alerts, target)
    }
}

/// Keeps the earlier instant: events may arrive out of order (live requests drain the tap
/// as they finish).
fn earliest(slot: &mut Option<Instant>, at: Instant) {
    *slot = Some(slot.map_or(at, |x| x.min(at)));
}

fn on(on_provider: &[bool], target: TargetId) -> bool {
    on_provider.get(target.index()).copied() == Some(true)
}

fn bump(per_target: &mut [u64], target: TargetId) {
    if let Some(n) = per_target.get_mut(target.index()) {
        *n = n.saturating_add(1);
    }
}

fn count(per_target: &[u64], target: Option<TargetId>) -> u64 {
    match target {
        Some(t) => per_target.get(t.index()).copied().unwrap_or(0),
        None => per_target.iter().fold(0u64, |a, &n| a.saturating_add(n)),
    }
}

#[cfg(test)]
mod tests;
