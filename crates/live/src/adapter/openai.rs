//! OpenAI and Azure OpenAI (the same bodies; Azure names the model in the path).

use std::borrow::Cow;
use switchyard_core::dialect::{Dialect, Unsupported, azure_openai};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use switchyard_core::dialect::openai::{
    ChatRequest, Chunk as SeenChunk, CompletionUsage, DONE, PATH, parse_finish, pass_through,
    pass_through_at, read_chunk, read_forwarded,
};
use switchyard_core::request::{Choice, FinishReason, Request, ToolCall, Usage};

use super::checked::CheckedJson;
use super::raw::{self, Head, RawEvent};
use super::{
    Decoded, Failure, MAX_TOOL_CALLS, Piece, Step, StreamDecoder, estimated_usage, foreign_event,
    malformed,
};
use crate::sse::Event;
use switchyard_core::dialect::upstream;

/// The body for an OpenAI or Azure OpenAI target. A request whose client spoke OpenAI
/// (`request.original`) is sent as the client sent it, with only the model (Azure: removed,
/// the deployment in the path names it) and, for a stream, `stream_options.include_usage`
/// rewritten: fields Switchyard does not know reach the target unchanged.
pub(super) fn encode(model: &str, request: &Request, azure: bool) -> Result<Vec<u8>, Unsupported> {
    let body_model = (!azure).then_some(model);
    if let Some(original) = &request.original
        && original.dialect == Dialect::Openai
        && let Some(body) = match &original.layout {
            Some(layout) => pass_through_at(&original.body, layout, body_model, request.stream),
            None => pass_through(&original.body, body_model, request.stream),
        }
    {
        return Ok(body);
    }
    let body = ChatRequest::from_normalized(request, model)?;
    if !azure {
        return Ok(serde_json::to_vec(&body).unwrap_or_default());
    }
    // The deployment picks the model; the body does not name it.
    let mut json = serde_json::to_value(&body).unwrap_or_default();
    if let Some(map) = json.as_object_mut() {
        map.remove("model");
    }
    Ok(json.to_string().into_bytes())
}

/// Where an OpenAI (or Azure OpenAI: the deployment `model` in the path) request goes.
pub(super) fn path(model: &str, azure: bool) -> String {
    if azure {
        format!(
            "{}?api-version={}",
            azure_openai::path(model),
            azure_openai::API_VERSION
        )
    } else {
        PATH.to_owned()
    }
}

/// What `decode` reads of a `chat.completion`: the fields it needs, borrowed from the body,
/// with the rest skipped (but `id`, `object`, `created` and `model` still required, as in
/// [`ChatCompletion`](switchyard_core::dialect::openai::ChatCompletion)). Half the work of building the whole `ChatCompletion`, on every reply.
#[derive(Deserialize)]
struct Reply<C> {
    #[serde(rename = "id")]
    _id: IgnoredAny,
    #[serde(rename = "object")]
    _object: IgnoredAny,
    #[serde(rename = "created")]
    _created: IgnoredAny,
    #[serde(rename = "model")]
    _model: IgnoredAny,
    choices: Vec<C>,
    #[serde(default)]
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct ReplyChoice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(borrow)]
    message: ReplyMessage<'a>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ReplyMessage<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    /// A refusal (`content` is `null` then): its words are the reply's text.
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<Vec<WireCall>>,
}

/// A tool call as OpenAI writes it: a `function` call, or a `custom` tool's (its `input` is
/// the arguments text).
#[derive(Deserialize)]
struct WireCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
    #[serde(default)]
    custom: Option<WireCustom>,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct WireCustom {
    #[serde(default)]
    name: String,
    #[serde(default)]
    input: String,
}

fn tool_call(n: usize, c: WireCall) -> ToolCall {
    let (name, arguments) = match (c.function, c.custom) {
        (Some(f), _) => (f.name, f.arguments),
        (None, Some(c)) => (c.name, c.input),
        (None, None) => (String::new(), String::new()),
    };
    ToolCall {
        id: c.id.unwrap_or_else(|| format!("call_{n}")),
        name,
        arguments,
    }
}

