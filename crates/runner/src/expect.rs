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

mod metric;

use metric::{METRICS, Takes};
pub use metric::{Metric, Range, metrics};

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
    /// The checks that need neither the router nor the traffic (metric, operator, value,
    /// scopes, fault and provider names): run when one of those is broken, so that its
    /// errors do not hide these.
    pub(crate) fn check_alone(
        &self,
        path: &str,
        faults: &[FaultWindow],
        providers: &[ScenarioProvider],
    ) -> Result<(), ValidationError> {
        let metric = self.metric(path)?;
        self.op(path)?;
        self.value(path, metric)?;
        self.check_scopes(path, metric, faults, providers)
    }

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

    /// The expected value: a number, or for a time metric a duration, in seconds; within
    /// the metric's range.
    fn value(&self, path: &str, metric: Metric) -> Result<f64, ValidationError> {
        let e = |m: String| at(path, "value", m);
        let value = match (&self.value, metric.is_time()) {
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
        };
        let range = metric.range();
        if !range.contains(value) {
            return Err(e(format!(
                "`{}` is {}: a bound of {value} could never hold, or always would",
                self.metric,
                range.describe()
            )));
        }
        Ok(value)
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
            let known: Vec<&str> = router.routes.iter().map(|x| x.name.as_str()).collect();
            return Err(at(
                path,
                "route",
                format!("unknown route `{r}`; routes: {}", known.join(", ")),
            ));
        }
        if let Some(c) = &self.class
            && !traffic.classes.iter().any(|x| x.name == *c)
        {
            let known: Vec<&str> = traffic.classes.iter().map(|x| x.name.as_str()).collect();
            return Err(at(
                path,
                "class",
                format!("unknown class `{c}`; classes: {}", known.join(", ")),
            ));
        }
        if let Some(t) = &self.target
            && router.target_id(t).is_none()
        {
            let known: Vec<&str> = router.targets.iter().map(|x| x.name.as_str()).collect();
            return Err(at(
                path,
                "target",
                format!("unknown target `{t}`; targets: {}", known.join(", ")),
            ));
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
        if scopes.provider == Takes::Must && self.provider.is_none() {
            return Err(e("provider", format!("`{m}` needs a provider")));
        }
        if let Some(p) = &self.provider {
            if scopes.provider == Takes::No {
                return Err(e(
                    "provider",
                    format!(
                        "`{m}` cannot be scoped by provider (only `cost` can, and the fleet's \
                         provider figures)"
                    ),
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
                let known: Vec<&str> = faults.iter().map(|w| w.name.as_str()).collect();
                Err(e(
                    "fault",
                    format!("no fault named `{f}`; named faults: {}", known.join(", ")),
                ))
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
