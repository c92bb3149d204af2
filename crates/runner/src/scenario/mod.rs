//! Scenario files: the providers and their faults, the router, the traffic, the operator's
//! timeline and the expectations. One YAML file per situation worth proving.
//!
//! The modules: `config` (the file as written), `provider` (profiles, faults and keys),
//! `traffic`, `operator`, and this one, which checks the parts against each other.

mod checks;
mod config;
mod fleet;
mod operator;
mod provider;
mod shorten;
mod traffic;

use std::path::Path;

use switchyard_core::config::{ConfigError, ValidationError, parse_yaml};
use switchyard_core::overrides::Override;
use switchyard_core::router::RouterParams;
use switchyard_core::time::{Duration, Instant};
use switchyard_fake::fault::FaultConfig;
use switchyard_fake::profile::ProfileParams;
use switchyard_sim::traffic::TrafficParams;

use crate::expect::ExpectationParams;

pub use config::{
    ArrivalConfig, BurstsConfig, ClassConfig, ForceConfig, LoadBalanceConfig, NoSharedState,
    OperatorConfig, PinConfig, RampConfig, ScenarioConfig, ScenarioKeyConfig,
    ScenarioProviderConfig, SharedStateConfig, SharedStoreConfig, StoreFaultConfig, TrafficConfig,
    VariantConfig,
};
pub use fleet::MAX_REPLICAS;

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
    /// Per variant (in `variants`' order): the operator's actions resolved against its own
    /// router, whose targets and routes may be in another order.
    pub variant_operator: Vec<Vec<(Instant, Override)>>,
    /// Per variant (in `variants`' order), in a fleet: what its replicas share, when the
    /// variant says (`Some(None)`: `none`).
    pub variant_shared: Vec<Option<Option<switchyard_sim::SharedState>>>,
    /// A fleet of replicas (`replicas:`), in simulation.
    pub fleet: Option<switchyard_sim::SimFleet>,
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

