//! What the fleet's store costs: each operation's latency against a local `redis-server`
//! (over a unix socket, then over TCP on loopback; one client, one operation at a time), the latency of one replica's sync
//! round, the store's throughput with many callers, and the operations per second one
//! replica's sync task needs.
//!
//! `cargo bench -p switchyard-fleet --bench ops` (needs `redis-server` on the PATH; it starts
//! its own). Optional arguments: `--iters N` (per operation, default 2000).
//!
//! The sync task's load per replica, per sync period:
//!
//! ```text
//! ops per period = 1                advisories since the last read (one page)
//!                + A                advise: the replica's new advisories (coalesced per kind and target)
//!                + L                take: one lease per bucket below its low-water mark
//!                + G                give back: expiring leases with unused units (G <= L)
//!                + 1                heartbeat
//! ops/s = ops per period / sync_every
//! ```
//!
//! A lease block covers a sync period of traffic, so L is at most one take per bucket
//! (target x {requests, tokens, cost}) per period, whatever the request rate; the request
//! rate only sets how big the blocks must be (>= the replica's share of a bucket's units per
//! period), not how many operations there are.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench"
)]

use std::time::Duration;

use hdrhistogram::Histogram;
use switchyard_fleet::{
    Advice, AdvisoryKey, AdvisoryKind, BucketKey, BucketSpec, Cursor, RedisStore, Resource,
    StoreOptions, UnixMs, Until,
};
use tokio::time::Instant;

struct Row {
    name: &'static str,
    hist: Histogram<u64>,
}

fn print(rows: &[Row]) {
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "operation", "p50 us", "p90 us", "p99 us", "max us", "ops/s (1)"
    );
    for r in rows {
        let h = &r.hist;
        println!(
            "{:<34} {:>9} {:>9} {:>9} {:>9} {:>10.0}",
            r.name,
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.max(),
            1e6 / h.mean()
        );
    }
}

async fn measure<F, Fut>(name: &'static str, iters: u32, mut op: F) -> Row
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = ()>,
{
    // The argument counts on across the warm-up, so writes that must win keep winning.
    let warm = iters / 10;
    for i in 0..warm {
        op(i).await;
    }
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for i in warm..warm + iters {
        let start = Instant::now();
        op(i).await;
        hist.record(start.elapsed().as_micros() as u64).unwrap();
    }
    Row { name, hist }
}

fn main() {
    let mut iters = 2000u32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--iters" {
            iters = args.next().and_then(|n| n.parse().ok()).expect("--iters N");
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(iters));
}

async fn run(iters: u32) {
    // One server on both a unix socket and a TCP port on loopback: a replica on the store's
    // host uses either; across hosts it is TCP plus the network's round trip.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let port_arg = port.to_string();
    let server = switchyard_fleet::RedisServer::start(
        "fleet",
        &["--port", &port_arg, "--bind", "127.0.0.1"],
    )
    .await
    .unwrap();
    let version = redis_version(&server).await;
    for (transport, url) in [
        ("a unix socket", server.url()),
        ("TCP on 127.0.0.1", format!("redis://127.0.0.1:{port}")),
    ] {
        println!(
            "\nfleet store latency: redis-server {version} on {transport}, one caller, {iters} iterations each\n"
        );
        run_on(&url, transport, iters).await;
    }
    print_load();
}

async fn run_on(url: &str, transport: &str, iters: u32) {
    let store = RedisStore::connect(
        url,
        StoreOptions {
            prefix: format!("bench:{{fleet}}:{}:", transport.len()),
            timeout: Duration::from_secs(2),
        },
    )
    .unwrap();
    let now = store.alive().await.unwrap().now;
    let far = now.plus(Duration::from_secs(3600));
    let s = &store;
    // A bucket that never runs dry: the bench measures the script, not the refill.
    let spec = BucketSpec::per_minute(1 << 40);
    let mut rows = Vec::new();
    let (open, head) = advisory_rows(s, now, far, iters, &mut rows).await;
    bucket_probe_and_beat_rows(s, far, spec, iters, &mut rows).await;
    rows.push(sync_round(s, &open, head, far, spec, iters).await);
    print(&rows);
    throughput(&store, spec).await;
}

/// Advising (a write that wins, one that loses) and reading the advisories; returns the
/// advisory written and the cursor at the head of the changes.
async fn advisory_rows(
    s: &RedisStore,
    now: UnixMs,
    far: UnixMs,
    iters: u32,
    rows: &mut Vec<Row>,
) -> (AdvisoryKey, Cursor) {
    // 20 live advisories, as a fleet with a few targets in trouble might hold.
    for i in 0..20 {
        let key = AdvisoryKey::new(AdvisoryKind::Parked, format!("target-{i}"));
        s.advise(&key, &advice(Until::At(far))).await.unwrap();
    }
    let open = AdvisoryKey::new(AdvisoryKind::Open, "target-0");
    rows.push(
        measure("advise (wins: a write)", iters, |i| {
            let a = advice(Until::At(UnixMs(far.0 + u64::from(i) + 1)));
            let open = &open;
            async move {
                assert!(s.advise(open, &a).await.unwrap().accepted);
            }
        })
        .await,
    );
    let old = advice(Until::At(now.plus(Duration::from_secs(60))));
    rows.push(
        measure("advise (loses: no write)", iters, |_| async {
            assert!(!s.advise(&open, &old).await.unwrap().accepted);
        })
        .await,
    );
    let head = s.advisories_since(Cursor::default(), 256).await.unwrap();
    rows.push(
        measure("advisories since (no change)", iters, |_| async {
            let page = s.advisories_since(head.cursor, 256).await.unwrap();
            assert!(page.advisories.is_empty());
        })
        .await,
    );
    rows.push(
        measure("advisories since (all 21 live)", iters, |_| async {
            let page = s.advisories_since(Cursor::default(), 256).await.unwrap();
            assert_eq!(page.advisories.len(), 21);
        })
        .await,
    );
    (open, head.cursor)
}

