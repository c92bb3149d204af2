//! `RouterConfig` → `RouterParams`: every check that serde cannot do.

use super::{
    BreakerConfig, BudgetConfig, ConfigError, LatencyConfig, LimitsConfig, PanicModeConfig,
    PlanConfig, PolicyKind, ResumeConfig, RouteConfig, RouterConfig, locate,
};
use crate::health::{BreakerParams, LatencyParams, LimitParams};
use crate::id::{Interner, RouteId, TargetId};
use crate::plan::{BudgetParams, MAX_ATTEMPTS, PlanParams};
use crate::policy::{MAX_ROUTE_TARGETS, Mask, Policy};
use crate::request::Capabilities;
use crate::router::{PanicMode, ResumeMode, RouteParams, RouterParams};
use crate::rule::{RuleMatch, RuleParams};
use crate::target::{Price, TargetParams};
use crate::time::Duration;

/// A semantic error: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("field `{path}`: {message}")]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Places the error in the file it came from.
    pub fn at(self, text: &str, file: &str) -> ConfigError {
        let (line, column) = locate(text, &self.path).unwrap_or((1, 1));
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            path: self.path,
            message: self.message,
        }
    }
}

type Result<T> = std::result::Result<T, ValidationError>;

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

fn positive(path: String, d: Option<Duration>, default: Duration) -> Result<Duration> {
    match d {
        Some(d) if d.is_zero() => Err(ValidationError::new(path, "must be longer than zero")),
        Some(d) => Ok(d),
        None => Ok(default),
    }
}

