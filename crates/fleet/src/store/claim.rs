//! A replica number's claim: one process at a time holds each number, so that two gateways
//! configured with the same `replica` (one to the store: one heartbeat, one probe token
//! holder) are found at start instead of overwriting each other's state.
//!
//! A claim is held by a token drawn per process, expires `ttl` after its last renewal (the
//! sync task renews it every sync: three sync periods, as heartbeats), and is released by
//! its holder when the gateway stops.

use std::time::Duration;

use super::{RedisStore, fixed, int, ms};
use crate::types::UnixMs;
use crate::{KeyOf, StoreError};

/// The answer to [`RedisStore::claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claimed {
    /// Whether the caller holds the claim now (new, or its own renewed).
    pub granted: bool,
    /// When the claim in force (the caller's, or the other holder's) expires, unless renewed.
    pub until: UnixMs,
    /// The store's time.
    pub now: UnixMs,
}

/// The longest claim, in milliseconds: an hour (a sync period is at most a minute).
const MAX_TTL_MS: u64 = 3_600_000;

impl RedisStore {
    /// Claims replica number `replica` for the process holding `token`, for `ttl` (1 ms to an
    /// hour) from now on the store's clock: granted when no live claim of another token holds
    /// it, renewed when `token` holds it already.
    ///
    /// # Errors
    /// [`StoreError`]: a `ttl` out of range, or the store unavailable or failing.
    pub async fn claim(
        &self,
        replica: u32,
        token: u64,
        ttl: Duration,
    ) -> Result<Claimed, StoreError> {
        const OP: &str = "claim";
        let ttl = u64::try_from(ttl.as_millis())
            .ok()
            .filter(|t| (1..=MAX_TTL_MS).contains(t))
            .ok_or(StoreError::invalid(OP, "ttl out of 1 ms..1 h"))?;
        let mut inv = self.scripts.claim.prepare_invoke();
        inv.key(self.key(KeyOf::Replica(replica)))
            .arg(token)
            .arg(ttl);
        let r = self.run(OP, &inv).await?;
        let [granted, until, now] = fixed::<3>(OP, &r)?;
        Ok(Claimed {
            granted: int(OP, granted)? == 1,
            until: ms(OP, int(OP, until)?)?,
            now: ms(OP, int(OP, now)?)?,
        })
    }

    /// The process holding `token` gives its claim of replica number `replica` back; `true`
    /// if it held a live one (another token's claim is left alone).
    ///
    /// # Errors
    /// [`StoreError`]: the store unavailable or failing.
    pub async fn release(&self, replica: u32, token: u64) -> Result<bool, StoreError> {
        const OP: &str = "release";
        let mut inv = self.scripts.release.prepare_invoke();
        inv.key(self.key(KeyOf::Replica(replica))).arg(token);
        let r = self.run(OP, &inv).await?;
        let [released, _now] = fixed::<2>(OP, &r)?;
        Ok(int(OP, released)? == 1)
    }
}
