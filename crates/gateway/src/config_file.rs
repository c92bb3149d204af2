//! The config file read for a start or a reload, with the roots of its
//! `gateway.upstream_ca_file`.

use switchyard_core::config::ConfigError;
use switchyard_live::config::roots::{RootCertStore, upstream_roots};
use switchyard_live::config::{LiveParams, load_live};

use crate::GatewayError;

/// Reads and validates a live config file, and the roots of its `gateway.upstream_ca_file`.
pub fn read_config(path: &std::path::Path) -> Result<LiveParams, GatewayError> {
    let (mut params, roots) = read(path)?;
    params.upstream_roots = roots?;
    Ok(params)
}

/// A config file read for a reload, and whether its `gateway.upstream_ca_file` can serve. A
/// reload does not use the roots (the client is built at start), so a file that cannot serve
/// is a warning, not a refusal.
pub(crate) fn read_for_reload(path: &std::path::Path) -> Result<(LiveParams, bool), GatewayError> {
    let (mut params, roots) = read(path)?;
    match roots {
        Ok(roots) => {
            params.upstream_roots = roots;
            Ok((params, true))
        }
        Err(e) => {
            tracing::warn!(
                target: "switchyard::reload",
                error = %e,
                "gateway.upstream_ca_file cannot serve: the roots read at start stay, and a start with this file would be refused"
            );
            Ok((params, false))
        }
    }
}

/// A config file's params (without the CA file's roots), and those roots or why they cannot
/// be read.
fn read(
    path: &std::path::Path,
) -> Result<(LiveParams, Result<RootCertStore, ConfigError>), GatewayError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| GatewayError::Read {
        path: name.clone(),
        message: e.to_string(),
    })?;
    let params = load_live(&text, &name)?;
    let roots = upstream_roots(&params.gateway, path, &text);
    Ok((params, roots))
}
