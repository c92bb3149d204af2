//! The sync task: the bridge between a router's fleet seam (`switchyard_core::fleet`) and a
//! [`RedisStore`].
//!
//! Every `sync_every` it takes the router's operations of one sync
//! (`Router::fleet_sync`: advisories to publish, a heartbeat, the read of the peers'
//! advisories, lease takes and give-backs, probe tokens), and between syncs, every
//! `publish_every`, the advisories waiting (`Router::fleet_publish`), so a breaker that opens
//! is told to the store within `publish_every`, not one sync later. It runs every operation
//! on the store at once (the connection is multiplexed), each within the store's timeout,
//! then hands every answer back (`Router::fleet_reply`); a failed or timed-out call hands back
//! the failure, and the core falls back to local state (degraded) until an operation succeeds
//! again.
//!
//! The request path never waits on it: the router's lock is held only by
//! [`Replica::sync_ops`], [`Replica::publish_ops`] and [`Replica::replies`], never across a
//! store call.
//!
//! Time: the core counts from its own start ([`Instant::ZERO`]); the store counts unix
//! milliseconds. [`StoreClock`] is the one mapping between them.

use std::time::Duration;

use switchyard_core::fleet as core;
use switchyard_core::router::Router;
use switchyard_core::time::Instant;

use crate::types::UnixMs;
use crate::{RedisStore, StoreError};

/// The mapping between the core's time and the store's clock: `origin` is the unix time, in
/// milliseconds, of the core's [`Instant::ZERO`] (the live driver's start), exactly as the
/// live driver maps its monotonic clock to wall time (its start's wall time plus the time
/// elapsed since).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreClock {
    origin: UnixMs,
}

impl StoreClock {
    /// The clock whose [`Instant::ZERO`] is unix time `origin`.
    #[must_use]
    pub fn new(origin: UnixMs) -> StoreClock {
        StoreClock { origin }
    }

    /// The clock of a core whose time is `core_now` right now: reads the wall clock once.
    #[must_use]
    #[expect(
        clippy::disallowed_methods,
        reason = "the sync task is a driver: it owns the wall clock the store shares"
    )]
    pub fn at(core_now: Instant) -> StoreClock {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let elapsed = core_now.as_nanos() / 1_000_000;
        StoreClock::new(UnixMs(wall.saturating_sub(elapsed)))
    }

    /// The unix time of `Instant::ZERO`.
    #[must_use]
    pub fn origin(&self) -> UnixMs {
        self.origin
    }

    /// The store's time of the core's `t`: `origin` plus `t`, whole milliseconds (rounded
    /// down), saturating at [`UnixMs::MAX`].
    #[must_use]
    pub fn to_store(&self, t: Instant) -> UnixMs {
        UnixMs(
            self.origin
                .0
                .saturating_add(t.as_nanos() / 1_000_000)
                .min(UnixMs::MAX.0),
        )
    }

    /// The core's time of the store's `t`: the inverse of [`StoreClock::to_store`] (exact for
    /// whole milliseconds); a time before `origin` is [`Instant::ZERO`].
    #[must_use]
    pub fn to_core(&self, t: UnixMs) -> Instant {
        let ms = t.0.saturating_sub(self.origin.0);
        Instant::from_nanos(ms.saturating_mul(1_000_000))
    }
}

