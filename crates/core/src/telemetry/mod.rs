//! Telemetry: every decision and outcome as counters, histograms, sums, a time series and
//! events, per target and per route (per provider and overall are sums of targets, done by
//! the report writers so that there is one source of truth).
//!
//! Memory is fixed: histograms (hdrhistogram, 2 significant figures, 1 µs to 1 h), counters,
//! series that compact themselves, and a capped event log. Nothing here keeps a sample per
//! request, so a simulated week costs what a simulated minute costs.

pub mod alert;
pub mod event;
pub mod series;

use hdrhistogram::Histogram;

use crate::id::{RouteId, TargetId};
use crate::outcome::{AttemptReport, ErrorKind, FailureReason, FinalOutcome, Outcome};
use crate::time::{Duration, Instant};

pub use event::{Event, EventKind, EventLog, MAX_EVENTS, MAX_TAPPED};
pub use series::{Point, Series};

/// Latency in microseconds, 1 µs to 1 h, 2 significant figures.
#[derive(Clone, Debug)]
pub struct LatencyHistogram(Histogram<u64>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        #[expect(
            clippy::expect_used,
            reason = "constant bounds that hdrhistogram accepts"
        )]
        let h = Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid histogram bounds");
        LatencyHistogram(h)
    }
}

impl LatencyHistogram {
    /// Records one latency. Values are kept in whole microseconds: below 1 µs counts as 1 µs,
    /// above the hour as the hour.
    pub fn record(&mut self, d: Duration) {
        self.0.saturating_record(d.as_micros().max(1));
    }
    /// Records `d` `n` times (a run of equal values, such as a stream's token gaps).
    pub fn record_n(&mut self, d: Duration, n: u64) {
        if n > 0 {
            self.0.saturating_record_n(d.as_micros().max(1), n);
        }
    }
    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }
    /// The value at quantile `q` (0..=1); zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.0.value_at_quantile(q))
    }
    /// The largest value recorded (to the histogram's precision); zero when empty.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.0.max())
    }
    /// The mean of the recorded values (from the buckets); zero when empty.
    pub fn mean(&self) -> Duration {
        Duration::from_secs_f64(self.0.mean() / 1e6)
    }
    /// Recorded values at or below `d`.
    pub fn count_le(&self, d: Duration) -> u64 {
        self.0.count_between(0, d.as_micros().max(1))
    }
    /// Sum of recorded values, in seconds (from the histogram's buckets).
    pub fn sum_secs(&self) -> f64 {
        self.0.mean() * self.0.len() as f64 / 1e6
    }
    /// Adds `other`'s values to this histogram (per-provider and overall figures are merged
    /// from the targets' this way).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Both histograms share the same bounds, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }
}

/// Attempts of one target in one time-series point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetPoint {
    /// Attempts that finished in the point, whatever their outcome (cancelled ones too).
    pub attempts: u64,
    /// Of those, the successes.
    pub successes: u64,
    /// Of those, the errors (cancellations are neither successes nor errors).
    pub errors: u64,
    /// Errors by `ErrorKind::index`.
    pub kinds: [u32; ErrorKind::COUNT],
    /// USD the point's attempts cost, failed ones included.
    pub cost: f64,
}

impl Point for TargetPoint {
    fn merge(&mut self, o: &Self) {
        self.attempts += o.attempts;
        self.successes += o.successes;
        self.errors += o.errors;
        for (a, b) in self.kinds.iter_mut().zip(o.kinds) {
            *a += b;
        }
        self.cost += o.cost;
    }
}

/// Requests of one route in one time-series point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoutePoint {
    /// Requests that finished in the point.
    pub requests: u64,
    /// Of those, the ones no target served.
    pub failures: u64,
}

impl Point for RoutePoint {
    fn merge(&mut self, o: &Self) {
        self.requests += o.requests;
        self.failures += o.failures;
    }
}

