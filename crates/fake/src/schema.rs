//! JSON Schema, as much as a fake model needs: a minimal valid instance of a schema (the
//! arguments of a tool call, the text of a JSON-mode reply) and a check of a value against a
//! schema (for tests, and for anyone asserting what a fake produced).
//!
//! Both read the common subset of JSON Schema that the vendors take for tools and structured
//! output: `type` (one or a list), `properties`, `required`, `additionalProperties`, `items`,
//! `prefixItems`, `minItems`/`maxItems`, `enum`, `const`, `anyOf`/`oneOf`/`allOf`,
//! `minLength`/`maxLength`, `minimum`/`maximum` (and the exclusive forms), `format`, and local
//! `$ref`s (`#/$defs/…`, `#/definitions/…`). Anything else is ignored.
//!
//! Invariants: both are deterministic (no RNG: the same schema gives the same instance), both
//! are bounded on hostile schemas (nesting and `$ref` chains stop at [`MAX_DEPTH`]; arrays
//! are built with at most [`MAX_ITEMS`] items, strings with at most [`MAX_STRING`] bytes), and
//! neither panics.

use serde_json::{Map, Number, Value};

/// How deep a schema is followed (nesting plus `$ref` hops).
pub const MAX_DEPTH: usize = 32;
/// The most items an instance's array gets, whatever `minItems` says.
pub const MAX_ITEMS: u64 = 16;
/// The longest string an instance gets, whatever `minLength` says.
pub const MAX_STRING: u64 = 256;
/// The most values (objects, arrays, scalars) one instance is built of: nested arrays of
/// many items would otherwise grow exponentially with depth.
pub const MAX_NODES: u32 = 1024;

/// A minimal value valid against `schema`: required properties only (and as many more as
/// `minProperties` asks), the first `enum` value or the `const`, the first `anyOf`/`oneOf`
/// branch, arrays of `max(minItems, 1)` items (no more than `maxItems`), strings of their
/// `format` or `"value"` padded to `minLength`, numbers at 0 moved into
/// `[minimum, maximum]`. A schema without a type gives `{}`.
pub fn instance(schema: &Value) -> Value {
    let mut nodes_left = MAX_NODES;
    build(schema, schema, 0, &mut nodes_left)
}

/// Checks `value` against `schema`; `Err` names the first place that does not fit
/// (`$.city: expected string`).
pub fn check(schema: &Value, value: &Value) -> Result<(), String> {
    validate(schema, schema, value, "$", 0)
}

/// A local `$ref` resolved against the root schema.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

/// The schema's types, in order (`type: "x"` or `type: [..]`), guessed when absent.
fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ if schema.get("properties").is_some() => vec!["object"],
        _ if schema.get("items").is_some() || schema.get("prefixItems").is_some() => {
            vec!["array"]
        }
        _ => Vec::new(),
    }
}

fn u64_of(schema: &Value, key: &str) -> Option<u64> {
    schema.get(key).and_then(Value::as_u64)
}

fn f64_of(schema: &Value, key: &str) -> Option<f64> {
    schema
        .get(key)
        .and_then(Value::as_f64)
        .filter(|f| f.is_finite())
}

fn build(root: &Value, schema: &Value, depth: usize, nodes_left: &mut u32) -> Value {
    if *nodes_left == 0 {
        return Value::Null;
    }
    *nodes_left -= 1;
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return resolve(root, r).map_or(Value::Null, |s| build(root, s, depth + 1, nodes_left));
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|b| b.first())
        {
            return build(root, first, depth + 1, nodes_left);
        }
    }
    let ty = types(schema)
        .into_iter()
        .find(|t| *t != "null")
        .or_else(|| types(schema).into_iter().next());
    match ty {
        Some("object") | None => object(root, schema, depth, nodes_left),
        Some("array") => array(root, schema, depth, nodes_left),
        Some("string") => Value::String(string(schema)),
        Some("integer") => integer(schema),
        Some("number") => number(schema),
        Some("boolean") => Value::Bool(false),
        Some(_) => Value::Null,
    }
}

fn object(root: &Value, schema: &Value, depth: usize, nodes_left: &mut u32) -> Value {
    let properties = schema.get("properties").and_then(Value::as_object);
    let mut out = Map::new();
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for name in required {
        let sub = properties.and_then(|p| p.get(name));
        let value = sub.map_or(Value::String("value".to_owned()), |s| {
            build(root, s, depth + 1, nodes_left)
        });
        out.insert(name.to_owned(), value);
    }
    let wanted = u64_of(schema, "minProperties").unwrap_or(0);
    if let Some(props) = properties {
        for (name, sub) in props {
            if out.len() as u64 >= wanted {
                break;
            }
            if !out.contains_key(name) {
                out.insert(name.clone(), build(root, sub, depth + 1, nodes_left));
            }
        }
    }
    Value::Object(out)
}

