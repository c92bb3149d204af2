//! `junit.xml`: one test case per expectation and per figure of the baseline gate, so any CI
//! shows a failed expectation or a regression as a failed test.

use std::fmt::Write;

use super::{baseline_verdicts, verdicts};
use crate::report::Report;

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The test cases of a report: its expectations, then the baseline gate's figures.
fn cases(r: &Report) -> Vec<(bool, String, String, String)> {
    let mut cases = verdicts(r);
    cases.extend(baseline_verdicts(r));
    cases
}

/// (tests, failures) of a report's suite.
pub(crate) fn counts(r: &Report) -> (usize, usize) {
    let cases = cases(r);
    (cases.len(), cases.iter().filter(|c| !c.0).count())
}

pub fn render(r: &Report) -> String {
    let (tests, failures) = counts(r);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"switchyard\" tests=\"{tests}\" failures=\"{failures}\">"
    );
    out.push_str(&suite(r));
    out.push_str("</testsuites>\n");
    out
}

/// One `<testsuite>` for a report.
pub(crate) fn suite(r: &Report) -> String {
    let cases = cases(r);
    let failures = cases.iter().filter(|c| !c.0).count();
    let mut out = String::new();
    let name = escape(&r.scenario);
    let _ = writeln!(
        out,
        "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
        cases.len()
    );
    for (passed, case, observed, expected) in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{name}\" name=\"{}\"",
            escape(&case)
        );
        if passed {
            let _ = writeln!(out, "/>");
        } else {
            let message = format!("{}, expected {expected}", super::observed_words(&observed));
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                escape(&message),
                escape(&message)
            );
        }
    }
    // Whether each fault was tested at all, for whoever reads the CI log.
    if !r.failover.is_empty() {
        out.push_str("    <system-out>");
        for f in &r.failover {
            let _ = writeln!(
                out,
                "fault {}: {}",
                escape(&f.fault),
                escape(&super::fault_line(r, f))
            );
        }
        out.push_str("</system-out>\n");
    }
    out.push_str("  </testsuite>\n");
    out
}
