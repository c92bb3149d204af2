//! The fleet's vocabulary, shared with `switchyard-fleet` (the Redis store), which re-exports
//! it: advisories keyed by kind and subject name, `Until::At`/`Forever`, a change cursor,
//! shared buckets, the probe token and heartbeats.
//!
//! The types that carry a time are generic over it: the core's [`Instant`] by default, the
//! Redis store's unix milliseconds there (`switchyard_fleet::UnixMs`). A sync task maps one to
//! the other with the `map_time` methods; nothing else differs.

use crate::time::{Duration, Instant};

/// When an advisory is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Until<T = Instant> {
    /// At this time (the store's clock).
    At(T),
    /// Never (a revoked key with no rotation deadline).
    Forever,
}

impl<T: Ord + Copy> Until<T> {
    /// Whether the advisory is still live at `now` (over once `now` reaches `At`).
    pub fn is_live(self, now: T) -> bool {
        match self {
            Until::At(t) => t > now,
            Until::Forever => true,
        }
    }
}

impl<T> Until<T> {
    /// The same `until` on another clock.
    pub fn map_time<U>(self, f: impl FnOnce(T) -> U) -> Until<U> {
        match self {
            Until::At(t) => Until::At(f(t)),
            Until::Forever => Until::Forever,
        }
    }
}

/// The kinds of advisory; each is keyed by its subject's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdvisoryKind {
    /// Target open (breaker) until a time; the payload says why.
    Open,
    /// Target parked (429, Retry-After) until a time.
    Parked,
    /// A provider's key revoked (subject `provider/key`).
    Revoked,
    /// A target's cost cap spent until the end of its window.
    CostCapSpent,
    /// A target's recovery ramp, started at `since`: the earliest `since` of the live record
    /// wins, so the fleet shares one ramp.
    Recovering,
}

/// How two advisories with the same key are ordered: the winner is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The latest `until` wins: an older advisory never shortens a newer one.
    LatestUntil,
    /// The earliest `since` wins (on a tie, the latest `until`).
    EarliestSince,
}

impl AdvisoryKind {
    /// Every kind, in a fixed order.
    pub const ALL: [AdvisoryKind; 5] = [
        AdvisoryKind::Open,
        AdvisoryKind::Parked,
        AdvisoryKind::Revoked,
        AdvisoryKind::CostCapSpent,
        AdvisoryKind::Recovering,
    ];

    /// The name in the store's keys.
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryKind::Open => "open",
            AdvisoryKind::Parked => "parked",
            AdvisoryKind::Revoked => "revoked",
            AdvisoryKind::CostCapSpent => "costcap",
            AdvisoryKind::Recovering => "recovering",
        }
    }

    /// The kind a store name stands for; `None` for a kind this version does not know (a
    /// newer replica's), which a reader skips.
    pub fn parse(name: &str) -> Option<AdvisoryKind> {
        AdvisoryKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Which advisory of this kind wins.
    pub fn rule(self) -> Rule {
        match self {
            AdvisoryKind::Recovering => Rule::EarliestSince,
            _ => Rule::LatestUntil,
        }
    }
}

/// The longest subject name (target, provider, `provider/key`), in bytes.
pub const MAX_SUBJECT: usize = 256;
/// The longest advisory payload (a reason's name), in bytes.
pub const MAX_PAYLOAD: usize = 256;
/// The most advisories one read returns.
pub const MAX_PAGE: usize = 256;
/// The largest bucket capacity (2^47: a cost cap of 140 million USD in micro-dollars).
pub const MAX_CAPACITY: u64 = 1 << 47;
/// The longest bucket refill period (2^40 ms, 34 years).
pub const MAX_PERIOD: Duration = Duration::from_millis(1 << 40);

/// An advisory's key: its kind and its subject's name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdvisoryKey {
    /// The kind.
    pub kind: AdvisoryKind,
    /// The target's name, the provider's, or `provider/key` for a revoked key.
    pub subject: String,
}

impl AdvisoryKey {
    /// The key of `kind` for `subject`.
    pub fn new(kind: AdvisoryKind, subject: impl Into<String>) -> AdvisoryKey {
        AdvisoryKey {
            kind,
            subject: subject.into(),
        }
    }
}

/// What a replica tells the fleet about one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advice<T = Instant> {
    /// When it is over.
    pub until: Until<T>,
    /// When it began: compared for [`Rule::EarliestSince`]; kept, and ignored, by the others.
    pub since: T,
    /// A short text for the readers (the reason a target opened); at most [`MAX_PAYLOAD`] bytes.
    pub payload: String,
}

impl<T> Advice<T> {
    /// The same advice on another clock.
    pub fn map_time<U>(self, f: impl Fn(T) -> U) -> Advice<U> {
        Advice {
            until: self.until.map_time(&f),
            since: f(self.since),
            payload: self.payload,
        }
    }
}

