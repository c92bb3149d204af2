//! What each vendor refuses, the fakes refuse: the status, the vendor's error body, and the
//! field at fault (OpenAI's `param`; Anthropic's and Gemini's message).

use serde_json::{Value, json};
use switchyard_core::dialect::Dialect;
use switchyard_core::outcome::ErrorKind;

use super::tests::{app, classify, edited, send};

/// What the error body must say.
enum Says {
    /// OpenAI: `param`, `code`, and a piece of the message.
    Param(&'static str, Option<&'static str>, &'static str),
    /// Anthropic, Gemini: a piece of the message.
    Message(&'static str),
}

type Edit = Box<dyn FnOnce(&mut Value)>;

fn messages(m: Value) -> Edit {
    Box::new(move |v| v["messages"] = m)
}

fn contents(c: Value) -> Edit {
    Box::new(move |v| v["contents"] = c)
}

fn set(field: &'static str, value: Value) -> Edit {
    Box::new(move |v| v[field] = value)
}

fn calls(ids: &[&str]) -> Value {
    let calls: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "id": id, "type": "function", "function": { "name": "f", "arguments": "{}" } }))
        .collect();
    json!({ "role": "assistant", "content": null, "tool_calls": calls })
}

fn weather_tool() -> Value {
    json!([{ "type": "function", "function": { "name": "get_weather",
             "parameters": { "type": "object", "properties": {} } } }])
}

