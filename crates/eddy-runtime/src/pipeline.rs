//! Drives a pipeline: source → decode → watermark → feature engine → model → sinks.
//!
//! A bad record never stops the run: it becomes a dead letter, counted. Processing time (for
//! source idleness) comes from the caller's clock; the operators themselves are clock-free.

use eddy_core::agg::FeatureValue;
use eddy_core::engine::{FeatureEngine, Outcome, WindowRow};
use eddy_core::row::FeatureRow;
use eddy_core::watermark::WatermarkTracker;
use eddy_core::{Event, Interner, KeyId};

use crate::decode::Decoder;
use crate::encode::{Encoder, FeaturesJson};
use crate::error::{RuntimeError, SpecError, SpecErrors};
use crate::lookup::{Answer, Lookup, Lookups};
use crate::score::{RemoteStage, Scorer};
use crate::sink::{OutputKind, Outputs};
use crate::source::{Batch, ReaderSource, Source};
use crate::spec::{OutputFormat, Pattern, PipelineSpec};
use eddy_oip::remote::Counters;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// What a run did. Every input line is in exactly one of `events_read`'s outcomes or blank.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Non-blank input lines (records), CSV header excluded.
    pub events_read: u64,
    /// Events applied on time (per-event rows).
    pub accepted: u64,
    /// Per-event feature rows produced (`accepted + late_updated`).
    pub emitted: u64,
    /// Events behind all their windows (`ts + allowed_lateness <= watermark`): late output.
    pub late: u64,
    /// Events behind the watermark but within allowed lateness, applied (policy `update`).
    pub late_updated: u64,
    /// Events behind the watermark but within allowed lateness, ignored (policy `discard`);
    /// they also go to the late output.
    pub late_discarded: u64,
    /// Records that could not be decoded: dead-letter output.
    pub dead_lettered: u64,
    /// Window rows produced, updates included.
    pub window_rows: u64,
    /// Window rows that are late re-firings (`update = true`).
    pub window_updates: u64,
    /// Blank lines skipped.
    pub blank_lines: u64,
    /// Distinct keys seen.
    pub keys: u64,
    /// Bytes of input read.
    pub bytes_read: u64,
    /// Approximate bytes of feature state at the end of input (before the final flush).
    pub state_bytes: u64,
    /// With a `[model]`: per-event rows scored.
    pub scored: u64,
    /// With a `[model]`: per-event rows not scored (`"scored": false`), for either reason below.
    pub unscored: u64,
    /// Not scored because an input feature was null.
    pub unscored_null_feature: u64,
    /// Not scored because the model failed on the row.
    pub unscored_model_error: u64,
    /// External pattern: rows given the fallback score (`"scored": false`, with the reason).
    pub fallback: u64,
    /// Side output: not scored because the score missed the deadline.
    pub unscored_deadline: u64,
    /// Side output: not scored because the server failed on the row (reasons in `remote`).
    pub unscored_server: u64,
    /// Side output: not sent because the client already held its capacity of pending rows.
    pub unscored_shed: u64,
    /// Side output: scores that came back after their row had left (dropped).
    pub late_scores: u64,
    /// Server patterns: the client's counters (requests, retries, breaker, fallback reasons).
    pub remote: Option<Counters>,
}

/// Hooks from the caller: a processing-time clock (ms), a progress callback (bytes read),
/// and lookups of the online store to answer while the run goes on.
pub struct RunHooks<'a> {
    pub clock: &'a mut dyn FnMut() -> i64,
    pub progress: Option<&'a mut dyn FnMut(u64)>,
    /// Answered between batches (see [`crate::lookup`]), and [`Answer::Ended`] from the end
    /// of the input until the run returns; after it, they wait for
    /// [`Pipeline::serve_lookups`] (or are answered `Ended` when the lookups are dropped).
    pub lookups: Option<&'a Lookups>,
}

impl<'a> RunHooks<'a> {
    /// Hooks with a clock, no progress reporting and no lookups.
    pub fn with_clock(clock: &'a mut dyn FnMut() -> i64) -> Self {
        RunHooks {
            clock,
            progress: None,
            lookups: None,
        }
    }
}

/// The answer to a lookup of `key` whose row is `values` (`None`: no row).
fn answer_of(
    encoder: &mut Encoder,
    interner: &Interner,
    key: &str,
    values: Option<Vec<FeatureValue>>,
) -> Answer {
    match values {
        Some(v) => Answer::Found(encoder.latest_json(key, &v, interner)),
        None => Answer::UnknownKey,
    }
}

/// A pipeline ready to run: validated spec, engine, decoder and encoder.
pub struct Pipeline {
    spec: PipelineSpec,
    engine: FeatureEngine,
    decoder: Decoder,
    encoder: Encoder,
    interner: Interner,
    scorer: Option<Scorer>,
    remote: Option<RemoteStage>,
    warnings: Vec<String>,
}

const FLUSH_AT: usize = 256 * 1024;

impl Pipeline {
    pub fn new(spec: PipelineSpec) -> Result<Pipeline, RuntimeError> {
        let engine = FeatureEngine::new(spec.features.clone(), spec.engine).map_err(|e| {
            // Locate the feature the engine refused, when it names one.
            let path = match &e {
                eddy_core::CoreError::Feature { name, .. } => spec
                    .features
                    .iter()
                    .position(|f| &f.name == name)
                    .map_or("feature".to_string(), |i| format!("feature[{i}]")),
                _ => "feature".to_string(),
            };
            SpecErrors(vec![SpecError {
                path,
                msg: e.to_string(),
            }])
        })?;
        let (mut scorer, mut remote, mut warnings) = (None, None, Vec::new());
        match &spec.model {
            Some(m) if m.pattern == Pattern::Embedded => {
                scorer = Some(Scorer::new(m, &spec.features, spec.output.format)?)
            }
            Some(m) => {
                let (stage, w) = RemoteStage::new(m, &spec.features, spec.output.format)?;
                remote = Some(stage);
                warnings = w;
            }
            None => {}
        }
        let decoder = Decoder::new(&spec.source, &spec.schema);
        let names: Vec<String> = spec.features.iter().map(|f| f.name.clone()).collect();
        let mut encoder = Encoder::new(spec.output.format, &names);
        if let Some(m) = &spec.model {
            encoder.set_prediction_columns(crate::score::csv_columns(&m.field));
        }
        let interner = spec.interner.clone();
        Ok(Pipeline {
            spec,
            engine,
            decoder,
            encoder,
            interner,
            scorer,
            remote,
            warnings,
        })
    }

