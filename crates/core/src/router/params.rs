//! The validated router configuration (built from `config::RouterConfig`).

use crate::health::LatencyParams;
use crate::id::{Interner, RouteId, TargetId};
use crate::overrides::{Override, OverrideError, Scope};
use crate::plan::{BudgetParams, PlanParams};
use crate::policy::Policy;
use crate::rule::RuleParams;
use crate::target::TargetParams;

/// What a route does with a stream that broke after its first token reached the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResumeMode {
    /// The request ends with the stream's error.
    #[default]
    None,
    /// The stream continues on another member with `Capabilities::PREFILL`, which is sent
    /// the delivered text as an assistant prefill (see `Router::record`).
    Prefill,
}

/// What a route does when every one of its targets is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PanicMode {
    /// Fail the request at once (`no_target_available`).
    #[default]
    FailFast,
    /// Ignore the breakers and spread over all targets: better a degraded answer than none.
    Bypass,
}

/// A validated route.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteParams {
    /// Its name, unique among routes.
    pub name: String,
    /// The route's targets, in member order (at most 64).
    pub members: Vec<TargetId>,
    /// How it picks among its eligible members; a policy's member indices are positions in
    /// `members`.
    pub policy: Policy,
    /// Where requests go when no target of this route can take them.
    pub fallback: Option<RouteId>,
    /// What a stream broken after its first token does.
    pub resume: ResumeMode,
}

/// A validated router configuration, built by `config::load_router` (or
/// `config::validate_router`); what a [`Router`](super::Router) runs on. Names are unique
/// among targets and among routes, and every id inside is in range.
#[derive(Clone, Debug, PartialEq)]
pub struct RouterParams {
    /// The provider names, in order of first use by a target; a target's `provider` indexes
    /// it.
    pub providers: Interner,
    /// The targets, in config order; a `TargetId` indexes this.
    pub targets: Vec<TargetParams>,
    /// The routes, in config order; a `RouteId` indexes this.
    pub routes: Vec<RouteParams>,
    /// The rules, in the order they are checked.
    pub rules: Vec<RuleParams>,
    /// Attempts, timeouts and backoff of every request.
    pub plan: PlanParams,
    /// The retry budget all requests share.
    pub budget: BudgetParams,
    /// How latency estimates decay.
    pub latency: LatencyParams,
    /// What a route does when every one of its targets is open.
    pub panic_mode: PanicMode,
    /// When a target's latency alerts.
    pub alerts: crate::telemetry::alert::AlertParams,
    /// Which error kinds count against availability.
    pub availability_kinds: [bool; crate::outcome::ErrorKind::COUNT],
}

impl PartialEq for Interner {
    fn eq(&self, other: &Self) -> bool {
        self.names().eq(other.names())
    }
}

impl RouterParams {
    /// Sets each target's `default_max_tokens` to what it is sent for a request without
    /// `max_tokens` ([`Dialect::sent_max_tokens`](crate::vendor::Dialect::sent_max_tokens)),
    /// its dialect found by its provider's name (a target whose provider has none is left
    /// as it is): so that the context-window check ([`TargetParams::fits`]) and the token
    /// reservations of limits and fleet leases count it. The live driver and the simulator
    /// both call this, so that they agree; a router built without it counts a configured
    /// `default_max_tokens` for every vendor, and none where it is not configured.
    pub fn resolve_sent_max_tokens(
        &mut self,
        dialect_of: impl Fn(&str) -> Option<crate::vendor::Dialect>,
    ) {
        let providers = &self.providers;
        for t in &mut self.targets {
            if let Some(d) = dialect_of(providers.name(t.provider.index() as u32)) {
                t.default_max_tokens = d.sent_max_tokens(t.default_max_tokens);
            }
        }
    }

    /// The target named `name`, if there is one.
    pub fn target_id(&self, name: &str) -> Option<TargetId> {
        self.targets
            .iter()
            .position(|t| t.name == name)
            .map(|i| TargetId::new(i as u32))
    }
    /// The route named `name`, if there is one.
    pub fn route_id(&self, name: &str) -> Option<RouteId> {
        self.routes
            .iter()
            .position(|r| r.name == name)
            .map(|i| RouteId::new(i as u32))
    }
    /// The target `id` names.
    ///
    /// # Panics
    ///
    /// When `id` is not one of these params' (an id from another config).
    pub fn target(&self, id: TargetId) -> &TargetParams {
        &self.targets[id.index()]
    }
    /// The route `id` names; panics as [`RouterParams::target`] does.
    pub fn route(&self, id: RouteId) -> &RouteParams {
        &self.routes[id.index()]
    }
}