fn openai_cases() -> Vec<(Dialect, Edit, Says)> {
    use Dialect::Openai as O;
    let user = json!({ "role": "user", "content": "hi" });
    vec![
        (
            O,
            messages(json!([])),
            Says::Param("messages", Some("empty_array"), "empty array"),
        ),
        (
            O,
            messages(json!([{ "role": "user" }])),
            Says::Param(
                "messages[0].content",
                Some("missing_required_parameter"),
                "Missing required parameter",
            ),
        ),
        (
            O,
            messages(json!([{ "role": "system", "content": null }, user])),
            Says::Param(
                "messages[0].content",
                Some("missing_required_parameter"),
                "messages[0].content",
            ),
        ),
        (
            O,
            messages(json!([{ "role": "tool", "tool_call_id": "call_a", "content": "x" }])),
            Says::Param(
                "messages.[0].role",
                None,
                "must be a response to a preceeding message with 'tool_calls'",
            ),
        ),
        (
            O,
            messages(
                json!([user, calls(&["call_a"]), { "role": "tool", "tool_call_id": "call_b", "content": "x" }]),
            ),
            Says::Param("messages.[2].tool_call_id", None, "'call_b' not found"),
        ),
        (
            O,
            messages(
                json!([user, calls(&["call_a", "call_b"]), { "role": "tool", "tool_call_id": "call_a", "content": "x" }, user]),
            ),
            Says::Param(
                "messages.[1].role",
                None,
                "did not have response messages: call_b",
            ),
        ),
        (
            O,
            messages(json!([user, calls(&["call_a"])])),
            Says::Param("messages.[1].role", None, "call_a"),
        ),
        (
            O,
            messages(json!([user, { "role": "tool", "content": "x" }])),
            Says::Param(
                "messages[1].tool_call_id",
                Some("missing_required_parameter"),
                "tool_call_id",
            ),
        ),
        (
            O,
            set("tool_choice", json!("required")),
            Says::Param(
                "tool_choice",
                None,
                "only allowed when 'tools' are specified",
            ),
        ),
        (
            O,
            Box::new(|v| {
                v["tools"] = weather_tool();
                v["tool_choice"] =
                    json!({ "type": "function", "function": { "name": "get_time" } });
            }),
            Says::Param(
                "tool_choice.function.name",
                Some("invalid_value"),
                "get_time",
            ),
        ),
        (
            O,
            set(
                "tools",
                json!([{ "type": "function", "function": { "name": "get weather" } }]),
            ),
            Says::Param(
                "tools[0].function.name",
                Some("invalid_value"),
                "does not match pattern",
            ),
        ),
        (
            O,
            set("response_format", json!({ "type": "json_object" })),
            Says::Param("messages", None, "must contain the word 'json'"),
        ),
        (
            O,
            set(
                "response_format",
                json!({ "type": "json_schema", "json_schema": { "schema": {} } }),
            ),
            Says::Param(
                "response_format.json_schema.name",
                Some("missing_required_parameter"),
                "name",
            ),
        ),
        (
            O,
            messages(
                json!([user, { "role": "assistant", "content": [{ "type": "image_url", "image_url": { "url": "https://x.test/a.png" } }] }]),
            ),
            Says::Param(
                "messages[1].content[0].type",
                Some("invalid_value"),
                "only allowed for messages with role 'user'",
            ),
        ),
        (
            O,
            messages(
                json!([{ "role": "user", "content": [{ "type": "text", "text": "look" }, { "type": "image_url", "image_url": { "url": "ftp://x.test/a.png" } }] }]),
            ),
            Says::Param(
                "messages[0].content[1].image_url.url",
                Some("invalid_value"),
                "Expected a valid URL",
            ),
        ),
        (
            O,
            messages(
                json!([{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "data:text/plain;base64,aGk=" } }] }]),
            ),
            Says::Param(
                "messages[0].content[0].image_url.url",
                Some("invalid_value"),
                "image MIME type",
            ),
        ),
        (
            O,
            set("stream_options", json!({ "include_usage": true })),
            Says::Param(
                "stream_options",
                Some("invalid_value"),
                "only allowed when 'stream' is enabled",
            ),
        ),
        (
            O,
            set("messages", json!("hi")),
            Says::Param(
                "messages",
                Some("invalid_type"),
                "expected an array of objects",
            ),
        ),
        (
            O,
            set("logprobs", json!("yes")),
            Says::Param("logprobs", Some("invalid_type"), "expected a boolean"),
        ),
        (
            O,
            set("stream", json!(1)),
            Says::Param(
                "stream",
                Some("invalid_type"),
                "expected a boolean, but got an integer instead.",
            ),
        ),
        (
            O,
            set("n", json!(1.5)),
            Says::Param(
                "n",
                Some("invalid_type"),
                "expected an integer, but got a decimal number instead.",
            ),
        ),
        (
            O,
            set("n", json!(1.8446744073709552e19)),
            Says::Param(
                "n",
                Some("invalid_type"),
                "expected an integer, but got a decimal number instead.",
            ),
        ),
        (
            O,
            set("temperature", json!(5)),
            Says::Param(
                "temperature",
                Some("decimal_above_max_value"),
                "Expected a value <= 2, but got 5 instead.",
            ),
        ),
        (
            O,
            set("max_tokens", json!(-5)),
            Says::Param(
                "max_tokens",
                Some("integer_below_min_value"),
                "Invalid 'max_tokens': integer below minimum value. Expected a value >= 0, but got -5 instead.",
            ),
        ),
        (
            O,
            set("max_completion_tokens", json!(4_294_967_296_u64)),
            Says::Param(
                "max_completion_tokens",
                Some("integer_above_max_value"),
                "Expected a value <= 4294967295, but got 4294967296 instead.",
            ),
        ),
        (
            O,
            set("tools", json!("x")),
            Says::Param(
                "tools",
                Some("invalid_type"),
                "expected an array of objects, but got a string instead.",
            ),
        ),
        (
            O,
            set("tools", json!([1])),
            Says::Param(
                "tools[0]",
                Some("invalid_type"),
                "expected an object, but got an integer instead.",
            ),
        ),
        (
            O,
            set("top_logprobs", json!(21)),
            Says::Param(
                "top_logprobs",
                Some("integer_above_max_value"),
                "Expected a value <= 20",
            ),
        ),
        // `n`: an integer from 1 to 128.
        (
            O,
            set("n", json!(0)),
            Says::Param(
                "n",
                Some("integer_below_min_value"),
                "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
            ),
        ),
        (
            O,
            set("n", json!(-3)),
            Says::Param("n", Some("integer_below_min_value"), "got -3 instead"),
        ),
        (
            O,
            set("n", json!(129)),
            Says::Param(
                "n",
                Some("integer_above_max_value"),
                "Invalid 'n': integer above maximum value. Expected a value <= 128, but got 129 instead.",
            ),
        ),
        (
            O,
            set("n", json!(u64::MAX)),
            Says::Param("n", Some("integer_above_max_value"), "<= 128"),
        ),
        (
            O,
            set("n", json!(1.5)),
            Says::Param("n", Some("invalid_type"), "expected an integer"),
        ),
        (
            O,
            set("n", json!("2")),
            Says::Param("n", Some("invalid_type"), "expected an integer"),
        ),
        // Azure reads bodies as OpenAI does.
        (
            Dialect::AzureOpenai,
            messages(json!([user, calls(&["call_a"]), user])),
            Says::Param("messages.[1].role", None, "call_a"),
        ),
    ]
}

