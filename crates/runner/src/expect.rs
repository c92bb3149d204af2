//! Expectations: a metric, a scope, a comparison and a value — checked after the run, each
//! reported as observed against expected.
//!
//! ```yaml
//! expect:
//!   - { metric: success_rate, phase: during:primary-outage, op: ">=", value: 0.999 }
//!   - { metric: p99_latency, route: chat, op: "<=", value: 3s }
//!   - { metric: share, target: openai-4o, phase: during:primary-outage, op: "<=", value: 0.01 }
//!   - { metric: time_to_failover, fault: primary-outage, op: "<=", value: 30s }
//!   - { metric: cost, op: "<=", value: 12 }
//! ```
//!
//! Scopes: `route`, `class`, `phase` (`before:F`, `during:F`, `after:F` for a named fault F)
//! or `window: { from, to }`; `target` for per-target metrics; `fault` for failover figures.

use serde::{Deserialize, Serialize};
use switchyard_core::config::ValidationError;
use switchyard_core::router::RouterParams;
use switchyard_core::time::{Duration, Instant};
use switchyard_sim::traffic::TrafficParams;

use crate::scenario::{FaultWindow, PhaseWindow, ScenarioProvider};

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectationConfig {
    /// A label for reports; default: the metric and its scope.
    pub name: Option<String>,
    /// What is measured: one of the metrics listed in docs/SCENARIOS.md.
    pub metric: String,
    /// Only requests that asked for this route.
    pub route: Option<String>,
    /// Only requests of this traffic class.
    pub class: Option<String>,
    /// The target a per-target metric is about (`share`, `availability`, ...).
    pub target: Option<String>,
    /// For `cost`: one provider's.
    pub provider: Option<String>,
    /// Only requests that started in a fault's phase: `before:F`, `during:F` or `after:F`
    /// for a named fault F.
    pub phase: Option<String>,
    /// Only requests that started between `from` and `to`.
    pub window: Option<WindowConfig>,
    /// The named fault a failover figure is about.
    pub fault: Option<String>,
    /// `<`, `<=`, `>`, `>=`, `==`.
    pub op: String,
    /// A number, or a duration for time metrics (`2s`).
    pub value: serde_yaml_value::Value,
}

/// A tiny owned copy of what a YAML scalar can be, so that `value` takes numbers and
/// duration strings alike.
pub mod serde_yaml_value {
    #[derive(Clone, Debug, serde::Deserialize, schemars::JsonSchema)]
    #[serde(untagged)]
    pub enum Value {
        Number(f64),
        Text(String),
    }
}

#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// From this time since the start of the run.
    pub from: Duration,
    /// To this time (excluded).
    pub to: Duration,
}

/// What an expectation measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Requests that started in the scope (every request is counted once, whatever happened
    /// to it).
    Requests,
    /// Requests served (a reply, or a stream that finished).
    Succeeded,
    /// Requests that failed, including those their caller abandoned.
    Failed,
    /// Succeeded / requests, from 0 to 1. Not observed on a scope without requests.
    SuccessRate,
    /// Failed / requests, from 0 to 1. Not observed on a scope without requests.
    FailureRate,
    /// Median latency, from the request's start to its last byte.
    P50Latency,
    /// 90th percentile latency.
    P90Latency,
    /// 99th percentile latency.
    P99Latency,
    /// 99.9th percentile latency.
    P999Latency,
    /// Median time to first token (first content byte the caller receives).
    P50Ttft,
    /// 99th percentile time to first token.
    P99Ttft,
    /// Attempts / requests: 1 when nothing was retried, hedged or failed over.
    AttemptsPerRequest,
    /// Spend in US dollars, every attempt priced by the tokens it was billed (with
    /// `provider`: that provider's targets only).
    Cost,
    /// Spend in US dollars on attempts whose answer was not used (failed, cancelled, or a
    /// hedge that lost).
    WastedCost,
    /// Attempts sent to `target` / all attempts in the scope.
    Share,
    /// Requests served by `target` / succeeded requests in the scope.
    ServedShare,
    /// The target's availability over the run, from 0 to 1: 1 − attempts that failed with
    /// an error counted against availability (by default those that count against the
    /// provider's health) / attempts finished. Not observed for a target with no attempts.
    Availability,
    /// From a fault's start to the first breaker opening or parking on its provider
    /// (docs/FAILOVER.md).
    TimeToDetect,
    /// From a fault's start until the faulty provider's share of the new requests that can
    /// reach it stays under 5 % for the hold time, never before detection; "never" when it
    /// did not (docs/FAILOVER.md).
    TimeToFailover,
    /// From a fault's end until the provider's share is back to 90 % of its share before the
    /// fault, for the hold time; only after a failover (docs/FAILOVER.md).
    TimeToFailback,
    /// Breakers that opened (on `target`, or on any).
    BreakerOpens,
    /// Requests that failed because the route's retry budget was spent.
    BudgetExhausted,
    /// Latency alerts raised (on `target`, or on any).
    Alerts,
    /// From a fault's start to the first alert on its provider's targets.
    TimeToAlert,
    /// Share of the target's error budget (1 - sla) spent.
    ErrorBudgetSpent,
    /// Requests whose stream broke after its first token and that a continuation completed
    /// (a route's `resume: prefill`).
    Resumed,
    /// Requests whose stream broke after its first token on a route that resumes, and that
    /// no continuation completed.
    ResumeFailed,
}

