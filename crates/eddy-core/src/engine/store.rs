//! The online store: each key's latest per-event feature values, in one flat row per key.
//!
//! An event writes its key's whole row, so the row is laid out to touch few cache lines:
//! `u64` words, first the tags (one byte per value: what kind of value it is), then one
//! payload word per value. A scalar feature takes one value; a last-N sequence of up to
//! [`INLINE_SEQ`] items takes its length and `n` items. With the example spec a row is
//! 17 words (136 bytes) instead of five 24-byte [`FeatureValue`]s plus a 160-byte heap buffer
//! for the sequence, and prefetching it needs no pointer to be read first. Longer sequences
//! (rare: `n` up to 100,000) keep a `Vec` per key apart from the row.

use crate::agg::{AggKind, FeatureValue};
use crate::{Sym, Value};

/// Longest last-N sequence kept in the row itself.
pub(super) const INLINE_SEQ: usize = 32;

/// Where a feature's value is in a row.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Value index `at`.
    Scalar { at: usize },
    /// The length at value index `at`, the items after it (at most `cap`).
    Seq { at: usize, cap: usize },
    /// Value index `at` says null or not; the items are the key's long sequence `j`.
    Long { at: usize, j: usize },
}

const NULL: u8 = 0;
const INT: u8 = 1;
const NUM: u8 = 2;
const BOOL: u8 = 3;
const FLOAT: u8 = 4;
const STR: u8 = 5;

#[derive(Debug)]
pub(super) struct OnlineStore {
    slots: Vec<Slot>,
    /// Tag words at the start of a row.
    tag_words: usize,
    /// Words per key.
    stride: usize,
    rows: Vec<u64>,
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
        let tag_words = values.div_ceil(8);
        OnlineStore {
            slots,
            tag_words,
            stride: tag_words + values,
            rows: Vec::new(),
            long_per_key,
            long: Vec::new(),
        }
    }

    /// Makes room for keys below `n` (rows of `Null`s).
    pub(super) fn grow(&mut self, n: usize) {
        self.rows.resize(n * self.stride, 0);
        self.long.resize_with(n * self.long_per_key, Vec::new);
    }

    /// The words of the rows and the words per key, for prefetching.
    pub(super) fn rows(&self) -> (&[u64], usize) {
        (&self.rows, self.stride)
    }

    /// Stores `values` (one per feature) as key `k`'s latest row.
    #[inline]
    pub(super) fn set(&mut self, k: usize, values: &[FeatureValue]) {
        let OnlineStore {
            slots,
            tag_words,
            stride,
            rows,
            long_per_key,
            long,
        } = self;
        let row = rows
            .get_mut(k * *stride..(k + 1) * *stride)
            .unwrap_or_default();
        let long = long
            .get_mut(k * *long_per_key..(k + 1) * *long_per_key)
            .unwrap_or_default();
        let (tags, payload) = row.split_at_mut((*tag_words).min(row.len()));
        let mut put = |i: usize, tag: u8, word: u64| {
            if let (Some(t), Some(p)) = (tags.get_mut(i / 8), payload.get_mut(i)) {
                let shift = (i % 8) * 8;
                *t = (*t & !(0xff << shift)) | u64::from(tag) << shift;
                *p = word;
            }
        };
        for (slot, v) in slots.iter().zip(values) {
            match (*slot, v) {
                (Slot::Scalar { at }, &FeatureValue::Int(i)) => put(at, INT, i as u64),
                (Slot::Scalar { at }, &FeatureValue::Num(x)) => put(at, NUM, x.to_bits()),
                (Slot::Scalar { at } | Slot::Seq { at, .. }, FeatureValue::Null) => {
                    put(at, NULL, 0)
                }
                (Slot::Seq { at, cap }, FeatureValue::Seq(items)) => {
                    let n = items.len().min(cap);
                    put(at, INT, n as u64);
                    for (i, &item) in items[..n].iter().enumerate() {
                        let (tag, word) = match item {
                            Value::Null => (NULL, 0),
                            Value::Bool(b) => (BOOL, u64::from(b)),
                            Value::Int(i) => (INT, i as u64),
                            Value::Float(x) => (FLOAT, x.to_bits()),
                            Value::Str(s) => (STR, u64::from(s.0)),
                        };
                        put(at + 1 + i, tag, word);
                    }
                }
                (Slot::Long { at, j }, v) => {
                    if let Some(dst) = long.get_mut(j) {
                        dst.clear();
                        if let FeatureValue::Seq(items) = v {
                            dst.extend_from_slice(items);
                        }
                    }
                    let seq = matches!(v, FeatureValue::Seq(_));
                    put(at, if seq { INT } else { NULL }, 0);
                }
                // a sequence feature's values are sequences or null, the others' scalars
                (Slot::Scalar { at }, FeatureValue::Seq(_)) => put(at, NULL, 0),
                (Slot::Seq { at, .. }, _) => put(at, NULL, 0),
            }
        }
    }

    /// Key `k`'s latest row, one value per feature (`Null`s for a key without one).
    pub(super) fn get(&self, k: usize) -> Vec<FeatureValue> {
        let row = self
            .rows
            .get(k * self.stride..(k + 1) * self.stride)
            .unwrap_or_default();
        let long = self
            .long
            .get(k * self.long_per_key..(k + 1) * self.long_per_key)
            .unwrap_or_default();
        let (tags, payload) = row.split_at(self.tag_words.min(row.len()));
        let at = |i: usize| {
            let tag = tags.get(i / 8).map_or(NULL, |t| (t >> ((i % 8) * 8)) as u8);
            (tag, payload.get(i).copied().unwrap_or(0))
        };
        self.slots
            .iter()
            .map(|slot| match *slot {
                Slot::Scalar { at: i } => match at(i) {
                    (INT, w) => FeatureValue::Int(w as i64),
                    (NUM, w) => FeatureValue::Num(f64::from_bits(w)),
                    _ => FeatureValue::Null,
                },
                Slot::Seq { at: i, .. } => match at(i) {
                    (INT, n) => FeatureValue::Seq(
                        (0..n as usize)
                            .map(|j| match at(i + 1 + j) {
                                (BOOL, w) => Value::Bool(w != 0),
                                (INT, w) => Value::Int(w as i64),
                                (FLOAT, w) => Value::Float(f64::from_bits(w)),
                                (STR, w) => Value::Str(Sym(w as u32)),
                                _ => Value::Null,
                            })
                            .collect(),
                    ),
                    _ => FeatureValue::Null,
                },
                Slot::Long { at: i, j } => match (at(i), long.get(j)) {
                    ((INT, _), Some(items)) => FeatureValue::Seq(items.clone()),
                    _ => FeatureValue::Null,
                },
            })
            .collect()
    }

    pub(super) fn bytes(&self) -> usize {
        self.rows.capacity() * 8
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
