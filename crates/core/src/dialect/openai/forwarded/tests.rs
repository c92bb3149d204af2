//! `read_forwarded` against a serde reference (the typed parse the live adapter used before,
//! reading the same fields): the same verdict and the same figures on hand-made bodies that
//! differ from a valid reply in one defect each, and on random mutations of valid replies.

use std::borrow::Cow;

use proptest::prelude::*;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Forwarded, NotAReply, read_forwarded};
use crate::dialect::openai::{CompletionUsage, parse_finish};
use crate::request::{FinishReason, Usage};

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(rename = "id")]
    _id: IgnoredAny,
    #[serde(rename = "object")]
    _object: IgnoredAny,
    #[serde(rename = "created")]
    _created: IgnoredAny,
    #[serde(rename = "model")]
    _model: IgnoredAny,
    #[serde(borrow)]
    choices: Vec<RawChoice<'a>>,
    #[serde(default)]
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct RawChoice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(rename = "message")]
    message: RawMessage<'a>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(default, borrow, rename = "content")]
    _content: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "refusal")]
    _refusal: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<Vec<IgnoredAny>>,
}

/// What the serde parse concludes.
fn reference(body: &[u8]) -> Result<Forwarded, NotAReply> {
    let text = std::str::from_utf8(body).map_err(|_| NotAReply)?;
    let reply: Reply<'_> = serde_json::from_str(text).map_err(|_| NotAReply)?;
    Ok(Forwarded {
        usage: reply.usage.map(Usage::from),
        finish: reply
            .choices
            .iter()
            .min_by_key(|c| c.index)
            .and_then(|c| c.finish_reason.as_deref())
            .map_or(FinishReason::Stop, parse_finish),
        tool_calls: reply
            .choices
            .iter()
            .map(|c| c.message.tool_calls.as_ref().map_or(0, Vec::len))
            .sum(),
    })
}

/// Whether serde read a struct from a JSON array somewhere (which `read_forwarded` refuses
/// on purpose: no vendor writes one).
fn struct_as_array(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let usage = &v["usage"];
    v.is_array()
        || usage.is_array()
        || usage["prompt_tokens_details"].is_array()
        || v["choices"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c.is_array() || c["message"].is_array()))
}

/// The scanner agrees with the reference, or refuses a struct written as an array.
fn agree(body: &[u8]) {
    let got = read_forwarded(body);
    let want = reference(body);
    if want.is_ok() && got.is_err() && struct_as_array(body) {
        return;
    }
    assert_eq!(got, want, "{}", String::from_utf8_lossy(body));
}

const VALID: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\"\n\u00e9\ud83d\ude00","refusal":null},"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0}},"system_fingerprint":"fp_x"}"#;

#[test]
fn a_valid_reply_gives_its_usage_and_finish() {
    let got = read_forwarded(VALID.as_bytes()).unwrap();
    assert_eq!(
        got,
        Forwarded {
            usage: Some(Usage {
                prompt_tokens: 5,
                completion_tokens: 7,
                cached_prompt_tokens: 2,
            }),
            finish: FinishReason::Length,
            tool_calls: 0,
        }
    );
    agree(VALID.as_bytes());
}

