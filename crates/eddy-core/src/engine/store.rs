//! The online store: each key's latest per-event feature values, in one flat row per key.
//!
//! An event writes its key's whole row, so a row is a run of 8-byte words on whole cache
//! lines: first one header byte per feature (what its words hold, eight to a word), then a
//! word per scalar feature (an `i64`, or an `f64`'s bits) and `n` words per last-N feature
//! (the payloads of its items, which are all of one kind: a field has one type). With the
//! example spec a row is 15 words on two lines, where 15 16-byte [`Value`]s took four or
//! five. A sequence longer than [`INLINE_SEQ`] or of items of several kinds (rare) is kept
//! whole in a map beside the rows, one entry per key and feature at most.

use rustc_hash::FxHashMap;

use super::rows::KeyRows;
use crate::agg::{self, AggKind, FeatureValue};
use crate::Value;

/// Longest last-N sequence kept in the row itself.
pub(super) const INLINE_SEQ: usize = 32;

/// Header byte of a feature without a value (`Null`).
const NULL: u8 = 0xFF;
/// Header byte of a sequence kept beside the rows.
const APART: u8 = 0xFE;
/// Header bytes of a scalar.
const INT: u8 = 0;
const FLOAT: u8 = 1;
/// An inline sequence's header byte is `(tag - 1) << 6 | len`, with the items' tag from
/// [`agg::encode`] (1 to 4) and `len <= INLINE_SEQ` (so it never reaches [`APART`]).
const TAG_SHIFT: u32 = 6;

/// Where a feature's value is in a row's data words.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Word `at`.
    Scalar { at: usize },
    /// Words `at..at + cap` (`cap` 0 for a sequence always kept apart).
    Seq { at: usize, cap: usize },
}

#[derive(Debug)]
pub(super) struct OnlineStore {
    slots: Vec<Slot>,
    /// Header words per row.
    head: usize,
    rows: KeyRows<u64>,
    /// Sequences not in their row (header byte [`APART`]), by key and feature.
    apart: FxHashMap<(u32, u32), Vec<Value>>,
}

impl OnlineStore {
    pub(super) fn new(aggs: impl Iterator<Item = AggKind>) -> Self {
        let mut data = 0;
        let slots: Vec<Slot> = aggs
            .map(|agg| {
                let words = match agg {
                    AggKind::LastN { n } if n <= INLINE_SEQ => n,
                    AggKind::LastN { .. } => 0,
                    _ => 1,
                };
                data += words;
                match agg {
                    AggKind::LastN { .. } => Slot::Seq {
                        at: data - words,
                        cap: words,
                    },
                    _ => Slot::Scalar { at: data - 1 },
                }
            })
            .collect();
        let head = slots.len().div_ceil(8);
        OnlineStore {
            slots,
            head,
            rows: KeyRows::new(head + data),
            apart: FxHashMap::default(),
        }
    }

    /// Makes room for keys below `n` (rows of `Null`s).
    pub(super) fn grow(&mut self, n: usize) {
        let head = self.head;
        self.rows.grow(n, |i| if i < head { u64::MAX } else { 0 });
    }

    /// The address of key 0's row and the bytes per key, for prefetching.
    pub(super) fn rows(&self) -> (usize, usize) {
        self.rows.addr()
    }

    /// Stores `values` (one per feature) as key `k`'s latest row.
    #[inline]
    pub(super) fn set(&mut self, k: usize, values: &[FeatureValue]) {
        let OnlineStore {
            slots,
            head,
            rows,
            apart,
        } = self;
        let Some((head, data)) = rows.row_mut(k).map(|row| row.split_at_mut(*head)) else {
            return;
        };
        let mut word = 0u64;
        for (f, slot) in slots.iter().enumerate() {
            let v = values.get(f).unwrap_or(&FeatureValue::Null);
            let byte = match *slot {
                Slot::Scalar { at } => {
                    let (byte, x) = match *v {
                        FeatureValue::Int(i) => (INT, i as u64),
                        FeatureValue::Num(x) => (FLOAT, x.to_bits()),
                        // a sequence feature's values are sequences or null, the others' scalars
                        FeatureValue::Null | FeatureValue::Seq(_) => (NULL, 0),
                    };
                    if let Some(d) = data.get_mut(at) {
                        *d = x;
                    }
                    byte
                }
                Slot::Seq { at, cap } => match v {
                    FeatureValue::Seq(items) => {
                        match data.get_mut(at..at + cap).and_then(|d| encode(items, d)) {
                            Some(byte) => byte,
                            None => {
                                let kept = apart.entry((k as u32, f as u32)).or_default();
                                kept.clear();
                                kept.extend_from_slice(items);
                                APART
                            }
                        }
                    }
                    _ => NULL,
                },
            };
            word |= u64::from(byte) << ((f & 7) * 8);
            if f & 7 == 7 || f + 1 == slots.len() {
                if let Some(h) = head.get_mut(f >> 3) {
                    *h = word;
                }
                word = 0;
            }
        }
    }

