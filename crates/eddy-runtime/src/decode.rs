//! Decoding JSONL and CSV lines into the reused [`eddy_core::Event`].
//!
//! Only the declared fields (key, timestamp, event id and `[source.fields]`) are extracted;
//! every other member is skipped but still validated, so a malformed line is always refused.
//! Keys are interned into the decoder's own key table, string fields into the pipeline's
//! [`Interner`]. Every error names the line and, when there is one, the field.

use eddy_core::time::{
    from_epoch_millis, from_epoch_seconds, parse_rfc3339, TimestampFormat, MAX_EVENT_TS,
    MIN_EVENT_TS,
};
use eddy_core::{Event, FieldId, FieldType, Interner, KeyId, Schema, Sym, Timestamp, Value};

use crate::strings::{bit, held_value, set_bit, StringUse, Texts};

use crate::codec::csv::{column_count_error, CsvParser};
use crate::codec::jsonl;
use crate::error::{DeadReason, DecodeError};
use crate::json::{self, Kind};
use crate::spec::{InputFormat, SourceSpec};

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: bool,
    ts: bool,
    id: bool,
    field: Option<(FieldId, FieldType)>,
}

/// A declared member name (raw bytes), what it feeds, and its guess for [`json::Object::name`].
type Name = (Box<[u8]>, Slot, Box<[u8]>);

/// Decodes one source's lines. One decoder per source partition.
#[derive(Debug, Clone)]
pub struct Decoder {
    format: InputFormat,
    ts_format: TimestampFormat,
    key_name: String,
    ts_name: String,
    id_name: Option<String>,
    field_names: Vec<String>,
    /// Declared names (JSON member names), what they feed, and the guess handed to
    /// [`json::Object::name`] (`name":`, or empty when the name holds bytes a JSON string must
    /// escape).
    names: Vec<Name>,
    /// CSV: the slot of each column, from the header.
    columns: Vec<Slot>,
    column_names: Vec<String>,
    header_seen: bool,
    keys: Interner,
    scratch: Vec<u8>,
    /// CSV: the record parser (its cell buffers are reused).
    csv: CsvParser,
    /// JSON: for the i-th member of a line, the index in `names` it matched last time
    /// (lines of one stream usually share their member order), or `u16::MAX` for none.
    hints: Vec<u16>,
    ts_cache: TsCache,
    /// Raw bytes → symbol for string fields (skips UTF-8 checks and `&str` hashing on hits).
    /// The decoder must always be given the same [`Interner`].
    sym_cache: SymCache,
    /// Raw bytes → key.
    key_cache: SymCache,
    /// The batch being decoded ([`Decoder::start_batch`]), and per key the last batch an
    /// event of it was decoded in: a key the engine released is forgotten only if no batch
    /// decoded since brought it back.
    batch: u64,
    key_seen: Vec<u64>,
    /// Per field, how its strings are held ([`StringUse`]; all kept until
    /// [`Decoder::hold_strings`] says otherwise), and the slot of its text in [`Texts`] when
    /// they are not kept.
    uses: Vec<StringUse>,
    text_slot: Vec<Option<usize>>,
    /// The texts of the batch being decoded (see [`Decoder::swap_texts`]).
    texts: Texts,
    /// Interned strings: the ids below `literals` are the spec's (never forgotten); once
    /// `collect_at` are held, the strings no state holds are forgotten, and meanwhile
    /// `marks` (a bitset by id) records those the batches decoded since hand out. After
    /// each collection, the next comes when the strings held have doubled (at least
    /// `collect_least`): its cost, a walk of the state, stays in proportion.
    literals: u32,
    /// The spec's strings (its filters' literals), for [`StringUse::Literal`] fields: a
    /// few, compared byte for byte.
    literal_texts: Vec<(Box<[u8]>, Sym)>,
    collect_at: usize,
    collect_least: usize,
    marks: Option<Vec<u64>>,
    /// The event id of the record decoded last, as [`event_id_hash`] (0: none).
    event_id: u64,
}

/// Interned strings held before the first collection of the ones no state holds.
const COLLECT_FIRST: usize = 1 << 16;

/// Why a value was refused (the caller adds the line and field).
type FieldErr = String;

impl Decoder {
    pub fn new(source: &SourceSpec, schema: &Schema) -> Decoder {
        let mut names: Vec<(Box<[u8]>, Slot)> = Vec::new();
        let mut slot_of = |name: &str| -> usize {
            if let Some(i) = names.iter().position(|(n, _)| &**n == name.as_bytes()) {
                return i;
            }
            names.push((name.as_bytes().into(), Slot::default()));
            names.len() - 1
        };
        let k = slot_of(&source.key);
        let t = slot_of(&source.timestamp);
        let id = source.event_id.as_deref().map(&mut slot_of);
        let mut field_slots = Vec::new();
        for f in 0..schema.len() {
            field_slots.push((slot_of(schema.name(f)), f, schema.field_type(f)));
        }
        names[k].1.key = true;
        names[t].1.ts = true;
        if let Some(id) = id {
            names[id].1.id = true;
        }
        for (s, f, ty) in field_slots {
            names[s].1.field = Some((f, ty));
        }
        Decoder {
            format: source.format,
            ts_format: source.timestamp_format,
            key_name: source.key.clone(),
            ts_name: source.timestamp.clone(),
            id_name: source.event_id.clone(),
            field_names: (0..schema.len())
                .map(|f| schema.name(f).to_string())
                .collect(),
            names: names
                .into_iter()
                .map(|(n, slot)| {
                    let quoted: Box<[u8]> =
                        if n.iter().any(|&c| c == b'"' || c == b'\\' || c < 0x20) {
                            Box::default()
                        } else {
                            [&n[..], b"\":"].concat().into()
                        };
                    (n, slot, quoted)
                })
                .collect(),
            columns: Vec::new(),
            column_names: Vec::new(),
            header_seen: false,
            keys: Interner::new(),
            scratch: Vec::new(),
            csv: CsvParser::new(),
            hints: Vec::new(),
            ts_cache: TsCache::default(),
            sym_cache: SymCache::default(),
            key_cache: SymCache::default(),
            batch: 0,
            key_seen: Vec::new(),
            uses: vec![StringUse::Kept; schema.len()],
            text_slot: vec![None; schema.len()],
            texts: Texts::default(),
            literals: 0,
            literal_texts: Vec::new(),
            collect_at: COLLECT_FIRST,
            collect_least: COLLECT_FIRST,
            marks: None,
            event_id: 0,
        }
    }

    pub fn format(&self) -> InputFormat {
        self.format
    }

    pub fn timestamp_format(&self) -> TimestampFormat {
        self.ts_format
    }

    pub fn key_field(&self) -> &str {
        &self.key_name
    }

    pub fn timestamp_field(&self) -> &str {
        &self.ts_name
    }

    pub fn event_id_field(&self) -> Option<&str> {
        self.id_name.as_deref()
    }

    /// The event id of the record decoded last, as [`event_id_hash`] (0: it had none).
    pub fn event_id(&self) -> u64 {
        self.event_id
    }

    pub fn field_names(&self) -> &[String] {
        &self.field_names
    }

