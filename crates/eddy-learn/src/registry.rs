//! Building models by name with string parameters, as the CLI and pipeline specs do.
//!
//! CONTRACT (models helper implements): names follow River's snake_case class names
//! (`linear_regression`, `logistic_regression`, `softmax_regression`, `pa_classifier`,
//! `pa_regressor`, `gaussian_nb`, `hoeffding_tree`), parameters River's argument names
//! (`l2`, `l1`, `intercept_lr`, `clip_gradient`, `optimizer`, `lr`, `C`, `mode`, `grace_period`,
//! `delta`, `tau`, ...). Unknown names or parameters are errors listing what is accepted.

use std::collections::BTreeMap;

/// `key=value` parameters as given on the command line or in a spec.
pub type Params = BTreeMap<String, String>;

/// Whether a model predicts numbers or classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Regression,
    Classification,
}
