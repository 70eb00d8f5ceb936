//! Sliding windows per key: the kept events of the exact per-event value, and panes for
//! window-close rows when they are not in a ring.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::*;
use crate::agg::{
    insert_at, num, rate, value_key, welford_add, welford_remove, welford_value, Acc, AggKind,
    FeatureValue, ResultCtx,
};
use crate::window::aligned_start;
use crate::Value;

/// Running aggregate over the live region of a sliding per-event deque.
#[derive(Debug)]
pub(super) enum Run {
    /// count, rate, last-N, recency: read from the deque itself.
    Plain,
    Sum(f64),
    Welford {
        n: u64,
        mean: f64,
        m2: f64,
    },
    /// (ts, key) with keys strictly decreasing; key = v for max, -v for min.
    /// Boxed, like `Distinct`: rare, and kept out of every key's inline state.
    Mono {
        max: bool,
        // the box keeps the 32-byte deque header out of every key's inline state
        #[allow(clippy::box_collection)]
        dq: Box<VecDeque<(i64, f64)>>,
    },
    Distinct(Box<FxHashMap<u128, u32>>),
}

/// Sliding window geometry of a feature.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geo {
    pub(super) size: i64,
    pub(super) slide: i64,
    pub(super) offset: i64,
    /// The pane is the slide (the slide divides the size): pane starts are window starts,
    /// which saves the divisions of window alignment on the hot paths.
    pub(super) aligned: bool,
}

impl Geo {
    /// Smallest window end strictly greater than `x`.
    pub(super) fn next_end_after(&self, x: i64) -> i64 {
        aligned_start(x.saturating_sub(self.size), self.slide, self.offset)
            .saturating_add(self.slide)
            .saturating_add(self.size)
    }

    /// When the pane starting at `p` can be dropped: the last window holding it, plus lateness.
    pub(super) fn pane_drop_time(&self, p: i64, lat: i64) -> i64 {
        let start = if self.aligned {
            p // already a window start
        } else {
            aligned_start(p, self.slide, self.offset)
        };
        start
            .saturating_add(self.size)
            .saturating_sub(1)
            .saturating_add(lat)
    }
}

/// What a sliding feature keeps of each matching event besides its timestamp: nothing for
/// count, rate and recency, the numeric value for numeric aggregations, the whole value
/// for last-N and distinct count (8, 16 or 24 bytes per kept event).
pub(super) trait Payload: Copy + std::fmt::Debug {
    /// `v` is a matched value ([`Feat::matched`]): numeric (not NaN) for numeric kinds.
    fn pack(v: Value) -> Self;
    fn value(self) -> Value;
}

impl Payload for () {
    #[inline]
    fn pack(_: Value) -> Self {}
    #[inline]
    fn value(self) -> Value {
        Value::Null
    }
}

impl Payload for f64 {
    #[inline]
    fn pack(v: Value) -> Self {
        num(v).unwrap_or(0.0)
    }
    #[inline]
    fn value(self) -> Value {
        Value::Float(self)
    }
}

impl Payload for Value {
    #[inline]
    fn pack(v: Value) -> Self {
        v
    }
    #[inline]
    fn value(self) -> Value {
        self
    }
}

/// A pane accumulator of a sliding feature: a plain count for count and rate, Welford
/// state for mean/variance/stddev (16 and 32 bytes with the start instead of 48), the
/// general [`Acc`] otherwise. Adding and merging do exactly what [`Acc`] does.
pub(super) trait Pane: std::fmt::Debug + Sized {
    fn fresh(feat: &mut Feat) -> Self;
    fn recycle(self, feat: &mut Feat);
    fn add(&mut self, ts: i64, v: Value, horizon: i64);
    fn merge_into(&self, scratch: &mut Acc, horizon: i64);
    /// Heap bytes beyond the pane itself.
    fn extra_bytes(&self) -> usize;
    /// The value of a window made of `panes` (in pane order) straight from them, for the
    /// pane types that can (count and Welford): exactly what merging them into the
    /// feature's scratch accumulator and taking its result gives. `None`: use the scratch.
    #[inline]
    fn window_value<'a>(
        _panes: impl Iterator<Item = &'a Self>,
        _agg: &AggKind,
        _window_len: i64,
    ) -> Option<FeatureValue>
    where
        Self: 'a,
    {
        None
    }
}

impl Pane for u64 {
    #[inline]
    fn fresh(_: &mut Feat) -> Self {
        0
    }
    #[inline]
    fn recycle(self, _: &mut Feat) {}
    #[inline]
    fn add(&mut self, _: i64, _: Value, _: i64) {
        *self += 1;
    }
    #[inline]
    fn merge_into(&self, scratch: &mut Acc, _: i64) {
        if let Acc::Count(t) = scratch {
            *t += *self;
        }
    }
    fn extra_bytes(&self) -> usize {
        0
    }
    /// The count over the panes, as [`Acc::result`] gives it for `Acc::Count`.
    #[inline]
    fn window_value<'a>(
        panes: impl Iterator<Item = &'a Self>,
        agg: &AggKind,
        window_len: i64,
    ) -> Option<FeatureValue> {
        let n: u64 = panes.sum();
        Some(match agg {
            AggKind::Rate { unit } => rate(n, window_len, *unit),
            _ => FeatureValue::Int(n as i64),
        })
    }
}

/// Welford pane state (`n`, mean, M2).
#[derive(Debug, Clone, Copy)]
pub(super) struct Wf(pub(super) u64, pub(super) f64, pub(super) f64);

