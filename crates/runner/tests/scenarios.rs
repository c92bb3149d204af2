//! Every scenario in `scenarios/` holds in simulation; runs are reproducible from a seed.
#![expect(clippy::unwrap_used, reason = "test helpers")]

use std::path::{Path, PathBuf};

use switchyard_runner::report::without_wall;
use switchyard_runner::{RunMode, RunOptions, run};
use switchyard_testkit::TempDir;

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_holds_in_simulation() {
    let out = TempDir::new("all-scenarios");
    let files = scenarios();
    assert!(files.len() >= 11, "{files:?}");
    for file in files {
        let options = RunOptions {
            out: Some(out.path().join(file.file_stem().unwrap())),
            ..RunOptions::default()
        };
        let outcome = run(&file, &options).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let failed: Vec<String> = outcome
            .report
            .expectations
            .iter()
            .filter(|e| !e.passed)
            .map(|e| {
                format!(
                    "{}: observed {:?}, expected {} {}",
                    e.name, e.observed, e.op, e.expected
                )
            })
            .collect();
        assert!(failed.is_empty(), "{}: {failed:#?}", file.display());
        assert!(
            !outcome.report.expectations.is_empty(),
            "{} proves nothing",
            file.display()
        );
        let t = &outcome.report.totals;
        assert_eq!(
            t.requests,
            t.succeeded + t.failed,
            "{}: accounting",
            file.display()
        );
        let by_reason: u64 = t.failures.values().sum();
        assert_eq!(
            by_reason,
            t.failed,
            "{}: every failure has a reason",
            file.display()
        );
        assert!(outcome.dir.join("report.json").exists());
    }
}

