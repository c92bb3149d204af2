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
