//! `gateway.shared_state`: this gateway as one replica of a fleet sharing a Redis
//! (docs/FLEET.md). The router joins the fleet, and `switchyard_fleet`'s sync task runs its
//! store operations every `sync_every`; requests never wait on the store. A store that fails
//! is logged once (`switchyard::fleet`, warn: the replica falls back to local state), and so
//! is its return (info). The URL is never logged: only the store's host and port (or socket).
//!
//! The replica number is claimed in the store for this process ([`Claimer`]): a second
//! gateway started with a number a live one holds is refused, and a gateway that stops gives
//! its number back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use switchyard_core::fleet::FleetParams;
use switchyard_core::time::Instant;
use switchyard_fleet::sync::{self, Claim, Replica, StoreClock, SyncHandle, SyncOptions};
use switchyard_fleet::{RedisStore, StoreError, StoreOptions};
use switchyard_live::config::SharedStateConfig;

use crate::{Gateway, GatewayError};

/// The fleet a gateway joined: its params (a reload's new router joins with them) and the
/// running sync task (stopped when the gateway is dropped).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) params: FleetParams,
    task: Arc<SyncHandle>,
    claimer: Claimer,
}

impl Shared {
    /// The sync task, to wait for its first sync ([`Gateway::fleet_joined`]).
    pub(crate) fn task(&self) -> Arc<SyncHandle> {
        self.task.clone()
    }

    /// What claims the replica number, and gives it back.
    pub(crate) fn claimer(&self) -> Claimer {
        self.claimer.clone()
    }
}

/// The replica number's claim in the store: taken at start ([`Claimer::claim`]), renewed by
/// the sync task at every sync, given back at shutdown ([`Claimer::release`]).
#[derive(Clone, Debug)]
pub(crate) struct Claimer {
    store: RedisStore,
    claim: Claim,
    sync_every: std::time::Duration,
    task: Arc<SyncHandle>,
    /// Raised once the number is this process's to sync as (the start's claim granted, or
    /// deferred to the sync task by a store that did not answer), or when the gateway serves
    /// without having claimed it ([`Claimer::open`]): until then the sync task runs nothing.
    /// So while the start's claim waits for the number (or refuses it) no renewal runs, and
    /// only the start tells that another process holds it.
    open: Arc<AtomicBool>,
}

impl Claimer {
    /// Claims the replica number. Refused when another process holds it and renews it (the
    /// claim is looked at again every sync period until it ends): a claim renewed meanwhile
    /// is a live gateway's, while one left by a gateway that died, whatever its sync period,
    /// is waited out. A
    /// store that does not answer is no refusal: the sync task claims the number at its
    /// first sync that reaches the store (and logs an error if another process holds it).
    pub(crate) async fn claim(&self) -> Result<(), GatewayError> {
        let Claim { replica, token } = self.claim;
        let ttl = Claim::ttl(self.sync_every);
        let mut first_until = None;
        loop {
            let c = match self.store.claim(replica, token, ttl).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(
                        target: "switchyard::fleet",
                        store = %self.store.endpoint(),
                        replica,
                        error = %e,
                        "cannot claim the replica number now; claiming it at the first sync that reaches the store"
                    );
                    self.open();
                    return Ok(());
                }
            };
            if c.granted {
                self.open();
                return Ok(());
            }
            let left = std::time::Duration::from_millis(c.until.0.saturating_sub(c.now.0));
            // Renewed since it was first seen: held by a live gateway. Not renewed: one that
            // stopped, whatever its sync period (its claim may outlast one of ours).
            if first_until.is_some_and(|first| c.until > first) {
                return Err(GatewayError::SharedState(format!(
                    "replica {replica} is held by another gateway sharing the store at {} \
                     (its claim renewed): each gateway of a fleet needs its own \
                     `gateway.shared_state.replica`, or none (a random one)",
                    self.store.endpoint()
                )));
            }
            if first_until.is_none() {
                tracing::info!(
                    target: "switchyard::fleet",
                    store = %self.store.endpoint(),
                    replica,
                    wait_ms = left.as_millis() as u64,
                    "replica number claimed by another gateway: refused if it renews the claim, else waiting for its claim to expire"
                );
            }
            first_until.get_or_insert(c.until);
            // Looked at again each sync period (a live holder renews within its own) or when
            // the claim ends, whichever comes first.
            let again = left
                .saturating_add(std::time::Duration::from_millis(5))
                .min(self.sync_every);
            tokio::time::sleep(again).await;
        }
    }

    /// Lets the sync task run: the number is this process's, or the gateway serves without a
    /// claim decided (a caller that never claimed it).
    pub(crate) fn open(&self) {
        self.open.store(true, Ordering::Relaxed);
    }

    /// Stops the sync task, waiting for its end (no renewal lands after the release), and
    /// gives the replica number back. A store that does not answer keeps it until its claim
    /// expires (three sync periods).
    pub(crate) async fn release(&self) {
        self.task.stop().await;
        let Claim { replica, token } = self.claim;
        if let Err(e) = self.store.release(replica, token).await {
            tracing::warn!(
                target: "switchyard::fleet",
                store = %self.store.endpoint(),
                replica,
                error = %e,
                "cannot give the replica number back; it is free once its claim expires"
            );
        }
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
    replica: u32,
    /// [`Claimer`]'s: whether the sync task may run.
    open: Arc<AtomicBool>,
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

    fn may_sync(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    fn claim_held(&self, held: bool) {
        let replica = self.replica;
        if held {
            tracing::info!(
                target: "switchyard::fleet",
                store = %self.endpoint,
                replica,
                "replica number claimed"
            );
        } else {
            tracing::error!(
                target: "switchyard::fleet",
                store = %self.endpoint,
                replica,
                "replica number held by another gateway: another process runs as replica {replica}, or one that did so stopped less than three sync periods ago (give each gateway its own `gateway.shared_state.replica`)"
            );
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
    let open = Arc::new(AtomicBool::new(false));
    let host = Host {
        gateway: Arc::downgrade(gw),
        endpoint: store.endpoint().to_string(),
        replica,
        open: open.clone(),
    };
    let claim = Claim {
        replica,
        token: {
            use std::hash::BuildHasher;
            // Keys drawn per process: another process's token differs.
            std::collections::hash_map::RandomState::new().hash_one(("claim", std::process::id()))
        },
    };
    let task = Arc::new(sync::spawn(
        Arc::new(host),
        store.clone(),
        clock,
        SyncOptions {
            claim: Some(claim),
            ..SyncOptions::every(sync_every.into())
        },
    ));
    Ok(Shared {
        params,
        task: task.clone(),
        claimer: Claimer {
            store,
            claim,
            sync_every: sync_every.into(),
            task,
            open,
        },
    })
}
