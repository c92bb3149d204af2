//! The router's sections and a target's settings, each resolved into its params on its own:
//! breaker, limits, plan, retry budget, alerts, latency.

use super::validate::{Result, ValidationError};
use super::{BreakerConfig, BudgetConfig, LatencyConfig, LimitsConfig, PlanConfig};
use crate::health::{BreakerParams, LatencyParams, LimitParams};
use crate::plan::{BudgetParams, MAX_ATTEMPTS, PlanParams};
use crate::request::Capabilities;
use crate::time::Duration;

/// Bounds on the settings that size memory. Anything validation accepts must be buildable:
/// an alert ring holds `(short + long) / slot` slots per target, allocated up front, so a
/// 1 ns slot over a 15 min window asked for ~284 TB and aborted the process.
///
/// The shortest alert slot: finer steps say nothing a percentile could use.
pub const MIN_ALERT_SLOT: Duration = Duration::from_millis(1);
/// The longest alert slot, and the longest `short` or `long` window.
pub const MAX_ALERT_SPAN: Duration = Duration::from_secs(30 * 24 * 3600);
/// Slots in an alert ring, `(short + long) / slot`: ~3 MB per target at most (the default
/// 1m + 15m at 10s is 96).
pub const MAX_ALERT_SLOTS: u64 = 10_000;

pub(super) fn positive(path: String, d: Option<Duration>, default: Duration) -> Result<Duration> {
    match d {
        Some(d) if d.is_zero() => Err(ValidationError::new(path, "must be longer than zero")),
        Some(d) => Ok(d),
        None => Ok(default),
    }
}

