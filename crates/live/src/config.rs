//! The live configuration: an environment, the providers with their credentials, and the
//! router. One YAML file, the same one the gateway reads.

use serde::Deserialize;
use switchyard_core::config::{ConfigError, RouterConfig, ValidationError, parse_yaml};
use switchyard_core::credentials::{
    Environment, ProviderConfig, ProviderParams, resolve_providers,
};
use switchyard_core::router::RouterParams;

use crate::adapter::InputLimits;

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// `development` (default: fakes and mock keys) or `production` (live keys required).
    #[serde(default)]
    pub environment: Environment,
    /// The providers: how to reach each vendor (and its fake), and its keys.
    pub providers: Vec<ProviderConfig>,
    /// The router: targets, routes, rules, plan, breakers (as in a scenario's `router`).
    pub router: RouterConfig,
    /// Settings for `switchyard gateway` (ignored elsewhere).
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// How much the live driver reads from an upstream; every limit has a default.
    #[serde(default)]
    pub limits: InputLimitsConfig,
}

#[derive(Clone, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where to listen (`IP:PORT`); default 127.0.0.1:8080 (the command line's `--listen`
    /// wins). A non-loopback address without client `keys` needs `--allow-unauthenticated`.
    pub listen: Option<String>,
    /// Largest request body accepted, at most 256 MiB (a body is held in memory while it is
    /// read). Default: sized for the largest `context_window` among the targets
    /// ([`GatewayConfig::max_body`]).
    pub max_body_bytes: Option<usize>,
    /// SHA-256 (64 hex characters) of the admin token for `/admin/`; without it the admin
    /// API is off.
    pub admin_token_sha256: Option<String>,
    /// SHA-256 (64 hex characters) of a token that `GET /metrics` requires as
    /// `Authorization: Bearer <token>` (401 otherwise); without it `/metrics` is open.
    pub metrics_token_sha256: Option<String>,
    /// `text` (default) or `json`: the format of the gateway's log lines on stderr.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Least severe level logged: `error`, `warn`, `info` (default), `debug` or `trace`.
    /// A `RUST_LOG` environment variable holding one of these words wins.
    pub log_level: Option<LogLevel>,
    /// Client keys, stored hashed; without any, clients need no key (development only: the
    /// gateway refuses to start in `production` without keys).
    #[serde(default)]
    pub keys: Vec<GatewayKeyConfig>,
    /// Most `/v1/` requests served at once, a streamed reply counting until its body ends;
    /// one more is shed with a 503 (`overloaded`, `Retry-After: 1`; on `/v1/messages`
    /// Anthropic's 529 `overloaded_error`). Default 1024;
    /// 1 to 65536. Read at start (a reload keeps it).
    pub max_in_flight: Option<usize>,
    /// How long a client may take to send a request body, from the moment the gateway starts
    /// reading it; a slower one gets a 408 (`request_timeout`). Default 10s;
    /// 100ms to 10m. Read at start (a reload keeps it).
    pub body_read_timeout: Option<switchyard_core::time::Duration>,
    /// How long requests in flight get to finish once SIGTERM or SIGINT arrives (the drain);
    /// those still running then are cut, their access lines saying `shutdown`. Default 30s;
    /// 0s (cut at once) to 1h. Read at start (a reload keeps it).
    pub shutdown_grace: Option<switchyard_core::time::Duration>,
    /// Serving threads, each running its own single-threaded runtime with its own listening
    /// socket on the same address (docs/GATEWAY.md, "Cores"). Default: the number of cores
    /// available to the process, at most 8 ([`DEFAULT_MAX_THREADS`]); 1 to 256
    /// ([`MAX_THREADS`]) when set. The command line's `--threads` wins. Read at start (a
    /// reload keeps it).
    #[schemars(range(min = 1, max = 256))]
    pub threads: Option<usize>,
    /// Whether each serving thread is pinned to a CPU of its own, so that the scheduler does
    /// not move it between cores, where it finds its caches cold (docs/GATEWAY.md, "Cores"):
    /// for a gateway that has its CPUs to itself. Only when there are exactly as many serving
    /// threads as CPUs the process may run on (its affinity mask: all of a machine's cores by
    /// default, a container's cpuset or `taskset`'s set otherwise); with fewer or more threads
    /// none is pinned. Default `false`: a pinned thread cannot leave a core another process
    /// keeps busy. Read at start (a reload keeps it).
    pub pin_threads: Option<bool>,
    /// Whether clients learn which targets a request tried: the `x-switchyard-target`,
    /// `x-switchyard-attempts` and `x-switchyard-attempt-log` headers, an error's
    /// `x-switchyard-outcome` (why the router failed it), and target names in error
    /// messages. Default `false` (they stay in the gateway's logs); a client key's own
    /// `expose_attempts` overrides it for that key.
    #[serde(default)]
    pub expose_attempts: bool,
    /// Share breakers, parking, rate limits, cost caps and recovery with the other gateways
    /// of a fleet through Redis (docs/FLEET.md); without it this gateway decides alone.
    pub shared_state: Option<SharedStateConfig>,
    /// A PEM file of certificate authorities trusted for https to providers besides the
    /// built-in (Mozilla) roots: a private endpoint, a proxy with its own authority. Relative
    /// to the config file's folder; at most 1 MiB. Read at start (a reload keeps its roots).
    #[serde(default, deserialize_with = "roots::named_file")]
    #[schemars(with = "String")]
    pub upstream_ca_file: Option<String>,
}

