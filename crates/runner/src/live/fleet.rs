//! A live fleet: `replicas` gateways started through the launcher, each with its own
//! listener, router and Redis connection, sharing a `redis-server` the runner starts (unless
//! `shared_state: none`); the store faults played for real; and the fleet's figures measured
//! where they happen.
//!
//! - **Spreading.** Each request goes to the replica the scenario's `load_balance` rule picks
//!   ([`switchyard_sim::Balancer`], the simulator's own rule and seed substream), and the
//!   runner counts each replica's requests.
//! - **Store faults.** `down` kills `redis-server` at the fault's start and starts it again,
//!   empty, on the same socket at its end. Every replica reaches Redis through its own
//!   [`Relay`]: `slow` delays each way on every relay, `partitioned` cuts one replica's.
//! - **What the providers received.** Requests and 429s from the fakes' own counters (the fakes
//!   enforce the providers' `requests_per_minute`).
//! - **Detection, stop time and probes.** Each replica reaches each fake under a path of its
//!   own (`/r/N`), so the fake's door (the tap here) knows which replica sent each request; an
//!   attempt that arrives while its replica's breaker on that target is half-open is a probe,
//!   as the simulator counts them. The first detection is the earliest breaker opening in any
//!   replica's events; the stop time runs from it to the last non-probe attempt the target's
//!   fake received from any replica before the first probe.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use switchyard_core::health::BreakerState;
use switchyard_core::id::TargetId;
use switchyard_core::telemetry::{Event, EventKind};
use switchyard_core::time::{Duration, Instant};
use switchyard_live::Driver;
use switchyard_sim::{FleetFigures, ProviderLoad, SimFleet, StoreFaultKind, TargetFleet};

use super::relay::Relay;
use switchyard_fleet::{RedisServer, StartError};

/// The path under which replica `i` reaches every fake.
pub(super) fn replica_prefix(i: u32) -> String {
    format!("/r/{i}")
}

/// The store a shared fleet runs on: the server and each replica's relay to it.
pub(super) struct Store {
    pub(super) redis: Arc<tokio::sync::Mutex<RedisServer>>,
    pub(super) relays: Vec<Relay>,
}

impl Store {
    /// Starts `redis-server` and one relay per replica.
    pub(super) async fn start(replicas: u32) -> Result<Store, String> {
        let redis = RedisServer::start("run", &[]).await.map_err(start_error)?;
        let mut relays = Vec::new();
        for _ in 0..replicas {
            relays.push(Relay::start(redis.socket().to_path_buf()).await?);
        }
        Ok(Store {
            redis: Arc::new(tokio::sync::Mutex::new(redis)),
            relays,
        })
    }
}

/// Plays the fleet's store faults on the run's clock from `start`; the returned tasks are
/// aborted when the run ends (a fault still to come never comes).
pub(super) fn play_store_faults(
    fleet: &SimFleet,
    store: &Arc<Store>,
    start: tokio::time::Instant,
) -> Vec<tokio::task::JoinHandle<()>> {
    let at = |t: Instant| start + std::time::Duration::from(t.since_start());
    fleet
        .store_faults
        .iter()
        .map(|f| {
            let (from, to, kind, store) = (at(f.from), at(f.to), f.kind, store.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until(from).await;
                match kind {
                    StoreFaultKind::Down => store.redis.lock().await.stop().await,
                    StoreFaultKind::Slow(d) => {
                        for r in &store.relays {
                            r.set_delay(d.into());
                        }
                    }
                    StoreFaultKind::Partitioned(i) => {
                        if let Some(r) = store.relays.get(i as usize) {
                            r.set_cut(true);
                        }
                    }
                }
                tokio::time::sleep_until(to).await;
                match kind {
                    StoreFaultKind::Down => {
                        if let Err(e) = store.redis.lock().await.start_again().await {
                            warn_not_restarted(&start_error(e));
                        }
                    }
                    StoreFaultKind::Slow(_) => {
                        for r in &store.relays {
                            r.set_delay(std::time::Duration::ZERO);
                        }
                    }
                    StoreFaultKind::Partitioned(i) => {
                        if let Some(r) = store.relays.get(i as usize) {
                            r.set_cut(false);
                        }
                    }
                }
            })
        })
        .collect()
}

