//! Linear and logistic regression (River's `linear_model.LinearRegression` and
//! `LogisticRegression`), sharing River's generalised linear model (`GLM`).
//!
//! Same parameters and defaults as River: `optimizer` SGD(0.01), `l2` 0, `l1` 0 (River's
//! cumulative L1 penalty; `l1` and `l2` may not both be set), `intercept_init` 0,
//! `intercept_lr` 0.01 (a constant rate for the bias, evaluated at the optimizer's iteration
//! count before its step, as in River), `clip_gradient` 1e12 (on the loss gradient).
//! Squared loss (gradient `2 (p - y)`) and log loss (River's `optim.losses.Log`).
//!
//! Differences: weights are a dense vector that grows (with River's default zero initialiser)
//! to the longest input seen; no per-example weight `w`; `learn_many` is one `learn_one` per row
//! (River's `learn_many` takes one mean-gradient step per batch).
//! Predict and learn never allocate once the weights have reached the input's length.

use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::estimator::{load_estimator, EntryKind, ModelEntry};
use crate::optim::{Optimizer, Schedule, OPTIMIZER_PARAMS};
use crate::param::{ParamReader, ParamSpec, Params};
use crate::traits::{Classifier, Regressor, Task};

/// The parameters of River's GLM, shared by the linear and logistic regressions.
pub const GLM_PARAMS: &[ParamSpec] = &[
    ParamSpec::new("l2", "0", "L2 penalty"),
    ParamSpec::new("l1", "0", "L1 penalty (cumulative; not with l2)"),
    ParamSpec::new("intercept_init", "0", "initial intercept"),
    ParamSpec::new(
        "intercept_lr",
        "0.01",
        "the intercept's constant learning rate",
    ),
    ParamSpec::new(
        "clip_gradient",
        "1e12",
        "clips the loss gradient to ±clip_gradient",
    ),
];

/// `linear_regression`: River's `linear_model.LinearRegression`.
pub static LINEAR_REGRESSION: ModelEntry = ModelEntry {
    name: "linear_regression",
    river: "linear_model.LinearRegression",
    aliases: &[],
    params: &[OPTIMIZER_PARAMS, GLM_PARAMS],
    kind: EntryKind::Features {
        task: Task::Regression,
        binary: false,
        build: |p| Ok(Box::new(LinearRegression::new(GlmParams::from_params(p)?)?)),
        load: load_estimator::<LinearRegression>,
    },
};

/// `logistic_regression`: River's `linear_model.LogisticRegression`.
pub static LOGISTIC_REGRESSION: ModelEntry = ModelEntry {
    name: "logistic_regression",
    river: "linear_model.LogisticRegression",
    aliases: &[],
    params: &[OPTIMIZER_PARAMS, GLM_PARAMS],
    kind: EntryKind::Features {
        task: Task::Classification,
        binary: true,
        build: |p| {
            Ok(Box::new(LogisticRegression::new(GlmParams::from_params(
                p,
            )?)?))
        },
        load: load_estimator::<LogisticRegression>,
    },
};

/// Hyper-parameters shared by the linear models (River's GLM arguments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlmParams {
    pub optimizer: Optimizer,
    pub l2: f64,
    pub l1: f64,
    pub intercept_init: f64,
    pub intercept_lr: f64,
    pub clip_gradient: f64,
}

impl GlmParams {
    /// From [`OPTIMIZER_PARAMS`] and [`GLM_PARAMS`] (River's defaults where absent).
    pub fn from_params(p: &Params) -> Result<Self, LearnError> {
        let r = ParamReader::new(p);
        Ok(GlmParams {
            optimizer: Optimizer::from_params(&r)?,
            l2: r.f64("l2", 0.0)?,
            l1: r.f64("l1", 0.0)?,
            intercept_init: r.f64("intercept_init", 0.0)?,
            intercept_lr: r.f64("intercept_lr", 0.01)?,
            clip_gradient: r.f64("clip_gradient", 1e12)?,
        })
    }
}

