//! EDDM: early drift detection (Baena-García et al., 2006), as River's `drift.binary.EDDM`.

use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::traits::{Detector, DriftState};

/// EDDM watches the distance (in examples) between consecutive mistakes (input 1). With `p'`
/// the mean and `s'` the standard deviation of those distances, it keeps the maximum of
/// `p' + 2 s'`; once more than `warm_start` values and more than `warm_start` errors were seen,
/// the ratio `(p' + 2 s') / max` below `beta` is a drift, below `alpha` a warning.
///
/// River compatibility (`river.drift.binary.DDM`'s sibling `EDDM`): same rule, parameters and
/// defaults (`warm_start` 30, `alpha` 0.95, `beta` 0.9), including River's detail that the
/// ratio is only tested on errors that do not raise the maximum, and its sample variance
/// (`ddof = 1`). River counts an error when `x == 1`; eddy when `x >= 0.5` (same on 0/1 input).
/// As in River, the warning state persists between errors.
///
/// Checked against River: the example in River's docstring gives the same indices on the same
/// input (`tests/river_compat.rs`, which ports Python's `random` to rebuild the stream).
///
/// Measured (tests in `drift/tests.rs`): error rate 0.2 → 0.8 at index 2000 is detected 2–94
/// values later. EDDM is sensitive: stationary Bernoulli(0.2), 20 streams of 10 000 values,
/// about 1.8 false drifts per 1 000 values at the defaults (River's own docs raise `alpha` and
/// `beta` for this reason).
///
/// # Example
///
/// A classifier's mistakes, 1 with probability 0.5, then 0.7, drawn with eddy's generator;
/// River 0.26.1 reports the same on the same values (`scripts/make_doc_examples.py`,
/// `fixtures/doc_examples.json`).
///
/// ```
/// use eddy_core::rng::Rng;
/// use eddy_learn::drift::Eddm;
/// use eddy_learn::{Detector, DriftState};
///
/// let mut rng = Rng::new(42);
/// // Mistakes (1) with probability 0.5 for 1000 values, then 0.7.
/// let stream: Vec<f64> = (0..2000)
///     .map(|i| f64::from(u8::from(rng.chance(if i < 1000 { 0.5 } else { 0.7 }))))
///     .collect();
/// let mut detector = Eddm::new(30, 0.8, 0.75).unwrap(); // warm_start, alpha, beta
/// // As River's docstrings print them: the first warning of each run, and every drift.
/// let (mut events, mut print_warning) = (Vec::new(), true);
/// for (i, &v) in stream.iter().enumerate() {
///     match detector.update(v) {
///         DriftState::Warning if print_warning => {
///             events.push(format!("warning {i}"));
///             print_warning = false;
///         }
///         DriftState::Drift => {
///             events.push(format!("drift {i}"));
///             print_warning = true;
///         }
///         _ => {}
///     }
/// }
/// assert_eq!(events, ["warning 180", "drift 1109"]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Eddm {
    warm_start: u64,
    alpha: f64,
    beta: f64,
    n: u64,
    last_error: u64,
    n_errors: u64,
    // Welford state of the distances between errors.
    d_n: f64,
    d_mean: f64,
    d_m2: f64,
    p2s_max: f64,
    warning: bool,
}

impl Default for Eddm {
    fn default() -> Self {
        Eddm::new(30, 0.95, 0.9).expect("valid defaults")
    }
}

impl Eddm {
    pub fn new(warm_start: u64, alpha: f64, beta: f64) -> Result<Self, LearnError> {
        if !(beta > 0.0 && alpha >= beta && alpha <= 1.0) {
            return Err(LearnError::Param {
                name: "alpha".into(),
                msg: "need 0 < beta <= alpha <= 1".into(),
            });
        }
        let mut e = Eddm {
            warm_start,
            alpha,
            beta,
            n: 0,
            last_error: 0,
            n_errors: 0,
            d_n: 0.0,
            d_mean: 0.0,
            d_m2: 0.0,
            p2s_max: -1.0,
            warning: false,
        };
        e.reset();
        Ok(e)
    }

    fn reset(&mut self) {
        self.n = 0;
        self.last_error = 0;
        self.n_errors = 0;
        self.d_n = 0.0;
        self.d_mean = 0.0;
        self.d_m2 = 0.0;
        self.p2s_max = -1.0;
        self.warning = false;
    }
}

impl Detector for Eddm {
    fn update(&mut self, x: f64) -> DriftState {
        self.n += 1;
        if x >= 0.5 {
            self.n_errors += 1;
            let d = (self.n - self.last_error) as f64;
            self.d_n += 1.0;
            let delta = d - self.d_mean;
            self.d_mean += delta / self.d_n;
            self.d_m2 += delta * (d - self.d_mean);
            self.last_error = self.n;
            if self.n > self.warm_start {
                let var = if self.d_n > 1.0 {
                    self.d_m2 / (self.d_n - 1.0)
                } else {
                    0.0
                };
                let p2s = self.d_mean + 2.0 * var.max(0.0).sqrt();
                if p2s > self.p2s_max {
                    self.p2s_max = p2s;
                } else if self.n_errors > self.warm_start {
                    let level = p2s / self.p2s_max;
                    if level < self.beta {
                        self.reset();
                        return DriftState::Drift;
                    }
                    self.warning = level < self.alpha;
                }
            }
        }
        if self.warning {
            DriftState::Warning
        } else {
            DriftState::Stable
        }
    }

    fn name(&self) -> &'static str {
        "eddm"
    }
}
