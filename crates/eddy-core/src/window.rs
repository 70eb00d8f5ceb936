//! Window kinds and assignment (Flink semantics, half-open `[start, end)`).

use crate::{CoreError, Timestamp};

/// A time window `[start, end)`. Global windows use `start = i64::MIN`, `end = i64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Window {
    /// Largest timestamp inside the window; it fires when the watermark reaches this.
    pub fn max_timestamp(&self) -> Timestamp {
        self.end - 1
    }
}

/// When a global window fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// On every event.
    EveryEvent,
    /// Every `n` events of the key.
    Count(u64),
    /// Every `interval` ms of event time (fires when the watermark passes each boundary).
    EventTime(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// `start = ts - ((ts - offset) mod size)`, mathematical modulo. Offset may be negative.
    Tumbling { size: i64, offset: i64 },
    /// Windows `[s, s + size)` with `s` aligned to `slide` (plus offset) and `s <= ts < s + size`.
    Sliding { size: i64, slide: i64, offset: i64 },
    /// Each event opens `[ts, ts + gap)`; overlapping or touching windows of a key merge.
    Session { gap: i64 },
    /// One window per key, never closed by time; fires on `trigger`, then purges or keeps state.
    Global { trigger: Trigger, purge: bool },
}

impl WindowSpec {
    /// Refuses zero or negative sizes/gaps, a slide larger than its size, |offset| >= size.
    pub fn validate(&self) -> Result<(), CoreError> {
        todo!("core helper")
    }

    /// Appends the windows that contain `ts` (sessions: the proto-window `[ts, ts + gap)`;
    /// global: the single global window).
    pub fn assign(&self, ts: Timestamp, out: &mut Vec<Window>) {
        let _ = (ts, out);
        todo!("core helper")
    }
}
