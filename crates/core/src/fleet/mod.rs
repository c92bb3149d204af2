//! The fleet seam: what one replica of a fleet of gateways shares with the others, still
//! sans-IO. The router keeps deciding locally, from memory; no request waits on the store.
//!
//! A replica shares four things, in the vocabulary of `switchyard-fleet` (the Redis store),
//! so that a sync task bridges [`StoreOp`]s to `RedisStore` calls 1:1:
//!
//! - **Advisories** ([`Advisory`]): "target T open until t", "parked until t", "key K revoked"
//!   (possibly [`Until::Forever`]), "cost cap spent until t", "recovering since s". A replica
//!   queues what its own state says in a bounded, coalescing [`Outbox`] and reads its peers'
//!   by a change [`Cursor`]. The store keeps the winner: the latest `until`, or for a recovery
//!   ramp the earliest `since`; an advisory is over at its stored `until`, which no reader
//!   resets. Accepting a peer's advisory opens or parks the local target until then, through
//!   the breaker's and the limits' own API (`Breaker::advised_open`, `Limits::park`).
//! - **Leases** ([`Lease`]): requests and tokens per minute and the cost cap are shared
//!   buckets; a replica takes quota in blocks at sync time and admits from what it holds.
//!   Tokens are reserved at admission (prompt plus `max_tokens`, or the target's
//!   `default_max_tokens` for a request without one:
//!   [`TargetParams::request_tokens`](crate::target::TargetParams::request_tokens)); the
//!   unused part comes back.
//!   Over-admission is bounded by the blocks held, not by the request rate.
//! - **The probe token**: a half-open target is probed only by the replica holding its
//!   shared token, so a recovering provider sees the probes of one gateway.
//! - **Heartbeats**: each sync beats; the reply counts the replicas alive.
//!
//! **Degraded mode.** When a store operation fails (down, slow past its timeout, partitioned
//! from this replica), the replica falls back to local state: each lease becomes a local
//! bucket of the shared limit divided by the replicas it last saw alive, and probes need no
//! token. The first operation that succeeds again rejoins: local buckets are dropped, leasing
//! starts again, and the replica republishes what it knows.
//!
//! Invariants: nothing here reads a clock (every call takes `now`, the driver's time, which
//! it maps to the store's clock); every buffer is bounded (the outbox by its capacity, pages
//! by [`MAX_PAGE`]); bad input (an unknown subject, a reply to an operation not asked) is
//! ignored, never a panic.

mod lease;
mod outbox;
mod store;
mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use lease::Lease;
pub use outbox::Outbox;
pub use store::StoreModel;
pub use types::{
    Advice, Advised, Advisory, AdvisoryKey, AdvisoryKind, AdvisoryPage, Alive, BucketKey,
    BucketSpec, Cursor, GivenBack, MAX_CAPACITY, MAX_PAGE, MAX_PAYLOAD, MAX_PERIOD, MAX_SUBJECT,
    Probe, Resource, Rule, StoreError, StoreOp, StoreReply, Taken, Until,
};

use crate::time::{Duration, Instant};

/// The most pages of advisories one sync period reads (4 096 changes): when a page says more
/// wait, the next is read at once (with the next publish); past this bound the rest waits for
/// the next sync, from the cursor, so nothing is lost, and a flood of peers' changes cannot
/// keep a replica reading.
pub const MAX_PAGES_PER_SYNC: u32 = 16;

/// A replica's fleet settings (the scenario's or the gateway's `shared_state:`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FleetParams {
    /// This replica's number in the fleet (the probe token's holder id).
    pub replica: u32,
    /// How often the replica syncs with the store (reads advisories, tops up leases, beats):
    /// the bound on how stale its view of the fleet is.
    pub sync_every: Duration,
    /// A lease block as a fraction of each shared bucket's capacity (0 < b ≤ 1; at least one
    /// unit): the most one replica holds, so the fleet's over-admission bound.
    pub lease_block: f64,
    /// The most advisories waiting to be published.
    pub outbox: usize,
}

impl Default for FleetParams {
    fn default() -> Self {
        FleetParams {
            replica: 0,
            sync_every: Duration::from_secs(1),
            lease_block: 0.05,
            outbox: MAX_PAGE,
        }
    }
}

/// A target's probe token, as this replica knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeToken {
    /// Not held.
    Free,
    /// Asked for; the store has not answered.
    Asking,
    /// Held until then (renewed at each sync while the target needs probes).
    Held {
        /// When the store lets it go if not renewed.
        until: Instant,
    },
}

