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

#[derive(Clone, Debug, PartialEq)]
pub struct RouteParams {
    pub name: String,
    /// The route's targets, in member order (at most 64).
    pub members: Vec<TargetId>,
    pub policy: Policy,
    /// Where requests go when no target of this route can take them.
    pub fallback: Option<RouteId>,
    /// What a stream broken after its first token does.
    pub resume: ResumeMode,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RouterParams {
    pub providers: Interner,
    pub targets: Vec<TargetParams>,
    pub routes: Vec<RouteParams>,
    pub rules: Vec<RuleParams>,
    pub plan: PlanParams,
    pub budget: BudgetParams,
    pub latency: LatencyParams,
    pub panic_mode: PanicMode,
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
    pub fn target_id(&self, name: &str) -> Option<TargetId> {
        self.targets
            .iter()
            .position(|t| t.name == name)
            .map(|i| TargetId::new(i as u32))
    }
    pub fn route_id(&self, name: &str) -> Option<RouteId> {
        self.routes
            .iter()
            .position(|r| r.name == name)
            .map(|i| RouteId::new(i as u32))
    }
    pub fn target(&self, id: TargetId) -> &TargetParams {
        &self.targets[id.index()]
    }
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