/// Everything counted about one target's attempts.
#[derive(Clone, Debug, Default)]
pub struct TargetStats {
    /// Attempts sent to the target, counted when sent (hedges included).
    pub attempts: u64,
    /// Of those, the hedges: attempts sent while another of the request was in flight.
    pub hedges: u64,
    /// Attempts that finished with a success.
    pub successes: u64,
    /// Attempts the driver cancelled (a lost hedge, an abandoned request).
    pub cancelled: u64,
    /// Errors by `ErrorKind::index`.
    pub errors: [u64; ErrorKind::COUNT],
    /// Latency of every finished attempt but the cancelled ones, successes and errors alike.
    pub latency: LatencyHistogram,
    /// Time to first token of the attempts that reported one.
    pub first_token: LatencyHistogram,
    /// Prompt tokens of every finished attempt (estimates where usage was missing).
    pub prompt_tokens: u64,
    /// Completion tokens of every finished attempt (estimates where usage was missing).
    pub completion_tokens: u64,
    /// Attempts whose tokens are estimated: replies and streams that carried no usage, and
    /// attempts sent and given up without usage: cancelled because their caller left
    /// (`Router::caller_left`), because another attempt's first token committed the request
    /// (`Router::first_token`) or its reply served it (hedges that lost), still out when the
    /// request finished, a continuation given up (`Router::give_up`), or timed out after
    /// their provider had the prompt (`AttemptReport::prompt_sent`).
    pub usage_missing: u64,
    /// USD spent on attempts that succeeded.
    pub cost_success: f64,
    /// USD spent on attempts that failed or were cancelled: the price of failover.
    pub cost_failed: f64,
    /// The attempts over time.
    pub series: Series<TargetPoint>,
}

impl TargetStats {
    /// Errors of every kind together.
    pub fn errors_total(&self) -> u64 {
        self.errors.iter().fold(0, |a, &n| a.saturating_add(n))
    }

    /// The one definition of availability: the share of finished attempts that did not
    /// fail with an error kind marked in `kinds` (by default, [`default_availability_kinds`]:
    /// rate limits and the caller's own mistakes do not make a target unavailable). `None`
    /// for a target that finished no attempt (none sent, or all cancelled): nothing to be
    /// available for, and reading 1 there would hide a target that never answered.
    pub fn availability(&self, kinds: &[bool; ErrorKind::COUNT]) -> Option<f64> {
        availability(self.successes, &self.errors, kinds)
    }
}

/// [`TargetStats::availability`] of `successes` and `errors` by kind (one target's, or
/// several targets' summed: a provider's).
pub fn availability(
    successes: u64,
    errors: &[u64; ErrorKind::COUNT],
    kinds: &[bool; ErrorKind::COUNT],
) -> Option<f64> {
    let bad = ErrorKind::ALL
        .iter()
        .filter(|k| kinds[k.index()])
        .fold(0u64, |n, k| n.saturating_add(errors[k.index()]));
    let finished = errors.iter().fold(successes, |n, e| n.saturating_add(*e));
    (finished > 0).then(|| 1.0 - bad as f64 / finished as f64)
}

/// The kinds that count against availability by default: those that count against health.
pub fn default_availability_kinds() -> [bool; ErrorKind::COUNT] {
    ErrorKind::ALL.map(ErrorKind::counts_against_health)
}

/// Number of distinct `FailureReason` labels (every error kind, plus six of the router's own).
pub const FAILURE_REASONS: usize = ErrorKind::COUNT + 6;

/// Dense index of a failure reason.
pub fn failure_index(reason: FailureReason) -> usize {
    match reason {
        FailureReason::Attempt(kind) => kind.index(),
        FailureReason::DeadlineExceeded => ErrorKind::COUNT,
        FailureReason::NoTargetAvailable => ErrorKind::COUNT + 1,
        FailureReason::BudgetExhausted(_) => ErrorKind::COUNT + 2,
        FailureReason::UnknownRoute => ErrorKind::COUNT + 3,
        FailureReason::Abandoned => ErrorKind::COUNT + 4,
        FailureReason::Unsupported => ErrorKind::COUNT + 5,
    }
}

/// The label of a dense failure index.
pub fn failure_label(index: usize) -> &'static str {
    match index.checked_sub(ErrorKind::COUNT) {
        None => ErrorKind::ALL[index].label(),
        Some(0) => "deadline_exceeded",
        Some(1) => "no_target_available",
        Some(2) => "budget_exhausted",
        Some(3) => "unknown_route",
        Some(4) => "abandoned",
        _ => "unsupported",
    }
}

