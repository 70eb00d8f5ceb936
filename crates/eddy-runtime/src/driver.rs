//! The driver: runs a pipeline's stages over a source, pipelined by batch over three threads,
//! without knowing what the stages do.
//!
//! - a reader thread only reads the source (so a quiet input never holds back results that
//!   are ready);
//! - the caller's thread runs the `front` stages on each batch read, hands it to the engine
//!   thread, and runs the `back` stages on what comes back (writing happens there);
//! - an engine thread runs the `engine` stages (the feature engine: no I/O).
//!
//! Batches circulate between them (no allocation in steady state) and every stage sees them
//! in input order, so the output does not depend on timing. Lookups of the online store pass
//! through the same stages, in order after the batches sent before them.

use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::connector::Source;
use crate::error::RuntimeError;
use crate::lookup::{Answer, Lookups};
use crate::metrics::Metrics;
use crate::stage::{Flow, Query, Stage, Work};

/// Batches in circulation between the threads.
const IN_FLIGHT: usize = 3;
/// While a stage holds batches (rows waiting for scores), more may join them, up to this many.
const MAX_WORKS: usize = 64;
/// How often held batches are polled (while a stage holds some) and lookups looked for (when
/// the run takes them).
const POLL: Duration = Duration::from_millis(2);

/// Stages run in order on one thread, with the scratch space to pass batches between them.
pub struct Chain<S: ?Sized> {
    stages: Vec<Box<S>>,
    a: Flow,
    b: Flow,
    metrics: Metrics,
}

impl<S: Stage + ?Sized> Chain<S> {
    pub fn new(stages: Vec<Box<S>>, metrics: &Metrics) -> Self {
        Chain {
            stages,
            a: Flow::default(),
            b: Flow::default(),
            metrics: metrics.clone(),
        }
    }

    /// Runs `w` through every stage; what the last one passes on goes to `out`.
    fn process(&mut self, w: Box<Work>, out: &mut Flow) -> Result<(), RuntimeError> {
        self.a.pass(w);
        self.run_from(0, out)
    }

    /// Runs what is in `self.a` through the stages from `k` on, into `out`.
    fn run_from(&mut self, k: usize, out: &mut Flow) -> Result<(), RuntimeError> {
        let Chain {
            stages,
            a,
            b,
            metrics,
        } = self;
        for st in &mut stages[k..] {
            for w in a.drain() {
                st.process(w, b)?;
            }
            st.report(metrics);
            std::mem::swap(a, b);
        }
        for w in a.drain() {
            out.pass(w);
        }
        Ok(())
    }

    /// Releases what stages hold and is ready, through the rest of the chain.
    fn poll(&mut self, out: &mut Flow) -> Result<(), RuntimeError> {
        for k in 0..self.stages.len() {
            if self.stages[k].pending() {
                self.stages[k].poll(&mut self.a)?;
                self.stages[k].report(&self.metrics);
                self.run_from(k + 1, out)?;
            }
        }
        Ok(())
    }

    /// The end of the input: each stage in turn releases all it holds, a piece at a time,
    /// each piece run through the rest of the chain and handed to `send` (`false`: stop)
    /// before the next is made.
    fn finish(
        &mut self,
        out: &mut Flow,
        send: &mut dyn FnMut(&mut Flow) -> bool,
    ) -> Result<(), RuntimeError> {
        for k in 0..self.stages.len() {
            loop {
                let done = self.stages[k].finish(&mut self.a)?;
                self.stages[k].report(&self.metrics);
                self.run_from(k + 1, out)?;
                if !send(out) {
                    return Ok(());
                }
                if done {
                    break;
                }
            }
        }
        Ok(())
    }

    fn pending(&self) -> bool {
        self.stages.iter().any(|s| s.pending())
    }

    /// Passes a lookup through the stages; `Some` if none of them settled it.
    fn query(&mut self, mut q: Query) -> Option<Query> {
        for st in &mut self.stages {
            q = st.query(q)?;
        }
        Some(q)
    }
}

