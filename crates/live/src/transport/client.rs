//! [`HttpClient`]: HTTP/1.1 to providers over pooled keep-alive connections, driven in the
//! request's own task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::uri::Scheme;
use axum::http::{HeaderValue, Method, Response, Uri, header};
use bytes::Bytes;
use http_body_util::Full;
use tower::{Service, ServiceExt};

use super::wire::{self, Decoder, Framing, Step, WireError};
use super::{HttpRequest, Prepared, ResponseFuture, TransportError, error_chain};
use conn::{Conn, Sent, Unsent};
use pool::{Key, Pool};
use stream::Stream;

mod conn;
mod pool;
mod stream;

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// Idle connections kept per target (scheme and authority); one more is closed.
const MAX_IDLE_PER_TARGET: usize = 256;
/// An idle connection older than this is closed rather than used.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// A server that says how long it keeps an idle connection (`keep-alive: timeout=N`) gets
/// it back this much sooner (half of N when N is under twice this): a connection it is
/// closing at that moment is not taken.
const IDLE_MARGIN: Duration = Duration::from_secs(1);

/// How long a connection may stay idle in the pool after a reply whose server keeps it
/// `server` seconds (if it said): `IDLE_TIMEOUT` at most, a margin before the server's.
fn idle_for(server: Option<u64>) -> Duration {
    match server {
        None => IDLE_TIMEOUT,
        Some(n) => {
            let n = Duration::from_secs(n);
            n.saturating_sub(IDLE_MARGIN.min(n / 2)).min(IDLE_TIMEOUT)
        }
    }
}

