//! Replies in full: tool calls (JSON and streamed), finish reasons, cached tokens, several
//! choices, in each dialect.

use switchyard_core::request::{FinishReason, ToolCall, Usage};

use super::*;

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments: arguments.to_owned(),
    }
}

fn piece(index: u32, head: Option<(&str, &str)>, arguments: &str) -> Piece {
    Piece::ToolCall {
        index,
        id: head.map(|(id, _)| id.to_owned()),
        name: head.map(|(_, name)| name.to_owned()),
        arguments: arguments.to_owned(),
    }
}

/// Feeds the wire one byte at a time (the pieces must not depend on the cuts).
fn stream(dialect: Dialect, wire: &str) -> (Vec<Piece>, Result<StreamEnd, ErrorKind>) {
    let mut d = StreamDecoder::new(dialect);
    let mut pieces = Vec::new();
    for b in wire.as_bytes() {
        match d.feed(std::slice::from_ref(b)) {
            Ok(p) => pieces.extend(p),
            Err(f) => panic!("{dialect:?}: {f:?}"),
        }
    }
    (pieces, d.end())
}

fn sse(events: &[&str]) -> String {
    events.iter().map(|e| format!("data: {e}\n\n")).collect()
}

#[test]
fn openai_reply_with_tool_calls_and_cached_tokens() {
    let body = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":2006,"completion_tokens":30,"total_tokens":2036,"prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0}}}"#;
    let d = decode(Dialect::Openai, body.as_bytes()).unwrap();
    assert_eq!(d.text, "");
    assert_eq!(
        d.tool_calls,
        [
            call("call_a", "get_weather", r#"{"city":"Paris"}"#),
            call("call_b", "get_time", "{}")
        ]
    );
    assert_eq!(d.finish, FinishReason::ToolCalls);
    assert_eq!(
        d.usage,
        Usage {
            prompt_tokens: 2006,
            completion_tokens: 30,
            cached_prompt_tokens: 1920
        }
    );
    assert!(d.choices.is_empty());
}

#[test]
fn openai_reply_with_several_choices_keeps_them_in_order() {
    let body = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":1,"message":{"role":"assistant","content":"two"},"finish_reason":"length"},{"index":0,"message":{"role":"assistant","content":"one"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":null}}"#;
    let d = decode(Dialect::AzureOpenai, body.as_bytes()).unwrap();
    assert_eq!((d.text.as_str(), d.finish), ("one", FinishReason::Stop));
    assert_eq!(d.choices.len(), 1);
    assert_eq!(d.choices[0].text, "two");
    assert_eq!(d.choices[0].finish_reason, FinishReason::Length);
    assert_eq!(d.usage.cached_prompt_tokens, 0);
}

