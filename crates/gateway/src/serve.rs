//! The accept loop: HTTP/1.1 connections, their canonical `POST /v1/chat/completions`
//! requests served by the fast path ([`fast`]: parsed, handled and answered without hyper's
//! connection), and from the first request that is not one on, the connection served by hyper
//! directly, each request handed to [`Dispatch`] (the chat endpoint called directly,
//! everything else to [`crate::app`]'s router).
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
//!
//! [`serve_threads`] runs the same accept loop on several threads, each a single-threaded
//! tokio runtime with a listening socket of its own on the one address ([`Listeners`],
//! `SO_REUSEPORT`): a connection, its requests and their upstream connections stay on the
//! thread that accepted it, so a request crosses no thread (no work-stealing, no cross-thread
//! wake-ups), as each nginx worker runs its own event loop. docs/GATEWAY.md, "Cores", says
//! why one socket per thread rather than one shared.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;

use crate::{CHAT_PATH, Gateway, access_log, app, chat};
pub use listen::Listeners;

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
    let (stop, stopped) = tokio::sync::watch::channel(Stop::Serving);
    let told = async {
        shutdown.await;
        let _ = stop.send(Stop::Draining);
    };
    tokio::join!(accept_loop(listener, gateway, stopped, grace), told);
    Ok(())
}

/// The serving threads' runtimes, built before any thread starts: one single-threaded tokio
/// runtime per listening socket, the socket registered with it. Made by
/// [`Listeners::runtimes`] before the gateway says where it listens, so that a start that
/// cannot have its threads (out of file descriptors) fails before the address is printed.
#[derive(Debug)]
pub struct Runtimes {
    threads: Vec<(Owned, tokio::net::TcpListener)>,
    /// The CPU each thread is pinned to ([`Runtimes::pin`]), if they are.
    cpus: Option<Vec<usize>>,
}

impl Runtimes {
    /// Pins each serving thread, once started, to a CPU of its own, when there are exactly as
    /// many threads as CPUs the process may run on (`gateway.pin_threads`); the
    /// CPUs, in thread order, or `None` when the threads are not pinned.
    pub fn pin(&mut self) -> Option<&[usize]> {
        self.cpus = pin::plan(self.threads.len(), pin::allowed());
        self.cpus.as_deref()
    }
}

/// A serving thread's runtime until its thread takes it. Dropped on the way (a start that
/// fails part way, within the caller's runtime, where dropping a runtime panics), it is shut
/// down in the background instead.
#[derive(Debug)]
struct Owned(Option<tokio::runtime::Runtime>);

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Listeners {
    /// One runtime per socket, each socket registered with its runtime; an error names the
    /// serving thread (0-based) it was for.
    pub fn runtimes(self) -> std::io::Result<Runtimes> {
        let mut built = Vec::with_capacity(self.0.len());
        for (i, listener) in self.0.into_iter().enumerate() {
            let named = |e: std::io::Error| {
                std::io::Error::new(e.kind(), format!("serving thread {i}: {e}"))
            };
            let runtime = serving_runtime().map_err(named)?;
            let listener = {
                let _in = runtime.enter();
                tokio::net::TcpListener::from_std(listener).map_err(named)?
            };
            built.push((Owned(Some(runtime)), listener));
        }
        Ok(Runtimes {
            threads: built,
            cpus: None,
        })
    }
}

/// A serving thread's runtime: single-threaded, writing the thread's held log lines
/// ([`crate::logging::Batching`]) every [`crate::logging::MAX_HOLD`].
pub(crate) fn serving_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Runs on the thread that drives the runtime (`block_on`), whose lines it writes; ends
    // with the runtime.
    runtime.spawn(crate::logging::write_held());
    Ok(runtime)
}

/// How long a serving thread's runtime gets, once its accept loop has returned, to end the
/// tasks still running (connections past the grace).
const RUNTIME_SHUTDOWN: std::time::Duration = std::time::Duration::from_millis(500);

