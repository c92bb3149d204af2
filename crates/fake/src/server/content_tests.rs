//! The reply follows the request: tool calls (plain and streamed, in each vendor's shape,
//! arguments valid against the tool's schema), JSON mode, prefill continued or refused, and
//! images taken or refused.

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use switchyard_core::dialect::Dialect;

use super::request::IMAGE_TOKENS;
use super::tests::{app, app_with, edited, events, journal, send};
use crate::schema;

const ALL: [Dialect; 4] = Dialect::ALL;

fn weather_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false,
            "properties": {
                "city": { "type": "string", "minLength": 2 },
                "unit": { "type": "string", "enum": ["celsius", "fahrenheit"] },
                "days": { "type": "integer", "minimum": 1, "maximum": 5 },
                "where": { "type": "object", "additionalProperties": false,
                           "properties": { "lat": { "type": "number" }, "tags": { "type": "array", "items": { "type": "string" }, "minItems": 2 } },
                           "required": ["lat", "tags"] } },
            "required": ["city", "unit", "days", "where"] })
}

fn time_schema() -> Value {
    json!({ "type": "object", "properties": { "zone": { "type": "string", "format": "date-time" } }, "required": ["zone"] })
}

/// The schema of a declared tool.
fn schema_of(name: &str) -> Value {
    match name {
        "get_weather" => weather_schema(),
        "get_time" => time_schema(),
        other => panic!("no tool {other}"),
    }
}

/// Declares `get_weather` and `get_time` in the dialect, with a choice: `auto`, `none`,
/// `required`, or a tool's name.
fn with_tools(dialect: Dialect, v: &mut Value, choice: &str) {
    let tools = [
        ("get_weather", weather_schema()),
        ("get_time", time_schema()),
    ];
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => {
            v["tools"] = tools
                .iter()
                .map(|(n, s)| json!({ "type": "function", "function": { "name": n, "parameters": s } }))
                .collect();
            v["tool_choice"] = match choice {
                "auto" | "none" | "required" => json!(choice),
                name => json!({ "type": "function", "function": { "name": name } }),
            };
        }
        Dialect::Anthropic => {
            v["tools"] = tools
                .iter()
                .map(|(n, s)| json!({ "name": n, "input_schema": s }))
                .collect();
            v["tool_choice"] = match choice {
                "auto" | "none" => json!({ "type": choice }),
                "required" => json!({ "type": "any" }),
                name => json!({ "type": "tool", "name": name }),
            };
        }
        Dialect::Gemini => {
            let decls: Vec<Value> = tools
                .iter()
                .map(|(n, s)| json!({ "name": n, "parametersJsonSchema": s }))
                .collect();
            v["tools"] = json!([{ "functionDeclarations": decls }]);
            v["toolConfig"] = json!({ "functionCallingConfig": match choice {
                "auto" => json!({ "mode": "AUTO" }),
                "none" => json!({ "mode": "NONE" }),
                "required" => json!({ "mode": "ANY" }),
                name => json!({ "mode": "ANY", "allowedFunctionNames": [name] }),
            } });
        }
    }
}

/// Sets the last user message's text.
fn say(dialect: Dialect, v: &mut Value, text: &str) {
    match dialect {
        Dialect::Gemini => v["contents"][0]["parts"][0]["text"] = json!(text),
        _ => v["messages"][0]["content"] = json!(text),
    }
}

fn stream_on(dialect: Dialect, v: &mut Value) {
    match dialect {
        Dialect::Gemini => {}
        Dialect::Openai => {
            v["stream"] = json!(true);
            v["stream_options"] = json!({ "include_usage": true });
        }
        _ => v["stream"] = json!(true),
    }
}

/// A request in the dialect, edited, streamed or not.
async fn ask(dialect: Dialect, stream: bool, edit: impl FnOnce(&mut Value)) -> Request<Body> {
    let mut req = edited(dialect, |v| {
        if stream {
            stream_on(dialect, v);
        }
        edit(v);
    })
    .await;
    if stream && dialect == Dialect::Gemini {
        *req.uri_mut() = "/v1beta/models/m1:streamGenerateContent?alt=sse"
            .parse()
            .unwrap();
    }
    req
}

/// What a reply said: its calls (name, arguments), its text, its finish reason.
#[derive(Debug, Default)]
struct Said {
    calls: Vec<(String, Value)>,
    text: String,
    finish: String,
}

