//! The label stream of `generate --labels`: each outcome as a record of its own,
//! `{"event_id":"e…","label":0|1,"ts":"…"}`, written in order of `ts`, the moment the outcome
//! became known: the event's true time plus a delay.
//!
//! The delay is lognormal with `σ = 1` (of its logarithm) and the given mean: most outcomes
//! are known soon, a few much later (median `0.61 ×` the mean, 99th percentile `6.2 ×`), as
//! with chargebacks or conversions. Its draws come from a generator of their own, so the
//! events are the same with and without a label stream (apart from the `label` field, and
//! the clicks' times, which are the clicks' labels' times).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use eddy_core::rng::Rng;
use eddy_core::Timestamp;

/// The standard deviation of the delay's logarithm.
pub const LABEL_DELAY_SIGMA: f64 = 1.0;

/// Labels waiting for the events to reach their time, and where they go.
pub(super) struct LabelStream<'a> {
    out: &'a mut dyn Write,
    rng: Rng,
    /// The mean of the delay's logarithm: `ln(mean) − σ²/2`.
    mu: f64,
    /// `(ts, event number, label)`, earliest first.
    heap: BinaryHeap<Reverse<(Timestamp, u64, u8)>>,
    buf: Vec<u8>,
    ts_text: String,
}

impl<'a> LabelStream<'a> {
    /// `mean_ms` > 0.
    pub(super) fn new(out: &'a mut dyn Write, seed: u64, mean_ms: f64) -> Self {
        LabelStream {
            out,
            // A stream of its own ("labels" in ASCII), independent of the events'.
            rng: Rng::new(seed ^ 0x6c61_6265_6c73),
            mu: mean_ms.ln() - LABEL_DELAY_SIGMA * LABEL_DELAY_SIGMA / 2.0,
            heap: BinaryHeap::new(),
            buf: Vec::with_capacity(1 << 16),
            ts_text: String::new(),
        }
    }

    /// A delay in ms (≥ 0).
    pub(super) fn delay(&mut self) -> i64 {
        (self.mu + LABEL_DELAY_SIGMA * self.rng.normal())
            .exp()
            .round()
            .max(0.0) as i64
    }

    /// The label of event number `event` (1-based), known at `ts`.
    pub(super) fn push(&mut self, ts: Timestamp, event: u64, label: u8) {
        self.heap.push(Reverse((ts, event, label)));
    }

    /// Writes the labels known before `now` (no later event can bring an earlier label).
    pub(super) fn release(&mut self, now: Timestamp) -> io::Result<()> {
        while let Some(&Reverse((ts, event, label))) = self.heap.peek() {
            if ts >= now {
                break;
            }
            self.heap.pop();
            self.record(ts, event, label);
        }
        if self.buf.len() >= 1 << 16 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes every label left.
    pub(super) fn finish(mut self) -> io::Result<()> {
        while let Some(Reverse((ts, event, label))) = self.heap.pop() {
            self.record(ts, event, label);
        }
        self.out.write_all(&self.buf)?;
        self.out.flush()
    }

    fn record(&mut self, ts: Timestamp, event: u64, label: u8) {
        self.buf.extend_from_slice(b"{\"event_id\":\"");
        super::event_id(event, &mut self.buf);
        self.buf.extend_from_slice(b"\",\"label\":");
        self.buf.push(b'0' + label);
        self.buf.extend_from_slice(b",\"ts\":\"");
        self.ts_text.clear();
        eddy_core::time::format_rfc3339(ts, &mut self.ts_text);
        self.buf.extend_from_slice(self.ts_text.as_bytes());
        self.buf.extend_from_slice(b"\"}\n");
    }
}