/// What the fleet seam did, for reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FleetStats {
    /// Store operations asked for.
    pub store_ops: u64,
    /// Store operations that failed (unavailable or timed out).
    pub store_failures: u64,
    /// Advisories published (advise operations sent).
    pub published: u64,
    /// Peers' advisories read and applied.
    pub accepted: u64,
    /// Times the replica fell back to local state.
    pub degraded: u32,
    /// Times it rejoined the store.
    pub rejoined: u32,
    /// Probe tokens granted to this replica.
    pub probe_grants: u32,
}

/// The three shared buckets of one target, by [`Resource`] order; `None` where the target
/// has no such limit.
pub type TargetLeases = [Option<Lease>; 3];

/// One replica's fleet state: see the module documentation.
#[derive(Clone, Debug)]
pub struct Fleet {
    params: FleetParams,
    outbox: Outbox,
    cursor: Cursor,
    /// Pages read since the last sync began (bounded by [`MAX_PAGES_PER_SYNC`]).
    pages: u32,
    /// The last page said more changes wait: read the next with the next publish.
    read_more: bool,
    /// Operations owed to the store outside a sync (a reload's leases given back, its probe
    /// tokens released), sent with the next publish.
    owed: Vec<StoreOp>,
    /// Per advisory key: the last advice this replica published or accepted, so a state the
    /// fleet already knows is not written again.
    known: BTreeMap<AdvisoryKey, Advice>,
    leases: Vec<TargetLeases>,
    probes: Vec<ProbeToken>,
    cost_spent_until: Vec<Option<Instant>>,
    revoked: BTreeMap<String, Until>,
    /// Peers' revocations accepted and not yet taken by the driver (its key rings), oldest
    /// first; at most [`MAX_PAGE`] (past that the oldest is dropped: `revoked` still has it).
    peer_revoked: Vec<(String, Until)>,
    alive: u32,
    degraded_since: Option<Instant>,
    stats: FleetStats,
}

impl Fleet {
    /// A replica's fleet state for `targets` targets with these leases.
    pub fn new(params: FleetParams, leases: Vec<TargetLeases>) -> Fleet {
        let targets = leases.len();
        Fleet {
            outbox: Outbox::new(params.outbox),
            params,
            cursor: Cursor::default(),
            pages: 0,
            read_more: false,
            owed: Vec::new(),
            known: BTreeMap::new(),
            leases,
            probes: vec![ProbeToken::Free; targets],
            cost_spent_until: vec![None; targets],
            revoked: BTreeMap::new(),
            peer_revoked: Vec::new(),
            alive: 1,
            degraded_since: None,
            stats: FleetStats::default(),
        }
    }

    /// The settings.
    pub fn params(&self) -> &FleetParams {
        &self.params
    }
    /// What it did.
    pub fn stats(&self) -> &FleetStats {
        &self.stats
    }
    /// Replicas alive at the last heartbeat (at least 1: this one).
    pub fn alive(&self) -> u32 {
        self.alive
    }
    /// Since when the store has been unreachable; `None` while it answers.
    pub fn degraded_since(&self) -> Option<Instant> {
        self.degraded_since
    }
    /// The advisories waiting to be published.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
    /// The cursor of the next read.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }
    /// A target's leases (by [`Resource`] order).
    pub fn leases(&self, target: usize) -> Option<&TargetLeases> {
        self.leases.get(target)
    }
    /// A target's probe token.
    pub fn probe_token(&self, target: usize) -> ProbeToken {
        self.probes.get(target).copied().unwrap_or(ProbeToken::Free)
    }

    /// Whether `subject` (`provider/key`) is revoked by a live advisory at `now`.
    pub fn is_revoked(&self, subject: &str, now: Instant) -> bool {
        self.revoked.get(subject).is_some_and(|u| u.is_live(now))
    }

    /// Until when a peer's advisory says the target spent its cost cap, if it still does.
    pub fn cost_cap_spent_end(&self, target: usize, now: Instant) -> Option<Instant> {
        self.cost_spent_until
            .get(target)
            .copied()
            .flatten()
            .filter(|&u| u > now)
    }

    /// Whether a peer said the target spent its cost cap, until a time after `now`.
    pub fn cost_cap_spent(&self, target: usize, now: Instant) -> bool {
        self.cost_cap_spent_end(target, now).is_some()
    }

