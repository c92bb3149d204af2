//! A second SIGTERM or SIGINT during the drain stops the gateway at once.

use super::*;

/// SIGINT while a slow stream is served starts the drain (the stream would take seconds
/// more); SIGINT again stops the process at once, exit 1, saying so, the stream cut.
#[test]
fn a_second_signal_during_the_drain_stops_at_once() {
    for (first, second) in [("-INT", "-INT"), ("-TERM", "-INT")] {
        // 200 tokens at 10 a second: a stream of about 20 s, far past the bound below.
        let development = |dir: &TempDir, up: &str| gateway_config(dir, "development", up);
        let mut s = stream_open("gw-second-signal", 200, development, &[]);
        let mut seen = Vec::new();
        signal(&s.gw.0, first);
        wait_for(&s.lines, "draining", &mut seen);
        signal(&s.gw.0, second);
        wait_for(&s.lines, "again: stopping now", &mut seen);
        // Within 10 s (`exit_code`'s bound), though the stream had seconds left.
        assert_eq!(
            exit_code(&mut s.gw),
            Some(1),
            "{first} then {second}: {seen:?}"
        );
        let rest = read_until(&mut s.stream, "data: [DONE]");
        assert!(!rest.contains("[DONE]"), "the stream was cut: {rest}");
    }
}

/// A request answered just before a forced stop keeps its access line: a serving thread
/// holds that line up to `MAX_HOLD` (100 ms), and the second signal cuts the serving threads
/// and waits for them to write what they held, rather than exiting under them (which lost
/// it: found by review).
#[test]
fn a_forced_stop_keeps_the_access_lines_of_requests_already_answered() {
    // A stream of about 20 s keeps the drain going past the second signal; one serving
    // thread: the answered request's and the stream's, which is still draining.
    let mut s = stream_open("gw-second-signal-held", 200, json, &["--threads", "1"]);

    // Answered at once (an unknown model), its access line held by its serving thread.
    let body = r#"{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}"#;
    let mut conn = post(&s.addr, "/v1/chat/completions", &[], body);
    let reply = read_until(&mut conn, "model_not_found");
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    // Two different signals: both are delivered, the second stopping the drain at once.
    signal(&s.gw.0, "-TERM");
    signal(&s.gw.0, "-INT");
    assert_eq!(exit_code(&mut s.gw), Some(1));
    let seen: Vec<String> = s.lines.iter().collect();
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
    let mut s = stream_open("gw-second-signal-cut", 200, json, &[]);
    let mut seen = Vec::new();
    signal(&s.gw.0, "-TERM");
    wait_for(&s.lines, "draining", &mut seen);
    signal(&s.gw.0, "-INT");
    assert_eq!(exit_code(&mut s.gw), Some(1));
    seen.extend(s.lines.iter());
    let all = seen.join("\n");
    assert!(
        seen.iter().any(|l| l.contains("again: stopping now")),
        "{all}"
    );
    let json = json_lines(&seen);
    let cut = json
        .iter()
        .filter(|v| v["target"] == "switchyard::access" && v["result"] == "shutdown")
        .count();
    assert_eq!(cut, 1, "{all}");
}

/// Two serving threads, JSON logs (a [`stream_open`] config).
fn json(dir: &TempDir, upstream: &str) -> std::path::PathBuf {
    two_threads(dir, upstream, "  log_format: json\n")
}
