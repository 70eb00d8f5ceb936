//! Native models: an `eddy-learn` [`AnyModel`] loaded from a snapshot, behind the seam.
//!
//! Feature names come from [`LoadOptions::features`](crate::LoadOptions), else from a sidecar
//! `<stem>.features.json` (a JSON array of names) next to the snapshot, else — for a model
//! `eddy learn --save` trained on the per-event output of `eddy run` — from the columns it
//! learned (`features.x` is feature `x`; `eddy learn` orders a JSONL file's columns by name,
//! so the names, not the order, say which value goes where), else none are declared and
//! the model takes any number of numeric columns (eddy's online models accept any width). Values are passed to
//! the model as they are (FP64); non-finite values are not rejected here.

use std::cell::RefCell;
use std::path::Path;

use eddy_learn::registry::{self, AnyModel};

use crate::error::InferError;
use crate::metadata::{
    DataType, FeatureSpec, ModelMetadata, OutputMetadata, OutputRole, Task, TensorMetadata,
};
use crate::model::{Batch, Model, Scores};
use crate::options::{sidecar_features, LoadOptions};

/// The platform name native models report.
pub const PLATFORM: &str = "eddy_native";

/// An `eddy-learn` model (with its preprocessing) scoring through the seam.
#[derive(Debug, Clone)]
pub struct NativeModel {
    meta: ModelMetadata,
    model: AnyModel,
}

thread_local! {
    static PROBA: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

impl NativeModel {
    /// Wraps a model; `features` are the column names in order (`None`: any width).
    pub fn new(model: AnyModel, name: &str, version: &str, features: Option<Vec<String>>) -> Self {
        let task = match model.task() {
            eddy_learn::Task::Regression => Task::Regression,
            eddy_learn::Task::Classification => Task::Classification,
        };
        let n_classes = if task == Task::Classification {
            model.n_classes().max(2)
        } else {
            0
        };
        let features: Vec<FeatureSpec> = features
            .unwrap_or_default()
            .into_iter()
            .map(|n| FeatureSpec::new(n, DataType::Fp64))
            .collect();
        let width = if features.is_empty() {
            -1
        } else {
            features.len() as i64
        };
        let mut outputs = vec![OutputMetadata {
            name: "score".into(),
            datatype: DataType::Fp64,
            shape: vec![-1],
            role: OutputRole::Score,
        }];
        if task == Task::Classification {
            outputs.push(OutputMetadata {
                name: "label".into(),
                datatype: DataType::Int64,
                shape: vec![-1],
                role: OutputRole::Label,
            });
            outputs.push(OutputMetadata {
                name: "probabilities".into(),
                datatype: DataType::Fp64,
                shape: vec![-1, n_classes as i64],
                role: OutputRole::Probabilities,
            });
        }
        NativeModel {
            meta: ModelMetadata {
                name: name.to_string(),
                version: version.to_string(),
                platform: PLATFORM.into(),
                inputs: vec![TensorMetadata {
                    name: "input".into(),
                    datatype: DataType::Fp64,
                    shape: vec![-1, width],
                }],
                outputs,
                features,
                task,
                n_classes,
            },
            model,
        }
    }

    /// Loads an eddy snapshot file (see the module docs for feature names).
    pub fn load(path: &Path, name: &str, opts: &LoadOptions) -> Result<Self, InferError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| InferError::Io {
            path: p.clone(),
            source,
        })?;
        // Look at the envelope first so a snapshot of something else gets a clear error.
        let env: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| InferError::Snapshot {
                path: p.clone(),
                msg: format!("not JSON: {e}"),
            })?;
        let kind = env.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if env.get("format").and_then(|f| f.as_str()) == Some(eddy_learn::snapshot::FORMAT)
            && !registry::feature_models().any(|m| m.name == kind)
        {
            let expected: Vec<&str> = registry::feature_models().map(|m| m.name).collect();
            return Err(InferError::WrongKind {
                path: p,
                kind: kind.to_string(),
                expected: expected.join(", "),
            });
        }
        let model = AnyModel::from_snapshot_str(&text).map_err(|e| InferError::Snapshot {
            path: p.clone(),
            msg: e.to_string(),
        })?;
        let features = match &opts.features {
            Some(f) => Some(f.clone()),
            None => sidecar_features(path)?.or_else(|| learned_features(&env)),
        };
        let version = opts.version.as_deref().unwrap_or("1");
        Ok(Self::new(model, name, version, features))
    }

    /// The wrapped model.
    pub fn inner(&self) -> &AnyModel {
        &self.model
    }
}

impl Model for NativeModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.meta
    }

    fn score(&self, batch: Batch<'_>, out: &mut Scores) -> Result<(), InferError> {
        out.clear();
        let want = self.meta.features.len();
        if want != 0 && batch.rows() > 0 && batch.cols() != want {
            return Err(InferError::Batch {
                model: self.meta.name.clone(),
                msg: format!("rows have {} values, the model takes {want}", batch.cols()),
            });
        }
        let rows = batch.rows();
        let cols = batch.cols();
        let data = batch.data();
        out.scores.reserve(rows);
        match self.meta.task {
            Task::Regression => {
                for r in 0..rows {
                    let x = &data[r * cols..(r + 1) * cols];
                    out.scores.push(self.model.predict_one(x));
                }
            }
            Task::Classification => {
                let c = self.meta.n_classes;
                out.n_classes = c;
                out.labels.reserve(rows);
                out.probabilities.reserve(rows * c);
                PROBA.with(|buf| {
                    let mut p = buf.borrow_mut();
                    for r in 0..rows {
                        let x = &data[r * cols..(r + 1) * cols];
                        self.model.predict_proba_one(x, &mut p);
                        p.resize(c, 0.0);
                        let label = self.model.predict_one(x);
                        let li = if label.is_finite() && label >= 0.0 {
                            label as i64
                        } else {
                            0
                        };
                        let score = if c == 2 {
                            p[1]
                        } else {
                            p.get(li as usize).copied().unwrap_or(0.0)
                        };
                        out.scores.push(score);
                        out.labels.push(li);
                        out.probabilities.extend_from_slice(&p);
                    }
                });
            }
        }
        Ok(())
    }
}

/// The feature columns `eddy learn --save` recorded, when every one is a numeric column of
/// `eddy run`'s per-event output (`features.NAME`): the names of the pipeline features.
fn learned_features(env: &serde_json::Value) -> Option<Vec<String>> {
    let columns = env
        .get(eddy_learn::tabular::CHECKPOINT_SECTION)?
        .get("encoder")?
        .get("columns")?
        .as_array()?;
    let names: Option<Vec<String>> = columns
        .iter()
        .map(|c| {
            let numeric =
                c.get("kind")?.as_str()? == "Numeric" && !c.get("force_categorical")?.as_bool()?;
            let name = c.get("name")?.as_str()?.strip_prefix("features.")?;
            numeric.then(|| name.to_string())
        })
        .collect();
    names.filter(|n| !n.is_empty())
}
