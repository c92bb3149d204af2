//! An incremental server-sent-events parser: bytes in as they arrive, events out as soon as
//! their blank line does. Nothing buffers more than one event.

/// One event: its `event:` name (if any) and its `data:` lines joined by newlines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
}

impl Parser {
    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some((end, sep)) = find_blank_line(&self.buf) {
            let block: Vec<u8> = self.buf.drain(..end + sep).collect();
            if let Some(e) = parse_block(&block[..end]) {
                events.push(e);
            }
        }
        events
    }

    /// Bytes received after the last complete event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// The end of the first event block and the length of its separator.
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some((i, 2));
        }
        if buf[i..].starts_with(b"\r\n\r\n") {
            return Some((i, 4));
        }
        i += 1;
    }
    None
}

fn parse_block(block: &[u8]) -> Option<Event> {
    let text = String::from_utf8_lossy(block);
    let mut event = Event::default();
    let mut has_data = false;
    for line in text.lines() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads() {
        let mut p = Parser::default();
        assert!(p.feed(b"event: ping\nda").is_empty());
        let events = p.feed(b"ta: {\"a\":1}\n\ndata: x\r\n\r\ndata: y");
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
        assert_eq!(p.feed(b"\ndata: z\n\n")[0].data, "y\nz");
        assert!(p.feed(b": comment\n\n").is_empty());
    }
}
