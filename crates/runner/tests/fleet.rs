//! Fleet scenarios through the runner: the report's fleet section, the same seed giving the
//! same report, sharing against `none` in one comparison, every replica counted, and a live
//! fleet without a gateway launcher refused.

use std::path::{Path, PathBuf};

use switchyard_runner::compare::compare;
use switchyard_runner::report::without_wall;
use switchyard_runner::{RunMode, RunOptions, run, scenario, simulate};
use switchyard_testkit::TempDir;

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../scenarios/{name}.yaml"))
}

#[test]
fn a_fleet_report_has_its_section_and_the_same_seed_gives_the_same_report() {
    let s = scenario::load(&scenario("fleet-outage-stop")).unwrap();
    let a = simulate(&s, s.seed).unwrap();
    let b = simulate(&s, s.seed).unwrap();
    let json = |r: &switchyard_runner::report::Report| {
        without_wall(&serde_json::to_string_pretty(r).unwrap())
    };
    assert_eq!(json(&a), json(&b));
    let f = a.fleet.as_ref().unwrap();
    assert_eq!((f.replicas, f.shared), (3, true));
    assert_eq!(
        f.replicas_load.iter().map(|r| r.requests).sum::<u64>(),
        a.totals.requests
    );
    let openai = &f.targets[0];
    assert!(openai.first_open_secs.unwrap() >= 120.0);
    assert!(openai.stopped_after_secs.unwrap() <= 1.0);
    let md = switchyard_runner::render::markdown::render(&a);
    assert!(md.contains("### Fleet: targets"), "{md}");
    // A scenario without replicas has no fleet section at all.
    let plain = scenario::load(&scenario("active-passive-outage")).unwrap();
    let r = simulate(&plain, plain.seed).unwrap();
    assert!(r.fleet.is_none());
    assert!(!serde_json::to_string(&r).unwrap().contains("\"fleet\""));
}

#[test]
fn compare_shows_sharing_against_none_side_by_side() {
    let s = scenario::load(&scenario("fleet-rate-limit")).unwrap();
    let c = compare(&s, None, 1).unwrap();
    assert_eq!(c.variants, ["shared", "none"]);
    let row = c
        .expectations
        .iter()
        .find(|e| e.name.starts_with("provider_rate_limited_share"))
        .unwrap();
    let shared = row.verdicts["shared"][0].observed.unwrap();
    let none = row.verdicts["none"][0].observed.unwrap();
    assert!(
        shared <= 0.01 && none >= 0.05,
        "shared {shared}, none {none}"
    );
}

/// A live fleet runs this project's gateways: without a launcher to start them, it is a
/// setup error before anything starts (the CLI's live fleets: `crates/cli/tests/fleet_live.rs`).
#[test]
fn a_live_fleet_without_a_gateway_launcher_is_refused() {
    let out = TempDir::new("fleet-live");
    let options = RunOptions {
        mode: RunMode::Live,
        out: Some(out.path().to_path_buf()),
        ..RunOptions::default()
    };
    let e = run(&scenario("fleet-rate-limit"), &options).unwrap_err();
    assert!(e.to_string().contains("no way to start one"), "{e}");
}

/// A live fleet's figures are read at the door of the runner's own fakes: a provider at a
/// URL of its own is refused before anything starts.
#[test]
fn a_live_fleet_with_a_providers_own_url_is_refused() {
    let path = scenario("fleet-rate-limit");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "{ name: openai, profile: openai,",
        "{ name: openai, profile: openai, url: \"http://127.0.0.1:9\",",
    );
    let s = scenario::load_text(&text, "fleet.yaml", path.parent().unwrap()).unwrap();
    let e = switchyard_runner::live::run(&s, s.seed, None).unwrap_err();
    assert!(
        e.to_string().contains("provider `openai` has a `url`"),
        "{e}"
    );
}

/// A fleet's report counts every replica: each target's attempts are all the replicas'
/// (as the request figures count them), and the events are every replica's: the first
/// detection of the outage is followed within a second by the other two replicas' breakers
/// opening on the advisory. Counting replica 0's router only gives a third of the attempts
/// and one opening.
#[test]
fn a_fleet_report_counts_every_replicas_targets_and_events() {
    let s = scenario::load(&scenario("fleet-outage-stop")).unwrap();
    let r = simulate(&s, s.seed).unwrap();
    for t in &r.targets {
        assert_eq!(
            Some(&t.attempts),
            r.totals.attempts_by_target.get(&t.name),
            "{}",
            t.name
        );
    }
    let first = r.fleet.as_ref().unwrap().targets[0]
        .first_open_secs
        .unwrap();
    let opened = r
        .events
        .iter()
        .filter(|e| e.state == Some("open") && e.target.as_deref() == Some("openai-4o"))
        .filter(|e| e.at_secs >= first - 0.001 && e.at_secs <= first + 1.0)
        .count();
    assert_eq!(opened, 3, "{:?}", r.events);
}

/// Probes of a target whose breaker never opened are not observed: "at most 3 probes"
/// must not pass on a target that was never probed because it never failed.
#[test]
fn probes_of_a_target_that_never_opened_are_not_observed() {
    let path = scenario("fleet-rate-limit");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "expect:\n",
        "expect:\n  - { name: probes, metric: probes, target: claude-sonnet, op: \"<=\", value: 3 }\n",
    );
    let s = scenario::load_text(&text, "fleet.yaml", path.parent().unwrap()).unwrap();
    let r = simulate(&s, s.seed).unwrap();
    let e = r.expectations.iter().find(|e| e.name == "probes").unwrap();
    assert_eq!((e.observed, e.passed), (None, false), "{e:?}");
    assert!(
        e.reason
            .as_deref()
            .unwrap_or("")
            .contains("no replica's breaker opened on claude-sonnet"),
        "{e:?}"
    );
}

/// A fleet's metric in a scenario without `replicas` could only be "not observed": it is
/// refused at validation, naming the field.
#[test]
fn a_fleet_metric_without_replicas_is_refused_at_validation() {
    let path = scenario("active-passive-outage");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "expect:\n",
        "expect:\n  - { metric: provider_rate_limited, provider: openai, op: \"<=\", value: 0 }\n",
    );
    let e = scenario::load_text(&text, "plain.yaml", path.parent().unwrap()).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("expect[0].metric")
            && shown.contains("a fleet's metric: it needs `replicas`"),
        "{shown}"
    );
}
