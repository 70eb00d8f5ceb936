//! Per-event feature rows: one value per feature, in the online store's encoding.
//!
//! The engine writes each event's values straight into a [`FeatureRow`] and copies its
//! words whole into the key's online-store row, so a value is encoded once, where it is
//! computed, and never built as a [`FeatureValue`] on the way (a last-N sequence is copied
//! from its buffer's payload words). Readers decode what they need: [`FeatureRow::get`]
//! borrows a value ([`FeatureRef`]), [`FeatureRow::value`] and [`FeatureRow::values`] make
//! owned [`FeatureValue`]s.
//!
//! A row is a run of 8-byte words: first one header byte per feature (what its words hold,
//! eight to a word), then a word per scalar feature (an `i64`, or an `f64`'s bits) and up
//! to [`INLINE_SEQ`] words per last-N feature (the payloads of its items, which are all of
//! one kind: a field has one type). With the example spec a row is 15 words. A sequence
//! longer than [`INLINE_SEQ`], or of items of several kinds (rare), is kept whole beside
//! the words.

use std::sync::Arc;

use crate::agg::{self, Acc, AggKind, FeatureValue, ResultCtx};
use crate::Value;

/// Longest last-N sequence kept in the row's words.
pub const INLINE_SEQ: usize = 32;

/// Header byte of a feature without a value (`Null`).
const NULL: u8 = 0xFF;
/// Header byte of a sequence kept beside the words.
const APART: u8 = 0xFE;
/// Header bytes of a scalar.
const INT: u8 = 0;
const FLOAT: u8 = 1;
/// An inline sequence's header byte is `(tag - 1) << 6 | len`, with the items' tag from
/// [`agg::encode`] (1 to 4) and `len <= INLINE_SEQ` (so it never reaches [`APART`]).
const TAG_SHIFT: u32 = 6;

/// Where a feature's value is in a row: words `at..at + cap` (from the row's start, header
/// included; `cap` 1 for a scalar, 0 for a sequence always kept apart).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    at: usize,
    cap: usize,
    seq: bool,
}

/// Where each feature's value is in a row; one per engine, shared by its rows.
#[derive(Debug, PartialEq)]
pub(crate) struct RowLayout {
    slots: Vec<Slot>,
    /// Header words.
    head: usize,
    /// Header and data words.
    words: usize,
}

impl RowLayout {
    pub(crate) fn new(aggs: impl Iterator<Item = AggKind>) -> Self {
        let aggs: Vec<AggKind> = aggs.collect();
        let head = aggs.len().div_ceil(8);
        let mut at = head;
        let slots = aggs
            .iter()
            .map(|agg| {
                let (cap, seq) = match *agg {
                    AggKind::LastN { n } => (if n <= INLINE_SEQ { n } else { 0 }, true),
                    _ => (1, false),
                };
                at += cap;
                Slot {
                    at: at - cap,
                    cap,
                    seq,
                }
            })
            .collect();
        RowLayout {
            slots,
            head,
            words: at,
        }
    }

    /// The features whose values are sequences (last-N ones).
    pub(crate) fn seq_features(&self) -> impl Iterator<Item = usize> + '_ {
        let seqs = self.slots.iter().enumerate();
        seqs.filter_map(|(f, s)| s.seq.then_some(f))
    }

    /// Words per row.
    pub(crate) fn words(&self) -> usize {
        self.words
    }

    /// Word `i` of a row of `Null`s.
    pub(crate) fn null_word(&self, i: usize) -> u64 {
        if i < self.head {
            u64::MAX
        } else {
            0
        }
    }

    /// The value of feature `f` in `words` (a row of this layout), with `apart` the
    /// sequence kept beside it (used when its header says so).
    fn get<'a>(&self, words: &'a [u64], f: usize, apart: &'a [Value]) -> FeatureRef<'a> {
        match self.slots.get(f) {
            Some(&slot) => value_of(slot, header_byte(words, f), words, || apart),
            None => FeatureRef::Null,
        }
    }

    /// Whether feature `f`'s header byte in `words` says its sequence is kept apart.
    fn is_apart(&self, words: &[u64], f: usize) -> bool {
        header_byte(words, f) == APART && self.slots.get(f).is_some_and(|s| s.seq)
    }
}

