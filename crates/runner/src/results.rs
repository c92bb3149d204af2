//! Results: every finished request folded into fixed-size `ScopeStats`, one per scope
//! (overall, per route, per class, per phase and their crossings), then turned into the
//! report.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_core::outcome::{ErrorKind, FinalOutcome};
use switchyard_core::telemetry::{FAILURE_REASONS, LatencyHistogram, failure_label};
use switchyard_core::time::{Duration, Instant};
use switchyard_sim::{Finished, Observer};

use crate::scenario::ScenarioParams;

/// Counts and histograms for one scope (all requests, a route, a class, a phase, or a
/// route or class within a phase).
#[derive(Clone, Debug, Default)]
pub struct ScopeStats {
    pub requests: u64,
    pub succeeded: u64,
    pub failures: Vec<u64>,
    pub latency: LatencyHistogram,
    pub ttft: LatencyHistogram,
    /// Served streams: every gap between two consecutive content chunks.
    pub inter_token: LatencyHistogram,
    /// Served streams of two tokens or more: (latency − TTFT) / (output tokens − 1).
    pub time_per_output_token: LatencyHistogram,
    pub attempts: u64,
    pub attempts_by_target: Vec<u64>,
    pub served_by_target: Vec<u64>,
    pub cost: f64,
    pub wasted_cost: f64,
    /// Streams broken after their first token that a continuation completed.
    pub resumed: u64,
    /// Streams broken after their first token on a route that resumes, not completed.
    pub resume_failed: u64,
}

impl ScopeStats {
    fn new(targets: usize) -> Self {
        ScopeStats {
            failures: vec![0; FAILURE_REASONS],
            attempts_by_target: vec![0; targets],
            served_by_target: vec![0; targets],
            ..ScopeStats::default()
        }
    }

    fn add(&mut self, r: &Finished<'_>) {
        self.requests += 1;
        self.latency.record(r.end.saturating_since(r.start));
        match r.outcome {
            FinalOutcome::Served(t) => {
                self.succeeded += 1;
                self.served_by_target[t.index()] += 1;
                if let Some(ft) = r.first_token {
                    self.ttft.record(ft);
                }
                if r.stream {
                    for &(gap, n) in r.gaps {
                        self.inter_token.record_n(gap, u64::from(n));
                    }
                    if let (Some(ft), Some(gaps)) = (r.first_token, r.output_tokens.checked_sub(1))
                        && gaps > 0
                    {
                        let generating = r
                            .end
                            .saturating_since(r.start)
                            .as_nanos()
                            .saturating_sub(ft.as_nanos());
                        self.time_per_output_token
                            .record(Duration::from_nanos(generating / u64::from(gaps)));
                    }
                }
            }
            FinalOutcome::Failed(reason) => {
                self.failures[switchyard_core::telemetry::failure_index(reason)] += 1
            }
        }
        for a in r.attempts {
            self.attempts += 1;
            self.attempts_by_target[a.target.index()] += 1;
        }
        self.cost += r.cost;
        self.wasted_cost += r.wasted_cost;
        match r.resumed {
            Some(true) => self.resumed += 1,
            Some(false) => self.resume_failed += 1,
            None => {}
        }
    }

    pub fn failed(&self) -> u64 {
        self.requests - self.succeeded
    }

    pub fn success_rate(&self) -> f64 {
        success_rate(self.succeeded, self.requests)
    }
}

/// The share of `requests` that `succeeded`, exact; 1 for none.
pub fn success_rate(succeeded: u64, requests: u64) -> f64 {
    if requests == 0 {
        1.0
    } else {
        succeeded as f64 / requests as f64
    }
}

/// Collects finished requests into one `ScopeStats` per scope, indexed densely: group × phase slot.
#[derive(Debug)]
pub struct Collector {
    /// Groups: 0 = all, then one per route, one for unrouted, then one per class.
    routes: usize,
    /// Latency and time to first token over time: [`TIMELINE_POINTS`] windows across the run.
    pub timeline: Vec<(LatencyHistogram, LatencyHistogram)>,
    pub timeline_width: switchyard_core::time::Duration,
    phases: Vec<(Instant, Instant)>,
    scopes: Vec<ScopeStats>,
    pub issued: u64,
    /// Per named fault: what its failover figures need.
    pub failover: crate::failover::Folds,
    /// The router's events, tallied as they happen (detections, breaker openings, alerts).
    pub tally: crate::tally::Tally,
}

impl Collector {
    pub fn new(s: &ScenarioParams) -> Self {
        let routes = s.router.routes.len();
        let groups = 1 + routes + 1 + s.traffic.classes.len();
        let phases: Vec<(Instant, Instant)> = s.phases.iter().map(|p| (p.from, p.to)).collect();
        let targets = s.router.targets.len();
        let width = switchyard_core::time::Duration::from_nanos(
            (s.duration.as_nanos() / TIMELINE_POINTS as u64).max(1_000_000_000),
        );
        Collector {
            routes,
            timeline: vec![Default::default(); TIMELINE_POINTS],
            timeline_width: width,
            scopes: vec![ScopeStats::new(targets); groups * (phases.len() + 1)],
            phases,
            issued: 0,
            failover: crate::failover::Folds::new(s),
            tally: crate::tally::Tally::new(s),
        }
    }

