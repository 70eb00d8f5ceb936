//! The asymptotic confidence sequence for a mean (Waudby-Smith, Arbour, Sinha, Kennedy,
//! Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences",
//! arXiv:2103.06476, Annals of Statistics 2024): the running mean ± the running standard
//! deviation times Robbins' two-sided Gaussian-mixture boundary (see also Howard, Ramdas,
//! McAuliffe, Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences",
//! Annals of Statistics 2021):
//!
//! ```text
//! μ̂ₜ ± σ̂ₜ · √( 2(tρ² + 1) / (t²ρ²) · ln( √(tρ² + 1) / α ) )
//! ```
//!
//! with `ρ² = (2 ln(1/α) + ln(1 + 2 ln(1/α))) / t*`, which makes the sequence tightest at
//! `t = t*` (the paper's approximate optimum). `σ̂ₜ²` is the mean squared deviation from
//! `μ̂ₜ` (the paper's estimator, dividing by `t`).

use super::AbError;

/// The Gaussian-mixture boundary for a confidence level, tuned for a sample size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Boundary {
    alpha: f64,
    rho2: f64,
}

impl Boundary {
    /// A `confidence` (in (0, 1)) boundary tightest at `target_n` (≥ 1) examples.
    pub fn new(confidence: f64, target_n: u64) -> Result<Self, AbError> {
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(AbError::Confidence(confidence));
        }
        if target_n == 0 {
            return Err(AbError::TargetN);
        }
        let alpha = 1.0 - confidence;
        let l = 2.0 * (1.0 / alpha).ln();
        Ok(Boundary {
            alpha,
            rho2: (l + (1.0 + l).ln()) / target_n as f64,
        })
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The tuning parameter `ρ²`.
    pub fn rho2(&self) -> f64 {
        self.rho2
    }

    /// The half-width for unit variance after `n` (≥ 1) examples.
    pub fn unit_margin(&self, n: u64) -> f64 {
        let t = n as f64;
        let a = t * self.rho2 + 1.0;
        (2.0 * a / (t * t * self.rho2) * (a.sqrt() / self.alpha).ln()).sqrt()
    }
}

/// The running mean and variance of a stream of scores (Welford's update: O(1), no allocation)
/// and its confidence sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeanCs {
    n: u64,
    mean: f64,
    /// Sum of squared deviations from the running mean.
    m2: f64,
}

impl MeanCs {
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    pub fn n(&self) -> u64 {
        self.n
    }

    /// The mean, `None` before the first score.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then_some(self.mean)
    }

    /// `σ̂²`: the mean squared deviation (divides by `n`, as the paper does).
    pub fn variance(&self) -> Option<f64> {
        (self.n > 0).then(|| (self.m2 / self.n as f64).max(0.0))
    }

    /// `(lo, hi)` after two scores or more (one score says nothing of the spread).
    pub fn interval(&self, boundary: &Boundary) -> Option<(f64, f64)> {
        if self.n < 2 {
            return None;
        }
        let half = (self.m2 / self.n as f64).max(0.0).sqrt() * boundary.unit_margin(self.n);
        Some((self.mean - half, self.mean + half))
    }
}
