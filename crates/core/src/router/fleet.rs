//! The router's side of the fleet seam (`crate::fleet`): joining a fleet, publishing what its
//! targets' state says, the operations of a sync, and the store's answers and peers'
//! advisories folded back into the targets' breakers, parking and cost caps.

use super::Router;
use crate::fleet::{
    Advice, Advisory, AdvisoryKey, AdvisoryKind, BucketKey, BucketSpec, Fleet, FleetParams, Lease,
    MAX_CAPACITY, Resource, StoreError, StoreOp, StoreReply, Until,
};
use crate::health::limits::MAX_RESET;
use crate::health::{BreakerMode, BreakerState};
use crate::id::TargetId;
use crate::rng::Rng;
use crate::telemetry::EventKind;
use crate::time::{Duration, Instant};

impl<R: Rng> Router<R> {
    /// Joins a fleet: from now on the targets' configured rate limits (`requests_per_minute`,
    /// `tokens_per_minute`) and cost caps are leased from shared buckets, half-open probes
    /// need the shared probe token, and the driver runs [`Router::fleet_sync`] every
    /// `sync_every` against the store.
    pub fn join_fleet(&mut self, params: FleetParams) {
        let fraction = if params.lease_block.is_finite() {
            params.lease_block.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let block = |cap: u64| ((cap as f64 * fraction).ceil() as u64).max(1);
        let lease = |resource: Resource, name: &str, spec: BucketSpec| {
            Lease::new(BucketKey::new(resource, name), spec, block(spec.capacity))
        };
        let leases = self
            .params
            .targets
            .iter()
            .map(|t| {
                let per_minute = |cap: Option<u64>, resource: Resource| {
                    cap.filter(|&c| c > 0).map(|c| {
                        lease(
                            resource,
                            &t.name,
                            BucketSpec::per_minute(c.min(MAX_CAPACITY)),
                        )
                    })
                };
                let usd = t.cost_cap.map(|c| {
                    let micro = (c.usd * 1e6).round();
                    let capacity = if micro.is_finite() && micro >= 1.0 {
                        (micro as u64).min(MAX_CAPACITY)
                    } else {
                        1
                    };
                    let period = c.window.max(Duration::from_millis(1));
                    lease(Resource::MicroUsd, &t.name, BucketSpec { capacity, period })
                });
                [
                    per_minute(t.limits.requests_per_minute, Resource::Requests),
                    per_minute(t.limits.tokens_per_minute, Resource::Tokens),
                    usd,
                ]
            })
            .collect();
        self.fleet = Some(Fleet::new(params, leases));
    }

    /// The fleet state, when the router joined one.
    pub fn fleet(&self) -> Option<&Fleet> {
        self.fleet.as_ref()
    }

    /// Queues an advisory for each target whose state the fleet does not know yet (open,
    /// recovering, parked, cost cap spent) and returns the advise operations waiting, and the
    /// read of the next page of peers' advisories when the last page said more wait. A
    /// driver calls it after the events that change a target's state (and after the store's
    /// answers), so peers learn of an outage at their next read, not one sync later.
    pub fn fleet_publish(&mut self, now: Instant) -> Vec<StoreOp> {
        let mut ops = Vec::new();
        for i in 0..self.params.targets.len() {
            let tid = TargetId::new(i as u32);
            let cost_cap_until = self.cost_cap_window_end(tid, now);
            let Some(fleet) = self.fleet.as_mut() else {
                return ops;
            };
            let t = &self.params.targets[i];
            let h = &self.health[i];
            let advise = |kind, until, since, payload: &str| {
                (
                    AdvisoryKey::new(kind, t.name.as_str()),
                    Advice {
                        until: Until::At(until),
                        since,
                        payload: payload.to_string(),
                    },
                )
            };
            if h.breaker.mode() == BreakerMode::Automatic {
                match h.breaker.state() {
                    BreakerState::Open { until } if until > now => {
                        let (k, a) = advise(AdvisoryKind::Open, until, now, "open");
                        fleet.publish(k, a);
                    }
                    BreakerState::Recovering { since } => {
                        let until = since + h.breaker.params().recovery;
                        if until > now {
                            let (k, a) =
                                advise(AdvisoryKind::Recovering, until, since, "recovering");
                            fleet.publish(k, a);
                        }
                    }
                    _ => {}
                }
            }
            if h.limits.is_parked(now) {
                let (k, a) = advise(AdvisoryKind::Parked, h.limits.parked_until(), now, "parked");
                fleet.publish(k, a);
            }
            if let Some(until) = cost_cap_until {
                let (k, a) = advise(AdvisoryKind::CostCapSpent, until, now, "cost_cap");
                fleet.publish(k, a);
            }
        }
        if let Some(fleet) = self.fleet.as_mut() {
            fleet.drain_outbox(&mut ops);
            fleet.follow_up_ops(&mut ops);
        }
        ops
    }

    /// Tells the fleet that a provider's key (`provider/key`, `keyring::key_subject`) was
    /// revoked, until `until`. Drivers call it with each revocation their key rings report
    /// (`KeyEvent::revoked_until`).
    pub fn fleet_revoke(&mut self, subject: &str, until: Until, now: Instant) {
        if let Some(fleet) = self.fleet.as_mut() {
            fleet.revoke(subject, until);
            fleet.publish(
                AdvisoryKey::new(AdvisoryKind::Revoked, subject),
                Advice {
                    until,
                    since: now,
                    payload: "revoked".to_string(),
                },
            );
        }
    }

    /// The keys peers revoked, accepted since the last call: `(provider/key, until)`, for
    /// the driver to apply to its key rings (`KeyRing::revoked_by_peer`). Empty outside a
    /// fleet.
    pub fn fleet_take_revocations(&mut self) -> Vec<(String, Until)> {
        self.fleet
            .as_mut()
            .map(Fleet::take_peer_revocations)
            .unwrap_or_default()
    }

    /// The operations of one sync, in order: the advisories to publish, a heartbeat, the read
    /// of peers' advisories, the leases' takes and give-backs, and the probe tokens to ask
    /// for, renew or give back. The driver runs each against the store and hands each answer
    /// to [`Router::fleet_reply`]; a failed one falls back to local state.
    pub fn fleet_sync(&mut self, now: Instant) -> Vec<StoreOp> {
        let mut ops = self.fleet_publish(now);
        let Some(fleet) = self.fleet.as_mut() else {
            return ops;
        };
        fleet.routine_ops(now, &mut ops);
        let soon = now + fleet.params().sync_every;
        for (i, t) in self.params.targets.iter().enumerate() {
            let b = &self.health[i].breaker;
            let needs = b.mode() == BreakerMode::Automatic
                && match b.state() {
                    BreakerState::HalfOpen => true,
                    BreakerState::Open { until } => until <= soon,
                    _ => false,
                };
            fleet.probe_ops(i, &t.name, needs, now, &mut ops);
        }
        ops
    }

    /// The store's answer to `op` (one of those [`Router::fleet_sync`] or
    /// [`Router::fleet_publish`] returned): leases granted, the probe token, heartbeats, and
    /// the peers' advisories applied. An error falls back to local state.
    pub fn fleet_reply(
        &mut self,
        op: &StoreOp,
        reply: Result<StoreReply, StoreError>,
        now: Instant,
    ) {
        let subject = match op {
            StoreOp::Take(key, ..) | StoreOp::GiveBack(key, _) => Some(key.subject.as_str()),
            StoreOp::TryProbe(target, ..) | StoreOp::ReleaseProbe(target, _) => {
                Some(target.as_str())
            }
            _ => None,
        };
        let target = subject
            .and_then(|s| self.params.target_id(s))
            .map(|t| t.index());
        let Some(fleet) = self.fleet.as_mut() else {
            return;
        };
        let (page, _rejoined) = fleet.reply(op, target, reply, now);
        for advisory in page.iter().flat_map(|p| &p.advisories) {
            self.fleet_accept(advisory, now);
        }
    }

    /// Applies a peer's advisory: opens or parks the target until its `until`, starts the
    /// shared recovery ramp, marks its cost cap spent or a key revoked. One the replica
    /// already knows changes nothing; one naming an unknown target is ignored.
    pub fn fleet_accept(&mut self, advisory: &Advisory, now: Instant) {
        let Some(fleet) = self.fleet.as_mut() else {
            return;
        };
        if !advisory.until.is_live(now) || !fleet.learn(advisory) {
            return;
        }
        if advisory.key.kind == AdvisoryKind::Revoked {
            // The driver applies it to its key ring (`Router::fleet_take_revocations`).
            fleet.peer_revoked(&advisory.key.subject, advisory.until);
            return;
        }
        let Some(tid) = self.params.target_id(&advisory.key.subject) else {
            return;
        };
        let until = match advisory.until {
            Until::At(t) => t,
            Until::Forever => Instant::MAX,
        };
        let h = &mut self.health[tid.index()];
        match advisory.key.kind {
            AdvisoryKind::Open => {
                let transition = h.breaker.advised_open(until, now);
                self.log_transition(tid, transition, now);
            }
            AdvisoryKind::Recovering => {
                let transition = h.breaker.advised_recovering(advisory.since, now);
                self.log_transition(tid, transition, now);
            }
            AdvisoryKind::Parked => {
                let wait = until.saturating_since(now).min(MAX_RESET);
                if h.limits.park(now, Some(wait)) {
                    let until = h.limits.parked_until();
                    self.telemetry
                        .events
                        .push(now, EventKind::Parked { target: tid, until });
                }
            }
            AdvisoryKind::CostCapSpent => fleet.cost_cap_spent_until(tid.index(), until),
            AdvisoryKind::Revoked => {}
        }
    }
}
