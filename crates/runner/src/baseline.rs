//! Baselines: a stored (trimmed) `report.json` per scenario, and the gate that a new run has
//! not regressed past a tolerance on the figures that matter (`docs/SCENARIOS.md`, "The
//! baseline gate", lists them; a test keeps that list equal to [`gated`]).
//!
//! Figures and their rules, with tolerance `t` (default 0.05):
//! success rate may drop by at most `t / 50` (0.1 point at the default); p99 latency, p99 TTFT,
//! attempts per request and cost may grow by at most a factor `1 + t`; each fault's time to
//! fail over and back regresses when it is worse than the baseline's by more than `t` plus
//! [`TIMING_SLACK_SECS`] (5 % + 0.1 s at the default), whatever the run's length.
//!
//! The gate's verdicts go into the report (`baseline`), so `report.json`, `report.md`,
//! `report.html` and `junit.xml` say what the exit code says. A figure the report has and the
//! baseline lacks, or the other way round, fails: a gate that silently skips a figure is no gate.
//! So does a baseline figure that is not a number (a string, or `null` where only a number
//! makes sense). A run that made no requests fails too: its rates and percentiles are not
//! observed, not a perfect 1 and 0.
//!
//! A baseline only means something for the same scenario, mode and seed: [`load`] refuses
//! another one before the run starts, unless told to overlook the mode or seed ([`Allow`]);
//! another scenario is always refused. A baseline stored before `mode` and `seed` were
//! recorded counts as `sim` with the scenario's own seed.

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
    let mut kept = json!({
        "schema_version": r.schema_version,
        "scenario": r.scenario,
        "seed": r.seed,
        "mode": r.mode,
        "duration_secs": r.duration_secs,
        "totals": {
            "success_rate": r.totals.success_rate,
            "latency_ms": { "p99": r.totals.latency_ms.p99 },
            "ttft_ms": { "p99": r.totals.ttft_ms.p99 },
            "attempts_per_request": r.totals.attempts_per_request,
            "cost_usd": r.totals.cost_usd,
        },
        "failover": r.failover.iter().map(|f| json!({
            "fault": f.fault,
            "time_to_failover_secs": f.time_to_failover_secs,
            "time_to_failback_secs": f.time_to_failback_secs,
        })).collect::<Vec<_>>(),
    });
    if r.black_box.is_some()
        && let Some(totals) = kept.get_mut("totals").and_then(Value::as_object_mut)
    {
        // Through another gateway the attempts are not seen: their 0 is not a figure.
        totals.remove("attempts_per_request");
    }
    kept
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

/// The baseline file for a scenario: `path` itself, or `path/<scenario>.json` for a
/// directory.
pub fn file_for(path: &Path, scenario: &str) -> PathBuf {
    if path.is_dir() {
        path.join(format!("{scenario}.json"))
    } else {
        path.to_owned()
    }
}

/// How much worse than the baseline's a timing figure (time to fail over or back) may be, in
/// seconds, on top of the relative tolerance: a run whose failover moved by a request or two
/// is no regression, whatever the run's length.
pub const TIMING_SLACK_SECS: f64 = 0.1;

/// How a figure may move before it regresses.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    /// May drop by at most the tolerance / 50.
    Floor,
    /// May grow by at most a factor `1 + tolerance`.
    Growth,
    /// May grow by at most a factor `1 + tolerance`, plus [`TIMING_SLACK_SECS`].
    Timing,
}

/// The run's totals the gate compares: where the report and the baseline keep each, its
/// name in messages, its rule.
const TOTALS: [(&str, &str, Rule); 5] = [
    ("/totals/success_rate", "success rate", Rule::Floor),
    ("/totals/latency_ms/p99", "p99 latency (ms)", Rule::Growth),
    ("/totals/ttft_ms/p99", "p99 TTFT (ms)", Rule::Growth),
    (
        "/totals/attempts_per_request",
        "attempts per request",
        Rule::Growth,
    ),
    ("/totals/cost_usd", "cost (USD)", Rule::Growth),
];

/// Each fault's figures the gate compares: the key in its `failover` entry, and the name in
/// messages (with the fault's name).
const PER_FAULT: [(&str, &str); 2] = [
    ("time_to_failover_secs", "time to fail over"),
    ("time_to_failback_secs", "time to fail back"),
];

