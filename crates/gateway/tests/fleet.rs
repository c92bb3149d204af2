//! `gateway.shared_state`: two gateways serving on 127.0.0.1:0 share one `redis-server`. A
//! target that dies is opened by the first gateway; the second stops sending to it within
//! one sync period, without having sent it a failing request of its own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use support::fleet::{Served, alive, chat, joined, learned_within_one_sync, shared_state};
use switchyard_fleet::RedisServer;
use switchyard_gateway::Gateway;
use switchyard_live::{InProcess, Transport};
use tower::ServiceExt;

/// An upstream that answers as a fake until it dies, then 503 to everything; counts hits.
#[derive(Clone)]
struct Dying {
    dead: Arc<AtomicBool>,
    hits: Arc<AtomicU64>,
    fake: axum::Router,
}

async fn dying(State(d): State<Dying>, req: Request<Body>) -> Response {
    d.hits.fetch_add(1, Ordering::Relaxed);
    if d.dead.load(Ordering::Relaxed) {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    d.fake.clone().oneshot(req).await.unwrap().into_response()
}

fn config(redis: &str, replica: u32) -> String {
    config_with(redis, replica, "")
}

/// The config, `t` with extra fields (`limits: ...`).
fn config_with(redis: &str, replica: u32, t_extra: &str) -> String {
    format!(
        "providers:\n  - {{ name: p, dialect: openai, base_url: 'https://x', fake_base_url: 'http://dying.stub' }}\n  - {{ name: q, dialect: openai, base_url: 'https://y', fake_base_url: 'http://q.fake' }}\n\
         router:\n  targets:\n    - {{ name: t, provider: p, model: m, breaker: {{ consecutive_failures: 1, open_for: 1h, open_max: 1h }}{t_extra} }}\n    - {{ name: backup, provider: q, model: m }}\n\
         \x20 routes:\n    - {{ name: chat, policy: priority, tiers: [[t], [backup]] }}\n  plan: {{ max_attempts: 2 }}\n\
         {}",
        shared_state(redis, replica)
    )
}

/// `t` on `upstream`, `backup` on a fake.
fn transport(upstream: &Dying) -> Transport {
    Transport::new(
        InProcess::new()
            .with(
                "dying.stub",
                axum::Router::new()
                    .fallback(dying)
                    .with_state(upstream.clone()),
            )
            .with("q.fake", support::fake("q")),
    )
}

async fn start(redis: &str, replica: u32, upstream: &Dying) -> Served {
    start_with(&config(redis, replica), upstream).await
}

async fn start_with(config: &str, upstream: &Dying) -> Served {
    support::fleet::serve(config, transport(upstream)).await
}

fn breaker_of_t(gw: &Gateway) -> &'static str {
    gw.router()
        .snapshot()
        .into_iter()
        .find(|t| t.name == "t")
        .unwrap()
        .breaker
}

fn upstream() -> Dying {
    Dying {
        dead: Arc::new(AtomicBool::new(false)),
        hits: Arc::new(AtomicU64::new(0)),
        fake: support::fake("p"),
    }
}

const LIMITED: &str = ", limits: { requests_per_minute: 600 }";

/// A rate-limited target is leased from the shared bucket: the gateway serves once its first
/// sync has answered, so its very first request finds a lease block and goes to `t`, even
/// when the store takes 50 ms (within the store timeout, 100 ms) to answer that sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_request_on_a_rate_limited_target_is_admitted_from_the_first_lease() {
    let redis = RedisServer::start("fleet", &[]).await.unwrap();
    redis.pause().unwrap();
    let upstream = upstream();
    let g = start_with(&config_with(&redis.url(), 1, LIMITED), &upstream).await;
    let slow_store = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        redis.resume().unwrap();
    };
    let ((status, text), ()) = tokio::join!(chat(g.addr), slow_store);
    assert_eq!(status, 200, "{text}");
    assert_eq!(upstream.hits.load(Ordering::Relaxed), 1, "not sent to t");
    let held = g.gw.router().with_core(|r, _| {
        r.fleet()
            .and_then(|f| f.leases(0))
            .and_then(|l| l[0].as_ref())
            .map(|l| (l.held(), l.is_degraded()))
    });
    // A block is 5 % of 600: 30, one spent.
    assert_eq!(held, Some((29, false)));
}

