//! Building models by name with string parameters, as the CLI and pipeline specs do.
//!
//! CONTRACT (models helper implements): names follow River's snake_case class names
//! (`linear_regression`, `logistic_regression`, `softmax_regression`, `pa_classifier`,
//! `pa_regressor`, `gaussian_nb`, `hoeffding_tree`), parameters River's argument names
//! (`l2`, `l1`, `intercept_lr`, `clip_gradient`, `optimizer`, `lr`, `C`, `mode`, `grace_period`,
//! `delta`, `tau`, ...). Unknown names or parameters are errors listing what is accepted.
//!
//! [`build`] returns an [`AnyModel`]: the model behind its preprocessing
//! ([`crate::pipeline::Pipeline`]), with `task`, `predict_one` / `predict_proba_one` /
//! `learn_one` on numeric rows, `*_raw` variants on rows of numbers and categories
//! ([`RawValue`]), and `save` / `load` through [`crate::snapshot`] (kind = the model name).
//! [`accepted_params`] lists each model's parameters. Recommenders (`funk_mf`, `biased_mf`)
//! take `(user, item, rating)` rather than feature rows and are built by [`build_recommender`].
//!
//! Parameters:
//! - optimizer (linear, logistic, softmax, MF): `optimizer` = `sgd` (default; `lr` 0.01) |
//!   `adagrad` (`lr` 0.1, `eps` 1e-8) | `adam` (`lr` 0.1, `beta_1` 0.9, `beta_2` 0.999, `eps`
//!   1e-8) | `ftrl_proximal` (`alpha` 0.05, `beta` 1, `ftrl_l1` 0, `ftrl_l2` 1);
//!   `schedule` = `constant` (default) | `inverse_scaling` (`power_t` 0.5).
//! - linear/logistic: `l2` 0, `l1` 0, `intercept_init` 0, `intercept_lr` 0.01,
//!   `clip_gradient` 1e12. softmax: `l2` 0.
//! - PA: `C` 1, `mode` 1, `learn_intercept` true; regressor `eps` 0.1.
//! - hoeffding_tree: `grace_period` 200, `max_depth` none, `delta` 1e-7, `tau` 0.05,
//!   `leaf_prediction` nba|nb|mc, `nb_threshold` 0, `n_splits` 10, `min_branch_fraction` 0.01, `max_share_to_split` 0.99.
//! - every feature model: `scaler` none|standard|minmax, `categorical` onehot|hash,
//!   `n_features` 1024 and `hash_seed` 0 (hash only).
//! - MF: `n_factors` 10, `init_sigma` 0.1, `clip_gradient` 1e12, `seed` 0; funk `l2` 0;
//!   biased `l2_latent` 0, `l2_bias` 0, `bias_lr` 0.01.

use std::collections::BTreeMap;

/// `key=value` parameters as given on the command line or in a spec.
pub type Params = BTreeMap<String, String>;

/// Whether a model predicts numbers or classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Regression,
    Classification,
}

use serde::{Deserialize, Serialize};

use crate::linear::{GlmParams, LinearRegression, LogisticRegression};
use crate::mf::{BiasedMf, FunkMf, MfParams};
use crate::naive_bayes::GaussianNb;
use crate::optim::{Optimizer, Schedule};
use crate::pa::{PaClassifier, PaRegressor};
use crate::pipeline::{Pipeline, Preprocessor};
use crate::preprocessing::{FeatureHasher, MinMaxScaler, OneHotEncoder, RawValue, StandardScaler};
use crate::softmax::SoftmaxRegression;
use crate::traits::{Classifier, Regressor};
use crate::tree::{HoeffdingTreeClassifier, HoeffdingTreeParams, LeafPrediction};
use crate::{snapshot, LearnError};

/// The feature models [`build`] knows, with their task.
pub const MODELS: &[(&str, Task)] = &[
    ("linear_regression", Task::Regression),
    ("logistic_regression", Task::Classification),
    ("softmax_regression", Task::Classification),
    ("pa_classifier", Task::Classification),
    ("pa_regressor", Task::Regression),
    ("gaussian_nb", Task::Classification),
    ("hoeffding_tree", Task::Classification),
];

/// The recommenders [`build_recommender`] knows.
pub const RECOMMENDERS: &[&str] = &["funk_mf", "biased_mf"];

