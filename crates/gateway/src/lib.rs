//! `switchyard-gateway`: the router the scenarios proved, behind an OpenAI-compatible HTTP
//! endpoint, so any application can use it by pointing its OpenAI SDK here.
//!
//! - `POST /v1/chat/completions` (JSON or SSE; `model` a route or a target), `GET
//!   /v1/models[/{model}]` (the routes and the targets that can be named), `GET /metrics`
//!   (Prometheus text, behind `gateway.metrics_token_sha256` when set); replies name the
//!   model that served them and, with `gateway.expose_attempts` (or a key's own), carry
//!   `x-switchyard-target`, `x-switchyard-attempts` and `x-switchyard-attempt-log` (every
//!   attempt's target, outcome and latency: [`switchyard_core::attempt_log`]; errors carry the
//!   log too);
//! - client keys stored as SHA-256 hashes and compared in constant time (the `secret`
//!   module), per-key request rates, a body size limit (by default sized for the largest
//!   context window) and a deadline for reading it (408), a limit on `/v1/` requests in
//!   flight past which requests
//!   are shed (503 `overloaded`; the `shed` module);
//! - `GET /healthz` (alive) and `GET /readyz` (a target to send to, and not draining), no key
//!   needed (the `probe` module);
//! - `/admin/` behind its own token: `GET /admin/state`, `POST /admin/overrides`,
//!   `POST /admin/reload` (also on SIGHUP), every action logged;
//! - structured logs (`tracing`): an access-log line per `/v1/` request (the `access_log`
//!   module) and a line per breaker transition, override, parking, key revocation and reload
//!   (the `router_log` module), as text or JSON ([`logging`]).
//!
//! The router sits behind a lock that is held only to clone it: a reload builds a new one that
//! takes over the old one's runtime state (breakers, parking, overrides, counters, by name),
//! swaps it in, and requests already running finish on the one they started with.

pub mod access_log;
mod admin;
mod chat;
mod config_file;
mod errors;
mod events;
mod fleet;
pub mod logging;
mod messages;
mod probe;
mod router_log;
mod secret;
mod serve;
mod shed;
mod start_only;
mod unrouted;

pub use config_file::read_config;
use config_file::read_for_reload;

pub use serve::{Listeners, Runtimes, serve, serve_threads};

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use switchyard_core::health::limits::TokenBucket;
use switchyard_live::config::{LiveParams, decode_sha256};
use switchyard_live::credentials::CredentialStore;
use switchyard_live::{Driver, Transport};

/// SHA-256 of `text`, lower-case hex: how keys and the admin token are stored.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug)]
struct ClientKey {
    name: String,
    hash: secret::Digest,
    bucket: Option<Mutex<TokenBucket>>,
    /// `keys[].expose_attempts`: overrides `gateway.expose_attempts` for this key.
    expose_attempts: Option<bool>,
}

