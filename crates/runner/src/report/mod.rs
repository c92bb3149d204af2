//! `report.json`: the full result of a run, the contract for tools. Deterministic for a
//! scenario and seed in simulation, except its `wall` section.

//!
//! The modules: `scopes` (the figures by run, route, class, phase and provider), `faults`
//! (each fault's failover figures), `events`, `series` (per target, and the latency
//! timeline), `observe` (the expectations judged) and `summary` (the terminal's lines).

mod events;
mod faults;
pub mod fleet;
mod observe;
mod scopes;
mod series;
mod summary;

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_core::router::Router;
use switchyard_core::time::Instant;

use crate::expect::Metric;
use crate::results::{BucketReport, Collector, TargetReport, round3, target_reports};
use crate::scenario::ScenarioParams;

pub use faults::BLACK_BOX_LINE;
pub use summary::{summary, without_wall};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub schema_version: u32,
    pub scenario: String,
    pub description: String,
    pub mode: &'static str,
    pub seed: u64,
    pub duration_secs: f64,
    /// Every expectation held, and the baseline gate (when one was asked for) found no
    /// regression.
    pub passed: bool,
    pub expectations: Vec<ExpectationResult>,
    /// The baseline gate's verdicts, when the run was compared with a baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineReport>,
    pub totals: BucketReport,
    pub routes: BTreeMap<String, BucketReport>,
    pub classes: BTreeMap<String, BucketReport>,
    pub phases: Vec<PhaseReport>,
    pub targets: Vec<TargetReport>,
    pub providers: Vec<ProviderReport>,
    pub failover: Vec<FailoverReport>,
    pub events: Vec<EventReport>,
    pub series: SeriesReport,
    pub timeline: TimelineReport,
    /// Live mode: each fake provider's own counters at the end (what reached it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fake_counters: BTreeMap<String, serde_json::Value>,
    /// A fleet's figures (`replicas:` scenarios only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<fleet::FleetReport>,
    /// A black-box run (`gateway: URL`, live): which figures come from where, and which
    /// were not observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub black_box: Option<BlackBoxReport>,
    /// Wall-clock facts: the only part that differs between identical runs.
    pub wall: Wall,
}

/// The baseline gate: what the run was compared with and each figure's verdict.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BaselineReport {
    /// The baseline file.
    pub compared_with: String,
    /// The baseline's mode and seed (`sim` and the scenario's seed for a baseline that does
    /// not record them).
    pub mode: String,
    pub seed: u64,
    /// The relative tolerance the figures were judged with.
    pub tolerance: f64,
    /// No figure regressed.
    pub passed: bool,
    pub figures: Vec<BaselineFigure>,
}

/// One figure the baseline gate checked.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BaselineFigure {
    pub name: String,
    /// The baseline's value (`null`: the baseline lacks it, or records it did not happen).
    pub baseline: Option<f64>,
    /// This run's value (`null`: it did not happen).
    pub observed: Option<f64>,
    /// The worst value that still passes (a floor for the success rate, a ceiling otherwise).
    pub limit: Option<f64>,
    pub passed: bool,
    /// Why it failed; empty when it passed.
    pub message: String,
}

impl Report {
    /// Records the baseline gate's verdicts; a regression fails the report.
    pub fn apply_baseline(&mut self, gate: BaselineReport) {
        self.passed = self.passed && gate.passed;
        self.baseline = Some(gate);
    }
}

/// What a black-box run could see (docs/BLACKBOX.md). The gateway under test decided each
/// request; the runner saw only its replies and what each fake received.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BlackBoxReport {
    /// Figures from the client's view: what the runner's requests got back.
    pub client_view: Vec<&'static str>,
    /// Figures from the fakes' counters, read every `poll_secs` on the runner's clock.
    pub fakes_view: Vec<&'static str>,
    pub poll_secs: f64,
    /// Figures the runner cannot see through the gateway: left out of the report (`targets`,
    /// `providers`, `series`, `served_by` and `attempts_by_target` are empty) or 0, and an
    /// expectation on them fails as not observed.
    pub not_observed: Vec<&'static str>,
}

