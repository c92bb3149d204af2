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