/// One replica's router, as the sync task sees it: the task takes the router (and its lock)
/// for one call at a time, through [`Replica::with_router`].
pub trait Replica: Send + Sync + 'static {
    /// The core's time now.
    fn now(&self) -> Instant;
    /// Runs `f` on the router, holding its lock for the call only; `T::default()` when there
    /// is no router any more (a gateway dropped before its sync task).
    fn with_router<T: Default>(&self, f: impl FnOnce(&mut Router) -> T) -> T;
    /// The operations of one sync (`Router::fleet_sync(now)`).
    fn sync_ops(&self, now: Instant) -> Vec<core::StoreOp> {
        self.with_router(|r| r.fleet_sync(now))
    }
    /// The advisories waiting to be published (`Router::fleet_publish(now)`).
    fn publish_ops(&self, now: Instant) -> Vec<core::StoreOp> {
        self.with_router(|r| r.fleet_publish(now))
    }
    /// The store's answers (`Router::fleet_reply` for each, in order); returns whether the
    /// replica is degraded after them (`Fleet::degraded_since` is set).
    fn replies(
        &self,
        replies: Vec<(core::StoreOp, Result<core::StoreReply, core::StoreError>)>,
        now: Instant,
    ) -> bool {
        self.with_router(|r| {
            for (op, reply) in replies {
                r.fleet_reply(&op, reply, now);
            }
            r.fleet().is_some_and(|f| f.degraded_since().is_some())
        })
    }
    /// The replica went degraded (`Some`: the first failure of the batch, or the last one
    /// seen since it was last joined, of any kind the core falls back on) or rejoined
    /// (`None`); for the log. The default does nothing.
    fn degraded(&self, _failure: Option<&StoreError>) {}
    /// The replica number's claim ([`SyncOptions::claim`]) was found held by another
    /// process at a renewal (`false`: a second process with this number, or one that died
    /// less than a claim's life ago), or, after that, held again (`true`); for the log. Told
    /// on changes only. The default does nothing.
    fn claim_held(&self, _held: bool) {}
    /// Whether the task may sync yet: until then it runs no store operation at all (a
    /// process deciding whether its replica number is its own does not act as that replica
    /// meanwhile). The default: at once.
    fn may_sync(&self) -> bool {
        true
    }
}

/// A replica number claimed for this process ([`RedisStore::claim`]), renewed at every sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The replica number.
    pub replica: u32,
    /// This process's token (drawn once per process).
    pub token: u64,
}

impl Claim {
    /// How long a claim lasts unless renewed, with a sync every `sync_every`: three sync
    /// periods, as a heartbeat (a replica that stops renewing, killed or cut off from the
    /// store, frees its number within that).
    #[must_use]
    pub fn ttl(sync_every: Duration) -> Duration {
        sync_every.saturating_mul(3)
    }
}

/// How often the sync task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncOptions {
    /// The sync period: the bound on how stale a replica's view of the fleet is.
    pub sync_every: Duration,
    /// How often advisories waiting are published between syncs.
    pub publish_every: Duration,
    /// The replica number's claim to renew at every sync, if any. While a renewal finds it
    /// held by another process the task runs no other operation (no lease, beat or
    /// advisory) until the number is its own again.
    pub claim: Option<Claim>,
}

impl SyncOptions {
    /// A sync every `sync_every`, publishing every tenth of it (at least every 10 ms).
    #[must_use]
    pub fn every(sync_every: Duration) -> SyncOptions {
        SyncOptions {
            sync_every,
            publish_every: (sync_every / 10).max(Duration::from_millis(10)),
            claim: None,
        }
    }
}

/// The running sync task; dropping it stops the task.
#[derive(Debug)]
pub struct SyncHandle {
    /// The task until [`SyncHandle::stop`] has seen it end.
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Aborts it from a drop, which cannot wait for the lock above.
    abort: tokio::task::AbortHandle,
    first: tokio::sync::watch::Receiver<bool>,
}

impl SyncHandle {
    /// Completes once the first sync's answers (or failures) are handed back to the replica:
    /// from then on its leases hold a block, or it runs degraded on local buckets. Every
    /// operation is bounded by the store's timeout, so this is too; a server waits for it
    /// before accepting requests, or a rate-limited target would admit nothing until then.
    pub async fn first_sync(&self) {
        let mut first = self.first.clone();
        // An error: the task is gone (aborted), so nothing is coming.
        let _ = first.wait_for(|done| *done).await;
    }
}

