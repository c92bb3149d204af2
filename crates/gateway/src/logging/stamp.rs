//! The time stamp at the head of each log line: RFC 3339, UTC, to the microsecond, the
//! date and time of day kept per thread and rewritten only when the second changes.

use std::cell::RefCell;

/// Now, in UTC, as RFC 3339 with microseconds (`2026-11-30T21:31:07.123456Z`).
#[expect(
    clippy::disallowed_methods,
    reason = "a log line's time is the wall clock's; the gateway is a driver"
)]
pub(super) fn timestamp(buf: &mut String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    stamp(buf, now.as_secs(), now.subsec_micros());
}

thread_local! {
    /// The second last stamped on this thread, and its `YYYY-MM-DDTHH:MM:SS.`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// What [`rfc3339`] writes, with the part before the microseconds taken from this thread's
/// cache when `secs` is the second it last wrote (most lines: a busy gateway writes many a
/// second).
pub(super) fn stamp(buf: &mut String, secs: u64, micros: u32) {
    let cached = SECOND.try_with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return false;
        };
        if c.0 != secs || c.1.is_empty() {
            c.1.clear();
            rfc3339_second(&mut c.1, secs);
            c.0 = secs;
        }
        buf.push_str(&c.1);
        true
    });
    if cached != Ok(true) {
        rfc3339_second(buf, secs);
    }
    micros_z(buf, micros);
}

/// The whole stamp, without the cache.
#[cfg(test)]
pub(super) fn rfc3339(buf: &mut String, secs: u64, micros: u32) {
    rfc3339_second(buf, secs);
    micros_z(buf, micros);
}

/// `YYYY-MM-DDTHH:MM:SS.`
fn rfc3339_second(buf: &mut String, secs: u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    digits(buf, y, 4);
    buf.push('-');
    digits(buf, m, 2);
    buf.push('-');
    digits(buf, d, 2);
    buf.push('T');
    digits(buf, rem / 3600, 2);
    buf.push(':');
    digits(buf, rem / 60 % 60, 2);
    buf.push(':');
    digits(buf, rem % 60, 2);
    buf.push('.');
}

/// The microseconds, six digits, and `Z`.
fn micros_z(buf: &mut String, micros: u32) {
    let mut text = *b"000000Z";
    let mut n = micros % 1_000_000;
    for slot in text[..6].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // Digits and `Z`: ASCII.
    text.iter().for_each(|&b| buf.push(char::from(b)));
}

/// The last `width` decimal digits of `n`, zero-padded.
fn digits(buf: &mut String, n: u64, width: u32) {
    let mut div = 10u64.pow(width.saturating_sub(1));
    while div > 0 {
        buf.push(char::from(b'0' + (n / div % 10) as u8));
        div /= 10;
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}
