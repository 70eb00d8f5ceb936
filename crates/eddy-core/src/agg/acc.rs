//! The accumulator: one window's (or pane's) state of any aggregation, and the dispatch of
//! add, merge, reset and result to each kind's state.

use super::distinct::{value_key, Distinct};
use super::last_n::LastN;
use super::numeric::{num, rate, welford_add, welford_merge, welford_value};
use super::recency::RecencyTs;
use super::{AggKind, FeatureValue};
use crate::Value;

/// A mergeable accumulator: the state of one window (or pane) of one feature.
#[derive(Debug, Clone)]
pub(crate) enum Acc {
    /// count and rate: matching events.
    Count(u64),
    /// sum of numeric values.
    Sum(f64),
    /// mean / variance / stddev (Welford; Chan et al. for merging).
    Welford {
        n: u64,
        mean: f64,
        m2: f64,
    },
    /// min (`max == false`) or max; `n == 0` means empty.
    Extreme {
        n: u64,
        v: f64,
        max: bool,
    },
    Distinct(Box<Distinct>),
    /// The last `n` values, sorted by timestamp (ties in arrival order).
    LastN(LastN),
    /// Matching timestamps, sorted, pruned to those after the lateness horizon plus the
    /// greatest one at or before it (enough to answer "last match at or before t" for any
    /// event that can still be accepted).
    Recency(RecencyTs),
}

// a session's window (`Win`) fits one cache line only with an `Acc` of 40 bytes
const _: () = assert!(std::mem::size_of::<Acc>() <= 40);

/// What a result is computed against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResultCtx {
    /// Window length in ms for rates.
    pub window_len: i64,
    /// Reference time for recency: the scored event's time, or the window end on close.
    pub as_of: i64,
}

impl Acc {
    /// Calls `f` with every interned string the state holds.
    pub(crate) fn for_each_sym(&self, f: &mut dyn FnMut(crate::Sym)) {
        match self {
            Acc::LastN(l) => l.items().for_each(|(_, v)| {
                if let Value::Str(s) = v {
                    f(s)
                }
            }),
            Acc::Distinct(d) => d.for_each_sym(f),
            _ => {}
        }
    }

    pub(crate) fn new(kind: &AggKind) -> Acc {
        match *kind {
            AggKind::Count | AggKind::Rate { .. } => Acc::Count(0),
            AggKind::Sum => Acc::Sum(0.0),
            AggKind::Mean | AggKind::Variance | AggKind::Stddev => Acc::Welford {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            },
            AggKind::Min => Acc::Extreme {
                n: 0,
                v: 0.0,
                max: false,
            },
            AggKind::Max => Acc::Extreme {
                n: 0,
                v: 0.0,
                max: true,
            },
            AggKind::DistinctCount { exact_limit } => {
                Acc::Distinct(Box::new(Distinct::new(exact_limit)))
            }
            AggKind::LastN { n } => Acc::LastN(LastN::new(n)),
            AggKind::Recency => Acc::Recency(RecencyTs::new()),
        }
    }

