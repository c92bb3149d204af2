use super::*;
use crate::profile::load_profile;
use switchyard_core::rng::SeededRng;

const PROFILE: &str = "\
name: test
dialect: openai
models:
  - { name: m, context_window: 1000 }
latency:
  first_token: { lognormal: { p50: 300ms, p99: 2s } }
  tokens_per_second: { fixed: 100 }
output_tokens: { uniform: { min: 10, max: 50 } }
limits: { requests_per_minute: 60 }
";

fn model(extra_faults: &str) -> Model {
    let text = if extra_faults.is_empty() {
        PROFILE.to_owned()
    } else {
        format!("{PROFILE}faults:\n{extra_faults}")
    };
    Model::new(load_profile(&text, "test.yaml").unwrap())
}

fn req(stream: bool) -> FakeRequest<'static> {
    FakeRequest {
        model: "m",
        prompt_tokens: 100,
        max_tokens: 200,
        stream,
    }
}

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

fn reply(a: Answer) -> Reply {
    match a.behaviour {
        Behaviour::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[test]
fn the_same_seed_gives_the_same_behaviours() {
    let run = |seed| {
        let mut m = model("  - { kind: http, status: 503, rate: 0.3 }\n");
        let mut rng = SeededRng::new(seed);
        (0..200)
            .map(|i| m.respond(&req(i % 2 == 0), secs(i), &mut rng))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn replies_follow_the_profile() {
    let mut m = model("");
    let mut rng = SeededRng::new(1);
    let r = reply(m.respond(&req(false), secs(0), &mut rng));
    assert_eq!(r.token_interval, Duration::from_millis(10));
    assert!((10..=50).contains(&r.output_tokens));
    assert_eq!(r.finish, FinishReason::Stop);
    let capped = reply(m.respond(
        &FakeRequest {
            max_tokens: 5,
            ..req(false)
        },
        secs(1),
        &mut rng,
    ));
    assert_eq!(
        (capped.output_tokens, capped.finish),
        (5, FinishReason::Length)
    );
    assert_eq!(m.counters().requests, 2);
    assert_eq!(m.counters().behaviours.get("reply"), Some(&2));
}

#[test]
fn the_rate_limiter_answers_429_with_retry_after_and_headers() {
    let mut m = model("");
    let mut rng = SeededRng::new(1);
    for i in 0..60 {
        let a = m.respond(&req(false), secs(0), &mut rng);
        assert!(matches!(a.behaviour, Behaviour::Reply(_)), "request {i}");
        assert_eq!(a.limits.remaining_requests, Some(59 - i));
        assert_eq!(a.limits.limit_requests, Some(60));
    }
    let a = m.respond(&req(false), secs(0), &mut rng);
    let reset = a.limits.reset_requests;
    assert_eq!(retry_after_of_429(a), Duration::from_secs(1));
    assert_eq!(reset, Some(Duration::from_secs(60)));
    // One second later one request's worth has refilled.
    assert!(matches!(
        m.respond(&req(false), secs(1), &mut rng).behaviour,
        Behaviour::Reply(_)
    ));
}

#[test]
fn too_long_for_the_window() {
    let mut m = model("");
    let a = m.respond(
        &FakeRequest {
            prompt_tokens: 900,
            ..req(false)
        },
        secs(0),
        &mut SeededRng::new(1),
    );
    assert!(matches!(
        a.behaviour,
        Behaviour::Error {
            kind: ErrorKind::ContextLengthExceeded,
            ..
        }
    ));
}

#[test]
fn every_fault_kind_shapes_the_behaviour() {
    type Check = fn(&Behaviour) -> bool;
    let cases: [(&str, Check); 13] = [
        ("{ kind: http, status: 529, retry_after: 3s }", |v| {
            *v == Behaviour::Error {
                kind: ErrorKind::Overloaded,
                status: Some(529),
                retry_after: Some(Duration::from_secs(3)),
            }
        }),
        ("{ kind: reset }", |v| *v == Behaviour::Reset),
        ("{ kind: hang }", |v| *v == Behaviour::Hang),
        ("{ kind: malformed_json }", |v| {
            *v == Behaviour::MalformedJson
        }),
        ("{ kind: context_length }", |v| {
            matches!(
                v,
                Behaviour::Error {
                    kind: ErrorKind::ContextLengthExceeded,
                    ..
                }
            )
        }),
        ("{ kind: content_filter }", |v| {
            matches!(
                v,
                Behaviour::Error {
                    kind: ErrorKind::ContentFiltered,
                    ..
                }
            )
        }),
        (
            "{ kind: slow_down, factor: 10 }",
            |v| matches!(v, Behaviour::Reply(r) if r.token_interval == Duration::from_millis(100)),
        ),
        (
            "{ kind: slow_first_token, extra: 30s }",
            |v| matches!(v, Behaviour::Reply(r) if r.first_token >= Duration::from_secs(30)),
        ),
        (
            "{ kind: stream_cut, after_tokens: 3 }",
            |v| matches!(v, Behaviour::Reply(r) if r.stream_fault == Some(StreamFault::Cut { after_tokens: 3 })),
        ),
        (
            "{ kind: stream_stall, after_tokens: 2, stall: 5s }",
            |v| matches!(v, Behaviour::Reply(r) if r.stream_fault == Some(StreamFault::Stall { after_tokens: 2, stall: Duration::from_secs(5) })),
        ),
        (
            "{ kind: malformed_chunk, after_tokens: 1 }",
            |v| matches!(v, Behaviour::Reply(r) if r.stream_fault == Some(StreamFault::MalformedChunk { after_tokens: 1 })),
        ),
        (
            "{ kind: missing_done }",
            |v| matches!(v, Behaviour::Reply(r) if r.stream_fault == Some(StreamFault::MissingDone)),
        ),
        (
            "{ kind: rate_limit_squeeze, requests_per_minute: 1 }",
            |_| true,
        ),
    ];
    for (fault, check) in cases {
        let mut m = model(&format!("  - {fault}\n"));
        let a = m.respond(&req(true), secs(0), &mut SeededRng::new(3));
        assert!(check(&a.behaviour), "{fault}: {:?}", a.behaviour);
        assert_eq!(
            m.counters().faults_fired.values().sum::<u64>(),
            1,
            "{fault}"
        );
    }
}

#[test]
fn a_squeeze_lowers_the_limit_for_its_window_only() {
    let mut m =
        model("  - { kind: rate_limit_squeeze, requests_per_minute: 2, at: 10s, for: 10s }\n");
    let mut rng = SeededRng::new(1);
    let statuses: Vec<&str> = (0..4)
        .map(|_| m.respond(&req(false), secs(12), &mut rng).behaviour.label())
        .collect();
    assert_eq!(statuses, ["reply", "reply", "error", "error"]);
    assert_eq!(
        m.respond(&req(false), secs(25), &mut rng).behaviour.label(),
        "reply"
    );
}

/// A squeezed 429 tells the client when the squeeze admits again: a client that waits the
/// Retry-After it was given is served. Found by helper NU: at one request a minute the fake
/// said `Retry-After: 1` (the profile's own buckets' wait, not the squeeze's) and refused
/// again a second later.
#[test]
fn a_squeezed_429_says_when_the_squeeze_admits_again() {
    let mut m = model("  - { kind: rate_limit_squeeze, requests_per_minute: 1 }\n");
    let mut rng = SeededRng::new(1);
    assert_eq!(
        m.respond(&req(false), secs(0), &mut rng).behaviour.label(),
        "reply"
    );
    let wait = retry_after_of_429(m.respond(&req(false), secs(0), &mut rng));
    let again = Instant::ZERO + wait;
    assert_eq!(
        m.respond(&req(false), again, &mut rng).behaviour.label(),
        "reply",
        "told to retry after {wait:?}, refused then"
    );
}

#[test]
fn stream_faults_do_not_touch_plain_replies_and_runtime_faults_start_now() {
    let mut m = model("  - { kind: stream_cut, after_tokens: 3 }\n");
    assert_eq!(
        reply(m.respond(&req(false), secs(0), &mut SeededRng::new(1))).stream_fault,
        None
    );
    m.clear_faults();
    let config: FaultConfig =
        serde_json::from_str(r#"{"kind":"hang","at":"5s","for":"5s"}"#).unwrap();
    m.add_fault(&config, secs(100)).unwrap();
    assert_eq!(
        m.respond(&req(false), secs(104), &mut SeededRng::new(1))
            .behaviour
            .label(),
        "reply"
    );
    assert_eq!(
        m.respond(&req(false), secs(106), &mut SeededRng::new(1))
            .behaviour
            .label(),
        "hang"
    );
    m.reset();
    assert_eq!(m.counters().requests, 0);
    assert_eq!(m.faults().len(), 1, "back to the profile's faults");
}

/// The `Retry-After` of an answer that must be a 429 `rate_limited`.
fn retry_after_of_429(a: Answer) -> Duration {
    let Behaviour::Error {
        kind: ErrorKind::RateLimited,
        status: Some(429),
        retry_after: Some(wait),
    } = a.behaviour
    else {
        panic!("{a:?}")
    };
    wait
}
