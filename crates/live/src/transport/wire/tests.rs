use super::*;

/// Feeds `pieces` to a decoder one after another, decoding after each as far as it goes.
/// Returns the body bytes, whether its end was read, and what was left after it.
fn feed(framing: Framing, pieces: &[&[u8]]) -> Result<(Vec<u8>, bool, Vec<u8>), WireError> {
    let mut decoder = Decoder::new(framing);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut ended = false;
    for piece in pieces {
        buf.extend_from_slice(piece);
        while !ended {
            match decoder.decode(&mut buf)? {
                Step::Data(data) => {
                    assert!(!data.is_empty(), "an empty data frame");
                    body.extend_from_slice(&data);
                }
                Step::NeedMore => break,
                Step::End => ended = true,
            }
        }
    }
    Ok((body, ended, buf.to_vec()))
}

const CHUNKED: &[u8] = b"5\r\nhello\r\n7;name=value\r\n, world\r\n1A\r\n\
abcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
const CHUNKED_BODY: &[u8] = b"hello, worldabcdefghijklmnopqrstuvwxyz";

#[test]
fn a_chunked_body_decodes_the_same_split_at_any_two_places() {
    let whole = feed(Framing::Chunked, &[CHUNKED]).unwrap();
    assert_eq!(whole, (CHUNKED_BODY.to_vec(), true, b"NEXT".to_vec()));
    for i in 0..=CHUNKED.len() {
        for j in i..=CHUNKED.len() {
            let (a, rest) = CHUNKED.split_at(i);
            let (b, c) = rest.split_at(j - i);
            let got = feed(Framing::Chunked, &[a, b, c]).unwrap();
            assert_eq!(got, whole, "split at {i} and {j}");
        }
    }
}

#[test]
fn a_chunked_body_fed_byte_by_byte_yields_its_data_as_it_arrives() {
    let pieces: Vec<&[u8]> = CHUNKED.chunks(1).collect();
    let mut decoder = Decoder::new(Framing::Chunked);
    let mut buf = BytesMut::new();
    let mut frames = 0;
    for piece in &pieces {
        buf.extend_from_slice(piece);
        while let Step::Data(data) = decoder.decode(&mut buf).unwrap() {
            assert_eq!(data.len(), 1);
            frames += 1;
        }
    }
    assert_eq!(frames, CHUNKED_BODY.len());
    assert!(decoder.is_done());
}

#[test]
fn a_chunked_body_that_is_not_quite_one_is_an_error() {
    let bad: &[(&[u8], &str)] = &[
        (b"zz\r\nhello\r\n0\r\n\r\n", "not hex"),
        (b"\r\nhello\r\n0\r\n\r\n", "no digits"),
        (b"-5\r\nhello\r\n0\r\n\r\n", "a sign"),
        (b"5 x\r\nhello\r\n0\r\n\r\n", "junk after the size"),
        (b"10000000000000000\r\n", "17 hex digits"),
        (b"00000000000000001\r\n", "17 digits, small value"),
        (b"5\nhello\r\n0\r\n\r\n", "LF alone"),
        (b"5\r\nhelloXX0\r\n\r\n", "no CRLF after the data"),
        (b"5\r\nhello\r\n0\r\nx: 1\n\r\n", "a trailer ended by LF"),
    ];
    for (input, why) in bad {
        assert!(feed(Framing::Chunked, &[input]).is_err(), "{why}");
    }
    // The largest size that fits is a size (the data then never comes, which is EOF's
    // business), and extensions after whitespace are ignored.
    assert_eq!(
        feed(Framing::Chunked, &[b"ffffffffffffffff\r\nab"]).unwrap(),
        (b"ab".to_vec(), false, Vec::new())
    );
    assert_eq!(
        feed(Framing::Chunked, &[b"2 \t;ext\r\nab\r\n0\r\n\r\n"]).unwrap(),
        (b"ab".to_vec(), true, Vec::new())
    );
}

