//! Writes to a client that reads slowly or not at all: the permit is given back once the
//! reply is whole, and a write that waits [`super::SEND_TIMEOUT`] on the client ends the
//! connection, on the fast path and on hyper's.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tests::chat;
use crate::Gateway;

/// A gateway at `max_in_flight: 1` whose one target answers `tokens` tokens at once, serving
/// one connection as every connection is served (the fast path, then hyper from the first
/// request that is not canonical) with small socket buffers (4 KiB each way: a little of a
/// reply fills them): the gateway, the client's end, and the task serving the connection.
async fn never_reading(tokens: u32) -> (Arc<Gateway>, TcpStream, tokio::task::JoinHandle<()>) {
    let text = "providers:\n  - { name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake', mock_key: k }\n\
                router:\n  targets:\n    - { name: ta, provider: a, model: m }\n  routes:\n    - { name: chat, policy: static, targets: [ta] }\n\
                gateway:\n  max_in_flight: 1\n";
    let params = switchyard_live::config::load_live(text, "gw.yaml").unwrap();
    let profile = format!(
        "name: a\ndialect: openai\nmodels:\n  - {{ name: m }}\noutput_tokens: {{ fixed: {tokens} }}\n\
         latency:\n  first_token: {{ fixed: 0ms }}\n  tokens_per_second: {{ fixed: 10000000 }}\n"
    );
    let fake = switchyard_fake::server::router(
        switchyard_fake::load_profile(&profile, "p.yaml").unwrap(),
        1,
    );
    let transport =
        switchyard_live::Transport::new(switchyard_live::InProcess::new().with("a.fake", fake));
    let gw = Gateway::new(&params, None, transport).unwrap();
    // The accepted socket inherits the listener's buffer size.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(8).unwrap();
    let client = tokio::net::TcpSocket::new_v4().unwrap();
    client.set_recv_buffer_size(4096).unwrap();
    let client = client
        .connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let (keep, closing) = tokio::sync::watch::channel(false);
    let dispatch = super::super::Dispatch {
        router: crate::app(gw.clone()),
        gateway: gw.clone(),
    };
    let served = tokio::spawn(async move {
        let _keep = keep;
        super::super::connection(tcp, dispatch, closing).await;
    });
    (gw, client, served)
}

/// A client that sends requests and never reads its replies: once the socket's buffers are
/// full the fast path waits in its last write. Replies are written before their body is
/// dropped (the access line after the reply), but the body gives its `max_in_flight` permit
/// back once it has given its last frame: the wait holds no permit, and at
/// `max_in_flight: 1` other clients are not shed for it (RV3's finding).
#[tokio::test]
async fn a_client_that_never_reads_does_not_hold_a_permit() {
    let (gw, client, served) = never_reading(3).await;
    // Pipelined requests, never a reply read: far more reply bytes than the buffers hold.
    let (_read_half, mut write_half) = client.into_split();
    let writer = tokio::spawn(async move {
        for _ in 0..400 {
            if write_half.write_all(chat("").as_bytes()).await.is_err() {
                break;
            }
        }
        write_half
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !served.is_finished(),
        "the connection is still being served"
    );
    // Nothing is being worked on for that client: it only does not read.
    assert!(
        crate::shed::admit(&gw).is_some(),
        "a request whose reply waits on a client that does not read holds the only permit"
    );
    served.abort();
    writer.abort();
}

/// As [`a_client_that_never_reads_does_not_hold_a_permit`], with one streamed reply larger
/// than the socket's buffers: the fast path waits in a write between the stream's frames,
/// the body is not polled to its end, and the permit was held for as long as the client did
/// not read (RV4's finding: at `max_in_flight: N`, N such clients shed everyone). A write
/// that waits longer than [`super::SEND_TIMEOUT`] (60 s, nginx's `send_timeout`) ends the
/// connection, and the permit is given back.
#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_a_stream_does_not_hold_a_permit_forever() {
    let gw = held_until_the_send_timeout(&stream_request(false)).await;
    let mut metrics = String::new();
    gw.tally.render(&mut metrics);
    assert!(
        metrics.contains("switchyard_fast_path_requests_total 1"),
        "{metrics}"
    );
}

