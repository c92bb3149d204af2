//! Credentials: which key each provider is called with, where the key comes from, and how
//! fresh it is — without the key ever being printed.
//!
//! The model here is pure: a [`Secret`] type that redacts itself everywhere, key *sources*
//! (`env:NAME`, `file:PATH`, or `literal:VALUE`, the last allowed only in development for
//! keys), auth styles per dialect, environments, and rotation status from dates the driver
//! supplies (the core has no clock). Reading environment variables and files happens in the
//! live driver. A source must carry one of the three prefixes, spelled in lower case: a typo
//! such as `ENV:X` is refused rather than taken for a literal key. Extra header values take
//! the same sources (literals allowed in production: an organisation id is not a key) and are
//! held as secrets too.
//!
//! Rotation: a provider holds several keys, each with an optional validity window, so an old
//! and a new key can overlap. The key in use is the newest one valid today that has not been
//! revoked; revocation after repeated 401s, and the re-probe after a cool-off, are the
//! [`keyring`] state machine's. Status per key: `expired` (past `valid_until`),
//! `not_yet_valid`, `stale` (older than the rotation period), `due_soon` (within 14 days of
//! it), `fresh`.

pub mod keyring;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::config::ValidationError;
use crate::dialect::Dialect;
#[cfg(doc)]
use keyring::KeyRing;
use keyring::{RevocationConfig, RevocationParams};

/// A secret value. Debug, Display and Serialize print `[redacted]`; only [`Secret::expose`]
/// gives the value, at the one place that writes it into a request. Shared: the key in use
/// is handed to every attempt, and a clone copies no text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(std::sync::Arc<str>);

impl Secret {
    /// Wraps a value; from here on it prints only as `[redacted]`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().into())
    }
    /// The value itself. Call it only where the key goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

/// A calendar day, as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub u32);

impl Date {
    /// Parses `YYYY-MM-DD` (surrounding whitespace ignored); `None` for any other form, a
    /// month outside 1–12, a day its month does not have (`2026-02-30`, `2025-02-29`), or a
    /// day before 1970-01-01.
    pub fn parse(text: &str) -> Option<Date> {
        let t = text.trim();
        if t.len() != 10 {
            return None;
        }
        let date = crate::dialect::parse_rfc3339(&format!("{t}T00:00:00Z"))
            .and_then(|s| u32::try_from(s / 86_400).ok())
            .map(Date)?;
        // The day arithmetic rolls a day past its month's end into the next month; a date
        // that does not print back as written did not exist.
        (date.to_string() == t).then_some(date)
    }
    /// The UTC day a Unix time (seconds) falls on; saturates at `Date(u32::MAX)`.
    pub fn from_unix(secs: u64) -> Date {
        Date(u32::try_from(secs / 86_400).unwrap_or(u32::MAX))
    }
    /// Days from `self` to `later`: negative when `later` is earlier.
    pub fn days_until(self, later: Date) -> i64 {
        i64::from(later.0) - i64::from(self.0)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = crate::dialect::rfc3339(u64::from(self.0) * 86_400);
        f.write_str(&s[..10])
    }
}

impl schemars::JsonSchema for Date {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Date".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A day, `YYYY-MM-DD`",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
        })
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not a date; write YYYY-MM-DD"))
        })
    }
}

/// Where a key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The environment variable of this name.
    Env(String),
    /// The file at this path (the live driver reads it at startup).
    File(String),
    /// A literal in the config file: development only.
    Literal(Secret),
}

impl KeySource {
    /// `env:NAME`, `file:PATH` or `literal:VALUE`. Anything else is refused, with a message
    /// that never repeats the text (it may be a key pasted without its prefix).
    pub fn parse(text: &str) -> Result<KeySource, String> {
        if let Some(name) = text.strip_prefix("env:") {
            Ok(KeySource::Env(name.to_owned()))
        } else if let Some(path) = text.strip_prefix("file:") {
            Ok(KeySource::File(path.to_owned()))
        } else if let Some(value) = text.strip_prefix("literal:") {
            Ok(KeySource::Literal(Secret::new(value)))
        } else {
            let hint = text
                .split_once(':')
                .map(|(prefix, _)| prefix.to_ascii_lowercase())
                .filter(|p| ["env", "file", "literal"].contains(&p.as_str()))
                .map_or(String::new(), |p| {
                    format!(" (prefixes are lower case: `{p}:`)")
                });
            Err(format!(
                "a source is `env:NAME`, `file:PATH` or `literal:VALUE`{hint}"
            ))
        }
    }
}

