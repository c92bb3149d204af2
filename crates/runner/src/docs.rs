//! Reference tables for the user docs, generated from the code so they cannot drift.
//!
//! A Markdown file holds generated blocks between `<!-- generated:NAME -->` and
//! `<!-- /generated:NAME -->`; [`refresh`] rewrites every such block from the code and leaves
//! the prose around it alone. `crates/runner/tests/docs.rs` fails when a block in `docs/`
//! differs from what the code generates (`UPDATE_DOCS=1` rewrites them).
//!
//! The blocks: `scenario-fields` (every scenario field, from the JSON Schema that
//! `switchyard schema` prints, descriptions from the config types' doc comments),
//! `live-config-fields` (the same for the live and gateway config), `profile-fields` (fake
//! provider profiles), `metrics`
//! (every expectation metric with the scopes it takes), `fault-kinds` (every fault kind) and
//! `prometheus` (every series `/metrics` exposes).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The names of the blocks [`block`] can generate.
pub const BLOCKS: [&str; 6] = [
    "scenario-fields",
    "live-config-fields",
    "profile-fields",
    "metrics",
    "fault-kinds",
    "prometheus",
];

/// One generated block's Markdown, or `None` for a name that is not a block.
pub fn block(name: &str) -> Option<String> {
    match name {
        "scenario-fields" => Some(fields(&crate::schema())),
        "live-config-fields" => Some(fields(&switchyard_live::config::schema())),
        "profile-fields" => Some(fields(&switchyard_fake::profile::schema())),
        "metrics" => Some(metrics()),
        "fault-kinds" => Some(fault_kinds()),
        "prometheus" => Some(prometheus()),
        _ => None,
    }
}

