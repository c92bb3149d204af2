//! The Redis store beyond the shared rules: TTLs exactly at the stored `until` and untouched
//! by readers, change cursors, hostile records, atomicity under concurrent callers, a store
//! that is down, slow or restarted, and secrets kept out of errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod support;

use std::time::Duration;

use switchyard_fleet::RedisServer;
use switchyard_fleet::{
    Advice, AdvisoryKey, AdvisoryKind, BucketKey, BucketSpec, Cursor, KeyOf, RedisStore, Resource,
    StoreError, StoreOptions, UnixMs, Until,
};

fn store(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::connect(
        &server.url(),
        StoreOptions {
            prefix: format!("t:{{{prefix}}}:"),
            timeout: Duration::from_secs(2),
        },
    )
    .unwrap()
}

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn pexpiretime(con: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(con)
        .await
        .unwrap()
}

fn advice(until: Until) -> Advice {
    Advice {
        until,
        since: UnixMs(0),
        payload: "timeout".to_string(),
    }
}

async fn now(store: &RedisStore) -> UnixMs {
    store.alive().await.unwrap().now
}

#[tokio::test]
async fn every_ttl_is_the_stored_until_and_readers_leave_it() {
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    let s = store(&server, "ttl");
    let mut con = raw(&server).await;
    let t = now(&s).await;

    advisory_ttls(&s, &mut con, t).await;
    probe_and_heartbeat_ttls(&s, &mut con, t).await;
    bucket_ttl(&s, &mut con).await;
}

type Con = redis::aio::MultiplexedConnection;

/// An advisory's record expires at its until, exactly; readers and losing writers leave it.
async fn advisory_ttls(s: &RedisStore, con: &mut Con, t: UnixMs) {
    let key = AdvisoryKey::new(AdvisoryKind::Open, "a");
    let until = t.plus(Duration::from_secs(30));
    assert!(
        s.advise(&key, &advice(Until::At(until)))
            .await
            .unwrap()
            .accepted
    );
    let rec = s.key(KeyOf::Advisory(&key));
    assert_eq!(pexpiretime(con, &rec).await, until.0 as i64);
    // Readers and a losing writer leave it.
    for _ in 0..3 {
        let page = s.advisories_since(Cursor::default(), 10).await.unwrap();
        assert_eq!(page.advisories.len(), 1);
    }
    let older = advice(Until::At(t.plus(Duration::from_secs(10))));
    assert!(!s.advise(&key, &older).await.unwrap().accepted);
    assert_eq!(pexpiretime(con, &rec).await, until.0 as i64);
    // A newer one moves it.
    let later = t.plus(Duration::from_secs(40));
    assert!(
        s.advise(&key, &advice(Until::At(later)))
            .await
            .unwrap()
            .accepted
    );
    assert_eq!(pexpiretime(con, &rec).await, later.0 as i64);
    // A forever advisory has no TTL, even over a record that had one.
    let revoked = AdvisoryKey::new(AdvisoryKind::Revoked, "p/1");
    s.advise(&revoked, &advice(Until::At(until))).await.unwrap();
    s.advise(&revoked, &advice(Until::Forever)).await.unwrap();
    assert_eq!(
        pexpiretime(con, &s.key(KeyOf::Advisory(&revoked))).await,
        -1
    );
}

