//! Strings of a forwarded reply: [`Scan::string`], a run of plain bytes at a time (eight at
//! a time, [`plain_run`]), with UTF-8 checked only in a string that has a byte that is not
//! ASCII (the rest of a body the scan accepts is ASCII).

use std::borrow::Cow;

use super::{NotAReply, Read, Scan, Str};

/// How many bytes at the start of `b` need no attention in a string (no quote, backslash or
/// control character), and whether any of them is not ASCII. Eight bytes at a time (a
/// reply's text is most of its bytes): the lowest flagged byte of a word is the first special
/// one (the borrow of the zero test only ever flags bytes after a true one), so only the last
/// few bytes of the body are looked at one by one.
pub(in crate::dialect::openai) fn plain_run(b: &[u8]) -> (usize, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A high bit for each byte of `x` that is zero (and maybe for bytes after one).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut n = 0;
    let mut high = 0u64;
    for chunk in b.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let special = zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGH);
        if special != 0 {
            // The bytes before the first special one.
            let before = special.trailing_zeros() / 8;
            let mask = (1u64 << (before * 8)).wrapping_sub(1);
            return (n + before as usize, high | (v & HIGH & mask) != 0);
        }
        high |= v & HIGH;
        n += 8;
    }
    let mut non_ascii = high != 0;
    while let Some(&c) = b.get(n) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        non_ascii |= c >= 0x80;
        n += 1;
    }
    (n, non_ascii)
}

impl<'a> Scan<'a> {
    /// The rest of a string whose opening quote is consumed. `Keep` returns its text
    /// (borrowed unless it has escapes); the other modes return it empty.
    #[inline(always)]
    pub(super) fn string(&mut self, mode: Str) -> Read<Cow<'a, [u8]>> {
        // Most strings have no escape: read at once up to the closing quote, inline. The rest
        // (an escape, a control character, no closing quote) take the loop below.
        let start = self.i;
        let rest = self.b.get(start..).unwrap_or_default();
        let (run, non_ascii) = plain_run(rest);
        if let (Some(b'"'), Some(raw)) = (rest.get(run), rest.get(..run)) {
            if non_ascii {
                std::str::from_utf8(raw).map_err(|_| NotAReply)?;
            }
            self.i = start + run + 1;
            return Ok(Cow::Borrowed(if mode == Str::Keep { raw } else { &[] }));
        }
        self.escaped_string(mode)
    }

    /// [`string`](Self::string) for a string with an escape (or a defect): the same, a run
    /// and an escape at a time.
    #[inline(never)]
    fn escaped_string(&mut self, mode: Str) -> Read<Cow<'a, [u8]>> {
        let start = self.i;
        let mut owned: Option<Vec<u8>> = None;
        let mut non_ascii = false;
        loop {
            let rest = self.b.get(self.i..).unwrap_or_default();
            let (run, high) = plain_run(rest);
            non_ascii |= high;
            if let Some(v) = owned.as_mut() {
                v.extend_from_slice(rest.get(..run).unwrap_or_default());
            }
            self.i += run;
            let c = self.next()?;
            match c {
                b'"' => {
                    let raw = self.b.get(start..self.i - 1).ok_or(NotAReply)?;
                    // Escapes are ASCII, and a UTF-8 sequence cannot hold one: the string's
                    // bytes as written are UTF-8 exactly when its text is.
                    if non_ascii {
                        std::str::from_utf8(raw).map_err(|_| NotAReply)?;
                    }
                    return Ok(match owned {
                        Some(v) => Cow::Owned(v),
                        None if mode == Str::Keep => Cow::Borrowed(raw),
                        None => Cow::Borrowed(&[]),
                    });
                }
                b'\\' => {
                    if mode == Str::Keep && owned.is_none() {
                        owned = Some(self.b.get(start..self.i - 1).ok_or(NotAReply)?.to_vec());
                    }
                    self.escape(mode, owned.as_mut())?;
                }
                // `plain_run` stops only at a quote, a backslash, a control character or the
                // body's end (then `next` failed).
                _ => return Err(NotAReply),
            }
        }
    }

    /// One escape after its backslash, appended to `out` when there is one.
    fn escape(&mut self, mode: Str, out: Option<&mut Vec<u8>>) -> Read<()> {
        let c = self.next()?;
        let decoded = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                if mode == Str::Skip {
                    return Ok(());
                }
                let code = match unit {
                    0xDC00..=0xDFFF => return Err(NotAReply),
                    0xD800..=0xDBFF => {
                        self.word(b"\\u")?;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(NotAReply);
                        }
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
                    }
                    _ => u32::from(unit),
                };
                char::from_u32(code).ok_or(NotAReply)?
            }
            _ => return Err(NotAReply),
        };
        if let Some(out) = out {
            let mut buf = [0u8; 4];
            out.extend_from_slice(decoded.encode_utf8(&mut buf).as_bytes());
        }
        Ok(())
    }

    fn hex4(&mut self) -> Read<u16> {
        let mut n = 0u16;
        for _ in 0..4 {
            let d = char::from(self.next()?).to_digit(16).ok_or(NotAReply)?;
            n = (n << 4) | d as u16;
        }
        Ok(n)
    }
}