    /// What the start-up checks could not settle (e.g. a model server that did not answer).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn spec(&self) -> &PipelineSpec {
        &self.spec
    }

    /// The engine (its online store, kept when a run answered lookups, stays readable after
    /// the run).
    pub fn engine(&self) -> &FeatureEngine {
        &self.engine
    }

    /// Answers `lookups` from the state a run left, until every [`crate::lookup::StoreReader`]
    /// is gone: to keep the online store readable once a file's events are all applied. Call
    /// it after [`Self::run`] was given the same lookups (the run keeps the online store only
    /// then; otherwise every key is unknown).
    pub fn serve_lookups(&mut self, lookups: &Lookups) {
        while let Ok(lookup) = lookups.rx.recv() {
            let values = (self.decoder.key_id(&lookup.key)).and_then(|k| self.engine.latest(k));
            let a = answer_of(&mut self.encoder, &self.interner, &lookup.key, values);
            lookup.answer(a);
        }
    }

    /// The `[model]` scorer, if the spec has one.
    pub fn scorer(&self) -> Option<&Scorer> {
        self.scorer.as_ref()
    }

    /// Opens the source named by the spec (`None` path: stdin).
    pub fn open_source(&self) -> Result<Box<dyn Source + Send>, RuntimeError> {
        Ok(match &self.spec.source.path {
            Some(p) => Box::new(ReaderSource::open(p)?),
            None => Box::new(ReaderSource::new("stdin", std::io::stdin())),
        })
    }

    /// Runs `source` to its end, writing to `outputs`.
    ///
    /// Pipelined by batch over three threads: a reader thread only reads (so a quiet input
    /// never holds back results that are ready); this thread decodes, encodes, writes and
    /// drives a server pattern's scoring; an engine thread tracks the watermark and runs the
    /// feature engine (and an embedded model). Batches circulate between them (no allocation
    /// in steady state), and every result is in input order (external `unordered` aside), so
    /// the output does not depend on timing.
    pub fn run(
        &mut self,
        source: &mut (dyn Source + Send),
        outputs: &mut Outputs,
        hooks: RunHooks<'_>,
    ) -> Result<Summary, RuntimeError> {
        let RunHooks {
            clock,
            mut progress,
            lookups,
        } = hooks;
        let Pipeline {
            spec,
            engine,
            decoder,
            encoder,
            interner,
            scorer,
            remote,
            ..
        } = self;
        let tracker = WatermarkTracker::new(spec.watermark, source.partitions());
        if lookups.is_some() {
            engine.keep_online_store();
        }
        // JSONL in and out: the engine thread builds each batch's per-event rows when it is
        // keeping up (no other batch waiting for it); otherwise this thread does (same bytes).
        // Not with a model server: a row is complete only when its score is back.
        let splice = outputs.enabled(OutputKind::Events)
            && encoder.splices(decoder.format())
            && remote.is_none();
        let features_json = splice.then(|| {
            let names: Vec<String> = spec.features.iter().map(|f| f.name.clone()).collect();
            FeaturesJson::new(&names)
        });
        // Batches decoded and not yet taken up by the engine thread: when some are waiting, the
        // engine thread is the slower one and leaves the features objects to this thread.
        let backlog = &AtomicUsize::new(0);
        let mut front = Front {
            backlog,
            splice,
            synced: 0,
            decoder,
            encoder,
            interner,
            s: Summary::default(),
            bufs: Buffers::default(),
            late_reason_prefix: format!(
                "late: event time + allowed_lateness ({}) <= watermark",
                crate::spec::format_duration(spec.engine.allowed_lateness)
            ),
            want_events: outputs.enabled(OutputKind::Events),
            want_windows: outputs.enabled(OutputKind::Windows),
            want_late: outputs.enabled(OutputKind::Late),
            want_dead: outputs.enabled(OutputKind::DeadLetter),
            remote: remote.as_mut(),
            held: VecDeque::new(),
            next_work: 0,
            works: IN_FLIGHT,
            scorer: scorer.as_ref().map(Scorer::fork),
        };
        if front.encoder.format() == OutputFormat::Csv {
            front
                .encoder
                .events_csv_header(&mut front.bufs.events, front.decoder);
            front.encoder.windows_csv_header(&mut front.bufs.windows);
            front.encoder.rejects_csv_header(&mut front.bufs.late);
            front.encoder.rejects_csv_header(&mut front.bufs.dead);
        }

        let source_name = source.name();
        let reading: &mut (dyn Source + Send) = &mut *source;
        let (to_engine, engine_rx) = mpsc::sync_channel::<ToEngine>(IN_FLIGHT + 1);
        // Unbounded, but only `front.works` batches exist.
        let (to_front, front_rx) = mpsc::channel::<ToFront>();
        let (to_reader, reader_rx) = mpsc::channel::<Box<Work>>();
        let state_bytes = std::thread::scope(|scope| -> Result<u64, RuntimeError> {
            let engine_done = to_front.clone();
            let engine_thread = scope.spawn(move || {
                let mut stage = EngineStage {
                    engine,
                    tracker,
                    last_wm: i64::MIN,
                    features_json,
                    backlog,
                    scorer: scorer.as_mut(),
                };
                for msg in engine_rx {
                    let reply = match msg {
                        ToEngine::Batch(mut w) => {
                            stage.process(&mut w);
                            ToFront::Done(w)
                        }
                        ToEngine::Lookup(key, lookup) => {
                            ToFront::Latest(stage.engine.latest(key), lookup)
                        }
                    };
                    if engine_done.send(reply).is_err() {
                        return 0;
                    }
                }
                let state = stage.engine.state_bytes() as u64;
                let mut fin = Box::<Work>::default();
                stage.engine.finish(&mut fin.closed);
                let _ = engine_done.send(ToFront::Finished(fin));
                state
            });
            // Reading blocks (a quiet stdin, a slow disk); on a thread of its own it never
            // holds back results that are ready, nor scores waiting on a deadline.
            let read = to_front.clone();
            scope.spawn(move || {
                for mut w in reader_rx {
                    let end = match reading.next_batch(&mut w.batch) {
                        Ok(true) => {
                            w.bytes_read = reading.bytes_read();
                            if read.send(ToFront::Read(w)).is_err() {
                                return;
                            }
                            continue;
                        }
                        Ok(false) => Ok(()),
                        Err(e) => Err(e),
                    };
                    let _ = read.send(ToFront::ReadEnd(end));
                    return;
                }
            });
            drop(to_front);
            let result = (|| -> Result<(), RuntimeError> {
                for _ in 0..IN_FLIGHT {
                    let _ = to_reader.send(Box::default());
                }
                let mut to_engine = Some(to_engine);
                let mut free: Pool = Vec::new();
                loop {
                    // lookups are looked for between messages: never wait long for one
                    let msg = if front.scoring() || lookups.is_some() {
                        match front_rx.recv_timeout(SCORE_POLL) {
                            Ok(m) => Some(m),
                            Err(mpsc::RecvTimeoutError::Timeout) => None,
                            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                        }
                    } else {
                        match front_rx.recv() {
                            Ok(m) => Some(m),
                            Err(_) => return Ok(()), // a thread stopped (a panic, re-raised below)
                        }
                    };
                    match msg {
                        None => {}
                        Some(ToFront::Read(mut w)) => {
                            w.now = clock();
                            front.decode(&mut w, &source_name)?;
                            front.s.bytes_read = w.bytes_read;
                            if let Some(p) = progress.as_mut() {
                                p(w.bytes_read);
                            }
                            match &to_engine {
                                Some(tx) if tx.send(ToEngine::Batch(w)).is_ok() => {}
                                _ => return Ok(()),
                            }
                        }
                        // The engine finishes once it has every batch read.
                        Some(ToFront::ReadEnd(end)) => {
                            end?;
                            to_engine = None;
                        }
                        Some(ToFront::Done(w)) => front.emit(w, outputs, &mut free)?,
                        Some(ToFront::Latest(values, lookup)) => front.answer(values, lookup),
                        Some(ToFront::Finished(w)) => {
                            front.emit(w, outputs, &mut free)?;
                            return front.finish_scores(outputs);
                        }
                    }
                    front.poll_scores(outputs, &mut free)?;
                    if let Some(l) = lookups {
                        front.take_lookups(l, to_engine.as_ref());
                    }
                    if to_engine.is_some() {
                        // Every batch is waiting for scores: one more for the reader.
                        if free.is_empty()
                            && front.held.len() == front.works
                            && front.works < MAX_WORKS
                        {
                            front.works += 1;
                            free.push(Box::default());
                        }
                        for w in free.drain(..) {
                            let _ = to_reader.send(w);
                        }
                    }
                }
            })();
            drop(to_reader);
            let state = match engine_thread.join() {
                Ok(state) => state,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            result.map(|_| state)
        })?;
        front.bufs.write_all(outputs)?;
        outputs.flush()?;
        if let Some(r) = front.remote.as_deref() {
            let c = r.counts();
            let s = &mut front.s;
            s.scored = c.scored;
            s.fallback = c.fallback;
            s.unscored_null_feature = c.unscored_null_feature;
            s.unscored_deadline = c.unscored_deadline;
            s.unscored_server = c.unscored_server;
            s.unscored_shed = c.unscored_shed;
            s.unscored =
                c.unscored_null_feature + c.unscored_deadline + c.unscored_server + c.unscored_shed;
            s.late_scores = c.late_scores;
            s.remote = Some(r.client_counters());
        }
        let mut s = front.s;
        s.state_bytes = state_bytes;
        s.keys = front.decoder.num_keys() as u64;
        s.bytes_read = source.bytes_read();
        Ok(s)
    }
}

