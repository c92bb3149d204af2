//! A comparison as the reader sees it: `compare.md` and `compare.html` (tables of figures
//! and verdicts, the best value marked, charts overlaid per variant), and the three files
//! written.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::{Absent, Better, Comparison, Figure, SeedVerdict};
use crate::RunError;
use crate::render::NOT_OBSERVED;
use crate::render::html::escape;

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

/// A figure's cell, by one rule for every figure: four significant digits (`0.9987`,
/// `12.35`, `2474`; whole from 1000 up), to at most six decimals (the precision of the
/// reports' figures), and an exact 0 as `0` (as a count prints it), not `0.000`.
pub(super) fn fmt(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    // The power of ten after rounding to four digits: 0.99996 reads `1.000`, not `1.0000`
    // (the exponent of the scientific form, which carries).
    let rounded = format!("{x:.3e}");
    let magnitude: i32 = rounded
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let decimals = (3 - magnitude).clamp(0, 6) as usize;
    format!("{x:.decimals$}")
}

/// Variant `v`'s cell of figure `f`, whose mean across seeds is `m`: the spread across
/// seeds, and the seeds that did not observe it (`absent`).
fn observed_text(f: &Figure, v: &str, m: f64, absent: &[Absent]) -> String {
    // A count is a whole number; its mean across seeds may not be.
    let number = |x: f64| {
        if f.count && x.fract() == 0.0 {
            format!("{x:.0}")
        } else {
            fmt(x)
        }
    };
    let mut text = number(m);
    if let Some((lo, hi)) = f.values.get(v).and_then(|x| spread(x)) {
        text.push_str(&format!(" ({}–{})", number(lo), number(hi)));
    }
    if !absent.is_empty() {
        let n = f.values.get(v).map_or(0, Vec::len);
        let label = shared_reason(absent).unwrap_or(Absent::NotObserved).label();
        text.push_str(&format!(" ({label} in {} of {n} seeds)", absent.len()));
    }
    text
}

/// The one reason every seed in `absent` gives, if they agree (none when it is empty).
fn shared_reason(absent: &[Absent]) -> Option<Absent> {
    let first = *absent.first()?;
    absent.iter().all(|a| *a == first).then_some(first)
}

/// Cells of the table: per figure, per variant, the text and whether it is the best. Only
/// a variant that observed the figure on every seed is ranked.
pub(super) fn cells(c: &Comparison) -> Vec<(String, Vec<(String, bool)>)> {
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
                            // "never" only when every seed could have and did not, "not
                            // exercised" when no seed's fault was; else "—", as the reports'
                            // tables show a figure not observed.
                            let label = match shared_reason(&absent) {
                                Some(a @ (Absent::Never | Absent::NotExercised)) => a.label(),
                                _ => NOT_OBSERVED,
                            };
                            (label.to_owned(), false)
                        }
                        Some(m) => {
                            let text = observed_text(f, v, *m, &absent);
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
pub(super) fn verdict_cells(c: &Comparison) -> Vec<(String, Vec<(String, bool)>)> {
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
                    // A count is a whole number: `27`, not `27.000`.
                    let number = |o: f64| {
                        if e.count { format!("{o:.0}") } else { fmt(o) }
                    };
                    let shown = |x: &SeedVerdict| match x.observed {
                        Some(o) => {
                            format!("{} (observed {}{unit}{})", x.verdict, number(o), e.unit)
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

/// One line per variant that did not hold, or that all held; each variant's name is put
/// through `quote` (code in Markdown and HTML), so that a variant named `none` does not
/// read as "nothing failed".
fn verdict_line(c: &Comparison, quote: impl Fn(&str) -> String) -> String {
    let failed: Vec<String> = c
        .variants
        .iter()
        .filter(|v| c.variant_passed.get(*v) == Some(&false))
        .map(|v| quote(v))
        .collect();
    if c.expectations.is_empty() {
        "The scenario has no expectations.".to_owned()
    } else if failed.is_empty() {
        "Every variant held every expectation.".to_owned()
    } else {
        format!(
            "Failed an expectation: {} {} (exit code 1).",
            if failed.len() == 1 {
                "variant"
            } else {
                "variants"
            },
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
         a figure a variant did not observe reads {NOT_OBSERVED} (`never` for a failover that \
         did not happen, `not exercised` for one of a fault its provider got no request during) \
         and is not ranked.\n",
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
    let _ = writeln!(
        out,
        "\n### Expectations\n\n{}\n",
        verdict_line(c, |v| format!("`{v}`"))
    );
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
        "<h1>Comparison: {}</h1>\n<p>{} variants, seeds {:?}: the mean across seeds, (min–max) when several; the best value is highlighted; a figure a variant did not observe reads {NOT_OBSERVED} (never for a failover that did not happen, not exercised for one of a fault its provider got no request during) and is not ranked.</p>",
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
        verdict_line(c, |v| format!("<code>{}</code>", escape(v)))
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
