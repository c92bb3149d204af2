//! Reviewer RV's tests on issue 13's diff (a forwarded stream left after its finish chunk
//! reads what came before it is booked: `ChatStream`'s `Drop`, `read_what_came`). Ignored:
//! for the lead to cherry-pick, un-ignore and fix.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use switchyard_core::dialect::Dialect;
use switchyard_core::request::{Original, Request};
use switchyard_live::{ChatStream, StreamItem};

use common::rig;

/// An OpenAI client's streamed request, its reply forwarded as it comes (`raw_reply`).
fn forwarded() -> Request {
    let body =
        r#"{"model":"r","stream":true,"messages":[{"role":"user","content":"hello there"}]}"#;
    Request {
        stream: true,
        original: Some(Original {
            dialect: Dialect::Openai,
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            raw_reply: true,
            layout: None,
        }),
        ..common::request("r")
    }
}

/// A stream from the in-process OpenAI fake (10 tokens, 100 a second), read until the
/// caller has its finish chunk (a chunk with a `finish_reason`), the usage chunk not yet
/// read by the stream.
async fn read_to_the_finish_chunk(rig: &common::Rig) -> ChatStream {
    let mut stream = rig.router.chat_stream(forwarded()).await.unwrap();
    assert!(stream.forwards_raw());
    for _ in 0..100 {
        match stream.next_item().await.unwrap().unwrap() {
            StreamItem::Raw(raw) => {
                let text = String::from_utf8_lossy(&raw.wire);
                assert!(
                    !raw.usage_only,
                    "the usage chunk came with the finish chunk"
                );
                if text.contains("\"finish_reason\":\"") {
                    return stream;
                }
            }
            StreamItem::Event(_) => {}
        }
    }
    panic!("no finish chunk in 100 items");
}

fn openai_rig() -> common::Rig {
    rig(
        &[("openai", "openai")],
        "  - { name: r, policy: static, targets: [t-openai] }\n",
        "",
    )
}

/// A `ChatStream` may be dropped anywhere (moved to another thread, kept past the runtime
/// that made it): until `read_what_came`, its `Drop` polled nothing that needed a runtime
/// (the bare client's `Reply::drop` reads its socket, which needs none). Now, left after its
/// finish chunk, it polls the upstream body; an in-process fake's body makes a
/// `tokio::time::sleep_until` for its next chunk when polled, which panics outside a
/// runtime ("there is no reactor running"): a panic in `Drop` (an abort if already
/// unwinding). The poll should not happen off the runtime (`Handle::try_current`), or not
/// touch a body that may need one.
#[test]
fn rv_a_stream_left_after_its_finish_chunk_drops_outside_a_runtime_without_panicking() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let (stream, booking) = runtime.block_on(async {
        let rig = openai_rig();
        let stream = read_to_the_finish_chunk(&rig).await;
        let booking = stream.booking();
        (stream, booking)
    });
    // Off the runtime (not entered), as on a thread of the caller's own.
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(stream)));
    assert!(
        dropped.is_ok(),
        "ChatStream's Drop panicked off the runtime"
    );
    assert!(booking.served());
    drop(runtime);
}

/// The read of what already came is done with the task's cooperative budget (tokio's
/// `coop`): a stream dropped by a task that has spent its budget in this poll (a gateway
/// task that forwarded a long burst before its client's close showed) sees every tokio
/// resource answer `Pending`, the usage chunk sent before the client left is not read, and
/// the request is booked at an estimate (`tokens_estimated`), where a task with budget left
/// books the target's usage. Whether the books have the vendor's count depends on how much
/// the task did in that poll. The read should be `tokio::task::coop::unconstrained`.
#[tokio::test(start_paused = true)]
async fn rv_the_usage_chunk_that_came_is_read_whatever_the_tasks_budget() {
    for spent in [false, true] {
        let rig = openai_rig();
        let stream = read_to_the_finish_chunk(&rig).await;
        // The fake's usage chunk and [DONE] are due by now: "already sent".
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let booking = stream.booking();
        drop_in_a_poll(stream, spent).await;
        assert!(booking.served(), "spent: {spent}");
        assert!(
            !booking.tokens_estimated(),
            "spent: {spent}: the usage chunk had come, yet the tokens are estimated: {:?}",
            booking.get()
        );
    }
}

