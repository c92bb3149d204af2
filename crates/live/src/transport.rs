//! The transport seam: how an HTTP request reaches a provider.
//!
//! A [`Transport`] is any `tower::Service` from a request (its body whole) to a response
//! (its body streaming), so timeouts, concurrency limits and tracing compose over it as tower
//! layers. Two services come with the crate: [`HttpClient`], the one pooled client for real
//! sockets (HTTP/1.1 keep-alive, a pool of connections per target, each request driven in
//! its own task; TLS by rustls with the webpki roots for real vendors), and [`InProcess`], which hands requests straight to axum
//! `Router`s by authority — a fake provider in the same process, no sockets — so the async
//! driver can be tested deterministically under tokio's paused clock.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{Request, Response};
use bytes::Bytes;
use futures_util::TryFutureExt;
use http_body_util::Full;
use tower::{BoxError, Service, ServiceExt};

mod client;
mod prepared;
mod reply_headers;
mod wire;

pub use client::HttpClient;
pub use prepared::Prepared;
pub use reply_headers::ReplyHeaders;

/// Reads one HTTP/1.1 response from `pieces`, the bytes of successive reads, the way
/// [`HttpClient`] reads one from a connection (the end of `pieces` is the connection's end):
/// its status and whole body, or why it was refused. For the fuzz targets.
#[doc(hidden)]
pub fn read_response(pieces: &[&[u8]]) -> Result<(u16, Vec<u8>), String> {
    wire::read_response(pieces)
        .map(|(status, body)| (status.as_u16(), body))
        .map_err(|e| e.to_string())
}

/// Why a request got no HTTP response.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No connection, or the connection closed before a response began.
    #[error("connection failed: {0}")]
    Connect(String),
    /// No route for the request's authority (in-process transport).
    #[error("no provider at {0}")]
    Unroutable(String),
    /// A request that cannot be sent as it is: no scheme or host (what the adapter makes of
    /// a URL, key or header that is not valid HTTP), or a host that is not a valid `Host`.
    /// Says nothing of the request, whose URL may hold a key.
    #[error("the request could not be built: the target's URL, key or a header is not valid HTTP")]
    Unbuilt,
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
/// drops whatever the layers hold (a bare [`HttpClient`], always ready, is called directly,
/// without `oneshot`). The driver counts any error as `connect_failed`.
#[derive(Clone)]
pub struct Transport(Arc<dyn Erased>);

/// One request on a clone of a service: what [`Transport`] erases.
trait Erased: Send + Sync + 'static {
    fn send(&self, request: HttpRequest) -> TransportFuture;

    /// [`send`](Self::send) with no headers beside the response, in one box.
    fn send_read(&self, request: HttpRequest) -> ReadFuture;

    /// A prepared request with `body`: the request built from it, sent as any other.
    fn send_prepared(&self, prepared: &Arc<Prepared>, body: Vec<u8>) -> TransportFuture {
        self.send(prepared.request(body))
    }

    /// As [`send_prepared`](Self::send_prepared), the reply's headers returned beside it
    /// where the service can leave them where they lie (`None`: they are in `headers()`),
    /// in one box.
    fn send_prepared_read(&self, prepared: &Arc<Prepared>, body: Vec<u8>) -> ReadFuture;
}

/// What [`Transport::send`] returns.
pub type TransportFuture =
    Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send + 'static>>;

/// What the driver's sends return: the response and, when they were left where they lie in
/// its head ([`HttpClient`] with nothing layered over it), its headers, `headers()` then
/// empty; `None` when they are in `headers()`.
pub(crate) type ReadFuture = Pin<
    Box<
        dyn Future<Output = Result<(Response<Body>, Option<ReplyHeaders>), BoxError>>
            + Send
            + 'static,
    >,
>;

