//! Health of each target: its breaker, its latency estimate, its rate-limit state and the
//! attempts it has in flight. The router owns one [`TargetHealth`] per target, indexed by
//! `TargetId`; policies read it, `Router::record` writes it.

pub mod breaker;
pub mod latency;
pub mod limits;
pub mod window;

pub use breaker::{Admission, Breaker, BreakerMode, BreakerParams, BreakerState, Transition};
pub use latency::{LatencyParams, PeakEwma};
pub use limits::{BucketLevels, Level, LimitParams, LimitSnapshot, Limits};

/// Everything the router knows about one target's health.
#[derive(Clone, Debug)]
pub struct TargetHealth {
    /// Whether the target is admitted, as far as its failures go.
    pub breaker: Breaker,
    /// Its latency estimate, for the least-latency policy.
    pub latency: PeakEwma,
    /// Its parking after 429s and its rate-limit buckets.
    pub limits: Limits,
    /// Attempts sent to it and not yet recorded.
    pub in_flight: u32,
}

impl TargetHealth {
    /// A healthy target: breaker closed, no latency yet, not parked, nothing in flight.
    pub fn new(breaker: BreakerParams, limits: LimitParams) -> Self {
        TargetHealth {
            breaker: Breaker::new(breaker),
            latency: PeakEwma::default(),
            limits: Limits::new(limits),
            in_flight: 0,
        }
    }
}
