//! Scenario files: the providers and their faults, the router, the traffic, the operator's
//! timeline and the expectations. One YAML file per situation worth proving.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use switchyard_core::config::{ConfigError, RouterConfig, ValidationError, parse_yaml};
use switchyard_core::overrides::Override;
use switchyard_core::request::Capabilities;
use switchyard_core::router::{OverrideCommand, RouterParams};
use switchyard_core::time::{Duration, Instant};
use switchyard_fake::distribution::DistributionConfig;
use switchyard_fake::fault::FaultConfig;
use switchyard_fake::profile::ProfileParams;
use switchyard_sim::traffic::{Arrival, ClassParams, TrafficParams};

use crate::expect::{ExpectationConfig, ExpectationParams};

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
}

/// A provider in a validated scenario.
#[derive(Clone, Debug)]
pub struct ScenarioProvider {
    pub name: String,
    pub profile: ProfileParams,
    /// The scenario's own faults (the profile's defaults are inside `profile`).
    pub faults: Vec<FaultConfig>,
    pub keys: Vec<switchyard_sim::SimKey>,
    /// A fake already running there (live mode).
    pub url: Option<String>,
    /// The provider continues an assistant prefill (else it refuses it with a 400): the
    /// scenario's `prefill` and the profile's both (`profile.prefill` is set to it).
    pub prefill: bool,
}

/// Where live traffic goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayMode {
    /// To the router, in process.
    Direct,
    /// Through this project's gateway, started by the runner.
    Switchyard,
    /// Through any OpenAI-compatible gateway at this URL.
    External(String),
}

/// A named window of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseWindow {
    pub name: String,
    pub from: Instant,
    pub to: Instant,
}

/// A named fault's window and provider, for failover figures.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWindow {
    pub name: String,
    pub provider: String,
    pub from: Instant,
    pub to: Instant,
}

#[derive(Clone, Debug)]
pub struct ScenarioParams {
    pub name: String,
    pub description: String,
    pub file: String,
    pub seed: u64,
    pub duration: Duration,
    pub providers: Vec<ScenarioProvider>,
    pub router: RouterParams,
    pub traffic: TrafficParams,
    pub operator: Vec<(Instant, Override)>,
    pub expectations: Vec<ExpectationParams>,
    pub variants: Vec<(String, RouterParams)>,
    pub faults: Vec<FaultWindow>,
    pub phases: Vec<PhaseWindow>,
    /// Live mode: where the traffic goes.
    pub gateway: GatewayMode,
}

/// Bounds that keep every scenario that validates runnable: a run's requests are simulated
/// one by one (or sent for real, in live mode), so rates times duration is work and memory.
///
/// The longest run: a month, simulated or live.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The highest arrival rate, requests per second (any arrival kind, bursts included).
pub const MAX_RATE: f64 = 100_000.0;
/// Requests in one run, `peak rate × duration` or `max_requests` if lower: a hundred times
/// the largest shipped scenario, a few minutes of simulation.
pub const MAX_REQUESTS: u64 = 10_000_000;
/// A class's `max_tokens`, and the typical largest prompt (`prompt_tokens`' p99 or max): the
/// fakes write out every token of a reply, and live mode sends every token of a prompt.
pub const MAX_TOKENS: u32 = 2_000_000;

fn err(path: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError::new(path, message)
}

/// Where a scenario's profile comes from: a file, or the binary.
enum ProfileSource {
    File(PathBuf),
    Builtin(&'static str),
}

/// `fake-providers/NAME.yaml` in the scenario's folder or up to three above it, else the
/// built-in profile NAME; a `.yaml` path is relative to the scenario and never built in.
fn find_profile(scenario_dir: &Path, profile: &str) -> Option<ProfileSource> {
    if profile.ends_with(".yaml") || profile.ends_with(".yml") {
        let p = scenario_dir.join(profile);
        return p.exists().then_some(ProfileSource::File(p));
    }
    let file = format!("{profile}.yaml");
    scenario_dir
        .ancestors()
        .take(4)
        .map(|d| d.join("fake-providers").join(&file))
        .find(|p| p.exists())
        .map(ProfileSource::File)
        .or_else(|| switchyard_fake::profile::builtin::builtin(profile).map(ProfileSource::Builtin))
}

/// Loads a scenario file: parses, validates, reads its profiles.
pub fn load(path: &Path) -> Result<ScenarioParams, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: 1,
        column: 1,
        path: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    load_text(&text, &file, path.parent().unwrap_or(Path::new(".")))
}

