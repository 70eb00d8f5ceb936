//! Prequential (test-then-train) evaluation, independent of any I/O.
//!
//! For every example, in order: the model **scores** it, and only afterwards — at once, or
//! `delay` examples later when the label "arrives" — the metrics and the drift detector are
//! updated with that prediction and the model **learns** the example, from a copy of the
//! features as they were when it was scored. This is River's `evaluate.progressive_val_score`
//! with `delay` counted in examples: with a delay, metric values at `n` cover the examples
//! whose label has arrived by then.
//!
//! The drift detector is fed the model's errors: `1` for a mistake and `0` for a hit with a
//! classifier, `|y - ŷ|` with a regressor. Events (periodic reports, warnings, drifts) go to a
//! callback; [`Prequential::finish`] learns from the examples still waiting for their label.

use std::borrow::Borrow;
use std::collections::VecDeque;

use crate::drift::AnyDetector;
use crate::metrics::StreamMetric;
use crate::registry::{AnyModel, AnyRecommender};
use crate::traits::{Classifier, Detector, DriftState, Metric, Regressor, Task};

/// What the prequential loop needs of a model: score without mutating, then learn. (The
/// registry's models are [`Learner`]s on dense rows; [`AsRegressor`] and [`AsClassifier`] make
/// one of any [`Regressor`] or [`Classifier`].)
///
/// `X` is the feature representation: dense `[f64]` by default; the CLI uses raw rows of
/// numbers and categories. Delayed examples are kept as `X::Owned` copies.
pub trait Learner<X: ?Sized = [f64]> {
    fn task(&self) -> Task;
    /// The prediction (a number, or a class label as `f64`) and, for binary classifiers, the
    /// probability of class 1. `buf` is scratch space for class probabilities.
    fn score(&self, x: &X, buf: &mut Vec<f64>) -> (f64, Option<f64>);
    /// Learns one example; classification labels are `0, 1, ...` as `f64`.
    fn learn(&mut self, x: &X, y: f64);
}

impl<X: ?Sized, M: Learner<X> + ?Sized> Learner<X> for &mut M {
    fn task(&self) -> Task {
        (**self).task()
    }
    fn score(&self, x: &X, buf: &mut Vec<f64>) -> (f64, Option<f64>) {
        (**self).score(x, buf)
    }
    fn learn(&mut self, x: &X, y: f64) {
        (**self).learn(x, y)
    }
}

impl<X: ?Sized, M: Learner<X> + ?Sized> Learner<X> for Box<M> {
    fn task(&self) -> Task {
        (**self).task()
    }
    fn score(&self, x: &X, buf: &mut Vec<f64>) -> (f64, Option<f64>) {
        (**self).score(x, buf)
    }
    fn learn(&mut self, x: &X, y: f64) {
        (**self).learn(x, y)
    }
}

/// Models from the registry, on dense features (their preprocessing applies). A label the
/// model refuses (not an integer class in range) is not learned.
impl Learner for AnyModel {
    fn task(&self) -> Task {
        AnyModel::task(self)
    }
    fn score(&self, x: &[f64], buf: &mut Vec<f64>) -> (f64, Option<f64>) {
        match AnyModel::task(self) {
            Task::Regression => (self.predict_one(x), None),
            Task::Classification => {
                self.predict_proba_one(x, buf);
                class_scores_padded(buf)
            }
        }
    }
    fn learn(&mut self, x: &[f64], y: f64) {
        let _ = self.learn_one(x, y);
    }
}

/// Recommenders (`funk_mf`, `biased_mf`) on `(user, item)` ids: a rating is a regression
/// target. A rating that is not finite is not learned.
impl Learner<(u64, u64)> for AnyRecommender {
    fn task(&self) -> Task {
        Task::Regression
    }
    fn score(&self, x: &(u64, u64), _: &mut Vec<f64>) -> (f64, Option<f64>) {
        (self.predict_one(x.0, x.1), None)
    }
    fn learn(&mut self, x: &(u64, u64), y: f64) {
        let _ = self.learn_one(x.0, x.1, y);
    }
}