impl Default for GlmParams {
    fn default() -> Self {
        GlmParams {
            optimizer: Optimizer::sgd(0.01),
            l2: 0.0,
            l1: 0.0,
            intercept_init: 0.0,
            intercept_lr: 0.01,
            clip_gradient: 1e12,
        }
    }
}

/// The generalised linear model state: weights, bias, optimizer and L1 bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Glm {
    pub weights: Vec<f64>,
    pub intercept: f64,
    pub optimizer: Optimizer,
    pub l2: f64,
    pub l1: f64,
    pub intercept_init: f64,
    pub intercept_lr: Schedule,
    pub clip_gradient: f64,
    max_cum_l1: f64,
    cum_l1: Vec<f64>,
}

/// A reusable buffer that is not part of a model's state: skipped by serde, ignored by `==`.
#[derive(Debug, Clone, Default)]
pub struct Scratch(pub Vec<f64>);

impl PartialEq for Scratch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Dot product over the common prefix, with four accumulators (a fixed summation order).
#[inline]
pub(crate) fn dot(w: &[f64], x: &[f64]) -> f64 {
    let d = w.len().min(x.len());
    let (w, x) = (&w[..d], &x[..d]);
    let mut acc = [0.0f64; 4];
    let mut wc = w.chunks_exact(4);
    let mut xc = x.chunks_exact(4);
    for (a, b) in (&mut wc).zip(&mut xc) {
        acc[0] += a[0] * b[0];
        acc[1] += a[1] * b[1];
        acc[2] += a[2] * b[2];
        acc[3] += a[3] * b[3];
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (a, b) in wc.remainder().iter().zip(xc.remainder()) {
        s += a * b;
    }
    s
}

/// River's `utils.math.sigmoid` (saturates beyond ±30).
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x < -30.0 {
        0.0
    } else if x > 30.0 {
        1.0
    } else {
        1.0 / (1.0 + (-x).exp())
    }
}

impl Glm {
    pub fn new(p: GlmParams) -> Result<Self, LearnError> {
        if p.l1 != 0.0 && p.l2 != 0.0 {
            return Err(LearnError::Param {
                name: "l1".into(),
                msg: "l1 and l2 cannot both be non-zero (as in River)".into(),
            });
        }
        for (name, v) in [("l1", p.l1), ("l2", p.l2), ("intercept_lr", p.intercept_lr)] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(LearnError::Param {
                    name: name.into(),
                    msg: format!("must be a finite number >= 0, got {v}"),
                });
            }
        }
        if p.clip_gradient.is_nan() || p.clip_gradient <= 0.0 {
            return Err(LearnError::Param {
                name: "clip_gradient".into(),
                msg: format!("must be > 0, got {}", p.clip_gradient),
            });
        }
        Ok(Glm {
            weights: Vec::new(),
            intercept: p.intercept_init,
            optimizer: p.optimizer,
            l2: p.l2,
            l1: p.l1,
            intercept_init: p.intercept_init,
            intercept_lr: Schedule::Constant {
                learning_rate: p.intercept_lr,
            },
            clip_gradient: p.clip_gradient,
            max_cum_l1: 0.0,
            cum_l1: Vec::new(),
        })
    }

    /// `w · x + intercept` (features beyond the learned weights count as zero weight).
    #[inline]
    pub fn raw_dot(&self, x: &[f64]) -> f64 {
        dot(&self.weights, x) + self.intercept
    }

    /// One GLM step given the loss gradient with respect to the raw prediction.
    #[inline]
    pub fn fit(&mut self, x: &[f64], loss_gradient: f64) {
        let d = x.len();
        if self.weights.len() < d {
            self.weights.resize(d, 0.0);
        }
        let lg = loss_gradient.clamp(-self.clip_gradient, self.clip_gradient);
        self.intercept -= self.intercept_lr.get(self.optimizer.n_iterations) * lg;
        self.optimizer
            .step_linear(&mut self.weights[..d], x, lg, self.l2);
        if self.l1 != 0.0 {
            self.apply_l1(d);
        }
    }

    /// Multiplies the learning rates (weights' and intercept's) by `factor`.
    pub fn scale_rates(&mut self, factor: f64) {
        self.optimizer.scale_rate(factor);
        self.intercept_lr.scale(factor);
    }

    /// River's `learn_many` step: one step along the batch's mean gradient. `xs` is
    /// row-major with `lgs.len()` rows of `d` values, `lgs` the loss gradients of the rows
    /// (each clipped here). The intercept moves by the mean loss gradient; the optimizer
    /// counts one iteration.
    pub fn fit_many(&mut self, xs: &[f64], d: usize, lgs: &mut [f64]) {
        let n = lgs.len();
        if n == 0 {
            return;
        }
        if self.weights.len() < d {
            self.weights.resize(d, 0.0);
        }
        let mut g = vec![0.0; d];
        let mut mean_lg = 0.0;
        for (x, lg) in xs.chunks_exact(d.max(1)).zip(lgs.iter_mut()) {
            *lg = lg.clamp(-self.clip_gradient, self.clip_gradient);
            mean_lg += *lg;
            for (gj, xj) in g.iter_mut().zip(x) {
                *gj += xj * *lg;
            }
        }
        mean_lg /= n as f64;
        for (gj, wj) in g.iter_mut().zip(&self.weights[..d]) {
            *gj = *gj / n as f64 + self.l2 * wj;
        }
        self.intercept -= self.intercept_lr.get(self.optimizer.n_iterations) * mean_lg;
        self.optimizer.step(&mut self.weights[..d], &g);
        if self.l1 != 0.0 {
            self.apply_l1(d);
        }
    }

    /// River's cumulative L1 penalty (Tsuruoka et al., 2009) on the first `d` weights.
    fn apply_l1(&mut self, d: usize) {
        if self.cum_l1.len() < d {
            self.cum_l1.resize(d, 0.0);
        }
        self.max_cum_l1 += self.l1 * self.optimizer.learning_rate();
        let u = self.max_cum_l1;
        for (w, q) in self.weights[..d].iter_mut().zip(&mut self.cum_l1[..d]) {
            let z = *w;
            if z > 0.0 {
                *w = (z - (u + *q)).max(0.0);
            } else if z < 0.0 {
                *w = (z + (u - *q)).min(0.0);
            }
            *q += *w - z;
        }
    }
}

