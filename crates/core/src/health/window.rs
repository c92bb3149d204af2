//! A sliding window of call counts with fixed memory.
//!
//! The window is split into [`SLOTS`] buckets of equal width; each bucket remembers which
//! bucket-epoch it holds, so stale buckets are recognised and reset lazily when time moves on.
//! Counting is O(1) and summing is O(SLOTS); memory never grows with run length.

use crate::time::{Duration, Instant};

/// Buckets a window is split into: its time resolution is a tenth of its span.
pub const SLOTS: usize = 10;

/// Calls counted in a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every call recorded.
    pub calls: u32,
    /// Of those, the failures.
    pub failures: u32,
    /// Of those, the slow ones (a call can be both).
    pub slow: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    epoch: u64,
    counts: Counts,
}

/// Counts of the calls of roughly the last `span`, in [`SLOTS`] buckets.
#[derive(Clone, Debug)]
pub struct Window {
    slot_nanos: u64,
    slots: [Slot; SLOTS],
}

impl Window {
    /// A window covering `span` (at least `SLOTS` nanoseconds).
    pub fn new(span: Duration) -> Self {
        Window {
            slot_nanos: (span.as_nanos() / SLOTS as u64).max(1),
            slots: [Slot::default(); SLOTS],
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        // Epochs start at 1 so that a zeroed slot never counts as current.
        now.as_nanos() / self.slot_nanos + 1
    }

    /// Counts one call.
    pub fn record(&mut self, now: Instant, failed: bool, slow: bool) {
        let epoch = self.epoch(now);
        let slot = &mut self.slots[(epoch % SLOTS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Slot {
                epoch,
                counts: Counts::default(),
            };
        }
        // Saturating: a slot cannot hold more than u32::MAX calls, and must never wrap to a
        // small count (which would close a breaker that should open).
        slot.counts.calls = slot.counts.calls.saturating_add(1);
        slot.counts.failures = slot.counts.failures.saturating_add(u32::from(failed));
        slot.counts.slow = slot.counts.slow.saturating_add(u32::from(slow));
    }

    /// Sum of the calls within the window that ends at `now`: the current bucket and the
    /// `SLOTS - 1` before it, so between nine tenths of the span and the whole span back.
    pub fn totals(&self, now: Instant) -> Counts {
        let current = self.epoch(now);
        let oldest = current.saturating_sub(SLOTS as u64 - 1);
        self.slots
            .iter()
            .filter(|s| s.epoch >= oldest && s.epoch <= current)
            .fold(Counts::default(), |acc, s| Counts {
                calls: acc.calls.saturating_add(s.counts.calls),
                failures: acc.failures.saturating_add(s.counts.failures),
                slow: acc.slow.saturating_add(s.counts.slow),
            })
    }

    /// Forgets every call.
    pub fn clear(&mut self) {
        self.slots = [Slot::default(); SLOTS];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn a_full_slot_saturates_instead_of_wrapping() {
        let mut w = Window::new(Duration::from_secs(10));
        w.record(at(0), true, true);
        w.record(at(2_000), true, true);
        for slot in w.slots.iter_mut().filter(|s| s.epoch != 0) {
            slot.counts = Counts {
                calls: u32::MAX,
                failures: u32::MAX,
                slow: u32::MAX,
            };
        }
        w.record(at(2_000), true, true);
        let full = Counts {
            calls: u32::MAX,
            failures: u32::MAX,
            slow: u32::MAX,
        };
        assert_eq!(w.totals(at(2_000)), full, "two full slots sum to the cap");
    }

    #[test]
    fn counts_within_the_window_and_forgets_the_rest() {
        let mut w = Window::new(Duration::from_secs(10));
        w.record(at(0), true, false);
        w.record(at(500), false, true);
        w.record(at(5_000), true, false);
        assert_eq!(
            w.totals(at(5_000)),
            Counts {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // At 10.5 s the first second's bucket has left the window.
        assert_eq!(
            w.totals(at(10_500)),
            Counts {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(w.totals(at(30_000)), Counts::default());
        // A slot reused by a later epoch starts from zero.
        w.record(at(20_000), false, false);
        assert_eq!(w.totals(at(20_000)).calls, 1);
        w.clear();
        assert_eq!(w.totals(at(20_000)).calls, 0);
    }
}
