//! A model behind its preprocessing: [`Preprocessed`], River's `compose.Pipeline` of
//! preprocessors and a final model (`scaler | model`), and the preprocessing parameters every
//! feature model of the registry takes ([`PREPROCESSING_PARAMS`]).
//!
//! River's semantics: on `learn_one`, each unsupervised preprocessor first learns from the
//! example and then transforms it, and the model learns from the result; on predict, the
//! preprocessors only transform. Scalers act on the numeric columns (positions `0..n_columns`,
//! 0.0 at categorical columns); an encoder (at most one) appends the categorical encoding
//! after them, or (the ordinal encoder) writes category codes in the categorical columns'
//! places (see [`crate::preprocessing`]).
//!
//! With no preprocessors and numeric input, the model sees the caller's slice directly; else the
//! transformed row lives in a reused thread-local buffer (no allocation per example once warm,
//! except one-hot encoders learning a new category).

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::param::{ParamReader, ParamSpec};
use crate::preprocessing::{
    FeatureHasher, MinMaxScaler, OneHotEncoder, OrdinalEncoder, RawValue, StandardScaler,
};
use crate::traits::{Classifier, Regressor};

/// The preprocessing parameters every feature model of the registry takes.
pub const PREPROCESSING_PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "scaler",
        "none",
        "`none`, `standard` (River's StandardScaler) or `minmax` (MinMaxScaler), on numeric columns",
    ),
    ParamSpec::new(
        "categorical",
        "onehot",
        "categorical columns: `onehot` (River's OneHotEncoder), `hash` (FeatureHasher) or `ordinal` (OrdinalEncoder; nominal attributes of a Hoeffding tree)",
    ),
    ParamSpec::new("n_features", "1024", "hashed slots (categorical=hash only)"),
    ParamSpec::new("hash_seed", "0", "hash seed (categorical=hash only)"),
];

/// The preprocessors [`PREPROCESSING_PARAMS`] ask for: the scaler, if any, then the encoder.
pub fn preprocessors(r: &ParamReader) -> Result<Vec<Preprocessor>, LearnError> {
    let mut v = Vec::new();
    match r.choice("scaler", "none", &["none", "standard", "minmax"])? {
        "standard" => v.push(Preprocessor::StandardScaler(StandardScaler::default())),
        "minmax" => v.push(Preprocessor::MinMaxScaler(MinMaxScaler::default())),
        _ => {}
    }
    match r.choice("categorical", "onehot", &["onehot", "hash", "ordinal"])? {
        "hash" => v.push(Preprocessor::FeatureHasher(FeatureHasher::new(
            r.usize("n_features", 1024)?,
            r.u64("hash_seed", 0)?,
        )?)),
        other => {
            if r.contains("n_features") || r.contains("hash_seed") {
                return Err(LearnError::param(
                    "n_features",
                    "applies only with categorical=hash",
                ));
            }
            v.push(if other == "ordinal" {
                Preprocessor::OrdinalEncoder(OrdinalEncoder::default())
            } else {
                Preprocessor::OneHotEncoder(OneHotEncoder::default())
            });
        }
    }
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Preprocessor {
    StandardScaler(StandardScaler),
    MinMaxScaler(MinMaxScaler),
    OneHotEncoder(OneHotEncoder),
    FeatureHasher(FeatureHasher),
    OrdinalEncoder(OrdinalEncoder),
}

impl Preprocessor {
    fn is_encoder(&self) -> bool {
        matches!(
            self,
            Preprocessor::OneHotEncoder(_)
                | Preprocessor::FeatureHasher(_)
                | Preprocessor::OrdinalEncoder(_)
        )
    }
}

/// A model behind its preprocessors: River's `compose.Pipeline(*preprocessors, model)`. (Not
/// to be confused with the runtime's `Pipeline`, eddy's streaming pipeline of operators.)
/// Serialised as `{"preprocessors": [...], "model": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessed<M> {
    pub preprocessors: Vec<Preprocessor>,
    pub model: M,
}

