//! The gateway's books for requests that end oddly: a body cut by its client, a stream left
//! after its finish, a request left before its first token, cached prompt tokens, and the
//! requests `/metrics` counts that never reached the router.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test code")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use switchyard_gateway::Gateway;
use switchyard_live::{InProcess, Transport};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Served {
    addr: std::net::SocketAddr,
    #[allow(dead_code, reason = "read by later tests")]
    gw: Arc<Gateway>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

/// `serve` over a real socket in front of `upstream` (host `a.fake`), route `chat` on `ta`.
async fn serve_with(upstream: axum::Router) -> Served {
    let text = config(
        TA,
        "    - { name: chat, policy: static, targets: [ta] }\n",
        "",
    );
    let (gw, _) = from_file(
        &text,
        Transport::new(InProcess::new().with("a.fake", upstream)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(switchyard_gateway::serve(
        listener,
        gw.clone(),
        async move {
            let _ = rx.await;
        },
        Duration::from_secs(5),
    ));
    Served {
        addr,
        gw,
        stop: Some(tx),
        task,
    }
}

/// Polls the access lines until there are `n`, for at most 5 s.
async fn lines(log: &Captured, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..500 {
        let lines = log.access();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} access lines: {}", log.text());
}

/// A chat request's head with a `content-length` of `len` (the fast path's kind), or
/// chunked (hyper's), for `path`.
fn head(path: &str, len: Option<usize>) -> String {
    let framing = match len {
        Some(n) => format!("content-length: {n}"),
        None => "transfer-encoding: chunked".to_owned(),
    };
    format!(
        "POST {path} HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {CLIENT_KEY}\r\nx-api-key: {CLIENT_KEY}\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
    )
}

/// A client that sends its head and part of its body, then closes the connection: it left,
/// nothing was refused. Logged `499 client_closed` whichever way the body came (with its
/// head in one write, the fast path's first read; after it; chunked, hyper's path from the
/// start; on the Anthropic endpoint), and a body that is whole but bad stays `400 refused`.
#[tokio::test]
async fn a_body_cut_by_its_client_is_logged_client_closed_not_refused() {
    let log = Captured::start();
    let served = serve_with(fake("a")).await;
    let body = chat(false);
    let part = &body[..body.len() / 2];
    let cases = [
        ("/v1/chat/completions", Some(body.len()), true),
        ("/v1/chat/completions", Some(body.len()), false),
        ("/v1/chat/completions", None, true),
        ("/v1/messages", Some(body.len()), true),
    ];
    for (i, (path, len, together)) in cases.into_iter().enumerate() {
        let mut tcp = TcpStream::connect(served.addr).await.unwrap();
        let sent = match len {
            Some(_) => part.to_owned(),
            None => format!("{:x}\r\n{part}", body.len()),
        };
        if together {
            tcp.write_all(format!("{}{sent}", head(path, len)).as_bytes())
                .await
                .unwrap();
        } else {
            tcp.write_all(head(path, len).as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            tcp.write_all(sent.as_bytes()).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(tcp);
        let line = lines(&log, i + 1).await.remove(i);
        assert_eq!(line["status"], 499, "case {i}: {line}");
        assert_eq!(line["result"], "client_closed", "case {i}: {line}");
        assert_eq!(line["path"], path, "case {i}: {line}");
    }
    // A whole body that is not JSON, and a chunked body with a bad chunk size: refused.
    let (status, _) = over_tcp(
        served.addr,
        &format!("POST /v1/chat/completions HTTP/1.1\r\nauthorization: Bearer {CLIENT_KEY}"),
        "{not json",
    )
    .await;
    assert_eq!(status, 400);
    let line = lines(&log, 5).await.remove(4);
    assert_eq!(
        (line["status"].as_u64(), line["result"].as_str()),
        (Some(400), Some("refused")),
        "{line}"
    );
    let mut tcp = TcpStream::connect(served.addr).await.unwrap();
    tcp.write_all(
        format!(
            "{}zz\r\n{part}\r\n0\r\n\r\n",
            head("/v1/chat/completions", None)
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let line = lines(&log, 6).await.remove(5);
    assert_eq!(
        (line["status"].as_u64(), line["result"].as_str()),
        (Some(400), Some("refused")),
        "{line}"
    );
    drop(tcp);
    served.stop().await;
}

/// The `name{labels} value` lines of `series` in a `/metrics` text, labels as written.
fn series(metrics: &str, series: &str) -> std::collections::BTreeMap<String, u64> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix('{'))
        .map(|l| {
            let (labels, n) = l.rsplit_once("} ").unwrap();
            (labels.to_owned(), n.parse().unwrap())
        })
        .collect()
}

/// Requests that never reach the router (a missing key, a body that is not JSON, one too
/// large, a shed one, an unknown model, `/v1/models`) are counted in `/metrics` by the
/// status and result of their access line; with `switchyard_requests_total`, every line is
/// counted once.
#[tokio::test(start_paused = true)]
async fn refusals_before_routing_are_counted_by_status_and_result() {
    let log = Captured::start();
    let r = rig(&config(
        TA,
        "    - { name: chat, policy: static, targets: [ta] }\n",
        "  max_in_flight: 1\n  max_body_bytes: 4096\n",
    ));
    let gw = &r.gw;
    let chat_path = "/v1/chat/completions";
    let key = Some(CLIENT_KEY);
    assert_eq!(call(gw, "POST", chat_path, None, chat(false)).await.0, 401);
    assert_eq!(
        call(gw, "POST", chat_path, key, "{not json".into()).await.0,
        400
    );
    let large = chat(false).replace("say", &"x".repeat(5000));
    assert_eq!(call(gw, "POST", chat_path, key, large).await.0, 413);
    let unknown = chat(false).replace("\"chat\"", "\"nope\"");
    assert_eq!(call(gw, "POST", chat_path, key, unknown).await.0, 404);
    assert_eq!(
        call(gw, "GET", "/v1/models", key, String::new()).await.0,
        200
    );
    assert_eq!(call(gw, "POST", chat_path, key, chat(false)).await.0, 200);
    // A stream in flight holds the one permit: the next request is shed.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(chat_path)
        .header("authorization", format!("Bearer {CLIENT_KEY}"))
        .body(axum::body::Body::from(chat(true)))
        .unwrap();
    let held = tower::ServiceExt::oneshot(switchyard_gateway::app(gw.clone()), req)
        .await
        .unwrap();
    assert_eq!(call(gw, "POST", chat_path, key, chat(false)).await.0, 503);
    drop(held);

    let (status, metrics) = call(gw, "GET", "/metrics", None, String::new()).await;
    assert_eq!(status, 200);
    let unrouted = series(&metrics, "switchyard_gateway_unrouted_requests_total");
    let want: std::collections::BTreeMap<String, u64> = [
        ("status=\"200\",result=\"ok\"", 1),
        ("status=\"400\",result=\"refused\"", 1),
        ("status=\"401\",result=\"refused\"", 1),
        ("status=\"404\",result=\"unknown_route\"", 1),
        ("status=\"413\",result=\"refused\"", 1),
        ("status=\"503\",result=\"refused\"", 1),
    ]
    .into_iter()
    .map(|(l, n)| (l.to_owned(), n))
    .collect();
    assert_eq!(unrouted, want, "{metrics}");
    // The served request and the stream its client left are booked on the route.
    let routed = series(&metrics, "switchyard_requests_total");
    let lines = log.access();
    assert_eq!(lines.len(), 8, "{}", log.text());
    assert_eq!(
        routed.values().sum::<u64>() + unrouted.values().sum::<u64>(),
        lines.len() as u64,
        "{metrics}"
    );
    // And the lines without a route are those counted, by their status and result.
    let mut unbooked = std::collections::BTreeMap::new();
    for line in lines.iter().filter(|l| l["route"] == "-") {
        let label = format!("status=\"{}\",result={}", line["status"], line["result"]);
        *unbooked.entry(label).or_insert(0) += 1;
    }
    assert_eq!(unbooked, unrouted);
}
