use std::path::{Path, PathBuf};

use super::*;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn drill() -> String {
    std::fs::read_to_string(scenarios().join("manual-failover-drill.yaml")).unwrap()
}

fn load(text: &str) -> Result<ScenarioParams, ConfigError> {
    load_text(text, "bad.yaml", &scenarios())
}

/// Each bound on work and memory refuses what used to validate and then hang the simulator
/// (rates times duration), or allocate per token (max_tokens, prompt sizes), with the line
/// and field; the edges are accepted.
#[test]
fn scenarios_too_big_to_run_are_refused_with_their_place() {
    let good = drill();
    let cases = [
        (
            "duration: 15m",
            "duration: 721h",
            "duration",
            6,
            "at most 720h",
        ),
        (
            "poisson: 10",
            "poisson: 1e9",
            "traffic.arrival.poisson",
            18,
            "at most 100000",
        ),
        (
            "poisson: 10",
            "poisson: 20000",
            "traffic.arrival",
            18,
            "at most 10000000 per run",
        ),
        (
            "max_tokens: 300",
            "max_tokens: 4000000000",
            "traffic.classes[0].max_tokens",
            20,
            "at most 2000000",
        ),
        (
            "p99: 4000 }",
            "p99: 1e12 }",
            "traffic.classes[0].prompt_tokens",
            20,
            "at most 2000000",
        ),
        (
            "alerts: {",
            "alerts: { slot: 1ns,",
            "router.alerts.slot",
            0,
            "at least 1ms",
        ),
    ];
    for (from, to, path, line, message) in cases {
        if from == "alerts: {" {
            // The drill has no alerts section: add one to its router.
            let text = good.replacen("router:\n", "router:\n  alerts: { slot: 1ns }\n", 1);
            let e = load(&text).unwrap_err();
            assert_eq!(e.path, path, "{e}");
            assert!(e.message.contains(message), "{e}");
            assert!(e.to_string().starts_with("bad.yaml:"), "{e}");
            continue;
        }
        assert!(good.contains(from), "{from}");
        let e = load(&good.replacen(from, to, 1)).unwrap_err();
        assert_eq!((e.path.as_str(), e.line), (path, line), "{e}");
        assert!(e.message.contains(message), "{e}");
    }
    // The edges run: a cap on requests lifts the rate × duration bound.
    for edits in [
        &[
            ("duration: 15m", "duration: 720h"),
            ("poisson: 10", "poisson: 0.1"),
        ][..],
        &[(
            "poisson: 10",
            "poisson: 100000 }\n  max_requests: 1000\n  #",
        )],
        &[("poisson: 10", "poisson: 11000")],
        &[("max_tokens: 300", "max_tokens: 2000000")],
    ] {
        let text = edits
            .iter()
            .fold(good.clone(), |t, (from, to)| t.replacen(from, to, 1));
        if let Err(e) = load(&text) {
            panic!("{edits:?}: {e}");
        }
    }
}

/// A scenario anywhere can name a shipped profile: it is built in. A file of that name near
/// the scenario still wins, and a name that is neither says what is built in.
#[test]
fn shipped_profiles_are_built_in_and_a_nearby_file_overrides_them() {
    let dir = switchyard_testkit::TempDir::new("builtin-profile");
    let live_smoke = std::fs::read_to_string(scenarios().join("live-smoke.yaml")).unwrap();
    let file = dir.write("smoke.yaml", &live_smoke);
    let s = super::load(&file).unwrap();
    let primary = &s.providers[0].profile;
    assert_eq!(primary.name, "primary");
    assert_eq!(primary.models[0].name, "small-fast-1");

    std::fs::create_dir_all(dir.path().join("fake-providers")).unwrap();
    let local = switchyard_fake::profile::builtin::builtin("small-fast")
        .unwrap()
        .replace("context_window: 32000", "context_window: 16000");
    dir.write("fake-providers/small-fast.yaml", &local);
    let s = super::load(&file).unwrap();
    assert_eq!(s.providers[0].profile.models[0].context_window, 16_000);

    let e = super::load(&dir.write(
        "typo.yaml",
        &live_smoke.replace("profile: small-fast\n", "profile: smal-fast\n"),
    ))
    .unwrap_err();
    assert_eq!(e.path, "providers[0].profile", "{e}");
    assert!(
        e.message.contains("no profile `smal-fast`") && e.message.contains("small-fast"),
        "{e}"
    );
}
