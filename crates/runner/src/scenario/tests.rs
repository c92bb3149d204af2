use std::path::{Path, PathBuf};

use super::*;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

fn drill() -> String {
    std::fs::read_to_string(scenarios().join("manual-failover-drill.yaml")).unwrap()
}

fn load(text: &str) -> Result<ScenarioParams, ConfigError> {
    load_text(text, "bad.yaml", &scenarios())
}

/// The drill with its first expectation (line 25) replaced by `expectation`, a flow map.
fn drill_expecting(expectation: &str) -> String {
    let line = "  - { metric: success_rate, op: \"==\", value: 1 }";
    let good = drill();
    assert!(good.contains(line));
    good.replacen(line, &format!("  - {expectation}"), 1)
}

/// `text`, written with `expectation`, is refused at `path` on line 25 with `message`.
fn assert_expectation_refused(text: &str, expectation: &str, path: &str, message: &str) {
    let Err(e) = load(text) else {
        panic!("{expectation} was accepted");
    };
    assert_eq!((e.path.as_str(), e.line), (path, 25), "{expectation}: {e}");
    assert!(e.message.contains(message), "{expectation}: {e}");
    assert!(e.column > 1, "{e}");
}

/// Each of `expectations` validates in the drill.
fn assert_expectations_valid(expectations: &[&str]) {
    for expectation in expectations {
        if let Err(e) = load(&drill_expecting(expectation)) {
            panic!("{expectation}: {e}");
        }
    }
}

/// Each bound on work and memory refuses what used to validate and then hang the simulator
/// (rates times duration), or allocate per token (max_tokens, prompt sizes), with the line
/// and field; the edges are accepted.
#[test]
fn scenarios_too_big_to_run_are_refused_with_their_place() {
    // Long: a table of cases (each a bound or scope and the error it gives), read as one.
    let good = drill();
    let cases = [
        (
            "duration: 15m",
            "duration: 721h",
            "duration",
            6,
            "at most 720h",
        ),
        (
            "poisson: 10",
            "poisson: 1e9",
            "traffic.arrival.poisson",
            18,
            "at most 100000",
        ),
        (
            "poisson: 10",
            "poisson: 20000",
            "traffic.arrival",
            18,
            "at most 10000000 per run",
        ),
        (
            "max_tokens: 300",
            "max_tokens: 4000000000",
            "traffic.classes[0].max_tokens",
            20,
            "at most 2000000",
        ),
        (
            "p99: 4000 }",
            "p99: 1e12 }",
            "traffic.classes[0].prompt_tokens",
            20,
            "at most 2000000",
        ),
        (
            "alerts: {",
            "alerts: { slot: 1ns,",
            "router.alerts.slot",
            0,
            "at least 1ms",
        ),
    ];
    for (from, to, path, line, message) in cases {
        if from == "alerts: {" {
            // The drill has no alerts section: add one to its router.
            let text = good.replacen("router:\n", "router:\n  alerts: { slot: 1ns }\n", 1);
            let e = load(&text).unwrap_err();
            assert_eq!(e.path, path, "{e}");
            assert!(e.message.contains(message), "{e}");
            assert!(e.to_string().starts_with("bad.yaml:"), "{e}");
            continue;
        }
        assert!(good.contains(from), "{from}");
        let e = load(&good.replacen(from, to, 1)).unwrap_err();
        assert_eq!((e.path.as_str(), e.line), (path, line), "{e}");
        assert!(e.message.contains(message), "{e}");
    }
    // The edges run: a cap on requests lifts the rate × duration bound.
    for edits in [
        &[
            ("duration: 15m", "duration: 720h"),
            ("poisson: 10", "poisson: 0.1"),
        ][..],
        &[(
            "poisson: 10",
            "poisson: 100000 }\n  max_requests: 1000\n  #",
        )],
        &[("poisson: 10", "poisson: 11000")],
        &[("max_tokens: 300", "max_tokens: 2000000")],
    ] {
        let text = edits
            .iter()
            .fold(good.clone(), |t, (from, to)| t.replacen(from, to, 1));
        if let Err(e) = load(&text) {
            panic!("{edits:?}: {e}");
        }
    }
}