#[test]
fn chunk_size_lines_and_trailers_are_bounded() {
    // A size line that never ends: an error once MAX_LINE bytes came, not a growing buffer.
    let endless = vec![b'0'; MAX_LINE];
    assert_eq!(
        feed(Framing::Chunked, &[&endless]).unwrap_err(),
        WireError::Body("chunk-size line too long")
    );
    let almost = vec![b'0'; MAX_LINE - 1];
    assert!(feed(Framing::Chunked, &[&almost]).is_ok());
    let mut long_ext = b"1;".to_vec();
    long_ext.resize(MAX_LINE + 10, b'x');
    assert!(feed(Framing::Chunked, &[&long_ext, b"\r\na\r\n"]).is_err());
    // Trailers: many short lines add up to the bound.
    let mut trailers = b"1\r\na\r\n0\r\n".to_vec();
    while trailers.len() < MAX_TRAILERS + 64 {
        trailers.extend_from_slice(b"x-t: 12345678\r\n");
    }
    trailers.extend_from_slice(b"\r\n");
    assert_eq!(
        feed(Framing::Chunked, &[&trailers]).unwrap_err(),
        WireError::Body("trailers too long")
    );
    let fine = b"1\r\na\r\n0\r\nx-t: 1\r\nx-u: 2\r\n\r\n";
    assert_eq!(
        feed(Framing::Chunked, &[fine]).unwrap(),
        (b"a".to_vec(), true, Vec::new())
    );
}

#[test]
fn a_body_that_ends_early_is_an_error_at_eof_and_one_read_to_eof_is_not() {
    for (framing, input) in [
        (Framing::Length(10), &b"hello"[..]),
        (Framing::Chunked, &b"5\r\nhel"[..]),
        (Framing::Chunked, &b"5\r\nhello\r\n"[..]),
        (Framing::Chunked, &b"5\r\nhello\r\n0\r\n"[..]),
    ] {
        let mut decoder = Decoder::new(framing);
        let mut buf = BytesMut::from(input);
        while let Step::Data(_) = decoder.decode(&mut buf).unwrap() {}
        assert_eq!(decoder.at_eof(), Err(WireError::EarlyEof), "{framing:?}");
    }
    let mut decoder = Decoder::new(Framing::Eof);
    let mut buf = BytesMut::from(&b"all of it"[..]);
    assert_eq!(
        decoder.decode(&mut buf).unwrap(),
        Step::Data(Bytes::from_static(b"all of it"))
    );
    assert_eq!(decoder.decode(&mut buf).unwrap(), Step::NeedMore);
    assert_eq!(decoder.at_eof(), Ok(()));
    assert_eq!(decoder.decode(&mut buf).unwrap(), Step::End);
}

#[test]
fn a_length_body_takes_its_bytes_and_leaves_what_follows() {
    assert_eq!(
        feed(Framing::Length(5), &[b"he", b"llo", b"HTTP/1.1"]).unwrap(),
        (b"hello".to_vec(), true, b"HTTP/1.1".to_vec())
    );
    assert_eq!(
        feed(Framing::Empty, &[b"x"]).unwrap(),
        (Vec::new(), true, b"x".to_vec())
    );
}

fn head(text: &str) -> Result<Option<Head>, WireError> {
    parse_head(text.as_bytes(), false)
}

#[test]
fn a_head_split_anywhere_waits_for_the_rest() {
    let text = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                transfer-encoding: chunked\r\nx-a: 1\r\nx-a: 2\r\n\r\nbody";
    for at in 0..text.len() - 4 {
        assert!(head(&text[..at]).unwrap().is_none(), "cut at {at}");
    }
    let h = head(text).unwrap().unwrap();
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.len, text.len() - 4);
    assert_eq!(h.framing, Framing::Chunked);
    assert!(h.keep_alive);
    let map = h.headers.to_map();
    assert_eq!(map.get_all("x-a").iter().count(), 2);
    assert_eq!(map["content-type"], "text/event-stream");
}

