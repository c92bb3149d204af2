use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue};
use switchyard_core::credentials::{AuthStyle, Secret};
use switchyard_core::dialect::HeaderSource;
use switchyard_core::health::LimitSnapshot;
use switchyard_core::request::{Message, Role};

use super::*;

fn request(stream: bool) -> ChatRequest {
    ChatRequest {
        route: "chat".to_owned(),
        messages: vec![Message::text(Role::User, "hello")],
        max_tokens: Some(16),
        stream,
        ..ChatRequest::default()
    }
}

fn endpoint<'a>(
    dialect: Dialect,
    auth: &'a AuthStyle,
    headers: &'a BTreeMap<String, Secret>,
    key: &'a Secret,
) -> Endpoint<'a> {
    Endpoint {
        url: None,
        auth_value: None,
        dialect,
        base_url: "http://127.0.0.1:9001",
        model: "gpt-4o-mini",
        auth,
        headers,
        key,
        default_max_tokens: None,
    }
}

#[test]
fn a_prepared_url_and_auth_value_build_the_same_request() {
    let key = Secret::new("sk-test-1");
    let extra = BTreeMap::from([("x-extra".to_owned(), Secret::new("v"))]);
    for dialect in Dialect::ALL {
        for auth in [
            AuthStyle::Bearer,
            AuthStyle::XApiKey,
            AuthStyle::ApiKeyHeader,
            AuthStyle::GoogApiKey,
            AuthStyle::Query("key".to_owned()),
        ] {
            for stream in [false, true] {
                let request = request(stream);
                let plain = endpoint(dialect, &auth, &extra, &key);
                let url = url(dialect, plain.base_url, plain.model, &auth, stream);
                let value = auth_value(&auth, &key);
                assert_eq!(
                    (url.is_none(), value.is_none()),
                    (
                        matches!(auth, AuthStyle::Query(_)),
                        matches!(auth, AuthStyle::Query(_))
                    ),
                    "{dialect:?} {auth:?}"
                );
                let prepared = Endpoint {
                    url: url.as_ref(),
                    auth_value: value.as_ref(),
                    ..plain
                };
                let a = build(&plain, &request).unwrap();
                let b = build(&prepared, &request).unwrap();
                assert_eq!(a.uri(), b.uri(), "{dialect:?} {auth:?} {stream}");
                assert_eq!(a.headers(), b.headers(), "{dialect:?} {auth:?} {stream}");
                for (name, v) in b.headers() {
                    let secret = name.as_str().contains("key") || name == "authorization";
                    assert_eq!(v.is_sensitive(), secret || name == "x-extra", "{name}");
                }
                assert!(
                    !format!("{b:?}").contains("sk-test-1") || matches!(auth, AuthStyle::Query(_))
                );
            }
        }
    }
}

#[test]
fn openai_request_carries_the_key_as_a_sensitive_bearer_token() {
    let key = Secret::new("sk-test-1");
    let extra = BTreeMap::from([("openai-organization".to_owned(), Secret::new("org-1"))]);
    let http = build(
        &endpoint(Dialect::Openai, &AuthStyle::Bearer, &extra, &key),
        &request(true),
    )
    .unwrap();
    assert_eq!(http.method(), "POST");
    assert_eq!(
        http.uri().to_string(),
        "http://127.0.0.1:9001/v1/chat/completions"
    );
    let auth = &http.headers()["authorization"];
    assert_eq!(auth, "Bearer sk-test-1");
    assert!(auth.is_sensitive(), "keys are marked sensitive for logs");
    assert_eq!(http.headers()["content-type"], "application/json");
    assert_eq!(http.headers()["accept"], "text/event-stream");
    assert_eq!(http.headers()["openai-organization"], "org-1");
    assert!(
        http.headers()["openai-organization"].is_sensitive(),
        "extra header values may be secrets"
    );
}

#[test]
fn each_auth_style_puts_the_key_where_its_vendor_wants_it() {
    let key = Secret::new("k-1");
    let none = BTreeMap::new();
    for (dialect, auth, header) in [
        (Dialect::Anthropic, AuthStyle::XApiKey, "x-api-key"),
        (Dialect::AzureOpenai, AuthStyle::ApiKeyHeader, "api-key"),
        (Dialect::Gemini, AuthStyle::GoogApiKey, "x-goog-api-key"),
    ] {
        let http = build(&endpoint(dialect, &auth, &none, &key), &request(false)).unwrap();
        assert_eq!(http.headers()[header], "k-1", "{dialect:?}");
        assert!(http.headers()[header].is_sensitive());
        assert!(!http.headers().contains_key("accept"));
    }
    let query = AuthStyle::Query("key".to_owned());
    let http = build(
        &endpoint(Dialect::Gemini, &query, &none, &key),
        &request(false),
    )
    .unwrap();
    assert_eq!(
        http.uri().query().map(|q| q.ends_with("key=k-1")),
        Some(true)
    );
    assert!(!http.headers().contains_key("authorization"));
}

