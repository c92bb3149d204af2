//! Baselines: a stored (trimmed) `report.json` per scenario, and the gate that a new run has
//! not regressed past a tolerance on the figures that matter.
//!
//! Figures and their rules, with tolerance `t` (default 0.05):
//! success rate may drop by at most `t / 50` (0.1 point at the default); p99 latency, p99 TTFT,
//! attempts per request and cost may grow by at most a factor `1 + t`; each fault's time to
//! fail over and back may grow by at most `1 + t` plus one series point of slack.
//!
//! The gate's verdicts go into the report (`baseline`), so `report.json`, `report.md`,
//! `report.html` and `junit.xml` say what the exit code says. A figure the report has and the
//! baseline lacks, or the other way round, fails: a gate that silently skips a figure is no gate.
//! A run that made no requests fails too: its rates and percentiles are not observed, not a
//! perfect 1 and 0.
//!
//! A baseline only means something for the same mode and seed: [`check`] refuses another
//! mode or seed unless told otherwise ([`Allow`]). A baseline stored before `mode` and `seed`
//! were recorded counts as `sim` with the scenario's own seed.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::report::{BaselineFigure, BaselineReport};
use crate::{Report, RunError};

/// What a baseline comparison may overlook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allow {
    /// Compare with a baseline of another seed.
    pub any_seed: bool,
    /// Compare with a baseline of another mode (sim against live).
    pub any_mode: bool,
}

/// The baseline gate of a run: where the baselines are, and how strict to be.
#[derive(Clone, Debug)]
pub struct Gate {
    /// A baseline file, or a folder of `<scenario>.json`.
    pub path: PathBuf,
    pub tolerance: f64,
    pub allow: Allow,
}

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
pub fn file_for(path: &Path, r: &Report) -> PathBuf {
    if path.is_dir() {
        path.join(format!("{}.json", r.scenario))
    } else {
        path.to_owned()
    }
}

/// A figure to compare: its name, where the baseline keeps it, the observed value.
struct Figure {
    name: String,
    pointer: String,
    observed: Option<f64>,
    rule: Rule,
    /// Why `observed` is `None`, said when the baseline has the figure.
    absent: &'static str,
}

#[derive(Clone, Copy)]
enum Rule {
    /// May drop by at most this much.
    Floor(f64),
    /// May grow by at most a factor `1 + t`, plus an absolute slack.
    Ceiling { t: f64, slack: f64 },
}

fn figures(r: &Report, tolerance: f64, slack: f64) -> Vec<Figure> {
    let growth = Rule::Ceiling {
        t: tolerance,
        slack: 1e-9,
    };
    // Rates and percentiles of no requests are not figures: a run that made no requests
    // must not pass the gate with a success rate of 1 and a p99 of 0.
    let ran = r.totals.requests > 0;
    let total = |x: f64| ran.then_some(x);
    const NO_REQUESTS: &str = "was not observed: the run made no requests";
    let mut out = vec![
        Figure {
            name: "success rate".into(),
            pointer: "/totals/success_rate".into(),
            observed: total(r.totals.success_rate),
            absent: NO_REQUESTS,
            rule: Rule::Floor(tolerance / 50.0),
        },
        Figure {
            name: "p99 latency (ms)".into(),
            pointer: "/totals/latency_ms/p99".into(),
            observed: total(r.totals.latency_ms.p99),
            absent: NO_REQUESTS,
            rule: growth,
        },
        Figure {
            name: "p99 TTFT (ms)".into(),
            pointer: "/totals/ttft_ms/p99".into(),
            observed: total(r.totals.ttft_ms.p99),
            absent: NO_REQUESTS,
            rule: growth,
        },
        Figure {
            name: "attempts per request".into(),
            pointer: "/totals/attempts_per_request".into(),
            observed: total(r.totals.attempts_per_request),
            absent: NO_REQUESTS,
            rule: growth,
        },
        Figure {
            name: "cost (USD)".into(),
            pointer: "/totals/cost_usd".into(),
            observed: total(r.totals.cost_usd),
            absent: NO_REQUESTS,
            rule: growth,
        },
    ];
    let timing = Rule::Ceiling {
        t: tolerance,
        slack,
    };
    for f in &r.failover {
        out.push(Figure {
            name: format!("time to fail over for `{}` (s)", f.fault),
            pointer: format!("failover/{}/time_to_failover_secs", f.fault),
            observed: f.time_to_failover_secs,
            rule: timing,
            absent: "no longer happens",
        });
        out.push(Figure {
            name: format!("time to fail back for `{}` (s)", f.fault),
            pointer: format!("failover/{}/time_to_failback_secs", f.fault),
            observed: f.time_to_failback_secs,
            rule: timing,
            absent: "no longer happens",
        });
    }
    out
}

/// What the baseline holds for a figure: `None` if it lacks the figure altogether,
/// `Some(None)` if it records that the figure did not happen (a fault never failed back).
fn stored(base: &Value, pointer: &str) -> Option<Option<f64>> {
    if let Some(rest) = pointer.strip_prefix("failover/") {
        let (fault, key) = rest.rsplit_once('/')?;
        let entry = base
            .get("failover")?
            .as_array()?
            .iter()
            .find(|x| x["fault"] == fault)?;
        let v = entry.get(key)?;
        return Some(v.as_f64());
    }
    let v = base.pointer(pointer)?;
    Some(v.as_f64())
}

