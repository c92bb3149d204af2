//! Router configuration: serde `*Config` types read from YAML, validated into `*Params`.
//!
//! Every config struct denies unknown fields, names its fields in `snake_case` and takes
//! durations as humane strings (`250ms`, `2m`). Defaults are documented on the fields.
//! [`load_router`] parses and validates a file's text; any error names the file, line,
//! column and field path, whether serde found it (a wrong type, an unknown field) or
//! validation did (an unknown target in a route, a fallback cycle, zero weights).

mod all_errors;
mod locate;
mod routes;
mod sections;
mod validate;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::router::RouterParams;
use crate::time::Duration;

pub use all_errors::{MAX_ERRORS, Pruned, parse_yaml_all, parse_yaml_pruned, sort};
pub use locate::{locate, locate_field};
pub use sections::{MAX_ALERT_SLOTS, MAX_ALERT_SPAN, MIN_ALERT_SLOT};
pub use validate::{ValidationError, validate_router};

/// A router: its targets, routes, rules and the knobs of failover.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// The models requests can be sent to, each named once; at least one.
    pub targets: Vec<TargetConfig>,
    /// The names requests ask for, each with its targets and policy, each named once; at
    /// least one.
    pub routes: Vec<RouteConfig>,
    /// Checked in order before the route lookup; the first match picks the route.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Attempts, timeouts and backoff of every request.
    #[serde(default)]
    pub plan: PlanConfig,
    /// How many retries and hedges all requests together may add.
    #[serde(default)]
    pub retry_budget: BudgetConfig,
    /// Breaker defaults for every target (a target's own `breaker` overrides fields).
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// How each target's latency estimate (what `least_latency` routes compare) moves.
    #[serde(default)]
    pub latency: LatencyConfig,
    /// `fail_fast` (default) or `bypass`: what a route does when every target is open.
    #[serde(default)]
    pub panic_mode: PanicModeConfig,
    /// Latency alerts: a target's recent percentile against its baseline and its peers.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// How availability is counted.
    #[serde(default)]
    pub availability: AvailabilityConfig,
}

/// Latency alerts: a target alerts when its recent latency percentile is far above its own
/// baseline or its peers'.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// The recent window; default 1m, at most 30 days.
    pub short: Option<Duration>,
    /// The baseline window before it; default 15m, at most 30 days.
    pub long: Option<Duration>,
    /// Evaluation step; default 10s. At least 1ms, and `(short + long) / slot` is at most
    /// 10 000: every target keeps a ring of that many slots in memory.
    pub slot: Option<Duration>,
    /// Percentile compared (0..1); default 0.95.
    pub quantile: Option<f64>,
    /// Alert when recent > this × baseline; default 2. `0` turns the rule off.
    pub vs_baseline: Option<f64>,
    /// Alert when recent > this × the median of the other targets; default off.
    pub vs_peers: Option<f64>,
    /// Samples needed in a window; default 20.
    pub min_samples: Option<u32>,
}

/// Which failures count against a target's availability.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityConfig {
    /// Error kinds that count against availability; default: those that count against
    /// health (not rate limits, bad requests, context length or content filters).
    pub counts: Option<Vec<String>>,
}

/// A spending cap: once a target spent `usd` within the current window, it gets no traffic
/// until the next window starts.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostCapConfig {
    /// USD per window.
    pub usd: f64,
    /// The window; default 1h.
    pub window: Option<Duration>,
}

/// What a route does when the breaker of every one of its targets is open.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PanicModeConfig {
    /// Fail the request at once, as `no_target_available`.
    #[default]
    FailFast,
    /// Ignore the breakers and spread over every target: a degraded answer beats none. Not
    /// over a target an operator forced open (`forced_open` admits nothing).
    Bypass,
}

/// A model at a provider that requests can be sent to.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The target's name, unique among targets, not empty; routes list targets by it, and
    /// a request may name a target directly.
    pub name: String,
    /// The provider account (`openai`, `anthropic-prod`).
    pub provider: String,
    /// The vendor's model name.
    pub model: String,
    /// Prompt plus output tokens; default 128000.
    #[serde(default = "default_context_window")]
    pub context_window: u32,
    /// `max_tokens` sent for a request that sets none, to a vendor that requires one
    /// (Anthropic), and counted for such a request against the target's `context_window` and
    /// in what it reserves of `limits.tokens_per_minute`; 1
    /// to `context_window`; default 4096 (an Anthropic model with a smaller window should set
    /// it lower, or takes no request without `max_tokens`). Never sent (nor counted) where the
    /// vendor has its own default (OpenAI, Azure OpenAI, Gemini).
    pub default_max_tokens: Option<u32>,
    /// Any of `streaming`, `tools`, `json_mode`, `vision`, `prefill` (the model continues a
    /// final assistant message, so it can resume a stream another target broke: see a
    /// route's `resume`); default `[streaming]`.
    #[serde(default = "default_capabilities")]
    pub capabilities: Vec<String>,
    /// USD per million tokens; default free.
    #[serde(default)]
    pub price: PriceConfig,
    /// Client-side rate limits and how 429s park the target.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// This target's breaker: fields set here override the router's `breaker`.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Stop routing to this target once it spent this much in the window.
    pub cost_cap: Option<CostCapConfig>,
    /// Availability objective, such as 0.999.
    pub sla: Option<f64>,
}

