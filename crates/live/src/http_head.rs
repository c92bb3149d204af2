//! The usual HTTP/1.1 head read by hand, for the gateway's request heads and the client's
//! response heads: httparse reads any head, at ~270 instructions a header line; the usual
//! one (header lines of a token, a colon and printable ASCII, each ending in CR LF) is read
//! here for about a third of that. What is not usual is not read here at all: the caller
//! then hands the head to httparse, which reads or refuses it as before. What is read here,
//! httparse reads alike (tests compare both on generated heads, here and in the gateway).

/// The header lines from `at` in `buf` up to and including the empty line that ends the
/// head, put in `out` (each value without the spaces around it, as httparse trims it): where
/// the head ends and how many lines there were. `None` when a line is not usual (a tab, a
/// control byte or a byte above 0x7e in a value, a bare LF, a space before the colon, a
/// folded line), there are more lines than `out` holds, or the head is not whole in `buf`.
pub fn header_lines<'b>(
    buf: &'b [u8],
    mut at: usize,
    out: &mut [httparse::Header<'b>],
) -> Option<(usize, usize)> {
    let mut n = 0;
    loop {
        let rest = buf.get(at..)?;
        if rest.starts_with(b"\r\n") {
            return Some((at + 2, n));
        }
        // A line: `name:value` then CR LF.
        let colon = rest.iter().take_while(|&&b| TOKEN[usize::from(b)]).count();
        let value = rest.get(colon + 1..)?;
        let len = printable_run(value);
        if colon == 0 || rest.get(colon) != Some(&b':') || value.get(len..len + 2)? != b"\r\n" {
            return None;
        }
        let lead = value.iter().take_while(|&&b| b == b' ').count().min(len);
        *out.get_mut(n)? = httparse::Header {
            // Token bytes: ASCII.
            name: std::str::from_utf8(rest.get(..colon)?).ok()?,
            value: value.get(lead..len)?.trim_ascii_end(),
        };
        n += 1;
        at += colon + 1 + len + 2;
    }
}

/// Which bytes a header name may hold (RFC 9110's `tchar`).
const TOKEN: [bool; 256] = {
    let mut token = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        token[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        b += 1;
    }
    token
};

/// How many bytes at the start of `b` are printable ASCII (0x20 to 0x7e, spaces included; no
/// tab, no control byte, nothing above): eight at a time, the lowest flagged byte of a word
/// being the first one that is not (the borrow and the carry of the word tests only ever
/// flag bytes above a true one).
pub fn printable_run(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let mut n = 0;
    for chunk in b.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let below = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let above = (x.wrapping_add(ONES) | x) & HIGH;
        let flagged = below | above;
        if flagged != 0 {
            return n + (flagged.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + b
        .get(n..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&c| (0x20..0x7f).contains(&c))
        .count()
}

/// A response head's status line, the usual one: `HTTP/1.1`, a space, three digits, a space
/// and a reason of printable ASCII (maybe empty), CR LF. The status code and where the line
/// ends; `None` for any other (httparse's then).
pub fn status_line(buf: &[u8]) -> Option<(u16, usize)> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ")?;
    let (&[a, b, c, b' '], reason) = rest.split_first_chunk::<4>()? else {
        return None;
    };
    let digit = |d: u8| d.is_ascii_digit().then(|| u16::from(d - b'0'));
    let code = digit(a)? * 100 + digit(b)? * 10 + digit(c)?;
    let len = printable_run(reason);
    (reason.get(len..len + 2)? == b"\r\n").then_some((code, 9 + 4 + len + 2))
}

#[cfg(test)]
mod tests;
