//! A same-dialect stream's chunks as the target sent them, for a caller that forwards them
//! (an OpenAI client's stream served by an OpenAI or Azure OpenAI target, see
//! [`StreamDecoder::forward_raw`](super::StreamDecoder::forward_raw)).
//!
//! Each chunk's data goes on as it came, re-framed only as `data: ...\n\n` (a data of several
//! lines, which no vendor sends, as one `data:` line each, so the client joins them back to
//! the same text). What the decoder read of it is the same single parse that decodes the
//! chunk: no second parse. The bytes are copied once to frame them (`RawEvent::new`);
//! each is searched for a bare carriage return (memchr), and one that holds one is copied
//! once more to make it a space; for a client that did not ask for usage, each chunk with a
//! `usage` entry is copied again without it ([`RawEvent::without_usage`]).
//!
//! The driver always asks an OpenAI upstream for usage (`stream_options.include_usage`), so
//! its chunks carry `"usage":null` and its last one the usage: [`RawEvent::usage`] says where
//! that entry lies, for a caller whose client did not ask to cut it.

use std::ops::Range;

use bytes::Bytes;

/// One chunk to forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEvent {
    /// The event's bytes: `data: <the chunk's data as sent>\n\n`.
    pub wire: Bytes,
    /// Where the chunk's top-level `usage` entry lies in `wire`, with the comma between it and
    /// its neighbour: cut out, the rest is the same chunk without `usage`. `None`: the chunk
    /// has no `usage` (or names it with escapes, which is not cut).
    pub usage: Option<Range<usize>>,
    /// The chunk reports usage (its `usage` is not `null`).
    pub reports_usage: bool,
    /// ... and has no choices: the stream's usage chunk.
    pub usage_only: bool,
    /// The chunk has no choices and reports no usage: it carries nothing for the client (Azure
    /// opens its streams with one, its prompt's `prompt_filter_results`).
    pub empty: bool,
    /// The stream's `id`, `created` and `model`, on the first chunk that has an `id`: what a
    /// caller that renders the rest of the stream itself keeps saying.
    pub head: Option<Box<Head>>,
}

/// What identifies a stream's chunks to its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub id: String,
    pub created: u64,
    pub model: String,
}

impl RawEvent {
    /// The event framed from a chunk's `data`, with its `usage` value at `usage` (a range of
    /// `data`), when it has one.
    pub(super) fn new(data: &str, usage: Option<Range<usize>>) -> Self {
        let cut = usage.and_then(|v| usage_cut(data.as_bytes(), v));
        let (wire, usage) = frame(data, cut);
        RawEvent {
            wire,
            usage,
            reports_usage: false,
            usage_only: false,
            empty: false,
            head: None,
        }
    }

    /// [`wire`](Self::wire) without the `usage` entry (as it is when there is none).
    pub fn without_usage(&self) -> Bytes {
        let Some(cut) = &self.usage else {
            return self.wire.clone();
        };
        let (Some(before), Some(after)) = (self.wire.get(..cut.start), self.wire.get(cut.end..))
        else {
            return self.wire.clone();
        };
        let mut out = Vec::with_capacity(before.len() + after.len());
        out.extend_from_slice(before);
        out.extend_from_slice(after);
        Bytes::from(out)
    }
}

const PREFIX: &str = "data: ";

