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
        ("idle-availability", "spare got no attempts"),
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
        json.contains("\"reason\":\"spare got no attempts\""),
        "{json}"
    );
    for out in [render::markdown::render(&r), render::junit::render(&r)] {
        assert!(
            out.contains("not observed: window:20m-30m is empty"),
            "{out}"
        );
    }
}

/// A count or a cost over a scope that saw nothing (a route with no traffic, a window after
/// the run, a target that got no attempts, a provider that spent nothing) is not observed: a
/// count of 0 or a cost of $0 there is not a measurement.
#[test]
fn counts_and_costs_of_nothing_are_not_observed() {
    let text = "name: empty-counts
seed: 3
duration: 2m
providers:
  - { name: openai, profile: openai }
  - { name: anthropic, profile: anthropic }
router:
  targets:
    - { name: gpt, provider: openai, model: gpt-4o, price: { input: 2.5, output: 10 } }
    - { name: claude, provider: anthropic, model: claude-sonnet-4-20250514 }
    - { name: spare, provider: openai, model: gpt-4o-mini }
  routes:
    - { name: chat, policy: priority, tiers: [[gpt], [claude]] }
    - { name: idle, policy: static, targets: [spare] }
traffic:
  arrival: { poisson: 2 }
  classes:
    - { name: chat, weight: 1, route: chat, prompt_tokens: { fixed: 100 }, max_tokens: 50 }
expect:
  - { name: idle-requests, metric: requests, route: idle, op: \"<=\", value: 0 }
  - { name: idle-failed, metric: failed, route: idle, op: \"<=\", value: 0 }
  - { name: idle-cost, metric: cost, route: idle, op: \"<=\", value: 0 }
  - { name: idle-wasted, metric: wasted_cost, route: idle, op: \"<=\", value: 0 }
  - { name: idle-budget, metric: budget_exhausted, route: idle, op: \"<=\", value: 0 }
  - { name: late-succeeded, metric: succeeded, window: { from: 3m, to: 4m }, op: \">=\", value: 0 }
  - { name: free-provider-cost, metric: cost, provider: anthropic, op: \"<=\", value: 0 }
  - { name: spare-opens, metric: breaker_opens, target: spare, op: \"<=\", value: 0 }
  - { name: spare-alerts, metric: alerts, target: spare, op: \"<=\", value: 0 }
  - { name: ran, metric: failed, op: \"<=\", value: 0 }
  - { name: gpt-opens, metric: breaker_opens, target: gpt, op: \"<=\", value: 0 }
  - { name: openai-cost, metric: cost, provider: openai, op: \">\", value: 0 }
";
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let s = load_text(text, "empty-counts.yaml", &dir).unwrap();
    let r = simulate(&s, s.seed).unwrap();
    let by_name = |n: &str| r.expectations.iter().find(|e| e.name == n).unwrap();
    for (name, why) in [
        ("idle-requests", "no requests in route idle"),
        ("idle-failed", "no requests in route idle"),
        ("idle-cost", "no requests in route idle"),
        ("idle-wasted", "no requests in route idle"),
        ("idle-budget", "no requests in route idle"),
        ("late-succeeded", "window:3m-4m is empty"),
        ("free-provider-cost", "provider anthropic has no price"),
        ("spare-opens", "spare got no attempts"),
        ("spare-alerts", "spare got no attempts"),
    ] {
        let e = by_name(name);
        assert_eq!(e.observed, None, "{name}: {e:?}");
        assert!(!e.passed, "{name}: {e:?}");
        assert!(e.reason.as_deref().unwrap().contains(why), "{name}: {e:?}");
    }
    // Where there was something to count, 0 is observed.
    for name in ["ran", "gpt-opens", "openai-cost"] {
        let e = by_name(name);
        assert!(e.passed && e.observed.is_some(), "{name}: {e:?}");
    }
}

/// A failed run's HTML report opens with a "Why it failed" box that lists each failed
/// expectation (with what was observed) and each baseline regression; a passed run has none.
#[test]
fn a_failed_html_report_starts_with_why_it_failed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let drill = std::fs::read_to_string(dir.join("manual-failover-drill.yaml")).unwrap();
    let s = load_text(&drill, "drill.yaml", &dir).unwrap();
    let mut r = simulate(&s, s.seed).unwrap();
    assert!(r.passed);
    let html = render::html::render(&r);
    assert!(!html.contains("id=\"why-it-failed\""), "a passed run");

    let held = r.expectations[0].name.clone();
    r.expectations[1].passed = false;
    r.expectations[1].observed = None;
    r.expectations[1].reason = Some("window:1m-2m is empty".to_owned());
    let failed = r.expectations[1].name.clone();
    r.passed = false;
    r.apply_baseline(switchyard_runner::report::BaselineReport {
        compared_with: "b.json".to_owned(),
        mode: "sim".to_owned(),
        seed: 1,
        tolerance: 0.05,
        passed: false,
        figures: vec![switchyard_runner::report::BaselineFigure {
            name: "p99 latency (ms)".to_owned(),
            baseline: Some(100.0),
            observed: Some(200.0),
            limit: Some(105.0),
            passed: false,
            message: "p99 latency (ms) rose from 100 to 200".to_owned(),
        }],
    });
    let html = render::html::render(&r);
    let why = html.find("id=\"why-it-failed\"").expect("the box");
    let expectations = html.find("id=\"expectations\"").unwrap();
    assert!(why < expectations && why < html.find("id=\"charts\"").unwrap());
    let boxed = &html[why..expectations];
    assert!(boxed.contains(&failed), "{boxed}");
    assert!(
        boxed.contains("not observed: window:1m-2m is empty"),
        "{boxed}"
    );
    assert!(
        boxed.contains("p99 latency (ms) rose from 100 to 200"),
        "{boxed}"
    );
    assert!(!boxed.contains(&format!("<b>{held}</b>")), "{boxed}");
}

/// Inter-token latency and time per output token are expectation metrics, with the names
/// the results use (`inter_token_ms`, `time_per_output_token_ms`): their value is the report's
/// figure, and a scope without a served stream does not observe them.
#[test]
fn inter_token_and_time_per_output_token_are_expectation_metrics() {
    let text = "name: streams
seed: 5
duration: 2m
providers:
  - { name: openai, profile: openai }
router:
  targets:
    - { name: gpt, provider: openai, model: gpt-4o }
  routes:
    - { name: chat, policy: static, targets: [gpt] }
    - { name: plain, policy: static, targets: [gpt] }
traffic:
  arrival: { poisson: 2 }
  classes:
    - { name: streamed, weight: 1, route: chat, prompt_tokens: { fixed: 100 }, max_tokens: 50, stream: 1 }
    - { name: whole, weight: 1, route: plain, prompt_tokens: { fixed: 100 }, max_tokens: 50 }
expect:
  - { name: itl50, metric: p50_inter_token, class: streamed, op: \"<=\", value: 10s }
  - { name: itl99, metric: p99_inter_token, class: streamed, op: \"<=\", value: 10s }
  - { name: tpot50, metric: p50_time_per_output_token, class: streamed, op: \"<=\", value: 10s }
  - { name: tpot99, metric: p99_time_per_output_token, class: streamed, op: \"<=\", value: 10s }
  - { name: whole-itl, metric: p99_inter_token, class: whole, op: \"<=\", value: 10s }
";
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let s = load_text(text, "streams.yaml", &dir).unwrap();
    let r = simulate(&s, s.seed).unwrap();
    let by_name = |n: &str| r.expectations.iter().find(|e| e.name == n).unwrap();
    let c = &r.classes["streamed"];
    for (name, ms) in [
        ("itl50", c.inter_token_ms.p50),
        ("itl99", c.inter_token_ms.p99),
        ("tpot50", c.time_per_output_token_ms.p50),
        ("tpot99", c.time_per_output_token_ms.p99),
    ] {
        let e = by_name(name);
        assert!(e.passed, "{e:?}");
        let observed = e.observed.unwrap();
        assert!(
            ms > 0.0 && (observed * 1000.0 - ms).abs() < 0.01,
            "{name}: {observed} s vs {ms} ms"
        );
    }
    let e = by_name("whole-itl");
    assert!(!e.passed && e.observed.is_none(), "{e:?}");
    assert!(
        e.reason
            .as_deref()
            .unwrap()
            .contains("no served streams in class whole"),
        "{e:?}"
    );
    // A number where a duration belongs is refused, as for every time metric.
    let bad = text.replace(
        "value: 10s }\n  - { name: itl99",
        "value: 10 }\n  - { name: itl99",
    );
    let err = load_text(&bad, "streams.yaml", &dir).unwrap_err();
    assert!(err.to_string().contains("is a time"), "{err}");
}

/// An idle route and target beside a busy one: the idle one's figures were not observed,
/// and an expectation on it fails as such.
const IDLE_FIGURES: &str = "name: idle-figures
seed: 3
duration: 1m
providers:
  - { name: openai, profile: openai }
router:
  targets:
    - { name: gpt, provider: openai, model: gpt-4o, price: { input: 2.5, output: 10 } }
    - { name: spare, provider: openai, model: gpt-4o-mini }
  routes:
    - { name: chat, policy: static, targets: [gpt] }
    - { name: idle, policy: static, targets: [spare] }
traffic:
  arrival: { poisson: 2 }
  classes:
    - { name: chat, weight: 1, route: chat, prompt_tokens: { fixed: 100 }, max_tokens: 50 }
expect:
  - { name: idle-p99, metric: p99_latency, route: idle, op: \"<=\", value: 2s }
  - { name: chat-p99, metric: p99_latency, route: chat, op: \"<=\", value: 1m }
";

/// report.json says how many values each set of percentiles is of: 0 where its figures read
/// 0 because nothing was observed (no stream, no inter-token gap; an idle target, no latency).
#[test]
fn report_json_counts_the_values_of_each_set_of_percentiles() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let s = load_text(IDLE_FIGURES, "idle-figures.yaml", &dir).unwrap();
    let json = serde_json::to_value(simulate(&s, s.seed).unwrap()).unwrap();
    let chat = &json["classes"]["chat"];
    assert_eq!(chat["inter_token_ms"]["samples"], 0, "{chat}");
    assert_eq!(chat["inter_token_ms"]["p50"], 0.0, "{chat}");
    assert!(
        chat["latency_ms"]["samples"].as_u64().unwrap() > 50,
        "{chat}"
    );
    let targets = json["targets"].as_array().unwrap();
    let spare = targets.iter().find(|t| t["name"] == "spare").unwrap();
    assert_eq!(spare["latency_ms"]["samples"], 0, "{spare}");
}

/// What was not observed reads "—" in the Markdown and HTML tables (an idle target's
/// availability and latencies, a route without requests, TTFT and inter-token figures without
/// streams), never 0, 100 % or NaN; the terminal says "not observed: why" once, and every
/// duration carries its unit.
#[test]
fn figures_not_observed_read_a_dash_and_durations_carry_units() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let s = load_text(IDLE_FIGURES, "idle-figures.yaml", &dir).unwrap();
    let r = simulate(&s, s.seed).unwrap();
    let md = render::markdown::render(&r);
    let row = |prefix: &str| {
        md.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} in {md}"))
            .split(" | ")
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // Targets: attempts, then availability and every latency of an idle target.
    let spare = row("| spare |");
    assert_eq!(spare[2], "0", "{spare:?}");
    assert_eq!(spare[5], "0", "no attempt cancelled: {spare:?}");
    assert_eq!(spare[6], "0", "no hedge: {spare:?}");
    for (i, cell) in spare.iter().enumerate().skip(7).take(9) {
        if i == 8 {
            continue; // the SLA: none set
        }
        assert_eq!(cell, "—", "column {i} of {spare:?}");
    }
    // Routes: a route without requests has no rate, latency, attempts or cost.
    let idle = row("| idle |");
    assert_eq!(idle[1], "0", "{idle:?}");
    assert!(
        idle[2..].iter().all(|c| c.trim_end_matches(" |") == "—"),
        "{idle:?}"
    );
    // No stream: inter-token latency and time per output token were not observed (a whole
    // reply's first token is its end, so TTFT was).
    let chat = row("| chat |");
    assert!(
        chat[4].ends_with(" ms") && chat[8].ends_with(" ms"),
        "{chat:?}"
    );
    for i in 9..=11 {
        assert_eq!(chat[i], "—", "column {i} of {chat:?}");
    }
    let html = render::html::render(&r);
    for out in [&md, &html] {
        assert!(!out.contains("NaN") && !out.contains("inf"), "{out}");
    }
    assert!(
        html.contains(
            "<td>spare</td><td>openai</td><td>0</td><td>0.00%</td><td>0</td><td>0</td><td>0</td><td>—</td>"
        ),
        "{html}"
    );
    let terminal = switchyard_runner::report::summary(&r);
    assert!(!terminal.contains("observed not observed"), "{terminal}");
    assert!(
        terminal.contains(
            "[FAIL] idle-p99: p99_latency <= 2.000 s (not observed: no requests in route idle)"
        ),
        "{terminal}"
    );
    assert!(
        terminal.contains("chat-p99: p99_latency <= 60.000 s (observed "),
        "{terminal}"
    );
    assert!(
        terminal
            .lines()
            .any(|l| l.contains("chat-p99") && l.ends_with(" s)")),
        "{terminal}"
    );
    assert!(
        terminal
            .lines()
            .any(|l| l.starts_with("  spare ") && l.contains(" — ")),
        "{terminal}"
    );
}
