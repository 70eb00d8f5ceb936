//! The online arm: a registry model that scores rows and learns them, in mini-batches,
//! watching its own errors with a drift detector and adapting when it finds one.
//!
//! Adaptation, on a drift:
//! - `boost`: the learning rate is multiplied by `factor` for the next `examples` examples
//!   learned (a drift during a boost extends it);
//! - `retrain`: a fresh model is trained on the labelled examples since the drift (kept in
//!   a replay buffer of the last `replay`) but the newest `holdout`, and compared with the
//!   current one on those newest: the fresh model's errors there against the current model's
//!   prequential errors (made before it learned them, so the comparison is fair). Examples
//!   from before the drift are left out: they teach the old concept. The first attempt comes
//!   once `2 × holdout` examples have come since the drift, then one every `holdout`, until
//!   the fresh model wins (it then learns the holdout too, and serves) or `replay` examples
//!   have passed;
//! - `reset`: a fresh model;
//! - `none`: the drift is logged and counted.
//!
//! A fresh model is the one the run started with (its `init` snapshot, or a new model of
//! the spec's name and parameters). A swap or a reset makes a new model version.
//!
//! The model is a feature model over rows, or a recommender (`biased_mf`, `funk_mf`) whose
//! row is two categories: the user and the item.

use std::collections::VecDeque;

use eddy_learn::drift::AnyDetector;
use eddy_learn::error::LearnError;
use eddy_learn::mf::str_id;
use eddy_learn::prequential::Learner;
use eddy_learn::registry::{AnyModel, AnyRecommender};
use eddy_learn::tabular::{Cell, Row, TabularModel};
use eddy_learn::{Detector, DriftState, Task};

use crate::spec::DriftAction;

/// What learning an example brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Learned {
    /// The detector found a drift (and the action ran).
    pub drift: bool,
    /// A retrained model replaced the current one.
    pub swapped: bool,
}

/// What an arm trains.
#[derive(Clone)]
pub enum ArmModel {
    /// A registry model over rows of numbers and categories.
    Features(AnyModel),
    /// A recommender over (user, item): a row's two categories.
    Recommender(AnyRecommender),
}

impl ArmModel {
    pub fn name(&self) -> &str {
        match self {
            ArmModel::Features(m) => &m.name,
            ArmModel::Recommender(r) => r.name(),
        }
    }

    pub fn task(&self) -> Task {
        match self {
            ArmModel::Features(m) => m.task(),
            ArmModel::Recommender(_) => Task::Regression,
        }
    }

    /// The model's snapshot text (an eddy-learn snapshot `init` loads).
    pub fn snapshot_string(&self) -> Result<String, LearnError> {
        match self {
            ArmModel::Features(m) => m.to_snapshot_string(),
            ArmModel::Recommender(r) => r.to_snapshot_string(),
        }
    }

    /// Loads a snapshot of either kind.
    pub fn load(path: &std::path::Path) -> Result<ArmModel, LearnError> {
        match AnyModel::load(path) {
            Ok(m) => Ok(ArmModel::Features(m)),
            Err(e) => AnyRecommender::load(path)
                .map(ArmModel::Recommender)
                .map_err(|_| e),
        }
    }
}

/// An [`ArmModel`] in training.
enum Trained {
    Features(TabularModel),
    Recommender(AnyRecommender),
}

/// A recommender's user and item ids: the row's two categories.
fn user_item(row: &Row) -> (u64, u64) {
    let id = |c: Option<&Cell>| match c {
        Some(Cell::Cat(s)) => str_id(s),
        _ => 0,
    };
    (id(row.cells().first()), id(row.cells().get(1)))
}

impl Trained {
    fn new(m: ArmModel) -> Trained {
        match m {
            ArmModel::Features(m) => Trained::Features(TabularModel::new(m)),
            ArmModel::Recommender(r) => Trained::Recommender(r),
        }
    }

    fn score(&self, row: &Row, buf: &mut Vec<f64>) -> (f64, Option<f64>) {
        match self {
            Trained::Features(m) => m.score(row, buf),
            Trained::Recommender(r) => {
                let (u, i) = user_item(row);
                (r.predict_one(u, i), None)
            }
        }
    }

    /// Learns one example; `false` when the model refused its label.
    fn learn(&mut self, row: &Row, y: f64) -> bool {
        match self {
            Trained::Features(m) => {
                let before = m.refused();
                m.learn(row, y);
                m.refused() == before
            }
            Trained::Recommender(r) => {
                let (u, i) = user_item(row);
                r.learn_one(u, i, y).is_ok()
            }
        }
    }

