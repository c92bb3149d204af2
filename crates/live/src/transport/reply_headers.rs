//! A reply's headers as [`HttpClient`](super::HttpClient) read them ([`ReplyHeaders`]).

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;

/// The headers of a reply to the driver's requests (`HttpClient::send_prepared_as`),
/// returned beside its `Response`, whose `headers()` (and extensions) it leaves empty
/// ([`crate::adapter::view`] reads either).
///
/// A reply's headers are the head's own bytes and where each header lies in them: nothing
/// is parsed into a `HeaderMap` (a name, a hash and a shared value each) for a reply whose
/// headers are only looked up, a few of them by name (a vendor sends 15 to 25). Names and
/// values were checked when the head was read (the same bytes `HeaderName` and
/// `HeaderValue` accept); a value folded over lines (obs-fold, rare) makes the head's
/// headers each made, in the order they came, its folds replaced with SP.
#[derive(Clone, Debug)]
pub struct ReplyHeaders(Kind);

#[derive(Clone, Debug)]
enum Kind {
    /// The head, and each header's name's and value's start and end in it (checked against
    /// its length when made).
    Spans { head: Bytes, at: Box<[[u32; 4]]> },
    /// Each header made, in the order they came (a head with a folded value).
    Made(Vec<(HeaderName, HeaderValue)>),
}

impl Default for ReplyHeaders {
    fn default() -> Self {
        Self(Kind::Made(Vec::new()))
    }
}

impl ReplyHeaders {
    /// The headers at `at` in `head`: `None` if a span lies outside it.
    pub(super) fn spans(head: Bytes, at: &[[u32; 4]]) -> Option<Self> {
        let len = head.len();
        let inside = |a: u32, b: u32| {
            let (a, b) = (usize::try_from(a).ok()?, usize::try_from(b).ok()?);
            (a <= b && b <= len).then_some(())
        };
        for &[n0, n1, v0, v1] in at {
            inside(n0, n1)?;
            inside(v0, v1)?;
        }
        Some(Self(Kind::Spans {
            head,
            at: at.into(),
        }))
    }

    /// Headers made one by one (a head with a folded value), in the order they came.
    pub(super) fn made(headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        Self(Kind::Made(headers))
    }

    /// Each header's name and value, in the order they came, duplicates kept.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let (spans, made) = match &self.0 {
            Kind::Spans { head, at } => (Some((head, at)), None),
            Kind::Made(made) => (None, Some(made)),
        };
        let from_spans = spans.into_iter().flat_map(|(head, at)| {
            at.iter().map(move |&[n0, n1, v0, v1]| {
                // Within the head: checked when made.
                let part = |a: u32, b: u32| head.get(a as usize..b as usize).unwrap_or_default();
                (part(n0, n1), part(v0, v1))
            })
        });
        let from_made = made
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str().as_bytes(), v.as_bytes())));
        from_spans.chain(from_made)
    }

    /// The value of the first header named `name` (ASCII case ignored).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let name = name.as_bytes();
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        match &self.0 {
            Kind::Spans { at, .. } => at.len(),
            Kind::Made(made) => made.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The headers as a `HeaderMap` (names lowercased, values sharing the head's bytes), for
    /// a response whose `headers()` carry them. A name or value `http` does not accept, which
    /// a head the client read never has (httparse checked each), would be left out.
    pub(super) fn into_map(self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.len());
        match self.0 {
            Kind::Made(made) => map.extend(made),
            Kind::Spans { head, at } => {
                for &[n0, n1, v0, v1] in at.iter() {
                    // Within the head: checked when made.
                    let name = HeaderName::from_bytes(
                        head.get(n0 as usize..n1 as usize).unwrap_or_default(),
                    );
                    let value =
                        HeaderValue::from_maybe_shared(head.slice(v0 as usize..v1 as usize));
                    if let (Ok(name), Ok(value)) = (name, value) {
                        map.append(name, value);
                    }
                }
            }
        }
        map
    }

    /// The headers as a `HeaderMap` (names lowercased, values sharing the head's bytes).
    pub fn to_map(&self) -> HeaderMap {
        self.clone().into_map()
    }
}

impl switchyard_core::dialect::HeaderSource for ReplyHeaders {
    /// A scan, as the `HeaderMap` one ([`crate::adapter::Headers`]); a value that is not
    /// visible ASCII is `None`, as `HeaderValue::to_str` has it.
    fn header(&self, name: &str) -> Option<&str> {
        let value = self.get(name)?;
        let visible = value
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
        if visible {
            std::str::from_utf8(value).ok()
        } else {
            None
        }
    }
}
