//! Learning inside the pipeline (`[learn]`): every per-event row is scored by the online model
//! (and a frozen baseline), its label arrives — in the event, or later on a label stream —
//! and the model learns from the row *as it was scored*, evaluated test-then-train. The
//! [`Learning`] here is the whole loop over plain inputs (a row, its categories, its label,
//! its id, the watermark); [`crate::stage::learn`] feeds it from the batches.
//!
//! - [`join`]: examples waiting for labels, by event id, in event time;
//! - [`labels`]: the label stream, read on a thread of its own;
//! - [`online`]: the online model, its mini-batches, drift detector and actions;
//! - [`baseline`]: the frozen model;
//! - [`log`]: the learning log; [`snapshots`]: the model's versions on disk;
//! - [`prediction`]: what a per-event row carries.
//!
//! Metrics are prequential: each labelled example is scored before it is learned, by the
//! model as it was then. The metrics, their confidence sequences and the promotion rule are
//! eddy-learn's ([`eddy_learn::ab`]).

pub mod baseline;
pub mod join;
pub mod labels;
pub mod log;
pub mod online;
pub mod prediction;
pub mod snapshots;

use std::collections::VecDeque;

use eddy_core::feature::FeatureSpec;
use eddy_core::row::{FeatureRef, FeatureRow};
use eddy_core::{Interner, Sym};
use eddy_learn::ab::{
    AbMetric, AbMonitor, AbRule, Arm as AbArm, ArmMetric, Decision, Estimate, Mode,
};
use eddy_learn::metrics::{MetricKind, StreamMetric};
use eddy_learn::registry;
use eddy_learn::tabular::{Field, LabelMap, Labels, Row};
use eddy_learn::{Detector, Metric, Task};

use self::baseline::Baseline;
use self::join::{JoinCounts, Joined, LabelJoin};
use self::labels::{Label, LabelReader};
use self::log::{Delays, LogValue, LogWriter};
use self::online::{ArmModel, OnlineArm};
use self::prediction::{Arm, LabelOut, PredictionWriter};
use self::snapshots::Snapshots;
use crate::encode;
use crate::error::{RuntimeError, SpecErrors};
use crate::score::{gather, resolve_inputs, spec_err};
use crate::spec::{AbMode, LabelSource, LabelValue, LearnModel, LearnSpec, OutputFormat};

/// A label as an event carries it.
#[derive(Debug, Clone, Copy)]
pub enum LabelIn<'a> {
    None,
    Num(f64),
    Text(&'a str),
}

/// One scored event, as the learn stage hands it over.
pub struct EventIn<'a> {
    pub row: &'a FeatureRow,
    /// The texts of the `categories` fields, in order (`None`: absent).
    pub cats: &'a [Option<&'a str>],
    /// The in-event label (with `label = "field"`).
    pub label: LabelIn<'a>,
    /// The event id's hash (0: none).
    pub id: u64,
    /// A hash of the entity key (for `split`).
    pub key_hash: u64,
    pub ts: i64,
}

/// Counts over the run (the summary and the metrics read them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LearnCounts {
    /// Per-event rows given a prediction.
    pub scored: u64,
    /// Not scored: an input feature was null.
    pub unscored: u64,
    /// Labelled examples evaluated and learned.
    pub learned: u64,
    /// Learned with the default label after `ttl`.
    pub defaulted: u64,
    /// Scored examples whose event had no id (a label stream cannot reach them).
    pub no_id: u64,
    /// In-event labels that were missing, or not a label of the model.
    pub bad_labels: u64,
    /// Label-stream records that were not labels (dead letters).
    pub bad_label_records: u64,
    pub promotions: u64,
    pub rollbacks: u64,
    pub drifts: u64,
    pub actions: u64,
}

/// An example's numbers as scored, kept until its label comes.
#[derive(Default)]
struct Slab {
    d: usize,
    nc: usize,
    xs: Vec<f64>,
    cats: Vec<u32>,
    /// Per slot: the online and the baseline prediction (class or value, probability —
    /// NaN when none), the arm that served, and the event time.
    preds: Vec<[f64; 4]>,
    arm: Vec<Arm>,
    ts: Vec<i64>,
}

impl Slab {
    fn ensure(&mut self, slots: usize) {
        if self.preds.len() < slots {
            self.xs.resize(slots * self.d, 0.0);
            self.cats.resize(slots * self.nc, 0);
            self.preds.resize(slots, [0.0; 4]);
            self.arm.resize(slots, Arm::Online);
            self.ts.resize(slots, 0);
        }
    }
}

