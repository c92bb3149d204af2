//! Where a response head's headers lie in it, kept with the connection from one head to the
//! next ([`Spans`]).

use axum::http::{HeaderName, HeaderValue};
use bytes::Bytes;

use crate::transport::ReplyHeaders;

use super::WireError;

/// Where each header of the head being read lies in it, as byte offsets from the head's
/// start (its name's start and end, its value's start and end), kept with the connection
/// from one head to the next so as not to be allocated again. The first pass over a head
/// (`parse`) records the offsets while the head is still in the read buffer; the second
/// ([`Spans::headers`]) makes the head's [`ReplyHeaders`] once it is taken off: the head's
/// bytes and a copy of the offsets, nothing parsed. At most
/// [`MAX_HEADERS`](super::MAX_HEADERS) entries. A head with a value folded over lines
/// (obs-fold) gets its headers made one by one instead, each folded value copied with its CR
/// and LF bytes replaced with SP (RFC 9112 5.2).
#[derive(Debug, Default)]
pub(in crate::transport) struct Spans {
    pub(super) at: Vec<[u32; 4]>,
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

    /// The headers of `head` (the bytes `parse` read, from its start) at the offsets. httparse
    /// has checked each name is a token and each value holds no control byte but HTAB: the
    /// bytes `HeaderName` and `HeaderValue` accept.
    pub(super) fn headers(&self, head: &Bytes) -> Result<ReplyHeaders, WireError> {
        // A line ends in LF: a head with no value folded over lines (nearly all) has one
        // for its status line, one for each header and one for the empty line. One count
        // over the head (vectorized) spares a look at each value for a fold.
        let lines = memchr::memchr_iter(b'\n', head).count();
        if lines == self.at.len().saturating_add(2) {
            return ReplyHeaders::spans(head.clone(), &self.at)
                .ok_or(WireError::Head("header out of the head"));
        }
        let mut headers = Vec::with_capacity(self.at.len());
        for &[name_start, name_end, start, end] in &self.at {
            let range = |a: u32, b: u32| {
                let (a, b) = (usize::try_from(a).ok()?, usize::try_from(b).ok()?);
                (a <= b && b <= head.len()).then_some(a..b)
            };
            let (Some(name), Some(value)) = (range(name_start, name_end), range(start, end)) else {
                return Err(WireError::Head("header out of the head"));
            };
            let name = HeaderName::from_bytes(head.get(name).unwrap_or_default())
                .map_err(|_| WireError::Head("header name"))?;
            headers.push((name, unfolded(head.slice(value))?));
        }
        Ok(ReplyHeaders::made(headers))
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