/// Every figure the gate compares, as `docs/SCENARIOS.md` lists them: `totals.success_rate`,
/// ..., `failover[].time_to_failover_secs`, ...
pub fn gated() -> Vec<String> {
    TOTALS
        .iter()
        .map(|(pointer, _, _)| pointer.trim_start_matches('/').replace('/', "."))
        .chain(PER_FAULT.iter().map(|(key, _)| format!("failover[].{key}")))
        .collect()
}

/// A figure to compare: its name, where the baseline keeps it, the observed value.
struct Figure {
    name: String,
    /// `/totals/...`, or `failover/<fault>/<key>`.
    pointer: String,
    observed: Option<f64>,
    rule: Rule,
    /// Why `observed` is `None`, said when the baseline has the figure.
    absent: &'static str,
}

fn figures(r: &Report) -> Vec<Figure> {
    // Rates and percentiles of no requests are not figures: a run that made no requests
    // must not pass the gate with a success rate of 1 and a p99 of 0.
    let ran = r.totals.requests > 0;
    let t = &r.totals;
    let observed = [
        t.success_rate,
        t.latency_ms.p99,
        t.ttft_ms.p99,
        t.attempts_per_request,
        t.cost_usd,
    ];
    let mut out: Vec<Figure> = TOTALS
        .iter()
        .zip(observed)
        .map(|(&(pointer, name, rule), x)| Figure {
            name: name.into(),
            pointer: pointer.into(),
            observed: ran.then_some(x),
            rule,
            absent: "was not observed: the run made no requests",
        })
        .filter(|f| !(r.black_box.is_some() && f.pointer == "/totals/attempts_per_request"))
        .collect();
    for f in &r.failover {
        for (key, name) in PER_FAULT {
            out.push(Figure {
                name: format!("{name} for `{}` (s)", f.fault),
                pointer: format!("failover/{}/{key}", f.fault),
                observed: match key {
                    "time_to_failover_secs" => f.time_to_failover_secs,
                    _ => f.time_to_failback_secs,
                },
                rule: Rule::Timing,
                absent: "no longer happens",
            });
        }
    }
    out
}

/// What the baseline holds for a figure.
#[derive(Debug, PartialEq)]
enum Stored {
    /// It lacks the figure altogether.
    Missing,
    /// It records that the figure did not happen (a fault's `null` time: it never failed
    /// back).
    Never,
    Number(f64),
    /// Something that is not a figure: a string, a `null` total, an object.
    NotANumber(String),
}

fn stored(base: &Value, pointer: &str) -> Stored {
    let number = |v: &Value, null_is_never: bool| match v {
        Value::Null if null_is_never => Stored::Never,
        v => v
            .as_f64()
            .filter(|x| x.is_finite())
            .map_or_else(|| Stored::NotANumber(v.to_string()), Stored::Number),
    };
    if let Some(rest) = pointer.strip_prefix("failover/") {
        let Some((fault, key)) = rest.rsplit_once('/') else {
            return Stored::Missing;
        };
        let entry = base
            .get("failover")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x["fault"] == fault));
        return match entry.and_then(|e| e.get(key)) {
            None => Stored::Missing,
            Some(v) => number(v, true),
        };
    }
    match base.pointer(pointer) {
        None => Stored::Missing,
        Some(v) => number(v, false),
    }
}