/// Batches ready for reuse. Boxed: they move between threads and queues, and a `Work` is big.
#[allow(clippy::vec_box)]
type Pool = Vec<Box<Work>>;

/// Batches in circulation between the threads.
const IN_FLIGHT: usize = 3;
/// How often the front thread looks for scores (while rows wait for them) and for lookups of
/// the online store (when the run takes them).
const SCORE_POLL: Duration = Duration::from_millis(2);

/// What reaches the engine thread, in the order the front thread sent it.
enum ToEngine {
    /// A decoded batch.
    Batch(Box<Work>),
    /// The latest row of a key, for a lookup (answered after every batch sent before it).
    Lookup(KeyId, Lookup),
}

/// What reaches the front thread.
enum ToFront {
    /// A batch from the reader thread, to decode.
    Read(Box<Work>),
    /// The reader stopped: the end of the input, or an error reading it.
    ReadEnd(Result<(), RuntimeError>),
    /// A batch the engine has processed, to write out.
    Done(Box<Work>),
    /// The engine's last window rows, after the end of the input; nothing follows.
    Finished(Box<Work>),
    /// A key's latest features (`None`: no event of the key applied), for a lookup.
    Latest(Option<Vec<FeatureValue>>, Lookup),
}
/// With a server pattern, batches whose rows wait for scores join them, up to this many.
const MAX_WORKS: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Rec {
    lineno: u64,
    start: usize,
    end: usize,
}