/// Parses and validates a scenario's text, named `file` in errors; profiles are looked up
/// near `dir` as [`load`] does (the only files it reads).
pub fn load_text(text: &str, file: &str, dir: &Path) -> Result<ScenarioParams, ConfigError> {
    let config: ScenarioConfig = parse_yaml(text, file)?;
    resolve(&config, dir, file).map_err(|errors| {
        errors
            .into_iter()
            .next()
            .unwrap_or_else(|| err("", "not a valid scenario"))
            .at(text, file)
    })
}

/// As [`load_text`], with every error it can find, in file order: every field that does not
/// parse, or, when all do, every semantic error (checks that need an earlier part, such as
/// the expectations needing a valid router and traffic, are skipped when that part is wrong).
pub fn load_text_all(
    text: &str,
    file: &str,
    dir: &Path,
) -> Result<ScenarioParams, Vec<ConfigError>> {
    let config: ScenarioConfig = switchyard_core::config::parse_yaml_all(text, file)?;
    resolve(&config, dir, file).map_err(|errors| {
        let mut errors: Vec<ConfigError> = errors.into_iter().map(|e| e.at(text, file)).collect();
        switchyard_core::config::sort(&mut errors);
        errors
    })
}

/// A scenario's name names its report folder (`reports/NAME/`), so it must be one safe file
/// name: letters, digits, `.`, `_` and `-`, not starting with `.` (no `..`, no `/`).
fn check_name(name: &str) -> Result<(), ValidationError> {
    let safe = name
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-'));
    if name.is_empty() || name.starts_with('.') || !safe {
        return Err(err(
            "name",
            format!(
                "`{name}` cannot name a report folder: use letters, digits, `.`, `_` and `-`, \
                 not starting with `.`"
            ),
        ));
    }
    Ok(())
}

/// Every semantic error of the scenario, in the order found (each independent part checked;
/// a part that later parts need stops the checks when it is wrong).
fn resolve(
    c: &ScenarioConfig,
    dir: &Path,
    file: &str,
) -> Result<ScenarioParams, Vec<ValidationError>> {
    let mut errors: Vec<ValidationError> = Vec::new();
    if let Err(e) = check_name(&c.name) {
        errors.push(e);
    }
    if c.duration.is_zero() {
        errors.push(err("duration", "must be longer than zero"));
    }
    if c.duration > MAX_DURATION {
        errors.push(err(
            "duration",
            format!("must be at most {MAX_DURATION}, not {}", c.duration),
        ));
    }
    let router = match RouterParams::try_from(&c.router) {
        Ok(r) => Some(r),
        Err(mut e) => {
            e.path = format!("router.{}", e.path);
            errors.push(e);
            None
        }
    };
    let mut providers = Vec::new();
    let mut faults = Vec::new();
    // Providers whose own errors are reported: targets on them are not checked again.
    let mut broken: Vec<&str> = Vec::new();
    for (i, p) in c.providers.iter().enumerate() {
        match provider(c, i, dir, &mut faults) {
            Ok(p) => providers.push(p),
            Err(e) => {
                errors.extend(e);
                broken.push(&p.name);
            }
        }
    }
    let Some(router) = router else {
        return Err(errors);
    };
    for (i, t) in router.targets.iter().enumerate() {
        let pname = router.providers.name(t.provider.index() as u32);
        if broken.contains(&pname) {
            continue;
        }
        let Some(p) = providers.iter().find(|p| p.name == pname) else {
            errors.push(err(
                format!("router.targets[{i}].provider"),
                format!("no provider `{pname}` in this scenario's providers"),
            ));
            continue;
        };
        if p.profile.model(&t.model).is_none() {
            let models: Vec<&str> = p.profile.models.iter().map(|m| m.name.as_str()).collect();
            errors.push(err(
                format!("router.targets[{i}].model"),
                format!(
                    "provider `{pname}` serves {}, not `{}`",
                    models.join(", "),
                    t.model
                ),
            ));
        }
    }
    let gateway = match c.gateway.as_deref() {
        None => GatewayMode::Direct,
        Some("switchyard") => GatewayMode::Switchyard,
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            GatewayMode::External(url.trim_end_matches('/').to_owned())
        }
        Some(other) => {
            errors.push(err(
                "gateway",
                format!("`{other}`: write `switchyard` or the URL of an OpenAI-compatible gateway"),
            ));
            GatewayMode::Direct
        }
    };
    let mut variants = Vec::new();
    for (i, v) in c.variants.iter().enumerate() {
        match RouterParams::try_from(&v.router) {
            Ok(r) => variants.push((v.name.clone(), r)),
            Err(mut e) => {
                e.path = format!("variants[{i}].router.{}", e.path);
                errors.push(e);
            }
        }
    }
    let operator = resolve_operator(&c.operator, &router, c.duration).map_err(|e| errors.push(e));
    let traffic = match resolve_traffic(&c.traffic, &router, c.duration) {
        Ok(t) => t,
        Err(e) => {
            // The expectations are checked against the traffic's classes.
            errors.push(e);
            return Err(errors);
        }
    };
    let mut phases = Vec::new();
    let end = Instant::ZERO + c.duration;
    for f in &faults {
        phases.push(PhaseWindow {
            name: format!("before:{}", f.name),
            from: Instant::ZERO,
            to: f.from,
        });
        phases.push(PhaseWindow {
            name: format!("during:{}", f.name),
            from: f.from,
            to: f.to.min(end),
        });
        phases.push(PhaseWindow {
            name: format!("after:{}", f.name),
            from: f.to.min(end),
            to: end,
        });
    }
    let mut expectations = Vec::new();
    // With a provider in error, its faults are unknown: the expectations would be refused
    // for naming them, which says nothing new.
    if broken.is_empty() {
        for (i, e) in c.expect.iter().enumerate() {
            match e.resolve(
                &format!("expect[{i}]"),
                &router,
                &traffic,
                &faults,
                &providers,
                &mut phases,
                end,
            ) {
                Ok(x) => expectations.push(x),
                Err(e) => errors.push(e),
            }
        }
    }
    let operator = match operator {
        Ok(o) if errors.is_empty() => o,
        _ => return Err(errors),
    };
    Ok(ScenarioParams {
        name: c.name.clone(),
        description: c.description.clone(),
        file: file.to_owned(),
        seed: c.seed,
        duration: c.duration,
        providers,
        router,
        traffic,
        operator,
        expectations,
        variants,
        faults,
        phases,
        gateway,
    })
}

