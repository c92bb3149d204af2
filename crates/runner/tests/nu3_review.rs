//! New user nu3: does a `malformed_json` fault (a 200 whose body is not JSON) fail a streamed
//! request for the same reason in the simulator and live, and is it booked the same?
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;
use support::one_at_a_time;

/// Every request streams; the only provider answers each with a 200 whose body is not JSON.
/// Both modes fail them `malformed_response` (live: a JSON `content-type` where a stream was
/// asked for is not a stream; it said `stream_interrupted`, NU3's finding), so the report's
/// "Failed requests by reason" line and `totals.failures` agree, and both book each attempt
/// the prompt estimate.
#[test]
fn a_streamed_malformed_json_fails_for_the_same_reason_in_both_modes() {
    let _serial = one_at_a_time();
    let yaml = "name: nu3-malformed-stream\nseed: 1\nduration: 2s\n\
providers:\n  - name: primary\n    profile: small-fast\n    faults:\n      - { kind: malformed_json }\n\
router:\n  targets:\n    - { name: p1, provider: primary, model: small-fast-1, context_window: 32000, price: { input: 1, output: 2 } }\n  \
routes:\n    - { name: chat, policy: static, targets: [p1] }\n  \
plan: { max_attempts: 1, attempt_timeout: 10s, deadline: 20s }\n  \
breaker: { consecutive_failures: 1000 }\n\
traffic:\n  arrival: { constant: 4 }\n  classes:\n    \
- { name: streamed, weight: 1, route: chat, prompt_tokens: { fixed: 1000 }, max_tokens: 100, stream: 1 }\n";
    let dir = std::env::temp_dir().join(format!("nu3-malformed-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("malformed-stream.yaml");
    std::fs::write(&path, yaml).unwrap();
    let s = switchyard_runner::scenario::load(&path).unwrap();
    let sim = switchyard_runner::simulate(&s, s.seed).unwrap();
    let live = switchyard_runner::live::run(&s, s.seed, None).unwrap();
    for r in [&sim, &live] {
        eprintln!(
            "{}: requests {} failed {} failures {:?} targets' usage_missing {:?} cost {}",
            r.mode,
            r.totals.requests,
            r.totals.failed,
            r.totals.failures,
            r.targets
                .iter()
                .map(|t| t.usage_missing)
                .collect::<Vec<_>>(),
            r.totals.cost_usd
        );
        assert!(r.totals.failed > 0, "{}: nothing failed", r.mode);
        assert_eq!(
            r.totals.failures.keys().collect::<Vec<_>>(),
            vec![&"malformed_response"],
            "{}: {:?}",
            r.mode,
            r.totals.failures
        );
        let t = &r.targets[0];
        assert_eq!(t.usage_missing, t.attempts, "{}: estimated", r.mode);
        assert!(
            (t.cost_failed_usd - 0.001 * t.attempts as f64).abs() < 1e-9,
            "{}: {} for {} attempts",
            r.mode,
            t.cost_failed_usd,
            t.attempts
        );
    }
}
