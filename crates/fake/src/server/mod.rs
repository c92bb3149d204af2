//! HTTP servers for the fakes: one axum `Router` per profile, speaking the profile's dialect,
//! plus the `/_fake/` control API.
//!
//! The handler asks the behaviour model for an answer (under a mutex: the model is a plain
//! state machine), then renders it: it sleeps with tokio for the answer's delays and writes
//! the dialect's JSON, SSE stream or error. Two answers need more than a response:
//! a *reset* closes the connection before any byte (the [`serve`] loop does that when a
//! response carries [`ResetConnection`]), and a *hang* never answers at all.
//!
//! Before the model is asked, the body is read the way the vendor reads it ([`request`]):
//! what the vendor refuses gets its status and error body. The reply's content follows the
//! request: tool calls, JSON mode, a continued prefill (`content`).
//!
//! Control API (JSON): `GET /_fake/faults`, `POST /_fake/faults` (one fault, its `at` counted
//! from now), `DELETE /_fake/faults`, `GET /_fake/options`, `POST /_fake/options` (some of
//! [`request::Options`]: `{"prefill": false}`), `GET /_fake/counters`, `GET /_fake/journal`
//! (the last [`journal::CAPACITY`] requests received, newest first: method, path, headers and
//! body, keys redacted; `?raw=true` gives each body as the text received; see [`journal`]),
//! `DELETE /_fake/journal`, `POST /_fake/reset`
//! (counters, faults and options back to the profile's, and the journal cleared).

mod anthropic;
mod azure;
mod content;
mod gemini;
pub mod journal;
mod openai;
pub mod request;
mod respond;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use switchyard_core::dialect::Dialect;
use switchyard_core::rng::SeededRng;
use switchyard_core::time::{Duration, Instant};
use tokio::net::TcpListener;

use crate::fault::FaultConfig;
use crate::model::Model;
use crate::profile::ProfileParams;

/// Marks a response that must not be sent: the connection is closed instead.
#[derive(Clone, Copy, Debug)]
pub struct ResetConnection;

#[derive(Debug)]
struct Inner {
    model: Model,
    rng: SeededRng,
    journal: journal::Journal,
    options: request::Options,
}

/// State shared by a fake's handlers.
#[derive(Debug)]
pub struct Shared {
    profile: ProfileParams,
    inner: Mutex<Inner>,
    start: tokio::time::Instant,
    wall_start_unix: u64,
    next_id: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the model half-updated in a way that
        // matters to a fake; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The model's time: since this server started, on tokio's clock (paused in tests).
    fn now(&self) -> Instant {
        Instant::ZERO + Duration::from(self.start.elapsed())
    }

    fn wall_now(&self) -> u64 {
        self.wall_start_unix + self.start.elapsed().as_secs()
    }

    /// The options in force (the profile's, or as the control API set them).
    fn options(&self) -> request::Options {
        self.lock().options
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn count_status(&self, status: u16) {
        *self
            .lock()
            .model
            .counters_mut()
            .statuses
            .entry(status)
            .or_default() += 1;
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the fake stamps real wall-clock times into `created` fields and RFC 3339 reset headers"
)]
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The profile's options.
fn profile_options(profile: &ProfileParams) -> request::Options {
    request::Options {
        prefill: profile.prefill,
        vision: profile.vision,
    }
}

/// The axum router of a fake for `profile`, its randomness seeded by `seed`, its clock
/// starting now.
pub fn router(profile: ProfileParams, seed: u64) -> axum::Router {
    router_at(profile, seed, tokio::time::Instant::now())
}

/// [`router`] on a clock that started at `origin` (a live run's, shared with its router
/// and its load, so that the profile's faults start when the run says): the profile's
/// faults' `at` and the journal's `at_ms` count from there.
pub fn router_at(profile: ProfileParams, seed: u64, origin: tokio::time::Instant) -> axum::Router {
    let rng = SeededRng::substream(seed, &format!("fake/{}", profile.name));
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            model: Model::new(profile.clone()),
            rng,
            journal: journal::Journal::default(),
            options: profile_options(&profile),
        }),
        profile,
        start: origin,
        wall_start_unix: unix_now().saturating_sub(origin.elapsed().as_secs()),
        next_id: AtomicU64::new(1),
    });
    let api = match shared.profile.dialect {
        Dialect::Openai => axum::Router::new()
            .route(switchyard_core::dialect::openai::PATH, post(openai::chat))
            .route(
                switchyard_core::dialect::openai::MODELS_PATH,
                get(openai::models),
            ),
        Dialect::Anthropic => axum::Router::new().route(
            switchyard_core::dialect::anthropic::PATH,
            post(anthropic::messages),
        ),
        // The google-genai SDKs call `/v1beta` or `/v1` depending on version and options.
        Dialect::Gemini => axum::Router::new()
            .route("/v1beta/models/{call}", post(gemini::generate))
            .route("/v1/models/{call}", post(gemini::generate)),
        Dialect::AzureOpenai => axum::Router::new().route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure::chat),
        ),
    };
    api.route(
        "/_fake/faults",
        get(list_faults).post(add_fault).delete(clear_faults),
    )
    .route("/_fake/options", get(get_options).post(set_options))
    .route("/_fake/counters", get(counters))
    .route("/_fake/journal", get(list_journal).delete(clear_journal))
    .route("/_fake/reset", post(reset))
    .layer(axum::middleware::from_fn_with_state(
        shared.clone(),
        journal::record,
    ))
    .with_state(shared)
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Response {
    let now = shared.now();
    let inner = shared.lock();
    let faults: Vec<serde_json::Value> = inner
        .model
        .faults()
        .iter()
        .map(|f| {
            serde_json::json!({
                "fault": f.config,
                "active": f.active(now),
                "spent": f.spent(now),
                "matched": f.matched,
                "fired": f.fired,
            })
        })
        .collect();
    Json(serde_json::json!({ "faults": faults })).into_response()
}

