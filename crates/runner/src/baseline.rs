//! Baselines: a stored (trimmed) `report.json` per scenario, and the check that a new run has
//! not regressed past a tolerance on the figures that matter.
//!
//! Figures and their rules, with tolerance `t` (default 0.05):
//! success rate may drop by at most `t / 50` (0.1 point at the default); p99 latency, p99 TTFT,
//! attempts per request and cost may grow by at most a factor `1 + t`; each fault's time to
//! fail over and back may grow by at most `1 + t` plus one series point of slack.

use std::path::Path;

use serde_json::{Value, json};

use crate::{Report, RunError};

/// The part of a report a baseline keeps.
pub fn trimmed(r: &Report) -> Value {
    json!({
        "schema_version": r.schema_version,
        "scenario": r.scenario,
        "seed": r.seed,
        "mode": r.mode,
        "totals": {
            "success_rate": r.totals.success_rate,
            "latency_ms": { "p99": r.totals.latency_ms.p99 },
            "ttft_ms": { "p99": r.totals.ttft_ms.p99 },
            "attempts_per_request": r.totals.attempts_per_request,
            "cost_usd": r.totals.cost_usd,
        },
        "series": { "width_secs": r.series.width_secs },
        "failover": r.failover.iter().map(|f| json!({
            "fault": f.fault,
            "time_to_failover_secs": f.time_to_failover_secs,
            "time_to_failback_secs": f.time_to_failback_secs,
        })).collect::<Vec<_>>(),
    })
}

/// Writes `dir/<scenario>.json`.
pub fn save(dir: &Path, r: &Report) -> Result<(), RunError> {
    let io = |e: String| RunError::Io {
        path: dir.display().to_string(),
        message: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(e.to_string()))?;
    let text = serde_json::to_string_pretty(&trimmed(r)).map_err(|e| io(e.to_string()))?;
    std::fs::write(dir.join(format!("{}.json", r.scenario)), text + "\n")
        .map_err(|e| io(e.to_string()))
}

/// The baseline file for a report: `path` itself, or `path/<scenario>.json` for a directory.
pub fn file_for(path: &Path, r: &Report) -> std::path::PathBuf {
    if path.is_dir() {
        path.join(format!("{}.json", r.scenario))
    } else {
        path.to_owned()
    }
}

/// Every regression of `r` against the baseline at `path`, as sentences.
pub fn check(path: &Path, r: &Report, tolerance: f64) -> Result<Vec<String>, RunError> {
    let file = file_for(path, r);
    let text = std::fs::read_to_string(&file).map_err(|e| RunError::Io {
        path: file.display().to_string(),
        message: e.to_string(),
    })?;
    let base: Value = serde_json::from_str(&text).map_err(|e| RunError::Setup {
        file: file.display().to_string(),
        message: format!("not a report: {e}"),
    })?;
    let num = |p: &str| base.pointer(p).and_then(Value::as_f64);
    let mut regressions = Vec::new();
    if let Some(b) = num("/totals/success_rate")
        && r.totals.success_rate < b - tolerance / 50.0
    {
        regressions.push(format!(
            "success rate {:.4} fell below the baseline's {b:.4}",
            r.totals.success_rate
        ));
    }
    let grows = [
        (
            "p99 latency (ms)",
            "/totals/latency_ms/p99",
            r.totals.latency_ms.p99,
        ),
        ("p99 TTFT (ms)", "/totals/ttft_ms/p99", r.totals.ttft_ms.p99),
        (
            "attempts per request",
            "/totals/attempts_per_request",
            r.totals.attempts_per_request,
        ),
        ("cost (USD)", "/totals/cost_usd", r.totals.cost_usd),
    ];
    for (name, pointer, now) in grows {
        if let Some(b) = num(pointer)
            && now > b * (1.0 + tolerance) + 1e-9
        {
            regressions.push(format!(
                "{name} {now:.4} exceeds the baseline's {b:.4} by more than {:.0}%",
                tolerance * 100.0
            ));
        }
    }
    let slack = num("/series/width_secs").unwrap_or(1.0);
    for f in &r.failover {
        let Some(bf) = base
            .get("failover")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x["fault"] == f.fault.as_str()))
        else {
            continue;
        };
        for (name, key, now) in [
            (
                "time to fail over",
                "time_to_failover_secs",
                f.time_to_failover_secs,
            ),
            (
                "time to fail back",
                "time_to_failback_secs",
                f.time_to_failback_secs,
            ),
        ] {
            match (bf.get(key).and_then(Value::as_f64), now) {
                (Some(b), Some(n)) if n > b * (1.0 + tolerance) + slack => {
                    regressions.push(format!(
                        "{name} for `{}` {n:.1} s exceeds the baseline's {b:.1} s",
                        f.fault
                    ));
                }
                (Some(b), None) => regressions.push(format!(
                    "{name} for `{}` no longer happens (baseline {b:.1} s)",
                    f.fault
                )),
                _ => {}
            }
        }
    }
    Ok(regressions)
}
