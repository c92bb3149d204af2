//! Live mode: the scenario's fakes on 127.0.0.1:0, the live router in process, and open-loop
//! load from the same traffic model as the simulator.
//!
//! Requests are issued at their *intended* times whatever happens to earlier ones, and each
//! request's latency counts from its intended time, so a stalled system cannot hide its
//! stalls (no coordinated omission). The run is bounded: arrivals stop at the duration (or
//! the request cap), and requests still in flight a deadline later are abandoned and counted
//! as failed (`deadline_exceeded`), each in its own class, route and start time.
//!
//! Each request is folded into the results as it finishes (the run's `Books`): the runner
//! holds only the requests in flight, so memory does not grow with the run's length.
//!
//! Same words as the simulator: each request's prompt is sized to its class's
//! `prompt_tokens` (as the fakes count tokens), its cost is what the core booked for each of
//! its attempts (`Plan::cost`), and time to first token, inter-token gaps and output tokens
//! are read from the content chunks the caller receives.
//!
//! The modules: `setup` (the fakes, the router, the gateway), `load` (the arrivals and
//! their requests), `direct` (one request to the router in process), `through` (one request
//! to a gateway over HTTP), `books` (what the run holds), `watch` (a black box's fakes'
//! counters, read as the run goes), and [`launch`] (how the caller starts this project's
//! gateway).

mod books;
mod direct;
mod fleet;
mod interrupt;
pub mod launch;
mod load;
mod relay;
mod setup;
mod through;
mod watch;

use std::sync::{Arc, Mutex};

use switchyard_core::time::Duration;
use switchyard_live::HttpClient;

use self::books::{Books, Ticket, booked};
use self::load::Load;
use self::setup::Stage;
use crate::results::Collector;
use crate::scenario::GatewayMode;
use crate::{Report, RunError, ScenarioParams, report};

pub use launch::{GatewayLauncher, GatewayStop, Launch, LaunchedGateway};

/// How a live run goes beyond its scenario.
#[derive(Clone, Debug, Default)]
pub struct LiveOptions {
    /// Scale the scenario's duration down (a live run takes real time).
    pub duration: Option<Duration>,
    /// A progress line on stderr.
    pub progress: bool,
    /// Starts this project's gateway for a scenario with `gateway: switchyard`; without it,
    /// such a scenario is a setup error.
    pub gateway: Option<Arc<dyn GatewayLauncher>>,
}

/// Runs `s` live for `duration` (default the scenario's), without a gateway launcher.
pub fn run(s: &ScenarioParams, seed: u64, duration: Option<Duration>) -> Result<Report, RunError> {
    run_with(
        s,
        seed,
        &LiveOptions {
            duration,
            ..LiveOptions::default()
        },
    )
}

/// Runs `s` live on a runtime of its own.
pub fn run_with(s: &ScenarioParams, seed: u64, options: &LiveOptions) -> Result<Report, RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Setup {
            file: s.file.clone(),
            message: format!("cannot start the runtime: {e}"),
        })?;
    runtime.block_on(async {
        if s.fleet.is_none() {
            return run_async(s, seed, options).await.map(|(report, _)| report);
        }
        // A fleet's Redis is a process of the runner's: Ctrl-C drops the run, and with it the
        // guard that kills Redis and removes its files.
        let mut running = interrupt::Running::start();
        tokio::select! {
            done = run_async(s, seed, options) => done.map(|(report, _)| report),
            () = running.interrupted() => Err(RunError::Setup {
                file: s.file.clone(),
                message: "interrupted (Ctrl-C): the fleet's gateways and Redis were stopped"
                    .to_owned(),
            }),
        }
    })
}

/// What a run held: counted, for the test that its memory does not grow with its length.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "counted for the memory test; the report does not show it"
    )
)]
struct Held {
    /// The most requests in flight at once (issued, not yet folded).
    peak_in_flight: usize,
    /// The items the collector held at the end ([`Collector::retained_items`]).
    collector_items: usize,
}

