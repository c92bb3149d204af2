//! Live runs through this project's gateway, which the runner cannot start itself: the CLI's
//! [`switchyard::InProcessGateway`] starts it (as `switchyard run --mode live` does), and a
//! gateway started on its own stands for another team's black box.
#![expect(clippy::unwrap_used, reason = "test code")]

use std::path::Path;
use std::sync::Arc;

use switchyard_core::time::Duration;
use switchyard_runner::live::LiveOptions;
use switchyard_runner::report::Report;
use switchyard_sim::traffic::Arrival;

#[path = "../../runner/tests/support/mod.rs"]
mod support;
use support::{SPLIT_OUTPUT_CV, one_at_a_time, outage_agrees, same_words, sum_band};

fn scenario(name: &str) -> switchyard_runner::ScenarioParams {
    switchyard_runner::scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios")
            .join(name),
    )
    .unwrap()
}

/// A live run of `s` through the CLI's gateway launcher.
fn through_gateway(s: &switchyard_runner::ScenarioParams, seed: u64) -> Report {
    let options = LiveOptions {
        gateway: Some(Arc::new(switchyard::InProcessGateway)),
        ..LiveOptions::default()
    };
    switchyard_runner::live::run_with(s, seed, &options).unwrap()
}

/// Through this project's gateway, streams ask for usage and are booked (they cost $0
/// before), and time to first token is read at the first content chunk.
#[test]
fn through_the_gateway_streams_are_booked_and_ttft_is_the_first_content() {
    let _serial = one_at_a_time();
    let mut s = scenario("split-30-70.yaml");
    s.duration = Duration::from_secs(10);
    s.traffic.arrival = Arrival::Poisson { rate: 100.0 };
    s.gateway = switchyard_runner::scenario::GatewayMode::Switchyard;
    // Seed 4: at seed 3 the anthropic fake's output lengths (a fixed stream since the draws
    // moved to rand_distr) average 3 deviations low, past the tolerance below.
    let sim = switchyard_runner::simulate(&s, 4).unwrap();
    let live = through_gateway(&s, 4);
    assert_eq!(sim.totals.requests, live.totals.requests);
    assert!(
        live.totals.success_rate >= 0.999,
        "{:?}",
        live.totals.failures
    );
    // The class that streams half its requests costs what the sim says, within the band of
    // its drawn output lengths (`sum_band`, an upper bound: its prompts are the same).
    let (a, b) = (sim.classes["chat"].cost_usd, live.classes["chat"].cost_usd);
    let band = sum_band(SPLIT_OUTPUT_CV, sim.classes["chat"].succeeded);
    assert!(
        (a - b).abs() <= a * band,
        "streaming class: sim ${a} vs gateway ${b}"
    );
    same_words(&sim, &live, &[]);
}

