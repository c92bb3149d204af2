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
//! Neither strips hop-by-hop headers beyond `connection`, peeks at an idle connection before
//! using it, or has timeouts: what the gateway does beyond them is its own work
//! (docs/GATEWAY.md, "What a request costs").
//!
//! Usage: `switchyard-floor gateway --config FILE --listen ADDR [--threads N] [--hyper]`, the
//! gateway's own arguments, so the bench scripts start it as they start the gateway: the
//! upstream is the config's first `fake_base_url` (a plain `http://IP:PORT`); it prints
//! `floor http://ADDR` once it listens.

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
    let up = raw::Upstream { addr, host };
    let first = listener(listen).map_err(|e| format!("{listen}: {e}"))?;
    let bound = first.local_addr().map_err(|e| e.to_string())?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(listener(bound).map_err(|e| format!("{bound}: {e}"))?);
    }
    println!("floor http://{bound}");
    let (done, mut ended) = tokio::sync::mpsc::unbounded_channel();
    for l in listeners {
        let done = done.clone();
        std::thread::spawn(move || {
            let _ = done.send(serve(l, up, hyper));
        });
    }
    // Until SIGINT or SIGTERM (the bench scripts stop their servers with SIGINT, which a
    // background job of a script starts ignoring: the handler takes it back), or a serving
    // thread fails (it returns only then): the floor then ends, saying why.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = term.recv() => Ok(()),
            failed = ended.recv() => match failed {
                Some(Err(e)) => Err(format!("serving thread: {e}")),
                _ => Err("a serving thread ended".into()),
            },
        }
    })
}