fn default_context_window() -> u32 {
    128_000
}

fn default_capabilities() -> Vec<String> {
    vec!["streaming".to_owned()]
}

/// What a target's tokens cost, for cost reports, cost caps and `least_cost` routes.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// USD per million input (prompt) tokens.
    #[serde(default)]
    pub input: f64,
    /// USD per million output (completion) tokens.
    #[serde(default)]
    pub output: f64,
    /// USD per million cached input tokens (those a reply's usage says were read from the
    /// provider's prompt cache: OpenAI's `cached_tokens`, Anthropic's `cache_read_input_tokens`,
    /// Gemini's `cachedContentTokenCount`); default: `input`.
    #[serde(default)]
    pub cached_input: Option<f64>,
}

/// A target's rate limits as the router keeps them: buckets that spill traffic to other
/// targets before the provider refuses, and parking after a 429.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Client-side request bucket: at most this many a minute, whatever the provider allows
    /// (see `learn`); default none.
    pub requests_per_minute: Option<u64>,
    /// Client-side token bucket: each attempt takes its prompt + max output (the request's `max_tokens`, or for a request without one the target's `default_max_tokens`, 4096 for Anthropic unless set, none for the other vendors) when it is sent, and gets none of it back; this limit is a ceiling on what is sent, whatever the provider allows (see `learn`); default none.
    pub tokens_per_minute: Option<u64>,
    /// Learn from rate-limit headers: a bucket for a limit not configured here, set to the remaining count each reply gives; and what is left of a configured bucket a reply can lower, never raise: to what the provider has left, less what its limit has over the configured one (others' use of the key counts here too); default true.
    pub learn: Option<bool>,
    /// How long a 429 without Retry-After parks the target; default 1s.
    pub default_park: Option<Duration>,
}

/// A circuit breaker's settings: when a failing target stops getting traffic and how it
/// gets it back. Every field is optional; an unset field takes the router's `breaker`
/// value, else the default given.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Trip after this many counted failures in a row (0 = off); default 5.
    pub consecutive_failures: Option<u32>,
    /// Trip at this failure rate over the window (0..1]; default 0.5.
    pub failure_rate: Option<f64>,
    /// Trip at this slow-call rate over the window (0..1]; default 1.0.
    pub slow_call_rate: Option<f64>,
    /// A first token later than this is a slow call; default 30s.
    pub slow_call: Option<Duration>,
    /// Sliding window; default 30s.
    pub window: Option<Duration>,
    /// Calls in the window before the rate rules apply; default 20.
    pub min_calls: Option<u32>,
    /// First cooldown; default 5s.
    pub open_for: Option<Duration>,
    /// Longest cooldown, whatever the re-opens or a Retry-After; default 20s (so a provider
    /// that recovers is probed within 20 s and gets traffic back within 30 s).
    pub open_max: Option<Duration>,
    /// Probes in flight at once while half-open; default 1.
    pub probes: Option<u32>,
    /// Successful probes before recovering; default 3.
    pub probe_successes: Option<u32>,
    /// Length of the ramp back to full share; default 30s.
    pub recovery: Option<Duration>,
    /// Share at the start of the ramp (0..1]; default 0.1.
    pub recovery_start_share: Option<f64>,
}

/// The policy kinds, as written in config.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// Exactly one target.
    Static,
    /// Tiers of targets: the first tier with an available target, at random within it.
    Priority,
    /// At random in proportion to `weights`.
    Weighted,
    /// Each available target in turn.
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// The better of two random targets by recent latency and load.
    LeastLatency,
    /// The cheapest target for the request's estimated tokens.
    LeastCost,
    /// The target with the smallest context window that fits the request.
    CapabilityMatch,
}

/// A name requests ask for (their `model`), the targets behind it and how it picks one.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The route's name, unique among routes; a request's `model` names it.
    pub name: String,
    /// How the route picks among its available targets.
    pub policy: PolicyKind,
    /// The route's targets, in order (for `priority`, give `tiers` instead).
    #[serde(default)]
    pub targets: Vec<String>,
    /// `weighted` only: one weight per target.
    #[serde(default)]
    pub weights: Vec<u32>,
    /// `priority` only: tiers of targets, most preferred first.
    #[serde(default)]
    pub tiers: Vec<Vec<String>>,
    /// A route to continue with when no target of this one can take the request.
    pub fallback: Option<String>,
    /// What happens to a stream that breaks after its first token reached the caller (a cut,
    /// a stall, a malformed event): `none` (default) ends the request with that error;
    /// `prefill` continues it on another of the route's targets with the `prefill`
    /// capability, which is sent the text delivered so far as an assistant prefill and
    /// streams only the rest. Needs at least one target with `prefill`.
    #[serde(default)]
    pub resume: ResumeConfig,
}

