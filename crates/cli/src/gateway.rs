//! `switchyard gateway`: the router behind OpenAI- and Anthropic-compatible endpoints, reloaded on
//! SIGHUP, drained on SIGTERM or SIGINT (stopped at once by a second one).

use std::io::Write;
use std::net::SocketAddr;

use crate::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};

/// The next SIGTERM or SIGINT: its name.
async fn next_signal(
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Serves until SIGTERM or SIGINT (orchestrators, Ctrl-C), then drains: stops accepting,
/// gives requests in flight `grace` (`gateway.shutdown_grace`). A second SIGTERM or SIGINT
/// meanwhile cuts what is still in flight at once (its access lines say `shutdown`; the
/// serving threads write what they held before they end). What serving returned, and
/// whether a second signal cut it.
async fn serve_until_signals(
    runtimes: switchyard_gateway::Runtimes,
    gw: &std::sync::Arc<switchyard_gateway::Gateway>,
    grace: std::time::Duration,
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
) -> (std::io::Result<Vec<u64>>, bool) {
    let (first, said) = tokio::sync::oneshot::channel();
    let (again, said_again) = tokio::sync::oneshot::channel();
    // A task of this (the main) thread's runtime: it hears both signals whatever
    // `serve_threads` is polling.
    let listening = tokio::spawn(async move {
        let _ = first.send(next_signal(&mut term, &mut int).await);
        let _ = again.send(next_signal(&mut term, &mut int).await);
    });
    let forced = std::cell::Cell::new(false);
    let cut = async {
        let Ok(name) = said_again.await else {
            return std::future::pending().await;
        };
        tracing::warn!(
            target: "switchyard::serve",
            signal = name,
            "{name} again: stopping now; requests still in flight are cut"
        );
        forced.set(true);
    };
    let shutdown = async move {
        let name = said.await.unwrap_or("SIGTERM");
        // A log line (JSON with `log_format: json`), written at once: this is the main
        // thread, not a serving thread holding its lines.
        tracing::info!(
            target: "switchyard::serve",
            signal = name,
            grace_s = grace.as_secs_f64(),
            "{name}: draining, requests in flight get up to {} (send it again to stop now)",
            switchyard_core::time::Duration::from(grace)
        );
    };
    // A serving thread that dies, or does not stop in time, is an error (logged by
    // `serve_threads`; the others drain first).
    let served =
        switchyard_gateway::serve_threads(runtimes, gw.clone(), shutdown, cut, grace).await;
    listening.abort();
    (served, forced.get())
}

/// The command line's say over the config.
#[derive(clap::Args, Debug)]
pub(crate) struct Flags {
    /// Where to listen; default the config's gateway.listen, else 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Serve a non-loopback address without client keys (development only: anyone who
    /// reaches the address can use the providers' keys).
    #[arg(long)]
    allow_unauthenticated: bool,
    /// Serving threads, each its own single-threaded runtime (1 to 256); default the
    /// config's gateway.threads, else the number of cores available, at most 8.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
}

/// Serves `config` until SIGTERM or SIGINT; exit 0 once drained. A second SIGTERM or SIGINT
/// during the drain stops at once: exit 1, requests still in flight cut.
///
/// Requests are served on `gateway.threads` threads of their own (`switchyard_gateway::
/// serve_threads`); this thread runs a single-threaded runtime for the rest: signals, SIGHUP's
/// reloads and a fleet replica's sync task (`POST /admin/reload` runs on the serving thread
/// that received it).
pub(crate) fn serve(
    config: &std::path::Path,
    flags: &Flags,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "cannot start the runtime: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    runtime.block_on(async move {
        // Every signal the gateway answers is registered before anything else: from the
        // moment the address is printed, SIGTERM and SIGINT drain and SIGHUP reloads (their
        // default action, ending the process at once, never applies).
        let (mut term, mut int, mut hup) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(t), Ok(i), Ok(h)) => (t, i, h),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                let _ = writeln!(err, "cannot handle signals: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        let Started {
            gw,
            runtimes,
            addr,
            grace,
        } = match start(config, flags) {
            Ok(started) => started,
            Err(e) => {
                let _ = writeln!(err, "{e}");
                return EXIT_BAD_INPUT;
            }
        };
        // A fleet replica's number, held by no other live gateway, before the address is
        // printed: two replicas with one number would overwrite each other's state.
        if let Some(code) = claim_or_stop(&gw, &mut term, &mut int, err).await {
            return code;
        }
        let _ = writeln!(out, "gateway http://{addr}");
        let _ = out.flush();
        // SIGHUP reloads the config; requests in flight keep the router they started with.
        // `reload` logs its outcome (and a refusal) itself.
        let reloader = gw.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = reloader.reload();
            }
        });
        let (served, forced) = serve_until_signals(runtimes, &gw, grace, term, int).await;
        // Its replica number given back: a gateway started next with it is not refused.
        gw.leave_fleet().await;
        match served {
            // Stopped by a second signal: said by its warning line (as JSON with `log_format:
            // json`), nothing more on stderr.
            _ if forced => EXIT_FAILED,
            Ok(_) => EXIT_OK,
            Err(e) => {
                let _ = writeln!(err, "{e}");
                EXIT_FAILED
            }
        }
    })
}

