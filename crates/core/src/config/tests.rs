use super::*;
use crate::policy::Policy;

const GOOD: &str = "\
targets:
  - name: openai-4o
    provider: openai
    model: gpt-4o
    context_window: 128000
    capabilities: [streaming, tools]
    price: { input: 2.5, output: 10 }
  - name: claude
    provider: anthropic
    model: claude-sonnet-4
    context_window: 200000
    price: { input: 3, output: 15 }
    breaker:
      consecutive_failures: 2
  - name: mini
    provider: openai
    model: gpt-4o-mini
    limits: { requests_per_minute: 100 }
routes:
  - name: chat
    policy: weighted
    targets: [openai-4o, claude]
    weights: [3, 1]
    fallback: cheap
  - name: cheap
    policy: priority
    tiers: [[mini], [openai-4o, claude]]
  - name: long
    policy: capability_match
    targets: [claude, openai-4o]
rules:
  - when: { min_prompt_tokens: 30000 }
    route: long
plan:
  max_attempts: 4
  deadline: 30s
  hedge_after: 2s
breaker:
  open_for: 10s
panic_mode: bypass
";

fn err(yaml: &str) -> ConfigError {
    load_router(yaml, "router.yaml").expect_err("config should be refused")
}

#[test]
fn a_good_config_validates() {
    let p = load_router(GOOD, "router.yaml").unwrap();
    assert_eq!(p.targets.len(), 3);
    assert_eq!(
        p.providers.names().collect::<Vec<_>>(),
        ["openai", "anthropic"]
    );
    assert_eq!(
        p.targets[1].breaker.consecutive_failures, 2,
        "per-target override"
    );
    assert_eq!(
        p.targets[1].breaker.open_for,
        Duration::from_secs(10),
        "router-wide default"
    );
    assert_eq!(
        p.targets[0].breaker.consecutive_failures, 5,
        "built-in default"
    );
    assert_eq!(p.targets[2].limits.requests_per_minute, Some(100));
    assert_eq!(
        p.routes[0].policy,
        Policy::Weighted {
            weights: vec![3, 1]
        }
    );
    assert_eq!(p.routes[0].fallback, p.route_id("cheap"));
    assert_eq!(
        p.routes[1].policy,
        Policy::Priority {
            tiers: vec![0b1, 0b110]
        }
    );
    assert_eq!(p.plan.max_attempts, 4);
    assert_eq!(p.plan.hedge_after, Some(Duration::from_secs(2)));
    assert_eq!(p.rules.len(), 1);
    assert_eq!(p.panic_mode, crate::router::PanicMode::Bypass);
}

#[test]
fn unknown_target_in_a_route_names_line_and_field() {
    let e = err(&GOOD.replace(
        "targets: [openai-4o, claude]\n    weights",
        "targets: [openai-4o, claud]\n    weights",
    ));
    assert_eq!(e.path, "routes[0].targets[1]");
    // The column is the item's own, inside `[openai-4o, claud]`.
    assert_eq!((e.line, e.column), (22, 26));
    assert!(e.message.contains("unknown target `claud`"), "{e}");
    assert_eq!(
        e.to_string(),
        "router.yaml:22:26: field `routes[0].targets[1]`: unknown target `claud`; targets: openai-4o, claude, mini"
    );
}

#[test]
fn weights_that_sum_to_zero() {
    let e = err(&GOOD.replace("weights: [3, 1]", "weights: [0, 0]"));
    assert_eq!((e.path.as_str(), e.line), ("routes[0].weights", 23));
    assert!(e.message.contains("sum to zero"));
    let e = err(&GOOD.replace("weights: [3, 1]", "weights: [3]"));
    assert!(e.message.contains("one weight per target"));
}

#[test]
fn a_fallback_cycle() {
    let yaml = GOOD.replace(
        "    tiers: [[mini], [openai-4o, claude]]\n",
        "    tiers: [[mini], [openai-4o, claude]]\n    fallback: chat\n",
    );
    let e = err(&yaml);
    assert_eq!(e.path, "routes[0].fallback");
    assert!(e.message.contains("chat -> cheap -> chat"), "{e}");
    let e = err(&GOOD.replace("fallback: cheap", "fallback: chat"));
    assert!(e.message.contains("itself"));
}

