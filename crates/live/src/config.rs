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
}

#[derive(Clone, Debug)]
pub struct LiveParams {
    pub environment: Environment,
    pub providers: Vec<ProviderParams>,
    pub router: RouterParams,
}

/// Parses and validates a live config; errors name the file, line, column and field.
pub fn load_live(text: &str, file: &str) -> Result<LiveParams, ConfigError> {
    let config: LiveConfig = parse_yaml(text, file)?;
    let router = RouterParams::try_from(&config.router).map_err(|mut e| {
        e.path = format!("router.{}", e.path);
        e.at(text, file)
    })?;
    let used: Vec<&str> = router.providers.names().collect();
    let providers = resolve_providers(&config.providers, config.environment, &used)
        .map_err(|e| e.at(text, file))?;
    Ok(LiveParams {
        environment: config.environment,
        providers,
        router,
    })
}
