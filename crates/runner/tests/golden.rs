//! Golden files: the shipped JSON Schemas, `report.md` and the structure of `report.html` for
//! a fixed scenario and seed. `UPDATE_GOLDEN=1 cargo test -p switchyard-runner --test golden`
//! rewrites them; review the diff.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test code")]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_GOLDEN=1", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or(expected.lines().count().min(actual.lines().count()), |i| i);
        panic!(
            "{} differs from what the code produces (first at line {}):\n  golden: {:?}\n  actual: {:?}\nRun with UPDATE_GOLDEN=1 and review the diff.",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

#[test]
fn the_shipped_schemas_are_current() {
    golden(
        &root().join("schemas/report.schema.json"),
        &(switchyard_runner::report_schema() + "\n"),
    );
    golden(
        &root().join("schemas/scenario.schema.json"),
        &(switchyard_runner::schema() + "\n"),
    );
    golden(
        &root().join("schemas/live.schema.json"),
        &(switchyard_live::config::schema() + "\n"),
    );
    golden(
        &root().join("schemas/profile.schema.json"),
        &(switchyard_fake::profile::schema() + "\n"),
    );
}

fn report() -> switchyard_runner::Report {
    let s = switchyard_runner::scenario::load(&root().join("scenarios/active-passive-outage.yaml"))
        .unwrap();
    switchyard_runner::simulate(&s, 11).unwrap()
}

#[test]
fn report_md_is_pinned() {
    let md = switchyard_runner::render::markdown::render(&report());
    golden(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/active-passive-outage.md"),
        &md,
    );
}

/// The page's skeleton: headings, element ids, tables with their headers, charts with their
/// captions and legend entries.
fn structure(html: &str) -> String {
    let mut out = String::new();
    let tag_text = |from: usize, tag: &str| -> String {
        let start = html[from..].find('>').map_or(from, |i| from + i + 1);
        let end = html[start..]
            .find(&format!("</{tag}>"))
            .map_or(start, |i| start + i);
        html[start..end]
            .split('<')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let mut i = 0;
    while let Some(pos) = html[i..].find('<') {
        let at = i + pos;
        let rest = &html[at..];
        if rest.starts_with("<h1") || rest.starts_with("<h2") {
            out.push_str(&format!("{} {}\n", &rest[1..3], tag_text(at, &rest[1..3])));
        } else if rest.starts_with("<div class=\"chart\"") {
            let id = rest.split('"').nth(3).unwrap_or("");
            out.push_str(&format!("chart {id}\n"));
        } else if rest.starts_with("<svg") {
            out.push_str("  svg\n");
        } else if rest.starts_with("<th>") {
            out.push_str(&format!("  th {}\n", tag_text(at, "th")));
        } else if rest.starts_with("<text") {
            let t = tag_text(at, "text");
            // Captions and legend entries (axis tick numbers vary with the data).
            if t.chars().any(char::is_alphabetic) && !t.contains("fault:") {
                out.push_str(&format!("  text {t}\n"));
            }
        }
        i = at + 1;
    }
    out
}

#[test]
fn report_html_structure_is_pinned_and_self_contained() {
    let html = switchyard_runner::render::html::render(&report());
    assert!(
        !html.contains("http://")
            || html
                .matches("http://")
                .all(|_| html.contains("xmlns=\"http://www.w3.org/2000/svg\"")),
        "no fetches"
    );
    assert!(
        !html.contains("<script src") && !html.contains("<link "),
        "self-contained"
    );
    assert_eq!(html.matches("<svg").count(), 6);
    golden(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/active-passive-outage.html.txt"),
        &structure(&html),
    );
}

#[test]
fn junit_has_a_case_per_expectation_and_failures_say_why() {
    let mut r = report();
    let junit = switchyard_runner::render::junit::render(&r);
    assert_eq!(junit.matches("<testcase ").count(), r.expectations.len());
    assert!(!junit.contains("<failure"));
    r.expectations[0].passed = false;
    let junit = switchyard_runner::render::junit::render(&r);
    assert_eq!(
        junit
            .matches("<failure message=\"observed 1, expected &gt;= 0.999\"")
            .count(),
        1,
        "{junit}"
    );
    assert!(junit.contains("failures=\"1\""));
}

#[test]
fn every_table_row_has_as_many_cells_as_headers() {
    for t in switchyard_runner::render::tables(&report()) {
        for row in &t.rows {
            assert_eq!(row.len(), t.headers.len(), "table {}: {row:?}", t.title);
        }
    }
}
