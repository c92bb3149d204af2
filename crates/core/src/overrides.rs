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
//!
//! [`Override::check`] (in the router module, which owns [`RouterParams`](crate::router::RouterParams))
//! refuses what cannot mean anything for a router: a pin to a target that
//! is not one of the route's targets (the route would send everything somewhere it was never
//! configured to go). Drivers check before they apply (the gateway's admin API answers 400,
//! scenario validation names the field); a reload drops a carried pin that no longer passes.

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

/// Why an override cannot apply to a router.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("target `{target}` is not a target of route `{route}` (its targets: {members})")]
    PinOutsideRoute {
        route: String,
        target: String,
        members: String,
    },
    #[error("no target or route with id {0} in this router")]
    UnknownId(u32),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RouterConfig, parse_yaml};

    fn params() -> crate::router::RouterParams {
        let yaml = "targets:\n  - { name: a, provider: p, model: m }\n  - { name: b, provider: p, model: m }\n  - { name: c, provider: p, model: m }\n\
                    routes:\n  - { name: ab, policy: round_robin, targets: [a, b] }\n  - { name: only_c, policy: static, targets: [c] }\n";
        let config: RouterConfig = parse_yaml(yaml, "r.yaml").unwrap();
        crate::router::RouterParams::try_from(&config).unwrap()
    }

    #[test]
    fn a_pin_outside_its_route_is_refused_naming_route_and_target() {
        let p = params();
        let (ab, a, c) = (
            p.route_id("ab").unwrap(),
            p.target_id("a").unwrap(),
            p.target_id("c").unwrap(),
        );
        assert_eq!(Override::Pin(ab, a).check(&p), Ok(()));
        let err = Override::Pin(ab, c).check(&p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "target `c` is not a target of route `ab` (its targets: a, b)"
        );
        assert_eq!(Override::Drain(c).check(&p), Ok(()));
        assert_eq!(
            Override::Drain(TargetId::new(7)).check(&p),
            Err(OverrideError::UnknownId(7))
        );
        assert_eq!(
            Override::Pin(RouteId::new(9), a).check(&p),
            Err(OverrideError::UnknownId(9))
        );
    }
}
