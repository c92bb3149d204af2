//! Provider profiles: what a fake provider is like when nothing goes wrong, and which faults
//! it carries by default. YAML files in `fake-providers/`; the shipped ones are also built
//! into the binary ([`builtin`]).

pub mod builtin;

use serde::Deserialize;
use switchyard_core::config::{ConfigError, ValidationError, parse_yaml};
use switchyard_core::dialect::Dialect;
use switchyard_core::time::{Duration, Instant};

use crate::distribution::{Distribution, DistributionConfig};
use crate::fault::{Fault, FaultConfig};

/// The most output tokens a reply may typically have (`output_tokens`' p99 or max): the
/// fake writes out the text of every token in memory, ~7 bytes each.
pub const MAX_OUTPUT_TOKENS: f64 = 2_000_000.0;
/// The longest typical first-token latency: longer is a `hang` fault, not a latency.
pub const MAX_FIRST_TOKEN: Duration = Duration::from_secs(3600);

/// A distribution's typical largest value: its max, p99, or mean plus three deviations.
/// Bounds on distributions apply to this (a long tail may still draw past it, rarely).
pub fn typical_max(d: &Distribution) -> f64 {
    match d {
        Distribution::Fixed(v) => *v,
        Distribution::Uniform { max, .. } => *max,
        Distribution::Normal { mean, stddev } => mean + 3.0 * stddev,
        Distribution::LogNormal { mu, sigma } => (mu + 2.326_347_874 * sigma).exp(),
        Distribution::Empirical(points) => points.last().map_or(0.0, |&(_, v)| v),
    }
}

/// The JSON Schema of profile files, for editors and the docs.
pub fn schema() -> String {
    let schema = schemars::schema_for!(ProfileConfig);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// A fake provider's profile, as written in `fake-providers/NAME.yaml`.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// The provider's name (what `fake serve` prints, what scenarios refer to).
    pub name: String,
    /// `openai`, `anthropic`, `gemini` or `azure-openai`.
    pub dialect: Dialect,
    /// The models (for Azure: the deployments) it serves.
    pub models: Vec<ModelConfig>,
    /// How fast it answers.
    #[serde(default)]
    pub latency: LatencyConfig,
    /// Output tokens per reply, before the request's `max_tokens` caps it; default uniform 50..400.
    /// Its p99 (or max) is at most 2 000 000.
    #[serde(default)]
    pub output_tokens: Option<DistributionConfig<f64>>,
    /// Keys it accepts; empty accepts any non-empty key.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Its rate limits; over them it answers the vendor's 429 with a Retry-After.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Faults active from the start of every run (scenarios add their own).
    #[serde(default)]
    pub faults: Vec<FaultConfig>,
    /// Whether a conversation ending with an assistant turn (Anthropic) or a model turn
    /// (Gemini) is continued, as older models do; `false` refuses it with the vendor's 400,
    /// as the newest models do. Default true. (OpenAI and Azure read a trailing assistant
    /// message as a past turn either way.)
    #[serde(default = "yes")]
    pub prefill: bool,
    /// Whether image parts are taken (each costs a fixed 258 prompt tokens); `false` refuses
    /// them with the vendor's 400, as a text-only model does. Default true.
    #[serde(default = "yes")]
    pub vision: bool,
    /// Of each request's prompt tokens, how many its usage reports read from the provider's
    /// prompt cache (at most all of them): OpenAI's and Azure's
    /// `prompt_tokens_details.cached_tokens`, Anthropic's `cache_read_input_tokens` (its
    /// `input_tokens` then the rest), Gemini's `cachedContentTokenCount`. Default 0: no
    /// cache, and none of those fields.
    #[serde(default)]
    pub cached_prompt_tokens: u32,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The model name requests carry (for Azure: the deployment in the path).
    pub name: String,
    /// Prompt plus output tokens; default 128000.
    #[serde(default = "default_window")]
    pub context_window: u32,
    /// USD per million tokens.
    #[serde(default)]
    pub price: PriceConfig,
}

fn default_window() -> u32 {
    128_000
}

#[derive(Clone, Copy, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// USD per million prompt tokens; default 0.
    #[serde(default)]
    pub input: f64,
    /// USD per million completion tokens; default 0.
    #[serde(default)]
    pub output: f64,
}

#[derive(Clone, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    /// Time to first token; default lognormal p50 400ms, p99 2s. Its p99 (or max) is at most 1h.
    pub first_token: Option<DistributionConfig<Duration>>,
    /// Output tokens per second; default normal mean 80, stddev 15.
    pub tokens_per_second: Option<DistributionConfig<f64>>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests a minute; default unlimited.
    pub requests_per_minute: Option<u64>,
    /// Prompt plus completion tokens a minute; default unlimited.
    pub tokens_per_minute: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelParams {
    pub name: String,
    pub context_window: u32,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

/// A validated profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileParams {
    pub name: String,
    pub dialect: Dialect,
    pub models: Vec<ModelParams>,
    pub first_token: Distribution,
    pub tokens_per_second: Distribution,
    pub output_tokens: Distribution,
    pub keys: Vec<String>,
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub faults: Vec<FaultConfig>,
    /// See [`ProfileConfig::prefill`].
    pub prefill: bool,
    /// See [`ProfileConfig::vision`].
    pub vision: bool,
    /// See [`ProfileConfig::cached_prompt_tokens`].
    pub cached_prompt_tokens: u32,
}

