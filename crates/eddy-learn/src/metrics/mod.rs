//! Streaming metrics behind [`Metric`], each in three flavours, and [`build`] by name.
//!
//! | name (aliases)                 | task           | River class            | definition |
//! |--------------------------------|----------------|------------------------|------------|
//! | `accuracy` (`acc`)             | classification | `metrics.Accuracy`     | share of `y_pred == y_true` |
//! | `precision`                    | binary         | `metrics.Precision`    | `tp / (tp + fp)`, class 1 positive |
//! | `recall`                       | binary         | `metrics.Recall`       | `tp / (tp + fn)` |
//! | `f1`                           | binary         | `metrics.F1`           | `2 tp / (2 tp + fp + fn)` |
//! | `logloss` (`log_loss`)         | binary         | `metrics.LogLoss`      | `-(y ln p + (1-y) ln(1-p))`, `p` clamped to `[1e-15, 1 - 1e-15]` |
//! | `rocauc` (`roc_auc`, `auc`)    | binary         | `metrics.ROCAUC`       | exact Mann-Whitney AUC, ties count ½ |
//! | `mae`                          | regression     | `metrics.MAE`          | mean `|y - ŷ|` |
//! | `rmse`                         | regression     | `metrics.RMSE`         | `sqrt(mean (y - ŷ)²)` |
//! | `r2`                           | regression     | `metrics.R2`           | `1 - SSE / SST` |
//!
//! **Flavours** (the spec syntax accepted by [`build`]):
//! - `name`: over every example seen (River's default).
//! - `rolling(N):name`: over the last `N` examples only, like River's `utils.Rolling(metric, N)`.
//! - `fading(A):name`, `0 < A < 1`: every past example's weight is multiplied by `A` at each new
//!   example, so the example `k` steps back weighs `A^k`; each metric is its usual formula on
//!   those weighted counts and sums (e.g. fading accuracy `Σ A^k [correct_k] / Σ A^k`, fading
//!   RMSE `sqrt(Σ A^k e_k² / Σ A^k)`, fading AUC the weighted Mann-Whitney statistic). River has
//!   no direct equivalent.
//!
//! **Differences from River.** River's `ROCAUC` is an approximation (it bins thresholds, `n_thresholds=10`);
//! eddy's is exact, including ties (an order-statistic index of sorted blocks, `O(log n + 512)` per update). Every
//! metric is `NaN` before its first example (River gives 0); precision, recall and F1 are 0 when
//! their denominator is 0, as in River; R² is 0 when all targets are equal; ROC AUC is `NaN`
//! until both classes were seen. Log loss uses `proba` when given, else the 0/1 prediction.
//! NaN scores or labels are ignored.

mod auc;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use crate::error::LearnError;
use crate::traits::{Metric, Task};
use auc::Auc;

/// The metric formulas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Accuracy,
    Precision,
    Recall,
    F1,
    LogLoss,
    RocAuc,
    Mae,
    Rmse,
    R2,
}

/// Base metric names accepted by [`build`].
pub const NAMES: &[&str] = &[
    "accuracy",
    "precision",
    "recall",
    "f1",
    "logloss",
    "rocauc",
    "mae",
    "rmse",
    "r2",
];

impl MetricKind {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "accuracy" | "acc" => MetricKind::Accuracy,
            "precision" => MetricKind::Precision,
            "recall" => MetricKind::Recall,
            "f1" => MetricKind::F1,
            "logloss" | "log_loss" => MetricKind::LogLoss,
            "rocauc" | "roc_auc" | "auc" => MetricKind::RocAuc,
            "mae" => MetricKind::Mae,
            "rmse" => MetricKind::Rmse,
            "r2" => MetricKind::R2,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Accuracy => "accuracy",
            MetricKind::Precision => "precision",
            MetricKind::Recall => "recall",
            MetricKind::F1 => "f1",
            MetricKind::LogLoss => "logloss",
            MetricKind::RocAuc => "rocauc",
            MetricKind::Mae => "mae",
            MetricKind::Rmse => "rmse",
            MetricKind::R2 => "r2",
        }
    }

    /// The task whose predictions this metric scores.
    pub fn task(self) -> Task {
        match self {
            MetricKind::Mae | MetricKind::Rmse | MetricKind::R2 => Task::Regression,
            _ => Task::Classification,
        }
    }

    /// Whether the metric only makes sense for two classes (class 1 positive).
    pub fn binary_only(self) -> bool {
        matches!(
            self,
            MetricKind::Precision
                | MetricKind::Recall
                | MetricKind::F1
                | MetricKind::LogLoss
                | MetricKind::RocAuc
        )
    }

    pub fn bigger_is_better(self) -> bool {
        !matches!(
            self,
            MetricKind::LogLoss | MetricKind::Mae | MetricKind::Rmse
        )
    }
}

