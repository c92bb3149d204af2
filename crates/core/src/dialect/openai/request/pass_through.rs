//! The same-dialect fast path: a client's OpenAI body read once ([`parse`]), its unmodelled
//! fields, and the body passed through with only `model` (and a stream's usage option)
//! changed ([`pass_through`]).

use std::borrow::Cow;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::ChatRequest;
use crate::request::EntrySpan;

/// One top-level entry of a JSON object: the key (borrowed unless it had escapes) and the
/// value's text as sent.
type Entry<'a> = (Cow<'a, str>, &'a RawValue);

struct Entries<'a>(Vec<Entry<'a>>);

/// An object key, borrowed from the body unless it had escapes (serde's own `Cow<str>`
/// always allocates).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16).min(64));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The entries of a whole body that is a JSON object (nothing after it).
fn entries(body: &[u8]) -> serde_json::Result<Entries<'_>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let entries = Entries::deserialize(&mut de)?;
    de.end()?;
    Ok(entries)
}

/// A client's OpenAI body, read once: the typed request, the fields it does not model
/// ([`unmodelled_fields`]) and where each entry lies ([`Original::layout`], for
/// [`pass_through_at`]).
///
/// [`Original::layout`]: crate::request::Original::layout
#[derive(Debug)]
pub struct Parsed {
    /// The body as a typed request.
    pub request: ChatRequest,
    /// As [`unmodelled_fields`] gives them: the keys [`ChatRequest`] does not model, set to
    /// something other than `null` or `false`, in body order, at most 16.
    pub unmodelled: Vec<String>,
    /// `None` when a key had an escape.
    pub layout: Option<std::sync::Arc<[EntrySpan]>>,
}

/// Reads a client's body once for everything the gateway needs of it; accepts and refuses
/// exactly what `serde_json::from_slice::<ChatRequest>` does (the error is not worded the
/// same: describe a refusal from the body), except a request written as a JSON array (its
/// fields by position), which no client sends, and a body that is not UTF-8 in a value the
/// typed parse skips (an unknown field's), which would be forwarded as it is: this refuses
/// both.
///
/// The usual body (a few known fields, text messages) is read by hand, to the same result
/// (`quick.rs`); any other by the typed pass (serde, `typed`).
pub fn parse(body: &[u8]) -> serde_json::Result<Parsed> {
    if let Some(parsed) = super::quick::parse(body) {
        return Ok(parsed);
    }
    typed(body)
}

/// [`parse`] by serde, for any body. One pass: each known field is read straight into its
/// typed slot, an unknown one only as its raw text (for [`unmodelled_fields`]); where each
/// value lies is found afterwards from where the keys lie (see `layout`), without reading the
/// values again.
pub(super) fn typed(body: &[u8]) -> serde_json::Result<Parsed> {
    // UTF-8 checked once for the whole body rather than string by string (what `from_slice`
    // does; outside its strings a body has only ASCII either way, so both refuse the same).
    let text = std::str::from_utf8(body).map_err(serde::de::Error::custom)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let OnePass {
        request,
        keys,
        unmodelled,
    } = OnePass::deserialize(&mut de)?;
    de.end()?;
    Ok(Parsed {
        request,
        unmodelled,
        layout: layout(body, &keys),
    })
}

/// What [`parse`]'s single pass reads: the request, each key in order (borrowed from the
/// body unless it had escapes), the unmodelled fields.
struct OnePass<'a> {
    request: ChatRequest,
    keys: Vec<Cow<'a, str>>,
    unmodelled: Vec<String>,
}

impl<'de> Deserialize<'de> for OnePass<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(OnePassVisitor)
    }
}

struct OnePassVisitor;

