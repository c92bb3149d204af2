//! The hyper floor: a plain tokio and hyper reverse proxy, hyper's server connection for the
//! client and hyper's client connection (a task of its own) for the upstream, the way most
//! proxies on this stack are written. The gateway's own request path uses neither.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A serving thread's idle connections to the upstream.
pub struct Pool {
    upstream: SocketAddr,
    host: HeaderValue,
    idle: RefCell<Vec<Sender>>,
}

impl Pool {
    pub fn new(upstream: SocketAddr, host: HeaderValue) -> Rc<Self> {
        Rc::new(Self {
            upstream,
            host,
            idle: RefCell::new(Vec::new()),
        })
    }

    /// An idle connection that is still open, or a new one.
    async fn get(&self) -> std::io::Result<Sender> {
        loop {
            // Popped before awaiting: no borrow is held across the `.await`.
            let popped = self.idle.borrow_mut().pop();
            let Some(mut sender) = popped else { break };
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        let tcp = tokio::net::TcpStream::connect(self.upstream).await?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(std::io::Error::other)?;
        tokio::task::spawn_local(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// The upstream's reply to `request`, read whole.
    async fn forward(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, ()> {
        let (mut head, body) = request.into_parts();
        let body = body.collect().await.map_err(drop)?.to_bytes();
        head.headers.insert(hyper::header::HOST, self.host.clone());
        let mut sender = self.get().await.map_err(drop)?;
        let request = Request::from_parts(head, Full::new(body));
        let reply = sender.send_request(request).await.map_err(drop)?;
        let (head, body) = reply.into_parts();
        let body = body.collect().await.map_err(drop)?.to_bytes();
        self.idle.borrow_mut().push(sender);
        Ok(Response::from_parts(head, Full::new(body)))
    }
}

/// One request: the upstream's reply, or a 502.
async fn proxy(
    pool: Rc<Pool>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    Ok(pool.forward(request).await.unwrap_or_else(|()| {
        let mut bad = Response::new(Full::new(Bytes::new()));
        *bad.status_mut() = StatusCode::BAD_GATEWAY;
        bad
    }))
}

/// Serves one client connection until it closes.
pub async fn connection(tcp: tokio::net::TcpStream, pool: Rc<Pool>) {
    let service = hyper::service::service_fn(move |r| proxy(pool.clone(), r));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tcp), service)
        .await;
}
