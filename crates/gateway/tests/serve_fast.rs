//! `serve`'s fast path for `POST /v1/chat/completions` against hyper's, over real sockets:
//! the same bytes on the wire, a client that leaves, shutdown.
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `serve` in front of the fake `a` with this profile (`latency` and `output_tokens` lines).
async fn start(profile: &str) -> Served {
    let gw = with_fake(&config(TA, CHAT_TA, ""), fake_with("a", "openai", profile));
    listen(gw, Duration::from_secs(5)).await
}

const QUICK: &str = "latency:\n  first_token: { fixed: 1ms }\n  tokens_per_second: { fixed: 10000 }\noutput_tokens: { fixed: 5 }\n";

/// A chat request's bytes: `content-length` (the fast path) or chunked (hyper's), with
/// `extra` header lines.
fn request(body: &str, chunked: bool, extra: &str) -> String {
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {CLIENT_KEY}\r\ncontent-type: application/json\r\n{extra}"
    );
    if chunked {
        format!(
            "{head}transfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
    } else {
        format!("{head}content-length: {}\r\n\r\n{body}", body.len())
    }
}

/// A response as read off the wire: status line, headers in order, the body (de-chunked).
#[derive(Debug, PartialEq)]
struct Wire {
    status: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// One response's parts, from the whole of what a connection received.
fn wire(raw: &[u8]) -> Wire {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_owned(), v.to_owned())
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Wire {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            assert_eq!(after, "\r\n", "the last chunk ends the body");
            return body;
        }
        body.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap();
    }
}

/// Values that differ from one request to the next blanked: `date`, `x-request-id`, and the
/// reply's ids, times and text (the fake's words are drawn at random), so its length too
/// (checked against the body first).
fn blanked(mut w: Wire) -> Wire {
    for (n, v) in &mut w.headers {
        if n == "content-length" {
            assert_eq!(v.parse::<usize>().unwrap(), w.body.len());
        }
        if n == "date" || n == "x-request-id" || n == "content-length" {
            assert!(!v.is_empty());
            *v = "-".to_owned();
        }
    }
    for field in ["\"id\":\"", "\"created\":", "\"content\":\""] {
        let mut out = String::new();
        let mut rest = w.body.as_str();
        while let Some(at) = rest.find(field) {
            out.push_str(&rest[..at + field.len()]);
            rest = &rest[at + field.len()..];
            let end = rest.find([',', '"', '}']).unwrap();
            out.push('-');
            rest = &rest[end..];
        }
        out.push_str(rest);
        w.body = out;
    }
    w
}

/// The same request on the fast path and through hyper (its body chunked, which the fast
/// path leaves to hyper) gives the same status line, the same headers in the same order and
/// the same body: a JSON reply, a stream, a 401, a 400.
#[tokio::test]
async fn the_fast_path_writes_what_hyper_writes() {
    let log = Captured::start();
    let mut served = start(QUICK).await;
    let stream = r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let cases = [
        (chat(false), "connection: close\r\n"),
        (stream.to_owned(), "connection: close\r\n"),
        (
            chat(false),
            "connection: close\r\nauthorization: Bearer wrong\r\n",
        ),
        ("{not json".to_owned(), "connection: close\r\n"),
    ];
    for (body, extra) in &cases {
        let fast = wire(&exchange(served.addr, &request(body, false, extra)).await);
        let hyper = wire(&exchange(served.addr, &request(body, true, extra)).await);
        served.took(&[("fast", 1), ("chat_not_canonical", 1)]).await;
        assert!(fast.headers.iter().any(|(n, _)| n == "date"), "{fast:?}");
        assert_eq!(blanked(fast), blanked(hyper), "{body} {extra:?}");
    }
    served.stop().await;
    assert_eq!(log.access().len(), 2 * cases.len());
}