impl Pane for Wf {
    #[inline]
    fn fresh(_: &mut Feat) -> Self {
        Wf(0, 0.0, 0.0)
    }
    #[inline]
    fn recycle(self, _: &mut Feat) {}
    #[inline]
    fn add(&mut self, _: i64, v: Value, _: i64) {
        if let Some(x) = num(v) {
            let Wf(n, mean, m2) = self;
            *n += 1;
            welford_add(mean, m2, x, *n as f64);
        }
    }
    /// The same arithmetic as [`Acc::merge`] of two Welford states (Chan et al.).
    #[inline]
    fn merge_into(&self, scratch: &mut Acc, _: i64) {
        let &Wf(n2, mean2, m22) = self;
        if let Acc::Welford { n, mean, m2 } = scratch {
            crate::agg::welford_merge((n, mean, m2), (n2, mean2, m22));
        }
    }
    fn extra_bytes(&self) -> usize {
        0
    }
    /// The panes merged in order with the arithmetic of [`Self::merge_into`], then
    /// [`welford_value`] as [`Acc::result`] gives it for `Acc::Welford`.
    #[inline]
    fn window_value<'a>(
        panes: impl Iterator<Item = &'a Self>,
        agg: &AggKind,
        _window_len: i64,
    ) -> Option<FeatureValue> {
        let (mut n, mut mean, mut m2) = (0u64, 0.0f64, 0.0f64);
        for &Wf(n2, mean2, m22) in panes {
            crate::agg::welford_merge((&mut n, &mut mean, &mut m2), (n2, mean2, m22));
        }
        Some(welford_value(agg, n, mean, m2))
    }
}

impl Pane for Acc {
    fn fresh(feat: &mut Feat) -> Self {
        feat.take_acc()
    }
    fn recycle(self, feat: &mut Feat) {
        feat.give_acc(self);
    }
    #[inline]
    fn add(&mut self, ts: i64, v: Value, horizon: i64) {
        Acc::add(self, ts, v, horizon);
    }
    #[inline]
    fn merge_into(&self, scratch: &mut Acc, horizon: i64) {
        scratch.merge(self, horizon);
    }
    fn extra_bytes(&self) -> usize {
        self.bytes() - std::mem::size_of::<Acc>()
    }
}

/// Per-key state of a sliding feature (its geometry is in [`Feat::geo`]).
#[derive(Debug)]
pub(super) struct Sliding<P, A> {
    pub(super) kept: Kept<P>,
    pub(super) run: Run,
    /// Panes `(start, acc)` sorted by start.
    pub(super) panes: VecDeque<(i64, A)>,
    /// The earliest end of a window not fired yet that holds a pane ([`NO_END`]: none),
    /// kept up to date so that a timer pop finds it without a search. Which windows have
    /// fired follows from the watermark: whenever no handler of the key is running, every
    /// window holding a pane with `end - 1 <= watermark` has fired (the key's timer is
    /// never later than `next_end - 1`, and a late event fires its windows at once).
    pub(super) next_end: i64,
}

/// The matching events a sliding feature keeps for its exact per-event value, and its
/// live region (its running aggregate is kept beside it, in the caller's own form).
#[derive(Debug)]
pub(super) struct Kept<P> {
    /// Matching events sorted by ts (ties in arrival order).
    pub(super) entries: VecDeque<(i64, P)>,
    /// Index of the first entry with `ts > max_ts - size`.
    pub(super) live: usize,
    pub(super) max_ts: i64,
}

impl<P> Kept<P> {
    fn new() -> Self {
        Kept {
            entries: VecDeque::new(),
            live: 0,
            max_ts: i64::MIN,
        }
    }

    /// Entries in the live region.
    #[inline]
    fn live_len(&self) -> usize {
        self.entries.len() - self.live
    }

    fn bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(i64, P)>()
    }

    /// Starts loading the entries an event reads (the live region's start and the end).
    #[inline]
    fn prefetch_for_event(&self) {
        if let Some(e) = self.entries.get(self.live) {
            prefetch(e);
        }
        if let Some(e) = self.entries.back() {
            prefetch(e);
        }
    }
}

/// [`Sliding::next_end`] when no window holding a pane is left to fire. (No real window
/// end gets there: timestamps are clamped to `±2^61` and windows are bounded.)
pub(super) const NO_END: i64 = i64::MAX;

impl Sliding<Value, Acc> {
    /// Calls `f` with every interned string the state holds (kept events, panes, the
    /// running distinct set).
    pub(super) fn for_each_sym(&self, f: &mut dyn FnMut(crate::Sym)) {
        for (_, v) in &self.kept.entries {
            if let Value::Str(s) = v {
                f(*s)
            }
        }
        for (_, p) in &self.panes {
            p.for_each_sym(f);
        }
        if let Run::Distinct(m) = &self.run {
            m.keys().filter_map(|&k| crate::agg::key_sym(k)).for_each(f);
        }
    }
}

impl<P, A> Sliding<P, A> {
    pub(super) fn new(run: Run) -> Self {
        Sliding {
            kept: Kept::new(),
            run,
            panes: VecDeque::new(),
            next_end: NO_END,
        }
    }

    pub(super) fn bytes(&self) -> usize
    where
        A: Pane,
    {
        self.kept.bytes()
            + match &self.run {
                Run::Mono { dq, .. } => dq.capacity() * 16 + 32,
                Run::Distinct(m) => m.capacity() * 24 + 32,
                _ => 0,
            }
            + self.panes.capacity() * std::mem::size_of::<(i64, A)>()
            + self
                .panes
                .iter()
                .map(|(_, a)| a.extra_bytes())
                .sum::<usize>()
    }