/// Hooks from the caller: a processing-time clock (ms), a progress callback (bytes read),
/// and lookups of the online store to answer while the run goes on.
pub struct RunHooks<'a> {
    pub clock: &'a mut dyn FnMut() -> i64,
    pub progress: Option<&'a mut dyn FnMut(u64)>,
    /// Answered between batches (see [`crate::lookup`]), and [`Answer::Ended`] from the end
    /// of the input until the run returns; after it, they wait for
    /// [`crate::Pipeline::serve_lookups`] (or are answered `Ended` when the lookups are dropped).
    pub lookups: Option<&'a Lookups>,
    /// Where the run's counters go (to serve them while it runs); a fresh registry if none.
    pub metrics: Option<Metrics>,
}

impl<'a> RunHooks<'a> {
    /// Hooks with a clock, no progress reporting and no lookups.
    pub fn with_clock(clock: &'a mut dyn FnMut() -> i64) -> Self {
        RunHooks {
            clock,
            progress: None,
            lookups: None,
            metrics: None,
        }
    }
}

/// Milliseconds since the epoch, for the watermark's lag.
fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What reaches the engine thread, in the order the front thread sent it.
enum ToEngine {
    Batch(Box<Work>),
    Query(Query),
}

/// What reaches the front thread.
enum ToFront {
    /// A batch from the reader thread.
    Read(Box<Work>),
    /// The reader stopped: the end of the input, or an error reading it.
    ReadEnd(Result<(), RuntimeError>),
    /// A batch the engine stages passed on.
    Done(Box<Work>),
    /// A lookup the engine stages passed on.
    Query(Query),
    /// The engine stages are finished (or failed); nothing follows.
    Finished(Result<(), RuntimeError>),
}

