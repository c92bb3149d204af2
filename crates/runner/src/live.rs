//! Live mode: the scenario's fakes on 127.0.0.1:0, the live router in process, and open-loop
//! load from the same traffic model as the simulator.
//!
//! Requests are issued at their *intended* times whatever happens to earlier ones, and each
//! request's latency counts from its intended time, so a stalled system cannot hide its
//! stalls (no coordinated omission). The run is bounded: arrivals stop at the duration (or
//! the request cap), and requests still in flight a deadline later are abandoned and counted
//! as failed.

use std::sync::Arc;

use switchyard_core::credentials::{Date, Environment, ProviderConfig, resolve_providers};
use switchyard_core::outcome::{AttemptRecord, FailureReason, FinalOutcome};
use switchyard_core::request::Request;
use switchyard_core::time::{Duration, Instant};
use switchyard_live::credentials::CredentialStore;
use switchyard_live::{HttpClient, LiveRouter, StreamEvent};
use switchyard_sim::Observer;
use switchyard_sim::traffic::Generator;
use tokio::sync::mpsc;

use crate::results::Collector;
use crate::{Report, RunError, ScenarioParams, report};

/// One finished live request, on its way to the collector.
struct Done {
    class: usize,
    start: Instant,
    end: Instant,
    outcome: FinalOutcome,
    attempts: Vec<AttemptRecord>,
    first_token: Option<Duration>,
    stream: bool,
    cost: f64,
    route: Option<switchyard_core::id::RouteId>,
}

pub fn run(s: &ScenarioParams, seed: u64, duration: Option<Duration>) -> Result<Report, RunError> {
    run_with_progress(s, seed, duration, false)
}

/// As [`run`], with a progress line on stderr when `progress` is set.
pub fn run_with_progress(
    s: &ScenarioParams,
    seed: u64,
    duration: Option<Duration>,
    progress: bool,
) -> Result<Report, RunError> {
    let setup = |message: String| RunError::Setup {
        file: s.file.clone(),
        message,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| setup(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(run_async(s, seed, duration.unwrap_or(s.duration), progress))
}

async fn run_async(
    s: &ScenarioParams,
    seed: u64,
    duration: Duration,
    progress: bool,
) -> Result<Report, RunError> {
    let setup = |message: String| RunError::Setup {
        file: s.file.clone(),
        message,
    };
    // 1. The fakes, each on its own port.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    let mut providers = Vec::new();
    for p in &s.providers {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| setup(format!("cannot listen: {e}")))?;
        let addr = listener.local_addr().map_err(|e| setup(e.to_string()))?;
        let app = switchyard_fake::server::router(p.profile.clone(), seed);
        let mut stop = stop_rx.clone();
        servers.push(tokio::spawn(switchyard_fake::server::serve(
            listener,
            app,
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )));
        providers.push(ProviderConfig {
            name: p.name.clone(),
            dialect: p.profile.dialect,
            base_url: format!("http://{addr}"),
            fake_base_url: Some(format!("http://{addr}")),
            mode: None,
            auth: None,
            headers: Default::default(),
            rotation_days: None,
            keys: Vec::new(),
            mock_key: Some(
                p.profile
                    .keys
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "switchyard-dev".to_owned()),
            ),
        });
    }
    // 2. The router, in development mode against the fakes.
    let used: Vec<&str> = s.router.providers.names().collect();
    let resolved = resolve_providers(&providers, Environment::Development, &used)
        .map_err(|e| setup(e.to_string()))?;
    let store = CredentialStore::load(
        resolved,
        Environment::Development,
        &used,
        Date(20_000),
        &|_| None,
    )
    .map_err(|e| setup(e.to_string()))?;
    let router = LiveRouter::new(s.router.clone(), store, Arc::new(HttpClient::new()), seed)
        .map_err(|e| setup(e.to_string()))?;
    // 3. Operator actions on the timeline.
    let start = tokio::time::Instant::now();
    let at = |t: Instant| start + std::time::Duration::from(t.since_start());
    for (when, command) in s.operator.clone() {
        let r = router.clone();
        let due = at(when);
        tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            r.apply(command);
        });
    }
    // 4. Open-loop load.
    let (tx, mut rx) = mpsc::unbounded_channel::<Done>();
    let mut generator = Generator::new(&s.traffic, seed);
    let mut intended = generator.next_arrival(&s.traffic.arrival, Instant::ZERO, duration);
    let end = Instant::ZERO + duration;
    let mut issued = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    let mut last_shown = u64::MAX;
    while intended < end && s.traffic.max_requests.is_none_or(|n| issued < n) {
        tokio::time::sleep_until(at(intended)).await;
        let (class, request) = generator.draw();
        let request: Request = request.clone();
        let route = switchyard_core::rule::pick(&s.router.rules, &request)
            .or_else(|| s.router.route_id(&request.route));
        let (r, tx, params) = (router.clone(), tx.clone(), s.router.clone());
        let started = intended;
        tasks.spawn(async move {
            let done = one(&r, &params, request, class, started, start, route).await;
            let _ = tx.send(done);
        });
        issued += 1;
        intended = generator.next_arrival(&s.traffic.arrival, intended, duration);
        while tasks.try_join_next().is_some() {}
        if progress && intended.second() != last_shown {
            last_shown = intended.second();
            eprint!(
                "\r[live] {}s / {}s, {issued} requests issued, {} in flight   ",
                last_shown,
                duration.as_secs_f64() as u64,
                tasks.len()
            );
        }
    }
    if progress {
        eprintln!();
    }
    drop(tx);
    // 5. Let requests in flight finish, within their deadline (and a little).
    let grace =
        std::time::Duration::from(s.router.plan.deadline) + std::time::Duration::from_secs(5);
    if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tasks.abort_all();
    }
    let mut scoped = s.clone();
    scoped.duration = duration;
    let mut collector = Collector::new(&scoped);
    let mut finished = 0u64;
    while let Ok(d) = rx.try_recv() {
        finished += 1;
        collector.finished(&switchyard_sim::Finished {
            class: d.class,
            start: d.start,
            end: d.end,
            outcome: d.outcome,
            route: d.route,
            attempts: &d.attempts,
            first_token: d.first_token,
            stream: d.stream,
            cost: d.cost,
            wasted_cost: 0.0,
        });
    }
    // Abandoned requests still count: issued = finished + abandoned, each exactly once.
    for _ in finished..issued {
        collector.finished(&switchyard_sim::Finished {
            class: 0,
            start: Instant::ZERO,
            end: end + Duration::from(grace),
            outcome: FinalOutcome::Failed(FailureReason::DeadlineExceeded),
            route: None,
            attempts: &[],
            first_token: None,
            stream: false,
            cost: 0.0,
            wasted_cost: 0.0,
        });
    }
    let _ = stop_tx.send(true);
    for s in servers {
        let _ = s.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let wall = report::Wall {
        elapsed_secs: elapsed,
        requests_per_sec: issued as f64 / elapsed.max(1e-9),
        events: 0,
    };
    Ok(router.inspect(|core| report::build(&scoped, "live", seed, &collector, core, &[], wall)))
}