/// Everything counted about one route's requests.
#[derive(Clone, Debug, Default)]
pub struct RouteStats {
    /// Requests that finished, served or not (each counted once, when it ends).
    pub requests: u64,
    /// Of those, the ones a target served.
    pub served: u64,
    /// Failed requests by `failure_index`.
    pub failures: [u64; FAILURE_REASONS],
    /// Attempts made by finished requests (attempts per request = this / finished).
    pub attempts: u64,
    /// Streams that broke after their first token and completed through a continuation
    /// (route `resume: prefill`).
    pub resumed: u64,
    /// Streams that broke after their first token on a route that resumes, and that no
    /// continuation completed (abandoned requests are not counted here).
    pub resume_failed: u64,
    /// Whole-request latency, from `begin` to the final outcome, of every finished request.
    pub latency: LatencyHistogram,
    /// The requests over time.
    pub series: Series<RoutePoint>,
}

impl RouteStats {
    /// Failed requests, every reason together (`requests - served`).
    pub fn failed(&self) -> u64 {
        self.failures.iter().sum()
    }
}

/// The router's record of a run: per-target and per-route statistics, latency alerts and
/// the event log. The router writes it (from `begin`, `next`, `record` and `abandon`);
/// reports and the Prometheus renderer read it.
#[derive(Clone, Debug)]
pub struct Telemetry {
    /// Width of every series point, shared so that series line up.
    series_width: u64,
    /// When latency alerts are raised; both factors `None` turns alerts off.
    pub alert_params: alert::AlertParams,
    /// Per target: recent latencies for alerts.
    pub rings: Vec<alert::LatencyRing>,
    /// Which error kinds count against availability.
    pub availability_kinds: [bool; ErrorKind::COUNT],
    /// Per target, indexed by `TargetId::index`.
    pub targets: Vec<TargetStats>,
    /// Per route, indexed by `RouteId::index`.
    pub routes: Vec<RouteStats>,
    /// Requests whose route was unknown (no route to count them under).
    pub unrouted: RouteStats,
    /// What happened to the routing, in time order.
    pub events: EventLog,
}

impl Telemetry {
    /// Empty telemetry for `targets` targets and `routes` routes, with the default alert
    /// settings and availability kinds.
    pub fn new(targets: usize, routes: usize) -> Self {
        Self::with_params(
            targets,
            routes,
            alert::AlertParams::default(),
            default_availability_kinds(),
        )
    }

    /// Empty telemetry for `targets` targets and `routes` routes, with these alert settings
    /// and these error kinds counting against availability (indexed by `ErrorKind::index`).
    pub fn with_params(
        targets: usize,
        routes: usize,
        alerts: alert::AlertParams,
        availability_kinds: [bool; ErrorKind::COUNT],
    ) -> Self {
        Telemetry {
            series_width: 1,
            rings: vec![alert::LatencyRing::new(&alerts); targets],
            alert_params: alerts,
            availability_kinds,
            targets: vec![TargetStats::default(); targets],
            routes: vec![RouteStats::default(); routes],
            unrouted: RouteStats::default(),
            events: EventLog::default(),
        }
    }

    /// A target's availability with the configured error kinds
    /// ([`TargetStats::availability`]). `None` when it finished no attempt.
    pub fn availability(&self, target: TargetId) -> Option<f64> {
        self.targets[target.index()].availability(&self.availability_kinds)
    }

