use std::process::Command;

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
        ])
        .env("OPENAI_API_KEY", "sk-live-should-never-print")
        .env_remove("OPENAI_API_KEY_PREVIOUS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
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