impl Override {
    /// Whether the override means something for `params`: ids in range, and a pin's target
    /// one of its route's targets.
    pub fn check(&self, params: &RouterParams) -> Result<(), OverrideError> {
        let target = |t: TargetId| {
            params
                .targets
                .get(t.index())
                .map(|_| ())
                .ok_or(OverrideError::UnknownId(t.index() as u32))
        };
        let route = |r: RouteId| {
            params
                .routes
                .get(r.index())
                .ok_or(OverrideError::UnknownId(r.index() as u32))
        };
        match *self {
            Override::Drain(t) | Override::Force(t, _) | Override::Restore(Scope::Target(t)) => {
                target(t)
            }
            Override::Freeze(Some(r)) | Override::Restore(Scope::Route(r)) => route(r).map(|_| ()),
            Override::Freeze(None) | Override::Restore(Scope::All) => Ok(()),
            Override::Pin(r, t) => {
                target(t)?;
                let members = &route(r)?.members;
                if members.contains(&t) {
                    return Ok(());
                }
                Err(OverrideError::PinOutsideRoute {
                    route: params.routes[r.index()].name.clone(),
                    target: params.targets[t.index()].name.clone(),
                    members: members
                        .iter()
                        .map(|m| params.targets[m.index()].name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    }
}

/// An operator's command as written — the gateway's `POST /admin/overrides` body, a
/// scenario's `operator:` entry: an action and the names it applies to. Both drivers turn
/// it into an [`Override`] with [`RouterParams::parse_override`], so the vocabulary is
/// parsed in one place.
#[derive(Clone, Copy, Debug, Default)]
pub struct OverrideCommand<'a> {
    /// `drain`, `pin`, `freeze`, `force` or `restore`.
    pub action: &'a str,
    /// The target (`drain`, `pin`, `force`, `restore`).
    pub target: Option<&'a str>,
    /// The route (`pin`, `freeze`, `restore`); none for `freeze` and `restore` means every
    /// route, or everything.
    pub route: Option<&'a str>,
    /// `force`: the breaker mode ([`BreakerMode::CHOICES`](crate::health::BreakerMode::CHOICES)).
    pub mode: Option<&'a str>,
}

/// Why a command is not an override for this router.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `target` names no target of this router.
    #[error("unknown target `{0}`")]
    UnknownTarget(String),
    /// `route` names no route of this router.
    #[error("unknown route `{0}`")]
    UnknownRoute(String),
    /// `force` without a `mode`, or with one that is not a breaker mode.
    #[error(
        "force needs a `mode`: {} (got {said})",
        crate::health::BreakerMode::CHOICES
    )]
    BadMode {
        /// What was written, quoted, or "no `mode`".
        said: String,
    },
    /// An unknown action, or a known one with fields it does not take (a `drain` with a
    /// `route`); holds the action.
    #[error("`{0}` with these fields is not an override; use drain, pin, freeze, force or restore")]
    NotAnOverride(String),
    /// The override refused by [`Override::check`] (a pin outside its route).
    #[error(transparent)]
    Invalid(#[from] OverrideError),
}

impl CommandError {
    /// The command field at fault: `target`, `route`, `mode` or `action`.
    pub fn field(&self) -> &'static str {
        match self {
            CommandError::UnknownTarget(_) | CommandError::Invalid(_) => "target",
            CommandError::UnknownRoute(_) => "route",
            CommandError::BadMode { .. } => "mode",
            CommandError::NotAnOverride(_) => "action",
        }
    }
}

impl RouterParams {
    /// The override `command` means for this router: names resolved, the mode parsed, and
    /// the result [checked](Override::check).
    pub fn parse_override(&self, command: OverrideCommand<'_>) -> Result<Override, CommandError> {
        let target = command
            .target
            .map(|t| {
                self.target_id(t)
                    .ok_or_else(|| CommandError::UnknownTarget(t.to_owned()))
            })
            .transpose()?;
        let route = command
            .route
            .map(|r| {
                self.route_id(r)
                    .ok_or_else(|| CommandError::UnknownRoute(r.to_owned()))
            })
            .transpose()?;
        let o = match (command.action, target, route) {
            ("drain", Some(t), None) => Override::Drain(t),
            ("pin", Some(t), Some(r)) => Override::Pin(r, t),
            ("freeze", None, r) => Override::Freeze(r),
            ("force", Some(t), None) => {
                let mode = command
                    .mode
                    .and_then(crate::health::BreakerMode::from_label)
                    .ok_or_else(|| CommandError::BadMode {
                        said: command
                            .mode
                            .map_or_else(|| "no `mode`".to_owned(), |m| format!("`{m}`")),
                    })?;
                Override::Force(t, mode)
            }
            ("restore", Some(t), None) => Override::Restore(Scope::Target(t)),
            ("restore", None, Some(r)) => Override::Restore(Scope::Route(r)),
            ("restore", None, None) => Override::Restore(Scope::All),
            (a, _, _) => return Err(CommandError::NotAnOverride(a.to_owned())),
        };
        o.check(self)?;
        Ok(o)
    }
}

#[cfg(test)]
mod command_tests {
    use super::*;
    use crate::health::BreakerMode;