/// `gateway.shared_state`: the Redis a fleet of gateways shares, and how often each syncs.
#[derive(Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedStateConfig {
    /// The store's URL: `redis://[:password@]host:port[/db]`, `rediss://...`, or
    /// `redis+unix:///path/to/redis.sock[?pass=...]`. It may hold a password: the gateway
    /// never prints it.
    pub redis: String,
    /// How often the gateway syncs with the store (reads its peers' advisories, tops up its
    /// leases, beats): the bound on how stale its view of the fleet is. Default 1s; 10ms to
    /// 1h. Each store call times out after half of it.
    pub sync_every: Option<switchyard_core::time::Duration>,
    /// A lease block, as a fraction of each shared rate limit or cost cap (0 < b <= 1):
    /// the most this gateway holds, so the fleet's over-admission bound. Default 0.05.
    pub lease_block: Option<f64>,
    /// This gateway's number in the fleet (the holder of a half-open target's probe token);
    /// each replica needs its own: the number is claimed in the store at start, and a
    /// gateway whose number another live one holds is refused. Default: a random number,
    /// the process id hashed with keys drawn per process.
    pub replica: Option<u32>,
}

impl std::fmt::Debug for SharedStateConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStateConfig")
            .field("redis", &"<redacted>")
            .field("sync_every", &self.sync_every)
            .field("lease_block", &self.lease_block)
            .field("replica", &self.replica)
            .finish()
    }
}

/// `shared_state.sync_every` when unset.
pub const DEFAULT_SYNC_EVERY: switchyard_core::time::Duration =
    switchyard_core::time::Duration::from_secs(1);
/// `shared_state.lease_block` when unset.
pub const DEFAULT_LEASE_BLOCK: f64 = 0.05;

impl SharedStateConfig {
    /// `sync_every`, or its default.
    pub fn sync_every(&self) -> switchyard_core::time::Duration {
        self.sync_every.unwrap_or(DEFAULT_SYNC_EVERY)
    }

    /// `lease_block`, or its default.
    pub fn lease_block(&self) -> f64 {
        self.lease_block.unwrap_or(DEFAULT_LEASE_BLOCK)
    }