/// Runs `source` to its end through the three chains (the engine chain's stages go to the
/// engine thread for the run, and come back when it ends).
pub fn run<'s>(
    source: &mut (dyn Source + Send),
    front: &mut Chain<dyn Stage + 's>,
    engine: &mut Chain<dyn Stage + Send + 's>,
    back: &mut Chain<dyn Stage + 's>,
    hooks: RunHooks<'_>,
) -> Result<(), RuntimeError> {
    let RunHooks {
        clock,
        mut progress,
        lookups,
        ..
    } = hooks;
    let (to_engine, engine_rx) = mpsc::sync_channel::<ToEngine>(IN_FLIGHT + 1);
    // Unbounded, but only `works` batches exist.
    let (to_front, front_rx) = mpsc::channel::<ToFront>();
    let (to_reader, reader_rx) = mpsc::channel::<Box<Work>>();
    // The end of the input makes new batches (the last windows' rows, a piece each): at most
    // `IN_FLIGHT` of them wait for the front thread at once, each holding a credit until
    // it is written.
    let (credit, credit_back) = mpsc::sync_channel::<()>(IN_FLIGHT);
    std::thread::scope(|scope| -> Result<(), RuntimeError> {
        let engine_done = to_front.clone();
        let engine_thread = scope.spawn(move || {
            let mut flow = Flow::default();
            let send_all = |flow: &mut Flow| {
                flow.drain()
                    .all(|w| engine_done.send(ToFront::Done(w)).is_ok())
            };
            for msg in engine_rx {
                match msg {
                    ToEngine::Batch(w) => {
                        let start = Instant::now();
                        let done = engine.process(w, &mut flow);
                        engine
                            .metrics
                            .batch_seconds()
                            .observe_duration(start.elapsed());
                        if let Err(e) = done {
                            let _ = engine_done.send(ToFront::Finished(Err(e)));
                            return;
                        }
                        if !send_all(&mut flow) {
                            return;
                        }
                    }
                    ToEngine::Query(q) => {
                        if let Some(q) = engine.query(q) {
                            if engine_done.send(ToFront::Query(q)).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            let mut sent = true;
            let end = engine.finish(&mut flow, &mut |f| {
                sent = f
                    .drain()
                    .all(|w| credit.send(()).is_ok() && engine_done.send(ToFront::Done(w)).is_ok());
                sent
            });
            if sent && send_all(&mut flow) {
                let _ = engine_done.send(ToFront::Finished(end));
            }
        });
        let read = to_front.clone();
        scope.spawn(move || {
            for mut w in reader_rx {
                let end = match source.next_batch(&mut w.batch) {
                    Ok(true) => {
                        w.bytes_read = source.bytes_read();
                        if read.send(ToFront::Read(w)).is_err() {
                            return;
                        }
                        continue;
                    }
                    Ok(false) => Ok(()),
                    Err(e) => Err(e),
                };
                let _ = read.send(ToFront::ReadEnd(end));
                return;
            }
        });
        drop(to_front);
        let result = (|| -> Result<(), RuntimeError> {
            let mut works = IN_FLIGHT;
            let mut bytes_reported = 0;
            // Batches sent to the reader and not yet back from the engine thread.
            let mut out_there = 0usize;
            for _ in 0..IN_FLIGHT {
                let _ = to_reader.send(Box::default());
                out_there += 1;
            }
            let mut to_engine = Some(to_engine);
            let mut flow = Flow::default();
            let mut free = Flow::default();
            loop {
                // lookups are looked for between messages: never wait long for one
                let msg = if back.pending() || lookups.is_some() {
                    match front_rx.recv_timeout(POLL) {
                        Ok(m) => Some(m),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                    }
                } else {
                    match front_rx.recv() {
                        Ok(m) => Some(m),
                        Err(_) => return Ok(()), // a thread stopped (a panic, re-raised below)
                    }
                };
                match msg {
                    None => {}
                    Some(ToFront::Read(mut w)) => {
                        w.now = clock();
                        w.wall_ms = wall_ms();
                        let bytes = w.bytes_read;
                        front.metrics.bytes_read().add(bytes - bytes_reported);
                        bytes_reported = bytes;
                        front.process(w, &mut flow)?;
                        if let Some(p) = progress.as_mut() {
                            p(bytes);
                        }
                        for w in flow.drain() {
                            match &to_engine {
                                Some(tx) if tx.send(ToEngine::Batch(w)).is_ok() => {}
                                _ => return Ok(()),
                            }
                        }
                    }
                    // The engine stages finish once they have every batch read.
                    Some(ToFront::ReadEnd(end)) => {
                        end?;
                        to_engine = None;
                    }
                    Some(ToFront::Done(w)) => {
                        // (after the end of the input, nothing goes back to the reader)
                        out_there = out_there.saturating_sub(1);
                        back.process(w, &mut free)?;
                        // a piece of the end written: the engine thread may make another
                        let _ = credit_back.try_recv();
                    }
                    Some(ToFront::Query(q)) => {
                        if let Some(q) = back.query(q) {
                            q.lookup.answer(Answer::Ended);
                        }
                    }
                    Some(ToFront::Finished(end)) => {
                        end?;
                        // what the back stages pass on goes back to the pool
                        return back.finish(&mut free, &mut |_| true);
                    }
                }
                back.poll(&mut free)?;
                if let Some(l) = lookups {
                    while let Ok(lookup) = l.rx.try_recv() {
                        let Some(tx) = &to_engine else {
                            lookup.answer(Answer::Ended);
                            continue;
                        };
                        if let Some(q) = front.query(Query::new(lookup)) {
                            if let Err(mpsc::SendError(ToEngine::Query(q))) =
                                tx.send(ToEngine::Query(q))
                            {
                                q.lookup.answer(Answer::Ended);
                            }
                        }
                    }
                }
                if to_engine.is_some() {
                    // Every batch is held by a stage: one more for the reader.
                    if free.is_empty() && out_there == 0 && works < MAX_WORKS {
                        works += 1;
                        free.pass(Box::default());
                    }
                    for w in free.drain() {
                        let _ = to_reader.send(w);
                        out_there += 1;
                    }
                } else {
                    // the input has ended: nothing goes back to the reader, and the pieces
                    // of the end are freed as they are written
                    free.drain().for_each(drop);
                }
            }
        })();
        drop(to_reader);
        if let Err(panic) = engine_thread.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}
