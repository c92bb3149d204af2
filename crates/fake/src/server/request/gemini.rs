//! Gemini `generateContent`, as the API reads a body (camelCase or snake_case names, as
//! proto3 JSON allows): non-empty `contents` of `user`/`model` turns, parts that carry data,
//! `functionResponse` with a name and an object `response`, as many function responses as
//! the function-call turn before had calls, at most 5 `stopSequences`, `responseSchema` only
//! with a `responseMimeType` and never beside `responseJsonSchema`, tools and
//! `toolConfig.functionCallingConfig`, and a trailing `model` turn: continued, or refused
//! when the fake's `prefill` option is off.

use serde_json::Value;

use super::{Asked, Choice, Format, Options, Refusal, Tally, ToolDecl, either, no_arguments};

/// Gemini's refusal of a trailing model turn by a model that does not continue one.
pub(in crate::server) const NO_PREFILL: &str =
    "Requests ending with a model turn are not supported.";

const DATA: [(&str, &str); 7] = [
    ("text", "text"),
    ("inlineData", "inline_data"),
    ("fileData", "file_data"),
    ("functionCall", "function_call"),
    ("functionResponse", "function_response"),
    ("executableCode", "executable_code"),
    ("codeExecutionResult", "code_execution_result"),
];

fn field_error(path: &str, message: &str) -> Refusal {
    Refusal::bad(format!("* GenerateContentRequest.{path}: {message}\n"))
}

/// The OpenAPI-subset `Schema` (`type: "OBJECT"`) as JSON Schema: type names lower-cased.
fn lower_types(schema: &Value, depth: usize) -> Value {
    match schema {
        Value::Object(map) if depth < crate::schema::MAX_DEPTH => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("type", Value::String(t)) => Value::String(t.to_ascii_lowercase()),
                        _ => lower_types(v, depth + 1),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) if depth < crate::schema::MAX_DEPTH => {
            Value::Array(items.iter().map(|v| lower_types(v, depth + 1)).collect())
        }
        other => other.clone(),
    }
}

/// One content read: its text, calls, responses, images and characters.
#[derive(Default)]
struct Turn {
    text: String,
    calls: usize,
    responses: usize,
    images: u32,
    chars: usize,
}

fn read_turn(content: &Value, i: usize, options: Options) -> Result<Turn, Refusal> {
    let mut turn = Turn::default();
    let parts = content.get("parts").and_then(Value::as_array);
    let Some(parts) = parts.filter(|p| !p.is_empty()) else {
        return Err(field_error(
            &format!("contents[{i}].parts"),
            "contents.parts must not be empty.",
        ));
    };
    for (j, part) in parts.iter().enumerate() {
        let at = format!("contents[{i}].parts[{j}]");
        if !DATA.iter().any(|(c, s)| either(part, c, s).is_some()) {
            return Err(field_error(
                &format!("{at}.data"),
                "required oneof field 'data' must have one initialized field",
            ));
        }
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            turn.text.push_str(t);
            turn.chars = turn.chars.saturating_add(t.chars().count());
        }
        if let Some(call) = either(part, "functionCall", "function_call") {
            let name = call.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                return Err(field_error(
                    &format!("{at}.function_call.name"),
                    "Name cannot be empty.",
                ));
            }
            let args = call.get("args").map(Value::to_string).unwrap_or_default();
            turn.chars = turn
                .chars
                .saturating_add(name.len())
                .saturating_add(args.chars().count());
            turn.calls += 1;
        }
        if let Some(response) = either(part, "functionResponse", "function_response") {
            read_response(response, &at, &mut turn)?;
        }
        read_data(part, (i, j), &at, options, &mut turn)?;
    }
    Ok(turn)
}

/// A `functionResponse` part: a name, and a `response` that is an object when given.
fn read_response(response: &Value, at: &str, turn: &mut Turn) -> Result<(), Refusal> {
    let name = response.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        return Err(field_error(
            &format!("{at}.function_response.name"),
            "Name cannot be empty.",
        ));
    }
    match response.get("response") {
        Some(r @ Value::Object(_)) => {
            turn.chars = turn.chars.saturating_add(r.to_string().chars().count());
        }
        Some(other) => {
            return Err(Refusal::bad(format!(
                "Invalid value at '{at}.function_response.response' (type.googleapis.com/google.protobuf.Struct), {other}"
            )));
        }
        None => {}
    }
    turn.responses += 1;
    Ok(())
}