/// A scenario anywhere can name a shipped profile: it is built in. A file of that name near
/// the scenario still wins, and a name that is neither says what is built in.
#[test]
fn shipped_profiles_are_built_in_and_a_nearby_file_overrides_them() {
    let dir = switchyard_testkit::TempDir::new("builtin-profile");
    let live_smoke = std::fs::read_to_string(scenarios().join("live-smoke.yaml")).unwrap();
    let file = dir.write("smoke.yaml", &live_smoke);
    let s = super::load(&file).unwrap();
    let primary = &s.providers[0].profile;
    assert_eq!(primary.name, "primary");
    assert_eq!(primary.models[0].name, "small-fast-1");

    std::fs::create_dir_all(dir.path().join("fake-providers")).unwrap();
    let local = switchyard_fake::profile::builtin::builtin("small-fast")
        .unwrap()
        .replace("context_window: 32000", "context_window: 16000");
    dir.write("fake-providers/small-fast.yaml", &local);
    let s = super::load(&file).unwrap();
    assert_eq!(s.providers[0].profile.models[0].context_window, 16_000);

    let e = super::load(&dir.write(
        "typo.yaml",
        &live_smoke.replace("profile: small-fast\n", "profile: smal-fast\n"),
    ))
    .unwrap_err();
    assert_eq!(e.path, "providers[0].profile", "{e}");
    assert!(
        e.message.contains("no profile `smal-fast`") && e.message.contains("small-fast"),
        "{e}"
    );
}

/// A scope a metric cannot honour, or a name that names nothing, is refused with its place:
/// silently ignored it reported a figure for a scope nobody measured (or a 0).
#[test]
fn expectation_scopes_a_metric_cannot_honour_are_refused() {
    // Long: a table of cases (each a bound or scope and the error it gives), read as one.
    let cases = [
        (
            "{ metric: availability, target: openai-4o, phase: before:x, op: \">=\", value: 0.9 }",
            "expect[0].phase",
            "cannot be scoped by phase",
        ),
        (
            "{ metric: availability, target: openai-4o, window: { from: 1m, to: 2m }, op: \">=\", value: 0.9 }",
            "expect[0].window",
            "cannot be scoped by window",
        ),
        (
            "{ metric: cost, phase: during:x, provider: openai, op: \"<=\", value: 1 }",
            "expect[0].phase",
            "drop phase or provider",
        ),
        (
            "{ metric: cost, target: openai-4o, op: \"<=\", value: 1 }",
            "expect[0].target",
            "cannot be scoped by target",
        ),
        (
            "{ metric: breaker_opens, route: chat, op: \"==\", value: 0 }",
            "expect[0].route",
            "cannot be scoped by route",
        ),
        (
            "{ metric: alerts, class: chat, op: \"==\", value: 0 }",
            "expect[0].class",
            "cannot be scoped by class",
        ),
        (
            "{ metric: success_rate, target: openai-4o, op: \">=\", value: 0.9 }",
            "expect[0].target",
            "cannot be scoped by target",
        ),
        (
            "{ metric: cost, provider: opeani, op: \"<=\", value: 1 }",
            "expect[0].provider",
            "no provider `opeani`",
        ),
        (
            "{ metric: requests, provider: openai, op: \">=\", value: 1 }",
            "expect[0].provider",
            "only `cost` can",
        ),
        (
            "{ metric: time_to_alert, fault: nope, op: \"<=\", value: 1s }",
            "expect[0].fault",
            "no fault named `nope`",
        ),
        (
            "{ metric: requests, fault: nope, op: \">=\", value: 1 }",
            "expect[0].fault",
            "cannot be scoped by fault",
        ),
    ];
    for (expectation, path, message) in cases {
        // A named fault so that `before:x` and `during:x` exist.
        let text = drill_expecting(expectation).replacen(
            "profile: openai,",
            "profile: openai, faults: [{ name: x, kind: http, status: 503, at: 1m, for: 1m }],",
            1,
        );
        assert_expectation_refused(&text, expectation, path, message);
    }
    // What the metrics do honour still validates.
    assert_expectations_valid(&[
        "{ metric: cost, provider: anthropic, op: \"<=\", value: 1 }",
        "{ metric: cost, route: chat, window: { from: 1m, to: 2m }, op: \"<=\", value: 1 }",
        "{ metric: alerts, target: openai-4o, op: \"==\", value: 0 }",
        "{ metric: availability, target: openai-4o, op: \">=\", value: 0.9 }",
    ]);
}

