//! Aggregation kinds and the values they produce. The accumulators behind them, the
//! crate-internal building blocks of the engine, are in the submodules: one kind of state
//! each, and `Acc` dispatching to them.

mod acc;
mod distinct;
mod encode;
mod hll;
mod last_n;
mod numeric;
mod recency;

pub use hll::HyperLogLog;

pub(crate) use acc::{Acc, ResultCtx};
pub(crate) use distinct::{key_sym, value_key};
pub(crate) use encode::{decode, encode, TAG_FLOAT, TAG_INT, TAG_STR};
pub(crate) use last_n::LastN;
pub(crate) use numeric::{num, rate, welford_add, welford_merge, welford_remove, welford_value};

use std::collections::VecDeque;

use crate::Value;

/// Unit a rate is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
}

impl RateUnit {
    pub fn millis(self) -> i64 {
        match self {
            RateUnit::Second => 1_000,
            RateUnit::Minute => 60_000,
            RateUnit::Hour => 3_600_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    /// Sample variance (n - 1), Welford; `Null` below two values.
    Variance,
    /// Square root of [`AggKind::Variance`].
    Stddev,
    /// Exact up to `exact_limit` distinct values, then HyperLogLog.
    DistinctCount {
        exact_limit: usize,
    },
    /// The last `n` values in event-time order.
    LastN {
        n: usize,
    },
    /// Matching events divided by the window length in `unit`.
    Rate {
        unit: RateUnit,
    },
    /// Milliseconds from the last matching event (before or at this one) to the event being
    /// scored; `Null` if none. On window close: end of window minus last matching event.
    Recency,
}

impl AggKind {
    /// Whether the aggregation reads a field's value (count, rate and recency do not).
    pub fn needs_field(&self) -> bool {
        !matches!(
            self,
            AggKind::Count | AggKind::Rate { .. } | AggKind::Recency
        )
    }

    /// Whether the field must be numeric.
    pub fn needs_numeric(&self) -> bool {
        matches!(
            self,
            AggKind::Sum
                | AggKind::Mean
                | AggKind::Min
                | AggKind::Max
                | AggKind::Variance
                | AggKind::Stddev
        )
    }
}

/// A feature's value as output. `Seq` is reused between events (cleared, not reallocated).
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValue {
    Null,
    Int(i64),
    Num(f64),
    Seq(Vec<Value>),
}

impl FeatureValue {
    /// Copies `src` into `self`, reusing a `Seq` allocation (no allocation in steady state).
    #[inline]
    pub fn copy_from(&mut self, src: &FeatureValue) {
        // scalars by their own arm: cheaper than the general clone
        match (&mut *self, src) {
            (FeatureValue::Seq(d), FeatureValue::Seq(s)) => {
                d.clear();
                d.extend_from_slice(s);
            }
            (_, FeatureValue::Seq(s)) => *self = FeatureValue::Seq(s.clone()),
            (_, &FeatureValue::Int(i)) => *self = FeatureValue::Int(i),
            (_, &FeatureValue::Num(x)) => *self = FeatureValue::Num(x),
            (_, FeatureValue::Null) => *self = FeatureValue::Null,
        }
    }
}

/// `out` as a `Seq` (its items as they were if it already was one, else none).
#[inline]
fn as_seq(out: &mut FeatureValue) -> &mut Vec<Value> {
    if !matches!(out, FeatureValue::Seq(_)) {
        *out = FeatureValue::Seq(Vec::new());
    }
    match out {
        FeatureValue::Seq(v) => v,
        _ => unreachable!("just made a Seq"),
    }
}

/// Turns `out` into an empty `Seq`, keeping its allocation if it already was one.
pub(crate) fn seq_mut(out: &mut FeatureValue) -> &mut Vec<Value> {
    let v = as_seq(out);
    v.clear();
    v
}

/// `out` as a `Seq` of `len` items (their values left to the caller to overwrite), reusing
/// its allocation.
#[inline]
fn seq_of_len(out: &mut FeatureValue, len: usize) -> &mut [Value] {
    let v = as_seq(out);
    v.resize(len, Value::Null);
    v
}

/// `dq.insert(pos, x)`, with the common append case as a plain `push_back`.
/// (Shared by the recency timestamps and the engine's window, pane and event deques.)
#[inline]
pub(crate) fn insert_at<T>(dq: &mut VecDeque<T>, pos: usize, x: T) {
    if pos == dq.len() {
        dq.push_back(x);
    } else {
        dq.insert(pos, x);
    }
}