    /// The key string of an interned key.
    pub fn key(&self, id: KeyId) -> &str {
        self.keys.resolve(eddy_core::Sym(id.0))
    }

    /// The id of a key decoded so far (`None`: none by that name).
    pub fn key_id(&self, key: &str) -> Option<KeyId> {
        self.keys.get(key).map(|s| KeyId(s.0))
    }

    /// Keys held: seen, and not released since.
    pub fn num_keys(&self) -> usize {
        self.keys.live()
    }

    /// Starts a batch: the events decoded from now on are of batch number (the returned)
    /// one, which the engine's releases name ([`Self::release_keys`]).
    pub fn start_batch(&mut self) -> u64 {
        self.batch += 1;
        self.texts.clear(self.texts.per_event());
        self.batch
    }

    /// Says how each field's strings are to be held (indexed by field; fields that are
    /// not strings are not looked at), and the strings the spec interned (its literals,
    /// kept for good).
    pub fn hold_strings(&mut self, uses: &[StringUse], literals: &Interner) {
        self.literals = literals.len() as u32;
        self.literal_texts = (0..self.literals)
            .map(|id| (literals.resolve(Sym(id)).as_bytes().into(), Sym(id)))
            .collect();
        let mut slots = 0;
        for (f, u) in uses.iter().enumerate().take(self.uses.len()) {
            self.uses[f] = *u;
            self.text_slot[f] = (*u != StringUse::Kept).then(|| {
                slots += 1;
                slots - 1
            });
        }
        self.texts.clear(slots);
    }

    /// Whether the texts of fields whose strings are not kept are carried with their batch:
    /// only an output that echoes the event's fields needs them (not one that copies the
    /// input line).
    pub fn echo_texts(&mut self, echo: bool) {
        let slots = self.text_slot.iter().flatten().count();
        self.texts.clear(if echo { slots } else { 0 });
    }

    /// The slot of field `f`'s text in [`Texts`], when its strings are not kept.
    pub fn text_slot(&self, f: usize) -> Option<usize> {
        self.text_slot.get(f).copied().flatten()
    }

    /// Swaps the texts of the events decoded since [`Self::start_batch`] with `texts` (a
    /// batch's, whose buffers the next batch reuses).
    pub fn swap_texts(&mut self, texts: &mut Texts) {
        std::mem::swap(&mut self.texts, texts);
        self.texts.clear(texts.per_event());
    }

    /// Forgets the keys the engine released (idle: every window closed and dropped), each
    /// with the batch whose applying released it, so that their ids go to new keys, unless
    /// a batch decoded after that one brought the key back (the engine then holds it again,
    /// under the same id).
    pub fn release_keys(&mut self, released: &[(u64, KeyId)]) {
        for &(decided_in, k) in released {
            if self
                .key_seen
                .get(k.0 as usize)
                .is_none_or(|&b| b <= decided_in)
            {
                self.forget_key(k);
            }
        }
    }

    /// For tests: forget unheld strings from `n` held on (instead of 65,536).
    #[doc(hidden)]
    pub fn collect_strings_at(&mut self, n: usize) {
        (self.collect_at, self.collect_least) = (n, n);
    }

    /// Whether the batch just decoded is to be the one after which the strings no state
    /// holds are forgotten ([`Self::forget_strings`]): once the strings held have doubled
    /// since the last time. The batches decoded from now on mark the strings they use.
    pub fn wants_string_marks(&mut self, interner: &Interner) -> bool {
        if self.marks.is_some() || interner.live() < self.collect_at {
            return false;
        }
        self.marks = Some(Vec::new());
        true
    }

    /// Forgets the interned strings that neither the engine's state (`held`, a bitset by
    /// id, as of the batch [`Self::wants_string_marks`] chose) nor a batch decoded since
    /// holds, so that their memory and ids go to new strings. Call it once that batch and
    /// every one before it are written.
    pub fn forget_strings(&mut self, interner: &mut Interner, held: &[u64]) {
        let Some(marks) = self.marks.take() else {
            return;
        };
        for id in self.literals..interner.len() as u32 {
            let sym = Sym(id);
            if bit(held, id) || bit(&marks, id) || !interner.holds(sym) {
                continue;
            }
            self.sym_cache.forget(interner.resolve(sym).as_bytes(), id);
            interner.release(sym);
        }
        self.collect_at = (2 * interner.live()).max(self.collect_least);
    }

    fn forget_key(&mut self, k: KeyId) {
        let sym = eddy_core::Sym(k.0);
        if (k.0 as usize) < self.keys.len() {
            self.key_cache
                .forget(self.keys.resolve(sym).as_bytes(), k.0);
            self.keys.release(sym);
        }
    }

    /// CSV: whether the header line has been read.
    pub fn needs_header(&self) -> bool {
        self.format == InputFormat::Csv && !self.header_seen
    }

    /// CSV: reads the header record (which may span lines when a quoted name holds a line
    /// break). Fails when the key or timestamp column is missing.
    pub fn read_header(&mut self, line: &[u8]) -> Result<(), String> {
        std::str::from_utf8(line).map_err(|_| "header is not valid UTF-8")?;
        let rec = self
            .csv
            .parse(line)
            .map_err(|e| format!("malformed header: {e}"))?;
        self.columns.clear();
        self.column_names.clear();
        for (i, cell) in rec.iter().enumerate() {
            // Cells of a UTF-8 record, cut at ASCII bytes: UTF-8.
            let text = std::str::from_utf8(cell).unwrap_or_default();
            let name = if rec.is_quoted(i) {
                text.to_string()
            } else {
                text.trim().to_string()
            };
            let slot = self
                .names
                .iter()
                .find(|(n, _, _)| **n == *name.as_bytes())
                .map(|(_, s, _)| *s)
                .unwrap_or_default();
            self.columns.push(slot);
            self.column_names.push(name);
        }
        let has = |f: fn(&Slot) -> bool| self.columns.iter().any(f);
        if !has(|s| s.key) {
            return Err(format!(
                "the header has no key column `{}` (columns: {})",
                self.key_name,
                self.column_names.join(", ")
            ));
        }
        if !has(|s| s.ts) {
            return Err(format!(
                "the header has no timestamp column `{}` (columns: {})",
                self.ts_name,
                self.column_names.join(", ")
            ));
        }
        self.header_seen = true;
        Ok(())
    }

    /// Decodes one record into `ev`: a JSON line (without its newline), or a CSV record, whole
    /// (with or without its ending; quoted cells may hold line breaks, so a record may span
    /// lines, and `lineno` is its first).
    pub fn decode(
        &mut self,
        line: &[u8],
        lineno: u64,
        ev: &mut Event,
        interner: &mut Interner,
    ) -> Result<(), DecodeError> {
        if ev.fields.len() == self.field_names.len() {
            ev.fields.fill(Value::Null);
        } else {
            ev.fields.clear();
            ev.fields.resize(self.field_names.len(), Value::Null);
        }
        if !json::is_ascii(line) && std::str::from_utf8(line).is_err() {
            return Err(jsonl::utf8_error(lineno));
        }
        let interned = self.keys.interned();
        let texts_at = self.texts.begin_event();
        self.event_id = 0;
        let r = match self.format {
            InputFormat::Jsonl => self.decode_json(line, lineno, ev, interner),
            InputFormat::Csv => self.decode_csv(line, lineno, ev, interner),
        };
        match r {
            Ok(()) => {
                let k = ev.key.0 as usize;
                if k >= self.key_seen.len() {
                    self.key_seen.resize(k + 1, 0);
                }
                self.key_seen[k] = self.batch;
            }
            Err(_) => {
                self.texts.abandon(texts_at);
                // a key first seen in a record that failed is known to nothing: not kept
                if self.keys.interned() != interned {
                    self.forget_key(ev.key);
                }
            }
        }
        r
    }