/// The value in `slot` of a row's `words`, with header byte `byte`; `apart` gives the
/// sequence kept beside the words, asked for only when the header says so.
#[inline(always)]
fn value_of<'a>(
    slot: Slot,
    byte: u8,
    words: &'a [u64],
    apart: impl FnOnce() -> &'a [Value],
) -> FeatureRef<'a> {
    match (slot.seq, byte) {
        (_, NULL) => FeatureRef::Null,
        (false, byte) => {
            let word = words.get(slot.at).copied().unwrap_or(0);
            if byte == INT {
                FeatureRef::Int(word as i64)
            } else {
                FeatureRef::Num(f64::from_bits(word))
            }
        }
        (true, APART) => FeatureRef::Seq(Items(ItemsRepr::Apart(apart()))),
        (true, byte) => {
            let len = usize::from(byte & ((1 << TAG_SHIFT) - 1));
            FeatureRef::Seq(Items(ItemsRepr::Words {
                tag: (byte >> TAG_SHIFT) + 1,
                payloads: words.get(slot.at..slot.at + len).unwrap_or_default(),
            }))
        }
    }
}

/// Feature `f`'s header byte in a row's `words`.
#[inline]
fn header_byte(words: &[u64], f: usize) -> u8 {
    words
        .get(f >> 3)
        .map_or(NULL, |h| (h >> ((f & 7) * 8)) as u8)
}

/// One event's feature values, as [`crate::engine::FeatureEngine::process`] writes them.
/// Reuse one row for many events: its buffers are kept. A new row (`default`) has no
/// features until an engine writes to it. Shown (`Debug`) as its values.
#[derive(Clone)]
pub struct FeatureRow {
    layout: Arc<RowLayout>,
    words: Vec<u64>,
    /// Per feature, its sequence when kept apart (empty otherwise).
    apart: Vec<Vec<Value>>,
}

impl Default for FeatureRow {
    fn default() -> Self {
        FeatureRow {
            layout: Arc::new(RowLayout::new(std::iter::empty())),
            words: Vec::new(),
            apart: Vec::new(),
        }
    }
}

impl FeatureRow {
    /// A row holding `values` (a sequence in the row's words when its items fit and are of
    /// one kind, like an engine's), for code that makes rows without an engine: tests,
    /// benchmarks.
    pub fn from_values(values: &[FeatureValue]) -> Self {
        let aggs = values.iter().map(|v| match v {
            FeatureValue::Seq(items) => AggKind::LastN { n: items.len() },
            _ => AggKind::Count,
        });
        let mut row = FeatureRow::default();
        row.use_layout(&Arc::new(RowLayout::new(aggs)));
        for (f, v) in values.iter().enumerate() {
            row.out(f).set(v.clone());
        }
        row
    }

    /// Features in the row.
    pub fn len(&self) -> usize {
        self.layout.slots.len()
    }

    /// Whether the row has no features.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Feature `f`'s value, borrowed (`Null` past the end).
    #[inline]
    pub fn get(&self, f: usize) -> FeatureRef<'_> {
        let apart = self.apart.get(f).map_or(&[][..], |v| v.as_slice());
        self.layout.get(&self.words, f, apart)
    }

    /// Feature `f`'s value (`Null` past the end).
    pub fn value(&self, f: usize) -> FeatureValue {
        self.get(f).to_value()
    }

    /// Every feature's value, in feature order.
    pub fn values(&self) -> Vec<FeatureValue> {
        (0..self.len()).map(|f| self.value(f)).collect()
    }

    /// The borrowed values, in feature order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = FeatureRef<'_>> + '_ {
        let words = self.words.as_slice();
        let slots = self.layout.slots.iter().enumerate();
        slots.map(move |(f, &slot)| {
            let apart = || self.apart.get(f).map_or(&[][..], Vec::as_slice);
            value_of(slot, header_byte(words, f), words, apart)
        })
    }

    /// Makes the row one of `layout` (all `Null`), unless it already is.
    #[inline]
    pub(crate) fn use_layout(&mut self, layout: &Arc<RowLayout>) {
        if !Arc::ptr_eq(&self.layout, layout) {
            self.layout = Arc::clone(layout);
            self.words.clear();
            self.words
                .extend((0..layout.words).map(|i| layout.null_word(i)));
            self.apart.resize_with(layout.slots.len(), Vec::new);
        }
    }

    /// The row's words (header and data), as the online store keeps them.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// Feature `f`'s sequence, if the row keeps it apart.
    pub(crate) fn apart(&self, f: usize) -> Option<&[Value]> {
        self.layout
            .is_apart(&self.words, f)
            .then(|| self.apart.get(f).map(Vec::as_slice))
            .flatten()
    }

    /// A writer of feature `f`'s value (one that writes nothing past the end).
    #[inline(always)]
    pub(crate) fn out(&mut self, f: usize) -> FeatureOut<'_> {
        FeatureOut { row: self, f }
    }
}