fn judge(f: &Figure, base: Stored, tolerance: f64) -> BaselineFigure {
    let (baseline, limit, passed, message) = match (base, f.observed) {
        (Stored::Missing, _) => (
            None,
            None,
            false,
            format!(
                "{} is in the report but not in the baseline: save the baseline again",
                f.name
            ),
        ),
        (Stored::NotANumber(v), _) => (
            None,
            None,
            false,
            format!(
                "{} in the baseline is not a number ({v}): the baseline is damaged, save it \
                 again",
                f.name
            ),
        ),
        (Stored::Number(b), Some(n)) => {
            let limit = match f.rule {
                Rule::Floor => b - tolerance / 50.0,
                Rule::Growth => b * (1.0 + tolerance) + 1e-9,
                Rule::Timing => b * (1.0 + tolerance) + TIMING_SLACK_SECS,
            };
            let ok = if f.rule == Rule::Floor {
                n >= limit
            } else {
                n <= limit
            };
            let message = match (ok, f.rule) {
                (true, _) => String::new(),
                (false, Rule::Floor) => format!(
                    "{} {} fell below the baseline's {}",
                    f.name,
                    shown(n),
                    shown(b)
                ),
                (false, Rule::Growth) => format!(
                    "{} {} exceeds the baseline's {} by more than {:.0}%",
                    f.name,
                    shown(n),
                    shown(b),
                    tolerance * 100.0
                ),
                (false, Rule::Timing) => format!(
                    "{} {} exceeds the baseline's {} by more than {:.0}% + \
                     {TIMING_SLACK_SECS} s",
                    f.name,
                    shown(n),
                    shown(b),
                    tolerance * 100.0
                ),
            };
            (Some(b), Some(limit), ok, message)
        }
        (Stored::Number(b), None) => (
            Some(b),
            None,
            false,
            format!("{} {} (baseline {})", f.name, f.absent, shown(b)),
        ),
        // The baseline records that it did not happen: happening now, or still not, is no
        // regression.
        (Stored::Never, _) => (None, None, true, String::new()),
    };
    BaselineFigure {
        name: f.name.clone(),
        baseline,
        observed: f.observed,
        limit,
        passed,
        message,
    }
}

/// A baseline read, and found to be of the run's scenario, mode and seed (or allowed not
/// to be), before the run starts.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The baseline file, as messages show it.
    pub file: String,
    /// Its mode and seed (`sim` and the scenario's seed when it does not record them).
    pub mode: String,
    pub seed: u64,
    base: Value,
}

/// Reads the baseline for a run of `scenario` in `mode` with `seed` (`scenario_seed` is the
/// scenario's own, assumed for a baseline that records none) and refuses it before the run
/// starts when it cannot be compared with it.
///
/// Errors (exit 2): the baseline is missing, unreadable or not a baseline; it is of another
/// scenario or of a run of another length (`run --duration`: counts and costs scale with it,
/// so no flag allows that); it is of another mode or seed and `gate.allow` does not allow
/// that.
pub fn load(
    gate: &Gate,
    scenario: &str,
    mode: &str,
    seed: u64,
    scenario_seed: u64,
    duration_secs: f64,
) -> Result<Loaded, RunError> {
    let file = file_for(&gate.path, scenario);
    let shown = file.display().to_string();
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RunError::Baseline(format!(
                "the baseline for scenario `{scenario}` is missing at {shown}: create it with \
                 `switchyard run <scenario> --save-baseline {}`",
                if gate.path.is_dir() {
                    gate.path.display().to_string()
                } else {
                    "DIR".to_owned()
                }
            )));
        }
        Err(e) => {
            return Err(RunError::Baseline(format!(
                "cannot read the baseline for scenario `{scenario}` at {shown}: {e}"
            )));
        }
    };
    let base: Value = serde_json::from_str(&text).map_err(|e| RunError::Setup {
        file: shown.clone(),
        message: format!("not a baseline: {e}"),
    })?;
    let (base_mode, base_seed, base_scenario, base_duration) =
        identity(&base, &shown, scenario_seed)?;
    let differs = differences(
        gate,
        Run {
            scenario,
            mode,
            seed,
            duration_secs: Some(duration_secs),
        },
        Run {
            scenario: base_scenario.unwrap_or(scenario),
            mode: &base_mode,
            seed: base_seed,
            duration_secs: base_duration,
        },
    );
    if !differs.is_empty() {
        return Err(RunError::Baseline(format!(
            "the baseline at {shown} cannot be compared with this run of `{scenario}`: {}; \
             nothing was run",
            differs.join("; ")
        )));
    }
    Ok(Loaded {
        file: shown,
        mode: base_mode,
        seed: base_seed,
        base,
    })
}

/// A baseline's mode, seed, scenario (if it records one) and length (if it records one).
type Identity<'b> = (String, u64, Option<&'b str>, Option<f64>);

