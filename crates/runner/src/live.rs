//! Live mode: the scenario's fakes on 127.0.0.1:0, the live router in process, and open-loop
//! load from the same traffic model as the simulator.
//!
//! Requests are issued at their *intended* times whatever happens to earlier ones, and each
//! request's latency counts from its intended time, so a stalled system cannot hide its
//! stalls (no coordinated omission). The run is bounded: arrivals stop at the duration (or
//! the request cap), and requests still in flight a deadline later are abandoned and counted
//! as failed (`deadline_exceeded`), each in its own class, route and start time.
//!
//! Each request is folded into the results as it finishes (`Books`): the runner holds only
//! the requests in flight, so memory does not grow with the run's length.
//!
//! Same words as the simulator: each request's prompt is sized to its class's
//! `prompt_tokens` (as the fakes count tokens), its cost is what the core booked for each of
//! its attempts (`Plan::cost`), and time to first token, inter-token gaps and output tokens
//! are read from the content chunks the caller receives.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use switchyard_core::credentials::{Date, Environment, ProviderConfig, resolve_providers};
use switchyard_core::outcome::{AttemptRecord, FailureReason, FinalOutcome};
use switchyard_core::request::{Message, Request, Role};
use switchyard_core::time::{Duration, Instant};
use switchyard_live::credentials::CredentialStore;
use switchyard_live::{AttemptSink, Driver, HttpClient, StreamEvent, Transport};
use switchyard_sim::Observer;
use switchyard_sim::traffic::Generator;

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
    wasted_cost: f64,
    route: Option<switchyard_core::id::RouteId>,
    /// A stream broken after its first token on a route that resumes: whether a
    /// continuation completed it.
    resumed: Option<bool>,
    output_tokens: u32,
    gaps: Gaps,
}

/// What a request was when it was issued: enough to book it if it never finishes.
#[derive(Clone, Debug)]
struct Issued {
    class: usize,
    route: Option<switchyard_core::id::RouteId>,
    start: Instant,
    stream: bool,
    /// Where the router writes the request's attempts when it ends, however it ends: what a
    /// request cut by its caller or by the run's end reached is booked from it.
    sink: AttemptSink,
}

/// The run's books: the collector, folded into as each request finishes, and the requests
/// still in flight. Nothing else is held, so memory is flat with the run's length.
#[derive(Debug)]
struct Books {
    collector: Collector,
    in_flight: BTreeMap<u64, Issued>,
    /// The most requests held at once (issued, not yet folded).
    peak_held: usize,
}

impl Books {
    fn new(collector: Collector) -> Self {
        Books {
            collector,
            in_flight: BTreeMap::new(),
            peak_held: 0,
        }
    }

    fn issue(&mut self, id: u64, issued: Issued) {
        self.in_flight.insert(id, issued);
        self.peak_held = self.peak_held.max(self.in_flight.len());
    }

    /// Folds a finished request in; one not in flight (already closed) is ignored.
    fn finish(&mut self, id: u64, d: &Done) {
        if self.in_flight.remove(&id).is_none() {
            return;
        }
        self.collector.finished(&switchyard_sim::Finished {
            class: d.class,
            start: d.start,
            end: d.end,
            outcome: d.outcome,
            route: d.route,
            attempts: &d.attempts,
            first_token: d.first_token,
            stream: d.stream,
            cost: d.cost,
            wasted_cost: d.wasted_cost,
            output_tokens: d.output_tokens,
            gaps: d.gaps.runs(),
            resumed: d.resumed,
        });
    }

    /// Books every request still in flight as failed past its deadline, at `end`, in its own
    /// class, route and start time, and returns the collector.
    fn close(mut self, end: Instant) -> (Collector, usize) {
        for issued in std::mem::take(&mut self.in_flight).into_values() {
            let attempts = issued.sink.take();
            self.collector.finished(&switchyard_sim::Finished {
                class: issued.class,
                start: issued.start,
                end: end.max(issued.start),
                outcome: FinalOutcome::Failed(FailureReason::DeadlineExceeded),
                route: issued.route,
                attempts: &attempts,
                first_token: None,
                stream: issued.stream,
                cost: 0.0,
                wasted_cost: 0.0,
                output_tokens: 0,
                gaps: &[],
                resumed: None,
            });
        }
        (self.collector, self.peak_held)
    }
}