/// Preprocessing parameters every feature model accepts.
const PREPROCESSING_PARAMS: &[&str] = &["scaler", "categorical", "n_features", "hash_seed"];
/// Optimizer parameters (River's argument names; FTRL's own `l1`/`l2` are `ftrl_l1`/`ftrl_l2`).
const OPTIMIZER_PARAMS: &[&str] = &[
    "optimizer",
    "lr",
    "schedule",
    "power_t",
    "eps",
    "beta_1",
    "beta_2",
    "alpha",
    "beta",
    "ftrl_l1",
    "ftrl_l2",
];
const GLM_PARAMS: &[&str] = &[
    "l2",
    "l1",
    "intercept_init",
    "intercept_lr",
    "clip_gradient",
];
const PA_PARAMS: &[&str] = &["C", "mode", "learn_intercept"];
const TREE_PARAMS: &[&str] = &[
    "grace_period",
    "max_depth",
    "delta",
    "tau",
    "leaf_prediction",
    "nb_threshold",
    "n_splits",
    "min_branch_fraction",
    "max_share_to_split",
];
const MF_PARAMS: &[&str] = &["n_factors", "init_sigma", "clip_gradient", "seed"];

/// Every parameter `name` accepts (unknown names: `None`).
pub fn accepted_params(name: &str) -> Option<Vec<&'static str>> {
    let mut v: Vec<&'static str> = Vec::new();
    match canonical(name)? {
        "linear_regression" | "logistic_regression" => {
            v.extend(OPTIMIZER_PARAMS);
            v.extend(GLM_PARAMS);
        }
        "softmax_regression" => {
            v.extend(OPTIMIZER_PARAMS);
            v.push("l2");
        }
        "pa_classifier" => v.extend(PA_PARAMS),
        "pa_regressor" => {
            v.extend(PA_PARAMS);
            v.push("eps");
        }
        "gaussian_nb" => {}
        "hoeffding_tree" => v.extend(TREE_PARAMS),
        "funk_mf" => {
            v.extend(OPTIMIZER_PARAMS);
            v.extend(MF_PARAMS);
            v.push("l2");
            return Some(v);
        }
        "biased_mf" => {
            v.extend(OPTIMIZER_PARAMS);
            v.extend(MF_PARAMS);
            v.extend(["bias_lr", "l2_bias", "l2_latent"]);
            return Some(v);
        }
        _ => return None,
    }
    v.extend(PREPROCESSING_PARAMS);
    Some(v)
}

/// Maps River's class-name spellings and a few aliases to the registry name.
fn canonical(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase().replace(['-', '.'], "_");
    let n = n.strip_prefix("linear_model_").unwrap_or(&n);
    Some(match n {
        "linear_regression" | "linearregression" => "linear_regression",
        "logistic_regression" | "logisticregression" => "logistic_regression",
        "softmax_regression" | "softmaxregression" => "softmax_regression",
        "pa_classifier" | "paclassifier" => "pa_classifier",
        "pa_regressor" | "paregressor" => "pa_regressor",
        "gaussian_nb" | "gaussiannb" | "naive_bayes_gaussiannb" => "gaussian_nb",
        "hoeffding_tree"
        | "hoeffding_tree_classifier"
        | "hoeffdingtreeclassifier"
        | "tree_hoeffdingtreeclassifier"
        | "vfdt" => "hoeffding_tree",
        "funk_mf" | "funkmf" | "reco_funkmf" => "funk_mf",
        "biased_mf" | "biasedmf" | "reco_biasedmf" => "biased_mf",
        _ => return None,
    })
}

/// Reads typed values out of [`Params`], remembering which keys were used.
struct Reader<'a> {
    params: &'a Params,
}

fn bad(name: &str, msg: impl Into<String>) -> LearnError {
    LearnError::Param {
        name: name.to_string(),
        msg: msg.into(),
    }
}

