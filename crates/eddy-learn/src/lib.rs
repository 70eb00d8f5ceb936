//! eddy-learn: online models, optimizers, preprocessing, drift detectors, metrics and
//! prequential evaluation. No I/O beyond snapshot files.
//!
//! Where River has the same algorithm, eddy uses River's definitions, parameter names and
//! defaults, so the same settings give the same answers; differences are documented on the item.
//!
//! Features are dense `&[f64]` slices (categorical values are turned into numbers by the
//! [`preprocessing`] stage in front of a model), which keeps predict/learn allocation-free.

pub mod drift;
pub mod error;
pub mod metrics;
mod param;
pub mod prequential;
pub mod registry;
pub mod snapshot;
pub mod synth;
pub mod traits;

pub use error::LearnError;
pub use traits::{Classifier, Detector, DriftState, Metric, Regressor};

// Models, optimizers, preprocessing and their composition.
pub mod linear;
pub mod mf;
pub mod naive_bayes;
pub mod optim;
pub mod pa;
pub mod pipeline;
pub mod preprocessing;
pub mod softmax;
pub mod tree;
