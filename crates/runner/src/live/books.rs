//! The run's books: each request folded in as it finishes, and the requests still in flight.

use std::collections::BTreeMap;
use std::sync::Mutex;

use switchyard_core::id::TargetId;
use switchyard_core::outcome::{AttemptRecord, FailureReason, FinalOutcome, Outcome};
use switchyard_core::time::{Duration, Instant};
use switchyard_live::AttemptSink;
use switchyard_sim::Observer;

use crate::results::Collector;

/// One finished live request, on its way to the collector.
pub(super) struct Done {
    pub(super) class: usize,
    pub(super) start: Instant,
    pub(super) end: Instant,
    pub(super) outcome: FinalOutcome,
    pub(super) attempts: Vec<AttemptRecord>,
    pub(super) first_token: Option<Duration>,
    pub(super) stream: bool,
    pub(super) cost: f64,
    pub(super) wasted_cost: f64,
    pub(super) route: Option<switchyard_core::id::RouteId>,
    /// A stream broken after its first token on a route that resumes: whether a
    /// continuation completed it.
    pub(super) resumed: Option<bool>,
    pub(super) output_tokens: u32,
    pub(super) gaps: Gaps,
}

/// What the load knows of a request as it sends it: enough to book how it ends.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ticket {
    pub(super) class: usize,
    pub(super) route: Option<switchyard_core::id::RouteId>,
    /// When it was meant to start: its latency counts from here.
    pub(super) intended: Instant,
    /// When the run started, on the runtime's clock.
    pub(super) base: tokio::time::Instant,
}

impl Ticket {
    /// The run's time now.
    pub(super) fn now(&self) -> Instant {
        super::load::since(self.base)
    }

    /// The request ended now with `outcome` after `attempts`: nothing delivered, nothing
    /// cost (the caller fills in what it read).
    pub(super) fn done(
        &self,
        stream: bool,
        outcome: FinalOutcome,
        attempts: Vec<AttemptRecord>,
    ) -> Done {
        Done {
            class: self.class,
            start: self.intended,
            end: self.now(),
            outcome,
            attempts,
            first_token: None,
            stream,
            cost: 0.0,
            wasted_cost: 0.0,
            route: self.route,
            resumed: None,
            output_tokens: 0,
            gaps: Gaps::default(),
        }
    }
}

/// What a request was when it was issued: enough to book it if it never finishes.
#[derive(Clone, Debug)]
pub(super) struct Issued {
    pub(super) class: usize,
    pub(super) route: Option<switchyard_core::id::RouteId>,
    pub(super) start: Instant,
    pub(super) stream: bool,
    /// Where the router writes the request's attempts when it ends, however it ends: what a
    /// request cut by its caller or by the run's end reached is booked from it.
    pub(super) sink: AttemptSink,
}

/// The run's books: the collector, folded into as each request finishes, and the requests
/// still in flight. Nothing else is held, so memory is flat with the run's length.
#[derive(Debug)]
pub(super) struct Books {
    collector: Collector,
    in_flight: BTreeMap<u64, Issued>,
    /// The most requests held at once (issued, not yet folded).
    peak_held: usize,
}

impl Books {
    pub(super) fn new(collector: Collector) -> Self {
        Books {
            collector,
            in_flight: BTreeMap::new(),
            peak_held: 0,
        }
    }

    pub(super) fn issue(&mut self, id: u64, issued: Issued) {
        self.in_flight.insert(id, issued);
        self.peak_held = self.peak_held.max(self.in_flight.len());
    }

    /// Folds a finished request in; one not in flight (already closed) is ignored.
    pub(super) fn finish(&mut self, id: u64, d: &Done) {
        if self.in_flight.remove(&id).is_none() {
            return;
        }
        self.collector.finished(&switchyard_sim::Finished {
            class: d.class,
            start: d.start,
            end: d.end,
            outcome: d.outcome,
            route: d.route,
            attempts: &d.attempts,
            first_token: d.first_token,
            stream: d.stream,
            cost: d.cost,
            wasted_cost: d.wasted_cost,
            output_tokens: d.output_tokens,
            gaps: d.gaps.runs(),
            resumed: d.resumed,
        });
    }

