//! Matrix factorisation for recommendation (River's `reco.FunkMF` and `reco.BiasedMF`).
//!
//! Ids are `u64` ([`str_id`] maps string ids to stable 64-bit ids with FNV-1a). River's
//! defaults: `n_factors` 10, SGD(0.01) optimizers (one copy each for users and items, and for
//! BiasedMF separate bias and latent optimizers), squared loss (gradient `2 (p - y)`), `l2` 0
//! (BiasedMF: `l2_bias`, `l2_latent`), latent factors drawn from Normal(0, 0.1) with a seed,
//! biases initialised to 0, `clip_gradient` 1e12 on the loss gradient.
//!
//! Difference from River: an id gets its fresh factors when first *learned*, not when first
//! predicted (River's `defaultdict` creates them during prediction; eddy's prediction never
//! mutates the model). Predicting for an unseen user or item uses zero factors (and zero
//! bias), i.e. the expectation of River's random draw for FunkMF's dot product.
//! The random draws come from `eddy_core::rng::Rng`, so they differ from River's numpy draws.

use eddy_core::rng::Rng;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::estimator::{load_recommender, EntryKind, ModelEntry, Recommender};
use crate::linear::{dot, Scratch};
use crate::optim::{Optimizer, OPTIMIZER_PARAMS};
use crate::param::{ParamReader, ParamSpec, Params};

/// The parameters both factorisation models take (besides the optimizer's, which set the
/// latent factors' optimizer).
pub const MF_PARAMS: &[ParamSpec] = &[
    ParamSpec::new("n_factors", "10", "latent factors per user and item"),
    ParamSpec::new(
        "init_sigma",
        "0.1",
        "sd of the Normal(0, sd) factor initialiser",
    ),
    ParamSpec::new(
        "clip_gradient",
        "1e12",
        "clips the loss gradient to ±clip_gradient",
    ),
    ParamSpec::new("seed", "0", "seed of the factor initialiser"),
];

/// `funk_mf`: River's `reco.FunkMF`.
pub static FUNK_MF: ModelEntry = ModelEntry {
    name: "funk_mf",
    river: "reco.FunkMF",
    aliases: &[],
    params: &[
        OPTIMIZER_PARAMS,
        MF_PARAMS,
        &[ParamSpec::new(
            "l2",
            "0",
            "L2 penalty of the latent factors",
        )],
    ],
    kind: EntryKind::Recommender {
        build: |p| {
            let r = ParamReader::new(p);
            let mut params = MfParams::from_reader(&r)?;
            params.l2 = r.non_negative("l2", 0.0)?;
            Ok(Box::new(FunkMf::new(params)?))
        },
        load: load_recommender::<FunkMf>,
    },
};

/// `biased_mf`: River's `reco.BiasedMF`.
pub static BIASED_MF: ModelEntry = ModelEntry {
    name: "biased_mf",
    river: "reco.BiasedMF",
    aliases: &[],
    params: &[
        OPTIMIZER_PARAMS,
        MF_PARAMS,
        &[
            ParamSpec::new("bias_lr", "0.01", "the biases' SGD learning rate"),
            ParamSpec::new("l2_bias", "0", "L2 penalty of the biases"),
            ParamSpec::new("l2_latent", "0", "L2 penalty of the latent factors"),
        ],
    ],
    kind: EntryKind::Recommender {
        build: |p| {
            let r = ParamReader::new(p);
            let mut params = MfParams::from_reader(&r)?;
            params.l2 = r.non_negative("l2_latent", 0.0)?;
            params.l2_bias = r.non_negative("l2_bias", 0.0)?;
            params.bias_optimizer = Optimizer::sgd(r.positive("bias_lr", 0.01)?);
            Ok(Box::new(BiasedMf::new(params)?))
        },
        load: load_recommender::<BiasedMf>,
    },
};

