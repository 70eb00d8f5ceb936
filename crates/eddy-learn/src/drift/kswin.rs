//! KSWIN: Kolmogorov-Smirnov windowing (Raab et al., 2020), as River's `drift.KSWIN`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::py_random::PyRandom;
use crate::error::LearnError;
use crate::traits::{Detector, DriftState};

/// KSWIN keeps the last `window_size` values. Once the window is full, every update compares
/// the newest `stat_size` values with `stat_size` values sampled without replacement from the
/// older part of the window, using the two-sample Kolmogorov-Smirnov test with its exact
/// p-value; drift when `p <= alpha` and the statistic exceeds 0.1. After a drift it restarts
/// empty with its generator reseeded.
///
/// River compatibility (`river.drift.KSWIN`): same parameters and defaults (`alpha` 0.005,
/// `window_size` 100, `stat_size` 30), same sample (Python's Mersenne Twister, seeded as
/// `random.Random(seed)`, drawing `sample(range(window_size - stat_size), stat_size)` as
/// CPython 3.11 does), same test (SciPy's `ks_2samp` picks the exact p-value at these sizes;
/// eddy always computes it exactly by lattice-path counting, ties handled), same reset (River's
/// `_reset` on the update after a drift empties the window and reseeds). With the same `seed`
/// the detections are River's: checked on 42 streams with two parameter sets
/// (`scripts/make_drift_fixtures.py`, `tests/drift_fixtures.rs`). One difference: `seed`
/// defaults to 42 (River: unseeded, so River's own runs are not repeatable). A snapshot from
/// before this generator (eddy's xoshiro state) resumes with Python's generator freshly seeded.
///
/// Measured (tests in `drift/tests.rs`, seeds 0..10): a mean shift 0 → 2 (σ = 1) at index 300
/// is detected 9–19 values later (52 on one seed). KSWIN tests after every value, so false
/// alarms accumulate: stationary N(0, 1), 20 streams of 10 000 values, about 1.3 false drifts
/// per 1 000 values at the defaults.
///
/// # Example
///
/// The stream of River's docstring (1000 values in {0, 1}, then 1000 in {4, ..., 7}), drawn with
/// eddy's generator. River 0.26.1 (`KSWIN(alpha=0.0001, seed=42)`) reports the same on the same
/// values (`scripts/make_doc_examples.py`, `fixtures/doc_examples.json`).
///
/// ```
/// use eddy_core::rng::Rng;
/// use eddy_learn::drift::Kswin;
/// use eddy_learn::{Detector, DriftState};
///
/// let mut rng = Rng::new(12345);
/// // 1000 values in {0, 1}, then 1000 in {4, 5, 6, 7}.
/// let stream: Vec<f64> = (0..2000)
///     .map(|i| (if i < 1000 { rng.below(2) } else { 4 + rng.below(4) }) as f64)
///     .collect();
/// let mut detector = Kswin::new(0.0001, 100, 30, 42).unwrap(); // alpha, window_size, stat_size, seed
/// let drifts: Vec<usize> = (0..stream.len())
///     .filter(|&i| detector.update(stream[i]) == DriftState::Drift)
///     .collect();
/// assert_eq!(drifts, [1016]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "KswinState")]
pub struct Kswin {
    alpha: f64,
    window_size: usize,
    stat_size: usize,
    seed: u64,
    window: VecDeque<f64>,
    /// Python's generator, so the sampled positions are River's.
    rng: PyRandom,
    p_value: f64,
    #[serde(skip)]
    scratch: Scratch,
}

