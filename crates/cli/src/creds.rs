//! `switchyard creds status`: each provider's keys as fresh / due soon / stale / expired, by
//! source. Never the key.

use std::io::Write;
use std::path::Path;

use switchyard_core::credentials::{Date, Environment};
use switchyard_live::credentials::{CredentialStore, worst};

use crate::{EXIT_BAD_INPUT, EXIT_OK};

pub fn status(config: &Path, on: Option<&str>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let name = config.display().to_string();
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
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "{name}: cannot read: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let params = match switchyard_live::config::load_live(&text, &name) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return EXIT_BAD_INPUT;
        }
    };
    // Status is about the real keys, whatever the environment: look at every provider as if
    // it ran live, and require nothing (a key that is not set is shown as such).
    let Ok(config) =
        switchyard_core::config::parse_yaml::<switchyard_live::config::LiveConfig>(&text, &name)
    else {
        return EXIT_BAD_INPUT;
    };
    let live: Vec<_> = config
        .providers
        .into_iter()
        .map(|mut p| {
            p.mode = Some(switchyard_core::credentials::Mode::Live);
            p
        })
        .collect();
    let providers =
        match switchyard_core::credentials::resolve_providers(&live, Environment::Development, &[])
        {
            Ok(p) => p,
            Err(e) => {
                let _ = writeln!(err, "{}", e.at(&text, &name));
                return EXIT_BAD_INPUT;
            }
        };
    let env = |name: &str| std::env::var(name).ok();
    let store = match CredentialStore::load(providers, params.environment, &[], today, &env) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let _ = writeln!(
        out,
        "credentials on {today} ({:?} environment)",
        params.environment
    );
    // A fresh store: nothing revoked yet. The router's own view is its admin state.
    for p in store.status(today, switchyard_core::time::Instant::ZERO) {
        let rotation = p
            .rotation_days
            .map_or(String::new(), |d| format!(", rotate every {d} days"));
        let _ = writeln!(
            out,
            "{}: {} ({}, {}{rotation})",
            p.name,
            worst(&p.keys),
            p.mode,
            p.base_url
        );
        let width = p.keys.iter().map(|k| k.source.len()).max().unwrap_or(0);
        for k in &p.keys {
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
                "  {:width$}  {:13} {window}{rotated}{flags}",
                k.source, k.status
            );
        }
    }
    EXIT_OK
}
