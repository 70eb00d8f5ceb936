//! Event time: milliseconds since the Unix epoch, parsing and durations.

use crate::CoreError;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;

/// Earliest accepted event time: 1970-01-01T00:00:00.000Z.
pub const MIN_EVENT_TS: Timestamp = 0;
/// Latest accepted event time: 9999-12-31T23:59:59.999Z.
pub const MAX_EVENT_TS: Timestamp = 253_402_300_799_999;

/// How a timestamp field is written on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    /// RFC 3339 string, e.g. `2024-05-01T12:00:00.250Z` or with a `+02:00` offset.
    Rfc3339,
    /// Seconds since the epoch, integer or fractional (millisecond precision kept).
    EpochSeconds,
    /// Milliseconds since the epoch, integer.
    EpochMillis,
}

/// Parses an RFC 3339 timestamp to epoch milliseconds (sub-millisecond digits truncated).
/// Refuses times outside [`MIN_EVENT_TS`, `MAX_EVENT_TS`].
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, CoreError> {
    let _ = s;
    todo!("core helper")
}

/// Converts epoch seconds (possibly fractional) to milliseconds, refusing NaN, infinities and
/// times outside the accepted range.
pub fn from_epoch_seconds(secs: f64) -> Result<Timestamp, CoreError> {
    let _ = secs;
    todo!("core helper")
}

/// Checks epoch milliseconds against the accepted range.
pub fn from_epoch_millis(ms: i64) -> Result<Timestamp, CoreError> {
    let _ = ms;
    todo!("core helper")
}

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds (`1970-01-01T00:00:00.000Z`).
pub fn format_rfc3339(ts: Timestamp, out: &mut String) {
    let _ = (ts, out);
    todo!("core helper")
}

/// Parses a duration such as `250ms`, `30s`, `5m`, `1h`, `1d` (also a bare `0`) to milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, CoreError> {
    let _ = s;
    todo!("core helper")
}