    fn params() -> RouterParams {
        let yaml = "targets:\n  - { name: a, provider: p, model: m }\n  - { name: b, provider: p, model: m }\n  - { name: c, provider: p, model: m }\nroutes:\n  - { name: ab, policy: priority, tiers: [[a], [b]] }\n  - { name: only-c, policy: static, targets: [c] }\n";
        crate::config::load_router(yaml, "r.yaml").expect("valid router")
    }

    fn parse(
        action: &str,
        target: Option<&str>,
        route: Option<&str>,
        mode: Option<&str>,
    ) -> Result<Override, CommandError> {
        params().parse_override(OverrideCommand {
            action,
            target,
            route,
            mode,
        })
    }

    #[test]
    fn every_action_parses_to_its_override() {
        let p = params();
        let (a, ab) = (p.target_id("a").unwrap(), p.route_id("ab").unwrap());
        assert_eq!(
            parse("drain", Some("a"), None, None),
            Ok(Override::Drain(a))
        );
        assert_eq!(
            parse("pin", Some("a"), Some("ab"), None),
            Ok(Override::Pin(ab, a))
        );
        assert_eq!(
            parse("freeze", None, Some("ab"), None),
            Ok(Override::Freeze(Some(ab)))
        );
        assert_eq!(
            parse("freeze", None, None, None),
            Ok(Override::Freeze(None))
        );
        for mode in BreakerMode::ALL {
            assert_eq!(
                parse("force", Some("a"), None, Some(mode.label())),
                Ok(Override::Force(a, mode))
            );
        }
        assert_eq!(
            parse("restore", Some("a"), None, None),
            Ok(Override::Restore(Scope::Target(a)))
        );
        assert_eq!(
            parse("restore", None, Some("ab"), None),
            Ok(Override::Restore(Scope::Route(ab)))
        );
        assert_eq!(
            parse("restore", None, None, None),
            Ok(Override::Restore(Scope::All))
        );
    }

    #[test]
    fn what_is_not_an_override_is_refused_naming_the_field() {
        let e = parse("drain", Some("nope"), None, None).unwrap_err();
        assert_eq!(
            (e.field(), e.to_string().as_str()),
            ("target", "unknown target `nope`")
        );
        let e = parse("freeze", None, Some("nope"), None).unwrap_err();
        assert_eq!(
            (e.field(), e.to_string().as_str()),
            ("route", "unknown route `nope`")
        );
        let e = parse("force", Some("a"), None, Some("open")).unwrap_err();
        assert_eq!(e.field(), "mode");
        assert!(
            e.to_string()
                .contains("forced_open, disabled, metrics_only or automatic (got `open`)"),
            "{e}"
        );
        let e = parse("force", Some("a"), None, None).unwrap_err();
        assert!(e.to_string().contains("(got no `mode`)"), "{e}");
        // A field the action does not take is not silently ignored.
        let e = parse("drain", Some("a"), Some("ab"), None).unwrap_err();
        assert_eq!(e.field(), "action");
        assert_eq!(
            parse("reboot", None, None, None).unwrap_err().field(),
            "action"
        );
        // A pin outside its route is checked here too.
        let e = parse("pin", Some("c"), Some("ab"), None).unwrap_err();
        assert!(
            matches!(
                e,
                CommandError::Invalid(OverrideError::PinOutsideRoute { .. })
            ),
            "{e:?}"
        );
        assert_eq!(e.field(), "target");
        assert_eq!(BreakerMode::from_label("sideways"), None);
    }
}
