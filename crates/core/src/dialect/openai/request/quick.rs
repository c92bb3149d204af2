//! The usual client body read by hand ([`parse`]), the typed serde pass
//! ([`super::pass_through`]) left to everything else.
//!
//! What an OpenAI SDK sends for a chat request is a flat object of a few known fields:
//! `model`, `messages` whose entries have a `role`, a text `content` and maybe a `name`,
//! numbers, booleans, a stream's `stream_options`. Read by hand it costs a third of the typed
//! pass (each string found eight bytes at a time, one with an escape decoded by serde_json,
//! no visitor, the entries' spans found as they are read). Anything else — an escape in a
//! key, a `null` (but a message's `content`), a control character in a string, a field
//! outside that list (tools, `stop`, content parts, unknown ones, a
//! `stream_options` with more than `include_usage`), a key twice, a body that is not UTF-8 —
//! is not read here at all: the typed pass reads it, and refuses what it refuses, in its own
//! words. A body read here gives exactly what the typed pass gives for it (a test compares
//! the two on tens of thousands of generated bodies).

use serde_json::Value;

use super::pass_through::Parsed;
use super::{ChatMessage, ChatRequest, StreamOptions};
use crate::dialect::openai::forwarded::string::plain_run;
use crate::request::EntrySpan;

/// `body` read by hand, or `None` when it is not of the usual kind (the typed pass's, then).
pub(super) fn parse(body: &[u8]) -> Option<Parsed> {
    let text = std::str::from_utf8(body).ok()?;
    let mut s = Cursor { text, i: 0 };
    let mut r = ChatRequest::default();
    let (mut model, mut messages) = (None, None);
    let mut seen = 0u32;
    let mut spans = Vec::with_capacity(8);
    s.ws();
    s.eat(b'{')?;
    loop {
        let key = s.key()?;
        let start = s.i;
        let name = text.get(key.clone())?;
        once(&mut seen, name)?;
        match name {
            "model" => model = Some(s.text()?),
            "messages" => messages = Some(s.messages()?),
            "max_tokens" => r.max_tokens = Some(s.count()?),
            "max_completion_tokens" => r.max_completion_tokens = Some(s.count()?),
            "n" => r.n = Some(s.count()?),
            "temperature" => r.temperature = Some(s.number()?),
            "top_p" => r.top_p = Some(s.number()?),
            "presence_penalty" => r.presence_penalty = Some(s.number()?),
            "frequency_penalty" => r.frequency_penalty = Some(s.number()?),
            "seed" => r.seed = Some(s.number()?),
            "stream" => r.stream = Some(s.boolean()?),
            "parallel_tool_calls" => r.parallel_tool_calls = Some(s.boolean()?),
            "user" => r.user = Some(s.text()?),
            "stream_options" => r.stream_options = Some(s.stream_options()?),
            _ => return None,
        }
        spans.push(EntrySpan {
            key,
            value: start..s.i,
        });
        if !s.more(b'}')? {
            break;
        }
    }
    s.ws();
    if s.i != body.len() {
        return None;
    }
    r.model = model?;
    r.messages = messages?;
    Some(Parsed {
        request: r,
        unmodelled: Vec::new(),
        layout: Some(spans.into()),
    })
}

/// The fields read here, each with its bit: `None` for any other, or one already seen.
fn once(seen: &mut u32, name: &str) -> Option<()> {
    const FIELDS: [&str; 14] = [
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "stream",
        "parallel_tool_calls",
        "user",
        "stream_options",
    ];
    let bit = 1u32 << FIELDS.iter().position(|f| *f == name)?;
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

/// A position in a body that is UTF-8 (so that a string between two quotes is too).
struct Cursor<'a> {
    text: &'a str,
    i: usize,
}