    /// Feeds a successful attempt's latency to the target's alert tracking; at each slot
    /// rollover, judges the target against its baseline and peers and logs any change.
    pub(crate) fn track_latency(&mut self, target: TargetId, latency: Duration, now: Instant) {
        let p = self.alert_params;
        if p.vs_baseline.is_none() && p.vs_peers.is_none() {
            return;
        }
        if !self.rings[target.index()].record(now, latency) {
            return;
        }
        let ring = &self.rings[target.index()];
        let recent = ring.recent(&p, now);
        let baseline = if ring.alerting {
            ring.frozen_baseline
        } else {
            ring.baseline(&p, now)
        };
        let peers: Vec<Duration> = self
            .rings
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != target.index())
            .filter_map(|(_, r)| r.recent(&p, now))
            .collect();
        let (alert, evidence) = alert::judge(&p, recent, baseline, &peers);
        let ring = &mut self.rings[target.index()];
        if alert != ring.alerting {
            ring.alerting = alert;
            ring.frozen_baseline = if alert { evidence.baseline } else { None };
            self.events.push(
                now,
                EventKind::Alert {
                    target,
                    raised: alert,
                    evidence,
                },
            );
        }
    }

    /// Seconds each series point covers (the same for every series).
    pub fn series_width(&self) -> u64 {
        self.series_width
    }

    /// Adds another router's telemetry of the same targets and routes (a fleet's replica,
    /// its clock `shift` behind this one's): counters and histograms add up, series add
    /// point by point at the wider of the two widths, and events merge in time order. Alert
    /// rings and settings stay this router's. Targets or routes beyond this telemetry's are
    /// ignored (the replicas of a fleet share one router config).
    pub fn merge(&mut self, other: &Telemetry, shift: Duration) {
        let width = self.series_width.max(other.series_width);
        self.series_width = width;
        for (t, o) in self.targets.iter_mut().zip(&other.targets) {
            t.attempts = t.attempts.saturating_add(o.attempts);
            t.hedges = t.hedges.saturating_add(o.hedges);
            t.successes = t.successes.saturating_add(o.successes);
            t.cancelled = t.cancelled.saturating_add(o.cancelled);
            for (e, oe) in t.errors.iter_mut().zip(&o.errors) {
                *e = e.saturating_add(*oe);
            }
            t.latency.merge(&o.latency);
            t.first_token.merge(&o.first_token);
            t.prompt_tokens = t.prompt_tokens.saturating_add(o.prompt_tokens);
            t.completion_tokens = t.completion_tokens.saturating_add(o.completion_tokens);
            t.usage_missing = t.usage_missing.saturating_add(o.usage_missing);
            t.cost_success += o.cost_success;
            t.cost_failed += o.cost_failed;
            merge_series(&mut t.series, &o.series, width);
        }
        let routes = self
            .routes
            .iter_mut()
            .zip(&other.routes)
            .chain(std::iter::once((&mut self.unrouted, &other.unrouted)));
        for (r, o) in routes {
            r.requests = r.requests.saturating_add(o.requests);
            r.served = r.served.saturating_add(o.served);
            for (f, of) in r.failures.iter_mut().zip(&o.failures) {
                *f = f.saturating_add(*of);
            }
            r.attempts = r.attempts.saturating_add(o.attempts);
            r.resumed = r.resumed.saturating_add(o.resumed);
            r.resume_failed = r.resume_failed.saturating_add(o.resume_failed);
            r.latency.merge(&o.latency);
            merge_series(&mut r.series, &o.series, width);
        }
        self.events.merge(&other.events, shift);
    }

    pub(crate) fn attempt_sent(&mut self, target: TargetId, hedge: bool) {
        let t = &mut self.targets[target.index()];
        t.attempts += 1;
        t.hedges += u64::from(hedge);
    }

    pub(crate) fn attempt_finished(
        &mut self,
        target: TargetId,
        report: &AttemptReport,
        cost: f64,
        now: Instant,
    ) {
        self.series_width = series::width_for(now.second(), self.series_width);
        let t = &mut self.targets[target.index()];
        let point = t.series.at(now.second(), self.series_width);
        point.attempts += 1;
        point.cost += cost;
        match report.outcome {
            Outcome::Success => {
                t.successes += 1;
                t.cost_success += cost;
                point.successes += 1;
            }
            Outcome::Error { kind, .. } => {
                t.errors[kind.index()] += 1;
                t.cost_failed += cost;
                point.errors += 1;
                point.kinds[kind.index()] += 1;
            }
            Outcome::Cancelled => {
                t.cancelled += 1;
                t.cost_failed += cost;
            }
        }
        if !matches!(report.outcome, Outcome::Cancelled) {
            t.latency.record(report.latency);
        }
        if let Some(ttft) = report.first_token {
            t.first_token.record(ttft);
        }
        t.prompt_tokens += u64::from(report.prompt_tokens);
        t.completion_tokens += u64::from(report.completion_tokens);
        t.usage_missing += u64::from(report.usage_missing);
    }

    pub(crate) fn stream_resumed(&mut self, route: Option<RouteId>, completed: bool) {
        let r = match route {
            Some(id) => &mut self.routes[id.index()],
            None => &mut self.unrouted,
        };
        if completed {
            r.resumed += 1;
        } else {
            r.resume_failed += 1;
        }
    }

    pub(crate) fn request_finished(
        &mut self,
        route: Option<RouteId>,
        outcome: FinalOutcome,
        latency: Duration,
        attempts: usize,
        now: Instant,
    ) {
        self.series_width = series::width_for(now.second(), self.series_width);
        let r = match route {
            Some(id) => &mut self.routes[id.index()],
            None => &mut self.unrouted,
        };
        r.requests += 1;
        r.attempts += attempts as u64;
        r.latency.record(latency);
        let point = r.series.at(now.second(), self.series_width);
        point.requests += 1;
        match outcome {
            FinalOutcome::Served(_) => r.served += 1,
            FinalOutcome::Failed(reason) => {
                r.failures[failure_index(reason)] += 1;
                point.failures += 1;
            }
        }
    }
}

