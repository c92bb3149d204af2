//! Each expectation judged against the run: its metric observed in its scope, or the reason
//! it was not observed (which fails it).

use switchyard_core::outcome::{ErrorKind, FailureReason};
use switchyard_core::router::Router;
use switchyard_core::telemetry::failure_index;
use switchyard_core::time::Duration;

use super::{ExpectationResult, FailoverReport};
use crate::expect::{ExpectationParams, Metric};
use crate::results::{Collector, ScopeStats, TargetReport, round6};
use crate::scenario::ScenarioParams;

/// Every part of the run's results an expectation may look at.
pub(super) struct Seen<'a> {
    pub(super) s: &'a ScenarioParams,
    pub(super) collector: &'a Collector,
    pub(super) router: &'a Router,
    pub(super) targets: &'a [TargetReport],
    pub(super) failover: &'a [FailoverReport],
    pub(super) fleet: Option<&'a super::fleet::FleetReport>,
    /// The run went through another gateway: what only its router knows is not observed.
    pub(super) black_box: bool,
}

impl Seen<'_> {
    /// The scenario's expectations, each judged.
    pub(super) fn expectations(&self) -> Vec<ExpectationResult> {
        self.s
            .expectations
            .iter()
            .map(|e| {
                let phase_name = e.phase.as_deref().unwrap_or("");
                let phase = self.s.phases.iter().position(|x| x.name == phase_name);
                let (observed, reason) = match self.seen(e, phase) {
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
            .collect()
    }

    /// [`Self::observe`], unless the run went through a black box that hides the metric.
    fn seen(&self, e: &ExpectationParams, phase: Option<usize>) -> Result<f64, String> {
        match unseen_through_a_black_box(e).filter(|_| self.black_box) {
            Some(what) => Err(format!(
                "not observed: the gateway under test is a black box, the runner does not see \
                 {what} (docs/BLACKBOX.md)"
            )),
            None => self.observe(e, phase),
        }
    }

    /// The expectation's metric in its scope (`phase` is its phase's index), or why it was
    /// not observed.
    fn observe(&self, e: &ExpectationParams, phase: Option<usize>) -> Result<f64, String> {
        let b = self.scope(e, phase)?;
        let secs = |d: Duration| d.as_secs_f64();
        let nonempty = |n: u64, what: &str| nonempty(e, n, what);
        // A count or a cost of a scope without requests is not 0: nothing was measured.
        if e.metric.counts_requests() {
            nonempty(b.requests, "requests")?;
        }
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
                secs(b.latency.quantile(quantile(e.metric)))
            }
            Metric::P50Ttft | Metric::P99Ttft => {
                nonempty(b.ttft.count(), "first tokens")?;
                secs(b.ttft.quantile(quantile(e.metric)))
            }
            Metric::P50InterToken | Metric::P99InterToken => {
                nonempty(b.inter_token.count(), "served streams")?;
                secs(b.inter_token.quantile(quantile(e.metric)))
            }
            Metric::P50TimePerOutputToken | Metric::P99TimePerOutputToken => {
                nonempty(b.time_per_output_token.count(), "served streams")?;
                secs(b.time_per_output_token.quantile(quantile(e.metric)))
            }
            Metric::AttemptsPerRequest => {
                nonempty(b.requests, "requests")?;
                b.attempts as f64 / b.requests as f64
            }
            Metric::Cost => match e.provider.as_deref() {
                Some(name) => self.provider_cost(name)?,
                None => b.cost,
            },
            Metric::WastedCost => b.wasted_cost,
            Metric::Share => {
                nonempty(b.attempts, "attempts")?;
                b.attempts_by_target[self.target_index(e)?] as f64 / b.attempts as f64
            }
            Metric::ServedShare => {
                nonempty(b.succeeded, "successful requests")?;
                b.served_by_target[self.target_index(e)?] as f64 / b.succeeded as f64
            }
            Metric::Availability => {
                let t = self.the_target(e)?;
                t.availability
                    .ok_or_else(|| format!("{} finished no attempts", t.name))?
            }
            Metric::TimeToDetect => {
                self.figure(e, |f| f.time_to_detect_secs, &self.detection(e))?
            }
            Metric::TimeToFailover => self.figure(e, |f| f.time_to_failover_secs, "failover")?,
            Metric::TimeToFailback => self.figure(e, |f| f.time_to_failback_secs, "failback")?,
            Metric::BreakerOpens => self.breaker_opens(e)?,
            Metric::Alerts => self.alerts(e)?,
            Metric::TimeToAlert => self.time_to_alert(e)?,
            Metric::ErrorBudgetSpent => self.error_budget_spent(e)?,
            Metric::ProviderRateLimited | Metric::ProviderRateLimitedShare => {
                self.provider_rate_limited(e)?
            }
            Metric::FleetStopTime | Metric::Probes => self.fleet_target(e)?,
            Metric::ReplicaShareMax => self.replica_share_max()?,
            Metric::BudgetExhausted => {
                b.failures[failure_index(FailureReason::BudgetExhausted(ErrorKind::ServerError))]
                    as f64
            }
        })
    }

    /// The index of the expectation's target.
    fn target_index(&self, e: &ExpectationParams) -> Result<usize, String> {
        e.target
            .as_deref()
            .and_then(|t| self.router.params().target_id(t))
            .map(|t| t.index())
            .ok_or_else(|| "no target".to_owned())
    }

    /// The share of the expectation's target's error budget the run spent.
    fn error_budget_spent(&self, e: &ExpectationParams) -> Result<f64, String> {
        let t = self.the_target(e)?;
        t.error_budget_spent
            .ok_or_else(|| format!("{} has no sla", t.name))
    }

    /// A fleet run: the busiest replica's share of the requests.
    fn replica_share_max(&self) -> Result<f64, String> {
        Ok(self
            .fleet()?
            .replicas_load
            .iter()
            .map(|r| r.share)
            .fold(0.0, f64::max))
    }

    /// A fleet run: the 429s the expectation's provider received from the fleet, as a count
    /// (`provider_rate_limited`) or a share of its requests.
    fn provider_rate_limited(&self, e: &ExpectationParams) -> Result<f64, String> {
        let name = e.provider.as_deref().unwrap_or("");
        let p = self
            .fleet()?
            .providers
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| format!("no provider {name}"))?;
        if e.metric == Metric::ProviderRateLimited {
            if p.rate_limited == 0 {
                // None of nothing: 0 counts only where attempts were made.
                nonempty(e, p.requests, "attempts to the provider")?;
            }
            Ok(p.rate_limited as f64)
        } else {
            nonempty(e, p.requests, "attempts to the provider")?;
            Ok(p.rate_limited_share)
        }
    }

    /// A fleet run: the probes the expectation's target received, or how long the fleet took
    /// to stop sending to it (`fleet_stop_time`).
    fn fleet_target(&self, e: &ExpectationParams) -> Result<f64, String> {
        let t = &self.fleet()?.targets[self.target_index(e)?];
        if e.metric == Metric::Probes {
            if t.probes == 0 && t.stopped_after_secs.is_none() {
                return Err(format!(
                    "no replica's breaker opened on {}, so there was nothing to probe",
                    t.name
                ));
            }
            Ok(t.probes as f64)
        } else {
            t.stopped_after_secs
                .ok_or_else(|| format!("no replica's breaker opened on {}", t.name))
        }
    }

    /// The stats of the expectation's scope: its route or class (or the run), in its phase
    /// (`phase`, its index) if it has one; an empty phase was not observed.
    fn scope(&self, e: &ExpectationParams, phase: Option<usize>) -> Result<&ScopeStats, String> {
        let route = e
            .route
            .as_deref()
            .and_then(|r| self.router.params().route_id(r))
            .map(|r| r.index());
        let class = e
            .class
            .as_deref()
            .and_then(|n| self.s.traffic.classes.iter().position(|x| x.name == n));
        if let Some(x) = phase.and_then(|i| self.s.phases.get(i))
            && x.from >= x.to
        {
            return Err(format!(
                "{} is empty: it lies outside the run (0s..{})",
                x.name, self.s.duration
            ));
        }
        Ok(self.collector.scope(route, class, phase))
    }

    /// The fleet's figures, or why there are none.
    fn fleet(&self) -> Result<&super::fleet::FleetReport, String> {
        self.fleet
            .ok_or_else(|| "not a fleet run (the scenario has no `replicas`)".to_owned())
    }

    /// What a provider's targets cost, successes and failures; not observed when none of
    /// them has a price or finished an attempt (its $0 would measure nothing).
    fn provider_cost(&self, name: &str) -> Result<f64, String> {
        let p = self.router.params();
        let priced = p.targets.iter().any(|t| {
            p.providers.name(t.provider.index() as u32) == name
                && (t.price.input_per_mtok > 0.0 || t.price.output_per_mtok > 0.0)
        });
        if !priced {
            return Err(format!("provider {name} has no price on any target"));
        }
        let mine = || self.targets.iter().filter(|t| t.provider == name);
        if mine().all(|t| t.finished() == 0) {
            return Err(format!("provider {name}'s targets finished no attempts"));
        }
        Ok(mine().map(|t| t.cost_success_usd + t.cost_failed_usd).sum())
    }

    /// The expectation's target, if it finished any attempt.
    fn the_target(&self, e: &ExpectationParams) -> Result<&TargetReport, String> {
        let i = e
            .target
            .as_deref()
            .and_then(|t| self.router.params().target_id(t))
            .map(|t| t.index())
            .ok_or_else(|| "no target".to_owned())?;
        let t = self.targets.get(i).ok_or_else(|| "no target".to_owned())?;
        if t.attempts == 0 {
            return Err(format!("{} got no attempts", t.name));
        }
        if t.finished() == 0 {
            return Err(format!(
                "{} finished no attempts (its {} were all cancelled)",
                t.name, t.attempts
            ));
        }
        Ok(t)
    }

    /// A per-target count can be observed on the expectation's target if it finished an
    /// attempt, and on the whole run if any target did.
    fn count_scope(&self, e: &ExpectationParams) -> Result<(), String> {
        if e.target.is_some() {
            return self.the_target(e).map(|_| ());
        }
        if self.targets.iter().all(|t| t.finished() == 0) {
            return Err("no target finished an attempt".to_owned());
        }
        Ok(())
    }

    /// A failover figure of the expectation's fault, or why there is none: a fault its
    /// provider saw no traffic in was not tested, which is not the same as a router that
    /// never reacted.
    fn figure(
        &self,
        e: &ExpectationParams,
        get: fn(&FailoverReport) -> Option<f64>,
        what: &str,
    ) -> Result<f64, String> {
        let f = e
            .fault
            .as_deref()
            .and_then(|f| self.failover.iter().find(|x| x.fault == f))
            .ok_or_else(|| "no fault".to_owned())?;
        get(f).ok_or_else(|| {
            if f.exercised.exercised {
                never(what)
            } else {
                format!("fault {} was {}", f.fault, f.exercised.line)
            }
        })
    }

    /// What detecting the expectation's fault would have been, for the reason it was not
    /// observed (and, when the tally missed events, that it may have been among them).
    fn detection(&self, e: &ExpectationParams) -> String {
        let Some(f) = self
            .s
            .faults
            .iter()
            .find(|w| Some(w.name.as_str()) == e.fault.as_deref())
        else {
            return "detection of the fault".to_owned();
        };
        let until = f.to + crate::failover::DETECT_GRACE;
        let lost = match self.collector.tally.lost() {
            0 => String::new(),
            n => format!("; {n} router events were lost before they were tallied"),
        };
        format!(
            "detection of the fault (a breaker opening or a parking on one of {}'s targets \
             from {} s to {} s{lost})",
            f.provider,
            super::secs(f.from),
            super::secs(until)
        )
    }

    /// Breaker openings, of the expectation's target or of any, tallied as they happened.
    fn breaker_opens(&self, e: &ExpectationParams) -> Result<f64, String> {
        let t = self.tallied_target(e)?;
        let n = self.collector.tally.breaker_opens(t);
        if n == 0 {
            // None of nothing is not a result: 0 counts only where attempts were made.
            self.count_scope(e)?;
        }
        Ok(n as f64)
    }

    /// Latency alerts raised, on the expectation's target or on any, tallied as they
    /// happened.
    fn alerts(&self, e: &ExpectationParams) -> Result<f64, String> {
        let t = self.tallied_target(e)?;
        let n = self.collector.tally.alerts(t);
        if n == 0 {
            // None of nothing is not a result: 0 counts only where attempts were made.
            self.count_scope(e)?;
        }
        Ok(n as f64)
    }

    /// The expectation's target for a tallied count (`None`: every target), or why the
    /// tally cannot be trusted: events the driver could not tally.
    fn tallied_target(
        &self,
        e: &ExpectationParams,
    ) -> Result<Option<switchyard_core::id::TargetId>, String> {
        lost(self.collector.tally.lost())?;
        match e.target.as_deref() {
            None => Ok(None),
            Some(n) => self
                .router
                .params()
                .target_id(n)
                .map(Some)
                .ok_or_else(|| "no target".to_owned()),
        }
    }

    /// From the expectation's fault's start to the first alert raised on one of its
    /// provider's targets while the fault was active (or within 1 s of its end, the grace
    /// `time_to_detect` gives too): an alert before the fault, or for a later one, is not
    /// this fault's.
    fn time_to_alert(&self, e: &ExpectationParams) -> Result<f64, String> {
        let (i, f) = self
            .s
            .faults
            .iter()
            .enumerate()
            .find(|(_, w)| Some(w.name.as_str()) == e.fault.as_deref())
            .ok_or_else(|| "no fault".to_owned())?;
        match self.collector.tally.first_alert(i) {
            Some(at) => Ok(at.saturating_since(f.from).as_secs_f64()),
            None => {
                lost(self.collector.tally.lost())?;
                Err(never("an alert on the fault's provider during the fault"))
            }
        }
    }
}

