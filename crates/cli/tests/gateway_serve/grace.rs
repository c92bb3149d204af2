//! `gateway.shutdown_grace`: how long the drain gives requests in flight.

use super::*;

/// With `shutdown_grace: 1s`, a stream that would take about 20 s more is cut once the
/// grace has passed (not at once): its access line says `shutdown`, the drain line says the
/// grace, and the process exits 0 within `exit_code`'s 10 s. With `0s`, the same, at once.
/// A reload (SIGHUP) to another grace meanwhile keeps the one read at start.
#[test]
fn a_configured_grace_cuts_what_is_still_in_flight_when_it_runs_out() {
    for (grace, secs) in [("1s", 1), ("0s", 0)] {
        let took = drain_with_grace(grace, secs);
        assert!(
            took >= Duration::from_secs(secs),
            "{grace}: cut before the grace: {took:?}"
        );
        // Not much later either: `0s` cuts at once (the serving threads' runtimes end within
        // 0.5 s), so a grace ignored or taken from the reload would fail here.
        assert!(
            took < Duration::from_secs(secs) + Duration::from_millis(1500),
            "{grace}: cut long after the grace: {took:?}"
        );
    }
}

/// A gateway with `shutdown_grace: grace` serving a 20 s stream, sent SIGTERM: checks what
/// the test above says, and returns the time from the signal to the exit.
#[expect(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "measuring another process's drain in wall-clock time: there is no other clock"
)]
fn drain_with_grace(grace: &str, secs: u64) -> Duration {
    // 200 tokens at 10 a second: a stream of about 20 s, far past the grace.
    let extra = format!("  log_format: json\n  shutdown_grace: {grace}\n");
    let with_grace = |dir: &TempDir, upstream: &str| two_threads(dir, upstream, &extra);
    let mut s = stream_open("gw-grace", 200, with_grace, &[]);

    // Read at start: a reload to another grace keeps this one.
    let mut seen = Vec::new();
    let reloaded = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace(&format!("shutdown_grace: {grace}"), "shutdown_grace: 30s");
    std::fs::write(&s.config, reloaded).unwrap();
    signal(&s.gw.0, "-HUP");
    wait_for(&s.lines, "reloaded", &mut seen);
    let signalled = std::time::Instant::now();
    signal(&s.gw.0, "-TERM");
    wait_for(&s.lines, "draining", &mut seen);
    assert_eq!(exit_code(&mut s.gw), Some(0), "{grace}: {seen:?}");
    let took = signalled.elapsed();
    let rest = read_until(&mut s.stream, "data: [DONE]");
    assert!(
        !rest.contains("[DONE]"),
        "{grace}: the stream was cut: {rest}"
    );
    // Its last event the in-band error an SDK raises, not a transport error.
    assert!(
        rest.contains(r#""code":"shutdown""#),
        "{grace}: no in-band error: {rest}"
    );
    seen.extend(s.lines.iter());
    let all = seen.join("\n");
    let json = json_lines(&seen);
    let drain = json
        .iter()
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("draining"))
        })
        .unwrap_or_else(|| panic!("no drain line: {all}"));
    assert_eq!(drain["grace_s"], secs as f64, "{drain}");
    let access: Vec<&serde_json::Value> = json
        .iter()
        .filter(|v| v["target"] == "switchyard::access")
        .collect();
    assert_eq!(access.len(), 1, "{all}");
    assert_eq!(access[0]["result"], "shutdown", "{all}");
    took
}

/// A grace out of bounds (more than 1h) or not a duration is refused at start, exit 2,
/// naming the file, line, column and field.
#[test]
fn a_bad_shutdown_grace_is_refused_with_its_location() {
    for bad in ["2h", "soon"] {
        let dir = TempDir::new("gw-grace-bad");
        let config = two_threads(&dir, "127.0.0.1:9", &format!("  shutdown_grace: {bad}\n"));
        let err = refused(&mut gateway(&config, "127.0.0.1:0"));
        // Line 10, `shutdown_grace:` under `gateway:` (`two_threads`'s ninth line is `threads`).
        assert!(
            err.contains("gw.yaml:10:3: field `gateway.shutdown_grace`"),
            "{bad}: {err}"
        );
    }
}
