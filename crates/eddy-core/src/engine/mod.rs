//! The keyed feature engine: per-event (point-in-time) feature vectors and window-close rows.
//!
//! # State layout
//! Keys are dense interned ids, so every key's fixed-size state lives in one block of whole
//! cache lines, the key's, in one buffer indexed by [`KeyId`] (`engine/blocks.rs`): its
//! timer record (below), then one slot per feature of that feature kind's own size (32
//! bytes for a tumbling or session feature, 120 for a sliding one, one 64-byte cache line
//! for a sliding one whose panes are in a ring (`engine/ring.rs`): no panes). An event
//! touches every feature's slot of its key: side by side, they are served faster than as
//! many lines from one array per feature (with the example spec at 100k keys the engine
//! runs 1.07× faster). Sliding states are typed by what they keep: a timestamp alone per
//! event for count, rate and recency, a timestamp and an `f64` for numeric aggregations,
//! the whole [`Value`] only for last-N and distinct count; panes are a plain count for
//! count and rate, Welford state for mean/variance/stddev, a general accumulator otherwise.
//!
//! The panes of tumbling windows, and of sliding windows of up to a few dozen panes, for
//! count, rate, mean, variance and stddev are not kept per key: each such feature keeps
//! one ring of pane columns for all keys (`engine/ring.rs`), and its windows fire by one
//! sweep over the keys present, in key order, when the watermark passes their end. Such a
//! tumbling feature has no per-key state at all (its window is its pane).
//!
//! Everything else that fires or cleans up per key (sessions, global event-time triggers,
//! other panes, the kept events of a sliding feature whose key went quiet) is driven by one
//! event-time timer queue of `(time, key)` grouped by time (the timers of aligned windows
//! of many keys share one): each key has a small timer record at the head of its block
//! (its live timer, then the earliest time each feature needs its handler, then whether
//! the key was seen: `features + 2` words), at most one live timer per key (the minimum),
//! stale entries are skipped when popped, and one pop serves every feature of the key that
//! is due, reading only the states that are.
//!
//! Each event's handlers write their values straight into the caller's [`FeatureRow`], in
//! the online store's encoding (`row.rs`). The online store (each key's latest per-event
//! row, [`FeatureEngine::latest`]), when asked for ([`FeatureEngine::keep_online_store`]),
//! is one row of those 8-byte words per key on whole cache lines (`engine/store.rs`), and
//! the row is copied whole into it.
//!
//! With many keys the engine waits on memory more than it computes, so it prefetches: the
//! records of the keys a few timer pops ahead and, through
//! [`FeatureEngine::prefetch_upcoming`], the lines of the key of an event a few events
//! ahead (records, ring panes and online-store row first, then the buffers they point to),
//! so that the misses of several events overlap.
//!
//! # Per-event ("as of") values — what each window kind gives
//! * **Sliding** `size`: exactly the matching events seen so far with `ts` in
//!   `(t - size, t]`, the event included (`docs/semantics.md`). The key keeps a ts-sorted deque of
//!   matching events and a *live region* `(max_ts - size, max_ts]` with running
//!   aggregates: count (deque length), sum, Welford mean/M2 with exact removal (reset to
//!   exact zero when the region empties), a monotonic deque for min/max, a value→count map
//!   for distinct count (exact: the window's contents are held anyway). In-order events cost
//!   O(1) amortised. An out-of-order event (`t < max_ts`) is inserted at its sorted place
//!   (O(disorder)) and its own value is computed by a scan of `(t - size, t]`, so it costs
//!   O(window contents) — exact, and only paid by out-of-order events. Events older than
//!   `watermark - allowed_lateness - size` can never be asked for again and are pruned (by
//!   a state whose panes are in a ring, at the latest when its deque is full), so the deque
//!   grows to hold at most the window's contents plus the out-of-orderness/lateness span.
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
//! # Idle keys
//! A key is released once the watermark passes its latest event by its idle horizon (the
//! largest window reach plus the lateness, at least [`EngineConfig::key_ttl`]): every window
//! of it has fired and been dropped, and no event that is not late can share one with its
//! earlier events, so a fresh state gives the same values. Its states are reset (their heap
//! freed) and its id is handed out by [`FeatureEngine::take_released`], for the caller to
//! give to a new key. A global window without a ttl keeps its keys. The release time rides in
//! the key's timer record like a feature's need, so it costs one compare per event.
//!
//! # Bounds (per key and feature)
//! Sliding: matching events within `size + allowed_lateness + (watermark lag)` (a key gone
//! quiet drops them at most four window sizes and the lateness after its last event) plus
//! panes over the same span. A feature whose panes are in a ring: `R` panes per key, seen
//! or not (`R` = panes per window + lateness in panes + panes per slide + max(2, half a
//! window's panes) + 1, at most 64: 8 bytes and a presence bit each for count and rate, 24
//! bytes and a bit for mean, variance and stddev), plus the rare panes outside the ring.
//! Tumbling/session: the windows not yet dropped. Global: O(1) for
//! count/sum/mean/variance/min/max, `n` for last-N, `exact_limit` values then a 4 KiB
//! HyperLogLog for distinct count, the recency timestamps newer than the lateness horizon.
//! After warm-up no heap allocation happens per event: deques keep their capacity, dropped
//! window accumulators go to a per-feature pool and are reused, `Seq` values are refilled.
//!
//! Timestamps are expected in the accepted event range; anything else is clamped to
//! `±2^61` ms so that window arithmetic can never overflow.
//!
//! # Cost
//! For the example spec (`examples/fraud.toml`, which `eddy-runtime/benches/engine.rs`
//! reads: 5-minute sliding count, hourly mean of purchases sliding by 5 minutes, last 10
//! pages per 30-minute session, logins per minute, recency of the last purchase fired
//! hourly) over 100k keys [`FeatureEngine::state_bytes`] reports about 2.0 KB per key (2.2
//! with the online store), most of it the mean's panes and kept purchases, the count's kept
//! timestamps and the session's last-N buffer. With that much state spread over uniformly
//! random keys, each event misses about 19 cache lines (21 with the online store;
//! callgrind's cache simulation): its key's block, kept events and last-N items, the ring
//! panes, and, in address order, the window-close rows it adds to and its share of the ring
//! sweeps (a per-key timer pops for about one event in eight). The prefetches above overlap
//! those misses across events (without them the engine runs at a third of the speed), and
//! still it waits on memory and on address translation there: transparent huge pages make
//! it 1.15–1.2× faster. About 2,010 instructions per event, which also emit 2.7
//! window-close rows per event (`cargo bench -p eddy-runtime --bench engine`; figures in
//! the README).

