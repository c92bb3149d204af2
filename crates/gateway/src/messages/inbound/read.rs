//! Reading the request's JSON: each accessor refuses a wrong value in Anthropic's words,
//! naming the field by its path (`messages.1.content.0.type`).

use serde_json::{Map, Value};

/// A request the gateway refuses: a 400 `invalid_request_error` whose message starts with
/// the field, as Anthropic's do (`max_tokens: Field required`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) field: String,
    pub(crate) reason: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

pub(super) fn refuse<T>(field: impl Into<String>, reason: impl Into<String>) -> Result<T, Refused> {
    Err(Refused {
        field: field.into(),
        reason: reason.into(),
    })
}

pub(super) fn extra<T>(field: impl Into<String>) -> Result<T, Refused> {
    refuse(
        field,
        "Extra inputs are not permitted (this gateway cannot honour this field for every target)",
    )
}

pub(super) fn as_object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, Refused> {
    v.as_object()
        .map_or_else(|| refuse(field, "Input should be an object"), Ok)
}

pub(super) fn as_str<'a>(v: &'a Value, field: &str) -> Result<&'a str, Refused> {
    v.as_str()
        .map_or_else(|| refuse(field, "Input should be a valid string"), Ok)
}

pub(super) fn as_bool(v: &Value, field: &str) -> Result<bool, Refused> {
    v.as_bool()
        .map_or_else(|| refuse(field, "Input should be a valid boolean"), Ok)
}

pub(super) fn as_array<'a>(v: &'a Value, field: &str) -> Result<&'a Vec<Value>, Refused> {
    v.as_array()
        .map_or_else(|| refuse(field, "Input should be a valid list"), Ok)
}

/// An integer from `min` to `u32::MAX`, refused in Anthropic's words otherwise: one word for
/// everything below `min`, a negative number included.
pub(super) fn as_u32(v: &Value, field: &str, min: u32) -> Result<u32, Refused> {
    let below = || {
        refuse(
            field,
            format!("Input should be greater than or equal to {min}"),
        )
    };
    match v.as_u64().map(u32::try_from) {
        Some(Ok(n)) if n >= min => Ok(n),
        Some(Ok(_)) => below(),
        Some(Err(_)) => refuse(field, "Input should be less than or equal to 4294967295"),
        None if v.as_i64().is_some() => below(),
        None => refuse(field, "Input should be a valid integer"),
    }
}

/// A number within `[0, 1]` (Anthropic's range for `temperature` and `top_p`).
pub(super) fn unit_interval(v: &Value, field: &str) -> Result<f64, Refused> {
    let Some(x) = v.as_f64() else {
        return refuse(field, "Input should be a valid number");
    };
    if !(0.0..=1.0).contains(&x) {
        return refuse(
            field,
            "Input should be greater than or equal to 0 and less than or equal to 1",
        );
    }
    Ok(x)
}

/// A field's value, with `null` read as absent (the SDKs omit what is not given; a client
/// that writes `null` means the same).
pub(super) fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|v| !v.is_null())
}

/// Refuses any key of `object` outside `known`, naming it under `path`.
pub(super) fn only(object: &Map<String, Value>, known: &[&str], path: &str) -> Result<(), Refused> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => extra(format!("{path}.{k}")),
        None => Ok(()),
    }
}