#[test]
fn openai_stream_tool_call_deltas_become_pieces_per_index() {
    let chunk = |delta: &str, finish: &str| {
        format!(
            r#"{{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}],"usage":null}}"#
        )
    };
    let events = [
        chunk(r#"{"role":"assistant","content":null}"#, "null"),
        chunk(
            r#"{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"f","arguments":""}}]}"#,
            "null",
        ),
        chunk(
            r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":"}}]}"#,
            "null",
        ),
        chunk(
            r#"{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"g","arguments":"{}"}}]}"#,
            "null",
        ),
        chunk(r#"{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}"#, "null"),
        chunk("{}", r#""tool_calls""#),
        r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":9,"total_tokens":59,"prompt_tokens_details":{"cached_tokens":32}}}"#.to_owned(),
        "[DONE]".to_owned(),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let (pieces, end) = stream(Dialect::Openai, &sse(&refs));
    assert_eq!(
        pieces,
        [
            piece(0, Some(("call_a", "f")), ""),
            piece(0, None, r#"{"x":"#),
            piece(1, Some(("call_b", "g")), "{}"),
            piece(0, None, "1}"),
        ]
    );
    let end = end.unwrap();
    assert_eq!(end.finish, FinishReason::ToolCalls);
    assert_eq!(
        end.tool_calls,
        [call("call_a", "f", r#"{"x":1}"#), call("call_b", "g", "{}")]
    );
    assert_eq!(
        end.usage,
        Usage {
            prompt_tokens: 50,
            completion_tokens: 9,
            cached_prompt_tokens: 32
        }
    );

    // A call that skips an index is not OpenAI's shape.
    let skip = chunk(
        r#"{"tool_calls":[{"index":2,"id":"x","type":"function","function":{"name":"f","arguments":""}}]}"#,
        "null",
    );
    let mut d = StreamDecoder::new(Dialect::Openai);
    assert_eq!(
        d.feed(sse(&[&skip]).as_bytes()),
        Err(Failure::kind(ErrorKind::MalformedResponse))
    );
}

/// A refusal (`refusal` in place of `content`) is the reply's text, in a reply as in a
/// stream (docs/GATEWAY.md, "Streams"): kept, counted for the estimate, never dropped.
#[test]
fn openai_refusals_are_the_replys_text() {
    let body = r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}"#;
    let d = decode(Dialect::Openai, body.as_bytes()).unwrap();
    assert_eq!(d.text, "I can't help with that.");
    let chunk = |delta: &str| {
        format!(
            r#"{{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]}}"#
        )
    };
    let wire = sse(&[
        &chunk(r#"{"role":"assistant","content":null,"refusal":null}"#),
        &chunk(r#"{"content":null,"refusal":"I can't"}"#),
        &chunk(r#"{"refusal":" help with that."}"#),
        "[DONE]",
    ]);
    let (pieces, end) = stream(Dialect::Openai, &wire);
    assert_eq!(
        pieces,
        [
            Piece::Text("I can't".to_owned()),
            Piece::Text(" help with that.".to_owned())
        ]
    );
    assert_eq!(
        end.unwrap().usage.completion_tokens,
        d.usage.completion_tokens
    );
}

#[test]
fn openai_stream_error_event_keeps_the_upstream_words() {
    let wire = sse(&[
        r#"{"error":{"message":"The server is overloaded, try later.","type":"server_error","param":null,"code":null}}"#,
    ]);
    let mut d = StreamDecoder::new(Dialect::Openai);
    let f = d.feed(wire.as_bytes()).unwrap_err();
    assert_eq!(f.error_kind(), Some(ErrorKind::ServerError));
    let said = f.upstream.unwrap();
    assert_eq!(said.message, "The server is overloaded, try later.");
    assert_eq!(said.kind.as_deref(), Some("server_error"));
}

#[test]
fn anthropic_reply_with_tool_use_cache_counts_and_stop_reasons() {
    let body = r#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}},{"type":"tool_use","id":"toolu_2","name":"now","input":{}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":200,"cache_read_input_tokens":1800,"output_tokens":40}}"#;
    let d = decode(Dialect::Anthropic, body.as_bytes()).unwrap();
    assert_eq!(d.text, "Let me check.");
    assert_eq!(
        d.tool_calls,
        [
            call("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
            call("toolu_2", "now", "{}")
        ]
    );
    assert_eq!(d.finish, FinishReason::ToolCalls);
    assert_eq!(
        d.usage,
        Usage {
            prompt_tokens: 2010,
            completion_tokens: 40,
            cached_prompt_tokens: 1800
        }
    );
    for (reason, finish) in [
        ("refusal", FinishReason::ContentFilter),
        ("model_context_window_exceeded", FinishReason::Length),
        ("max_tokens", FinishReason::Length),
        ("stop_sequence", FinishReason::Stop),
        ("end_turn", FinishReason::Stop),
        ("pause_turn", FinishReason::Stop),
    ] {
        let body = format!(
            r#"{{"id":"m","type":"message","role":"assistant","model":"m","content":[{{"type":"text","text":"x"}}],"stop_reason":"{reason}"}}"#
        );
        assert_eq!(
            decode(Dialect::Anthropic, body.as_bytes()).unwrap().finish,
            finish,
            "{reason}"
        );
    }
}

#[test]
fn anthropic_stream_renumbers_blocks_to_tool_call_indexes() {
    let ev = |name: &str, data: &str| format!("event: {name}\ndata: {data}\n\n");
    let wire = [
        ev("message_start", r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"output_tokens":1}}}"#),
        ev("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
        ev("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}"#),
        ev("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        ev("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#),
        ev("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#),
        ev("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}}"#),
        ev("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"#),
        ev("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
        ev("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_2","name":"now","input":{}}}"#),
        ev("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
        ev("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":61}}"#),
        ev("message_stop", r#"{"type":"message_stop"}"#),
    ]
    .concat();
    let (pieces, end) = stream(Dialect::Anthropic, &wire);
    assert_eq!(
        pieces,
        [
            Piece::Text("Checking.".to_owned()),
            piece(0, Some(("toolu_1", "get_weather")), ""),
            piece(0, None, r#"{"city": "#),
            piece(0, None, r#""Paris"}"#),
            piece(1, Some(("toolu_2", "now")), ""),
            piece(1, None, "{}"),
        ]
    );
    let end = end.unwrap();
    assert_eq!(end.finish, FinishReason::ToolCalls);
    assert_eq!(
        end.tool_calls,
        [
            call("toolu_1", "get_weather", r#"{"city": "Paris"}"#),
            call("toolu_2", "now", "{}")
        ]
    );
    assert_eq!(
        end.usage,
        Usage {
            prompt_tokens: 105,
            completion_tokens: 61,
            cached_prompt_tokens: 100
        }
    );
    assert!(!end.usage_missing);

    // A delta for a block that is not a tool call in progress is not Anthropic's shape.
    let mut d = StreamDecoder::new(Dialect::Anthropic);
    let stray = ev(
        "content_block_delta",
        r#"{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
    );
    assert_eq!(
        d.feed(stray.as_bytes()),
        Err(Failure::kind(ErrorKind::MalformedResponse))
    );
}

#[test]
fn anthropic_stream_usage_in_message_delta_updates_the_prompt_too() {
    let ev = |name: &str, data: &str| format!("event: {name}\ndata: {data}\n\n");
    let wire = [
        ev("message_start", r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}"#),
        ev("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#),
        ev("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2,"input_tokens":5,"cache_read_input_tokens":40}}"#),
        ev("message_stop", r#"{"type":"message_stop"}"#),
    ]
    .concat();
    let end = stream(Dialect::Anthropic, &wire).1.unwrap();
    assert_eq!(
        end.usage,
        Usage {
            prompt_tokens: 45,
            completion_tokens: 2,
            cached_prompt_tokens: 40
        }
    );
}

#[test]
fn gemini_reply_function_calls_get_ids_and_the_tool_call_finish() {
    let body = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Sure."},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"sig"},{"functionCall":{"id":"given","name":"now"}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3000,"candidatesTokenCount":20,"thoughtsTokenCount":5,"cachedContentTokenCount":2048,"totalTokenCount":3025}}"#;
    let d = decode(Dialect::Gemini, body.as_bytes()).unwrap();
    assert_eq!(d.text, "Sure.");
    assert_eq!(
        d.tool_calls,
        [
            call("call_0", "get_weather", r#"{"city":"Paris"}"#),
            call("given", "now", "{}")
        ]
    );
    assert_eq!(d.finish, FinishReason::ToolCalls, "derived from the parts");
    assert_eq!(
        d.usage,
        Usage {
            prompt_tokens: 3000,
            completion_tokens: 25,
            cached_prompt_tokens: 2048
        }
    );
}

#[test]
fn gemini_finish_reasons_and_failures() {
    let reply = |reason: &str| {
        format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"text":"x"}}]}},"finishReason":"{reason}","index":0}}]}}"#
        )
    };
    for (reason, finish) in [
        ("STOP", FinishReason::Stop),
        ("MAX_TOKENS", FinishReason::Length),
        ("SAFETY", FinishReason::ContentFilter),
        ("RECITATION", FinishReason::ContentFilter),
        ("BLOCKLIST", FinishReason::ContentFilter),
        ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
        ("SPII", FinishReason::ContentFilter),
        ("IMAGE_SAFETY", FinishReason::ContentFilter),
    ] {
        let d = decode(Dialect::Gemini, reply(reason).as_bytes()).unwrap();
        assert_eq!(d.finish, finish, "{reason}");
    }
    for reason in [
        "MALFORMED_FUNCTION_CALL",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
    ] {
        let f = decode(Dialect::Gemini, reply(reason).as_bytes()).unwrap_err();
        assert_eq!(
            f.error_kind(),
            Some(ErrorKind::MalformedResponse),
            "{reason}"
        );
        assert!(f.upstream.unwrap().message.contains(reason));
        // And in a stream, before or after the first token.
        let mut d = StreamDecoder::new(Dialect::Gemini);
        let f = d.feed(sse(&[&reply(reason)]).as_bytes()).unwrap_err();
        assert_eq!(
            f.error_kind(),
            Some(ErrorKind::MalformedResponse),
            "{reason}"
        );
    }
    let blocked = r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4}}"#;
    let f = decode(Dialect::Gemini, blocked.as_bytes()).unwrap_err();
    assert_eq!(f.error_kind(), Some(ErrorKind::ContentFiltered));
}

#[test]
fn gemini_reply_with_several_candidates() {
    let body = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"b"}]},"finishReason":"MAX_TOKENS","index":1},{"content":{"role":"model","parts":[{"text":"a"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2}}"#;
    let d = decode(Dialect::Gemini, body.as_bytes()).unwrap();
    assert_eq!(d.text, "a");
    assert_eq!(d.choices.len(), 1);
    assert_eq!(
        (d.choices[0].text.as_str(), d.choices[0].finish_reason),
        ("b", FinishReason::Length)
    );
}

#[test]
fn gemini_stream_calls_arrive_whole_and_usage_is_the_last_reported() {
    let wire = sse(&[
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"On it."}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"cachedContentTokenCount":4}}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":[1,2]}}},{"functionCall":{"name":"g","args":{}}}]},"index":0}]}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":12,"cachedContentTokenCount":4}}"#,
    ]);
    let (pieces, end) = stream(Dialect::Gemini, &wire);
    assert_eq!(
        pieces,
        [
            Piece::Text("On it.".to_owned()),
            piece(0, Some(("call_0", "f")), r#"{"a":[1,2]}"#),
            piece(1, Some(("call_1", "g")), "{}"),
        ]
    );
    let end = end.unwrap();
    assert_eq!(end.finish, FinishReason::ToolCalls);
    assert_eq!(end.tool_calls.len(), 2);
    assert_eq!(
        end.usage,
        Usage {
            prompt_tokens: 9,
            completion_tokens: 12,
            cached_prompt_tokens: 4
        }
    );
    // A chunk without usage does not reset what came before.
    let wire = sse(&[
        r#"{"candidates":[{"content":{"parts":[{"text":"a"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"cachedContentTokenCount":4}}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP","index":0}]}"#,
    ]);
    let end = stream(Dialect::Gemini, &wire).1.unwrap();
    assert_eq!(
        end.usage,
        Usage {
            prompt_tokens: 9,
            completion_tokens: 2,
            cached_prompt_tokens: 4
        }
    );
    assert_eq!(end.finish, FinishReason::Stop);
}