/// A Redis that would not start again after a `down` fault: the run goes on (the replicas
/// stay degraded, which the report shows), and the terminal says why.
/// What the runner says when `redis-server` is not on the PATH.
const NOT_INSTALLED: &str = "a live fleet (`replicas` with `shared_state`) shares a real \
    Redis, and `redis-server` is not on the PATH: install it (`apt-get install -y \
    redis-server` on Debian), or run the scenario in simulation";

/// Why the fleet's Redis did not start, as the runner says it.
fn start_error(e: StartError) -> String {
    match e {
        StartError::NotInstalled => NOT_INSTALLED.to_owned(),
        StartError::Failed(why) => why,
    }
}

fn warn_not_restarted(e: &str) {
    eprintln!("[live] the fleet's Redis did not start again after its `down` fault: {e}");
}

/// One target at the fakes' door.
#[derive(Clone, Debug, Default)]
struct AtDoor {
    probes: u64,
    /// A probe arrived (from any replica).
    probed: bool,
    /// The last non-probe attempt before the first probe.
    last_before_probe: Option<Instant>,
}

/// What the fakes' door and the replicas' events tell of the fleet.
#[derive(Debug)]
struct Seen {
    targets: Vec<AtDoor>,
    first_open: Vec<Option<Instant>>,
}

/// The fleet's eyes: the replicas' routers (to tell a probe), the targets each provider
/// serves, and what was seen.
pub(super) struct Watch {
    replicas: Vec<Driver>,
    /// Per replica: how far its router's clock runs behind the run's (its zero came later).
    offsets: Vec<Duration>,
    origin: tokio::time::Instant,
    /// Per provider (the scenario's order): its targets, by model.
    targets_of: Vec<Vec<(String, TargetId)>>,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

impl Watch {
    /// Watches `replicas` (replica 0's zero is the run's).
    pub(super) fn new(replicas: Vec<Driver>, providers: &[String]) -> Watch {
        let origin = replicas
            .first()
            .map_or_else(tokio::time::Instant::now, Driver::origin);
        let offsets = replicas
            .iter()
            .map(|r| Duration::from(r.origin().saturating_duration_since(origin)))
            .collect();
        let params = replicas.first().map(Driver::params);
        let targets = params.as_ref().map_or(0, |p| p.targets.len());
        let targets_of = providers
            .iter()
            .map(|name| {
                params.as_ref().map_or_else(Vec::new, |p| {
                    p.targets
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| {
                            p.providers.name(t.provider.index() as u32) == name.as_str()
                        })
                        .map(|(i, t)| (t.model.clone(), TargetId::new(i as u32)))
                        .collect()
                })
            })
            .collect();
        Watch {
            replicas,
            offsets,
            origin,
            targets_of,
            seen: Mutex::new(Seen {
                targets: vec![AtDoor::default(); targets],
                first_open: vec![None; targets],
            }),
        }
    }