fn judge(f: &Figure, base: Option<Option<f64>>) -> BaselineFigure {
    let (limit, passed, message) = match (base, f.observed, f.rule) {
        (None, _, _) => (
            None,
            false,
            format!(
                "{} is in the report but not in the baseline: save the baseline again",
                f.name
            ),
        ),
        (Some(Some(b)), Some(n), Rule::Floor(drop)) => {
            let limit = b - drop;
            let ok = n >= limit;
            let message = if ok {
                String::new()
            } else {
                format!("{} {n:.4} fell below the baseline's {b:.4}", f.name)
            };
            (Some(limit), ok, message)
        }
        (Some(Some(b)), Some(n), Rule::Ceiling { t, slack }) => {
            let limit = b * (1.0 + t) + slack;
            let ok = n <= limit;
            let message = if ok {
                String::new()
            } else {
                format!(
                    "{} {n:.4} exceeds the baseline's {b:.4} by more than {:.0}%",
                    f.name,
                    t * 100.0
                )
            };
            (Some(limit), ok, message)
        }
        (Some(Some(b)), None, _) => (
            None,
            false,
            format!("{} {} (baseline {b:.4})", f.name, f.absent),
        ),
        // The baseline records that it did not happen: happening now, or still not, is no
        // regression.
        (Some(None), _, _) => (None, true, String::new()),
    };
    BaselineFigure {
        name: f.name.clone(),
        baseline: base.flatten(),
        observed: f.observed,
        limit,
        passed,
        message,
    }
}

/// The baseline gate of `r` against the baseline at `gate.path`. `scenario_seed` is the
/// scenario's own seed, assumed for a baseline that does not record one.
///
/// Errors (exit 2): the baseline is missing or unreadable, or it is of another mode or seed
/// and `gate.allow` does not allow that.
pub fn check(gate: &Gate, r: &Report, scenario_seed: u64) -> Result<BaselineReport, RunError> {
    let file = file_for(&gate.path, r);
    let shown = file.display().to_string();
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RunError::Baseline(format!(
                "the baseline for scenario `{}` is missing at {shown}: create it with \
                 `switchyard run <scenario> --save-baseline {}`",
                r.scenario,
                if gate.path.is_dir() {
                    gate.path.display().to_string()
                } else {
                    "DIR".to_owned()
                }
            )));
        }
        Err(e) => {
            return Err(RunError::Baseline(format!(
                "cannot read the baseline for scenario `{}` at {shown}: {e}",
                r.scenario
            )));
        }
    };
    let base: Value = serde_json::from_str(&text).map_err(|e| RunError::Setup {
        file: shown.clone(),
        message: format!("not a baseline: {e}"),
    })?;
    let mode = base.get("mode").and_then(Value::as_str).unwrap_or("sim");
    let seed = base
        .get("seed")
        .and_then(Value::as_u64)
        .unwrap_or(scenario_seed);
    if mode != r.mode && !gate.allow.any_mode {
        return Err(RunError::Baseline(format!(
            "the baseline at {shown} is of a {mode} run, this is a {} run of `{}`: compare \
             like with like, or pass --baseline-any-mode (or --baseline-force)",
            r.mode, r.scenario
        )));
    }
    if seed != r.seed && !gate.allow.any_seed {
        return Err(RunError::Baseline(format!(
            "the baseline at {shown} is of seed {seed}, this run of `{}` uses seed {}: \
             compare like with like, or pass --baseline-any-seed (or --baseline-force)",
            r.scenario, r.seed
        )));
    }
    let slack = base
        .pointer("/series/width_secs")
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    let mut out: Vec<BaselineFigure> = figures(r, gate.tolerance, slack)
        .iter()
        .map(|f| judge(f, stored(&base, &f.pointer)))
        .collect();
    if r.totals.requests == 0 {
        out.insert(
            0,
            BaselineFigure {
                name: "requests".into(),
                baseline: None,
                observed: Some(0.0),
                limit: None,
                passed: false,
                message: "the run made no requests: there is nothing to compare with the \
                          baseline, and a gate does not pass on nothing"
                    .into(),
            },
        );
    }
    // Faults the baseline has and the report lacks.
    for b in base
        .get("failover")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let fault = b["fault"].as_str().unwrap_or_default();
        if !r.failover.iter().any(|f| f.fault == fault) {
            out.push(BaselineFigure {
                name: format!("failover for `{fault}`"),
                baseline: None,
                observed: None,
                limit: None,
                passed: false,
                message: format!("failover for `{fault}` is in the baseline but not in the report"),
            });
        }
    }
    Ok(BaselineReport {
        compared_with: shown,
        mode: mode.to_owned(),
        seed,
        tolerance: gate.tolerance,
        passed: out.iter().all(|f| f.passed),
        figures: out,
    })
}
