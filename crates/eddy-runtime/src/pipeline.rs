//! Drives a pipeline: source → decode → watermark → feature engine → sinks.
//!
//! A bad record never stops the run: it becomes a dead letter, counted. Processing time (for
//! source idleness) comes from the caller's clock; the operators themselves are clock-free.

use eddy_core::agg::FeatureValue;
use eddy_core::engine::{FeatureEngine, Outcome, WindowRow};
use eddy_core::watermark::WatermarkTracker;
use eddy_core::{Event, Interner};

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::{RuntimeError, SpecError, SpecErrors};
use crate::sink::{OutputKind, Outputs};
use crate::source::{Batch, ReaderSource, Source};
use crate::spec::{OutputFormat, PipelineSpec};

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
}

/// Hooks from the caller: a processing-time clock (ms) and a progress callback (bytes read).
pub struct RunHooks<'a> {
    pub clock: &'a mut dyn FnMut() -> i64,
    pub progress: Option<&'a mut dyn FnMut(u64)>,
}

impl<'a> RunHooks<'a> {
    /// Hooks with a clock and no progress reporting.
    pub fn with_clock(clock: &'a mut dyn FnMut() -> i64) -> Self {
        RunHooks {
            clock,
            progress: None,
        }
    }
}

/// A pipeline ready to run: validated spec, engine, decoder and encoder.
pub struct Pipeline {
    spec: PipelineSpec,
    engine: FeatureEngine,
    decoder: Decoder,
    encoder: Encoder,
    interner: Interner,
}

const FLUSH_AT: usize = 256 * 1024;

impl Pipeline {
    pub fn new(spec: PipelineSpec) -> Result<Pipeline, RuntimeError> {
        let engine = FeatureEngine::new(spec.features.clone(), spec.engine).map_err(|e| {
            SpecErrors(vec![SpecError {
                path: "feature".into(),
                msg: e.to_string(),
            }])
        })?;
        let decoder = Decoder::new(&spec.source, &spec.schema);
        let names: Vec<String> = spec.features.iter().map(|f| f.name.clone()).collect();
        let encoder = Encoder::new(spec.output.format, &names);
        let interner = spec.interner.clone();
        Ok(Pipeline {
            spec,
            engine,
            decoder,
            encoder,
            interner,
        })
    }

    pub fn spec(&self) -> &PipelineSpec {
        &self.spec
    }

    /// The engine (its online store stays readable after the run).
    pub fn engine(&self) -> &FeatureEngine {
        &self.engine
    }

    /// Opens the source named by the spec (`None` path: stdin).
    pub fn open_source(&self) -> Result<Box<dyn Source>, RuntimeError> {
        Ok(match &self.spec.source.path {
            Some(p) => Box::new(ReaderSource::open(p)?),
            None => Box::new(ReaderSource::new("stdin", std::io::stdin())),
        })
    }

