//! `read_chunk` against a serde reference: the typed parse the live adapter's stream decoder
//! does (its `Chunk`, field for field). Where `read_chunk` reads a chunk, the reference reads it
//! too, to the same values; the usual chunks of each kind are read (not left to the reference).

use std::borrow::Cow;

use proptest::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Chunk, MAX_DEPTH, read_chunk};
use crate::dialect::openai::{CompletionUsage, parse_finish};
use crate::request::{FinishReason, Usage};

#[derive(Deserialize)]
struct RefChunk<'a> {
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
    choices: Vec<RefChoice<'a>>,
    #[serde(default, borrow, deserialize_with = "raw_entry")]
    usage: Option<&'a RawValue>,
}

fn raw_entry<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct RefChoice<'a> {
    #[serde(rename = "index")]
    _index: u32,
    #[serde(default, borrow)]
    delta: RefDelta<'a>,
    /// The live decoder's `CheckedJson` accepts what `Value` accepts.
    #[serde(rename = "logprobs", default)]
    _logprobs: Option<serde_json::Value>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Default, Deserialize)]
struct RefDelta<'a> {
    #[serde(rename = "role", default, borrow)]
    _role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(rename = "tool_calls", default)]
    _tool_calls: Option<Vec<serde_json::Value>>,
}

/// What the reference reads, as a [`Chunk`]; `None` for a chunk it refuses. A chunk with tool
/// calls, several choices or one not indexed 0 is read too (its first choice's fields).
fn reference(data: &[u8]) -> Option<Chunk<'_>> {
    let text = std::str::from_utf8(data).ok()?;
    let c: RefChunk<'_> = serde_json::from_str(text).ok()?;
    let usage = match c.usage.map(RawValue::get) {
        None | Some("null") => None,
        Some(u) => Some(Usage::from(
            serde_json::from_str::<CompletionUsage>(u).ok()?,
        )),
    };
    let usage_at = c.usage.map(|u| {
        let start = u.get().as_ptr() as usize - text.as_ptr() as usize;
        start..start + u.get().len()
    });
    let first = c.choices.first();
    Some(Chunk {
        id: Cow::Owned(c.id.into_owned()),
        created: c.created,
        model: Cow::Owned(c.model.into_owned()),
        usage_at,
        usage,
        has_choice: first.is_some(),
        content: first.and_then(|f| f.delta.content.clone()),
        refusal: first.and_then(|f| f.delta.refusal.clone()),
        finish: first.and_then(|f| f.finish_reason.as_deref().map(parse_finish)),
    })
}

/// Where `read_chunk` reads, the reference reads the same. (An event's data is text: bytes
/// that are not UTF-8 never reach either.)
fn agree(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(got) = read_chunk(text) {
        assert_eq!(Some(got), reference(data), "{text}");
    }
}

const ROLE: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#;
const TEXT: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"content":"Hi \"there\"\n\u00e9\ud83d\ude00"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"}"#;
const FINISH: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}],"usage":null}"#;
const USAGE: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#;
/// Azure's opening chunk: no choices, its prompt's filter results; and its content chunks.
const AZURE_OPEN: &str = r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}"#;
const AZURE_TEXT: &str = r#"{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}},"delta":{"content":"Hi"},"finish_reason":null,"index":0,"logprobs":null}],"created":1700000000,"id":"chatcmpl-2","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk","system_fingerprint":"fp_y"}"#;
const REFUSAL: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":null,"refusal":"I can't"},"finish_reason":null}]}"#;

