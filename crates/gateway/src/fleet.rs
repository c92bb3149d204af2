//! `gateway.shared_state`: this gateway as one replica of a fleet sharing a Redis
//! (docs/FLEET.md). The router joins the fleet, and `switchyard_fleet`'s sync task runs its
//! store operations every `sync_every`; requests never wait on the store. A store that fails
//! is logged once (`switchyard::fleet`, warn: the replica falls back to local state), and so
//! is its return (info). The URL is never logged: only the store's host and port (or socket).

use std::sync::{Arc, Weak};

use switchyard_core::fleet::FleetParams;
use switchyard_core::time::Instant;
use switchyard_fleet::sync::{self, Replica, StoreClock, SyncHandle, SyncOptions};
use switchyard_fleet::{RedisStore, StoreError, StoreOptions};
use switchyard_live::config::SharedStateConfig;

use crate::{Gateway, GatewayError};

/// The fleet a gateway joined: its params (a reload's new router joins with them) and the
/// running sync task (stopped when the gateway is dropped).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) params: FleetParams,
    task: Arc<SyncHandle>,
}

impl Shared {
    /// The sync task, to wait for its first sync ([`Gateway::fleet_joined`]).
    pub(crate) fn task(&self) -> Arc<SyncHandle> {
        self.task.clone()
    }
}

/// How long a gateway waits for its first sync before serving: the sync period. The first
/// sync's operations are each bounded by the store timeout (half of it), so this only bounds
/// a task that could not run; past it the gateway serves as it is.
pub(crate) fn first_sync_bound(params: &FleetParams) -> std::time::Duration {
    std::time::Duration::from(params.sync_every).max(std::time::Duration::from_millis(10))
}

/// The sync task's view of the gateway: whichever router is in force (a reload swaps it).
struct Host {
    gateway: Weak<Gateway>,
    endpoint: String,
}

impl Replica for Host {
    fn now(&self) -> Instant {
        self.gateway
            .upgrade()
            .map_or(Instant::ZERO, |gw| gw.router().now())
    }

    fn with_router<T: Default>(
        &self,
        f: impl FnOnce(&mut switchyard_core::router::Router) -> T,
    ) -> T {
        match self.gateway.upgrade() {
            Some(gw) => gw.router().with_core(|r, _| f(r)),
            None => T::default(),
        }
    }

    fn degraded(&self, failure: Option<&StoreError>) {
        match failure {
            Some(e) => tracing::warn!(
                target: "switchyard::fleet",
                store = %self.endpoint,
                error = %e,
                "shared state unavailable: deciding from local state, limits divided by the replicas last seen alive"
            ),
            None => tracing::info!(
                target: "switchyard::fleet",
                store = %self.endpoint,
                "shared state back: rejoined the fleet"
            ),
        }
    }
}

/// Joins the fleet `config` names and starts the sync task (on the current tokio runtime).
pub(crate) fn start(gw: &Arc<Gateway>, config: &SharedStateConfig) -> Result<Shared, GatewayError> {
    let sync_every = config.sync_every();
    let replica = config.replica.unwrap_or_else(|| {
        use std::hash::BuildHasher;
        // A random id: the hasher's keys are drawn per process.
        std::collections::hash_map::RandomState::new().hash_one(std::process::id()) as u32
    });
    let params = FleetParams {
        replica,
        sync_every,
        lease_block: config.lease_block(),
        ..FleetParams::default()
    };
    let timeout = std::time::Duration::from(sync_every) / 2;
    let store = RedisStore::connect(
        &config.redis,
        StoreOptions {
            timeout,
            ..StoreOptions::default()
        },
    )
    .map_err(|e| GatewayError::SharedState(e.to_string()))?;
    let router = gw.router();
    router.with_core(|r, _| r.join_fleet(params));
    let clock = StoreClock::at(router.now());
    tracing::info!(
        target: "switchyard::fleet",
        store = %store.endpoint(),
        replica,
        sync_every = %sync_every,
        "joined the fleet's shared state"
    );
    let host = Host {
        gateway: Arc::downgrade(gw),
        endpoint: store.endpoint().to_string(),
    };
    let task = sync::spawn(
        Arc::new(host),
        store,
        clock,
        SyncOptions::every(sync_every.into()),
    );
    Ok(Shared {
        params,
        task: Arc::new(task),
    })
}