#[test]
fn the_same_seed_gives_byte_identical_reports_and_another_seed_does_not() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/active-passive-outage.yaml");
    let out = TempDir::new("determinism");
    let go = |name: &str, seed: u64| {
        let options = RunOptions {
            mode: RunMode::Sim,
            seed: Some(seed),
            out: Some(out.path().join(name)),
            ..RunOptions::default()
        };
        run(&file, &options).unwrap().json
    };
    let (a, b, c) = (go("a", 5), go("b", 5), go("c", 6));
    assert_eq!(without_wall(&a), without_wall(&b));
    assert_ne!(a, b, "the wall section differs (it is real time)");
    assert_ne!(without_wall(&a), without_wall(&c));
    let json: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert!(json["wall"]["elapsed_secs"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_scenarios_name_file_line_and_field() {
    let dir = TempDir::new("bad-scenarios");
    // Profiles are looked up near the scenario.
    let profiles = dir.path().join("fake-providers");
    std::fs::create_dir_all(&profiles).unwrap();
    for name in ["openai.yaml", "anthropic.yaml"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fake-providers")
            .join(name);
        std::fs::copy(src, profiles.join(name)).unwrap();
    }
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/manual-failover-drill.yaml"),
    )
    .unwrap();
    let cases = [
        (
            "drain: openai-4o",
            "drain: openai-5",
            "operator[0].drain",
            "unknown target `openai-5`",
        ),
        (
            "poisson: 10",
            "poisson: -1",
            "traffic.arrival.poisson",
            "above zero",
        ),
        (
            "metric: success_rate",
            "metric: happiness",
            "expect[0].metric",
            "unknown metric",
        ),
        (
            "profile: openai,",
            "profile: opnai,",
            "providers[0].profile",
            "no profile `opnai`",
        ),
        ("duration: 15m", "duration: 15", "duration", "no unit"),
        (
            "policy: priority",
            "policy: fastest",
            "router.routes[0].policy",
            "unknown variant",
        ),
        (
            "tiers: [[openai-4o], [claude-sonnet]]",
            "tiers: [[openai-4o], [claude]]",
            "router.routes[0].tiers[1][0]",
            "unknown target `claude`",
        ),
    ];
    for (from, to, path, message) in cases {
        assert!(good.contains(from), "{from}");
        let file = dir.write("bad.yaml", &good.replacen(from, to, 1));
        let err = switchyard_runner::scenario::load(&file).unwrap_err();
        assert_eq!(err.path, path, "{err}");
        assert!(err.message.contains(message), "{err}");
        assert!(err.line > 1, "{err}");
        assert!(err.file.ends_with("bad.yaml"));
    }
}

/// `report.md`'s Targets table counts the attempts cancelled and those booked an estimate:
/// callers of one class leave 50 ms in (most before their first token, at about 120 ms, the
/// rest mid-stream), and the other class's streams time out at 100 ms, their head come but
/// not their first token (but for a few whose first token is quick): every attempt not served
/// is booked an estimate, and only the first class's are cancelled.
#[test]
fn report_md_counts_cancelled_and_estimated_attempts() {
    let report = simulate_yaml(
        "name: impatient\nseed: 3\nduration: 10s\n\
providers:\n  - { name: p, profile: small-fast }\n\
router:\n  targets:\n    - { name: p-1, provider: p, model: small-fast-1, context_window: 32000, price: { input: 1, output: 1 } }\n  \
routes:\n    - { name: chat, policy: static, targets: [p-1] }\n  \
plan: { max_attempts: 1, attempt_timeout: 100ms, deadline: 1s }\n  \
breaker: { consecutive_failures: 1000000 }\n\
traffic:\n  arrival: { poisson: 10 }\n  classes:\n    \
- { name: impatient, weight: 1, route: chat, prompt_tokens: { fixed: 200 }, max_tokens: 100, stream: 1.0, abandon_after: 50ms }\n    \
- { name: timed-out, weight: 1, route: chat, prompt_tokens: { fixed: 200 }, max_tokens: 100, stream: 1.0 }\n",
    );
    let t = &report.targets[0];
    let timeouts = t.errors.get("timeout").copied().unwrap_or(0);
    assert!(t.cancelled > 10 && timeouts > 10, "{t:?}");
    assert_eq!(t.cancelled + timeouts + t.successes, t.attempts);
    assert_eq!(
        t.usage_missing,
        t.cancelled + timeouts,
        "each not served booked an estimate"
    );
    let md = switchyard_runner::render::markdown::render(&report);
    let (headers, row) = targets_row(&md);
    let at = |name: &str| &row[headers.iter().position(|h| h == name).unwrap()];
    assert_eq!(at("target"), "p-1");
    assert_eq!(at("successes"), &t.successes.to_string());
    assert_eq!(at("cancelled"), &t.cancelled.to_string());
    assert_eq!(at("estimated"), &t.usage_missing.to_string());
    assert_eq!(at("tokens in"), &(200 * t.attempts).to_string());
    // Why the requests failed, most first.
    let failures = &report.totals.failures;
    let line = md
        .lines()
        .find(|l| l.starts_with("Failed requests by reason: "))
        .unwrap();
    for (reason, n) in failures {
        assert!(
            line.contains(&format!("{reason} {n}")),
            "{reason} in {line}"
        );
    }
    let (most, n) = failures.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(
        line.starts_with(&format!("Failed requests by reason: {most} {n}")),
        "{line}"
    );
    assert!(
        failures["abandoned"] > 0 && failures["timeout"] > 0,
        "{line}"
    );
}

/// A hedged route (`hedge_after: 100ms`, first tokens about 120 ms in): the Targets table
/// counts each target's hedges, and the terminal gives attempts per request to three decimals.
#[test]
fn report_md_counts_hedges_and_the_terminal_three_decimals() {
    let report = simulate_yaml(
        "name: hedged\nseed: 3\nduration: 10s\n\
providers:\n  - { name: p, profile: small-fast }\n\
router:\n  targets:\n    - { name: p-1, provider: p, model: small-fast-1 }\n    - { name: p-2, provider: p, model: small-fast-1 }\n  \
routes:\n    - { name: chat, policy: priority, tiers: [[p-1], [p-2]] }\n  \
plan: { hedge_after: 100ms }\n\
traffic:\n  arrival: { poisson: 10 }\n  classes:\n    \
- { name: c, weight: 1, route: chat, prompt_tokens: { fixed: 20 }, max_tokens: 10, stream: 1.0 }\n",
    );
    let hedges: Vec<u64> = report.targets.iter().map(|t| t.hedges).collect();
    assert!(hedges.iter().sum::<u64>() > 5, "{hedges:?}");
    let md = switchyard_runner::render::markdown::render(&report);
    let (headers, _) = targets_row(&md);
    let column = headers.iter().position(|h| h == "hedges").unwrap();
    for t in &report.targets {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", t.name)))
            .unwrap();
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[column], t.hedges.to_string(), "{row}");
    }
    let terminal = switchyard_runner::report::summary(&report);
    let per = format!("{:.3} attempts/request", report.totals.attempts_per_request);
    assert!(terminal.contains(&per), "{per} in {terminal}");
}