/// A stable 64-bit id for a string id (FNV-1a; the same forever, unlike `std`'s hashers).
pub fn str_id(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Latent factors of one side (users or items), stored contiguously by slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latents {
    pub slot: FxHashMap<u64, usize>,
    pub factors: Vec<f64>,
    pub bias: Vec<f64>,
}

impl Latents {
    fn new() -> Self {
        Latents {
            slot: FxHashMap::default(),
            factors: Vec::new(),
            bias: Vec::new(),
        }
    }
    fn get(&self, id: u64, k: usize) -> Option<(usize, &[f64])> {
        self.slot
            .get(&id)
            .map(|&s| (s, &self.factors[s * k..(s + 1) * k]))
    }
    fn get_or_draw(&mut self, id: u64, k: usize, sigma: f64, rng: &mut [u64; 4]) -> usize {
        if let Some(&s) = self.slot.get(&id) {
            return s;
        }
        let s = self.slot.len();
        self.slot.insert(id, s);
        let mut r = Rng::from_state(*rng);
        for _ in 0..k {
            self.factors.push(sigma * r.normal());
        }
        *rng = r.state();
        self.bias.push(0.0);
        s
    }
}

/// Shared hyper-parameters of the two factorisation models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MfParams {
    pub n_factors: usize,
    /// The optimizer of the latent factors (River's `optimizer` / `latent_optimizer`).
    pub optimizer: Optimizer,
    /// BiasedMF only: the optimizer of the biases (River's `bias_optimizer`).
    pub bias_optimizer: Optimizer,
    /// FunkMF's `l2`, BiasedMF's `l2_latent`.
    pub l2: f64,
    /// BiasedMF only.
    pub l2_bias: f64,
    /// Standard deviation of the Normal(0, sigma) factor initialiser (River: 0.1).
    pub init_sigma: f64,
    pub clip_gradient: f64,
    pub seed: u64,
}

impl MfParams {
    /// From [`OPTIMIZER_PARAMS`] and [`MF_PARAMS`] (River's defaults where absent).
    pub fn from_params(p: &Params) -> Result<Self, LearnError> {
        Self::from_reader(&ParamReader::new(p))
    }

    fn from_reader(r: &ParamReader) -> Result<Self, LearnError> {
        Ok(MfParams {
            n_factors: r.usize("n_factors", 10)?,
            optimizer: Optimizer::from_params(r)?,
            init_sigma: r.f64("init_sigma", 0.1)?,
            clip_gradient: r.f64("clip_gradient", 1e12)?,
            seed: r.u64("seed", 0)?,
            ..MfParams::default()
        })
    }
}

impl Default for MfParams {
    fn default() -> Self {
        MfParams {
            n_factors: 10,
            optimizer: Optimizer::sgd(0.01),
            bias_optimizer: Optimizer::sgd(0.01),
            l2: 0.0,
            l2_bias: 0.0,
            init_sigma: 0.1,
            clip_gradient: 1e12,
            seed: 0,
        }
    }
}

/// State common to FunkMF and BiasedMF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Core {
    params: MfParams,
    users: Latents,
    items: Latents,
    u_optimizer: Optimizer,
    i_optimizer: Optimizer,
    rng: [u64; 4],
    #[serde(skip)]
    grad: Scratch,
}

impl Core {
    fn new(params: MfParams) -> Result<Self, LearnError> {
        if params.n_factors == 0 {
            return Err(LearnError::Param {
                name: "n_factors".into(),
                msg: "must be >= 1".into(),
            });
        }
        Ok(Core {
            users: Latents::new(),
            items: Latents::new(),
            u_optimizer: params.optimizer.clone(),
            i_optimizer: params.optimizer.clone(),
            rng: Rng::new(params.seed).state(),
            grad: Scratch::default(),
            params,
        })
    }

    fn dot(&self, user: u64, item: u64) -> f64 {
        let k = self.params.n_factors;
        match (self.users.get(user, k), self.items.get(item, k)) {
            (Some((_, u)), Some((_, i))) => dot(u, i),
            _ => 0.0,
        }
    }

    fn slots(&mut self, user: u64, item: u64) -> (usize, usize) {
        let (k, s) = (self.params.n_factors, self.params.init_sigma);
        let us = self.users.get_or_draw(user, k, s, &mut self.rng);
        let is = self.items.get_or_draw(item, k, s, &mut self.rng);
        (us, is)
    }

    /// River's latent update given the (unclipped) loss gradient.
    fn step_latents(&mut self, us: usize, is: usize, g_loss: f64) {
        let k = self.params.n_factors;
        let l2 = self.params.l2;
        if self.grad.0.len() < 2 * k {
            self.grad.0.resize(2 * k, 0.0);
        }
        let (gu, gi) = self.grad.0.split_at_mut(k);
        let u = &self.users.factors[us * k..(us + 1) * k];
        let i = &self.items.factors[is * k..(is + 1) * k];
        for f in 0..k {
            gu[f] = g_loss * i[f] + l2 * u[f];
            gi[f] = g_loss * u[f] + l2 * i[f];
        }
        let u = &mut self.users.factors[us * k..(us + 1) * k];
        self.u_optimizer.step_at(u, gu, us * k);
        let i = &mut self.items.factors[is * k..(is + 1) * k];
        self.i_optimizer.step_at(i, &gi[..k], is * k);
    }

