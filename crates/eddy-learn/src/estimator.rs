//! What the [`registry`](crate::registry) knows of a model: a [`ModelEntry`] declared in the
//! model's own module (name, River counterpart, parameters, how to build and restore it), and
//! the object-safe [`Estimator`] / [`Recommender`] traits through which the registry drives
//! whichever model an entry built.
//!
//! Adding a model takes its module (the model, its `impl Estimator` and its `ModelEntry`) and
//! one line in [`registry::MODELS`](crate::registry::MODELS).
//!
//! ```
//! use eddy_learn::estimator::EntryKind;
//! use eddy_learn::registry;
//! use eddy_learn::Task;
//!
//! let entry = registry::find("LogisticRegression").unwrap(); // River's class name works too
//! assert_eq!(entry.name, "logistic_regression");
//! assert_eq!(entry.river, "linear_model.LogisticRegression");
//! assert!(matches!(entry.kind, EntryKind::Features { task: Task::Classification, .. }));
//! let lr = entry.params().find(|p| p.name == "lr").unwrap();
//! assert_eq!(lr.default, "0.01");
//! ```

use std::any::Any;
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::LearnError;
use crate::param::{ParamSpec, Params};
use crate::traits::Task;

/// Builds a model from its parameters (already checked against the entry's list).
pub type BuildFn<T> = fn(&Params) -> Result<Box<T>, LearnError>;
/// Restores a model from the `state` of its snapshot.
pub type LoadFn<T> = fn(serde_json::Value) -> Result<Box<T>, serde_json::Error>;

/// A model's registration: everything the registry needs to build it by name, check its
/// parameters and restore it from a snapshot. Declared as a `static` next to the model.
#[derive(Debug)]
pub struct ModelEntry {
    /// The registry name: River's class name in snake_case (`logistic_regression`). Also the
    /// snapshot kind of the model's files.
    pub name: &'static str,
    /// River's class, as `module.Class` (`linear_model.LogisticRegression`). Its class name
    /// (case-insensitive, with or without the module) is accepted as a name too.
    pub river: &'static str,
    /// More accepted names (normalised: lower case, `_` for `-` and `.`).
    pub aliases: &'static [&'static str],
    /// The accepted parameters, in groups (the model's own, shared ones such as the
    /// optimizer's). Feature models also take [`crate::compose::PREPROCESSING_PARAMS`].
    pub params: &'static [&'static [ParamSpec]],
    pub kind: EntryKind,
}

/// What an entry builds.
#[derive(Debug)]
pub enum EntryKind {
    /// A model on feature rows: a regressor or a classifier.
    Features {
        task: Task,
        /// A binary classifier: labels 0 and 1 only.
        binary: bool,
        build: BuildFn<dyn Estimator>,
        load: LoadFn<dyn Estimator>,
    },
    /// A recommender on `(user, item, rating)` triples.
    Recommender {
        build: BuildFn<dyn Recommender>,
        load: LoadFn<dyn Recommender>,
    },
}

impl ModelEntry {
    /// The task of a feature model (`None` for recommenders).
    pub fn task(&self) -> Option<Task> {
        match self.kind {
            EntryKind::Features { task, .. } => Some(task),
            EntryKind::Recommender { .. } => None,
        }
    }

    /// Every parameter of the entry's own groups, in order (without the preprocessing ones).
    pub fn params(&self) -> impl Iterator<Item = &'static ParamSpec> {
        self.params.iter().flat_map(|g| g.iter())
    }

    /// Whether `normalised` (see [`normalise`]) names this model: its name, its River class
    /// (with or without the module) or an alias.
    pub fn is_named(&self, normalised: &str) -> bool {
        let class = self.river.rsplit('.').next().unwrap_or(self.river);
        normalised == self.name
            || normalised.eq_ignore_ascii_case(class)
            || normalised == normalise(self.river)
            || self.aliases.contains(&normalised)
    }
}

/// Lower case, with `_` for `-` and `.`, and without a leading `linear_model_`.
pub fn normalise(name: &str) -> String {
    let n = name.to_ascii_lowercase().replace(['-', '.'], "_");
    match n.strip_prefix("linear_model_") {
        Some(rest) => rest.to_string(),
        None => n,
    }
}

