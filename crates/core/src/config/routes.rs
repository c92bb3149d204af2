//! A route's targets and policy, its fallback, and fallback chains that must end.

use super::validate::{Result, ValidationError};
use super::{PolicyKind, ResumeConfig, RouteConfig, RouterConfig};
use crate::id::{RouteId, TargetId};
use crate::policy::{MAX_ROUTE_TARGETS, Mask, Policy};
use crate::request::Capabilities;
use crate::router::{ResumeMode, RouteParams};
use crate::target::TargetParams;

/// Every route that is valid on its own (the others are left out, with their errors), then
/// the fallback chains, which must end.
pub(super) fn routes(
    config: &RouterConfig,
    targets: &[TargetParams],
    errors: &mut Vec<ValidationError>,
) -> Vec<RouteParams> {
    let mut routes = Vec::with_capacity(config.routes.len());
    for (i, r) in config.routes.iter().enumerate() {
        let (members, policy) = match route_targets(i, r, targets) {
            Ok(x) => x,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let fallback = fallback(config, i, r, errors);
        let resume = match r.resume {
            ResumeConfig::None => ResumeMode::None,
            ResumeConfig::Prefill => ResumeMode::Prefill,
        };
        if resume == ResumeMode::Prefill
            && !members.iter().any(|t| {
                targets[t.index()]
                    .capabilities
                    .contains(Capabilities::PREFILL)
            })
        {
            errors.push(ValidationError::new(
                format!("routes[{i}].resume"),
                format!(
                    "route `{}` resumes broken streams with `prefill`, but none of its \
                     targets has the `prefill` capability (add it to a target's \
                     `capabilities`)",
                    r.name
                ),
            ));
        }
        routes.push(RouteParams {
            name: r.name.clone(),
            members,
            policy,
            fallback,
            resume,
        });
    }
    // Fallback chains must end: follow each one, at most one visit per route (only when
    // every route was built, so that the indices are the config's).
    if routes.len() == config.routes.len() {
        check_cycles(&routes, errors);
    }
    routes
}

/// Route `i`'s fallback: another route, by name.
fn fallback(
    config: &RouterConfig,
    i: usize,
    r: &RouteConfig,
    errors: &mut Vec<ValidationError>,
) -> Option<RouteId> {
    match &r.fallback {
        None => None,
        Some(name) if *name == r.name => {
            errors.push(ValidationError::new(
                format!("routes[{i}].fallback"),
                "a route cannot fall back to itself",
            ));
            None
        }
        Some(name) => {
            let found = config
                .routes
                .iter()
                .position(|x| x.name == *name)
                .map(|k| RouteId::new(k as u32));
            if found.is_none() {
                errors.push(ValidationError::new(
                    format!("routes[{i}].fallback"),
                    format!("unknown route `{name}`; routes: {}", route_names(config)),
                ));
            }
            found
        }
    }
}

/// Follows each route's fallback chain, at most one visit per route.
fn check_cycles(routes: &[RouteParams], errors: &mut Vec<ValidationError>) {
    for (i, start) in routes.iter().enumerate() {
        let mut seen = vec![false; routes.len()];
        seen[i] = true;
        let mut chain = vec![start.name.as_str()];
        let mut next = start.fallback;
        while let Some(id) = next {
            chain.push(&routes[id.index()].name);
            if seen[id.index()] {
                errors.push(ValidationError::new(
                    format!("routes[{i}].fallback"),
                    format!("fallback cycle: {}", chain.join(" -> ")),
                ));
                break;
            }
            seen[id.index()] = true;
            next = routes[id.index()].fallback;
        }
    }
}

/// Route `i`'s members, as target ids, and its policy.
pub(super) fn route_targets(
    i: usize,
    route: &RouteConfig,
    targets: &[TargetParams],
) -> Result<(Vec<TargetId>, Policy)> {
    let path = format!("routes[{i}]");
    let lookup = |field: String, name: &str| {
        targets
            .iter()
            .position(|t| t.name == name)
            .map(|i| TargetId::new(i as u32))
            .ok_or_else(|| {
                let known: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
                ValidationError::new(
                    field,
                    format!("unknown target `{name}`; targets: {}", known.join(", ")),
                )
            })
    };
    let refuse = |field: &str, why: &str| {
        Err(ValidationError::new(
            format!("{path}.{field}"),
            why.to_owned(),
        ))
    };
    if route.policy != PolicyKind::Weighted && !route.weights.is_empty() {
        return refuse("weights", "only a `weighted` route takes weights");
    }
    if route.policy != PolicyKind::Priority && !route.tiers.is_empty() {
        return refuse("tiers", "only a `priority` route takes tiers");
    }
    let (members, tiers) = listed_members(&path, route)?;
    if members.len() > MAX_ROUTE_TARGETS {
        return refuse(
            "targets",
            &format!("a route has at most {MAX_ROUTE_TARGETS} targets"),
        );
    }
    let mut ids: Vec<TargetId> = Vec::with_capacity(members.len());
    for (field, name) in members {
        let id = lookup(field.clone(), name)?;
        if ids.contains(&id) {
            return Err(ValidationError::new(
                field,
                format!("target `{name}` appears twice in this route"),
            ));
        }
        ids.push(id);
    }
    let policy = match route.policy {
        PolicyKind::Static if ids.len() != 1 => {
            return refuse("targets", "a `static` route has exactly one target");
        }
        PolicyKind::Static => Policy::Static,
        PolicyKind::Priority => Policy::Priority { tiers },
        PolicyKind::Weighted => {
            if route.weights.len() != ids.len() {
                return refuse(
                    "weights",
                    &format!(
                        "needs one weight per target: {} targets, {} weights",
                        ids.len(),
                        route.weights.len()
                    ),
                );
            }
            if route.weights.iter().all(|&w| w == 0) {
                return refuse(
                    "weights",
                    "weights sum to zero: no target would ever be picked",
                );
            }
            Policy::Weighted {
                weights: route.weights.clone(),
            }
        }
        PolicyKind::RoundRobin => Policy::RoundRobin,
        PolicyKind::Random => Policy::Random,
        PolicyKind::LeastLatency => Policy::LeastLatency,
        PolicyKind::LeastCost => Policy::LeastCost,
        PolicyKind::CapabilityMatch => Policy::CapabilityMatch,
    };
    Ok((ids, policy))
}

/// A route's targets as listed: each one's field path and name.
type Listed<'a> = Vec<(String, &'a str)>;

