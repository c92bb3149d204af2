//! The fast path on a real socket: which requests it serves itself, and that it hands every
//! other one, with the bytes it read, to hyper.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::Gateway;

/// A gateway without keys, its one route `chat` on an in-process fake.
fn gateway() -> Arc<Gateway> {
    let text = "providers:\n  - { name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'http://a.fake', mock_key: k }\n\
                router:\n  targets:\n    - { name: ta, provider: a, model: m }\n  routes:\n    - { name: chat, policy: static, targets: [ta] }\n";
    let params = switchyard_live::config::load_live(text, "gw.yaml").unwrap();
    let profile =
        "name: a\ndialect: openai\nmodels:\n  - { name: m }\noutput_tokens: { fixed: 3 }\n";
    let fake = switchyard_fake::server::router(
        switchyard_fake::load_profile(profile, "p.yaml").unwrap(),
        1,
    );
    let transport =
        switchyard_live::Transport::new(switchyard_live::InProcess::new().with("a.fake", fake));
    Gateway::new(&params, None, transport).unwrap()
}

const BODY: &str = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;

/// A chat request (keep-alive), with `extra` header lines.
pub(super) fn chat(extra: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\n{extra}content-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
}

const HEALTH: &str = "GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n";

/// Runs `client` against one connection served by the fast path: the bytes the fast path
/// handed on for hyper (`None`: it ended the connection itself) and what `client` returned.
async fn session<F, Fut>(client: F) -> (Option<Vec<u8>>, Vec<String>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<String>> + Send,
{
    let gw = gateway();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move { client(TcpStream::connect(addr).await.unwrap()).await });
    let (tcp, _) = listener.accept().await.unwrap();
    let (_keep, mut closing) = tokio::sync::watch::channel(false);
    let work = async {
        let handed = super::serve(tcp, &gw, &mut closing).await;
        // Dropped: the client sees the connection end.
        let handed = handed.map(|conn| conn.buf.to_vec());
        (handed, client.await.unwrap())
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .unwrap()
}

/// Reads one response (its head, and a body of its `content-length`) from `tcp`; `rest`
/// keeps what was read past it.
async fn response(tcp: &mut TcpStream, rest: &mut Vec<u8>) -> String {
    loop {
        if let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if rest.len() >= end + 4 + len {
                let whole: Vec<u8> = rest.drain(..end + 4 + len).collect();
                return String::from_utf8(whole).unwrap();
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(rest)
        );
        rest.extend_from_slice(&chunk[..n]);
    }
}

/// What is left to read until the connection ends (errors count as its end).
async fn to_end(tcp: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Keep-alive requests one after another, then one that asks to close: all served here,
/// the connection ended by the fast path, never handed to hyper.
#[tokio::test]
async fn canonical_requests_are_served_here_one_after_another() {
    let (handed, responses) = session(|mut tcp| async move {
        let mut rest = Vec::new();
        let mut got = Vec::new();
        for extra in [
            "",
            "authorization: Bearer x\r\n",
            "connection: keep-alive\r\n",
        ] {
            tcp.write_all(chat(extra).as_bytes()).await.unwrap();
            got.push(response(&mut tcp, &mut rest).await);
        }
        tcp.write_all(chat("Connection: close\r\n").as_bytes())
            .await
            .unwrap();
        got.push(response(&mut tcp, &mut rest).await);
        got.push(to_end(&mut tcp).await);
        got
    })
    .await;
    assert_eq!(handed, None);
    for r in &responses[..4] {
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("\"chat.completion\""), "{r}");
    }
    assert!(
        responses[3].contains("\r\nconnection: close\r\n"),
        "{}",
        responses[3]
    );
    assert!(!responses[2].contains("connection:"), "{}", responses[2]);
    assert_eq!(
        responses[4], "",
        "closed after the response that asked for it"
    );
}

/// Each request the fast path does not serve goes to hyper with exactly the bytes read,
/// nothing answered here.
#[tokio::test]
async fn what_is_not_canonical_is_handed_on_as_read() {
    let chunked = format!(
        "POST /v1/chat/completions HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{BODY}\r\n0\r\n\r\n",
        BODY.len()
    );
    let cases = [
        chunked,
        chat("expect: 100-continue\r\n"),
        chat("").replacen("HTTP/1.1", "HTTP/1.0", 1),
        chat("upgrade: websocket\r\nconnection: upgrade\r\n"),
        chat("").replacen("completions", "completions?x=1", 1),
        HEALTH.to_owned(),
        "\x01\x02 not http\r\n\r\n".to_owned(),
        chat(&"x-pad: y\r\n".repeat(40)),
    ];
    for input in cases {
        let sent = input.clone();
        let (handed, got) = session(|mut tcp| async move {
            tcp.write_all(sent.as_bytes()).await.unwrap();
            vec![to_end(&mut tcp).await]
        })
        .await;
        assert_eq!(handed.as_deref(), Some(input.as_bytes()), "{input:?}");
        assert_eq!(got, [""], "nothing answered here for {input:?}");
    }
}

/// A head larger than the fast path's bound goes to hyper with what was read of it.
#[tokio::test]
async fn an_oversize_head_is_handed_on() {
    let big = chat(&format!("x-big: {}\r\n", "y".repeat(super::MAX_HEAD)));
    let sent = big.clone();
    let (handed, _) = session(|mut tcp| async move {
        let _ = tcp.write_all(sent.as_bytes()).await;
        vec![to_end(&mut tcp).await]
    })
    .await;
    let handed = handed.unwrap();
    assert!(handed.len() >= super::MAX_HEAD, "{}", handed.len());
    assert!(big.as_bytes().starts_with(&handed));
}

/// A head whose body is not there yet is not waited for: hyper gets the head, and the body
/// when it comes.
#[tokio::test]
async fn a_body_that_comes_later_goes_to_hyper() {
    let request = chat("");
    let at = request.find("\r\n\r\n").unwrap() + 4;
    let head = request[..at].to_owned();
    let sent = head.clone();
    let (handed, _) = session(|mut tcp| async move {
        tcp.write_all(sent.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = tcp.write_all(BODY.as_bytes()).await;
        vec![to_end(&mut tcp).await]
    })
    .await;
    assert_eq!(handed.as_deref(), Some(head.as_bytes()));
}

/// Requests pipelined in one write: the chat ones served in order here, the first other
/// one handed on with what follows it.
#[tokio::test]
async fn pipelined_requests_are_served_in_order_until_one_is_not_canonical() {
    let tail = format!("{HEALTH}{}", chat(""));
    let all = format!("{}{}{tail}", chat(""), chat(""));
    let (handed, got) = session(|mut tcp| async move {
        tcp.write_all(all.as_bytes()).await.unwrap();
        let mut rest = Vec::new();
        let first = response(&mut tcp, &mut rest).await;
        let second = response(&mut tcp, &mut rest).await;
        vec![first, second, to_end(&mut tcp).await]
    })
    .await;
    assert_eq!(handed.as_deref(), Some(tail.as_bytes()));
    assert!(got[0].starts_with("HTTP/1.1 200 OK"), "{}", got[0]);
    assert!(got[1].starts_with("HTTP/1.1 200 OK"), "{}", got[1]);
    assert_eq!(got[2], "");
}

/// Shutdown closes an idle connection at once.
#[tokio::test]
async fn shutdown_closes_an_idle_connection() {
    let gw = gateway();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).await.unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let (tell, mut closing) = tokio::sync::watch::channel(false);
    let serving = async {
        let handed = super::serve(tcp, &gw, &mut closing).await;
        assert!(handed.is_none());
    };
    let client = async {
        let mut rest = Vec::new();
        client.write_all(chat("").as_bytes()).await.unwrap();
        let r = response(&mut client, &mut rest).await;
        assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
        tell.send(true).unwrap();
        assert_eq!(to_end(&mut client).await, "");
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(serving, client)
    })
    .await
    .unwrap();
}

