//! The statistics of an A/B comparison between a model that learns online and a frozen
//! baseline, evaluated prequentially, and the rule that decides which of them serves.
//!
//! The rule is checked again at every labelled example, so its intervals must hold at every
//! moment at once, not only at one fixed sample size: a fixed-sample 95% interval re-checked
//! at every example of a long stream excludes the truth at some moment far more often than 5%
//! of the time (with equal arms checked from the 100th to the 20,000th example, it promotes
//! in about 30% of runs, and more the longer it runs). Every
//! interval here is a **confidence sequence**: with probability ≥ 95%, it covers the truth at
//! every sample size simultaneously ("anytime-valid").
//!
//! - [`MeanCs`] and [`Boundary`]: the asymptotic confidence sequence of Waudby-Smith et al.
//!   (2024, arXiv:2103.06476) for the mean of per-example scores, tightest at a target sample
//!   size. It needs no bound on the scores (log loss, absolute and squared errors are not
//!   bounded), only finite variance; its guarantee is asymptotic, which `min_examples` covers.
//! - [`AbMetric`]: the metrics as per-example scores (accuracy 0/1, log loss, absolute error,
//!   squared error for RMSE); `roc_auc` has none, so a point value only ([`ArmMetric`]).
//! - [`AbMonitor`]: each arm's value and interval, the difference's (paired in [`Mode::Shadow`],
//!   two samples combined by a union bound in [`Mode::Split`]), and the promotion and rollback
//!   rule ([`AbRule`]), both checked on a sequence restarted at the last switch.
//!
//! # Example
//!
//! Shadow mode on accuracy: both arms score each example. Over four examples the online arm
//! is right on 1, 1, 1, 0 and the baseline on 1, 0, 1, 0, so the differences are 0, 1, 0, 0:
//! mean `0.25`, `σ̂² = (3·0.25² + 0.75²) / 4 = 0.1875`. Tuned for `t* = 4` at 95%,
//! `ρ² = (2 ln 20 + ln(1 + 2 ln 20)) / 4 ≈ 1.984`, and the half-width is
//! `σ̂ √(2(4ρ² + 1)/(16ρ²) · ln(√(4ρ² + 1)/0.05)) ≈ 0.433 · 1.518 ≈ 0.657`:
//! the difference is `0.25 ∈ [−0.407, 0.907]`, not yet above 0.
//!
//! ```
//! use eddy_learn::ab::{AbMetric, AbMonitor, AbRule, Arm, Decision, Mode};
//!
//! let rule = AbRule { min_examples: 4, target_n: Some(4), ..AbRule::new(AbMetric::Accuracy) };
//! let mut ab = AbMonitor::new(rule, Mode::Shadow)?;
//! for (online, baseline) in [(1.0, 1.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)] {
//!     assert_eq!(ab.observe_shadow(online, baseline), None);
//! }
//! let d = ab.diff();
//! let rho2 = (2.0 * 20f64.ln() + (1.0 + 2.0 * 20f64.ln()).ln()) / 4.0;
//! let a = 4.0 * rho2 + 1.0;
//! let half = 0.1875f64.sqrt() * (2.0 * a / (16.0 * rho2) * (a.sqrt() / 0.05).ln()).sqrt();
//! assert!((half - 0.657).abs() < 1e-3);
//! assert_eq!(d.value, 0.25);
//! assert!((d.lo.unwrap() - (0.25 - half)).abs() < 1e-12);
//! assert!((d.hi.unwrap() - (0.25 + half)).abs() < 1e-12);
//! assert_eq!(ab.arm(Arm::Online).value, 0.75);
//! assert_eq!(ab.arm(Arm::Baseline).value, 0.5);
//! assert_eq!(ab.serving(), Arm::Baseline);
//!
//! // Online always right, the baseline every other time: differences 1, 0, 1, 0, ...
//! // Tuned for t* = 10, the lower end first exceeds 0 at the 7th example (0.571 − 0.570),
//! // but the rule waits for min_examples = 10: mean 0.5, σ̂ = 0.5, half-width
//! // 0.5 · 0.960 = 0.480, lower end 0.020 > 0: promoted at the 10th.
//! let rule = AbRule { min_examples: 10, ..AbRule::new(AbMetric::Accuracy) };
//! let mut ab = AbMonitor::new(rule, Mode::Shadow)?;
//! let decisions: Vec<_> = (0..10)
//!     .map(|i| ab.observe_shadow(1.0, (i % 2) as f64))
//!     .collect();
//! assert_eq!(decisions[..9], [None; 9]);
//! assert_eq!(decisions[9], Some(Decision::Promote));
//! assert_eq!(ab.serving(), Arm::Online);
//!
//! // ROC AUC has no per-example score: it cannot be a rule's metric.
//! assert!(AbMonitor::new(AbRule::new(AbMetric::RocAuc), Mode::Shadow).is_err());
//! # Ok::<(), eddy_learn::ab::AbError>(())
//! ```
//!
//! Rollback: once promoted, the online arm is rolled back when the difference's sequence
//! **restarted at the promotion** lies below 0. The sequence over all examples would not do:
//! after tens of thousands of examples it is narrow around the long-run mean, and a drift
//! after the promotion would need about as many examples again to pull it below 0. A new
//! sequence after each switch (a promotion or a rollback) answers "is the online arm better
//! *since* the last decision?", holds at the same confidence on its own, and keeps the rule
//! from switching back at once on the old evidence. [`AbMonitor::diff`] keeps the difference
//! over all examples for reports.

mod cs;
mod metric;
mod monitor;

#[cfg(test)]
mod tests;

use thiserror::Error;

pub use cs::{Boundary, MeanCs};
pub use metric::{AbMetric, ArmMetric, Estimate, AB_METRICS};
pub use monitor::{AbMonitor, AbRule, Arm, Decision, Mode};

/// Why an A/B comparison cannot be set up.
#[derive(Debug, Error, PartialEq)]
pub enum AbError {
    #[error("`{0}` has no per-example score, so no confidence interval: a promotion rule needs accuracy, log_loss, mae or rmse")]
    NoInterval(&'static str),
    #[error("unknown A/B metric `{0}`; expected one of: {AB_METRICS}")]
    Metric(String),
    #[error("confidence {0} must be in (0, 1), e.g. 0.95")]
    Confidence(f64),
    #[error("the sample size the intervals are tuned for must be at least 1")]
    TargetN,
}
