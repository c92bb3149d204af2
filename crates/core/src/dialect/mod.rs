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
pub mod upstream;

use crate::outcome::ErrorKind;
use crate::time::Duration;

pub use crate::vendor::Dialect;

/// A request feature a dialect cannot express. The request is then routed only to targets
/// whose dialect can, and refused (400 in the client's dialect, naming `field`) when none
/// can: never sent with the feature dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// The request field, as an OpenAI client names it (`response_format`, `n`, `seed`,
    /// `messages[2].content[0]`).
    pub field: String,
    /// The dialect that cannot express it.
    pub dialect: Dialect,
    /// Why, in a sentence a client can act on.
    pub reason: String,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` cannot be sent to a target of dialect {}: {}",
            self.field,
            self.dialect.label(),
            self.reason
        )
    }
}

/// Whether `dialect` can express `request`, decided without building the body: the one rule
/// the encoders (`from_normalized`) and the routing (which excludes targets that cannot)
/// both apply. The first field it cannot express, in request order, is the answer.
pub fn check(dialect: Dialect, request: &crate::request::Request) -> Result<(), Unsupported> {
    if let Some(field) = request.unmodelled.first() {
        // Only the client's own body carries what the normalized request does not model.
        let passed_through = request.original.as_ref().is_some_and(|o| {
            o.dialect == dialect
                || (o.dialect == Dialect::Openai && dialect == Dialect::AzureOpenai)
        });
        if !passed_through {
            return Err(Unsupported {
                field: field.clone(),
                dialect,
                reason: "Switchyard does not translate this field, so only a target of the \
                         client's own dialect, sent the client's body, can take the request"
                    .to_owned(),
            });
        }
    }
    match dialect {
        Dialect::Openai | Dialect::AzureOpenai => openai::check(dialect, request),
        Dialect::Anthropic => anthropic::check(request),
        Dialect::Gemini => gemini::check(request),
    }
}

/// Read access to response headers, by case-insensitive name.
pub trait HeaderSource {
    /// The value of the first header named `name` (ASCII case ignored); `None` when absent.
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

/// The longest delay or reset any header parser here returns: one day. Headers come from
/// upstreams we do not control, so the rule is: a value written as a number (digits and at
/// most one `.`, or Go's `1h2m3.5s` form) that is above one day — a daily quota's "tomorrow"
/// or plain garbage — saturates to it, however many digits it has, rather than parking a
/// target for years or overflowing; anything else (`inf`, `NaN`, negative, exponents, no
/// unit) is no value (`None`). The router may cap Retry-After lower still; parsers only
/// promise finite, sane values.
pub const MAX_HEADER_DELAY: Duration = Duration::from_secs(86_400);

/// `secs` as a duration, saturated at [`MAX_HEADER_DELAY`] (`secs` is finite or `+inf`,
/// never negative or NaN: callers parse only digits and dots).
fn saturated(secs: f64) -> Duration {
    if secs >= MAX_HEADER_DELAY.as_secs_f64() {
        MAX_HEADER_DELAY
    } else {
        Duration::from_secs_f64(secs)
    }
}

/// A decimal number of digits and at most one `.`; `+inf` when it has too many digits for
/// an `f64`.
fn plain_number(text: &str) -> Option<f64> {
    if !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    text.parse().ok()
}

/// A header's number of `unit`s (in seconds: 1.0 or 1e-3) as a duration; see
/// [`MAX_HEADER_DELAY`] for what is refused and what saturates.
fn header_delay(text: &str, unit: f64) -> Option<Duration> {
    plain_number(text.trim()).map(|n| saturated(n * unit))
}

/// A duration header in Go's form (`20ms`, `6m0s`, `1h2m3.5s`: parts of a plain number and
/// a unit `ns`, `us`, `ms`, `s`, `m` or `h`), or `0`; see [`MAX_HEADER_DELAY`].
pub fn header_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut secs = 0.0_f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = plain_number(rest.get(..n)?)?;
        rest = rest.get(n..)?;
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match rest.get(..u)? {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        // Sums of non-negative parts: at worst `+inf`, which saturates.
        secs += number * unit;
        rest = rest.get(u..)?;
    }
    Some(saturated(secs))
}

/// `retry-after-ms` (OpenAI's precise form) or `retry-after` in seconds, each saturated at
/// [`MAX_HEADER_DELAY`]; a `retry-after-ms` that is not a number defers to `retry-after`.
/// The HTTP-date form of `retry-after` is ignored: turning it into a duration needs a clock
/// the core does not have.
pub fn retry_after(headers: &dyn HeaderSource) -> Option<Duration> {
    let ms = headers
        .header("retry-after-ms")
        .and_then(|v| header_delay(v, 1e-3));
    ms.or_else(|| {
        headers
            .header("retry-after")
            .and_then(|v| header_delay(v, 1.0))
    })
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
    /// The `data:` line's text: one line (a compact JSON document, or OpenAI's `[DONE]`).
    pub data: String,
}

impl SseEvent {
    /// An unnamed event carrying `data` (OpenAI's and Gemini's form).
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

/// An unsigned decimal of exactly `len` ASCII digits (no sign, no spaces).
fn digits(text: &str, len: usize) -> Option<i64> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses an RFC 3339 time (`2026-11-25T12:00:00Z`, `...T12:00:00.5+01:00`; fractional
/// seconds ignored) to Unix seconds. `None` for anything else, times before 1970 included:
/// fields must have their RFC 3339 widths and ranges (years 0000–9999, a leap second
/// allowed), so the arithmetic below cannot overflow whatever an upstream sends.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let t = text.trim();
    let (date, time) = t.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let y = digits(d.next()?, 4)?;
    let m = digits(d.next()?, 2)?;
    let day = digits(d.next()?, 2)?;
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // The clock, then optional fractional seconds, then the offset.
    let hh = digits(time.get(0..2)?, 2)?;
    let mm = digits(time.get(3..5)?, 2)?;
    let ss = digits(time.get(6..8)?, 2)?;
    if time.get(2..3)? != ":" || time.get(5..6)? != ":" || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = time.get(8..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = frac.get(n..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let oh = digits(rest.get(1..3)?, 2)?;
            let om = digits(rest.get(4..)?, 2)?;
            if rest.get(3..4)? != ":" || oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    // Days-from-civil (Howard Hinnant's algorithm); every value is small here.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss - offset;
    u64::try_from(secs).ok()
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
    fn retry_after_refuses_what_is_not_a_delay_and_saturates_what_is_too_long() {
        for bad in [
            "inf", "-inf", "infinity", "NaN", "-1", "-0.5", "1e", "1e400", "1e3", "", " ", "0x10",
            "1.2.3", ".", "+5",
        ] {
            assert_eq!(retry_after(&[("retry-after-ms", bad)]), None, "ms {bad:?}");
            assert_eq!(retry_after(&[("retry-after", bad)]), None, "s {bad:?}");
        }
        let digits = "9".repeat(400);
        for huge in ["18446744073709551616", "86400001", &digits] {
            assert_eq!(
                retry_after(&[("retry-after-ms", huge)]),
                Some(MAX_HEADER_DELAY),
                "{huge}"
            );
        }
        assert_eq!(
            retry_after(&[("retry-after", "86401")]),
            Some(MAX_HEADER_DELAY)
        );
        assert_eq!(
            retry_after(&[("retry-after-ms", "86399999")]),
            Some(Duration::from_millis(86_399_999))
        );
        assert_eq!(
            retry_after(&[("retry-after-ms", "0.5")]),
            Some(Duration::from_micros(500))
        );
        // A nonsense precise value defers to the plain one.
        assert_eq!(
            retry_after(&[("retry-after-ms", "NaN"), ("retry-after", "2")]),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn reset_headers_refuse_nonsense_and_saturate_what_is_too_long() {
        assert_eq!(header_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(
            header_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(header_duration(" 20ms "), Some(Duration::from_millis(20)));
        for bad in ["1e308h", "inf", "NaN", "-1s", "6m-1s", "1..5s", "s", ""] {
            assert_eq!(header_duration(bad), None, "{bad:?}");
        }
        let digits = format!("{}h", "9".repeat(400));
        for long in [
            "25h",
            "9999999h",
            "99999999999999999999h",
            "1000000000000000000000ns",
            &digits,
        ] {
            assert_eq!(header_duration(long), Some(MAX_HEADER_DELAY), "{long}");
        }
    }

    #[test]
    fn rfc3339_refuses_extremes_without_overflow() {
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), Some(253_402_300_799));
        assert_eq!(
            parse_rfc3339("2026-11-25T00:00:60Z"),
            Some(1_795_564_860),
            "a leap second"
        );
        let many_digits = format!("2026-11-25T00:00:01.{}Z", "9".repeat(100_000));
        assert_eq!(parse_rfc3339(&many_digits), Some(1_795_564_801));
        assert_eq!(
            parse_rfc3339("2026-11-25T01:30:00+01:30"),
            Some(1_795_564_800)
        );
        assert_eq!(
            parse_rfc3339("2026-11-24T23:00:00-01:00"),
            Some(1_795_564_800)
        );
        for bad in [
            "10000-01-01T00:00:00Z",
            "99999999999999999999-01-01T00:00:00Z",
            "9223372036854775807-12-31T23:59:59Z",
            "2026-99999999999999999-01T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-11-32T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T00:60:00Z",
            "2026-11-25T00:00:61Z",
            "2026-11-25T99999999999999999999:00:00Z",
            "2026-11-25T00:00:00.Z",
            "2026-11-25T00:00:00",
            "2026-11-25T00:00:00+24:00",
            "2026-11-25T00:00:00+01",
            "+2026-11-25T00:00:00Z",
            "2026-+1-25T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "1970-01-01T00:00:00+00:01",
            "2026-11-25T0é:00:00Z",
            "2026-11-25Té",
            "T",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn header_parsers_never_panic_and_stay_within_a_day(text in "\\PC{0,40}|[0-9.:TZ+hms-]{0,40}") {
            for d in [
                header_duration(&text),
                retry_after(&[("retry-after-ms", text.as_str())]),
                retry_after(&[("retry-after", text.as_str())]),
            ] {
                proptest::prop_assert!(d.is_none_or(|d| d <= MAX_HEADER_DELAY));
            }
            let _ = parse_rfc3339(&text);
        }
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