/// What a snapshot holds: as [`Kswin`] serialises, or as older versions did (eddy's own
/// generator state, which resumes as Python's generator freshly seeded with `seed`).
#[derive(Deserialize)]
struct KswinState {
    alpha: f64,
    window_size: usize,
    stat_size: usize,
    seed: u64,
    window: VecDeque<f64>,
    rng: RngState,
    p_value: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RngState {
    Python(PyRandom),
    /// Read to recognise the old layout; its values are not used.
    Xoshiro(#[allow(dead_code)] [u64; 4]),
}

impl From<KswinState> for Kswin {
    fn from(s: KswinState) -> Self {
        Kswin {
            alpha: s.alpha,
            window_size: s.window_size,
            stat_size: s.stat_size,
            seed: s.seed,
            window: s.window,
            rng: match s.rng {
                RngState::Python(r) => r,
                RngState::Xoshiro(_) => PyRandom::new(s.seed),
            },
            p_value: s.p_value,
            scratch: Scratch::default(),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Scratch {
    idx: Vec<usize>,
    pool: Vec<usize>,
    seen: Vec<bool>,
    a: Vec<f64>,
    b: Vec<f64>,
    row: Vec<f64>,
}

impl Default for Kswin {
    fn default() -> Self {
        Kswin::new(0.005, 100, 30, 42).expect("valid defaults")
    }
}

impl Kswin {
    pub fn new(
        alpha: f64,
        window_size: usize,
        stat_size: usize,
        seed: u64,
    ) -> Result<Self, LearnError> {
        if !(0.0..=1.0).contains(&alpha) {
            return Err(LearnError::Param {
                name: "alpha".into(),
                msg: "must be in [0, 1]".into(),
            });
        }
        if stat_size == 0 || window_size < 2 * stat_size {
            return Err(LearnError::Param {
                name: "stat_size".into(),
                msg: format!(
                    "need 0 < stat_size and 2 * stat_size <= window_size (got {stat_size}, {window_size})"
                ),
            });
        }
        if window_size > u32::MAX as usize {
            return Err(LearnError::Param {
                name: "window_size".into(),
                msg: format!("must be below 2^32 (got {window_size})"),
            });
        }
        Ok(Kswin {
            alpha,
            window_size,
            stat_size,
            seed,
            window: VecDeque::with_capacity(window_size.min(1 << 16)),
            rng: PyRandom::new(seed),
            p_value: 0.0,
            scratch: Scratch::default(),
        })
    }

    /// p-value of the last test (0 before the window first fills, as in River).
    pub fn p_value(&self) -> f64 {
        self.p_value
    }

    fn reset(&mut self) {
        self.window.clear();
        self.rng.reseed(self.seed);
        self.p_value = 0.0;
    }
}

impl Detector for Kswin {
    fn update(&mut self, x: f64) -> DriftState {
        if self.window.len() == self.window_size {
            self.window.pop_front();
        }
        self.window.push_back(x);
        if self.window.len() < self.window_size {
            return DriftState::Stable;
        }
        let older = self.window_size - self.stat_size;
        let sc = &mut self.scratch;
        // River: `rng.sample(range(window_size - stat_size), stat_size)`.
        self.rng.sample_range(
            older,
            self.stat_size,
            &mut sc.idx,
            &mut sc.pool,
            &mut sc.seen,
        );
        sc.a.clear();
        sc.a.extend(sc.idx.iter().map(|&i| self.window[i]));
        sc.b.clear();
        sc.b.extend(self.window.range(older..).copied());
        let (stat, p) = ks_2samp(&mut sc.a, &mut sc.b, &mut sc.row);
        self.p_value = p;
        if p <= self.alpha && stat > 0.1 {
            self.reset();
            DriftState::Drift
        } else {
            DriftState::Stable
        }
    }

    fn name(&self) -> &'static str {
        "kswin"
    }
}

/// Two-sided two-sample Kolmogorov-Smirnov test: returns `(D, p)` with the exact
/// `p = P(D' >= D)` under the null, by counting monotone lattice paths from `(0, 0)` to
/// `(n, m)` that stay strictly inside `|i m - j n| < D n m`. Sorts `a` and `b` in place.
pub fn ks_2samp(a: &mut [f64], b: &mut [f64], row: &mut Vec<f64>) -> (f64, f64) {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return (0.0, 1.0);
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    // Statistic as an integer: max |i m - j n| over the merged ECDF steps (ties advance together).
    let (mut i, mut j) = (0usize, 0usize);
    let mut k: i64 = 0;
    while i < n || j < m {
        let v = if j == m || (i < n && a[i] <= b[j]) {
            a[i]
        } else {
            b[j]
        };
        while i < n && a[i] == v {
            i += 1;
        }
        while j < m && b[j] == v {
            j += 1;
        }
        k = k.max((i as i64 * m as i64 - j as i64 * n as i64).abs());
    }
    let d = k as f64 / (n as f64 * m as f64);
    if k == 0 {
        return (0.0, 1.0);
    }
    // Probability (not count) of paths staying strictly inside, one column at a time.
    // Each step is up or right with the hypergeometric weights of a uniformly random path.
    row.clear();
    row.resize(m + 1, 0.0);
    let inside = |i: usize, j: usize| (i as i64 * m as i64 - j as i64 * n as i64).abs() < k;
    // row[j] = number of inside paths to (i, j), scaled by 1 / C(i + j, i).
    // Use counts normalised by binomials: p(i,j) = (p(i-1,j) * i + p(i,j-1) * j) / (i + j).
    let mut reach = true;
    for (jj, r) in row.iter_mut().enumerate() {
        reach = reach && inside(0, jj);
        *r = if reach { 1.0 } else { 0.0 };
    }
    for ii in 1..=n {
        let mut left = 0.0;
        for (jj, r) in row.iter_mut().enumerate() {
            let v = if inside(ii, jj) {
                (*r * ii as f64 + left * jj as f64) / (ii + jj) as f64
            } else {
                0.0
            };
            *r = v;
            left = v;
        }
    }
    let p = (1.0 - row[m]).clamp(0.0, 1.0);
    (d, p)
}
