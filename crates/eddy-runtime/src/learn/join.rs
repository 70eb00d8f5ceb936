//! The label join: scored examples waiting for their labels, and labels waiting for their
//! examples, matched by event id in event time.
//!
//! An example waits from its event's time `t` until the events' watermark passes `t + ttl`;
//! a label whose time is later than that is too late. Labels are applied as the watermark
//! reaches their time, so the outcome depends on event time only, never on how records were
//! batched. The join holds only ids, times and slot numbers: the examples' numbers live in
//! the caller's slab, at the slot the join gives out (slots are reused).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rustc_hash::FxHashMap;

/// What became of a label or an example.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Joined {
    /// The example at `slot` got its label (`delay`: label time − event time).
    Labelled { slot: u32, label: f64, delay: i64 },
    /// The example at `slot` waited `ttl` without a label.
    Expired { slot: u32 },
    /// A label for an example that got one before (the first wins).
    Duplicate,
    /// A label for an example that expired (or was evicted) before it came.
    Late,
    /// A label that waited `ttl` for an example with its id, in vain.
    Unknown { id: u64, label_ts: i64 },
}

/// Counts over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinCounts {
    pub waiting: u64,
    pub labelled: u64,
    pub expired: u64,
    /// Examples pushed out early because `max_pending` were waiting (also in `expired`).
    pub evicted: u64,
    pub duplicate: u64,
    pub late: u64,
    pub unknown: u64,
}

/// See the module doc.
pub struct LabelJoin {
    ttl: i64,
    max_pending: usize,
    /// Waiting examples: id → (slot, event time).
    pending: FxHashMap<u64, (u32, i64)>,
    /// Expiry order of the waiting examples: (event time, id, slot).
    expiry: BinaryHeap<Reverse<(i64, u64, u32)>>,
    /// Labels that came before their example: id → (label, label time).
    early: FxHashMap<u64, (f64, i64)>,
    early_expiry: BinaryHeap<Reverse<(i64, u64)>>,
    /// Ids resolved (labelled or expired) lately, to tell a duplicate or late label from an
    /// unknown one: id → labelled?; forgotten `ttl` after their event's expiry.
    resolved: FxHashMap<u64, bool>,
    resolved_order: VecDeque<(i64, u64)>,
    free: Vec<u32>,
    next_slot: u32,
    counts: JoinCounts,
}

impl LabelJoin {
    pub fn new(ttl: i64, max_pending: usize) -> Self {
        LabelJoin {
            ttl,
            max_pending,
            pending: FxHashMap::default(),
            expiry: BinaryHeap::new(),
            early: FxHashMap::default(),
            early_expiry: BinaryHeap::new(),
            resolved: FxHashMap::default(),
            resolved_order: VecDeque::new(),
            free: Vec::new(),
            next_slot: 0,
            counts: JoinCounts::default(),
        }
    }

    pub fn counts(&self) -> JoinCounts {
        self.counts
    }

    /// Examples waiting for a label now.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Labels waiting for their example now.
    pub fn early(&self) -> usize {
        self.early.len()
    }

    /// One past the highest slot given out: the size the caller's slab needs.
    pub fn slots(&self) -> usize {
        self.next_slot as usize
    }

    /// A scored example (event `id` at time `ts`): the slot to keep it in, and what became
    /// of it or of others at once (its label came early; the oldest evicted to make room; a
    /// repeated id replaces nothing and is refused with `None` for the slot).
    pub fn example(&mut self, id: u64, ts: i64, out: &mut Vec<Joined>) -> Option<u32> {
        if self.pending.contains_key(&id) || self.resolved.contains_key(&id) {
            return None;
        }
        while self.pending.len() + self.early.len() >= self.max_pending && self.evict(out) {}
        let slot = self.free.pop().unwrap_or_else(|| {
            self.next_slot += 1;
            self.next_slot - 1
        });
        self.counts.waiting += 1;
        if let Some((label, lts)) = self.early.remove(&id) {
            if lts <= ts.saturating_add(self.ttl) {
                self.resolve(id, ts, true);
                self.counts.labelled += 1;
                out.push(Joined::Labelled {
                    slot,
                    label,
                    delay: lts - ts,
                });
                return Some(slot);
            }
            self.counts.late += 1;
            out.push(Joined::Late);
        }
        self.pending.insert(id, (slot, ts));
        self.expiry.push(Reverse((ts, id, slot)));
        Some(slot)
    }

