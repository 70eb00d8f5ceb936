//! The small uniform interfaces every estimator, detector and metric implements.

/// Whether a model predicts numbers or classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Regression,
    Classification,
}

/// A model predicting a real number. `predict_one` never mutates the model.
pub trait Regressor {
    fn predict_one(&self, x: &[f64]) -> f64;
    fn learn_one(&mut self, x: &[f64], y: f64);
    /// A mini-batch step: `xs` is row-major with `ys.len()` rows. Default: one `learn_one` per row.
    fn learn_many(&mut self, xs: &[f64], ys: &[f64]) {
        if ys.is_empty() {
            return;
        }
        let d = xs.len() / ys.len();
        for (row, &y) in xs.chunks_exact(d).zip(ys) {
            self.learn_one(row, y);
        }
    }
}

/// A model predicting one of `n_classes()` classes (labels are `0..n`).
/// Binary classifiers have two classes and class 1 is "positive".
/// `predict_proba_one` and `predict_one` never mutate the model.
pub trait Classifier {
    /// Class count known so far (grows for models that discover classes as they learn).
    fn n_classes(&self) -> usize;
    /// Writes one probability per class into `out` (resized to `n_classes()`).
    fn predict_proba_one(&self, x: &[f64], out: &mut Vec<f64>);
    /// The most probable class (ties: the lowest label). This default allocates a buffer per
    /// call; every eddy model overrides it with an allocation-free version.
    fn predict_one(&self, x: &[f64]) -> usize {
        let mut p = Vec::with_capacity(self.n_classes().max(2));
        self.predict_proba_one(x, &mut p);
        let mut best = 0;
        for (i, &v) in p.iter().enumerate() {
            if v > p[best] {
                best = i;
            }
        }
        best
    }
    fn learn_one(&mut self, x: &[f64], y: usize);
    /// A mini-batch step: `xs` is row-major with `ys.len()` rows. Default: one `learn_one` per row.
    fn learn_many(&mut self, xs: &[f64], ys: &[usize]) {
        if ys.is_empty() {
            return;
        }
        let d = xs.len() / ys.len();
        for (row, &y) in xs.chunks_exact(d).zip(ys) {
            self.learn_one(row, y);
        }
    }
}

/// What a drift detector concluded after one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftState {
    Stable,
    Warning,
    Drift,
}

/// A concept-drift detector fed one value at a time (an error, a 0/1 mistake, a loss).
/// After reporting `Drift` it resets itself.
pub trait Detector {
    fn update(&mut self, value: f64) -> DriftState;
    fn name(&self) -> &'static str;
}

/// A streaming metric. For classification metrics, `y_pred` is the predicted label (as f64)
/// and `proba` the predicted probability of the positive class when available.
pub trait Metric {
    fn update(&mut self, y_true: f64, y_pred: f64, proba: Option<f64>);
    /// `NaN` while undefined (e.g. no examples yet).
    fn get(&self) -> f64;
    fn name(&self) -> &'static str;
    /// Higher is better (accuracy) or lower is better (log loss, errors).
    fn bigger_is_better(&self) -> bool;
}