use crate::agg::{num, Acc, AggKind, FeatureValue, ResultCtx};
use crate::feature::FeatureSpec;
use crate::row::{FeatureOut, FeatureRow, RowLayout};
use crate::window::WindowSpec;
use crate::{CoreError, Event, KeyId, Timestamp, Value};
use std::sync::Arc;

mod blocks;
#[macro_use]
mod columns;
mod global;
mod prefetch;
mod ring;
mod rows;
mod sliding;
mod store;
mod timers;
mod windows;

use blocks::{KeyBlocks, KeyMut, Slot, Words};
use columns::*;
use global::*;
use prefetch::*;
use ring::{PaneLines, Ring};
use sliding::*;
use store::OnlineStore;
use timers::*;
use windows::*;

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
    /// The least event time a key is kept after its latest event, once its windows are
    /// all closed and dropped (`0`: released as soon as they are). Keeps the online store's
    /// row of a quiet key answerable that long.
    pub key_ttl: i64,
}

/// One window-close (or late update) result.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRow {
    pub key: KeyId,
    /// Index into [`FeatureEngine::features`] (an engine has at most [`MAX_FEATURES`]): 16
    /// bits keep a row at 48 bytes, and a sweep writes tens of thousands of rows at once.
    pub feature: u16,
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

/// The most features one engine holds ([`WindowRow::feature`] is 16 bits).
pub const MAX_FEATURES: usize = u16::MAX as usize + 1;

const TS_CLAMP: i64 = 1 << 61;
const NO_TIMER: i64 = i64::MAX;
/// Timer pops ahead of the current one whose key record and states are prefetched, and
/// whose due buffers are prefetched.
const PREFETCH_FAR: usize = 12;
const PREFETCH_NEAR: usize = 5;
/// Events ahead whose key state, whose state's buffers, and the buffers those point to,
/// [`FeatureEngine::prefetch_upcoming`] starts loading. (Nearer than before each key's
/// states were one block: 6/3/1 runs 1.02–1.08× faster than 9/5/2 with the example spec
/// at 100k keys, whose block is five neighbouring lines.)
const PREFETCH_EVENTS_FAR: usize = 6;
const PREFETCH_EVENTS_MID: usize = 3;
const PREFETCH_EVENTS_NEAR: usize = 1;

