//! The embedded pattern: a model file (ONNX or an eddy snapshot) scored on every per-event
//! row, on the engine thread.

use std::sync::Arc;
use std::time::Instant;

use eddy_core::feature::FeatureSpec;
use eddy_core::row::FeatureRow;
use eddy_infer::{load_model, Batch, Model, Scores};

use super::{gather, resolve_inputs, spec_err, PredictionWriter};
use crate::error::SpecErrors;
use crate::spec::{ModelSpec, OutputFormat};

/// A loaded, checked model plus the reused buffers to score one row. [`Scorer::fork`] gives
/// another thread its own buffers over the same model.
#[derive(Debug)]
pub struct Scorer {
    model: Arc<dyn Model>,
    /// For model column `j`, the index of the pipeline feature that feeds it.
    cols: Vec<usize>,
    row: Vec<f64>,
    /// The rows sent in one call, row-major, and for each candidate row its index there.
    matrix: Vec<f64>,
    which: Vec<u32>,
    /// The batch's [`PredictionWriter::scored_suffix`].
    suffix: Vec<u8>,
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
        let model: Arc<dyn Model> = Arc::from(model);
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
            matrix: Vec::new(),
            which: Vec::new(),
            suffix: Vec::new(),
            cols,
            model,
            scores: Scores::new(),
            pred,
        })
    }

    /// The same model with buffers of its own (to score on another thread).
    pub fn fork(&self) -> Scorer {
        Scorer {
            model: Arc::clone(&self.model),
            cols: self.cols.clone(),
            row: Vec::with_capacity(self.cols.len()),
            matrix: Vec::new(),
            which: Vec::new(),
            suffix: Vec::new(),
            scores: Scores::new(),
            pred: self.pred.clone(),
        }
    }

    pub fn model(&self) -> &dyn Model {
        &*self.model
    }

    /// Scores, in one model call, every row `rows[i]` (`i < n`) with `wanted(i)`; appends each
    /// such row's fragment to `out` and, for every `i`, where its fragment ends to `ends`
    /// (an empty fragment: not wanted). Each prediction's `latency_us` is that call's
    /// duration: how long the row waited for the model. A row with a null input is not sent.
    pub fn score_batch(
        &mut self,
        rows: &[FeatureRow],
        n: usize,
        wanted: impl Fn(usize) -> bool,
        out: &mut Vec<u8>,
        ends: &mut Vec<usize>,
    ) -> ScoreCounts {
        self.matrix.clear();
        self.which.clear();
        let mut sent = 0u32;
        for (i, row) in rows.iter().enumerate().take(n) {
            self.which.push(if !wanted(i) {
                NOT_WANTED
            } else if gather(row, &self.cols, &mut self.row) {
                self.matrix.extend_from_slice(&self.row);
                sent += 1;
                sent - 1
            } else {
                NULL_INPUT
            });
        }
        let start = Instant::now();
        let scored = sent == 0
            || Batch::new(&self.matrix, sent as usize)
                .and_then(|b| self.model.score(b, &mut self.scores))
                .is_ok();
        let latency = start.elapsed().as_micros() as u64;
        self.pred.scored_suffix(latency, &mut self.suffix);
        let mut counts = ScoreCounts::default();
        for &k in &self.which {
            match k {
                NOT_WANTED => {}
                NULL_INPUT => {
                    counts.null_feature += 1;
                    self.pred.write_unscored(out);
                }
                k => match self.scores.score(k as usize).filter(|_| scored) {
                    Some(score) => {
                        counts.scored += 1;
                        let label = self.scores.label(k as usize);
                        self.pred.write_scored(out, score, label, &self.suffix);
                    }
                    None => {
                        counts.model_error += 1;
                        self.pred.write_unscored(out);
                    }
                },
            }
            ends.push(out.len());
        }
        counts
    }
}

/// [`Scorer::score_batch`]'s marks for rows it does not send.
const NOT_WANTED: u32 = u32::MAX;
const NULL_INPUT: u32 = u32::MAX - 1;

/// What [`Scorer::score_batch`] did with a batch's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoreCounts {
    pub scored: u64,
    /// Not scored: an input feature was null.
    pub null_feature: u64,
    /// Not scored: the model failed (or gave no score).
    pub model_error: u64,
}
