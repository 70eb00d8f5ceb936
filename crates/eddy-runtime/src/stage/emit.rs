//! The emit stage: a processed batch's rows encoded and written to their sinks, in input
//! order, and counted. With a model server (external call or side output), each per-event row
//! waits here for its score: the batch is held until all its rows have left.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use eddy_core::engine::Outcome;
use eddy_core::{Interner, KeyId};

use super::features::RowsSeen;
use super::{fragment, has_row, Flow, Query, Stage, Work};
use crate::commit::Commits;
use crate::connector::Locus;
use crate::decode::Decoder;
use crate::encode::OutputEncoder;
use crate::error::RuntimeError;
use crate::metrics::{LateOutcome, Metrics, UnscoredReason};
use crate::outputs::{OutputKind, Outputs};
use crate::score::{Deferred, Deliver, StageCounts};
use crate::spec::OutputFormat;

/// Rows are written once this many bytes are waiting (and at the end of every batch).
const FLUSH_AT: usize = 256 * 1024;

pub struct EmitStage<'a> {
    pub(crate) outputs: &'a mut Outputs,
    pub(crate) encoder: &'a mut OutputEncoder,
    pub(crate) decoder: &'a RefCell<&'a mut Decoder>,
    pub(crate) interner: &'a RefCell<&'a mut Interner>,
    /// A deferred pattern (model server, topics): rows leave when their score is delivered.
    pub(crate) remote: Option<&'a mut dyn Deferred>,
    /// Batches with rows waiting for scores, oldest first.
    held: VecDeque<Held>,
    /// Keys the engine released, with the batch (decoding order) that released them: the
    /// decoder forgets them once no batch before that one has rows still to write (a row
    /// written later would name the key by its id).
    releases: Vec<(u64, KeyId)>,
    /// The strings the engine's state held after a batch (its number), for the decoder to
    /// forget the rest once no row before it is still to write.
    string_marks: Option<(u64, Vec<u64>)>,
    next_seq: u64,
    bufs: Buffers,
    late_reason_prefix: String,
    want: [bool; OutputKind::ALL.len()],
    /// Counted since the last report.
    counts: Counts,
    /// The scoring client's counts (it keeps totals) as last reported.
    reported: StageCounts,
    /// Counts batches by the thread that made their per-event rows (pinned runs, for tests).
    pub(crate) rows_seen: Option<Arc<RowsSeen>>,
    /// The source's offsets, committed once the rows of their records are written.
    pub(crate) commits: Option<Commits>,
}

#[derive(Default)]
struct Counts {
    accepted: u64,
    late_updated: u64,
    late: u64,
    late_discarded: u64,
    window_rows: u64,
    window_updates: u64,
    /// Rows handed to each output's sink.
    rows: [u64; OutputKind::ALL.len()],
}

/// A batch whose per-event rows wait for their scores (server patterns).
struct Held {
    seq: u64,
    w: Box<Work>,
    waiting: usize,
}