impl<T: Ord + Copy> Advice<T> {
    /// Whether this advice beats `stored` (live) under `rule`: the store keeps the winner.
    pub fn beats(&self, stored: &Advice<T>, rule: Rule) -> bool {
        match rule {
            Rule::LatestUntil => self.until > stored.until,
            Rule::EarliestSince => {
                self.since < stored.since
                    || (self.since == stored.since && self.until > stored.until)
            }
        }
    }
}

/// A live advisory read from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advisory<T = Instant> {
    /// Its key.
    pub key: AdvisoryKey,
    /// When it is over.
    pub until: Until<T>,
    /// When it began.
    pub since: T,
    /// Its payload.
    pub payload: String,
}

impl<T> Advisory<T> {
    /// The same advisory on another clock.
    pub fn map_time<U>(self, f: impl Fn(T) -> U) -> Advisory<U> {
        Advisory {
            key: self.key,
            until: self.until.map_time(&f),
            since: f(self.since),
            payload: self.payload,
        }
    }
}

/// The answer to `advise`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advised<T = Instant> {
    /// Whether this advice won and is now the stored one.
    pub accepted: bool,
    /// The stored advisory's `until` and `since` after the operation; `None` when nothing is
    /// stored (the advice was already over and no live one existed).
    pub stored: Option<(Until<T>, T)>,
    /// The store's clock.
    pub now: T,
}

impl<T> Advised<T> {
    /// The same answer on another clock.
    pub fn map_time<U>(self, f: impl Fn(T) -> U) -> Advised<U> {
        Advised {
            accepted: self.accepted,
            stored: self.stored.map(|(u, s)| (u.map_time(&f), f(s))),
            now: f(self.now),
        }
    }
}

/// Where a reader of advisories is: the changes it has seen. Start with `Cursor::default()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The store's epoch (a new one when it lost its data).
    pub epoch: u64,
    /// The last change seen.
    pub seq: u64,
}

/// The answer to `advisories_since`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvisoryPage<T = Instant> {
    /// The live advisories changed after the cursor, oldest change first.
    pub advisories: Vec<Advisory<T>>,
    /// The cursor for the next read.
    pub cursor: Cursor,
    /// Whether more changes wait past this page (read again at once with `cursor`).
    pub more: bool,
    /// Whether the store had begun again (lost its data) since the cursor: the page starts
    /// from its first change, and a replica should republish what it knows.
    pub reset: bool,
    /// Records skipped as unreadable: an unknown kind (a newer replica's), a malformed time,
    /// or a subject or payload over its bound (always 0 for the in-memory model).
    pub skipped: u32,
    /// The store's clock.
    pub now: T,
}

impl<T> AdvisoryPage<T> {
    /// The same page on another clock.
    pub fn map_time<U>(self, f: impl Fn(T) -> U) -> AdvisoryPage<U> {
        AdvisoryPage {
            advisories: self
                .advisories
                .into_iter()
                .map(|a| a.map_time(&f))
                .collect(),
            cursor: self.cursor,
            more: self.more,
            reset: self.reset,
            skipped: self.skipped,
            now: f(self.now),
        }
    }
}

/// What a bucket counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// Requests.
    Requests,
    /// Tokens (prompt plus `max_tokens`, or the target's `default_max_tokens` for a request
    /// without one; reserved at admission).
    Tokens,
    /// Spend, in micro-dollars.
    MicroUsd,
}

impl Resource {
    /// Every resource, in a fixed order.
    pub const ALL: [Resource; 3] = [Resource::Requests, Resource::Tokens, Resource::MicroUsd];

    /// The name in the store's keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Requests => "req",
            Resource::Tokens => "tok",
            Resource::MicroUsd => "uusd",
        }
    }
}

/// A shared bucket's key: what it counts, for which subject (target).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    /// What it counts.
    pub resource: Resource,
    /// The target's name.
    pub subject: String,
}

impl BucketKey {
    /// The bucket of `resource` for `subject`.
    pub fn new(resource: Resource, subject: impl Into<String>) -> BucketKey {
        BucketKey {
            resource,
            subject: subject.into(),
        }
    }
}

/// A bucket's size: `capacity` units per `period`, refilled continuously, starting full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketSpec {
    /// Units per period, and the most the bucket holds: 1 to [`MAX_CAPACITY`].
    pub capacity: u64,
    /// The refill period: 1 ms to [`MAX_PERIOD`].
    pub period: Duration,
}

impl BucketSpec {
    /// `capacity` units per minute (a rate limit).
    pub fn per_minute(capacity: u64) -> BucketSpec {
        BucketSpec {
            capacity,
            period: Duration::from_secs(60),
        }
    }
}

/// The answer to `take`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken<T = Instant> {
    /// Units granted: at most those asked for, at most the whole units the bucket held.
    pub granted: u64,
    /// Whole units left in the bucket.
    pub left: u64,
    /// The store's clock.
    pub now: T,
}

