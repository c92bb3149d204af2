//! Comparative latency tracking and alerts.
//!
//! Per target, a ring of fixed time slots (10 s by default) each holding a coarse latency
//! histogram (log-spaced buckets, a quarter octave wide: percentile estimates within ~19 %).
//! At each slot rollover the target's recent p95 (the `short` window) is compared with its
//! own baseline (the `long` window before it) and with its peers' recent p95; when either
//! ratio passes its factor, an alert is raised with the evidence, and cleared at the first
//! evaluation where neither holds. Memory is fixed: `long / slot` slots per target.

use crate::time::{Duration, Instant};

/// Buckets: bucket `i` holds latencies up to `2^(i/4)` ms (the last holds everything above).
const BUCKETS: usize = 72;

fn bucket_of(d: Duration) -> usize {
    let ms = d.as_secs_f64() * 1e3;
    if ms <= 1.0 {
        0
    } else {
        ((ms.log2() * 4.0).ceil() as usize).min(BUCKETS - 1)
    }
}

fn bucket_upper(i: usize) -> Duration {
    Duration::from_secs_f64(2f64.powf(i as f64 / 4.0) / 1e3)
}

/// When a target's latency alert is raised (the router's `alerts` settings).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertParams {
    /// The recent window.
    pub short: Duration,
    /// The baseline window (ending where the recent one starts).
    pub long: Duration,
    /// Slot width: how often targets are evaluated.
    pub slot: Duration,
    /// The percentile compared.
    pub quantile: f64,
    /// Alert when recent > factor × own baseline.
    pub vs_baseline: Option<f64>,
    /// Alert when recent > factor × the median of the other targets' recent values.
    pub vs_peers: Option<f64>,
    /// Samples needed in a window before it counts.
    pub min_samples: u32,
}

impl Default for AlertParams {
    fn default() -> Self {
        AlertParams {
            short: Duration::from_secs(60),
            long: Duration::from_secs(900),
            slot: Duration::from_secs(10),
            quantile: 0.95,
            vs_baseline: Some(2.0),
            vs_peers: None,
            min_samples: 20,
        }
    }
}

/// One target's recent latencies in coarse per-slot histograms, and its alert state.
#[derive(Clone, Debug)]
pub struct LatencyRing {
    slot_nanos: u64,
    /// Per slot: its epoch (slot index since the start, +1) and bucket counts.
    slots: Vec<(u64, [u32; BUCKETS])>,
    current: u64,
    /// Whether the target's alert is raised.
    pub alerting: bool,
    /// While alerting: the baseline when the alert was raised. The slow period must not
    /// become its own baseline, or the alert would clear while the target is still slow.
    pub frozen_baseline: Option<Duration>,
}

/// Why an alert was raised or cleared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evidence {
    /// The target's latency at the configured quantile over the `short` window (a bucket's
    /// upper bound); zero when the window had fewer than `min_samples`.
    pub recent: Duration,
    /// The same over its `long` baseline window, or, while an alert is raised, the baseline
    /// frozen when it was; `None` without enough samples there.
    pub baseline: Option<Duration>,
    /// The median of the other targets' recent values; `None` when no peer had enough
    /// samples.
    pub peers: Option<Duration>,
}

impl LatencyRing {
    /// An empty ring with enough slots for the `long` and `short` windows of `p`.
    pub fn new(p: &AlertParams) -> Self {
        let slot_nanos = p.slot.as_nanos().max(1);
        let count = (p.long.as_nanos() + p.short.as_nanos())
            .div_ceil(slot_nanos)
            .max(2) as usize;
        LatencyRing {
            slot_nanos,
            slots: vec![(0, [0; BUCKETS]); count],
            current: 0,
            alerting: false,
            frozen_baseline: None,
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        now.as_nanos() / self.slot_nanos + 1
    }

    /// Records one latency; returns true when this started a new slot (time to evaluate).
    pub fn record(&mut self, now: Instant, latency: Duration) -> bool {
        let epoch = self.epoch(now);
        let n = self.slots.len() as u64;
        let slot = &mut self.slots[(epoch % n) as usize];
        if slot.0 != epoch {
            *slot = (epoch, [0; BUCKETS]);
        }
        slot.1[bucket_of(latency)] += 1;
        let rolled = epoch != self.current;
        self.current = epoch;
        rolled
    }

    /// The quantile over completed slots between `from` and `to` ago (in slots), if enough.
    fn quantile(
        &self,
        now: Instant,
        from_ago: u64,
        to_ago: u64,
        q: f64,
        min: u32,
    ) -> Option<Duration> {
        let current = self.epoch(now);
        let mut counts = [0u64; BUCKETS];
        for (epoch, c) in &self.slots {
            if *epoch == 0 || *epoch >= current {
                continue; // empty, or still filling
            }
            let ago = current - epoch;
            if ago >= from_ago && ago < to_ago {
                for (a, b) in counts.iter_mut().zip(c) {
                    *a += u64::from(*b);
                }
            }
        }
        let total: u64 = counts.iter().sum();
        if total < u64::from(min) {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_upper(i));
            }
        }
        None
    }

    /// The recent window's quantile.
    pub fn recent(&self, p: &AlertParams, now: Instant) -> Option<Duration> {
        let short = p.short.as_nanos().div_ceil(self.slot_nanos);
        self.quantile(now, 1, short + 1, p.quantile, p.min_samples)
    }

    /// The baseline window's quantile (before the recent window).
    pub fn baseline(&self, p: &AlertParams, now: Instant) -> Option<Duration> {
        let short = p.short.as_nanos().div_ceil(self.slot_nanos);
        let long = p.long.as_nanos().div_ceil(self.slot_nanos);
        self.quantile(now, short + 1, short + long + 1, p.quantile, p.min_samples)
    }
}

