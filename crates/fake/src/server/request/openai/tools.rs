//! Declared tools and `tool_choice`, as OpenAI reads them.

use serde_json::Value;

use super::{invalid_type, missing};
use crate::server::request::{Choice, Refusal, ToolDecl, no_arguments, plain_name};

pub(super) fn tools(tools: Option<&Value>) -> Result<Vec<ToolDecl>, Refusal> {
    let tools = match tools {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(t)) => t,
        Some(other) => return Err(invalid_type("tools", "an array of objects", other)),
    };
    let mut out = Vec::with_capacity(tools.len());
    for (k, tool) in tools.iter().enumerate() {
        if !tool.is_object() {
            return Err(invalid_type(&format!("tools[{k}]"), "an object", tool));
        }
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {}
            // Custom (free-form) tools: declared, but the fake never calls them.
            Some("custom") => continue,
            _ => {
                return Err(Refusal::bad(format!(
                    "Invalid value for 'tools[{k}].type': expected 'function' or 'custom'."
                ))
                .param(format!("tools[{k}].type"))
                .code("invalid_value"));
            }
        }
        let function = tool
            .get("function")
            .ok_or_else(|| missing(&format!("tools[{k}].function")))?;
        let name = match function.get("name") {
            Some(Value::String(n)) => n,
            _ => return Err(missing(&format!("tools[{k}].function.name"))),
        };
        if !plain_name(name) {
            return Err(Refusal::bad(format!(
                "Invalid 'tools[{k}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
            ))
            .param(format!("tools[{k}].function.name"))
            .code("invalid_value"));
        }
        let schema = match function.get("parameters") {
            None | Some(Value::Null) => no_arguments(),
            Some(s @ Value::Object(_)) => s.clone(),
            Some(other) => {
                return Err(invalid_type(
                    &format!("tools[{k}].function.parameters"),
                    "an object",
                    other,
                ));
            }
        };
        out.push(ToolDecl {
            name: name.clone(),
            schema,
        });
    }
    Ok(out)
}

fn named(name: &str, tools: &[ToolDecl], param: &str) -> Result<String, Refusal> {
    if tools.iter().any(|t| t.name == name) {
        Ok(name.to_owned())
    } else {
        Err(Refusal::bad(format!(
            "Invalid value for '{param}': no function named '{name}' was specified in the 'tools' parameter."
        ))
        .param(param)
        .code("invalid_value"))
    }
}

pub(super) fn tool_choice(choice: Option<&Value>, tools: &[ToolDecl]) -> Result<Choice, Refusal> {
    let choice = match choice {
        None | Some(Value::Null) => {
            return Ok(if tools.is_empty() {
                Choice::None
            } else {
                Choice::Auto
            });
        }
        Some(c) => c,
    };
    if tools.is_empty() {
        return Err(Refusal::bad(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
        )
        .param("tool_choice"));
    }
    match choice {
        Value::String(s) => match s.as_str() {
            "none" => Ok(Choice::None),
            "auto" => Ok(Choice::Auto),
            "required" => Ok(Choice::Required { allowed: None }),
            _ => Err(Refusal::bad(format!(
                "Invalid value: '{s}'. Supported values are: 'none', 'auto', and 'required'."
            ))
            .param("tool_choice")
            .code("invalid_value")),
        },
        Value::Object(_) => match choice.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = choice
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing("tool_choice.function.name"))?;
                Ok(Choice::Named(named(
                    name,
                    tools,
                    "tool_choice.function.name",
                )?))
            }
            Some("allowed_tools") => allowed_tools(choice, tools),
            _ => Err(Refusal::bad("Invalid value for 'tool_choice.type'.")
                .param("tool_choice.type")
                .code("invalid_value")),
        },
        other => Err(invalid_type("tool_choice", "a string or an object", other)),
    }
}

/// `{"type": "allowed_tools", "allowed_tools": {"mode", "tools"}}`: every tool named must be
/// declared.
fn allowed_tools(choice: &Value, tools: &[ToolDecl]) -> Result<Choice, Refusal> {
    let allowed = choice.get("allowed_tools").unwrap_or(&Value::Null);
    let mut names = Vec::new();
    for (k, t) in allowed
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = t
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                missing(&format!(
                    "tool_choice.allowed_tools.tools[{k}].function.name"
                ))
            })?;
        names.push(named(
            name,
            tools,
            &format!("tool_choice.allowed_tools.tools[{k}].function.name"),
        )?);
    }
    match allowed.get("mode").and_then(Value::as_str) {
        Some("required") => Ok(Choice::Required {
            allowed: Some(names),
        }),
        // `auto` over a subset: the fake's auto rule over every tool is close enough.
        _ => Ok(Choice::Auto),
    }
}
