//! Simulated requests per wall-clock second on the 30/70 scenario at a high rate, and the
//! process's peak memory as the simulated duration grows from 1 hour to 24 hours.
//! `cargo bench -p switchyard-runner --bench sim_throughput`
#![expect(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "a bench measures wall time"
)]

use std::path::Path;

use switchyard_core::time::Duration;
use switchyard_sim::traffic::Arrival;

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/split-30-70.yaml");
    let base = switchyard_runner::scenario::load(&file).unwrap();
    for (hours, rate) in [(1u64, 1000.0), (1, 200.0), (24, 200.0)] {
        let mut s = base.clone();
        s.duration = Duration::from_secs(hours * 3600);
        s.traffic.arrival = Arrival::Poisson { rate };
        let start = std::time::Instant::now();
        let report = switchyard_runner::simulate(&s, 7).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let n = report.totals.requests;
        println!(
            "{hours:>2} h at {rate:>6}/s: {n:>9} requests in {secs:6.2} s wall = {:>9.0} simulated requests/s; peak RSS {} kB; success {:.4}",
            n as f64 / secs,
            peak_rss_kb(),
            report.totals.success_rate
        );
    }
}
