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
use crate::scenario::GatewayMode;
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
    /// A stream broken after its first token on a route that resumes: whether a
    /// continuation completed it.
    resumed: Option<bool>,
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
    let mut fake_urls: Vec<(String, String)> = Vec::new();
    for p in &s.providers {
        let base = if let Some(url) = &p.url {
            url.clone()
        } else {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| setup(format!("cannot listen: {e}")))?;
            let addr = listener.local_addr().map_err(|e| setup(e.to_string()))?;
            let app = switchyard_fake::server::router(p.profile.clone(), seed);
            servers.push(switchyard_fake::server::spawn_until(
                listener,
                app,
                stop_rx.clone(),
            ));
            format!("http://{addr}")
        };
        fake_urls.push((p.name.clone(), base.clone()));
        providers.push(ProviderConfig {
            name: p.name.clone(),
            dialect: p.profile.dialect,
            base_url: base.clone(),
            fake_base_url: Some(base),
            mode: None,
            auth: None,
            headers: Default::default(),
            revocation: None,
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
    let (router, gateway_url) = if s.gateway == GatewayMode::Switchyard {
        // This project's gateway, in front of the fakes; the load goes to it over HTTP.
        let params = switchyard_live::config::LiveParams {
            environment: Environment::Development,
            providers: resolve_providers(&providers, Environment::Development, &used)
                .map_err(|e| setup(e.to_string()))?,
            router: s.router.clone(),
            // The runner reads which target served from the gateway's headers.
            gateway: switchyard_live::config::GatewayConfig {
                expose_attempts: true,
                ..Default::default()
            },
            limits: Default::default(),
        };
        drop(store);
        let gw = switchyard_gateway::Gateway::new(&params, None, Arc::new(HttpClient::new()))
            .map_err(|e| setup(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| setup(format!("cannot listen: {e}")))?;
        let url = format!(
            "http://{}",
            listener.local_addr().map_err(|e| setup(e.to_string()))?
        );
        let mut stop = stop_rx.clone();
        let router = gw.router();
        servers.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let _ = switchyard_gateway::serve(
                listener,
                gw,
                shutdown,
                std::time::Duration::from_secs(5),
            )
            .await;
        }));
        (router, Some(url))
    } else {
        let router = LiveRouter::new(s.router.clone(), store, Arc::new(HttpClient::new()), seed)
            .map_err(|e| setup(e.to_string()))?;
        // A black box: every request goes to that gateway; this router only names the
        // scenario's targets and routes for the report (its own telemetry stays empty).
        let url = match &s.gateway {
            GatewayMode::External(url) => Some(url.clone()),
            _ => None,
        };
        (router, url)
    };
    let client = HttpClient::new();
    // Fakes the runner did not start: back to their profile, then the scenario's faults,
    // whose `at` counts from now, the start of the run.
    for p in s.providers.iter().filter(|p| p.url.is_some()) {
        let url = p.url.clone().unwrap_or_default();
        control(
            &client,
            "POST",
            &format!("{url}/_fake/reset"),
            String::new(),
        )
        .await
        .map_err(|e| setup(format!("fake `{}` at {url}: {e}", p.name)))?;
        // The scenario's `prefill` (already folded into the profile's for the fakes the
        // runner starts).
        let options = serde_json::json!({ "prefill": p.prefill }).to_string();
        control(&client, "POST", &format!("{url}/_fake/options"), options)
            .await
            .map_err(|e| setup(format!("fake `{}`: {e}", p.name)))?;
        for f in &p.faults {
            let body = serde_json::to_string(f).unwrap_or_default();
            control(&client, "POST", &format!("{url}/_fake/faults"), body)
                .await
                .map_err(|e| setup(format!("fake `{}`: {e}", p.name)))?;
        }
    }
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
        let via: Option<(String, HttpClient)> = gateway_url.clone().map(|u| (u, client.clone()));
        // A caller that gives up drops its request (the router abandons it), as in the sim.
        let give_up = s.traffic.classes[class]
            .abandon_after
            .map(|after| at(started) + std::time::Duration::from(after));
        let stream = request.stream;
        tasks.spawn(async move {
            let work = async {
                match via {
                    Some((url, client)) => {
                        through_gateway(
                            &client, &url, &params, request, class, started, start, route,
                        )
                        .await
                    }
                    None => one(&r, &params, request, class, started, start, route).await,
                }
            };
            let done = match give_up {
                None => work.await,
                Some(deadline) => match tokio::time::timeout_at(deadline, work).await {
                    Ok(done) => done,
                    Err(_) => Done {
                        class,
                        start: started,
                        end: Instant::ZERO + Duration::from(start.elapsed()),
                        outcome: FinalOutcome::Failed(FailureReason::Abandoned),
                        attempts: Vec::new(),
                        first_token: None,
                        stream,
                        cost: 0.0,
                        route,
                        resumed: None,
                    },
                },
            };
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
            resumed: d.resumed,
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
            resumed: None,
        });
    }
    let mut fake_counters = std::collections::BTreeMap::new();
    for (name, url) in &fake_urls {
        if let Ok(text) = control(
            &client,
            "GET",
            &format!("{url}/_fake/counters"),
            String::new(),
        )
        .await
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        {
            fake_counters.insert(name.clone(), v);
        }
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
    let mut report =
        router.inspect(|core| report::build(&scoped, "live", seed, &collector, core, &[], wall));
    report.fake_counters = fake_counters;
    Ok(report)
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
    let mut resumed = None;
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
                        Ok(StreamEvent::Delta(_) | StreamEvent::ToolCall { .. }) => {
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
                resumed = s.resumed();
                (result, s.history(), first, cost)
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
        resumed,
    }
}