/// As [`load`], run for `duration` instead of the file's when given (`run --duration`):
/// validated for it, operator actions after its end dropped; with a notice for each event
/// of the timeline after the end.
pub fn load_for(
    path: &Path,
    duration: Option<Duration>,
) -> Result<(ScenarioParams, Vec<String>), ConfigError> {
    let Some(duration) = duration else {
        return load(path).map(|s| (s, Vec::new()));
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: 1,
        column: 1,
        path: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    let mut config: ScenarioConfig = parse_yaml(&text, &file)?;
    let notices = shorten::shorten(&mut config, duration);
    let dir = path.parent().unwrap_or(Path::new("."));
    let s = resolve(&config, dir, &file).map_err(|errors| {
        let e = errors
            .into_iter()
            .next()
            .unwrap_or_else(|| err("", "not a valid scenario"));
        // The file's `duration` line is not what is wrong: say where the value came from.
        if e.path == "duration" {
            ConfigError {
                file: file.clone(),
                line: 1,
                column: 1,
                path: "--duration".to_owned(),
                message: e.message,
            }
        } else {
            e.at(&text, &file)
        }
    })?;
    Ok((s, notices))
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
    let config: ScenarioConfig = match switchyard_core::config::parse_yaml_pruned(text, file) {
        Ok(c) => c,
        Err((mut errors, pruned)) => {
            // The rest of the file checked too, but for what concerns the fields taken out.
            if let Some(p) = pruned
                && let Err(more) = resolve(&p.config, dir, file)
            {
                errors.extend(
                    more.into_iter()
                        .filter(|e| !p.touches(&e.path))
                        .map(|e| e.at(text, file)),
                );
                switchyard_core::config::sort(&mut errors);
            }
            return Err(errors);
        }
    };
    resolve(&config, dir, file).map_err(|errors| {
        let mut errors: Vec<ConfigError> = errors.into_iter().map(|e| e.at(text, file)).collect();
        switchyard_core::config::sort(&mut errors);
        errors
    })
}

/// The longest scenario, variant, target or fault name.
pub const MAX_NAME: usize = 100;

/// A scenario's name names its report folder (`reports/NAME/`), so it must be one safe file
/// name: letters, digits, `.`, `_` and `-`, not starting with `.` (no `..`, no `/`).
fn check_name(name: &str) -> Result<(), ValidationError> {
    safe_name("name", "a report folder", name)
}

/// `name` (at `path`) is one safe file name of at most [`MAX_NAME`] characters: it names
/// `what` (a folder, a line of a report, a phase), where a `/` or a control character
/// would do harm.
pub(crate) fn safe_name(path: &str, what: &str, name: &str) -> Result<(), ValidationError> {
    let safe = name
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-'));
    if name.is_empty() || name.starts_with('.') || !safe {
        let shown: String = name.chars().take(MAX_NAME).collect();
        return Err(err(
            path,
            format!(
                "`{shown}` cannot name {what}: use letters, digits, `.`, `_` and `-`, not \
                 starting with `.`"
            ),
        ));
    }
    if name.len() > MAX_NAME {
        return Err(err(
            path,
            format!(
                "`{}…` is {} characters long; at most {MAX_NAME}",
                &name[..MAX_NAME.min(name.len())],
                name.len()
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
    check_duration(c.duration, &mut errors);
    let router = router(&c.router, "router", &mut errors);
    let mut faults = Vec::new();
    let (providers, broken) = providers(c, dir, &mut faults, &mut errors);
    check_targets(&c.router, "router", &providers, &broken, &mut errors);
    let Some(router) = router else {
        checks::expectations_alone(c, &faults, &providers, &broken, &mut errors);
        return Err(errors);
    };
    let gateway = gateway_mode(c.gateway.as_deref(), &mut errors);
    let variants = variants(c, &providers, &broken, &mut errors);
    let fleet = fleet::resolve(c, &mut errors);
    let variant_shared = variant_shared(c, fleet.is_some(), &mut errors);
    let operator = operator::resolve(&c.operator, &router, c.duration).map_err(|e| errors.push(e));
    let variant_operator = match operator {
        Ok(_) => operator::for_variants(c, &variants, &mut errors),
        Err(()) => Vec::new(),
    };
    let traffic = match traffic::resolve(&c.traffic, &router, c.duration) {
        Ok(t) => t,
        Err(e) => {
            // The expectations are checked against the traffic's classes: what does not
            // need them is checked still.
            errors.push(e);
            checks::expectations_alone(c, &faults, &providers, &broken, &mut errors);
            return Err(errors);
        }
    };
    let end = Instant::ZERO + c.duration;
    let mut phases = phases(c, &faults, end);
    let mut expectations = Vec::new();
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
            Ok(x) => {
                checks::fleet_metric(&x, i, fleet.is_some(), &mut errors);
                expectations.push(x);
            }
            // With a provider in error, its faults and its name are unknown here: refusing
            // an expectation for naming them would say nothing new.
            Err(e) => checks::keep_unless_broken(e, &broken, &mut errors),
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
        variant_operator,
        variant_shared,
        fleet,
        faults,
        phases,
        gateway,
    })
}

/// Each variant's `shared_state` (`None` where it sets none); one needs a fleet (`has_fleet`).
fn variant_shared(
    c: &ScenarioConfig,
    has_fleet: bool,
    errors: &mut Vec<ValidationError>,
) -> Vec<Option<Option<switchyard_sim::SharedState>>> {
    c.variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.shared_state.as_ref().map(|s| {
                let path = format!("variants[{i}].shared_state");
                if !has_fleet {
                    errors.push(err(path.as_str(), "needs `replicas` (a fleet)"));
                }
                fleet::shared_state(Some(s), &path, errors)
            })
        })
        .collect()
}

/// The phases of the provider faults (`faults`) and of the store faults (those `run
/// --duration` took out too), the run ending at `end`.
fn phases(c: &ScenarioConfig, faults: &[FaultWindow], end: Instant) -> Vec<PhaseWindow> {
    let mut phases = fault_phases(faults, end);
    // Store faults' phases, from what the file says (a fault in error still names its
    // phases, so expectations on them are not refused for that).
    let store: Vec<FaultWindow> = c
        .store_faults
        .iter()
        .chain(&c.store_faults_after_end)
        .map(|f| FaultWindow {
            name: fleet::fault_name(f),
            provider: String::new(),
            from: Instant::ZERO + f.at,
            to: Instant::ZERO + f.at + f.length,
        })
        .collect();
    phases.extend(fault_phases(&store, end));
    phases
}

/// The run's duration: above zero, at most [`MAX_DURATION`].
fn check_duration(duration: Duration, errors: &mut Vec<ValidationError>) {
    if duration.is_zero() {
        errors.push(err("duration", "must be longer than zero"));
    }
    if duration > MAX_DURATION {
        errors.push(err(
            "duration",
            format!("must be at most {MAX_DURATION}, not {duration}"),
        ));
    }
}

/// The providers that resolve, and the names of those that do not (their errors go to
/// `errors`; targets on them are not checked again). Named faults go into `faults`.
fn providers<'c>(
    c: &'c ScenarioConfig,
    dir: &Path,
    faults: &mut Vec<FaultWindow>,
    errors: &mut Vec<ValidationError>,
) -> (Vec<ScenarioProvider>, Vec<&'c str>) {
    let mut providers = Vec::new();
    let mut broken: Vec<&str> = Vec::new();
    for (i, p) in c.providers.iter().enumerate() {
        match provider::resolve(c, i, dir, faults) {
            Ok(p) => providers.push(p),
            Err(e) => {
                errors.extend(e);
                broken.push(&p.name);
            }
        }
    }
    (providers, broken)
}

