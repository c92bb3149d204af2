//! Failover figures per fault, exact to the request (definitions in `docs/FAILOVER.md`).
//!
//! Both drivers hand every finished request to the collector, which folds it here: for each
//! named fault, whether the request had an attempt on the fault's provider ("touched" it),
//! keyed by the request's start. Only requests that could reach the provider count: those
//! whose route (or a fallback route after it) has one of its targets, and any that touched
//! it. A request on a route that never uses the provider would only dilute its share, and a
//! diluted share can dip under the threshold before the router has reacted at all. Requests that started before the fault only add to two
//! counters (the provider's share before the fault); from the fault's start on, each is kept
//! as one packed `u64` (start in nanoseconds, touched in the low bit), because requests finish
//! out of order and a share over a window needs every start in it. The samples are capped at
//! [`MAX_SAMPLES`] per fault: when full, the latest half is dropped and nothing starting at or
//! after the first dropped start is kept (the figures then cover the run up to that
//! `horizon`, exactly). Requests that made no attempt (refused before any was sent, or
//! abandoned unseen) are in no share: they went to no provider.
//!
//! A failover is never earlier than the fault's detection: when the router detected the
//! fault (a breaker opening or a parking on the provider's targets, tallied as it happened),
//! the failover's window may only start at or after that instant. And a fault whose
//! provider got no request during it was not exercised: it has no failover and no failback.
//!
//! Nothing here reads a clock: time is the requests' own start instants.

use switchyard_core::id::RouteId;
use switchyard_core::outcome::AttemptRecord;
use switchyard_core::time::{Duration, Instant};

use crate::scenario::ScenarioParams;

/// How long the provider's share must stay under [`THRESHOLD`] (after a failover) or at
/// [`FAILBACK_SHARE`] of its share before the fault (after a failback).
pub const HOLD: Duration = Duration::from_secs(5);
/// The provider's share of new requests under which it counts as failed over.
pub const THRESHOLD: f64 = 0.05;
/// The part of its share before the fault a provider must get back to have failed back.
pub const FAILBACK_SHARE: f64 = 0.9;
/// How long after the fault's end a breaker opening still counts as detecting it (an attempt
/// sent just before the end fails just after it).
pub const DETECT_GRACE: Duration = Duration::from_secs(1);
/// Samples kept per fault (8 bytes each).
pub const MAX_SAMPLES: usize = 1 << 18;

/// One fault's fold.
#[derive(Clone, Debug)]
pub struct FaultFold {
    /// Per target index: the target belongs to the fault's provider.
    on_provider: Vec<bool>,
    from: Instant,
    to: Instant,
    /// Arrivals stop here: no window may reach past it.
    end_of_arrivals: Instant,
    /// Requests (with an attempt) started before the fault, and those that touched the
    /// provider; not those started while another fault was on ([`FaultFold::others`]).
    before: (u64, u64),
    /// The other faults of the run, `[from, to)`: a request started during one is not in this
    /// fault's share before (that fault moved traffic, the share is not the usual one).
    others: Vec<(Instant, Instant)>,
    /// The same, for requests started during the fault.
    during: (u64, u64),
    /// `start_nanos << 1 | touched`, for requests started at or after the fault's start.
    samples: Vec<u64>,
    /// Samples start before this (set once the cap was hit).
    horizon: Option<u64>,
}

/// The figures of one fault, in seconds from the fault's start (detection, failover) or end
/// (failback).
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub time_to_failover: Option<f64>,
    pub time_to_failback: Option<f64>,
    /// The hold the failover was judged with: [`HOLD`], or half the fault if it is shorter.
    pub hold: Duration,
    /// The hold the failback was judged with: [`HOLD`], or half the rest of the run after the
    /// fault if it is shorter.
    pub failback_hold: Duration,
    /// Requests (with an attempt) started during the fault that could reach the provider.
    pub requests: u64,
    /// Of those, requests with an attempt on the fault's provider.
    pub provider_requests: u64,
    /// The provider's share of requests started before the fault (`None`: none started).
    pub share_before: Option<f64>,
    /// The samples were capped: figures cover requests started before this.
    pub horizon: Option<Instant>,
    /// The provider got requests during the fault and carried enough traffic to fail over
    /// from ([`Figures::never_over_threshold`] is false). Without it there is no failover
    /// and no failback figure.
    pub exercised: bool,
}

impl Figures {
    /// The provider's share before the fault was already under [`THRESHOLD`]: the run
    /// cannot tell a failover from its usual routing (no failover figure).
    pub fn under_threshold_before(&self) -> bool {
        self.share_before.is_some_and(|b| b < THRESHOLD)
    }

