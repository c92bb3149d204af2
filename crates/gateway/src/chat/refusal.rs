//! A chat body's field that the typed request refuses, in OpenAI's words where OpenAI has
//! words for it: a value of another JSON type than the field's (`invalid_type`: "Invalid
//! type for 'max_tokens': expected an integer, but got a string instead."), an integer
//! outside the field's range (`integer_below_min_value`, `integer_above_max_value`: "Invalid
//! 'n': integer below minimum value. Expected a value >= 1, but got -1 instead."), and one
//! level down: a `messages` or `tools` entry that is not an object (`messages[2]`), a
//! `stream_options.include_usage` that is not a boolean. The caller words anything else
//! itself (`invalid_value`). Types are named as OpenAI names them, as the OpenAI fake does
//! (`crates/fake`): a float field takes "a decimal", `messages` "an array of objects"; a
//! number sent is "an integer" when whole, else "a decimal number".

use serde_json::Value;
use switchyard_core::dialect::openai::{MAX_CHOICES, type_name};

use crate::errors::ApiError;

/// What a field of the typed request takes.
enum Kind {
    /// An integer from `min` to `max`.
    Integer {
        min: i128,
        max: i128,
    },
    Number,
    Boolean,
    /// `null` is a value of the wrong type for a required field, an optional one's absence
    /// otherwise.
    String {
        required: bool,
    },
    Array {
        required: bool,
    },
    Object,
}

fn kind(field: &str) -> Option<Kind> {
    Some(match field {
        "max_tokens" | "max_completion_tokens" => Kind::Integer {
            min: 0,
            max: i128::from(u32::MAX),
        },
        "n" => Kind::Integer {
            min: 1,
            max: i128::from(MAX_CHOICES),
        },
        "seed" => Kind::Integer {
            min: i128::from(i64::MIN),
            max: i128::from(i64::MAX),
        },
        "temperature" | "top_p" | "presence_penalty" | "frequency_penalty" => Kind::Number,
        "stream" | "parallel_tool_calls" => Kind::Boolean,
        "model" => Kind::String { required: true },
        "user" => Kind::String { required: false },
        "messages" => Kind::Array { required: true },
        "tools" => Kind::Array { required: false },
        "stream_options" => Kind::Object,
        _ => return None,
    })
}

/// The refusal of `field`'s value `v` in OpenAI's words, or `None` when it has none for it
/// (a field this does not know, a value of the right type refused for what it holds, an
/// optional field's `null`).
pub(super) fn openai(field: &str, v: &Value) -> Option<ApiError> {
    let kind = kind(field)?;
    let expected = match (&kind, v) {
        (Kind::Integer { min, max }, Value::Number(n)) => {
            // A whole number is out of range or refused for something else; any other is
            // of the wrong type.
            let Some(whole) = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)) else {
                return Some(wrong_type(field, "an integer", v));
            };
            return out_of_range(field, whole, *min, *max);
        }
        (Kind::Array { .. }, Value::Array(items)) => {
            // An entry that is not an object, named by its index.
            let (i, item) = items.iter().enumerate().find(|(_, m)| !m.is_object())?;
            return Some(wrong_type(&format!("{field}[{i}]"), "an object", item));
        }
        (Kind::Object, Value::Object(options)) => {
            // `stream_options`: `include_usage`, a boolean (or null, its absence).
            let usage = options
                .get("include_usage")
                .filter(|u| !u.is_boolean() && !u.is_null())?;
            return Some(wrong_type(
                &format!("{field}.include_usage"),
                "a boolean",
                usage,
            ));
        }
        (Kind::Number, Value::Number(_))
        | (Kind::Boolean, Value::Bool(_))
        | (Kind::String { .. }, Value::String(_)) => return None,
        (Kind::String { required: false } | Kind::Array { required: false }, Value::Null)
        | (Kind::Integer { .. } | Kind::Number | Kind::Boolean | Kind::Object, Value::Null) => {
            return None;
        }
        (Kind::Integer { .. }, _) => "an integer",
        (Kind::Number, _) => "a decimal",
        (Kind::Boolean, _) => "a boolean",
        (Kind::String { .. }, _) => "a string",
        (Kind::Array { .. }, _) => "an array of objects",
        (Kind::Object, _) => "an object",
    };
    Some(wrong_type(field, expected, v))
}

fn wrong_type(field: &str, expected: &str, v: &Value) -> ApiError {
    ApiError::invalid_param(
        &format!(
            "Invalid type for '{field}': expected {expected}, but got {} instead.",
            type_name(v)
        ),
        field,
        "invalid_type",
    )
}

/// `whole` below `min` or above `max`, in OpenAI's words; `None` within them.
fn out_of_range(field: &str, whole: i128, min: i128, max: i128) -> Option<ApiError> {
    let (bound, code) = if whole < min {
        (
            format!("below minimum value. Expected a value >= {min}"),
            "integer_below_min_value",
        )
    } else if whole > max {
        (
            format!("above maximum value. Expected a value <= {max}"),
            "integer_above_max_value",
        )
    } else {
        return None;
    };
    Some(ApiError::invalid_param(
        &format!("Invalid '{field}': integer {bound}, but got {whole} instead."),
        field,
        code,
    ))
}
