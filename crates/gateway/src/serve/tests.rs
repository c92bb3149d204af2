//! [`supervise`]: how the serving threads' ends are waited for.

use std::time::Duration;

use super::supervise;

/// A thread that waits to be told to stop, then says how many connections it served.
fn obedient(
    count: u64,
) -> (
    tokio::sync::oneshot::Receiver<u64>,
    std::sync::mpsc::Sender<()>,
) {
    let (done, end) = tokio::sync::oneshot::channel();
    let (tell, told) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = told.recv();
        let _ = done.send(count);
    });
    (end, tell)
}

/// A thread that panics at once: its sender is dropped unanswered.
fn panicking() -> tokio::sync::oneshot::Receiver<u64> {
    let (done, end) = tokio::sync::oneshot::channel::<u64>();
    std::thread::spawn(move || {
        let _keep = done;
        panic!("a serving thread dies (on purpose, in a test)");
    });
    end
}

#[tokio::test]
async fn every_thread_stopped_at_shutdown_gives_the_counts() {
    let (a, tell_a) = obedient(3);
    let (b, tell_b) = obedient(5);
    let stop = move || {
        let _ = tell_a.send(());
        let _ = tell_b.send(());
    };
    let served = supervise(
        vec![a, b],
        (std::future::ready(()), stop),
        (std::future::pending(), || {}),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(served, Ok(vec![3, 5]));
}

/// The shutdown never comes; a thread dies: the others are told to stop at once, and the
/// outcome is an error that names the dead thread.
#[tokio::test]
async fn a_thread_that_dies_before_shutdown_stops_the_others_and_fails() {
    let (a, tell_a) = obedient(3);
    let b = panicking();
    let (stopped, told) = std::sync::mpsc::channel();
    let stop = move || {
        let _ = stopped.send(());
        let _ = tell_a.send(());
    };
    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        supervise(
            vec![a, b],
            (std::future::pending(), stop),
            (std::future::pending(), || {}),
            Duration::from_secs(5),
        ),
    )
    .await
    .expect("a dead thread ends the wait without a shutdown");
    let why = outcome.expect_err("a dead thread is a failure");
    assert!(
        why.contains("serving thread 1 ended before shutdown"),
        "{why}"
    );
    assert!(told.try_recv().is_ok(), "the others were told to stop");
}

/// A thread that loses its count while draining fails the outcome (it is not counted as 0).
#[tokio::test]
async fn a_count_lost_after_shutdown_is_a_failure() {
    let (a, tell_a) = obedient(3);
    let (done, b) = tokio::sync::oneshot::channel::<u64>();
    let stop = move || {
        let _ = tell_a.send(());
        drop(done);
    };
    let why = supervise(
        vec![a, b],
        (std::future::ready(()), stop),
        (std::future::pending(), || {}),
        Duration::from_secs(5),
    )
    .await
    .expect_err("a lost count is a failure");
    assert!(
        why.contains("serving thread 1 ended without its count"),
        "{why}"
    );
}

/// A thread that does not stop is waited for at most the bound, and named.
#[tokio::test]
async fn a_thread_that_overruns_the_bound_is_not_waited_for() {
    let (a, tell_a) = obedient(3);
    let (_never, b) = tokio::sync::oneshot::channel::<u64>();
    let stop = move || {
        let _ = tell_a.send(());
    };
    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        supervise(
            vec![a, b],
            (std::future::ready(()), stop),
            (std::future::pending(), || {}),
            Duration::from_millis(200),
        ),
    )
    .await
    .expect("bounded");
    let why = outcome.expect_err("an overrun is a failure");
    assert!(why.contains("serving threads 1 still running"), "{why}");
}

/// A cut that comes while the threads drain is passed on once (a thread that finishes only
/// when cut is then waited for, well within the bound); before shutdown it is not heard.
#[tokio::test]
async fn a_cut_during_the_drain_is_passed_on_once() {
    let (a, tell_a) = obedient(3);
    let (b, cut_b) = obedient(5);
    let (cuts, counted) = std::sync::mpsc::channel();
    let (shut, shutdown) = tokio::sync::oneshot::channel::<()>();
    let (cut_tx, cut) = tokio::sync::oneshot::channel::<()>();
    let outcome = tokio::spawn(supervise(
        vec![a, b],
        (
            async move {
                let _ = shutdown.await;
            },
            move || {
                let _ = tell_a.send(());
            },
        ),
        (
            async move {
                let _ = cut.await;
            },
            move || {
                let _ = cuts.send(());
                let _ = cut_b.send(());
            },
        ),
        Duration::from_secs(30),
    ));
    // Cut before shutdown: not heard until the drain starts.
    let _ = cut_tx.send(());
    tokio::task::yield_now().await;
    assert!(counted.try_recv().is_err(), "a cut before shutdown");
    let _ = shut.send(());
    let served = tokio::time::timeout(Duration::from_secs(5), outcome)
        .await
        .expect("the cut thread ends within the bound")
        .unwrap();
    assert_eq!(served, Ok(vec![3, 5]));
    assert_eq!(counted.try_iter().count(), 1, "cut once");
}

/// RV: `serve_threads` is public and takes any `grace`; its bound (`grace` + 1 s) is added
/// to `Instant::now()` unchecked, so a grace near `Duration::MAX` panics at shutdown ("overflow
/// when adding duration to instant") instead of waiting as long as it may. The CLI bounds
/// `gateway.shutdown_grace` to 1 h; a library caller is not bounded.
#[tokio::test]
async fn a_bound_past_the_end_of_time_waits_rather_than_panics() {
    let (a, tell_a) = obedient(3);
    let outcome = tokio::spawn(supervise(
        vec![a],
        (std::future::ready(()), move || {
            let _ = tell_a.send(());
        }),
        (std::future::pending::<()>(), || {}),
        Duration::MAX,
    ));
    let served = tokio::time::timeout(Duration::from_secs(5), outcome)
        .await
        .expect("the thread told to drain ends at once");
    assert_eq!(served.expect("supervise does not panic"), Ok(vec![3]));
}