impl BlackBoxReport {
    pub(crate) fn new() -> Self {
        BlackBoxReport {
            client_view: vec![
                "requests, success rate and failures (from the HTTP statuses and bodies)",
                "latency and time to first token (first content chunk received)",
                "inter-token latency and time per output token",
                "tokens and cost (the reply's usage at the price of the target its model names)",
            ],
            fakes_view: vec![
                "fake_counters (what reached each provider)",
                "failover: requests and provider_requests per fault, time_to_failover and \
                 time_to_failback (to within one poll)",
            ],
            poll_secs: 0.1,
            not_observed: vec![
                "which target served a request (served_by, served_share)",
                "attempts (attempts_per_request, attempts_by_target, share)",
                "per-target and per-provider figures (targets, providers, series, \
                 availability, error_budget_spent, cost by provider)",
                "wasted_cost (what failed attempts cost)",
                "breakers, parking and alerts (events, breaker_opens, alerts, time_to_alert, \
                 time_to_detect)",
                "resumed and resume_failed streams, budget_exhausted",
            ],
        }
    }
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct PhaseReport {
    pub name: String,
    pub from_secs: f64,
    pub to_secs: f64,
    #[serde(flatten)]
    pub figures: BucketReport,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ProviderReport {
    pub name: String,
    pub attempts: u64,
    pub successes: u64,
    pub errors: u64,
    /// As a target's, over the provider's targets; `null` when they finished no attempt.
    pub availability: Option<f64>,
    pub cost_usd: f64,
    pub wasted_cost_usd: f64,
    /// `availability` unrounded, for the tables to round once (not in `report.json`).
    #[serde(skip)]
    pub exact_availability: Option<f64>,
}

/// A fault's failover figures, exact to the request (defined in `docs/FAILOVER.md`). `null`
/// means it did not happen ("never").
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct FailoverReport {
    pub fault: String,
    pub provider: String,
    pub from_secs: f64,
    pub to_secs: f64,
    /// From the fault's start to the first breaker opening (or parking) of one of the
    /// provider's targets, before the fault's end plus 1 s.
    pub time_to_detect_secs: Option<f64>,
    /// From the fault's start to the start of the first request, at or after the fault's
    /// detection, that avoided the provider from which on, for the hold, under 5 % of the
    /// new requests that could reach it had an attempt on it (`null` too when the fault was
    /// not exercised).
    pub time_to_failover_secs: Option<f64>,
    /// From the fault's end to the start of the first request on the provider from which on,
    /// for the hold, it got at least 90 % of its share of requests before the fault (`null`
    /// when it never failed over, or the fault was not exercised).
    pub time_to_failback_secs: Option<f64>,
    /// The hold the failover was judged with: 5 s, or half the fault when it is shorter.
    pub hold_secs: f64,
    /// The hold the failback was judged with: 5 s, or half the rest of the run when it is
    /// shorter.
    pub failback_hold_secs: f64,
    /// Whether the fault was tested at all.
    pub exercised: Exercised,
}

/// Did the run test the fault: did its provider get traffic during it, did it fail over.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Exercised {
    /// The provider got at least one request during the fault.
    pub exercised: bool,
    /// Requests started during the fault that could reach the provider (those that made an
    /// attempt on a route that has one of its targets, or a fallback route that has).
    pub requests: u64,
    /// Of those, requests with an attempt on the fault's provider.
    pub provider_requests: u64,
    /// The failover happened (`time_to_failover_secs` is set).
    pub failed_over: bool,
    /// The figures cover requests started before this time only (a very long run hit the
    /// cap on what is kept per fault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_secs: Option<f64>,
    /// The same, as a sentence for the report's readers.
    pub line: String,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct EventReport {
    pub at_secs: f64,
    pub kind: &'static str,
    pub detail: String,
    /// Breaker events: the target and the state it entered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SeriesReport {
    pub width_secs: u64,
    /// Per target: attempts, successes, errors per point.
    pub targets: BTreeMap<String, TargetSeries>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct TargetSeries {
    pub attempts: Vec<u64>,
    pub successes: Vec<u64>,
    pub errors: Vec<u64>,
    pub cost_usd: Vec<f64>,
    /// Availability per point (the configured error kinds count against it); null when idle.
    pub availability: Vec<Option<f64>>,
    /// Errors per point, by kind (kinds that occurred).
    pub errors_by_kind: BTreeMap<&'static str, Vec<u64>>,
}

/// Latency and time to first token over the run, in fixed windows.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct TimelineReport {
    pub width_secs: f64,
    pub requests: Vec<u64>,
    pub p50_ms: Vec<f64>,
    pub p99_ms: Vec<f64>,
    pub ttft_p50_ms: Vec<f64>,
    pub ttft_p99_ms: Vec<f64>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ExpectationResult {
    pub name: String,
    pub metric: Metric,
    pub op: &'static str,
    pub expected: f64,
    /// `None` when the run never showed the metric (a failover that never happened, a rate
    /// over a scope without requests); such an expectation fails.
    pub observed: Option<f64>,
    /// Why the metric was not observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub passed: bool,
}

#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Wall {
    pub elapsed_secs: f64,
    pub requests_per_sec: f64,
    pub events: u64,
}

fn secs(i: Instant) -> f64 {
    round3(i.since_start().as_secs_f64())
}

/// Builds the report and checks the expectations.
#[expect(
    clippy::too_many_arguments,
    reason = "one report from every part of a run; each named at its two calls"
)]
pub fn build(
    s: &ScenarioParams,
    mode: &'static str,
    seed: u64,
    collector: &Collector,
    router: &Router,
    key_events: &[switchyard_sim::KeyEvent],
    fleet: Option<&switchyard_sim::FleetFigures>,
    wall: Wall,
) -> Report {
    build_merged(
        s, mode, seed, collector, router, None, key_events, fleet, wall,
    )
}

