//! The store's rules (tests/support/table.rs) against a real Redis: every case runs on its own
//! keys, all at once, on the store's clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod support;

use std::time::Duration;

use support::redis_server::RedisServer;
use support::table::{self, Case, Expect, Kind, Op, SLACK_MS, T};
use switchyard_fleet::{
    Advice, AdvisoryKey, AdvisoryKind, BucketKey, BucketSpec, Cursor, MAX_PAGE, RedisStore,
    Resource, StoreOptions, UnixMs, Until,
};

fn kind(k: Kind) -> AdvisoryKind {
    match k {
        Kind::Open => AdvisoryKind::Open,
        Kind::Parked => AdvisoryKind::Parked,
        Kind::Revoked => AdvisoryKind::Revoked,
        Kind::CostCapSpent => AdvisoryKind::CostCapSpent,
        Kind::Recovering => AdvisoryKind::Recovering,
    }
}

fn kind_back(k: AdvisoryKind) -> Kind {
    match k {
        AdvisoryKind::Open => Kind::Open,
        AdvisoryKind::Parked => Kind::Parked,
        AdvisoryKind::Revoked => Kind::Revoked,
        AdvisoryKind::CostCapSpent => Kind::CostCapSpent,
        AdvisoryKind::Recovering => Kind::Recovering,
    }
}

/// Case time -> store time, and back.
struct Clock {
    start: u64,
}

impl Clock {
    fn abs(&self, t: T) -> Until {
        match t {
            T::At(ms) => Until::At(UnixMs(self.start + ms)),
            T::Forever => Until::Forever,
        }
    }
    fn ms(&self, ms: u64) -> UnixMs {
        UnixMs(self.start + ms)
    }
    fn rel_until(&self, u: Until) -> T {
        match u {
            Until::At(t) => T::At(t.0 - self.start),
            Until::Forever => T::Forever,
        }
    }
    fn rel(&self, t: UnixMs) -> u64 {
        t.0 - self.start
    }
}

/// Every advisory, page by page, in the table's terms and sorted, and the store's clock at
/// the last page.
async fn read_all(store: &RedisStore, clock: &Clock) -> (Expect, UnixMs) {
    let mut all = Vec::new();
    let mut cursor = Cursor::default();
    let mut now;
    loop {
        let page = store.advisories_since(cursor, MAX_PAGE).await.unwrap();
        assert_eq!(page.skipped, 0);
        now = page.now;
        all.extend(page.advisories);
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    let mut out: Vec<_> = all
        .into_iter()
        .map(|a| {
            let subject: &'static str = Box::leak(a.key.subject.into_boxed_str());
            let payload: &'static str = Box::leak(a.payload.into_boxed_str());
            (
                kind_back(a.key.kind),
                subject,
                clock.rel_until(a.until),
                clock.rel(a.since),
                payload,
            )
        })
        .collect();
    out.sort();
    (Expect::Advisories(out), now)
}

/// Runs one step; returns what it returned, in the table's terms, and the store's clock.
async fn exec(store: &RedisStore, clock: &Clock, op: &Op) -> (Expect, UnixMs) {
    match *op {
        Op::Advise {
            kind: k,
            subject,
            until,
            since,
            payload,
        } => {
            let advice = Advice {
                until: clock.abs(until),
                since: clock.ms(since),
                payload: payload.to_string(),
            };
            let a = store
                .advise(&AdvisoryKey::new(kind(k), subject), &advice)
                .await
                .unwrap();
            let stored = a.stored.map(|(u, s)| (clock.rel_until(u), clock.rel(s)));
            (
                Expect::Advised {
                    accepted: a.accepted,
                    stored,
                },
                a.now,
            )
        }
        Op::Read => read_all(store, clock).await,
        Op::Take {
            subject,
            per_minute,
            units,
        } => {
            let t = store
                .take(
                    &BucketKey::new(Resource::Requests, subject),
                    BucketSpec::per_minute(per_minute),
                    units,
                )
                .await
                .unwrap();
            (Expect::Granted(t.granted), t.now)
        }
        Op::GiveBack { subject, units } => {
            let g = store
                .give_back(&BucketKey::new(Resource::Requests, subject), units)
                .await
                .unwrap();
            (Expect::Done, g.now)
        }
        Op::TryProbe {
            target,
            holder,
            until,
        } => {
            let p = store
                .try_probe(target, holder, clock.ms(until))
                .await
                .unwrap();
            (Expect::Probe(p.granted), p.now)
        }
        Op::ReleaseProbe { target, holder } => {
            let released = store.release_probe(target, holder).await.unwrap();
            // release_probe reports no clock: read it.
            let now = store.alive().await.unwrap().now;
            (Expect::Released(released), now)
        }
        Op::Beat { replica, until } => {
            let a = store.beat(replica, clock.ms(until)).await.unwrap();
            (Expect::Done, a.now)
        }
        Op::Alive => {
            let a = store.alive().await.unwrap();
            (Expect::Alive(a.replicas), a.now)
        }
    }
}

enum Verdict {
    Pass,
    /// The machine ran a step outside its window: the attempt proves nothing.
    TooLate(String),
    Fail(String),
}

async fn attempt(url: &str, case: &Case, attempt: u32) -> Verdict {
    let options = StoreOptions {
        prefix: format!("test:{{{}:{attempt}}}:", case.name),
        timeout: Duration::from_secs(2),
    };
    let store = RedisStore::connect(url, options).unwrap();
    let start = store.alive().await.unwrap().now;
    let t0 = tokio::time::Instant::now();
    let clock = Clock { start: start.0 };
    for (i, step) in case.steps.iter().enumerate() {
        tokio::time::sleep_until(t0 + Duration::from_millis(step.at + 2)).await;
        let (got, now) = exec(&store, &clock, &step.op).await;
        let when = clock.rel(now);
        if !(step.at..step.at + SLACK_MS).contains(&when) {
            return Verdict::TooLate(format!("step {i} due at {} ms ran at {when} ms", step.at));
        }
        if got != step.expect {
            return Verdict::Fail(format!(
                "{} ({}): step {i} at {} ms ({when} ms on the store's clock): {:?}\n  expected {:?}\n  got      {:?}",
                case.name, case.rule, step.at, step.op, step.expect, got
            ));
        }
    }
    Verdict::Pass
}

async fn run_case(url: String, case: Case) -> Result<(), String> {
    assert!(
        case.steps.is_sorted_by_key(|s| s.at),
        "{}: steps must be in time order",
        case.name
    );
    let mut late = Vec::new();
    for n in 1..=3 {
        match attempt(&url, &case, n).await {
            Verdict::Pass => return Ok(()),
            Verdict::Fail(why) => return Err(why),
            Verdict::TooLate(why) => late.push(why),
        }
    }
    Err(format!(
        "{}: the machine was too slow to judge it three times: {late:?}",
        case.name
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_rules_hold_against_redis() {
    let server = RedisServer::start().await;
    let cases = table::cases();
    assert!(cases.len() >= 10);
    let mut set = tokio::task::JoinSet::new();
    for case in cases {
        set.spawn(run_case(server.url(), case));
    }
    let mut failures = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Err(why) = r.unwrap() {
            failures.push(why);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
