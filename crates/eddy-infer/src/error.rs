//! Typed errors of the model seam.

use thiserror::Error;

use crate::metadata::DataType;

#[derive(Debug, Error)]
pub enum InferError {
    /// The model file could not be read.
    #[error("model file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file extension does not name a model format eddy can load.
    #[error("model file {path}: unknown format (expected `.onnx` or an eddy snapshot `.json`)")]
    UnknownFormat { path: String },
    /// An eddy snapshot (or its feature sidecar) could not be loaded.
    #[error("native model {path}: {msg}")]
    Snapshot { path: String, msg: String },
    /// The snapshot holds something that is not a feature model (e.g. a recommender).
    #[error("native model {path}: snapshot kind `{kind}` is not a feature model; expected one of: {expected}")]
    WrongKind {
        path: String,
        kind: String,
        expected: String,
    },
    /// An ONNX file could not be parsed, typed, optimised or made runnable by tract.
    #[error("ONNX model {path}: {msg}")]
    Onnx { path: String, msg: String },
    /// The ONNX model's inputs or outputs are not of a shape eddy can map to scores.
    #[error("ONNX model {path}: unsupported signature: {msg}")]
    Signature { path: String, msg: String },
    /// The pipeline supplies a different number of features than the model takes.
    #[error("model `{model}` takes {expected} features ({expected_names}), the pipeline supplies {got} ({got_names})")]
    FeatureCount {
        model: String,
        expected: usize,
        expected_names: String,
        got: usize,
        got_names: String,
    },
    /// A feature the model expects is not supplied.
    #[error("model `{model}` expects feature `{expected}` (input #{index}), which the pipeline does not supply; it supplies: {got_names}")]
    MissingFeature {
        model: String,
        expected: String,
        index: usize,
        got_names: String,
    },
    /// A supplied feature has a type the model input cannot take.
    #[error("model `{model}` feature `{name}` expects {expected}, the pipeline supplies {got}")]
    FeatureType {
        model: String,
        name: String,
        expected: DataType,
        got: DataType,
    },
    /// A batch whose data does not match its declared shape, or the model's width.
    #[error("model `{model}`: bad batch: {msg}")]
    Batch { model: String, msg: String },
    /// Scoring failed inside the model runtime.
    #[error("model `{model}`: scoring failed: {msg}")]
    Scoring { model: String, msg: String },
}
