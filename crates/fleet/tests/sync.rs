//! The sync task against a real Redis: two routers, each with its own task, sharing one
//! `redis-server`. An open breaker reaches the peer within one sync, leases are taken and
//! given back, and a killed Redis degrades both replicas, which rejoin when it returns.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_core::config::load_router;
use switchyard_core::fleet::FleetParams;
use switchyard_core::health::BreakerState;
use switchyard_core::id::TargetId;
use switchyard_core::outcome::{AttemptReport, ErrorKind, Outcome};
use switchyard_core::plan::Action;
use switchyard_core::request::Request;
use switchyard_core::rng::SeededRng;
use switchyard_core::router::Router;
use switchyard_core::time::Instant;
use switchyard_fleet::RedisServer;
use switchyard_fleet::sync::{self, Replica, StoreClock, SyncHandle, SyncOptions};
use switchyard_fleet::{BucketKey, BucketSpec, RedisStore, Resource, StoreError, StoreOptions};

const CONFIG: &str = "\
targets:
  - { name: a, provider: pa, model: ma, context_window: 8000,
      limits: { requests_per_minute: 600, tokens_per_minute: 6000 } }
  - { name: b, provider: pb, model: mb, context_window: 8000 }
routes:
  - { name: solo, policy: static, targets: [a] }
plan: { max_attempts: 1, attempt_timeout: 10s, deadline: 30s }
breaker: { consecutive_failures: 3, open_for: 20s, probes: 1, probe_successes: 1, recovery: 10s }
";

const SYNC: Duration = Duration::from_millis(200);

/// One replica: a router behind a lock, on its own clock (started when it was made).
struct Host {
    router: Mutex<Router>,
    start: tokio::time::Instant,
    log: Mutex<Vec<String>>,
}

impl Host {
    fn new(replica: u32) -> Arc<Host> {
        let mut r = Router::new(
            load_router(CONFIG, "sync.yaml").unwrap(),
            SeededRng::new(u64::from(replica) + 1),
        );
        r.join_fleet(FleetParams {
            replica,
            sync_every: SYNC.into(),
            ..FleetParams::default()
        });
        Arc::new(Host {
            router: Mutex::new(r),
            start: tokio::time::Instant::now(),
            log: Mutex::new(Vec::new()),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Router) -> T) -> T {
        f(&mut self.router.lock().unwrap())
    }

    fn degraded_now(&self) -> bool {
        self.with(|r| r.fleet().unwrap().degraded_since().is_some())
    }

    /// Sends one request to `solo` (target `a`) answered with `outcome`.
    fn send(&self, outcome: Outcome) {
        let now = self.now();
        self.with(|r| {
            let req = Request {
                route: "solo".into(),
                max_tokens: Some(100),
                estimated_prompt_tokens: 100,
                ..Request::default()
            };
            let mut plan = r.begin(&req, now);
            if let Action::Send { attempt, .. } = r.next(&mut plan, now) {
                let report =
                    AttemptReport::new(outcome, switchyard_core::time::Duration::from_millis(10));
                r.record(&mut plan, attempt, report, now);
            }
            r.abandon(&mut plan, now);
        });
    }

    fn breaker(&self) -> BreakerState {
        self.with(|r| r.health(TargetId::new(0)).breaker.state())
    }
}

impl Replica for Host {
    fn now(&self) -> Instant {
        Instant::ZERO + switchyard_core::time::Duration::from(self.start.elapsed())
    }

    fn with_router<T: Default>(&self, f: impl FnOnce(&mut Router) -> T) -> T {
        self.with(f)
    }

    fn degraded(&self, failure: Option<&StoreError>) {
        let line = match failure {
            Some(e) => format!("degraded: {e}"),
            None => "rejoined".to_string(),
        };
        self.log.lock().unwrap().push(line);
    }

