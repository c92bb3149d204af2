//! A chat body's field that the typed request refuses, in OpenAI's words where OpenAI has
//! words for it: a value of another JSON type than the field's (`invalid_type`: "Invalid
//! type for 'max_tokens': expected an integer, but got a string instead."), an integer
//! outside the field's range (`integer_below_min_value`, `integer_above_max_value`: "Invalid
//! 'n': integer below minimum value. Expected a value >= 1, but got -1 instead."), and one
//! level down: a `messages` or `tools` entry that is not an object (`messages[2]`), a
//! `stream_options.include_usage` that is not a boolean. The caller words anything else
//! itself (`invalid_value`). Types are named as OpenAI names them, as the OpenAI fake does
//! (`crates/fake`, the same words from `switchyard_core::dialect::openai`): a float field
//! takes "a decimal", `messages` "an array of objects"; a number sent is named by
//! [`switchyard_core::dialect::openai::type_name`].
//!
//! Only a value the typed request refused reaches here (the caller's `culprit`): a `null`
//! here is one refused, a required field's, so it is of the wrong type.

use serde_json::Value;
use switchyard_core::dialect::openai::{
    MAX_CHOICES, out_of_range, wrong_type as openai_wrong_type,
};

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
    String,
    /// An array of objects.
    Array,
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
        "model" | "user" => Kind::String,
        "messages" | "tools" => Kind::Array,
        "stream_options" => Kind::Object,
        _ => return None,
    })
}

/// The refusal of `field`'s value `v` in OpenAI's words, or `None` when it has none for it
/// (a field this does not know, a value of the right type refused for what it holds).
pub(super) fn openai(field: &str, v: &Value) -> Option<ApiError> {
    let kind = kind(field)?;
    let expected = match (&kind, v) {
        (Kind::Integer { min, max }, Value::Number(n)) => {
            return match held(n) {
                // A fraction, `1.0`, `1e3`, or a whole number past 64 bits.
                None => Some(wrong_type(field, "an integer", v)),
                Some(held) => out_of(field, n, held, *min, *max),
            };
        }
        (Kind::Array, Value::Array(items)) => {
            // An entry that is not an object, named by its index.
            let (i, item) = items.iter().enumerate().find(|(_, m)| !m.is_object())?;
            return Some(wrong_type(&format!("{field}[{i}]"), "an object", item));
        }
        (Kind::Object, Value::Object(options)) => {
            // `stream_options`: `include_usage`, a boolean (`null`: its absence).
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
        | (Kind::String, Value::String(_)) => return None,
        (Kind::Integer { .. }, _) => "an integer",
        (Kind::Number, _) => "a decimal",
        (Kind::Boolean, _) => "a boolean",
        (Kind::String, _) => "a string",
        (Kind::Array, _) => "an array of objects",
        (Kind::Object, _) => "an object",
    };
    Some(wrong_type(field, expected, v))
}

fn wrong_type(field: &str, expected: &str, v: &Value) -> ApiError {
    ApiError::invalid_param(
        &openai_wrong_type(field, expected, v),
        field,
        "invalid_type",
    )
}

/// A number held as a whole one, or `None` for one serde_json holds as a float: a fraction,
/// an exponent (`1e3`) or a whole number past 64 bits, each "a decimal number" to OpenAI's
/// words here and in the fake (`type_name`).
fn held(n: &serde_json::Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// `held` below `min` or above `max`, in OpenAI's words; `None` within them (refused for
/// something else: the caller's words).
fn out_of(
    field: &str,
    n: &serde_json::Number,
    held: i128,
    min: i128,
    max: i128,
) -> Option<ApiError> {
    let below = match held {
        i if i < min => true,
        i if i > max => false,
        _ => return None,
    };
    let bound = if below { min } else { max };
    let (message, code) = out_of_range(field, &n.to_string(), below, bound);
    Some(ApiError::invalid_param(&message, field, code))
}

/// What the normalization refused, for the client: a decimal out of its range quoted as the
/// client wrote it (`5.0`, `1e300`), as OpenAI quotes it, not as a float prints.
pub(super) fn normalizing(
    body: &[u8],
    e: &switchyard_core::dialect::openai::RequestError,
) -> ApiError {
    use switchyard_core::dialect::openai::{DECIMAL_RANGES, decimal_out_of_range};
    let range = DECIMAL_RANGES.iter().find(|(field, ..)| *field == e.param);
    let literal = || {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        value.get(&e.param).map(ToString::to_string)
    };
    if let (Some(&(field, min, max)), true) = (range, e.code.starts_with("decimal_"))
        && let Some(got) = literal()
    {
        let below = e.code == "decimal_below_min_value";
        let (message, code) =
            decimal_out_of_range(field, &got, below, if below { min } else { max });
        return ApiError::invalid_param(&message, field, code);
    }
    ApiError::invalid_param(&e.message, &e.param, e.code)
}
