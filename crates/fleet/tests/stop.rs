//! `SyncHandle::stop` returns only once the sync task has ended: a worker thread polling the
//! task when it is stopped (an abort lands at the task's next wait, not within a poll) can
//! take no store operation after `stop` returned, so a replica claim released next is not
//! renewed behind the release.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use switchyard_core::fleet::StoreOp;
use switchyard_core::router::Router;
use switchyard_core::time::Instant;
use switchyard_fleet::sync::{self, Replica, StoreClock, SyncOptions};
use switchyard_fleet::{RedisStore, StoreOptions};

/// A replica whose first round stops inside the task's poll: `may_sync` tells the test it
/// was entered and waits for its word; then taking the round's operations waits (bounded)
/// for the test to say `stop` has returned, and records that they were taken.
struct Held {
    entered: SyncSender<()>,
    go: Mutex<Receiver<()>>,
    stopped: Mutex<Receiver<()>>,
    log: Arc<Mutex<Vec<&'static str>>>,
}

/// How long the round's operations wait for the test's word: with `stop` awaiting the
/// task, the word never comes before the task ends, so this is what that costs.
const HOLD: Duration = Duration::from_millis(300);

impl Replica for Held {
    fn now(&self) -> Instant {
        Instant::ZERO
    }

    fn with_router<T: Default>(&self, _f: impl FnOnce(&mut Router) -> T) -> T {
        T::default()
    }

    /// The first round's only: the test's word then goes with its sender, and later rounds
    /// (the task not yet ended) run nothing.
    fn may_sync(&self) -> bool {
        let _ = self.entered.try_send(());
        self.go.lock().unwrap().recv().is_ok()
    }

    fn sync_ops(&self, _now: Instant) -> Vec<StoreOp> {
        let _ = self.stopped.lock().unwrap().recv_timeout(HOLD);
        self.log.lock().unwrap().push("operations taken");
        Vec::new()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_returns_only_once_the_task_took_its_last_operations() {
    let (entered, entered_rx) = sync_channel(1);
    let (go, go_rx) = sync_channel(1);
    let (stopped, stopped_rx) = sync_channel(1);
    let log = Arc::new(Mutex::new(Vec::new()));
    let replica = Arc::new(Held {
        entered,
        go: Mutex::new(go_rx),
        stopped: Mutex::new(stopped_rx),
        log: log.clone(),
    });
    // Never reached: the round has no operation (nor a claim) to send.
    let store = RedisStore::connect("redis://127.0.0.1:1", StoreOptions::default()).unwrap();
    let handle = sync::spawn(
        replica.clone(),
        store,
        StoreClock::new(switchyard_fleet::UnixMs(0)),
        SyncOptions::every(Duration::from_millis(100)),
    );
    // A worker is inside the task's first poll.
    entered_rx.recv().unwrap();
    let mut stop = std::pin::pin!(handle.stop());
    // The abort is asked for: the task, still polled, goes on to the end of its poll.
    let done = stop.as_mut().now_or_never().is_some();
    go.send(()).unwrap();
    drop(go);
    if !done {
        stop.await;
    }
    log.lock().unwrap().push("stop returned");
    let _ = stopped.send(());
    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["operations taken", "stop returned"],
        "the task took operations after stop returned"
    );
    // And it has ended: its hold on the replica is gone.
    assert_eq!(Arc::strong_count(&replica), 1);
}
