//! Live mode against fakes on loopback, and its agreement with simulation.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::path::Path;

use switchyard_core::time::Duration;
use switchyard_sim::traffic::Arrival;

mod support;
use support::{one_at_a_time, same_words};

fn scenario(name: &str) -> switchyard_runner::ScenarioParams {
    switchyard_runner::scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios")
            .join(name),
    )
    .unwrap()
}

#[test]
fn sim_and_live_agree_on_the_30_70_split() {
    let _serial = one_at_a_time();
    let mut s = scenario("split-30-70.yaml");
    s.duration = Duration::from_secs(12);
    s.traffic.arrival = Arrival::Poisson { rate: 100.0 };
    let sim = switchyard_runner::simulate(&s, 3).unwrap();
    let live = switchyard_runner::live::run(&s, 3, None).unwrap();
    assert_eq!(live.mode, "live");
    assert_eq!(
        sim.totals.requests, live.totals.requests,
        "the same traffic in both modes"
    );
    assert!(live.totals.requests > 1_000);
    for (a, b) in sim.targets.iter().zip(&live.targets) {
        let (sa, sb) = (a.share * 100.0, b.share * 100.0);
        assert!(
            (sa - sb).abs() <= 2.0,
            "{}: sim {sa:.2}% vs live {sb:.2}%",
            a.name
        );
    }
    let (ra, rb) = (
        sim.totals.success_rate * 100.0,
        live.totals.success_rate * 100.0,
    );
    assert!((ra - rb).abs() <= 0.5, "success: sim {ra}% vs live {rb}%");
    assert!(
        live.totals.success_rate >= 0.999,
        "{:?}",
        live.totals.failures
    );
    same_words(&sim, &live, &live.targets);
}

/// The cost rule, in both modes: a request costs what the core booked for its attempts, so
/// the requests' cost is the targets' and the wasted cost is the failed attempts'. Cut
/// streams cost their prompt and the tokens they delivered, and that is wasted.
#[test]
fn every_attempt_is_booked_by_one_rule_in_both_modes() {
    let _serial = one_at_a_time();
    let mut s = scenario("stream-cut.yaml");
    s.duration = Duration::from_secs(12);
    s.traffic.arrival = Arrival::Poisson { rate: 40.0 };
    let sim = switchyard_runner::simulate(&s, 5).unwrap();
    let live = switchyard_runner::live::run(&s, 5, None).unwrap();
    for r in [&sim, &live] {
        let spent: f64 = r
            .targets
            .iter()
            .map(|t| t.cost_success_usd + t.cost_failed_usd)
            .sum();
        let failed: f64 = r.targets.iter().map(|t| t.cost_failed_usd).sum();
        assert!(
            (r.totals.cost_usd - spent).abs() <= 1e-4 + spent * 1e-6,
            "{}: requests ${} vs attempts ${spent}",
            r.mode,
            r.totals.cost_usd
        );
        assert!(
            (r.totals.wasted_cost_usd - failed).abs() <= 1e-4 + failed * 1e-6,
            "{}: wasted ${} vs failed attempts ${failed}",
            r.mode,
            r.totals.wasted_cost_usd
        );
        let cut = r.classes["stream"]
            .failures
            .get("stream_interrupted")
            .copied()
            .unwrap_or(0);
        assert!(cut > 0, "{}: streams were cut", r.mode);
        assert!(
            r.totals.wasted_cost_usd > 0.0,
            "{}: a cut stream's prompt and delivered tokens are wasted",
            r.mode
        );
    }
}

