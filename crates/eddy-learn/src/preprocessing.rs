//! Online preprocessing (River's `preprocessing` module): scalers for numeric columns and
//! encoders turning categorical values into numbers.
//!
//! A raw example is a row of [`RawValue`]s, one per column: numbers or categories. The
//! [`crate::compose::Preprocessed`] turns it into a dense `&[f64]`: positions `0..n_columns` hold
//! the numeric columns (0.0 at categorical columns), scaled by the scalers; the encoder appends
//! its outputs after them (one-hot slots in order of first appearance, or `n_features` hashed
//! slots). Scalers and encoders update on `learn_one` and are read-only on predict.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::LearnError;

/// One value of a raw example.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawValue<'a> {
    Num(f64),
    Cat(&'a str),
}

/// River's `safe_div`: 0 when the denominator is 0.
#[inline]
fn safe_div(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// River's `preprocessing.StandardScaler(with_std=True)`: running mean and population variance
/// per feature; `transform = (x - mean) / sqrt(var)`, 0 while the variance is 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardScaler {
    pub with_std: bool,
    pub counts: Vec<f64>,
    pub means: Vec<f64>,
    pub vars: Vec<f64>,
}

impl Default for StandardScaler {
    fn default() -> Self {
        StandardScaler {
            with_std: true,
            counts: Vec::new(),
            means: Vec::new(),
            vars: Vec::new(),
        }
    }
}

impl StandardScaler {
    pub fn new(with_std: bool) -> Self {
        StandardScaler {
            with_std,
            ..Self::default()
        }
    }
    #[inline]
    pub fn learn_one(&mut self, x: &[f64]) {
        if self.counts.len() < x.len() {
            self.counts.resize(x.len(), 0.0);
            self.means.resize(x.len(), 0.0);
            self.vars.resize(x.len(), 0.0);
        }
        for (i, &xi) in x.iter().enumerate() {
            self.counts[i] += 1.0;
            let old = self.means[i];
            self.means[i] += (xi - old) / self.counts[i];
            if self.with_std {
                self.vars[i] += ((xi - old) * (xi - self.means[i]) - self.vars[i]) / self.counts[i];
            }
        }
    }
    /// Transforms `x` in place (features never seen pass through as `x - 0`, scaled by 0 -> 0).
    #[inline]
    pub fn transform_in_place(&self, x: &mut [f64]) {
        for (i, xi) in x.iter_mut().enumerate() {
            let mean = self.means.get(i).copied().unwrap_or(0.0);
            if self.with_std {
                let var = self.vars.get(i).copied().unwrap_or(0.0);
                *xi = safe_div(*xi - mean, var.sqrt());
            } else {
                *xi -= mean;
            }
        }
    }
}

/// River's `preprocessing.MinMaxScaler`: `(x - min) / (max - min)`, 0 while `max == min`
/// (and for a feature never seen; River would give NaN there).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinMaxScaler {
    pub seen: Vec<bool>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

impl MinMaxScaler {
    #[inline]
    pub fn learn_one(&mut self, x: &[f64]) {
        if self.seen.len() < x.len() {
            self.seen.resize(x.len(), false);
            self.min.resize(x.len(), 0.0);
            self.max.resize(x.len(), 0.0);
        }
        for (i, &xi) in x.iter().enumerate() {
            if !self.seen[i] {
                self.seen[i] = true;
                self.min[i] = xi;
                self.max[i] = xi;
            } else {
                self.min[i] = self.min[i].min(xi);
                self.max[i] = self.max[i].max(xi);
            }
        }
    }
    #[inline]
    pub fn transform_in_place(&self, x: &mut [f64]) {
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = if self.seen.get(i).copied().unwrap_or(false) {
                safe_div(*xi - self.min[i], self.max[i] - self.min[i])
            } else {
                0.0
            };
        }
    }
}

/// River's `preprocessing.OneHotEncoder` for the categorical columns: each (column, category)
/// seen while learning gets the next output slot; a category not seen yet encodes to nothing.
/// Difference: River one-hot encodes every value it is given (numbers too); eddy encodes only
/// categorical values and passes numbers through.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OneHotEncoder {
    /// Per column: category -> slot.
    pub slots: Vec<BTreeMap<String, usize>>,
    pub n_slots: usize,
}