/// A route's targets as listed, and for a `priority` route the mask of each tier over that
/// list.
fn listed_members<'a>(path: &str, route: &'a RouteConfig) -> Result<(Listed<'a>, Vec<Mask>)> {
    let refuse = |field: &str, why: &str| {
        Err(ValidationError::new(
            format!("{path}.{field}"),
            why.to_owned(),
        ))
    };
    let mut members = Vec::new();
    let mut tiers: Vec<Mask> = Vec::new();
    if route.policy == PolicyKind::Priority {
        if !route.targets.is_empty() {
            return refuse("targets", "a `priority` route lists its targets in `tiers`");
        }
        if route.tiers.is_empty() {
            return refuse("tiers", "a `priority` route needs at least one tier");
        }
        for (t, tier) in route.tiers.iter().enumerate() {
            if tier.is_empty() {
                return refuse(&format!("tiers[{t}]"), "a tier needs at least one target");
            }
            let mut mask = 0;
            for (k, name) in tier.iter().enumerate() {
                mask |= 1u64.checked_shl(members.len() as u32).unwrap_or(0);
                members.push((format!("{path}.tiers[{t}][{k}]"), name.as_str()));
            }
            tiers.push(mask);
        }
    } else {
        if route.targets.is_empty() {
            return refuse("targets", "a route needs at least one target");
        }
        members = route
            .targets
            .iter()
            .enumerate()
            .map(|(k, n)| (format!("{path}.targets[{k}]"), n.as_str()))
            .collect();
    }
    Ok((members, tiers))
}

/// The config's route names, for errors that name an unknown one.
pub(super) fn route_names(config: &RouterConfig) -> String {
    let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
    names.join(", ")
}
