//! The keyed feature engine: per-event (point-in-time) feature vectors and window-close rows.
//!
//! # State layout
//! Keys are dense interned ids, so every key's state lives in `Vec`s indexed by
//! [`KeyId`]: one column per feature, with slots of that feature kind's own size (32 bytes
//! for a tumbling or session feature, 120 for a sliding one). Sliding states are typed
//! by what they keep: a timestamp alone per event for count, rate and recency, a
//! timestamp and an `f64` for numeric aggregations, the whole [`Value`] only for last-N
//! and distinct count; panes are a plain count for count and rate, Welford state for
//! mean/variance/stddev, a general accumulator otherwise.
//!
//! The panes of tumbling windows, and of sliding windows of up to a few dozen panes, for
//! count, rate, mean, variance and stddev are not kept per key: each such feature keeps
//! one [`ring`] of pane columns for all keys, and its windows fire by one sweep over the
//! keys present, in key order, when the watermark passes their end (see [`ring`]). Such a
//! tumbling feature has no per-key state at all (its window is its pane).
//!
//! Everything else that fires or cleans up per key (sessions, global event-time triggers,
//! other panes, the kept events of a sliding feature whose key went quiet) is driven by one
//! event-time timer queue of `(time, key)` grouped by time (the timers of aligned windows
//! of many keys share one): each key has a small timer record apart from its states (its
//! live timer, then the earliest time each feature needs its handler), at most one live
//! timer per key (the minimum), stale entries are skipped when popped, and one pop serves
//! every feature of the key that is due, reading only the states that are.
//!
//! With many keys the engine waits on memory more than it computes, so it prefetches: the
//! records of the keys a few timer pops ahead and, through
//! [`FeatureEngine::prefetch_upcoming`], the lines of the key of an event a few events
//! ahead (records, ring panes and online-store row first, then the buffers they point to),
//! so that the misses of several events overlap.
//!
//! # Per-event ("as of") values — what each window kind gives
//! * **Sliding** `size`: exactly the matching events seen so far with `ts` in
//!   `(t - size, t]`, the event included (DESIGN §3). The key keeps a ts-sorted deque of
//!   matching events and a *live region* `(max_ts - size, max_ts]` with running
//!   aggregates: count (deque length), sum, Welford mean/M2 with exact removal (reset to
//!   exact zero when the region empties), a monotonic deque for min/max, a value→count map
//!   for distinct count (exact: the window's contents are held anyway). In-order events cost
//!   O(1) amortised. An out-of-order event (`t < max_ts`) is inserted at its sorted place
//!   (O(disorder)) and its own value is computed by a scan of `(t - size, t]`, so it costs
//!   O(window contents) — exact, and only paid by out-of-order events. Events older than
//!   `watermark - allowed_lateness - size` can never be asked for again and are pruned, so
//!   the deque holds at most the window's contents plus the out-of-orderness/lateness span.
//! * **Tumbling**: the state of the event's tumbling window after applying the event
//!   (events so far in that window, including ones with a later `ts` that arrived earlier).
//! * **Session**: the state of the (merged) session the event belongs to after applying it.
//! * **Global**: the key's global window state after applying the event (before a purge).
//! * **Recency** is always "as of the scored event": `t - (last matching ts <= t)` within
//!   that window state; `Null` if there is none.
//! * **Rate** divides by the window length: sliding/tumbling `size`, session `end - start`
//!   of the merged session. Rate over a global window is refused (no length).
//!
//! # Window-close rows
//! A time window fires when the watermark reaches `end - 1` and its state is dropped at
//! `end - 1 + allowed_lateness`. Rows fired by one watermark advance come in firing-time
//! order per key and feature; across keys and features their order is not specified.
//! Sliding windows use pane (slice) aggregation: each event
//! updates one pane of `gcd(size, slide)` ms; a window's row merges its `size / pane`
//! panes when it fires (count/rate and mean/variance/stddev rows are computed straight
//! from their typed panes, in the same order and arithmetic as the general merge). Each
//! sliding state keeps its next window end to fire, so a timer pop does not search for it;
//! which windows have fired follows from the watermark. Rows carry `update = true` when that window had already been
//! emitted before (a late re-firing, or a session extended/merged after it fired).
//! Windows are created by any event of the key; the filter selects what is aggregated,
//! so a window whose events all fail the filter still fires (count 0, mean `Null`).
//!
//! Global windows fire on their trigger: every event and every N events of the key fire
//! from [`FeatureEngine::process`]; an event-time trigger of `T` fires when the watermark
//! reaches `b - 1` for the boundary `b` (multiple of `T`) after the events, only if events
//! arrived since the last firing. Global rows have `start = i64::MIN`, `end = i64::MAX`;
//! their recency is measured to the triggering event (every/count) or, for the event-time
//! trigger, to the boundary after the latest event. [`FeatureEngine::finish`] fires pending
//! event-time global windows once; every-N windows with fewer than N new events do not fire.
//!
//! # Lateness
//! An event with `ts + allowed_lateness <= watermark` is [`Outcome::Late`] and changes
//! nothing. An event with `ts <= watermark` within the lateness is "late": with
//! [`LatePolicy::Update`] it is applied everywhere and every window that contains it and has
//! `end - 1 <= watermark` fires immediately into `closed` (`update = true` if that window had
//! fired before); with [`LatePolicy::Discard`] it is counted by the caller and changes
//! nothing at all (no state, no per-event row) — a simple rule that keeps every feature
//! consistent.
//!
//! # Bounds (per key and feature)
//! Sliding: matching events within `size + allowed_lateness + (watermark lag)` plus panes
//! over the same span. Tumbling/session: the windows not yet dropped. Global: O(1) for
//! count/sum/mean/variance/min/max, `n` for last-N, `exact_limit` values then a 4 KiB
//! HyperLogLog for distinct count, the recency timestamps newer than the lateness horizon.
//! After warm-up no heap allocation happens per event: deques keep their capacity, dropped
//! window accumulators go to a per-feature pool and are reused, `Seq` values are refilled.
//!
//! Timestamps are expected in the accepted event range; anything else is clamped to
//! `±2^61` ms so that window arithmetic can never overflow.
//!
//! # Cost
//! For the example spec (benches/engine.rs: 5-minute sliding count, 1-hour mean sliding
//! by 5 minutes, last 10 pages per 30-minute session, logins per minute, recency of the
//! last purchase) over 100k keys [`FeatureEngine::state_bytes`] reports about 3.1 KB per
//! key, most of it the hour of events (timestamp and value) the exact sliding mean must
//! keep plus its panes. With that much state spread over uniformly random keys, each event
//! and each timer pop touches a couple of dozen cache lines of a random key; the
//! prefetches above overlap those misses, so that the cost is about half arithmetic, half
//! memory (about 4,600 instructions per event in that bench, which also emits 3.7
//! window-close rows per event; about 1,600 of them fire windows and pop timers).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rustc_hash::FxHashMap;

use crate::agg::{
    insert_at, num, rate, value_key, welford_value, Acc, AggKind, FeatureValue, ResultCtx,
};
use crate::feature::FeatureSpec;
use crate::window::{aligned_start, Trigger, WindowSpec};
use crate::{CoreError, Event, KeyId, Timestamp, Value};

mod ring;
use ring::Ring;

/// What to do with an event behind the watermark but within allowed lateness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatePolicy {
    /// Update its windows and re-emit their results with `update = true`.
    Update,
    /// Count it and leave already-fired windows unchanged.
    Discard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    pub allowed_lateness: i64,
    pub late_policy: LatePolicy,
}

/// One window-close (or late update) result.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    pub key: KeyId,
    /// Index into [`FeatureEngine::features`].
    pub feature: usize,
    pub start: Timestamp,
    pub end: Timestamp,
    pub value: FeatureValue,
    /// `true` for a re-firing caused by a late event.
    pub update: bool,
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied; the per-event row holds its features.
    Accepted,
    /// Behind the watermark but within allowed lateness, and applied (policy `update`).
    LateUpdated,
    /// Behind the watermark but within allowed lateness, and ignored (policy `discard`).
    LateDiscarded,
    /// Behind all its windows (`ts + allowed_lateness <= watermark`): goes to the late output.
    Late,
}

