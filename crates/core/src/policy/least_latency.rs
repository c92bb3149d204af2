//! Power of two choices: sample two distinct eligible members and keep the one with the lower
//! peak-EWMA cost. Cheaper than a full scan, and it avoids the herd behaviour of always picking
//! the single fastest target.

use super::{Mask, SelectionInputs, nth_member};
use crate::rng::Rng;
use rand::RngExt as _;

pub(super) fn select(
    eligible: Mask,
    inputs: &SelectionInputs<'_>,
    rng: &mut (impl Rng + ?Sized),
) -> Option<usize> {
    let n = eligible.count_ones();
    if n == 0 {
        return None;
    }
    let rank_a = rng.random_range(0..n);
    let a = nth_member(eligible, rank_a)?;
    if n == 1 {
        return Some(a);
    }
    // The second draw is among the other n - 1 members.
    let mut rank_b = rng.random_range(0..n - 1);
    if rank_b >= rank_a {
        rank_b += 1;
    }
    let b = nth_member(eligible, rank_b)?;
    let cost = |m: usize| {
        let h = inputs.health(m);
        h.latency.cost(inputs.latency, inputs.now, h.in_flight)
    };
    Some(if cost(b) < cost(a) { b } else { a })
}