fn array(root: &Value, schema: &Value, depth: usize, nodes_left: &mut u32) -> Value {
    let min = u64_of(schema, "minItems").unwrap_or(0);
    let max = u64_of(schema, "maxItems").unwrap_or(u64::MAX);
    let count = min.max(1).min(max).min(MAX_ITEMS);
    let prefix = schema.get("prefixItems").and_then(Value::as_array);
    let items = schema.get("items").filter(|i| i.is_object());
    let mut out = Vec::new();
    for i in 0..count {
        if *nodes_left == 0 {
            break;
        }
        let sub = prefix.and_then(|p| p.get(i as usize)).or(items);
        match sub {
            Some(s) => out.push(build(root, s, depth + 1, nodes_left)),
            // Items beyond the prefix with no `items` schema: stop at the prefix.
            None if prefix.is_some() => break,
            None => out.push(Value::String("value".to_owned())),
        }
    }
    Value::Array(out)
}

fn string(schema: &Value) -> String {
    let base = match schema.get("format").and_then(Value::as_str) {
        Some("date-time") => "2026-01-01T00:00:00Z",
        Some("date") => "2026-01-01",
        Some("time") => "00:00:00Z",
        Some("email") => "user@example.com",
        Some("uri" | "url") => "https://example.com/",
        Some("uuid") => "00000000-0000-4000-8000-000000000000",
        Some("ipv4") => "192.0.2.1",
        _ => "value",
    };
    let min = u64_of(schema, "minLength").unwrap_or(0).min(MAX_STRING) as usize;
    let max = u64_of(schema, "maxLength")
        .unwrap_or(u64::MAX)
        .min(MAX_STRING) as usize;
    let mut s: String = base.chars().take(max).collect();
    while s.chars().count() < min {
        s.push('x');
    }
    s
}

/// A bound: its value and whether it is exclusive.
type Bound = Option<(f64, bool)>;

/// The tighter of an inclusive and an exclusive bound (`lower`: the higher one).
fn tighter(inclusive: Option<f64>, exclusive: Option<f64>, lower: bool) -> Bound {
    match (inclusive, exclusive) {
        (Some(i), Some(e)) if (lower && e >= i) || (!lower && e <= i) => Some((e, true)),
        (Some(i), _) => Some((i, false)),
        (None, Some(e)) => Some((e, true)),
        (None, None) => None,
    }
}

/// The schema's numeric bounds, lower then upper.
fn bounds(schema: &Value) -> (Bound, Bound) {
    (
        tighter(
            f64_of(schema, "minimum"),
            f64_of(schema, "exclusiveMinimum"),
            true,
        ),
        tighter(
            f64_of(schema, "maximum"),
            f64_of(schema, "exclusiveMaximum"),
            false,
        ),
    )
}

fn fits(v: f64, lower: Bound, upper: Bound) -> bool {
    lower.is_none_or(|(l, ex)| if ex { v > l } else { v >= l })
        && upper.is_none_or(|(u, ex)| if ex { v < u } else { v <= u })
}

/// 0 if allowed, else the first allowed of: the lower bound (or just above it), the upper
/// bound (or just below it), the middle.
fn nearest(lower: Bound, upper: Bound, integer: bool) -> f64 {
    let step = if integer { 1.0 } else { 0.5 };
    let mut candidates = vec![0.0];
    if let Some((l, _)) = lower {
        candidates.extend([l, l.floor() + step, l + step]);
    }
    if let Some((u, _)) = upper {
        candidates.extend([u, u.ceil() - step, u - step]);
    }
    if let (Some((l, _)), Some((u, _))) = (lower, upper) {
        candidates.push((l + u) / 2.0);
    }
    candidates
        .into_iter()
        .map(|c| if integer { c.ceil() } else { c })
        .find(|c| fits(*c, lower, upper))
        .unwrap_or(0.0)
}

fn integer(schema: &Value) -> Value {
    let (lower, upper) = bounds(schema);
    // Within i64 (a hostile bound could be 1e300): clamp, then convert exactly.
    let v = nearest(lower, upper, true).clamp(-9.0e15, 9.0e15) as i64;
    Value::Number(Number::from(v))
}

fn number(schema: &Value) -> Value {
    let (lower, upper) = bounds(schema);
    Number::from_f64(nearest(lower, upper, false)).map_or(Value::Null, Value::Number)
}