async fn add_fault(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let config: FaultConfig = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": e.to_string() })),
            )
                .into_response();
        }
    };
    let now = shared.now();
    match shared.lock().model.add_fault(&config, now) {
        Ok(()) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "added": config })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": e })),
        )
            .into_response(),
    }
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.lock().model.clear_faults();
    StatusCode::NO_CONTENT
}

async fn get_options(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.options()).into_response()
}

/// Sets some options (`{"prefill": false}`); the others stay. Answers with all of them.
async fn set_options(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let bad = |e: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": e })),
        )
            .into_response()
    };
    let patch: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return bad(e.to_string()),
    };
    let mut inner = shared.lock();
    let mut merged = match serde_json::to_value(inner.options) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    merged.extend(patch);
    match serde_json::from_value::<request::Options>(serde_json::Value::Object(merged)) {
        Ok(options) => {
            inner.options = options;
            Json(options).into_response()
        }
        Err(e) => bad(e.to_string()),
    }
}

async fn counters(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().model.counters().clone()).into_response()
}

/// `GET /_fake/journal[?raw=true]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalQuery {
    /// Bodies as the text received rather than parsed JSON.
    #[serde(default)]
    raw: bool,
}

async fn list_journal(
    State(shared): State<Arc<Shared>>,
    axum::extract::Query(q): axum::extract::Query<JournalQuery>,
) -> Response {
    Json(shared.lock().journal.to_json(q.raw)).into_response()
}

async fn clear_journal(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.lock().journal.clear();
    StatusCode::NO_CONTENT
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    let mut inner = shared.lock();
    inner.model.reset();
    inner.journal.clear();
    inner.options = profile_options(&shared.profile);
    StatusCode::NO_CONTENT
}

/// Spawns [`serve`] for `app` on `listener` until `stop` turns true.
pub fn spawn_until(
    listener: TcpListener,
    app: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(serve(listener, app, async move {
        let _ = stop.wait_for(|s| *s).await;
    }))
}

/// Serves `app` on `listener` until `shutdown` completes. HTTP/1.1 with keep-alive; a
/// response marked [`ResetConnection`] closes its connection before any byte is written.
/// On shutdown, open connections finish their current request (for at most a second: a
/// hanging request is cut) and close.
pub async fn serve(listener: TcpListener, app: axum::Router, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, _peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(_) => continue,
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut closing = closing_rx.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        let response =
                            tower::ServiceExt::oneshot(app, request.map(axum::body::Body::new))
                                .await
                                .unwrap_or_else(|e: Infallible| match e {});
                        if response.extensions().get::<ResetConnection>().is_some() {
                            return Err(ResetError);
                        }
                        Ok(response)
                    }
                },
            );
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(io, service);
            tokio::pin!(conn);
            let closed = async move {
                let _ = closing.wait_for(|c| *c).await;
            };
            tokio::select! {
                _ = conn.as_mut() => {}
                () = closed => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        // Reap finished connections so the set does not grow with the run.
        while connections.try_join_next().is_some() {}
    }
    let _ = closing_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(1), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
}

#[derive(Debug)]
struct ResetError;

impl std::fmt::Display for ResetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by fault")
    }
}

impl std::error::Error for ResetError {}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod refusal_tests;

#[cfg(test)]
mod content_tests;
