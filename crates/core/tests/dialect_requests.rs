//! Request codecs: an OpenAI client's body into the normalized request, the normalized
//! request onto each vendor's wire (golden JSON), every refusal with its field named, and the
//! same-dialect pass-through.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use serde_json::{Value, json};
use switchyard_core::dialect::{self, Dialect, anthropic, gemini, openai};
use switchyard_core::request::{
    Capabilities, Image, ImageSource, Message, Part, Request, ResponseFormat, Role, Tool, ToolCall,
    ToolChoice, ToolResult,
};

/// A client body using every request feature OpenAI has and Switchyard carries.
fn full_openai_body() -> Value {
    json!({
        "model": "chat",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "name": "ann", "content": [
                { "type": "text", "text": "What is in this picture, and the weather?" },
                { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0K", "detail": "high" } },
                { "type": "image_url", "image_url": { "url": "https://example.com/cat.jpg" } }
            ] },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } },
                { "id": "call_2", "type": "function", "function": { "name": "get_time", "arguments": "{}" } }
            ] },
            { "role": "tool", "tool_call_id": "call_1", "content": "18C, cloudy" },
            { "role": "tool", "tool_call_id": "call_2", "content": [{ "type": "text", "text": "09:00" }] },
            { "role": "assistant", "content": "A cat; 18C." },
            { "role": "developer", "content": "late instructions" }
        ],
        "tools": [
            { "type": "function", "function": { "name": "get_weather", "description": "Weather now",
              "parameters": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] },
              "strict": true } },
            { "type": "function", "function": { "name": "get_time" } }
        ],
        "tool_choice": { "type": "function", "function": { "name": "get_weather" } },
        "parallel_tool_calls": false,
        "response_format": { "type": "json_schema", "json_schema": {
            "name": "answer", "description": "The answer", "schema": { "type": "object" }, "strict": true } },
        "temperature": 0.5, "top_p": 0.9, "stop": "END", "seed": 7, "n": 2,
        "presence_penalty": 0.1, "frequency_penalty": 0.2, "user": "u-42",
        "max_tokens": 50, "max_completion_tokens": 100,
        "stream": true, "stream_options": { "include_usage": true }
    })
}

fn parse(body: Value) -> Result<Request, openai::RequestError> {
    serde_json::from_value::<openai::ChatRequest>(body)
        .unwrap()
        .try_to_normalized()
}

#[test]
fn an_openai_body_normalizes_whole() {
    let r = parse(full_openai_body()).unwrap();
    assert_eq!(r.route, "chat");
    assert_eq!(r.messages.len(), 7);
    assert_eq!(r.messages[1].name.as_deref(), Some("ann"));
    assert_eq!(
        r.messages[1].content[1],
        Part::Image(Image {
            source: ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0K".into()
            },
            detail: Some("high".into()),
        })
    );
    assert_eq!(
        r.messages[1].content[2],
        Part::Image(Image {
            source: ImageSource::Url("https://example.com/cat.jpg".into()),
            detail: None,
        })
    );
    assert_eq!(
        r.messages[2].content,
        [
            Part::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into()
            }),
            Part::ToolCall(ToolCall {
                id: "call_2".into(),
                name: "get_time".into(),
                arguments: "{}".into()
            }),
        ]
    );
    assert_eq!(
        r.messages[4].content,
        [Part::ToolResult(ToolResult {
            call_id: "call_2".into(),
            content: "09:00".into(),
            is_error: false
        })]
    );
    assert_eq!(r.messages[6].role, Role::System, "developer is system");
    assert_eq!(r.tools.len(), 2);
    assert_eq!(r.tools[0].strict, Some(true));
    assert_eq!(r.tool_choice, Some(ToolChoice::Named("get_weather".into())));
    assert_eq!(r.parallel_tool_calls, Some(false));
    assert!(matches!(
        r.response_format,
        Some(ResponseFormat::JsonSchema { ref name, strict: Some(true), .. }) if name == "answer"
    ));
    assert_eq!(r.sampling.temperature, Some(0.5));
    assert_eq!(r.sampling.top_p, Some(0.9));
    assert_eq!(r.sampling.stop, ["END"]);
    assert_eq!(r.sampling.seed, Some(7));
    assert_eq!(r.sampling.presence_penalty, Some(0.1));
    assert_eq!(r.sampling.frequency_penalty, Some(0.2));
    assert_eq!((r.n, r.user.as_deref()), (Some(2), Some("u-42")));
    assert_eq!(r.max_tokens, Some(100), "max_completion_tokens wins");
    assert!(r.stream);
    assert_eq!(
        r.needs,
        Capabilities::TOOLS
            .union(Capabilities::JSON_MODE)
            .union(Capabilities::VISION)
    );
}