/// Every caller leaves 20 ms in, before any first token: no attempt of the target finished,
/// so it has no availability and no latency to show, and the terminal and `report.md` show
/// "—" for them, not "100.00%" and 0, and `report.json` has no availability (`null`).
#[test]
fn a_target_whose_attempts_were_all_cancelled_shows_no_availability_or_latency() {
    let report = simulate_yaml(
        "name: gone\nseed: 3\nduration: 5s\n\
providers:\n  - { name: p, profile: small-fast }\n\
router:\n  targets:\n    - { name: p-1, provider: p, model: small-fast-1 }\n  \
routes:\n    - { name: chat, policy: static, targets: [p-1] }\n\
traffic:\n  arrival: { poisson: 10 }\n  classes:\n    \
- { name: gone, weight: 1, route: chat, prompt_tokens: { fixed: 20 }, max_tokens: 10, stream: 1.0, abandon_after: 20ms }\n",
    );
    let t = &report.targets[0];
    assert!(t.attempts > 10 && t.cancelled == t.attempts, "{t:?}");
    assert_eq!(t.availability, None);
    // Failed requests count in the latency percentiles, an abandoned one until its caller
    // left (docs/SCENARIOS.md, `p50_latency`).
    assert_eq!(report.totals.succeeded, 0);
    let p50 = report.totals.latency_ms.p50;
    assert!((19.0..=21.0).contains(&p50), "{p50}");
    let terminal = switchyard_runner::report::summary(&report);
    let line = terminal
        .lines()
        .find(|l| l.trim_start().starts_with("p-1 "))
        .unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[cells.len() - 3..], ["—", "—", "—"], "{terminal}");
    let md = switchyard_runner::render::markdown::render(&report);
    let (headers, row) = targets_row(&md);
    let at = |name: &str| &row[headers.iter().position(|h| h == name).unwrap()];
    assert_eq!(at("share"), "100.00%");
    assert_eq!(at("availability"), "—", "{row:?}");
    assert_eq!(at("p50"), "—", "{row:?}");
}

/// docs/SCENARIOS.md, "Reading a report": "`report.md` and `report.html` open with a
/// headline ... and, when requests failed, why: `Failed requests by reason: ...`", both.
#[test]
fn report_html_says_why_requests_failed_as_report_md_does() {
    let report = simulate_yaml(
        "name: gone-html\nseed: 3\nduration: 5s\n\
providers:\n  - { name: p, profile: small-fast }\n\
router:\n  targets:\n    - { name: p-1, provider: p, model: small-fast-1 }\n  \
routes:\n    - { name: chat, policy: static, targets: [p-1] }\n\
traffic:\n  arrival: { poisson: 10 }\n  classes:\n    \
- { name: c, weight: 1, route: chat, prompt_tokens: { fixed: 20 }, max_tokens: 10, stream: 1.0, abandon_after: 20ms }\n",
    );
    assert!(!report.totals.failures.is_empty(), "{:?}", report.totals);
    let md = switchyard_runner::render::markdown::render(&report);
    assert!(md.contains("Failed requests by reason: abandoned"), "{md}");
    let html = switchyard_runner::render::html::render(&report);
    assert!(
        html.contains("Failed requests by reason"),
        "no failures line in report.html"
    );
}

/// The simulated report of the scenario `yaml`, written to a directory of its own (tests
/// call this in parallel: a shared one had each overwrite the others' file).
fn simulate_yaml(yaml: &str) -> switchyard_runner::report::Report {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = TempDir::new(&format!("scenario-{n}"));
    let path = dir.path().join("scenario.yaml");
    std::fs::write(&path, yaml).unwrap();
    let s = switchyard_runner::scenario::load(&path).unwrap();
    switchyard_runner::simulate(&s, s.seed).unwrap()
}

/// The Targets table's headers and its first row, cell by cell.
fn targets_row(md: &str) -> (Vec<String>, Vec<String>) {
    let mut lines = md.lines().skip_while(|l| !l.starts_with("| target |"));
    let cells = |l: &str| {
        l.split('|')
            .map(|c| c.trim().to_owned())
            .collect::<Vec<_>>()
    };
    let headers = cells(lines.next().unwrap());
    (headers, cells(lines.nth(1).unwrap()))
}

/// The terminal's fault lines say each figure once, with a unit: the exercised line (with
/// when it failed over), then detection and failback; one that never failed over has no
/// failback figure. Failed requests get their reasons, as `report.md`'s headline has them.
#[test]
fn the_terminal_says_each_fault_figure_once_and_why_requests_failed() {
    let sim = |name: &str| {
        let s = switchyard_runner::scenario::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../scenarios/{name}.yaml")),
        )
        .unwrap();
        switchyard_runner::simulate(&s, s.seed).unwrap()
    };
    let outage = sim("active-passive-outage");
    let terminal = switchyard_runner::report::summary(&outage);
    let f = &outage.failover[0];
    let line = terminal.lines().find(|l| l.contains("fault ")).unwrap();
    assert_eq!(line.matches("failed over").count(), 1, "{line}");
    assert!(
        line.ends_with(&format!(
            "failed over after {:.3} s; detected after {:.3} s; failed back after {:.3} s",
            f.time_to_failover_secs.unwrap(),
            f.time_to_detect_secs.unwrap(),
            f.time_to_failback_secs.unwrap()
        )),
        "{line}"
    );
    assert!(!terminal.contains("failed requests"), "{terminal}");
    let cut = sim("stream-cut");
    let terminal = switchyard_runner::report::summary(&cut);
    let line = terminal.lines().find(|l| l.contains("fault ")).unwrap();
    assert!(
        line.ends_with("it never failed over; never detected"),
        "{line}"
    );
    let reasons = switchyard_runner::render::failures_line(&cut.totals);
    assert!(reasons.starts_with("stream_interrupted "), "{reasons}");
    assert!(
        terminal.contains(&format!("\n  failed requests by reason: {reasons}\n")),
        "{terminal}"
    );
}

