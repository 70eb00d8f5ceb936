//! Time since last: the sorted matching timestamps a recency feature still needs, mostly in
//! inline slots.

use std::collections::VecDeque;

use super::{insert_at, FeatureValue};

fn prune_recency(list: &mut VecDeque<i64>, horizon: i64) {
    // keep every ts > horizon and the greatest ts <= horizon
    while list.len() >= 2 && list[1] <= horizon {
        list.pop_front();
    }
}

/// An unused inline slot of [`RecencyTs`]: below every timestamp, so the slots stay sorted.
const NO_TS: i64 = i64::MIN;

/// The sorted timestamps of [`Acc::Recency`]. Usually (in-order matches, at most two
/// newer than the lateness horizon) they fit in three inline slots, so adding and reading
/// never touch a heap buffer; otherwise they all move to `spill`, a deque kept with its
/// capacity once allocated (no allocation per event once a key has needed it).
///
/// [`Acc::Recency`]: super::Acc::Recency
#[derive(Debug, Clone)]
pub(crate) struct RecencyTs {
    /// Inline mode: the timestamps ascending, unused slots ([`NO_TS`]) first. All unused
    /// while spilled.
    inline: [i64; 3],
    /// Spilled mode when non-empty: all the timestamps. Boxed so that the struct fits in
    /// [`Acc`]'s 32 bytes of payload (a bare deque takes all 32).
    ///
    /// [`Acc`]: super::Acc
    #[allow(clippy::box_collection)]
    spill: Option<Box<VecDeque<i64>>>,
}

impl RecencyTs {
    pub(crate) fn new() -> Self {
        RecencyTs {
            inline: [NO_TS; 3],
            spill: None,
        }
    }

    /// Are the timestamps inline (a used last slot means they are; else ask the spill)?
    #[inline]
    fn is_inline(&self) -> bool {
        self.inline[2] != NO_TS || self.spill.as_ref().is_none_or(|s| s.is_empty())
    }

    /// Inserts `ts` after the timestamps `<= ts`, then drops every timestamp but the
    /// greatest one `<= horizon` among those `<= horizon`.
    #[inline]
    pub(crate) fn add(&mut self, ts: i64, horizon: i64) {
        let [a, b, c] = self.inline;
        // in order, and a slot free or the oldest dropped by the prune anyway
        if ts >= c && ts != NO_TS && (a == NO_TS || b <= horizon) && self.is_inline() {
            let x = if c <= horizon { NO_TS } else { b };
            let y = if ts <= horizon { NO_TS } else { c };
            self.inline = [x, y, ts];
            return;
        }
        let list = self.spilled();
        let pos = list.iter().rposition(|&t| t <= ts).map_or(0, |p| p + 1);
        insert_at(list, pos, ts);
        prune_recency(list, horizon);
        self.unspill();
    }

    /// Merges `other`'s timestamps (each after the equal ones), then prunes as [`Self::add`].
    pub(crate) fn merge(&mut self, other: &RecencyTs, horizon: i64) {
        let list = self.spilled();
        for t in other.iter() {
            let pos = list.iter().rposition(|&x| x <= t).map_or(0, |p| p + 1);
            list.insert(pos, t);
        }
        prune_recency(list, horizon);
        self.unspill();
    }

    /// The greatest timestamp `<= as_of`.
    #[inline]
    pub(crate) fn last_at_or_before(&self, as_of: i64) -> Option<i64> {
        if !self.is_inline() {
            return self
                .spill
                .as_ref()
                .and_then(|s| s.iter().rev().find(|&&t| t <= as_of).copied());
        }
        let [a, b, c] = self.inline;
        let t = if c <= as_of {
            c
        } else if b <= as_of {
            b
        } else {
            a
        };
        (t != NO_TS && t <= as_of).then_some(t)
    }

    /// The recency value as of `as_of`: the time since the last match at or before it.
    #[inline]
    pub(crate) fn value(&self, as_of: i64) -> FeatureValue {
        match self.last_at_or_before(as_of) {
            Some(t) => FeatureValue::Int(as_of.saturating_sub(t)),
            None => FeatureValue::Null,
        }
    }

