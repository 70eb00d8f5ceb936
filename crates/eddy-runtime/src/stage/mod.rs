//! Stages: the steps a batch of records goes through (decode, features, score, emit; learn
//! to come), each behind the one small [`Stage`] trait, so the [`crate::driver`] runs them
//! without knowing what they do.
//!
//! A batch ([`Work`]) is reused: it circulates between the driver's threads and carries
//! every stage's results for its records, so the steady state allocates nothing. Watermarks
//! travel with the batch: the features stage advances the engine's watermark as it applies
//! each record and records it in the record's outcome, for the stages after it.

pub mod decode;
pub mod emit;
pub mod features;
pub mod learn;
pub mod rows;
pub mod score;

use eddy_core::agg::FeatureValue;
use eddy_core::engine::{Outcome, WindowRow};
use eddy_core::row::FeatureRow;
use eddy_core::{Event, KeyId};

use crate::connector::{Batch, Record};
use crate::error::RuntimeError;
use crate::lookup::Lookup;
use crate::metrics::Metrics;

/// One step of a pipeline.
///
/// The driver hands each stage the batches in input order. A stage works on a batch in place
/// and passes it on, or holds it (until its scores are back, say) and passes it on later from
/// [`Stage::poll`] or [`Stage::finish`]. Stages count in plain fields and report to the run's
/// [`Metrics`] after each batch, and will be asked for their state at checkpoints.
pub trait Stage {
    /// For messages.
    fn name(&self) -> &'static str;

    /// Processes one batch; passes it (or others it held) on through `flow`.
    fn process(&mut self, w: Box<Work>, flow: &mut Flow) -> Result<(), RuntimeError>;

    /// A lookup of the online store, passed through the stages like a batch (so it sees every
    /// batch sent before it). A stage that can settle it answers it and returns `None`.
    fn query(&mut self, q: Query) -> Option<Query> {
        Some(q)
    }

    /// Whether the stage holds batches that [`Stage::poll`] may release without new input.
    fn pending(&self) -> bool {
        false
    }

    /// Releases what is ready, without blocking.
    fn poll(&mut self, _flow: &mut Flow) -> Result<(), RuntimeError> {
        Ok(())
    }

    /// The input has ended: pass on everything held, and what only the end releases (the
    /// last windows, the rows still waiting for scores). A stage with much to release may
    /// pass a piece and return `false`: the driver hands that piece on through the rest of
    /// the chain and asks again, so that no more than a piece is in memory at once.
    fn finish(&mut self, _flow: &mut Flow) -> Result<bool, RuntimeError> {
        Ok(true)
    }

    /// Adds what the stage counted since its last report to the run's metrics (the driver
    /// calls it after every batch, so it costs a few atomic adds per batch).
    fn report(&mut self, _m: &Metrics) {}

    /// The stage's state at a batch boundary, for a checkpoint; `None` for a stateless stage.
    fn snapshot(&self) -> Result<Option<Vec<u8>>, RuntimeError> {
        Ok(None)
    }

    /// Restores the state [`Stage::snapshot`] gave.
    fn restore(&mut self, _state: &[u8]) -> Result<(), RuntimeError> {
        Err(RuntimeError::Restore {
            stage: self.name(),
            msg: "this stage keeps no state to restore".to_string(),
        })
    }
}

/// Batches a stage passes on, in order. Boxed: they move between threads and queues, and a
/// `Work` is big.
#[derive(Default)]
pub struct Flow {
    #[allow(clippy::vec_box)]
    out: Vec<Box<Work>>,
}

impl Flow {
    /// Hands `w` to the next stage.
    pub fn pass(&mut self, w: Box<Work>) {
        self.out.push(w);
    }

    /// Takes what was passed, in order.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Box<Work>> {
        self.out.drain(..)
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
}

/// A lookup on its way through the stages.
pub struct Query {
    pub(crate) lookup: Lookup,
    /// Set by the decode stage: the key's id.
    pub(crate) key: Option<KeyId>,
    /// Set by the features stage: the key's latest row (`None`: no event applied).
    pub(crate) values: Option<Vec<FeatureValue>>,
}