/// A store that does not answer at start: the first sync times out (half the sync period)
/// and the gateway serves from a local bucket holding one block, so the first request still
/// goes to `t`; the store back, the gateway rejoins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_silent_at_start_delays_serving_by_one_timeout_then_admits_locally() {
    let redis = RedisServer::start("fleet", &[]).await.unwrap();
    redis.pause().unwrap();
    let upstream = upstream();
    let g = start_with(&config_with(&redis.url(), 1, LIMITED), &upstream).await;
    let (status, text) = chat(g.addr).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(upstream.hits.load(Ordering::Relaxed), 1, "not sent to t");
    let degraded =
        g.gw.router()
            .with_core(|r, _| r.fleet().is_some_and(|f| f.degraded_since().is_some()));
    assert!(degraded);
    redis.resume().unwrap();
    let t0 = tokio::time::Instant::now();
    while alive(&g.gw) < 1
        || g.gw
            .router()
            .with_core(|r, _| r.fleet().is_some_and(|f| f.degraded_since().is_some()))
    {
        assert!(t0.elapsed() < Duration::from_secs(5), "never rejoined");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn held(gw: &Gateway) -> Option<u64> {
    gw.router().with_core(|r, _| {
        r.fleet()
            .and_then(|f| f.leases(0))
            .and_then(|l| l[0].as_ref())
            .map(switchyard_core::fleet::Lease::held)
    })
}

/// A reload keeps the lease the old router held (the shared bucket does not leak a block
/// until it refills), and gives back one whose limit changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_lease_block_or_gives_it_back() {
    let redis = RedisServer::start("fleet", &[]).await.unwrap();
    let dir = std::env::temp_dir().join(format!("switchyard-gw-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gw.yaml");
    std::fs::write(&path, config_with(&redis.url(), 1, LIMITED)).unwrap();
    let gw = Gateway::from_file(path.clone(), transport(&upstream())).unwrap();
    gw.fleet_joined().await;
    assert_eq!(held(&gw), Some(30));
    let probe = switchyard_fleet::RedisStore::connect(
        &redis.url(),
        switchyard_fleet::StoreOptions::default(),
    )
    .unwrap();
    let bucket = switchyard_fleet::BucketKey::new(switchyard_fleet::Resource::Requests, "t");
    let left = async || {
        probe
            .take(&bucket, switchyard_fleet::BucketSpec::per_minute(600), 0)
            .await
            .unwrap()
            .left
    };
    assert!((570..575).contains(&left().await));
    gw.reload().unwrap();
    assert_eq!(held(&gw), Some(30), "the reload dropped the lease");
    // The limit goes: the 30 units go back to the bucket with the next publish (a tenth of
    // the sync period), long before it refills them (10 a second).
    std::fs::write(&path, config_with(&redis.url(), 1, "")).unwrap();
    gw.reload().unwrap();
    assert_eq!(held(&gw), None);
    let t0 = tokio::time::Instant::now();
    while left().await < 595 {
        assert!(t0.elapsed() < Duration::from_secs(1), "never given back");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_opened_by_one_gateway_is_avoided_by_the_other_within_one_sync() {
    let redis = RedisServer::start("fleet", &[]).await.unwrap();
    let url = redis.url();
    let upstream = upstream();
    let g1 = start(&url, 1, &upstream).await;
    let g2 = start(&url, 2, &upstream).await;
    joined(&[&g1, &g2]).await;

    // Alive: gateway 2 sends to `t`.
    let (status, _) = chat(g2.addr).await;
    assert_eq!(status, 200);
    assert_eq!(upstream.hits.load(Ordering::Relaxed), 1);

    // `t` dies; gateway 1's next request fails on it (its breaker opens) and falls back.
    upstream.dead.store(true, Ordering::Relaxed);
    let (status, _) = chat(g1.addr).await;
    assert_eq!(status, 200);
    assert_eq!(breaker_of_t(&g1.gw), "open");
    let opened = tokio::time::Instant::now();
    let hits = upstream.hits.load(Ordering::Relaxed);
    assert_eq!(hits, 2);

    // Gateway 2 learns it within one sync period (plus the publisher's tick and slack)...
    learned_within_one_sync(opened, || breaker_of_t(&g2.gw) == "open").await;
    // ...and from then on sends nothing to `t`.
    for _ in 0..3 {
        let (status, text) = chat(g2.addr).await;
        assert_eq!(status, 200, "{text}");
    }
    assert_eq!(upstream.hits.load(Ordering::Relaxed), hits);
}

/// A gateway of `config(redis, replica)`, not serving.
fn gateway(redis: &str, replica: u32) -> Arc<Gateway> {
    let params = switchyard_live::config::load_live(&config(redis, replica), "gw.yaml").unwrap();
    Gateway::new(&params, None, transport(&upstream())).unwrap()
}

/// Two gateways configured with one replica number: the second, started after the first's
/// claim was renewed by its sync task, is refused, naming the number, within the claim's life (three sync periods) and a sync; once the first has left
/// the fleet (its number given back) a third gets it at once; a number left by a gateway
/// that died (never given back) is free once its claim expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_with_the_same_replica_number_is_refused() {
    let redis = RedisServer::start("fleet", &[]).await.unwrap();
    let first = gateway(&redis.url(), 7);
    first.claim_replica().await.unwrap();
    // Past the first claim's life: its sync task renews it.
    tokio::time::sleep(support::fleet::SYNC * 4).await;
    let t0 = tokio::time::Instant::now();
    let e = gateway(&redis.url(), 7)
        .claim_replica()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("replica 7 is held by another gateway sharing the store at ")
            && e.contains("each gateway of a fleet needs its own `gateway.shared_state.replica`"),
        "{e}"
    );
    assert!(
        !e.contains("redis://"),
        "no URL (it may hold a password): {e}"
    );
    let took = t0.elapsed();
    assert!(took <= support::fleet::SYNC * 5, "refused after {took:?}");
    // Another number is no conflict.
    gateway(&redis.url(), 8).claim_replica().await.unwrap();
    // Given back on leaving: the next one with 7 is not refused, nor kept waiting.
    first.leave_fleet().await;
    let third = gateway(&redis.url(), 7);
    let t0 = tokio::time::Instant::now();
    third.claim_replica().await.unwrap();
    assert!(t0.elapsed() < support::fleet::SYNC, "{:?}", t0.elapsed());
    // A gateway that dies keeps 7 until its claim expires: the next one waits that out.
    drop(third);
    let t0 = tokio::time::Instant::now();
    gateway(&redis.url(), 7).claim_replica().await.unwrap();
    let waited = t0.elapsed();
    assert!(
        waited >= support::fleet::SYNC && waited <= support::fleet::SYNC * 5,
        "{waited:?}"
    );
}

/// The shared state under `redis`'s keys other than the replica claims: each key with its
/// fields, read with `redis-cli` (the claim itself is the refused gateway's to try).
fn shared_buckets(redis: &RedisServer) -> Vec<String> {
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .arg("-s")
            .arg(redis.socket())
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let mut keys: Vec<String> = cli(&["--scan", "--pattern", "*bucket*"])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    assert!(!keys.is_empty(), "no shared bucket in the store");
    keys.iter()
        .map(|k| format!("{k}: {}", cli(&["HGETALL", k]).replace('\n', " ")))
        .collect()
}

/// A gateway refused its replica number (another live gateway holds it) must not have acted
/// as that replica in the store first: its sync task, started by `Gateway::new` before
/// `claim_replica`, syncs as replica 7 while the claim is being decided (about three sync
/// periods), taking a lease block from the shared bucket that is never given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_refused_its_replica_number_leaves_the_shared_state_alone() {
    let redis = RedisServer::start("fleet", &[]).await.unwrap();
    let params = |replica| {
        switchyard_live::config::load_live(&config_with(&redis.url(), replica, LIMITED), "gw.yaml")
            .unwrap()
    };
    let first = Gateway::new(&params(7), None, transport(&upstream())).unwrap();
    first.claim_replica().await.unwrap();
    first.fleet_joined().await;
    // The first gateway holds its lease block and spends nothing: the bucket stays as it is.
    tokio::time::sleep(support::fleet::SYNC * 3).await;
    let before = shared_buckets(&redis);
    tokio::time::sleep(support::fleet::SYNC * 2).await;
    assert_eq!(shared_buckets(&redis), before, "the first gateway alone");
    let second = Gateway::new(&params(7), None, transport(&upstream())).unwrap();
    let refused = second.claim_replica().await;
    assert!(refused.is_err(), "{refused:?}");
    drop(second);
    assert_eq!(
        shared_buckets(&redis),
        before,
        "a refused gateway took from the shared bucket"
    );
}

