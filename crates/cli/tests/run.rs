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
    for f in ["compare.json", "compare.md", "compare.html"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let md = std::fs::read_to_string(dir.path().join("compare.md")).unwrap();
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
