//! River's `tree.splitter.GaussianSplitter`: per class, a Gaussian and the range of values.

use serde::{Deserialize, Serialize};

use crate::naive_bayes::Gaussian;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct ClassEstimator {
    g: Gaussian,
    /// Meaningful only once `g.n > 0` (kept finite so that JSON snapshots can carry them).
    min: f64,
    max: f64,
    /// Cached from `g` after each update, for the naive Bayes log densities:
    /// `1 / (2 var)` and `0.5 ln(2 pi var)`, both 0 while the variance is 0.
    inv_two_var: f64,
    half_ln_two_pi_var: f64,
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
        let var = e.g.var();
        if var > 0.0 {
            e.inv_two_var = 0.5 / var;
            e.half_ln_two_pi_var = 0.5 * (std::f64::consts::TAU * var).ln();
        } else {
            e.inv_two_var = 0.0;
            e.half_ln_two_pi_var = 0.0;
        }
    }

    /// `ln` of [`cond_proba`](Self::cond_proba), or `None` where that density is 0 (unseen
    /// class, zero variance, or a density that underflows to 0 in `f64`), which River's naive
    /// Bayes skipped when it summed `log(pdf)` for `pdf > 0` (River 0.26 skips only the first
    /// two).
    #[inline]
    pub fn log_cond_proba(&self, x: f64, class: usize) -> Option<f64> {
        let e = self.per_class.get(class)?;
        if e.inv_two_var == 0.0 {
            return None;
        }
        let d = x - e.g.mean;
        let lp = -d * d * e.inv_two_var - e.half_ln_two_pi_var;
        // exp(lp) is 0 in f64 below about -745.13; River summing log(pdf) for pdf > 0 then added
        // nothing (River 0.26 adds its cond_log_proba whatever its size).
        (lp > -745.13).then_some(lp)
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
            let merit = super::info_gain(pre, &left, &right, min_branch_fraction);
            if best.as_ref().is_none_or(|b| merit > b.0) && merit > f64::NEG_INFINITY {
                best = Some((merit, v, left.clone(), right.clone()));
            }
        }
        best
    }
}