    /// Whether this replica may send the target a half-open probe: it holds the token, or
    /// the store is unreachable (each replica then probes for itself).
    pub fn may_probe(&self, target: usize, now: Instant) -> bool {
        self.degraded_since.is_some()
            || matches!(self.probe_token(target), ProbeToken::Held { until } if until > now)
    }

    /// Whether the target's leases hold one request and `tokens` tokens (and some budget).
    pub fn has_room(&mut self, target: usize, tokens: u64, now: Instant) -> bool {
        let Some(l) = self.leases.get_mut(target) else {
            return true;
        };
        let [req, tok, usd] = l;
        req.as_mut().is_none_or(|l| l.has_room(1, now))
            && tok.as_mut().is_none_or(|l| l.has_room(tokens, now))
            && usd.as_mut().is_none_or(|l| l.has_room(1, now))
    }

    /// An attempt was admitted: one request and `tokens` reserved tokens are spent.
    pub fn admit(&mut self, target: usize, tokens: u64, now: Instant) {
        let Some(l) = self.leases.get_mut(target) else {
            return;
        };
        if let Some(r) = l[0].as_mut() {
            r.spend(1, now);
        }
        if let Some(t) = l[1].as_mut() {
            t.spend(tokens, now);
        }
    }

    /// The attempt ended having used `used` of its `reserved` tokens and cost `micro_usd`:
    /// the unused tokens come back (or the excess is spent), and the cost is spent.
    pub fn settle(
        &mut self,
        target: usize,
        reserved: u64,
        used: u64,
        micro_usd: u64,
        now: Instant,
    ) {
        let Some(l) = self.leases.get_mut(target) else {
            return;
        };
        if let Some(t) = l[1].as_mut() {
            if used < reserved {
                t.unspend(reserved - used);
            } else {
                t.spend(used - reserved, now);
            }
        }
        if let Some(u) = l[2].as_mut() {
            u.spend(micro_usd, now);
        }
    }

    /// Queues `advice` for `key` unless the fleet already knows it (this replica published
    /// or accepted advice that `advice` does not beat).
    pub fn publish(&mut self, key: AdvisoryKey, advice: Advice) {
        let rule = key.kind.rule();
        if self.known.get(&key).is_some_and(|k| !advice.beats(k, rule)) {
            return;
        }
        self.outbox.push(key, advice);
    }

    /// The advise operations waiting, each remembered as known; the outbox empties.
    pub fn drain_outbox(&mut self, ops: &mut Vec<StoreOp>) {
        for (key, advice) in self.outbox.drain() {
            self.known.insert(key.clone(), advice.clone());
            self.stats.published = self.stats.published.saturating_add(1);
            ops.push(StoreOp::Advise(key, advice));
        }
    }

    /// Takes over `old`'s state (a reload: this replica's new router replaces the old one).
    /// `map[j]` is the name of `old`'s target `j` and its new index, `None` for one that is
    /// gone. What
    /// the fleet knows (the cursor, advisories known and revoked, replicas alive, degraded
    /// mode, the outbox, counters) carries whole; per target that kept its name, its cost-cap
    /// advisory, probe token and each lease whose bucket is unchanged. A lease that cannot
    /// carry (its target gone, its limit changed or removed) gives its units back, and a probe
    /// token held for a target that is gone is released, with the next publish: the shared
    /// bucket does not leak a block until it refills.
    pub fn carry_from(&mut self, old: &Fleet, map: &[(&str, Option<usize>)]) {
        self.outbox = old.outbox.clone();
        self.cursor = old.cursor;
        self.pages = old.pages;
        self.read_more = old.read_more;
        self.owed = old.owed.clone();
        self.known = old.known.clone();
        self.revoked = old.revoked.clone();
        self.peer_revoked = old.peer_revoked.clone();
        self.alive = old.alive;
        self.degraded_since = old.degraded_since;
        self.stats = old.stats;
        for (j, old_leases) in old.leases.iter().enumerate() {
            let Some(&(name, to)) = map.get(j) else {
                continue;
            };
            for old_lease in old_leases.iter().flatten() {
                let new_lease = to
                    .and_then(|i| self.leases.get_mut(i))
                    .and_then(|l| l.iter_mut().flatten().find(|l| l.key() == old_lease.key()))
                    .filter(|l| l.spec() == old_lease.spec());
                match new_lease {
                    Some(l) => l.carry_from(old_lease),
                    None => {
                        let units = old_lease.returnable();
                        if units > 0 {
                            self.owed
                                .push(StoreOp::GiveBack(old_lease.key().clone(), units));
                        }
                    }
                }
            }
            let token = old.probe_token(j);
            match to {
                Some(i) => {
                    if let Some(t) = self.probes.get_mut(i) {
                        *t = token;
                    }
                    if let Some(u) = self.cost_spent_until.get_mut(i) {
                        *u = old.cost_spent_until.get(j).copied().flatten();
                    }
                }
                None => {
                    if matches!(token, ProbeToken::Held { .. }) {
                        self.owed
                            .push(StoreOp::ReleaseProbe(name.to_string(), self.params.replica));
                    }
                }
            }
        }
    }

