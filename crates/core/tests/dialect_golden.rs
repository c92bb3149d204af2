//! The dialect codecs against vendors' published payloads.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test code")]

use serde_json::Value;
use switchyard_core::dialect::{anthropic, azure_openai, gemini, openai};
use switchyard_core::outcome::{ErrorKind, Outcome};
use switchyard_core::request::{FinishReason, Usage};
use switchyard_core::time::Duration;

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn json(path: &str) -> Value {
    serde_json::from_str(&fixture(path)).unwrap()
}

/// Every key of `golden` (recursively; arrays by their first element) is in `ours`, except
/// keys the vendor sends that clients do not need.
fn same_shape(golden: &Value, ours: &Value, at: &str) {
    const OPTIONAL: [&str; 3] = ["avgLogprobs", "promptTokensDetails", "index"];
    match (golden, ours) {
        (Value::Object(g), Value::Object(o)) => {
            for (k, v) in g {
                if OPTIONAL.contains(&k.as_str()) {
                    continue;
                }
                let Some(ov) = o.get(k) else {
                    panic!("{at}.{k} missing from our payload: {ours}")
                };
                same_shape(v, ov, &format!("{at}.{k}"));
            }
        }
        (Value::Array(g), Value::Array(o)) => {
            if let (Some(g0), Some(o0)) = (g.first(), o.first()) {
                same_shape(g0, o0, &format!("{at}[0]"));
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (g, o) => assert_eq!(
            std::mem::discriminant(g),
            std::mem::discriminant(o),
            "{at}: {g} vs {o}"
        ),
    }
}

const USAGE: Usage = Usage {
    prompt_tokens: 9,
    completion_tokens: 12,
    cached_prompt_tokens: 0,
};

#[test]
fn openai_completion_reads_and_our_shape_matches() {
    let golden = json("openai/completion.json");
    let parsed: openai::ChatCompletion = serde_json::from_value(golden.clone()).unwrap();
    assert_eq!(
        parsed.text(),
        (
            "\n\nHello there, how may I assist you today?".to_owned(),
            FinishReason::Stop
        )
    );
    assert_eq!(Usage::from(parsed.usage.unwrap()), USAGE);
    let ours = openai::ChatCompletion::new(
        "chatcmpl-1".into(),
        1,
        "gpt-4o-mini",
        "hi".into(),
        FinishReason::Stop,
        USAGE,
    );
    same_shape(&golden, &serde_json::to_value(&ours).unwrap(), "completion");
}

#[test]
fn openai_chunks_match() {
    let first = json("openai/chunk_first.json");
    let ours =
        openai::ChatCompletionChunk::delta("c", 1, "m", true, Some(String::new()), None, true);
    same_shape(&first, &serde_json::to_value(&ours).unwrap(), "chunk");
    assert_eq!(
        serde_json::to_value(&ours).unwrap()["usage"],
        Value::Null,
        "usage: null with include_usage"
    );
    let plain =
        openai::ChatCompletionChunk::delta("c", 1, "m", false, Some("x".into()), None, false);
    assert!(
        serde_json::to_value(&plain).unwrap().get("usage").is_none(),
        "no usage key without include_usage"
    );
    let last: openai::ChatCompletionChunk =
        serde_json::from_value(json("openai/chunk_last.json")).unwrap();
    assert_eq!(last.choices[0].finish_reason.as_deref(), Some("stop"));
    let usage = json("openai/chunk_usage.json");
    let ours = openai::ChatCompletionChunk::usage("c", 1, "m", USAGE);
    same_shape(&usage, &serde_json::to_value(&ours).unwrap(), "usage chunk");
    let parsed: openai::ChatCompletionChunk = serde_json::from_value(usage).unwrap();
    assert_eq!(parsed.usage.flatten().map(Usage::from), Some(USAGE));
}

#[test]
fn openai_reads_thin_and_inconsistent_replies_without_trusting_them() {
    let reply: openai::ChatCompletion = serde_json::from_str(
        r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[],
            "usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":999,
                     "prompt_tokens_details":{"cached_tokens":7}}}"#,
    )
    .unwrap();
    assert_eq!(reply.text(), (String::new(), FinishReason::Stop));
    let usage = Usage::from(reply.usage.unwrap());
    assert_eq!(
        (usage.cached_prompt_tokens, usage.total()),
        (5, 6),
        "cached capped at the prompt; the vendor's total recomputed"
    );
    let reply: openai::ChatCompletion = serde_json::from_str(
        r#"{"id":"c","object":"chat.completion","created":1,"model":"m",
            "choices":[{"index":0,"message":{"role":"assistant","content":null}}],
            "usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6,
                     "prompt_tokens_details":{"cached_tokens":null}}}"#,
    )
    .unwrap();
    assert_eq!(reply.text(), (String::new(), FinishReason::Stop));
    assert_eq!(Usage::from(reply.usage.unwrap()).cached_prompt_tokens, 0);
    // Not OpenAI's error shape: the status alone decides.
    assert_eq!(
        openai::classify(429, &[("retry-after", "1")], b"<html>busy</html>"),
        Outcome::Error {
            kind: ErrorKind::RateLimited,
            retry_after: Some(Duration::from_secs(1))
        }
    );
}

