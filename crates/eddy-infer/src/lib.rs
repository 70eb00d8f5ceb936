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
//!
//! # Modules
//! `metadata` (datatypes and descriptions) depends on nothing; [`error`] on `metadata`; `model`
//! (the trait, batches, scores, the input check) on both; `options` (load options, feature
//! names) on [`error`]; [`native`] and [`onnx`] implement [`Model`]; `load` picks one of them.
//! This root only declares and re-exports.

pub mod error;
mod load;
mod metadata;
mod ml_ops;
mod model;
pub mod native;
pub mod onnx;
mod options;

pub use error::InferError;
pub use load::{load_model, load_model_with};
pub use metadata::{
    DataType, FeatureSpec, ModelMetadata, OutputMetadata, OutputRole, Task, TensorMetadata,
};
pub use model::{check_features, Batch, InputMapping, Model, Scores};
pub use native::NativeModel;
pub use onnx::OnnxModel;
pub use options::{default_feature_names, sidecar_features, LoadOptions};