/// What a baseline says it is of: mode, seed, scenario and length (a baseline saved before
/// it recorded its mode and seed counts as `sim` with the scenario's own seed).
fn identity<'b>(
    base: &'b Value,
    shown: &str,
    scenario_seed: u64,
) -> Result<Identity<'b>, RunError> {
    let malformed = |field: &str, v: &Value| {
        RunError::Baseline(format!(
            "the baseline at {shown} is damaged: its `{field}` is {v}, not what a baseline \
             records; save it again"
        ))
    };
    let base_mode = match base.get("mode") {
        None => "sim".to_owned(),
        Some(Value::String(m)) => m.clone(),
        Some(v) => return Err(malformed("mode", v)),
    };
    let base_seed = match base.get("seed") {
        None => scenario_seed,
        Some(v) => v.as_u64().ok_or_else(|| malformed("seed", v))?,
    };
    let base_scenario = match base.get("scenario") {
        None => None,
        Some(Value::String(n)) => Some(n.as_str()),
        Some(v) => return Err(malformed("scenario", v)),
    };
    let base_duration = match base.get("duration_secs") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|d| d.is_finite())
                .ok_or_else(|| malformed("duration_secs", v))?,
        ),
    };
    Ok((base_mode, base_seed, base_scenario, base_duration))
}

/// What identifies a run for its baseline.
struct Run<'a> {
    scenario: &'a str,
    mode: &'a str,
    seed: u64,
    /// `None`: a baseline that does not record it.
    duration_secs: Option<f64>,
}

/// Why a baseline of `base` cannot be compared with `run` (empty: it can).
fn differences(gate: &Gate, run: Run<'_>, base: Run<'_>) -> Vec<String> {
    let Run {
        scenario,
        mode,
        seed,
        duration_secs,
    } = run;
    let duration_secs = duration_secs.unwrap_or_default();
    let (base_mode, base_seed) = (base.mode, base.seed);
    let mut differs = Vec::new();
    if base.scenario != scenario {
        let other = base.scenario;
        differs.push(format!(
            "it is of scenario `{other}`, this run is of `{scenario}` (save a baseline of this \
             scenario)"
        ));
    }
    match base.duration_secs {
        None => differs.push(
            "it does not record the run's length (saved by an older version: save it again)"
                .to_owned(),
        ),
        Some(d) if (d - duration_secs).abs() > 1e-6 => differs.push(format!(
            "it is of a run of {d} s, this run is {duration_secs} s (counts and costs scale \
             with the length: save a baseline of a run this long)"
        )),
        Some(_) => {}
    }
    if base_mode != mode && !gate.allow.any_mode {
        differs.push(format!(
            "it is of a {base_mode} run, this is a {mode} run (pass --baseline-any-mode, or \
             --baseline-force)"
        ));
    }
    if base_seed != seed && !gate.allow.any_seed {
        differs.push(format!(
            "it is of seed {base_seed}, this run uses seed {seed} (pass --baseline-any-seed, \
             or --baseline-force)"
        ));
    }
    differs
}

/// The baseline gate of `r` against a baseline [`load`]ed for it.
pub fn compare(gate: &Gate, loaded: &Loaded, r: &Report) -> BaselineReport {
    let base = &loaded.base;
    let mut out: Vec<BaselineFigure> = figures(r)
        .iter()
        .map(|f| judge(f, stored(base, &f.pointer), gate.tolerance))
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
    BaselineReport {
        compared_with: loaded.file.clone(),
        mode: loaded.mode.clone(),
        seed: loaded.seed,
        tolerance: gate.tolerance,
        passed: out.iter().all(|f| f.passed),
        figures: out,
    }
}

/// [`load`] and [`compare`] at once, for a report already made (the run cannot be refused
/// before it started any more: prefer [`load`] first).
pub fn check(gate: &Gate, r: &Report, scenario_seed: u64) -> Result<BaselineReport, RunError> {
    let loaded = load(
        gate,
        &r.scenario,
        r.mode,
        r.seed,
        scenario_seed,
        r.duration_secs,
    )?;
    Ok(compare(gate, &loaded, r))
}

/// A figure as the baseline's verdicts and table show it: to four decimals, an exact 0 as `0`
/// (as a count prints it), not `0.0000` (the compare table's rule).
pub(crate) fn shown(x: f64) -> String {
    if x == 0.0 {
        "0".to_owned()
    } else {
        format!("{x:.4}")
    }
}

#[cfg(test)]
mod tests;
