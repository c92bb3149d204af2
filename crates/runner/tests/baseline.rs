//! The baseline gate: its slack on timing figures, baselines that are not numbers, baselines
//! it refuses before the run, and its figure list as `docs/SCENARIOS.md` states it.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use switchyard_runner::baseline::{self, Allow, Gate};
use switchyard_runner::{Report, RunError, RunMode, RunOptions, simulate};
use switchyard_testkit::TempDir;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scenario(name: &str) -> PathBuf {
    root().join(format!("scenarios/{name}.yaml"))
}

/// The library's outage in simulation: it fails over in about 1.1 s.
fn outage() -> (Report, u64) {
    let s = switchyard_runner::scenario::load(&scenario("active-passive-outage")).unwrap();
    (simulate(&s, s.seed).unwrap(), s.seed)
}

fn gate(path: &Path) -> Gate {
    Gate {
        path: path.to_owned(),
        tolerance: 0.05,
        allow: Allow::default(),
    }
}

/// `r`'s own baseline, edited, written to a file in `dir`.
fn baseline_of(r: &Report, dir: &TempDir, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut base = baseline::trimmed(r);
    edit(&mut base);
    dir.write("baseline.json", &base.to_string())
}

fn figure<'a>(
    b: &'a switchyard_runner::report::BaselineReport,
    name: &str,
) -> &'a switchyard_runner::report::BaselineFigure {
    b.figures.iter().find(|f| f.name == name).unwrap()
}

#[test]
fn timing_figures_may_be_worse_by_five_percent_plus_a_tenth_of_a_second() {
    let (r, seed) = outage();
    let over = r.failover[0].time_to_failover_secs.unwrap();
    let dir = TempDir::new("baseline-slack");
    let name = "time to fail over for `primary-outage` (s)";
    // The run is 0.1 s + 5 % worse than a baseline `b` exactly at the limit; 1 ms more fails.
    let at_limit = (over - 0.1) / 1.05;
    for (b, passes) in [(at_limit + 0.001, true), (at_limit - 0.001, false)] {
        let file = baseline_of(&r, &dir, |j| {
            j["failover"][0]["time_to_failover_secs"] = json!(b);
        });
        let verdicts = baseline::check(&gate(&file), &r, seed).unwrap();
        let f = figure(&verdicts, name);
        assert_eq!(f.passed, passes, "baseline {b}: {f:?}");
        let limit = f.limit.unwrap();
        assert!((limit - (b * 1.05 + 0.1)).abs() < 1e-9, "{f:?}");
        if !passes {
            assert!(f.message.contains("by more than 5% + 0.1 s"), "{f:?}");
        }
    }
    // Not one series bucket of slack (4 s and more in this 20-minute run): a failover that
    // got 2 s slower is a regression.
    assert!(r.series.width_secs >= 4);
    let file = baseline_of(&r, &dir, |j| {
        j["failover"][0]["time_to_failover_secs"] = json!(over);
        j["failover"][0]["time_to_failback_secs"] = json!(0.5);
    });
    let mut slower = r.clone();
    slower.failover[0].time_to_failover_secs = Some(over + 2.0);
    let verdicts = baseline::check(&gate(&file), &slower, seed).unwrap();
    assert!(!figure(&verdicts, name).passed, "{verdicts:?}");
    // The time to fail back follows the same rule: 53 s against a baseline of 0.5 s fails.
    assert!(
        !figure(&verdicts, "time to fail back for `primary-outage` (s)").passed,
        "{verdicts:?}"
    );
    assert_eq!(baseline::TIMING_SLACK_SECS, 0.1);
}