impl Reader<'_> {
    fn raw(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(|s| s.trim())
    }
    fn f64(&self, k: &str, default: f64) -> Result<f64, LearnError> {
        match self.raw(k) {
            None => Ok(default),
            Some(s) => match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(bad(k, format!("expected a finite number, got `{s}`"))),
            },
        }
    }
    fn usize(&self, k: &str, default: usize) -> Result<usize, LearnError> {
        match self.raw(k) {
            None => Ok(default),
            Some(s) => s
                .parse::<usize>()
                .map_err(|_| bad(k, format!("expected a non-negative integer, got `{s}`"))),
        }
    }
    fn u64(&self, k: &str, default: u64) -> Result<u64, LearnError> {
        match self.raw(k) {
            None => Ok(default),
            Some(s) => s
                .parse::<u64>()
                .map_err(|_| bad(k, format!("expected a non-negative integer, got `{s}`"))),
        }
    }
    fn bool(&self, k: &str, default: bool) -> Result<bool, LearnError> {
        match self.raw(k) {
            None => Ok(default),
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(bad(k, format!("expected true or false, got `{s}`"))),
            },
        }
    }
    fn choice(
        &self,
        k: &str,
        default: &'static str,
        allowed: &[&'static str],
    ) -> Result<&'static str, LearnError> {
        match self.raw(k) {
            None => Ok(default),
            Some(s) => {
                let s = s.to_ascii_lowercase();
                allowed.iter().copied().find(|a| *a == s).ok_or_else(|| {
                    bad(
                        k,
                        format!("expected one of {}, got `{s}`", allowed.join(", ")),
                    )
                })
            }
        }
    }

    /// River's optimizers by name: `sgd` (lr 0.01), `adagrad` (lr 0.1, eps 1e-8), `adam`
    /// (lr 0.1, beta_1 0.9, beta_2 0.999, eps 1e-8), `ftrl_proximal` (alpha 0.05, beta 1,
    /// ftrl_l1 0, ftrl_l2 1); `schedule=inverse_scaling` (with `power_t`, 0.5) makes the rate
    /// River's `InverseScaling(lr, power_t)`.
    fn optimizer(&self) -> Result<Optimizer, LearnError> {
        let kind = self.choice(
            "optimizer",
            "sgd",
            &["sgd", "adagrad", "adam", "ftrl_proximal", "ftrl"],
        )?;
        let only = |keys: &[&str], which: &str| -> Result<(), LearnError> {
            for k in keys {
                if self.params.contains_key(*k) {
                    return Err(bad(
                        k,
                        format!("does not apply to optimizer `{kind}` (it is for {which})"),
                    ));
                }
            }
            Ok(())
        };
        let positive = |k: &str, v: f64| {
            if v > 0.0 {
                Ok(v)
            } else {
                Err(bad(k, format!("must be > 0, got {v}")))
            }
        };
        let schedule = |default_lr: f64| -> Result<Schedule, LearnError> {
            let lr = positive("lr", self.f64("lr", default_lr)?)?;
            match self.choice("schedule", "constant", &["constant", "inverse_scaling"])? {
                "constant" => {
                    only(&["power_t"], "schedule=inverse_scaling")?;
                    Ok(Schedule::Constant { learning_rate: lr })
                }
                _ => Ok(Schedule::InverseScaling {
                    learning_rate: lr,
                    power_t: self.f64("power_t", 0.5)?,
                }),
            }
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
                Optimizer::adagrad(0.1, positive("eps", self.f64("eps", 1e-8)?)?)
            }
            "adam" => {
                only(&["alpha", "beta", "ftrl_l1", "ftrl_l2"], "ftrl_proximal")?;
                let b1 = self.f64("beta_1", 0.9)?;
                let b2 = self.f64("beta_2", 0.999)?;
                for (k, b) in [("beta_1", b1), ("beta_2", b2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(bad(k, format!("must be in [0, 1), got {b}")));
                    }
                }
                Optimizer::adam(0.1, b1, b2, positive("eps", self.f64("eps", 1e-8)?)?)
            }
            _ => {
                only(
                    &["lr", "schedule", "power_t", "eps", "beta_1", "beta_2"],
                    "other optimizers",
                )?;
                let nonneg = |k: &str, v: f64| {
                    if v >= 0.0 {
                        Ok(v)
                    } else {
                        Err(bad(k, format!("must be >= 0, got {v}")))
                    }
                };
                return Ok(Optimizer::ftrl(
                    positive("alpha", self.f64("alpha", 0.05)?)?,
                    nonneg("beta", self.f64("beta", 1.0)?)?,
                    nonneg("ftrl_l1", self.f64("ftrl_l1", 0.0)?)?,
                    nonneg("ftrl_l2", self.f64("ftrl_l2", 1.0)?)?,
                ));
            }
        };
        let default_lr = o.learning_rate();
        let s = schedule(default_lr)?;
        match &mut o.rule {
            crate::optim::Rule::Sgd { lr }
            | crate::optim::Rule::AdaGrad { lr, .. }
            | crate::optim::Rule::Adam { lr, .. } => *lr = s,
            crate::optim::Rule::FtrlProximal { .. } => {}
        }
        Ok(o)
    }

    fn preprocessors(&self) -> Result<Vec<Preprocessor>, LearnError> {
        let mut v = Vec::new();
        match self.choice("scaler", "none", &["none", "standard", "minmax"])? {
            "standard" => v.push(Preprocessor::StandardScaler(StandardScaler::default())),
            "minmax" => v.push(Preprocessor::MinMaxScaler(MinMaxScaler::default())),
            _ => {}
        }
        match self.choice("categorical", "onehot", &["onehot", "hash"])? {
            "hash" => v.push(Preprocessor::FeatureHasher(FeatureHasher::new(
                self.usize("n_features", 1024)?,
                self.u64("hash_seed", 0)?,
            )?)),
            _ => {
                if self.params.contains_key("n_features") || self.params.contains_key("hash_seed") {
                    return Err(bad("n_features", "applies only with categorical=hash"));
                }
                v.push(Preprocessor::OneHotEncoder(OneHotEncoder::default()));
            }
        }
        Ok(v)
    }

    fn glm(&self) -> Result<GlmParams, LearnError> {
        Ok(GlmParams {
            optimizer: self.optimizer()?,
            l2: self.f64("l2", 0.0)?,
            l1: self.f64("l1", 0.0)?,
            intercept_init: self.f64("intercept_init", 0.0)?,
            intercept_lr: self.f64("intercept_lr", 0.01)?,
            clip_gradient: self.f64("clip_gradient", 1e12)?,
        })
    }

    fn pa(&self) -> Result<(f64, u8, bool), LearnError> {
        let mode = self.usize("mode", 1)?;
        if mode > 2 {
            return Err(bad("mode", format!("must be 0, 1 or 2, got {mode}")));
        }
        Ok((
            self.f64("C", 1.0)?,
            mode as u8,
            self.bool("learn_intercept", true)?,
        ))
    }
}