fn type_fits(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

fn validate(
    root: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: schema nested deeper than {MAX_DEPTH}"));
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(root, r).ok_or_else(|| format!("{at}: unresolved $ref {r}"))?;
        return validate(root, target, value, at, depth + 1);
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return Err(format!("{at}: expected the constant {c}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of the enum values"));
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(root, s, value, at, depth + 1)?;
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let fits = branches
                .iter()
                .filter(|s| validate(root, s, value, at, depth + 1).is_ok())
                .count();
            if fits == 0 || (key == "oneOf" && fits > 1) {
                return Err(format!("{at}: fits {fits} branches of {key}"));
            }
        }
    }
    let tys = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !tys.is_empty() && !tys.iter().any(|t| type_fits(t, value)) {
        return Err(format!("{at}: expected {}", tys.join(" or ")));
    }
    match value {
        Value::Object(map) => validate_object(root, schema, map, at, depth),
        Value::Array(items) => validate_array(root, schema, items, at, depth),
        Value::String(s) => {
            let n = s.chars().count() as u64;
            if u64_of(schema, "minLength").is_some_and(|m| n < m) {
                return Err(format!("{at}: shorter than minLength"));
            }
            if u64_of(schema, "maxLength").is_some_and(|m| n > m) {
                return Err(format!("{at}: longer than maxLength"));
            }
            Ok(())
        }
        Value::Number(num) => {
            let v = num.as_f64().unwrap_or(0.0);
            let too_low = f64_of(schema, "minimum").is_some_and(|m| v < m)
                || f64_of(schema, "exclusiveMinimum").is_some_and(|m| v <= m);
            let too_high = f64_of(schema, "maximum").is_some_and(|m| v > m)
                || f64_of(schema, "exclusiveMaximum").is_some_and(|m| v >= m);
            if too_low || too_high {
                return Err(format!("{at}: {v} is out of range"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// An object's required properties, and each property against its schema (or
/// `additionalProperties`).
fn validate_object(
    root: &Value,
    schema: &Value,
    map: &serde_json::Map<String, Value>,
    at: &str,
    depth: usize,
) -> Result<(), String> {
    let properties = schema.get("properties").and_then(Value::as_object);
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(name) {
            return Err(format!("{at}: missing required property `{name}`"));
        }
    }
    for (name, v) in map {
        let path = format!("{at}.{name}");
        match properties.and_then(|p| p.get(name)) {
            Some(s) => validate(root, s, v, &path, depth + 1)?,
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    return Err(format!("{at}: property `{name}` is not allowed"));
                }
                Some(s @ Value::Object(_)) => validate(root, s, v, &path, depth + 1)?,
                _ => {}
            },
        }
    }
    Ok(())
}

/// An array's length bounds, and each item against its prefix schema or `items`.
fn validate_array(
    root: &Value,
    schema: &Value,
    items: &[Value],
    at: &str,
    depth: usize,
) -> Result<(), String> {
    let n = items.len() as u64;
    if u64_of(schema, "minItems").is_some_and(|m| n < m) {
        return Err(format!("{at}: fewer items than minItems"));
    }
    if u64_of(schema, "maxItems").is_some_and(|m| n > m) {
        return Err(format!("{at}: more items than maxItems"));
    }
    let prefix = schema.get("prefixItems").and_then(Value::as_array);
    for (i, v) in items.iter().enumerate() {
        let path = format!("{at}[{i}]");
        if let Some(s) = prefix.and_then(|p| p.get(i)) {
            validate(root, s, v, &path, depth + 1)?;
        } else if let Some(s) = schema.get("items").filter(|s| s.is_object()) {
            validate(root, s, v, &path, depth + 1)?;
        }
    }
    Ok(())
}

/// Every object in `schema` (nested in properties, items, branches and `$defs`) says
/// `additionalProperties: false`: Anthropic's rule for structured output. `Err` is the path
/// of the first that does not.
pub fn closed_objects(schema: &Value) -> Result<(), String> {
    closed(schema, "schema", 0)
}

fn closed(schema: &Value, at: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let Some(map) = schema.as_object() else {
        return Ok(());
    };
    let is_object = types(schema).contains(&"object");
    if is_object && map.get("additionalProperties") != Some(&Value::Bool(false)) {
        return Err(at.to_owned());
    }
    for key in ["properties", "$defs", "definitions"] {
        if let Some(children) = map.get(key).and_then(Value::as_object) {
            for (name, s) in children {
                closed(s, &format!("{at}.{key}.{name}"), depth + 1)?;
            }
        }
    }
    if let Some(items) = map.get("items") {
        closed(items, &format!("{at}.items"), depth + 1)?;
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(branches) = map.get(key).and_then(Value::as_array) {
            for (i, s) in branches.iter().enumerate() {
                closed(s, &format!("{at}.{key}.{i}"), depth + 1)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn instances_fit_their_schemas() {
        let schemas = [
            json!({ "type": "object", "properties": {
                "city": { "type": "string", "minLength": 8 },
                "unit": { "type": "string", "enum": ["celsius", "fahrenheit"] },
                "days": { "type": "integer", "minimum": 3, "maximum": 7 },
                "ratio": { "type": "number", "exclusiveMinimum": 0.5, "maximum": 0.9 },
                "tags": { "type": "array", "items": { "type": "string", "format": "email" }, "minItems": 2 },
                "when": { "type": "string", "format": "date-time" },
                "where": { "type": "object", "properties": { "lat": { "type": "number" } },
                           "required": ["lat"], "additionalProperties": false },
                "optional": { "type": "boolean" }
            }, "required": ["city", "unit", "days", "ratio", "tags", "when", "where"],
               "additionalProperties": false }),
            json!({ "$defs": { "p": { "type": "object", "properties": { "x": { "const": 3 } }, "required": ["x"] } },
                    "type": "object", "properties": { "p": { "$ref": "#/$defs/p" },
                    "u": { "anyOf": [{ "type": "null" }, { "type": "integer", "exclusiveMaximum": -4 }] } },
                    "required": ["p", "u"] }),
            json!({ "type": ["null", "integer"], "minimum": 10 }),
            json!({ "type": "array", "prefixItems": [{ "type": "boolean" }, { "type": "string", "maxLength": 2 }] }),
            json!({}),
        ];
        for schema in schemas {
            let v = instance(&schema);
            check(&schema, &v).unwrap_or_else(|e| panic!("{schema}: {v}: {e}"));
        }
        let v = instance(
            &json!({ "type": "object", "properties": { "a": { "type": "integer" } }, "required": ["a"] }),
        );
        assert_eq!(v, json!({ "a": 0 }), "only what is required, at 0");
        assert_eq!(instance(&json!({ "enum": ["b", "a"] })), json!("b"));
        assert_eq!(
            instance(&json!({ "type": "integer", "minimum": 3 })),
            json!(3)
        );
    }

    #[test]
    fn check_finds_what_does_not_fit() {
        let schema = json!({ "type": "object", "properties": { "n": { "type": "integer", "maximum": 2 } },
                             "required": ["n"], "additionalProperties": false });
        assert!(check(&schema, &json!({ "n": 2 })).is_ok());
        for bad in [
            json!({}),
            json!({ "n": 3 }),
            json!({ "n": "2" }),
            json!({ "n": 1, "m": 1 }),
            json!([1]),
        ] {
            assert!(check(&schema, &bad).is_err(), "{bad}");
        }
        assert!(check(&json!({ "type": "integer" }), &json!(1.5)).is_err());
        assert!(
            check(
                &json!({ "oneOf": [{ "type": "integer" }, { "type": "number" }] }),
                &json!(1)
            )
            .is_err()
        );
    }

    #[test]
    fn hostile_schemas_stay_bounded() {
        let looping = json!({ "$ref": "#" });
        assert_eq!(instance(&looping), Value::Null);
        assert!(check(&looping, &json!(1)).is_err());
        let mut deep = json!({ "type": "string" });
        for _ in 0..200 {
            deep = json!({ "type": "array", "items": deep, "minItems": 1_000_000 });
        }
        let v = instance(&deep);
        let size = v.to_string().len();
        assert!(size < 20_000, "depth and width are capped: {size} bytes");
        let huge = json!({ "type": "string", "minLength": u64::MAX });
        assert_eq!(
            instance(&huge).as_str().map(str::len),
            Some(MAX_STRING as usize)
        );
        assert_eq!(
            instance(&json!({ "type": "integer", "minimum": 1e300 })),
            json!(9_000_000_000_000_000_i64)
        );
    }

    #[test]
    fn open_objects_are_found() {
        assert!(closed_objects(&json!({ "type": "object", "additionalProperties": false,
            "properties": { "a": { "type": "array", "items": { "type": "object", "additionalProperties": false } } } })).is_ok());
        assert_eq!(
            closed_objects(&json!({ "type": "object", "additionalProperties": false,
                "properties": { "a": { "type": "object" } } })),
            Err("schema.properties.a".to_owned())
        );
        assert_eq!(
            closed_objects(&json!({ "type": "object" })),
            Err("schema".to_owned())
        );
    }
}