fn said_json(dialect: Dialect, body: &str) -> Said {
    let v: Value = serde_json::from_str(body).unwrap();
    let mut said = Said::default();
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => {
            let choice = &v["choices"][0];
            said.finish = choice["finish_reason"].as_str().unwrap().to_owned();
            said.text = choice["message"]["content"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            for c in choice["message"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                assert!(c["id"].as_str().unwrap().starts_with("call_"), "{c}");
                assert_eq!(c["type"], "function");
                let args = c["function"]["arguments"].as_str().unwrap();
                said.calls.push((
                    c["function"]["name"].as_str().unwrap().to_owned(),
                    serde_json::from_str(args).unwrap(),
                ));
            }
        }
        Dialect::Anthropic => {
            said.finish = v["stop_reason"].as_str().unwrap().to_owned();
            for b in v["content"].as_array().unwrap() {
                match b["type"].as_str().unwrap() {
                    "text" => said.text.push_str(b["text"].as_str().unwrap()),
                    "tool_use" => {
                        assert!(b["id"].as_str().unwrap().starts_with("toolu_"), "{b}");
                        said.calls
                            .push((b["name"].as_str().unwrap().to_owned(), b["input"].clone()));
                    }
                    other => panic!("block {other}"),
                }
            }
        }
        Dialect::Gemini => {
            let c = &v["candidates"][0];
            said.finish = c["finishReason"].as_str().unwrap().to_owned();
            for p in c["content"]["parts"].as_array().unwrap() {
                if let Some(t) = p["text"].as_str() {
                    said.text.push_str(t);
                }
                if let Some(f) = p.get("functionCall") {
                    said.calls
                        .push((f["name"].as_str().unwrap().to_owned(), f["args"].clone()));
                }
            }
        }
    }
    said
}

/// Reassembles a stream, checking each vendor's shape on the way.
fn said_stream(dialect: Dialect, body: &str) -> Said {
    let mut said = Said::default();
    let mut arguments: Vec<String> = Vec::new();
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => {
            for data in events(body) {
                if data == "[DONE]" {
                    continue;
                }
                let chunk: Value = serde_json::from_str(&data).unwrap();
                let Some(choice) = chunk["choices"].get(0) else {
                    continue;
                };
                if let Some(f) = choice["finish_reason"].as_str() {
                    said.finish = f.to_owned();
                }
                if let Some(t) = choice["delta"]["content"].as_str() {
                    said.text.push_str(t);
                }
                for tc in choice["delta"]["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let k = tc["index"].as_u64().unwrap() as usize;
                    if k == said.calls.len() {
                        // A call's first delta: its id, type and name, empty arguments.
                        assert!(tc["id"].as_str().unwrap().starts_with("call_"), "{tc}");
                        assert_eq!(tc["type"], "function");
                        assert_eq!(tc["function"]["arguments"], "");
                        said.calls.push((
                            tc["function"]["name"].as_str().unwrap().to_owned(),
                            Value::Null,
                        ));
                        arguments.push(String::new());
                    } else {
                        assert!(
                            tc.get("id").is_none() && tc["function"].get("name").is_none(),
                            "{tc}"
                        );
                        arguments[k].push_str(tc["function"]["arguments"].as_str().unwrap());
                    }
                }
            }
        }
        Dialect::Anthropic => {
            let mut open: Option<usize> = None;
            for block in body.split("\n\n").filter(|b| !b.trim().is_empty()) {
                let name = block
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap();
                let data: Value = serde_json::from_str(
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .unwrap(),
                )
                .unwrap();
                assert_eq!(data["type"], name, "the event name is the data's type");
                match name {
                    "content_block_start" => {
                        assert!(open.is_none(), "one block at a time");
                        open = Some(data["index"].as_u64().unwrap() as usize);
                        let b = &data["content_block"];
                        if b["type"] == "tool_use" {
                            assert_eq!(b["input"], json!({}));
                            assert!(b["id"].as_str().unwrap().starts_with("toolu_"));
                            said.calls
                                .push((b["name"].as_str().unwrap().to_owned(), Value::Null));
                            arguments.push(String::new());
                        }
                    }
                    "content_block_delta" => {
                        assert_eq!(open, data["index"].as_u64().map(|i| i as usize));
                        match data["delta"]["type"].as_str().unwrap() {
                            "text_delta" => {
                                said.text.push_str(data["delta"]["text"].as_str().unwrap())
                            }
                            "input_json_delta" => arguments
                                .last_mut()
                                .unwrap()
                                .push_str(data["delta"]["partial_json"].as_str().unwrap()),
                            other => panic!("delta {other}"),
                        }
                    }
                    "content_block_stop" => open = None,
                    "message_delta" => {
                        said.finish = data["delta"]["stop_reason"].as_str().unwrap().to_owned()
                    }
                    _ => {}
                }
            }
            assert!(open.is_none(), "every block stopped");
        }
        Dialect::Gemini => {
            for data in events(body) {
                let chunk: Value = serde_json::from_str(&data).unwrap();
                let c = &chunk["candidates"][0];
                if let Some(f) = c["finishReason"].as_str() {
                    said.finish = f.to_owned();
                }
                for p in c["content"]["parts"].as_array().unwrap() {
                    if let Some(t) = p["text"].as_str() {
                        said.text.push_str(t);
                    }
                    if let Some(f) = p.get("functionCall") {
                        // Whole in one chunk.
                        said.calls
                            .push((f["name"].as_str().unwrap().to_owned(), f["args"].clone()));
                        arguments.push(f["args"].to_string());
                    }
                }
            }
        }
    }
    for (call, args) in said.calls.iter_mut().zip(arguments) {
        call.1 = serde_json::from_str(&args).unwrap_or_else(|e| panic!("{args}: {e}"));
    }
    said
}