fn check_names(name: &str, params: &Params) -> Result<&'static str, LearnError> {
    let canon = canonical(name).ok_or_else(|| LearnError::Unknown {
        what: "model",
        name: name.to_string(),
        expected: MODELS
            .iter()
            .map(|m| m.0)
            .chain(RECOMMENDERS.iter().copied())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let accepted = accepted_params(canon).expect("canonical names are known");
    for k in params.keys() {
        if !accepted.contains(&k.as_str()) {
            return Err(LearnError::Unknown {
                what: "parameter",
                name: format!("{k}` for model `{canon}"),
                expected: accepted.join(", "),
            });
        }
    }
    Ok(canon)
}

/// One of the feature models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    LinearRegression(LinearRegression),
    LogisticRegression(LogisticRegression),
    SoftmaxRegression(SoftmaxRegression),
    PaClassifier(PaClassifier),
    PaRegressor(PaRegressor),
    GaussianNb(GaussianNb),
    HoeffdingTree(HoeffdingTreeClassifier),
}

macro_rules! classifier {
    ($m:expr, $c:ident => $e:expr, $reg:ident => $r:expr) => {
        match $m {
            Model::LogisticRegression($c) => $e,
            Model::SoftmaxRegression($c) => $e,
            Model::PaClassifier($c) => $e,
            Model::GaussianNb($c) => $e,
            Model::HoeffdingTree($c) => $e,
            Model::LinearRegression($reg) => $r,
            Model::PaRegressor($reg) => $r,
        }
    };
}

impl Model {
    pub fn task(&self) -> Task {
        classifier!(self, _c => Task::Classification, _r => Task::Regression)
    }
    /// A regression value, or a class label as `f64`.
    pub fn predict_one(&self, x: &[f64]) -> f64 {
        classifier!(self, c => c.predict_one(x) as f64, r => r.predict_one(x))
    }
    /// Class probabilities (empty for regressors).
    pub fn predict_proba_one(&self, x: &[f64], out: &mut Vec<f64>) {
        classifier!(self, c => c.predict_proba_one(x, out), _r => out.clear())
    }
    /// `y` must already be validated (a class label for classifiers).
    fn learn_one(&mut self, x: &[f64], y: f64) {
        classifier!(self, c => c.learn_one(x, y as usize), r => r.learn_one(x, y))
    }
    pub fn n_classes(&self) -> usize {
        classifier!(self, c => c.n_classes(), _r => 0)
    }
    /// Binary classifiers accept labels 0 and 1 only.
    fn is_binary(&self) -> bool {
        matches!(self, Model::LogisticRegression(_) | Model::PaClassifier(_))
    }
}