/// RV3: a connection handed to hyper keeps the fast path's read buffer allocated for as long
/// as hyper serves it: [`Rewind`](super::super::rewind::Rewind) holds the frozen buffer
/// (advanced to its end, not dropped) after replaying it. That buffer is at least 16 KiB
/// (the first read's reservation; here the capacity a `GET /healthz` left) and up to
/// 256 KiB after a pipelined burst, on top of hyper's own, for every connection hyper serves
/// (all of `/v1/messages`, admin, health checks).
#[tokio::test]
async fn a_connection_handed_to_hyper_does_not_keep_the_fast_path_s_buffer() {
    let gw = gateway();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).await.unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    client.write_all(HEALTH.as_bytes()).await.unwrap();
    let (_keep, mut closing) = tokio::sync::watch::channel(false);
    let conn = super::serve(tcp, &gw, &mut closing).await.unwrap();
    assert!(conn.buf.capacity() >= 16 * 1024, "{}", conn.buf.capacity());
    // The bytes to replay, held here too (a copy of the buffer's, as `rewound` hands over the
    // buffer itself): unique again once the rewind has let go of them.
    let read = conn.buf.clone().freeze();
    let mut rewind = super::super::rewind::Rewind::new(read.clone(), conn.tcp);
    let mut replayed = vec![0u8; read.len()];
    rewind.read_exact(&mut replayed).await.unwrap();
    assert_eq!(replayed, HEALTH.as_bytes());
    assert!(
        read.is_unique(),
        "the rewind still holds its {} replayed bytes' allocation",
        read.len()
    );
}

