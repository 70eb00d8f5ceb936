//! The features stage: the watermark and the feature engine, on the engine thread (no I/O,
//! no clock: processing time comes with the batch).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use eddy_core::engine::FeatureEngine;
use eddy_core::row::FeatureRow;
use eddy_core::watermark::WatermarkTracker;

use super::{Flow, Query, Stage, Work};
use crate::error::RuntimeError;
use crate::metrics::Metrics;

/// Window rows the end of the input fires per piece (about 3 MB of rows), each written
/// before the next is made.
const FINISH_ROWS: usize = 65_536;

pub struct FeaturesStage<'a> {
    pub(crate) engine: &'a mut FeatureEngine,
    pub(crate) tracker: WatermarkTracker,
    pub(crate) last_wm: i64,
    /// Batches decoded and not yet taken up here: when some are waiting, this thread is the
    /// slower one and leaves the features objects (and the model) to the front thread.
    pub(crate) backlog: Arc<AtomicUsize>,
    /// Processing time (the batches' clock) when the state's size was last measured: it
    /// walks every key, so it is measured about once a second, and at the end of the input
    /// (before the last windows fire).
    pub(crate) measured_at: Option<i64>,
    pub(crate) state_bytes: Option<u64>,
    /// The end of the input has begun to fire (its state was measured before the first
    /// piece).
    pub(crate) ending: bool,
    /// The last batch's wall-clock time (for the watermark's lag).
    pub(crate) wall_ms: i64,
    /// `max_state_bytes`: the run stops when the state, as measured, holds more.
    pub(crate) max_state: Option<u64>,
    /// Keys the engine had released at the last report.
    pub(crate) released_reported: u64,
    /// Pinned (tests): which thread makes the per-event rows, whatever the backlog.
    pub(crate) pin: Option<RowsThread>,
}

/// How often (processing time, ms) the state's size is measured while the run goes on.
const MEASURE_EVERY: i64 = 1_000;

/// Which thread makes a batch's per-event rows (and scores them with an embedded model), when
/// pinned ([`crate::Pipeline::pin_rows_thread`], for tests); unpinned, the engine thread does
/// when it keeps up. The bytes are the same either way.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsThread {
    Engine,
    Front,
}

/// Batches with per-event rows, by the thread that made their rows (counted by the emit
/// stage when the rows thread is pinned).
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct RowsSeen {
    pub engine: AtomicU64,
    pub front: AtomicU64,
}

impl FeaturesStage<'_> {
    /// Stops the run, naming the feature that holds the most, when the state is over the bound.
    fn check_limit(&self, total: u64) -> Result<(), RuntimeError> {
        let Some(max) = self.max_state.filter(|&m| total > m) else {
            return Ok(());
        };
        let specs = self.engine.features();
        let (f, feature_bytes) = (0..specs.len())
            .map(|f| (f, self.engine.feature_state_bytes(f)))
            .max_by_key(|&(_, b)| b)
            .unwrap_or((0, 0));
        Err(RuntimeError::StateLimit {
            total,
            max,
            feature: specs.get(f).map(|s| s.name.clone()).unwrap_or_default(),
            feature_bytes: feature_bytes as u64,
        })
    }
}

impl Stage for FeaturesStage<'_> {
    fn name(&self) -> &'static str {
        "features"
    }

    fn process(&mut self, mut w: Box<Work>, flow: &mut Flow) -> Result<(), RuntimeError> {
        let w_ = &mut *w;
        w_.outcomes.clear();
        w_.closed.clear();
        w_.feat_json.clear();
        w_.feat_ends.clear();
        w_.pred_json.clear();
        w_.pred_ends.clear();
        w_.predicted = false;
        w_.rows_complete = false;
        // Another batch is already waiting: the stages after this one on this thread leave
        // their work to the front thread.
        let behind = self.backlog.fetch_sub(1, Ordering::Relaxed) > 1;
        w_.behind = match self.pin {
            None => behind,
            Some(RowsThread::Engine) => false,
            Some(RowsThread::Front) => true,
        };
        let wm = self.tracker.on_processing_time(w_.now);
        if wm > self.last_wm {
            self.last_wm = wm;
            self.engine.advance_watermark(wm, &mut w_.closed);
        }
        let n = w_.recs.len();
        if w_.rows.len() < n {
            w_.rows.resize_with(n, FeatureRow::default);
        }
        for i in 0..n {
            let ev = &w_.events[i];
            self.engine.prefetch_upcoming(&w_.events[i + 1..n]);
            let outcome = self.engine.process(ev, &mut w_.rows[i], &mut w_.closed);
            w_.outcomes.push((outcome, self.engine.watermark()));
            let wm = self.tracker.observe(w_.batch.partition, ev.ts, w_.now);
            if wm > self.last_wm {
                self.last_wm = wm;
                self.engine.advance_watermark(wm, &mut w_.closed);
            }
        }
        w_.released.clear();
        self.engine.take_released(&mut w_.released);
        if w_.mark_strings {
            let marks = &mut w_.string_marks;
            marks.clear();
            self.engine
                .for_each_sym(&mut |s| crate::strings::set_bit(marks, s.0));
        }
        if self.measured_at.is_none_or(|t| w_.now - t >= MEASURE_EVERY) {
            self.measured_at = Some(w_.now);
            let bytes = self.engine.state_bytes() as u64;
            self.state_bytes = Some(bytes);
            self.check_limit(bytes)?;
        }
        self.wall_ms = w_.wall_ms;
        flow.pass(w);
        Ok(())
    }

    fn query(&mut self, mut q: Query) -> Option<Query> {
        q.values = q.key.and_then(|k| self.engine.latest(k));
        Some(q)
    }

    fn finish(&mut self, flow: &mut Flow) -> Result<bool, RuntimeError> {
        if !self.ending {
            self.ending = true;
            self.state_bytes = Some(self.engine.state_bytes() as u64);
        }
        let mut fin = Box::<Work>::default();
        let done = self.engine.finish_some(&mut fin.closed, FINISH_ROWS);
        flow.pass(fin);
        Ok(done)
    }

    fn report(&mut self, m: &Metrics) {
        m.keys().set(self.engine.num_keys() as u64);
        let released = self.engine.keys_released();
        m.keys_released().add(released - self.released_reported);
        self.released_reported = released;
        if let Some(b) = self.state_bytes.take() {
            m.state_bytes().set(b);
        }
        for p in 0..self.tracker.partitions() {
            m.set_watermark(p, self.tracker.partition(p), self.wall_ms);
        }
    }
}