/// The name names the report folder: one that would write elsewhere is refused.
#[test]
fn scenario_names_must_be_safe_file_names() {
    let good = drill();
    for bad in ["../../x", "a/b", ".hidden", "", "a b", "x\\\\y"] {
        let text = good.replacen(
            "name: manual-failover-drill",
            &format!("name: \"{bad}\""),
            1,
        );
        let e = load(&text).unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("name", 1), "{bad}: {e}");
    }
    for ok in ["drill_2.v1", "A-b"] {
        let text = good.replacen("name: manual-failover-drill", &format!("name: {ok}"), 1);
        if let Err(e) = load(&text) {
            panic!("{ok}: {e}");
        }
    }
}

/// An operator pin to a target that is not one of the route's targets is refused with its
/// place; a pin inside the route is accepted.
#[test]
fn a_pin_outside_its_route_is_refused_with_its_place() {
    let good = drill()
        .replace(
            "  routes:\n",
            "    - { name: spare, provider: openai, model: gpt-4o-mini }\n  routes:\n    - { name: side, policy: static, targets: [spare] }\n",
        )
        .replace(
            "  - { at: 10m, restore: openai-4o }\n",
            "  - { at: 10m, restore: openai-4o }\n  - { at: 11m, pin: { route: chat, target: claude-sonnet } }\n",
        );
    load(&good).unwrap();
    let bad = good.replace("target: claude-sonnet } }", "target: spare } }");
    let err = load(&bad).unwrap_err();
    assert_eq!(err.path, "operator[2].pin.target", "{err:?}");
    assert_eq!((err.file.as_str(), err.line), ("bad.yaml", 26), "{err:?}");
    assert!(
        err.message
            .contains("`spare` is not a target of route `chat`"),
        "{err:?}"
    );
}

/// `prefill: false` on the scenario's provider or in its profile means one thing: the
/// provider refuses a prefill, in the simulator (`ScenarioProvider::prefill`) and in the live
/// fake (its profile's `prefill`, which the runner starts it with).
#[test]
fn prefill_false_in_the_scenario_or_the_profile_refuses_in_both_drivers() {
    let dir = switchyard_testkit::TempDir::new("prefill-profile");
    let text = std::fs::read_to_string(scenarios().join("stream-resume.yaml")).unwrap();
    let profile = std::fs::read_to_string(scenarios().join("profiles/sixty-tokens.yaml")).unwrap();
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
    dir.write("profiles/sixty-tokens.yaml", &profile);
    let anthropic = switchyard_fake::profile::builtin::builtin("anthropic").unwrap();
    dir.write("refusing.yaml", &format!("{anthropic}\nprefill: false\n"));
    let s = super::load(&dir.write("s.yaml", &text)).unwrap();
    let by_name = |s: &ScenarioParams, name: &str| {
        let p = s.providers.iter().find(|p| p.name == name).unwrap();
        (p.prefill, p.profile.prefill)
    };
    assert_eq!(by_name(&s, "anthropic"), (true, true));
    assert_eq!(
        by_name(&s, "gemini"),
        (false, false),
        "the scenario's field"
    );
    let s = super::load(&dir.write(
        "t.yaml",
        &text.replace("profile: anthropic }", "profile: refusing.yaml }"),
    ))
    .unwrap();
    assert_eq!(
        by_name(&s, "anthropic"),
        (false, false),
        "the profile's field"
    );
}

fn fleet_scenario() -> String {
    std::fs::read_to_string(scenarios().join("fleet-store-down.yaml")).unwrap()
}

