//! `ai.onnx.ml` operators that tract-onnx 0.21 does not provide (or provides too slowly), as
//! skl2onnx emits them: `LinearRegressor`, `LinearClassifier`, `Normalizer` and
//! `ArrayFeatureExtractor`, each an expansion into tract core operators (EinSum, Add, Sigmoid,
//! Softmax, ArgMax, lookups), and `TreeEnsembleClassifier`, an op of eddy's own (`trees`); all
//! registered on the ONNX op register before parsing. Semantics follow the ONNX-ML spec as
//! ONNX Runtime implements it; the fixture tests compare against ONNX Runtime's outputs.
//!
//! One file per operator family; `common` holds what they share (the `post_transform`
//! attribute and the classifier shape rules) and depends on none of them. Only [`register`] is
//! seen from outside.

mod array_feature_extractor;
mod common;
mod linear;
mod normalizer;
mod trees;

use tract_onnx::model::OnnxOpRegister;

/// Registers eddy's ONNX-ML operators on `reg` (before a model is parsed).
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("LinearRegressor", linear::linear_regressor);
    reg.insert("LinearClassifier", linear::linear_classifier);
    reg.insert(
        "ArrayFeatureExtractor",
        array_feature_extractor::array_feature_extractor,
    );
    reg.insert("Normalizer", normalizer::normalizer);
    reg.insert("TreeEnsembleClassifier", trees::tree_classifier);
}