/// `n` outside OpenAI's 1..=128 (zero, negative, above 128, not an integer) is refused with
/// a 400 naming `n`, the same on the fast path and through hyper, by the gateway itself (its
/// access line `refused`, no attempt: the fake refuses such an `n` too); 128 is served.
#[tokio::test]
async fn n_outside_one_to_128_is_refused_naming_n_on_both_paths() {
    let log = Captured::start();
    let mut served = start(QUICK).await;
    let close = "connection: close\r\n";
    let with_n = |n: &str| {
        format!(r#"{{"model":"chat","n":{n},"messages":[{{"role":"user","content":"hi"}}]}}"#)
    };
    for n in ["0", "-1", "129", "4294967296", "1.5", "\"2\""] {
        let body = with_n(n);
        let fast = wire(&exchange(served.addr, &request(&body, false, close)).await);
        let hyper = wire(&exchange(served.addr, &request(&body, true, close)).await);
        served.took(&[("fast", 1), ("chat_not_canonical", 1)]).await;
        assert_eq!(fast.status, "HTTP/1.1 400 Bad Request", "n {n}: {fast:?}");
        let error: serde_json::Value = serde_json::from_str(&fast.body).unwrap();
        assert_eq!(error["error"]["param"], "n", "n {n}: {error}");
        assert_eq!(
            error["error"]["type"], "invalid_request_error",
            "n {n}: {error}"
        );
        assert_eq!(blanked(fast), blanked(hyper), "n {n}");
    }
    let most = wire(&exchange(served.addr, &request(&with_n("128"), false, close)).await);
    assert_eq!(most.status, "HTTP/1.1 200 OK", "{most:?}");
    served.stop().await;
    let lines = log.access_lines(13).await;
    let seen: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["result"].as_str().unwrap(),
                l["attempts"].as_str().unwrap(),
            )
        })
        .collect();
    let mut want = vec![("refused", "-"); 12];
    want.push(("ok", "ta:success"));
    assert_eq!(seen, want, "{}", log.text());
}

