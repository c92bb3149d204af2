//! The live driver: runs the routing core's plans over HTTP with tokio timers.
//!
//! `chat` and `chat_stream` are the one interface a Rust service needs. Each request loops on
//! the core's decision seam (`begin` / `next` / `record` / `first_token`); attempts run
//! concurrently when the plan hedges. The core makes every decision: the first stream attempt
//! to yield a token is committed and the core cancels the others (their futures are dropped,
//! which drops their HTTP requests).
//!
//! The module follows a request's path:
//! - `plan_loop`: a request's plan, its guard (drop safety) and the loop on the core's
//!   actions, for `chat`;
//! - `attempt`: one attempt: build, send through the [`Transport`], classify, read a reply
//!   or a stream up to its first token;
//! - `stream`: `chat_stream` and the [`ChatStream`] a caller reads, with resume;
//! - `error`: the [`RouteError`] a failed request returns, with its whole story.
//!
//! This file holds the [`Driver`] itself: how it is built from params and credentials, its
//! clock, and its views of the core's state for admin endpoints and reports.

mod attempt;
mod error;
mod inflight;
mod plan_loop;
mod stream;
mod unreached;

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use switchyard_core::credentials::Date;
use switchyard_core::dialect::Dialect;
use switchyard_core::health::breaker::BreakerState;
use switchyard_core::id::{RouteId, TargetId};
use switchyard_core::overrides::{Override, OverrideError};
use switchyard_core::rng::SeededRng;
use switchyard_core::router::{NotCarried, Router, RouterParams};
use switchyard_core::telemetry::Telemetry;
use switchyard_core::time::{Duration, Instant};

use crate::adapter;
use crate::credentials::CredentialStore;
use crate::transport::{Prepared, Transport};

pub use error::{RouteError, TooLong};
pub use plan_loop::{AttemptSink, NamedAttempts};
pub use stream::{ChatStream, StreamBooking, StreamEvent, StreamItem};

#[derive(Debug)]
struct Binding {
    provider: usize,
    dialect: Dialect,
    model: String,
    name: String,
    default_max_tokens: Option<u32>,
    /// The target's URL for a reply and for a stream ([`adapter::url`]).
    urls: [Option<axum::http::Uri>; 2],
    /// The target's request but its body, for a reply and for a stream, by key index
    /// ([`adapter::prepare`]; `None` where nothing is made once).
    prepared: [Vec<Option<Arc<Prepared>>>; 2],
    /// The host and port the target's requests go to (`Driver::unreached`'s lines): never
    /// the URL's user information, path or query, where a key may be.
    address: String,
    /// `Driver::unreached`'s throttle: when its next line may be written (milliseconds
    /// since the driver started), and the lines left out since the last.
    unreached_next_ms: std::sync::atomic::AtomicU64,
    unreached_left_out: std::sync::atomic::AtomicU64,
}

/// The host and port `base_url` names (the scheme's port when it names none); empty when it
/// names no host.
fn address(base_url: &str) -> String {
    let Ok(uri) = base_url.parse::<axum::http::Uri>() else {
        return String::new();
    };
    let Some(host) = uri.host() else {
        return String::new();
    };
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("http") => 80,
        _ => 443,
    });
    format!("{host}:{port}")
}

#[derive(Debug)]
struct Inner {
    core: Mutex<Router>,
    bindings: Vec<Binding>,
    /// Whether a target of each dialect (in `Dialect::ALL`'s order) is among the bindings:
    /// only those dialects are asked whether they can express a request.
    dialects: [bool; Dialect::ALL.len()],
    /// Each route's name, by id (for logs, without the core's lock).
    route_names: Vec<Arc<str>>,
    store: CredentialStore,
    transport: Transport,
    /// Each provider's auth header value for each of its keys ([`adapter::auth_value`]), by
    /// provider then key index: made once, marked sensitive.
    auth_values: Vec<Vec<Option<axum::http::HeaderValue>>>,
    /// Caps on what an upstream may send (reply bodies, error bodies, stream events).
    limits: adapter::InputLimits,
    start: tokio::time::Instant,
    wall_start: u64,
}

/// The live driver: the routing core's plans, run over a [`Transport`] with tokio timers.
/// Embeddable in any tokio service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Driver {
    inner: Arc<Inner>,
}

