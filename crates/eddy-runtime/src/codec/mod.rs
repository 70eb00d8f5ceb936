//! The input codec shared by `eddy run` (the [`crate::decode::Decoder`]) and `eddy learn`: one
//! reading of CSV and of JSON Lines, and one notion of a bad row.
//!
//! - [`csv`]: RFC 4180 records (quoted cells may hold line breaks) parsed into reused cell
//!   buffers, and the framing of a byte stream into records ([`csv::csv_record_end`]);
//! - [`jsonl`]: a line's members (nested objects flattened to dotted names) over the
//!   validating scanner of [`crate::json`];
//! - [`parse_f64`]: numbers straight from a cell's bytes;
//! - a record that cannot be decoded is a [`DecodeError`]: its line, the field at fault if
//!   any, the message, and a [`DeadReason`] category.

pub mod csv;
pub mod jsonl;

pub use crate::error::{DeadReason, DecodeError};

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses a number as [`str::parse::<f64>`] does (the same value, or `None` where it fails),
/// straight from bytes. Plain decimals (`-12.345`, at most 19 digits, no exponent) take a
/// fast path: their digits make an integer of at most 2^53 and a power of ten of at most
/// 10^22, both exact in an `f64`, so one division, correctly rounded, gives the correctly
/// rounded value (Clinger's fast path). Anything else goes to the standard library.
#[inline(always)]
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    let (neg, body) = match b {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, b),
    };
    let v = if (1..=8).contains(&body.len()) {
        short_decimal(body)
    } else {
        long_decimal(body)
    };
    match v {
        Some(v) => Some(if neg { -v } else { v }),
        None => parse_f64_std(b),
    }
}

/// A plain decimal of 1 to 8 bytes (digits and at most one `.`), in one word: the dot taken
/// out, the digits read eight at a time with zeros after them (so the integer is scaled up
/// by a power of ten that the divisor takes back).
#[inline]
fn short_decimal(body: &[u8]) -> Option<f64> {
    let n = body.len();
    // The bytes, and `0`s after them.
    let mut x = if let Some(w) = body.first_chunk::<8>() {
        u64::from_le_bytes(*w)
    } else if let (Some(a), Some(b)) = (body.first_chunk::<4>(), body.last_chunk::<4>()) {
        // Two loads that overlap in the middle (where they agree).
        u32::from_le_bytes(*a) as u64 | (u32::from_le_bytes(*b) as u64) << (8 * (n - 4))
    } else {
        body.iter().rev().fold(0u64, |x, &c| (x << 8) | c as u64)
    };
    if n < 8 {
        x |= 0x3030_3030_3030_3030 << (8 * n);
    }
    let dots = bytes_eq(x, b'.');
    let (digits, scale) = if dots == 0 {
        (n, 0)
    } else {
        if dots & (dots - 1) != 0 {
            return None;
        }
        let d = (dots.trailing_zeros() / 8) as usize;
        let below = x & ((1u64 << (8 * d)) - 1);
        let above = x.checked_shr(8 * (d as u32 + 1)).unwrap_or(0);
        x = below | (above << (8 * d)) | (0x30 << 56);
        (n - 1, n - 1 - d)
    };
    if digits == 0 {
        return None;
    }
    let v = eight_digits(x)?;
    Some(v as f64 / POW10[scale + 8 - digits])
}

/// A plain decimal of any length (at most 19 digits, at most 22 after the `.`).
#[inline]
fn long_decimal(body: &[u8]) -> Option<f64> {
    let (int, frac) = match body.iter().position(|&c| c == b'.') {
        Some(dot) => (&body[..dot], &body[dot + 1..]),
        None => (body, &body[body.len()..]),
    };
    let digits = int.len() + frac.len();
    if digits == 0 || digits > 19 || frac.len() > 22 {
        return None;
    }
    let m = decimal_digits(decimal_digits(0, int)?, frac)?;
    if m > 1 << 53 {
        return None;
    }
    Some(m as f64 / POW10[frac.len()])
}