#[test]
fn openai_errors_classify() {
    let cases = [
        ("openai/error_rate_limit.json", 429, ErrorKind::RateLimited),
        (
            "openai/error_context_length.json",
            400,
            ErrorKind::ContextLengthExceeded,
        ),
        (
            "openai/error_invalid_key.json",
            401,
            ErrorKind::Unauthorized,
        ),
        ("openai/error_quota.json", 429, ErrorKind::Forbidden),
    ];
    for (path, status, kind) in cases {
        let outcome = openai::classify(status, &[("retry-after", "2")], fixture(path).as_bytes());
        assert_eq!(
            outcome,
            Outcome::Error {
                kind,
                retry_after: Some(Duration::from_secs(2))
            },
            "{path}"
        );
    }
    for kind in ErrorKind::ALL {
        let (status, body) = openai::ErrorBody::for_kind(kind, "gpt-4o");
        same_shape(
            &json("openai/error_context_length.json"),
            &serde_json::to_value(&body).unwrap(),
            "error",
        );
        let back = openai::classify(status, &[("x", "y")], &serde_json::to_vec(&body).unwrap());
        let expected = match kind {
            ErrorKind::Timeout
            | ErrorKind::ConnectFailed
            | ErrorKind::MalformedResponse
            | ErrorKind::StreamInterrupted => ErrorKind::ServerError,
            k => k,
        };
        assert_eq!(back.error_kind(), Some(expected), "{kind:?} round trip");
    }
    // 500 with a garbage body still classifies by status.
    assert_eq!(
        openai::classify(503, &[("a", "b")], b"<html>").error_kind(),
        Some(ErrorKind::Overloaded)
    );
}

#[test]
fn openai_rate_limit_headers() {
    let h = [
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-remaining-requests", "499"),
        ("x-ratelimit-reset-requests", "120ms"),
        ("x-ratelimit-limit-tokens", "30000"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ];
    let l = openai::limits(&h);
    assert_eq!(
        (l.limit_requests, l.remaining_requests),
        (Some(500), Some(499))
    );
    assert_eq!(l.reset_requests, Some(Duration::from_millis(120)));
    assert_eq!(l.reset_tokens, Some(Duration::from_secs(360)));
    assert_eq!(l.remaining_tokens, Some(0));
}

#[test]
fn anthropic_message_and_stream() {
    let golden = json("anthropic/message.json");
    let parsed: anthropic::MessageResponse = serde_json::from_value(golden.clone()).unwrap();
    assert_eq!(
        parsed.text(),
        ("Hi! My name is Claude.".to_owned(), FinishReason::Stop)
    );
    assert_eq!(
        (parsed.usage.input_tokens, parsed.usage.output_tokens),
        (2095, 503)
    );
    let ours = anthropic::MessageResponse::new(
        "msg_1".into(),
        "claude",
        "hi".into(),
        FinishReason::Stop,
        USAGE,
    );
    same_shape(&golden, &serde_json::to_value(&ours).unwrap(), "message");

    let stream = fixture("anthropic/stream.txt");
    let mut text = String::new();
    let mut names = Vec::new();
    for block in stream.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut lines = block.lines();
        let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
        let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
        let event: anthropic::WireEvent = serde_json::from_str(data).unwrap();
        assert_eq!(event.name(), name, "the event line repeats the type");
        if let anthropic::WireEvent::ContentBlockDelta { delta, .. } = &event {
            text.push_str(&delta.text);
        }
        // Ours serializes to the same shape.
        same_shape(
            &serde_json::from_str(data).unwrap(),
            &serde_json::to_value(&event).unwrap(),
            name,
        );
        names.push(name.to_owned());
    }
    assert_eq!(text, "Hello!");
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
}