    fn validate(&self) -> Result<(), ValidationError> {
        use switchyard_core::time::Duration;
        let scheme = self.redis.split("://").next().unwrap_or("");
        if !self.redis.contains("://")
            || !["redis", "rediss", "redis+unix", "unix", "valkey", "valkeys"].contains(&scheme)
        {
            // The URL itself is not repeated: it may hold a password.
            return Err(ValidationError::new(
                "gateway.shared_state.redis",
                "must be a redis://, rediss:// or redis+unix:// URL",
            ));
        }
        let every = self.sync_every();
        if !(Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&every) {
            return Err(ValidationError::new(
                "gateway.shared_state.sync_every",
                format!("must be 10ms to 1h, not {every}"),
            ));
        }
        let b = self.lease_block();
        if !(b > 0.0 && b <= 1.0) {
            return Err(ValidationError::new(
                "gateway.shared_state.lease_block",
                format!("must be above 0 and at most 1 (a fraction of each limit), not {b}"),
            ));
        }
        Ok(())
    }
}

/// How the gateway writes its log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One human-readable line per event (`key=value` fields).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A log level, least to most verbose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// `error`, `warn`, `info`, `debug` or `trace` (any case); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }
}

/// The request body limit when `gateway.max_body_bytes` is unset and no target is
/// configured, and the least the derived limit gives (the fixed default before it was derived).
pub const MIN_DEFAULT_MAX_BODY: usize = 1 << 20;
/// Bytes a prompt token takes in a request body, for sizing the default body limit: about 4
/// characters of English per token, times 2 for JSON escaping and message framing.
pub const BODY_BYTES_PER_TOKEN: u64 = 8;
/// Room for images on top of the text, for sizing the default body limit.
pub const BODY_IMAGE_ROOM: u64 = 8 << 20;

