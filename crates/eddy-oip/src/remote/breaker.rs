//! The circuit breaker: opens after consecutive failed attempts, lets one probe through after a
//! cooldown (half-open), closes on its success.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// The breaker's state as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerView {
    Closed,
    Open,
    HalfOpen,
}

pub(super) struct Breaker {
    /// Consecutive failed attempts that open it (0 = never opens).
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

impl Breaker {
    pub(super) fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold,
            cooldown,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }
    /// Whether an attempt may go out now (in half-open, only the one probe).
    pub(super) fn try_acquire(&self) -> bool {
        if self.threshold == 0 {
            return true;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match *s {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if Instant::now() >= until => {
                *s = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => false,
        }
    }
    pub(super) fn on_success(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match *s {
            BreakerState::Closed { .. } | BreakerState::HalfOpen => {
                *s = BreakerState::Closed { failures: 0 }
            }
            // A late answer to a request sent before the breaker opened proves little.
            BreakerState::Open { .. } => {}
        }
    }
    /// Records a failed attempt; returns whether that opened the breaker.
    pub(super) fn on_failure(&self) -> bool {
        if self.threshold == 0 {
            return false;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let open = BreakerState::Open {
            until: Instant::now() + self.cooldown,
        };
        match *s {
            BreakerState::Closed { failures } if failures + 1 >= self.threshold => {
                *s = open;
                true
            }
            BreakerState::Closed { failures } => {
                *s = BreakerState::Closed {
                    failures: failures + 1,
                };
                false
            }
            BreakerState::HalfOpen => {
                *s = open;
                true
            }
            BreakerState::Open { .. } => false,
        }
    }
    pub(super) fn view(&self) -> BreakerView {
        match *self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            BreakerState::Closed { .. } => BreakerView::Closed,
            BreakerState::Open { .. } => BreakerView::Open,
            BreakerState::HalfOpen => BreakerView::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ends `b`'s cooldown now (as if it had passed), whatever it was: the test needs no
    /// sleep and does not depend on how long its steps take.
    fn cooldown_passes(b: &Breaker) {
        let mut s = b.state.lock().unwrap();
        match *s {
            BreakerState::Open { .. } => {
                *s = BreakerState::Open {
                    until: Instant::now(),
                }
            }
            other => panic!("not open: {other:?}"),
        }
    }

    #[test]
    fn breaker_state_machine() {
        // A cooldown no run of this test outlasts: only `cooldown_passes` ends it.
        let b = Breaker::new(2, Duration::from_secs(600));
        let mut opened = 0;
        assert!(b.try_acquire());
        opened += u32::from(b.on_failure());
        b.on_success(); // resets the count
        opened += u32::from(b.on_failure());
        assert_eq!(b.view(), BreakerView::Closed);
        opened += u32::from(b.on_failure());
        assert_eq!(b.view(), BreakerView::Open);
        assert_eq!(opened, 1);
        assert!(!b.try_acquire());
        b.on_success(); // a late answer does not close an open breaker
        assert_eq!(b.view(), BreakerView::Open);
        assert!(!b.on_failure(), "already open");
        assert!(!b.try_acquire());
        cooldown_passes(&b);
        assert!(b.try_acquire(), "the probe");
        assert_eq!(b.view(), BreakerView::HalfOpen);
        assert!(!b.try_acquire(), "one probe at a time");
        // The probe fails: open again, for a whole cooldown.
        assert!(b.on_failure());
        assert_eq!(b.view(), BreakerView::Open);
        assert!(!b.try_acquire());
        cooldown_passes(&b);
        assert!(b.try_acquire(), "the next probe");
        b.on_success();
        assert_eq!(b.view(), BreakerView::Closed);
        assert!(b.try_acquire());
        // Closed again: the count starts over.
        assert!(!b.on_failure());
        assert!(b.on_failure());
    }

    #[test]
    fn threshold_zero_never_opens() {
        let b = Breaker::new(0, Duration::from_secs(60));
        for _ in 0..10 {
            assert!(!b.on_failure());
            assert!(b.try_acquire());
        }
        assert_eq!(b.view(), BreakerView::Closed);
    }
}
