//! The live config (what `switchyard gateway` loads and reloads) refuses settings that would
//! validate and then abort or hold unbounded memory, with their line and field.
#![expect(clippy::unwrap_used, reason = "test helpers")]

use std::path::Path;

use switchyard_live::config::load_live;

fn live() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/routers/live.yaml"),
    )
    .unwrap()
}

#[test]
fn a_one_nanosecond_alert_slot_is_refused_before_the_gateway_builds_its_router() {
    let text = live().replacen("router:\n", "router:\n  alerts: { slot: 1ns }\n", 1);
    let e = load_live(&text, "live.yaml").unwrap_err();
    assert_eq!(e.path, "router.alerts.slot", "{e}");
    assert!(e.message.contains("at least 1ms"), "{e}");
    let line = text.lines().position(|l| l.contains("slot: 1ns")).unwrap() + 1;
    assert_eq!(e.line, line, "{e}");
}

#[test]
fn max_body_bytes_is_bounded() {
    for (n, ok) in [
        ("0", false),
        ("268435457", false),
        ("1", true),
        ("268435456", true),
    ] {
        let text = format!("{}\ngateway:\n  max_body_bytes: {n}\n", live());
        match load_live(&text, "live.yaml") {
            Ok(_) => assert!(ok, "{n} was accepted"),
            Err(e) => {
                assert!(!ok, "{n}: {e}");
                assert_eq!(e.path, "gateway.max_body_bytes", "{e}");
                assert_eq!(e.line, text.lines().count(), "{e}");
            }
        }
    }
}
