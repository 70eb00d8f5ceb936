//! The metrics an A/B comparison can report, as per-example scores whose mean is the metric
//! (so that a confidence sequence for a mean applies), and one arm's tracker of one metric.

use super::cs::{Boundary, MeanCs};
use super::AbError;
use crate::metrics::{MetricKind, StreamMetric};
use crate::traits::Metric;

/// A metric of an A/B comparison. All but `RocAuc` are means of per-example scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbMetric {
    /// Score 1 when the predicted class is the true one, else 0.
    Accuracy,
    /// `−ln p(y)`, `p` clamped to `[1e-15, 1 − 1e-15]` as River's `LogLoss` does (binary).
    LogLoss,
    /// `|y − ŷ|`.
    Mae,
    /// The score is the squared error; the value is the square root of its mean, and the
    /// interval is the mean's interval mapped through the square root (monotone, so it keeps
    /// its coverage).
    Rmse,
    /// No per-example score: a point value only, never an interval or a rule's metric.
    RocAuc,
}

/// The names [`AbMetric::from_name`] accepts (aliases as [`crate::metrics::build`]'s).
pub const AB_METRICS: &str = "accuracy, log_loss, roc_auc, mae, rmse";

impl AbMetric {
    pub fn from_name(name: &str) -> Result<Self, AbError> {
        match MetricKind::from_name(name.trim()) {
            Some(MetricKind::Accuracy) => Ok(AbMetric::Accuracy),
            Some(MetricKind::LogLoss) => Ok(AbMetric::LogLoss),
            Some(MetricKind::Mae) => Ok(AbMetric::Mae),
            Some(MetricKind::Rmse) => Ok(AbMetric::Rmse),
            Some(MetricKind::RocAuc) => Ok(AbMetric::RocAuc),
            _ => Err(AbError::Metric(name.trim().to_string())),
        }
    }

    /// The learning log's spelling: `accuracy`, `log_loss`, `roc_auc`, `mae`, `rmse`.
    pub fn name(self) -> &'static str {
        match self {
            AbMetric::Accuracy => "accuracy",
            AbMetric::LogLoss => "log_loss",
            AbMetric::Mae => "mae",
            AbMetric::Rmse => "rmse",
            AbMetric::RocAuc => "roc_auc",
        }
    }

    pub fn bigger_is_better(self) -> bool {
        matches!(self, AbMetric::Accuracy | AbMetric::RocAuc)
    }

    /// Whether the metric is a mean of per-example scores, so has a confidence sequence.
    pub fn has_interval(self) -> bool {
        self != AbMetric::RocAuc
    }

    /// The per-example score of a prediction: `y_pred` is the predicted class (as `f64`) or
    /// number, `proba` the probability of class 1 (log loss falls back to `y_pred`, as
    /// [`crate::metrics`] does). `None` for `RocAuc` and for a NaN or infinite input.
    #[inline]
    pub fn score(self, y_true: f64, y_pred: f64, proba: Option<f64>) -> Option<f64> {
        let s = match self {
            AbMetric::Accuracy => (y_true == y_pred) as u8 as f64,
            AbMetric::LogLoss => {
                let p = proba.unwrap_or(y_pred).clamp(1e-15, 1.0 - 1e-15);
                if y_true == 1.0 {
                    -p.ln()
                } else {
                    -(1.0 - p).ln()
                }
            }
            AbMetric::Mae => (y_true - y_pred).abs(),
            AbMetric::Rmse => (y_true - y_pred) * (y_true - y_pred),
            AbMetric::RocAuc => return None,
        };
        s.is_finite().then_some(s)
    }

    /// The metric's value from the mean of its scores.
    pub(crate) fn value_of_mean(self, mean: f64) -> f64 {
        match self {
            AbMetric::Rmse => mean.max(0.0).sqrt(),
            _ => mean,
        }
    }
}

/// A metric's value with its confidence sequence at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Scores it covers.
    pub n: u64,
    /// `NaN` before the first score.
    pub value: f64,
    /// `None` before two scores, and always for `roc_auc`.
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

impl Estimate {
    pub(crate) fn of(metric: AbMetric, cs: &MeanCs, boundary: &Boundary) -> Self {
        let interval = cs.interval(boundary);
        Estimate {
            n: cs.n(),
            value: cs.mean().map_or(f64::NAN, |m| metric.value_of_mean(m)),
            lo: interval.map(|(lo, _)| metric.value_of_mean(lo)),
            hi: interval.map(|(_, hi)| metric.value_of_mean(hi)),
        }
    }
}

/// One arm's running value of one metric and its confidence sequence: the columns
/// `{arm}_{metric}`, `_lo`, `_hi` of a learning log. O(1) per example, except `roc_auc`
/// (the exact AUC of [`crate::metrics`], a point value).
#[derive(Debug, Clone)]
pub struct ArmMetric {
    metric: AbMetric,
    boundary: Boundary,
    cs: MeanCs,
    auc: Option<StreamMetric>,
    /// Predictions the AUC took.
    auc_n: u64,
}

impl ArmMetric {
    /// `confidence` in (0, 1), the sequence tightest at `target_n` examples.
    pub fn new(metric: AbMetric, confidence: f64, target_n: u64) -> Result<Self, AbError> {
        Ok(ArmMetric {
            metric,
            boundary: Boundary::new(confidence, target_n)?,
            cs: MeanCs::default(),
            auc: (metric == AbMetric::RocAuc).then(|| StreamMetric::new(MetricKind::RocAuc)),
            auc_n: 0,
        })
    }

    pub fn metric(&self) -> AbMetric {
        self.metric
    }

    /// One labelled prediction (as [`AbMetric::score`] takes it); NaN or infinite ones are
    /// ignored.
    pub fn update(&mut self, y_true: f64, y_pred: f64, proba: Option<f64>) {
        match &mut self.auc {
            Some(auc) => {
                // As the AUC itself: a NaN label, or no usable score, is ignored.
                let score = proba.filter(|p| !p.is_nan()).unwrap_or(y_pred);
                if !y_true.is_nan() && !score.is_nan() {
                    auc.update(y_true, y_pred, proba);
                    self.auc_n += 1;
                }
            }
            None => {
                if let Some(s) = self.metric.score(y_true, y_pred, proba) {
                    self.cs.push(s);
                }
            }
        }
    }

    pub fn estimate(&self) -> Estimate {
        match &self.auc {
            Some(auc) => Estimate {
                n: self.auc_n,
                value: auc.get(),
                lo: None,
                hi: None,
            },
            None => Estimate::of(self.metric, &self.cs, &self.boundary),
        }
    }
}