impl fmt::Display for KeySource {
    /// The source, never the key: `env:OPENAI_API_KEY`, `file:/run/keys/openai`, `literal`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env(n) => write!(f, "env:{n}"),
            KeySource::File(p) => write!(f, "file:{p}"),
            KeySource::Literal(_) => f.write_str("literal"),
        }
    }
}

/// How the key goes on the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer KEY` (OpenAI).
    Bearer,
    /// `x-api-key: KEY` (Anthropic).
    XApiKey,
    /// `api-key: KEY` (Azure OpenAI).
    ApiKeyHeader,
    /// `x-goog-api-key: KEY` (Gemini).
    GoogApiKey,
    /// `?NAME=KEY` in the URL.
    Query(String),
}

impl AuthStyle {
    /// The style the vendor of `dialect` expects when the provider sets no `auth`.
    pub fn default_for(dialect: Dialect) -> AuthStyle {
        match dialect {
            Dialect::Openai => AuthStyle::Bearer,
            Dialect::Anthropic => AuthStyle::XApiKey,
            Dialect::AzureOpenai => AuthStyle::ApiKeyHeader,
            Dialect::Gemini => AuthStyle::GoogApiKey,
        }
    }

    fn parse(text: &str) -> Option<AuthStyle> {
        Some(match text {
            "bearer" => AuthStyle::Bearer,
            "x_api_key" => AuthStyle::XApiKey,
            "api_key" => AuthStyle::ApiKeyHeader,
            "x_goog_api_key" => AuthStyle::GoogApiKey,
            q => AuthStyle::Query(q.strip_prefix("query:")?.to_owned()),
        })
    }
}

/// Headers every request of a dialect carries.
pub fn default_headers(dialect: Dialect) -> BTreeMap<String, KeySource> {
    let mut h = BTreeMap::new();
    if dialect == Dialect::Anthropic {
        h.insert(
            "anthropic-version".to_owned(),
            KeySource::Literal(Secret::new(crate::dialect::anthropic::VERSION)),
        );
    }
    h
}

/// The deployment a config is resolved for: it decides whether providers run against their
/// fakes or live unless they set `mode`, and whether literal keys are allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Every provider talks to its fake with a mock key, unless overridden to `live`.
    #[default]
    Development,
    /// Every provider in use needs a live key from env or file; startup refuses otherwise.
    Production,
}

/// Per provider: use the real vendor or its fake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The vendor, at `base_url`, with the provider's keys.
    Live,
    /// The fake, at `fake_base_url`, with the mock key.
    Fake,
}

/// One of a provider's keys, with its validity window and rotation date.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// `env:NAME`, `file:PATH`, or `literal:KEY` (development only).
    pub source: String,
    /// The first day the key may be used (`YYYY-MM-DD`); default: already valid.
    pub valid_from: Option<Date>,
    /// The last day the key may be used; default: no expiry.
    pub valid_until: Option<Date>,
    /// When the key was last rotated; with the provider's `rotation_days`, when the next
    /// rotation is due.
    pub last_rotated: Option<Date>,
}

