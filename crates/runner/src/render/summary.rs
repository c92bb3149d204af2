//! The combined summary of a run of several scenarios: `summary.md` (one line per scenario)
//! and `junit.xml` (one test suite per scenario), written next to the scenarios' folders.

use std::fmt::Write;

use super::junit::{counts, escape, suite};
use crate::report::Report;

/// What became of one scenario of the run.
#[derive(Debug)]
pub enum SummaryEntry<'a> {
    /// It ran; its report (with the baseline gate's verdicts, if any) says how it went.
    Ran(&'a Report),
    /// It could not be run or gated (bad input, a missing baseline…): exit code 2.
    Error { scenario: String, message: String },
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The link from the summary (written in the reports folder) to a scenario's report.md.
fn link(scenario: &str) -> String {
    let dir = crate::report_dir(std::path::Path::new(""), scenario);
    cell(&dir.join("report.md").to_string_lossy())
}

/// `summary.md`: a verdict per scenario.
pub fn markdown(entries: &[SummaryEntry<'_>]) -> String {
    let failed = entries
        .iter()
        .filter(|e| !matches!(e, SummaryEntry::Ran(r) if r.passed))
        .count();
    let mut out = String::new();
    let verdict = if failed == 0 {
        "✅ passed".to_owned()
    } else {
        format!("❌ {failed} of {} failed", entries.len())
    };
    let _ = writeln!(out, "## Switchyard run: {verdict}\n");
    let _ = writeln!(
        out,
        "| | scenario | mode | seed | expectations | baseline | report |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---|---|---|");
    for e in entries {
        match e {
            SummaryEntry::Ran(r) => {
                let held = r.expectations.iter().filter(|x| x.passed).count();
                let baseline = match &r.baseline {
                    None => "—".to_owned(),
                    Some(b) if b.passed => "no regression".to_owned(),
                    Some(b) => b
                        .figures
                        .iter()
                        .filter(|f| !f.passed)
                        .map(|f| f.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {held} of {} held | {} | [report.md]({}) |",
                    if r.passed { "✅" } else { "❌" },
                    cell(&r.scenario),
                    r.mode,
                    r.seed,
                    r.expectations.len(),
                    cell(&baseline),
                    link(&r.scenario),
                );
            }
            SummaryEntry::Error { scenario, message } => {
                let _ = writeln!(
                    out,
                    "| ⚠️ | {} | | | error: {} | | |",
                    cell(scenario),
                    cell(message)
                );
            }
        }
    }
    out
}

/// `junit.xml`: every scenario's suite; a scenario that could not run is a suite with an error.
pub fn junit(entries: &[SummaryEntry<'_>]) -> String {
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    let mut body = String::new();
    for e in entries {
        match e {
            SummaryEntry::Ran(r) => {
                let (t, f) = counts(r);
                tests += t;
                failures += f;
                body.push_str(&suite(r));
            }
            SummaryEntry::Error { scenario, message } => {
                tests += 1;
                errors += 1;
                let name = escape(scenario);
                let message = escape(message);
                let _ = writeln!(
                    body,
                    "  <testsuite name=\"{name}\" tests=\"1\" failures=\"0\" errors=\"1\">\n    <testcase classname=\"{name}\" name=\"run\">\n      <error message=\"{message}\">{message}</error>\n    </testcase>\n  </testsuite>"
                );
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"switchyard\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n{body}</testsuites>\n"
    )
}
