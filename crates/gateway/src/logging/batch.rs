//! Log lines held per thread and written together, off the requests' path.
//!
//! A serving thread ([`crate::serve_threads`]) writes its lines into a buffer of its own
//! ([`Batching`]) rather than with a `write(2)` each: the access line of a request is made
//! when its reply's body ends, before the body has been written to the client, so a
//! synchronous write there came before the reply on every request. The buffer is written
//! every [`MAX_HOLD`] ([`write_held`], a task on the serving thread's runtime), when the
//! next line would take it past [`MAX_WRITE`] bytes, and when the thread stops batching (its
//! guard is dropped, also by a panic's unwinding) or ends.
//!
//! Not when the runtime parks (the first version did): at a few thousand requests a second
//! a serving thread parks between most requests, so that wrote a line per `write(2)`, about
//! 4 µs of system time a request on this machine, the cost batching is for.
//!
//! Invariants: each write holds whole lines, in the order they were made, and at most
//! [`MAX_WRITE`] bytes (a write that size or smaller to a pipe is atomic, so lines of
//! several threads never interleave mid-line); a line longer than that is written alone, at
//! once, as it would be without batching. The buffer never holds more than [`MAX_WRITE`]
//! bytes. Any thread that does not batch (the main thread's signals, SIGHUP's reloads and
//! fleet sync, a test's) writes each line at once. What a serving thread holds is written at
//! the latest [`MAX_HOLD`] after it was made; only a process that aborts (not one that
//! unwinds) loses it: at most [`MAX_WRITE`] bytes per serving thread. Lines of different
//! threads reach the log in the order their threads wrote them, not exactly the order they
//! were made.

use std::cell::RefCell;
use std::sync::Arc;

/// What writes a whole line, or several (the subscriber's writer).
pub(crate) type Writer = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// The longest a serving thread holds a line: its runtime writes what it holds this often.
pub const MAX_HOLD: std::time::Duration = std::time::Duration::from_millis(100);

/// The most bytes one batched write carries: `PIPE_BUF` on Linux, the size up to which a
/// write to a pipe is not split.
pub const MAX_WRITE: usize = 4096;

/// A thread's held lines and the writer they are for.
struct Pending {
    on: bool,
    writer: Option<Writer>,
    bytes: Vec<u8>,
}

impl Pending {
    fn flush(&mut self) {
        if self.bytes.is_empty() {
            return;
        }
        if let Some(write) = &self.writer {
            write(&self.bytes);
        }
        self.bytes.clear();
    }
}

impl Drop for Pending {
    /// A thread that ends writes what it held.
    fn drop(&mut self) {
        self.flush();
    }
}

thread_local! {
    static PENDING: RefCell<Pending> = const {
        RefCell::new(Pending { on: false, writer: None, bytes: Vec::new() })
    };
}

/// Writes `line` (one or more whole lines) with `writer`: appended to this thread's buffer
/// when the thread batches, else at once.
pub(super) fn emit(writer: &Writer, line: &[u8]) {
    let held = PENDING.try_with(|p| {
        // Borrowed already: the writer itself logs; that line goes out at once.
        let Ok(mut p) = p.try_borrow_mut() else {
            return false;
        };
        if !p.on {
            return false;
        }
        if !p.writer.as_ref().is_some_and(|w| Arc::ptr_eq(w, writer)) {
            // Lines for another subscriber (a test's): what the last one held goes first.
            p.flush();
            p.writer = Some(writer.clone());
        }
        if p.bytes.len().saturating_add(line.len()) > MAX_WRITE {
            p.flush();
        }
        if line.len() > MAX_WRITE {
            writer(line);
        } else {
            p.bytes.extend_from_slice(line);
        }
        true
    });
    if held != Ok(true) {
        writer(line);
    }
}

/// Writes what this thread holds (nothing when it does not batch). The serving threads'
/// runtimes call it every [`MAX_HOLD`].
pub fn flush() {
    let _ = PENDING.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            p.flush();
        }
    });
}

