//! Comparisons: the same scenario, traffic and seeds through several router variants, side
//! by side. `compare.json` holds every figure per variant and seed, and each variant's
//! expectation verdicts; `compare.md` and `compare.html` show one table of figures (a column
//! per variant, the best value marked, the spread across seeds), one of verdicts, and charts
//! overlaid per variant.
//!
//! A figure a run did not observe is shown as such and never ranked: a rate over no requests
//! is "not observed"; a failover figure of a fault whose provider got no request during the
//! fault reads "not exercised" (nothing failed over, so there is no time to rank); a fault
//! that was exercised but never failed over (or back) reads "never". A variant is ranked on a
//! figure only when every seed observed it.
//!
//! A fleet's variants (`replicas:`) add the figures of the report's `fleet` section: each
//! rate-limited provider's share of 429s, per target the fleet's stop time and the probes it
//! received (not observed when no breaker opened on it), and the busiest replica's share.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::report::fleet::FleetReport;
use crate::{Report, RunError, ScenarioParams, simulate};

mod render;

pub use render::{html, markdown, write};

/// Which way is better for a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// Why a figure has no value in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Absent {
    /// The run had nothing to measure it on (no requests in the scope, or to the provider;
    /// in a fleet, no breaker opened on the target).
    NotObserved,
    /// A failover figure of a fault whose provider got no request during it: the run did
    /// not test the fault.
    NotExercised,
    /// It could have happened and did not (a failover or failback).
    Never,
}

