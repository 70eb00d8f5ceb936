//! The output contract: per-event rows, window rows, late events and dead letters, as JSON
//! Lines or CSV, written into reusable byte buffers.
//!
//! - per-event (JSONL): the input event's fields plus `"features": {"<name>": value, ...}`.
//!   For JSONL input the features are spliced into the raw line before its closing `}`.
//! - window row: `{"key","feature","window_start","window_end","value","update"}`, times in
//!   epoch milliseconds (`null` for the unbounded ends of a global window).
//! - late event: the raw input plus `"reason"` (and `"line"`).
//! - dead letter: `{"line", "reason", "raw"}` (the raw line may not be valid JSON).

use eddy_core::agg::FeatureValue;
use eddy_core::engine::WindowRow;
use eddy_core::row::{FeatureRef, FeatureRow};
use eddy_core::time::TimestampFormat;
use eddy_core::{Event, Interner, Value};

use crate::connector::{Locus, Place};
use crate::decode::Decoder;
use crate::json::write_str;
use crate::spec::{InputFormat, OutputFormat};
use crate::strings::EventTexts;

/// Encodes rows for one pipeline (feature names are pre-escaped once).
#[derive(Debug, Clone)]
pub struct OutputEncoder {
    format: OutputFormat,
    /// `"name":` for each feature, JSON-escaped.
    json_names: Vec<Vec<u8>>,
    names: Vec<String>,
    seq_scratch: Vec<u8>,
    /// JSON text (quoted, escaped) of interned strings, by symbol id; filled on first use.
    sym_json: Vec<Vec<u8>>,
    /// JSON text of keys, by key id.
    key_json: Vec<Vec<u8>>,
    /// CSV header cells for a model's predictions (empty without a model).
    prediction_columns: Vec<String>,
    /// Per-event features objects (the same encoder the engine thread uses).
    features: FeaturesJson,
    /// Window bounds, floats and integers, already formatted.
    bounds: NumText,
    nums: NumText,
    ints: NumText,
    /// Window rows: `{"key":<key>,"feature":` by key id, and `<name>,"window_start":` by
    /// feature, in padded arenas (see [`put`]).
    window_key_text: Vec<u8>,
    /// Each key's span in `window_key_text` (`UNSET`: to be written on its next row).
    window_keys: Vec<(usize, usize)>,
    /// Bytes of `window_key_text` whose key was released (compacted away when they are most).
    window_key_garbage: usize,
    window_feature_text: Vec<u8>,
    window_features: Vec<(usize, usize)>,
}

/// Looks up (or fills) the cached JSON text of entry `i`.
#[inline]
fn cached<'a>(cache: &'a mut Vec<Vec<u8>>, i: usize, text: impl FnOnce() -> &'a str) -> &'a [u8] {
    if i >= cache.len() {
        cache.resize_with(i + 1, Vec::new);
    }
    if cache[i].is_empty() {
        write_str(&mut cache[i], text().as_bytes());
    }
    &cache[i]
}

fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    // Whole numbers (counts as rates, sums of whole amounts) are common: write them with
    // itoa, in the same form ryu would (`3.0`); below 1e16 ryu does not switch to exponents.
    if v.fract() == 0.0 && v.abs() < 1e15 {
        if v == 0.0 && v.is_sign_negative() {
            out.extend_from_slice(b"-0.0");
            return;
        }
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
        out.extend_from_slice(b".0");
        return;
    }
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// A typed value as JSON.
pub fn write_value(out: &mut Vec<u8>, v: &Value, interner: &Interner) {
    match *v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::Int(i) => write_i64(out, i),
        Value::Float(f) => write_f64(out, f),
        Value::Str(s) => write_str(out, interner.resolve(s).as_bytes()),
    }
}

/// A feature value as JSON (`v`: a [`FeatureRef`], or a `&FeatureValue`).
pub fn write_feature_value<'a>(
    out: &mut Vec<u8>,
    v: impl Into<FeatureRef<'a>>,
    interner: &Interner,
) {
    match v.into() {
        FeatureRef::Null => out.extend_from_slice(b"null"),
        FeatureRef::Int(i) => write_i64(out, i),
        FeatureRef::Num(f) => write_f64(out, f),
        FeatureRef::Seq(items) => {
            out.push(b'[');
            for (i, x) in items.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, &x, interner);
            }
            out.push(b']');
        }
    }
}

/// Appends `text[..len]`, copying a fixed 32-byte block when `text` has that many bytes (no
/// `memcpy` call for short texts), then cutting back to `len`.
#[inline(always)]
fn put(out: &mut Vec<u8>, text: &[u8], len: usize) {
    if len <= 32 {
        if let Some(block) = text.first_chunk::<32>() {
            let n = out.len();
            out.extend_from_slice(block);
            out.truncate(n + len);
            return;
        }
    }
    out.extend_from_slice(&text[..len]);
}

/// Text of recently written numbers, direct-mapped by value: repeated values (a mean that did
/// not change since the key's last event, small counts, the bounds of windows that close
/// together) are copied instead of formatted again. The bytes are those of `write_f64` /
/// `write_i64`.
#[derive(Debug, Clone)]
pub struct NumText {
    /// `(bits, len, text)`; `len == 0`: empty.
    slots: Box<[(u64, u8, [u8; 32])]>,
    scratch: Vec<u8>,
}

impl Default for NumText {
    fn default() -> Self {
        NumText {
            slots: vec![(0, 0, [0; 32]); 1 << NumText::BITS].into_boxed_slice(),
            scratch: Vec::with_capacity(32),
        }
    }
}

impl NumText {
    const BITS: u32 = 11;

