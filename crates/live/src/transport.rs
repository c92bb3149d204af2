//! The transport seam: how an HTTP request reaches a provider.
//!
//! A [`Transport`] is any `tower::Service` from a request (its body whole) to a response
//! (its body streaming), so timeouts, concurrency limits and tracing compose over it as tower
//! layers. Two services come with the crate: [`HttpClient`], the one pooled client for real
//! sockets (HTTP/1.1 keep-alive, a pool of connections per target; TLS by rustls with the
//! webpki roots for real vendors), and [`InProcess`], which hands requests straight to axum
//! `Router`s by authority — a fake provider in the same process, no sockets — so the async
//! driver can be tested deterministically under tokio's paused clock.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{Request, Response, Uri};
use bytes::Bytes;
use futures_util::TryFutureExt;
use http_body_util::Full;
use tower::{BoxError, Service, ServiceExt};

/// Why a request got no HTTP response.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No connection, or the connection closed before a response began.
    #[error("connection failed: {0}")]
    Connect(String),
    /// No route for the request's authority (in-process transport).
    #[error("no provider at {0}")]
    Unroutable(String),
}

/// A request on its way to a provider, its body whole.
pub type HttpRequest = Request<Full<Bytes>>;

/// What [`HttpClient`] and [`InProcess`] return: the response, its body streaming.
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<Body>, TransportError>> + Send + 'static>>;

/// The transport seam: a `tower::Service` from an [`HttpRequest`] to a `Response<Body>`,
/// type-erased so that the driver and the gateway do not name it. Cheap to clone.
///
/// Any service fits whose error converts into a `tower::BoxError`, so layers compose over
/// [`HttpClient`] or [`InProcess`] before the driver takes them:
/// `Transport::new(ServiceBuilder::new().layer(limit).service(HttpClient::new()))`. Each
/// request is sent on a clone of the service, ready first and then called (tower's
/// `oneshot`), so a layer that holds a request in `poll_ready` (a concurrency limit) holds it
/// inside [`send`](Self::send)'s future, under the attempt's deadline; dropping that future
/// drops whatever the layers hold. The driver counts any error as `connect_failed`.
#[derive(Clone)]
pub struct Transport(Arc<dyn Erased>);

/// One request on a clone of a service: what [`Transport`] erases.
trait Erased: Send + Sync + 'static {
    fn send(&self, request: HttpRequest) -> TransportFuture;
}

/// What [`Transport::send`] returns.
pub type TransportFuture =
    Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send + 'static>>;

impl<S> Erased for S
where
    S: Service<HttpRequest, Response = Response<Body>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn send(&self, request: HttpRequest) -> TransportFuture {
        Box::pin(self.clone().oneshot(request).map_err(Into::into))
    }
}

impl Transport {
    /// The seam over `service` (with its layers).
    pub fn new<S>(service: S) -> Self
    where
        S: Service<HttpRequest, Response = Response<Body>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        Transport(Arc::new(service))
    }

    /// Sends one request: waits until the service is ready, then calls it.
    pub fn send(&self, request: HttpRequest) -> TransportFuture {
        self.0.send(request)
    }
}

/// Always ready: each request waits for the readiness of its own clone of the service, in
/// its future.
impl Service<HttpRequest> for Transport {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = TransportFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequest) -> TransportFuture {
        self.send(request)
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transport")
    }
}

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Idle connections kept per target (scheme and authority); one more is closed.
const MAX_IDLE_PER_TARGET: usize = 256;
/// An idle connection older than this is closed rather than used.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// HTTP/1.1 connections with keep-alive, pooled per target; TLS by rustls with the webpki
/// roots for real vendors.
///
/// A request takes an idle connection of its target (or opens one), and its connection goes
/// back to the pool when the response body is dropped, read to its end or not (hyper closes a
/// connection whose body was left unread, and a closed one is never taken). A request that a
/// pooled connection could not send (the server had closed it) is sent again on a new one;
/// once written, it is never sent twice. Idle connections are bounded
/// (`MAX_IDLE_PER_TARGET`, 256, per target and runtime) and closed when `IDLE_TIMEOUT` (90 s)
/// old.
///
/// A connection is driven by a task on the tokio runtime that opened it, so the pool hands it
/// only to a request on that same runtime ([`tokio::runtime::Id`]): on a gateway serving one
/// single-threaded runtime per core, a request never drives a connection whose task lives on
/// another thread (every byte of it would cost a cross-thread wake-up, and a connection whose
/// runtime is busy or stopped would stall the request).
///
/// Why not `hyper_util`'s pooled client: per request it hashes the pool key (SipHash), builds
/// the `Host` header from the URI, and spawns a task to wait for the connection to be ready
/// again, about 8 000 instructions a request more than this pool.
///
/// Cheap to clone: clones share the connector and the pool.
#[derive(Clone, Debug)]
pub struct HttpClient(Arc<Client>);

