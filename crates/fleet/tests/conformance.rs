//! Conformance: the store's rules (the one case list, tests/support/table.rs) run on BOTH the
//! core's in-memory `StoreModel` (what the simulator and the core's tests use) and a real Redis
//! through `RedisStore`'s Lua scripts, reached by the sync task's own bridge
//! (`sync::run_ops`, the core's `StoreOp`s mapped by a `StoreClock`). Every step must give
//! the table's expectation on each, and the same whole reply on both (the clocks and the
//! cursor's epoch aside: the model's epoch counts, Redis's is a time).
//!
//! The model runs each step exactly at its time; Redis on its own clock, each case on its own
//! keys, all cases at once. A Redis step run outside its window (the machine too loaded to
//! judge it) is retried with fresh keys, up to three times.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod support;

use std::time::Duration;

use support::table::{self, Case, Expect, Kind, Op, SLACK_MS, T};
use switchyard_core::fleet::{
    Advice, AdvisoryKey, AdvisoryKind, BucketKey, BucketSpec, Cursor, MAX_PAGE, Resource,
    StoreModel, StoreOp, StoreReply, Until,
};
use switchyard_core::time::Instant;
use switchyard_fleet::RedisServer;
use switchyard_fleet::sync::{StoreClock, run_ops};
use switchyard_fleet::{RedisStore, StoreOptions};

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

/// Milliseconds after the case's start: the core's time (both stores count from the case's
/// start: the model directly, Redis through a `StoreClock` whose zero is the case's start).
fn at(ms: u64) -> Instant {
    Instant::from_nanos(ms * 1_000_000)
}

fn ms(t: Instant) -> u64 {
    t.as_nanos() / 1_000_000
}

fn until(t: T) -> Until {
    match t {
        T::At(m) => Until::At(at(m)),
        T::Forever => Until::Forever,
    }
}

fn until_back(u: Until) -> T {
    match u {
        Until::At(t) => T::At(ms(t)),
        Until::Forever => T::Forever,
    }
}

/// The table's operation as the core asks for it. `Read` is a page read from `cursor`.
fn store_op(op: &Op, cursor: Cursor) -> StoreOp {
    match *op {
        Op::Advise {
            kind: k,
            subject,
            until: u,
            since,
            payload,
        } => StoreOp::Advise(
            AdvisoryKey::new(kind(k), subject),
            Advice {
                until: until(u),
                since: at(since),
                payload: payload.to_string(),
            },
        ),
        Op::Read => StoreOp::AdvisoriesSince(cursor, MAX_PAGE),
        Op::Take {
            subject,
            per_minute,
            units,
        } => StoreOp::Take(
            BucketKey::new(Resource::Requests, subject),
            BucketSpec::per_minute(per_minute),
            units,
        ),
        Op::GiveBack { subject, units } => {
            StoreOp::GiveBack(BucketKey::new(Resource::Requests, subject), units)
        }
        Op::TryProbe {
            target,
            holder,
            until: u,
        } => StoreOp::TryProbe(target.to_string(), holder, at(u)),
        Op::ReleaseProbe { target, holder } => StoreOp::ReleaseProbe(target.to_string(), holder),
        Op::Beat { replica, until: u } => StoreOp::Beat(replica, at(u)),
        Op::Alive => StoreOp::Alive,
    }
}

/// A store the table runs on.
trait Store {
    /// Runs `op`; its reply and the store's clock (ms after the case's start).
    async fn run(&mut self, op: StoreOp, due: u64) -> (StoreReply, u64);
}

struct Model(StoreModel);

impl Store for Model {
    async fn run(&mut self, op: StoreOp, due: u64) -> (StoreReply, u64) {
        let reply = self.0.apply(&op, at(due)).unwrap();
        (reply, due)
    }
}

struct Redis {
    store: RedisStore,
    clock: StoreClock,
}

impl Store for Redis {
    async fn run(&mut self, op: StoreOp, _due: u64) -> (StoreReply, u64) {
        let is_release = matches!(op, StoreOp::ReleaseProbe(..));
        // The sync task's bridge: the core's operation, mapped to the store's clock and back.
        let (_, reply) = run_ops(&self.store, &self.clock, vec![op])
            .await
            .pop()
            .unwrap();
        let reply = reply.unwrap();
        let now = match (&reply, is_release) {
            // release_probe reports no clock: read it.
            (_, true) => self.store.alive().await.unwrap().now,
            (r, false) => self.clock.to_store(now_of(r)),
        };
        (reply, now.0.saturating_sub(self.clock.origin().0))
    }
}

fn now_of(r: &StoreReply) -> Instant {
    match r {
        StoreReply::Advised(a) => a.now,
        StoreReply::Page(p) => p.now,
        StoreReply::Taken(t) => t.now,
        StoreReply::GivenBack(g) => g.now,
        StoreReply::Probe(p) => p.now,
        StoreReply::Released(_) => Instant::ZERO,
        StoreReply::Alive(a) => a.now,
    }
}

/// The reply without what may differ between two conforming stores: the clock, and the
/// cursor's epoch (a number the store picks).
fn comparable(mut r: StoreReply) -> StoreReply {
    match &mut r {
        StoreReply::Advised(a) => a.now = Instant::ZERO,
        StoreReply::Page(p) => {
            p.now = Instant::ZERO;
            p.cursor.epoch = 0;
        }
        StoreReply::Taken(t) => t.now = Instant::ZERO,
        StoreReply::GivenBack(g) => g.now = Instant::ZERO,
        StoreReply::Probe(p) => p.now = Instant::ZERO,
        StoreReply::Released(_) => {}
        StoreReply::Alive(a) => a.now = Instant::ZERO,
    }
    r
}