    fn decode_json(
        &mut self,
        line: &[u8],
        lineno: u64,
        ev: &mut Event,
        interner: &mut Interner,
    ) -> Result<(), DecodeError> {
        let syntax = |e: json::SyntaxError| jsonl::syntax_error(line, lineno, &e);
        let mut have_key = false;
        let mut have_ts = false;
        let names = &self.names;
        let mut obj = json::Object::open(line).map_err(syntax)?;
        let mut m = 0usize;
        loop {
            if m >= self.hints.len() {
                self.hints.resize(m + 1, u16::MAX - 1);
            }
            let hint = self.hints[m] as usize;
            let expect: &[u8] = match names.get(hint) {
                Some((_, _, quoted)) => quoted,
                None => &[],
            };
            let Some((ks, ke, guessed)) = obj.name(expect).map_err(syntax)? else {
                break;
            };
            let name = &line[ks..ke];
            let (kind, vs, ve) = obj.value().map_err(syntax)?;
            m += 1;
            let slot = if guessed || (hint < names.len() && json::eq_bytes(&names[hint].0, name)) {
                names[hint].1
            } else if hint == u16::MAX as usize && !names.iter().any(|(n, _, _)| **n == *name) {
                continue;
            } else {
                match names.iter().position(|(n, _, _)| **n == *name) {
                    Some(i) => {
                        self.hints[m - 1] = i as u16;
                        names[i].1
                    }
                    None => {
                        self.hints[m - 1] = u16::MAX;
                        continue;
                    }
                }
            };
            let val = &line[vs..ve];
            // A null key or timestamp is missing; anything else wrong is a bad value.
            let missing_or = |r: DeadReason| {
                move |m: FieldErr| {
                    (
                        if kind == Kind::Null {
                            DeadReason::MissingField
                        } else {
                            r
                        },
                        m,
                    )
                }
            };
            let res = (|| -> Result<(), (DeadReason, FieldErr)> {
                if slot.key {
                    ev.key = json_key(
                        kind,
                        val,
                        &mut self.keys,
                        &mut self.key_cache,
                        &mut self.scratch,
                    )
                    .map_err(missing_or(DeadReason::BadKey))?;
                    have_key = true;
                }
                if slot.ts {
                    ev.ts = json_ts(
                        kind,
                        val,
                        self.ts_format,
                        &mut self.scratch,
                        &mut self.ts_cache,
                    )
                    .map_err(missing_or(DeadReason::BadTimestamp))?;
                    have_ts = true;
                }
                if slot.id {
                    match kind {
                        Kind::Null => {}
                        Kind::Str { .. } | Kind::Num { int: true } => {
                            self.event_id = event_id_hash(val);
                        }
                        k => {
                            return Err((
                                DeadReason::BadField,
                                format!(
                                    "expected a string or integer event id, found {}",
                                    k.describe()
                                ),
                            ))
                        }
                    }
                }
                if let Some((fid, ty)) = slot.field {
                    ev.fields[fid] = match (kind, self.text_slot[fid]) {
                        (Kind::Str { .. }, Some(at)) => {
                            let b = bytes_of(kind, val, &mut self.scratch)
                                .map_err(|m| (DeadReason::BadField, m))?;
                            self.texts.put(at, b);
                            held_value(self.uses[fid], b, &self.literal_texts)
                        }
                        _ => json_value(
                            kind,
                            val,
                            ty,
                            interner,
                            &mut self.sym_cache,
                            &mut self.scratch,
                        )
                        .map_err(|m| (DeadReason::BadField, m))?,
                    };
                    if let (Value::Str(s), Some(marks)) = (ev.fields[fid], &mut self.marks) {
                        set_bit(marks, s.0);
                    }
                }
                Ok(())
            })();
            if let Err((reason, msg)) = res {
                return Err(DecodeError::with_field(
                    lineno,
                    String::from_utf8_lossy(name),
                    reason,
                    msg,
                ));
            }
        }
        self.check_required(have_key, have_ts, lineno)
    }

    #[inline]
    fn check_required(
        &self,
        have_key: bool,
        have_ts: bool,
        lineno: u64,
    ) -> Result<(), DecodeError> {
        if !have_key {
            return Err(DecodeError::with_field(
                lineno,
                self.key_name.clone(),
                DeadReason::MissingField,
                "missing key",
            ));
        }
        if !have_ts {
            return Err(DecodeError::with_field(
                lineno,
                self.ts_name.clone(),
                DeadReason::MissingField,
                "missing timestamp",
            ));
        }
        Ok(())
    }

    fn decode_csv(
        &mut self,
        line: &[u8],
        lineno: u64,
        ev: &mut Event,
        interner: &mut Interner,
    ) -> Result<(), DecodeError> {
        let rec = match self.csv.parse(line) {
            Ok(rec) => rec,
            Err(e) => return Err(e.at_line(lineno)),
        };
        if rec.len() != self.columns.len() {
            return Err(column_count_error(lineno, self.columns.len(), rec.len()));
        }
        let mut have_key = false;
        let mut have_ts = false;
        for (c, raw) in rec.iter().enumerate() {
            let slot = self.columns[c];
            if !(slot.key || slot.ts || slot.id || slot.field.is_some()) {
                continue;
            }
            // The record was checked to be UTF-8 and cells cut at ASCII bytes.
            let text: &str = std::str::from_utf8(raw).unwrap_or("");
            let column_names = &self.column_names;
            let fail = |reason: DeadReason| {
                move |msg: String| {
                    DecodeError::with_field(lineno, column_names[c].clone(), reason, msg)
                }
            };
            if text.is_empty() {
                continue; // Null: an absent key or timestamp is reported below.
            }
            if slot.id {
                self.event_id = event_id_hash(raw);
            }
            if slot.key {
                ev.key = KeyId(self.keys.intern(text).0);
                have_key = true;
            }
            if slot.ts {
                ev.ts = if self.ts_format == TimestampFormat::Rfc3339 {
                    self.ts_cache.rfc3339(text)
                } else {
                    ts_from_text(text, self.ts_format)
                }
                .map_err(fail(DeadReason::BadTimestamp))?;
                have_ts = true;
            }
            if let Some((fid, ty)) = slot.field {
                let fail = fail(DeadReason::BadField);
                ev.fields[fid] = match ty {
                    FieldType::String => match self.text_slot[fid] {
                        Some(at) => {
                            self.texts.put(at, text.as_bytes());
                            held_value(self.uses[fid], text.as_bytes(), &self.literal_texts)
                        }
                        None => {
                            let s = interner.intern(text);
                            if let Some(marks) = &mut self.marks {
                                set_bit(marks, s.0);
                            }
                            Value::Str(s)
                        }
                    },
                    FieldType::Int => Value::Int(parse_int(text.as_bytes()).map_err(fail)?),
                    FieldType::Float => Value::Float(parse_float(text).map_err(fail)?),
                    FieldType::Bool => match text {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        _ => {
                            return Err(fail(format!(
                                "expected a bool (true or false), found `{text}`"
                            )))
                        }
                    },
                };
            }
        }
        self.check_required(have_key, have_ts, lineno)
    }
}