    fn features_mut(&mut self) -> Option<&mut AnyModel> {
        match self {
            Trained::Features(m) => Some(m.model_mut()),
            Trained::Recommender(_) => None,
        }
    }

    fn snapshot_string(&self) -> Result<String, LearnError> {
        match self {
            Trained::Features(m) => m.model().to_snapshot_string(),
            Trained::Recommender(r) => r.to_snapshot_string(),
        }
    }
}

/// One labelled example kept for a retrain, with the current model's prequential error.
#[derive(Clone, Default)]
struct Replayed {
    row: Row,
    y: f64,
    error: f64,
}

pub struct OnlineArm {
    model: Trained,
    /// What a reset or a retrain starts from.
    fresh: ArmModel,
    task: Task,
    pub version: u64,
    batch_size: usize,
    batch_interval: Option<i64>,
    /// The mini-batch being collected: its rows (reused), targets, and its first example's
    /// event time.
    batch: Vec<Row>,
    batch_ys: Vec<f64>,
    batch_len: usize,
    batch_since: i64,
    /// Scratch for a numeric mini-batch's matrix.
    xs: Vec<f64>,
    detector: Option<AnyDetector>,
    action: DriftAction,
    boost_left: u64,
    /// The last labelled examples (a ring), for `retrain`.
    replay: VecDeque<Replayed>,
    /// Examples learned since the drift that asked for a retrain, while it is due.
    retrain_due: Option<u64>,
    pub drifts: u64,
    pub actions: u64,
    pub swaps: u64,
    /// Labels the model refused (a class beyond its range).
    pub refused: u64,
    buf: Vec<f64>,
}

impl OnlineArm {
    pub fn new(
        model: ArmModel,
        version: u64,
        batch_size: usize,
        batch_interval: Option<i64>,
        detector: Option<AnyDetector>,
        action: DriftAction,
    ) -> Self {
        let task = model.task();
        let replay_cap = match action {
            DriftAction::Retrain { replay, .. } => replay,
            _ => 0,
        };
        OnlineArm {
            fresh: model.clone(),
            model: Trained::new(model),
            task,
            version,
            batch_size,
            batch_interval,
            batch: Vec::new(),
            batch_ys: Vec::new(),
            batch_len: 0,
            batch_since: 0,
            xs: Vec::new(),
            detector,
            action,
            boost_left: 0,
            replay: VecDeque::with_capacity(replay_cap),
            retrain_due: None,
            drifts: 0,
            actions: 0,
            swaps: 0,
            refused: 0,
            buf: Vec::new(),
        }
    }

    pub fn task(&self) -> Task {
        self.task
    }