#[test]
fn anthropic_reads_text_blocks_only_and_absent_counts_as_zero() {
    let reply: anthropic::MessageResponse = serde_json::from_str(
        r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude",
            "content":[{"type":"text","text":"Let me check."},
                       {"type":"tool_use","id":"toolu_1","name":"f","input":{}},
                       {"type":"text","text":" Done."}],
            "stop_reason":null,"stop_sequence":null,"usage":{"output_tokens":3}}"#,
    )
    .unwrap();
    assert_eq!(reply.content[1].text, "");
    assert_eq!(
        reply.text(),
        ("Let me check. Done.".to_owned(), FinishReason::Stop)
    );
    assert_eq!(
        (reply.usage.input_tokens, reply.usage.output_tokens),
        (0, 3)
    );
}

#[test]
fn anthropic_errors_and_limits() {
    let cases = [
        (
            "anthropic/error_overloaded.json",
            529,
            ErrorKind::Overloaded,
        ),
        (
            "anthropic/error_prompt_too_long.json",
            400,
            ErrorKind::ContextLengthExceeded,
        ),
        (
            "anthropic/error_rate_limit.json",
            429,
            ErrorKind::RateLimited,
        ),
    ];
    for (path, status, kind) in cases {
        assert_eq!(
            anthropic::classify(status, &[("a", "b")], fixture(path).as_bytes()).error_kind(),
            Some(kind),
            "{path}"
        );
    }
    for kind in [
        ErrorKind::RateLimited,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::BadRequest,
        ErrorKind::ContextLengthExceeded,
        ErrorKind::ContentFiltered,
        ErrorKind::Overloaded,
        ErrorKind::ServerError,
    ] {
        let (status, body) = anthropic::ErrorBody::for_kind(kind);
        same_shape(
            &json("anthropic/error_overloaded.json"),
            &serde_json::to_value(&body).unwrap(),
            "error",
        );
        assert_eq!(
            anthropic::classify(status, &[("a", "b")], &serde_json::to_vec(&body).unwrap())
                .error_kind(),
            Some(kind)
        );
    }
    let h = [
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "2026-11-25T00:00:30Z"),
    ];
    let l = anthropic::limits(&h, 1_795_564_800);
    assert_eq!(
        (l.limit_requests, l.remaining_requests, l.reset_requests),
        (Some(50), Some(0), Some(Duration::from_secs(30)))
    );
}

#[test]
fn gemini_reads_text_parts_only_and_absent_counts_as_zero() {
    let event: gemini::GenerateResponse = serde_json::from_str(
        r#"{"candidates":[{"content":{"role":"model","parts":[
            {"text":"Sure"},{"functionCall":{"name":"f","args":{}}},{"text":", done."}]}}],
            "usageMetadata":{"promptTokenCount":4}}"#,
    )
    .unwrap();
    assert_eq!(event.candidates[0].content.parts[1].text, None);
    assert_eq!(event.text(), ("Sure, done.".to_owned(), None));
    assert_eq!(event.candidates[0].index, 0);
    let usage = event.usage_metadata.unwrap();
    assert_eq!(
        (usage.candidates_token_count, usage.total_token_count),
        (0, 0)
    );
    let blocked: gemini::GenerateResponse =
        serde_json::from_str(r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#).unwrap();
    assert_eq!(blocked.text(), (String::new(), None));
}