fn anthropic_cases() -> Vec<(Dialect, Edit, Says)> {
    use Dialect::Anthropic as A;
    let user = json!({ "role": "user", "content": "hi" });
    let uses = |ids: &[&str]| {
        let blocks: Vec<Value> = ids
            .iter()
            .map(|id| json!({ "type": "tool_use", "id": id, "name": "f", "input": {} }))
            .collect();
        json!({ "role": "assistant", "content": blocks })
    };
    let result = |id: &str| json!({ "type": "tool_result", "tool_use_id": id, "content": "ok" });
    vec![
        (
            A,
            set("max_tokens", json!(0)),
            Says::Message("max_tokens: Input should be greater than or equal to 1"),
        ),
        (
            A,
            set("max_tokens", json!("many")),
            Says::Message("max_tokens: Input should be a valid integer"),
        ),
        (
            A,
            messages(json!([])),
            Says::Message("messages: at least one message is required"),
        ),
        (
            A,
            messages(json!([{ "role": "user", "content": [{ "type": "text", "text": "" }] }])),
            Says::Message("messages: text content blocks must be non-empty"),
        ),
        (
            A,
            messages(json!([{ "role": "system", "content": "be brief" }, user])),
            Says::Message("messages.0.role: Input should be 'user' or 'assistant'"),
        ),
        (
            A,
            messages(json!([user, uses(&["toolu_1"]), { "role": "user", "content": "thanks" }])),
            Says::Message(
                "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
            ),
        ),
        // The results must lead the next message.
        (
            A,
            messages(
                json!([user, uses(&["toolu_1"]), { "role": "user", "content": [{ "type": "text", "text": "here" }, result("toolu_1")] }]),
            ),
            Says::Message(
                "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
            ),
        ),
        (
            A,
            messages(
                json!([user, uses(&["toolu_1"]), { "role": "user", "content": [result("toolu_1"), result("toolu_9")] }]),
            ),
            Says::Message(
                "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9",
            ),
        ),
        (
            A,
            messages(json!([{ "role": "user", "content": [result("toolu_1")] }])),
            Says::Message("unexpected `tool_use_id`"),
        ),
        (
            A,
            set("tools", json!([{ "name": "f" }])),
            Says::Message("tools.0.custom.input_schema: Field required"),
        ),
        (
            A,
            set(
                "tools",
                json!([{ "name": "f", "input_schema": { "type": "array" } }]),
            ),
            Says::Message("tools.0.custom.input_schema.type: Input should be 'object'"),
        ),
        (
            A,
            Box::new(|v| {
                v["tools"] = json!([{ "name": "f", "input_schema": { "type": "object" } }]);
                v["tool_choice"] = json!({ "type": "tool", "name": "g" });
            }),
            Says::Message("tool_choice.tool.name"),
        ),
        (
            A,
            messages(
                json!([{ "role": "user", "content": [{ "type": "image", "source": { "type": "base64", "media_type": "image/bmp", "data": "Qk0=" } }] }]),
            ),
            Says::Message(
                "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
            ),
        ),
        (
            A,
            set("temperature", json!(1.5)),
            Says::Message("temperature: Input should be less than or equal to 1"),
        ),
        (
            A,
            messages(json!([user, { "role": "assistant", "content": "Sure, " }])),
            Says::Message("final assistant content cannot end with trailing whitespace"),
        ),
        (
            A,
            set(
                "output_config",
                json!({ "format": { "type": "json_schema", "schema": {
            "type": "object", "additionalProperties": false,
            "properties": { "place": { "type": "object", "properties": {} } } } } }),
            ),
            Says::Message(
                "output_config.format.schema.properties.place: For 'object' type, 'additionalProperties' must be explicitly set to false",
            ),
        ),
    ]
}

