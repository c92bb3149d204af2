//! The driver's requests over a bare `HttpClient` (each target's request prepared once, its
//! head written as encoded then) reach the upstream byte for byte as over a layered client
//! (each request built whole and encoded), for every dialect and auth style, streamed or not.
#![expect(clippy::unwrap_used, reason = "test helpers")]

mod common;

use switchyard_core::request::Request;
use switchyard_live::adapter::{self, Endpoint};
use switchyard_live::{Driver, HttpClient, Transport};

/// The upstream: `400` with an empty body to every request (the attempt fails at once, with
/// no failover).
async fn capture() -> (String, Seen) {
    common::capture::capture(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await
}

/// What [`capture`] received: `(connection, request bytes)`.
type Seen = tokio::sync::mpsc::UnboundedReceiver<(usize, Vec<u8>)>;

/// A driver over `transport` in front of one provider per dialect (and a query-string key),
/// all at `url`, with a route per target.
fn driver(url: &str, transport: Transport) -> Driver {
    let used = ["o", "z", "a", "g", "q"];
    let store = common::store(
        &format!(
            "- {{ name: o, dialect: openai, base_url: '{url}', mode: live, headers: {{ OpenAI-Organization: 'literal:org-1' }}, \
              keys: [{{ source: 'literal:k-old', valid_until: '2020-01-01' }}, {{ source: 'literal:k-o' }}] }}\n\
         - {{ name: z, dialect: azure-openai, base_url: 'https://z', fake_base_url: '{url}', mock_key: k-z }}\n\
         - {{ name: a, dialect: anthropic, base_url: 'https://y', fake_base_url: '{url}', mock_key: k-a, headers: {{ anthropic-beta: 'literal:b1', connection: 'literal:close' }} }}\n\
         - {{ name: g, dialect: gemini, base_url: 'https://g', fake_base_url: '{url}', mock_key: k-g }}\n\
         - {{ name: q, dialect: gemini, base_url: 'https://q', fake_base_url: '{url}', mock_key: k-q, auth: 'query:key' }}\n"
        ),
        &used,
    );
    let mut yaml = String::from("targets:\n");
    for p in used {
        yaml.push_str(&format!(
            "  - {{ name: t{p}, provider: {p}, model: m-{p} }}\n"
        ));
    }
    yaml.push_str("routes:\n");
    for p in used {
        yaml.push_str(&format!(
            "  - {{ name: r{p}, policy: static, targets: [t{p}] }}\n"
        ));
    }
    yaml.push_str("plan: { max_attempts: 1, attempt_timeout: 5s }\n");
    let params = switchyard_core::config::load_router(&yaml, "r.yaml").unwrap();
    Driver::new(params, store, transport, 1).unwrap()
}

fn request(route: &str, stream: bool) -> Request {
    Request {
        stream,
        ..common::request(route)
    }
}

/// What the upstream at `url` (keeping its requests in `seen`) received for one request per
/// route, streamed and not, over `transport`.
async fn sent(url: &str, seen: &mut Seen, transport: Transport) -> Vec<String> {
    let driver = driver(url, transport);
    for route in ["ro", "rz", "ra", "rg", "rq"] {
        for stream in [false, true] {
            if stream {
                let _ = driver.chat_stream(request(route, true)).await;
            } else {
                let _ = driver.chat(request(route, false)).await;
            }
        }
    }
    let mut sent = Vec::new();
    while let Ok((_, b)) = seen.try_recv() {
        sent.push(String::from_utf8_lossy(&b).into_owned());
    }
    sent
}

#[tokio::test]
async fn requests_over_a_bare_client_are_the_bytes_of_requests_built_whole() {
    let (url, mut seen) = capture().await;
    let prepared = sent(&url, &mut seen, Transport::new(HttpClient::new())).await;
    let client = HttpClient::new();
    // Not an `HttpClient` to the seam: each request is built whole and goes through `call`.
    let layered = tower::service_fn(move |r| tower::Service::call(&mut client.clone(), r));
    let built = sent(&url, &mut seen, Transport::new(layered)).await;
    assert_eq!(prepared.len(), 10, "{prepared:#?}");
    assert_eq!(prepared, built);
    // Each request its own stream or not (one of each per route, in that order), and the
    // provider's key in use (its second), not another's.
    for (n, request) in prepared.iter().enumerate() {
        let streams = n % 2 == 1;
        assert_eq!(
            request.contains("accept: text/event-stream"),
            streams,
            "{request}"
        );
        assert!(!request.contains("k-old"), "{request}");
    }
    let all = prepared.concat();
    for part in [
        "authorization: Bearer k-o",
        "openai-organization: org-1",
        "api-key: k-z",
        "x-api-key: k-a",
        "anthropic-beta: b1",
        "x-goog-api-key: k-g",
        "key=k-q",
        "accept: text/event-stream",
    ] {
        assert!(all.contains(part), "{part} not sent: {all}");
    }
}

#[tokio::test]
async fn a_prepared_request_is_the_request_built_but_its_body() {
    use http_body_util::BodyExt;
    use switchyard_core::credentials::{AuthStyle, Secret};
    use switchyard_core::dialect::Dialect;
    let key = Secret::new("k-1".to_owned());
    let headers = [("X-Extra".to_owned(), Secret::new("v".to_owned()))].into();
    let cases = [
        (Dialect::Openai, AuthStyle::Bearer),
        (Dialect::AzureOpenai, AuthStyle::ApiKeyHeader),
        (Dialect::Anthropic, AuthStyle::XApiKey),
        (Dialect::Gemini, AuthStyle::GoogApiKey),
    ];
    for (dialect, auth) in cases {
        for stream in [false, true] {
            let url = adapter::url(dialect, "http://127.0.0.1:9", "m", &auth, stream);
            let auth_value = adapter::auth_value(&auth, &key);
            let endpoint = Endpoint {
                url: url.as_ref(),
                auth_value: auth_value.as_ref(),
                dialect,
                base_url: "http://127.0.0.1:9",
                model: "m",
                auth: &auth,
                headers: &headers,
                key: &key,
                default_max_tokens: None,
            };
            let request = Request {
                stream,
                ..common::request("r")
            };
            let built = adapter::build(&endpoint, &request).unwrap();
            let body = adapter::body(&endpoint, &request).unwrap();
            let prepared = adapter::prepare(&endpoint, stream).unwrap().request(body);
            let case = format!("{dialect:?}, stream {stream}");
            assert_eq!(prepared.method(), built.method(), "{case}");
            assert_eq!(prepared.uri(), built.uri(), "{case}");
            assert_eq!(prepared.headers(), built.headers(), "{case}");
            let bytes = |r: switchyard_live::transport::HttpRequest| async move {
                r.into_body().collect().await.unwrap().to_bytes()
            };
            assert_eq!(bytes(prepared).await, bytes(built).await, "{case}");
        }
    }
    // A key in the URL: nothing prepared.
    let auth = AuthStyle::Query("key".to_owned());
    let endpoint = Endpoint {
        url: None,
        auth_value: None,
        dialect: Dialect::Gemini,
        base_url: "http://127.0.0.1:9",
        model: "m",
        auth: &auth,
        headers: &headers,
        key: &key,
        default_max_tokens: None,
    };
    assert!(adapter::prepare(&endpoint, false).is_none());
}

/// A reply's headers as the bare client reads them (from the head's bytes, names in the
/// case they came in): a 429's `Retry-After`, sent in capitals, says when to retry, and the
/// target is parked for as long.
#[tokio::test]
async fn a_429s_retry_after_is_read_from_the_bare_clients_reply() {
    let (url, _seen) = common::capture::capture(
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\
          RETRY-AFTER: 7\r\ncontent-length: 2\r\n\r\n{}",
    )
    .await;
    let driver = driver(&url, Transport::new(HttpClient::new()));
    let err = driver.chat(request("ro", false)).await.unwrap_err();
    assert_eq!(
        err.retry_after.map(|d| d.as_secs_f64().round()),
        Some(7.0),
        "{err}"
    );
    let parked = driver.snapshot()[0].parked_for_secs;
    assert!((6.0..=7.0).contains(&parked), "{parked}");
}

/// A served reply's rate-limit headers, as the bare client reads them: a 200 that says no
/// request is left until a reset parks its target for as long.
#[tokio::test]
async fn a_served_replys_rate_limit_headers_are_read_from_the_bare_clients_reply() {
    let body = br#"{"id":"c","object":"chat.completion","created":1,"model":"m-o","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
         X-RateLimit-Remaining-Requests: 0\r\nX-RateLimit-Reset-Requests: 7s\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(body);
    let (url, _seen) = common::capture::capture(Box::leak(reply.into_boxed_slice())).await;
    let driver = driver(&url, Transport::new(HttpClient::new()));
    let served = driver.chat(request("ro", false)).await.unwrap();
    assert_eq!(served.usage.completion_tokens, 1);
    let parked = driver.snapshot()[0].parked_for_secs;
    assert!((6.0..=7.0).contains(&parked), "{parked}");
}

/// A stream answered with a JSON body (`content-type: application/json`, read from the bare
/// client's reply) is not a stream: the attempt is a malformed response.
#[tokio::test]
async fn a_stream_answered_with_json_is_malformed_over_the_bare_client() {
    let (url, _seen) = common::capture::capture(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}",
    )
    .await;
    let driver = driver(&url, Transport::new(HttpClient::new()));
    let Err(err) = driver.chat_stream(request("ro", true)).await else {
        panic!("a JSON body was taken for a stream");
    };
    assert_eq!(
        err.outcome,
        switchyard_core::outcome::FailureReason::Attempt(
            switchyard_core::outcome::ErrorKind::MalformedResponse
        ),
        "{err}"
    );
}