/// The largest class label accepted (labels index dense per-class state).
pub const MAX_LABEL: f64 = 65_535.0;

/// A model built by name, with its preprocessing: what the CLI and pipeline specs hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnyModel {
    /// The registry name (e.g. `logistic_regression`), also the snapshot kind.
    pub name: String,
    /// The parameters it was built with.
    pub params: Params,
    pub pipeline: Pipeline<Model>,
}

/// Builds a feature model by River's name with `key=value` parameters (River's argument names).
///
/// Every model also takes `scaler` (`none` (default) | `standard` | `minmax`, River's
/// `StandardScaler` / `MinMaxScaler` in front of the model, on numeric columns) and
/// `categorical` (`onehot` (default) | `hash`, with `n_features` 1024 and `hash_seed` 0).
pub fn build(name: &str, params: &Params) -> Result<AnyModel, LearnError> {
    let canon = check_names(name, params)?;
    if RECOMMENDERS.contains(&canon) {
        return Err(bad(
            "model",
            format!(
                "`{canon}` is a recommender (user, item, rating); build it with build_recommender"
            ),
        ));
    }
    let r = Reader { params };
    let model = match canon {
        "linear_regression" => Model::LinearRegression(LinearRegression::new(r.glm()?)?),
        "logistic_regression" => Model::LogisticRegression(LogisticRegression::new(r.glm()?)?),
        "softmax_regression" => {
            let l2 = r.f64("l2", 0.0)?;
            if l2 < 0.0 {
                return Err(bad("l2", format!("must be >= 0, got {l2}")));
            }
            Model::SoftmaxRegression(SoftmaxRegression::new(r.optimizer()?, l2))
        }
        "pa_classifier" => {
            let (c, mode, li) = r.pa()?;
            Model::PaClassifier(PaClassifier::new(c, mode, li)?)
        }
        "pa_regressor" => {
            let (c, mode, li) = r.pa()?;
            Model::PaRegressor(PaRegressor::new(c, mode, r.f64("eps", 0.1)?, li)?)
        }
        "gaussian_nb" => Model::GaussianNb(GaussianNb::new()),
        "hoeffding_tree" => {
            let d = HoeffdingTreeParams::default();
            let max_depth = match r.raw("max_depth") {
                None | Some("none") | Some("None") => None,
                Some(_) => Some(r.usize("max_depth", 0)?),
            };
            let leaf_prediction = match r.choice("leaf_prediction", "nba", &["mc", "nb", "nba"])? {
                "mc" => LeafPrediction::Mc,
                "nb" => LeafPrediction::Nb,
                _ => LeafPrediction::Nba,
            };
            Model::HoeffdingTree(HoeffdingTreeClassifier::new(HoeffdingTreeParams {
                grace_period: r.f64("grace_period", d.grace_period)?,
                max_depth,
                delta: r.f64("delta", d.delta)?,
                tau: r.f64("tau", d.tau)?,
                leaf_prediction,
                nb_threshold: r.f64("nb_threshold", d.nb_threshold)?,
                n_splits: r.usize("n_splits", d.n_splits)?,
                min_branch_fraction: r.f64("min_branch_fraction", d.min_branch_fraction)?,
                max_share_to_split: r.f64("max_share_to_split", d.max_share_to_split)?,
            })?)
        }
        other => unreachable!("model `{other}` is listed but not built"),
    };
    Ok(AnyModel {
        name: canon.to_string(),
        params: params.clone(),
        pipeline: Pipeline::new(r.preprocessors()?, model)?,
    })
}

fn check_label(model: &Model, y: f64) -> Result<f64, LearnError> {
    if !y.is_finite() {
        return Err(bad("target", format!("must be a finite number, got {y}")));
    }
    if model.task() == Task::Classification {
        let max = if model.is_binary() { 1.0 } else { MAX_LABEL };
        if y < 0.0 || y.fract() != 0.0 || y > max {
            return Err(bad(
                "target",
                format!("a class label of this model must be an integer in 0..={max}, got {y}"),
            ));
        }
    }
    Ok(y)
}

fn check_features(x: &[f64]) -> Result<(), LearnError> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(bad(
            "features",
            format!("feature {i} is {}, not a finite number", x[i]),
        )),
    }
}

