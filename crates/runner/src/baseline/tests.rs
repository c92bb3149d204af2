use serde_json::json;

use super::{Stored, gated, stored};

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
