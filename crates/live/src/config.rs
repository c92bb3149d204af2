//! The live configuration: an environment, the providers with their credentials, and the
//! router. One YAML file, the same one the gateway reads.

use serde::Deserialize;
use switchyard_core::config::{ConfigError, RouterConfig, parse_yaml};
use switchyard_core::credentials::{
    Environment, ProviderConfig, ProviderParams, resolve_providers,
};
use switchyard_core::router::RouterParams;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// `development` (default: fakes and mock keys) or `production` (live keys required).
    #[serde(default)]
    pub environment: Environment,
    pub providers: Vec<ProviderConfig>,
    pub router: RouterConfig,
    /// Settings for `switchyard gateway` (ignored elsewhere).
    #[serde(default)]
    pub gateway: GatewayConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where to listen; default 127.0.0.1:8080 (the command line's `--listen` wins).
    pub listen: Option<String>,
    /// Largest request body accepted; default 1 MiB, at most 256 MiB (a body is held in
    /// memory while it is read).
    pub max_body_bytes: Option<usize>,
    /// SHA-256 (hex) of the admin token for `/admin/`; without it the admin API is off.
    pub admin_token_sha256: Option<String>,
    /// Client keys, stored hashed; without any, clients need no key (development only).
    #[serde(default)]
    pub keys: Vec<GatewayKeyConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayKeyConfig {
    pub name: String,
    /// SHA-256 (hex) of the key.
    pub sha256: String,
    /// Per-key limit; default none.
    pub requests_per_minute: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct LiveParams {
    pub environment: Environment,
    pub providers: Vec<ProviderParams>,
    pub router: RouterParams,
    pub gateway: GatewayConfig,
}

/// The largest `gateway.max_body_bytes`: 256 MiB.
pub const MAX_BODY_BYTES: usize = 256 << 20;

/// Parses and validates a live config; errors name the file, line, column and field.
pub fn load_live(text: &str, file: &str) -> Result<LiveParams, ConfigError> {
    let config: LiveConfig = parse_yaml(text, file)?;
    let router = RouterParams::try_from(&config.router).map_err(|mut e| {
        e.path = format!("router.{}", e.path);
        e.at(text, file)
    })?;
    if let Some(n) = config.gateway.max_body_bytes
        && !(1..=MAX_BODY_BYTES).contains(&n)
    {
        let e = switchyard_core::config::ValidationError::new(
            "gateway.max_body_bytes",
            format!("must be between 1 and {MAX_BODY_BYTES}, not {n}"),
        );
        return Err(e.at(text, file));
    }
    let used: Vec<&str> = router.providers.names().collect();
    let providers = resolve_providers(&config.providers, config.environment, &used)
        .map_err(|e| e.at(text, file))?;
    Ok(LiveParams {
        environment: config.environment,
        providers,
        router,
        gateway: config.gateway,
    })
}