fn check_raw(x: &[RawValue]) -> Result<(), LearnError> {
    for (i, v) in x.iter().enumerate() {
        if let RawValue::Num(n) = v {
            if !n.is_finite() {
                return Err(bad(
                    "features",
                    format!("column {i} is {n}, not a finite number"),
                ));
            }
        }
    }
    Ok(())
}

impl AnyModel {
    pub fn task(&self) -> Task {
        self.pipeline.model.task()
    }
    /// Classes known so far (0 for regressors).
    pub fn n_classes(&self) -> usize {
        self.pipeline.model.n_classes()
    }
    /// A regression value, or the predicted class label as `f64`.
    pub fn predict_one(&self, x: &[f64]) -> f64 {
        self.pipeline.with_transformed(x, |m, x| m.predict_one(x))
    }
    /// Class probabilities by label (cleared for regressors).
    pub fn predict_proba_one(&self, x: &[f64], out: &mut Vec<f64>) {
        self.pipeline
            .with_transformed(x, |m, x| m.predict_proba_one(x, out))
    }
    /// Learns one example; `y` is the target, or the class label (0, 1, ...) for classifiers.
    /// A non-finite feature or target, or a label the model cannot take, is an error and the
    /// example is not learned.
    pub fn learn_one(&mut self, x: &[f64], y: f64) -> Result<(), LearnError> {
        let y = check_label(&self.pipeline.model, y)?;
        check_features(x)?;
        self.pipeline.learn_transformed(x, |m, x| m.learn_one(x, y));
        Ok(())
    }
    /// A mini-batch: `xs` row-major with `ys.len()` rows, learned one row at a time (as the
    /// trait's `learn_many`). Rows that fail validation are skipped; returns how many were
    /// learned, or an error if `xs` is not a whole number of rows.
    pub fn learn_many(&mut self, xs: &[f64], ys: &[f64]) -> Result<usize, LearnError> {
        if ys.is_empty() {
            return Ok(0);
        }
        let d = xs.len() / ys.len();
        if d * ys.len() != xs.len() {
            return Err(bad(
                "features",
                format!("{} values do not make {} equal rows", xs.len(), ys.len()),
            ));
        }
        let mut n = 0;
        for (row, &y) in xs.chunks_exact(d.max(1)).zip(ys) {
            n += usize::from(self.learn_one(row, y).is_ok());
        }
        Ok(n)
    }
    /// As [`predict_one`](Self::predict_one) for a row of numbers and categories.
    pub fn predict_raw(&self, x: &[RawValue]) -> f64 {
        self.pipeline.with_raw(x, |m, x| m.predict_one(x))
    }
    pub fn predict_proba_raw(&self, x: &[RawValue], out: &mut Vec<f64>) {
        self.pipeline
            .with_raw(x, |m, x| m.predict_proba_one(x, out))
    }
    pub fn learn_raw(&mut self, x: &[RawValue], y: f64) -> Result<(), LearnError> {
        let y = check_label(&self.pipeline.model, y)?;
        check_raw(x)?;
        self.pipeline.learn_raw(x, |m, x| m.learn_one(x, y));
        Ok(())
    }

    pub fn to_snapshot_string(&self) -> Result<String, LearnError> {
        snapshot::to_string(&self.name, self)
    }
    pub fn from_snapshot_str(text: &str) -> Result<Self, LearnError> {
        let (kind, m): (String, AnyModel) = snapshot::from_str(text, None)?;
        Self::check_kind(kind, m, "<memory>")
    }
    pub fn save(&self, path: &std::path::Path) -> Result<(), LearnError> {
        snapshot::save(path, &self.name, self)
    }
    pub fn load(path: &std::path::Path) -> Result<Self, LearnError> {
        let (kind, m): (String, AnyModel) = snapshot::load(path, None)?;
        Self::check_kind(kind, m, &path.display().to_string())
    }
    fn check_kind(kind: String, m: AnyModel, path: &str) -> Result<Self, LearnError> {
        if kind != m.name || canonical(&kind) != Some(kind.as_str()) {
            return Err(LearnError::Snapshot {
                path: path.to_string(),
                msg: format!(
                    "snapshot kind `{kind}` does not match its model `{}`",
                    m.name
                ),
            });
        }
        Ok(m)
    }
}

/// A recommender built by name.
#[allow(clippy::large_enum_variant)] // a handful per process; boxing buys nothing
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnyRecommender {
    FunkMf(FunkMf),
    BiasedMf(BiasedMf),
}