#[test]
fn a_key_that_cannot_be_a_header_gives_the_empty_request_the_transport_refuses() {
    let key = Secret::new("bad\nkey");
    let none = BTreeMap::new();
    let http = build(
        &endpoint(Dialect::Openai, &AuthStyle::Bearer, &none, &key),
        &request(false),
    )
    .unwrap();
    assert_eq!(http.uri().authority(), None);
    assert!(!http.headers().contains_key("authorization"));
}

#[test]
fn openai_reply_decodes_text_finish_and_usage_with_escapes() {
    let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
        "choices":[{"index":0,"message":{"role":"assistant","content":"line\none \"quoted\" \u00e9","refusal":null},
        "logprobs":null,"finish_reason":"length"}],
        "usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8},"system_fingerprint":null}"#;
    let d = decode(Dialect::Openai, body).expect("a valid reply");
    assert_eq!(d.text, "line\none \"quoted\" é");
    assert_eq!(d.finish, FinishReason::Length);
    assert_eq!((d.usage.prompt_tokens, d.usage.completion_tokens), (3, 5));
}

#[test]
fn openai_reply_missing_what_the_format_promises_is_malformed() {
    let whole = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
    assert!(decode(Dialect::Openai, whole.as_bytes()).is_ok());
    for field in ["\"id\":\"c\",", "\"model\":\"m\","] {
        let body = whole.replace(field, "");
        assert_eq!(
            decode(Dialect::Openai, body.as_bytes()),
            Err(Failure::kind(ErrorKind::MalformedResponse)),
            "without {field}"
        );
    }
    assert_eq!(
        decode(Dialect::Openai, b"{\"choices\": ["),
        Err(Failure::kind(ErrorKind::MalformedResponse))
    );
}

#[test]
fn header_lookup_ignores_case_and_skips_values_that_are_not_text() {
    let mut map = HeaderMap::new();
    map.insert("retry-after", HeaderValue::from_static("7"));
    map.insert(
        "x-ratelimit-remaining-requests",
        HeaderValue::from_bytes(b"\xff").expect("opaque bytes are a valid value"),
    );
    let h = Headers(&map);
    assert_eq!(h.header("Retry-After"), Some("7"));
    assert_eq!(h.header("x-ratelimit-remaining-requests"), None);
    assert_eq!(h.header("x-ratelimit-limit-requests"), None);
}

/// One reply per dialect without usage (Azure's bodies are OpenAI's).
const NO_USAGE_REPLIES: [(Dialect, &str); 4] = [
    (
        Dialect::Openai,
        r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"abcdefghi"},"finish_reason":"stop"}]}"#,
    ),
    (
        Dialect::AzureOpenai,
        r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"abcdefghi"},"finish_reason":"stop"}],"usage":null}"#,
    ),
    (
        Dialect::Anthropic,
        r#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"abcdefghi"}],"stop_reason":"end_turn","stop_sequence":null}"#,
    ),
    (
        Dialect::Gemini,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"abcdefghi"}]},"finishReason":"STOP","index":0}]}"#,
    ),
];

#[test]
fn a_reply_without_usage_succeeds_with_estimated_usage_and_the_flag() {
    for (dialect, body) in NO_USAGE_REPLIES {
        let d = decode(dialect, body.as_bytes()).expect("a reply without usage is a reply");
        assert_eq!(d.text, "abcdefghi", "{dialect:?}");
        assert!(d.usage_missing, "{dialect:?}");
        assert_eq!(
            (d.usage.prompt_tokens, d.usage.completion_tokens),
            (0, 3),
            "{dialect:?}: no prompt tokens, ceil(9 chars / 4) completion tokens"
        );
    }
    let with = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}"#;
    let d = decode(Dialect::Openai, with.as_bytes()).expect("a valid reply");
    assert!(!d.usage_missing);
    assert_eq!((d.usage.prompt_tokens, d.usage.completion_tokens), (4, 1));
}

fn stream(dialect: Dialect, wire: &str) -> (String, Result<StreamEnd, ErrorKind>) {
    let mut d = StreamDecoder::new(dialect);
    let text = match d.feed(wire.as_bytes()) {
        Ok(pieces) => pieces
            .into_iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t),
                Piece::ToolCall { .. } | Piece::Raw(_) => None,
            })
            .collect(),
        Err(o) => panic!("{dialect:?}: {o:?}"),
    };
    (text, d.end())
}