    /// The timestamps, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        let inline = self.is_inline();
        let slots = self.inline.iter().filter(move |&&t| inline && t != NO_TS);
        let spill = self
            .spill
            .iter()
            .filter(move |_| !inline)
            .flat_map(|s| s.iter());
        slots.chain(spill).copied()
    }

    pub(crate) fn clear(&mut self) {
        self.inline = [NO_TS; 3];
        if let Some(s) = &mut self.spill {
            s.clear();
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.spill.as_ref().map_or(0, |s| {
            std::mem::size_of::<VecDeque<i64>>() + s.capacity() * 8
        })
    }

    /// Moves the timestamps to the spill (if inline) and returns it.
    fn spilled(&mut self) -> &mut VecDeque<i64> {
        let inline = self.is_inline();
        let slots = std::mem::replace(&mut self.inline, [NO_TS; 3]);
        let s = self.spill.get_or_insert_with(Box::default);
        if inline {
            s.extend(slots.into_iter().filter(|&t| t != NO_TS));
        }
        s
    }

    /// Back to the inline slots if the timestamps fit there (and none is [`NO_TS`]).
    fn unspill(&mut self) {
        let Some(s) = &mut self.spill else { return };
        if s.len() > 3 || s.contains(&NO_TS) {
            return;
        }
        let mut slots = [NO_TS; 3];
        for (slot, &t) in slots[3 - s.len()..].iter_mut().zip(s.iter()) {
            *slot = t;
        }
        s.clear();
        self.inline = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inline/spilled timestamps against a plain sorted `Vec` doing the same inserts
    /// and prunes, and every answer against a scan of all timestamps ever added (pruning
    /// must not change the answer for any time after the horizon).
    #[test]
    fn recency_timestamps_match_a_plain_list_and_a_full_scan() {
        fn model_add(list: &mut Vec<i64>, t: i64) {
            let pos = list.iter().filter(|&&x| x <= t).count();
            list.insert(pos, t);
        }
        fn model_prune(list: &mut Vec<i64>, horizon: i64) {
            let le = list.iter().filter(|&&x| x <= horizon).count();
            list.drain(..le.saturating_sub(1));
        }
        let mut rng = crate::rng::Rng::new(7);
        for case in 0..400 {
            let mut r = RecencyTs::new();
            let mut list = Vec::new();
            let mut all = Vec::new();
            let mut horizon = i64::MIN;
            let mut now = rng.below(100) as i64 - 50;
            let disorder = [0, 3, 30][case % 3];
            let steps = 1 + rng.below(60);
            for _ in 0..steps {
                now += rng.below(8) as i64;
                if rng.chance(0.3) {
                    horizon = horizon.max(now - rng.below(20) as i64);
                }
                let t = if case % 50 == 0 && rng.chance(0.1) {
                    i64::MIN // the inline slots' marker value must still work
                } else {
                    now - rng.below(disorder + 1) as i64
                };
                if rng.chance(0.1) {
                    // merge a small accumulator of its own
                    let mut other = RecencyTs::new();
                    let mut theirs = Vec::new();
                    for _ in 0..rng.below(6) {
                        let u = now - rng.below(40) as i64;
                        other.add(u, i64::MIN);
                        model_add(&mut theirs, u);
                        all.push(u);
                    }
                    assert_eq!(other.iter().collect::<Vec<_>>(), theirs);
                    r.merge(&other, horizon);
                    for u in theirs {
                        model_add(&mut list, u);
                    }
                    model_prune(&mut list, horizon);
                } else if rng.chance(0.02) {
                    r.clear();
                    list.clear();
                    all.clear();
                } else {
                    r.add(t, horizon);
                    model_add(&mut list, t);
                    model_prune(&mut list, horizon);
                    all.push(t);
                }
                assert_eq!(r.iter().collect::<Vec<_>>(), list, "case {case}");
                assert!(r.heap_bytes() > 0 || list.len() <= 3);
                for as_of in [horizon, horizon.saturating_add(1), now - 5, now, now + 3] {
                    if as_of <= horizon {
                        continue;
                    }
                    let want = all.iter().copied().filter(|&x| x <= as_of).max();
                    assert_eq!(
                        r.last_at_or_before(as_of),
                        want,
                        "case {case} as_of {as_of}"
                    );
                }
            }
        }
    }
}