/// One of the scenario's providers: its profile, faults and keys; its named faults go into
/// `faults`.
fn provider(
    c: &ScenarioConfig,
    i: usize,
    dir: &Path,
    faults: &mut Vec<FaultWindow>,
) -> Result<ScenarioProvider, Vec<ValidationError>> {
    let p = &c.providers[i];
    let path = format!("providers[{i}]");
    let mut errors = Vec::new();
    let found = find_profile(dir, &p.profile).ok_or_else(|| {
        vec![err(
            format!("{path}.profile"),
            format!(
                "no profile `{}` (looked for fake-providers/{}.yaml near the scenario; built in: {})",
                p.profile,
                p.profile,
                switchyard_fake::profile::builtin::builtin_names()
            ),
        )]
    })?;
    let (text, name) = match found {
        ProfileSource::File(found) => {
            let text = std::fs::read_to_string(&found).map_err(|e| {
                vec![err(
                    format!("{path}.profile"),
                    format!("cannot read {}: {e}", found.display()),
                )]
            })?;
            (text, found.display().to_string())
        }
        ProfileSource::Builtin(text) => (
            text.to_owned(),
            switchyard_fake::profile::builtin::builtin_file_name(&p.profile),
        ),
    };
    let mut profile = switchyard_fake::load_profile(&text, &name)
        .map_err(|e| vec![err(format!("{path}.profile"), e.to_string())])?;
    profile.name = p.name.clone();
    if p.requests_per_minute.is_some() {
        profile.requests_per_minute = p.requests_per_minute;
    }
    if p.tokens_per_minute.is_some() {
        profile.tokens_per_minute = p.tokens_per_minute;
    }
    // One field, one meaning: either `prefill: false` refuses, in both drivers.
    profile.prefill = profile.prefill && p.prefill;
    let prefill = profile.prefill;
    for (k, f) in p.faults.iter().enumerate() {
        let resolved = match f.resolve(Instant::ZERO) {
            Ok(r) => r,
            Err(e) => {
                errors.push(err(format!("{path}.faults[{k}]"), e));
                continue;
            }
        };
        if let Some(name) = &f.name {
            let from = resolved.activation.start;
            // A periodic (flapping) fault lasts to the end of the run.
            let to = match (resolved.activation.every, resolved.activation.duration) {
                (None, Some(d)) => from + d,
                _ => Instant::ZERO + c.duration,
            };
            if faults.iter().any(|w: &FaultWindow| w.name == *name) {
                errors.push(err(
                    format!("{path}.faults[{k}].name"),
                    format!("fault `{name}` is named twice"),
                ));
                continue;
            }
            faults.push(FaultWindow {
                name: name.clone(),
                provider: p.name.clone(),
                from,
                to,
            });
        }
        profile.faults.push(f.clone());
    }
    let at = |d: Option<Duration>| d.map(|d| Instant::ZERO + d);
    let keys = p
        .keys
        .iter()
        .map(|k| switchyard_sim::SimKey {
            name: k.name.clone(),
            valid_from: at(k.valid_from),
            valid_until: at(k.valid_until),
            refused_from: at(k.refused_from),
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ScenarioProvider {
        url: p.url.as_ref().map(|u| u.trim_end_matches('/').to_owned()),
        name: p.name.clone(),
        profile,
        faults: p.faults.clone(),
        keys,
        prefill,
    })
}

fn resolve_traffic(
    t: &TrafficConfig,
    router: &RouterParams,
    duration: Duration,
) -> Result<TrafficParams, ValidationError> {
    let a = &t.arrival;
    let rate_ok = |path: &str, r: f64| {
        if !(r.is_finite() && r > 0.0) {
            Err(err(path, format!("must be a rate above zero, not {r}")))
        } else if r > MAX_RATE {
            Err(err(
                path,
                format!("must be at most {MAX_RATE} requests per second, not {r}"),
            ))
        } else {
            Ok(r)
        }
    };
    let mut arrivals = Vec::new();
    if let Some(r) = a.constant {
        arrivals.push(Arrival::Constant {
            rate: rate_ok("traffic.arrival.constant", r)?,
        });
    }
    if let Some(r) = a.poisson {
        arrivals.push(Arrival::Poisson {
            rate: rate_ok("traffic.arrival.poisson", r)?,
        });
    }
    if let Some(RampConfig { from, to }) = a.ramp {
        arrivals.push(Arrival::Ramp {
            from: rate_ok("traffic.arrival.ramp.from", from)?,
            to: rate_ok("traffic.arrival.ramp.to", to)?,
        });
    }
    if let Some(b) = a.bursts {
        if b.every.is_zero() || b.length >= b.every {
            return Err(err(
                "traffic.arrival.bursts",
                "`for` must be shorter than `every`",
            ));
        }
        arrivals.push(Arrival::Bursts {
            rate: rate_ok("traffic.arrival.bursts.rate", b.rate)?,
            burst_rate: rate_ok("traffic.arrival.bursts.burst_rate", b.burst_rate)?,
            every: b.every,
            length: b.length,
        });
    }
    if arrivals.len() != 1 {
        return Err(err(
            "traffic.arrival",
            "write exactly one of constant, poisson, ramp, bursts",
        ));
    }
    // The peak rate over the whole run bounds the requests it makes.
    let peak = match arrivals.first() {
        Some(Arrival::Constant { rate } | Arrival::Poisson { rate }) => *rate,
        Some(Arrival::Ramp { from, to }) => from.max(*to),
        Some(Arrival::Bursts {
            rate, burst_rate, ..
        }) => rate.max(*burst_rate),
        None => 0.0,
    };
    let requests = (peak * duration.as_secs_f64()).ceil();
    if requests > MAX_REQUESTS as f64 && t.max_requests.is_none_or(|n| n > MAX_REQUESTS) {
        return Err(err(
            "traffic.arrival",
            format!(
                "{peak}/s for {duration} is up to {requests} requests; at most {MAX_REQUESTS} \
                 per run (lower the rate or the duration, or set traffic.max_requests)"
            ),
        ));
    }
    if t.classes.is_empty() {
        return Err(err("traffic.classes", "traffic needs at least one class"));
    }
    let mut classes = Vec::new();
    for (i, c) in t.classes.iter().enumerate() {
        let path = format!("traffic.classes[{i}]");
        if !(c.weight.is_finite() && c.weight > 0.0) {
            return Err(err(format!("{path}.weight"), "must be above zero"));
        }
        if !(0.0..=1.0).contains(&c.stream) {
            return Err(err(format!("{path}.stream"), "is a share between 0 and 1"));
        }
        let routable = router.route_id(&c.route).is_some()
            || router
                .rules
                .iter()
                .any(|r| r.when.route.as_deref() == Some(c.route.as_str()));
        if !routable {
            return Err(err(
                format!("{path}.route"),
                format!("no route `{}` (and no rule matches that name)", c.route),
            ));
        }
        let mut needs = Capabilities::NONE;
        for (k, n) in c.needs.iter().enumerate() {
            needs = needs.union(Capabilities::from_name(n).ok_or_else(|| {
                err(
                    format!("{path}.needs[{k}]"),
                    format!("unknown capability `{n}`"),
                )
            })?);
        }
        if c.max_tokens > MAX_TOKENS {
            return Err(err(
                format!("{path}.max_tokens"),
                format!("must be at most {MAX_TOKENS}, not {}", c.max_tokens),
            ));
        }
        let prompt_tokens = c
            .prompt_tokens
            .resolve()
            .map_err(|e| err(format!("{path}.prompt_tokens"), e))?;
        let typical = switchyard_fake::profile::typical_max(&prompt_tokens);
        if typical > f64::from(MAX_TOKENS) {
            return Err(err(
                format!("{path}.prompt_tokens"),
                format!("reaches {typical} tokens (p99 or max); at most {MAX_TOKENS}"),
            ));
        }
        classes.push(ClassParams {
            name: c.name.clone(),
            weight: c.weight,
            route: c.route.clone(),
            task: c.task.clone(),
            prompt_tokens,
            max_tokens: c.max_tokens.max(1),
            stream: c.stream,
            needs,
            abandon_after: match c.abandon_after {
                Some(d) if d == Duration::ZERO => {
                    return Err(err(format!("{path}.abandon_after"), "must be above zero"));
                }
                other => other,
            },
        });
    }
    Ok(TrafficParams {
        arrival: arrivals.remove(0),
        classes,
        max_requests: t.max_requests,
    })
}

fn resolve_operator(
    ops: &[OperatorConfig],
    router: &RouterParams,
    duration: Duration,
) -> Result<Vec<(Instant, Override)>, ValidationError> {
    let mut out = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        let path = format!("operator[{i}]");
        // Each action written, as the command the gateway's admin API would take, and the
        // scenario field each command field came from (for the error's place).
        let mut actions = Vec::new();
        if let Some(t) = &o.drain {
            let c = OverrideCommand {
                action: "drain",
                target: Some(t),
                ..OverrideCommand::default()
            };
            actions.push((c, ["drain", "drain", ""]));
        }
        if let Some(p) = &o.pin {
            let c = OverrideCommand {
                action: "pin",
                target: Some(&p.target),
                route: Some(&p.route),
                ..OverrideCommand::default()
            };
            actions.push((c, ["pin", "pin.target", "pin.route"]));
        }
        if let Some(r) = &o.freeze {
            let c = OverrideCommand {
                action: "freeze",
                route: (r != "all").then_some(r.as_str()),
                ..OverrideCommand::default()
            };
            actions.push((c, ["freeze", "", "freeze"]));
        }
        if let Some(f) = &o.force {
            let c = OverrideCommand {
                action: "force",
                target: Some(&f.target),
                mode: Some(&f.mode),
                ..OverrideCommand::default()
            };
            actions.push((c, ["force.mode", "force.target", ""]));
        }
        if let Some(r) = &o.restore {
            // A name is a target's if there is one, else a route's; `all` is everything.
            let is_target = router.target_id(r).is_some();
            let c = OverrideCommand {
                action: "restore",
                target: is_target.then_some(r.as_str()),
                route: (!is_target && r != "all").then_some(r.as_str()),
                ..OverrideCommand::default()
            };
            actions.push((c, ["restore", "restore", "restore"]));
        }
        let mut actions: Vec<Override> = actions
            .into_iter()
            .map(|(command, [action, target, route])| {
                router.parse_override(command).map_err(|e| {
                    let field = match e.field() {
                        "target" => target,
                        "route" => route,
                        _ => action,
                    };
                    err(format!("{path}.{field}"), e.to_string())
                })
            })
            .collect::<Result<_, _>>()?;
        if actions.len() != 1 {
            return Err(err(
                path,
                "write exactly one of drain, pin, freeze, force, restore",
            ));
        }
        if o.at > duration {
            return Err(err(
                format!("{path}.at"),
                format!("is after the end of the run ({duration})"),
            ));
        }
        out.push((Instant::ZERO + o.at, actions.remove(0)));
    }
    out.sort_by_key(|(at, _)| *at);
    Ok(out)
}

#[cfg(test)]
#[path = "scenario_tests.rs"]
mod tests;