impl<'de> Visitor<'de> for OnePassVisitor {
    type Value = OnePass<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        // Each field as serde's derive reads it: a known key twice is an error (`null` then a
        // value too), a missing `Option` is `None`, a missing `model` or `messages` an error.
        let mut model: Option<String> = None;
        let mut messages = None;
        let mut r = ChatRequest::default();
        let mut seen = 0u32;
        let mut keys = Vec::with_capacity(16);
        let mut unmodelled = Vec::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            // The bit of each optional field in `seen`, and where it goes.
            macro_rules! once {
                ($bit:expr, $name:literal, $slot:expr) => {{
                    if seen & (1 << $bit) != 0 {
                        return Err(A::Error::duplicate_field($name));
                    }
                    seen |= 1 << $bit;
                    $slot = map.next_value()?;
                }};
            }
            match &*key {
                "model" => {
                    if model.is_some() {
                        return Err(A::Error::duplicate_field("model"));
                    }
                    model = Some(map.next_value()?);
                }
                "messages" => {
                    if messages.is_some() {
                        return Err(A::Error::duplicate_field("messages"));
                    }
                    messages = Some(map.next_value()?);
                }
                "max_tokens" => once!(0, "max_tokens", r.max_tokens),
                "max_completion_tokens" => {
                    once!(1, "max_completion_tokens", r.max_completion_tokens)
                }
                "temperature" => once!(2, "temperature", r.temperature),
                "top_p" => once!(3, "top_p", r.top_p),
                "n" => once!(4, "n", r.n),
                "stop" => once!(5, "stop", r.stop),
                "seed" => once!(6, "seed", r.seed),
                "presence_penalty" => once!(7, "presence_penalty", r.presence_penalty),
                "frequency_penalty" => once!(8, "frequency_penalty", r.frequency_penalty),
                "user" => once!(9, "user", r.user),
                "stream" => once!(10, "stream", r.stream),
                "stream_options" => once!(11, "stream_options", r.stream_options),
                "tools" => once!(12, "tools", r.tools),
                "tool_choice" => once!(13, "tool_choice", r.tool_choice),
                "parallel_tool_calls" => {
                    once!(14, "parallel_tool_calls", r.parallel_tool_calls)
                }
                "response_format" => once!(15, "response_format", r.response_format),
                _ => {
                    let value: &'de RawValue = map.next_value()?;
                    if unmodelled.len() < MAX_UNMODELLED && !matches!(value.get(), "null" | "false")
                    {
                        unmodelled.push(key.clone().into_owned());
                    }
                }
            }
            keys.push(key);
        }
        r.model = model.ok_or_else(|| A::Error::missing_field("model"))?;
        r.messages = messages.ok_or_else(|| A::Error::missing_field("messages"))?;
        Ok(OnePass {
            request: r,
            keys,
            unmodelled,
        })
    }
}

/// Where each entry of `body` lies, from where its keys lie: between one key's closing quote
/// and the next key's opening quote there is only `:`, the value and `,` (and whitespace), so
/// the value is what is left once those are trimmed; the last value ends before the body's
/// closing `}`. `None` when a key had an escape (it is not a slice of `body`), or the body is
/// not laid out that way (it always is, once [`parse`]'s pass accepted it).
fn layout(body: &[u8], keys: &[Cow<'_, str>]) -> Option<std::sync::Arc<[EntrySpan]>> {
    let start = body.as_ptr() as usize;
    // Where key `i` lies in `body`, without its quotes.
    let key_at = |i: usize| -> Option<std::ops::Range<usize>> {
        let Cow::Borrowed(k) = keys.get(i)? else {
            return None;
        };
        let at = (k.as_ptr() as usize).checked_sub(start)?;
        Some(at..at.checked_add(k.len())?)
    };
    // Where the last value ends: before the closing `}` and the whitespace around it.
    let closing = body.trim_ascii_end().len().checked_sub(1)?;
    (body.get(closing) == Some(&b'}')).then_some(())?;
    let mut spans = Vec::with_capacity(keys.len());
    let mut next = if keys.is_empty() { None } else { key_at(0) };
    for i in 0..keys.len() {
        let key = next.take()?;
        // After the key's closing quote: whitespace, `:`, whitespace.
        let after = key.end.checked_add(1)?;
        let head = body.get(after..)?.trim_ascii_start();
        let value_start = body.len() - head.strip_prefix(b":")?.trim_ascii_start().len();
        let value_end = if i + 1 < keys.len() {
            // Before the next key's opening quote: whitespace, `,`, whitespace.
            let following = key_at(i + 1)?;
            let tail = body
                .get(..following.start.checked_sub(1)?)?
                .trim_ascii_end();
            next = Some(following);
            tail.strip_suffix(b",")?.trim_ascii_end().len()
        } else {
            body.get(..closing)?.trim_ascii_end().len()
        };
        if value_start >= value_end || value_end > body.len() {
            return None;
        }
        spans.push(EntrySpan {
            key,
            value: value_start..value_end,
        });
    }
    Some(spans.into())
}

/// The top-level fields [`ChatRequest`] models; any other reaches only an OpenAI target, in
/// the client's own body (see [`unmodelled_fields`]).
const MODELLED: [&str; 18] = [
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "user",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
];

/// At most this many unmodelled field names are kept (the first names one to the client).
const MAX_UNMODELLED: usize = 16;

/// The top-level fields of an OpenAI body that [`ChatRequest`] does not model, in order, set
/// to something other than `null` or `false` (which ask for nothing): for
/// `Request::unmodelled`. Empty when the body is not a JSON object.
pub fn unmodelled_fields(body: &[u8]) -> Vec<String> {
    let Ok(Entries(entries)) = serde_json::from_slice::<Entries<'_>>(body) else {
        return Vec::new();
    };
    unmodelled_of(&entries)
}

