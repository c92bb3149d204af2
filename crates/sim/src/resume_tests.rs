//! Streams that survive their provider: the simulator runs the core's continuations.

use super::*;
use switchyard_core::request::Capabilities;
use switchyard_fake::distribution::Distribution;
use traffic::{Arrival, ClassParams};

/// Every answer is 60 tokens long; `faults` may cut it.
fn sixty(name: &str, faults: &str) -> ProfileParams {
    let text = format!(
        "name: {name}\ndialect: openai\nmodels:\n  - {{ name: m, context_window: 100000, price: {{ input: 1, output: 2 }} }}\n\
         latency:\n  first_token: {{ fixed: 300ms }}\n  tokens_per_second: {{ fixed: 100 }}\n\
         output_tokens: {{ fixed: 60 }}\n{faults}"
    );
    switchyard_fake::load_profile(&text, "p.yaml").unwrap()
}

/// a cuts every stream after 40 tokens; b continues (or refuses) prefills. Route `r`
/// resumes; route `plain` does not. Every request streams.
fn resume_params(route: &str, b_refuses: bool) -> SimParams {
    let yaml = "\
targets:
  - { name: a, provider: pa, model: m }
  - { name: b, provider: pb, model: m, capabilities: [streaming, prefill], price: { input: 1, output: 2 } }
routes:
  - { name: r, policy: priority, tiers: [[a], [b]], resume: prefill }
  - { name: plain, policy: priority, tiers: [[a], [b]] }
plan: { max_attempts: 3, attempt_timeout: 10s, deadline: 30s }
breaker: { consecutive_failures: 0, min_calls: 1000000 }
";
    SimParams {
        router: switchyard_core::config::load_router(yaml, "r.yaml").unwrap(),
        providers: vec![
            SimProvider {
                name: "pa".into(),
                profile: sixty(
                    "pa",
                    "faults:\n  - { kind: stream_cut, after_tokens: 40 }\n",
                ),
                keys: Vec::new(),
                refuses_prefill: false,
            },
            SimProvider {
                name: "pb".into(),
                profile: sixty("pb", ""),
                keys: Vec::new(),
                refuses_prefill: b_refuses,
            },
        ],
        traffic: TrafficParams {
            arrival: Arrival::Poisson { rate: 5.0 },
            classes: vec![ClassParams {
                abandon_after: None,
                name: "chat".into(),
                weight: 1.0,
                route: route.into(),
                task: None,
                prompt_tokens: Distribution::Fixed(200.0),
                max_tokens: 100,
                stream: 1.0,
                needs: Capabilities::NONE,
            }],
            max_requests: None,
        },
        operator: Vec::new(),
        duration: Duration::from_secs(60),
        seed: 4,
        network_delay: Duration::from_millis(2),
        fleet: None,
    }
}

#[derive(Default, Debug)]
struct Seen {
    requests: u64,
    outcomes: Vec<FinalOutcome>,
    resumed: Vec<Option<bool>>,
    attempts: Vec<usize>,
    latency: Vec<Duration>,
    /// A served stream's completion tokens, and its runs of gaps.
    output: Vec<(u32, Vec<(Duration, u32)>)>,
}

impl Observer for Seen {
    fn finished(&mut self, r: &Finished<'_>) {
        self.requests += 1;
        self.outcomes.push(r.outcome);
        self.resumed.push(r.resumed);
        self.attempts.push(r.attempts.len());
        self.latency.push(r.end.saturating_since(r.start));
        self.output.push((r.output_tokens, r.gaps.to_vec()));
    }
}

#[test]
fn a_cut_stream_continues_on_the_fallback_which_streams_the_rest() {
    let p = resume_params("r", false);
    let mut seen = Seen::default();
    let out = run(&p, &mut seen).unwrap();
    let n = seen.requests;
    assert!(n > 200, "{n}");
    let b = out.router.params().target_id("b").unwrap();
    let a = out.router.params().target_id("a").unwrap();
    assert!(
        seen.outcomes.iter().all(|o| *o == FinalOutcome::Served(b)),
        "{:?}",
        seen.outcomes
    );
    assert!(seen.resumed.iter().all(|r| *r == Some(true)));
    assert!(seen.attempts.iter().all(|&k| k == 2));
    let tel = out.router.telemetry();
    // a delivered 40 tokens of each answer; b produced the other 20, with the 40 as prompt:
    // the resume model counts them exactly. a's are booked as live mode books a broken
    // stream's, the estimate of their text (four characters a token: about 1.5 a word).
    let (ta, tb) = (&tel.targets[a.index()], &tel.targets[b.index()]);
    assert_eq!(ta.usage_missing, n);
    assert!(
        (50 * n..70 * n).contains(&ta.completion_tokens),
        "{} for {n}",
        ta.completion_tokens
    );
    assert_eq!(tb.completion_tokens, 20 * n);
    assert_eq!(tb.prompt_tokens, 240 * n);
    let route = &tel.routes[0];
    assert_eq!(
        (route.resumed, route.resume_failed, route.served),
        (n, 0, n)
    );
    // Timing: a's first token at 302 ms, the cut 40 token intervals (400 ms) later; then b's
    // stream of 20 tokens (302 ms to the first, 19 intervals for the rest).
    let expected = Duration::from_millis(302 + 400 + 302 + 190);
    assert!(
        seen.latency.iter().all(|&l| l == expected),
        "{:?}",
        &seen.latency[..3]
    );
    // The caller got the 60 tokens, counted exactly (not a's estimate): 39 gaps of 10 ms in
    // a's 40, and 19 in b's 20.
    let ms10 = Duration::from_millis(10);
    assert!(
        seen.output
            .iter()
            .all(|o| *o == (60, vec![(ms10, 39), (ms10, 19)])),
        "{:?}",
        &seen.output[..3]
    );
}

#[test]
fn a_fallback_that_refuses_prefill_leaves_the_stream_error() {
    let p = resume_params("r", true);
    let mut seen = Seen::default();
    let out = run(&p, &mut seen).unwrap();
    let n = seen.requests;
    let cut = FinalOutcome::Failed(switchyard_core::outcome::FailureReason::Attempt(
        ErrorKind::StreamInterrupted,
    ));
    assert!(
        seen.outcomes.iter().all(|o| *o == cut),
        "{:?}",
        seen.outcomes
    );
    assert!(seen.resumed.iter().all(|r| *r == Some(false)));
    assert!(
        seen.attempts.iter().all(|&k| k == 2),
        "the refusal is an attempt"
    );
    let tel = out.router.telemetry();
    let b = out.router.params().target_id("b").unwrap();
    assert_eq!(
        tel.targets[b.index()].errors[ErrorKind::BadRequest.index()],
        n
    );
    assert_eq!((tel.routes[0].resumed, tel.routes[0].resume_failed), (0, n));
    // And without `resume`, the same cut ends the request at once.
    let p = resume_params("plain", false);
    let mut seen = Seen::default();
    run(&p, &mut seen).unwrap();
    assert!(seen.outcomes.iter().all(|o| *o == cut));
    assert!(seen.resumed.iter().all(Option::is_none));
    assert!(seen.attempts.iter().all(|&k| k == 1));
}