/// Which examples a metric covers.
#[derive(Debug, Clone)]
enum Window {
    All,
    Rolling {
        size: usize,
        buf: VecDeque<(f64, f64, Option<f64>)>,
    },
    Fading {
        alpha: f64,
    },
}

/// One streaming metric: a [`MetricKind`] over all, the last `N`, or exponentially faded
/// examples. Built by [`build`] from a spec such as `rolling(500):accuracy`.
#[derive(Debug, Clone)]
pub struct StreamMetric {
    kind: MetricKind,
    window: Window,
    label: String,
    /// Weighted sums; meaning per kind (see `add`).
    s: [f64; 4],
    auc: Option<Auc>,
}

impl StreamMetric {
    /// Over every example.
    pub fn new(kind: MetricKind) -> Self {
        Self::with(kind, Window::All, kind.name().to_string())
    }

    /// Over the last `size` examples (`size >= 1`).
    pub fn rolling(kind: MetricKind, size: usize) -> Self {
        let size = size.max(1);
        Self::with(
            kind,
            Window::Rolling {
                size,
                buf: VecDeque::with_capacity(size.min(1 << 16) + 1),
            },
            format!("rolling({size}):{}", kind.name()),
        )
    }

    /// Exponentially faded with factor `alpha` in `(0, 1)`.
    pub fn fading(kind: MetricKind, alpha: f64) -> Self {
        Self::with(
            kind,
            Window::Fading { alpha },
            format!("fading({alpha}):{}", kind.name()),
        )
    }

    fn with(kind: MetricKind, window: Window, label: String) -> Self {
        StreamMetric {
            kind,
            window,
            label,
            s: [0.0; 4],
            auc: (kind == MetricKind::RocAuc).then(Auc::default),
        }
    }

