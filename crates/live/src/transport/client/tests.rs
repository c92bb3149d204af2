//! The client over real sockets, against tiny servers on 127.0.0.1:0 that write exactly the
//! bytes a test gives them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Serves each accepted connection with `handler` (given the connection's number, from 0);
/// returns the base URL and the count of connections accepted.
async fn serve<F, Fut>(handler: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(TcpStream, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let n = c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handler(tcp, n));
        }
    });
    (url, count)
}

/// Reads one request (its head, then its content-length bytes) off `tcp`, `buf` holding
/// what came after it; false at the connection's end.
async fn read_request<S: AsyncRead + Unpin>(tcp: &mut S, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < end + length {
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf.drain(..end + length);
    true
}

/// Whether the peer closed `tcp` (reads to its end, within 10 s).
async fn closed_by_peer<S: AsyncRead + Unpin>(tcp: &mut S) -> bool {
    let mut sink = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut sink)).await,
        Ok(Ok(0) | Err(_))
    )
}

fn post(url: &str) -> HttpRequest {
    axum::http::Request::post(format!("{url}/v1/chat/completions"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap()
}

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap()
}

async fn text(client: &HttpClient, url: &str) -> Result<String, std::io::Error> {
    let response = within(client.send(post(url))).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = within(response.into_body().collect())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(String::from_utf8(body.to_bytes().to_vec()).unwrap())
}

#[tokio::test]
async fn chunked_replies_one_after_another_share_one_connection() {
    let (url, connections) = serve(|mut tcp, _| async move {
        let mut buf = Vec::new();
        while read_request(&mut tcp, &mut buf).await {
            let reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                          3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
            if tcp.write_all(reply).await.is_err() {
                return;
            }
        }
    })
    .await;
    let client = HttpClient::new();
    for _ in 0..5 {
        assert_eq!(text(&client, &url).await.unwrap(), "abcde");
        assert_eq!(client.0.pool.idle(), 1);
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_delimited_by_the_connections_end_is_read_whole_and_not_pooled() {
    let (url, connections) = serve(|mut tcp, _| async move {
        let mut buf = Vec::new();
        if read_request(&mut tcp, &mut buf).await {
            let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil ").await;
            let _ = tcp.write_all(b"the end").await;
        }
    })
    .await;
    let client = HttpClient::new();
    for n in 1..=3 {
        assert_eq!(text(&client, &url).await.unwrap(), "until the end");
        assert_eq!(client.0.pool.idle(), 0);
        assert_eq!(connections.load(Ordering::SeqCst), n);
    }
}

#[tokio::test]
async fn a_body_dropped_before_its_end_closes_its_connection() {
    let (tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    let (url, connections) = serve(move |mut tcp, n| {
        let tx = tx.clone();
        async move {
            let mut buf = Vec::new();
            while read_request(&mut tcp, &mut buf).await {
                if n == 0 {
                    // Half the body, then wait: the client must close the connection.
                    let _ = tcp
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello")
                        .await;
                    let _ = tx.send(closed_by_peer(&mut tcp).await);
                    return;
                }
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfresh";
                let _ = tcp.write_all(reply).await;
            }
        }
    })
    .await;
    let client = HttpClient::new();
    let response = within(client.send(post(&url))).await.unwrap();
    let mut body = response.into_body();
    let first = within(body.frame()).await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "hello");
    drop(body);
    assert_eq!(client.0.pool.idle(), 0);
    assert!(
        within(closed.recv()).await.unwrap(),
        "the connection stayed open"
    );
    assert_eq!(text(&client, &url).await.unwrap(), "fresh");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced_by_a_new_one() {
    let (tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    let (url, connections) = serve(move |mut tcp, n| {
        let tx = tx.clone();
        async move {
            let mut buf = Vec::new();
            while read_request(&mut tcp, &mut buf).await {
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if tcp.write_all(reply).await.is_err() {
                    return;
                }
                if n == 0 {
                    // The keep-alive timeout of a server: closed without a word.
                    drop(tcp);
                    let _ = tx.send(());
                    return;
                }
            }
        }
    })
    .await;
    let client = HttpClient::new();
    assert_eq!(text(&client, &url).await.unwrap(), "ok");
    assert_eq!(client.0.pool.idle(), 1);
    within(closed.recv()).await.unwrap();
    // Lets the runtime's IO driver see the close, as it does between requests.
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    for _ in 0..3 {
        assert_eq!(text(&client, &url).await.unwrap(), "ok");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

/// Reads one request off a blocking `tcp` (as [`read_request`]); false at its end.
fn read_request_blocking(tcp: &mut std::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    use std::io::Read;
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + length {
                buf.drain(..end + 4 + length);
                return true;
            }
        }
        match tcp.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether the one idle connection's socket has the server's close in it (a peek, which
/// leaves the runtime's IO driver as it was).
fn idle_socket_closed(client: &HttpClient) -> bool {
    let targets = client.0.pool.targets();
    let Some((conn, _)) = targets.first().and_then(|t| t.conns.first()) else {
        return false;
    };
    let Stream::Plain(tcp) = &conn.io else {
        return false;
    };
    let mut byte = [std::mem::MaybeUninit::uninit()];
    matches!(socket2::SockRef::from(tcp).peek(&mut byte), Ok(0))
}

/// A server that answers with keep-alive and closes the connection right after (its idle
/// timeout running out at that moment): the close has reached the client's socket, but not
/// the runtime's IO driver (it has not polled since: the test holds the thread), when the
/// next request takes the connection from the pool. That request goes on a new connection;
/// on the closed one it would be written, then fail, and never be sent again.
#[tokio::test]
async fn a_connection_closed_before_the_runtime_saw_it_is_not_taken() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (close, close_rx) = std::sync::mpsc::channel::<()>();
    let (closed, closed_rx) = std::sync::mpsc::channel::<()>();
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = connections.clone();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut tcp in listener.incoming().map_while(Result::ok) {
            let first = accepted.fetch_add(1, Ordering::SeqCst) == 0;
            let mut buf = Vec::new();
            while read_request_blocking(&mut tcp, &mut buf) {
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if tcp.write_all(reply).is_err() {
                    break;
                }
                if first {
                    // Closed when the test says, while the client holds the connection idle.
                    let _ = close_rx.recv();
                    drop(tcp);
                    let _ = closed.send(());
                    break;
                }
            }
        }
    });
    let client = HttpClient::new();
    assert_eq!(text(&client, &url).await.unwrap(), "ok");
    assert_eq!(client.0.pool.idle(), 1);
    // From here to the next request's take, this thread does not yield: its runtime's IO
    // driver does not poll.
    close.send(()).unwrap();
    closed_rx.recv().unwrap();
    // The close in the socket (loopback delivers it at once; a bounded spin for a slow one).
    let mut spins = 0u32;
    while !idle_socket_closed(&client) {
        spins += 1;
        assert!(spins < 10_000_000, "the close never reached the socket");
        std::thread::yield_now();
    }
    assert_eq!(text(&client, &url).await.unwrap(), "ok");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_streamed_reply_passes_chunk_by_chunk() {
    let (ack_tx, ack_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let ack_rx = Arc::new(tokio::sync::Mutex::new(ack_rx));
    let (url, _) = serve(move |mut tcp, _| {
        let ack_rx = ack_rx.clone();
        async move {
            let mut buf = Vec::new();
            if !read_request(&mut tcp, &mut buf).await {
                return;
            }
            let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                         transfer-encoding: chunked\r\n\r\n";
            tcp.write_all(head).await.unwrap();
            let mut acks = ack_rx.lock().await;
            for i in 0..3 {
                let event = format!("data: {i}\n\n");
                let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                tcp.write_all(chunk.as_bytes()).await.unwrap();
                // The next event only once the client has this one.
                if acks.recv().await.is_none() {
                    return;
                }
            }
            tcp.write_all(b"0\r\n\r\n").await.unwrap();
            let _ = read_request(&mut tcp, &mut buf).await;
        }
    })
    .await;
    let client = HttpClient::new();
    let response = within(client.send(post(&url))).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    for i in 0..3 {
        let frame = within(body.frame()).await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), format!("data: {i}\n\n"));
        ack_tx.send(()).unwrap();
    }
    assert!(within(body.frame()).await.is_none());
    assert_eq!(client.0.pool.idle(), 1);
}

#[tokio::test]
async fn informational_replies_before_the_response_are_skipped() {
    let (url, _) = serve(|mut tcp, _| async move {
        let mut buf = Vec::new();
        while read_request(&mut tcp, &mut buf).await {
            let reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\
                          link: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if tcp.write_all(reply).await.is_err() {
                return;
            }
        }
    })
    .await;
    let client = HttpClient::new();
    for _ in 0..2 {
        assert_eq!(text(&client, &url).await.unwrap(), "ok");
    }
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_not_a_short_success() {
    for reply in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello"[..],
        &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"[..],
        &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel"[..],
    ] {
        let (url, _) = serve(move |mut tcp, _| async move {
            let mut buf = Vec::new();
            if read_request(&mut tcp, &mut buf).await {
                let _ = tcp.write_all(reply).await;
            }
        })
        .await;
        let client = HttpClient::new();
        let got = text(&client, &url).await;
        assert!(got.is_err(), "{got:?}");
        assert_eq!(client.0.pool.idle(), 0);
    }
}

#[tokio::test]
async fn a_head_that_does_not_end_is_an_error_not_a_growing_buffer() {
    let (url, _) = serve(|mut tcp, _| async move {
        let mut buf = Vec::new();
        if read_request(&mut tcp, &mut buf).await {
            let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\nx-long: ").await;
            let filler = vec![b'a'; 16 * 1024];
            // More than the bound, and the connection stays open.
            for _ in 0..8 {
                if tcp.write_all(&filler).await.is_err() {
                    return;
                }
            }
            closed_by_peer(&mut tcp).await;
        }
    })
    .await;
    let client = HttpClient::new();
    let result = within(client.send(post(&url))).await;
    assert!(
        matches!(&result, Err(TransportError::Connect(m)) if m.contains("64 KiB") || m.contains("65536")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_request_dropped_before_its_reply_leaves_no_connection_behind() {
    let (tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    let (url, _) = serve(move |mut tcp, _| {
        let tx = tx.clone();
        async move {
            let mut buf = Vec::new();
            if read_request(&mut tcp, &mut buf).await {
                // Half a head, then nothing.
                let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\n").await;
                let _ = tx.send(closed_by_peer(&mut tcp).await);
            }
        }
    })
    .await;
    let client = HttpClient::new();
    let late = tokio::time::timeout(Duration::from_millis(200), client.send(post(&url))).await;
    assert!(late.is_err(), "a reply came");
    assert_eq!(client.0.pool.idle(), 0);
    assert!(
        within(closed.recv()).await.unwrap(),
        "the connection stayed open"
    );
}

/// Over TLS (rustls on both ends, the server's certificate an extra root of the client's):
/// the handshake, then requests one after another on the one connection.
#[tokio::test]
async fn https_requests_share_one_tls_connection() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(include_bytes!("localhost.crt")).unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("localhost.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let (url, connections) = serve(move |tcp, _| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let mut buf = Vec::new();
            while read_request(&mut tls, &mut buf).await {
                let reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                              6\r\nsecret\r\n0\r\n\r\n";
                if tls.write_all(reply).await.is_err() || tls.flush().await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    // The certificate as an extra root (`gateway.upstream_ca_file`), beside the webpki ones.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = HttpClient::with_extra_roots(&roots).unwrap();
    let url = url.replace("http://", "https://");
    for _ in 0..3 {
        assert_eq!(text(&client, &url).await.unwrap(), "secret");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert_eq!(client.0.pool.idle(), 1);
    // A client with only the webpki roots does not trust that certificate.
    let plain = HttpClient::new();
    assert!(within(plain.send(post(&url))).await.is_err());
}

/// The hint to set `gateway.upstream_ca_file` comes with an unknown authority only.
#[test]
fn only_an_unknown_authority_gets_the_ca_file_hint() {
    let hinted = super::with_hint("invalid peer certificate: UnknownIssuer".to_owned());
    assert!(hinted.contains("gateway.upstream_ca_file"), "{hinted}");
    for other in [
        "invalid peer certificate: Expired",
        "invalid peer certificate: NotValidForName",
        "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
        "tcp connect error: Connection refused (os error 111)",
    ] {
        assert_eq!(super::with_hint(other.to_owned()), other);
    }
}

/// Extra roots add to the webpki ones: a client with a private authority still reaches the
/// public vendors. (The configuration's verifier shows its root store as a count.)
#[test]
fn extra_roots_keep_the_webpki_ones() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::from_pem_slice(include_bytes!("localhost.crt")).unwrap();
    let mut extra = rustls::RootCertStore::empty();
    extra.add(cert).unwrap();
    let webpki = webpki_roots::TLS_SERVER_ROOTS.len();
    let config = format!("{:?}", super::tls_config(&extra).unwrap());
    assert!(
        config.contains(&format!("({} roots)", webpki + 1)),
        "{config}"
    );
}

#[tokio::test]
async fn a_reply_that_came_whole_frees_its_connection_before_its_body_is_read() {
    let (url, connections) = serve(|mut tcp, _| async move {
        let mut buf = Vec::new();
        while read_request(&mut tcp, &mut buf).await {
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
            if tcp.write_all(reply).await.is_err() {
                return;
            }
        }
    })
    .await;
    let client = HttpClient::new();
    let first = within(client.send(post(&url))).await.unwrap();
    assert_eq!(client.0.pool.idle(), 1);
    // The connection serves the next request while the first body is still unread.
    assert_eq!(text(&client, &url).await.unwrap(), "hello");
    let body = within(first.into_body().collect()).await.unwrap();
    assert_eq!(body.to_bytes(), "hello");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

/// A stream's reader stops at its last event and drops the body with the last chunk (its
/// `0\r\n\r\n`) unread: the connection goes back when that end has arrived, and is closed
/// when it has not.
#[tokio::test]
async fn a_stream_dropped_after_its_last_event_keeps_its_connection_if_its_end_came() {
    let (tx, mut sent) = tokio::sync::mpsc::unbounded_channel();
    let (url, connections) = serve(move |mut tcp, _| {
        let tx = tx.clone();
        async move {
            let mut buf = Vec::new();
            let mut requests = 0;
            while read_request(&mut tcp, &mut buf).await {
                requests += 1;
                let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                let _ = tcp.write_all(head).await;
                let _ = tcp.write_all(b"7\r\ndata: 1\r\n").await;
                // The first reply sends its end; the second holds it back.
                if requests == 1 {
                    let _ = tcp.write_all(b"0\r\n\r\n").await;
                }
                let _ = tx.send(());
            }
        }
    })
    .await;
    let client = HttpClient::new();
    for expected in [1, 0] {
        let response = within(client.send(post(&url))).await.unwrap();
        let mut body = response.into_body();
        let frame = within(body.frame()).await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "data: 1");
        within(sent.recv()).await.unwrap();
        // Lets the runtime's IO driver see what arrived.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        drop(body);
        assert_eq!(client.0.pool.idle(), expected);
        // Both requests went on the first connection: its end had come.
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }
}

/// Data left unread closes the connection even when the rest of the body has arrived.
#[tokio::test]
async fn a_stream_dropped_with_data_unread_closes_its_connection() {
    let (tx, mut sent) = tokio::sync::mpsc::unbounded_channel();
    let (url, connections) = serve(move |mut tcp, _| {
        let tx = tx.clone();
        async move {
            let mut buf = Vec::new();
            while read_request(&mut tcp, &mut buf).await {
                let reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                              1\r\na\r\n1\r\nb\r\n0\r\n\r\n";
                let _ = tcp.write_all(reply).await;
                let _ = tx.send(());
            }
        }
    })
    .await;
    let client = HttpClient::new();
    let response = within(client.send(post(&url))).await.unwrap();
    within(sent.recv()).await.unwrap();
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    let mut body = response.into_body();
    let frame = within(body.frame()).await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "a");
    drop(body);
    assert_eq!(client.0.pool.idle(), 0);
    assert_eq!(text(&client, &url).await.unwrap(), "ab");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

// ---- Reviewer RU (branch h-RU): tests for the lead to cherry-pick. ----

/// Reviewer RU, FAILS on h-U 726bc91 (bug): a vendor that refuses a request too large for it
/// answers 413 as soon as it has read the head, and closes without reading the rest (as
/// front ends do). The client writes the whole body before reading anything, so the write
/// fails on the reset and the vendor's 413 (the error the user can act on, and a client
/// error the router must not fail over on) becomes a connection failure. The reply must come
/// back, and its connection must not be pooled (the request was never written whole).
#[tokio::test]
async fn ru_an_early_reply_to_a_request_still_being_written_is_returned() {
    let (url, _) = serve(|mut tcp, _| async move {
        let mut head = Vec::new();
        let mut chunk = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
        let error = br#"{"error":{"type":"request_too_large"}}"#;
        let reply = format!(
            "HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            error.len()
        );
        let _ = tcp.write_all(reply.as_bytes()).await;
        let _ = tcp.write_all(error).await;
        // The rest of the body unread; closed a moment later (a reset, data being unread).
        tokio::time::sleep(Duration::from_millis(300)).await;
    })
    .await;
    let client = HttpClient::new();
    let request = axum::http::Request::post(format!("{url}/v1/messages"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(vec![b'x'; 32 << 20])))
        .unwrap();
    let response = within(client.send(request)).await;
    let response = match response {
        Ok(r) => r,
        Err(e) => panic!("the vendor's 413 was lost: {e}"),
    };
    assert_eq!(response.status(), 413);
    let body = within(response.into_body().collect()).await.unwrap();
    assert_eq!(
        body.to_bytes(),
        &br#"{"error":{"type":"request_too_large"}}"#[..]
    );
    assert_eq!(client.0.pool.idle(), 0);
}

/// An early reply from a server that keeps the connection open and reads no further (no
/// `connection: close`): it comes back at once, not at the deadline, with its body, and the
/// connection, the request on it half written, is not pooled.
#[tokio::test]
async fn an_early_reply_from_a_server_that_stops_reading_is_returned_at_once() {
    let (url, _) = serve(|mut tcp, _| async move {
        let mut head = Vec::new();
        let mut chunk = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
        let reply = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 6\r\n\r\ndenied";
        let _ = tcp.write_all(reply).await;
        // Open, unread, well past the test's own 10 s bound.
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let client = HttpClient::new();
    let request = axum::http::Request::post(format!("{url}/v1/messages"))
        .body(Full::new(Bytes::from(vec![b'x'; 32 << 20])))
        .unwrap();
    let response = within(client.send(request)).await.unwrap();
    assert_eq!(response.status(), 401);
    let body = within(response.into_body().collect()).await.unwrap();
    assert_eq!(body.to_bytes(), &b"denied"[..]);
    assert_eq!(client.0.pool.idle(), 0);
}

/// A request that says `connection: close` (a provider's `headers:` can) keeps its
/// connection out of the pool even when the reply says nothing of it and the server keeps
/// the socket open; without the header the same reply's connection is pooled.
#[tokio::test]
async fn a_request_that_asks_to_close_keeps_its_connection_out_of_the_pool() {
    for (value, pooled) in [
        ("close", false),
        ("keep-alive, Close", false),
        ("keep-alive", true),
    ] {
        let (url, _) = serve(|mut tcp, _| async move {
            let mut buf = Vec::new();
            while read_request(&mut tcp, &mut buf).await {
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if tcp.write_all(reply).await.is_err() {
                    return;
                }
            }
        })
        .await;
        let client = HttpClient::new();
        let mut request = post(&url);
        request
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static(value));
        let response = within(client.send(request)).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = within(response.into_body().collect()).await.unwrap();
        assert_eq!(body.to_bytes(), &b"ok"[..]);
        assert_eq!(client.0.pool.idle(), usize::from(pooled), "{value}");
    }
}

/// A server that keeps idle connections `timeout=1` second gets them back half a second
/// early: a request after 0.7 s idle opens a new connection (and the expired one is closed),
/// where without the header it reuses the first; `timeout=0` is never pooled.
#[tokio::test]
async fn a_servers_keep_alive_timeout_is_honoured_with_a_margin() {
    for (keep_alive, idle, connections) in [
        ("keep-alive: timeout=1\r\n", 1, 2),
        ("keep-alive: timeout=0\r\n", 0, 2),
        ("", 1, 1),
    ] {
        let (url, count) = serve(move |mut tcp, _| async move {
            let mut buf = Vec::new();
            while read_request(&mut tcp, &mut buf).await {
                let reply = format!("HTTP/1.1 200 OK\r\n{keep_alive}content-length: 2\r\n\r\nok");
                if tcp.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        })
        .await;
        let client = HttpClient::new();
        assert_eq!(text(&client, &url).await.unwrap(), "ok");
        assert_eq!(client.0.pool.idle(), idle, "{keep_alive}");
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(text(&client, &url).await.unwrap(), "ok");
        assert_eq!(count.load(Ordering::SeqCst), connections, "{keep_alive}");
        assert_eq!(client.0.pool.idle(), idle, "{keep_alive}");
    }
}

/// Reviewer RU, guard (passes on h-U): a reply that says the connection ends (HTTP/1.1
/// `connection: close`, HTTP/1.0 without keep-alive) is not pooled even while the server
/// leaves the socket open; an HTTP/1.0 reply with `connection: keep-alive` is. Nothing else
/// tests that the client (not only the head parser) honours keep-alive.
#[tokio::test]
async fn ru_a_reply_that_ends_its_connection_is_not_pooled() {
    for (reply, pooled) in [
        (
            &b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"[..],
            false,
        ),
        (
            &b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"[..],
            false,
        ),
        (
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
               2\r\nok\r\n0\r\n\r\n"[..],
            false,
        ),
        (
            &b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok"[..],
            true,
        ),
    ] {
        let (url, _) = serve(move |mut tcp, _| async move {
            let mut buf = Vec::new();
            while read_request(&mut tcp, &mut buf).await {
                if tcp.write_all(reply).await.is_err() {
                    return;
                }
            }
        })
        .await;
        let client = HttpClient::new();
        assert_eq!(text(&client, &url).await.unwrap(), "ok");
        assert_eq!(
            client.0.pool.idle(),
            usize::from(pooled),
            "{}",
            String::from_utf8_lossy(reply)
        );
    }
}

/// Reviewer RU, guard (passes on h-U): bytes after a body's end, in the same read (a
/// server that answered twice, or sent more than its length), keep the connection out of
/// the pool, on the whole-body path and the streamed one; so do bytes that arrive later,
/// while it is idle (the idle check). The next request gets its own reply, never the stale
/// one.
#[tokio::test]
async fn ru_bytes_after_a_body_keep_its_connection_out_of_the_pool() {
    const STALE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstale";
    for (reply, later) in [
        (
            &b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"[..],
            false,
        ),
        (
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"[..],
            false,
        ),
        (&b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"[..], true),
    ] {
        let (url, connections) = serve(move |mut tcp, n| async move {
            let mut buf = Vec::new();
            while read_request(&mut tcp, &mut buf).await {
                if n > 0 {
                    let fresh = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfresh";
                    let _ = tcp.write_all(fresh).await;
                    continue;
                }
                if later {
                    let _ = tcp.write_all(reply).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ = tcp.write_all(STALE).await;
                } else {
                    let _ = tcp.write_all(&[reply, STALE].concat()).await;
                }
            }
        })
        .await;
        let client = HttpClient::new();
        assert_eq!(text(&client, &url).await.unwrap(), "ok");
        if later {
            // Pooled, then the unasked bytes come while it is idle.
            assert_eq!(client.0.pool.idle(), 1);
            tokio::time::sleep(Duration::from_millis(300)).await;
        } else {
            assert_eq!(
                client.0.pool.idle(),
                0,
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
        assert_eq!(text(&client, &url).await.unwrap(), "fresh");
        assert_eq!(connections.load(Ordering::SeqCst), 2);
    }
}

/// Reviewer RU, guard (passes on h-U): a request written whole on a pooled connection that
/// then closes without a reply is an error, and is not sent again on another connection
/// (the vendor may have acted on it: a POST is not idempotent). Guards the tempting "retry
/// when a reused connection fails" change against the one case it must not cover.
#[tokio::test]
async fn ru_a_request_written_on_a_pooled_connection_is_never_sent_twice() {
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    let (url, _) = serve(move |mut tcp, _| {
        let seen = seen.clone();
        async move {
            let mut buf = Vec::new();
            while read_request(&mut tcp, &mut buf).await {
                if seen.fetch_add(1, Ordering::SeqCst) == 1 {
                    // The second request: read whole, then the connection dies.
                    return;
                }
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if tcp.write_all(reply).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let client = HttpClient::new();
    assert_eq!(text(&client, &url).await.unwrap(), "ok");
    assert_eq!(client.0.pool.idle(), 1);
    let second = within(client.send(post(&url))).await;
    assert!(second.is_err(), "{second:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(requests.load(Ordering::SeqCst), 2, "a request sent twice");
}

/// Reviewer RV: one pooled connection carries replies whose heads differ (names, count,
/// case, a head of exactly the read buffer's size), each with its body in the same write;
/// every reply's headers, kept while the next ones are read on the same connection (their
/// values share the read buffer's bytes), stay exactly its own.
#[tokio::test]
async fn rv_headers_kept_across_replies_on_one_connection_stay_their_own() {
    let head = |extra: &str, body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\n{extra}content-length: {}\r\n\r\n",
            body.len()
        )
    };
    // A head of exactly the connection's read buffer (`conn::READ_BUFFER`), padded by one
    // header.
    const READ_BUFFER: usize = 8 * 1024;
    let base = head("x-pad: \r\n", "def").len();
    let pad = "p".repeat(READ_BUFFER - base);
    // Each reply: its head, its body, the headers it carries besides content-length.
    type Reply<'a> = (String, &'a str, Vec<(&'a str, String)>);
    let replies: Vec<Reply<'_>> = vec![
        (
            head("x-a: one\r\n", "abc"),
            "abc",
            vec![("x-a", "one".into())],
        ),
        (
            head(&format!("x-pad: {pad}\r\n"), "def"),
            "def",
            vec![("x-pad", pad.clone())],
        ),
        (
            head("X-A: two\r\nx-b: caf\u{e9}\r\n", "ghi"),
            "ghi",
            vec![("x-a", "two".into()), ("x-b", "caf\u{e9}".into())],
        ),
        (
            head("x-a: one\r\n", "jkl"),
            "jkl",
            vec![("x-a", "one".into())],
        ),
    ];
    assert_eq!(replies[1].0.len(), READ_BUFFER);
    let wire: Vec<String> = replies.iter().map(|(h, b, _)| format!("{h}{b}")).collect();
    let (url, connections) = serve(move |mut tcp, _| {
        let wire = wire.clone();
        async move {
            let mut buf = Vec::new();
            for reply in wire {
                if !read_request(&mut tcp, &mut buf).await
                    || tcp.write_all(reply.as_bytes()).await.is_err()
                {
                    return;
                }
            }
        }
    })
    .await;
    let client = HttpClient::new();
    let mut kept = Vec::new();
    for (_, body, _) in &replies {
        let response = within(client.send(post(&url))).await.unwrap();
        let (parts, b) = response.into_parts();
        let b = within(b.collect()).await.unwrap().to_bytes();
        assert_eq!(&b[..], body.as_bytes());
        kept.push(parts.headers);
    }
    for (headers, (_, _, want)) in kept.iter().zip(&replies) {
        for (name, value) in want {
            assert_eq!(
                headers.get(*name).map(|v| v.as_bytes()),
                Some(value.as_bytes()),
                "{name} in {headers:?}"
            );
        }
        assert_eq!(headers.len(), want.len() + 1, "{headers:?}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}