impl OneHotEncoder {
    pub fn n_outputs(&self) -> usize {
        self.n_slots
    }
    pub fn learn_one(&mut self, x: &[RawValue]) {
        for (j, v) in x.iter().enumerate() {
            if let RawValue::Cat(c) = v {
                if self.slots.len() <= j {
                    self.slots.resize(j + 1, BTreeMap::new());
                }
                if !self.slots[j].contains_key(*c) {
                    self.slots[j].insert((*c).to_string(), self.n_slots);
                    self.n_slots += 1;
                }
            }
        }
    }
    /// Writes the encoding into `out` (length [`n_outputs`](Self::n_outputs), zeroed here).
    pub fn transform(&self, x: &[RawValue], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        for (j, v) in x.iter().enumerate() {
            if let RawValue::Cat(c) = v {
                if let Some(&s) = self.slots.get(j).and_then(|m| m.get(*c)) {
                    out[s] = 1.0;
                }
            }
        }
    }
}

/// River's `preprocessing.OrdinalEncoder` for the categorical columns: in each column, each
/// category seen while learning gets the next code from 1 up (in the order first seen), written
/// in the column's place; a category not seen yet is 0 (River's `unknown_value`). A
/// [Hoeffding tree](crate::tree) reads these columns as nominal attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrdinalEncoder {
    /// Per column: category -> code.
    pub codes: Vec<BTreeMap<String, f64>>,
}

impl OrdinalEncoder {
    pub fn learn_one(&mut self, x: &[RawValue]) {
        for (j, v) in x.iter().enumerate() {
            if let RawValue::Cat(c) = v {
                if self.codes.len() <= j {
                    self.codes.resize(j + 1, BTreeMap::new());
                }
                let next = self.codes[j].len() as f64 + 1.0;
                if !self.codes[j].contains_key(*c) {
                    self.codes[j].insert((*c).to_string(), next);
                }
            }
        }
    }

    /// Writes the code of each categorical value of `x` at its position in `out` (which holds
    /// the row's numeric columns, as long as `x`).
    pub fn transform_in_place(&self, x: &[RawValue], out: &mut [f64]) {
        for (j, v) in x.iter().enumerate() {
            if let RawValue::Cat(c) = v {
                out[j] = self
                    .codes
                    .get(j)
                    .and_then(|m| m.get(*c))
                    .copied()
                    .unwrap_or(0.0);
            }
        }
    }
}

/// River's `preprocessing.FeatureHasher` for the categorical columns: the string
/// `"{column}={category}"` is hashed (FNV-1a 64 with the seed mixed in) to one of `n_features`
/// slots, with a sign from a second hash (the signed hashing trick). Differences: River's
/// default `n_features` is 1048576 on sparse dicts; eddy's outputs are dense, so the default
/// here is 1024; numeric columns pass through unhashed; the column is named by its index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureHasher {
    pub n_features: usize,
    pub seed: u64,
}

impl Default for FeatureHasher {
    fn default() -> Self {
        FeatureHasher {
            n_features: 1024,
            seed: 0,
        }
    }
}

