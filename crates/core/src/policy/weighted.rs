//! Active-active in proportion to weights, renormalized over the eligible members: when one
//! member is out, its share spreads over the others in proportion to theirs.

use super::{Mask, members};
use crate::rng::Rng;

pub(super) fn select(weights: &[u32], eligible: Mask, rng: &mut Rng) -> Option<usize> {
    let weight = |m: usize| u64::from(weights.get(m).copied().unwrap_or(0));
    let total: u64 = members(eligible).map(weight).sum();
    if total == 0 {
        return members(eligible).next();
    }
    let mut point = rng.below(total);
    for m in members(eligible) {
        let w = weight(m);
        if point < w {
            return Some(m);
        }
        point -= w;
    }
    None
}
