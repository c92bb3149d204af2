//! The gateway's books for requests that end oddly: a body cut by its client, a stream left
//! after its finish, a request left before its first token, an attempt that timed out, cached
//! prompt tokens, and the requests `/metrics` counts that never reached the router.
#![expect(clippy::unwrap_used, reason = "test code")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use switchyard_gateway::Gateway;
use switchyard_live::{InProcess, Transport};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

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
    listen(gw, Duration::from_secs(5)).await
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
        let line = log.access_lines(i + 1).await.remove(i);
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
    let line = log.access_lines(5).await.remove(4);
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
    let line = log.access_lines(6).await.remove(5);
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

/// A gateway whose route `chat` has one target `t` of `dialect` in front of `upstream`,
/// priced 2 USD a million input tokens, 0.5 cached, 10 output.
fn priced(dialect: &str, upstream: axum::Router) -> Arc<Gateway> {
    let text = format!(
        "providers:\n  - {{ name: p, dialect: {dialect}, base_url: 'https://x', fake_base_url: 'http://up.stub' }}\n\
         router:\n  targets:\n    - {{ name: t, provider: p, model: m, price: {{ input: 2, output: 10, cached_input: 0.5 }} }}\n  routes:\n    - {{ name: chat, policy: static, targets: [t] }}\n  plan: {{ max_attempts: 1 }}\n\
         gateway:\n  keys:\n    - {{ name: app, sha256: {} }}\n",
        switchyard_gateway::sha256_hex(CLIENT_KEY),
    );
    let params = switchyard_live::config::load_live(&text, "gw.yaml").unwrap();
    let transport = Transport::new(InProcess::new().with("up.stub", upstream));
    Gateway::new(&params, None, transport).unwrap()
}

/// An upstream that sends `events` (SSE, `event:` named when given) and then nothing more,
/// its body left open.
fn stalling(events: Vec<(Option<&'static str>, serde_json::Value)>) -> axum::Router {
    axum::Router::new().fallback(move || {
        let frames: Vec<Result<String, std::convert::Infallible>> = events
            .iter()
            .map(|(name, data)| {
                Ok(match name {
                    Some(n) => format!("event: {n}\ndata: {data}\n\n"),
                    None => format!("data: {data}\n\n"),
                })
            })
            .collect();
        async move {
            let body = futures_util::StreamExt::chain(
                futures_util::stream::iter(frames),
                futures_util::stream::pending(),
            );
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(body))
                .unwrap()
        }
    })
}