impl std::fmt::Debug for FeatureRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for FeatureRow {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// Writes one feature's value into a [`FeatureRow`]: [`Self::set`] a scalar,
/// [`Self::items`] or [`Self::last_n`] a sequence, [`Self::acc`] an accumulator's value.
/// One is made for each feature of each event, so it only borrows the row, and finds the
/// feature's words when it writes.
pub(crate) struct FeatureOut<'a> {
    row: &'a mut FeatureRow,
    f: usize,
}

impl FeatureOut<'_> {
    #[inline(always)]
    fn header(&mut self, byte: u8) {
        let shift = (self.f & 7) * 8;
        if let Some(h) = self.row.words.get_mut(self.f >> 3) {
            *h = *h & !(0xFF << shift) | u64::from(byte) << shift;
        }
    }

    /// The feature's words.
    #[inline(always)]
    fn slot(&mut self) -> &mut [u64] {
        let row = &mut *self.row;
        let (at, cap) = row
            .layout
            .slots
            .get(self.f)
            .map_or((0, 0), |s| (s.at, s.cap));
        row.words.get_mut(at..at + cap).unwrap_or_default()
    }

    #[inline(always)]
    fn word(&mut self, x: u64) {
        let row = &mut *self.row;
        let at = row.layout.slots.get(self.f).map_or(usize::MAX, |s| s.at);
        if let Some(w) = row.words.get_mut(at) {
            *w = x;
        }
    }

    /// Writes a scalar value (a `Seq` goes through [`Self::items`]).
    #[inline(always)]
    pub(crate) fn set(&mut self, v: FeatureValue) {
        match v {
            FeatureValue::Null => self.header(NULL),
            FeatureValue::Int(i) => {
                self.word(i as u64);
                self.header(INT);
            }
            FeatureValue::Num(x) => {
                self.word(x.to_bits());
                self.header(FLOAT);
            }
            FeatureValue::Seq(items) => self.items(items.into_iter()),
        }
    }

    /// Writes a sequence, in the words if its items fit and are all of one kind, else apart.
    pub(crate) fn items(&mut self, items: impl Iterator<Item = Value> + Clone) {
        let mut tag = 0;
        let mut len = 0;
        let mut inline = true;
        let words = self.slot();
        for v in items.clone() {
            match (agg::encode(v), words.get_mut(len)) {
                (Some((t, p)), Some(w)) if tag == 0 || t == tag => {
                    (tag, *w) = (t, p);
                    len += 1;
                }
                _ => {
                    inline = false;
                    break;
                }
            }
        }
        if inline {
            self.inline_seq(tag, len);
        } else {
            self.apart_seq(items);
        }
    }

    /// Writes the header of `len` inline items of kind `tag` (0: none).
    #[inline(always)]
    fn inline_seq(&mut self, tag: u8, len: usize) {
        self.header(tag.saturating_sub(1) << TAG_SHIFT | len as u8);
    }

    fn apart_seq(&mut self, items: impl Iterator<Item = Value>) {
        if let Some(a) = self.row.apart.get_mut(self.f) {
            a.clear();
            a.extend(items);
        }
        self.header(APART);
    }

    /// Writes the items of a last-N buffer, oldest first: their payload words copied as
    /// they are when all of one kind.
    #[inline(always)]
    pub(crate) fn last_n(&mut self, l: &agg::LastN) {
        match l.payloads(self.slot()) {
            Some((tag, len)) => self.inline_seq(tag, len),
            None => self.apart_seq(l.items().map(|(_, v)| v)),
        }
    }

    /// Writes the per-event value of `kind` from `acc` (a last-N sequence straight from its
    /// buffer). Here rather than on [`Acc`] so that the aggregations do not depend on rows.
    #[inline]
    pub(crate) fn acc(&mut self, acc: &Acc, kind: &AggKind, ctx: ResultCtx) {
        if let Acc::LastN(l) = acc {
            self.last_n(l);
        } else {
            let mut v = FeatureValue::Null;
            acc.result(kind, ctx, &mut v);
            self.set(v);
        }
    }
}