/// A target's request prepared for each of its provider's keys ([`adapter::prepare`]), with
/// the auth value made for that key (`auth_values`, by provider then key); `endpoint` gives
/// the target's endpoint for a key.
fn prepare<'a>(
    store: &'a CredentialStore,
    provider: usize,
    auth_values: &'a [Vec<Option<axum::http::HeaderValue>>],
    endpoint: impl Fn(&'a switchyard_core::credentials::Secret) -> adapter::Endpoint<'a>,
    stream: bool,
) -> Vec<Option<Arc<Prepared>>> {
    let values = auth_values.get(provider).map_or(&[][..], Vec::as_slice);
    store
        .resolved(provider)
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let endpoint = adapter::Endpoint {
                auth_value: values.get(i).and_then(Option::as_ref),
                ..endpoint(key.as_ref()?)
            };
            adapter::prepare(&endpoint, stream).map(Arc::new)
        })
        .collect()
}

/// Per-target state for admin views.
#[derive(Clone, Debug, Serialize)]
pub struct TargetSnapshot {
    pub name: String,
    pub provider: String,
    pub model: String,
    /// The breaker's state as a request arriving now would find it (`Breaker::state_at`):
    /// `half_open` once an open breaker's cooldown ended, before any request polled it.
    pub breaker: &'static str,
    /// Seconds until an open breaker's cooldown ends (0 when it is not open).
    pub breaker_retry_in_secs: f64,
    pub breaker_mode: &'static str,
    pub drained: bool,
    /// Seconds until the target unparks (0 when not parked).
    pub parked_for_secs: f64,
    /// The client-side buckets as they stand now: `null` for one the target does not have
    /// (none configured, none learned).
    pub rate_limits: RateLimits,
    pub in_flight: u32,
    pub latency_estimate_ms: f64,
    pub attempts: u64,
    pub successes: u64,
    pub errors: u64,
    /// `null` for a target that finished no attempt (none sent, or all cancelled).
    pub availability: Option<f64>,
}

/// A target's client-side buckets, for admin views.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct RateLimits {
    pub requests: Option<BucketLevel>,
    pub tokens: Option<BucketLevel>,
}

/// One bucket, in whole units: units left (below zero after an overdraft) and its size,
/// units a minute.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct BucketLevel {
    pub left: i64,
    pub per_minute: u64,
}

impl From<switchyard_core::health::BucketLevels> for RateLimits {
    fn from(l: switchyard_core::health::BucketLevels) -> Self {
        // Whole units: a bucket refills continuously, its fractions say nothing an operator
        // could act on.
        let level = |b: Option<switchyard_core::health::Level>| {
            // `as` saturates: a level is within ±u64::MAX units, far inside i64 in practice.
            b.map(|b| BucketLevel {
                left: b.left.floor() as i64,
                per_minute: b.per_minute as u64,
            })
        };
        RateLimits {
            requests: level(l.requests),
            tokens: level(l.tokens),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("target `{target}` uses provider `{provider}`, which has no settings")]
    UnknownProvider { target: String, provider: String },
}

impl Driver {
    /// A driver with the default input limits.
    pub fn new(
        params: RouterParams,
        store: CredentialStore,
        transport: Transport,
        seed: u64,
    ) -> Result<Self, BuildError> {
        Self::with_limits(
            params,
            store,
            transport,
            seed,
            adapter::InputLimits::default(),
        )
    }

