use std::process::{Command, Output};

use switchyard_testkit::TempDir;

#[test]
fn creds_status_lists_sources_and_states_never_keys() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .current_dir(root)
        .args([
            "creds",
            "status",
            "--config",
            "scenarios/routers/live.yaml",
            "--today",
            "2026-11-25",
            "--live",
        ])
        .env("OPENAI_API_KEY", "sk-live-should-never-print")
        .env_remove("OPENAI_API_KEY_PREVIOUS")
        .output()
        .unwrap();
    // Anthropic's only key is not set: no usable key, exit 1.
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    // Judged by the key in use, not by the retired key that expired.
    assert!(text.contains("openai: due soon ("), "{text}");
    assert!(text.contains("anthropic: missing ("), "{text}");
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("credentials need attention: anthropic (missing)")
    );
    assert!(
        text.contains("env:OPENAI_API_KEY           due soon"),
        "{text}"
    );
    assert!(text.contains("[in use]"), "{text}");
    assert!(
        text.contains("env:OPENAI_API_KEY_PREVIOUS  expired"),
        "{text}"
    );
    assert!(
        text.contains("file:/run/secrets/anthropic  stale") && text.contains("[not set]"),
        "{text}"
    );
    assert!(!text.contains("sk-live-should-never-print"));
    let bad = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .current_dir(root)
        .args([
            "creds",
            "status",
            "--config",
            "scenarios/routers/failover.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a router-only file is not a live config"
    );
    assert!(
        String::from_utf8(bad.stderr)
            .unwrap()
            .contains("failover.yaml:3:1: field `targets`: unknown field `targets`")
    );
}

#[expect(clippy::unwrap_used, reason = "test helper")]
fn creds_status(config: &std::path::Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["creds", "status", "--today", "2026-11-25", "--config"])
        .arg(config)
        .args(extra)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_API_KEY_PREVIOUS")
        .output()
        .unwrap()
}

/// Exit 1 when a provider's key in use is past its rotation deadline or it has no usable key
/// (`missing`); `--warn-only` says the same and exits 0; fresh and due-soon keys exit 0.
#[test]
fn creds_status_fails_on_stale_expired_or_missing_keys_unless_warn_only() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let live = std::fs::read_to_string(format!("{root}/scenarios/routers/live.yaml")).unwrap();
    let openai = "env:OPENAI_API_KEY, valid_from: 2026-09-01, last_rotated: 2026-09-01";
    let anthropic = "file:/run/secrets/anthropic, valid_from: 2026-08-20, last_rotated: 2026-08-20";
    assert!(live.contains(openai) && live.contains(anthropic));
    let dir = TempDir::new("creds-status");
    let cases = [
        // (openai's key in use, anthropic's key, exit, anthropic's state)
        (
            "literal:sk-a, last_rotated: 2026-11-01",
            "literal:sk-b, last_rotated: 2026-11-01",
            0,
            "fresh",
        ),
        (
            "literal:sk-a, last_rotated: 2026-11-01",
            "literal:sk-b, last_rotated: 2026-08-01",
            1,
            "stale",
        ),
        (
            "literal:sk-a, last_rotated: 2026-11-01",
            "literal:sk-b, valid_until: 2026-11-01",
            1,
            "expired",
        ),
        (
            "literal:sk-a, last_rotated: 2026-11-01",
            "env:SWITCHYARD_TEST_UNSET_KEY",
            1,
            "missing",
        ),
    ];
    for (i, (a, b, code, state)) in cases.into_iter().enumerate() {
        let file = dir.path().join(format!("live{i}.yaml"));
        std::fs::write(&file, live.replacen(openai, a, 1).replacen(anthropic, b, 1)).unwrap();
        let out = creds_status(&file, &["--live"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{b}: {text}");
        assert!(
            text.contains(&format!("anthropic: {state} (")),
            "{b}: {text}"
        );
        assert!(text.contains("openai: fresh ("), "{text}");
        let warned = creds_status(&file, &["--live", "--warn-only"]);
        assert_eq!(warned.status.code(), Some(0), "{b}");
        assert_eq!(
            String::from_utf8_lossy(&warned.stderr).contains("need attention"),
            code == 1
        );
    }
    // A provider with no keys at all is missing, not fresh.
    let file = dir.path().join("nokeys.yaml");
    let keyless = live.replacen(
        &format!("    keys:\n      - {{ source: {anthropic} }}\n"),
        "",
        1,
    );
    assert!(!keyless.contains("/run/secrets"), "{keyless}");
    std::fs::write(&file, keyless).unwrap();
    let out = creds_status(&file, &["--live"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("anthropic: missing ("), "{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
}

/// In development a provider talks to its fake with the mock key, so that is the key
/// `creds status` judges (fresh, exit 0, whatever the live keys' state); a provider with
/// `mode: live` and every provider under `--live` are judged by their live keys.
#[test]
fn creds_status_judges_the_key_each_provider_would_use() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let config = std::path::Path::new(root).join("scenarios/routers/live.yaml");
    let dev = creds_status(&config, &[]);
    let text = String::from_utf8_lossy(&dev.stdout);
    assert_eq!(dev.status.code(), Some(0), "{text}");
    assert!(
        text.contains("openai: fresh (fake, http://127.0.0.1:9101"),
        "{text}"
    );
    assert!(
        text.contains("anthropic: fresh (fake, http://127.0.0.1:9102"),
        "{text}"
    );
    assert!(text.contains("mock_key"), "{text}");
    assert!(
        !text.contains("sk-switchyard-dev-openai"),
        "the mock key is a key too: {text}"
    );
    let live = creds_status(&config, &["--live"]);
    let text = String::from_utf8_lossy(&live.stdout);
    assert_eq!(live.status.code(), Some(1), "{text}");
    assert!(
        text.contains("openai: missing (live, https://api.openai.com"),
        "{text}"
    );
    assert!(text.contains("anthropic: missing (live"), "{text}");
    // `mode: live` in development: its live keys are the ones in use.
    let text = std::fs::read_to_string(&config).unwrap();
    let dir = TempDir::new("creds-mode-live");
    let file = dir.path().join("live.yaml");
    std::fs::write(
        &file,
        text.replacen(
            "    dialect: anthropic\n",
            "    dialect: anthropic\n    mode: live\n",
            1,
        ),
    )
    .unwrap();
    let mixed = creds_status(&file, &[]);
    let text = String::from_utf8_lossy(&mixed.stdout);
    assert_eq!(mixed.status.code(), Some(1), "{text}");
    assert!(text.contains("openai: fresh (fake"), "{text}");
    assert!(text.contains("anthropic: missing (live"), "{text}");
}