#[test]
fn gemini_response_and_errors() {
    let golden = json("gemini/response.json");
    let parsed: gemini::GenerateResponse = serde_json::from_value(golden.clone()).unwrap();
    assert_eq!(parsed.text().1, Some(FinishReason::Stop));
    assert_eq!(parsed.usage_metadata.unwrap().total_token_count, 19);
    let ours = gemini::GenerateResponse::new(
        "gemini-2.0-flash",
        "r1",
        "hi".into(),
        Some(FinishReason::Stop),
        Some(USAGE),
    );
    same_shape(&golden, &serde_json::to_value(&ours).unwrap(), "response");

    let exhausted = gemini::classify(
        429,
        &[("a", "b")],
        fixture("gemini/error_resource_exhausted.json").as_bytes(),
    );
    assert_eq!(
        exhausted,
        Outcome::Error {
            kind: ErrorKind::RateLimited,
            retry_after: Some(Duration::from_secs(37))
        }
    );
    let bad_key = gemini::classify(
        400,
        &[("a", "b")],
        fixture("gemini/error_api_key_invalid.json").as_bytes(),
    );
    assert_eq!(bad_key.error_kind(), Some(ErrorKind::Unauthorized));
    for kind in [
        ErrorKind::RateLimited,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::BadRequest,
        ErrorKind::ContextLengthExceeded,
        ErrorKind::ContentFiltered,
        ErrorKind::Overloaded,
        ErrorKind::ServerError,
        ErrorKind::Timeout,
    ] {
        let (status, body) = gemini::error_for_kind(kind, Some(Duration::from_secs(5)));
        let back = gemini::classify(status, &[("a", "b")], &serde_json::to_vec(&body).unwrap());
        assert_eq!(back.error_kind(), Some(kind), "{kind:?}");
        assert_eq!(back.retry_after(), Some(Duration::from_secs(5)));
    }
}

#[test]
fn azure_completion_and_errors() {
    let golden = json("azure-openai/completion.json");
    let parsed: openai::ChatCompletion = serde_json::from_value(golden.clone()).unwrap();
    assert_eq!(
        parsed.text().0,
        "Yes, customer managed keys are supported by Azure OpenAI."
    );
    let mut ours = openai::ChatCompletion::new(
        "c".into(),
        1,
        "gpt-4o",
        "x".into(),
        FinishReason::Stop,
        USAGE,
    );
    ours.prompt_filter_results = Some(azure_openai::prompt_filter_results());
    ours.choices[0].content_filter_results = Some(azure_openai::filter_results_passed());
    same_shape(
        &golden,
        &serde_json::to_value(&ours).unwrap(),
        "azure completion",
    );

    let filtered = azure_openai::classify(
        400,
        &[("a", "b")],
        fixture("azure-openai/error_content_filter.json").as_bytes(),
    );
    assert_eq!(filtered.error_kind(), Some(ErrorKind::ContentFiltered));
    let missing = azure_openai::classify(
        404,
        &[("a", "b")],
        fixture("azure-openai/error_deployment_not_found.json").as_bytes(),
    );
    assert_eq!(missing.error_kind(), Some(ErrorKind::Forbidden));
    let (status, body) = azure_openai::error_for_kind(ErrorKind::ContentFiltered);
    same_shape(
        &json("azure-openai/error_content_filter.json"),
        &body,
        "azure filter",
    );
    assert_eq!(
        azure_openai::classify(status, &[("a", "b")], body.to_string().as_bytes()).error_kind(),
        Some(ErrorKind::ContentFiltered)
    );
    let (status, body) = azure_openai::error_for_kind(ErrorKind::RateLimited);
    assert_eq!(
        azure_openai::classify(status, &[("retry-after", "1")], body.to_string().as_bytes())
            .retry_after(),
        Some(Duration::from_secs(1))
    );
}