fn str_of<'a>(kind: Kind, val: &'a [u8], scratch: &'a mut Vec<u8>) -> Result<&'a str, FieldErr> {
    let bytes: &[u8] = if let Kind::Str { escaped: true } = kind {
        json::unescape(val, scratch).map_err(|e| e.to_string())?;
        scratch
    } else {
        val
    };
    std::str::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_string())
}

/// Interning by raw bytes in front of an [`Interner`]: an open-addressing table keyed by a
/// word-at-a-time hash of the bytes, which are kept in one arena (no allocation per entry).
#[derive(Debug, Clone, Default)]
struct SymCache {
    /// Power-of-two table of `(hash, entry + 1)`; `0` marks an empty slot. A forgotten
    /// entry's slot keeps its place in the probe chains with the hash inverted, which no
    /// lookup of any bytes can match (equal bytes have the uninverted hash).
    slots: Vec<(u64, u32)>,
    /// Per entry: its bytes in `arena` and its symbol (`FORGOTTEN`: none).
    entries: Vec<(usize, usize, u32)>,
    arena: Vec<u8>,
    /// Entries forgotten since the last rebuild.
    forgotten: usize,
}

const FORGOTTEN: u32 = u32::MAX;

/// A hash of a byte string for [`SymCache`], reading it a word at a time.
#[inline(always)]
fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let n = b.len();
    let mut h = (n as u64).wrapping_mul(K);
    let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(31);
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            h = mix(h, json::load8(b, i));
            i += 8;
        }
        h = mix(h, json::load8(b, n - 8));
    } else if n >= 4 {
        h = mix(
            h,
            json::load4(b, 0) as u64 | (json::load4(b, n - 4) as u64) << 32,
        );
    } else if n > 0 {
        h = mix(
            h,
            b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16,
        );
    }
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^ (h >> 32)
}

impl SymCache {
    #[inline(always)]
    fn intern(&mut self, bytes: &[u8], interner: &mut Interner) -> Result<Sym, FieldErr> {
        let h = hash_bytes(bytes);
        if !self.slots.is_empty() {
            let mask = self.slots.len() - 1;
            let mut pos = h as usize & mask;
            loop {
                let (sh, e) = self.slots[pos];
                if e == 0 {
                    break;
                }
                if sh == h {
                    let (start, len, sym) = self.entries[e as usize - 1];
                    if json::eq_bytes(&self.arena[start..start + len], bytes) {
                        return Ok(Sym(sym));
                    }
                }
                pos = (pos + 1) & mask;
            }
        }
        self.insert(h, bytes, interner)
    }

    #[cold]
    #[inline(never)]
    fn insert(&mut self, h: u64, bytes: &[u8], interner: &mut Interner) -> Result<Sym, FieldErr> {
        let s = std::str::from_utf8(bytes).map_err(|_| "not valid UTF-8".to_string())?;
        let sym = interner.intern(s);
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            self.rebuild();
        }
        self.entries.push((self.arena.len(), bytes.len(), sym.0));
        self.arena.extend_from_slice(bytes);
        let e = self.entries.len() as u32;
        let mask = self.slots.len() - 1;
        let mut pos = h as usize & mask;
        while self.slots[pos].1 != 0 {
            pos = (pos + 1) & mask;
        }
        self.slots[pos] = (h, e);
        Ok(sym)
    }
}

impl SymCache {
    /// Makes the cache forget `bytes`, cached as `sym` (a released key).
    fn forget(&mut self, bytes: &[u8], sym: u32) {
        if self.slots.is_empty() {
            return;
        }
        let h = hash_bytes(bytes);
        let mask = self.slots.len() - 1;
        let mut pos = h as usize & mask;
        loop {
            let (sh, e) = self.slots[pos];
            if e == 0 {
                return;
            }
            if sh == h && self.entries[e as usize - 1].2 == sym {
                self.slots[pos].0 = !h;
                self.entries[e as usize - 1].2 = FORGOTTEN;
                self.forgotten += 1;
                return;
            }
            pos = (pos + 1) & mask;
        }
    }

    /// A table with room for twice the entries kept (at least 64 slots), without the
    /// forgotten ones, whose bytes leave the arena: what the cache holds follows the keys
    /// held, not every key ever seen.
    fn rebuild(&mut self) {
        let live = self.entries.len() - self.forgotten;
        let cap = ((live + 1) * 4).next_power_of_two().max(64);
        let old = std::mem::take(&mut self.entries);
        let old_arena = std::mem::take(&mut self.arena);
        self.slots = vec![(0u64, 0u32); cap];
        self.forgotten = 0;
        for (start, len, sym) in old.into_iter().filter(|e| e.2 != FORGOTTEN) {
            let bytes = &old_arena[start..start + len];
            self.entries.push((self.arena.len(), len, sym));
            self.arena.extend_from_slice(bytes);
            let h = hash_bytes(bytes);
            let mut pos = h as usize & (cap - 1);
            while self.slots[pos].1 != 0 {
                pos = (pos + 1) & (cap - 1);
            }
            self.slots[pos] = (h, self.entries.len() as u32);
        }
    }
}

/// The bytes of a JSON string (escapes resolved into `scratch` when there are any).
#[inline]
fn bytes_of<'a>(kind: Kind, val: &'a [u8], scratch: &'a mut Vec<u8>) -> Result<&'a [u8], FieldErr> {
    if let Kind::Str { escaped: true } = kind {
        json::unescape(val, scratch).map_err(|e| e.to_string())?;
        Ok(scratch)
    } else {
        Ok(val)
    }
}

#[inline(always)]
fn json_key(
    kind: Kind,
    val: &[u8],
    keys: &mut Interner,
    cache: &mut SymCache,
    scratch: &mut Vec<u8>,
) -> Result<KeyId, FieldErr> {
    match kind {
        Kind::Str { .. } | Kind::Num { int: true } => {
            let b = bytes_of(kind, val, scratch)?;
            if b.is_empty() {
                return Err("empty key".into());
            }
            Ok(KeyId(cache.intern(b, keys)?.0))
        }
        Kind::Null => Err("missing key (null)".into()),
        k => Err(format!(
            "expected a string or integer key, found {}",
            k.describe()
        )),
    }
}