/// Bytes equal to `c` in the word `x`: the high bit of each such byte set, exactly (no borrow
/// runs from one byte into the next).
#[inline(always)]
pub(crate) fn bytes_eq(x: u64, c: u8) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let y = x ^ (0x0101_0101_0101_0101 * c as u64);
    !(((y & LOW7) + LOW7) | y | LOW7)
}

/// The eight ASCII digits of `v` (first digit in the lowest byte) as a number, or `None`
/// when a byte is not a digit (as the `fast-float` crates do it).
#[inline(always)]
fn eight_digits(v: u64) -> Option<u64> {
    let lo = v.wrapping_sub(0x3030_3030_3030_3030);
    if (v.wrapping_add(0x4646_4646_4646_4646) | lo) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    // Pairs, then the four pairs into one number.
    let p = lo.wrapping_mul(10).wrapping_add(lo >> 8);
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    let a = (p & MASK).wrapping_mul(100 + (1_000_000 << 32));
    let b = ((p >> 16) & MASK).wrapping_mul(1 + (10_000 << 32));
    Some((a.wrapping_add(b) >> 32) & 0xFFFF_FFFF)
}

/// `m` followed by the decimal digits `s` (`None` if `s` holds anything else), eight and four
/// at a time. The caller keeps the total within 19 digits.
#[inline(always)]
fn decimal_digits(mut m: u64, mut s: &[u8]) -> Option<u64> {
    while let Some((eight, rest)) = s.split_first_chunk::<8>() {
        m = m
            .wrapping_mul(100_000_000)
            .wrapping_add(eight_digits(u64::from_le_bytes(*eight))?);
        s = rest;
    }
    if let Some((four, rest)) = s.split_first_chunk::<4>() {
        let v = u32::from_le_bytes(*four);
        let lo = v.wrapping_sub(0x3030_3030);
        if (v.wrapping_add(0x4646_4646) | lo) & 0x8080_8080 != 0 {
            return None;
        }
        let p = lo.wrapping_mul(10).wrapping_add(lo >> 8) & 0x00FF_00FF;
        m = m
            .wrapping_mul(10_000)
            .wrapping_add((p.wrapping_mul(1 + (100 << 16)) >> 16) as u64);
        s = rest;
    }
    for &c in s {
        let d = c.wrapping_sub(b'0');
        if d >= 10 {
            return None;
        }
        m = m.wrapping_mul(10).wrapping_add(d as u64);
    }
    Some(m)
}

#[cold]
#[inline(never)]
fn parse_f64_std(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_f64;
    use proptest::prelude::*;

    #[test]
    fn parses_as_the_standard_library() {
        for s in [
            "0",
            "-0",
            "+1",
            "1.",
            ".5",
            "-.5",
            "0.123456",
            "9007199254740993",
            "1e5",
            "inf",
            "NaN",
            "-infinity",
            "",
            "-",
            ".",
            "1.2.3",
            "12a",
            " 1",
            "0.30000000000000004",
            "123456789012345678901234",
            "0.0000000000000000000001",
            "1_0",
            "١",
        ] {
            let want = s.parse::<f64>().ok();
            let got = parse_f64(s.as_bytes());
            assert_eq!(
                got.map(f64::to_bits),
                want.map(f64::to_bits),
                "`{s}`: {got:?} vs {want:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn agrees_with_str_parse(s in "[-+]?[0-9]{0,21}(\\.[0-9]{0,24})?([eE][-+]?[0-9]{1,3})?") {
            let want = s.parse::<f64>().ok().map(f64::to_bits);
            prop_assert_eq!(parse_f64(s.as_bytes()).map(f64::to_bits), want);
        }

        #[test]
        fn agrees_on_short_cells(s in "[-+]?[0-9.]{0,9}") {
            let want = s.parse::<f64>().ok().map(f64::to_bits);
            prop_assert_eq!(parse_f64(s.as_bytes()).map(f64::to_bits), want);
        }

        #[test]
        fn agrees_on_printed_floats(v in any::<f64>(), digits in 0usize..12) {
            for s in [format!("{v}"), format!("{v:.digits$}"), format!("{}", v as f32)] {
                let want = s.parse::<f64>().ok().map(f64::to_bits);
                prop_assert_eq!(parse_f64(s.as_bytes()).map(f64::to_bits), want);
            }
        }
    }
}