/// Bodies that differ from [`VALID`] in exactly one place each, and must be refused.
#[test]
fn one_defect_is_enough_to_refuse_a_body() {
    let one = |from: &str, to: &str| {
        assert_eq!(VALID.matches(from).count(), 1, "{from}");
        VALID.replacen(from, to, 1)
    };
    let bad: Vec<String> = vec![
        // usage: one bad count, the others intact
        one(r#""prompt_tokens":5,"#, r#""prompt_tokens":-5,"#),
        one(r#""prompt_tokens":5,"#, r#""prompt_tokens":5.0,"#),
        one(r#""prompt_tokens":5,"#, r#""prompt_tokens":"5","#),
        one(r#""prompt_tokens":5,"#, r#""prompt_tokens":05,"#),
        one(r#""prompt_tokens":5,"#, r#""prompt_tokens":4294967296,"#),
        one(r#""prompt_tokens":5,"#, r#""prompt_tokens":5e0,"#),
        one(r#""prompt_tokens":5,"#, r#""prompt_tokens":null,"#),
        one(r#""prompt_tokens":5,"#, ""),
        one(r#""completion_tokens":7,"#, ""),
        one(r#""total_tokens":12,"#, r#""total_tokens":-0,"#),
        one(r#""total_tokens":12,"#, ""),
        one(
            r#""prompt_tokens":5,"#,
            r#""prompt_tokens":5,"prompt_tokens":5,"#,
        ),
        one(r#""cached_tokens":2"#, r#""cached_tokens":-2"#),
        one(r#""cached_tokens":2"#, r#""cached_tokens":"2""#),
        one(
            r#""prompt_tokens_details":{"#,
            r#""prompt_tokens_details":3,"x":{"#,
        ),
        one(r#""usage":{"#, r#""usage":"lots","x":{"#),
        // the reply's shape
        one(r#""id":"chatcmpl-1","#, ""),
        one(r#""object":"chat.completion","#, ""),
        one(r#""created":1700000000,"#, ""),
        one(r#""model":"gpt-4o","#, ""),
        one(r#""model":"gpt-4o","#, r#""model":"gpt-4o","model":"m","#),
        one(
            r#""choices":[{"index":0,"#,
            r#""choices":null,"c":[{"index":0,"#,
        ),
        one(r#""message":{"role""#, r#""msg":{"role""#),
        one(r#""refusal":null"#, r#""refusal":5"#),
        one(r#""refusal":null"#, r#""refusal":null,"content":"again""#),
        one(r#""refusal":null"#, r#""tool_calls":{}"#),
        one(r#""finish_reason":"length""#, r#""finish_reason":1"#),
        one(r#""index":0,"#, r#""index":-1,"#),
        one(r#""index":0,"#, r#""index":null,"#),
        // JSON itself
        one(r#""fp_x"}"#, r#""fp_x"}x"#),
        one(r#""fp_x"}"#, r#""fp_x""#),
        one(r#""fp_x"}"#, r#""fp_x",}"#),
        one(r#""fp_x"}"#, "\"fp\u{1}x\"}"),
        one(r#""fp_x"}"#, r#""fp\x"}"#),
        one(r#""fp_x"}"#, r#""fp\u12"}"#),
        one(r#""fp_x"}"#, r#""fp_x","y":tru}"#),
        one(r#""fp_x"}"#, r#""fp_x","y":01}"#),
        one(r#""fp_x"}"#, r#""fp_x","y":1.}"#),
        one(r#""fp_x"}"#, r#""fp_x","y":[1,]}"#),
        one(r#""fp_x"}"#, r#""fp_x","y":[[{"a":1}]}"#),
        one(r#""fp_x"}"#, r#""fp_x","y":{"a"}}"#),
        one(r#""fp_x"}"#, r#""fp_x",y:1}"#),
        one(r#""Hi "#, r#""Hi \ud800 "#),
        one(r#""Hi "#, r#""Hi \udc00 "#),
    ];
    for body in &bad {
        assert_eq!(read_forwarded(body.as_bytes()), Err(NotAReply), "{body}");
        agree(body.as_bytes());
    }
    // Not UTF-8, inside a value neither reads.
    let mut bytes = VALID.as_bytes().to_vec();
    let at = VALID.find("fp_x").unwrap();
    bytes[at] = 0xff;
    assert_eq!(read_forwarded(&bytes), Err(NotAReply));
    agree(&bytes);
    // A struct written as an array: serde reads it by position, this reader refuses it.
    let array = one(
        r#""usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0}}"#,
        r#""usage":[5,7,12]"#,
    );
    assert!(reference(array.as_bytes()).is_ok());
    assert_eq!(read_forwarded(array.as_bytes()), Err(NotAReply));
}

#[test]
fn what_may_vary_is_read_as_serde_reads_it() {
    let ok: Vec<String> = vec![
        VALID.replacen(r#""usage":{"#, r#""usage":null,"u":{"#, 1),
        VALID.replacen(r#""usage":{"#, r#""us\u0061ge":{"#, 1),
        VALID.replacen(r#""cached_tokens":2"#, r#""cached_tokens":null"#, 1),
        VALID.replacen(r#""cached_tokens":2"#, r#""cached_tokens":9"#, 1),
        VALID.replacen(r#""prompt_tokens_details":{"#, r#""prompt_tokens_details":null,"d":{"#, 1),
        VALID.replacen(r#""finish_reason":"length""#, r#""finish_reason":"tool_\u0063alls""#, 1),
        VALID.replacen(r#""finish_reason":"length""#, r#""finish_reason":null"#, 1),
        VALID.replacen(r#""refusal":null"#, r#""tool_calls":[{"id":"a"},{"id":"b"}],"tool_calls_x":[]"#, 1),
        VALID.replacen(
            r#""choices":[{"index":0,"#,
            r#""choices":[{"index":3,"message":{},"finish_reason":"stop"},{"index":1,"message":{"content":null},"finish_reason":"content_filter"},{"index":1,"message":{},"finish_reason":"stop"},{"index":0,"#,
            1,
        ),
        VALID.replacen(r#""choices":[{"#, r#""choices":[],"c":[{"#, 1),
        format!(" \n\t{VALID}\r\n "),
        VALID.replacen(r#""fp_x"}"#, r#""fp_x","deep":[{"a":[1,-2.5e+3,true,false,null,"\u0000\""]}],"n":-0.0E-0}"#, 1),
    ];
    for body in &ok {
        assert!(read_forwarded(body.as_bytes()).is_ok(), "{body}");
        agree(body.as_bytes());
    }
    let calls = read_forwarded(ok[7].as_bytes()).unwrap();
    assert_eq!(calls.tool_calls, 2);
    let lowest = read_forwarded(ok[8].as_bytes()).unwrap();
    assert_eq!(lowest.finish, FinishReason::Length);
    assert_eq!(read_forwarded(ok[0].as_bytes()).unwrap().usage, None);
    assert_eq!(
        read_forwarded(ok[3].as_bytes())
            .unwrap()
            .usage
            .unwrap()
            .cached_prompt_tokens,
        5,
        "capped at the prompt"
    );
}

/// UTF-8 is checked in every string, kept, checked or skipped, wherever the text that is not
/// ASCII lies in it (the scan reads eight bytes at a time): whole sequences pass, a cut or
/// stray one refuses the body, as the serde parse of the whole body does.
#[test]
fn text_that_is_not_ascii_is_read_as_utf8_wherever_it_lies() {
    let places = [r#""fp_x""#, r#""gpt-4o""#, r#""length""#, r#""chatcmpl-1""#];
    for place in places {
        for text in [
            "é",
            "😀",
            "aé",
            "abcdefgé",
            "abcdefghé",
            "é\\n😀",
            "ab\\u00e9cdefghij😀",
        ] {
            for (bytes, ok) in [
                (text.as_bytes().to_vec(), true),
                // Cut: the last byte of the last sequence dropped.
                (text.as_bytes()[..text.len() - 1].to_vec(), false),
                // A continuation byte with no lead.
                ([text.as_bytes(), b"\x80"].concat(), false),
                // A lead byte and then ASCII.
                ([b"ab\xc3".as_slice(), text.as_bytes()].concat(), false),
            ] {
                let inner = &place[1..place.len() - 1];
                let mut body = VALID.as_bytes().to_vec();
                let at = VALID.find(place).unwrap() + 1;
                body.splice(at..at + inner.len(), bytes.iter().copied());
                let label = String::from_utf8_lossy(&body).into_owned();
                assert_eq!(read_forwarded(&body).is_ok(), ok, "{label}");
                agree(&body);
            }
        }
    }
}

#[test]
fn deep_nesting_in_a_skipped_value_neither_overflows_nor_passes_unclosed() {
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let body = VALID.replacen(r#""fp_x"}"#, &format!(r#""fp_x","deep":{deep}}}"#), 1);
    assert!(read_forwarded(body.as_bytes()).is_ok());
    let open = VALID.replacen(
        r#""fp_x"}"#,
        &format!(r#""fp_x","deep":{}}}"#, "[".repeat(100_000)),
        1,
    );
    assert_eq!(read_forwarded(open.as_bytes()), Err(NotAReply));
}

/// The bytes a mutation puts in: JSON's punctuation, digits, letters of its words, escapes,
/// a control character, a byte that is never UTF-8, and the lead and continuation bytes of
/// two- and four-byte sequences (`é`, an emoji).
const NOISE: &[u8] = b"{}[]:,\"\\-+.eE0159ntrfu \x01\xff\xc3\xa9\xf0\x9f\x98";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Random edits of valid replies: the scanner and the serde parse agree on each.
    #[test]
    fn mutations_get_the_same_verdict(
        base in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<prop::sample::Index>()), 1..4),
    ) {
        let bases = [
            VALID.to_owned(),
            VALID.replacen(r#""refusal":null"#, r#""tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}}]"#, 1),
            VALID.replacen(r#""choices":[{"index":0,"#, r#""choices":[{"index":1,"message":{},"finish_reason":"stop"},{"index":0,"#, 1),
        ];
        let mut body = bases[base].clone().into_bytes();
        for (at, op, byte) in edits {
            let i = at.index(body.len());
            let b = NOISE[byte.index(NOISE.len())];
            match op {
                0 => body[i] = b,
                1 => body.insert(i, b),
                _ => {
                    body.remove(i);
                }
            }
            if body.is_empty() {
                break;
            }
        }
        agree(&body);
    }
}