/// Decides whether a target should be alerting, given its recent and baseline values and
/// its peers' recent values.
pub fn judge(
    p: &AlertParams,
    recent: Option<Duration>,
    baseline: Option<Duration>,
    peers: &[Duration],
) -> (bool, Evidence) {
    let mut sorted = peers.to_vec();
    sorted.sort();
    let peer_median = (!sorted.is_empty()).then(|| sorted[sorted.len() / 2]);
    let Some(r) = recent else {
        return (
            false,
            Evidence {
                recent: Duration::ZERO,
                baseline,
                peers: peer_median,
            },
        );
    };
    let over = |limit: Option<Duration>, factor: Option<f64>| match (limit, factor) {
        (Some(l), Some(f)) => r.as_secs_f64() > f * l.as_secs_f64(),
        _ => false,
    };
    let alert = over(baseline, p.vs_baseline) || over(peer_median, p.vs_peers);
    (
        alert,
        Evidence {
            recent: r,
            baseline,
            peers: peer_median,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn buckets_are_a_quarter_octave() {
        assert_eq!(bucket_of(Duration::from_micros(500)), 0);
        assert_eq!(bucket_of(Duration::from_millis(2)), 4);
        let ms = bucket_upper(bucket_of(Duration::from_millis(300))).as_secs_f64() * 1e3;
        assert!((300.0..360.0).contains(&ms), "{ms}");
    }

    #[test]
    fn a_slow_minute_against_a_steady_baseline_alerts_then_clears() {
        let p = AlertParams::default();
        let mut ring = LatencyRing::new(&p);
        // 15 minutes at 200 ms, 5 a second.
        for t in 0..900 * 5 {
            ring.record(
                Instant::ZERO + Duration::from_millis(t * 200),
                Duration::from_millis(200),
            );
        }
        let (alert, _) = judge(
            &p,
            ring.recent(&p, at(900)),
            ring.baseline(&p, at(900)),
            &[],
        );
        assert!(!alert);
        // A minute at 900 ms.
        for t in 0..60 * 5 {
            ring.record(
                at(900) + Duration::from_millis(t * 200),
                Duration::from_millis(900),
            );
        }
        let (alert, ev) = judge(
            &p,
            ring.recent(&p, at(961)),
            ring.baseline(&p, at(961)),
            &[],
        );
        assert!(alert, "{ev:?}");
        assert!(
            ev.recent.as_millis() >= 900 && ev.baseline.is_some_and(|b| b.as_millis() < 260),
            "{ev:?}"
        );
        // Back to normal for two minutes: clears.
        for t in 0..120 * 5 {
            ring.record(
                at(961) + Duration::from_millis(t * 200),
                Duration::from_millis(200),
            );
        }
        let (alert, _) = judge(
            &p,
            ring.recent(&p, at(1082)),
            ring.baseline(&p, at(1082)),
            &[],
        );
        assert!(!alert);
    }

    #[test]
    fn peers_and_too_few_samples() {
        let p = AlertParams {
            vs_baseline: None,
            vs_peers: Some(1.5),
            ..AlertParams::default()
        };
        let d = Duration::from_millis;
        assert!(judge(&p, Some(d(400)), None, &[d(100), d(200), d(250)]).0);
        assert!(!judge(&p, Some(d(250)), None, &[d(100), d(200), d(250)]).0);
        assert!(!judge(&p, None, None, &[d(100)]).0, "no samples, no alert");
        let mut ring = LatencyRing::new(&p);
        ring.record(at(0), d(100));
        assert_eq!(
            ring.recent(&p, at(20)),
            None,
            "one sample is below min_samples"
        );
    }
}
