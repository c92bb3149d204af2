//! The worked example in `docs/SCENARIOS.md` runs as written and passes: the page a newcomer
//! copies from cannot rot.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::path::Path;

use switchyard_runner::scenario::load_text;
use switchyard_runner::simulate;

fn worked_example() -> String {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let page = std::fs::read_to_string(docs.join("SCENARIOS.md")).unwrap();
    let section = page.split("## A worked example").nth(1).unwrap();
    let yaml = section.split("```yaml\n").nth(1).unwrap();
    yaml.split("```").next().unwrap().to_owned()
}

#[test]
fn the_worked_example_in_the_scenario_reference_runs_and_passes() {
    let text = worked_example();
    let s = load_text(&text, "my-outage.yaml", Path::new(".")).unwrap();
    assert_eq!(s.name, "my-outage");
    let report = simulate(&s, s.seed).unwrap();
    assert_eq!(report.expectations.len(), 3);
    for e in &report.expectations {
        assert!(e.passed, "{e:?}");
    }
    assert!(report.passed);
    // The drain at 8 minutes is applied: no attempts on the primary in the last minute.
    let last = report
        .expectations
        .iter()
        .find(|e| e.name.contains("share"))
        .unwrap();
    assert!(last.observed.is_some_and(|v| v <= 0.01), "{last:?}");
}
