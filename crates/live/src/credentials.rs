//! The credential store: resolves key and header sources (environment variables, files,
//! literals), hands the adapter the key in use for each provider and its extra headers, and
//! reports status — by source, never by value.
//!
//! Which key is in use, when 401s take one out of use and when it is tried again is the core's
//! [`KeyRing`], one per provider, behind a lock; this driver hands it `now` (the driver's
//! clock) and keeps the events it reports, the most recent [`EVENTS_KEPT`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use switchyard_core::credentials::keyring::{self, KeyEvent, KeyEventKind, KeyRing, KeyState};
use switchyard_core::credentials::{
    Date, Environment, KeySource, KeyStatus, Mode, ProviderParams, Secret,
};
use switchyard_core::fleet::Until;
use switchyard_core::time::Instant;

/// Key events kept for reports; older ones are dropped, so memory does not grow with uptime.
pub const EVENTS_KEPT: usize = 256;

/// Startup refused: what is missing, by provider and source.
#[derive(Debug, thiserror::Error)]
#[error("credentials missing: {}", .missing.join("; "))]
pub struct CredentialError {
    pub missing: Vec<String>,
}

/// A key taken out of use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Revocation {
    pub provider: String,
    /// The key's source (`env:OPENAI_API_KEY`), never the key.
    pub source: String,
    pub reason: &'static str,
}

/// Something that happened to a key: switched to, taken out of use, tried again.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyEventReport {
    /// Seconds on the driver's clock.
    pub at_secs: f64,
    pub provider: String,
    /// The key's source, never the key.
    pub source: String,
    /// `in use`, `refused (401): taken out of use` or `cool-off over: re-probing`.
    pub what: &'static str,
    /// For a revocation: how long until the key is tried again.
    pub cool_off_secs: Option<f64>,
}

#[derive(Debug)]
pub struct CredentialStore {
    providers: Vec<ProviderParams>,
    /// Resolved values, by provider then key; `None` when the source gave nothing.
    values: Vec<Vec<Option<Secret>>>,
    /// Resolved extra headers, by provider; a header whose source gave nothing is left out.
    headers: Vec<BTreeMap<String, Secret>>,
    rings: Mutex<Vec<KeyRing>>,
    events: Mutex<VecDeque<KeyEventReport>>,
    /// Key events recorded so far, including those no longer kept.
    recorded: std::sync::atomic::AtomicU64,
}

