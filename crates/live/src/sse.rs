//! An incremental server-sent-events parser: bytes in as they arrive, events out as soon as
//! their blank line does.
//!
//! Invariants, because the bytes come from an upstream we do not control:
//!
//! - Nothing buffers more than one event, and one event is at most `max_event_bytes`
//!   ([`DEFAULT_MAX_EVENT_BYTES`] unless set): a stream that never sends its blank line, or
//!   sends one enormous event, is refused with [`EventTooLarge`] instead of growing memory.
//! - Each byte is scanned once (plus at most two bytes again per feed, where a blank line may
//!   straddle two reads), so a long event that trickles in costs linear time, not quadratic.
//!
//! Events end at a blank line: `\n\n`, `\r\n\r\n` or a mix (`\r\n\n`, `\n\r\n`). A lone `\r`
//! as a line ending (legal in the spec, used by no vendor) is not recognised.

use std::borrow::Cow;

/// The largest event accepted unless configured: 1 MiB, far above any vendor's chunk.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

/// One event: its `event:` name (if any) and its `data:` lines joined by newlines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

/// One event was larger than the parser's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a server-sent event exceeded {limit} bytes")]
pub struct EventTooLarge {
    pub limit: usize,
}

#[derive(Debug)]
pub struct Parser {
    buf: Vec<u8>,
    /// Where the search for the next blank line resumes: everything before it is known not
    /// to hold one.
    scanned: usize,
    max_event_bytes: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl Parser {
    /// A parser that refuses any event longer than `max_event_bytes` (its blank line not
    /// counted).
    pub fn with_max_event_bytes(max_event_bytes: usize) -> Self {
        Parser {
            buf: Vec::new(),
            scanned: 0,
            max_event_bytes,
        }
    }

    /// Feeds bytes; returns the events they complete, or the error once one event is too
    /// large (the parser is then spent: the stream is broken).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, EventTooLarge> {
        let mut events = Vec::new();
        let read = if self.buf.is_empty() {
            // Nothing held (the usual case: a read ends where an event does): the events are
            // read from `bytes` in place, and only what follows the last one is kept.
            let read = read_events(bytes, 0, self.max_event_bytes, &mut events);
            if let Ok(start) = read {
                self.buf
                    .extend_from_slice(bytes.get(start..).unwrap_or_default());
            }
            read
        } else {
            self.buf.extend_from_slice(bytes);
            let read = read_events(&self.buf, self.scanned, self.max_event_bytes, &mut events);
            if let Ok(start) = read {
                // One drain per feed, not one per event: the rest moves once.
                self.buf.drain(..start);
            }
            read
        };
        if read.is_err() {
            return Err(self.refuse());
        }
        // A blank line can straddle reads: the last two bytes may start one.
        self.scanned = self.buf.len().saturating_sub(2);
        // An incomplete blank line (up to three bytes) may still trail the event.
        if self.buf.len().saturating_sub(3) > self.max_event_bytes {
            return Err(self.refuse());
        }
        Ok(events)
    }

    /// Drops what was buffered (nothing more will be parsed from this stream) and says why.
    fn refuse(&mut self) -> EventTooLarge {
        self.buf = Vec::new();
        self.scanned = 0;
        EventTooLarge {
            limit: self.max_event_bytes,
        }
    }

