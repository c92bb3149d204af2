use std::path::Path;

use super::render::{cells, verdict_cells};
use super::{Absent, compare, html, markdown};

fn scenario(extra_expectations: &str) -> crate::ScenarioParams {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let text = std::fs::read_to_string(dir.join("policy-comparison.yaml"))
        .unwrap()
        .replace("expect:\n", &format!("expect:\n{extra_expectations}"));
    crate::scenario::load_text(&text, "policy-comparison.yaml", &dir).unwrap()
}

#[test]
fn a_run_with_no_requests_has_no_cost_to_rank() {
    let mut s = scenario("");
    s.traffic.max_requests = Some(0);
    let c = compare(
        &s,
        Some(&["active-passive".into(), "round-robin".into()]),
        1,
    )
    .unwrap();
    let cost = c.figures.iter().find(|f| f.name == "cost (USD)").unwrap();
    for v in &c.variants {
        assert_eq!(cost.values[v], [None], "{v}: no cost, not $0");
        assert_eq!(cost.absent[v], [Some(Absent::NotObserved)], "{v}");
    }
    let (_, row) = cells(&c)
        .into_iter()
        .find(|(name, _)| name == "cost (USD)")
        .unwrap();
    for (text, best) in row {
        assert_eq!(
            text,
            crate::render::NOT_OBSERVED,
            "as the reports' tables show it"
        );
        assert!(!best, "a cost not observed is never the cheapest");
    }
    // Both tables, as report.md and report.html show a figure not observed.
    let md = markdown(&c);
    assert!(md.contains("| cost (USD) | — | — |"), "{md}");
    let html = html(&c);
    assert!(
        html.contains("<tr><td>cost (USD)</td><td>—</td><td>—</td></tr>"),
        "{html}"
    );
}

#[test]
fn verdicts_show_their_units() {
    let s = scenario(
        "  - { metric: p99_latency, op: \"<=\", value: 1ms }\n  - { metric: cost, op: \"<=\", value: 0.000001 }\n",
    );
    let c = compare(&s, Some(&["active-passive".into()]), 1).unwrap();
    let rows = verdict_cells(&c);
    let row = |prefix: &str| {
        rows.iter()
            .find(|(name, _)| name.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {rows:?}"))
    };
    let (name, cells) = row("p99_latency");
    assert!(name.ends_with("<= 0.001 s"), "{name}");
    assert!(
        cells[0].0.starts_with("fail (observed ") && cells[0].0.ends_with(" s)"),
        "{cells:?}"
    );
    let (name, cells) = row("cost");
    assert!(name.ends_with(" USD"), "{name}");
    assert!(cells[0].0.ends_with(" USD)"), "{cells:?}");
    let (name, _) = row("success_rate");
    assert!(name.ends_with(">= 0.995"), "a rate has no unit: {name}");
    let p99 = c
        .expectations
        .iter()
        .find(|e| e.name.starts_with("p99_latency"))
        .unwrap();
    assert_eq!(p99.unit, "s");
}

/// The operator's actions name targets: a variant that lists them in another order is
/// drained (pinned, forced) on the same target by name, not on whichever has its index.
#[test]
fn a_variants_operator_actions_name_the_same_targets() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let reversed = "  - name: reversed
    router:
      targets:
        - { name: claude-haiku, provider: anthropic, model: claude-3-5-haiku-20241022, context_window: 200000 }
        - { name: openai-4o, provider: openai, model: gpt-4o }
      routes:
        - { name: chat, policy: round_robin, targets: [openai-4o, claude-haiku] }
";
    let text = std::fs::read_to_string(dir.join("policy-comparison.yaml"))
        .unwrap()
        .replace(
            "variants:\n",
            &format!("operator:\n  - {{ at: 1m, drain: openai-4o }}\nvariants:\n{reversed}"),
        )
        .replace(
            "expect:\n",
            "expect:\n  - { name: drained, metric: share, target: openai-4o, window: { from: 2m, to: 4m }, op: \"==\", value: 0 }\n",
        );
    let s = crate::scenario::load_text(&text, "policy-comparison.yaml", &dir).unwrap();
    let c = compare(&s, Some(&["reversed".into()]), 1).unwrap();
    let drained = c
        .expectations
        .iter()
        .find(|e| e.name.starts_with("drained"))
        .unwrap();
    let verdict = &drained.verdicts["reversed"][0];
    assert_eq!(verdict.verdict, "pass", "{verdict:?}");
}

/// A comparison of fleets shows the fleet's figures: what sharing buys is in the table of
/// figures, not only in the verdicts.
#[test]
fn a_fleet_comparison_shows_the_providers_429s() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/fleet-rate-limit.yaml");
    let s = crate::scenario::load(&path).unwrap();
    let c = compare(&s, None, 1).unwrap();
    let share = c
        .figures
        .iter()
        .find(|f| f.name == "429 share openai (%)")
        .unwrap_or_else(|| panic!("no 429 row in {:?}", c.figures));
    assert_eq!(share.values["shared"], [Some(0.0)], "{share:?}");
    let none = share.values["none"][0].unwrap();
    assert!((5.0..15.0).contains(&none), "about 10 %: {none}");
    for name in [
        "largest replica share",
        "fleet stop time openai-4o (s)",
        "probes openai-4o",
    ] {
        assert!(c.figures.iter().any(|f| f.name == name), "no {name}");
    }
    let md = markdown(&c);
    assert!(md.contains("| 429 share openai (%) | **0** | "), "{md}");
    // No breaker opened: the stop time and the probes were not observed.
    assert!(md.contains("| probes openai-4o | — | — |"), "{md}");
    let html = html(&c);
    assert!(
        html.contains("<tr><td>429 share openai (%)</td><td class=\"best\">0</td>"),
        "{html}"
    );
}

