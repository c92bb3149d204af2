//! `switchyard compare`: each variant's expectation verdicts, its exit code, and figures a
//! variant did not observe (never ranked best).
#![expect(clippy::unwrap_used, clippy::panic, reason = "test helpers")]

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

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The markdown row of `figure`, split into its cells (the figure's name first).
fn row<'a>(md: &'a str, figure: &str) -> Vec<&'a str> {
    let line = md
        .lines()
        .find(|l| l.starts_with(&format!("| {figure} |")))
        .unwrap_or_else(|| panic!("no row `{figure}` in\n{md}"));
    line.trim_matches('|').split(" | ").map(str::trim).collect()
}

#[test]
fn a_failover_a_variant_never_had_to_make_is_not_exercised_and_not_ranked() {
    let dir = TempDir::new("cli-compare-unobserved");
    let out = dir.path().to_str().unwrap();
    // active-passive never sends to Anthropic while OpenAI is healthy: during Anthropic's
    // outage there was nothing to fail over from.
    let (code, stdout, stderr) = switchyard(&[
        "compare",
        "scenarios/policy-comparison.yaml",
        "--variants",
        "active-passive,round-robin",
        "--out",
        out,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // `--out DIR` lays files out as the default does under reports/: DIR/<scenario>/compare/.
    let written = dir.path().join("policy-comparison").join("compare");
    assert!(
        stdout.contains(&format!(
            "written: {}/compare.{{json,md,html}}",
            written.display()
        )),
        "{stdout}"
    );
    let md = std::fs::read_to_string(written.join("compare.md")).unwrap();
    let cells = row(&md, "time to fail over anthropic-outage (s)");
    // As report.md and report.html say of the fault: not exercised (not a bare "—").
    assert_eq!(cells[1], "not exercised", "{md}");
    assert!(!cells[2].contains('—'), "{md}");
    assert!(cells[2].starts_with("**"), "the observed one is best: {md}");
    let html = std::fs::read_to_string(written.join("compare.html")).unwrap();
    let tr = html
        .lines()
        .find(|l| l.starts_with("<tr><td>time to fail over anthropic-outage (s)</td>"))
        .unwrap();
    assert!(
        tr.contains("<td>not exercised</td><td class=\"best\">"),
        "{tr}"
    );
    let json = read_json(&written.join("compare.json"));
    let figure = json["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "time to fail over anthropic-outage (s)")
        .unwrap();
    assert_eq!(
        figure["values"]["active-passive"][0],
        serde_json::Value::Null
    );
    assert_eq!(figure["absent"]["active-passive"][0], "not_exercised");
    assert!(figure["values"]["round-robin"][0].as_f64().is_some());
    // The scenario's expectations, judged per variant.
    assert_eq!(json["passed"], true);
    let verdicts = &json["expectations"][0]["verdicts"];
    assert_eq!(verdicts["active-passive"][0]["verdict"], "pass", "{json}");
    assert!(md.contains("Every variant held every expectation."), "{md}");
}

#[test]
fn a_variant_that_fails_an_expectation_shows_it_and_fails_the_comparison() {
    let dir = TempDir::new("cli-compare-verdicts");
    let text =
        std::fs::read_to_string(format!("{}/scenarios/policy-comparison.yaml", root())).unwrap();
    // least-cost sends most traffic to the cheaper Anthropic target; active-passive to OpenAI.
    let strict = text.replace(
        "expect:\n",
        "expect:\n  - { metric: share, target: openai-4o, op: \">=\", value: 0.5 }\n",
    );
    assert_ne!(strict, text);
    let file = dir.write("policy-comparison.yaml", &strict);
    let root = dir.path().join("out");
    let out = root.join("policy-comparison").join("compare");
    let (code, stdout, stderr) = switchyard(&[
        "compare",
        file.to_str().unwrap(),
        "--variants",
        "active-passive,least-cost",
        "--seeds",
        "2",
        "--out",
        root.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(
        md.contains("Failed an expectation: variant `least-cost` (exit code 1)."),
        "{md}"
    );
    let cells = row(&md, "share openai-4o >= 0.5");
    assert_eq!(cells[1], "✅ pass", "{md}");
    assert!(
        cells[2].starts_with("❌ fail (observed ") && cells[2].ends_with("2 of 2 seeds failed"),
        "{md}"
    );
    let json = read_json(&out.join("compare.json"));
    assert_eq!(json["passed"], false);
    assert_eq!(json["variant_passed"]["active-passive"], true);
    assert_eq!(json["variant_passed"]["least-cost"], false);
    let share = json["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "share openai-4o >= 0.5")
        .unwrap();
    let least = share["verdicts"]["least-cost"].as_array().unwrap();
    assert_eq!(least.len(), 2);
    assert!(least.iter().all(|v| v["verdict"] == "fail"), "{share}");
    assert!(least[0]["observed"].as_f64().unwrap() < 0.5);
    let html = std::fs::read_to_string(out.join("compare.html")).unwrap();
    assert!(
        html.contains("<table id=\"expectations\">") && html.contains("<td class=\"fail\">"),
        "{html}"
    );
}