    #[inline(always)]
    fn index(bits: u64) -> usize {
        (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::BITS)) as usize
    }

    /// `write_f64`, through the cache.
    #[inline]
    pub fn f64(&mut self, out: &mut Vec<u8>, v: f64) {
        if !v.is_finite() {
            return out.extend_from_slice(b"null");
        }
        let bits = v.to_bits();
        let slot = &mut self.slots[Self::index(bits)];
        if slot.0 != bits || slot.1 == 0 {
            self.scratch.clear();
            write_f64(&mut self.scratch, v);
            let t = &self.scratch[..];
            if t.len() > 32 {
                return out.extend_from_slice(t);
            }
            slot.2[..t.len()].copy_from_slice(t);
            slot.0 = bits;
            slot.1 = t.len() as u8;
        }
        put(out, &slot.2, slot.1 as usize);
    }

    /// `write_i64`, through the cache.
    #[inline]
    pub fn i64(&mut self, out: &mut Vec<u8>, v: i64) {
        let bits = v as u64;
        let slot = &mut self.slots[Self::index(bits)];
        if slot.0 != bits || slot.1 == 0 {
            let mut b = itoa::Buffer::new();
            let t = b.format(v).as_bytes();
            slot.2[..t.len()].copy_from_slice(t);
            slot.0 = bits;
            slot.1 = t.len() as u8;
        }
        put(out, &slot.2, slot.1 as usize);
    }
}

/// Encodes a per-event `{"<name>": value, ...}` features object without an [`Interner`]:
/// it keeps its own copy of the JSON text of every interned string, fed by
/// [`FeaturesJson::set_string`] as ids are given (and given again). This lets the engine
/// thread encode features while the reading thread keeps interning. The bytes are those of [`OutputEncoder`]'s JSON output.
#[derive(Debug, Clone)]
pub struct FeaturesJson {
    /// `{"name":` for the first feature, `,"name":` for the others: `name_text[start..start +
    /// len]` by feature.
    name_text: Vec<u8>,
    name_spans: Vec<(usize, usize)>,
    /// The JSON text of every string and a comma (`"text",`), by id: `sym_text[start..start +
    /// len]`.
    sym_text: Vec<u8>,
    sym_spans: Vec<(usize, usize)>,
    /// Bytes of `sym_text` whose id was given another string since (compacted away when
    /// they are most).
    sym_garbage: usize,
    nums: NumText,
    ints: NumText,
}

/// Spare bytes at the end of a text arena, so that [`put`] may copy a fixed block.
const ARENA_PAD: usize = 32;

/// Appends a text to a padded arena (see [`put`]); returns its span.
/// A span not written yet.
const UNSET: (usize, usize) = (0, usize::MAX);

/// Rewrites `arena` with only the texts of `spans` that are set, in their order.
fn compact(arena: &mut Vec<u8>, spans: &mut [(usize, usize)]) {
    let old = std::mem::replace(arena, vec![0; ARENA_PAD]);
    for span in spans.iter_mut().filter(|s| **s != UNSET) {
        let (start, len) = *span;
        *span = arena_push(arena, |v| v.extend_from_slice(&old[start..start + len]));
    }
}

fn arena_push(arena: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) -> (usize, usize) {
    let start = arena.len() - ARENA_PAD;
    arena.truncate(start);
    write(arena);
    let span = (start, arena.len() - start);
    arena.resize(arena.len() + ARENA_PAD, 0);
    span
}

impl FeaturesJson {
    pub fn new(feature_names: &[String]) -> Self {
        let mut name_text = vec![0; ARENA_PAD];
        let name_spans = feature_names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                arena_push(&mut name_text, |v| {
                    v.push(if i == 0 { b'{' } else { b',' });
                    write_str(v, n.as_bytes());
                    v.push(b':');
                })
            })
            .collect();
        FeaturesJson {
            name_text,
            name_spans,
            sym_text: vec![0; ARENA_PAD],
            sym_spans: Vec::new(),
            sym_garbage: 0,
            nums: NumText::default(),
            ints: NumText::default(),
        }
    }

    /// Learns the string of id `id` (new, or given to an id released before).
    pub fn set_string(&mut self, id: usize, s: &str) {
        if self.sym_spans.len() <= id {
            self.sym_spans.resize(id + 1, UNSET);
        }
        if self.sym_spans[id] != UNSET {
            self.sym_garbage += self.sym_spans[id].1;
        }
        self.sym_spans[id] = arena_push(&mut self.sym_text, |v| {
            write_str(v, s.as_bytes());
            v.push(b',');
        });
        if self.sym_garbage > 64 * 1024 && 2 * self.sym_garbage > self.sym_text.len() {
            compact(&mut self.sym_text, &mut self.sym_spans);
            self.sym_garbage = 0;
        }
    }

    /// Appends a whole per-event row: the raw JSONL line with `"features":{...}` and then
    /// `prediction` (as is) spliced in before its closing `}`, as [`OutputEncoder::event_spliced`]
    /// writes it. Returns false, writing nothing, if the line is not an object.
    pub fn encode_row(
        &mut self,
        out: &mut Vec<u8>,
        raw: &[u8],
        row: &FeatureRow,
        prediction: &[u8],
    ) -> bool {
        if !splice_open(out, raw) {
            return false;
        }
        out.extend_from_slice(b"\"features\":");
        self.encode(out, row);
        if !prediction.is_empty() {
            out.extend_from_slice(prediction);
        }
        out.extend_from_slice(b"}\n");
        true
    }

    /// Appends the features object of `row`.
    pub fn encode(&mut self, out: &mut Vec<u8>, row: &FeatureRow) {
        out.reserve(256);
        if row.is_empty() {
            out.push(b'{');
        }
        for (&(ns, nl), v) in self.name_spans.iter().zip(row.iter()) {
            put(out, &self.name_text[ns..], nl);
            match v {
                FeatureRef::Seq(items) => {
                    out.push(b'[');
                    let empty = items.len() == 0;
                    // Each item is followed by a comma; the last one becomes the `]`.
                    // (`for_each`: one loop per item kind, see `Items::fold`.)
                    let (sym_spans, sym_text, nums) =
                        (&self.sym_spans, &self.sym_text, &mut self.nums);
                    items.for_each(|x| {
                        match x {
                            Value::Str(s) => match sym_spans.get(s.0 as usize) {
                                Some(&(start, len)) if len != UNSET.1 => {
                                    put(out, &sym_text[start..], len);
                                    return;
                                }
                                _ => out.extend_from_slice(b"null"), // unreachable when synced
                            },
                            Value::Null => out.extend_from_slice(b"null"),
                            Value::Bool(b) => {
                                out.extend_from_slice(if b { b"true" } else { b"false" })
                            }
                            Value::Int(i) => write_i64(out, i),
                            Value::Float(f) => nums.f64(out, f),
                        }
                        out.push(b',');
                    });
                    match out.last_mut() {
                        Some(last) if !empty => *last = b']',
                        _ => out.push(b']'),
                    }
                }
                FeatureRef::Null => out.extend_from_slice(b"null"),
                FeatureRef::Int(i) => self.ints.i64(out, i),
                FeatureRef::Num(f) => self.nums.f64(out, f),
            }
        }
        out.push(b'}');
    }
}