/// One provider: a vendor account, its URLs, how it authenticates and its keys.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The name targets use as their `provider`.
    pub name: String,
    /// The vendor's wire format.
    pub dialect: Dialect,
    /// The vendor's URL (`https://api.openai.com`).
    pub base_url: String,
    /// The fake's URL, used in development.
    pub fake_base_url: Option<String>,
    /// Overrides the environment for this provider.
    pub mode: Option<Mode>,
    /// `bearer`, `x_api_key`, `api_key`, `x_goog_api_key` or `query:NAME`; default per dialect.
    pub auth: Option<String>,
    /// Extra headers (`OpenAI-Organization`, `anthropic-beta`); each value is a source:
    /// `env:NAME`, `file:PATH` or `literal:VALUE`. Held as secrets; default none.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// When a key the provider refuses is taken out of use and tried again; default 3 401s
    /// within `60s`, a `5m` cool-off doubling up to `1h` (see [`keyring`]).
    pub revocation: Option<RevocationConfig>,
    /// Rotate keys this often (days).
    pub rotation_days: Option<u32>,
    /// The provider's keys; in use: the newest one valid today and not revoked.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// The key used against the fake in development; default `switchyard-dev`.
    pub mock_key: Option<String>,
}

/// A validated key: its source parsed, `valid_until` not before `valid_from`. The dates are
/// whole days, both ends included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyParams {
    /// Where the key's value comes from.
    pub source: KeySource,
    /// The first day the key may be used; `None`: always was.
    pub valid_from: Option<Date>,
    /// The last day the key may be used; `None`: never expires.
    pub valid_until: Option<Date>,
    /// When the key was last rotated; `None`: rotation is counted from `valid_from`.
    pub last_rotated: Option<Date>,
}

/// A provider's validated connection and credential settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderParams {
    /// The name targets use as their `provider`; unique among providers.
    pub name: String,
    /// The vendor's wire format.
    pub dialect: Dialect,
    /// Live or fake: the provider's own `mode`, else the environment's default.
    pub mode: Mode,
    /// The URL in use (the fake's in fake mode): `http://` or `https://`, without a
    /// trailing `/`.
    pub base_url: String,
    /// How the key goes on each request.
    pub auth: AuthStyle,
    /// Header name to the source of its value (the dialect's fixed ones as literals).
    pub headers: BTreeMap<String, KeySource>,
    /// The rotation period in days, for [`KeyParams::status`]; `None`: keys never go stale.
    pub rotation_days: Option<u32>,
    /// In fake mode: one literal mock key. In live mode: the configured keys, in config order
    /// (empty only for a provider no target uses).
    pub keys: Vec<KeyParams>,
    /// When a refused key is taken out of use and tried again.
    pub revocation: RevocationParams,
}

/// A key's rotation state on a given day (see [`KeyParams::status`]). The derived order is
/// declaration order, not severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyStatus {
    /// Valid, and its rotation is more than [`DUE_SOON_DAYS`] away (or not tracked).
    Fresh,
    /// Valid, and due for rotation within [`DUE_SOON_DAYS`] days (the due day included).
    DueSoon,
    /// Valid, but past its rotation date.
    Stale,
    /// Before its `valid_from`.
    NotYetValid,
    /// After its `valid_until`.
    Expired,
}

impl KeyStatus {
    /// The state in the words reports and `switchyard creds` print (`due soon`).
    pub const fn label(self) -> &'static str {
        match self {
            KeyStatus::Fresh => "fresh",
            KeyStatus::DueSoon => "due soon",
            KeyStatus::Stale => "stale",
            KeyStatus::NotYetValid => "not yet valid",
            KeyStatus::Expired => "expired",
        }
    }
}

/// Days before the rotation date that a key counts as due soon.
pub const DUE_SOON_DAYS: i64 = 14;

impl KeyParams {
    /// Whether `today` lies in the key's validity window, both ends included.
    pub fn is_valid_on(&self, today: Date) -> bool {
        self.valid_from.is_none_or(|d| d <= today) && self.valid_until.is_none_or(|d| today <= d)
    }