/// [`class_scores`], reading a single known class as "P(class 1) = 0" (a binary classifier
/// that has only seen class 0), and nothing known as class 0.
pub fn class_scores_padded(proba: &[f64]) -> (f64, Option<f64>) {
    match proba.len() {
        0 => (0.0, None),
        1 => (0.0, Some(0.0)),
        _ => class_scores(proba),
    }
}

/// Adapts a [`Regressor`] to [`Learner`].
#[derive(Debug, Clone)]
pub struct AsRegressor<R>(pub R);

impl<R: Regressor> Learner for AsRegressor<R> {
    fn task(&self) -> Task {
        Task::Regression
    }
    fn score(&self, x: &[f64], _: &mut Vec<f64>) -> (f64, Option<f64>) {
        (self.0.predict_one(x), None)
    }
    fn learn(&mut self, x: &[f64], y: f64) {
        self.0.learn_one(x, y)
    }
}

/// Adapts a [`Classifier`] to [`Learner`]: the prediction is the most probable class (ties: the
/// lowest label), and with two classes the probability of class 1 is passed to the metrics.
#[derive(Debug, Clone)]
pub struct AsClassifier<C>(pub C);

/// Most probable class and, with two classes, the probability of class 1.
pub fn class_scores(proba: &[f64]) -> (f64, Option<f64>) {
    let mut best = 0;
    for (i, &v) in proba.iter().enumerate() {
        if v > proba[best] {
            best = i;
        }
    }
    (best as f64, (proba.len() == 2).then(|| proba[1]))
}

impl<C: Classifier> Learner for AsClassifier<C> {
    fn task(&self) -> Task {
        Task::Classification
    }
    fn score(&self, x: &[f64], buf: &mut Vec<f64>) -> (f64, Option<f64>) {
        self.0.predict_proba_one(x, buf);
        if buf.is_empty() {
            return (0.0, None);
        }
        class_scores(buf)
    }
    fn learn(&mut self, x: &[f64], y: f64) {
        self.0.learn_one(x, y as usize)
    }
}

