//! A pipeline: a validated spec made into its stages (decode, features, score, emit), run by
//! the [`crate::driver`] over a source into outputs, and the run's [`Summary`].
//!
//! A bad record never stops the run: it becomes a dead letter, counted. Processing time (for
//! source idleness) comes from the caller's clock; the stages themselves are clock-free.

use std::cell::RefCell;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use eddy_core::engine::FeatureEngine;
use eddy_core::watermark::WatermarkTracker;
use eddy_core::{FieldId, Interner};

use crate::commit::Commits;
use crate::connector::{Framing, Source};
use crate::decode::Decoder;
pub use crate::driver::RunHooks;
use crate::driver::{self, Chain};
use crate::encode::{FeaturesJson, OutputEncoder};
use crate::error::{RuntimeError, SpecError, SpecErrors};
use crate::learn::Learning;
use crate::lookup::Lookups;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::outputs::{OutputKind, Outputs};
use crate::score::{Deferred, Scorer};
use crate::spec::LabelSource;
use crate::spec::{InputFormat, Pattern, PipelineSpec};
use crate::stage::decode::DecodeStage;
use crate::stage::emit::EmitStage;
use crate::stage::features::{FeaturesStage, RowsSeen, RowsThread};
use crate::stage::learn::{FrontLearnStage, LearnStage, Plan as LearnPlan, TextAt};
use crate::stage::rows::RowsStage;
use crate::stage::score::ScoreStage;
use crate::stage::Stage;
use crate::strings::string_uses;
use eddy_oip::remote::Counters;

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
    /// Keys holding state at the end of input (seen, and not released since).
    pub keys: u64,
    /// Keys whose state was freed when they went idle (every window closed and dropped).
    pub keys_released: u64,
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
    /// Side output, topics: scores that came back after their row had left unscored (dropped).
    pub late_scores: u64,
    /// Topics: second (or later) scores for a row (ignored).
    pub duplicate_scores: u64,
    /// Topics: scores for rows this run never sent (ignored).
    pub unknown_scores: u64,
    /// Server patterns: the client's counters (requests, retries, breaker, fallback reasons).
    pub remote: Option<Counters>,
}

impl Summary {
    /// The summary the run's counters give.
    pub fn from_metrics(m: &MetricsSnapshot) -> Summary {
        use crate::metrics::{LateOutcome as L, UnscoredReason as U};
        let unscored = |r| m.unscored(r);
        Summary {
            events_read: m.records_read,
            accepted: m.events_accepted,
            emitted: m.events_accepted + m.late_events(L::Updated),
            late: m.late_events(L::Late),
            late_updated: m.late_events(L::Updated),
            late_discarded: m.late_events(L::Discarded),
            dead_lettered: m.dead_letters_total(),
            window_rows: m.window_rows,
            window_updates: m.window_updates,
            blank_lines: m.blank_lines,
            keys: m.keys,
            keys_released: m.keys_released,
            bytes_read: m.bytes_read,
            state_bytes: m.state_bytes,
            scored: m.scored,
            unscored: m.unscored_total() - unscored(U::Fallback),
            unscored_null_feature: unscored(U::NullFeature),
            unscored_model_error: unscored(U::ModelError),
            fallback: unscored(U::Fallback),
            unscored_deadline: unscored(U::Deadline),
            unscored_server: unscored(U::Server),
            unscored_shed: unscored(U::Shed),
            late_scores: m.late_scores,
            duplicate_scores: m.duplicate_scores,
            unknown_scores: m.unknown_scores,
            remote: None,
        }
    }
}

/// What the learn stage reads of each event: the categories' and the string label's texts
/// (in the batch when no feature keeps the field, else interned), the key for a split.
fn learn_plan(spec: &PipelineSpec, l: &crate::spec::LearnSpec, decoder: &Decoder) -> LearnPlan {
    let at = |f: FieldId| match decoder.text_slot(f) {
        Some(slot) => TextAt::Slot(slot),
        None => TextAt::Interned,
    };
    let cats = (l.user.iter().chain(&l.item).chain(&l.categories))
        .filter_map(|c| match *c == spec.source.key {
            true => Some((None, TextAt::Key)),
            false => spec.schema.field_id(c).map(|f| (Some(f), at(f))),
        })
        .collect();
    let label = match &l.labels {
        LabelSource::Field(f) => spec.schema.field_id(f).map(|f| {
            let string = spec.schema.field_type(f) == eddy_core::FieldType::String;
            (f, string.then(|| at(f)))
        }),
        LabelSource::Stream(_) => None,
    };
    LearnPlan {
        cats,
        label,
        key_hash: matches!(
            l.baseline.as_ref().map(|b| b.mode),
            Some(crate::spec::AbMode::Split { .. })
        ),
    }
}

