//! ADWIN: adaptive windowing (Bifet & Gavaldà, 2007), as River's `drift.ADWIN`.

use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::traits::{Detector, DriftState};

/// ADWIN keeps a variable-length window of recent values compressed into an exponential
/// histogram (rows of buckets holding `2^row` values each, at most `max_buckets + 1` per row
/// before the two oldest of a row merge into the next row). Every `clock` updates, once the
/// window is longer than `grace_period`, it tests every cut `W0 | W1` between buckets and drops
/// the oldest bucket while the means differ by more than the Hoeffding-style bound
/// `eps = sqrt(2 m var ln(2 ln(W)/delta)) + 2/3 ln(2 ln(W)/delta) m` (`m` the harmonic term of
/// both sides, `var` the window variance). A change reports [`DriftState::Drift`].
///
/// River compatibility (`river.drift.ADWIN`): same parameters and defaults (`delta` 0.002,
/// `clock` 32, `max_buckets` 5, `min_window_length` 5, `grace_period` 10) and the same cut
/// scan (oldest bucket first, every bucket a cut point except the newest value, so `W1` is
/// never empty), so the same stream gives the same detections. After a drift the whole
/// detector restarts empty (River resets its helper on the next `update`; eddy resets right
/// after reporting, which is observably the same). ADWIN never warns.
///
/// Checked against River 0.26.1 on 42 streams (Gaussian mean shifts, a variance change,
/// Bernoulli error rates, no drift; three parameter sets): the same drift indices on every one
/// (`scripts/make_drift_fixtures.py`, `tests/drift_fixtures.rs`), and on River's docstring
/// example (`tests/river_compat.rs`).
///
/// Measured (tests in `drift/tests.rs`, seeds 0..10): Bernoulli 0.2 → 0.8 at index 1000 is
/// detected 23–55 values later (steps of `clock`); stationary Bernoulli(0.2), 20 streams of
/// 10 000 values: no false alarm (0 / 200 000 updates).
///
/// # Example
///
/// The stream of River's docstring (1000 values in {0, 1}, then 1000 in {4, ..., 7}), drawn with
/// eddy's generator; River 0.26.1 reports the same on the same values
/// (`scripts/make_doc_examples.py`, `fixtures/doc_examples.json`).
///
/// ```
/// use eddy_core::rng::Rng;
/// use eddy_learn::drift::Adwin;
/// use eddy_learn::{Detector, DriftState};
///
/// let mut rng = Rng::new(12345);
/// // 1000 values in {0, 1}, then 1000 in {4, 5, 6, 7}.
/// let stream: Vec<f64> = (0..2000)
///     .map(|i| (if i < 1000 { rng.below(2) } else { 4 + rng.below(4) }) as f64)
///     .collect();
/// let mut detector = Adwin::default();
/// let drifts: Vec<usize> = (0..stream.len())
///     .filter(|&i| detector.update(stream[i]) == DriftState::Drift)
///     .collect();
/// assert_eq!(drifts, [1023]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Adwin {
    delta: f64,
    clock: u64,
    max_buckets: usize,
    min_window_length: f64,
    grace_period: f64,
    total: f64,
    variance: f64,
    width: f64,
    tick: u64,
    /// Bucket totals, row-major with `max_buckets + 1` slots per row; oldest first in a row.
    tot: Vec<f64>,
    /// Bucket variances (sum of squared deviations), same layout as `tot`.
    var: Vec<f64>,
    /// Buckets in use per row; row `r` holds buckets of `2^r` values.
    lens: Vec<usize>,
    n_detections: u64,
}

impl Default for Adwin {
    fn default() -> Self {
        Adwin::new(0.002, 32, 5, 5, 10).expect("defaults are valid")
    }
}

impl Adwin {
    pub fn new(
        delta: f64,
        clock: u64,
        max_buckets: usize,
        min_window_length: u64,
        grace_period: u64,
    ) -> Result<Self, LearnError> {
        let bad = |name: &str, msg: &str| {
            Err(LearnError::Param {
                name: name.into(),
                msg: msg.into(),
            })
        };
        if !(delta > 0.0 && delta < 1.0) {
            return bad("delta", "must be in (0, 1)");
        }
        if clock == 0 {
            return bad("clock", "must be at least 1");
        }
        if !(2..=1000).contains(&max_buckets) {
            return bad("max_buckets", "must be in 2..=1000");
        }
        let s = max_buckets + 1;
        Ok(Adwin {
            delta,
            clock,
            max_buckets,
            min_window_length: min_window_length as f64,
            grace_period: grace_period as f64,
            total: 0.0,
            variance: 0.0,
            width: 0.0,
            tick: 0,
            tot: vec![0.0; s],
            var: vec![0.0; s],
            lens: vec![0],
            n_detections: 0,
        })
    }

    /// Values currently in the window.
    pub fn width(&self) -> u64 {
        self.width as u64
    }

    /// Mean of the window (`NaN` when empty).
    pub fn estimation(&self) -> f64 {
        self.total / self.width
    }