/// Two fakes and a gateway running on their own, as another team's setup would be: the
/// fakes' URLs, the gateway's, and the gateway's router (to count what it saw).
async fn another_teams_setup(profile: &Path) -> (Vec<String>, String, switchyard_live::Driver) {
    let mut urls = Vec::new();
    for name in ["primary", "standby"] {
        let mut p =
            switchyard_fake::load_profile(&std::fs::read_to_string(profile).unwrap(), "p.yaml")
                .unwrap();
        p.name = name.to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(switchyard_fake::server::serve(
            listener,
            switchyard_fake::server::router(p, 1),
            std::future::pending(),
        ));
    }
    let config = format!(
        "providers:\n  - {{ name: primary, dialect: openai, base_url: 'https://x', fake_base_url: '{}' }}\n  - {{ name: standby, dialect: openai, base_url: 'https://y', fake_base_url: '{}' }}\n\
             router:\n  targets:\n    - {{ name: a, provider: primary, model: small-fast-1, context_window: 32000 }}\n    - {{ name: b, provider: standby, model: small-fast-1, context_window: 32000 }}\n\
             \x20 routes:\n    - {{ name: chat, policy: priority, tiers: [[a], [b]] }}\n",
        urls[0], urls[1]
    );
    let params = switchyard_live::config::load_live(&config, "gw.yaml").unwrap();
    let gw = switchyard_gateway::Gateway::new(
        &params,
        None,
        switchyard_live::Transport::new(switchyard_live::HttpClient::new()),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let gateway_router = gw.router();
    tokio::spawn(switchyard_gateway::serve(
        listener,
        gw,
        std::future::pending(),
        std::time::Duration::from_secs(1),
    ));
    (urls, url, gateway_router)
}

/// A black-box scenario through `gateway` in front of `fakes`: an outage of the primary, and
/// expectations on what the client and the fakes can see and on what only the gateway knows.
fn black_box_scenario(
    profile: &Path,
    gateway: &str,
    fakes: &[String],
) -> switchyard_runner::ScenarioParams {
    let dir = switchyard_testkit::TempDir::new("black-box");
    let scenario = format!(
        "name: black-box\nduration: 6s\ngateway: {gateway}\nproviders:\n  - name: primary\n    profile: {}\n    url: {}\n    faults:\n      - {{ name: outage, kind: http, status: 503, at: 2s, for: 2s }}\n\
         \x20 - {{ name: standby, profile: {}, url: {} }}\nrouter:\n  targets:\n    - {{ name: a, provider: primary, model: small-fast-1, context_window: 32000 }}\n    - {{ name: b, provider: standby, model: small-fast-1, context_window: 32000 }}\n\
         \x20 routes:\n    - {{ name: chat, policy: priority, tiers: [[a], [b]] }}\ntraffic:\n  arrival: {{ poisson: 25 }}\n  classes:\n    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 100 }}, max_tokens: 50 }}\n\
         expect:\n  - {{ metric: success_rate, op: \">=\", value: 0.98 }}\n\
         \x20 - {{ metric: time_to_failover, fault: outage, op: \"<=\", value: 1s }}\n\
         \x20 - {{ metric: attempts_per_request, op: \"<=\", value: 1.5 }}\n\
         \x20 - {{ metric: time_to_detect, fault: outage, op: \"<=\", value: 1s }}\n\
         \x20 - {{ metric: served_share, target: b, phase: \"during:outage\", op: \">=\", value: 0.5 }}\n",
        profile.display(),
        fakes[0],
        profile.display(),
        fakes[1]
    );
    let file = dir.write("black-box.yaml", &scenario);
    switchyard_runner::scenario::load(&file).unwrap()
}

/// What only the gateway knows is not observed, and said so.
fn hides_what_only_the_gateway_knows(r: &Report) {
    // What only the gateway knows is not observed: no target, provider or series figures,
    // no served_by or attempts, and expectations on them fail as not observed, with why
    // (served_by used to name the primary throughout: both targets share a model name).
    let b = r.black_box.as_ref().unwrap();
    assert!(
        b.not_observed
            .iter()
            .any(|n| n.contains("attempts_per_request"))
    );
    assert!(r.targets.is_empty() && r.providers.is_empty() && r.series.targets.is_empty());
    assert!(r.totals.served_by.is_empty() && r.totals.attempts_by_target.is_empty());
    let verdicts: Vec<_> = r
        .expectations
        .iter()
        .map(|e| (e.name.as_str(), e.passed, e.observed, e.reason.clone()))
        .collect();
    for (name, passed, observed, reason) in &verdicts[2..] {
        assert!(
            !passed
                && observed.is_none()
                && reason.as_deref().is_some_and(
                    |w| w.starts_with("not observed: the gateway under test is a black box")
                ),
            "{name}: {verdicts:?}"
        );
    }
}

#[test]
fn a_black_box_gateway_is_measured_from_the_client_and_the_fakes_counters() {
    let _serial = one_at_a_time();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let profile = root.join("fake-providers/small-fast.yaml");
    let (fakes, gateway, gateway_router) = rt.block_on(another_teams_setup(&profile));
    let s = black_box_scenario(&profile, &gateway, &fakes);
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
    hides_what_only_the_gateway_knows(&r);
    let verdicts: Vec<_> = r
        .expectations
        .iter()
        .map(|e| (e.name.as_str(), e.passed, e.observed, e.reason.clone()))
        .collect();
    // The failover, from what each fake counted on the runner's clock: the primary's
    // requests during the outage stopped within a second (the gateway's breaker opens after
    // a few 503s at 25 requests/s), and every request the fakes got is in the counts.
    assert!(verdicts[1].1, "time_to_failover: {verdicts:?}");
    let f = &r.failover[0];
    assert!(
        f.exercised.exercised && f.exercised.failed_over,
        "{:?}",
        f.exercised
    );
    assert!(
        f.exercised
            .line
            .ends_with(&format!("({})", switchyard_runner::report::BLACK_BOX_LINE)),
        "{}",
        f.exercised.line
    );
    assert_eq!(
        f.time_to_detect_secs, None,
        "the gateway's breaker is not seen"
    );
    let over = f.time_to_failover_secs.unwrap();
    assert!((0.0..=1.0).contains(&over), "{over}");
    let reached = |p: &str| counters[p]["requests"].as_u64().unwrap();
    assert!(
        f.exercised.provider_requests > 0 && f.exercised.provider_requests <= reached("primary")
    );
    assert!(
        f.exercised.requests > f.exercised.provider_requests,
        "the standby's are counted"
    );
    assert!(f.exercised.requests <= reached("primary") + reached("standby"));
    // The markdown and the HTML say it was a black box, and which figures are whose.
    let md = switchyard_runner::render::markdown::render(&r);
    let html = switchyard_runner::render::html::render(&r);
    for page in [&md, &html] {
        assert!(page.contains("Black-box run"), "{page}");
        assert!(page.contains("From the client's view") && page.contains("Not observed"));
    }
    eprintln!("{}", f.exercised.line);
    // Every request went through the gateway under test, none around it.
    let seen = gateway_router.telemetry().routes[0].requests;
    assert_eq!(seen, r.totals.requests, "the gateway saw every request");
    drop(rt);
}

/// An outage's exact failover figures (`docs/FAILOVER.md`), tokens, cost and time to first
/// token agree between the simulator and live mode through this project's gateway, within
/// the tolerances `outage_agrees` derives (live in process: `runner/tests/agreement.rs`).
#[test]
fn an_outage_agrees_in_sim_and_through_the_gateway() {
    let _serial = one_at_a_time();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/agreement/outage-failover.yaml");
    let s = switchyard_runner::scenario::load(&path).unwrap();
    assert_eq!(
        s.gateway,
        switchyard_runner::scenario::GatewayMode::Switchyard
    );
    let sim = switchyard_runner::simulate(&s, s.seed).unwrap();
    let through = through_gateway(&s, s.seed);
    outage_agrees(&sim, &through, "through the gateway");
}

/// `switchyard run --mode live` passes its gateway launcher: a scenario with
/// `gateway: switchyard` runs through the gateway (whose router the report reads) and exits
/// 0, where the runner alone refuses it (`a_scenario_through_the_gateway_without_a_launcher_is_a_setup_error`).
#[test]
fn the_cli_runs_a_scenario_through_its_own_gateway() {
    let _serial = one_at_a_time();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let smoke = std::fs::read_to_string(root.join("scenarios/gateway-smoke.yaml")).unwrap();
    // Its timing scaled down to 3 s, and one expectation that holds at that size.
    let (head, _) = smoke.split_once("\nexpect:").unwrap();
    let yaml =
        format!("{head}\nexpect:\n  - {{ metric: success_rate, op: \">=\", value: 0.98 }}\n")
            .replace("duration: 30s", "duration: 3s")
            .replace("at: 10s, for: 10s", "at: 1s, for: 1s")
            .replace(
                "profile: small-fast",
                &format!(
                    "profile: {}",
                    root.join("fake-providers/small-fast.yaml").display()
                ),
            );
    assert!(yaml.contains("gateway: switchyard") && yaml.contains("duration: 3s"));
    let dir = switchyard_testkit::TempDir::new("cli-live-gateway");
    let file = dir.write("smoke.yaml", &yaml);
    let out_dir = dir.path().join("out");
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = switchyard::run(
        [
            "switchyard",
            "run",
            "--mode",
            "live",
            "--quiet",
            "--out",
            out_dir.to_str().unwrap(),
            file.to_str().unwrap(),
        ]
        .map(String::from),
        &mut out,
        &mut err,
    );
    assert_ne!(
        code,
        switchyard::EXIT_BAD_INPUT,
        "{}",
        String::from_utf8_lossy(&err)
    );
    let report: serde_json::Value =
        // The folder is the scenario's name, not the file's.
        serde_json::from_str(
            &std::fs::read_to_string(out_dir.join("gateway-smoke/report.json")).unwrap(),
        )
        .unwrap();
    assert_eq!(code, switchyard::EXIT_OK, "{}", report["expectations"]);
    assert_eq!(report["mode"], "live");
    let requests = report["totals"]["requests"].as_u64().unwrap();
    assert!(requests > 20, "{requests}");
    // The gateway's router served every request: its telemetry is the report's.
    let served: u64 = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["successes"].as_u64().unwrap())
        .sum();
    assert_eq!(
        served,
        report["totals"]["succeeded"].as_u64().unwrap(),
        "{report}"
    );
    assert!(served > 20, "{report}");
}