const TS_CLAMP: i64 = 1 << 61;
const NO_TIMER: i64 = i64::MAX;
/// Timer pops ahead of the current one whose key record and states are prefetched, and
/// whose due buffers are prefetched.
const PREFETCH_FAR: usize = 12;
const PREFETCH_NEAR: usize = 5;
/// Events ahead whose key state, and whose state's buffers, [`FeatureEngine::prefetch_upcoming`]
/// starts loading.
const PREFETCH_EVENTS_FAR: usize = 8;
const PREFETCH_EVENTS_NEAR: usize = 3;

/// A feature compiled for the engine.
struct Feat {
    agg: AggKind,
    field: Option<usize>,
    filter: Option<crate::filter::Filter>,
    window: WindowSpec,
    /// Sliding pane length: gcd(size, slide).
    pane: i64,
    /// Sliding window geometry (kept here, not in every key's state).
    geo: Geo,
    /// Scratch accumulator for scans and pane merges (exact distinct).
    scratch: Acc,
    /// Reusable accumulators of dropped windows.
    pool: Vec<Acc>,
    /// `agg.needs_field()`, `agg.needs_numeric()`.
    needs_field: bool,
    needs_numeric: bool,
    /// The panes of this (tumbling or sliding) feature are in a [`Ring`] for all keys, not
    /// per key.
    in_ring: bool,
}

impl Feat {
    fn take_acc(&mut self) -> Acc {
        match self.pool.pop() {
            Some(a) => a,
            None => Acc::new(&self.agg),
        }
    }

    fn give_acc(&mut self, mut a: Acc) {
        a.reset();
        if self.pool.len() < 4096 {
            self.pool.push(a);
        }
    }

    /// Does the event count for this feature, and with which value?
    #[inline]
    fn matched(&self, ev: &Event) -> Option<Value> {
        if let Some(f) = &self.filter {
            if !f.matches(ev) {
                return None;
            }
        }
        if !self.needs_field {
            return Some(Value::Null);
        }
        let v = self.field.map_or(Value::Null, |f| ev.field(f));
        if self.needs_numeric {
            num(v).map(|_| v)
        } else if matches!(v, Value::Null) {
            None
        } else {
            Some(v)
        }
    }
}

/// One tumbling window or session of one key.
#[derive(Debug)]
struct Win {
    start: i64,
    end: i64,
    acc: Acc,
    /// Has been emitted at least once.
    emitted: bool,
    /// Has changes not emitted yet.
    pending: bool,
}

/// Running aggregate over the live region of a sliding per-event deque.
#[derive(Debug)]
enum Run {
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
struct Geo {
    size: i64,
    slide: i64,
    offset: i64,
    /// The pane is the slide (the slide divides the size): pane starts are window starts,
    /// which saves the divisions of window alignment on the hot paths.
    aligned: bool,
}

impl Geo {
    /// Smallest window end strictly greater than `x`.
    fn next_end_after(&self, x: i64) -> i64 {
        aligned_start(x.saturating_sub(self.size), self.slide, self.offset)
            .saturating_add(self.slide)
            .saturating_add(self.size)
    }