    /// Runs `source` to its end, writing to `outputs`.
    pub fn run(
        &mut self,
        source: &mut dyn Source,
        outputs: &mut Outputs,
        hooks: RunHooks<'_>,
    ) -> Result<Summary, RuntimeError> {
        let RunHooks {
            clock,
            mut progress,
        } = hooks;
        let mut tracker = WatermarkTracker::new(self.spec.watermark, source.partitions());
        let mut s = Summary::default();
        let mut batch = Batch::default();
        let mut ev = Event::default();
        let mut row: Vec<FeatureValue> = Vec::new();
        let mut closed: Vec<WindowRow> = Vec::new();
        let mut bufs = Buffers::default();
        let mut last_wm = i64::MIN;
        let late_reason_prefix = format!(
            "late: event time + allowed_lateness ({}) <= watermark",
            crate::spec::format_duration(self.spec.engine.allowed_lateness)
        );
        let fmt_ts = |ts: i64| {
            let mut s = String::new();
            if (eddy_core::time::MIN_EVENT_TS..=eddy_core::time::MAX_EVENT_TS).contains(&ts) {
                eddy_core::time::format_rfc3339(ts, &mut s);
            } else {
                s = ts.to_string();
            }
            s
        };
        let csv = self.encoder.format() == OutputFormat::Csv;
        if csv {
            self.encoder
                .events_csv_header(&mut bufs.events, &self.decoder);
            self.encoder.windows_csv_header(&mut bufs.windows);
            self.encoder.rejects_csv_header(&mut bufs.late);
            self.encoder.rejects_csv_header(&mut bufs.dead);
        }
        let want_events = outputs.enabled(OutputKind::Events);
        let want_windows = outputs.enabled(OutputKind::Windows);
        let want_late = outputs.enabled(OutputKind::Late);
        let want_dead = outputs.enabled(OutputKind::DeadLetter);

        while source.next_batch(&mut batch)? {
            let now = clock();
            let wm = tracker.on_processing_time(now);
            if wm > last_wm {
                last_wm = wm;
                self.engine.advance_watermark(wm, &mut closed);
            }
            for (lineno, line) in batch.lines() {
                if line.iter().all(|c| c.is_ascii_whitespace()) {
                    s.blank_lines += 1;
                    continue;
                }
                if self.decoder.needs_header() {
                    self.decoder
                        .read_header(line)
                        .map_err(|msg| RuntimeError::CsvHeader {
                            name: source.name(),
                            msg: format!("line {lineno}: {msg}"),
                        })?;
                    continue;
                }
                s.events_read += 1;
                if let Err(e) = self
                    .decoder
                    .decode(line, lineno, &mut ev, &mut self.interner)
                {
                    s.dead_lettered += 1;
                    if want_dead {
                        self.encoder
                            .dead_letter(&mut bufs.dead, line, lineno, &e.to_string());
                    }
                    continue;
                }
                match self.engine.process(&ev, &mut row, &mut closed) {
                    outcome @ (Outcome::Accepted | Outcome::LateUpdated) => {
                        if outcome == Outcome::Accepted {
                            s.accepted += 1;
                        } else {
                            s.late_updated += 1;
                        }
                        s.emitted += 1;
                        if want_events {
                            self.encoder.event(
                                &mut bufs.events,
                                line,
                                &ev,
                                &row,
                                &self.decoder,
                                &self.interner,
                            );
                        }
                    }
                    Outcome::LateDiscarded => {
                        s.late_discarded += 1;
                        if want_late {
                            let reason = format!(
                                "late_discarded: behind the watermark ({}) but within allowed lateness; late_policy = discard",
                                fmt_ts(self.engine.watermark())
                            );
                            self.encoder.late(
                                &mut bufs.late,
                                line,
                                lineno,
                                &reason,
                                self.decoder.format(),
                            );
                        }
                    }
                    Outcome::Late => {
                        s.late += 1;
                        if want_late {
                            let reason =
                                format!("{late_reason_prefix} ({})", fmt_ts(self.engine.watermark()));
                            self.encoder.late(
                                &mut bufs.late,
                                line,
                                lineno,
                                &reason,
                                self.decoder.format(),
                            );
                        }
                    }
                }
                let wm = tracker.observe(batch.partition, ev.ts, now);
                if wm > last_wm {
                    last_wm = wm;
                    self.engine.advance_watermark(wm, &mut closed);
                }
                if !closed.is_empty() {
                    self.drain_closed(&mut closed, &mut bufs.windows, want_windows, &mut s);
                }
                if bufs.events.len() >= FLUSH_AT {
                    outputs.write(OutputKind::Events, &bufs.events)?;
                    bufs.events.clear();
                }
                if bufs.windows.len() >= FLUSH_AT {
                    outputs.write(OutputKind::Windows, &bufs.windows)?;
                    bufs.windows.clear();
                }
            }
            bufs.write_all(outputs)?;
            s.bytes_read = source.bytes_read();
            if let Some(p) = progress.as_mut() {
                p(s.bytes_read);
            }
        }
        s.state_bytes = self.engine.state_bytes() as u64;
        self.engine.finish(&mut closed);
        self.drain_closed(&mut closed, &mut bufs.windows, want_windows, &mut s);
        bufs.write_all(outputs)?;
        outputs.flush()?;
        s.keys = self.decoder.num_keys() as u64;
        s.bytes_read = source.bytes_read();
        Ok(s)
    }

    fn drain_closed(
        &mut self,
        closed: &mut Vec<WindowRow>,
        out: &mut Vec<u8>,
        write: bool,
        s: &mut Summary,
    ) {
        for r in closed.drain(..) {
            s.window_rows += 1;
            if r.update {
                s.window_updates += 1;
            }
            if write {
                self.encoder
                    .window(out, &r, self.decoder.key(r.key), &self.interner);
            }
        }
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