/// `doc` with every generated block rewritten from the code. An unknown block name or a
/// block without its end marker is an error naming it and its line.
pub fn refresh(doc: &str) -> Result<String, String> {
    let mut out = String::with_capacity(doc.len());
    let mut rest = doc;
    while let Some(at) = rest.find("<!-- generated:") {
        let line = doc.len() - rest.len() + at;
        let line = doc[..line].lines().count() + 1;
        let head_end = rest[at..]
            .find("-->")
            .map(|e| at + e + 3)
            .ok_or_else(|| format!("line {line}: unterminated generated marker"))?;
        let name = rest[at + "<!-- generated:".len()..head_end - 3].trim();
        let body = block(name).ok_or_else(|| format!("line {line}: unknown block `{name}`"))?;
        let end_marker = format!("<!-- /generated:{name} -->");
        let end = rest[head_end..]
            .find(&end_marker)
            .map(|e| head_end + e)
            .ok_or_else(|| format!("line {line}: block `{name}` has no `{end_marker}`"))?;
        out.push_str(&rest[..head_end]);
        out.push('\n');
        out.push_str(&body);
        out.push_str(&end_marker);
        rest = &rest[end + end_marker.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn def_name(reference: &str) -> Option<&str> {
    reference.strip_prefix("#/$defs/")
}

/// The schema of a field, with `null` alternatives (an optional field) taken out.
fn non_null(schema: &Value) -> Value {
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let kept: Vec<&Value> = any
            .iter()
            .filter(|s| s.get("type") != Some(&Value::from("null")))
            .collect();
        if kept.len() == 1 {
            let mut s = kept[0].clone();
            if let (Some(d), Some(obj)) = (schema.get("description"), s.as_object_mut()) {
                obj.entry("description").or_insert(d.clone());
            }
            return s;
        }
    }
    let mut s = schema.clone();
    if let Some(Value::Array(types)) = s.get("type").cloned() {
        let kept: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
        if let Some(obj) = s.as_object_mut() {
            obj.insert(
                "type".into(),
                if kept.len() == 1 {
                    kept[0].clone()
                } else {
                    Value::Array(kept)
                },
            );
        }
    }
    s
}

/// Whether a definition is documented as a table of its own (an object with fields).
fn is_section(defs: &Map<String, Value>, name: &str) -> bool {
    defs.get(name)
        .and_then(|d| d.get("properties"))
        .is_some_and(|p| p.as_object().is_some_and(|p| !p.is_empty()))
}

fn anchor(path: &str) -> String {
    path.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

/// How a field's type reads in the table; a reference to a section links to it.
fn type_text(schema: &Value, defs: &Map<String, Value>, paths: &HashMap<String, String>) -> String {
    let s = non_null(schema);
    if let Some(r) = s.get("$ref").and_then(Value::as_str).and_then(def_name) {
        if let Some(path) = paths.get(r).filter(|_| is_section(defs, r)) {
            return format!("[{r}](#{})", anchor(&format!("{path} {r}")));
        }
        return match defs.get(r) {
            Some(d) => type_text(d, defs, paths),
            None => r.to_string(),
        };
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let v: Vec<String> = values
            .iter()
            .filter_map(Value::as_str)
            .map(|v| format!("`{v}`"))
            .collect();
        return format!("one of {}", v.join(", "));
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let v: Vec<String> = one
            .iter()
            .flat_map(|o| {
                o.get("const").into_iter().chain(
                    o.get("enum")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                )
            })
            .filter_map(Value::as_str)
            .map(|v| format!("`{v}`"))
            .collect();
        if !v.is_empty() {
            return format!("one of {}", v.join(", "));
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        let v: Vec<String> = any.iter().map(|a| type_text(a, defs, paths)).collect();
        return v.join(" or ");
    }
    match s.get("type").and_then(Value::as_str) {
        Some("array") => match s.get("items") {
            Some(items) if items.get("prefixItems").is_some() || items.get("type").is_some() => {
                match items.get("prefixItems").and_then(Value::as_array) {
                    Some(pair) => {
                        let v: Vec<String> =
                            pair.iter().map(|p| type_text(p, defs, paths)).collect();
                        format!("list of [{}]", v.join(", "))
                    }
                    None => format!("list of {}", type_text(items, defs, paths)),
                }
            }
            Some(items) => format!("list of {}", type_text(items, defs, paths)),
            None => "list".into(),
        },
        Some("object") => match s.get("additionalProperties") {
            Some(v @ Value::Object(_)) => format!("map of name to {}", type_text(v, defs, paths)),
            _ => "map".into(),
        },
        Some("number") => "number".into(),
        Some("integer") => "integer".into(),
        Some("string") if s.get("pattern").is_some() && s.get("examples").is_some() => {
            "duration (`250ms`, `2s`, `5m`)".into()
        }
        Some(t) => t.to_string(),
        None => match s.get("type").and_then(Value::as_array) {
            Some(types) => types
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" or "),
            None => "any".into(),
        },
    }
}

/// Every field of a config file: one table per object, in the order a reader meets them
/// from the top of the file, each headed by where it sits (`router.targets[]`).
fn fields(schema: &str) -> String {
    let schema: Value = serde_json::from_str(schema).unwrap_or(Value::Null);
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let (order, paths) = sections(&schema, defs);
    let mut out = String::new();
    for (path, name) in &order {
        let node = if name.is_empty() {
            &schema
        } else {
            &defs[name.as_str()]
        };
        let Some(props) = node.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let required: BTreeSet<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if name.is_empty() {
            out.push_str("### The top level\n\n");
        } else {
            let _ = writeln!(out, "### {path} {name}\n");
        }
        if let Some(d) = node.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", cell(d));
        }
        out.push_str("| field | type | required | meaning |\n|---|---|---|---|\n");
        for (field, fs) in props {
            let required = required.contains(field.as_str());
            let _ = writeln!(out, "{}", field_row(field, fs, required, defs, &paths));
        }
        out.push('\n');
    }
    out
}

/// Where each definition is first met, breadth first from the root: the sections in the
/// order a reader meets them, as `(path, definition name)` (`""` names the root), and each
/// section definition's path.
fn sections(
    schema: &Value,
    defs: &Map<String, Value>,
) -> (Vec<(String, String)>, HashMap<String, String>) {
    let mut paths = HashMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut queue = VecDeque::from([(String::new(), String::new())]);
    let mut seen = BTreeSet::new();
    while let Some((path, name)) = queue.pop_front() {
        let node = if name.is_empty() {
            schema
        } else {
            &defs[name.as_str()]
        };
        order.push((path.clone(), name.clone()));
        let Some(props) = node.get("properties").and_then(Value::as_object) else {
            continue;
        };
        for (field, fs) in props {
            let mut refs = Vec::new();
            collect_refs(fs, &mut refs, "");
            for (r, suffix) in refs {
                if is_section(defs, &r) && seen.insert(r.clone()) {
                    let p = if path.is_empty() {
                        format!("{field}{suffix}")
                    } else {
                        format!("{path}.{field}{suffix}")
                    };
                    paths.insert(r.clone(), p.clone());
                    queue.push_back((p, r));
                }
            }
        }
    }
    (order, paths)
}

/// One row of a section's table: the field, its type, whether it is required, and its
/// meaning with its default (unless the description already speaks of one).
fn field_row(
    field: &str,
    fs: &Value,
    required: bool,
    defs: &Map<String, Value>,
    paths: &HashMap<String, String>,
) -> String {
    let meaning = non_null(fs)
        .get("description")
        .or_else(|| fs.get("description"))
        .and_then(Value::as_str)
        .map(cell)
        .unwrap_or_default();
    let default = fs
        .get("default")
        .filter(|d| !d.is_null())
        .filter(|_| {
            !fs.get("description")
                .and_then(Value::as_str)
                .is_some_and(|t| t.to_ascii_lowercase().contains("default"))
        })
        .map(|d| format!(" Default: `{d}`."))
        .unwrap_or_default();
    format!(
        "| `{field}` | {} | {} | {meaning}{default} |",
        type_text(fs, defs, paths),
        if required { "yes" } else { "" }
    )
}

/// The definitions a field's schema refers to, with `[]` or `.NAME` for how they nest.
fn collect_refs(schema: &Value, out: &mut Vec<(String, String)>, suffix: &str) {
    if let Some(r) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(def_name)
    {
        out.push((r.to_string(), suffix.to_string()));
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for s in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_refs(s, out, suffix);
        }
    }
    if let Some(items) = schema.get("items") {
        collect_refs(items, out, &format!("{suffix}[]"));
    }
    if let Some(v @ Value::Object(_)) = schema.get("additionalProperties") {
        collect_refs(v, out, &format!("{suffix}.NAME"));
    }
}

/// Variant name → its doc comment, from a unit enum's JSON Schema.
fn variant_docs(schema: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut visit = |s: &Value| {
        let description = s
            .get("description")
            .and_then(Value::as_str)
            .map(cell)
            .unwrap_or_default();
        if let Some(c) = s.get("const").and_then(Value::as_str) {
            out.push((c.to_string(), description));
        } else if let Some(values) = s.get("enum").and_then(Value::as_array) {
            for v in values.iter().filter_map(Value::as_str) {
                out.push((v.to_string(), description.clone()));
            }
        }
    };
    match schema.get("oneOf").and_then(Value::as_array) {
        Some(one) => one.iter().for_each(&mut visit),
        None => visit(schema),
    }
    out
}

fn metrics() -> String {
    let schema =
        serde_json::to_value(schemars::schema_for!(crate::expect::Metric)).unwrap_or(Value::Null);
    let docs = variant_docs(&schema);
    let mut out = String::from("| metric | value | scopes | meaning |\n|---|---|---|---|\n");
    for (name, metric) in crate::expect::metrics() {
        let meaning = docs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_str())
            .unwrap_or_default();
        let value = match metric.unit().trim() {
            "s" => "duration".to_owned(),
            unit => format!(
                "{}, {}",
                if unit.is_empty() { "number" } else { unit },
                metric.range().describe()
            ),
        };
        let _ = writeln!(
            out,
            "| `{name}` | {value} | {} | {meaning} |",
            metric.scope_summary()
        );
    }
    out
}

