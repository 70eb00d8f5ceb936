//! Event time: milliseconds since the Unix epoch, parsing and durations.
//!
//! Everything is hand-written (no date crate): RFC 3339 parsing and formatting use the
//! proleptic Gregorian calendar (days-from-civil, H. Hinnant's algorithm).

use crate::CoreError;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;

/// Earliest accepted event time: 1970-01-01T00:00:00.000Z.
pub const MIN_EVENT_TS: Timestamp = 0;
/// Latest accepted event time: 9999-12-31T23:59:59.999Z.
pub const MAX_EVENT_TS: Timestamp = 253_402_300_799_999;

const MS_PER_DAY: i64 = 86_400_000;

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

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn range_check(ms: i64, original: &dyn std::fmt::Display) -> Result<Timestamp, CoreError> {
    if (MIN_EVENT_TS..=MAX_EVENT_TS).contains(&ms) {
        Ok(ms)
    } else {
        Err(CoreError::Time(format!(
            "`{original}` is outside the accepted range 1970-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999Z"
        )))
    }
}

/// A tiny cursor over the bytes of a timestamp.
struct Cur<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn err(&self, what: &str) -> CoreError {
        let found = match self.b.get(self.i) {
            Some(_) => format!(
                "`{}`",
                self.s
                    .get(self.i..)
                    .and_then(|r| r.chars().next())
                    .unwrap_or('?')
            ),
            None => "end of input".to_string(),
        };
        CoreError::Time(format!(
            "`{}` is not RFC 3339 (e.g. 2024-05-01T12:00:00.250Z): expected {what} at position {}, found {found}",
            self.s,
            self.i + 1
        ))
    }

    fn digits(&mut self, n: usize, what: &str) -> Result<i64, CoreError> {
        let mut v = 0i64;
        for _ in 0..n {
            match self.b.get(self.i) {
                Some(c) if c.is_ascii_digit() => {
                    v = v * 10 + i64::from(c - b'0');
                    self.i += 1;
                }
                _ => return Err(self.err(what)),
            }
        }
        Ok(v)
    }

    fn byte(&mut self, c: u8, what: &str) -> Result<(), CoreError> {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }
}

