//! Global windows per key, fired by their trigger.

use super::*;
use crate::agg::{Acc, FeatureValue, ResultCtx};
use crate::window::{aligned_start, Trigger, WindowSpec};
use crate::Value;

#[derive(Debug)]
pub(super) struct Global {
    pub(super) acc: Acc,
    pub(super) since_fire: u64,
    pub(super) dirty: bool,
    /// Event-time trigger: the boundary after the latest event (recency reference).
    pub(super) boundary: i64,
}

pub(super) fn global_event(
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