#[test]
fn requests_round_trip_through_each_dialect() {
    use switchyard_core::request::{Message, Request, Role};
    let request = Request {
        route: "chat".into(),
        messages: vec![
            Message::text(Role::System, "be brief"),
            Message::text(Role::User, "hello there"),
        ],
        max_tokens: Some(64),
        stream: true,
        ..Request::default()
    };
    let o = openai::ChatRequest::from_normalized(&request, "gpt-4o")
        .unwrap()
        .to_normalized();
    assert_eq!(
        (o.messages.clone(), o.max_tokens, o.stream, o.route.as_str()),
        (request.messages.clone(), Some(64), true, "gpt-4o")
    );
    let a = anthropic::MessagesRequest::from_normalized(&request, "claude", 4096)
        .unwrap()
        .to_normalized();
    assert_eq!(
        (a.messages.clone(), a.max_tokens, a.stream),
        (request.messages.clone(), Some(64), true)
    );
    let g = gemini::GenerateRequest::from_normalized(&request)
        .unwrap()
        .to_normalized("gemini", true);
    assert_eq!((g.messages, g.max_tokens), (request.messages, Some(64)));
    assert!(o.estimated_prompt_tokens > 0);
}

#[test]
fn hostile_rate_limit_headers_give_sane_values() {
    let h = [
        ("x-ratelimit-limit-requests", "-1"),
        ("x-ratelimit-remaining-requests", "99999999999999999999999"),
        ("x-ratelimit-reset-requests", "inf"),
        ("x-ratelimit-limit-tokens", "18446744073709551615"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-tokens", "99999999999999999999h1m"),
    ];
    let l = openai::limits(&h);
    assert_eq!((l.limit_requests, l.remaining_requests), (None, None));
    assert_eq!(l.reset_requests, None);
    assert_eq!(l.limit_tokens, Some(u64::MAX));
    assert_eq!(
        l.reset_tokens,
        Some(switchyard_core::dialect::MAX_HEADER_DELAY)
    );

    let h = [
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "9999-12-31T23:59:59Z"),
        ("anthropic-ratelimit-tokens-reset", "99999-01-01T00:00:00Z"),
    ];
    let l = anthropic::limits(&h, 1_795_564_800);
    assert_eq!(
        l.reset_requests,
        Some(switchyard_core::dialect::MAX_HEADER_DELAY)
    );
    assert_eq!(l.reset_tokens, None);
    let past = [("anthropic-ratelimit-requests-reset", "2000-01-01T00:00:00Z")];
    assert_eq!(
        anthropic::limits(&past, 1_795_564_800).reset_requests,
        Some(Duration::ZERO)
    );

    let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"q","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e308s"}]}}"#;
    let h = [("retry-after", "3")];
    assert_eq!(
        gemini::classify(429, &h, body),
        Outcome::Error {
            kind: ErrorKind::RateLimited,
            retry_after: Some(Duration::from_secs(3)),
        },
        "a retryDelay that is not a duration defers to Retry-After"
    );
    let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"q","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"999999999999s"}]}}"#;
    assert_eq!(
        gemini::classify(429, &h, body).retry_after(),
        Some(switchyard_core::dialect::MAX_HEADER_DELAY)
    );
}

#[test]
fn readers_skip_event_types_they_do_not_know() {
    let e: anthropic::WireEvent =
        serde_json::from_str(r#"{"type":"content_block_citation","x":{"y":[1]}}"#).unwrap();
    assert_eq!(e, anthropic::WireEvent::Unknown);
    let e: anthropic::WireEvent = serde_json::from_str(
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null}}"#,
    )
    .unwrap();
    assert_eq!(e.name(), "message_delta");
    let r: gemini::GenerateResponse = serde_json::from_str(
        r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}"#,
    )
    .unwrap();
    assert!(r.candidates.is_empty());
}