    /// The provider was under [`THRESHOLD`] both before and during the fault: it never
    /// carried enough traffic to fail over from, and the fault counts as not exercised.
    pub fn never_over_threshold(&self) -> bool {
        self.under_threshold_before()
            && (self.provider_requests as f64) < THRESHOLD * self.requests as f64
    }
}

impl FaultFold {
    pub fn new(on_provider: Vec<bool>, from: Instant, to: Instant, end: Instant) -> Self {
        FaultFold {
            on_provider,
            from,
            to,
            end_of_arrivals: end,
            before: (0, 0),
            others: Vec::new(),
            during: (0, 0),
            samples: Vec::new(),
            horizon: None,
        }
    }

    /// Folds one finished request; `reaches` says whether its route can reach the fault's
    /// provider. A request that neither could nor did is in no share.
    pub fn add(&mut self, start: Instant, reaches: bool, attempts: &[AttemptRecord]) {
        if attempts.is_empty() {
            return;
        }
        let touched = attempts
            .iter()
            .any(|a| self.on_provider.get(a.target.index()).copied() == Some(true));
        if !(reaches || touched) {
            return;
        }
        let count = |c: &mut (u64, u64)| {
            c.0 = c.0.saturating_add(1);
            c.1 = c.1.saturating_add(u64::from(touched));
        };
        if start < self.from {
            if !self.others.iter().any(|&(a, b)| a <= start && start < b) {
                count(&mut self.before);
            }
            return;
        }
        if start < self.to {
            count(&mut self.during);
        }
        let nanos = start.as_nanos();
        if self.horizon.is_some_and(|h| nanos >= h) || nanos > u64::MAX >> 1 {
            return;
        }
        self.samples.push(nanos << 1 | u64::from(touched));
        if self.samples.len() >= MAX_SAMPLES {
            self.samples.sort_unstable();
            let keep = MAX_SAMPLES / 2;
            let cut = self.samples[keep] >> 1;
            // Everything from the first dropped start on goes, ties included.
            self.samples.retain(|&x| x >> 1 < cut);
            self.horizon = Some(cut);
        }
    }

    /// The figures, from what was folded; `detected` is when the router detected the fault
    /// (a failover cannot start before it).
    pub fn figures(&self, detected: Option<Instant>) -> Figures {
        let mut samples = self.samples.clone();
        samples.sort_unstable();
        let limit = |t: Instant| {
            let t = t.min(self.end_of_arrivals).as_nanos();
            self.horizon.map_or(t, |h| t.min(h))
        };
        let span = |a: u64, b: u64| Duration::from_nanos(b.saturating_sub(a) / 2);
        let hold = HOLD.min(span(self.from.as_nanos(), limit(self.to)));
        let share_before = (self.before.0 > 0).then(|| self.before.1 as f64 / self.before.0 as f64);
        // Failover: the first request that avoided the provider from which on, for the hold,
        // under THRESHOLD of new requests touched it. A provider already under THRESHOLD
        // before the fault has nothing to fail over from: any window would pass at once.
        let low_before = share_before.is_some_and(|b| b < THRESHOLD);
        let never_over = low_before && (self.during.1 as f64) < THRESHOLD * self.during.0 as f64;
        // Not exercised: the provider got no request during the fault (or never carried
        // enough to fail over from). Nothing failed over, and nothing can fail back.
        let exercised = self.during.1 > 0 && !never_over;
        // The window may not start before the router reacted to the fault.
        let search_from = detected.map_or(self.from, |d| d.max(self.from));
        let over = (exercised && !low_before)
            .then(|| {
                first_window(
                    &samples,
                    search_from.as_nanos(),
                    limit(self.to),
                    hold,
                    |touched| !touched,
                    |mine, all| (mine as f64) < THRESHOLD * all as f64,
                )
            })
            .flatten()
            .map(|t| t - self.from.as_nanos());
        // Failback: the first request on the provider from which on, for the hold, it got
        // FAILBACK_SHARE of its share before the fault. Only after a failover: traffic that
        // never left cannot come back.
        let back_limit = limit(self.end_of_arrivals);
        let back_hold = HOLD.min(span(self.to.as_nanos(), back_limit));
        let back = share_before
            .filter(|b| *b > 0.0 && over.is_some())
            .and_then(|base| {
                first_window(
                    &samples,
                    self.to.as_nanos(),
                    back_limit,
                    back_hold,
                    |touched| touched,
                    |mine, all| mine as f64 >= FAILBACK_SHARE * base * all as f64,
                )
                .map(|t| t - self.to.as_nanos())
            });
        let secs = |n: u64| Duration::from_nanos(n).as_secs_f64();
        Figures {
            time_to_failover: over.map(secs),
            time_to_failback: back.map(secs),
            hold,
            failback_hold: back_hold,
            requests: self.during.0,
            provider_requests: self.during.1,
            share_before,
            exercised,
            horizon: self
                .horizon
                .map(|h| Instant::ZERO + Duration::from_nanos(h)),
        }
    }
}

