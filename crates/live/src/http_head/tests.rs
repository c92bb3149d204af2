use super::{header_lines, printable_run, status_line};

/// A small deterministic generator (xorshift64*): the same heads on every run.
struct Gen(u64);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    /// Mostly the first of `from`, sometimes any.
    fn usual<'a>(&mut self, from: &[&'a [u8]]) -> &'a [u8] {
        if self.below(6) > 0 {
            from[0]
        } else {
            from[self.below(from.len())]
        }
    }
}

/// A generated response head: what servers send, with what only httparse reads mixed in.
fn head(g: &mut Gen) -> Vec<u8> {
    let status_lines: [&[u8]; 12] = [
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 429 Too Many Requests\r\n",
        b"HTTP/1.1 204 \r\n",
        b"HTTP/1.1 200\r\n",
        b"HTTP/1.0 200 OK\r\n",
        b"HTTP/1.1 200 OK\n",
        b"HTTP/1.1 2000 OK\r\n",
        b"HTTP/1.1 20x OK\r\n",
        b"HTTP/1.1 099 Low\r\n",
        b"HTTP/1.1 200 \xc3\xa9\r\n",
        b"HTTP/1.1 200 a\tb\r\n",
        b"HTTP/1.1  200 OK\r\n",
    ];
    let lines: [&[u8]; 24] = [
        b"content-type: application/json",
        b"x-request-id: req_1",
        b"openai-processing-ms: 0",
        b"content-length: 2",
        b"date: Fri, 04 Dec 2026 05:27:48 GMT",
        b"x-ratelimit-remaining-requests:   99  ",
        b"Transfer-Encoding: chunked",
        b"X-Empty:",
        b"X-Spaces:    ",
        b"X-Tab:\tv",
        b"X-Hi: caf\xc3\xa9",
        b"Bad Name: x",
        b"x:y: z",
        b"NoColon",
        b": novalue",
        b"X-Ctl: a\x01b",
        b"X-Del: a\x7fb",
        b" folded",
        b"X-Fold: a\r\n b",
        b"x-a!#$%&'*+-.^_`|~9: v",
        b"X-Bad\x80: v",
        b"X-Colon : v",
        b"connection: close",
        b"keep-alive: timeout=5",
    ];
    let mut out = g.usual(&status_lines).to_vec();
    let count = if g.below(30) == 0 { 40 } else { g.below(7) };
    for _ in 0..count {
        let line = if g.below(3) > 0 {
            lines[g.below(6)]
        } else {
            lines[g.below(lines.len())]
        };
        out.extend_from_slice(line);
        out.extend_from_slice(g.usual(&[b"\r\n", b"\n", b"\r"]));
    }
    out.extend_from_slice(g.usual(&[b"\r\n", b"\n", b"", b"\r"]));
    if g.below(4) == 0 {
        out.extend_from_slice(b"{}");
    }
    out
}

/// A head read: its length, HTTP/1.x minor version, status code and header lines.
type Read = (usize, u8, u16, Vec<(String, Vec<u8>)>);

fn by_hand(buf: &[u8]) -> Option<Read> {
    let mut lines = [httparse::EMPTY_HEADER; 32];
    let (code, at) = status_line(buf)?;
    let (len, n) = header_lines(buf, at, &mut lines)?;
    let lines = lines[..n]
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()));
    Some((len, 1, code, lines.collect()))
}

/// httparse's reading of the same head, as the client configures it.
fn by_httparse(buf: &[u8]) -> Option<Read> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut response = httparse::Response::new(&mut headers);
    let len = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response(&mut response, buf)
        .ok()?;
    let httparse::Status::Complete(len) = len else {
        return None;
    };
    let lines = response
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()));
    Some((len, response.version?, response.code?, lines.collect()))
}

/// Every head read by hand is read as httparse reads it (length, status, each header's name
/// and value), and the generated heads reach both sides of what is read by hand.
#[test]
fn what_is_read_by_hand_is_what_httparse_reads() {
    let mut g = Gen(0x4EAD_5EED_0002);
    let (mut read, mut left) = (0, 0);
    for _ in 0..40_000 {
        let head = head(&mut g);
        let expected = by_httparse(&head);
        let Some(got) = by_hand(&head) else {
            left += usize::from(expected.is_some());
            continue;
        };
        read += 1;
        assert_eq!(Some(got), expected, "{:?}", String::from_utf8_lossy(&head));
    }
    assert!(read > 10_000, "{read} read by hand");
    assert!(left > 1_000, "{left} whole heads left to httparse");
}

#[test]
fn the_usual_heads_are_read_by_hand() {
    let fake = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nopenai-processing-ms: 0\r\n\
                 x-request-id: req_000000000000000000000001\r\ncontent-length: 443\r\n\
                 date: Fri, 04 Dec 2026 05:27:48 GMT\r\n\r\n{";
    let (len, _, code, lines) = by_hand(fake).expect("read by hand");
    assert_eq!((len, code, lines.len()), (fake.len() - 1, 200, 5));
    assert_eq!(
        lines[2],
        (
            "x-request-id".to_owned(),
            b"req_000000000000000000000001".to_vec()
        )
    );
    for other in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n"[..],
        b"HTTP/1.0 200 OK\r\n\r\n",
    ] {
        assert_eq!(by_hand(other), None, "{other:?}");
    }
}

/// The word scan says what a byte-by-byte scan says, for every byte value at every position
/// of a word and of the tail.
#[test]
fn the_printable_run_agrees_with_a_byte_scan() {
    for len in [1, 7, 8, 9, 16, 17] {
        for at in 0..len {
            for byte in 0..=255u8 {
                let mut text = vec![b'a'; len];
                text[at] = byte;
                let expected = text
                    .iter()
                    .take_while(|&&c| (0x20..0x7f).contains(&c))
                    .count();
                assert_eq!(printable_run(&text), expected, "{len} {at} {byte}");
            }
        }
    }
}