pub(super) fn fraction(path: String, v: Option<f64>, default: f64) -> Result<f64> {
    match v {
        Some(v) if !(v > 0.0 && v <= 1.0) => Err(ValidationError::new(
            path,
            format!("must be more than 0 and at most 1, not {v}"),
        )),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

pub(super) fn at_least_one(path: String, v: Option<u32>, default: u32) -> Result<u32> {
    match v {
        Some(0) => Err(ValidationError::new(path, "must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

pub(super) fn capabilities(path: &str, names: &[String]) -> Result<Capabilities> {
    names
        .iter()
        .enumerate()
        .try_fold(Capabilities::NONE, |acc, (i, name)| {
            Capabilities::from_name(name)
                .map(|c| acc.union(c))
                .ok_or_else(|| {
                    let known: Vec<&str> = Capabilities::NAMED.iter().map(|(n, _)| *n).collect();
                    ValidationError::new(
                        format!("{path}[{i}]"),
                        format!("unknown capability `{name}`; known: {}", known.join(", ")),
                    )
                })
        })
}

impl BreakerConfig {
    pub(super) fn resolve(&self, path: &str, base: &BreakerParams) -> Result<BreakerParams> {
        let p = |f: &str| format!("{path}.{f}");
        let params = BreakerParams {
            consecutive_failures: self
                .consecutive_failures
                .unwrap_or(base.consecutive_failures),
            failure_rate: fraction(p("failure_rate"), self.failure_rate, base.failure_rate)?,
            slow_call_rate: fraction(
                p("slow_call_rate"),
                self.slow_call_rate,
                base.slow_call_rate,
            )?,
            slow_call: positive(p("slow_call"), self.slow_call, base.slow_call)?,
            window: positive(p("window"), self.window, base.window)?,
            min_calls: self.min_calls.unwrap_or(base.min_calls),
            open_for: positive(p("open_for"), self.open_for, base.open_for)?,
            open_max: positive(p("open_max"), self.open_max, base.open_max)?,
            probes: at_least_one(p("probes"), self.probes, base.probes)?,
            probe_successes: at_least_one(
                p("probe_successes"),
                self.probe_successes,
                base.probe_successes,
            )?,
            recovery: positive(p("recovery"), self.recovery, base.recovery)?,
            recovery_start_share: fraction(
                p("recovery_start_share"),
                self.recovery_start_share,
                base.recovery_start_share,
            )?,
        };
        if params.open_max < params.open_for {
            return Err(ValidationError::new(
                p("open_max"),
                format!(
                    "must be at least open_for ({}), not {}",
                    params.open_for, params.open_max
                ),
            ));
        }
        Ok(params)
    }
}

impl LimitsConfig {
    pub(super) fn resolve(&self, path: &str) -> Result<LimitParams> {
        let defaults = LimitParams::default();
        for (field, v) in [
            ("requests_per_minute", self.requests_per_minute),
            ("tokens_per_minute", self.tokens_per_minute),
        ] {
            if v == Some(0) {
                return Err(ValidationError::new(
                    format!("{path}.{field}"),
                    "must be at least 1 (leave it out for no limit)",
                ));
            }
        }
        Ok(LimitParams {
            requests_per_minute: self.requests_per_minute,
            tokens_per_minute: self.tokens_per_minute,
            learn: self.learn.unwrap_or(defaults.learn),
            default_park: positive(
                format!("{path}.default_park"),
                self.default_park,
                defaults.default_park,
            )?,
        })
    }
}

impl PlanConfig {
    pub(super) fn resolve(&self) -> Result<PlanParams> {
        let d = PlanParams::default();
        let max_attempts = at_least_one(
            "plan.max_attempts".into(),
            self.max_attempts,
            d.max_attempts,
        )?;
        if max_attempts as usize > MAX_ATTEMPTS {
            return Err(ValidationError::new(
                "plan.max_attempts",
                format!("must be at most {MAX_ATTEMPTS}, not {max_attempts}"),
            ));
        }
        let backoff_base = positive(
            "plan.backoff_base".into(),
            self.backoff_base,
            d.backoff_base,
        )?;
        let backoff_max = positive(
            "plan.backoff_max".into(),
            self.backoff_max,
            d.backoff_max.max(backoff_base),
        )?;
        if backoff_max < backoff_base {
            return Err(ValidationError::new(
                "plan.backoff_max",
                format!("must be at least backoff_base ({backoff_base})"),
            ));
        }
        let attempt_timeout = positive(
            "plan.attempt_timeout".into(),
            self.attempt_timeout,
            d.attempt_timeout,
        )?;
        // The stream cap counts from the send: below the first-token bound, a stream would be
        // cut the moment it was committed.
        let first_bound = self.first_token_timeout.unwrap_or(attempt_timeout);
        if let Some(cap) = self.stream_timeout
            && cap < first_bound
        {
            return Err(ValidationError::new(
                "plan.stream_timeout",
                format!("must be at least the first-token bound ({first_bound})"),
            ));
        }
        Ok(PlanParams {
            max_attempts,
            attempt_timeout,
            first_token_timeout: self
                .first_token_timeout
                .map(|t| positive("plan.first_token_timeout".into(), Some(t), t))
                .transpose()?,
            idle_timeout: Some(positive(
                "plan.idle_timeout".into(),
                self.idle_timeout,
                d.idle_timeout.unwrap_or(Duration::from_secs(30)),
            )?),
            stream_timeout: self
                .stream_timeout
                .map(|t| positive("plan.stream_timeout".into(), Some(t), t))
                .transpose()?,
            retry_after_max: positive(
                "plan.retry_after_max".into(),
                self.retry_after_max,
                d.retry_after_max,
            )?,
            park_wait_max: self.park_wait_max.unwrap_or(d.park_wait_max),
            deadline: positive("plan.deadline".into(), self.deadline, d.deadline)?,
            backoff_base,
            backoff_max,
            hedge_after: self
                .hedge_after
                .map(|t| positive("plan.hedge_after".into(), Some(t), t))
                .transpose()?,
        })
    }
}

impl BudgetConfig {
    pub(super) fn resolve(&self) -> Result<BudgetParams> {
        let d = BudgetParams::default();
        let non_negative = |field: &str, v: Option<f64>, default: f64| match v {
            Some(v) if !(v >= 0.0 && v.is_finite()) => Err(ValidationError::new(
                format!("retry_budget.{field}"),
                format!("must be zero or more, not {v}"),
            )),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        Ok(BudgetParams {
            ratio: non_negative("ratio", self.ratio, d.ratio)?,
            min_per_second: non_negative("min_per_second", self.min_per_second, d.min_per_second)?,
            window: positive("retry_budget.window".into(), self.window, d.window)?,
        })
    }
}

impl super::AlertsConfig {
    pub(super) fn resolve(&self) -> Result<crate::telemetry::alert::AlertParams> {
        let d = crate::telemetry::alert::AlertParams::default();
        let factor = |field: &str, v: Option<f64>, default: Option<f64>| match v {
            Some(0.0) => Ok(None),
            Some(x) if !(x.is_finite() && x > 1.0) => Err(ValidationError::new(
                format!("alerts.{field}"),
                format!("must be above 1 (or 0 to turn it off), not {x}"),
            )),
            Some(x) => Ok(Some(x)),
            None => Ok(default),
        };
        let quantile = match self.quantile {
            Some(q) if !(q > 0.0 && q < 1.0) => {
                return Err(ValidationError::new(
                    "alerts.quantile",
                    "must be between 0 and 1",
                ));
            }
            q => q.unwrap_or(d.quantile),
        };
        let span = |field: &str, v: Option<Duration>, default: Duration| {
            let path = format!("alerts.{field}");
            let v = positive(path.clone(), v, default)?;
            if v > MAX_ALERT_SPAN {
                return Err(ValidationError::new(
                    path,
                    format!("must be at most {MAX_ALERT_SPAN}, not {v}"),
                ));
            }
            Ok(v)
        };
        let short = span("short", self.short, d.short)?;
        let long = span("long", self.long, d.long)?;
        let slot = span("slot", self.slot, d.slot)?;
        if slot < MIN_ALERT_SLOT {
            return Err(ValidationError::new(
                "alerts.slot",
                format!("must be at least {MIN_ALERT_SLOT}, not {slot}"),
            ));
        }
        // Both spans are at most MAX_ALERT_SPAN, so the sum cannot overflow.
        let slots = (short + long).as_nanos().div_ceil(slot.as_nanos());
        if slots > MAX_ALERT_SLOTS {
            return Err(ValidationError::new(
                "alerts.slot",
                format!(
                    "short + long ({}) is {slots} slots of {slot}; at most {MAX_ALERT_SLOTS} \
                     (each target keeps one per slot): make the slot longer",
                    short + long
                ),
            ));
        }
        Ok(crate::telemetry::alert::AlertParams {
            short,
            long,
            slot,
            quantile,
            vs_baseline: factor("vs_baseline", self.vs_baseline, d.vs_baseline)?,
            vs_peers: factor("vs_peers", self.vs_peers, d.vs_peers)?,
            min_samples: self.min_samples.unwrap_or(d.min_samples),
        })
    }
}

impl LatencyConfig {
    pub(super) fn resolve(&self) -> Result<LatencyParams> {
        let d = LatencyParams::default();
        Ok(LatencyParams {
            decay: positive("latency.decay".into(), self.decay, d.decay)?,
            failure_penalty: positive(
                "latency.failure_penalty".into(),
                self.failure_penalty,
                d.failure_penalty,
            )?,
        })
    }
}
