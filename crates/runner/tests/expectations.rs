//! An expectation over a scope that saw nothing is not observed, and fails, saying why: a
//! rate or percentile of no requests used to read 1 or 0 and pass.

use std::path::Path;

use switchyard_runner::scenario::load_text;
use switchyard_runner::{render, simulate};

#[test]
fn empty_scopes_are_not_observed_and_fail_with_the_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let drill = std::fs::read_to_string(dir.join("manual-failover-drill.yaml")).unwrap();
    let line = "  - { metric: success_rate, op: \"==\", value: 1 }\n";
    assert!(drill.contains(line));
    let expect = "  - { name: late-success, metric: success_rate, window: { from: 20m, to: 30m }, op: \">=\", value: 0.99 }
  - { name: late-p99, metric: p99_latency, window: { from: 20m, to: 30m }, op: \"<=\", value: 1ms }
  - { name: idle-availability, metric: availability, target: spare, op: \">=\", value: 0.99 }
  - { name: idle-share, metric: served_share, target: spare, op: \"<=\", value: 1 }
  - { name: ran, metric: success_rate, op: \">=\", value: 0.5 }
";
    let text = drill
        .replacen(line, expect, 1)
        .replacen(
            "  routes:",
            "    - { name: spare, provider: openai, model: gpt-4o-mini }\n  routes:",
            1,
        )
        .replacen("poisson: 10 }", "poisson: 10 }\n  max_requests: 300", 1);
    let s = load_text(&text, "empty.yaml", &dir).unwrap();
    let r = simulate(&s, s.seed).unwrap();
    let by_name = |n: &str| r.expectations.iter().find(|e| e.name == n).unwrap();
    for (name, why) in [
        ("late-success", "window:20m-30m is empty"),
        ("late-p99", "window:20m-30m is empty"),
        ("idle-availability", "spare finished no attempts"),
    ] {
        let e = by_name(name);
        assert!(!e.passed, "{name}: {e:?}");
        assert_eq!(e.observed, None, "{name}");
        assert!(e.reason.as_deref().unwrap().contains(why), "{name}: {e:?}");
    }
    assert!(by_name("idle-share").passed, "a share of 0 is observed");
    assert!(by_name("ran").passed);
    assert!(!r.passed);
    // Every report says why.
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        json.contains("\"reason\":\"spare finished no attempts\""),
        "{json}"
    );
    for out in [render::markdown::render(&r), render::junit::render(&r)] {
        assert!(
            out.contains("not observed: window:20m-30m is empty"),
            "{out}"
        );
    }
}
