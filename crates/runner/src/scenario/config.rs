//! What a scenario file says, as written: the serde input types (`*Config`), each field
//! documented as `schemas/scenario.schema.json` shows it.

use serde::Deserialize;
use switchyard_core::config::RouterConfig;
use switchyard_core::time::Duration;
use switchyard_fake::distribution::DistributionConfig;
use switchyard_fake::fault::FaultConfig;

use crate::expect::ExpectationConfig;

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// The scenario's name: letters, digits, `-`, `_` and `.`; its reports go to
    /// `reports/NAME/`.
    pub name: String,
    /// What the scenario proves, shown at the top of its reports.
    #[serde(default)]
    pub description: String,
    /// Seeds every random choice; `--seed` overrides it. Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long traffic arrives (requests in flight then finish); at most 30 days, and
    /// at most 10 000 000 requests at the peak rate (or set `traffic.max_requests`).
    pub duration: Duration,
    /// The fake providers, each with its profile and faults.
    pub providers: Vec<ScenarioProviderConfig>,
    /// The router under test: targets, routes, rules, plan, breakers.
    pub router: RouterConfig,
    /// The requests: an arrival process and classes of requests.
    pub traffic: TrafficConfig,
    /// Operator actions on the timeline (drain, pin, freeze, force, restore).
    #[serde(default)]
    pub operator: Vec<OperatorConfig>,
    /// In live mode, send the traffic through a gateway: `switchyard` starts this project's
    /// gateway with the scenario's router in front of the fakes; a URL sends it to any
    /// OpenAI-compatible gateway (black box: the report shows what the client saw, and the
    /// fakes' counters what reached each provider).
    pub gateway: Option<String>,
    /// What must hold for the run to pass (exit 0); each is checked and reported.
    #[serde(default)]
    pub expect: Vec<ExpectationConfig>,
    /// Named router alternatives, for comparisons.
    #[serde(default)]
    pub variants: Vec<VariantConfig>,
    /// Run the router as a fleet of this many replicas (1 to 16) behind a load balancer: in
    /// simulation, N routers over a store model; live, N of this project's gateways sharing
    /// a `redis-server` the runner starts (docs/FLEET.md). Default: one router, no fleet.
    pub replicas: Option<u32>,
    /// How a fleet's requests are spread over its replicas: `round_robin` (default) or
    /// `random` (from the seed). Needs `replicas`.
    pub load_balance: Option<LoadBalanceConfig>,
    /// What a fleet's replicas share: `none` (each keeps its own breakers and limits: the
    /// default) or a store, `{ sync_every, lease_block, propagation_delay }`. Needs `replicas`.
    pub shared_state: Option<SharedStateConfig>,
    /// Faults of the shared store on the timeline: `{ kind: down | slow | partitioned, at,
    /// for }`, `slow` with a `delay`, `partitioned` with a `replica`. Needs a `shared_state`
    /// store.
    #[serde(default)]
    pub store_faults: Vec<StoreFaultConfig>,
    /// `run --duration`: the store faults that start after its end, taken out of
    /// `store_faults` (they do not happen) but still naming their phases, so that an
    /// expectation on them validates and is then not observed. Never in a file.
    #[serde(skip)]
    pub store_faults_after_end: Vec<StoreFaultConfig>,
}

/// How a fleet's requests are spread over its replicas.
#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalanceConfig {
    /// In turn.
    RoundRobin,
    /// At random, from the scenario's seed.
    Random,
}

/// `none`, or a store's settings.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema, PartialEq)]
#[serde(untagged)]
pub enum SharedStateConfig {
    /// `none`: every replica on its own.
    Nothing(NoSharedState),
    /// A shared store.
    Store(SharedStoreConfig),
}

/// The word `none`.
#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoSharedState {
    /// Nothing shared.
    None,
}

/// A fleet's shared store, as the simulator models it.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SharedStoreConfig {
    /// How often each replica syncs with the store (reads advisories, tops up its leases,
    /// beats): the bound on how stale its view is. 10ms to 1h; default 1s.
    #[serde(default = "default_sync_every")]
    pub sync_every: Duration,
    /// A lease block as a fraction of each shared limit (requests, tokens, cost cap): the
    /// most one replica holds, so the fleet's over-admission bound. Above 0, at most 1;
    /// default 0.05.
    #[serde(default = "default_lease_block")]
    pub lease_block: f64,
    /// One way, replica to store; a round trip must fit in the store timeout (half the sync
    /// period). Default 1ms.
    #[serde(default = "default_propagation_delay")]
    pub propagation_delay: Duration,
}

fn default_sync_every() -> Duration {
    Duration::from_secs(1)
}

fn default_lease_block() -> f64 {
    0.05
}

fn default_propagation_delay() -> Duration {
    Duration::from_millis(1)
}

/// A fault of the shared store.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreFaultConfig {
    /// Its name, for phases (`during:NAME`); default `store-KIND`.
    pub name: Option<String>,
    /// `down` (unreachable for every replica), `slow` (each way `delay` longer) or
    /// `partitioned` (unreachable from `replica`).
    pub kind: String,
    /// When it starts.
    pub at: Duration,
    /// How long it lasts.
    #[serde(rename = "for")]
    pub length: Duration,
    /// `slow`: the extra delay each way.
    pub delay: Option<Duration>,
    /// `partitioned`: the replica cut off (0 to `replicas` - 1).
    pub replica: Option<u32>,
}

