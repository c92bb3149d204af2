//! The retry budget: retries (and hedges) may add at most a set fraction of recent traffic.
//!
//! Without a budget, an outage multiplies load: every failing request retries, and the
//! retries fail too. Following tower's and Finagle's retry budgets, every request *deposits*
//! into the budget and every retry *withdraws*; a retry is allowed while
//!
//! ```text
//! withdrawals_in_window < min_per_second · window_secs + ratio · deposits_in_window
//! ```
//!
//! The window slides in ten buckets, so memory is fixed and old traffic is forgotten. The
//! floor (`min_per_second`) lets a quiet service still retry now and then.

use crate::time::{Duration, Instant};

/// The router's validated `retry_budget:` settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetParams {
    /// Retries allowed per request deposited (0.2 = retries may add 20 %).
    pub ratio: f64,
    /// Retries allowed per second regardless of traffic.
    pub min_per_second: f64,
    /// How far back deposits and withdrawals count.
    pub window: Duration,
}

impl Default for BudgetParams {
    fn default() -> Self {
        BudgetParams {
            ratio: 0.2,
            min_per_second: 10.0,
            window: Duration::from_secs(10),
        }
    }
}

const SLOTS: usize = 10;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    epoch: u64,
    deposits: u32,
    withdrawals: u32,
}

/// The budget shared by every request of a router: deposits and withdrawals of the last
/// `window`, in ten buckets.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    params: BudgetParams,
    slot_nanos: u64,
    slots: [Slot; SLOTS],
    refusals_in_a_row: u64,
}

impl RetryBudget {
    /// An empty budget: only the floor is available.
    pub fn new(params: BudgetParams) -> Self {
        RetryBudget {
            slot_nanos: (params.window.as_nanos() / SLOTS as u64).max(1),
            params,
            slots: [Slot::default(); SLOTS],
            refusals_in_a_row: 0,
        }
    }

    fn slot(&mut self, now: Instant) -> &mut Slot {
        let epoch = now.as_nanos() / self.slot_nanos + 1;
        let slot = &mut self.slots[(epoch % SLOTS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Slot {
                epoch,
                ..Slot::default()
            };
        }
        slot
    }

    fn totals(&self, now: Instant) -> (u32, u32) {
        let current = now.as_nanos() / self.slot_nanos + 1;
        let oldest = current.saturating_sub(SLOTS as u64 - 1);
        self.slots
            .iter()
            .filter(|s| s.epoch >= oldest && s.epoch <= current)
            .fold((0u32, 0u32), |(d, w), s| {
                (
                    d.saturating_add(s.deposits),
                    w.saturating_add(s.withdrawals),
                )
            })
    }

    /// A new request arrived.
    pub fn deposit(&mut self, now: Instant) {
        let slot = self.slot(now);
        slot.deposits = slot.deposits.saturating_add(1);
    }

    /// Asks for one retry. Returns whether it is allowed (and spends it if so).
    pub fn withdraw(&mut self, now: Instant) -> bool {
        let (deposits, withdrawals) = self.totals(now);
        let allowance = self.params.min_per_second * self.params.window.as_secs_f64()
            + self.params.ratio * f64::from(deposits);
        let allowed = f64::from(withdrawals) + 1.0 <= allowance;
        if allowed {
            let slot = self.slot(now);
            slot.withdrawals = slot.withdrawals.saturating_add(1);
        }
        self.refusals_in_a_row = if allowed {
            0
        } else {
            self.refusals_in_a_row.saturating_add(1)
        };
        allowed
    }

    /// Whether the last withdrawal was refused.
    pub fn is_exhausted(&self) -> bool {
        self.refusals_in_a_row > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn full_slots_saturate_instead_of_wrapping() {
        let mut b = RetryBudget::new(BudgetParams {
            ratio: 0.5,
            min_per_second: 0.0,
            window: Duration::from_secs(10),
        });
        b.deposit(at(0));
        b.deposit(at(2_000));
        for slot in b.slots.iter_mut().filter(|s| s.epoch != 0) {
            slot.deposits = u32::MAX;
        }
        b.deposit(at(2_000));
        assert_eq!(b.totals(at(2_000)).0, u32::MAX);
        assert!(
            b.withdraw(at(2_000)),
            "a saturated count still allows retries"
        );
    }

    #[test]
    fn retries_are_a_fraction_of_traffic_plus_a_floor() {
        let params = BudgetParams {
            ratio: 0.2,
            min_per_second: 0.5,
            window: Duration::from_secs(10),
        };
        let mut b = RetryBudget::new(params);
        // Floor: 0.5/s × 10 s = 5 retries with no traffic at all.
        for _ in 0..5 {
            assert!(b.withdraw(at(0)));
        }
        assert!(!b.withdraw(at(0)));
        assert!(b.is_exhausted());
        // 100 requests add 20 more.
        for _ in 0..100 {
            b.deposit(at(100));
        }
        for _ in 0..20 {
            assert!(b.withdraw(at(100)));
        }
        assert!(!b.withdraw(at(100)));
        // Ten seconds on, the window has forgotten all of it: the floor is back.
        for _ in 0..5 {
            assert!(b.withdraw(at(20_000)));
        }
        assert!(!b.withdraw(at(20_000)));
    }
}