/// A pipeline ready to run: validated spec, engine, decoder and encoder.
pub struct Pipeline {
    spec: PipelineSpec,
    engine: FeatureEngine,
    decoder: Decoder,
    encoder: OutputEncoder,
    interner: Interner,
    scorer: Option<Scorer>,
    /// A pattern whose rows wait in the emit stage for their scores.
    remote: Option<Box<dyn Deferred>>,
    learning: Option<Learning>,
    warnings: Vec<String>,
    /// Pinned (tests): which thread makes the per-event rows, and the count of who did.
    rows_pin: Option<(RowsThread, Arc<RowsSeen>)>,
}

impl Pipeline {
    pub fn new(spec: PipelineSpec) -> Result<Pipeline, RuntimeError> {
        let (uses, features) = string_uses(&spec);
        let engine = FeatureEngine::new(features, spec.engine).map_err(|e| {
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
                let (stage, w) = crate::score::deferred(m, &spec.features, spec.output.format)?;
                remote = Some(stage);
                warnings = w;
            }
            None => {}
        }
        let learning = match &spec.learn {
            Some(l) => Some(Learning::new(l, &spec.features, spec.output.format)?),
            None => None,
        };
        let mut decoder = Decoder::new(&spec.source, &spec.schema);
        decoder.hold_strings(&uses, &spec.interner);
        let mut encoder = OutputEncoder::new(spec.output.format, &spec.feature_names());
        if let Some(m) = &spec.model {
            encoder.set_prediction_columns(crate::score::csv_columns(&m.field));
        }
        if spec.learn.is_some() {
            encoder.set_prediction_columns(crate::learn::prediction::csv_columns());
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
            learning,
            warnings,
            rows_pin: None,
        })
    }

    /// For tests: the thread that makes (and with an embedded model, scores) the per-event
    /// rows of every batch from now on, whatever the backlog (`None`: as each batch finds it).
    /// The count it returns says, per batch with per-event rows, which thread made them.
    #[doc(hidden)]
    pub fn pin_rows_thread(&mut self, thread: Option<RowsThread>) -> Arc<RowsSeen> {
        let seen = Arc::new(RowsSeen::default());
        self.rows_pin = thread.map(|t| (t, seen.clone()));
        seen
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
    /// is gone (or a stop is requested, see [`crate::shutdown`]): to keep the online store
    /// readable once a file's events are all applied. Call
    /// it after [`Self::run`] was given the same lookups (the run keeps the online store only
    /// then; otherwise every key is unknown).
    pub fn serve_lookups(&mut self, lookups: &Lookups) {
        use std::sync::mpsc::RecvTimeoutError;
        loop {
            let lookup = match lookups.rx.recv_timeout(crate::shutdown::WAKE) {
                Ok(l) => l,
                Err(RecvTimeoutError::Timeout) if crate::shutdown::requested() => return,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let values = (self.decoder.key_id(&lookup.key)).and_then(|k| self.engine.latest(k));
            let a = self.encoder.answer(&lookup.key, values, &self.interner);
            lookup.answer(a);
        }
    }

    /// The `[learn]` loop, if the spec has one: after a run, its model, metrics and counts.
    pub fn learning(&self) -> Option<&Learning> {
        self.learning.as_ref()
    }

    /// The `[model]` scorer, if the spec has one.
    pub fn scorer(&self) -> Option<&Scorer> {
        self.scorer.as_ref()
    }

    /// Opens the spec's source, its records cut as its format needs.
    pub fn open_source(&self) -> Result<Box<dyn Source + Send>, RuntimeError> {
        let framing = match self.spec.source.format {
            InputFormat::Jsonl => Framing::Lines,
            InputFormat::Csv => Framing::Csv,
        };
        (self.spec.source.connector).open(framing, self.spec.source.max_record_bytes)
    }

    /// Runs `source` to its end, writing to `outputs`: the spec's stages, run by the driver.
    pub fn run(
        &mut self,
        source: &mut (dyn Source + Send),
        outputs: &mut Outputs,
        hooks: RunHooks<'_>,
    ) -> Result<Summary, RuntimeError> {
        let Pipeline {
            spec,
            engine,
            decoder,
            encoder,
            interner,
            scorer,
            remote,
            learning,
            rows_pin,
            ..
        } = self;
        if hooks.lookups.is_some() {
            engine.keep_online_store();
        }
        let metrics = (hooks.metrics.clone()).unwrap_or_else(|| Metrics::new(source.partitions()));
        // JSONL in and out: the engine thread makes each batch's per-event rows when it is
        // keeping up. Not with a model server: a row is complete only when its score is back.
        // what the learn stage reads of each event, and so on which thread it runs
        let learn_plan = spec.learn.as_ref().map(|l| learn_plan(spec, l, decoder));
        let learn_front = learn_plan.as_ref().is_some_and(LearnPlan::needs_front);
        let splice = outputs.enabled(OutputKind::Events)
            && encoder.splices(decoder.format())
            && remote.is_none()
            && !learn_front;
        let backlog = Arc::new(AtomicUsize::new(0));
        let dead_letters = outputs
            .enabled(OutputKind::DeadLetter)
            .then(|| encoder.format());
        // the texts of strings not kept are for per-event rows that echo the event's fields
        // (not for those that copy the input line)
        // (and for the learn stage, which reads categories and labels)
        decoder.echo_texts(
            (outputs.enabled(OutputKind::Events) && !encoder.splices(decoder.format()))
                || learning.is_some(),
        );
        let learn_spec = spec.learn.as_ref();
        if let (Some(l), Some(ls)) = (learning.as_mut(), learn_spec) {
            l.start(ls, dead_letters)?;
        }
        let want_ids = matches!(learn_spec.map(|l| &l.labels), Some(LabelSource::Stream(_)));
        let decoder = RefCell::new(decoder);
        let interner = RefCell::new(interner);
        let mut front = Chain::<dyn Stage>::new(
            vec![Box::new(DecodeStage {
                decoder: &decoder,
                interner: &interner,
                dead_letters,
                source_name: source.name(),
                max_record: spec.source.max_record_bytes,
                sync_strings: splice,
                want_ids,
                backlog: backlog.clone(),
                records: 0,
                blank: 0,
                dead: Default::default(),
            })],
            &metrics,
        );
        let mut engine_stages: Vec<Box<dyn Stage + Send>> = vec![Box::new(FeaturesStage {
            engine,
            tracker: WatermarkTracker::new(spec.watermark, source.partitions()),
            last_wm: i64::MIN,
            backlog,
            measured_at: None,
            state_bytes: None,
            ending: false,
            wall_ms: 0,
            max_state: spec.max_state_bytes.map(|b| b as u64),
            released_reported: 0,
            pin: rows_pin.as_ref().map(|p| p.0),
        })];
        let mut back_stages: Vec<Box<dyn Stage>> = Vec::new();
        if let Some(sc) = scorer.as_ref() {
            // The engine thread scores when it keeps up; the front thread catches up.
            engine_stages.push(Box::new(ScoreStage::new(sc.fork(), false)));
            back_stages.push(Box::new(ScoreStage::new(sc.fork(), true)));
        }
        let mut learn_stage = match (learning.as_mut(), learn_plan) {
            (Some(learning), Some(plan)) => Some(LearnStage {
                learning,
                plan,
                last_seq: 0,
                reported: Default::default(),
            }),
            _ => None,
        };
        if !learn_front {
            if let Some(stage) = learn_stage.take() {
                engine_stages.push(Box::new(stage));
            }
        }
        if splice {
            engine_stages.push(Box::new(RowsStage {
                features_json: FeaturesJson::new(&spec.feature_names()),
            }));
        }
        let mut engine_chain = Chain::new(engine_stages, &metrics);
        if let Some(stage) = learn_stage {
            back_stages.push(Box::new(FrontLearnStage {
                stage,
                decoder: &decoder,
                interner: &interner,
            }));
        }
        let mut emit = EmitStage::new(
            outputs,
            encoder,
            &decoder,
            &interner,
            remote.as_mut().map(|r| &mut **r as &mut dyn Deferred),
            spec.engine.allowed_lateness,
            spec.source.connector.locus(),
        );
        emit.rows_seen = rows_pin.as_ref().map(|p| p.1.clone());
        emit.commits = source.committer().map(|c| {
            let every = c.interval_ms();
            Commits::new(c, every)
        });
        back_stages.push(Box::new(emit));
        let mut back = Chain::new(back_stages, &metrics);
        let ran = driver::run(source, &mut front, &mut engine_chain, &mut back, hooks);
        drop((front, engine_chain, back));
        metrics.up().set(0);
        ran?;
        // The read that found the end of the input made no batch.
        let counted = metrics.bytes_read().get();
        metrics
            .bytes_read()
            .add(source.bytes_read().saturating_sub(counted));
        let mut s = Summary::from_metrics(&metrics.snapshot());
        s.remote = remote.as_ref().and_then(|r| r.client_counters());
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{MemorySink, StreamSource};
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;

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

    /// Bytes handed over at most `.1` at a time, like a pipe: a batch per read (a reader
    /// that has more fills a batch of at least 64 KiB).
    struct Chunks<'a>(&'a [u8], usize);

    impl std::io::Read for Chunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    type Outs = (Summary, String, String, String, String);

    fn run(input: &str, batch: usize) -> Outs {
        run_pinned(input, batch, None).0
    }

    /// A run with the rows thread pinned (or not): its outputs, and how many batches with
    /// per-event rows had them made by the engine thread and by the front thread (counted
    /// only when pinned).
    fn run_pinned(input: &str, batch: usize, pin: Option<RowsThread>) -> (Outs, [u64; 2]) {
        let spec = PipelineSpec::parse(SPEC).unwrap();
        let mut p = Pipeline::new(spec).unwrap();
        let seen = p.pin_rows_thread(pin);
        let mut src = StreamSource::new("mem", Chunks(input.as_bytes(), batch));
        let outs: [MemorySink; 4] = std::array::from_fn(|_| MemorySink::new());
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
            o.set_sink(kind, Box::new(w.clone()));
        }
        let mut clock = || 0;
        let s = p
            .run(&mut src, &mut o, RunHooks::with_clock(&mut clock))
            .unwrap();
        let t = |i: usize| outs[i].text();
        let by = [&seen.engine, &seen.front].map(|c| c.load(Ordering::Relaxed));
        ((s, t(0), t(1), t(2), t(3)), by)
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
        for pin in [RowsThread::Engine, RowsThread::Front] {
            let (big, by_big) = run_pinned(&input, 1 << 20, Some(pin));
            let (small, by_small) = run_pinned(&input, 200, Some(pin));
            // The pin was in effect: every batch with rows had them made by that thread.
            let (mine, other) = match pin {
                RowsThread::Engine => (0, 1),
                RowsThread::Front => (1, 0),
            };
            assert_eq!(by_big[mine], 1, "{pin:?} {by_big:?}");
            assert!(by_small[mine] > 10, "{pin:?} {by_small:?}");
            assert_eq!((by_big[other], by_small[other]), (0, 0), "{pin:?}");
            runs.push((big, small));
        }
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
        for (pin, batch) in [
            (RowsThread::Engine, 1 << 20),
            (RowsThread::Front, 1 << 20),
            (RowsThread::Front, 150),
            (RowsThread::Engine, 150),
        ] {
            let mut p = Pipeline::new(PipelineSpec::parse(&spec).unwrap()).unwrap();
            let seen = p.pin_rows_thread(Some(pin));
            let mut src = StreamSource::new("mem", Chunks(input.as_bytes(), batch));
            let events = MemorySink::new();
            let mut o = Outputs::none();
            o.set_sink(OutputKind::Events, Box::new(events.clone()));
            let mut clock = || 0;
            let s = p
                .run(&mut src, &mut o, RunHooks::with_clock(&mut clock))
                .unwrap();
            // Everything but the measured latency.
            let rows: Vec<serde_json::Value> = events
                .text()
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
            // The pin was in effect: the engine thread scored and made every batch's rows,
            // or none.
            let (engine, front) = (
                seen.engine.load(Ordering::Relaxed),
                seen.front.load(Ordering::Relaxed),
            );
            match pin {
                RowsThread::Engine => assert!(engine > 0 && front == 0, "{engine} {front}"),
                RowsThread::Front => assert!(engine == 0 && front > 0, "{engine} {front}"),
            }
            if batch == 150 {
                assert!(engine + front > 10, "{engine} {front}");
            }
            runs.push((s.scored, s.unscored, rows));
        }
        assert_eq!(runs[0].0, 200);
        assert_eq!(runs[0], runs[1]);
        assert_eq!(runs[0], runs[2]);
        assert_eq!(runs[0], runs[3]);
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

    #[test]
    fn a_quiet_input_does_not_hold_back_rows_that_are_ready() {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let events = MemorySink::new();
        let out = events.clone();
        let run = std::thread::spawn(move || {
            let mut p = Pipeline::new(PipelineSpec::parse(SPEC).unwrap()).unwrap();
            let mut src = StreamSource::new("pipe", Pipe(rx, Vec::new()));
            let mut o = Outputs::none();
            o.set_sink(OutputKind::Events, Box::new(out));
            let mut clock = || 0;
            p.run(&mut src, &mut o, RunHooks::with_clock(&mut clock))
                .unwrap()
        });
        let rows = || events.text();
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

#[cfg(test)]
mod string_tests {
    use super::*;
    use crate::connector::{MemorySink, StreamSource};

    /// 20,000 events, each with a URL never seen before and one of three kinds: the fields
    /// are declared, and each test reads them in its own way.
    fn input(csv: bool) -> String {
        let mut s = String::new();
        if csv {
            s.push_str("k,t,url,kind\n");
        }
        for i in 0..20_000u64 {
            let (k, t, url, kind) = (
                i % 10,
                1_000 + i * 10,
                format!("/p/{i}?x=\"q\""),
                ["a", "b", "c"][(i % 3) as usize],
            );
            if csv {
                s.push_str(&format!(
                    "{k},{t},\"{}\",{kind}\n",
                    url.replace('"', "\"\"")
                ));
            } else {
                s.push_str(&format!(
                    "{{\"k\":\"{k}\",\"t\":{t},\"url\":\"{}\",\"kind\":\"{kind}\"}}\n",
                    url.replace('"', "\\\"")
                ));
            }
        }
        s
    }

    /// Runs `features` over the input; returns the value interner's size after the run,
    /// and the events and windows output.
    fn run(format: &str, out_format: &str, features: &str) -> (usize, String, String) {
        let spec = format!(
            r#"
[source]
format = "{format}"
key = "k"
timestamp = "t"
timestamp_format = "epoch_ms"
[source.fields]
url = "string"
kind = "string"
[output]
format = "{out_format}"
{features}
"#
        );
        let mut p = Pipeline::new(PipelineSpec::parse(&spec).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let text = input(format == "csv");
        let mut src = StreamSource::new("mem", std::io::Cursor::new(text.into_bytes()));
        let (events, windows) = (MemorySink::new(), MemorySink::new());
        let mut o = Outputs::none();
        o.set_sink(OutputKind::Events, Box::new(events.clone()));
        o.set_sink(OutputKind::Windows, Box::new(windows.clone()));
        let mut clock = || 0;
        p.run(&mut src, &mut o, RunHooks::with_clock(&mut clock))
            .unwrap_or_else(|e| panic!("{e}"));
        (p.interner.len(), events.text(), windows.text())
    }

    const DISTINCT: &str = r#"
[[feature]]
name = "urls"
agg = "distinct_count"
field = "url"
exact_limit = 100
window = { kind = "tumbling", size = "1m" }
"#;
    const COUNT: &str = r#"
[[feature]]
name = "n"
agg = "count"
window = { kind = "tumbling", size = "1m" }
"#;
    const FILTERED: &str = r#"
[[feature]]
name = "a_count"
agg = "count"
where = "kind == 'a'"
window = { kind = "tumbling", size = "1m" }
"#;
    const AB_KINDS: &str = r#"
[[feature]]
name = "ab_kinds"
agg = "distinct_count"
field = "kind"
where = "kind in ['a', 'b']"
window = { kind = "tumbling", size = "1m" }
"#;
    const LAST: &str = r#"
[[feature]]
name = "last_urls"
agg = "last_n"
n = 2
field = "url"
window = { kind = "tumbling", size = "1m" }
"#;

    /// The URLs of the input in a tumbling minute of key `k` (windows of 6,000 events).
    fn urls_in_minute(k: u64, minute: u64) -> usize {
        (0..20_000u64)
            .filter(|i| i % 10 == k && (1_000 + i * 10) / 60_000 == minute)
            .count()
    }

    #[test]
    fn strings_no_feature_keeps_are_not_interned_and_are_echoed_whole() {
        for (format, out) in [
            ("jsonl", "jsonl"),
            ("jsonl", "csv"),
            ("csv", "jsonl"),
            ("csv", "csv"),
        ] {
            // declared, read by nothing
            let (strings, events, _) = run(format, out, COUNT);
            assert!(strings <= 1, "{format}->{out}: {strings} strings held");
            // every event's URL and kind come out whole (JSON: parsed back; CSV: its cell)
            let lines: Vec<&str> = events.lines().filter(|l| !l.starts_with("k,")).collect();
            assert_eq!(lines.len(), 20_000);
            for (i, l) in lines.iter().enumerate().step_by(997) {
                let url = format!("/p/{i}?x=\"q\"");
                if out == "jsonl" {
                    let v: serde_json::Value =
                        serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
                    assert_eq!(v["url"], url.as_str(), "{format}->{out}: {l}");
                    assert_eq!(v["kind"], ["a", "b", "c"][i % 3], "{format}->{out}: {l}");
                } else {
                    let want = format!(
                        "\"{}\",{}",
                        url.replace('"', "\"\""),
                        ["a", "b", "c"][i % 3]
                    );
                    assert!(l.contains(&want), "{format}->{out}: {l} lacks {want}");
                }
            }
        }
    }

    #[test]
    fn a_field_read_only_by_filters_or_distinct_counts_is_not_interned() {
        for format in ["jsonl", "csv"] {
            let (strings, _, windows) =
                run(format, "jsonl", &format!("{FILTERED}{DISTINCT}{AB_KINDS}"));
            // the filters' literals only
            assert_eq!(strings, 2, "{format}");
            let rows: Vec<serde_json::Value> = windows
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let mut checked = 0;
            for r in &rows {
                let k: u64 = r["key"].as_str().unwrap().parse().unwrap();
                let minute = r["window_start"].as_u64().unwrap() / 60_000;
                let n = urls_in_minute(k, minute);
                let kinds_a = (0..20_000u64)
                    .filter(|i| i % 10 == k && (1_000 + i * 10) / 60_000 == minute && i % 3 == 0)
                    .count();
                match r["feature"].as_str() {
                    // past the exact limit, a HyperLogLog estimate: within 5% here
                    Some("urls") => {
                        let got = r["value"].as_f64().unwrap();
                        assert!(
                            (got - n as f64).abs() <= 0.05 * n as f64,
                            "{format}: {r} vs {n}"
                        );
                        checked += 1;
                    }
                    Some("a_count") => assert_eq!(r["value"], kinds_a as u64, "{format}: {r}"),
                    Some("ab_kinds") => {
                        let kinds: std::collections::BTreeSet<u64> = (0..20_000u64)
                            .filter(|i| i % 10 == k && (1_000 + i * 10) / 60_000 == minute)
                            .map(|i| i % 3)
                            .filter(|&c| c < 2)
                            .collect();
                        assert_eq!(r["value"], kinds.len() as u64, "{format}: {r}");
                    }
                    _ => panic!("{r}"),
                }
            }
            assert!(checked >= 30, "{checked} windows checked");
        }
    }

    #[test]
    fn a_field_read_by_last_n_is_interned() {
        let (strings, _, windows) = run("jsonl", "jsonl", LAST);
        assert_eq!(strings, 20_000);
        let want = r#""key":"9","feature":"last_urls","window_start":0,"window_end":60000,"value":["/p/5889?x=\"q\"","/p/5899?x=\"q\""]"#;
        assert!(windows.contains(want), "{}", &windows[..400]);
    }

    /// A field read by `last_n`, with a new value in every event: the strings no window
    /// holds any more are forgotten (their ids reused), and every row still names the
    /// right ones, in each input and output format.
    #[test]
    fn interned_strings_no_state_holds_are_forgotten() {
        let n_events = 100_000u64;
        let url = |i: u64| format!("/p/{i}/{}", "x".repeat((i % 7) as usize));
        for (format, out) in [("jsonl", "jsonl"), ("csv", "csv"), ("jsonl", "csv")] {
            let spec = format!(
                r#"
[source]
format = "{format}"
key = "k"
timestamp = "t"
timestamp_format = "epoch_ms"
[source.fields]
url = "string"
[output]
format = "{out}"
[[feature]]
name = "last_urls"
agg = "last_n"
n = 2
field = "url"
window = {{ kind = "tumbling", size = "1m" }}
"#
            );
            let mut p = Pipeline::new(PipelineSpec::parse(&spec).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"));
            p.decoder.collect_strings_at(1_000);
            let mut text = String::from(if format == "csv" { "k,t,url\n" } else { "" });
            for i in 0..n_events {
                let (k, t) = (i % 10, 1_000 + i * 10);
                if format == "csv" {
                    text.push_str(&format!("{k},{t},{}\n", url(i)));
                } else {
                    text.push_str(&format!(
                        "{{\"k\":\"{k}\",\"t\":{t},\"url\":\"{}\"}}\n",
                        url(i)
                    ));
                }
            }
            // batches of 64 KiB (about 1,300 events): strings of a few batches in flight
            let mut src = StreamSource::new("mem", std::io::Cursor::new(text.into_bytes()))
                .with_batch_bytes(64 * 1024);
            let (events, windows) = (MemorySink::new(), MemorySink::new());
            let mut o = Outputs::none();
            o.set_sink(OutputKind::Events, Box::new(events.clone()));
            o.set_sink(OutputKind::Windows, Box::new(windows.clone()));
            let mut clock = || 0;
            p.run(&mut src, &mut o, RunHooks::with_clock(&mut clock))
                .unwrap_or_else(|e| panic!("{e}"));
            // a few windows' worth, not one string per event
            assert!(
                p.interner.live() < 20_000,
                "{format}->{out}: {} strings held",
                p.interner.live()
            );
            assert!(
                p.interner.len() < 40_000,
                "{format}->{out}: {} ids",
                p.interner.len()
            );
            // the events of key k in minute m, in order
            let in_minute = |k: u64, m: u64| -> Vec<u64> {
                (0..n_events)
                    .filter(|i| i % 10 == k && (1_000 + i * 10) / 60_000 == m)
                    .collect()
            };
            let windows = windows.text();
            let mut checked = 0;
            for l in windows.lines().filter(|l| !l.starts_with("key,")) {
                let (k, m, got): (u64, u64, Vec<String>) = if out == "csv" {
                    let mut r = csv::ReaderBuilder::new()
                        .has_headers(false)
                        .from_reader(l.as_bytes());
                    let rec = r
                        .records()
                        .next()
                        .and_then(Result::ok)
                        .unwrap_or_else(|| panic!("{l}"));
                    let v: Vec<String> =
                        serde_json::from_str(&rec[4]).unwrap_or_else(|e| panic!("{l}: {e}"));
                    (
                        rec[0].parse().unwrap(),
                        rec[2].parse::<u64>().unwrap() / 60_000,
                        v,
                    )
                } else {
                    let r: serde_json::Value = serde_json::from_str(l).unwrap();
                    let v = r["value"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_str().unwrap().to_string())
                        .collect();
                    (
                        r["key"].as_str().unwrap().parse().unwrap(),
                        r["window_start"].as_u64().unwrap() / 60_000,
                        v,
                    )
                };
                let ev = in_minute(k, m);
                let want: Vec<String> = ev[ev.len().saturating_sub(2)..]
                    .iter()
                    .map(|&i| url(i))
                    .collect();
                assert_eq!(got, want, "{format}->{out}: {l}");
                checked += 1;
            }
            assert_eq!(
                checked,
                10 * ((1_000 + (n_events - 1) * 10) / 60_000 + 1) as usize,
                "{format}->{out}"
            );
            // per-event rows: the event's own URL, and the last two of its key's minute so far
            let events = events.text();
            let lines: Vec<&str> = events.lines().filter(|l| !l.starts_with("k,")).collect();
            assert_eq!(lines.len(), n_events as usize);
            for i in (0..n_events).step_by(1_013) {
                let l = lines[i as usize];
                let (k, m) = (i % 10, (1_000 + i * 10) / 60_000);
                let so_far: Vec<u64> = in_minute(k, m).into_iter().filter(|&j| j <= i).collect();
                let want: Vec<String> = so_far[so_far.len().saturating_sub(2)..]
                    .iter()
                    .map(|&j| url(j))
                    .collect();
                let want = serde_json::to_string(&want).unwrap();
                assert!(l.contains(&url(i)), "{format}->{out}: {l}");
                let want_csv = format!("\"{}\"", want.replace('"', "\"\""));
                assert!(
                    l.contains(&want) || l.contains(&want_csv),
                    "{format}->{out}: {l} lacks {want}"
                );
            }
        }
    }
}