#[test]
fn zero_and_negative_durations() {
    let e = err(&GOOD.replace("deadline: 30s", "deadline: 0s"));
    assert_eq!((e.path.as_str(), e.line), ("plan.deadline", 36));
    let e = err(&GOOD.replace("deadline: 30s", "deadline: -5s"));
    assert_eq!(e.path, "plan.deadline");
    assert!(e.message.contains("negative"), "{e}");
    assert_eq!(e.line, 36);
    let e = err(&GOOD.replace("deadline: 30s", "deadline: 30"));
    assert!(e.message.contains("no unit"), "{e}");
}

#[test]
fn probes_below_one_and_bad_rates() {
    let e = err(&GOOD.replace("consecutive_failures: 2", "probes: 0"));
    assert_eq!((e.path.as_str(), e.line), ("targets[1].breaker.probes", 14));
    let e = err(&GOOD.replace("open_for: 10s", "failure_rate: 1.5"));
    assert_eq!(e.path, "breaker.failure_rate");
    let e = err(&GOOD.replace("open_for: 10s", "open_for: 10m"));
    assert!(e.message.contains("at least open_for"), "{e}");
}

#[test]
fn unknown_fields_and_wrong_types_are_located_by_serde() {
    let e = err(&GOOD.replace("max_attempts: 4", "max_attemps: 4"));
    assert_eq!(e.path, "plan.max_attemps");
    assert_eq!(e.line, 35);
    assert!(e.message.contains("unknown field"), "{e}");
    let e = err(&GOOD.replace("context_window: 200000", "context_window: lots"));
    assert_eq!(e.path, "targets[1].context_window");
    assert_eq!(e.line, 11);
    let e = err(&GOOD.replace("policy: weighted", "policy: fastest"));
    assert_eq!(e.path, "routes[0].policy");
    assert!(e.message.contains("unknown variant"), "{e}");
}

#[test]
fn the_cost_cap_is_read_and_the_old_budget_key_is_refused() {
    let capped = GOOD.replace(
        "    limits: { requests_per_minute: 100 }",
        "    limits: { requests_per_minute: 100 }\n    cost_cap: { usd: 3, window: 10m }",
    );
    let p = load_router(&capped, "router.yaml").unwrap();
    assert_eq!(
        p.targets[2].cost_cap,
        Some(crate::target::CostCap {
            usd: 3.0,
            window: crate::time::Duration::from_secs(600),
        })
    );
    // `budget` means the retry budget only; a target that still says `budget:` is told so
    // with the file, the line and the field.
    let e = err(&capped.replace("cost_cap: {", "budget: {"));
    assert_eq!(
        (e.file.as_str(), e.path.as_str(), e.line),
        ("router.yaml", "targets[2].budget", 19)
    );
    assert!(e.message.contains("unknown field"), "{e}");
}

#[test]
fn other_semantic_errors() {
    let cases = [
        (
            GOOD.replace(
                "capabilities: [streaming, tools]",
                "capabilities: [streaming, telepathy]",
            ),
            "targets[0].capabilities[1]",
            "unknown capability",
        ),
        (
            GOOD.replace("- name: claude", "- name: mini"),
            "targets[2].name",
            "defined twice",
        ),
        (
            GOOD.replace("route: long", "route: longer"),
            "rules[0].route",
            "unknown route",
        ),
        (
            GOOD.replace("max_attempts: 4", "max_attempts: 9"),
            "plan.max_attempts",
            "at most 8",
        ),
        (
            GOOD.replace(
                "tiers: [[mini], [openai-4o, claude]]",
                "tiers: [[mini], []]",
            ),
            "routes[1].tiers[1]",
            "at least one target",
        ),
        (
            GOOD.replace("targets: [claude, openai-4o]", "targets: [claude, claude]"),
            "routes[2].targets[1]",
            "twice",
        ),
        (
            GOOD.replace("requests_per_minute: 100", "requests_per_minute: 0"),
            "targets[2].limits.requests_per_minute",
            "at least 1",
        ),
        (
            GOOD.replace(
                "price: { input: 3, output: 15 }",
                "price: { input: -3, output: 15 }",
            ),
            "targets[1].price.input",
            "zero or more",
        ),
    ];
    for (yaml, path, message) in cases {
        let e = err(&yaml);
        assert_eq!(e.path, path, "{e}");
        assert!(e.message.contains(message), "{e}");
        assert!(e.line > 1, "{e}");
    }
}