/// A call to a fake's control API; the body of a 2xx reply.
async fn control(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: String,
) -> Result<String, String> {
    use http_body_util::BodyExt;
    use switchyard_live::Transport;
    let request = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = client.send(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{status}: {text}"))
    }
}

/// The attempts an `x-switchyard-attempt-log` line tells, and which one (if any) is a stream
/// still flowing when the gateway answered. `None` when the line does not parse or names a
/// target this scenario does not have.
fn attempt_records(
    line: &str,
    params: &switchyard_core::router::RouterParams,
    intended: Instant,
) -> Option<(Vec<AttemptRecord>, Option<usize>)> {
    let entries = switchyard_core::attempt_log::parse(line)?;
    let mut streaming = None;
    let mut records = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        let outcome = match e.outcome {
            Some(o) => o,
            None if e.label == switchyard_core::attempt_log::STREAMING => {
                streaming = Some(i);
                switchyard_core::outcome::Outcome::Success
            }
            None => return None,
        };
        records.push(AttemptRecord {
            target: params.target_id(&e.target)?,
            started: intended,
            outcome,
            latency: e.latency,
            hedge: false,
        });
    }
    Some((records, streaming))
}

/// A stream's attempts when it broke after it was committed: the streaming one ends `kind`.
fn stream_log(
    log: Option<(Vec<AttemptRecord>, Option<usize>)>,
    kind: switchyard_core::outcome::ErrorKind,
) -> Vec<AttemptRecord> {
    let Some((mut records, streaming)) = log else {
        return Vec::new();
    };
    if let Some(last) = streaming.and_then(|i| records.get_mut(i)) {
        last.outcome = switchyard_core::outcome::Outcome::error(kind);
    }
    records
}

