//! A prepared request is written byte for byte as the request built from it, and reuses
//! connections as any other.

use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::*;
use crate::transport::{HttpClient, Transport, TransportError};

#[path = "../../../tests/common/capture.rs"]
mod capture;

/// The upstream: `ok` to every request (`capture`).
async fn capture() -> (String, mpsc::UnboundedReceiver<(usize, Vec<u8>)>) {
    capture::capture(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await
}

/// Extra headers, name and value.
type Headers = Vec<(&'static str, &'static str)>;

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap()
}

/// A request like the adapter's: POST, JSON, a secret auth header, `extra` headers after.
fn request(url: &str, extra: &[(&str, &str)]) -> HttpRequest {
    let mut builder = Request::post(format!("{url}/v1/chat/completions?x=1"))
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, "Bearer sk-secret-key");
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

async fn ok(response: Result<axum::http::Response<axum::body::Body>, impl std::fmt::Debug>) {
    let response = response.unwrap();
    assert_eq!(response.status(), 200);
    let body = within(response.into_body().collect()).await.unwrap();
    assert_eq!(body.to_bytes(), "ok");
}

#[tokio::test]
async fn a_prepared_request_is_written_as_the_request_built_from_it() {
    let (url, mut seen) = capture().await;
    let client = HttpClient::new();
    let big = vec![b'x'; 10 * 1024];
    let cases: Vec<(Headers, Vec<u8>)> = vec![
        (vec![], br#"{"model":"m"}"#.to_vec()),
        (vec![], Vec::new()),
        (vec![("accept", "text/event-stream")], big.clone()),
        // A provider's own host, and length headers that are not sent.
        (
            vec![
                (HOST.as_str(), "vendor.example"),
                (CONTENT_LENGTH.as_str(), "99"),
                ("transfer-encoding", "chunked"),
                ("x-extra", "a"),
                ("x-extra", "b"),
            ],
            b"{}".to_vec(),
        ),
    ];
    for (extra, body) in cases {
        let prepared = Arc::new(Prepared::new(request(&url, &extra)));
        ok(within(client.send(prepared.request(body.clone()))).await).await;
        let (_, built) = within(seen.recv()).await.unwrap();
        ok(within(client.send_prepared(Arc::clone(&prepared), body.clone())).await).await;
        let (_, sent) = within(seen.recv()).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&sent),
            String::from_utf8_lossy(&built),
            "headers {extra:?}"
        );
        assert!(sent.ends_with(&body));
        // Through the seam over a bare client, the same.
        let transport = Transport::new(client.clone());
        ok(within(transport.send_prepared(&prepared, body.clone())).await).await;
        let (_, seam) = within(seen.recv()).await.unwrap();
        assert_eq!(seam, built);
    }
}

#[tokio::test]
async fn prepared_requests_share_pooled_connections_with_built_ones() {
    let (url, mut seen) = capture().await;
    let client = HttpClient::new();
    let prepared = Arc::new(Prepared::new(request(&url, &[])));
    for body in [&b"{}"[..], b"{\"a\":1}", b"[]"] {
        ok(within(client.send_prepared(Arc::clone(&prepared), body.to_vec())).await).await;
        ok(within(client.send(prepared.request(body.to_vec()))).await).await;
    }
    for _ in 0..6 {
        let (connection, _) = within(seen.recv()).await.unwrap();
        assert_eq!(connection, 0, "a request opened a second connection");
    }
}

#[tokio::test]
async fn a_prepared_request_that_asks_to_close_is_not_pooled() {
    let (url, mut seen) = capture().await;
    let client = HttpClient::new();
    let prepared = Arc::new(Prepared::new(request(
        &url,
        &[(CONNECTION.as_str(), "close")],
    )));
    for n in 0..3 {
        ok(within(client.send_prepared(Arc::clone(&prepared), b"{}".to_vec())).await).await;
        let (connection, _) = within(seen.recv()).await.unwrap();
        assert_eq!(connection, n);
    }
}

#[tokio::test]
async fn a_prepared_request_without_an_authority_is_refused_as_a_built_one() {
    let prepared = Arc::new(Prepared::new(
        Request::post("/v1/chat/completions")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    ));
    assert!(prepared.wire.is_none());
    let client = HttpClient::new();
    let err = client
        .send_prepared(prepared, b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Unbuilt), "{err:?}");
}

#[test]
fn its_debug_shows_no_header_nor_url() {
    let prepared = Prepared::new(request("http://127.0.0.1:9/?key=sk-in-url", &[]));
    let text = format!("{prepared:?}");
    assert!(!text.contains("secret") && !text.contains("sk-"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
}

/// A reply's headers: a request sent whole, or prepared and sent with `send_prepared`, has
/// them in the response's `headers()`, as any client gives them (the runner and other callers
/// read them there), with no `ReplyHeaders` beside it; one sent the driver's way
/// (`send_prepared_as`, reading headers) as `ReplyHeaders` beside the response, `headers()`
/// and its extensions left empty (no hash map made for them): the same headers either way,
/// names lowercased in the map and as sent in `ReplyHeaders`, duplicates kept.
#[tokio::test]
async fn a_prepared_requests_reply_headers_are_read_where_they_lie_and_a_built_ones_mapped() {
    use crate::transport::ReplyHeaders;
    let (url, _seen) = capture::capture(
        b"HTTP/1.1 200 OK\r\nX-Switchyard-Target: t1\r\nx-a: 1\r\nX-A: 2\r\n\
          content-length: 2\r\n\r\nok",
    )
    .await;
    let client = HttpClient::new();
    let prepared = Arc::new(Prepared::new(request(&url, &[])));
    let built = within(client.send(prepared.request(b"{}".to_vec())))
        .await
        .unwrap();
    assert!(built.extensions().is_empty());
    let map = built.headers();
    assert_eq!(map["x-switchyard-target"], "t1");
    let a: Vec<_> = map.get_all("x-a").iter().collect();
    assert_eq!(a, ["1", "2"]);
    assert_eq!(map.len(), 4);
    let public = within(client.send_prepared(Arc::clone(&prepared), b"{}".to_vec()))
        .await
        .unwrap();
    assert!(public.extensions().is_empty());
    assert_eq!(public.headers(), map);
    let (public, none) =
        within(client.send_prepared_as(Arc::clone(&prepared), b"{}".to_vec(), false))
            .await
            .unwrap();
    assert!(none.is_none());
    assert_eq!(public.headers(), map);
    let (sent, read) = within(client.send_prepared_as(Arc::clone(&prepared), b"{}".to_vec(), true))
        .await
        .unwrap();
    assert!(sent.headers().is_empty());
    assert!(sent.extensions().is_empty());
    let read: ReplyHeaders = read.unwrap();
    assert_eq!(read.get("x-switchyard-target"), Some(&b"t1"[..]));
    assert_eq!(
        read.iter().next(),
        Some((&b"X-Switchyard-Target"[..], &b"t1"[..]))
    );
    assert_eq!(&read.to_map(), map);
}
