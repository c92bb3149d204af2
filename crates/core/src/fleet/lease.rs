//! A replica's side of one shared bucket: the units it leased and has not used yet.
//!
//! Admission is local and immediate: a request is admitted when the replica holds its units
//! (a request larger than a block goes when a whole block is held, as a client-side bucket
//! lets an oversized request through when full). Units are taken from the shared bucket in
//! blocks at sync time, never on a request's path; units reserved and not used (a reply
//! shorter than its `max_tokens`) come back to the lease, and a lease holding more than a
//! block gives the excess back to the store at the next sync. A replica therefore spends at
//! most what the store granted it, plus at most one request's excess over a block: the
//! fleet's over-admission is bounded by the blocks held, never by the request rate.
//!
//! While the store is unreachable (degraded), a lease turns into a local bucket of the
//! shared capacity divided by the replicas last seen alive, starting from the units held;
//! when the store returns the local bucket is dropped and leasing starts again, the units
//! spent locally in the last period owed to the shared bucket (paid from the next grants
//! before anything is admitted), so a rejoining fleet does not spend a period twice.

use super::types::{BucketKey, BucketSpec, Taken};
use crate::time::{Duration, Instant};

/// A continuously refilled bucket (the store's bucket, and a degraded lease's local one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Refill {
    pub level: f64,
    pub at: Instant,
    pub capacity: f64,
    pub period: Duration,
}

impl Refill {
    /// The level at `now`; time never runs backwards.
    pub fn refill(&mut self, now: Instant) {
        self.level = self.level.min(self.capacity);
        if now > self.at {
            let elapsed = now.saturating_since(self.at);
            let add = if elapsed >= self.period {
                self.capacity
            } else {
                elapsed.as_nanos() as f64 * self.capacity / self.period.as_nanos().max(1) as f64
            };
            self.level = (self.level + add).min(self.capacity);
            self.at = now;
        }
    }
}

/// One target's lease on one shared bucket.
#[derive(Clone, Debug)]
pub struct Lease {
    key: BucketKey,
    spec: BucketSpec,
    block: u64,
    held: u64,
    /// Units spent beyond what was held (an oversized request, a cost known only at the
    /// end): paid from the next grant.
    debt: u64,
    /// A take is out: no second one until it answers.
    taking: bool,
    /// No take has been answered yet (the replica has not joined).
    fresh: bool,
    local: Option<Refill>,
    /// Units spent on the local bucket, net of returns: charged to the shared bucket at the
    /// rejoin (at most one period's worth), so the fleet does not spend them twice.
    local_spent: u64,
}

impl Lease {
    /// A lease on `key` (of size `spec`) taken in blocks of `block` units (at least 1).
    pub fn new(key: BucketKey, spec: BucketSpec, block: u64) -> Lease {
        Lease {
            key,
            spec,
            block: block.clamp(1, spec.capacity.max(1)),
            held: 0,
            debt: 0,
            taking: false,
            fresh: true,
            local: None,
            local_spent: 0,
        }
    }

    /// The shared bucket.
    pub fn key(&self) -> &BucketKey {
        &self.key
    }
    /// Its size.
    pub fn spec(&self) -> BucketSpec {
        self.spec
    }
    /// Units taken per block.
    pub fn block(&self) -> u64 {
        self.block
    }
    /// Units held and not used.
    pub fn held(&self) -> u64 {
        self.held
    }
    /// Units spent beyond what was held, to pay from the next grant.
    pub fn debt(&self) -> u64 {
        self.debt
    }
    /// Whether it runs on a local bucket (the store unreachable).
    pub fn is_degraded(&self) -> bool {
        self.local.is_some()
    }

    /// Whether `units` may be spent now.
    pub fn has_room(&mut self, units: u64, now: Instant) -> bool {
        match self.local.as_mut() {
            Some(b) => {
                b.refill(now);
                b.level >= (units as f64).min(b.capacity)
            }
            None => self.debt == 0 && self.held >= units.min(self.block),
        }
    }

