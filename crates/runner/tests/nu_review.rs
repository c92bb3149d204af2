//! New user NU: do a live run's request-level costs (`report.json`'s `totals.cost_usd` and
//! `wasted_cost_usd`, the `cost` and `wasted_cost` metrics) book what its targets book, as the
//! simulator's do (docs/ARCHITECTURE.md, "Cost": "`cost` of all requests equals the targets'
//! `cost_success + cost_failed`")?
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;
use support::one_at_a_time;

/// Every caller leaves at 300 ms; the provider's first token comes a second late. Each
/// abandoned attempt is booked its prompt estimate (1000 tokens at $1 per million, $0.001)
/// per target in both modes, and in the simulator the requests' cost says so too. Live, the
/// requests' cost and wasted cost read 0 while the targets' read $0.019 (seed 1, 19
/// requests), so a `cost` expectation passes on spend the run did make.
#[test]
fn a_live_abandoned_requests_cost_is_what_its_target_books() {
    let _serial = one_at_a_time();
    let yaml = "name: nu-abandoned-cost\nseed: 1\nduration: 5s\n\
providers:\n  - name: primary\n    profile: small-fast\n    faults:\n      - { kind: slow_first_token, extra: 1s }\n\
router:\n  targets:\n    - { name: p1, provider: primary, model: small-fast-1, context_window: 32000, price: { input: 1, output: 2 } }\n  \
routes:\n    - { name: chat, policy: static, targets: [p1] }\n  \
plan: { max_attempts: 1, attempt_timeout: 10s, deadline: 20s }\n\
traffic:\n  arrival: { constant: 4 }\n  classes:\n    \
- { name: impatient, weight: 1, route: chat, prompt_tokens: { fixed: 1000 }, max_tokens: 100, stream: 0.5, abandon_after: 300ms }\n";
    let dir = std::env::temp_dir().join(format!("nu-abandoned-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("abandoned-cost.yaml");
    std::fs::write(&path, yaml).unwrap();
    let s = switchyard_runner::scenario::load(&path).unwrap();
    let sim = switchyard_runner::simulate(&s, s.seed).unwrap();
    let live = switchyard_runner::live::run(&s, s.seed, None).unwrap();
    for r in [&sim, &live] {
        let targets: f64 = r
            .targets
            .iter()
            .map(|t| t.cost_success_usd + t.cost_failed_usd)
            .sum();
        let wasted: f64 = r.targets.iter().map(|t| t.cost_failed_usd).sum();
        eprintln!(
            "{}: requests {} failed {}, totals cost {} wasted {}, targets cost {} wasted {}",
            r.mode,
            r.totals.requests,
            r.totals.failed,
            r.totals.cost_usd,
            r.totals.wasted_cost_usd,
            targets,
            wasted
        );
        assert!(
            targets > 0.0,
            "{}: the abandoned attempts are booked",
            r.mode
        );
        assert!(
            (r.totals.cost_usd - targets).abs() < 1e-6,
            "{}: cost {} vs targets {targets}",
            r.mode,
            r.totals.cost_usd
        );
        assert!(
            (r.totals.wasted_cost_usd - wasted).abs() < 1e-6,
            "{}: wasted {} vs targets {wasted}",
            r.mode,
            r.totals.wasted_cost_usd
        );
    }
}