/// A feature compiled for the engine.
struct Feat {
    agg: AggKind,
    field: Option<usize>,
    filter: Option<crate::filter::Prepared>,
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

/// Shared per-call context of the state handlers.
struct Ctx<'a> {
    wm: i64,
    lat: i64,
    horizon: i64,
    key: KeyId,
    feature: u16,
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

    /// Pushes `n` rows of window `[start, end)` of this feature, taking the key and value of
    /// each from `row` (called `n` times, in row order): one capacity check for all of them.
    #[inline]
    fn push_rows(
        &mut self,
        n: usize,
        start: i64,
        end: i64,
        update: bool,
        mut row: impl FnMut() -> (KeyId, FeatureValue),
    ) {
        let feature = self.feature;
        self.closed.extend((0..n).map(|_| {
            let (key, value) = row();
            WindowRow {
                key,
                feature,
                start,
                end,
                value,
                update,
            }
        }));
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
    /// Per feature, the states of all keys, in `blocks`.
    cols: Vec<Col>,
    /// Every key's feature states side by side (see [`blocks`]).
    blocks: KeyBlocks,
    /// Per feature, the panes of all keys when they are kept in a ring (see [`ring`]).
    rings: Vec<Option<Ring>>,
    /// The lines of a key's timer record, slots and online-store row, as `(at, bytes per
    /// key)`: the line at `at + k * stride` (`at`: key 0's line; refreshed whenever those
    /// grow; padded to a multiple of four), so that prefetching a key's states is address
    /// arithmetic only (one multiply and one prefetch per line).
    key_lines: Vec<(usize, usize)>,
    /// Per ring, where its current panes are (refreshed whenever the rings advance or
    /// grow), so that prefetching an event's panes is address arithmetic only.
    pane_lines: Vec<PaneLines>,
    /// The online store: each key's latest per-event row, when asked for
    /// ([`FeatureEngine::keep_online_store`]).
    store: Option<OnlineStore>,
    /// Where each feature's value is in a per-event row (the store's rows too).
    layout: Arc<RowLayout>,
    /// Per key, in its block, `features + 2` words: the earliest live timer of the key in
    /// the queue, then for each feature the earliest time it needs its timer handler
    /// (`NO_TIMER`: none), then 1 if the key has been seen. A timer pop reads it first and
    /// then only the states that are due.
    timer_rec: Words,
    num_keys: usize,
    /// At most one live timer per key: `(time, key)`.
    timers: TimerQueue,
    /// Event time after a key's latest event at which every state it holds has fired and
    /// been dropped and the key can be released ([`idle_horizon`], at least the key ttl);
    /// `NO_TIMER` when a global window without a ttl keeps every key.
    idle_after: i64,
    /// Keys whose idle time the current watermark advance reached, to release once every
    /// window of that advance has fired.
    idle_due: Vec<u32>,
    /// Keys released and not yet taken ([`FeatureEngine::take_released`]).
    released: Vec<KeyId>,
    keys_released: u64,
    /// The input has ended ([`FeatureEngine::finish_some`]): every key stays (its
    /// online-store row is still read).
    finishing: bool,
}

/// The words of a key's timer record: its live timer, one need per feature, its idle time,
/// its seen flag.
const fn record_words(nf: usize) -> usize {
    nf + 3
}

/// Where a key's seen flag is in its timer record (the last word).
const fn seen_word(nf: usize) -> usize {
    record_words(nf) - 1
}

/// A key's timer record split: its live timer, its features' needs, its idle time, its
/// seen flag.
#[inline]
fn record(rec: &mut [i64], nf: usize) -> Option<Record<'_>> {
    let (key_timer, rest) = rec.split_first_mut()?;
    let (needs, rest) = rest.split_at_mut_checked(nf)?;
    let [idle, seen] = rest else { return None };
    Some(Record {
        key_timer,
        needs,
        idle,
        seen,
    })
}

struct Record<'a> {
    key_timer: &'a mut i64,
    needs: &'a mut [i64],
    idle: &'a mut i64,
    seen: &'a mut i64,
}

