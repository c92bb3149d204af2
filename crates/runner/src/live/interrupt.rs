//! Ctrl-C while a live fleet runs: the run stops and drops what it started (its gateways,
//! and the guard that kills its Redis and removes its files) before the process exits.
//!
//! One thread of the runner's listens for SIGINT from the first fleet run on (a signal
//! handler, once installed, stays for the life of the process). While a fleet runs, it tells
//! the run ([`Running::interrupted`]); while none runs, it does what SIGINT does by default:
//! it ends the process (status 130, as a shell reports a SIGINT). So a runner that goes on to
//! other scenarios after a fleet's still stops on Ctrl-C.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Fleet runs going on now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Counts Ctrl-Cs that came during a fleet run; `None` when the listener could not start.
static CTRL_C: OnceLock<Option<tokio::sync::watch::Receiver<u64>>> = OnceLock::new();

fn listener() -> Option<tokio::sync::watch::Receiver<u64>> {
    CTRL_C
        .get_or_init(|| {
            let (tx, rx) = tokio::sync::watch::channel(0u64);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            // The handler is in place before the first fleet run starts anything.
            let (ready, installed) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("switchyard-ctrl-c".to_owned())
                .spawn(move || {
                    use tokio::signal::unix::{SignalKind, signal};
                    let sigint = runtime.block_on(async { signal(SignalKind::interrupt()) });
                    let Ok(mut sigint) = sigint else {
                        let _ = ready.send(false);
                        return;
                    };
                    let _ = ready.send(true);
                    runtime.block_on(async move {
                        while sigint.recv().await.is_some() {
                            if RUNNING.load(Ordering::SeqCst) == 0 {
                                std::process::exit(130);
                            }
                            tx.send_modify(|n| *n = n.wrapping_add(1));
                        }
                    });
                })
                .ok()?;
            installed.recv().ok()?.then_some(rx)
        })
        .clone()
}

/// A fleet run going on: Ctrl-C is its to handle until it is dropped.
pub(super) struct Running {
    ctrl_c: Option<tokio::sync::watch::Receiver<u64>>,
}

impl Running {
    pub(super) fn start() -> Running {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        let mut ctrl_c = listener();
        if let Some(rx) = &mut ctrl_c {
            // Only a Ctrl-C from now on counts.
            rx.mark_unchanged();
        }
        Running { ctrl_c }
    }

    /// Completes at the next Ctrl-C (never, without a listener).
    pub(super) async fn interrupted(&mut self) {
        match &mut self.ctrl_c {
            Some(rx) => {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}
