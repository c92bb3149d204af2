//! The transport seam is a `tower::Service`: layers compose over it. The driver keeps tower's
//! contract: each attempt waits for readiness on its own clone of the service, then calls it;
//! a layer's error is the attempt's `connect_failed`; dropping an attempt drops what a layer
//! holds for it.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::http::Response;
use common::{request, rig_over};
use switchyard_core::outcome::ErrorKind;
use switchyard_core::time::Duration;
use switchyard_live::transport::HttpRequest;
use switchyard_live::{InProcess, Transport};
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};

const PLAN: &str = "  max_attempts: 2\n  attempt_timeout: 10s\n";

/// What the limit saw.
#[derive(Debug, Default)]
struct Books {
    limit: usize,
    /// Requests between `poll_ready` (a place reserved) and the end or drop of their call.
    in_flight: usize,
    most_in_flight: usize,
    calls: usize,
    waiting: Vec<Waker>,
}

fn books(books: &Mutex<Books>) -> MutexGuard<'_, Books> {
    books.lock().unwrap()
}

/// A concurrency limit that keeps books, as a tower layer would be written: `poll_ready`
/// reserves a place (or waits for one), `call` hands it to the response future, which gives
/// it back when it ends or is dropped; a clone dropped with a place reserved gives it back.
struct Limit<S> {
    inner: S,
    books: Arc<Mutex<Books>>,
    reserved: bool,
}

impl<S: Clone> Clone for Limit<S> {
    fn clone(&self) -> Self {
        Limit {
            inner: self.inner.clone(),
            books: self.books.clone(),
            reserved: false,
        }
    }
}

fn give_back(books: &Mutex<Books>) {
    let mut b = self::books(books);
    b.in_flight -= 1;
    for waker in b.waiting.drain(..) {
        waker.wake();
    }
}

impl<S> Drop for Limit<S> {
    fn drop(&mut self) {
        if self.reserved {
            give_back(&self.books);
        }
    }
}

/// A place, given back when the response future that holds it ends or is dropped.
struct Place(Arc<Mutex<Books>>);

impl Drop for Place {
    fn drop(&mut self) {
        give_back(&self.0);
    }
}

type Reply = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

impl<S> Service<HttpRequest> for Limit<S>
where
    S: Service<HttpRequest, Response = Response<Body>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Reply;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if !self.reserved {
            let mut b = books(&self.books);
            if b.in_flight >= b.limit {
                b.waiting.push(cx.waker().clone());
                return Poll::Pending;
            }
            b.in_flight += 1;
            b.most_in_flight = b.most_in_flight.max(b.in_flight);
            self.reserved = true;
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest) -> Reply {
        assert!(self.reserved, "called before poll_ready said ready");
        self.reserved = false;
        books(&self.books).calls += 1;
        let place = Place(self.books.clone());
        let reply = self.inner.call(request);
        Box::pin(async move {
            let reply = reply.await.map_err(Into::into);
            drop(place);
            reply
        })
    }
}

/// The driver over the in-process fakes behind a limit of `limit` requests at a time.
fn limited(limit: usize, routes: &str) -> (common::Rig, Arc<Mutex<Books>>) {
    let b = Arc::new(Mutex::new(Books {
        limit,
        ..Books::default()
    }));
    let held = b.clone();
    let rig = rig_over(&[("a", "openai"), ("b", "openai")], routes, PLAN, |fakes| {
        let layer = tower::layer::layer_fn(move |inner| Limit {
            inner,
            books: held.clone(),
            reserved: false,
        });
        Transport::new(ServiceBuilder::new().layer(layer).service(fakes))
    });
    (rig, b)
}

const ONE: &str = "  - { name: r, policy: static, targets: [t-a] }\n";

/// How long the fake takes over a reply: 100 ms to the first token, then 9 more at 100/s.
const REPLY: Duration = Duration::from_millis(190);

#[tokio::test(start_paused = true)]
async fn a_concurrency_limit_layer_holds_a_request_until_the_one_before_is_done() {
    let (rig, limit) = limited(2, ONE);
    let (x, y) = tokio::join!(rig.router.chat(request("r")), rig.router.chat(request("r")));
    let apart = [
        x.unwrap().attempts[0].latency,
        y.unwrap().attempts[0].latency,
    ];
    assert_eq!(apart, [REPLY; 2], "side by side");

    let (rig, limit_1) = limited(1, ONE);
    let (x, y) = tokio::join!(rig.router.chat(request("r")), rig.router.chat(request("r")));
    let one_by_one = [
        x.unwrap().attempts[0].latency,
        y.unwrap().attempts[0].latency,
    ];
    assert_eq!(
        one_by_one,
        [REPLY, REPLY + REPLY],
        "the second waited in poll_ready for the first"
    );
    for (b, most) in [(&limit, 2), (&limit_1, 1)] {
        let b = books(b);
        assert_eq!((b.calls, b.most_in_flight, b.in_flight), (2, most, 0));
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_attempt_gives_back_what_the_layer_holds() {
    let (rig, limit) = limited(1, ONE);
    // The caller gives up mid-reply: its attempt is dropped, and its place with it.
    let gone = tokio::time::timeout(StdDuration::from_millis(50), rig.router.chat(request("r")));
    assert!(gone.await.is_err(), "the caller gave up");
    assert_eq!(books(&limit).in_flight, 0);
    // The next request does not wait for a place that was never given back.
    let reply = tokio::time::timeout(StdDuration::from_secs(5), rig.router.chat(request("r")))
        .await
        .expect("not held by a leaked place")
        .unwrap();
    assert_eq!(reply.attempts[0].latency, REPLY);
    assert_eq!(books(&limit).calls, 2);
}

#[tokio::test(start_paused = true)]
async fn a_layer_error_is_connect_failed_and_the_driver_fails_over() {
    let routes = "  - { name: r, policy: priority, tiers: [[t-a], [t-b]] }\n";
    let refuse_a = tower::layer::layer_fn(|inner: InProcess| {
        tower::service_fn(move |request: HttpRequest| {
            let inner = inner.clone();
            async move {
                if request.uri().authority().map(|a| a.as_str()) == Some("a.fake") {
                    return Err::<Response<Body>, BoxError>("refused by a layer".into());
                }
                inner.oneshot(request).await.map_err(Into::into)
            }
        })
    });
    let rig = rig_over(&[("a", "openai"), ("b", "openai")], routes, PLAN, |fakes| {
        Transport::new(refuse_a.layer(fakes))
    });
    let reply = rig.router.chat(request("r")).await.unwrap();
    let outcomes: Vec<_> = reply
        .attempts
        .iter()
        .map(|a| a.outcome.error_kind())
        .collect();
    assert_eq!(outcomes, [Some(ErrorKind::ConnectFailed), None]);
    assert_eq!(rig.router.target_names(reply.served_by).0, "t-b");
}
