//! Loading a model file: the implementation is picked by extension.

use std::path::Path;

use crate::error::InferError;
use crate::model::Model;
use crate::native::NativeModel;
use crate::onnx::OnnxModel;
use crate::options::LoadOptions;

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
