//! Inbound parsing and rendering, from synthetic input.

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchyard_core::dialect::Dialect;
use switchyard_core::id::TargetId;
use switchyard_core::request::{
    Capabilities, FinishReason, ImageSource, Part, Response, ResponseFormat, Role, ToolCall,
    ToolChoice, Usage,
};
use switchyard_live::StreamEvent;

use super::error::kind_for;
use super::inbound::{IMAGE_TOKENS, Origins, Refused};
use super::render::{self, Stream};

/// The normalized request alone.
fn parse(body: &[u8]) -> Result<switchyard_core::request::Request, Refused> {
    super::inbound::parse(&bytes::Bytes::copy_from_slice(body)).map(|(r, _)| r)
}

/// Where each normalized message came from: `system` first, a user message split by its
/// tool result into three, an empty final assistant message left out.
#[test]
fn each_normalized_message_knows_the_clients_message_and_block() {
    let mut v = base();
    v["system"] = json!([{ "type": "text", "text": "be" }, { "type": "text", "text": "brief" }]);
    v["messages"] = json!([
        { "role": "user", "content": "hi" },
        { "role": "assistant", "content": [{ "type": "tool_use", "id": "t1", "name": "f", "input": {} }] },
        { "role": "user", "content": [
            { "type": "text", "text": "a" },
            { "type": "tool_result", "tool_use_id": "t1", "content": "ok" },
            { "type": "text", "text": "b" },
        ] },
        { "role": "assistant", "content": [{ "type": "tool_use", "id": "t2", "name": "f", "input": {} }] },
        { "role": "user", "content": [
            { "type": "tool_result", "tool_use_id": "t2", "content": "ok" },
            { "type": "text", "text": "c" },
            { "type": "text", "text": "d" },
        ] },
        { "role": "assistant", "content": "" },
    ]);
    let (r, origins) = super::inbound::parse(&body(&v).into()).unwrap();
    let expected: Origins = vec![
        (None, 0),
        (Some(0), 0),
        (Some(1), 0),
        (Some(2), 0),
        (Some(2), 1),
        (Some(2), 2),
        (Some(3), 0),
        (Some(4), 0),
        (Some(4), 1),
    ];
    assert_eq!(origins, expected);
    assert_eq!(r.messages.len(), origins.len());
}

fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn refused(v: &Value) -> String {
    parse(&body(v)).unwrap_err().to_string()
}

fn base() -> Value {
    json!({"model": "chat", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]})
}

fn with(key: &str, value: Value) -> Value {
    let mut v = base();
    v[key] = value;
    v
}

#[test]
fn a_plain_request_becomes_the_normalized_one() {
    let v = json!({
        "model": "chat",
        "max_tokens": 300,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "user", "content": "Again"},
        ],
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "metadata": {"user_id": "u-1"},
        "stream": true,
        "thinking": {"type": "disabled"},
        "service_tier": "auto",
    });
    let r = parse(&body(&v)).unwrap();
    assert_eq!(r.route, "chat");
    assert_eq!(r.max_tokens, Some(300));
    assert!(r.stream);
    let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::System, Role::User, Role::Assistant, Role::User]
    );
    assert_eq!(r.messages[0].text_content(), "Be brief.");
    assert_eq!(r.messages[2].text_content(), "Hi");
    assert_eq!(r.sampling.stop, ["END"]);
    assert_eq!(r.sampling.temperature, Some(0.5));
    assert_eq!(r.sampling.top_p, Some(0.9));
    assert_eq!(r.sampling.top_k, Some(40));
    assert_eq!(r.user.as_deref(), Some("u-1"));
    assert_eq!(r.needs, Capabilities::NONE);
    let original = r.original.unwrap();
    assert_eq!(original.dialect, Dialect::Anthropic);
    assert_eq!(&*original.body, body(&v).as_slice());
    // Four characters a token plus four a message: "Be brief." 3+4, "Hello there" 3+4,
    // "Hi" 1+4, "Again" 2+4.
    assert_eq!(r.estimated_prompt_tokens, 25);
}