#[test]
fn framing_and_keep_alive_follow_the_head() {
    let cases: &[(&str, Framing, bool)] = &[
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n",
            Framing::Length(12),
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            Framing::Empty,
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\ncontent-length: 3\r\n\r\n",
            Framing::Length(3),
            true,
        ),
        ("HTTP/1.1 200 OK\r\n\r\n", Framing::Eof, false),
        (
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
            Framing::Eof,
            false,
        ),
        (
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n",
            Framing::Chunked,
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n",
            Framing::Length(2),
            false,
        ),
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: upgrade, Close\r\n\r\n",
            Framing::Length(2),
            false,
        ),
        (
            "HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n",
            Framing::Length(2),
            false,
        ),
        (
            "HTTP/1.0 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n",
            Framing::Length(2),
            true,
        ),
        (
            "HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n",
            Framing::Empty,
            true,
        ),
        (
            "HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n",
            Framing::Empty,
            true,
        ),
        ("HTTP/1.1 100 Continue\r\n\r\n", Framing::Empty, true),
    ];
    for (text, framing, keep_alive) in cases {
        let h = head(text).unwrap().unwrap();
        assert_eq!((h.framing, h.keep_alive), (*framing, *keep_alive), "{text}");
    }
    let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n", true)
        .unwrap()
        .unwrap();
    assert_eq!(h.framing, Framing::Empty, "a HEAD request's response");
}

#[test]
fn hostile_heads_are_errors() {
    let bad: &[&str] = &[
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 0x10\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 1 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: \r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 18446744073709551616\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999999\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "SMTP ready\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
    ];
    for text in bad {
        assert!(head(text).is_err(), "{text}");
    }
    // The largest length that fits is a length.
    let max = head("HTTP/1.1 200 OK\r\ncontent-length: 18446744073709551615\r\n\r\n");
    assert_eq!(max.unwrap().unwrap().framing, Framing::Length(u64::MAX));
}

#[test]
fn heads_are_bounded_in_size_and_header_count() {
    let mut many = "HTTP/1.1 200 OK\r\n".to_owned();
    for i in 0..MAX_HEADERS {
        many.push_str(&format!("x-{i}: v\r\n"));
    }
    assert!(head(&format!("{many}\r\n")).unwrap().is_some());
    many.push_str("x-one-more: v\r\n\r\n");
    assert_eq!(
        head(&many).unwrap_err(),
        WireError::Head("over 100 headers")
    );
    // A head that has not ended after MAX_HEAD bytes: an error, not a wait for more.
    let mut big = "HTTP/1.1 200 OK\r\nx-big: ".to_owned();
    big.push_str(&"a".repeat(MAX_HEAD));
    assert_eq!(head(&big).unwrap_err(), WireError::HeadTooLarge);
    assert!(head(&big[..MAX_HEAD - 1]).unwrap().is_none());
    // Nor one that did end, past the bound.
    big.push_str("\r\n\r\n");
    assert_eq!(head(&big).unwrap_err(), WireError::HeadTooLarge);
}

#[test]
fn a_request_head_is_origin_form_with_host_first_and_its_own_length() {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
    headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    headers.append("x-a", HeaderValue::from_static("1"));
    headers.append("x-a", HeaderValue::from_static("2"));
    let host = HeaderValue::from_static("api.example:8443");
    let mut out = Vec::new();
    let close = encode_head(
        &Method::POST,
        "/v1/chat?x=1",
        &headers,
        Some(&host),
        1234,
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "POST /v1/chat?x=1 HTTP/1.1\r\nhost: api.example:8443\r\n\
         content-type: application/json\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 1234\r\n\r\n"
    );
    assert!(!close);
    let mut out = Vec::new();
    assert!(!encode_head(
        &Method::GET,
        "/",
        &HeaderMap::new(),
        None,
        0,
        &mut out
    ));
    assert_eq!(out, b"GET / HTTP/1.1\r\n\r\n");
    let mut out = Vec::new();
    assert!(!encode_head(
        &Method::POST,
        "/",
        &HeaderMap::new(),
        None,
        0,
        &mut out
    ));
    assert_eq!(out, b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    // A caller's `connection: close` (a provider's `headers:`) is sent, and reported.
    for (value, close) in [
        ("close", true),
        ("keep-alive, Close", true),
        ("keep-alive", false),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static(value));
        let mut out = Vec::new();
        assert_eq!(
            encode_head(&Method::GET, "/", &headers, None, 0, &mut out),
            close
        );
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains(&format!("connection: {value}\r\n"))
        );
    }
}

