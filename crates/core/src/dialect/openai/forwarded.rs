//! Reading an OpenAI reply that is forwarded as it came (the same-dialect fast path): only what
//! the router books (usage, the first choice's finish reason, how many tool calls), with the
//! rest checked but not kept.
//!
//! [`read_forwarded`] is a single pass over the bytes, with no allocation unless a key or a
//! finish reason is written with escapes. It accepts what the full decode of a
//! `chat.completion` accepts (serde's, reading the same fields), so a body the router passes on
//! is one the full decode would have passed too:
//!
//! - the whole body is UTF-8 and one JSON value, an object, with only whitespace after it;
//! - `id`, `object`, `created` and `model` present (any value), `choices` an array of objects,
//!   each with a `message` object; no known field twice, at any level;
//! - `index` a `u32`; `finish_reason`, `message.content` and `message.refusal` a string (with
//!   valid escapes, surrogates paired) or `null`; `message.tool_calls` an array or `null`;
//! - `usage` absent, `null`, or an object whose `prompt_tokens`, `completion_tokens` and
//!   `total_tokens` are all `u32`s (non-negative integers, no fraction or exponent), and whose
//!   `prompt_tokens_details`, when not `null`, is an object whose `cached_tokens` is a `u32`
//!   or `null`;
//! - anything else is skipped but must be valid JSON (strings without raw control characters,
//!   escapes well formed, numbers in JSON's grammar), nested to any depth without recursion.
//!
//! One difference, on purpose: serde also reads a struct written as a JSON array (its fields
//! by position); no vendor writes a reply that way, and this reader refuses it.

use std::borrow::Cow;

use super::{CompletionUsage, PromptTokensDetails, parse_finish};
use crate::request::{FinishReason, Usage};

/// What the router needs of a forwarded `chat.completion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// `usage` as [`Usage::from`] reads a [`CompletionUsage`]; `None` when absent or `null`.
    pub usage: Option<Usage>,
    /// The finish reason of the choice with the lowest `index` (the first of equals), read
    /// by [`parse_finish`]; `stop` when it has none, or there is no choice.
    pub finish: FinishReason,
    /// Tool calls over all choices.
    pub tool_calls: usize,
}

/// The body is not a `chat.completion` the gateway can pass on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAReply;

type Read<T> = Result<T, NotAReply>;

/// Reads a forwarded reply (see the module doc for what it checks).
pub fn read_forwarded(body: &[u8]) -> Result<Forwarded, NotAReply> {
    // The body goes to the client as is: it must be UTF-8 throughout, the skipped values
    // included. Outside its strings the scan takes only ASCII, and each string with a byte
    // that is not is checked as it is read (`string`): together, the whole body.
    let mut s = Scan {
        b: body,
        i: 0,
        max_depth: usize::MAX,
    };
    let mut seen = Seen::default();
    let mut usage = None;
    let mut first: Option<(u32, FinishReason)> = None;
    let mut tool_calls = 0usize;
    s.object(|s, key| match &*key {
        b"id" => seen.once(1).and_then(|()| s.skip()),
        b"object" => seen.once(2).and_then(|()| s.skip()),
        b"created" => seen.once(4).and_then(|()| s.skip()),
        b"model" => seen.once(8).and_then(|()| s.skip()),
        b"choices" => {
            seen.once(16)?;
            s.choices(&mut first, &mut tool_calls)
        }
        b"usage" => {
            seen.once(32)?;
            usage = s.usage()?;
            Ok(())
        }
        _ => s.skip(),
    })?;
    s.ws();
    // id, object, created, model and choices are required.
    if s.i != s.b.len() || !seen.all(31) {
        return Err(NotAReply);
    }
    Ok(Forwarded {
        usage,
        finish: first.map_or(FinishReason::Stop, |(_, f)| f),
        tool_calls,
    })
}

/// The known keys met so far in one object, a bit each.
#[derive(Default)]
struct Seen(u8);

impl Seen {
    /// Records key `bit`; a key met before is an error (serde refuses a duplicate field).
    fn once(&mut self, bit: u8) -> Read<()> {
        if self.0 & bit != 0 {
            return Err(NotAReply);
        }
        self.0 |= bit;
        Ok(())
    }

