//! Global windows per key, fired by their trigger.

use super::*;
use crate::agg::{Acc, FeatureValue, ResultCtx};
use crate::window::{aligned_start, Trigger, WindowSpec};
use crate::Value;

/// One key's global window: one cache line, aligned to one (unaligned, most keys' 64 bytes
/// would span two lines).
#[derive(Debug)]
#[repr(align(64))]
pub(super) struct Global {
    pub(super) acc: Acc,
    pub(super) since_fire: u64,
    pub(super) dirty: bool,
    /// Event-time trigger: the boundary after the latest event (recency reference).
    pub(super) boundary: i64,
}

/// Applies one event of the key (`m`: its value if it matches) and fires on an every-event
/// or count trigger. Inline: for recency the call alone was about 15 of its ~100 instructions.
#[inline]
pub(super) fn global_event(
    feat: &mut Feat,
    g: &mut Global,
    ts: i64,
    m: Option<Value>,
    out: &mut FeatureOut<'_>,
    ctx: &mut Ctx<'_>,
) -> i64 {
    let WindowSpec::Global { trigger, purge } = feat.window else {
        return NO_TIMER;
    };
    g.dirty = true;
    g.since_fire += 1;
    // Recency, the usual global feature, straight from its inline timestamps; its value is
    // a plain integer, so a fired row gets a copy instead of a result computed again.
    let as_of_event = ResultCtx {
        window_len: 0,
        as_of: ts,
    };
    let recency = if let Acc::Recency(r) = &mut g.acc {
        if m.is_some() {
            r.add(ts, ctx.horizon);
        }
        let v = r.value(ts);
        out.set(v.clone());
        Some(v)
    } else {
        if let Some(v) = m {
            g.acc.add(ts, v, ctx.horizon);
        }
        out.acc(&g.acc, &feat.agg, as_of_event);
        None
    };
    // every-event and count triggers fire as of the event: the row's value is the
    // per-event value just computed
    match trigger {
        Trigger::EveryEvent | Trigger::Count(_) => {
            if matches!(trigger, Trigger::Count(n) if g.since_fire < n) {
                return NO_TIMER;
            }
            ctx.push(
                i64::MIN,
                i64::MAX,
                recency.unwrap_or_else(|| {
                    let mut v = FeatureValue::Null;
                    g.acc.result(&feat.agg, as_of_event, &mut v);
                    v
                }),
                false,
            );
        }
        Trigger::EventTime(t) => {
            let b = aligned_start(ts, t, 0).saturating_add(t);
            g.boundary = g.boundary.max(b);
            if b.saturating_sub(1) > ctx.wm {
                return b.saturating_sub(1);
            }
            ctx.emit(feat, &g.acc, i64::MIN, i64::MAX, b, 0, true);
        }
    }
    g.dirty = false;
    g.since_fire = 0;
    if purge {
        g.acc.reset();
    }
    NO_TIMER
}

pub(super) fn global_timer(feat: &mut Feat, g: &mut Global, ctx: &mut Ctx<'_>) -> i64 {
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
