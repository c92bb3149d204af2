//! A black box's failover, seen from its providers: each fake's request counter, polled on
//! the run's clock.
//!
//! Through another gateway, the runner does not see which provider a request reached. The
//! fakes do: every [`POLL`] the watch reads each fake's `requests` counter
//! (`GET /_fake/counters`) and books what it grew by since the last read as requests that
//! reached that provider at the read's time (the run's clock, the one the faults and the
//! client's requests are timed on). The failover figures of a black-box run are computed
//! from these, by the same definitions as in the other modes (docs/FAILOVER.md), to within
//! one poll: a request is stamped when the poll saw it, up to [`POLL`] after it arrived. A
//! request the gateway sent to two providers (a retry, a hedge) counts once at each.

use std::sync::{Arc, Mutex};

use switchyard_core::id::TargetId;
use switchyard_live::HttpClient;

use super::books::{Books, booked};
use super::load::since;
use super::setup::control;

/// How often the fakes' counters are read.
pub(crate) const POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The most requests one read may book for one fake: a counter that jumps further (a fake
/// shared with another client, a hostile one) is cut there, so a read stays cheap.
const MAX_PER_READ: u64 = 100_000;

/// A watch running: [`Watching::stop`] reads the counters once more and ends it.
pub(super) struct Watching {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Watching {
    pub(super) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts [`watch`] on `fakes` (each provider's name and base URL), booking each fake's
/// requests on the first of `s`'s targets on its provider.
pub(super) fn spawn(
    client: &HttpClient,
    s: &crate::ScenarioParams,
    fakes: Vec<(String, String)>,
    start: tokio::time::Instant,
    books: &Arc<Mutex<Books>>,
) -> Watching {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let params = s.router.clone();
    let target_of = move |provider: &str| {
        params
            .targets
            .iter()
            .position(|t| params.providers.name(t.provider.index() as u32) == provider)
            .map(|i| TargetId::new(i as u32))
    };
    let task = tokio::spawn(watch(
        client.clone(),
        fakes,
        target_of,
        start,
        books.clone(),
        stopped,
    ));
    Watching { stop, task }
}

/// One watched fake: its counters' URL, a target on its provider (what its requests are
/// booked on), and its counter at the last read.
struct Watched {
    url: String,
    target: TargetId,
    seen: Option<u64>,
}

/// Reads the fakes' counters every [`POLL`] from `start` until `stop` turns true, then once
/// more, booking each fake's new requests in `books`. `fakes`: each provider's name and
/// base URL; `target_of` names a target on a provider (one without is not watched).
async fn watch(
    client: HttpClient,
    fakes: Vec<(String, String)>,
    target_of: impl Fn(&str) -> Option<TargetId>,
    start: tokio::time::Instant,
    books: Arc<Mutex<Books>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut watched: Vec<Watched> = fakes
        .into_iter()
        .filter_map(|(name, url)| {
            Some(Watched {
                url: format!("{url}/_fake/counters"),
                target: target_of(&name)?,
                seen: None,
            })
        })
        .collect();
    let mut tick = tokio::time::interval_at(start, POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        for w in &mut watched {
            let Ok(text) = control(&client, "GET", &w.url, String::new()).await else {
                continue;
            };
            let at = since(start);
            let Some(now) = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["requests"].as_u64())
            else {
                continue;
            };
            // The fakes start the run at 0 (started, or reset, before it).
            let new = w.seen.map_or(now, |seen| now.saturating_sub(seen));
            w.seen = Some(now);
            if new > 0 {
                booked(&books, |b| b.reached(at, w.target, new.min(MAX_PER_READ)));
            }
        }
        if last {
            return;
        }
    }
}

// The report's line says so (`report::BLACK_BOX_LINE`).
const _: () = assert!(POLL.as_millis() == 100);
