//! The advisories a replica has yet to publish: bounded, and coalescing by key, so a target
//! that flaps between two syncs costs one write, the winner by its kind's rule.

use std::collections::BTreeMap;

use super::types::{Advice, AdvisoryKey};

/// Advisories waiting for the next sync, at most `capacity` keys; the winner of each key by
/// its kind's rule is kept. A new key past the capacity is dropped and counted (the state it
/// stands for is republished by the next scan, so nothing is lost for good).
#[derive(Clone, Debug)]
pub struct Outbox {
    capacity: usize,
    waiting: BTreeMap<AdvisoryKey, Advice>,
    dropped: u64,
}

impl Outbox {
    /// An empty outbox of at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            capacity: capacity.max(1),
            waiting: BTreeMap::new(),
            dropped: 0,
        }
    }

    /// Queues `advice` for `key`, coalesced with any advice already waiting for it.
    pub fn push(&mut self, key: AdvisoryKey, advice: Advice) {
        let rule = key.kind.rule();
        if let Some(cur) = self.waiting.get_mut(&key) {
            if advice.beats(cur, rule) {
                *cur = advice;
            }
            return;
        }
        if self.waiting.len() >= self.capacity {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        self.waiting.insert(key, advice);
    }

    /// Everything waiting, in key order; the outbox is empty afterwards.
    pub fn drain(&mut self) -> Vec<(AdvisoryKey, Advice)> {
        std::mem::take(&mut self.waiting).into_iter().collect()
    }

    /// Keys waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// New keys refused because the outbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