    /// When the pane starting at `p` can be dropped: the last window holding it, plus lateness.
    fn pane_drop_time(&self, p: i64, lat: i64) -> i64 {
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
trait Payload: Copy + std::fmt::Debug {
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
trait Pane: std::fmt::Debug + Sized {
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
struct Wf(u64, f64, f64);

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
            let d = x - *mean;
            *mean += d / *n as f64;
            *m2 += d * (x - *mean);
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
struct Sliding<P, A> {
    /// Matching events sorted by ts (ties in arrival order).
    entries: VecDeque<(i64, P)>,
    /// Index of the first entry with `ts > max_ts - size`.
    live: usize,
    max_ts: i64,
    run: Run,
    /// Panes `(start, acc)` sorted by start.
    panes: VecDeque<(i64, A)>,
    /// The earliest end of a window not fired yet that holds a pane ([`NO_END`]: none),
    /// kept up to date so that a timer pop finds it without a search. Which windows have
    /// fired follows from the watermark: whenever no handler of the key is running, every
    /// window holding a pane with `end - 1 <= watermark` has fired (the key's timer is
    /// never later than `next_end - 1`, and a late event fires its windows at once).
    next_end: i64,
}

/// [`Sliding::next_end`] when no window holding a pane is left to fire. (No real window
/// end gets there: timestamps are clamped to `±2^61` and windows are bounded.)
const NO_END: i64 = i64::MAX;

impl<P, A> Sliding<P, A> {
    fn new(run: Run) -> Self {
        Sliding {
            entries: VecDeque::new(),
            live: 0,
            max_ts: i64::MIN,
            run,
            panes: VecDeque::new(),
            next_end: NO_END,
        }
    }

    fn bytes(&self) -> usize
    where
        A: Pane,
    {
        self.entries.capacity() * std::mem::size_of::<(i64, P)>()
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
    fn prefetch_for_timer(&self) {
        if let Some(p) = self.panes.front() {
            prefetch(p);
        }
        if let Some(e) = self.entries.front() {
            prefetch(e);
        }
    }

    /// Starts loading the entries and pane an event reads.
    #[inline]
    fn prefetch_for_event(&self) {
        if let Some(e) = self.entries.get(self.live) {
            prefetch(e);
        }
        if let Some(e) = self.entries.back() {
            prefetch(e);
        }
        if let Some(p) = self.panes.back() {
            prefetch(p);
        }
    }
}

#[derive(Debug)]
struct Global {
    acc: Acc,
    since_fire: u64,
    dirty: bool,
    /// Event-time trigger: the boundary after the latest event (recency reference).
    boundary: i64,
}

/// The states of one feature for all keys, indexed by key, each in a slot of its own
/// kind's size (a session or tumbling feature's slot is its 32-byte window deque, not the
/// 120 bytes of a sliding state). Sliding states are typed by what they keep per event and
/// per pane (see [`Payload`], [`Pane`]).
#[derive(Debug)]
enum Col {
    /// count, rate
    SlCount(Vec<Sliding<(), u64>>),
    /// mean, variance, stddev
    SlWelford(Vec<Sliding<f64, Wf>>),
    /// sum, min, max
    SlNum(Vec<Sliding<f64, Acc>>),
    /// recency
    SlTs(Vec<Sliding<(), Acc>>),
    /// last-N, distinct count
    SlVal(Vec<Sliding<Value, Acc>>),
    Windows(Vec<VecDeque<Win>>),
    Global(Vec<Global>),
    /// No state per key: a tumbling feature whose windows are its panes in a [`Ring`].
    Unused,
}

/// Runs the arm for key `$k`'s state in column `$col` (`$get`: `get` or `get_mut`): `$s`
/// for any sliding kind, `$w` for window deques, `$g` for global states; `$none` when the
/// key has no slot.
macro_rules! on_col {
    ($col:expr, $get:ident, $k:expr, $s:ident => $sl:expr, $w:ident => $win:expr,
     $g:ident => $glob:expr, _ => $none:expr) => {
        match $col {
            Col::SlCount(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlWelford(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlNum(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlTs(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::SlVal(v) => match v.$get($k) {
                Some($s) => $sl,
                None => $none,
            },
            Col::Windows(v) => match v.$get($k) {
                Some($w) => $win,
                None => $none,
            },
            Col::Global(v) => match v.$get($k) {
                Some($g) => $glob,
                None => $none,
            },
            Col::Unused => $none,
        }
    };
}

impl Col {
    fn new(feat: &Feat) -> Col {
        if feat.in_ring && !matches!(feat.window, WindowSpec::Sliding { .. }) {
            return Col::Unused;
        }
        match feat.window {
            WindowSpec::Sliding { .. } => match feat.agg {
                AggKind::Count | AggKind::Rate { .. } => Col::SlCount(Vec::new()),
                AggKind::Mean | AggKind::Variance | AggKind::Stddev => Col::SlWelford(Vec::new()),
                AggKind::Sum | AggKind::Min | AggKind::Max => Col::SlNum(Vec::new()),
                AggKind::Recency => Col::SlTs(Vec::new()),
                AggKind::LastN { .. } | AggKind::DistinctCount { .. } => Col::SlVal(Vec::new()),
            },
            WindowSpec::Tumbling { .. } | WindowSpec::Session { .. } => Col::Windows(Vec::new()),
            WindowSpec::Global { .. } => Col::Global(Vec::new()),
        }
    }

    /// Address of the first slot and the slot size (for prefetching).
    fn addr(&self) -> (usize, usize) {
        fn of<T>(v: &[T]) -> (usize, usize) {
            (v.as_ptr() as usize, std::mem::size_of::<T>())
        }
        match self {
            Col::SlCount(v) => of(v),
            Col::SlWelford(v) => of(v),
            Col::SlNum(v) => of(v),
            Col::SlTs(v) => of(v),
            Col::SlVal(v) => of(v),
            Col::Windows(v) => of(v),
            Col::Global(v) => of(v),
            Col::Unused => (0, 0),
        }
    }

    /// Gives every key below `n` a fresh state.
    fn grow(&mut self, feat: &Feat, n: usize) {
        let run = || new_run(&feat.agg);
        match self {
            Col::SlCount(v) => v.resize_with(n, || Sliding::new(run())),
            Col::SlWelford(v) => v.resize_with(n, || Sliding::new(run())),
            Col::SlNum(v) => v.resize_with(n, || Sliding::new(run())),
            Col::SlTs(v) => v.resize_with(n, || Sliding::new(run())),
            Col::SlVal(v) => v.resize_with(n, || Sliding::new(run())),
            Col::Windows(v) => v.resize_with(n, VecDeque::new),
            Col::Global(v) => v.resize_with(n, || Global {
                acc: Acc::new(&feat.agg),
                since_fire: 0,
                dirty: false,
                boundary: i64::MIN,
            }),
            Col::Unused => {}
        }
    }

    fn bytes(&self) -> usize {
        fn slots<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        fn sliding<P, A: Pane>(v: &Vec<Sliding<P, A>>) -> usize {
            slots(v) + v.iter().map(Sliding::bytes).sum::<usize>()
        }
        match self {
            Col::SlCount(v) => sliding(v),
            Col::SlWelford(v) => sliding(v),
            Col::SlNum(v) => sliding(v),
            Col::SlTs(v) => sliding(v),
            Col::SlVal(v) => sliding(v),
            Col::Windows(v) => {
                slots(v)
                    + v.iter()
                        .map(|w| {
                            w.capacity() * std::mem::size_of::<Win>()
                                + w.iter()
                                    .map(|x| x.acc.bytes() - std::mem::size_of::<Acc>())
                                    .sum::<usize>()
                        })
                        .sum::<usize>()
            }
            Col::Global(v) => {
                slots(v)
                    + v.iter()
                        .map(|g| g.acc.bytes() - std::mem::size_of::<Acc>())
                        .sum::<usize>()
            }
            Col::Unused => 0,
        }
    }
}

/// A monotone priority queue of `(time, key)` grouped by time: event-time timers are
/// never set before the last time popped, and the timers of aligned windows of many keys
/// share one time. Each distinct time has one key list (from a pool, so no allocation in
/// steady state), found by hashing on push; a binary heap orders the distinct times. The
/// list being popped is held apart, so pops are O(1) and pushes at the current time go
/// straight to it; so is the list of the time pushed to last (keys popped at one time
/// mostly queue again at one same time), so those pushes do not hash. (A radix heap over single entries moved every entry down once per
/// distinct time popped before it: about 17 moves each for timers a minute ahead.)
#[derive(Debug)]
struct TimerQueue {
    /// Time of `cur`; every time in `by_time` is later.
    cur_time: i64,
    /// Keys due at `cur_time` not popped yet.
    cur: Vec<u32>,
    /// The list of the time pushed to last (after `cur_time`), held out of `by_time`: the
    /// keys popped at one time mostly queue themselves again at one same later time
    /// (aligned windows), and then push without hashing. `hot_time == cur_time`: none.
    hot_time: i64,
    hot: Vec<u32>,
    by_time: FxHashMap<i64, Vec<u32>>,
    times: BinaryHeap<Reverse<i64>>,
    pool: Vec<Vec<u32>>,
}

impl TimerQueue {
    fn new() -> Self {
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

    fn push(&mut self, t: i64, key: u32) {
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
    fn peek_due(&self, d: usize) -> Option<u32> {
        let b = &self.cur;
        b.len().checked_sub(d + 1).and_then(|i| b.get(i)).copied()
    }

    /// Pops an entry with time `<= limit`, the smallest first.
    fn pop_le(&mut self, limit: i64) -> Option<(i64, u32)> {
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

    fn bytes(&self) -> usize {
        let lists = |v: &Vec<u32>| v.capacity() * 4 + 24;
        lists(&self.cur)
            + lists(&self.hot)
            + self.by_time.capacity() * 40
            + self.by_time.values().map(lists).sum::<usize>()
            + self.times.capacity() * 8
            + self.pool.iter().map(lists).sum::<usize>()
    }
}

/// Shared per-call context of the state handlers.
struct Ctx<'a> {
    wm: i64,
    lat: i64,
    horizon: i64,
    key: KeyId,
    feature: usize,
    closed: &'a mut Vec<WindowRow>,
}

impl Ctx<'_> {
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        feat: &Feat,
        acc: &Acc,
        start: i64,
        end: i64,
        as_of: i64,
        window_len: i64,
        update: bool,
    ) {
        let mut value = FeatureValue::Null;
        acc.result(&feat.agg, ResultCtx { window_len, as_of }, &mut value);
        self.push(start, end, value, update);
    }

    #[inline]
    fn push(&mut self, start: i64, end: i64, value: FeatureValue, update: bool) {
        self.closed.push(WindowRow {
            key: self.key,
            feature: self.feature,
            start,
            end,
            value,
            update,
        });
    }
}

/// Holds every key's state for a fixed list of features.
pub struct FeatureEngine {
    specs: Vec<FeatureSpec>,
    feats: Vec<Feat>,
    config: EngineConfig,
    wm: Timestamp,
    /// Per feature, the states of all keys.
    cols: Vec<Col>,
    /// Per feature, the panes of all keys when they are kept in a ring (see [`ring`]).
    rings: Vec<Option<Ring>>,
    /// Per column, the address of its first slot and the slot size (refreshed whenever the
    /// columns grow), so that prefetching a key's states is address arithmetic only.
    col_addr: Vec<(usize, usize)>,
    /// The online store, flat: key `k`, feature `f` at `k * features + f`.
    latest: Vec<FeatureValue>,
    /// Per key, `features + 1` words: the earliest live timer of the key in the queue,
    /// then for each feature the earliest time it needs its timer handler (`NO_TIMER`:
    /// none). Kept apart from the states so that a timer pop reads one small record and
    /// then only the states that are due.
    timer_rec: Vec<i64>,
    seen: Vec<bool>,
    num_keys: usize,
    /// At most one live timer per key: `(time, key)`.
    timers: TimerQueue,
}

fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

impl FeatureEngine {
    /// Validates every feature (window, aggregation/field compatibility, duplicate names).
    pub fn new(features: Vec<FeatureSpec>, config: EngineConfig) -> Result<Self, CoreError> {
        if config.allowed_lateness < 0 || config.allowed_lateness > crate::window::MAX_WINDOW_MS {
            return Err(CoreError::Window(format!(
                "allowed lateness must be between 0 and {} ms, got {}",
                crate::window::MAX_WINDOW_MS,
                config.allowed_lateness
            )));
        }
        let mut feats = Vec::with_capacity(features.len());
        for (i, f) in features.iter().enumerate() {
            let ferr = |msg: String| CoreError::Feature {
                name: f.name.clone(),
                msg,
            };
            if f.name.is_empty() {
                return Err(ferr("the name must not be empty".into()));
            }
            if features[..i].iter().any(|g| g.name == f.name) {
                return Err(ferr("duplicate feature name".into()));
            }
            f.window.validate().map_err(|e| ferr(e.to_string()))?;
            if f.agg.needs_field() && f.field.is_none() {
                return Err(ferr(
                    "this aggregation reads a field, but none is given".into(),
                ));
            }
            match f.agg {
                AggKind::LastN { n: 0 } => {
                    return Err(ferr("last-N needs n >= 1".into()));
                }
                AggKind::LastN { n } if n > 100_000 => {
                    return Err(ferr("last-N allows at most n = 100000".into()));
                }
                AggKind::Rate { .. } if !f.window.is_time_window() => {
                    return Err(ferr(
                        "rate needs a time window (tumbling, sliding or session): a global window has no length".into(),
                    ));
                }
                _ => {}
            }
            let (pane, geo) = match f.window {
                WindowSpec::Sliding {
                    size,
                    slide,
                    offset,
                } => (
                    gcd(size, slide),
                    Geo {
                        size,
                        slide,
                        offset,
                        aligned: gcd(size, slide) == slide,
                    },
                ),
                _ => (
                    1,
                    Geo {
                        size: 1,
                        slide: 1,
                        offset: 0,
                        aligned: true,
                    },
                ),
            };
            let scratch = match f.agg {
                AggKind::DistinctCount { .. } => Acc::new(&AggKind::DistinctCount {
                    exact_limit: usize::MAX,
                }),
                ref k => Acc::new(k),
            };
            feats.push(Feat {
                agg: f.agg,
                field: f.field,
                filter: f.filter.clone(),
                window: f.window,
                pane,
                geo,
                scratch,
                pool: Vec::new(),
                needs_field: f.agg.needs_field(),
                needs_numeric: f.agg.needs_numeric(),
                in_ring: false,
            });
        }
        let rings: Vec<Option<Ring>> = feats
            .iter()
            .map(|f| Ring::for_feature(f, config.allowed_lateness))
            .collect();
        for (feat, ring) in feats.iter_mut().zip(&rings) {
            feat.in_ring = ring.is_some();
        }
        let cols: Vec<Col> = feats.iter().map(Col::new).collect();
        Ok(FeatureEngine {
            specs: features,
            feats,
            config,
            wm: i64::MIN,
            col_addr: cols.iter().map(Col::addr).collect(),
            cols,
            rings,
            latest: Vec::new(),
            timer_rec: Vec::new(),
            seen: Vec::new(),
            num_keys: 0,
            timers: TimerQueue::new(),
        })
    }

    pub fn features(&self) -> &[FeatureSpec] {
        &self.specs
    }

    pub fn watermark(&self) -> Timestamp {
        self.wm
    }

    pub fn config(&self) -> EngineConfig {
        self.config
    }

    /// Applies one event. On `Accepted` / `LateUpdated`, `row` (resized to the number of
    /// features) holds each feature's value as of this event, the event included. Window
    /// results fired by a late update go to `closed`. With many keys, call
    /// [`Self::prefetch_upcoming`] before each event of a batch: this does not prefetch.
    pub fn process(
        &mut self,
        ev: &Event,
        row: &mut Vec<FeatureValue>,
        closed: &mut Vec<WindowRow>,
    ) -> Outcome {
        let ts = ev.ts.clamp(-TS_CLAMP, TS_CLAMP);
        let lat = self.config.allowed_lateness;
        let wm = self.wm;
        if ts.saturating_add(lat) <= wm {
            return Outcome::Late;
        }
        let late = ts <= wm;
        if late && self.config.late_policy == LatePolicy::Discard {
            return Outcome::LateDiscarded;
        }
        let nf = self.feats.len();
        if row.len() != nf {
            row.resize(nf, FeatureValue::Null);
        }
        let k = ev.key.0 as usize;
        if k >= self.seen.len() {
            self.seen.resize(k + 1, false);
            self.timer_rec.resize((k + 1) * (nf + 1), NO_TIMER);
            self.latest.resize((k + 1) * nf, FeatureValue::Null);
            for (col, feat) in self.cols.iter_mut().zip(&self.feats) {
                col.grow(feat, k + 1);
            }
            for ring in self.rings.iter_mut().flatten() {
                ring.grow(k + 1);
            }
            self.col_addr = self.cols.iter().map(Col::addr).collect();
        }
        if !self.seen[k] {
            self.seen[k] = true;
            self.num_keys += 1;
        }
        let latest = &mut self.latest[k * nf..(k + 1) * nf];
        let Some((key_timer, needs)) =
            self.timer_rec[k * (nf + 1)..(k + 1) * (nf + 1)].split_first_mut()
        else {
            return Outcome::Late; // unreachable: the record was sized above
        };
        let mut ctx = Ctx {
            wm,
            lat,
            horizon: wm.saturating_sub(lat),
            key: ev.key,
            feature: 0,
            closed,
        };
        let states = self.cols.iter_mut().zip(self.rings.iter_mut());
        for (f, (feat, (col, ring))) in self.feats.iter_mut().zip(states).enumerate() {
            ctx.feature = f;
            let m = feat.matched(ev);
            let out = &mut row[f];
            if let Some(ring) = ring {
                // a tumbling feature in a ring has no other state: its window is its pane
                let pane_value = matches!(col, Col::Unused).then_some(&mut *out);
                ring.add(feat, &mut ctx, k, ts, m, late, pane_value);
            }
            // sliding and global handlers return a time they need (kept if earlier than the
            // one already set); window handlers return their exact next need
            let (need, exact) = on_col!(col, get_mut, k,
                s => (sliding_event(feat, s, ts, m, out, &mut ctx, late), false),
                w => (windows_event(feat, w, ts, m, out, &mut ctx), true),
                g => (global_event(feat, g, ts, m, out, &mut ctx), false),
                _ => (NO_TIMER, false));
            if exact || need < needs[f] {
                needs[f] = need;
            }
            if need < *key_timer {
                // a later need leaves the key's queued (earlier) timer in place: that pop
                // finds nothing due and queues the key again at its real next need
                *key_timer = need;
                self.timers.push(need, ev.key.0);
            }
            latest[f].copy_from(out);
        }
        if late {
            Outcome::LateUpdated
        } else {
            Outcome::Accepted
        }
    }

    /// Moves the watermark forward (never back), firing windows whose `end - 1 <= wm` into
    /// `closed` and dropping state whose `end - 1 + allowed_lateness <= wm`.
    pub fn advance_watermark(&mut self, wm: Timestamp, closed: &mut Vec<WindowRow>) {
        if wm <= self.wm {
            return;
        }
        self.wm = wm;
        let lat = self.config.allowed_lateness;
        let nf = self.feats.len();
        while let Some((t, key)) = self.timers.pop_le(wm) {
            // With many keys each pop is a walk to memory: start loading the records of the
            // keys popped a few steps later (their timer record and states now, the buffers
            // the due states point to a little later, once those states are in cache).
            if let Some(far) = self.timers.peek_due(PREFETCH_FAR) {
                self.prefetch_key(far as usize);
            }
            if let Some(near) = self.timers.peek_due(PREFETCH_NEAR) {
                self.prefetch_due_buffers(near as usize, wm);
            }
            let k = key as usize;
            let Some((key_timer, needs)) = self
                .timer_rec
                .get_mut(k * (nf + 1)..(k + 1) * (nf + 1))
                .and_then(|r| r.split_first_mut())
            else {
                continue;
            };
            if *key_timer != t {
                continue; // stale
            }
            let mut ctx = Ctx {
                wm,
                lat,
                horizon: wm.saturating_sub(lat),
                key: KeyId(key),
                feature: 0,
                closed,
            };
            let mut next = NO_TIMER;
            let states = self.cols.iter_mut().zip(self.feats.iter_mut());
            for (f, (need, (col, feat))) in needs.iter_mut().zip(states).enumerate() {
                if *need <= wm {
                    ctx.feature = f;
                    *need = on_col!(col, get_mut, k,
                        s => sliding_timer(feat, s, &mut ctx),
                        w => windows_timer(feat, w, &mut ctx),
                        g => global_timer(feat, g, &mut ctx),
                        _ => NO_TIMER);
                }
                next = next.min(*need);
            }
            *key_timer = next;
            if next != NO_TIMER {
                self.timers.push(next, key);
            }
        }
        for (f, (ring, feat)) in self.rings.iter_mut().zip(&self.feats).enumerate() {
            if let Some(ring) = ring {
                let mut ctx = Ctx {
                    wm,
                    lat,
                    horizon: wm.saturating_sub(lat),
                    key: KeyId(0),
                    feature: f,
                    closed,
                };
                ring.advance(feat, &mut ctx);
            }
        }
    }

    /// A hint, for callers that hold a batch: call it before [`Self::process`] of each
    /// event with the events still to come after it (`&batch[i + 1..]`). It starts loading
    /// the state of the key a few events ahead, and the buffers of the one a little nearer
    /// (whose state the earlier call loaded), so that the cache misses of several events
    /// overlap instead of each event waiting on its own (with many keys the engine is
    /// bound by memory latency). No effect on results.
    #[inline]
    pub fn prefetch_upcoming(&self, upcoming: &[Event]) {
        let nf = self.feats.len();
        if let Some(ev) = upcoming.get(PREFETCH_EVENTS_FAR - 1) {
            let k = ev.key.0 as usize;
            self.prefetch_key(k);
            if let Some(latest) = self.latest.get(k * nf..(k + 1) * nf) {
                prefetch_span(latest);
            }
            let ts = ev.ts.clamp(-TS_CLAMP, TS_CLAMP);
            for ring in self.rings.iter().flatten() {
                ring.prefetch(k, ts);
            }
        }
        if let Some(ev) = upcoming.get(PREFETCH_EVENTS_NEAR - 1) {
            let k = ev.key.0 as usize;
            if let Some(latest) = self.latest.get(k * nf..(k + 1) * nf) {
                prefetch_buffers(&self.cols, k, latest);
            }
        }
    }

    /// Starts loading key `k`'s timer record and feature states.
    #[inline]
    fn prefetch_key(&self, k: usize) {
        let nf = self.feats.len();
        if let Some(r) = self.timer_rec.get(k * (nf + 1)..(k + 1) * (nf + 1)) {
            prefetch_small(r);
        }
        for &(base, size) in &self.col_addr {
            // only a hint: an address past the end (an unknown key) is harmless. A slot
            // (at most 120 bytes) spans at most two lines: its first and last byte's (the
            // same line again for most small slots: cheaper than finding out).
            let at = base.wrapping_add(k.wrapping_mul(size));
            prefetch(std::ptr::without_provenance::<u8>(at));
            prefetch(std::ptr::without_provenance::<u8>(
                at.wrapping_add(size.wrapping_sub(1)),
            ));
        }
    }

    /// Starts loading the buffers of key `k`'s states that are due at `wm` (call once the
    /// key's record and states are in cache: [`Self::prefetch_key`] a few pops earlier).
    #[inline]
    fn prefetch_due_buffers(&self, k: usize, wm: i64) {
        let nf = self.feats.len();
        let Some(rec) = self.timer_rec.get(k * (nf + 1) + 1..(k + 1) * (nf + 1)) else {
            return;
        };
        for (need, col) in rec.iter().zip(&self.cols) {
            if *need <= wm {
                on_col!(col, get, k,
                    s => s.prefetch_for_timer(),
                    w => {
                        if let Some(x) = w.front() {
                            prefetch(x);
                        }
                    },
                    _g => (),
                    _ => ());
            }
        }
    }

    /// End of input: fires every remaining time window (watermark to `i64::MAX`).
    pub fn finish(&mut self, closed: &mut Vec<WindowRow>) {
        self.advance_watermark(i64::MAX, closed);
    }

    /// The latest per-event feature row of `key` (the online store), if the key was seen.
    pub fn latest(&self, key: KeyId) -> Option<&[FeatureValue]> {
        let k = key.0 as usize;
        if !*self.seen.get(k)? {
            return None;
        }
        let nf = self.feats.len();
        self.latest.get(k * nf..(k + 1) * nf)
    }

    pub fn num_keys(&self) -> usize {
        self.num_keys
    }

    /// Approximate bytes of state held for all keys (for the documented per-key figure):
    /// key slots, per-feature states with their deques, panes, windows, accumulators and the
    /// online-store row, plus the timer queue.
    pub fn state_bytes(&self) -> usize {
        let mut total = self.timers.bytes()
            + self.seen.capacity()
            + self.timer_rec.capacity() * 8
            + self.cols.iter().map(Col::bytes).sum::<usize>()
            + self.rings.iter().flatten().map(Ring::bytes).sum::<usize>()
            + self.latest.capacity() * std::mem::size_of::<FeatureValue>();
        for v in &self.latest {
            if let FeatureValue::Seq(s) = v {
                total += s.capacity() * std::mem::size_of::<Value>();
            }
        }
        total
    }
}

/// Hints the CPU to start loading the cache line holding `p` into the cache (no effect on
/// results; a no-op off x86-64).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and has no observable effect,
    // whatever the address, and `_mm_prefetch` needs only SSE, part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// [`prefetch_span`] without the loop for spans of up to 64 bytes (two lines at most: the
/// first and last byte's).
#[inline]
fn prefetch_small<T>(xs: &[T]) {
    let n = std::mem::size_of_val(xs);
    if n <= 64 {
        let base = xs.as_ptr().cast::<u8>();
        prefetch(base);
        prefetch(base.wrapping_add(n.saturating_sub(1)));
    } else {
        prefetch_span(xs);
    }
}

/// [`prefetch`] every cache line of `xs`.
#[inline]
fn prefetch_span<T>(xs: &[T]) {
    let base = xs.as_ptr().cast::<u8>();
    let skew = base as usize & 63;
    let lines = (skew + std::mem::size_of_val(xs)).div_ceil(64);
    let first = base.wrapping_sub(skew);
    for i in 0..lines {
        prefetch(first.wrapping_add(i * 64));
    }
}

/// Starts loading the buffers an event of a key reads through its states and online-store
/// row (the back of each window deque, the live region of sliding entries, the last-N
/// items, ...), all at once, so that their cache misses overlap instead of happening one
/// feature after another (with many keys the engine is bound by memory latency).
#[inline]
fn prefetch_buffers(cols: &[Col], k: usize, latest: &[FeatureValue]) {
    for col in cols {
        on_col!(col, get, k,
            s => s.prefetch_for_event(),
            w => {
                if let Some(x) = w.back() {
                    prefetch(x);
                    if let Acc::LastN { items, .. } = &x.acc {
                        let (a, b) = items.as_slices();
                        prefetch_span(a);
                        prefetch_span(b);
                    }
                }
            },
            g => {
                if let Acc::Recency(l) = &g.acc {
                    if let Some(x) = l.back() {
                        prefetch(x);
                    }
                }
            },
            _ => ());
    }
    for v in latest {
        if let FeatureValue::Seq(x) = v {
            prefetch_span(x);
        }
    }
}

/// The running aggregate a sliding state of `agg` keeps over its live region.
fn new_run(agg: &AggKind) -> Run {
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

// ---------------------------------------------------------------------------------------
// Sliding windows
// ---------------------------------------------------------------------------------------

impl Run {
    fn add(&mut self, ts: i64, v: Value) {
        match self {
            Run::Plain => {}
            Run::Sum(s) => *s += num(v).unwrap_or(0.0),
            Run::Welford { n, mean, m2 } => {
                let x = num(v).unwrap_or(0.0);
                *n += 1;
                let d = x - *mean;
                *mean += d / *n as f64;
                *m2 += d * (x - *mean);
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
    fn remove(&mut self, v: Value, remaining: usize) {
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
                    let x = num(v).unwrap_or(0.0);
                    let n1 = *n - 1;
                    let old = *mean - (x - *mean) / n1 as f64;
                    *m2 = (*m2 - (x - old) * (x - *mean)).max(0.0);
                    *mean = old;
                    *n = n1;
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

impl<P: Payload, A: Pane> Sliding<P, A> {
    /// Moves the start of the live region past every entry with `ts <= cutoff`.
    #[inline]
    fn evict_live(&mut self, cutoff: i64) {
        while self.live < self.entries.len() && self.entries[self.live].0 <= cutoff {
            let v = self.entries[self.live].1.value();
            self.live += 1;
            let remaining = self.entries.len() - self.live;
            self.run.remove(v, remaining);
        }
        if let Run::Mono { dq, .. } = &mut self.run {
            while dq.front().is_some_and(|&(t, _)| t <= cutoff) {
                dq.pop_front();
            }
        }
    }

    /// Drops entries that no acceptable event can ask for any more (`ts <= horizon - size`).
    fn prune(&mut self, size: i64, horizon: i64) {
        let cutoff = horizon.saturating_sub(size);
        self.evict_live(cutoff);
        while self.live > 0 && self.entries.front().is_some_and(|&(t, _)| t <= cutoff) {
            self.entries.pop_front();
            self.live -= 1;
        }
    }

    /// [`Self::next_end`] as an option.
    #[inline]
    fn cached_next(&self) -> Option<i64> {
        (self.next_end != NO_END).then_some(self.next_end)
    }

    /// The earliest window end after `fired_to` that holds a pane, found by a search (every
    /// window with `end <= fired_to` has been handled).
    fn next_fire(&self, g: &Geo, fired_to: i64) -> Option<i64> {
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
    fn next_fire_after_fired(&self, g: &Geo, e: i64) -> Option<i64> {
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
    fn emit_window(&self, feat: &mut Feat, ctx: &mut Ctx<'_>, start: i64, end: i64, update: bool)
    where
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
    fn merge_window(&self, scratch: &mut Acc, start: i64, end: i64, horizon: i64) -> usize {
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

/// Applies an event to a sliding feature; writes the per-event value; returns a timer need.
fn sliding_event<P: Payload, A: Pane>(
    feat: &mut Feat,
    s: &mut Sliding<P, A>,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureValue,
    ctx: &mut Ctx<'_>,
    late: bool,
) -> i64 {
    let g = feat.geo;
    let size = g.size;
    let in_order = ts >= s.max_ts;
    let new_max = s.max_ts.max(ts);
    s.max_ts = new_max;
    s.evict_live(new_max.saturating_sub(size));
    s.prune(size, ctx.horizon);

    // ---- per-event value
    if in_order {
        if let Some(v) = m {
            grow_gently(&mut s.entries);
            s.entries.push_back((ts, P::pack(v)));
            s.run.add(ts, v);
        }
        let live_len = s.entries.len() - s.live;
        match (&s.run, &feat.agg) {
            (Run::Sum(x), _) => *out = FeatureValue::Num(*x),
            (&Run::Welford { n, mean, m2 }, k) => *out = welford_value(k, n, mean, m2),
            (Run::Mono { max, dq }, _) => {
                *out = match dq.front() {
                    Some(&(_, key)) => FeatureValue::Num(if *max { key } else { -key }),
                    None => FeatureValue::Null,
                }
            }
            (Run::Distinct(map), _) => *out = FeatureValue::Int(map.len() as i64),
            (Run::Plain, AggKind::Rate { unit }) => *out = rate(live_len as u64, size, *unit),
            (Run::Plain, AggKind::LastN { n }) => {
                let seq = crate::agg::seq_mut(out);
                let from = s.entries.len() - live_len.min(*n);
                seq.extend(s.entries.range(from..).map(|&(_, v)| v.value()));
            }
            (Run::Plain, AggKind::Recency) => {
                *out = match s.entries.back() {
                    Some(&(t, _)) if live_len > 0 => FeatureValue::Int(ts.saturating_sub(t)),
                    _ => FeatureValue::Null,
                }
            }
            (Run::Plain, _) => *out = FeatureValue::Int(live_len as i64),
        }
    } else {
        if let Some(v) = m {
            let pos = s
                .entries
                .iter()
                .rposition(|&(t, _)| t <= ts)
                .map_or(0, |p| p + 1);
            grow_gently(&mut s.entries);
            insert_at(&mut s.entries, pos, (ts, P::pack(v)));
            if ts > new_max.saturating_sub(size) {
                s.run.add(ts, v);
            } else {
                s.live += 1;
            }
        }
        out_of_order_value(feat, s, ts, out);
    }

    if feat.in_ring {
        return cleanup_need(s, &g, ctx.lat); // the ring keeps the panes
    }

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
fn grow_gently<T>(dq: &mut VecDeque<T>) {
    let n = dq.len();
    if n == dq.capacity() {
        dq.reserve_exact((n / 4).max(4));
    }
}

/// Index of the first entry with `ts > bound`, given that every entry from `from` on is
/// after `bound`: a short backward scan (O(disorder), cache friendly), falling back to a
/// binary search when the distance is large.
fn first_after<P>(entries: &VecDeque<(i64, P)>, from: usize, bound: i64) -> usize {
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
fn out_of_order_value<P: Payload, A>(
    feat: &mut Feat,
    s: &Sliding<P, A>,
    ts: i64,
    out: &mut FeatureValue,
) {
    let size = feat.geo.size;
    let hi = first_after(&s.entries, s.entries.len(), ts);
    let lo_bound = ts.saturating_sub(size);
    let lo = first_after(&s.entries, s.live.min(hi), lo_bound);
    let ctx = ResultCtx {
        window_len: size,
        as_of: ts,
    };
    match (&s.run, &feat.agg) {
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
            *out = FeatureValue::Num(if hi == lo { 0.0 } else { sum });
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
                *out = welford_value(k, n, mean, m2);
            }
        }
        (Run::Plain, AggKind::Rate { unit }) => *out = rate((hi - lo) as u64, size, *unit),
        (Run::Plain, AggKind::LastN { n }) => {
            let seq = crate::agg::seq_mut(out);
            let from = hi - (hi - lo).min(*n);
            seq.extend(s.entries.range(from..hi).map(|&(_, v)| v.value()));
        }
        (Run::Plain, AggKind::Recency) => {
            *out = if hi > lo {
                FeatureValue::Int(ts.saturating_sub(s.entries[hi - 1].0))
            } else {
                FeatureValue::Null
            }
        }
        (Run::Plain, _) => *out = FeatureValue::Int((hi - lo) as i64),
        _ => {
            let scratch = &mut feat.scratch;
            scratch.reset();
            for &(t, v) in s.entries.range(lo..hi) {
                scratch.add(t, v.value(), ts);
            }
            scratch.result(&feat.agg, ctx, out);
        }
    }
}

/// Everything this sliding state will need next (a firing, a pane drop or a final prune),
/// given its next firing.
fn sliding_need_given<P, A>(s: &Sliding<P, A>, g: &Geo, lat: i64, next_fire: Option<i64>) -> i64 {
    let mut need = next_fire.map_or(NO_TIMER, |e| e.saturating_sub(1));
    if let Some(&(p, _)) = s.panes.front() {
        need = need.min(g.pane_drop_time(p, lat));
    } else if let Some(&(t, _)) = s.entries.back() {
        need = need.min(t.saturating_add(g.size).saturating_add(lat));
    }
    need
}

/// When a sliding state whose panes are in a ring next prunes its events: once every event
/// it holds is a window and a lateness old, and then a window later still, so that a key
/// with events keeps pruning them itself (at its events) and only a key gone quiet pops.
fn cleanup_need<P, A>(s: &Sliding<P, A>, g: &Geo, lat: i64) -> i64 {
    s.entries.back().map_or(NO_TIMER, |&(t, _)| {
        t.saturating_add(g.size.saturating_mul(2))
            .saturating_add(lat)
    })
}

fn sliding_timer<P: Payload, A: Pane>(
    feat: &mut Feat,
    s: &mut Sliding<P, A>,
    ctx: &mut Ctx<'_>,
) -> i64 {
    let g = feat.geo;
    if feat.in_ring {
        s.prune(g.size, ctx.horizon);
        return cleanup_need(s, &g, ctx.lat);
    }
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
    s.prune(g.size, ctx.horizon);
    // still the next firing: that window ends after the watermark, so none of its panes
    // was due to be dropped
    debug_assert_eq!(next, s.next_fire(&g, ctx.wm.saturating_add(1)));
    sliding_need_given(s, &g, ctx.lat, next)
}

// ---------------------------------------------------------------------------------------
// Tumbling windows and sessions
// ---------------------------------------------------------------------------------------

fn win_len(w: &Win) -> i64 {
    w.end.saturating_sub(w.start)
}

/// `insert_at` for a key's windows, growing 1, 2, 4, ... (a key usually holds one or two
/// tumbling windows or sessions; the default first allocation would hold four).
fn insert_win(wins: &mut VecDeque<Win>, pos: usize, w: Win) {
    if wins.len() == wins.capacity() {
        wins.reserve_exact(wins.len().max(1));
    }
    insert_at(wins, pos, w);
}

fn windows_event(
    feat: &mut Feat,
    wins: &mut VecDeque<Win>,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureValue,
    ctx: &mut Ctx<'_>,
) -> i64 {
    let idx = match feat.window {
        WindowSpec::Tumbling { size, offset } => {
            let start = aligned_start(ts, size, offset);
            let mut i = wins.len();
            while i > 0 && wins[i - 1].start > start {
                i -= 1;
            }
            if i > 0 && wins[i - 1].start == start {
                i - 1
            } else {
                let acc = feat.take_acc();
                insert_win(
                    wins,
                    i,
                    Win {
                        start,
                        end: start.saturating_add(size),
                        acc,
                        emitted: false,
                        pending: true,
                    },
                );
                i
            }
        }
        WindowSpec::Session { gap } => {
            let (ps, pe) = (ts, ts.saturating_add(gap));
            // sessions are sorted, disjoint and not touching: find those touching [ps, pe)
            let mut hi = wins.len();
            while hi > 0 && wins[hi - 1].start > pe {
                hi -= 1;
            }
            let mut lo = hi;
            while lo > 0 && wins[lo - 1].end >= ps {
                lo -= 1;
            }
            if lo == hi {
                let acc = feat.take_acc();
                insert_win(
                    wins,
                    lo,
                    Win {
                        start: ps,
                        end: pe,
                        acc,
                        emitted: false,
                        pending: true,
                    },
                );
            } else {
                // merge lo..hi into lo
                let mut end = pe.max(wins[hi - 1].end);
                let mut emitted = wins[lo].emitted;
                for _ in lo + 1..hi {
                    if let Some(w) = wins.remove(lo + 1) {
                        end = end.max(w.end);
                        emitted |= w.emitted;
                        wins[lo].acc.merge(&w.acc, ctx.horizon);
                        feat.give_acc(w.acc);
                    }
                }
                let w = &mut wins[lo];
                w.start = w.start.min(ps);
                w.end = end;
                w.emitted = emitted;
            }
            lo
        }
        _ => return NO_TIMER,
    };
    let w = &mut wins[idx];
    if let Some(v) = m {
        w.acc.add(ts, v, ctx.horizon);
    }
    w.pending = true;
    w.acc.result(
        &feat.agg,
        ResultCtx {
            window_len: win_len(w),
            as_of: ts,
        },
        out,
    );
    let fire_at = w.end.saturating_sub(1);
    if fire_at <= ctx.wm {
        let update = w.emitted;
        w.emitted = true;
        w.pending = false;
        ctx.emit(feat, &w.acc, w.start, w.end, w.end, win_len(w), update);
    }
    windows_need(wins, ctx.lat)
}

/// Exactly when the key's windows next need the timer handler: the earliest firing of a
/// pending window or drop of a fired one. (Exact, not just a bound: a session extended by
/// an event no longer wakes its key at the end it had before.)
fn windows_need(wins: &VecDeque<Win>, lat: i64) -> i64 {
    let mut need = NO_TIMER;
    let (a, b) = wins.as_slices();
    for part in [a, b] {
        for w in part {
            let t = if w.pending {
                w.end.saturating_sub(1)
            } else {
                w.end.saturating_sub(1).saturating_add(lat)
            };
            need = need.min(t);
        }
    }
    need
}

fn windows_timer(feat: &mut Feat, wins: &mut VecDeque<Win>, ctx: &mut Ctx<'_>) -> i64 {
    let (a, b) = wins.as_mut_slices();
    for part in [a, b] {
        for w in part {
            if w.pending && w.end.saturating_sub(1) <= ctx.wm {
                let update = w.emitted;
                w.emitted = true;
                w.pending = false;
                ctx.emit(feat, &w.acc, w.start, w.end, w.end, win_len(w), update);
            }
        }
    }
    while let Some(w) = wins.front() {
        if w.end.saturating_sub(1).saturating_add(ctx.lat) > ctx.wm {
            break;
        }
        if let Some(w) = wins.pop_front() {
            feat.give_acc(w.acc);
        }
    }
    windows_need(wins, ctx.lat)
}

// ---------------------------------------------------------------------------------------
// Global windows
// ---------------------------------------------------------------------------------------

fn global_event(
    feat: &mut Feat,
    g: &mut Global,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureValue,
    ctx: &mut Ctx<'_>,
) -> i64 {
    let WindowSpec::Global { trigger, purge } = feat.window else {
        return NO_TIMER;
    };
    if let Some(v) = m {
        g.acc.add(ts, v, ctx.horizon);
    }
    g.dirty = true;
    g.since_fire += 1;
    g.acc.result(
        &feat.agg,
        ResultCtx {
            window_len: 0,
            as_of: ts,
        },
        out,
    );
    let fire = |g: &mut Global, ctx: &mut Ctx<'_>, feat: &Feat, as_of: i64, update: bool| {
        ctx.emit(feat, &g.acc, i64::MIN, i64::MAX, as_of, 0, update);
        g.dirty = false;
        g.since_fire = 0;
        if purge {
            g.acc.reset();
        }
    };
    // fired as of the event: the row's value is the per-event value just computed
    let fire_now = |g: &mut Global, ctx: &mut Ctx<'_>, out: &FeatureValue| {
        ctx.closed.push(WindowRow {
            key: ctx.key,
            feature: ctx.feature,
            start: i64::MIN,
            end: i64::MAX,
            value: out.clone(),
            update: false,
        });
        g.dirty = false;
        g.since_fire = 0;
        if purge {
            g.acc.reset();
        }
    };
    match trigger {
        Trigger::EveryEvent => {
            fire_now(g, ctx, out);
            NO_TIMER
        }
        Trigger::Count(n) => {
            if g.since_fire >= n {
                fire_now(g, ctx, out);
            }
            NO_TIMER
        }
        Trigger::EventTime(t) => {
            let b = aligned_start(ts, t, 0).saturating_add(t);
            g.boundary = g.boundary.max(b);
            if b.saturating_sub(1) <= ctx.wm {
                fire(g, ctx, feat, b, true);
                NO_TIMER
            } else {
                b.saturating_sub(1)
            }
        }
    }
}

fn global_timer(feat: &mut Feat, g: &mut Global, ctx: &mut Ctx<'_>) -> i64 {
    let WindowSpec::Global {
        trigger: Trigger::EventTime(t),
        purge,
    } = feat.window
    else {
        return NO_TIMER;
    };
    if g.dirty {
        let _ = t;
        ctx.emit(feat, &g.acc, i64::MIN, i64::MAX, g.boundary, 0, false);
        g.dirty = false;
        g.since_fire = 0;
        if purge {
            g.acc.reset();
        }
    }
    NO_TIMER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_queue_pops_in_time_order_up_to_the_limit() {
        let mut h = TimerQueue::new();
        let mut rng = crate::rng::Rng::new(3);
        let mut want = Vec::new();
        for i in 0..500u32 {
            let t = rng.below(10_000) as i64 - 5_000;
            h.push(t, i);
            want.push((t, i));
        }
        // groups of keys sharing a time (aligned windows)
        for i in 0..300u32 {
            let t = (i % 3) as i64 * 2_000 - 1;
            h.push(t, 3_000 + i);
            want.push((t, 3_000 + i));
        }
        assert_eq!(h.pop_le(-5_001), None);
        want.sort();
        let mut got = Vec::new();
        let mut limit = -5_000;
        while limit <= 5_000 {
            while let Some((t, k)) = h.pop_le(limit) {
                assert!(t <= limit);
                got.push((t, k));
                // monotone pushes after pops are allowed
                if k % 7 == 0 && k < 500 {
                    let t2 = limit + 1 + (k as i64 % 100);
                    h.push(t2, k + 1000);
                    want.push((t2, k + 1000));
                }
                // and at the time being popped: popped in this same round
                if k % 11 == 0 && k < 500 {
                    h.push(t, k + 2000);
                    want.push((t, k + 2000));
                }
            }
            // nothing due was left behind
            assert!(
                want.iter().all(|w| w.0 > limit || got.contains(w)),
                "an entry <= {limit} was not popped"
            );
            limit += 250;
        }
        while let Some(x) = h.pop_le(i64::MAX) {
            got.push(x);
        }
        want.sort();
        let mut g = got.clone();
        g.sort();
        assert_eq!(g, want);
        // popped times never decrease
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn compact_panes_merge_like_the_general_accumulator() {
        // hand-computed: 2, 4, 4, 4, 5, 5, 7, 9 has n 8, mean 5, M2 32 (sample variance 32/7)
        let vals = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let (mut a, mut b, mut c) = (Wf(0, 0.0, 0.0), Wf(0, 0.0, 0.0), 0u64);
        for (i, &x) in vals.iter().enumerate() {
            let p = if i < 3 { &mut a } else { &mut b };
            Pane::add(p, i as i64, Value::Float(x), i64::MIN);
            Pane::add(&mut c, i as i64, Value::Float(x), i64::MIN);
        }
        // a value that is not numeric is skipped by a Welford pane
        Pane::add(&mut a, 9, Value::Null, i64::MIN);
        let mut s = Acc::new(&AggKind::Variance);
        a.merge_into(&mut s, i64::MIN);
        b.merge_into(&mut s, i64::MIN);
        let mut out = FeatureValue::Null;
        let rc = ResultCtx {
            window_len: 1,
            as_of: 0,
        };
        s.result(&AggKind::Variance, rc, &mut out);
        let FeatureValue::Num(v) = out else {
            panic!("{out:?}")
        };
        assert!((v - 32.0 / 7.0).abs() < 1e-12, "{v}");
        s.result(&AggKind::Mean, rc, &mut out);
        assert_eq!(out, FeatureValue::Num(5.0));
        let mut s = Acc::new(&AggKind::Count);
        c.merge_into(&mut s, i64::MIN);
        c.merge_into(&mut s, i64::MIN);
        s.result(&AggKind::Count, rc, &mut out);
        assert_eq!(out, FeatureValue::Int(16));
        // payloads give back what aggregation reads
        assert_eq!(
            <f64 as Payload>::pack(Value::Int(3)).value(),
            Value::Float(3.0)
        );
        assert_eq!(
            <Value as Payload>::pack(Value::Int(3)).value(),
            Value::Int(3)
        );
    }

    /// The typed window values of count and Welford panes are bit for bit what merging the
    /// panes into a scratch accumulator and taking its result gives (empty windows, empty
    /// panes first, in the middle and last included).
    /// Pushes that alternate between a few later times (the hot list moving between them)
    /// and pushes at the time being popped pop exactly what a sorted list gives.
    #[test]
    fn timer_queue_hot_list_moves_between_times() {
        let mut h = TimerQueue::new();
        let mut rng = crate::rng::Rng::new(5);
        let mut want: Vec<(i64, u32)> = Vec::new();
        let mut got = Vec::new();
        let mut next_key = 0u32;
        let mut now = 0i64;
        for _ in 0..200 {
            for _ in 0..rng.below(20) {
                // mostly one or two times ahead, sometimes the current time or a far one
                let t = match rng.below(10) {
                    0 => now,
                    1 => now + 1 + rng.below(1_000) as i64,
                    2..=5 => now + 100,
                    _ => now + 200,
                };
                h.push(t, next_key);
                want.push((t, next_key));
                next_key += 1;
            }
            now += 1 + rng.below(150) as i64;
            while let Some(x) = h.pop_le(now) {
                assert!(x.0 <= now);
                got.push(x);
            }
            assert!(want.iter().all(|w| w.0 > now || got.contains(w)));
        }
        while let Some(x) = h.pop_le(i64::MAX) {
            got.push(x);
        }
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
        let mut g = got.clone();
        g.sort();
        want.sort();
        assert_eq!(g, want);
    }

    #[test]
    fn typed_window_values_equal_scratch_merges() {
        use crate::agg::RateUnit;
        let mut rng = crate::rng::Rng::new(11);
        let bits = |v: &FeatureValue| match v {
            FeatureValue::Num(x) => Some(x.to_bits()),
            _ => None,
        };
        for round in 0..2_000 {
            let npanes = rng.below(14) as usize;
            let wf: Vec<Wf> = (0..npanes)
                .map(|_| {
                    let mut w = Wf(0, 0.0, 0.0);
                    for _ in 0..rng.below(4) {
                        let x = (rng.normal() * 3.0 + 1.0).exp()
                            * if rng.chance(0.2) { -1e6 } else { 1.0 };
                        w.add(0, Value::Float(x), 0);
                    }
                    w
                })
                .collect();
            let counts: Vec<u64> = wf.iter().map(|w| w.0).collect();
            let len = 1 + round as i64 % 7 * 60_000;
            for agg in [AggKind::Mean, AggKind::Variance, AggKind::Stddev] {
                let mut scratch = Acc::new(&agg);
                for w in &wf {
                    w.merge_into(&mut scratch, 0);
                }
                let mut want = FeatureValue::Null;
                let rc = ResultCtx {
                    window_len: len,
                    as_of: 0,
                };
                scratch.result(&agg, rc, &mut want);
                let got = Wf::window_value(wf.iter(), &agg, len);
                assert_eq!(got.as_ref().map(bits), Some(bits(&want)), "{agg:?} {wf:?}");
                assert_eq!(got, Some(want));
            }
            for agg in [
                AggKind::Count,
                AggKind::Rate {
                    unit: RateUnit::Minute,
                },
            ] {
                let mut scratch = Acc::new(&agg);
                for c in &counts {
                    c.merge_into(&mut scratch, 0);
                }
                let mut want = FeatureValue::Null;
                let rc = ResultCtx {
                    window_len: len,
                    as_of: 0,
                };
                scratch.result(&agg, rc, &mut want);
                let got = u64::window_value(counts.iter(), &agg, len);
                assert_eq!(got.as_ref().map(bits), Some(bits(&want)));
                assert_eq!(got, Some(want));
            }
        }
    }

    #[test]
    fn state_struct_sizes_stay_small() {
        // guards the per-key footprint documented in the module doc
        assert!(
            std::mem::size_of::<Acc>() <= 40,
            "{}",
            std::mem::size_of::<Acc>()
        );
        let sliding = std::mem::size_of::<Sliding<Value, Acc>>();
        assert!(sliding <= 120, "{sliding}");
        let global = std::mem::size_of::<Global>();
        assert!(global <= 64, "{global}");
    }
}