#[test]
fn too_many_tool_calls_are_malformed() {
    let calls: Vec<String> = (0..=MAX_TOOL_CALLS)
        .map(|i| format!(r#"{{"functionCall":{{"name":"f{i}","args":{{}}}}}}"#))
        .collect();
    let body = format!(
        r#"{{"candidates":[{{"content":{{"parts":[{}]}},"finishReason":"STOP","index":0}}]}}"#,
        calls.join(",")
    );
    assert_eq!(
        decode(Dialect::Gemini, body.as_bytes()),
        Err(Failure::kind(ErrorKind::MalformedResponse))
    );
    let mut d = StreamDecoder::new(Dialect::Gemini);
    assert_eq!(
        d.feed(sse(&[&body]).as_bytes()),
        Err(Failure::kind(ErrorKind::MalformedResponse))
    );
}

/// A reply body is copied below [`openai::SHARED_FROM`] bytes and shared from it on.
#[test]
fn a_reply_is_shared_from_its_threshold_on() {
    for (len, shared) in [
        (openai::SHARED_FROM - 1, false),
        (openai::SHARED_FROM, true),
        (1, false),
    ] {
        let body = Bytes::from(vec![b'x'; len]);
        let kept = openai::kept(&body);
        assert_eq!(kept, body);
        assert_eq!(kept.as_ptr() == body.as_ptr(), shared, "{len} bytes");
    }
}

/// `body` with its text made long enough to be shared ([`openai::SHARED_FROM`]), forwarded:
/// whether the reply kept is the body, and whether it is the very buffer it was read into.
fn kept_as_sent(body: &str) -> (bool, bool) {
    let long = "w".repeat(openai::SHARED_FROM);
    let body = body.replacen("four words of text", &format!("four words of {long}"), 1);
    assert!(body.len() >= openai::SHARED_FROM);
    let sent = Bytes::from(body.clone());
    let d = decode_raw(Dialect::Openai, &sent).unwrap().unwrap();
    let raw = d.raw.unwrap();
    (raw == body.as_bytes(), raw.as_ptr() == sent.as_ptr())
}

/// A reply forwarded as it came: its usage and finish reason read; without usage still
/// forwarded, with usage estimated by the full decode; with bad usage (each body one defect,
/// the rest of the usage intact) or too many tool calls refused, as the full decode refuses it.
#[test]
fn a_forwarded_reply_is_checked_as_the_full_decode_checks_it() {
    let usage = r#","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}"#;
    let good = format!(
        r#"{{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{{"index":0,"message":{{"role":"assistant","content":"four words of text"}},"finish_reason":"tool_calls"}}]{usage}}}"#
    );
    let sent = Bytes::from(good.clone());
    let d = decode_raw(Dialect::Openai, &sent).unwrap().unwrap();
    assert_eq!(
        (d.usage, d.finish, d.usage_missing),
        (
            Usage {
                prompt_tokens: 3,
                completion_tokens: 4,
                cached_prompt_tokens: 0
            },
            FinishReason::ToolCalls,
            false
        )
    );
    assert_eq!(d.raw.as_deref(), Some(good.as_bytes()));
    // A small body is copied out of the buffer it came in (it does not hold the connection's
    // whole read buffer while the client reads it); a large one is that buffer itself.
    assert_ne!(d.raw.as_ref().map(|r| r.as_ptr()), Some(sent.as_ptr()));
    assert_eq!(kept_as_sent(&good), (true, true));
    let bare = good.replacen(usage, "", 1);
    let sent = Bytes::from(bare.clone());
    let d = decode_raw(Dialect::Openai, &sent).unwrap().unwrap();
    assert!(d.usage_missing);
    assert_eq!(d.usage, estimated_usage("four words of text"));
    assert_eq!(d.raw.as_deref(), Some(bare.as_bytes()));
    assert_ne!(d.raw.as_ref().map(|r| r.as_ptr()), Some(sent.as_ptr()));
    assert_eq!(kept_as_sent(&bare), (true, true));
    for (from, to) in [
        (r#""prompt_tokens":3"#, r#""prompt_tokens":-3"#),
        (r#""prompt_tokens":3"#, r#""prompt_tokens":"3""#),
        (r#""completion_tokens":4,"#, ""),
        (r#""total_tokens":7"#, r#""total_tokens":7.5"#),
        (r#""total_tokens":7"#, r#""total_tokens":null"#),
    ] {
        let body = good.replacen(from, to, 1);
        assert_ne!(body, good);
        let refused = decode_raw(Dialect::Openai, &Bytes::from(body.clone())).unwrap();
        assert_eq!(
            refused.map_err(|f| f.error_kind()),
            Err(Some(ErrorKind::MalformedResponse)),
            "{body}"
        );
        assert!(decode(Dialect::Openai, body.as_bytes()).is_err(), "{body}");
    }
    let calls = vec![r#"{"id":"x"}"#; MAX_TOOL_CALLS + 1].join(",");
    let many = good.replacen(
        r#""content":"four words of text""#,
        &format!(r#""content":null,"tool_calls":[{calls}]"#),
        1,
    );
    let refused = decode_raw(Dialect::Openai, &Bytes::from(many.clone())).unwrap();
    assert_eq!(
        refused.map_err(|f| f.error_kind()),
        Err(Some(ErrorKind::MalformedResponse))
    );
}