#[test]
fn not_yaml_at_all() {
    let e = err("targets: [\n  - oops");
    assert_eq!(e.file, "router.yaml");
    assert!(e.line >= 1);
    let e = err("");
    assert!(!e.message.is_empty());
}

/// `alerts: { slot: 1ns }` validated, then asked for a ring of 9.6e11 slots per target and
/// aborted `run`, `gateway` and a gateway reload. Every alert setting that sizes the ring is
/// now refused, with its line; the largest ring validation lets through builds.
#[test]
fn alert_rings_that_would_not_fit_in_memory_are_refused() {
    let with = |alerts: &str| format!("{GOOD}alerts: {{ {alerts} }}\n");
    let line = GOOD.lines().count() + 1;
    for (alerts, path, message) in [
        ("slot: 1ns", "alerts.slot", "at least 1ms"),
        ("slot: 999us", "alerts.slot", "at least 1ms"),
        ("slot: 10ms", "alerts.slot", "at most 10000"),
        (
            "short: 1m, long: 10000h, slot: 1h",
            "alerts.long",
            "at most",
        ),
        ("short: 31d, slot: 1h", "alerts.short", "unit"),
        ("short: 800h, slot: 1h", "alerts.short", "at most"),
        ("slot: 1000h", "alerts.slot", "at most"),
    ] {
        let e = err(&with(alerts));
        assert_eq!((e.path.as_str(), e.line), (path, line), "{alerts}: {e}");
        assert!(e.message.contains(message), "{alerts}: {e}");
        assert!(
            e.to_string().starts_with(&format!("router.yaml:{line}:")),
            "{e}"
        );
    }
    // The edges are accepted, and the router they make is built (one ring per target).
    for alerts in [
        "short: 1s, long: 9s, slot: 1ms",
        "short: 720h, long: 720h, slot: 720h",
        "short: 1m, long: 15m, slot: 96ms",
    ] {
        let params = load_router(&with(alerts), "router.yaml").unwrap();
        let _router = crate::router::Router::new(params, crate::rng::SeededRng::new(1));
    }
}

#[test]
fn route_names_are_unique_and_target_names_not_empty() {
    let e = err(&GOOD.replace("- name: cheap", "- name: chat"));
    assert_eq!(e.path, "routes[1].name", "{e}");
    assert!(e.message.contains("defined twice"), "{e}");
    let e = err(&GOOD.replace("- name: mini", "- name: ' '"));
    assert_eq!(e.path, "targets[2].name", "{e}");
    assert!(e.message.contains("must not be empty"), "{e}");
}

/// RV4: `price.cached_input` (new in BK) is not validated as `input` and `output` are: a
/// negative, NaN or infinite rate loads, and prices cached prompt tokens below zero (or NaN
/// into the plan's cost, the telemetry, the cost cap and the fleet's spend).
#[test]
fn a_cached_input_price_below_zero_or_not_finite_is_refused() {
    for bad in ["-1", ".nan", ".inf"] {
        let yaml = GOOD.replace(
            "price: { input: 3, output: 15 }",
            &format!("price: {{ input: 3, output: 15, cached_input: {bad} }}"),
        );
        assert_ne!(yaml, GOOD);
        let e = load_router(&yaml, "router.yaml").map(drop).err();
        let Some(e) = e else {
            panic!("cached_input: {bad} was accepted");
        };
        assert_eq!(e.path, "targets[1].price.cached_input", "{e}");
        assert!(e.message.contains("zero or more"), "{e}");
    }
}