impl ProfileParams {
    pub fn model(&self, name: &str) -> Option<&ModelParams> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Does the profile take this key?
    pub fn accepts(&self, key: &str) -> bool {
        !key.is_empty() && (self.keys.is_empty() || self.keys.iter().any(|k| k == key))
    }

    /// The profile's default faults, validated, starting at `origin`.
    pub fn default_faults(&self, origin: Instant) -> Vec<Fault> {
        // Validated in `try_from`, so every one resolves.
        self.faults
            .iter()
            .filter_map(|f| f.resolve(origin).ok())
            .collect()
    }
}

impl TryFrom<&ProfileConfig> for ProfileParams {
    type Error = ValidationError;

    fn try_from(c: &ProfileConfig) -> Result<Self, ValidationError> {
        if c.name.trim().is_empty() {
            return Err(ValidationError::new("name", "must not be empty"));
        }
        let models = models(c)?;
        let (first_token, tokens_per_second, output_tokens) = distributions(c)?;
        for (field, v) in [
            ("requests_per_minute", c.limits.requests_per_minute),
            ("tokens_per_minute", c.limits.tokens_per_minute),
        ] {
            if v == Some(0) {
                return Err(ValidationError::new(
                    format!("limits.{field}"),
                    "must be at least 1 (leave it out for no limit)",
                ));
            }
        }
        for (i, f) in c.faults.iter().enumerate() {
            f.resolve(Instant::ZERO)
                .map_err(|e| ValidationError::new(e.path(&format!("faults[{i}]")), e.message))?;
        }
        Ok(ProfileParams {
            name: c.name.clone(),
            dialect: c.dialect,
            models,
            first_token,
            tokens_per_second,
            output_tokens,
            keys: c.keys.clone(),
            requests_per_minute: c.limits.requests_per_minute,
            tokens_per_minute: c.limits.tokens_per_minute,
            faults: c.faults.clone(),
            prefill: c.prefill,
            vision: c.vision,
            cached_prompt_tokens: c.cached_prompt_tokens,
        })
    }
}

/// The profile's models: at least one, each named once, with a context window and prices.
fn models(c: &ProfileConfig) -> Result<Vec<ModelParams>, ValidationError> {
    if c.models.is_empty() {
        return Err(ValidationError::new(
            "models",
            "a profile needs at least one model",
        ));
    }
    let mut models = Vec::with_capacity(c.models.len());
    for (i, m) in c.models.iter().enumerate() {
        if models.iter().any(|x: &ModelParams| x.name == m.name) {
            return Err(ValidationError::new(
                format!("models[{i}].name"),
                format!("model `{}` is listed twice", m.name),
            ));
        }
        if m.context_window == 0 {
            return Err(ValidationError::new(
                format!("models[{i}].context_window"),
                "must be at least 1",
            ));
        }
        for (field, v) in [("input", m.price.input), ("output", m.price.output)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ValidationError::new(
                    format!("models[{i}].price.{field}"),
                    format!("must be zero or more, not {v}"),
                ));
            }
        }
        models.push(ModelParams {
            name: m.name.clone(),
            context_window: m.context_window,
            input_per_mtok: m.price.input,
            output_per_mtok: m.price.output,
        });
    }
    Ok(models)
}

/// First-token latency, tokens per second and output length, defaults filled in, within
/// the bounds a run can afford.
fn distributions(
    c: &ProfileConfig,
) -> Result<(Distribution, Distribution, Distribution), ValidationError> {
    let dist =
        |path: &str, r: Result<Distribution, String>| r.map_err(|e| ValidationError::new(path, e));
    let first_token = match &c.latency.first_token {
        Some(d) => dist("latency.first_token", d.resolve())?,
        None => dist(
            "latency.first_token",
            DistributionConfig::Lognormal { p50: 0.4, p99: 2.0 }.resolve(),
        )?,
    };
    let tokens_per_second = match &c.latency.tokens_per_second {
        Some(d) => dist("latency.tokens_per_second", d.resolve())?,
        None => Distribution::Normal {
            mean: 80.0,
            stddev: 15.0,
        },
    };
    let output_tokens = match &c.output_tokens {
        Some(d) => dist("output_tokens", d.resolve())?,
        None => Distribution::Uniform {
            min: 50.0,
            max: 400.0,
        },
    };
    if typical_max(&first_token) > MAX_FIRST_TOKEN.as_secs_f64() {
        return Err(ValidationError::new(
            "latency.first_token",
            format!(
                "must stay under {MAX_FIRST_TOKEN} (p99 or max); write a `hang` fault for longer"
            ),
        ));
    }
    if typical_max(&output_tokens) > MAX_OUTPUT_TOKENS {
        return Err(ValidationError::new(
            "output_tokens",
            format!(
                "reaches {} tokens (p99 or max); at most {MAX_OUTPUT_TOKENS}",
                typical_max(&output_tokens)
            ),
        ));
    }
    Ok((first_token, tokens_per_second, output_tokens))
}

