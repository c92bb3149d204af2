//! The expectations' errors a broken router, traffic or provider section must not hide, and
//! the ones it makes meaningless.

use switchyard_core::config::ValidationError;

use super::{FaultWindow, ScenarioConfig, ScenarioProvider, err};
use crate::expect::ExpectationParams;

/// The expectations' checks that need neither the router nor the traffic, when one of them
/// is broken (`ExpectParams::check_alone`).
pub(super) fn expectations_alone(
    c: &ScenarioConfig,
    faults: &[FaultWindow],
    providers: &[ScenarioProvider],
    broken: &[&str],
    errors: &mut Vec<ValidationError>,
) {
    for (i, e) in c.expect.iter().enumerate() {
        if let Err(e) = e.check_alone(&format!("expect[{i}]"), faults, providers) {
            keep_unless_broken(e, broken, errors);
        }
    }
}

/// An expectation's error, kept unless a provider is in error: its faults and its name are
/// unknown then, and refusing an expectation for naming them would say nothing new.
pub(super) fn keep_unless_broken(
    e: ValidationError,
    broken: &[&str],
    errors: &mut Vec<ValidationError>,
) {
    let about_a_broken_part = !broken.is_empty()
        && [".fault", ".phase", ".provider"]
            .iter()
            .any(|f| e.path.ends_with(f));
    if !about_a_broken_part {
        errors.push(e);
    }
}

/// A fleet's metric (`provider_rate_limited`, `probes`, ...) in a scenario without `replicas`
/// could only ever be "not observed": refused at validation instead.
pub(super) fn fleet_metric(
    e: &ExpectationParams,
    i: usize,
    is_fleet: bool,
    errors: &mut Vec<ValidationError>,
) {
    if e.metric.is_fleet() && !is_fleet {
        errors.push(err(
            format!("expect[{i}].metric"),
            "a fleet's metric: it needs `replicas` (docs/FLEET.md)",
        ));
    }
}