/// Parses an RFC 3339 timestamp to epoch milliseconds (sub-millisecond digits truncated).
/// Refuses times outside [`MIN_EVENT_TS`, `MAX_EVENT_TS`].
///
/// Accepted: `YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|±HH:MM)`. Leap seconds (`:60`) are
/// refused.
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, CoreError> {
    let mut c = Cur {
        s,
        b: s.as_bytes(),
        i: 0,
    };
    let year = c.digits(4, "a 4-digit year")?;
    c.byte(b'-', "`-`")?;
    let month = c.digits(2, "a 2-digit month")?;
    c.byte(b'-', "`-`")?;
    let day = c.digits(2, "a 2-digit day")?;
    match c.b.get(c.i) {
        Some(b'T' | b't' | b' ') => c.i += 1,
        _ => return Err(c.err("`T`")),
    }
    let hour = c.digits(2, "a 2-digit hour")?;
    c.byte(b':', "`:`")?;
    let minute = c.digits(2, "2-digit minutes")?;
    c.byte(b':', "`:`")?;
    let second = c.digits(2, "2-digit seconds")?;
    let mut millis = 0i64;
    if c.b.get(c.i) == Some(&b'.') {
        c.i += 1;
        let start = c.i;
        while let Some(d) = c.b.get(c.i).filter(|d| d.is_ascii_digit()) {
            if c.i - start < 3 {
                millis = millis * 10 + i64::from(d - b'0');
            }
            c.i += 1;
        }
        let n = c.i - start;
        if n == 0 {
            return Err(c.err("fraction digits after `.`"));
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_min = match c.b.get(c.i) {
        Some(b'Z' | b'z') => {
            c.i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.digits(2, "a 2-digit offset hour")?;
            c.byte(b':', "`:` in the offset")?;
            let om = c.digits(2, "2-digit offset minutes")?;
            if oh > 23 || om > 59 {
                return Err(CoreError::Time(format!(
                    "`{s}`: offset hours must be 00..=23 and minutes 00..=59"
                )));
            }
            let v = oh * 60 + om;
            if sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return Err(c.err("`Z` or an offset like `+02:00`")),
    };
    if c.i != c.b.len() {
        return Err(c.err("end of input"));
    }
    let bad = |what: &str| CoreError::Time(format!("`{s}`: {what}"));
    if !(1..=12).contains(&month) {
        return Err(bad("month must be 01..=12"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(bad("day does not exist in that month"));
    }
    if hour > 23 {
        return Err(bad("hour must be 00..=23"));
    }
    if minute > 59 {
        return Err(bad("minutes must be 00..=59"));
    }
    if second > 59 {
        return Err(bad(
            "seconds must be 00..=59 (leap seconds are not supported)",
        ));
    }
    let days = days_from_civil(year, month, day);
    let ms = days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + millis
        - offset_min * 60_000;
    range_check(ms, &s)
}

/// Converts epoch seconds (possibly fractional) to milliseconds, refusing NaN, infinities and
/// times outside the accepted range.
///
/// Sub-millisecond digits are truncated, but a product within 0.001 ms of a whole
/// millisecond is taken as that millisecond (so `1.001` gives 1001 despite binary rounding).
pub fn from_epoch_seconds(secs: f64) -> Result<Timestamp, CoreError> {
    if !secs.is_finite() {
        return Err(CoreError::Time(format!(
            "epoch seconds must be a finite number, got {secs}"
        )));
    }
    let x = secs * 1000.0;
    let r = x.round();
    let ms = if (x - r).abs() < 1e-3 { r } else { x.floor() };
    if !(MIN_EVENT_TS as f64..=MAX_EVENT_TS as f64).contains(&ms) {
        return Err(CoreError::Time(format!(
            "epoch seconds {secs} is outside the accepted range 0 ..= 253402300799.999 (1970..=9999)"
        )));
    }
    Ok(ms as i64)
}

/// Checks epoch milliseconds against the accepted range.
pub fn from_epoch_millis(ms: i64) -> Result<Timestamp, CoreError> {
    if (MIN_EVENT_TS..=MAX_EVENT_TS).contains(&ms) {
        Ok(ms)
    } else {
        Err(CoreError::Time(format!(
            "epoch milliseconds {ms} is outside the accepted range 0 ..= {MAX_EVENT_TS} (1970..=9999)"
        )))
    }
}

fn push_2(out: &mut String, v: i64) {
    out.push(char::from(b'0' + (v / 10 % 10) as u8));
    out.push(char::from(b'0' + (v % 10) as u8));
}

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds (`1970-01-01T00:00:00.000Z`).
/// Appends to `out`. Years outside 0..=9999 are written with as many digits as needed.
pub fn format_rfc3339(ts: Timestamp, out: &mut String) {
    let days = ts.div_euclid(MS_PER_DAY);
    let rem = ts.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        push_2(out, y / 100);
        push_2(out, y % 100);
    } else {
        use std::fmt::Write;
        let _ = write!(out, "{y}");
    }
    out.push('-');
    push_2(out, m);
    out.push('-');
    push_2(out, d);
    out.push('T');
    push_2(out, rem / 3_600_000);
    out.push(':');
    push_2(out, rem / 60_000 % 60);
    out.push(':');
    push_2(out, rem / 1000 % 60);
    out.push('.');
    let ms = rem % 1000;
    out.push(char::from(b'0' + (ms / 100) as u8));
    push_2(out, ms % 100);
    out.push('Z');
}

/// Parses a duration such as `250ms`, `30s`, `5m`, `1h`, `1d` (also a bare `0`) to milliseconds.
/// Whole numbers only; surrounding whitespace is ignored.
pub fn parse_duration(s: &str) -> Result<i64, CoreError> {
    let t = s.trim();
    let err = || CoreError::Duration(s.to_string());
    let digits_end = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits_end == 0 {
        return Err(err());
    }
    let n: i64 = t[..digits_end].parse().map_err(|_| err())?;
    let unit = &t[digits_end..];
    let mult = match unit {
        "" if n == 0 => 1,
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => MS_PER_DAY,
        _ => return Err(err()),
    };
    n.checked_mul(mult).ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.001Z").unwrap(), 1);
        // 2024-05-01T12:00:00Z = 19844 days * 86400 + 43200 s
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00.250Z").unwrap(),
            (19_844 * 86_400 + 43_200) * 1000 + 250
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T14:00:00.250+02:00").unwrap(),
            parse_rfc3339("2024-05-01T12:00:00.250Z").unwrap()
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T10:30:00-01:30").unwrap(),
            parse_rfc3339("2024-05-01T12:00:00Z").unwrap()
        );
        // sub-millisecond digits truncated; short fractions scaled
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.9999Z").unwrap(), 1999);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z").unwrap(), 1500);
        assert_eq!(
            parse_rfc3339("2000-02-29t00:00:00z").unwrap(),
            951_782_400_000
        );
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59.999Z").unwrap(),
            MAX_EVENT_TS
        );
    }

    #[test]
    fn rfc3339_refusals() {
        for bad in [
            "",
            "1970-01-01",
            "1970-01-01T00:00:00",
            "1970-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "1970-01-01T24:00:00Z",
            "1970-01-01T00:00:60Z",
            "1970-01-01T00:00:00.Z",
            "1970-01-01T00:00:00Zjunk",
            "1969-12-31T23:59:59.999Z",
            "1970-01-01T00:30:00+01:00",
            "1970-01-01T00:00:00+1:00",
            "1970-01-01T00:00:00+24:00",
            "19700101T000000Z",
            "1970-01-01T00:00:00é",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        let e = parse_rfc3339("1970-01-01X00:00:00Z")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected `T` at position 11"), "{e}");
    }

    #[test]
    fn epoch_conversions() {
        assert_eq!(from_epoch_seconds(1.5).unwrap(), 1500);
        assert_eq!(from_epoch_seconds(1.001).unwrap(), 1001);
        assert_eq!(
            from_epoch_seconds(1_700_000_000.123).unwrap(),
            1_700_000_000_123
        );
        assert_eq!(from_epoch_seconds(0.0009).unwrap(), 0);
        assert!(from_epoch_seconds(f64::NAN).is_err());
        assert!(from_epoch_seconds(f64::INFINITY).is_err());
        assert!(from_epoch_seconds(-1.0).is_err());
        assert!(from_epoch_seconds(253_402_300_800.0).is_err());
        assert_eq!(from_epoch_millis(5).unwrap(), 5);
        assert!(from_epoch_millis(-1).is_err());
        assert!(from_epoch_millis(MAX_EVENT_TS + 1).is_err());
    }

    #[test]
    fn format_round_trips() {
        let mut s = String::new();
        format_rfc3339(0, &mut s);
        assert_eq!(s, "1970-01-01T00:00:00.000Z");
        for ts in [
            1,
            951_782_400_000,
            1_714_564_800_250,
            MAX_EVENT_TS,
            86_399_999,
        ] {
            s.clear();
            format_rfc3339(ts, &mut s);
            assert_eq!(parse_rfc3339(&s).unwrap(), ts, "{s}");
        }
        s.clear();
        format_rfc3339(-1, &mut s);
        assert_eq!(s, "1969-12-31T23:59:59.999Z");
        s.clear();
        format_rfc3339(i64::MIN, &mut s); // must not panic
        format_rfc3339(i64::MAX, &mut s);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), 250);
        assert_eq!(parse_duration("30s").unwrap(), 30_000);
        assert_eq!(parse_duration("5m").unwrap(), 300_000);
        assert_eq!(parse_duration("1h").unwrap(), 3_600_000);
        assert_eq!(parse_duration("1d").unwrap(), 86_400_000);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration(" 0s ").unwrap(), 0);
        for bad in [
            "",
            "5",
            "-5m",
            "5 m",
            "1.5h",
            "m",
            "5w",
            "99999999999999999999d",
            "9999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
