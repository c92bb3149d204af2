//! A scenario's operator timeline: each action parsed as the gateway's admin API parses the
//! same command.

use switchyard_core::config::ValidationError;
use switchyard_core::overrides::Override;
use switchyard_core::router::{OverrideCommand, RouterParams};
use switchyard_core::time::{Duration, Instant};

use super::{OperatorConfig, ScenarioConfig, err};

/// The operator's actions for each variant's own router (in `variants`' order), by the
/// names written: a variant that lists its targets or routes in another order gets the
/// same targets and routes, and one that lacks a name an action uses is refused.
pub(super) fn for_variants(
    c: &ScenarioConfig,
    variants: &[(String, RouterParams)],
    errors: &mut Vec<ValidationError>,
) -> Vec<Vec<(Instant, Override)>> {
    let mut out = Vec::new();
    for (name, router) in variants {
        match resolve(&c.operator, router, c.duration) {
            Ok(actions) => out.push(actions),
            Err(e) => {
                let i = c.variants.iter().position(|v| v.name == *name).unwrap_or(0);
                errors.push(err(
                    format!("variants[{i}].router"),
                    format!("`{}` does not apply to this variant: {}", e.path, e.message),
                ));
                out.push(Vec::new());
            }
        }
    }
    out
}

/// The operator's actions in time order, or the first error.
pub(super) fn resolve(
    ops: &[OperatorConfig],
    router: &RouterParams,
    duration: Duration,
) -> Result<Vec<(Instant, Override)>, ValidationError> {
    let mut out = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        let path = format!("operator[{i}]");
        let mut actions: Vec<Override> = written(o, router)
            .into_iter()
            .map(|(command, [action, target, route])| {
                router.parse_override(command).map_err(|e| {
                    let field = match e.field() {
                        "target" => target,
                        "route" => route,
                        _ => action,
                    };
                    err(format!("{path}.{field}"), e.to_string())
                })
            })
            .collect::<Result<_, _>>()?;
        if actions.len() != 1 {
            return Err(err(
                path,
                "write exactly one of drain, pin, freeze, force, restore",
            ));
        }
        if o.at > duration {
            return Err(err(
                format!("{path}.at"),
                format!("is after the end of the run ({duration})"),
            ));
        }
        out.push((Instant::ZERO + o.at, actions.remove(0)));
    }
    out.sort_by_key(|(at, _)| *at);
    Ok(out)
}

/// Each action an operator entry writes, as the command the gateway's admin API would take,
/// and the scenario field each command field came from (action, target, route: for the
/// error's place).
fn written<'a>(
    o: &'a OperatorConfig,
    router: &RouterParams,
) -> Vec<(OverrideCommand<'a>, [&'static str; 3])> {
    let mut actions = Vec::new();
    if let Some(t) = &o.drain {
        let c = OverrideCommand {
            action: "drain",
            target: Some(t),
            ..OverrideCommand::default()
        };
        actions.push((c, ["drain", "drain", ""]));
    }
    if let Some(p) = &o.pin {
        let c = OverrideCommand {
            action: "pin",
            target: Some(&p.target),
            route: Some(&p.route),
            ..OverrideCommand::default()
        };
        actions.push((c, ["pin", "pin.target", "pin.route"]));
    }
    if let Some(r) = &o.freeze {
        let c = OverrideCommand {
            action: "freeze",
            route: (r != "all").then_some(r.as_str()),
            ..OverrideCommand::default()
        };
        actions.push((c, ["freeze", "", "freeze"]));
    }
    if let Some(f) = &o.force {
        let c = OverrideCommand {
            action: "force",
            target: Some(&f.target),
            mode: Some(&f.mode),
            ..OverrideCommand::default()
        };
        actions.push((c, ["force.mode", "force.target", ""]));
    }
    if let Some(r) = &o.restore {
        // A name is a target's if there is one, else a route's; `all` is everything.
        let is_target = router.target_id(r).is_some();
        let c = OverrideCommand {
            action: "restore",
            target: is_target.then_some(r.as_str()),
            route: (!is_target && r != "all").then_some(r.as_str()),
            ..OverrideCommand::default()
        };
        actions.push((c, ["restore", "restore", "restore"]));
    }
    actions
}