#[test]
fn the_token_estimate_counts_tool_arguments_results_and_schemas() {
    let plain = parse(json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] }))
        .unwrap()
        .estimated_prompt_tokens;
    let schema = json!({ "type": "object", "properties": { "x": { "type": "string", "description": "y".repeat(400) } } });
    let with_tool = parse(
        json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }],
        "tools": [{ "type": "function", "function": { "name": "f", "parameters": schema } }] }),
    )
    .unwrap()
    .estimated_prompt_tokens;
    assert!(with_tool >= plain + 100, "{plain} → {with_tool}");
    let with_call = parse(json!({ "model": "m", "messages": [
        { "role": "user", "content": "hi" },
        { "role": "assistant", "content": null, "tool_calls": [{ "id": "c", "type": "function",
          "function": { "name": "f", "arguments": "a".repeat(400) } }] },
        { "role": "tool", "tool_call_id": "c", "content": "r".repeat(400) }
    ] }))
    .unwrap()
    .estimated_prompt_tokens;
    assert!(with_call >= plain + 200, "{plain} → {with_call}");
}

#[test]
fn an_openai_body_it_cannot_represent_is_refused_naming_the_field() {
    let msg = |m: Value| json!({ "model": "m", "messages": [m] });
    let cases = [
        (
            msg(json!({ "role": "wizard", "content": "hi" })),
            "messages[0].role",
        ),
        (
            msg(
                json!({ "role": "user", "content": [{ "type": "input_audio", "input_audio": {} }] }),
            ),
            "messages[0].content[0].type",
        ),
        (
            msg(json!({ "role": "tool", "content": "x" })),
            "messages[0].tool_call_id",
        ),
        (
            msg(json!({ "role": "user", "content": 5 })),
            "messages[0].content",
        ),
        (
            json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }], "tools": [{ "type": "custom", "custom": { "name": "g" } }] }),
            "tools[0].type",
        ),
        (
            json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }], "tool_choice": { "type": "allowed_tools" } }),
            "tool_choice",
        ),
        (
            json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }], "response_format": { "type": "xml" } }),
            "response_format.type",
        ),
        (
            json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }], "stop": [1] }),
            "stop[0]",
        ),
        (json!({ "model": "m", "messages": [] }), "messages"),
        (
            msg(json!({ "role": "developer", "content": null })),
            "messages[0].content",
        ),
        (
            json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }], "temperature": 2.5 }),
            "temperature",
        ),
    ];
    for (body, param) in cases {
        let e = parse(body.clone()).unwrap_err();
        assert_eq!(e.param, param, "{body}");
    }
    // The fakes' reading stays lenient: an unknown role is a user turn.
    let lenient = serde_json::from_value::<openai::ChatRequest>(msg(
        json!({ "role": "wizard", "content": "hi" }),
    ))
    .unwrap()
    .to_normalized();
    assert_eq!(lenient.messages, [Message::text(Role::User, "hi")]);
}

#[test]
fn an_openai_body_round_trips_through_the_normalized_request() {
    let r = parse(full_openai_body()).unwrap();
    let wire =
        serde_json::to_value(openai::ChatRequest::from_normalized(&r, "gpt-4o").unwrap()).unwrap();
    let mut expected = full_openai_body();
    let e = expected.as_object_mut().unwrap();
    e.insert("model".into(), json!("gpt-4o"));
    e.remove("max_tokens"); // Only max_completion_tokens is written.
    e.insert("stop".into(), json!(["END"]));
    e["messages"][4]["content"] = json!("09:00"); // Tool results are text.
    e["messages"][6]["role"] = json!("system");
    assert_eq!(wire, expected);
    assert_eq!(
        openai::ChatRequest::from_normalized(&r, "gpt-4o")
            .unwrap()
            .try_to_normalized()
            .unwrap()
            .messages,
        r.messages
    );
}