/// NU5's reproducer: the OpenAI Python SDK (httpx over h11) writes a request's head and its
/// body in two `send`s, back to back. When the gateway reads between the two (1 ms here; on
/// the shared two-core machine 3 of 20 fresh SDK connections when quiet, 37 of 60 at load 3),
/// the connection goes to hyper for its life and `body_later` grows, though the client is as
/// ordinary as clients get. What this asks: such a body, there a moment after its head, is
/// served by the fast path.
#[tokio::test]
async fn a_body_sent_right_after_its_head_is_served_here() {
    let request = chat("");
    let at = request.find("\r\n\r\n").unwrap() + 4;
    let head = request[..at].to_owned();
    let (handed, got) = session(|mut tcp| async move {
        tcp.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        let rest = format!("{BODY}{}", chat("Connection: close\r\n"));
        let _ = tcp.write_all(rest.as_bytes()).await;
        vec![to_end(&mut tcp).await]
    })
    .await;
    assert_eq!(
        handed.map(|h| String::from_utf8_lossy(&h).into_owned()),
        None,
        "the connection was handed to hyper"
    );
    assert_eq!(
        got[0].matches("HTTP/1.1 200 OK\r\n").count(),
        2,
        "{}",
        got[0]
    );
}

/// A subscriber that, when a request's access line is logged, looks at the client's end of
/// the connection (waiting at most 2 s): whether the reply had reached it by then.
struct PeekAtTheLine {
    client: std::net::TcpStream,
    seen: std::sync::Mutex<Vec<bool>>,
}

impl tracing::Subscriber for PeekAtTheLine {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "switchyard::access" {
            let mut byte = [0u8; 1];
            let arrived = self.client.peek(&mut byte).is_ok_and(|n| n > 0);
            self.seen.lock().unwrap().push(arrived);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The access line is made once the reply is written, as nginx logs once its response is
/// sent: formatting it is not on the way to the client (docs/PERFORMANCE.md).
#[tokio::test]
async fn a_reply_reaches_its_client_before_its_access_line_is_made() {
    let gw = gateway();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    // `tracing` caches each callsite's interest for the whole process; with one dispatcher
    // registered it asks only the registering thread's, maybe another test's thread, which has
    // none. With two, it asks each, and the events reach this thread's subscriber.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let peek = client.try_clone().unwrap();
    // Blocking, bounded: the old order (line first) waits here in vain and fails; bytes
    // already on their way are not missed (RV3).
    peek.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let lines = Arc::new(PeekAtTheLine {
        client: peek,
        seen: std::sync::Mutex::default(),
    });
    let _current = tracing::subscriber::set_default(lines.clone());
    std::io::Write::write_all(&mut client, chat("Connection: close\r\n").as_bytes()).unwrap();
    let (_keep, mut closing) = tokio::sync::watch::channel(false);
    let served = tokio::time::timeout(
        Duration::from_secs(10),
        super::serve(tcp, &gw, &mut closing),
    );
    assert!(served.await.unwrap().is_none());
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut client, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert_eq!(
        *lines.seen.lock().unwrap(),
        [true],
        "one access line, made once the client had its reply"
    );
}

/// Requests large enough to grow the connection's buffer past [`super::MAX_HEAD`] (which is
/// brought back to its initial size once it is empty), pipelined in one write with a small
/// one: all are answered here, in order; the bytes of the next request, already read when one
/// is answered, are not lost with the large buffer.
#[tokio::test]
async fn requests_pipelined_after_large_ones_are_answered() {
    let content = "x".repeat(100 * 1024);
    let body =
        format!(r#"{{"model":"chat","messages":[{{"role":"user","content":"{content}"}}]}}"#);
    let large = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let all = format!("{large}{large}{}", chat(""));
    let (handed, got) = session(|mut tcp| async move {
        tcp.write_all(all.as_bytes()).await.unwrap();
        let mut rest = Vec::new();
        let first = response(&mut tcp, &mut rest).await;
        let second = response(&mut tcp, &mut rest).await;
        let third = response(&mut tcp, &mut rest).await;
        tcp.shutdown().await.unwrap();
        vec![first, second, third, to_end(&mut tcp).await]
    })
    .await;
    assert_eq!(handed, None);
    assert!(
        got[0].starts_with("HTTP/1.1 200 OK"),
        "{}",
        &got[0][..200.min(got[0].len())]
    );
    assert!(
        got[1].starts_with("HTTP/1.1 200 OK"),
        "{}",
        &got[1][..200.min(got[1].len())]
    );
    assert!(got[2].starts_with("HTTP/1.1 200 OK"), "{}", got[2]);
    assert_eq!(got[3], "");
}
