//! `switchyard-fleet`: the shared state of a fleet of gateways, in Redis (or Valkey).
//!
//! A fleet shares what one replica learns (a target open, parked, a key revoked, a cost cap
//! spent, a recovery ramp) as **advisories**, its rate limits and cost caps as **leases** from
//! shared buckets, a half-open target's **probe token**, and **heartbeats** that count the
//! replicas alive. [`RedisStore`] holds them; each operation is one atomic Lua script timed by
//! the store's own clock. The rules (the same as the core's store model's):
//!
//! - an advisory's latest `until` wins (a recovery ramp's earliest `since`); it expires at
//!   that `until`, and no reader extends it;
//! - a lease is granted at most what the shared bucket holds; buckets refill continuously per
//!   period and start full; units given back are there for the next taker;
//! - a probe token has one holder at a time and expires;
//! - `alive` counts the replicas whose heartbeat has not expired.
//!
//! Every operation has a timeout and returns a typed [`StoreError`]; none panics. Nothing
//! here reads the caller's clock.
//!
//! [`RedisServer`] starts a `redis-server` of one's own, on a unix socket, killed when its
//! guard drops: the one a live fleet shares in the runner, and the one each test runs against.

mod error;
pub mod redis_server;
mod store;
pub mod sync;
mod types;

pub use error::StoreError;
pub use redis_server::{RedisServer, StartError};
pub use store::{Claimed, KeyOf, MAX_PREFIX, RedisStore, SCRIPTS, StoreOptions};
pub use sync::{Claim, Replica, StoreClock, SyncHandle, SyncOptions};
// The vocabulary is the core's (`switchyard_core::fleet`), on the store's clock ([`UnixMs`]).
pub use types::{
    Advice, Advised, Advisory, AdvisoryKey, AdvisoryKind, AdvisoryPage, Alive, BucketKey,
    BucketSpec, Cursor, GivenBack, MAX_CAPACITY, MAX_PAGE, MAX_PAYLOAD, MAX_PERIOD_MS, MAX_SUBJECT,
    Probe, Resource, Rule, Taken, UnixMs, Until,
};