async fn one(
    r: &LiveRouter,
    params: &switchyard_core::router::RouterParams,
    request: Request,
    class: usize,
    intended: Instant,
    base: tokio::time::Instant,
    route: Option<switchyard_core::id::RouteId>,
) -> Done {
    let now = || Instant::ZERO + Duration::from(base.elapsed());
    let stream = request.stream;
    let (outcome, attempts, first_token, cost) = if stream {
        match r.chat_stream(request).await {
            Err(e) => (
                FinalOutcome::Failed(e.outcome),
                e.attempts.into_iter().map(|a| a.1).collect(),
                None,
                0.0,
            ),
            Ok(mut s) => {
                let mut first = None;
                let mut result = FinalOutcome::Failed(FailureReason::Attempt(
                    switchyard_core::outcome::ErrorKind::StreamInterrupted,
                ));
                let mut cost = 0.0;
                while let Some(event) = s.next().await {
                    match event {
                        Ok(StreamEvent::Delta(_)) => {
                            first = first.or_else(|| Some(now().saturating_since(intended)));
                        }
                        Ok(StreamEvent::End { usage, .. }) => {
                            result = FinalOutcome::Served(s.served_by);
                            cost = params.target(s.served_by).price.cost(usage);
                            break;
                        }
                        Err(e) => {
                            result = FinalOutcome::Failed(e.outcome);
                            break;
                        }
                    }
                }
                (result, s.attempts.clone(), first, cost)
            }
        }
    } else {
        match r.chat(request).await {
            Ok(reply) => {
                let cost = params.target(reply.served_by).price.cost(reply.usage);
                (
                    FinalOutcome::Served(reply.served_by),
                    reply.attempts,
                    Some(now().saturating_since(intended)),
                    cost,
                )
            }
            Err(e) => (
                FinalOutcome::Failed(e.outcome),
                e.attempts.into_iter().map(|a| a.1).collect(),
                None,
                0.0,
            ),
        }
    };
    Done {
        class,
        start: intended,
        end: now(),
        outcome,
        attempts,
        first_token,
        stream,
        cost,
        route,
    }
}