/// A streamed chat request through `gw`, read until a chunk carries `until`, then dropped
/// (the client leaves); the request's access line.
async fn leave_after(gw: &Arc<Gateway>, log: &Captured, until: &str) -> serde_json::Value {
    use http_body_util::BodyExt;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .header("authorization", format!("Bearer {CLIENT_KEY}"))
        .body(axum::body::Body::from(chat(true)))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(switchyard_gateway::app(gw.clone()), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut got = String::new();
    while !got.contains(until) {
        let frame = body.frame().await.unwrap().unwrap();
        got.push_str(&String::from_utf8_lossy(frame.data_ref().unwrap()));
    }
    let before = log.access().len();
    drop(body);
    let mut lines = log.access();
    assert_eq!(lines.len(), before + 1, "{}", log.text());
    lines.pop().unwrap()
}

/// The cost of `prompt` tokens, `cached` of them cached, and `completion` at [`priced`]'s
/// prices.
fn cost(prompt: u64, cached: u64, completion: u64) -> f64 {
    ((prompt - cached) as f64 * 2.0 + cached as f64 * 0.5 + completion as f64 * 10.0) / 1e6
}

/// An Anthropic stream its client leaves after its first text: the attempt is `cancelled`,
/// booked with the prompt its `message_start` reported, and the 800 tokens of it read from
/// the cache are priced at the cached rate, not as full input.
#[tokio::test(start_paused = true)]
async fn a_cancelled_attempts_cached_prompt_tokens_are_priced_at_the_cached_rate() {
    let log = Captured::start();
    let upstream = stalling(vec![
        (
            Some("message_start"),
            serde_json::json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": null, "usage": {"input_tokens": 200, "cache_read_input_tokens": 800, "output_tokens": 1}}}),
        ),
        (
            Some("content_block_start"),
            serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            Some("content_block_delta"),
            serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello there"}}),
        ),
    ]);
    let gw = priced("anthropic", upstream);
    let line = leave_after(&gw, &log, "Hello there").await;
    assert_eq!(line["result"], "client_closed", "{line}");
    assert_eq!(line["attempts"], "t:cancelled", "{line}");
    assert_eq!(line["prompt_tokens"], 1000, "{line}");
    let completion = line["completion_tokens"].as_u64().unwrap();
    assert!(completion >= 1, "{line}");
    let booked = line["cost_usd"].as_f64().unwrap();
    assert!(
        (booked - cost(1000, 800, completion)).abs() < 1e-12,
        "{booked} against {}: {line}",
        cost(1000, 800, completion)
    );
    // A whole reply's cached tokens too.
    let reply = serde_json::json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "usage": {"input_tokens": 200, "cache_read_input_tokens": 800, "output_tokens": 5}});
    let upstream = axum::Router::new().fallback(move || {
        let reply = reply.clone();
        async move { axum::Json(reply) }
    });
    let gw = priced("anthropic", upstream);
    let key = Some(CLIENT_KEY);
    let (status, _) = call(&gw, "POST", "/v1/chat/completions", key, chat(false)).await;
    assert_eq!(status, 200);
    let line = log.access().pop().unwrap();
    assert_eq!(line["result"], "ok", "{line}");
    let booked = line["cost_usd"].as_f64().unwrap();
    assert!((booked - cost(1000, 800, 5)).abs() < 1e-12, "{line}");
}

/// An OpenAI chunk of the stream `chatcmpl-1` with these `choices` (and `usage`, if given).
fn chunk(choices: serde_json::Value, usage: Option<serde_json::Value>) -> serde_json::Value {
    let mut c = serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices});
    if let Some(u) = usage {
        c["usage"] = u;
    }
    c
}

