//! `serve` over a socket on 127.0.0.1:0: the chat endpoint it calls directly behaves as the
//! route in `app` does (status, `x-request-id`, one access line, body limit, shedding), and
//! every other request reaches the router.

mod support;

use std::time::Duration;

use support::*;

async fn start(gateway: &str) -> Served {
    listen(
        rig(&config(TA, CHAT_TA, gateway)).gw,
        Duration::from_secs(5),
    )
    .await
}

#[tokio::test]
async fn the_chat_endpoint_over_a_socket_answers_and_logs_one_line() {
    let log = Captured::start();
    let mut served = start("").await;
    let auth = format!("POST /v1/chat/completions HTTP/1.1\r\nauthorization: Bearer {CLIENT_KEY}");
    let (status, text) = over_tcp(served.addr, &auth, &chat(false)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"chat.completion\""), "{text}");
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap()
        .to_owned();
    // Without a key: the same endpoint's 401, logged too.
    let (status, _) = over_tcp(
        served.addr,
        "POST /v1/chat/completions HTTP/1.1",
        &chat(false),
    )
    .await;
    assert_eq!(status, 401);
    // Both canonical: the fast path's.
    served.took(&[("fast", 2)]).await;
    served.stop().await;
    let lines = log.access();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["request_id"], id.as_str());
    assert_eq!(lines[0]["path"], "/v1/chat/completions");
    assert_eq!(lines[0]["route"], "chat");
    assert_eq!(lines[0]["client"], "app");
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["served_by"], "ta");
    assert_eq!(lines[1]["status"], 401);
    assert!(!log.text().contains(CLIENT_KEY));
    assert!(!log.text().contains(MARKER));
}

/// A whole reply (JSON, an error) goes out with `content-length`, the length of its body, not
/// chunked; a stream is chunked.
#[tokio::test]
async fn a_whole_reply_carries_its_length_and_a_stream_is_chunked() {
    let served = start("").await;
    let auth = format!("POST /v1/chat/completions HTTP/1.1\r\nauthorization: Bearer {CLIENT_KEY}");
    let head_and_body = |text: &str| {
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head.to_ascii_lowercase(), body.to_owned())
    };
    for (request, status) in [
        (auth.as_str(), 200),
        ("POST /v1/chat/completions HTTP/1.1", 401),
    ] {
        let (got, text) = over_tcp(served.addr, request, &chat(false)).await;
        assert_eq!(got, status, "{text}");
        let (head, body) = head_and_body(&text);
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len()))
                || head.ends_with(&format!("\r\ncontent-length: {}", body.len())),
            "{head}"
        );
    }
    let (got, text) = over_tcp(served.addr, &auth, &chat(true)).await;
    assert_eq!(got, 200, "{text}");
    let (head, body) = head_and_body(&text);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    assert!(body.contains("data: [DONE]"), "{body}");
    served.stop().await;
}

#[tokio::test]
async fn the_chat_endpoint_over_a_socket_keeps_the_body_limit() {
    let mut served = start("  max_body_bytes: 64\n").await;
    let auth = format!("POST /v1/chat/completions HTTP/1.1\r\nauthorization: Bearer {CLIENT_KEY}");
    let (status, text) = over_tcp(served.addr, &auth, &chat(false)).await;
    assert_eq!(status, 413, "{text}");
    // A body over the limit: hyper's (which answers 413).
    served.took(&[("chat_not_canonical", 1)]).await;
    served.stop().await;
}

#[tokio::test]
async fn other_requests_reach_the_router() {
    let mut served = start("").await;
    let auth = format!("GET /v1/chat/completions HTTP/1.1\r\nauthorization: Bearer {CLIENT_KEY}");
    assert_eq!(over_tcp(served.addr, &auth, "").await.0, 405);
    let (status, text) = over_tcp(served.addr, "GET /v1/nope HTTP/1.1", "").await;
    assert_eq!(status, 404, "{text}");
    assert_eq!(
        over_tcp(served.addr, "GET /healthz HTTP/1.1", "").await.0,
        200
    );
    let models = format!("GET /v1/models HTTP/1.1\r\nauthorization: Bearer {CLIENT_KEY}");
    let (status, text) = over_tcp(served.addr, &models, "").await;
    assert_eq!(status, 200);
    assert!(text.contains("\"chat\""), "{text}");
    // Each on a connection of its own, handed to hyper.
    served.took(&[("not_chat", 4)]).await;
    served.stop().await;
}

/// A stream still running when shutdown's grace runs out is cut by the gateway, and its
/// access line says so (`shutdown`), not that its client left (`client_closed`); `serve`
/// returns once it is cut, not leaving it running on the caller's runtime. Breaks tried: the
/// `is_cutting` arm removed (the line says `client_closed`), the connections spawned loose
/// as before, not in a set aborted at the grace (no line before `serve` returns).
#[tokio::test]
async fn a_request_cut_at_the_end_of_the_grace_is_logged_shutdown() {
    let log = Captured::start();
    let slow = "latency:\n  first_token: { fixed: 10ms }\n  tokens_per_second: { fixed: 20 }\noutput_tokens: { fixed: 400 }\n";
    let gw = with_fake(&config(TA, CHAT_TA, ""), fake_with("a", "openai", slow));
    let served = listen(gw, Duration::from_millis(300)).await;
    let mut tcp = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    let body = chat(true);
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nauthorization: Bearer {CLIENT_KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 512];
    let n = tcp.read(&mut first).await.unwrap();
    assert!(
        first[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );
    tokio::time::timeout(Duration::from_secs(10), served.stop())
        .await
        .unwrap();
    let lines = log.access();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["result"], "shutdown", "{lines:?}");
    assert_eq!(lines[0]["status"], 200, "{lines:?}");
    drop(tcp);
}

/// An Anthropic stream cut at the end of shutdown's grace should end as README says a stream
/// that breaks after it began ends on `/v1/messages`: with an `error` event the SDK raises
/// (say `overloaded_error`), not a bare close, which the `anthropic` SDK surfaces as httpx's
/// `RemoteProtocolError` ("incomplete chunked read"), no `anthropic.APIError` at all.
#[tokio::test]
async fn an_anthropic_stream_cut_at_the_end_of_the_grace_ends_with_an_error_event() {
    let slow = "latency:\n  first_token: { fixed: 10ms }\n  tokens_per_second: { fixed: 20 }\noutput_tokens: { fixed: 400 }\n";
    let gw = with_fake(&config(TA, CHAT_TA, ""), fake_with("a", "openai", slow));
    let served = listen(gw, Duration::from_millis(300)).await;
    let mut tcp = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    let body = r#"{"model":"chat","max_tokens":400,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nx-api-key: {CLIENT_KEY}\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 512];
    let n = tcp.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    let reader = tokio::spawn(async move {
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest)).await;
        String::from_utf8_lossy(&rest).into_owned()
    });
    tokio::time::timeout(Duration::from_secs(10), served.stop())
        .await
        .unwrap();
    let rest = reader.await.unwrap();
    assert!(!rest.contains("message_stop"), "not cut: {rest}");
    assert!(rest.contains("event: error"), "{rest}");
}