    /// A label for event `id`, known at `ts`.
    pub fn label(&mut self, id: u64, label: f64, ts: i64, out: &mut Vec<Joined>) {
        if let Some(&(slot, ets)) = self.pending.get(&id) {
            if ts > ets.saturating_add(self.ttl) {
                // later than the example may wait: it expires now, and the label is late
                self.pending.remove(&id);
                self.resolve(id, ets, false);
                self.counts.expired += 1;
                self.counts.late += 1;
                out.push(Joined::Expired { slot });
                out.push(Joined::Late);
                return;
            }
            self.pending.remove(&id);
            self.resolve(id, ets, true);
            self.counts.labelled += 1;
            out.push(Joined::Labelled {
                slot,
                label,
                delay: ts - ets,
            });
            return;
        }
        match self.resolved.get(&id) {
            Some(true) => {
                self.counts.duplicate += 1;
                out.push(Joined::Duplicate);
            }
            Some(false) => {
                self.counts.late += 1;
                out.push(Joined::Late);
            }
            None if self.early.contains_key(&id) => {
                self.counts.duplicate += 1;
                out.push(Joined::Duplicate);
            }
            None => {
                while self.pending.len() + self.early.len() >= self.max_pending && self.evict(out) {
                }
                self.early.insert(id, (label, ts));
                self.early_expiry.push(Reverse((ts, id)));
            }
        }
    }

    /// The events' watermark reached `wm`: examples older than `wm − ttl` expire, and labels
    /// that waited as long for their example are unknown.
    pub fn advance(&mut self, wm: i64, out: &mut Vec<Joined>) {
        let horizon = wm.saturating_sub(self.ttl);
        while let Some(&Reverse((ts, id, slot))) = self.expiry.peek() {
            if ts >= horizon {
                break;
            }
            self.expiry.pop();
            if self.pending.get(&id) == Some(&(slot, ts)) {
                self.pending.remove(&id);
                self.resolve(id, ts, false);
                self.counts.expired += 1;
                out.push(Joined::Expired { slot });
            }
        }
        while let Some(&Reverse((ts, id))) = self.early_expiry.peek() {
            if ts >= horizon {
                break;
            }
            self.early_expiry.pop();
            if self.early.get(&id).is_some_and(|&(_, lts)| lts == ts) {
                self.early.remove(&id);
                self.counts.unknown += 1;
                out.push(Joined::Unknown { id, label_ts: ts });
            }
        }
        // resolved ids are remembered for a ttl after their expiry
        let forget = horizon.saturating_sub(self.ttl);
        while let Some(&(ts, id)) = self.resolved_order.front() {
            if ts >= forget {
                break;
            }
            self.resolved_order.pop_front();
            self.resolved.remove(&id);
        }
    }

    /// Gives `slot` back once the caller is done with its example.
    pub fn release(&mut self, slot: u32) {
        self.free.push(slot);
    }

    fn resolve(&mut self, id: u64, ts: i64, labelled: bool) {
        self.resolved.insert(id, labelled);
        self.resolved_order.push_back((ts, id));
    }

    /// Makes room: the oldest waiting example expires (else the oldest early label is
    /// dropped as unknown). `false` when nothing is left to evict.
    fn evict(&mut self, out: &mut Vec<Joined>) -> bool {
        while let Some(Reverse((ts, id, slot))) = self.expiry.pop() {
            if self.pending.get(&id) == Some(&(slot, ts)) {
                self.pending.remove(&id);
                self.resolve(id, ts, false);
                self.counts.expired += 1;
                self.counts.evicted += 1;
                out.push(Joined::Expired { slot });
                return true;
            }
        }
        while let Some(Reverse((ts, id))) = self.early_expiry.pop() {
            if self.early.get(&id).is_some_and(|&(_, lts)| lts == ts) {
                self.early.remove(&id);
                self.counts.unknown += 1;
                out.push(Joined::Unknown { id, label_ts: ts });
                return true;
            }
        }
        false
    }