    /// Bytes received after the last complete event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// The events complete in `buf`, the search for the first blank line resuming at `from`,
/// pushed to `events`; where the bytes after the last one start, or `Err` once one is longer
/// than `max_event_bytes`.
fn read_events(
    buf: &[u8],
    from: usize,
    max_event_bytes: usize,
    events: &mut Vec<Event>,
) -> Result<usize, ()> {
    let mut start = 0;
    while let Some((end, next)) = find_blank_line(buf, from.max(start)) {
        if end - start > max_event_bytes {
            return Err(());
        }
        if let Some(e) = parse_block(buf.get(start..end).unwrap_or_default()) {
            events.push(e);
        }
        start = next;
    }
    Ok(start)
}

/// The first blank line at or after `from`: where the event before it ends (its last line
/// ending excluded) and where the next one starts.
fn find_blank_line(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while let Some(offset) = memchr::memchr(b'\n', buf.get(i..)?) {
        let nl = i + offset;
        let rest = buf.get(nl + 1..).unwrap_or_default();
        let next = if rest.starts_with(b"\n") {
            Some(nl + 2)
        } else if rest.starts_with(b"\r\n") {
            Some(nl + 3)
        } else {
            None
        };
        if let Some(next) = next {
            let end = if nl > 0 && buf[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            return Some((end, next));
        }
        i = nl + 1;
    }
    None
}

fn parse_block(block: &[u8]) -> Option<Event> {
    // Valid UTF-8 (what every vendor sends) is read in place after a fast check; anything else
    // as before, each invalid sequence read as U+FFFD (`from_utf8_lossy` walks the bytes in
    // chunks, several times slower on valid text).
    let text = match std::str::from_utf8(block) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(block),
    };
    let mut event = Event::default();
    let mut has_data = false;
    let mut rest: &str = &text;
    loop {
        // Lines as `str::lines` splits them (at `\n`, a `\r` before it dropped; the last line
        // as it is), with the memchr crate's search rather than core's.
        let (line, more) = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(i) => {
                let (line, more) = (rest.get(..i), rest.get(i + 1..));
                let line = line.unwrap_or_default();
                (line.strip_suffix('\r').unwrap_or(line), more)
            }
            None => (rest, None),
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(v) = line.strip_prefix("data:") {
            if has_data {
                event.data.push('\n');
            }
            event.data.push_str(v.strip_prefix(' ').unwrap_or(v));
            has_data = true;
        } else if let Some(v) = line.strip_prefix("event:") {
            event.name = Some(v.trim().to_owned());
        }
        match more {
            Some(more) => rest = more,
            None => break,
        }
    }
    has_data.then_some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads() {
        let mut p = Parser::default();
        assert!(p.feed(b"event: ping\nda").unwrap().is_empty());
        let events = p.feed(b"ta: {\"a\":1}\n\ndata: x\r\n\r\ndata: y").unwrap();
        assert_eq!(
            events,
            [
                Event {
                    name: Some("ping".into()),
                    data: "{\"a\":1}".into()
                },
                Event {
                    name: None,
                    data: "x".into()
                },
            ]
        );
        assert_eq!(p.pending(), 7);
        assert_eq!(p.feed(b"\ndata: z\n\n").unwrap()[0].data, "y\nz");
        assert!(p.feed(b": comment\n\n").unwrap().is_empty());
    }

    #[test]
    fn blank_lines_split_anywhere_are_found() {
        // Every way to cut `data: a<sep>data: b<sep>` into two reads gives the same events,
        // for each separator a server might write.
        for sep in ["\n\n", "\r\n\r\n", "\r\n\n", "\n\r\n"] {
            let wire = format!("data: a{sep}data: b{sep}");
            for cut in 0..=wire.len() {
                let mut p = Parser::default();
                let mut events = p.feed(&wire.as_bytes()[..cut]).unwrap();
                events.extend(p.feed(&wire.as_bytes()[cut..]).unwrap());
                let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
                assert_eq!(data, ["a", "b"], "{sep:?} cut at {cut}");
                assert_eq!(p.pending(), 0);
            }
        }
    }

    #[test]
    fn an_event_over_the_limit_is_refused_whole_or_trickled() {
        let mut p = Parser::with_max_event_bytes(16);
        // Exactly at the limit is fine, in one piece or byte by byte.
        let ok = b"data: 0123456789\n\n";
        assert_eq!(p.feed(ok).unwrap().len(), 1);
        for b in ok {
            p.feed(std::slice::from_ref(b)).unwrap();
        }
        // One byte more, arriving complete.
        assert_eq!(
            p.feed(b"data: 0123456789x\n\n"),
            Err(EventTooLarge { limit: 16 })
        );
        // One that never ends is refused as soon as it outgrows the limit.
        let mut p = Parser::with_max_event_bytes(16);
        let mut refused = None;
        for (i, b) in b"data: 0123456789abcdefghij".iter().enumerate() {
            if p.feed(std::slice::from_ref(b)).is_err() {
                refused = Some(i);
                break;
            }
        }
        assert_eq!(
            refused,
            Some(19),
            "16 bytes plus 3 that could begin a blank line"
        );
        assert_eq!(p.pending(), 0, "the buffer is released");
    }

    #[test]
    fn bytes_that_are_not_utf8_read_as_replacement_characters() {
        // Each invalid sequence is one U+FFFD, as `String::from_utf8_lossy` reads it; valid
        // text around it (and a character split between reads) is kept.
        let mut p = Parser::default();
        let wire =
            b"event: n\xffme\ndata: a\xf0\x9f\x98b\xc3\xa9\xe2\x82\xac\ndata: \xed\xa0\x80\n\n";
        let events = p.feed(wire).unwrap();
        assert_eq!(events[0].name.as_deref(), Some("n\u{fffd}me"));
        assert_eq!(
            events[0].data,
            "a\u{fffd}b\u{e9}\u{20ac}\n\u{fffd}\u{fffd}\u{fffd}"
        );
        assert!(p.feed(b"data: \xf0\x9f").unwrap().is_empty());
        assert_eq!(p.feed(b"\x98\x80\n\n").unwrap()[0].data, "\u{1f600}");
    }

    /// How blocks were read with `str::lines`, before the memchr split.
    fn by_lines(text: &str) -> Option<Event> {
        let mut event = Event::default();
        let mut has_data = false;
        for line in text.lines() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(v) = line.strip_prefix("data:") {
                if has_data {
                    event.data.push('\n');
                }
                event.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                has_data = true;
            } else if let Some(v) = line.strip_prefix("event:") {
                event.name = Some(v.trim().to_owned());
            }
        }
        has_data.then_some(event)
    }