/// A route's `resume`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResumeConfig {
    /// A stream that breaks after its first token ends the request with its error.
    #[default]
    None,
    /// Continue it on another target with the `prefill` capability.
    Prefill,
}

/// A rule: requests that match `when` go to `route` instead of the one they named.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The conditions, all of which must hold; leave one out to match anything. Default:
    /// every request matches.
    #[serde(default)]
    pub when: RuleMatchConfig,
    /// The route a matching request goes to.
    pub route: String,
}

/// A rule's conditions; a condition left out matches any request.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleMatchConfig {
    /// The route name the request asked for (may be a virtual name such as `auto`).
    pub route: Option<String>,
    /// The request's task tag, exactly; a request without one does not match.
    pub task: Option<String>,
    /// At least this many estimated prompt tokens.
    pub min_prompt_tokens: Option<u32>,
    /// At most this many estimated prompt tokens.
    pub max_prompt_tokens: Option<u32>,
    /// Whether the request streams.
    pub stream: Option<bool>,
    /// Capabilities the request must need, all of them (`streaming`, `tools`, `json_mode`,
    /// `vision`, `prefill`); a streamed request needs `streaming`.
    #[serde(default)]
    pub needs: Vec<String>,
}

/// How each request is tried: attempts, timeouts, backoff and hedging.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// Attempts per request, the first included (1..=8); default 3.
    pub max_attempts: Option<u32>,
    /// Longest non-streaming attempt, the whole reply; default 60s. Also a streaming
    /// attempt's wait for its first token unless `first_token_timeout` is set.
    pub attempt_timeout: Option<Duration>,
    /// Longest a streaming attempt waits for its first token; default `attempt_timeout`.
    pub first_token_timeout: Option<Duration>,
    /// Longest gap between two chunks of a stream after its first token; default 30s.
    pub idle_timeout: Option<Duration>,
    /// Longest a whole stream may last from its send; default none (only `idle_timeout`).
    pub stream_timeout: Option<Duration>,
    /// The longest a provider's Retry-After or rate-limit reset is taken to mean, for parking,
    /// same-target retries and breaker cooldowns (which `open_max` also caps); default 20s.
    pub retry_after_max: Option<Duration>,
    /// The longest a request waits for a parked target (or a same-target Retry-After) before
    /// it fails fast, with a Retry-After for the caller: as `rate_limited` when it could make
    /// no attempt, else with its last error (e.g. `overloaded` after a 529); default 2s.
    pub park_wait_max: Option<Duration>,
    /// Overall limit per request, retries and fallbacks included; default 2m.
    pub deadline: Option<Duration>,
    /// First backoff before retrying the same target; default 100ms.
    pub backoff_base: Option<Duration>,
    /// Longest backoff; default 5s.
    pub backoff_max: Option<Duration>,
    /// Hedge to another target after this long without a first token; default off.
    pub hedge_after: Option<Duration>,
}

/// The retry budget: retries and hedges may add at most `ratio` of recent requests, plus
/// `min_per_second`.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Retries allowed per request (0.2 = 20 % extra load); default 0.2.
    pub ratio: Option<f64>,
    /// Retries allowed per second regardless of traffic; default 10.
    pub min_per_second: Option<f64>,
    /// How far back traffic counts; default 10s.
    pub window: Option<Duration>,
}

/// The latency estimate of each target: it jumps to a slower observation at once and
/// decays towards faster ones.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    /// Time constant of the peak-EWMA decay; default 10s.
    pub decay: Option<Duration>,
    /// Latency a failure or a 429 counts as; default 5s.
    pub failure_penalty: Option<Duration>,
}

/// A config file that could not be used, with where and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {}{message}", field_prefix(.path))]
pub struct ConfigError {
    /// The file, as the caller named it.
    pub file: String,
    /// The line, from 1 (1 when nothing better is known).
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
    /// The field path (`routes[0].weights`), empty for the document itself.
    pub path: String,
    /// What is wrong, without the location.
    pub message: String,
}

fn field_prefix(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("field `{path}`: ")
    }
}

/// Parses YAML text into `T`, with errors that name file, line, column and field path.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<T, ConfigError> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // The field itself (its key, or its item), where it is in the text: serde_yaml's
        // location is the value's.
        let (line, column) = locate_field(text, &path)
            .or_else(|| inner.location().map(|l| (l.line(), l.column())))
            .or_else(|| locate(text, &path))
            .unwrap_or((1, 1));
        // serde_yaml appends its own " at line L column C", and may start with the path:
        // the prefix says both already.
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        let message = match message.split_once(": ") {
            Some((head, rest)) if !head.contains(' ') && path.starts_with(head) => rest,
            _ => message,
        }
        .to_owned();
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            path,
            message,
        }
    })
}

/// Parses and validates a router config.
pub fn load_router(text: &str, file: &str) -> Result<RouterParams, ConfigError> {
    let config: RouterConfig = parse_yaml(text, file)?;
    RouterParams::try_from(&config).map_err(|e| e.at(text, file))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