/// A probe token and the heartbeat set expire at their untils; readers leave them.
async fn probe_and_heartbeat_ttls(s: &RedisStore, con: &mut Con, t: UnixMs) {
    // A probe token: at its until; another replica asking leaves it.
    let probe_until = t.plus(Duration::from_secs(20));
    assert!(s.try_probe("a", 7, probe_until).await.unwrap().granted);
    let probe = s.key(KeyOf::Probe("a"));
    assert_eq!(pexpiretime(con, &probe).await, probe_until.0 as i64);
    let other = s
        .try_probe("a", 8, t.plus(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(!other.granted);
    assert_eq!(other.holder, Some((7, probe_until)));
    assert_eq!(pexpiretime(con, &probe).await, probe_until.0 as i64);

    // Heartbeats: the set expires with the last one; `alive` leaves it.
    s.beat(1, t.plus(Duration::from_secs(9))).await.unwrap();
    s.beat(2, t.plus(Duration::from_secs(12))).await.unwrap();
    let alive = s.key(KeyOf::Alive);
    let last = t.plus(Duration::from_secs(12)).0 as i64;
    assert_eq!(pexpiretime(con, &alive).await, last);
    assert_eq!(s.alive().await.unwrap().replicas, 2);
    assert_eq!(pexpiretime(con, &alive).await, last);
}

/// A bucket expires when it would be full again, and a give-back brings that closer.
async fn bucket_ttl(s: &RedisStore, con: &mut Con) {
    // A bucket: it expires when it would be full again (an absent bucket is a full one).
    let bucket = BucketKey::new(Resource::Tokens, "a");
    let taken = s
        .take(&bucket, BucketSpec::per_minute(600), 300)
        .await
        .unwrap();
    assert_eq!(taken.granted, 300);
    // 300 of 600 a minute come back in 30 s.
    let full_at = taken.now.0 as i64 + 30_000;
    let key = s.key(KeyOf::Bucket(&bucket));
    assert_eq!(pexpiretime(con, &key).await, full_at);
    // Giving 100 back brings "full" 10 s closer: the bucket refills 10 units a second, so
    // whenever the return lands, full is 20 s after the take.
    let back = s.give_back(&bucket, 100).await.unwrap();
    let elapsed = back.now.0 - taken.now.0;
    let level = back.level.unwrap();
    let expected_level = 400 + elapsed / 100;
    assert!(
        level.abs_diff(expected_level) <= 1,
        "{level} vs {expected_level}"
    );
    let expires = pexpiretime(con, &key).await;
    assert!(
        (expires - (full_at - 10_000)).abs() <= 2,
        "{expires} vs {}",
        full_at - 10_000
    );
}

#[tokio::test]
async fn readers_see_only_changes_after_their_cursor() {
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    let s = store(&server, "cursor");
    let t = now(&s).await;
    let until = Until::At(t.plus(Duration::from_secs(60)));
    for name in ["a", "b", "c", "d", "e"] {
        s.advise(
            &AdvisoryKey::new(AdvisoryKind::Parked, name),
            &advice(until),
        )
        .await
        .unwrap();
    }
    // Pages of two, oldest change first.
    let mut cursor = Cursor::default();
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = s.advisories_since(cursor, 2).await.unwrap();
        pages.push((page.advisories.len(), page.more));
        seen.extend(page.advisories.into_iter().map(|a| a.key.subject));
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, [(2, true), (2, true), (1, false)]);
    // Nothing new.
    let page = s.advisories_since(cursor, 10).await.unwrap();
    assert!(page.advisories.is_empty() && !page.more && !page.reset);
    // A losing advice is no change; a winning one is.
    let b = AdvisoryKey::new(AdvisoryKind::Parked, "b");
    let older = advice(Until::At(t.plus(Duration::from_secs(30))));
    assert!(!s.advise(&b, &older).await.unwrap().accepted);
    assert!(
        s.advisories_since(cursor, 10)
            .await
            .unwrap()
            .advisories
            .is_empty()
    );
    let newer = Until::At(t.plus(Duration::from_secs(90)));
    assert!(s.advise(&b, &advice(newer)).await.unwrap().accepted);
    let page = s.advisories_since(cursor, 10).await.unwrap();
    assert_eq!(page.advisories.len(), 1);
    assert_eq!(page.advisories[0].key, b);
    assert_eq!(page.advisories[0].until, newer);
    let cursor = page.cursor;

    // The store loses its data (a restart without persistence) and new changes pass the
    // reader's cursor before it reads again: the reader is told and reads from the start.
    let mut con = raw(&server).await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
    let fresh: Vec<String> = (0..9).map(|i| format!("n{i}")).collect();
    for name in &fresh {
        s.advise(&AdvisoryKey::new(AdvisoryKind::Open, name), &advice(until))
            .await
            .unwrap();
    }
    let page = s.advisories_since(cursor, 20).await.unwrap();
    assert!(page.reset);
    let subjects: Vec<_> = page.advisories.iter().map(|a| &a.key.subject).collect();
    assert_eq!(subjects, fresh.iter().collect::<Vec<_>>());
    let page = s.advisories_since(page.cursor, 10).await.unwrap();
    assert!(!page.reset && page.advisories.is_empty());
}

#[tokio::test]
async fn records_another_writer_mangled_are_skipped_not_fatal() {
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    let s = store(&server, "hostile");
    let t = now(&s).await;
    let until = t.plus(Duration::from_secs(60));
    let good = AdvisoryKey::new(AdvisoryKind::Open, "good");
    s.advise(&good, &advice(Until::At(until))).await.unwrap();
    let mut con = raw(&server).await;
    write_mangled_advisories(&mut con, until).await;
    let page = s.advisories_since(Cursor::default(), 10).await.unwrap();
    assert_eq!(page.advisories.len(), 1);
    assert_eq!(page.advisories[0].key, good);
    assert_eq!(page.skipped, 4);
    mangled_buckets_and_probes(&s, &mut con, until).await;
}

/// Advisory records no writer of this version would write, in the index beside a good one.
async fn write_mangled_advisories(con: &mut Con, until: UnixMs) {
    let p = "t:{hostile}:adv:";
    let huge = "x".repeat(1000);
    // A kind this version does not know; a subject over the bound; a payload over the bound;
    // an unreadable since; a record with an unreadable until (over, so not even returned).
    let bad: [(&str, &str, &str, &str); 5] = [
        ("future/x", &until.0.to_string(), "0", ""),
        (&format!("open/{huge}"), &until.0.to_string(), "0", ""),
        ("open/big", &until.0.to_string(), "0", &huge),
        ("open/since", &until.0.to_string(), "soon", ""),
        ("open/until", "later", "0", ""),
    ];
    for (i, (member, u, since, payload)) in bad.iter().enumerate() {
        let _: () = redis::pipe()
            .cmd("HSET")
            .arg(format!("{p}rec:{member}"))
            .arg("until")
            .arg(u)
            .arg("since")
            .arg(since)
            .arg("payload")
            .arg(payload)
            .ignore()
            .cmd("ZADD")
            .arg(format!("{p}index"))
            .arg(100 + i)
            .arg(member)
            .ignore()
            .query_async(con)
            .await
            .unwrap();
    }
}

/// A mangled bucket or probe token does not break its operations either; a key of the
/// wrong type is a typed error.
async fn mangled_buckets_and_probes(s: &RedisStore, con: &mut Con, until: UnixMs) {
    let _: () = redis::cmd("HSET")
        .arg("t:{hostile}:bucket:req/m")
        .arg("level")
        .arg("many")
        .arg("at")
        .arg("x")
        .query_async(con)
        .await
        .unwrap();
    let bucket = BucketKey::new(Resource::Requests, "m");
    assert_eq!(
        s.give_back(&bucket, 5).await.unwrap().level,
        None,
        "no capacity stored: treated as a full bucket"
    );
    let taken = s
        .take(&bucket, BucketSpec::per_minute(10), 3)
        .await
        .unwrap();
    assert_eq!(taken.granted, 3);
    let _: () = redis::cmd("HSET")
        .arg("t:{hostile}:probe:m")
        .arg("holder")
        .arg("me")
        .arg("until")
        .arg("never")
        .query_async(con)
        .await
        .unwrap();
    assert!(s.try_probe("m", 1, until).await.unwrap().granted);
    // A key of the wrong type is a typed error from the store.
    let _: () = redis::cmd("SET")
        .arg("t:{hostile}:probe:w")
        .arg("x")
        .query_async(con)
        .await
        .unwrap();
    let e = s.try_probe("w", 1, until).await.unwrap_err();
    assert!(matches!(e, StoreError::Server { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_get_no_more_than_the_store_has() {
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    let s = store(&server, "race");
    // 100 units per 10 minutes: nothing refills during the test (one unit per 6 s).
    let spec = BucketSpec {
        capacity: 100,
        period: Duration::from_secs(600).into(),
    };
    let mut takers = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let s = s.clone();
        takers.spawn(async move {
            s.take(&BucketKey::new(Resource::Tokens, "hot"), spec, 7)
                .await
                .unwrap()
                .granted
        });
    }
    let mut total = 0;
    while let Some(g) = takers.join_next().await {
        total += g.unwrap();
    }
    assert_eq!(total, 100);

    let until = now(&s).await.plus(Duration::from_secs(30));
    let mut askers = tokio::task::JoinSet::new();
    for holder in 0..20u32 {
        let s = s.clone();
        askers.spawn(async move { s.try_probe("t", holder, until).await.unwrap().granted });
    }
    let mut granted = 0;
    while let Some(g) = askers.join_next().await {
        granted += u32::from(g.unwrap());
    }
    assert_eq!(granted, 1);
}

fn quick(server: &RedisServer) -> RedisStore {
    RedisStore::connect(
        &server.url(),
        StoreOptions {
            prefix: "t:{down}:".to_string(),
            timeout: Duration::from_millis(300),
        },
    )
    .unwrap()
}

/// Retries `alive` until it answers, for at most `within`.
async fn until_back(s: &RedisStore, within: Duration) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        if s.alive().await.is_ok() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "the store did not answer within {within:?} of coming back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_store_that_is_down_fails_fast_and_is_rejoined() {
    let mut server = RedisServer::start("fleet", &[]).await.unwrap();
    // Down from the start: connecting does not wait, operations fail within the timeout.
    server.stop().await;
    let s = quick(&server);
    for _ in 0..3 {
        let start = tokio::time::Instant::now();
        let e = s.alive().await.unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
        assert!(
            start.elapsed() < Duration::from_millis(1200),
            "{:?}",
            start.elapsed()
        );
    }
    server.start_again().await.unwrap();
    until_back(&s, Duration::from_secs(5)).await;
    // The new server has no scripts cached: EVALSHA loads them.
    let t = now(&s).await;
    s.beat(1, t.plus(Duration::from_secs(5))).await.unwrap();

    // Killed while in use: failures are typed and quick; the same store rejoins.
    server.stop().await;
    let start = tokio::time::Instant::now();
    let e = s.beat(1, t.plus(Duration::from_secs(5))).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(start.elapsed() < Duration::from_millis(1200));
    server.start_again().await.unwrap();
    let back = until_back(&s, Duration::from_secs(5)).await;
    eprintln!("rejoined {back:?} after the store came back");
    // Its data went with it (no persistence): nobody is alive until they beat again.
    assert_eq!(s.alive().await.unwrap().replicas, 0);
}

#[tokio::test]
async fn a_slow_store_times_out_and_answers_again_when_it_recovers() {
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    let s = quick(&server);
    now(&s).await;
    server.pause().unwrap();
    let start = tokio::time::Instant::now();
    let e = s.alive().await.unwrap_err();
    let took = start.elapsed();
    server.resume().unwrap();
    assert!(
        matches!(e, StoreError::Timeout { op: "alive", .. }),
        "{e:?}"
    );
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(1200),
        "{took:?}"
    );
    until_back(&s, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_flushed_script_cache_is_reloaded() {
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    let s = store(&server, "flush");
    now(&s).await;
    let mut con = raw(&server).await;
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut con)
        .await
        .unwrap();
    now(&s).await;
}

#[tokio::test]
async fn passwords_stay_out_of_errors_and_debug() {
    let server = RedisServer::start("fleet", &["--requirepass", "right-horse-battery"])
        .await
        .unwrap();
    let socket = server.socket().display().to_string();
    let wrong = RedisStore::connect(
        &format!("unix://{socket}?pass=wrong-staple-9"),
        StoreOptions::default(),
    )
    .unwrap();
    let e = wrong.alive().await.unwrap_err();
    for text in [format!("{e}"), format!("{e:?}"), format!("{wrong:?}")] {
        assert!(!text.contains("wrong-staple-9"), "{text}");
    }
    assert!(format!("{wrong:?}").contains(&socket));
    let right = RedisStore::connect(
        &format!("unix://{socket}?pass=right-horse-battery"),
        StoreOptions::default(),
    )
    .unwrap();
    assert!(!format!("{right:?}").contains("right-horse-battery"));
    right.alive().await.unwrap();

    let bad = RedisStore::connect("redis://:hunter2@[::1", StoreOptions::default()).unwrap_err();
    assert_eq!(bad, StoreError::BadUrl);
    assert!(!bad.to_string().contains("hunter2"));
}

#[tokio::test]
async fn input_out_of_bounds_is_refused_before_any_io() {
    // No server at all: every answer below comes from the checks, not from the store.
    let s = RedisStore::connect(
        "unix:///nonexistent/switchyard-fleet.sock",
        StoreOptions::default(),
    )
    .unwrap();
    let long = "x".repeat(257);
    let ok = advice(Until::At(UnixMs(1)));
    fn invalid<T>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::Invalid { .. }))
    }
    let key = |s: &str| AdvisoryKey::new(AdvisoryKind::Open, s);
    assert!(invalid(s.advise(&key(""), &ok).await));
    assert!(invalid(s.advise(&key(&long), &ok).await));
    let big_payload = Advice {
        payload: long.clone(),
        ..ok.clone()
    };
    assert!(invalid(s.advise(&key("a"), &big_payload).await));
    let far = advice(Until::At(UnixMs(UnixMs::MAX.0 + 1)));
    assert!(invalid(s.advise(&key("a"), &far).await));
    assert!(invalid(s.advisories_since(Cursor::default(), 0).await));
    assert!(invalid(s.advisories_since(Cursor::default(), 257).await));
    let b = BucketKey::new(Resource::Requests, "a");
    assert!(invalid(s.take(&b, BucketSpec::per_minute(0), 1).await));
    let no_period = BucketSpec {
        capacity: 1,
        period: Duration::ZERO.into(),
    };
    assert!(invalid(s.take(&b, no_period, 1).await));
    assert!(invalid(
        s.take(&b, BucketSpec::per_minute(10), u64::MAX).await
    ));
    assert!(invalid(s.give_back(&b, u64::MAX).await));
    assert!(invalid(s.try_probe("", 1, UnixMs(1)).await));
    assert!(invalid(s.beat(1, UnixMs(u64::MAX)).await));
    // And with valid input, the missing store is a typed, quick failure.
    assert!(s.alive().await.unwrap_err().is_unavailable());

    let prefix = |p: &str| {
        RedisStore::connect(
            "unix:///nonexistent.sock",
            StoreOptions {
                prefix: p.to_string(),
                ..StoreOptions::default()
            },
        )
        .unwrap_err()
    };
    assert!(matches!(prefix(""), StoreError::Invalid { .. }));
    assert!(matches!(prefix(&long), StoreError::Invalid { .. }));
}

#[test]
fn connecting_outside_a_runtime_is_an_error_not_a_panic() {
    let e = RedisStore::connect("unix:///nonexistent.sock", StoreOptions::default()).unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid { op: "connect", .. }),
        "{e:?}"
    );
}