    /// The key's state on `today`: expired or not yet valid first; otherwise, with a
    /// rotation period and a `last_rotated` (else `valid_from`) date, stale, due soon or fresh
    /// by the days left to `rotated + period`; without either, fresh.
    pub fn status(&self, today: Date, rotation_days: Option<u32>) -> KeyStatus {
        if self.valid_until.is_some_and(|d| today > d) {
            return KeyStatus::Expired;
        }
        if self.valid_from.is_some_and(|d| today < d) {
            return KeyStatus::NotYetValid;
        }
        let (Some(period), Some(rotated)) = (rotation_days, self.last_rotated.or(self.valid_from))
        else {
            return KeyStatus::Fresh;
        };
        let due = Date(rotated.0.saturating_add(period));
        match today.days_until(due) {
            d if d < 0 => KeyStatus::Stale,
            d if d <= DUE_SOON_DAYS => KeyStatus::DueSoon,
            _ => KeyStatus::Fresh,
        }
    }
}

impl ProviderParams {
    /// A key's rank for [`KeyRing::choose`] on `today`: newer `valid_from` first (a key
    /// without one ranks below every key with one), then the later in the list; `None` when
    /// the key is not valid today or `key` is out of range.
    pub fn rank(&self, key: usize, today: Date) -> Option<(Option<Date>, usize)> {
        let k = self.keys.get(key)?;
        k.is_valid_on(today).then_some((k.valid_from, key))
    }
}

/// `url`, the one provider `path` uses in `mode`, is http or https; or an error naming the
/// field it came from (a fake's in mock mode, the vendor's otherwise).
fn check_http(path: &str, mode: Mode, url: &str) -> Result<(), ValidationError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(());
    }
    let field = match mode {
        Mode::Fake => "fake_base_url",
        Mode::Live => "base_url",
    };
    Err(ValidationError::new(
        format!("{path}.{field}"),
        format!("`{url}` is not an http(s) URL"),
    ))
}

/// Validates provider configs for an environment, in order. `used` names the providers the
/// router's targets use.
///
/// # Errors
///
/// The first problem found, with its field path (`providers[0].keys[1].source`): a name
/// defined twice; an unknown `auth` style; a header or key source without a lower-case
/// `env:`, `file:` or `literal:` prefix (checked in fake mode too); invalid `revocation`
/// settings; in fake mode, no `fake_base_url`; in live mode, a literal key in production, a
/// `valid_until` before `valid_from`, or no keys on a provider in `used`; a URL that is not
/// `http(s)://`, or (`base_url` and `fake_base_url`, either mode) that carries user
/// information (`user:password@host`, never echoed); a name in `used` that no provider defines. No message contains a key.
pub fn resolve_providers(
    configs: &[ProviderConfig],
    environment: Environment,
    used: &[&str],
) -> Result<Vec<ProviderParams>, ValidationError> {
    let mut out = Vec::with_capacity(configs.len());
    for (i, c) in configs.iter().enumerate() {
        let path = format!("providers[{i}]");
        if out.iter().any(|p: &ProviderParams| p.name == c.name) {
            return Err(ValidationError::new(
                format!("{path}.name"),
                format!("provider `{}` is defined twice", c.name),
            ));
        }
        let mode = c.mode.unwrap_or(match environment {
            Environment::Development => Mode::Fake,
            Environment::Production => Mode::Live,
        });
        let auth = match &c.auth {
            None => AuthStyle::default_for(c.dialect),
            Some(a) => AuthStyle::parse(a).ok_or_else(|| {
                ValidationError::new(format!("{path}.auth"), format!("unknown auth style `{a}`; use bearer, x_api_key, api_key, x_goog_api_key or query:NAME"))
            })?,
        };
        let mut headers = default_headers(c.dialect);
        for (name, value) in &c.headers {
            let source = KeySource::parse(value)
                .map_err(|m| ValidationError::new(format!("{path}.headers.{name}"), m))?;
            headers.insert(name.clone(), source);
        }
        let revocation = match &c.revocation {
            None => RevocationParams::default(),
            Some(r) => RevocationParams::from_config(r, &format!("{path}.revocation"))?,
        };
        // Every key's source is checked, in fake mode too: a typo must not wait for the day
        // the provider goes live.
        let mut sources = Vec::with_capacity(c.keys.len());
        for (k, key) in c.keys.iter().enumerate() {
            sources.push(
                KeySource::parse(&key.source)
                    .map_err(|m| ValidationError::new(format!("{path}.keys[{k}].source"), m))?,
            );
        }
        // Both URLs, whichever the mode uses: a typo must not wait for the day it counts.
        no_userinfo(&format!("{path}.base_url"), &c.base_url)?;
        if let Some(url) = &c.fake_base_url {
            no_userinfo(&format!("{path}.fake_base_url"), url)?;
        }
        let (base_url, keys) = match mode {
            Mode::Fake => fake_endpoint(&path, c)?,
            Mode::Live => (
                c.base_url.clone(),
                live_keys(&path, c, sources, environment, used)?,
            ),
        };
        check_http(&path, mode, &base_url)?;
        out.push(ProviderParams {
            name: c.name.clone(),
            dialect: c.dialect,
            mode,
            base_url: base_url.trim_end_matches('/').to_owned(),
            auth,
            headers,
            rotation_days: c.rotation_days,
            keys,
            revocation,
        });
    }
    for name in used {
        if !out.iter().any(|p| p.name == *name) {
            return Err(ValidationError::new(
                "providers",
                format!("targets use provider `{name}`, which is not defined here"),
            ));
        }
    }
    Ok(out)
}

