//! The pooled HTTP client's connections, against a bare HTTP/1.1 server on 127.0.0.1:0 that
//! counts the connections it accepts and the requests it reads.
#![expect(clippy::unwrap_used, reason = "test helpers")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{Request, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use switchyard_live::HttpClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct Counts {
    connections: AtomicUsize,
    requests: AtomicUsize,
    /// The `Host` header of the last request.
    host: std::sync::Mutex<String>,
}

/// Serves `HTTP/1.1 200` with a 5-byte body to every request; with `close_after_reply`, closes
/// each connection after its first reply without saying so (as a server whose keep-alive
/// timed out does).
async fn start(close_after_reply: bool) -> (String, Arc<Counts>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            c.connections.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One request: its head, then its content-length bytes.
                    let end = loop {
                        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if let Some(host) = head.lines().find_map(|l| l.strip_prefix("host:")) {
                        *c.host.lock().unwrap() = host.trim().to_owned();
                    }
                    while buf.len() < end + length {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..end + length);
                    c.requests.fetch_add(1, Ordering::SeqCst);
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
                    if tcp.write_all(reply).await.is_err() || close_after_reply {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), counts, task)
}

fn post(url: &str) -> Request<Full<Bytes>> {
    Request::post(format!("{url}/v1/chat/completions"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap()
}

async fn send(client: &HttpClient, url: &str) -> Bytes {
    let response = tokio::time::timeout(Duration::from_secs(10), client.send(post(url)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn one_connection_serves_requests_one_after_another() {
    let (url, counts, task) = start(false).await;
    let client = HttpClient::new();
    for _ in 0..5 {
        assert_eq!(send(&client, &url).await, "hello");
    }
    assert_eq!(counts.requests.load(Ordering::SeqCst), 5);
    assert_eq!(counts.connections.load(Ordering::SeqCst), 1);
    // The request went out in origin form with the authority as its Host.
    assert_eq!(
        *counts.host.lock().unwrap(),
        url.trim_start_matches("http://")
    );
    task.abort();
}

#[tokio::test]
async fn requests_at_once_get_connections_of_their_own_then_share_them() {
    let (url, counts, task) = start(false).await;
    let client = HttpClient::new();
    let both = futures_util::future::join(send(&client, &url), send(&client, &url)).await;
    assert_eq!(both, (Bytes::from("hello"), Bytes::from("hello")));
    let opened = counts.connections.load(Ordering::SeqCst);
    assert!((1..=2).contains(&opened), "{opened} connections");
    for _ in 0..4 {
        send(&client, &url).await;
    }
    assert_eq!(counts.connections.load(Ordering::SeqCst), opened);
    task.abort();
}

#[tokio::test]
async fn a_connection_the_server_closed_is_not_used_again() {
    let (url, counts, task) = start(true).await;
    let client = HttpClient::new();
    for _ in 0..4 {
        assert_eq!(send(&client, &url).await, "hello");
    }
    assert_eq!(counts.requests.load(Ordering::SeqCst), 4);
    assert_eq!(counts.connections.load(Ordering::SeqCst), 4);
    task.abort();
}

#[tokio::test]
async fn a_body_dropped_unread_does_not_leave_a_broken_connection_behind() {
    let (url, counts, task) = start(false).await;
    let client = HttpClient::new();
    for _ in 0..3 {
        let response = tokio::time::timeout(Duration::from_secs(10), client.send(post(&url)))
            .await
            .unwrap()
            .unwrap();
        drop(response);
    }
    assert_eq!(send(&client, &url).await, "hello");
    assert_eq!(counts.requests.load(Ordering::SeqCst), 4);
    task.abort();
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = HttpClient::new();
    let result = tokio::time::timeout(Duration::from_secs(10), client.send(post(&url)))
        .await
        .unwrap();
    assert!(matches!(
        result,
        Err(switchyard_live::transport::TransportError::Connect(_))
    ));
}

/// A connection's task runs on the runtime that opened it, so the pool never hands it to a
/// request on another runtime (on the gateway, another serving thread): each runtime opens
/// its own connection, and reuses it.
#[test]
fn a_connection_is_reused_only_on_the_runtime_that_opened_it() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (url, counts, task) = server.block_on(start(false));
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let (a, b) = (runtime(), runtime());
    let client = HttpClient::new();
    assert_eq!(a.block_on(send(&client, &url)), "hello");
    assert_eq!(counts.connections.load(Ordering::SeqCst), 1);
    // Runtime `a`'s idle connection is not `b`'s to take.
    assert_eq!(b.block_on(send(&client, &url)), "hello");
    assert_eq!(counts.connections.load(Ordering::SeqCst), 2);
    for _ in 0..3 {
        a.block_on(send(&client, &url));
        b.block_on(send(&client, &url));
    }
    assert_eq!(counts.requests.load(Ordering::SeqCst), 8);
    assert_eq!(counts.connections.load(Ordering::SeqCst), 2);
    task.abort();
}
