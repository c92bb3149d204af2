//! Active-active in proportion to weights, renormalized over the eligible members: when one
//! member is out, its share spreads over the others in proportion to theirs.

use super::{Mask, members};
use crate::rng::Rng;
use rand::RngExt as _;

pub(super) fn select(
    weights: &[u32],
    eligible: Mask,
    rng: &mut (impl Rng + ?Sized),
) -> Option<usize> {
    let weight = |m: usize| u64::from(weights.get(m).copied().unwrap_or(0));
    let total: u64 = members(eligible).map(weight).sum();
    if total == 0 {
        return members(eligible).next();
    }
    let mut point = rng.random_range(0..total);
    for m in members(eligible) {
        let w = weight(m);
        if point < w {
            return Some(m);
        }
        point -= w;
    }
    None
}