/// One batch on its way through the pipeline; reused.
#[derive(Default)]
struct Work {
    batch: Batch,
    /// The source's bytes read after this batch (for progress).
    bytes_read: u64,
    now: i64,
    /// Decoded records, in input order; `events[i]` belongs to `recs[i]`.
    recs: Vec<Rec>,
    events: Vec<Event>,
    /// Set by the engine thread: each record's outcome and the engine's watermark then.
    outcomes: Vec<(Outcome, i64)>,
    rows: Vec<FeatureRow>,
    closed: Vec<WindowRow>,
    /// Strings interned while decoding this batch, in id order (for [`FeaturesJson`]).
    new_strings: Vec<Box<str>>,
    /// Per-event rows (the raw line with its features object and prediction spliced in)
    /// made by the engine thread: record `i`'s is `feat_json[feat_ends[i - 1]..feat_ends[i]]`
    /// (empty when it has no row, or when the front thread is to make it).
    feat_json: Vec<u8>,
    feat_ends: Vec<usize>,
    /// The engine thread made every per-event row of the batch: `feat_json` is the batch's
    /// per-event output, in order.
    rows_complete: bool,
    /// With an embedded model that the engine thread ran (`predicted`): record `i`'s
    /// `,"prediction":...` is `pred_json[pred_ends[i - 1]..pred_ends[i]]` (empty when it has
    /// no row).
    predicted: bool,
    pred_json: Vec<u8>,
    pred_ends: Vec<usize>,
    scored: u64,
    unscored_null_feature: u64,
    unscored_model_error: u64,
}

/// The engine thread: watermark tracking and the feature engine (no I/O, no clock).
struct EngineStage<'a> {
    engine: &'a mut FeatureEngine,
    tracker: WatermarkTracker,
    last_wm: i64,
    features_json: Option<FeaturesJson>,
    /// See `Pipeline::run`.
    backlog: &'a AtomicUsize,
    scorer: Option<&'a mut Scorer>,
}

impl EngineStage<'_> {
    fn process(&mut self, w: &mut Work) {
        w.outcomes.clear();
        w.closed.clear();
        w.feat_json.clear();
        w.feat_ends.clear();
        w.pred_json.clear();
        w.pred_ends.clear();
        w.scored = 0;
        w.unscored_null_feature = 0;
        w.unscored_model_error = 0;
        if let Some(fj) = &mut self.features_json {
            fj.push_strings(w.new_strings.iter().map(|s| &**s));
        }
        // Another batch is already waiting: leave the features objects to the front thread
        // (the bytes are the same either way).
        let behind = self.backlog.fetch_sub(1, Ordering::Relaxed) > 1;
        #[cfg(test)]
        let behind = match tests::FEATURES_ON.load(Ordering::Relaxed) {
            1 => false,
            2 => true,
            _ => behind,
        };
        let features_json = if behind {
            None
        } else {
            self.features_json.as_mut()
        };
        w.rows_complete = features_json.is_some();
        // Behind, the engine thread leaves the embedded model to the front thread too.
        w.predicted = false;
        let scorer = if behind {
            None
        } else {
            self.scorer.as_deref_mut()
        };
        let wm = self.tracker.on_processing_time(w.now);
        if wm > self.last_wm {
            self.last_wm = wm;
            self.engine.advance_watermark(wm, &mut w.closed);
        }
        let n = w.recs.len();
        if w.rows.len() < n {
            w.rows.resize_with(n, FeatureRow::default);
        }
        for i in 0..n {
            let ev = &w.events[i];
            self.engine.prefetch_upcoming(&w.events[i + 1..n]);
            let outcome = self.engine.process(ev, &mut w.rows[i], &mut w.closed);
            w.outcomes.push((outcome, self.engine.watermark()));
            let wm = self.tracker.observe(w.batch.partition, ev.ts, w.now);
            if wm > self.last_wm {
                self.last_wm = wm;
                self.engine.advance_watermark(wm, &mut w.closed);
            }
        }
        if let Some(sc) = scorer {
            w.score_with(sc);
        }
        if let Some(fj) = features_json {
            for i in 0..n {
                if has_row(w.outcomes[i].0) {
                    // The whole per-event row; none (the front thread encodes it) if the
                    // line is not an object.
                    let rec = w.recs[i];
                    let line = &w.batch.data[rec.start..rec.end];
                    let prediction = fragment(w.predicted, &w.pred_json, &w.pred_ends, i);
                    if !fj.encode_row(&mut w.feat_json, line, &w.rows[i], prediction) {
                        w.rows_complete = false;
                    }
                }
                w.feat_ends.push(w.feat_json.len());
            }
        }
    }
}

fn has_row(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Accepted | Outcome::LateUpdated)
}

impl Work {
    /// Scores every per-event row of the batch with the embedded model, in one call.
    fn score_with(&mut self, scorer: &mut Scorer) {
        let outcomes = &self.outcomes;
        let c = scorer.score_batch(
            &self.rows,
            outcomes.len(),
            |i| has_row(outcomes[i].0),
            &mut self.pred_json,
            &mut self.pred_ends,
        );
        self.predicted = true;
        self.scored = c.scored;
        self.unscored_null_feature = c.null_feature;
        self.unscored_model_error = c.model_error;
    }

    /// Record `i`'s prediction fragment (empty without one).
    fn prediction(&self, i: usize) -> &[u8] {
        fragment(self.predicted, &self.pred_json, &self.pred_ends, i)
    }
}

