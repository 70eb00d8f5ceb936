//! Micro-batching: the open batch events are copied into, and the batch taken from it when it
//! is full, its first event has waited long enough, or the caller flushes.

use std::time::Instant;

/// A batch on its way: internal sequence numbers and row-major features.
pub(super) struct OutBatch {
    pub(super) seqs: Vec<u64>,
    pub(super) values: Vec<f64>,
    pub(super) width: usize,
}

/// The batch being filled.
#[derive(Default)]
pub(super) struct OpenBatch {
    pub(super) seqs: Vec<u64>,
    pub(super) values: Vec<f64>,
    /// Features per row (a batch holds rows of one width).
    pub(super) width: usize,
    pub(super) started: Option<Instant>,
    /// Bumped on every take, so the timer knows whether the batch it waited on is still open.
    pub(super) generation: u64,
}

impl OpenBatch {
    pub(super) fn take(&mut self) -> Option<OutBatch> {
        if self.seqs.is_empty() {
            return None;
        }
        self.started = None;
        self.generation += 1;
        Some(OutBatch {
            seqs: std::mem::take(&mut self.seqs),
            values: std::mem::take(&mut self.values),
            width: self.width,
        })
    }
}