/// Builds `funk_mf` / `biased_mf` (River's `reco.FunkMF` / `reco.BiasedMF`): `n_factors` 10,
/// the optimizer parameters (for the latent factors; default SGD 0.01), `init_sigma` 0.1,
/// `clip_gradient` 1e12, `seed` 0; FunkMF `l2` 0; BiasedMF `l2_latent` 0, `l2_bias` 0 and
/// `bias_lr` 0.01 (its bias optimizer is SGD).
pub fn build_recommender(name: &str, params: &Params) -> Result<AnyRecommender, LearnError> {
    let canon = check_names(name, params)?;
    let r = Reader { params };
    let nonneg = |k: &str| -> Result<f64, LearnError> {
        let v = r.f64(k, 0.0)?;
        if v < 0.0 {
            return Err(bad(k, format!("must be >= 0, got {v}")));
        }
        Ok(v)
    };
    let mut p = MfParams {
        n_factors: r.usize("n_factors", 10)?,
        optimizer: r.optimizer()?,
        init_sigma: r.f64("init_sigma", 0.1)?,
        clip_gradient: r.f64("clip_gradient", 1e12)?,
        seed: r.u64("seed", 0)?,
        ..MfParams::default()
    };
    match canon {
        "funk_mf" => {
            p.l2 = nonneg("l2")?;
            Ok(AnyRecommender::FunkMf(FunkMf::new(p)?))
        }
        "biased_mf" => {
            p.l2 = nonneg("l2_latent")?;
            p.l2_bias = nonneg("l2_bias")?;
            let lr = r.f64("bias_lr", 0.01)?;
            if lr <= 0.0 {
                return Err(bad("bias_lr", format!("must be > 0, got {lr}")));
            }
            p.bias_optimizer = Optimizer::sgd(lr);
            Ok(AnyRecommender::BiasedMf(BiasedMf::new(p)?))
        }
        other => Err(bad(
            "model",
            format!(
                "`{other}` is not a recommender; expected one of {}",
                RECOMMENDERS.join(", ")
            ),
        )),
    }
}

impl AnyRecommender {
    pub fn name(&self) -> &'static str {
        match self {
            AnyRecommender::FunkMf(_) => "funk_mf",
            AnyRecommender::BiasedMf(_) => "biased_mf",
        }
    }
    pub fn predict_one(&self, user: u64, item: u64) -> f64 {
        match self {
            AnyRecommender::FunkMf(m) => m.predict_one(user, item),
            AnyRecommender::BiasedMf(m) => m.predict_one(user, item),
        }
    }
    pub fn learn_one(&mut self, user: u64, item: u64, y: f64) -> Result<(), LearnError> {
        if !y.is_finite() {
            return Err(bad("target", format!("must be a finite number, got {y}")));
        }
        match self {
            AnyRecommender::FunkMf(m) => m.learn_one(user, item, y),
            AnyRecommender::BiasedMf(m) => m.learn_one(user, item, y),
        }
        Ok(())
    }
    pub fn rank(&self, user: u64, items: &[u64]) -> Vec<u64> {
        match self {
            AnyRecommender::FunkMf(m) => m.rank(user, items),
            AnyRecommender::BiasedMf(m) => m.rank(user, items),
        }
    }
    pub fn save(&self, path: &std::path::Path) -> Result<(), LearnError> {
        snapshot::save(path, self.name(), self)
    }
    pub fn load(path: &std::path::Path) -> Result<Self, LearnError> {
        let (kind, m): (String, AnyRecommender) = snapshot::load(path, None)?;
        if kind != m.name() {
            return Err(LearnError::Snapshot {
                path: path.display().to_string(),
                msg: format!(
                    "snapshot kind `{kind}` does not match its model `{}`",
                    m.name()
                ),
            });
        }
        Ok(m)
    }
    pub fn to_snapshot_string(&self) -> Result<String, LearnError> {
        snapshot::to_string(self.name(), self)
    }
    pub fn from_snapshot_str(text: &str) -> Result<Self, LearnError> {
        let (kind, m): (String, AnyRecommender) = snapshot::from_str(text, None)?;
        if kind != m.name() {
            return Err(LearnError::Snapshot {
                path: "<memory>".into(),
                msg: format!(
                    "snapshot kind `{kind}` does not match its model `{}`",
                    m.name()
                ),
            });
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