fn fnv1a(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // final avalanche (SplitMix64 finaliser) so that the low bits are well mixed
    h ^= h >> 30;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

impl FeatureHasher {
    pub fn new(n_features: usize, seed: u64) -> Result<Self, LearnError> {
        if n_features == 0 || n_features > 1 << 24 {
            return Err(LearnError::Param {
                name: "n_features".into(),
                msg: format!("must be in 1..=16777216, got {n_features}"),
            });
        }
        Ok(FeatureHasher { n_features, seed })
    }
    pub fn n_outputs(&self) -> usize {
        self.n_features
    }
    /// Writes the hashed encoding into `out` (length `n_features`, zeroed here).
    pub fn transform(&self, x: &[RawValue], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        let mut col = itoa_buf();
        for (j, v) in x.iter().enumerate() {
            if let RawValue::Cat(c) = v {
                let name = fmt_usize(j, &mut col);
                let h = fnv1a(self.seed, &[name, b"=", c.as_bytes()]);
                let sign =
                    if fnv1a(self.seed.wrapping_add(1), &[name, b"=", c.as_bytes()]) >> 63 == 0 {
                        1.0
                    } else {
                        -1.0
                    };
                out[(h % self.n_features as u64) as usize] += sign;
            }
        }
    }
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

fn fmt_usize(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_scaler_by_hand() {
        // Values 1, 2, 3: mean 2, population variance 2/3; 4 -> (4 - 2) / sqrt(2/3) = 2.449490.
        let mut s = StandardScaler::default();
        for v in [1.0, 2.0, 3.0] {
            s.learn_one(&[v, 5.0]);
        }
        let mut x = [4.0, 5.0];
        s.transform_in_place(&mut x);
        assert!((x[0] - 2.0 / (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(x[1], 0.0); // zero variance
    }

    #[test]
    fn standard_scaler_matches_river_docstring() {
        // River's StandardScaler example (inputs as printed there, 3 decimals):
        // learn_one(x) then transform_one(x) gives x: 0, -0.999, 0.937, 1.129, -0.776, -1.274
        // and y: 0, 0.999, 1.350, -0.651, -0.729, 0.992.
        let xs = [
            [10.557, 8.100],
            [9.100, 8.892],
            [10.945, 10.706],
            [11.568, 8.347],
            [9.687, 8.119],
            [8.874, 10.021],
        ];
        let want = [
            [0.0, 0.0],
            [-0.999, 0.999],
            [0.937, 1.350],
            [1.129, -0.651],
            [-0.776, -0.729],
            [-1.274, 0.992],
        ];
        let mut s = StandardScaler::default();
        for (x, w) in xs.iter().zip(want) {
            s.learn_one(x);
            let mut t = *x;
            s.transform_in_place(&mut t);
            for (a, b) in t.iter().zip(w) {
                assert!((a - b).abs() < 2e-3, "{t:?} vs {w:?}");
            }
        }
    }

    #[test]
    fn min_max_scaler_matches_river_docstring() {
        // River's MinMaxScaler example: 0.0, 0.0, 0.406920, 0.322582, 1.0
        let xs = [10.557707, 8.100043, 9.100117, 8.892842, 10.945884];
        let want = [0.0, 0.0, 0.406920, 0.322582, 1.0];
        let mut s = MinMaxScaler::default();
        for (x, w) in xs.iter().zip(want) {
            s.learn_one(&[*x]);
            let mut t = [*x];
            s.transform_in_place(&mut t);
            assert!((t[0] - w).abs() < 1e-6, "{} vs {w}", t[0]);
        }
    }

    #[test]
    fn min_max_scaler_by_hand() {
        let mut s = MinMaxScaler::default();
        for v in [2.0, 6.0, 4.0] {
            s.learn_one(&[v]);
        }
        let mut x = [5.0];
        s.transform_in_place(&mut x);
        assert_eq!(x[0], 0.75); // (5 - 2) / (6 - 2)
    }

    #[test]
    fn one_hot_slots_in_order_of_appearance() {
        let mut e = OneHotEncoder::default();
        e.learn_one(&[RawValue::Cat("red"), RawValue::Num(1.0), RawValue::Cat("s")]);
        e.learn_one(&[
            RawValue::Cat("blue"),
            RawValue::Num(1.0),
            RawValue::Cat("s"),
        ]);
        assert_eq!(e.n_outputs(), 3);
        let mut out = vec![9.0; 3];
        e.transform(
            &[
                RawValue::Cat("blue"),
                RawValue::Num(0.0),
                RawValue::Cat("s"),
            ],
            &mut out,
        );
        assert_eq!(out, vec![0.0, 1.0, 1.0]);
        e.transform(
            &[
                RawValue::Cat("green"),
                RawValue::Num(0.0),
                RawValue::Cat("t"),
            ],
            &mut out,
        );
        assert_eq!(out, vec![0.0, 0.0, 0.0]);
    }

    #[test]
    fn hasher_is_deterministic_and_signed() {
        let h = FeatureHasher::new(16, 3).unwrap();
        let mut a = vec![0.0; 16];
        let mut b = vec![0.0; 16];
        h.transform(&[RawValue::Cat("x"), RawValue::Cat("y")], &mut a);
        h.transform(&[RawValue::Cat("x"), RawValue::Cat("y")], &mut b);
        assert_eq!(a, b);
        assert!(a.iter().all(|v| v.abs() <= 2.0));
        assert_eq!(fmt_usize(1203, &mut itoa_buf()), b"1203");
        assert!(FeatureHasher::new(0, 0).is_err());
    }
}