/// This project's gateway, up 300 ms after its router was built (a slow start, as a loaded
/// machine gives).
#[derive(Debug)]
struct SlowGateway;

impl switchyard_runner::live::GatewayLauncher for SlowGateway {
    fn launch(
        &self,
        params: switchyard_live::config::LiveParams,
    ) -> switchyard_runner::live::Launch<'_> {
        Box::pin(async move {
            let launched = switchyard_runner::live::GatewayLauncher::launch(
                &switchyard::InProcessGateway,
                params,
            )
            .await?;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            Ok(launched)
        })
    }
}

/// One clock in live mode: the fakes' faults, the router's events and the runner's
/// requests count from the same zero, however long the setup took. A 503 from 1 s to 2 s
/// fails exactly the requests started in that second: the windows just inside it fail, the
/// one before it does not (with the fakes' clock started before a slow setup, as it was,
/// the fault began 0.3 s early on the runner's clock and failed the end of that window).
#[test]
fn one_clock_the_faults_windows_line_up_with_the_requests() {
    let _serial = one_at_a_time();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let yaml = format!(
        "name: one-clock\nduration: 2500ms\ngateway: switchyard\nproviders:\n  - name: primary\n    profile: {}\n    faults:\n      - {{ name: outage, kind: http, status: 503, at: 1s, for: 1s }}\n\
         router:\n  targets:\n    - {{ name: a, provider: primary, model: small-fast-1, context_window: 32000 }}\n\
         \x20 routes:\n    - {{ name: chat, policy: static, targets: [a] }}\n\
         \x20 plan: {{ max_attempts: 1 }}\n  breaker: {{ consecutive_failures: 0, failure_rate: 1.0, min_calls: 1000 }}\n\
         traffic:\n  arrival: {{ constant: 50 }}\n  classes:\n    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 50 }}, max_tokens: 5 }}\n\
         expect:\n  - {{ metric: success_rate, window: {{ from: 400ms, to: 980ms }}, op: \">=\", value: 0.95 }}\n\
         \x20 - {{ metric: failure_rate, window: {{ from: 1020ms, to: 1980ms }}, op: \">=\", value: 0.95 }}\n\
         \x20 - {{ metric: success_rate, window: {{ from: 2020ms, to: 2500ms }}, op: \">=\", value: 0.95 }}\n",
        root.join("fake-providers/small-fast.yaml").display()
    );
    let dir = switchyard_testkit::TempDir::new("one-clock");
    let s = switchyard_runner::scenario::load(&dir.write("one-clock.yaml", &yaml)).unwrap();
    let options = LiveOptions {
        gateway: Some(Arc::new(SlowGateway)),
        ..LiveOptions::default()
    };
    let r = switchyard_runner::live::run_with(&s, 1, &options).unwrap();
    assert!(r.totals.requests >= 120, "{}", r.totals.requests);
    for e in &r.expectations {
        assert!(e.passed, "{}: {:?} ({:?})", e.name, e.observed, e.reason);
    }
}

