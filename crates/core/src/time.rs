//! Virtual-or-real time as the core sees it: an [`Instant`] is nanoseconds since the run
//! started, a [`Duration`] is a span of nanoseconds.
//!
//! The core never reads a clock. Drivers translate their own clock (tokio's, or the
//! simulator's virtual clock) into an `Instant` and pass it as `now` to every decision. Both
//! types are plain `u64`s so they are `Copy`, totally ordered and cheap to compare, and their
//! arithmetic saturates instead of panicking: a deadline computed past the end of time is
//! simply "never".
//!
//! `Duration` parses and prints humane strings (`250ms`, `1.5s`, `2m`, `1h30m`) because that
//! is how people write them in config files.

use std::fmt;
use std::str::FromStr;

/// A point in time: nanoseconds since the start of the run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

/// A span of time in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

impl Instant {
    /// The start of the run.
    pub const ZERO: Instant = Instant(0);
    /// A time after every other time; used for "never".
    pub const MAX: Instant = Instant(u64::MAX);

    /// The instant `nanos` nanoseconds after the start of the run: how a driver turns its
    /// clock's reading into the core's time.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }
    /// Nanoseconds since the start of the run.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Time since the start of the run.
    pub const fn since_start(self) -> Duration {
        Duration(self.0)
    }
    /// Whole seconds since the start of the run (the index of this second in a time series).
    pub const fn second(self) -> u64 {
        self.0 / 1_000_000_000
    }
    /// `self - earlier`, or zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// No time at all; written `0s`.
    pub const ZERO: Duration = Duration(0);
    /// The longest span (about 584 years); arithmetic that would pass it stops here, so it
    /// stands for "unbounded".
    pub const MAX: Duration = Duration(u64::MAX);

    /// A span of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: u64) -> Self {
        Duration(nanos)
    }
    /// A span of `micros` microseconds, saturating at [`Duration::MAX`].
    pub const fn from_micros(micros: u64) -> Self {
        Duration(micros.saturating_mul(1_000))
    }
    /// A span of `millis` milliseconds, saturating at [`Duration::MAX`].
    pub const fn from_millis(millis: u64) -> Self {
        Duration(millis.saturating_mul(1_000_000))
    }
    /// A span of `secs` seconds, saturating at [`Duration::MAX`].
    pub const fn from_secs(secs: u64) -> Self {
        Duration(secs.saturating_mul(1_000_000_000))
    }
    /// From fractional seconds; negative and NaN become zero, huge values saturate.
    pub fn from_secs_f64(secs: f64) -> Self {
        let nanos = secs * 1e9;
        if nanos.is_nan() || nanos <= 0.0 {
            Duration(0)
        } else if nanos >= u64::MAX as f64 {
            Duration(u64::MAX)
        } else {
            Duration(nanos as u64)
        }
    }
    /// The span in nanoseconds, exactly.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The span in whole microseconds, rounded down.
    pub const fn as_micros(self) -> u64 {
        self.0 / 1_000
    }
    /// The span in whole milliseconds, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
    /// The span in seconds, as reports print them (inexact past 2^53 nanoseconds).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// True for the empty span.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// `k` times the span, saturating at [`Duration::MAX`] (backoffs grow this way).
    pub const fn saturating_mul(self, k: u64) -> Duration {
        Duration(self.0.saturating_mul(k))
    }
    /// The shorter of the two spans (`const`, unlike [`Ord::min`]).
    pub const fn min(self, other: Duration) -> Duration {
        if self.0 < other.0 { self } else { other }
    }
    /// The longer of the two spans (`const`, unlike [`Ord::max`]).
    pub const fn max(self, other: Duration) -> Duration {
        if self.0 > other.0 { self } else { other }
    }
}

impl std::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl std::ops::AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl std::ops::Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0.saturating_add(d.0))
    }
}

impl std::ops::Sub for Duration {
    type Output = Duration;
    fn sub(self, d: Duration) -> Duration {
        Duration(self.0.saturating_sub(d.0))
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        std::time::Duration::from_nanos(d.0)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}", Duration(self.0))
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Duration {
    /// An exact humane form that parses back to the same span: each unit from hours down to
    /// nanoseconds that has a non-zero count, in order (`0s`, `250ms`, `1s500ms`, `2m`,
    /// `1h30m`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 6] = [
            ("h", 3_600_000_000_000),
            ("m", 60_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
            ("ns", 1),
        ];
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, size) in UNITS {
            if rest >= size {
                let whole = rest / size;
                rest %= size;
                write!(f, "{whole}{unit}")?;
            }
        }
        Ok(())
    }
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationParseError {
    /// The string was empty (or only whitespace).
    #[error("empty duration; write a number and a unit, such as 250ms, 2s or 5m")]
    Empty,
    #[error(
        "`{0}` is not a duration; write a number and a unit (ns, us, ms, s, m, h), such as 250ms"
    )]
    /// Not `<number><unit>` parts: a missing or unknown unit, or no number. Holds the input, trimmed.
    Invalid(String),
    /// A negative amount, which no duration is. Holds the input, trimmed.
    #[error("`{0}` is negative; durations must be zero or more")]
    Negative(String),
    /// Longer than [`Duration::MAX`]. Holds the input, trimmed.
    #[error("`{0}` is too long: a duration is at most about 584 years")]
    TooLong(String),
}

