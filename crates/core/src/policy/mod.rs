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

/// The most targets a route may have: one bit each in a [`Mask`]. Config validation refuses
/// a route with more.
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

/// How a route picks among its eligible members (a route's `policy:` in the config). Every
/// variant picks only from the mask it is given; from a validated route's mask (bits below
/// its member count, every member in a tier), every variant picks something unless the mask
/// is empty.
#[derive(Clone, Debug, PartialEq)]
pub enum Policy {
    /// The route's single target (validation allows exactly one; given several, the first
    /// eligible one).
    Static,
    /// Active-passive: the first tier with an eligible member; uniform within a tier.
    Priority {
        /// The mask of each tier, in order of preference; a member in no tier is never
        /// picked.
        tiers: Vec<Mask>,
    },
    /// Active-active, random in proportion to the weights, renormalized over the eligible
    /// members; when every eligible weight is 0, the first eligible member.
    Weighted {
        /// One weight per member, in member order; a missing weight counts as 0.
        weights: Vec<u32>,
    },
    /// Active-active, each eligible member in turn: the first eligible member at or after
    /// the route's cursor, which then moves past it.
    RoundRobin,
    /// Active-active, uniform.
    Random,
    /// Power of two choices over the peak-EWMA cost (latency estimate times load); a tie
    /// keeps the first of the two drawn.
    LeastLatency,
    /// The cheapest member for this request: its estimated prompt tokens at the input price
    /// plus its `max_tokens` (0 when the request sets none) at the output price; ties go to
    /// the earlier member.
    LeastCost,
    /// The member with the smallest context window that fits the request (keeps the big,
    /// expensive windows for the requests that need them); ties go to the earlier member.
    CapabilityMatch,
}

impl Policy {
    /// The policy's name as the config spells it (`round_robin`), for reports and metrics.
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
    /// Every target's health, indexed by `TargetId`.
    pub health: &'a [TargetHealth],
    /// The request's estimated prompt tokens.
    pub prompt_tokens: u32,
    /// The request's `max_tokens`, 0 when it sets none.
    pub max_tokens: u32,
    /// How latency estimates decay, and the time to decay them to.
    pub latency: &'a crate::health::LatencyParams,
    /// The time of the selection.
    pub now: crate::time::Instant,
}

impl SelectionInputs<'_> {
    /// The params of the route's `member`-th target.
    ///
    /// # Panics
    ///
    /// When `member` is not below `members.len()` (policies pass only mask bits, which are).
    pub fn target(&self, member: usize) -> &TargetParams {
        &self.targets[self.members[member].index()]
    }
    /// The health of the route's `member`-th target; panics as [`SelectionInputs::target`].
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