async fn said(dialect: Dialect, stream: bool, app: &axum::Router, req: Request<Body>) -> Said {
    let r = send(app, req).await.unwrap();
    let body = r.body.unwrap();
    assert_eq!(r.status, 200, "{dialect:?}: {body}");
    if stream {
        said_stream(dialect, &body)
    } else {
        said_json(dialect, &body)
    }
}

fn tool_finish(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => "tool_calls",
        Dialect::Anthropic => "tool_use",
        Dialect::Gemini => "STOP",
    }
}

fn text_finish(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => "stop",
        Dialect::Anthropic => "end_turn",
        Dialect::Gemini => "STOP",
    }
}

fn assert_valid(calls: &[(String, Value)]) {
    for (name, args) in calls {
        schema::check(&schema_of(name), args).unwrap_or_else(|e| panic!("{name}({args}): {e}"));
    }
}

/// Forced or named, plain or streamed, in every dialect: calls to declared tools whose
/// arguments fit the tool's schema, in the vendor's shape, with its finish reason.
#[tokio::test(start_paused = true)]
async fn forced_and_named_choices_call_a_declared_tool_with_valid_arguments() {
    for dialect in ALL {
        let app = app(dialect, "");
        for stream in [false, true] {
            for (choice, expected) in [("required", "get_weather"), ("get_time", "get_time")] {
                let req = ask(dialect, stream, |v| with_tools(dialect, v, choice)).await;
                let s = said(dialect, stream, &app, req).await;
                let names: Vec<&str> = s.calls.iter().map(|c| c.0.as_str()).collect();
                assert_eq!(
                    names,
                    [expected],
                    "{dialect:?} stream {stream} {choice}: {s:?}"
                );
                assert_valid(&s.calls);
                assert_eq!(s.finish, tool_finish(dialect), "{dialect:?}");
                assert!(s.text.is_empty(), "{dialect:?}: {s:?}");
            }
        }
    }
}

