//! `tools` and `tool_choice`.

use serde_json::Value;
use switchyard_core::request::{Tool, ToolChoice};

use super::read::{Refused, as_array, as_bool, as_object, as_str, field, only, refuse};

pub(super) fn tools(v: &Value) -> Result<Vec<Tool>, Refused> {
    let list = as_array(v, "tools")?;
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let path = format!("tools.{i}");
        let t = as_object(t, &path)?;
        if let Some(kind) = field(t, "type") {
            let kind = as_str(kind, &format!("{path}.type"))?;
            if kind != "custom" {
                return refuse(
                    format!("{path}.type"),
                    format!("server tools (`{kind}`) are not supported by this gateway"),
                );
            }
        }
        only(
            t,
            &[
                "type",
                "name",
                "description",
                "input_schema",
                "strict",
                "cache_control",
            ],
            &path,
        )?;
        let name = match field(t, "name") {
            Some(n) => as_str(n, &format!("{path}.name"))?.to_owned(),
            None => return refuse(format!("{path}.name"), "Field required"),
        };
        let description = field(t, "description")
            .map(|d| as_str(d, &format!("{path}.description")).map(str::to_owned))
            .transpose()?;
        let spath = format!("{path}.input_schema");
        let Some(schema) = field(t, "input_schema") else {
            return refuse(spath, "Field required");
        };
        as_object(schema, &spath)?;
        let strict = field(t, "strict")
            .map(|s| as_bool(s, &format!("{path}.strict")))
            .transpose()?;
        out.push(Tool {
            name,
            description,
            parameters: Some(schema.clone()),
            strict,
        });
    }
    Ok(out)
}

/// `tool_choice`, and `disable_parallel_tool_use: true` as `parallel_tool_calls: false`.
pub(super) fn tool_choice(v: &Value) -> Result<(Option<ToolChoice>, Option<bool>), Refused> {
    let c = as_object(v, "tool_choice")?;
    let kind = match field(c, "type") {
        Some(t) => as_str(t, "tool_choice.type")?,
        None => return refuse("tool_choice.type", "Field required"),
    };
    let choice = match kind {
        "auto" => {
            only(c, &["type", "disable_parallel_tool_use"], "tool_choice")?;
            ToolChoice::Auto
        }
        "any" => {
            only(c, &["type", "disable_parallel_tool_use"], "tool_choice")?;
            ToolChoice::Required
        }
        "tool" => {
            only(
                c,
                &["type", "name", "disable_parallel_tool_use"],
                "tool_choice",
            )?;
            match field(c, "name") {
                Some(n) => ToolChoice::Named(as_str(n, "tool_choice.name")?.to_owned()),
                None => return refuse("tool_choice.name", "Field required"),
            }
        }
        "none" => {
            only(c, &["type"], "tool_choice")?;
            ToolChoice::None
        }
        other => {
            return refuse(
                "tool_choice.type",
                format!("Input should be 'auto', 'any', 'tool' or 'none', not '{other}'"),
            );
        }
    };
    let serial = field(c, "disable_parallel_tool_use")
        .map(|d| as_bool(d, "tool_choice.disable_parallel_tool_use"))
        .transpose()?
        .unwrap_or(false);
    Ok((Some(choice), serial.then_some(false)))
}