/// Record `i`'s piece of `json`, whose pieces end at `ends` (nothing when `!present`).
fn fragment<'a>(present: bool, json: &'a [u8], ends: &[usize], i: usize) -> &'a [u8] {
    if !present {
        return &[];
    }
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &json[start..ends[i]]
}

/// This thread's side: decoding, encoding, counting.
struct Front<'a> {
    /// See `Pipeline::run`.
    backlog: &'a AtomicUsize,
    /// Per-event rows are spliced from features objects encoded by the engine thread.
    splice: bool,
    /// How many interned strings the engine thread has been sent.
    synced: usize,
    decoder: &'a mut Decoder,
    encoder: &'a mut Encoder,
    interner: &'a mut Interner,
    s: Summary,
    bufs: Buffers,
    late_reason_prefix: String,
    want_events: bool,
    want_windows: bool,
    want_late: bool,
    want_dead: bool,
    /// A server pattern: rows leave when the stage delivers their score.
    remote: Option<&'a mut RemoteStage>,
    /// The embedded model, for the rows the engine thread left unscored (it was behind).
    scorer: Option<Scorer>,
    /// Batches with rows waiting for scores, oldest first.
    held: VecDeque<Held>,
    next_work: u64,
    /// Batches allocated so far.
    works: usize,
}

/// A batch whose per-event rows wait for their scores (server patterns).
struct Held {
    seq: u64,
    w: Box<Work>,
    waiting: usize,
}

/// A row's id for the scoring stage: its batch's sequence number and its index there.
fn row_id(seq: u64, i: usize) -> u64 {
    (seq << 32) | i as u64
}

/// Writes one per-event row: the one the engine thread made, if it made one, else encoded
/// here with its `prediction` fragment.
#[allow(clippy::too_many_arguments)]
fn write_event(
    encoder: &mut Encoder,
    out: &mut Vec<u8>,
    decoder: &Decoder,
    interner: &Interner,
    w: &Work,
    i: usize,
    prediction: &[u8],
) {
    let row = fragment(!w.feat_ends.is_empty(), &w.feat_json, &w.feat_ends, i);
    if !row.is_empty() {
        out.extend_from_slice(row);
        return;
    }
    let line = &w.batch.data[w.recs[i].start..w.recs[i].end];
    encoder.event(
        out,
        line,
        &w.events[i],
        &w.rows[i],
        prediction,
        decoder,
        interner,
    );
}

fn fmt_ts(ts: i64) -> String {
    let mut s = String::new();
    if (eddy_core::time::MIN_EVENT_TS..=eddy_core::time::MAX_EVENT_TS).contains(&ts) {
        eddy_core::time::format_rfc3339(ts, &mut s);
    } else {
        s = ts.to_string();
    }
    s
}

