//! The online store: each key's latest per-event feature values, in one flat row per key.
//!
//! An event writes its key's whole row, so the row is one run of [`Value`]s: a scalar
//! feature takes one (`Int`, `Float` for a number, or `Null`), a last-N sequence of up to
//! [`INLINE_SEQ`] items its length (`Int`, or `Null` for no sequence) and then `n` items.
//! With the example spec a row is 15 values (240 bytes) in place of five 24-byte
//! [`FeatureValue`]s plus a heap buffer for the sequence, and prefetching it needs no
//! pointer to be read first. Longer sequences (rare: `n` up to 100,000) keep a `Vec` per key
//! apart from the row.

use crate::agg::{AggKind, FeatureValue};
use crate::Value;

/// Longest last-N sequence kept in the row itself.
pub(super) const INLINE_SEQ: usize = 32;

/// Where a feature's value is in a row.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Value `at`.
    Scalar { at: usize },
    /// The length at value `at`, the items after it (at most `cap`).
    Seq { at: usize, cap: usize },
    /// Value `at` says null or not; the items are the key's long sequence `j`.
    Long { at: usize, j: usize },
}

#[derive(Debug)]
pub(super) struct OnlineStore {
    slots: Vec<Slot>,
    /// Values per key.
    stride: usize,
    rows: Vec<Value>,
    /// Long sequences per key.
    long_per_key: usize,
    long: Vec<Vec<Value>>,
}

impl OnlineStore {
    pub(super) fn new(aggs: impl Iterator<Item = AggKind>) -> Self {
        let (mut values, mut long_per_key) = (0, 0);
        let slots: Vec<Slot> = aggs
            .map(|agg| match agg {
                AggKind::LastN { n } if n > INLINE_SEQ => {
                    (values, long_per_key) = (values + 1, long_per_key + 1);
                    Slot::Long {
                        at: values - 1,
                        j: long_per_key - 1,
                    }
                }
                AggKind::LastN { n } => {
                    values += 1 + n;
                    Slot::Seq {
                        at: values - 1 - n,
                        cap: n,
                    }
                }
                _ => {
                    values += 1;
                    Slot::Scalar { at: values - 1 }
                }
            })
            .collect();
        OnlineStore {
            slots,
            stride: values,
            rows: Vec::new(),
            long_per_key,
            long: Vec::new(),
        }
    }

    /// Makes room for keys below `n` (rows of `Null`s).
    pub(super) fn grow(&mut self, n: usize) {
        self.rows.resize(n * self.stride, Value::Null);
        self.long.resize_with(n * self.long_per_key, Vec::new);
    }

    /// The rows and the values per key, for prefetching.
    pub(super) fn rows(&self) -> (&[Value], usize) {
        (&self.rows, self.stride)
    }

    /// Stores `values` (one per feature) as key `k`'s latest row.
    #[inline]
    pub(super) fn set(&mut self, k: usize, values: &[FeatureValue]) {
        let OnlineStore {
            slots,
            stride,
            rows,
            long_per_key,
            long,
        } = self;
        let Some(row) = rows.get_mut(k * *stride..(k + 1) * *stride) else {
            return;
        };
        for (slot, v) in slots.iter().zip(values) {
            match (*slot, v) {
                (Slot::Scalar { at }, v) => {
                    if let Some(x) = row.get_mut(at) {
                        *x = match *v {
                            FeatureValue::Int(i) => Value::Int(i),
                            FeatureValue::Num(f) => Value::Float(f),
                            // a sequence feature's values are sequences or null, the others' scalars
                            FeatureValue::Null | FeatureValue::Seq(_) => Value::Null,
                        };
                    }
                }
                (Slot::Seq { at, cap }, v) => {
                    let Some((len, items)) = row.get_mut(at..).and_then(|r| r.split_first_mut())
                    else {
                        continue;
                    };
                    match v {
                        FeatureValue::Seq(src) => {
                            let n = src.len().min(cap).min(items.len());
                            *len = Value::Int(n as i64);
                            items[..n].copy_from_slice(&src[..n]);
                        }
                        _ => *len = Value::Null,
                    }
                }
                (Slot::Long { at, j }, v) => {
                    let dst = long.get_mut(k * *long_per_key + j);
                    if let (Some(x), Some(dst)) = (row.get_mut(at), dst) {
                        dst.clear();
                        *x = match v {
                            FeatureValue::Seq(src) => {
                                dst.extend_from_slice(src);
                                Value::Int(src.len() as i64)
                            }
                            _ => Value::Null,
                        };
                    }
                }
            }
        }
    }

