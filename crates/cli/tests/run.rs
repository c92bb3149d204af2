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
