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

/// One attempt as the line tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry<'a> {
    pub target: String,
    /// `None` for [`STREAMING`].
    pub outcome: Option<Outcome>,
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
            let hex = text.get(i + 1..i + 3)?;
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
        let micros = (latency.as_nanos() + 500) / 1000;
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
/// attempts, rather than something wrong).
pub fn parse(line: &str) -> Option<Vec<Entry<'_>>> {
    if line.trim().is_empty() {
        return Some(Vec::new());
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
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
