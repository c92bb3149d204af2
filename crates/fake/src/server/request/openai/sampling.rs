//! The sampling fields and the others OpenAI checks by type and range alone: `temperature`
//! (0 to 2), `top_p` (0 to 1), `presence_penalty` and `frequency_penalty` (-2 to 2), `seed`
//! (an integer within `i64`), `user` (a string) and `stop` (a string, or an array of at most
//! 4 strings), refused in OpenAI's words; `null` is a field's absence. The fake's answer does
//! not depend on them.

use serde_json::Value;

use super::{invalid_type, out_of_range};
use crate::server::request::Refusal;

/// The decimal fields and their ranges (the gateway's too: it refuses them first).
const DECIMALS: [(&str, f64, f64); 4] = switchyard_core::dialect::openai::DECIMAL_RANGES;

/// The most stop sequences OpenAI takes (the router's rule too).
const MAX_STOP: usize = switchyard_core::dialect::openai::MAX_STOP_SEQUENCES;

/// Checks `body`'s sampling fields, `seed`, `user` and `stop` (see the module doc).
pub(super) fn check(body: &Value) -> Result<(), Refusal> {
    for (field, min, max) in DECIMALS {
        let Some(v) = present(body, field) else {
            continue;
        };
        let Some(x) = v.as_f64() else {
            return Err(invalid_type(field, "a decimal", v));
        };
        if x < min {
            return Err(decimal_out_of_range(field, v, true, min));
        }
        if x > max {
            return Err(decimal_out_of_range(field, v, false, max));
        }
    }
    if let Some(v) = present(body, "seed").filter(|v| v.as_i64().is_none()) {
        if v.as_u64().is_some() {
            return Err(out_of_range("seed", v, false, i128::from(i64::MAX)));
        }
        return Err(invalid_type("seed", "an integer", v));
    }
    if let Some(v) = present(body, "user").filter(|v| !v.is_string()) {
        return Err(invalid_type("user", "a string", v));
    }
    stop(present(body, "stop"))
}

/// `field`'s value, `None` when absent or `null`.
fn present<'a>(body: &'a Value, field: &str) -> Option<&'a Value> {
    body.get(field).filter(|v| !v.is_null())
}

/// `stop`: a string, or an array of at most [`MAX_STOP`] strings.
fn stop(v: Option<&Value>) -> Result<(), Refusal> {
    let items = match v {
        None | Some(Value::String(_)) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid_type(
                "stop",
                "one of a string or array of strings",
                other,
            ));
        }
    };
    if let Some((i, item)) = items.iter().enumerate().find(|(_, s)| !s.is_string()) {
        return Err(invalid_type(&format!("stop[{i}]"), "a string", item));
    }
    if items.len() > MAX_STOP {
        return Err(Refusal::bad(format!(
            "Invalid 'stop': array too long. Expected an array with maximum length {MAX_STOP}, but got an array with length {} instead.",
            items.len()
        ))
        .param("stop")
        .code("array_above_max_length"));
    }
    Ok(())
}

/// A decimal `field`'s `got` below (`below`) or above its `bound`, in OpenAI's words.
fn decimal_out_of_range(field: &str, got: &Value, below: bool, bound: f64) -> Refusal {
    let (message, code) = switchyard_core::dialect::openai::decimal_out_of_range(
        field,
        &got.to_string(),
        below,
        bound,
    );
    Refusal::bad(message).param(field).code(code)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check;

    /// A refusal's param, code and a part of its message.
    type Says = (&'static str, &'static str, &'static str);

    /// Each field's value and what OpenAI says of it: `None` taken, else (param, code, a part of
    /// the message).
    const CASES: &[(&str, &str, Option<Says>)] = &[
        ("temperature", "2", None),
        ("temperature", "0", None),
        ("temperature", "null", None),
        ("temperature", "1.5", None),
        (
            "temperature",
            "5",
            Some((
                "temperature",
                "decimal_above_max_value",
                "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead.",
            )),
        ),
        (
            "temperature",
            "-0.5",
            Some((
                "temperature",
                "decimal_below_min_value",
                "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -0.5 instead.",
            )),
        ),
        (
            "temperature",
            r#""hot""#,
            Some((
                "temperature",
                "invalid_type",
                "Invalid type for 'temperature': expected a decimal, but got a string instead.",
            )),
        ),
        ("top_p", "1", None),
        (
            "top_p",
            "1.01",
            Some((
                "top_p",
                "decimal_above_max_value",
                "Expected a value <= 1, but got 1.01",
            )),
        ),
        ("presence_penalty", "-2", None),
        (
            "presence_penalty",
            "-2.5",
            Some((
                "presence_penalty",
                "decimal_below_min_value",
                "Expected a value >= -2,",
            )),
        ),
        (
            "frequency_penalty",
            "3",
            Some((
                "frequency_penalty",
                "decimal_above_max_value",
                "Expected a value <= 2,",
            )),
        ),
        ("seed", "-9223372036854775808", None),
        ("seed", "9223372036854775807", None),
        (
            "seed",
            "9223372036854775808",
            Some((
                "seed",
                "integer_above_max_value",
                "Invalid 'seed': integer above maximum value. Expected a value <= 9223372036854775807, but got 9223372036854775808 instead.",
            )),
        ),
        (
            "seed",
            "1.5",
            Some((
                "seed",
                "invalid_type",
                "Invalid type for 'seed': expected an integer, but got a decimal number instead.",
            )),
        ),
        ("user", r#""u-1""#, None),
        (
            "user",
            "5",
            Some((
                "user",
                "invalid_type",
                "Invalid type for 'user': expected a string, but got an integer",
            )),
        ),
        ("stop", r#""\n""#, None),
        ("stop", r#"["a","b","c","d"]"#, None),
        (
            "stop",
            r#"["a","b","c","d","e"]"#,
            Some((
                "stop",
                "array_above_max_length",
                "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length 5 instead.",
            )),
        ),
        (
            "stop",
            r#"["a",5]"#,
            Some((
                "stop[1]",
                "invalid_type",
                "Invalid type for 'stop[1]': expected a string, but got an integer",
            )),
        ),
        (
            "stop",
            "true",
            Some((
                "stop",
                "invalid_type",
                "Invalid type for 'stop': expected one of a string or array of strings, but got a boolean instead.",
            )),
        ),
    ];

    #[test]
    fn sampling_fields_are_refused_out_of_type_or_range_in_openais_words() {
        for &(field, value, says) in CASES {
            let mut body = json!({ "model": "m", "messages": [] });
            body[field] = serde_json::from_str(value).unwrap();
            match (check(&body), says) {
                (Ok(()), None) => {}
                (Err(r), Some((param, code, message))) => {
                    let said = &r.message;
                    assert_eq!(r.status, 400, "{field}: {value}: {said}");
                    assert_eq!(r.param.as_deref(), Some(param), "{field}: {value}: {said}");
                    assert_eq!(r.code, Some(code), "{field}: {value}: {said}");
                    assert!(said.contains(message), "{field}: {value}: {said}");
                }
                (got, _) => panic!("{field}: {value}: {:?}", got.map_err(|r| r.message)),
            }
        }
    }
}