impl Absent {
    pub fn label(self) -> &'static str {
        match self {
            Absent::NotObserved => "not observed",
            Absent::NotExercised => "not exercised",
            Absent::Never => "never",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub name: String,
    pub better: Better,
    /// Per variant: the value for each seed (`None`: see `absent`).
    pub values: BTreeMap<String, Vec<Option<f64>>>,
    /// Per variant: for each seed, why the value is `None` (`None` when there is a value).
    pub absent: BTreeMap<String, Vec<Option<Absent>>>,
    /// Its values are counts, shown as whole numbers (a mean across seeds may not be).
    #[serde(skip)]
    pub count: bool,
}

/// One expectation's verdict in one run.
#[derive(Clone, Debug, Serialize)]
pub struct SeedVerdict {
    pub seed: u64,
    /// `pass`, `fail` or `not observed` (which fails too).
    pub verdict: &'static str,
    pub observed: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One expectation of the scenario, judged for every variant and seed.
#[derive(Clone, Debug, Serialize)]
pub struct ExpectationRow {
    /// The expectation with its bound and unit: `p99_latency <= 2 s`.
    pub name: String,
    /// The unit of its expected and observed values (`s`, `USD`; empty for rates, shares
    /// and counts).
    pub unit: &'static str,
    /// Its values are counts, shown as whole numbers.
    #[serde(skip)]
    pub count: bool,
    /// Per variant, one verdict per seed.
    pub verdicts: BTreeMap<String, Vec<SeedVerdict>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub scenario: String,
    pub variants: Vec<String>,
    pub seeds: Vec<u64>,
    /// Every variant held every expectation on every seed.
    pub passed: bool,
    /// Per variant: it held every expectation on every seed.
    pub variant_passed: BTreeMap<String, bool>,
    pub expectations: Vec<ExpectationRow>,
    pub figures: Vec<Figure>,
    /// Per variant, the first seed's latency p99 (ms) over time, for the overlay chart.
    pub p99_over_time: BTreeMap<String, Vec<f64>>,
    pub timeline_width_secs: f64,
}

type Value = Result<f64, Absent>;

/// A figure of one report: its name, which way is better, its value, and whether it is a
/// count.
type Row = (String, Better, Value, bool);

/// A scope's figure, `NotObserved` when the scope had no requests.
fn of_scope(b: &crate::results::BucketReport, x: f64) -> Value {
    if b.requests > 0 {
        Ok(x)
    } else {
        Err(Absent::NotObserved)
    }
}

/// The providers whose 429s a fleet comparison shows: those with a rate limit, and those an
/// expectation names, in the scenario's order.
fn limited_providers(s: &ScenarioParams) -> Vec<&str> {
    s.providers
        .iter()
        .filter(|p| {
            p.profile.requests_per_minute.is_some()
                || p.profile.tokens_per_minute.is_some()
                || s.expectations
                    .iter()
                    .any(|e| e.provider.as_deref() == Some(p.name.as_str()))
        })
        .map(|p| p.name.as_str())
        .collect()
}

/// The fleet's figures, as the report's `fleet` section has them: each limited provider's
/// share of 429s (in percent), and per target the fleet's stop time and the probes it
/// received (not observed when no replica's breaker opened on it), and the busiest
/// replica's share of the requests.
fn fleet_figures(f: &FleetReport, limited: &[&str]) -> Vec<Row> {
    let mut out = Vec::new();
    for name in limited {
        let p = f.providers.iter().find(|p| p.name == *name);
        out.push((
            format!("429 share {name} (%)"),
            Better::Lower,
            match p {
                Some(p) if p.requests > 0 => Ok(p.rate_limited_share * 100.0),
                _ => Err(Absent::NotObserved),
            },
            false,
        ));
    }
    for t in &f.targets {
        out.push((
            format!("fleet stop time {} (s)", t.name),
            Better::Lower,
            t.stopped_after_secs.ok_or(Absent::NotObserved),
            false,
        ));
        out.push((
            format!("probes {}", t.name),
            Better::Lower,
            match t.first_open_secs {
                Some(_) => Ok(t.probes as f64),
                None => Err(Absent::NotObserved),
            },
            true,
        ));
    }
    let busiest = f
        .replicas_load
        .iter()
        .filter(|r| r.requests > 0)
        .map(|r| r.share)
        .reduce(f64::max);
    out.push((
        "largest replica share".to_owned(),
        Better::Lower,
        busiest.ok_or(Absent::NotObserved),
        false,
    ));
    out
}

/// The figures a comparison shows, read from one report (`limited`: the providers whose
/// 429s a fleet's figures show).
fn figures(r: &Report, limited: &[&str]) -> Vec<Row> {
    let t = &r.totals;
    let mut out = vec![
        (
            "success rate".to_owned(),
            Better::Higher,
            of_scope(t, t.success_rate),
        ),
        (
            "p99 latency (ms)".to_owned(),
            Better::Lower,
            of_scope(t, t.latency_ms.p99),
        ),
        (
            "p99 TTFT (ms)".to_owned(),
            Better::Lower,
            of_scope(t, t.ttft_ms.p99),
        ),
        (
            "attempts per request".to_owned(),
            Better::Lower,
            of_scope(t, t.attempts_per_request),
        ),
        // A run with no requests spent nothing: not observed, never the cheapest.
        (
            "cost (USD)".to_owned(),
            Better::Lower,
            of_scope(t, t.cost_usd),
        ),
        (
            "wasted cost (USD)".to_owned(),
            Better::Lower,
            of_scope(t, t.wasted_cost_usd),
        ),
    ];
    for p in r.phases.iter().filter(|p| p.name.starts_with("during:")) {
        out.push((
            format!("success {}", p.name),
            Better::Higher,
            of_scope(&p.figures, p.figures.success_rate),
        ));
        out.push((
            format!("p99 latency {} (ms)", p.name),
            Better::Lower,
            of_scope(&p.figures, p.figures.latency_ms.p99),
        ));
    }
    for f in &r.failover {
        // The report's own word: did the provider get requests started during the fault.
        let exercised = f.exercised.exercised;
        let value = |x: Option<f64>| match (exercised, x) {
            (false, _) => Err(Absent::NotExercised),
            (true, None) => Err(Absent::Never),
            (true, Some(x)) => Ok(x),
        };
        out.push((
            format!("time to fail over {} (s)", f.fault),
            Better::Lower,
            value(f.time_to_failover_secs),
        ));
        out.push((
            format!("time to fail back {} (s)", f.fault),
            Better::Lower,
            value(f.time_to_failback_secs),
        ));
    }
    let mut out: Vec<Row> = out.into_iter().map(|(n, b, v)| (n, b, v, false)).collect();
    if let Some(f) = &r.fleet {
        out.extend(fleet_figures(f, limited));
    }
    out
}

fn verdict(seed: u64, e: &crate::report::ExpectationResult) -> SeedVerdict {
    SeedVerdict {
        seed,
        verdict: match (e.passed, e.observed) {
            (true, _) => "pass",
            (false, Some(_)) => "fail",
            (false, None) => "not observed",
        },
        observed: e.observed,
        reason: e.reason.clone(),
    }
}

/// The variants `only` names (every one without it), or why none can run.
fn chosen<'s>(
    s: &'s ScenarioParams,
    only: Option<&[String]>,
) -> Result<Vec<&'s (String, switchyard_core::router::RouterParams)>, RunError> {
    let chosen: Vec<&(String, switchyard_core::router::RouterParams)> = s
        .variants
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o.iter().any(|x| x == name)))
        .collect();
    if let Some(o) = only {
        for name in o {
            if !s.variants.iter().any(|(n, _)| n == name) {
                let known: Vec<String> = s.variants.iter().map(|(n, _)| format!("`{n}`")).collect();
                return Err(RunError::Setup {
                    file: s.file.clone(),
                    message: format!("no variant `{name}`; the scenario has {}", known.join(", ")),
                });
            }
        }
    }
    if chosen.is_empty() {
        return Err(RunError::Setup {
            file: s.file.clone(),
            message: "the scenario has no variants to compare".to_owned(),
        });
    }
    Ok(chosen)
}