/// Serves `gateway` on one thread per runtime, each running its own single-threaded tokio
/// runtime, once a fleet replica's first sync has answered, until `shutdown` completes.
/// Then every thread stops accepting at once (its socket is closed; with all of them closed a
/// new connection is refused), the gateway is marked draining, and requests in flight get at
/// most `grace` to finish, or until `cut` completes (a second signal: what is still in
/// flight is cut then, as at the end of the grace, its access lines saying `shutdown`).
/// Returns, once every thread has stopped (and written the log lines it held), how many
/// connections each accepted.
///
/// A thread that ends before `shutdown` (it panicked) is logged as an error and stops the
/// others as `shutdown` would (they drain); the result is then an error, as it is when a
/// thread's count is lost or a thread has not stopped `grace` + 1 s after being told to.
///
/// The caller's runtime keeps what is not a request: `shutdown`, and whatever else it runs
/// (signals, SIGHUP's reloads, the fleet's sync task); `POST /admin/reload`, a request, runs
/// on the serving thread that received it. Limits that span requests (`max_in_flight`,
/// rate limits, breakers) live on the shared [`Gateway`], so they hold across threads.
pub async fn serve_threads(
    runtimes: Runtimes,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
    cut: impl Future<Output = ()>,
    grace: std::time::Duration,
) -> std::io::Result<Vec<u64>> {
    gateway.fleet_joined().await;
    let (stop, stopped) = tokio::sync::watch::channel(Stop::Serving);
    let mut ends = Vec::with_capacity(runtimes.threads.len());
    let mut failed = None;
    for (i, (runtime, listener)) in runtimes.threads.into_iter().enumerate() {
        let cpu = runtimes.cpus.as_ref().and_then(|c| c.get(i).copied());
        match serving_thread(
            (i, cpu),
            runtime,
            listener,
            gateway.clone(),
            stopped.clone(),
            grace,
        ) {
            Ok(end) => ends.push(end),
            Err(e) => {
                failed = Some(std::io::Error::new(
                    e.kind(),
                    format!("serving thread {i}: cannot start: {e}"),
                ));
                break;
            }
        }
    }
    drop(stopped);
    // A thread that could not start: the ones started stop at once.
    let shutdown = match failed {
        None => futures_util::future::Either::Left(shutdown),
        Some(_) => futures_util::future::Either::Right(std::future::ready(())),
    };
    // Each thread's accept loop marks the gateway draining as it stops.
    let drain = || {
        let _ = stop.send(Stop::Draining);
    };
    let cut_now = || {
        let _ = stop.send(Stop::Cutting);
    };
    let bound = grace.saturating_add(std::time::Duration::from_secs(1));
    let outcome = supervise(ends, (shutdown, drain), (cut, cut_now), bound).await;
    match (failed, outcome) {
        (Some(e), _) => Err(e),
        (None, Ok(served)) => Ok(served),
        (None, Err(why)) => Err(std::io::Error::other(why)),
    }
}

/// Waits for `shutdown` and for every thread's end (`ends[i]` gets thread `i`'s count, or is
/// dropped if the thread panicked) together. At `shutdown`, or at the first thread that ends
/// before it, calls `drain` once, then waits for the rest at most `bound`, calling `cut_now`
/// once if `cut` completes meanwhile. The counts, or why not: a thread that ended early, one
/// whose count is lost, one still running at the bound (each logged as an error).
async fn supervise(
    ends: Vec<tokio::sync::oneshot::Receiver<u64>>,
    (shutdown, drain): (impl Future<Output = ()>, impl FnOnce()),
    (cut, cut_now): (impl Future<Output = ()>, impl FnOnce()),
    bound: std::time::Duration,
) -> Result<Vec<u64>, String> {
    use futures_util::StreamExt;
    // `None` until thread `i` has ended; `Some(None)` when it ended without its count.
    let mut served: Vec<Option<Option<u64>>> = vec![None; ends.len()];
    let mut failures = Vec::new();
    let mut pending: futures_util::stream::FuturesUnordered<_> = ends
        .into_iter()
        .enumerate()
        .map(|(i, end)| async move { (i, end.await.ok()) })
        .collect();
    {
        tokio::pin!(shutdown);
        tokio::select! {
            biased;
            () = &mut shutdown => {}
            Some((i, count)) = pending.next() => failures.extend(ended_as(i, count, true, &mut served)),
        }
    }
    drain();
    // Capped (34 years): a bound past the end of time (a library caller's) waits, not panics.
    let deadline = tokio::time::Instant::now() + bound.min(Duration::from_secs(1 << 30));
    let cut = futures_util::FutureExt::fuse(cut);
    tokio::pin!(cut);
    let mut cut_now = Some(cut_now);
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout_at(deadline, pending.next()) => next,
            () = &mut cut => {
                if let Some(cut_now) = cut_now.take() {
                    cut_now();
                }
                continue;
            }
        };
        match next {
            Ok(Some((i, count))) => failures.extend(ended_as(i, count, false, &mut served)),
            Ok(None) => break,
            Err(_) => {
                let late: Vec<String> = served
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.is_none())
                    .map(|(i, _)| i.to_string())
                    .collect();
                let why = format!(
                    "serving threads {} still running {}ms after shutdown; not waiting",
                    late.join(", "),
                    bound.as_millis()
                );
                tracing::error!(target: "switchyard::serve", "{why}");
                failures.push(why);
                break;
            }
        }
    }
    if failures.is_empty() {
        Ok(served
            .into_iter()
            .map(|s| s.flatten().unwrap_or(0))
            .collect())
    } else {
        Err(failures.join("; "))
    }
}

