#![expect(clippy::unwrap_used, reason = "test helpers")]

use std::process::Command;

use switchyard_testkit::TempDir;

fn root() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
}

fn switchyard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn run_exit_codes_say_held_failed_or_bad_input() {
    let dir = TempDir::new("cli-run");
    let out = dir.path().to_str().unwrap();
    let (code, stdout, stderr) =
        switchyard(&["run", "scenarios/manual-failover-drill.yaml", "--out", out]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("[PASS]") && !stdout.contains("[FAIL]"),
        "{stdout}"
    );
    assert!(
        dir.path()
            .join("manual-failover-drill/report.json")
            .exists()
    );

    // The same scenario with an expectation it cannot meet: exit 1.
    let text = std::fs::read_to_string(format!("{}/scenarios/manual-failover-drill.yaml", root()))
        .unwrap();
    let strict = text.replace(
        "{ metric: success_rate, op: \"==\", value: 1 }",
        "{ metric: p50_latency, op: \"<\", value: 1ms }",
    );
    std::fs::create_dir_all(dir.path().join("fake-providers")).unwrap();
    for p in ["openai.yaml", "anthropic.yaml"] {
        std::fs::copy(
            format!("{}/fake-providers/{p}", root()),
            dir.path().join("fake-providers").join(p),
        )
        .unwrap();
    }
    let file = dir.write("strict.yaml", &strict);
    let (code, stdout, _) = switchyard(&["run", file.to_str().unwrap(), "--out", out]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("[FAIL] p50_latency"), "{stdout}");

    // Bad input: exit 2 with file, line and field.
    let bad = dir.write("bad.yaml", &text.replace("duration: 15m", "duration: soon"));
    let (code, _, stderr) = switchyard(&["run", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("bad.yaml:") && stderr.contains("field `duration`"),
        "{stderr}"
    );
    let (code, _, stderr) = switchyard(&[
        "run",
        "scenarios/manual-failover-drill.yaml",
        "--mode",
        "dream",
    ]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn a_regression_against_the_baseline_fails_the_run() {
    let dir = TempDir::new("cli-baseline");
    let base = std::fs::read_to_string(format!(
        "{}/reports/baselines/manual-failover-drill.json",
        root()
    ))
    .unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&base).unwrap();
    let p99 = json["totals"]["latency_ms"]["p99"].as_f64().unwrap();
    json["totals"]["latency_ms"]["p99"] = serde_json::json!(p99 / 2.0);
    let strict = dir.write("baseline.json", &json.to_string());
    let out = dir.path().to_str().unwrap();
    let (code, stdout, _) = switchyard(&[
        "run",
        "scenarios/manual-failover-drill.yaml",
        "--out",
        out,
        "--baseline",
        strict.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("[FAIL] regression: p99 latency"),
        "{stdout}"
    );
    // Every report file says what the exit code says.
    every_report_says_the_baseline_failed(&dir.path().join("manual-failover-drill"));
    let (code, stdout, _) = switchyard(&[
        "run",
        "scenarios/manual-failover-drill.yaml",
        "--out",
        out,
        "--baseline",
        "reports/baselines",
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("no regression against the baseline"));
    let (code, stdout, _) = switchyard(&[
        "run",
        "scenarios/manual-failover-drill.yaml",
        "--out",
        out,
        "--quiet",
    ]);
    assert_eq!((code, stdout.as_str()), (0, ""));
    let (code, stdout, _) = switchyard(&[
        "run",
        "scenarios/manual-failover-drill.yaml",
        "--out",
        out,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["scenario"], "manual-failover-drill");
}

/// report.json, report.md, report.html and junit.xml of a run in `drill` all say that the
/// run failed on its baseline's p99 latency.
fn every_report_says_the_baseline_failed(drill: &std::path::Path) {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(drill.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(report["baseline"]["passed"], false);
    let p99 = report["baseline"]["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "p99 latency (ms)")
        .unwrap();
    assert_eq!(p99["passed"], false, "{p99}");
    assert!(p99["baseline"].as_f64().is_some() && p99["limit"].as_f64().is_some());
    let md = std::fs::read_to_string(drill.join("report.md")).unwrap();
    assert!(
        md.contains("❌ failed") && md.contains("### Baseline"),
        "{md}"
    );
    let html = std::fs::read_to_string(drill.join("report.html")).unwrap();
    assert!(html.contains("FAILED") && html.contains("p99 latency (ms)"));
    let junit = std::fs::read_to_string(drill.join("junit.xml")).unwrap();
    assert!(
        junit.contains("name=\"baseline: p99 latency (ms)\">\n      <failure"),
        "{junit}"
    );
}

#[test]
fn compare_writes_three_files_with_a_column_per_variant() {
    let dir = TempDir::new("cli-compare");
    let out = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = switchyard(&[
        "compare",
        "scenarios/policy-comparison.yaml",
        "--seeds",
        "2",
        "--out",
        out,
    ]);
    assert_eq!(code, 0, "{stderr}");
    // The default's layout under `--out`: DIR/<scenario>/compare/.
    let written = dir.path().join("policy-comparison").join("compare");
    for f in ["compare.json", "compare.md", "compare.html"] {
        assert!(written.join(f).exists(), "{f}");
    }
    let md = std::fs::read_to_string(written.join("compare.md")).unwrap();
    let header = md.lines().find(|l| l.starts_with("| figure |")).unwrap();
    assert!(
        header.matches('|').count() >= 6,
        "at least four variants: {header}"
    );
    assert!(md.contains("**"), "the best value is marked");
    assert!(stdout.contains("least-cost"));
    let (code, _, stderr) = switchyard(&[
        "compare",
        "scenarios/policy-comparison.yaml",
        "--variants",
        "nope",
        "--out",
        out,
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no variant `nope`"));
}

/// The library baseline of manual-failover-drill, edited by `edit`, written to a file.
fn edited_baseline(dir: &TempDir, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let base = std::fs::read_to_string(format!(
        "{}/reports/baselines/manual-failover-drill.json",
        root()
    ))
    .unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&base).unwrap();
    edit(&mut json);
    let file = dir.write("baseline.json", &json.to_string());
    file.to_str().unwrap().to_owned()
}

fn drill_against(dir: &TempDir, baseline: &str, extra: &[&str]) -> (i32, String, String) {
    let out = dir.path().to_str().unwrap();
    let mut args = vec![
        "run",
        "scenarios/manual-failover-drill.yaml",
        "--out",
        out,
        "--baseline",
        baseline,
    ];
    args.extend_from_slice(extra);
    switchyard(&args)
}

#[test]
fn a_baseline_of_another_seed_or_mode_is_refused_unless_allowed() {
    let dir = TempDir::new("cli-baseline-seed");
    let other_seed = edited_baseline(&dir, |j| j["seed"] = serde_json::json!(14));
    let (code, _, stderr) = drill_against(&dir, &other_seed, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("seed 14") && stderr.contains("--baseline-any-seed"),
        "{stderr}"
    );
    let (code, stdout, stderr) = drill_against(&dir, &other_seed, &["--baseline-any-seed"]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    let live = edited_baseline(&dir, |j| j["mode"] = serde_json::json!("live"));
    let (code, _, stderr) = drill_against(&dir, &live, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("live run") && stderr.contains("--baseline-any-mode"),
        "{stderr}"
    );
    let (code, stdout, stderr) = drill_against(&dir, &live, &["--baseline-force"]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // A baseline from before mode and seed were stored: sim with the scenario's seed.
    let old = edited_baseline(&dir, |j| {
        let m = j.as_object_mut().unwrap();
        m.remove("mode");
        m.remove("seed");
    });
    let (code, stdout, stderr) = drill_against(&dir, &old, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, _, stderr) = drill_against(&dir, &old, &["--seed", "99"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn a_figure_only_one_side_has_fails_the_gate_by_name() {
    let dir = TempDir::new("cli-baseline-missing-figure");
    let no_ttft = edited_baseline(&dir, |j| {
        j["totals"].as_object_mut().unwrap().remove("ttft_ms");
    });
    let (code, stdout, _) = drill_against(&dir, &no_ttft, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout
            .contains("[FAIL] regression: p99 TTFT (ms) is in the report but not in the baseline"),
        "{stdout}"
    );
    let extra_fault = edited_baseline(&dir, |j| {
        j["failover"] = serde_json::json!([{"fault": "ghost", "time_to_failover_secs": 1.0}]);
    });
    let (code, stdout, _) = drill_against(&dir, &extra_fault, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("failover for `ghost` is in the baseline but not in the report"),
        "{stdout}"
    );
}

#[test]
fn a_missing_baseline_says_where_and_how_to_create_it() {
    let dir = TempDir::new("cli-baseline-none");
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let empty = dir.path().join("empty");
    let (code, _, stderr) = drill_against(&dir, empty.to_str().unwrap(), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the baseline for scenario `manual-failover-drill` is missing at")
            && stderr.contains("empty/manual-failover-drill.json")
            && stderr.contains("--save-baseline"),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot write"), "{stderr}");
}

#[test]
fn a_run_of_several_scenarios_writes_a_combined_summary() {
    let dir = TempDir::new("cli-summary");
    let out = dir.path().join("out");
    // A folder of both scenarios' library baselines, each with half its p99 latency (a
    // baseline of another scenario is refused before the run).
    let strict = dir.path().join("strict");
    std::fs::create_dir_all(&strict).unwrap();
    for name in ["manual-failover-drill", "split-30-70"] {
        let file = format!("{name}.json");
        let base = std::fs::read_to_string(format!("{}/reports/baselines/{file}", root())).unwrap();
        let mut j: serde_json::Value = serde_json::from_str(&base).unwrap();
        let p99 = j["totals"]["latency_ms"]["p99"].as_f64().unwrap();
        j["totals"]["latency_ms"]["p99"] = serde_json::json!(p99 / 2.0);
        std::fs::write(strict.join(file), j.to_string()).unwrap();
    }
    let (code, stdout, _) = switchyard(&[
        "run",
        "scenarios/manual-failover-drill.yaml",
        "scenarios/split-30-70.yaml",
        "--out",
        out.to_str().unwrap(),
        "--baseline",
        strict.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("❌ 2 of 2 failed"), "{md}");
    assert!(
        md.contains("| ❌ | manual-failover-drill | sim | 13 | 3 of 3 held | p99 latency"),
        "{md}"
    );
    assert!(md.contains("| ❌ | split-30-70 |"), "{md}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuite name=\"manual-failover-drill\"")
            && junit.contains("<testsuite name=\"split-30-70\""),
        "{junit}"
    );
    assert!(junit.contains("name=\"baseline: p99 latency (ms)\">\n      <failure"));
}

#[test]
fn a_run_with_no_requests_fails_the_baseline_gate() {
    let dir = TempDir::new("cli-baseline-empty");
    let text = std::fs::read_to_string(format!("{}/scenarios/manual-failover-drill.yaml", root()))
        .unwrap();
    // The drill's own baseline, a run that makes no request, and no expectation to fail it
    // otherwise: only the gate can say it tested nothing.
    let empty = text
        .replace(
            "arrival: { poisson: 10 }",
            "arrival: { poisson: 10 }\n  max_requests: 0",
        )
        .split("expect:")
        .next()
        .unwrap()
        .to_owned();
    let file = dir.write("manual-failover-drill.yaml", &empty);
    let out = dir.path().join("out");
    let (code, stdout, stderr) = switchyard(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--baseline",
        "reports/baselines",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("[FAIL] regression: the run made no requests"),
        "{stdout}"
    );
    assert!(!stdout.contains("no regression against the baseline"));
    // Its headline has no rate or latency to show, not 100 % and 0 ms.
    assert!(
        stdout.contains("0 requests, — succeeded, p50 —, p99 —"),
        "{stdout}"
    );
    for file in ["report.md", "report.html"] {
        let text = std::fs::read_to_string(out.join("manual-failover-drill").join(file)).unwrap();
        assert!(text.contains("— succeeded, p99 —"), "{file}: {text}");
        assert!(!text.contains("100.000%"), "{file}");
    }
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("manual-failover-drill/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["totals"]["requests"], 0);
    assert_eq!(report["baseline"]["passed"], false);
    let figures = report["baseline"]["figures"].as_array().unwrap();
    let rate = figures
        .iter()
        .find(|f| f["name"] == "success rate")
        .unwrap();
    assert_eq!(rate["passed"], false, "{rate}");
    assert!(rate["observed"].is_null(), "{rate}");
    assert!(
        rate["message"]
            .as_str()
            .unwrap()
            .contains("not observed: the run made no requests"),
        "{rate}"
    );
}

/// `--tolerance` takes a fraction from 0 to 10: `inf` would pass every figure, `NaN` every
/// comparison, a negative one fail a run identical to its baseline.
#[test]
fn a_tolerance_outside_zero_to_ten_is_bad_input() {
    for bad in ["inf", "NaN", "-1", "11", "five"] {
        let (code, _, stderr) = switchyard(&[
            "run",
            "scenarios/manual-failover-drill.yaml",
            "--baseline",
            "reports/baselines",
            &format!("--tolerance={bad}"),
        ]);
        assert_eq!(code, 2, "--tolerance={bad}: {stderr}");
        assert!(stderr.contains("--tolerance"), "{stderr}");
    }
}

/// A scenario's report folder is its `name`, whatever its file is called, with `--out` or
/// without: every link of the combined summary resolves to a file the run wrote.
#[test]
fn every_summary_link_resolves_to_a_written_report() {
    let dir = TempDir::new("cli-links");
    let out = dir.path().join("out");
    let mut files = Vec::new();
    for (file, scenario) in [
        ("manual-failover-drill.yaml", "drill-renamed"),
        ("split-30-70.yaml", "split-renamed"),
    ] {
        let text = std::fs::read_to_string(format!("{}/scenarios/{file}", root())).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("name: "), "{first}");
        let text = text.replacen(first, &format!("name: {scenario}"), 1);
        // A file name that is not the scenario's (the profiles are built in).
        let path = dir.write(&format!("file-{scenario}.yaml"), &text);
        files.push(path.to_str().unwrap().to_owned());
    }
    let (code, stdout, stderr) =
        switchyard(&["run", &files[0], &files[1], "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("out/drill-renamed/report.html"), "{stdout}");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let links: Vec<&str> = md
        .split("](")
        .skip(1)
        .map(|rest| rest.split(')').next().unwrap())
        .collect();
    assert_eq!(links.len(), 2, "{md}");
    for link in links {
        assert!(out.join(link).is_file(), "{link} in {md}");
    }
    for scenario in ["drill-renamed", "split-renamed"] {
        assert!(
            out.join(scenario).join("report.json").is_file(),
            "{scenario}"
        );
    }
}

/// `run --duration` treats a fleet's store faults as it does a provider's: one that starts
/// after the end does not happen, one the end cuts off says so, each with a notice; the run
/// goes on (a scenario file whose own duration they pass is still refused, in `scenario`).
#[test]
fn duration_drops_the_store_faults_after_the_end() {
    let dir = TempDir::new("cli-duration-store");
    let out = dir.path().join("out");
    let (code, stdout, stderr) = switchyard(&[
        "run",
        "scenarios/fleet-store-down.yaml",
        "--duration",
        "30s",
        "--out",
        out.to_str().unwrap(),
    ]);
    // The expectation on `during:store-down` is not observed: exit 1, not 2.
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "--duration 30s: store fault store-down (down) starts at 3m, after the end; it does \
             not happen"
        ),
        "{stderr}"
    );
    let (code, stdout, stderr) = switchyard(&[
        "run",
        "scenarios/fleet-store-down.yaml",
        "--duration",
        "4m",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "--duration 4m: store fault store-down (down) from 3m for 2m is cut off by the end"
        ),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("fleet-store-down/report.json")).unwrap(),
    )
    .unwrap();
    // The store went down at 3m: the replicas fell back to local state.
    assert!(
        report["fleet"]["degraded"].as_u64().unwrap() > 0,
        "{report}"
    );
}

/// `run --duration` shortens a scenario: the report covers the new duration, and the
/// operator actions and faults after its end are dropped, each with a notice.
#[test]
fn duration_overrides_a_scenarios_and_drops_what_comes_after_it() {
    let (code, help, _) = switchyard(&["run", "--help"]);
    assert_eq!(code, 0);
    assert!(help.contains("--duration"), "{help}");
    let dir = TempDir::new("cli-duration");
    let out = dir.path().join("out");
    let (code, stdout, stderr) = switchyard(&[
        "run",
        "scenarios/manual-failover-drill.yaml",
        "--duration",
        "6m",
        "--out",
        out.to_str().unwrap(),
    ]);
    // The drill's last expectation's window (11m..15m) is now after the end: not observed.
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "--duration 6m: the operator action at 10m (restore) is after the end; dropped"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("at 5m"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("manual-failover-drill/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["duration_secs"], 360.0);
    let requests = report["totals"]["requests"].as_u64().unwrap();
    // About 10 requests a second for 6 minutes, not 15.
    assert!((3000..4300).contains(&requests), "{requests}");
    let held: Vec<bool> = report["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["passed"].as_bool().unwrap())
        .collect();
    assert_eq!(held, [true, true, false]);

    // A fault after the end is reported, and the run still goes.
    let (code, cut, stderr) = switchyard(&[
        "run",
        "scenarios/active-passive-outage.yaml",
        "--duration",
        "30s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "{stderr}");
    assert!(
        stderr.contains("after the end; it does not happen"),
        "{stderr}"
    );
    // Its line says so, with no figures: it was not tested, so not "never".
    let line = cut
        .lines()
        .find(|l| l.contains("fault primary-outage"))
        .unwrap();
    assert_eq!(
        line.trim(),
        "fault primary-outage on openai: not exercised: the fault starts at 300 s, \
         after the run's end at 30 s",
        "{cut}"
    );

    for bad in ["soon", "0s", "800h"] {
        let (code, _, stderr) = switchyard(&[
            "run",
            "scenarios/manual-failover-drill.yaml",
            "--duration",
            bad,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{bad}: {stderr}");
        assert!(stderr.contains("duration"), "{bad}: {stderr}");
    }
}
