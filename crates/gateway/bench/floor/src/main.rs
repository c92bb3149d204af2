//! The floor of the gateway's latency bench (`FLOOR=1 crates/gateway/bench/latency.sh`): a
//! reverse proxy that forwards and does nothing else (no routing, no parsing of bodies, no
//! booking, no log), on the gateway's thread layout: one single-threaded tokio runtime per
//! serving thread, each with its own `SO_REUSEPORT` listener and its own keep-alive
//! connections upstream, and the gateway's allocator (mimalloc). Two of them:
//!
//! - raw (the default, [`raw`]): the gateway's way, a connection's requests read, parsed
//!   (httparse), sent upstream and answered in the connection's own task, without hyper;
//! - `--hyper` ([`hyper_floor`]): hyper's server and client connections, as most proxies on
//!   this stack are written.
//!
//! A lower bound, not a proxy to deploy: besides the gateway's own work (routing, parsing,
//! validating the reply, booking, logging) they skip some mechanics the gateway's request path
//! has too: a peek at an idle upstream connection before its use (one `recv` syscall; the raw
//! floor instead sends a request again on another connection when a pooled one fails, safe
//! only because the fake's replies are idempotent), timeouts, watching the client's socket
//! while a request is served, rebuilding the reply's head (the raw floor copies the upstream's
//! bytes through, `content-length` replies only), and stripping hop-by-hop headers (the raw
//! floor drops `connection` only, the hyper one nothing). docs/GATEWAY.md, "What a request
//! costs".
//!
//! Usage: `switchyard-floor gateway --config FILE --listen ADDR [--threads N] [--hyper]`, the
//! gateway's own arguments, so the bench scripts start it as they start the gateway: the
//! upstream is the config's first `fake_base_url` (a plain `http://IP:PORT`); it prints
//! `floor http://ADDR` once it listens. `FLOOR_WORK_US=PRE,POST[,AFTER]` makes the raw floor spin
//! that many microseconds (wall clock) before sending each request upstream, before writing
//! its reply and after, to measure what a given amount of a proxy's own work adds, and where
//! (a malformed value: exit 2); `FLOOR_TOUCH_KB=PRE,POST[,AFTER]` makes it touch that many KiB
//! of its memory at the same points, standing for a proxy's footprint in the shared caches
//! ([`raw::Points`]); `FLOOR_MECHANICS=peek,timers` adds those mechanics of the gateway's path
//! ([`raw::Mechanics`]). It prints its settings after its address.

mod hyper_floor;
mod raw;

use std::net::SocketAddr;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A listener on `addr` that other threads may bind too (`SO_REUSEPORT`).
fn listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Accepts on `listener` until the process ends, handing each connection to `serve`; a failed
/// accept other than the peer's doing (no file descriptor left) pauses a second.
async fn accept_loop(
    listener: std::net::TcpListener,
    mut serve: impl FnMut(tokio::net::TcpStream),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                serve(tcp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => {}
            Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
}

/// A serving thread.
fn serve(listener: std::net::TcpListener, up: raw::Upstream, hyper: bool) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if hyper {
        let host = hyper::header::HeaderValue::from_static(up.host);
        let pool = hyper_floor::Pool::new(up.addr, host);
        let local = tokio::task::LocalSet::new();
        return local.block_on(
            &runtime,
            accept_loop(listener, move |tcp| {
                tokio::task::spawn_local(hyper_floor::connection(tcp, pool.clone()));
            }),
        );
    }
    runtime.block_on(accept_loop(listener, move |tcp| {
        tokio::spawn(raw::connection(tcp, up));
    }))
}

/// The value after `name` in the arguments.
fn arg(args: &[String], name: &str) -> Option<String> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).cloned()
}

/// The config's first `fake_base_url: "http://IP:PORT"`.
fn upstream(config: &str) -> Option<SocketAddr> {
    let key = "fake_base_url: \"";
    let from = config.find(key)? + key.len();
    let url = &config[from..from + config[from..].find('"')?];
    url.strip_prefix("http://")?
        .trim_end_matches('/')
        .parse()
        .ok()
}

fn main() {
    if let Err(e) = run() {
        eprintln!("switchyard-floor: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: switchyard-floor gateway --config FILE --listen ADDR [--threads N] [--hyper]";
    let config = arg(&args, "--config").ok_or(usage)?;
    let text = std::fs::read_to_string(&config).map_err(|e| format!("{config}: {e}"))?;
    let addr =
        upstream(&text).ok_or_else(|| format!("{config}: no fake_base_url \"http://IP:PORT\""))?;
    let listen = arg(&args, "--listen").ok_or(usage)?;
    let listen: SocketAddr = listen.parse().map_err(|e| format!("--listen: {e}"))?;
    let threads = match arg(&args, "--threads") {
        Some(n) => n
            .parse::<usize>()
            .map_err(|e| format!("--threads: {e}"))?
            .max(1),
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let hyper = args.iter().any(|a| a == "--hyper");
    // Leaked once: every connection of every thread reads it.
    let host: &'static str = Box::leak(addr.to_string().into_boxed_str());
    let work = raw::work_from_env()?;
    let mechanics = raw::mechanics_from_env()?;
    let touch = raw::touch_from_env()?;
    let up = raw::Upstream {
        addr,
        host,
        work,
        mechanics,
        touch,
    };
    let first = listener(listen).map_err(|e| format!("{listen}: {e}"))?;
    let bound = first.local_addr().map_err(|e| e.to_string())?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(listener(bound).map_err(|e| format!("{bound}: {e}"))?);
    }
    // SIGINT and SIGTERM end the floor (the bench scripts stop their servers with SIGINT, which
    // a background job of a script starts ignoring: the handlers take it back). Registered
    // before the address is printed: a script that stops the floor once it reads it is heard.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        let _in = runtime.enter();
        let interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        (
            interrupt,
            signal(SignalKind::terminate()).map_err(|e| e.to_string())?,
        )
    };
    let (done, mut ended) = tokio::sync::mpsc::unbounded_channel();
    for l in listeners {
        let done = done.clone();
        std::thread::spawn(move || {
            // A serving thread returns only when it fails, or panics: either is reported.
            let served =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve(l, up, hyper)));
            let _ = done.send(served.unwrap_or_else(|_| Err(std::io::Error::other("panicked"))));
        });
    }
    drop(done);
    println!(
        "floor http://{bound} work={work} peek={} timers={} touch={touch}",
        mechanics.peek, mechanics.timers
    );
    runtime.block_on(async {
        tokio::select! {
            _ = interrupt.recv() => Ok(()),
            _ = terminate.recv() => Ok(()),
            failed = ended.recv() => match failed {
                Some(Err(e)) => Err(format!("serving thread: {e}")),
                _ => Err("a serving thread ended".into()),
            },
        }
    })
}