/// `Transport::send_prepared` is documented as "what `send` does with
/// `Prepared::request(body)`, the same bytes on the wire". Since f796396/f9bb6ca its reply
/// differs by transport: over a bare `HttpClient` (`Direct`) the reply's `headers()` are
/// empty (the headers went to a `ReplyHeaders` extension then; since, the driver's own path
/// returns them beside the response); over the same client behind any
/// layer they are in `headers()`. A caller of this public method that reads `headers()` (as
/// the runner reads the gateway's `x-switchyard-*` from `send`'s reply) finds nothing, or
/// something, depending on whether a layer sits on the client. Either the method fills
/// `headers()` (and only the driver's own path skips the map) or its doc says where the
/// headers are.
#[tokio::test]
async fn rv_transport_send_prepared_puts_its_replys_headers_where_send_does() {
    use switchyard_live::transport::Prepared;
    use switchyard_live::{HttpClient, Transport};
    let (url, _seen) = common::capture::capture(
        b"HTTP/1.1 200 OK\r\nX-Switchyard-Target: t1\r\ncontent-length: 2\r\n\r\nok",
    )
    .await;
    let request = axum::http::Request::post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let prepared = std::sync::Arc::new(Prepared::new(request));
    let layered = Transport::new(
        tower::ServiceBuilder::new()
            .map_response(|r| r)
            .service(HttpClient::new()),
    );
    let bare = Transport::new(HttpClient::new());
    for (name, transport) in [("layered", layered), ("bare", bare)] {
        let send = transport.send_prepared(&prepared, b"{}".to_vec());
        let reply = tokio::time::timeout(std::time::Duration::from_secs(10), send)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            reply
                .headers()
                .get("x-switchyard-target")
                .map(|v| v.as_bytes()),
            Some(&b"t1"[..]),
            "{name}: {:?}",
            reply.headers()
        );
    }
}

/// `tokens_estimated` (1a49a8e) is documented as "some of the line's tokens are the
/// gateway's estimates, not the vendor's count" (docs/GATEWAY.md; CHANGELOG: "it printed the
/// estimate as if reported"). It follows `usage_missing`, which the reports of a stream its
/// caller left mid-way (`ChatStream::drop`) and of a stream that broke (`close`) never set,
/// though both book the prompt's estimate (OpenAI reports its prompt only in the last chunk)
/// and a completion estimated from the text delivered. The commonest `client_closed` line
/// (status 200, a streaming client gone mid-answer) prints estimates unmarked.
#[tokio::test(start_paused = true)]
async fn rv_a_stream_left_mid_way_books_its_estimates_marked_estimated() {
    use switchyard_live::StreamEvent;
    let rig = openai_rig();
    let request = Request {
        stream: true,
        ..common::request("r")
    };
    let estimate = request.estimated_prompt_tokens;
    let mut stream = rig.router.chat_stream(request).await.unwrap();
    loop {
        if let StreamEvent::Delta(_) = stream.next().await.unwrap().unwrap() {
            break;
        }
    }
    let booking = stream.booking();
    drop(stream);
    let (usage, _) = booking.get().unwrap();
    assert!(!booking.served());
    // No usage read yet: the prompt is the request's estimate, the completion the driver's.
    assert_eq!(usage.prompt_tokens, estimate, "{usage:?}");
    assert!(usage.completion_tokens >= 1, "{usage:?}");
    assert!(
        booking.tokens_estimated(),
        "booked {usage:?}, every count an estimate, not marked"
    );
}

/// An OpenAI chunk of the stream `chatcmpl-1` as an SSE event in an HTTP/1.1 chunk.
fn sse_chunk(choices: &str, usage: &str) -> String {
    let data = format!(
        r#"data: {{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":{choices}{usage}}}"#
    );
    let event = format!("{data}\n\n");
    format!("{:x}\r\n{event}\r\n", event.len())
}

/// An OpenAI upstream on a socket that sends a stream's text and finish chunks, then, once
/// `go` is notified, its usage chunk, `[DONE]` and the body's end.
async fn usage_after(go: std::sync::Arc<tokio::sync::Notify>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = vec![0; 64 * 1024];
        let _ = socket.read(&mut request).await;
        let mut first = String::from(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        first.push_str(&sse_chunk(
            r#"[{"index":0,"delta":{"role":"assistant","content":"Hello there"},"finish_reason":null}]"#,
            "",
        ));
        first.push_str(&sse_chunk(
            r#"[{"index":0,"delta":{},"finish_reason":"stop"}]"#,
            "",
        ));
        let _ = socket.write_all(first.as_bytes()).await;
        go.notified().await;
        let mut rest = sse_chunk(
            "[]",
            r#","usage":{"prompt_tokens":50,"completion_tokens":7,"total_tokens":57}"#,
        );
        let done = "data: [DONE]\n\n";
        rest.push_str(&format!("{:x}\r\n{done}\r\n0\r\n\r\n", done.len()));
        let _ = socket.write_all(rest.as_bytes()).await;
        // Open until the client is done with it.
        let _ = socket.read(&mut request).await;
    });
    url
}