#[test]
fn tool_results_are_split_out_of_the_user_message_in_order() {
    let v = json!({
        "model": "chat",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
                 "content": [{"type": "text", "text": "no"}, {"type": "text", "text": "data"}]},
                {"type": "text", "text": "Summarize."},
            ]},
        ],
        "tools": [{"name": "weather", "description": "Weather now",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                   "strict": true}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
    });
    let r = parse(&body(&v)).unwrap();
    let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Tool,
            Role::User
        ]
    );
    let Part::ToolCall(call) = &r.messages[1].content[1] else {
        panic!("{:?}", r.messages[1]);
    };
    assert_eq!(
        (call.id.as_str(), call.name.as_str()),
        ("toolu_1", "weather")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({"city": "Paris"})
    );
    let results: Vec<(String, String, bool)> = r.messages[2..4]
        .iter()
        .map(|m| match &m.content[..] {
            [Part::ToolResult(t)] => (t.call_id.clone(), t.content.clone(), t.is_error),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        results,
        [
            ("toolu_1".to_owned(), "18C".to_owned(), false),
            ("toolu_2".to_owned(), "no\ndata".to_owned(), true),
        ]
    );
    assert_eq!(r.messages[4].text_content(), "Summarize.");
    assert_eq!(r.tools.len(), 1);
    assert_eq!(r.tools[0].strict, Some(true));
    assert_eq!(r.tools[0].description.as_deref(), Some("Weather now"));
    assert_eq!(r.tools[0].parameters.as_ref().unwrap()["type"], "object");
    assert_eq!(r.tool_choice, Some(ToolChoice::Required));
    assert_eq!(r.parallel_tool_calls, Some(false));
    assert!(r.needs.contains(Capabilities::TOOLS));
    // Text before a result stays before it, in a user message of its own.
    let v = with(
        "messages",
        json!([{"role": "user", "content": [
            {"type": "text", "text": "First"},
            {"type": "tool_result", "tool_use_id": "t"},
        ]}]),
    );
    let r = parse(&body(&v)).unwrap();
    let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Tool]);
    assert_eq!(r.messages[0].text_content(), "First");
}

#[test]
fn tool_choices_map_and_parallel_calls_stay_unset_unless_disabled() {
    for (choice, want) in [
        (json!({"type": "auto"}), ToolChoice::Auto),
        (json!({"type": "none"}), ToolChoice::None),
        (json!({"type": "any"}), ToolChoice::Required),
        (
            json!({"type": "tool", "name": "f"}),
            ToolChoice::Named("f".into()),
        ),
    ] {
        let r = parse(&body(&with("tool_choice", choice))).unwrap();
        assert_eq!(r.tool_choice, Some(want));
        assert_eq!(r.parallel_tool_calls, None);
    }
    assert!(
        refused(&with(
            "tool_choice",
            json!({"type": "none", "disable_parallel_tool_use": true})
        ))
        .starts_with("tool_choice.disable_parallel_tool_use: Extra inputs")
    );
    assert!(refused(&with("tool_choice", json!({"type": "tool"}))).starts_with("tool_choice.name"));
}

#[test]
fn images_set_the_vision_need_and_count_in_the_estimate() {
    let v = with(
        "messages",
        json!([{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
            {"type": "text", "text": "What?"},
        ]}]),
    );
    let r = parse(&body(&v)).unwrap();
    assert!(r.needs.contains(Capabilities::VISION));
    let sources: Vec<&ImageSource> = r.messages[0]
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Image(i) => Some(&i.source),
            _ => None,
        })
        .collect();
    assert_eq!(
        sources,
        [
            &ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0K".into()
            },
            &ImageSource::Url("https://example.com/a.jpg".into()),
        ]
    );
    assert_eq!(r.estimated_prompt_tokens, 2 * IMAGE_TOKENS + 2 + 4);
    let svg = v.to_string().replace("image/png", "image/svg+xml");
    let e = parse(svg.as_bytes()).unwrap_err().to_string();
    assert!(
        e.starts_with("messages.0.content.0.source.media_type: "),
        "{e}"
    );
}

#[test]
fn output_config_json_schema_is_a_response_format() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let r = parse(&body(&with(
        "output_config",
        json!({"format": {"type": "json_schema", "schema": schema}}),
    )))
    .unwrap();
    assert!(r.needs.contains(Capabilities::JSON_MODE));
    let Some(ResponseFormat::JsonSchema {
        schema: got, name, ..
    }) = r.response_format
    else {
        panic!("{:?}", r.response_format);
    };
    assert_eq!((got, name.as_str()), (schema, "response"));
    assert!(
        refused(&with("output_config", json!({"effort": "high"})))
            .starts_with("output_config.effort: ")
    );
}