/// The secrets a config carries, as digests (swapped together on reload).
#[derive(Debug)]
struct Secrets {
    keys: Vec<ClientKey>,
    admin: Option<secret::Digest>,
    metrics: Option<secret::Digest>,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Gateway {
    router: RwLock<Driver>,
    secrets: RwLock<Secrets>,
    config: Option<PathBuf>,
    start: tokio::time::Instant,
    /// Admin actions, newest last (bounded).
    log: Mutex<VecDeque<serde_json::Value>>,
    pub max_body: usize,
    /// `gateway.body_read_timeout`.
    pub body_read_timeout: std::time::Duration,
    /// Permits for `/v1/` requests (`gateway.max_in_flight`).
    in_flight: shed::Limit,
    /// Set once shutdown starts: `/readyz` says 503 from then on.
    draining: AtomicBool,
    /// Set once shutdown's grace has run out: requests still in flight are cut (a stream
    /// ends with an in-band error event), and their access lines say `shutdown` rather than
    /// `client_closed`.
    cut: events::Cut,
    /// `gateway.expose_attempts` (a reload updates it).
    expose_attempts: AtomicBool,
    /// How far the router's events and key events have been logged.
    logged: Mutex<router_log::Cursor>,
    /// Numbers requests for the access log.
    requests: std::sync::atomic::AtomicU64,
    /// Which path served: the fast path's requests, its hand-offs to hyper (`/metrics`).
    tally: serve::Tally,
    /// `/v1/` requests no route booked, for `/metrics` (the `unrouted` module).
    unrouted: unrouted::Unrouted,
    /// Tells this process's request ids from another's (the start time, in seconds).
    instance: u32,
    /// `gateway.shared_state`: the fleet joined, its sync task (read at start).
    shared: Mutex<Option<fleet::Shared>>,
    /// The settings read at start only, as started: a reload warns of those its file changes.
    start_only: start_only::Settings,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Config(#[from] switchyard_core::config::ConfigError),
    #[error("{0}")]
    Credentials(#[from] switchyard_live::credentials::CredentialError),
    #[error("{0}")]
    Build(#[from] switchyard_live::driver::BuildError),
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{0}")]
    Unsafe(String),
    /// `gateway.shared_state` could not start (the message names no URL).
    #[error("gateway.shared_state: {0}")]
    SharedState(String),
}

/// Refuses a start that would serve strangers: `production` without client keys, always;
/// a non-loopback `listen` without client keys, unless `allow_unauthenticated`.
pub fn check_exposure(
    params: &LiveParams,
    listen: std::net::SocketAddr,
    allow_unauthenticated: bool,
) -> Result<(), GatewayError> {
    if !params.gateway.keys.is_empty() {
        return Ok(());
    }
    if params.environment == switchyard_core::credentials::Environment::Production {
        return Err(GatewayError::Unsafe(
            "refusing to start: environment is production but gateway.keys is empty, so anyone \
             could spend the providers' keys; add client keys (SHA-256 hashes) to gateway.keys"
                .to_owned(),
        ));
    }
    if !listen.ip().is_loopback() && !allow_unauthenticated {
        return Err(GatewayError::Unsafe(format!(
            "refusing to listen on {listen} without client keys: any host that reaches it could \
             use the gateway; add gateway.keys, listen on loopback, or pass \
             --allow-unauthenticated"
        )));
    }
    Ok(())
}

/// A stored SHA-256 as a digest; `load_live` validated it, so an error here is a bug, reported
/// rather than turned into a key that matches nothing (or everything).
fn stored_digest(field: &str, hex: &str) -> Result<secret::Digest, GatewayError> {
    decode_sha256(hex).ok_or_else(|| {
        GatewayError::Unsafe(format!(
            "{field} is not a SHA-256 written as 64 hex characters"
        ))
    })
}

fn secrets_of(params: &LiveParams) -> Result<Secrets, GatewayError> {
    let g = &params.gateway;
    let keys = g
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Ok(ClientKey {
                name: k.name.clone(),
                hash: stored_digest(&format!("gateway.keys[{i}].sha256"), &k.sha256)?,
                bucket: k
                    .requests_per_minute
                    .map(|n| Mutex::new(TokenBucket::per_minute(n))),
                expose_attempts: k.expose_attempts,
            })
        })
        .collect::<Result<_, GatewayError>>()?;
    let optional = |field: &str, hex: &Option<String>| {
        hex.as_deref().map(|h| stored_digest(field, h)).transpose()
    };
    Ok(Secrets {
        keys,
        admin: optional("gateway.admin_token_sha256", &g.admin_token_sha256)?,
        metrics: optional("gateway.metrics_token_sha256", &g.metrics_token_sha256)?,
    })
}

/// The credentials of a config, resolved from the environment.
fn credentials_of(params: &LiveParams) -> Result<CredentialStore, GatewayError> {
    let used: Vec<&str> = params.router.providers.names().collect();
    let env = |name: &str| std::env::var(name).ok();
    Ok(CredentialStore::load(
        params.providers.clone(),
        params.environment,
        &used,
        switchyard_live::wall::today(),
        &env,
    )?)
}

/// Builds the router for a config: credentials resolved from the environment.
fn build_router(params: &LiveParams, transport: Transport) -> Result<Driver, GatewayError> {
    Ok(Driver::with_limits(
        params.router.clone(),
        credentials_of(params)?,
        transport,
        1,
        params.limits,
    )?)
}

impl Gateway {
    /// A gateway for a config file (which `reload` re-reads).
    pub fn from_file(path: PathBuf, transport: Transport) -> Result<Arc<Gateway>, GatewayError> {
        let params = read_config(&path)?;
        Self::new(&params, Some(path), transport)
    }

    /// A gateway for parsed params (no reload from disk).
    pub fn new(
        params: &LiveParams,
        config: Option<PathBuf>,
        transport: Transport,
    ) -> Result<Arc<Gateway>, GatewayError> {
        let router = build_router(params, transport)?;
        let gateway = Arc::new(Gateway {
            router: RwLock::new(router),
            secrets: RwLock::new(secrets_of(params)?),
            config,
            start: tokio::time::Instant::now(),
            log: Mutex::new(VecDeque::new()),
            max_body: params.gateway.max_body(&params.router),
            body_read_timeout: params.gateway.body_read_timeout(),
            in_flight: shed::Limit::new(params.gateway.max_in_flight()),
            draining: AtomicBool::new(false),
            cut: events::Cut::default(),
            expose_attempts: AtomicBool::new(params.gateway.expose_attempts),
            logged: Mutex::new(router_log::Cursor::default()),
            requests: std::sync::atomic::AtomicU64::new(0),
            tally: serve::Tally::default(),
            unrouted: unrouted::Unrouted::default(),
            instance: instance_tag(),
            shared: Mutex::new(None),
            start_only: start_only::of(params),
        });
        if let Some(config) = &params.gateway.shared_state {
            let shared = fleet::start(&gateway, config)?;
            *gateway
                .shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(shared);
        }
        Ok(gateway)
    }

    /// Waits until the fleet's first sync has answered (`gateway.shared_state`; at once
    /// without): its leases then hold a block from the shared buckets, or, the store not
    /// answering within its timeout, it runs on local buckets. [`serve`] waits for it before
    /// accepting, so a rate-limited target admits from the first request. Bounded by the sync
    /// period.
    pub async fn fleet_joined(&self) {
        let shared = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|s| {
                // Serving: the sync task runs now, also for a caller that never claimed the
                // number (the claim's own renewals still keep it from acting as a number
                // another process holds).
                s.claimer().open();
                (s.task(), fleet::first_sync_bound(&s.params))
            });
        if let Some((task, bound)) = shared
            && tokio::time::timeout(bound, task.first_sync())
                .await
                .is_err()
        {
            tracing::warn!(
                target: "switchyard::fleet",
                "the first sync with the shared state did not finish within one sync period; serving"
            );
        }
    }

    /// Claims this gateway's replica number in the fleet's store (`gateway.shared_state`; at
    /// once without): refused, naming the number, when another live gateway holds it (two
    /// gateways with one number would share and overwrite each other's state). A claim left
    /// by a gateway that died is waited out (at most three sync periods); a store that does
    /// not answer is no refusal. The CLI and the runner's launcher call it before serving.
    pub async fn claim_replica(&self) -> Result<(), GatewayError> {
        match self.claimer() {
            Some(c) => c.claim().await,
            None => Ok(()),
        }
    }

    /// Leaves the fleet (`gateway.shared_state`; nothing without): stops the sync task and
    /// gives the replica number back, so that a gateway started next with it is not refused.
    /// Called once serving has stopped.
    pub async fn leave_fleet(&self) {
        if let Some(c) = self.claimer() {
            c.release().await;
        }
    }

    fn claimer(&self) -> Option<fleet::Claimer> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(fleet::Shared::claimer)
    }

