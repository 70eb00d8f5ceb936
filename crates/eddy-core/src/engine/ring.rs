//! Panes of aligned windows for all keys at once, fired by sweeps instead of per-key timers.
//!
//! Tumbling windows, and sliding windows of a few panes, share one pane grid for every key
//! (`gcd(size, slide)` ms from the offset), so their windows end at the same times for all
//! keys. A [`PaneRing`] keeps pane number `q` of every key in slot `q mod R`: a column with
//! one pane per key and a bitset of the keys that have that pane. An event writes one pane
//! of its key; a window fires for all keys by one sweep over the keys present in its panes,
//! in key order, reading the columns in address order (which the hardware prefetches), and
//! a pane is dropped for all keys at once. With one timer per key instead, each firing was a
//! visit to a random key's state: with many keys, a cache miss or several per window row.
//!
//! The ring covers panes `[base, base + R)`, where `R` (at most [`MAX_SLOTS`]) spans a
//! window, the allowed lateness and some panes ahead of the watermark. A pane outside it (an
//! event far ahead of the watermark, or behind the first one seen before any watermark)
//! waits in an overflow map, and every reader looks there too: slower, never wrong. Before a
//! window fires, every pane whose drop time comes first has been dropped, so its panes are
//! in the ring unless one is in the overflow map (handled by a slower sweep).
//!
//! Only count-like (count, rate) and Welford (mean, variance, stddev) panes live here:
//! fixed-size, no heap. Other aggregations, and windows needing more than [`MAX_SLOTS`]
//! panes, keep their panes per key.

use std::collections::BTreeMap;

use super::{Ctx, Feat, Geo, Pane, Wf};
use crate::agg::FeatureValue;
use crate::row::FeatureOut;
use crate::{KeyId, Value};

/// The most slots a ring may have (memory: slots × keys × pane size).
const MAX_SLOTS: i64 = 64;

/// The panes of one feature for all keys.
#[derive(Debug)]
pub(super) struct PaneRing<A> {
    g: Geo,
    pane: i64,
    /// Panes per window.
    per_window: i64,
    slots: i64,
    /// Lowest pane number the ring holds.
    base: i64,
    /// Its slot (`base mod slots`), so that finding a slot needs no division.
    base_slot: i64,
    /// `[slot][key]`: the pane of that slot's number for each key; an absent pane is always
    /// `empty` (the identity of merging), so a window's value may merge absent panes too.
    /// Padded with absent panes to a multiple of 64 keys (one bitset word), so that a sweep
    /// takes 64 keys' panes as one array.
    cols: Vec<Vec<A>>,
    /// `[slot][key / 64]`: which keys have that pane.
    bits: Vec<Vec<u64>>,
    /// `[slot]`: how many keys have that pane.
    live: Vec<u32>,
    /// Panes outside `[base, base + slots)`, by `(pane, key)`.
    overflow: BTreeMap<(i64, u32), A>,
    /// Every window with `end <= fired_to` has been handled (and every window with
    /// `end - 1 <= wm`: `fired_to` is raised to that when needed).
    fired_to: i64,
    /// The watermark of the last advance.
    wm: i64,
    /// The first watermark at which an advance has something to do (a firing or a drop),
    /// or `None` when it must be found again (a pane number appeared, the ring moved). A
    /// pipeline advances the watermark at almost every event: most advances stop here.
    due: Option<i64>,
    keys: usize,
    /// Allowed lateness.
    lat: i64,
    empty: A,
    /// The pane of the last watermark advance and its start: most events fall in it or the
    /// next, whose numbers are then found without a division ([`Self::pane_of`]).
    near: (i64, i64),
}

/// The columns of a ring's two current panes ([`Ring::pane_lines`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct PaneLines {
    pub(super) next_start: i64,
    /// Key 0's pane in the watermark's pane's column and in the next one's.
    pub(super) cols: [usize; 2],
    pub(super) stride: usize,
}