#[test]
fn informational_heads_are_skipped_wherever_the_reads_split() {
    let text: &[u8] =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    for at in 0..=text.len() {
        let (a, b) = text.split_at(at);
        assert_eq!(
            read_response(&[a, b]).unwrap(),
            (StatusCode::CREATED, b"ok".to_vec()),
            "split at {at}"
        );
    }
    assert_eq!(
        read_response(&[b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n"]).unwrap_err(),
        WireError::Head("101 switching protocols, unasked")
    );
    assert_eq!(
        read_response(&[b"HTTP/1.1 100 Continue\r\n\r\n"]).unwrap_err(),
        WireError::EarlyEof
    );
}

/// The headers of a head taken off the read buffer are read from its bytes (each value a
/// slice of them): every header in order, duplicates kept, names as sent (lowercased in a
/// map), values exact (an empty one, one with obs-text, one with inner spaces), after a 1xx
/// head taken off the same buffer, and the body left behind.
#[test]
fn headers_taken_off_the_buffer_are_the_heads_own() {
    let mut buf = BytesMut::from(
        &b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: req_1\r\n\
x-empty:\r\nX-A: 1\r\nx-a: two words \r\nx-latin: caf\xe9\r\ncontent-length: 4\r\n\r\nbody"[..],
    );
    let head = take_head(&mut buf, false, &mut Spans::default())
        .unwrap()
        .unwrap();
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(&buf[..], b"body");
    let names: Vec<&[u8]> = head.headers.iter().map(|(k, _)| k).collect();
    let sent: [&[u8]; 7] = [
        b"Content-Type",
        b"X-Request-Id",
        b"x-empty",
        b"X-A",
        b"x-a",
        b"x-latin",
        b"content-length",
    ];
    assert_eq!(names, sent);
    let map = head.headers.to_map();
    let got: Vec<(&str, &[u8])> = map
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let want: Vec<(&str, &[u8])> = vec![
        ("content-type", b"application/json"),
        ("x-request-id", b"req_1"),
        ("x-empty", b""),
        ("x-a", b"1"),
        ("x-a", b"two words"),
        ("x-latin", b"caf\xe9"),
        ("content-length", b"4"),
    ];
    let mut got_sorted = got.clone();
    let mut want_sorted = want.clone();
    got_sorted.sort();
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted);
    assert_eq!(head.headers.len(), 7);
    // Looked up without regard to case, the first of several; values are the head's bytes.
    assert_eq!(head.headers.get("x-a"), Some(&b"1"[..]));
    assert_eq!(head.headers.get("X-REQUEST-ID"), Some(&b"req_1"[..]));
    assert_eq!(head.headers.get("x-none"), None);
    assert_eq!(head.framing, Framing::Length(4));
}

/// A header's value as the dialects read it (`HeaderSource`): the first of its name, ASCII
/// case aside, and only when it is visible ASCII (as `HeaderValue::to_str` has it); a folded
/// head answers alike from its map.
#[test]
fn reply_headers_answer_lookups_as_a_header_map_does() {
    use switchyard_core::dialect::HeaderSource;
    for text in [
        &b"HTTP/1.1 200 OK\r\nRetry-After: 7\r\nretry-after: 9\r\nx-latin: caf\xe9\r\nx-utf8: caf\xc3\xa9\r\nx-tab: a\tb\r\ncontent-length: 0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nRetry-After: 7\r\nretry-after: 9\r\nx-latin: caf\xe9\r\nx-utf8: caf\xc3\xa9\r\nx-tab: a\tb\r\nx-fold: a\r\n b\r\ncontent-length: 0\r\n\r\n",
    ] {
        let mut buf = BytesMut::from(text);
        let head = take_head(&mut buf, false, &mut Spans::default()).unwrap().unwrap();
        let map = head.headers.to_map();
        let h = &head.headers;
        for name in ["retry-after", "RETRY-AFTER", "x-latin", "x-utf8", "x-tab", "x-none"] {
            let want = map.get(name).and_then(|v| v.to_str().ok());
            assert_eq!(h.header(name), want, "{name}");
        }
        assert_eq!(h.header("retry-after"), Some("7"));
        // Not visible ASCII, though UTF-8: `to_str` refuses it.
        assert_eq!(h.header("x-latin"), None);
        assert_eq!(h.header("x-utf8"), None);
        assert_eq!(h.header("x-tab"), Some("a\tb"));
    }
}

// ---- Reviewer RU (branch h-RU): tests for the lead to cherry-pick. ----

/// Reviewer RU (failed on h-U 726bc91; the reply is now refused): RFC 9112 §6.1, "a client that receives an
/// HTTP/1.0 message containing a Transfer-Encoding header field MUST treat the message as if
/// the framing is faulty ... and close the connection after processing the message". The
/// parser keeps such a connection alive when the reply says `connection: keep-alive` (hyper,
/// on main, refused the reply).
#[test]
fn ru_an_http_1_0_reply_with_transfer_encoding_never_keeps_its_connection() {
    for text in [
        "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n",
        "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
    ] {
        match head(text) {
            Err(_) => {}
            Ok(h) => assert!(!h.unwrap().keep_alive, "{text}"),
        }
    }
}

#[test]
fn a_keep_alive_timeout_is_read_bounded_and_a_bad_one_ignored() {
    for (value, timeout) in [
        (Some("timeout=5, max=100"), Some(5)),
        (Some("max=100,Timeout = \"15\""), Some(15)),
        (Some("timeout=0"), Some(0)),
        (Some("timeout=5s"), None),
        (Some("timeout=-1"), None),
        (Some("timeout="), None),
        (Some("timeout=99999999999999999999999"), None),
        (Some("max=5"), None),
        (None, None),
    ] {
        let text = match value {
            Some(v) => format!("HTTP/1.1 200 OK\r\nkeep-alive: {v}\r\ncontent-length: 0\r\n\r\n"),
            None => "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_owned(),
        };
        let h = head(&text).unwrap().unwrap();
        assert_eq!(h.idle_timeout, timeout, "{value:?}");
        assert!(h.keep_alive);
    }
    // Said twice: the smaller counts.
    let h = head("HTTP/1.1 200 OK\r\nkeep-alive: timeout=30\r\nkeep-alive: timeout=4\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.idle_timeout, Some(4));
}

// ---- Reviewer RV (branch h-RV): the reply head's shared values and reused names. ----

/// Reviewer RV: one connection's `Spans` across heads that differ (names, count, order,
/// values), each head fed to `take_head` split at every byte and followed by body bytes in
/// the same read: the headers are always exactly the head's own (no stale name or offset
/// from the previous head), the body is left in the buffer, and a head with exactly
/// `MAX_HEADERS` headers is read while one more is refused.
#[test]
fn rv_spans_across_heads_split_at_every_byte_are_each_heads_own() {
    let at_limit: String = (0..MAX_HEADERS - 1)
        .map(|i| format!("x-h{i}: v{i}\r\n"))
        .collect::<String>();
    // Each head's bytes, and its headers as (name, value).
    type Headers = Vec<(String, Vec<u8>)>;
    let heads: Vec<(Vec<u8>, Headers)> = vec![
        (
            b"HTTP/1.1 200 OK\r\nx-request-id: aaaa\r\ncontent-length: 3\r\nx-b: 1\r\n\r\n".to_vec(),
            vec![
                ("x-request-id".into(), b"aaaa".to_vec()),
                ("content-length".into(), b"3".to_vec()),
                ("x-b".into(), b"1".to_vec()),
            ],
        ),
        // Same places, other names and longer values: offsets must be this head's.
        (
            b"HTTP/1.1 200 OK\r\nX-Request-Ie: bbbbbbbb\r\nContent-Length: 3\r\nx-b: \xe9\xe9\r\n\r\n"
                .to_vec(),
            vec![
                ("x-request-ie".into(), b"bbbbbbbb".to_vec()),
                ("content-length".into(), b"3".to_vec()),
                ("x-b".into(), b"\xe9\xe9".to_vec()),
            ],
        ),
        // Fewer, with a duplicate and an empty value.
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nx-d:\r\nx-d: 2\r\n\r\n".to_vec(),
            vec![
                ("content-length".into(), b"3".to_vec()),
                ("x-d".into(), b"".to_vec()),
                ("x-d".into(), b"2".to_vec()),
            ],
        ),
        // Exactly MAX_HEADERS headers.
        (
            format!("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n{at_limit}\r\n").into_bytes(),
            std::iter::once(("content-length".to_string(), b"3".to_vec()))
                .chain((0..MAX_HEADERS - 1).map(|i| (format!("x-h{i}"), format!("v{i}").into_bytes())))
                .collect(),
        ),
        // Back to the first.
        (
            b"HTTP/1.1 200 OK\r\nx-request-id: aaaa\r\ncontent-length: 3\r\nx-b: 1\r\n\r\n".to_vec(),
            vec![
                ("x-request-id".into(), b"aaaa".to_vec()),
                ("content-length".into(), b"3".to_vec()),
                ("x-b".into(), b"1".to_vec()),
            ],
        ),
    ];
    for split in 0..200 {
        let mut spans = Spans::default();
        let mut buf = BytesMut::new();
        for (text, want) in &heads {
            let mut wire = text.clone();
            wire.extend_from_slice(b"abc");
            let at = split.min(wire.len());
            buf.extend_from_slice(&wire[..at]);
            let mut rest = Some(&wire[at..]);
            let head = match take_head(&mut buf, false, &mut spans).unwrap() {
                Some(h) => h,
                None => {
                    buf.extend_from_slice(rest.take().unwrap_or_default());
                    take_head(&mut buf, false, &mut spans).unwrap().unwrap()
                }
            };
            // The head was whole at the first read: the rest of the body comes now.
            buf.extend_from_slice(rest.unwrap_or_default());
            let got: Vec<(String, Vec<u8>)> = head
                .headers
                .to_map()
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect();
            let mut got_sorted = got.clone();
            let mut want_sorted = want.clone();
            got_sorted.sort();
            want_sorted.sort();
            assert_eq!(got_sorted, want_sorted, "split {split}");
            assert_eq!(head.framing, Framing::Length(3));
            assert_eq!(&buf[..], b"abc", "split {split}");
            buf.clear();
        }
    }
    // One header over the limit is refused, and the connection's spans stay bounded.
    let mut spans = Spans::default();
    let mut buf = BytesMut::from(
        format!("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-over: 1\r\n{at_limit}\r\n").as_bytes(),
    );
    assert!(take_head(&mut buf, false, &mut spans).is_err());
    assert!(spans.at.len() <= MAX_HEADERS);
}

/// Reviewer RV: RFC 9112 §5.2: "A user agent that receives an obs-fold in a response message
/// ... MUST replace each received obs-fold with one or more SP octets prior to interpreting
/// the field value." A reply from an old proxy that folds a header is read, the folded
/// value copied with its CR and LF replaced with SP (the other values stay slices of the
/// head).
#[test]
fn rv_an_obs_folded_response_header_is_unfolded() {
    let mut buf = BytesMut::from(
        &b"HTTP/1.1 200 OK\r\nx-note: one\r\n two\r\ncontent-length: 2\r\n\r\nok"[..],
    );
    let head = take_head(&mut buf, false, &mut Spans::default())
        .expect("a folded header is unfolded, not refused")
        .unwrap();
    let note = head.headers.get("x-note").unwrap();
    assert!(note.starts_with(b"one") && note.ends_with(b"two") && !note.contains(&b'\r'));
    assert_eq!(&buf[..], b"ok");
}

/// Reviewer RV (issue 13): `ReplyHeaders::iter` says "each header's name and value, in the
/// order they came, duplicates kept". A head with a folded value is kept as a `HeaderMap`,
/// whose iteration groups a name's values together (and lowercases names): `x-a`, `x-b`,
/// `X-A` come out `x-a`, `x-a`, `x-b`. Lookups (`get`, the first of a name) are unaffected;
/// a caller of the public `iter` relying on the order is not.
#[test]
fn rv_reply_headers_iterate_in_the_order_they_came_when_a_value_is_folded() {
    let sent: [(&[u8], &[u8]); 4] = [
        (b"x-a", b"1"),
        (b"x-b", b"2"),
        (b"X-A", b"3"),
        (b"content-length", b"0"),
    ];
    for folded in [false, true] {
        let fold = if folded { "x-fold: a\r\n b\r\n" } else { "" };
        let text = format!(
            "HTTP/1.1 200 OK\r\nx-a: 1\r\nx-b: 2\r\nX-A: 3\r\ncontent-length: 0\r\n{fold}\r\n"
        );
        let mut buf = BytesMut::from(text.as_bytes());
        let head = take_head(&mut buf, false, &mut Spans::default())
            .unwrap()
            .unwrap();
        let got: Vec<(Vec<u8>, Vec<u8>)> = head
            .headers
            .iter()
            .take(4)
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_vec()))
            .collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = sent
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_vec()))
            .collect();
        assert_eq!(got, want, "folded: {folded}");
    }
}
