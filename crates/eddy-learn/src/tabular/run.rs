//! A registry model scored and trained on [`Row`]s, test-then-train, with metrics, a drift
//! detector and a label delay.

use std::cell::Cell as Scratch;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{ExampleEncoder, Row};
use crate::drift::AnyDetector;
use crate::error::LearnError;
use crate::metrics::{self, StreamMetric};
use crate::preprocessing::RawValue;
use crate::prequential::{class_scores_padded, Event, Learner, Prequential};
use crate::registry::AnyModel;
use crate::traits::{Detector, Task};

/// A registry model as a [`Learner`] on [`Row`]s: the cells go to the model as raw values
/// (numbers and categories), so its preprocessing (`scaler`, `categorical=onehot|hash|ordinal`)
/// applies. A label the model refuses is not learned, and counted.
pub struct TabularModel {
    model: AnyModel,
    refused: u64,
    /// Raw values of a row with categories, the allocation kept from row to row.
    scratch: Scratch<Vec<RawValue<'static>>>,
}

impl TabularModel {
    pub fn new(model: AnyModel) -> Self {
        TabularModel {
            model,
            refused: 0,
            scratch: Scratch::new(Vec::new()),
        }
    }

    pub fn model(&self) -> &AnyModel {
        &self.model
    }

    /// The model, to learn a mini-batch or scale its learning rate.
    pub fn model_mut(&mut self) -> &mut AnyModel {
        &mut self.model
    }

    pub fn into_model(self) -> AnyModel {
        self.model
    }

    /// Labels the model refused to learn (none when the rows come from an [`ExampleEncoder`] of the
    /// model's task).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Calls `f` with the row as raw values.
    #[inline]
    fn with_raw<R>(&self, row: &Row, f: impl FnOnce(&AnyModel, &[RawValue]) -> R) -> R {
        if let Some(nums) = row.numeric() {
            return f(&self.model, nums);
        }
        let mut raw = relabel(self.scratch.take());
        raw.extend(row.cells().iter().map(super::Cell::raw));
        let r = f(&self.model, &raw);
        self.scratch.set(relabel(raw));
        r
    }
}

/// Empties a vector of raw values so that its allocation can hold values borrowed for
/// another lifetime.
fn relabel<'b>(mut v: Vec<RawValue<'_>>) -> Vec<RawValue<'b>> {
    v.clear();
    v.into_iter().map(|_| RawValue::Num(0.0)).collect()
}

impl Learner<Row> for TabularModel {
    fn task(&self) -> Task {
        self.model.task()
    }

    fn score(&self, x: &Row, buf: &mut Vec<f64>) -> (f64, Option<f64>) {
        self.with_raw(x, |m, x| match m.task() {
            Task::Regression => (m.predict_raw(x), None),
            Task::Classification => {
                m.predict_proba_raw(x, buf);
                class_scores_padded(buf)
            }
        })
    }

    fn learn(&mut self, x: &Row, y: f64) {
        let refused = if let Some(nums) = x.numeric() {
            self.model.learn_raw(nums, y).is_err()
        } else {
            let mut raw = relabel(self.scratch.take());
            raw.extend(x.cells().iter().map(super::Cell::raw));
            let refused = self.model.learn_raw(&raw, y).is_err();
            self.scratch.set(relabel(raw));
            refused
        };
        if refused {
            self.refused += 1;
        }
    }
}

/// Why a [`PrequentialRun`] cannot be set up.
#[derive(Debug, Error)]
pub enum RunError {
    /// A metric spec that does not parse.
    #[error(transparent)]
    Metric(#[from] LearnError),
    #[error("metric `{spec}` is for {} but `{model}` is a {}", task_word(*.metric_task), task_word(*.model_task))]
    MetricTask {
        spec: String,
        metric_task: Task,
        model: String,
        model_task: Task,
    },
    #[error("detector `{detector}` watches 0/1 mistakes; a regressor's errors are real numbers: use adwin, page_hinkley or kswin")]
    BinaryDetector { detector: &'static str },
}

/// `regression` or `classification`.
pub fn task_word(t: Task) -> &'static str {
    match t {
        Task::Regression => "regression",
        Task::Classification => "classification",
    }
}

/// The metrics of a run of `model`: `specs` as [`metrics::build`] takes them, or with none
/// [`PrequentialRun::default_metrics`]. Each must be for the model's task.
pub fn build_metrics(model: &AnyModel, specs: &[String]) -> Result<Vec<StreamMetric>, RunError> {
    let task = model.task();
    let defaults: Vec<String>;
    let specs = if specs.is_empty() {
        defaults = PrequentialRun::default_metrics(task)
            .iter()
            .map(|s| s.to_string())
            .collect();
        &defaults
    } else {
        specs
    };
    let mut ms = Vec::with_capacity(specs.len());
    for s in specs {
        let m: StreamMetric = metrics::build(s)?;
        if m.kind().task() != task {
            return Err(RunError::MetricTask {
                spec: s.clone(),
                metric_task: m.kind().task(),
                model: model.name.clone(),
                model_task: task,
            });
        }
        ms.push(m);
    }
    Ok(ms)
}

/// What a step of a [`PrequentialRun`] brought.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Examples scored so far.
    pub n: u64,
    /// A label arrived, and the detector warned (DDM, EDDM) on the model's error.
    pub warning: bool,
    /// A label arrived, and the detector found a drift (and reset itself).
    pub drift: bool,
    /// The metrics are due for a report (every `every` examples scored): their values are
    /// [`PrequentialRun::metrics`].
    pub report: bool,
}