/// A part's `inlineData` / `fileData`: a MIME type, and images only for a vision model.
/// `(i, j)` is the part's place, `contents[i].parts[j]`.
fn read_data(
    part: &Value,
    (i, j): (usize, usize),
    at: &str,
    options: Options,
    turn: &mut Turn,
) -> Result<(), Refusal> {
    for (camel, snake) in [("inlineData", "inline_data"), ("fileData", "file_data")] {
        let Some(data) = either(part, camel, snake) else {
            continue;
        };
        let mime = either(data, "mimeType", "mime_type")
            .and_then(Value::as_str)
            .unwrap_or("");
        if mime.is_empty() {
            return Err(field_error(
                &format!("{at}.{snake}.mime_type"),
                "mime_type must not be empty.",
            ));
        }
        if mime.starts_with("image/") {
            if !options.vision {
                return Err(Refusal::bad(format!(
                    "Image input is not supported by this model (contents[{i}].parts[{j}])."
                )));
            }
            turn.images += 1;
        }
    }
    Ok(())
}

/// Reads a body for `model` (from the path).
pub(in crate::server) fn read(
    body: &Value,
    model: &str,
    stream: bool,
    options: Options,
) -> Result<Asked, Refusal> {
    // An empty list is "not specified" too (proto3 has no empty repeated field).
    let contents = body.get("contents").and_then(Value::as_array);
    let Some(contents) = contents.filter(|c| !c.is_empty()) else {
        return Err(field_error("contents", "contents is not specified"));
    };
    let mut tally = Tally::default();
    if let Some(system) = either(body, "systemInstruction", "system_instruction") {
        let chars = system
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(|t| t.chars().count())
            .fold(0usize, usize::saturating_add);
        tally.message(chars);
    }
    let Conversation {
        last_user_text,
        after_tool_result,
        prefill,
    } = conversation(contents, options, &mut tally)?;
    let (format, max_tokens) = generation(body)?;
    let tools = tools(body.get("tools"))?;
    if let Some(declared) = body.get("tools").filter(|t| !t.is_null()) {
        tally.tools(declared);
    }
    let choice = tool_config(either(body, "toolConfig", "tool_config"), &tools)?;
    Ok(Asked {
        model: model.to_owned(),
        prompt_tokens: tally.total(),
        max_tokens,
        stream,
        include_usage: false,
        logprobs: None,
        tools,
        choice,
        // Gemini has no knob: it may make several calls.
        parallel: true,
        format,
        prefill,
        last_user_text,
        after_tool_result,
    })
}

/// What the contents leave for the answer.
struct Conversation {
    last_user_text: String,
    after_tool_result: bool,
    /// The final model turn's text, continued by the reply.
    prefill: Option<String>,
}

/// Reads each turn: its role, its parts, and the function-call protocol.
fn conversation(
    contents: &[Value],
    options: Options,
    tally: &mut Tally,
) -> Result<Conversation, Refusal> {
    let mut previous_calls = 0usize;
    let mut last_user_text = String::new();
    let mut after_tool_result = false;
    let mut prefill = None;
    let last = contents.len() - 1;
    for (i, content) in contents.iter().enumerate() {
        let role = content
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        let role = if role.is_empty() { "user" } else { role };
        if role != "user" && role != "model" {
            return Err(Refusal::bad("Please use a valid role: user, model."));
        }
        let turn = read_turn(content, i, options)?;
        // A function-call turn is answered by as many responses, in the next turn.
        if (previous_calls > 0 || turn.responses > 0) && previous_calls != turn.responses {
            return Err(Refusal::bad(
                "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.",
            ));
        }
        previous_calls = turn.calls;
        for _ in 0..turn.images {
            tally.image();
        }
        tally.message(turn.chars);
        if role == "user" {
            last_user_text = turn.text.clone();
            after_tool_result = turn.responses > 0;
        } else {
            after_tool_result = false;
        }
        if i == last && role == "model" && turn.calls == 0 {
            if !options.prefill {
                return Err(Refusal::bad(NO_PREFILL));
            }
            prefill = Some(turn.text);
        }
    }
    Ok(Conversation {
        last_user_text,
        after_tool_result,
        prefill,
    })
}