    /// Starts loading the pane and entries a timer handler reads first.
    #[inline]
    pub(super) fn prefetch_for_timer(&self) {
        if let Some(p) = self.panes.front() {
            prefetch(p);
        }
        if let Some(e) = self.kept.entries.front() {
            prefetch(e);
        }
    }

    /// Starts loading the entries and pane an event reads.
    #[inline]
    pub(super) fn prefetch_for_event(&self) {
        self.kept.prefetch_for_event();
        if let Some(p) = self.panes.back() {
            prefetch(p);
        }
    }
}

/// The running aggregate a sliding state of `agg` keeps over its live region.
pub(super) fn new_run(agg: &AggKind) -> Run {
    match agg {
        AggKind::Sum => Run::Sum(0.0),
        AggKind::Mean | AggKind::Variance | AggKind::Stddev => Run::Welford {
            n: 0,
            mean: 0.0,
            m2: 0.0,
        },
        AggKind::Min => Run::Mono {
            max: false,
            dq: Box::default(),
        },
        AggKind::Max => Run::Mono {
            max: true,
            dq: Box::default(),
        },
        AggKind::DistinctCount { .. } => Run::Distinct(Box::default()),
        _ => Run::Plain,
    }
}

impl Run {
    pub(super) fn add(&mut self, ts: i64, v: Value) {
        match self {
            Run::Plain => {}
            Run::Sum(s) => *s += num(v).unwrap_or(0.0),
            Run::Welford { n, mean, m2 } => {
                *n += 1;
                welford_add(mean, m2, num(v).unwrap_or(0.0), *n as f64);
            }
            Run::Mono { max, dq } => {
                let x = num(v).unwrap_or(0.0);
                let key = if *max { x } else { -x };
                // first element with ts > this one (scan from the back: O(disorder))
                let mut pos = dq.len();
                while pos > 0 && dq[pos - 1].0 > ts {
                    pos -= 1;
                }
                if pos < dq.len() && dq[pos].1 >= key {
                    return; // dominated by a later, larger element
                }
                while pos > 0 && dq[pos - 1].1 <= key {
                    dq.remove(pos - 1);
                    pos -= 1;
                }
                dq.insert(pos, (ts, key));
            }
            Run::Distinct(m) => {
                if let Some(k) = value_key(v) {
                    *m.entry(k).or_insert(0) += 1;
                }
            }
        }
    }

    /// Removes the oldest entry of the live region (`remaining` entries stay after it).
    pub(super) fn remove(&mut self, v: Value, remaining: usize) {
        match self {
            Run::Plain | Run::Mono { .. } => {}
            Run::Sum(s) => {
                *s = if remaining == 0 {
                    0.0
                } else {
                    *s - num(v).unwrap_or(0.0)
                }
            }
            Run::Welford { n, mean, m2 } => {
                if *n <= 1 || remaining == 0 {
                    (*n, *mean, *m2) = (0, 0.0, 0.0);
                } else {
                    *n -= 1;
                    welford_remove(mean, m2, num(v).unwrap_or(0.0), *n as f64);
                }
            }
            Run::Distinct(m) => {
                if let Some(k) = value_key(v) {
                    if let Some(c) = m.get_mut(&k) {
                        *c -= 1;
                        if *c == 0 {
                            m.remove(&k);
                        }
                    }
                }
            }
        }
    }
}

impl<P: Payload> Kept<P> {
    /// Moves the start of the live region past every entry with `ts <= cutoff`.
    #[inline]
    pub(super) fn evict_live(&mut self, run: &mut Run, cutoff: i64) {
        while self.live < self.entries.len() && self.entries[self.live].0 <= cutoff {
            let v = self.entries[self.live].1.value();
            self.live += 1;
            let remaining = self.entries.len() - self.live;
            run.remove(v, remaining);
        }
        if let Run::Mono { dq, .. } = run {
            while dq.front().is_some_and(|&(t, _)| t <= cutoff) {
                dq.pop_front();
            }
        }
    }

    /// Drops entries that no acceptable event can ask for any more (`ts <= horizon - size`).
    pub(super) fn prune(&mut self, run: &mut Run, size: i64, horizon: i64) {
        let cutoff = horizon.saturating_sub(size);
        self.evict_live(run, cutoff);
        while self.live > 0 && self.entries.front().is_some_and(|&(t, _)| t <= cutoff) {
            self.entries.pop_front();
            self.live -= 1;
        }
    }
}

impl<P: Copy> Kept<P> {
    /// [`Kept::evict_live`] at `live_cut`, then [`Kept::prune`] at `prune_cut`: the walk of
    /// [`Self::evict`] at `max(live_cut, prune_cut)`, then [`Self::drop_dead`].
    #[inline]
    fn evict_prune(&mut self, live_cut: i64, prune_cut: i64, remove: impl FnMut(P, usize)) {
        self.evict(live_cut.max(prune_cut), remove);
        self.drop_dead(prune_cut);
    }

