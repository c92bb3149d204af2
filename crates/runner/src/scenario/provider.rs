//! A scenario's providers: each one's profile (a file near the scenario, or built in), the
//! scenario's overrides of it, its faults and keys.

use std::path::{Path, PathBuf};

use switchyard_core::config::ValidationError;
use switchyard_core::time::{Duration, Instant};

use switchyard_fake::profile::ProfileParams;

use super::{FaultWindow, ScenarioConfig, ScenarioProvider, ScenarioProviderConfig, err};

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

/// One of the scenario's providers: its profile, faults and keys; its named faults go into
/// `faults`.
pub(super) fn resolve(
    c: &ScenarioConfig,
    i: usize,
    dir: &Path,
    faults: &mut Vec<FaultWindow>,
) -> Result<ScenarioProvider, Vec<ValidationError>> {
    let p = &c.providers[i];
    let path = format!("providers[{i}]");
    let mut errors = Vec::new();
    let mut profile = profile(p, &path, dir)?;
    let prefill = profile.prefill;
    for (k, f) in p.faults.iter().enumerate() {
        let resolved = match f.resolve(Instant::ZERO) {
            Ok(r) => r,
            Err(e) => {
                errors.push(err(e.path(&format!("{path}.faults[{k}]")), e.message));
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
            // A fault's name names its phases (`during:NAME`) and report lines.
            if let Err(e) = super::safe_name(&format!("{path}.faults[{k}].name"), "a fault", name) {
                errors.push(e);
                continue;
            }
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

/// The provider's profile as the scenario runs it: found near `dir` (or built in), named
/// after the provider, with the scenario's limits and `prefill`.
fn profile(
    p: &ScenarioProviderConfig,
    path: &str,
    dir: &Path,
) -> Result<ProfileParams, Vec<ValidationError>> {
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
    Ok(profile)
}