/// The start of the first sample in `[from, limit)` that satisfies `candidate` and whose window
/// `[start, start + hold)`, which must end by `limit`, satisfies `holds(touched, all)`.
/// `samples` is sorted.
fn first_window(
    samples: &[u64],
    from: u64,
    limit: u64,
    hold: Duration,
    candidate: impl Fn(bool) -> bool,
    holds: impl Fn(u64, u64) -> bool,
) -> Option<u64> {
    let hold = hold.as_nanos();
    if hold == 0 {
        return None;
    }
    let first = samples.partition_point(|&x| x >> 1 < from);
    // Requests that touched the provider among samples[..i].
    let mut touched_before = vec![0u64; samples.len() + 1];
    for (i, &x) in samples.iter().enumerate() {
        touched_before[i + 1] = touched_before[i] + (x & 1);
    }
    for i in first..samples.len() {
        let start = samples[i] >> 1;
        let window_end = start.checked_add(hold)?;
        if window_end > limit {
            return None;
        }
        if !candidate(samples[i] & 1 == 1) {
            continue;
        }
        // The window holds every request that started in `[start, window_end)`: those that
        // started at the same instant as this one are all in it, whichever way they sort
        // (a touched sample sorts after an avoiding one at the same start).
        let lo = samples.partition_point(|&x| x >> 1 < start);
        let end = samples.partition_point(|&x| x >> 1 < window_end);
        let all = (end - lo) as u64;
        let mine = touched_before[end] - touched_before[lo];
        if holds(mine, all) {
            return Some(start);
        }
    }
    None
}

/// Every named fault's fold, in the scenario's order.
#[derive(Clone, Debug)]
pub struct Folds {
    pub faults: Vec<FaultFold>,
    /// Per fault, per route index: the route can reach the fault's provider.
    reaches: Vec<Vec<bool>>,
}

impl Folds {
    pub fn new(s: &ScenarioParams) -> Self {
        let p = &s.router;
        let end = Instant::ZERO + s.duration;
        let (faults, reaches) = s
            .faults
            .iter()
            .map(|f| {
                let on_provider: Vec<bool> = p
                    .targets
                    .iter()
                    .map(|t| p.providers.name(t.provider.index() as u32) == f.provider)
                    .collect();
                let reaches = reaching_routes(p, &on_provider);
                let mut fold = FaultFold::new(on_provider, f.from, f.to, end);
                fold.others = s
                    .faults
                    .iter()
                    .filter(|o| !std::ptr::eq(*o, f))
                    .map(|o| (o.from, o.to))
                    .collect();
                (fold, reaches)
            })
            .unzip();
        Folds { faults, reaches }
    }

    /// Folds one finished request, started at `start` on `route` (its home route; `None`
    /// for an unknown one).
    pub fn add(&mut self, start: Instant, route: Option<RouteId>, attempts: &[AttemptRecord]) {
        for (f, reaches) in self.faults.iter_mut().zip(&self.reaches) {
            let reaches = route.is_some_and(|r| reaches.get(r.index()).copied() == Some(true));
            f.add(start, reaches, attempts);
        }
    }

    /// Request starts held, over every fault (each fault's at most [`MAX_SAMPLES`]).
    pub fn kept(&self) -> usize {
        self.faults.iter().map(|f| f.samples.len()).sum()
    }
}

/// Per route: whether a request on it can reach one of the targets marked in `on_provider`,
/// on the route itself or on a fallback route after it (followed at most once per route, so
/// a cycle cannot loop).
fn reaching_routes(p: &switchyard_core::router::RouterParams, on_provider: &[bool]) -> Vec<bool> {
    let has = |r: &switchyard_core::router::RouteParams| {
        r.members
            .iter()
            .any(|t| on_provider.get(t.index()).copied() == Some(true))
    };
    (0..p.routes.len())
        .map(|start| {
            let mut at = Some(start);
            for _ in 0..p.routes.len() {
                let Some(route) = at.and_then(|i| p.routes.get(i)) else {
                    return false;
                };
                if has(route) {
                    return true;
                }
                at = route.fallback.map(|f| f.index());
            }
            false
        })
        .collect()
}

#[cfg(test)]
mod tests;
