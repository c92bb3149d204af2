//! Comparisons: the same scenario, traffic and seeds through several router variants, side
//! by side. `compare.json` holds every figure per variant and seed, and each variant's
//! expectation verdicts; `compare.md` and `compare.html` show one table of figures (a column
//! per variant, the best value marked, the spread across seeds), one of verdicts, and charts
//! overlaid per variant.
//!
//! A figure a run did not observe is shown as such and never ranked: a rate over no requests
//! is "not observed", and so is a failover figure of a fault whose provider got no request
//! during the fault (nothing failed over, so there is no time to rank); a fault that was
//! exercised but never failed over (or back) reads "never". A variant is ranked on a figure
//! only when every seed observed it.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::render::html::escape;
use crate::{Report, RunError, ScenarioParams, simulate};

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
    /// The run had nothing to measure it on (no requests in the scope, or a fault whose
    /// provider got no requests).
    NotObserved,
    /// It could have happened and did not (a failover or failback).
    Never,
}

impl Absent {
    pub fn label(self) -> &'static str {
        match self {
            Absent::NotObserved => "not observed",
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

/// A scope's figure, `NotObserved` when the scope had no requests.
fn of_scope(b: &crate::results::BucketReport, x: f64) -> Value {
    if b.requests > 0 {
        Ok(x)
    } else {
        Err(Absent::NotObserved)
    }
}

/// The figures a comparison shows, read from one report.
fn figures(r: &Report) -> Vec<(String, Better, Value)> {
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
            (false, _) => Err(Absent::NotObserved),
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

/// Runs every chosen variant over `seeds` seeds.
pub fn compare(
    s: &ScenarioParams,
    only: Option<&[String]>,
    seeds: u32,
) -> Result<Comparison, RunError> {
    let chosen: Vec<&(String, switchyard_core::router::RouterParams)> = s
        .variants
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o.iter().any(|x| x == name)))
        .collect();
    if let Some(o) = only {
        for name in o {
            if !s.variants.iter().any(|(n, _)| n == name) {
                let known: Vec<&str> = s.variants.iter().map(|(n, _)| n.as_str()).collect();
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
    let seed_list: Vec<u64> = (0..u64::from(seeds.max(1))).map(|i| s.seed + i).collect();
    let mut table: Vec<Figure> = Vec::new();
    let mut expectations: Vec<ExpectationRow> = Vec::new();
    let mut p99_over_time = BTreeMap::new();
    let mut width = 0.0;
    for (name, router) in &chosen {
        let mut variant = s.clone();
        variant.router = router.clone();
        for (i, &seed) in seed_list.iter().enumerate() {
            let report = simulate(&variant, seed)?;
            if i == 0 {
                width = report.timeline.width_secs;
                p99_over_time.insert(name.clone(), report.timeline.p99_ms.clone());
            }
            for (k, e) in report.expectations.iter().enumerate() {
                if expectations.len() <= k {
                    let unit = e.metric.unit();
                    expectations.push(ExpectationRow {
                        name: format!("{} {} {}{unit}", e.name, e.op, e.expected),
                        unit: unit.trim_start(),
                        verdicts: BTreeMap::new(),
                    });
                }
                expectations[k]
                    .verdicts
                    .entry(name.clone())
                    .or_default()
                    .push(verdict(seed, e));
            }
            for (fname, better, value) in figures(&report) {
                let figure = match table.iter_mut().position(|f| f.name == fname) {
                    Some(k) => &mut table[k],
                    None => {
                        table.push(Figure {
                            name: fname,
                            better,
                            values: BTreeMap::new(),
                            absent: BTreeMap::new(),
                        });
                        let last = table.len() - 1;
                        &mut table[last]
                    }
                };
                figure
                    .values
                    .entry(name.clone())
                    .or_default()
                    .push(value.ok());
                figure
                    .absent
                    .entry(name.clone())
                    .or_default()
                    .push(value.err());
            }
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

fn mean(v: &[Option<f64>]) -> Option<f64> {
    let xs: Vec<f64> = v.iter().flatten().copied().collect();
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

fn spread(v: &[Option<f64>]) -> Option<(f64, f64)> {
    let xs: Vec<f64> = v.iter().flatten().copied().collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (xs.len() > 1).then_some((lo, hi))
}

fn fmt(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

/// Cells of the table: per figure, per variant, the text and whether it is the best. Only
/// a variant that observed the figure on every seed is ranked.
fn cells(c: &Comparison) -> Vec<(String, Vec<(String, bool)>)> {
    c.figures
        .iter()
        .map(|f| {
            let none = Vec::new();
            let means: Vec<(Option<f64>, bool)> = c
                .variants
                .iter()
                .map(|v| {
                    let values = f.values.get(v).unwrap_or(&none);
                    let complete = !values.is_empty() && values.iter().all(Option::is_some);
                    (mean(values), complete)
                })
                .collect();
            let best = means
                .iter()
                .filter(|(_, complete)| *complete)
                .filter_map(|(m, _)| *m)
                .reduce(|a, b| match f.better {
                    Better::Higher => a.max(b),
                    Better::Lower => a.min(b),
                });
            let row = c
                .variants
                .iter()
                .zip(&means)
                .map(|(v, (m, complete))| {
                    let absent: Vec<Absent> = f
                        .absent
                        .get(v)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .copied()
                        .collect();
                    match m {
                        None => {
                            // "never" only when every seed could have and did not.
                            let label = if !absent.is_empty()
                                && absent.iter().all(|a| *a == Absent::Never)
                            {
                                Absent::Never.label()
                            } else {
                                Absent::NotObserved.label()
                            };
                            (label.to_owned(), false)
                        }
                        Some(m) => {
                            let mut text = fmt(*m);
                            if let Some((lo, hi)) = f.values.get(v).and_then(|x| spread(x)) {
                                text.push_str(&format!(" ({}–{})", fmt(lo), fmt(hi)));
                            }
                            if !absent.is_empty() {
                                let n = f.values.get(v).map_or(0, Vec::len);
                                let never = absent.iter().filter(|a| **a == Absent::Never).count();
                                let label = if never == absent.len() {
                                    Absent::Never.label()
                                } else {
                                    Absent::NotObserved.label()
                                };
                                text.push_str(&format!(
                                    " ({label} in {} of {n} seeds)",
                                    absent.len()
                                ));
                            }
                            let is_best = *complete && best.is_some_and(|b| (b - m).abs() < 1e-12);
                            (text, is_best)
                        }
                    }
                })
                .collect();
            (f.name.clone(), row)
        })
        .collect()
}

/// Verdict cells: per expectation, per variant, the text and whether it held on every seed.
fn verdict_cells(c: &Comparison) -> Vec<(String, Vec<(String, bool)>)> {
    c.expectations
        .iter()
        .map(|e| {
            let row = c
                .variants
                .iter()
                .map(|v| {
                    let verdicts = e.verdicts.get(v).map_or(&[][..], Vec::as_slice);
                    let bad: Vec<&SeedVerdict> =
                        verdicts.iter().filter(|x| x.verdict != "pass").collect();
                    let unit = if e.unit.is_empty() { "" } else { " " };
                    let shown = |x: &SeedVerdict| match x.observed {
                        Some(o) => {
                            format!("{} (observed {}{unit}{})", x.verdict, fmt(o), e.unit)
                        }
                        None => x.verdict.to_owned(),
                    };
                    let text = match (bad.first(), verdicts.len()) {
                        (None, _) => "pass".to_owned(),
                        (Some(first), 1) => shown(first),
                        (Some(first), n) => {
                            format!("{}; {} of {n} seeds failed", shown(first), bad.len())
                        }
                    };
                    (text, bad.is_empty())
                })
                .collect();
            (e.name.clone(), row)
        })
        .collect()
}

/// One line per variant that did not hold, or that all held.
fn verdict_line(c: &Comparison) -> String {
    let failed: Vec<&str> = c
        .variants
        .iter()
        .filter(|v| c.variant_passed.get(*v) == Some(&false))
        .map(String::as_str)
        .collect();
    if c.expectations.is_empty() {
        "The scenario has no expectations.".to_owned()
    } else if failed.is_empty() {
        "Every variant held every expectation.".to_owned()
    } else {
        format!(
            "Failed an expectation: {} (exit code 1).",
            failed.join(", ")
        )
    }
}

pub fn markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Comparison: `{}`\n", c.scenario);
    let _ = writeln!(
        out,
        "{} variants, seeds {:?}; the mean across seeds, (min–max) when several, **best** in bold; \
         a figure a variant did not observe reads `not observed` (or `never`, for a failover that \
         did not happen) and is not ranked.\n",
        c.variants.len(),
        c.seeds
    );
    let _ = writeln!(out, "| figure | {} |", c.variants.join(" | "));
    let _ = writeln!(
        out,
        "|---|{}|",
        c.variants
            .iter()
            .map(|_| "---:")
            .collect::<Vec<_>>()
            .join("|")
    );
    for (name, row) in cells(c) {
        let row: Vec<String> = row
            .into_iter()
            .map(|(t, best)| if best { format!("**{t}**") } else { t })
            .collect();
        let _ = writeln!(out, "| {name} | {} |", row.join(" | "));
    }
    let _ = writeln!(out, "\n### Expectations\n\n{}\n", verdict_line(c));
    if !c.expectations.is_empty() {
        let _ = writeln!(out, "| expectation | {} |", c.variants.join(" | "));
        let _ = writeln!(
            out,
            "|---|{}|",
            c.variants
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        );
        for (name, row) in verdict_cells(c) {
            let row: Vec<String> = row
                .into_iter()
                .map(|(t, ok)| format!("{} {t}", if ok { "✅" } else { "❌" }))
                .collect();
            let _ = writeln!(out, "| {name} | {} |", row.join(" | "));
        }
    }
    out
}

pub fn html(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — comparison</title><style>body{{font-family:system-ui,sans-serif;margin:24px auto;max-width:1160px}}table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}th{{background:#f5f5f5}}td.best{{background:#eef8ee;font-weight:700}}td.fail{{background:#fdecec;color:#a00}}td.pass{{color:#070}}</style></head><body>\n",
        escape(&c.scenario)
    );
    let _ = writeln!(
        out,
        "<h1>Comparison: {}</h1>\n<p>{} variants, seeds {:?}: the mean across seeds, (min–max) when several; the best value is highlighted.</p>",
        escape(&c.scenario),
        c.variants.len(),
        c.seeds
    );
    let _ = writeln!(
        out,
        "<table id=\"comparison\"><tr><th>figure</th>{}</tr>",
        c.variants
            .iter()
            .map(|v| format!("<th>{}</th>", escape(v)))
            .collect::<String>()
    );
    for (name, row) in cells(c) {
        let tds: String = row
            .into_iter()
            .map(|(t, best)| {
                format!(
                    "<td{}>{}</td>",
                    if best { " class=\"best\"" } else { "" },
                    escape(&t)
                )
            })
            .collect();
        let _ = writeln!(out, "<tr><td>{}</td>{tds}</tr>", escape(&name));
    }
    out.push_str("</table>\n");
    let _ = writeln!(
        out,
        "<h2>Expectations</h2>\n<p id=\"verdict\">{}</p>",
        escape(&verdict_line(c))
    );
    if !c.expectations.is_empty() {
        let _ = writeln!(
            out,
            "<table id=\"expectations\"><tr><th>expectation</th>{}</tr>",
            c.variants
                .iter()
                .map(|v| format!("<th>{}</th>", escape(v)))
                .collect::<String>()
        );
        for (name, row) in verdict_cells(c) {
            let tds: String = row
                .into_iter()
                .map(|(t, ok)| {
                    format!(
                        "<td class=\"{}\">{}</td>",
                        if ok { "pass" } else { "fail" },
                        escape(&t)
                    )
                })
                .collect();
            let _ = writeln!(out, "<tr><td>{}</td>{tds}</tr>", escape(&name));
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Latency p99 over time, per variant (first seed)</h2>\n");
    out.push_str(&crate::render::charts::overlay(
        "p99 latency (ms)",
        &c.p99_over_time,
        c.timeline_width_secs,
    ));
    out.push_str("</body></html>\n");
    out
}

/// Writes `compare.json`, `compare.md` and `compare.html` into `dir`.
pub fn write(dir: &Path, c: &Comparison) -> Result<PathBuf, RunError> {
    let io = |e: std::io::Error| RunError::Io {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let json = serde_json::to_string_pretty(c).map_err(|e| RunError::Io {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    std::fs::write(dir.join("compare.json"), json).map_err(io)?;
    std::fs::write(dir.join("compare.md"), markdown(c)).map_err(io)?;
    std::fs::write(dir.join("compare.html"), html(c)).map_err(io)?;
    Ok(dir.to_owned())
}

#[cfg(test)]
mod tests;
