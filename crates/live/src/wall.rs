//! The wall clock, for what is by calendar (key validity, rotation) or shown to clients (the
//! `created` field of replies). Routing time is tokio's monotonic clock, never this one.

use switchyard_core::credentials::Date;

/// Seconds since the Unix epoch (0 if the clock is before it).
#[expect(
    clippy::disallowed_methods,
    reason = "the drivers own the wall clock; the core is handed dates"
)]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Today's calendar date (UTC).
pub fn today() -> Date {
    Date::from_unix(unix_now())
}
