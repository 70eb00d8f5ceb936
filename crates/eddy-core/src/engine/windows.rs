//! Tumbling windows and sessions kept per key.

use std::collections::VecDeque;

use super::*;
use crate::agg::{insert_at, Acc, ResultCtx};
use crate::window::{aligned_start, WindowSpec};
use crate::Value;

/// One tumbling window or session of one key: one cache line, aligned to one (a key's
/// window deque is then a line per window, not two for most allocations).
#[derive(Debug)]
#[repr(align(64))]
pub(super) struct Win {
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) acc: Acc,
    /// Has been emitted at least once.
    pub(super) emitted: bool,
    /// Has changes not emitted yet.
    pub(super) pending: bool,
}

// a session event touches its window's one line
const _: () = assert!(std::mem::size_of::<Win>() == 64);

/// A key's windows of one feature, on 32 bytes aligned to 32: the column of all keys'
/// deques then has none straddling two cache lines (an event reads its key's).
#[derive(Debug, Default)]
#[repr(align(32))]
pub(super) struct Wins(pub(super) VecDeque<Win>);

impl std::ops::Deref for Wins {
    type Target = VecDeque<Win>;
    fn deref(&self) -> &VecDeque<Win> {
        &self.0
    }
}

impl std::ops::DerefMut for Wins {
    fn deref_mut(&mut self) -> &mut VecDeque<Win> {
        &mut self.0
    }
}

const _: () = assert!(std::mem::size_of::<Wins>() == 32);

pub(super) fn win_len(w: &Win) -> i64 {
    w.end.saturating_sub(w.start)
}

/// `insert_at` for a key's windows, growing 1, 2, 4, ... (a key usually holds one or two
/// tumbling windows or sessions; the default first allocation would hold four).
pub(super) fn insert_win(wins: &mut VecDeque<Win>, pos: usize, w: Win) {
    if wins.len() == wins.capacity() {
        wins.reserve_exact(wins.len().max(1));
    }
    insert_at(wins, pos, w);
}

/// Applies one event of the key to its tumbling windows or sessions; returns when the key
/// next needs the timer handler. The usual session event (it extends the newest session
/// and touches no other) is handled here, the rest in [`windows_event_general`] (so that
/// this function stays small). Not inlined: inlined into `process`, it made the compiler
/// stop inlining the pane ring's code there, which cost the full feature mix more than the
/// call saves.
#[inline(never)]
pub(super) fn windows_event(
    feat: &mut Feat,
    wins: &mut VecDeque<Win>,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureOut<'_>,
    ctx: &mut Ctx<'_>,
) -> i64 {
    if let WindowSpec::Session { gap } = feat.window {
        // no overflow: `ts` is clamped to ±2^61, a gap is at most 2^50
        let (ps, pe) = (ts, ts + gap);
        // same result as the merge in `windows_event_general` with `lo = hi - 1`
        let len = wins.len();
        let prev_clear = len < 2 || wins.get(len - 2).is_some_and(|p| p.end < ps);
        if let Some(w) = wins
            .back_mut()
            .filter(|w| prev_clear && w.start <= pe && w.end >= ps)
        {
            w.start = w.start.min(ps);
            w.end = w.end.max(pe);
            apply_to_window(feat, w, ts, m, out, ctx);
            return if len == 1 {
                need_of(w, ctx.lat)
            } else {
                windows_need(wins, ctx.lat)
            };
        }
    }
    windows_event_general(feat, wins, ts, m, out, ctx)
}

/// [`windows_event`] for any event.
#[inline(never)]
fn windows_event_general(
    feat: &mut Feat,
    wins: &mut VecDeque<Win>,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureOut<'_>,
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
    if let Some(w) = wins.get_mut(idx) {
        apply_to_window(feat, w, ts, m, out, ctx);
    }
    windows_need(wins, ctx.lat)
}

/// The rest of [`windows_event`] once the event's window is `w`: adds the event, writes
/// its value to `out`, fires the window if it is already due. Inlined into both callers
/// (last-N, the usual session feature, then runs without a call); other aggregations go
/// through [`add_and_result`].
#[inline(always)]
fn apply_to_window(
    feat: &mut Feat,
    w: &mut Win,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureOut<'_>,
    ctx: &mut Ctx<'_>,
) {
    w.pending = true;
    if let Acc::LastN(l) = &mut w.acc {
        // straight to the last-N code (the same as `add` and `result` do for it)
        if let Some(v) = m {
            l.add(ts, v);
        }
        out.last_n(l);
    } else {
        add_and_result(feat, w, ts, m, out, ctx);
    }
    // no overflow: an end is a clamped timestamp (±2^61) plus a size or gap (at most 2^50)
    let fire_at = w.end - 1;
    if fire_at <= ctx.wm {
        let update = w.emitted;
        w.emitted = true;
        w.pending = false;
        ctx.emit(feat, &w.acc, w.start, w.end, w.end, win_len(w), update);
    }
}

/// Adds the event to window `w` and writes the window's value to `out` (any aggregation).
#[inline(never)]
fn add_and_result(
    feat: &Feat,
    w: &mut Win,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureOut<'_>,
    ctx: &Ctx<'_>,
) {
    if let Some(v) = m {
        w.acc.add(ts, v, ctx.horizon);
    }
    out.acc(
        &w.acc,
        &feat.agg,
        ResultCtx {
            window_len: win_len(w),
            as_of: ts,
        },
    );
}

/// When window `w` next needs the timer handler: its firing if pending, else its drop.
#[inline]
fn need_of(w: &Win, lat: i64) -> i64 {
    // no overflow in `end - 1`: as in `apply_to_window`
    if w.pending {
        w.end - 1
    } else {
        (w.end - 1).saturating_add(lat)
    }
}

/// Exactly when the key's windows next need the timer handler: the earliest firing of a
/// pending window or drop of a fired one. (Exact, not just a bound: a session extended by
/// an event no longer wakes its key at the end it had before.)
pub(super) fn windows_need(wins: &VecDeque<Win>, lat: i64) -> i64 {
    if wins.len() == 1 {
        // the usual case: one live window or session
        return wins.front().map_or(NO_TIMER, |w| need_of(w, lat));
    }
    let mut need = NO_TIMER;
    let (a, b) = wins.as_slices();
    for part in [a, b] {
        for w in part {
            need = need.min(need_of(w, lat));
        }
    }
    need
}

pub(super) fn windows_timer(feat: &mut Feat, wins: &mut VecDeque<Win>, ctx: &mut Ctx<'_>) -> i64 {
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
