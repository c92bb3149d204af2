//! Overrides: an operator's commands at run time. They win over every automatic decision and
//! each one is logged as an event.
//!
//! - `Drain(target)`: no new attempt goes to the target (attempts in flight finish).
//! - `Pin(route, target)`: the route sends everything to that target, whatever its breaker
//!   or rate-limit state says (the operator has decided); drains still apply.
//! - `Freeze(route)` / `Freeze(None)` for every route: automatic failover stops. Requests go
//!   to what the policy picks with breakers and parking ignored, and retry only that target.
//! - `Force(target, mode)`: set a breaker's manual mode (forced open, disabled, metrics only).
//! - `Restore(scope)`: undo overrides for a target (drain, forced mode, parking), a route
//!   (pin, freeze) or everything.

use crate::health::BreakerMode;
use crate::id::{RouteId, TargetId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Target(TargetId),
    Route(RouteId),
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Override {
    Drain(TargetId),
    Pin(RouteId, TargetId),
    Freeze(Option<RouteId>),
    Force(TargetId, BreakerMode),
    Restore(Scope),
}

impl Override {
    pub const fn label(&self) -> &'static str {
        match self {
            Override::Drain(_) => "drain",
            Override::Pin(..) => "pin",
            Override::Freeze(_) => "freeze",
            Override::Force(..) => "force",
            Override::Restore(_) => "restore",
        }
    }
}

/// The overrides in force.
#[derive(Clone, Debug)]
pub struct Overrides {
    pub(crate) drained: Vec<bool>,
    pub(crate) pinned: Vec<Option<TargetId>>,
    pub(crate) frozen: Vec<bool>,
}

impl Overrides {
    pub fn new(targets: usize, routes: usize) -> Self {
        Overrides {
            drained: vec![false; targets],
            pinned: vec![None; routes],
            frozen: vec![false; routes],
        }
    }
    pub fn is_drained(&self, target: TargetId) -> bool {
        self.drained.get(target.index()).copied().unwrap_or(false)
    }
    pub fn pin(&self, route: RouteId) -> Option<TargetId> {
        self.pinned.get(route.index()).copied().flatten()
    }
    pub fn is_frozen(&self, route: RouteId) -> bool {
        self.frozen.get(route.index()).copied().unwrap_or(false)
    }
}
