//! [`StoreModel`]: the fleet's store in memory, on the caller's time: the same operations and
//! rules as `switchyard_fleet::RedisStore`'s Lua scripts, for the simulator and for tests.
//!
//! The `now` each operation takes is the store's clock (in Redis, `TIME` read inside the
//! script): it alone decides expiries, and reading never moves a TTL. Like the scripts:
//!
//! - `advise` stores an advisory unless a live one beats it (latest `until`; for a recovery
//!   ramp, earliest `since`); an advisory is over once the clock reaches its `until`;
//! - `advisories_since` reads the live advisories changed after a cursor, by change sequence;
//!   a cursor of another epoch (the store lost its data) reads from the start, with `reset`;
//! - a bucket starts full, refills continuously (`capacity` per `period`), is granted at most
//!   its whole units, and a full bucket is an absent one (`give_back` to it adds nothing);
//! - a probe token has one holder at a time, until its `until`;
//! - `beat` keeps a replica's latest `until`; `alive` counts the live ones.

use std::collections::BTreeMap;

use super::lease::Refill;
use super::types::{
    Advice, Advised, Advisory, AdvisoryKey, AdvisoryPage, Alive, BucketKey, BucketSpec, Cursor,
    GivenBack, MAX_CAPACITY, MAX_PAGE, MAX_PAYLOAD, MAX_PERIOD, Probe, StoreError, StoreOp,
    StoreReply, Taken, check_subject, check_units,
};
use crate::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Record {
    advice: Advice,
    seq: u64,
}

/// The fleet's store in memory: see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct StoreModel {
    records: BTreeMap<AdvisoryKey, Record>,
    /// Change index: sequence number of each record's last change.
    changes: BTreeMap<u64, AdvisoryKey>,
    epoch: u64,
    seq: u64,
    /// Epochs begun so far (a new one after `lose_data`).
    epochs: u64,
    buckets: BTreeMap<BucketKey, Refill>,
    probes: BTreeMap<String, (u32, Instant)>,
    beats: BTreeMap<u32, Instant>,
}

impl StoreModel {
    /// An empty store.
    pub fn new() -> StoreModel {
        StoreModel::default()
    }

    /// Runs one operation (what a sync task does with `RedisStore`'s method of that name).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for input out of the store's bounds.
    pub fn apply(&mut self, op: &StoreOp, now: Instant) -> Result<StoreReply, StoreError> {
        Ok(match op {
            StoreOp::Advise(key, advice) => StoreReply::Advised(self.advise(key, advice, now)?),
            StoreOp::AdvisoriesSince(cursor, max) => {
                StoreReply::Page(self.advisories_since(*cursor, *max, now)?)
            }
            StoreOp::Take(bucket, spec, units) => {
                StoreReply::Taken(self.take(bucket, *spec, *units, now)?)
            }
            StoreOp::GiveBack(bucket, units) => {
                StoreReply::GivenBack(self.give_back(bucket, *units, now)?)
            }
            StoreOp::TryProbe(target, holder, until) => {
                StoreReply::Probe(self.try_probe(target, *holder, *until, now)?)
            }
            StoreOp::ReleaseProbe(target, holder) => {
                StoreReply::Released(self.release_probe(target, *holder, now)?)
            }
            StoreOp::Beat(replica, until) => StoreReply::Alive(self.beat(*replica, *until, now)),
            StoreOp::Alive => StoreReply::Alive(self.alive(now)),
        })
    }

    /// The store restarted without its data: everything is gone, and the next advisory begins
    /// a new epoch (readers see `reset`).
    pub fn lose_data(&mut self) {
        let epochs = self.epochs;
        *self = StoreModel::default();
        self.epochs = epochs;
    }