fn fraction(path: String, v: Option<f64>, default: f64) -> Result<f64> {
    match v {
        Some(v) if !(v > 0.0 && v <= 1.0) => Err(ValidationError::new(
            path,
            format!("must be more than 0 and at most 1, not {v}"),
        )),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn at_least_one(path: String, v: Option<u32>, default: u32) -> Result<u32> {
    match v {
        Some(0) => Err(ValidationError::new(path, "must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn capabilities(path: &str, names: &[String]) -> Result<Capabilities> {
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
    fn resolve(&self, path: &str, base: &BreakerParams) -> Result<BreakerParams> {
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
    fn resolve(&self, path: &str) -> Result<LimitParams> {
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
    fn resolve(&self) -> Result<PlanParams> {
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
    fn resolve(&self) -> Result<BudgetParams> {
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
    fn resolve(&self) -> Result<crate::telemetry::alert::AlertParams> {
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
    fn resolve(&self) -> Result<LatencyParams> {
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

fn route_targets(
    i: usize,
    route: &RouteConfig,
    targets: &[TargetParams],
) -> Result<(Vec<TargetId>, Policy)> {
    let path = format!("routes[{i}]");
    let lookup = |field: String, name: &str| {
        targets
            .iter()
            .position(|t| t.name == name)
            .map(|i| TargetId::new(i as u32))
            .ok_or_else(|| ValidationError::new(field, format!("unknown target `{name}`")))
    };
    let refuse = |field: &str, why: &str| {
        Err(ValidationError::new(
            format!("{path}.{field}"),
            why.to_owned(),
        ))
    };
    if route.policy != PolicyKind::Weighted && !route.weights.is_empty() {
        return refuse("weights", "only a `weighted` route takes weights");
    }
    if route.policy != PolicyKind::Priority && !route.tiers.is_empty() {
        return refuse("tiers", "only a `priority` route takes tiers");
    }
    let mut members = Vec::new();
    let mut tiers: Vec<Mask> = Vec::new();
    if route.policy == PolicyKind::Priority {
        if !route.targets.is_empty() {
            return refuse("targets", "a `priority` route lists its targets in `tiers`");
        }
        if route.tiers.is_empty() {
            return refuse("tiers", "a `priority` route needs at least one tier");
        }
        for (t, tier) in route.tiers.iter().enumerate() {
            if tier.is_empty() {
                return refuse(&format!("tiers[{t}]"), "a tier needs at least one target");
            }
            let mut mask = 0;
            for (k, name) in tier.iter().enumerate() {
                mask |= 1u64.checked_shl(members.len() as u32).unwrap_or(0);
                members.push((format!("{path}.tiers[{t}][{k}]"), name.as_str()));
            }
            tiers.push(mask);
        }
    } else {
        if route.targets.is_empty() {
            return refuse("targets", "a route needs at least one target");
        }
        members = route
            .targets
            .iter()
            .enumerate()
            .map(|(k, n)| (format!("{path}.targets[{k}]"), n.as_str()))
            .collect();
    }
    if members.len() > MAX_ROUTE_TARGETS {
        return refuse(
            "targets",
            &format!("a route has at most {MAX_ROUTE_TARGETS} targets"),
        );
    }
    let mut ids: Vec<TargetId> = Vec::with_capacity(members.len());
    for (field, name) in members {
        let id = lookup(field.clone(), name)?;
        if ids.contains(&id) {
            return Err(ValidationError::new(
                field,
                format!("target `{name}` appears twice in this route"),
            ));
        }
        ids.push(id);
    }
    let policy = match route.policy {
        PolicyKind::Static if ids.len() != 1 => {
            return refuse("targets", "a `static` route has exactly one target");
        }
        PolicyKind::Static => Policy::Static,
        PolicyKind::Priority => Policy::Priority { tiers },
        PolicyKind::Weighted => {
            if route.weights.len() != ids.len() {
                return refuse(
                    "weights",
                    &format!(
                        "needs one weight per target: {} targets, {} weights",
                        ids.len(),
                        route.weights.len()
                    ),
                );
            }
            if route.weights.iter().all(|&w| w == 0) {
                return refuse(
                    "weights",
                    "weights sum to zero: no target would ever be picked",
                );
            }
            Policy::Weighted {
                weights: route.weights.clone(),
            }
        }
        PolicyKind::RoundRobin => Policy::RoundRobin,
        PolicyKind::Random => Policy::Random,
        PolicyKind::LeastLatency => Policy::LeastLatency,
        PolicyKind::LeastCost => Policy::LeastCost,
        PolicyKind::CapabilityMatch => Policy::CapabilityMatch,
    };
    Ok((ids, policy))
}

fn duplicate<'a>(names: impl Iterator<Item = &'a str>) -> Option<(usize, &'a str)> {
    let mut seen = std::collections::BTreeSet::new();
    names.enumerate().find(|(_, n)| !seen.insert(*n))
}

impl TryFrom<&RouterConfig> for RouterParams {
    type Error = ValidationError;

    /// The first error [`validate_router`] finds.
    fn try_from(config: &RouterConfig) -> Result<Self> {
        validate_router(config).map_err(|errors| {
            errors
                .into_iter()
                .next()
                .unwrap_or_else(|| ValidationError::new("", "not a valid router config"))
        })
    }
}

/// `RouterConfig` → `RouterParams`, with every error found (never an empty list): each
/// target, route, rule and section is checked on its own, so one wrong field does not hide
/// the next. The fallback-cycle check runs only when every route is otherwise valid.
pub fn validate_router(
    config: &RouterConfig,
) -> std::result::Result<RouterParams, Vec<ValidationError>> {
    let mut errors: Vec<ValidationError> = Vec::new();
    {
        if config.targets.is_empty() {
            errors.push(ValidationError::new(
                "targets",
                "a router needs at least one target",
            ));
        }
        if config.routes.is_empty() {
            errors.push(ValidationError::new(
                "routes",
                "a router needs at least one route",
            ));
        }
        if let Some((i, name)) = duplicate(config.targets.iter().map(|t| t.name.as_str())) {
            errors.push(ValidationError::new(
                format!("targets[{i}].name"),
                format!("target `{name}` is defined twice"),
            ));
        }
        if let Some((i, name)) = duplicate(config.routes.iter().map(|r| r.name.as_str())) {
            errors.push(ValidationError::new(
                format!("routes[{i}].name"),
                format!("route `{name}` is defined twice"),
            ));
        }
        let default_breaker = config
            .breaker
            .resolve("breaker", &BreakerParams::default())
            .unwrap_or_else(|e| {
                errors.push(e);
                BreakerParams::default()
            });
        let mut providers = Interner::default();
        let mut targets = Vec::with_capacity(config.targets.len());
        for (i, t) in config.targets.iter().enumerate() {
            let path = format!("targets[{i}]");
            if t.name.trim().is_empty() {
                errors.push(ValidationError::new(
                    format!("{path}.name"),
                    "must not be empty",
                ));
            }
            if t.context_window == 0 {
                errors.push(ValidationError::new(
                    format!("{path}.context_window"),
                    "must be at least 1",
                ));
            }
            if let Some(n) = t.default_max_tokens
                && !(1..=t.context_window).contains(&n)
            {
                errors.push(ValidationError::new(
                    format!("{path}.default_max_tokens"),
                    format!(
                        "must be between 1 and the context window ({}), not {n}",
                        t.context_window
                    ),
                ));
            }
            for (field, v) in [("input", t.price.input), ("output", t.price.output)] {
                if !(v >= 0.0 && v.is_finite()) {
                    errors.push(ValidationError::new(
                        format!("{path}.price.{field}"),
                        format!("must be zero or more, not {v}"),
                    ));
                }
            }
            targets.push(TargetParams {
                name: t.name.clone(),
                provider: crate::id::ProviderId::new(providers.intern(&t.provider)),
                model: t.model.clone(),
                context_window: t.context_window,
                default_max_tokens: t.default_max_tokens,
                capabilities: capabilities(&format!("{path}.capabilities"), &t.capabilities)
                    .unwrap_or_else(|e| {
                        errors.push(e);
                        Capabilities::NONE
                    }),
                price: Price {
                    input_per_mtok: t.price.input,
                    output_per_mtok: t.price.output,
                },
                breaker: t
                    .breaker
                    .resolve(&format!("{path}.breaker"), &default_breaker)
                    .unwrap_or_else(|e| {
                        errors.push(e);
                        default_breaker
                    }),
                limits: t
                    .limits
                    .resolve(&format!("{path}.limits"))
                    .unwrap_or_else(|e| {
                        errors.push(e);
                        LimitParams::default()
                    }),
                cost_cap: match t.cost_cap {
                    None => None,
                    Some(b) if !(b.usd.is_finite() && b.usd > 0.0) => {
                        errors.push(ValidationError::new(
                            format!("{path}.cost_cap.usd"),
                            "must be above zero",
                        ));
                        None
                    }
                    Some(b) => match positive(
                        format!("{path}.cost_cap.window"),
                        b.window,
                        Duration::from_secs(3600),
                    ) {
                        Ok(window) => Some(crate::target::CostCap { usd: b.usd, window }),
                        Err(e) => {
                            errors.push(e);
                            None
                        }
                    },
                },
                sla: match t.sla {
                    Some(x) if !(x > 0.0 && x < 1.0) => {
                        errors.push(ValidationError::new(
                            format!("{path}.sla"),
                            format!("is a ratio between 0 and 1, such as 0.999, not {x}"),
                        ));
                        None
                    }
                    x => x,
                },
            });
        }
        let mut routes = Vec::with_capacity(config.routes.len());
        for (i, r) in config.routes.iter().enumerate() {
            let (members, policy) = match route_targets(i, r, &targets) {
                Ok(x) => x,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let fallback = match &r.fallback {
                None => None,
                Some(name) if *name == r.name => {
                    errors.push(ValidationError::new(
                        format!("routes[{i}].fallback"),
                        "a route cannot fall back to itself",
                    ));
                    None
                }
                Some(name) => {
                    let found = config
                        .routes
                        .iter()
                        .position(|x| x.name == *name)
                        .map(|k| RouteId::new(k as u32));
                    if found.is_none() {
                        errors.push(ValidationError::new(
                            format!("routes[{i}].fallback"),
                            format!("unknown route `{name}`"),
                        ));
                    }
                    found
                }
            };
            let resume = match r.resume {
                ResumeConfig::None => ResumeMode::None,
                ResumeConfig::Prefill => ResumeMode::Prefill,
            };
            if resume == ResumeMode::Prefill
                && !members.iter().any(|t| {
                    targets[t.index()]
                        .capabilities
                        .contains(Capabilities::PREFILL)
                })
            {
                errors.push(ValidationError::new(
                    format!("routes[{i}].resume"),
                    format!(
                        "route `{}` resumes broken streams with `prefill`, but none of its \
                         targets has the `prefill` capability (add it to a target's \
                         `capabilities`)",
                        r.name
                    ),
                ));
            }
            routes.push(RouteParams {
                name: r.name.clone(),
                members,
                policy,
                fallback,
                resume,
            });
        }
        // Fallback chains must end: follow each one, at most one visit per route (only when
        // every route was built, so that the indices are the config's).
        let all_routes = routes.len() == config.routes.len();
        for (i, start) in routes.iter().enumerate().filter(|_| all_routes) {
            let mut seen = vec![false; routes.len()];
            seen[i] = true;
            let mut chain = vec![start.name.as_str()];
            let mut next = start.fallback;
            while let Some(id) = next {
                chain.push(&routes[id.index()].name);
                if seen[id.index()] {
                    errors.push(ValidationError::new(
                        format!("routes[{i}].fallback"),
                        format!("fallback cycle: {}", chain.join(" -> ")),
                    ));
                    break;
                }
                seen[id.index()] = true;
                next = routes[id.index()].fallback;
            }
        }
        let mut rules = Vec::with_capacity(config.rules.len());
        for (i, rule) in config.rules.iter().enumerate() {
            let path = format!("rules[{i}]");
            // Looked up in the config: a route in error is still a route a rule may name.
            let Some(route) = config
                .routes
                .iter()
                .position(|r| r.name == rule.route)
                .map(|k| RouteId::new(k as u32))
            else {
                errors.push(ValidationError::new(
                    format!("{path}.route"),
                    format!("unknown route `{}`", rule.route),
                ));
                continue;
            };
            let w = &rule.when;
            if let (Some(lo), Some(hi)) = (w.min_prompt_tokens, w.max_prompt_tokens)
                && lo > hi
            {
                errors.push(ValidationError::new(
                    format!("{path}.when.max_prompt_tokens"),
                    format!("is below min_prompt_tokens ({lo})"),
                ));
            }
            rules.push(RuleParams {
                when: RuleMatch {
                    route: w.route.clone(),
                    task: w.task.clone(),
                    min_prompt_tokens: w.min_prompt_tokens,
                    max_prompt_tokens: w.max_prompt_tokens,
                    stream: w.stream,
                    needs: capabilities(&format!("{path}.when.needs"), &w.needs).unwrap_or_else(
                        |e| {
                            errors.push(e);
                            Capabilities::NONE
                        },
                    ),
                },
                route,
            });
        }
        let plan = config.plan.resolve().map_err(|e| errors.push(e));
        let budget = config.retry_budget.resolve().map_err(|e| errors.push(e));
        let latency = config.latency.resolve().map_err(|e| errors.push(e));
        let alerts = config.alerts.resolve().map_err(|e| errors.push(e));
        let availability_kinds = match &config.availability.counts {
            None => crate::telemetry::default_availability_kinds(),
            Some(names) => {
                let mut kinds = [false; crate::outcome::ErrorKind::COUNT];
                for (i, n) in names.iter().enumerate() {
                    match crate::outcome::ErrorKind::from_label(n) {
                        Some(k) => kinds[k.index()] = true,
                        None => errors.push(ValidationError::new(
                            format!("availability.counts[{i}]"),
                            format!("unknown error kind `{n}`"),
                        )),
                    }
                }
                kinds
            }
        };
        let (Ok(plan), Ok(budget), Ok(latency), Ok(alerts), true) =
            (plan, budget, latency, alerts, errors.is_empty())
        else {
            return Err(errors);
        };
        Ok(RouterParams {
            providers,
            targets,
            routes,
            rules,
            plan,
            budget,
            latency,
            alerts,
            availability_kinds,
            panic_mode: match config.panic_mode {
                PanicModeConfig::FailFast => PanicMode::FailFast,
                PanicModeConfig::Bypass => PanicMode::Bypass,
            },
        })
    }
}

/// How many errors one file reports at most: past this, the file is more wrong than right.
pub const MAX_ERRORS: usize = 100;

/// One step of a serde field path (`routes[1].weights`).
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some((index, after)) = rest.split_once(']') {
            out.push(Step::Index(index.parse().ok()?));
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    Some(out)
}

/// List items taken out of the document, per list (its path in the original file) the
/// original indices removed, sorted: the document's paths and the file's differ by them.
type Shifts = std::collections::BTreeMap<String, Vec<usize>>;

/// A path in the document (items taken out) as a path in the original file.
fn to_original(path: &str, shifts: &Shifts) -> Option<String> {
    let mut out = String::new();
    for step in steps(path)? {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => {
                let mut j = i;
                for &r in shifts.get(&out).map_or(&[][..], Vec::as_slice) {
                    if r <= j {
                        j += 1;
                    } else {
                        break;
                    }
                }
                out.push_str(&format!("[{j}]"));
            }
        }
    }
    Some(if out.is_empty() { ".".to_owned() } else { out })
}

/// A path in the original file as a path in the document (items taken out before it).
fn to_document(path: &str, shifts: &Shifts) -> Option<String> {
    let (mut original, mut out) = (String::new(), String::new());
    for step in steps(path)? {
        match step {
            Step::Key(k) => {
                for s in [&mut original, &mut out] {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
            }
            Step::Index(j) => {
                let before = shifts
                    .get(&original)
                    .map_or(0, |r| r.iter().filter(|&&r| r < j).count());
                original.push_str(&format!("[{j}]"));
                out.push_str(&format!("[{}]", j - before));
            }
        }
    }
    Some(out)
}

/// Removes the node at `path` (a path in the original file) from `doc`; false when there is
/// no such node. A list item taken out is recorded in `shifts`, so the items after it keep
/// their names in the errors.
fn remove(doc: &mut serde_yaml::Value, path: &str, shifts: &mut Shifts) -> bool {
    let Some(in_doc) = to_document(path, shifts) else {
        return false;
    };
    let Some(steps) = steps(&in_doc) else {
        return false;
    };
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut node = doc;
    for step in parents {
        let next = match step {
            Step::Key(k) => node.get_mut(*k),
            Step::Index(i) => node.get_mut(*i),
        };
        let Some(next) = next else { return false };
        node = next;
    }
    match (last, node) {
        (Step::Key(k), serde_yaml::Value::Mapping(m)) => m.remove(*k).is_some(),
        (Step::Index(i), serde_yaml::Value::Sequence(seq)) if *i < seq.len() => {
            seq.remove(*i);
            let Some((list, index)) = path.rsplit_once('[') else {
                return true;
            };
            if let Ok(index) = index.trim_end_matches(']').parse::<usize>() {
                let removed = shifts.entry(list.to_owned()).or_default();
                let at = removed.partition_point(|&r| r < index);
                removed.insert(at, index);
            }
            true
        }
        _ => false,
    }
}

/// Parses YAML text into `T` and, when it does not fit, reports every field error it can
/// find, not only the first: each wrong node (an unknown field, a bad value) is reported,
/// taken out, and the document parsed again, up to [`MAX_ERRORS`]. An error that only its
/// own taking out caused (a required field now missing, at the node that held it) is not
/// reported: that node is taken out too, and collecting goes on past it. A list item taken
/// out keeps the items after it named as in the file. A YAML syntax error stops it at once.
///
/// The errors come sorted by position (line, then column).
pub fn parse_yaml_all<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> std::result::Result<T, Vec<ConfigError>> {
    let first = match super::parse_yaml::<T>(text, file) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let mut next = Some(first.path.clone());
    let mut errors = vec![first];
    let Ok(mut doc) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return Err(errors);
    };
    let mut removed: Vec<String> = Vec::new();
    let mut shifts = Shifts::new();
    // Each turn takes out one node, so the loop ends; the bound keeps it short.
    for _ in 0..MAX_ERRORS * 4 {
        if errors.len() >= MAX_ERRORS {
            break;
        }
        let Some(path) = next.take() else { break };
        if path.is_empty() || path == "." || !remove(&mut doc, &path, &mut shifts) {
            break;
        }
        removed.push(path);
        let err = match serde_path_to_error::deserialize::<_, T>(doc.clone()) {
            Ok(_) => break,
            Err(e) => e,
        };
        let Some(path) = to_original(&err.path().to_string(), &shifts) else {
            break;
        };
        let message = err.into_inner().to_string();
        let under = |p: &str, q: &str| {
            p == q
                || q == "."
                || p.strip_prefix(q)
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        };
        if removed.iter().any(|r| under(r, &path)) {
            // At a node that held one taken out: caused by the taking out, not by the file.
            // Take that node out too, silently (the root, or a node already out, ends it).
            next = Some(path);
            continue;
        }
        if removed.iter().any(|r| under(&path, r)) {
            break; // inside a node already taken out: cannot be
        }
        let (line, column) = locate(text, &path).unwrap_or((1, 1));
        next = Some(path.clone());
        errors.push(ConfigError {
            file: file.to_owned(),
            line,
            column,
            path,
            message,
        });
    }
    sort(&mut errors);
    Err(errors)
}

/// Sorts errors into file order: by line, then column, then field path; drops repeats.
pub fn sort(errors: &mut Vec<ConfigError>) {
    errors.sort_by(|a, b| (a.line, a.column, &a.path).cmp(&(b.line, b.column, &b.path)));
    errors.dedup();
}
