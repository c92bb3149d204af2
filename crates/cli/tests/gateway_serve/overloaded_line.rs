//! RV (review of issue 13): the status line of `/v1/messages`' 529, as a client reads it off
//! the wire.

use super::*;

/// A request shed on `/v1/messages` gets Anthropic's 529 with a reason phrase a person can
/// read (`529 Overloaded`), not hyper's placeholder for a status it has no name for
/// (`529 <none>`), which HTTP clients, proxies and logs show as the reason.
#[test]
fn the_messages_529_has_a_reason_phrase_not_hypers_placeholder() {
    // 40 tokens at 10 a second: a stream of about 4 s, holding the only permit.
    let one = |dir: &TempDir, upstream: &str| two_threads(dir, upstream, "  max_in_flight: 1\n");
    let held = stream_open("gw-529-line", 40, one, &[]);
    let body = r#"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut conn = post(&held.addr, "/v1/messages", &[], body);
    let head = read_until(&mut conn, "\r\n\r\n");
    let status_line = head.lines().next().unwrap_or("");
    assert!(status_line.starts_with("HTTP/1.1 529 "), "{head}");
    assert_eq!(status_line, "HTTP/1.1 529 Overloaded", "{head}");
}
