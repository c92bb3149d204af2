//! `report.md`: the verdict and the tables, for a CI job summary or a pull-request comment.

use std::fmt::Write;

use super::{Table, tables, verdicts};
use crate::report::Report;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn table(out: &mut String, t: &Table) {
    let _ = writeln!(out, "\n### {}\n", t.title);
    let _ = writeln!(
        out,
        "| {} |",
        t.headers
            .iter()
            .map(|h| cell(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        out,
        "|{}|",
        t.headers
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---" } else { "---:" })
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in &t.rows {
        let _ = writeln!(
            out,
            "| {} |",
            row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
        );
    }
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let verdict = if r.passed { "✅ passed" } else { "❌ failed" };
    let _ = writeln!(out, "## Scenario `{}`: {verdict}\n", r.scenario);
    if !r.description.is_empty() {
        let _ = writeln!(out, "> {}\n", r.description.trim());
    }
    let t = &r.totals;
    let _ = writeln!(
        out,
        "{} mode, seed {}, {:.0} s: **{} requests**, {} succeeded, p99 {}, {} attempts per request, ${:.4}.",
        r.mode,
        r.seed,
        r.duration_secs,
        t.requests,
        super::headline_rate(r),
        super::headline_p99(r),
        r.black_box.as_ref().map_or_else(
            || format!("{:.3}", t.attempts_per_request),
            |_| "not observed".to_owned()
        ),
        t.cost_usd
    );
    if !t.failures.is_empty() {
        let _ = writeln!(
            out,
            "\nFailed requests by reason: {}.",
            super::failures_line(t)
        );
    }
    if let Some(note) = super::black_box_note(r) {
        let _ = writeln!(out, "\n> **{note}**");
    }
    let _ = writeln!(out, "\n### Expectations\n");
    let _ = writeln!(out, "| | expectation | observed | expected |");
    let _ = writeln!(out, "|---|---|---:|---:|");
    for (passed, name, observed, expected) in verdicts(r) {
        let mark = if passed { "✅" } else { "❌" };
        let _ = writeln!(
            out,
            "| {mark} | {} | {} | {} |",
            cell(&name),
            cell(&observed),
            cell(&expected)
        );
    }
    if let Some(b) = &r.baseline {
        let _ = writeln!(
            out,
            "\nBaseline gate: compared with `{}` ({} mode, seed {}, tolerance {}): {}.",
            b.compared_with,
            b.mode,
            b.seed,
            b.tolerance,
            if b.passed {
                "no regression"
            } else {
                "❌ regression"
            }
        );
    }
    if !r.failover.is_empty() {
        let _ = writeln!(out, "\n### Faults\n");
        for f in &r.failover {
            let mark = if f.exercised.exercised && f.exercised.failed_over {
                ""
            } else {
                "⚠️ "
            };
            let _ = writeln!(out, "- {mark}`{}`: {}", f.fault, super::fault_line(r, f));
        }
    }
    for t in tables(r) {
        table(&mut out, &t);
    }
    out
}