    /// Key `k`'s latest row, one value per feature (`Null`s for a key without one).
    pub(super) fn get(&self, k: usize) -> Vec<FeatureValue> {
        let Some((head, data)) = self.rows.row(k).map(|row| row.split_at(self.head)) else {
            return vec![FeatureValue::Null; self.slots.len()];
        };
        let word = |i: usize| data.get(i).copied().unwrap_or(0);
        self.slots
            .iter()
            .enumerate()
            .map(|(f, slot)| {
                let byte = head
                    .get(f >> 3)
                    .map_or(NULL, |h| (h >> ((f & 7) * 8)) as u8);
                match (*slot, byte) {
                    (_, NULL) => FeatureValue::Null,
                    (Slot::Scalar { at }, INT) => FeatureValue::Int(word(at) as i64),
                    (Slot::Scalar { at }, _) => FeatureValue::Num(f64::from_bits(word(at))),
                    (Slot::Seq { .. }, APART) => FeatureValue::Seq(
                        self.apart
                            .get(&(k as u32, f as u32))
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    (Slot::Seq { at, .. }, byte) => FeatureValue::Seq(
                        (0..usize::from(byte & ((1 << TAG_SHIFT) - 1)))
                            .map(|i| agg::decode((byte >> TAG_SHIFT) + 1, word(at + i)))
                            .collect(),
                    ),
                }
            })
            .collect()
    }

    pub(super) fn bytes(&self) -> usize {
        self.rows.bytes()
            + self.apart.capacity() * std::mem::size_of::<((u32, u32), Vec<Value>)>()
            + self
                .apart
                .values()
                .map(|v| v.capacity() * std::mem::size_of::<Value>())
                .sum::<usize>()
    }
}

/// Writes the payloads of `items` to `d` and returns the header byte, if they fit and are
/// all of one kind (`Null` items never are). The same payloads as [`agg::encode`], a loop
/// per kind (a loop over `agg::encode` costs the example spec 100 instructions per event).
#[inline]
fn encode(items: &[Value], d: &mut [u64]) -> Option<u8> {
    #[inline(always)]
    fn fill(items: &[Value], d: &mut [u64], f: impl Fn(&Value) -> Option<u64>) -> Option<()> {
        for (x, v) in d.iter_mut().zip(items) {
            *x = f(v)?;
        }
        Some(())
    }
    if items.len() > d.len() {
        return None;
    }
    let Some(&first) = items.first() else {
        return Some(0);
    };
    let (tag, _) = agg::encode(first)?;
    match first {
        Value::Str(_) => fill(items, d, |v| match v {
            Value::Str(s) => Some(u64::from(s.0)),
            _ => None,
        }),
        Value::Int(_) => fill(items, d, |v| match v {
            Value::Int(i) => Some(*i as u64),
            _ => None,
        }),
        Value::Float(_) => fill(items, d, |v| match v {
            Value::Float(x) => Some(x.to_bits()),
            _ => None,
        }),
        _ => fill(items, d, |v| match v {
            Value::Bool(b) => Some(u64::from(*b)),
            _ => None,
        }),
    }?;
    Some((tag - 1) << TAG_SHIFT | items.len() as u8)
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

    /// Nine features take two header words; rows keep their values when the buffer is
    /// replaced by a larger one, and start on a line.
    #[test]
    fn rows_survive_growth_with_two_header_words() {
        let aggs = (0..9).map(|i| {
            if i % 3 == 0 {
                AggKind::LastN { n: 2 }
            } else {
                AggKind::Sum
            }
        });
        let mut store = OnlineStore::new(aggs);
        let row = |k: i64| -> Vec<FeatureValue> {
            (0..9)
                .map(|i| match i % 3 {
                    0 => seq(&[Value::Int(k), Value::Int(-i)]),
                    1 => FeatureValue::Num(k as f64 + 0.5),
                    _ => FeatureValue::Int(k * 100 + i),
                })
                .collect()
        };
        store.grow(2);
        store.set(0, &row(0));
        store.set(1, &row(1));
        store.grow(5000);
        store.set(4999, &row(4999));
        for k in [0, 1, 4999] {
            assert_eq!(store.get(k as usize), row(k));
        }
        assert_eq!(store.get(2), vec![FeatureValue::Null; 9]);
        let (base, bytes) = store.rows();
        assert_eq!(base % 64, 0);
        assert_eq!(bytes % 64, 0);
    }

    /// Sequences of each item kind are kept in the row itself and read back as they were.
    #[test]
    fn sequences_of_each_kind_stay_in_the_row() {
        let mut store = OnlineStore::new([AggKind::LastN { n: 3 }].into_iter());
        store.grow(1);
        for items in [
            vec![Value::Str(Sym(7)), Value::Str(Sym(u32::MAX))],
            vec![Value::Int(-1), Value::Int(i64::MIN), Value::Int(3)],
            vec![Value::Float(-0.0), Value::Float(f64::MAX)],
            vec![Value::Bool(true), Value::Bool(false)],
        ] {
            store.set(0, &[seq(&items)]);
            assert_eq!(store.get(0), vec![seq(&items)]);
            assert!(store.apart.is_empty(), "{items:?}");
        }
    }
}