/// A store that does not answer at start is no refusal (FLEET.md): `claim_replica` returns
/// within the store's timeout, and the sync task claims the number once the store answers, so
/// that a gateway started next with it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_silent_at_start_is_no_refusal_and_the_number_is_claimed_once_it_answers() {
    let redis = RedisServer::start("fleet", &[]).await.unwrap();
    redis.pause().unwrap();
    let first = gateway(&redis.url(), 7);
    let t0 = tokio::time::Instant::now();
    first.claim_replica().await.unwrap();
    assert!(t0.elapsed() < support::fleet::SYNC, "{:?}", t0.elapsed());
    redis.resume().unwrap();
    // Two syncs: the sync task has claimed 7 and renewed it since.
    tokio::time::sleep(support::fleet::SYNC * 2).await;
    let refused = gateway(&redis.url(), 7).claim_replica().await;
    assert!(refused.is_err(), "{refused:?}");
    drop(first);
}

/// A number left by a gateway that died with a longer `sync_every` (its claim lasting longer
/// than this gateway's three sync periods) is still a dead gateway's: FLEET.md says a gateway
/// started with it waits that out, but `Claimer::claim` refuses any claim with more left than
/// its own ttl plus a sync ("held by another gateway", exit 2) without seeing it renewed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_claim_left_by_a_dead_gateway_is_waited_out() {
    let redis = RedisServer::start("fleet", &[]).await.unwrap();
    let store = switchyard_fleet::RedisStore::connect(
        &redis.url(),
        switchyard_fleet::StoreOptions::default(),
    )
    .unwrap();
    // A gateway with `sync_every: 400ms` claimed 7 and died: nobody renews it.
    let left = support::fleet::SYNC * 6;
    assert!(store.claim(7, 1, left).await.unwrap().granted);
    let t0 = tokio::time::Instant::now();
    let claimed = gateway(&redis.url(), 7).claim_replica().await;
    assert!(claimed.is_ok(), "after {:?}: {claimed:?}", t0.elapsed());
    assert!(
        t0.elapsed() >= left - support::fleet::SYNC,
        "{:?}",
        t0.elapsed()
    );
}