/// A fleet's keys resolve into the simulator's fleet; each bad one is refused with its line,
/// column and field, and every error of a file is listed.
#[test]
fn fleet_keys_resolve_and_bad_ones_are_refused_with_their_place() {
    let good = fleet_scenario();
    let s = load(&good).unwrap();
    let f = s.fleet.as_ref().unwrap();
    assert_eq!(f.replicas, 3);
    assert_eq!(f.load_balance, switchyard_sim::LoadBalance::RoundRobin);
    let shared = f.shared.unwrap();
    assert_eq!(shared.sync_every, Duration::from_secs(1));
    assert_eq!(f.store_faults[0].kind, switchyard_sim::StoreFaultKind::Down);
    assert!(s.phases.iter().any(|p| p.name == "during:store-down"));
    let cases = [
        ("replicas: 3", "replicas: 17", "replicas", 9, "1 to 16"),
        ("replicas: 3", "replicas: 0", "replicas", 9, "1 to 16"),
        (
            "replicas: 3",
            "replicas: many",
            "replicas",
            9,
            "invalid type",
        ),
        (
            "sync_every: 1s",
            "sync_every: 1ms",
            "shared_state.sync_every",
            10,
            "10ms to 1h",
        ),
        (
            "lease_block: 0.05",
            "lease_block: 0",
            "shared_state.lease_block",
            10,
            "above 0",
        ),
        (
            "propagation_delay: 1ms",
            "propagation_delay: 300ms",
            "shared_state.propagation_delay",
            10,
            "round trip",
        ),
        (
            "kind: down",
            "kind: gone",
            "store_faults[0].kind",
            12,
            "down, slow or partitioned",
        ),
        (
            "kind: down",
            "kind: slow",
            "store_faults[0]",
            12,
            "needs a `delay`",
        ),
        (
            "kind: down,",
            "kind: partitioned, replica: 3,",
            "store_faults[0].replica",
            12,
            "no replica 3",
        ),
        (
            "at: 3m",
            "at: 9m",
            "store_faults[0].at",
            12,
            "not before the end",
        ),
        (
            "for: 2m",
            "for: 0s",
            "store_faults[0].for",
            12,
            "longer than zero",
        ),
        (
            "shared_state: { sync_every: 1s, lease_block: 0.05, propagation_delay: 1ms }",
            "shared_state: none",
            "store_faults",
            11,
            "needs a `shared_state` store",
        ),
        ("replicas: 3\n", "", "shared_state", 9, "needs `replicas`"),
        ("load_balance", "load_balance", "", 0, ""),
    ];
    for (from, to, path, line, message) in cases {
        if from == "load_balance" {
            let text = good.replacen("replicas: 3\n", "replicas: 3\nload_balance: fair\n", 1);
            let e = load(&text).unwrap_err();
            assert_eq!((e.path.as_str(), e.line), ("load_balance", 10), "{e}");
            assert!(e.message.contains("unknown variant"), "{e}");
            continue;
        }
        assert!(good.contains(from), "{from}");
        let e = load(&good.replacen(from, to, 1)).unwrap_err();
        assert_eq!((e.path.as_str(), e.line), (path, line), "{e}");
        assert!(e.message.contains(message), "{e}");
        assert!(
            e.to_string().starts_with(&format!("bad.yaml:{line}:")),
            "{e}"
        );
    }
    // Every error of a file, not only the first.
    let text = good
        .replacen("replicas: 3", "replicas: 3\nload_balance: random", 1)
        .replacen("kind: down", "kind: gone", 1)
        .replacen("lease_block: 0.05", "lease_block: 2", 1);
    let all = load_text_all(&text, "bad.yaml", &scenarios()).unwrap_err();
    let paths: Vec<&str> = all.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["shared_state.lease_block", "store_faults[0].kind"]);
    // A fleet metric needs its provider.
    let e = load(&good.replacen("provider: openai, op", "op", 1)).unwrap_err();
    assert_eq!(e.path, "expect[0].provider", "{e}");
    assert!(e.message.contains("needs a provider"), "{e}");
}

/// A bound outside what its metric can measure (a rate above 1, a negative count, cost or
/// latency, not a number) could never hold, or always would: refused at validation with its
/// place and the metric's range; the edges of each range are accepted.
#[test]
fn expectation_bounds_outside_the_metrics_range_are_refused() {
    let cases = [
        (
            "{ metric: success_rate, op: \">=\", value: 1.5 }",
            "from 0 to 1",
        ),
        (
            "{ metric: failure_rate, op: \"<=\", value: -0.1 }",
            "from 0 to 1",
        ),
        (
            "{ metric: share, target: openai-4o, op: \"<=\", value: 2 }",
            "from 0 to 1",
        ),
        (
            "{ metric: served_share, target: openai-4o, op: \">\", value: -1 }",
            "from 0 to 1",
        ),
        (
            "{ metric: availability, target: openai-4o, op: \">=\", value: 1.01 }",
            "from 0 to 1",
        ),
        (
            "{ metric: success_rate, op: \">=\", value: .nan }",
            "from 0 to 1",
        ),
        ("{ metric: requests, op: \">=\", value: -1 }", "0 or more"),
        (
            "{ metric: breaker_opens, op: \"<=\", value: -2 }",
            "0 or more",
        ),
        ("{ metric: cost, op: \"<=\", value: -0.5 }", "0 or more"),
        (
            "{ metric: attempts_per_request, op: \"<=\", value: -1 }",
            "0 or more",
        ),
        ("{ metric: failed, op: \"<=\", value: .inf }", "0 or more"),
        (
            "{ metric: p99_latency, op: \"<=\", value: -1s }",
            "negative",
        ),
    ];
    for (expectation, message) in cases {
        let text = drill_expecting(expectation);
        assert_expectation_refused(&text, expectation, "expect[0].value", message);
    }
    // The edges, and a spent error budget (which can pass 1), still validate.
    assert_expectations_valid(&[
        "{ metric: success_rate, op: \">=\", value: 1 }",
        "{ metric: share, target: openai-4o, op: \"<=\", value: 0 }",
        "{ metric: requests, op: \">=\", value: 0 }",
        "{ metric: cost, op: \"<=\", value: 0 }",
        "{ metric: p99_latency, op: \"<=\", value: 0 }",
        "{ metric: error_budget_spent, target: openai-4o, op: \"<=\", value: 2 }",
    ]);
}