impl<S> Erased for S
where
    S: Service<HttpRequest, Response = Response<Body>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn send(&self, request: HttpRequest) -> TransportFuture {
        Box::pin(self.clone().oneshot(request).map_err(Into::into))
    }

    fn send_read(&self, request: HttpRequest) -> ReadFuture {
        Box::pin(
            self.clone()
                .oneshot(request)
                .map_ok(|response| (response, None))
                .map_err(Into::into),
        )
    }

    /// In one box, the headers in `headers()`.
    fn send_prepared_read(&self, prepared: &Arc<Prepared>, body: Vec<u8>) -> ReadFuture {
        Box::pin(
            self.clone()
                .oneshot(prepared.request(body))
                .map_ok(|response| (response, None))
                .map_err(Into::into),
        )
    }
}

/// [`HttpClient`] with no layer over it: its requests are sent directly, in one boxed
/// future, rather than through a `oneshot` (a second box, and the request moved once more)
/// around its own boxed one. The client is always ready, so nothing is skipped.
struct Direct(HttpClient);

impl Erased for Direct {
    fn send(&self, request: HttpRequest) -> TransportFuture {
        Box::pin(self.0.send(request).map_err(Into::into))
    }

    fn send_read(&self, request: HttpRequest) -> ReadFuture {
        Box::pin(
            self.0
                .send(request)
                .map_ok(|response| (response, None))
                .map_err(Into::into),
        )
    }

    /// Its head as encoded once ([`HttpClient::send_prepared`]).
    fn send_prepared(&self, prepared: &Arc<Prepared>, body: Vec<u8>) -> TransportFuture {
        Box::pin(
            self.0
                .send_prepared(Arc::clone(prepared), body)
                .map_err(Into::into),
        )
    }

    /// Its head as encoded once, the reply's headers left where they lie.
    fn send_prepared_read(&self, prepared: &Arc<Prepared>, body: Vec<u8>) -> ReadFuture {
        Box::pin(
            self.0
                .send_prepared_as(Arc::clone(prepared), body, true)
                .map_err(Into::into),
        )
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
        if let Some(client) = (&service as &dyn std::any::Any).downcast_ref::<HttpClient>() {
            return Transport(Arc::new(Direct(client.clone())));
        }
        Transport(Arc::new(service))
    }

    /// Sends one request: waits until the service is ready, then calls it.
    pub fn send(&self, request: HttpRequest) -> TransportFuture {
        self.0.send(request)
    }

    /// As [`send`](Self::send), in the driver's shape: the headers in `headers()` (`None`
    /// beside the response), in one box.
    pub(crate) fn send_read(&self, request: HttpRequest) -> ReadFuture {
        self.0.send_read(request)
    }

    /// Sends `prepared` with `body`: what [`send`](Self::send) does with
    /// [`Prepared::request`]`(body)`, the same bytes on the wire; a bare [`HttpClient`] writes
    /// the head encoded once for it instead of building and encoding a request.
    pub fn send_prepared(&self, prepared: &Arc<Prepared>, body: Vec<u8>) -> TransportFuture {
        self.0.send_prepared(prepared, body)
    }

    /// As [`send_prepared`](Self::send_prepared), the reply's headers read where they lie
    /// over a bare [`HttpClient`] (returned beside the response, `headers()` empty; see
    /// [`crate::adapter::view`]). The driver's way.
    pub(crate) fn send_prepared_read(&self, prepared: &Arc<Prepared>, body: Vec<u8>) -> ReadFuture {
        self.0.send_prepared_read(prepared, body)
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

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
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

/// The headers of the response head `text` (a status line, headers, an empty line) as
/// [`HttpClient`] reads them, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn read_reply_headers(text: &[u8]) -> ReplyHeaders {
    let mut buf = bytes::BytesMut::from(text);
    match wire::take_head(&mut buf, false, &mut wire::Spans::default()) {
        Ok(Some(head)) => head.headers,
        other => panic!("not a whole head: {other:?}"),
    }
}
