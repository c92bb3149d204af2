//! Start-only settings at a reload: what a reload warns about, and what it does not (the
//! first test from reviewer RV's findings on commit c1b5c7a).

mod support;

use support::*;

/// A reload whose file writes `gateway.threads` as the very number a gateway running on the
/// default already runs (one thread per core) changes nothing: no start-only warning. (The
/// running side is compared as `default`, the file's as the number, so it warns
/// `running="default" file="N"` of a value that did not change, and never says how many
/// threads run.)
#[tokio::test(start_paused = true)]
async fn rv_a_reload_that_writes_the_running_thread_count_does_not_warn() {
    let logs = Captured::start();
    let r = rig(&config(TA, CHAT_TA, ""));
    let running = switchyard_live::config::GatewayConfig::default().threads();
    std::fs::write(
        &r.path,
        config(TA, CHAT_TA, &format!("  threads: {running}\n")),
    )
    .unwrap();
    let (status, body) = call(&r.gw, "POST", "/admin/reload", Some("admin"), String::new()).await;
    assert_eq!(status, 200, "{body}");
    let warned = logs
        .json()
        .iter()
        .any(|l| l["target"] == "switchyard::reload" && l["setting"] == "gateway.threads");
    assert!(!warned, "{}", logs.text());
}

/// `gateway.upstream_ca_file` is read at start: a reload re-reads the file, warns when the
/// roots it holds changed (even under the same name), and when it cannot serve warns that a
/// start would be refused, without refusing the reload (the running roots stay); an
/// unchanged file, or one with the same roots reordered or repeated, does not warn.
#[tokio::test(start_paused = true)]
async fn a_reload_checks_the_ca_file_and_warns_when_its_roots_changed() {
    const CERT: &str = include_str!("../../live/src/transport/client/localhost.crt");
    const OTHER: &str = include_str!("support/other-ca.crt");
    let logs = Captured::start();
    let dir = std::env::temp_dir().join(format!("switchyard-gw-reload-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, format!("{CERT}{OTHER}")).unwrap();
    let with_ca = config(
        TA,
        CHAT_TA,
        &format!("  upstream_ca_file: {}\n", ca.display()),
    );
    let r = rig(&with_ca);
    let reload = || async {
        let (status, body) =
            call(&r.gw, "POST", "/admin/reload", Some("admin"), String::new()).await;
        assert_eq!(status, 200, "{body}");
    };
    let warnings = |text: &str| {
        logs.json()
            .iter()
            .filter(|l| l["target"] == "switchyard::reload" && l.to_string().contains(text))
            .count()
    };
    let setting = "\"setting\":\"gateway.upstream_ca_file\"";
    // The same roots: unchanged, reordered, repeated.
    for same in [
        format!("{CERT}{OTHER}"),
        format!("{OTHER}{CERT}"),
        format!("{CERT}{OTHER}{CERT}"),
    ] {
        std::fs::write(&ca, same).unwrap();
        reload().await;
        assert_eq!(warnings(setting), 0, "{}", logs.text());
    }
    // One root of the two.
    std::fs::write(&ca, OTHER).unwrap();
    reload().await;
    assert_eq!(warnings(setting), 1, "{}", logs.text());

    std::fs::write(&ca, "no certificate here\n").unwrap();
    reload().await;
    assert_eq!(warnings("holds no certificate"), 1, "{}", logs.text());
    assert_eq!(warnings("a start with this file would be refused"), 1);
    // That warning says it all: not also one that a restart would apply the file.
    assert_eq!(warnings(setting), 1, "{}", logs.text());
    let _ = std::fs::remove_dir_all(&dir);
}