/// The length of each of `n` rows in `xs` (0 without rows).
fn row_len(xs: &[f64], n: usize) -> usize {
    xs.len().checked_div(n).unwrap_or(0)
}

/// River's `LinearRegression`: squared loss, identity link.
///
/// # Example
///
/// Progressive validation (predict, then learn) on a noisy linear stream. The numbers are
/// River's on the same stream (`scripts/make_doc_examples.py`, which ports eddy's generator to
/// Python and writes `fixtures/doc_examples.json`); eddy gives the same to six decimals.
///
/// ```
/// use eddy_core::rng::Rng;
/// use eddy_learn::linear::LinearRegression;
/// use eddy_learn::{metrics, Metric, Regressor};
///
/// let mut model = LinearRegression::default(); // River's defaults: SGD(0.01), intercept_lr 0.01
/// let mut mae = metrics::build("mae").unwrap();
/// let mut rng = Rng::new(42);
/// for _ in 0..1000 {
///     let x = [rng.next_f64(), rng.next_f64(), rng.next_f64()];
///     let y = 2.0 * x[0] - 3.0 * x[1] + x[2] + 0.5 + 0.1 * rng.normal();
///     mae.update(y, model.predict_one(&x), None);
///     model.learn_one(&x, y);
/// }
/// assert_eq!(format!("{:.6}", mae.get()), "0.448231");
/// assert_eq!(format!("{:.6?}", model.glm.weights), "[1.716562, -2.393172, 0.893674]");
/// assert_eq!(format!("{:.6}", model.glm.intercept), "0.404188");
/// assert_eq!(format!("{:.6}", model.predict_one(&[0.5, 0.5, 0.5])), "0.512720");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearRegression {
    pub glm: Glm,
}

impl LinearRegression {
    pub fn new(p: GlmParams) -> Result<Self, LearnError> {
        Ok(LinearRegression { glm: Glm::new(p)? })
    }
}