/// As `rv_the_usage_chunk_that_came_is_read_whatever_the_tasks_budget`, over the bare
/// `HttpClient` (the gateway's transport) and a socket: the usage chunk has reached the
/// client's socket (and its runtime has seen it) when the caller leaves after the finish
/// chunk; a task with budget left books the target's usage, a task that spent its budget in
/// this poll an estimate (its socket read answers `Pending`; the connection is not pooled
/// either: `Reply::drop`'s read answers the same).
#[tokio::test]
async fn rv_over_a_socket_the_usage_chunk_that_came_is_read_whatever_the_tasks_budget() {
    use switchyard_live::{Driver, HttpClient, Transport};
    for spent in [false, true] {
        let go = std::sync::Arc::new(tokio::sync::Notify::new());
        let url = usage_after(go.clone()).await;
        let store = common::store(
            &format!(
                "- {{ name: o, dialect: openai, base_url: '{url}', mode: live, keys: [{{ source: 'literal:k-o' }}] }}\n"
            ),
            &["o"],
        );
        let yaml = "targets:\n  - { name: to, provider: o, model: m-o }\nroutes:\n  - { name: r, policy: static, targets: [to] }\nplan: { max_attempts: 1, attempt_timeout: 5s }\n";
        let params = switchyard_core::config::load_router(yaml, "r.yaml").unwrap();
        let driver = Driver::new(params, store, Transport::new(HttpClient::new()), 1).unwrap();
        let within = std::time::Duration::from_secs(10);
        let stream = tokio::time::timeout(within, async {
            let mut stream = driver.chat_stream(forwarded()).await.unwrap();
            loop {
                if let StreamItem::Raw(raw) = stream.next_item().await.unwrap().unwrap()
                    && String::from_utf8_lossy(&raw.wire).contains("\"finish_reason\":\"stop\"")
                {
                    return stream;
                }
            }
        })
        .await
        .unwrap();
        go.notify_one();
        // The rest reaches the socket, and the runtime sees it while this task waits.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let booking = stream.booking();
        drop_in_a_poll(stream, spent).await;
        assert!(booking.served(), "spent: {spent}");
        assert_eq!(
            booking
                .get()
                .map(|(u, _)| (u.prompt_tokens, u.completion_tokens)),
            Some((50, 7)),
            "spent: {spent}: the usage chunk had come"
        );
    }
}

/// As `rv_a_stream_left_mid_way_books_its_estimates_marked_estimated`, for a stream that
/// broke and was continued (`resume.rs`'s rig: OpenAI `a` cut after 40 tokens, Anthropic `b`
/// continues it): its `End` usage is, as `resume.rs` says, "the first attempt's prompt (the
/// request's estimate: a cut OpenAI stream reports none), the delivered tokens plus the
/// continuation's", yet `ChatStream::tokens_estimated` (the gateway's `tokens_estimated`)
/// is false: the broken attempt's report (`close`) does not say `usage_missing`.
#[tokio::test(start_paused = true)]
async fn rv_a_continued_streams_estimates_are_marked_estimated() {
    use switchyard_live::StreamEvent;
    let profile = |name: &str, dialect: &str, tokens: u32| {
        let text = format!(
            "name: {name}\ndialect: {dialect}\nmodels:\n  - {{ name: m-{name}, context_window: 100000 }}\n\
             latency:\n  first_token: {{ fixed: 100ms }}\n  tokens_per_second: {{ fixed: 100 }}\n\
             output_tokens: {{ fixed: {tokens} }}\nkeys: [dev-key]\n"
        );
        switchyard_fake::load_profile(&text, "resume.yaml").unwrap()
    };
    let rig = common::rig_full(
        &[("a", "openai"), ("b", "anthropic")],
        vec![
            switchyard_fake::server::router(profile("a", "openai", 60), 1),
            switchyard_fake::server::router(profile("b", "anthropic", 20), 2),
        ],
        "  - { name: r, policy: priority, tiers: [[t-a], [t-b]], resume: prefill }\n",
        "  max_attempts: 3\n  attempt_timeout: 10s\n  deadline: 30s\n",
        Default::default(),
        &[("b", "[streaming, prefill]")],
    );
    rig.inject("a", r#"{"kind":"stream_cut","after_tokens":40}"#)
        .await;
    let request = Request {
        stream: true,
        max_tokens: Some(200),
        ..common::request("r")
    };
    let estimate = request.estimated_prompt_tokens;
    let mut stream = rig.router.chat_stream(request).await.unwrap();
    let usage = loop {
        match stream.next().await.unwrap().unwrap() {
            StreamEvent::End { usage, .. } => break usage,
            _ => continue,
        }
    };
    assert_eq!(stream.resumed(), Some(true));
    assert_eq!(usage.prompt_tokens, estimate, "{usage:?}");
    assert!(
        stream.tokens_estimated(),
        "End's usage {usage:?} holds estimates, not marked"
    );
}

/// Drops `stream` inside one poll of the calling task, its coop budget first spent in that
/// poll when `spent` (as a busy task's is).
async fn drop_in_a_poll<T>(stream: T, spent: bool) {
    let mut stream = Some(stream);
    std::future::poll_fn(|cx| {
        if spent {
            for _ in 0..1_000 {
                if pin!(tokio::task::consume_budget()).poll(cx).is_pending() {
                    break;
                }
            }
        }
        drop(stream.take());
        Poll::Ready(())
    })
    .await;
}