/// Whole replies hedged to a standby that always loses (its first token 2 s late): the core
/// books each losing hedge its prompt's estimate as the primary's reply serves the request,
/// and in both modes a request's cost is what the core booked, so the requests' cost and
/// wasted cost are the targets' (live: the reply's `cost` and `wasted_cost`, not the served
/// usage priced), and the losers' estimates are wasted.
#[test]
fn a_whole_replys_losing_hedge_is_in_the_requests_cost_in_both_modes() {
    let _serial = one_at_a_time();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profile = root.join("fake-providers/small-fast.yaml");
    let dir = switchyard_testkit::TempDir::new("hedged-whole");
    let yaml = format!(
        "name: hedged-whole\nduration: 4s\nproviders:\n  - {{ name: primary, profile: {p} }}\n  - name: standby\n    profile: {p}\n    faults:\n      - {{ kind: slow_first_token, extra: 2s }}\n\
         router:\n  targets:\n    - {{ name: primary-1, provider: primary, model: small-fast-1, context_window: 32000 }}\n\
         \x20   - {{ name: standby-1, provider: standby, model: small-fast-1, context_window: 32000, price: {{ input: 1, output: 2 }} }}\n\
         \x20 routes:\n    - {{ name: chat, policy: priority, tiers: [[primary-1], [standby-1]] }}\n\
         \x20 plan: {{ max_attempts: 2, attempt_timeout: 10s, deadline: 20s, hedge_after: 50ms }}\n\
         traffic:\n  arrival: {{ poisson: 20 }}\n  classes:\n\
         \x20   - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 200 }}, max_tokens: 100, stream: 0 }}\n",
        p = profile.display()
    );
    let s = switchyard_runner::scenario::load(&dir.write("hedged.yaml", &yaml)).unwrap();
    let sim = switchyard_runner::simulate(&s, 5).unwrap();
    let live = switchyard_runner::live::run(&s, 5, None).unwrap();
    for r in [&sim, &live] {
        let standby = r.targets.iter().find(|t| t.name == "standby-1").unwrap();
        assert!(standby.cancelled > 10, "{}: {standby:?}", r.mode);
        // Each loser: 200 estimated prompt tokens at $1 a million.
        let losers = standby.cancelled as f64 * 200.0 / 1e6;
        assert!(
            (standby.cost_failed_usd - losers).abs() <= 1e-4,
            "{}: {standby:?}",
            r.mode
        );
        let spent: f64 = r
            .targets
            .iter()
            .map(|t| t.cost_success_usd + t.cost_failed_usd)
            .sum();
        let failed: f64 = r.targets.iter().map(|t| t.cost_failed_usd).sum();
        assert!(
            (r.totals.cost_usd - spent).abs() <= 1e-4 + spent * 1e-6,
            "{}: requests ${} vs attempts ${spent}",
            r.mode,
            r.totals.cost_usd
        );
        assert!(
            (r.totals.wasted_cost_usd - failed).abs() <= 1e-4 + failed * 1e-6,
            "{}: wasted ${} vs failed attempts ${failed}",
            r.mode,
            r.totals.wasted_cost_usd
        );
        assert!(failed >= losers - 1e-4, "{}: the losers are wasted", r.mode);
    }
}

/// A black box that is not there: every request fails; the run cannot pass on nothing.
#[test]
fn a_dead_black_box_url_gives_failures_not_a_pass() {
    let _serial = one_at_a_time();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // A port that was free a moment ago: nothing listens there now.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let dir = switchyard_testkit::TempDir::new("dead-black-box");
    let scenario = format!(
        "name: dead\nduration: 2s\ngateway: {url}\nproviders:\n  - {{ name: primary, profile: {} }}\n\
         router:\n  targets:\n    - {{ name: a, provider: primary, model: small-fast-1, context_window: 32000 }}\n\
         \x20 routes:\n    - {{ name: chat, policy: static, targets: [a] }}\ntraffic:\n  arrival: {{ poisson: 20 }}\n  classes:\n    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 100 }}, max_tokens: 50 }}\n\
         expect:\n  - {{ metric: success_rate, op: \">=\", value: 0.98 }}\n",
        root.join("fake-providers/small-fast.yaml").display(),
    );
    let file = dir.write("dead.yaml", &scenario);
    let s = switchyard_runner::scenario::load(&file).unwrap();
    let r = switchyard_runner::live::run(&s, 1, None).unwrap();
    assert!(r.totals.requests > 10);
    assert_eq!(r.totals.succeeded, 0, "{:?}", r.totals.failures);
    assert!(!r.passed);
}

