//! Bounded-out-of-orderness watermarks over one or more source partitions.

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatermarkConfig {
    /// `watermark = max_event_ts - max_out_of_orderness - 1`.
    pub max_out_of_orderness: i64,
    /// A partition with no event for this long (processing time, ms) stops holding the
    /// watermark back until it produces an event again. `None`: never idle.
    pub idle_timeout: Option<i64>,
}

/// Tracks per-partition maxima; the combined watermark is the minimum over active
/// partitions and never moves backwards. Starts at `i64::MIN`.
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    _todo: (),
}

impl WatermarkTracker {
    pub fn new(config: WatermarkConfig, partitions: usize) -> Self {
        let _ = (config, partitions);
        todo!("core helper")
    }

    /// Records an event of `partition` at event time `ts`, seen at processing time `now`.
    /// Returns the combined watermark after it.
    pub fn observe(&mut self, partition: usize, ts: Timestamp, now: i64) -> Timestamp {
        let _ = (partition, ts, now);
        todo!("core helper")
    }

    /// Re-evaluates idleness at processing time `now`; returns the combined watermark.
    pub fn on_processing_time(&mut self, now: i64) -> Timestamp {
        let _ = now;
        todo!("core helper")
    }

    pub fn current(&self) -> Timestamp {
        todo!("core helper")
    }
}