#[test]
fn openai_sends_no_max_tokens_when_the_request_has_none_and_refuses_top_k() {
    let mut r = Request {
        messages: vec![Message::text(Role::User, "hi")],
        ..Request::default()
    };
    let wire =
        serde_json::to_value(openai::ChatRequest::from_normalized(&r, "m").unwrap()).unwrap();
    assert_eq!(
        wire,
        json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] })
    );
    r.sampling.top_k = Some(5);
    for d in [Dialect::Openai, Dialect::AzureOpenai] {
        assert_eq!(dialect::check(d, &r).unwrap_err().field, "top_k");
    }
    assert!(openai::ChatRequest::from_normalized(&r, "m").is_err());
}

#[test]
fn pass_through_replaces_only_the_model_and_the_stream_usage() {
    let body = br#"{"stream":true,"model":"chat","x_unknown":{"deep":[1,2.50,"\u00e9"]},"messages":[],"stream_options":{"x":1,"include_usage":false},"seed":1}"#;
    let out = openai::pass_through(body, Some("gpt-4o"), true).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"stream":true,"model":"gpt-4o","x_unknown":{"deep":[1,2.50,"\u00e9"]},"messages":[],"stream_options":{"x":1,"include_usage":true},"seed":1}"#
    );
    // Azure: the deployment in the path names the model; a missing stream_options is added.
    let body = br#"{"model":"chat","messages":[],"stream":true}"#;
    let out = openai::pass_through(body, None, true).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"messages":[],"stream":true,"stream_options":{"include_usage":true}}"#
    );
    // Not streaming: stream_options left alone, a missing model added.
    let body = br#"{"messages":[],"stream_options":null}"#;
    let out = openai::pass_through(body, Some("m"), false).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"messages":[],"stream_options":null,"model":"m"}"#
    );
    // Each value as written, inner whitespace included; the whitespace between top-level
    // fields is not kept (README, "Same dialect").
    let body = b"{ \"messages\" : [ ] ,\n \"x\" : { \"b\" : 1, \"a\" : 2.50 } }";
    let out = openai::pass_through(body, Some("m"), false).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"messages":[ ],"x":{ "b" : 1, "a" : 2.50 },"model":"m"}"#
    );
    // The body's stream flag must be the request's; anything not an object is not passed.
    assert_eq!(
        openai::pass_through(br#"{"stream":true}"#, None, false),
        None
    );
    // A target's model name that JSON must escape is escaped (written as it is otherwise).
    let models = [
        "gpt-4o",
        "a\"b",
        "back\\slash",
        "caf\u{e9}",
        "tab\there",
        "\u{1}",
    ];
    for model in models {
        for body in [
            &br#"{"model":"chat","messages":[]}"#[..],
            br#"{"messages":[]}"#,
        ] {
            let out = openai::pass_through(body, Some(model), false).unwrap();
            let sent: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(sent, json!({ "model": model, "messages": [] }), "{model:?}");
        }
    }
    assert_eq!(openai::pass_through(b"[1]", None, false), None);
    assert_eq!(openai::pass_through(b"{} trailing", None, false), None);
    assert_eq!(
        openai::pass_through(br#"{"stream":true,"stream_options":5}"#, None, true),
        None
    );
}

/// `openai::parse` reads a body once for what the gateway needs of it: it accepts exactly the
/// bodies a typed parse accepts, into the same request, finds the same unmodelled fields, and
/// its layout rebuilds the same pass-through body as parsing it again.
#[test]
fn one_parse_agrees_with_the_typed_parse_the_field_scan_and_the_pass_through() {
    let full = full_openai_body().to_string();
    let bodies: [&[u8]; 21] = [
        full.as_bytes(),
        br#"{"stream":true,"model":"chat","x_unknown":{"deep":[1,2.50,"\u00e9"]},"messages":[],"stream_options":{"x":1,"include_usage":false},"seed":1}"#,
        br#" { "model" : "m" , "messages" : [ {"role":"user","content":"h\"i"} ] , "logprobs" : true , "store" : false } "#,
        br#"{"model":"m","messages":[],"stream":false,"stream_options":null}"#,
        br#"{"model":"m","messages":[],"model":"n"}"#,
        br#"{"mod\u0065l":"m","messages":[]}"#,
        br#"{"model":"m"}"#,
        br#"{"model":"m","messages":[]} trailing"#,
        br#"{"model":5,"messages":[]}"#,
        br#"[1]"#,
        "{\"model\":\"\u{e9}\",\"messages\":[],\"\u{e9}\":1}".as_bytes(),
        br#"{"model":"m","messages":[],"temperature":"hot"}"#,
        // A known field twice is refused even when the first is `null`.
        br#"{"model":"m","messages":[],"n":null,"n":2}"#,
        br#"{"model":"m","messages":[],"messages":[]}"#,
        br#"{"messages":[]}"#,
        // Separators and quotes inside values do not move where an entry ends.
        br#"{"model":"m","messages":[],"x":"a,\"b\":1","y":[ "}" , {"z":","} ]}"#,
        b"{\n\t\"messages\" :\r\n[]\n,\n\"model\":\"m\"\t,\"temperature\":null,\"n\":0\n}\n",
        br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"}"}]}],"stream":true,"stream_options":{"include_usage":false}}"#,
        // Not UTF-8 in a known field's string, in an unknown field's, in a key.
        b"{\"model\":\"m\xff\",\"messages\":[]}",
        b"{\"model\":\"m\",\"messages\":[],\"x\":[\"\xc3\"]}",
        b"{\"model\":\"m\",\"messages\":[],\"\xc3x\":1}",
    ];
    for body in bodies {
        let typed = serde_json::from_slice::<openai::ChatRequest>(body);
        let parsed = openai::parse(body);
        let text = String::from_utf8_lossy(body);
        // A body that is not UTF-8 is refused even where the typed parse skips the bytes (an
        // unknown field's value): it would be forwarded as it is.
        let utf8 = std::str::from_utf8(body).is_ok();
        assert_eq!(typed.is_ok() && utf8, parsed.is_ok(), "{text}");
        let (Ok(typed), Ok(parsed)) = (typed, parsed) else {
            continue;
        };
        assert_eq!(parsed.request, typed, "{text}");
        assert_eq!(parsed.unmodelled, openai::unmodelled_fields(body), "{text}");
        // A key with an escape gives no layout (the pass-through parses again).
        assert_eq!(parsed.layout.is_none(), text.contains("\\u0065l"), "{text}");
        let Some(layout) = parsed.layout else {
            continue;
        };
        for model in [Some("gpt-4o"), None] {
            for stream in [false, true] {
                assert_eq!(
                    openai::pass_through_at(body, &layout, model, stream),
                    openai::pass_through(body, model, stream),
                    "{text} {model:?} {stream}"
                );
            }
        }
    }
}