/// `auto`: a call to each tool the user names, else text; after tool results, text. `none`:
/// text even when a tool is named.
#[tokio::test(start_paused = true)]
async fn auto_calls_the_tools_the_user_names_and_none_never_calls() {
    for dialect in ALL {
        let app = app(dialect, "");
        for stream in [false, true] {
            let req = ask(dialect, stream, |v| {
                with_tools(dialect, v, "auto");
                say(dialect, v, "use get_time then get_weather");
            })
            .await;
            let s = said(dialect, stream, &app, req).await;
            let names: Vec<&str> = s.calls.iter().map(|c| c.0.as_str()).collect();
            assert_eq!(
                names,
                ["get_weather", "get_time"],
                "{dialect:?}: in declared order"
            );
            assert_valid(&s.calls);

            let req = ask(dialect, stream, |v| with_tools(dialect, v, "auto")).await;
            let s = said(dialect, stream, &app, req).await;
            assert!(
                s.calls.is_empty() && s.text.split(' ').count() == 10,
                "{dialect:?}: {s:?}"
            );
            assert_eq!(s.finish, text_finish(dialect));

            let req = ask(dialect, stream, |v| {
                with_tools(dialect, v, "none");
                say(dialect, v, "use get_time");
            })
            .await;
            let s = said(dialect, stream, &app, req).await;
            assert!(
                s.calls.is_empty() && !s.text.is_empty(),
                "{dialect:?}: {s:?}"
            );
        }
        // After the tool's result, the model answers.
        let req = ask(dialect, false, |v| {
            with_tools(dialect, v, "auto");
            let user = "use get_time";
            match dialect {
                Dialect::Openai | Dialect::AzureOpenai => v["messages"] = json!([
                    { "role": "user", "content": user },
                    { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "get_time", "arguments": "{}" } }] },
                    { "role": "tool", "tool_call_id": "call_1", "content": "noon" },
                ]),
                Dialect::Anthropic => v["messages"] = json!([
                    { "role": "user", "content": user },
                    { "role": "assistant", "content": [{ "type": "tool_use", "id": "toolu_1", "name": "get_time", "input": {} }] },
                    { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_1", "content": "noon" }] },
                ]),
                Dialect::Gemini => v["contents"] = json!([
                    { "role": "user", "parts": [{ "text": user }] },
                    { "role": "model", "parts": [{ "functionCall": { "name": "get_time", "args": {} } }] },
                    { "role": "user", "parts": [{ "functionResponse": { "name": "get_time", "response": { "output": "noon" } } }] },
                ]),
            }
        })
        .await;
        let s = said(dialect, false, &app, req).await;
        assert!(
            s.calls.is_empty() && !s.text.is_empty(),
            "{dialect:?}: {s:?}"
        );
    }
}

/// Several calls when the user names several tools; one when parallel calls are off.
#[tokio::test(start_paused = true)]
async fn parallel_calls_unless_turned_off() {
    for dialect in [Dialect::Openai, Dialect::Anthropic] {
        let app = app(dialect, "");
        for (parallel, n) in [(true, 2), (false, 1)] {
            for stream in [false, true] {
                let req = ask(dialect, stream, |v| {
                    with_tools(dialect, v, "required");
                    say(dialect, v, "get_weather and get_time please");
                    if !parallel {
                        match dialect {
                            Dialect::Anthropic => {
                                v["tool_choice"]["disable_parallel_tool_use"] = json!(true)
                            }
                            _ => v["parallel_tool_calls"] = json!(false),
                        }
                    }
                })
                .await;
                let s = said(dialect, stream, &app, req).await;
                assert_eq!(s.calls.len(), n, "{dialect:?} parallel {parallel}: {s:?}");
                assert_valid(&s.calls);
            }
        }
    }
}

/// JSON mode: the reply's text is JSON, an instance of the schema when there is one, whole
/// or streamed.
#[tokio::test(start_paused = true)]
async fn json_mode_replies_with_json_that_fits_the_schema() {
    let schema = weather_schema();
    let gemini_schema = json!({ "type": "OBJECT", "properties": { "n": { "type": "INTEGER", "minimum": 4 } }, "required": ["n"] });
    type Case = (Dialect, fn(&mut Value, &Value), Option<Value>);
    let cases: Vec<Case> = vec![
        (
            Dialect::Openai,
            |v, _| {
                v["messages"][0]["content"] = json!("Reply in JSON.");
                v["response_format"] = json!({ "type": "json_object" });
            },
            None,
        ),
        (
            Dialect::Openai,
            |v, s| {
                v["response_format"] = json!({ "type": "json_schema", "json_schema": { "name": "weather", "schema": s, "strict": true } });
            },
            Some(schema.clone()),
        ),
        (
            Dialect::AzureOpenai,
            |v, s| {
                v["response_format"] = json!({ "type": "json_schema", "json_schema": { "name": "weather", "schema": s } });
            },
            Some(schema.clone()),
        ),
        (
            Dialect::Anthropic,
            |v, s| {
                v["output_config"] = json!({ "format": { "type": "json_schema", "schema": s } });
            },
            Some(schema.clone()),
        ),
        (
            Dialect::Gemini,
            |v, _| {
                v["generationConfig"]["responseMimeType"] = json!("application/json");
            },
            None,
        ),
        (
            Dialect::Gemini,
            |v, s| {
                v["generationConfig"] =
                    json!({ "responseMimeType": "application/json", "responseJsonSchema": s });
            },
            Some(schema.clone()),
        ),
        (
            Dialect::Gemini,
            |v, s| {
                v.as_object_mut().unwrap().remove("generationConfig");
                v["generation_config"] =
                    json!({ "response_mime_type": "application/json", "response_schema": s });
            },
            Some(gemini_schema.clone()),
        ),
    ];
    for (dialect, edit, expected) in cases {
        let app = app(dialect, "");
        let wire = match (&expected, dialect) {
            (Some(s), Dialect::Gemini) if s == &gemini_schema => gemini_schema.clone(),
            _ => schema.clone(),
        };
        for stream in [false, true] {
            let req = ask(dialect, stream, |v| edit(v, &wire)).await;
            let s = said(dialect, stream, &app, req).await;
            let value: Value = serde_json::from_str(&s.text)
                .unwrap_or_else(|e| panic!("{dialect:?}: {}: {e}", s.text));
            match &expected {
                Some(sc) if sc == &gemini_schema => {
                    assert!(value["n"].as_i64().unwrap() >= 4, "{value}");
                }
                Some(sc) => {
                    schema::check(sc, &value).unwrap_or_else(|e| panic!("{dialect:?} {value}: {e}"))
                }
                None => assert_eq!(
                    value["answer"].as_str().unwrap().split(' ').count(),
                    10,
                    "{value}"
                ),
            }
            assert_eq!(s.finish, text_finish(dialect));
        }
    }
}