/// This project's gateway, serving a router whose route `chat` has only target `a` (the
/// scenario's has `a` and `b`): a launcher that started another router than the scenario's.
#[derive(Debug)]
struct OtherRouterGateway;

impl switchyard_runner::live::GatewayLauncher for OtherRouterGateway {
    fn launch(
        &self,
        mut params: switchyard_live::config::LiveParams,
    ) -> switchyard_runner::live::Launch<'_> {
        Box::pin(async move {
            params.router = switchyard_core::config::load_router(
                "targets:\n  - { name: a, provider: primary, model: small-fast-1, context_window: 32000 }\n\
                 \x20 - { name: b, provider: primary, model: small-fast-1, context_window: 32000 }\n\
                 routes:\n  - { name: chat, policy: static, targets: [a] }\n",
                "other.yaml",
            )
            .map_err(|e| e.to_string())?;
            switchyard_runner::live::GatewayLauncher::launch(&switchyard::InProcessGateway, params)
                .await
        })
    }
}

/// An operator action the launched gateway's router refuses (a pin outside the route it
/// serves) fails the run with a setup error naming the action; it used to be dropped
/// silently, and the run reported as if the pin had happened.
#[test]
fn an_operator_action_the_router_refuses_fails_the_run_naming_it() {
    let _serial = one_at_a_time();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let yaml = format!(
        "name: refused-pin\nduration: 1s\ngateway: switchyard\nproviders:\n  - {{ name: primary, profile: {} }}\n\
         router:\n  targets:\n    - {{ name: a, provider: primary, model: small-fast-1, context_window: 32000 }}\n\
         \x20   - {{ name: b, provider: primary, model: small-fast-1, context_window: 32000 }}\n\
         \x20 routes:\n    - {{ name: chat, policy: priority, tiers: [[a], [b]] }}\n\
         traffic:\n  arrival: {{ constant: 20 }}\n  classes:\n    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 50 }}, max_tokens: 5 }}\n\
         operator:\n  - {{ at: 300ms, pin: {{ route: chat, target: b }} }}\n",
        root.join("fake-providers/small-fast.yaml").display()
    );
    let dir = switchyard_testkit::TempDir::new("refused-pin");
    let s = switchyard_runner::scenario::load(&dir.write("refused-pin.yaml", &yaml)).unwrap();
    let options = LiveOptions {
        gateway: Some(Arc::new(OtherRouterGateway)),
        ..LiveOptions::default()
    };
    let e = switchyard_runner::live::run_with(&s, 1, &options)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "the operator action at 300ms (pin) was refused by the router: target `b` is not a \
             target of route `chat` (its targets: a)"
        ),
        "{e}"
    );
}

