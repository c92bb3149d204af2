//! A fleet of replicas over one store model: limits held fleet-wide, outages stopped within
//! a sync, one gateway's probes, store faults, and the same seed giving the same run.

use super::*;
use switchyard_core::outcome::FinalOutcome;
use switchyard_core::request::Capabilities;
use switchyard_fake::distribution::Distribution;
use traffic::{Arrival, ClassParams};

fn profile(name: &str, rpm: u64, first_token_ms: u64, faults: &str) -> ProfileParams {
    let text = format!(
        "name: {name}\ndialect: openai\nmodels:\n  - {{ name: m, context_window: 100000 }}\n\
         latency:\n  first_token: {{ lognormal: {{ p50: {first_token_ms}ms, p99: 900ms }} }}\n  tokens_per_second: {{ fixed: 200 }}\n\
         output_tokens: {{ fixed: 20 }}\nlimits: {{ requests_per_minute: {rpm}, tokens_per_minute: 1000000000 }}\n{faults}"
    );
    switchyard_fake::load_profile(&text, "p.yaml").unwrap()
}

/// Target `a` (provider `pa`, 600 requests a minute, the router told so) before `b`.
fn params(faults_a: &str, rate: f64, secs: u64, fleet: Option<SimFleet>) -> SimParams {
    let yaml = "targets:\n  - { name: a, provider: pa, model: m, limits: { requests_per_minute: 600 } }\n  - { name: b, provider: pb, model: m }\n\
         routes:\n  - { name: r, policy: priority, tiers: [[a], [b]] }\n\
         plan: { max_attempts: 3, attempt_timeout: 10s, deadline: 30s }\n\
         breaker: { consecutive_failures: 5, open_for: 5s, open_max: 5s, probe_successes: 3, recovery: 10s }\n";
    SimParams {
        router: switchyard_core::config::load_router(yaml, "r.yaml").unwrap(),
        providers: vec![
            SimProvider {
                name: "pa".into(),
                profile: profile("pa", 600, 200, faults_a),
                keys: Vec::new(),
                refuses_prefill: false,
            },
            SimProvider {
                name: "pb".into(),
                profile: profile("pb", 1_000_000, 300, ""),
                keys: Vec::new(),
                refuses_prefill: false,
            },
        ],
        traffic: TrafficParams {
            arrival: Arrival::Poisson { rate },
            classes: vec![ClassParams {
                abandon_after: None,
                name: "chat".into(),
                weight: 1.0,
                route: "r".into(),
                task: None,
                prompt_tokens: Distribution::Fixed(200.0),
                max_tokens: 100,
                stream: 0.0,
                needs: Capabilities::NONE,
            }],
            max_requests: None,
        },
        operator: Vec::new(),
        duration: Duration::from_secs(secs),
        seed: 5,
        network_delay: Duration::from_millis(2),
        fleet,
    }
}

fn fleet(shared: bool, faults: Vec<StoreFault>) -> Option<SimFleet> {
    Some(SimFleet {
        replicas: 3,
        load_balance: LoadBalance::RoundRobin,
        shared: shared.then_some(SharedState {
            sync_every: Duration::from_secs(1),
            lease_block: 0.05,
            propagation_delay: Duration::from_millis(1),
        }),
        store_faults: faults,
    })
}

#[derive(Default, Debug, PartialEq)]
struct Tally {
    requests: u64,
    failed: u64,
    served: [u64; 2],
    /// Sum of the requests' end times, in nanoseconds: any change of timing shows.
    ends: u64,
}

impl Observer for Tally {
    fn finished(&mut self, r: &Finished<'_>) {
        self.requests += 1;
        self.ends = self.ends.wrapping_add(r.end.as_nanos());
        match r.outcome {
            FinalOutcome::Served(t) => self.served[t.index()] += 1,
            FinalOutcome::Failed(_) => self.failed += 1,
        }
    }
}

fn run_fleet(p: &SimParams) -> (Tally, FleetFigures) {
    let mut tally = Tally::default();
    let out = run(p, &mut tally).unwrap();
    assert_eq!(
        out.replicas.len() + 1,
        p.fleet.as_ref().map_or(1, |f| f.replicas as usize)
    );
    (tally, out.fleet.unwrap())
}

fn share_429(f: &FleetFigures) -> f64 {
    f.providers[0].rate_limited as f64 / f.providers[0].requests.max(1) as f64
}

#[test]
fn shared_leases_hold_the_providers_limit_fleet_wide_and_none_over_admits() {
    let (shared_tally, shared) = run_fleet(&params("", 30.0, 300, fleet(true, Vec::new())));
    let (_, none) = run_fleet(&params("", 30.0, 300, fleet(false, Vec::new())));
    assert!(share_429(&shared) < 0.01, "shared: {shared:?}");
    assert!(share_429(&none) > 0.10, "none: {none:?}");
    // The overflow spilled to `b`; nothing failed.
    assert_eq!(shared_tally.failed, 0);
    assert!(shared_tally.served[1] > 0);
    assert_eq!(
        shared.per_replica.iter().sum::<u64>(),
        shared_tally.requests
    );
    let max = *shared.per_replica.iter().max().unwrap();
    let min = *shared.per_replica.iter().min().unwrap();
    assert!(max - min <= 1, "round robin: {:?}", shared.per_replica);
}