/// Variant `name`'s verdict at `seed` on each expectation, one row per expectation.
fn add_verdicts(rows: &mut Vec<ExpectationRow>, name: &str, seed: u64, report: &Report) {
    for (k, e) in report.expectations.iter().enumerate() {
        if rows.len() <= k {
            let unit = e.metric.unit();
            rows.push(ExpectationRow {
                name: format!("{} {} {}{unit}", e.name, e.op, e.expected),
                unit: unit.trim_start(),
                count: e.metric.is_count(),
                verdicts: BTreeMap::new(),
            });
        }
        rows[k]
            .verdicts
            .entry(name.to_owned())
            .or_default()
            .push(verdict(seed, e));
    }
}

/// Variant `name`'s value of each figure in `report` (or why it has none), one row per
/// figure in the order first seen.
fn add_figures(table: &mut Vec<Figure>, name: &str, report: &Report, limited: &[&str]) {
    for (fname, better, value, count) in figures(report, limited) {
        let figure = match table.iter_mut().position(|f| f.name == fname) {
            Some(k) => &mut table[k],
            None => {
                table.push(Figure {
                    name: fname,
                    better,
                    values: BTreeMap::new(),
                    absent: BTreeMap::new(),
                    count,
                });
                let last = table.len() - 1;
                &mut table[last]
            }
        };
        figure
            .values
            .entry(name.to_owned())
            .or_default()
            .push(value.ok());
        figure
            .absent
            .entry(name.to_owned())
            .or_default()
            .push(value.err());
    }
}

/// Runs every chosen variant over `seeds` seeds.
pub fn compare(
    s: &ScenarioParams,
    only: Option<&[String]>,
    seeds: u32,
) -> Result<Comparison, RunError> {
    let chosen = chosen(s, only)?;
    let limited = limited_providers(s);
    let seed_list: Vec<u64> = (0..u64::from(seeds.max(1))).map(|i| s.seed + i).collect();
    let mut table: Vec<Figure> = Vec::new();
    let mut expectations: Vec<ExpectationRow> = Vec::new();
    let mut p99_over_time = BTreeMap::new();
    let mut width = 0.0;
    for (name, router) in &chosen {
        let mut variant = s.clone();
        variant.router = router.clone();
        let index = s.variants.iter().position(|(n, _)| n == name);
        // The operator's actions as they name this variant's targets and routes.
        if let Some(actions) = index.and_then(|i| s.variant_operator.get(i)) {
            variant.operator = actions.clone();
        }
        // A variant that says what the fleet shares runs its replicas that way.
        if let (Some(fleet), Some(Some(shared))) = (
            variant.fleet.as_mut(),
            index.and_then(|i| s.variant_shared.get(i)),
        ) {
            fleet.shared = *shared;
        }
        for (i, &seed) in seed_list.iter().enumerate() {
            let report = simulate(&variant, seed)?;
            if i == 0 {
                width = report.timeline.width_secs;
                p99_over_time.insert(name.clone(), report.timeline.p99_ms.clone());
            }
            add_verdicts(&mut expectations, name, seed, &report);
            add_figures(&mut table, name, &report, &limited);
        }
    }
    let variants: Vec<String> = chosen.iter().map(|(n, _)| n.clone()).collect();
    let variant_passed: BTreeMap<String, bool> = variants
        .iter()
        .map(|v| {
            let held = expectations.iter().all(|e| {
                e.verdicts
                    .get(v)
                    .is_none_or(|vs| vs.iter().all(|x| x.verdict == "pass"))
            });
            (v.clone(), held)
        })
        .collect();
    Ok(Comparison {
        scenario: s.name.clone(),
        passed: variant_passed.values().all(|p| *p),
        variant_passed,
        variants,
        seeds: seed_list,
        expectations,
        figures: table,
        p99_over_time,
        timeline_width_secs: width,
    })
}

#[cfg(test)]
mod tests;
