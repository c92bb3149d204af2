//! What the store holds, in the core's vocabulary (`switchyard_core::fleet`, re-exported
//! here): subjects are target, provider or key names (never a replica's local indices). The
//! types that carry a time are the core's on the store's clock, [`UnixMs`].

use std::fmt;
use std::time::Duration;

use switchyard_core::fleet as core;

pub use core::{
    AdvisoryKey, AdvisoryKind, BucketKey, BucketSpec, Cursor, MAX_CAPACITY, MAX_PAGE, MAX_PAYLOAD,
    MAX_SUBJECT, Resource, Rule,
};

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

/// When an advisory is over, on the store's clock.
pub type Until = core::Until<UnixMs>;
/// What a replica tells the fleet about one key, on the store's clock.
pub type Advice = core::Advice<UnixMs>;
/// A live advisory read from the store.
pub type Advisory = core::Advisory<UnixMs>;
/// The answer to [`RedisStore::advise`](crate::RedisStore::advise).
pub type Advised = core::Advised<UnixMs>;
/// The answer to [`RedisStore::advisories_since`](crate::RedisStore::advisories_since).
pub type AdvisoryPage = core::AdvisoryPage<UnixMs>;
/// The answer to [`RedisStore::take`](crate::RedisStore::take).
pub type Taken = core::Taken<UnixMs>;
/// The answer to [`RedisStore::give_back`](crate::RedisStore::give_back).
pub type GivenBack = core::GivenBack<UnixMs>;
/// The answer to [`RedisStore::try_probe`](crate::RedisStore::try_probe).
pub type Probe = core::Probe<UnixMs>;
/// Replicas with a live heartbeat, by the store's clock.
pub type Alive = core::Alive<UnixMs>;

/// The longest bucket refill period, in milliseconds (2^40 ms, 34 years: the core's
/// `MAX_PERIOD`).
pub const MAX_PERIOD_MS: u64 = 1 << 40;

/// `kind/subject`: the member in the store's indexes and the suffix of the record's key.
pub(crate) fn member(key: &AdvisoryKey) -> String {
    format!("{}/{}", key.kind.as_str(), key.subject)
}

/// A bucket's period in milliseconds, once its size is checked.
pub(crate) fn period_ms(spec: &BucketSpec) -> Result<u64, StoreError> {
    let ms = spec.period.as_millis();
    if !(1..=MAX_PERIOD_MS).contains(&ms) {
        return Err(StoreError::invalid(
            "take",
            "bucket period out of 1 ms..2^40 ms",
        ));
    }
    if !(1..=MAX_CAPACITY).contains(&spec.capacity) {
        return Err(StoreError::invalid(
            "take",
            "bucket capacity out of 1..2^47",
        ));
    }
    Ok(ms)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_max_period_is_the_cores() {
        assert_eq!(
            switchyard_core::time::Duration::from_millis(MAX_PERIOD_MS),
            core::MAX_PERIOD
        );
    }
}
