//! `report.html`: one self-contained page (inline CSS and SVG, no network fetches) — the
//! verdict first, then pictures, then tables.

use std::fmt::Write;

use super::{Table, baseline_verdicts, charts, tables, verdicts};
use crate::report::Report;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1160px;color:#222}\
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}.pass{background:#2c9f2c}.fail{background:#d62728}\
table{border-collapse:collapse;font-size:13px;margin:8px 0;display:block;overflow-x:auto;max-width:100%}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}th{background:#f5f5f5}tr.failed td{background:#fdecea}tr.passed td{background:#eef8ee}\
.muted{color:#666}.chart{margin:12px 0}\
.why{border:2px solid #d62728;background:#fdecea;border-radius:6px;padding:8px 16px;margin:12px 0}.why h2{margin-top:4px;border:none}";

fn table(out: &mut String, t: &Table) {
    let _ = writeln!(out, "<h2>{}</h2>\n<table>", escape(t.title));
    let _ = writeln!(
        out,
        "<tr>{}</tr>",
        t.headers
            .iter()
            .map(|h| format!("<th>{}</th>", escape(h)))
            .collect::<String>()
    );
    for row in &t.rows {
        let _ = writeln!(
            out,
            "<tr>{}</tr>",
            row.iter()
                .map(|c| format!("<td>{}</td>", escape(c)))
                .collect::<String>()
        );
    }
    out.push_str("</table>\n");
}

/// A failed run's first box: each failed expectation with what was observed, and each
/// baseline regression, so the reader need not hunt for red rows.
fn why_it_failed(out: &mut String, r: &Report) {
    if r.passed {
        return;
    }
    let failed: Vec<_> = verdicts(r)
        .into_iter()
        .chain(baseline_verdicts(r))
        .filter(|(passed, ..)| !passed)
        .collect();
    out.push_str("<div class=\"why\" id=\"why-it-failed\"><h2>Why it failed</h2>\n<ul>\n");
    for (_, name, observed, expected) in &failed {
        let _ = writeln!(
            out,
            "<li><b>{}</b>: {}, expected {}</li>",
            escape(name),
            escape(&super::observed_words(observed)),
            escape(expected)
        );
    }
    if failed.is_empty() {
        out.push_str("<li>the run failed without a failed expectation or regression</li>\n");
    }
    out.push_str("</ul></div>\n");
}

/// The one-line summary of the run: mode, seed, duration and the totals.
fn summary_line(out: &mut String, r: &Report) {
    let t = &r.totals;
    let _ = writeln!(
        out,
        "<p>{} mode, seed {}, {:.0} s {}: <b>{} requests</b>, {} succeeded, p99 {}, {} attempts per request, ${:.4}.</p>",
        r.mode,
        r.seed,
        r.duration_secs,
        if r.mode == "sim" { "simulated" } else { "run" },
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
            "<p id=\"failures\">Failed requests by reason: {}.</p>",
            escape(&super::failures_line(t))
        );
    }
    if let Some(note) = super::black_box_note(r) {
        let _ = writeln!(out, "<p id=\"black-box\"><b>{}</b></p>", escape(&note));
    }
}

/// The expectations table, a row per expectation and regression with its verdict.
fn expectations(out: &mut String, r: &Report) {
    out.push_str("<h2 id=\"expectations\">Expectations</h2>\n<table><tr><th>expectation</th><th>observed</th><th>expected</th><th>verdict</th></tr>\n");
    for (passed, name, observed, expected) in verdicts(r) {
        let (row, v) = if passed {
            ("passed", "pass")
        } else {
            ("failed", "FAIL")
        };
        let _ = writeln!(
            out,
            "<tr class=\"{row}\"><td>{}</td><td>{}</td><td>{}</td><td>{v}</td></tr>",
            escape(&name),
            escape(&observed),
            escape(&expected)
        );
    }
    out.push_str("</table>\n");
}

/// A line per fault saying whether it was exercised; nothing without faults.
fn faults(out: &mut String, r: &Report) {
    if !r.failover.is_empty() {
        out.push_str("<h2 id=\"faults\">Faults</h2>\n<ul>\n");
        for f in &r.failover {
            let class = if f.exercised.exercised && f.exercised.failed_over {
                "passed"
            } else {
                "failed"
            };
            let _ = writeln!(
                out,
                "<li class=\"{class}\"><b>{}</b>: {}</li>",
                escape(&f.fault),
                escape(&super::fault_line(r, f))
            );
        }
        out.push_str("</ul>\n");
    }
}

/// The events table, the first 300 of them.
fn events(out: &mut String, r: &Report) {
    let shown = r.events.len().min(300);
    let _ = writeln!(
        out,
        "<h2 id=\"events\">Events ({} of {})</h2>\n<table><tr><th>time</th><th>kind</th><th>what</th></tr>",
        shown,
        r.events.len()
    );
    for e in r.events.iter().take(shown) {
        let _ = writeln!(
            out,
            "<tr><td>{:.3} s</td><td>{}</td><td>{}</td></tr>",
            e.at_secs,
            escape(e.kind),
            escape(&e.detail)
        );
    }
    out.push_str("</table>\n");
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — switchyard report</title><style>{STYLE}</style></head><body>\n",
        escape(&r.scenario)
    );
    let (class, word) = if r.passed {
        ("pass", "PASSED")
    } else {
        ("fail", "FAILED")
    };
    let _ = writeln!(
        out,
        "<h1 id=\"verdict\">{} <span class=\"badge {class}\">{word}</span></h1>",
        escape(&r.scenario)
    );
    why_it_failed(&mut out, r);
    let _ = writeln!(
        out,
        "<p class=\"muted\">{}</p>",
        escape(r.description.trim())
    );
    summary_line(&mut out, r);
    expectations(&mut out, r);
    faults(&mut out, r);
    out.push_str("<h2 id=\"charts\">Charts</h2>\n");
    for (id, svg) in [
        ("chart-share", charts::share(r)),
        ("chart-latency", charts::latency(r)),
        ("chart-errors", charts::errors(r)),
        ("chart-breakers", charts::breakers(r)),
        ("chart-cost", charts::cost(r)),
        ("chart-availability", charts::availability(r)),
    ] {
        let _ = writeln!(out, "<div class=\"chart\" id=\"{id}\">{svg}</div>");
    }
    for t in tables(r) {
        table(&mut out, &t);
    }
    events(&mut out, r);
    out.push_str("</body></html>\n");
    out
}
