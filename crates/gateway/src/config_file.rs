//! The config file read for a start or a reload, with the roots of its
//! `gateway.upstream_ca_file`.

use switchyard_live::config::{LiveParams, load_live};

use crate::GatewayError;

/// Reads and validates a live config file, and the roots of its `gateway.upstream_ca_file`.
pub fn read_config(path: &std::path::Path) -> Result<LiveParams, GatewayError> {
    read_config_for(path, Purpose::Start)
}

/// What a config is read for: a start needs its CA file; a reload does not use it (the client
/// is built at start) and only warns when it cannot serve.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Start,
    Reload,
}

pub(crate) fn read_config_for(
    path: &std::path::Path,
    purpose: Purpose,
) -> Result<LiveParams, GatewayError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| GatewayError::Read {
        path: name.clone(),
        message: e.to_string(),
    })?;
    let mut params = load_live(&text, &name)?;
    match switchyard_live::config::roots::upstream_roots(&params.gateway, path, &text) {
        Ok(roots) => params.upstream_roots = roots,
        Err(e) if purpose == Purpose::Reload => tracing::warn!(
            target: "switchyard::reload",
            error = %e,
            "gateway.upstream_ca_file cannot serve: the roots read at start stay, and a start with this file would be refused"
        ),
        Err(e) => return Err(e.into()),
    }
    Ok(params)
}
