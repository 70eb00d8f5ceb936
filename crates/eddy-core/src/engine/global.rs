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
    /// Events since the last firing (`0`: nothing to fire).
    pub(super) since_fire: u64,
    /// Event-time trigger: the boundary after the latest event (recency reference).
    pub(super) boundary: i64,
    /// The latest event's time (`i64::MIN`: none since the window was emptied), from which
    /// a `ttl` runs.
    pub(super) last: i64,
}

impl Global {
    pub(super) fn new(feat: &Feat) -> Global {
        Global {
            acc: Acc::new(&feat.agg),
            since_fire: 0,
            boundary: i64::MIN,
            last: i64::MIN,
        }
    }

    /// When the window expires (`NO_TIMER`: never, or nothing to expire).
    fn expiry(&self, ttl: Option<i64>) -> i64 {
        match ttl {
            Some(ttl) if self.last != i64::MIN => self.last.saturating_add(ttl),
            _ => NO_TIMER,
        }
    }
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
    let WindowSpec::Global {
        trigger,
        purge,
        ttl,
    } = feat.window
    else {
        return NO_TIMER;
    };
    g.since_fire += 1;
    g.last = g.last.max(ts);
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
                return g.expiry(ttl);
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
                return b.saturating_sub(1).min(g.expiry(ttl));
            }
            ctx.emit(feat, &g.acc, i64::MIN, i64::MAX, b, 0, true);
        }
    }
    g.since_fire = 0;
    if purge {
        g.acc.reset();
    }
    g.expiry(ttl)
}

/// Fires a due event-time window, then empties the window if its `ttl` has run out;
/// returns the next time it needs.
pub(super) fn global_timer(feat: &mut Feat, g: &mut Global, ctx: &mut Ctx<'_>) -> i64 {
    let WindowSpec::Global {
        trigger,
        purge,
        ttl,
    } = feat.window
    else {
        return NO_TIMER;
    };
    let pending = match trigger {
        Trigger::EventTime(_) if g.since_fire > 0 => g.boundary.saturating_sub(1),
        _ => NO_TIMER,
    };
    if pending != NO_TIMER && pending <= ctx.wm {
        ctx.emit(feat, &g.acc, i64::MIN, i64::MAX, g.boundary, 0, false);
        g.since_fire = 0;
        if purge {
            g.acc.reset();
        }
    }
    let expiry = g.expiry(ttl);
    if expiry != NO_TIMER && expiry <= ctx.wm {
        // validation keeps `ttl` at least the trigger interval: the firing above came first
        g.acc.reset();
        g.since_fire = 0;
        g.last = i64::MIN;
        return NO_TIMER;
    }
    let pending = if g.since_fire > 0 { pending } else { NO_TIMER };
    pending.min(expiry)
}
