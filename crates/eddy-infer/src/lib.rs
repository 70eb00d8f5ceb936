//! eddy-infer: the model seam. A [`Model`] scores a [`Batch`] of dense feature rows into reusable
//! [`Scores`], and describes itself in Open Inference Protocol terms ([`ModelMetadata`]).
//!
//! Two implementations:
//! - [`native::NativeModel`]: an `eddy-learn` [`AnyModel`](eddy_learn::registry::AnyModel)
//!   loaded from a snapshot (`.json`).
//! - [`onnx::OnnxModel`]: an ONNX file run with tract (`.onnx`), as exported by skl2onnx with
//!   `zipmap=False`.
//!
//! [`load_model`] picks one by file extension. Before any event is read, the pipeline calls
//! [`Model::check_inputs`] with the features it will supply; a wrong name, count or type is
//! refused with an [`InferError`] naming what was expected.
//!
//! # Features, inputs and outputs
//! `metadata().inputs` are the OIP input tensors (batch dimension `-1`). `metadata().features`
//! are the columns of a [`Batch`], in order: a 2-D input `[-1, F]` contributes `F` columns, a
//! `[-1]` or `[-1, 1]` input one column named after the input. Feature names come, in this
//! order, from [`LoadOptions::features`], a sidecar file `<stem>.features.json` next to the
//! model (a JSON array of names), per-feature ONNX inputs, or else `x0..x{F-1}`. A native
//! model with no names and no fixed width declares [`ModelMetadata::features`] empty and
//! `inputs` `[-1, -1]`: it accepts any numeric features (eddy's online models take any width).
//!
//! `metadata().outputs` carry an [`OutputRole`] saying which part of [`Scores`] fills them.

pub mod error;
mod ml_ops;
pub mod native;
pub mod onnx;
mod trees;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use error::InferError;
pub use native::NativeModel;
pub use onnx::OnnxModel;

/// Open Inference Protocol tensor datatypes eddy deals in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    #[serde(rename = "BOOL")]
    Bool,
    #[serde(rename = "INT64")]
    Int64,
    #[serde(rename = "FP32")]
    Fp32,
    #[serde(rename = "FP64")]
    Fp64,
    /// Strings (categorical features); no numeric model input takes them.
    #[serde(rename = "BYTES")]
    Bytes,
}

impl DataType {
    /// The OIP name (`"FP32"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "BOOL",
            DataType::Int64 => "INT64",
            DataType::Fp32 => "FP32",
            DataType::Fp64 => "FP64",
            DataType::Bytes => "BYTES",
        }
    }
    /// Whether a value supplied as `self` may feed a model input declared as `input`.
    /// Numbers widen or narrow between FP32 and FP64, and integers/booleans feed floats;
    /// floats never feed INT64 (the fraction would be lost) and BYTES feeds nothing numeric.
    pub fn feeds(self, input: DataType) -> bool {
        use DataType::*;
        match (self, input) {
            (a, b) if a == b => true,
            (Bool | Int64 | Fp32 | Fp64, Fp32 | Fp64) => true,
            (Bool, Int64) => true,
            _ => false,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OIP tensor description: name, datatype, shape (`-1` = any size, e.g. the batch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<i64>,
}

/// Which part of [`Scores`] fills an output tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputRole {
    /// [`Scores::scores`]: regression value, or the positive-class probability.
    Score,
    /// [`Scores::labels`].
    Label,
    /// [`Scores::probabilities`], `[-1, n_classes]`.
    Probabilities,
}

/// An OIP output tensor and the part of [`Scores`] that fills it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputMetadata {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<i64>,
    pub role: OutputRole,
}

/// One named feature column and its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub name: String,
    pub datatype: DataType,
}

impl FeatureSpec {
    pub fn new(name: impl Into<String>, datatype: DataType) -> Self {
        FeatureSpec {
            name: name.into(),
            datatype,
        }
    }
}

/// What a model is to a pipeline or a server (OIP model metadata plus the feature columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub name: String,
    pub version: String,
    /// `"eddy_native"` or `"onnx_tract"`.
    pub platform: String,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<OutputMetadata>,
    /// Batch columns in order; empty = any number of numeric columns (see crate docs).
    pub features: Vec<FeatureSpec>,
    /// Whether a model is a classifier (labels present) or a regressor.
    pub task: Task,
    /// Classes of a classifier (0 for regressors; for native models, those known at load).
    pub n_classes: usize,
}

