//! The arithmetic of the numeric aggregations: the numeric view of a value, rates, and
//! Welford's mean and variance (add, remove, merge). Count, sum, min and max are a line
//! each in [`Acc`](super::Acc)'s dispatch.

use super::{AggKind, FeatureValue, RateUnit};
use crate::Value;

/// Numeric view for aggregation: ints, floats and bools; NaN and others are skipped.
pub(crate) fn num(v: Value) -> Option<f64> {
    v.as_f64().filter(|x| !x.is_nan())
}

pub(crate) fn rate(n: u64, window_len: i64, unit: RateUnit) -> FeatureValue {
    if window_len <= 0 {
        return FeatureValue::Null;
    }
    FeatureValue::Num(n as f64 * unit.millis() as f64 / window_len as f64)
}

/// mean / variance (sample, n - 1) / stddev from Welford state.
pub(crate) fn welford_value(kind: &AggKind, n: u64, mean: f64, m2: f64) -> FeatureValue {
    match kind {
        AggKind::Mean if n > 0 => FeatureValue::Num(mean),
        AggKind::Variance if n > 1 => FeatureValue::Num(m2.max(0.0) / (n - 1) as f64),
        AggKind::Stddev if n > 1 => FeatureValue::Num((m2.max(0.0) / (n - 1) as f64).sqrt()),
        _ => FeatureValue::Null,
    }
}

/// Adds `x` to the Welford mean and M2 of values whose count, `x` included, is `n`: every
/// running mean (accumulators, panes, sliding runs) uses this one arithmetic.
#[inline(always)]
pub(crate) fn welford_add(mean: &mut f64, m2: &mut f64, x: f64, n: f64) {
    let d = x - *mean;
    *mean += d / n;
    *m2 += d * (x - *mean);
}

/// Removes `x` from the Welford mean and M2 of values whose count, `x` removed, is
/// `n1 >= 1` (the exact inverse of [`welford_add`], M2 kept at least 0).
#[inline(always)]
pub(crate) fn welford_remove(mean: &mut f64, m2: &mut f64, x: f64, n1: f64) {
    let old = *mean - (x - *mean) / n1;
    *m2 = (*m2 - (x - old) * (x - *mean)).max(0.0);
    *mean = old;
}

/// Merges Welford state `b` (count, mean, M2) into `a` (Chan et al.): every window and pane
/// merge uses this one arithmetic, so results do not depend on where they were merged.
#[inline]
pub(crate) fn welford_merge(a: (&mut u64, &mut f64, &mut f64), b: (u64, f64, f64)) {
    let (n, mean, m2) = a;
    let (n2, mean2, m22) = b;
    if n2 == 0 {
        return;
    }
    if *n == 0 {
        (*n, *mean, *m2) = (n2, mean2, m22);
        return;
    }
    // one division, off the chain of means (it depends on the counts only)
    let na = *n as f64;
    let nb = n2 as f64;
    let r = nb / (na + nb);
    let d = mean2 - *mean;
    *mean += d * r;
    *m2 += m22 + d * d * na * r;
    *n += n2;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chan et al.'s merge by hand: [1, 2, 3] (mean 2, M2 2) and [10] give [1, 2, 3, 10]
    /// (mean 4, M2 9 + 4 + 1 + 36 = 50), and an empty side changes nothing, bit for bit.
    #[test]
    fn welford_merge_by_hand_and_with_an_empty_side() {
        let (mut n, mut mean, mut m2) = (3u64, 2.0, 2.0);
        welford_merge((&mut n, &mut mean, &mut m2), (1, 10.0, 0.0));
        assert_eq!((n, mean, m2), (4, 4.0, 50.0));
        let b = (7u64, 0.1 + 0.2, 1.0 / 3.0);
        let (mut n, mut mean, mut m2) = (0u64, 0.0, 0.0);
        welford_merge((&mut n, &mut mean, &mut m2), b);
        assert_eq!(
            (n, mean.to_bits(), m2.to_bits()),
            (7, b.1.to_bits(), b.2.to_bits())
        );
        welford_merge((&mut n, &mut mean, &mut m2), (0, 0.0, 0.0));
        assert_eq!(
            (n, mean.to_bits(), m2.to_bits()),
            (7, b.1.to_bits(), b.2.to_bits())
        );
        let (mut n, mut mean, mut m2) = (0u64, 0.0, 0.0);
        welford_merge((&mut n, &mut mean, &mut m2), (0, 0.0, 0.0));
        assert_eq!((n, mean, m2), (0, 0.0, 0.0));
    }
}
