//! Where a model's feature names and version come from when it is loaded: [`LoadOptions`], a
//! sidecar file next to the model, or default names.

use std::path::Path;

use crate::error::InferError;

/// Options for [`load_model_with`](crate::load_model_with).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Feature names in column order; overrides any sidecar or names in the model file.
    pub features: Option<Vec<String>>,
    /// The version reported in metadata (default `"1"`).
    pub version: Option<String>,
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
