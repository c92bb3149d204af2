//! A caller that leaves mid-stream: the simulator books the tokens its provider had sent, as
//! the live driver does (issue 13).

use super::*;
use switchyard_core::outcome::FailureReason;
use switchyard_core::request::Capabilities;
use switchyard_fake::distribution::Distribution;
use traffic::{Arrival, ClassParams};

/// Streams of 100 tokens at 100 a second after a 100 ms first token, each caller leaving
/// after 500 ms: about 40 tokens in.
fn params() -> SimParams {
    let profile = switchyard_fake::load_profile(
        "name: pa\ndialect: openai\nmodels:\n  - { name: m, context_window: 100000 }\n\
         latency:\n  first_token: { fixed: 100ms }\n  tokens_per_second: { fixed: 100 }\n\
         output_tokens: { fixed: 100 }\n",
        "p.yaml",
    )
    .unwrap();
    let yaml = "targets:\n  - { name: a, provider: pa, model: m, price: { input: 1, output: 2 } }\n\
                routes:\n  - { name: r, policy: static, targets: [a] }\n\
                plan: { max_attempts: 1, attempt_timeout: 10s, deadline: 30s }\n";
    SimParams {
        router: switchyard_core::config::load_router(yaml, "r.yaml").unwrap(),
        providers: vec![SimProvider {
            name: "pa".into(),
            profile,
            keys: Vec::new(),
            refuses_prefill: false,
        }],
        traffic: TrafficParams {
            arrival: Arrival::Poisson { rate: 10.0 },
            classes: vec![ClassParams {
                abandon_after: Some(Duration::from_millis(500)),
                name: "impatient".into(),
                weight: 1.0,
                route: "r".into(),
                task: None,
                prompt_tokens: Distribution::Fixed(200.0),
                max_tokens: 1000,
                stream: 1.0,
                needs: Capabilities::NONE,
            }],
            max_requests: None,
        },
        operator: Vec::new(),
        duration: Duration::from_secs(60),
        seed: 9,
        network_delay: Duration::from_millis(2),
        fleet: None,
    }
}

#[derive(Default)]
struct Abandoned(u64);

impl Observer for Abandoned {
    fn finished(&mut self, r: &Finished<'_>) {
        if r.outcome == FinalOutcome::Failed(FailureReason::Abandoned) {
            self.0 += 1;
        }
    }
}

#[test]
fn a_stream_left_mid_way_is_booked_from_the_text_sent() {
    let mut abandoned = Abandoned::default();
    let out = run(&params(), &mut abandoned).unwrap();
    assert!(abandoned.0 > 500, "{}", abandoned.0);
    let t = &out.router.telemetry().targets[0];
    assert_eq!(t.cancelled, abandoned.0);
    // Each: its 200-token prompt, and the text of about 40 tokens sent (0.5 s - 0.1 s at 100
    // a second) booked as live mode books it, at four characters a token: the fake's words
    // average 5 characters, with a space between, so (40 * 5 + 39) / 4, about 60 (not the
    // 40 sent).
    assert_eq!(t.prompt_tokens, 200 * abandoned.0);
    // Estimates, as live mode's are (a stream's usage comes at its end).
    assert_eq!(t.usage_missing, abandoned.0);
    let per = t.completion_tokens as f64 / abandoned.0 as f64;
    assert!((57.0..=63.0).contains(&per), "{per}");
    // Priced at $1 / $2 per million.
    let cost = (t.prompt_tokens as f64 + 2.0 * t.completion_tokens as f64) / 1e6;
    assert!(
        (t.cost_failed - cost).abs() < 1e-9,
        "{} != {cost}",
        t.cost_failed
    );
}

/// A caller that leaves before its first token (50 ms, the first token at 100 ms): its
/// attempt was sent the prompt, so it is booked `cancelled` with the request's estimated
/// prompt tokens and no completion, as the live driver books it (`Router::caller_left`).
#[test]
fn a_request_left_before_its_first_token_is_booked_its_prompt_estimate() {
    let mut p = params();
    p.traffic.classes[0].abandon_after = Some(Duration::from_millis(50));
    let mut abandoned = Abandoned::default();
    let out = run(&p, &mut abandoned).unwrap();
    assert!(abandoned.0 > 500, "{}", abandoned.0);
    let t = &out.router.telemetry().targets[0];
    assert_eq!(t.cancelled, abandoned.0);
    assert_eq!(t.prompt_tokens, 200 * abandoned.0);
    assert_eq!(t.completion_tokens, 0);
    let cost = t.prompt_tokens as f64 / 1e6;
    assert!(
        (t.cost_failed - cost).abs() < 1e-9,
        "{} != {cost}",
        t.cost_failed
    );
}

/// A request whose deadline (50 ms) comes before its attempt's first token (100 ms): the
/// attempt, bounded by the deadline, is cut on its way, as a caller's leaving at 50 ms cuts it
/// (above). A stream's head came (2 ms in): its provider had the prompt, which it bills, so it
/// is booked the estimate too (`timeout`, 200 prompt tokens, `prompt_sent`). A whole reply's
/// head comes with its body: nothing had come, and nothing is booked, as the live driver
/// cannot tell a provider that has the prompt from a connection never made.
#[test]
fn an_attempt_cut_by_the_deadline_is_booked_its_prompt_estimate() {
    for stream in [true, false] {
        cut_by_the_deadline(stream);
    }
}

fn cut_by_the_deadline(stream: bool) {
    let mut p = params();
    p.traffic.classes[0].abandon_after = None;
    p.traffic.classes[0].stream = if stream { 1.0 } else { 0.0 };
    let yaml = "targets:\n  - { name: a, provider: pa, model: m, price: { input: 1, output: 2 } }\n\
                routes:\n  - { name: r, policy: static, targets: [a] }\n\
                plan: { max_attempts: 1, attempt_timeout: 10s, deadline: 50ms }\n";
    p.router = switchyard_core::config::load_router(yaml, "r.yaml").unwrap();
    let mut abandoned = Abandoned::default();
    let out = run(&p, &mut abandoned).unwrap();
    assert_eq!(abandoned.0, 0);
    let route = &out.router.telemetry().routes[0];
    let failed = route.requests - route.served;
    assert!(failed > 500, "{failed}");
    let t = &out.router.telemetry().targets[0];
    // Sent until the breaker opens on the timeouts; none served.
    assert!(t.attempts > 0 && t.successes == 0, "{}", t.attempts);
    let booked = if stream { 200 * t.attempts } else { 0 };
    assert_eq!(t.prompt_tokens, booked, "stream: {stream}");
    assert_eq!(t.usage_missing, booked / 200);
}