const METRICS: [(&str, Metric); 27] = [
    ("requests", Metric::Requests),
    ("succeeded", Metric::Succeeded),
    ("failed", Metric::Failed),
    ("success_rate", Metric::SuccessRate),
    ("failure_rate", Metric::FailureRate),
    ("p50_latency", Metric::P50Latency),
    ("p90_latency", Metric::P90Latency),
    ("p99_latency", Metric::P99Latency),
    ("p999_latency", Metric::P999Latency),
    ("p50_ttft", Metric::P50Ttft),
    ("p99_ttft", Metric::P99Ttft),
    ("attempts_per_request", Metric::AttemptsPerRequest),
    ("cost", Metric::Cost),
    ("wasted_cost", Metric::WastedCost),
    ("share", Metric::Share),
    ("served_share", Metric::ServedShare),
    ("availability", Metric::Availability),
    ("time_to_detect", Metric::TimeToDetect),
    ("time_to_failover", Metric::TimeToFailover),
    ("time_to_failback", Metric::TimeToFailback),
    ("breaker_opens", Metric::BreakerOpens),
    ("budget_exhausted", Metric::BudgetExhausted),
    ("alerts", Metric::Alerts),
    ("time_to_alert", Metric::TimeToAlert),
    ("error_budget_spent", Metric::ErrorBudgetSpent),
    ("resumed", Metric::Resumed),
    ("resume_failed", Metric::ResumeFailed),
];

/// Every metric an expectation can name, with its name as written.
pub fn metrics() -> impl Iterator<Item = (&'static str, Metric)> {
    METRICS.into_iter()
}

impl Metric {
    /// The scope fields the metric takes, as the scenario reference lists them.
    pub fn scope_summary(self) -> String {
        let s = self.scopes();
        let mut parts = Vec::new();
        if s.requests {
            parts.push("`route`, `class`, `phase`, `window`".to_string());
        }
        match s.target {
            Takes::Must => parts.push("`target` (required)".into()),
            Takes::May => parts.push("`target`".into()),
            Takes::No => {}
        }
        if s.provider {
            parts.push("`provider`".into());
        }
        match s.fault {
            Takes::Must => parts.push("`fault` (required)".into()),
            Takes::May => parts.push("`fault`".into()),
            Takes::No => {}
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }

    /// The unit its values are in, as a report shows it after a number: `" s"` for times,
    /// `" USD"` for costs, nothing for rates, shares and counts.
    pub fn unit(self) -> &'static str {
        if self.is_time() {
            " s"
        } else if matches!(self, Metric::Cost | Metric::WastedCost) {
            " USD"
        } else {
            ""
        }
    }

    pub fn is_time(self) -> bool {
        matches!(
            self,
            Metric::P50Latency
                | Metric::P90Latency
                | Metric::P99Latency
                | Metric::P999Latency
                | Metric::P50Ttft
                | Metric::P99Ttft
                | Metric::TimeToDetect
                | Metric::TimeToFailover
                | Metric::TimeToFailback
                | Metric::TimeToAlert
        )
    }
}

/// Whether a metric takes a scope field: never, optionally, or always.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Takes {
    No,
    May,
    Must,
}

/// The scope fields a metric honours. A field it does not honour is refused at validation:
/// ignored silently, it would report a number for a scope nobody measured.
struct Scopes {
    /// `route`, `class`, `phase` and `window`: the metric is counted per request.
    requests: bool,
    target: Takes,
    /// `provider`, for `cost` only.
    provider: bool,
    fault: Takes,
}

