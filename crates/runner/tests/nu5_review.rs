//! New user nu5: reading the reports of a priority route, an all-cancelled target and a
//! comparison as a person would.
#![expect(clippy::unwrap_used, reason = "test code")]

fn run(name: &str, yaml: &str) -> switchyard_runner::Report {
    let dir = std::env::temp_dir().join(format!("nu5-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    let s = switchyard_runner::scenario::load(&path).unwrap();
    switchyard_runner::simulate(&s, s.seed).unwrap()
}

/// `scenarios/policy-comparison.yaml`'s round-robin variant: OpenAI browns out from 5 to
/// 10 min, Anthropic is down from 12 to 15 min. Round-robin gives Anthropic 50 % of the
/// attempts before the first fault and again within a minute of the outage's end (4 s bins
/// from 960 s on read about 40 of 80). But the "share before the fault" for
/// `anthropic-outage` counts every request since 0 s, including the brown-out, when
/// Anthropic carried most of the traffic (64 % overall), so the failback threshold is 58 %,
/// which round-robin can never reach: `time_to_failback` reads "never" on every seed and
/// `compare` ranks round-robin's failback worst ("never") although it failed back as fast as
/// the others.
#[test]

fn failback_after_a_second_fault_is_measured_against_the_usual_share() {
    let yaml = "name: nu5-rr-two-faults\nseed: 101\nduration: 20m\n\
providers:\n  - name: openai\n    profile: openai\n    requests_per_minute: 1000000\n    tokens_per_minute: 1000000000\n    faults:\n      - { name: openai-brownout, kind: slow_down, factor: 5, at: 5m, for: 5m }\n  \
- name: anthropic\n    profile: anthropic\n    requests_per_minute: 1000000\n    tokens_per_minute: 1000000000\n    faults:\n      - { name: anthropic-outage, kind: http, status: 503, at: 12m, for: 3m }\n\
router:\n  targets:\n    - { name: openai-4o, provider: openai, model: gpt-4o, price: { input: 2.5, output: 10 } }\n    \
- { name: claude-haiku, provider: anthropic, model: claude-3-5-haiku-20241022, context_window: 200000, price: { input: 0.8, output: 4 } }\n  \
routes:\n    - { name: chat, policy: round_robin, targets: [openai-4o, claude-haiku] }\n  \
plan: { max_attempts: 3, attempt_timeout: 60s, first_token_timeout: 10s, deadline: 120s }\n  \
breaker: { consecutive_failures: 5, slow_call: 6s, slow_call_rate: 0.5, min_calls: 20, open_for: 10s, open_max: 60s, probes: 1, probe_successes: 3, recovery: 30s }\n\
traffic:\n  arrival: { poisson: 10 }\n  classes:\n    \
- { name: chat, weight: 70, route: chat, prompt_tokens: { lognormal: { p50: 500, p99: 4000 } }, max_tokens: 300, stream: 0.5 }\n    \
- { name: summarize, weight: 30, route: chat, prompt_tokens: { lognormal: { p50: 3000, p99: 20000 } }, max_tokens: 600 }\n";
    let r = run("rr-two-faults", yaml);
    // Anthropic's share of the attempts in the last five minutes (after the outage) is
    // about one half, as before the first fault.
    let series = &r.series;
    let json = serde_json::to_value(series).unwrap();
    let width = json["width_secs"].as_f64().unwrap();
    let attempts = |t: &str| -> Vec<f64> {
        json["targets"][t]["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (a, o) = (attempts("claude-haiku"), attempts("openai-4o"));
    let from = (960.0 / width) as usize;
    let (sa, so): (f64, f64) = (a[from..].iter().sum(), o[from..].iter().sum());
    let after = sa / (sa + so);
    assert!(
        (0.45..=0.55).contains(&after),
        "share after the outage {after}"
    );
    let outage = r
        .failover
        .iter()
        .find(|f| f.fault == "anthropic-outage")
        .unwrap();
    assert!(
        outage.time_to_failback_secs.is_some(),
        "anthropic's share went back to its usual 50 % from about 960 s, yet failback reads never: {:?}",
        outage.exercised.line
    );
}

/// `scenarios/gateway-smoke.yaml` in simulation, seed 53: primary-1 got 347 of the 586
/// attempts, 59.2150 %, which is 59.22 % to two decimals. The Targets table (terminal,
/// report.md, report.html) reads 59.21 %, and the two shares add up to 99.99 %: the share is
/// rounded to six decimals (0.59215) and then again to two decimals of a percent.
#[test]

fn a_targets_share_is_rounded_once() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/gateway-smoke.yaml");
    let s = switchyard_runner::scenario::load(&path).unwrap();
    let r = switchyard_runner::simulate(&s, 53).unwrap();
    let total: u64 = r.targets.iter().map(|t| t.attempts).sum();
    let tables = switchyard_runner::render::tables(&r);
    let targets = tables.iter().find(|t| t.title.contains("Targets")).unwrap();
    let col = targets.headers.iter().position(|h| *h == "share").unwrap();
    for (t, row) in r.targets.iter().zip(&targets.rows) {
        let exact = format!("{:.2}%", t.attempts as f64 * 100.0 / total as f64);
        assert_eq!(row[col], exact, "{}: {} of {total}", t.name, t.attempts);
    }
}