    /// Moves the start of the live region past every entry with `ts <= cut`, in one walk of
    /// the deque's two slices, handing each one's payload (oldest first) to `remove` with
    /// the number of live entries left after it.
    #[inline]
    fn evict(&mut self, cut: i64, mut remove: impl FnMut(P, usize)) {
        let (a, b) = self.entries.as_slices();
        let len = a.len() + b.len();
        let mut live = self.live;
        // the entries from `live` on, in `a` then in `b`
        let rest = if live < a.len() {
            [&a[live..], b]
        } else {
            [&[][..], &b[live - a.len()..]]
        };
        'walk: for part in rest {
            for &(t, x) in part {
                if t > cut {
                    break 'walk;
                }
                live += 1;
                remove(x, len - live);
            }
        }
        self.live = live;
    }

    /// Drops the entries before the live region with `ts <= prune_cut` (a prefix: the
    /// deque is sorted) — those no acceptable event can ask for any more.
    #[inline]
    fn drop_dead(&mut self, prune_cut: i64) {
        let (a, b) = self.entries.as_slices();
        let live = self.live;
        // the entries before `live` with ts <= prune_cut, in `a` then in `b`
        let before_a = &a[..live.min(a.len())];
        let mut dead = before_a.iter().take_while(|e| e.0 <= prune_cut).count();
        if dead == a.len() && live > a.len() {
            dead += b[..live - a.len()]
                .iter()
                .take_while(|e| e.0 <= prune_cut)
                .count();
        }
        self.live = live - dead;
        if dead == 1 {
            self.entries.pop_front();
        } else if dead > 1 {
            // a batch: one move of the deque's head
            self.entries.drain(..dead);
        }
    }
}

impl<P: Payload, A: Pane> Sliding<P, A> {
    /// [`Self::next_end`] as an option.
    #[inline]
    pub(super) fn cached_next(&self) -> Option<i64> {
        (self.next_end != NO_END).then_some(self.next_end)
    }

    /// The earliest window end after `fired_to` that holds a pane, found by a search (every
    /// window with `end <= fired_to` has been handled).
    pub(super) fn next_fire(&self, g: &Geo, fired_to: i64) -> Option<i64> {
        if g.aligned {
            // pane starts are window starts: the first end after a pane p is p + slide, and
            // the first end after fired_to (divided for once) serves every pane before it
            let f = fired_to;
            let mut after_f = None;
            for &(p, _) in &self.panes {
                let e = if f < p {
                    p.saturating_add(g.slide)
                } else {
                    *after_f.get_or_insert_with(|| g.next_end_after(f))
                };
                if e.saturating_sub(g.size) <= p {
                    return Some(e);
                }
            }
            return None;
        }
        for &(p, _) in &self.panes {
            let e = g.next_end_after(fired_to.max(p));
            if e.saturating_sub(g.size) <= p {
                return Some(e);
            }
        }
        None
    }

    /// [`Self::next_fire`] right after firing the window ending at `e` (`fired_to = e`):
    /// the next window end is `e + slide`, the answer whenever that window holds a pane
    /// (the common case, found without dividing).
    pub(super) fn next_fire_after_fired(&self, g: &Geo, e: i64) -> Option<i64> {
        let next = e.saturating_add(g.slide);
        let start = next.saturating_sub(g.size);
        // the first pane from `start` on, searched in the deque's two slices in turn
        let (a, b) = self.panes.as_slices();
        let first = match a.iter().find(|&&(p, _)| p >= start) {
            Some(x) => Some(x),
            None => b.iter().find(|&&(p, _)| p >= start),
        };
        if let Some(&(p, _)) = first {
            if p < next {
                return Some(next);
            }
        }
        self.next_fire(g, e)
    }

    /// Emits the row of the window `[start, end)` from its panes: typed when the pane type
    /// can ([`Pane::window_value`]), through the feature's scratch accumulator otherwise.
    #[inline]
    pub(super) fn emit_window(
        &self,
        feat: &mut Feat,
        ctx: &mut Ctx<'_>,
        start: i64,
        end: i64,
        update: bool,
    ) where
        A: Pane,
    {
        let size = feat.geo.size;
        let panes = self
            .panes
            .iter()
            .skip_while(|&&(p, _)| p < start)
            .take_while(|&&(p, _)| p < end)
            .map(|(_, a)| a);
        if let Some(value) = A::window_value(panes, &feat.agg, size) {
            ctx.push(start, end, value, update);
            return;
        }
        self.merge_window(&mut feat.scratch, start, end, ctx.horizon);
        ctx.emit(feat, &feat.scratch, start, end, end, size, update);
    }

    /// Merges the panes of `[start, end)` into `scratch`; returns how many there were.
    pub(super) fn merge_window(
        &self,
        scratch: &mut Acc,
        start: i64,
        end: i64,
        horizon: i64,
    ) -> usize {
        scratch.reset();
        let mut n = 0;
        for (p, acc) in &self.panes {
            if *p >= end {
                break;
            }
            if *p >= start {
                acc.merge_into(scratch, horizon);
                n += 1;
            }
        }
        n
    }
}

/// Applies an event to the kept events and running aggregate of a sliding feature and
/// writes its per-event value (panes, per key or in a ring, are the caller's).
#[inline(always)]
fn kept_event<P: Payload>(
    feat: &mut Feat,
    k: &mut Kept<P>,
    run: &mut Run,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureOut<'_>,
    horizon: i64,
) {
    let size = feat.geo.size;
    let in_order = ts >= k.max_ts;
    let new_max = k.max_ts.max(ts);
    k.max_ts = new_max;
    k.evict_live(run, new_max.saturating_sub(size));
    k.prune(run, size, horizon);

    // ---- per-event value
    if in_order {
        if let Some(v) = m {
            grow_gently(&mut k.entries);
            k.entries.push_back((ts, P::pack(v)));
            run.add(ts, v);
        }
        let live_len = k.entries.len() - k.live;
        match (&*run, &feat.agg) {
            (Run::Sum(x), _) => out.set(FeatureValue::Num(*x)),
            (&Run::Welford { n, mean, m2 }, k) => out.set(welford_value(k, n, mean, m2)),
            (Run::Mono { max, dq }, _) => out.set(match dq.front() {
                Some(&(_, key)) => FeatureValue::Num(if *max { key } else { -key }),
                None => FeatureValue::Null,
            }),
            (Run::Distinct(map), _) => out.set(FeatureValue::Int(map.len() as i64)),
            (Run::Plain, AggKind::Rate { unit }) => out.set(rate(live_len as u64, size, *unit)),
            (Run::Plain, AggKind::LastN { n }) => {
                let from = k.entries.len() - live_len.min(*n);
                out.items(k.entries.range(from..).map(|&(_, v)| v.value()));
            }
            (Run::Plain, AggKind::Recency) => out.set(match k.entries.back() {
                Some(&(t, _)) if live_len > 0 => FeatureValue::Int(ts.saturating_sub(t)),
                _ => FeatureValue::Null,
            }),
            (Run::Plain, _) => out.set(FeatureValue::Int(live_len as i64)),
        }
    } else {
        kept_out_of_order(feat, k, run, ts, m, out);
    }
}