/// The serving threads of every gateway running in this process: `serve_threads` names them
/// `serving-N`.
fn serving_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|t| {
            let comm = std::fs::read_to_string(t.as_ref().unwrap().path().join("comm"));
            comm.is_ok_and(|c| c.starts_with("serving-"))
        })
        .count()
}

/// This project's gateway with `gateway.threads: 3` (not the default on a machine of 2
/// cores), counting the serving threads running when the run stops it (they start once the
/// run's runtime polls the gateway's task, after `launch` has returned).
#[derive(Debug, Default)]
struct ThreeThreadGateway(Arc<std::sync::Mutex<Option<usize>>>);

impl switchyard_runner::live::GatewayLauncher for ThreeThreadGateway {
    fn launch(
        &self,
        mut params: switchyard_live::config::LiveParams,
    ) -> switchyard_runner::live::Launch<'_> {
        Box::pin(async move {
            params.gateway.threads = Some(3);
            let launched = switchyard_runner::live::GatewayLauncher::launch(
                &switchyard::InProcessGateway,
                params,
            )
            .await?;
            let (signal, stopped) = tokio::sync::oneshot::channel();
            let (inner, counted) = (launched.stop, self.0.clone());
            let task = tokio::spawn(async move {
                let _ = stopped.await;
                *counted.lock().unwrap() = Some(serving_threads());
                inner.stop().await;
            });
            Ok(switchyard_runner::live::LaunchedGateway {
                stop: switchyard_runner::live::GatewayStop::new(signal, task),
                ..launched
            })
        })
    }
}