    /// The drift action's name, for the learning log.
    pub fn action_name(&self) -> &'static str {
        match self.action {
            DriftAction::None => "none",
            DriftAction::Boost { .. } => "boost",
            DriftAction::Retrain { .. } => "retrain",
            DriftAction::Reset => "reset",
        }
    }

    pub fn name(&self) -> &str {
        self.fresh.name()
    }

    /// The model's snapshot text.
    pub fn snapshot_string(&self) -> Result<String, LearnError> {
        self.model.snapshot_string()
    }

    /// The prediction for `row`: the class (or value), and the probability of class 1 for a
    /// binary classifier (else of the predicted class).
    pub fn score(&mut self, row: &Row) -> (f64, Option<f64>) {
        self.model.score(row, &mut self.buf)
    }

    /// The error a detector and a retrain compare: a mistake (0/1) for a classifier, the
    /// absolute error for a regressor.
    pub fn error(&self, y: f64, pred: f64) -> f64 {
        match self.task {
            Task::Classification => f64::from(u8::from(pred != y)),
            Task::Regression => (y - pred).abs(),
        }
    }

    /// A labelled example: `pred` is what this model said when it scored it (at event time
    /// `ts`). The detector sees its error; the example joins the mini-batch, which is learned
    /// when full.
    pub fn learn(&mut self, row: &Row, y: f64, pred: f64, ts: i64) -> Learned {
        let mut out = Learned::default();
        let error = self.error(y, pred);
        if let DriftAction::Retrain { replay, .. } = self.action {
            if self.replay.len() == replay {
                let mut old = self.replay.pop_front().unwrap_or_default();
                old.row.clone_from(row);
                old.y = y;
                old.error = error;
                self.replay.push_back(old);
            } else {
                self.replay.push_back(Replayed {
                    row: row.clone(),
                    y,
                    error,
                });
            }
        }
        if self.batch_len == 0 {
            self.batch_since = ts;
        }
        if self.batch.len() == self.batch_len {
            self.batch.push(row.clone());
            self.batch_ys.push(y);
        } else {
            self.batch[self.batch_len].clone_from(row);
            self.batch_ys[self.batch_len] = y;
        }
        self.batch_len += 1;
        if self.batch_len >= self.batch_size {
            self.learn_batch();
        }
        if let Some(d) = &mut self.detector {
            if d.update(error) == DriftState::Drift {
                out.drift = true;
                self.drifts += 1;
                self.on_drift();
            }
        }
        if let (Some(since), DriftAction::Retrain { replay, holdout }) =
            (&mut self.retrain_due, self.action)
        {
            *since += 1;
            let since = *since as usize;
            let attempt = since >= 2 * holdout && since.is_multiple_of(holdout);
            let give_up = since >= replay;
            if attempt && self.retrain(since, holdout) {
                out.swapped = true;
                self.retrain_due = None;
            } else if give_up {
                self.retrain_due = None;
            }
        }
        out
    }

    /// Learns a partial mini-batch whose first example is older than `batch_interval` at
    /// event time `now` (and any partial batch when `now` is `i64::MAX`: the end).
    pub fn tick(&mut self, now: i64) {
        let due = now == i64::MAX
            || self
                .batch_interval
                .is_some_and(|i| now.saturating_sub(self.batch_since) >= i);
        if self.batch_len > 0 && due {
            self.learn_batch();
        }
    }

    /// Examples collected and not yet learned.
    pub fn batched(&self) -> usize {
        self.batch_len
    }

    fn learn_batch(&mut self) {
        let n = self.batch_len;
        self.batch_len = 0;
        let numeric = self.batch[..n].iter().all(|r| r.numeric().is_some());
        if n == 1 || !numeric {
            for (row, &y) in self.batch[..n].iter().zip(&self.batch_ys) {
                if !self.model.learn(row, y) {
                    self.refused += 1;
                }
            }
        } else {
            self.xs.clear();
            for r in &self.batch[..n] {
                self.xs.extend(r.cells().iter().map(|c| match c {
                    Cell::Num(v) => *v,
                    Cell::Cat(_) => 0.0,
                }));
            }
            if let Some(m) = self.model.features_mut() {
                let learned = m.learn_many(&self.xs, &self.batch_ys[..n]).unwrap_or(0);
                self.refused += (n - learned) as u64;
            }
        }
        if self.boost_left > 0 {
            self.boost_left = self.boost_left.saturating_sub(n as u64);
            if self.boost_left == 0 {
                if let (DriftAction::Boost { factor, .. }, Some(m)) =
                    (self.action, self.model.features_mut())
                {
                    m.scale_learning_rate(1.0 / factor);
                }
            }
        }
    }

    fn on_drift(&mut self) {
        match self.action {
            DriftAction::None => {}
            DriftAction::Boost { factor, examples } => {
                self.actions += 1;
                if let (0, Some(m)) = (self.boost_left, self.model.features_mut()) {
                    m.scale_learning_rate(factor);
                }
                self.boost_left = examples;
            }
            DriftAction::Retrain { .. } => {
                self.actions += 1;
                self.retrain_due = Some(0);
            }
            DriftAction::Reset => {
                self.actions += 1;
                self.model = Trained::new(self.fresh.clone());
                self.boost_left = 0;
                self.version += 1;
            }
        }
    }

    /// Trains a fresh model on the last `since` examples but the newest `holdout`, and
    /// swaps it in when it makes fewer errors on those than the current model made.
    fn retrain(&mut self, since: usize, holdout: usize) -> bool {
        let since = since.min(self.replay.len());
        if since <= holdout {
            return false;
        }
        let first = self.replay.len() - since;
        let split = self.replay.len() - holdout;
        let mut fresh = Trained::new(self.fresh.clone());
        for r in self.replay.range(first..split) {
            fresh.learn(&r.row, r.y);
        }
        let (mut theirs, mut ours) = (0.0, 0.0);
        for r in self.replay.iter().skip(split) {
            let (pred, _) = fresh.score(&r.row, &mut self.buf);
            theirs += self.error(r.y, pred);
            ours += r.error;
        }
        if theirs < ours {
            // the holdout is learned too: the fresh model then knows all it was shown
            for r in self.replay.iter().skip(split) {
                fresh.learn(&r.row, r.y);
            }
            self.model = fresh;
            self.batch_len = 0;
            self.boost_left = 0;
            self.version += 1;
            self.swaps += 1;
            return true;
        }
        false
    }
}
