//! Each dialect refuses what it cannot express, naming the field, and its encoder agrees
//! with its check.

use super::*;

fn user_with(part: Part) -> Message {
    Message {
        role: Role::User,
        content: vec![part],
        name: None,
    }
}

fn png(detail: Option<&str>, media_type: &str) -> Part {
    Part::Image(Image {
        source: ImageSource::Base64 {
            media_type: media_type.into(),
            data: "AAAA".into(),
        },
        detail: detail.map(str::to_owned),
    })
}

/// A request that is `base` plus one change, and the field each dialect must name.
fn refusals() -> Vec<(&'static str, Request, [Option<&'static str>; 3])> {
    // Long: a flat table of cases, one refusal each, read top to bottom.
    let base = Request {
        messages: vec![Message::text(Role::User, "hi")],
        ..Request::default()
    };
    let with = |f: &dyn Fn(&mut Request)| {
        let mut r = base.clone();
        f(&mut r);
        r
    };
    let call = |args: &str| Message {
        role: Role::Assistant,
        content: vec![Part::ToolCall(ToolCall {
            id: "c1".into(),
            name: "f".into(),
            arguments: args.into(),
        })],
        name: None,
    };
    let result = |id: &str| Message {
        role: Role::Tool,
        content: vec![Part::ToolResult(ToolResult {
            call_id: id.into(),
            content: "ok".into(),
            is_error: false,
        })],
        name: None,
    };
    // [openai, anthropic, gemini]
    vec![
        (
            "a system message mid-conversation",
            with(&|r| r.messages.push(Message::text(Role::System, "late"))),
            [None, Some("messages[1]"), Some("messages[1]")],
        ),
        (
            "a participant name",
            with(&|r| r.messages[0].name = Some("ann".into())),
            [None, Some("messages[0].name"), Some("messages[0].name")],
        ),
        (
            "json_object",
            with(&|r| r.response_format = Some(ResponseFormat::JsonObject)),
            [None, Some("response_format"), None],
        ),
        (
            "temperature above 1",
            with(&|r| r.sampling.temperature = Some(1.5)),
            [None, Some("temperature"), None],
        ),
        (
            "a seed",
            with(&|r| r.sampling.seed = Some(1)),
            [None, Some("seed"), None],
        ),
        (
            "a presence penalty",
            with(&|r| r.sampling.presence_penalty = Some(0.5)),
            [None, Some("presence_penalty"), None],
        ),
        (
            "a frequency penalty",
            with(&|r| r.sampling.frequency_penalty = Some(0.5)),
            [None, Some("frequency_penalty"), None],
        ),
        (
            "n above 1",
            with(&|r| r.n = Some(2)),
            [None, Some("n"), None],
        ),
        (
            "an image type Anthropic does not take",
            with(&|r| r.messages = vec![user_with(png(None, "image/bmp"))]),
            [None, Some("messages[0].content[0].media_type"), None],
        ),
        (
            "an image detail",
            with(&|r| r.messages = vec![user_with(png(Some("low"), "image/png"))]),
            [
                None,
                Some("messages[0].content[0].detail"),
                Some("messages[0].content[0].detail"),
            ],
        ),
        (
            "an image in an assistant turn",
            with(&|r| {
                r.messages.push(Message {
                    role: Role::Assistant,
                    content: vec![png(None, "image/png")],
                    name: None,
                })
            }),
            [
                Some("messages[1].content[0]"),
                Some("messages[1].content[0]"),
                None,
            ],
        ),
        (
            "tool arguments that are not a JSON object",
            with(&|r| r.messages.extend([call("{not json"), result("c1")])),
            [
                None,
                Some("messages[1].content[0].arguments"),
                Some("messages[1].content[0].arguments"),
            ],
        ),
        (
            "a tool result for an unknown call",
            with(&|r| r.messages.extend([call("{}"), result("c9")])),
            [None, None, Some("messages[2].content[0].call_id")],
        ),
        (
            "a failed tool result",
            with(&|r| {
                r.messages.extend([call("{}"), result("c1")]);
                if let Part::ToolResult(t) = &mut r.messages[2].content[0] {
                    t.is_error = true;
                }
            }),
            [Some("messages[2].content[0].is_error"), None, None],
        ),
        (
            "a strict tool",
            with(&|r| {
                r.tools = vec![Tool {
                    name: "f".into(),
                    strict: Some(true),
                    ..Tool::default()
                }]
            }),
            [None, None, Some("tools[0].strict")],
        ),
        (
            "at most one tool call",
            with(&|r| r.parallel_tool_calls = Some(false)),
            [None, None, Some("parallel_tool_calls")],
        ),
        (
            "five stop sequences",
            with(&|r| r.sampling.stop = vec!["s".into(); 5]),
            [Some("stop"), None, None],
        ),
        (
            "six stop sequences",
            with(&|r| r.sampling.stop = vec!["s".into(); 6]),
            [Some("stop"), None, Some("stop")],
        ),
        (
            "four stop sequences",
            with(&|r| r.sampling.stop = vec!["s".into(); 4]),
            [None, None, None],
        ),
        (
            "top_k",
            with(&|r| r.sampling.top_k = Some(3)),
            [Some("top_k"), None, None],
        ),
    ]
}

#[test]
fn each_dialect_refuses_what_it_cannot_express_naming_the_field() {
    for (what, request, fields) in refusals() {
        for (d, field) in [Dialect::Openai, Dialect::Anthropic, Dialect::Gemini]
            .into_iter()
            .zip(fields)
        {
            let checked = dialect::check(d, &request);
            let built = match d {
                Dialect::Anthropic => {
                    anthropic::MessagesRequest::from_normalized(&request, "m", 1).map(drop)
                }
                Dialect::Gemini => gemini::GenerateRequest::from_normalized(&request).map(drop),
                _ => openai::ChatRequest::from_normalized(&request, "m").map(drop),
            };
            assert_eq!(
                checked.as_ref().err().map(|u| u.field.as_str()),
                field,
                "{what} on {d:?}"
            );
            assert_eq!(
                built.err(),
                checked.clone().err(),
                "{what} on {d:?}: encoder and check agree"
            );
            if let Err(u) = checked {
                assert_eq!(u.dialect, d);
                assert!(!u.reason.is_empty());
            }
        }
    }
}