impl FromStr for Duration {
    type Err = DurationParseError;

    /// Accepts one or more `<number><unit>` parts (`1h30m`, `1.5s`, `250ms`); units are
    /// `ns`, `us`, `ms`, `s`, `m`, `h`. A bare `0` is zero.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        if s.is_empty() {
            return Err(DurationParseError::Empty);
        }
        if s.starts_with('-') {
            return Err(DurationParseError::Negative(s.to_owned()));
        }
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        let invalid = || DurationParseError::Invalid(s.to_owned());
        let mut total: f64 = 0.0;
        let mut rest = s;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(invalid)?;
            if num_len == 0 {
                return Err(invalid());
            }
            let number: f64 = rest[..num_len].parse().map_err(|_| invalid())?;
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let scale = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(invalid()),
            };
            total += number * scale;
            rest = &rest[unit_len..];
        }
        if !total.is_finite() || total >= u64::MAX as f64 {
            return Err(DurationParseError::TooLong(s.to_owned()));
        }
        Ok(Duration(total.round() as u64))
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 250ms, 2s or 5m")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!("`{v}` has no unit; write {v}ms or {v}s")))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                if v < 0 {
                    Err(E::custom(DurationParseError::Negative(v.to_string())))
                } else {
                    self.visit_u64(v.unsigned_abs())
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(0|([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+)$",
            "description": "A duration: a number and a unit (ns, us, ms, s, m, h), such as 250ms, 1.5s, 2m or 1h30m",
            "examples": ["250ms", "2s", "5m"]
        })
    }
}

impl serde::Serialize for Instant {
    /// Serialized as the duration since the start of the run, in the humane form.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_too_long_says_so() {
        assert_eq!(
            "999999999999h".parse::<Duration>(),
            Err(DurationParseError::TooLong("999999999999h".into()))
        );
        assert!("584y".parse::<Duration>().is_err());
    }

    #[test]
    fn parses_humane_durations() {
        assert_eq!("250ms".parse::<Duration>(), Ok(Duration::from_millis(250)));
        assert_eq!("1.5s".parse::<Duration>(), Ok(Duration::from_millis(1500)));
        assert_eq!("2m".parse::<Duration>(), Ok(Duration::from_secs(120)));
        assert_eq!("1h30m".parse::<Duration>(), Ok(Duration::from_secs(5400)));
        assert_eq!("10us".parse::<Duration>(), Ok(Duration::from_micros(10)));
        assert_eq!("0".parse::<Duration>(), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_bad_durations() {
        assert!(matches!(
            "".parse::<Duration>(),
            Err(DurationParseError::Empty)
        ));
        assert!(matches!(
            "  ".parse::<Duration>(),
            Err(DurationParseError::Empty)
        ));
        assert!(matches!(
            "-1s".parse::<Duration>(),
            Err(DurationParseError::Negative(_))
        ));
        assert!(matches!(
            "5".parse::<Duration>(),
            Err(DurationParseError::Invalid(_))
        ));
        assert!(matches!(
            "5 parsecs".parse::<Duration>(),
            Err(DurationParseError::Invalid(_))
        ));
        assert!(matches!(
            "ms".parse::<Duration>(),
            Err(DurationParseError::Invalid(_))
        ));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "0s",
            "250ms",
            "1s500ms",
            "2m",
            "1h30m",
            "7ns",
            "1m1s1ms1us1ns",
        ] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
            assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Duration::ZERO - Duration::from_secs(1), Duration::ZERO);
        assert_eq!(
            Instant::ZERO.saturating_since(Instant::from_nanos(5)),
            Duration::ZERO
        );
        assert_eq!(Duration::from_secs_f64(-3.0), Duration::ZERO);
        assert_eq!(Duration::from_secs_f64(f64::NAN), Duration::ZERO);
        assert_eq!(Duration::from_millis(u64::MAX), Duration::MAX);
        assert_eq!(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        assert_eq!(Duration::from_micros(u64::MAX), Duration::MAX);
        assert_eq!(
            Duration::from_secs(2).saturating_mul(u64::MAX),
            Duration::MAX
        );
        assert_eq!(
            Duration::from_secs(2).saturating_mul(3),
            Duration::from_secs(6)
        );
    }

    #[test]
    fn conversions_round_down() {
        let d = Duration::from_nanos(2_999_999);
        assert_eq!(d.as_millis(), 2);
        assert_eq!(d.as_micros(), 2_999);
        assert_eq!(d.as_nanos(), 2_999_999);
        assert_eq!(Duration::from_millis(1500).as_secs_f64(), 1.5);
        assert_eq!(Instant::from_nanos(2_999_999_999).second(), 2);
        let (a, b) = (Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!((a.min(b), a.max(b)), (a, b));
        assert_eq!((b.min(a), b.max(a)), (a, b));
        assert!(Duration::ZERO.is_zero() && !a.is_zero());
    }
}