/// A forwarded stream its client leaves once it has the target's finish chunk, before the
/// usage chunk or `[DONE]` (a client that stops reading at `finish_reason`): the answer was
/// whole, so the request is booked served, its attempt a success, with the usage the target
/// reported (here none yet: estimated; then with the usage chunk: the target's, whether the
/// client read it or it had only reached the gateway), and the line says `ok`, as `/metrics`
/// counts it.
#[tokio::test(start_paused = true)]
async fn a_client_that_leaves_after_the_finish_chunk_is_served() {
    let log = Captured::start();
    let text = chunk(
        serde_json::json!([{"index": 0, "delta": {"role": "assistant", "content": "Hello there"}, "finish_reason": null}]),
        None,
    );
    let finish = chunk(
        serde_json::json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        None,
    );
    let usage = chunk(
        serde_json::json!([]),
        Some(serde_json::json!({"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57})),
    );
    for (events, until, reported) in [
        (
            vec![text.clone(), finish.clone()],
            "\"finish_reason\":\"stop\"",
            false,
        ),
        (
            vec![text.clone(), finish.clone(), usage.clone()],
            "\"completion_tokens\":7",
            true,
        ),
        // The usage chunk sent, not read by the client: read when it leaves.
        (
            vec![text, finish, usage],
            "\"finish_reason\":\"stop\"",
            true,
        ),
    ] {
        let gw = priced(
            "openai",
            stalling(events.into_iter().map(|e| (None, e)).collect()),
        );
        let line = leave_after(&gw, &log, until).await;
        assert_eq!(line["status"], 200, "{line}");
        assert_eq!(line["result"], "ok", "{line}");
        assert_eq!(line["attempts"], "t:success", "{line}");
        assert_eq!(line["served_by"], "t", "{line}");
        let (prompt, completion) = (
            line["prompt_tokens"].as_u64().unwrap(),
            line["completion_tokens"].as_u64().unwrap(),
        );
        if reported {
            assert_eq!((prompt, completion), (50, 7), "{line}");
        } else {
            assert!(prompt >= 1 && completion >= 1, "{line}");
        }
        let booked = line["cost_usd"].as_f64().unwrap();
        assert!(
            (booked - cost(prompt, 0, completion)).abs() < 1e-12,
            "{line}"
        );
        let (_, metrics) = call(&gw, "GET", "/metrics", None, String::new()).await;
        let routed = series(&metrics, "switchyard_requests_total");
        assert_eq!(
            routed,
            [("route=\"chat\",outcome=\"success\"".to_owned(), 1)]
                .into_iter()
                .collect(),
            "{metrics}"
        );
    }
}

/// A gateway with route `chat` on `ta`, whose fake sends its first token after 2 s, with
/// `plan` as the router's `plan:` line.
fn slow_first_token(plan: &str) -> Arc<Gateway> {
    let text = config(
        TA,
        "    - { name: chat, policy: static, targets: [ta] }\n",
        "",
    )
    .replace("plan: { max_attempts: 2 }", plan);
    let profile = "name: a\ndialect: openai\nmodels:\n  - { name: m }\nlatency:\n  first_token: { fixed: 2s }\n  tokens_per_second: { fixed: 1000 }\noutput_tokens: { fixed: 5 }\n";
    let fake = switchyard_fake::server::router(
        switchyard_fake::load_profile(profile, "p.yaml").unwrap(),
        1,
    );
    from_file(&text, Transport::new(InProcess::new().with("a.fake", fake))).0
}

/// A request its client leaves before the first token (unstreamed, then streamed), its
/// attempt on its way to a target that answers only after 2 s: the attempt was sent the
/// prompt, so it is booked `cancelled` with the router's estimate of the prompt (the one
/// `Request::estimated_prompt_tokens` holds, no usage being read yet), and costs it; its
/// access line marks the tokens `tokens_estimated`, where a request served with the usage
/// its target reported has no such field.
#[tokio::test(start_paused = true)]
async fn a_request_left_before_its_first_token_books_the_prompt_estimate() {
    let log = Captured::start();
    let gw = slow_first_token("plan: { max_attempts: 2 }");
    for (i, stream) in [false, true].into_iter().enumerate() {
        let body = chat(stream);
        let estimate = estimated_prompt(&body);
        let call = call(&gw, "POST", "/v1/chat/completions", Some(CLIENT_KEY), body);
        assert!(
            tokio::time::timeout(Duration::from_millis(500), call)
                .await
                .is_err()
        );
        let line = log.access().remove(i);
        assert_eq!(line["status"], 499, "{line}");
        assert_eq!(line["result"], "client_closed", "{line}");
        assert_eq!(line["attempts"], "ta:cancelled", "{line}");
        assert_eq!(line["prompt_tokens"], estimate, "{line}");
        assert_eq!(line["completion_tokens"], 0, "{line}");
        // An estimate, and the line says so (docs/GATEWAY.md, "Logs").
        assert_eq!(line["tokens_estimated"], true, "{line}");
        let booked = line["cost_usd"].as_f64().unwrap();
        assert!(
            (booked - f64::from(estimate) * 2.0 / 1e6).abs() < 1e-12,
            "{line}"
        );
    }
    // Served whole, with the usage the fake reported: no marker.
    for stream in [false, true] {
        let (status, _) = call(
            &gw,
            "POST",
            "/v1/chat/completions",
            Some(CLIENT_KEY),
            chat(stream),
        )
        .await;
        assert_eq!(status, 200);
    }
    let lines = log.access();
    assert_eq!(lines.len(), 4, "{}", log.text());
    for line in &lines[2..] {
        assert_eq!(line["result"], "ok", "{line}");
        assert_eq!(line["completion_tokens"], 5, "{line}");
        assert_eq!(line.get("tokens_estimated"), None, "{line}");
    }
    let (_, metrics) = call(&gw, "GET", "/metrics", None, String::new()).await;
    assert!(
        metrics.contains("switchyard_requests_total{route=\"chat\",outcome=\"abandoned\"} 2"),
        "{metrics}"
    );
}

/// A fake whose profile says `cached_prompt_tokens` reports them in its vendor's usage field
/// (docs/FAKES.md), and the gateway prices them at the target's `price.cached_input`: a
/// whole reply and a stream, from each dialect's fake, logged at that cost, the client's
/// reply saying how many were cached.
#[tokio::test(start_paused = true)]
async fn a_fakes_cached_prompt_tokens_are_priced_at_the_cached_rate() {
    let log = Captured::start();
    let uncached = "latency:\n  first_token: { fixed: 10ms }\n  tokens_per_second: { fixed: 1000 }\noutput_tokens: { fixed: 5 }\n";
    let profile = format!("{uncached}cached_prompt_tokens: 3\n");
    let mut n = 0;
    for dialect in ["openai", "anthropic", "gemini"] {
        // The same request's prompt without a cache: the cached tokens are part of it.
        let gw = priced(dialect, fake_with("p", dialect, uncached));
        let (status, _) = call(&gw, "POST", CHAT_PATH, Some(CLIENT_KEY), chat(false)).await;
        assert_eq!(status, 200);
        n += 1;
        let line = log.access_lines(n).await.remove(n - 1);
        let whole = line["prompt_tokens"].clone();
        // By default a fake reports no cached tokens: the whole prompt at the input price.
        let want = (whole.as_u64().unwrap() as f64 * 2.0 + 5.0 * 10.0) / 1e6;
        let cost = line["cost_usd"].as_f64().unwrap();
        assert!(
            (cost - want).abs() < 1e-9,
            "{dialect}: {cost} != {want}: {line}"
        );
        let gw = priced(dialect, fake_with("p", dialect, &profile));
        for stream in [false, true] {
            let (status, body) = call(&gw, "POST", CHAT_PATH, Some(CLIENT_KEY), chat(stream)).await;
            assert_eq!(status, 200, "{dialect}: {body}");
            if !stream {
                let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
                let cached = &reply["usage"]["prompt_tokens_details"]["cached_tokens"];
                assert_eq!(cached, 3, "{dialect}: {body}");
            }
            n += 1;
            let line = log.access_lines(n).await.remove(n - 1);
            let prompt = line["prompt_tokens"].as_u64().unwrap();
            assert!(prompt > 3, "{line}");
            assert_eq!(line["prompt_tokens"], whole, "{dialect}: {line}");
            assert_eq!(line["completion_tokens"], 5, "{line}");
            // $2 a million prompt tokens, $0.5 cached, $10 output.
            let want = ((prompt - 3) as f64 * 2.0 + 3.0 * 0.5 + 5.0 * 10.0) / 1e6;
            let cost = line["cost_usd"].as_f64().unwrap();
            assert!(
                (cost - want).abs() < 1e-9,
                "{dialect} stream {stream}: {cost} != {want}: {line}"
            );
        }
    }
}

/// An attempt that times out (200 ms, the fake's first token at 2 s): a stream's head came
/// at once, so its provider had the prompt, and the access line books the request's
/// estimated prompt tokens, priced, marked as an estimate; a whole reply's head comes with
/// its body, so nothing came before the timeout and nothing is booked (the gateway cannot
/// tell a provider that has the prompt from a connection never made).
#[tokio::test(start_paused = true)]
async fn a_timed_out_streams_attempt_books_the_prompt_estimate() {
    let log = Captured::start();
    let gw = slow_first_token("plan: { max_attempts: 1, attempt_timeout: 200ms }");
    for (i, stream) in [false, true].into_iter().enumerate() {
        let body = chat(stream);
        let estimate = if stream { estimated_prompt(&body) } else { 0 };
        let (status, _) = call(&gw, "POST", "/v1/chat/completions", Some(CLIENT_KEY), body).await;
        assert_eq!(status, 504);
        let line = log.access().remove(i);
        assert_eq!(line["attempts"], "ta:timeout", "{line}");
        assert_eq!(line["prompt_tokens"], estimate, "{line}");
        assert_eq!(line["completion_tokens"], 0, "{line}");
        assert_eq!(line.get("tokens_estimated").is_some(), stream, "{line}");
        let booked = line["cost_usd"].as_f64().unwrap();
        assert!(
            (booked - f64::from(estimate) * 2.0 / 1e6).abs() < 1e-12,
            "{line}"
        );
    }
}
