//! Gaussian naive Bayes (River's `naive_bayes.GaussianNB`).
//!
//! As in River: one Gaussian per class and feature, a density of 0 while the variance is 0, a
//! joint log-likelihood `log P(c) + Σ log(1e-9 + pdf_cf(x_f))` and probabilities by
//! normalising its exponentials. Classes are discovered as labels arrive; a class never seen
//! gets probability 0.
//!
//! Difference: eddy's Gaussians use the sample variance (`ddof=1`, the default of River's
//! `proba.Gaussian`); River 0.26's `GaussianNB` sets `ddof=0` (population variance), which
//! changes its probabilities slightly (see the example on [`GaussianNb`]).

use serde::{Deserialize, Serialize};

use crate::estimator::{load_estimator, EntryKind, ModelEntry};
use crate::traits::{Classifier, Task};

/// `gaussian_nb`: River's `naive_bayes.GaussianNB` (no parameters).
pub static GAUSSIAN_NB: ModelEntry = ModelEntry {
    name: "gaussian_nb",
    river: "naive_bayes.GaussianNB",
    aliases: &[],
    params: &[],
    kind: EntryKind::Features {
        task: Task::Classification,
        binary: false,
        build: |_| Ok(Box::new(GaussianNb::new())),
        load: load_estimator::<GaussianNb>,
    },
};

/// A running weighted mean and variance (River's `stats.Var`, Welford's update).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Gaussian {
    pub n: f64,
    pub mean: f64,
    pub m2: f64,
}

impl Gaussian {
    #[inline]
    pub fn update(&mut self, x: f64, w: f64) {
        self.n += w;
        let delta = x - self.mean;
        self.mean += w * delta / self.n;
        self.m2 += w * delta * (x - self.mean);
    }
    /// Sample variance (`ddof=1`); 0 with fewer than two observations.
    #[inline]
    pub fn var(&self) -> f64 {
        if self.n > 1.0 {
            self.m2 / (self.n - 1.0)
        } else {
            0.0
        }
    }
    /// River's `proba.Gaussian` density: 0 when the variance is 0.
    #[inline]
    pub fn pdf(&self, x: f64) -> f64 {
        let var = self.var();
        if var > 0.0 {
            let d = x - self.mean;
            (d * d / (-2.0 * var)).exp() / (std::f64::consts::TAU * var).sqrt()
        } else {
            0.0
        }
    }
    /// Normal CDF at `x` (0.5 when the variance is 0).
    #[inline]
    pub fn cdf(&self, x: f64) -> f64 {
        let sigma = self.var().sqrt();
        if sigma > 0.0 {
            // River's order of operations: standardise, then divide by sqrt(2).
            0.5 * (1.0 + erf((x - self.mean) / sigma / std::f64::consts::SQRT_2))
        } else {
            0.5
        }
    }
}

