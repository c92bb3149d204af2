//! A request's attempts in one line of text: what the gateway sends in its
//! `x-switchyard-attempt-log` header, and what the scenario runner reads back, so a run through
//! the gateway knows every attempt (which target, how it ended, how long it took) as exactly as
//! a run that calls the router in process.
//!
//! The line is `TARGET OUTCOME MILLISECONDS` per attempt, in order, separated by `, `:
//! `primary-gpt overloaded 0.412, standby success 0.620`. Target names are percent-encoded
//! outside `[A-Za-z0-9._~-]`, so any name fits in a header; the outcome is an
//! [`Outcome::label`], or `streaming` for a stream still flowing when the line was written
//! (its milliseconds are then the time to its first token).

use std::fmt::Write as _;

use crate::outcome::{ErrorKind, Outcome};
use crate::time::Duration;

/// The label of an attempt that is a stream still in progress.
pub const STREAMING: &str = "streaming";

/// The longest line [`parse`] reads (16 KiB, what HTTP servers commonly allow a header).
pub const MAX_LINE_BYTES: usize = 16 << 10;

/// The most attempts [`parse`] reads: far more than a plan makes (its attempts, hedges
/// included, are bounded by `plan::MAX_ATTEMPTS`), few enough that a hostile line costs
/// little.
pub const MAX_ENTRIES: usize = 64;

/// One attempt as the line tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry<'a> {
    /// The target's name as the router knows it (percent-decoded).
    pub target: String,
    /// `None` for [`STREAMING`].
    pub outcome: Option<Outcome>,
    /// How long the attempt took, to the microsecond the line carries.
    pub latency: Duration,
    /// The label as written (for an outcome this version does not know).
    pub label: &'a str,
}

fn safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._~-".contains(&b)
}

fn encode_name(name: &str, out: &mut String) {
    if name.bytes().all(safe) {
        out.push_str(name);
        return;
    }
    for b in name.bytes() {
        if safe(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn decode_name(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Two hex digits exactly (`from_str_radix` alone would take `+F`).
            let hex = text.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The line for `attempts`: (target name, outcome label, latency).
pub fn format<'a>(attempts: impl IntoIterator<Item = (&'a str, &'a str, Duration)>) -> String {
    let mut line = String::with_capacity(64);
    for (i, (target, label, latency)) in attempts.into_iter().enumerate() {
        if i > 0 {
            line.push_str(", ");
        }
        encode_name(target, &mut line);
        line.push(' ');
        line.push_str(label);
        // Milliseconds with three decimals, from integer microseconds (rounded).
        let micros = latency.as_nanos().saturating_add(500) / 1000;
        let _ = write!(line, " {}.{:03}", micros / 1000, micros % 1000);
    }
    line
}

/// The outcome a label names: `success`, `cancelled` or an error kind; `None` for
/// [`STREAMING`] and for labels this version does not know.
pub fn outcome_of(label: &str) -> Option<Outcome> {
    match label {
        "success" => Some(Outcome::Success),
        "cancelled" => Some(Outcome::Cancelled),
        other => ErrorKind::from_label(other).map(Outcome::error),
    }
}

/// Reads a line back; `None` when it is not one (the caller then knows nothing of the
/// attempts, rather than something wrong), and for lines longer than [`MAX_LINE_BYTES`] or
/// with more than [`MAX_ENTRIES`] attempts. Never panics, whatever the line.
pub fn parse(line: &str) -> Option<Vec<Entry<'_>>> {
    if line.len() > MAX_LINE_BYTES {
        return None;
    }
    if line.trim().is_empty() {
        return Some(Vec::new());
    }
    if line.split(',').count() > MAX_ENTRIES {
        return None;
    }
    line.split(',')
        .map(|entry| {
            let mut parts = entry.split_whitespace();
            let (target, label, ms) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            let ms: f64 = ms
                .parse()
                .ok()
                .filter(|m: &f64| m.is_finite() && *m >= 0.0)?;
            Some(Entry {
                target: decode_name(target)?,
                outcome: outcome_of(label),
                latency: Duration::from_secs_f64(ms / 1e3),
                label,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_as_written() {
        let line = format([
            ("primary-gpt", "overloaded", Duration::from_micros(412)),
            ("odd, name=%", "rate_limited", Duration::from_millis(3)),
            ("standby", "success", Duration::from_micros(620)),
            ("stream", STREAMING, Duration::ZERO),
        ]);
        assert_eq!(
            line,
            "primary-gpt overloaded 0.412, odd%2C%20name%3D%25 rate_limited 3.000, \
             standby success 0.620, stream streaming 0.000"
        );
        let entries = parse(&line).expect("our own line parses");
        let names: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(names, ["primary-gpt", "odd, name=%", "standby", "stream"]);
        assert_eq!(
            entries[0].outcome,
            Some(Outcome::error(ErrorKind::Overloaded))
        );
        assert_eq!(
            entries[1].outcome,
            Some(Outcome::error(ErrorKind::RateLimited))
        );
        assert_eq!(entries[2].outcome, Some(Outcome::Success));
        assert_eq!(entries[3].outcome, None);
        assert_eq!(entries[0].latency, Duration::from_micros(412));
    }

    #[test]
    fn every_outcome_label_is_understood() {
        for kind in ErrorKind::ALL {
            assert_eq!(outcome_of(kind.label()), Some(Outcome::error(kind)));
        }
        assert_eq!(outcome_of("cancelled"), Some(Outcome::Cancelled));
        assert_eq!(outcome_of("no_such_outcome"), None);
    }

    #[test]
    fn what_is_not_a_line_is_refused_whole() {
        assert_eq!(parse(""), Some(Vec::new()));
        for bad in [
            "a success",
            "a success x",
            "a success -1",
            "a success 1 extra",
            "a%zz success 1",
            "a%2 success 1",
            "a success 1, b",
            "a%FF success 1",
            "a%+F success 1",
            "a%-1 success 1",
            "a%é success 1",
            "a%",
            "a success NaN",
            "a success inf",
            "a success 1e400",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn hostile_lines_are_bounded_and_extremes_do_not_overflow() {
        let many = vec!["a success 1"; MAX_ENTRIES + 1].join(", ");
        assert_eq!(parse(&many), None);
        let most = vec!["a success 1"; MAX_ENTRIES].join(", ");
        assert_eq!(parse(&most).map(|e| e.len()), Some(MAX_ENTRIES));
        let long = format!("{} success 1", "a".repeat(MAX_LINE_BYTES));
        assert_eq!(parse(&long), None);
        let line = format([("a", "success", Duration::MAX)]);
        let back = parse(&line).expect("our own line parses");
        assert!(back[0].latency > Duration::from_secs(1 << 33));
        let huge = format!("a success {}", "9".repeat(400));
        assert_eq!(
            parse(&huge),
            None,
            "too many digits for an f64 is not a latency"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_line_parses_or_is_refused_without_panicking(line in "\\PC{0,64}|[a-z%0-9A-F ,.]{0,64}") {
            let _ = parse(&line);
        }
    }
}