/// The prequential loop of a registry model over encoded rows: each example is scored,
/// then — at once, or `delay` examples later — the metrics and the detector see the
/// prediction and the model learns the example (see [`crate::prequential`]).
pub struct PrequentialRun {
    model: TabularModel,
    preq: Prequential<Row>,
}

impl PrequentialRun {
    /// The metrics a run reports when none are asked for: `accuracy` for classifiers, `mae`
    /// and `rmse` for regressors.
    pub fn default_metrics(task: Task) -> &'static [&'static str] {
        match task {
            Task::Classification => &["accuracy"],
            Task::Regression => &["mae", "rmse"],
        }
    }

    /// A run of `model`, reporting `metrics` (see [`build_metrics`]) every `every` examples
    /// (0: never), `detector` fed the model's errors, each example learned `delay` examples
    /// after it is scored. Metrics must be for the model's task, and a detector of 0/1
    /// mistakes is for classifiers only.
    pub fn new(
        model: AnyModel,
        metrics: Vec<StreamMetric>,
        detector: Option<AnyDetector>,
        every: u64,
        delay: usize,
    ) -> Result<Self, RunError> {
        let task = model.task();
        if let Some(m) = metrics.iter().find(|m| m.kind().task() != task) {
            return Err(RunError::MetricTask {
                spec: m.label().to_string(),
                metric_task: m.kind().task(),
                model: model.name.clone(),
                model_task: task,
            });
        }
        if let Some(d) = &detector {
            if d.is_binary() && task == Task::Regression {
                return Err(RunError::BinaryDetector { detector: d.name() });
            }
        }
        Ok(PrequentialRun {
            model: TabularModel::new(model),
            preq: Prequential::new(metrics, detector, every, delay),
        })
    }

    /// Scores one example, then lets through the label that is due (metrics, detector,
    /// learning): this example's without a delay.
    pub fn step(&mut self, row: &Row, y: f64) -> Step {
        let mut step = Step::default();
        self.preq
            .step(&mut self.model, row, y, &mut |e| note(&mut step, e));
        step.n = self.preq.n();
        step
    }

    /// At the end of the stream: lets the next label still waiting arrive; `None` when
    /// none is left. (Call until `None`.)
    pub fn flush(&mut self) -> Option<Step> {
        let mut step = Step::default();
        if !self
            .preq
            .reveal_next(&mut self.model, &mut |e| note(&mut step, e))
        {
            return None;
        }
        step.n = self.preq.n();
        Some(step)
    }

    pub fn task(&self) -> Task {
        self.model.model.task()
    }

    /// Examples scored so far.
    pub fn n(&self) -> u64 {
        self.preq.n()
    }

    /// Examples learned so far.
    pub fn n_learned(&self) -> u64 {
        self.preq.n_learned()
    }

    /// Drifts found so far.
    pub fn n_drifts(&self) -> u64 {
        self.preq.n_drifts()
    }

    /// The metrics over the labels arrived so far.
    pub fn metrics(&self) -> &[StreamMetric] {
        self.preq.metrics()
    }

    pub fn detector(&self) -> Option<&AnyDetector> {
        self.preq.detector()
    }

    pub fn model(&self) -> &AnyModel {
        self.model.model()
    }

    /// Labels the model refused to learn.
    pub fn refused(&self) -> u64 {
        self.model.refused()
    }

    /// The model and the detector, e.g. to save them.
    pub fn into_parts(self) -> (AnyModel, Option<AnyDetector>) {
        let detector = self.preq.detector().cloned();
        (self.model.into_model(), detector)
    }
}

fn note(step: &mut Step, e: Event) {
    match e {
        Event::Report { .. } => step.report = true,
        Event::Warning { .. } => step.warning = true,
        Event::Drift { .. } => step.drift = true,
    }
}

/// What continuing a run needs besides the model: the encoder (column types, label
/// numbering), the detector and the count of examples learned. `eddy learn` saves it as
/// the [`CHECKPOINT_SECTION`] section of the model's snapshot.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Checkpoint {
    pub encoder: ExampleEncoder,
    pub detector: Option<AnyDetector>,
    /// Examples learned over every run so far.
    pub examples_total: u64,
}

/// The top-level key of a model snapshot holding a [`Checkpoint`].
pub const CHECKPOINT_SECTION: &str = "eddy_learn";