#[test]
fn missing_and_bad_fields_are_refused_by_name() {
    let mut v = base();
    v.as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(refused(&v), "max_tokens: Field required");
    assert_eq!(
        refused(&with("max_tokens", json!(0))),
        "max_tokens: Input should be greater than or equal to 1"
    );
    assert!(refused(&with("max_tokens", json!("ten"))).starts_with("max_tokens: "));
    // A negative count is below the same minimum as 0 (it said ">= 0" there).
    assert_eq!(
        refused(&with("max_tokens", json!(-1))),
        "max_tokens: Input should be greater than or equal to 1"
    );
    assert!(refused(&with("max_tokens", json!(5_000_000_000u64))).starts_with("max_tokens: "));
    let mut v = base();
    v.as_object_mut().unwrap().remove("model");
    assert_eq!(refused(&v), "model: Field required");
    assert!(refused(&with("messages", json!([]))).starts_with("messages: "));
    assert!(refused(&with("temperature", json!(1.5))).starts_with("temperature: "));
    assert!(refused(&with("top_p", json!(-0.1))).starts_with("top_p: "));
    assert_eq!(
        refused(&json!([1, 2])),
        "The request body should be a JSON object, not an array."
    );
    assert_eq!(
        refused(&json!("hi")),
        "The request body should be a JSON object, not a string."
    );
    assert!(
        parse(b"{nope")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON")
    );
}

#[test]
fn what_cannot_be_represented_is_refused_naming_the_field() {
    let cases = [
        (
            with(
                "thinking",
                json!({"type": "enabled", "budget_tokens": 2000}),
            ),
            "thinking: ",
        ),
        (
            with("service_tier", json!("standard_only")),
            "service_tier: ",
        ),
        (with("container", json!("c1")), "container: Extra inputs"),
        (
            with("metadata", json!({"user_id": "u", "team": "x"})),
            "metadata.team: ",
        ),
        (
            with(
                "tools",
                json!([{"type": "web_search_20250305", "name": "web_search"}]),
            ),
            "tools.0.type: ",
        ),
        (
            with(
                "tools",
                json!([{"name": "f", "input_schema": {"type": "object"}, "defer_loading": true}]),
            ),
            "tools.0.defer_loading: ",
        ),
        (
            with("tools", json!([{"name": "f"}])),
            "tools.0.input_schema: ",
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "document", "source": {}}]}]),
            ),
            "messages.0.content.0.type: ",
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"}]}]),
            ),
            "messages.1.content.0.type: ",
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                    "content": [{"type": "image", "source": {"type": "url", "url": "https://x"}}]}]}]),
            ),
            "messages.0.content.0.content.0.type: ",
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]),
            ),
            "messages.0.content.0.type: ",
        ),
        (
            with("messages", json!([{"role": "system", "content": "x"}])),
            "messages.0.role: ",
        ),
        (
            with("messages", json!([{"role": "user", "content": ""}])),
            "messages.0: all messages must have non-empty content",
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "text", "text": ""}]}]),
            ),
            "messages.0.content.0.text: text content blocks must be non-empty",
        ),
        (
            with(
                "messages",
                json!([{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]),
            ),
            "messages.0.content.0.source.type: ",
        ),
    ];
    for (v, want) in cases {
        let got = refused(&v);
        assert!(got.starts_with(want), "{want:?} ← {got:?}");
    }
    // Asked-for-nothing fields pass: caching hints, empty citations, an empty final
    // assistant turn.
    let mut v = with("cache_control", json!({"type": "ephemeral"}));
    v["messages"] = json!([
        {"role": "user", "content": [{"type": "text", "text": "a", "citations": []}]},
        {"role": "assistant", "content": ""},
    ]);
    let r = parse(&body(&v)).unwrap();
    assert_eq!(r.messages.len(), 1);
}

fn reply(text: &str, calls: Vec<ToolCall>, finish: FinishReason) -> Response {
    Response {
        text: text.to_owned(),
        tool_calls: calls,
        finish_reason: finish,
        usage: Usage {
            prompt_tokens: 100,
            completion_tokens: 7,
            cached_prompt_tokens: 60,
        },
        served_by: TargetId::new(0),
        route: None,
        attempts: Vec::new(),
        raw: None,
        cost: 0.0,
        wasted_cost: 0.0,
        tokens_estimated: false,
        choices: Vec::new(),
    }
}

#[test]
fn a_reply_renders_text_then_tool_use_blocks() {
    let calls = vec![
        ToolCall {
            id: "call_a".into(),
            name: "weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        },
        ToolCall {
            id: String::new(),
            name: "now".into(),
            arguments: String::new(),
        },
    ];
    let m = render::message(
        "msg_1",
        "gpt-4o",
        &reply("Let me check.", calls, FinishReason::Stop),
    )
    .unwrap();
    assert_eq!(
        m,
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "gpt-4o",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "call_a", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_1_1", "name": "now", "input": {}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 40, "output_tokens": 7, "cache_read_input_tokens": 60},
        })
    );
    let plain = render::message("msg_2", "m", &reply("Hi", vec![], FinishReason::Length)).unwrap();
    assert_eq!(plain["content"], json!([{"type": "text", "text": "Hi"}]));
    assert_eq!(plain["stop_reason"], "max_tokens");
    let bad = ToolCall {
        id: "c".into(),
        name: "f".into(),
        arguments: "[1]".into(),
    };
    assert!(render::message("msg_3", "m", &reply("", vec![bad], FinishReason::ToolCalls)).is_err());
}

