//! `report.json`: the full result of a run, the contract for tools. Deterministic for a
//! scenario and seed in simulation, except its `wall` section.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_core::health::BreakerState;
use switchyard_core::overrides::{Override, Scope};
use switchyard_core::router::Router;
use switchyard_core::telemetry::EventKind;
use switchyard_core::time::{Duration, Instant};

use crate::expect::{ExpectationParams, Metric};
use crate::results::{BucketReport, Collector, TargetReport, round3, round6, target_reports};
use crate::scenario::ScenarioParams;

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
    pub availability: f64,
    pub cost_usd: f64,
    pub wasted_cost_usd: f64,
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
    /// From the fault's start to the start of the first request that avoided the provider
    /// from which on, for the hold, under 5 % of new requests had an attempt on it (`null`
    /// too when the provider got no requests during the fault).
    pub time_to_failover_secs: Option<f64>,
    /// From the fault's end to the start of the first request on the provider from which on,
    /// for the hold, it got at least 90 % of its share of requests before the fault.
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
    /// Requests started during the fault (those that made an attempt).
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

fn describe(router: &Router, kind: &EventKind) -> String {
    let p = router.params();
    let t = |id: switchyard_core::id::TargetId| p.target(id).name.clone();
    let r = |id: switchyard_core::id::RouteId| p.route(id).name.clone();
    match *kind {
        EventKind::Breaker {
            target,
            from,
            to,
            reason,
            mode,
        } => {
            let suffix = if mode == switchyard_core::health::BreakerMode::MetricsOnly {
                " (metrics only)"
            } else {
                ""
            };
            format!(
                "{}: {} -> {} ({}){suffix}",
                t(target),
                from.label(),
                to.label(),
                reason.label()
            )
        }
        EventKind::Parked { target, until } => {
            format!("{} parked until {}s", t(target), secs(until))
        }
        EventKind::BudgetExhausted { route } => format!(
            "retry budget exhausted on {}",
            route.map_or("?".to_owned(), r)
        ),
        EventKind::PanicBypass { route } => {
            format!("{}: every target open, breakers bypassed", r(route))
        }
        EventKind::Alert {
            target,
            raised,
            evidence,
        } => {
            let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
            let baseline = evidence.baseline.map_or("-".to_owned(), ms);
            let peers = evidence.peers.map_or("-".to_owned(), ms);
            let what = if raised {
                "latency alert raised"
            } else {
                "latency alert cleared"
            };
            format!(
                "{}: {what}: recent p95 {}, baseline {baseline}, peers {peers}",
                t(target),
                ms(evidence.recent)
            )
        }
        EventKind::CostCapSpent { target, spent_usd } => format!(
            "{}: cost cap spent (${spent_usd:.2}); no traffic until the next window",
            t(target)
        ),
        EventKind::Override(o) => match o {
            Override::Drain(x) => format!("drain {}", t(x)),
            Override::Pin(route, x) => format!("pin {} to {}", r(route), t(x)),
            Override::Freeze(None) => "freeze all routes".to_owned(),
            Override::Freeze(Some(route)) => format!("freeze {}", r(route)),
            Override::Force(x, mode) => format!("force {} {}", t(x), mode.label()),
            Override::Restore(Scope::All) => "restore all".to_owned(),
            Override::Restore(Scope::Target(x)) => format!("restore {}", t(x)),
            Override::Restore(Scope::Route(route)) => format!("restore {}", r(route)),
        },
    }
}

