//! Reading a streamed `chat.completion.chunk` in one pass ([`read_chunk`]): what a stream's
//! decoder books and forwards of the usual chunk (text, finish reason, usage, the stream's
//! `id`, `created` and `model`), without serde's typed parse.
//!
//! It reads only the usual shape and says `None` for anything else, for the caller to take
//! its full (serde) parse: a chunk with `tool_calls` or `logprobs` that are not `null`, more
//! than one choice or one whose `index` is not 0, a struct written as an array, nesting deeper
//! than [`MAX_DEPTH`] in a skipped value, a number it does not read the way serde does, or
//! anything that is not a valid chunk. What it accepts, the full parse accepts too, with the
//! same values: its tests hold that against a serde reference on valid chunks and on random
//! mutations of them.

use std::borrow::Cow;
use std::ops::Range;

use super::{NotAReply, Read, Scan, Seen, Str};
use crate::dialect::openai::parse_finish;
use crate::request::{FinishReason, Usage};

/// How deep a skipped value may nest before the chunk is left to the full parse (serde's own
/// limit is 128 levels).
pub const MAX_DEPTH: usize = 64;

/// What [`read_chunk`] read of a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The chunk's `id`, `created` and `model`: what identifies the stream to its client.
    pub id: Cow<'a, str>,
    /// See [`id`](Self::id).
    pub created: u64,
    /// See [`id`](Self::id).
    pub model: Cow<'a, str>,
    /// Where the top-level `usage` value lies in the chunk's bytes (`null` included; the
    /// whitespace around it not); `None` when the chunk has no `usage`.
    pub usage_at: Option<Range<usize>>,
    /// `usage` read, when it is not `null`.
    pub usage: Option<Usage>,
    /// The chunk has a choice (its one choice, index 0); `false`: `choices` is empty.
    pub has_choice: bool,
    /// The choice's `delta.content` (absent or `null`: `None`).
    pub content: Option<Cow<'a, str>>,
    /// The choice's `delta.refusal` (absent or `null`: `None`).
    pub refusal: Option<Cow<'a, str>>,
    /// The choice's `finish_reason`, read by [`parse_finish`] (absent or `null`: `None`).
    pub finish: Option<FinishReason>,
}

/// Reads `data`, a chunk's JSON, or `None` (see the module doc).
pub fn read_chunk(data: &str) -> Option<Chunk<'_>> {
    let mut s = Scan {
        b: data.as_bytes(),
        i: 0,
        max_depth: MAX_DEPTH,
    };
    let mut seen = Seen::default();
    let mut id = None;
    let mut model = None;
    let mut created = 0;
    let mut usage_at = None;
    let mut usage = None;
    let mut choice = None;
    s.object(|s, key| match &*key {
        b"id" => {
            seen.once(1)?;
            id = Some(s.text(data)?);
            Ok(())
        }
        b"object" => {
            seen.once(2)?;
            s.text(data).map(drop)
        }
        b"created" => {
            seen.once(4)?;
            created = s.u64()?;
            Ok(())
        }
        b"model" => {
            seen.once(8)?;
            model = Some(s.text(data)?);
            Ok(())
        }
        b"system_fingerprint" => {
            seen.once(16)?;
            s.text_or_null(Str::Check).map(drop)
        }
        b"choices" => {
            seen.once(32)?;
            s.array(|s| {
                if choice.is_some() {
                    return Err(NotAReply);
                }
                choice = Some(s.choice(data)?);
                Ok(())
            })
        }
        b"usage" => {
            seen.once(64)?;
            s.ws();
            let start = s.i;
            usage = s.usage()?;
            usage_at = Some(start..s.i);
            Ok(())
        }
        _ => s.skip(),
    })
    .ok()?;
    s.ws();
    // id, object, created, model and choices are required.
    if s.i != s.b.len() || !seen.all(1 | 2 | 4 | 8 | 32) {
        return None;
    }
    let has_choice = choice.is_some();
    let (content, refusal, finish) = choice.unwrap_or_default();
    Some(Chunk {
        id: id?,
        created,
        model: model?,
        usage_at,
        usage,
        has_choice,
        content,
        refusal,
        finish,
    })
}

/// A choice's content, refusal and finish reason.
type ChoiceRead<'a> = (
    Option<Cow<'a, str>>,
    Option<Cow<'a, str>>,
    Option<FinishReason>,
);

impl<'a> Scan<'a> {
    /// A string (not `null`) of `src` (the text the scan reads), its text: a slice of `src`
    /// unless it has escapes (no second UTF-8 check: a slice between two quotes is text).
    fn text(&mut self, src: &'a str) -> Read<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        match self.string(Str::Keep)? {
            Cow::Borrowed(_) => src
                .get(start..self.i.saturating_sub(1))
                .map(Cow::Borrowed)
                .ok_or(NotAReply),
            Cow::Owned(v) => String::from_utf8(v).map(Cow::Owned).map_err(|_| NotAReply),
        }
    }

    /// `null` or a string, its text.
    fn kept_text(&mut self, src: &'a str) -> Read<Option<Cow<'a, str>>> {
        if self.null()? {
            return Ok(None);
        }
        self.text(src).map(Some)
    }

    /// The one choice: `index` 0, a `delta` object, `logprobs` absent or `null`.
    fn choice(&mut self, src: &'a str) -> Read<ChoiceRead<'a>> {
        let mut seen = Seen::default();
        let mut index = None;
        let mut read: ChoiceRead<'a> = (None, None, None);
        self.object(|s, key| match &*key {
            b"index" => {
                seen.once(1)?;
                index = Some(s.u32()?);
                Ok(())
            }
            b"delta" => {
                seen.once(2)?;
                s.delta(src, &mut read)
            }
            b"logprobs" => {
                seen.once(4)?;
                if s.null()? { Ok(()) } else { Err(NotAReply) }
            }
            b"finish_reason" => {
                seen.once(8)?;
                read.2 = s.kept_text(src)?.map(|f| parse_finish(&f));
                Ok(())
            }
            _ => s.skip(),
        })?;
        if index != Some(0) {
            return Err(NotAReply);
        }
        Ok(read)
    }

    /// A choice's `delta`: `role`, `content` and `refusal` a string or `null`, `tool_calls`
    /// absent or `null`.
    fn delta(&mut self, src: &'a str, read: &mut ChoiceRead<'a>) -> Read<()> {
        let mut seen = Seen::default();
        self.object(|s, key| match &*key {
            b"role" => {
                seen.once(1)?;
                s.text_or_null(Str::Check).map(drop)
            }
            b"content" => {
                seen.once(2)?;
                read.0 = s.kept_text(src)?;
                Ok(())
            }
            b"refusal" => {
                seen.once(4)?;
                read.1 = s.kept_text(src)?;
                Ok(())
            }
            b"tool_calls" => {
                seen.once(8)?;
                if s.null()? { Ok(()) } else { Err(NotAReply) }
            }
            _ => s.skip(),
        })
    }
}

#[cfg(test)]
mod tests;