    /// Spends `units` (after `has_room`): from the held units, the rest as debt.
    pub fn spend(&mut self, units: u64, now: Instant) {
        if let Some(b) = self.local.as_mut() {
            b.refill(now);
            b.level -= units as f64;
            self.local_spent = self.local_spent.saturating_add(units);
            return;
        }
        let from_held = units.min(self.held);
        self.held -= from_held;
        self.debt = self.debt.saturating_add(units - from_held);
    }

    /// Units reserved and not used come back (debt first).
    pub fn unspend(&mut self, units: u64) {
        if let Some(b) = self.local.as_mut() {
            b.level = (b.level + units as f64).min(b.capacity);
            self.local_spent = self.local_spent.saturating_sub(units);
            return;
        }
        let pay = units.min(self.debt);
        self.debt -= pay;
        self.held = self.held.saturating_add(units - pay);
    }

    /// What the next sync asks of the store: `Some(Ok(n))` to take `n` units (topping up to
    /// a block and paying the debt), `Some(Err(n))` to give `n` excess units back (they leave
    /// the lease now), `None` for nothing.
    pub fn wants(&mut self) -> Option<Result<u64, u64>> {
        if self.local.is_some() || self.taking {
            return None;
        }
        if self.held > self.block {
            let excess = self.held - self.block;
            self.held = self.block;
            return Some(Err(excess));
        }
        let want = (self.block - self.held).saturating_add(self.debt);
        if want == 0 {
            return None;
        }
        self.taking = true;
        Some(Ok(want))
    }

    /// The store granted a take.
    pub fn granted(&mut self, taken: &Taken) {
        self.taking = false;
        self.fresh = false;
        let pay = taken.granted.min(self.debt);
        self.debt -= pay;
        self.held = self.held.saturating_add(taken.granted - pay);
    }

    /// A take failed (the store did not answer): the next sync asks again.
    pub fn take_failed(&mut self) {
        self.taking = false;
    }

    /// Takes over `old`'s state (a reload: the same bucket, same size): what it holds and
    /// owes, a take it awaits, its local bucket.
    pub fn carry_from(&mut self, old: &Lease) {
        let Lease {
            key, spec, block, ..
        } = self.clone();
        *self = Lease {
            key,
            spec,
            block,
            ..old.clone()
        };
    }

    /// The units a lease that is going away gives back to the shared bucket: those it holds
    /// (none while on a local bucket).
    pub fn returnable(&self) -> u64 {
        if self.local.is_some() { 0 } else { self.held }
    }

    /// The store is unreachable: run on a local bucket of the shared capacity divided by
    /// `alive` replicas, starting from the units held; a lease whose first take never
    /// answered (the store down when the replica started) starts from one block, as if that
    /// take had been granted, so a replica starting alone still serves, and over-admission
    /// stays bounded by the blocks.
    pub fn degrade(&mut self, alive: u32, now: Instant) {
        if self.local.is_some() {
            return;
        }
        let capacity = (self.spec.capacity as f64 / f64::from(alive.max(1))).max(1.0);
        let start = if self.fresh { self.block } else { self.held };
        self.local = Some(Refill {
            level: (start as f64).min(capacity) - self.debt as f64,
            at: now,
            capacity,
            period: self.spec.period,
        });
        self.held = 0;
        self.debt = 0;
        self.taking = false;
        self.fresh = false;
    }

    /// The store is back: the local bucket is dropped and leasing starts from nothing, owing
    /// the shared bucket what was spent locally in the last period (at most the local
    /// bucket's capacity: units spent before that have refilled).
    pub fn rejoin(&mut self) {
        if let Some(b) = self.local.take() {
            self.debt = self.local_spent.min(b.capacity as u64);
        }
        self.local_spent = 0;
    }
}