/// The run, and what it held.
async fn run_async(
    s: &ScenarioParams,
    seed: u64,
    options: &LiveOptions,
) -> Result<(Report, Held), RunError> {
    let stage = Stage::start(s, seed, options.gateway.as_deref()).await?;
    // Every router event is tallied as requests finish (and once at the end), however many
    // the run has: the report's event list is capped.
    stage.tap_events();
    let client = HttpClient::new();
    setup::prepare_external_fakes(&client, s, stage.origin).await?;
    // Operator actions on the timeline, counted from now, the start of the run.
    let mut scoped = s.clone();
    scoped.duration = options.duration.unwrap_or(s.duration);
    let load = Load {
        s: &scoped,
        seed,
        router: &stage.router,
        gateway_urls: &stage.gateway_urls,
        fleet: stage
            .fleet
            .as_ref()
            .map(|f| (f.replicas.as_slice(), &f.watch)),
        client: &client,
        // One clock: requests, first tokens, ends, operator actions and the black box's
        // reads count from the router's zero, as the fakes' faults do. What setup took
        // since is late for the first arrivals, and counts in their latency.
        start: stage.origin,
        progress: options.progress,
    };
    let refused = operator_actions(s, &stage.router, &load);
    let books = Arc::new(Mutex::new(Books::new(Collector::new(&scoped))));
    // Through another gateway, the fakes' counters tell which provider got the requests.
    let watching = matches!(s.gateway, GatewayMode::External(_))
        .then(|| watch::spawn(&client, s, stage.fake_urls.clone(), load.start, &books));
    let (issued, per_replica) = load.drive(&books).await;
    if let Some(watching) = watching {
        watching.stop().await;
    }
    let events = stage.drain_events();
    booked(&books, |b| b.events(&events));
    // Requests aborted past the grace still count: issued = folded + aborted, each once.
    let aborted_at = load::since(load.start);
    let books = booked(&books, |b| {
        std::mem::replace(b, Books::new(Collector::new(&scoped)))
    });
    let (mut collector, peak_in_flight) = books.close(aborted_at);
    collector.tally.add_lost(stage.tap_lost());
    let held = Held {
        peak_in_flight,
        collector_items: collector.retained_items(),
    };
    let fake_counters = stage.fake_counters(&client).await;
    let figures = stage.fleet_figures(s, per_replica, &fake_counters);
    let start = load.start;
    let router = stage.router.clone();
    // A fleet's targets, providers, events and series are every replica's, each on the
    // run's clock.
    let merged = stage.fleet_telemetry();
    stage.stop().await;
    none_refused(s, &refused)?;
    let elapsed = start.elapsed().as_secs_f64();
    let wall = report::Wall {
        elapsed_secs: elapsed,
        requests_per_sec: issued as f64 / elapsed.max(1e-9),
        events: 0,
    };
    let mut report = router.inspect(|core| {
        report::build_merged(
            &scoped,
            "live",
            seed,
            &collector,
            core,
            merged.as_ref(),
            &[],
            figures.as_ref(),
            wall,
        )
    });
    report.fake_counters = fake_counters;
    Ok((report, held))
}

/// The scenario's operator actions, each applied to `router` at its time on the run's clock.
/// Returns what the router refused (an action built for another router than the one a
/// launcher started: an id out of range, a pin outside its route), one line an action,
/// naming it; the run then fails, as it did not do what the scenario says.
fn operator_actions(
    s: &ScenarioParams,
    router: &switchyard_live::Driver,
    load: &Load<'_>,
) -> Arc<Mutex<Vec<String>>> {
    let refused = Arc::new(Mutex::new(Vec::new()));
    for (when, command) in s.operator.clone() {
        let r = router.clone();
        let due = load.at(when);
        let refused = Arc::clone(&refused);
        tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            if let Err(e) = r.try_apply(command) {
                refused
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(switchyard_core::overrides::refused(when, &command, &e));
            }
        });
    }
    refused
}

/// The run's error when the router refused an operator action ([`operator_actions`]).
fn none_refused(s: &ScenarioParams, refused: &Mutex<Vec<String>>) -> Result<(), RunError> {
    let refused = refused
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if refused.is_empty() {
        return Ok(());
    }
    Err(RunError::Setup {
        file: s.file.clone(),
        message: refused.join("; "),
    })
}

/// A user message of `tokens` prompt tokens as the core and the fakes estimate them (a
/// quarter of the characters, rounded up, plus 4 a message): exact from 5 tokens; smaller
/// sizes get 5 (one message is never fewer than 4, and an empty one is not sent).
fn prompt_text(tokens: u32) -> String {
    "x".repeat(tokens.saturating_sub(4).max(1) as usize * 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::request::{Message, Role};

    /// Two classes on one route, small fast replies: many requests, few in flight at once.
    pub(super) fn scenario(rate: u32, secs: u32) -> ScenarioParams {
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

    /// Memory is flat with the run's length: the same load for 2 s and for 6 s holds the
    /// same collector items and about as many requests in flight at its peak, three times
    /// the requests later. Counted, not timed.
    #[test]
    fn what_a_run_holds_does_not_grow_with_its_length() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let run = |secs| {
            let s = scenario(200, secs);
            runtime
                .block_on(run_async(&s, 1, &LiveOptions::default()))
                .unwrap()
        };
        let (short, short_held) = run(2);
        let (long, long_held) = run(6);
        for r in [&short, &long] {
            assert_eq!(r.totals.succeeded, r.totals.requests, "{:?}", r.totals);
        }
        assert!(short.totals.requests >= 350, "{}", short.totals.requests);
        assert!(
            long.totals.requests >= 3 * short.totals.requests - 60,
            "{} vs {}",
            long.totals.requests,
            short.totals.requests
        );
        assert_eq!(
            short_held.collector_items, long_held.collector_items,
            "the collector holds what the scenario fixes"
        );
        // Replies of 3 tokens take about 150 ms: some 30 in flight at 200/s, however long
        // the run. A runner that kept its finished requests would hold them all.
        for (r, held) in [(&short, short_held), (&long, long_held)] {
            assert!(
                held.peak_in_flight <= 200,
                "{held:?} for {} requests",
                r.totals.requests
            );
        }
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
}
