//! `switchyard creds status`: each provider's keys as fresh / due soon / stale / expired, by
//! source. Never the key.
//!
//! Each provider is judged by the keys it would use: in development, the mock key its fake
//! takes (unless the provider says `mode: live`); with `--live`, or in production, its live
//! keys.
//! A provider is judged by the key in use, not by the worst of its keys (a retired key that
//! expired is history, not a problem); a provider with no usable key is `missing` (or
//! `expired` / `not yet valid` when its keys are set but none is valid today). The command
//! exits 1 when any provider's judgement is stale, expired, not yet valid or missing, so
//! that a cron job or CI step notices; `--warn-only` reports the same and exits 0.

use std::io::Write;
use std::path::Path;

use switchyard_core::credentials::KeyStatus;
use switchyard_core::credentials::{Date, Environment};
use switchyard_live::credentials::{CredentialStore, KeyReport};

use crate::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};

/// A provider's one-word state: its key in use's status; with no key in use, `missing` when
/// no key is set, else why the set keys cannot be used (`expired`, `not yet valid`).
fn judge(keys: &[KeyReport]) -> &'static str {
    if let Some(k) = keys.iter().find(|k| k.in_use) {
        return k.status;
    }
    let set: Vec<&str> = keys
        .iter()
        .filter(|k| k.resolved)
        .map(|k| k.status)
        .collect();
    if set.is_empty() {
        "missing"
    } else if set.contains(&KeyStatus::Expired.label()) {
        KeyStatus::Expired.label()
    } else if set.contains(&KeyStatus::NotYetValid.label()) {
        KeyStatus::NotYetValid.label()
    } else {
        // Set and valid, yet not chosen: nothing the router would use.
        "not in use"
    }
}

/// Whether a provider in this state needs someone now: no usable key, or one past its
/// rotation deadline. `due soon` is a warning that still exits 0.
fn needs_attention(state: &str) -> bool {
    state != KeyStatus::Fresh.label() && state != KeyStatus::DueSoon.label()
}

pub fn status(
    config: &Path,
    on: Option<&str>,
    warn_only: bool,
    live: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let today = match on {
        None => switchyard_live::wall::today(),
        Some(text) => match Date::parse(text) {
            Some(d) => d,
            None => {
                let _ = writeln!(err, "--today `{text}` is not a date; write YYYY-MM-DD");
                return EXIT_BAD_INPUT;
            }
        },
    };
    let (store, environment) = match load(config, live, today, err) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let _ = writeln!(out, "credentials on {today} ({environment:?} environment)");
    // A fresh store: nothing revoked yet. The router's own view is its admin state.
    let mut attention = Vec::new();
    for p in store.status(today, switchyard_core::time::Instant::ZERO) {
        let state = judge(&p.keys);
        if needs_attention(state) {
            attention.push(format!("{} ({state})", p.name));
        }
        let rotation = p
            .rotation_days
            .map_or(String::new(), |d| format!(", rotate every {d} days"));
        let _ = writeln!(
            out,
            "{}: {} ({}, {}{rotation})",
            p.name, state, p.mode, p.base_url
        );
        // A fake's key is the config's mock key (shown by that name, never by value).
        let source = |k: &KeyReport| {
            if p.mode == "fake" {
                "mock_key".to_owned()
            } else {
                k.source.clone()
            }
        };
        let width = p.keys.iter().map(|k| source(k).len()).max().unwrap_or(0);
        for k in &p.keys {
            key_line(out, k, &source(k), width);
        }
    }
    if attention.is_empty() {
        return EXIT_OK;
    }
    let _ = writeln!(
        err,
        "credentials need attention: {}{}",
        attention.join(", "),
        if warn_only {
            " (--warn-only: exit 0)"
        } else {
            ""
        }
    );
    if warn_only { EXIT_OK } else { EXIT_FAILED }
}

/// The credential store the live config at `config` describes, each provider with the keys
/// it would use (its live keys with `live`), and the config's environment; or, said on
/// `err`, the exit code.
fn load(
    config: &Path,
    live: bool,
    today: Date,
    err: &mut dyn Write,
) -> Result<(CredentialStore, Environment), i32> {
    let name = config.display().to_string();
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "{name}: cannot read: {e}");
            return Err(EXIT_BAD_INPUT);
        }
    };
    let params = match switchyard_live::config::load_live(&text, &name) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return Err(EXIT_BAD_INPUT);
        }
    };
    // The keys each provider would use: as configured (a fake's mock key in development),
    // or with `--live` every provider's live keys. Nothing is required: a live key that is
    // not set is shown as such, and makes its provider `missing`.
    let Ok(config) =
        switchyard_core::config::parse_yaml::<switchyard_live::config::LiveConfig>(&text, &name)
    else {
        return Err(EXIT_BAD_INPUT);
    };
    let providers: Vec<_> = config
        .providers
        .into_iter()
        .map(|mut p| {
            let configured = p.mode.unwrap_or(match params.environment {
                Environment::Development => switchyard_core::credentials::Mode::Fake,
                Environment::Production => switchyard_core::credentials::Mode::Live,
            });
            p.mode = Some(if live {
                switchyard_core::credentials::Mode::Live
            } else {
                configured
            });
            p
        })
        .collect();
    let providers = match switchyard_core::credentials::resolve_providers(
        &providers,
        Environment::Development,
        &[],
    ) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "{}", e.at(&text, &name));
            return Err(EXIT_BAD_INPUT);
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    match CredentialStore::load(providers, params.environment, &[], today, &env) {
        Ok(s) => Ok((s, params.environment)),
        Err(e) => {
            let _ = writeln!(err, "{e}");
            Err(EXIT_BAD_INPUT)
        }
    }
}

/// One key's line: its source (padded to `width`), status, validity window, last rotation
/// and flags. Never the key.
fn key_line(out: &mut dyn Write, k: &KeyReport, source: &str, width: usize) {
    let window = match (&k.valid_from, &k.valid_until) {
        (None, None) => "always valid".to_owned(),
        (f, u) => format!(
            "valid {}..{}",
            f.as_deref().unwrap_or(""),
            u.as_deref().unwrap_or("")
        ),
    };
    let rotated = k
        .last_rotated
        .as_deref()
        .map_or(String::new(), |d| format!(", rotated {d}"));
    let mut flags = Vec::new();
    if k.in_use {
        flags.push("in use");
    }
    if !k.resolved {
        flags.push("not set");
    }
    let revoked;
    if let Some(secs) = k.reprobe_in_secs {
        revoked = format!("revoked, re-probe in {secs:.0}s");
        flags.push(&revoked);
    } else if k.revoked {
        flags.push("revoked");
    }
    if k.reprobing {
        flags.push("re-probing");
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", flags.join(", "))
    };
    let _ = writeln!(
        out,
        "  {source:width$}  {:13} {window}{rotated}{flags}",
        k.status
    );
}