#[test]
fn a_baseline_whose_figures_are_not_numbers_fails_naming_the_figure() {
    let (r, seed) = outage();
    let dir = TempDir::new("baseline-not-numbers");
    let file = baseline_of(&r, &dir, |j| {
        j["totals"]["latency_ms"]["p99"] = json!("fast");
        j["totals"]["cost_usd"] = Value::Null;
        j["failover"][0]["time_to_failover_secs"] = json!("1.1");
    });
    let verdicts = baseline::check(&gate(&file), &r, seed).unwrap();
    assert!(!verdicts.passed, "{verdicts:?}");
    for (name, shown) in [
        ("p99 latency (ms)", "\"fast\""),
        ("cost (USD)", "null"),
        ("time to fail over for `primary-outage` (s)", "\"1.1\""),
    ] {
        let f = figure(&verdicts, name);
        assert!(!f.passed, "{f:?}");
        assert_eq!(
            f.message,
            format!(
                "{name} in the baseline is not a number ({shown}): the baseline is damaged, \
                 save it again"
            )
        );
    }
    // A fault's `null` time is a figure that did not happen: no regression.
    let file = baseline_of(&r, &dir, |j| {
        j["failover"][0]["time_to_failback_secs"] = Value::Null;
    });
    let verdicts = baseline::check(&gate(&file), &r, seed).unwrap();
    assert!(verdicts.passed, "{verdicts:?}");
}

/// Runs `name` with a baseline gate, writing under `dir`.
fn run_against(
    name: &str,
    mode: RunMode,
    gate: Gate,
    dir: &TempDir,
) -> Result<switchyard_runner::RunOutcome, RunError> {
    let options = RunOptions {
        mode,
        out: Some(dir.path().join("out")),
        baseline: Some(gate),
        ..RunOptions::default()
    };
    switchyard_runner::run(&scenario(name), &options)
}

#[test]
fn a_baseline_of_another_scenario_mode_or_seed_is_refused_before_the_run() {
    let dir = TempDir::new("baseline-refused");
    let library = root().join("reports/baselines");
    // A live run against the library's (sim) baseline of gateway-smoke. The scenario goes
    // through this project's gateway, which a run without a launcher cannot start: had the
    // run started, that would be the error.
    let e = run_against("gateway-smoke", RunMode::Live, gate(&library), &dir).unwrap_err();
    let RunError::Baseline(message) = &e else {
        panic!("not refused before the run: {e}")
    };
    let file = library.join("gateway-smoke.json").display().to_string();
    assert!(
        message.contains(&file)
            && message.contains("it is of a sim run, this is a live run")
            && message.contains("--baseline-any-mode")
            && message.contains("nothing was run"),
        "{message}"
    );
    // Allowed: the mode passes, and the run starts (and stops at the missing launcher).
    let allowed = Gate {
        allow: Allow {
            any_mode: true,
            any_seed: false,
        },
        ..gate(&library)
    };
    let e = run_against("gateway-smoke", RunMode::Live, allowed, &dir).unwrap_err();
    assert!(matches!(e, RunError::Setup { .. }), "{e}");
    // Another seed: the drill's baseline with its seed changed.
    let drill = std::fs::read_to_string(library.join("manual-failover-drill.json")).unwrap();
    let mut other_seed: Value = serde_json::from_str(&drill).unwrap();
    other_seed["seed"] = json!(99);
    let file = dir.write("seed.json", &other_seed.to_string());
    let e = run_against("manual-failover-drill", RunMode::Sim, gate(&file), &dir).unwrap_err();
    assert!(
        e.to_string()
            .contains("it is of seed 99, this run uses seed 13 (pass --baseline-any-seed"),
        "{e}"
    );
    // Another scenario: the outage's baseline given as the drill's, seed and mode made
    // equal. No flag overrides it.
    let mut other: Value = serde_json::from_str(
        &std::fs::read_to_string(library.join("active-passive-outage.json")).unwrap(),
    )
    .unwrap();
    other["seed"] = json!(13);
    let file = dir.write("other.json", &other.to_string());
    let forced = Gate {
        allow: Allow {
            any_mode: true,
            any_seed: true,
        },
        ..gate(&file)
    };
    let e = run_against("manual-failover-drill", RunMode::Sim, forced, &dir).unwrap_err();
    assert!(
        e.to_string().contains(&format!(
            "the baseline at {} cannot be compared with this run of `manual-failover-drill`: \
             it is of scenario `active-passive-outage`",
            file.display()
        )),
        "{e}"
    );
    assert!(!dir.path().join("out").exists(), "nothing was written");
    // Its own baseline: the run goes ahead and the gate passes.
    let ok = run_against("manual-failover-drill", RunMode::Sim, gate(&library), &dir).unwrap();
    assert!(ok.report.baseline.as_ref().unwrap().passed);
}

