//! The fleet in the event loop: the replicas' routers, the load balancer, the syncs and the
//! store operations in flight (see `crate::fleet` for the model), and the figures.

use switchyard_core::fleet::{FleetParams, StoreError, StoreModel, StoreOp, StoreReply};
use switchyard_core::health::BreakerState;
use switchyard_core::id::TargetId;
use switchyard_core::outcome::{ErrorKind, Outcome};
use switchyard_core::rng::SeededRng;
use switchyard_core::router::Router;
use switchyard_core::time::{Duration, Instant};

use super::{Kind, Sim};
use crate::fleet::{Balancer, FleetFigures, ProviderLoad, SimFleet, TargetFleet};
use crate::outcome::Pending;
use crate::{Observer, SimParams};

/// The routers of a run: one, or a fleet's replicas. Replica 0 draws from the `router`
/// substream, as a lone router does; replica `i` from `router/i`.
pub(super) fn routers(params: &SimParams) -> Vec<Router> {
    let n = params.fleet.as_ref().map_or(1, |f| f.replicas.max(1));
    (0..n)
        .map(|i| {
            let label = if i == 0 {
                "router".to_string()
            } else {
                format!("router/{i}")
            };
            let mut r = Router::new(
                crate::router_params(params),
                SeededRng::substream(params.seed, &label),
            );
            if let Some(shared) = params.fleet.as_ref().and_then(|f| f.shared) {
                r.join_fleet(FleetParams {
                    replica: i,
                    sync_every: shared.sync_every,
                    lease_block: shared.lease_block,
                    ..FleetParams::default()
                });
            }
            r
        })
        .collect()
}

/// A store operation on its way.
#[derive(Debug)]
struct InTransit {
    replica: u32,
    op: StoreOp,
    reply: Option<Result<StoreReply, StoreError>>,
    /// One way.
    delay: Duration,
    /// The replica gave up on it (its answer is already set): the store may still apply it.
    timed_out: bool,
    /// Events still to come for it.
    waiting: u8,
}

/// The fleet's state in a run.
#[derive(Debug)]
pub(super) struct FleetSim {
    params: SimFleet,
    store: StoreModel,
    ops: Vec<Option<InTransit>>,
    free: Vec<u32>,
    balancer: Balancer,
    figures: FleetFigures,
    /// Per target: a probe was sent since the first detection.
    probed_since_open: Vec<bool>,
    /// Per target: the last non-probe attempt after the first detection.
    last_after_open: Vec<Option<Instant>>,
}

impl FleetSim {
    pub(super) fn new(params: &SimFleet, sim: &SimParams) -> FleetSim {
        let targets = sim.router.targets.len();
        FleetSim {
            store: StoreModel::new(),
            ops: Vec::new(),
            free: Vec::new(),
            balancer: Balancer::new(params.load_balance, params.replicas, sim.seed),
            figures: FleetFigures {
                replicas: params.replicas.max(1),
                shared: params.shared.is_some(),
                per_replica: vec![0; params.replicas.max(1) as usize],
                providers: sim
                    .providers
                    .iter()
                    .map(|p| ProviderLoad {
                        name: p.name.clone(),
                        ..ProviderLoad::default()
                    })
                    .collect(),
                targets: sim
                    .router
                    .targets
                    .iter()
                    .map(|t| TargetFleet {
                        name: t.name.clone(),
                        ..TargetFleet::default()
                    })
                    .collect(),
                ..FleetFigures::default()
            },
            probed_since_open: vec![false; targets],
            last_after_open: vec![None; targets],
            params: params.clone(),
        }
    }

    /// The replica the next request goes to.
    pub(super) fn pick_replica(&mut self) -> u32 {
        let r = self.balancer.pick();
        if let Some(c) = self.figures.per_replica.get_mut(r as usize) {
            *c += 1;
        }
        r
    }

    /// An attempt went to `target` (served by provider `provider`) from `replica`: what the
    /// provider received, and whether it was a half-open probe.
    pub(super) fn sent(
        &mut self,
        router: &Router,
        target: TargetId,
        provider: usize,
        pending: &Pending,
        now: Instant,
    ) {
        if let Some(p) = self.figures.providers.get_mut(provider) {
            p.requests += 1;
            if matches!(
                pending.report.outcome,
                Outcome::Error {
                    kind: ErrorKind::RateLimited,
                    ..
                }
            ) {
                p.rate_limited += 1;
            }
        }
        let i = target.index();
        let probe = router.health(target).breaker.state() == BreakerState::HalfOpen;
        let Some(t) = self.figures.targets.get_mut(i) else {
            return;
        };
        if probe {
            t.probes += 1;
        }
        if t.first_open.is_some() {
            if probe {
                self.probed_since_open[i] = true;
            } else if !self.probed_since_open[i] {
                self.last_after_open[i] = Some(now);
            }
        }
    }

    /// Notes a replica's breaker that opened (the first detection of an outage).
    fn note_opens(&mut self, router: &Router, now: Instant) {
        for (i, t) in self.figures.targets.iter_mut().enumerate() {
            if t.first_open.is_none()
                && matches!(
                    router.health(TargetId::new(i as u32)).breaker.state(),
                    BreakerState::Open { .. }
                )
            {
                t.first_open = Some(now);
            }
        }
    }

