//! Multiclass softmax regression (River's `linear_model.SoftmaxRegression`).
//!
//! As in River: one weight vector and one copy of the optimizer per class (default SGD(0.01)),
//! cross-entropy loss with probabilities clamped to [1e-15, 1 - 1e-15] in the gradient,
//! `l2` (default 0) added as `l2 * w`, and no intercept (add a constant feature if needed).
//! Classes are discovered as labels arrive; a class never seen gets probability 0, and on the
//! example that introduces a class the softmax is taken over the classes known before it.

use serde::{Deserialize, Serialize};

use crate::estimator::{load_estimator, EntryKind, ModelEntry};
use crate::linear::dot;
use crate::optim::{Optimizer, OPTIMIZER_PARAMS};
use crate::param::{ParamReader, ParamSpec};
use crate::traits::{Classifier, Task};

/// `softmax_regression`: River's `linear_model.SoftmaxRegression`.
pub static SOFTMAX_REGRESSION: ModelEntry = ModelEntry {
    name: "softmax_regression",
    river: "linear_model.SoftmaxRegression",
    aliases: &[],
    params: &[OPTIMIZER_PARAMS, &[ParamSpec::new("l2", "0", "L2 penalty")]],
    kind: EntryKind::Features {
        task: Task::Classification,
        binary: false,
        build: |p| {
            let r = ParamReader::new(p);
            let l2 = r.non_negative("l2", 0.0)?;
            Ok(Box::new(SoftmaxRegression::new(
                Optimizer::from_params(&r)?,
                l2,
            )))
        },
        load: load_estimator::<SoftmaxRegression>,
    },
};

/// River's `linear_model.SoftmaxRegression` (see the module docs).
///
/// # Example
///
/// Progressive validation on three Gaussian blobs; the numbers are River's on the same stream
/// (`scripts/make_doc_examples.py`, `fixtures/doc_examples.json`), with one known difference:
/// River's prediction for the first example is `None` (nothing learned yet), counted as a miss;
/// eddy's untrained model predicts class 0, right here. River's accuracy is therefore 0.992, and
/// 0.994 when its `None` is read as class 0 (`accuracy_none_as_0` in the JSON), which is eddy's.
///
/// ```
/// use eddy_core::rng::Rng;
/// use eddy_learn::softmax::SoftmaxRegression;
/// use eddy_learn::{metrics, Classifier, Metric};
///
/// let mut model = SoftmaxRegression::default(); // SGD(0.01), l2 0
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
/// assert_eq!(format!("{:.6}", accuracy.get()), "0.994000");
/// let mut proba = Vec::new();
/// model.predict_proba_one(&[1.0, 0.5], &mut proba);
/// assert_eq!(format!("{proba:.6?}"), "[0.431198, 0.484786, 0.084017]");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxRegression {
    /// The optimizer each new class starts from (River's `optimizer`, deep-copied per class).
    pub optimizer: Optimizer,
    pub l2: f64,
    /// Per class (by label): whether seen, its weights and its optimizer.
    pub seen: Vec<bool>,
    pub weights: Vec<Vec<f64>>,
    pub optimizers: Vec<Optimizer>,
    #[serde(skip)]
    scratch: Scratch,
}

#[derive(Debug, Clone, Default)]
struct Scratch {
    proba: Vec<f64>,
    grad: Vec<f64>,
}

impl PartialEq for Scratch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Default for SoftmaxRegression {
    fn default() -> Self {
        Self::new(Optimizer::sgd(0.01), 0.0)
    }
}

/// Clamp used by River's cross-entropy.
#[inline]
fn clamp_proba(p: f64) -> f64 {
    p.clamp(1e-15, 1.0 - 1e-15)
}