/// A model on dense feature rows as the registry drives it: one interface for regressors and
/// classifiers. Models implement [`crate::Regressor`] or [`crate::Classifier`] for direct use,
/// and this trait (a few lines forwarding to those) to be built by name.
pub trait Estimator: EstimatorObject + Debug + Send + Sync {
    /// The model's registration.
    fn entry(&self) -> &'static ModelEntry;
    /// A regression value, or the predicted class label as `f64`.
    fn predict(&self, x: &[f64]) -> f64;
    /// Class probabilities by label (regressors: `out` is cleared).
    fn predict_proba(&self, _x: &[f64], out: &mut Vec<f64>) {
        out.clear();
    }
    /// Learns one example; a classifier's `y` is a valid class label (checked by the caller).
    fn learn(&mut self, x: &[f64], y: f64);
    /// A mini-batch, `xs` row-major with `ys.len()` rows (labels checked by the caller):
    /// River's `learn_many`, one step along the mean gradient for the linear models, one
    /// example after the other for the rest.
    fn learn_many(&mut self, xs: &[f64], ys: &[f64]) {
        let d = xs.len().checked_div(ys.len()).unwrap_or(0);
        for (x, &y) in xs.chunks_exact(d.max(1)).zip(ys) {
            self.learn(x, y);
        }
    }
    /// Classes known so far (0 for regressors).
    fn class_count(&self) -> usize {
        0
    }
    /// Multiplies the learning rate by `factor` (a drift's boost); `false` for a model
    /// without one.
    fn scale_learning_rate(&mut self, _factor: f64) -> bool {
        false
    }
    /// Feature `position` holds category codes (an ordinal encoder in front): a model that
    /// can, treats it as nominal. Called with every row that has a category there.
    fn set_nominal(&mut self, _position: usize) {}
}

/// `impl Estimator` for a [`crate::traits::Classifier`] registered as `$entry` (a label is a
/// class number), or with `regressor` for a [`crate::traits::Regressor`]; a third argument
/// names the model's [`crate::linear::Glm`] field, whose learning rate a boost scales.
macro_rules! impl_estimator {
    (classifier $ty:ty, $entry:expr $(, $glm:ident)?) => {
        impl $crate::estimator::Estimator for $ty {
            fn entry(&self) -> &'static $crate::estimator::ModelEntry {
                &$entry
            }
            fn predict(&self, x: &[f64]) -> f64 {
                $crate::traits::Classifier::predict_one(self, x) as f64
            }
            fn predict_proba(&self, x: &[f64], out: &mut Vec<f64>) {
                $crate::traits::Classifier::predict_proba_one(self, x, out)
            }
            fn learn(&mut self, x: &[f64], y: f64) {
                $crate::traits::Classifier::learn_one(self, x, y as usize)
            }
            fn learn_many(&mut self, xs: &[f64], ys: &[f64]) {
                let ys: Vec<usize> = ys.iter().map(|&y| y as usize).collect();
                $crate::traits::Classifier::learn_many(self, xs, &ys)
            }
            fn class_count(&self) -> usize {
                $crate::traits::Classifier::n_classes(self)
            }
            $(fn scale_learning_rate(&mut self, factor: f64) -> bool {
                self.$glm.scale_rates(factor);
                true
            })?
        }
    };
    (regressor $ty:ty, $entry:expr $(, $glm:ident)?) => {
        impl $crate::estimator::Estimator for $ty {
            fn entry(&self) -> &'static $crate::estimator::ModelEntry {
                &$entry
            }
            fn predict(&self, x: &[f64]) -> f64 {
                $crate::traits::Regressor::predict_one(self, x)
            }
            fn learn(&mut self, x: &[f64], y: f64) {
                $crate::traits::Regressor::learn_one(self, x, y)
            }
            fn learn_many(&mut self, xs: &[f64], ys: &[f64]) {
                $crate::traits::Regressor::learn_many(self, xs, ys)
            }
            $(fn scale_learning_rate(&mut self, factor: f64) -> bool {
                self.$glm.scale_rates(factor);
                true
            })?
        }
    };
}
pub(crate) use impl_estimator;