/// Writes this thread's held lines every [`MAX_HOLD`], for as long as the runtime that runs
/// it: a serving thread's runtime spawns it. The first write is one period after the start.
///
/// A clock, not a timer armed when a first line is held (tried): armed only then, it woke an
/// idle thread less often, but its 100 ms sleep, due before any timer then pending, cost a
/// `write(2)` to the runtime's eventfd at every first line after an idle spell, and a request
/// that set a timer due within a second (a hedge's delay, a first-token timeout) found no
/// earlier one pending and paid the same on its path (`serve.rs`, `timer_anchor`). The
/// clock's price: ten wake-ups a second on an idle thread.
pub(crate) async fn write_held() {
    let first = tokio::time::Instant::now() + MAX_HOLD;
    let mut tick = tokio::time::interval_at(first, MAX_HOLD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        flush();
    }
}

/// While this guard lives, the thread that made it holds its log lines as the module doc
/// says; dropping it writes them and puts the thread back as it was.
#[derive(Debug)]
#[must_use = "the thread batches only while the guard lives"]
pub struct Batching {
    was: bool,
    /// Tied to its thread: the buffer it stands for is that thread's.
    _thread: std::marker::PhantomData<*const ()>,
}

impl Batching {
    /// Starts holding this thread's lines.
    pub fn start() -> Self {
        let was = PENDING
            .try_with(|p| match p.try_borrow_mut() {
                Ok(mut p) => {
                    p.bytes.reserve(MAX_WRITE);
                    std::mem::replace(&mut p.on, true)
                }
                Err(_) => false,
            })
            .unwrap_or(false);
        Batching {
            was,
            _thread: std::marker::PhantomData,
        }
    }
}

impl Drop for Batching {
    fn drop(&mut self) {
        let was = self.was;
        let _ = PENDING.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                p.flush();
                p.on = was;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{Batching, MAX_HOLD, MAX_WRITE, flush};
    use std::sync::{Arc, Mutex};
    use switchyard_live::config::{LogFormat, LogLevel};

    /// Each write the subscriber made, apart.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Writes {
        fn subscriber(&self) -> Box<dyn tracing::Subscriber + Send + Sync> {
            let writes = self.clone();
            crate::logging::subscriber(LogFormat::Json, LogLevel::Info, move || {
                Sink(writes.clone())
            })
        }

        fn all(&self) -> Vec<Vec<u8>> {
            self.0.lock().map(|w| w.clone()).unwrap_or_default()
        }

        /// The `n` field of every line written, in order, each write checked: whole lines
        /// only, none past the bound unless it is a single line.
        fn numbers(&self) -> Vec<u64> {
            let mut seen = Vec::new();
            for write in self.all() {
                let text = String::from_utf8(write).unwrap_or_default();
                assert!(text.ends_with('\n'), "a torn write: {text:?}");
                let lines: Vec<&str> = text.lines().collect();
                assert!(
                    text.len() <= MAX_WRITE || lines.len() == 1,
                    "{} bytes in {} lines",
                    text.len(),
                    lines.len()
                );
                for line in lines {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                    seen.push(v["n"].as_u64().unwrap_or(u64::MAX));
                }
            }
            seen
        }
    }