/// An OpenAI stream as a target sends it with `include_usage`: a role chunk, text with a
/// field Switchyard does not model, the finish, the usage chunk.
const OPENAI_RAW: [&str; 4] = [
    r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m-2024","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m-2024","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.25,"bytes":[72,105],"top_logprobs":[]}],"refusal":null},"finish_reason":null}],"usage":null,"obfuscation":"ab"}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m-2024","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m-2024","system_fingerprint":"fp_x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#,
];

#[test]
fn a_forwarding_decoder_gives_each_chunk_as_it_came_before_what_it_carries() {
    let wire: String = OPENAI_RAW
        .iter()
        .map(|c| format!("data:{c}\r\n\r\n"))
        .chain(["data: [DONE]\n\n".to_owned()])
        .collect();
    let mut d = StreamDecoder::new(Dialect::Openai);
    d.forward_raw(true);
    let pieces = d.feed(wire.as_bytes()).unwrap();
    let raws: Vec<&RawEvent> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Raw(r) => Some(r),
            _ => None,
        })
        .collect();
    // Each chunk's data as sent, re-framed; `[DONE]` is not one.
    assert_eq!(raws.len(), 4);
    for (raw, sent) in raws.iter().zip(OPENAI_RAW) {
        assert_eq!(raw.wire, format!("data: {sent}\n\n").into_bytes());
    }
    // The text follows the chunk that carried it.
    assert!(matches!(&pieces[1], Piece::Raw(r) if r.wire == raws[1].wire));
    assert_eq!(pieces[2], Piece::Text("Hi".into()));
    // The head once, on the first chunk; the usage chunk marked.
    let head = raws[0].head.as_deref().unwrap();
    assert_eq!(
        (head.id.as_str(), head.created, head.model.as_str()),
        ("c1", 7, "m-2024")
    );
    assert!(raws[1..].iter().all(|r| r.head.is_none()));
    assert_eq!(
        raws.iter()
            .map(|r| (r.reports_usage, r.usage_only))
            .collect::<Vec<_>>(),
        [(false, false), (false, false), (false, false), (true, true)]
    );
    // Without usage, a chunk is the same JSON minus its `usage` entry.
    let cut = raws[1].without_usage();
    let data = std::str::from_utf8(&cut)
        .unwrap()
        .strip_prefix("data: ")
        .unwrap();
    let mut expected: serde_json::Value = serde_json::from_str(OPENAI_RAW[1]).unwrap();
    expected.as_object_mut().unwrap().remove("usage");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(data.trim_end()).unwrap(),
        expected
    );
    assert!(cut.ends_with(b"}\n\n"));
    // What is booked is as without forwarding.
    let end = d.end().unwrap();
    assert_eq!(
        (end.usage.prompt_tokens, end.usage.completion_tokens),
        (5, 1)
    );
}

#[test]
fn only_a_forwarding_openai_decoder_gives_raw_chunks() {
    let wire: String = OPENAI_RAW
        .iter()
        .map(|c| format!("data: {c}\n\n"))
        .collect();
    let raw = |d: &mut StreamDecoder, wire: &str| {
        d.feed(wire.as_bytes())
            .unwrap()
            .iter()
            .filter(|p| matches!(p, Piece::Raw(_)))
            .count()
    };
    assert_eq!(raw(&mut StreamDecoder::new(Dialect::Openai), &wire), 0);
    let mut azure = StreamDecoder::new(Dialect::AzureOpenai);
    azure.forward_raw(true);
    assert_eq!(raw(&mut azure, &wire), 4);
    let mut anthropic = StreamDecoder::new(Dialect::Anthropic);
    anthropic.forward_raw(true);
    assert!(!anthropic.forwards_raw());
    assert_eq!(raw(&mut anthropic, ANTHROPIC_STREAM), 0);
}

const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\n",
    r#"data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":1}}}"#,
    "\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_start\n",
    r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    "\n\nevent: brand_new_event\ndata: {\"type\":\"brand_new_event\",\"x\":[1]}\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello world"}}"#,
    "\n\nevent: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
    "\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\n",
    r#"data: {"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":3}}"#,
    "\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

const OPENAI_STREAM: &str = concat!(
    r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}],"usage":null}"#,
    "\n\nevent: keepalive\ndata: {\"anything\": true}\n\n",
    r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":"stop"}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#,
    "\n\ndata: [DONE]\n\n",
);

