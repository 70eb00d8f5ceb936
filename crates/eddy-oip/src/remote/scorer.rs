//! The caller side: [`RemoteScorer`], driven by one pipeline thread. It fills the open batch,
//! hands full batches to the runtime, and emits results in order (or as they come, never
//! across a watermark), each event exactly once.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use eddy_core::rng::Rng;

use super::batch::{OpenBatch, OutBatch};
use super::breaker::{Breaker, BreakerView};
use super::config::{EmitMode, RemoteConfig};
use super::counters::{AtomicCounters, Counters};
use super::dispatch::{flush_timer, run_batch, Completion, Shared};
use super::error::{ClientError, MetadataError};
use super::metadata;
use super::outcome::{Emitted, FallbackReason, Outcome, ScoredEvent};
use super::transport::Transport;
use crate::wire::ServedModel;

enum Slot {
    Event {
        id: u64,
        submitted: Instant,
        result: Option<(f64, Option<i64>, Outcome, u32)>,
        emitted: bool,
    },
    Watermark(i64),
}

/// The client: see the module docs. Not `Sync`: one pipeline thread drives it.
pub struct RemoteScorer {
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
    rx: mpsc::Receiver<Completion>,
    slots: VecDeque<Slot>,
    /// Internal sequence number of `slots[0]`.
    head: u64,
    next: u64,
    /// Internal sequence numbers of watermarks still in `slots`, in order.
    wms: VecDeque<u64>,
    /// Events submitted and not yet emitted.
    pending: usize,
    submitted: u64,
    scored: u64,
    fallback: [u64; FallbackReason::COUNT],
}

impl fmt::Debug for RemoteScorer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteScorer")
            .field("url", &self.shared.cfg.url)
            .field("model", &self.shared.cfg.model)
            .field("pending", &self.pending)
            .finish()
    }
}

