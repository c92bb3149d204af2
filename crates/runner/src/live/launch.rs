//! Starting this project's gateway for a scenario that runs through it (`gateway: switchyard`).
//!
//! The runner does not depend on the gateway crate: whoever runs scenarios (the CLI) passes a
//! [`GatewayLauncher`] in [`crate::RunOptions`]. Without one, such a scenario is a setup error.

use std::future::Future;
use std::pin::Pin;

use switchyard_live::Driver;
use switchyard_live::config::LiveParams;

/// What [`GatewayLauncher::launch`] returns: a gateway started, or why not.
pub type Launch<'a> = Pin<Box<dyn Future<Output = Result<LaunchedGateway, String>> + Send + 'a>>;

/// Starts a gateway in front of a live run's fakes.
pub trait GatewayLauncher: Send + Sync + std::fmt::Debug {
    /// Starts a gateway serving `params` on 127.0.0.1, port 0. The runner builds `params`:
    /// development environment, the scenario's providers at the fakes' URLs, the scenario's
    /// router, and `gateway.expose_attempts` set (the runner reads which target served, and
    /// each attempt, from the gateway's headers). Called inside the run's Tokio runtime.
    fn launch(&self, params: LiveParams) -> Launch<'_>;
}

/// A gateway a launcher started.
pub struct LaunchedGateway {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The router it serves with: the runner applies operator actions to it and reads its
    /// telemetry for the report.
    pub router: Driver,
    /// Stops it.
    pub stop: GatewayStop,
}

impl std::fmt::Debug for LaunchedGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaunchedGateway")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Stops a gateway: dropped, it tells the gateway to stop; [`GatewayStop::stop`] also waits
/// until it has.
#[derive(Debug)]
pub struct GatewayStop {
    signal: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl GatewayStop {
    /// The gateway runs as `task` and stops when `signal` fires (or its sender is dropped:
    /// the receiver's error counts as the signal).
    pub fn new(
        signal: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    ) -> Self {
        GatewayStop {
            signal: Some(signal),
            task: Some(task),
        }
    }

    /// Tells the gateway to stop and waits until it has.
    pub async fn stop(mut self) {
        self.signal();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn signal(&mut self) {
        if let Some(signal) = self.signal.take() {
            let _ = signal.send(());
        }
    }
}

impl Drop for GatewayStop {
    fn drop(&mut self) {
        self.signal();
    }
}