#[inline(always)]
fn json_ts(
    kind: Kind,
    val: &[u8],
    fmt: TimestampFormat,
    scratch: &mut Vec<u8>,
    cache: &mut TsCache,
) -> Result<Timestamp, FieldErr> {
    match (fmt, kind) {
        (_, Kind::Null) => Err("missing timestamp (null)".into()),
        (TimestampFormat::Rfc3339, Kind::Str { escaped: false }) => match cache.fast(val) {
            Some(ts) => Ok(ts),
            None => cache.rfc3339(str_of(kind, val, scratch)?),
        },
        (TimestampFormat::Rfc3339, Kind::Str { .. }) => cache.rfc3339(str_of(kind, val, scratch)?),
        (TimestampFormat::Rfc3339, k) => Err(format!(
            "expected an RFC 3339 timestamp string, found {}",
            k.describe()
        )),
        (_, Kind::Num { .. }) => ts_from_text(std::str::from_utf8(val).unwrap_or(""), fmt),
        (TimestampFormat::EpochMillis, k) => Err(format!(
            "expected epoch milliseconds (an integer), found {}",
            k.describe()
        )),
        (TimestampFormat::EpochSeconds, k) => Err(format!(
            "expected epoch seconds (a number), found {}",
            k.describe()
        )),
    }
}

fn range_check(ms: i64) -> Result<Timestamp, FieldErr> {
    if ms < MIN_EVENT_TS {
        return Err(format!(
            "timestamp {ms} ms is before 1970-01-01T00:00:00Z; expected 1970..9999"
        ));
    }
    if ms > MAX_EVENT_TS {
        return Err(format!(
            "timestamp {ms} ms is after 9999-12-31T23:59:59.999Z; expected 1970..9999"
        ));
    }
    Ok(ms)
}

/// [`range_check`] for epoch seconds: the message names the value as the input wrote it
/// (`ms`, saturated for a huge value, would name a number the user never wrote).
fn secs_range_check(text: &str, ms: i64) -> Result<(), FieldErr> {
    let side = if ms < MIN_EVENT_TS {
        "before 1970-01-01T00:00:00Z"
    } else if ms > MAX_EVENT_TS {
        "after 9999-12-31T23:59:59.999Z"
    } else {
        return Ok(());
    };
    Err(format!(
        "`{text}` epoch seconds is {side}; expected 1970..9999"
    ))
}

/// A fast path for RFC 3339 timestamps of one stream: consecutive events share their
/// date and hour, so the epoch millisecond of `YYYY-MM-DDTHH` is computed once (by eddy-core's
/// parser) and only `MM:SS[.fff]Z` is parsed per event. Anything else (offsets, lower-case
/// letters, leap seconds, another hour that fails to parse) goes to eddy-core's parser, so
/// the results are the same.
#[derive(Debug, Clone, Default)]
struct TsCache {
    prefix: [u8; 13],
    base: Option<Timestamp>,
}

impl TsCache {
    fn rfc3339(&mut self, text: &str) -> Result<Timestamp, FieldErr> {
        self.fast(text.as_bytes())
            .map_or_else(|| ts_from_text(text, TimestampFormat::Rfc3339), Ok)
    }

    #[inline]
    fn fast(&mut self, b: &[u8]) -> Option<Timestamp> {
        if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[b.len() - 1] != b'Z'
        {
            return None;
        }
        if self.base.is_none() || !json::eq_bytes(&b[..13], &self.prefix) {
            let mut hour = [0u8; 20];
            hour[..13].copy_from_slice(&b[..13]);
            hour[13..].copy_from_slice(b":00:00Z");
            let base = parse_rfc3339(std::str::from_utf8(&hour).ok()?).ok()?;
            self.prefix.copy_from_slice(&b[..13]);
            self.base = Some(base);
        }
        let d = |i: usize| b[i].wrapping_sub(b'0');
        let (m1, m0, s1, s0) = (d(14), d(15), d(17), d(18));
        if m1 > 5 || m0 > 9 || s1 > 5 || s0 > 9 {
            return None;
        }
        let mut ms = self.base?
            + (m1 as i64 * 10 + m0 as i64) * 60_000
            + (s1 as i64 * 10 + s0 as i64) * 1_000;
        // The common shape: milliseconds (`.fff`).
        if b.len() == 24 && b[19] == b'.' {
            let (f2, f1, f0) = (d(20), d(21), d(22));
            if f2 > 9 || f1 > 9 || f0 > 9 {
                return None;
            }
            return Some(ms + f2 as i64 * 100 + f1 as i64 * 10 + f0 as i64);
        }
        let frac = &b[19..b.len() - 1];
        if !frac.is_empty() {
            let digits = frac.strip_prefix(b".")?;
            if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let mut f = 0i64;
            for i in 0..3 {
                f = f * 10 + digits.get(i).map_or(0, |c| (c - b'0') as i64);
            }
            ms += f;
        }
        Some(ms)
    }
}

/// Parses a timestamp written as text (an RFC 3339 string or an epoch number).
/// An event id as the label join matches it: a 64-bit SipHash (fixed keys) of its text as
/// written (a string's, without quotes, or an integer's digits), never 0.
pub fn event_id_hash(text: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write(text);
    h.finish().max(1)
}

pub fn ts_from_text(text: &str, fmt: TimestampFormat) -> Result<Timestamp, FieldErr> {
    match fmt {
        TimestampFormat::Rfc3339 => parse_rfc3339(text)
            .map_err(|e| format!("`{text}` is not a valid RFC 3339 timestamp in 1970..9999 ({e})")),
        TimestampFormat::EpochMillis => match parse_int(text.as_bytes()) {
            Ok(ms) => {
                range_check(ms)?;
                from_epoch_millis(ms).map_err(|e| e.to_string())
            }
            Err(_) => Err(format!(
                "`{text}` is not epoch milliseconds; expected an integer"
            )),
        },
        TimestampFormat::EpochSeconds => {
            if let Ok(s) = parse_int(text.as_bytes()) {
                let ms = s.saturating_mul(1000);
                secs_range_check(text, ms)?;
                return from_epoch_millis(ms).map_err(|e| e.to_string());
            }
            let secs: f64 = text
                .parse()
                .map_err(|_| format!("`{text}` is not epoch seconds; expected a number"))?;
            if !secs.is_finite() {
                return Err(format!(
                    "`{text}`: NaN and infinite timestamps are not allowed"
                ));
            }
            // The cast saturates, which keeps a huge value on its side of the range.
            secs_range_check(text, (secs * 1000.0).floor() as i64)?;
            from_epoch_seconds(secs).map_err(|e| e.to_string())
        }
    }
}

#[inline(always)]
fn json_value(
    kind: Kind,
    val: &[u8],
    ty: FieldType,
    interner: &mut Interner,
    cache: &mut SymCache,
    scratch: &mut Vec<u8>,
) -> Result<Value, FieldErr> {
    match (ty, kind) {
        (_, Kind::Null) => Ok(Value::Null),
        (FieldType::String, Kind::Str { .. }) => Ok(Value::Str(
            cache.intern(bytes_of(kind, val, scratch)?, interner)?,
        )),
        (FieldType::Int, Kind::Num { int: true }) => parse_int(val).map(Value::Int),
        (FieldType::Float, Kind::Num { .. }) => {
            parse_float(std::str::from_utf8(val).unwrap_or("")).map(Value::Float)
        }
        (FieldType::Bool, Kind::Bool(b)) => Ok(Value::Bool(b)),
        (ty, k) => Err(format!(
            "expected {}, found {}",
            match ty {
                FieldType::String => "a string",
                FieldType::Int => "an integer",
                FieldType::Float => "a number",
                FieldType::Bool => "a boolean",
            },
            k.describe()
        )),
    }
}

