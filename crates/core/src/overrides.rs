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
//! scenario validation names the field, the simulator refuses to start); a reload drops a
//! carried pin that no longer passes; and `Router::apply` refuses, changing nothing, a
//! command that does not pass, so a stale id never indexes out of range.

use crate::health::BreakerMode;
use crate::id::{RouteId, TargetId};
use crate::time::Instant;

/// What a [`Override::Restore`] undoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The target: its drain lifted, its rate-limit parking ended, and its breaker reset to
    /// automatic mode, closed, with an empty failure window (whatever the breaker had seen).
    Target(TargetId),
    /// The route: its pin and its freeze lifted (a freeze of every route is lifted for this
    /// route only).
    Route(RouteId),
    /// Every target and every route, as their own scopes would.
    All,
}

/// One operator command; see the module documentation for what each does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Override {
    /// Send the target no new attempt until restored.
    Drain(TargetId),
    /// Send everything of the route to the target, which must be one of its targets.
    Pin(RouteId, TargetId),
    /// Stop automatic failover on the route, or on every route with `None`.
    Freeze(Option<RouteId>),
    /// Set the target's breaker to a manual mode.
    Force(TargetId, BreakerMode),
    /// Undo the overrides in this scope.
    Restore(Scope),
}

impl Override {
    /// The command's action name, as
    /// [`RouterParams::parse_override`](crate::router::RouterParams::parse_override) reads it
    /// (the `action` of the gateway's admin API and of a scenario's overrides).
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

/// The line a run fails with when its router refused `command`, an operator action scheduled
/// at `at` on the run's clock: the same in simulation and live.
pub fn refused(at: Instant, command: &Override, e: &OverrideError) -> String {
    format!(
        "the operator action at {} ({}) was refused by the router: {e}",
        at.since_start(),
        command.label()
    )
}

/// Why an override cannot apply to a router.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// A pin to a target that is not one of the route's.
    #[error("target `{target}` is not a target of route `{route}` (its targets: {members})")]
    PinOutsideRoute {
        /// The route's name.
        route: String,
        /// The target's name.
        target: String,
        /// The route's targets' names, comma-separated, in config order.
        members: String,
    },
    /// An id beyond the router's targets or routes (an override built for another config).
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
    /// No override in force, for `targets` targets and `routes` routes.
    pub fn new(targets: usize, routes: usize) -> Self {
        Overrides {
            drained: vec![false; targets],
            pinned: vec![None; routes],
            frozen: vec![false; routes],
        }
    }
    /// Whether the target is drained; false for an id out of range.
    pub fn is_drained(&self, target: TargetId) -> bool {
        self.drained.get(target.index()).copied().unwrap_or(false)
    }
    /// The target the route is pinned to; `None` when unpinned or out of range.
    pub fn pin(&self, route: RouteId) -> Option<TargetId> {
        self.pinned.get(route.index()).copied().flatten()
    }
    /// Whether the route's failover is frozen (by its own freeze or a freeze of every
    /// route); false for an id out of range.
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
    fn ids_out_of_range_read_as_no_override() {
        let mut o = Overrides::new(1, 1);
        o.drained[0] = true;
        o.pinned[0] = Some(TargetId::new(0));
        o.frozen[0] = true;
        assert!(o.is_drained(TargetId::new(0)) && !o.is_drained(TargetId::new(1)));
        assert_eq!(o.pin(RouteId::new(0)), Some(TargetId::new(0)));
        assert_eq!(o.pin(RouteId::new(1)), None);
        assert!(o.is_frozen(RouteId::new(0)) && !o.is_frozen(RouteId::new(1)));
    }

    #[test]
    fn each_label_parses_back_to_its_override() {
        let p = params();
        let (a, ab) = (p.target_id("a").unwrap(), p.route_id("ab").unwrap());
        let cases = [
            (Override::Drain(a), Some("a"), None, None),
            (Override::Pin(ab, a), Some("a"), Some("ab"), None),
            (Override::Freeze(Some(ab)), None, Some("ab"), None),
            (Override::Freeze(None), None, None, None),
            (
                Override::Force(a, BreakerMode::Disabled),
                Some("a"),
                None,
                Some("disabled"),
            ),
            (Override::Restore(Scope::Target(a)), Some("a"), None, None),
            (Override::Restore(Scope::Route(ab)), None, Some("ab"), None),
            (Override::Restore(Scope::All), None, None, None),
        ];
        for (o, target, route, mode) in cases {
            let command = crate::router::OverrideCommand {
                action: o.label(),
                target,
                route,
                mode,
            };
            assert_eq!(p.parse_override(command), Ok(o), "{}", o.label());
        }
    }

    #[test]
    fn restore_undoes_exactly_its_scope() {
        use crate::router::Router;
        use crate::time::{Duration, Instant};
        let p = params();
        let (a, b) = (p.target_id("a").unwrap(), p.target_id("b").unwrap());
        let (ab, only_c) = (p.route_id("ab").unwrap(), p.route_id("only_c").unwrap());
        let mut r = Router::new(p, crate::rng::SeededRng::new(1));
        let now = Instant::ZERO;
        for t in [a, b] {
            r.apply(Override::Drain(t), now).unwrap();
            r.apply(Override::Force(t, BreakerMode::ForcedOpen), now)
                .unwrap();
        }
        r.apply(Override::Pin(ab, b), now).unwrap();
        r.apply(Override::Freeze(None), now).unwrap();
        let snap = crate::health::LimitSnapshot {
            remaining_requests: Some(0),
            reset_requests: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        r.observe_limits(a, &snap, now);
        assert!(r.health(a).limits.is_parked(now));

        r.apply(Override::Restore(Scope::Target(a)), now).unwrap();
        assert!(!r.overrides().is_drained(a) && r.overrides().is_drained(b));
        assert_eq!(r.health(a).breaker.mode(), BreakerMode::Automatic);
        assert_eq!(r.health(b).breaker.mode(), BreakerMode::ForcedOpen);
        assert!(!r.health(a).limits.is_parked(now));
        assert_eq!(
            r.overrides().pin(ab),
            Some(b),
            "a target's restore leaves routes"
        );

        r.apply(Override::Restore(Scope::Route(ab)), now).unwrap();
        assert_eq!(r.overrides().pin(ab), None);
        assert!(!r.overrides().is_frozen(ab));
        assert!(
            r.overrides().is_frozen(only_c),
            "freeze-all lifted for `ab` only"
        );
        assert!(
            r.overrides().is_drained(b),
            "a route's restore leaves targets"
        );

        r.apply(Override::Restore(Scope::All), now).unwrap();
        assert!(!r.overrides().is_drained(b) && !r.overrides().is_frozen(only_c));
        assert_eq!(r.health(b).breaker.mode(), BreakerMode::Automatic);
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