impl SyncHandle {
    /// Stops the task (as dropping the last handle does) and returns once it has ended: no
    /// store operation of it starts after this, so a claim released next stays released.
    /// An abort alone would not do on a multi-thread runtime: a worker polling the task at
    /// that moment goes on to the end of the poll, and may send a renewal then. A caller
    /// that comes while another waits returns once the task has ended too.
    pub async fn stop(&self) {
        let mut task = self.task.lock().await;
        if let Some(running) = task.take() {
            running.abort();
            // Cancelled, as asked. The task does not panic (the lints deny it); were it to,
            // it has ended all the same, which is all this waits for.
            let _ = running.await;
        }
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

/// Starts the sync task of `replica` over `store` (on the current tokio runtime). Its first
/// sync runs at once (the replica joins); then one every `options.sync_every`.
///
/// # Panics
/// Outside a tokio runtime (as `tokio::spawn`).
pub fn spawn<H: Replica>(
    replica: std::sync::Arc<H>,
    store: RedisStore,
    clock: StoreClock,
    options: SyncOptions,
) -> SyncHandle {
    let (synced, first) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run(replica, store, clock, options, synced));
    SyncHandle {
        abort: task.abort_handle(),
        task: tokio::sync::Mutex::new(Some(task)),
        first,
    }
}

/// This round's operations: a sync's or a publish's. While another process holds the number,
/// none (the claim alone): this replica acts as it in no way (no lease, beat or advisory)
/// until it holds it again.
fn ops_for<H: Replica>(
    replica: &H,
    now: Instant,
    sync_now: bool,
    claim_refused: bool,
) -> Vec<core::StoreOp> {
    if claim_refused {
        Vec::new()
    } else if sync_now {
        replica.sync_ops(now)
    } else {
        replica.publish_ops(now)
    }
}

async fn run<H: Replica>(
    replica: std::sync::Arc<H>,
    store: RedisStore,
    clock: StoreClock,
    options: SyncOptions,
    synced: tokio::sync::watch::Sender<bool>,
) {
    let sync_every = options.sync_every.max(Duration::from_millis(1));
    let publish_every = options
        .publish_every
        .clamp(Duration::from_millis(1), sync_every);
    let mut tick = tokio::time::interval(publish_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_sync = tokio::time::Instant::now();
    let mut degraded = false;
    let mut failure: Option<StoreError> = None;
    let mut claim_refused = false;
    loop {
        tick.tick().await;
        if !replica.may_sync() {
            continue;
        }
        let now = replica.now();
        let sync_now = tokio::time::Instant::now() >= next_sync;
        if sync_now {
            next_sync = tokio::time::Instant::now() + sync_every;
        }
        let ops = ops_for(&*replica, now, sync_now, claim_refused);
        let claim = options.claim.filter(|_| sync_now);
        if ops.is_empty() && claim.is_none() {
            if !claim_refused {
                synced.send_replace(true);
            }
            continue;
        }
        let renew = async {
            match claim {
                Some(c) => Some(
                    store
                        .claim(c.replica, c.token, Claim::ttl(sync_every))
                        .await,
                ),
                None => None,
            }
        };
        let (replies, renewed) = tokio::join!(run_ops(&store, &clock, ops), renew);
        // A store error is the fallback's to log (the heartbeat of the same sync fails too).
        if let Some(Ok(c)) = renewed
            && c.granted == claim_refused
        {
            claim_refused = !c.granted;
            replica.claim_held(c.granted);
        }
        // The first error the core falls back on (all but bad input: a timeout, an
        // unreachable store, an error answer, a malformed reply); the last one seen is kept,
        // so a fallback is logged with its reason even if its batch had none.
        if let Some(e) = replies.iter().find_map(|(_, r)| {
            r.as_ref()
                .err()
                .filter(|e| !matches!(e, StoreError::Invalid { .. }))
                .cloned()
        }) {
            failure = Some(e);
        }
        let replies = replies
            .into_iter()
            .map(|(op, r)| {
                let r = r.map_err(|e| core_error(&op, &e));
                (op, r)
            })
            .collect();
        let now_degraded = replica.replies(replies, replica.now());
        synced.send_replace(true);
        if now_degraded != degraded {
            degraded = now_degraded;
            replica.degraded(if degraded { failure.as_ref() } else { None });
            if !degraded {
                failure = None;
            }
        }
    }
}

/// Runs `ops` on `store`, all at once; the answers in the operations' order.
pub async fn run_ops(
    store: &RedisStore,
    clock: &StoreClock,
    ops: Vec<core::StoreOp>,
) -> Vec<(core::StoreOp, Result<core::StoreReply, StoreError>)> {
    let replies =
        futures_util::future::join_all(ops.iter().map(|op| apply(store, clock, op))).await;
    ops.into_iter().zip(replies).collect()
}

/// The core's error for the store's: a timeout is a timeout, bad input is invalid (the core
/// undoes the operation and stays joined), anything else (unreachable, an error answer, a
/// malformed reply, a bad URL) makes the store unavailable.
fn core_error(op: &core::StoreOp, e: &StoreError) -> core::StoreError {
    let op = op.name();
    match e {
        StoreError::Timeout { .. } => core::StoreError::Timeout { op },
        StoreError::Invalid { detail, .. } => core::StoreError::Invalid { op, why: detail },
        StoreError::Unreachable { .. }
        | StoreError::Server { .. }
        | StoreError::Malformed { .. }
        | StoreError::BadUrl => core::StoreError::Unavailable { op },
    }
}

/// Runs one of the core's operations with the store's method of the same name: the same
/// types on the store's clock, mapped there and back by `clock`.
async fn apply(
    store: &RedisStore,
    clock: &StoreClock,
    op: &core::StoreOp,
) -> Result<core::StoreReply, StoreError> {
    use core::StoreReply as R;
    let c = clock;
    let to_core = |t: UnixMs| c.to_core(t);
    Ok(match op {
        core::StoreOp::Advise(key, advice) => {
            let advice = advice.clone().map_time(|t| c.to_store(t));
            R::Advised(store.advise(key, &advice).await?.map_time(to_core))
        }
        core::StoreOp::AdvisoriesSince(cursor, max) => R::Page(
            store
                .advisories_since(*cursor, *max)
                .await?
                .map_time(to_core),
        ),
        core::StoreOp::Take(key, spec, units) => {
            R::Taken(store.take(key, *spec, *units).await?.map_time(to_core))
        }
        core::StoreOp::GiveBack(key, units) => {
            R::GivenBack(store.give_back(key, *units).await?.map_time(to_core))
        }
        core::StoreOp::TryProbe(target, holder, until) => R::Probe(
            store
                .try_probe(target, *holder, c.to_store(*until))
                .await?
                .map_time(to_core),
        ),
        core::StoreOp::ReleaseProbe(target, holder) => {
            R::Released(store.release_probe(target, *holder).await?)
        }
        core::StoreOp::Beat(replica, until) => R::Alive(
            store
                .beat(*replica, c.to_store(*until))
                .await?
                .map_time(to_core),
        ),
        core::StoreOp::Alive => R::Alive(store.alive().await?.map_time(to_core)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_maps_whole_milliseconds_both_ways_and_saturates() {
        let c = StoreClock::new(UnixMs(1_700_000_000_000));
        let t = Instant::from_nanos(1_234_567_890);
        assert_eq!(c.to_store(t), UnixMs(1_700_000_001_234));
        assert_eq!(c.to_core(c.to_store(t)), Instant::from_nanos(1_234_000_000));
        assert_eq!(
            c.to_store(Instant::MAX),
            UnixMs(1_700_000_000_000 + u64::MAX / 1_000_000)
        );
        let late = StoreClock::new(UnixMs(u64::MAX - 5));
        assert_eq!(late.to_store(Instant::from_nanos(10_000_000)), UnixMs::MAX);
        assert_eq!(c.to_core(UnixMs(5)), Instant::ZERO);
        let back = c.to_core(UnixMs(1_700_000_002_000));
        assert_eq!(back, Instant::from_nanos(2_000_000_000));
    }

    #[test]
    fn the_clock_of_a_core_started_now_is_the_wall_clock_minus_its_age() {
        let age = Instant::from_nanos(3_000_000_000);
        let c = StoreClock::at(age);
        let wall = StoreClock::at(Instant::ZERO).origin().0;
        let diff = wall.abs_diff(c.origin().0 + 3_000);
        assert!(diff < 1_000, "{diff}");
    }
}