/// The error function: `libm`'s port of fdlibm's `erf`, the algorithm behind the C library's
/// `erf` that River calls through Python's `math.erf` (checked against CPython's values in
/// the tests). Rust's std has no `erf`.
#[inline]
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// River's `naive_bayes.GaussianNB` (see the module docs).
///
/// # Example
///
/// Progressive validation on three Gaussian blobs; the numbers are River's on the same stream
/// (`scripts/make_doc_examples.py`, `fixtures/doc_examples.json`), with two known differences:
///
/// - River's prediction for the first example is `None` (nothing learned yet), counted as a
///   miss; eddy's untrained model predicts class 0, right here. River's accuracy is 0.984, and
///   0.986 when its `None` is read as class 0 (`accuracy_none_as_0` in the JSON), as eddy's.
/// - River 0.26 uses population variances (`ddof=0`), eddy sample variances (`ddof=1`): River
///   gives `[0.546351, 0.453647, 0.000002]` for the probabilities below; with `ddof=1`
///   (`ddof1_none_as_0` in the JSON) it gives eddy's.
///
/// ```
/// use eddy_core::rng::Rng;
/// use eddy_learn::naive_bayes::GaussianNb;
/// use eddy_learn::{metrics, Classifier, Metric};
///
/// let mut model = GaussianNb::new();
/// let mut accuracy = metrics::build("accuracy").unwrap();
/// const CENTRES: [[f64; 2]; 3] = [[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]];
/// let mut rng = Rng::new(7);
/// for _ in 0..500 {
///     // Three Gaussian blobs (sd 0.5), the class drawn uniformly.
///     let c = rng.below(3) as usize;
///     let x = [CENTRES[c][0] + 0.5 * rng.normal(), CENTRES[c][1] + 0.5 * rng.normal()];
///     accuracy.update(c as f64, model.predict_one(&x) as f64, None);
///     model.learn_one(&x, c);
/// }
/// assert_eq!(format!("{:.6}", accuracy.get()), "0.986000");
/// let mut proba = Vec::new();
/// model.predict_proba_one(&[1.0, 0.5], &mut proba);
/// assert_eq!(format!("{proba:.6?}"), "[0.545289, 0.454709, 0.000002]");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GaussianNb {
    /// Examples seen per class (by label).
    pub class_counts: Vec<f64>,
    /// Per class, one Gaussian per feature.
    pub gaussians: Vec<Vec<Gaussian>>,
}

impl GaussianNb {
    pub fn new() -> Self {
        Self::default()
    }
}

impl GaussianNb {
    /// River's `joint_log_likelihood` for class `c` (`None` for a class never seen).
    fn joint_log_likelihood(&self, x: &[f64], c: usize, total: f64) -> Option<f64> {
        let n = self.class_counts[c];
        if n == 0.0 {
            return None;
        }
        let g = &self.gaussians[c];
        let mut ll = (n / total).ln();
        for (f, &xf) in x.iter().enumerate() {
            let pdf = g.get(f).map_or(0.0, |g| g.pdf(xf));
            ll += (1e-9 + pdf).ln();
        }
        Some(ll)
    }
}

impl Classifier for GaussianNb {
    /// The class of largest joint log-likelihood; no allocation.
    fn predict_one(&self, x: &[f64]) -> usize {
        let total: f64 = self.class_counts.iter().sum();
        let mut best = (0, f64::NEG_INFINITY);
        for c in 0..self.class_counts.len() {
            if let Some(ll) = self.joint_log_likelihood(x, c, total) {
                if ll > best.1 {
                    best = (c, ll);
                }
            }
        }
        best.0
    }

    fn n_classes(&self) -> usize {
        self.class_counts.len()
    }

    fn predict_proba_one(&self, x: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.resize(self.class_counts.len(), 0.0);
        let total: f64 = self.class_counts.iter().sum();
        if total == 0.0 {
            return;
        }
        let mut max = f64::NEG_INFINITY;
        for (c, o) in out.iter_mut().enumerate() {
            if let Some(ll) = self.joint_log_likelihood(x, c, total) {
                *o = ll;
                max = max.max(ll);
            }
        }
        let mut sum = 0.0;
        for (c, o) in out.iter_mut().enumerate() {
            if self.class_counts[c] > 0.0 {
                *o = (*o - max).exp();
                sum += *o;
            }
        }
        for o in out.iter_mut() {
            *o /= sum;
        }
    }

    fn learn_one(&mut self, x: &[f64], y: usize) {
        if y >= self.class_counts.len() {
            self.class_counts.resize(y + 1, 0.0);
            self.gaussians.resize(y + 1, Vec::new());
        }
        self.class_counts[y] += 1.0;
        let g = &mut self.gaussians[y];
        if g.len() < x.len() {
            g.resize(x.len(), Gaussian::default());
        }
        for (gf, &xf) in g.iter_mut().zip(x) {
            gf.update(xf, 1.0);
        }
    }
}