/// The JSON Schema of live config files (the gateway's config), for editors and the docs.
pub fn schema() -> String {
    let schema = schemars::schema_for!(LiveConfig);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// The default body limit for a router: `largest context_window × 8 bytes + 8 MiB`, at least
/// 1 MiB and at most 256 MiB.
pub fn derived_max_body(router: &RouterParams) -> usize {
    let window = router
        .targets
        .iter()
        .map(|t| u64::from(t.context_window))
        .max()
        .unwrap_or(0);
    if window == 0 {
        return MIN_DEFAULT_MAX_BODY;
    }
    let bytes = window
        .saturating_mul(BODY_BYTES_PER_TOKEN)
        .saturating_add(BODY_IMAGE_ROOM);
    usize::try_from(bytes)
        .unwrap_or(MAX_BODY_BYTES)
        .clamp(MIN_DEFAULT_MAX_BODY, MAX_BODY_BYTES)
}

/// Decodes a SHA-256 written as 64 hex characters (either case).
pub fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        *o = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

fn check_sha256(path: String, hex: &str) -> Result<(), ValidationError> {
    match decode_sha256(hex) {
        Some(_) => Ok(()),
        None => Err(ValidationError::new(
            path,
            format!(
                "must be a SHA-256 written as 64 hex characters (such as the output of \
                 `printf %s TOKEN | sha256sum`), not {} characters{}",
                hex.len(),
                if hex.len() == 64 {
                    " with a non-hex one"
                } else {
                    ""
                }
            ),
        )),
    }
}

/// `gateway.max_in_flight` when unset.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// The largest `gateway.max_in_flight`.
pub const MAX_IN_FLIGHT: usize = 1 << 16;
/// The largest `gateway.threads`.
pub const MAX_THREADS: usize = 256;
/// The serving threads by default on a machine with `cores` available: one per core, at most
/// [`DEFAULT_MAX_THREADS`].
fn default_threads(cores: usize) -> usize {
    cores.clamp(1, DEFAULT_MAX_THREADS)
}

/// The most serving threads the default (the cores available) gives: each costs memory and
/// file descriptors (docs/GATEWAY.md, "Cores"); more is a setting away.
pub const DEFAULT_MAX_THREADS: usize = 8;
/// `gateway.body_read_timeout` when unset.
pub const DEFAULT_BODY_READ_TIMEOUT: switchyard_core::time::Duration =
    switchyard_core::time::Duration::from_secs(10);

/// `gateway.shutdown_grace` when unset.
pub const DEFAULT_SHUTDOWN_GRACE: switchyard_core::time::Duration =
    switchyard_core::time::Duration::from_secs(30);
/// The longest `gateway.shutdown_grace`.
pub const MAX_SHUTDOWN_GRACE: switchyard_core::time::Duration =
    switchyard_core::time::Duration::from_secs(3600);

impl GatewayConfig {
    /// `max_in_flight`, or its default.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT)
    }

    /// `threads`, or the cores available to the process (1 when that is unknown), at most
    /// [`DEFAULT_MAX_THREADS`].
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            default_threads(
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            )
        })
    }

    /// `pin_threads`, or its default (`false`).
    pub fn pin_threads(&self) -> bool {
        self.pin_threads.unwrap_or(false)
    }

    /// `body_read_timeout`, or its default.
    pub fn body_read_timeout(&self) -> std::time::Duration {
        self.body_read_timeout
            .unwrap_or(DEFAULT_BODY_READ_TIMEOUT)
            .into()
    }

    /// `shutdown_grace`, or its default.
    pub fn shutdown_grace(&self) -> std::time::Duration {
        self.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE).into()
    }

    /// `max_body_bytes`, or the default derived from `router`'s largest context window
    /// ([`derived_max_body`]).
    pub fn max_body(&self, router: &RouterParams) -> usize {
        self.max_body_bytes
            .unwrap_or_else(|| derived_max_body(router))
    }

    /// `log_level`, unless `rust_log` (the `RUST_LOG` variable) names a level; default info.
    pub fn log_level(&self, rust_log: Option<&str>) -> LogLevel {
        rust_log
            .and_then(LogLevel::parse)
            .or(self.log_level)
            .unwrap_or(LogLevel::Info)
    }

    /// Checks the bounds; errors carry the field path under `gateway.`.
    fn validate(&self) -> Result<(), ValidationError> {
        use switchyard_core::time::Duration;
        if let Some(h) = &self.admin_token_sha256 {
            check_sha256("gateway.admin_token_sha256".to_owned(), h)?;
        }
        if let Some(h) = &self.metrics_token_sha256 {
            check_sha256("gateway.metrics_token_sha256".to_owned(), h)?;
        }
        for (i, k) in self.keys.iter().enumerate() {
            check_sha256(format!("gateway.keys[{i}].sha256"), &k.sha256)?;
        }
        if let Some(listen) = &self.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(ValidationError::new(
                "gateway.listen",
                format!("`{listen}` is not an address; write IP:PORT, such as 127.0.0.1:8080"),
            ));
        }
        if let Some(n) = self.max_body_bytes
            && !(1..=MAX_BODY_BYTES).contains(&n)
        {
            return Err(ValidationError::new(
                "gateway.max_body_bytes",
                format!("must be between 1 and {MAX_BODY_BYTES}, not {n}"),
            ));
        }
        if let Some(n) = self.max_in_flight
            && !(1..=MAX_IN_FLIGHT).contains(&n)
        {
            return Err(ValidationError::new(
                "gateway.max_in_flight",
                format!("must be between 1 and {MAX_IN_FLIGHT}, not {n}"),
            ));
        }
        if let Some(n) = self.threads
            && !(1..=MAX_THREADS).contains(&n)
        {
            return Err(ValidationError::new(
                "gateway.threads",
                format!("must be between 1 and {MAX_THREADS}, not {n}"),
            ));
        }
        if let Some(d) = self.body_read_timeout
            && !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&d)
        {
            return Err(ValidationError::new(
                "gateway.body_read_timeout",
                format!("must be from 100ms to 10m, not {d}"),
            ));
        }
        if let Some(d) = self.shutdown_grace
            && d > MAX_SHUTDOWN_GRACE
        {
            return Err(ValidationError::new(
                "gateway.shutdown_grace",
                format!("must be from 0s (cut at once) to {MAX_SHUTDOWN_GRACE}, not {d}"),
            ));
        }
        if let Some(shared) = &self.shared_state {
            shared.validate()?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayKeyConfig {
    /// A label for the key (not a secret): access-log lines name the client by it.
    pub name: String,
    /// SHA-256 (64 hex characters) of the key.
    pub sha256: String,
    /// Per-key limit; default none.
    pub requests_per_minute: Option<u64>,
    /// `gateway.expose_attempts` for requests with this key; default: the global setting.
    pub expose_attempts: Option<bool>,
}

/// The `limits:` section: sizes as plain byte counts or humane strings (`64KiB`, `32MiB`,
/// `1GB`; `KiB`/`MiB`/`GiB` are powers of 1024, `KB`/`MB`/`GB` of 1000).
#[derive(Clone, Copy, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputLimitsConfig {
    /// Largest complete reply body; default 32 MiB; 1 KiB to 1 GiB.
    pub max_body_bytes: Option<ByteSize>,
    /// Most of an error body read for classifying it; default 64 KiB; 1 KiB to 16 MiB.
    pub max_error_body_bytes: Option<ByteSize>,
    /// Largest single stream event; default 1 MiB; 1 KiB to 64 MiB.
    pub max_event_bytes: Option<ByteSize>,
}