pub(super) fn decode(body: &[u8]) -> Result<Decoded, Failure> {
    let reply: Reply<ReplyChoice<'_>> = serde_json::from_slice(body).map_err(|_| malformed())?;
    let mut choices: Vec<Choice> = Vec::with_capacity(reply.choices.len());
    let mut order: Vec<u32> = Vec::with_capacity(reply.choices.len());
    let mut count = 0usize;
    for c in reply.choices {
        let calls = c.message.tool_calls.unwrap_or_default();
        count = count.saturating_add(calls.len());
        if count > MAX_TOOL_CALLS {
            return Err(malformed());
        }
        let text = c
            .message
            .content
            .or(c.message.refusal)
            .map(Cow::into_owned)
            .unwrap_or_default();
        order.push(c.index);
        choices.push(Choice {
            text,
            tool_calls: calls
                .into_iter()
                .enumerate()
                .map(|(n, w)| tool_call(n, w))
                .collect(),
            finish_reason: c
                .finish_reason
                .as_deref()
                .map_or(FinishReason::Stop, parse_finish),
        });
    }
    // Choices in `index` order (vendors send them so; a proxy may not).
    if order.windows(2).any(|w| w[0] > w[1]) {
        let mut indexed: Vec<(u32, Choice)> = order.into_iter().zip(choices).collect();
        indexed.sort_by_key(|(i, _)| *i);
        choices = indexed.into_iter().map(|(_, c)| c).collect();
    }
    let mut rest = choices.into_iter();
    let first = rest.next().unwrap_or(Choice {
        text: String::new(),
        tool_calls: Vec::new(),
        finish_reason: FinishReason::Stop,
    });
    let usage = reply.usage.map(Usage::from);
    Ok(Decoded {
        usage: usage.unwrap_or_else(|| estimated_usage(&first.text)),
        usage_missing: usage.is_none(),
        text: first.text,
        tool_calls: first.tool_calls,
        finish: first.finish_reason,
        choices: rest.collect(),
        raw: None,
    })
}

/// A forwarded reply body shorter than this is copied into a buffer of its own; a longer one
/// is kept as it was read (a slice of the upstream connection's read buffer when it came in
/// one read, else the buffer `read_capped` joined it in, without slack). A response can wait
/// long on a client that reads slowly (the gateway's bound is a minute a write): a small one
/// then holds its own bytes, not the connection's whole buffer (8 KiB or more), which the
/// connection, back in its pool, would otherwise have to allocate again. A larger one is
/// shared: it fills more of its buffer, and not copying it saves a copy of its size (not
/// measured beyond the instruction counts in docs/PERFORMANCE.md).
pub(crate) const SHARED_FROM: usize = 4 * 1024;

/// `body` as the forwarded reply keeps it ([`SHARED_FROM`]).
pub(super) fn kept(body: &bytes::Bytes) -> bytes::Bytes {
    if body.len() < SHARED_FROM {
        bytes::Bytes::copy_from_slice(body)
    } else {
        body.clone()
    }
}

/// A reply the caller forwards as it came: only what the router books is read
/// ([`read_forwarded`], which accepts what [`decode`] accepts); without usage, the full decode
/// estimates it from the text.
pub(super) fn decode_raw(body: &bytes::Bytes) -> Option<Result<Decoded, Failure>> {
    let Ok(reply) = read_forwarded(body) else {
        return Some(Err(malformed()));
    };
    if reply.tool_calls > MAX_TOOL_CALLS {
        return Some(Err(malformed()));
    }
    let Some(usage) = reply.usage else {
        return Some(decode(body).map(|d| Decoded {
            raw: Some(kept(body)),
            ..d
        }));
    };
    Some(Ok(Decoded {
        text: String::new(),
        tool_calls: Vec::new(),
        finish: reply.finish,
        usage,
        usage_missing: false,
        choices: Vec::new(),
        raw: Some(kept(body)),
    }))
}