/// A router of the scenario (`at`: `router` or `variants[i].router`), with every error its
/// validation finds.
fn router(
    config: &switchyard_core::config::RouterConfig,
    at: &str,
    errors: &mut Vec<ValidationError>,
) -> Option<RouterParams> {
    match switchyard_core::config::validate_router(config) {
        Ok(r) => Some(r),
        Err(found) => {
            errors.extend(found.into_iter().map(|mut e| {
                e.path = format!("{at}.{}", e.path);
                e
            }));
            None
        }
    }
}

/// Each target's name is a safe name, its provider is one of the scenario's and serves its
/// model (targets on a `broken` provider, whose own errors are reported, are not checked
/// again); `at` is the router's path.
fn check_targets(
    router: &switchyard_core::config::RouterConfig,
    at: &str,
    providers: &[ScenarioProvider],
    broken: &[&str],
    errors: &mut Vec<ValidationError>,
) {
    for (i, t) in router.targets.iter().enumerate() {
        if let Err(e) = safe_name(&format!("{at}.targets[{i}].name"), "a target", &t.name) {
            errors.push(e);
        }
        let pname = t.provider.as_str();
        if broken.contains(&pname) {
            continue;
        }
        let Some(p) = providers.iter().find(|p| p.name == pname) else {
            let mut known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
            known.extend(broken);
            known.sort_unstable();
            errors.push(err(
                format!("{at}.targets[{i}].provider"),
                format!(
                    "no provider `{pname}` in this scenario's providers ({})",
                    known.join(", ")
                ),
            ));
            continue;
        };
        if p.profile.model(&t.model).is_none() {
            let models: Vec<&str> = p.profile.models.iter().map(|m| m.name.as_str()).collect();
            errors.push(err(
                format!("{at}.targets[{i}].model"),
                format!(
                    "provider `{pname}` serves {}, not `{}`",
                    models.join(", "),
                    t.model
                ),
            ));
        }
    }
}

/// Where live traffic goes, from the scenario's `gateway`.
fn gateway_mode(gateway: Option<&str>, errors: &mut Vec<ValidationError>) -> GatewayMode {
    match gateway {
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
    }
}

/// The variants, checked as the scenario's router is (every error of each one's router, its
/// targets against the providers) and against what they share: a unique, safe name, and
/// every route and target the expectations name (compare judges each variant by them).
fn variants(
    c: &ScenarioConfig,
    providers: &[ScenarioProvider],
    broken: &[&str],
    errors: &mut Vec<ValidationError>,
) -> Vec<(String, RouterParams)> {
    let mut out = Vec::new();
    for (i, v) in c.variants.iter().enumerate() {
        let at = format!("variants[{i}]");
        if let Err(e) = safe_name(&format!("{at}.name"), "a variant", &v.name) {
            errors.push(e);
        } else if c.variants[..i].iter().any(|x| x.name == v.name) {
            errors.push(err(
                format!("{at}.name"),
                format!("a second variant named `{}`", v.name),
            ));
        }
        check_targets(
            &v.router,
            &format!("{at}.router"),
            providers,
            broken,
            errors,
        );
        let Some(r) = router(&v.router, &format!("{at}.router"), errors) else {
            continue;
        };
        for (k, e) in c.expect.iter().enumerate() {
            let missing = [
                (
                    "route",
                    e.route.as_deref().filter(|x| r.route_id(x).is_none()),
                ),
                (
                    "target",
                    e.target.as_deref().filter(|x| r.target_id(x).is_none()),
                ),
            ];
            for (what, name) in missing {
                if let Some(name) = name {
                    errors.push(err(
                        format!("{at}.router"),
                        format!(
                            "expect[{k}] names {what} `{name}`, which this variant does not have"
                        ),
                    ));
                }
            }
        }
        out.push((v.name.clone(), r));
    }
    out
}

/// Each named fault's phases: `before:NAME`, `during:NAME` and `after:NAME`, cut at `end`.
fn fault_phases(faults: &[FaultWindow], end: Instant) -> Vec<PhaseWindow> {
    let mut phases = Vec::new();
    for f in faults {
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
    phases
}

#[cfg(test)]
mod tests;
