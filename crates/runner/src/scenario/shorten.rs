//! `switchyard run --duration`: a scenario run for another duration than its file's. What
//! its timeline holds after the new end cannot happen: operator actions there are dropped,
//! and faults that start there are reported (kept, so that expectations naming them still
//! validate, and are then not observed).

use switchyard_core::time::Duration;

use super::{OperatorConfig, ScenarioConfig};

/// Sets `c`'s duration to `duration`; returns a notice per timeline event after its end.
pub(super) fn shorten(c: &mut ScenarioConfig, duration: Duration) -> Vec<String> {
    let mut notices = Vec::new();
    c.duration = duration;
    c.operator.retain(|o| {
        let keep = o.at <= duration;
        if !keep {
            notices.push(format!(
                "--duration {duration}: the operator action at {} ({}) is after the end; dropped",
                o.at,
                action(o)
            ));
        }
        keep
    });
    for p in &c.providers {
        for f in &p.faults {
            if let Some(at) = f.at.filter(|at| *at >= duration) {
                let name = f.name.as_deref().map_or(String::new(), |n| format!(" {n}"));
                notices.push(format!(
                    "--duration {duration}: fault{name} on {} starts at {at}, after the end; it \
                     does not happen",
                    p.name
                ));
            }
        }
    }
    notices
}

/// The action's name, for the notice.
fn action(o: &OperatorConfig) -> &'static str {
    if o.drain.is_some() {
        "drain"
    } else if o.pin.is_some() {
        "pin"
    } else if o.freeze.is_some() {
        "freeze"
    } else if o.force.is_some() {
        "force"
    } else {
        "restore"
    }
}