/// What `step` reads of a `chat.completion.chunk`: the fields of
/// [`ChatCompletionChunk`](switchyard_core::dialect::openai::ChatCompletionChunk), in its
/// order, each required and typed as there (a chunk it refuses is refused here), but text
/// borrowed from the event (a `Cow` owns only text with escapes), what `step` does not
/// use checked without being kept, and `usage` kept as its text (where it lies, for a
/// forwarded chunk, [`RawEvent::usage`]; read as [`CompletionUsage`] unless `null`).
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "object", borrow)]
    _object: Cow<'a, str>,
    created: u64,
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(rename = "system_fingerprint", default, borrow)]
    _system_fingerprint: Option<Cow<'a, str>>,
    #[serde(borrow)]
    choices: Vec<ChunkChoice<'a>>,
    /// `null` too, as its text.
    #[serde(default, borrow, deserialize_with = "raw_entry")]
    usage: Option<&'a RawValue>,
}

/// An entry's value as its text, `null` included (serde's `Option` reads `null` as absent).
fn raw_entry<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    index: u32,
    #[serde(default, borrow)]
    delta: Delta<'a>,
    #[serde(rename = "logprobs", default)]
    _logprobs: Option<CheckedJson>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Default, Deserialize)]
struct Delta<'a> {
    #[serde(rename = "role", default, borrow)]
    _role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    /// A refusal's words (`content` is `null` then): text of the reply, as in [`decode`], so
    /// its first piece is the stream's first token.
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<DeltaToolCall<'a>>>,
}

#[derive(Deserialize)]
struct DeltaToolCall<'a> {
    index: u32,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "type", default, borrow)]
    _kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    function: Option<DeltaFunction<'a>>,
}

#[derive(Default, Deserialize)]
struct DeltaFunction<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// One chunk. Only choice 0 is read: the gateway refuses streams with `n` > 1. A decoder that
/// forwards raw events gives the chunk as it came ([`Piece::Raw`]) before what it carries.
pub(super) fn step(
    d: &mut StreamDecoder,
    event: &Event,
    out: &mut Vec<Piece>,
) -> Result<Step, Failure> {
    if foreign_event(event) {
        return Ok(Step::More);
    }
    if event.data == DONE {
        return Ok(Step::Done);
    }
    // The usual chunk, in one pass; anything else (tool calls, log probabilities, several
    // choices, a defect) takes the full parse below, which reads all a chunk may hold.
    if let Some(chunk) = read_chunk(&event.data) {
        usual(d, &event.data, chunk, out);
        return Ok(Step::More);
    }
    // (Azure's opening filter-results chunk reads too: it has every field, no choices.)
    let (chunk, usage) = parse_chunk(&event.data).ok_or_else(|| error_event(&event.data))?;
    if d.forwards_raw() {
        let seen = SeenChunk {
            id: chunk.id.clone(),
            created: chunk.created,
            model: chunk.model.clone(),
            usage_at: chunk.usage.and_then(|u| raw::span_in(&event.data, u.get())),
            usage: usage.map(Usage::from),
            has_choice: !chunk.choices.is_empty(),
            content: None,
            refusal: None,
            finish: None,
        };
        out.push(Piece::Raw(forwarded(d, &event.data, &seen)));
    }
    if let Some(u) = usage {
        book(d, Usage::from(u));
    }
    for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
        if let Some(c) = choice.delta.content {
            d.text(out, c.into_owned());
        }
        if let Some(r) = choice.delta.refusal {
            d.text(out, r.into_owned());
        }
        for call in choice.delta.tool_calls.unwrap_or_default() {
            tool_call_piece(d, call, out)?;
        }
        if let Some(f) = &choice.finish_reason {
            d.finish = Some(parse_finish(f));
        }
    }
    Ok(Step::More)
}