/// What one step returned: every reply (a read is page after page), in comparable form, the
/// table's view of it, and the store's clock at its first reply.
struct Got {
    replies: Vec<StoreReply>,
    seen: Expect,
    when: u64,
}

async fn exec(store: &mut impl Store, op: &Op, due: u64) -> Got {
    let mut replies = Vec::new();
    let mut cursor = Cursor::default();
    let mut when = None;
    loop {
        let (reply, now) = store.run(store_op(op, cursor), due).await;
        when.get_or_insert(now);
        let more = match &reply {
            StoreReply::Page(p) => {
                assert_eq!(p.skipped, 0);
                cursor = p.cursor;
                p.more
            }
            _ => false,
        };
        replies.push(reply);
        if !more {
            break;
        }
    }
    let seen = match (op, &replies[0]) {
        (Op::Read, _) => {
            let mut all: Vec<_> = replies
                .iter()
                .flat_map(|r| match r {
                    StoreReply::Page(p) => p.advisories.clone(),
                    _ => panic!("a read answered {r:?}"),
                })
                .map(|a| {
                    let subject: &'static str = Box::leak(a.key.subject.into_boxed_str());
                    let payload: &'static str = Box::leak(a.payload.into_boxed_str());
                    (
                        kind_back(a.key.kind),
                        subject,
                        until_back(a.until),
                        ms(a.since),
                        payload,
                    )
                })
                .collect();
            all.sort();
            Expect::Advisories(all)
        }
        (_, StoreReply::Advised(a)) => Expect::Advised {
            accepted: a.accepted,
            stored: a.stored.map(|(u, s)| (until_back(u), ms(s))),
        },
        (_, StoreReply::Taken(t)) => Expect::Granted(t.granted),
        (_, StoreReply::GivenBack(_)) => Expect::Done,
        (_, StoreReply::Probe(p)) => Expect::Probe(p.granted),
        (_, StoreReply::Released(r)) => Expect::Released(*r),
        (Op::Beat { .. }, StoreReply::Alive(_)) => Expect::Done,
        (_, StoreReply::Alive(a)) => Expect::Alive(a.replicas),
        (op, r) => panic!("{op:?} answered {r:?}"),
    };
    Got {
        replies: replies.into_iter().map(comparable).collect(),
        seen,
        when: when.unwrap_or(due),
    }
}

/// The case on the model: every step exactly at its time. Its replies, step by step.
async fn on_model(case: &Case) -> Result<Vec<Vec<StoreReply>>, String> {
    let mut model = Model(StoreModel::new());
    let mut out = Vec::new();
    for (i, step) in case.steps.iter().enumerate() {
        let got = exec(&mut model, &step.op, step.at).await;
        if got.seen != step.expect {
            return Err(format!(
                "StoreModel: {} ({}): step {i} at {} ms: {:?}\n  expected {:?}\n  got      {:?}",
                case.name, case.rule, step.at, step.op, step.expect, got.seen
            ));
        }
        out.push(got.replies);
    }
    Ok(out)
}

enum Verdict {
    Pass,
    /// The machine ran a step outside its window: the attempt proves nothing.
    TooLate(String),
    Fail(String),
}

async fn on_redis(url: &str, case: &Case, model: &[Vec<StoreReply>], attempt: u32) -> Verdict {
    let options = StoreOptions {
        prefix: format!("test:{{{}:{attempt}}}:", case.name),
        timeout: Duration::from_secs(2),
    };
    let store = RedisStore::connect(url, options).unwrap();
    let start = store.alive().await.unwrap().now;
    let t0 = tokio::time::Instant::now();
    let mut redis = Redis {
        store,
        clock: StoreClock::new(start),
    };
    for (i, step) in case.steps.iter().enumerate() {
        tokio::time::sleep_until(t0 + Duration::from_millis(step.at + 2)).await;
        let got = exec(&mut redis, &step.op, step.at).await;
        if !(step.at..step.at + SLACK_MS).contains(&got.when) {
            return Verdict::TooLate(format!(
                "step {i} due at {} ms ran at {} ms",
                step.at, got.when
            ));
        }
        if got.seen != step.expect {
            return Verdict::Fail(format!(
                "Redis: {} ({}): step {i} at {} ms ({} ms on the store's clock): {:?}\n  expected {:?}\n  got      {:?}",
                case.name, case.rule, step.at, got.when, step.op, step.expect, got.seen
            ));
        }
        if got.replies != model[i] {
            return Verdict::Fail(format!(
                "{} ({}): step {i} at {} ms: {:?}: the model and Redis differ\n  StoreModel {:?}\n  Redis      {:?}",
                case.name, case.rule, step.at, step.op, model[i], got.replies
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
    let model = on_model(&case).await?;
    let mut late = Vec::new();
    for n in 1..=3 {
        match on_redis(&url, &case, &model, n).await {
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
async fn the_model_and_redis_follow_the_same_rules_with_the_same_replies() {
    let server = RedisServer::start("fleet", &[]).await.unwrap();
    let cases = table::cases();
    assert!(cases.len() >= 13);
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