#[test]
fn a_layout_spans_each_key_without_quotes_and_each_value_as_written() {
    let body = br#" { "model" : "m" ,"messages":[ ], "n":2 } "#;
    let layout = openai::parse(body).unwrap().layout.unwrap();
    let text = |r: std::ops::Range<usize>| std::str::from_utf8(&body[r]).unwrap();
    let spans: Vec<_> = layout
        .iter()
        .map(|s| (text(s.key.clone()), text(s.value.clone())))
        .collect();
    assert_eq!(spans, [("model", "\"m\""), ("messages", "[ ]"), ("n", "2")]);
}

#[test]
fn a_layout_that_is_not_the_bodys_gives_no_pass_through() {
    let body = br#"{"model":"m","messages":[]}"#;
    let layout = openai::parse(body).unwrap().layout.unwrap();
    assert!(openai::pass_through_at(body, &layout, Some("x"), false).is_some());
    assert_eq!(
        openai::pass_through_at(b"{}", &layout, Some("x"), false),
        None
    );
}

#[test]
fn a_tool_result_answers_the_nearest_earlier_call_of_its_id() {
    // Gemini's replies carry no call ids and synthesised ones restart in each reply, so a
    // conversation can hold `call_0` twice: each result answers the call just before it.
    let call = |name: &str| Message {
        role: Role::Assistant,
        content: vec![Part::ToolCall(ToolCall {
            id: "call_0".into(),
            name: name.into(),
            arguments: "{}".into(),
        })],
        name: None,
    };
    let result = |text: &str| Message {
        role: Role::Tool,
        content: vec![Part::ToolResult(ToolResult {
            call_id: "call_0".into(),
            content: text.into(),
            is_error: false,
        })],
        name: None,
    };
    let r = Request {
        messages: vec![
            Message::text(Role::User, "weather, then time"),
            call("get_weather"),
            result("sunny"),
            call("get_time"),
            result("noon"),
        ],
        ..Request::default()
    };
    let wire = serde_json::to_value(gemini::GenerateRequest::from_normalized(&r).unwrap()).unwrap();
    let responses: Vec<(&str, &str)> = wire["contents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["parts"].as_array().unwrap())
        .filter_map(|p| p.get("functionResponse"))
        .map(|f| {
            (
                f["name"].as_str().unwrap(),
                f["response"]["output"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(responses, [("get_weather", "sunny"), ("get_time", "noon")]);
}

#[test]
fn gemini_refuses_a_strict_json_schema_it_cannot_guarantee() {
    let r = Request {
        messages: vec![Message::text(Role::User, "hi")],
        response_format: Some(ResponseFormat::JsonSchema {
            name: "x".into(),
            description: None,
            schema: json!({"type": "object"}),
            strict: Some(true),
        }),
        ..Request::default()
    };
    let e = dialect::check(Dialect::Gemini, &r).unwrap_err();
    assert_eq!(e.field, "response_format.json_schema.strict");
    assert!(gemini::GenerateRequest::from_normalized(&r).is_err());
    // Not strict: translated.
    let lax = Request {
        response_format: Some(ResponseFormat::JsonSchema {
            name: "x".into(),
            description: None,
            schema: json!({"type": "object"}),
            strict: None,
        }),
        ..r
    };
    assert!(dialect::check(Dialect::Gemini, &lax).is_ok());
}

#[test]
fn anthropic_gets_no_empty_turn_and_no_prefill_ending_in_whitespace() {
    let r = Request {
        messages: vec![
            Message::text(Role::User, "first"),
            // An SDK's history often holds an empty assistant message.
            Message::text(Role::Assistant, ""),
            Message::text(Role::User, "second"),
            Message::text(Role::Assistant, "Sure, "),
        ],
        ..Request::default()
    };
    let wire =
        serde_json::to_value(anthropic::MessagesRequest::from_normalized(&r, "m", 64).unwrap())
            .unwrap();
    assert_eq!(
        wire["messages"],
        json!([
            { "role": "user", "content": [
                { "type": "text", "text": "first" }, { "type": "text", "text": "second" }
            ] },
            { "role": "assistant", "content": "Sure," }
        ])
    );
    // A final assistant message of whitespace only is no prefill at all.
    let r = Request {
        messages: vec![
            Message::text(Role::User, "hi"),
            Message::text(Role::Assistant, "  \n"),
        ],
        ..Request::default()
    };
    let wire =
        serde_json::to_value(anthropic::MessagesRequest::from_normalized(&r, "m", 64).unwrap())
            .unwrap();
    assert_eq!(
        wire["messages"],
        json!([{ "role": "user", "content": "hi" }])
    );
}

#[test]
fn fields_the_request_does_not_model_reach_only_the_clients_own_dialect() {
    let body = br#"{"model":"m","messages":[],"logprobs":true,"store":false,"metadata":null,"reasoning_effort":"low","temperature":1}"#;
    let unmodelled = openai::unmodelled_fields(body);
    assert_eq!(
        unmodelled,
        ["logprobs", "reasoning_effort"],
        "null and false ask for nothing"
    );
    assert!(openai::unmodelled_fields(b"[1]").is_empty());
    let r = Request {
        messages: vec![Message::text(Role::User, "hi")],
        unmodelled,
        original: Some(switchyard_core::request::Original {
            dialect: Dialect::Openai,
            body: bytes::Bytes::from_static(body),
            raw_reply: false,
            layout: None,
        }),
        ..Request::default()
    };
    assert!(dialect::check(Dialect::Openai, &r).is_ok());
    assert!(dialect::check(Dialect::AzureOpenai, &r).is_ok());
    for d in [Dialect::Anthropic, Dialect::Gemini] {
        assert_eq!(dialect::check(d, &r).unwrap_err().field, "logprobs");
    }
    // Without the client's body (a continuation, a runner request) nothing can carry them.
    let bare = Request {
        original: None,
        ..r
    };
    assert_eq!(
        dialect::check(Dialect::Openai, &bare).unwrap_err().field,
        "logprobs"
    );
}

/// A conversation with every part kind, onto each vendor's wire.
#[path = "dialect_requests/conversation.rs"]
mod conversation;
/// Every refusal with its field named.
#[path = "dialect_requests/refusals.rs"]
mod refusals;
