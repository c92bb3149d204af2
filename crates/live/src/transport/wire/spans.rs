//! Where a response head's headers lie in it, kept with the connection from one head to the
//! next ([`Spans`]).

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;

use super::WireError;

/// What a connection keeps from one response head to the next: where each header of the
/// head being read lies in it, as byte offsets from the head's start (its name's start and
/// end, its value's start and end), and the header names of the last head read. The first
/// pass over a head (`parse`) records the offsets while the head is still in the read
/// buffer; the second ([`Spans::headers`]) builds the headers from the head once it is
/// taken off, each value a slice of the head's bytes rather than a copy. Both hold at most
/// [`MAX_HEADERS`](super::MAX_HEADERS) entries, and are kept from head to head to be
/// neither allocated nor cleared again. A value folded over lines (obs-fold) is the one
/// copy: its CR and LF bytes replaced with SP (RFC 9112 5.2).
#[derive(Debug, Default)]
pub(in crate::transport) struct Spans {
    at: Vec<[u32; 4]>,
    pub(super) names: Vec<HeaderName>,
}

impl Spans {
    /// Records where each of `headers` (httparse's, of the head of `len` bytes at the start
    /// of `buf`) lies. An empty slice may lie anywhere: it is taken as empty at 0.
    pub(super) fn record(
        &mut self,
        buf: &[u8],
        len: usize,
        headers: &[httparse::Header<'_>],
    ) -> Result<(), WireError> {
        let base = buf.as_ptr().addr();
        let offsets = |part: &[u8]| -> Result<[u32; 2], WireError> {
            if part.is_empty() {
                return Ok([0, 0]);
            }
            part.as_ptr()
                .addr()
                .checked_sub(base)
                .and_then(|start| Some([start, start.checked_add(part.len())?]))
                .filter(|&[_, end]| end <= len)
                .and_then(|[a, b]| Some([u32::try_from(a).ok()?, u32::try_from(b).ok()?]))
                .ok_or(WireError::Head("header out of the head"))
        };
        self.at.clear();
        // At most MAX_HEADERS: httparse has no more slots.
        for h in headers {
            let [name_start, name_end] = offsets(h.name.as_bytes())?;
            let [start, end] = offsets(h.value)?;
            self.at.push([name_start, name_end, start, end]);
        }
        Ok(())
    }

    /// The headers of `head` (the bytes `parse` read, from its start) at the offsets.
    /// The names of the last head read are left holding this head's: a server names its
    /// headers alike from one reply to the next, and a name equal (ASCII case aside) to the
    /// one at the same place last time is that one again, cloned rather than parsed (and,
    /// for a name that is not a standard one, allocated).
    pub(super) fn headers(&mut self, head: &Bytes) -> Result<HeaderMap, WireError> {
        let names = &mut self.names;
        // A line ends in LF: a head with no value folded over lines (nearly all) has one
        // for its status line, one for each header and one for the empty line. One count
        // over the head (vectorized) spares a look at each value for a fold.
        let lines = memchr::memchr_iter(b'\n', head).count();
        let folds = lines != self.at.len().saturating_add(2);
        let mut headers = HeaderMap::with_capacity(self.at.len());
        for (i, &[name_start, name_end, start, end]) in self.at.iter().enumerate() {
            let range = |a: u32, b: u32| {
                let (a, b) = (usize::try_from(a).ok()?, usize::try_from(b).ok()?);
                (a <= b && b <= head.len()).then_some(a..b)
            };
            let (Some(name), Some(value)) = (range(name_start, name_end), range(start, end)) else {
                return Err(WireError::Head("header out of the head"));
            };
            let raw = head.get(name).unwrap_or_default();
            let name = match names.get(i) {
                // Most often the same bytes (a server writes its names alike): compared
                // whole first, byte by byte without case only when they differ.
                Some(last)
                    if last.as_str().as_bytes() == raw
                        || last.as_str().as_bytes().eq_ignore_ascii_case(raw) =>
                {
                    last.clone()
                }
                _ => {
                    let name =
                        HeaderName::from_bytes(raw).map_err(|_| WireError::Head("header name"))?;
                    match names.get_mut(i) {
                        Some(last) => *last = name.clone(),
                        None => names.push(name.clone()),
                    }
                    name
                }
            };
            let value = head.slice(value);
            let value = if folds {
                unfolded(value)?
            } else {
                HeaderValue::from_maybe_shared(value)
                    .map_err(|_| WireError::Head("header value"))?
            };
            headers.append(name, value);
        }
        names.truncate(self.at.len());
        Ok(headers)
    }
}

/// A header value from its bytes in the head: a slice of them, or, for a value folded over
/// lines (obs-fold, which httparse leaves in the value), a copy of them with each CR and LF
/// replaced with SP, as RFC 9112 5.2 asks of a user agent. The copy is no longer than the
/// value, itself within the head.
fn unfolded(raw: Bytes) -> Result<HeaderValue, WireError> {
    let raw = if raw.iter().any(|&b| b == b'\r' || b == b'\n') {
        let copy: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        Bytes::from(copy)
    } else {
        raw
    };
    HeaderValue::from_maybe_shared(raw).map_err(|_| WireError::Head("header value"))
}
