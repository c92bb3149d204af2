//! The normalized conversation with every part kind, onto Anthropic's and Gemini's wires.

use super::*;

/// A normalized conversation with every part kind, as another dialect's client might send.
fn conversation() -> Request {
    Request {
        route: "chat".into(),
        messages: conversation_messages(),
        tools: vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Weather now".into()),
                parameters: Some(
                    json!({ "type": "object", "properties": { "city": { "type": "string" } } }),
                ),
                strict: None,
            },
            Tool {
                name: "get_time".into(),
                ..Tool::default()
            },
        ],
        tool_choice: Some(ToolChoice::Required),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "answer".into(),
            description: None,
            schema: json!({ "type": "object" }),
            strict: Some(true),
        }),
        sampling: switchyard_core::request::Sampling {
            temperature: Some(0.5),
            top_p: Some(0.9),
            top_k: Some(40),
            stop: vec!["END".into()],
            ..Default::default()
        },
        user: Some("u-42".into()),
        stream: true,
        ..Request::default()
    }
}

/// The conversation's turns: system, a user turn with images, tool calls, their results (one
/// failed), and a last user turn.
fn conversation_messages() -> Vec<Message> {
    vec![
        Message::text(Role::System, "Be brief."),
        Message::text(Role::System, "Use tools."),
        Message {
            role: Role::User,
            content: vec![
                Part::Text("Weather, and this?".into()),
                Part::Image(Image {
                    source: ImageSource::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBORw0K".into(),
                    },
                    detail: Some("auto".into()),
                }),
                Part::Image(Image {
                    source: ImageSource::Url("https://example.com/cat.jpg".into()),
                    detail: None,
                }),
            ],
            name: None,
        },
        Message {
            role: Role::Assistant,
            content: vec![
                Part::Text("Checking.".into()),
                Part::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                }),
                Part::ToolCall(ToolCall {
                    id: "call_2".into(),
                    name: "get_time".into(),
                    arguments: String::new(),
                }),
            ],
            name: None,
        },
        Message {
            role: Role::Tool,
            content: vec![Part::ToolResult(ToolResult {
                call_id: "call_1".into(),
                content: "18C".into(),
                is_error: false,
            })],
            name: None,
        },
        Message {
            role: Role::Tool,
            content: vec![Part::ToolResult(ToolResult {
                call_id: "call_2".into(),
                content: "clock broken".into(),
                is_error: true,
            })],
            name: None,
        },
        Message::text(Role::User, "Thanks."),
    ]
}