/// What [`read_chunk`] read of a usual chunk, done as `step` does the full parse's.
fn usual(d: &mut StreamDecoder, data: &str, chunk: SeenChunk<'_>, out: &mut Vec<Piece>) {
    if d.forwards_raw() {
        out.push(Piece::Raw(forwarded(d, data, &chunk)));
    }
    if let Some(u) = chunk.usage {
        book(d, u);
    }
    if let Some(c) = chunk.content {
        d.text(out, c.into_owned());
    }
    if let Some(r) = chunk.refusal {
        d.text(out, r.into_owned());
    }
    if let Some(f) = chunk.finish {
        d.finish = Some(f);
    }
}

/// A chunk's usage, booked.
fn book(d: &mut StreamDecoder, u: Usage) {
    d.report_prompt(u.prompt_tokens);
    d.usage.cached_prompt_tokens = u.cached_prompt_tokens;
    d.report_completion(u.completion_tokens);
}

/// A chunk and its usage (`None` for absent or `null`), or `None` for text that is not one.
fn parse_chunk(data: &str) -> Option<(Chunk<'_>, Option<CompletionUsage>)> {
    let chunk: Chunk<'_> = serde_json::from_str(data).ok()?;
    let usage = match chunk.usage.map(RawValue::get) {
        None | Some("null") => None,
        Some(text) => Some(serde_json::from_str::<CompletionUsage>(text).ok()?),
    };
    Some((chunk, usage))
}

/// A chunk as it came (its `data`), for a decoder that forwards raw events.
fn forwarded(d: &mut StreamDecoder, data: &str, chunk: &SeenChunk<'_>) -> RawEvent {
    let reports_usage = chunk.usage.is_some();
    let mut raw = RawEvent::new(data, chunk.usage_at.clone());
    raw.reports_usage = reports_usage;
    raw.usage_only = reports_usage && !chunk.has_choice;
    raw.empty = !reports_usage && !chunk.has_choice;
    if !chunk.id.is_empty() && d.take_head() {
        raw.head = Some(Box::new(Head {
            id: chunk.id.as_ref().to_owned(),
            created: chunk.created,
            model: chunk.model.as_ref().to_owned(),
        }));
    }
    raw
}

/// A piece of a tool call: a new call (its first piece names it) or more arguments of one
/// already started; `malformed_response` for one that skips an index.
fn tool_call_piece(
    d: &mut StreamDecoder,
    call: DeltaToolCall<'_>,
    out: &mut Vec<Piece>,
) -> Result<(), Failure> {
    let function = call.function.unwrap_or_default();
    let arguments = function.arguments.unwrap_or_default();
    let known = d.calls.len();
    let index = call.index as usize;
    if index == known {
        let id = call
            .id
            .map_or_else(|| format!("call_{index}"), Cow::into_owned);
        let name = function.name.unwrap_or_default().into_owned();
        let i = d.start_call(id.clone(), name.clone())?;
        d.append_arguments(i, &arguments)?;
        out.push(Piece::ToolCall {
            index: i,
            id: Some(id),
            name: Some(name),
            arguments: arguments.into_owned(),
        });
    } else if index < known {
        d.append_arguments(call.index, &arguments)?;
        if !arguments.is_empty() {
            out.push(Piece::ToolCall {
                index: call.index,
                id: None,
                name: None,
                arguments: arguments.into_owned(),
            });
        }
    } else {
        // A call that skips an index: not OpenAI's shape.
        return Err(malformed());
    }
    Ok(())
}