const GEMINI_STREAM: &str = concat!(
    r#"data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hello"}]},"index":0}]}"#,
    "\n\nevent: keepalive\ndata: {}\n\n",
    r#"data: {"candidates":[{"content":{"role":"model","parts":[{"text":" world"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":3,"totalTokenCount":10}}"#,
    "\n\n",
);

#[test]
fn unknown_and_ping_events_are_skipped_in_every_dialect() {
    for (dialect, wire, finish) in [
        (Dialect::Anthropic, ANTHROPIC_STREAM, FinishReason::Length),
        (Dialect::Openai, OPENAI_STREAM, FinishReason::Stop),
        (Dialect::AzureOpenai, OPENAI_STREAM, FinishReason::Stop),
        (Dialect::Gemini, GEMINI_STREAM, FinishReason::Stop),
    ] {
        let (text, end) = stream(dialect, wire);
        assert_eq!(text, "Hello world", "{dialect:?}");
        assert_eq!(
            end,
            Ok(StreamEnd {
                finish,
                usage: Usage {
                    prompt_tokens: 7,
                    completion_tokens: 3,
                    cached_prompt_tokens: 0,
                },
                usage_missing: false,
                tool_calls: Vec::new(),
            }),
            "{dialect:?}"
        );
    }
}

#[test]
fn a_stream_without_usage_completes_with_estimated_usage_and_the_flag() {
    let strip =
        |wire: &str, cut: &[&str]| cut.iter().fold(wire.to_owned(), |w, c| w.replace(c, ""));
    let anthropic = strip(
        ANTHROPIC_STREAM,
        &[
            r#","usage":{"input_tokens":7,"output_tokens":1}"#,
            r#","usage":{"output_tokens":3}"#,
        ],
    );
    let openai = strip(
        OPENAI_STREAM,
        &[concat!(
            r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#,
            "\n\n"
        )],
    );
    let gemini = strip(
        GEMINI_STREAM,
        &[
            r#","usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":3,"totalTokenCount":10}"#,
        ],
    );
    for (dialect, wire) in [
        (Dialect::Anthropic, anthropic.as_str()),
        (Dialect::Openai, openai.as_str()),
        (Dialect::AzureOpenai, openai.as_str()),
        (Dialect::Gemini, gemini.as_str()),
    ] {
        let (text, end) = stream(dialect, wire);
        assert_eq!(text, "Hello world", "{dialect:?}");
        let end = end.expect("complete");
        assert!(end.usage_missing, "{dialect:?}");
        assert_eq!(
            (end.usage.prompt_tokens, end.usage.completion_tokens),
            (0, 3),
            "{dialect:?}: ceil(11 chars / 4)"
        );
    }
    // Half reported is still flagged; the half that came is kept.
    let (_, end) = stream(
        Dialect::Anthropic,
        &strip(ANTHROPIC_STREAM, &[r#","usage":{"output_tokens":3}"#]),
    );
    let end = end.expect("complete");
    assert!(end.usage_missing);
    assert_eq!(
        (end.usage.prompt_tokens, end.usage.completion_tokens),
        (7, 3)
    );
}

#[test]
fn an_event_over_the_limit_is_malformed() {
    let limits = InputLimits {
        max_event_bytes: 64,
        ..InputLimits::default()
    };
    for dialect in Dialect::ALL {
        let mut d = StreamDecoder::with_limits(dialect, &limits);
        let huge = format!("data: {}", "x".repeat(100));
        assert_eq!(
            d.feed(huge.as_bytes()),
            Err(Failure::kind(ErrorKind::MalformedResponse)),
            "{dialect:?}"
        );
    }
    assert_eq!(
        InputLimits::default(),
        InputLimits {
            max_body_bytes: 32 << 20,
            max_error_body_bytes: 64 << 10,
            max_event_bytes: 1 << 20,
        }
    );
}

/// OpenAI's rate-limit headers read the same whether the reply has none (one scan answers),
/// one among others, or all six: what the dialect's own reading of them gives.
#[test]
fn openai_limits_are_read_whatever_the_reply_has_of_them() {
    let six = [
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-remaining-requests", "499"),
        ("x-ratelimit-reset-requests", "120ms"),
        ("x-ratelimit-limit-tokens", "30000"),
        ("x-ratelimit-remaining-tokens", "29000"),
        ("x-ratelimit-reset-tokens", "2s"),
    ];
    let cases: [&[(&str, &str)]; 4] = [
        &[],
        &[("content-type", "application/json"), ("x-request-id", "r")],
        &[
            ("content-type", "application/json"),
            ("X-RateLimit-Remaining-Tokens", "5"),
        ],
        &six,
    ];
    for headers in cases {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_static(v),
            );
        }
        let want = switchyard_core::dialect::openai::limits(&Headers(&map));
        // As the client reads them: names as sent, no map.
        let mut text = b"HTTP/1.1 200 OK\r\n".to_vec();
        for (k, v) in headers {
            text.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        text.extend_from_slice(b"content-length: 0\r\n\r\n");
        let read = crate::transport::read_reply_headers(&text);
        for dialect in [Dialect::Openai, Dialect::AzureOpenai] {
            assert_eq!(
                limits(dialect, &ReplyView::Map(&map), 0),
                want,
                "{headers:?}"
            );
            assert_eq!(
                limits(dialect, &ReplyView::Read(&read), 0),
                want,
                "{headers:?}"
            );
        }
        assert_eq!(
            want == LimitSnapshot::default(),
            !headers
                .iter()
                .any(|(k, _)| k.to_ascii_lowercase().starts_with("x-ratelimit-")),
            "{headers:?}"
        );
    }
}

/// Reviewer RS: a forwarded stream framed as servers may (CRLF and mixed blank lines, `data:`
/// without its space, a comment line, an `event: message` field, a character split across
/// reads, a byte that is not UTF-8) gives the same pieces, raw chunks included, however its
/// bytes are cut into reads: at every single cut, and byte by byte.
#[test]
fn a_forwarded_stream_cut_into_reads_anywhere_gives_the_same_pieces() {
    let mut wire: Vec<u8> = Vec::new();
    wire.extend_from_slice(b": keep-alive\r\n\r\n");
    wire.extend_from_slice(format!("data:{}\r\n\r\n", OPENAI_RAW[0]).as_bytes());
    wire.extend_from_slice(format!("event: message\ndata: {}\r\n\n", OPENAI_RAW[1]).as_bytes());
    let accented = OPENAI_RAW[1].replace(r#""content":"Hi""#, "\"content\":\"h\u{e9}\u{1f600}\"");
    wire.extend_from_slice(format!("data: {accented}\n\r\n").as_bytes());
    let invalid = OPENAI_RAW[1].replace(r#""content":"Hi""#, "\"content\":\"x\u{1}\"");
    let mut invalid = format!("data: {invalid}\n\n").into_bytes();
    let at = invalid.iter().position(|&b| b == 1).unwrap();
    invalid[at] = 0xff;
    wire.extend_from_slice(&invalid);
    for c in &OPENAI_RAW[2..] {
        wire.extend_from_slice(format!("data: {c}\n\n").as_bytes());
    }
    wire.extend_from_slice(b"data: [DONE]\n\n");
    let run = |reads: &[&[u8]]| {
        let mut d = StreamDecoder::new(Dialect::Openai);
        d.forward_raw(true);
        let mut pieces = Vec::new();
        for r in reads {
            pieces.extend(d.feed(r).unwrap());
        }
        (pieces, d.end().map(|e| (e.finish, e.usage)))
    };
    let whole = run(&[&wire]);
    let raws = whole
        .0
        .iter()
        .filter(|p| matches!(p, Piece::Raw(_)))
        .count();
    assert_eq!(raws, 6, "{:?}", whole.0);
    assert!(whole.0.contains(&Piece::Text("h\u{e9}\u{1f600}".into())));
    assert!(whole.0.contains(&Piece::Text("x\u{fffd}".into())));
    for cut in 0..=wire.len() {
        assert_eq!(run(&[&wire[..cut], &wire[cut..]]), whole, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(run(&bytes), whole, "byte by byte");
}

/// Reviewer RS (before both branches, kept by the borrowed read, which accepts exactly what
/// `ChatCompletionChunk` accepts): with Azure's asynchronous content filter, a stream carries
/// annotation chunks whose choice has `content_filter_results` and `content_filter_offsets`
/// but no `delta`; `delta` is required, so the chunk is refused and the stream breaks as
/// `malformed_response`.
#[test]
fn an_azure_annotation_chunk_without_delta_is_read() {
    let annotation = r#"{"id":"","object":"","created":0,"model":"","choices":[{"index":0,"finish_reason":null,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}},"content_filter_offsets":{"check_offset":44,"start_offset":44,"end_offset":198}}],"system_fingerprint":null}"#;
    let wire = format!(
        "data: {}\n\ndata: {annotation}\n\ndata: {}\n\ndata: [DONE]\n\n",
        OPENAI_RAW[1], OPENAI_RAW[2]
    );
    let mut d = StreamDecoder::new(Dialect::AzureOpenai);
    d.forward_raw(true);
    assert!(d.feed(wire.as_bytes()).is_ok());
    assert!(d.end().is_ok());
}
