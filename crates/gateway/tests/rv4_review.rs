//! Reviewer RV's findings on commit c1b5c7a (start-only settings' warnings given as values).
//! Each test is `#[ignore]`d with the bug it shows; run with `--ignored`.

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