    fn all(&self, bits: u8) -> bool {
        self.0 & bits == bits
    }
}

/// What a string is read for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Str {
    /// Skipped: control characters and escape letters checked, `\u` digits checked, their
    /// code points not (serde's `IgnoredAny`).
    Skip,
    /// Read as text but not kept: surrogate escapes must pair up.
    Check,
    /// Read as text and returned.
    Keep,
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    /// How many arrays and objects a skipped value may open, one inside another.
    max_depth: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Read<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(NotAReply)
        }
    }

    fn next(&mut self) -> Read<u8> {
        let c = *self.b.get(self.i).ok_or(NotAReply)?;
        self.i += 1;
        Ok(c)
    }

    /// `word` (`true`, `false`, `null`) at the cursor.
    fn word(&mut self, word: &[u8]) -> Read<()> {
        let end = self.i.checked_add(word.len()).ok_or(NotAReply)?;
        if self.b.get(self.i..end) != Some(word) {
            return Err(NotAReply);
        }
        self.i = end;
        Ok(())
    }

    /// `null` (consumed, `true`) or something else (not consumed, `false`).
    fn null(&mut self) -> Read<bool> {
        if self.peek() == Some(b'n') {
            self.word(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// An object, each member's value handed to `member` with its (unescaped) key; `member`
    /// must consume the value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, Cow<'a, [u8]>) -> Read<()>) -> Read<()> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.eat(b'"')?;
            let key = self.string(Str::Keep)?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(NotAReply),
            }
        }
    }

    /// An array, each element handed to `element` (which must consume it).
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Read<()>) -> Read<()> {
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            element(self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(NotAReply),
            }
        }
    }

    /// A `u32`: a non-negative integer within range (serde refuses a float, a negative
    /// number, `-0` and anything past `u32::MAX` for one).
    fn u32(&mut self) -> Read<u32> {
        u32::try_from(self.u64()?).map_err(|_| NotAReply)
    }

    /// A `u64` as serde reads one: digits, no leading zero, within range. A fraction or an
    /// exponent after the digits is refused by the caller, as every number read here is a
    /// member's value: what follows it must be `,` or `}`.
    fn u64(&mut self) -> Read<u64> {
        self.ws();
        let first = self.next()?;
        if !first.is_ascii_digit() {
            return Err(NotAReply);
        }
        let mut n = u64::from(first - b'0');
        while let Some(&d) = self.b.get(self.i).filter(|d| d.is_ascii_digit()) {
            if first == b'0' {
                // A leading zero stands alone.
                return Err(NotAReply);
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(NotAReply)?;
            self.i += 1;
        }
        Ok(n)
    }

    /// A number in JSON's grammar, skipped.
    fn number(&mut self) -> Read<()> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.next()? {
            b'0' => {
                if self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
                    return Err(NotAReply);
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return Err(NotAReply),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Read<()> {
        if !self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            return Err(NotAReply);
        }
        self.digits();
        Ok(())
    }

    /// Any JSON value, skipped, without recursion: the closers of the open arrays and objects
    /// are kept on a stack (bounded by the body's length).
    fn skip(&mut self) -> Read<()> {
        let mut open: Vec<u8> = Vec::new();
        loop {
            // A value.
            match self.peek().ok_or(NotAReply)? {
                b'{' | b'[' if open.len() >= self.max_depth => return Err(NotAReply),
                b'{' => {
                    self.i += 1;
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                    } else {
                        open.push(b'}');
                        self.skipped_key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.i += 1;
                    if self.peek() == Some(b']') {
                        self.i += 1;
                    } else {
                        open.push(b']');
                        continue;
                    }
                }
                b'"' => {
                    self.i += 1;
                    self.string(Str::Skip)?;
                }
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.word(b"true")?,
                b'f' => self.word(b"false")?,
                b'n' => self.word(b"null")?,
                _ => return Err(NotAReply),
            }
            // After a value: close what ends here, then a comma leads to the next value.
            loop {
                let Some(&close) = open.last() else {
                    return Ok(());
                };
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if close == b'}' {
                            self.skipped_key()?;
                        }
                        break;
                    }
                    Some(c) if c == close => {
                        self.i += 1;
                        open.pop();
                    }
                    _ => return Err(NotAReply),
                }
            }
        }
    }

    /// A key of a skipped object, and its colon.
    fn skipped_key(&mut self) -> Read<()> {
        self.eat(b'"')?;
        self.string(Str::Skip)?;
        self.eat(b':')
    }

    /// `null` or a string, checked; with `keep`, its text.
    fn text_or_null(&mut self, mode: Str) -> Read<Option<Cow<'a, [u8]>>> {
        if self.null()? {
            return Ok(None);
        }
        self.eat(b'"')?;
        self.string(mode).map(Some)
    }

    /// `choices`: the lowest-indexed choice's finish reason into `first`, tool calls counted.
    fn choices(
        &mut self,
        first: &mut Option<(u32, FinishReason)>,
        tool_calls: &mut usize,
    ) -> Read<()> {
        self.array(|s| {
            let mut seen = Seen::default();
            let mut index = 0u32;
            let mut finish = FinishReason::Stop;
            s.object(|s, key| match &*key {
                b"index" => {
                    seen.once(1)?;
                    index = s.u32()?;
                    Ok(())
                }
                b"message" => {
                    seen.once(2)?;
                    s.message(tool_calls)
                }
                b"finish_reason" => {
                    seen.once(4)?;
                    if let Some(label) = s.text_or_null(Str::Keep)? {
                        let label = std::str::from_utf8(&label).map_err(|_| NotAReply)?;
                        finish = parse_finish(label);
                    }
                    Ok(())
                }
                _ => s.skip(),
            })?;
            if !seen.all(2) {
                return Err(NotAReply);
            }
            if first.is_none_or(|(i, _)| index < i) {
                *first = Some((index, finish));
            }
            Ok(())
        })
    }

    /// A choice's `message`: `content` and `refusal` text or `null`, `tool_calls` counted.
    fn message(&mut self, tool_calls: &mut usize) -> Read<()> {
        let mut seen = Seen::default();
        self.object(|s, key| match &*key {
            b"content" | b"refusal" => {
                seen.once(if &*key == b"content" { 1 } else { 2 })?;
                s.text_or_null(Str::Check).map(drop)
            }
            b"tool_calls" => {
                seen.once(4)?;
                if s.null()? {
                    return Ok(());
                }
                s.array(|s| {
                    *tool_calls = tool_calls.saturating_add(1);
                    s.skip()
                })
            }
            _ => s.skip(),
        })
    }

    /// `usage`: `null`, or the three counts and the optional details.
    fn usage(&mut self) -> Read<Option<Usage>> {
        if self.null()? {
            return Ok(None);
        }
        let mut seen = Seen::default();
        let (mut prompt, mut completion, mut total) = (0, 0, 0);
        let mut details = None;
        self.object(|s, key| match &*key {
            b"prompt_tokens" => {
                seen.once(1)?;
                prompt = s.u32()?;
                Ok(())
            }
            b"completion_tokens" => {
                seen.once(2)?;
                completion = s.u32()?;
                Ok(())
            }
            b"total_tokens" => {
                seen.once(4)?;
                total = s.u32()?;
                Ok(())
            }
            b"prompt_tokens_details" => {
                seen.once(8)?;
                details = s.details()?;
                Ok(())
            }
            _ => s.skip(),
        })?;
        if !seen.all(7) {
            return Err(NotAReply);
        }
        Ok(Some(Usage::from(CompletionUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: total,
            prompt_tokens_details: details,
        })))
    }

    /// `prompt_tokens_details`: `null`, or an object whose `cached_tokens` is a `u32`, `null`
    /// or absent (both 0).
    fn details(&mut self) -> Read<Option<PromptTokensDetails>> {
        if self.null()? {
            return Ok(None);
        }
        let mut seen = Seen::default();
        let mut cached_tokens = 0;
        self.object(|s, key| match &*key {
            b"cached_tokens" => {
                seen.once(1)?;
                if !s.null()? {
                    cached_tokens = s.u32()?;
                }
                Ok(())
            }
            _ => s.skip(),
        })?;
        Ok(Some(PromptTokensDetails { cached_tokens }))
    }
}

mod chunk;
pub(super) mod string;
pub use chunk::{Chunk, read_chunk};
#[cfg(test)]
mod tests;