/// Parses a decimal integer (optional leading `-`), refusing overflow.
pub fn parse_int(b: &[u8]) -> Result<i64, FieldErr> {
    // One digit (flags, labels, small counts) needs no loop.
    if let [c @ b'0'..=b'9'] = *b {
        return Ok((c - b'0') as i64);
    }
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| {
                format!(
                    "`{}` is not an integer in the 64-bit range",
                    String::from_utf8_lossy(b)
                )
            });
    }
    let mut v: u64 = 0;
    let overflow = || {
        format!(
            "`{}` is out of the 64-bit integer range",
            String::from_utf8_lossy(b)
        )
    };
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(format!(
                "`{}` is not an integer",
                String::from_utf8_lossy(b)
            ));
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as u64))
            .ok_or_else(overflow)?;
    }
    if neg {
        if v <= i64::MAX as u64 + 1 {
            Ok((v as i64).wrapping_neg())
        } else {
            Err(overflow())
        }
    } else {
        i64::try_from(v).map_err(|_| overflow())
    }
}

/// Parses a finite float.
pub fn parse_float(s: &str) -> Result<f64, FieldErr> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        Ok(_) => Err(format!("`{s}`: NaN and infinite numbers are not allowed")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::PipelineSpec;

    fn spec(format: &str, ts_format: &str) -> PipelineSpec {
        PipelineSpec::parse(&format!(
            r#"
[source]
format = "{format}"
key = "user"
timestamp = "ts"
timestamp_format = "{ts_format}"
event_id = "id"
[source.fields]
amount = "float"
n = "int"
kind = "string"
ok = "bool"
[[feature]]
name = "c"
agg = "count"
window = {{ kind = "tumbling", size = "1m" }}
"#
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn decode_lines(
        format: &str,
        ts_format: &str,
        lines: &[&str],
    ) -> (Decoder, Vec<Result<Event, DecodeError>>, Interner) {
        let s = spec(format, ts_format);
        let mut d = Decoder::new(&s.source, &s.schema);
        let mut interner = s.interner.clone();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let lineno = i as u64 + 1;
            if d.needs_header() {
                d.read_header(l.as_bytes()).unwrap();
                continue;
            }
            let mut ev = Event::default();
            out.push(
                d.decode(l.as_bytes(), lineno, &mut ev, &mut interner)
                    .map(|_| ev),
            );
        }
        (d, out, interner)
    }

    fn err_of(r: &Result<Event, DecodeError>) -> &DecodeError {
        match r {
            Ok(ev) => panic!("decoded: {ev:?}"),
            Err(e) => e,
        }
    }

    /// Released keys are forgotten (their ids handed to new keys, their text gone from the
    /// cache), unless a batch decoded after the release brought them back; a key first seen
    /// in a record that failed is not kept at all; the cache's memory follows the keys held.
    #[test]
    fn released_keys_are_forgotten_and_their_ids_reused() {
        let s = spec("jsonl", "epoch_ms");
        let mut d = Decoder::new(&s.source, &s.schema);
        let mut interner = s.interner.clone();
        let mut ev = Event::default();
        let mut key = |d: &mut Decoder, k: &str| -> Result<KeyId, DecodeError> {
            let line = format!(r#"{{"user":"{k}","ts":1000}}"#);
            d.decode(line.as_bytes(), 1, &mut ev, &mut interner)
                .map(|()| ev.key)
        };
        let b1 = d.start_batch();
        let ids: Vec<KeyId> = (0..1000)
            .map(|i| key(&mut d, &format!("u{i}")).unwrap())
            .collect();
        assert_eq!(d.num_keys(), 1000);
        let b2 = d.start_batch();
        assert_eq!(key(&mut d, "u7").unwrap(), ids[7]); // u7 comes back in batch 2
                                                        // the engine released every key while applying batch 1
        let released: Vec<(u64, KeyId)> = ids.iter().map(|&k| (b1, k)).collect();
        d.release_keys(&released);
        assert_eq!(
            d.num_keys(),
            1,
            "only u7, seen again after the release, is held"
        );
        assert_eq!(d.key_id("u7"), Some(ids[7]));
        assert_eq!(d.key_id("u3"), None);
        // new keys take the released ids; the old text maps to nothing
        let _ = b2;
        let fresh: Vec<KeyId> = (0..999)
            .map(|i| key(&mut d, &format!("v{i}")).unwrap())
            .collect();
        assert!(fresh.iter().all(|k| (k.0 as usize) < 1000), "ids reused");
        assert_eq!(d.key(fresh[0]).chars().next(), Some('v'));
        let back = key(&mut d, "u3").unwrap();
        assert_eq!(d.key(back), "u3");
        assert_eq!(back.0, 1000, "every released id was taken by then");
        // a new key in a record that fails is not kept
        assert!(key(&mut d, "w1\",\"ts\":\"soon").is_err());
        assert_eq!(d.key_id("w1"), None);
        // churn: 50 rounds of 1000 new keys, each round released, hold the cache small
        for round in 0..50 {
            let b = d.start_batch();
            let ids: Vec<KeyId> = (0..1000)
                .map(|i| key(&mut d, &format!("r{round}-{i}")).unwrap())
                .collect();
            let rel: Vec<(u64, KeyId)> = ids.iter().map(|&k| (b, k)).collect();
            d.release_keys(&rel);
        }
        assert!(
            d.keys.len() < 3000,
            "{} ids for 1001 keys held at most",
            d.keys.len()
        );
        assert!(
            d.key_cache.arena.len() < 200 * 1024,
            "{} cache bytes",
            d.key_cache.arena.len()
        );
        assert_eq!(d.num_keys(), 1001);
    }

    #[test]
    fn json_fields_typed_and_interned() {
        let (d, r, interner) = decode_lines(
            "jsonl",
            "epoch_ms",
            &[
                r#"{"user":"alice","ts":1000,"id":"e1","amount":12.5,"n":3,"kind":"buy","ok":true,"extra":{"x":[1,2]}}"#,
                r#"{"ts":2000,"user":"bob","amount":7,"kind":"caf\u00e9"}"#,
                r#"{"user":42,"ts":3000,"n":null}"#,
            ],
        );
        let a = r[0].as_ref().unwrap();
        assert_eq!(d.key(a.key), "alice");
        assert_eq!(a.ts, 1000);
        assert_eq!(a.fields[0], Value::Float(12.5));
        assert_eq!(a.fields[1], Value::Int(3));
        let Value::Str(sym) = a.fields[2] else {
            panic!()
        };
        assert_eq!(interner.resolve(sym), "buy");
        assert_eq!(a.fields[3], Value::Bool(true));
        let b = r[1].as_ref().unwrap();
        assert_eq!(d.key(b.key), "bob");
        assert_eq!(b.fields[0], Value::Float(7.0));
        assert_eq!(b.fields[1], Value::Null);
        let Value::Str(sym) = b.fields[2] else {
            panic!()
        };
        assert_eq!(interner.resolve(sym), "café");
        let c = r[2].as_ref().unwrap();
        assert_eq!(d.key(c.key), "42");
        assert_eq!(d.num_keys(), 3);
    }

    #[test]
    fn json_bad_inputs_name_line_and_field() {
        let (_, r, _) = decode_lines(
            "jsonl",
            "epoch_ms",
            &[
                r#"{"user":"a","ts":1000"#,
                r#"{"ts":1000}"#,
                r#"{"user":"a"}"#,
                r#"{"user":"a","ts":1000,"n":"three"}"#,
                r#"{"user":"a","ts":1000,"amount":NaN}"#,
                r#"{"user":"a","ts":1000,"amount":1e999}"#,
                r#"{"user":"a","ts":-5}"#,
                r#"{"user":"a","ts":253402300800000}"#,
                r#"{"user":"a","ts":"1000"}"#,
                r#"{"user":"a","ts":1000,"n":1.5}"#,
                r#"{"user":"a","ts":1000,"ok":"yes"}"#,
                r#"{"user":[1],"ts":1000}"#,
                "not json",
                r#"{"user":"a","ts":1000,"amount":-Infinity}"#,
            ],
        );
        let expect: [(u64, Option<&str>, &str); 14] = [
            (1, None, "malformed JSON"),
            (2, Some("user"), "missing key"),
            (3, Some("ts"), "missing timestamp"),
            (4, Some("n"), "expected an integer, found a string"),
            (5, Some("amount"), "NaN"),
            (6, Some("amount"), "infinite"),
            (7, Some("ts"), "before 1970"),
            (8, Some("ts"), "after 9999"),
            (9, Some("ts"), "expected epoch milliseconds"),
            (10, Some("n"), "expected an integer, found a float"),
            (11, Some("ok"), "expected a boolean"),
            (12, Some("user"), "expected a string or integer key"),
            (13, None, "malformed JSON"),
            (14, Some("amount"), "infinite"),
        ];
        for (res, (line, field, needle)) in r.iter().zip(expect) {
            let e = err_of(res);
            assert_eq!(e.line, line, "{e}");
            assert_eq!(e.field.as_deref(), field, "{e}");
            assert!(
                e.msg.contains(needle),
                "line {line}: `{}` lacks `{needle}`",
                e.msg
            );
            let shown = e.to_string();
            assert!(shown.starts_with(&format!("line {line}")), "{shown}");
            if let Some(f) = field {
                assert!(shown.contains(&format!("field `{f}`")), "{shown}");
            }
        }
    }

    #[test]
    fn epoch_seconds_and_rfc3339_range() {
        let (_, r, _) = decode_lines(
            "jsonl",
            "epoch_s",
            &[
                r#"{"user":"a","ts":1700000000}"#,
                r#"{"user":"a","ts":-1}"#,
                r#"{"user":"a","ts":1e300}"#,
            ],
        );
        assert_eq!(r[0].as_ref().unwrap().ts, 1_700_000_000_000);
        assert!(err_of(&r[1]).msg.contains("before 1970"));
        assert!(err_of(&r[2]).msg.contains("after 9999"));
    }

    /// Out-of-range epoch seconds are named as written, not as saturated milliseconds.
    #[test]
    fn epoch_seconds_out_of_range_are_named_as_written() {
        let f = TimestampFormat::EpochSeconds;
        let after = "epoch seconds is after 9999-12-31T23:59:59.999Z; expected 1970..9999";
        let before = "epoch seconds is before 1970-01-01T00:00:00Z; expected 1970..9999";
        for text in [
            "1e18",
            "1E300",
            "253402300800",
            "9223372036854775807",
            "1e21",
        ] {
            assert_eq!(
                ts_from_text(text, f).unwrap_err(),
                format!("`{text}` {after}")
            );
        }
        for text in ["-1e18", "-1", "-0.5", "-9223372036854775808"] {
            assert_eq!(
                ts_from_text(text, f).unwrap_err(),
                format!("`{text}` {before}")
            );
        }
        // The last second of 9999 (253402300799 s) is in range, to the millisecond.
        assert_eq!(ts_from_text("253402300799", f), Ok(253_402_300_799_000));
        assert_eq!(ts_from_text("253402300799.999", f), Ok(253_402_300_799_999));
        assert_eq!(ts_from_text("0", f), Ok(0));
    }

    #[test]
    fn csv_typed_quoted_and_bad() {
        let (d, r, _) = decode_lines(
            "csv",
            "epoch_ms",
            &[
                "ts,user,amount,kind,n,ok,other",
                "1000,alice,12.5,buy,3,true,zzz",
                "2000,\"bob, jr\",,\"say \"\"hi\"\"\",,false,",
                "3000,carol,NaN,x,1,true,",
                "4000,carol,inf,x,1,true,",
                "5000,carol,1.0,x,1.5,true,",
                "6000,carol,1.0,x",
                "7000,\"carol,1.0,x,1,true,",
                ",carol,1.0,x,1,true,",
                "8000,,1.0,x,1,true,",
                "-1,dan,1.0,x,1,true,",
                "9000,dan,1.0,x,1,maybe,",
            ],
        );
        let a = r[0].as_ref().unwrap();
        assert_eq!((d.key(a.key), a.ts), ("alice", 1000));
        assert_eq!(a.fields[0], Value::Float(12.5));
        let b = r[1].as_ref().unwrap();
        assert_eq!(d.key(b.key), "bob, jr");
        assert_eq!(b.fields[0], Value::Null);
        let expect: [(u64, Option<&str>, &str); 9] = [
            (4, Some("amount"), "NaN"),
            (5, Some("amount"), "infinite"),
            (6, Some("n"), "not an integer"),
            (7, None, "expected 7 columns"),
            (8, None, "unterminated"),
            (9, Some("ts"), "missing timestamp"),
            (10, Some("user"), "missing key"),
            (11, Some("ts"), "before 1970"),
            (12, Some("ok"), "expected a bool"),
        ];
        for (res, (line, field, needle)) in r[2..].iter().zip(expect) {
            let e = err_of(res);
            assert_eq!(e.line, line, "{e}");
            assert_eq!(e.field.as_deref(), field, "{e}");
            assert!(
                e.msg.contains(needle),
                "line {line}: `{}` lacks `{needle}`",
                e.msg
            );
        }
    }

    #[test]
    fn csv_records_whole_with_quoted_line_breaks_crlf_and_doubled_quotes() {
        let s = spec("csv", "epoch_ms");
        let mut d = Decoder::new(&s.source, &s.schema);
        let mut interner = s.interner.clone();
        // A header name may hold a line break too.
        d.read_header(b"ts,user,\"kind\",\"note\nmore\"\r\n")
            .unwrap();
        let mut ev = Event::default();
        // The source hands over a record whole: its quoted line break, its CRLF ending.
        let rec = b"1000,\"ann\nsmith\",\"say \"\"hi\"\"\",\"x\r\ny\"\r\n";
        d.decode(rec, 3, &mut ev, &mut interner).unwrap();
        assert_eq!(d.key(ev.key), "ann\nsmith");
        assert_eq!(ev.ts, 1000);
        let Value::Str(sym) = ev.fields[2] else {
            panic!("{:?}", ev.fields)
        };
        assert_eq!(interner.resolve(sym), "say \"hi\"");
        // Without its ending, and with `\n` only: the same.
        for rec in [
            &b"2000,bob,buy,n"[..],
            b"2000,bob,buy,n\n",
            b"2000,bob,buy,n\r\n",
        ] {
            d.decode(rec, 9, &mut ev, &mut interner).unwrap();
            assert_eq!((d.key(ev.key), ev.ts), ("bob", 2000));
        }
        let bad: [(&[u8], DeadReason, &str); 5] = [
            (
                b"3000,\"carol\n,buy,n\n",
                DeadReason::Malformed,
                "line 7: malformed CSV: unterminated quoted cell at byte 6",
            ),
            (
                b"3000,\"carol\"x,buy,n",
                DeadReason::Malformed,
                "line 7: malformed CSV: unexpected character after a closing quote at byte 13",
            ),
            (
                b"3000,car\"ol,buy,n",
                DeadReason::Malformed,
                "line 7: malformed CSV: quote inside an unquoted cell near byte 6",
            ),
            (
                b"3000,carol,buy",
                DeadReason::Malformed,
                "line 7: malformed CSV: expected 4 columns (as in the header), found 3",
            ),
            (
                b"3000,carol,buy,n\n4000,dan,buy,n",
                DeadReason::Malformed,
                "line 7: malformed CSV: line break outside quotes at byte 17 (more than one record)",
            ),
        ];
        for (rec, reason, shown) in bad {
            let e = d.decode(rec, 7, &mut ev, &mut interner).unwrap_err();
            assert_eq!((e.reason, e.to_string().as_str()), (reason, shown));
        }
    }

    #[test]
    fn every_bad_record_has_its_reason() {
        let (_, r, _) = decode_lines(
            "jsonl",
            "epoch_ms",
            &[
                r#"{"user":"a","ts":1000"#,
                r#"{"ts":1000}"#,
                r#"{"user":null,"ts":1000}"#,
                r#"{"user":"a","ts":null}"#,
                r#"{"user":"","ts":1000}"#,
                r#"{"user":[1],"ts":1000}"#,
                r#"{"user":"a","ts":-5}"#,
                r#"{"user":"a","ts":"x"}"#,
                r#"{"user":"a","ts":1000,"n":"three"}"#,
                r#"{"user":"a","ts":1000,"amount":NaN}"#,
                r#"{"user":"a","ts":1000,"id":[1]}"#,
            ],
        );
        use DeadReason::*;
        let want = [
            Malformed,
            MissingField,
            MissingField,
            MissingField,
            BadKey,
            BadKey,
            BadTimestamp,
            BadTimestamp,
            BadField,
            BadField,
            BadField,
        ];
        let got: Vec<DeadReason> = r.iter().map(|x| err_of(x).reason).collect();
        assert_eq!(got, want);
        let (_, r, _) = decode_lines(
            "csv",
            "epoch_ms",
            &[
                "ts,user,amount,n",
                "1000,a,x,1",
                "1000,a,1,x",
                "x,a,1,1",
                ",a,1,1",
                "1000,,1,1",
                "1000,\"a,1,1",
                "1000,a,1",
            ],
        );
        let got: Vec<DeadReason> = r.iter().map(|x| err_of(x).reason).collect();
        assert_eq!(
            got,
            [
                BadField,
                BadField,
                BadTimestamp,
                MissingField,
                MissingField,
                Malformed,
                Malformed
            ]
        );
        assert_eq!(DeadReason::MissingField.as_str(), "missing_field");
        let mut d = Decoder::new(
            &spec("jsonl", "epoch_ms").source,
            &spec("jsonl", "epoch_ms").schema,
        );
        let e = d
            .decode(b"\xff", 1, &mut Event::default(), &mut Interner::new())
            .unwrap_err();
        assert_eq!(e.reason, DeadReason::Malformed);
    }

    #[test]
    fn csv_header_needs_key_and_ts() {
        let s = spec("csv", "epoch_ms");
        let mut d = Decoder::new(&s.source, &s.schema);
        assert!(d
            .read_header(b"ts,amount")
            .unwrap_err()
            .contains("key column `user`"));
        assert!(d
            .read_header(b"user,amount")
            .unwrap_err()
            .contains("timestamp column `ts`"));
        assert!(d.read_header(b"user,ts").is_ok());
    }

    #[test]
    fn rfc3339_fast_path_agrees_with_core() {
        let mut cache = TsCache::default();
        let mut rng = eddy_core::rng::Rng::new(5);
        let mut fast_hits = 0;
        for i in 0..20_000 {
            // Mostly close-together times (the cache's case), sometimes anywhere in range.
            let ms = if i % 10 == 0 {
                rng.below(MAX_EVENT_TS as u64 + 1) as i64
            } else {
                1_704_067_200_000 + rng.below(7_200_000) as i64
            };
            let mut s = String::new();
            eddy_core::time::format_rfc3339(ms, &mut s);
            // Vary the fraction: none, 1..=9 digits.
            let s = match i % 4 {
                0 => s.replace(&s[19..23], ""),
                1 => s.replace(&s[19..23], &s[19..21]),
                2 => s.replace("Z", "123456Z"),
                _ => s,
            };
            if cache.fast(s.as_bytes()).is_some() {
                fast_hits += 1;
            }
            let want = parse_rfc3339(&s).map_err(|e| e.to_string());
            let got = cache.rfc3339(&s);
            assert_eq!(got.is_ok(), want.is_ok(), "{s}");
            if let (Ok(g), Ok(w)) = (got, want) {
                assert_eq!(g, w, "{s}");
            }
        }
        assert!(fast_hits > 15_000, "{fast_hits}");
        for odd in [
            "2024-01-01T00:00:60Z",
            "2024-01-01T24:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+01:00",
            "2024-01-01t00:00:00z",
            "2024-01-01T00:60:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            let want = parse_rfc3339(odd).ok();
            assert_eq!(cache.rfc3339(odd).ok(), want, "{odd}");
        }
    }

    mod sym_cache {
        use super::super::SymCache;
        use eddy_core::Interner;
        use proptest::prelude::*;
        use std::collections::HashMap;

        proptest! {
            /// The cache hands out exactly the symbols of the interner, however the strings
            /// collide or repeat (checked against a plain `HashMap`).
            #[test]
            fn same_symbols_as_a_hash_map(words in prop::collection::vec("[a-c0-9/_]{0,20}", 1..400)) {
                let mut cache = SymCache::default();
                let mut interner = Interner::new();
                let mut want: HashMap<String, u32> = HashMap::new();
                for w in words.iter().chain(words.iter().rev()) {
                    let next = want.len() as u32;
                    let id = *want.entry(w.clone()).or_insert(next);
                    let got = cache.intern(w.as_bytes(), &mut interner).unwrap();
                    prop_assert_eq!(got.0, id);
                    prop_assert_eq!(interner.resolve(got), w.as_str());
                }
            }
        }
    }

    #[test]
    fn ints_parse_exactly() {
        assert_eq!(parse_int(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775807"), Ok(i64::MAX));
        assert!(parse_int(b"9223372036854775808").is_err());
        assert!(parse_int(b"12a").is_err());
        assert!(parse_int(b"").is_err());
        assert!(parse_int(b"-").is_err());
    }
}
