//! The client's counters: what happened to the events and the requests.

use std::fmt;
#[cfg(feature = "http")]
use std::sync::atomic::{AtomicU64, Ordering};

use super::outcome::FallbackReason;

/// Counters (a snapshot; see [`RemoteScorer::counters`](super::RemoteScorer::counters)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub submitted: u64,
    /// Events emitted with a server score.
    pub scored: u64,
    /// Events emitted with the fallback, by [`FallbackReason`] (index = `reason as usize`).
    pub fallback: [u64; FallbackReason::COUNT],
    /// Batches formed (one per completed request sequence, retries not included).
    pub batches: u64,
    /// HTTP attempts made.
    pub requests: u64,
    pub retries: u64,
    /// Times the breaker went to open.
    pub breaker_opened: u64,
}

impl Counters {
    pub fn fallback(&self, r: FallbackReason) -> u64 {
        self.fallback[r.index()]
    }
    pub fn fallback_total(&self) -> u64 {
        self.fallback.iter().sum()
    }
    /// Events emitted so far.
    pub fn emitted(&self) -> u64 {
        self.scored + self.fallback_total()
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "submitted={} scored={} batches={} requests={} retries={} breaker_opened={}",
            self.submitted,
            self.scored,
            self.batches,
            self.requests,
            self.retries,
            self.breaker_opened
        )?;
        for r in FallbackReason::ALL {
            let n = self.fallback(r);
            if n > 0 {
                write!(f, " fallback_{}={}", r.as_str(), n)?;
            }
        }
        Ok(())
    }
}

/// The counters the runtime side bumps (the caller side keeps the per-event ones).
#[cfg(feature = "http")]
#[derive(Debug, Default)]
pub(super) struct AtomicCounters {
    pub(super) batches: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) breaker_opened: AtomicU64,
}

#[cfg(feature = "http")]
impl AtomicCounters {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    /// A snapshot, with the caller side's per-event counts.
    pub(super) fn snapshot(
        &self,
        submitted: u64,
        scored: u64,
        fallback: [u64; FallbackReason::COUNT],
    ) -> Counters {
        Counters {
            submitted,
            scored,
            fallback,
            batches: self.batches.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            breaker_opened: self.breaker_opened.load(Ordering::Relaxed),
        }
    }
}
