//! `switchyard gateway` as a process: signals, draining, and the starts it refuses.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test helpers")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use switchyard_testkit::TempDir;

mod claim;
mod grace;
mod overloaded_line;
mod pinning;
mod second_signal;
mod streaming;
mod upstream_tls;

use streaming::{open_stream, post, read_until, slow_fake, stream_open};

fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    c
}

/// A child process, killed if the test ends before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Spawns `command` with its stdout and stderr piped.
fn spawn(command: &mut Command) -> Running {
    Running(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Starts a process that prints its address first; returns it and that line.
fn start(mut command: Command) -> (Running, String) {
    let mut child = spawn(&mut command);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty(), "the process printed no address");
    (child, line.trim().to_owned())
}

fn gateway_config(dir: &TempDir, environment: &str, upstream: &str) -> std::path::PathBuf {
    dir.write(
        "gw.yaml",
        &format!(
            "environment: {environment}\n\
             providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://{upstream}', keys: [{{ source: 'env:SWITCHYARD_TEST_UNSET_KEY' }}] }}\n\
             router:\n  targets:\n    - {{ name: ta, provider: a, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [ta] }}\n"
        ),
    )
}

fn gateway(config: &Path, listen: &str) -> Command {
    let mut c = binary();
    c.args([
        "gateway",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        listen,
    ]);
    c
}

/// A gateway config in front of `upstream` serving on two threads, with `gateway_extra`
/// (indented lines) in its `gateway:` section.
fn two_threads(dir: &TempDir, upstream: &str, gateway_extra: &str) -> std::path::PathBuf {
    dir.write(
        "gw.yaml",
        &format!(
            "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://{upstream}' }}\n\
             router:\n  targets:\n    - {{ name: ta, provider: a, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [ta] }}\n\
             gateway:\n  threads: 2\n{gateway_extra}"
        ),
    )
}

/// SIGTERM while a slow stream is being served: new connections are refused at once, the
/// stream still ends with `[DONE]`, and the process exits 0.
#[test]
fn sigterm_drains_the_request_in_flight_refuses_new_ones_and_exits_0() {
    // 60 tokens at 10 a second: a stream of about 6 s, long enough that a stalled test thread
    // still reads it mid-way.
    let development = |dir: &TempDir, upstream: &str| gateway_config(dir, "development", upstream);
    let mut s = stream_open("gw-drain", 60, development, &[]);
    assert!(!s.began.contains("[DONE]"), "still streaming: {}", s.began);

    signal(&s.gw.0, "-TERM");
    // The first line on stderr after the start's (`gateway.pin_threads` says at start whether
    // the serving threads are pinned).
    let mut said = s.lines.recv_timeout(Duration::from_secs(10)).unwrap();
    if said.contains("serving threads") {
        said = s.lines.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    assert!(said.contains("SIGTERM: draining"), "{said}");
    // Within half a second of the drain line: the stream lasts seconds more, so a socket
    // left open until the drain ends fails here.
    refused_within(&s.addr, Duration::from_millis(500));
    let rest = read_until(&mut s.stream, "data: [DONE]");
    assert!(rest.contains("data: [DONE]"), "the stream finished: {rest}");
    assert_eq!(exit_code(&mut s.gw), Some(0));
}

/// The exit code, within a bound: a process that ignores its signal fails the test rather
/// than hanging it.
#[expect(
    clippy::disallowed_methods,
    reason = "waiting on another process: std offers no wait with a timeout"
)]
fn exit_code(child: &mut Running) -> Option<i32> {
    for _ in 0..500 {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("still running after 10s");
}

/// Refused within `bound`: a socket that stays open until its streams drain (seconds) fails.
#[expect(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "polling another process's socket within a wall-clock bound: there is no event to wait for"
)]
fn refused_within(addr: &str, bound: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < bound {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    panic!("{addr} still accepts connections {bound:?} after the drain started");
}

/// A start that cannot have all its serving threads (out of file descriptors: each thread's
/// runtime needs a few) is refused before it prints an address, the thread named.
#[test]
fn a_start_short_of_file_descriptors_is_refused_before_the_address() {
    let dir = TempDir::new("gw-fds");
    let config = gateway_config(&dir, "development", "127.0.0.1:9");
    let mut command = Command::new("sh");
    // 512 descriptors: the 256 sockets bind, the runtimes run out.
    command
        .args(["-c", "ulimit -n 512 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_switchyard"))
        .args(["gateway", "--config", config.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--threads", "256"]);
    let said = refused(&mut command);
    assert!(
        said.contains("serving thread") && said.contains("Too many open files"),
        "{said}"
    );
}

/// The handlers are in place before the address is printed: a signal sent the moment it is
/// read still gets the clean stop, for SIGTERM and SIGINT alike.
#[test]
fn a_signal_right_after_the_address_stops_cleanly() {
    let dir = TempDir::new("gw-early-signal");
    let config = gateway_config(&dir, "development", "127.0.0.1:9");
    for name in ["-TERM", "-INT"] {
        let (mut gw, line) = start(gateway(&config, "127.0.0.1:0"));
        assert!(line.starts_with("gateway http://127.0.0.1:"), "{line}");
        signal(&gw.0, name);
        assert_eq!(exit_code(&mut gw), Some(0), "{name}");
    }
}

/// Runs a start that must be refused: exit 2, no address, the reason on stderr.
fn refused(command: &mut Command) -> String {
    let mut child = spawn(command);
    // Bounded: a gateway that starts anyway fails the test rather than hanging it.
    let code = exit_code(&mut child);
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let mut stdout = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "no address printed: {stdout}");
    stderr
}

#[test]
fn production_without_client_keys_is_refused() {
    let dir = TempDir::new("gw-prod-no-keys");
    let config = gateway_config(&dir, "production", "127.0.0.1:9");
    let err = refused(&mut gateway(&config, "127.0.0.1:0"));
    assert!(
        err.contains("environment is production but gateway.keys is empty"),
        "{err}"
    );
    // The flag is for development; it does not open production.
    let err = refused(gateway(&config, "127.0.0.1:0").arg("--allow-unauthenticated"));
    assert!(err.contains("gateway.keys is empty"), "{err}");
}

#[test]
fn a_non_loopback_address_without_keys_needs_the_flag() {
    let dir = TempDir::new("gw-exposed");
    let config = gateway_config(&dir, "development", "127.0.0.1:9");
    let err = refused(&mut gateway(&config, "0.0.0.0:0"));
    assert!(
        err.contains("0.0.0.0:0") && err.contains("--allow-unauthenticated"),
        "{err}"
    );
    let mut allowed = gateway(&config, "0.0.0.0:0");
    allowed.arg("--allow-unauthenticated");
    let (mut gw, line) = start(allowed);
    assert!(line.starts_with("gateway http://0.0.0.0:"), "{line}");
    signal(&gw.0, "-TERM");
    assert_eq!(exit_code(&mut gw), Some(0));
}

/// Lines from a child's stderr, read on a thread so a test can wait for one within a bound.
fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Each of `lines`, parsed as JSON: a line that is not fails the test.
fn json_lines(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect()
}

/// Waits (10 s at most) for a line containing `text`; returns every line read until then.
fn wait_for(lines: &std::sync::mpsc::Receiver<String>, text: &str, seen: &mut Vec<String>) {
    let deadline = std::time::Duration::from_secs(10);
    loop {
        match lines.recv_timeout(deadline) {
            Ok(line) => {
                let found = line.contains(text);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(e) => panic!(
                "no line with `{text}` ({e}); stderr so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// The binary logs as configured: one JSON access-log line per request with its fields, a
/// line per reload (SIGHUP), and never the client key, the upstream key or the prompt.
#[test]
fn the_binary_logs_json_lines_without_keys_or_prompts() {
    const CLIENT_KEY: &str = "sk-client-SECRET-2b9d";
    const UPSTREAM_KEY: &str = "sk-upstream-SECRET-e5a0";
    const MARKER: &str = "PROMPT-MARKER-77c1";
    let dir = TempDir::new("gw-logs");
    let profile = dir.write(
        "p.yaml",
        "name: p\ndialect: openai\nmodels:\n  - { name: m }\nlatency:\n  first_token: { fixed: 1ms }\n  tokens_per_second: { fixed: 1000 }\noutput_tokens: { fixed: 4 }\n",
    );
    let mut fake = binary();
    fake.args(["fake", "serve", "--profile", profile.to_str().unwrap()]);
    let (_fake, line) = start(fake);
    let upstream = line.rsplit("http://").next().unwrap().to_owned();
    let config = dir.write(
        "gw.yaml",
        &format!(
            "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://{upstream}', mock_key: {UPSTREAM_KEY} }}\n\
             router:\n  targets:\n    - {{ name: ta, provider: a, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [ta] }}\n\
             gateway:\n  log_format: json\n  keys:\n    - {{ name: billing-app, sha256: {} }}\n",
            switchyard_gateway::sha256_hex(CLIENT_KEY)
        ),
    );
    let (mut gw, line) = start(gateway(&config, "127.0.0.1:0"));
    let addr = line.strip_prefix("gateway http://").unwrap().to_owned();
    let lines = stderr_lines(&mut gw.0);

    let body = format!(r#"{{"model":"chat","messages":[{{"role":"user","content":"{MARKER}"}}]}}"#);
    let bearer = format!("Bearer {CLIENT_KEY}");
    let headers = [("authorization", bearer.as_str())];
    let mut conn = post(&addr, "/v1/chat/completions", &headers, &body);
    let reply = read_until(&mut conn, "\"usage\"");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    let mut seen = Vec::new();
    wait_for(&lines, "switchyard::access", &mut seen);
    signal(&gw.0, "-HUP");
    wait_for(&lines, "reloaded", &mut seen);
    signal(&gw.0, "-TERM");
    assert_eq!(exit_code(&mut gw), Some(0));
    seen.extend(lines.try_iter());
    // Every line JSON, the drain line too (a log reader chokes on one that is not).
    assert!(
        seen.iter().any(|l| l.contains("SIGTERM: draining")),
        "{}",
        seen.join("\n")
    );
    for l in &seen {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "not JSON: {l}"
        );
    }

    let access: Vec<serde_json::Value> = seen
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "switchyard::access")
        .collect();
    assert_eq!(access.len(), 1, "{}", seen.join("\n"));
    let a = &access[0];
    assert_eq!(a["client"], "billing-app", "{a}");
    assert_eq!(a["route"], "chat", "{a}");
    assert_eq!(a["attempts"], "ta:success", "{a}");
    assert_eq!(a["status"], 200, "{a}");
    assert_eq!(a["completion_tokens"], 4, "{a}");
    assert!(
        a["request_id"].is_string() && a["latency_ms"].is_number(),
        "{a}"
    );
    let all = seen.join("\n");
    for secret in [CLIENT_KEY, UPSTREAM_KEY, MARKER] {
        assert!(!all.contains(secret), "`{secret}` on stderr:\n{all}");
    }
}

/// Connections in flight when SIGTERM arrived, enough that both serving threads hold some
/// (the kernel spreads connections by a hash of the client's port: all of them on one thread
/// is a 1 in 2^19 chance).
const IN_FLIGHT: usize = 20;

/// `gateway.threads: 2`: streams in flight on both serving threads when SIGTERM arrives all
/// finish with `[DONE]`, a new connection is refused, the process exits 0, each thread's
/// closing log line counts the connections it served (both served, together at least all of
/// them), and every stream has its access line: none of the lines the serving threads held
/// ([`switchyard_gateway::logging::Batching`]) is lost at shutdown.
#[test]
fn sigterm_drains_streams_in_flight_on_every_serving_thread() {
    let dir = TempDir::new("gw-drain-threads");
    // 40 tokens at 10 a second: streams of about 4 s, still running when the last one opens.
    let (_fake, upstream) = slow_fake(&dir, 40);
    let config = two_threads(&dir, &upstream, "  log_format: json\n");
    let (mut gw, line) = start(gateway(&config, "127.0.0.1:0"));
    let addr = line.strip_prefix("gateway http://").unwrap().to_owned();
    let lines = stderr_lines(&mut gw.0);

    let mut conns: Vec<TcpStream> = (0..IN_FLIGHT).map(|_| open_stream(&addr)).collect();
    for conn in &mut conns {
        let first = read_until(conn, "data: ");
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        assert!(!first.contains("[DONE]"), "still streaming: {first}");
    }

    signal(&gw.0, "-TERM");
    let mut seen = Vec::new();
    wait_for(&lines, "SIGTERM: draining", &mut seen);
    // Every thread's socket closes at once, not when its streams have drained (seconds on).
    refused_within(&addr, Duration::from_millis(500));
    for conn in &mut conns {
        let rest = read_until(conn, "data: [DONE]");
        assert!(rest.contains("data: [DONE]"), "the stream finished: {rest}");
    }
    assert_eq!(exit_code(&mut gw), Some(0));
    // The process is gone: the reader thread ends at the end of its stderr.
    seen.extend(lines.iter());
    let mut served = std::collections::BTreeMap::new();
    for v in seen
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "serving thread stopped")
    {
        served.insert(
            v["thread"].as_u64().unwrap(),
            v["connections"].as_u64().unwrap(),
        );
    }
    assert_eq!(served.len(), 2, "{}", seen.join("\n"));
    assert!(served.values().all(|&n| n > 0), "{served:?}");
    // At least the streams: `refused_within` may have connected before the sockets closed.
    assert!(
        served.values().sum::<u64>() >= IN_FLIGHT as u64,
        "{served:?}"
    );
    let streamed = seen
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "switchyard::access" && v["result"] == "ok")
        .count();
    assert_eq!(streamed, IN_FLIGHT, "{}", seen.join("\n"));
}

/// `--threads` and `gateway.threads` refuse 0 and absurd counts (exit 2): the config with its
/// file, line and column.
#[test]
fn zero_or_absurd_thread_counts_are_refused() {
    let dir = TempDir::new("gw-threads-bad");
    let config = gateway_config(&dir, "development", "127.0.0.1:9");
    for n in ["0", "257"] {
        let err = refused(gateway(&config, "127.0.0.1:0").args(["--threads", n]));
        assert!(err.contains("--threads"), "{err}");
    }
    let text = std::fs::read_to_string(&config).unwrap();
    let bad = dir.write("bad.yaml", &format!("{text}gateway:\n  threads: 0\n"));
    let err = refused(&mut gateway(&bad, "127.0.0.1:0"));
    let line = text.lines().count() + 2;
    assert!(
        err.contains(&format!("bad.yaml:{line}:")) && err.contains("gateway.threads"),
        "{err}"
    );
}

/// `--threads` wins over `gateway.threads`: one serving thread, so one closing line.
#[test]
fn the_threads_flag_wins_over_the_config() {
    let dir = TempDir::new("gw-threads-flag");
    let config = gateway_config(&dir, "development", "127.0.0.1:9");
    let text = std::fs::read_to_string(&config).unwrap();
    let two = dir.write("two.yaml", &format!("{text}gateway:\n  threads: 2\n"));
    for (flag, threads) in [(None, 2), (Some("1"), 1)] {
        let mut command = gateway(&two, "127.0.0.1:0");
        if let Some(n) = flag {
            command.args(["--threads", n]);
        }
        let (mut gw, _) = start(command);
        let lines = stderr_lines(&mut gw.0);
        signal(&gw.0, "-TERM");
        assert_eq!(exit_code(&mut gw), Some(0));
        let stopped: Vec<String> = lines
            .iter()
            .filter(|l| l.contains("serving thread stopped"))
            .collect();
        assert_eq!(stopped.len(), threads, "{flag:?}: {stopped:?}");
    }
}

/// A second gateway on a port the first one serves is refused (exit 2), as with a single
/// socket: sockets with `SO_REUSEPORT` would otherwise let it take a share of the connections.
#[test]
fn a_second_gateway_on_the_same_port_is_refused() {
    let dir = TempDir::new("gw-same-port");
    let config = gateway_config(&dir, "development", "127.0.0.1:9");
    let (mut first, line) = start(gateway(&config, "127.0.0.1:0"));
    let addr = line.strip_prefix("gateway http://").unwrap().to_owned();
    let err = refused(&mut gateway(&config, &addr));
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    signal(&first.0, "-TERM");
    assert_eq!(exit_code(&mut first), Some(0));
}

/// `max_in_flight` holds across serving threads: with 2 threads and `max_in_flight: 8`, 12
/// slow streams opened at once get exactly 8 admitted and 4 shed (503), wherever the kernel
/// put their connections.
#[test]
fn max_in_flight_sheds_across_serving_threads() {
    const LIMIT: usize = 8;
    const EXTRA: usize = 4;
    let dir = TempDir::new("gw-shed-threads");
    // 40 tokens at 10 a second: streams of about 4 s, still running when the last one opens.
    let (_fake, upstream) = slow_fake(&dir, 40);
    let config = two_threads(&dir, &upstream, &format!("  max_in_flight: {LIMIT}\n"));
    let (_gw, line) = start(gateway(&config, "127.0.0.1:0"));
    let addr = line.strip_prefix("gateway http://").unwrap().to_owned();
    let mut conns: Vec<TcpStream> = (0..LIMIT + EXTRA).map(|_| open_stream(&addr)).collect();
    let mut statuses = std::collections::BTreeMap::new();
    for conn in &mut conns {
        let head = read_until(conn, "\r\n\r\n");
        let status = head.get(9..12).unwrap_or("").to_owned();
        if status == "200" {
            // Admitted: still streaming, so its permit was held while the others came.
            let more = read_until(conn, "data: ");
            assert!(!more.contains("[DONE]"), "still streaming: {more}");
        }
        *statuses.entry(status).or_insert(0usize) += 1;
    }
    assert_eq!(
        statuses,
        [("200".to_owned(), LIMIT), ("503".to_owned(), EXTRA)].into(),
        "{statuses:?}"
    );
}