crate::estimator::impl_estimator!(classifier GaussianNb, GAUSSIAN_NB);

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_core::rng::Rng;

    #[test]
    fn erf_matches_known_values() {
        // CPython 3.11's math.erf (the C library's erf), printed with repr.
        for (x, want) in [
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (-0.3, -0.3286267594591274),
            (0.84375, 0.7672256612323416),
            (1e-9, 1.1283791670955127e-09),
            (3.5, 0.9999992569016276),
            (6.1, 1.0),
            (-1.25, -0.9229001282564582),
            (std::f64::consts::FRAC_1_SQRT_2, 0.682689492137086),
        ] {
            assert_eq!(erf(x), want, "erf({x})");
        }
    }

    #[test]
    fn river_docstring_example() {
        // River's GaussianNB example: labels 1 and 2; predict_one({0: -0.8, 1: -1}) is 1.
        let xs = [
            [-1.0, -1.0],
            [-2.0, -1.0],
            [-3.0, -2.0],
            [1.0, 1.0],
            [2.0, 1.0],
            [3.0, 2.0],
        ];
        let ys = [1, 1, 1, 2, 2, 2];
        let mut m = GaussianNb::new();
        for (x, &y) in xs.iter().zip(&ys) {
            m.learn_one(x, y);
        }
        assert_eq!(m.predict_one(&[-0.8, -1.0]), 1);
        let mut p = Vec::new();
        m.predict_proba_one(&[-0.8, -1.0], &mut p);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], 0.0); // label 0 never seen
        assert!(p[1] > 0.99);
    }

    #[test]
    fn posterior_matches_hand_computation() {
        // Class 0 sees 1, 2, 3 (mean 2, sample var 1); class 1 sees 5, 7 (mean 6, var 2).
        let mut m = GaussianNb::new();
        for v in [1.0, 2.0, 3.0] {
            m.learn_one(&[v], 0);
        }
        for v in [5.0, 7.0] {
            m.learn_one(&[v], 1);
        }
        // At x = 4: pdf0 = exp(-4/2)/sqrt(2π) = 0.05399097; pdf1 = exp(-4/4)/sqrt(4π) = 0.10377687
        // joint0 = 3/5 * (1e-9 + pdf0), joint1 = 2/5 * (1e-9 + pdf1);
        // P(0 | 4) = joint0 / (joint0 + joint1) = 0.0323946 / (0.0323946 + 0.0415108) = 0.43834
        let pdf0 = (-2.0f64).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let pdf1 = (-1.0f64).exp() / (4.0 * std::f64::consts::PI).sqrt();
        let (j0, j1) = (0.6 * (1e-9 + pdf0), 0.4 * (1e-9 + pdf1));
        let want = j0 / (j0 + j1);
        assert!((want - 0.438_34).abs() < 1e-4);
        let mut p = Vec::new();
        m.predict_proba_one(&[4.0], &mut p);
        assert!((p[0] - want).abs() < 1e-12, "{p:?} vs {want}");
        assert!((p[1] - (1.0 - want)).abs() < 1e-12);
    }

    #[test]
    fn two_gaussians_analytic_posterior() {
        // Classes N(-1, 1) and N(2, 1) with equal priors: the analytic posterior at x is
        // sigmoid of the log density ratio; at x = 0.5 (the midpoint) it is 1/2, at x = 0 it is
        // 1 / (1 + exp(-(0.5·(0-2)² - 0.5·(0+1)²))) = 1 / (1 + e^-1.5) = 0.8176 for class 0.
        let mut m = GaussianNb::new();
        let mut rng = Rng::new(9);
        for i in 0..40_000 {
            let c = i % 2;
            let mu = if c == 0 { -1.0 } else { 2.0 };
            m.learn_one(&[mu + rng.normal()], c);
        }
        let mut p = Vec::new();
        m.predict_proba_one(&[0.5], &mut p);
        assert!((p[0] - 0.5).abs() < 0.03, "{p:?}");
        m.predict_proba_one(&[0.0], &mut p);
        let analytic = 1.0 / (1.0 + (-1.5f64).exp());
        assert!((p[0] - analytic).abs() < 0.02, "{p:?} vs {analytic}");
        assert_eq!(m.predict_one(&[-3.0]), 0);
        assert_eq!(m.predict_one(&[3.0]), 1);
    }
}
