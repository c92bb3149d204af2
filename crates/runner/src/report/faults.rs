//! The failover figures of each named fault (defined in `docs/FAILOVER.md`) and the line
//! that says whether the run tested it.

use super::{Exercised, FailoverReport, secs};
use crate::results::{Collector, round3};
use crate::scenario::ScenarioParams;

/// The failover figures of each named fault: detection from the router's events on the
/// fault's provider's targets (tallied as they happened, so however many events the run
/// had), the rest from the collector's per-request folds.
pub(super) fn failover(
    s: &ScenarioParams,
    collector: &Collector,
    black_box: bool,
) -> Vec<FailoverReport> {
    s.faults
        .iter()
        .zip(&collector.failover.faults)
        .enumerate()
        .map(|(i, (f, fold))| {
            let detected = collector.tally.detected(i);
            let detect = detected.map(|at| at.saturating_since(f.from).as_secs_f64());
            // Through a black box, the fold holds the requests each fake counted (polled on
            // the run's clock, `live/watch.rs`), and the gateway's breakers are not seen.
            let x = fold.figures(detected);
            let exercised = x.exercised;
            // Not exercised: no failover and no failback (the fold says so too).
            let over = x.time_to_failover.filter(|_| exercised).map(round3);
            let mut line = if f.from.since_start() >= s.duration {
                // `run --duration` ended the run before the fault began.
                format!(
                    "not exercised: the fault starts at {} s, after the run's end at {} s",
                    secs(f.from),
                    s.duration.as_secs_f64()
                )
            } else {
                exercised_line(&f.provider, &x, over)
            };
            if black_box {
                line = format!("{line} ({BLACK_BOX_LINE})")
                    .replace(
                        "that could reach it started during",
                        "that reached the fakes during",
                    )
                    .replace("could reach it started", "reached the fakes");
            }
            let detect = detect.filter(|_| !black_box);
            let back = x.time_to_failback.filter(|_| exercised);
            FailoverReport {
                fault: f.name.clone(),
                provider: f.provider.clone(),
                from_secs: secs(f.from),
                to_secs: secs(f.to),
                time_to_detect_secs: detect.map(round3),
                time_to_failover_secs: over,
                time_to_failback_secs: back.map(round3),
                hold_secs: round3(x.hold.as_secs_f64()),
                failback_hold_secs: round3(x.failback_hold.as_secs_f64()),
                exercised: Exercised {
                    exercised,
                    requests: x.requests,
                    provider_requests: x.provider_requests,
                    failed_over: over.is_some(),
                    horizon_secs: x.horizon.map(secs),
                    line,
                },
            }
        })
        .collect()
}

/// What a black-box run's fault line adds: where its figures come from, and what it cannot
/// see.
pub const BLACK_BOX_LINE: &str = "black box: counted by the fakes, polled every 0.1 s on the \
     runner's clock; detection not observed, the gateway's breakers are not seen";

fn exercised_line(provider: &str, x: &crate::failover::Figures, over: Option<f64>) -> String {
    let mut line = if x.requests == 0 {
        format!("not exercised: no request that could reach {provider} started during the fault")
    } else if x.provider_requests == 0 {
        format!(
            "not exercised: {provider} got none of the {} requests that could reach it started \
             during the fault",
            x.requests
        )
    } else if let Some(b) = x.share_before.filter(|_| x.never_over_threshold()) {
        format!(
            "not exercised: {provider} had {:.1} % of the requests that could reach it before the \
             fault and {} of the {} during it, under the {:.0} % failover threshold throughout",
            b * 100.0,
            x.provider_requests,
            x.requests,
            crate::failover::THRESHOLD * 100.0
        )
    } else {
        let outcome = over.map_or("it never failed over".to_owned(), |t| {
            format!("failed over after {t:.3} s")
        });
        format!(
            "exercised: {provider} got {} of the {} requests that could reach it started during \
             the fault; {outcome}",
            x.provider_requests, x.requests
        )
    };
    if let Some(h) = x.horizon {
        line.push_str(&format!(
            " (figures from requests started before {} s)",
            secs(h)
        ));
    }
    line
}
