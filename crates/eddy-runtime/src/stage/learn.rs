//! The learn stage (`[learn]`): hands each per-event row of a batch, with its categories,
//! label, event id and the watermark, to the [`Learning`] loop, which scores it (the batch's
//! prediction fragments), learns what is labelled, and writes learning-log rows and the
//! label stream's dead letters into the batch for the emit stage.
//!
//! It runs on the engine thread, before the rows stage (so that the per-event rows with
//! their predictions are made there, as with an embedded model), unless it needs what only
//! the caller's thread has — the text of an interned string field, or of the entity key —
//! then on the caller's thread, before the emit stage ([`FrontLearnStage`]).

use std::cell::RefCell;

use eddy_core::{FieldId, Interner, Value};

use super::{has_row, Flow, Stage, Work};
use crate::decode::{event_id_hash, Decoder};
use crate::error::RuntimeError;
use crate::learn::prediction::Arm;
use crate::learn::{EventIn, LabelIn, LearnCounts, Learning, Outputs};
use crate::metrics::Metrics;

/// Where a category's (or a string label's) text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextAt {
    /// In the batch's texts, at this slot (a field no feature keeps).
    Slot(usize),
    /// Interned (a field a feature keeps): the caller's thread has it.
    Interned,
    /// The entity key: the caller's thread has it.
    Key,
}

/// What the stage reads of each event.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The categories (the recommender's user and item first), in the model's order.
    pub cats: Vec<(Option<FieldId>, TextAt)>,
    /// The in-event label's field, and where its text is if it is a string field.
    pub label: Option<(FieldId, Option<TextAt>)>,
    /// Route keys by hash (`split`).
    pub key_hash: bool,
}

impl Plan {
    /// Whether the stage must run on the caller's thread.
    pub fn needs_front(&self) -> bool {
        let front = |t: TextAt| !matches!(t, TextAt::Slot(_));
        self.key_hash
            || self.cats.iter().any(|c| front(c.1))
            || self.label.and_then(|l| l.1).is_some_and(front)
    }
}

/// The stage on the engine thread.
pub struct LearnStage<'a> {
    pub(crate) learning: &'a mut Learning,
    pub(crate) plan: Plan,
    /// The sequence number of the last batch seen (the end's log row rides on a batch of
    /// its own, numbered after it).
    pub(crate) last_seq: u64,
    /// The counts as last reported to the run's metrics.
    pub(crate) reported: LearnCounts,
}

/// The stage on the caller's thread, with the decoder and interner for the texts only it has.
pub struct FrontLearnStage<'a> {
    pub(crate) stage: LearnStage<'a>,
    pub(crate) decoder: &'a RefCell<&'a mut Decoder>,
    pub(crate) interner: &'a RefCell<&'a mut Interner>,
}

/// A string's text, from the batch or (on the caller's thread) the interner or decoder.
fn text<'t>(
    at: TextAt,
    field: Option<FieldId>,
    i: usize,
    w: &'t Work,
    front: Option<(&'t Decoder, &'t Interner)>,
) -> Option<&'t str> {
    let ev = &w.events[i];
    match (at, front) {
        (TextAt::Slot(slot), _) => w
            .texts
            .event(i)
            .get(slot)
            .and_then(|b| std::str::from_utf8(b).ok()),
        (TextAt::Interned, Some((_, interner))) => match field.map(|f| ev.field(f)) {
            Some(Value::Str(s)) => Some(interner.resolve(s)),
            _ => None,
        },
        (TextAt::Key, Some((decoder, _))) => Some(decoder.key(ev.key)),
        _ => None,
    }
}

