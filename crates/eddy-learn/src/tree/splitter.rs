//! River's `tree.splitter.GaussianSplitter`: per class, a Gaussian and the range of values.

use serde::{Deserialize, Serialize};

use crate::naive_bayes::Gaussian;

/// `0.5 ln(2 pi)`, as River's `_HALF_LOG_TAU`.
const HALF_LN_TAU: f64 = 0.918_938_533_204_672_7;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "EstimatorState", into = "EstimatorState")]
struct ClassEstimator {
    g: Gaussian,
    /// Meaningful only once `g.n > 0` (kept finite so that JSON snapshots can carry them).
    min: f64,
    max: f64,
    /// Cached from `g` after each update, for the naive Bayes log densities: the variance
    /// and `0.5 ln(variance)`, both 0 while the variance is 0.
    var: f64,
    half_ln_var: f64,
}

impl ClassEstimator {
    fn cache(&mut self) {
        let var = self.g.var();
        (self.var, self.half_ln_var) = if var > 0.0 {
            (var, 0.5 * var.ln())
        } else {
            (0.0, 0.0)
        };
    }
}

/// What a snapshot holds of a [`ClassEstimator`]: the cached values are recomputed on load
/// (and fields of older snapshots that cached other values are ignored).
#[derive(Serialize, Deserialize)]
struct EstimatorState {
    g: Gaussian,
    min: f64,
    max: f64,
}

impl From<EstimatorState> for ClassEstimator {
    fn from(s: EstimatorState) -> Self {
        let mut e = ClassEstimator {
            g: s.g,
            min: s.min,
            max: s.max,
            ..ClassEstimator::default()
        };
        e.cache();
        e
    }
}

impl From<ClassEstimator> for EstimatorState {
    fn from(e: ClassEstimator) -> Self {
        EstimatorState {
            g: e.g,
            min: e.min,
            max: e.max,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GaussianSplitter {
    per_class: Vec<ClassEstimator>,
}

/// (merit, threshold, left class weights, right class weights)
pub(crate) type Suggestion = (f64, f64, Vec<f64>, Vec<f64>);

impl GaussianSplitter {
    #[inline]
    pub fn update(&mut self, x: f64, y: usize, w: f64) {
        if !x.is_finite() {
            return;
        }
        if self.per_class.len() <= y {
            self.per_class.resize(y + 1, ClassEstimator::default());
        }
        let e = &mut self.per_class[y];
        if e.g.n == 0.0 {
            e.min = x;
            e.max = x;
        } else {
            e.min = e.min.min(x);
            e.max = e.max.max(x);
        }
        e.g.update(x, w);
        e.cache();
    }

    /// River 0.26's `cond_log_proba`: `ln` of [`cond_proba`](Self::cond_proba) computed in
    /// log space with River's arithmetic, or `None` (River: `-inf`, which its naive Bayes
    /// skips) for an unseen class or a variance of 0. However small, a log-density counts.
    #[inline]
    pub fn log_cond_proba(&self, x: f64, class: usize) -> Option<f64> {
        let e = self.per_class.get(class)?;
        if e.var == 0.0 {
            return None;
        }
        let d = x - e.g.mean;
        Some(d * d / (-2.0 * e.var) - HALF_LN_TAU - e.half_ln_var)
    }

    pub fn estimator(&self, class: usize) -> Option<&Gaussian> {
        self.per_class
            .get(class)
            .map(|e| &e.g)
            .filter(|g| g.n > 0.0)
    }

    /// River's `cond_proba`: the class's Gaussian density at `x` (0 for an unseen class).
    #[inline]
    pub fn cond_proba(&self, x: f64, class: usize) -> f64 {
        match self.per_class.get(class) {
            Some(e) if e.g.n > 0.0 => e.g.pdf(x),
            _ => 0.0,
        }
    }

    /// Whether River's split at `v` gives `class` an entry on the left and on the right.
    pub(crate) fn sides(&self, v: f64, class: usize) -> (bool, bool) {
        match self.per_class.get(class) {
            Some(e) if e.g.n > 0.0 => (v >= e.min, v < e.max),
            _ => (false, false),
        }
    }

    /// River's `best_evaluated_split_suggestion` for a binary numeric split.
    pub(crate) fn best_split(
        &self,
        pre: &[f64],
        n_splits: usize,
        min_branch_fraction: f64,
    ) -> Option<Suggestion> {
        let seen = || self.per_class.iter().filter(|e| e.g.n > 0.0);
        let lo = seen().map(|e| e.min).reduce(f64::min)?;
        let hi = seen().map(|e| e.max).reduce(f64::max)?;
        let bin = (hi - lo) / (n_splits as f64 + 1.0);
        let k = self.per_class.len().max(pre.len());
        let mut best: Option<Suggestion> = None;
        let mut left = vec![0.0; k];
        let mut right = vec![0.0; k];
        for i in 0..n_splits {
            let v = lo + bin * (i as f64 + 1.0);
            if !(lo < v && v < hi) {
                continue;
            }
            left.iter_mut().for_each(|x| *x = 0.0);
            right.iter_mut().for_each(|x| *x = 0.0);
            for (c, e) in self.per_class.iter().enumerate() {
                if e.g.n <= 0.0 {
                    continue;
                }
                if v < e.min {
                    right[c] = e.g.n;
                } else if v >= e.max {
                    left[c] = e.g.n;
                } else {
                    left[c] = e.g.cdf(v) * e.g.n;
                    right[c] = e.g.n - left[c];
                }
            }
            let merit = super::info_gain(pre, &[&left[..], &right[..]], min_branch_fraction);
            if best.as_ref().is_none_or(|b| merit > b.0) && merit > f64::NEG_INFINITY {
                best = Some((merit, v, left.clone(), right.clone()));
            }
        }
        best
    }
}
