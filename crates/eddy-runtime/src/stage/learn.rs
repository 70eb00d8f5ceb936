//! The learn stage (`[learn]`): hands each per-event row of a batch, with its categories,
//! label, event id and the watermark, to the [`Learning`] loop, which scores it (the batch's
//! prediction fragments), learns what is labelled, and writes learning-log rows and the
//! label stream's dead letters into the batch for the emit stage. It runs on the caller's
//! thread, before the emit stage, so that rows never wait for it on the engine thread.

use std::cell::RefCell;

use eddy_core::{FieldId, Interner, Value};

use super::{has_row, Flow, Stage, Work};
use crate::decode::{event_id_hash, Decoder};
use crate::error::RuntimeError;
use crate::learn::{EventIn, LabelIn, Learning, Outputs};

pub struct LearnStage<'a> {
    pub(crate) learning: &'a mut Learning,
    pub(crate) decoder: &'a RefCell<&'a mut Decoder>,
    pub(crate) interner: &'a RefCell<&'a mut Interner>,
    /// The `categories` fields (`None`: the entity key), and the in-event label's field.
    pub(crate) cat_fields: Vec<Option<FieldId>>,
    pub(crate) label_field: Option<FieldId>,
    /// Route keys by hash (`split`).
    pub(crate) key_hash: bool,
    /// The sequence number of the last batch seen (the end's log row rides on a batch of
    /// its own, numbered after it).
    pub(crate) last_seq: u64,
}

/// A string field's text: interned (kept for a feature) or carried with the batch.
fn text<'t>(
    v: Value,
    f: FieldId,
    i: usize,
    w: &'t Work,
    decoder: &Decoder,
    interner: &'t Interner,
) -> Option<&'t str> {
    // a field no feature keeps may hold no value in the event (or a hash): its text rides
    // with the batch
    match (decoder.text_slot(f), v) {
        (Some(slot), _) => w
            .texts
            .event(i)
            .get(slot)
            .and_then(|b| std::str::from_utf8(b).ok()),
        (None, Value::Str(s)) => Some(interner.resolve(s)),
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
    ) -> Result<(), RuntimeError> {
        let decoder = self.decoder.borrow();
        let interner = self.interner.borrow();
        let mut cats: Vec<Option<&str>> = Vec::with_capacity(self.cat_fields.len());
        for i in 0..w.recs.len() {
            let (outcome, wm) = w.outcomes[i];
            self.learning.advance(wm, out)?;
            if has_row(outcome) {
                let ev = &w.events[i];
                cats.clear();
                for &f in &self.cat_fields {
                    cats.push(match f {
                        Some(f) => text(ev.field(f), f, i, w, &decoder, &interner),
                        None => Some(decoder.key(ev.key)),
                    });
                }
                let label = match self.label_field.map(|f| (f, ev.field(f))) {
                    None | Some((_, Value::Null)) => LabelIn::None,
                    Some((_, Value::Bool(b))) => LabelIn::Num(f64::from(u8::from(b))),
                    Some((_, Value::Int(n))) => LabelIn::Num(n as f64),
                    Some((_, Value::Float(x))) => LabelIn::Num(x),
                    Some((f, v @ Value::Str(_))) => {
                        text(v, f, i, w, &decoder, &interner).map_or(LabelIn::None, LabelIn::Text)
                    }
                };
                let key_hash = if self.key_hash {
                    event_id_hash(decoder.key(ev.key).as_bytes())
                } else {
                    0
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
}

impl Stage for LearnStage<'_> {
    fn name(&self) -> &'static str {
        "learn"
    }

    fn process(&mut self, mut w: Box<Work>, flow: &mut Flow) -> Result<(), RuntimeError> {
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
        let r = self.batch(&w, &mut out, &mut ends);
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

    fn finish(&mut self, flow: &mut Flow) -> Result<bool, RuntimeError> {
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
