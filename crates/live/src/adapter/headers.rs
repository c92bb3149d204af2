//! A reply's headers as the dialects read them: wherever the transport put them
//! ([`ReplyView`]), its outcome when it is an error ([`classify`]) and its rate limits
//! ([`limits`]).

use axum::http::HeaderMap;
use switchyard_core::dialect::{Dialect, HeaderSource};
use switchyard_core::health::LimitSnapshot;
use switchyard_core::outcome::Outcome;

use crate::transport::ReplyHeaders;

/// Response headers as the core's `HeaderSource`.
#[derive(Debug)]
pub struct Headers<'a>(pub &'a HeaderMap);

impl HeaderSource for Headers<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        map_header(self.0, name)
    }
}

/// The first value of `map` named `name`, when it is visible ASCII. A scan rather than a
/// hashed lookup: a reply has a handful of headers, and the dialects ask for several that
/// are usually absent (rate-limit headers), where parsing and hashing the name for
/// `HeaderMap::get` costs more than comparing it with each one.
fn map_header<'a>(map: &'a HeaderMap, name: &str) -> Option<&'a str> {
    map.iter()
        .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.to_str().ok())
}

/// A reply's headers wherever its transport put them: the driver's requests over a bare
/// [`HttpClient`](crate::HttpClient) as [`ReplyHeaders`] beside the response, the others in
/// `headers()`.
#[derive(Clone, Copy, Debug)]
pub enum ReplyView<'a> {
    Read(&'a ReplyHeaders),
    Map(&'a HeaderMap),
}

/// The headers of the reply whose head is `parts`: `read`, those its transport returned
/// beside it, or else its `headers()`.
pub fn view<'a>(
    parts: &'a axum::http::response::Parts,
    read: Option<&'a ReplyHeaders>,
) -> ReplyView<'a> {
    match read {
        Some(read) => ReplyView::Read(read),
        None => ReplyView::Map(&parts.headers),
    }
}

impl ReplyView<'_> {
    /// The value of the first header named `name` (ASCII case ignored).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        match self {
            Self::Read(read) => read.get(name),
            Self::Map(map) => map_header(map, name).map(str::as_bytes),
        }
    }

    /// Whether some header's name starts with `prefix` (lowercase; ASCII case ignored).
    fn any_name_starts(&self, prefix: &str) -> bool {
        let starts = |name: &[u8]| {
            name.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
        };
        match self {
            Self::Read(read) => read.iter().any(|(name, _)| starts(name)),
            Self::Map(map) => map.keys().any(|k| starts(k.as_str().as_bytes())),
        }
    }
}

impl HeaderSource for ReplyView<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        match self {
            Self::Read(read) => read.header(name),
            Self::Map(map) => map_header(map, name),
        }
    }
}

/// An error reply's outcome.
pub fn classify(dialect: Dialect, status: u16, h: &ReplyView<'_>, body: &[u8]) -> Outcome {
    match dialect {
        Dialect::Openai => switchyard_core::dialect::openai::classify(status, h, body),
        Dialect::AzureOpenai => switchyard_core::dialect::azure_openai::classify(status, h, body),
        Dialect::Anthropic => switchyard_core::dialect::anthropic::classify(status, h, body),
        Dialect::Gemini => switchyard_core::dialect::gemini::classify(status, h, body),
    }
}

/// What the name of each rate-limit header OpenAI's [`limits`] reads starts with.
const OPENAI_LIMITS: &str = "x-ratelimit-";

/// The reply's rate-limit headers (Anthropic's resets are dates: `wall_now` is Unix seconds).
pub fn limits(dialect: Dialect, h: &ReplyView<'_>, wall_now: u64) -> LimitSnapshot {
    match dialect {
        // Six lookups, each a scan of the headers, when a reply has no rate-limit header at
        // all (a fake's, a proxy's): one scan answers for them.
        Dialect::Openai | Dialect::AzureOpenai if !h.any_name_starts(OPENAI_LIMITS) => {
            LimitSnapshot::default()
        }
        Dialect::Openai | Dialect::AzureOpenai => switchyard_core::dialect::openai::limits(h),
        Dialect::Anthropic => switchyard_core::dialect::anthropic::limits(h, wall_now),
        Dialect::Gemini => LimitSnapshot::default(),
    }
}