/// Something that happened during evaluation, passed to the callback.
#[derive(Debug)]
pub enum Event<'a> {
    /// Every `every` scored examples: the current metric values.
    Report { n: u64, metrics: &'a [StreamMetric] },
    /// The detector warned (DDM, EDDM) on the error of the example whose label just arrived.
    Warning { n: u64, detector: &'static str },
    /// The detector reported a drift (and reset itself).
    Drift { n: u64, detector: &'static str },
}

struct Pending<O> {
    x: O,
    y: f64,
    pred: f64,
    proba: Option<f64>,
}

/// The prequential loop's state: metrics, optional drift detector, label-delay queue.
pub struct Prequential<X: ?Sized + ToOwned = [f64]> {
    metrics: Vec<StreamMetric>,
    detector: Option<AnyDetector>,
    every: u64,
    delay: usize,
    pending: VecDeque<Pending<X::Owned>>,
    spare: Vec<X::Owned>,
    buf: Vec<f64>,
    n: u64,
    n_learned: u64,
    n_drifts: u64,
}

impl<X: ?Sized + ToOwned> Prequential<X> {
    /// `every` = report period in scored examples (0: never); `delay` = examples between
    /// scoring an example and learning it (0: learn at once).
    pub fn new(
        metrics: Vec<StreamMetric>,
        detector: Option<AnyDetector>,
        every: u64,
        delay: usize,
    ) -> Self {
        Prequential {
            metrics,
            detector,
            every,
            delay,
            pending: VecDeque::with_capacity(delay.min(1 << 16) + 1),
            spare: Vec::new(),
            buf: Vec::new(),
            n: 0,
            n_learned: 0,
            n_drifts: 0,
        }
    }

    /// Scores one example, then lets through the labels that are due (learning from them).
    pub fn step<M: Learner<X> + ?Sized>(
        &mut self,
        model: &mut M,
        x: &X,
        y: f64,
        on: &mut dyn FnMut(Event),
    ) {
        let (pred, proba) = model.score(x, &mut self.buf);
        self.n += 1;
        if self.delay == 0 {
            self.reveal(model, x, y, pred, proba, on);
        } else {
            // A copy of the features as scored, reusing an earlier copy's allocation.
            let xs = match self.spare.pop() {
                Some(mut xs) => {
                    x.clone_into(&mut xs);
                    xs
                }
                None => x.to_owned(),
            };
            self.pending.push_back(Pending {
                x: xs,
                y,
                pred,
                proba,
            });
            if self.pending.len() > self.delay {
                let p = self.pending.pop_front().expect("non-empty");
                self.reveal(model, p.x.borrow(), p.y, p.pred, p.proba, on);
                self.spare.push(p.x);
            }
        }
        if self.every > 0 && self.n.is_multiple_of(self.every) {
            on(Event::Report {
                n: self.n,
                metrics: &self.metrics,
            });
        }
    }

    /// The label of an example arrives: metrics, detector, then learning.
    fn reveal<M: Learner<X> + ?Sized>(
        &mut self,
        model: &mut M,
        x: &X,
        y: f64,
        pred: f64,
        proba: Option<f64>,
        on: &mut dyn FnMut(Event),
    ) {
        for m in &mut self.metrics {
            m.update(y, pred, proba);
        }
        if let Some(d) = &mut self.detector {
            let err = match model.task() {
                Task::Classification => (pred != y) as u8 as f64,
                Task::Regression => (y - pred).abs(),
            };
            match d.update(err) {
                DriftState::Drift => {
                    self.n_drifts += 1;
                    on(Event::Drift {
                        n: self.n,
                        detector: d.name(),
                    })
                }
                DriftState::Warning => on(Event::Warning {
                    n: self.n,
                    detector: d.name(),
                }),
                DriftState::Stable => {}
            }
        }
        model.learn(x, y);
        self.n_learned += 1;
    }

    /// End of stream: the labels still pending arrive (metrics, detector, learning).
    pub fn finish<M: Learner<X> + ?Sized>(&mut self, model: &mut M, on: &mut dyn FnMut(Event)) {
        while self.reveal_next(model, on) {}
    }

    /// End of stream, one label at a time: the next label still pending arrives (metrics,
    /// detector, learning); `false` when none was left.
    pub fn reveal_next<M: Learner<X> + ?Sized>(
        &mut self,
        model: &mut M,
        on: &mut dyn FnMut(Event),
    ) -> bool {
        let Some(p) = self.pending.pop_front() else {
            return false;
        };
        self.reveal(model, p.x.borrow(), p.y, p.pred, p.proba, on);
        self.spare.push(p.x);
        true
    }

    /// Examples scored so far.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// Examples learned so far.
    pub fn n_learned(&self) -> u64 {
        self.n_learned
    }

    /// Drifts reported so far.
    pub fn n_drifts(&self) -> u64 {
        self.n_drifts
    }

    pub fn metrics(&self) -> &[StreamMetric] {
        &self.metrics
    }

    pub fn detector(&self) -> Option<&AnyDetector> {
        self.detector.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::{drift, metrics};

    /// Predicts the last label it learned (0 before learning), logging every call.
    #[derive(Default)]
    struct Memo {
        last: Option<usize>,
        log: RefCell<Vec<String>>,
    }

    impl Classifier for Memo {
        fn n_classes(&self) -> usize {
            2
        }
        fn predict_proba_one(&self, x: &[f64], out: &mut Vec<f64>) {
            self.log.borrow_mut().push(format!("p{}", x[0]));
            out.clear();
            let c = self.last.unwrap_or(0);
            out.extend([(c == 0) as u8 as f64, (c == 1) as u8 as f64]);
        }
        fn learn_one(&mut self, x: &[f64], y: usize) {
            self.log.borrow_mut().push(format!("l{}", x[0]));
            self.last = Some(y);
        }
    }

    fn acc() -> Vec<StreamMetric> {
        vec![metrics::build("accuracy").unwrap()]
    }

    #[test]
    fn scores_before_learning() {
        let mut m = AsClassifier(Memo::default());
        let mut ev = Prequential::new(acc(), None, 1, 0);
        let mut seen = Vec::new();
        for i in 0..4 {
            ev.step(&mut m, &[i as f64], 1.0, &mut |e| {
                if let Event::Report { n, metrics } = e {
                    seen.push((n, metrics[0].get()));
                }
            });
        }
        // The first prediction (0) is made before the model saw any label: a miss.
        assert_eq!(seen, vec![(1, 0.0), (2, 0.5), (3, 2.0 / 3.0), (4, 0.75)]);
        assert_eq!(m.0.log.borrow().join(" "), "p0 l0 p1 l1 p2 l2 p3 l3");
    }

    #[test]
    fn label_delay_learns_later_from_the_features_as_scored() {
        let mut m = AsClassifier(Memo::default());
        let mut ev = Prequential::new(acc(), None, 0, 2);
        let mut x = vec![0.0];
        for i in 0..5u64 {
            x[0] = i as f64;
            ev.step(&mut m, &x, 1.0, &mut |_| {});
            x[0] = -1.0; // the caller reuses its buffer: must not leak into learning
            assert_eq!(ev.n_learned(), (i + 1).saturating_sub(2));
        }
        // Example i is learned right after example i + 2 is scored.
        assert_eq!(m.0.log.borrow().join(" "), "p0 p1 p2 l0 p3 l1 p4 l2");
        // Metrics count the arrived labels only: 0, 1, 2 were all predicted before any learning.
        assert_eq!(ev.metrics()[0].get(), 0.0);
        ev.finish(&mut m, &mut |_| {});
        assert_eq!(m.0.log.borrow().join(" "), "p0 p1 p2 l0 p3 l1 p4 l2 l3 l4");
        // Predictions 3 and 4 were made after learning label 1: hits.
        assert_eq!(ev.metrics()[0].get(), 2.0 / 5.0);
        assert_eq!(ev.n(), 5);
    }

    /// Predicts a constant.
    struct Const(f64);
    impl Regressor for Const {
        fn predict_one(&self, _: &[f64]) -> f64 {
            self.0
        }
        fn learn_one(&mut self, _: &[f64], _: f64) {}
    }

    #[test]
    fn detector_sees_errors_and_drift_events_are_reported() {
        let det = drift::build("page_hinkley", &Default::default()).unwrap();
        let mut ev = Prequential::new(vec![metrics::build("mae").unwrap()], Some(det), 100, 0);
        let mut m = AsRegressor(Const(0.0));
        let mut drifts = Vec::new();
        let mut reports = 0;
        for i in 0..2000 {
            let y = if i < 1000 { 0.1 } else { 5.0 };
            ev.step(&mut m, &[], y, &mut |e| match e {
                Event::Drift { n, detector } => drifts.push((n, detector)),
                Event::Report { .. } => reports += 1,
                Event::Warning { .. } => {}
            });
        }
        assert_eq!(reports, 20);
        assert!(!drifts.is_empty() && drifts[0].1 == "page_hinkley");
        // Errors jump from 0.1 to 5 at example 1001 (n is 1-based): found within 20.
        assert!((1001..1021).contains(&drifts[0].0), "{drifts:?}");
        assert_eq!(ev.n_drifts(), drifts.len() as u64);
        assert!((ev.metrics()[0].get() - (100.0 + 5000.0) / 2000.0).abs() < 1e-9);
    }

    #[test]
    fn classifier_errors_drive_ddm() {
        let det = drift::build("ddm", &Default::default()).unwrap();
        let mut ev = Prequential::new(acc(), Some(det), 0, 0);
        // Memorising the last label is right 90% of the time on runs of 10, then 50%.
        let mut m = AsClassifier(Memo::default());
        let mut first = None;
        for i in 0..3000u64 {
            let y = if i < 1500 {
                ((i / 10) % 2) as f64
            } else {
                (i % 2) as f64
            };
            ev.step(&mut m, &[0.0], y, &mut |e| {
                if let Event::Drift { n, .. } = e {
                    first.get_or_insert(n);
                }
            });
        }
        let first = first.expect("drift");
        assert!((1501..1700).contains(&first), "{first}");
    }
}
