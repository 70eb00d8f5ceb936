//! Building models by name with string parameters, as the CLI and pipeline specs do.
//!
//! Every model registers itself in its own module with a [`ModelEntry`]: its name (River's
//! class name in snake_case: `linear_regression`, `logistic_regression`,
//! `softmax_regression`, `pa_classifier`, `pa_regressor`, `gaussian_nb`, `hoeffding_tree`,
//! `funk_mf`, `biased_mf`), its River counterpart, its parameters (River's argument names and
//! defaults, as [`ParamSpec`](crate::param::ParamSpec)s), and how to build and restore it.
//! [`MODELS`] lists the entries; that list is all this module knows of particular models.
//! Unknown names or parameters are errors listing what is accepted.
//!
//! [`build`] returns an [`AnyModel`]: the model behind its preprocessing
//! ([`Preprocessed`]), with `task`, `predict_one` / `predict_proba_one` / `learn_one` on
//! numeric rows, `*_raw` variants on rows of numbers and categories ([`RawValue`]), and
//! `save` / `load` through [`crate::snapshot`] (kind = the model name). Recommenders
//! (`funk_mf`, `biased_mf`) take `(user, item, rating)` rather than feature rows and are built
//! by [`build_recommender`]. [`accepted_params`] lists each model's parameters:
//!
//! ```
//! use eddy_learn::registry;
//!
//! let accepted = registry::accepted_params("pa_regressor").unwrap();
//! assert_eq!(
//!     accepted,
//!     ["C", "mode", "learn_intercept", "eps", "scaler", "categorical", "n_features", "hash_seed"]
//! );
//! let e = registry::build("pa_regressor", &[("lr".into(), "0.1".into())].into()).unwrap_err();
//! assert!(e.to_string().contains("unknown parameter `lr` for model `pa_regressor`"));
//! ```
//!
//! Shared parameter groups: the optimizer's ([`crate::optim::OPTIMIZER_PARAMS`]: `optimizer`
//! `sgd` (default; `lr` 0.01) | `adagrad` (`lr` 0.1, `eps` 1e-8) | `adam` (`lr` 0.1, `beta_1`
//! 0.9, `beta_2` 0.999, `eps` 1e-8) | `ftrl_proximal` (`alpha` 0.05, `beta` 1, `ftrl_l1` 0,
//! `ftrl_l2` 1); `schedule` `constant` (default) | `inverse_scaling` (`power_t` 0.5)), and the
//! preprocessing every feature model takes ([`PREPROCESSING_PARAMS`]: `scaler`
//! none|standard|minmax, `categorical` onehot|hash|ordinal, `n_features` 1024 and `hash_seed`
//! 0 with hash only).

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::{self, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::compose::{preprocessors, Preprocessed, PREPROCESSING_PARAMS};
use crate::error::LearnError;
use crate::estimator::{normalise, EntryKind, Estimator, LoadFn, ModelEntry, Recommender};
use crate::param::ParamReader;
use crate::preprocessing::RawValue;
use crate::snapshot;
use crate::{linear, mf, naive_bayes, pa, softmax, tree};

pub use crate::param::Params;
pub use crate::traits::Task;

/// Every model the registry builds: one line per model, whose module declares the entry.
pub static MODELS: &[&ModelEntry] = &[
    &linear::LINEAR_REGRESSION,
    &linear::LOGISTIC_REGRESSION,
    &softmax::SOFTMAX_REGRESSION,
    &pa::PA_CLASSIFIER,
    &pa::PA_REGRESSOR,
    &naive_bayes::GAUSSIAN_NB,
    &tree::HOEFFDING_TREE,
    &mf::FUNK_MF,
    &mf::BIASED_MF,
];

/// The entry of the model called `name` (the registry name, River's class name with or
/// without its module, or an alias; case-insensitive).
pub fn find(name: &str) -> Option<&'static ModelEntry> {
    let n = normalise(name);
    MODELS.iter().copied().find(|e| e.is_named(&n))
}

/// The feature models (regressors and classifiers) [`build`] makes.
pub fn feature_models() -> impl Iterator<Item = &'static ModelEntry> {
    MODELS.iter().copied().filter(|e| e.task().is_some())
}

