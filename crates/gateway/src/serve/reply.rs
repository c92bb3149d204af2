//! A response's head as the fast path writes it ([`super::fast`]): byte for byte what hyper's
//! HTTP/1.1 server writes for the same response (`crates/gateway/tests/serve_fast.rs`
//! compares the two): the status line, the response's headers in order, `connection: close`
//! when the connection ends after it, the body's framing (`content-length` when its size is
//! exact, else `transfer-encoding: chunked`), and `date`.

use axum::http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRAILER, TRANSFER_ENCODING};
use axum::http::{HeaderMap, StatusCode};

/// How a response's body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body (`content-length: 0`, or nothing for a 204 or 304).
    Empty,
    /// A body of this exact size.
    Length(u64),
    /// A body of unknown size, sent in chunks as it comes.
    Chunked,
}

/// Appends the head of a response with `status` and `headers`, its body framed by `framing`,
/// to `out`; with `connection: close` when `close` (and the response says nothing of it).
///
/// The handlers' responses carry no `content-length`, `transfer-encoding` or `trailer`
/// header (their bodies say their size): such a header would be dropped here, the framing
/// being the body's.
pub(super) fn head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    framing: Framing,
    close: bool,
) {
    out.reserve(64 + headers.len() * 32);
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        // hyper writes a reason always, as many parsers expect one.
        let reason = status.canonical_reason().unwrap_or("<none>");
        out.extend_from_slice(reason.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut dated = false;
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == TRAILER {
            continue;
        }
        dated |= name == DATE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close && !headers.contains_key(CONNECTION) {
        out.extend_from_slice(b"connection: close\r\n");
    }
    match framing {
        _ if bodiless(status) => {}
        Framing::Empty => out.extend_from_slice(b"content-length: 0\r\n"),
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    if !dated {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(&date());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether a response with `status` has no body at all on the wire (204, 304).
pub(super) fn bodiless(status: StatusCode) -> bool {
    matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
}

/// Appends a chunk's size line (`{len:x}\r\n`) to `out`.
pub(super) fn chunk_size(out: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        out.push(HEX[(len >> (shift * 4)) & 0xf]);
    }
    out.extend_from_slice(b"\r\n");
}

/// An IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
type HttpDate = [u8; 29];

thread_local! {
    /// This thread's `date` value and the second it is for: formatted once a second, as
    /// hyper caches its own.
    static NOW: std::cell::Cell<(u64, HttpDate)> = const { std::cell::Cell::new((u64::MAX, [0; 29])) };
}

/// Now, as the `date` header says it (the wall clock: the gateway's, never the core's).
fn date() -> HttpDate {
    let now = switchyard_live::wall::unix_now();
    NOW.with(|cached| {
        let (at, text) = cached.get();
        if at == now {
            return text;
        }
        let text = imf_fixdate(now);
        cached.set((now, text));
        text
    })
}

/// `secs` since the Unix epoch as an IMF-fixdate (RFC 9110 §5.6.7); years past 9999 are
/// written 9999.
fn imf_fixdate(secs: u64) -> HttpDate {
    const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let (year, month, day) = crate::logging::civil_from_days(days);
    let year = year.min(9999);
    let mut out = [0u8; 29];
    let two = |n: u64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    out[..3].copy_from_slice(DAYS[((days + 4) % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    out[5..7].copy_from_slice(&two(day));
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize % 12]);
    out[11] = b' ';
    out[12..14].copy_from_slice(&two(year / 100));
    out[14..16].copy_from_slice(&two(year));
    out[16] = b' ';
    out[17..19].copy_from_slice(&two(of_day / 3600));
    out[19] = b':';
    out[20..22].copy_from_slice(&two(of_day / 60 % 60));
    out[22] = b':';
    out[23..25].copy_from_slice(&two(of_day % 60));
    out[25..].copy_from_slice(b" GMT");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdates() {
        for (secs, want) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_798_761_599, "Thu, 31 Dec 2026 23:59:59 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            assert_eq!(String::from_utf8_lossy(&imf_fixdate(secs)), want, "{secs}");
        }
    }

    #[test]
    fn chunk_sizes_are_lowercase_hex() {
        for (len, want) in [
            (0, "0\r\n"),
            (9, "9\r\n"),
            (255, "ff\r\n"),
            (4096, "1000\r\n"),
        ] {
            let mut out = Vec::new();
            chunk_size(&mut out, len);
            assert_eq!(out, want.as_bytes());
        }
    }

    #[test]
    fn heads_are_hyper_s() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("x-request-id", "req-1".parse().unwrap());
        let mut out = Vec::new();
        head(
            &mut out,
            StatusCode::OK,
            &headers,
            Framing::Length(12),
            false,
        );
        let text = String::from_utf8(out).unwrap();
        let (before, date) = text.split_once("date: ").unwrap();
        assert_eq!(
            before,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req-1\r\ncontent-length: 12\r\n"
        );
        assert_eq!(date.len(), 29 + 4, "{date:?}");
        let mut out = Vec::new();
        head(
            &mut out,
            StatusCode::from_u16(599).unwrap(),
            &HeaderMap::new(),
            Framing::Chunked,
            true,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                "HTTP/1.1 599 <none>\r\nconnection: close\r\ntransfer-encoding: chunked\r\ndate: "
            ),
            "{text}"
        );
        let mut out = Vec::new();
        head(
            &mut out,
            StatusCode::NO_CONTENT,
            &HeaderMap::new(),
            Framing::Empty,
            false,
        );
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("HTTP/1.1 204 No Content\r\ndate: ")
        );
        let mut out = Vec::new();
        head(
            &mut out,
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            Framing::Empty,
            false,
        );
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\ndate: ")
        );
    }
}
