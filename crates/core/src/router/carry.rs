//! Carrying runtime state to a replacement router (a config reload).
//!
//! A reload builds a new [`Router`] from new params; what the old one learned must not be
//! forgotten, or a reload would close an open breaker onto a failing provider, unpark a
//! rate-limited one and undo an operator's drain. [`Router::carry_from`] copies, for every
//! target and route whose *name* exists in both:
//!
//! - targets: the breaker (state, window, forced mode) when the target's breaker settings are
//!   unchanged, else only its forced mode; the rate-limit state (parking, buckets) when the
//!   limit settings are unchanged, else only the parking; the latency estimate; the counters
//!   and alert ring; the cost spent in the current window; a drain;
//! - routes: a pin (when its target still exists and is still one of the route's targets) and
//!   a freeze; the route's counters;
//! - the retry budget, when its settings are unchanged;
//! - a fleet's state (`Fleet::carry_from`): the leases of unchanged buckets, the others' units
//!   given back to the store, the probe tokens, what the fleet knows.
//!
//! Attempts in flight stay on the old router (they report to it), so `in_flight` starts at
//! zero, and a carried lease has their reservations spent: the unused part of each comes back
//! to the old router's lease, which no longer syncs, so it never reaches the shared bucket
//! (the fleet admits that much less until the bucket refills; never more than granted).
//! Everything that could not carry is returned as [`NotCarried`], for the driver to log.
//!
//! Invariant: both routers' `now` share one origin (the live driver builds the replacement on
//! the old router's clock), because breaker and parking deadlines are instants.

use crate::id::{RouteId, TargetId};
use crate::overrides::Override;
use crate::time::Instant;

use super::Router;
use crate::rng::Rng;

/// A piece of runtime state a reload dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotCarried {
    /// A target that is gone, and what it had (`state`: drained, breaker open, parked, …).
    RemovedTarget {
        /// The target's name.
        target: String,
        /// What it had, one phrase each (`drain`, `open breaker`, `forced_open mode`,
        /// `parking`, `counters (12 attempts)`); reported only when not empty.
        state: Vec<String>,
    },
    /// A route that is gone, with its pin or freeze.
    RemovedRoute {
        /// The route's name.
        route: String,
        /// What it had: ``pin to `a` `` and/or `freeze`; reported only when not empty.
        state: Vec<String>,
    },
    /// A pin whose target is gone or no longer one of the route's targets.
    Pin {
        /// The route, which exists in both configs.
        route: String,
        /// The target it was pinned to.
        target: String,
        /// Why the pin cannot stand.
        why: String,
    },
    /// A target kept its name but its breaker settings changed: the breaker restarts closed
    /// (keeping an operator's forced mode). Reported only when it was not closed.
    BreakerReset {
        /// The target's name.
        target: String,
        /// The state it was in (a [`BreakerState`](crate::health::BreakerState) label).
        was: &'static str,
    },
    /// A target's rate-limit settings changed: its buckets restart (parking is kept).
    LimitsReset {
        /// The target's name.
        target: String,
    },
}

impl std::fmt::Display for NotCarried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotCarried::RemovedTarget { target, state } => {
                write!(
                    f,
                    "target `{target}` was removed; dropped its {}",
                    state.join(", ")
                )
            }
            NotCarried::RemovedRoute { route, state } => {
                write!(
                    f,
                    "route `{route}` was removed; dropped its {}",
                    state.join(", ")
                )
            }
            NotCarried::Pin { route, target, why } => {
                write!(f, "dropped the pin of route `{route}` to `{target}`: {why}")
            }
            NotCarried::BreakerReset { target, was } => write!(
                f,
                "target `{target}`'s breaker settings changed; its breaker ({was}) restarts closed"
            ),
            NotCarried::LimitsReset { target } => write!(
                f,
                "target `{target}`'s rate-limit settings changed; its buckets restart"
            ),
        }
    }
}

