//! How string fields are held: no more than the features need ([`StringUse`], chosen from
//! the spec by `string_uses`), the texts of the ones not kept, carried with their batch for
//! the outputs that echo them ([`Texts`]), and the bitsets by id with which the strings no
//! state holds are found.

use eddy_core::feature::FeatureSpec;
use eddy_core::{Sym, Value};

use crate::spec::PipelineSpec;

/// Sets bit `i` of a bitset, growing it as needed.
pub(crate) fn set_bit(bits: &mut Vec<u64>, i: u32) {
    let w = i as usize / 64;
    if bits.len() <= w {
        bits.resize(w + 1, 0);
    }
    bits[w] |= 1 << (i % 64);
}

pub(crate) fn bit(bits: &[u64], i: u32) -> bool {
    bits.get(i as usize / 64)
        .is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// How a declared string field's values are held: no more than its features need, so that
/// memory follows what the features keep, not the distinct values a stream brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringUse {
    /// Read by a last-N feature (or by a distinct count and a filter that orders strings):
    /// interned.
    Kept,
    /// Read by distinct counts (and equality filters, which compare hashes): a 64-bit hash
    /// of the text, as an `Int`.
    Hashed,
    /// Read only by filters (which test equality with their literals): the literal the
    /// text equals, or a symbol that equals none.
    Literal,
    /// Read by nothing: checked to be a string, and only echoed.
    Unread,
}

/// The texts of the string fields that are not kept ([`StringUse`]), per event of a batch,
/// for the outputs that echo the event's fields.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    bytes: Vec<u8>,
    /// `per_event` spans per event (`ABSENT`: no value).
    spans: Vec<(u32, u32)>,
    per_event: usize,
}

const ABSENT: (u32, u32) = (0, u32::MAX);

/// One event's texts ([`Texts::event`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct EventTexts<'a> {
    bytes: &'a [u8],
    spans: &'a [(u32, u32)],
}

impl<'a> EventTexts<'a> {
    /// The text in slot `slot` ([`crate::decode::Decoder::text_slot`]; `None`: no value).
    pub fn get(&self, slot: usize) -> Option<&'a [u8]> {
        let (start, len) = *self.spans.get(slot)?;
        (len != u32::MAX).then(|| &self.bytes[start as usize..(start + len) as usize])
    }
}

impl Texts {
    /// The texts of event `i`.
    pub fn event(&self, i: usize) -> EventTexts<'_> {
        let at = i * self.per_event;
        EventTexts {
            bytes: &self.bytes,
            spans: self.spans.get(at..at + self.per_event).unwrap_or_default(),
        }
    }

    pub(crate) fn per_event(&self) -> usize {
        self.per_event
    }

    /// Starts the next event's texts (all absent); returns where to go back to if it fails.
    pub(crate) fn begin_event(&mut self) -> (usize, usize) {
        let at = (self.bytes.len(), self.spans.len());
        self.spans.resize(at.1 + self.per_event, ABSENT);
        at
    }

    /// Drops the texts of the event begun at `at` (it failed to decode).
    pub(crate) fn abandon(&mut self, (bytes, spans): (usize, usize)) {
        self.bytes.truncate(bytes);
        self.spans.truncate(spans);
    }

    /// Sets slot `slot` of the event being decoded (the last one's spans); nothing when no
    /// texts are kept (`per_event` 0: no output echoes them).
    #[inline]
    pub(crate) fn put(&mut self, slot: usize, text: &[u8]) {
        if slot >= self.per_event {
            return;
        }
        let at = self.spans.len() - self.per_event + slot;
        self.spans[at] = (self.bytes.len() as u32, text.len() as u32);
        self.bytes.extend_from_slice(text);
    }

    pub(crate) fn clear(&mut self, per_event: usize) {
        self.bytes.clear();
        self.spans.clear();
        self.per_event = per_event;
    }
}

/// A text as a [`StringUse::Hashed`] field holds it.
pub(crate) fn text_hash(text: &[u8]) -> Value {
    use std::hash::Hasher;
    // SipHash with fixed keys: well spread, and the same in every run
    let mut h = std::hash::DefaultHasher::new();
    h.write(text);
    Value::Int(h.finish() as i64)
}

/// A string field's value as its features need it, when it is not kept ([`StringUse`]).
/// `literals`: the spec's strings and their symbols.
pub(crate) fn held_value(u: StringUse, text: &[u8], literals: &[(Box<[u8]>, Sym)]) -> Value {
    match u {
        StringUse::Kept | StringUse::Unread => Value::Null,
        StringUse::Hashed => text_hash(text),
        StringUse::Literal => Value::Str(
            (literals.iter())
                .find(|(l, _)| **l == *text)
                .map_or(Sym(u32::MAX), |&(_, s)| s),
        ),
    }
}

/// How each declared field's strings are held: as little as its features need
/// ([`StringUse`]); and the features as the engine is to see them (a filter on a field held
/// as hashes compares hashes).
pub(crate) fn string_uses(spec: &PipelineSpec) -> (Vec<StringUse>, Vec<FeatureSpec>) {
    use eddy_core::agg::AggKind;
    let n = spec.schema.len();
    let (mut last_n, mut distinct, mut filtered) = (vec![false; n], vec![false; n], vec![false; n]);
    let mut ordered = vec![false; n];
    for f in &spec.features {
        match (f.agg, f.field) {
            (AggKind::LastN { .. }, Some(x)) if x < n => last_n[x] = true,
            (AggKind::DistinctCount { .. }, Some(x)) if x < n => distinct[x] = true,
            _ => {}
        }
        if let Some(filter) = &f.filter {
            filter.for_each_field(&mut |x| {
                if x < n {
                    filtered[x] = true;
                    ordered[x] |= filter.orders(x);
                }
            });
        }
    }
    let string = |x| spec.schema.field_type(x) == eddy_core::FieldType::String;
    let uses: Vec<StringUse> = (0..n)
        .map(|x| match (last_n[x], distinct[x], filtered[x]) {
            _ if !string(x) => StringUse::Kept,
            (true, _, _) => StringUse::Kept,
            // a filter tests equality with its literals, which hashes can do too
            (false, true, _) if !ordered[x] => StringUse::Hashed,
            (false, true, _) => StringUse::Kept,
            (false, false, true) => StringUse::Literal,
            (false, false, false) => StringUse::Unread,
        })
        .collect();
    let mut features = spec.features.clone();
    for f in &mut features {
        if let Some(filter) = &mut f.filter {
            for x in (0..n).filter(|&x| uses[x] == StringUse::Hashed) {
                filter.map_literals(x, &|v| match v {
                    eddy_core::Value::Str(s) => text_hash(spec.interner.resolve(s).as_bytes()),
                    v => v,
                });
            }
        }
    }
    (uses, features)
}