/// Thread `i` has ended with `count` (`None`: lost), `early` (before shutdown) or not:
/// recorded in `served`, and why that is a failure if it is one (logged as an error).
fn ended_as(
    i: usize,
    count: Option<u64>,
    early: bool,
    served: &mut [Option<Option<u64>>],
) -> Option<String> {
    if let Some(s) = served.get_mut(i) {
        *s = Some(count);
    }
    let why = match (early, count) {
        (true, _) => format!("serving thread {i} ended before shutdown"),
        (false, None) => format!("serving thread {i} ended without its count (it panicked)"),
        (false, Some(_)) => return None,
    };
    tracing::error!(target: "switchyard::serve", thread = i, "{why}");
    Some(why)
}

/// Starts serving thread `i` on `listener` (registered with `runtime`), pinned to `cpu` if
/// given; the receiver gets its count of connections when it has stopped, and is dropped
/// unanswered if the thread panics.
fn serving_thread(
    (i, cpu): (usize, Option<usize>),
    mut runtime: Owned,
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    stopped: tokio::sync::watch::Receiver<Stop>,
    grace: std::time::Duration,
) -> std::io::Result<tokio::sync::oneshot::Receiver<u64>> {
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("serving-{i}"))
        .spawn(move || {
            let Some(runtime) = runtime.0.take() else {
                return;
            };
            if let Some(cpu) = cpu
                && !pin::to(cpu)
            {
                tracing::warn!(target: "switchyard::serve", thread = i, cpu, "cannot pin the serving thread to its CPU; it runs unpinned");
            }
            // Log lines held per thread, written every `MAX_HOLD`
            // (`crate::logging::Batching`); a panic's unwinding writes them too.
            let batching = crate::logging::Batching::start();
            let served = runtime.block_on(accept_loop(listener, gateway, stopped, grace));
            tracing::info!(
                target: "switchyard::serve",
                thread = i,
                connections = served,
                "serving thread stopped"
            );
            // Past the grace, connections still open end with the runtime, bounded.
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
            // Written before the thread says it is done: the process may exit right after.
            drop(batching);
            let _ = done.send(served);
        })?;
    Ok(finished)
}

/// What the serving threads' accept loops are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Serving,
    /// Stop accepting; requests in flight get the grace.
    Draining,
    /// Cut the requests still in flight now (a second signal).
    Cutting,
}