impl Front<'_> {
    /// Passes the lookups waiting to the engine thread (in order after the batches sent so
    /// far), or answers them here when no key by that name was ever decoded or the engine
    /// has all the input already (`to_engine` gone).
    fn take_lookups(&self, lookups: &Lookups, to_engine: Option<&mpsc::SyncSender<ToEngine>>) {
        while let Ok(lookup) = lookups.rx.try_recv() {
            match (self.decoder.key_id(&lookup.key), to_engine) {
                (_, None) => lookup.answer(Answer::Ended),
                (None, _) => lookup.answer(Answer::UnknownKey),
                (Some(k), Some(tx)) => {
                    if let Err(mpsc::SendError(ToEngine::Lookup(_, lookup))) =
                        tx.send(ToEngine::Lookup(k, lookup))
                    {
                        lookup.answer(Answer::Ended);
                    }
                }
            }
        }
    }

    /// Answers a lookup with the row the engine thread read.
    fn answer(&mut self, values: Option<Vec<FeatureValue>>, lookup: Lookup) {
        let a = answer_of(self.encoder, self.interner, &lookup.key, values);
        lookup.answer(a);
    }

    /// Decodes a batch's lines; bad ones become dead letters right away.
    fn decode(&mut self, w: &mut Work, source_name: &str) -> Result<(), RuntimeError> {
        let Work {
            batch,
            recs,
            events,
            ..
        } = w;
        recs.clear();
        let base = batch.data.as_ptr() as usize;
        for (lineno, line) in batch.lines() {
            if line.iter().all(|c| c.is_ascii_whitespace()) {
                self.s.blank_lines += 1;
                continue;
            }
            if self.decoder.needs_header() {
                self.decoder
                    .read_header(line)
                    .map_err(|msg| RuntimeError::CsvHeader {
                        name: source_name.to_string(),
                        msg: format!("line {lineno}: {msg}"),
                    })?;
                continue;
            }
            self.s.events_read += 1;
            let i = recs.len();
            if events.len() <= i {
                events.push(Event::default());
            }
            match self
                .decoder
                .decode(line, lineno, &mut events[i], self.interner)
            {
                Ok(()) => {
                    let start = line.as_ptr() as usize - base;
                    recs.push(Rec {
                        lineno,
                        start,
                        end: start + line.len(),
                    });
                }
                Err(e) => {
                    self.s.dead_lettered += 1;
                    if self.want_dead {
                        self.encoder
                            .dead_letter(&mut self.bufs.dead, line, lineno, &e.to_string());
                    }
                }
            }
        }
        w.new_strings.clear();
        if self.splice {
            let n = self.interner.len();
            w.new_strings.extend(
                (self.synced..n)
                    .map(|id| Box::from(self.interner.resolve(eddy_core::Sym(id as u32)))),
            );
            self.synced = n;
        }
        self.backlog.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Encodes a processed batch and writes it out; with a server pattern, its per-event
    /// rows go to the scoring stage and the batch waits in `held` until they are all back.
    fn emit(
        &mut self,
        mut w: Box<Work>,
        outputs: &mut Outputs,
        free: &mut Pool,
    ) -> Result<(), RuntimeError> {
        self.s.scored += w.scored;
        self.s.unscored_null_feature += w.unscored_null_feature;
        self.s.unscored_model_error += w.unscored_model_error;
        self.s.unscored += w.unscored_null_feature + w.unscored_model_error;
        let defer = self.remote.is_some();
        let mut waiting = 0;
        // The engine thread was behind and left the embedded model to this thread.
        if let Some(sc) = self.scorer.as_mut().filter(|_| !w.predicted) {
            w.score_with(sc);
            self.s.scored += w.scored;
            self.s.unscored_null_feature += w.unscored_null_feature;
            self.s.unscored_model_error += w.unscored_model_error;
            self.s.unscored += w.unscored_null_feature + w.unscored_model_error;
        }
        // Every per-event row made by the engine thread: written as one block below.
        let bulk = !defer && self.want_events && w.rows_complete;
        for (i, rec) in w.recs.iter().enumerate() {
            let line = &w.batch.data[rec.start..rec.end];
            let (outcome, wm) = w.outcomes[i];
            match outcome {
                Outcome::Accepted | Outcome::LateUpdated => {
                    if outcome == Outcome::Accepted {
                        self.s.accepted += 1;
                    } else {
                        self.s.late_updated += 1;
                    }
                    self.s.emitted += 1;
                    if defer {
                        waiting += 1;
                        continue;
                    }
                    let prediction = w.prediction(i);
                    if self.want_events && !bulk {
                        write_event(
                            self.encoder,
                            &mut self.bufs.events,
                            self.decoder,
                            self.interner,
                            &w,
                            i,
                            prediction,
                        );
                        if self.bufs.events.len() >= FLUSH_AT {
                            outputs.write(OutputKind::Events, &self.bufs.events)?;
                            self.bufs.events.clear();
                        }
                    }
                }
                Outcome::LateDiscarded => {
                    self.s.late_discarded += 1;
                    if self.want_late {
                        let reason = format!(
                            "late_discarded: behind the watermark ({}) but within allowed lateness; late_policy = discard",
                            fmt_ts(wm)
                        );
                        self.encoder.late(
                            &mut self.bufs.late,
                            line,
                            rec.lineno,
                            &reason,
                            self.decoder.format(),
                        );
                    }
                }
                Outcome::Late => {
                    self.s.late += 1;
                    if self.want_late {
                        let reason = format!("{} ({})", self.late_reason_prefix, fmt_ts(wm));
                        self.encoder.late(
                            &mut self.bufs.late,
                            line,
                            rec.lineno,
                            &reason,
                            self.decoder.format(),
                        );
                    }
                }
            }
        }
        if bulk {
            outputs.write(OutputKind::Events, &self.bufs.events)?;
            self.bufs.events.clear();
            outputs.write(OutputKind::Events, &w.feat_json)?;
        }
        for r in w.closed.drain(..) {
            self.s.window_rows += 1;
            if r.update {
                self.s.window_updates += 1;
            }
            if self.want_windows {
                self.encoder
                    .window(&mut self.bufs.windows, &r, self.decoder, self.interner);
            }
        }
        if waiting == 0 {
            free.push(w);
        } else {
            self.submit_rows(w, waiting, outputs, free)?;
        }
        self.bufs.write_all(outputs)?;
        outputs.flush()
    }

    /// Hands a batch's per-event rows to the scoring stage, in input order, with the
    /// engine's watermarks between them.
    fn submit_rows(
        &mut self,
        w: Box<Work>,
        waiting: usize,
        outputs: &mut Outputs,
        free: &mut Pool,
    ) -> Result<(), RuntimeError> {
        let seq = self.next_work;
        self.next_work += 1;
        self.held.push_back(Held { seq, w, waiting });
        let pos = self.held.len() - 1;
        for i in 0..self.held[pos].w.recs.len() {
            let (outcome, wm) = self.held[pos].w.outcomes[i];
            if !matches!(outcome, Outcome::Accepted | Outcome::LateUpdated) {
                continue;
            }
            // The stage copies the row's inputs before any delivery can touch `held`.
            if let Some(stage) = self.remote.as_deref_mut() {
                stage.load(&self.held[pos].w.rows[i]);
            }
            self.with_stage(outputs, |stage, deliver| {
                stage.watermark(wm, deliver);
                stage.send(row_id(seq, i), deliver);
            })?;
        }
        self.reclaim(free);
        Ok(())
    }

    /// Writes the rows whose scores are back, without blocking.
    fn poll_scores(&mut self, outputs: &mut Outputs, free: &mut Pool) -> Result<(), RuntimeError> {
        self.with_stage(outputs, |stage, deliver| stage.poll(deliver))?;
        self.reclaim(free);
        Ok(())
    }

    /// At the end of input: every row still waiting for its score.
    fn finish_scores(&mut self, outputs: &mut Outputs) -> Result<(), RuntimeError> {
        self.with_stage(outputs, |stage, deliver| stage.finish(deliver))
    }

    /// Runs `f` on the scoring stage with a delivery callback that writes each finished row.
    /// Batches whose rows have all left stay in `held` until [`Self::reclaim`].
    fn with_stage(
        &mut self,
        outputs: &mut Outputs,
        f: impl FnOnce(&mut RemoteStage, &mut crate::score::remote::Deliver<'_>),
    ) -> Result<(), RuntimeError> {
        let Front {
            remote: Some(stage),
            held,
            encoder,
            bufs,
            decoder,
            interner,
            want_events,
            ..
        } = self
        else {
            return Ok(());
        };
        let mut deliver = |id: u64, prediction: &[u8]| {
            deliver_row(
                held,
                encoder,
                &mut bufs.events,
                decoder,
                interner,
                *want_events,
                id,
                prediction,
            )
        };
        f(stage, &mut deliver);
        if bufs.events.len() >= FLUSH_AT {
            outputs.write(OutputKind::Events, &bufs.events)?;
            bufs.events.clear();
        }
        Ok(())
    }

    /// Whether rows are waiting for scores.
    fn scoring(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| r.pending() > 0)
    }

    /// Returns batches whose rows have all left to the free pool.
    fn reclaim(&mut self, free: &mut Pool) {
        while let Some(pos) = self.held.iter().position(|h| h.waiting == 0) {
            if let Some(h) = self.held.remove(pos) {
                free.push(h.w);
            }
        }
    }
}

