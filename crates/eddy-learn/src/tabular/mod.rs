//! Examples from rows of named fields — numbers and categories — evaluated test-then-train:
//! what `eddy learn` does with a file's rows, without the file.
//!
//! - [`ExampleEncoder`]: the feature columns of an input (every column but the target, narrowed by
//!   a [`ColumnSpec`]), each typed by its first value ([`ColKind`]: numeric, or categorical
//!   when the value is not a number or the column is declared so), and a row's [`Field`]s
//!   turned into a [`Row`] of [`Cell`]s and a target. A field that does not fit its column
//!   (text in a numeric column, NaN, a missing value without a fill value) makes the row a
//!   [`BadField`], and leaves the encoder as it was.
//! - [`LabelMap`]: a classifier's labels to class numbers — integers as written,
//!   `true`/`false` as 1/0, names in order of first appearance.
//! - [`TabularModel`]: a registry model as a [`Learner`](crate::prequential::Learner) on
//!   [`Row`]s, its preprocessing (scaler, one-hot or hashed categories) applied.
//! - [`PrequentialRun`]: the model, the metrics, the drift detector and the label delay;
//!   one encoded example at a time, each [`Step`] telling whether a drift was found and
//!   whether a metric report is due.
//! - [`Checkpoint`]: what continuing a run needs besides the model (serialisable).
//!
//! No I/O, and no heap allocation per row once the buffers have grown (the encoder, the
//! [`Row`] and the model's scratch space are reused).
//!
//! # Example
//!
//! Five rows of a numeric column `x` and a label `animal`, logistic regression with River's
//! defaults (`lr` = `intercept_lr` = 0.01, weights at 0), accuracy reported every 5 rows.
//! By hand: `cat` is class 0 and `dog` class 1 (first appearance). With `z = w·x + b` the
//! model says `dog` when `z > 0`; a tie (`z = 0`, P = 0.5) is class 0. Learning subtracts
//! `0.01·(P(dog) − y)·x` from `w` and `0.01·(P(dog) − y)` from `b`.
//!
//! 1. `x = 2, cat`: `z = 0`, a tie → cat: **hit**. Learns `y = 0`, `P = 0.5`:
//!    `w = −0.01`, `b = −0.005`.
//! 2. `x = −2, dog`: `z = 0.02 − 0.005 = 0.015 > 0` → dog: **hit**. Learns `y = 1`,
//!    `P ≈ 0.504`: `w ≈ −0.0199`, `b ≈ 0.0000`.
//! 3. `x = 2, cat`: `z ≈ −0.040` → cat: **hit** (`w ≈ −0.0297`, `b ≈ −0.0049` after).
//! 4. `x = −2, dog`: `z ≈ 0.059 − 0.005 > 0` → dog: **hit** (`w ≈ −0.0395`, `b ≈ 0.0000`).
//! 5. `x = 2, dog`: `z ≈ −0.079` → cat: **miss**.
//!
//! Accuracy: 4 of 5 = 0.8.
//!
//! ```
//! use eddy_learn::registry::{self, Params};
//! use eddy_learn::tabular::{build_metrics, ColumnSpec, ExampleEncoder, Field, PrequentialRun, Row};
//! use eddy_learn::{Metric, Task};
//!
//! let header = ["x".to_string(), "animal".to_string()];
//! let mut encoder = ExampleEncoder::new("animal", Task::Classification, &header, &ColumnSpec::default())?;
//! let layout = encoder.layout(&header)?;
//! let model = registry::build("logistic_regression", &Params::new())?;
//! let metrics = build_metrics(&model, &[])?; // accuracy, for a classifier
//! let mut run = PrequentialRun::new(model, metrics, None, 5, 0)?;
//!
//! let mut row = Row::default();
//! let mut reports = Vec::new();
//! for (x, animal) in [("2", "cat"), ("-2", "dog"), ("2", "cat"), ("-2", "dog"), ("2", "dog")] {
//!     let y = encoder.encode(&[Field::Text(x), Field::Text(animal)], &layout, &mut row)?;
//!     let step = run.step(&row, y);
//!     if step.report {
//!         reports.push((step.n, run.metrics()[0].get()));
//!     }
//! }
//! assert_eq!(reports, [(5, 0.8)]);
//! assert_eq!(encoder.labels().label(1.0).as_deref(), Some("dog"));
//! assert_eq!(run.flush(), None); // no label delay: nothing left waiting
//!
//! // A row that does not fit is refused, and names its column.
//! let bad = encoder.encode(&[Field::Text("two"), Field::Text("cat")], &layout, &mut row);
//! assert_eq!(bad.unwrap_err().to_string(), "column `x`: `two` is not a number");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod encode;
mod labels;
mod run;

#[cfg(test)]
mod tests;

pub use encode::{
    trim, BadField, Cell, ColKind, Column, ColumnList, ColumnSpec, ExampleEncoder, Field, Layout,
    Problem, Row, SetupError,
};
pub use labels::{LabelMap, Labels, MAX_CLASS};
pub use run::{
    build_metrics, task_word, Checkpoint, PrequentialRun, RunError, Step, TabularModel,
    CHECKPOINT_SECTION,
};