impl LearnStage<'_> {
    /// Every record of `w`, in order: the watermark it brought, then its row.
    fn batch(
        &mut self,
        w: &Work,
        out: &mut Outputs,
        ends: &mut Vec<usize>,
        front: Option<(&Decoder, &Interner)>,
    ) -> Result<(), RuntimeError> {
        let mut cats: Vec<Option<&str>> = Vec::with_capacity(self.plan.cats.len());
        for i in 0..w.recs.len() {
            let (outcome, wm) = w.outcomes[i];
            self.learning.advance(wm, out)?;
            if has_row(outcome) {
                let ev = &w.events[i];
                cats.clear();
                for &(f, at) in &self.plan.cats {
                    cats.push(text(at, f, i, w, front));
                }
                let label = match self.plan.label.map(|(f, at)| (ev.field(f), at, f)) {
                    None | Some((Value::Null, ..)) => LabelIn::None,
                    Some((Value::Bool(b), ..)) => LabelIn::Num(f64::from(u8::from(b))),
                    Some((Value::Int(n), ..)) => LabelIn::Num(n as f64),
                    Some((Value::Float(x), ..)) => LabelIn::Num(x),
                    Some((Value::Str(_), Some(at), f)) => {
                        text(at, Some(f), i, w, front).map_or(LabelIn::None, LabelIn::Text)
                    }
                    Some((Value::Str(_), None, _)) => LabelIn::None,
                };
                let key_hash = match (self.plan.key_hash, front) {
                    (true, Some((decoder, _))) => event_id_hash(decoder.key(ev.key).as_bytes()),
                    _ => 0,
                };
                let e = EventIn {
                    row: &w.rows[i],
                    cats: &cats,
                    label,
                    id: w.ids.get(i).copied().unwrap_or(0),
                    key_hash,
                    ts: ev.ts,
                };
                self.learning.event(&e, out)?;
            }
            ends.push(out.pred.len());
        }
        Ok(())
    }

    fn process_with(
        &mut self,
        mut w: Box<Work>,
        flow: &mut Flow,
        front: Option<(&Decoder, &Interner)>,
    ) -> Result<(), RuntimeError> {
        self.last_seq = w.seq;
        let mut out = Outputs {
            pred: std::mem::take(&mut w.pred_json),
            dead: std::mem::take(&mut w.dead),
            dead_rows: w.dead_rows,
            learning: std::mem::take(&mut w.learning),
            learning_rows: 0,
        };
        out.pred.clear();
        out.learning.clear();
        let mut ends = std::mem::take(&mut w.pred_ends);
        ends.clear();
        let r = self.batch(&w, &mut out, &mut ends, front);
        w.pred_json = out.pred;
        w.pred_ends = ends;
        w.dead = out.dead;
        w.dead_rows = out.dead_rows;
        w.learning = out.learning;
        w.learning_rows = out.learning_rows;
        w.predicted = true;
        r?;
        flow.pass(w);
        Ok(())
    }

    /// Adds what the loop counted since the last report to the `eddy_learn_*` metrics.
    fn report_to(&mut self, m: &Metrics) {
        let l = m.learn();
        let c = self.learning.counts();
        let r = std::mem::replace(&mut self.reported, c);
        l.on.set(1);
        l.examples.add(c.learned - r.learned);
        l.drifts.add(c.drifts - r.drifts);
        l.promotions.add(c.promotions - r.promotions);
        l.rollbacks.add(c.rollbacks - r.rollbacks);
        l.pending.set(self.learning.pending() as u64);
        l.model_version.set(self.learning.version());
        l.serving_online
            .set(u64::from(self.learning.serving() == Arm::Online));
    }

    fn finish_with(&mut self, flow: &mut Flow) -> Result<bool, RuntimeError> {
        let mut out = Outputs::default();
        self.learning.finish(&mut out)?;
        let w = Box::new(Work {
            seq: self.last_seq,
            dead: out.dead,
            dead_rows: out.dead_rows,
            learning: out.learning,
            learning_rows: out.learning_rows,
            ..Work::default()
        });
        flow.pass(w);
        Ok(true)
    }
}

impl Stage for LearnStage<'_> {
    fn name(&self) -> &'static str {
        "learn"
    }

    fn process(&mut self, w: Box<Work>, flow: &mut Flow) -> Result<(), RuntimeError> {
        self.process_with(w, flow, None)
    }

    fn finish(&mut self, flow: &mut Flow) -> Result<bool, RuntimeError> {
        self.finish_with(flow)
    }

    fn report(&mut self, m: &Metrics) {
        self.report_to(m);
    }
}

impl Stage for FrontLearnStage<'_> {
    fn name(&self) -> &'static str {
        "learn"
    }

    fn process(&mut self, w: Box<Work>, flow: &mut Flow) -> Result<(), RuntimeError> {
        let decoder = self.decoder.borrow();
        let interner = self.interner.borrow();
        self.stage
            .process_with(w, flow, Some((&**decoder, &**interner)))
    }

    fn finish(&mut self, flow: &mut Flow) -> Result<bool, RuntimeError> {
        self.stage.finish_with(flow)
    }

    fn report(&mut self, m: &Metrics) {
        self.stage.report_to(m);
    }
}