    /// The spec this metric was built from, e.g. `rolling(100):f1`: the key the CLI prints.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn kind(&self) -> MetricKind {
        self.kind
    }

    fn add(&mut self, y: f64, p: f64, proba: Option<f64>, w: f64) {
        let s = &mut self.s;
        match self.kind {
            MetricKind::Accuracy => {
                s[0] += w;
                s[1] += w * ((y == p) as u8 as f64);
            }
            MetricKind::Precision | MetricKind::Recall | MetricKind::F1 => {
                let (t, q) = (y == 1.0, p == 1.0);
                s[0] += w;
                s[1] += w * ((t && q) as u8 as f64); // tp
                s[2] += w * ((!t && q) as u8 as f64); // fp
                s[3] += w * ((t && !q) as u8 as f64); // fn
            }
            MetricKind::LogLoss => {
                let pr = proba.unwrap_or(p).clamp(1e-15, 1.0 - 1e-15);
                let loss = if y == 1.0 { -pr.ln() } else { -(1.0 - pr).ln() };
                s[0] += w;
                s[1] += w * loss;
            }
            MetricKind::RocAuc => {
                s[0] += w;
                let score = proba.unwrap_or(p);
                if let Some(a) = &mut self.auc {
                    a.add(score, y == 1.0, w);
                }
            }
            MetricKind::Mae => {
                s[0] += w;
                s[1] += w * (y - p).abs();
            }
            MetricKind::Rmse => {
                s[0] += w;
                s[1] += w * (y - p) * (y - p);
            }
            MetricKind::R2 => {
                s[0] += w;
                s[1] += w * y;
                s[2] += w * y * y;
                s[3] += w * (y - p) * (y - p);
            }
        }
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

impl Metric for StreamMetric {
    fn update(&mut self, y_true: f64, y_pred: f64, proba: Option<f64>) {
        let proba = proba.filter(|v| !v.is_nan());
        if y_true.is_nan() || y_pred.is_nan() && proba.is_none() {
            return;
        }
        match &mut self.window {
            Window::All => self.add(y_true, y_pred, proba, 1.0),
            Window::Fading { alpha } => {
                let a = *alpha;
                for v in &mut self.s {
                    *v *= a;
                }
                if let Some(auc) = &mut self.auc {
                    auc.scale(a);
                }
                self.add(y_true, y_pred, proba, 1.0);
            }
            Window::Rolling { size, buf } => {
                buf.push_back((y_true, y_pred, proba));
                let old = if buf.len() > *size {
                    buf.pop_front()
                } else {
                    None
                };
                self.add(y_true, y_pred, proba, 1.0);
                if let Some((y, p, q)) = old {
                    self.add(y, p, q, -1.0);
                }
            }
        }
    }

    fn get(&self) -> f64 {
        let s = &self.s;
        // Below a tiny total weight nothing was seen (rolling sums cancel to ~0 exactly).
        if s[0] <= 1e-12 {
            return f64::NAN;
        }
        match self.kind {
            MetricKind::Accuracy | MetricKind::LogLoss | MetricKind::Mae => s[1] / s[0],
            MetricKind::Precision => ratio(s[1], s[1] + s[2]),
            MetricKind::Recall => ratio(s[1], s[1] + s[3]),
            MetricKind::F1 => ratio(2.0 * s[1], 2.0 * s[1] + s[2] + s[3]),
            MetricKind::RocAuc => self.auc.as_ref().map_or(f64::NAN, Auc::value),
            MetricKind::Rmse => (s[1] / s[0]).max(0.0).sqrt(),
            MetricKind::R2 => {
                let sst = s[2] - s[1] * s[1] / s[0];
                if sst > 1e-12 * s[2].abs().max(1e-300) {
                    1.0 - s[3] / sst
                } else {
                    0.0
                }
            }
        }
    }

    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn bigger_is_better(&self) -> bool {
        self.kind.bigger_is_better()
    }
}

/// Builds a metric from a spec: `name`, `rolling(N):name` or `fading(A):name` (see the module
/// docs for names and definitions).
pub fn build(spec: &str) -> Result<StreamMetric, LearnError> {
    let spec = spec.trim();
    let unknown = |name: &str| LearnError::Unknown {
        what: "metric",
        name: name.to_string(),
        expected: format!(
            "{} (optionally as rolling(N):name or fading(A):name)",
            NAMES.join(", ")
        ),
    };
    let bad = |msg: String| LearnError::Param {
        name: spec.to_string(),
        msg,
    };
    let Some((flavour, name)) = spec.split_once(':') else {
        return MetricKind::from_name(spec)
            .map(StreamMetric::new)
            .ok_or_else(|| unknown(spec));
    };
    let kind = MetricKind::from_name(name.trim()).ok_or_else(|| unknown(name.trim()))?;
    let arg = |prefix: &str| {
        flavour
            .trim()
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(n) = arg("rolling(") {
        let n: usize = n
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| bad(format!("window `{n}` must be an integer >= 1")))?;
        Ok(StreamMetric::rolling(kind, n))
    } else if let Some(a) = arg("fading(") {
        let a: f64 = a
            .parse()
            .ok()
            .filter(|a: &f64| *a > 0.0 && *a < 1.0)
            .ok_or_else(|| bad(format!("fading factor `{a}` must be in (0, 1)")))?;
        Ok(StreamMetric::fading(kind, a))
    } else {
        Err(bad(format!(
            "`{flavour}` is not a flavour; use rolling(N):{0} or fading(A):{0}",
            name.trim()
        )))
    }
}