    #[test]
    fn blocks_split_into_lines_as_str_lines_splits_them() {
        // Every block of up to six of these pieces: stray `\r`s before, after and between
        // line endings, a last line with and without them.
        let pieces = ["data:", "event: e", "x", " ", "\r", "\n"];
        let mut blocks = vec![String::new()];
        let mut checked = 0;
        for _ in 0..6 {
            let mut longer = Vec::new();
            for b in &blocks {
                for p in pieces {
                    let block = format!("{b}{p}");
                    assert_eq!(parse_block(block.as_bytes()), by_lines(&block), "{block:?}");
                    checked += 1;
                    longer.push(block);
                }
            }
            blocks = longer;
        }
        assert_eq!(checked, 55986);
    }

    #[test]
    fn a_long_event_trickling_in_is_scanned_once() {
        // 512 KiB one byte at a time: rescanning from the start would take minutes in debug.
        // Each feed resumes at most two bytes before the end of what was already scanned.
        let mut p = Parser::default();
        p.feed(b"data: ").unwrap();
        for _ in 0..(512 << 10) {
            assert!(p.feed(b"x").unwrap().is_empty());
            assert!(p.scanned + 2 >= p.pending(), "resumes near the end");
        }
        let events = p.feed(b"\n\n").unwrap();
        assert_eq!(events[0].data.len(), 512 << 10);
    }

    /// The parser as it was before the in-place read (c082ba0), for the differential below.
    struct Before {
        buf: Vec<u8>,
        scanned: usize,
        max: usize,
    }

    impl Before {
        fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, EventTooLarge> {
            self.buf.extend_from_slice(bytes);
            let mut events = Vec::new();
            let mut start = 0;
            while let Some((end, next)) = find_blank_line(&self.buf, self.scanned.max(start)) {
                if end - start > self.max {
                    return Err(EventTooLarge { limit: self.max });
                }
                let text = String::from_utf8_lossy(&self.buf[start..end]).into_owned();
                if let Some(e) = by_lines(&text) {
                    events.push(e);
                }
                start = next;
            }
            self.buf.drain(..start);
            self.scanned = self.buf.len().saturating_sub(2);
            if self.buf.len().saturating_sub(3) > self.max {
                return Err(EventTooLarge { limit: self.max });
            }
            Ok(events)
        }
    }

    /// Reviewer RS: random streams of SSE-ish pieces (fields, comments, stray `\r`, blank
    /// lines of every kind, bytes that are not UTF-8, a character split anywhere) cut into
    /// random reads give the same events, the same pending bytes and the same refusals as the
    /// parser before the in-place read.
    #[test]
    fn random_streams_in_random_reads_parse_as_before() {
        let pieces: [&[u8]; 12] = [
            b"data:",
            b"data: ",
            b"event: e",
            b": c",
            b"\n",
            b"\r\n",
            b"\r",
            b"\n\n",
            b"x",
            b"\xff",
            "\u{e9}\u{1f600}".as_bytes(),
            b"{\"a\":1}",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap()
        };
        for _ in 0..3000 {
            let mut wire = Vec::new();
            for _ in 0..next(40) {
                wire.extend_from_slice(pieces[next(pieces.len())]);
            }
            let max = 8 + next(40);
            let mut new = Parser::with_max_event_bytes(max);
            let mut old = Before {
                buf: Vec::new(),
                scanned: 0,
                max,
            };
            let mut rest = &wire[..];
            while !rest.is_empty() {
                let (read, more) = rest.split_at(1 + next(rest.len()));
                rest = more;
                let (a, b) = (new.feed(read), old.feed(read));
                assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&wire));
                if a.is_err() {
                    break;
                }
                assert_eq!(new.pending(), old.buf.len());
            }
        }
    }
}