/// Rates and percentiles of nothing are not 1 or 0: `n` of `what` being 0, they were not
/// observed.
fn nonempty(e: &ExpectationParams, n: u64, what: &str) -> Result<(), String> {
    if n == 0 {
        Err(format!("no {what} in {}", scope_name(e)))
    } else {
        Ok(())
    }
}

/// A tally that missed events is not observed.
fn lost(n: u64) -> Result<(), String> {
    if n > 0 {
        Err(format!(
            "{n} router events were lost before they could be tallied (the driver did not \
             drain the router's event tap in time)"
        ))
    } else {
        Ok(())
    }
}

/// What an expectation on a black box's run would need that only the gateway knows.
fn unseen_through_a_black_box(e: &ExpectationParams) -> Option<&'static str> {
    Some(match e.metric {
        Metric::AttemptsPerRequest | Metric::Share => "its attempts",
        Metric::ServedShare => "which target served a request",
        Metric::Availability | Metric::ErrorBudgetSpent => "a target's attempts",
        Metric::Cost if e.provider.is_some() => "what each provider's attempts cost",
        Metric::WastedCost => "what its failed attempts cost",
        Metric::TimeToDetect | Metric::BreakerOpens => "its breakers",
        Metric::Alerts | Metric::TimeToAlert => "its alerts",
        Metric::Resumed | Metric::ResumeFailed => "whether it continued a stream",
        Metric::BudgetExhausted => "its retry budget",
        _ => return None,
    })
}

/// The expectation's scope, for the reasons: `route chat window:20m-30m`, or `the run`.
fn scope_name(e: &ExpectationParams) -> String {
    let parts: Vec<String> = [("route ", &e.route), ("class ", &e.class), ("", &e.phase)]
        .into_iter()
        .filter_map(|(what, x)| x.as_ref().map(|x| format!("{what}{x}")))
        .collect();
    if parts.is_empty() {
        "the run".to_owned()
    } else {
        parts.join(" ")
    }
}

/// The quantile a latency or time-to-first-token metric names.
fn quantile(metric: Metric) -> f64 {
    match metric {
        Metric::P50Latency
        | Metric::P50Ttft
        | Metric::P50InterToken
        | Metric::P50TimePerOutputToken => 0.5,
        Metric::P90Latency => 0.9,
        Metric::P99Latency
        | Metric::P99Ttft
        | Metric::P99InterToken
        | Metric::P99TimePerOutputToken => 0.99,
        _ => 0.999,
    }
}

fn never(what: &str) -> String {
    format!("{what} never happened")
}