fn unmodelled_of(entries: &[Entry<'_>]) -> Vec<String> {
    entries
        .iter()
        .filter(|(k, v)| !MODELLED.contains(&k.as_ref()) && !matches!(v.get(), "null" | "false"))
        .map(|(k, _)| k.clone().into_owned())
        .take(MAX_UNMODELLED)
        .collect()
}

fn push_key(out: &mut Vec<u8>, key: &str) {
    // A key serializes only if it is a string, which it is.
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
}

/// The `model` entry, `"model":` and the name as a JSON string: as it is between quotes when
/// it needs no escape (every usual name), else through serde_json.
fn push_model(out: &mut Vec<u8>, model: &str) {
    out.extend_from_slice(b"\"model\":");
    if plain_text(model.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(model.as_bytes());
        out.push(b'"');
    } else {
        // A string always serializes.
        let _ = serde_json::to_writer(&mut *out, model);
    }
}

/// Printable ASCII without a quote or a backslash: JSON string text that needs no escape.
fn plain_text(text: &[u8]) -> bool {
    text.iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// A key's text written as a JSON key: as it is between quotes when it needs no escape
/// (printable ASCII without a quote or a backslash: every key of a usual body), else through
/// serde_json. `None` when it is not UTF-8.
fn push_key_text(out: &mut Vec<u8>, key: &[u8]) -> Option<()> {
    if plain_text(key) {
        out.push(b'"');
        out.extend_from_slice(key);
        out.extend_from_slice(b"\":");
    } else {
        push_key(out, std::str::from_utf8(key).ok()?);
    }
    Some(())
}

/// The client's own OpenAI body with `model` set to `model` (`None`: removed — Azure names
/// the deployment in the path) and, when `stream`, `stream_options.include_usage` true; every
/// other top-level entry is copied as sent, in order, unknown fields included. `None` when
/// the body is not a JSON object or its `stream` flag is not `stream` (then the caller
/// encodes the normalized request instead).
pub fn pass_through(body: &[u8], model: Option<&str>, stream: bool) -> Option<Vec<u8>> {
    let Entries(entries) = entries(body).ok()?;
    let entries: Vec<(&[u8], &[u8])> = entries
        .iter()
        .map(|(k, v)| (k.as_bytes(), v.get().as_bytes()))
        .collect();
    rebuild(body.len(), &entries, model, stream)
}

/// [`pass_through`] for a body whose entries [`parse`] found at `layout` (spans of `body`),
/// without reading it again. `None` also when a span is not in `body`.
pub fn pass_through_at(
    body: &[u8],
    layout: &[EntrySpan],
    model: Option<&str>,
    stream: bool,
) -> Option<Vec<u8>> {
    let entries: Vec<(&[u8], &[u8])> = layout
        .iter()
        .map(|span| Some((body.get(span.key.clone())?, body.get(span.value.clone())?)))
        .collect::<Option<_>>()?;
    rebuild(body.len(), &entries, model, stream)
}

/// The body of [`pass_through`] from its entries (key's text, value's JSON text); `None` also
/// when a key is not UTF-8.
fn rebuild(
    size: usize,
    entries: &[(&[u8], &[u8])],
    model: Option<&str>,
    stream: bool,
) -> Option<Vec<u8>> {
    let streams = entries
        .iter()
        .rev()
        .find(|(k, _)| *k == b"stream")
        .is_some_and(|(_, v)| *v == b"true");
    if streams != stream {
        return None;
    }
    let mut out = Vec::with_capacity(size + model.map_or(0, str::len) + 48);
    out.push(b'{');
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    let mut model_written = false;
    let mut options_written = false;
    for &(k, v) in entries {
        match (k, model) {
            (b"model", None) => continue,
            (b"model", Some(m)) => {
                if std::mem::replace(&mut model_written, true) {
                    continue;
                }
                sep(&mut out);
                push_model(&mut out, m);
                continue;
            }
            (b"stream_options", _) if stream => {
                if std::mem::replace(&mut options_written, true) {
                    continue;
                }
                sep(&mut out);
                push_key(&mut out, "stream_options");
                out.extend_from_slice(&with_usage(v)?);
                continue;
            }
            _ => {}
        }
        sep(&mut out);
        push_key_text(&mut out, k)?;
        out.extend_from_slice(v);
    }
    if let (Some(m), false) = (model, model_written) {
        sep(&mut out);
        push_model(&mut out, m);
    }
    if stream && !options_written {
        sep(&mut out);
        out.extend_from_slice(br#""stream_options":{"include_usage":true}"#);
    }
    out.push(b'}');
    Some(out)
}

/// A `stream_options` object with `include_usage: true` (its other entries kept); `None` if
/// it is not an object (`null` counts as empty).
fn with_usage(options: &[u8]) -> Option<Vec<u8>> {
    if options.trim_ascii() == b"null" {
        return Some(br#"{"include_usage":true}"#.to_vec());
    }
    let Entries(entries) = serde_json::from_slice(options).ok()?;
    let mut out = Vec::with_capacity(options.len() + 24);
    out.push(b'{');
    for (k, v) in entries.iter().filter(|(k, _)| k != "include_usage") {
        push_key(&mut out, k);
        out.extend_from_slice(v.get().as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(br#""include_usage":true}"#);
    Some(out)
}