impl PaneLines {
    /// Starts loading the pane key `k` would update with an event at `ts` (an event before
    /// the watermark's pane: a useless hint). `ts` need not be clamped (see
    /// [`PaneRing::pane_lines`]).
    #[inline(always)]
    pub(super) fn prefetch(&self, k: usize, ts: i64) {
        let base = self.cols[usize::from(ts >= self.next_start)];
        let at = base.wrapping_add(k.wrapping_mul(self.stride));
        super::prefetch(std::ptr::without_provenance::<u8>(at));
    }
}

/// [`PaneLines::cols`] for comparing raw event times with `next_start`. An event's time is
/// clamped before it finds its pane, and comparing a raw time with a start within the clamp
/// agrees with comparing the clamped one; a start outside it picks one column whatever the
/// time, so both become that one (the prefetch then needs no clamp).
fn unclamped_cols(next_start: i64, [now, next]: [usize; 2]) -> [usize; 2] {
    if next_start > super::TS_CLAMP {
        [now, now]
    } else if next_start <= -super::TS_CLAMP {
        [next, next]
    } else {
        [now, next]
    }
}

/// A pane type a ring holds: fixed-size, no heap.
pub(super) trait RingPane: Pane + Copy {
    /// Merges pane `p` into `acc` (the window's earlier panes merged in pane order) with the
    /// arithmetic [`Pane::window_value`] uses for one more pane, so that the window value of
    /// the single pane `acc` is that of all the panes merged into it.
    fn merge(acc: &mut Self, p: &Self);

    /// Merges into each `acc[j]` the pane `col[j]` if bit `j` of `present` is set (the panes
    /// of 64 keys from one slot, the bit of each key from the slot's bitset).
    #[inline]
    fn merge_block(acc: &mut [Self; 64], col: &[Self; 64], present: u64) {
        let mut v = present;
        while v != 0 {
            let j = v.trailing_zeros() as usize & 63;
            v &= v - 1;
            Self::merge(&mut acc[j], &col[j]);
        }
    }
}

impl RingPane for u64 {
    #[inline]
    fn merge(acc: &mut Self, p: &Self) {
        *acc += *p;
    }

    /// Many present: all 64 added, which the compiler does a few at a time (an absent pane
    /// is 0, so the sums are the same).
    #[inline]
    fn merge_block(acc: &mut [Self; 64], col: &[Self; 64], present: u64) {
        if present.count_ones() > 8 {
            for (a, p) in acc.iter_mut().zip(col) {
                *a += *p;
            }
        } else {
            let mut v = present;
            while v != 0 {
                let j = v.trailing_zeros() as usize & 63;
                v &= v - 1;
                acc[j] += col[j];
            }
        }
    }
}

impl RingPane for Wf {
    #[inline]
    fn merge(acc: &mut Self, p: &Self) {
        let Wf(n, mean, m2) = acc;
        crate::agg::welford_merge((n, mean, m2), (p.0, p.1, p.2));
    }
}

/// The ring of a feature, by pane type.
#[derive(Debug)]
pub(super) enum Ring {
    Count(PaneRing<u64>),
    Welford(PaneRing<Wf>),
}

/// Runs `$body` with `$r` bound to the typed ring.
macro_rules! on_ring {
    ($ring:expr, $r:ident => $body:expr) => {
        match $ring {
            Ring::Count($r) => $body,
            Ring::Welford($r) => $body,
        }
    };
}

impl Ring {
    /// A ring for `feat` if its window and aggregation fit one (see the module doc).
    pub(super) fn for_feature(feat: &Feat, lat: i64) -> Option<Ring> {
        use crate::agg::AggKind as K;
        use crate::window::WindowSpec as W;
        let g = match feat.window {
            W::Sliding { .. } => feat.geo,
            W::Tumbling { size, offset } => Geo {
                size,
                slide: size,
                offset,
                aligned: true,
            },
            _ => return None,
        };
        let pane = if matches!(feat.window, W::Sliding { .. }) {
            feat.pane
        } else {
            g.size
        };
        match feat.agg {
            K::Count | K::Rate { .. } => PaneRing::new(g, pane, lat, 0u64).map(Ring::Count),
            K::Mean | K::Variance | K::Stddev => {
                PaneRing::new(g, pane, lat, Wf(0, 0.0, 0.0)).map(Ring::Welford)
            }
            _ => None,
        }
    }