    fn rank(&self, items: &[u64], score: impl Fn(u64) -> f64) -> Vec<u64> {
        let mut scored: Vec<(f64, u64)> = items.iter().map(|&i| (score(i), i)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().map(|(_, i)| i).collect()
    }
}

/// River's `reco.FunkMF`: `predict = <u, i>`.
///
/// # Example
///
/// Learns 2000 ratings, then scores 200 new ones. The numbers are River's on the same stream
/// with its factors drawn as eddy draws them (River's `initializer` given eddy's generator;
/// `scripts/make_doc_examples.py`): with River's own numpy draws they differ.
///
/// ```
/// use eddy_core::rng::Rng;
/// use eddy_learn::mf::{FunkMf, MfParams};
/// use eddy_learn::optim::Optimizer;
/// use eddy_learn::{metrics, Metric};
///
/// // Users 0..5, items 10..15; rating = 1 + (user + 2 item) mod 5, plus noise.
/// let ratings = |seed: u64, n: usize| {
///     let mut rng = Rng::new(seed);
///     (0..n)
///         .map(|_| {
///             let (u, i) = (rng.below(5), 10 + rng.below(5));
///             (u, i, 1.0 + ((u + 2 * i) % 5) as f64 + 0.1 * rng.normal())
///         })
///         .collect::<Vec<_>>()
/// };
/// let mut model = FunkMf::new(MfParams {
///     n_factors: 3,
///     optimizer: Optimizer::sgd(0.05),
///     ..MfParams::default() // init_sigma 0.1, seed 0
/// })
/// .unwrap();
/// for (u, i, y) in ratings(1, 2000) {
///     model.learn_one(u, i, y);
/// }
/// let mut mae = metrics::build("mae").unwrap();
/// for (u, i, y) in ratings(2, 200) {
///     mae.update(y, model.predict_one(u, i), None);
/// }
/// assert_eq!(format!("{:.6}", mae.get()), "0.708243");
/// assert_eq!(format!("{:.6}", model.predict_one(1, 12)), "1.266311");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunkMf {
    core: Core,
}

impl FunkMf {
    pub fn new(params: MfParams) -> Result<Self, LearnError> {
        Ok(FunkMf {
            core: Core::new(params)?,
        })
    }
    pub fn params(&self) -> &MfParams {
        &self.core.params
    }
    pub fn predict_one(&self, user: u64, item: u64) -> f64 {
        self.core.dot(user, item)
    }
    pub fn learn_one(&mut self, user: u64, item: u64, y: f64) {
        let (us, is) = self.core.slots(user, item);
        let p = self.core.dot(user, item);
        let c = self.core.params.clip_gradient;
        let g = (2.0 * (p - y)).clamp(-c, c);
        self.core.step_latents(us, is, g);
    }
    /// `items` sorted by decreasing predicted rating for `user` (ties keep their order).
    pub fn rank(&self, user: u64, items: &[u64]) -> Vec<u64> {
        self.core.rank(items, |i| self.predict_one(user, i))
    }
}