    /// Key `k`'s latest row, one value per feature (`Null`s for a key without one).
    pub(super) fn get(&self, k: usize) -> Vec<FeatureValue> {
        let row = self
            .rows
            .get(k * self.stride..(k + 1) * self.stride)
            .unwrap_or_default();
        let at = |i: usize| row.get(i).copied().unwrap_or(Value::Null);
        self.slots
            .iter()
            .map(|slot| match *slot {
                Slot::Scalar { at: i } => match at(i) {
                    Value::Int(i) => FeatureValue::Int(i),
                    Value::Float(f) => FeatureValue::Num(f),
                    _ => FeatureValue::Null,
                },
                Slot::Seq { at: i, .. } => match at(i) {
                    Value::Int(n) => {
                        FeatureValue::Seq((0..n as usize).map(|j| at(i + 1 + j)).collect())
                    }
                    _ => FeatureValue::Null,
                },
                Slot::Long { at: i, j } => {
                    match (at(i), self.long.get(k * self.long_per_key + j)) {
                        (Value::Int(_), Some(items)) => FeatureValue::Seq(items.clone()),
                        _ => FeatureValue::Null,
                    }
                }
            })
            .collect()
    }

    pub(super) fn bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<Value>()
            + self.long.capacity() * std::mem::size_of::<Vec<Value>>()
            + self
                .long
                .iter()
                .map(|v| v.capacity() * std::mem::size_of::<Value>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sym;

    fn seq(items: &[Value]) -> FeatureValue {
        FeatureValue::Seq(items.to_vec())
    }

    #[test]
    fn a_row_reads_back_as_it_was_stored() {
        let aggs = [
            AggKind::Count,
            AggKind::LastN { n: 3 },
            AggKind::Mean,
            AggKind::LastN { n: INLINE_SEQ + 1 },
            AggKind::Recency,
        ];
        let mut store = OnlineStore::new(aggs.into_iter());
        store.grow(3);
        let long: Vec<Value> = (0..INLINE_SEQ as i64 + 1).map(Value::Int).collect();
        let a = vec![
            FeatureValue::Int(-7),
            seq(&[Value::Str(Sym(4)), Value::Float(-0.5), Value::Bool(true)]),
            FeatureValue::Num(2.25),
            seq(&long),
            FeatureValue::Null,
        ];
        let b = vec![
            FeatureValue::Null,
            seq(&[]),
            FeatureValue::Null,
            FeatureValue::Null,
            FeatureValue::Int(i64::MIN),
        ];
        let c = vec![
            FeatureValue::Int(1),
            seq(&[Value::Null, Value::Int(i64::MAX)]),
            FeatureValue::Num(f64::NEG_INFINITY),
            seq(&[]),
            FeatureValue::Int(0),
        ];
        store.set(1, &a);
        store.set(2, &b);
        assert_eq!(store.get(1), a);
        assert_eq!(store.get(2), b);
        // overwriting shorter and of other kinds leaves nothing of the old row
        store.set(1, &c);
        assert_eq!(store.get(1), c);
        store.set(1, &b);
        assert_eq!(store.get(1), b);
        // a key never set, and one past the end
        assert_eq!(store.get(0), vec![FeatureValue::Null; 5]);
        assert_eq!(store.get(9), vec![FeatureValue::Null; 5]);
    }
}