    /// The read of the next page of advisories, when the last page said more wait and this
    /// sync period has read fewer than [`MAX_PAGES_PER_SYNC`] pages, and the operations
    /// owed since a reload.
    pub fn follow_up_ops(&mut self, ops: &mut Vec<StoreOp>) {
        ops.append(&mut self.owed);
        if std::mem::take(&mut self.read_more) && self.pages < MAX_PAGES_PER_SYNC {
            self.pages += 1;
            ops.push(StoreOp::AdvisoriesSince(self.cursor, MAX_PAGE));
        }
    }

    /// Remembers a peer's advisory as known (so it is not published back); whether it is
    /// new to this replica.
    pub fn learn(&mut self, advisory: &Advisory) -> bool {
        let advice = Advice {
            until: advisory.until,
            since: advisory.since,
            payload: advisory.payload.clone(),
        };
        let rule = advisory.key.kind.rule();
        if self
            .known
            .get(&advisory.key)
            .is_some_and(|k| *k == advice || !advice.beats(k, rule))
        {
            return false;
        }
        self.known.insert(advisory.key.clone(), advice);
        self.stats.accepted = self.stats.accepted.saturating_add(1);
        true
    }

    /// Records a revoked key (subject `provider/key`), the latest `until` kept.
    pub fn revoke(&mut self, subject: &str, until: Until) {
        let u = self.revoked.entry(subject.to_string()).or_insert(until);
        *u = (*u).max(until);
    }

    /// Records a revoked key a peer published, for the driver to take
    /// ([`Fleet::take_peer_revocations`]) and apply to its key ring.
    pub fn peer_revoked(&mut self, subject: &str, until: Until) {
        self.revoke(subject, until);
        if self.peer_revoked.len() >= MAX_PAGE {
            self.peer_revoked.remove(0);
        }
        self.peer_revoked.push((subject.to_string(), until));
    }

    /// The peers' revocations accepted since the last call, oldest first (allocates nothing
    /// when there are none).
    pub fn take_peer_revocations(&mut self) -> Vec<(String, Until)> {
        std::mem::take(&mut self.peer_revoked)
    }

    /// Records that a peer spent the target's cost cap until `until`.
    pub fn cost_cap_spent_until(&mut self, target: usize, until: Instant) {
        if let Some(u) = self.cost_spent_until.get_mut(target) {
            *u = Some(u.map_or(until, |cur| cur.max(until)));
        }
    }

    /// The sync's routine operations, after the advisories: a heartbeat, the read of
    /// advisories, and each lease's take or give-back.
    pub fn routine_ops(&mut self, now: Instant, ops: &mut Vec<StoreOp>) {
        let beat_until = now + self.params.sync_every.saturating_mul(3);
        ops.push(StoreOp::Beat(self.params.replica, beat_until));
        ops.push(StoreOp::AdvisoriesSince(self.cursor, MAX_PAGE));
        self.pages = 1;
        self.read_more = false;
        for l in self.leases.iter_mut().flatten().flatten() {
            match l.wants() {
                Some(Ok(units)) => ops.push(StoreOp::Take(l.key().clone(), l.spec(), units)),
                Some(Err(units)) => ops.push(StoreOp::GiveBack(l.key().clone(), units)),
                None => {}
            }
        }
    }

    /// Asks for (or renews) the probe token of `target` (named `name`) while it needs probes,
    /// and gives it back once it does not.
    pub fn probe_ops(
        &mut self,
        target: usize,
        name: &str,
        needs: bool,
        now: Instant,
        ops: &mut Vec<StoreOp>,
    ) {
        let Some(token) = self.probes.get_mut(target) else {
            return;
        };
        let hold = now + self.params.sync_every.saturating_mul(3);
        match (*token, needs) {
            (ProbeToken::Asking, _) => {}
            (ProbeToken::Free, true) | (ProbeToken::Held { .. }, true) => {
                if *token == ProbeToken::Free {
                    *token = ProbeToken::Asking;
                }
                ops.push(StoreOp::TryProbe(
                    name.to_string(),
                    self.params.replica,
                    hold,
                ));
            }
            (ProbeToken::Held { .. }, false) => {
                *token = ProbeToken::Free;
                ops.push(StoreOp::ReleaseProbe(name.to_string(), self.params.replica));
            }
            (ProbeToken::Free, false) => {}
        }
    }

