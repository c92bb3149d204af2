//! Reviewer RV2: does the simulator book a caller that leaves mid-stream as live mode does
//! (issue 13, CHANGELOG: "The simulator books a caller that leaves mid-stream the same way")?
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;
use support::one_at_a_time;

/// Every caller streams and gives up after 400 ms, mid-way through most streams (first token
/// ~120 ms, 250 tokens a second, 20 to 200 tokens). The abandoned attempts' tokens and cost
/// agree between the simulator and live mode: live mode estimates them from the text
/// received at four characters a token (it cannot know more), and the simulator books them
/// the same way from the text the fake sent (before, it booked the tokens sent: sim 62, live
/// 82 completion tokens per abandoned attempt, seed 9). The output price alone is set, so
/// `cost_failed_usd` in millionths is the abandoned attempts' completion tokens.
#[test]
fn abandoned_streams_are_booked_alike_in_sim_and_live() {
    let _serial = one_at_a_time();
    let yaml = "name: rv2-abandoned-mid-stream\nseed: 9\nduration: 8s\n\
providers:\n  - { name: primary, profile: small-fast }\n\
router:\n  targets:\n    - { name: primary-1, provider: primary, model: small-fast-1, context_window: 32000, price: { input: 0, output: 1 } }\n  \
routes:\n    - { name: chat, policy: static, targets: [primary-1] }\n  \
plan: { max_attempts: 1, attempt_timeout: 10s, deadline: 20s }\n\
traffic:\n  arrival: { poisson: 20 }\n  classes:\n    \
- { name: impatient, weight: 1, route: chat, prompt_tokens: { fixed: 200 }, max_tokens: 400, stream: 1.0, abandon_after: 400ms }\n";
    let dir = std::env::temp_dir().join(format!("rv2-agree-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("abandoned-mid-stream.yaml");
    std::fs::write(&path, yaml).unwrap();
    let s = switchyard_runner::scenario::load(&path).unwrap();
    let sim = switchyard_runner::simulate(&s, s.seed).unwrap();
    let live = switchyard_runner::live::run(&s, s.seed, None).unwrap();
    let mut figures = Vec::new();
    for r in [&sim, &live] {
        let t = r.targets.iter().find(|t| t.name == "primary-1").unwrap();
        // Each abandoned stream's tokens are an estimate, in both modes.
        assert_eq!(t.usage_missing, t.cancelled, "{}", r.mode);
        figures.push((
            t.cancelled,
            t.successes,
            t.prompt_tokens,
            t.completion_tokens,
            t.cost_failed_usd,
        ));
    }
    eprintln!("sim {:?}\nlive {:?}", figures[0], figures[1]);
    let (s, l) = (figures[0], figures[1]);
    assert!(s.0 > 20 && l.0 > 20, "{figures:?}");
    // Per abandoned attempt, completion tokens booked: within 15 % (the draws differ).
    let per = |f: (u64, u64, u64, u64, f64)| f.4 / f.0 as f64;
    let (ps, pl) = (per(s), per(l));
    assert!((ps - pl).abs() <= 0.15 * ps.max(pl), "{figures:?}");
}