    /// A driver whose upstream input is capped by `limits` (the live config's `limits:`).
    pub fn with_limits(
        mut params: RouterParams,
        store: CredentialStore,
        transport: Transport,
        seed: u64,
        limits: adapter::InputLimits,
    ) -> Result<Self, BuildError> {
        let auth_values: Vec<Vec<_>> = (0..store.providers().len())
            .map(|i| {
                let auth = &store.providers()[i].auth;
                store
                    .resolved(i)
                    .iter()
                    .map(|key| key.as_ref().and_then(|k| adapter::auth_value(auth, k)))
                    .collect()
            })
            .collect();
        // What a target is sent for a request without `max_tokens`, for the window check too.
        params.resolve_sent_max_tokens(|provider| {
            store
                .provider_index(provider)
                .map(|i| store.providers()[i].dialect)
        });
        let mut bindings = Vec::with_capacity(params.targets.len());
        for t in &params.targets {
            let provider_name = params.providers.name(t.provider.index() as u32).to_owned();
            let provider = store.provider_index(&provider_name).ok_or_else(|| {
                BuildError::UnknownProvider {
                    target: t.name.clone(),
                    provider: provider_name.clone(),
                }
            })?;
            let p = &store.providers()[provider];
            let url = |stream| adapter::url(p.dialect, &p.base_url, &t.model, &p.auth, stream);
            let urls = [url(false), url(true)];
            let prepared = [false, true].map(|stream| {
                let endpoint = |key| adapter::Endpoint {
                    url: urls[usize::from(stream)].as_ref(),
                    auth_value: None,
                    dialect: p.dialect,
                    base_url: &p.base_url,
                    model: &t.model,
                    auth: &p.auth,
                    headers: store.headers(provider),
                    key,
                    default_max_tokens: t.default_max_tokens,
                };
                prepare(&store, provider, &auth_values, endpoint, stream)
            });
            bindings.push(Binding {
                provider,
                dialect: p.dialect,
                model: t.model.clone(),
                name: t.name.clone(),
                default_max_tokens: t.default_max_tokens,
                urls,
                prepared,
                address: address(&p.base_url),
                unreached_next_ms: std::sync::atomic::AtomicU64::new(0),
                unreached_left_out: std::sync::atomic::AtomicU64::new(0),
            });
        }
        let route_names = params
            .routes
            .iter()
            .map(|r| Arc::from(r.name.as_str()))
            .collect();
        let dialects = Dialect::ALL.map(|d| bindings.iter().any(|b| b.dialect == d));
        let core = Router::new(params, SeededRng::substream(seed, "router"));
        Ok(Driver {
            inner: Arc::new(Inner {
                core: Mutex::new(core),
                bindings,
                dialects,
                route_names,
                store,
                transport,
                auth_values,
                limits,
                start: tokio::time::Instant::now(),
                wall_start: crate::wall::unix_now(),
            }),
        })
    }

    /// A driver for new params and credentials, on this driver's clock, that takes over this
    /// one's runtime state for the targets and routes that kept their names (breakers,
    /// parking, drains, pins, counters: [`Router::carry_from`]). Returns it with what could
    /// not carry. Requests in flight finish on this driver.
    pub fn reloaded(
        &self,
        params: RouterParams,
        store: CredentialStore,
        seed: u64,
        limits: adapter::InputLimits,
    ) -> Result<(Self, Vec<NotCarried>), BuildError> {
        let mut next =
            Self::with_limits(params, store, self.inner.transport.clone(), seed, limits)?;
        if let Some(inner) = Arc::get_mut(&mut next.inner) {
            inner.start = self.inner.start;
            inner.wall_start = self.inner.wall_start;
        }
        let now = self.now();
        let lost = {
            let old = self.core();
            next.core().carry_from(&old, now)
        };
        Ok((next, lost))
    }

    /// When this driver's clock reads zero: the times it stamps (attempts, breaker events,
    /// telemetry) count from there. A caller timing the same run (a scenario runner) counts
    /// from it too, so that all its times line up.
    pub fn origin(&self) -> tokio::time::Instant {
        self.inner.start
    }

    fn core(&self) -> MutexGuard<'_, Router> {
        self.inner
            .core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The core's time now: the time since the driver started (a reloaded driver keeps its
    /// predecessor's start).
    pub fn now(&self) -> Instant {
        Instant::ZERO + Duration::from(self.inner.start.elapsed())
    }

    /// Runs `f` on the routing core at the driver's time now, under the core's lock: for the
    /// fleet's sync task (`Router::join_fleet`, `fleet_sync`, `fleet_publish`,
    /// `fleet_reply`). `f` must not wait on anything.
    pub fn with_core<T>(&self, f: impl FnOnce(&mut Router, Instant) -> T) -> T {
        let now = self.now();
        let (out, revoked) = {
            let mut core = self.core();
            let out = f(&mut core, now);
            (out, core.fleet_take_revocations())
        };
        // Keys a peer revoked (read by the sync just run) go out of use here too, outside
        // the core's lock.
        for (subject, until) in revoked {
            self.inner.store.revoked_by_peer(&subject, until, now);
        }
        out
    }

    fn tokio_at(&self, at: Instant) -> tokio::time::Instant {
        self.inner.start + std::time::Duration::from(at.since_start())
    }

