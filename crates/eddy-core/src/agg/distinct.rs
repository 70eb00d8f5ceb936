//! Distinct count: an exact set of value keys up to a limit, then a HyperLogLog.

use rustc_hash::FxHashSet;

use super::hll::HyperLogLog;
use crate::Value;

/// Identity of a value for distinct counting: a tag in the high bits and the payload below,
/// so distinct values never collide in the exact set. `None` for `Null`.
pub(crate) fn value_key(v: Value) -> Option<u128> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => (1u128 << 64) | u128::from(b),
        Value::Int(i) => (2u128 << 64) | u128::from(i as u64),
        Value::Float(f) => {
            let f = if f == 0.0 { 0.0 } else { f }; // -0.0 == 0.0
            let bits = if f.is_nan() {
                f64::NAN.to_bits()
            } else {
                f.to_bits()
            };
            (3u128 << 64) | u128::from(bits)
        }
        Value::Str(s) => (4u128 << 64) | u128::from(s.0),
    })
}

/// The interned string a value key stands for, if it stands for one.
pub(crate) fn key_sym(k: u128) -> Option<crate::Sym> {
    ((k >> 64) == 4).then_some(crate::Sym(k as u32))
}

/// A 64-bit hash of a value key (SplitMix64 finalizer over both halves).
pub(crate) fn hash_key(k: u128) -> u64 {
    fn mix(mut x: u64) -> u64 {
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }
    mix(mix(k as u64 ^ 0x9E37_79B9_7F4A_7C15) ^ (k >> 64) as u64)
}

/// Exact distinct set that turns into a HyperLogLog once it holds more than `limit` values.
#[derive(Debug, Clone)]
pub(crate) struct Distinct {
    limit: usize,
    exact: FxHashSet<u128>,
    hll: Option<Box<HyperLogLog>>,
}

impl Distinct {
    /// Calls `f` with the interned strings of the exact set.
    pub(crate) fn for_each_sym(&self, f: &mut dyn FnMut(crate::Sym)) {
        self.exact.iter().filter_map(|&k| key_sym(k)).for_each(f);
    }

    pub(crate) fn new(limit: usize) -> Self {
        Distinct {
            limit,
            exact: FxHashSet::default(),
            hll: None,
        }
    }

    pub(crate) fn insert(&mut self, k: u128) {
        if let Some(h) = &mut self.hll {
            h.add_hash(hash_key(k));
            return;
        }
        self.exact.insert(k);
        if self.exact.len() > self.limit {
            let mut h = Box::new(HyperLogLog::new());
            for &x in &self.exact {
                h.add_hash(hash_key(x));
            }
            self.exact = FxHashSet::default();
            self.hll = Some(h);
        }
    }

    pub(super) fn merge(&mut self, other: &Distinct) {
        if let Some(oh) = &other.hll {
            if self.hll.is_none() {
                let mut h = Box::new(HyperLogLog::new());
                for &x in &self.exact {
                    h.add_hash(hash_key(x));
                }
                self.exact = FxHashSet::default();
                self.hll = Some(h);
            }
            if let Some(h) = &mut self.hll {
                h.merge(oh);
            }
        } else {
            for &x in &other.exact {
                self.insert(x);
            }
        }
    }

    pub(crate) fn count(&self) -> i64 {
        match &self.hll {
            Some(h) => h.estimate().round() as i64,
            None => self.exact.len() as i64,
        }
    }

    pub(super) fn clear(&mut self) {
        self.exact.clear();
        self.hll = None;
    }

    pub(super) fn bytes(&self) -> usize {
        self.exact.capacity() * 17 + self.hll.as_ref().map_or(0, |h| h.bytes() + 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperloglog_error_bound() {
        // exact below the limit, HLL above; p = 12 has a standard error of 1.6%,
        // we allow 5% (over 3 sigma) at several cardinalities.
        for &n in &[1_000u64, 10_000, 100_000] {
            let mut d = Distinct::new(100);
            for i in 0..n {
                d.insert(value_key(Value::Int(i as i64 * 7919)).unwrap());
                d.insert(value_key(Value::Int(i as i64 * 7919)).unwrap()); // duplicates
            }
            let est = d.count() as f64;
            let err = (est - n as f64).abs() / n as f64;
            assert!(err < 0.05, "n {n} est {est} err {err}");
        }
        let mut d = Distinct::new(1000);
        for i in 0..1000 {
            d.insert(value_key(Value::Int(i)).unwrap());
        }
        assert_eq!(d.count(), 1000, "exact up to the limit");
        // merging two HLLs estimates the union
        let mut a = Distinct::new(10);
        let mut b = Distinct::new(10);
        for i in 0..20_000 {
            a.insert(value_key(Value::Int(i)).unwrap());
            b.insert(value_key(Value::Int(i + 10_000)).unwrap());
        }
        a.merge(&b);
        let err = (a.count() as f64 - 30_000.0).abs() / 30_000.0;
        assert!(err < 0.05, "{err}");
    }
}