/// One key's line in `creds status`.
#[derive(Clone, Debug, Serialize)]
pub struct KeyReport {
    pub source: String,
    pub status: &'static str,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub last_rotated: Option<String>,
    pub resolved: bool,
    /// Taken out of use after 401s (its cool-off not over).
    pub revoked: bool,
    /// Seconds until a revoked key is tried again.
    pub reprobe_in_secs: Option<f64>,
    /// Tried again after its cool-off: a 401 now takes it out of use at once.
    pub reprobing: bool,
    pub in_use: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProviderReport {
    pub name: String,
    pub mode: &'static str,
    pub base_url: String,
    pub rotation_days: Option<u32>,
    pub keys: Vec<KeyReport>,
}

fn resolve(source: &KeySource, env: &dyn Fn(&str) -> Option<String>) -> Option<Secret> {
    let value = match source {
        KeySource::Env(name) => env(name)?,
        KeySource::File(path) => std::fs::read_to_string(path).ok()?,
        KeySource::Literal(s) => return Some(s.clone()),
    };
    let value = value.trim();
    (!value.is_empty()).then(|| Secret::new(value))
}

impl CredentialStore {
    /// Resolves every key. In production, each provider in `used` that runs live must have a
    /// key that resolves and is valid `today`; otherwise startup is refused, naming each gap.
    pub fn load(
        providers: Vec<ProviderParams>,
        environment: Environment,
        used: &[&str],
        today: Date,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, CredentialError> {
        let values: Vec<Vec<Option<Secret>>> = providers
            .iter()
            .map(|p| p.keys.iter().map(|k| resolve(&k.source, env)).collect())
            .collect();
        let mut missing = Vec::new();
        let mut headers = Vec::with_capacity(providers.len());
        for (p, vals) in providers.iter().zip(&values) {
            let needed = used.contains(&p.name.as_str())
                && (p.mode == Mode::Live || environment == Environment::Production);
            let mut resolved = BTreeMap::new();
            for (name, source) in &p.headers {
                match resolve(source, env) {
                    Some(v) => {
                        resolved.insert(name.clone(), v);
                    }
                    None if needed => missing.push(format!(
                        "provider `{}`: header `{name}`: {source} (not set)",
                        p.name
                    )),
                    None => {}
                }
            }
            headers.push(resolved);
            if !needed {
                continue;
            }
            let usable = p
                .keys
                .iter()
                .zip(vals)
                .any(|(k, v)| v.is_some() && k.is_valid_on(today));
            if !usable {
                let sources: Vec<String> = p
                    .keys
                    .iter()
                    .zip(vals)
                    .map(|(k, v)| {
                        let why = if v.is_none() {
                            "not set"
                        } else {
                            "not valid today"
                        };
                        format!("{} ({why})", k.source)
                    })
                    .collect();
                let detail = if sources.is_empty() {
                    "no keys configured".to_owned()
                } else {
                    sources.join(", ")
                };
                missing.push(format!("provider `{}`: no usable key: {detail}", p.name));
            }
        }
        if !missing.is_empty() {
            return Err(CredentialError { missing });
        }
        let rings = providers
            .iter()
            .map(|p| KeyRing::new(p.keys.len(), p.revocation))
            .collect();
        Ok(CredentialStore {
            providers,
            values,
            headers,
            rings: Mutex::new(rings),
            events: Mutex::new(VecDeque::new()),
            recorded: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn providers(&self) -> &[ProviderParams] {
        &self.providers
    }

    pub fn provider_index(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name == name)
    }

    fn rings(&self) -> std::sync::MutexGuard<'_, Vec<KeyRing>> {
        self.rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn events_log(&self) -> std::sync::MutexGuard<'_, VecDeque<KeyEventReport>> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, provider: usize, event: KeyEvent) {
        let Some(p) = self.providers.get(provider) else {
            return;
        };
        let report = KeyEventReport {
            at_secs: event.at.since_start().as_secs_f64(),
            provider: p.name.clone(),
            source: p
                .keys
                .get(event.key)
                .map(|k| k.source.to_string())
                .unwrap_or_default(),
            what: event.kind.label(),
            cool_off_secs: match event.kind {
                KeyEventKind::Revoked { cool_off } => Some(cool_off.as_secs_f64()),
                _ => None,
            },
        };
        let mut log = self.events_log();
        if log.len() >= EVENTS_KEPT {
            log.pop_front();
        }
        log.push_back(report);
        self.recorded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Key `i` of `provider` can be used on `today`: resolved and within its window.
    fn rank(
        &self,
        provider: usize,
        today: Date,
    ) -> impl Fn(usize) -> Option<(Option<Date>, usize)> {
        let p = &self.providers[provider];
        let values = &self.values[provider];
        move |i| {
            values
                .get(i)
                .is_some_and(Option::is_some)
                .then(|| p.rank(i, today))
                .flatten()
        }
    }

    /// The key in use for `provider` at `now` (the driver's clock) on `today`: the newest
    /// valid, resolved key that is not revoked. Call it for every attempt: a key whose cool-off
    /// is over is re-probed here. Allocates nothing unless a key event happens.
    pub fn key(&self, provider: usize, today: Date, now: Instant) -> Option<(usize, Secret)> {
        self.providers.get(provider)?;
        let mut events: [Option<KeyEvent>; 2] = [None; 2];
        let chosen = {
            let mut rings = self.rings();
            let ring = rings.get_mut(provider)?;
            let mut n = 0;
            ring.choose(now, self.rank(provider, today), |e| {
                if let Some(slot) = events.get_mut(n) {
                    *slot = Some(e);
                }
                n += 1;
            })
        };
        for e in events.into_iter().flatten() {
            self.record(provider, e);
        }
        let i = chosen?;
        Some((i, self.values[provider][i].clone()?))
    }

    /// A key got a 401 at `now`: counted, and the key taken out of use when that was the
    /// last straw (reported in [`CredentialStore::events`] and [`CredentialStore::revocations`]).
    /// Returns that revocation, for the driver to share with a fleet
    /// (`Router::fleet_revoke` until `KeyEvent::revoked_until`, under
    /// [`CredentialStore::key_subject`]).
    pub fn revoke(&self, provider: usize, key: usize, now: Instant) -> Option<KeyEvent> {
        let event = self
            .rings()
            .get_mut(provider)
            .and_then(|r| r.unauthorized(key, now));
        if let Some(e) = event {
            self.record(provider, e);
        }
        event
    }

    /// The fleet subject of a key (`provider/source`, such as `openai/env:OPENAI_API_KEY`;
    /// a literal key is `provider/literal#i`, by its index): never the key's value.
    pub fn key_subject(&self, provider: usize, key: usize) -> Option<String> {
        let p = self.providers.get(provider)?;
        let k = p.keys.get(key)?;
        let id = match &k.source {
            KeySource::Literal(_) => format!("literal#{key}"),
            source => source.to_string(),
        };
        Some(keyring::key_subject(&p.name, &id))
    }

    /// A fleet peer revoked the key `subject` names ([`CredentialStore::key_subject`]) until
    /// `until`: taken out of use here as by a revocation of this replica's own, and reported
    /// the same way. A subject naming no key of this store changes nothing.
    pub fn revoked_by_peer(&self, subject: &str, until: Until, now: Instant) {
        let Some((provider, key)) = self.providers.iter().enumerate().find_map(|(p, params)| {
            (0..params.keys.len())
                .find(|&k| self.key_subject(p, k).as_deref() == Some(subject))
                .map(|k| (p, k))
        }) else {
            return;
        };
        let until = match until {
            Until::At(t) => t,
            Until::Forever => Instant::MAX,
        };
        let event = self
            .rings()
            .get_mut(provider)
            .and_then(|r| r.revoked_by_peer(key, until, now));
        if let Some(e) = event {
            self.record(provider, e);
        }
    }

    /// `provider`'s keys as resolved, by key index (`None`: the source gave nothing); the
    /// index is the one [`CredentialStore::key`] returns.
    pub fn resolved(&self, provider: usize) -> &[Option<Secret>] {
        self.values.get(provider).map_or(&[], Vec::as_slice)
    }

    /// Extra headers for `provider`'s requests, resolved.
    pub fn headers(&self, provider: usize) -> &BTreeMap<String, Secret> {
        static NONE: BTreeMap<String, Secret> = BTreeMap::new();
        self.headers.get(provider).unwrap_or(&NONE)
    }

    /// How many key events have been recorded so far (kept or not): a cheap check for new
    /// ones before copying [`CredentialStore::events`].
    pub fn events_recorded(&self) -> u64 {
        self.recorded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The key events recorded after the first `seen` (those still kept, oldest first), and
    /// how many have been recorded in all: pass that as `seen` next time.
    pub fn events_after(&self, seen: u64) -> (u64, Vec<KeyEventReport>) {
        let log = self.events_log();
        // Read under the log's lock, which `record` holds while it counts.
        let recorded = self.events_recorded();
        let new = usize::try_from(recorded.saturating_sub(seen)).unwrap_or(usize::MAX);
        let from = log.len().saturating_sub(new);
        (recorded, log.iter().skip(from).cloned().collect())
    }

    /// The most recent key events, oldest first.
    pub fn events(&self) -> Vec<KeyEventReport> {
        self.events_log().iter().cloned().collect()
    }

    /// The revocations among the most recent key events.
    pub fn revocations(&self) -> Vec<Revocation> {
        self.events_log()
            .iter()
            .filter(|e| e.cool_off_secs.is_some())
            .map(|e| Revocation {
                provider: e.provider.clone(),
                source: e.source.clone(),
                reason: "unauthorized (401)",
            })
            .collect()
    }

    /// Every provider's keys with their status on `today`, and revocations as of `now`.
    /// Changes nothing (a key due for a re-probe shows as usable).
    pub fn status(&self, today: Date, now: Instant) -> Vec<ProviderReport> {
        let rings = self.rings().clone();
        self.providers
            .iter()
            .enumerate()
            .map(|(pi, p)| {
                let ring = &rings[pi];
                let in_use = ring.peek(now, self.rank(pi, today));
                ProviderReport {
                    name: p.name.clone(),
                    mode: match p.mode {
                        Mode::Live => "live",
                        Mode::Fake => "fake",
                    },
                    base_url: p.base_url.clone(),
                    rotation_days: p.rotation_days,
                    keys: p
                        .keys
                        .iter()
                        .enumerate()
                        .map(|(ki, k)| {
                            let state = ring.state(ki, now);
                            KeyReport {
                                source: k.source.to_string(),
                                status: k.status(today, p.rotation_days).label(),
                                valid_from: k.valid_from.map(|d| d.to_string()),
                                valid_until: k.valid_until.map(|d| d.to_string()),
                                last_rotated: k.last_rotated.map(|d| d.to_string()),
                                resolved: self.values[pi][ki].is_some(),
                                revoked: matches!(state, KeyState::Revoked { .. }),
                                reprobe_in_secs: match state {
                                    KeyState::Revoked { until } => {
                                        Some(until.saturating_since(now).as_secs_f64())
                                    }
                                    _ => None,
                                },
                                reprobing: matches!(state, KeyState::Reprobing { .. }),
                                in_use: in_use == Some(ki),
                            }
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// The worst status among a provider's keys (for a one-word summary).
pub fn worst(keys: &[KeyReport]) -> &'static str {
    let rank = |s: &str| match s {
        "expired" => 4,
        "stale" => 3,
        "due soon" => 2,
        "not yet valid" => 1,
        _ => 0,
    };
    keys.iter()
        .map(|k| k.status)
        .max_by_key(|s| rank(s))
        .unwrap_or(KeyStatus::Fresh.label())
}

#[cfg(test)]
mod tests;