/// Adds `other`'s points to `into`'s, both at `width` seconds a point.
fn merge_series<P: Point>(into: &mut Series<P>, other: &Series<P>, width: u64) {
    for (i, p) in other.aligned(width).iter().enumerate() {
        into.at(i as u64 * width, width).merge(p);
    }
}

#[cfg(test)]
mod tests {
    use super::event::{MAX_EVENTS, MAX_TAPPED};
    use super::*;

    /// A fleet's telemetry is every replica's: counts, histograms and series add up, the
    /// other's events come in time order on this clock, and the log stays bounded.
    #[test]
    fn merged_telemetry_counts_every_replica() {
        let ms = Duration::from_millis;
        let at = |m| Instant::ZERO + ms(m);
        let replica = |attempts: u64, latency: u64, second: u64, event_ms: u64| {
            let mut t = Telemetry::new(2, 1);
            t.targets[1].attempts = attempts;
            t.targets[1].latency.record(ms(latency));
            t.targets[1].series.at(second, 1).attempts = attempts;
            t.routes[0].requests = attempts;
            t.unrouted.requests = 1;
            t.events.push(
                at(event_ms),
                EventKind::Parked {
                    target: TargetId::new(1),
                    until: at(event_ms + 1_000),
                },
            );
            t
        };
        let mut a = replica(3, 100, 2, 500);
        let b = replica(4, 300, 5, 200);
        a.merge(&b, ms(100));
        assert_eq!(a.targets[1].attempts, 7);
        assert_eq!(a.targets[0].attempts, 0);
        assert_eq!(a.targets[1].latency.count(), 2);
        assert!(a.targets[1].latency.max() >= ms(299));
        assert_eq!((a.routes[0].requests, a.unrouted.requests), (7, 2));
        let points: Vec<u64> = a.targets[1]
            .series
            .aligned(1)
            .iter()
            .map(|p| p.attempts)
            .collect();
        assert_eq!(points, [0, 0, 3, 0, 0, 4]);
        let times: Vec<Instant> = a.events.events().iter().map(|e| e.at).collect();
        assert_eq!(times, [at(300), at(500)], "shifted, in time order");

        let mut full = Telemetry::new(1, 0);
        for i in 0..MAX_EVENTS as u64 {
            full.events
                .push(at(i), EventKind::BudgetExhausted { route: None });
        }
        let mut one = Telemetry::new(1, 0);
        one.events
            .push(at(0), EventKind::BudgetExhausted { route: None });
        full.merge(&one, Duration::ZERO);
        assert_eq!(full.events.events().len(), MAX_EVENTS);
        assert_eq!(full.events.dropped(), 1);
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.5), Duration::ZERO);
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        let p50 = h.quantile(0.5).as_millis();
        let p99 = h.quantile(0.99).as_millis();
        assert!((49..=51).contains(&p50), "{p50}");
        assert!((98..=100).contains(&p99), "{p99}");
    }

    #[test]
    fn histogram_edges() {
        let mut h = LatencyHistogram::default();
        assert_eq!((h.max(), h.mean()), (Duration::ZERO, Duration::ZERO));
        h.record(Duration::from_nanos(10));
        assert_eq!(h.max(), Duration::from_micros(1));
        h.record(Duration::from_secs(10 * 3600));
        assert_eq!(h.count(), 2);
        let hour = Duration::from_secs(3600).as_secs_f64();
        assert!(
            (h.max().as_secs_f64() - hour).abs() / hour < 0.01,
            "{:?}",
            h.max()
        );
    }

    #[test]
    fn cancelled_attempts_cost_but_add_no_latency() {
        let mut t = Telemetry::new(1, 1);
        let target = TargetId::new(0);
        let report = |outcome| AttemptReport::new(outcome, Duration::from_millis(40));
        t.attempt_sent(target, false);
        t.attempt_sent(target, true);
        t.attempt_sent(target, false);
        let now = Instant::from_nanos(0);
        t.attempt_finished(target, &report(Outcome::Success), 1.0, now);
        t.attempt_finished(target, &report(Outcome::Cancelled), 2.0, now);
        t.attempt_finished(
            target,
            &report(Outcome::error(ErrorKind::Timeout)),
            4.0,
            now,
        );
        let s = &t.targets[0];
        assert_eq!((s.attempts, s.hedges), (3, 1));
        assert_eq!((s.successes, s.cancelled, s.errors_total()), (1, 1, 1));
        assert_eq!(s.latency.count(), 2);
        assert_eq!((s.cost_success, s.cost_failed), (1.0, 6.0));
        let p = &s.series.points()[0];
        assert_eq!((p.attempts, p.successes, p.errors, p.cost), (3, 1, 1, 7.0));
    }

    #[test]
    fn the_event_log_is_capped() {
        let mut log = EventLog::default();
        let kind = EventKind::PanicBypass {
            route: RouteId::new(0),
        };
        for i in 0..MAX_EVENTS as u64 + 3 {
            log.push(Instant::from_nanos(i), kind);
        }
        assert_eq!(log.events().len(), MAX_EVENTS);
        assert_eq!(log.dropped(), 3);
        assert_eq!(log.events()[0].at, Instant::ZERO);
    }

    #[test]
    fn the_tap_sees_every_event_past_the_cap_and_is_bounded_itself() {
        let mut log = EventLog::default();
        let kind = EventKind::PanicBypass {
            route: RouteId::new(0),
        };
        log.push(Instant::ZERO, kind);
        assert_eq!(log.drain_tapped().count(), 0, "the tap is off");
        log.tap();
        // Drained as they come: every event reaches the driver, the log's cap or not.
        let mut seen = 0u64;
        for i in 1..=MAX_EVENTS as u64 + 5 {
            log.push(Instant::from_nanos(i), kind);
            for e in log.drain_tapped() {
                assert_eq!(e.at, Instant::from_nanos(i));
                seen += 1;
            }
        }
        assert_eq!(seen, MAX_EVENTS as u64 + 5);
        assert_eq!(log.dropped(), 6);
        assert_eq!(log.tap_lost(), 0);
        // Never drained: the tap keeps MAX_TAPPED and counts the rest.
        for i in 0..MAX_TAPPED as u64 + 2 {
            log.push(Instant::from_nanos(i), kind);
        }
        assert_eq!(log.drain_tapped().count(), MAX_TAPPED);
        assert_eq!(log.tap_lost(), 2);
        assert_eq!(log.drain_tapped().count(), 0);
    }

    #[test]
    fn failure_labels_round_trip() {
        for reason in [
            FailureReason::Attempt(ErrorKind::Timeout),
            FailureReason::DeadlineExceeded,
            FailureReason::NoTargetAvailable,
            FailureReason::BudgetExhausted(ErrorKind::ServerError),
            FailureReason::UnknownRoute,
            FailureReason::Abandoned,
            FailureReason::Unsupported,
        ] {
            assert_eq!(failure_label(failure_index(reason)), reason.label());
        }
    }

    #[test]
    fn availability_ignores_rate_limits_and_bad_requests() {
        let kinds = default_availability_kinds();
        let mut t = TargetStats::default();
        // Idle, or only cancelled: no availability, not 1.
        assert_eq!(t.availability(&kinds), None);
        t.cancelled = 3;
        assert_eq!(t.availability(&kinds), None);
        // Only rate limits: finished, none against it.
        t.errors[ErrorKind::RateLimited.index()] = 2;
        assert_eq!(t.availability(&kinds), Some(1.0));
        t.successes = 6;
        t.errors[ErrorKind::ServerError.index()] = 2;
        assert!((t.availability(&kinds).unwrap() - 0.8).abs() < 1e-12);
        // Counting rate limits too (a router's `availability.kinds`) lowers it.
        let mut with_429s = kinds;
        with_429s[ErrorKind::RateLimited.index()] = true;
        assert!((t.availability(&with_429s).unwrap() - 0.6).abs() < 1e-12);
    }
}
