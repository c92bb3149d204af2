//! This project's gateway, started in process for scenarios that run through it
//! (`gateway: switchyard`): the CLI wires the runner and the gateway together.

use switchyard_live::HttpClient;
use switchyard_live::config::LiveParams;
use switchyard_runner::live::{GatewayLauncher, GatewayStop, Launch, LaunchedGateway};

/// How long requests still in flight get when a run stops its gateway.
const GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts `switchyard_gateway` on 127.0.0.1:0 as `switchyard gateway` serves: on
/// `gateway.threads` serving threads (the cores available, at most 8, when unset), each its own
/// single-threaded runtime with a socket of its own (`switchyard_gateway::serve_threads`), so
/// that scenarios test the serving path that ships. The run's runtime keeps the rest (the
/// supervision of those threads, a fleet replica's sync task).
#[derive(Clone, Copy, Debug, Default)]
pub struct InProcessGateway;

impl GatewayLauncher for InProcessGateway {
    fn launch(&self, params: LiveParams) -> Launch<'_> {
        Box::pin(async move {
            let client = HttpClient::with_extra_roots(&params.upstream_roots)?;
            let gw = switchyard_gateway::Gateway::new(
                &params,
                None,
                switchyard_live::Transport::new(client),
            )
            .map_err(|e| e.to_string())?;
            // The config's validation bounds `threads` to 1..=256: never 0.
            let threads = std::num::NonZeroUsize::new(params.gateway.threads())
                .unwrap_or(std::num::NonZeroUsize::MIN);
            let listeners =
                switchyard_gateway::Listeners::bind(([127, 0, 0, 1], 0).into(), threads)
                    .map_err(|e| format!("cannot listen: {e}"))?;
            let url = format!(
                "http://{}",
                listeners
                    .local_addr()
                    .map_err(|e| format!("cannot listen: {e}"))?
            );
            let runtimes = listeners
                .runtimes()
                .map_err(|e| format!("cannot start the serving threads: {e}"))?;
            // A fleet replica claims its number, as `switchyard gateway` does: last, so a
            // start that fails before it leaves no claim behind.
            gw.claim_replica().await.map_err(|e| e.to_string())?;
            let router = gw.router();
            let (signal, stopped) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.await;
                };
                // A serving thread that dies is logged as an error by `serve_threads`; the
                // run sees its requests fail.
                let never = std::future::pending();
                let _ =
                    switchyard_gateway::serve_threads(runtimes, gw.clone(), shutdown, never, GRACE)
                        .await;
                gw.leave_fleet().await;
            });
            Ok(LaunchedGateway {
                url,
                router,
                stop: GatewayStop::new(signal, task),
            })
        })
    }
}