/// Writes the held row `id` with its prediction.
#[allow(clippy::too_many_arguments)]
fn deliver_row(
    held: &mut VecDeque<Held>,
    encoder: &mut Encoder,
    out: &mut Vec<u8>,
    decoder: &Decoder,
    interner: &Interner,
    want_events: bool,
    id: u64,
    prediction: &[u8],
) {
    let (seq, i) = (id >> 32, (id & 0xffff_ffff) as usize);
    let Ok(pos) = held.binary_search_by_key(&seq, |h| h.seq) else {
        debug_assert!(false, "a score for a row that is not held");
        return;
    };
    let h = &mut held[pos];
    h.waiting -= 1;
    if want_events {
        write_event(encoder, out, decoder, interner, &h.w, i, prediction);
    }
}

#[derive(Default)]
struct Buffers {
    events: Vec<u8>,
    windows: Vec<u8>,
    late: Vec<u8>,
    dead: Vec<u8>,
}

impl Buffers {
    fn write_all(&mut self, outputs: &mut Outputs) -> Result<(), RuntimeError> {
        for (kind, buf) in [
            (OutputKind::Events, &mut self.events),
            (OutputKind::Windows, &mut self.windows),
            (OutputKind::Late, &mut self.late),
            (OutputKind::DeadLetter, &mut self.dead),
        ] {
            outputs.write(kind, buf)?;
            buf.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::io::Write;
    use std::rc::Rc;

    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const SPEC: &str = r#"
allowed_lateness = "10s"
[source]
format = "jsonl"
key = "k"
timestamp = "t"
timestamp_format = "epoch_ms"
[source.fields]
x = "float"
[watermark]
max_out_of_orderness = "1s"
[[feature]]
name = "n"
agg = "count"
window = { kind = "tumbling", size = "1m" }
[[feature]]
name = "sx"
agg = "sum"
field = "x"
window = { kind = "sliding", size = "1m", slide = "30s" }
"#;

    fn run(input: &str, batch: usize) -> (Summary, String, String, String, String) {
        let spec = PipelineSpec::parse(SPEC).unwrap();
        let mut p = Pipeline::new(spec).unwrap();
        let mut src = ReaderSource::new("mem", input.as_bytes()).with_batch_bytes(batch);
        let outs: [Shared; 4] = Default::default();
        let mut o = Outputs::none();
        for (kind, w) in [
            OutputKind::Events,
            OutputKind::Windows,
            OutputKind::Late,
            OutputKind::DeadLetter,
        ]
        .into_iter()
        .zip(&outs)
        {
            o.set(kind, "mem", Box::new(w.clone()));
        }
        let mut clock = || 0;
        let s = p
            .run(&mut src, &mut o, RunHooks::with_clock(&mut clock))
            .unwrap();
        let t = |i: usize| String::from_utf8(outs[i].0.borrow().clone()).unwrap();
        (s, t(0), t(1), t(2), t(3))
    }

    #[test]
    fn every_record_is_counted_once_and_output_is_batch_independent() {
        let mut input = String::new();
        for i in 0..400u64 {
            let t = 1_000_000 + i * 1_000;
            match i % 50 {
                7 => input.push_str("{\"k\":\"a\",\"t\":\n"), // malformed
                9 => input.push_str(&format!("{{\"k\":\"a\",\"t\":{}}}\n", t - 200_000)), // late
                11 => input.push('\n'),
                _ => input.push_str(&format!(
                    "{{\"k\":\"{}\",\"t\":{t},\"x\":{}}}\n",
                    ["a", "b", "c"][i as usize % 3],
                    i % 7
                )),
            }
        }
        let (s, events, windows, late, dead) = run(&input, 1 << 20);
        assert_eq!(s.events_read, 392);
        assert_eq!(s.blank_lines, 8);
        assert_eq!(s.dead_lettered, 8);
        assert_eq!(s.late, 8, "{late}");
        assert_eq!(
            s.events_read,
            s.accepted + s.late_updated + s.late + s.late_discarded + s.dead_lettered
        );
        assert_eq!(s.emitted, s.accepted + s.late_updated);
        assert_eq!(events.lines().count() as u64, s.emitted);
        assert_eq!(windows.lines().count() as u64, s.window_rows);
        assert_eq!(late.lines().count() as u64, s.late);
        assert_eq!(dead.lines().count() as u64, s.dead_lettered);
        assert_eq!(s.keys, 3);
        // Tumbling counts over all window rows add up to the accepted events.
        let total: i64 = windows
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["feature"] == "n")
            .map(|v| v["value"].as_i64().unwrap())
            .sum();
        assert_eq!(total as u64, s.accepted);
        // Tiny batches give the same bytes.
        let small = run(&input, 64);
        assert_eq!(small.0, s);
        assert_eq!(
            (small.1, small.2, small.3, small.4),
            (events, windows, late, dead)
        );
    }

    /// Tests may pin which thread makes the per-event rows (0: as loaded, 1: the engine
    /// thread, 2: the front thread); the bytes are the same either way, so other tests running
    /// meanwhile are not affected.
    pub(super) static FEATURES_ON: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn either_thread_makes_the_same_rows() {
        let mut input = String::new();
        for i in 0..300u64 {
            let t = 1_000_000 + i * 700;
            match i % 40 {
                5 => input.push_str("{\"k\":\"a\",\"t\":\n"),
                9 => input.push_str(&format!("{{\"k\":\"a\",\"t\":{}}}\n", t - 200_000)),
                13 => input.push_str(&format!("{{ \"k\" : \"b\" , \"t\" : {t} }}  \n")),
                _ => input.push_str(&format!(
                    "{{\"k\":\"{}\",\"t\":{t},\"x\":{}.5}}\n",
                    ["a", "b\\\"q", "c"][i as usize % 3],
                    i % 7
                )),
            }
        }
        let mut runs = Vec::new();
        for mode in [1, 2] {
            FEATURES_ON.store(mode, Ordering::Relaxed);
            runs.push((run(&input, 1 << 20), run(&input, 200)));
        }
        FEATURES_ON.store(0, Ordering::Relaxed);
        let (engine, front) = (&runs[0], &runs[1]);
        assert!(!engine.0 .1.is_empty());
        assert_eq!(engine, front);
        assert_eq!(engine.0, engine.1);
        for line in engine.0 .1.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["features"].is_object(), "{line}");
        }
    }

    #[test]
    fn either_thread_scores_the_same() {
        let dir = eddy_testutil::Tmp::new("either_thread_scores_the_same");
        let mut m = eddy_learn::registry::build(
            "logistic_regression",
            &eddy_learn::registry::Params::new(),
        )
        .unwrap();
        for i in 0..50 {
            let x = [(i % 7) as f64, (i % 3) as f64];
            m.learn_one(&x, f64::from(u8::from(x[0] > x[1] + 2.0)))
                .unwrap();
        }
        m.save(&dir.join("m.json")).unwrap();
        let spec = format!(
            "{SPEC}[model]\npath = \"{}\"\ninputs = [\"sx\", \"n\"]\n",
            dir.join("m.json").display()
        );
        let input: String = (0..200u64)
            .map(|i| {
                format!(
                    "{{\"k\":\"{}\",\"t\":{},\"x\":{}}}\n",
                    i % 3,
                    1_000_000 + i * 900,
                    i % 5
                )
            })
            .collect();
        let mut runs = Vec::new();
        for (mode, batch) in [(1, 1 << 20), (2, 1 << 20), (2, 150)] {
            FEATURES_ON.store(mode, Ordering::Relaxed);
            let mut p = Pipeline::new(PipelineSpec::parse(&spec).unwrap()).unwrap();
            let mut src = ReaderSource::new("mem", input.as_bytes()).with_batch_bytes(batch);
            let events = Shared::default();
            let mut o = Outputs::none();
            o.set(OutputKind::Events, "mem", Box::new(events.clone()));
            let mut clock = || 0;
            let s = p
                .run(&mut src, &mut o, RunHooks::with_clock(&mut clock))
                .unwrap();
            // Everything but the measured latency.
            let rows: Vec<serde_json::Value> = String::from_utf8(events.0.borrow().clone())
                .unwrap()
                .lines()
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                    let lat = v["prediction"]
                        .as_object_mut()
                        .unwrap()
                        .remove("latency_us");
                    assert!(lat.is_some_and(|l| l.is_u64()), "{l}");
                    v
                })
                .collect();
            runs.push((s.scored, s.unscored, rows));
        }
        FEATURES_ON.store(0, Ordering::Relaxed);
        assert_eq!(runs[0].0, 200);
        assert_eq!(runs[0], runs[1]);
        assert_eq!(runs[0], runs[2]);
    }

    #[test]
    fn empty_input_is_an_empty_run() {
        let (s, events, windows, late, dead) = run("", 1024);
        // The engine's fixed state may be non-zero; every count is zero.
        assert_eq!(
            Summary {
                state_bytes: 0,
                ..s
            },
            Summary::default()
        );
        assert!(events.is_empty() && windows.is_empty() && late.is_empty() && dead.is_empty());
    }

    /// An input that hands over what the test sends and blocks in between, like a quiet pipe.
    struct Pipe(mpsc::Receiver<Vec<u8>>, Vec<u8>);

    impl std::io::Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1.is_empty() {
                match self.0.recv() {
                    Ok(v) => self.1 = v,
                    Err(_) => return Ok(0),
                }
            }
            let n = buf.len().min(self.1.len());
            buf[..n].copy_from_slice(&self.1[..n]);
            self.1.drain(..n);
            Ok(n)
        }
    }

    #[derive(Clone, Default)]
    struct SharedSync(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for SharedSync {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_quiet_input_does_not_hold_back_rows_that_are_ready() {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let events = SharedSync::default();
        let out = events.clone();
        let run = std::thread::spawn(move || {
            let mut p = Pipeline::new(PipelineSpec::parse(SPEC).unwrap()).unwrap();
            let mut src = ReaderSource::new("pipe", Pipe(rx, Vec::new()));
            let mut o = Outputs::none();
            o.set(OutputKind::Events, "mem", Box::new(out));
            let mut clock = || 0;
            p.run(&mut src, &mut o, RunHooks::with_clock(&mut clock))
                .unwrap()
        });
        let rows = || String::from_utf8(events.0.lock().unwrap().clone()).unwrap();
        let wait_for = |n: usize| {
            let start = std::time::Instant::now();
            while rows().lines().count() < n {
                assert!(
                    start.elapsed() < std::time::Duration::from_secs(20),
                    "{n} rows never came out while the input stayed open: {}",
                    rows()
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        };
        let line = |t: u64| format!("{{\"k\":\"a\",\"t\":{t},\"x\":1}}\n").into_bytes();
        tx.send([line(1_000), line(2_000), line(3_000)].concat())
            .unwrap();
        wait_for(3);
        tx.send(line(4_000)).unwrap();
        wait_for(4);
        drop(tx);
        let s = run.join().unwrap();
        assert_eq!((s.events_read, s.emitted), (4, 4));
        assert_eq!(rows().lines().count(), 4);
    }
}