/// The failover figures of each named fault: detection from the router's events on the
/// fault's provider's targets, the rest from the collector's per-request folds.
fn failover(
    s: &ScenarioParams,
    collector: &Collector,
    router: &Router,
    black_box: bool,
) -> Vec<FailoverReport> {
    let p = router.params();
    let on_provider = |target: switchyard_core::id::TargetId, provider: &str| {
        p.providers.name(p.target(target).provider.index() as u32) == provider
    };
    s.faults
        .iter()
        .zip(&collector.failover.faults)
        .map(|(f, fold)| {
            let until = f.to + crate::failover::DETECT_GRACE;
            let detect = router
                .telemetry()
                .events
                .events()
                .iter()
                .filter(|e| e.at >= f.from && e.at < until)
                .find_map(|e| match e.kind {
                    EventKind::Breaker {
                        target,
                        to: BreakerState::Open { .. },
                        ..
                    }
                    | EventKind::Parked { target, .. }
                        if on_provider(target, &f.provider) =>
                    {
                        Some(e.at.saturating_since(f.from).as_secs_f64())
                    }
                    _ => None,
                });
            let x = fold.figures();
            let exercised = x.provider_requests > 0 && !x.never_over_threshold() && !black_box;
            // A provider that got no requests had nothing to fail over from.
            let over = x.time_to_failover.filter(|_| exercised).map(round3);
            let line = if black_box {
                BLACK_BOX_LINE.to_owned()
            } else {
                exercised_line(&f.provider, &x, over)
            };
            let detect = detect.filter(|_| !black_box);
            let back = x.time_to_failback.filter(|_| !black_box);
            FailoverReport {
                fault: f.name.clone(),
                provider: f.provider.clone(),
                from_secs: secs(f.from),
                to_secs: secs(f.to),
                time_to_detect_secs: detect.map(round3),
                time_to_failover_secs: over,
                time_to_failback_secs: back.map(round3),
                hold_secs: round3(x.hold.as_secs_f64()),
                failback_hold_secs: round3(x.failback_hold.as_secs_f64()),
                exercised: Exercised {
                    exercised,
                    // Not observed through a black box: 0, as the line says.
                    requests: if black_box { 0 } else { x.requests },
                    provider_requests: if black_box { 0 } else { x.provider_requests },
                    failed_over: over.is_some(),
                    horizon_secs: x.horizon.map(secs),
                    line,
                },
            }
        })
        .collect()
}

/// The exercised line of every fault of a black-box run.
pub const BLACK_BOX_LINE: &str = "not observed: the gateway under test is a black box (the \
     runner sees neither which provider each request reached nor the gateway's breaker \
     events); read the fault from the success rate during it and the fakes' counters";

fn exercised_line(provider: &str, x: &crate::failover::Figures, over: Option<f64>) -> String {
    let mut line = if x.requests == 0 {
        "not exercised: no request started during the fault".to_owned()
    } else if x.provider_requests == 0 {
        format!(
            "not exercised: {provider} got none of the {} requests started during the fault",
            x.requests
        )
    } else if let Some(b) = x.share_before.filter(|_| x.never_over_threshold()) {
        format!(
            "not exercised: {provider} had {:.1} % of the requests before the fault and {} of \
             the {} during it, under the {:.0} % failover threshold throughout",
            b * 100.0,
            x.provider_requests,
            x.requests,
            crate::failover::THRESHOLD * 100.0
        )
    } else {
        let outcome = over.map_or("it never failed over".to_owned(), |t| {
            format!("failed over after {t:.3} s")
        });
        format!(
            "exercised: {provider} got {} of the {} requests started during the fault; {outcome}",
            x.provider_requests, x.requests
        )
    };
    if let Some(h) = x.horizon {
        line.push_str(&format!(
            " (figures from requests started before {} s)",
            secs(h)
        ));
    }
    line
}

