//! At least once: a source's offsets are committed only after the outputs of the records
//! before them are written and synced (Kafka sinks: acknowledged). The positions kept here are
//! what a checkpoint will take with the stages' state, for exactly once.

use std::collections::VecDeque;

use crate::connector::{Committer, Positions};
use crate::error::RuntimeError;
use crate::stage::Work;

/// The emit stage's side of committing.
pub struct Commits {
    committer: Box<dyn Committer>,
    /// How often (processing time, ms) offsets are committed.
    interval_ms: i64,
    last_ms: Option<i64>,
    /// Batches passed on, not yet in `positions`: (decoding order, partition, next offset).
    written: VecDeque<(u64, usize, u64)>,
    positions: Positions,
    /// Mid-run commits that failed (each made good by a later one).
    pub failed: u64,
}

impl Commits {
    pub fn new(committer: Box<dyn Committer>, interval_ms: i64) -> Commits {
        Commits {
            committer,
            interval_ms,
            last_ms: None,
            written: VecDeque::new(),
            positions: Positions::default(),
            failed: 0,
        }
    }

    /// The positions committed (or about to be): every record before them has its outputs
    /// written.
    pub fn positions(&self) -> &Positions {
        &self.positions
    }

    /// `w` has been passed on by the emit stage: its rows are written.
    pub(crate) fn written(&mut self, w: &Work) {
        if let Some(next) = w.batch.next_offset() {
            self.written.push_back((w.seq, w.batch.partition, next));
        }
    }

    /// Whether a commit is due at `now` (`None`: the end of the run, always).
    pub(crate) fn due(&self, now: Option<i64>) -> bool {
        match (now, self.last_ms) {
            (None, _) => true,
            (Some(_), None) => !self.written.is_empty(),
            (Some(now), Some(last)) => !self.written.is_empty() && now - last >= self.interval_ms,
        }
    }

    /// Commits the positions of the batches before `floor` (decoding order: a batch still
    /// held is not written, nor are the ones after it). The outputs are synced.
    pub(crate) fn commit(&mut self, floor: u64, now: Option<i64>) -> Result<(), RuntimeError> {
        let mut rest = VecDeque::new();
        for (seq, partition, next) in self.written.drain(..) {
            if seq < floor {
                self.positions.advance(partition, next);
            } else {
                rest.push_back((seq, partition, next));
            }
        }
        self.written = rest;
        self.last_ms = now.or(self.last_ms);
        match self.committer.commit(&self.positions, now.is_none()) {
            Ok(()) => Ok(()),
            Err(e) if now.is_none() => Err(e),
            Err(_) => {
                self.failed += 1;
                Ok(())
            }
        }
    }
}
