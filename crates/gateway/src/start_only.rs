//! The settings a gateway reads at start only, so that a reload whose file changes one can
//! say so instead of answering `reloaded` as if it were in force.

use switchyard_live::config::LiveParams;

/// Each start-only setting's name and value in force, as written in a warning.
pub(crate) type Settings = Vec<(&'static str, String)>;

/// `params`' start-only settings, their defaults resolved.
pub(crate) fn of(params: &LiveParams) -> Settings {
    let g = &params.gateway;
    vec![
        ("gateway.listen", set_or_default(g.listen.as_deref())),
        ("gateway.threads", g.threads().to_string()),
        ("gateway.pin_threads", g.pin_threads().to_string()),
        (
            "gateway.max_body_bytes",
            g.max_body(&params.router).to_string(),
        ),
        ("gateway.max_in_flight", g.max_in_flight().to_string()),
        (
            "gateway.body_read_timeout",
            format!("{:?}", g.body_read_timeout()),
        ),
        (
            "gateway.shutdown_grace",
            format!("{:?}", g.shutdown_grace()),
        ),
        (
            "gateway.shared_state",
            format!("{}", g.shared_state.is_some()),
        ),
        ("gateway.upstream_ca_file", ca_file(params)),
    ]
}

/// `gateway.upstream_ca_file` as a warning shows it: the file, how many roots it held and a
/// digest of them (SHA-256 over each root's subject, key and name constraints, in sorted
/// order: a file rewritten in place with another authority differs, the same roots
/// reordered or repeated do not), or `default`.
fn ca_file(params: &LiveParams) -> String {
    use sha2::{Digest, Sha256};
    let Some(file) = &params.gateway.upstream_ca_file else {
        return "default".to_owned();
    };
    let roots = &params.upstream_roots.roots;
    let mut each: Vec<[u8; 32]> = roots
        .iter()
        .map(|root| {
            let mut h = Sha256::new();
            for part in [
                root.subject.as_ref(),
                root.subject_public_key_info.as_ref(),
                root.name_constraints.as_deref().unwrap_or_default(),
            ] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part);
            }
            h.finalize().into()
        })
        .collect();
    // The same certificate twice is one root.
    each.sort_unstable();
    each.dedup();
    let digest = each
        .iter()
        .fold(Sha256::new(), |h, d| h.chain_update(d))
        .finalize();
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let n = each.len();
    format!(
        "{file} ({n} root{}, digest {short})",
        if n == 1 { "" } else { "s" }
    )
}

/// A setting as the file writes it, or `default` when the file leaves it unset.
fn set_or_default(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "default".to_owned(), |v| v.to_string())
}

/// Gives `name` in `next` its value in `running`, so that no warning compares them.
pub(crate) fn keep_running(next: &mut Settings, running: &Settings, name: &str) {
    let was = running
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.clone());
    if let (Some(was), Some((_, now))) = (was, next.iter_mut().find(|(n, _)| *n == name)) {
        *now = was;
    }
}

/// Logs a warning for each setting `next` changes from `running`: the running value stays
/// until a restart.
pub(crate) fn warn_changed(running: &Settings, next: &Settings) {
    for ((name, was), (_, now)) in running.iter().zip(next) {
        if was != now {
            tracing::warn!(
                target: "switchyard::reload",
                setting = name,
                running = %was,
                file = %now,
                "{name} is read at start only: the running value stays until a restart"
            );
        }
    }
}
