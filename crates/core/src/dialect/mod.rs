//! Dialect codecs: each vendor's wire format, shared by the fake providers (which write it)
//! and the live adapters (which read it).
//!
//! Each dialect module holds serde types for requests, responses, stream chunks or events and
//! error bodies, conversions to and from the normalized [`Request`](crate::request::Request),
//! and `classify`: the mapping from an HTTP status, headers and body to the outcome taxonomy,
//! Retry-After and rate-limit headers included. Nothing here does I/O: headers come in
//! through [`HeaderSource`], bodies as bytes.
//!
//! Mapping decisions common to every dialect: 404 (unknown model or deployment) is
//! `forbidden` — the target cannot serve this model, so fail over and count it against the
//! target; 408 and 504 are `timeout`; 503 and 529 are `overloaded`; other 5xx `server_error`.

pub mod anthropic;
pub mod azure_openai;
pub mod gemini;
pub mod openai;

use crate::outcome::ErrorKind;
use crate::time::Duration;

/// A vendor's wire format.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    Openai,
    Anthropic,
    Gemini,
    AzureOpenai,
}

impl Dialect {
    pub const ALL: [Dialect; 4] = [
        Dialect::Openai,
        Dialect::Anthropic,
        Dialect::Gemini,
        Dialect::AzureOpenai,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            Dialect::Openai => "openai",
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
            Dialect::AzureOpenai => "azure-openai",
        }
    }
}

/// Read access to response headers, by case-insensitive name.
pub trait HeaderSource {
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderSource for [(&str, &str)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

impl HeaderSource for Vec<(String, String)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl<const N: usize> HeaderSource for [(&str, &str); N] {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

/// `retry-after-ms` (OpenAI's precise form) or `retry-after` in seconds. The HTTP-date form of
/// `retry-after` is ignored: turning it into a duration needs a clock the core does not have.
pub fn retry_after(headers: &dyn HeaderSource) -> Option<Duration> {
    if let Some(ms) = headers
        .header("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return Some(Duration::from_secs_f64(ms / 1e3));
    }
    headers
        .header("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The error kind an HTTP status means when the body says nothing more specific.
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        400 | 405 | 409 | 413 | 415 | 422 => ErrorKind::BadRequest,
        401 => ErrorKind::Unauthorized,
        403 | 404 => ErrorKind::Forbidden,
        408 | 504 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimited,
        503 | 529 => ErrorKind::Overloaded,
        _ => ErrorKind::ServerError,
    }
}

/// A rough prompt-token estimate (four characters a token), for when no tokenizer is at hand.
pub fn estimate_tokens(text: &str) -> u32 {
    estimate_tokens_from_chars(text.chars().count())
}

/// [`estimate_tokens`] for text of `chars` characters: `ceil(chars / 4)`, saturating.
pub fn estimate_tokens_from_chars(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// One server-sent event as a dialect writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` line, for dialects that name their events (Anthropic).
    pub event: Option<&'static str>,
    pub data: String,
}

impl SseEvent {
    pub fn data(data: String) -> Self {
        SseEvent { event: None, data }
    }

    /// The event's bytes on the wire, blank line included.
    pub fn to_wire(&self) -> String {
        match self.event {
            Some(name) => format!("event: {name}\ndata: {}\n\n", self.data),
            None => format!("data: {}\n\n", self.data),
        }
    }
}

/// Formats a duration the way OpenAI's `x-ratelimit-reset-*` headers do (`1s`, `6m0s`, `20ms`).
pub fn openai_reset(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    let minutes = (secs / 60.0).floor() as u64;
    let rest = secs - minutes as f64 * 60.0;
    let rest = format!("{rest:.3}");
    let rest = rest.trim_end_matches('0').trim_end_matches('.');
    if minutes > 0 {
        format!("{minutes}m{rest}s")
    } else {
        format!("{rest}s")
    }
}

/// Seconds since the Unix epoch as an RFC 3339 UTC time (`2026-11-25T12:00:00Z`).
pub fn rfc3339(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses an RFC 3339 UTC time (`Z` or `+00:00`, fractional seconds ignored) to Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let t = text.trim();
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z').trim_end_matches("+00:00");
    let mut parts = time.split(':');
    let (hh, mm) = (
        parts.next()?.parse::<u64>().ok()?,
        parts.next()?.parse::<u64>().ok()?,
    );
    let ss = parts.next()?.split('.').next()?.parse::<u64>().ok()?;
    // Days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_prefers_milliseconds() {
        let h = [("Retry-After", "7"), ("retry-after-ms", "6500")];
        assert_eq!(retry_after(&h), Some(Duration::from_millis(6500)));
        assert_eq!(
            retry_after(&[("retry-after", "3")]),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
            None
        );
        assert_eq!(retry_after(&[("x", "1")]), None);
    }

    #[test]
    fn reset_durations_look_like_openai() {
        assert_eq!(openai_reset(Duration::from_millis(20)), "20ms");
        assert_eq!(openai_reset(Duration::from_secs(1)), "1s");
        assert_eq!(openai_reset(Duration::from_secs(360)), "6m0s");
        assert_eq!(openai_reset(Duration::from_millis(8640)), "8.64s");
        for text in ["20ms", "1s", "6m0s", "8.64s"] {
            assert!(text.parse::<Duration>().is_ok(), "{text}");
        }
    }

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_564_800), "2026-11-25T00:00:00Z");
        for t in [0, 951_782_400, 1_795_564_834, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2026-11-25T00:00:01.5+00:00"),
            Some(1_795_564_801)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(kind_for_status(529), ErrorKind::Overloaded);
        assert_eq!(kind_for_status(404), ErrorKind::Forbidden);
        assert_eq!(kind_for_status(502), ErrorKind::ServerError);
        assert_eq!(kind_for_status(504), ErrorKind::Timeout);
        assert_eq!(estimate_tokens("abcdefgh"), 2);
        assert_eq!(estimate_tokens("abcdefghi"), 3);
    }
}
