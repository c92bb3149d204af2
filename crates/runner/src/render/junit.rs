//! `junit.xml`: one test case per expectation, so any CI shows a failed expectation as a
//! failed test.

use std::fmt::Write;

use super::verdicts;
use crate::report::Report;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

pub fn render(r: &Report) -> String {
    let cases = verdicts(r);
    let failures = cases.iter().filter(|c| !c.0).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let name = escape(&r.scenario);
    let _ = writeln!(
        out,
        "<testsuites name=\"switchyard\" tests=\"{}\" failures=\"{failures}\">",
        cases.len()
    );
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
            let message = format!("observed {observed}, expected {expected}");
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                escape(&message),
                escape(&message)
            );
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
