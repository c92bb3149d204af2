//! `switchyard run --duration`: a scenario run for another duration than its file's. What
//! its timeline holds after the new end cannot happen: operator actions there are dropped,
//! and faults that start there are reported (kept, so that expectations naming them still
//! validate, and are then not observed), as is one the end cuts off. A fleet's store faults
//! that start there are taken out of the run (their phases kept, for the same reason), and
//! one the end cuts off is reported.

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
            let name = f.name.as_deref().map_or(String::new(), |n| format!(" {n}"));
            let at = f.at.unwrap_or(Duration::ZERO);
            if at >= duration {
                notices.push(format!(
                    "--duration {duration}: fault{name} on {} starts at {at}, after the end; it \
                     does not happen",
                    p.name
                ));
            } else if let Some(length) = f.duration.filter(|_| f.every.is_none())
                && at + length > duration
            {
                // `at + for` (saturating) past the end: cut off. A fault without `for` lasts
                // to the end by design, and a flapping one (`every`) has no last window.
                notices.push(format!(
                    "--duration {duration}: fault{name} on {} from {at} for {length} is cut off \
                     by the end",
                    p.name
                ));
            }
        }
    }
    let (kept, after): (Vec<_>, Vec<_>) = std::mem::take(&mut c.store_faults)
        .into_iter()
        .partition(|f| f.at < duration);
    for f in &after {
        notices.push(format!(
            "--duration {duration}: store fault {} ({}) starts at {}, after the end; it does \
             not happen",
            super::fleet::fault_name(f),
            f.kind,
            f.at
        ));
    }
    for f in &kept {
        // `at + for` (saturating) past the end: cut off.
        if f.at + f.length > duration {
            notices.push(format!(
                "--duration {duration}: store fault {} ({}) from {} for {} is cut off by the end",
                super::fleet::fault_name(f),
                f.kind,
                f.at,
                f.length
            ));
        }
    }
    c.store_faults = kept;
    c.store_faults_after_end = after;
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
