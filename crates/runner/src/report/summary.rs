//! The report as a few lines for the terminal, and `report.json` without its wall-clock part.

use super::{ExpectationResult, Report};

/// A short text summary for the terminal.
pub fn summary(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let t = &r.totals;
    let _ = writeln!(
        out,
        "{} ({} mode, seed {}): {} requests, {} succeeded, p50 {}, p99 {}, {:.3} attempts/request, ${:.4}",
        r.scenario,
        r.mode,
        r.seed,
        t.requests,
        crate::render::headline_rate(r),
        crate::render::headline_ms(r, t.latency_ms.p50),
        crate::render::headline_p99(r),
        t.attempts_per_request,
        t.cost_usd
    );
    let _ = writeln!(
        out,
        "  {:<24} {:>9} {:>9} {:>8} {:>9} {:>9}",
        "target", "attempts", "share", "avail", "p50 ms", "p99 ms"
    );
    for x in &r.targets {
        target_line(&mut out, x, crate::render::exact_share(r, x));
    }
    if !t.failures.is_empty() {
        let _ = writeln!(
            out,
            "  failed requests by reason: {}",
            crate::render::failures_line(t)
        );
    }
    for f in &r.failover {
        let _ = writeln!(
            out,
            "  fault {} on {}: {}",
            f.fault,
            f.provider,
            crate::render::fault_line(r, f)
        );
    }
    // The same words and units as the other reports' verdicts.
    let verdicts = crate::render::verdicts(r);
    for (e, (passed, name, observed, expected)) in r.expectations.iter().zip(verdicts) {
        let observed = if e.observed.is_some() {
            format!("observed {observed}")
        } else {
            observed
        };
        let _ = writeln!(
            out,
            "  [{}] {name}: {} {expected} ({observed})",
            if passed { "PASS" } else { "FAIL" },
            e.metric_name(),
        );
    }
    out
}

impl ExpectationResult {
    fn metric_name(&self) -> String {
        serde_json::to_value(self.metric)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// `report.json` without its `wall` section, for comparisons of runs.
pub fn without_wall(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(mut v) => {
            if let Some(m) = v.as_object_mut() {
                m.remove("wall");
            }
            v.to_string()
        }
        Err(_) => json.to_owned(),
    }
}

/// A target's line in the summary: attempts, share, availability, p50 and p99.
fn target_line(out: &mut String, x: &crate::results::TargetReport, share: f64) {
    use std::fmt::Write;
    // A target none of whose attempts finished (none sent, or all cancelled) has no
    // availability, one without latencies none to show: "—", not 100 % and 0.
    let dash = || crate::render::NOT_OBSERVED.to_owned();
    let avail = x.exact.availability.map_or_else(dash, crate::render::nines);
    let (p50, p99) = if x.latency_ms.samples == 0 {
        (dash(), dash())
    } else {
        (
            format!("{:.0}", x.latency_ms.p50),
            format!("{:.0}", x.latency_ms.p99),
        )
    };
    let _ = writeln!(
        out,
        "  {:<24} {:>9} {:>8.2}% {avail:>8} {p50:>9} {p99:>9}",
        x.name,
        x.attempts,
        share * 100.0,
    );
}