impl InputLimitsConfig {
    /// Validates against the bounds; errors carry the field path under `limits.`.
    pub fn to_params(&self) -> Result<InputLimits, ValidationError> {
        const KIB: u64 = 1 << 10;
        const MIB: u64 = 1 << 20;
        let d = InputLimits::default();
        let field = |name: &str, v: Option<ByteSize>, default: usize, max: u64| match v {
            None => Ok(default),
            Some(ByteSize(n)) if (KIB..=max).contains(&n) => usize::try_from(n).map_err(|_| {
                ValidationError::new(format!("limits.{name}"), "too large for this machine")
            }),
            Some(ByteSize(n)) => Err(ValidationError::new(
                format!("limits.{name}"),
                format!("must be from 1KiB to {}MiB, not {n} bytes", max / MIB),
            )),
        };
        Ok(InputLimits {
            max_body_bytes: field(
                "max_body_bytes",
                self.max_body_bytes,
                d.max_body_bytes,
                1024 * MIB,
            )?,
            max_error_body_bytes: field(
                "max_error_body_bytes",
                self.max_error_body_bytes,
                d.max_error_body_bytes,
                16 * MIB,
            )?,
            max_event_bytes: field(
                "max_event_bytes",
                self.max_event_bytes,
                d.max_event_bytes,
                64 * MIB,
            )?,
        })
    }
}

/// A size in bytes, written as an integer or a humane string (`64KiB`, `32 MiB`, `1GB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" => 1_000,
            "KiB" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            _ => {
                return Err(format!(
                    "`{t}` is not a size; write bytes or a whole number and a unit (B, KB, KiB, MB, MiB, GB, GiB), such as 64KiB"
                ));
            }
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .map(ByteSize)
            .ok_or_else(|| format!("`{t}` is not a size in bytes that fits in 64 bits"))
    }
}

impl schemars::JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A size: a byte count, or a number and a unit (`64KiB`, `32MiB`, `1GB`)",
            "anyOf": [{ "type": "integer", "minimum": 0 }, { "type": "string" }]
        })
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size: a number of bytes or a string such as 64KiB")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("{v} is negative; sizes are zero or more")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Clone, Debug)]
pub struct LiveParams {
    pub environment: Environment,
    pub providers: Vec<ProviderParams>,
    pub router: RouterParams,
    pub gateway: GatewayConfig,
    /// From the `limits:` section.
    pub limits: InputLimits,
    /// The roots of `gateway.upstream_ca_file` ([`roots::upstream_roots`]; not [`load_live`]'s).
    pub upstream_roots: rustls::RootCertStore,
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
    config.gateway.validate().map_err(|e| e.at(text, file))?;
    let used: Vec<&str> = router.providers.names().collect();
    let providers = resolve_providers(&config.providers, config.environment, &used)
        .map_err(|e| e.at(text, file))?;
    let limits = config.limits.to_params().map_err(|e| e.at(text, file))?;
    Ok(LiveParams {
        environment: config.environment,
        providers,
        router,
        gateway: config.gateway,
        limits,
        upstream_roots: rustls::RootCertStore::empty(),
    })
}

pub mod roots;
#[cfg(test)]
mod tests;