    /// The figures, with the replicas' store counters.
    pub(super) fn figures(mut self, routers: &[Router]) -> FleetFigures {
        for (t, last) in self.figures.targets.iter_mut().zip(&self.last_after_open) {
            t.stopped_after = t
                .first_open
                .map(|open| last.map_or(Duration::ZERO, |l| l.saturating_since(open)));
        }
        for s in routers.iter().filter_map(|r| r.fleet()).map(|f| *f.stats()) {
            self.figures.store_ops += s.store_ops;
            self.figures.store_failures += s.store_failures;
            self.figures.degraded += s.degraded;
            self.figures.rejoined += s.rejoined;
        }
        self.figures
    }

    fn timeout(&self) -> Duration {
        self.params.shared.map_or(Duration::ZERO, |s| {
            Duration::from_nanos(s.sync_every.as_nanos() / 2)
        })
    }
}

impl<O: Observer> Sim<'_, O> {
    /// Every replica joins before traffic starts (its first sync answered at once), then
    /// syncs every `sync_every`, the replicas staggered evenly over the period.
    pub(super) fn schedule_syncs(&mut self) {
        let Some(shared) = self.fleet.as_ref().and_then(|f| f.params.shared) else {
            return;
        };
        let n = self.routers.len() as u64;
        for i in 0..self.routers.len() {
            let ops = self.routers[i].fleet_sync(Instant::ZERO);
            for op in ops {
                let reply = match self.fleet.as_mut() {
                    Some(f) => f.store.apply(&op, Instant::ZERO),
                    None => return,
                };
                self.routers[i].fleet_reply(&op, reply, Instant::ZERO);
            }
            let offset = Duration::from_nanos(shared.sync_every.as_nanos() / n * i as u64);
            self.push(
                Instant::ZERO + shared.sync_every + offset,
                Kind::Sync,
                i as u32,
                0,
                0,
            );
        }
    }

    /// A replica's sync; the next is scheduled while traffic arrives or requests run.
    pub(super) fn sync(&mut self, replica: u32, end_of_arrivals: Instant) {
        let Some(shared) = self.fleet.as_ref().and_then(|f| f.params.shared) else {
            return;
        };
        let now = self.now;
        let ops = self.routers[replica as usize].fleet_sync(now);
        self.issue(replica, ops);
        let in_flight = self.slots.len() > self.free.len();
        if now < end_of_arrivals || in_flight {
            self.push(now + shared.sync_every, Kind::Sync, replica, 0, 0);
        }
    }

    /// After an event on `replica`: notes breakers that opened and publishes what changed.
    pub(super) fn after_event(&mut self, replica: u32) {
        let now = self.now;
        let Some(f) = self.fleet.as_mut() else {
            return;
        };
        let router = &mut self.routers[replica as usize];
        f.note_opens(router, now);
        if f.params.shared.is_some() {
            let ops = router.fleet_publish(now);
            self.issue(replica, ops);
        }
    }

    /// Sends store operations on their way.
    fn issue(&mut self, replica: u32, ops: Vec<StoreOp>) {
        let now = self.now;
        for op in ops {
            let Some(f) = self.fleet.as_mut() else {
                return;
            };
            let timeout = f.timeout();
            let delay = f
                .params
                .shared
                .map_or(Duration::ZERO, |s| s.propagation_delay)
                + f.params.slowness(now);
            let mut t = InTransit {
                replica,
                op,
                reply: None,
                delay,
                timed_out: false,
                waiting: 2,
            };
            let unreachable = f.params.unreachable(replica, now);
            if unreachable || delay + delay > timeout {
                t.timed_out = true;
                t.reply = Some(Err(if unreachable {
                    StoreError::Unavailable { op: t.op.name() }
                } else {
                    StoreError::Timeout { op: t.op.name() }
                }));
                t.waiting = if unreachable { 1 } else { 2 };
            }
            let slot = match f.free.pop() {
                Some(s) => {
                    f.ops[s as usize] = Some(t);
                    s
                }
                None => {
                    f.ops.push(Some(t));
                    (f.ops.len() - 1) as u32
                }
            };
            if unreachable {
                self.push(now + timeout, Kind::StoreReply, slot, 0, 0);
            } else if delay + delay > timeout {
                self.push(now + delay, Kind::StoreApply, slot, 0, 0);
                self.push(now + timeout, Kind::StoreReply, slot, 0, 0);
            } else {
                self.push(now + delay, Kind::StoreApply, slot, 0, 0);
            }
        }
    }

    /// An operation reaches the store.
    pub(super) fn store_apply(&mut self, slot: u32) {
        let now = self.now;
        let Some(f) = self.fleet.as_mut() else {
            return;
        };
        let Some(Some(t)) = f.ops.get_mut(slot as usize) else {
            return;
        };
        let reply = f.store.apply(&t.op, now);
        t.waiting -= 1;
        if t.timed_out {
            if t.waiting == 0 {
                f.ops[slot as usize] = None;
                f.free.push(slot);
            }
            return;
        }
        t.reply = Some(reply);
        let back = now + t.delay;
        self.push(back, Kind::StoreReply, slot, 0, 0);
    }

    /// An operation's answer reaches its replica.
    pub(super) fn store_reply(&mut self, slot: u32) {
        let now = self.now;
        let Some(f) = self.fleet.as_mut() else {
            return;
        };
        let Some(Some(t)) = f.ops.get_mut(slot as usize) else {
            return;
        };
        t.waiting -= 1;
        let replica = t.replica;
        let op = t.op.clone();
        let reply = t.reply.take();
        if t.waiting == 0 {
            f.ops[slot as usize] = None;
            f.free.push(slot);
        }
        if let Some(reply) = reply {
            self.routers[replica as usize].fleet_reply(&op, reply, now);
            self.after_event(replica);
        }
    }
}