/// [`build`] with a fleet's telemetry: `telemetry` is every replica's merged
/// ([`switchyard_core::telemetry::Telemetry::merge`]), read for the targets, providers,
/// events and series sections instead of `router`'s own (`router` names the targets and
/// routes). `None`: the router's own.
#[expect(
    clippy::too_many_arguments,
    reason = "one report from every part of a run; each named at its calls"
)]
pub fn build_merged(
    s: &ScenarioParams,
    mode: &'static str,
    seed: u64,
    collector: &Collector,
    router: &Router,
    telemetry: Option<&switchyard_core::telemetry::Telemetry>,
    key_events: &[switchyard_sim::KeyEvent],
    fleet: Option<&switchyard_sim::FleetFigures>,
    wall: Wall,
) -> Report {
    let tel = telemetry.unwrap_or_else(|| router.telemetry());
    let fleet = fleet.map(fleet::fleet);
    let names: Vec<String> = router
        .params()
        .targets
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let mut scopes = scopes::Scopes::of(s, collector, router, &names);
    let mut targets = target_reports(router.params(), tel);
    let mut providers = scopes::providers(router.params(), tel, &targets);
    // Through another gateway, the runner sees neither the attempts nor the router's events
    // (its own router never ran): those figures are not observed (docs/BLACKBOX.md), never
    // guessed; the failover figures come from the fakes' counters.
    let black_box =
        mode == "live" && matches!(s.gateway, crate::scenario::GatewayMode::External(_));
    let failover = faults::failover(s, collector, black_box);
    let events = events::events(router.params(), tel, key_events);
    let mut series = series::series(router.params(), tel);
    let expectations = observe::Seen {
        s,
        collector,
        router,
        targets: &targets,
        failover: &failover,
        fleet: fleet.as_ref(),
        black_box,
    }
    .expectations();
    if black_box {
        targets.clear();
        providers.clear();
        series.targets.clear();
        scopes.not_observed_through_a_black_box();
    }
    Report {
        schema_version: SCHEMA_VERSION,
        scenario: s.name.clone(),
        description: s.description.clone(),
        mode,
        seed,
        duration_secs: s.duration.as_secs_f64(),
        passed: expectations.iter().all(|e| e.passed),
        expectations,
        baseline: None,
        totals: scopes.totals,
        routes: scopes.routes,
        classes: scopes.classes,
        phases: scopes.phases,
        targets,
        providers,
        failover,
        events,
        series,
        fake_counters: BTreeMap::new(),
        black_box: black_box.then(BlackBoxReport::new),
        timeline: series::timeline(collector),
        fleet,
        wall,
    }
}