impl<R: Rng> Router<R> {
    /// Takes over `old`'s runtime state for the targets and routes that kept their names (see
    /// the module doc); returns what could not carry. Logs no event.
    pub fn carry_from(&mut self, old: &Self, now: Instant) -> Vec<NotCarried> {
        let mut lost = Vec::new();
        self.carry_targets(old, now, &mut lost);
        self.carry_routes(old, &mut lost);
        self.telemetry.unrouted = old.telemetry.unrouted.clone();
        if self.params.budget == old.params.budget {
            self.budget = old.budget.clone();
        }
        self.carry_fleet(old);
        lost
    }

    /// A router in a fleet hands its fleet state on (`Fleet::carry_from`): the replacement
    /// joins the same fleet, keeps the leases of the buckets that did not change, and gives
    /// back those of the buckets that did, so a reload neither forgets what the fleet knows
    /// nor leaks the shared buckets' units until they refill.
    fn carry_fleet(&mut self, old: &Self) {
        let Some(old_fleet) = old.fleet.as_ref() else {
            return;
        };
        if self.fleet.is_none() {
            self.join_fleet(*old_fleet.params());
        }
        let map: Vec<(&str, Option<usize>)> = old
            .params
            .targets
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    self.params.target_id(&t.name).map(|id| id.index()),
                )
            })
            .collect();
        if let Some(fleet) = self.fleet.as_mut() {
            fleet.carry_from(old_fleet, &map);
        }
    }

    /// Each target that kept its name: breaker, limits, latency, drain, counters, alerts and
    /// spend (as the module doc says).
    fn carry_targets(&mut self, old: &Self, now: Instant, lost: &mut Vec<NotCarried>) {
        for (j, old_t) in old.params.targets.iter().enumerate() {
            let from = TargetId::new(j as u32);
            let Some(to) = self.params.target_id(&old_t.name) else {
                let state = old.target_state(from, now);
                if !state.is_empty() {
                    lost.push(NotCarried::RemovedTarget {
                        target: old_t.name.clone(),
                        state,
                    });
                }
                continue;
            };
            let (i, new_t) = (to.index(), &self.params.targets[to.index()]);
            let was = &old.health[j];
            let h = &mut self.health[i];
            if new_t.breaker == old_t.breaker {
                h.breaker = was.breaker.clone();
            } else {
                h.breaker.force(was.breaker.mode());
                if was.breaker.state() != crate::health::BreakerState::Closed {
                    lost.push(NotCarried::BreakerReset {
                        target: new_t.name.clone(),
                        was: was.breaker.state().label(),
                    });
                }
            }
            if new_t.limits == old_t.limits {
                h.limits = was.limits.clone();
            } else {
                let until = was.limits.parked_until();
                if until > now {
                    h.limits.park(now, Some(until.saturating_since(now)));
                }
                lost.push(NotCarried::LimitsReset {
                    target: new_t.name.clone(),
                });
            }
            h.latency = was.latency.clone();
            self.overrides.drained[i] = old.overrides.drained[j];
            self.telemetry.targets[i] = old.telemetry.targets[j].clone();
            if self.telemetry.alert_params == old.telemetry.alert_params {
                self.telemetry.rings[i] = old.telemetry.rings[j].clone();
            }
            self.spend[i] = old.spend[j];
        }
    }

    /// Each route that kept its name: its freeze, counters and pin.
    fn carry_routes(&mut self, old: &Self, lost: &mut Vec<NotCarried>) {
        for (q, old_r) in old.params.routes.iter().enumerate() {
            let pin = old.overrides.pinned[q].map(|t| old.params.targets[t.index()].name.clone());
            let frozen = old.overrides.frozen[q];
            let Some(to) = self.params.route_id(&old_r.name) else {
                let mut state = Vec::new();
                if let Some(t) = &pin {
                    state.push(format!("pin to `{t}`"));
                }
                if frozen {
                    state.push("freeze".to_owned());
                }
                if !state.is_empty() {
                    lost.push(NotCarried::RemovedRoute {
                        route: old_r.name.clone(),
                        state,
                    });
                }
                continue;
            };
            let r = to.index();
            self.overrides.frozen[r] = frozen;
            self.telemetry.routes[r] = old.telemetry.routes[q].clone();
            if let Some(name) = pin {
                match self.carried_pin(to, &name) {
                    Ok(t) => self.overrides.pinned[r] = Some(t),
                    Err(why) => lost.push(NotCarried::Pin {
                        route: old_r.name.clone(),
                        target: name,
                        why,
                    }),
                }
            }
        }
    }

    fn carried_pin(&self, route: RouteId, target: &str) -> Result<TargetId, String> {
        let Some(t) = self.params.target_id(target) else {
            return Err("the target was removed".to_owned());
        };
        Override::Pin(route, t)
            .check(&self.params)
            .map(|()| t)
            .map_err(|e| e.to_string())
    }

    /// What a target has that a reload dropping it would lose (empty when nothing).
    fn target_state(&self, t: TargetId, now: Instant) -> Vec<String> {
        let h = &self.health[t.index()];
        let mut state = Vec::new();
        if self.overrides.drained[t.index()] {
            state.push("drain".to_owned());
        }
        if h.breaker.state() != crate::health::BreakerState::Closed {
            state.push(format!("{} breaker", h.breaker.state().label()));
        }
        if h.breaker.mode() != crate::health::BreakerMode::Automatic {
            state.push(format!("{} mode", h.breaker.mode().label()));
        }
        if h.limits.is_parked(now) {
            state.push("parking".to_owned());
        }
        let attempts = self.telemetry.targets[t.index()].attempts;
        if attempts > 0 {
            state.push(format!("counters ({attempts} attempts)"));
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RouterConfig, parse_yaml};
    use crate::health::{BreakerMode, BreakerState};
    use crate::outcome::{AttemptReport, ErrorKind, Outcome};
    use crate::plan::Action;
    use crate::request::Request;
    use crate::rng::SeededRng;
    use crate::router::RouterParams;
    use crate::time::Duration;

    fn router(yaml: &str) -> Router {
        let config: RouterConfig = parse_yaml(yaml, "r.yaml").unwrap();
        Router::new(RouterParams::try_from(&config).unwrap(), SeededRng::new(1))
    }

    const OLD: &str = "targets:\n  - { name: a, provider: p, model: m, breaker: { consecutive_failures: 2 } }\n  - { name: b, provider: p, model: m }\n  - { name: c, provider: p, model: m }\n\
                       routes:\n  - { name: ab, policy: round_robin, targets: [a, b] }\n  - { name: gone, policy: static, targets: [c] }\n";

    /// Sends requests to `a` that fail until its breaker opens.
    fn open_a(r: &mut Router, now: Instant) {
        let a = r.params.target_id("a").unwrap();
        for _ in 0..10 {
            if matches!(r.health(a).breaker.state(), BreakerState::Open { .. }) {
                return;
            }
            let req = Request {
                route: "ab".into(),
                max_tokens: Some(10),
                estimated_prompt_tokens: 10,
                ..Request::default()
            };
            let mut plan = r.begin(&req, now);
            for _ in 0..8 {
                match r.next(&mut plan, now) {
                    Action::Send {
                        attempt, target, ..
                    } if plan.attempts() < 8 => {
                        let outcome = if target == a {
                            Outcome::error(ErrorKind::ServerError)
                        } else {
                            Outcome::Success
                        };
                        let report = AttemptReport::new(outcome, Duration::from_millis(5));
                        r.record(&mut plan, attempt, report, now);
                    }
                    _ => break,
                }
            }
        }
    }

    #[test]
    fn a_reload_keeps_breakers_drains_parking_and_counters_by_name() {
        let now = Instant::ZERO + Duration::from_secs(10);
        let mut old = router(OLD);
        open_a(&mut old, now);
        let (a, b) = (
            old.params.target_id("a").unwrap(),
            old.params.target_id("b").unwrap(),
        );
        assert!(matches!(
            old.health(a).breaker.state(),
            BreakerState::Open { .. }
        ));
        old.apply(Override::Drain(b), now).unwrap();
        old.health[b.index()]
            .limits
            .park(now, Some(Duration::from_secs(30)));
        let attempts_a = old.telemetry.targets[a.index()].attempts;
        assert!(attempts_a > 0);

        // The new config lists the targets in another order and drops `c` and route `gone`.
        let new_yaml = "targets:\n  - { name: b, provider: p, model: m }\n  - { name: a, provider: p, model: m, breaker: { consecutive_failures: 2 } }\n\
                        routes:\n  - { name: ab, policy: round_robin, targets: [a, b] }\n";
        let mut new = router(new_yaml);
        let lost = new.carry_from(&old, now);
        let (na, nb) = (
            new.params.target_id("a").unwrap(),
            new.params.target_id("b").unwrap(),
        );
        assert!(matches!(
            new.health(na).breaker.state(),
            BreakerState::Open { .. }
        ));
        assert!(new.overrides().is_drained(nb));
        assert!(!new.overrides().is_drained(na));
        assert!(
            new.health(nb)
                .limits
                .is_parked(now + Duration::from_secs(29))
        );
        assert_eq!(new.telemetry.targets[na.index()].attempts, attempts_a);
        assert_eq!(new.health(na).in_flight, 0);
        // Nothing worth reporting was lost: `c` and `gone` had no state.
        assert_eq!(lost, Vec::new());
    }

    #[test]
    fn what_cannot_carry_is_reported() {
        let now = Instant::ZERO + Duration::from_secs(10);
        let mut old = router(OLD);
        open_a(&mut old, now);
        let p = old.params.clone();
        let (ab, gone, a, c) = (
            p.route_id("ab").unwrap(),
            p.route_id("gone").unwrap(),
            p.target_id("a").unwrap(),
            p.target_id("c").unwrap(),
        );
        old.apply(Override::Pin(ab, a), now).unwrap();
        old.apply(Override::Freeze(Some(gone)), now).unwrap();
        old.apply(Override::Force(c, BreakerMode::ForcedOpen), now)
            .unwrap();
        // `a` leaves route `ab` (so its pin cannot carry) and its breaker settings change;
        // `c` and route `gone` are removed.
        let new_yaml = "targets:\n  - { name: a, provider: p, model: m }\n  - { name: b, provider: p, model: m }\n\
                        routes:\n  - { name: ab, policy: static, targets: [b] }\n  - { name: side, policy: static, targets: [a] }\n";
        let mut new = router(new_yaml);
        let lost = new.carry_from(&old, now);
        let text: Vec<String> = lost.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "target `a`'s breaker settings changed; its breaker (open) restarts closed",
                "target `c` was removed; dropped its forced_open mode",
                "dropped the pin of route `ab` to `a`: target `a` is not a target of route `ab` (its targets: b)",
                "route `gone` was removed; dropped its freeze",
            ]
        );
        let nab = new.params.route_id("ab").unwrap();
        assert_eq!(new.overrides().pin(nab), None);
        let na = new.params.target_id("a").unwrap();
        assert_eq!(new.health(na).breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_breaker_reset_keeps_the_forced_mode_and_a_closed_one_is_not_reported() {
        let now = Instant::ZERO + Duration::from_secs(10);
        let mut old = router(OLD);
        let a = old.params.target_id("a").unwrap();
        old.apply(Override::Force(a, BreakerMode::MetricsOnly), now)
            .unwrap();
        let new_yaml = OLD.replace("consecutive_failures: 2", "consecutive_failures: 3");
        let mut new = router(&new_yaml);
        let lost = new.carry_from(&old, now);
        let na = new.params.target_id("a").unwrap();
        assert_eq!(new.health(na).breaker.mode(), BreakerMode::MetricsOnly);
        assert_eq!(new.health(na).breaker.params().consecutive_failures, 3);
        assert_eq!(
            lost,
            Vec::new(),
            "a closed breaker lost nothing worth reporting"
        );
    }
}
