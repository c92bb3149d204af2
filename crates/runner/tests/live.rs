//! Live mode against fakes on loopback, and its agreement with simulation.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::path::Path;

use switchyard_core::time::Duration;
use switchyard_sim::traffic::Arrival;

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
}

#[test]
fn a_black_box_gateway_is_measured_from_the_client_and_the_fakes_counters() {
    // Two fakes and a gateway running on their own, as another team's setup would be.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profile = root.join("fake-providers/small-fast.yaml");
    let (fakes, gateway, gateway_router) = rt.block_on(async {
        let mut urls = Vec::new();
        for name in ["primary", "standby"] {
            let mut p = switchyard_fake::load_profile(&std::fs::read_to_string(&profile).unwrap(), "p.yaml").unwrap();
            p.name = name.to_owned();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(format!("http://{}", listener.local_addr().unwrap()));
            tokio::spawn(switchyard_fake::server::serve(listener, switchyard_fake::server::router(p, 1), std::future::pending()));
        }
        let config = format!(
            "providers:\n  - {{ name: primary, dialect: openai, base_url: 'https://x', fake_base_url: '{}' }}\n  - {{ name: standby, dialect: openai, base_url: 'https://y', fake_base_url: '{}' }}\n\
             router:\n  targets:\n    - {{ name: a, provider: primary, model: small-fast-1, context_window: 32000 }}\n    - {{ name: b, provider: standby, model: small-fast-1, context_window: 32000 }}\n\
             \x20 routes:\n    - {{ name: chat, policy: priority, tiers: [[a], [b]] }}\n",
            urls[0], urls[1]
        );
        let params = switchyard_live::config::load_live(&config, "gw.yaml").unwrap();
        let gw = switchyard_gateway::Gateway::new(&params, None, std::sync::Arc::new(switchyard_live::HttpClient::new())).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let gateway_router = gw.router();
        tokio::spawn(switchyard_gateway::serve(listener, gw, std::future::pending(), std::time::Duration::from_secs(1)));
        (urls, url, gateway_router)
    });
    let dir = switchyard_testkit::TempDir::new("black-box");
    let scenario = format!(
        "name: black-box\nduration: 6s\ngateway: {gateway}\nproviders:\n  - name: primary\n    profile: {}\n    url: {}\n    faults:\n      - {{ name: outage, kind: http, status: 503, at: 2s, for: 2s }}\n\
         \x20 - {{ name: standby, profile: {}, url: {} }}\nrouter:\n  targets:\n    - {{ name: a, provider: primary, model: small-fast-1, context_window: 32000 }}\n    - {{ name: b, provider: standby, model: small-fast-1, context_window: 32000 }}\n\
         \x20 routes:\n    - {{ name: chat, policy: priority, tiers: [[a], [b]] }}\ntraffic:\n  arrival: {{ poisson: 25 }}\n  classes:\n    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 100 }}, max_tokens: 50 }}\n\
         expect:\n  - {{ metric: success_rate, op: \">=\", value: 0.98 }}\n",
        profile.display(),
        fakes[0],
        profile.display(),
        fakes[1]
    );
    let file = dir.write("black-box.yaml", &scenario);
    let s = switchyard_runner::scenario::load(&file).unwrap();
    let r = switchyard_runner::live::run(&s, 1, None).unwrap();
    assert!(r.totals.requests > 80, "{}", r.totals.requests);
    assert!(r.totals.success_rate >= 0.98, "{:?}", r.totals.failures);
    // The client saw both targets serve (named by the replies' model and the gateway's header).
    let counters = &r.fake_counters;
    assert_eq!(counters.len(), 2);
    assert!(
        counters["primary"]["statuses"]["503"].as_u64().unwrap() > 0,
        "{counters:?}"
    );
    assert!(
        counters["standby"]["requests"].as_u64().unwrap() > 0,
        "the standby served the outage: {counters:?}"
    );
    // Every request went through the gateway under test, none around it.
    let seen = gateway_router.telemetry().routes[0].requests;
    assert_eq!(seen, r.totals.requests, "the gateway saw every request");
    drop(rt);
}

/// A black box that is not there: every request fails; the run cannot pass on nothing.
#[test]
fn a_dead_black_box_url_gives_failures_not_a_pass() {
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