/// The recommenders [`build_recommender`] makes.
pub fn recommenders() -> impl Iterator<Item = &'static ModelEntry> {
    MODELS.iter().copied().filter(|e| e.task().is_none())
}

fn names(entries: impl Iterator<Item = &'static ModelEntry>) -> String {
    entries.map(|e| e.name).collect::<Vec<_>>().join(", ")
}

fn entry_params(e: &ModelEntry) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = e.params().map(|p| p.name).collect();
    if e.task().is_some() {
        v.extend(PREPROCESSING_PARAMS.iter().map(|p| p.name));
    }
    v
}

/// Every parameter `name` accepts, in order (unknown names: `None`).
pub fn accepted_params(name: &str) -> Option<Vec<&'static str>> {
    find(name).map(entry_params)
}

/// The entry of `name`, once every key of `params` is one it accepts.
fn check_names(name: &str, params: &Params) -> Result<&'static ModelEntry, LearnError> {
    let entry = find(name).ok_or_else(|| LearnError::Unknown {
        what: "model",
        name: name.to_string(),
        expected: names(MODELS.iter().copied()),
    })?;
    let accepted = entry_params(entry);
    for k in params.keys() {
        if !accepted.contains(&k.as_str()) {
            return Err(LearnError::Unknown {
                what: "parameter",
                name: format!("{k}` for model `{}", entry.name),
                expected: accepted.join(", "),
            });
        }
    }
    Ok(entry)
}

/// The largest class label accepted (labels index dense per-class state).
pub const MAX_LABEL: f64 = 65_535.0;

/// A model built by name, with its preprocessing: what the CLI and pipeline specs hold.
///
/// Its snapshot state is `{"name", "params", "pipeline": {"preprocessors", "model": {NAME:
/// STATE}}}`, with the model's state under its registry name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnyModel {
    /// The registry name (e.g. `logistic_regression`), also the snapshot kind.
    pub name: String,
    /// The parameters it was built with.
    pub params: Params,
    /// The model behind its preprocessors.
    #[serde(rename = "pipeline")]
    pub preprocessed: Preprocessed<Box<dyn Estimator>>,
}

/// Builds a feature model by River's name with `key=value` parameters (River's argument names).
///
/// Every model also takes `scaler` (`none` (default) | `standard` | `minmax`, River's
/// `StandardScaler` / `MinMaxScaler` in front of the model, on numeric columns) and
/// `categorical` (`onehot` (default) | `hash`, with `n_features` 1024 and `hash_seed` 0 |
/// `ordinal`, category codes in place, nominal attributes for a Hoeffding tree).
pub fn build(name: &str, params: &Params) -> Result<AnyModel, LearnError> {
    let entry = check_names(name, params)?;
    let EntryKind::Features { build, .. } = entry.kind else {
        return Err(LearnError::param(
            "model",
            format!(
                "`{}` is a recommender (user, item, rating); build it with build_recommender",
                entry.name
            ),
        ));
    };
    let model = build(params)?;
    Ok(AnyModel {
        name: entry.name.to_string(),
        params: params.clone(),
        preprocessed: Preprocessed::new(preprocessors(&ParamReader::new(params))?, model)?,
    })
}