    fn claim_held(&self, held: bool) {
        let line = if held { "claim held" } else { "claim refused" };
        self.log.lock().unwrap().push(line.to_string());
    }
}

impl Host {
    fn claim_lines(&self) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|l| l.starts_with("claim"))
            .cloned()
            .collect()
    }
}

fn store(server: &RedisServer) -> RedisStore {
    RedisStore::connect(
        &server.url(),
        StoreOptions {
            prefix: "t:{sync}:".to_string(),
            timeout: SYNC / 2,
        },
    )
    .unwrap()
}

fn start(host: &Arc<Host>, server: &RedisServer) -> SyncHandle {
    let clock = StoreClock::at(host.now());
    sync::spawn(host.clone(), store(server), clock, SyncOptions::every(SYNC))
}

/// Waits up to `limit` for `cond`; how long it took.
async fn until(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = tokio::time::Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

fn held(host: &Host, lease: usize) -> u64 {
    host.with(|r| {
        r.fleet().unwrap().leases(0).unwrap()[lease]
            .as_ref()
            .unwrap()
            .held()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_reaches_the_peer_within_one_sync_and_leases_come_and_go() {
    // Long: one fleet over one Redis, in order: joined, leases taken, surplus given back, open.
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    let (h0, h1) = (Host::new(0), Host::new(1));
    let _t0 = start(&h0, &server);
    let _t1 = start(&h1, &server);
    let both = || {
        [&h0, &h1]
            .iter()
            .all(|h| h.with(|r| r.fleet().unwrap().alive()) == 2)
    };
    until(Duration::from_secs(5), both)
        .await
        .expect("both replicas see two alive");

    // Leases taken: each holds a block (5 % of 600 requests a minute); the shared bucket
    // lost both (it refills 10 a second: one block alone would leave it above 560).
    assert_eq!((held(&h0, 0), held(&h1, 0)), (30, 30));
    let probe = store(&server);
    let req = BucketKey::new(Resource::Requests, "a");
    let left = probe
        .take(&req, BucketSpec::per_minute(600), 0)
        .await
        .unwrap()
        .left;
    assert!((540..560).contains(&left), "requests left {left}");

    // Tokens: 200 reserved at admission (prompt and max_tokens), 100 used; the surplus over
    // the block goes back to the shared bucket at the next sync.
    let tok = BucketKey::new(Resource::Tokens, "a");
    let now = h0.now();
    let (plan, attempt) = h0.with(|r| {
        let req = Request {
            route: "solo".into(),
            max_tokens: Some(100),
            estimated_prompt_tokens: 100,
            ..Request::default()
        };
        let mut plan = r.begin(&req, now);
        let Action::Send { attempt, .. } = r.next(&mut plan, now) else {
            panic!("not sent");
        };
        (plan, attempt)
    });
    until(Duration::from_secs(3), || held(&h0, 1) == 300)
        .await
        .expect("topped up");
    // The bucket's level before the surplus comes back (the task may return it at once).
    let spec = BucketSpec::per_minute(6_000);
    let before = probe.take(&tok, spec, 0).await.unwrap().left;
    let now = h0.now();
    h0.with(|r| {
        let mut plan = plan;
        let report = AttemptReport {
            prompt_tokens: 100,
            completion_tokens: 0,
            ..AttemptReport::new(
                Outcome::Success,
                switchyard_core::time::Duration::from_millis(10),
            )
        };
        r.record(&mut plan, attempt, report, now);
        r.abandon(&mut plan, now);
    });
    assert_eq!(held(&h0, 1), 400);
    until(Duration::from_secs(3), || held(&h0, 1) == 300)
        .await
        .expect("the surplus given back");
    // The lease drops it when the sync asks; the store has it within the store's timeout.
    tokio::time::sleep(SYNC / 2 + SYNC / 4).await;
    let after = probe.take(&tok, spec, 0).await.unwrap().left;
    // Refill alone (100 a second) adds about 50 in the half second waited.
    assert!(after >= before + 100, "before {before}, after {after}");

    // Replica 0's breaker opens; replica 1 stops sending within one sync.
    for _ in 0..3 {
        h0.send(Outcome::error(ErrorKind::ServerError));
    }
    let BreakerState::Open { until: opened } = h0.breaker() else {
        panic!("not open: {:?}", h0.breaker());
    };
    let took = until(Duration::from_secs(3), || {
        matches!(h1.breaker(), BreakerState::Open { .. })
    })
    .await
    .expect("the peer never learned the open breaker");
    // One sync period, plus the publisher's tick and scheduling slack.
    assert!(took <= SYNC + SYNC / 2, "learned after {took:?}");
    // The same `until`, through the store's clock (whole milliseconds), on the peer's clock.
    let BreakerState::Open { until: learned } = h1.breaker() else {
        unreachable!()
    };
    // h0's time t is h1's time t + (h0.start - h1.start).
    let offset = h0.start.duration_since(h1.start).as_nanos() as i128
        - h1.start.duration_since(h0.start).as_nanos() as i128;
    let on_h1 = opened.as_nanos() as i128 + offset;
    let diff = (learned.as_nanos() as i128 - on_h1).unsigned_abs();
    assert!(diff < 3_000_000, "until differs by {diff} ns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_degrades_the_replicas_and_restarted_they_rejoin_and_republish() {
    let mut server = RedisServer::start("fleet", &["--requirepass", "s3cr3t-pw"])
        .await
        .unwrap();
    let (h0, h1) = (Host::new(0), Host::new(1));
    let connect = || {
        RedisStore::connect(
            &format!("redis+unix://{}?pass=s3cr3t-pw", server.socket().display()),
            StoreOptions {
                prefix: "t:{sync}:".to_string(),
                timeout: SYNC / 2,
            },
        )
        .unwrap()
    };
    let spawn = |h: &Arc<Host>| {
        sync::spawn(
            h.clone(),
            connect(),
            StoreClock::at(h.now()),
            SyncOptions::every(SYNC),
        )
    };
    // What the gateway logs of the store (its endpoint, its debug form) holds no password.
    let shown = connect();
    assert!(!shown.endpoint().contains("s3cr3t"), "{}", shown.endpoint());
    assert!(!format!("{shown:?}").contains("s3cr3t"));
    let _t0 = spawn(&h0);
    let _t1 = spawn(&h1);
    until(Duration::from_secs(5), || {
        h0.with(|r| r.fleet().unwrap().alive()) == 2 && h1.with(|r| r.fleet().unwrap().alive()) == 2
    })
    .await
    .expect("joined");
    assert!(!h0.degraded_now() && !h1.degraded_now());

    server.stop().await;
    // Both fall back to local state within a sync and its timeout, and log it (the state
    // turns before the line is written: both are waited for).
    until(SYNC * 4, || {
        h0.degraded_now() && h1.degraded_now() && !h0.log.lock().unwrap().is_empty()
    })
    .await
    .expect("degraded");
    let log = h0.log.lock().unwrap().clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].starts_with("degraded: fleet store:"), "{log:?}");
    assert!(!log[0].contains("s3cr3t"), "{log:?}");
    // Traffic goes on, from memory: replica 0's breaker opens while the store is down.
    for _ in 0..3 {
        h0.send(Outcome::error(ErrorKind::ServerError));
    }
    assert!(matches!(h0.breaker(), BreakerState::Open { .. }));
    tokio::time::sleep(SYNC * 2).await;
    assert!(matches!(h1.breaker(), BreakerState::Closed));

    // Redis returns, empty: both rejoin, replica 0 says again what it knows, and replica 1
    // learns it.
    server.start_again().await.unwrap();
    until(Duration::from_secs(5), || {
        !h0.degraded_now() && !h1.degraded_now()
    })
    .await
    .expect("rejoined");
    for h in [&h0, &h1] {
        let stats = h.with(|r| *r.fleet().unwrap().stats());
        assert_eq!((stats.degraded, stats.rejoined), (1, 1), "{stats:?}");
    }
    assert_eq!(h0.log.lock().unwrap().last().unwrap(), "rejoined");
    until(Duration::from_secs(2), || {
        matches!(h1.breaker(), BreakerState::Open { .. })
    })
    .await
    .expect("the open breaker told again after the rejoin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_a_page_of_advisories_is_read_within_one_sync_period() {
    // 600 revocations (three pages) wait in the store when a replica starts.
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    let writer = store(&server);
    let advice = switchyard_fleet::Advice {
        until: switchyard_fleet::Until::Forever,
        since: switchyard_fleet::UnixMs(0),
        payload: String::new(),
    };
    for i in 0..600 {
        let key = switchyard_fleet::AdvisoryKey::new(
            switchyard_fleet::AdvisoryKind::Revoked,
            format!("pa/key-{i}"),
        );
        assert!(writer.advise(&key, &advice).await.unwrap().accepted);
    }
    let h = Host::new(0);
    let _task = start(&h, &server);
    let all = || {
        let now = h.now();
        h.with(|r| (0..600).all(|i| r.fleet().unwrap().is_revoked(&format!("pa/key-{i}"), now)))
    };
    // The first sync reads a page; the next two follow at once (with the next publishes),
    // not one sync period each.
    let took = until(Duration::from_secs(5), all)
        .await
        .expect("every revocation read");
    assert!(took < SYNC, "read all three pages after {took:?}");
}

/// A store that answers every write with an error (out of memory: `--maxmemory 1` with
/// `noeviction`) is one the replica cannot use: it falls back to local state and logs why
/// (the store's error), not "rejoined".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_answering_errors_degrades_the_replica_and_the_log_says_why() {
    let server = RedisServer::start(
        "fleet",
        &["--maxmemory", "1", "--maxmemory-policy", "noeviction"],
    )
    .await
    .unwrap();
    let h0 = Host::new(0);
    let _t0 = start(&h0, &server);
    until(SYNC * 4, || h0.degraded_now())
        .await
        .expect("degraded");
    let log = h0.log.lock().unwrap().clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].starts_with("degraded: fleet store:") && log[0].contains("answered an error"),
        "{log:?}"
    );
}

/// Two processes with one replica number, started while the store does not answer (so
/// neither was refused at start): once it answers, the one that renews second is told its
/// number is held by the other, and told again when the other stops (its claim expired),
/// while the first hears nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_number_held_by_another_process_is_told_at_a_renewal() {
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    server.pause().unwrap();
    let (a, b) = (Host::new(1), Host::new(1));
    let spawn = |host: &Arc<Host>, token| {
        let options = SyncOptions {
            claim: Some(sync::Claim { replica: 1, token }),
            ..SyncOptions::every(SYNC)
        };
        sync::spawn(
            host.clone(),
            store(&server),
            StoreClock::at(host.now()),
            options,
        )
    };
    let (task_a, task_b) = (spawn(&a, 1), spawn(&b, 2));
    tokio::time::sleep(SYNC).await;
    server.resume().unwrap();
    let told = || a.claim_lines().len() + b.claim_lines().len() == 1;
    assert!(
        until(SYNC * 4, told).await.is_some(),
        "{:?} {:?}",
        a.claim_lines(),
        b.claim_lines()
    );
    let (holder, task, other) = if a.claim_lines().is_empty() {
        (a, task_a, b)
    } else {
        (b, task_b, a)
    };
    assert_eq!(other.claim_lines(), ["claim refused"]);
    // The holder stops: its claim expires three sync periods after its last renewal.
    drop(task);
    let regained = || other.claim_lines().len() == 2;
    assert!(
        until(SYNC * 6, regained).await.is_some(),
        "{:?}",
        other.claim_lines()
    );
    assert_eq!(other.claim_lines(), ["claim refused", "claim held"]);
    assert!(holder.claim_lines().is_empty());
}