/// The TLS configuration of a client with `extra` roots: the webpki roots and `extra`, with
/// the provider hyper-rustls' `with_webpki_roots` uses (its `ring` feature), so that the
/// ciphers and versions offered are those of a client without extra roots.
fn tls_config(extra: &rustls::RootCertStore) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots.roots.extend(extra.roots.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A failed connection's words, with what to do when the provider's certificate comes from
/// an authority the client does not know (rustls's `UnknownIssuer`; not an expired
/// certificate, a wrong name, or an authority's certificate used as a server's).
fn with_hint(chain: String) -> String {
    if chain.contains("invalid peer certificate: UnknownIssuer") {
        format!(
            "{chain} (a provider whose certificate comes from a private authority needs that \
             authority in gateway.upstream_ca_file)"
        )
    } else {
        chain
    }
}

/// A request body up to this size is copied behind its head and written as one buffer; a
/// bigger one goes in the same vectored write as the head.
const COPY_BODY: usize = 4 * 1024;

/// HTTP/1.1 connections with keep-alive, pooled per target; TLS by rustls with the webpki
/// roots for real vendors.
///
/// A request takes an idle connection of its target (or opens one), writes its head and body
/// in one write, and reads the response head in its own task: there is no connection task,
/// no channel between the two and no wake-up to cross. The response body reads from the
/// connection as it is polled, chunk by chunk as the bytes arrive (a stream passes event by
/// event), and gives the connection back to the pool once it has read the body to its end,
/// if the response allows another request (`connection: close`, HTTP/1.0 without
/// keep-alive, or a body delimited by the connection's end do not). A body dropped with
/// data unread closes its connection (one dropped with only its framing's end unread, a
/// stream whose reader stopped at its last event, gives it back when that end has already
/// arrived); so does a request future dropped anywhere before its response head was read.
/// A response whose whole body came with its head gives its connection back at once.
///
/// A reply that comes while the request is still being written (the server stopped reading:
/// an early 413 or 401) is the response: the writing stops, the reply's body is read as any
/// other, and the connection, its request half written, is never reused.
///
/// An idle connection is checked before use, without waiting: one the server closed (or
/// sent unasked bytes on) is closed, and the request takes another or opens one. Over plain
/// TCP the check is a peek at the socket (one `recv`), so a close that arrived since the
/// runtime last looked counts too; over TLS it is what the runtime has seen. A request
/// that a pooled connection could not write a byte of is sent again on another one; once a
/// byte is written, it is never sent twice. Idle connections are bounded
/// (`MAX_IDLE_PER_TARGET`, 256, per target and runtime) and closed when `IDLE_TIMEOUT` (90 s)
/// old, or sooner when the server says how long it keeps them (`keep-alive: timeout=N`: a
/// second before N, or N/2 for N under 2 s; `timeout=0` is not pooled), so that one the
/// server is closing at that moment is not taken; a connection given back closes those of
/// its target whose time is up. Responses are bounded too: a head of at most 64 KiB and 100 headers, and lengths and
/// chunk sizes checked (`wire.rs`); a body that ends early, or breaks its framing, ends in an
/// error frame, never in a short success.
///
/// A connection's socket is registered with the IO driver of the runtime that opened it, so
/// the pool hands it only to a request on that same runtime ([`tokio::runtime::Id`]): on a
/// gateway serving one single-threaded runtime per core, a request never waits on another
/// thread's driver for its bytes (or on a runtime that is busy or stopped).
///
/// Why not hyper's client connection: it runs as a task of its own, fed by a channel (the
/// request goes there, the response comes back by a oneshot), and parses into structures this
/// client has no use for; with the wake-ups between the two tasks it cost about 15 000
/// instructions a request (callgrind, `crates/gateway/bench/instructions.sh`).
///
/// Cheap to clone: clones share the connector and the pool.
#[derive(Clone, Debug)]
pub struct HttpClient(Arc<Client>);

#[derive(Debug)]
struct Client {
    connector: Connector,
    pool: Pool,
}

/// A response body read from its connection as it is polled; the connection goes back to
/// the pool when the body's end is read (and the response allows it).
struct Reply {
    /// `None` once the end or an error was read.
    conn: Option<Conn>,
    decoder: Decoder,
    keep_alive: bool,
    /// How long the connection may stay idle in the pool ([`idle_for`]).
    idle_for: Duration,
    back: Option<(HttpClient, Key)>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

impl Reply {
    /// The body's end was read: the connection goes back to the pool if it may carry
    /// another request and nothing unasked came after the body.
    fn finish(&mut self) {
        if let (Some(conn), Some((client, key))) = (self.conn.take(), self.back.take())
            && self.keep_alive
            && conn.buf.is_empty()
        {
            client.0.pool.give_back(&key, conn, self.idle_for);
        }
    }

    fn fail(
        &mut self,
        e: impl Into<std::io::Error>,
    ) -> Poll<Option<Result<Frame, std::io::Error>>> {
        self.conn = None;
        Poll::Ready(Some(Err(e.into())))
    }
}

/// A body dropped with all its data read but not the end of its framing (a chunked body's
/// last chunk and trailers: a stream's reader stops at its last event) gives its connection
/// back if that end has arrived, read without waiting; with data left unread, or the end not
/// there yet, the connection is closed.
impl Drop for Reply {
    fn drop(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            match self.decoder.decode(&mut conn.buf) {
                Ok(Step::End) => return self.finish(),
                Ok(Step::NeedMore) => match conn.poll_read_some(&mut cx) {
                    Poll::Ready(Ok(n)) if n > 0 => {}
                    _ => return,
                },
                Ok(Step::Data(_)) | Err(_) => return,
            }
        }
    }
}

type Frame = hyper::body::Frame<Bytes>;

impl hyper::body::Body for Reply {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame, std::io::Error>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match this.decoder.decode(&mut conn.buf) {
                Err(e) => return this.fail(e),
                Ok(Step::Data(data)) => {
                    if this.decoder.is_done() {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Step::End) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Ok(Step::NeedMore) => match conn.poll_read_some(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return this.fail(e),
                    Poll::Ready(Ok(0)) => {
                        if let Err(e) = this.decoder.at_eof() {
                            return this.fail(e);
                        }
                        // A body delimited by the connection's end: never pooled.
                        this.conn = None;
                        return Poll::Ready(None);
                    }
                    Poll::Ready(Ok(_)) => {}
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || self.decoder.is_done()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self.decoder.remaining() {
            Some(n) => hyper::body::SizeHint::with_exact(n),
            None => hyper::body::SizeHint::default(),
        }
    }
}

impl HttpClient {
    pub fn new() -> Self {
        Self::with_tls(hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots())
    }

    /// A client that trusts `extra` besides the webpki roots (`gateway.upstream_ca_file`:
    /// a private endpoint, a proxy with its own certificate authority); [`HttpClient::new`]
    /// when `extra` is empty. Fails only if rustls cannot make a TLS configuration at all.
    pub fn with_extra_roots(extra: &rustls::RootCertStore) -> Result<Self, String> {
        if extra.is_empty() {
            return Ok(Self::new());
        }
        tls_config(extra)
            .map(Self::with_tls_config)
            .map_err(|e| format!("cannot set up TLS with the extra roots: {e}"))
    }

    /// A client that trusts the roots of `config` (a test's own certificate authority).
    fn with_tls_config(config: rustls::ClientConfig) -> Self {
        Self::with_tls(hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config))
    }

    fn with_tls(
        tls: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>,
    ) -> Self {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = tls.https_or_http().enable_http1().wrap_connector(http);
        HttpClient(Arc::new(Client {
            connector,
            pool: Pool::default(),
        }))
    }

    /// Sends one request on a pooled connection (or a new one); the connection goes back to
    /// the pool when the response body has been read to its end. The response's headers are
    /// in its `headers()`.
    pub fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<Response<Body>, TransportError>> + Send + 'static {
        self.clone().send_pooled(request)
    }

    /// A new connection to `uri`'s host (TLS for https).
    async fn connect(&self, uri: Uri) -> Result<Conn, TransportError> {
        let io = self
            .0
            .connector
            .clone()
            .oneshot(uri)
            .await
            .map_err(|e| TransportError::Connect(with_hint(error_chain(&*e))))?;
        Ok(Conn::new(match io {
            hyper_rustls::MaybeHttpsStream::Http(tcp) => Stream::Plain(tcp.into_inner()),
            hyper_rustls::MaybeHttpsStream::Https(tls) => Stream::Tls(Box::new(tls.into_inner())),
        }))
    }

    async fn send_pooled(self, request: HttpRequest) -> Result<Response<Body>, TransportError> {
        let (parts, body) = request.into_parts();
        let (Some(authority), Some(scheme)) = (parts.uri.authority(), parts.uri.scheme()) else {
            // Never the URL itself: its query may hold a key (`auth: query:NAME`).
            return Err(TransportError::Unbuilt);
        };
        let key = Key::new(*scheme == Scheme::HTTPS, authority.clone());
        let (pooled, host) = self.0.pool.take(&key);
        let host = if parts.headers.contains_key(header::HOST) {
            None
        } else {
            Some(match host {
                Some(h) => h,
                None => HeaderValue::from_str(authority.as_str())
                    .map_err(|_| TransportError::Unbuilt)?,
            })
        };
        let body = whole(body);
        // HTTP/1.1 to an origin: the path and query only.
        let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let mut head = Vec::with_capacity(256 + COPY_BODY.min(body.len()));
        let close = wire::encode_head(
            &parts.method,
            path,
            &parts.headers,
            host.as_ref(),
            body.len(),
            &mut head,
        );
        let rest = behind(&mut head, &body);
        let out = Outgoing {
            head: &head,
            rest,
            head_request: parts.method == Method::HEAD,
            close,
            read_headers: false,
        };
        self.exchange(key, pooled, &parts.uri, out)
            .await
            .map(|(response, _)| response)
    }

    /// Sends `prepared` with `body` as [`send`](Self::send) sends the request built from it
    /// ([`Prepared::request`]), the same bytes and the same response, but writing the head
    /// encoded once for it: no request, header map or URL is made, parsed or encoded for the
    /// request.
    pub fn send_prepared(
        &self,
        prepared: Arc<Prepared>,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Response<Body>, TransportError>> + Send + 'static {
        let sent = self.send_prepared_as(prepared, body, false);
        async move { sent.await.map(|(response, _)| response) }
    }

    /// As [`send_prepared`](Self::send_prepared); with `read_headers`, the reply's headers
    /// are left where they lie in its head: not in `headers()` (left empty) but returned
    /// beside the response as [`ReplyHeaders`](super::ReplyHeaders), no header map made (and
    /// none of the response's extensions, a hash map of its own: [`crate::adapter::view`]
    /// reads either). The driver's way. `None` beside a response whose headers are in
    /// `headers()`.
    pub(crate) fn send_prepared_as(
        &self,
        prepared: Arc<Prepared>,
        body: Vec<u8>,
        read_headers: bool,
    ) -> impl Future<Output = Result<(Response<Body>, Option<super::ReplyHeaders>), TransportError>>
    + Send
    + 'static {
        let client = self.clone();
        async move {
            let Some(wire) = prepared.wire.as_ref() else {
                // Refused as the request built from it is (it has no authority).
                return Box::pin(client.send_pooled(prepared.request(body)))
                    .await
                    .map(|response| (response, None));
            };
            let key = Key::new(wire.https, wire.authority.clone());
            let pooled = client.0.pool.take(&key).0;
            let mut head = Vec::with_capacity(wire.fields.len() + 32 + COPY_BODY.min(body.len()));
            head.extend_from_slice(&wire.fields);
            wire::encode_length(prepared.method(), body.len(), &mut head);
            let rest = behind(&mut head, &body);
            let out = Outgoing {
                head: &head,
                rest,
                head_request: *prepared.method() == Method::HEAD,
                close: wire.close,
                read_headers,
            };
            client.exchange(key, pooled, prepared.uri(), out).await
        }
    }

    /// Writes a request on `pooled` (or, when it is gone or closed, on another idle
    /// connection or a new one to `uri`) and reads its reply's head.
    async fn exchange(
        self,
        key: Key,
        mut pooled: Option<Conn>,
        uri: &Uri,
        out: Outgoing<'_>,
    ) -> Result<(Response<Body>, Option<super::ReplyHeaders>), TransportError> {
        let Outgoing {
            head,
            rest,
            head_request,
            close,
            read_headers,
        } = out;
        loop {
            let reused = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(c) => c,
                // Boxed: the rare path does not make every request's future bigger.
                None => Box::pin(self.connect(uri.clone())).await?,
            };
            let reply = match conn.write(head, rest, head_request).await {
                Ok(Sent::Whole) => {
                    let mut reply = conn.read_head(head_request).await?;
                    // The request asked to close: its reply's keep-alive does not count.
                    reply.keep_alive &= !close;
                    reply
                }
                Ok(Sent::Early(mut reply)) => {
                    // The request was not written whole: the connection ends with the reply.
                    reply.keep_alive = false;
                    reply
                }
                // Not a byte written: the connection had closed; try on another.
                Err(Unsent { written: false, .. }) if reused => {
                    pooled = self.0.pool.take(&key).0;
                    continue;
                }
                Err(unsent) => return Err(unsent.error),
            };
            return Ok(self.respond(key, conn, reply, read_headers));
        }
    }

    /// The response to a request on `conn` whose head `reply` was read: its body read from
    /// the connection as it is polled, or at once when it came whole with the head (the
    /// connection then goes back to the pool before the body is polled). With
    /// `read_headers`, the head's headers beside it, `headers()` left empty.
    fn respond(
        self,
        key: Key,
        mut conn: Conn,
        reply: wire::Head,
        read_headers: bool,
    ) -> (Response<Body>, Option<super::ReplyHeaders>) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = reply.status;
        *response.version_mut() = reply.version;
        let read = if read_headers {
            Some(reply.headers)
        } else {
            *response.headers_mut() = reply.headers.into_map();
            None
        };
        let whole_body = match reply.framing {
            Framing::Empty => Some(Bytes::new()),
            Framing::Length(n) if conn.buf.len() as u64 >= n => {
                // n <= buf.len(), so it fits a usize.
                Some(conn.buf.split_to(usize::try_from(n).unwrap_or(0)).freeze())
            }
            _ => None,
        };
        let mut body = Reply {
            conn: Some(conn),
            decoder: Decoder::new(reply.framing),
            keep_alive: reply.keep_alive,
            idle_for: idle_for(reply.idle_timeout),
            back: Some((self, key)),
        };
        if let Some(bytes) = whole_body {
            body.finish();
            if !bytes.is_empty() {
                *response.body_mut() = Body::from(bytes);
            }
        } else {
            *response.body_mut() = Body::new(body);
        }
        (response, read)
    }
}

/// What [`HttpClient::exchange`] writes: the head, and the body when it is not copied behind
/// it.
struct Outgoing<'a> {
    head: &'a [u8],
    rest: &'a [u8],
    head_request: bool,
    /// The request asks to close the connection after its reply.
    close: bool,
    /// The reply's headers are returned beside it as `ReplyHeaders`, not in `headers()`.
    read_headers: bool,
}

/// `body` copied behind `head` when it is small (one buffer, one write), else returned to be
/// written after it.
fn behind<'a>(head: &mut Vec<u8>, body: &'a [u8]) -> &'a [u8] {
    if body.len() <= COPY_BODY {
        head.extend_from_slice(body);
        &[]
    } else {
        body
    }
}

/// A `Full` body's bytes (it is ready at once, and has one frame at most).
fn whole(mut body: Full<Bytes>) -> Bytes {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match hyper::body::Body::poll_frame(Pin::new(&mut body), &mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
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

impl From<WireError> for TransportError {
    fn from(e: WireError) -> Self {
        TransportError::Connect(e.to_string())
    }
}

#[cfg(test)]
mod tests;