    pub(super) fn grow(&mut self, keys: usize) {
        on_ring!(self, r => r.grow(keys))
    }

    /// Adds an event of key `k` to its pane, and fires at once the windows holding it that
    /// have fired already (a late event). With `pane_value`, writes the value of that pane
    /// over the pane's length into `out`: the per-event value of a tumbling window (its pane
    /// is the window).
    #[allow(clippy::too_many_arguments)]
    // inlined in `process` always: left to itself the compiler drops it as `process` grows,
    // and the call costs more than its body in the hot loop
    #[inline(always)]
    pub(super) fn add(
        &mut self,
        feat: &Feat,
        ctx: &mut Ctx<'_>,
        k: usize,
        ts: i64,
        m: Option<Value>,
        late: bool,
        pane_value: Option<&mut FeatureOut<'_>>,
    ) {
        on_ring!(self, r => {
            let (q, existed, s) = r.add(k, ts, m, ctx.horizon);
            if let Some(out) = pane_value {
                // the pane is present now: in slot `s`, or else in the overflow map
                let p = match s {
                    Some(s) => r.cols[s].get(k),
                    None => r.get(k, q),
                };
                out.set(r.values(feat, p.into_iter()));
            }
            if late {
                r.fire_late(feat, ctx, k, ts, existed);
            }
        })
    }

    /// The first watermark at which an advance fires or drops something (`None`: nothing
    /// held).
    pub(super) fn next_due(&self) -> Option<i64> {
        on_ring!(self, r => {
            let fire = r.next_fire().map(|e| e.saturating_sub(1));
            let drop = r.lowest().map(|q| r.drop_time(q));
            fire.into_iter().chain(drop).min()
        })
    }

    /// Returns whether [`Self::pane_lines`] may have changed.
    #[inline(always)]
    pub(super) fn advance(&mut self, feat: &Feat, ctx: &mut Ctx<'_>) -> bool {
        on_ring!(self, r => r.advance(feat, ctx))
    }

    /// Where the panes an event will update are, for prefetching by address arithmetic
    /// alone: the columns of the watermark's pane and the next (most events fall in one of
    /// them), the time the next starts, and the bytes per key. `None` before the first
    /// watermark. Valid until the ring advances or grows.
    pub(super) fn pane_lines(&self) -> Option<PaneLines> {
        on_ring!(self, r => r.pane_lines())
    }

    pub(super) fn bytes(&self) -> usize {
        on_ring!(self, r => r.bytes())
    }
}

/// Timestamps derived from the watermark (`i64::MAX` at the end of input) kept where pane
/// arithmetic cannot overflow.
fn clamp(t: i64) -> i64 {
    t.clamp(-super::TS_CLAMP, super::TS_CLAMP)
}

impl<A: RingPane> PaneRing<A> {
    fn new(g: Geo, pane: i64, lat: i64, empty: A) -> Option<Self> {
        let per_window = g.size / pane;
        let slots = per_window
            .saturating_add((lat as u64).div_ceil(pane as u64) as i64)
            .saturating_add(g.slide / pane)
            .saturating_add((per_window / 2).max(2))
            .saturating_add(1);
        if slots > MAX_SLOTS {
            return None;
        }
        Some(PaneRing {
            g,
            pane,
            per_window,
            slots,
            base: 0,
            base_slot: 0,
            cols: (0..slots).map(|_| Vec::new()).collect(),
            bits: (0..slots).map(|_| Vec::new()).collect(),
            live: vec![0; slots as usize],
            overflow: BTreeMap::new(),
            fired_to: i64::MIN,
            wm: i64::MIN,
            due: None,
            keys: 0,
            lat,
            empty,
            // no event is within two panes of this start: the first ones divide
            near: (0, i64::MIN),
        })
    }

