//! The transport seam: how an HTTP request reaches a provider.
//!
//! [`HttpClient`] is the one pooled client for real sockets (HTTP/1.1 keep-alive; TLS by
//! rustls with the webpki roots for real vendors). [`InProcess`] hands requests straight to
//! axum `Router`s by authority — a fake provider in the same process, no sockets — so the
//! async driver can be tested deterministically under tokio's paused clock.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use axum::body::Body;
use axum::http::{Request, Response};
use bytes::Bytes;
use http_body_util::Full;

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

pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<Body>, TransportError>> + Send + 'static>>;

/// Sends one request, returns the response with a streaming body.
pub trait Transport: Send + Sync + std::fmt::Debug + 'static {
    fn send(&self, request: Request<Full<Bytes>>) -> ResponseFuture;
}

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// One pooled HTTP/1.1 client for every provider.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: hyper_util::client::legacy::Client<Connector, Full<Bytes>>,
}

impl HttpClient {
    pub fn new() -> Self {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(std::time::Duration::from_secs(90))
                .pool_max_idle_per_host(256)
                .build(https);
        HttpClient { client }
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport for HttpClient {
    fn send(&self, request: Request<Full<Bytes>>) -> ResponseFuture {
        let fut = self.client.request(request);
        Box::pin(async move {
            let response = fut
                .await
                .map_err(|e| TransportError::Connect(error_chain(&e)))?;
            Ok(response.map(Body::new))
        })
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
    routes: BTreeMap<String, axum::Router>,
}

impl InProcess {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes requests for `authority` to `router`.
    pub fn with(mut self, authority: &str, router: axum::Router) -> Self {
        self.routes.insert(authority.to_owned(), router);
        self
    }
}

/// The header a fake's `reset` response carries in process (over sockets the fake's serve
/// loop closes the connection instead, and the header never leaves the process).
const RESET_HEADER: &str = "x-switchyard-reset";

impl Transport for InProcess {
    fn send(&self, request: Request<Full<Bytes>>) -> ResponseFuture {
        let authority = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let router = self.routes.get(&authority).cloned();
        Box::pin(async move {
            let router = router.ok_or(TransportError::Unroutable(authority))?;
            let response = tower::ServiceExt::oneshot(router, request.map(Body::new))
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