fn fault_kinds() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(switchyard_fake::fault::FaultKindName))
        .unwrap_or(Value::Null);
    let mut out = String::from("| kind | what the fake does | fields it reads |\n|---|---|---|\n");
    for (name, doc) in variant_docs(&schema) {
        let kind: Option<switchyard_fake::fault::FaultKindName> =
            serde_json::from_value(Value::String(name.clone())).ok();
        let reads: Vec<String> = kind
            .map_or(&[][..], |k| k.reads())
            .iter()
            .map(|f| format!("`{f}`"))
            .collect();
        let reads = if reads.is_empty() {
            "none".to_owned()
        } else {
            reads.join(", ")
        };
        let _ = writeln!(out, "| `{name}` | {doc} | {reads} |");
    }
    out
}

/// Every series of the Prometheus exposition, read from the `# HELP` and `# TYPE` lines the
/// renderer writes for a router with one target and one route.
fn prometheus() -> String {
    let yaml = "targets:\n  - { name: t, provider: openai, model: m }\nroutes:\n  - { name: r, policy: static, targets: [t] }\n";
    let router = switchyard_core::config::load_router(yaml, "docs.yaml").map(|params| {
        switchyard_core::router::Router::new(params, switchyard_core::rng::SeededRng::new(1))
    });
    let text = match router {
        Ok(r) => switchyard_core::router::prometheus::render(&r),
        Err(e) => return format!("(cannot build the sample router: {e})\n"),
    };
    let mut out = String::from("| series | type | meaning |\n|---|---|---|\n");
    let mut help: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name.to_string(), doc.to_string()));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let doc = help
                .take()
                .filter(|(n, _)| n == name)
                .map(|(_, d)| d)
                .unwrap_or_default();
            let _ = writeln!(out, "| `{name}` | {kind} | {} |", cell(&doc));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_rewrites_blocks_and_keeps_the_prose() {
        let doc = "intro\n<!-- generated:fault-kinds -->\nstale\n<!-- /generated:fault-kinds -->\nafter\n";
        let fresh = refresh(doc).unwrap();
        assert!(fresh.starts_with("intro\n<!-- generated:fault-kinds -->\n| kind |"));
        assert!(fresh.contains("| `stream_cut` |"), "{fresh}");
        assert!(!fresh.contains("stale"));
        assert!(fresh.ends_with("<!-- /generated:fault-kinds -->\nafter\n"));
        assert_eq!(refresh(&fresh).unwrap(), fresh, "refreshing is idempotent");
    }

    #[test]
    fn refresh_names_a_bad_block_and_its_line() {
        let e = refresh("a\nb\n<!-- generated:nope -->\n<!-- /generated:nope -->").unwrap_err();
        assert!(e.contains("line 3") && e.contains("nope"), "{e}");
        let e = refresh("<!-- generated:metrics -->\n").unwrap_err();
        assert!(e.contains("/generated:metrics"), "{e}");
    }

    #[test]
    fn every_block_lists_what_the_code_has() {
        let fields = block("scenario-fields").unwrap();
        for needle in [
            "### The top level",
            "| `seed` |",
            "router.targets[] TargetConfig",
            "| `abandon_after` |",
            "providers[].faults[] FaultConfig",
        ] {
            assert!(fields.contains(needle), "{needle} missing:\n{fields}");
        }
        let metrics = block("metrics").unwrap();
        for (name, _) in crate::expect::metrics() {
            assert!(metrics.contains(&format!("| `{name}` |")), "{name}");
        }
        assert!(metrics.contains("| `time_to_failover` | duration | `fault` (required) |"));
        assert!(metrics.contains("| `success_rate` | number, from 0 to 1 |"));
        assert!(metrics.contains("| `cost` | USD, 0 or more |"));
        let prom = block("prometheus").unwrap();
        assert!(
            prom.contains("| `switchyard_requests_total` | counter |"),
            "{prom}"
        );
    }
}