/// A variant's name in prose is quoted: "Failed an expectation: none" read as nothing failed.
#[test]
fn the_verdict_line_quotes_the_variants_names() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/fleet-rate-limit.yaml");
    let s = crate::scenario::load(&path).unwrap();
    let c = compare(&s, None, 1).unwrap();
    let md = markdown(&c);
    assert!(
        md.contains("Failed an expectation: variant `none` (exit code 1)."),
        "{md}"
    );
    let html = html(&c);
    assert!(
        html.contains("Failed an expectation: variant <code>none</code> (exit code 1)."),
        "{html}"
    );
}

/// A count's observed value is a whole number, not `27.000`.
#[test]
fn counts_in_verdicts_are_whole_numbers() {
    let mut s = scenario("  - { metric: requests, op: \"<=\", value: 1 }\n");
    // Under 100, where other figures show three decimals.
    s.traffic.max_requests = Some(27);
    let c = compare(&s, Some(&["active-passive".into()]), 1).unwrap();
    let rows = verdict_cells(&c);
    let (name, cells) = rows
        .iter()
        .find(|(name, _)| name.starts_with("requests"))
        .unwrap();
    assert!(name.ends_with("<= 1"), "{name}");
    let text = &cells[0].0;
    let observed = text
        .strip_prefix("fail (observed ")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(observed == "27", "a whole number: {text}");
}

/// The fleet's probes are a count in the table of figures too: `9`, not `9.000`.
#[test]
fn probes_in_the_figures_are_whole_numbers() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/fleet-recovery-probes.yaml");
    let s = crate::scenario::load(&path).unwrap();
    let c = compare(&s, None, 1).unwrap();
    let (_, row) = cells(&c)
        .into_iter()
        .find(|(name, _)| name == "probes openai-4o")
        .unwrap();
    for (text, _) in &row {
        assert!(text.parse::<u64>().is_ok_and(|n| n > 0), "{row:?}");
    }
}

/// An unknown variant's error lists the scenario's variants quoted, as names in prose are.
#[test]
fn an_unknown_variant_lists_the_known_ones_quoted() {
    let s = scenario("");
    let e = compare(&s, Some(&["nope".into()]), 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no variant `nope`; the scenario has `active-passive`, `"),
        "{e}"
    );
}

/// Active-passive sends nothing to its standby while the standby is down: its failover
/// figures for that fault read "not exercised", not a bare "—" (nor "never"), in the table
/// and in `compare.json`'s reason.
#[test]
fn a_fault_a_variant_did_not_exercise_reads_not_exercised() {
    let c = compare(&scenario(""), Some(&["active-passive".into()]), 1).unwrap();
    for name in [
        "time to fail over anthropic-outage (s)",
        "time to fail back anthropic-outage (s)",
    ] {
        let f = c.figures.iter().find(|f| f.name == name).unwrap();
        assert_eq!(f.values["active-passive"], [None], "{name}");
        assert_eq!(
            f.absent["active-passive"],
            [Some(Absent::NotExercised)],
            "{name}"
        );
        let (_, row) = cells(&c).into_iter().find(|(n, _)| n == name).unwrap();
        assert_eq!(row, [("not exercised".to_owned(), false)], "{name}");
        assert!(
            markdown(&c).contains(&format!("| {name} | not exercised |")),
            "{name}"
        );
    }
}

/// Every figure's cell follows one rule, four significant digits to at most six decimals:
/// a time of 0.5 s and one of 1.5 s read `0.5000` and `1.500`, not four decimals beside three.
#[test]
fn every_figure_has_four_significant_digits() {
    for (x, shown) in [
        (0.0, "0"),
        (0.5, "0.5000"),
        (0.99871, "0.9987"),
        (1.5, "1.500"),
        (12.3456, "12.35"),
        (99.95, "99.95"),
        (123.456, "123.5"),
        (2473.6, "2474"),
        (0.0042134, "0.004213"),
        (0.000000123, "0.000000"),
        (-0.25, "-0.2500"),
        // Rounding that carries into the next power of ten keeps four digits, too.
        (0.99996, "1.000"),
        (9.99951, "10.00"),
        (999.96, "1000"),
        (-0.99996, "-1.000"),
    ] {
        assert_eq!(super::render::fmt(x), shown, "{x}");
    }
    // And the spread across seeds in the same form.
    let c = compare(&scenario(""), Some(&["active-passive".into()]), 2).unwrap();
    let (_, row) = cells(&c)
        .into_iter()
        .find(|(n, _)| n == "attempts per request")
        .unwrap();
    let text = &row[0].0;
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).count();
    let numbers: Vec<&str> = text
        .split(['(', ')', '–', ' '])
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(numbers.len(), 3, "{text}");
    for n in numbers {
        assert_eq!(digits(n), 4, "1.xxx: {text}");
    }
}
