//! How a model describes itself, in Open Inference Protocol terms: tensor datatypes, input and
//! output tensors, feature columns and the model's metadata. Plain data (serde), depending on
//! nothing else in the crate.

use std::fmt;

use serde::{Deserialize, Serialize};

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

/// Which part of [`Scores`](crate::Scores) fills an output tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputRole {
    /// [`Scores::scores`](crate::Scores::scores): regression value, or the positive-class
    /// probability.
    Score,
    /// [`Scores::labels`](crate::Scores::labels).
    Label,
    /// [`Scores::probabilities`](crate::Scores::probabilities), `[-1, n_classes]`.
    Probabilities,
}

/// An OIP output tensor and the part of [`Scores`](crate::Scores) that fills it.
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
    /// [`Batch`](crate::Batch) columns in order; empty = any number of numeric columns (see
    /// crate docs).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_feeding_rules() {
        assert!(DataType::Fp64.feeds(DataType::Fp32));
        assert!(DataType::Int64.feeds(DataType::Fp64));
        assert!(!DataType::Fp64.feeds(DataType::Int64));
        assert!(!DataType::Bytes.feeds(DataType::Fp32));
    }
}