impl Query {
    pub(crate) fn new(lookup: Lookup) -> Query {
        Query {
            lookup,
            key: None,
            values: None,
        }
    }
}

/// One batch on its way through the pipeline; reused.
#[derive(Default)]
pub struct Work {
    pub batch: Batch,
    /// The batch's number, in decoding order (set by the decode stage).
    pub seq: u64,
    /// Set by the features stage: the keys the engine released while applying this batch
    /// (idle: every window closed and dropped), which the decoder may forget once every
    /// row before them is written.
    pub released: Vec<KeyId>,
    /// The source's bytes read after this batch (for progress).
    pub bytes_read: u64,
    /// Processing time when the batch was read (ms, the caller's clock): source idleness.
    pub now: i64,
    /// Wall-clock time when the batch was read (ms since the epoch): the watermark's lag.
    pub wall_ms: i64,
    /// The records decoded (not blank, not dead letters), in input order; `events[i]`
    /// belongs to `recs[i]`.
    pub recs: Vec<Record>,
    pub events: Vec<Event>,
    /// With a `[learn]` label stream: each event's id ([`crate::decode::event_id_hash`]; 0:
    /// none), `ids[i]` belonging to `events[i]`.
    pub ids: Vec<u64>,
    /// The texts of string fields no feature keeps, per event, for the outputs that echo
    /// them.
    pub texts: crate::strings::Texts,
    /// Dead letters of this batch, encoded by the decode stage (and the learn stage's, of
    /// its label stream), and how many.
    pub dead: Vec<u8>,
    pub dead_rows: u64,
    /// Learning-log rows made by the learn stage while it took this batch, and how many.
    pub learning: Vec<u8>,
    pub learning_rows: u64,
    /// Set by the features stage: each record's outcome and the engine's watermark then.
    pub outcomes: Vec<(Outcome, i64)>,
    pub rows: Vec<FeatureRow>,
    pub closed: Vec<WindowRow>,
    /// The features stage fell behind (another batch was waiting): it left the features
    /// objects and the model to the front thread (the bytes are the same either way).
    pub behind: bool,
    /// The ids given to a string while decoding this batch (new, or released before and
    /// given again), and with the engine thread's features objects, their strings.
    pub assigned: Vec<u32>,
    pub new_strings: Vec<(u32, Box<str>)>,
    /// Set by the decode stage: the features stage is to mark the strings the engine's
    /// state holds (into `string_marks`, a bitset by id), for the decoder to forget the
    /// others once this batch is written.
    pub mark_strings: bool,
    pub string_marks: Vec<u64>,
    /// Per-event rows (the raw line with its features object and prediction spliced in)
    /// made by the features stage: record `i`'s is `feat_json[feat_ends[i - 1]..feat_ends[i]]`
    /// (empty when it has no row, or when the emit stage is to make it).
    pub feat_json: Vec<u8>,
    pub feat_ends: Vec<usize>,
    /// The features stage made every per-event row of the batch: `feat_json` is the batch's
    /// per-event output, in order.
    pub rows_complete: bool,
    /// With an embedded model that scored the batch (`predicted`): record `i`'s
    /// `,"prediction":...` is `pred_json[pred_ends[i - 1]..pred_ends[i]]` (empty when it has
    /// no row).
    pub predicted: bool,
    pub pred_json: Vec<u8>,
    pub pred_ends: Vec<usize>,
}

impl Work {
    /// Record `i`'s prediction fragment (empty without one).
    pub fn prediction(&self, i: usize) -> &[u8] {
        fragment(self.predicted, &self.pred_json, &self.pred_ends, i)
    }

    /// Record `i`'s raw bytes.
    pub fn record(&self, i: usize) -> &[u8] {
        let r = self.recs[i];
        &self.batch.data[r.start..r.end]
    }
}

/// Whether a record with this outcome has a per-event row.
pub fn has_row(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Accepted | Outcome::LateUpdated)
}

/// Record `i`'s piece of `json`, whose pieces end at `ends` (nothing when `!present`).
pub fn fragment<'a>(present: bool, json: &'a [u8], ends: &[usize], i: usize) -> &'a [u8] {
    if !present {
        return &[];
    }
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &json[start..ends[i]]
}