/// The generation config's response format and output cap (0: none), after its checks.
fn generation(body: &Value) -> Result<(Format, u32), Refusal> {
    let config = either(body, "generationConfig", "generation_config").unwrap_or(&Value::Null);
    if either(config, "stopSequences", "stop_sequences")
        .and_then(Value::as_array)
        .is_some_and(|s| s.len() > 5)
    {
        return Err(field_error(
            "generation_config.stop_sequences",
            "at most 5 stop sequences are allowed.",
        ));
    }
    let mime = either(config, "responseMimeType", "response_mime_type").and_then(Value::as_str);
    let schema = either(config, "responseSchema", "response_schema").filter(|s| !s.is_null());
    let json_schema =
        either(config, "responseJsonSchema", "response_json_schema").filter(|s| !s.is_null());
    if schema.is_some() && json_schema.is_some() {
        return Err(field_error(
            "generation_config.response_schema",
            "response_schema and response_json_schema cannot both be set.",
        ));
    }
    if (schema.is_some() || json_schema.is_some()) && mime.is_none_or(str::is_empty) {
        return Err(field_error(
            "generation_config.response_mime_type",
            "a response schema requires response_mime_type to be set (application/json).",
        ));
    }
    let format = match mime {
        Some("application/json") => Format::Json(
            json_schema
                .cloned()
                .or_else(|| schema.map(|s| lower_types(s, 0))),
        ),
        _ => Format::Text,
    };
    let max_tokens = either(config, "maxOutputTokens", "max_output_tokens")
        .and_then(Value::as_u64)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    Ok((format, max_tokens))
}

fn tools(tools: Option<&Value>) -> Result<Vec<ToolDecl>, Refusal> {
    let mut out = Vec::new();
    for (k, tool) in tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (d, decl) in either(tool, "functionDeclarations", "function_declarations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("tools[{k}].function_declarations[{d}]");
            let name = decl.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                return Err(field_error(&format!("{at}.name"), "Name cannot be empty."));
            }
            let parameters = decl.get("parameters").filter(|p| !p.is_null());
            let json = either(decl, "parametersJsonSchema", "parameters_json_schema")
                .filter(|p| !p.is_null());
            let schema = match (parameters, json) {
                (Some(_), Some(_)) => {
                    return Err(field_error(
                        &format!("{at}.parameters"),
                        "parameters and parameters_json_schema cannot both be set.",
                    ));
                }
                (Some(p), None) => lower_types(p, 0),
                (None, Some(j)) => j.clone(),
                (None, None) => no_arguments(),
            };
            out.push(ToolDecl {
                name: name.to_owned(),
                schema,
            });
        }
    }
    Ok(out)
}

fn tool_config(config: Option<&Value>, tools: &[ToolDecl]) -> Result<Choice, Refusal> {
    let calling = config
        .and_then(|c| either(c, "functionCallingConfig", "function_calling_config"))
        .unwrap_or(&Value::Null);
    let mode = calling
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("AUTO");
    let allowed: Option<Vec<String>> =
        either(calling, "allowedFunctionNames", "allowed_function_names")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
    let path = "tool_config.function_calling_config";
    if let Some(names) = &allowed {
        if !matches!(mode, "ANY" | "VALIDATED") {
            return Err(field_error(
                &format!("{path}.allowed_function_names"),
                "allowed_function_names may only be set when mode is ANY or VALIDATED.",
            ));
        }
        if let Some(unknown) = names.iter().find(|n| !tools.iter().any(|t| &t.name == *n)) {
            return Err(field_error(
                &format!("{path}.allowed_function_names"),
                &format!("function `{unknown}` is not declared in tools."),
            ));
        }
    }
    if tools.is_empty() {
        return Ok(Choice::None);
    }
    match mode {
        "AUTO" | "MODE_UNSPECIFIED" | "VALIDATED" => Ok(Choice::Auto),
        "NONE" => Ok(Choice::None),
        "ANY" => Ok(match allowed {
            Some(names) if names.len() == 1 => Choice::Named(names[0].clone()),
            allowed => Choice::Required { allowed },
        }),
        other => Err(field_error(
            &format!("{path}.mode"),
            &format!("invalid value `{other}`: expected AUTO, ANY, NONE or VALIDATED."),
        )),
    }
}
