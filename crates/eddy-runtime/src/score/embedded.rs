//! The embedded pattern: a model file (ONNX or an eddy snapshot) scored on every per-event
//! row, on the engine thread.

use std::time::Instant;

use eddy_core::agg::FeatureValue;
use eddy_core::feature::FeatureSpec;
use eddy_infer::{load_model, Batch, Model, Scores};

use super::{gather, resolve_inputs, spec_err, PredictionWriter, Unscored};
use crate::error::SpecErrors;
use crate::spec::{ModelSpec, OutputFormat};

/// A loaded, checked model plus the reused buffers to score one row.
#[derive(Debug)]
pub struct Scorer {
    model: Box<dyn Model>,
    /// For model column `j`, the index of the pipeline feature that feeds it.
    cols: Vec<usize>,
    row: Vec<f64>,
    scores: Scores,
    pred: PredictionWriter,
}

impl Scorer {
    /// Loads `spec.path` and checks that `spec.inputs` (or the model's own feature names)
    /// name numeric features of `features` that the model accepts.
    pub fn new(
        spec: &ModelSpec,
        features: &[FeatureSpec],
        format: OutputFormat,
    ) -> Result<Scorer, SpecErrors> {
        let path = spec
            .path()
            .ok_or_else(|| spec_err("model.pattern", "the embedded pattern needs `path`"))?;
        let model =
            load_model(path, &spec.name).map_err(|e| spec_err("model.path", e.to_string()))?;
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
        let (idx, supplied) = resolve_inputs(&inputs, spec.inputs.is_some(), features)?;
        let mapping = model
            .check_inputs(&supplied)
            .map_err(|e| spec_err(key, e.to_string()))?;
        let cols: Vec<usize> = mapping.order.iter().map(|&i| idx[i]).collect();
        let pred = PredictionWriter::new(format, &spec.field, &spec.name, &meta.version);
        Ok(Scorer {
            row: Vec::with_capacity(cols.len()),
            cols,
            model,
            scores: Scores::new(),
            pred,
        })
    }

    pub fn model(&self) -> &dyn Model {
        &*self.model
    }

    /// Scores `row` and appends `,"prediction":...,"scored":...` to `out`.
    pub fn score(&mut self, row: &[FeatureValue], out: &mut Vec<u8>) -> Result<(), Unscored> {
        if !gather(row, &self.cols, &mut self.row) {
            self.pred.write_unscored(out);
            return Err(Unscored::NullFeature);
        }
        let start = Instant::now();
        let scored = self.model.score(Batch::row(&self.row), &mut self.scores);
        let latency = start.elapsed().as_micros() as u64;
        let score = match (scored, self.scores.score(0)) {
            (Ok(()), Some(s)) => s,
            _ => {
                self.pred.write_unscored(out);
                return Err(Unscored::ModelError);
            }
        };
        self.pred
            .write(out, score, self.scores.label(0), latency, None);
        Ok(())
    }
}