    fn grow(&mut self, keys: usize) {
        if keys <= self.keys {
            return;
        }
        self.keys = keys;
        for c in &mut self.cols {
            c.resize(keys.div_ceil(64) * 64, self.empty);
        }
        for b in &mut self.bits {
            b.resize(keys.div_ceil(64), 0);
        }
    }

    fn pane_lines(&self) -> Option<PaneLines> {
        let (q, start) = self.near;
        if start == i64::MIN {
            return None;
        }
        let col = |q: i64| {
            if self.in_ring(q) {
                self.cols[self.slot(q)].as_ptr() as usize
            } else {
                0 // no column: prefetches of it hint at nothing useful, and harm nothing
            }
        };
        let next_start = start.saturating_add(self.pane);
        Some(PaneLines {
            next_start,
            cols: unclamped_cols(next_start, [col(q), col(q + 1)]),
            stride: std::mem::size_of::<A>(),
        })
    }

    /// `ts` within `±2^61` (event times are clamped there; see [`clamp`]). A 64-bit
    /// division takes tens of cycles and an event would take two per ring (prefetch and
    /// add): an event in the pane of the last watermark or the next takes none.
    #[inline]
    fn pane_of(&self, ts: i64) -> i64 {
        let (q, start) = self.near;
        // one unsigned compare: before `start` wraps to a huge distance
        let d = ts.wrapping_sub(start) as u64;
        if d < 2 * self.pane as u64 {
            q + i64::from(d >= self.pane as u64)
        } else {
            self.pane_by_division(ts)
        }
    }

    fn pane_by_division(&self, ts: i64) -> i64 {
        (ts - self.g.offset).div_euclid(self.pane)
    }

