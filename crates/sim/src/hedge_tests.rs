//! A hedge that loses: what the simulator books for it, through the core, as the live driver
//! does.

use super::*;
use switchyard_core::request::Capabilities;
use switchyard_fake::distribution::Distribution;
use traffic::{Arrival, ClassParams};

/// A primary whose first token comes at 100 ms (streams of 10 tokens at 1000 a second) and a
/// standby, priced $1 a million input tokens, whose first comes at 1 s; a hedge goes to the
/// standby after 50 ms, so the primary always wins. `stream`: the share of streams.
fn params(stream: f64) -> SimParams {
    let profile = |name: &str, first: &str| {
        switchyard_fake::load_profile(
            &format!(
                "name: {name}\ndialect: openai\nmodels:\n  - {{ name: m, context_window: 100000 }}\n\
                 latency:\n  first_token: {{ fixed: {first} }}\n  tokens_per_second: {{ fixed: 1000 }}\n\
                 output_tokens: {{ fixed: 10 }}\n"
            ),
            "p.yaml",
        )
        .unwrap()
    };
    let provider = |name: &str, first: &str| SimProvider {
        name: name.into(),
        profile: profile(name, first),
        keys: Vec::new(),
        refuses_prefill: false,
    };
    let yaml = "targets:\n  - { name: a, provider: pa, model: m }\n\
                \x20 - { name: b, provider: pb, model: m, price: { input: 1, output: 2 } }\n\
                routes:\n  - { name: r, policy: priority, tiers: [[a], [b]] }\n\
                plan: { max_attempts: 2, attempt_timeout: 10s, deadline: 30s, hedge_after: 50ms }\n\
                retry_budget: { ratio: 1, min_per_second: 100 }\n";
    SimParams {
        router: switchyard_core::config::load_router(yaml, "r.yaml").unwrap(),
        providers: vec![provider("pa", "100ms"), provider("pb", "1s")],
        traffic: TrafficParams {
            arrival: Arrival::Poisson { rate: 10.0 },
            classes: vec![ClassParams {
                abandon_after: None,
                name: "chat".into(),
                weight: 1.0,
                route: "r".into(),
                task: None,
                prompt_tokens: Distribution::Fixed(200.0),
                max_tokens: 100,
                stream,
                needs: Capabilities::NONE,
            }],
            max_requests: None,
        },
        operator: Vec::new(),
        duration: Duration::from_secs(30),
        seed: 3,
        network_delay: Duration::from_millis(2),
        fleet: None,
    }
}

/// The requests served, and the cost and wasted cost of each, summed.
#[derive(Default)]
struct Books {
    served: u64,
    cost: f64,
    wasted: f64,
}

impl Observer for Books {
    fn finished(&mut self, r: &Finished<'_>) {
        self.served += u64::from(r.outcome.is_success());
        self.cost += r.cost;
        self.wasted += r.wasted_cost;
    }
}

/// Runs `params(stream)` and checks every request's hedge (to `b`, which always loses) was
/// booked `cancelled` with the request's estimated prompt (200 tokens), marked
/// `usage_missing`, in its target's telemetry and in each request's cost and wasted cost.
fn assert_each_losing_hedge_booked_its_prompt_estimate(stream: f64) {
    let mut books = Books::default();
    let out = run(&params(stream), &mut books).unwrap();
    let b = &out.router.telemetry().targets[1];
    assert!(books.served > 200, "{}", books.served);
    assert_eq!(b.hedges, books.served, "every request was hedged");
    assert_eq!((b.cancelled, b.usage_missing), (b.hedges, b.hedges));
    assert_eq!((b.prompt_tokens, b.completion_tokens), (200 * b.hedges, 0));
    let cost = b.prompt_tokens as f64 / 1e6;
    assert!(
        (b.cost_failed - cost).abs() < 1e-9,
        "{} != {cost}",
        b.cost_failed
    );
    assert!((books.cost - cost).abs() < 1e-9, "{} != {cost}", books.cost);
    assert!(
        (books.wasted - cost).abs() < 1e-9,
        "{} != {cost}",
        books.wasted
    );
}

/// A stream's hedge that loses to the primary's first token was sent the prompt: the commit
/// books it its prompt estimate (`Router::first_token`).
#[test]
fn a_streams_hedge_that_loses_is_booked_its_prompt_estimate() {
    assert_each_losing_hedge_booked_its_prompt_estimate(1.0);
}

/// A whole reply's hedge that loses was sent the prompt as well: the core cancels it as the
/// primary's reply serves the request, booked as a stream's is at the commit, before
/// `Sim::finish` reads the request's cost. (This test pinned it costing nothing, cancelled
/// later by `abandon`: a hedged request cost less when it did not stream.)
#[test]
fn a_whole_replys_hedge_that_loses_is_booked_its_prompt_estimate_like_a_streams() {
    assert_each_losing_hedge_booked_its_prompt_estimate(0.0);
}