/// River's `reco.BiasedMF`: `predict = global mean + b_u + b_i + <u, i>`.
///
/// # Example
///
/// Learns 2000 ratings, then scores 200 new ones. The numbers are River's on the same stream
/// with its factors drawn as eddy draws them (River's `latent_initializer` given eddy's
/// generator; `scripts/make_doc_examples.py`).
///
/// ```
/// use eddy_core::rng::Rng;
/// use eddy_learn::mf::{BiasedMf, MfParams};
/// use eddy_learn::optim::Optimizer;
/// use eddy_learn::{metrics, Metric};
///
/// // Users 0..5, items 10..15; rating = 1 + (user + 2 item) mod 5, plus noise.
/// let ratings = |seed: u64, n: usize| {
///     let mut rng = Rng::new(seed);
///     (0..n)
///         .map(|_| {
///             let (u, i) = (rng.below(5), 10 + rng.below(5));
///             (u, i, 1.0 + ((u + 2 * i) % 5) as f64 + 0.1 * rng.normal())
///         })
///         .collect::<Vec<_>>()
/// };
/// let mut model = BiasedMf::new(MfParams {
///     n_factors: 3,
///     optimizer: Optimizer::sgd(0.05),
///     bias_optimizer: Optimizer::sgd(0.05),
///     ..MfParams::default()
/// })
/// .unwrap();
/// for (u, i, y) in ratings(1, 2000) {
///     model.learn_one(u, i, y);
/// }
/// let mut mae = metrics::build("mae").unwrap();
/// for (u, i, y) in ratings(2, 200) {
///     mae.update(y, model.predict_one(u, i), None);
/// }
/// assert_eq!(format!("{:.6}", mae.get()), "0.447099");
/// assert_eq!(format!("{:.6}", model.predict_one(1, 12)), "1.277576");
/// assert_eq!(format!("{:.6}", model.global_mean()), "2.990727");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiasedMf {
    core: Core,
    u_bias_optimizer: Optimizer,
    i_bias_optimizer: Optimizer,
    n: f64,
    global_mean: f64,
}

impl BiasedMf {
    pub fn new(params: MfParams) -> Result<Self, LearnError> {
        let bo = params.bias_optimizer.clone();
        Ok(BiasedMf {
            core: Core::new(params)?,
            u_bias_optimizer: bo.clone(),
            i_bias_optimizer: bo,
            n: 0.0,
            global_mean: 0.0,
        })
    }
    pub fn params(&self) -> &MfParams {
        &self.core.params
    }
    pub fn global_mean(&self) -> f64 {
        self.global_mean
    }
    pub fn predict_one(&self, user: u64, item: u64) -> f64 {
        let k = self.core.params.n_factors;
        let bu = self
            .core
            .users
            .get(user, k)
            .map_or(0.0, |(s, _)| self.core.users.bias[s]);
        let bi = self
            .core
            .items
            .get(item, k)
            .map_or(0.0, |(s, _)| self.core.items.bias[s]);
        self.global_mean + bu + bi + self.core.dot(user, item)
    }
    pub fn learn_one(&mut self, user: u64, item: u64, y: f64) {
        // River updates the global mean first, then predicts.
        self.n += 1.0;
        self.global_mean += (y - self.global_mean) / self.n;
        let (us, is) = self.core.slots(user, item);
        let p = self.predict_one(user, item);
        let c = self.core.params.clip_gradient;
        let g = (2.0 * (p - y)).clamp(-c, c);
        let l2b = self.core.params.l2_bias;
        let gu = [g + l2b * self.core.users.bias[us]];
        let gi = [g + l2b * self.core.items.bias[is]];
        self.u_bias_optimizer
            .step_at(&mut self.core.users.bias[us..us + 1], &gu, us);
        self.i_bias_optimizer
            .step_at(&mut self.core.items.bias[is..is + 1], &gi, is);
        self.core.step_latents(us, is, g);
    }
    /// `items` sorted by decreasing predicted rating for `user` (ties keep their order).
    pub fn rank(&self, user: u64, items: &[u64]) -> Vec<u64> {
        self.core.rank(items, |i| self.predict_one(user, i))
    }
}

impl Recommender for FunkMf {
    fn entry(&self) -> &'static ModelEntry {
        &FUNK_MF
    }
    fn predict_one(&self, user: u64, item: u64) -> f64 {
        FunkMf::predict_one(self, user, item)
    }
    fn learn_one(&mut self, user: u64, item: u64, y: f64) {
        FunkMf::learn_one(self, user, item, y)
    }
    fn rank(&self, user: u64, items: &[u64]) -> Vec<u64> {
        FunkMf::rank(self, user, items)
    }
}