    /// The items it holds: its scopes, its timeline's windows and the request starts its
    /// failover folds keep. Fixed by the scenario, not by the requests folded in (the folds
    /// keep starts from a fault's start on, up to their cap).
    pub fn retained_items(&self) -> usize {
        self.scopes.len() + self.timeline.len() + self.failover.kept()
    }

    fn index(&self, group: usize, slot: usize) -> usize {
        group * (self.phases.len() + 1) + slot
    }

    /// The stats of a scope: route or class (or neither), phase (or none).
    pub fn scope(
        &self,
        route: Option<usize>,
        class: Option<usize>,
        phase: Option<usize>,
    ) -> &ScopeStats {
        let group = match (route, class) {
            (Some(r), _) => 1 + r,
            (None, Some(c)) => 2 + self.routes + c,
            (None, None) => 0,
        };
        &self.scopes[self.index(group, phase.map_or(0, |p| p + 1))]
    }
}

/// Windows of the latency timeline.
pub const TIMELINE_POINTS: usize = 60;

impl Observer for Collector {
    fn finished(&mut self, r: &Finished<'_>) {
        self.issued += 1;
        self.failover.add(r.start, r.route, r.attempts);
        let w = ((r.start.as_nanos() / self.timeline_width.as_nanos().max(1)) as usize)
            .min(TIMELINE_POINTS - 1);
        let (latency, ttft) = &mut self.timeline[w];
        latency.record(r.end.saturating_since(r.start));
        if let (FinalOutcome::Served(_), Some(ft)) = (r.outcome, r.first_token) {
            ttft.record(ft);
        }
        let route_group = 1 + r.route.map_or(self.routes, |id| id.index());
        let class_group = 2 + self.routes + r.class;
        let per_phase = self.phases.len() + 1;
        for group in [0, route_group, class_group] {
            self.scopes[group * per_phase].add(r);
            for (p, &(from, to)) in self.phases.iter().enumerate() {
                if r.start >= from && r.start < to {
                    self.scopes[group * per_phase + p + 1].add(r);
                }
            }
        }
    }

    fn event(&mut self, e: &switchyard_core::telemetry::Event) {
        self.tally.event(e);
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
    /// How many values the percentiles are of. 0: nothing was observed (a class that never
    /// streams has no time to first token, a target that never answered no latency), and
    /// the figures read 0; the rendered tables show "—" then. Not required by the schema: a
    /// report written before it came reads as one without it.
    #[serde(default)]
    pub samples: u64,
}

impl Percentiles {
    pub fn of(h: &LatencyHistogram) -> Self {
        let ms = |d: switchyard_core::time::Duration| round3(d.as_secs_f64() * 1e3);
        Percentiles {
            p50: ms(h.quantile(0.5)),
            p90: ms(h.quantile(0.9)),
            p99: ms(h.quantile(0.99)),
            p999: ms(h.quantile(0.999)),
            max: if h.count() == 0 { 0.0 } else { ms(h.max()) },
            mean: if h.count() == 0 { 0.0 } else { ms(h.mean()) },
            samples: h.count(),
        }
    }
}

/// Rounds to 3 decimals, so reports do not carry float noise.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A bucket as the report shows it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BucketReport {
    pub requests: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub success_rate: f64,
    /// Failed requests by final reason.
    pub failures: BTreeMap<&'static str, u64>,
    pub latency_ms: Percentiles,
    pub ttft_ms: Percentiles,
    /// Served streams: the gaps between consecutive content chunks the caller received.
    pub inter_token_ms: Percentiles,
    /// Served streams of two tokens or more: (latency − TTFT) / (output tokens − 1).
    pub time_per_output_token_ms: Percentiles,
    pub attempts_per_request: f64,
    /// Successful requests per second of the scope.
    pub goodput_per_sec: f64,
    pub cost_usd: f64,
    pub wasted_cost_usd: f64,
    /// Requests served, by target.
    pub served_by: BTreeMap<String, u64>,
    /// Attempts, by target.
    pub attempts_by_target: BTreeMap<String, u64>,
    /// Streams broken after their first token that a continuation on another target
    /// completed (routes with `resume: prefill`; left out when zero).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resumed: u64,
    /// Streams broken after their first token on a route that resumes, that no continuation
    /// completed: they failed with the break's error (left out when zero).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resume_failed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl BucketReport {
    /// `span_secs`: how long the scope lasted, for goodput.
    pub fn of(b: &ScopeStats, target_names: &[String], span_secs: f64) -> Self {
        let by_target = |v: &[u64]| -> BTreeMap<String, u64> {
            v.iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (target_names[i].clone(), *n))
                .collect()
        };
        BucketReport {
            requests: b.requests,
            succeeded: b.succeeded,
            failed: b.failed(),
            success_rate: round6(b.success_rate()),
            failures: b
                .failures
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (failure_label(i), *n))
                .collect(),
            latency_ms: Percentiles::of(&b.latency),
            ttft_ms: Percentiles::of(&b.ttft),
            inter_token_ms: Percentiles::of(&b.inter_token),
            time_per_output_token_ms: Percentiles::of(&b.time_per_output_token),
            attempts_per_request: if b.requests == 0 {
                0.0
            } else {
                round6(b.attempts as f64 / b.requests as f64)
            },
            goodput_per_sec: if span_secs > 0.0 {
                round6(b.succeeded as f64 / span_secs)
            } else {
                0.0
            },
            cost_usd: round6(b.cost),
            wasted_cost_usd: round6(b.wasted_cost),
            served_by: by_target(&b.served_by_target),
            attempts_by_target: by_target(&b.attempts_by_target),
            resumed: b.resumed,
            resume_failed: b.resume_failed,
        }
    }
}