#[test]
fn stop_reasons_follow_the_reply() {
    use render::stop_reason;
    assert_eq!(stop_reason(FinishReason::Stop, false), "end_turn");
    assert_eq!(stop_reason(FinishReason::Stop, true), "tool_use");
    assert_eq!(stop_reason(FinishReason::ToolCalls, true), "tool_use");
    assert_eq!(stop_reason(FinishReason::ToolCalls, false), "end_turn");
    assert_eq!(stop_reason(FinishReason::Length, true), "max_tokens");
    assert_eq!(stop_reason(FinishReason::ContentFilter, false), "refusal");
}

fn run(events: Vec<StreamEvent>) -> Vec<(&'static str, Value)> {
    let mut s = Stream::new("msg_9".into(), "gpt-4o".into());
    let mut out = vec![s.start(12)];
    for e in events {
        if let Err(render::Unrenderable(m)) = s.next(e, &mut out) {
            out.push(s.error("api_error", &m));
            break;
        }
    }
    out
}

fn call(index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) -> StreamEvent {
    StreamEvent::ToolCall {
        index,
        id: id.map(str::to_owned),
        name: name.map(str::to_owned),
        arguments: arguments.to_owned(),
    }
}

const END_USAGE: Usage = Usage {
    prompt_tokens: 30,
    completion_tokens: 9,
    cached_prompt_tokens: 10,
};

#[test]
fn a_text_stream_is_anthropics_event_sequence() {
    let out = run(vec![
        StreamEvent::Delta("Hel".into()),
        StreamEvent::Delta(String::new()),
        StreamEvent::Delta("lo".into()),
        StreamEvent::End {
            finish: FinishReason::Stop,
            usage: END_USAGE,
            tool_calls: Vec::new(),
        },
    ]);
    let expected = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_9", "type": "message",
                "role": "assistant", "model": "gpt-4o", "content": [], "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": 12, "output_tokens": 0}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"input_tokens": 20, "output_tokens": 9, "cache_read_input_tokens": 10}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    assert_eq!(out, expected);
}

#[test]
fn tool_calls_stream_as_tool_use_blocks_with_input_json_deltas() {
    let out = run(vec![
        StreamEvent::Delta("Checking.".into()),
        call(0, Some("call_a"), Some("weather"), ""),
        call(0, None, None, "{\"city\":"),
        call(0, None, None, "\"Paris\"}"),
        call(1, Some("call_b"), Some("now"), "{}"),
        StreamEvent::End {
            finish: FinishReason::ToolCalls,
            usage: END_USAGE,
            tool_calls: Vec::new(),
        },
    ]);
    let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    // Block indexes count every block; OpenAI's tool-call indexes count calls only.
    assert_eq!(
        out[4].1,
        json!({"type": "content_block_start", "index": 1, "content_block":
            {"type": "tool_use", "id": "call_a", "name": "weather", "input": {}}})
    );
    assert_eq!(
        out[5].1,
        json!({"type": "content_block_delta", "index": 1, "delta":
            {"type": "input_json_delta", "partial_json": "{\"city\":"}})
    );
    assert_eq!(out[6].1["delta"]["partial_json"], "\"Paris\"}");
    assert_eq!(out[7].1, json!({"type": "content_block_stop", "index": 1}));
    assert_eq!(out[8].1["index"], 2);
    assert_eq!(out[8].1["content_block"]["id"], "call_b");
    assert_eq!(out[9].1["index"], 2);
    assert_eq!(out[10].1["index"], 2);
    assert_eq!(out[11].1["delta"]["stop_reason"], "tool_use");
}

#[test]
fn a_tool_call_resumed_after_the_next_one_began_ends_in_an_error_event() {
    let out = run(vec![
        call(0, Some("a"), Some("f"), "{"),
        call(1, Some("b"), Some("g"), "{"),
        call(0, None, None, "}"),
        StreamEvent::End {
            finish: FinishReason::ToolCalls,
            usage: END_USAGE,
            tool_calls: Vec::new(),
        },
    ]);
    let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "error",
        ]
    );
    assert_eq!(out[6].1["type"], "error");
    assert_eq!(out[6].1["error"]["type"], "api_error");
}

#[test]
fn error_types_follow_the_status() {
    for (status, kind) in [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (408, "timeout_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ] {
        assert_eq!(
            kind_for(StatusCode::from_u16(status).unwrap()),
            kind,
            "{status}"
        );
    }
}