    /// Adds one matching event. `v` is the field value (`Null` for count, rate, recency);
    /// numeric aggregations skip non-numeric and NaN values, others skip `Null`.
    /// `horizon`: no event with `ts <= horizon` can be accepted any more (recency pruning).
    pub(crate) fn add(&mut self, ts: i64, v: Value, horizon: i64) {
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Sum(s) => {
                if let Some(x) = num(v) {
                    *s += x;
                }
            }
            Acc::Welford { n, mean, m2 } => {
                if let Some(x) = num(v) {
                    *n += 1;
                    welford_add(mean, m2, x, *n as f64);
                }
            }
            Acc::Extreme { n, v: cur, max } => {
                if let Some(x) = num(v) {
                    if *n == 0 || (*max && x > *cur) || (!*max && x < *cur) {
                        *cur = x;
                    }
                    *n += 1;
                }
            }
            Acc::Distinct(d) => {
                if let Some(k) = value_key(v) {
                    d.insert(k);
                }
            }
            Acc::LastN(l) => l.add(ts, v),
            Acc::Recency(r) => r.add(ts, horizon),
        }
    }

    /// Merges `other` (a window or pane disjoint in time from this one) into `self`.
    #[inline]
    pub(crate) fn merge(&mut self, other: &Acc, horizon: i64) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(a), Acc::Sum(b)) => *a += b,
            (
                Acc::Welford { n, mean, m2 },
                &Acc::Welford {
                    n: n2,
                    mean: mean2,
                    m2: m22,
                },
            ) => {
                welford_merge((n, mean, m2), (n2, mean2, m22));
            }
            (Acc::Extreme { n, v, max }, &Acc::Extreme { n: n2, v: v2, .. }) => {
                if n2 == 0 {
                    return;
                }
                if *n == 0 || (*max && v2 > *v) || (!*max && v2 < *v) {
                    *v = v2;
                }
                *n += n2;
            }
            (Acc::Distinct(a), Acc::Distinct(b)) => a.merge(b),
            (Acc::LastN(a), Acc::LastN(b)) => {
                // one at a time, so that the buffer never holds more than n (adding keeps
                // the newest n of all it has seen, ties in arrival order)
                for (t, v) in b.items() {
                    a.add(t, v);
                }
            }
            (Acc::Recency(a), Acc::Recency(b)) => a.merge(b, horizon),
            _ => {}
        }
    }

    /// Empties the accumulator, keeping allocations.
    pub(crate) fn reset(&mut self) {
        match self {
            Acc::Count(n) => *n = 0,
            Acc::Sum(s) => *s = 0.0,
            Acc::Welford { n, mean, m2 } => (*n, *mean, *m2) = (0, 0.0, 0.0),
            Acc::Extreme { n, v, .. } => (*n, *v) = (0, 0.0),
            Acc::Distinct(d) => d.clear(),
            Acc::LastN(l) => l.clear(),
            Acc::Recency(r) => r.clear(),
        }
    }

    /// Writes the feature value of `kind` into `out` (reusing a `Seq`'s allocation).
    pub(crate) fn result(&self, kind: &AggKind, ctx: ResultCtx, out: &mut FeatureValue) {
        match (self, kind) {
            (Acc::Count(n), AggKind::Rate { unit }) => {
                *out = rate(*n, ctx.window_len, *unit);
            }
            (Acc::Count(n), _) => *out = FeatureValue::Int(*n as i64),
            (Acc::Sum(s), _) => *out = FeatureValue::Num(*s),
            (&Acc::Welford { n, mean, m2 }, k) => *out = welford_value(k, n, mean, m2),
            (&Acc::Extreme { n, v, .. }, _) => {
                *out = if n == 0 {
                    FeatureValue::Null
                } else {
                    FeatureValue::Num(v)
                }
            }
            (Acc::Distinct(d), _) => *out = FeatureValue::Int(d.count()),
            (Acc::LastN(l), _) => l.write_values(out),
            (Acc::Recency(r), _) => *out = r.value(ctx.as_of),
        }
    }

    /// Approximate heap + inline bytes.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Acc>()
            + match self {
                Acc::Distinct(d) => d.bytes() + std::mem::size_of::<Distinct>(),
                Acc::LastN(l) => l.heap_bytes(),
                Acc::Recency(r) => r.heap_bytes(),
                _ => 0,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::RateUnit;
    use crate::Sym;

    const CTX: ResultCtx = ResultCtx {
        window_len: 60_000,
        as_of: 100,
    };

    fn res(acc: &Acc, kind: AggKind) -> FeatureValue {
        let mut out = FeatureValue::Null;
        acc.result(&kind, CTX, &mut out);
        out
    }

    fn filled(kind: AggKind, vals: &[(i64, Value)]) -> Acc {
        let mut a = Acc::new(&kind);
        for &(t, v) in vals {
            a.add(t, v, i64::MIN);
        }
        a
    }

    fn f(x: f64) -> Value {
        Value::Float(x)
    }

    #[test]
    fn hand_computed_values() {
        let vals = [
            (1, f(2.0)),
            (2, f(4.0)),
            (3, f(4.0)),
            (4, f(4.0)),
            (5, f(5.0)),
            (6, f(5.0)),
            (7, f(7.0)),
            (8, f(9.0)),
        ];
        // 2,4,4,4,5,5,7,9: sum 40, mean 5, squared deviations 32, sample variance 32/7
        assert_eq!(
            res(&filled(AggKind::Count, &vals), AggKind::Count),
            FeatureValue::Int(8)
        );
        assert_eq!(
            res(&filled(AggKind::Sum, &vals), AggKind::Sum),
            FeatureValue::Num(40.0)
        );
        assert_eq!(
            res(&filled(AggKind::Mean, &vals), AggKind::Mean),
            FeatureValue::Num(5.0)
        );
        let FeatureValue::Num(var) = res(&filled(AggKind::Variance, &vals), AggKind::Variance)
        else {
            panic!()
        };
        assert!((var - 32.0 / 7.0).abs() < 1e-12);
        let FeatureValue::Num(sd) = res(&filled(AggKind::Stddev, &vals), AggKind::Stddev) else {
            panic!()
        };
        assert!((sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(
            res(&filled(AggKind::Min, &vals), AggKind::Min),
            FeatureValue::Num(2.0)
        );
        assert_eq!(
            res(&filled(AggKind::Max, &vals), AggKind::Max),
            FeatureValue::Num(9.0)
        );
        let dk = AggKind::DistinctCount { exact_limit: 100 };
        assert_eq!(res(&filled(dk, &vals), dk), FeatureValue::Int(5));
        // 8 events over a 60 s window = 8 per minute, 480 per hour
        let rk = AggKind::Rate {
            unit: RateUnit::Minute,
        };
        assert_eq!(res(&filled(rk, &vals), rk), FeatureValue::Num(8.0));
        let rk = AggKind::Rate {
            unit: RateUnit::Hour,
        };
        assert_eq!(res(&filled(rk, &vals), rk), FeatureValue::Num(480.0));
        let lk = AggKind::LastN { n: 3 };
        assert_eq!(
            res(&filled(lk, &vals), lk),
            FeatureValue::Seq(vec![f(5.0), f(7.0), f(9.0)])
        );
        // recency as of 100: last match at 8
        assert_eq!(
            res(&filled(AggKind::Recency, &vals), AggKind::Recency),
            FeatureValue::Int(92)
        );
        // empty
        let e: [(i64, Value); 0] = [];
        assert_eq!(
            res(&filled(AggKind::Mean, &e), AggKind::Mean),
            FeatureValue::Null
        );
        assert_eq!(
            res(&filled(AggKind::Variance, &vals[..1]), AggKind::Variance),
            FeatureValue::Null
        );
        assert_eq!(
            res(&filled(AggKind::Min, &e), AggKind::Min),
            FeatureValue::Null
        );
        assert_eq!(
            res(&filled(AggKind::Sum, &e), AggKind::Sum),
            FeatureValue::Num(0.0)
        );
        assert_eq!(
            res(&filled(AggKind::Recency, &e), AggKind::Recency),
            FeatureValue::Null
        );
    }

    #[test]
    fn last_n_is_in_event_time_order_and_merges() {
        let lk = AggKind::LastN { n: 3 };
        let s = |i| Value::Str(Sym(i));
        let a = filled(
            lk,
            &[
                (5, s(5)),
                (1, s(1)),
                (9, s(9)),
                (3, s(3)),
                (0, s(0)),
                (7, s(7)),
            ],
        );
        assert_eq!(res(&a, lk), FeatureValue::Seq(vec![s(5), s(7), s(9)]));
        let mut x = filled(lk, &[(1, s(1)), (2, s(2))]);
        x.merge(&filled(lk, &[(10, s(10)), (11, s(11))]), i64::MIN);
        assert_eq!(res(&x, lk), FeatureValue::Seq(vec![s(2), s(10), s(11)]));
        // two full buffers, interleaved and with a tie: the newest 3 (the merged-in item
        // after the kept one of the same time), and the buffer never holds more than 3
        let mut y = filled(lk, &[(2, s(2)), (4, s(4)), (6, s(6))]);
        y.merge(&filled(lk, &[(3, s(3)), (6, s(60)), (5, s(5))]), i64::MIN);
        // all by time: 2, 3, 4, 5, 6 (kept), 6 (merged in)
        assert_eq!(
            res(&y, lk),
            FeatureValue::Seq(vec![s(5), s(6), s(60)]),
            "{y:?}"
        );
        if let Acc::LastN(l) = &y {
            assert!(l.capacity() <= 3, "{}", l.capacity());
        }
    }

    #[test]
    fn merge_equals_sequential() {
        let vals: Vec<(i64, Value)> = (0..50)
            .map(|i| (i, f(((i * 37) % 11) as f64 * 1.5 - 3.0)))
            .collect();
        for kind in [
            AggKind::Count,
            AggKind::Sum,
            AggKind::Mean,
            AggKind::Variance,
            AggKind::Min,
            AggKind::Max,
            AggKind::DistinctCount { exact_limit: 5 },
            AggKind::Recency,
        ] {
            let whole = filled(kind, &vals);
            let mut a = filled(kind, &vals[..20]);
            a.merge(&filled(kind, &vals[20..]), i64::MIN);
            let (x, y) = (res(&whole, kind), res(&a, kind));
            match (x, y) {
                (FeatureValue::Num(p), FeatureValue::Num(q)) => {
                    assert!((p - q).abs() < 1e-9, "{kind:?}")
                }
                (p, q) => assert_eq!(p, q, "{kind:?}"),
            }
        }
    }

    #[test]
    fn recency_pruning_keeps_what_can_still_be_asked() {
        let mut a = Acc::new(&AggKind::Recency);
        for t in [10, 20, 30, 40] {
            a.add(t, Value::Null, 25);
        }
        // kept: 20 (greatest <= 25), 30, 40
        let Acc::Recency(l) = &a else { panic!() };
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![20, 30, 40]);
        let mut out = FeatureValue::Null;
        a.result(
            &AggKind::Recency,
            ResultCtx {
                window_len: 1,
                as_of: 26,
            },
            &mut out,
        );
        assert_eq!(out, FeatureValue::Int(6));
    }
}