    /// The value of a window made of `panes` (in pane order).
    fn values<'a>(&self, feat: &Feat, panes: impl Iterator<Item = &'a A>) -> FeatureValue
    where
        A: 'a,
    {
        A::window_value(panes, &feat.agg, self.g.size).unwrap_or(FeatureValue::Null)
    }

    #[inline]
    fn pane_start(&self, q: i64) -> i64 {
        q.saturating_mul(self.pane).saturating_add(self.g.offset)
    }

    #[inline]
    fn in_ring(&self, q: i64) -> bool {
        // one unsigned compare: below the base wraps to a huge distance
        (q.wrapping_sub(self.base) as u64) < self.slots as u64
    }

    /// The slot of pane `q`, which must be in the ring.
    #[inline]
    fn slot(&self, q: i64) -> usize {
        debug_assert!(self.in_ring(q));
        let s = self.base_slot + (q - self.base);
        (if s >= self.slots { s - self.slots } else { s }) as usize
    }

    fn set_base(&mut self, base: i64) {
        self.base = base;
        self.base_slot = base.rem_euclid(self.slots);
    }

    #[inline]
    fn has(&self, slot: usize, k: usize) -> bool {
        self.bits[slot]
            .get(k >> 6)
            .is_some_and(|w| w & (1u64 << (k & 63)) != 0)
    }

    /// Key `k`'s pane number `q`, if it has one.
    #[inline]
    fn get(&self, k: usize, q: i64) -> Option<&A> {
        if self.in_ring(q) {
            let s = self.slot(q);
            if self.has(s, k) {
                return self.cols[s].get(k);
            }
            None
        } else {
            self.overflow.get(&(q, k as u32))
        }
    }

    fn ring_is_empty(&self) -> bool {
        self.live.iter().all(|&n| n == 0)
    }

    /// Lowest and highest pane numbers present in the ring.
    fn ring_span(&self) -> Option<(i64, i64)> {
        let present = (0..self.slots).filter(|&i| self.live[self.slot(self.base + i)] > 0);
        let lo = present.clone().next()?;
        let hi = present.last()?;
        Some((self.base + lo, self.base + hi))
    }

    /// Adds an event to key `k`'s pane; returns the pane, whether it existed before and its
    /// slot (`None`: in the overflow map).
    #[inline(always)]
    fn add(
        &mut self,
        k: usize,
        ts: i64,
        m: Option<Value>,
        horizon: i64,
    ) -> (i64, bool, Option<usize>) {
        let q = self.pane_of(ts);
        let inside = self.in_ring(q) || {
            self.make_room(q);
            self.in_ring(q)
        };
        if inside {
            let s = self.slot(q);
            // without a branch: whether the key already has this pane is a coin toss
            let (word, bit) = (k >> 6, 1u64 << (k & 63));
            let w = &mut self.bits[s][word];
            let existed = *w & bit != 0;
            *w |= bit;
            self.live[s] += u32::from(!existed);
            if self.live[s] == 1 && !existed {
                self.due = None; // a pane number no key had
            }
            if let Some(v) = m {
                self.cols[s][k].add(ts, v, horizon);
            }
            (q, existed, Some(s))
        } else {
            let empty = &self.empty;
            let mut existed = true;
            let p = self.overflow.entry((q, k as u32)).or_insert_with(|| {
                existed = false;
                *empty
            });
            if !existed {
                self.due = None;
            }
            if let Some(v) = m {
                p.add(ts, v, horizon);
            }
            (q, existed, None)
        }
    }

    /// Moves the ring so that it holds pane `q`, when no present pane leaves it.
    fn make_room(&mut self, q: i64) {
        let new_base = match self.ring_span() {
            // room behind: an empty ring starts a little before q (out-of-order events)
            None => q.saturating_sub(self.slots / 2),
            Some((lo, hi)) if q < lo && hi - q < self.slots => q,
            Some((lo, _)) if q > lo && q - lo < self.slots => lo,
            Some(_) => return,
        };
        self.rebase(new_base);
    }

    /// Sets the ring's first pane (every present ring pane stays inside), and moves the
    /// overflow panes now inside it into their slots.
    fn rebase(&mut self, base: i64) {
        self.set_base(base);
        self.due = None;
        if self.overflow.is_empty() {
            return;
        }
        let end = base.saturating_add(self.slots);
        let inside: Vec<(i64, u32)> = self
            .overflow
            .range((base, 0)..(end, 0))
            .map(|(&k, _)| k)
            .collect();
        for (q, key) in inside {
            if let Some(p) = self.overflow.remove(&(q, key)) {
                let (s, k) = (self.slot(q), key as usize);
                self.bits[s][k >> 6] |= 1u64 << (k & 63);
                self.live[s] += 1;
                self.cols[s][k] = p;
            }
        }
    }

    /// The pane of window `[end - size, end)`, as pane numbers `[q0, q1)`.
    fn window_panes(&self, end: i64) -> (i64, i64) {
        let start = end.saturating_sub(self.g.size);
        let q0 = self.pane_of(start);
        (q0, q0 + self.per_window)
    }

    /// The value of key `k`'s window ending at `end`, from the panes it has.
    fn value(&self, feat: &Feat, k: usize, end: i64) -> FeatureValue {
        let (q0, q1) = self.window_panes(end);
        self.values(feat, (q0..q1).filter_map(|q| self.get(k, q)))
    }

    /// Fires every window holding `ts` whose `end - 1 <= watermark`, for key `k` (after a
    /// late event was added); `update` when that window had a pane before the event.
    fn fire_late(&self, feat: &Feat, ctx: &mut Ctx<'_>, k: usize, ts: i64, existed: bool) {
        let g = self.g;
        let q = self.pane_of(ts);
        let mut e = g.next_end_after(ts);
        while e.saturating_sub(1) <= ctx.wm && e.saturating_sub(g.size) <= ts {
            let (q0, q1) = self.window_panes(e);
            let others = (q0..q1).any(|p| p != q && self.get(k, p).is_some());
            ctx.key = KeyId(k as u32);
            ctx.push(e - g.size, e, self.value(feat, k, e), existed || others);
            e = e.saturating_add(g.slide);
        }
    }

    /// When the pane `q` is dropped: its last window's end, minus one, plus lateness.
    fn drop_time(&self, q: i64) -> i64 {
        self.g.pane_drop_time(self.pane_start(q), self.lat)
    }

    /// The lowest present pane, in the ring or the overflow map.
    fn lowest(&self) -> Option<i64> {
        let ring = self.ring_span().map(|(lo, _)| lo);
        let over = self.overflow.first_key_value().map(|(&(q, _), _)| q);
        match (ring, over) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The first window end after [`Self::fired_to`] whose window holds a present pane.
    fn next_fire(&self) -> Option<i64> {
        let g = self.g;
        let after_fired = (self.fired_to != i64::MIN).then(|| g.next_end_after(self.fired_to));
        // the first window not handled yet holding pane q, if any
        let first = |q: i64| {
            let ps = self.pane_start(q);
            let e = g.next_end_after(ps).max(after_fired.unwrap_or(i64::MIN));
            (e.saturating_sub(g.size) <= ps).then_some(e)
        };
        // panes in increasing order give increasing candidates: the first one found wins
        let ring = self.ring_span().and_then(|(lo, hi)| {
            (lo..=hi)
                .filter(|&q| self.live[self.slot(q)] > 0)
                .find_map(first)
        });
        let over = self.overflow.keys().find_map(|&(q, _)| first(q));
        match (ring, over) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires the window ending at `end` for every key that has a pane in it.
    fn fire(&self, feat: &Feat, ctx: &mut Ctx<'_>, end: i64) {
        let (q0, q1) = self.window_panes(end);
        let start = end.saturating_sub(self.g.size);
        // the window's slots with any key present, in pane order (at most MAX_SLOTS)
        let mut slots = [0usize; MAX_SLOTS as usize];
        let mut n = 0;
        for q in q0..q1 {
            if self.in_ring(q) && self.live[self.slot(q)] > 0 && n < slots.len() {
                slots[n] = self.slot(q);
                n += 1;
            }
        }
        let in_ring = &slots[..n];
        let outside = (q0..q1).any(|q| !self.in_ring(q))
            && self.overflow.range((q0, 0)..(q1, 0)).next().is_some();
        if !outside {
            self.sweep(feat, ctx, start, end, in_ring);
            return;
        }
        // some pane of this window waits in the overflow map: gather the keys first
        let mut keys: Vec<usize> = Vec::new();
        for &s in in_ring {
            for (w, &bits) in self.bits[s].iter().enumerate() {
                let mut u = bits;
                while u != 0 {
                    keys.push(w * 64 + u.trailing_zeros() as usize);
                    u &= u - 1;
                }
            }
        }
        keys.extend(
            self.overflow
                .range((q0, 0)..(q1, 0))
                .map(|(&(_, k), _)| k as usize),
        );
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            ctx.key = KeyId(k as u32);
            ctx.push(start, end, self.value(feat, k, end), false);
        }
    }

    /// Fires window `[start, end)`, whose panes are all in the ring slots `in_ring` (in pane
    /// order), for every key that has a pane in it, in key order. 64 keys at a time (one
    /// bitset word): each slot's present panes are merged into the keys' accumulators, slot
    /// by slot, so each key's panes in pane order, which is exactly [`Self::values`] of them
    /// (an absent pane is empty, which merges as nothing); then the keys' rows are pushed.
    fn sweep(&self, feat: &Feat, ctx: &mut Ctx<'_>, start: i64, end: i64, in_ring: &[usize]) {
        let mut acc = [self.empty; 64];
        for w in 0..self.keys.div_ceil(64) {
            let lo = w * 64;
            let mut u = 0u64;
            for &s in in_ring {
                let bits = self.bits[s].get(w).copied().unwrap_or(0);
                let Some(Ok(col)) = self.cols[s].get(lo..lo + 64).map(<&[A; 64]>::try_from) else {
                    continue;
                };
                u |= bits;
                A::merge_block(&mut acc, col, bits);
            }
            if u == 0 {
                continue;
            }
            ctx.push_rows(u.count_ones() as usize, start, end, false, || {
                let j = u.trailing_zeros() as usize & 63;
                u &= u - 1;
                let a = std::mem::replace(&mut acc[j], self.empty);
                (
                    KeyId((lo + j) as u32),
                    self.values(feat, std::iter::once(&a)),
                )
            });
        }
    }

    /// Drops pane `q` of every key.
    fn drop_pane(&mut self, q: i64) {
        if self.in_ring(q) {
            let s = self.slot(q);
            if self.live[s] > 0 {
                let (bits, col) = (&mut self.bits[s], &mut self.cols[s]);
                // the column is padded to whole words: one chunk of 64 panes per word
                for (word, chunk) in bits.iter_mut().zip(col.chunks_exact_mut(64)) {
                    let mut u = *word;
                    if u == 0 {
                        continue;
                    }
                    *word = 0;
                    if u.count_ones() > 16 {
                        chunk.fill(self.empty); // many present: one block write
                        continue;
                    }
                    while u != 0 {
                        chunk[u.trailing_zeros() as usize & 63] = self.empty;
                        u &= u - 1;
                    }
                }
                self.live[s] = 0;
            }
        }
        let gone: Vec<(i64, u32)> = self
            .overflow
            .range((q, 0)..=(q, u32::MAX))
            .map(|(&k, _)| k)
            .collect();
        for key in gone {
            self.overflow.remove(&key);
        }
    }

    /// Fires every window with `end - 1 <= watermark` and drops every pane whose drop time
    /// has come, in time order (a drop at the same time as a firing after it).
    /// Returns whether [`Self::pane_lines`] may have changed.
    fn advance(&mut self, feat: &Feat, ctx: &mut Ctx<'_>) -> bool {
        let wm = clamp(ctx.wm);
        let moved = wm.wrapping_sub(self.near.1) as u64 >= self.pane as u64;
        if moved {
            let q = self.pane_by_division(wm);
            self.near = (q, self.pane_start(q));
        }
        if self.due.is_some_and(|d| wm < d) {
            self.wm = wm;
            return moved;
        }
        // windows ending by the last watermark were handled then
        self.mark_fired_to(self.wm);
        loop {
            let fire = self.next_fire().filter(|e| e.saturating_sub(1) <= wm);
            let drop = self
                .lowest()
                .map(|q| (q, self.drop_time(q)))
                .filter(|&(_, t)| t <= wm);
            match (fire, drop) {
                (Some(e), Some((q, t))) if t < e.saturating_sub(1) => self.drop_and_rebase(q, wm),
                (Some(e), _) => {
                    self.fire(feat, ctx, e);
                    self.fired_to = e;
                }
                (None, Some((q, _))) => self.drop_and_rebase(q, wm),
                (None, None) => break,
            }
        }
        self.mark_fired_to(wm);
        self.wm = wm;
        if self.ring_is_empty() && self.overflow.is_empty() {
            // nothing to keep: start where the next events will be
            self.set_base(self.pane_of(wm - self.lat));
        }
        let fire = self.next_fire().map_or(i64::MAX, |e| e.saturating_sub(1));
        let drop = self.lowest().map_or(i64::MAX, |q| self.drop_time(q));
        self.due = Some(fire.min(drop));
        true // the ring may have moved
    }

    /// Every window ending by watermark `wm` has been handled (fired by a sweep, or at once
    /// by a late event): raises [`Self::fired_to`] to the largest window end `<= wm + 1`.
    fn mark_fired_to(&mut self, wm: i64) {
        if wm != i64::MIN {
            let last = self.g.next_end_after(wm + 1) - self.g.slide;
            self.fired_to = self.fired_to.max(last);
        }
    }

    fn drop_and_rebase(&mut self, q: i64, wm: i64) {
        self.drop_pane(q);
        // the ring may start at the first pane an accepted event can still reach (after
        // `wm - lateness`), or at the lowest present one, whichever is lower
        let reach = self.pane_of(wm - self.lat);
        let target = match self.ring_span() {
            Some((lo, _)) => lo.min(reach),
            None => reach,
        };
        if target > self.base {
            self.rebase(target);
        }
    }

    fn bytes(&self) -> usize {
        let slot = std::mem::size_of::<A>();
        self.cols.iter().map(|c| c.capacity() * slot).sum::<usize>()
            + self.bits.iter().map(|b| b.capacity() * 8).sum::<usize>()
            + self.overflow.len() * (slot + 16 + 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pane column a raw event time picks is the one its clamped time picks, for starts
    /// and times at and around the clamp and the ends of `i64`.
    #[test]
    fn raw_times_pick_the_pane_column_of_clamped_ones() {
        let c = super::super::TS_CLAMP;
        let edges = [
            i64::MIN,
            -c - 1,
            -c,
            -c + 1,
            -1,
            0,
            1,
            c - 1,
            c,
            c + 1,
            i64::MAX,
        ];
        let near = |x: i64| [x.saturating_sub(1), x, x.saturating_add(1)];
        for next_start in edges.into_iter().flat_map(near) {
            let cols = unclamped_cols(next_start, [10, 20]);
            for ts in edges.into_iter().flat_map(near) {
                let raw = cols[usize::from(ts >= next_start)];
                let clamped = [10, 20][usize::from(ts.clamp(-c, c) >= next_start)];
                assert_eq!(raw, clamped, "start {next_start}, ts {ts}");
            }
        }
    }

    /// A count block merge adds exactly the present panes, whether few or many are.
    #[test]
    fn count_block_merge_adds_the_present_panes() {
        for present in [
            0u64,
            1,
            0x8000_0000_0000_0001,
            0xff,
            0x1ff,
            u64::MAX,
            0xf0f0_f0f0,
        ] {
            // an absent pane is empty (0)
            let col: [u64; 64] = std::array::from_fn(|j| {
                if present >> j & 1 == 1 {
                    j as u64 + 1
                } else {
                    0
                }
            });
            let mut acc: [u64; 64] = std::array::from_fn(|j| 3 * j as u64);
            RingPane::merge_block(&mut acc, &col, present);
            for (j, &a) in acc.iter().enumerate() {
                let want = 3 * j as u64
                    + if present >> j & 1 == 1 {
                        j as u64 + 1
                    } else {
                        0
                    };
                assert_eq!(a, want, "{present:x} {j}");
            }
        }
    }

    /// A dropped pane is empty and absent for every key, whether its bitset words were
    /// dense (cleared as a block) or sparse (cleared key by key), and the slot starts afresh.
    #[test]
    fn dropping_a_pane_empties_it_for_every_key() {
        let g = Geo {
            size: 10,
            slide: 10,
            offset: 0,
            aligned: true,
        };
        let mut r = PaneRing::new(g, 10, 0, 0u64).unwrap();
        r.grow(200);
        // keys 0..64 all (a dense word), 5 of 64..128 (a sparse one), every third after
        let keys: Vec<usize> = (0..64)
            .chain([64, 70, 90, 100, 127])
            .chain((128..200).step_by(3))
            .collect();
        for &k in &keys {
            r.add(k, 5, Some(Value::Int(1)), 0);
            r.add(k, 7, Some(Value::Int(1)), 0);
        }
        assert_eq!(r.get(3, 0), Some(&2));
        r.drop_pane(0);
        assert!(r.cols.iter().all(|c| c.iter().all(|&p| p == 0)));
        assert!(r.bits.iter().all(|b| b.iter().all(|&w| w == 0)));
        assert!(r.ring_is_empty());
        for k in 0..200 {
            assert_eq!(r.get(k, 0), None);
        }
        let s = r.slot(0);
        r.add(3, 5, Some(Value::Int(1)), 0);
        assert_eq!(r.get(3, 0), Some(&1));
        assert_eq!(r.live[s], 1);
    }
}
