//! Review (rv5) of this session's report changes: `null` availability for a target (and
//! provider) that finished nothing.
#![expect(clippy::unwrap_used, reason = "test code")]

/// A run whose standby `s1` (with an sla) is never tried, with `expect`.
fn idle_standby(tag: &str, expect: &str) -> switchyard_runner::Report {
    let dir = std::env::temp_dir().join(format!("rv5-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("idle-standby.yaml");
    std::fs::write(
        &path,
        format!(
            "name: idle-standby\nseed: 1\nduration: 20s\n\
providers:\n  - {{ name: main, profile: small-fast }}\n  - {{ name: spare, profile: small-fast }}\n\
router:\n  targets:\n    - {{ name: m1, provider: main, model: small-fast-1 }}\n    \
- {{ name: s1, provider: spare, model: small-fast-1, sla: 0.999 }}\n  \
routes:\n    - {{ name: chat, policy: priority, tiers: [[m1], [s1]] }}\n\
traffic:\n  arrival: {{ constant: 2 }}\n  classes:\n    \
- {{ name: c, weight: 1, route: chat, prompt_tokens: {{ fixed: 10 }}, max_tokens: 10 }}\n\
expect:\n  - {expect}\n"
        ),
    )
    .unwrap();
    let s = switchyard_runner::scenario::load(&path).unwrap();
    switchyard_runner::simulate(&s, s.seed).unwrap()
}

/// `s1` has an sla: an expectation on its error budget that cannot be observed must say that
/// it finished nothing, not that it "has no sla".
#[test]
fn an_error_budget_of_a_target_that_finished_nothing_says_why() {
    let r = idle_standby(
        "budget",
        "{ metric: error_budget_spent, target: s1, op: \"<=\", value: 1 }",
    );
    let outcome = &r.expectations[0];
    assert!(!outcome.passed, "{outcome:?}");
    let reason = outcome.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("s1 got no attempts"), "{reason}");
}

/// The CHANGELOG's claim: the providers table (and the targets table, and the terminal) show
/// "—" for the availability of what finished nothing.
#[test]
fn the_tables_and_the_terminal_show_a_dash_for_what_finished_nothing() {
    let r = idle_standby(
        "tables",
        "{ metric: availability, target: m1, op: \">=\", value: 0.9 }",
    );
    let md = switchyard_runner::render::markdown::render(&r);
    let cells = |prefix: &str| -> Vec<String> {
        md.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap()
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let headers = |first: &str| -> Vec<String> {
        md.lines()
            .find(|l| l.starts_with(&format!("| {first} ")))
            .unwrap()
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let column = |first: &str| {
        headers(first)
            .iter()
            .position(|h| h == "availability")
            .unwrap()
    };
    assert_eq!(cells("| spare ")[column("provider")], "—", "{md}");
    assert_eq!(cells("| main ")[column("provider")], "100.000%", "{md}");
    assert_eq!(cells("| s1 ")[column("target")], "—", "{md}");
    let terminal = switchyard_runner::report::summary(&r);
    let line = terminal
        .lines()
        .find(|l| l.trim_start().starts_with("s1 "))
        .unwrap();
    // Its share (0.00 %) is the one percentage; availability reads "—".
    assert!(
        line.contains('—') && line.matches('%').count() == 1,
        "{line}"
    );
}

/// The CHANGELOG's claim: through a black box the terminal's fault line has no detection figure
/// (the gateway's breakers are not seen), and neither "detected never".
#[test]
fn a_black_box_runs_fault_line_has_no_detection() {
    let s = switchyard_runner::scenario::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios/active-passive-outage.yaml"),
    )
    .unwrap();
    let mut r = switchyard_runner::simulate(&s, s.seed).unwrap();
    let line = |r: &switchyard_runner::Report| {
        switchyard_runner::report::summary(r)
            .lines()
            .find(|l| l.contains("fault "))
            .unwrap()
            .to_owned()
    };
    assert!(line(&r).contains("detected after"), "{}", line(&r));
    r.black_box = Some(switchyard_runner::report::BlackBoxReport {
        client_view: vec![],
        fakes_view: vec![],
        poll_secs: 0.1,
        not_observed: vec![],
    });
    for f in &mut r.failover {
        f.time_to_detect_secs = None;
    }
    assert!(!line(&r).contains("detected"), "{}", line(&r));
}
