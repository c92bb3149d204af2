//! A fleet run's figures in the report: what the providers received from all the replicas
//! (requests, and the 429s they answered), how long the fleet took to stop sending to a
//! failing target after the first replica detected it, the half-open probes each target
//! received, each replica's share of the requests, and the store's counters.

use serde::Serialize;
use switchyard_sim::FleetFigures;

use crate::results::round6;

/// The fleet's figures (`replicas:` scenarios only).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq)]
pub struct FleetReport {
    /// Replicas in the fleet.
    pub replicas: u32,
    /// Whether they shared a store (`shared_state`), or each ran on its own (`none`).
    pub shared: bool,
    /// Each replica's requests and share of them, by replica.
    pub replicas_load: Vec<ReplicaLoad>,
    /// What each provider received from the whole fleet.
    pub providers: Vec<FleetProviderReport>,
    /// Per target: first detection, time to stop, probes.
    pub targets: Vec<FleetTargetReport>,
    /// Store operations the replicas made.
    pub store_ops: u64,
    /// Of those, failed (store down, slow past the timeout, or partitioned).
    pub store_failures: u64,
    /// Times a replica fell back to local state (limits divided by the replicas alive).
    pub degraded: u32,
    /// Times a replica rejoined the store.
    pub rejoined: u32,
}

/// One replica's load.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq)]
pub struct ReplicaLoad {
    /// The replica's number.
    pub replica: u32,
    /// Requests it received.
    pub requests: u64,
    /// Its share of the fleet's requests, 0 to 1.
    pub share: f64,
}

/// What one provider received from the fleet.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq)]
pub struct FleetProviderReport {
    /// The provider.
    pub name: String,
    /// Attempts it received from every replica.
    pub requests: u64,
    /// Those it answered with a 429: over its rate limit.
    pub rate_limited: u64,
    /// `rate_limited / requests` (0 with no requests).
    pub rate_limited_share: f64,
}

/// One target, fleet-wide.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq)]
pub struct FleetTargetReport {
    /// The target.
    pub name: String,
    /// When a replica's breaker first opened on it, seconds from the start.
    pub first_open_secs: Option<f64>,
    /// From that first detection to the last attempt any replica sent it before the first
    /// half-open probe: how long the fleet took to stop sending.
    pub stopped_after_secs: Option<f64>,
    /// Half-open probes it received from every replica.
    pub probes: u64,
}

/// The report's fleet section from the simulator's figures.
pub(crate) fn fleet(f: &FleetFigures) -> FleetReport {
    let total: u64 = f.per_replica.iter().sum();
    let ratio = |n: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            round6(n as f64 / of as f64)
        }
    };
    FleetReport {
        replicas: f.replicas,
        shared: f.shared,
        replicas_load: f
            .per_replica
            .iter()
            .enumerate()
            .map(|(i, &n)| ReplicaLoad {
                replica: i as u32,
                requests: n,
                share: ratio(n, total),
            })
            .collect(),
        providers: f
            .providers
            .iter()
            .map(|p| FleetProviderReport {
                name: p.name.clone(),
                requests: p.requests,
                rate_limited: p.rate_limited,
                rate_limited_share: ratio(p.rate_limited, p.requests),
            })
            .collect(),
        targets: f
            .targets
            .iter()
            .map(|t| FleetTargetReport {
                name: t.name.clone(),
                first_open_secs: t.first_open.map(|i| round6(i.since_start().as_secs_f64())),
                stopped_after_secs: t.stopped_after.map(|d| round6(d.as_secs_f64())),
                probes: t.probes,
            })
            .collect(),
        store_ops: f.store_ops,
        store_failures: f.store_failures,
        degraded: f.degraded,
        rejoined: f.rejoined,
    }
}
