//! The online store: each key's latest per-event feature row, in one flat row of words per
//! key (the [`FeatureRow`] encoding, `row.rs`).
//!
//! An event writes its key's whole row, so a row is a run of 8-byte words on whole cache
//! lines: with the example spec 15 words on two lines, where 15 16-byte [`Value`]s took
//! four or five. A sequence the row keeps apart (longer than the row holds, or of items of
//! several kinds: rare) is kept whole in a map beside the rows, one entry per key and
//! feature at most.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::rows::KeyRows;
use crate::agg::FeatureValue;
use crate::row::{decode_row, FeatureRow, RowLayout};
use crate::Value;

#[derive(Debug)]
pub(super) struct OnlineStore {
    layout: Arc<RowLayout>,
    /// The features whose sequences a row may keep apart (last-N ones).
    seqs: Vec<usize>,
    rows: KeyRows<u64>,
    /// Sequences not in their row, by key and feature.
    apart: FxHashMap<(u32, u32), Vec<Value>>,
}

impl OnlineStore {
    pub(super) fn new(layout: Arc<RowLayout>) -> Self {
        OnlineStore {
            rows: KeyRows::new(layout.words()),
            seqs: layout.seq_features().collect(),
            layout,
            apart: FxHashMap::default(),
        }
    }

    /// Calls `f` with every interned string of the rows of keys below `keys`.
    pub(super) fn for_each_sym(&self, keys: usize, f: &mut dyn FnMut(crate::Sym)) {
        if self.seqs.is_empty() {
            return;
        }
        for k in 0..keys {
            for v in self.get(k) {
                if let FeatureValue::Seq(items) = v {
                    for item in items {
                        if let Value::Str(s) = item {
                            f(s)
                        }
                    }
                }
            }
        }
    }

    /// Makes room for keys below `n` (rows of `Null`s).
    pub(super) fn grow(&mut self, n: usize) {
        let layout = &self.layout;
        self.rows.grow(n, |i| layout.null_word(i));
    }

    /// The address of key 0's row and the bytes per key, for prefetching.
    pub(super) fn rows(&self) -> (usize, usize) {
        self.rows.addr()
    }

    /// Stores `row` (of this store's layout) as key `k`'s latest row.
    #[inline]
    pub(super) fn set(&mut self, k: usize, row: &FeatureRow) {
        let words = row.words();
        if let Some(d) = self.rows.row_mut(k).and_then(|r| r.get_mut(..words.len())) {
            d.copy_from_slice(words);
        }
        for &f in &self.seqs {
            if let Some(items) = row.apart(f) {
                let kept = self.apart.entry((k as u32, f as u32)).or_default();
                kept.clear();
                kept.extend_from_slice(items);
            }
        }
    }

    /// Key `k`'s latest row, one value per feature (`Null`s for a key without one).
    pub(super) fn get(&self, k: usize) -> Vec<FeatureValue> {
        let null_row: Vec<u64>;
        let words = match self.rows.row(k) {
            Some(r) => r,
            None => {
                null_row = (0..self.layout.words())
                    .map(|i| self.layout.null_word(i))
                    .collect();
                &null_row
            }
        };
        decode_row(&self.layout, words, |f| {
            self.apart.get(&(k as u32, f as u32)).cloned()
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::AggKind;
    use crate::row::INLINE_SEQ;
    use crate::Sym;

    fn seq(items: &[Value]) -> FeatureValue {
        FeatureValue::Seq(items.to_vec())
    }

    fn store_of(aggs: impl Iterator<Item = AggKind>) -> OnlineStore {
        OnlineStore::new(Arc::new(RowLayout::new(aggs)))
    }

    impl OnlineStore {
        /// Stores `values` (one per feature) as key `k`'s row, written as the engine does.
        fn put(&mut self, k: usize, values: &[FeatureValue]) {
            let mut row = FeatureRow::default();
            row.use_layout(&self.layout);
            for (f, v) in values.iter().enumerate() {
                row.out(f).set(v.clone());
            }
            self.set(k, &row);
        }
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
        let mut store = store_of(aggs.into_iter());
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
        store.put(1, &a);
        store.put(2, &b);
        assert_eq!(store.get(1), a);
        assert_eq!(store.get(2), b);
        // overwriting shorter and of other kinds leaves nothing of the old row
        store.put(1, &c);
        assert_eq!(store.get(1), c);
        store.put(1, &b);
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
        let mut store = store_of(aggs);
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
        store.put(0, &row(0));
        store.put(1, &row(1));
        store.grow(5000);
        store.put(4999, &row(4999));
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
        let mut store = store_of([AggKind::LastN { n: 3 }].into_iter());
        store.grow(1);
        for items in [
            vec![Value::Str(Sym(7)), Value::Str(Sym(u32::MAX))],
            vec![Value::Int(-1), Value::Int(i64::MIN), Value::Int(3)],
            vec![Value::Float(-0.0), Value::Float(f64::MAX)],
            vec![Value::Bool(true), Value::Bool(false)],
        ] {
            store.put(0, &[seq(&items)]);
            assert_eq!(store.get(0), vec![seq(&items)]);
            assert!(store.apart.is_empty(), "{items:?}");
        }
    }
}
