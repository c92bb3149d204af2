//! What the store holds, named as the fleet agrees on it: subjects are target, provider or
//! key names (never a replica's local indices), times are unix milliseconds.

use std::fmt;
use std::time::Duration;

use crate::StoreError;

/// Milliseconds since the Unix epoch.
///
/// The store compares these with its own clock (Redis `TIME` inside each script): an
/// advisory, a probe token or a heartbeat is over once the store's clock reaches its `until`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMs(pub u64);

impl UnixMs {
    /// The largest time a store operation accepts: 2^50 ms (year 37 648), so every sum the
    /// scripts make stays exact in Lua's doubles.
    pub const MAX: UnixMs = UnixMs(1 << 50);

    /// This time plus `d`, saturating at [`UnixMs::MAX`].
    #[must_use]
    pub fn plus(self, d: Duration) -> UnixMs {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        UnixMs(self.0.saturating_add(ms).min(Self::MAX.0))
    }
}

impl fmt::Display for UnixMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// When an advisory is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Until {
    /// At this time (the store's clock).
    At(UnixMs),
    /// Never (a revoked key with no rotation deadline).
    Forever,
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
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryKind::Open => "open",
            AdvisoryKind::Parked => "parked",
            AdvisoryKind::Revoked => "revoked",
            AdvisoryKind::CostCapSpent => "costcap",
            AdvisoryKind::Recovering => "recovering",
        }
    }

    /// The kind a store name stands for; `None` for a kind this version does not know (a newer
    /// replica's), which a reader skips.
    #[must_use]
    pub fn parse(name: &str) -> Option<AdvisoryKind> {
        AdvisoryKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Which advisory of this kind wins.
    #[must_use]
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
pub const MAX_PERIOD_MS: u64 = 1 << 40;

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

    /// `kind/subject`: the member in the store's indexes and the suffix of the record's key.
    pub(crate) fn member(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.subject)
    }
}

/// What a replica tells the fleet about one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advice {
    /// When it is over.
    pub until: Until,
    /// When it began: compared for [`Rule::EarliestSince`]; kept, and ignored, by the others.
    pub since: UnixMs,
    /// A short text for the readers (the reason a target opened); at most [`MAX_PAYLOAD`] bytes.
    pub payload: String,
}

/// A live advisory read from the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advisory {
    /// Its key.
    pub key: AdvisoryKey,
    /// When it is over.
    pub until: Until,
    /// When it began.
    pub since: UnixMs,
    /// Its payload.
    pub payload: String,
}

/// The answer to [`RedisStore::advise`](crate::RedisStore::advise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advised {
    /// Whether this advice won and is now the stored one.
    pub accepted: bool,
    /// The stored advisory's `until` and `since` after the operation; `None` when nothing is
    /// stored (the advice was already over and no live one existed).
    pub stored: Option<(Until, UnixMs)>,
    /// The store's clock.
    pub now: UnixMs,
}

/// Where a reader of advisories is: the changes it has seen. Start with `Cursor::default()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub(crate) epoch: u64,
    pub(crate) seq: u64,
}

/// The answer to [`RedisStore::advisories_since`](crate::RedisStore::advisories_since).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvisoryPage {
    /// The live advisories changed after the cursor, oldest change first.
    pub advisories: Vec<Advisory>,
    /// The cursor for the next read.
    pub cursor: Cursor,
    /// Whether more changes wait past this page (read again at once with `cursor`).
    pub more: bool,
    /// Whether the store had begun again (lost its data) since the cursor: the page starts
    /// from its first change, and a replica should republish what it knows.
    pub reset: bool,
    /// Records skipped as unreadable: an unknown kind (a newer replica's), a malformed time,
    /// or a subject or payload over its bound.
    pub skipped: u32,
    /// The store's clock.
    pub now: UnixMs,
}

/// What a bucket counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// Requests.
    Requests,
    /// Tokens (prompt plus `max_tokens`, reserved at admission).
    Tokens,
    /// Spend, in micro-dollars.
    MicroUsd,
}

impl Resource {
    /// The name in the store's keys.
    #[must_use]
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
    /// The refill period: 1 ms to [`MAX_PERIOD_MS`].
    pub period: Duration,
}

impl BucketSpec {
    /// `capacity` units per minute (a rate limit).
    #[must_use]
    pub fn per_minute(capacity: u64) -> BucketSpec {
        BucketSpec {
            capacity,
            period: Duration::from_secs(60),
        }
    }

    pub(crate) fn period_ms(&self) -> Result<u64, StoreError> {
        let ms = u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX);
        if !(1..=MAX_PERIOD_MS).contains(&ms) {
            return Err(StoreError::invalid(
                "take",
                "bucket period out of 1 ms..2^40 ms",
            ));
        }
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(StoreError::invalid(
                "take",
                "bucket capacity out of 1..2^47",
            ));
        }
        Ok(ms)
    }
}

/// The answer to [`RedisStore::take`](crate::RedisStore::take).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Units granted: at most those asked for, at most the whole units the bucket held.
    pub granted: u64,
    /// Whole units left in the bucket.
    pub left: u64,
    /// The store's clock.
    pub now: UnixMs,
}

/// The answer to [`RedisStore::give_back`](crate::RedisStore::give_back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GivenBack {
    /// Whole units in the bucket after the return; `None` when the bucket was full (absent),
    /// so nothing was added.
    pub level: Option<u64>,
    /// The store's clock.
    pub now: UnixMs,
}

/// The answer to [`RedisStore::try_probe`](crate::RedisStore::try_probe).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Whether the caller holds the token now.
    pub granted: bool,
    /// Who holds it, and until when (`None`: nobody).
    pub holder: Option<(u32, UnixMs)>,
    /// The store's clock.
    pub now: UnixMs,
}

/// Replicas with a live heartbeat, by the store's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alive {
    /// How many.
    pub replicas: u32,
    /// The store's clock.
    pub now: UnixMs,
}

pub(crate) fn check_subject(op: &'static str, subject: &str) -> Result<(), StoreError> {
    if subject.is_empty() || subject.len() > MAX_SUBJECT {
        return Err(StoreError::invalid(op, "subject empty or over 256 bytes"));
    }
    Ok(())
}

pub(crate) fn check_time(op: &'static str, t: UnixMs) -> Result<(), StoreError> {
    if t > UnixMs::MAX {
        return Err(StoreError::invalid(op, "time past 2^50 ms"));
    }
    Ok(())
}

pub(crate) fn check_units(op: &'static str, units: u64) -> Result<(), StoreError> {
    if units > MAX_CAPACITY {
        return Err(StoreError::invalid(op, "units over 2^47"));
    }
    Ok(())
}
