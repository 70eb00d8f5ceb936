//! The model seam itself: the [`Model`] trait, the [`Batch`] it scores, the [`Scores`] it fills,
//! and the input check a pipeline runs before reading events.

use std::fmt;

use crate::error::InferError;
use crate::metadata::{DataType, FeatureSpec, ModelMetadata};

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
}