/// Taking and giving back bucket units, the probe token, heartbeats.
async fn bucket_probe_and_beat_rows(
    s: &RedisStore,
    far: UnixMs,
    spec: BucketSpec,
    iters: u32,
    rows: &mut Vec<Row>,
) {
    let bucket = BucketKey::new(Resource::Tokens, "target-0");
    rows.push(
        measure("take", iters, |_| async {
            assert_eq!(s.take(&bucket, spec, 1000).await.unwrap().granted, 1000);
        })
        .await,
    );
    rows.push(
        measure("give back", iters, |_| async {
            s.give_back(&bucket, 500).await.unwrap();
        })
        .await,
    );
    rows.push(
        measure("try probe (holder renews)", iters, |i| async move {
            let until = UnixMs(far.0 + u64::from(i));
            assert!(s.try_probe("target-1", 1, until).await.unwrap().granted);
        })
        .await,
    );
    rows.push(
        measure("try probe + release", iters, |_| async {
            assert!(s.try_probe("target-2", 1, far).await.unwrap().granted);
            assert!(s.release_probe("target-2", 1).await.unwrap());
        })
        .await,
    );
    rows.push(
        measure("beat", iters, |i| async move {
            s.beat(i % 3, far).await.unwrap();
        })
        .await,
    );
    rows.push(
        measure("alive", iters, |_| async {
            s.alive().await.unwrap();
        })
        .await,
    );
}

/// One replica's sync round, one operation after another.
async fn sync_round(
    s: &RedisStore,
    open: &AdvisoryKey,
    head: Cursor,
    far: UnixMs,
    spec: BucketSpec,
    iters: u32,
) -> Row {
    // One replica's sync round, one operation after another: a read, one new advisory,
    // leases for 3 targets x 2 resources, 3 give-backs, a heartbeat (12 operations).
    let keys: Vec<BucketKey> = (0..3)
        .flat_map(|t| {
            [Resource::Requests, Resource::Tokens].map(|r| BucketKey::new(r, format!("target-{t}")))
        })
        .collect();
    let keys = &keys;
    let mut cursor = head;
    let cursor = &mut cursor;
    measure("sync round (12 ops, sequential)", iters / 4, |i| {
        let a = advice(Until::At(UnixMs(far.0 + 10_000 + u64::from(i))));
        let c = *cursor;
        async move {
            let _page = s.advisories_since(c, 256).await.unwrap();
            s.advise(open, &a).await.unwrap();
            for k in keys {
                s.take(k, spec, 100).await.unwrap();
            }
            for k in &keys[..3] {
                s.give_back(k, 10).await.unwrap();
            }
            s.beat(0, far).await.unwrap();
        }
    })
    .await
}

/// Throughput: many callers at once (the store's capacity for a fleet).
async fn throughput(store: &RedisStore, spec: BucketSpec) {
    for callers in [1usize, 8, 32] {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut set = tokio::task::JoinSet::new();
        for c in 0..callers {
            let s = store.clone();
            let k = BucketKey::new(Resource::Requests, format!("t-{c}"));
            set.spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    s.take(&k, spec, 1).await.unwrap();
                    n += 1;
                }
                n
            });
        }
        let mut total = 0;
        while let Some(n) = set.join_next().await {
            total += n.unwrap();
        }
        println!(
            "throughput, {callers:>2} concurrent callers of take: {:>7.0} ops/s",
            total as f64 / 2.0
        );
    }
}

/// What one replica's sync task asks of the store (the formula in this file's docs).
fn print_load() {
    println!(
        "\nper-replica store load: (1 read + A advise + L take + G give back + 1 beat) / sync_every"
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8}",
        "fleet (targets x resources, sync_every)", "A", "L=G", "ops/s"
    );
    for (targets, resources, sync_ms, a) in [
        (3u32, 2u32, 1000u32, 0u32),
        (3, 2, 1000, 3),
        (10, 3, 1000, 5),
        (10, 3, 250, 5),
    ] {
        let l = targets * resources;
        let per_period = 1 + a + l + l + 1;
        println!(
            "{:<44} {:>8} {:>8} {:>8.0}",
            format!("{targets} x {resources}, {sync_ms} ms"),
            a,
            l,
            f64::from(per_period) * 1000.0 / f64::from(sync_ms)
        );
    }
    println!(
        "(the same at 1 000 or 5 000 requests/s: the request rate sizes the lease blocks, not \
         the number of operations)"
    );
}

fn advice(until: Until) -> Advice {
    Advice {
        until,
        since: UnixMs(0),
        payload: "timeout".to_string(),
    }
}

async fn redis_version(server: &switchyard_fleet::RedisServer) -> String {
    let mut con = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut con)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .trim()
        .to_string()
}