    /// Bytes the join holds per waiting example (its maps and heaps, at their capacity),
    /// for the docs' memory figure.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let map = |cap: usize, entry: usize| cap * (entry + 1);
        map(self.pending.capacity(), size_of::<(u64, (u32, i64))>())
            + self.expiry.capacity() * size_of::<(i64, u64, u32)>()
            + map(self.early.capacity(), size_of::<(u64, (f64, i64))>())
            + self.early_expiry.capacity() * size_of::<(i64, u64)>()
            + map(self.resolved.capacity(), size_of::<(u64, bool)>())
            + self.resolved_order.capacity() * size_of::<(i64, u64)>()
            + self.free.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(out: &[Joined]) -> Vec<(u32, f64, i64)> {
        out.iter()
            .filter_map(|j| match *j {
                Joined::Labelled { slot, label, delay } => Some((slot, label, delay)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn labels_after_and_before_their_examples_duplicates_and_unknowns() {
        let mut j = LabelJoin::new(100, 1000);
        let mut out = Vec::new();
        let a = j.example(1, 1000, &mut out).unwrap();
        j.label(1, 1.0, 1050, &mut out); // after its example
        assert_eq!(labelled(&out), [(a, 1.0, 50)]);
        out.clear();
        j.label(1, 0.0, 1060, &mut out); // again: the first won
        assert_eq!(out, [Joined::Duplicate]);
        out.clear();
        j.label(2, 0.0, 1070, &mut out); // before its example
        assert!(out.is_empty());
        let b = j.example(2, 1080, &mut out).unwrap();
        assert_eq!(labelled(&out), [(b, 0.0, -10)]);
        out.clear();
        j.label(3, 1.0, 1100, &mut out); // its example never comes
        j.advance(1199, &mut out);
        assert!(out.is_empty());
        j.advance(1201, &mut out);
        assert_eq!(
            out,
            [Joined::Unknown {
                id: 3,
                label_ts: 1100
            }]
        );
        let c = j.counts();
        assert_eq!((c.labelled, c.duplicate, c.unknown), (2, 1, 1));
    }

    #[test]
    fn examples_expire_after_ttl_and_a_label_later_than_that_is_late() {
        let mut j = LabelJoin::new(100, 1000);
        let mut out = Vec::new();
        let a = j.example(1, 1000, &mut out).unwrap();
        let _b = j.example(2, 1000, &mut out).unwrap();
        j.advance(1100, &mut out); // exactly ttl: still waiting
        assert!(out.is_empty());
        j.label(2, 1.0, 1101, &mut out); // one ms later than the example may wait
        assert_eq!(out[1], Joined::Late);
        out.clear();
        j.advance(1101, &mut out);
        assert_eq!(out, [Joined::Expired { slot: a }]);
        out.clear();
        j.label(1, 1.0, 1102, &mut out);
        assert_eq!(out, [Joined::Late]);
        let c = j.counts();
        assert_eq!((c.waiting, c.labelled, c.expired, c.late), (2, 0, 2, 2));
        assert_eq!(j.pending(), 0);
    }

    #[test]
    fn a_full_join_evicts_its_oldest_example() {
        let mut j = LabelJoin::new(1_000_000, 2);
        let mut out = Vec::new();
        let a = j.example(1, 10, &mut out).unwrap();
        j.example(2, 5, &mut out).unwrap();
        j.example(3, 20, &mut out).unwrap();
        // the oldest by event time is id 2
        assert_eq!(out.len(), 1);
        assert_ne!(out[0], Joined::Expired { slot: a });
        assert_eq!(j.pending(), 2);
        assert_eq!(j.counts().evicted, 1);
        // a repeated id is refused
        assert_eq!(j.example(3, 21, &mut out), None);
    }

    /// Random streams against a brute force: every example ends labelled, expired or still
    /// waiting, and each label's fate follows the rules stated in the module doc.
    #[test]
    fn agrees_with_a_brute_force_over_random_streams() {
        use eddy_core::rng::Rng;
        for seed in 0..200 {
            let mut rng = Rng::new(seed);
            let ttl = 50 + rng.below(100) as i64;
            let n = 200;
            // event i at time 10 i; its label (maybe) at 10 i + delay (delay may be < 0)
            let mut labels: Vec<(i64, u64, f64)> = Vec::new();
            for i in 0..n {
                if rng.chance(0.8) {
                    let delay = rng.below(250) as i64 - 30;
                    labels.push((10 * i + delay, i as u64, (i % 2) as f64));
                    if rng.chance(0.1) {
                        labels.push((10 * i + delay + 5, i as u64, 7.0));
                    }
                }
            }
            labels.sort_by_key(|l| l.0);
            let mut j = LabelJoin::new(ttl, usize::MAX);
            let mut out = Vec::new();
            let mut slot_of = FxHashMap::default();
            let mut got: FxHashMap<u64, f64> = FxHashMap::default();
            let mut expired = 0;
            let mut li = 0;
            let handle = |out: &mut Vec<Joined>,
                          slot_of: &FxHashMap<u32, u64>,
                          got: &mut FxHashMap<u64, f64>,
                          expired: &mut u64| {
                for o in out.drain(..) {
                    match o {
                        Joined::Labelled { slot, label, .. } => {
                            assert!(got.insert(slot_of[&slot], label).is_none());
                        }
                        Joined::Expired { .. } => *expired += 1,
                        _ => {}
                    }
                }
            };
            for i in 0..n {
                let ts = 10 * i;
                // labels up to the watermark (the event's own time: in order)
                while li < labels.len() && labels[li].0 <= ts {
                    let (lts, id, y) = labels[li];
                    j.label(id, y, lts, &mut out);
                    li += 1;
                }
                j.advance(ts, &mut out);
                handle(&mut out, &slot_of, &mut got, &mut expired);
                let slot = j.example(i as u64, ts, &mut out).unwrap();
                slot_of.insert(slot, i as u64);
                handle(&mut out, &slot_of, &mut got, &mut expired);
            }
            // brute force: an example gets the first label for its id whose time is at most
            // its own + ttl, if that label is read before the watermark passes its time + ttl
            // (true here: labels are applied in time order as the watermark moves)
            for i in 0..n as u64 {
                let ets = 10 * i as i64;
                let last_wm = 10 * (n - 1);
                let first = labels.iter().filter(|l| l.1 == i).min_by_key(|l| l.0);
                let expect = match first {
                    Some(&(lts, _, y)) if lts <= ets + ttl && lts <= last_wm => Some(y),
                    _ => None,
                };
                assert_eq!(got.get(&i).copied(), expect, "seed {seed} event {i}");
            }
            let c = j.counts();
            assert_eq!(c.waiting, c.labelled + c.expired + j.pending() as u64);
            assert_eq!(c.expired, expired);
        }
    }
}
