//! The cheapest eligible member for this request: estimated prompt tokens at the input price
//! plus `max_tokens` at the output price (the worst case the caller allowed). Ties go to the
//! earlier member, so the order in the config breaks them.

use super::{Mask, SelectionInputs, members};

pub(super) fn select(eligible: Mask, inputs: &SelectionInputs<'_>) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for m in members(eligible) {
        let cost = inputs
            .target(m)
            .price
            .estimate(inputs.prompt_tokens, inputs.max_tokens);
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, m));
        }
    }
    best.map(|(_, m)| m)
}
