//! Bounded-out-of-orderness watermarks over one or more source partitions.
//!
//! Per partition: `wm_p = max_event_ts_p - max_out_of_orderness - 1` (`i64::MIN` before the
//! partition's first event). Combined: the minimum over *active* partitions, never moving
//! backwards. A partition is idle when `now - last_event_now > idle_timeout` (strictly, as
//! in Flink's `WatermarksWithIdleness`); a partition that never produced an event counts its
//! inactivity from the first processing time the tracker saw. When every partition is idle
//! the watermark stays where it is. Processing time is only ever passed in as data.

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatermarkConfig {
    /// `watermark = max_event_ts - max_out_of_orderness - 1`.
    pub max_out_of_orderness: i64,
    /// A partition with no event for this long (processing time, ms) stops holding the
    /// watermark back until it produces an event again. `None`: never idle.
    pub idle_timeout: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
struct Partition {
    max_ts: Timestamp,
    /// Processing time of the last event (or of the tracker's first observation).
    last_active: Option<i64>,
}

/// Tracks per-partition maxima; the combined watermark is the minimum over active
/// partitions and never moves backwards. Starts at `i64::MIN`.
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    config: WatermarkConfig,
    parts: Vec<Partition>,
    current: Timestamp,
}

impl WatermarkTracker {
    /// `partitions` is at least 1; events of a partition index beyond it add partitions.
    pub fn new(config: WatermarkConfig, partitions: usize) -> Self {
        WatermarkTracker {
            config,
            parts: vec![
                Partition {
                    max_ts: i64::MIN,
                    last_active: None,
                };
                partitions.max(1)
            ],
            current: i64::MIN,
        }
    }

    /// Records an event of `partition` at event time `ts`, seen at processing time `now`.
    /// Returns the combined watermark after it.
    pub fn observe(&mut self, partition: usize, ts: Timestamp, now: i64) -> Timestamp {
        if partition >= self.parts.len() {
            self.parts.resize(
                partition + 1,
                Partition {
                    max_ts: i64::MIN,
                    last_active: Some(now),
                },
            );
        }
        let p = &mut self.parts[partition];
        p.max_ts = p.max_ts.max(ts);
        p.last_active = Some(now);
        self.on_processing_time(now)
    }

    /// Re-evaluates idleness at processing time `now`; returns the combined watermark.
    pub fn on_processing_time(&mut self, now: i64) -> Timestamp {
        let ooo = self.config.max_out_of_orderness.max(0);
        let mut min: Option<Timestamp> = None;
        for p in &mut self.parts {
            let since = *p.last_active.get_or_insert(now);
            let idle = match self.config.idle_timeout {
                Some(t) => now.saturating_sub(since) > t,
                None => false,
            };
            if !idle {
                let wm = if p.max_ts == i64::MIN {
                    i64::MIN
                } else {
                    p.max_ts.saturating_sub(ooo).saturating_sub(1)
                };
                min = Some(min.map_or(wm, |m: i64| m.min(wm)));
            }
        }
        if let Some(m) = min {
            self.current = self.current.max(m);
        }
        self.current
    }

    pub fn current(&self) -> Timestamp {
        self.current
    }

    /// Partition `p`'s own watermark (`i64::MIN` before its first event): what it would hold
    /// the combined watermark to, were it the slowest.
    pub fn partition(&self, p: usize) -> Timestamp {
        match self.parts.get(p) {
            Some(part) if part.max_ts != i64::MIN => part
                .max_ts
                .saturating_sub(self.config.max_out_of_orderness.max(0))
                .saturating_sub(1),
            _ => i64::MIN,
        }
    }

    pub fn partitions(&self) -> usize {
        self.parts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_out_of_orderness_never_backwards() {
        let mut t = WatermarkTracker::new(
            WatermarkConfig {
                max_out_of_orderness: 100,
                idle_timeout: None,
            },
            1,
        );
        assert_eq!(t.current(), i64::MIN);
        assert_eq!(t.observe(0, 1000, 0), 899);
        assert_eq!(t.observe(0, 500, 0), 899); // older event: no step back
        assert_eq!(t.observe(0, 1001, 0), 900);
    }

    #[test]
    fn minimum_over_partitions_and_idle_source() {
        let mut t = WatermarkTracker::new(
            WatermarkConfig {
                max_out_of_orderness: 0,
                idle_timeout: Some(1000),
            },
            2,
        );
        // partition 1 has seen nothing: it holds the watermark at MIN
        assert_eq!(t.observe(0, 10_000, 0), i64::MIN);
        assert_eq!(t.observe(0, 20_000, 500), i64::MIN);
        // exactly at the timeout partition 1 is not yet idle (strictly longer needed)
        assert_eq!(t.on_processing_time(1000), i64::MIN);
        // idle for longer than 1000 ms: it stops holding back
        assert_eq!(t.on_processing_time(1001), 19_999);
        // it wakes up with an older event: combined is the min again, but never backwards
        assert_eq!(t.observe(1, 5_000, 1100), 19_999);
        assert_eq!(t.observe(0, 30_000, 1200), 19_999);
        assert_eq!(t.observe(1, 25_000, 1300), 24_999);
        // partition 0 goes idle
        assert_eq!(t.on_processing_time(2201), 24_999);
        assert_eq!(t.observe(1, 40_000, 2300), 39_999);
        // all idle: stays
        assert_eq!(t.on_processing_time(10_000), 39_999);
    }
}
