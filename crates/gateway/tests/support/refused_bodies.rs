//! The chat bodies the gateway refuses in OpenAI's words (`tests/gateway.rs`).

/// The refused bodies of `a_value_of_the_wrong_type_is_refused_in_openais_words`: the
/// field (set through its top-level field), its value, and the `code` and start of the
/// message refusing it.
pub const REFUSED: &[(&str, &str, &str, &str)] = &[
    (
        "max_tokens",
        r#""16""#,
        "invalid_type",
        "Invalid type for 'max_tokens': expected an integer, but got a string instead.",
    ),
    (
        "temperature",
        "true",
        "invalid_type",
        "Invalid type for 'temperature': expected a decimal, but got a boolean instead.",
    ),
    (
        "stream",
        "1",
        "invalid_type",
        "Invalid type for 'stream': expected a boolean, but got an integer instead.",
    ),
    (
        "user",
        "[]",
        "invalid_type",
        "Invalid type for 'user': expected a string, but got an array instead.",
    ),
    (
        "seed",
        "1.5",
        "invalid_type",
        "Invalid type for 'seed': expected an integer, but got a decimal number instead.",
    ),
    (
        "model",
        "null",
        "invalid_type",
        "Invalid type for 'model': expected a string, but got null instead.",
    ),
    (
        "max_tokens",
        "-5",
        "integer_below_min_value",
        "Invalid 'max_tokens': integer below minimum value. Expected a value >= 0, but got -5 instead.",
    ),
    (
        "max_tokens",
        "-1",
        "integer_below_min_value",
        "Invalid 'max_tokens': integer below minimum value. Expected a value >= 0, but got -1 instead.",
    ),
    (
        "n",
        "-1",
        "integer_below_min_value",
        "Invalid 'n': integer below minimum value. Expected a value >= 1, but got -1 instead.",
    ),
    (
        "n",
        "0",
        "integer_below_min_value",
        "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
    ),
    (
        "n",
        "5000000000",
        "integer_above_max_value",
        "Invalid 'n': integer above maximum value. Expected a value <= 128, but got 5000000000 instead.",
    ),
    (
        "seed",
        "9223372036854775808",
        "integer_above_max_value",
        "Invalid 'seed': integer above maximum value. Expected a value <= 9223372036854775807, but got 9223372036854775808 instead.",
    ),
    (
        "seed",
        "-9223372036854775809",
        "invalid_type",
        "Invalid type for 'seed': expected an integer, but got a decimal number instead.",
    ),
    (
        "n",
        "9.2e18",
        "invalid_type",
        "Invalid type for 'n': expected an integer, but got a decimal number instead.",
    ),
    (
        "seed",
        "18446744073709551615",
        "integer_above_max_value",
        "Invalid 'seed': integer above maximum value. Expected a value <= 9223372036854775807",
    ),
    (
        "messages",
        r#""hi""#,
        "invalid_type",
        "Invalid type for 'messages': expected an array of objects, but got a string instead.",
    ),
    (
        "messages[1]",
        r#"[{"role":"user","content":"hi"}, 5]"#,
        "invalid_type",
        "Invalid type for 'messages[1]': expected an object, but got an integer instead.",
    ),
    (
        "stream_options.include_usage",
        r#"{"include_usage":"yes"}"#,
        "invalid_type",
        "Invalid type for 'stream_options.include_usage': expected a boolean, but got a string instead.",
    ),
    (
        "tools[1]",
        r#"[{"type":"function","function":{"name":"f"}}, "g"]"#,
        "invalid_type",
        "Invalid type for 'tools[1]': expected an object, but got a string instead.",
    ),
    (
        "max_completion_tokens",
        "4294967296",
        "integer_above_max_value",
        "Invalid 'max_completion_tokens': integer above maximum value. Expected a value <= 4294967295, but got 4294967296 instead.",
    ),
    (
        "n",
        "18446744073709551616",
        "invalid_type",
        "Invalid type for 'n': expected an integer, but got a decimal number instead.",
    ),
    (
        "max_tokens",
        "1e3",
        "invalid_type",
        "Invalid type for 'max_tokens': expected an integer, but got a decimal number instead.",
    ),
    (
        "stop",
        "5",
        "invalid_type",
        "Invalid type for 'stop': expected one of a string or array of strings, but got an integer instead.",
    ),
    (
        "stop[1]",
        r#"["a", 5]"#,
        "invalid_type",
        "Invalid type for 'stop[1]': expected a string, but got an integer instead.",
    ),
];