/// The part of [`kept_event`] for an event older than the key's maximum (`ts < max_ts`),
/// after the evictions: inserts it in place and writes its exact value.
fn kept_out_of_order<P: Payload>(
    feat: &mut Feat,
    k: &mut Kept<P>,
    run: &mut Run,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureOut<'_>,
) {
    if let Some(v) = m {
        let pos = k
            .entries
            .iter()
            .rposition(|&(t, _)| t <= ts)
            .map_or(0, |p| p + 1);
        grow_gently(&mut k.entries);
        insert_at(&mut k.entries, pos, (ts, P::pack(v)));
        if ts > k.max_ts.saturating_sub(feat.geo.size) {
            run.add(ts, v);
        } else {
            k.live += 1;
        }
    }
    out_of_order_value(feat, k, run, ts, out);
}

/// [`SlidingState::event`] for a state that keeps its panes.
fn panes_event<P: Payload, A: Pane>(
    feat: &mut Feat,
    s: &mut Sliding<P, A>,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureOut<'_>,
    ctx: &mut Ctx<'_>,
    late: bool,
) -> i64 {
    let g = feat.geo;
    let size = g.size;
    // a feature whose panes are in a ring has a `RingSliding` state instead
    debug_assert!(!feat.in_ring);
    kept_event(feat, &mut s.kept, &mut s.run, ts, m, out, ctx.horizon);

    // ---- panes for window-close rows
    let pstart = aligned_start(ts, feat.pane, g.offset);
    let mut idx = s.panes.len();
    while idx > 0 && s.panes[idx - 1].0 > pstart {
        idx -= 1;
    }
    let existed = idx > 0 && s.panes[idx - 1].0 == pstart;
    if existed {
        idx -= 1;
    } else {
        let acc = A::fresh(feat);
        grow_gently(&mut s.panes);
        insert_at(&mut s.panes, idx, (pstart, acc));
    }
    if let Some(v) = m {
        s.panes[idx].1.add(ts, v, ctx.horizon);
    }
    let first_end = if g.aligned {
        // the window starting at the pane is the last one holding ts (the slide divides
        // the size), so the first holding it ends one slide after the pane's start
        pstart.saturating_add(g.slide)
    } else {
        g.next_end_after(ts)
    };
    if late {
        // fire every window holding ts whose end - 1 <= watermark, right now
        let mut e = first_end;
        while e.saturating_sub(1) <= ctx.wm && e.saturating_sub(size) <= ts {
            let start = e - size;
            let others = s
                .panes
                .iter()
                .any(|&(p, _)| p != pstart && p >= start && p < e);
            let update = existed || others;
            s.emit_window(feat, ctx, start, e, update);
            e = e.saturating_add(g.slide);
        }
        // every window holding a pane with end - 1 <= watermark has fired now
        let next = s.next_fire(&g, ctx.wm.saturating_add(1));
        s.next_end = next.unwrap_or(NO_END);
        sliding_need_given(s, &g, ctx.lat, next)
    } else {
        // ts is after the watermark, so no window holding it has fired: the first one is
        // the pane's next firing, and the state's if it is earlier than the one known
        s.next_end = s.next_end.min(first_end);
        debug_assert_eq!(s.cached_next(), s.next_fire(&g, ctx.wm.saturating_add(1)));
        first_end.saturating_sub(1)
    }
}

/// Makes room for one more item, growing a full buffer by a quarter (at least 4) instead
/// of doubling it: a key's buffers stop growing once they hold its largest window, and
/// then waste about an eighth on average instead of about a quarter (amortised O(1) still).
#[inline]
pub(super) fn grow_gently<T>(dq: &mut VecDeque<T>) {
    let n = dq.len();
    if n == dq.capacity() {
        dq.reserve_exact((n / 4).max(4));
    }
}

/// Index of the first entry with `ts > bound`, given that every entry from `from` on is
/// after `bound`: a short backward scan (O(disorder), cache friendly), falling back to a
/// binary search when the distance is large.
pub(super) fn first_after<P>(entries: &VecDeque<(i64, P)>, from: usize, bound: i64) -> usize {
    let mut j = from.min(entries.len());
    for _ in 0..32 {
        if j == 0 || entries[j - 1].0 <= bound {
            return j;
        }
        j -= 1;
    }
    entries.partition_point(|e| e.0 <= bound).min(j)
}

