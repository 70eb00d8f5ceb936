//! The runtime side: what the caller and the runtime's tasks share, and a batch's way through
//! the server: at most `max_in_flight` at once, each attempt under the timeout and the circuit
//! breaker, retryable failures retried after a full-jitter backoff; plus the timer that sends
//! a batch whose first event has waited `max_wait`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use eddy_core::rng::Rng;

use super::batch::{OpenBatch, OutBatch};
use super::breaker::Breaker;
use super::codec::{self, RowResult};
use super::config::RemoteConfig;
use super::counters::AtomicCounters;
use super::outcome::FallbackReason;
use super::transport::Transport;

/// A batch's result, sent back to the caller side.
pub(super) struct Completion {
    pub(super) seqs: Vec<u64>,
    pub(super) result: Result<Vec<RowResult>, FallbackReason>,
    /// HTTP attempts made (0 when none was).
    pub(super) attempts: u32,
}

/// What the caller side and the runtime's tasks share.
pub(super) struct Shared {
    pub(super) cfg: RemoteConfig,
    pub(super) transport: Transport,
    /// One permit per request in flight.
    pub(super) sem: tokio::sync::Semaphore,
    pub(super) breaker: Breaker,
    /// Draws the backoff jitter.
    pub(super) rng: Mutex<Rng>,
    pub(super) counters: AtomicCounters,
    pub(super) tx: Mutex<mpsc::Sender<Completion>>,
    pub(super) open: Mutex<OpenBatch>,
    /// Wakes the flush timer when a batch opens.
    pub(super) wake: tokio::sync::Notify,
    pub(super) next_request_id: AtomicU64,
}

/// Full jitter: `uniform(0, min(max, base · 2^(attempt-1)))` for `attempt` ≥ 1, given a
/// uniform `u` in `[0, 1)`.
pub fn full_jitter(base: Duration, max: Duration, attempt: u32, u: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    exp.min(max).mul_f64(u.clamp(0.0, 1.0))
}

fn backoff(shared: &Shared, attempt: u32) -> Duration {
    let u = shared
        .rng
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .next_f64();
    full_jitter(shared.cfg.backoff_base, shared.cfg.backoff_max, attempt, u)
}

/// One attempt: the POST, then the response read.
async fn attempt(
    shared: &Shared,
    body: bytes::Bytes,
    n: usize,
) -> Result<Vec<RowResult>, FallbackReason> {
    let body = shared.transport.infer(body).await?;
    codec::decode(&shared.cfg, &body, n)
}

/// Sends `b` (with retries) and reports its [`Completion`].
pub(super) async fn run_batch(shared: Arc<Shared>, b: OutBatch) {
    let n = b.seqs.len();
    let mut attempts = 0u32;
    let id = shared.next_request_id.fetch_add(1, Ordering::Relaxed);
    let result = match codec::encode(&shared.cfg, id, &b) {
        Err(r) => Err(r),
        Ok(body) => {
            let _permit = shared.sem.acquire().await;
            let mut retries = 0u32;
            let mut last: Option<FallbackReason> = None;
            loop {
                if !shared.breaker.try_acquire() {
                    // A batch the server already failed keeps that reason; one that never
                    // got through is `circuit_open`.
                    break Err(last.unwrap_or(FallbackReason::CircuitOpen));
                }
                attempts += 1;
                AtomicCounters::bump(&shared.counters.requests);
                let r = match tokio::time::timeout(
                    shared.cfg.timeout,
                    attempt(&shared, body.clone(), n),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(FallbackReason::Timeout),
                };
                match r {
                    Ok(v) => {
                        shared.breaker.on_success();
                        break Ok(v);
                    }
                    Err(reason) => {
                        if shared.breaker.on_failure() {
                            AtomicCounters::bump(&shared.counters.breaker_opened);
                        }
                        last = Some(reason);
                        if reason.retryable() && retries < shared.cfg.max_retries {
                            retries += 1;
                            AtomicCounters::bump(&shared.counters.retries);
                            tokio::time::sleep(backoff(&shared, retries)).await;
                            continue;
                        }
                        break Err(reason);
                    }
                }
            }
        }
    };
    AtomicCounters::bump(&shared.counters.batches);
    let tx = shared.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // The receiver is gone only when the scorer was dropped.
    let _ = tx.send(Completion {
        seqs: b.seqs,
        result,
        attempts,
    });
}

/// Sends open batches whose first event has waited `max_wait`.
pub(super) async fn flush_timer(shared: Arc<Shared>, rt: tokio::runtime::Handle) {
    loop {
        let next = {
            let open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
            open.started
                .map(|t| (t + shared.cfg.max_wait, open.generation))
        };
        let Some((deadline, gen)) = next else {
            shared.wake.notified().await;
            continue;
        };
        tokio::time::sleep_until(deadline.into()).await;
        let batch = {
            let mut open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
            if open.generation == gen {
                open.take()
            } else {
                None
            }
        };
        if let Some(b) = batch {
            rt.spawn(run_batch(shared.clone(), b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_is_bounded_and_seeded() {
        let base = Duration::from_millis(10);
        let max = Duration::from_millis(100);
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (1..=8)
                .map(|a| full_jitter(base, max, a, rng.next_f64()))
                .collect::<Vec<_>>()
        };
        let a = draw(1);
        assert_eq!(a, draw(1), "same seed, same delays");
        assert_ne!(a, draw(2));
        for (i, d) in a.iter().enumerate() {
            let cap = (base * (1 << i)).min(max);
            assert!(*d <= cap, "attempt {}: {d:?} > {cap:?}", i + 1);
        }
        assert_eq!(full_jitter(base, max, 3, 0.5), Duration::from_millis(20));
        assert_eq!(full_jitter(base, max, 30, 0.5), Duration::from_millis(50));
    }
}