/// Appends `s` as a CSV cell, quoted when needed.
pub fn write_csv_cell(out: &mut Vec<u8>, s: &[u8]) {
    if s.iter()
        .any(|&c| c == b',' || c == b'"' || c == b'\n' || c == b'\r')
    {
        out.push(b'"');
        for &c in s {
            if c == b'"' {
                out.push(b'"');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s);
    }
}

fn trim_end(raw: &[u8]) -> &[u8] {
    let mut end = raw.len();
    while end > 0 && matches!(raw[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    &raw[..end]
}

/// Splices `,"<member>` … into a raw JSON object line before its closing `}`; the caller
/// then appends the member's value and `}`. Returns false if the line does not end in `}`.
#[inline]
fn splice_open(out: &mut Vec<u8>, raw: &[u8]) -> bool {
    let t = match raw.last() {
        Some(b'}') => raw,
        _ => trim_end(raw),
    };
    let Some((&b'}', body)) = t.split_last() else {
        return false;
    };
    out.extend_from_slice(body);
    // An empty object `{}` takes no comma.
    let last = match body.last() {
        Some(b'"' | b'0'..=b'9' | b'e' | b'l' | b']' | b'}') => None,
        _ => trim_end(body).last(),
    };
    if last != Some(&b'{') {
        out.push(b',');
    }
    true
}

impl OutputEncoder {
    pub fn new(format: OutputFormat, feature_names: &[String]) -> OutputEncoder {
        let mut window_feature_text = vec![0; ARENA_PAD];
        let window_features = feature_names
            .iter()
            .map(|n| {
                arena_push(&mut window_feature_text, |v| {
                    write_str(v, n.as_bytes());
                    v.extend_from_slice(b",\"window_start\":");
                })
            })
            .collect();
        let json_names = feature_names
            .iter()
            .map(|n| {
                let mut v = Vec::new();
                write_str(&mut v, n.as_bytes());
                v.push(b':');
                v
            })
            .collect();
        OutputEncoder {
            format,
            json_names,
            names: feature_names.to_vec(),
            seq_scratch: Vec::new(),
            sym_json: Vec::new(),
            key_json: Vec::new(),
            prediction_columns: Vec::new(),
            features: FeaturesJson::new(feature_names),
            bounds: NumText::default(),
            nums: NumText::default(),
            ints: NumText::default(),
            window_key_text: vec![0; ARENA_PAD],
            window_keys: Vec::new(),
            window_key_garbage: 0,
            window_feature_text,
            window_features,
        }
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    fn features_object(&mut self, out: &mut Vec<u8>, row: &FeatureRow) {
        self.features.encode(out, row);
    }

    /// The answer to a lookup of `key` whose latest row is `values` (`None`: no row).
    pub(crate) fn answer(
        &mut self,
        key: &str,
        values: Option<Vec<FeatureValue>>,
        interner: &Interner,
    ) -> crate::lookup::Answer {
        match values {
            Some(v) => crate::lookup::Answer::Found(self.latest_json(key, &v, interner)),
            None => crate::lookup::Answer::UnknownKey,
        }
    }

    /// A key's latest features, for a lookup of the online store:
    /// `{"key":"<key>","features":{"<name>":<value>,...}}`, values encoded as in per-event rows.
    pub(crate) fn latest_json(
        &mut self,
        key: &str,
        values: &[FeatureValue],
        interner: &Interner,
    ) -> String {
        let mut out = Vec::with_capacity(64 + 16 * values.len());
        out.extend_from_slice(b"{\"key\":");
        write_str(&mut out, key.as_bytes());
        out.extend_from_slice(b",\"features\":{");
        for (f, v) in values.iter().enumerate() {
            let Some(name) = self.json_names.get(f) else {
                break;
            };
            if f > 0 {
                out.push(b',');
            }
            out.extend_from_slice(name);
            self.feature_value_json(&mut out, v, interner);
        }
        out.extend_from_slice(b"}}");
        // JSON text made of UTF-8 pieces
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Like [`write_feature_value`], with string values from the cache.
    fn feature_value_json(&mut self, out: &mut Vec<u8>, v: &FeatureValue, interner: &Interner) {
        match v {
            FeatureValue::Seq(items) => {
                out.push(b'[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.value_json(out, x, interner);
                }
                out.push(b']');
            }
            FeatureValue::Num(f) => self.nums.f64(out, *f),
            FeatureValue::Int(i) => self.ints.i64(out, *i),
            FeatureValue::Null => out.extend_from_slice(b"null"),
        }
    }

    /// Like [`write_value`], with string values from the cache.
    #[inline]
    fn value_json(&mut self, out: &mut Vec<u8>, v: &Value, interner: &Interner) {
        match *v {
            Value::Str(s) => {
                out.extend_from_slice(cached(&mut self.sym_json, s.0 as usize, || {
                    interner.resolve(s)
                }))
            }
            ref v => write_value(out, v, interner),
        }
    }

    /// Forgets the text kept for `key` (released: its id may name another key next), so
    /// that what is kept follows the keys held, not every key ever seen.
    pub fn forget_key(&mut self, key: eddy_core::KeyId) {
        let k = key.0 as usize;
        if let Some(text) = self.key_json.get_mut(k) {
            *text = Vec::new();
        }
        if let Some(span) = self.window_keys.get_mut(k) {
            if *span != UNSET {
                self.window_key_garbage += span.1;
                *span = UNSET;
            }
        }
        if self.window_key_garbage > 64 * 1024
            && 2 * self.window_key_garbage > self.window_key_text.len()
        {
            compact(&mut self.window_key_text, &mut self.window_keys);
            self.window_key_garbage = 0;
        }
    }

    /// Learns the string of id `id` (see [`FeaturesJson::set_string`]), forgetting what was
    /// kept for the id before.
    pub fn set_string(&mut self, id: u32, s: &str) {
        if let Some(text) = self.sym_json.get_mut(id as usize) {
            *text = Vec::new();
        }
        self.features.set_string(id as usize, s);
    }

    fn key_json(&mut self, out: &mut Vec<u8>, key: eddy_core::KeyId, dec: &Decoder) {
        out.extend_from_slice(cached(&mut self.key_json, key.0 as usize, || dec.key(key)));
    }

    /// Whether per-event rows are the raw JSONL input with the features spliced in, so that
    /// the features object can be encoded elsewhere ([`FeaturesJson`]).
    pub fn splices(&self, input: InputFormat) -> bool {
        self.format == OutputFormat::Jsonl && input == InputFormat::Jsonl
    }

    /// A per-event row from the raw JSONL line and an already encoded features object.
    /// Returns false (writing nothing) if the line is not an object.
    /// `prediction` is appended after the features object as is (`,"prediction":...`, or
    /// empty when the pipeline has no model).
    pub fn event_spliced(
        &self,
        out: &mut Vec<u8>,
        raw: &[u8],
        features: &[u8],
        prediction: &[u8],
    ) -> bool {
        if !splice_open(out, raw) {
            return false;
        }
        out.extend_from_slice(b"\"features\":");
        out.extend_from_slice(features);
        if !prediction.is_empty() {
            out.extend_from_slice(prediction);
        }
        out.extend_from_slice(b"}\n");
        true
    }

    /// CSV header of the per-event output.
    pub fn events_csv_header(&self, out: &mut Vec<u8>, dec: &Decoder) {
        write_csv_cell(out, dec.key_field().as_bytes());
        out.push(b',');
        write_csv_cell(out, dec.timestamp_field().as_bytes());
        for f in dec.field_names() {
            out.push(b',');
            write_csv_cell(out, f.as_bytes());
        }
        for n in self.names.iter().chain(&self.prediction_columns) {
            out.push(b',');
            write_csv_cell(out, n.as_bytes());
        }
        out.push(b'\n');
    }

    /// With a model: the CSV columns its predictions fill (see [`crate::score::csv_columns`]).
    pub fn set_prediction_columns(&mut self, cols: Vec<String>) {
        self.prediction_columns = cols;
    }

    /// One per-event row: the event's fields plus its features, then `prediction` as is
    /// (`,"prediction":...` or CSV cells, in the output's format; empty without a model).
    #[allow(clippy::too_many_arguments)]
    pub fn event(
        &mut self,
        out: &mut Vec<u8>,
        raw: &[u8],
        (ev, texts): (&Event, EventTexts<'_>),
        row: &FeatureRow,
        prediction: &[u8],
        dec: &Decoder,
        interner: &Interner,
    ) {
        match self.format {
            OutputFormat::Jsonl => {
                if dec.format() == InputFormat::Jsonl && splice_open(out, raw) {
                    out.extend_from_slice(b"\"features\":");
                    self.features_object(out, row);
                    out.extend_from_slice(prediction);
                    out.extend_from_slice(b"}\n");
                    return;
                }
                // CSV input: the key, the timestamp and the declared fields.
                out.push(b'{');
                write_str(out, dec.key_field().as_bytes());
                out.push(b':');
                self.key_json(out, ev.key, dec);
                out.push(b',');
                write_str(out, dec.timestamp_field().as_bytes());
                out.push(b':');
                match dec.timestamp_format() {
                    TimestampFormat::EpochMillis => write_i64(out, ev.ts),
                    TimestampFormat::EpochSeconds => write_f64(out, ev.ts as f64 / 1000.0),
                    TimestampFormat::Rfc3339 => {
                        let mut s = String::new();
                        eddy_core::time::format_rfc3339(ev.ts, &mut s);
                        write_str(out, s.as_bytes());
                    }
                }
                for (i, f) in dec.field_names().iter().enumerate() {
                    out.push(b',');
                    write_str(out, f.as_bytes());
                    out.push(b':');
                    match dec.text_slot(i) {
                        Some(at) => match texts.get(at) {
                            Some(t) => write_str(out, t),
                            None => out.extend_from_slice(b"null"),
                        },
                        None => self.value_json(out, &ev.field(i), interner),
                    }
                }
                out.extend_from_slice(b",\"features\":");
                self.features_object(out, row);
                out.extend_from_slice(prediction);
                out.extend_from_slice(b"}\n");
            }
            OutputFormat::Csv => {
                write_csv_cell(out, dec.key(ev.key).as_bytes());
                out.push(b',');
                write_i64(out, ev.ts);
                for i in 0..dec.field_names().len() {
                    out.push(b',');
                    match dec.text_slot(i) {
                        Some(at) => write_csv_cell(out, texts.get(at).unwrap_or_default()),
                        None => self.csv_value(out, &ev.field(i), interner),
                    }
                }
                for v in row.iter() {
                    out.push(b',');
                    match v {
                        FeatureRef::Null => {}
                        FeatureRef::Seq(_) => {
                            let mut s = std::mem::take(&mut self.seq_scratch);
                            s.clear();
                            write_feature_value(&mut s, v, interner);
                            write_csv_cell(out, &s);
                            self.seq_scratch = s;
                        }
                        _ => write_feature_value(out, v, interner),
                    }
                }
                out.extend_from_slice(prediction);
                out.push(b'\n');
            }
        }
    }

    fn csv_value(&self, out: &mut Vec<u8>, v: &Value, interner: &Interner) {
        match *v {
            Value::Null => {}
            Value::Str(s) => write_csv_cell(out, interner.resolve(s).as_bytes()),
            _ => write_value(out, v, interner),
        }
    }

    /// CSV header of the window output.
    pub fn windows_csv_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"key,feature,window_start,window_end,value,update\n");
    }

    /// One window-close (or late update) row.
    pub fn window(&mut self, out: &mut Vec<u8>, r: &WindowRow, dec: &Decoder, interner: &Interner) {
        let bound = |out: &mut Vec<u8>, t: i64, csv: bool, cache: &mut NumText| {
            if t == i64::MIN || t == i64::MAX {
                if !csv {
                    out.extend_from_slice(b"null");
                }
            } else {
                cache.i64(out, t);
            }
        };
        match self.format {
            OutputFormat::Jsonl => {
                out.reserve(256);
                // `{"key":<key>,"feature":`, then `<name>,"window_start":`.
                let k = r.key.0 as usize;
                if self.window_keys.len() <= k {
                    self.window_keys.resize(k + 1, UNSET);
                }
                if self.window_keys[k] == UNSET {
                    let key = dec.key(r.key);
                    self.window_keys[k] = arena_push(&mut self.window_key_text, |v| {
                        v.extend_from_slice(b"{\"key\":");
                        write_str(v, key.as_bytes());
                        v.extend_from_slice(b",\"feature\":");
                    });
                }
                let (ks, kl) = self.window_keys[k];
                put(out, &self.window_key_text[ks..], kl);
                match self.window_features.get(usize::from(r.feature)) {
                    Some(&(fs, fl)) => put(out, &self.window_feature_text[fs..], fl),
                    None => {
                        let name = &self.json_names[usize::from(r.feature)];
                        out.extend_from_slice(&name[..name.len() - 1]);
                        out.extend_from_slice(b",\"window_start\":");
                    }
                }
                bound(out, r.start, false, &mut self.bounds);
                out.extend_from_slice(b",\"window_end\":");
                bound(out, r.end, false, &mut self.bounds);
                out.extend_from_slice(b",\"value\":");
                self.feature_value_json(out, &r.value, interner);
                out.extend_from_slice(if r.update {
                    b",\"update\":true}\n"
                } else {
                    b",\"update\":false}\n"
                });
            }
            OutputFormat::Csv => {
                write_csv_cell(out, dec.key(r.key).as_bytes());
                out.push(b',');
                write_csv_cell(out, self.names[usize::from(r.feature)].as_bytes());
                out.push(b',');
                bound(out, r.start, true, &mut self.bounds);
                out.push(b',');
                bound(out, r.end, true, &mut self.bounds);
                out.push(b',');
                match &r.value {
                    FeatureValue::Null => {}
                    v @ FeatureValue::Seq(_) => {
                        let mut s = std::mem::take(&mut self.seq_scratch);
                        s.clear();
                        write_feature_value(&mut s, v, interner);
                        write_csv_cell(out, &s);
                        self.seq_scratch = s;
                    }
                    v => write_feature_value(out, v, interner),
                }
                out.extend_from_slice(if r.update { b",true\n" } else { b",false\n" });
            }
        }
    }

    /// CSV header of the late and dead-letter outputs: the record's place (its line, or its
    /// message's topic, partition and offset), the reason, the raw record.
    pub fn rejects_csv_header(&self, out: &mut Vec<u8>, locus: Locus) {
        out.extend_from_slice(match locus {
            Locus::Line => b"line,reason,raw\n".as_slice(),
            Locus::Message => b"topic,partition,offset,reason,raw\n",
        });
    }

    /// A late event: the raw input plus `"reason"` and its place (`"line"`, or `"topic"`,
    /// `"partition"` and `"offset"`).
    pub fn late(
        &self,
        out: &mut Vec<u8>,
        raw: &[u8],
        place: Place<'_>,
        reason: &str,
        input: InputFormat,
    ) {
        if self.format == OutputFormat::Jsonl
            && input == InputFormat::Jsonl
            && splice_open(out, raw)
        {
            out.extend_from_slice(b"\"reason\":");
            write_str(out, reason.as_bytes());
            out.push(b',');
            write_place_json(out, place);
            out.extend_from_slice(b"}\n");
            return;
        }
        self.dead_letter(out, raw, place, reason);
    }

    /// A dead letter: `{<place>, "reason", "raw"}` (or a CSV row `<place>,reason,raw`).
    pub fn dead_letter(&self, out: &mut Vec<u8>, raw: &[u8], place: Place<'_>, reason: &str) {
        dead_letter(self.format, out, raw, place, reason);
    }
}

/// A record's place as JSON members: `"line":N`, or `"topic":"t","partition":P,"offset":O`.
fn write_place_json(out: &mut Vec<u8>, place: Place<'_>) {
    match place {
        Place::Line(line) => {
            out.extend_from_slice(b"\"line\":");
            write_i64(out, line as i64);
        }
        Place::Message {
            topic,
            partition,
            offset,
        } => {
            out.extend_from_slice(b"\"topic\":");
            write_str(out, topic.as_bytes());
            out.extend_from_slice(b",\"partition\":");
            write_i64(out, partition as i64);
            out.extend_from_slice(b",\"offset\":");
            write_i64(out, offset as i64);
        }
    }
}

/// A dead letter in `format`: `{<place>, "reason", "raw"}` (or a CSV row
/// `<place>,reason,raw`), the place being `"line"`, or `"topic"`, `"partition"`, `"offset"`.
pub fn dead_letter(
    format: OutputFormat,
    out: &mut Vec<u8>,
    raw: &[u8],
    place: Place<'_>,
    reason: &str,
) {
    let raw = trim_end(raw);
    let raw_text = String::from_utf8_lossy(raw);
    match format {
        OutputFormat::Jsonl => {
            out.push(b'{');
            write_place_json(out, place);
            out.extend_from_slice(b",\"reason\":");
            write_str(out, reason.as_bytes());
            out.extend_from_slice(b",\"raw\":");
            write_str(out, raw_text.as_bytes());
            out.extend_from_slice(b"}\n");
        }
        OutputFormat::Csv => {
            match place {
                Place::Line(line) => write_i64(out, line as i64),
                Place::Message {
                    topic,
                    partition,
                    offset,
                } => {
                    write_csv_cell(out, topic.as_bytes());
                    out.push(b',');
                    write_i64(out, partition as i64);
                    out.push(b',');
                    write_i64(out, offset as i64);
                }
            }
            out.push(b',');
            write_csv_cell(out, reason.as_bytes());
            out.push(b',');
            write_csv_cell(out, raw_text.as_bytes());
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_values_are_json() {
        let mut interner = Interner::new();
        let s = interner.intern("/home");
        let mut out = Vec::new();
        for v in [
            FeatureValue::Null,
            FeatureValue::Int(-3),
            FeatureValue::Num(2.5),
            FeatureValue::Num(f64::NAN),
            FeatureValue::Seq(vec![Value::Str(s), Value::Int(1), Value::Null]),
        ] {
            write_feature_value(&mut out, &v, &interner);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "null -3 2.5 null [\"/home\",1,null] "
        );
    }

    #[test]
    fn features_json_matches_the_encoder() {
        let mut interner = Interner::new();
        let a = interner.intern("/home");
        let b = interner.intern("caf\u{e9} \"q\"");
        let names = vec![
            "n".to_string(),
            "pages".to_string(),
            "x".to_string(),
            "m".to_string(),
        ];
        let row = FeatureRow::from_values(&[
            FeatureValue::Int(3),
            FeatureValue::Seq(vec![
                Value::Str(a),
                Value::Str(b),
                Value::Int(2),
                Value::Null,
            ]),
            FeatureValue::Num(2.5),
            FeatureValue::Null,
        ]);
        let mut enc = OutputEncoder::new(OutputFormat::Jsonl, &names);
        let mut want = Vec::new();
        for id in 0..interner.len() as u32 {
            enc.set_string(id, interner.resolve(eddy_core::Sym(id)));
        }
        enc.features_object(&mut want, &row);
        let mut fj = FeaturesJson::new(&names);
        for id in 0..interner.len() {
            fj.set_string(id, interner.resolve(eddy_core::Sym(id as u32)));
        }
        let mut got = Vec::new();
        fj.encode(&mut got, &row);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }

    mod differential {
        use super::super::*;
        use proptest::prelude::*;

        /// A finite float drawn from several shapes: whole, small fractions, any bits.
        fn float() -> impl Strategy<Value = f64> {
            prop_oneof![
                (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
                (-100_000i64..100_000, 1u32..7).prop_map(|(i, d)| i as f64 / 10f64.powi(d as i32)),
                any::<u64>()
                    .prop_map(f64::from_bits)
                    .prop_filter("finite", |f| f.is_finite()),
                Just(-0.0),
                Just(1e15),
                Just(-1e16),
            ]
        }

        /// ryu's shortest form of a float (`3.0` for whole numbers, `1e16`), as eddy has
        /// always written them.
        fn want_f64(v: f64) -> String {
            if v.is_finite() {
                ryu::Buffer::new().format_finite(v).to_string()
            } else {
                "null".to_string()
            }
        }

        proptest! {
            /// The cached numbers are the text of ryu and std's formatting, on first use
            /// and on every repeat, whatever shares their slot.
            #[test]
            fn cached_numbers_are_serde_json_text(fs in prop::collection::vec(float(), 1..200),
                                                   is in prop::collection::vec(any::<i64>(), 1..200)) {
                let mut nums = NumText::default();
                for &v in fs.iter().chain(fs.iter()).chain([f64::NAN, f64::INFINITY].iter()) {
                    let mut out = b"x".to_vec();
                    nums.f64(&mut out, v);
                    prop_assert_eq!(String::from_utf8(out).unwrap(), format!("x{}", want_f64(v)));
                }
                let mut ints = NumText::default();
                for &v in is.iter().chain(is.iter()).chain([0, -1, i64::MIN, i64::MAX].iter()) {
                    let mut out = Vec::new();
                    ints.i64(&mut out, v);
                    prop_assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
                }
            }

            /// A features object is what serde_json (strings) and ryu (floats) write for the
            /// same values, in order.
            #[test]
            fn features_object_is_serde_json_text(
                strings in prop::collection::vec("[a-z/\"\\\\\u{1}\u{e9} ]{0,40}", 1..8),
                rows in prop::collection::vec(prop::collection::vec(
                    prop_oneof![
                        Just(None),
                        any::<i64>().prop_map(|i| Some((0u8, i, 0.0, Vec::new()))),
                        float().prop_map(|f| Some((1u8, 0, f, Vec::new()))),
                        prop::collection::vec(0usize..16, 0..12).prop_map(|v| Some((2u8, 0, 0.0, v))),
                    ], 3), 1..20),
            ) {
                let mut interner = Interner::new();
                let syms: Vec<_> = strings.iter().map(|s| interner.intern(s)).collect();
                let names = vec!["n".to_string(), "p\"q".to_string(), "x".to_string()];
                let mut fj = FeaturesJson::new(&names);
                for id in 0..interner.len() {
            fj.set_string(id, interner.resolve(eddy_core::Sym(id as u32)));
        }
                let mut enc = OutputEncoder::new(OutputFormat::Jsonl, &names);
                for id in 0..interner.len() as u32 {
                    enc.set_string(id, interner.resolve(eddy_core::Sym(id)));
                }
                for spec in &rows {
                    let mut row = Vec::new();
                    let mut want = Vec::new();
                    for (name, v) in names.iter().zip(spec) {
                        let (fv, text) = match v {
                            None => (FeatureValue::Null, "null".to_string()),
                            Some((0, i, _, _)) => (FeatureValue::Int(*i), i.to_string()),
                            Some((1, _, f, _)) => (FeatureValue::Num(*f), want_f64(*f)),
                            Some((_, _, _, items)) => {
                                let mut vals = Vec::new();
                                let mut texts = Vec::new();
                                for &k in items {
                                    let (val, t) = match k % 4 {
                                        0 | 1 => {
                                            let s = syms[k % syms.len()];
                                            (Value::Str(s), serde_json::to_string(interner.resolve(s)).unwrap())
                                        }
                                        2 => (Value::Int(k as i64 - 7), (k as i64 - 7).to_string()),
                                        _ => (Value::Float(k as f64 / 4.0), want_f64(k as f64 / 4.0)),
                                    };
                                    vals.push(val);
                                    texts.push(t);
                                }
                                (FeatureValue::Seq(vals), format!("[{}]", texts.join(",")))
                            }
                        };
                        row.push(fv);
                        want.push(format!("{}:{}", serde_json::to_string(name).unwrap(), text));
                    }
                    let want = format!("{{{}}}", want.join(","));
                    let row = FeatureRow::from_values(&row);
                    let mut got = Vec::new();
                    fj.encode(&mut got, &row);
                    prop_assert_eq!(String::from_utf8(got).unwrap(), want.clone());
                    let mut got = Vec::new();
                    enc.features_object(&mut got, &row);
                    prop_assert_eq!(String::from_utf8(got).unwrap(), want);
                }
            }
        }
    }

    mod splice {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// Splicing a member into any object line (spacing, nesting, empty objects) gives
            /// the object serde_json reads with that member added.
            #[test]
            fn spliced_lines_parse_to_the_object_plus_the_member(
                members in prop::collection::vec(("[a-c]{1,3}", prop_oneof![
                    Just(serde_json::json!(null)), Just(serde_json::json!(true)),
                    Just(serde_json::json!(false)), any::<i32>().prop_map(|i| serde_json::json!(i)),
                    "[a-z{}\\[\\] ]{0,5}".prop_map(|s| serde_json::json!(s)),
                    Just(serde_json::json!([1, {"q": []}])), Just(serde_json::json!({})),
                ]), 0..5),
                pretty in any::<bool>(),
                trailing in "[ \t\r]{0,3}",
            ) {
                let map: serde_json::Map<String, serde_json::Value> = members.into_iter().collect();
                let obj = serde_json::Value::Object(map.clone());
                let mut line = if pretty {
                    serde_json::to_string_pretty(&obj).unwrap().replace('\n', " ")
                } else {
                    serde_json::to_string(&obj).unwrap()
                };
                line.push_str(&trailing);
                let mut out = Vec::new();
                prop_assert!(splice_open(&mut out, line.as_bytes()));
                out.extend_from_slice(b"\"zz\":1}");
                let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
                let mut want = map.clone();
                want.insert("zz".into(), serde_json::json!(1));
                prop_assert_eq!(got, serde_json::Value::Object(want));
                // A whole row, with features and a prediction.
                let mut fj = FeaturesJson::new(&["n".to_string()]);
                let mut row = Vec::new();
                prop_assert!(fj.encode_row(&mut row, line.as_bytes(), &FeatureRow::from_values(&[FeatureValue::Int(7)]), b",\"prediction\":0.5"));
                prop_assert_eq!(row.last(), Some(&b'\n'));
                let got: serde_json::Value = serde_json::from_slice(&row).unwrap();
                let mut want = map;
                want.insert("features".into(), serde_json::json!({"n": 7}));
                want.insert("prediction".into(), serde_json::json!(0.5));
                prop_assert_eq!(got, serde_json::Value::Object(want));
                let mut none = Vec::new();
                prop_assert!(!fj.encode_row(&mut none, b"[1]", &FeatureRow::from_values(&[FeatureValue::Int(7)]), b""));
                prop_assert!(none.is_empty());
            }
        }
    }

    mod window_rows {
        use super::super::*;
        use crate::spec::PipelineSpec;
        use proptest::prelude::*;

        const SPEC: &str = r#"
[source]
format = "jsonl"
key = "k"
timestamp = "t"
timestamp_format = "epoch_ms"
[[feature]]
name = "n"
agg = "count"
window = { kind = "tumbling", size = "1m" }
[[feature]]
name = "m"
agg = "count"
window = { kind = "tumbling", size = "1m" }
"#;

        fn bound(t: i64) -> String {
            if t == i64::MIN || t == i64::MAX {
                "null".into()
            } else {
                t.to_string()
            }
        }

        proptest! {
            /// Window rows are the JSON serde_json (strings, integers) and ryu (floats) write.
            #[test]
            fn window_rows_are_serde_json_text(
                keys in prop::collection::vec("[a-c\"\\\\\u{e9}]{1,6}", 1..6),
                rows in prop::collection::vec((0usize..6, 0u16..2,
                    prop_oneof![Just(i64::MIN), any::<i64>(), 0i64..2_000_000_000_000],
                    prop_oneof![Just(i64::MAX), any::<i64>()],
                    prop_oneof![Just(None), any::<i64>().prop_map(|i| Some(Ok(i))),
                                (-1e6f64..1e6).prop_map(|f| Some(Err(f)))],
                    any::<bool>()), 1..30),
            ) {
                let spec = PipelineSpec::parse(SPEC).unwrap();
                let mut dec = Decoder::new(&spec.source, &spec.schema);
                let mut interner = spec.interner.clone();
                let mut ids = Vec::new();
                for (i, k) in keys.iter().enumerate() {
                    let line = format!("{{\"k\":{},\"t\":{}}}", serde_json::to_string(k).unwrap(), 1000 + i);
                    let mut ev = eddy_core::Event::default();
                    dec.decode(line.as_bytes(), 1, &mut ev, &mut interner).unwrap();
                    ids.push(ev.key);
                }
                let names = vec!["n".to_string(), "q\"uote".to_string()];
                let mut enc = OutputEncoder::new(OutputFormat::Jsonl, &names);
                for (k, f, start, end, v, update) in rows {
                    let k = k % keys.len();
                    let (value, text) = match v {
                        None => (FeatureValue::Null, "null".to_string()),
                        Some(Ok(i)) => (FeatureValue::Int(i), i.to_string()),
                        Some(Err(x)) => (FeatureValue::Num(x), ryu::Buffer::new().format_finite(x).to_string()),
                    };
                    let r = WindowRow { key: ids[k], feature: f, start, end, value, update };
                    let mut out = Vec::new();
                    enc.window(&mut out, &r, &dec, &interner);
                    let want = format!(
                        "{{\"key\":{},\"feature\":{},\"window_start\":{},\"window_end\":{},\"value\":{},\"update\":{}}}\n",
                        serde_json::to_string(dec.key(ids[k])).unwrap(),
                        serde_json::to_string(&names[usize::from(f)]).unwrap(),
                        bound(start), bound(end), text, update
                    );
                    prop_assert_eq!(dec.key(ids[k]), keys[k].as_str());
                    prop_assert_eq!(String::from_utf8(out).unwrap(), want);
                }
            }
        }
    }

    #[test]
    fn whole_floats_match_ryu() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -3.0,
            42.0,
            1e14,
            -1e14 + 1.0,
            999_999_999_999_999.0,
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            let want = ryu::Buffer::new().format_finite(v).to_string();
            assert_eq!(String::from_utf8(out).unwrap(), want, "{v}");
        }
    }

    #[test]
    fn splice_keeps_the_raw_line() {
        let mut out = Vec::new();
        assert!(splice_open(&mut out, b"{\"a\":1}  \r"));
        out.extend_from_slice(b"\"x\":2}");
        assert_eq!(out, b"{\"a\":1,\"x\":2}");
        out.clear();
        assert!(splice_open(&mut out, b"{ }"));
        out.extend_from_slice(b"\"x\":2}");
        assert_eq!(out, b"{ \"x\":2}");
    }

    #[test]
    fn csv_cells_quote_when_needed() {
        let mut out = Vec::new();
        write_csv_cell(&mut out, b"plain");
        out.push(b'|');
        write_csv_cell(&mut out, b"a,\"b\"");
        assert_eq!(out, b"plain|\"a,\"\"b\"\"\"");
    }

    #[test]
    fn dead_letters_are_valid_json() {
        let enc = OutputEncoder::new(OutputFormat::Jsonl, &[]);
        let mut out = Vec::new();
        enc.dead_letter(
            &mut out,
            b"{\"bad\": \"\x01",
            Place::Line(7),
            "line 7: malformed JSON",
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["line"], 7);
        assert_eq!(v["raw"], "{\"bad\": \"\u{1}");
        assert_eq!(v["reason"], "line 7: malformed JSON");
    }
}
