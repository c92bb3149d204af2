//! Active-passive: prefer the first tier that has an eligible member.

use super::{Mask, random_member};
use crate::rng::Rng;

pub(super) fn select(
    tiers: &[Mask],
    eligible: Mask,
    rng: &mut (impl Rng + ?Sized),
) -> Option<usize> {
    tiers
        .iter()
        .map(|tier| tier & eligible)
        .find(|&m| m != 0)
        .and_then(|m| random_member(m, rng))
}
