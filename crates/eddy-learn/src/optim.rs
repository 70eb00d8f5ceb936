//! Optimizers updating dense weight vectors in place (River's `optim` module).
//!
//! Each optimizer keeps its per-weight state in vectors that grow (with zeros) to the length of
//! the weights on the first step, and never allocate afterwards. `n_iterations` counts steps as
//! River's `Optimizer.n_iterations` does; schedules are evaluated at `n_iterations` before the
//! step is counted.
//!
//! Difference from River: River updates only the weights of the features present in the
//! example's dict; eddy's dense vectors make every feature present (a zero feature still gets
//! a step when its gradient is zero but its state is not, e.g. Adam's momentum).

use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::param::{ParamReader, ParamSpec};

/// The optimizer parameters of the models that take one (River's argument names; FTRL's own
/// `l1`/`l2` are `ftrl_l1`/`ftrl_l2`, to keep them apart from the models' penalties).
pub const OPTIMIZER_PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "optimizer",
        "sgd",
        "`sgd`, `adagrad`, `adam` or `ftrl_proximal` (River's optim.SGD, AdaGrad, Adam, FTRLProximal)",
    ),
    ParamSpec::new(
        "lr",
        "0.01",
        "learning rate: 0.01 with sgd, 0.1 with adagrad and adam",
    ),
    ParamSpec::new(
        "schedule",
        "constant",
        "`constant` or `inverse_scaling` (River's optim.schedulers)",
    ),
    ParamSpec::new("power_t", "0.5", "inverse_scaling's exponent"),
    ParamSpec::new("eps", "1e-8", "adagrad and adam"),
    ParamSpec::new("beta_1", "0.9", "adam"),
    ParamSpec::new("beta_2", "0.999", "adam"),
    ParamSpec::new("alpha", "0.05", "ftrl_proximal"),
    ParamSpec::new("beta", "1", "ftrl_proximal"),
    ParamSpec::new("ftrl_l1", "0", "ftrl_proximal's l1"),
    ParamSpec::new("ftrl_l2", "1", "ftrl_proximal's l2"),
];

/// A learning-rate schedule (River's `optim.schedulers`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// River's `Constant(learning_rate)`.
    Constant { learning_rate: f64 },
    /// River's `InverseScaling(learning_rate, power_t=0.5)`: `learning_rate / (t + 1) ^ power_t`.
    InverseScaling { learning_rate: f64, power_t: f64 },
}

impl Schedule {
    /// Multiplies the rate by `factor` (from now on).
    pub fn scale(&mut self, factor: f64) {
        match self {
            Schedule::Constant { learning_rate }
            | Schedule::InverseScaling { learning_rate, .. } => *learning_rate *= factor,
        }
    }

    /// The rate at step `t` (0-based).
    #[inline]
    pub fn get(&self, t: u64) -> f64 {
        match *self {
            Schedule::Constant { learning_rate } => learning_rate,
            Schedule::InverseScaling {
                learning_rate,
                power_t,
            } => learning_rate / ((t + 1) as f64).powf(power_t),
        }
    }
}

/// The update rule and its per-weight state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// River's `optim.SGD(lr)`: `w -= lr * g`.
    Sgd { lr: Schedule },
    /// River's `optim.AdaGrad(lr=0.1, eps=1e-8)`: `G += g²; w -= lr / sqrt(G + eps) * g`.
    AdaGrad {
        lr: Schedule,
        eps: f64,
        g2: Vec<f64>,
    },
    /// River's `optim.Adam(lr=0.1, beta_1=0.9, beta_2=0.999, eps=1e-8)`, bias-corrected
    /// through the rate: `lr_t = lr * sqrt(1 - beta_2^(t+1)) / (1 - beta_1^(t+1))`,
    /// `w -= lr_t * m / (sqrt(v) + eps)`.
    Adam {
        lr: Schedule,
        beta_1: f64,
        beta_2: f64,
        eps: f64,
        m: Vec<f64>,
        v: Vec<f64>,
    },
    /// River's `optim.FTRLProximal(alpha=0.05, beta=1.0, l1=0.0, l2=1.0)`. As in River, the
    /// weights are first set from the accumulated state (`z`, `n`), then the state absorbs `g`.
    /// Difference: where `|z| <= l1` the weight is set to 0, as in McMahan et al. (2013);
    /// River's current code leaves it unchanged there (the same while weights start at 0 and
    /// `|z|` has never exceeded `l1`, i.e. always with River's default `l1=0`).
    FtrlProximal {
        alpha: f64,
        beta: f64,
        l1: f64,
        l2: f64,
        z: Vec<f64>,
        n: Vec<f64>,
    },
}