/// A final assistant (Anthropic) or model (Gemini) turn is continued, not repeated; OpenAI
/// reads a trailing assistant message as a past turn.
#[tokio::test(start_paused = true)]
async fn a_prefill_is_continued() {
    let prefill = "The answer is";
    for dialect in ALL {
        let app = app(dialect, "");
        for stream in [false, true] {
            let req = ask(dialect, stream, |v| match dialect {
                Dialect::Gemini => {
                    v["contents"] = json!([
                        { "role": "user", "parts": [{ "text": "hello" }] },
                        { "role": "model", "parts": [{ "text": prefill }] },
                    ])
                }
                _ => {
                    v["messages"] = json!([
                        { "role": "user", "content": "hello" },
                        { "role": "assistant", "content": prefill },
                    ])
                }
            })
            .await;
            let s = said(dialect, stream, &app, req).await;
            let continues = matches!(dialect, Dialect::Anthropic | Dialect::Gemini);
            assert_eq!(
                s.text.starts_with(' '),
                continues,
                "{dialect:?}: {:?}",
                s.text
            );
            assert!(
                !s.text.contains(prefill),
                "{dialect:?}: the prefill is not repeated"
            );
            assert_eq!(
                s.text.split_whitespace().count(),
                10,
                "{dialect:?}: {:?}",
                s.text
            );
        }
    }
}

fn prefilled(dialect: Dialect) -> impl FnOnce(&mut Value) {
    move |v: &mut Value| match dialect {
        Dialect::Gemini => {
            v["contents"] = json!([
                { "role": "user", "parts": [{ "text": "hello" }] },
                { "role": "model", "parts": [{ "text": "The" }] },
            ])
        }
        _ => {
            v["messages"] = json!([
                { "role": "user", "content": "hello" },
                { "role": "assistant", "content": [{ "type": "text", "text": "The" }] },
            ])
        }
    }
}

fn assert_prefill_refused(dialect: Dialect, r: &super::tests::Reply) {
    let body: Value = serde_json::from_str(r.body.as_ref().unwrap()).unwrap();
    assert_eq!(r.status, 400, "{dialect:?}: {body}");
    match dialect {
        Dialect::Anthropic => {
            assert_eq!(body["error"]["type"], "invalid_request_error");
            assert_eq!(
                body["error"]["message"],
                super::request::anthropic::NO_PREFILL
            );
        }
        _ => {
            assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
            assert_eq!(body["error"]["message"], super::request::gemini::NO_PREFILL);
        }
    }
}