/// Builds the report and checks the expectations.
pub fn build(
    s: &ScenarioParams,
    mode: &'static str,
    seed: u64,
    collector: &Collector,
    router: &Router,
    key_events: &[switchyard_sim::KeyEvent],
    wall: Wall,
) -> Report {
    let p = router.params();
    let names: Vec<String> = p.targets.iter().map(|t| t.name.clone()).collect();
    let phase_index = |name: &str| s.phases.iter().position(|x| x.name == name);
    let span = s.duration.as_secs_f64();
    let totals = BucketReport::of(collector.bucket(None, None, None), &names, span);
    let routes = p
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                r.name.clone(),
                BucketReport::of(collector.bucket(Some(i), None, None), &names, span),
            )
        })
        .collect();
    let classes = s
        .traffic
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.name.clone(),
                BucketReport::of(collector.bucket(None, Some(i), None), &names, span),
            )
        })
        .collect();
    let phases = s
        .phases
        .iter()
        .enumerate()
        .map(|(i, ph)| PhaseReport {
            name: ph.name.clone(),
            from_secs: secs(ph.from),
            to_secs: secs(ph.to),
            figures: BucketReport::of(
                collector.bucket(None, None, Some(i)),
                &names,
                ph.to.saturating_since(ph.from).as_secs_f64(),
            ),
        })
        .collect();
    let targets = target_reports(router);
    let providers = p
        .providers
        .names()
        .map(|name| {
            let mine: Vec<&TargetReport> = targets.iter().filter(|t| t.provider == name).collect();
            let attempts: u64 = mine.iter().map(|t| t.attempts).sum();
            let successes: u64 = mine.iter().map(|t| t.successes).sum();
            let errors: u64 = mine.iter().map(|t| t.errors.values().sum::<u64>()).sum();
            let health_errors: u64 = p
                .targets
                .iter()
                .zip(&router.telemetry().targets)
                .filter(|(t, _)| p.providers.name(t.provider.index() as u32) == name)
                .map(|(_, st)| {
                    switchyard_core::outcome::ErrorKind::ALL
                        .iter()
                        .filter(|k| k.counts_against_health())
                        .map(|k| st.errors[k.index()])
                        .sum::<u64>()
                })
                .sum();
            ProviderReport {
                name: name.to_owned(),
                attempts,
                successes,
                errors,
                availability: if successes + errors == 0 {
                    1.0
                } else {
                    round6(1.0 - health_errors as f64 / (successes + errors) as f64)
                },
                cost_usd: round6(
                    mine.iter()
                        .map(|t| t.cost_success_usd + t.cost_failed_usd)
                        .sum(),
                ),
                wasted_cost_usd: round6(mine.iter().map(|t| t.cost_failed_usd).sum()),
            }
        })
        .collect();
    // Through another gateway, the runner sees neither the attempts nor the router's events:
    // the failover figures are not observed (docs/BLACKBOX.md), never guessed.
    let black_box =
        mode == "live" && matches!(s.gateway, crate::scenario::GatewayMode::External(_));
    let failover = failover(s, collector, router, black_box);
    let mut events: Vec<EventReport> = router
        .telemetry()
        .events
        .events()
        .iter()
        .map(|e| {
            let (target, state) = match e.kind {
                EventKind::Breaker { target, to, .. } => {
                    (Some(p.target(target).name.clone()), Some(to.label()))
                }
                EventKind::Alert { target, raised, .. } => {
                    let state = if raised { "alert" } else { "alert_cleared" };
                    (Some(p.target(target).name.clone()), Some(state))
                }
                _ => (None, None),
            };
            EventReport {
                at_secs: secs(e.at),
                kind: e.kind.label(),
                detail: describe(router, &e.kind),
                target,
                state,
            }
        })
        .collect();
    events.extend(key_events.iter().map(|k| EventReport {
        at_secs: secs(k.at),
        kind: "credential",
        detail: format!("{}: key `{}` {}", k.provider, k.key, k.what),
        target: None,
        state: None,
    }));
    // Stable: events at the same instant keep their order (router events first).
    events.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
    let tel = router.telemetry();
    let series = SeriesReport {
        width_secs: tel.series_width(),
        targets: p
            .targets
            .iter()
            .zip(&tel.targets)
            .map(|(t, st)| {
                // Series that saw nothing late in the run are shorter; pad them to line up.
                let width = tel.series_width();
                let pts = st.series.aligned(width);
                let len = tel
                    .targets
                    .iter()
                    .map(|x| x.series.aligned(width).len())
                    .max()
                    .unwrap_or(0);
                let get = |f: fn(&switchyard_core::telemetry::TargetPoint) -> u64| {
                    (0..len)
                        .map(|i| pts.get(i).map_or(0, f))
                        .collect::<Vec<u64>>()
                };
                let errors_by_kind = switchyard_core::outcome::ErrorKind::ALL
                    .iter()
                    .filter(|k| st.errors[k.index()] > 0)
                    .map(|k| {
                        let v = (0..len)
                            .map(|i| pts.get(i).map_or(0, |x| u64::from(x.kinds[k.index()])))
                            .collect();
                        (k.label(), v)
                    })
                    .collect();
                (
                    t.name.clone(),
                    TargetSeries {
                        attempts: get(|x| x.attempts),
                        successes: get(|x| x.successes),
                        errors: get(|x| x.errors),
                        cost_usd: (0..len)
                            .map(|i| pts.get(i).map_or(0.0, |x| round6(x.cost)))
                            .collect(),
                        availability: (0..len)
                            .map(|i| {
                                let x = pts.get(i)?;
                                let finished = x.successes + x.errors;
                                let bad: u64 = switchyard_core::outcome::ErrorKind::ALL
                                    .iter()
                                    .filter(|k| tel.availability_kinds[k.index()])
                                    .map(|k| u64::from(x.kinds[k.index()]))
                                    .sum();
                                (finished > 0).then(|| round6(1.0 - bad as f64 / finished as f64))
                            })
                            .collect(),
                        errors_by_kind,
                    },
                )
            })
            .collect(),
    };
    let expectations: Vec<ExpectationResult> = s
        .expectations
        .iter()
        .map(|e| {
            let observed = observe(
                e,
                s,
                collector,
                router,
                &targets,
                &failover,
                &events,
                phase_index(e.phase.as_deref().unwrap_or("")),
            );
            let (observed, reason) = match observed {
                Ok(o) => (Some(o), None),
                Err(why) => (None, Some(why)),
            };
            ExpectationResult {
                name: e.name.clone(),
                metric: e.metric,
                op: e.op.symbol(),
                expected: e.value,
                observed: observed.map(round6),
                reason,
                passed: observed.is_some_and(|o| e.op.holds(o, e.value)),
            }
        })
        .collect();
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
        totals,
        routes,
        classes,
        phases,
        targets,
        providers,
        failover,
        events,
        series,
        fake_counters: BTreeMap::new(),
        timeline: TimelineReport {
            width_secs: collector.timeline_width.as_secs_f64(),
            requests: collector.timeline.iter().map(|(l, _)| l.count()).collect(),
            p50_ms: collector
                .timeline
                .iter()
                .map(|(l, _)| round3(l.quantile(0.5).as_secs_f64() * 1e3))
                .collect(),
            p99_ms: collector
                .timeline
                .iter()
                .map(|(l, _)| round3(l.quantile(0.99).as_secs_f64() * 1e3))
                .collect(),
            ttft_p50_ms: collector
                .timeline
                .iter()
                .map(|(_, t)| round3(t.quantile(0.5).as_secs_f64() * 1e3))
                .collect(),
            ttft_p99_ms: collector
                .timeline
                .iter()
                .map(|(_, t)| round3(t.quantile(0.99).as_secs_f64() * 1e3))
                .collect(),
        },
        wall,
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one lookup over every part of the results"
)]
fn observe(
    e: &ExpectationParams,
    s: &ScenarioParams,
    c: &Collector,
    router: &Router,
    targets: &[TargetReport],
    failover: &[FailoverReport],
    events: &[EventReport],
    phase: Option<usize>,
) -> Result<f64, String> {
    let p = router.params();
    let route = e
        .route
        .as_deref()
        .and_then(|r| p.route_id(r))
        .map(|r| r.index());
    let class = e
        .class
        .as_deref()
        .and_then(|n| s.traffic.classes.iter().position(|x| x.name == n));
    // The scope, for the reasons below: `route chat window:20m-30m`, or `the run`.
    let scope = {
        let parts: Vec<&str> = [&e.route, &e.class, &e.phase]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if parts.is_empty() {
            "the run".to_owned()
        } else {
            parts.join(" ")
        }
    };
    if let Some(x) = phase.and_then(|i| s.phases.get(i))
        && x.from >= x.to
    {
        return Err(format!(
            "{} is empty: it lies outside the run (0s..{})",
            x.name, s.duration
        ));
    }
    let b = c.bucket(route, class, phase);
    let target = e
        .target
        .as_deref()
        .and_then(|t| p.target_id(t))
        .map(|t| t.index());
    let fault = e
        .fault
        .as_deref()
        .and_then(|f| failover.iter().find(|x| x.fault == f));
    let secs = |d: Duration| d.as_secs_f64();
    // Rates and percentiles of nothing are not 1 or 0: they were not observed.
    let nonempty = |n: u64, what: &str| {
        if n == 0 {
            Err(format!("no {what} in {scope}"))
        } else {
            Ok(())
        }
    };
    let the_target = || {
        let i = target.ok_or_else(|| "no target".to_owned())?;
        let t = &targets[i];
        if t.successes + t.errors.values().sum::<u64>() == 0 {
            return Err(format!("{} finished no attempts", t.name));
        }
        Ok(t)
    };
    let never = |what: &str| format!("{what} never happened");
    // A failover figure, or why there is none: a fault its provider saw no traffic in was
    // not tested, which is not the same as a router that never reacted.
    let figure = |get: fn(&FailoverReport) -> Option<f64>, what: &str| {
        let f = fault.ok_or_else(|| "no fault".to_owned())?;
        get(f).ok_or_else(|| {
            if f.exercised.exercised {
                never(what)
            } else {
                format!("fault {} was {}", f.fault, f.exercised.line)
            }
        })
    };
    Ok(match e.metric {
        Metric::Requests => b.requests as f64,
        Metric::Succeeded => b.succeeded as f64,
        Metric::Failed => b.failed() as f64,
        Metric::Resumed => b.resumed as f64,
        Metric::ResumeFailed => b.resume_failed as f64,
        Metric::SuccessRate => {
            nonempty(b.requests, "requests")?;
            b.success_rate()
        }
        Metric::FailureRate => {
            nonempty(b.requests, "requests")?;
            1.0 - b.success_rate()
        }
        Metric::P50Latency | Metric::P90Latency | Metric::P99Latency | Metric::P999Latency => {
            nonempty(b.latency.count(), "requests")?;
            let q = match e.metric {
                Metric::P50Latency => 0.5,
                Metric::P90Latency => 0.9,
                Metric::P99Latency => 0.99,
                _ => 0.999,
            };
            secs(b.latency.quantile(q))
        }
        Metric::P50Ttft | Metric::P99Ttft => {
            nonempty(b.ttft.count(), "first tokens")?;
            let q = if e.metric == Metric::P50Ttft {
                0.5
            } else {
                0.99
            };
            secs(b.ttft.quantile(q))
        }
        Metric::AttemptsPerRequest => {
            nonempty(b.requests, "requests")?;
            b.attempts as f64 / b.requests as f64
        }
        Metric::Cost => match e.provider.as_deref() {
            Some(name) => targets
                .iter()
                .filter(|t| t.provider == name)
                .map(|t| t.cost_success_usd + t.cost_failed_usd)
                .sum(),
            None => b.cost,
        },
        Metric::WastedCost => b.wasted_cost,
        Metric::Share => {
            nonempty(b.attempts, "attempts")?;
            let t = target.ok_or_else(|| "no target".to_owned())?;
            b.attempts_by_target[t] as f64 / b.attempts as f64
        }
        Metric::ServedShare => {
            nonempty(b.succeeded, "successful requests")?;
            let t = target.ok_or_else(|| "no target".to_owned())?;
            b.served_by_target[t] as f64 / b.succeeded as f64
        }
        Metric::Availability => the_target()?.availability,
        Metric::TimeToDetect => figure(|f| f.time_to_detect_secs, "detection of the fault")?,
        Metric::TimeToFailover => figure(|f| f.time_to_failover_secs, "failover")?,
        Metric::TimeToFailback => figure(|f| f.time_to_failback_secs, "failback")?,
        Metric::BreakerOpens => {
            let name = e.target.as_deref();
            events
                .iter()
                .filter(|ev| {
                    ev.kind == "breaker"
                        && ev.detail.contains("-> open")
                        && name.is_none_or(|n| ev.detail.starts_with(&format!("{n}:")))
                })
                .count() as f64
        }
        Metric::Alerts => events
            .iter()
            .filter(|ev| {
                ev.kind == "alert"
                    && ev.state == Some("alert")
                    && e.target
                        .as_deref()
                        .is_none_or(|n| ev.target.as_deref() == Some(n))
            })
            .count() as f64,
        Metric::TimeToAlert => {
            let f = s
                .faults
                .iter()
                .find(|w| Some(w.name.as_str()) == e.fault.as_deref())
                .ok_or_else(|| "no fault".to_owned())?;
            let from = f.from.since_start().as_secs_f64();
            events
                .iter()
                .find_map(|ev| {
                    let on_provider = ev
                        .target
                        .as_deref()
                        .and_then(|t| targets.iter().find(|x| x.name == t))
                        .is_some_and(|t| t.provider == f.provider);
                    (ev.kind == "alert"
                        && ev.state == Some("alert")
                        && on_provider
                        && ev.at_secs >= from)
                        .then_some(ev.at_secs - from)
                })
                .ok_or_else(|| never("an alert on the fault's provider"))?
        }
        Metric::ErrorBudgetSpent => {
            let t = the_target()?;
            t.error_budget_spent
                .ok_or_else(|| format!("{} has no sla", t.name))?
        }
        Metric::BudgetExhausted => {
            b.failures[switchyard_core::telemetry::failure_index(
                switchyard_core::outcome::FailureReason::BudgetExhausted(
                    switchyard_core::outcome::ErrorKind::ServerError,
                ),
            )] as f64
        }
    })
}