/// The exact value over `(ts - size, ts]` for an event older than the key's maximum.
///
/// `hi` / `lo` bound that range in the sorted deque (binary search). Count and rate take
/// `hi - lo`; sum, mean, variance and stddev correct the live-region running aggregate by
/// the entries after `ts` and the entries between `ts - size` and the live region — both
/// O(disorder); last-N and recency read at most `n` / one entry before `hi`. Min, max and
/// distinct count scan `[lo, hi)`: O(window contents), paid only by out-of-order events.
pub(super) fn out_of_order_value<P: Payload>(
    feat: &mut Feat,
    s: &Kept<P>,
    run: &Run,
    ts: i64,
    out: &mut FeatureOut<'_>,
) {
    let size = feat.geo.size;
    let hi = first_after(&s.entries, s.entries.len(), ts);
    let lo_bound = ts.saturating_sub(size);
    let lo = first_after(&s.entries, s.live.min(hi), lo_bound);
    let ctx = ResultCtx {
        window_len: size,
        as_of: ts,
    };
    match (run, &feat.agg) {
        (Run::Sum(x), _) => {
            let mut sum = if hi < s.live { 0.0 } else { *x };
            for &(_, v) in s.entries.range(hi.max(s.live)..) {
                if hi >= s.live {
                    sum -= num(v.value()).unwrap_or(0.0);
                }
            }
            for &(_, v) in s.entries.range(lo..s.live.min(hi)) {
                sum += num(v.value()).unwrap_or(0.0);
            }
            out.set(FeatureValue::Num(if hi == lo { 0.0 } else { sum }));
        }
        (&Run::Welford { n, mean, m2 }, k) => {
            // running covers [live, len); the answer covers [lo, hi)
            let mut w = if hi < s.live {
                Run::Welford {
                    n: 0,
                    mean: 0.0,
                    m2: 0.0,
                }
            } else {
                let mut w = Run::Welford { n, mean, m2 };
                let mut remaining = s.entries.len() - s.live;
                for &(_, v) in s.entries.range(hi..) {
                    remaining = remaining.saturating_sub(1);
                    w.remove(v.value(), remaining);
                }
                w
            };
            for &(t, v) in s.entries.range(lo..s.live.min(hi)) {
                w.add(t, v.value());
            }
            if let Run::Welford { n, mean, m2 } = w {
                out.set(welford_value(k, n, mean, m2));
            }
        }
        (Run::Plain, AggKind::Rate { unit }) => out.set(rate((hi - lo) as u64, size, *unit)),
        (Run::Plain, AggKind::LastN { n }) => {
            let from = hi - (hi - lo).min(*n);
            out.items(s.entries.range(from..hi).map(|&(_, v)| v.value()));
        }
        (Run::Plain, AggKind::Recency) => out.set(if hi > lo {
            FeatureValue::Int(ts.saturating_sub(s.entries[hi - 1].0))
        } else {
            FeatureValue::Null
        }),
        (Run::Plain, _) => out.set(FeatureValue::Int((hi - lo) as i64)),
        _ => {
            let scratch = &mut feat.scratch;
            scratch.reset();
            for &(t, v) in s.entries.range(lo..hi) {
                scratch.add(t, v.value(), ts);
            }
            out.acc(scratch, &feat.agg, ctx);
        }
    }
}

/// Everything this sliding state will need next (a firing, a pane drop or a final prune),
/// given its next firing.
pub(super) fn sliding_need_given<P, A>(
    s: &Sliding<P, A>,
    g: &Geo,
    lat: i64,
    next_fire: Option<i64>,
) -> i64 {
    let mut need = next_fire.map_or(NO_TIMER, |e| e.saturating_sub(1));
    if let Some(&(p, _)) = s.panes.front() {
        need = need.min(g.pane_drop_time(p, lat));
    } else if let Some(&(t, _)) = s.kept.entries.back() {
        need = need.min(t.saturating_add(g.size).saturating_add(lat));
    }
    need
}

/// When a sliding state whose panes are in a ring next prunes its events: after every event
/// it holds is a window and a lateness old, and a window later still, rounded up to a
/// multiple of the power of two at or above the window size (no division). A key with events
/// prunes them itself (at its events), so only a key gone quiet needs this; the rounding lets
/// the timers of many keys share a time.
pub(super) fn cleanup_need<P>(s: &Kept<P>, g: &Geo, lat: i64) -> i64 {
    s.entries
        .back()
        .map_or(NO_TIMER, |&(t, _)| cleanup_need_after(t, g, lat))
}

/// [`cleanup_need`] of a state whose latest event is at `t`.
#[inline]
fn cleanup_need_after(t: i64, g: &Geo, lat: i64) -> i64 {
    // |t| is at most 2^61, size and lateness 2^50 (the mask below 2^51): no overflow
    let mask = (g.size as u64).next_power_of_two() as i64 - 1;
    ((t + 2 * g.size + lat) | mask) + 1
}

/// [`SlidingState::timer`] for a state that keeps its panes.
fn panes_timer<P: Payload, A: Pane>(
    feat: &mut Feat,
    s: &mut Sliding<P, A>,
    ctx: &mut Ctx<'_>,
) -> i64 {
    let g = feat.geo;
    debug_assert!(!feat.in_ring);
    let mut next = s.cached_next();
    while let Some(e) = next {
        if e.saturating_sub(1) > ctx.wm {
            break;
        }
        let start = e.saturating_sub(g.size);
        s.emit_window(feat, ctx, start, e, false);
        next = s.next_fire_after_fired(&g, e);
    }
    s.next_end = next.unwrap_or(NO_END);
    while let Some(&(p, _)) = s.panes.front() {
        if g.pane_drop_time(p, ctx.lat) > ctx.wm {
            break;
        }
        if let Some((_, acc)) = s.panes.pop_front() {
            acc.recycle(feat);
        }
    }
    s.kept.prune(&mut s.run, g.size, ctx.horizon);
    // still the next firing: that window ends after the watermark, so none of its panes
    // was due to be dropped
    debug_assert_eq!(next, s.next_fire(&g, ctx.wm.saturating_add(1)));
    sliding_need_given(s, &g, ctx.lat, next)
}

