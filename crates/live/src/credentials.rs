//! The credential store: resolves key sources (environment variables, files, development
//! literals), hands the adapter the key in use for each provider, takes a key out of use when
//! it gets a 401, and reports status — by source, never by value.

use std::sync::Mutex;

use serde::Serialize;
use switchyard_core::credentials::{
    Date, Environment, KeySource, KeyStatus, Mode, ProviderParams, Secret,
};

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

#[derive(Debug)]
pub struct CredentialStore {
    providers: Vec<ProviderParams>,
    /// Resolved values, by provider then key; `None` when the source gave nothing.
    values: Vec<Vec<Option<Secret>>>,
    revoked: Mutex<Vec<Vec<bool>>>,
    revocations: Mutex<Vec<Revocation>>,
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
    pub revoked: bool,
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
        for (p, vals) in providers.iter().zip(&values) {
            let needed = used.contains(&p.name.as_str())
                && (p.mode == Mode::Live || environment == Environment::Production);
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
        let revoked = providers
            .iter()
            .map(|p| vec![false; p.keys.len()])
            .collect();
        Ok(CredentialStore {
            providers,
            values,
            revoked: Mutex::new(revoked),
            revocations: Mutex::new(Vec::new()),
        })
    }

    pub fn providers(&self) -> &[ProviderParams] {
        &self.providers
    }

    pub fn provider_index(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name == name)
    }

    fn revoked(&self) -> std::sync::MutexGuard<'_, Vec<Vec<bool>>> {
        self.revoked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key in use for `provider` today: the newest valid, resolved, unrevoked one.
    pub fn key(&self, provider: usize, today: Date) -> Option<(usize, Secret)> {
        let p = self.providers.get(provider)?;
        let values = &self.values[provider];
        // On every attempt: read the revocations in place, allocate nothing.
        let i = {
            let revoked = self.revoked();
            let row = revoked.get(provider);
            p.active_key(today, |i| {
                values[i].is_none() || row.is_some_and(|r| r.get(i).copied().unwrap_or(false))
            })?
        };
        Some((i, values[i].clone()?))
    }

    /// A key got a 401: take it out of use and report it.
    pub fn revoke(&self, provider: usize, key: usize) {
        let mut revoked = self.revoked();
        let Some(slot) = revoked.get_mut(provider).and_then(|r| r.get_mut(key)) else {
            return;
        };
        if *slot {
            return;
        }
        *slot = true;
        drop(revoked);
        let p = &self.providers[provider];
        let source = p
            .keys
            .get(key)
            .map(|k| k.source.to_string())
            .unwrap_or_default();
        self.revocations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Revocation {
                provider: p.name.clone(),
                source,
                reason: "unauthorized (401)",
            });
    }

    pub fn revocations(&self) -> Vec<Revocation> {
        self.revocations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every provider's keys with their status on `today`.
    pub fn status(&self, today: Date) -> Vec<ProviderReport> {
        let revoked = self.revoked().clone();
        self.providers
            .iter()
            .enumerate()
            .map(|(pi, p)| {
                let in_use = self.key(pi, today).map(|(i, _)| i);
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
                        .map(|(ki, k)| KeyReport {
                            source: k.source.to_string(),
                            status: k.status(today, p.rotation_days).label(),
                            valid_from: k.valid_from.map(|d| d.to_string()),
                            valid_until: k.valid_until.map(|d| d.to_string()),
                            last_rotated: k.last_rotated.map(|d| d.to_string()),
                            resolved: self.values[pi][ki].is_some(),
                            revoked: revoked[pi][ki],
                            in_use: in_use == Some(ki),
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