    /// Folds in the store's answer to one operation. `target` is the index of the target the
    /// operation's subject names, when it names one. Returns the page of advisories to apply
    /// (for a read) and whether the replica just rejoined the store (republish then).
    pub fn reply(
        &mut self,
        op: &StoreOp,
        target: Option<usize>,
        reply: Result<StoreReply, StoreError>,
        now: Instant,
    ) -> (Option<AdvisoryPage>, bool) {
        self.stats.store_ops = self.stats.store_ops.saturating_add(1);
        let reply = match reply {
            Ok(r) => r,
            Err(StoreError::Invalid { .. }) => {
                // A bug, not an outage: undo the operation's bookkeeping, stay joined.
                self.undo(op, target);
                return (None, false);
            }
            Err(_) => {
                self.store_failed(op, target, now);
                return (None, false);
            }
        };
        let rejoined = self.degraded_since.take().is_some();
        if rejoined {
            self.stats.rejoined = self.stats.rejoined.saturating_add(1);
            for l in self.leases.iter_mut().flatten().flatten() {
                l.rejoin();
            }
            // What this replica knew may be lost, or newer than the store's: say it again.
            self.known.clear();
        }
        let page = match (op, reply) {
            (StoreOp::AdvisoriesSince(..), StoreReply::Page(page)) => {
                self.cursor = page.cursor;
                self.read_more = page.more;
                if page.reset {
                    self.known.clear();
                }
                Some(page)
            }
            (StoreOp::Take(key, ..), StoreReply::Taken(taken)) => {
                if let Some(l) = self.lease_mut(target, key) {
                    l.granted(&taken);
                }
                None
            }
            (StoreOp::TryProbe(..), StoreReply::Probe(p)) => {
                if let Some(t) = target.and_then(|t| self.probes.get_mut(t)) {
                    let mine = p
                        .holder
                        .filter(|(h, _)| p.granted && *h == self.params.replica);
                    *t = match mine {
                        Some((_, until)) => {
                            if !matches!(*t, ProbeToken::Held { .. }) {
                                self.stats.probe_grants = self.stats.probe_grants.saturating_add(1);
                            }
                            ProbeToken::Held { until }
                        }
                        None => ProbeToken::Free,
                    };
                }
                None
            }
            (StoreOp::Beat(..) | StoreOp::Alive, StoreReply::Alive(a)) => {
                self.alive = a.replicas.max(1);
                None
            }
            _ => None,
        };
        (page, rejoined)
    }

    fn lease_mut(&mut self, target: Option<usize>, key: &BucketKey) -> Option<&mut Lease> {
        let l = self.leases.get_mut(target?)?;
        l.iter_mut().flatten().find(|l| l.key() == key)
    }

    /// A store operation failed: its own bookkeeping undone, and the replica falls back to
    /// local state (once).
    fn store_failed(&mut self, op: &StoreOp, target: Option<usize>, now: Instant) {
        self.stats.store_failures = self.stats.store_failures.saturating_add(1);
        self.undo(op, target);
        if self.degraded_since.is_none() {
            self.degraded_since = Some(now);
            self.stats.degraded = self.stats.degraded.saturating_add(1);
            let alive = self.alive;
            for l in self.leases.iter_mut().flatten().flatten() {
                l.degrade(alive, now);
            }
            for t in &mut self.probes {
                *t = ProbeToken::Free;
            }
        }
    }

    /// Undoes what asking for `op` noted: a take or a probe token no longer awaited, an
    /// advisory to publish again.
    fn undo(&mut self, op: &StoreOp, target: Option<usize>) {
        match op {
            StoreOp::Take(key, ..) => {
                if let Some(l) = self.lease_mut(target, key) {
                    l.take_failed();
                }
            }
            StoreOp::TryProbe(..) => {
                if let Some(t) = target.and_then(|t| self.probes.get_mut(t))
                    && *t == ProbeToken::Asking
                {
                    *t = ProbeToken::Free;
                }
            }
            StoreOp::Advise(key, _) => {
                // Not stored: publish it again after the rejoin.
                self.known.remove(key);
            }
            _ => {}
        }
    }
}
