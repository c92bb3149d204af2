//! Live mode against fakes on loopback, and its agreement with simulation.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::path::Path;

use switchyard_core::time::Duration;
use switchyard_sim::traffic::Arrival;

fn scenario(name: &str) -> switchyard_runner::ScenarioParams {
    switchyard_runner::scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios")
            .join(name),
    )
    .unwrap()
}

#[test]
fn sim_and_live_agree_on_the_30_70_split() {
    let mut s = scenario("split-30-70.yaml");
    s.duration = Duration::from_secs(12);
    s.traffic.arrival = Arrival::Poisson { rate: 100.0 };
    let sim = switchyard_runner::simulate(&s, 3).unwrap();
    let live = switchyard_runner::live::run(&s, 3, None).unwrap();
    assert_eq!(live.mode, "live");
    assert_eq!(
        sim.totals.requests, live.totals.requests,
        "the same traffic in both modes"
    );
    assert!(live.totals.requests > 1_000);
    for (a, b) in sim.targets.iter().zip(&live.targets) {
        let (sa, sb) = (a.share * 100.0, b.share * 100.0);
        assert!(
            (sa - sb).abs() <= 2.0,
            "{}: sim {sa:.2}% vs live {sb:.2}%",
            a.name
        );
    }
    let (ra, rb) = (
        sim.totals.success_rate * 100.0,
        live.totals.success_rate * 100.0,
    );
    assert!((ra - rb).abs() <= 0.5, "success: sim {ra}% vs live {rb}%");
    assert!(
        live.totals.success_rate >= 0.999,
        "{:?}",
        live.totals.failures
    );
}