/// The gateway `config` describes, its logger set up, listening on `--listen` (else the
/// config's `gateway.listen`, else 127.0.0.1:8080) with one socket per serving thread
/// (`--threads`, else `gateway.threads`, else the cores available, at most 8); or why it cannot start.
fn start(config: &std::path::Path, flags: &Flags) -> Result<Started, String> {
    let params = switchyard_gateway::read_config(config).map_err(|e| e.to_string())?;
    // Log lines (access log, router events, reloads) go to stderr, as the config says;
    // a logger set already (the CLI run in process, twice) stays.
    let rust_log = std::env::var("RUST_LOG").ok();
    let _ = switchyard_gateway::logging::init(
        params.gateway.log_format,
        params.gateway.log_level(rust_log.as_deref()),
    );
    let configured = params
        .gateway
        .listen
        .as_deref()
        .and_then(|l| l.parse().ok());
    let addr = flags
        .listen
        .or(configured)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    // Before the credentials are resolved: a refusal must not depend on the keys at hand.
    switchyard_gateway::check_exposure(&params, addr, flags.allow_unauthenticated)
        .map_err(|e| e.to_string())?;
    let client = switchyard_live::HttpClient::with_extra_roots(&params.upstream_roots)?;
    let transport = switchyard_live::Transport::new(client);
    let gw = switchyard_gateway::Gateway::new(&params, Some(config.to_owned()), transport)
        .map_err(|e| e.to_string())?;
    let threads = flags
        .threads
        .map_or_else(|| params.gateway.threads(), usize::from);
    // Both sources are bounded (the flag by clap, the config by its validation): never 0.
    let threads = std::num::NonZeroUsize::new(threads).unwrap_or(std::num::NonZeroUsize::MIN);
    let listeners = switchyard_gateway::Listeners::bind(addr, threads)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listeners
        .local_addr()
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    // Every thread's runtime before the address is printed: a start that cannot have them
    // (out of file descriptors) is refused, not cut short once it said where it listens.
    let mut runtimes = listeners
        .runtimes()
        .map_err(|e| format!("cannot start the serving threads: {e}"))?;
    if params.gateway.pin_threads() {
        pin(&mut runtimes, threads.get());
    }
    Ok(Started {
        gw,
        runtimes,
        addr,
        grace: params.gateway.shutdown_grace(),
    })
}

/// Pins the serving threads, one per CPU (`gateway.pin_threads`), and says whether it did.
fn pin(runtimes: &mut switchyard_gateway::Runtimes, threads: usize) {
    match runtimes.pin() {
        Some(cpus) => {
            let cpus = cpus
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",");
            tracing::info!(
                target: "switchyard::serve",
                cpus = %cpus,
                "serving threads pinned, one per CPU"
            );
        }
        None => tracing::info!(
            target: "switchyard::serve",
            threads,
            "serving threads not pinned: not one per CPU the process may run on"
        ),
    }
}

/// A gateway ready to serve: its sockets bound to `addr` (its port picked, if asked for 0),
/// each registered with its serving thread's runtime.
struct Started {
    gw: std::sync::Arc<switchyard_gateway::Gateway>,
    runtimes: switchyard_gateway::Runtimes,
    addr: SocketAddr,
    /// `gateway.shutdown_grace`: how long requests in flight get once SIGTERM or SIGINT
    /// arrives (read at start; a reload keeps it).
    grace: std::time::Duration,
}

/// Claims a fleet replica's number ([`switchyard_gateway::Gateway::claim_replica`]); `None`
/// once held (or there is no fleet), else the exit code: a refusal is bad input, and a signal
/// meanwhile stops the gateway at once, exit 0 (the wait for a killed gateway's claim to
/// expire can take three sync periods; it never served).
async fn claim_or_stop(
    gw: &switchyard_gateway::Gateway,
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
    err: &mut dyn Write,
) -> Option<i32> {
    let claimed = tokio::select! {
        c = gw.claim_replica() => Some(c),
        _ = next_signal(term, int) => None,
    };
    match claimed {
        Some(Ok(())) => None,
        Some(Err(e)) => {
            let _ = writeln!(err, "{e}");
            Some(EXIT_BAD_INPUT)
        }
        None => {
            tracing::info!(
                target: "switchyard::serve",
                "stopped by a signal while claiming the replica number, before serving"
            );
            // The sync task may have been granted the number meanwhile.
            gw.leave_fleet().await;
            Some(EXIT_OK)
        }
    }
}