/// The gaps between a stream's content chunks, counted by value: each gap rounded to three
/// significant digits of a microsecond (the histograms keep no more), kept sorted, at most
/// [`Gaps::MAX_RUNS`] distinct values. Past that, a new value joins its nearest neighbour,
/// so a hostile stream of a million distinct gaps holds 48 KiB, and a long stream's later
/// gaps still count near their own value.
#[derive(Clone, Debug, Default)]
struct Gaps {
    runs: Vec<(Duration, u32)>,
    last: Option<Instant>,
}

impl Gaps {
    const MAX_RUNS: usize = 4096;

    /// `us` to three significant digits.
    fn rounded(us: u64) -> u64 {
        let mut scale = 1u64;
        while us / scale >= 1000 {
            scale = scale.saturating_mul(10);
        }
        us / scale * scale
    }

    /// A content chunk reached the caller at `at`.
    fn chunk(&mut self, at: Instant) {
        if let Some(prev) = self.last.replace(at) {
            let us = Self::rounded(at.saturating_since(prev).as_micros());
            let gap = Duration::from_micros(us);
            match self.runs.binary_search_by_key(&gap, |r| r.0) {
                Ok(i) => self.runs[i].1 = self.runs[i].1.saturating_add(1),
                Err(i) if self.runs.len() < Self::MAX_RUNS => self.runs.insert(i, (gap, 1)),
                Err(i) => {
                    // Full: the nearer of the two neighbours takes it.
                    let below = i.checked_sub(1);
                    let nearest = match (below, self.runs.get(i)) {
                        (Some(b), Some(a))
                            if us.saturating_sub(self.runs[b].0.as_micros())
                                > a.0.as_micros().saturating_sub(us) =>
                        {
                            i
                        }
                        (Some(b), _) => b,
                        (None, _) => i,
                    };
                    if let Some(run) = self.runs.get_mut(nearest) {
                        run.1 = run.1.saturating_add(1);
                    }
                }
            }
        }
        self.last = Some(at);
    }

    /// Content chunks seen.
    fn chunks(&self) -> u32 {
        match self.last {
            None => 0,
            Some(_) => self.runs.iter().fold(1u32, |n, r| n.saturating_add(r.1)),
        }
    }

    fn runs(&self) -> &[(Duration, u32)] {
        &self.runs
    }
}

/// Runs `f` on the books, under their lock (held for one fold, never across an await).
fn booked<T>(books: &Mutex<Books>, f: impl FnOnce(&mut Books) -> T) -> T {
    f(&mut books
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// A user message of `tokens` prompt tokens as the core and the fakes estimate them (a
/// quarter of the characters, rounded up, plus 4 a message): exact from 5 tokens; smaller
/// sizes get 5 (one message is never fewer than 4, and an empty one is not sent).
fn prompt_text(tokens: u32) -> String {
    "x".repeat(tokens.saturating_sub(4).max(1) as usize * 4)
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
    runtime
        .block_on(run_async(s, seed, duration.unwrap_or(s.duration), progress))
        .map(|(report, _)| report)
}

async fn run_async(
    s: &ScenarioParams,
    seed: u64,
    duration: Duration,
    progress: bool,
) -> Result<(Report, usize), RunError> {
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
        let gw = switchyard_gateway::Gateway::new(&params, None, Transport::new(HttpClient::new()))
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
        let router = Driver::new(
            s.router.clone(),
            store,
            Transport::new(HttpClient::new()),
            seed,
        )
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
    // 4. Open-loop load, each request folded into the books as it finishes.
    let mut scoped = s.clone();
    scoped.duration = duration;
    let books = Arc::new(Mutex::new(Books::new(Collector::new(&scoped))));
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
        let (r, params) = (router.clone(), s.router.clone());
        let started = intended;
        let id = issued;
        let sink = AttemptSink::default();
        let issue = Issued {
            class,
            route,
            start: started,
            stream: request.stream,
            sink: sink.clone(),
        };
        booked(&books, |b| b.issue(id, issue));
        let books = books.clone();
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
                    None => one(&r, &params, request, class, started, start, route, &sink).await,
                }
            };
            let done = match give_up {
                None => work.await,
                Some(deadline) => match tokio::time::timeout_at(deadline, work).await {
                    Ok(done) => done,
                    // The work was dropped at whatever await it was on; its router wrote
                    // the attempts it had made into the sink as it dropped, one still on its
                    // way `cancelled` (reaching the provider is what failover counts).
                    Err(_) => Done {
                        class,
                        start: started,
                        end: Instant::ZERO + Duration::from(start.elapsed()),
                        outcome: FinalOutcome::Failed(FailureReason::Abandoned),
                        attempts: sink.take(),
                        first_token: None,
                        stream,
                        cost: 0.0,
                        wasted_cost: 0.0,
                        route,
                        resumed: None,
                        output_tokens: 0,
                        gaps: Gaps::default(),
                    },
                },
            };
            booked(&books, |b| b.finish(id, &done));
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
    // 5. Let requests in flight finish, within their deadline (and a little).
    let grace =
        std::time::Duration::from(s.router.plan.deadline) + std::time::Duration::from_secs(5);
    if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    // Requests aborted past the grace still count: issued = folded + aborted, each once.
    let aborted_at = Instant::ZERO + Duration::from(start.elapsed());
    let books = booked(&books, |b| {
        std::mem::replace(b, Books::new(Collector::new(&scoped)))
    });
    let (collector, peak_held) = books.close(aborted_at);
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
    Ok((report, peak_held))
}