/// `data: <data>\n\n`, and `cut` (a range of `data`) as a range of it. Line breaks are
/// found with the memchr crate's search (a chunk has none, as every vendor sends it): a
/// byte-by-byte count, three times over the chunk, was a fifth of a forwarded chunk's cost.
fn frame(data: &str, cut: Option<Range<usize>>) -> (Bytes, Option<Range<usize>>) {
    // The usual chunk, one line without a carriage return: one search says so.
    if memchr::memchr2(b'\n', b'\r', data.as_bytes()).is_none() {
        let mut wire = Vec::with_capacity(data.len().saturating_add(PREFIX.len() + 2));
        wire.extend_from_slice(PREFIX.as_bytes());
        wire.extend_from_slice(data.as_bytes());
        wire.extend_from_slice(b"\n\n");
        let at = |p: usize| p.saturating_add(PREFIX.len());
        return (Bytes::from(wire), cut.map(|c| at(c.start)..at(c.end)));
    }
    let breaks = |text: &[u8]| memchr::memchr_iter(b'\n', text).count();
    let lines = breaks(data.as_bytes());
    let mut wire = String::with_capacity(
        data.len()
            .saturating_add(PREFIX.len().saturating_mul(lines.saturating_add(1)))
            .saturating_add(2),
    );
    wire.push_str(PREFIX);
    if lines == 0 {
        wire.push_str(data);
    } else {
        for (i, line) in data.split('\n').enumerate() {
            if i > 0 {
                wire.push('\n');
                wire.push_str(PREFIX);
            }
            wire.push_str(line);
        }
    }
    wire.push_str("\n\n");
    // A bare CR ends a line for an SSE client: in JSON it can only be whitespace between
    // tokens (one in a string is escaped), so it becomes a space (same length, same offsets).
    if memchr::memchr(b'\r', wire.as_bytes()).is_some() {
        wire = wire.replace('\r', " ");
    }
    // A byte of `data` moves by the prefix and by one more prefix per line break before it.
    let at = |p: usize| {
        let before = match lines {
            0 => 0,
            _ => data.as_bytes().get(..p).map_or(0, breaks),
        };
        p.saturating_add(PREFIX.len().saturating_mul(before.saturating_add(1)))
    };
    let cut = cut.map(|c| at(c.start)..at(c.end));
    (Bytes::from(wire), cut)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Where `bytes[..end]` ends once trailing JSON whitespace is left out.
fn trim_end(bytes: &[u8], end: usize) -> usize {
    let mut i = end.min(bytes.len());
    while i > 0 && bytes.get(i - 1).copied().is_some_and(is_space) {
        i -= 1;
    }
    i
}

/// The range to cut for a top-level `"usage": <value>` entry whose value lies at `value` in
/// the object `json`: from the comma before it to the value's end, or, when it is the first
/// entry, from its key through the comma after it. `None` when the text before the value is
/// not exactly `"usage"` and a colon (a key written with escapes).
fn usage_cut(json: &[u8], value: Range<usize>) -> Option<Range<usize>> {
    const KEY: &[u8] = b"\"usage\"";
    let colon = trim_end(json, value.start).checked_sub(1)?;
    if json.get(colon) != Some(&b':') {
        return None;
    }
    let key_end = trim_end(json, colon);
    let key_start = key_end.checked_sub(KEY.len())?;
    if json.get(key_start..key_end) != Some(KEY) {
        return None;
    }
    let before = trim_end(json, key_start).checked_sub(1)?;
    match json.get(before)? {
        b',' => Some(before..value.end),
        b'{' => {
            let rest = json.get(value.end..)?;
            let skip = rest.iter().take_while(|&&b| is_space(b)).count();
            match rest.get(skip)? {
                b',' => Some(key_start..value.end.checked_add(skip)?.checked_add(1)?),
                b'}' => Some(key_start..value.end),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Where `part` (a slice of `whole`) lies in it; `None` when it is not one.
pub(super) fn span_in(whole: &str, part: &str) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (whole.get(start..end) == Some(part)).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(json: &str) -> String {
        let v = json.find("VALUE").unwrap();
        let e = RawEvent::new(json, Some(v..v + 5));
        String::from_utf8(e.without_usage().to_vec()).unwrap()
    }

    #[test]
    fn the_usage_entry_is_cut_wherever_it_lies() {
        assert_eq!(cut(r#"{"a":1,"usage":VALUE}"#), "data: {\"a\":1}\n\n");
        assert_eq!(
            cut(r#"{"a":1 , "usage" : VALUE }"#),
            "data: {\"a\":1  }\n\n"
        );
        assert_eq!(cut(r#"{"usage":VALUE,"a":1}"#), "data: {\"a\":1}\n\n");
        assert_eq!(cut(r#"{ "usage":VALUE }"#), "data: {  }\n\n");
        assert_eq!(
            cut(r#"{"a":1,"usage":VALUE,"b":2}"#),
            "data: {\"a\":1,\"b\":2}\n\n"
        );
        // A key with an escape is left as it is.
        assert_eq!(
            cut(r#"{"a":1,"\u0075sage":VALUE}"#),
            "data: {\"a\":1,\"\\u0075sage\":VALUE}\n\n"
        );
    }

    #[test]
    fn a_data_of_several_lines_is_framed_line_by_line_and_cut_in_place() {
        let json = "{\"a\":1,\n\"usage\":VALUE\n}";
        assert_eq!(cut(json), "data: {\"a\":1\ndata: }\n\n");
        let e = RawEvent::new(json, None);
        assert_eq!(
            &e.wire[..],
            b"data: {\"a\":1,\ndata: \"usage\":VALUE\ndata: }\n\n"
        );
    }

    #[test]
    fn a_span_is_found_only_for_a_slice_of_the_whole() {
        let whole = String::from("abcdef");
        assert_eq!(span_in(&whole, &whole[2..4]), Some(2..4));
        assert_eq!(span_in(&whole, "cd"), None);
    }

    /// Reviewer RS: the SSE parser ends lines only at `\n`, so a data whose JSON has a bare
    /// `\r` between tokens (whitespace to JSON) reads as one chunk and is forwarded with the
    /// `\r` in its `data:` line; but `\r` alone ends a line in the SSE spec, and clients split
    /// there (the OpenAI SDKs' decoders do): the client reads `data: {"a":1,` and a line
    /// `"b":2}`, a chunk it cannot parse, from a chunk the gateway accepted.
    #[test]
    fn a_forwarded_event_has_no_bare_carriage_return() {
        let e = RawEvent::new("{\"a\":1,\r\"b\":2}", None);
        let body = &e.wire[..e.wire.len() - 2];
        assert!(
            !body.contains(&b'\r'),
            "{:?}",
            String::from_utf8_lossy(&e.wire)
        );
    }
}