/// Regression or classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Regression,
    Classification,
}

/// Row-major dense feature rows: `rows × cols` values.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    data: &'a [f64],
    rows: usize,
}

impl<'a> Batch<'a> {
    /// `data.len()` must be a whole multiple of `rows` (and 0 when `rows` is 0).
    pub fn new(data: &'a [f64], rows: usize) -> Result<Self, InferError> {
        let ok = match data.len().checked_rem(rows) {
            None => data.is_empty(),
            Some(r) => r == 0,
        };
        if !ok {
            return Err(InferError::Batch {
                model: String::new(),
                msg: format!("{} values do not make {rows} equal rows", data.len()),
            });
        }
        Ok(Batch { data, rows })
    }
    /// One row.
    pub fn row(data: &'a [f64]) -> Self {
        Batch { data, rows: 1 }
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.data.len().checked_div(self.rows).unwrap_or(0)
    }
    pub fn data(&self) -> &'a [f64] {
        self.data
    }
    /// Row `i` (panics if out of range, as slice indexing does).
    pub fn get(&self, i: usize) -> &'a [f64] {
        let c = self.cols();
        &self.data[i * c..(i + 1) * c]
    }
}

/// Per-row scores of a batch, reused across calls (cleared and refilled by [`Model::score`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scores {
    /// One per row: regression value, or the positive-class probability (binary), or the
    /// probability of the predicted class (multiclass).
    pub scores: Vec<f64>,
    /// One per row for classifiers; empty for regressors.
    pub labels: Vec<i64>,
    /// Row-major `[rows, n_classes]` for classifiers; empty for regressors.
    pub probabilities: Vec<f64>,
    /// Width of `probabilities` rows (0 for regressors).
    pub n_classes: usize,
}

impl Scores {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn clear(&mut self) {
        self.scores.clear();
        self.labels.clear();
        self.probabilities.clear();
        self.n_classes = 0;
    }
    pub fn len(&self) -> usize {
        self.scores.len()
    }
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
    pub fn score(&self, i: usize) -> Option<f64> {
        self.scores.get(i).copied()
    }
    pub fn label(&self, i: usize) -> Option<i64> {
        self.labels.get(i).copied()
    }
    pub fn proba(&self, i: usize) -> Option<&[f64]> {
        if self.n_classes == 0 {
            return None;
        }
        self.probabilities
            .get(i * self.n_classes..(i + 1) * self.n_classes)
    }
}

/// The result of a successful input check: for each model feature column `j`,
/// `order[j]` is the index of the supplied feature that feeds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputMapping {
    pub order: Vec<usize>,
}

impl InputMapping {
    /// Whether supplied features are already in the model's order (no reordering needed).
    pub fn is_identity(&self) -> bool {
        self.order.iter().enumerate().all(|(j, &i)| i == j)
    }
}

/// A model that scores batches of feature rows. Object-safe; shared across threads by `&self`.
pub trait Model: Send + Sync + fmt::Debug {
    fn metadata(&self) -> &ModelMetadata;

