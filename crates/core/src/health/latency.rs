//! Peak-EWMA latency estimate per target (Finagle's and linkerd's "peak EWMA").
//!
//! The estimate jumps up at once to any slower observation (the peak) and decays towards
//! faster ones with a time constant, so a target that just got slow is avoided immediately
//! and wins traffic back only gradually. Failures that count against health and 429s are
//! observed as a *penalty* latency: a target that fails fast must never look fastest.
//! The cost a policy compares is the estimate times (in-flight + 1), which spreads load away
//! from a target already holding many requests.
//!
//! The estimate also decays when it is *read* (towards zero, with the same time constant, as
//! Finagle's peak EWMA does): a target that lost every comparison after one failure gets no
//! new samples, so without this its penalty would stand for ever. With it, a target not
//! heard from for a few time constants looks fast again, wins a pick, and is measured anew.

use crate::time::{Duration, Instant};

/// How the latency estimates of every target behave (the router's `latency:`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyParams {
    /// Time constant of the decay.
    pub decay: Duration,
    /// Latency observed for a failed attempt or a 429.
    pub failure_penalty: Duration,
}

impl Default for LatencyParams {
    fn default() -> Self {
        LatencyParams {
            decay: Duration::from_secs(10),
            failure_penalty: Duration::from_secs(5),
        }
    }
}

/// One target's latency estimate (zero until the first observation).
#[derive(Clone, Debug, Default)]
pub struct PeakEwma {
    estimate_nanos: f64,
    stamp: Instant,
    observed: bool,
}

impl PeakEwma {
    /// Folds in one observation.
    pub fn observe(&mut self, params: &LatencyParams, now: Instant, latency: Duration) {
        let sample = latency.as_nanos() as f64;
        if !self.observed || sample > self.estimate_nanos {
            self.estimate_nanos = sample;
        } else {
            let elapsed = now.saturating_since(self.stamp).as_nanos() as f64;
            let tau = params.decay.as_nanos().max(1) as f64;
            let w = (-elapsed / tau).exp();
            self.estimate_nanos = self.estimate_nanos * w + sample * (1.0 - w);
        }
        self.stamp = now;
        self.observed = true;
    }

    /// Folds in a failure as the penalty latency.
    pub fn penalize(&mut self, params: &LatencyParams, now: Instant) {
        self.observe(params, now, params.failure_penalty);
    }

    /// The estimate as of the last observation (zero before any, so a new target gets tried).
    pub fn estimate(&self) -> Duration {
        Duration::from_nanos(self.estimate_nanos as u64)
    }

    /// The estimate at `now`: the last one, decayed for the time since it was made.
    pub fn estimate_at(&self, params: &LatencyParams, now: Instant) -> Duration {
        Duration::from_nanos(self.decayed(params, now) as u64)
    }

    fn decayed(&self, params: &LatencyParams, now: Instant) -> f64 {
        let elapsed = now.saturating_since(self.stamp).as_nanos() as f64;
        let tau = params.decay.as_nanos().max(1) as f64;
        self.estimate_nanos * (-elapsed / tau).exp()
    }

    /// The load-aware cost policies compare, at `now`.
    pub fn cost(&self, params: &LatencyParams, now: Instant, in_flight: u32) -> f64 {
        self.decayed(params, now) * (f64::from(in_flight) + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_to_peaks_and_decays_slowly() {
        let p = LatencyParams::default();
        let mut e = PeakEwma::default();
        assert_eq!(e.estimate(), Duration::ZERO);
        e.observe(&p, Instant::ZERO, Duration::from_millis(100));
        assert_eq!(e.estimate(), Duration::from_millis(100));
        e.observe(&p, Instant::from_nanos(1), Duration::from_millis(900));
        assert_eq!(
            e.estimate(),
            Duration::from_millis(900),
            "peaks are taken at once"
        );
        // One time constant later, a fast sample moves the estimate ~63 % of the way.
        e.observe(
            &p,
            Instant::ZERO + Duration::from_secs(10),
            Duration::from_millis(100),
        );
        let ms = e.estimate().as_millis();
        assert!((390..=410).contains(&ms), "estimate {ms}ms");
    }

    #[test]
    fn failures_are_never_fast() {
        let p = LatencyParams::default();
        let mut e = PeakEwma::default();
        e.observe(&p, Instant::ZERO, Duration::from_millis(50));
        e.penalize(&p, Instant::ZERO);
        assert_eq!(e.estimate(), p.failure_penalty);
        assert!(e.cost(&p, Instant::ZERO, 1) > e.cost(&p, Instant::ZERO, 0));
    }

    #[test]
    fn a_penalty_decays_when_read_so_the_target_wins_again() {
        let p = LatencyParams::default();
        let mut failed = PeakEwma::default();
        failed.penalize(&p, Instant::ZERO);
        let mut healthy = PeakEwma::default();
        let cost_at = |e: &PeakEwma, s: u64| e.cost(&p, Instant::ZERO + Duration::from_secs(s), 0);
        // The healthy target keeps being measured at 300 ms; the failed one is not measured.
        for s in 0..=60 {
            healthy.observe(
                &p,
                Instant::ZERO + Duration::from_secs(s),
                Duration::from_millis(300),
            );
        }
        assert!(cost_at(&failed, 1) > cost_at(&healthy, 1));
        assert!(
            cost_at(&failed, 60) < cost_at(&healthy, 60),
            "after six time constants the 5 s penalty reads {:?}",
            failed.estimate_at(&p, Instant::ZERO + Duration::from_secs(60))
        );
    }
}