/// One target over the whole run, from the router's telemetry.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct TargetReport {
    pub name: String,
    pub provider: String,
    pub model: String,
    pub attempts: u64,
    pub successes: u64,
    pub errors: BTreeMap<&'static str, u64>,
    pub cancelled: u64,
    pub hedges: u64,
    /// Share of the finished attempts that did not fail with an error kind that counts against
    /// availability; `null` when the target finished none (nothing to be available for).
    pub availability: Option<f64>,
    /// The availability objective, when the target has one.
    pub sla: Option<f64>,
    /// Share of the error budget (1 - sla) spent: above 1 means the objective was missed;
    /// `null` without an sla, or when the target finished no attempt.
    pub error_budget_spent: Option<f64>,
    pub latency_ms: Percentiles,
    pub ttft_ms: Percentiles,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Attempts whose tokens (in the two counts above) are estimates: replies that carried no
    /// usage, and attempts sent and given up without usage (their caller left, a hedge that
    /// lost, still out when the request finished, timed out): each booked the request's
    /// estimated prompt.
    pub usage_missing: u64,
    pub cost_success_usd: f64,
    pub cost_failed_usd: f64,
    /// Share of all attempts of the run.
    pub share: f64,
    /// `availability` and `error_budget_spent` unrounded, for the tables to round once:
    /// rounding the six-decimal figures again can be off by one in the last digit shown.
    #[serde(skip)]
    pub exact: ExactFigures,
}

/// A figure's unrounded values, for display only (not in `report.json`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExactFigures {
    pub availability: Option<f64>,
    pub error_budget_spent: Option<f64>,
}

impl TargetReport {
    /// Attempts that finished with an answer or an error: what availability is of (one
    /// cancelled on its way is neither).
    pub fn finished(&self) -> u64 {
        self.errors
            .values()
            .fold(self.successes, |n, e| n.saturating_add(*e))
    }
}

pub fn target_reports(
    params: &switchyard_core::router::RouterParams,
    tel: &switchyard_core::telemetry::Telemetry,
) -> Vec<TargetReport> {
    let total: u64 = tel.targets.iter().map(|t| t.attempts).sum();
    params
        .targets
        .iter()
        .zip(&tel.targets)
        .enumerate()
        .map(|(i, (t, s))| {
            let availability = tel.availability(switchyard_core::id::TargetId::new(i as u32));
            let budget_spent = t
                .sla
                .zip(availability)
                .map(|(sla, a)| (1.0 - a) / (1.0 - sla));
            TargetReport {
                name: t.name.clone(),
                provider: params.providers.name(t.provider.index() as u32).to_owned(),
                model: t.model.clone(),
                attempts: s.attempts,
                successes: s.successes,
                errors: ErrorKind::ALL
                    .iter()
                    .filter(|k| s.errors[k.index()] > 0)
                    .map(|k| (k.label(), s.errors[k.index()]))
                    .collect(),
                cancelled: s.cancelled,
                hedges: s.hedges,
                availability: availability.map(round6),
                sla: t.sla,
                error_budget_spent: budget_spent.map(round6),
                latency_ms: Percentiles::of(&s.latency),
                ttft_ms: Percentiles::of(&s.first_token),
                prompt_tokens: s.prompt_tokens,
                completion_tokens: s.completion_tokens,
                usage_missing: s.usage_missing,
                cost_success_usd: round6(s.cost_success),
                cost_failed_usd: round6(s.cost_failed),
                share: if total == 0 {
                    0.0
                } else {
                    round6(s.attempts as f64 / total as f64)
                },
                exact: ExactFigures {
                    availability,
                    error_budget_spent: budget_spent,
                },
            }
        })
        .collect()
}