/// Parses and validates a profile; errors name the file, line, column and field.
pub fn load_profile(text: &str, file: &str) -> Result<ProfileParams, ConfigError> {
    let config: ProfileConfig = parse_yaml(text, file)?;
    ProfileParams::try_from(&config).map_err(|e| e.at(text, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "\
name: openai
dialect: openai
models:
  - { name: gpt-4o, context_window: 128000, price: { input: 2.5, output: 10 } }
latency:
  first_token: { lognormal: { p50: 300ms, p99: 2s } }
  tokens_per_second: { normal: { mean: 90, stddev: 10 } }
output_tokens: { uniform: { min: 10, max: 20 } }
keys: [sk-test]
limits: { requests_per_minute: 60 }
faults:
  - { kind: http, status: 500, first: 1 }
";

    #[test]
    fn a_profile_loads() {
        let p = load_profile(PROFILE, "openai.yaml").unwrap();
        assert_eq!((p.name.as_str(), p.dialect), ("openai", Dialect::Openai));
        assert!(p.accepts("sk-test") && !p.accepts("sk-other") && !p.accepts(""));
        assert_eq!(p.model("gpt-4o").unwrap().context_window, 128_000);
        assert_eq!(p.default_faults(Instant::ZERO).len(), 1);
    }

    #[test]
    fn bad_profiles_name_line_and_field() {
        let e = load_profile(
            &PROFILE.replace("dialect: openai", "dialect: openia"),
            "p.yaml",
        )
        .unwrap_err();
        assert_eq!((e.line, e.path.as_str()), (2, "dialect"));
        let e = load_profile(&PROFILE.replace("p99: 2s", "p99: 2"), "p.yaml").unwrap_err();
        assert!(e.message.contains("no unit"), "{e}");
        let e = load_profile(&PROFILE.replace("p99: 2s", "p99: 100ms"), "p.yaml").unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("latency.first_token", 6), "{e}");
        let e = load_profile(&PROFILE.replace("status: 500", "status: 200"), "p.yaml").unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("faults[0].status", 12), "{e}");
        let e = load_profile(&PROFILE.replace("keys:", "kees:"), "p.yaml").unwrap_err();
        assert!(e.message.contains("unknown field `kees`"), "{e}");
        assert_eq!(e.line, 9);
        let e = load_profile("name: x\n", "p.yaml").unwrap_err();
        assert!(e.message.contains("missing field"), "{e}");
    }

    /// Reply lengths the fake would write out in memory, and first tokens that are really
    /// hangs, are refused with their line; the edges load.
    #[test]
    fn profiles_too_big_to_serve_are_refused_with_their_place() {
        for (from, to, path, line) in [
            (
                "{ uniform: { min: 10, max: 20 } }",
                "{ fixed: 5e9 }",
                "output_tokens",
                8,
            ),
            (
                "{ uniform: { min: 10, max: 20 } }",
                "{ lognormal: { p50: 10, p99: 3e6 } }",
                "output_tokens",
                8,
            ),
            (
                "{ uniform: { min: 10, max: 20 } }",
                "{ normal: { mean: 1e6, stddev: 4e5 } }",
                "output_tokens",
                8,
            ),
            (
                "{ lognormal: { p50: 300ms, p99: 2s } }",
                "{ fixed: 2h }",
                "latency.first_token",
                6,
            ),
            (
                "{ lognormal: { p50: 300ms, p99: 2s } }",
                "{ empirical: [[50, 1s], [100, 61m]] }",
                "latency.first_token",
                6,
            ),
        ] {
            let e = load_profile(&PROFILE.replace(from, to), "p.yaml").unwrap_err();
            assert_eq!((e.path.as_str(), e.line), (path, line), "{to}: {e}");
            assert!(
                e.message.contains("at most") || e.message.contains("under"),
                "{e}"
            );
        }
        for (from, to) in [
            ("{ uniform: { min: 10, max: 20 } }", "{ fixed: 2000000 }"),
            ("{ lognormal: { p50: 300ms, p99: 2s } }", "{ fixed: 1h }"),
        ] {
            load_profile(&PROFILE.replace(from, to), "p.yaml").unwrap();
        }
    }
}