    /// Marks the gateway as draining: `/readyz` answers 503 from now on, so a load balancer
    /// stops sending new requests while those in flight finish. [`serve`] calls it when its
    /// shutdown starts.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Shutdown's order to cut (given once its grace has run out), for the serving threads,
    /// the streams' bodies and the access log.
    pub(crate) fn cut(&self) -> &events::Cut {
        &self.cut
    }

    /// The router in force (a cheap clone).
    pub fn router(&self) -> Driver {
        self.router
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the config file and swaps the router in; requests in flight keep theirs.
    ///
    /// The new router takes over the running one's runtime state for the targets and routes
    /// that kept their names: breaker states, parking, drains, pins, freezes and counters
    /// ([`Driver::reloaded`]); what cannot carry over (a removed target's state, a pin
    /// whose target is gone or left the route) is logged, one warning line each. The body
    /// limit, `max_in_flight`, `body_read_timeout`, `shutdown_grace` and `gateway.threads`
    /// are read at start only.
    ///
    /// Called from the thread that asked: the main thread's runtime for SIGHUP, the serving
    /// thread that received it for `POST /admin/reload`; either way the new router is the
    /// one all serving threads share.
    pub fn reload(&self) -> Result<(), GatewayError> {
        let Some(path) = &self.config else {
            return Ok(());
        };
        let result = self.reload_from(path);
        if let Err(e) = &result {
            tracing::error!(
                target: "switchyard::reload",
                config = %path.display(),
                error = %e,
                "reload refused; the running config stays"
            );
        }
        result
    }

    fn reload_from(&self, path: &std::path::Path) -> Result<(), GatewayError> {
        let (params, ca_usable) = read_for_reload(path)?;
        // A reload may not turn client authentication off: the start-time checks
        // (`check_exposure`) decide whether a gateway may run keyless, and they need a restart.
        if params.gateway.keys.is_empty() {
            let had_keys = !self
                .secrets
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .keys
                .is_empty();
            if had_keys
                || params.environment == switchyard_core::credentials::Environment::Production
            {
                return Err(GatewayError::Unsafe(
                    "refusing to reload: the new config has no gateway.keys, which would let anyone use the gateway; keep client keys, or restart to run without them"
                        .to_owned(),
                ));
            }
        }
        let secrets = secrets_of(&params)?;
        let store = credentials_of(&params)?;
        // Under the log cursor: the old router's last events are logged before it goes, and
        // the cursor starts again with the new router's (empty) event log.
        let mut cursor = self
            .logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut router = self
            .router
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        router_log::log_new(&router, &mut cursor);
        let (next, lost) = router.reloaded(params.router.clone(), store, 1, params.limits)?;
        // In a fleet (`shared_state`, read at start only), `reloaded` made the new router join
        // it with the old one's fleet state: its leases, or their units given back
        // (`Router::carry_from`).
        *router = next;
        *cursor = router_log::Cursor::default();
        drop(router);
        drop(cursor);
        *self
            .secrets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = secrets;
        self.expose_attempts
            .store(params.gateway.expose_attempts, Ordering::Relaxed);
        let mut next = start_only::of(&params);
        if !ca_usable {
            // Warned about already: a start with it would be refused, not apply it.
            start_only::keep_running(&mut next, &self.start_only, "gateway.upstream_ca_file");
        }
        start_only::warn_changed(&self.start_only, &next);
        for what in &lost {
            tracing::warn!(
                target: "switchyard::reload",
                not_carried = %what,
                "runtime state not carried over"
            );
        }
        tracing::info!(
            target: "switchyard::reload",
            config = %path.display(),
            targets = params.router.targets.len(),
            routes = params.router.routes.len(),
            not_carried = lost.len(),
            "reloaded"
        );
        self.record(serde_json::json!({
            "action": "reload",
            "config": path.display().to_string(),
            "not_carried": lost.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }));
        Ok(())
    }

    /// Logs what happened to the routing since the last call (breaker transitions,
    /// overrides, parking, alerts, key revocations): called when a request finishes and
    /// after an admin action.
    pub(crate) fn log_router_events(&self) {
        let mut cursor = self
            .logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        router_log::log_new(&self.router(), &mut cursor);
    }

    fn record(&self, mut entry: serde_json::Value) {
        entry["at_secs"] = serde_json::json!(self.start.elapsed().as_secs_f64());
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if log.len() >= 1000 {
            log.pop_front();
        }
        log.push_back(entry);
    }

    /// Whether a request with client key `key` (by name; `None` without keys) may learn which
    /// targets it tried: the key's `expose_attempts`, else `gateway.expose_attempts`.
    pub fn exposes_attempts(&self, key: Option<&str>) -> bool {
        let own = key.and_then(|name| {
            self.secrets
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .keys
                .iter()
                .find(|k| k.name == name)
                .and_then(|k| k.expose_attempts)
        });
        own.unwrap_or_else(|| self.expose_attempts.load(Ordering::Relaxed))
    }

    /// Which client key (by name) a bearer token is, when keys are configured; `Ok(None)`
    /// when the gateway takes no keys. `Err` when the key is missing, wrong or over its rate.
    fn authenticate(&self, bearer: Option<&str>) -> Result<Option<String>, errors::ApiError> {
        let secrets = self
            .secrets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let keys = &secrets.keys;
        if keys.is_empty() {
            return Ok(None);
        }
        let Some(token) = bearer else {
            return Err(errors::ApiError::unauthorized(
                "You didn't provide an API key.",
            ));
        };
        let presented = secret::digest(token);
        let found = secret::find(keys.iter().map(|k| &k.hash), &presented);
        let Some(key) = found.and_then(|i| keys.get(i)) else {
            return Err(errors::ApiError::unauthorized(
                "Incorrect API key provided.",
            ));
        };
        if let Some(bucket) = &key.bucket {
            let now = switchyard_core::time::Instant::ZERO
                + switchyard_core::time::Duration::from(self.start.elapsed());
            let mut b = bucket
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !b.has_room(now, 1) {
                let wait = b.wait_for(1);
                return Err(errors::ApiError::rate_limited(&key.name, wait));
            }
            b.take(now, 1);
        }
        Ok(Some(key.name.clone()))
    }
}

/// The gateway's HTTP routes.
///
/// Only the `/v1/` routes count against `gateway.max_in_flight`: probes, metrics and the admin
/// API must answer when the gateway is at its limit, which is when they are needed. The same
/// routes get an access-log line each: one layer gives the line and admits or sheds the
/// request (so a shed request is logged too, and a wrong method: its fallback is set first).
pub fn app(gateway: Arc<Gateway>) -> Router {
    let limit = gateway.max_body;
    let api = Router::new()
        .route(CHAT_PATH, post(chat::completions))
        .route(messages::PATH, post(messages::create))
        .route("/v1/models", get(chat::models))
        .route("/v1/models/{model}", get(chat::model))
        .method_not_allowed_fallback(errors::wrong_method)
        .route_layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            access_log::middleware,
        ));
    let metrics = get(chat::metrics).layer(axum::middleware::from_fn_with_state(
        gateway.clone(),
        admin::metrics_auth,
    ));
    Router::new()
        .merge(api)
        .route("/healthz", get(probe::healthz))
        .route("/readyz", get(probe::readyz))
        .route("/metrics", metrics)
        .route("/admin/state", get(admin::state))
        .route("/admin/overrides", post(admin::overrides))
        .route("/admin/reload", post(admin::reload))
        .fallback(errors::no_such_path)
        .method_not_allowed_fallback(errors::wrong_method)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(gateway)
}

/// The chat endpoint's path.
const CHAT_PATH: &str = "/v1/chat/completions";

/// The tag of this gateway's request ids (`req-{tag}-{count}`): drawn per gateway (the
/// hasher's keys are random per process and move on with each use), so gateways started in
/// the same second, as a fleet's are, do not hand out the same ids.
fn instance_tag() -> u32 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(("request ids", std::process::id()))
        as u32
}

#[cfg(test)]
mod instance_tests {
    /// Two gateways started together (here: in the same second, in one process) tag their
    /// request ids apart; a tag from the start time gave both the same.
    #[test]
    fn gateways_started_together_tag_their_request_ids_apart() {
        let tags: std::collections::BTreeSet<u32> = (0..8).map(|_| super::instance_tag()).collect();
        assert_eq!(tags.len(), 8, "{tags:?}");
    }
}