fn gemini_cases() -> Vec<(Dialect, Edit, Says)> {
    use Dialect::Gemini as G;
    let user = json!({ "role": "user", "parts": [{ "text": "hi" }] });
    let call = |name: &str| json!({ "functionCall": { "name": name, "args": {} } });
    vec![
        (
            G,
            contents(json!([{ "role": "assistant", "parts": [{ "text": "hi" }] }])),
            Says::Message("Please use a valid role: user, model."),
        ),
        (
            G,
            contents(json!([{ "role": "user", "parts": [{}] }])),
            Says::Message(
                "contents[0].parts[0].data: required oneof field 'data' must have one initialized field",
            ),
        ),
        (
            G,
            contents(
                json!([user, { "role": "model", "parts": [call("f")] }, { "role": "user", "parts": [{ "functionResponse": { "response": {} } }] }]),
            ),
            Says::Message("contents[2].parts[0].function_response.name: Name cannot be empty."),
        ),
        (
            G,
            contents(
                json!([user, { "role": "model", "parts": [call("f")] }, { "role": "user", "parts": [{ "functionResponse": { "name": "f", "response": "sunny" } }] }]),
            ),
            Says::Message("function_response.response"),
        ),
        (
            G,
            contents(
                json!([user, { "role": "model", "parts": [call("f"), call("g")] }, { "role": "user", "parts": [{ "functionResponse": { "name": "f", "response": {} } }] }]),
            ),
            Says::Message(
                "the number of function response parts is equal to the number of function call parts",
            ),
        ),
        (
            G,
            contents(
                json!([user, { "role": "user", "parts": [{ "function_response": { "name": "f", "response": {} } }] }]),
            ),
            Says::Message("the number of function response parts"),
        ),
        (
            G,
            set(
                "generationConfig",
                json!({ "stopSequences": ["a", "b", "c", "d", "e", "f"] }),
            ),
            Says::Message("stop_sequences"),
        ),
        (
            G,
            set(
                "generationConfig",
                json!({ "responseSchema": { "type": "OBJECT" } }),
            ),
            Says::Message("response_mime_type"),
        ),
        (
            G,
            set(
                "generationConfig",
                json!({ "responseMimeType": "application/json", "responseSchema": { "type": "OBJECT" }, "responseJsonSchema": { "type": "object" } }),
            ),
            Says::Message("cannot both be set"),
        ),
        (
            G,
            Box::new(|v| {
                v["tools"] = json!([{ "functionDeclarations": [{ "name": "f" }] }]);
                v["toolConfig"] = json!({ "functionCallingConfig": { "mode": "AUTO", "allowedFunctionNames": ["f"] } });
            }),
            Says::Message("allowed_function_names may only be set"),
        ),
        (
            G,
            set(
                "tools",
                json!([{ "functionDeclarations": [{ "name": "f", "parameters": { "type": "OBJECT" }, "parametersJsonSchema": { "type": "object" } }] }]),
            ),
            Says::Message("cannot both be set"),
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn what_the_vendors_refuse_gets_their_status_body_and_field() {
    let cases = openai_cases()
        .into_iter()
        .chain(anthropic_cases())
        .chain(gemini_cases());
    for (dialect, edit, says) in cases {
        let req = edited(dialect, edit).await;
        let r = send(&app(dialect, ""), req).await.unwrap();
        let text = r.body.as_deref().unwrap_or("").to_owned();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(r.status, 400, "{dialect:?}: {text}");
        assert_eq!(
            classify(dialect, &r).error_kind(),
            Some(ErrorKind::BadRequest),
            "{text}"
        );
        match (dialect, says) {
            (Dialect::Openai | Dialect::AzureOpenai, Says::Param(param, code, piece)) => {
                let e = &body["error"];
                assert_eq!(e["type"], "invalid_request_error", "{text}");
                assert_eq!(e["param"], param, "{text}");
                assert_eq!(e["code"], code.map_or(Value::Null, |c| json!(c)), "{text}");
                assert!(
                    e["message"].as_str().unwrap().contains(piece),
                    "{piece}: {text}"
                );
            }
            (Dialect::Anthropic, Says::Message(piece)) => {
                assert_eq!(body["type"], "error", "{text}");
                assert_eq!(body["error"]["type"], "invalid_request_error", "{text}");
                assert!(
                    body["request_id"].as_str().unwrap().starts_with("req_"),
                    "{text}"
                );
                assert!(
                    body["error"]["message"].as_str().unwrap().contains(piece),
                    "{piece}: {text}"
                );
            }
            (Dialect::Gemini, Says::Message(piece)) => {
                assert_eq!(body["error"]["code"], 400, "{text}");
                assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{text}");
                assert!(
                    body["error"]["message"].as_str().unwrap().contains(piece),
                    "{piece}: {text}"
                );
            }
            (d, _) => panic!("{d:?}: a case with the wrong expectation"),
        }
    }
}

/// What the vendors take passes: a whole tool round trip in each dialect, images, JSON mode
/// with the word, OpenAI's most choices (`n`), Gemini's snake_case names.
#[tokio::test(start_paused = true)]
async fn what_the_vendors_take_passes() {
    let png = "data:image/png;base64,iVBORw0KGgo=";
    let accepted: Vec<(Dialect, Edit)> = vec![
        (
            Dialect::Openai,
            Box::new(move |v| {
                v["tools"] = weather_tool();
                v["messages"] = json!([
                    { "role": "user", "content": [{ "type": "text", "text": "weather?" }, { "type": "image_url", "image_url": { "url": png, "detail": "low" } }] },
                    calls(&["call_a", "call_b"]),
                    { "role": "tool", "tool_call_id": "call_b", "content": "sunny" },
                    { "role": "tool", "tool_call_id": "call_a", "content": [{ "type": "text", "text": "rainy" }] },
                    { "role": "user", "content": "Answer in JSON" },
                ]);
                v["response_format"] = json!({ "type": "json_object" });
                v["n"] = json!(128);
            }),
        ),
        (
            Dialect::Anthropic,
            Box::new(|v| {
                v["tools"] = json!([{ "name": "f", "input_schema": { "type": "object" } }, { "type": "web_search_20250305", "name": "web_search" }]);
                v["temperature"] = json!(1);
                v["messages"] = json!([
                    { "role": "user", "content": [{ "type": "text", "text": "hi" }, { "type": "image", "source": { "type": "url", "url": "https://x.test/a.webp" } }] },
                    { "role": "assistant", "content": [{ "type": "text", "text": "calling" }, { "type": "tool_use", "id": "toolu_1", "name": "f", "input": {} }] },
                    { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_1", "content": "ok" }, { "type": "text", "text": "go on" }] },
                ]);
            }),
        ),
        (
            Dialect::Gemini,
            Box::new(|v| {
                v["tools"] = json!([{ "function_declarations": [{ "name": "f", "parameters": { "type": "OBJECT" } }] }]);
                v["contents"] = json!([
                    { "role": "user", "parts": [{ "text": "hi" }, { "inline_data": { "mime_type": "image/png", "data": "iVBORw0KGgo=" } }] },
                    { "role": "model", "parts": [{ "functionCall": { "name": "f", "args": {} } }, { "functionCall": { "name": "f", "args": {} } }] },
                    { "parts": [{ "functionResponse": { "name": "f", "response": { "output": 1 } } }, { "function_response": { "name": "f", "response": {} } }] },
                ]);
            }),
        ),
    ];
    for (dialect, edit) in accepted {
        let r = send(&app(dialect, ""), edited(dialect, edit).await)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{dialect:?}: {:?}", r.body);
        if dialect == Dialect::Openai {
            // `n: 128` taken, one choice answered (docs/FAKES.md).
            let reply: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
            assert_eq!(reply["choices"].as_array().unwrap().len(), 1, "{reply}");
        }
    }
}