/// A data line that is not a chunk: an `{"error":{...}}` event (classified, with the
/// upstream's words), or garbage (`malformed_response`).
fn error_event(data: &str) -> Failure {
    let Some(upstream) = upstream::parse(Dialect::Openai, 200, data.as_bytes()) else {
        return malformed();
    };
    Failure {
        outcome: switchyard_core::dialect::openai::classify(500, &[("x", "x")], data.as_bytes()),
        upstream: Some(Box::new(upstream)),
        usage: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use switchyard_core::dialect::openai::ChatCompletionChunk;

    use super::parse_chunk;

    /// Every place in `v` (by JSON pointer), the root excluded.
    fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
        let children: Vec<(String, &Value)> = match v {
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        };
        for (k, child) in children {
            let p = format!("{at}/{k}");
            out.push(p.clone());
            pointers(child, &p, out);
        }
    }

    /// The borrowed reading type accepts a chunk exactly when the owning one does: every
    /// field of a full chunk removed, or replaced by a value of each JSON type, and chunks
    /// that only a more lenient reader (`IgnoredAny`, unchecked strings) would take.
    #[test]
    fn the_chunk_read_accepts_what_the_owning_chunk_accepts() {
        let full = json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "system_fingerprint": "fp",
            "choices": [{
                "index": 0,
                "delta": {
                    "role": "assistant", "content": "hi",
                    "tool_calls": [{
                        "index": 0, "id": "call_1", "type": "function",
                        "function": {"name": "f", "arguments": "{}"}
                    }]
                },
                "logprobs": {"content": [{"token": "hi", "logprob": -0.5}]},
                "finish_reason": "stop"
            }],
            "usage": {
                "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                "prompt_tokens_details": {"cached_tokens": 0}
            }
        });
        let mut paths = Vec::new();
        pointers(&full, "", &mut paths);
        let replacements = [
            json!(null),
            json!(true),
            json!(-1),
            json!(7),
            json!(1.5),
            json!("x"),
            json!([]),
            json!({}),
        ];
        let mut texts = vec![full.to_string()];
        for p in &paths {
            let (parent, key) = p.rsplit_once('/').unwrap_or_default();
            let mut removed = full.clone();
            if let Some(Value::Object(m)) = removed.pointer_mut(parent) {
                m.remove(key);
                texts.push(removed.to_string());
            }
            for r in &replacements {
                let mut changed = full.clone();
                *changed.pointer_mut(p).unwrap() = r.clone();
                texts.push(changed.to_string());
            }
        }
        let base = full.to_string();
        for (from, to) in [
            (r#""logprob":-0.5"#, r#""logprob":-1e400"#),
            (r#""id":"c""#, r#""id":"\ud800""#),
            (r#""content":"hi""#, r#""content":"\udc00 hi""#),
            (r#""logprobs":{"#, r#""logprobs":{"\ud800":1,"#),
            (
                r#""token":"hi""#,
                &format!(r#""token":{}1{}"#, "[".repeat(130), "]".repeat(130)),
            ),
            (r#""id":"c""#, r#""id":"c","id":"d""#),
            (r#""content":"hi""#, r#""content":"h\u0069 \n""#),
        ] {
            assert!(base.contains(from), "{from}");
            texts.push(base.replacen(from, to, 1));
        }
        // A struct may also be written as an array of its fields, in order.
        texts.push(r#"["c","chat.completion.chunk",1,"m",null,[],null]"#.to_owned());
        texts.push(r#"["c","chat.completion.chunk",1,"m",[],null]"#.to_owned());
        let mut refused = 0;
        for text in &texts {
            let owning = serde_json::from_str::<ChatCompletionChunk>(text).is_ok();
            let read = parse_chunk(text).is_some();
            assert_eq!(read, owning, "{text}");
            refused += usize::from(!owning);
        }
        assert!(refused > 100, "{refused} of {} refused", texts.len());
    }

    /// What each reading gives of a chunk: id, created, model, per choice (index, text,
    /// finish, calls), usage.
    type Read = (
        String,
        u64,
        String,
        Vec<(
            u32,
            Option<String>,
            Option<String>,
            Vec<[Option<String>; 3]>,
        )>,
        Option<super::CompletionUsage>,
    );

    fn by_owning(text: &str) -> Option<Read> {
        let c: ChatCompletionChunk = serde_json::from_str(text).ok()?;
        let choices = c
            .choices
            .into_iter()
            .map(|ch| {
                let calls = ch
                    .delta
                    .tool_calls
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| {
                        let f = t.function.unwrap_or_default();
                        [t.id, f.name, f.arguments]
                    })
                    .collect();
                (ch.index, ch.delta.content, ch.finish_reason, calls)
            })
            .collect();
        Some((c.id, c.created, c.model, choices, c.usage.flatten()))
    }

    fn by_borrowed(text: &str) -> Option<Read> {
        let (c, usage) = parse_chunk(text)?;
        let own = |c: Option<std::borrow::Cow<'_, str>>| c.map(std::borrow::Cow::into_owned);
        let choices = c
            .choices
            .into_iter()
            .map(|ch| {
                let calls = ch
                    .delta
                    .tool_calls
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| {
                        let f = t.function.unwrap_or_default();
                        [own(t.id), own(f.name), own(f.arguments)]
                    })
                    .collect();
                (
                    ch.index,
                    own(ch.delta.content),
                    own(ch.finish_reason),
                    calls,
                )
            })
            .collect();
        Some((
            c.id.into_owned(),
            c.created,
            c.model.into_owned(),
            choices,
            usage,
        ))
    }

    /// Reviewer RS: byte-level mutations (every byte deleted, every position given one of a
    /// few JSON-significant bytes, every byte replaced by them) of chunks written compactly,
    /// pretty-printed and with Python's `", "` / `": "` separators: the borrowed read accepts
    /// exactly what `ChatCompletionChunk` accepts, and reads the same id, text, finish, calls
    /// and usage from it.
    #[test]
    fn byte_mutations_read_the_same_through_both_types() {
        let full = json!({
            "id": "c\u{e9}", "object": "chat.completion.chunk", "created": 17, "model": "m",
            "choices": [
                {"index": 0, "delta": {"content": "a\"b\\n", "tool_calls": [
                    {"index": 0, "id": "k", "function": {"name": "f", "arguments": "{}"}}]},
                 "logprobs": null, "finish_reason": null},
                {"index": 1, "delta": {}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                      "prompt_tokens_details": {"cached_tokens": null}}
        });
        let mut null_usage = full.clone();
        null_usage["usage"] = Value::Null;
        let python = |v: &Value| v.to_string().replace("\":", "\": ").replace(",\"", ", \"");
        let bases = [
            full.to_string(),
            serde_json::to_string_pretty(&full).unwrap(),
            python(&full),
            python(&null_usage),
            serde_json::to_string_pretty(&null_usage).unwrap(),
        ];
        let alphabet = [
            b' ', b'"', b',', b':', b'{', b'}', b'[', b'1', b'n', b'\\', b'-',
        ];
        let (mut checked, mut refused) = (0usize, 0usize);
        for base in &bases {
            assert!(by_owning(base).is_some(), "{base}");
            let bytes = base.as_bytes();
            let mut texts = Vec::new();
            for i in 0..=bytes.len() {
                if i < bytes.len() {
                    let mut v = bytes.to_vec();
                    v.remove(i);
                    texts.push(v);
                }
                for &b in &alphabet {
                    let mut v = bytes.to_vec();
                    v.insert(i, b);
                    texts.push(v);
                    if i < bytes.len() {
                        let mut v = bytes.to_vec();
                        v[i] = b;
                        texts.push(v);
                    }
                }
            }
            for t in texts {
                let Ok(text) = String::from_utf8(t) else {
                    continue;
                };
                let (owning, borrowed) = (by_owning(&text), by_borrowed(&text));
                assert_eq!(borrowed, owning, "{text}");
                checked += 1;
                refused += usize::from(owning.is_none());
            }
        }
        assert!(
            checked > 20_000 && refused > checked / 2,
            "{checked} {refused}"
        );
    }
}