/// A sequential optimizer: a [`Rule`] plus River's iteration counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    pub n_iterations: u64,
    pub rule: Rule,
}

impl Default for Optimizer {
    /// River's default for the linear models: `SGD(0.01)`.
    fn default() -> Self {
        Optimizer::sgd(0.01)
    }
}

fn grow(v: &mut Vec<f64>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

impl Optimizer {
    /// Multiplies the learning rate (FTRL's `alpha`) by `factor`: a drift's boost.
    pub fn scale_rate(&mut self, factor: f64) {
        match &mut self.rule {
            Rule::Sgd { lr } | Rule::AdaGrad { lr, .. } | Rule::Adam { lr, .. } => lr.scale(factor),
            Rule::FtrlProximal { alpha, .. } => *alpha *= factor,
        }
    }

    fn new(rule: Rule) -> Self {
        Optimizer {
            n_iterations: 0,
            rule,
        }
    }

    /// River's optimizers by name, from [`OPTIMIZER_PARAMS`]: `sgd` (lr 0.01), `adagrad`
    /// (lr 0.1, eps 1e-8), `adam` (lr 0.1, beta_1 0.9, beta_2 0.999, eps 1e-8), `ftrl_proximal`
    /// (alpha 0.05, beta 1, ftrl_l1 0, ftrl_l2 1); `schedule=inverse_scaling` (with `power_t`,
    /// 0.5) makes the rate River's `InverseScaling(lr, power_t)`. A parameter of another
    /// optimizer is an error.
    pub fn from_params(r: &ParamReader) -> Result<Self, LearnError> {
        let kind = r.choice(
            "optimizer",
            "sgd",
            &["sgd", "adagrad", "adam", "ftrl_proximal", "ftrl"],
        )?;
        let only = |keys: &[&str], which: &str| {
            r.refuse(keys, &format!("to optimizer `{kind}` (it is for {which})"))
        };
        let mut o = match kind {
            "sgd" => {
                only(
                    &[
                        "eps", "beta_1", "beta_2", "alpha", "beta", "ftrl_l1", "ftrl_l2",
                    ],
                    "other optimizers",
                )?;
                Optimizer::sgd(0.01)
            }
            "adagrad" => {
                only(
                    &["beta_1", "beta_2", "alpha", "beta", "ftrl_l1", "ftrl_l2"],
                    "other optimizers",
                )?;
                Optimizer::adagrad(0.1, r.positive("eps", 1e-8)?)
            }
            "adam" => {
                only(&["alpha", "beta", "ftrl_l1", "ftrl_l2"], "ftrl_proximal")?;
                let b1 = r.f64("beta_1", 0.9)?;
                let b2 = r.f64("beta_2", 0.999)?;
                for (k, b) in [("beta_1", b1), ("beta_2", b2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(LearnError::param(k, format!("must be in [0, 1), got {b}")));
                    }
                }
                Optimizer::adam(0.1, b1, b2, r.positive("eps", 1e-8)?)
            }
            _ => {
                only(
                    &["lr", "schedule", "power_t", "eps", "beta_1", "beta_2"],
                    "other optimizers",
                )?;
                return Ok(Optimizer::ftrl(
                    r.positive("alpha", 0.05)?,
                    r.non_negative("beta", 1.0)?,
                    r.non_negative("ftrl_l1", 0.0)?,
                    r.non_negative("ftrl_l2", 1.0)?,
                ));
            }
        };
        let lr = r.positive("lr", o.learning_rate())?;
        let schedule = match r.choice("schedule", "constant", &["constant", "inverse_scaling"])? {
            "constant" => {
                only(&["power_t"], "schedule=inverse_scaling")?;
                Schedule::Constant { learning_rate: lr }
            }
            _ => Schedule::InverseScaling {
                learning_rate: lr,
                power_t: r.f64("power_t", 0.5)?,
            },
        };
        match &mut o.rule {
            Rule::Sgd { lr } | Rule::AdaGrad { lr, .. } | Rule::Adam { lr, .. } => *lr = schedule,
            Rule::FtrlProximal { .. } => {}
        }
        Ok(o)
    }
    /// SGD with a constant rate (River's `optim.SGD(lr=0.01)`).
    pub fn sgd(lr: f64) -> Self {
        Self::new(Rule::Sgd {
            lr: Schedule::Constant { learning_rate: lr },
        })
    }
    /// SGD with River's `InverseScaling(learning_rate, power_t)` schedule (`power_t` 0.5 in River).
    pub fn inverse_scaling(learning_rate: f64, power_t: f64) -> Self {
        Self::new(Rule::Sgd {
            lr: Schedule::InverseScaling {
                learning_rate,
                power_t,
            },
        })
    }
    /// AdaGrad (River defaults `lr=0.1`, `eps=1e-8`).
    pub fn adagrad(lr: f64, eps: f64) -> Self {
        Self::new(Rule::AdaGrad {
            lr: Schedule::Constant { learning_rate: lr },
            eps,
            g2: Vec::new(),
        })
    }
    /// Adam (River defaults `lr=0.1`, `beta_1=0.9`, `beta_2=0.999`, `eps=1e-8`).
    pub fn adam(lr: f64, beta_1: f64, beta_2: f64, eps: f64) -> Self {
        Self::new(Rule::Adam {
            lr: Schedule::Constant { learning_rate: lr },
            beta_1,
            beta_2,
            eps,
            m: Vec::new(),
            v: Vec::new(),
        })
    }
    /// FTRL-Proximal (River defaults `alpha=0.05`, `beta=1.0`, `l1=0.0`, `l2=1.0`).
    pub fn ftrl(alpha: f64, beta: f64, l1: f64, l2: f64) -> Self {
        Self::new(Rule::FtrlProximal {
            alpha,
            beta,
            l1,
            l2,
            z: Vec::new(),
            n: Vec::new(),
        })
    }

    /// River's `learning_rate` property at the current iteration (FTRL reports `alpha`).
    pub fn learning_rate(&self) -> f64 {
        match &self.rule {
            Rule::Sgd { lr } | Rule::AdaGrad { lr, .. } | Rule::Adam { lr, .. } => {
                lr.get(self.n_iterations)
            }
            Rule::FtrlProximal { alpha, .. } => *alpha,
        }
    }

    /// One step: updates `w` in place from the gradient `g` (same length), then counts it.
    #[inline]
    pub fn step(&mut self, w: &mut [f64], g: &[f64]) {
        self.step_at(w, g, 0);
    }

    /// One step on a block of a larger parameter vector: `w[i]` uses the optimizer state of
    /// parameter `offset + i` (matrix factorisation steps one user's factors at a time).
    pub fn step_at(&mut self, w: &mut [f64], g: &[f64], offset: usize) {
        debug_assert_eq!(w.len(), g.len());
        let d = w.len().min(g.len());
        let g = &g[..d];
        self.apply(&mut w[..d], offset, |i, _| g[i]);
    }

    /// One step with the linear-model gradient `g_i = x_i * loss_gradient + l2 * w_i` computed
    /// on the fly (from `w_i` before the step, as River's GLM does), without a gradient buffer.
    #[inline]
    pub fn step_linear(&mut self, w: &mut [f64], x: &[f64], loss_gradient: f64, l2: f64) {
        let d = w.len().min(x.len());
        let x = &x[..d];
        if l2 == 0.0 {
            self.apply(&mut w[..d], 0, |i, _| x[i] * loss_gradient);
        } else {
            self.apply(&mut w[..d], 0, |i, wi| x[i] * loss_gradient + l2 * wi);
        }
    }

    /// The update rules, element by element; `grad(i, w_i)` gives the gradient of `w[i]`.
    #[inline(always)]
    fn apply(&mut self, w: &mut [f64], offset: usize, grad: impl Fn(usize, f64) -> f64) {
        let d = w.len();
        let end = offset + d;
        let t = self.n_iterations;
        match &mut self.rule {
            Rule::Sgd { lr } => {
                let lr = lr.get(t);
                for (i, wi) in w.iter_mut().enumerate() {
                    let gi = grad(i, *wi);
                    *wi -= lr * gi;
                }
            }
            Rule::AdaGrad { lr, eps, g2 } => {
                let lr = lr.get(t);
                let eps = *eps;
                grow(g2, end);
                for (i, (wi, g2i)) in w.iter_mut().zip(g2[offset..end].iter_mut()).enumerate() {
                    let gi = grad(i, *wi);
                    *g2i += gi * gi;
                    *wi -= lr / (*g2i + eps).sqrt() * gi;
                }
            }
            Rule::Adam {
                lr,
                beta_1,
                beta_2,
                eps,
                m,
                v,
            } => {
                let (b1, b2, eps) = (*beta_1, *beta_2, *eps);
                let k = (t + 1) as f64;
                let mut lr = lr.get(t) * (1.0 - b2.powf(k)).sqrt();
                lr /= 1.0 - b1.powf(k);
                grow(m, end);
                grow(v, end);
                let (m, v) = (&mut m[offset..end], &mut v[offset..end]);
                for (i, ((wi, mi), vi)) in
                    w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).enumerate()
                {
                    let gi = grad(i, *wi);
                    *mi = b1 * *mi + (1.0 - b1) * gi;
                    *vi = b2 * *vi + (1.0 - b2) * gi * gi;
                    *wi -= lr * *mi / (vi.sqrt() + eps);
                }
            }
            Rule::FtrlProximal {
                alpha,
                beta,
                l1,
                l2,
                z,
                n,
            } => {
                let (alpha, beta, l1, l2) = (*alpha, *beta, *l1, *l2);
                grow(z, end);
                grow(n, end);
                let (z, n) = (&mut z[offset..end], &mut n[offset..end]);
                for (i, ((wi, zi), ni)) in
                    w.iter_mut().zip(z.iter_mut()).zip(n.iter_mut()).enumerate()
                {
                    let gi = grad(i, *wi);
                    *wi = if zi.abs() > l1 {
                        -(*zi - zi.signum() * l1) / ((beta + ni.sqrt()) / alpha + l2)
                    } else {
                        0.0
                    };
                    let s = ((*ni + gi * gi).sqrt() - ni.sqrt()) / alpha;
                    *zi += gi - s * *wi;
                    *ni += gi * gi;
                }
            }
        }
        self.n_iterations += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn sgd_single_step() {
        // w = [1, -2], g = [0.5, -1], lr = 0.1: w = [1 - 0.05, -2 + 0.1] = [0.95, -1.9]
        let mut o = Optimizer::sgd(0.1);
        let mut w = [1.0, -2.0];
        o.step(&mut w, &[0.5, -1.0]);
        close(w[0], 0.95, 1e-15);
        close(w[1], -1.9, 1e-15);
        assert_eq!(o.n_iterations, 1);
    }

    #[test]
    fn inverse_scaling_steps() {
        // step 0: lr = 0.1 / 1^0.5 = 0.1; w = 1 - 0.1 * 1 = 0.9
        // step 1: lr = 0.1 / 2^0.5 = 0.0707106781...; w = 0.9 - 0.0707106781 = 0.8292893219
        let mut o = Optimizer::inverse_scaling(0.1, 0.5);
        let mut w = [1.0];
        o.step(&mut w, &[1.0]);
        close(w[0], 0.9, 1e-15);
        o.step(&mut w, &[1.0]);
        close(w[0], 0.829_289_321_881_345_2, 1e-12);
    }

    #[test]
    fn adagrad_single_step() {
        // g = 2: G = 4; w = 1 - 0.1 / sqrt(4 + 1e-8) * 2 = 1 - 0.2 / 2.0000000025 = 1 - 0.099999999875 = 0.900000000125
        let mut o = Optimizer::adagrad(0.1, 1e-8);
        let mut w = [1.0];
        o.step(&mut w, &[2.0]);
        close(w[0], 0.900_000_000_125, 1e-12);
    }

    #[test]
    fn adam_single_step() {
        // t = 0, g = 2: lr_t = 0.1 * sqrt(1 - 0.999) / (1 - 0.9) = 0.0316227766
        // m = 0.1 * 2 = 0.2, v = 0.001 * 4 = 0.004, sqrt(v) = 0.0632455532
        // w = 1 - 0.0316227766 * 0.2 / (0.0632455532 + 1e-8) = 1 - 0.0999999842 = 0.9000000158
        let mut o = Optimizer::adam(0.1, 0.9, 0.999, 1e-8);
        let mut w = [1.0];
        o.step(&mut w, &[2.0]);
        close(w[0], 0.900_000_015_8, 1e-10);
        if let Rule::Adam { m, v, .. } = &o.rule {
            close(m[0], 0.2, 1e-15);
            close(v[0], 0.004, 1e-15);
        }
    }

    #[test]
    fn ftrl_two_steps() {
        // alpha 0.5, beta 1, l1 0.1, l2 1.
        // step 1, g = 2: z = 0 so w = 0; s = (sqrt(4) - 0) / 0.5 = 4; z = 2 - 4 * 0 = 2; n = 4.
        // step 2, g = 1: |z| = 2 > 0.1: w = -(2 - 0.1) / ((1 + 2) / 0.5 + 1) = -1.9 / 7
        //   = -0.271428571; s = (sqrt(5) - 2) / 0.5 = 0.472135955;
        //   z = 2 + 1 - 0.472135955 * -0.271428571 = 3.128151188; n = 5.
        let mut o = Optimizer::ftrl(0.5, 1.0, 0.1, 1.0);
        let mut w = [0.3];
        o.step(&mut w, &[2.0]);
        assert_eq!(w[0], 0.0);
        o.step(&mut w, &[1.0]);
        close(w[0], -1.9 / 7.0, 1e-15);
        if let Rule::FtrlProximal { z, n, .. } = &o.rule {
            close(z[0], 3.128_151_188, 1e-9);
            close(n[0], 5.0, 0.0);
        }
    }

    #[test]
    fn step_at_uses_the_block_state() {
        // AdaGrad state of parameter 3 only: first g = 2 there gives G[3] = 4, as a fresh step.
        let mut o = Optimizer::adagrad(0.1, 1e-8);
        let mut w = [1.0];
        o.step_at(&mut w, &[2.0], 3);
        close(w[0], 0.900_000_000_125, 1e-12);
        if let Rule::AdaGrad { g2, .. } = &o.rule {
            assert_eq!(g2, &vec![0.0, 0.0, 0.0, 4.0]);
        }
    }

    #[test]
    fn step_linear_equals_step_with_the_glm_gradient() {
        // g = x * lg + l2 * w, from w before the step.
        for o in [
            Optimizer::sgd(0.1),
            Optimizer::adagrad(0.1, 1e-8),
            Optimizer::adam(0.1, 0.9, 0.999, 1e-8),
            Optimizer::ftrl(0.5, 1.0, 0.1, 1.0),
        ] {
            let (mut a, mut b) = (o.clone(), o);
            let (mut wa, mut wb) = ([0.5, -1.0, 2.0], [0.5, -1.0, 2.0]);
            for step in 0..3 {
                let x = [1.0, -2.0 + step as f64, 0.5];
                let lg = 0.3 - step as f64 * 0.2;
                let g: Vec<f64> = (0..3).map(|i| x[i] * lg + 0.1 * wb[i]).collect();
                a.step_linear(&mut wa, &x, lg, 0.1);
                b.step(&mut wb, &g);
                assert_eq!(wa, wb);
            }
            assert_eq!(a, b);
        }
    }

    #[test]
    fn ftrl_l1_keeps_weight_at_zero() {
        // |z| = 0.05 <= l1 = 0.1 after the first step, so the second step sets w to 0.
        let mut o = Optimizer::ftrl(0.5, 1.0, 0.1, 1.0);
        let mut w = [0.0];
        o.step(&mut w, &[0.05]);
        o.step(&mut w, &[0.0]);
        assert_eq!(w[0], 0.0);
    }
}