/// A per-key sliding state, with its panes ([`Sliding`]) or without ([`RingSliding`]).
pub(super) trait SlidingState {
    /// Applies an event; writes the per-event value; returns a timer need.
    fn event(
        &mut self,
        feat: &mut Feat,
        ts: i64,
        m: Option<Value>,
        out: &mut FeatureOut<'_>,
        ctx: &mut Ctx<'_>,
        late: bool,
    ) -> i64;
    /// Runs the timer handler (firings, pane drops, pruning); returns the next need.
    fn timer(&mut self, feat: &mut Feat, ctx: &mut Ctx<'_>) -> i64;
    /// Starts loading the entries (and pane) an event reads.
    fn prefetch_for_event(&self);
    /// Starts loading the entries (and pane) a timer handler reads first.
    fn prefetch_for_timer(&self);
}

impl<P: Payload, A: Pane> SlidingState for Sliding<P, A> {
    #[inline]
    fn event(
        &mut self,
        feat: &mut Feat,
        ts: i64,
        m: Option<Value>,
        out: &mut FeatureOut<'_>,
        ctx: &mut Ctx<'_>,
        late: bool,
    ) -> i64 {
        panes_event(feat, self, ts, m, out, ctx, late)
    }
    #[inline]
    fn timer(&mut self, feat: &mut Feat, ctx: &mut Ctx<'_>) -> i64 {
        panes_timer(feat, self, ctx)
    }
    #[inline]
    fn prefetch_for_event(&self) {
        Sliding::prefetch_for_event(self)
    }
    #[inline]
    fn prefetch_for_timer(&self) {
        Sliding::prefetch_for_timer(self)
    }
}

/// The running aggregate of a [`RingSliding`] state without its count, which is the live
/// region's length: nothing for count and rate, Welford's mean and M2 for mean, variance
/// and stddev. Its typed steps do the arithmetic of [`Run`] (bit for bit); the out-of-order
/// path makes it a [`Run`] for the length of one call.
pub(super) trait RingRun<P>: Copy + Default + std::fmt::Debug {
    /// The [`Run`] over a live region of `n` entries.
    fn load(self, n: usize) -> Run;
    /// Back from the [`Run`] that [`Self::load`] gave.
    fn store(run: &Run) -> Self;
    /// [`Run::add`] of the payload `x` entering the live region, which then holds `n`.
    fn add(&mut self, x: P, n: usize);
    /// [`Run::remove`] of the payload `x` leaving the live region (`remaining` entries
    /// stay after it).
    fn remove(&mut self, x: P, remaining: usize);
    /// The per-event value over a live region of `n` entries, as [`kept_event`] gives it.
    fn value(&self, n: usize, agg: &AggKind, size: i64) -> FeatureValue;
}

impl RingRun<()> for () {
    #[inline]
    fn load(self, _: usize) -> Run {
        Run::Plain
    }
    #[inline]
    fn store(_: &Run) -> Self {}
    #[inline]
    fn add(&mut self, _: (), _: usize) {}
    #[inline]
    fn remove(&mut self, _: (), _: usize) {}
    #[inline]
    fn value(&self, n: usize, agg: &AggKind, size: i64) -> FeatureValue {
        match agg {
            AggKind::Rate { unit } => rate(n as u64, size, *unit),
            _ => FeatureValue::Int(n as i64),
        }
    }
}

/// Welford mean and M2 (the count `n` is the live region's length: every matching event of
/// a numeric aggregation is added to the run when it enters the live region and removed
/// when it leaves it).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct WfRun {
    mean: f64,
    m2: f64,
}

impl RingRun<f64> for WfRun {
    #[inline]
    fn load(self, n: usize) -> Run {
        Run::Welford {
            n: n as u64,
            mean: self.mean,
            m2: self.m2,
        }
    }
    #[inline]
    fn store(run: &Run) -> Self {
        match *run {
            Run::Welford { mean, m2, .. } => WfRun { mean, m2 },
            _ => WfRun::default(),
        }
    }
    #[inline]
    fn add(&mut self, x: f64, n: usize) {
        // n < 2^53: the same f64 as through u64, with one conversion instruction
        welford_add(&mut self.mean, &mut self.m2, x, n as i64 as f64);
    }
    #[inline]
    fn remove(&mut self, x: f64, remaining: usize) {
        // `remaining` is the run's count less one: Run::remove's `n <= 1` is `remaining == 0`
        if remaining == 0 {
            *self = WfRun::default();
        } else {
            // as in `add`
            welford_remove(&mut self.mean, &mut self.m2, x, remaining as i64 as f64);
        }
    }
    #[inline]
    fn value(&self, n: usize, agg: &AggKind, _: i64) -> FeatureValue {
        welford_value(agg, n as u64, self.mean, self.m2)
    }
}

/// Per-key state of a sliding feature whose panes are in a [`Ring`]: only the kept events
/// and the running aggregate (64 bytes instead of the 120 of a [`Sliding`]), aligned to a
/// cache line so that an event of a random key touches one line of it, not two.
#[derive(Debug)]
#[repr(align(64))]
pub(super) struct RingSliding<P, R> {
    pub(super) kept: Kept<P>,
    pub(super) run: R,
}

impl<P, R: RingRun<P>> RingSliding<P, R> {
    pub(super) fn new() -> Self {
        RingSliding {
            kept: Kept::new(),
            run: R::default(),
        }
    }

    pub(super) fn bytes(&self) -> usize {
        self.kept.bytes()
    }
}