    fn seen<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut seen)
    }

    /// Replica `replica`'s events on the run's clock.
    pub(super) fn on_the_runs_clock(&self, replica: usize, mut events: Vec<Event>) -> Vec<Event> {
        let offset = self.offsets.get(replica).copied().unwrap_or(Duration::ZERO);
        for e in &mut events {
            e.at += offset;
        }
        events
    }

    /// Every replica's telemetry but replica 0's, each with how far its clock runs behind
    /// the run's.
    pub(super) fn others_telemetry(
        &self,
    ) -> Vec<(switchyard_core::telemetry::Telemetry, Duration)> {
        self.replicas
            .iter()
            .zip(&self.offsets)
            .skip(1)
            .map(|(r, offset)| (r.telemetry(), *offset))
            .collect()
    }

    /// Events (on the run's clock): the first breaker opening per target.
    pub(super) fn events(&self, events: &[Event]) {
        self.seen(|seen| {
            for e in events {
                if let EventKind::Breaker {
                    target,
                    to: BreakerState::Open { .. },
                    ..
                } = e.kind
                    && let Some(first) = seen.first_open.get_mut(target.index())
                {
                    *first = Some(first.map_or(e.at, |f| f.min(e.at)));
                }
            }
        });
    }

    /// An attempt from `replica` reached provider `provider`'s fake, for `model`.
    fn arrived(&self, provider: usize, replica: usize, model: Option<&str>) {
        let Some(targets) = self.targets_of.get(provider) else {
            return;
        };
        let target = match (targets.as_slice(), model) {
            ([(_, only)], _) => *only,
            (many, Some(m)) => match many.iter().find(|(tm, _)| tm == m) {
                Some((_, t)) => *t,
                None => return,
            },
            _ => return,
        };
        let Some(router) = self.replicas.get(replica) else {
            return;
        };
        let probe = router.inspect(|r| r.health(target).breaker.state() == BreakerState::HalfOpen);
        let now = Instant::ZERO + Duration::from(self.origin.elapsed());
        self.seen(|seen| {
            let Some(t) = seen.targets.get_mut(target.index()) else {
                return;
            };
            if probe {
                t.probes += 1;
                t.probed = true;
            } else if !t.probed {
                t.last_before_probe = Some(now);
            }
        });
    }

    /// Whether any provider serves several targets (the door then reads each body's model).
    fn reads_models(&self, provider: usize) -> bool {
        self.targets_of.get(provider).is_some_and(|t| t.len() > 1)
    }

    /// The fleet's figures: `per_replica` from the load, the providers' from the fakes'
    /// counters, the store's from the replicas' routers.
    pub(super) fn figures(
        &self,
        fleet: &SimFleet,
        per_replica: Vec<u64>,
        counters: &std::collections::BTreeMap<String, serde_json::Value>,
        providers: &[String],
    ) -> FleetFigures {
        let names: Vec<String> = self
            .replicas
            .first()
            .map(|r| r.params().targets.iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default();
        let mut figures = FleetFigures {
            replicas: fleet.replicas.max(1),
            shared: fleet.shared.is_some(),
            per_replica,
            providers: providers
                .iter()
                .map(|name| {
                    let c = counters.get(name);
                    let n = |v: Option<&serde_json::Value>| {
                        v.and_then(serde_json::Value::as_u64).unwrap_or(0)
                    };
                    ProviderLoad {
                        name: name.clone(),
                        requests: n(c.and_then(|c| c.get("requests"))),
                        rate_limited: n(c
                            .and_then(|c| c.get("statuses"))
                            .and_then(|s| s.get("429"))),
                    }
                })
                .collect(),
            ..FleetFigures::default()
        };
        self.seen(|seen| {
            figures.targets = names
                .iter()
                .zip(seen.targets.iter().zip(&seen.first_open))
                .map(|(name, (door, first))| TargetFleet {
                    name: name.clone(),
                    first_open: *first,
                    stopped_after: first.map(|open| {
                        door.last_before_probe
                            .map_or(Duration::ZERO, |l| l.saturating_since(open))
                    }),
                    probes: door.probes,
                })
                .collect();
        });
        for r in &self.replicas {
            if let Some(s) = r.inspect(|core| core.fleet().map(|f| *f.stats())) {
                figures.store_ops += s.store_ops;
                figures.store_failures += s.store_failures;
                figures.degraded += s.degraded;
                figures.rejoined += s.rejoined;
            }
        }
        figures
    }
}

/// The door of provider `provider`'s fake: strips the replica's path, notes the attempt,
/// passes it on.
pub(super) fn door(app: axum::Router, watch: Arc<Watch>, provider: usize) -> axum::Router {
    axum::Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn_with_state(
            (watch, provider),
            at_the_door,
        ))
}

/// The largest body the door reads to learn a request's model (as much as a fake takes).
const MAX_BODY: usize = 32 << 20;

async fn at_the_door(
    State((watch, provider)): State<(Arc<Watch>, usize)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path();
    let Some((replica, rest)) = path
        .strip_prefix("/r/")
        .and_then(|p| p.split_once('/'))
        .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, format!("/{rest}"))))
    else {
        // Not a replica's attempt (the runner's own control calls): passed on as it is.
        return next.run(Request::from_parts(parts, body)).await;
    };
    let rest = match parts.uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest,
    };
    if let Ok(uri) = rest.parse() {
        parts.uri = uri;
    }
    let body = if watch.reads_models(provider) {
        let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
            return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
        };
        #[derive(serde::Deserialize)]
        struct Model {
            model: Option<String>,
        }
        let model = serde_json::from_slice::<Model>(&bytes)
            .ok()
            .and_then(|m| m.model);
        watch.arrived(provider, replica, model.as_deref());
        axum::body::Body::from(bytes)
    } else {
        watch.arrived(provider, replica, None);
        body
    };
    next.run(Request::from_parts(parts, body)).await
}