/// A feature's value borrowed from a [`FeatureRow`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureRef<'a> {
    Null,
    Int(i64),
    Num(f64),
    Seq(Items<'a>),
}

impl FeatureRef<'_> {
    /// The owned value.
    pub fn to_value(self) -> FeatureValue {
        match self {
            FeatureRef::Null => FeatureValue::Null,
            FeatureRef::Int(i) => FeatureValue::Int(i),
            FeatureRef::Num(x) => FeatureValue::Num(x),
            FeatureRef::Seq(items) => FeatureValue::Seq(items.collect()),
        }
    }
}

impl<'a> From<&'a FeatureValue> for FeatureRef<'a> {
    fn from(v: &'a FeatureValue) -> Self {
        match v {
            FeatureValue::Null => FeatureRef::Null,
            FeatureValue::Int(i) => FeatureRef::Int(*i),
            FeatureValue::Num(x) => FeatureRef::Num(*x),
            FeatureValue::Seq(items) => FeatureRef::Seq(Items(ItemsRepr::Apart(items))),
        }
    }
}

/// The items of a sequence value, oldest first. Shown (`Debug`) as a list of values.
#[derive(Clone, Copy)]
pub struct Items<'a>(ItemsRepr<'a>);

impl std::fmt::Debug for Items<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