impl Metric {
    fn scopes(self) -> Scopes {
        let (requests, target, provider, fault) = match self {
            Metric::Requests
            | Metric::Succeeded
            | Metric::Failed
            | Metric::SuccessRate
            | Metric::FailureRate
            | Metric::P50Latency
            | Metric::P90Latency
            | Metric::P99Latency
            | Metric::P999Latency
            | Metric::P50Ttft
            | Metric::P99Ttft
            | Metric::AttemptsPerRequest
            | Metric::WastedCost
            | Metric::BudgetExhausted
            | Metric::Resumed
            | Metric::ResumeFailed => (true, Takes::No, false, Takes::No),
            Metric::Cost => (true, Takes::No, true, Takes::No),
            Metric::Share | Metric::ServedShare => (true, Takes::Must, false, Takes::No),
            Metric::Availability | Metric::ErrorBudgetSpent => {
                (false, Takes::Must, false, Takes::No)
            }
            Metric::BreakerOpens | Metric::Alerts => (false, Takes::May, false, Takes::No),
            Metric::TimeToDetect
            | Metric::TimeToFailover
            | Metric::TimeToFailback
            | Metric::TimeToAlert => (false, Takes::No, false, Takes::Must),
        };
        Scopes {
            requests,
            target,
            provider,
            fault,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    pub fn holds(self, observed: f64, expected: f64) -> bool {
        match self {
            Op::Lt => observed < expected,
            Op::Le => observed <= expected,
            Op::Gt => observed > expected,
            Op::Ge => observed >= expected,
            Op::Eq => (observed - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        }
    }
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }
}

/// A validated expectation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpectationParams {
    pub name: String,
    pub metric: Metric,
    pub route: Option<String>,
    pub class: Option<String>,
    pub target: Option<String>,
    pub provider: Option<String>,
    /// A phase name, from a fault or a window.
    pub phase: Option<String>,
    pub fault: Option<String>,
    pub op: Op,
    /// Seconds for time metrics.
    pub value: f64,
}

impl ExpectationConfig {
    #[expect(
        clippy::too_many_arguments,
        reason = "every part of the scenario an expectation can name"
    )]
    pub(crate) fn resolve(
        &self,
        path: &str,
        router: &RouterParams,
        traffic: &TrafficParams,
        faults: &[FaultWindow],
        providers: &[ScenarioProvider],
        phases: &mut Vec<PhaseWindow>,
        end: Instant,
    ) -> Result<ExpectationParams, ValidationError> {
        let metric = self.metric(path)?;
        let op = self.op(path)?;
        let value = self.value(path, metric)?;
        self.check_names(path, router, traffic)?;
        self.check_scopes(path, metric, faults, providers)?;
        let phase = self.phase(path, phases, end)?;
        if self.route.is_some() && self.class.is_some() {
            return Err(at(
                path,
                "class",
                "give a route or a class, not both".to_owned(),
            ));
        }
        let mut name = self.metric.clone();
        for part in [&self.route, &self.class, &self.target, &phase, &self.fault]
            .into_iter()
            .flatten()
        {
            name.push(' ');
            name.push_str(part);
        }
        Ok(ExpectationParams {
            name: self.name.clone().unwrap_or(name),
            metric,
            route: self.route.clone(),
            class: self.class.clone(),
            target: self.target.clone(),
            provider: self.provider.clone(),
            phase,
            fault: self.fault.clone(),
            op,
            value,
        })
    }

    /// The metric named, one of [`METRICS`].
    fn metric(&self, path: &str) -> Result<Metric, ValidationError> {
        METRICS
            .iter()
            .find(|(n, _)| *n == self.metric)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                at(
                    path,
                    "metric",
                    format!(
                        "unknown metric `{}`; known: {}",
                        self.metric,
                        METRICS.map(|m| m.0).join(", ")
                    ),
                )
            })
    }

    fn op(&self, path: &str) -> Result<Op, ValidationError> {
        Ok(match self.op.as_str() {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            o => {
                return Err(at(
                    path,
                    "op",
                    format!("unknown comparison `{o}`; use <, <=, >, >= or =="),
                ));
            }
        })
    }

    /// The expected value: a number, or for a time metric a duration, in seconds.
    fn value(&self, path: &str, metric: Metric) -> Result<f64, ValidationError> {
        let e = |m: String| at(path, "value", m);
        Ok(match (&self.value, metric.is_time()) {
            (serde_yaml_value::Value::Number(n), false) => *n,
            (serde_yaml_value::Value::Text(t), true) => t
                .parse::<Duration>()
                .map_err(|x| e(x.to_string()))?
                .as_secs_f64(),
            (serde_yaml_value::Value::Number(n), true) if *n == 0.0 => 0.0,
            (serde_yaml_value::Value::Number(_), true) => {
                return Err(e(format!(
                    "`{}` is a time: write a duration such as 2s",
                    self.metric
                )));
            }
            (serde_yaml_value::Value::Text(t), false) => {
                return Err(e(format!("`{}` takes a number, not `{t}`", self.metric)));
            }
        })
    }

    /// The route, class and target named exist.
    fn check_names(
        &self,
        path: &str,
        router: &RouterParams,
        traffic: &TrafficParams,
    ) -> Result<(), ValidationError> {
        if let Some(r) = &self.route
            && router.route_id(r).is_none()
        {
            return Err(at(path, "route", format!("unknown route `{r}`")));
        }
        if let Some(c) = &self.class
            && !traffic.classes.iter().any(|x| x.name == *c)
        {
            return Err(at(path, "class", format!("unknown class `{c}`")));
        }
        if let Some(t) = &self.target
            && router.target_id(t).is_none()
        {
            return Err(at(path, "target", format!("unknown target `{t}`")));
        }
        Ok(())
    }

    /// The metric can be scoped as written: by route, class, phase or window only if it is
    /// a figure of requests (and not by provider too); by target, provider and fault as it
    /// takes them, the provider and fault named existing.
    fn check_scopes(
        &self,
        path: &str,
        metric: Metric,
        faults: &[FaultWindow],
        providers: &[ScenarioProvider],
    ) -> Result<(), ValidationError> {
        let e = |field: &str, m: String| at(path, field, m);
        let scopes = metric.scopes();
        let m = &self.metric;
        let per_request = [
            ("route", self.route.is_some()),
            ("class", self.class.is_some()),
            ("phase", self.phase.is_some()),
            ("window", self.window.is_some()),
        ];
        for (field, given) in per_request {
            if !given {
                continue;
            }
            if !scopes.requests {
                return Err(e(
                    field,
                    format!("`{m}` is a figure of the whole run: it cannot be scoped by {field}"),
                ));
            }
            if self.provider.is_some() {
                return Err(e(
                    field,
                    format!("`{m}` by provider is over the whole run: drop {field} or provider"),
                ));
            }
        }
        match (scopes.target, &self.target) {
            (Takes::No, Some(_)) => {
                return Err(e("target", format!("`{m}` cannot be scoped by target")));
            }
            (Takes::Must, None) => return Err(e("target", format!("`{m}` needs a target"))),
            _ => {}
        }
        if let Some(p) = &self.provider {
            if !scopes.provider {
                return Err(e(
                    "provider",
                    format!("`{m}` cannot be scoped by provider (only `cost` can)"),
                ));
            }
            if !providers.iter().any(|x| x.name == *p) {
                let known: Vec<&str> = providers.iter().map(|x| x.name.as_str()).collect();
                return Err(e(
                    "provider",
                    format!("no provider `{p}`; providers: {}", known.join(", ")),
                ));
            }
        }
        match (scopes.fault, &self.fault) {
            (Takes::No, Some(_)) => Err(e("fault", format!("`{m}` cannot be scoped by fault"))),
            (Takes::Must, None) => Err(e("fault", format!("`{m}` needs a fault"))),
            (_, Some(f)) if !faults.iter().any(|w| w.name == *f) => {
                Err(e("fault", format!("no fault named `{f}`")))
            }
            _ => Ok(()),
        }
    }

    /// The phase's name: a fault's phase that exists, or a window (added to `phases`, cut
    /// at `end`, unless the same window is there already).
    fn phase(
        &self,
        path: &str,
        phases: &mut Vec<PhaseWindow>,
        end: Instant,
    ) -> Result<Option<String>, ValidationError> {
        let e = |field: &str, m: String| at(path, field, m);
        Ok(match (&self.phase, &self.window) {
            (Some(_), Some(_)) => {
                return Err(e("window", "give a phase or a window, not both".to_owned()));
            }
            (Some(p), None) => {
                if !phases.iter().any(|x| x.name == *p) {
                    let known: Vec<&str> = phases.iter().map(|x| x.name.as_str()).collect();
                    return Err(e(
                        "phase",
                        format!(
                            "no phase `{p}`; phases come from named faults: {}",
                            known.join(", ")
                        ),
                    ));
                }
                Some(p.clone())
            }
            (None, Some(w)) => {
                if w.to <= w.from {
                    return Err(e("window.to", "must be after `from`".to_owned()));
                }
                let name = format!("window:{}-{}", w.from, w.to);
                if !phases.iter().any(|x| x.name == name) {
                    phases.push(PhaseWindow {
                        name: name.clone(),
                        from: Instant::ZERO + w.from,
                        to: (Instant::ZERO + w.to).min(end),
                    });
                }
                Some(name)
            }
            (None, None) => None,
        })
    }
}

/// An error at `path.field`.
fn at(path: &str, field: &str, message: String) -> ValidationError {
    ValidationError::new(format!("{path}.{field}"), message)
}