    /// Today's date (the wall clock at the driver's start, plus its time since) and
    /// [`Driver::now`], from one reading of the clock.
    fn today_and_now(&self) -> (Date, Instant) {
        let elapsed = self.inner.start.elapsed();
        (
            Date::from_unix(self.inner.wall_start + elapsed.as_secs()),
            Instant::ZERO + Duration::from(elapsed),
        )
    }

    /// Applies an operator's override; it takes effect on the next decision. The command's
    /// ids must be this driver's ([`Driver::params`], which never change: a reload makes a
    /// new driver); the core refuses one built for another driver's params (an id out of
    /// range, a pin outside its route), nothing changes, and the refusal is returned.
    pub fn try_apply(&self, command: Override) -> Result<(), OverrideError> {
        let now = self.now();
        self.core().apply(command, now)
    }

    /// A target's name and model (what a reply says served it), without copying the params.
    pub fn target_names(&self, id: TargetId) -> (&str, &str) {
        let b = &self.inner.bindings[id.index()];
        (&b.name, &b.model)
    }

    /// The name of route `id` of this driver's params; `None` for an id of other params.
    pub fn route_name(&self, id: RouteId) -> Option<&Arc<str>> {
        self.inner.route_names.get(id.index())
    }

    pub fn params(&self) -> RouterParams {
        self.core().params().clone()
    }

    /// Runs `f` on the routing core (for reports that read its telemetry and params), under
    /// the core's lock: `f` must not drop a `ChatStream` or a `chat` future of this driver
    /// (their guards take the same lock).
    pub fn inspect<T>(&self, f: impl FnOnce(&Router) -> T) -> T {
        f(&self.core())
    }

    /// Turns on the core's event tap: from now on every router event is kept (bounded) until
    /// [`Driver::drain_events`] takes it, so a caller can tally events past the event log's
    /// cap ([`switchyard_core::telemetry::EventLog::tap`]).
    pub fn tap_events(&self) {
        self.core().events_mut().tap();
    }

    /// The router events since the tap was turned on or last drained, oldest first.
    pub fn drain_events(&self) -> Vec<switchyard_core::telemetry::Event> {
        self.core().events_mut().drain_tapped().collect()
    }

    /// A copy of the telemetry so far.
    pub fn telemetry(&self) -> Telemetry {
        self.core().telemetry().clone()
    }

    pub fn credentials(&self) -> &CredentialStore {
        &self.inner.store
    }

    /// Every target's state now.
    pub fn snapshot(&self) -> Vec<TargetSnapshot> {
        let now = self.now();
        let core = self.core();
        let params = core.params();
        params
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let id = TargetId::new(i as u32);
                let h = core.health(id);
                let breaker = h.breaker.state_at(now);
                let stats = &core.telemetry().targets[i];
                TargetSnapshot {
                    name: t.name.clone(),
                    provider: params.providers.name(t.provider.index() as u32).to_owned(),
                    model: t.model.clone(),
                    breaker: breaker.label(),
                    breaker_retry_in_secs: match breaker {
                        BreakerState::Open { until } => {
                            left_millis(until.saturating_since(now).as_secs_f64())
                        }
                        _ => 0.0,
                    },
                    breaker_mode: h.breaker.mode().label(),
                    drained: core.overrides().is_drained(id),
                    parked_for_secs: left_millis(
                        h.limits.parked_until().saturating_since(now).as_secs_f64(),
                    ),
                    rate_limits: h.limits.levels(now).into(),
                    in_flight: h.in_flight,
                    latency_estimate_ms: thousandths(h.latency.estimate().as_secs_f64() * 1e3),
                    attempts: stats.attempts,
                    successes: stats.successes,
                    errors: stats.errors_total(),
                    availability: core
                        .telemetry()
                        .availability(id)
                        .map(|a| (a * 1e6).round() / 1e6),
                }
            })
            .collect()
    }
}

/// `x` rounded to three decimals: an admin view's milliseconds to the microsecond (not
/// `2473.5983199999996`).
fn thousandths(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// Seconds left, rounded up to the millisecond: a wait not over never reads 0 (which means
/// "not open", "not parked").
fn left_millis(secs: f64) -> f64 {
    (secs * 1e3).ceil() / 1e3
}