/// `report.md`, `report.html` and `junit.xml` carry the terminal's whole fault line, with
/// detection and failback (they once stopped at "failed over after ...").
#[test]
fn every_report_has_the_whole_fault_line() {
    let s = switchyard_runner::scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/active-passive-outage.yaml"),
    )
    .unwrap();
    let r = switchyard_runner::simulate(&s, s.seed).unwrap();
    let f = &r.failover[0];
    let tail = format!(
        "failed over after {:.3} s; detected after {:.3} s; failed back after {:.3} s",
        f.time_to_failover_secs.unwrap(),
        f.time_to_detect_secs.unwrap(),
        f.time_to_failback_secs.unwrap()
    );
    let terminal = switchyard_runner::report::summary(&r);
    assert!(terminal.contains(&format!("{tail}\n")), "{terminal}");
    let md = switchyard_runner::render::markdown::render(&r);
    let line = md.lines().find(|l| l.starts_with("- `")).unwrap();
    assert!(line.ends_with(&tail), "{line}");
    let junit = switchyard_runner::render::junit::render(&r);
    assert!(junit.contains(&format!("{tail}\n")), "{junit}");
    let html = switchyard_runner::render::html::render(&r);
    assert!(
        html.contains(&format!("{tail}</li>")),
        "no whole fault line in report.html"
    );
}

/// A fault that lasts to the end of the run failed over but had no time to fail back in:
/// the terminal and `report.md` say so, not "never".
#[test]
fn a_fault_to_the_end_of_the_run_had_no_time_to_fail_back() {
    let report = simulate_yaml(
        "name: to-the-end\nseed: 5\nduration: 60s\n\
providers:\n  - name: a\n    profile: small-fast\n    faults:\n      - { name: down, kind: http, status: 503, at: 10s, for: 50s }\n  \
- { name: b, profile: small-fast }\n\
router:\n  targets:\n    - { name: a-1, provider: a, model: small-fast-1 }\n    - { name: b-1, provider: b, model: small-fast-1 }\n  \
routes:\n    - { name: chat, policy: priority, tiers: [[a-1], [b-1]] }\n  \
breaker: { consecutive_failures: 3, open_for: 5s, open_max: 60s, probes: 1, probe_successes: 3, recovery: 30s }\n\
traffic:\n  arrival: { poisson: 20 }\n  classes:\n    \
- { name: c, weight: 1, route: chat, prompt_tokens: { fixed: 20 }, max_tokens: 10 }\n",
    );
    let f = &report.failover[0];
    assert!(f.time_to_failover_secs.is_some(), "{f:?}");
    assert_eq!(f.time_to_failback_secs, None);
    let terminal = switchyard_runner::report::summary(&report);
    let line = terminal.lines().find(|l| l.contains("fault ")).unwrap();
    assert!(
        line.ends_with("; no time left in the run to fail back"),
        "{line}"
    );
    let md = switchyard_runner::render::markdown::render(&report);
    let row = md.lines().find(|l| l.starts_with("| down |")).unwrap();
    assert!(row.contains("| no time left |"), "{row}");
    assert!(!row.contains("never"), "{row}");
}

/// A provider's availability counts the error kinds the router's `availability.counts` names,
/// as its targets' does: with rate limits counted, a provider whose one target answered 429s
/// for a while is as available as that target, not 100 %.
#[test]
fn a_providers_availability_counts_the_configured_error_kinds() {
    let report = simulate_yaml(
        "name: counted\nseed: 3\nduration: 10s\n\
providers:\n  - name: p\n    profile: small-fast\n    faults:\n      - { name: limited, kind: http, status: 429, at: 2s, for: 3s }\n\
router:\n  targets:\n    - { name: p-1, provider: p, model: small-fast-1, context_window: 32000 }\n  \
routes:\n    - { name: chat, policy: static, targets: [p-1] }\n  \
availability: { counts: [server_error, timeout, rate_limited] }\n\
traffic:\n  arrival: { poisson: 10 }\n  classes:\n    \
- { name: chat, weight: 1, route: chat, prompt_tokens: { fixed: 100 }, max_tokens: 20 }\n",
    );
    let target = report.targets[0].availability.unwrap();
    assert!(target < 0.9, "{:?}", report.targets[0]);
    assert_eq!(report.providers[0].availability, Some(target));
}
