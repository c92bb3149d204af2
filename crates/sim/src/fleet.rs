//! A fleet in simulation: `replicas` routers behind a load balancer, over one shared
//! [`StoreModel`](switchyard_core::fleet::StoreModel) with a propagation delay and faults on
//! the timeline, and the fleet-level figures a run yields.
//!
//! Each replica syncs every `sync_every` (staggered evenly over the period) and publishes its
//! advisories as soon as an event changes a target's state. A store operation reaches the
//! store `propagation_delay` (plus a `slow` fault's delay) after it is sent, and its answer
//! comes back as long again; one that would take longer than the store timeout (half the sync
//! period, as `switchyard-fleet`'s default) fails with a timeout, though the store may still
//! apply it (a lease so granted is lost, as with Redis). While the store is `down`, or
//! `partitioned` from a replica, its operations fail after the timeout.

use rand::RngExt as _;
use switchyard_core::rng::SeededRng;
use switchyard_core::time::{Duration, Instant};

/// How arriving requests are spread over the replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadBalance {
    /// In turn.
    RoundRobin,
    /// At random, from the seed's `fleet/load_balance` substream.
    Random,
}

/// Spreads a fleet's requests over its replicas by its [`LoadBalance`] rule: the one rule
/// the simulator and a live fleet share, so both send the same request to the same replica.
#[derive(Clone, Debug)]
pub struct Balancer {
    rule: LoadBalance,
    replicas: u32,
    next: u32,
    rng: SeededRng,
}

impl Balancer {
    /// For `replicas` (at least 1), random draws from the seed's `fleet/load_balance`
    /// substream.
    pub fn new(rule: LoadBalance, replicas: u32, seed: u64) -> Balancer {
        Balancer {
            rule,
            replicas: replicas.max(1),
            next: 0,
            rng: SeededRng::substream(seed, "fleet/load_balance"),
        }
    }

    /// The replica the next request goes to.
    pub fn pick(&mut self) -> u32 {
        match self.rule {
            LoadBalance::RoundRobin => {
                let r = self.next % self.replicas;
                self.next = self.next.wrapping_add(1);
                r
            }
            LoadBalance::Random => self.rng.random_range(0..self.replicas),
        }
    }
}

/// The shared store's settings (`shared_state:`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharedState {
    /// How often each replica syncs.
    pub sync_every: Duration,
    /// A lease block, as a fraction of each shared bucket's capacity.
    pub lease_block: f64,
    /// One way, replica to store.
    pub propagation_delay: Duration,
}

/// What goes wrong with the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreFaultKind {
    /// Unreachable for every replica.
    Down,
    /// Each way takes this much longer.
    Slow(Duration),
    /// Unreachable from this replica only.
    Partitioned(u32),
}

/// A store fault on the timeline: `[from, to)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreFault {
    /// Its name, for phases (`during:NAME`).
    pub name: String,
    /// What happens.
    pub kind: StoreFaultKind,
    /// From.
    pub from: Instant,
    /// Until.
    pub to: Instant,
}

/// A fleet of replicas.
#[derive(Clone, Debug, PartialEq)]
pub struct SimFleet {
    /// How many routers (1 to 16).
    pub replicas: u32,
    /// How requests are spread.
    pub load_balance: LoadBalance,
    /// The shared store; `None` (`shared_state: none`): every replica on its own.
    pub shared: Option<SharedState>,
    /// Store faults, in time order.
    pub store_faults: Vec<StoreFault>,
}

impl SimFleet {
    /// Whether the store is unreachable from `replica` at `now`.
    pub(crate) fn unreachable(&self, replica: u32, now: Instant) -> bool {
        self.store_faults.iter().any(|f| {
            f.from <= now
                && now < f.to
                && match f.kind {
                    StoreFaultKind::Down => true,
                    StoreFaultKind::Partitioned(r) => r == replica,
                    StoreFaultKind::Slow(_) => false,
                }
        })
    }

    /// The extra delay each way at `now`.
    pub(crate) fn slowness(&self, now: Instant) -> Duration {
        self.store_faults
            .iter()
            .filter(|f| f.from <= now && now < f.to)
            .filter_map(|f| match f.kind {
                StoreFaultKind::Slow(d) => Some(d),
                _ => None,
            })
            .fold(Duration::ZERO, Duration::max)
    }
}

/// What one provider received from the fleet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderLoad {
    /// The provider's name.
    pub name: String,
    /// Attempts sent to it.
    pub requests: u64,
    /// Those it answered with a 429 (its rate limit, or a fault's).
    pub rate_limited: u64,
}

/// What one target saw of the fleet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetFleet {
    /// The target's name.
    pub name: String,
    /// When a replica's breaker first opened on it (the first detection).
    pub first_open: Option<Instant>,
    /// The last attempt any replica sent it after the first detection and before the first
    /// half-open probe: how long the fleet took to stop sending (from `first_open`).
    pub stopped_after: Option<Duration>,
    /// Half-open probes it received, from every replica.
    pub probes: u64,
}

/// The fleet-level figures of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetFigures {
    /// Replicas.
    pub replicas: u32,
    /// Whether they shared a store.
    pub shared: bool,
    /// Requests each replica received, by replica.
    pub per_replica: Vec<u64>,
    /// Per provider, in the scenario's order.
    pub providers: Vec<ProviderLoad>,
    /// Per target, in the router's order.
    pub targets: Vec<TargetFleet>,
    /// Store operations the replicas made, and those that failed.
    pub store_ops: u64,
    /// Failed store operations (unavailable or timed out).
    pub store_failures: u64,
    /// Times a replica fell back to local state.
    pub degraded: u32,
    /// Times a replica rejoined the store.
    pub rejoined: u32,
}