/// One request through a gateway over HTTP, judged by what the client sees: the status, the
/// body (or the stream and its `[DONE]`), and the gateway's headers naming the target and
/// the attempts made.
#[expect(
    clippy::too_many_arguments,
    reason = "the same inputs as `one`, plus the gateway"
)]
async fn through_gateway(
    client: &HttpClient,
    url: &str,
    params: &switchyard_core::router::RouterParams,
    request: Request,
    class: usize,
    intended: Instant,
    base: tokio::time::Instant,
    route: Option<switchyard_core::id::RouteId>,
) -> Done {
    use http_body_util::BodyExt;
    use switchyard_live::Transport;
    let now = || Instant::ZERO + Duration::from(base.elapsed());
    let stream = request.stream;
    let body = serde_json::json!({
        "model": request.route,
        "messages": [{ "role": "user", "content": "x".repeat(request.estimated_prompt_tokens.saturating_sub(4) as usize * 4) }],
        "max_tokens": request.max_tokens,
        "stream": stream,
    });
    let http = axum::http::Request::post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .unwrap_or_default();
    let failed = |reason: FailureReason, attempts: Vec<AttemptRecord>| Done {
        class,
        start: intended,
        end: now(),
        outcome: FinalOutcome::Failed(reason),
        attempts,
        first_token: None,
        stream,
        cost: 0.0,
        route,
        // Through a gateway, the client cannot tell a continued stream.
        resumed: None,
    };
    use switchyard_core::outcome::ErrorKind;
    let Ok(response) = client.send(http).await else {
        return failed(FailureReason::Attempt(ErrorKind::ConnectFailed), Vec::new());
    };
    let status = response.status().as_u16();
    let (target, attempts, log) = {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let target = header("x-switchyard-target").and_then(|t| params.target_id(&t));
        let attempts: usize = header("x-switchyard-attempts")
            .and_then(|a| a.parse().ok())
            .unwrap_or(1);
        let log = header("x-switchyard-attempt-log")
            .and_then(|line| attempt_records(&line, params, intended));
        (target, attempts, log)
    };
    if status != 200 {
        let reason = match status {
            429 => FailureReason::Attempt(ErrorKind::RateLimited),
            503 => FailureReason::NoTargetAvailable,
            504 => FailureReason::DeadlineExceeded,
            404 => FailureReason::UnknownRoute,
            400 => FailureReason::Attempt(ErrorKind::BadRequest),
            _ => FailureReason::Attempt(ErrorKind::ServerError),
        };
        let attempts = log.map(|(records, _)| records).unwrap_or_default();
        return failed(reason, attempts);
    }
    // A black-box gateway does not say which target served: the reply's model (or, for a
    // stream, the first chunk's) names it, read below.
    let mut target = target;
    let mut body = response.into_body();
    let mut first = None;
    let mut complete = !stream;
    let mut usage = switchyard_core::request::Usage::default();
    let mut text = Vec::new();
    loop {
        match body.frame().await {
            None => break,
            Some(Err(_)) => {
                return failed(
                    FailureReason::Attempt(ErrorKind::StreamInterrupted),
                    stream_log(log, ErrorKind::StreamInterrupted),
                );
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if stream && first.is_none() && data.windows(9).any(|w| w == b"\"content") {
                    first = Some(now().saturating_since(intended));
                }
                if stream && data.windows(6).any(|w| w == b"[DONE]") {
                    complete = true;
                }
                text.extend_from_slice(&data);
            }
        }
    }
    if !complete {
        return failed(
            FailureReason::Attempt(ErrorKind::StreamInterrupted),
            stream_log(log, ErrorKind::StreamInterrupted),
        );
    }
    if target.is_none() {
        let model = if stream {
            String::from_utf8_lossy(&text)
                .split("\"model\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned)
        } else {
            serde_json::from_slice::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["model"].as_str().map(str::to_owned))
        };
        target = model
            .and_then(|m| params.targets.iter().position(|t| t.model == m))
            .map(|i| switchyard_core::id::TargetId::new(i as u32));
    }
    let Some(target) = target else {
        return failed(
            FailureReason::Attempt(ErrorKind::MalformedResponse),
            Vec::new(),
        );
    };
    if !stream {
        if let Ok(reply) =
            serde_json::from_slice::<switchyard_core::dialect::openai::ChatCompletion>(&text)
        {
            usage = reply.usage.map(Into::into).unwrap_or_default();
        }
        first = Some(now().saturating_since(intended));
    }
    // The gateway's attempt log tells every attempt; without it (another gateway), the
    // attempt count is all there is, each one told as the serving target's.
    let attempts = match log {
        Some((records, _)) => records,
        None => {
            let record = AttemptRecord {
                target,
                started: intended,
                outcome: switchyard_core::outcome::Outcome::Success,
                latency: Duration::ZERO,
                hedge: false,
            };
            vec![record; attempts.max(1)]
        }
    };
    Done {
        class,
        start: intended,
        end: now(),
        outcome: FinalOutcome::Served(target),
        attempts,
        first_token: first,
        stream,
        cost: params.target(target).price.cost(usage),
        route,
        resumed: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::outcome::{ErrorKind, Outcome};

    fn params() -> switchyard_core::router::RouterParams {
        switchyard_core::config::load_router(
            "targets:\n  - { name: 'first one', provider: p, model: m }\n  - { name: b, provider: q, model: m }\n\
             routes:\n  - { name: chat, policy: priority, tiers: [['first one'], [b]] }\n",
            "r.yaml",
        )
        .unwrap()
    }

    #[test]
    fn the_gateway_attempt_log_becomes_attempt_records() {
        let p = params();
        let at = Instant::ZERO + Duration::from_secs(3);
        let (records, streaming) =
            attempt_records("first%20one overloaded 0.400, b success 1.500", &p, at).unwrap();
        assert_eq!(streaming, None);
        let story: Vec<_> = records
            .iter()
            .map(|r| (r.target.index(), r.outcome, r.latency, r.started))
            .collect();
        assert_eq!(
            story,
            [
                (
                    0,
                    Outcome::error(ErrorKind::Overloaded),
                    Duration::from_micros(400),
                    at
                ),
                (1, Outcome::Success, Duration::from_micros(1500), at),
            ]
        );
        // Another gateway's names, or a line that is not one: nothing is made up.
        assert!(attempt_records("elsewhere success 1.0", &p, at).is_none());
        assert!(attempt_records("b frobnicated 1.0", &p, at).is_none());
        assert!(attempt_records("b success", &p, at).is_none());
    }

    #[test]
    fn a_stream_that_broke_after_its_commit_ends_interrupted() {
        let p = params();
        let log = attempt_records(
            "first%20one timeout 30.000, b streaming 0.100",
            &p,
            Instant::ZERO,
        );
        assert_eq!(log.as_ref().unwrap().1, Some(1));
        assert_eq!(log.as_ref().unwrap().0[1].outcome, Outcome::Success);
        let records = stream_log(log, ErrorKind::StreamInterrupted);
        assert_eq!(
            records.iter().map(|r| r.outcome).collect::<Vec<_>>(),
            [
                Outcome::error(ErrorKind::Timeout),
                Outcome::error(ErrorKind::StreamInterrupted)
            ]
        );
        assert!(stream_log(None, ErrorKind::StreamInterrupted).is_empty());
    }
}