/// How long after a key's latest event `L` every state of window `w` has fired and been
/// dropped (`None`: never, a global window without a ttl). Every window holding `L` ends by
/// `L + size` (a session by `L + gap`) and is dropped at `end - 1 + lateness`; an event that
/// is not late after that lies beyond `L + size` (`L + gap`), so it shares no window, no
/// sliding span and no session with the key's earlier events: a fresh state gives it the
/// same values.
fn idle_horizon(w: &WindowSpec, lat: i64) -> Option<i64> {
    match *w {
        WindowSpec::Tumbling { size, .. } | WindowSpec::Sliding { size, .. } => {
            Some(size + lat + 1)
        }
        WindowSpec::Session { gap } => Some(gap + lat + 1),
        WindowSpec::Global { ttl, .. } => ttl.map(|t| t + 1),
    }
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
        if features.len() > MAX_FEATURES {
            return Err(CoreError::Aggregation(format!(
                "an engine holds at most {MAX_FEATURES} features, got {}",
                features.len()
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
                filter: f.filter.as_ref().map(crate::filter::Prepared::new),
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
        if !(0..=crate::window::MAX_WINDOW_MS).contains(&config.key_ttl) {
            return Err(CoreError::Window(format!(
                "key ttl must be between 0 and {} ms, got {}",
                crate::window::MAX_WINDOW_MS,
                config.key_ttl
            )));
        }
        let idle_after = (features.iter())
            .map(|f| idle_horizon(&f.window, config.allowed_lateness))
            .try_fold(config.key_ttl, |a, h| h.map(|h| a.max(h)))
            .unwrap_or(NO_TIMER);
        let mut blocks = KeyBlocks::new();
        let timer_rec = blocks.add_words(record_words(feats.len()));
        let cols: Vec<Col> = feats.iter().map(|f| Col::new(f, &mut blocks)).collect();
        let layout = Arc::new(RowLayout::new(feats.iter().map(|f| f.agg)));
        Ok(FeatureEngine {
            specs: features,
            feats,
            config,
            wm: i64::MIN,
            key_lines: Vec::new(),
            pane_lines: Vec::new(),
            cols,
            blocks,
            rings,
            layout,
            store: None,
            timer_rec,
            num_keys: 0,
            timers: TimerQueue::new(),
            idle_after,
            idle_due: Vec::new(),
            released: Vec::new(),
            keys_released: 0,
            finishing: false,
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

    /// Applies one event. On `Accepted` / `LateUpdated`, `row` holds each feature's value
    /// as of this event, the event included (and the key's online-store row, if kept, is a
    /// copy).
    /// Otherwise `row` is left as it was. Window
    /// results fired by a late update go to `closed`. With many keys, call
    /// [`Self::prefetch_upcoming`] before each event of a batch: this does not prefetch.
    pub fn process(
        &mut self,
        ev: &Event,
        row: &mut FeatureRow,
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
        row.use_layout(&self.layout);
        let k = ev.key.0 as usize;
        if k >= self.blocks.keys() {
            if let Some(store) = &mut self.store {
                store.grow(k + 1);
            }
            let from = self.blocks.keys();
            self.blocks.reserve(k + 1);
            let fresh = |i| if i <= nf + 1 { NO_TIMER } else { 0 };
            self.blocks.init_words(self.timer_rec, from, k + 1, fresh);
            for (col, feat) in self.cols.iter().zip(&self.feats) {
                col.init(feat, &mut self.blocks, from, k + 1);
            }
            // SAFETY: the record and every column's slot were initialised for the keys
            // from..=k just above
            unsafe { self.blocks.commit(k + 1) };
            for ring in self.rings.iter_mut().flatten() {
                ring.grow(k + 1);
            }
            self.key_lines = self.key_lines();
            self.refresh_pane_lines();
        }
        let Some((rec, mut slots)) = self.blocks.key_mut(k, self.timer_rec) else {
            return Outcome::Late; // unreachable: the blocks were sized above
        };
        let Some(Record {
            key_timer,
            needs,
            idle,
            seen,
        }) = record(rec, nf)
        else {
            return Outcome::Late; // unreachable: the record has its words
        };
        if *seen == 0 {
            *seen = 1;
            self.num_keys += 1;
        }
        let mut ctx = Ctx {
            wm,
            lat,
            horizon: wm.saturating_sub(lat),
            key: ev.key,
            feature: 0,
            closed,
        };
        // every per-feature slice cut to the same length, so that indexing needs no checks
        let feats = &mut self.feats[..nf];
        let cols = &self.cols[..nf];
        let rings = &mut self.rings[..nf];
        let needs = &mut needs[..nf];
        for f in 0..nf {
            ctx.feature = f as u16; // f < MAX_FEATURES (checked in `new`)
            let feat = &mut feats[f];
            let col = &cols[f];
            let m = feat.matched(ev);
            let out = &mut row.out(f);
            if let Some(ring) = &mut rings[f] {
                // a tumbling feature in a ring has no other state: its window is its pane
                let pane_value = matches!(col, Col::Unused).then_some(&mut *out);
                ring.add(feat, &mut ctx, k, ts, m, late, pane_value);
            }
            // sliding and global handlers return a time they need (kept if earlier than the
            // one already set); window handlers return their exact next need
            let (need, exact) = on_col!(col, |v| slots.get_mut(*v),
                s => (s.event(feat, ts, m, out, &mut ctx, late), false),
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
        }
        // The key can be released once its latest event is `idle_after` behind: queued like a
        // need (a later event moves it on when its timer pops; `NO_TIMER`: none queued).
        let idle_at = ts.saturating_add(self.idle_after);
        if *idle == NO_TIMER || idle_at > *idle {
            *idle = idle_at;
            if idle_at < *key_timer {
                *key_timer = idle_at;
                self.timers.push(idle_at, ev.key.0);
            }
        }
        if let Some(store) = &mut self.store {
            store.set(k, row);
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
            let Some((rec, mut slots)) = self.blocks.key_mut(k, self.timer_rec) else {
                continue;
            };
            let Some(Record {
                key_timer,
                needs,
                idle,
                ..
            }) = record(rec, nf)
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
            let states = self.cols.iter().zip(self.feats.iter_mut());
            for (f, (need, (col, feat))) in needs.iter_mut().zip(states).enumerate() {
                if *need <= wm {
                    ctx.feature = f as u16;
                    *need = on_col!(col, |v| slots.get_mut(*v),
                        s => s.timer(feat, &mut ctx),
                        w => windows_timer(feat, w, &mut ctx),
                        g => global_timer(feat, g, &mut ctx),
                        _ => NO_TIMER);
                }
                next = next.min(*need);
            }
            if *idle <= wm {
                *idle = NO_TIMER;
                if !self.finishing {
                    self.idle_due.push(key);
                }
            }
            next = next.min(*idle);
            *key_timer = next;
            if next != NO_TIMER {
                self.timers.push(next, key);
            }
        }
        let mut moved = false;
        for (f, (ring, feat)) in self.rings.iter_mut().zip(&self.feats).enumerate() {
            if let Some(ring) = ring {
                let mut ctx = Ctx {
                    wm,
                    lat,
                    horizon: wm.saturating_sub(lat),
                    key: KeyId(0),
                    feature: f as u16,
                    closed,
                };
                moved |= ring.advance(feat, &mut ctx);
            }
        }
        if moved {
            self.refresh_pane_lines();
        }
        if !self.idle_due.is_empty() {
            self.release_idle();
        }
    }

    /// Releases the keys whose idle time has come (every window of theirs has fired, in the
    /// timers and ring sweeps of this advance, and been dropped): each gets a fresh state,
    /// its heap is freed, and its id is handed out by [`Self::take_released`] for reuse.
    #[cold]
    fn release_idle(&mut self) {
        let nf = self.feats.len();
        for k in self.idle_due.drain(..) {
            let Some((rec, mut slots)) = self.blocks.key_mut(k as usize, self.timer_rec) else {
                continue;
            };
            let Some(r) = record(rec, nf) else {
                continue;
            };
            for (col, feat) in self.cols.iter().zip(&self.feats) {
                col.reset(feat, &mut slots);
            }
            // its queued timers are stale from now on (the live timer is none)
            *r.key_timer = NO_TIMER;
            r.needs.fill(NO_TIMER);
            *r.idle = NO_TIMER;
            if std::mem::take(r.seen) == 1 {
                self.num_keys -= 1;
            }
            self.keys_released += 1;
            self.released.push(KeyId(k));
        }
    }

    /// Calls `f` with every interned string some key's state holds (kept events, window,
    /// pane and global accumulators, the online store): the strings that must stay interned
    /// when the caller forgets the others.
    pub fn for_each_sym(&self, f: &mut dyn FnMut(crate::Sym)) {
        for col in &self.cols {
            col.for_each_sym(&self.blocks, f);
        }
        if let Some(store) = &self.store {
            store.for_each_sym(self.blocks.keys(), f);
        }
    }

    /// Moves the keys released since the last call into `out`. A released key holds no
    /// state: its id may be given to another key (or to the same key when it comes back).
    /// A key that came back since its release (it holds state again) is not in it, and
    /// each key is in it once.
    pub fn take_released(&mut self, out: &mut Vec<KeyId>) {
        if self.released.is_empty() {
            return;
        }
        let (blocks, rec, seen) = (&self.blocks, self.timer_rec, seen_word(self.feats.len()));
        self.released
            .retain(|k| blocks.words(rec, k.0 as usize).and_then(|r| r.get(seen)) != Some(&1));
        self.released.sort_unstable();
        self.released.dedup();
        out.append(&mut self.released);
    }

    /// Keys released so far (gone idle: every window closed and dropped).
    pub fn keys_released(&self) -> u64 {
        self.keys_released
    }

    /// [`Self::pane_lines`] for the rings as they are now (in place: no allocation).
    fn refresh_pane_lines(&mut self) {
        self.pane_lines.clear();
        let rings = self.rings.iter().flatten();
        self.pane_lines.extend(rings.filter_map(Ring::pane_lines));
    }

    /// A hint, for callers that hold a batch: call it before [`Self::process`] of each
    /// event with the events still to come after it (`&batch[i + 1..]`). It starts loading
    /// the state of the key a few events ahead, the buffers of one a little nearer (whose
    /// state an earlier call loaded), and the buffers those point to (the last-N items of
    /// a session) of one nearer still, so that the cache misses of several events
    /// overlap instead of each event waiting on its own (with many keys the engine is
    /// bound by memory latency). No effect on results.
    #[inline]
    pub fn prefetch_upcoming(&self, upcoming: &[Event]) {
        if let Some(ev) = upcoming.get(PREFETCH_EVENTS_FAR - 1) {
            let k = ev.key.0 as usize;
            self.prefetch_key(k);
            let ts = ev.ts;
            for lines in &self.pane_lines {
                lines.prefetch(k, ts);
            }
        }
        // one pass over the columns serves both keys (`usize::MAX`: no event, no slot)
        let key = |i: usize| {
            upcoming
                .get(i - 1)
                .map_or(usize::MAX, |ev| ev.key.0 as usize)
        };
        let near = key(PREFETCH_EVENTS_NEAR);
        if near != usize::MAX {
            prefetch_buffers(&self.cols, &self.blocks, key(PREFETCH_EVENTS_MID), near);
        }
    }

    /// Starts loading key `k`'s timer record, feature states and online-store row.
    #[inline]
    fn prefetch_key(&self, k: usize) {
        // whole fours (see `key_lines`): a loop without a remainder to find
        debug_assert!(self.key_lines.len().is_multiple_of(4));
        for four in self.key_lines.chunks_exact(4) {
            for &(at, stride) in four {
                // only a hint: an address past the end (an unknown key) is harmless
                let at = at.wrapping_add(k.wrapping_mul(stride));
                prefetch(std::ptr::without_provenance::<u8>(at));
            }
        }
    }

    /// [`Self::key_lines`] for the arrays as they are now: every line a key's slot may
    /// touch (its first byte's, each 64 bytes on, and its last byte's: a slot that does not
    /// start a line may end on one more), except the last byte's for slots that never
    /// straddle a line; padded to a multiple of four with the last line again (a second
    /// hint for a line costs less than the loop's remainder).
    fn key_lines(&self) -> Vec<(usize, usize)> {
        fn lines_of(base: usize, stride: usize, out: &mut Vec<(usize, usize)>) {
            if stride == 0 {
                return;
            }
            // slots of a size dividing 64 from a base aligned to it never straddle a line,
            // and whole lines from a line-aligned base are covered by the steps of 64
            let aligned = (64usize.is_multiple_of(stride) && base.is_multiple_of(stride))
                || (stride.is_multiple_of(64) && base.is_multiple_of(64));
            out.extend(
                (0..stride)
                    .step_by(64)
                    .map(|o| (base.wrapping_add(o), stride)),
            );
            if !aligned {
                out.push((base.wrapping_add(stride - 1), stride));
            }
        }
        let mut out = Vec::new();
        // every feature's state is touched by every event: the key's whole block
        let (blocks, per_key) = self.blocks.addr();
        lines_of(blocks, per_key, &mut out);
        if let Some(store) = &self.store {
            let (rows, per_key) = store.rows();
            lines_of(rows, per_key, &mut out);
        }
        if let Some(&last) = out.last() {
            out.resize(out.len().next_multiple_of(4), last);
        }
        out
    }

    /// Starts loading the buffers of key `k`'s states that are due at `wm` (call once the
    /// key's record and states are in cache: [`Self::prefetch_key`] a few pops earlier).
    #[inline]
    fn prefetch_due_buffers(&self, k: usize, wm: i64) {
        let nf = self.feats.len();
        let Some(rec) = self.blocks.words(self.timer_rec, k) else {
            return;
        };
        let Some(rec) = rec.get(1..nf + 1) else {
            return;
        };
        for (need, col) in rec.iter().zip(&self.cols) {
            if *need <= wm {
                on_col!(col, |v| self.blocks.get(*v, k),
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
        self.finish_some(closed, usize::MAX);
    }

    /// End of input, a piece at a time: fires the remaining windows in time order (the
    /// watermark stepping from one firing time to the next) until `closed` holds at least
    /// `rows` rows, then returns `false` (call again for more), or until none remain:
    /// `true`, the watermark at `i64::MAX`. The rows come as [`Self::finish`] gives them,
    /// so that a caller can write each piece before the next is made.
    pub fn finish_some(&mut self, closed: &mut Vec<WindowRow>, rows: usize) -> bool {
        self.finishing = true;
        while closed.len() < rows {
            // (a ring clamps times to the accepted range: what it holds beyond fires at the
            // last step, as one advance to the end would fire it)
            let rings = self.rings.iter().flatten().filter_map(Ring::next_due);
            let next = (self.timers.first_time().into_iter().chain(rings))
                .filter(|&t| t > self.wm)
                .min();
            match next {
                Some(t) if t < i64::MAX => self.advance_watermark(t, closed),
                _ => {
                    self.advance_watermark(i64::MAX, closed);
                    return true;
                }
            }
        }
        false
    }

    /// Keeps the online store from now on: each key's latest per-event row, for
    /// [`Self::latest`]. Call it before the first event (a key seen before has a row of
    /// `Null`s until its next event). Off by default, as queryable state is in Flink: each
    /// event then writes two more cache lines (with the example spec at 100k keys the engine
    /// runs 1.09–1.10× faster without), wasted when nobody reads the store.
    pub fn keep_online_store(&mut self) {
        if self.store.is_none() {
            let mut store = OnlineStore::new(Arc::clone(&self.layout));
            store.grow(self.blocks.keys());
            self.store = Some(store);
            self.key_lines = self.key_lines();
        }
    }

    /// The latest per-event feature row of `key` (the online store), if the engine keeps
    /// one ([`Self::keep_online_store`]) and the key was seen.
    pub fn latest(&self, key: KeyId) -> Option<Vec<FeatureValue>> {
        let k = key.0 as usize;
        let rec = self.blocks.words(self.timer_rec, k)?;
        if rec.get(seen_word(self.feats.len())) != Some(&1) {
            return None;
        }
        Some(self.store.as_ref()?.get(k))
    }

    /// Keys holding state now: seen and not released.
    pub fn num_keys(&self) -> usize {
        self.num_keys
    }

    /// Approximate bytes of state held for all keys (for the documented per-key figure):
    /// key slots, per-feature states with their deques, panes, windows, accumulators and the
    /// online-store row, plus the timer queue.
    pub fn state_bytes(&self) -> usize {
        self.timers.bytes()
            + self.blocks.bytes()
            + self
                .cols
                .iter()
                .map(|c| c.bytes(&self.blocks))
                .sum::<usize>()
            + self.rings.iter().flatten().map(Ring::bytes).sum::<usize>()
            + self.store.as_ref().map_or(0, OnlineStore::bytes)
    }

    /// The bytes feature `f` holds beyond the fixed slots of the key blocks (its deques, panes,
    /// windows and sets): which feature makes the state grow, when it grows too large.
    pub fn feature_state_bytes(&self, f: usize) -> usize {
        self.cols.get(f).map_or(0, |c| c.bytes(&self.blocks))
            + self
                .rings
                .get(f)
                .and_then(Option::as_ref)
                .map_or(0, Ring::bytes)
    }
}

impl Drop for FeatureEngine {
    fn drop(&mut self) {
        for col in &self.cols {
            // SAFETY: each column once, and nothing reads the blocks after
            unsafe { col.drop_states(&mut self.blocks) };
        }
        self.blocks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key lines are exactly the lines a key's timer record, slots and online-store row
    /// touch (slots of sizes that straddle lines or not; padding repeats a line).
    #[test]
    fn key_lines_are_the_lines_a_key_touches() {
        let f = |name: &str, agg, field, window| FeatureSpec {
            name: name.into(),
            agg,
            field,
            window,
            filter: None,
        };
        let sliding = |size, slide| WindowSpec::Sliding {
            size,
            slide,
            offset: 0,
        };
        let global = WindowSpec::Global {
            trigger: crate::window::Trigger::EveryEvent,
            purge: false,
            ttl: None,
        };
        let feats = vec![
            f("c", AggKind::Count, None, sliding(300, 60)),
            f("s", AggKind::Sum, Some(0), sliding(300, 60)),
            f("m", AggKind::Mean, Some(0), sliding(3600, 300)),
            f(
                "l",
                AggKind::LastN { n: 10 },
                Some(0),
                WindowSpec::Session { gap: 1800 },
            ),
            f(
                "t",
                AggKind::Mean,
                Some(0),
                WindowSpec::Tumbling {
                    size: 60,
                    offset: 0,
                },
            ),
            f("r", AggKind::Recency, None, global),
        ];
        let cfg = EngineConfig {
            allowed_lateness: 60,
            late_policy: LatePolicy::Update,
            key_ttl: 0,
        };
        let mut eng = FeatureEngine::new(feats, cfg).expect("valid features");
        let ev = Event {
            key: KeyId(999),
            ts: 1_000,
            fields: vec![Value::Float(1.0)],
        };
        eng.process(&ev, &mut FeatureRow::default(), &mut Vec::new());
        // without the online store, then with it (its rows are then lines of the key too)
        for with_store in [false, true] {
            if with_store {
                eng.keep_online_store();
            }
            assert!(eng.key_lines.len().is_multiple_of(4));
            let mut arrays = vec![eng.blocks.addr()];
            arrays.extend(eng.store.as_ref().map(OnlineStore::rows));
            assert_eq!(arrays.len(), 1 + usize::from(with_store));
            for k in [0, 1, 2, 3, 7, 500, 998, 999] {
                let want: std::collections::BTreeSet<usize> = (arrays.iter())
                    .flat_map(|&(base, stride)| {
                        (0..stride).map(move |b| (base + k * stride + b) / 64)
                    })
                    .collect();
                let got = (eng.key_lines.iter())
                    .map(|&(at, stride)| (at + k * stride) / 64)
                    .collect();
                assert_eq!(want, got, "key {k}, online store {with_store}");
            }
        }
    }

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

    /// The typed window values of count and Welford panes are bit for bit what merging the
    /// panes into a scratch accumulator and taking its result gives (empty windows, empty
    /// panes first, in the middle and last included).
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
        // one cache line each, aligned to it: an event touches one line of these states
        for (size, align) in [
            (
                std::mem::size_of::<RingSliding<(), ()>>(),
                std::mem::align_of::<RingSliding<(), ()>>(),
            ),
            (
                std::mem::size_of::<RingSliding<f64, WfRun>>(),
                std::mem::align_of::<RingSliding<f64, WfRun>>(),
            ),
        ] {
            assert_eq!((size, align), (64, 64));
        }
        let global = (
            std::mem::size_of::<Global>(),
            std::mem::align_of::<Global>(),
        );
        assert_eq!(global, (64, 64));
        // a sweep writes rows by the tens of thousands
        assert_eq!(std::mem::size_of::<WindowRow>(), 48);
    }

    #[test]
    fn more_features_than_a_row_can_name_are_refused() {
        let spec = |i: usize| FeatureSpec {
            name: format!("f{i}"),
            agg: AggKind::Count,
            field: None,
            window: WindowSpec::Tumbling {
                size: 60_000,
                offset: 0,
            },
            filter: None,
        };
        let cfg = EngineConfig {
            allowed_lateness: 0,
            late_policy: LatePolicy::Update,
            key_ttl: 0,
        };
        let err = FeatureEngine::new((0..=MAX_FEATURES).map(spec).collect(), cfg).err();
        assert!(
            matches!(&err, Some(CoreError::Aggregation(m)) if m.contains("at most 65536 features")),
            "{err:?}"
        );
    }
}