impl<P: Payload, R: RingRun<P>> SlidingState for RingSliding<P, R> {
    /// [`kept_event`] with one eviction walk: for an event in order [`Kept::evict`] and the
    /// typed steps of [`RingRun`] instead of a [`Run`], the pruned entries dropped only when
    /// the deque is full ([`Kept::drop_dead`]); [`Kept::evict_prune`] for one out of order.
    #[inline]
    fn event(
        &mut self,
        feat: &mut Feat,
        ts: i64,
        m: Option<Value>,
        out: &mut FeatureOut<'_>,
        ctx: &mut Ctx<'_>,
        _late: bool,
    ) -> i64 {
        debug_assert!(feat.in_ring);
        let size = feat.geo.size;
        let prune_cut = ctx.horizon.saturating_sub(size);
        let k = &mut self.kept;
        let run = &mut self.run;
        if ts >= k.max_ts {
            k.max_ts = ts;
            // ts is clamped to ±2^61 and size at most 2^50: no overflow
            // the entries with ts <= prune_cut leave the live region now, but stay in the
            // deque until it fills (no event reads them: the lowest bound an accepted event
            // searches for, `ts - size`, is above prune_cut), so that they go in batches
            // and the deque grows only when it is full of entries still wanted
            k.evict((ts - size).max(prune_cut), |x, left| run.remove(x, left));
            // the ring keeps the panes and fires their windows (a late event's too)
            let Some(v) = m else {
                out.set(run.value(k.live_len(), &feat.agg, size));
                return cleanup_need(k, &feat.geo, ctx.lat);
            };
            let x = P::pack(v);
            if k.entries.len() == k.entries.capacity() {
                k.drop_dead(prune_cut);
                grow_gently(&mut k.entries);
            }
            k.entries.push_back((ts, x));
            let n = k.live_len();
            run.add(x, n);
            out.set(run.value(n, &feat.agg, size));
            // the latest event is this one
            cleanup_need_after(ts, &feat.geo, ctx.lat)
        } else {
            self.out_of_order_event(feat, ts, m, out, prune_cut);
            cleanup_need(&self.kept, &feat.geo, ctx.lat)
        }
    }
    fn timer(&mut self, feat: &mut Feat, ctx: &mut Ctx<'_>) -> i64 {
        let g = feat.geo;
        let run = &mut self.run;
        let prune_cut = ctx.horizon.saturating_sub(g.size);
        // Kept::prune: the live cut is the prune cut
        self.kept
            .evict_prune(prune_cut, prune_cut, |x, left| run.remove(x, left));
        cleanup_need(&self.kept, &g, ctx.lat)
    }
    #[inline]
    fn prefetch_for_event(&self) {
        self.kept.prefetch_for_event();
    }
    #[inline]
    fn prefetch_for_timer(&self) {
        if let Some(e) = self.kept.entries.front() {
            prefetch(e);
        }
    }
}

impl<P: Payload, R: RingRun<P>> RingSliding<P, R> {
    /// [`SlidingState::event`] for an event older than the key's maximum (rare: kept out
    /// of line, so that the in-order path stays small where it is inlined).
    #[cold]
    #[inline(never)]
    fn out_of_order_event(
        &mut self,
        feat: &mut Feat,
        ts: i64,
        m: Option<Value>,
        out: &mut FeatureOut<'_>,
        prune_cut: i64,
    ) {
        let k = &mut self.kept;
        let run = &mut self.run;
        k.evict_prune(k.max_ts - feat.geo.size, prune_cut, |x, left| {
            run.remove(x, left)
        });
        let mut run = self.run.load(k.live_len());
        kept_out_of_order(feat, k, &mut run, ts, m, out);
        self.store(&run);
    }
}

impl<P, R: RingRun<P>> RingSliding<P, R> {
    #[inline]
    fn store(&mut self, run: &Run) {
        if let Run::Welford { n, .. } = *run {
            debug_assert_eq!(n, self.kept.live_len() as u64);
        }
        self.run = R::store(run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Kept::evict_prune`] does what [`Kept::evict_live`] then [`Kept::prune`] do, bit for
    /// bit, wherever the deque wraps around its buffer.
    #[test]
    fn evict_prune_is_evict_live_then_prune() {
        let cuts = [i64::MIN, 5, 10, 25, 40, 45, 70, 90];
        for rot in 0..8 {
            for start_live in 0..=7 {
                for live_cut in cuts {
                    for prune_cut in cuts {
                        let mut k: Kept<f64> = Kept::new();
                        k.entries = VecDeque::with_capacity(8);
                        for _ in 0..rot {
                            k.entries.push_back((0, 0.0));
                            k.entries.pop_front();
                        }
                        let mut wf = WfRun::default();
                        for t in 1..=7i64 {
                            let x = (t * t % 5) as f64 + 0.25;
                            k.entries.push_back((t * 10, x));
                            if t as usize > start_live {
                                wf.add(x, t as usize - start_live);
                            }
                        }
                        k.live = start_live;
                        // the reference
                        let mut r: Kept<f64> = Kept::new();
                        r.entries = k.entries.clone();
                        r.live = k.live;
                        let mut run = wf.load(r.live_len());
                        r.evict_live(&mut run, live_cut);
                        r.prune(&mut run, 0, prune_cut);
                        let want = WfRun::store(&run);

                        k.evict_prune(live_cut, prune_cut, |x, left| wf.remove(x, left));
                        assert_eq!(
                            k.entries, r.entries,
                            "{rot} {start_live} {live_cut} {prune_cut}"
                        );
                        assert_eq!(k.live, r.live);
                        assert_eq!(wf.mean.to_bits(), want.mean.to_bits());
                        assert_eq!(wf.m2.to_bits(), want.m2.to_bits());
                    }
                }
            }
        }
    }
}
