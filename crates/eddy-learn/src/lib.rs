//! eddy-learn: online models, optimizers, preprocessing, drift detectors, metrics and
//! prequential evaluation. No I/O beyond snapshot files.
//!
//! Where River has the same algorithm, eddy uses River's definitions, parameter names and
//! defaults, so the same settings give the same answers; differences are documented on the item.
//!
//! Features are dense `&[f64]` slices (categorical values are turned into numbers by the
//! [`preprocessing`] stage in front of a model), which keeps predict/learn allocation-free.
//! [`tabular`] makes examples of rows of named fields (numbers and categories, labels as
//! written) and runs a registry model over them test-then-train, as `eddy learn` does.
//!
//! # One interface for every model
//!
//! A model scores before it learns (test-then-train), and prediction never changes it.
//! River's defaults (SGD with `lr = 0.01`, `intercept_lr = 0.01`) give this first step by
//! hand: at zero weights `p = 0.5`, the log-loss gradient for `y = 1` is `p - y = -0.5`, so
//! `w = 0 + 0.01 * 0.5 * x = 0.005 * x` and the intercept is `0.005`.
//!
//! ```
//! use eddy_learn::linear::LogisticRegression;
//! use eddy_learn::Classifier;
//!
//! let mut model = LogisticRegression::default();
//! let x = [2.0, -1.0];
//! let mut proba = Vec::new();
//! model.predict_proba_one(&x, &mut proba);
//! assert_eq!(proba, vec![0.5, 0.5]);
//!
//! model.learn_one(&x, 1);
//! model.predict_proba_one(&x, &mut proba);
//! // w = [0.01, -0.005], b = 0.005: w·x + b = 0.02 + 0.005 + 0.005 = 0.03
//! let expected = 1.0 / (1.0 + (-0.03f64).exp());
//! assert!((proba[1] - expected).abs() < 1e-12);
//! assert_eq!(model.predict_one(&x), 1);
//! ```
//!
//! # Drift detectors
//!
//! Every detector takes one value at a time and says `Stable`, `Warning` or `Drift`,
//! resetting itself after a drift:
//!
//! ```
//! use eddy_learn::drift::Adwin;
//! use eddy_learn::{Detector, DriftState};
//!
//! let mut adwin = Adwin::default(); // River's defaults: delta = 0.002, clock = 32
//! let stream = std::iter::repeat(0.0).take(1000).chain(std::iter::repeat(1.0).take(200));
//! let drifts: Vec<usize> = stream
//!     .enumerate()
//!     .filter(|&(_, v)| adwin.update(v) == DriftState::Drift)
//!     .map(|(i, _)| i)
//!     .collect();
//! // The mean jumps at index 1000; ADWIN checks every `clock` values, so it sees it soon after.
//! assert!(!drifts.is_empty() && drifts[0] >= 1000 && drifts[0] < 1000 + 64, "{drifts:?}");
//! ```
//!
//! # Metrics
//!
//! Built by name, as the CLI takes them; `rolling(N):` and `fading(A):` make windowed variants:
//!
//! ```
//! use eddy_learn::metrics;
//! use eddy_learn::Metric;
//!
//! let mut acc = metrics::build("accuracy").unwrap();
//! let mut last2 = metrics::build("rolling(2):accuracy").unwrap();
//! for (y, p) in [(1.0, 1.0), (0.0, 1.0), (1.0, 1.0)] {
//!     acc.update(y, p, None);
//!     last2.update(y, p, None);
//! }
//! assert!((acc.get() - 2.0 / 3.0).abs() < 1e-12);
//! assert!((last2.get() - 0.5).abs() < 1e-12); // the last two: one right, one wrong
//! ```

pub mod ab;
pub mod drift;
pub mod error;
pub mod estimator;
pub mod metrics;
pub mod param;
pub mod prequential;
pub mod registry;
pub mod snapshot;
mod snapshot_check;
pub mod synth;
pub mod tabular;
pub mod traits;

pub use error::LearnError;
pub use traits::{Classifier, Detector, DriftState, Metric, Regressor, Task};

// Models, optimizers, preprocessing and their composition.
pub mod compose;
pub mod linear;
pub mod mf;
pub mod naive_bayes;
pub mod optim;
pub mod pa;
pub mod preprocessing;
pub mod softmax;
pub mod tree;