#[test]
fn the_usual_chunks_are_read_as_serde_reads_them() {
    for chunk in [ROLE, TEXT, FINISH, USAGE, AZURE_OPEN, AZURE_TEXT, REFUSAL] {
        let got = read_chunk(chunk);
        assert!(got.is_some(), "not read: {chunk}");
        assert_eq!(got, reference(chunk.as_bytes()), "{chunk}");
    }
    let text = read_chunk(TEXT).unwrap();
    assert_eq!(text.content.as_deref(), Some("Hi \"there\"\né😀"));
    assert_eq!(
        text.usage_at,
        Some(TEXT.find("null,\"obf").unwrap()..TEXT.find(",\"obf").unwrap())
    );
    assert_eq!(text.finish, None);
    assert_eq!(
        read_chunk(FINISH).unwrap().finish,
        Some(FinishReason::Length)
    );
    let usage = read_chunk(USAGE).unwrap();
    assert!(!usage.has_choice);
    assert_eq!(
        usage.usage,
        Some(Usage {
            prompt_tokens: 5,
            completion_tokens: 7,
            cached_prompt_tokens: 2
        })
    );
    assert_eq!(&USAGE[usage.usage_at.unwrap()][..16], r#"{"prompt_tokens""#);
    assert_eq!(
        read_chunk(REFUSAL).unwrap().refusal.as_deref(),
        Some("I can't")
    );
    assert_eq!(read_chunk(AZURE_OPEN).unwrap().usage_at, None);
}

/// Chunks the full parse reads and this one leaves to it: tool calls, log probabilities,
/// several choices, an index that is not 0, a struct as an array, deep nesting.
#[test]
fn what_it_does_not_read_is_left_to_the_full_parse() {
    let one = |base: &str, from: &str, to: &str| {
        assert_eq!(base.matches(from).count(), 1, "{from}");
        base.replacen(from, to, 1)
    };
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    let left = [
        one(
            FINISH,
            r#""delta":{}"#,
            r#""delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":""}}]}"#,
        ),
        one(FINISH, r#""logprobs":null"#, r#""logprobs":{"content":[]}"#),
        one(
            FINISH,
            r#""choices":[{"#,
            r#""choices":[{"index":0,"delta":{}},{"#,
        ),
        one(FINISH, r#""index":0"#, r#""index":1"#),
        one(FINISH, r#""usage":null"#, r#""usage":[5,7,12]"#),
        one(
            FINISH,
            r#""usage":null"#,
            &format!(r#""usage":null,"x":{deep}"#),
        ),
    ];
    for chunk in &left {
        assert!(
            reference(chunk.as_bytes()).is_some(),
            "the full parse reads {chunk}"
        );
        assert_eq!(read_chunk(chunk), None, "{chunk}");
    }
    // Nesting up to the bound is read.
    let within = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(
        read_chunk(&one(
            FINISH,
            r#""usage":null"#,
            &format!(r#""usage":null,"x":{within}"#)
        ))
        .is_some()
    );
}

/// Chunks that differ from a usual one in one defect each: neither parse reads them.
#[test]
fn one_defect_is_enough_to_refuse_a_chunk() {
    let one = |base: &str, from: &str, to: &str| {
        assert_eq!(base.matches(from).count(), 1, "{from}");
        base.replacen(from, to, 1)
    };
    let bad = [
        one(ROLE, r#""id":"chatcmpl-1","#, ""),
        one(ROLE, r#""id":"chatcmpl-1","#, r#""id":null,"#),
        one(ROLE, r#""object":"chat.completion.chunk","#, ""),
        one(ROLE, r#""created":1700000000,"#, r#""created":-1,"#),
        one(ROLE, r#""created":1700000000,"#, r#""created":1.5,"#),
        one(
            ROLE,
            r#""created":1700000000,"#,
            r#""created":18446744073709551616,"#,
        ),
        one(
            ROLE,
            r#""model":"gpt-4o","#,
            r#""model":"gpt-4o","model":"m","#,
        ),
        one(
            ROLE,
            r#""system_fingerprint":"fp_x","#,
            r#""system_fingerprint":5,"#,
        ),
        one(ROLE, r#""role":"assistant""#, r#""role":1"#),
        one(ROLE, r#""content":"""#, r#""content":["a"]"#),
        one(
            ROLE,
            r#""refusal":null"#,
            r#""refusal":null,"content":"again""#,
        ),
        one(ROLE, r#""finish_reason":null"#, r#""finish_reason":2"#),
        one(ROLE, r#""index":0,"#, ""),
        one(ROLE, r#""delta":{"#, r#""delta":null,"d":{"#),
        one(ROLE, r#""usage":null"#, r#""usage":{"prompt_tokens":1}"#),
        one(ROLE, r#""usage":null"#, r#""usage":nul"#),
        one(ROLE, r#""usage":null}"#, r#""usage":null}x"#),
        one(ROLE, r#""usage":null}"#, r#""usage":null,}"#),
        one(TEXT, r#""Hi "#, r#""Hi \ud800 "#),
        one(TEXT, r#""Hi "#, "\"Hi \u{1} "),
    ];
    for chunk in &bad {
        assert_eq!(read_chunk(chunk), None, "{chunk}");
        assert!(
            reference(chunk.as_bytes()).is_none(),
            "the reference reads {chunk}"
        );
    }
}

/// The bytes a mutation puts in (as `read_forwarded`'s tests).
const NOISE: &[u8] = b"{}[]:,\"\\-+.eE0159ntrfu \x01\xff\xc3\xa9\xf0\x9f\x98";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Random edits of usual chunks: where `read_chunk` reads one, the reference reads it the same.
    #[test]
    fn mutations_are_read_as_serde_reads_them_or_left_to_it(
        base in 0usize..7,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<prop::sample::Index>()), 1..4),
    ) {
        let bases = [ROLE, TEXT, FINISH, USAGE, AZURE_OPEN, AZURE_TEXT, REFUSAL];
        let mut data = bases[base].as_bytes().to_vec();
        for (at, op, byte) in edits {
            let i = at.index(data.len());
            let b = NOISE[byte.index(NOISE.len())];
            match op {
                0 => data[i] = b,
                1 => data.insert(i, b),
                _ => {
                    data.remove(i);
                }
            }
            if data.is_empty() {
                break;
            }
        }
        agree(&data);
    }
}