/// A short text summary for the terminal.
pub fn summary(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let t = &r.totals;
    let _ = writeln!(
        out,
        "{} ({} mode, seed {}): {} requests, {:.3}% succeeded, p50 {:.0} ms, p99 {:.0} ms, {:.2} attempts/request, ${:.4}",
        r.scenario,
        r.mode,
        r.seed,
        t.requests,
        t.success_rate * 100.0,
        t.latency_ms.p50,
        t.latency_ms.p99,
        t.attempts_per_request,
        t.cost_usd
    );
    let _ = writeln!(
        out,
        "  {:<24} {:>9} {:>9} {:>8} {:>9} {:>9}",
        "target", "attempts", "share", "avail", "p50 ms", "p99 ms"
    );
    for x in &r.targets {
        let _ = writeln!(
            out,
            "  {:<24} {:>9} {:>8.2}% {:>7.2}% {:>9.0} {:>9.0}",
            x.name,
            x.attempts,
            x.share * 100.0,
            x.availability * 100.0,
            x.latency_ms.p50,
            x.latency_ms.p99
        );
    }
    for f in &r.failover {
        let show = |x: Option<f64>| x.map_or("never".to_owned(), |v| format!("{v:.3}s"));
        let _ = writeln!(
            out,
            "  fault {} on {}: detected {}, failed over {}, failed back {}; {}",
            f.fault,
            f.provider,
            show(f.time_to_detect_secs),
            show(f.time_to_failover_secs),
            show(f.time_to_failback_secs),
            f.exercised.line
        );
    }
    for e in &r.expectations {
        let observed = e.observed.map_or_else(
            || format!("not observed: {}", e.reason.as_deref().unwrap_or("")),
            |o| format!("{o}"),
        );
        let _ = writeln!(
            out,
            "  [{}] {}: {} {} {} (observed {observed})",
            if e.passed { "PASS" } else { "FAIL" },
            e.name,
            e.metric_name(),
            e.op,
            e.expected
        );
    }
    out
}

impl ExpectationResult {
    fn metric_name(&self) -> String {
        serde_json::to_value(self.metric)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// `report.json` without its `wall` section, for comparisons of runs.
pub fn without_wall(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(mut v) => {
            if let Some(m) = v.as_object_mut() {
                m.remove("wall");
            }
            v.to_string()
        }
        Err(_) => json.to_owned(),
    }
}
