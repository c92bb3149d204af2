//! A second SIGTERM or SIGINT during the drain stops the gateway at once.

use super::*;

/// SIGINT while a slow stream is served starts the drain (the stream would take seconds
/// more); SIGINT again stops the process at once, exit 1, saying so, the stream cut.
#[test]
fn a_second_signal_during_the_drain_stops_at_once() {
    for (first, second) in [("-INT", "-INT"), ("-TERM", "-INT")] {
        let dir = TempDir::new("gw-second-signal");
        // 200 tokens at 10 a second: a stream of about 20 s, far past the bound below.
        let (_fake, upstream) = slow_fake(&dir, 200);
        let config = gateway_config(&dir, "development", &upstream);
        let (mut gw, line) = start(gateway(&config, "127.0.0.1:0"));
        let addr = line.strip_prefix("gateway http://").unwrap().to_owned();
        let mut conn = open_stream(&addr);
        let began = read_until(&mut conn, "data: ");
        assert!(began.starts_with("HTTP/1.1 200"), "{began}");

        let lines = stderr_lines(&mut gw.0);
        let mut seen = Vec::new();
        signal(&gw.0, first);
        wait_for(&lines, "draining", &mut seen);
        signal(&gw.0, second);
        wait_for(&lines, "again: stopping now", &mut seen);
        // Within 10 s (`exit_code`'s bound), though the stream had seconds left.
        assert_eq!(
            exit_code(&mut gw),
            Some(1),
            "{first} then {second}: {seen:?}"
        );
        let rest = read_until(&mut conn, "data: [DONE]");
        assert!(!rest.contains("[DONE]"), "the stream was cut: {rest}");
    }
}

/// A request answered just before a forced stop keeps its access line: a serving thread
/// holds that line up to `MAX_HOLD` (100 ms), and the second signal cuts the serving threads
/// and waits for them to write what they held, rather than exiting under them (which lost
/// it: found by review).
#[test]
fn a_forced_stop_keeps_the_access_lines_of_requests_already_answered() {
    let dir = TempDir::new("gw-second-signal-held");
    // A stream of about 20 s keeps the drain going past the second signal.
    let (_fake, upstream) = slow_fake(&dir, 200);
    let config = two_threads(&dir, &upstream, "  log_format: json\n");
    // One serving thread: the answered request's and the stream's, which is still draining.
    let mut command = gateway(&config, "127.0.0.1:0");
    command.args(["--threads", "1"]);
    let (mut gw, line) = start(command);
    let addr = line.strip_prefix("gateway http://").unwrap().to_owned();
    let lines = stderr_lines(&mut gw.0);
    let mut stream = open_stream(&addr);
    let began = read_until(&mut stream, "data: ");
    assert!(began.starts_with("HTTP/1.1 200"), "{began}");

    // Answered at once (an unknown model), its access line held by its serving thread.
    let body = r#"{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}"#;
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        conn,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let reply = read_until(&mut conn, "model_not_found");
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    // Two different signals: both are delivered, the second stopping the drain at once.
    signal(&gw.0, "-TERM");
    signal(&gw.0, "-INT");
    assert_eq!(exit_code(&mut gw), Some(1));
    let seen: Vec<String> = lines.iter().collect();
    assert!(
        seen.iter().any(|l| l.contains("again: stopping now")),
        "{}",
        seen.join("\n")
    );
    let answered = seen
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "switchyard::access" && v["status"] == 404)
        .count();
    assert_eq!(answered, 1, "{}", seen.join("\n"));
}

/// A stream cut by a forced stop has its access line, `result: shutdown`, as one cut at the
/// end of the grace has (docs/GATEWAY.md's `shutdown` result); and with `log_format: json`
/// every line on stderr is JSON, the forced stop's too (a log reader chokes on one that is
/// not): its warning says it, no plain-text error line follows.
#[test]
fn a_stream_cut_by_a_forced_stop_is_logged_shutdown_in_json_lines_only() {
    let dir = TempDir::new("gw-second-signal-cut");
    let (_fake, upstream) = slow_fake(&dir, 200);
    let config = two_threads(&dir, &upstream, "  log_format: json\n");
    let (mut gw, line) = start(gateway(&config, "127.0.0.1:0"));
    let addr = line.strip_prefix("gateway http://").unwrap().to_owned();
    let lines = stderr_lines(&mut gw.0);
    let mut stream = open_stream(&addr);
    let began = read_until(&mut stream, "data: ");
    assert!(began.starts_with("HTTP/1.1 200"), "{began}");
    let mut seen = Vec::new();
    signal(&gw.0, "-TERM");
    wait_for(&lines, "draining", &mut seen);
    signal(&gw.0, "-INT");
    assert_eq!(exit_code(&mut gw), Some(1));
    seen.extend(lines.iter());
    let all = seen.join("\n");
    assert!(
        seen.iter().any(|l| l.contains("again: stopping now")),
        "{all}"
    );
    let json: Vec<serde_json::Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let cut = json
        .iter()
        .filter(|v| v["target"] == "switchyard::access" && v["result"] == "shutdown")
        .count();
    assert_eq!(cut, 1, "{all}");
}