/// A baseline of a run of another length (`run --duration`), or one that does not record its
/// length, is refused before the run: counts and costs scale with the length.
#[test]
fn a_baseline_of_a_run_of_another_length_is_refused() {
    let dir = TempDir::new("baseline-length");
    let library = root().join("reports/baselines");
    let drill = std::fs::read_to_string(library.join("manual-failover-drill.json")).unwrap();
    // A shorter run (`run --duration`): its counts and costs cannot be compared with a full
    // run's, and no flag allows it.
    let short = RunOptions {
        out: Some(dir.path().join("out")),
        duration: Some(switchyard_core::time::Duration::from_secs(10)),
        baseline: Some(Gate {
            allow: Allow {
                any_mode: true,
                any_seed: true,
            },
            ..gate(&library)
        }),
        ..RunOptions::default()
    };
    let e = switchyard_runner::run(&scenario("manual-failover-drill"), &short).unwrap_err();
    assert!(
        matches!(&e, RunError::Baseline(m) if m.contains("this run is 10 s")),
        "{e}"
    );
    // A baseline that does not record the length is refused too.
    let mut no_length: Value = serde_json::from_str(&drill).unwrap();
    no_length.as_object_mut().unwrap().remove("duration_secs");
    let file = dir.write("no-length.json", &no_length.to_string());
    let e = run_against("manual-failover-drill", RunMode::Sim, gate(&file), &dir).unwrap_err();
    assert!(
        e.to_string()
            .contains("it does not record the run's length"),
        "{e}"
    );
    assert!(!dir.path().join("out").exists(), "nothing was written");
}

/// The figures `docs/SCENARIOS.md` lists under "The baseline gate" are the ones the gate
/// compares.
#[test]
fn the_documented_gated_figures_are_the_gates_own() {
    let page = std::fs::read_to_string(root().join("docs/SCENARIOS.md")).unwrap();
    let section = page
        .split("\n## The baseline gate\n")
        .nth(1)
        .expect("docs/SCENARIOS.md has a section `## The baseline gate`");
    let section = section.split("\n## ").next().unwrap();
    let list = section
        .split("The gated figures:\n")
        .nth(1)
        .expect("the section lists `The gated figures:`");
    let documented: Vec<String> = list
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.starts_with("- "))
        .filter_map(|l| l.split('`').nth(1).map(str::to_owned))
        .collect();
    assert_eq!(documented, baseline::gated());
    assert!(section.contains("5 % + 0.1 s"), "the slack rule is stated");
}

/// An exact 0 prints as `0` in the baseline table, its verdicts and its messages, as the
/// compare table prints it, not `0.0000` (a free scenario's cost, a run that failed every
/// request).
#[test]
fn an_exact_zero_prints_as_0_not_0_0000() {
    let (r, seed) = outage();
    let dir = TempDir::new("baseline-zero");
    let file = baseline_of(&r, &dir, |j| j["totals"]["cost_usd"] = json!(0.0));
    let mut free = r.clone();
    free.totals.cost_usd = 0.0;
    free.totals.success_rate = 0.0;
    free.baseline = Some(baseline::check(&gate(&file), &free, seed).unwrap());
    let md = switchyard_runner::render::markdown::render(&free);
    assert!(md.contains("| cost (USD) | 0 | 0 | "), "{md}");
    assert!(
        md.contains("FAIL: success rate 0 fell below the baseline's 1.0000"),
        "{md}"
    );
    // The run's own cost against that free baseline: a regression whose verdict names the 0.
    let mut costly = r.clone();
    costly.baseline = Some(baseline::check(&gate(&file), &costly, seed).unwrap());
    let junit = switchyard_runner::render::junit::render(&costly);
    assert!(
        junit
            .contains("exceeds the baseline&apos;s 0 by more than 5%, expected baseline 0, limit "),
        "{junit}"
    );
}