/// A URL with user information in its authority (`https://user:password@host`) is refused:
/// the client would send it nowhere (credentials go in `keys` or `headers`), and the text
/// must not be kept where logs and reports print base URLs. The message never echoes it.
fn no_userinfo(path: &str, url: &str) -> Result<(), ValidationError> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if authority.contains('@') {
        return Err(ValidationError::new(
            path,
            "has user information (`user:password@`) in its host part; put credentials in \
             `keys` or `headers`, never in the URL",
        ));
    }
    Ok(())
}

/// A provider in fake mode: its fake's URL, and the mock key (default `switchyard-dev`).
fn fake_endpoint(
    path: &str,
    c: &ProviderConfig,
) -> Result<(String, Vec<KeyParams>), ValidationError> {
    let url = c.fake_base_url.clone().ok_or_else(|| {
        ValidationError::new(
            format!("{path}.fake_base_url"),
            format!(
                "provider `{}` runs against its fake here but has no fake_base_url",
                c.name
            ),
        )
    })?;
    let mock = c
        .mock_key
        .clone()
        .unwrap_or_else(|| "switchyard-dev".to_owned());
    let key = KeyParams {
        source: KeySource::Literal(Secret::new(mock)),
        valid_from: None,
        valid_until: None,
        last_rotated: None,
    };
    Ok((url, vec![key]))
}

/// A live provider's keys (their `sources` parsed already): no literal key in production,
/// no key valid until before it is valid from, and at least one when the router uses it.
fn live_keys(
    path: &str,
    c: &ProviderConfig,
    sources: Vec<KeySource>,
    environment: Environment,
    used: &[&str],
) -> Result<Vec<KeyParams>, ValidationError> {
    let mut keys = Vec::with_capacity(c.keys.len());
    for (k, (key, source)) in c.keys.iter().zip(sources).enumerate() {
        if matches!(source, KeySource::Literal(_)) && environment == Environment::Production {
            return Err(ValidationError::new(
                format!("{path}.keys[{k}].source"),
                "a literal key is allowed only in development; use env:NAME or file:PATH",
            ));
        }
        if let (Some(from), Some(until)) = (key.valid_from, key.valid_until)
            && until < from
        {
            return Err(ValidationError::new(
                format!("{path}.keys[{k}].valid_until"),
                format!("is before valid_from ({from})"),
            ));
        }
        keys.push(KeyParams {
            source,
            valid_from: key.valid_from,
            valid_until: key.valid_until,
            last_rotated: key.last_rotated,
        });
    }
    if keys.is_empty() && used.contains(&c.name.as_str()) {
        return Err(ValidationError::new(
            format!("{path}.keys"),
            format!("provider `{}` is live but has no keys", c.name),
        ));
    }
    Ok(keys)
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