/// The object-safe parts of a model trait (`$model`) that every `Clone + PartialEq +
/// Serialize` model gets for free, through `$object`: clone, equality and downcasting of the
/// boxed trait object, its snapshot state, and `$load`, a registry entry's `load` for a `T`.
/// [`Estimator`] and [`Recommender`] are the same in all of this but their names.
macro_rules! model_object {
    ($model:ident, $object:ident, $load:ident, $kind:literal) => {
        #[doc = concat!("The parts of [`", stringify!($model), "`] that every `Clone + PartialEq + Serialize` model gets for free.")]
        pub trait $object: Any {
            fn clone_box(&self) -> Box<dyn $model>;
            fn eq_dyn(&self, other: &dyn $model) -> bool;
            /// The model's state, as its snapshot holds it.
            fn state(&self) -> Result<serde_json::Value, serde_json::Error>;
            /// The first infinite or NaN number in the state (its path, and `inf`/`-inf`/`NaN`):
            /// [`state`](Self::state) would turn it into a `null` no load accepts.
            fn non_finite(&self) -> Option<(String, String)>;
            fn as_any(&self) -> &dyn Any;
            fn as_any_mut(&mut self) -> &mut dyn Any;
        }

        impl<T: $model + Clone + PartialEq + Serialize> $object for T {
            fn clone_box(&self) -> Box<dyn $model> {
                Box::new(self.clone())
            }
            fn eq_dyn(&self, other: &dyn $model) -> bool {
                other.as_any().downcast_ref::<T>() == Some(self)
            }
            fn state(&self) -> Result<serde_json::Value, serde_json::Error> {
                serde_json::to_value(self)
            }
            fn non_finite(&self) -> Option<(String, String)> {
                crate::snapshot_check::first_non_finite(self).ok().flatten()
            }
            fn as_any(&self) -> &dyn Any {
                self
            }
            fn as_any_mut(&mut self) -> &mut dyn Any {
                self
            }
        }

        impl dyn $model {
            /// The concrete model, if it is a `T`.
            pub fn downcast_ref<T: $model>(&self) -> Option<&T> {
                self.as_any().downcast_ref()
            }
            /// The concrete model, if it is a `T`.
            pub fn downcast_mut<T: $model>(&mut self) -> Option<&mut T> {
                self.as_any_mut().downcast_mut()
            }
        }

        impl Clone for Box<dyn $model> {
            fn clone(&self) -> Self {
                self.clone_box()
            }
        }

        impl PartialEq for dyn $model {
            fn eq(&self, other: &Self) -> bool {
                self.eq_dyn(other)
            }
        }

        #[doc = concat!("An [`EntryKind::", $kind, "`] `load`: the state deserialised as a `T`.")]
        pub fn $load<T: $model + DeserializeOwned>(
            state: serde_json::Value,
        ) -> Result<Box<dyn $model>, serde_json::Error> {
            Ok(Box::new(serde_json::from_value::<T>(state)?))
        }
    };
}

model_object!(Estimator, EstimatorObject, load_estimator, "Features");

/// A recommender (River's `reco` models) as the registry drives it: ratings of
/// `(user, item)` pairs, ids as `u64` (see [`crate::mf::str_id`]).
pub trait Recommender: RecommenderObject + Debug + Send + Sync {
    /// The model's registration.
    fn entry(&self) -> &'static ModelEntry;
    fn predict_one(&self, user: u64, item: u64) -> f64;
    /// Learns one rating (finite; checked by the caller).
    fn learn_one(&mut self, user: u64, item: u64, y: f64);
    /// `items` sorted by decreasing predicted rating for `user` (ties keep their order).
    fn rank(&self, user: u64, items: &[u64]) -> Vec<u64> {
        let mut scored: Vec<(f64, u64)> = items
            .iter()
            .map(|&i| (self.predict_one(user, i), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().map(|(_, i)| i).collect()
    }
}

model_object!(
    Recommender,
    RecommenderObject,
    load_recommender,
    "Recommender"
);
