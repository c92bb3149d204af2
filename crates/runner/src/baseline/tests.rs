use serde_json::json;

use super::{Stored, figures, gated, stored, trimmed};

#[test]
fn a_stored_figure_is_a_number_a_never_or_not_a_figure() {
    let base = json!({
        "totals": { "success_rate": 0.99, "cost_usd": null, "latency_ms": { "p99": "1" } },
        "failover": [
            { "fault": "f", "time_to_failover_secs": null, "time_to_failback_secs": [1] }
        ],
    });
    assert_eq!(stored(&base, "/totals/success_rate"), Stored::Number(0.99));
    // A total is always a number: its `null` is damage, not "did not happen".
    assert_eq!(
        stored(&base, "/totals/cost_usd"),
        Stored::NotANumber("null".into())
    );
    assert_eq!(
        stored(&base, "/totals/latency_ms/p99"),
        Stored::NotANumber("\"1\"".into())
    );
    assert_eq!(stored(&base, "/totals/ttft_ms/p99"), Stored::Missing);
    assert_eq!(
        stored(&base, "failover/f/time_to_failover_secs"),
        Stored::Never
    );
    assert_eq!(
        stored(&base, "failover/f/time_to_failback_secs"),
        Stored::NotANumber("[1]".into())
    );
    assert_eq!(
        stored(&base, "failover/g/time_to_failback_secs"),
        Stored::Missing
    );
}

#[test]
fn the_gated_figures_are_named_as_in_report_json() {
    assert_eq!(
        gated(),
        [
            "totals.success_rate",
            "totals.latency_ms.p99",
            "totals.ttft_ms.p99",
            "totals.attempts_per_request",
            "totals.cost_usd",
            "failover[].time_to_failover_secs",
            "failover[].time_to_failback_secs",
        ]
    );
}

#[test]
fn a_black_box_run_gates_no_attempts_it_could_not_see() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let s = crate::scenario::load(&root.join("active-passive-outage.yaml")).unwrap();
    let router = switchyard_core::router::Router::new(
        s.router.clone(),
        switchyard_core::rng::SeededRng::substream(1, "router"),
    );
    let c = crate::results::Collector::new(&s);
    let wall = crate::report::Wall {
        elapsed_secs: 0.0,
        requests_per_sec: 0.0,
        events: 0,
    };
    let mut r = crate::report::build(&s, "live", 1, &c, &router, &[], None, wall);
    let attempts = |r: &crate::Report| {
        (
            trimmed(r)["totals"].get("attempts_per_request").is_some(),
            figures(r)
                .iter()
                .any(|f| f.pointer == "/totals/attempts_per_request"),
        )
    };
    assert_eq!(
        attempts(&r),
        (true, true),
        "a direct run gates its attempts"
    );
    r.black_box = Some(crate::report::BlackBoxReport::new());
    assert_eq!(
        attempts(&r),
        (false, false),
        "a black box's attempts (0: not seen) are neither saved nor compared"
    );
}