/// Requests the fast path does not serve are hyper's, answered as before, and counted by
/// why: a chunked body, a client that expects 100-continue, a body sent after a pause,
/// HTTP/1.0, a head larger than the fast path reads, a body larger than it buffers, another
/// path, another path after a chat request on the same connection, requests pipelined in one
/// write, a garbage head (400), a head larger than hyper's (431).
#[tokio::test]
async fn what_the_fast_path_leaves_is_answered_by_hyper() {
    let mut served = start(QUICK).await;
    let close = "connection: close\r\n";
    let status = |raw: &[u8]| wire(raw).status;
    let ok = "HTTP/1.1 200 OK";
    assert_eq!(
        status(&exchange(served.addr, &request(&chat(false), true, close)).await),
        ok
    );
    served.took(&[("chat_not_canonical", 1)]).await;
    let expect = exchange(
        served.addr,
        &request(
            &chat(false),
            false,
            "expect: 100-continue\r\nconnection: close\r\n",
        ),
    )
    .await;
    let expect = String::from_utf8(expect).unwrap();
    assert!(
        expect.contains("\r\n\r\nHTTP/1.1 200 OK\r\n") || expect.starts_with(ok),
        "{expect}"
    );
    served.took(&[("chat_not_canonical", 1)]).await;
    let http10 = request(&chat(false), false, close).replacen("HTTP/1.1", "HTTP/1.0", 1);
    assert_eq!(
        status(&exchange(served.addr, &http10).await),
        "HTTP/1.0 200 OK"
    );
    served.took(&[("chat_not_canonical", 1)]).await;
    let big = format!("x-big: {}\r\n{close}", "y".repeat(100 * 1024));
    assert_eq!(
        status(&exchange(served.addr, &request(&chat(false), false, &big)).await),
        ok
    );
    served.took(&[("head_unread", 1)]).await;
    let huge = format!("x-big: {}\r\n{close}", "y".repeat(500 * 1024));
    let raw = exchange(served.addr, &request(&chat(false), false, &huge)).await;
    assert_eq!(status(&raw), "HTTP/1.1 431 Request Header Fields Too Large");
    let raw = exchange(served.addr, "\x01\x02 garbage\r\n\r\n").await;
    assert_eq!(status(&raw), "HTTP/1.1 400 Bad Request");
    served.took(&[("head_unread", 2)]).await;
    let large = chat(false).replace(MARKER, &"y ".repeat(150 * 1024));
    assert_eq!(
        status(&exchange(served.addr, &request(&large, false, close)).await),
        ok
    );
    served.took(&[("body_large", 1)]).await;
    let healthz = format!("GET /healthz HTTP/1.1\r\nhost: gw\r\n{close}\r\n");
    assert_eq!(status(&exchange(served.addr, &healthz).await), ok);
    served.took(&[("not_chat", 1)]).await;

    // Head, pause, body.
    let whole = request(&chat(false), false, close);
    let at = whole.find("\r\n\r\n").unwrap() + 4;
    let mut tcp = TcpStream::connect(served.addr).await.unwrap();
    tcp.write_all(&whole.as_bytes()[..at]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tcp.write_all(&whole.as_bytes()[at..]).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    assert_eq!(status(&out), ok);
    served.took(&[("body_later", 1)]).await;

    // A chat request, then `/healthz`, then chat again, pipelined in one write: the first
    // on the fast path, the connection then hyper's.
    let pipelined = format!(
        "{}GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n{}",
        request(&chat(false), false, ""),
        request(&chat(false), false, close)
    );
    let text = String::from_utf8(exchange(served.addr, &pipelined).await).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{text}");
    assert_eq!(text.matches("\"chat.completion\"").count(), 2, "{text}");
    served.took(&[("fast", 1), ("not_chat", 1)]).await;
    served.stop().await;
}

/// `serve` in front of a fake whose first token comes after `first`, then `per_second`.
async fn slow(first: &str, per_second: u32) -> Served {
    start(&format!(
        "latency:\n  first_token: {{ fixed: {first} }}\n  tokens_per_second: {{ fixed: {per_second} }}\noutput_tokens: {{ fixed: 30 }}\n"
    ))
    .await
}

/// A connection with a chat request sent on it, once the gateway has it in flight.
async fn in_flight(served: &Served) -> TcpStream {
    let mut tcp = TcpStream::connect(served.addr).await.unwrap();
    tcp.write_all(request(&chat(false), false, "").as_bytes())
        .await
        .unwrap();
    while served.gw.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tcp
}

/// A client that leaves before its reply, and one that leaves mid-stream, on the fast path:
/// each request is dropped as the client leaves (not when the next token would have been
/// written), its line says `client_closed`, the stream's books what it delivered.
#[tokio::test]
async fn a_client_that_leaves_is_noticed_at_once() {
    let log = Captured::start();
    let served = slow("2s", 10_000).await;
    let tcp = in_flight(&served).await;
    let left = tokio::time::Instant::now();
    drop(tcp);
    let line = log.access_lines(1).await.remove(0);
    assert!(
        left.elapsed() < Duration::from_millis(1500),
        "{:?}",
        left.elapsed()
    );
    assert_eq!(line["status"], 499, "{line}");
    assert_eq!(line["result"], "client_closed", "{line}");

    served.stop().await;
    // One token a second: the next write would come a second after the client left.
    let served = slow("1ms", 1).await;
    let stream = r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut tcp = TcpStream::connect(served.addr).await.unwrap();
    tcp.write_all(request(stream, false, "").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("\"content\":\"") {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&chunk[..n]);
    }
    let left = tokio::time::Instant::now();
    drop(tcp);
    let line = log.access_lines(2).await.remove(1);
    assert!(
        left.elapsed() < Duration::from_millis(800),
        "{:?}",
        left.elapsed()
    );
    assert_eq!(line["result"], "client_closed", "{line}");
    assert!(line["completion_tokens"].as_u64().unwrap() >= 1, "{line}");
    assert_eq!(line["attempts"], "ta:cancelled", "{line}");
    served.stop().await;
}

/// Shutdown closes an idle keep-alive connection at once (not at the end of the grace), and
/// a fast-path request in flight finishes, its response saying `connection: close`.
#[tokio::test]
async fn shutdown_closes_idle_connections_and_finishes_the_request_in_flight() {
    let served = start(QUICK).await;
    let mut idle = TcpStream::connect(served.addr).await.unwrap();
    idle.write_all(request(&chat(false), false, "").as_bytes())
        .await
        .unwrap();
    let mut first = [0u8; 64];
    let n = idle.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200 OK"));
    let took = served.stop().await;
    assert!(took < Duration::from_secs(3), "{took:?}");

    let served = slow("500ms", 10_000).await;
    let mut tcp = in_flight(&served).await;
    let stopping = tokio::spawn(served.stop());
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let w = wire(&out);
    assert_eq!(w.status, "HTTP/1.1 200 OK", "{w:?}");
    assert!(
        w.headers
            .contains(&("connection".to_owned(), "close".to_owned())),
        "{w:?}"
    );
    assert!(w.body.contains("\"chat.completion\""), "{w:?}");
    stopping.await.unwrap();
}

/// RV3: two requests pipelined in one write, then the client half-closes (shuts its write
/// side, as `printf ... | nc -N` does). hyper answers the first request (it sees the EOF
/// only while the second is buffered, so `mid_message_detect_eof` does not cancel the first)
/// and closes. The fast path reads ahead past the buffered second request, takes the EOF for
/// the client leaving, drops the first request in flight (`client_closed`, 499) and closes
/// without a byte: a change from hyper's behaviour for half-closing clients.
#[tokio::test]
async fn pipelined_requests_then_a_half_close_are_answered_as_hyper_does() {
    let served = slow("200ms", 10_000).await;
    let mut answered = Vec::new();
    for chunked in [true, false] {
        let two = format!(
            "{}{}",
            request(&chat(false), chunked, ""),
            request(&chat(false), chunked, "connection: close\r\n")
        );
        let mut tcp = TcpStream::connect(served.addr).await.unwrap();
        tcp.write_all(two.as_bytes()).await.unwrap();
        tcp.shutdown().await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        answered.push(text.matches("HTTP/1.1 200 OK\r\n").count());
    }
    // hyper (chunked bodies) first, then the fast path (content-length).
    assert!(answered[0] >= 1, "hyper answered {answered:?}");
    assert!(
        answered[1] >= answered[0],
        "hyper vs fast path: {answered:?}"
    );
    served.stop().await;
}

/// RV3: a client that opens a connection and never finishes its head (slowloris) held it,
/// and up to 64 KiB of buffer, for ever. A head must now be whole 30 s after its first byte
/// on the fast path (`HEAD_READ_TIMEOUT`), and hyper's own 30 s `header_read_timeout` (inert
/// without a timer before) covers the connections handed to it: one connection sends part of
/// a chat head (the fast path's), the other a whole `GET /healthz` (handing it to hyper) and
/// then part of a head. Takes 30 s.
#[tokio::test]
async fn a_head_that_never_ends_is_closed_within_30_s_on_either_path() {
    let served = start(QUICK).await;
    let addr = served.addr;
    let partial = |first: &'static str| async move {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(first.as_bytes()).await.unwrap();
        tcp.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(35), tcp.read_to_end(&mut out)).await;
        (read.is_ok(), String::from_utf8_lossy(&out).into_owned())
    };
    let (fast, hyper) = tokio::join!(
        partial(""),
        partial("GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n")
    );
    assert!(
        fast.0,
        "fast path: still open after 35 s with a partial head"
    );
    assert!(hyper.0, "hyper: still open after 35 s with a partial head");
    assert!(
        hyper.1.starts_with("HTTP/1.1 200"),
        "the whole request was answered: {}",
        hyper.1
    );
    served.stop().await;
}