    /// `n` requests reached `target`'s provider by `at`, as its fake counted them: what a
    /// black-box run's failover figures are computed from (each one a request with one
    /// attempt, on that provider).
    pub(super) fn reached(&mut self, at: Instant, target: TargetId, n: u64) {
        let attempt = [AttemptRecord {
            target,
            started: at,
            outcome: Outcome::Success,
            latency: Duration::ZERO,
            hedge: false,
        }];
        // Any request may have reached the provider through the gateway: each counts.
        for f in &mut self.collector.failover.faults {
            for _ in 0..n {
                f.add(at, true, &attempt);
            }
        }
    }

    /// Tallies router events the driver's tap handed over.
    pub(super) fn events(&mut self, events: &[switchyard_core::telemetry::Event]) {
        for e in events {
            self.collector.event(e);
        }
    }

    /// Books every request still in flight as failed past its deadline, at `end`, in its own
    /// class, route and start time, and returns the collector.
    pub(super) fn close(mut self, end: Instant) -> (Collector, usize) {
        for issued in std::mem::take(&mut self.in_flight).into_values() {
            let attempts = issued.sink.take();
            // What its attempts were booked, should its work have been dropped already.
            let cost = issued.sink.booked().map_or(0.0, |(_, cost)| cost);
            self.collector.finished(&switchyard_sim::Finished {
                class: issued.class,
                start: issued.start,
                end: end.max(issued.start),
                outcome: FinalOutcome::Failed(FailureReason::DeadlineExceeded),
                route: issued.route,
                attempts: &attempts,
                first_token: None,
                stream: issued.stream,
                cost,
                wasted_cost: cost,
                output_tokens: 0,
                gaps: &[],
                resumed: None,
            });
        }
        (self.collector, self.peak_held)
    }
}

/// The gaps between a stream's content chunks, counted by value: each gap rounded to three
/// significant digits of a microsecond (the histograms keep no more), kept sorted, at most
/// [`Gaps::MAX_RUNS`] distinct values. Past that, a new value joins its nearest neighbour,
/// so a hostile stream of a million distinct gaps holds 48 KiB, and a long stream's later
/// gaps still count near their own value.
#[derive(Clone, Debug, Default)]
pub(super) struct Gaps {
    runs: Vec<(Duration, u32)>,
    last: Option<Instant>,
}

impl Gaps {
    const MAX_RUNS: usize = 4096;

    /// `us` to three significant digits.
    fn rounded(us: u64) -> u64 {
        let mut scale = 1u64;
        while us / scale >= 1000 {
            scale = scale.saturating_mul(10);
        }
        us / scale * scale
    }

    /// A content chunk reached the caller at `at`.
    pub(super) fn chunk(&mut self, at: Instant) {
        if let Some(prev) = self.last.replace(at) {
            let us = Self::rounded(at.saturating_since(prev).as_micros());
            let gap = Duration::from_micros(us);
            match self.runs.binary_search_by_key(&gap, |r| r.0) {
                Ok(i) => self.runs[i].1 = self.runs[i].1.saturating_add(1),
                Err(i) if self.runs.len() < Self::MAX_RUNS => self.runs.insert(i, (gap, 1)),
                Err(i) => {
                    // Full: the nearer of the two neighbours takes it.
                    let below = i.checked_sub(1);
                    let nearest = match (below, self.runs.get(i)) {
                        (Some(b), Some(a))
                            if us.saturating_sub(self.runs[b].0.as_micros())
                                > a.0.as_micros().saturating_sub(us) =>
                        {
                            i
                        }
                        (Some(b), _) => b,
                        (None, _) => i,
                    };
                    if let Some(run) = self.runs.get_mut(nearest) {
                        run.1 = run.1.saturating_add(1);
                    }
                }
            }
        }
        self.last = Some(at);
    }