/// The launcher serves as `switchyard gateway` does: on `gateway.threads` threads of their
/// own (`serve_threads`), not on the run's runtime (it served through the one-socket `serve`
/// before, so scenarios did not test the serving path that ships).
#[test]
fn the_launcher_serves_on_the_configured_serving_threads() {
    let _serial = one_at_a_time();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let yaml = format!(
        "name: two-threads\nduration: 1s\ngateway: switchyard\nproviders:\n  - {{ name: primary, profile: {} }}\n\
         router:\n  targets:\n    - {{ name: a, provider: primary, model: small-fast-1, context_window: 32000 }}\n\
         \x20 routes:\n    - {{ name: chat, policy: static, targets: [a] }}\n\
         traffic:\n  arrival: {{ constant: 20 }}\n  classes:\n    - {{ name: chat, weight: 1, route: chat, prompt_tokens: {{ fixed: 50 }}, max_tokens: 5 }}\n",
        root.join("fake-providers/small-fast.yaml").display()
    );
    let dir = switchyard_testkit::TempDir::new("two-threads");
    let s = switchyard_runner::scenario::load(&dir.write("two-threads.yaml", &yaml)).unwrap();
    let launcher = Arc::new(ThreeThreadGateway::default());
    let options = LiveOptions {
        gateway: Some(launcher.clone()),
        ..LiveOptions::default()
    };
    let r = switchyard_runner::live::run_with(&s, 1, &options).unwrap();
    assert_eq!(*launcher.0.lock().unwrap(), Some(3));
    assert!(r.totals.requests >= 15, "{}", r.totals.requests);
    assert_eq!(r.totals.succeeded, r.totals.requests);
}

/// A request too long for every context window of its route fails `unsupported` through the
/// gateway, as in the simulator (the gateway's 400 read with its attempt log: no attempt
/// made), not `bad_request`; those that fit are served.
#[test]
fn a_request_no_target_can_hold_fails_unsupported_through_the_gateway_as_in_sim() {
    let _serial = one_at_a_time();
    let mut s = scenario("split-30-70.yaml");
    s.duration = Duration::from_secs(3);
    s.traffic.arrival = Arrival::Poisson { rate: 20.0 };
    s.gateway = switchyard_runner::scenario::GatewayMode::Switchyard;
    // The `summarize` class (p50 4 000 prompt tokens) mostly does not fit; `chat` mostly does.
    for t in &mut s.router.targets {
        t.context_window = 2000;
    }
    let sim = switchyard_runner::simulate(&s, 5).unwrap();
    let live = through_gateway(&s, 5);
    let unsupported = |r: &Report| r.totals.failures.get("unsupported").copied().unwrap_or(0);
    assert!(unsupported(&sim) >= 5, "{:?}", sim.totals.failures);
    assert_eq!(
        live.totals.failures.keys().copied().collect::<Vec<_>>(),
        ["unsupported"],
        "{:?}",
        live.totals.failures
    );
    // The gateway estimates the prompt from its text: one near the edge may fall either side.
    assert!(
        unsupported(&live).abs_diff(unsupported(&sim)) <= 2,
        "sim {:?}, through the gateway {:?}",
        sim.totals.failures,
        live.totals.failures
    );
    assert!(live.totals.requests > unsupported(&live), "some are served");
}
