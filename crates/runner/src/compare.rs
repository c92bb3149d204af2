//! Comparisons: the same scenario, traffic and seeds through several router variants, side
//! by side. `compare.json` holds every figure per variant and seed; `compare.md` and
//! `compare.html` show one table (a column per variant, the best value marked, the spread
//! across seeds) and charts overlaid per variant.

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

#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub name: String,
    pub better: Better,
    /// Per variant: the value for each seed (`None`: not observed in that run).
    pub values: BTreeMap<String, Vec<Option<f64>>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub scenario: String,
    pub variants: Vec<String>,
    pub seeds: Vec<u64>,
    pub figures: Vec<Figure>,
    /// Per variant, the first seed's latency p99 (ms) over time, for the overlay chart.
    pub p99_over_time: BTreeMap<String, Vec<f64>>,
    pub timeline_width_secs: f64,
}

/// The figures a comparison shows, read from one report.
fn figures(r: &Report) -> Vec<(String, Better, Option<f64>)> {
    let mut out = vec![
        (
            "success rate".to_owned(),
            Better::Higher,
            Some(r.totals.success_rate),
        ),
        (
            "p99 latency (ms)".to_owned(),
            Better::Lower,
            Some(r.totals.latency_ms.p99),
        ),
        (
            "p99 TTFT (ms)".to_owned(),
            Better::Lower,
            Some(r.totals.ttft_ms.p99),
        ),
        (
            "attempts per request".to_owned(),
            Better::Lower,
            Some(r.totals.attempts_per_request),
        ),
        (
            "cost (USD)".to_owned(),
            Better::Lower,
            Some(r.totals.cost_usd),
        ),
        (
            "wasted cost (USD)".to_owned(),
            Better::Lower,
            Some(r.totals.wasted_cost_usd),
        ),
    ];
    for p in r.phases.iter().filter(|p| p.name.starts_with("during:")) {
        out.push((
            format!("success {}", p.name),
            Better::Higher,
            Some(p.figures.success_rate),
        ));
        out.push((
            format!("p99 latency {} (ms)", p.name),
            Better::Lower,
            Some(p.figures.latency_ms.p99),
        ));
    }
    for f in &r.failover {
        out.push((
            format!("time to fail over {} (s)", f.fault),
            Better::Lower,
            f.time_to_failover_secs,
        ));
        out.push((
            format!("time to fail back {} (s)", f.fault),
            Better::Lower,
            f.time_to_failback_secs,
        ));
    }
    out
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
            for (fname, better, value) in figures(&report) {
                let figure = match table.iter_mut().position(|f| f.name == fname) {
                    Some(k) => &mut table[k],
                    None => {
                        table.push(Figure {
                            name: fname,
                            better,
                            values: BTreeMap::new(),
                        });
                        let last = table.len() - 1;
                        &mut table[last]
                    }
                };
                figure
                    .values
                    .entry(name.clone())
                    .or_insert_with(Vec::new)
                    .push(value);
            }
        }
    }
    Ok(Comparison {
        scenario: s.name.clone(),
        variants: chosen.iter().map(|(n, _)| n.clone()).collect(),
        seeds: seed_list,
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

/// Cells of the table: per figure, per variant, the text and whether it is the best.
fn cells(c: &Comparison) -> Vec<(String, Vec<(String, bool)>)> {
    c.figures
        .iter()
        .map(|f| {
            let means: Vec<Option<f64>> = c
                .variants
                .iter()
                .map(|v| f.values.get(v).and_then(|x| mean(x)))
                .collect();
            let best = means
                .iter()
                .flatten()
                .copied()
                .reduce(|a, b| match f.better {
                    Better::Higher => a.max(b),
                    Better::Lower => a.min(b),
                });
            let row = c
                .variants
                .iter()
                .zip(&means)
                .map(|(v, m)| match m {
                    None => ("not observed".to_owned(), false),
                    Some(m) => {
                        let mut text = fmt(*m);
                        if let Some((lo, hi)) = f.values.get(v).and_then(|x| spread(x)) {
                            text.push_str(&format!(" ({}–{})", fmt(lo), fmt(hi)));
                        }
                        (text, best.is_some_and(|b| (b - m).abs() < 1e-12))
                    }
                })
                .collect();
            (f.name.clone(), row)
        })
        .collect()
}

pub fn markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Comparison: `{}`\n", c.scenario);
    let _ = writeln!(
        out,
        "{} variants, seeds {:?}; the mean across seeds, (min–max) when several, **best** in bold.\n",
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
    out
}

pub fn html(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — comparison</title><style>body{{font-family:system-ui,sans-serif;margin:24px auto;max-width:1160px}}table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}th{{background:#f5f5f5}}td.best{{background:#eef8ee;font-weight:700}}</style></head><body>\n",
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
    out.push_str("</table>\n<h2>Latency p99 over time, per variant (first seed)</h2>\n");
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
