//! `RouterConfig` → `RouterParams`: every check that serde cannot do.

use super::sections::{capabilities, positive};
use super::{ConfigError, CostCapConfig, PanicModeConfig, RouterConfig, TargetConfig, locate};
use crate::health::{BreakerParams, LimitParams};
use crate::id::{Interner, RouteId};
use crate::request::Capabilities;
use crate::router::{PanicMode, RouterParams};
use crate::rule::{RuleMatch, RuleParams};
use crate::target::{CostCap, Price, TargetParams};
use crate::time::Duration;

/// A semantic error: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("field `{path}`: {message}")]
pub struct ValidationError {
    /// The field's path in the config (`routes[0].weights`, `providers[1].keys[0].source`).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl ValidationError {
    /// An error at `path`.
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

pub(super) type Result<T> = std::result::Result<T, ValidationError>;

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
    check_names(config, &mut errors);
    let (providers, targets) = targets(config, &mut errors);
    let routes = super::routes::routes(config, &targets, &mut errors);
    let rules = rules(config, &mut errors);
    let plan = config.plan.resolve().map_err(|e| errors.push(e));
    let budget = config.retry_budget.resolve().map_err(|e| errors.push(e));
    let latency = config.latency.resolve().map_err(|e| errors.push(e));
    let alerts = config.alerts.resolve().map_err(|e| errors.push(e));
    let availability_kinds = availability_kinds(config, &mut errors);
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

/// At least one target and one route, each name once.
fn check_names(config: &RouterConfig, errors: &mut Vec<ValidationError>) {
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
}

/// Every target, with the router's breaker defaults under its own; providers interned in
/// the order targets name them.
fn targets(
    config: &RouterConfig,
    errors: &mut Vec<ValidationError>,
) -> (Interner, Vec<TargetParams>) {
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
        check_target(&path, t, errors);
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
                cached_input_per_mtok: t.price.cached_input.unwrap_or(t.price.input),
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
            cost_cap: cost_cap(&path, t.cost_cap, errors),
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
    (providers, targets)
}

/// A target's name, context window, default `max_tokens` and prices.
fn check_target(path: &str, t: &TargetConfig, errors: &mut Vec<ValidationError>) {
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
    let prices = [
        ("input", Some(t.price.input)),
        ("output", Some(t.price.output)),
        ("cached_input", t.price.cached_input),
    ];
    for (field, v) in prices.into_iter().filter_map(|(f, v)| Some((f, v?))) {
        if !(v >= 0.0 && v.is_finite()) {
            errors.push(ValidationError::new(
                format!("{path}.price.{field}"),
                format!("must be zero or more, not {v}"),
            ));
        }
    }
}

/// A target's cost cap: above zero, over a window (default 1h).
fn cost_cap(
    path: &str,
    cap: Option<CostCapConfig>,
    errors: &mut Vec<ValidationError>,
) -> Option<CostCap> {
    match cap {
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
            Ok(window) => Some(CostCap { usd: b.usd, window }),
            Err(e) => {
                errors.push(e);
                None
            }
        },
    }
}

/// The rules, in order; a rule names its route by name (a route in error still counts).
fn rules(config: &RouterConfig, errors: &mut Vec<ValidationError>) -> Vec<RuleParams> {
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
                format!(
                    "unknown route `{}`; routes: {}",
                    rule.route,
                    super::routes::route_names(config)
                ),
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
                needs: capabilities(&format!("{path}.when.needs"), &w.needs).unwrap_or_else(|e| {
                    errors.push(e);
                    Capabilities::NONE
                }),
            },
            route,
        });
    }
    rules
}

/// The error kinds that count against availability (a default set when not given).
fn availability_kinds(
    config: &RouterConfig,
    errors: &mut Vec<ValidationError>,
) -> [bool; crate::outcome::ErrorKind::COUNT] {
    match &config.availability.counts {
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
    }
}