    fn drop_over(&mut self, now: Instant) {
        let over: Vec<AdvisoryKey> = self
            .records
            .iter()
            .filter(|(_, r)| !r.advice.until.is_live(now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in over {
            if let Some(r) = self.records.remove(&key) {
                self.changes.remove(&r.seq);
            }
        }
    }

    /// Stores `advice` for `key` unless a live advisory beats it (see [`Advice::beats`]).
    ///
    /// # Errors
    /// [`StoreError::Invalid`]: an empty or long subject, a long payload.
    pub fn advise(
        &mut self,
        key: &AdvisoryKey,
        advice: &Advice,
        now: Instant,
    ) -> Result<Advised, StoreError> {
        const OP: &str = "advise";
        check_subject(OP, &key.subject)?;
        if advice.payload.len() > MAX_PAYLOAD {
            return Err(StoreError::Invalid {
                op: OP,
                why: "payload over 256 bytes",
            });
        }
        self.drop_over(now);
        let cur = self.records.get(key);
        let accepted = advice.until.is_live(now)
            && cur.is_none_or(|c| advice.beats(&c.advice, key.kind.rule()));
        if accepted {
            if self.epoch == 0 {
                self.epochs = self.epochs.saturating_add(1);
                self.epoch = self.epochs;
            }
            self.seq = self.seq.saturating_add(1);
            let seq = self.seq;
            if let Some(old) = self.records.insert(
                key.clone(),
                Record {
                    advice: advice.clone(),
                    seq,
                },
            ) {
                self.changes.remove(&old.seq);
            }
            self.changes.insert(seq, key.clone());
        }
        Ok(Advised {
            accepted,
            stored: self
                .records
                .get(key)
                .map(|r| (r.advice.until, r.advice.since)),
            now,
        })
    }

    /// The live advisories changed after `cursor`, oldest change first, at most `max` changes
    /// read. Reading changes no TTL.
    ///
    /// # Errors
    /// [`StoreError::Invalid`]: `max` out of 1..=256.
    pub fn advisories_since(
        &mut self,
        cursor: Cursor,
        max: usize,
        now: Instant,
    ) -> Result<AdvisoryPage, StoreError> {
        if !(1..=MAX_PAGE).contains(&max) {
            return Err(StoreError::Invalid {
                op: "advisories_since",
                why: "max out of 1..256",
            });
        }
        self.drop_over(now);
        let mut from = cursor.seq;
        let mut reset = false;
        if cursor.epoch != self.epoch || from > self.seq {
            reset = from != 0;
            from = 0;
        }
        let mut advisories = Vec::new();
        let mut next = from;
        let mut read = 0usize;
        for (&seq, key) in self.changes.range(from.saturating_add(1)..) {
            if read == max {
                break;
            }
            read += 1;
            next = seq;
            if let Some(r) = self.records.get(key) {
                advisories.push(Advisory {
                    key: key.clone(),
                    until: r.advice.until,
                    since: r.advice.since,
                    payload: r.advice.payload.clone(),
                });
            }
        }
        let more = read == max;
        if !more {
            next = self.seq;
        }
        Ok(AdvisoryPage {
            advisories,
            cursor: Cursor {
                epoch: self.epoch,
                seq: next,
            },
            more,
            reset,
            skipped: 0,
            now,
        })
    }

    fn check_spec(spec: BucketSpec) -> Result<(), StoreError> {
        if !(1..=MAX_CAPACITY).contains(&spec.capacity)
            || spec.period < Duration::from_millis(1)
            || spec.period > MAX_PERIOD
        {
            return Err(StoreError::Invalid {
                op: "take",
                why: "bucket capacity or period out of range",
            });
        }
        Ok(())
    }

    /// A lease of at most `units` from `bucket` (of size `spec`; absent means full).
    ///
    /// # Errors
    /// [`StoreError::Invalid`]: a bad subject, spec or unit count.
    pub fn take(
        &mut self,
        bucket: &BucketKey,
        spec: BucketSpec,
        units: u64,
        now: Instant,
    ) -> Result<Taken, StoreError> {
        check_subject("take", &bucket.subject)?;
        check_units("take", units)?;
        Self::check_spec(spec)?;
        let mut b = self.buckets.get(bucket).copied().unwrap_or(Refill {
            level: spec.capacity as f64,
            at: now,
            capacity: spec.capacity as f64,
            period: spec.period,
        });
        b.capacity = spec.capacity as f64;
        b.period = spec.period;
        b.refill(now);
        let granted = units.min(b.level.max(0.0).floor() as u64);
        b.level -= granted as f64;
        self.save(bucket, b);
        Ok(Taken {
            granted,
            left: b.level.max(0.0).floor() as u64,
            now,
        })
    }

    /// Returns `units` a lease did not use, up to the bucket's capacity; a full (absent)
    /// bucket takes nothing.
    ///
    /// # Errors
    /// [`StoreError::Invalid`]: a bad subject or unit count.
    pub fn give_back(
        &mut self,
        bucket: &BucketKey,
        units: u64,
        now: Instant,
    ) -> Result<GivenBack, StoreError> {
        check_subject("give_back", &bucket.subject)?;
        check_units("give_back", units)?;
        let Some(mut b) = self.buckets.get(bucket).copied() else {
            return Ok(GivenBack { level: None, now });
        };
        b.refill(now);
        b.level = (b.level + units as f64).min(b.capacity);
        self.save(bucket, b);
        Ok(GivenBack {
            level: Some(b.level.max(0.0).floor() as u64),
            now,
        })
    }

    fn save(&mut self, key: &BucketKey, b: Refill) {
        if b.level >= b.capacity {
            self.buckets.remove(key);
        } else {
            self.buckets.insert(key.clone(), b);
        }
    }

    /// The probe token of `target` for `holder` until `until`: granted when nobody holds a
    /// live one, or to its holder again (the later `until` kept).
    ///
    /// # Errors
    /// [`StoreError::Invalid`]: a bad subject.
    pub fn try_probe(
        &mut self,
        target: &str,
        holder: u32,
        until: Instant,
        now: Instant,
    ) -> Result<Probe, StoreError> {
        check_subject("try_probe", target)?;
        let held = self.probes.get(target).copied().filter(|&(_, u)| u > now);
        let (granted, holder) = match held {
            _ if until <= now => (false, held),
            None => {
                self.probes.insert(target.to_string(), (holder, until));
                (true, Some((holder, until)))
            }
            Some((h, u)) if h == holder => {
                let u = u.max(until);
                self.probes.insert(target.to_string(), (h, u));
                (true, Some((h, u)))
            }
            Some(other) => (false, Some(other)),
        };
        Ok(Probe {
            granted,
            holder,
            now,
        })
    }

    /// `holder` gives the probe token of `target` back; `true` if it held a live one.
    ///
    /// # Errors
    /// [`StoreError::Invalid`]: a bad subject.
    pub fn release_probe(
        &mut self,
        target: &str,
        holder: u32,
        now: Instant,
    ) -> Result<bool, StoreError> {
        check_subject("release_probe", target)?;
        match self.probes.get(target) {
            Some(&(h, u)) if h == holder && u > now => {
                self.probes.remove(target);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Replica `replica` is alive until `until` (its latest `until` kept).
    pub fn beat(&mut self, replica: u32, until: Instant, now: Instant) -> Alive {
        self.beats.retain(|_, u| *u > now);
        if until > now {
            let u = self.beats.entry(replica).or_insert(until);
            *u = (*u).max(until);
        }
        self.alive(now)
    }

    /// Replicas with a live heartbeat.
    pub fn alive(&self, now: Instant) -> Alive {
        Alive {
            replicas: self.beats.values().filter(|u| **u > now).count() as u32,
            now,
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
