//! Open-loop load: each request issued at its intended time, whatever happened to earlier
//! ones, and folded into the books as it finishes.

use std::sync::{Arc, Mutex};

use switchyard_core::outcome::{FailureReason, FinalOutcome};
use switchyard_core::request::Request;
use switchyard_core::time::{Duration, Instant};
use switchyard_live::{AttemptSink, Driver, HttpClient};
use switchyard_sim::traffic::Generator;

use super::Ticket;
use super::books::{Books, Issued, booked};
use super::direct::one;
use super::through::through_gateway;
use crate::ScenarioParams;

/// What the load needs: the scenario (its duration already the run's), where requests go,
/// and when the run started.
pub(super) struct Load<'a> {
    pub(super) s: &'a ScenarioParams,
    pub(super) seed: u64,
    pub(super) router: &'a Driver,
    /// Every request goes there over HTTP when set, else to `router` in process.
    pub(super) gateway_url: Option<&'a str>,
    pub(super) client: &'a HttpClient,
    pub(super) start: tokio::time::Instant,
    pub(super) progress: bool,
}

impl Load<'_> {
    /// The run's time `t` on the runtime's clock.
    pub(super) fn at(&self, t: Instant) -> tokio::time::Instant {
        self.start + std::time::Duration::from(t.since_start())
    }

    /// Issues the scenario's arrivals until its duration (or request cap), then lets the
    /// requests in flight finish within their deadline and a little more; those still
    /// running are dropped, left in flight in the books. Returns how many were issued.
    pub(super) async fn drive(&self, books: &Arc<Mutex<Books>>) -> u64 {
        let (s, duration) = (self.s, self.s.duration);
        let mut generator = Generator::new(&s.traffic, self.seed);
        let mut intended = generator.next_arrival(&s.traffic.arrival, Instant::ZERO, duration);
        let end = Instant::ZERO + duration;
        let mut issued = 0u64;
        let mut tasks = tokio::task::JoinSet::new();
        let mut last_shown = u64::MAX;
        while intended < end && s.traffic.max_requests.is_none_or(|n| issued < n) {
            tokio::time::sleep_until(self.at(intended)).await;
            let (class, request) = generator.draw();
            tasks.spawn(self.request(books, issued, class, request.clone(), intended));
            issued += 1;
            intended = generator.next_arrival(&s.traffic.arrival, intended, duration);
            while tasks.try_join_next().is_some() {}
            if self.progress && intended.second() != last_shown {
                last_shown = intended.second();
                eprint!(
                    "\r[live] {}s / {}s, {issued} requests issued, {} in flight   ",
                    last_shown,
                    duration.as_secs_f64() as u64,
                    tasks.len()
                );
            }
        }
        if self.progress {
            eprintln!();
        }
        // Let requests in flight finish, within their deadline (and a little).
        let grace =
            std::time::Duration::from(s.router.plan.deadline) + std::time::Duration::from_secs(5);
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        issued
    }

    /// Books request `id` as issued and returns its work: sent (to the router or the
    /// gateway), given up on if its class's caller abandons it, folded in when it ends.
    fn request(
        &self,
        books: &Arc<Mutex<Books>>,
        id: u64,
        class: usize,
        request: Request,
        intended: Instant,
    ) -> impl Future<Output = ()> + Send + 'static {
        let s = self.s;
        let route = switchyard_core::rule::pick(&s.router.rules, &request)
            .or_else(|| s.router.route_id(&request.route));
        let ticket = Ticket {
            class,
            route,
            intended,
            base: self.start,
        };
        let sink = AttemptSink::default();
        let issue = Issued {
            class,
            route,
            start: intended,
            stream: request.stream,
            sink: sink.clone(),
        };
        booked(books, |b| b.issue(id, issue));
        let books = books.clone();
        let (r, params) = (self.router.clone(), s.router.clone());
        let via = self
            .gateway_url
            .map(|u| (u.to_owned(), self.client.clone()));
        // A caller that gives up drops its request (the router abandons it), as in the sim.
        let give_up = s.traffic.classes[class]
            .abandon_after
            .map(|after| self.at(intended) + std::time::Duration::from(after));
        let stream = request.stream;
        async move {
            let work = async {
                match via {
                    Some((url, client)) => {
                        through_gateway(&client, &url, &params, request, ticket).await
                    }
                    None => one(&r, &params, request, ticket, &sink).await,
                }
            };
            let done = match give_up {
                None => work.await,
                Some(deadline) => match tokio::time::timeout_at(deadline, work).await {
                    Ok(done) => done,
                    // The work was dropped at whatever await it was on; its router wrote
                    // the attempts it had made into the sink as it dropped, one still on its
                    // way `cancelled` (reaching the provider is what failover counts).
                    Err(_) => ticket.done(
                        stream,
                        FinalOutcome::Failed(FailureReason::Abandoned),
                        sink.take(),
                    ),
                },
            };
            // The router events this request (and others) caused so far, tallied now.
            let events = r.drain_events();
            booked(&books, |b| {
                b.finish(id, &done);
                b.events(&events);
            });
        }
    }
}

/// The run's time now, counted from `start`.
pub(super) fn since(start: tokio::time::Instant) -> Instant {
    Instant::ZERO + Duration::from(start.elapsed())
}