impl<T> Taken<T> {
    /// The same answer on another clock.
    pub fn map_time<U>(self, f: impl Fn(T) -> U) -> Taken<U> {
        Taken {
            granted: self.granted,
            left: self.left,
            now: f(self.now),
        }
    }
}

/// The answer to `give_back`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GivenBack<T = Instant> {
    /// Whole units in the bucket after the return; `None` when the bucket was full (absent),
    /// so nothing was added.
    pub level: Option<u64>,
    /// The store's clock.
    pub now: T,
}

impl<T> GivenBack<T> {
    /// The same answer on another clock.
    pub fn map_time<U>(self, f: impl Fn(T) -> U) -> GivenBack<U> {
        GivenBack {
            level: self.level,
            now: f(self.now),
        }
    }
}

/// The answer to `try_probe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe<T = Instant> {
    /// Whether the caller holds the token now.
    pub granted: bool,
    /// Who holds it, and until when (`None`: nobody).
    pub holder: Option<(u32, T)>,
    /// The store's clock.
    pub now: T,
}

impl<T> Probe<T> {
    /// The same answer on another clock.
    pub fn map_time<U>(self, f: impl Fn(T) -> U) -> Probe<U> {
        Probe {
            granted: self.granted,
            holder: self.holder.map(|(h, u)| (h, f(u))),
            now: f(self.now),
        }
    }
}

/// Replicas with a live heartbeat, by the store's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alive<T = Instant> {
    /// How many.
    pub replicas: u32,
    /// The store's clock.
    pub now: T,
}

impl<T> Alive<T> {
    /// The same answer on another clock.
    pub fn map_time<U>(self, f: impl Fn(T) -> U) -> Alive<U> {
        Alive {
            replicas: self.replicas,
            now: f(self.now),
        }
    }
}

/// Why a store operation failed: the same classes as `switchyard_fleet::StoreError`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The input breaks a bound (a subject over 256 bytes, a capacity of 0, ...).
    #[error("{op}: invalid input: {why}")]
    Invalid {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        why: &'static str,
    },
    /// The store could not be reached (down, or partitioned from this replica).
    #[error("{op}: store unavailable")]
    Unavailable {
        /// The operation.
        op: &'static str,
    },
    /// The store answered too late.
    #[error("{op}: store timed out")]
    Timeout {
        /// The operation.
        op: &'static str,
    },
}

/// One operation on the store, as the sync step asks for it: each maps to one
/// `switchyard_fleet::RedisStore` method of the same name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// `advise(key, advice)`.
    Advise(AdvisoryKey, Advice),
    /// `advisories_since(cursor, max)`.
    AdvisoriesSince(Cursor, usize),
    /// `take(bucket, spec, units)`.
    Take(BucketKey, BucketSpec, u64),
    /// `give_back(bucket, units)`.
    GiveBack(BucketKey, u64),
    /// `try_probe(target, holder, until)`.
    TryProbe(String, u32, Instant),
    /// `release_probe(target, holder)`.
    ReleaseProbe(String, u32),
    /// `beat(replica, until)`.
    Beat(u32, Instant),
    /// `alive()`.
    Alive,
}

impl StoreOp {
    /// The operation's name, as the Redis store's method.
    pub fn name(&self) -> &'static str {
        match self {
            StoreOp::Advise(..) => "advise",
            StoreOp::AdvisoriesSince(..) => "advisories_since",
            StoreOp::Take(..) => "take",
            StoreOp::GiveBack(..) => "give_back",
            StoreOp::TryProbe(..) => "try_probe",
            StoreOp::ReleaseProbe(..) => "release_probe",
            StoreOp::Beat(..) => "beat",
            StoreOp::Alive => "alive",
        }
    }
}

/// The store's answer to one [`StoreOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreReply {
    /// To `Advise`.
    Advised(Advised),
    /// To `AdvisoriesSince`.
    Page(AdvisoryPage),
    /// To `Take`.
    Taken(Taken),
    /// To `GiveBack`.
    GivenBack(GivenBack),
    /// To `TryProbe`.
    Probe(Probe),
    /// To `ReleaseProbe`: whether the holder held a live token.
    Released(bool),
    /// To `Beat` and `Alive`.
    Alive(Alive),
}

pub(crate) fn check_subject(op: &'static str, subject: &str) -> Result<(), StoreError> {
    if subject.is_empty() || subject.len() > MAX_SUBJECT {
        return Err(StoreError::Invalid {
            op,
            why: "subject empty or over 256 bytes",
        });
    }
    Ok(())
}

pub(crate) fn check_units(op: &'static str, units: u64) -> Result<(), StoreError> {
    if units > MAX_CAPACITY {
        return Err(StoreError::Invalid {
            op,
            why: "units over 2^47",
        });
    }
    Ok(())
}