/// A caller that gives up while its attempt hangs on a dead provider still reached that
/// provider: live books the attempt (`cancelled`) as the simulator does, so the provider's
/// share during the fault is the same in both modes and live shows no failover that sim
/// does not (before, the abandoned requests had no attempts and the provider's share looked
/// like 0: a "failover" at 0 s in live, "never" in sim).
#[test]
fn abandoned_requests_keep_the_attempts_that_reached_a_hanging_provider() {
    let _serial = one_at_a_time();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profile = root.join("fake-providers/small-fast.yaml");
    let dir = switchyard_testkit::TempDir::new("abandoned-hang");
    let yaml = format!(
        "name: abandoned-hang\nduration: 8s\nproviders:\n  - name: primary\n    profile: {p}\n    faults:\n      - {{ name: hang, kind: hang, at: 2s, for: 4s }}\n\
         \x20 - {{ name: standby, profile: {p} }}\nrouter:\n  targets:\n    - {{ name: primary-1, provider: primary, model: small-fast-1, context_window: 32000 }}\n    - {{ name: standby-1, provider: standby, model: small-fast-1, context_window: 32000 }}\n\
         \x20 routes:\n    - {{ name: chat, policy: static, targets: [primary-1] }}\n    - {{ name: side, policy: static, targets: [standby-1] }}\n\
         \x20 plan: {{ max_attempts: 1, attempt_timeout: 10s, deadline: 20s }}\n\
         traffic:\n  arrival: {{ poisson: 20 }}\n  classes:\n\
         \x20   - {{ name: impatient, weight: 1, route: chat, prompt_tokens: {{ fixed: 50 }}, max_tokens: 10, stream: 0.5, abandon_after: 500ms }}\n\
         \x20   - {{ name: side, weight: 1, route: side, prompt_tokens: {{ fixed: 50 }}, max_tokens: 10 }}\n",
        p = profile.display()
    );
    let s = switchyard_runner::scenario::load(&dir.write("hang.yaml", &yaml)).unwrap();
    let sim = switchyard_runner::simulate(&s, 5).unwrap();
    let live = switchyard_runner::live::run(&s, 5, None).unwrap();
    let abandoned = |r: &switchyard_runner::Report| r.totals.failures.get("abandoned").copied();
    assert!(
        abandoned(&live).unwrap_or(0) > 10,
        "{:?}",
        live.totals.failures
    );
    for r in [&sim, &live] {
        let f = &r.failover[0];
        let e = &f.exercised;
        assert!(e.exercised, "{}: {}", r.mode, e.line);
        // Every impatient request of the fault hung on the primary and is counted on it;
        // the side route's requests can never reach it and are in no share.
        let share = e.provider_requests as f64 / e.requests as f64;
        assert!(share >= 0.9, "{}: {}", r.mode, e.line);
        assert_eq!(f.time_to_failover_secs, None, "{}: {}", r.mode, e.line);
    }
    let (a, b) = (
        sim.failover[0].exercised.provider_requests as f64,
        live.failover[0].exercised.provider_requests as f64,
    );
    assert!((a - b).abs() <= 0.2 * a.max(b), "sim {a} vs live {b}");
}

/// The runner cannot start this project's gateway itself: a scenario through it, run
/// without a launcher, is a setup error (exit 2 from the CLI) that says what is missing,
/// before anything starts.
#[test]
fn a_scenario_through_the_gateway_without_a_launcher_is_a_setup_error() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/gateway-smoke.yaml");
    let s = switchyard_runner::scenario::load(&path).unwrap();
    assert_eq!(
        s.gateway,
        switchyard_runner::scenario::GatewayMode::Switchyard
    );
    let e = switchyard_runner::live::run(&s, 1, None).unwrap_err();
    assert!(
        matches!(&e, switchyard_runner::RunError::Setup { message, .. }
            if message.contains("`gateway: switchyard`") && message.contains("GatewayLauncher")),
        "{e}"
    );
    let options = switchyard_runner::RunOptions {
        mode: switchyard_runner::RunMode::Live,
        out: Some(
            switchyard_testkit::TempDir::new("no-launcher")
                .path()
                .join("out"),
        ),
        ..switchyard_runner::RunOptions::default()
    };
    let e = switchyard_runner::run(&path, &options).unwrap_err();
    assert!(
        matches!(e, switchyard_runner::RunError::Setup { .. }),
        "{e}"
    );
}
