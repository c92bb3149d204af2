//! The report's time series: per target from the core's telemetry, and the run's latency
//! timeline from the collector.

use switchyard_core::outcome::ErrorKind;
use switchyard_core::router::RouterParams;
use switchyard_core::telemetry::{TargetPoint, TargetStats, Telemetry};

use super::{SeriesReport, TargetSeries, TimelineReport};
use crate::results::{Collector, round3, round6};

/// Each target's series, padded to the same length.
pub(super) fn series(p: &RouterParams, tel: &Telemetry) -> SeriesReport {
    SeriesReport {
        width_secs: tel.series_width(),
        targets: p
            .targets
            .iter()
            .zip(&tel.targets)
            .map(|(t, st)| (t.name.clone(), target_series(tel, st)))
            .collect(),
    }
}

/// One target's series, as long as the longest target's.
fn target_series(tel: &Telemetry, st: &TargetStats) -> TargetSeries {
    // Series that saw nothing late in the run are shorter; pad them to line up.
    let width = tel.series_width();
    let pts = st.series.aligned(width);
    let len = tel
        .targets
        .iter()
        .map(|x| x.series.aligned(width).len())
        .max()
        .unwrap_or(0);
    let get = |f: fn(&TargetPoint) -> u64| {
        (0..len)
            .map(|i| pts.get(i).map_or(0, f))
            .collect::<Vec<u64>>()
    };
    let errors_by_kind = ErrorKind::ALL
        .iter()
        .filter(|k| st.errors[k.index()] > 0)
        .map(|k| {
            let v = (0..len)
                .map(|i| pts.get(i).map_or(0, |x| u64::from(x.kinds[k.index()])))
                .collect();
            (k.label(), v)
        })
        .collect();
    TargetSeries {
        attempts: get(|x| x.attempts),
        successes: get(|x| x.successes),
        errors: get(|x| x.errors),
        cost_usd: (0..len)
            .map(|i| pts.get(i).map_or(0.0, |x| round6(x.cost)))
            .collect(),
        availability: (0..len)
            .map(|i| {
                let x = pts.get(i)?;
                let finished = x.successes + x.errors;
                let bad: u64 = ErrorKind::ALL
                    .iter()
                    .filter(|k| tel.availability_kinds[k.index()])
                    .map(|k| u64::from(x.kinds[k.index()]))
                    .sum();
                (finished > 0).then(|| round6(1.0 - bad as f64 / finished as f64))
            })
            .collect(),
        errors_by_kind,
    }
}

/// Latency and time to first token in the collector's windows.
pub(super) fn timeline(collector: &Collector) -> TimelineReport {
    TimelineReport {
        width_secs: collector.timeline_width.as_secs_f64(),
        requests: collector.timeline.iter().map(|(l, _)| l.count()).collect(),
        p50_ms: collector
            .timeline
            .iter()
            .map(|(l, _)| round3(l.quantile(0.5).as_secs_f64() * 1e3))
            .collect(),
        p99_ms: collector
            .timeline
            .iter()
            .map(|(l, _)| round3(l.quantile(0.99).as_secs_f64() * 1e3))
            .collect(),
        ttft_p50_ms: collector
            .timeline
            .iter()
            .map(|(_, t)| round3(t.quantile(0.5).as_secs_f64() * 1e3))
            .collect(),
        ttft_p99_ms: collector
            .timeline
            .iter()
            .map(|(_, t)| round3(t.quantile(0.99).as_secs_f64() * 1e3))
            .collect(),
    }
}