/// Each arm's metrics: the values as `eddy learn` computes them (eddy-learn's streaming
/// metrics, so the two front doors agree exactly), and their confidence sequences.
struct ArmBoard {
    values: Vec<StreamMetric>,
    intervals: Vec<ArmMetric>,
}

impl ArmBoard {
    fn new(task: Task, binary: bool, confidence: f64, target: u64) -> Result<Self, String> {
        let names: &[&str] = match (task, binary) {
            (Task::Classification, true) => &["accuracy", "log_loss", "roc_auc"],
            (Task::Classification, false) => &["accuracy", "log_loss"],
            (Task::Regression, _) => &["mae", "rmse"],
        };
        let mut values = Vec::new();
        let mut intervals = Vec::new();
        for n in names {
            let kind = MetricKind::from_name(n).ok_or_else(|| format!("no metric `{n}`"))?;
            values.push(StreamMetric::new(kind));
            intervals.push(
                AbMetric::from_name(n)
                    .and_then(|m| ArmMetric::new(m, confidence, target))
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(ArmBoard { values, intervals })
    }

    fn update(&mut self, y: f64, pred: f64, proba: Option<f64>) {
        for (v, i) in self.values.iter_mut().zip(&mut self.intervals) {
            if v.kind() == MetricKind::RocAuc {
                // an endless stream brings endless distinct scores: at four decimals, the
                // exact AUC's index holds at most 10,001 of them (ties count half)
                v.update(y, pred, proba.map(|p| (p * 1e4).round() / 1e4));
                continue; // no interval for an AUC: the value is enough
            }
            v.update(y, pred, proba);
            i.update(y, pred, proba);
        }
    }

    /// (metric, estimate with the streaming metric's value).
    fn estimates(&self) -> impl Iterator<Item = (&'static str, Estimate)> + '_ {
        self.values.iter().zip(&self.intervals).map(|(v, i)| {
            let mut e = i.estimate();
            e.value = v.get();
            (i.metric().name(), e)
        })
    }
}

/// See the module doc.
pub struct Learning {
    online: OnlineArm,
    baseline: Option<Baseline>,
    mode: Option<AbMode>,
    monitor: Option<AbMonitor>,
    boards: Vec<(Arm, ArmBoard)>,
    serving: Arm,
    /// Whether the rule may roll a promotion back (`learn.promotion.rollback`).
    rollback: bool,
    /// Feature indices of the inputs, and what a null one becomes (`None`: not scored).
    cols: Vec<usize>,
    fill_null: Option<f64>,
    /// Class numbers of labels (classifiers).
    classes: LabelMap,
    join: Option<LabelJoin>,
    reader: Option<LabelReader>,
    /// Labels read and not yet applied, in order; `labels_done`: the stream ended.
    label_buf: VecDeque<Label>,
    labels_done: bool,
    default: Option<f64>,
    slab: Slab,
    cat_strings: Interner,
    counts: LearnCounts,
    delays: Delays,
    log: LogWriter,
    log_every: u64,
    next_log: u64,
    snapshots: Option<Snapshots>,
    pred: PredictionWriter,
    dead_format: Option<OutputFormat>,
    last_wm: i64,
    /// See [`Learning::peak_pending`].
    peak: (usize, usize),
    joined: Vec<Joined>,
    nums: Vec<f64>,
    row: Row,
}

/// What the rule compares when the spec names no metric.
fn default_rule_metric(task: Task) -> &'static str {
    match task {
        Task::Classification => "accuracy",
        Task::Regression => "mae",
    }
}

impl Learning {
    /// Builds the loop from a validated `[learn]`: loads or builds the model (or resumes
    /// from the newest snapshot), the baseline, and opens the snapshot directory — every
    /// refusal here happens before any event is read. The label stream is started by
    /// [`Learning::start`].
    pub fn new(
        spec: &LearnSpec,
        features: &[FeatureSpec],
        format: OutputFormat,
    ) -> Result<Learning, SpecErrors> {
        let snapshots = match &spec.snapshots {
            Some(s) => Some(Snapshots::open(s).map_err(|e| spec_err("learn.snapshots.dir", e))?),
            None => None,
        };
        // the directory's newest snapshot: resumed from, or numbered after
        let newest = (spec.snapshots.as_ref()).and_then(|s| snapshots::latest(&s.dir));
        let resumed = newest
            .clone()
            .filter(|_| spec.snapshots.as_ref().is_some_and(|s| s.resume));
        let (model, version) = match (&resumed, &spec.model) {
            (Some((v, path)), _) => (
                ArmModel::load(path)
                    .map_err(|e| spec_err("learn.snapshots", format!("resuming: {e}")))?,
                *v,
            ),
            (None, LearnModel::Init(path)) => (
                ArmModel::load(path).map_err(|e| spec_err("learn.init", e.to_string()))?,
                1,
            ),
            (None, LearnModel::Build { name, params }) => {
                let recommender = registry::find(name).is_some_and(|e| {
                    matches!(e.kind, eddy_learn::estimator::EntryKind::Recommender { .. })
                });
                let built = if recommender {
                    registry::build_recommender(name, params).map(ArmModel::Recommender)
                } else {
                    registry::build(name, params).map(ArmModel::Features)
                };
                (
                    built.map_err(|e| spec_err("learn.params", e.to_string()))?,
                    1,
                )
            }
        };
        // a run that does not resume numbers its versions after any snapshot there
        let version = match (&resumed, newest) {
            (None, Some((v, _))) => v + 1,
            _ => version,
        };
        let task = model.task();
        let recommender = matches!(model, ArmModel::Recommender(_));
        let names: Vec<String> = match (&spec.inputs, recommender) {
            (_, true) => Vec::new(),
            (Some(i), false) => i.clone(),
            (None, false) => features
                .iter()
                .filter(|f| crate::score::feature_type(f).is_some())
                .map(|f| f.name.clone())
                .collect(),
        };
        let (cols, _) = resolve_inputs(&names, spec.inputs.is_some(), features)
            .map_err(|e| rename(e, "model.inputs", "learn.inputs"))?;
        let categories: Vec<String> = match (recommender, &spec.user, &spec.item) {
            (true, Some(u), Some(i)) if spec.categories.is_empty() && spec.inputs.is_none() => {
                vec![u.clone(), i.clone()]
            }
            (true, ..) => {
                return Err(spec_err(
                    "learn.user",
                    format!("`{}` learns ratings of items by users: give `user` and `item` (string fields), and no `inputs` or `categories`", model.name()),
                ))
            }
            (false, None, None) => spec.categories.clone(),
            (false, ..) => {
                return Err(spec_err(
                    "learn.user",
                    format!("`user` and `item` are for a recommender (biased_mf, funk_mf), not `{}`", model.name()),
                ))
            }
        };
        if cols.is_empty() && categories.is_empty() {
            return Err(spec_err(
                "learn.inputs",
                "the model has no inputs: the spec has no numeric feature; list some",
            ));
        }
        let detector = match &spec.drift {
            Some(d) => Some(
                eddy_learn::drift::build(&d.detector, &d.params)
                    .map_err(|e| spec_err("learn.drift.detector", e.to_string()))?,
            ),
            None => None,
        };
        if let (Some(det), Task::Regression) = (&detector, task) {
            if det.is_binary() {
                return Err(spec_err(
                    "learn.drift.detector",
                    format!("`{}` watches 0/1 mistakes; a regressor's errors are real numbers: use adwin, page_hinkley or kswin", det.name()),
                ));
            }
        }
        let action = spec
            .drift
            .as_ref()
            .map_or(crate::spec::DriftAction::None, |d| d.action);
        if let crate::spec::DriftAction::Boost { .. } = action {
            let scalable = match model.clone() {
                ArmModel::Features(mut m) => m.scale_learning_rate(1.0),
                ArmModel::Recommender(_) => false,
            };
            if !scalable {
                return Err(spec_err(
                    "learn.drift.action",
                    format!("`boost` scales a learning rate, and `{}` has none that eddy can scale: use retrain or reset", model.name()),
                ));
            }
        }
        if recommender && spec.baseline.is_some() {
            return Err(spec_err(
                "learn.baseline",
                "a recommender is not compared with a baseline (yet): leave [learn.baseline] out",
            ));
        }
        let baseline = match &spec.baseline {
            Some(b) => Some(Baseline::new(b, &names, features, task)?),
            None => None,
        };
        let binary = matches!(&model, ArmModel::Features(m) if matches!(
            m.entry().kind,
            eddy_learn::estimator::EntryKind::Features { binary: true, .. }
        ));
        let rule_metric = spec
            .promotion
            .metric
            .clone()
            .unwrap_or_else(|| default_rule_metric(task).to_string());
        let metric = AbMetric::from_name(&rule_metric)
            .map_err(|e| spec_err("learn.promotion.metric", e.to_string()))?;
        let metric_task = match metric {
            AbMetric::Mae | AbMetric::Rmse => Task::Regression,
            _ => Task::Classification,
        };
        if metric_task != task {
            return Err(spec_err(
                "learn.promotion.metric",
                format!(
                    "`{rule_metric}` does not fit a {} model",
                    eddy_learn::tabular::task_word(task)
                ),
            ));
        }
        let target = spec.promotion.min_examples.max(100);
        let confidence = spec.promotion.confidence;
        let monitor = match &spec.baseline {
            Some(b) => {
                let mut rule = AbRule::new(metric);
                rule.min_examples = spec.promotion.min_examples;
                rule.confidence = confidence;
                let mode = match b.mode {
                    AbMode::Shadow => Mode::Shadow,
                    AbMode::Split { .. } => Mode::Split,
                };
                Some(
                    AbMonitor::new(rule, mode)
                        .map_err(|e| spec_err("learn.promotion", e.to_string()))?,
                )
            }
            None => None,
        };
        let board = |arm| {
            ArmBoard::new(task, binary, confidence, target)
                .map(|b| (arm, b))
                .map_err(|e| spec_err("learn", e))
        };
        let mut boards = vec![board(Arm::Online)?];
        if baseline.is_some() {
            boards.push(board(Arm::Baseline)?);
        }
        let (join, default) = match &spec.labels {
            LabelSource::Field(_) => (None, None),
            LabelSource::Stream(_) => (Some(LabelJoin::new(spec.ttl, spec.max_pending)), None),
        };
        let mut classes = LabelMap::new();
        let default = match (&spec.default, task) {
            (None, _) => default,
            (Some(LabelValue::Num(v)), Task::Regression) => Some(*v),
            (Some(LabelValue::Text(t)), Task::Regression) => {
                return Err(spec_err(
                    "learn.default",
                    format!("`{t}` is not a number (the model is a regressor)"),
                ))
            }
            (Some(LabelValue::Num(v)), Task::Classification) => Some(
                classes
                    .class(Field::Num(*v))
                    .map_err(|p| spec_err("learn.default", p.to_string()))?,
            ),
            (Some(LabelValue::Text(t)), Task::Classification) => Some(
                classes
                    .class(Field::Text(t))
                    .map_err(|p| spec_err("learn.default", p.to_string()))?,
            ),
        };
        let online = OnlineArm::new(
            model,
            version,
            spec.batch_size,
            spec.batch_interval,
            detector,
            action,
        );
        let serving = match spec.baseline.as_ref().map(|b| b.mode) {
            Some(AbMode::Shadow) => Arm::Baseline,
            _ => Arm::Online,
        };
        Ok(Learning {
            online,
            baseline,
            mode: spec.baseline.as_ref().map(|b| b.mode),
            monitor,
            boards,
            serving,
            rollback: spec.promotion.rollback,
            slab: Slab {
                d: cols.len(),
                nc: categories.len(),
                ..Slab::default()
            },
            cols,
            fill_null: spec.fill_null,
            classes,
            join,
            reader: None,
            label_buf: VecDeque::new(),
            labels_done: false,
            default,
            cat_strings: Interner::new(),
            counts: LearnCounts::default(),
            delays: Delays::default(),
            log: LogWriter::new(format),
            log_every: spec.log_every,
            next_log: spec.log_every,
            snapshots,
            pred: PredictionWriter::new(format),
            dead_format: None,
            last_wm: i64::MIN,
            peak: (0, 0),
            joined: Vec::new(),
            nums: Vec::new(),
            row: Row::default(),
        })
    }

    /// Starts reading the label stream (if any); `dead_letters`: the dead-letter output's
    /// format, when there is one.
    pub fn start(
        &mut self,
        spec: &LearnSpec,
        dead_letters: Option<OutputFormat>,
    ) -> Result<(), RuntimeError> {
        self.dead_format = dead_letters;
        if let LabelSource::Stream(s) = &spec.labels {
            self.reader = Some(LabelReader::start(s, self.online.task(), dead_letters)?);
        }
        Ok(())
    }

    pub fn counts(&self) -> LearnCounts {
        let mut c = self.counts;
        c.drifts = self.online.drifts;
        c.actions = self.online.actions;
        c
    }

    pub fn join_counts(&self) -> Option<JoinCounts> {
        self.join.as_ref().map(LabelJoin::counts)
    }

    /// The most examples that waited at once (at a learning-log row), and the bytes the
    /// join and the kept examples took then.
    pub fn peak_pending(&self) -> (usize, usize) {
        self.peak
    }

    /// Bytes the waiting examples take: the join's index and the examples' numbers.
    fn pending_bytes(&self) -> usize {
        let s = &self.slab;
        self.join.as_ref().map_or(0, LabelJoin::heap_bytes)
            + s.xs.capacity() * 8
            + s.cats.capacity() * 4
            + s.preds.capacity() * 32
            + s.arm.capacity()
            + s.ts.capacity() * 8
    }

    /// Examples waiting for their label now.
    pub fn pending(&self) -> usize {
        self.join.as_ref().map_or(0, LabelJoin::pending)
    }

    pub fn version(&self) -> u64 {
        self.online.version
    }

    pub fn serving(&self) -> Arm {
        self.serving
    }

    /// The online model's registry name.
    pub fn model_name(&self) -> &str {
        self.online.name()
    }

    /// Each arm's metrics now: (arm, metric, estimate).
    pub fn estimates(&self) -> Vec<(Arm, &'static str, Estimate)> {
        let mut out = Vec::new();
        for (arm, b) in &self.boards {
            out.extend(b.estimates().map(|(name, e)| (*arm, name, e)));
        }
        out
    }

    /// The difference the rule watches (online minus baseline, > 0: online better).
    pub fn difference(&self) -> Option<(&'static str, Estimate)> {
        self.monitor
            .as_ref()
            .map(|m| (m.rule().metric.name(), m.diff()))
    }

    /// The events' watermark moved to `wm`: labels up to it are applied (reading the label
    /// stream as far as needed), examples that waited `ttl` expire, a partial mini-batch
    /// that waited `batch_interval` is learned. Log rows and dead letters go to the buffers.
    pub fn advance(&mut self, wm: i64, out: &mut Outputs) -> Result<(), RuntimeError> {
        if wm <= self.last_wm {
            return Ok(());
        }
        self.last_wm = wm;
        if self.join.is_some() {
            self.read_labels_until(wm, out)?;
            if let Some(join) = &mut self.join {
                join.advance(wm, &mut self.joined);
            }
            self.settle(out)?;
        }
        self.online.tick(wm);
        Ok(())
    }

    /// Scores one event and writes its prediction fragment; with an in-event label, then
    /// learns it; with a label stream, keeps it until its label comes.
    pub fn event(&mut self, e: &EventIn, out: &mut Outputs) -> Result<(), RuntimeError> {
        if !gather_filled(e.row, &self.cols, self.fill_null, &mut self.nums) {
            self.counts.unscored += 1;
            self.pred.unscored(&mut out.pred);
            return Ok(());
        }
        // the categories' texts: absent ones as empty text (a category of their own)
        let cats = e.cats.iter().map(|c| c.unwrap_or(""));
        self.row.set(&self.nums, cats.clone());
        let online = self.online.score(&self.row);
        let baseline = match &mut self.baseline {
            Some(b) => b.score(&self.nums),
            None => None,
        };
        let arm = match self.mode {
            Some(AbMode::Split { online: share }) => {
                if ((e.key_hash >> 11) as f64 / (1u64 << 53) as f64) < share {
                    Arm::Online
                } else {
                    Arm::Baseline
                }
            }
            _ => self.serving,
        };
        let served = match (arm, baseline) {
            (Arm::Baseline, Some(b)) => b,
            _ => online,
        };
        let (score, label) = self.score_and_label(served);
        let version = if arm == Arm::Online {
            self.online.version
        } else {
            0
        };
        let name = match arm {
            Arm::Online => self.online.name(),
            Arm::Baseline => self.baseline.as_ref().map_or("", |b| b.name()),
        };
        let label_out = match (&label, self.classes.labels()) {
            (None, _) => LabelOut::None,
            (Some(c), Some(Labels::Names(names))) => {
                LabelOut::Name(names.get(*c as usize).map_or("", String::as_str))
            }
            (Some(c), _) => LabelOut::Class(*c),
        };
        self.pred
            .scored(&mut out.pred, score, label_out, name, version, arm);
        self.counts.scored += 1;
        let baseline = baseline.unwrap_or((f64::NAN, None));
        let preds = [
            online.0,
            online.1.unwrap_or(f64::NAN),
            baseline.0,
            baseline.1.unwrap_or(f64::NAN),
        ];
        match &mut self.join {
            None => {
                let y = match self.label_value(e.label) {
                    Some(y) => y,
                    None => {
                        self.counts.bad_labels += 1;
                        return Ok(());
                    }
                };
                self.labelled(preds, arm, y, e.ts, out)
            }
            Some(join) => {
                if e.id == 0 {
                    self.counts.no_id += 1;
                    return Ok(());
                }
                let Some(slot) = join.example(e.id, e.ts, &mut self.joined) else {
                    self.counts.no_id += 1;
                    return Ok(());
                };
                let slab = &mut self.slab;
                slab.ensure(join.slots());
                let s = slot as usize;
                slab.xs[s * slab.d..(s + 1) * slab.d].copy_from_slice(&self.nums);
                for (k, c) in cats.enumerate() {
                    slab.cats[s * slab.nc + k] = self.cat_strings.intern(c).0;
                }
                slab.preds[s] = preds;
                slab.arm[s] = arm;
                slab.ts[s] = e.ts;
                self.settle(out)
            }
        }
    }

    /// The input ended: the rest of the label stream is applied (the events' time moves no
    /// further, so nothing more expires), a partial mini-batch is learned, and the last log
    /// row written.
    pub fn finish(&mut self, out: &mut Outputs) -> Result<(), RuntimeError> {
        if self.join.is_some() {
            self.read_labels_until(i64::MAX, out)?;
        }
        let partial = self.online.batched() > 0;
        self.online.tick(i64::MAX);
        let n = self.counts.learned;
        if let Some(s) = &mut self.snapshots {
            if partial || s.behind(n) {
                self.online.version += 1;
                let ts = self.last_wm.max(0);
                s.write(&self.online, self.online.version, n, ts)?;
            }
        }
        self.log_row("end", None, out);
        Ok(())
    }

    /// The class (as a number) or value, and what the row shows as score: a binary
    /// classifier's probability of class 1, else the probability of the class it chose; a
    /// regressor's value.
    fn score_and_label(&self, (pred, proba): (f64, Option<f64>)) -> (f64, Option<i64>) {
        match self.online.task() {
            Task::Regression => (pred, None),
            Task::Classification => (proba.unwrap_or(f64::NAN), Some(pred as i64)),
        }
    }

    fn label_value(&mut self, l: LabelIn) -> Option<f64> {
        match (self.online.task(), l) {
            (_, LabelIn::None) => None,
            (Task::Regression, LabelIn::Num(v)) => v.is_finite().then_some(v),
            (Task::Regression, LabelIn::Text(t)) => crate::decode::parse_float(t.trim())
                .ok()
                .filter(|v| v.is_finite()),
            (Task::Classification, LabelIn::Num(v)) => self.classes.class(Field::Num(v)).ok(),
            (Task::Classification, LabelIn::Text(t)) => self.classes.class(Field::Text(t)).ok(),
        }
    }

    /// Reads and applies labels whose time is at most `wm` (all of them when `wm` is
    /// `i64::MAX`).
    fn read_labels_until(&mut self, wm: i64, out: &mut Outputs) -> Result<(), RuntimeError> {
        loop {
            while let Some(l) = self.label_buf.front().copied() {
                if l.ts > wm {
                    return Ok(());
                }
                self.label_buf.pop_front();
                if let Some(join) = &mut self.join {
                    join.label(l.id, l.value, l.ts, &mut self.joined);
                }
                self.settle(out)?;
            }
            if self.labels_done {
                return Ok(());
            }
            let Some(reader) = &mut self.reader else {
                self.labels_done = true;
                return Ok(());
            };
            match reader.next_batch()? {
                None => self.labels_done = true,
                Some(b) => {
                    self.counts.bad_label_records += b.bad;
                    out.dead.extend_from_slice(&b.dead);
                    out.dead_rows += if self.dead_format.is_some() { b.bad } else { 0 };
                    if !b.new_names.is_empty() {
                        for n in &b.new_names {
                            // the stream's names, in the order it numbered them
                            let _ = self.classes.class(Field::Text(n));
                        }
                    }
                    self.label_buf.extend(b.labels);
                }
            }
        }
    }

    /// Acts on what the join decided.
    fn settle(&mut self, out: &mut Outputs) -> Result<(), RuntimeError> {
        let mut joined = std::mem::take(&mut self.joined);
        for j in joined.drain(..) {
            match j {
                Joined::Labelled { slot, label, delay } => {
                    self.delays.add(delay);
                    self.learn_slot(slot, label, out)?;
                }
                Joined::Expired { slot } => {
                    if let Some(y) = self.default {
                        self.counts.defaulted += 1;
                        self.learn_slot(slot, y, out)?;
                    } else if let Some(join) = &mut self.join {
                        join.release(slot);
                    }
                }
                Joined::Unknown { id, label_ts } => {
                    if let Some(f) = self.dead_format {
                        let msg = format!(
                            "{}: a label (time {}) for event id hash {id:016x}: no event with this id came within ttl",
                            self.reader.as_ref().map_or("labels", |r| r.name.as_str()),
                            crate::stage::emit::fmt_ts(label_ts)
                        );
                        // no record to show: the label was joined, not kept
                        let nowhere = crate::connector::Place::Line(0);
                        encode::dead_letter(f, &mut out.dead, b"", nowhere, &msg);
                        out.dead_rows += 1;
                    }
                }
                Joined::Duplicate | Joined::Late => {}
            }
        }
        self.joined = joined;
        Ok(())
    }

    /// The example at `slot` got label `y`.
    fn learn_slot(&mut self, slot: u32, y: f64, out: &mut Outputs) -> Result<(), RuntimeError> {
        let s = slot as usize;
        let slab = &self.slab;
        let xs = &slab.xs[s * slab.d..(s + 1) * slab.d];
        let cat_strings = &self.cat_strings;
        let cats = (0..slab.nc).map(|k| cat_strings.resolve(Sym(slab.cats[s * slab.nc + k])));
        self.row.set(xs, cats);
        let (preds, arm, ts) = (slab.preds[s], slab.arm[s], slab.ts[s]);
        if let Some(join) = &mut self.join {
            join.release(slot);
        }
        self.labelled(preds, arm, y, ts, out)
    }

    /// A labelled example in `self.row`: evaluated (each arm on what it said when scoring),
    /// then learned by the online model.
    fn labelled(
        &mut self,
        preds: [f64; 4],
        arm: Arm,
        y: f64,
        ts: i64,
        out: &mut Outputs,
    ) -> Result<(), RuntimeError> {
        let online = (preds[0], (!preds[1].is_nan()).then_some(preds[1]));
        let baseline = (preds[2], (!preds[3].is_nan()).then_some(preds[3]));
        let split = matches!(self.mode, Some(AbMode::Split { .. }));
        for (a, board) in &mut self.boards {
            let p = if *a == Arm::Online { online } else { baseline };
            if !split || *a == arm {
                board.update(y, p.0, p.1);
            }
        }
        let mut decision = None;
        if let Some(m) = &mut self.monitor {
            let metric = m.rule().metric;
            let so = metric.score(y, online.0, online.1);
            let sb = metric.score(y, baseline.0, baseline.1);
            decision = match (split, so, sb) {
                (false, Some(a), Some(b)) => m.observe_shadow(a, b),
                (true, Some(a), _) if arm == Arm::Online => m.observe_split(AbArm::Online, a),
                (true, _, Some(b)) if arm == Arm::Baseline => m.observe_split(AbArm::Baseline, b),
                _ => None,
            };
        }
        let learned = self.online.learn(&self.row, y, online.0, ts);
        self.counts.learned += 1;
        if learned.drift {
            // the rule asks again whether the online arm is better since the drift
            if let Some(m) = &mut self.monitor {
                m.restart();
            }
            let action = self.online.action_name();
            self.log_row("drift", Some(action), out);
        }
        if learned.swapped {
            self.snapshot_now(ts)?;
        }
        // without rollbacks, a promoted online model keeps serving whatever the rule says
        let promoted_for_good = !self.rollback && self.counts.promotions > 0;
        match decision.filter(|_| !promoted_for_good) {
            Some(Decision::Promote) => {
                self.counts.promotions += 1;
                if !split {
                    self.serving = Arm::Online;
                }
                self.log_row("promotion", None, out);
            }
            Some(Decision::Rollback) => {
                self.counts.rollbacks += 1;
                if !split {
                    self.serving = Arm::Baseline;
                }
                self.log_row("rollback", None, out);
            }
            None => {}
        }
        let n = self.counts.learned;
        if let Some(s) = &mut self.snapshots {
            if s.due(n, ts) {
                self.online.version += 1;
                s.write(&self.online, self.online.version, n, ts)?;
            }
        }
        if n >= self.next_log {
            self.next_log = n + self.log_every;
            self.log_row("every", None, out);
        }
        Ok(())
    }

    /// After a swap or reset: the new model is a new version, on disk at once when the run
    /// keeps snapshots.
    fn snapshot_now(&mut self, ts: i64) -> Result<(), RuntimeError> {
        if let Some(s) = &mut self.snapshots {
            s.write(&self.online, self.online.version, self.counts.learned, ts)?;
        }
        Ok(())
    }

    fn log_row(&mut self, reason: &str, action: Option<&str>, out: &mut Outputs) {
        if self.pending() > self.peak.0 {
            self.peak = (self.pending(), self.pending_bytes());
        }
        let mut row: Vec<(String, LogValue)> = Vec::with_capacity(48);
        let c = self.counts();
        let jc = self.join_counts().unwrap_or_default();
        row.push(("reason".into(), LogValue::Text(reason.into())));
        row.push(("n".into(), LogValue::Int(c.learned)));
        row.push((
            "event_time".into(),
            if self.last_wm == i64::MIN {
                LogValue::Null
            } else {
                LogValue::Text(crate::stage::emit::fmt_ts(self.last_wm))
            },
        ));
        row.push(("version".into(), LogValue::Int(self.online.version)));
        row.push((
            "serving".into(),
            LogValue::Text(self.serving.as_str().into()),
        ));
        for (arm, b) in &self.boards {
            for (name, e) in b.estimates() {
                let key = format!("{}_{name}", arm.as_str());
                row.push((key.clone(), Some(e.value).into()));
                row.push((format!("{key}_lo"), e.lo.into()));
                row.push((format!("{key}_hi"), e.hi.into()));
            }
        }
        if let Some((metric, d)) = self.difference() {
            row.push(("diff_metric".into(), LogValue::Text(metric.into())));
            row.push(("diff".into(), Some(d.value).into()));
            row.push(("diff_lo".into(), d.lo.into()));
            row.push(("diff_hi".into(), d.hi.into()));
        }
        row.push(("delay_p50_ms".into(), self.delays.quantile(0.5).into()));
        row.push(("delay_p99_ms".into(), self.delays.quantile(0.99).into()));
        row.push(("pending".into(), LogValue::Int(self.pending() as u64)));
        row.push((
            "expired".into(),
            LogValue::Int(jc.expired - c.defaulted.min(jc.expired)),
        ));
        row.push(("defaulted".into(), LogValue::Int(c.defaulted)));
        row.push(("duplicate_labels".into(), LogValue::Int(jc.duplicate)));
        row.push(("unknown_labels".into(), LogValue::Int(jc.unknown + jc.late)));
        row.push(("drifts".into(), LogValue::Int(c.drifts)));
        row.push(("actions".into(), LogValue::Int(c.actions)));
        row.push(("promotions".into(), LogValue::Int(c.promotions)));
        row.push(("rollbacks".into(), LogValue::Int(c.rollbacks)));
        row.push((
            "action".into(),
            action.map_or(LogValue::Null, |a| LogValue::Text(a.into())),
        ));
        self.log.write(&row, &mut out.learning);
        out.learning_rows += 1;
    }
}

/// Where the loop writes: the per-event prediction fragments, dead letters, and learning
/// log rows (the learn stage points these at its batch's buffers).
#[derive(Default)]
pub struct Outputs {
    pub pred: Vec<u8>,
    pub dead: Vec<u8>,
    pub dead_rows: u64,
    pub learning: Vec<u8>,
    pub learning_rows: u64,
}

/// The inputs of a row, a null one as `fill` (`false` when one is null and there is no fill).
fn gather_filled(row: &FeatureRow, cols: &[usize], fill: Option<f64>, out: &mut Vec<f64>) -> bool {
    if gather(row, cols, out) {
        return true;
    }
    let Some(fill) = fill else {
        return false;
    };
    out.clear();
    out.extend(cols.iter().map(|&c| match row.get(c) {
        FeatureRef::Num(v) => v,
        FeatureRef::Int(v) => v as f64,
        _ => fill,
    }));
    true
}

/// Moves errors found at `from` to `to` (inputs resolved with the model's checks).
fn rename(mut e: SpecErrors, from: &str, to: &str) -> SpecErrors {
    for x in &mut e.0 {
        if let Some(rest) = x.path.strip_prefix(from) {
            x.path = format!("{to}{rest}");
        }
    }
    e
}