    struct Sink(Writes);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut w) = self.0.0.lock() {
                w.push(buf.to_vec());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A line of about `len` bytes, numbered `n`.
    fn line(n: u64, len: usize) {
        tracing::info!(target: "switchyard::access", n, pad = "x".repeat(len).as_str(), "request");
    }

    #[test]
    fn held_lines_arrive_whole_and_in_order() {
        let writes = Writes::default();
        let _current = tracing::subscriber::set_default(writes.subscriber());
        line(0, 10);
        assert_eq!(
            writes.all().len(),
            1,
            "a thread that does not batch writes at once"
        );
        let batching = Batching::start();
        for n in 1..=10 {
            line(n, 10);
        }
        assert_eq!(writes.all().len(), 1, "held");
        flush();
        assert_eq!(writes.all().len(), 2, "ten lines, one write");
        line(11, 10);
        drop(batching);
        line(12, 10);
        assert_eq!(writes.numbers(), (0..=12).collect::<Vec<_>>());
        assert_eq!(writes.all().len(), 4);
    }

    /// Lines past the bound go out in writes of whole lines, each at most [`MAX_WRITE`]
    /// bytes; a line longer than that alone.
    #[test]
    fn a_burst_past_the_bound_is_written_in_whole_lines() {
        let writes = Writes::default();
        let _current = tracing::subscriber::set_default(writes.subscriber());
        let _batching = Batching::start();
        for n in 0..300 {
            // 100 to 700 bytes each, and after the 150th one line longer than a write.
            line(n, 100 + (n as usize * 37) % 600);
            if n == 150 {
                tracing::info!(target: "switchyard::access", n, a = "y".repeat(2000).as_str(), b = "z".repeat(2000).as_str(), "request");
            }
        }
        flush();
        let mut want: Vec<u64> = (0..300).collect();
        want.insert(151, 150);
        assert_eq!(writes.numbers(), want);
        let sizes: Vec<usize> = writes.all().iter().map(Vec::len).collect();
        assert!(sizes.len() > 30, "{sizes:?}");
        assert_eq!(
            sizes.iter().filter(|&&s| s > MAX_WRITE).count(),
            1,
            "{sizes:?}"
        );
    }

    /// A serving thread's runtime holds a line across its parks (a write per park was a
    /// write per request at a few thousand a second), writes it within [`MAX_HOLD`], and the
    /// lines held when the thread stops are written too.
    #[test]
    fn a_held_line_waits_out_parks_and_a_stopping_thread_loses_nothing() {
        let writes = Writes::default();
        let sub = writes.subscriber();
        let seen = writes.clone();
        let thread = std::thread::spawn(move || {
            let _current = tracing::subscriber::set_default(sub);
            let runtime = crate::serve::serving_runtime().unwrap_or_else(|e| panic!("{e}"));
            let batching = Batching::start();
            let (early, late) = runtime.block_on(async {
                let t0 = tokio::time::Instant::now();
                line(0, 10);
                // Nothing else to run: the runtime parks, a few times.
                for _ in 0..3 {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                // Unless this thread was held up past the bound (a loaded machine).
                let early = (t0.elapsed() < MAX_HOLD).then(|| seen.all().len());
                tokio::time::sleep(MAX_HOLD + std::time::Duration::from_millis(50)).await;
                // A thread stalled over both deadlines wakes with both timers due, and
                // `block_on` polls this future first: the timer task's turn comes at a yield.
                tokio::task::yield_now().await;
                let late = seen.all().len();
                let tasks: Vec<_> = (1..50)
                    .map(|n| tokio::spawn(async move { line(n, 10) }))
                    .collect();
                for task in tasks {
                    let _ = task.await;
                }
                line(50, 10);
                (early, late)
            });
            drop(runtime);
            drop(batching);
            (early, late)
        });
        let (early, late) = thread.join().unwrap_or_default();
        assert!(
            matches!(early, None | Some(0)),
            "written at a park: {early:?}"
        );
        assert_eq!(late, 1, "written within the bound");
        assert_eq!(MAX_HOLD.as_millis(), 100, "the bound docs/GATEWAY.md gives");
        assert_eq!(writes.numbers(), (0..=50).collect::<Vec<_>>());
    }

    /// Write syscalls this thread has made (`syscw` of `/proc/thread-self/io`).
    fn writes_made() -> Option<u64> {
        let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
        io.lines()
            .find_map(|l| l.strip_prefix("syscw: "))
            .and_then(|n| n.trim().parse().ok())
    }

    /// A serving thread keeps a timer due within a second (`timer_anchor`, serve.rs) so that
    /// a timer set on a request's path does not wake its parked driver (a `write(2)` to the
    /// driver's eventfd). Holding the first line after an idle spell must not cost that
    /// write either: batching is there to keep a `write(2)` off the request's path. The
    /// 100 ms clock sets no timer there; a 100 ms sleep armed at the first held line (tried),
    /// due before the 1 s anchor, woke the driver once per request on a gateway with fewer
    /// than 10 requests a second (fails with it).
    #[test]
    fn holding_a_line_after_an_idle_spell_writes_nothing() {
        use std::time::Duration;
        let writes = Writes::default();
        let sub = writes.subscriber();
        let thread = std::thread::spawn(move || {
            let _current = tracing::subscriber::set_default(sub);
            let runtime = crate::serve::serving_runtime().unwrap_or_else(|e| panic!("{e}"));
            let _batching = Batching::start();
            runtime.block_on(async {
                // As `accept_loop` does: a timer always due within a second.
                let anchor = tokio::spawn(async {
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                });
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                // A client that comes 30 ms on: this thread parks idle till then.
                let client = std::thread::spawn(move || {
                    let (_tx, rx) = std::sync::mpsc::channel::<()>();
                    let _ = rx.recv_timeout(Duration::from_millis(30));
                    std::net::TcpStream::connect(addr)
                });
                let accepted = tokio::time::timeout(Duration::from_secs(5), listener.accept())
                    .await
                    .unwrap();
                assert!(accepted.is_ok());
                // The request's access line, then the runtime's other tasks get their turn.
                let before = writes_made();
                line(0, 10);
                for _ in 0..10 {
                    tokio::task::yield_now().await;
                }
                let after = writes_made();
                anchor.abort();
                let _ = client.join();
                before.zip(after).map(|(b, a)| a.saturating_sub(b))
            })
        });
        let made = thread.join().unwrap_or_default();
        assert_eq!(made, Some(0), "write(2) calls made holding one line");
    }

    /// A serving thread whose runtime always has a task ready (constant load) never parks:
    /// a line it holds is still written within a bound of time (the timer fires between
    /// tasks).
    #[test]
    fn a_runtime_that_never_parks_still_writes_within_a_bound() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let writes = Writes::default();
        let sub = writes.subscriber();
        let seen = writes.clone();
        let thread = std::thread::spawn(move || {
            let _current = tracing::subscriber::set_default(sub);
            let runtime = crate::serve::serving_runtime().unwrap_or_else(|e| panic!("{e}"));
            let _batching = Batching::start();
            runtime.block_on(async {
                // Constant load: some task is always ready (a busy stream, requests back to
                // back), so the runtime polls its driver between tasks but never parks.
                let stop = Arc::new(AtomicBool::new(false));
                let busy = {
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            tokio::task::yield_now().await;
                        }
                    })
                };
                line(0, 10);
                let t0 = tokio::time::Instant::now();
                let mut written_after = None;
                while t0.elapsed() < std::time::Duration::from_millis(500) {
                    tokio::task::yield_now().await;
                    if !seen.all().is_empty() {
                        written_after = Some(t0.elapsed());
                        break;
                    }
                }
                stop.store(true, Ordering::Relaxed);
                let _ = busy.await;
                written_after
            })
        });
        let written_after = thread.join().unwrap_or_default();
        assert!(
            written_after.is_some(),
            "a line held over 500 ms by a serving thread under load"
        );
    }

    /// A serving thread that panics writes what it held as it unwinds.
    #[test]
    fn a_panicking_thread_writes_what_it_held() {
        let writes = Writes::default();
        let sub = writes.subscriber();
        let seen = writes.clone();
        let thread = std::thread::spawn(move || {
            let _current = tracing::subscriber::set_default(sub);
            let _batching = Batching::start();
            for n in 0..3 {
                line(n, 10);
            }
            assert!(seen.all().is_empty(), "held");
            panic!("a serving thread's bug");
        });
        assert!(thread.join().is_err());
        assert_eq!(writes.numbers(), vec![0, 1, 2]);
    }
}