impl Default for LinearRegression {
    fn default() -> Self {
        Self::new(GlmParams::default()).expect("defaults are valid")
    }
}

impl Regressor for LinearRegression {
    #[inline]
    fn predict_one(&self, x: &[f64]) -> f64 {
        self.glm.raw_dot(x)
    }
    #[inline]
    fn learn_one(&mut self, x: &[f64], y: f64) {
        let p = self.glm.raw_dot(x);
        self.glm.fit(x, 2.0 * (p - y));
    }
    fn learn_many(&mut self, xs: &[f64], ys: &[f64]) {
        let d = row_len(xs, ys.len());
        let mut lgs: Vec<f64> = (xs.chunks_exact(d.max(1)).zip(ys))
            .map(|(x, y)| 2.0 * (self.glm.raw_dot(x) - y))
            .collect();
        self.glm.fit_many(xs, d, &mut lgs);
    }
}

crate::estimator::impl_estimator!(regressor LinearRegression, LINEAR_REGRESSION, glm);

/// River's `optim.losses.Log().gradient(y_true, y_pred)` for a label in {0, 1}.
#[inline]
pub fn log_loss_gradient(y: bool, raw: f64) -> f64 {
    let yt = if y { 1.0 } else { -1.0 };
    let z = raw * yt;
    if z > 18.0 {
        (-z).exp() * -yt
    } else if z < -18.0 {
        -yt
    } else {
        -yt / (z.exp() + 1.0)
    }
}

/// River's `LogisticRegression`: log loss, sigmoid link. Binary: class 1 is positive and any
/// label other than 0 is treated as positive.
///
/// # Example
///
/// Progressive validation on the SEA stream (features in `[0, 10)`, unscaled, 10% label
/// noise). The numbers are River's on the same stream (`scripts/make_doc_examples.py`); eddy
/// gives the same to six decimals.
///
/// ```
/// use eddy_learn::linear::LogisticRegression;
/// use eddy_learn::synth::Sea;
/// use eddy_learn::{metrics, Classifier, Metric};
///
/// let mut model = LogisticRegression::default();
/// let mut accuracy = metrics::build("accuracy").unwrap();
/// for (x, y) in Sea::new(0, 0.1, 42).unwrap().take(1000) {
///     accuracy.update(y, model.predict_one(&x) as f64, None);
///     model.learn_one(&x, y as usize);
/// }
/// assert_eq!(format!("{:.6}", accuracy.get()), "0.717000");
/// let mut proba = Vec::new();
/// model.predict_proba_one(&[6.0, 4.0, 1.0], &mut proba);
/// assert_eq!(format!("{proba:.6?}"), "[0.117723, 0.882277]");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegression {
    pub glm: Glm,
}

impl LogisticRegression {
    pub fn new(p: GlmParams) -> Result<Self, LearnError> {
        Ok(LogisticRegression { glm: Glm::new(p)? })
    }
    /// Probability of class 1.
    #[inline]
    pub fn predict_proba_true(&self, x: &[f64]) -> f64 {
        sigmoid(self.glm.raw_dot(x))
    }
}

impl Default for LogisticRegression {
    fn default() -> Self {
        Self::new(GlmParams::default()).expect("defaults are valid")
    }
}

impl Classifier for LogisticRegression {
    fn n_classes(&self) -> usize {
        2
    }
    #[inline]
    fn predict_proba_one(&self, x: &[f64], out: &mut Vec<f64>) {
        let p = self.predict_proba_true(x);
        out.clear();
        out.push(1.0 - p);
        out.push(p);
    }
    #[inline]
    fn predict_one(&self, x: &[f64]) -> usize {
        // p(1) > p(0) exactly when p > 0.5 (ties go to the lower label).
        usize::from(self.predict_proba_true(x) > 0.5)
    }
    #[inline]
    fn learn_one(&mut self, x: &[f64], y: usize) {
        let raw = self.glm.raw_dot(x);
        self.glm.fit(x, log_loss_gradient(y != 0, raw));
    }
    fn learn_many(&mut self, xs: &[f64], ys: &[usize]) {
        let d = row_len(xs, ys.len());
        let mut lgs: Vec<f64> = (xs.chunks_exact(d.max(1)).zip(ys))
            .map(|(x, &y)| log_loss_gradient(y != 0, self.glm.raw_dot(x)))
            .collect();
        self.glm.fit_many(xs, d, &mut lgs);
    }
}

