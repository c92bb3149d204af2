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
use super::fleet::Watch;
use super::through::through_gateway;
use crate::ScenarioParams;

/// What the load needs: the scenario (its duration already the run's), where requests go,
/// and when the run started.
pub(super) struct Load<'a> {
    pub(super) s: &'a ScenarioParams,
    pub(super) seed: u64,
    pub(super) router: &'a Driver,
    /// Every request goes to one of these over HTTP (a fleet's by its `load_balance`
    /// rule) when there are any, else to `router` in process.
    pub(super) gateway_urls: &'a [String],
    /// A fleet's replicas and the runner's view of them: every replica's events are tallied,
    /// on the run's clock.
    pub(super) fleet: Option<(&'a [Driver], &'a Arc<Watch>)>,
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
    /// running are dropped, left in flight in the books. Returns how many were issued, and
    /// how many went to each gateway (by replica).
    pub(super) async fn drive(&self, books: &Arc<Mutex<Books>>) -> (u64, Vec<u64>) {
        let (s, duration) = (self.s, self.s.duration);
        let mut generator = Generator::new(&s.traffic, self.seed);
        let mut intended = generator.next_arrival(&s.traffic.arrival, Instant::ZERO, duration);
        let end = Instant::ZERO + duration;
        let mut issued = 0u64;
        let mut tasks = tokio::task::JoinSet::new();
        let mut last_shown = u64::MAX;
        let mut balancer = s
            .fleet
            .as_ref()
            .map(|f| switchyard_sim::Balancer::new(f.load_balance, f.replicas, self.seed));
        let mut per_replica = vec![0u64; self.gateway_urls.len()];
        while intended < end && s.traffic.max_requests.is_none_or(|n| issued < n) {
            tokio::time::sleep_until(self.at(intended)).await;
            let (class, request) = generator.draw();
            let replica = balancer.as_mut().map_or(0, |b| b.pick() as usize);
            if let Some(n) = per_replica.get_mut(replica) {
                *n += 1;
            }
            let url = self.gateway_urls.get(replica).cloned();
            tasks.spawn(self.request(books, issued, class, request.clone(), intended, url));
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
        (issued, per_replica)
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
        url: Option<String>,
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
        let via = url.map(|u| (u, self.client.clone()));
        let fleet = self
            .fleet
            .map(|(replicas, watch)| (replicas.to_vec(), watch.clone()));
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
                    None => one(&r, request, ticket, &sink).await,
                }
            };
            let done = match give_up {
                None => work.await,
                Some(deadline) => match tokio::time::timeout_at(deadline, work).await {
                    Ok(done) => done,
                    // The work was dropped at whatever await it was on; its router wrote
                    // the attempts it had made into the sink as it dropped, one still on its
                    // way `cancelled` (reaching the provider is what failover counts), and
                    // what they were booked: the request's cost, all of it wasted.
                    Err(_) => {
                        let mut done = ticket.done(
                            stream,
                            FinalOutcome::Failed(FailureReason::Abandoned),
                            sink.take(),
                        );
                        let cost = sink.booked().map_or(0.0, |(_, cost)| cost);
                        (done.cost, done.wasted_cost) = (cost, cost);
                        done
                    }
                },
            };
            // The router events this request (and others) caused so far, tallied now: a
            // fleet's from every replica.
            let events = match &fleet {
                None => r.drain_events(),
                Some((replicas, watch)) => drain_fleet(replicas, watch),
            };
            booked(&books, |b| {
                b.finish(id, &done);
                b.events(&events);
            });
        }
    }
}

/// Every replica's events so far, on the run's clock, noted by the fleet's watch.
pub(super) fn drain_fleet(
    replicas: &[Driver],
    watch: &Watch,
) -> Vec<switchyard_core::telemetry::Event> {
    let mut all = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        all.extend(watch.on_the_runs_clock(i, r.drain_events()));
    }
    watch.events(&all);
    all.sort_by_key(|e| e.at);
    all
}

/// The run's time now, counted from `start`.
pub(super) fn since(start: tokio::time::Instant) -> Instant {
    Instant::ZERO + Duration::from(start.elapsed())
}
