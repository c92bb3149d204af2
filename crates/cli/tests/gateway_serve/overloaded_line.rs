//! RV (review of issue 13): the status line of `/v1/messages`' 529, as a client reads it off
//! the wire.

use super::*;

/// A request shed on `/v1/messages` gets Anthropic's 529 with a reason phrase a person can
/// read (`529 Overloaded`), not hyper's placeholder for a status it has no name for
/// (`529 <none>`), which HTTP clients, proxies and logs show as the reason.
#[test]
fn the_messages_529_has_a_reason_phrase_not_hypers_placeholder() {
    let dir = TempDir::new("gw-529-line");
    // 40 tokens at 10 a second: a stream of about 4 s, holding the only permit.
    let (_fake, upstream) = slow_fake(&dir, 40);
    let config = two_threads(&dir, &upstream, "  max_in_flight: 1\n");
    let (_gw, line) = start(gateway(&config, "127.0.0.1:0"));
    let addr = line.strip_prefix("gateway http://").unwrap().to_owned();
    let mut held = open_stream(&addr);
    let began = read_until(&mut held, "data: ");
    assert!(began.starts_with("HTTP/1.1 200"), "{began}");
    let body = r#"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let head = read_until(&mut conn, "\r\n\r\n");
    let status_line = head.lines().next().unwrap_or("");
    assert!(status_line.starts_with("HTTP/1.1 529 "), "{head}");
    assert_eq!(status_line, "HTTP/1.1 529 Overloaded", "{head}");
}