/// A row's id for the scoring client: its batch's sequence number and its index there.
fn row_id(seq: u64, i: usize) -> u64 {
    (seq << 32) | i as u64
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

pub(crate) fn fmt_ts(ts: i64) -> String {
    let mut s = String::new();
    if (eddy_core::time::MIN_EVENT_TS..=eddy_core::time::MAX_EVENT_TS).contains(&ts) {
        eddy_core::time::format_rfc3339(ts, &mut s);
    } else {
        s = ts.to_string();
    }
    s
}

impl<'a> EmitStage<'a> {
    /// Writes the CSV headers of the outputs first, when the output format is CSV.
    pub(crate) fn new(
        outputs: &'a mut Outputs,
        encoder: &'a mut OutputEncoder,
        decoder: &'a RefCell<&'a mut Decoder>,
        interner: &'a RefCell<&'a mut Interner>,
        remote: Option<&'a mut dyn Deferred>,
        allowed_lateness: i64,
        locus: Locus,
    ) -> Self {
        let want = OutputKind::ALL.map(|k| outputs.enabled(k));
        let mut e = EmitStage {
            outputs,
            encoder,
            decoder,
            interner,
            remote,
            held: VecDeque::new(),
            releases: Vec::new(),
            string_marks: None,
            next_seq: 0,
            bufs: Buffers::default(),
            late_reason_prefix: format!(
                "late: event time + allowed_lateness ({}) <= watermark",
                crate::spec::format_duration(allowed_lateness)
            ),
            want,
            counts: Counts::default(),
            reported: StageCounts::default(),
            rows_seen: None,
            commits: None,
        };
        if e.encoder.format() == OutputFormat::Csv {
            e.encoder
                .events_csv_header(&mut e.bufs.events, &e.decoder.borrow());
            e.encoder.windows_csv_header(&mut e.bufs.windows);
            e.encoder.rejects_csv_header(&mut e.bufs.late, locus);
            e.encoder.rejects_csv_header(&mut e.bufs.dead, locus);
        }
        e
    }

    fn wants(&self, kind: OutputKind) -> bool {
        self.want[kind as usize]
    }

    /// Hands a batch's per-event rows to the scoring client, in input order, with the
    /// engine's watermarks between them.
    fn submit_rows(&mut self, w: Box<Work>, waiting: usize) -> Result<(), RuntimeError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.held.push_back(Held { seq, w, waiting });
        let pos = self.held.len() - 1;
        for i in 0..self.held[pos].w.recs.len() {
            let (outcome, wm) = self.held[pos].w.outcomes[i];
            if !matches!(outcome, Outcome::Accepted | Outcome::LateUpdated) {
                continue;
            }
            // The client copies the row's inputs before any delivery can touch `held`.
            if let Some(stage) = self.remote.as_deref_mut() {
                let w = &self.held[pos].w;
                let key = self.decoder.borrow();
                stage.load(&w.rows[i], key.key(w.events[i].key), w.events[i].ts);
            }
            self.with_client(|stage, deliver| {
                stage.watermark(wm, deliver);
                stage.send(row_id(seq, i), deliver);
            })?;
        }
        Ok(())
    }

    /// Runs `f` on the scoring client with a delivery callback that writes each finished row.
    /// Batches whose rows have all left stay in `held` until [`Self::reclaim`].
    fn with_client(
        &mut self,
        f: impl FnOnce(&mut dyn Deferred, &mut Deliver<'_>),
    ) -> Result<(), RuntimeError> {
        let want_events = self.wants(OutputKind::Events);
        let EmitStage {
            remote: Some(stage),
            held,
            encoder,
            bufs,
            decoder,
            interner,
            counts,
            ..
        } = self
        else {
            return Ok(());
        };
        let (decoder, interner) = (decoder.borrow(), interner.borrow());
        let events_out = &mut counts.rows[OutputKind::Events as usize];
        let mut deliver = |id: u64, prediction: &[u8]| {
            let (seq, i) = (id >> 32, (id & 0xffff_ffff) as usize);
            let Ok(pos) = held.binary_search_by_key(&seq, |h| h.seq) else {
                debug_assert!(false, "a score for a row that is not held");
                return;
            };
            let h = &mut held[pos];
            h.waiting -= 1;
            if want_events {
                write_event(
                    encoder,
                    &mut bufs.events,
                    &decoder,
                    &interner,
                    &h.w,
                    i,
                    prediction,
                );
                *events_out += 1;
            }
        };
        f(&mut **stage, &mut deliver);
        if bufs.events.len() >= FLUSH_AT {
            self.outputs.write(OutputKind::Events, &self.bufs.events)?;
            self.bufs.events.clear();
        }
        Ok(())
    }

    /// Passes a batch on, its rows written (or in the buffers written before the stage
    /// returns): its records' offsets may be committed once the outputs are synced.
    fn pass(&mut self, w: Box<Work>, flow: &mut Flow) {
        if let Some(c) = self.commits.as_mut() {
            c.written(&w);
        }
        flow.pass(w);
    }

    /// Commits the offsets of the records whose rows are written and older than any batch
    /// still held: when the interval has passed since the last commit (`now`, processing
    /// time), or at the end (`None`), after syncing the outputs.
    fn commit(&mut self, now: Option<i64>) -> Result<(), RuntimeError> {
        let floor = self.held.front().map_or(u64::MAX, |h| h.w.seq);
        let Some(c) = self.commits.as_mut() else {
            return Ok(());
        };
        if !c.due(now) {
            return Ok(());
        }
        self.outputs.sync()?;
        c.commit(floor, now)
    }

    /// Passes on the batches whose rows have all left, and has the decoder forget the
    /// released keys that no row still to write names.
    fn reclaim(&mut self, flow: &mut Flow) {
        while let Some(pos) = self.held.iter().position(|h| h.waiting == 0) {
            if let Some(h) = self.held.remove(pos) {
                self.pass(h.w, flow);
            }
        }
        let floor = self.held.front().map_or(u64::MAX, |h| h.w.seq);
        if let Some((_, marks)) = self.string_marks.take_if(|(seq, _)| *seq < floor) {
            let mut interner = self.interner.borrow_mut();
            self.decoder
                .borrow_mut()
                .forget_strings(&mut interner, &marks);
        }
        if self.releases.is_empty() {
            return;
        }
        let n = (self.releases.iter())
            .take_while(|(seq, _)| *seq < floor)
            .count();
        self.decoder.borrow_mut().release_keys(&self.releases[..n]);
        for &(_, k) in &self.releases[..n] {
            self.encoder.forget_key(k);
        }
        self.releases.drain(..n);
    }
}

/// Writes one per-event row: the one the engine thread made, if it made one, else encoded
/// here with its `prediction` fragment.
fn write_event(
    encoder: &mut OutputEncoder,
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
    encoder.event(
        out,
        w.record(i),
        (&w.events[i], w.texts.event(i)),
        &w.rows[i],
        prediction,
        decoder,
        interner,
    );
}

impl Stage for EmitStage<'_> {
    fn name(&self) -> &'static str {
        "emit"
    }

    fn process(&mut self, mut w: Box<Work>, flow: &mut Flow) -> Result<(), RuntimeError> {
        let defer = self.remote.is_some();
        let want_events = self.wants(OutputKind::Events);
        let want_late = self.wants(OutputKind::Late);
        let mut waiting = 0;
        // Every per-event row made by the engine thread: written as one block below.
        let bulk = !defer && want_events && w.rows_complete;
        let decoder = self.decoder.borrow();
        let interner = self.interner.borrow();
        // the strings this batch gave ids to, before any row that may name them
        for &id in &w.assigned {
            self.encoder
                .set_string(id, interner.resolve(eddy_core::Sym(id)));
        }
        if w.mark_strings {
            self.string_marks = Some((w.seq, std::mem::take(&mut w.string_marks)));
        }
        for (i, rec) in w.recs.iter().enumerate() {
            let (outcome, wm) = w.outcomes[i];
            match outcome {
                Outcome::Accepted | Outcome::LateUpdated => {
                    if outcome == Outcome::Accepted {
                        self.counts.accepted += 1;
                    } else {
                        self.counts.late_updated += 1;
                    }
                    if defer {
                        waiting += 1;
                        continue;
                    }
                    if want_events {
                        self.counts.rows[OutputKind::Events as usize] += 1;
                    }
                    if want_events && !bulk {
                        write_event(
                            self.encoder,
                            &mut self.bufs.events,
                            &decoder,
                            &interner,
                            &w,
                            i,
                            w.prediction(i),
                        );
                        if self.bufs.events.len() >= FLUSH_AT {
                            self.outputs.write(OutputKind::Events, &self.bufs.events)?;
                            self.bufs.events.clear();
                        }
                    }
                }
                Outcome::LateDiscarded | Outcome::Late => {
                    let discarded = outcome == Outcome::LateDiscarded;
                    if discarded {
                        self.counts.late_discarded += 1;
                    } else {
                        self.counts.late += 1;
                    }
                    if want_late {
                        self.counts.rows[OutputKind::Late as usize] += 1;
                        let reason = if discarded {
                            format!(
                                "late_discarded: behind the watermark ({}) but within allowed lateness; late_policy = discard",
                                fmt_ts(wm)
                            )
                        } else {
                            format!("{} ({})", self.late_reason_prefix, fmt_ts(wm))
                        };
                        self.encoder.late(
                            &mut self.bufs.late,
                            w.record(i),
                            w.batch.place(rec.offset),
                            &reason,
                            decoder.format(),
                        );
                    }
                }
            }
        }
        if let Some(seen) = &self.rows_seen {
            if want_events && !defer && w.outcomes.iter().any(|o| has_row(o.0)) {
                let by = if bulk { &seen.engine } else { &seen.front };
                by.fetch_add(1, Ordering::Relaxed);
            }
        }
        if bulk {
            self.outputs.write(OutputKind::Events, &self.bufs.events)?;
            self.bufs.events.clear();
            self.outputs.write(OutputKind::Events, &w.feat_json)?;
        }
        let want_windows = self.wants(OutputKind::Windows);
        for r in &w.closed {
            self.counts.window_rows += 1;
            if r.update {
                self.counts.window_updates += 1;
            }
            if want_windows {
                self.encoder
                    .window(&mut self.bufs.windows, r, &decoder, &interner);
                self.counts.rows[OutputKind::Windows as usize] += 1;
                // one watermark advance (the end of the input above all) may fire millions
                // of rows: written as they are encoded, not all held first; the batch's
                // per-event rows before them, as a shared sink has them
                if self.bufs.windows.len() >= FLUSH_AT {
                    self.outputs.write(OutputKind::Events, &self.bufs.events)?;
                    self.bufs.events.clear();
                    self.outputs
                        .write(OutputKind::Windows, &self.bufs.windows)?;
                    self.bufs.windows.clear();
                }
            }
        }
        drop((decoder, interner));
        let seq = w.seq;
        self.releases.extend(w.released.iter().map(|&k| (seq, k)));
        self.bufs.dead.extend_from_slice(&w.dead);
        self.counts.rows[OutputKind::DeadLetter as usize] += w.dead_rows;
        self.counts.rows[OutputKind::Learning as usize] += w.learning_rows;
        if !w.learning.is_empty() {
            self.outputs.write(OutputKind::Learning, &w.learning)?;
        }
        let now = w.now;
        if waiting == 0 {
            self.pass(w, flow);
        } else {
            self.submit_rows(w, waiting)?;
        }
        self.reclaim(flow);
        self.bufs.write_all(self.outputs)?;
        self.outputs.flush()?;
        self.commit(Some(now))
    }

    fn query(&mut self, q: Query) -> Option<Query> {
        let a = (self.encoder).answer(&q.lookup.key, q.values, &self.interner.borrow());
        q.lookup.answer(a);
        None
    }

    fn pending(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| r.pending() > 0)
    }

    fn poll(&mut self, flow: &mut Flow) -> Result<(), RuntimeError> {
        self.with_client(|stage, deliver| stage.poll(deliver))?;
        self.reclaim(flow);
        // Rows that left while no batch came (their scores, or their deadlines, on a quiet
        // live stream) are written now, not when the next batch comes.
        if !self.bufs.events.is_empty() {
            self.outputs.write(OutputKind::Events, &self.bufs.events)?;
            self.bufs.events.clear();
            self.outputs.flush()?;
        }
        Ok(())
    }

    fn finish(&mut self, flow: &mut Flow) -> Result<bool, RuntimeError> {
        self.with_client(|stage, deliver| stage.finish(deliver))?;
        self.reclaim(flow);
        self.bufs.write_all(self.outputs)?;
        // every row in its destination (Kafka: acknowledged) before the run ends
        self.outputs.sync()?;
        self.commit(None)?;
        Ok(true)
    }

    fn report(&mut self, m: &Metrics) {
        let c = std::mem::take(&mut self.counts);
        m.events_accepted().add(c.accepted);
        m.late_events(LateOutcome::Updated).add(c.late_updated);
        m.late_events(LateOutcome::Late).add(c.late);
        m.late_events(LateOutcome::Discarded).add(c.late_discarded);
        m.window_rows().add(c.window_rows);
        m.window_updates().add(c.window_updates);
        for kind in OutputKind::ALL {
            m.output_rows(kind).add(c.rows[kind as usize]);
        }
        if let Some(r) = self.remote.as_deref() {
            let (now, was) = (r.counts(), &self.reported);
            m.scored().add(now.scored - was.scored);
            for (reason, now, was) in [
                (UnscoredReason::Fallback, now.fallback, was.fallback),
                (
                    UnscoredReason::NullFeature,
                    now.unscored_null_feature,
                    was.unscored_null_feature,
                ),
                (
                    UnscoredReason::Deadline,
                    now.unscored_deadline,
                    was.unscored_deadline,
                ),
                (
                    UnscoredReason::Server,
                    now.unscored_server,
                    was.unscored_server,
                ),
                (UnscoredReason::Shed, now.unscored_shed, was.unscored_shed),
            ] {
                m.unscored(reason).add(now - was);
            }
            m.late_scores().add(now.late_scores - was.late_scores);
            m.duplicate_scores()
                .add(now.duplicate_scores - was.duplicate_scores);
            m.unknown_scores()
                .add(now.unknown_scores - was.unknown_scores);
            self.reported = now.clone();
        }
    }
}