fn default_seed() -> u64 {
    1
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioProviderConfig {
    /// The name router targets use as their `provider`.
    pub name: String,
    /// A profile name: `fake-providers/NAME.yaml` near the scenario, else the built-in profile
    /// NAME (`openai`, `anthropic`, `gemini`, `azure-openai`, `small-fast`, `zero-latency`); or a
    /// path ending in `.yaml` relative to the scenario.
    pub profile: String,
    /// Faults on the scenario's timeline (added to the profile's own).
    #[serde(default)]
    pub faults: Vec<FaultConfig>,
    /// Overrides of the profile's rate limits.
    pub requests_per_minute: Option<u64>,
    /// Overrides the profile's token rate limit (prompt and completion tokens a minute).
    pub tokens_per_minute: Option<u64>,
    /// Live mode: a fake already running at this URL (started with `switchyard fake serve`)
    /// instead of one the runner starts; the runner resets it and injects the scenario's
    /// faults through its `/_fake/` control API. Needed to put another gateway in front.
    pub url: Option<String>,
    /// Follow credentials: the router uses the newest valid key; the provider refuses a key
    /// from its `refused_from` on (401s: three within 60s take the key out of use; it is
    /// re-probed after a 5m cool-off, which doubles, up to 1h, each time the re-probe fails).
    #[serde(default)]
    pub keys: Vec<ScenarioKeyConfig>,
    /// Whether the provider continues an assistant prefill (default true). `false`: it
    /// answers a continuation of a broken stream (a route's `resume: prefill`) with a 400, as
    /// a model that refuses prefill does; the router then tries the next capable target.
    /// The profile's own `prefill: false` means the same. Both drivers: the simulated
    /// provider refuses, and the live fake is started (or set, through `/_fake/options`)
    /// with `prefill` off.
    #[serde(default = "default_prefill")]
    pub prefill: bool,
}

fn default_prefill() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioKeyConfig {
    /// The key's name in reports (never a key's value).
    pub name: String,
    /// The router may use the key from this time on (default: from the start); the newest
    /// valid key wins.
    pub valid_from: Option<Duration>,
    /// The key expires at this time (default: never).
    pub valid_until: Option<Duration>,
    /// The provider refuses the key (401) from this time on: revoked upstream.
    pub refused_from: Option<Duration>,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    /// Exactly one of `constant`, `poisson` (requests per second), `ramp`, `bursts`.
    pub arrival: ArrivalConfig,
    /// Kinds of request, drawn by `weight` (at least one).
    pub classes: Vec<ClassConfig>,
    /// Stop after this many requests even if the duration has not passed.
    pub max_requests: Option<u64>,
}

/// Rates are requests per second, above zero and at most 100 000.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrivalConfig {
    /// Requests evenly spaced at this rate.
    pub constant: Option<f64>,
    /// Requests at random (exponential gaps) at this mean rate.
    pub poisson: Option<f64>,
    /// A Poisson rate moving linearly from `from` at the start to `to` at the end.
    pub ramp: Option<RampConfig>,
    /// A Poisson rate of `rate`, raised to `burst_rate` for `for` at the start of every
    /// `every`.
    pub bursts: Option<BurstsConfig>,
}

#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RampConfig {
    /// The rate at the start, requests per second.
    pub from: f64,
    /// The rate at the end, requests per second.
    pub to: f64,
}

#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurstsConfig {
    /// The rate between bursts, requests per second.
    pub rate: f64,
    /// The rate during a burst, requests per second.
    pub burst_rate: f64,
    /// A burst starts at the start of every period this long.
    pub every: Duration,
    /// How long each burst lasts.
    #[serde(rename = "for")]
    pub length: Duration,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    /// The class's name, for `class:` scopes and reports.
    pub name: String,
    /// Relative share of the traffic.
    pub weight: f64,
    /// The route the application asks for.
    pub route: String,
    /// The requests' task tag, which the router's `task` rules match.
    pub task: Option<String>,
    /// Prompt tokens, as a distribution (`{ fixed: 300 }`, `{ lognormal: { p50: 300, p99: 4000 } }`);
    /// its p99 (or max) at most 2 000 000.
    pub prompt_tokens: DistributionConfig<f64>,
    /// The requests' `max_tokens`; default 512, at most 2 000 000.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Share of requests that stream (0..1); default 0.
    #[serde(default)]
    pub stream: f64,
    /// Capabilities the requests need (`streaming`, `tools`, `json_mode`, `vision`,
    /// `prefill`): only targets that declare them are used.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Callers give up on (disconnect from) a request still running this long after it was
    /// sent, as a client-side timeout does; the request is counted `abandoned`. Default never.
    pub abandon_after: Option<Duration>,
}

fn default_max_tokens() -> u32 {
    512
}

/// One operator action: `at` plus exactly one of the actions.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// When the action happens, from the start of the run.
    pub at: Duration,
    /// Drain this target.
    pub drain: Option<String>,
    /// Pin a route: `{ route: chat, target: claude }`.
    pub pin: Option<PinConfig>,
    /// Freeze automatic failover on a route, or `all`.
    pub freeze: Option<String>,
    /// Force a breaker: `{ target: openai-4o, mode: forced_open }`.
    pub force: Option<ForceConfig>,
    /// Undo overrides on a target or a route name, or `all`.
    pub restore: Option<String>,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PinConfig {
    /// The route to pin.
    pub route: String,
    /// One of the route's targets, which then takes all of its requests.
    pub target: String,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForceConfig {
    /// The target whose breaker is forced.
    pub target: String,
    /// `forced_open`, `disabled`, `metrics_only` or `automatic`.
    pub mode: String,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    /// The variant's name in `compare` reports.
    pub name: String,
    /// The router this variant runs, on the same providers, traffic and seeds.
    pub router: RouterConfig,
    /// In a fleet: what this variant's replicas share (default: the scenario's
    /// `shared_state`), to compare sharing with `none` side by side.
    pub shared_state: Option<SharedStateConfig>,
}
