//! The baseline arm: a frozen model (ONNX, or an eddy-learn snapshot) that an A/B comparison
//! measures the online model against, scored on the same inputs. Its inputs are checked
//! against the pipeline's features before any event is read.

use std::sync::Arc;

use eddy_core::feature::FeatureSpec;
use eddy_infer::{load_model, Batch, Model, Scores};
use eddy_learn::Task;

use crate::error::SpecErrors;
use crate::score::{resolve_inputs, spec_err};
use crate::spec::BaselineSpec;

pub struct Baseline {
    model: Arc<dyn Model>,
    name: String,
    /// For model column `j`, the position among the online model's inputs that feeds it.
    cols: Vec<usize>,
    row: Vec<f64>,
    scores: Scores,
    task: Task,
}

impl Baseline {
    /// `online_inputs`: the online model's numeric inputs, by feature name, in order — the
    /// baseline is given the same numbers, in its own order.
    pub fn new(
        spec: &BaselineSpec,
        online_inputs: &[String],
        features: &[FeatureSpec],
        task: Task,
    ) -> Result<Baseline, SpecErrors> {
        let name = spec
            .path
            .file_stem()
            .map_or("baseline".into(), |s| s.to_string_lossy().into_owned());
        let model: Arc<dyn Model> = Arc::from(
            load_model(&spec.path, &name)
                .map_err(|e| spec_err("learn.baseline.path", e.to_string()))?,
        );
        let meta = model.metadata();
        let (names, key) = match &spec.inputs {
            Some(i) => (i.clone(), "learn.baseline.inputs"),
            None if !meta.features.is_empty() => (
                meta.features.iter().map(|f| f.name.clone()).collect(),
                "learn.baseline (its declared features)",
            ),
            None => (
                online_inputs.to_vec(),
                "learn.baseline (the online model's inputs)",
            ),
        };
        let (idx, supplied) =
            resolve_inputs(&names, spec.inputs.is_some(), features).map_err(|mut e| {
                for x in &mut e.0 {
                    x.path = x.path.replace("model.inputs", "learn.baseline.inputs");
                }
                e
            })?;
        let mapping = model
            .check_inputs(&supplied)
            .map_err(|e| spec_err(key, e.to_string()))?;
        // each baseline input must be one of the online model's (the numbers kept per
        // example are those)
        let mut cols = Vec::with_capacity(mapping.order.len());
        for &j in &mapping.order {
            let feature = &features[idx[j]].name;
            match online_inputs.iter().position(|n| n == feature) {
                Some(p) => cols.push(p),
                None => {
                    return Err(spec_err(
                        key,
                        format!("`{feature}` is not one of the online model's inputs (learn.inputs); the baseline is scored on those"),
                    ))
                }
            }
        }
        let is_classifier = meta.task == eddy_infer::Task::Classification;
        if is_classifier != (task == Task::Classification) {
            return Err(spec_err(
                "learn.baseline.path",
                format!(
                    "`{}` is a {} and the online model a {}",
                    spec.path.display(),
                    if is_classifier {
                        "classifier"
                    } else {
                        "regressor"
                    },
                    eddy_learn::tabular::task_word(task)
                ),
            ));
        }
        Ok(Baseline {
            model,
            name,
            cols,
            row: Vec::new(),
            scores: Scores::new(),
            task,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The baseline's prediction from the online model's inputs `x`: the class (as a
    /// number) and its probability of class 1 for a classifier; the value for a regressor.
    /// `None` when the model fails on the row.
    pub fn score(&mut self, x: &[f64]) -> Option<(f64, Option<f64>)> {
        self.row.clear();
        self.row.extend(self.cols.iter().map(|&c| x[c]));
        self.model
            .score(Batch::row(&self.row), &mut self.scores)
            .ok()?;
        let score = self.scores.score(0)?;
        Some(match self.task {
            Task::Regression => (score, None),
            Task::Classification => (self.scores.label(0)? as f64, Some(score)),
        })
    }
}