#[expect(
    clippy::too_many_arguments,
    reason = "a request's identity for its books, and the sink its router writes into"
)]
async fn one(
    r: &Driver,
    params: &switchyard_core::router::RouterParams,
    mut request: Request,
    class: usize,
    intended: Instant,
    base: tokio::time::Instant,
    route: Option<switchyard_core::id::RouteId>,
    sink: &AttemptSink,
) -> Done {
    let now = || Instant::ZERO + Duration::from(base.elapsed());
    // The class's prompt size on the wire, not the template's few words.
    request.messages = vec![Message::text(
        Role::User,
        prompt_text(request.estimated_prompt_tokens),
    )];
    let stream = request.stream;
    let mut resumed = None;
    let mut gaps = Gaps::default();
    let mut output_tokens = 0;
    let (outcome, attempts, first_token, (cost, wasted_cost)) = if stream {
        match r.chat_stream_into(request, Some(sink.clone())).await {
            Err(e) => (
                FinalOutcome::Failed(e.outcome),
                e.attempts.into_iter().map(|a| a.1).collect(),
                None,
                (e.cost, e.cost),
            ),
            Ok(mut s) => {
                let mut first = None;
                let mut result = FinalOutcome::Failed(FailureReason::Attempt(
                    switchyard_core::outcome::ErrorKind::StreamInterrupted,
                ));
                while let Some(event) = s.next().await {
                    match event {
                        Ok(StreamEvent::Delta(text)) if text.is_empty() => {}
                        Ok(StreamEvent::Delta(_) | StreamEvent::ToolCall { .. }) => {
                            let at = now();
                            first = first.or_else(|| Some(at.saturating_since(intended)));
                            gaps.chunk(at);
                        }
                        Ok(StreamEvent::End { usage, .. }) => {
                            result = FinalOutcome::Served(s.served_by);
                            output_tokens = usage.completion_tokens;
                            break;
                        }
                        Err(e) => {
                            result = FinalOutcome::Failed(e.outcome);
                            break;
                        }
                    }
                }
                resumed = s.resumed();
                (result, s.history(), first, s.cost())
            }
        }
    } else {
        match r.chat_into(request, Some(sink.clone())).await {
            Ok(reply) => {
                // A whole reply's attempts that failed reported no tokens, and a hedge that
                // lost was cancelled: the served reply's usage is all the core booked.
                let cost = params.target(reply.served_by).price.cost(reply.usage);
                output_tokens = reply.usage.completion_tokens;
                (
                    FinalOutcome::Served(reply.served_by),
                    reply.attempts,
                    Some(now().saturating_since(intended)),
                    (cost, 0.0),
                )
            }
            Err(e) => (
                FinalOutcome::Failed(e.outcome),
                e.attempts.into_iter().map(|a| a.1).collect(),
                None,
                (e.cost, e.cost),
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
        wasted_cost,
        route,
        resumed,
        output_tokens,
        gaps,
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

/// The largest reply body read from a gateway (a whole reply; a stream is read event by
/// event, each bounded by the SSE parser).
const MAX_REPLY_BYTES: usize = 32 << 20;

/// What a gateway's stream told the client, read event by event with the project's SSE
/// parser.
#[derive(Debug, Default)]
struct StreamRead {
    first: Option<Duration>,
    gaps: Gaps,
    model: Option<String>,
    usage: Option<switchyard_core::request::Usage>,
    /// `[DONE]` or a finish reason arrived: the stream is complete when the body ends.
    complete: bool,
    /// An event that is not a chunk (an error event, or garbage).
    broken: bool,
}

impl StreamRead {
    /// One event at `at`, `intended` being the request's start.
    fn event(&mut self, data: &str, at: Instant, intended: Instant) {
        use switchyard_core::dialect::openai::ChatCompletionChunk;
        if data.trim() == "[DONE]" {
            self.complete = true;
            return;
        }
        let Ok(chunk) = serde_json::from_str::<ChatCompletionChunk>(data) else {
            self.broken = true;
            return;
        };
        if self.model.is_none() {
            self.model = Some(chunk.model.clone());
        }
        if let Some(Some(u)) = chunk.usage {
            self.usage = Some(u.into());
        }
        // A content chunk: text or a tool call, not a role-only or empty delta.
        let content = chunk.choices.iter().any(|c| {
            c.delta.content.as_deref().is_some_and(|t| !t.is_empty())
                || c.delta.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
        });
        if content {
            self.first = self.first.or(Some(at.saturating_since(intended)));
            self.gaps.chunk(at);
        }
        if chunk.choices.iter().any(|c| c.finish_reason.is_some()) {
            self.complete = true;
        }
    }
}

/// One request through a gateway over HTTP, judged by what the client sees: the status, the
/// body (or the stream, event by event), and the gateway's headers naming the target and
/// the attempts made. Streams ask for usage (`stream_options.include_usage`); the cost is
/// the served reply's usage at its target's price: the client cannot see what other
/// attempts were billed, so `wasted_cost` is 0 through a gateway.
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
    let now = || Instant::ZERO + Duration::from(base.elapsed());
    let stream = request.stream;
    let mut body = serde_json::json!({
        "model": request.route,
        "messages": [{ "role": "user", "content": prompt_text(request.estimated_prompt_tokens) }],
        "max_tokens": request.max_tokens,
        "stream": stream,
    });
    if stream {
        body["stream_options"] = serde_json::json!({ "include_usage": true });
    }
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
        wasted_cost: 0.0,
        route,
        // Through a gateway, the client cannot tell a continued stream.
        resumed: None,
        output_tokens: 0,
        gaps: Gaps::default(),
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
    let mut body = response.into_body();
    let mut read = StreamRead::default();
    let mut parser = switchyard_live::sse::Parser::default();
    let mut text = Vec::new();
    let interrupted = |log| {
        failed(
            FailureReason::Attempt(ErrorKind::StreamInterrupted),
            stream_log(log, ErrorKind::StreamInterrupted),
        )
    };
    loop {
        match body.frame().await {
            None => break,
            Some(Err(_)) => return interrupted(log),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if !stream {
                    if text.len().saturating_add(data.len()) > MAX_REPLY_BYTES {
                        return failed(
                            FailureReason::Attempt(ErrorKind::MalformedResponse),
                            Vec::new(),
                        );
                    }
                    text.extend_from_slice(&data);
                    continue;
                }
                let Ok(events) = parser.feed(&data) else {
                    return interrupted(log);
                };
                let at = now();
                for event in events {
                    read.event(&event.data, at, intended);
                }
                if read.broken {
                    return interrupted(log);
                }
            }
        }
    }
    let (model, usage, first) = if stream {
        if !read.complete {
            return interrupted(log);
        }
        (read.model.take(), read.usage, read.first)
    } else {
        let reply =
            serde_json::from_slice::<switchyard_core::dialect::openai::ChatCompletion>(&text).ok();
        let usage = reply.as_ref().and_then(|r| r.usage).map(Into::into);
        (
            reply.map(|r| r.model),
            usage,
            Some(now().saturating_since(intended)),
        )
    };
    let target = target.or_else(|| {
        model
            .and_then(|m| params.targets.iter().position(|t| t.model == m))
            .map(|i| switchyard_core::id::TargetId::new(i as u32))
    });
    let Some(target) = target else {
        return failed(
            FailureReason::Attempt(ErrorKind::MalformedResponse),
            Vec::new(),
        );
    };
    // Without usage, the content chunks the client received are its output tokens.
    let usage = usage.unwrap_or_default();
    let output_tokens = if usage.completion_tokens == 0 {
        read.gaps.chunks()
    } else {
        usage.completion_tokens
    };
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
        wasted_cost: 0.0,
        route,
        resumed: None,
        output_tokens,
        gaps: read.gaps,
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

#[cfg(test)]
mod books_tests {
    use super::*;

    /// Two classes on one route, small fast replies: many requests, few in flight at once.
    fn scenario(rate: u32, secs: u32) -> ScenarioParams {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = switchyard_testkit::TempDir::new("live-books");
        let yaml = format!(
            "name: books\nduration: {secs}s\nproviders:\n  - {{ name: p, profile: {} }}\n\
             router:\n  targets:\n    - {{ name: a, provider: p, model: small-fast-1, context_window: 32000 }}\n\
             \x20 routes:\n    - {{ name: chat, policy: static, targets: [a] }}\n\
             traffic:\n  arrival: {{ constant: {rate} }}\n  classes:\n\
             \x20   - {{ name: first, weight: 1, route: chat, prompt_tokens: {{ fixed: 20 }}, max_tokens: 3 }}\n\
             \x20   - {{ name: second, weight: 1, route: chat, prompt_tokens: {{ fixed: 20 }}, max_tokens: 3, stream: 1.0 }}\n",
            root.join("fake-providers/small-fast.yaml").display()
        );
        crate::scenario::load(&dir.write("books.yaml", &yaml)).unwrap()
    }

    #[test]
    fn a_request_aborted_in_flight_is_booked_to_its_own_class_route_and_start() {
        let s = scenario(10, 6);
        let mut books = Books::new(Collector::new(&s));
        let at = |secs| Instant::ZERO + Duration::from_secs(secs);
        let route = s.router.route_id("chat");
        let issued = |class, start| Issued {
            class,
            route,
            start,
            stream: class == 1,
            sink: AttemptSink::default(),
        };
        books.issue(1, issued(1, at(5)));
        books.issue(2, issued(0, at(1)));
        let done = Done {
            class: 0,
            start: at(1),
            end: at(2),
            outcome: FinalOutcome::Served(switchyard_core::id::TargetId::new(0)),
            attempts: Vec::new(),
            first_token: Some(Duration::from_millis(300)),
            stream: false,
            cost: 0.5,
            wasted_cost: 0.0,
            route,
            resumed: None,
            output_tokens: 3,
            gaps: Gaps::default(),
        };
        books.finish(2, &done);
        books.finish(2, &done); // a repeat is not booked twice
        let (collector, peak) = books.close(at(9));
        assert_eq!(peak, 2);
        let second = collector.bucket(None, Some(1), None);
        assert_eq!(second.requests, 1);
        assert_eq!(second.succeeded, 0);
        assert_eq!(
            second.failures
                [switchyard_core::telemetry::failure_index(FailureReason::DeadlineExceeded)],
            1
        );
        let first = collector.bucket(None, Some(0), None);
        assert_eq!((first.requests, first.succeeded), (1, 1));
        assert_eq!(
            collector
                .bucket(route.map(|r| r.index()), None, None)
                .requests,
            2
        );
        // In the timeline at its start (5 s, 1 s windows), 4 s long; nothing at t = 0.
        assert_eq!(collector.timeline[0].0.count(), 0);
        assert_eq!(collector.timeline[5].0.count(), 1);
        let long = collector.timeline[5].0.max().as_secs_f64();
        assert!(
            (3.95..4.05).contains(&long),
            "{long} s (2 significant figures)"
        );
    }

    #[test]
    fn the_books_hold_only_requests_in_flight_however_long_the_run() {
        let s = scenario(250, 5);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (report, peak_held) = runtime
            .block_on(run_async(&s, 1, s.duration, false))
            .unwrap();
        assert!(
            report.totals.requests >= 1_200,
            "{}",
            report.totals.requests
        );
        assert_eq!(report.totals.succeeded, report.totals.requests);
        // Replies of 3 tokens take about 150 ms: some 40 in flight at 250/s, never the run.
        assert!(
            peak_held <= 200,
            "{peak_held} held for {} requests",
            report.totals.requests
        );
    }

    #[test]
    fn prompts_have_the_size_the_fakes_count() {
        for tokens in [5, 6, 100, 4_001] {
            let m = Message::text(Role::User, prompt_text(tokens));
            assert_eq!(
                switchyard_core::dialect::openai::estimate_prompt_tokens(&[m], &[]),
                tokens
            );
        }
        for tokens in [0, 1, 4] {
            assert_eq!(prompt_text(tokens).len(), 4, "the least: 5 tokens");
        }
    }

    #[test]
    fn gaps_are_runs_and_stay_bounded() {
        let at = |us: u64| Instant::ZERO + Duration::from_micros(us);
        let mut g = Gaps::default();
        assert_eq!(g.chunks(), 0);
        for t in [0, 10, 20, 30, 45] {
            g.chunk(at(t));
        }
        assert_eq!(
            g.runs(),
            [
                (Duration::from_micros(10), 3),
                (Duration::from_micros(15), 1)
            ]
        );
        assert_eq!(g.chunks(), 5);
        let mut hostile = Gaps::default();
        let mut t = 0;
        for i in 0..20_000u64 {
            t += i * 37 + 1;
            hostile.chunk(at(t));
        }
        assert!(hostile.runs().len() <= Gaps::MAX_RUNS);
        // Past the cap, late gaps still count near their own value (they joined the last
        // run before, whatever their size).
        for _ in 0..100 {
            t += 50_000_000;
            hostile.chunk(at(t));
        }
        let big = hostile
            .runs()
            .iter()
            .filter(|r| r.0 >= Duration::from_secs(45))
            .map(|r| r.1)
            .sum::<u32>();
        assert_eq!(
            big,
            100,
            "{:?}",
            &hostile.runs()[hostile.runs().len() - 3..]
        );
        assert_eq!(hostile.chunks(), 20_100);
    }

    /// Time to first token is the first chunk with content: not the role-only chunk a
    /// stream opens with, an empty delta, or the usage chunk; the usage is booked.
    #[test]
    fn a_gateway_stream_is_read_at_its_content_chunks() {
        let ms = |n| Instant::ZERO + Duration::from_millis(n);
        let chunk = |delta: &str, finish: &str, usage: &str| {
            format!(
                r#"{{"id":"c","object":"chat.completion.chunk","created":1,"model":"small-fast-1","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}]{usage}}}"#
            )
        };
        let mut read = StreamRead::default();
        read.event(
            &chunk(r#"{"role":"assistant","content":""}"#, "null", ""),
            ms(100),
            ms(0),
        );
        read.event(&chunk(r#"{"content":""}"#, "null", ""), ms(150), ms(0));
        assert_eq!(read.first, None);
        read.event(&chunk(r#"{"content":"Hel"}"#, "null", ""), ms(300), ms(0));
        read.event(&chunk(r#"{"content":"lo"}"#, "null", ""), ms(320), ms(0));
        assert!(!read.complete);
        read.event(&chunk("{}", r#""stop""#, ""), ms(330), ms(0));
        read.event(
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"small-fast-1","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":2,"total_tokens":42}}"#,
            ms(331),
            ms(0),
        );
        read.event("[DONE]", ms(332), ms(0));
        assert_eq!(read.first, Some(Duration::from_millis(300)));
        assert_eq!(read.gaps.runs(), [(Duration::from_millis(20), 1)]);
        assert_eq!(read.gaps.chunks(), 2);
        assert_eq!(
            read.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((40, 2))
        );
        assert!(read.complete && !read.broken);
        assert_eq!(read.model.as_deref(), Some("small-fast-1"));
        read.event(
            r#"{"error":{"message":"upstream went away"}}"#,
            ms(400),
            ms(0),
        );
        assert!(read.broken, "an error event breaks the stream");
    }
}