crate::estimator::impl_estimator!(classifier LogisticRegression, LOGISTIC_REGRESSION, glm);

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_core::rng::Rng;

    #[test]
    fn linear_regression_recovers_known_weights() {
        // y = 2 x0 - 3 x1 + 0.5 x2 + 1 (no noise); inputs uniform in [-1, 1].
        let mut m = LinearRegression::default();
        let mut rng = Rng::new(7);
        let mut x = [0.0; 3];
        for _ in 0..20_000 {
            for v in &mut x {
                *v = rng.next_f64() * 2.0 - 1.0;
            }
            let y = 2.0 * x[0] - 3.0 * x[1] + 0.5 * x[2] + 1.0;
            m.learn_one(&x, y);
        }
        let w = &m.glm.weights;
        for (got, want) in w.iter().zip([2.0, -3.0, 0.5]) {
            assert!((got - want).abs() < 1e-3, "{w:?}");
        }
        assert!((m.glm.intercept - 1.0).abs() < 1e-3, "{}", m.glm.intercept);
    }

    #[test]
    fn linear_regression_first_step_by_hand() {
        // x = [1, 2], y = 3, weights 0, intercept 0: p = 0, loss gradient 2 (0 - 3) = -6.
        // intercept -= 0.01 * -6 -> 0.06; w -= 0.01 * [-6, -12] -> [0.06, 0.12].
        let mut m = LinearRegression::default();
        m.learn_one(&[1.0, 2.0], 3.0);
        assert!((m.glm.intercept - 0.06).abs() < 1e-15);
        assert!((m.glm.weights[0] - 0.06).abs() < 1e-15);
        assert!((m.glm.weights[1] - 0.12).abs() < 1e-15);
        // p = 0.06 + 0.06 + 0.24 = 0.36
        assert!((m.predict_one(&[1.0, 2.0]) - 0.36).abs() < 1e-15);
    }

    #[test]
    fn logistic_regression_separable_data() {
        // label = 1 when x0 + 2 x1 - 0.5 > 0, margin >= 0.1 around the boundary.
        let mut m = LogisticRegression::new(GlmParams {
            optimizer: Optimizer::sgd(0.1),
            ..GlmParams::default()
        })
        .unwrap();
        let mut rng = Rng::new(11);
        let sample = |rng: &mut Rng| loop {
            let x = [rng.next_f64() * 4.0 - 2.0, rng.next_f64() * 4.0 - 2.0];
            let s = x[0] + 2.0 * x[1] - 0.5;
            if s.abs() > 0.1 {
                return (x, usize::from(s > 0.0));
            }
        };
        for _ in 0..20_000 {
            let (x, y) = sample(&mut rng);
            m.learn_one(&x, y);
        }
        let mut correct = 0;
        for _ in 0..2000 {
            let (x, y) = sample(&mut rng);
            correct += usize::from(m.predict_one(&x) == y);
        }
        assert!(correct >= 1960, "accuracy {correct}/2000");
    }

    #[test]
    fn logistic_first_step_by_hand() {
        // raw = 0, y = 1: gradient = -1 / (e^0 + 1) = -0.5.
        // intercept = 0 - 0.01 * -0.5 = 0.005; w = [0 - 0.01 * (2 * -0.5)] = [0.01].
        let mut m = LogisticRegression::default();
        m.learn_one(&[2.0], 1);
        assert!((m.glm.intercept - 0.005).abs() < 1e-15);
        assert!((m.glm.weights[0] - 0.01).abs() < 1e-15);
        let mut p = Vec::new();
        m.predict_proba_one(&[2.0], &mut p);
        let want = 1.0 / (1.0 + (-0.025f64).exp());
        assert!((p[1] - want).abs() < 1e-15 && (p[0] + p[1] - 1.0).abs() < 1e-15);
    }

    #[test]
    fn l2_shrinks_and_l1_zeroes_irrelevant_weights() {
        let mut rng = Rng::new(3);
        let mk = |l1: f64, l2: f64| {
            LinearRegression::new(GlmParams {
                l1,
                l2,
                ..GlmParams::default()
            })
            .unwrap()
        };
        let (mut plain, mut ridge, mut lasso) = (mk(0.0, 0.0), mk(0.0, 0.5), mk(0.05, 0.0));
        for _ in 0..20_000 {
            let x = [rng.next_f64() * 2.0 - 1.0, rng.next_f64() * 2.0 - 1.0];
            let y = 2.0 * x[0];
            plain.learn_one(&x, y);
            ridge.learn_one(&x, y);
            lasso.learn_one(&x, y);
        }
        assert!(ridge.glm.weights[0].abs() < plain.glm.weights[0].abs() - 0.1);
        assert_eq!(lasso.glm.weights[1], 0.0);
        assert!(lasso.glm.weights[0] > 1.0);
        assert!(LinearRegression::new(GlmParams {
            l1: 0.1,
            l2: 0.1,
            ..GlmParams::default()
        })
        .is_err());
    }

    #[test]
    fn a_mini_batch_is_one_step_along_the_mean_gradient() {
        // By hand, River's defaults (SGD 0.01, intercept_lr 0.01), weights 0: both rows have
        // P = 0.5, so loss gradients P - y are -0.5 (y = 1) and 0.5 (y = 0). Mean gradient:
        // a = (1·-0.5 + 3·0.5)/2 = 0.5, b = (2·-0.5 + -1·0.5)/2 = -0.75; the intercept's is
        // 0. River's `learn_many` on the same rows gives the same (checked with River 0.26).
        let mut m = LogisticRegression::default();
        Classifier::learn_many(&mut m, &[1.0, 2.0, 3.0, -1.0], &[1, 0]);
        assert_eq!(m.glm.weights, [-0.01 * 0.5, -0.01 * -0.75]);
        assert_eq!(m.glm.intercept, 0.0);
        assert_eq!(m.glm.optimizer.n_iterations, 1);
        // then a batch of one row: raw = 0.005, P = sigmoid(0.005), a step of 0.01·(P - 1)·x
        Classifier::learn_many(&mut m, &[0.5, 1.0], &[1]);
        let lg = sigmoid(0.005) - 1.0;
        assert!((m.glm.weights[0] - (-0.005 - 0.01 * lg * 0.5)).abs() < 1e-15);
        assert!((m.glm.weights[1] - (0.0075 - 0.01 * lg)).abs() < 1e-15);
        assert!((m.glm.intercept - (-0.01 * lg)).abs() < 1e-15);
        // River: a -0.0025062499869791988, b 0.012487500026041602, intercept 0.004987500026041603
        assert!((m.glm.weights[0] - -0.0025062499869791988).abs() < 1e-12);
        // a regressor: squared loss, gradient 2 (p - y)
        let mut r = LinearRegression::default();
        Regressor::learn_many(&mut r, &[1.0, 0.0, 0.0, 1.0], &[1.0, 3.0]);
        assert_eq!(r.glm.weights, [0.01 * 2.0 / 2.0, 0.01 * 6.0 / 2.0]);
        assert!((r.glm.intercept - 0.01 * 4.0).abs() < 1e-15);
    }

    #[test]
    fn gradient_is_clipped() {
        // loss gradient 2 (0 - 1000) = -2000 clipped to -1: w = 0.01 * 1 * 1 = 0.01.
        let mut m = LinearRegression::new(GlmParams {
            clip_gradient: 1.0,
            ..GlmParams::default()
        })
        .unwrap();
        m.learn_one(&[1.0], 1000.0);
        assert!((m.glm.weights[0] - 0.01).abs() < 1e-15);
        assert!((m.glm.intercept - 0.01).abs() < 1e-15);
    }
}