    /// Drifts reported since creation.
    pub fn n_detections(&self) -> u64 {
        self.n_detections
    }

    fn reset(&mut self) {
        let s = self.max_buckets + 1;
        self.total = 0.0;
        self.variance = 0.0;
        self.width = 0.0;
        self.tick = 0;
        self.tot.clear();
        self.tot.resize(s, 0.0);
        self.var.clear();
        self.var.resize(s, 0.0);
        self.lens.clear();
        self.lens.push(0);
    }

    #[inline]
    fn insert(&mut self, value: f64) {
        let l = self.lens[0];
        self.tot[l] = value;
        self.var[l] = 0.0;
        self.lens[0] = l + 1;
        self.width += 1.0;
        if self.width > 1.0 {
            let d = value - self.total / (self.width - 1.0);
            self.variance += (self.width - 1.0) * d * d / self.width;
        }
        self.total += value;
        if l + 1 == self.max_buckets + 1 {
            self.compress();
        }
    }

    fn compress(&mut self) {
        let m = self.max_buckets;
        let s = m + 1;
        let mut idx = 0;
        while self.lens[idx] == m + 1 {
            if idx + 1 == self.lens.len() {
                self.lens.push(0);
                self.tot.resize(self.tot.len() + s, 0.0);
                self.var.resize(self.var.len() + s, 0.0);
            }
            let n = (1u64 << idx) as f64;
            let b = idx * s;
            let (t0, t1) = (self.tot[b], self.tot[b + 1]);
            let d = t0 / n - t1 / n;
            let v12 = self.var[b] + self.var[b + 1] + n * n * d * d / (n + n);
            let nb = (idx + 1) * s + self.lens[idx + 1];
            self.tot[nb] = t0 + t1;
            self.var[nb] = v12;
            self.lens[idx + 1] += 1;
            let len = self.lens[idx];
            self.tot.copy_within(b + 2..b + len, b);
            self.var.copy_within(b + 2..b + len, b);
            self.lens[idx] = len - 2;
            idx += 1;
        }
    }

    /// Drops the oldest bucket; returns its size.
    fn delete_oldest(&mut self) {
        let s = self.max_buckets + 1;
        let last = self.lens.len() - 1;
        let b = last * s;
        let n = (1u64 << last) as f64;
        let (u, v) = (self.tot[b], self.var[b]);
        self.width -= n;
        self.total -= u;
        let d = u / n - self.total / self.width;
        self.variance -= v + n * self.width * d * d / (n + self.width);
        let len = self.lens[last];
        self.tot.copy_within(b + 1..b + len, b);
        self.var.copy_within(b + 1..b + len, b);
        self.lens[last] = len - 1;
        if len == 1 && last > 0 {
            self.lens.pop();
            self.tot.truncate(b);
            self.var.truncate(b);
        }
    }

    fn detect_change(&mut self) -> bool {
        let mut change = false;
        if !self.tick.is_multiple_of(self.clock) || self.width <= self.grace_period {
            return false;
        }
        let s = self.max_buckets + 1;
        let mwl = self.min_window_length;
        let mut reduce = true;
        while reduce {
            reduce = false;
            let (mut n0, mut n1, mut u0, mut u1) = (0.0, self.width, 0.0, self.total);
            let dprime = (2.0 * self.width.ln() / self.delta).ln();
            let var_w = self.variance / self.width;
            'scan: for idx in (0..self.lens.len()).rev() {
                let n2 = (1u64 << idx) as f64;
                let b = idx * s;
                // Every bucket is a cut point except the newest one (W1 is never empty).
                let len = self.lens[idx];
                let end = if idx == 0 { len.saturating_sub(1) } else { len };
                for k in 0..end {
                    let u2 = self.tot[b + k];
                    n0 += n2;
                    n1 -= n2;
                    u0 += u2;
                    u1 -= u2;
                    if n1 >= mwl && n0 >= mwl {
                        let dm = (u0 / n0 - u1 / n1).abs();
                        let m = 1.0 / (n0 - mwl + 1.0) + 1.0 / (n1 - mwl + 1.0);
                        let lin = 2.0 / 3.0 * dprime * m;
                        // |dm| > sqrt(2 m var dprime) + lin, without the square root when possible.
                        let r = dm - lin;
                        if r > 0.0 && r * r > 2.0 * m * var_w * dprime {
                            reduce = true;
                            change = true;
                            if self.width > 0.0 {
                                self.delete_oldest();
                                break 'scan;
                            }
                        }
                    }
                }
            }
        }
        change
    }
}

impl Detector for Adwin {
    #[inline]
    fn update(&mut self, value: f64) -> DriftState {
        self.insert(value);
        self.tick += 1;
        if self.tick.is_multiple_of(self.clock) && self.detect_change() {
            self.n_detections += 1;
            self.reset();
            DriftState::Drift
        } else {
            DriftState::Stable
        }
    }

    fn name(&self) -> &'static str {
        "adwin"
    }
}
