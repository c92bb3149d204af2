//! This project's gateway, started in process for scenarios that run through it
//! (`gateway: switchyard`): the CLI wires the runner and the gateway together.

use switchyard_live::HttpClient;
use switchyard_live::config::LiveParams;
use switchyard_runner::live::{GatewayLauncher, GatewayStop, Launch, LaunchedGateway};

/// How long requests still in flight get when a run stops its gateway.
const GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts `switchyard_gateway` on 127.0.0.1:0 in the run's runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct InProcessGateway;

impl GatewayLauncher for InProcessGateway {
    fn launch(&self, params: LiveParams) -> Launch<'_> {
        Box::pin(async move {
            let gw = switchyard_gateway::Gateway::new(
                &params,
                None,
                switchyard_live::Transport::new(HttpClient::new()),
            )
            .map_err(|e| e.to_string())?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("cannot listen: {e}"))?;
            let url = format!(
                "http://{}",
                listener.local_addr().map_err(|e| e.to_string())?
            );
            let router = gw.router();
            let (signal, stopped) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.await;
                };
                let _ = switchyard_gateway::serve(listener, gw, shutdown, GRACE).await;
            });
            Ok(LaunchedGateway {
                url,
                router,
                stop: GatewayStop::new(signal, task),
            })
        })
    }
}