impl Recommender for BiasedMf {
    fn entry(&self) -> &'static ModelEntry {
        &BIASED_MF
    }
    fn predict_one(&self, user: u64, item: u64) -> f64 {
        BiasedMf::predict_one(self, user, item)
    }
    fn learn_one(&mut self, user: u64, item: u64, y: f64) {
        BiasedMf::learn_one(self, user, item, y)
    }
    fn rank(&self, user: u64, items: &[u64]) -> Vec<u64> {
        BiasedMf::rank(self, user, items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A planted rank-2 matrix (40 users x 30 items); 70% of entries for training.
    type Ratings = Vec<(u64, u64, f64)>;

    fn planted(offset: bool) -> (Ratings, Ratings) {
        let mut rng = Rng::new(42);
        let (nu, ni, r) = (40, 30, 2);
        let u: Vec<f64> = (0..nu * r).map(|_| rng.normal()).collect();
        let v: Vec<f64> = (0..ni * r).map(|_| rng.normal()).collect();
        let bu: Vec<f64> = (0..nu).map(|_| 0.5 * rng.normal()).collect();
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for a in 0..nu {
            for b in 0..ni {
                let mut y: f64 = (0..r).map(|f| u[a * r + f] * v[b * r + f]).sum();
                if offset {
                    y += 3.0 + bu[a];
                }
                let e = (a as u64, 1000 + b as u64, y);
                if rng.chance(0.7) {
                    train.push(e);
                } else {
                    test.push(e);
                }
            }
        }
        (train, test)
    }

    fn rmse(pred: impl Fn(u64, u64) -> f64, data: &[(u64, u64, f64)]) -> f64 {
        (data
            .iter()
            .map(|&(u, i, y)| (pred(u, i) - y).powi(2))
            .sum::<f64>()
            / data.len() as f64)
            .sqrt()
    }

    fn params() -> MfParams {
        MfParams {
            optimizer: Optimizer::sgd(0.02),
            bias_optimizer: Optimizer::sgd(0.02),
            l2: 0.01,
            seed: 7,
            ..MfParams::default()
        }
    }

    #[test]
    fn funk_mf_recovers_planted_matrix() {
        let (train, test) = planted(false);
        let mean = train.iter().map(|e| e.2).sum::<f64>() / train.len() as f64;
        let baseline = rmse(|_, _| mean, &test);
        let mut m = FunkMf::new(params()).unwrap();
        for _ in 0..150 {
            for &(u, i, y) in &train {
                m.learn_one(u, i, y);
            }
        }
        let got = rmse(|u, i| m.predict_one(u, i), &test);
        assert!(got < 0.3 * baseline, "rmse {got} vs baseline {baseline}");
    }

    #[test]
    fn biased_mf_recovers_planted_matrix_and_ranks() {
        let (train, test) = planted(true);
        let mean = train.iter().map(|e| e.2).sum::<f64>() / train.len() as f64;
        let baseline = rmse(|_, _| mean, &test);
        let mut m = BiasedMf::new(params()).unwrap();
        for _ in 0..150 {
            for &(u, i, y) in &train {
                m.learn_one(u, i, y);
            }
        }
        assert!((m.global_mean() - mean).abs() < 1e-9);
        let got = rmse(|u, i| m.predict_one(u, i), &test);
        assert!(got < 0.3 * baseline, "rmse {got} vs baseline {baseline}");
        let items = [1000, 1001, 1002, 1003];
        let ranked = m.rank(0, &items);
        for w in ranked.windows(2) {
            assert!(m.predict_one(0, w[0]) >= m.predict_one(0, w[1]));
        }
        // Unseen ids: the global mean (no factors, no biases).
        assert_eq!(m.predict_one(999_999, 888_888), m.global_mean());
    }

    #[test]
    fn first_funk_step_by_hand() {
        // SGD 0.01, l2 0: p = <u, i>; g = 2 (p - y); u' = u - 0.01 g i; i' = i - 0.01 g u.
        let mut m = FunkMf::new(MfParams {
            n_factors: 2,
            ..MfParams::default()
        })
        .unwrap();
        m.learn_one(1, 2, 0.0); // draws both factor vectors
        let k = 2;
        let u0 = m.core.users.get(1, k).unwrap().1.to_vec();
        let i0 = m.core.items.get(2, k).unwrap().1.to_vec();
        let p = u0[0] * i0[0] + u0[1] * i0[1];
        let g = 2.0 * (p - 1.0);
        m.learn_one(1, 2, 1.0);
        let u1 = m.core.users.get(1, k).unwrap().1;
        let i1 = m.core.items.get(2, k).unwrap().1;
        for f in 0..2 {
            assert!((u1[f] - (u0[f] - 0.01 * g * i0[f])).abs() < 1e-15);
            assert!((i1[f] - (i0[f] - 0.01 * g * u0[f])).abs() < 1e-15);
        }
        assert_eq!(str_id("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