#[derive(Debug, Clone, Copy)]
enum ItemsRepr<'a> {
    Words { tag: u8, payloads: &'a [u64] },
    Apart(&'a [Value]),
}

impl Iterator for Items<'_> {
    type Item = Value;

    #[inline]
    fn next(&mut self) -> Option<Value> {
        match &mut self.0 {
            ItemsRepr::Words { tag, payloads } => {
                let (&p, rest) = payloads.split_first()?;
                *payloads = rest;
                Some(agg::decode(*tag, p))
            }
            ItemsRepr::Apart(items) => {
                let (&v, rest) = items.split_first()?;
                *items = rest;
                Some(v)
            }
        }
    }

    /// One loop per item kind (the kind decoded once, not per item): what `for_each` and
    /// the other consuming adaptors use.
    #[inline]
    fn fold<B, F: FnMut(B, Value) -> B>(self, init: B, mut f: F) -> B {
        match self.0 {
            ItemsRepr::Words { tag, payloads } => {
                // inlined with a constant kind, `decode` is one conversion
                #[inline(always)]
                fn words<B>(p: &[u64], kind: u8, init: B, f: impl FnMut(B, Value) -> B) -> B {
                    let mut f = f;
                    p.iter().fold(init, |acc, &x| f(acc, agg::decode(kind, x)))
                }
                match tag {
                    agg::TAG_STR => words(payloads, agg::TAG_STR, init, f),
                    agg::TAG_INT => words(payloads, agg::TAG_INT, init, f),
                    agg::TAG_FLOAT => words(payloads, agg::TAG_FLOAT, init, f),
                    _ => words(payloads, tag, init, f),
                }
            }
            ItemsRepr::Apart(items) => items.iter().fold(init, |acc, &v| f(acc, v)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self.0 {
            ItemsRepr::Words { payloads, .. } => payloads.len(),
            ItemsRepr::Apart(items) => items.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Items<'_> {}

impl PartialEq for Items<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && (*self).zip(*other).all(|(a, b)| a == b)
    }
}

/// The values of a row of `layout` kept as `words`, with `apart(f)` feature `f`'s sequence
/// if it is kept apart (the online store's rows).
pub(crate) fn decode_row(
    layout: &RowLayout,
    words: &[u64],
    apart: impl Fn(usize) -> Option<Vec<Value>>,
) -> Vec<FeatureValue> {
    (0..layout.slots.len())
        .map(|f| {
            let kept = if layout.is_apart(words, f) {
                apart(f).unwrap_or_default()
            } else {
                Vec::new()
            };
            layout.get(words, f, &kept).to_value()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::LastN;
    use crate::Sym;

    fn row_of(aggs: &[AggKind]) -> FeatureRow {
        let mut row = FeatureRow::default();
        row.use_layout(&Arc::new(RowLayout::new(aggs.iter().copied())));
        row
    }

    /// A full last-N ring (its oldest item mid-buffer) is copied oldest first, into the
    /// row's words; the scalars beside it keep their values.
    #[test]
    fn a_last_n_ring_is_copied_oldest_first() {
        let mut row = row_of(&[AggKind::Count, AggKind::LastN { n: 4 }, AggKind::Mean]);
        row.out(0).set(FeatureValue::Int(-2));
        row.out(2).set(FeatureValue::Num(0.5));
        let mut l = LastN::new(4);
        for (ts, s) in (0..7).zip(10..) {
            l.add(ts, Value::Str(Sym(s)));
        }
        row.out(1).last_n(&l);
        let want = FeatureValue::Seq((13..17).map(|s| Value::Str(Sym(s))).collect());
        assert_eq!(
            row.values(),
            [FeatureValue::Int(-2), want, FeatureValue::Num(0.5)]
        );
        assert_eq!(row.apart(1), None);
        // fewer than n, then none
        let mut l = LastN::new(4);
        l.add(5, Value::Int(7));
        l.add(3, Value::Int(-1));
        row.out(1).last_n(&l);
        assert_eq!(
            row.value(1),
            FeatureValue::Seq(vec![Value::Int(-1), Value::Int(7)])
        );
        row.out(1).last_n(&LastN::new(4));
        assert_eq!(row.value(1), FeatureValue::Seq(vec![]));
        assert_eq!(row.value(2), FeatureValue::Num(0.5));
    }

    /// Items of several kinds, and more items than the row holds, are kept apart; a later
    /// value of one kind goes back into the words.
    #[test]
    fn mixed_and_long_sequences_are_kept_apart() {
        let mut row = row_of(&[
            AggKind::LastN { n: 3 },
            AggKind::LastN { n: INLINE_SEQ + 1 },
        ]);
        let mut mixed = LastN::new(3);
        mixed.add(1, Value::Bool(true));
        mixed.add(2, Value::Float(1.5));
        row.out(0).last_n(&mixed);
        let long: Vec<Value> = (0..INLINE_SEQ as i64 + 1).map(Value::Int).collect();
        row.out(1).items(long.iter().copied());
        assert_eq!(
            row.apart(0),
            Some(&[Value::Bool(true), Value::Float(1.5)][..])
        );
        assert_eq!(row.value(1), FeatureValue::Seq(long));
        row.out(0).items([Value::Int(4)].into_iter());
        assert_eq!(row.apart(0), None);
        assert_eq!(row.value(0), FeatureValue::Seq(vec![Value::Int(4)]));
    }

    /// A row made from values reads them back, compares equal to an engine-shaped row of
    /// the same values, and is reset by another layout.
    #[test]
    fn rows_from_values_compare_by_value() {
        let values = [
            FeatureValue::Null,
            FeatureValue::Num(f64::NEG_INFINITY),
            FeatureValue::Seq(vec![Value::Str(Sym(1)), Value::Str(Sym(2))]),
            FeatureValue::Int(i64::MIN),
        ];
        let row = FeatureRow::from_values(&values);
        assert_eq!(row.values(), values);
        let mut other = row_of(&[
            AggKind::Mean,
            AggKind::Sum,
            AggKind::LastN { n: 10 },
            AggKind::Recency,
        ]);
        for (f, v) in values.iter().enumerate() {
            other.out(f).set(v.clone());
        }
        assert_eq!(row, other);
        other.out(3).set(FeatureValue::Int(0));
        assert_ne!(row, other);
        other.use_layout(&Arc::new(RowLayout::new([AggKind::Count].into_iter())));
        assert_eq!(other.values(), [FeatureValue::Null]);
        assert_eq!(row.get(9), FeatureRef::Null);
        assert_eq!(
            format!("{row:?}"),
            "[Null, Num(-inf), Seq([Str(Sym(1)), Str(Sym(2))]), Int(-9223372036854775808)]"
        );
    }
}
