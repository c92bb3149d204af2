//! The options around the conversation: `output_config`, `thinking`, sampling and
//! `metadata`.

use serde_json::{Map, Value};
use switchyard_core::request::{ResponseFormat, Sampling};

use super::read::{
    Refused, as_array, as_object, as_str, as_u32, field, only, refuse, unit_interval,
};

/// `output_config.format` (`json_schema`) as a JSON-schema response format.
pub(super) fn output_config(v: &Value) -> Result<Option<ResponseFormat>, Refused> {
    let c = as_object(v, "output_config")?;
    if c.contains_key("effort") {
        return refuse(
            "output_config.effort",
            "reasoning effort is not supported by this gateway",
        );
    }
    only(c, &["format"], "output_config")?;
    let Some(format) = field(c, "format") else {
        return Ok(None);
    };
    let f = as_object(format, "output_config.format")?;
    match field(f, "type").map(|t| as_str(t, "output_config.format.type")) {
        Some(Ok("json_schema")) => {}
        Some(Ok(other)) => {
            return refuse(
                "output_config.format.type",
                format!("Input should be 'json_schema', not '{other}'"),
            );
        }
        Some(Err(e)) => return Err(e),
        None => return refuse("output_config.format.type", "Field required"),
    }
    only(f, &["type", "schema"], "output_config.format")?;
    let Some(schema) = field(f, "schema") else {
        return refuse("output_config.format.schema", "Field required");
    };
    as_object(schema, "output_config.format.schema")?;
    Ok(Some(ResponseFormat::JsonSchema {
        // Anthropic's format has no name; OpenAI's requires one.
        name: "response".to_owned(),
        description: None,
        schema: schema.clone(),
        strict: None,
    }))
}

/// `thinking`: only `{"type": "disabled"}`, which asks for nothing.
fn thinking(v: &Value) -> Result<(), Refused> {
    let t = as_object(v, "thinking")?;
    if field(t, "type").and_then(Value::as_str) == Some("disabled") {
        return only(t, &["type"], "thinking");
    }
    refuse(
        "thinking",
        "extended thinking is not supported by this gateway (its replies carry no thinking blocks)",
    )
}

/// The fields accepted only in a form that asks for nothing: `thinking` disabled, the `auto`
/// service tier, and `cache_control` (a cost hint that never changes a reply).
pub(super) fn accepted_as_is(top: &Map<String, Value>) -> Result<(), Refused> {
    if let Some(t) = field(top, "thinking") {
        thinking(t)?;
    }
    if let Some(tier) = field(top, "service_tier")
        && as_str(tier, "service_tier")? != "auto"
    {
        return refuse(
            "service_tier",
            "only `auto` is supported: this gateway chooses the provider, not its capacity tier",
        );
    }
    if let Some(c) = field(top, "cache_control") {
        as_object(c, "cache_control")?;
    }
    Ok(())
}

/// `temperature`, `top_p`, `top_k` and `stop_sequences`.
pub(super) fn sampling(top: &Map<String, Value>) -> Result<Sampling, Refused> {
    Ok(Sampling {
        temperature: field(top, "temperature")
            .map(|v| unit_interval(v, "temperature"))
            .transpose()?,
        top_p: field(top, "top_p")
            .map(|v| unit_interval(v, "top_p"))
            .transpose()?,
        top_k: field(top, "top_k")
            .map(|v| as_u32(v, "top_k", 0))
            .transpose()?,
        stop: match field(top, "stop_sequences") {
            Some(v) => as_array(v, "stop_sequences")?
                .iter()
                .enumerate()
                .map(|(i, s)| as_str(s, &format!("stop_sequences.{i}")).map(str::to_owned))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        },
        ..Sampling::default()
    })
}

/// `metadata.user_id`, the only metadata there is.
pub(super) fn user(top: &Map<String, Value>) -> Result<Option<String>, Refused> {
    let Some(v) = field(top, "metadata") else {
        return Ok(None);
    };
    let meta = as_object(v, "metadata")?;
    only(meta, &["user_id"], "metadata")?;
    field(meta, "user_id")
        .map(|u| as_str(u, "metadata.user_id").map(str::to_owned))
        .transpose()
}
