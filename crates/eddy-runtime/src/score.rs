//! The embedded inference pattern: a `[model]` scored on every per-event feature row, on the
//! engine thread, with its prediction added to the per-event output after `"features"`.
//!
//! The model is loaded and its inputs checked by [`Scorer::new`], before any event is read.
//! Per event: `"prediction": {"score", "label", "model", "version", "latency_us"}` and
//! `"scored": true`; an event with a null input feature (or one the model fails to score)
//! keeps its row with `"prediction": null, "scored": false`, and the reason is counted.

use std::time::Instant;

use eddy_core::agg::{AggKind, FeatureValue};
use eddy_core::feature::FeatureSpec;
use eddy_infer::{load_model, Batch, DataType, Model, Scores};

use crate::encode::write_f64;
use crate::error::{SpecError, SpecErrors};
use crate::json::write_str;
use crate::spec::ModelSpec;

/// What an event that could not be scored carries after its features.
const UNSCORED: &[u8] = b",\"prediction\":null,\"scored\":false";

/// Why an event was not scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unscored {
    /// An input feature was null for this event.
    NullFeature,
    /// The model returned an error (or no score).
    ModelError,
}

/// A loaded, checked model plus the reused buffers to score one row.
#[derive(Debug)]
pub struct Scorer {
    model: Box<dyn Model>,
    /// For model column `j`, the index of the pipeline feature that feeds it.
    cols: Vec<usize>,
    row: Vec<f64>,
    scores: Scores,
    /// `"model":"<name>","version":"<v>","latency_us":` pre-encoded.
    tail: Vec<u8>,
}

/// The model input type of a feature, or `None` when it is not numeric.
fn feature_type(f: &FeatureSpec) -> Option<DataType> {
    match f.agg {
        AggKind::LastN { .. } => None,
        AggKind::Count | AggKind::DistinctCount { .. } => Some(DataType::Int64),
        _ => Some(DataType::Fp64),
    }
}

fn spec_err(path: impl Into<String>, msg: impl Into<String>) -> SpecErrors {
    SpecErrors(vec![SpecError {
        path: path.into(),
        msg: msg.into(),
    }])
}

impl Scorer {
    /// Loads `spec.path` and checks that `spec.inputs` (or the model's own feature names)
    /// name numeric features of `features` that the model accepts.
    pub fn new(spec: &ModelSpec, features: &[FeatureSpec]) -> Result<Scorer, SpecErrors> {
        let model = load_model(&spec.path, &spec.name)
            .map_err(|e| spec_err("model.path", e.to_string()))?;
        let meta = model.metadata();
        let (inputs, key) = match &spec.inputs {
            Some(i) => (i.clone(), "model.inputs"),
            None if meta.features.is_empty() => {
                return Err(spec_err(
                    "model.inputs",
                    format!(
                        "missing; model `{}` declares no feature names, so list the features it takes, in order",
                        spec.name
                    ),
                ))
            }
            None => (
                meta.features.iter().map(|f| f.name.clone()).collect(),
                "model (its declared features)",
            ),
        };
        let mut errors = Vec::new();
        let mut idx = Vec::with_capacity(inputs.len());
        let mut supplied = Vec::with_capacity(inputs.len());
        for (i, name) in inputs.iter().enumerate() {
            let path = if spec.inputs.is_some() {
                format!("model.inputs[{i}]")
            } else {
                "model.inputs".to_string()
            };
            match features.iter().position(|f| &f.name == name) {
                None => {
                    let known: Vec<&str> = features.iter().map(|f| f.name.as_str()).collect();
                    errors.push(SpecError {
                        path,
                        msg: format!(
                            "`{name}` is not a feature of this spec; expected one of: {}",
                            known.join(", ")
                        ),
                    });
                }
                Some(fi) => match feature_type(&features[fi]) {
                    None => errors.push(SpecError {
                        path,
                        msg: format!("feature `{name}` is not numeric (last_n); a model input must be a number"),
                    }),
                    Some(dt) => {
                        idx.push(fi);
                        supplied.push(eddy_infer::FeatureSpec::new(name.clone(), dt));
                    }
                },
            }
        }
        if !errors.is_empty() {
            return Err(SpecErrors(errors));
        }
        let mapping = model
            .check_inputs(&supplied)
            .map_err(|e| spec_err(key, e.to_string()))?;
        let cols: Vec<usize> = mapping.order.iter().map(|&i| idx[i]).collect();
        let mut tail = Vec::new();
        tail.extend_from_slice(b"\"model\":");
        write_str(&mut tail, spec.name.as_bytes());
        tail.extend_from_slice(b",\"version\":");
        write_str(&mut tail, meta.version.as_bytes());
        tail.extend_from_slice(b",\"latency_us\":");
        Ok(Scorer {
            row: Vec::with_capacity(cols.len()),
            cols,
            model,
            scores: Scores::new(),
            tail,
        })
    }

    pub fn model(&self) -> &dyn Model {
        &*self.model
    }

    /// Scores `row` and appends `,"prediction":...,"scored":...` to `out`.
    pub fn score(&mut self, row: &[FeatureValue], out: &mut Vec<u8>) -> Result<(), Unscored> {
        self.row.clear();
        for &c in &self.cols {
            match row.get(c) {
                Some(FeatureValue::Num(v)) => self.row.push(*v),
                Some(FeatureValue::Int(v)) => self.row.push(*v as f64),
                _ => {
                    out.extend_from_slice(UNSCORED);
                    return Err(Unscored::NullFeature);
                }
            }
        }
        let start = Instant::now();
        let scored = self.model.score(Batch::row(&self.row), &mut self.scores);
        let latency = start.elapsed().as_micros() as u64;
        let score = match (scored, self.scores.score(0)) {
            (Ok(()), Some(s)) => s,
            _ => {
                out.extend_from_slice(UNSCORED);
                return Err(Unscored::ModelError);
            }
        };
        out.extend_from_slice(b",\"prediction\":{\"score\":");
        write_f64(out, score);
        out.extend_from_slice(b",\"label\":");
        match self.scores.label(0) {
            Some(l) => out.extend_from_slice(itoa::Buffer::new().format(l).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b',');
        out.extend_from_slice(&self.tail);
        out.extend_from_slice(itoa::Buffer::new().format(latency).as_bytes());
        out.extend_from_slice(b"},\"scored\":true");
        Ok(())
    }
}