impl Cursor<'_> {
    /// The byte at the cursor.
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    /// JSON's whitespace (serde_json's: space, tab, line feed, carriage return).
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// `c`, consumed; `None` (and nothing consumed) for any other byte.
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// An object's next key (a [`Cursor::string`]) and its colon, with the whitespace around
    /// them: where the key's text lies.
    fn key(&mut self) -> Option<std::ops::Range<usize>> {
        self.ws();
        let key = self.string()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(key)
    }

    /// After an object's entry or an array's element: `true` at a comma (another follows),
    /// `false` at `close`, its closing bracket (consumed either way).
    fn more(&mut self, close: u8) -> Option<bool> {
        self.ws();
        if self.eat(b',').is_some() {
            return Some(true);
        }
        self.eat(close).map(|()| false)
    }

    /// A string without an escape or a control character: where its text lies (without
    /// the quotes).
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = self.text.as_bytes().get(start..)?;
        let (run, _) = plain_run(rest);
        (rest.get(run) == Some(&b'"')).then_some(())?;
        self.i = start + run + 1;
        Some(start..start + run)
    }

    /// A string's text: as written when it has no escape, else decoded by serde_json itself
    /// (a prompt's `\n` is the usual escape), so that an escape reads as the typed pass reads
    /// it, and a bad one is refused by it. Keys are only ever [`Cursor::string`]s: a key with
    /// an escape leaves the body to the typed pass (it gives no layout).
    fn text(&mut self) -> Option<String> {
        let start = self.i;
        if let Some(at) = self.string() {
            return Some(self.text.get(at)?.to_owned());
        }
        // An escape, or a control character (which the decode refuses): find the closing
        // quote, each backslash taking the byte after it along, and decode what lies between
        // (a string with an escape is read three times: rare enough; a wrong end could only
        // make a slice serde_json refuses, and then the typed pass reads the body).
        self.i = start;
        self.eat(b'"')?;
        loop {
            let rest = self.text.as_bytes().get(self.i..)?;
            let (run, _) = plain_run(rest);
            self.i += run;
            match self.peek()? {
                b'"' => break,
                b'\\' => self.i += 2,
                _ => return None,
            }
        }
        self.i += 1;
        serde_json::from_str(self.text.get(start..self.i)?).ok()
    }

    /// A number as serde_json reads it into `T` (an integer type refuses a fraction or an
    /// exponent, `u32` a sign, each its range): the longest run of a number's characters,
    /// read by serde_json itself, so that a float is rounded as the typed pass rounds it.
    fn number<T: serde::de::DeserializeOwned>(&mut self) -> Option<T> {
        let start = self.i;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.i += 1;
        }
        serde_json::from_str(self.text.get(start..self.i)?).ok()
    }

    /// `word` (a literal), consumed.
    fn word(&mut self, word: &[u8]) -> Option<()> {
        let rest = self.text.as_bytes().get(self.i..)?;
        rest.starts_with(word).then(|| self.i += word.len())
    }

    /// A `u32` as [`Cursor::number`] reads one; the usual one (one to nine digits, no
    /// leading zero) without serde_json. A fraction or an exponent after the digits is not
    /// the `,` or `}` the caller then looks for: the body is left to the typed pass.
    fn count(&mut self) -> Option<u32> {
        let rest = self.text.as_bytes().get(self.i..)?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let plain = (1..=9).contains(&digits) && (digits == 1 || rest.first() != Some(&b'0'));
        if !plain {
            return self.number();
        }
        self.i += digits;
        // Nine digits at most: below u32::MAX.
        rest.get(..digits)?.iter().try_fold(0u32, |n, &d| {
            n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
        })
    }

    /// `true` or `false`.
    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.word(b"true").map(|()| true),
            _ => self.word(b"false").map(|()| false),
        }
    }

    /// `stream_options` as a streaming SDK sends it: `{}` or `{"include_usage": BOOL}` (any
    /// other entry, which the typed pass would skip, is left to it).
    fn stream_options(&mut self) -> Option<StreamOptions> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(StreamOptions::default());
        }
        let key = self.key()?;
        (self.text.get(key)? == "include_usage").then_some(())?;
        let include_usage = self.boolean()?;
        self.ws();
        self.eat(b'}')?;
        Some(StreamOptions { include_usage })
    }

    /// `messages`: an array of [`Cursor::message`]s.
    fn messages(&mut self) -> Option<Vec<ChatMessage>> {
        self.eat(b'[')?;
        let mut messages = Vec::new();
        self.ws();
        if self.eat(b']').is_some() {
            return Some(messages);
        }
        loop {
            self.ws();
            messages.push(self.message()?);
            if !self.more(b']')? {
                return Some(messages);
            }
        }
    }

    /// A message of a `role`, a text `content` (or `null`) and maybe a `name`, each once.
    fn message(&mut self) -> Option<ChatMessage> {
        self.eat(b'{')?;
        let (mut role, mut content, mut name) = (None, None, None);
        loop {
            let key = self.key()?;
            match self.text.get(key)? {
                "role" if role.is_none() => role = Some(self.text()?),
                "content" if content.is_none() => {
                    content = Some(match self.peek()? {
                        b'n' => {
                            self.word(b"null")?;
                            None
                        }
                        _ => Some(Value::String(self.text()?)),
                    });
                }
                "name" if name.is_none() => name = Some(self.text()?),
                _ => return None,
            }
            if !self.more(b'}')? {
                break;
            }
        }
        // Every field named: one added to `ChatMessage` is an error here until it is read.
        Some(ChatMessage {
            role: role?,
            content: content.flatten(),
            name,
            tool_calls: None,
            tool_call_id: None,
        })
    }
}

#[cfg(test)]
mod tests;