/// `prefill: false` in the profile, or set through `/_fake/options`, refuses a prefill with
/// the vendor's 400; a conversation ending with the user still passes; a reset restores the
/// profile's option.
#[tokio::test(start_paused = true)]
async fn prefill_can_be_refused_by_profile_or_control_api() {
    for dialect in [Dialect::Anthropic, Dialect::Gemini] {
        let strict = app_with(dialect, "", "prefill: false\n");
        let r = send(&strict, edited(dialect, prefilled(dialect)).await)
            .await
            .unwrap();
        assert_prefill_refused(dialect, &r);
        let r = send(&strict, edited(dialect, |_| {}).await).await.unwrap();
        assert_eq!(r.status, 200, "{dialect:?}: ends with the user");

        let app = app(dialect, "");
        assert_eq!(
            send(&app, edited(dialect, prefilled(dialect)).await)
                .await
                .unwrap()
                .status,
            200
        );
        let set = Request::post("/_fake/options")
            .body(Body::from(r#"{"prefill":false}"#))
            .unwrap();
        let r = send(&app, set).await.unwrap();
        assert_eq!(r.status, 200);
        let options: Value = serde_json::from_str(r.body.as_ref().unwrap()).unwrap();
        assert_eq!(
            options,
            json!({ "prefill": false, "vision": true }),
            "the other option stays"
        );
        let r = send(&app, edited(dialect, prefilled(dialect)).await)
            .await
            .unwrap();
        assert_prefill_refused(dialect, &r);
        let bad = Request::post("/_fake/options")
            .body(Body::from(r#"{"prefil":false}"#))
            .unwrap();
        assert_eq!(
            send(&app, bad).await.unwrap().status,
            400,
            "unknown options are refused"
        );
        let reset = Request::post("/_fake/reset").body(Body::empty()).unwrap();
        send(&app, reset).await.unwrap();
        let get = Request::get("/_fake/options").body(Body::empty()).unwrap();
        let options: Value =
            serde_json::from_str(&send(&app, get).await.unwrap().body.unwrap()).unwrap();
        assert_eq!(options["prefill"], true);
        assert_eq!(
            send(&app, edited(dialect, prefilled(dialect)).await)
                .await
                .unwrap()
                .status,
            200
        );
    }
}

fn with_image(dialect: Dialect, v: &mut Value) {
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => {
            v["messages"][0]["content"] = json!([
                { "type": "text", "text": "hello" },
                { "type": "image_url", "image_url": { "url": "https://x.test/cat.png" } },
            ])
        }
        Dialect::Anthropic => {
            v["messages"][0]["content"] = json!([
                { "type": "text", "text": "hello" },
                { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo=" } },
            ])
        }
        Dialect::Gemini => {
            v["contents"][0]["parts"] = json!([
                { "text": "hello" },
                { "inlineData": { "mimeType": "image/png", "data": "iVBORw0KGgo=" } },
            ])
        }
    }
}

fn prompt_tokens(dialect: Dialect, body: &str) -> u64 {
    let v: Value = serde_json::from_str(body).unwrap();
    let n = match dialect {
        Dialect::Openai | Dialect::AzureOpenai => &v["usage"]["prompt_tokens"],
        Dialect::Anthropic => &v["usage"]["input_tokens"],
        Dialect::Gemini => &v["usageMetadata"]["promptTokenCount"],
    };
    n.as_u64().unwrap()
}

/// An image costs [`IMAGE_TOKENS`] prompt tokens; a fake with `vision: false` refuses it
/// with the vendor's 400.
#[tokio::test(start_paused = true)]
async fn images_cost_a_fixed_count_or_are_refused_without_vision() {
    for dialect in ALL {
        let app = app(dialect, "");
        let plain = send(&app, edited(dialect, |_| {}).await).await.unwrap();
        let with = send(&app, edited(dialect, |v| with_image(dialect, v)).await)
            .await
            .unwrap();
        assert_eq!(with.status, 200, "{dialect:?}: {:?}", with.body);
        assert_eq!(
            prompt_tokens(dialect, &with.body.unwrap())
                - prompt_tokens(dialect, &plain.body.unwrap()),
            u64::from(IMAGE_TOKENS),
            "{dialect:?}"
        );

        let blind = app_with(dialect, "", "vision: false\n");
        let r = send(&blind, edited(dialect, |v| with_image(dialect, v)).await)
            .await
            .unwrap();
        let text = r.body.unwrap();
        assert_eq!(r.status, 400, "{dialect:?}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        match dialect {
            Dialect::Openai | Dialect::AzureOpenai => {
                assert_eq!(
                    body["error"]["param"], "messages[0].content[1].type",
                    "{text}"
                );
            }
            Dialect::Anthropic => assert!(text.contains("messages.0.content.1.image"), "{text}"),
            Dialect::Gemini => assert!(text.contains("contents[0].parts[1]"), "{text}"),
        }
        assert_eq!(
            send(&blind, edited(dialect, |_| {}).await)
                .await
                .unwrap()
                .status,
            200
        );
    }
}

/// The journal shows what was sent, tools included, and the control API's options calls
/// are not journaled.
#[tokio::test(start_paused = true)]
async fn the_journal_keeps_tool_requests() {
    let app = app(Dialect::Anthropic, "");
    let req = ask(Dialect::Anthropic, false, |v| {
        with_tools(Dialect::Anthropic, v, "required")
    })
    .await;
    send(&app, req).await.unwrap();
    send(
        &app,
        Request::get("/_fake/options").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    let j = journal(&app).await;
    assert_eq!(j["entries"].as_array().unwrap().len(), 1);
    assert_eq!(j["entries"][0]["body"]["tools"][0]["name"], "get_weather");
    assert_eq!(
        j["entries"][0]["body"]["tool_choice"],
        json!({ "type": "any" })
    );
}

/// A cut stream cuts a tool call too: the body breaks, no stop event.
#[tokio::test(start_paused = true)]
async fn a_cut_stream_breaks_a_tool_call() {
    for dialect in ALL {
        let app = app(dialect, "{ kind: stream_cut, after_tokens: 3 }");
        let req = ask(dialect, true, |v| with_tools(dialect, v, "required")).await;
        let r = send(&app, req).await.unwrap();
        assert!(
            r.body.is_err(),
            "{dialect:?}: a cut stream must not end cleanly"
        );
    }
}

/// A cut comes at least a few milliseconds after the last token in real time, not only on the
/// schedule: a body polled late, every piece due at once, still yields its tokens and then
/// waits (the server writes them) before the cut, which would otherwise discard them unsent.
#[tokio::test(start_paused = true)]
async fn a_cut_polled_late_waits_for_its_tokens_to_be_written() {
    use futures_util::FutureExt;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let app = app(Dialect::Openai, "{ kind: stream_cut, after_tokens: 3 }");
    let req = super::tests::request(Dialect::Openai, true);
    let mut body = app.oneshot(req).await.unwrap().into_body();
    tokio::time::advance(std::time::Duration::from_secs(5)).await;
    let mut data = 0;
    loop {
        match body.frame().now_or_never() {
            Some(Some(Ok(_))) => data += 1,
            Some(end) => panic!("the cut came with the tokens, unwritten: {end:?}"),
            None => break,
        }
    }
    assert!(data >= 4, "the prelude and three tokens: {data}");
    assert!(matches!(body.frame().await, Some(Err(_))), "then the cut");
}

/// Structured replies are whole whatever `max_tokens`, and count a token per 4 characters
/// (plus one per call for its name).
#[tokio::test(start_paused = true)]
async fn structured_replies_are_whole_and_counted_in_pieces() {
    let app = app(Dialect::Openai, "");
    let req = ask(Dialect::Openai, false, |v| {
        v["max_tokens"] = json!(2);
        v["response_format"] = json!({ "type": "json_schema", "json_schema": { "name": "w", "schema": weather_schema() } });
    })
    .await;
    let body: Value = serde_json::from_str(&send(&app, req).await.unwrap().body.unwrap()).unwrap();
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    schema::check(&weather_schema(), &serde_json::from_str(text).unwrap()).unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"]["completion_tokens"],
        text.chars().count().div_ceil(4)
    );

    let req = ask(Dialect::Openai, false, |v| {
        v["max_tokens"] = json!(2);
        with_tools(Dialect::Openai, v, "get_time");
    })
    .await;
    let body: Value = serde_json::from_str(&send(&app, req).await.unwrap().body.unwrap()).unwrap();
    let args = body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    assert_eq!(
        body["usage"]["completion_tokens"],
        args.chars().count().div_ceil(4) + 1
    );
    let counters = send(
        &app,
        Request::get("/_fake/counters").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    let counters: Value = serde_json::from_str(&counters.body.unwrap()).unwrap();
    assert_eq!(
        counters["completion_tokens"],
        text.chars().count().div_ceil(4) + args.chars().count().div_ceil(4) + 1,
        "the counters count what was sent"
    );
}
