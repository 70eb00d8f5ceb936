//! The decode stage: a batch's records into typed events. A record that cannot be decoded
//! becomes a dead letter (encoded into the batch, written by the emit stage) and the run goes
//! on; blank records are counted and skipped.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use eddy_core::{Event, Interner, Sym};

use super::{Flow, Query, Stage, Work};
use crate::connector::Place;
use crate::decode::Decoder;
use crate::encode;
use crate::error::RuntimeError;
use crate::lookup::Answer;
use crate::metrics::{DeadReason, Metrics};
use crate::spec::OutputFormat;

pub struct DecodeStage<'a> {
    pub(crate) decoder: &'a RefCell<&'a mut Decoder>,
    pub(crate) interner: &'a RefCell<&'a mut Interner>,
    /// The dead-letter output's format, when there is one.
    pub(crate) dead_letters: Option<OutputFormat>,
    /// For the CSV header's error.
    pub(crate) source_name: String,
    /// The source's largest record, for the message of a longer one.
    pub(crate) max_record: usize,
    /// Send the strings interned by each batch on with it (the features stage encodes
    /// features objects on its own thread and needs them).
    pub(crate) sync_strings: bool,
    /// Batches decoded and not yet taken up by the features stage (see there).
    pub(crate) backlog: Arc<AtomicUsize>,
    /// Counted since the last report.
    pub(crate) records: u64,
    pub(crate) blank: u64,
    pub(crate) dead: [u64; DeadReason::ALL.len()],
}

impl Stage for DecodeStage<'_> {
    fn name(&self) -> &'static str {
        "decode"
    }

    fn process(&mut self, mut w: Box<Work>, flow: &mut Flow) -> Result<(), RuntimeError> {
        w.seq = self.decoder.borrow_mut().start_batch();
        let Work {
            batch,
            recs,
            events,
            dead,
            dead_rows,
            ..
        } = &mut *w;
        recs.clear();
        dead.clear();
        *dead_rows = 0;
        for o in &batch.oversized {
            self.dead[DeadReason::TooLarge as usize] += 1;
            self.records += 1;
            if let Some(format) = self.dead_letters {
                let msg = format!(
                    "{}: the record is longer than {} bytes (source.max_record_bytes); skipped (its first {} bytes shown)",
                    batch.place(o.offset),
                    self.max_record,
                    o.preview.len()
                );
                encode::dead_letter(format, dead, &o.preview, batch.place(o.offset), &msg);
                *dead_rows += 1;
            }
        }
        let mut decoder = self.decoder.borrow_mut();
        let mut interner = self.interner.borrow_mut();
        for r in &batch.records {
            let (offset, record) = (r.offset, &batch.data[r.start..r.end]);
            if record.iter().all(|c| c.is_ascii_whitespace()) {
                self.blank += 1;
                continue;
            }
            if decoder.needs_header() {
                decoder
                    .read_header(record)
                    .map_err(|msg| RuntimeError::CsvHeader {
                        name: self.source_name.clone(),
                        msg: format!("{}: {msg}", batch.place(offset)),
                    })?;
                continue;
            }
            self.records += 1;
            let i = recs.len();
            if events.len() <= i {
                events.push(Event::default());
            }
            match decoder.decode(record, offset, &mut events[i], &mut interner) {
                Ok(()) => recs.push(*r),
                Err(e) => {
                    self.dead[e.reason as usize] += 1;
                    if let Some(format) = self.dead_letters {
                        let place = batch.place(offset);
                        let reason = match place {
                            Place::Line(_) => e.to_string(),
                            // the error names a line: name the message instead
                            Place::Message { .. } => match &e.field {
                                Some(f) => format!("{place}, field `{f}`: {}", e.msg),
                                None => format!("{place}: {}", e.msg),
                            },
                        };
                        encode::dead_letter(format, dead, record, place, &reason);
                        *dead_rows += 1;
                    }
                }
            }
        }
        decoder.swap_texts(&mut w.texts);
        w.assigned.clear();
        interner.take_assigned(&mut w.assigned);
        w.new_strings.clear();
        if self.sync_strings {
            let strings = (w.assigned.iter()).map(|&id| (id, interner.resolve(Sym(id)).into()));
            w.new_strings.extend(strings);
        }
        // Strings the features keep grew: the next batches learn which ones the state
        // still holds, and the decoder forgets the rest.
        w.mark_strings = decoder.wants_string_marks(&interner);
        drop((decoder, interner));
        self.backlog.fetch_add(1, Ordering::Relaxed);
        flow.pass(w);
        Ok(())
    }

    fn query(&mut self, mut q: Query) -> Option<Query> {
        let key = self.decoder.borrow().key_id(&q.lookup.key);
        match key {
            Some(k) => {
                q.key = Some(k);
                Some(q)
            }
            None => {
                q.lookup.answer(Answer::UnknownKey);
                None
            }
        }
    }

    fn report(&mut self, m: &Metrics) {
        m.records_read().add(std::mem::take(&mut self.records));
        m.blank_lines().add(std::mem::take(&mut self.blank));
        for r in DeadReason::ALL {
            m.dead_letters(r)
                .add(std::mem::take(&mut self.dead[r as usize]));
        }
    }
}