    /// Scores `batch` into `out` (cleared first). `batch.cols()` must equal the number of
    /// declared features (any width when none are declared).
    fn score(&self, batch: Batch<'_>, out: &mut Scores) -> Result<(), InferError>;

    /// Checks the features a pipeline will supply against the model's declared features:
    /// same count, every declared name supplied, every type able to feed its input.
    fn check_inputs(&self, supplied: &[FeatureSpec]) -> Result<InputMapping, InferError> {
        check_features(self.metadata(), supplied)
    }
}

fn names(f: &[FeatureSpec]) -> String {
    let v: Vec<String> = f
        .iter()
        .map(|f| format!("{}: {}", f.name, f.datatype))
        .collect();
    v.join(", ")
}

/// The check behind [`Model::check_inputs`].
pub fn check_features(
    meta: &ModelMetadata,
    supplied: &[FeatureSpec],
) -> Result<InputMapping, InferError> {
    let declared = &meta.features;
    if declared.is_empty() {
        // Any width: only the types are checked, and the order is the pipeline's.
        for f in supplied {
            if !f.datatype.feeds(DataType::Fp64) {
                return Err(InferError::FeatureType {
                    model: meta.name.clone(),
                    name: f.name.clone(),
                    expected: DataType::Fp64,
                    got: f.datatype,
                });
            }
        }
        return Ok(InputMapping {
            order: (0..supplied.len()).collect(),
        });
    }
    if declared.len() != supplied.len() {
        return Err(InferError::FeatureCount {
            model: meta.name.clone(),
            expected: declared.len(),
            expected_names: names(declared),
            got: supplied.len(),
            got_names: names(supplied),
        });
    }
    let mut order = Vec::with_capacity(declared.len());
    for (j, d) in declared.iter().enumerate() {
        let Some(i) = supplied.iter().position(|s| s.name == d.name) else {
            return Err(InferError::MissingFeature {
                model: meta.name.clone(),
                expected: d.name.clone(),
                index: j,
                got_names: names(supplied),
            });
        };
        let s = &supplied[i];
        if !s.datatype.feeds(d.datatype) {
            return Err(InferError::FeatureType {
                model: meta.name.clone(),
                name: d.name.clone(),
                expected: d.datatype,
                got: s.datatype,
            });
        }
        order.push(i);
    }
    Ok(InputMapping { order })
}

/// Options for [`load_model_with`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Feature names in column order; overrides any sidecar or names in the model file.
    pub features: Option<Vec<String>>,
    /// The version reported in metadata (default `"1"`).
    pub version: Option<String>,
}

/// Loads a model by extension: `.onnx` → tract, `.json` → an eddy snapshot (native).
pub fn load_model(path: &Path, name: &str) -> Result<Box<dyn Model>, InferError> {
    load_model_with(path, name, &LoadOptions::default())
}

/// As [`load_model`], with explicit feature names and version.
pub fn load_model_with(
    path: &Path,
    name: &str,
    opts: &LoadOptions,
) -> Result<Box<dyn Model>, InferError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("onnx") => Ok(Box::new(OnnxModel::load(path, name, opts)?)),
        Some("json") => Ok(Box::new(NativeModel::load(path, name, opts)?)),
        _ => Err(InferError::UnknownFormat {
            path: path.display().to_string(),
        }),
    }
}

/// Feature names from the sidecar `<stem>.features.json` next to `path`, if there is one.
pub fn sidecar_features(path: &Path) -> Result<Option<Vec<String>>, InferError> {
    let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
        return Ok(None);
    };
    let side = path.with_file_name(format!("{stem}.features.json"));
    if !side.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&side).map_err(|source| InferError::Io {
        path: side.display().to_string(),
        source,
    })?;
    let names: Vec<String> = serde_json::from_str(&text).map_err(|e| InferError::Snapshot {
        path: side.display().to_string(),
        msg: format!("a features sidecar must be a JSON array of names: {e}"),
    })?;
    Ok(Some(names))
}

/// `x0..x{n-1}`.
pub fn default_feature_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("x{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _object_safe(_: &dyn Model) {}
    fn _send_sync<T: Send + Sync>() {}
    #[test]
    fn box_dyn_model_is_send_sync() {
        _send_sync::<Box<dyn Model>>();
        _send_sync::<std::sync::Arc<dyn Model>>();
    }

    #[test]
    fn batch_shape_is_checked() {
        assert!(Batch::new(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(Batch::new(&[1.0], 0).is_err());
        let b = Batch::new(&[1.0, 2.0, 3.0, 4.0], 2).unwrap();
        assert_eq!(b.cols(), 2);
        assert_eq!(b.get(1), &[3.0, 4.0]);
        assert_eq!(Batch::new(&[], 0).unwrap().cols(), 0);
    }

    #[test]
    fn type_feeding_rules() {
        assert!(DataType::Fp64.feeds(DataType::Fp32));
        assert!(DataType::Int64.feeds(DataType::Fp64));
        assert!(!DataType::Fp64.feeds(DataType::Int64));
        assert!(!DataType::Bytes.feeds(DataType::Fp32));
    }
}