/// A fault parameter its kind does not read (a `slow_down` given a `status`, a `reset` given
/// a `factor`) would be ignored: refused with its place, the field and what the kind takes.
#[test]
fn fault_fields_the_kind_ignores_are_refused_with_their_place() {
    let good = drill();
    for (fault, field, takes) in [
        (
            "{ kind: slow_down, factor: 3, status: 503 }",
            "status",
            "`factor`",
        ),
        (
            "{ kind: reset, factor: 2 }",
            "factor",
            "no field of its own",
        ),
        (
            "{ kind: http, status: 503, stall: 2s }",
            "stall",
            "`status`, `retry_after`",
        ),
    ] {
        let text = good.replacen(
            "profile: openai,",
            &format!("profile: openai, faults: [{fault}],"),
            1,
        );
        let e = load(&text).unwrap_err();
        let path = format!("providers[0].faults[0].{field}");
        assert_eq!(
            (e.path.as_str(), e.line),
            (path.as_str(), 8),
            "{fault}: {e}"
        );
        let column = text
            .lines()
            .nth(7)
            .unwrap()
            .find(&format!("{field}:"))
            .unwrap()
            + 1;
        assert_eq!(e.column, column, "{fault}: {e}");
        assert!(e.message.contains(takes), "{fault}: {e}");
    }
}

/// A variant without a target an operator action names cannot run the operator's timeline:
/// refused at validation, naming the variant and the action.
#[test]
fn an_operator_action_a_variant_cannot_take_is_refused() {
    let text = std::fs::read_to_string(scenarios().join("policy-comparison.yaml"))
        .unwrap()
        .replace(
            "variants:\n",
            "operator:\n  - { at: 1m, drain: claude-haiku }\nvariants:\n  - name: alone
    router:
      targets: [{ name: openai-4o, provider: openai, model: gpt-4o }]
      routes: [{ name: chat, policy: static, targets: [openai-4o] }]\n",
        );
    let Err(e) = load_text(&text, "policy-comparison.yaml", &scenarios()) else {
        panic!("a variant without the drained target was accepted");
    };
    assert_eq!(e.path, "variants[0].router", "{e}");
    assert!(
        e.message.contains("operator[0].drain") && e.message.contains("claude-haiku"),
        "{e}"
    );
}

/// `run --duration` says when the end cuts a provider's fault off, as it does for a store
/// fault; a fault that ends by the end, or that lasts to the end by design, gets no notice.
#[test]
fn duration_notices_a_provider_fault_the_end_cuts_off() {
    let path = scenarios().join("active-passive-outage.yaml");
    // `primary-outage`: from 5m for 5m.
    let (_, notices) = load_for(&path, Some(Duration::from_secs(7 * 60))).unwrap();
    assert_eq!(
        notices,
        [
            "--duration 7m: fault primary-outage on openai from 5m for 5m is cut off by \
             the end"
        ],
    );
    let (_, notices) = load_for(&path, Some(Duration::from_secs(10 * 60))).unwrap();
    assert_eq!(notices, Vec::<String>::new());
    let (_, notices) = load_for(&path, Some(Duration::from_secs(4 * 60))).unwrap();
    assert_eq!(
        notices,
        [
            "--duration 4m: fault primary-outage on openai starts at 5m, after the end; it \
          does not happen"
        ],
    );
    // A flapping fault (`every`) has no last window to cut.
    let (_, notices) = load_for(
        &scenarios().join("flapping-provider.yaml"),
        Some(Duration::from_secs(310)),
    )
    .unwrap();
    assert!(
        notices.iter().all(|n| !n.contains("cut off")),
        "{notices:?}"
    );
}