/// As [`a_client_that_never_reads_a_stream_does_not_hold_a_permit_forever`], on hyper's path
/// (a request body sent chunked is not the fast path's): hyper's writes are bounded by the
/// same send timeout (`Rewind`), and the connection ends, giving the permit back.
#[tokio::test(start_paused = true)]
async fn on_hypers_path_too_a_client_that_never_reads_a_stream_does_not_hold_a_permit_forever() {
    let gw = held_until_the_send_timeout(&stream_request(true)).await;
    let mut metrics = String::new();
    gw.tally.render(&mut metrics);
    assert!(
        metrics.contains("reason=\"chat_not_canonical\"} 1"),
        "served by hyper: {metrics}"
    );
}

/// A streamed chat request for 20 000 tokens, its body chunked (hyper's path) or not.
fn stream_request(chunked: bool) -> String {
    let body = r#"{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    if chunked {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
    } else {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

/// Sends `request` (a stream larger than the sockets' buffers) from a client that never
/// reads: the stream holds the only permit while it waits on the client, less than the send
/// timeout; past the timeout the connection has ended and the permit is back.
async fn held_until_the_send_timeout(request: &str) -> Arc<Gateway> {
    let (gw, mut client, served) = never_reading(20_000).await;
    client.write_all(request.as_bytes()).await.unwrap();
    // Far longer than the fake needs to make the whole stream (20 000 tokens at 10M/s),
    // less than the send timeout: the stream waits on the client, holding the permit.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !served.is_finished(),
        "the connection is still being served"
    );
    assert!(
        crate::shed::admit(&gw).is_none(),
        "the stream holds the only permit"
    );
    // Past the send timeout: the connection ends, the permit is back.
    tokio::time::sleep(super::SEND_TIMEOUT).await;
    assert!(
        served.is_finished(),
        "the connection still waits on the client"
    );
    assert!(
        crate::shed::admit(&gw).is_some(),
        "a stream whose bytes wait on a client that does not read holds the only permit"
    );
    gw
}

/// hyper's send timeout is of one write's wait, not of the connection's: a client that stalls
/// for most of it, then reads a little, then stalls again gets a full [`super::SEND_TIMEOUT`]
/// for the new wait (a timer left from the first would end the connection early).
#[tokio::test(start_paused = true)]
async fn on_hypers_path_a_client_that_reads_again_gets_a_new_send_timeout() {
    let (gw, mut client, served) = never_reading(20_000).await;
    client
        .write_all(stream_request(true).as_bytes())
        .await
        .unwrap();
    // Most of the timeout spent waiting on the client.
    tokio::time::sleep(super::SEND_TIMEOUT - Duration::from_secs(10)).await;
    assert!(!served.is_finished(), "ended before its send timeout");
    // The client reads some of the reply (the gateway's write goes on), then stops again.
    let mut buf = vec![0u8; 16 * 1024];
    let mut read = 0;
    for _ in 0..8 {
        match tokio::time::timeout(Duration::from_millis(1), client.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            _ => break,
        }
        tokio::task::yield_now().await;
    }
    assert!(read > 0, "the client read nothing");
    tokio::task::yield_now().await;
    // Past the first wait's 60 s, within the new wait's: still served.
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert!(
        !served.is_finished(),
        "the new wait was cut short by the first one's timer"
    );
    assert!(
        crate::shed::admit(&gw).is_none(),
        "the stream holds the only permit"
    );
    // Past the new wait's 60 s: ended, the permit back.
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert!(
        served.is_finished(),
        "the connection still waits on the client"
    );
    assert!(crate::shed::admit(&gw).is_some());
}

/// A client that reads a large reply slowly but steadily (4 KiB a second, for longer than
/// [`super::SEND_TIMEOUT`] in all) gets all of it: the send timeout bounds each wait on the
/// client, as nginx's `send_timeout` does, not the whole write of a body.
#[tokio::test(start_paused = true)]
async fn a_slow_but_steady_reader_gets_a_large_reply_whole() {
    let (_gw, mut client, served) = never_reading(120_000).await;
    client.write_all(chat("").as_bytes()).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let whole = loop {
        let n = client.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection ended after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            if got.len() >= end + 4 + length {
                break got.len();
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let took = started.elapsed();
    assert!(
        took > super::SEND_TIMEOUT,
        "the reply ({whole} bytes) took {took:?}: too small to outlast the send timeout"
    );
    assert!(!served.is_finished(), "the connection is kept alive");
    served.abort();
}
