//! The event-time timer queue of `(time, key)`, grouped by time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

/// A monotone priority queue of `(time, key)` grouped by time: event-time timers are
/// never set before the last time popped, and the timers of aligned windows of many keys
/// share one time. Each distinct time has one key list (from a pool, so no allocation in
/// steady state), found by hashing on push; a binary heap orders the distinct times. The
/// list being popped is held apart, so pops are O(1) and pushes at the current time go
/// straight to it; so is the list of the time pushed to last (keys popped at one time
/// mostly queue again at one same time), so those pushes do not hash. (A radix heap over single entries moved every entry down once per
/// distinct time popped before it: about 17 moves each for timers a minute ahead.)
#[derive(Debug)]
pub(super) struct TimerQueue {
    /// Time of `cur`; every time in `by_time` is later.
    pub(super) cur_time: i64,
    /// Keys due at `cur_time` not popped yet.
    pub(super) cur: Vec<u32>,
    /// The list of the time pushed to last (after `cur_time`), held out of `by_time`: the
    /// keys popped at one time mostly queue themselves again at one same later time
    /// (aligned windows), and then push without hashing. `hot_time == cur_time`: none.
    pub(super) hot_time: i64,
    pub(super) hot: Vec<u32>,
    pub(super) by_time: FxHashMap<i64, Vec<u32>>,
    pub(super) times: BinaryHeap<Reverse<i64>>,
    pub(super) pool: Vec<Vec<u32>>,
}

impl TimerQueue {
    pub(super) fn new() -> Self {
        TimerQueue {
            cur_time: i64::MIN,
            cur: Vec::new(),
            hot_time: i64::MIN,
            hot: Vec::new(),
            by_time: FxHashMap::default(),
            times: BinaryHeap::new(),
            pool: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, t: i64, key: u32) {
        // a time before the current one cannot happen (timers are after the watermark); if
        // it did, it fires at the next watermark advance instead of being lost
        let t = t.max(self.cur_time);
        if t == self.cur_time {
            self.cur.push(key);
            return;
        }
        if t != self.hot_time {
            // `times` holds each pending time once, whether its list is hot or in the map
            let v = match self.by_time.remove(&t) {
                Some(v) => v,
                None => {
                    self.times.push(Reverse(t));
                    self.pool.pop().unwrap_or_default()
                }
            };
            let old = std::mem::replace(&mut self.hot, v);
            if self.hot_time != self.cur_time {
                self.by_time.insert(self.hot_time, old);
            } else if old.capacity() > 0 && self.pool.len() < 4096 {
                self.pool.push(old);
            }
            self.hot_time = t;
        }
        self.hot.push(key);
    }

    /// The key of the entry `d` pops after the next one, if the entries due at the current
    /// time go that far (a hint for prefetching: the timers of aligned windows of many
    /// keys share one time).
    #[inline]
    pub(super) fn peek_due(&self, d: usize) -> Option<u32> {
        let b = &self.cur;
        b.len().checked_sub(d + 1).and_then(|i| b.get(i)).copied()
    }

    /// The earliest time queued (stale entries included).
    pub(super) fn first_time(&self) -> Option<i64> {
        if !self.cur.is_empty() {
            return Some(self.cur_time);
        }
        self.times.peek().map(|r| r.0)
    }

    /// Pops an entry with time `<= limit`, the smallest first.
    pub(super) fn pop_le(&mut self, limit: i64) -> Option<(i64, u32)> {
        loop {
            if !self.cur.is_empty() {
                if self.cur_time > limit {
                    return None; // every other time is later still
                }
                let key = self.cur.pop()?;
                return Some((self.cur_time, key));
            }
            let &Reverse(t) = self.times.peek()?;
            if t > limit {
                return None;
            }
            self.times.pop();
            self.cur_time = t;
            let v = if self.hot_time == t {
                // the hot list becomes current: no list is hot any more
                Some(std::mem::take(&mut self.hot))
            } else {
                self.by_time.remove(&t)
            };
            if let Some(v) = v {
                let done = std::mem::replace(&mut self.cur, v);
                if self.pool.len() < 4096 {
                    self.pool.push(done);
                }
            }
        }
    }

    pub(super) fn bytes(&self) -> usize {
        let lists = |v: &Vec<u32>| v.capacity() * 4 + 24;
        lists(&self.cur)
            + lists(&self.hot)
            + self.by_time.capacity() * 40
            + self.by_time.values().map(lists).sum::<usize>()
            + self.times.capacity() * 8
            + self.pool.iter().map(lists).sum::<usize>()
    }
}