impl RemoteScorer {
    /// Starts the scorer's runtime. No connection is made until the first batch, so a server
    /// that is down at start is not an error here (its events fall back).
    pub fn new(cfg: RemoteConfig) -> Result<Self, ClientError> {
        if cfg.max_batch == 0 || cfg.capacity == 0 || cfg.max_in_flight == 0 {
            return Err(ClientError::Limits);
        }
        let uri = Transport::infer_uri(&cfg)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.threads.max(1))
            .thread_name("eddy-remote")
            .enable_all()
            .build()
            .map_err(ClientError::Runtime)?;
        let transport = Transport::new(uri, &cfg, &rt)?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            transport,
            sem: tokio::sync::Semaphore::new(cfg.max_in_flight),
            breaker: Breaker::new(cfg.breaker_failures, cfg.breaker_cooldown),
            rng: Mutex::new(Rng::new(cfg.seed)),
            counters: AtomicCounters::default(),
            tx: Mutex::new(tx),
            open: Mutex::new(OpenBatch::default()),
            wake: tokio::sync::Notify::new(),
            next_request_id: AtomicU64::new(0),
            cfg,
        });
        rt.spawn(flush_timer(shared.clone(), rt.handle().clone()));
        Ok(RemoteScorer {
            shared,
            rt: Some(rt),
            rx,
            slots: VecDeque::new(),
            head: 0,
            next: 0,
            wms: VecDeque::new(),
            pending: 0,
            submitted: 0,
            scored: 0,
            fallback: [0; FallbackReason::COUNT],
        })
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.shared.cfg
    }

    /// Events submitted and not yet emitted.
    pub fn pending(&self) -> usize {
        self.pending
    }

    pub fn breaker(&self) -> BreakerView {
        self.shared.breaker.view()
    }

    /// Submits one event. Blocks while [`RemoteConfig::capacity`] events are pending,
    /// emitting into `out` whatever completes meanwhile; also emits what is already done.
    pub fn submit(&mut self, id: u64, features: &[f64], out: &mut Vec<Emitted>) {
        while self.pending >= self.shared.cfg.capacity {
            self.flush();
            self.wait_one(out, Duration::from_millis(50));
        }
        let seq = self.next;
        self.next += 1;
        self.pending += 1;
        self.submitted += 1;
        self.slots.push_back(Slot::Event {
            id,
            submitted: Instant::now(),
            result: None,
            emitted: false,
        });
        if features.iter().any(|v| !v.is_finite()) {
            let fb = self.shared.cfg.fallback_score;
            self.complete(
                seq,
                (fb, None, Outcome::Fallback(FallbackReason::InvalidInput), 0),
                out,
            );
            return;
        }
        let full = {
            let mut open = self.shared.open.lock().unwrap_or_else(|e| e.into_inner());
            let mut early = None;
            if !open.seqs.is_empty() && open.width != features.len() {
                // A batch holds rows of one width.
                early = open.take();
            }
            if open.seqs.is_empty() {
                open.width = features.len();
                open.started = Some(Instant::now());
                self.shared.wake.notify_one();
            }
            open.seqs.push(seq);
            open.values.extend_from_slice(features);
            let full = if open.seqs.len() >= self.shared.cfg.max_batch {
                open.take()
            } else {
                None
            };
            [early, full]
        };
        for b in full.into_iter().flatten() {
            self.dispatch(b);
        }
        self.poll(out);
    }

    /// Submits a watermark: in both modes it is emitted after every event submitted before
    /// it and before every event submitted after it.
    pub fn submit_watermark(&mut self, wm: i64, out: &mut Vec<Emitted>) {
        let seq = self.next;
        self.next += 1;
        self.slots.push_back(Slot::Watermark(wm));
        self.wms.push_back(seq);
        self.pop_front(out);
    }

    /// Emits whatever is ready without blocking; returns how many items it emitted.
    pub fn poll(&mut self, out: &mut Vec<Emitted>) -> usize {
        let before = out.len();
        while let Ok(c) = self.rx.try_recv() {
            self.apply(c, out);
        }
        out.len() - before
    }

    /// Sends the open batch now (without waiting for `max_wait`).
    pub fn flush(&mut self) {
        let b = self
            .shared
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(b) = b {
            self.dispatch(b);
        }
    }

    /// Sends the open batch and blocks until every submitted event and watermark is emitted.
    pub fn drain(&mut self, out: &mut Vec<Emitted>) {
        self.flush();
        self.poll(out);
        while !self.slots.is_empty() {
            self.wait_one(out, Duration::from_millis(100));
        }
    }

    /// As [`drain`](Self::drain), but gives up after `limit`; returns whether all came out.
    pub fn drain_for(&mut self, out: &mut Vec<Emitted>, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        self.flush();
        self.poll(out);
        while !self.slots.is_empty() {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            self.wait_one(out, (end - now).min(Duration::from_millis(100)));
        }
        true
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.shared
            .counters
            .snapshot(self.submitted, self.scored, self.fallback)
    }

    fn dispatch(&self, b: OutBatch) {
        if let Some(rt) = &self.rt {
            rt.spawn(run_batch(self.shared.clone(), b));
        }
    }

    /// Blocks up to `limit` for the next completed request, then emits what it allows.
    pub fn wait(&mut self, out: &mut Vec<Emitted>, limit: Duration) {
        self.wait_one(out, limit)
    }

    /// Asks the server for the model's metadata (`GET /v2/models/{model}`), within the
    /// configured timeout: how a pipeline checks its input mapping before reading events.
    pub fn fetch_metadata(&self) -> Result<ServedModel, MetadataError> {
        let Some(rt) = &self.rt else {
            return Err(MetadataError::Unreachable(
                "the client runtime is stopped".into(),
            ));
        };
        metadata::fetch(rt, &self.shared.transport, &self.shared.cfg)
    }

    fn wait_one(&mut self, out: &mut Vec<Emitted>, limit: Duration) {
        if let Ok(c) = self.rx.recv_timeout(limit) {
            self.apply(c, out);
            self.poll(out);
        }
    }

    fn apply(&mut self, c: Completion, out: &mut Vec<Emitted>) {
        let fb = self.shared.cfg.fallback_score;
        match c.result {
            Ok(v) => {
                for (seq, (s, l)) in c.seqs.into_iter().zip(v) {
                    self.complete(seq, (s, l, Outcome::Scored, c.attempts), out);
                }
            }
            Err(reason) => {
                for seq in c.seqs {
                    self.complete(seq, (fb, None, Outcome::Fallback(reason), c.attempts), out);
                }
            }
        }
    }

    /// Records one event's result and emits what that allows.
    fn complete(&mut self, seq: u64, r: (f64, Option<i64>, Outcome, u32), out: &mut Vec<Emitted>) {
        let Some(idx) = seq.checked_sub(self.head) else {
            return;
        };
        let barrier = self.wms.front().copied().unwrap_or(u64::MAX);
        let unordered = self.shared.cfg.mode == EmitMode::Unordered;
        if let Some(slot) = self.slots.get_mut(idx as usize) {
            if let Slot::Event { result, .. } = slot {
                if result.is_some() {
                    return; // exactly once, whatever happens
                }
                *result = Some(r);
            }
            if unordered && seq < barrier {
                Self::emit_slot(
                    slot,
                    out,
                    &mut self.pending,
                    &mut self.scored,
                    &mut self.fallback,
                );
            }
        }
        self.pop_front(out);
    }

    fn emit_slot(
        slot: &mut Slot,
        out: &mut Vec<Emitted>,
        pending: &mut usize,
        scored: &mut u64,
        fallback: &mut [u64; FallbackReason::COUNT],
    ) {
        if let Slot::Event {
            id,
            submitted,
            result: Some((score, label, outcome, attempts)),
            emitted,
        } = slot
        {
            if *emitted {
                return;
            }
            *emitted = true;
            *pending -= 1;
            match outcome {
                Outcome::Scored => *scored += 1,
                Outcome::Fallback(r) => fallback[r.index()] += 1,
            }
            out.push(Emitted::Event(ScoredEvent {
                id: *id,
                score: *score,
                label: *label,
                outcome: *outcome,
                latency: submitted.elapsed(),
                attempts: *attempts,
            }));
        }
    }

    /// Emits from the front: completed events (ordered) or already-emitted ones (unordered),
    /// and watermarks once everything before them is out.
    fn pop_front(&mut self, out: &mut Vec<Emitted>) {
        let unordered = self.shared.cfg.mode == EmitMode::Unordered;
        loop {
            let Some(front) = self.slots.front_mut() else {
                return;
            };
            match front {
                Slot::Event { result: None, .. } => return,
                Slot::Event { .. } => {
                    Self::emit_slot(
                        front,
                        out,
                        &mut self.pending,
                        &mut self.scored,
                        &mut self.fallback,
                    );
                    self.slots.pop_front();
                    self.head += 1;
                }
                Slot::Watermark(wm) => {
                    out.push(Emitted::Watermark(*wm));
                    self.slots.pop_front();
                    self.head += 1;
                    self.wms.pop_front();
                    if unordered {
                        // The next group opens: emit its events that already completed.
                        let barrier = self.wms.front().copied().unwrap_or(u64::MAX);
                        let end = (barrier - self.head).min(self.slots.len() as u64) as usize;
                        for i in 0..end {
                            Self::emit_slot(
                                &mut self.slots[i],
                                out,
                                &mut self.pending,
                                &mut self.scored,
                                &mut self.fallback,
                            );
                        }
                    }
                }
            }
        }
    }
}

impl Drop for RemoteScorer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