const OUTAGE: &str = "faults:\n  - { name: outage, kind: http, status: 503, at: 60s, for: 60s }\n";

#[test]
fn the_fleet_stops_sending_within_a_sync_of_the_first_detection() {
    // A partial outage: each replica sees five failures in a row at its own time.
    let partial =
        "faults:\n  - { name: outage, kind: http, status: 503, rate: 0.6, at: 60s, for: 60s }\n";
    let (_, shared) = run_fleet(&params(partial, 6.0, 180, fleet(true, Vec::new())));
    let (_, none) = run_fleet(&params(partial, 6.0, 180, fleet(false, Vec::new())));
    let stop = shared.targets[0].stopped_after.unwrap();
    assert!(stop <= Duration::from_millis(1_010), "shared: {stop:?}");
    // Evenly loaded replicas on their own detect about together here; never sooner.
    let alone = none.targets[0].stopped_after.unwrap();
    assert!(
        alone >= stop,
        "each replica on its own: {alone:?} vs {stop:?}"
    );
}

#[test]
fn a_recovering_target_gets_the_probes_of_one_gateway() {
    let (shared_tally, shared) = run_fleet(&params(OUTAGE, 6.0, 180, fleet(true, Vec::new())));
    let (_, none) = run_fleet(&params(OUTAGE, 6.0, 180, fleet(false, Vec::new())));
    let (one_tally, one) = run_fleet(&params(
        OUTAGE,
        6.0,
        180,
        Some(SimFleet {
            replicas: 1,
            ..fleet(false, Vec::new()).unwrap()
        }),
    ));
    let probes = shared.targets[0].probes;
    assert!(probes > 0);
    assert!(
        probes <= one.targets[0].probes + 3,
        "shared {probes}, one gateway {}",
        one.targets[0].probes
    );
    assert!(
        none.targets[0].probes >= 2 * probes,
        "none {} vs shared {probes}",
        none.targets[0].probes
    );
    assert_eq!(shared_tally.failed, 0);
    assert_eq!(one_tally.failed, 0);
}

#[test]
fn a_store_down_or_partitioned_degrades_traffic_continues_and_rejoins() {
    let down = StoreFault {
        name: "store-down".into(),
        kind: StoreFaultKind::Down,
        from: Instant::ZERO + Duration::from_secs(60),
        to: Instant::ZERO + Duration::from_secs(120),
    };
    let (tally, f) = run_fleet(&params("", 15.0, 180, fleet(true, vec![down])));
    assert_eq!((f.degraded, f.rejoined), (3, 3));
    assert_eq!(tally.failed, 0);
    assert!(share_429(&f) < 0.02, "degraded: each takes a third: {f:?}");
    let cut = StoreFault {
        name: "cut".into(),
        kind: StoreFaultKind::Partitioned(2),
        from: Instant::ZERO + Duration::from_secs(60),
        to: Instant::ZERO + Duration::from_secs(120),
    };
    let (_, f) = run_fleet(&params("", 15.0, 180, fleet(true, vec![cut])));
    assert_eq!((f.degraded, f.rejoined), (1, 1));
    let slow = StoreFault {
        name: "slow".into(),
        kind: StoreFaultKind::Slow(Duration::from_millis(300)),
        from: Instant::ZERO + Duration::from_secs(60),
        to: Instant::ZERO + Duration::from_secs(120),
    };
    let (tally, f) = run_fleet(&params("", 15.0, 180, fleet(true, vec![slow])));
    assert_eq!((f.degraded, f.rejoined), (3, 3), "past the timeout: {f:?}");
    assert_eq!(tally.failed, 0);
}

#[test]
fn the_same_seed_gives_the_same_fleet_run_and_one_replica_alone_is_the_plain_router() {
    let p = params(OUTAGE, 6.0, 120, fleet(true, Vec::new()));
    assert_eq!(run_fleet(&p), run_fleet(&p));
    let mut random = params(OUTAGE, 6.0, 120, fleet(true, Vec::new()));
    if let Some(f) = random.fleet.as_mut() {
        f.load_balance = LoadBalance::Random;
    }
    let (_, r) = run_fleet(&random);
    assert_eq!(run_fleet(&random).1, r);
    assert!(
        r.per_replica.iter().all(|&n| n > 150),
        "{:?}",
        r.per_replica
    );
    let plain = params(OUTAGE, 6.0, 120, None);
    let mut lone = plain.clone();
    lone.fleet = Some(SimFleet {
        replicas: 1,
        ..fleet(false, Vec::new()).unwrap()
    });
    let mut a = Tally::default();
    let mut b = Tally::default();
    let x = run(&plain, &mut a).unwrap();
    let y = run(&lone, &mut b).unwrap();
    assert_eq!(a, b);
    assert_eq!(x.events, y.events);
}