    /// Content chunks seen.
    pub(super) fn chunks(&self) -> u32 {
        match self.last {
            None => 0,
            Some(_) => self.runs.iter().fold(1u32, |n, r| n.saturating_add(r.1)),
        }
    }

    pub(super) fn runs(&self) -> &[(Duration, u32)] {
        &self.runs
    }
}

/// Runs `f` on the books, under their lock (held for one fold, never across an await).
pub(super) fn booked<T>(books: &Mutex<Books>, f: impl FnOnce(&mut Books) -> T) -> T {
    f(&mut books
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::outcome::FailureReason;

    #[test]
    fn a_request_aborted_in_flight_is_booked_to_its_own_class_route_and_start() {
        let s = super::super::tests::scenario(10, 6);
        let mut books = Books::new(Collector::new(&s));
        let at = |secs| Instant::ZERO + Duration::from_secs(secs);
        let route = s.router.route_id("chat");
        let issued = |class, start| Issued {
            class,
            route,
            start,
            stream: class == 1,
            sink: AttemptSink::default(),
        };
        books.issue(1, issued(1, at(5)));
        books.issue(2, issued(0, at(1)));
        let done = Done {
            class: 0,
            start: at(1),
            end: at(2),
            outcome: FinalOutcome::Served(switchyard_core::id::TargetId::new(0)),
            attempts: Vec::new(),
            first_token: Some(Duration::from_millis(300)),
            stream: false,
            cost: 0.5,
            wasted_cost: 0.0,
            route,
            resumed: None,
            output_tokens: 3,
            gaps: Gaps::default(),
        };
        books.finish(2, &done);
        books.finish(2, &done); // a repeat is not booked twice
        let (collector, peak) = books.close(at(9));
        assert_eq!(peak, 2);
        let second = collector.scope(None, Some(1), None);
        assert_eq!(second.requests, 1);
        assert_eq!(second.succeeded, 0);
        assert_eq!(
            second.failures
                [switchyard_core::telemetry::failure_index(FailureReason::DeadlineExceeded)],
            1
        );
        let first = collector.scope(None, Some(0), None);
        assert_eq!((first.requests, first.succeeded), (1, 1));
        assert_eq!(
            collector
                .scope(route.map(|r| r.index()), None, None)
                .requests,
            2
        );
        // In the timeline at its start (5 s, 1 s windows), 4 s long; nothing at t = 0.
        assert_eq!(collector.timeline[0].0.count(), 0);
        assert_eq!(collector.timeline[5].0.count(), 1);
        let long = collector.timeline[5].0.max().as_secs_f64();
        assert!(
            (3.95..4.05).contains(&long),
            "{long} s (2 significant figures)"
        );
    }

    #[test]
    fn gaps_are_runs_and_stay_bounded() {
        let at = |us: u64| Instant::ZERO + Duration::from_micros(us);
        let mut g = Gaps::default();
        assert_eq!(g.chunks(), 0);
        for t in [0, 10, 20, 30, 45] {
            g.chunk(at(t));
        }
        assert_eq!(
            g.runs(),
            [
                (Duration::from_micros(10), 3),
                (Duration::from_micros(15), 1)
            ]
        );
        assert_eq!(g.chunks(), 5);
        let mut hostile = Gaps::default();
        let mut t = 0;
        for i in 0..20_000u64 {
            t += i * 37 + 1;
            hostile.chunk(at(t));
        }
        assert!(hostile.runs().len() <= Gaps::MAX_RUNS);
        // Past the cap, late gaps still count near their own value (they joined the last
        // run before, whatever their size).
        for _ in 0..100 {
            t += 50_000_000;
            hostile.chunk(at(t));
        }
        let big = hostile
            .runs()
            .iter()
            .filter(|r| r.0 >= Duration::from_secs(45))
            .map(|r| r.1)
            .sum::<u32>();
        assert_eq!(
            big,
            100,
            "{:?}",
            &hostile.runs()[hostile.runs().len() - 3..]
        );
        assert_eq!(hostile.chunks(), 20_100);
    }
}
