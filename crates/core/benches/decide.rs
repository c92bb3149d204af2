//! Decision cost for one request on a route of 8 targets.
//! - `decide/weighted`, `decide/least_latency`: the success path, `begin → next → record →
//!   next`. Goal: median under 300 ns per request on the project machine.
//! - `decide/failover`: the first tier's only target fails every time (its breaker trips and
//!   re-trips, kept admitting by `metrics_only` so every request pays for it): `begin → next →
//!   record(overloaded) → next (failover, a retry from the budget) → record → next`. Goal:
//!   median under 1 µs.
#![expect(clippy::panic, reason = "a bench whose setup fails must stop loudly")]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use switchyard_core::config::load_router;
use switchyard_core::health::BreakerMode;
use switchyard_core::outcome::{AttemptReport, ErrorKind, Outcome};
use switchyard_core::overrides::Override;
use switchyard_core::plan::Action;
use switchyard_core::request::Request;
use switchyard_core::rng::SeededRng;
use switchyard_core::router::Router;
use switchyard_core::time::{Duration, Instant};

fn router(policy: &str) -> Router {
    let mut yaml = String::from(
        "retry_budget: { ratio: 1.0, min_per_second: 100000 }\n\
         breaker: { consecutive_failures: 3, open_for: 1s }\ntargets:\n",
    );
    for i in 0..8 {
        yaml.push_str(&format!(
            "  - {{ name: t{i}, provider: p{i}, model: m{i}, price: {{ input: {i}, output: {i} }} }}\n"
        ));
    }
    let targets = "[t0, t1, t2, t3, t4, t5, t6, t7]";
    if policy == "failover" {
        yaml.push_str(
            "routes:\n  - name: chat\n    policy: priority\n    \
             tiers: [[t0], [t1, t2, t3, t4, t5, t6, t7]]\n",
        );
    } else {
        yaml.push_str(&format!(
            "routes:\n  - name: chat\n    policy: {policy}\n    targets: {targets}\n"
        ));
    }
    if policy == "weighted" {
        yaml.push_str("    weights: [8, 7, 6, 5, 4, 3, 2, 1]\n");
    }
    match load_router(&yaml, "bench.yaml") {
        Ok(params) => Router::new(params, SeededRng::new(7)),
        Err(e) => panic!("{e}"),
    }
}

/// A successful attempt of request `i`: 200–299 ms, 800 tokens in, 200 out.
fn served(i: u64) -> AttemptReport {
    let latency = Duration::from_millis(200 + i % 100);
    AttemptReport {
        first_token: Some(latency),
        prompt_tokens: 800,
        completion_tokens: 200,
        ..AttemptReport::new(Outcome::Success, latency)
    }
}

fn decide(c: &mut Criterion) {
    let request = Request {
        route: "chat".into(),
        max_tokens: Some(256),
        estimated_prompt_tokens: 800,
        ..Request::default()
    };
    for policy in ["weighted", "least_latency"] {
        let mut r = router(policy);
        let mut now = Instant::ZERO;
        let mut i = 0u64;
        c.bench_function(&format!("decide/{policy}"), |b| {
            b.iter(|| {
                // Time advances 1 ms per request, so windows and series see realistic motion.
                now += Duration::from_millis(1);
                i += 1;
                let mut plan = r.begin(black_box(&request), now);
                let Action::Send { attempt, .. } = r.next(&mut plan, now) else {
                    panic!("expected a send")
                };
                r.record(&mut plan, attempt, served(i), now);
                black_box(r.next(&mut plan, now))
            })
        });
    }
}

fn failover(c: &mut Criterion) {
    let request = Request {
        route: "chat".into(),
        max_tokens: Some(256),
        estimated_prompt_tokens: 800,
        ..Request::default()
    };
    let mut r = router("failover");
    let Some(t0) = r.params().target_id("t0") else {
        panic!("no t0")
    };
    if let Err(e) = r.apply(Override::Force(t0, BreakerMode::MetricsOnly), Instant::ZERO) {
        panic!("{e}")
    }
    let mut now = Instant::ZERO;
    let mut i = 0u64;
    c.bench_function("decide/failover", |b| {
        b.iter(|| {
            now += Duration::from_millis(1);
            i += 1;
            let mut plan = r.begin(black_box(&request), now);
            let Action::Send {
                attempt, target, ..
            } = r.next(&mut plan, now)
            else {
                panic!("expected a send")
            };
            assert_eq!(target, t0);
            let failed = AttemptReport::new(
                Outcome::error(ErrorKind::Overloaded),
                Duration::from_millis(20),
            );
            r.record(&mut plan, attempt, failed, now);
            let Action::Send { attempt, .. } = r.next(&mut plan, now) else {
                panic!("expected a failover")
            };
            r.record(&mut plan, attempt, served(i), now);
            black_box(r.next(&mut plan, now))
        })
    });
}

criterion_group!(benches, decide, failover);
criterion_main!(benches);
