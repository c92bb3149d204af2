//! The accept loop: HTTP/1.1 connections served by hyper directly, each request handed to
//! [`Dispatch`] (the chat endpoint called directly, everything else to [`crate::app`]'s router).
//!
//! Not `axum::serve`: its per-request path wraps the service three times (a make-service, a
//! request map into axum's body, a tower-to-hyper adapter that clones the service for each
//! call) and serves through hyper-util's protocol-sniffing builder, for HTTP/2 and upgrades
//! the gateway does not offer; about 800 instructions a proxied request
//! (`crates/gateway/bench/instructions.sh`).
//!
//! What it keeps from `axum::serve`: `TCP_NODELAY` on every connection; an accept error that
//! is not the peer's (out of file descriptors) pauses accepting for a second instead of
//! spinning; on shutdown the listener is closed at once (a new connection is refused), every
//! connection is told to finish its request in flight and close, and [`serve`] returns when
//! they all have, or when the grace period is over.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;

use crate::{CHAT_PATH, Gateway, access_log, app, chat};

/// Serves, once a fleet replica's first sync has answered ([`Gateway::fleet_joined`]),
/// until `shutdown` completes, then stops accepting (the listener is closed: a new
/// connection is refused), marks the gateway draining, and lets requests in flight finish for
/// at most `grace`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> std::io::Result<()> {
    // A fleet replica serves once its first sync answered (bounded): see `fleet_joined`.
    gateway.fleet_joined().await;
    let dispatch = Dispatch {
        router: app(gateway.clone()),
        gateway: gateway.clone(),
    };
    // Each connection holds a receiver: `closing` tells them to finish, and `closed()` on the
    // sender completes once the last one has dropped its receiver.
    let (closing, watch) = tokio::sync::watch::channel(false);
    let anchor = tokio::spawn(timer_anchor());
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // No Nagle: a stream's chunks are small writes, and waiting for the client's (delayed)
        // ACK before each one added tens of milliseconds to a streamed reply.
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(tcp, dispatch.clone(), watch.clone()));
    }
    drop(listener);
    drop(watch);
    gateway.start_draining();
    let _ = closing.send(true);
    // Once shutdown starts, give in-flight requests `grace`, then stop waiting.
    let _ = tokio::time::timeout(grace, closing.closed()).await;
    anchor.abort();
    Ok(())
}

/// One connection, kept alive between requests, until the client closes it or shutdown asks
/// it to finish (the request in flight is served first).
async fn connection(
    tcp: tokio::net::TcpStream,
    dispatch: Dispatch,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let io = hyper_util::rt::TokioIo::new(tcp);
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, dispatch);
    tokio::pin!(conn);
    // Borrowed, not moved: the receiver is dropped when the connection ends, which is what
    // `serve` waits for.
    let told = async {
        let _ = closing.wait_for(|c| *c).await;
    };
    tokio::select! {
        _ = conn.as_mut() => {}
        () = told => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// An accept that failed: the peer's doing (it reset before the accept) is skipped; anything
/// else (no file descriptor left) is logged and accepting pauses for a second, as
/// `axum::serve` does, rather than failing again at once in a loop.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(target: "switchyard::serve", error = %e, "accept failed; pausing for 1s");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

/// What [`serve`] serves: `POST /v1/chat/completions`, the hot path, called directly inside
/// its access log (the same [`chat::complete`] and [`access_log::logged`] the route in [`app`]
/// runs, without the router's matching, its boxed layers and its extractors: about 8 000
/// instructions a request); every other request goes to [`app`]'s router.
#[derive(Clone, Debug)]
struct Dispatch {
    gateway: Arc<Gateway>,
    router: Router,
}

type Boxed = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::Either<Boxed, tower::util::Oneshot<Router, Request>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let request = request.map(Body::new);
        if request.method() == axum::http::Method::POST && request.uri().path() == CHAT_PATH {
            let gw = self.gateway.clone();
            return futures_util::future::Either::Left(Box::pin(async move {
                let run = |request, log| chat::complete(gw.clone(), log, request);
                Ok(access_log::logged(gw.clone(), request, run).await)
            }));
        }
        futures_util::future::Either::Right(tower::ServiceExt::oneshot(
            self.router.clone(),
            request,
        ))
    }
}

/// Keeps a timer due within a second, always.
///
/// Tokio wakes the thread parked in its driver whenever a timer is set to fire before that
/// thread's next planned wake-up. On a gateway that is not saturated no timer is usually
/// pending, so every request's attempt timeout woke a sleeping thread (an eventfd write, a
/// context switch, a second core busy) on the request's critical path. With this tick pending,
/// the planned wake-up is never more than a second away, and the usual timeouts (seconds)
/// register without waking anyone; the price is one wake-up a second.
async fn timer_anchor() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