/// Accepts connections on `listener` and serves them on the current runtime until `stop`
/// says to drain (or its sender is gone); then closes the listener, tells every connection
/// to finish, and waits for them at most `grace`, or until `stop` says to cut. Returns how
/// many connections it accepted.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    mut stop: tokio::sync::watch::Receiver<Stop>,
    grace: std::time::Duration,
) -> u64 {
    let dispatch = Dispatch {
        router: app(gateway.clone()),
        gateway: gateway.clone(),
    };
    // Each connection holds a receiver: `closing` tells them to finish, and `closed()` on the
    // sender completes once the last one has dropped its receiver.
    let (closing, watch) = tokio::sync::watch::channel(false);
    // Aborted on drop: also when this future is dropped mid-way (the launcher's, a test's).
    let _anchor = AbortOnDrop(tokio::spawn(timer_anchor()));
    let mut accepted: u64 = 0;
    // The connections, so that those still open when the grace runs out are ended here (on
    // `serve`'s runtime they would outlive it); finished ones are reaped as others come.
    let mut connections = tokio::task::JoinSet::new();
    {
        // Its guard dropped inside: the loop holds no lock across an await.
        let stopping = async {
            let _ = stop.wait_for(|s| *s != Stop::Serving).await;
        };
        tokio::pin!(stopping);
        loop {
            let tcp = tokio::select! {
                // Stop first: once told, no connection more is accepted.
                biased;
                () = &mut stopping => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        accept_failed(&e).await;
                        continue;
                    }
                },
            };
            // No Nagle: a stream's chunks are small writes, and waiting for the client's
            // (delayed) ACK before each one added tens of milliseconds to a streamed reply.
            let _ = tcp.set_nodelay(true);
            accepted = accepted.saturating_add(1);
            while connections.try_join_next().is_some() {}
            connections.spawn(connection(tcp, dispatch.clone(), watch.clone()));
        }
    }
    drop(listener);
    drop(watch);
    gateway.start_draining();
    let _ = closing.send(true);
    // Requests in flight get `grace` (or until told to cut); what is left is then cut.
    let cut = async {
        // A sender gone is no order to cut: the grace stands.
        if stop.wait_for(|s| *s == Stop::Cutting).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let finished = tokio::select! {
        done = tokio::time::timeout(grace, closing.closed()) => done.is_ok(),
        () = cut => false,
    };
    if !finished {
        // Streams end with an in-band error event (`events::body`): 200 ms to write those.
        gateway.cut().now();
        let _ = tokio::time::timeout(Duration::from_millis(200), closing.closed()).await;
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    accepted
}

/// One connection, kept alive between requests, until the client closes it or shutdown asks
/// it to finish (the request in flight is served first): its canonical chat requests served
/// by the fast path ([`fast`]), and from the first request that is not one on, the rest of
/// the connection by hyper.
async fn connection(
    tcp: tokio::net::TcpStream,
    dispatch: Dispatch,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let Some(conn) = fast::serve(tcp, &dispatch.gateway, &mut closing).await else {
        return;
    };
    let io = hyper_util::rt::TokioIo::new(fast::rewound(conn));
    // hyper's default write strategy (a vectored write of the head and the body's own
    // buffers): `writev(false)` saved ~0.7k instructions a small reply but copies every body
    // into the connection's write buffer, which keeps its largest size for the connection's
    // life (a 32 MiB reply, 32 MiB held by an idle keep-alive connection).
    // With a timer, hyper's `header_read_timeout` (30 s by default) closes a connection whose
    // next head is not whole in time, as the fast path does.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(io, dispatch);
    tokio::pin!(conn);
    // Borrowed, not moved: the receiver is dropped when the connection ends, which is what
    // `serve` waits for.
    let told = async {
        let _ = closing.wait_for(|c| *c).await;
    };
    tokio::select! {
        // In order, not in a random one: the connection first, then whether shutdown asked
        // it to finish. Unbiased, `select!` draws a random number at every poll (three a
        // request; about 160 instructions).
        biased;
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
            // The access log's future itself, boxed: not moved once more into an `async`
            // block of its own (a copy of its whole size on every request).
            let logged = logged_chat(&self.gateway, request);
            return futures_util::future::Either::Left(Box::pin(futures_util::FutureExt::map(
                logged, Ok,
            )));
        }
        futures_util::future::Either::Right(tower::ServiceExt::oneshot(
            self.router.clone(),
            request,
        ))
    }
}

/// `POST /v1/chat/completions` inside its access log: what both [`Dispatch`] and the fast
/// path ([`fast`]) run for a chat request.
fn logged_chat(gw: &Arc<Gateway>, request: Request) -> impl Future<Output = Response> + use<> {
    let handler_gw = gw.clone();
    let run = move |request, log| chat::complete(handler_gw, log, request);
    access_log::logged(gw.clone(), request, run)
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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

mod fast;
mod head;
mod listen;
mod pin;
mod reply;
mod rewind;
mod tally;

pub(crate) use tally::Tally;

#[cfg(test)]
mod tests;