#[test]
fn anthropic_gets_the_whole_conversation_in_its_own_shape() {
    let mut r = conversation();
    r.parallel_tool_calls = Some(false);
    let wire = anthropic::MessagesRequest::from_normalized(&r, "claude", 1234).unwrap();
    assert_eq!(
        serde_json::to_value(&wire).unwrap(),
        json!({
            "model": "claude",
            "max_tokens": 1234,
            "system": "Be brief.\nUse tools.",
            "messages": [
                { "role": "user", "content": [
                    { "type": "text", "text": "Weather, and this?" },
                    { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBORw0K" } },
                    { "type": "image", "source": { "type": "url", "url": "https://example.com/cat.jpg" } }
                ] },
                { "role": "assistant", "content": [
                    { "type": "text", "text": "Checking." },
                    { "type": "tool_use", "id": "call_1", "name": "get_weather", "input": { "city": "Paris" } },
                    { "type": "tool_use", "id": "call_2", "name": "get_time", "input": {} }
                ] },
                { "role": "user", "content": [
                    { "type": "tool_result", "tool_use_id": "call_1", "content": "18C" },
                    { "type": "tool_result", "tool_use_id": "call_2", "content": "clock broken", "is_error": true },
                    { "type": "text", "text": "Thanks." }
                ] }
            ],
            "stop_sequences": ["END"],
            "temperature": 0.5, "top_p": 0.9, "top_k": 40,
            "stream": true,
            "tools": [
                { "name": "get_weather", "description": "Weather now",
                  "input_schema": { "type": "object", "properties": { "city": { "type": "string" } } } },
                { "name": "get_time", "input_schema": { "type": "object", "properties": {} } }
            ],
            "tool_choice": { "type": "any", "disable_parallel_tool_use": true },
            "output_config": { "format": { "type": "json_schema", "schema": { "type": "object" } } },
            "metadata": { "user_id": "u-42" }
        })
    );
}

#[test]
fn anthropic_tool_choice_and_max_tokens() {
    let base = Request {
        messages: vec![Message::text(Role::User, "hi")],
        ..Request::default()
    };
    let choice = |c: Option<ToolChoice>, parallel: Option<bool>| {
        let r = Request {
            tool_choice: c,
            parallel_tool_calls: parallel,
            ..base.clone()
        };
        anthropic::MessagesRequest::from_normalized(&r, "c", 4096)
            .unwrap()
            .tool_choice
    };
    assert_eq!(choice(None, None), None);
    assert_eq!(
        choice(Some(ToolChoice::Auto), None),
        Some(json!({ "type": "auto" }))
    );
    assert_eq!(
        choice(Some(ToolChoice::None), Some(false)),
        Some(json!({ "type": "none" })),
        "disable_parallel_tool_use is not allowed on none"
    );
    assert_eq!(
        choice(None, Some(false)),
        Some(json!({ "type": "auto", "disable_parallel_tool_use": true }))
    );
    assert_eq!(
        choice(Some(ToolChoice::Named("f".into())), Some(true)),
        Some(json!({ "type": "tool", "name": "f" }))
    );
    let wire = anthropic::MessagesRequest::from_normalized(&base, "c", 777).unwrap();
    assert_eq!(
        wire.max_tokens, 777,
        "the target's default when none is set"
    );
    let set = Request {
        max_tokens: Some(5),
        ..base
    };
    assert_eq!(
        anthropic::MessagesRequest::from_normalized(&set, "c", 777)
            .unwrap()
            .max_tokens,
        5
    );
}

#[test]
fn gemini_gets_the_whole_conversation_in_its_own_shape() {
    let mut r = conversation();
    // Gemini has no strict schema (refused: see below).
    if let Some(ResponseFormat::JsonSchema { strict, .. }) = &mut r.response_format {
        *strict = None;
    }
    r.tool_choice = Some(ToolChoice::Named("get_weather".into()));
    r.sampling.seed = Some(7);
    r.sampling.presence_penalty = Some(0.1);
    r.sampling.frequency_penalty = Some(0.2);
    r.n = Some(2);
    r.max_tokens = Some(300);
    let wire = gemini::GenerateRequest::from_normalized(&r).unwrap();
    assert_eq!(
        serde_json::to_value(&wire).unwrap(),
        json!({
            "systemInstruction": { "parts": [{ "text": "Be brief." }, { "text": "Use tools." }] },
            "contents": [
                { "role": "user", "parts": [
                    { "text": "Weather, and this?" },
                    { "inlineData": { "mimeType": "image/png", "data": "iVBORw0K" } },
                    { "fileData": { "mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg" } }
                ] },
                { "role": "model", "parts": [
                    { "text": "Checking." },
                    { "functionCall": { "id": "call_1", "name": "get_weather", "args": { "city": "Paris" } },
                      "thoughtSignature": "skip_thought_signature_validator" },
                    { "functionCall": { "id": "call_2", "name": "get_time", "args": {} } }
                ] },
                { "role": "user", "parts": [
                    { "functionResponse": { "id": "call_1", "name": "get_weather", "response": { "output": "18C" } } },
                    { "functionResponse": { "id": "call_2", "name": "get_time", "response": { "error": "clock broken" } } },
                    { "text": "Thanks." }
                ] }
            ],
            "generationConfig": {
                "maxOutputTokens": 300, "temperature": 0.5, "stopSequences": ["END"],
                "candidateCount": 2, "topP": 0.9, "topK": 40, "seed": 7,
                "presencePenalty": 0.1, "frequencyPenalty": 0.2,
                "responseMimeType": "application/json",
                "responseJsonSchema": { "type": "object" }
            },
            "tools": [{ "functionDeclarations": [
                { "name": "get_weather", "description": "Weather now",
                  "parametersJsonSchema": { "type": "object", "properties": { "city": { "type": "string" } } } },
                { "name": "get_time" }
            ] }],
            "toolConfig": { "functionCallingConfig": { "mode": "ANY", "allowedFunctionNames": ["get_weather"] } }
        })
    );
}

#[test]
fn gemini_tool_modes_json_mode_and_no_output_cap_unless_set() {
    let base = Request {
        messages: vec![Message::text(Role::User, "hi")],
        ..Request::default()
    };
    let wire = gemini::GenerateRequest::from_normalized(&base).unwrap();
    assert_eq!(
        serde_json::to_value(&wire).unwrap(),
        json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }] }),
        "no generationConfig, so no maxOutputTokens, when nothing is set"
    );
    for (choice, mode) in [
        (ToolChoice::Auto, "AUTO"),
        (ToolChoice::None, "NONE"),
        (ToolChoice::Required, "ANY"),
    ] {
        let r = Request {
            tool_choice: Some(choice),
            ..base.clone()
        };
        let v =
            serde_json::to_value(gemini::GenerateRequest::from_normalized(&r).unwrap()).unwrap();
        assert_eq!(
            v["toolConfig"]["functionCallingConfig"],
            json!({ "mode": mode })
        );
    }
    let r = Request {
        response_format: Some(ResponseFormat::JsonObject),
        user: Some("u".into()),
        ..base
    };
    let v = serde_json::to_value(gemini::GenerateRequest::from_normalized(&r).unwrap()).unwrap();
    assert_eq!(
        v["generationConfig"],
        json!({ "responseMimeType": "application/json" })
    );
    assert!(!v.to_string().contains("\"u\""), "user is dropped: {v}");
}