impl SoftmaxRegression {
    pub fn new(optimizer: Optimizer, l2: f64) -> Self {
        SoftmaxRegression {
            optimizer,
            l2,
            seen: Vec::new(),
            weights: Vec::new(),
            optimizers: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// River's `utils.math.softmax` over the seen classes, written into `out`.
    fn proba_into(&self, x: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.resize(self.seen.len(), 0.0);
        let mut max = f64::NEG_INFINITY;
        for (c, o) in out.iter_mut().enumerate() {
            if self.seen[c] {
                *o = dot(&self.weights[c], x);
                max = max.max(*o);
            }
        }
        let mut total = 0.0;
        for (c, o) in out.iter_mut().enumerate() {
            if self.seen[c] {
                *o = (*o - max).exp();
                total += *o;
            }
        }
        for (c, o) in out.iter_mut().enumerate() {
            if self.seen[c] {
                *o /= total;
            }
        }
    }
}

impl Classifier for SoftmaxRegression {
    fn n_classes(&self) -> usize {
        self.seen.len()
    }

    fn predict_proba_one(&self, x: &[f64], out: &mut Vec<f64>) {
        self.proba_into(x, out);
    }

    /// The class with the largest logit (softmax is monotone); no allocation.
    fn predict_one(&self, x: &[f64]) -> usize {
        let mut best = (0, f64::NEG_INFINITY);
        for (c, w) in self.weights.iter().enumerate() {
            if self.seen[c] {
                let z = dot(w, x);
                if z > best.1 {
                    best = (c, z);
                }
            }
        }
        best.0
    }

    fn learn_one(&mut self, x: &[f64], y: usize) {
        let mut sc = std::mem::take(&mut self.scratch);
        // Probabilities over the classes known before this example.
        self.proba_into(x, &mut sc.proba);
        if y >= self.seen.len() {
            self.seen.resize(y + 1, false);
            self.weights.resize(y + 1, Vec::new());
            self.optimizers.resize(y + 1, self.optimizer.clone());
            sc.proba.resize(y + 1, 0.0);
        }
        let was_seen = self.seen[y];
        self.seen[y] = true;
        let d = x.len();
        if sc.grad.len() < d {
            sc.grad.resize(d, 0.0);
        }
        for c in 0..self.seen.len() {
            // River's gradient covers the classes of the prediction plus the true class.
            let in_pred = self.seen[c] && (c != y || was_seen);
            if !in_pred && c != y {
                continue;
            }
            let p = if in_pred { sc.proba[c] } else { 0.0 };
            let loss = clamp_proba(p) - if c == y { 1.0 } else { 0.0 };
            let w = &mut self.weights[c];
            if w.len() < d {
                w.resize(d, 0.0);
            }
            let g = &mut sc.grad[..d];
            for ((gi, &xi), &wi) in g.iter_mut().zip(x).zip(&w[..d]) {
                *gi = xi * loss + self.l2 * wi;
            }
            self.optimizers[c].step(&mut w[..d], g);
        }
        self.scratch = sc;
    }
}

crate::estimator::impl_estimator!(classifier SoftmaxRegression, SOFTMAX_REGRESSION);

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_core::rng::Rng;

    /// Three blobs centred at angles 90°, 210° and 330° on a circle of radius 3, sd 0.5:
    /// separable by linear functions through the origin (no intercept needed).
    fn blob(rng: &mut Rng) -> ([f64; 2], usize) {
        let c = rng.below(3) as usize;
        let a = std::f64::consts::FRAC_PI_2 + c as f64 * 2.0 * std::f64::consts::PI / 3.0;
        (
            [
                3.0 * a.cos() + 0.5 * rng.normal(),
                3.0 * a.sin() + 0.5 * rng.normal(),
            ],
            c,
        )
    }

    #[test]
    fn softmax_three_blobs() {
        let mut m = SoftmaxRegression::new(Optimizer::sgd(0.05), 0.0);
        let mut rng = Rng::new(5);
        for _ in 0..5000 {
            let (x, y) = blob(&mut rng);
            m.learn_one(&x, y);
        }
        assert_eq!(m.n_classes(), 3);
        let mut correct = 0;
        let mut p = Vec::new();
        for _ in 0..1000 {
            let (x, y) = blob(&mut rng);
            m.predict_proba_one(&x, &mut p);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            correct += usize::from(m.predict_one(&x) == y);
        }
        assert!(correct >= 980, "accuracy {correct}/1000");
    }

    #[test]
    fn first_steps_by_hand() {
        // Example 1: x = [1, 2], y = 0. No class known: class 0 gets p = 0 -> clamp 1e-15,
        // loss = 1e-15 - 1; w0 = -0.01 * (1e-15 - 1) * [1, 2] = [0.01, 0.02] (to 1e-15).
        let mut m = SoftmaxRegression::default();
        m.learn_one(&[1.0, 2.0], 0);
        assert!((m.weights[0][0] - 0.01).abs() < 1e-15);
        assert!((m.weights[0][1] - 0.02).abs() < 1e-15);
        // Example 2: x = [1, 0], y = 1. Known: class 0 only, so p0 = 1 -> clamp 1 - 1e-15:
        // w0 -= 0.01 * (1 - 1e-15) * [1, 0] -> [0.0, 0.02]; class 1: p = 0 -> w1 = [0.01, 0].
        m.learn_one(&[1.0, 0.0], 1);
        assert!(m.weights[0][0].abs() < 1e-15);
        assert!((m.weights[1][0] - 0.01).abs() < 1e-15);
        // Now p over both: logits [0.02 * 1, 0] for x = [0, 1]; p0 = e^0.02 / (e^0.02 + 1).
        let mut p = Vec::new();
        m.predict_proba_one(&[0.0, 1.0], &mut p);
        let want = 0.02f64.exp() / (0.02f64.exp() + 1.0);
        assert!((p[0] - want).abs() < 1e-12);
    }
}