fn check_label(entry: &ModelEntry, y: f64) -> Result<f64, LearnError> {
    if !y.is_finite() {
        return Err(LearnError::param(
            "target",
            format!("must be a finite number, got {y}"),
        ));
    }
    if let EntryKind::Features {
        task: Task::Classification,
        binary,
        ..
    } = entry.kind
    {
        let max = if binary { 1.0 } else { MAX_LABEL };
        if y < 0.0 || y.fract() != 0.0 || y > max {
            return Err(LearnError::param(
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
        Some(i) => Err(LearnError::param(
            "features",
            format!("feature {i} is {}, not a finite number", x[i]),
        )),
    }
}

fn check_raw(x: &[RawValue]) -> Result<(), LearnError> {
    for (i, v) in x.iter().enumerate() {
        if let RawValue::Num(n) = v {
            if !n.is_finite() {
                return Err(LearnError::param(
                    "features",
                    format!("column {i} is {n}, not a finite number"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks a snapshot's kind against the model it holds.
fn check_kind(kind: &str, model_name: &str, path: &str) -> Result<(), LearnError> {
    if kind != model_name || find(kind).map(|e| e.name) != Some(kind) {
        return Err(LearnError::Snapshot {
            path: path.to_string(),
            msg: format!("snapshot kind `{kind}` does not match its model `{model_name}`"),
        });
    }
    Ok(())
}

impl AnyModel {
    /// The model's registration.
    pub fn entry(&self) -> &'static ModelEntry {
        self.preprocessed.model.entry()
    }
    pub fn task(&self) -> Task {
        match self.entry().kind {
            EntryKind::Features { task, .. } => task,
            // Only feature models are ever built or loaded as an AnyModel.
            EntryKind::Recommender { .. } => Task::Regression,
        }
    }
    /// Classes known so far (0 for regressors).
    pub fn n_classes(&self) -> usize {
        self.preprocessed.model.class_count()
    }
    /// The model without its preprocessing.
    pub fn estimator(&self) -> &dyn Estimator {
        &*self.preprocessed.model
    }
    /// The model as a `T`, if it is one (e.g. to read a `LogisticRegression`'s weights).
    pub fn downcast_ref<T: Estimator>(&self) -> Option<&T> {
        self.preprocessed.model.downcast_ref()
    }
    /// The model as a `T`, if it is one.
    pub fn downcast_mut<T: Estimator>(&mut self) -> Option<&mut T> {
        self.preprocessed.model.downcast_mut()
    }
    /// A regression value, or the predicted class label as `f64`.
    pub fn predict_one(&self, x: &[f64]) -> f64 {
        self.preprocessed.with_transformed(x, |m, x| m.predict(x))
    }
    /// Class probabilities by label (cleared for regressors).
    pub fn predict_proba_one(&self, x: &[f64], out: &mut Vec<f64>) {
        self.preprocessed
            .with_transformed(x, |m, x| m.predict_proba(x, out))
    }
    /// Learns one example; `y` is the target, or the class label (0, 1, ...) for classifiers.
    /// A non-finite feature or target, or a label the model cannot take, is an error and the
    /// example is not learned.
    pub fn learn_one(&mut self, x: &[f64], y: f64) -> Result<(), LearnError> {
        let y = check_label(self.entry(), y)?;
        check_features(x)?;
        self.preprocessed.learn_transformed(x, |m, x| m.learn(x, y));
        Ok(())
    }
    /// A mini-batch: `xs` row-major with `ys.len()` rows, learned as River's `learn_many`
    /// (the linear models take one step along the batch's mean gradient). Rows that fail
    /// validation are left out; returns how many were learned, or an error if `xs` is not a
    /// whole number of rows. Behind a scaler or an encoder, the rows are learned one at a
    /// time (each updates the preprocessing the next one sees).
    pub fn learn_many(&mut self, xs: &[f64], ys: &[f64]) -> Result<usize, LearnError> {
        if ys.is_empty() {
            return Ok(0);
        }
        let d = xs.len() / ys.len();
        if d * ys.len() != xs.len() {
            return Err(LearnError::param(
                "features",
                format!("{} values do not make {} equal rows", xs.len(), ys.len()),
            ));
        }
        let rows = || xs.chunks_exact(d.max(1)).zip(ys);
        if !self.preprocessed.numeric_passthrough() {
            return Ok(rows()
                .filter(|(x, &y)| self.learn_one(x, y).is_ok())
                .count());
        }
        let entry = self.entry();
        let valid = |x: &[f64], y: f64| check_label(entry, y).is_ok() && check_features(x).is_ok();
        if rows().all(|(x, &y)| valid(x, y)) {
            self.preprocessed.model.learn_many(xs, ys);
            return Ok(ys.len());
        }
        let (mut vx, mut vy) = (Vec::with_capacity(xs.len()), Vec::with_capacity(ys.len()));
        for (x, &y) in rows().filter(|(x, &y)| valid(x, y)) {
            vx.extend_from_slice(x);
            vy.push(y);
        }
        self.preprocessed.model.learn_many(&vx, &vy);
        Ok(vy.len())
    }
    /// Multiplies the model's learning rate by `factor`; `false` for a model without one.
    pub fn scale_learning_rate(&mut self, factor: f64) -> bool {
        self.preprocessed.model.scale_learning_rate(factor)
    }
    /// As [`predict_one`](Self::predict_one) for a row of numbers and categories.
    pub fn predict_raw(&self, x: &[RawValue]) -> f64 {
        self.preprocessed.with_raw(x, |m, x| m.predict(x))
    }
    pub fn predict_proba_raw(&self, x: &[RawValue], out: &mut Vec<f64>) {
        self.preprocessed
            .with_raw(x, |m, x| m.predict_proba(x, out))
    }
    pub fn learn_raw(&mut self, x: &[RawValue], y: f64) -> Result<(), LearnError> {
        let y = check_label(self.entry(), y)?;
        check_raw(x)?;
        if self.preprocessed.codes_categories() {
            for (j, v) in x.iter().enumerate() {
                if matches!(v, RawValue::Cat(_)) {
                    self.preprocessed.model.set_nominal(j);
                }
            }
        }
        self.preprocessed.learn_raw(x, |m, x| m.learn(x, y));
        Ok(())
    }

    pub fn to_snapshot_string(&self) -> Result<String, LearnError> {
        self.check_diverged()?;
        snapshot::to_string(&self.name, self)
    }
    /// [`LearnError::Diverged`] if a weight (or any number in the state) is infinite or
    /// NaN: the model can no longer predict, nor be saved.
    pub fn check_diverged(&self) -> Result<(), LearnError> {
        diverged(self.estimator())?;
        snapshot::check_finite(self)
    }
    pub fn from_snapshot_str(text: &str) -> Result<Self, LearnError> {
        let (kind, m): (String, AnyModel) = snapshot::from_str(text, None)?;
        check_kind(&kind, &m.name, "<memory>")?;
        Ok(m)
    }
    pub fn save(&self, path: &std::path::Path) -> Result<(), LearnError> {
        self.check_diverged()?;
        snapshot::save(path, &self.name, self)
    }
    pub fn load(path: &std::path::Path) -> Result<Self, LearnError> {
        let (kind, m): (String, AnyModel) = snapshot::load(path, None)?;
        check_kind(&kind, &m.name, &path.display().to_string())?;
        Ok(m)
    }
}

/// [`LearnError::Diverged`] naming the estimator's first infinite or NaN number.
fn diverged(e: &dyn Estimator) -> Result<(), LearnError> {
    match e.non_finite() {
        Some((at, value)) => Err(LearnError::Diverged {
            at: format!("{}.{at}", e.entry().name),
            value,
        }),
        None => Ok(()),
    }
}

/// A recommender built by name. Its snapshot state is `{NAME: STATE}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AnyRecommender(Box<dyn Recommender>);

impl PartialEq for AnyRecommender {
    fn eq(&self, other: &Self) -> bool {
        *self.0 == *other.0
    }
}

/// Builds `funk_mf` / `biased_mf` (River's `reco.FunkMF` / `reco.BiasedMF`): `n_factors` 10,
/// the optimizer parameters (for the latent factors; default SGD 0.01), `init_sigma` 0.1,
/// `clip_gradient` 1e12, `seed` 0; FunkMF `l2` 0; BiasedMF `l2_latent` 0, `l2_bias` 0 and
/// `bias_lr` 0.01 (its bias optimizer is SGD).
pub fn build_recommender(name: &str, params: &Params) -> Result<AnyRecommender, LearnError> {
    let entry = check_names(name, params)?;
    match entry.kind {
        EntryKind::Recommender { build, .. } => Ok(AnyRecommender(build(params)?)),
        EntryKind::Features { .. } => Err(LearnError::param(
            "model",
            format!(
                "`{}` is not a recommender; expected one of {}",
                entry.name,
                names(recommenders())
            ),
        )),
    }
}

impl AnyRecommender {
    pub fn name(&self) -> &'static str {
        self.0.entry().name
    }
    /// The model as a `T`, if it is one.
    pub fn downcast_ref<T: Recommender>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
    pub fn predict_one(&self, user: u64, item: u64) -> f64 {
        self.0.predict_one(user, item)
    }
    pub fn learn_one(&mut self, user: u64, item: u64, y: f64) -> Result<(), LearnError> {
        if !y.is_finite() {
            return Err(LearnError::param(
                "target",
                format!("must be a finite number, got {y}"),
            ));
        }
        self.0.learn_one(user, item, y);
        Ok(())
    }
    pub fn rank(&self, user: u64, items: &[u64]) -> Vec<u64> {
        self.0.rank(user, items)
    }
    pub fn save(&self, path: &std::path::Path) -> Result<(), LearnError> {
        self.check_diverged()?;
        snapshot::save(path, self.name(), self)
    }
    pub fn load(path: &std::path::Path) -> Result<Self, LearnError> {
        let (kind, m): (String, AnyRecommender) = snapshot::load(path, None)?;
        check_kind(&kind, m.name(), &path.display().to_string())?;
        Ok(m)
    }
    /// [`LearnError::Diverged`] if a factor or bias is infinite or NaN.
    pub fn check_diverged(&self) -> Result<(), LearnError> {
        match self.0.non_finite() {
            Some((at, value)) => Err(LearnError::Diverged {
                at: format!("{}.{at}", self.name()),
                value,
            }),
            None => Ok(()),
        }
    }
    pub fn to_snapshot_string(&self) -> Result<String, LearnError> {
        self.check_diverged()?;
        snapshot::to_string(self.name(), self)
    }
    pub fn from_snapshot_str(text: &str) -> Result<Self, LearnError> {
        let (kind, m): (String, AnyRecommender) = snapshot::from_str(text, None)?;
        check_kind(&kind, m.name(), "<memory>")?;
        Ok(m)
    }
}

// Snapshot state of a model: `{NAME: STATE}`, NAME its registry name (the layout of the enums
// that listed the models before the registry had entries, so older files load).

/// Writes `{name: state}`. A diverged state (`non_finite`: where, and the value) is refused
/// rather than written with its infinities as `null`.
fn serialize_named<S: Serializer>(
    name: &str,
    non_finite: Option<(String, String)>,
    state: Result<serde_json::Value, serde_json::Error>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if let Some((at, value)) = non_finite {
        let e = LearnError::Diverged {
            at: format!("{name}.{at}"),
            value,
        };
        return Err(ser::Error::custom(e));
    }
    let state = state.map_err(ser::Error::custom)?;
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(name, &state)?;
    map.end()
}

/// Reads `{name: state}` and restores it with the `load` that `pick` finds in the entry called
/// `name` (`None`: an entry of the other kind).
fn deserialize_named<'de, D: Deserializer<'de>, T: ?Sized>(
    deserializer: D,
    pick: fn(&ModelEntry) -> Option<LoadFn<T>>,
) -> Result<Box<T>, D::Error> {
    struct Named<T: ?Sized>(fn(&ModelEntry) -> Option<LoadFn<T>>);
    impl<'de, T: ?Sized> Visitor<'de> for Named<T> {
        type Value = Box<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map from a model name to its state")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Box<T>, A::Error> {
            let Some(name) = map.next_key::<String>()? else {
                return Err(de::Error::custom("no model in the map"));
            };
            let pick = self.0;
            let load = MODELS
                .iter()
                .find(|e| e.name == name)
                .and_then(|e| pick(e))
                .ok_or_else(|| {
                    let known: Vec<&str> = MODELS
                        .iter()
                        .filter(|e| pick(e).is_some())
                        .map(|e| e.name)
                        .collect();
                    de::Error::custom(format_args!(
                        "unknown model `{name}`; expected one of: {}",
                        known.join(", ")
                    ))
                })?;
            let state: serde_json::Value = map.next_value()?;
            if map.next_key::<String>()?.is_some() {
                return Err(de::Error::custom("more than one model in the map"));
            }
            load(state).map_err(de::Error::custom)
        }
    }
    deserializer.deserialize_map(Named(pick))
}

impl Serialize for dyn Estimator {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_named(
            self.entry().name,
            self.non_finite(),
            self.state(),
            serializer,
        )
    }
}

impl<'de> Deserialize<'de> for Box<dyn Estimator> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_named(deserializer, |e| match e.kind {
            EntryKind::Features { load, .. } => Some(load),
            EntryKind::Recommender { .. } => None,
        })
    }
}

impl Serialize for dyn Recommender {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_named(
            self.entry().name,
            self.non_finite(),
            self.state(),
            serializer,
        )
    }
}

impl<'de> Deserialize<'de> for Box<dyn Recommender> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_named(deserializer, |e| match e.kind {
            EntryKind::Recommender { load, .. } => Some(load),
            EntryKind::Features { .. } => None,
        })
    }
}

#[cfg(test)]
mod tests;