#[derive(Debug)]
struct Client {
    connector: Connector,
    pool: Pool,
}

#[derive(Debug, Default)]
struct Pool {
    /// A handful of targets: a scan beats a hash.
    targets: std::sync::Mutex<Vec<Idle>>,
}

/// One target's idle connections opened on one runtime, newest last. Targets are told apart
/// by scheme and by authority byte for byte (a target's URL is made once, so its requests
/// spell it alike).
#[derive(Debug)]
struct Idle {
    /// The runtime whose task drives these connections.
    runtime: Option<tokio::runtime::Id>,
    https: bool,
    authority: axum::http::uri::Authority,
    host: axum::http::HeaderValue,
    senders: Vec<(Sender, tokio::time::Instant)>,
}

/// Where a request goes (its scheme and authority) and the runtime it runs on: the pool key.
struct Key {
    /// The runtime the request runs on (none outside one: then nothing is pooled for it).
    runtime: Option<tokio::runtime::Id>,
    https: bool,
    authority: axum::http::uri::Authority,
}

impl Key {
    fn matches(&self, idle: &Idle) -> bool {
        idle.runtime == self.runtime
            && idle.https == self.https
            && idle.authority.as_str() == self.authority.as_str()
    }
}

impl Pool {
    fn targets(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle connection to `key` that is still open (and young enough), with the target's
    /// `Host` value.
    fn take(&self, key: &Key) -> (Option<Sender>, Option<axum::http::HeaderValue>) {
        let mut targets = self.targets();
        let Some(idle) = targets.iter_mut().find(|t| key.matches(t)) else {
            return (None, None);
        };
        let now = tokio::time::Instant::now();
        while let Some((sender, since)) = idle.senders.pop() {
            if !sender.is_closed() && now.saturating_duration_since(since) < IDLE_TIMEOUT {
                return (Some(sender), Some(idle.host.clone()));
            }
        }
        (None, Some(idle.host.clone()))
    }

    /// Keeps `sender` for the next request of `key`'s target on `key`'s runtime: the one that
    /// opened it (the key travels with the connection, whichever thread drops the body).
    fn give_back(&self, key: &Key, sender: Sender) {
        if sender.is_closed() || key.runtime.is_none() {
            return;
        }
        let now = tokio::time::Instant::now();
        let mut targets = self.targets();
        let at = match targets.iter().position(|t| key.matches(t)) {
            Some(at) => at,
            None => {
                let Ok(host) = axum::http::HeaderValue::from_str(key.authority.as_str()) else {
                    return;
                };
                targets.push(Idle {
                    runtime: key.runtime,
                    https: key.https,
                    authority: key.authority.clone(),
                    host,
                    senders: Vec::new(),
                });
                targets.len() - 1
            }
        };
        if let Some(idle) = targets.get_mut(at) {
            // Old ones first out: a connection idle past the timeout is closed here too.
            idle.senders.retain(|(s, since)| {
                !s.is_closed() && now.saturating_duration_since(*since) < IDLE_TIMEOUT
            });
            if idle.senders.len() < MAX_IDLE_PER_TARGET {
                idle.senders.push((sender, now));
            }
        }
    }
}

/// A response body that gives its connection back to the pool when dropped.
struct Returning {
    body: hyper::body::Incoming,
    back: Option<(HttpClient, Key, Sender)>,
}

impl Drop for Returning {
    fn drop(&mut self) {
        if let Some((client, key, sender)) = self.back.take() {
            client.0.pool.give_back(&key, sender);
        }
    }
}

impl hyper::body::Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        HttpClient(Arc::new(Client {
            connector,
            pool: Pool::default(),
        }))
    }

    /// Sends one request on a pooled connection (or a new one); the connection goes back to
    /// the pool when the response body is dropped.
    pub fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<Response<Body>, TransportError>> + Send + 'static {
        self.clone().send_pooled(request)
    }

    /// A new connection to `uri`'s host, its driver spawned.
    async fn connect(&self, uri: Uri) -> Result<Sender, TransportError> {
        let io = self
            .0
            .connector
            .clone()
            .oneshot(uri)
            .await
            .map_err(|e| TransportError::Connect(error_chain(&*e)))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| TransportError::Connect(error_chain(&e)))?;
        tokio::spawn(async move {
            // Its end (the peer closed, or the pool dropped the sender) needs no telling: a
            // closed connection is never taken again.
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn send_pooled(self, mut request: HttpRequest) -> Result<Response<Body>, TransportError> {
        let uri = request.uri().clone();
        let (Some(authority), Some(scheme)) = (uri.authority(), uri.scheme()) else {
            return Err(TransportError::Unroutable(uri.to_string()));
        };
        let key = Key {
            runtime: tokio::runtime::Handle::try_current().ok().map(|h| h.id()),
            https: *scheme == axum::http::uri::Scheme::HTTPS,
            authority: authority.clone(),
        };
        let (pooled, host) = self.0.pool.take(&key);
        if !request.headers().contains_key(axum::http::header::HOST) {
            let host = match host {
                Some(h) => h,
                None => axum::http::HeaderValue::from_str(authority.as_str())
                    .map_err(|_| TransportError::Unroutable(uri.to_string()))?,
            };
            request.headers_mut().insert(axum::http::header::HOST, host);
        }
        // HTTP/1.1 to an origin: the path and query only.
        *request.uri_mut() = uri
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
        let mut request = request;
        let mut sender = pooled;
        loop {
            let reused = sender.is_some();
            let mut s = match sender.take() {
                Some(s) => s,
                // Boxed: the rare path does not make every request's future bigger.
                None => Box::pin(self.connect(uri.clone())).await?,
            };
            if reused && s.ready().await.is_err() {
                // Closed while idle: another, or a new one.
                sender = self.0.pool.take(&key).0;
                continue;
            }
            match s.try_send_request(request).await {
                Ok(response) => {
                    return Ok(response.map(|body| {
                        Body::new(Returning {
                            body,
                            back: Some((self.clone(), key, s)),
                        })
                    }));
                }
                Err(mut e) => match e.take_message() {
                    // Never written: the connection had closed; try on another.
                    Some(again) if reused => {
                        request = again;
                        sender = self.0.pool.take(&key).0;
                    }
                    _ => return Err(TransportError::Connect(error_chain(e.error()))),
                },
            }
        }
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

/// Always ready: a request with no idle connection to its target opens one.
impl Service<HttpRequest> for HttpClient {
    type Response = Response<Body>;
    type Error = TransportError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequest) -> ResponseFuture {
        Box::pin(self.clone().send_pooled(request))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Axum routers in this process, by authority (`openai.fake`, `127.0.0.1:9001`).
#[derive(Clone, Debug, Default)]
pub struct InProcess {
    routes: Arc<BTreeMap<String, axum::Router>>,
}

impl InProcess {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes requests for `authority` to `router`.
    pub fn with(mut self, authority: &str, router: axum::Router) -> Self {
        Arc::make_mut(&mut self.routes).insert(authority.to_owned(), router);
        self
    }
}

/// The header a fake's `reset` response carries in process (over sockets the fake's serve
/// loop closes the connection instead, and the header never leaves the process).
const RESET_HEADER: &str = "x-switchyard-reset";

/// Always ready: each request is handed to a clone of its router.
impl Service<HttpRequest> for InProcess {
    type Response = Response<Body>;
    type Error = TransportError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequest) -> ResponseFuture {
        let authority = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let router = self.routes.get(&authority).cloned();
        Box::pin(async move {
            let router = router.ok_or(TransportError::Unroutable(authority))?;
            let response = router
                .oneshot(request.map(Body::new))
                .await
                .unwrap_or_else(|e: std::convert::Infallible| match e {});
            if response.headers().contains_key(RESET_HEADER) {
                return Err(TransportError::Connect(
                    "connection reset before any response".to_owned(),
                ));
            }
            Ok(response)
        })
    }
}