thread_local! {
    static BUF: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Numeric columns of a raw row (0.0 at categorical columns).
fn numeric_part(x: &[RawValue], buf: &mut Vec<f64>) {
    buf.clear();
    buf.extend(x.iter().map(|v| match v {
        RawValue::Num(n) => *n,
        RawValue::Cat(_) => 0.0,
    }));
}

impl<M> Preprocessed<M> {
    /// Checks that at most one encoder is present.
    pub fn new(preprocessors: Vec<Preprocessor>, model: M) -> Result<Self, LearnError> {
        if preprocessors.iter().filter(|p| p.is_encoder()).count() > 1 {
            return Err(LearnError::param(
                "categorical",
                "at most one categorical encoder per pipeline",
            ));
        }
        Ok(Preprocessed {
            preprocessors,
            model,
        })
    }

    /// Transforms `buf` (holding the numeric columns) in place and appends the encoding of the
    /// categorical columns of `raw` (numeric-only input, `raw == None`, has nothing to encode);
    /// learns first when `learn` (River's order).
    fn run(preps: &mut [Preprocessor], raw: Option<&[RawValue]>, buf: &mut Vec<f64>, learn: bool) {
        let n = buf.len();
        for p in preps.iter_mut() {
            match p {
                Preprocessor::StandardScaler(s) => {
                    if learn {
                        s.learn_one(&buf[..n]);
                    }
                    s.transform_in_place(&mut buf[..n]);
                }
                Preprocessor::MinMaxScaler(s) => {
                    if learn {
                        s.learn_one(&buf[..n]);
                    }
                    s.transform_in_place(&mut buf[..n]);
                }
                Preprocessor::OneHotEncoder(e) => {
                    if let Some(raw) = raw {
                        if learn {
                            e.learn_one(raw);
                        }
                        append(buf, e.n_outputs(), |out| e.transform(raw, out));
                    }
                }
                Preprocessor::FeatureHasher(h) => {
                    if let Some(raw) = raw {
                        append(buf, h.n_outputs(), |out| h.transform(raw, out));
                    }
                }
                Preprocessor::OrdinalEncoder(e) => {
                    if let Some(raw) = raw {
                        if learn {
                            e.learn_one(raw);
                        }
                        e.transform_in_place(raw, &mut buf[..n]);
                    }
                }
            }
        }
    }

    fn run_ro(&self, raw: Option<&[RawValue]>, buf: &mut Vec<f64>) {
        // Read-only pass: the same code path on a borrowed view (no learning).
        let n = buf.len();
        for p in &self.preprocessors {
            match p {
                Preprocessor::StandardScaler(s) => s.transform_in_place(&mut buf[..n]),
                Preprocessor::MinMaxScaler(s) => s.transform_in_place(&mut buf[..n]),
                Preprocessor::OneHotEncoder(e) => {
                    if let Some(raw) = raw {
                        append(buf, e.n_outputs(), |out| e.transform(raw, out));
                    }
                }
                Preprocessor::FeatureHasher(h) => {
                    if let Some(raw) = raw {
                        append(buf, h.n_outputs(), |out| h.transform(raw, out));
                    }
                }
                Preprocessor::OrdinalEncoder(e) => {
                    if let Some(raw) = raw {
                        e.transform_in_place(raw, &mut buf[..n]);
                    }
                }
            }
        }
    }

    /// Whether categorical columns reach the model as codes in their own place (an ordinal
    /// encoder), so the model may treat those positions as nominal.
    pub fn codes_categories(&self) -> bool {
        self.preprocessors
            .iter()
            .any(|p| matches!(p, Preprocessor::OrdinalEncoder(_)))
    }

    /// True when numeric input passes through unchanged (no scalers; encoders only act on
    /// categorical values, which numeric rows do not have).
    pub fn numeric_passthrough(&self) -> bool {
        self.preprocessors.iter().all(Preprocessor::is_encoder)
    }

    /// Applies the model's read-only function to the transformed numeric row.
    pub fn with_transformed<R>(&self, x: &[f64], f: impl FnOnce(&M, &[f64]) -> R) -> R {
        if self.numeric_passthrough() {
            return f(&self.model, x);
        }
        BUF.with(|b| {
            let mut buf = b.take();
            buf.clear();
            buf.extend_from_slice(x);
            self.run_ro(None, &mut buf);
            let r = f(&self.model, &buf);
            b.replace(buf);
            r
        })
    }

    /// Learns the preprocessors from `x`, then applies `f` (the model's learning step).
    pub fn learn_transformed(&mut self, x: &[f64], f: impl FnOnce(&mut M, &[f64])) {
        if self.numeric_passthrough() {
            return f(&mut self.model, x);
        }
        BUF.with(|b| {
            let mut buf = b.take();
            buf.clear();
            buf.extend_from_slice(x);
            Self::run(&mut self.preprocessors, None, &mut buf, true);
            f(&mut self.model, &buf);
            b.replace(buf);
        })
    }

    /// As [`with_transformed`](Self::with_transformed) for a raw row.
    pub fn with_raw<R>(&self, x: &[RawValue], f: impl FnOnce(&M, &[f64]) -> R) -> R {
        BUF.with(|b| {
            let mut buf = b.take();
            numeric_part(x, &mut buf);
            self.run_ro(Some(x), &mut buf);
            let r = f(&self.model, &buf);
            b.replace(buf);
            r
        })
    }

    /// As [`learn_transformed`](Self::learn_transformed) for a raw row.
    pub fn learn_raw(&mut self, x: &[RawValue], f: impl FnOnce(&mut M, &[f64])) {
        BUF.with(|b| {
            let mut buf = b.take();
            numeric_part(x, &mut buf);
            Self::run(&mut self.preprocessors, Some(x), &mut buf, true);
            f(&mut self.model, &buf);
            b.replace(buf);
        })
    }
}

impl<M: Regressor> Regressor for Preprocessed<M> {
    fn predict_one(&self, x: &[f64]) -> f64 {
        self.with_transformed(x, |m, x| m.predict_one(x))
    }
    fn learn_one(&mut self, x: &[f64], y: f64) {
        self.learn_transformed(x, |m, x| m.learn_one(x, y))
    }
}

impl<M: Classifier> Classifier for Preprocessed<M> {
    fn n_classes(&self) -> usize {
        self.model.n_classes()
    }
    fn predict_proba_one(&self, x: &[f64], out: &mut Vec<f64>) {
        self.with_transformed(x, |m, x| m.predict_proba_one(x, out))
    }
    fn predict_one(&self, x: &[f64]) -> usize {
        self.with_transformed(x, |m, x| m.predict_one(x))
    }
    fn learn_one(&mut self, x: &[f64], y: usize) {
        self.learn_transformed(x, |m, x| m.learn_one(x, y))
    }
}

/// Appends `n` slots to `buf` and lets an encoder fill them.
fn append(buf: &mut Vec<f64>, n: usize, fill: impl FnOnce(&mut [f64])) {
    let start = buf.len();
    buf.resize(start + n, 0.0);
    fill(&mut buf[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::LinearRegression;

    #[test]
    fn scaler_learns_before_transforming_on_learn_only() {
        // River: learn_one updates the scaler, then the model sees the scaled value.
        let mut p = Preprocessed::new(
            vec![Preprocessor::StandardScaler(StandardScaler::default())],
            LinearRegression::default(),
        )
        .unwrap();
        // First example: mean 1, var 0 -> scaled 0; model: p = 0, g = 2 (0 - 1) = -2,
        // intercept = 0.02, weight stays 0 (x = 0).
        p.learn_one(&[1.0], 1.0);
        // Second example: x = 3: mean 2, var 1 -> scaled 1; p = 0.02, g = 2 (0.02 - 3) = -5.96
        // intercept = 0.02 + 0.0596 = 0.0796; w = 0.0596.
        p.learn_one(&[3.0], 3.0);
        assert!((p.model.glm.intercept - 0.0796).abs() < 1e-15);
        assert!((p.model.glm.weights[0] - 0.0596).abs() < 1e-15);
        let before = p.clone();
        // Predict at x = 4: scaled (4 - 2) / 1 = 2 -> 0.0796 + 0.1192 = 0.1988; no learning.
        assert!((p.predict_one(&[4.0]) - 0.1988).abs() < 1e-12);
        assert_eq!(before, p);
    }

    #[test]
    fn raw_rows_with_one_hot() {
        let mut p = Preprocessed::new(
            vec![
                Preprocessor::MinMaxScaler(MinMaxScaler::default()),
                Preprocessor::OneHotEncoder(OneHotEncoder::default()),
            ],
            LinearRegression::default(),
        )
        .unwrap();
        // y = 2 * [colour == red] + x (x in 0..10, scaled to [0, 1] by min-max)
        let colours = ["red", "green", "blue"];
        for i in 0..30_000 {
            let c = colours[i % 3];
            let x = (i % 11) as f64;
            let y = if c == "red" { 2.0 } else { 0.0 } + x / 10.0;
            p.learn_raw(&[RawValue::Num(x), RawValue::Cat(c)], |m, x| {
                m.learn_one(x, y)
            });
        }
        let pred = |c: &str, x: f64| {
            p.with_raw(&[RawValue::Num(x), RawValue::Cat(c)], |m, x| {
                m.predict_one(x)
            })
        };
        assert!(
            (pred("red", 5.0) - 2.5).abs() < 0.05,
            "{}",
            pred("red", 5.0)
        );
        assert!((pred("blue", 10.0) - 1.0).abs() < 0.05);
        assert!(Preprocessed::new(
            vec![
                Preprocessor::OneHotEncoder(OneHotEncoder::default()),
                Preprocessor::FeatureHasher(FeatureHasher::default()),
            ],
            LinearRegression::default(),
        )
        .is_err());
    }

    #[test]
    fn ordinal_codes_in_place_as_river() {
        // River's OrdinalEncoder: codes from 1 in order of first appearance per column, 0 for
        // a category not seen while learning; numbers pass through.
        let mut p = Preprocessed::new(
            vec![Preprocessor::OrdinalEncoder(OrdinalEncoder::default())],
            LinearRegression::default(),
        )
        .unwrap();
        let mut seen = Vec::new();
        for (c, d) in [("b", "x"), ("a", "x"), ("b", "y")] {
            let row = [RawValue::Cat(c), RawValue::Num(7.0), RawValue::Cat(d)];
            p.learn_raw(&row, |_, x| seen.push(x.to_vec()));
        }
        assert_eq!(
            seen,
            [[1.0, 7.0, 1.0], [2.0, 7.0, 1.0], [1.0, 7.0, 2.0]].map(|r| r.to_vec())
        );
        let row = [RawValue::Cat("z"), RawValue::Num(3.0), RawValue::Cat("y")];
        assert_eq!(p.with_raw(&row, |_, x| x.to_vec()), [0.0, 3.0, 2.0]);
        assert!(p.codes_categories());
    }
}
