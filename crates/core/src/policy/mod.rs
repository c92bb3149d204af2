//! Selection policies: how a route picks one of its targets.
//!
//! A policy is an enum you can read on one screen. It never looks at breakers, parking,
//! drains or request constraints itself: the router first computes the route's *eligible*
//! members as a bit mask (bit `i` = the route's `i`-th target may take this attempt), and the
//! policy chooses among those. So every policy gets failover for free, and a policy can be
//! tested with nothing but a mask and an RNG.
//!
//! Routes have at most [`MAX_ROUTE_TARGETS`] targets, so a mask is one `u64` and selection
//! allocates nothing.

mod least_cost;
mod least_latency;
mod priority;
mod weighted;

use crate::health::TargetHealth;
use crate::id::TargetId;
use crate::rng::Rng;
use crate::target::TargetParams;
use rand::RngExt as _;

pub const MAX_ROUTE_TARGETS: usize = 64;

/// A set of route members as a bit mask.
pub type Mask = u64;

/// Iterates the member indices set in `mask`, lowest first.
pub fn members(mut mask: Mask) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            i
        })
    })
}

/// The `n`-th (0-based) member set in `mask`.
pub fn nth_member(mask: Mask, n: u32) -> Option<usize> {
    members(mask).nth(n as usize)
}

/// A uniformly random member of a non-empty mask.
pub fn random_member(mask: Mask, rng: &mut (impl Rng + ?Sized)) -> Option<usize> {
    let n = mask.count_ones();
    if n == 0 {
        return None;
    }
    nth_member(mask, rng.random_range(0..n))
}

#[derive(Clone, Debug, PartialEq)]
pub enum Policy {
    /// Always the route's single target.
    Static,
    /// Active-passive: the first tier with an eligible member; uniform within a tier.
    /// Each entry is the mask of one tier, in order of preference.
    Priority { tiers: Vec<Mask> },
    /// Active-active, random in proportion to the weights (one per member).
    Weighted { weights: Vec<u32> },
    /// Active-active, each eligible member in turn.
    RoundRobin,
    /// Active-active, uniform.
    Random,
    /// Power of two choices over the peak-EWMA cost.
    LeastLatency,
    /// The cheapest member for this request's token estimate.
    LeastCost,
    /// The member with the smallest context window that fits the request (keeps the big,
    /// expensive windows for the requests that need them).
    CapabilityMatch,
}

impl Policy {
    pub const fn label(&self) -> &'static str {
        match self {
            Policy::Static => "static",
            Policy::Priority { .. } => "priority",
            Policy::Weighted { .. } => "weighted",
            Policy::RoundRobin => "round_robin",
            Policy::Random => "random",
            Policy::LeastLatency => "least_latency",
            Policy::LeastCost => "least_cost",
            Policy::CapabilityMatch => "capability_match",
        }
    }
}

/// What a policy may look at besides the mask.
#[derive(Debug)]
pub struct SelectionInputs<'a> {
    /// The route's targets, in member order.
    pub members: &'a [TargetId],
    /// Every target, indexed by `TargetId`.
    pub targets: &'a [TargetParams],
    pub health: &'a [TargetHealth],
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    /// How latency estimates decay, and the time to decay them to.
    pub latency: &'a crate::health::LatencyParams,
    pub now: crate::time::Instant,
}

impl SelectionInputs<'_> {
    pub fn target(&self, member: usize) -> &TargetParams {
        &self.targets[self.members[member].index()]
    }
    pub fn health(&self, member: usize) -> &TargetHealth {
        &self.health[self.members[member].index()]
    }
}

impl Policy {
    /// Picks one member of `eligible`, or `None` when it is empty. `cursor` is the route's
    /// round-robin position.
    pub fn select(
        &self,
        eligible: Mask,
        cursor: &mut usize,
        inputs: &SelectionInputs<'_>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Option<usize> {
        if eligible == 0 {
            return None;
        }
        match self {
            Policy::Static => members(eligible).next(),
            Policy::Priority { tiers } => priority::select(tiers, eligible, rng),
            Policy::Weighted { weights } => weighted::select(weights, eligible, rng),
            Policy::RoundRobin => {
                let n = inputs.members.len().max(1);
                let pick = (0..n)
                    .map(|i| (*cursor + i) % n)
                    .find(|&m| eligible & (1 << m) != 0)?;
                *cursor = pick + 1;
                Some(pick)
            }
            Policy::Random => random_member(eligible, rng),
            Policy::LeastLatency => least_latency::select(eligible, inputs, rng),
            Policy::LeastCost => least_cost::select(eligible, inputs),
            Policy::CapabilityMatch => {
                members(eligible).min_by_key(|&m| (inputs.target(m).context_window, m))
            }
        }
    }
}

/// The mask with the lowest `n` bits set.
pub const fn mask_of_len(n: usize) -> Mask {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
