//! Aggregation kinds and the values they produce.

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
