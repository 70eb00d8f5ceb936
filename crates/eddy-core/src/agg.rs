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

// ---------------------------------------------------------------------------------------
// Accumulators (crate-internal building blocks of the engine).
// ---------------------------------------------------------------------------------------

use rustc_hash::FxHashSet;

use std::collections::VecDeque;

/// Identity of a value for distinct counting: a tag in the high bits and the payload below,
/// so distinct values never collide in the exact set. `None` for `Null`.
pub(crate) fn value_key(v: Value) -> Option<u128> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => (1u128 << 64) | u128::from(b),
        Value::Int(i) => (2u128 << 64) | u128::from(i as u64),
        Value::Float(f) => {
            let f = if f == 0.0 { 0.0 } else { f }; // -0.0 == 0.0
            let bits = if f.is_nan() {
                f64::NAN.to_bits()
            } else {
                f.to_bits()
            };
            (3u128 << 64) | u128::from(bits)
        }
        Value::Str(s) => (4u128 << 64) | u128::from(s.0),
    })
}

/// A 64-bit hash of a value key (SplitMix64 finalizer over both halves).
pub(crate) fn hash_key(k: u128) -> u64 {
    fn mix(mut x: u64) -> u64 {
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }
    mix(mix(k as u64 ^ 0x9E37_79B9_7F4A_7C15) ^ (k >> 64) as u64)
}

/// HyperLogLog with precision 12 (4096 one-byte registers, standard error 1.04/√4096 ≈ 1.6%),
/// with the usual linear-counting correction for small cardinalities.
#[derive(Debug, Clone, PartialEq)]
pub struct HyperLogLog {
    regs: Box<[u8]>,
}

impl Default for HyperLogLog {
    fn default() -> Self {
        Self::new()
    }
}

impl HyperLogLog {
    pub const PRECISION: u32 = 12;
    const M: usize = 1 << Self::PRECISION;

    pub fn new() -> Self {
        HyperLogLog {
            regs: vec![0u8; Self::M].into_boxed_slice(),
        }
    }

    /// Adds an already well-mixed 64-bit hash.
    pub fn add_hash(&mut self, h: u64) {
        let idx = (h >> (64 - Self::PRECISION)) as usize;
        let rest = h << Self::PRECISION;
        // rank = position of the first 1 bit in the remaining 52 bits (1-based), max 53
        let rank = (rest.leading_zeros().min(64 - Self::PRECISION) + 1) as u8;
        if let Some(r) = self.regs.get_mut(idx) {
            *r = (*r).max(rank);
        }
    }

    pub fn merge(&mut self, other: &HyperLogLog) {
        for (a, b) in self.regs.iter_mut().zip(other.regs.iter()) {
            *a = (*a).max(*b);
        }
    }

    pub fn estimate(&self) -> f64 {
        let m = Self::M as f64;
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &r in self.regs.iter() {
            sum += 1.0 / (1u64 << r) as f64;
            if r == 0 {
                zeros += 1;
            }
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let e = alpha * m * m / sum;
        if e <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            e
        }
    }

    pub fn bytes(&self) -> usize {
        self.regs.len()
    }
}

/// Exact distinct set that turns into a HyperLogLog once it holds more than `limit` values.
#[derive(Debug, Clone)]
pub(crate) struct Distinct {
    limit: usize,
    exact: FxHashSet<u128>,
    hll: Option<Box<HyperLogLog>>,
}

impl Distinct {
    pub(crate) fn new(limit: usize) -> Self {
        Distinct {
            limit,
            exact: FxHashSet::default(),
            hll: None,
        }
    }

    pub(crate) fn insert(&mut self, k: u128) {
        if let Some(h) = &mut self.hll {
            h.add_hash(hash_key(k));
            return;
        }
        self.exact.insert(k);
        if self.exact.len() > self.limit {
            let mut h = Box::new(HyperLogLog::new());
            for &x in &self.exact {
                h.add_hash(hash_key(x));
            }
            self.exact = FxHashSet::default();
            self.hll = Some(h);
        }
    }

    fn merge(&mut self, other: &Distinct) {
        if let Some(oh) = &other.hll {
            if self.hll.is_none() {
                let mut h = Box::new(HyperLogLog::new());
                for &x in &self.exact {
                    h.add_hash(hash_key(x));
                }
                self.exact = FxHashSet::default();
                self.hll = Some(h);
            }
            if let Some(h) = &mut self.hll {
                h.merge(oh);
            }
        } else {
            for &x in &other.exact {
                self.insert(x);
            }
        }
    }

    pub(crate) fn count(&self) -> i64 {
        match &self.hll {
            Some(h) => h.estimate().round() as i64,
            None => self.exact.len() as i64,
        }
    }

    fn clear(&mut self) {
        self.exact.clear();
        self.hll = None;
    }

    fn bytes(&self) -> usize {
        self.exact.capacity() * 17 + self.hll.as_ref().map_or(0, |h| h.bytes() + 16)
    }
}

/// A mergeable accumulator: the state of one window (or pane) of one feature.
#[derive(Debug, Clone)]
pub(crate) enum Acc {
    /// count and rate: matching events.
    Count(u64),
    /// sum of numeric values.
    Sum(f64),
    /// mean / variance / stddev (Welford; Chan et al. for merging).
    Welford {
        n: u64,
        mean: f64,
        m2: f64,
    },
    /// min (`max == false`) or max; `n == 0` means empty.
    Extreme {
        n: u64,
        v: f64,
        max: bool,
    },
    Distinct(Box<Distinct>),
    /// The last `n` values, sorted by timestamp (ties in arrival order).
    LastN(LastN),
    /// Matching timestamps, sorted, pruned to those after the lateness horizon plus the
    /// greatest one at or before it (enough to answer "last match at or before t" for any
    /// event that can still be accepted).
    Recency(RecencyTs),
}

/// What a result is computed against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResultCtx {
    /// Window length in ms for rates.
    pub window_len: i64,
    /// Reference time for recency: the scored event's time, or the window end on close.
    pub as_of: i64,
}

impl Acc {
    pub(crate) fn new(kind: &AggKind) -> Acc {
        match *kind {
            AggKind::Count | AggKind::Rate { .. } => Acc::Count(0),
            AggKind::Sum => Acc::Sum(0.0),
            AggKind::Mean | AggKind::Variance | AggKind::Stddev => Acc::Welford {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            },
            AggKind::Min => Acc::Extreme {
                n: 0,
                v: 0.0,
                max: false,
            },
            AggKind::Max => Acc::Extreme {
                n: 0,
                v: 0.0,
                max: true,
            },
            AggKind::DistinctCount { exact_limit } => {
                Acc::Distinct(Box::new(Distinct::new(exact_limit)))
            }
            AggKind::LastN { n } => Acc::LastN(LastN::new(n)),
            AggKind::Recency => Acc::Recency(RecencyTs::new()),
        }
    }

    /// Adds one matching event. `v` is the field value (`Null` for count, rate, recency);
    /// numeric aggregations skip non-numeric and NaN values, others skip `Null`.
    /// `horizon`: no event with `ts <= horizon` can be accepted any more (recency pruning).
    pub(crate) fn add(&mut self, ts: i64, v: Value, horizon: i64) {
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Sum(s) => {
                if let Some(x) = num(v) {
                    *s += x;
                }
            }
            Acc::Welford { n, mean, m2 } => {
                if let Some(x) = num(v) {
                    *n += 1;
                    welford_add(mean, m2, x, *n as f64);
                }
            }
            Acc::Extreme { n, v: cur, max } => {
                if let Some(x) = num(v) {
                    if *n == 0 || (*max && x > *cur) || (!*max && x < *cur) {
                        *cur = x;
                    }
                    *n += 1;
                }
            }
            Acc::Distinct(d) => {
                if let Some(k) = value_key(v) {
                    d.insert(k);
                }
            }
            Acc::LastN(l) => l.add(ts, v),
            Acc::Recency(r) => r.add(ts, horizon),
        }
    }

    /// Merges `other` (a window or pane disjoint in time from this one) into `self`.
    #[inline]
    pub(crate) fn merge(&mut self, other: &Acc, horizon: i64) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(a), Acc::Sum(b)) => *a += b,
            (
                Acc::Welford { n, mean, m2 },
                &Acc::Welford {
                    n: n2,
                    mean: mean2,
                    m2: m22,
                },
            ) => {
                welford_merge((n, mean, m2), (n2, mean2, m22));
            }
            (Acc::Extreme { n, v, max }, &Acc::Extreme { n: n2, v: v2, .. }) => {
                if n2 == 0 {
                    return;
                }
                if *n == 0 || (*max && v2 > *v) || (!*max && v2 < *v) {
                    *v = v2;
                }
                *n += n2;
            }
            (Acc::Distinct(a), Acc::Distinct(b)) => a.merge(b),
            (Acc::LastN(a), Acc::LastN(b)) => {
                // one at a time, so that the buffer never holds more than n (adding keeps
                // the newest n of all it has seen, ties in arrival order)
                for (t, v) in b.items() {
                    a.add(t, v);
                }
            }
            (Acc::Recency(a), Acc::Recency(b)) => a.merge(b, horizon),
            _ => {}
        }
    }

    /// Empties the accumulator, keeping allocations.
    pub(crate) fn reset(&mut self) {
        match self {
            Acc::Count(n) => *n = 0,
            Acc::Sum(s) => *s = 0.0,
            Acc::Welford { n, mean, m2 } => (*n, *mean, *m2) = (0, 0.0, 0.0),
            Acc::Extreme { n, v, .. } => (*n, *v) = (0, 0.0),
            Acc::Distinct(d) => d.clear(),
            Acc::LastN(l) => l.clear(),
            Acc::Recency(r) => r.clear(),
        }
    }

    /// Writes the feature value of `kind` into `out` (reusing a `Seq`'s allocation).
    pub(crate) fn result(&self, kind: &AggKind, ctx: ResultCtx, out: &mut FeatureValue) {
        match (self, kind) {
            (Acc::Count(n), AggKind::Rate { unit }) => {
                *out = rate(*n, ctx.window_len, *unit);
            }
            (Acc::Count(n), _) => *out = FeatureValue::Int(*n as i64),
            (Acc::Sum(s), _) => *out = FeatureValue::Num(*s),
            (&Acc::Welford { n, mean, m2 }, k) => *out = welford_value(k, n, mean, m2),
            (&Acc::Extreme { n, v, .. }, _) => {
                *out = if n == 0 {
                    FeatureValue::Null
                } else {
                    FeatureValue::Num(v)
                }
            }
            (Acc::Distinct(d), _) => *out = FeatureValue::Int(d.count()),
            (Acc::LastN(l), _) => l.write_values(out),
            (Acc::Recency(r), _) => *out = r.value(ctx.as_of),
        }
    }

    /// Approximate heap + inline bytes.
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Acc>()
            + match self {
                Acc::Distinct(d) => d.bytes() + std::mem::size_of::<Distinct>(),
                Acc::LastN(l) => l.heap_bytes(),
                Acc::Recency(r) => r.heap_bytes(),
                _ => 0,
            }
    }
}

/// The last-N items of [`Acc::LastN`], sorted by timestamp (ties in arrival order), in one
/// heap buffer of whole, aligned cache lines: for a capacity of `c` items (the buffer's
/// 17-byte items that fit), the values' 8-byte payloads in words `0..c`, the timestamps in
/// words `c..2c`, then one tag byte per item. An event touches the payloads (all read for
/// the output) and one or two timestamps next to each other: for `n = 10`, three lines
/// (two or three touched) rather than the five or six of 16-byte values and timestamps in
/// two buffers of their own. While all items have the same kind (`tag`, the usual case: a
/// field has one type) the tag bytes are not used; the first item of another kind writes
/// them out (`tag` becomes [`MIXED`]) and they are kept up to the next `clear`.
/// While fewer than `n` the items are in the first slots, oldest first; once `n` they are a
/// ring from `head` (the slot of the oldest, where the newest of an in-order event goes,
/// without moving the others; an out-of-order event first turns the ring back into a plain
/// array). The buffer grows in whole lines, each time to hold at least twice the items (at
/// least 2, no more lines than `n` items need: 3, 7, 11 items for `n = 10`), and is kept
/// for good; the capacity never exceeds `n`. 32 bytes (an [`Acc`] of 40, a session's
/// window one cache line).
#[derive(Debug, Clone)]
pub(crate) struct LastN {
    /// Payloads, timestamps and tags, as above; empty until the first item.
    buf: Box<[Line]>,
    /// Items kept at most.
    n: u32,
    /// The slot of the oldest item (0 unless the buffer is a full ring).
    head: u32,
    /// Items held.
    len: u32,
    /// The kind of every item (its tag from [`encode`]), [`NO_TAG`] when empty, or [`MIXED`] (the tag
    /// bytes hold each item's).
    tag: u8,
}

/// One aligned cache line of a [`LastN`] buffer.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Line([u64; 8]);

/// [`LastN::tag`] of an empty buffer.
const NO_TAG: u8 = 0;
/// [`LastN::tag`] when the items are not all of one kind.
const MIXED: u8 = 0xff;
pub(crate) const TAG_BOOL: u8 = 1;
pub(crate) const TAG_INT: u8 = 2;
pub(crate) const TAG_FLOAT: u8 = 3;
pub(crate) const TAG_STR: u8 = 4;

// a session's window (`Win`) fits one cache line only with an `Acc` of 40 bytes
const _: () = assert!(std::mem::size_of::<Acc>() <= 40);

/// A value as a tag (1 to 4) and an 8-byte payload; `None` for `Null`. (Also the online
/// store's encoding of last-N items.)
#[inline(always)]
pub(crate) fn encode(v: Value) -> Option<(u8, u64)> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => (TAG_BOOL, u64::from(b)),
        Value::Int(i) => (TAG_INT, i as u64),
        Value::Float(f) => (TAG_FLOAT, f.to_bits()),
        Value::Str(s) => (TAG_STR, u64::from(s.0)),
    })
}

/// The value [`encode`] made `(tag, payload)` of.
#[inline(always)]
pub(crate) fn decode(tag: u8, p: u64) -> Value {
    match tag {
        TAG_BOOL => Value::Bool(p != 0),
        TAG_INT => Value::Int(p as i64),
        TAG_FLOAT => Value::Float(f64::from_bits(p)),
        TAG_STR => Value::Str(crate::Sym(p as u32)),
        _ => Value::Null,
    }
}

/// Items a buffer of `lines` lines holds: 17 bytes each (payload, timestamp, tag), so
/// `2c` words and `c` tag bytes fit in `8 * lines` words.
#[inline(always)]
fn layout_cap(lines: usize) -> usize {
    lines * 64 / 17
}

/// Word `w` of `buf` (0 past its end).
#[inline(always)]
fn word(buf: &[Line], w: usize) -> u64 {
    buf.get(w >> 3).map_or(0, |l| l.0[w & 7])
}

/// Sets word `w` of `buf` (nothing past its end).
#[inline(always)]
fn set_word(buf: &mut [Line], w: usize, x: u64) {
    if let Some(l) = buf.get_mut(w >> 3) {
        l.0[w & 7] = x;
    }
}

/// Tag byte `i` of a buffer laid out for `c` items.
#[inline]
fn tag_byte(buf: &[Line], c: usize, i: usize) -> u8 {
    (word(buf, 2 * c + i / 8) >> (8 * (i % 8))) as u8
}

/// Sets tag byte `i` of a buffer laid out for `c` items.
#[inline]
fn set_tag_byte(buf: &mut [Line], c: usize, i: usize, t: u8) {
    let (w, s) = (2 * c + i / 8, 8 * (i % 8));
    let x = word(buf, w) & !(0xff << s) | u64::from(t) << s;
    set_word(buf, w, x);
}

impl LastN {
    pub(crate) fn new(n: usize) -> Self {
        // `u32`: no buffer of more items could be allocated anyway
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        LastN {
            buf: Box::new([]),
            n,
            head: 0,
            len: 0,
            tag: NO_TAG,
        }
    }

    /// Items the buffer's layout holds (may exceed `n`; see [`Self::capacity`]).
    #[inline(always)]
    fn lay(&self) -> usize {
        layout_cap(self.buf.len())
    }

    /// Timestamp of slot `i`.
    #[inline(always)]
    fn ts_at(&self, i: usize) -> i64 {
        word(&self.buf, self.lay() + i) as i64
    }

    /// Tag of slot `i`.
    #[inline]
    fn tag_at(&self, i: usize) -> u8 {
        if self.tag == MIXED {
            tag_byte(&self.buf, self.lay(), i)
        } else {
            self.tag
        }
    }

    /// The item in slot `i`.
    #[inline]
    fn slot(&self, i: usize) -> (i64, Value) {
        (self.ts_at(i), decode(self.tag_at(i), word(&self.buf, i)))
    }

    /// The items, oldest first.
    pub(crate) fn items(&self) -> impl Iterator<Item = (i64, Value)> + '_ {
        let (len, h) = (self.len as usize, self.head as usize);
        (h..len).chain(0..h).map(|i| self.slot(i))
    }

    /// The buffer an event reads and writes, whole (the payloads all read, one or two
    /// timestamps whose place depends on `head`), found without reading it (for
    /// prefetching).
    pub(crate) fn buffer(&self) -> &[impl Sized] {
        &self.buf
    }

    pub(crate) fn clear(&mut self) {
        (self.len, self.head, self.tag) = (0, 0, NO_TAG);
    }

    /// Items the buffer holds room for.
    pub(crate) fn capacity(&self) -> usize {
        self.lay().min(self.n as usize)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[Line]>(&self.buf)
    }

    /// The buffer's words: its lines one after another.
    #[inline(always)]
    fn words(&self) -> &[u64] {
        // SAFETY: a `Line` is `repr(C)` around a `[u64; 8]` of exactly its 64 bytes (no
        // padding), so `len` lines are `8 * len` initialised `u64`s, aligned for `u64`, in
        // the allocation `buf` borrows for the returned lifetime.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u64>(), self.buf.len() * 8) }
    }

    /// Copies the items' payloads, oldest first, to the start of `out` and returns their
    /// kind (tag, 0 when there are none) and count; `None` (nothing written) when they are
    /// not all of one kind or do not fit.
    #[inline(always)]
    pub(crate) fn payloads(&self, out: &mut [u64]) -> Option<(u8, usize)> {
        let (len, h) = (self.len as usize, self.head as usize);
        let words = self.words();
        // while fewer than `n` the items are in order from slot 0 (`h` is 0); once `n` a
        // ring from `h`
        let (newer, older) = (words.get(..h)?, words.get(h..len)?);
        let out = out.get_mut(..len).filter(|_| self.tag != MIXED)?;
        let (a, b) = out.split_at_mut(older.len());
        a.copy_from_slice(older);
        b.copy_from_slice(newer);
        Some((self.tag, len))
    }

    /// Writes the values into `out` as a `Seq`, reusing its allocation (one loop rebuilding
    /// the values from their payloads, the kind chosen once when all are of one kind).
    #[inline(always)]
    pub(crate) fn write_values(&self, out: &mut FeatureValue) {
        #[inline(always)]
        fn fill(l: &LastN, out: &mut FeatureValue, f: impl Fn(u64) -> Value) {
            let (len, h) = (l.len as usize, l.head as usize);
            if len <= 16 {
                // the usual case: the payloads in the first two lines, copied out whole so
                // that the ring's two parts are plain slices, written over a `Seq` of the
                // right length (the last event's, as a rule: no length bookkeeping per item)
                let mut words = [0u64; 16];
                for (d, s) in words.chunks_exact_mut(8).zip(l.buf.iter()) {
                    d.copy_from_slice(&s.0);
                }
                if let (Some(a), Some(b)) = (words.get(h..len), words.get(..h)) {
                    let (da, db) = seq_of_len(out, len).split_at_mut(a.len());
                    for (d, &p) in da.iter_mut().zip(a) {
                        *d = f(p);
                    }
                    for (d, &p) in db.iter_mut().zip(b) {
                        *d = f(p);
                    }
                }
                return;
            }
            let seq = seq_mut(out);
            seq.reserve(len);
            for (a, b) in [(h, len), (0, h)] {
                // the payloads `a..b`, a slice of a line at a time
                let mut w = a;
                while w < b {
                    let lo = w & 7;
                    let hi = (b - (w - lo)).min(8);
                    if let Some(x) = l.buf.get(w >> 3).and_then(|x| x.0.get(lo..hi)) {
                        seq.extend(x.iter().map(|&p| f(p)));
                    }
                    w += hi - lo;
                }
            }
        }
        match self.tag {
            TAG_STR => fill(self, out, |p| Value::Str(crate::Sym(p as u32))),
            TAG_INT => fill(self, out, |p| Value::Int(p as i64)),
            TAG_FLOAT => fill(self, out, |p| Value::Float(f64::from_bits(p))),
            TAG_BOOL => fill(self, out, |p| Value::Bool(p != 0)),
            NO_TAG => {
                seq_mut(out);
            }
            _ => seq_mut(out).extend(self.items().map(|(_, v)| v)),
        }
    }

    /// Adds `(ts, v)`, keeping the newest `n` of all added (ties in arrival order); `Null`s
    /// are skipped. The usual event is the newest of a full buffer, of the items' kind: it
    /// replaces the oldest at `head` without a search or moving anything; only an
    /// out-of-order one looks for its place.
    #[inline(always)]
    pub(crate) fn add(&mut self, ts: i64, v: Value) {
        let Some((t, p)) = encode(v) else {
            return;
        };
        let (len, h) = (self.len as usize, self.head as usize);
        if len >= self.n as usize && len > 0 && t == self.tag {
            let c = self.lay();
            // the newest is just before the oldest, at `head - 1` (wrapping)
            let newest = if h == 0 { len - 1 } else { h - 1 };
            if word(&self.buf, c + newest) as i64 <= ts {
                set_word(&mut self.buf, h, p);
                set_word(&mut self.buf, c + h, ts as u64);
                self.head = if h + 1 == len { 0 } else { h as u32 + 1 };
                return;
            }
        }
        self.add_slow(ts, t, p);
    }

    /// Writes the item `(ts, t, p)` to slot `i` (which must be below `len`), writing the
    /// tag bytes out if `t` is the first of another kind.
    fn put(&mut self, i: usize, ts: i64, t: u8, p: u64) {
        let c = self.lay();
        set_word(&mut self.buf, i, p);
        set_word(&mut self.buf, c + i, ts as u64);
        if self.tag == NO_TAG {
            self.tag = t;
        } else if self.tag != t {
            if self.tag != MIXED {
                for j in 0..self.len as usize {
                    set_tag_byte(&mut self.buf, c, j, self.tag);
                }
                self.tag = MIXED;
            }
            set_tag_byte(&mut self.buf, c, i, t);
        }
    }

    /// Copies slot `from` to slot `to`.
    fn copy_slot(&mut self, from: usize, to: usize) {
        let c = self.lay();
        let (p, ts) = (word(&self.buf, from), word(&self.buf, c + from));
        set_word(&mut self.buf, to, p);
        set_word(&mut self.buf, c + to, ts);
        if self.tag == MIXED {
            let t = tag_byte(&self.buf, c, from);
            set_tag_byte(&mut self.buf, c, to, t);
        }
    }

    /// Reverses the order of slots `a..b`.
    fn reverse(&mut self, mut a: usize, mut b: usize) {
        let c = self.lay();
        while a + 1 < b {
            b -= 1;
            for off in [0, c] {
                let (x, y) = (word(&self.buf, off + a), word(&self.buf, off + b));
                set_word(&mut self.buf, off + a, y);
                set_word(&mut self.buf, off + b, x);
            }
            if self.tag == MIXED {
                let (x, y) = (tag_byte(&self.buf, c, a), tag_byte(&self.buf, c, b));
                set_tag_byte(&mut self.buf, c, a, y);
                set_tag_byte(&mut self.buf, c, b, x);
            }
            a += 1;
        }
    }

    #[inline(never)]
    fn add_slow(&mut self, ts: i64, t: u8, p: u64) {
        let (n, len) = (self.n as usize, self.len as usize);
        if n == 0 {
            return;
        }
        if self.head != 0 {
            // back to a plain array, oldest first (a rotation by three reversals)
            let h = self.head as usize;
            self.reverse(0, h);
            self.reverse(h, len);
            self.reverse(0, len);
            self.head = 0;
        }
        // after the items with timestamps <= ts
        let mut pos = len;
        while pos > 0 && self.ts_at(pos - 1) > ts {
            pos -= 1;
        }
        if len >= n {
            if pos == 0 {
                return; // older than everything kept
            }
            // same as inserting at `pos` then dropping the oldest, without growing
            for i in 1..pos {
                self.copy_slot(i, i - 1);
            }
            self.put(pos - 1, ts, t, p);
            return;
        }
        if len == self.capacity() {
            // grow by doubling but never past n: the buffer is kept for good
            let cap = (len + len.max(2)).min(n);
            let lines = (cap * 17).div_ceil(64);
            let old = std::mem::replace(&mut self.buf, vec![Line([0; 8]); lines].into());
            let (c0, c) = (layout_cap(old.len()), self.lay());
            for i in 0..len {
                set_word(&mut self.buf, i, word(&old, i));
                set_word(&mut self.buf, c + i, word(&old, c0 + i));
                if self.tag == MIXED {
                    set_tag_byte(&mut self.buf, c, i, tag_byte(&old, c0, i));
                }
            }
        }
        self.len += 1;
        for i in (pos..len).rev() {
            self.copy_slot(i, i + 1);
        }
        self.put(pos, ts, t, p);
    }
}

/// `dq.insert(pos, x)`, with the common append case as a plain `push_back`.
#[inline]
pub(crate) fn insert_at<T>(dq: &mut VecDeque<T>, pos: usize, x: T) {
    if pos == dq.len() {
        dq.push_back(x);
    } else {
        dq.insert(pos, x);
    }
}

fn prune_recency(list: &mut VecDeque<i64>, horizon: i64) {
    // keep every ts > horizon and the greatest ts <= horizon
    while list.len() >= 2 && list[1] <= horizon {
        list.pop_front();
    }
}

/// An unused inline slot of [`RecencyTs`]: below every timestamp, so the slots stay sorted.
const NO_TS: i64 = i64::MIN;

/// The sorted timestamps of [`Acc::Recency`]. Usually (in-order matches, at most two
/// newer than the lateness horizon) they fit in three inline slots, so adding and reading
/// never touch a heap buffer; otherwise they all move to `spill`, a deque kept with its
/// capacity once allocated (no allocation per event once a key has needed it).
#[derive(Debug, Clone)]
pub(crate) struct RecencyTs {
    /// Inline mode: the timestamps ascending, unused slots ([`NO_TS`]) first. All unused
    /// while spilled.
    inline: [i64; 3],
    /// Spilled mode when non-empty: all the timestamps. Boxed so that the struct fits in
    /// [`Acc`]'s 32 bytes of payload (a bare deque takes all 32).
    #[allow(clippy::box_collection)]
    spill: Option<Box<VecDeque<i64>>>,
}

impl RecencyTs {
    pub(crate) fn new() -> Self {
        RecencyTs {
            inline: [NO_TS; 3],
            spill: None,
        }
    }

    /// Are the timestamps inline (a used last slot means they are; else ask the spill)?
    #[inline]
    fn is_inline(&self) -> bool {
        self.inline[2] != NO_TS || self.spill.as_ref().is_none_or(|s| s.is_empty())
    }

    /// Inserts `ts` after the timestamps `<= ts`, then drops every timestamp but the
    /// greatest one `<= horizon` among those `<= horizon`.
    #[inline]
    pub(crate) fn add(&mut self, ts: i64, horizon: i64) {
        let [a, b, c] = self.inline;
        // in order, and a slot free or the oldest dropped by the prune anyway
        if ts >= c && ts != NO_TS && (a == NO_TS || b <= horizon) && self.is_inline() {
            let x = if c <= horizon { NO_TS } else { b };
            let y = if ts <= horizon { NO_TS } else { c };
            self.inline = [x, y, ts];
            return;
        }
        let list = self.spilled();
        let pos = list.iter().rposition(|&t| t <= ts).map_or(0, |p| p + 1);
        insert_at(list, pos, ts);
        prune_recency(list, horizon);
        self.unspill();
    }

    /// Merges `other`'s timestamps (each after the equal ones), then prunes as [`Self::add`].
    pub(crate) fn merge(&mut self, other: &RecencyTs, horizon: i64) {
        let list = self.spilled();
        for t in other.iter() {
            let pos = list.iter().rposition(|&x| x <= t).map_or(0, |p| p + 1);
            list.insert(pos, t);
        }
        prune_recency(list, horizon);
        self.unspill();
    }

    /// The greatest timestamp `<= as_of`.
    #[inline]
    pub(crate) fn last_at_or_before(&self, as_of: i64) -> Option<i64> {
        if !self.is_inline() {
            return self
                .spill
                .as_ref()
                .and_then(|s| s.iter().rev().find(|&&t| t <= as_of).copied());
        }
        let [a, b, c] = self.inline;
        let t = if c <= as_of {
            c
        } else if b <= as_of {
            b
        } else {
            a
        };
        (t != NO_TS && t <= as_of).then_some(t)
    }

    /// The recency value as of `as_of`: the time since the last match at or before it.
    #[inline]
    pub(crate) fn value(&self, as_of: i64) -> FeatureValue {
        match self.last_at_or_before(as_of) {
            Some(t) => FeatureValue::Int(as_of.saturating_sub(t)),
            None => FeatureValue::Null,
        }
    }

    /// The timestamps, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        let inline = self.is_inline();
        let slots = self.inline.iter().filter(move |&&t| inline && t != NO_TS);
        let spill = self
            .spill
            .iter()
            .filter(move |_| !inline)
            .flat_map(|s| s.iter());
        slots.chain(spill).copied()
    }

    pub(crate) fn clear(&mut self) {
        self.inline = [NO_TS; 3];
        if let Some(s) = &mut self.spill {
            s.clear();
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.spill.as_ref().map_or(0, |s| {
            std::mem::size_of::<VecDeque<i64>>() + s.capacity() * 8
        })
    }

    /// Moves the timestamps to the spill (if inline) and returns it.
    fn spilled(&mut self) -> &mut VecDeque<i64> {
        let inline = self.is_inline();
        let slots = std::mem::replace(&mut self.inline, [NO_TS; 3]);
        let s = self.spill.get_or_insert_with(Box::default);
        if inline {
            s.extend(slots.into_iter().filter(|&t| t != NO_TS));
        }
        s
    }

    /// Back to the inline slots if the timestamps fit there (and none is [`NO_TS`]).
    fn unspill(&mut self) {
        let Some(s) = &mut self.spill else { return };
        if s.len() > 3 || s.contains(&NO_TS) {
            return;
        }
        let mut slots = [NO_TS; 3];
        for (slot, &t) in slots[3 - s.len()..].iter_mut().zip(s.iter()) {
            *slot = t;
        }
        s.clear();
        self.inline = slots;
    }
}

/// Numeric view for aggregation: ints, floats and bools; NaN and others are skipped.
pub(crate) fn num(v: Value) -> Option<f64> {
    v.as_f64().filter(|x| !x.is_nan())
}

pub(crate) fn rate(n: u64, window_len: i64, unit: RateUnit) -> FeatureValue {
    if window_len <= 0 {
        return FeatureValue::Null;
    }
    FeatureValue::Num(n as f64 * unit.millis() as f64 / window_len as f64)
}

/// mean / variance (sample, n - 1) / stddev from Welford state.
pub(crate) fn welford_value(kind: &AggKind, n: u64, mean: f64, m2: f64) -> FeatureValue {
    match kind {
        AggKind::Mean if n > 0 => FeatureValue::Num(mean),
        AggKind::Variance if n > 1 => FeatureValue::Num(m2.max(0.0) / (n - 1) as f64),
        AggKind::Stddev if n > 1 => FeatureValue::Num((m2.max(0.0) / (n - 1) as f64).sqrt()),
        _ => FeatureValue::Null,
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

/// Adds `x` to the Welford mean and M2 of values whose count, `x` included, is `n`: every
/// running mean (accumulators, panes, sliding runs) uses this one arithmetic.
#[inline(always)]
pub(crate) fn welford_add(mean: &mut f64, m2: &mut f64, x: f64, n: f64) {
    let d = x - *mean;
    *mean += d / n;
    *m2 += d * (x - *mean);
}

/// Removes `x` from the Welford mean and M2 of values whose count, `x` removed, is
/// `n1 >= 1` (the exact inverse of [`welford_add`], M2 kept at least 0).
#[inline(always)]
pub(crate) fn welford_remove(mean: &mut f64, m2: &mut f64, x: f64, n1: f64) {
    let old = *mean - (x - *mean) / n1;
    *m2 = (*m2 - (x - old) * (x - *mean)).max(0.0);
    *mean = old;
}

/// Merges Welford state `b` (count, mean, M2) into `a` (Chan et al.): every window and pane
/// merge uses this one arithmetic, so results do not depend on where they were merged.
#[inline]
pub(crate) fn welford_merge(a: (&mut u64, &mut f64, &mut f64), b: (u64, f64, f64)) {
    let (n, mean, m2) = a;
    let (n2, mean2, m22) = b;
    if n2 == 0 {
        return;
    }
    if *n == 0 {
        (*n, *mean, *m2) = (n2, mean2, m22);
        return;
    }
    // one division, off the chain of means (it depends on the counts only)
    let na = *n as f64;
    let nb = n2 as f64;
    let r = nb / (na + nb);
    let d = mean2 - *mean;
    *mean += d * r;
    *m2 += m22 + d * d * na * r;
    *n += n2;
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sym;

    const CTX: ResultCtx = ResultCtx {
        window_len: 60_000,
        as_of: 100,
    };

    fn res(acc: &Acc, kind: AggKind) -> FeatureValue {
        let mut out = FeatureValue::Null;
        acc.result(&kind, CTX, &mut out);
        out
    }

    fn filled(kind: AggKind, vals: &[(i64, Value)]) -> Acc {
        let mut a = Acc::new(&kind);
        for &(t, v) in vals {
            a.add(t, v, i64::MIN);
        }
        a
    }

    fn f(x: f64) -> Value {
        Value::Float(x)
    }

    /// Chan et al.'s merge by hand: [1, 2, 3] (mean 2, M2 2) and [10] give [1, 2, 3, 10]
    /// (mean 4, M2 9 + 4 + 1 + 36 = 50), and an empty side changes nothing, bit for bit.
    #[test]
    fn welford_merge_by_hand_and_with_an_empty_side() {
        let (mut n, mut mean, mut m2) = (3u64, 2.0, 2.0);
        welford_merge((&mut n, &mut mean, &mut m2), (1, 10.0, 0.0));
        assert_eq!((n, mean, m2), (4, 4.0, 50.0));
        let b = (7u64, 0.1 + 0.2, 1.0 / 3.0);
        let (mut n, mut mean, mut m2) = (0u64, 0.0, 0.0);
        welford_merge((&mut n, &mut mean, &mut m2), b);
        assert_eq!(
            (n, mean.to_bits(), m2.to_bits()),
            (7, b.1.to_bits(), b.2.to_bits())
        );
        welford_merge((&mut n, &mut mean, &mut m2), (0, 0.0, 0.0));
        assert_eq!(
            (n, mean.to_bits(), m2.to_bits()),
            (7, b.1.to_bits(), b.2.to_bits())
        );
        let (mut n, mut mean, mut m2) = (0u64, 0.0, 0.0);
        welford_merge((&mut n, &mut mean, &mut m2), (0, 0.0, 0.0));
        assert_eq!((n, mean, m2), (0, 0.0, 0.0));
    }

    #[test]
    fn hand_computed_values() {
        let vals = [
            (1, f(2.0)),
            (2, f(4.0)),
            (3, f(4.0)),
            (4, f(4.0)),
            (5, f(5.0)),
            (6, f(5.0)),
            (7, f(7.0)),
            (8, f(9.0)),
        ];
        // 2,4,4,4,5,5,7,9: sum 40, mean 5, squared deviations 32, sample variance 32/7
        assert_eq!(
            res(&filled(AggKind::Count, &vals), AggKind::Count),
            FeatureValue::Int(8)
        );
        assert_eq!(
            res(&filled(AggKind::Sum, &vals), AggKind::Sum),
            FeatureValue::Num(40.0)
        );
        assert_eq!(
            res(&filled(AggKind::Mean, &vals), AggKind::Mean),
            FeatureValue::Num(5.0)
        );
        let FeatureValue::Num(var) = res(&filled(AggKind::Variance, &vals), AggKind::Variance)
        else {
            panic!()
        };
        assert!((var - 32.0 / 7.0).abs() < 1e-12);
        let FeatureValue::Num(sd) = res(&filled(AggKind::Stddev, &vals), AggKind::Stddev) else {
            panic!()
        };
        assert!((sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(
            res(&filled(AggKind::Min, &vals), AggKind::Min),
            FeatureValue::Num(2.0)
        );
        assert_eq!(
            res(&filled(AggKind::Max, &vals), AggKind::Max),
            FeatureValue::Num(9.0)
        );
        let dk = AggKind::DistinctCount { exact_limit: 100 };
        assert_eq!(res(&filled(dk, &vals), dk), FeatureValue::Int(5));
        // 8 events over a 60 s window = 8 per minute, 480 per hour
        let rk = AggKind::Rate {
            unit: RateUnit::Minute,
        };
        assert_eq!(res(&filled(rk, &vals), rk), FeatureValue::Num(8.0));
        let rk = AggKind::Rate {
            unit: RateUnit::Hour,
        };
        assert_eq!(res(&filled(rk, &vals), rk), FeatureValue::Num(480.0));
        let lk = AggKind::LastN { n: 3 };
        assert_eq!(
            res(&filled(lk, &vals), lk),
            FeatureValue::Seq(vec![f(5.0), f(7.0), f(9.0)])
        );
        // recency as of 100: last match at 8
        assert_eq!(
            res(&filled(AggKind::Recency, &vals), AggKind::Recency),
            FeatureValue::Int(92)
        );
        // empty
        let e: [(i64, Value); 0] = [];
        assert_eq!(
            res(&filled(AggKind::Mean, &e), AggKind::Mean),
            FeatureValue::Null
        );
        assert_eq!(
            res(&filled(AggKind::Variance, &vals[..1]), AggKind::Variance),
            FeatureValue::Null
        );
        assert_eq!(
            res(&filled(AggKind::Min, &e), AggKind::Min),
            FeatureValue::Null
        );
        assert_eq!(
            res(&filled(AggKind::Sum, &e), AggKind::Sum),
            FeatureValue::Num(0.0)
        );
        assert_eq!(
            res(&filled(AggKind::Recency, &e), AggKind::Recency),
            FeatureValue::Null
        );
    }

    #[test]
    fn last_n_is_in_event_time_order_and_merges() {
        let lk = AggKind::LastN { n: 3 };
        let s = |i| Value::Str(Sym(i));
        let a = filled(
            lk,
            &[
                (5, s(5)),
                (1, s(1)),
                (9, s(9)),
                (3, s(3)),
                (0, s(0)),
                (7, s(7)),
            ],
        );
        assert_eq!(res(&a, lk), FeatureValue::Seq(vec![s(5), s(7), s(9)]));
        let mut x = filled(lk, &[(1, s(1)), (2, s(2))]);
        x.merge(&filled(lk, &[(10, s(10)), (11, s(11))]), i64::MIN);
        assert_eq!(res(&x, lk), FeatureValue::Seq(vec![s(2), s(10), s(11)]));
        // two full buffers, interleaved and with a tie: the newest 3 (the merged-in item
        // after the kept one of the same time), and the buffer never holds more than 3
        let mut y = filled(lk, &[(2, s(2)), (4, s(4)), (6, s(6))]);
        y.merge(&filled(lk, &[(3, s(3)), (6, s(60)), (5, s(5))]), i64::MIN);
        // all by time: 2, 3, 4, 5, 6 (kept), 6 (merged in)
        assert_eq!(
            res(&y, lk),
            FeatureValue::Seq(vec![s(5), s(6), s(60)]),
            "{y:?}"
        );
        if let Acc::LastN(l) = &y {
            assert!(l.capacity() <= 3, "{}", l.capacity());
        }
    }

    /// Random arrivals (mostly in order, some late, ties, `Null`s) against a brute force:
    /// stable-sort everything added by timestamp and keep the last `n`.
    #[test]
    fn last_n_matches_a_sorted_scan() {
        let mut rng = crate::rng::Rng::new(17);
        for round in 0..3_000 {
            // some past 16 items (of one kind or several): the output then goes a line at a time
            let n = if round % 8 < 2 {
                17 + rng.below(8) as usize
            } else {
                1 + rng.below(6) as usize
            };
            let mut items = LastN::new(n);
            let mut all: Vec<(i64, Value)> = Vec::new();
            let mut out = FeatureValue::Int(round);
            let mut now = 0i64;
            for i in 0..rng.below(40) as u32 {
                now += rng.below(3) as i64;
                let ts = if rng.chance(0.3) {
                    now - rng.below(10) as i64
                } else {
                    now
                };
                // one kind in most rounds (payloads only); several in others (tag bytes)
                let v = match if round % 4 == 0 { rng.below(5) } else { 4 } {
                    _ if rng.chance(0.1) => Value::Null,
                    0 => Value::Int(i as i64 - 7),
                    1 => Value::Float(f64::from(i) * -0.5),
                    2 => Value::Bool(i % 2 == 0),
                    _ => Value::Str(Sym(i)),
                };
                items.add(ts, v);
                if !matches!(v, Value::Null) {
                    all.push((ts, v));
                }
                let mut want = all.clone();
                want.sort_by_key(|&(t, _)| t); // stable: ties stay in arrival order
                let want: Vec<Value> = want[want.len().saturating_sub(n)..]
                    .iter()
                    .map(|&(_, v)| v)
                    .collect();
                items.write_values(&mut out);
                assert_eq!(out, FeatureValue::Seq(want), "n {n} round {round}");
                assert!(items.capacity() <= n.max(2), "bounded by n");
            }
        }
    }

    #[test]
    fn merge_equals_sequential() {
        let vals: Vec<(i64, Value)> = (0..50)
            .map(|i| (i, f(((i * 37) % 11) as f64 * 1.5 - 3.0)))
            .collect();
        for kind in [
            AggKind::Count,
            AggKind::Sum,
            AggKind::Mean,
            AggKind::Variance,
            AggKind::Min,
            AggKind::Max,
            AggKind::DistinctCount { exact_limit: 5 },
            AggKind::Recency,
        ] {
            let whole = filled(kind, &vals);
            let mut a = filled(kind, &vals[..20]);
            a.merge(&filled(kind, &vals[20..]), i64::MIN);
            let (x, y) = (res(&whole, kind), res(&a, kind));
            match (x, y) {
                (FeatureValue::Num(p), FeatureValue::Num(q)) => {
                    assert!((p - q).abs() < 1e-9, "{kind:?}")
                }
                (p, q) => assert_eq!(p, q, "{kind:?}"),
            }
        }
    }

    #[test]
    fn hyperloglog_error_bound() {
        // exact below the limit, HLL above; p = 12 has a standard error of 1.6%,
        // we allow 5% (over 3 sigma) at several cardinalities.
        for &n in &[1_000u64, 10_000, 100_000] {
            let mut d = Distinct::new(100);
            for i in 0..n {
                d.insert(value_key(Value::Int(i as i64 * 7919)).unwrap());
                d.insert(value_key(Value::Int(i as i64 * 7919)).unwrap()); // duplicates
            }
            let est = d.count() as f64;
            let err = (est - n as f64).abs() / n as f64;
            assert!(err < 0.05, "n {n} est {est} err {err}");
        }
        let mut d = Distinct::new(1000);
        for i in 0..1000 {
            d.insert(value_key(Value::Int(i)).unwrap());
        }
        assert_eq!(d.count(), 1000, "exact up to the limit");
        // merging two HLLs estimates the union
        let mut a = Distinct::new(10);
        let mut b = Distinct::new(10);
        for i in 0..20_000 {
            a.insert(value_key(Value::Int(i)).unwrap());
            b.insert(value_key(Value::Int(i + 10_000)).unwrap());
        }
        a.merge(&b);
        let err = (a.count() as f64 - 30_000.0).abs() / 30_000.0;
        assert!(err < 0.05, "{err}");
    }

    #[test]
    fn recency_pruning_keeps_what_can_still_be_asked() {
        let mut a = Acc::new(&AggKind::Recency);
        for t in [10, 20, 30, 40] {
            a.add(t, Value::Null, 25);
        }
        // kept: 20 (greatest <= 25), 30, 40
        let Acc::Recency(l) = &a else { panic!() };
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![20, 30, 40]);
        let mut out = FeatureValue::Null;
        a.result(
            &AggKind::Recency,
            ResultCtx {
                window_len: 1,
                as_of: 26,
            },
            &mut out,
        );
        assert_eq!(out, FeatureValue::Int(6));
    }

    /// The inline/spilled timestamps against a plain sorted `Vec` doing the same inserts
    /// and prunes, and every answer against a scan of all timestamps ever added (pruning
    /// must not change the answer for any time after the horizon).
    #[test]
    fn recency_timestamps_match_a_plain_list_and_a_full_scan() {
        fn model_add(list: &mut Vec<i64>, t: i64) {
            let pos = list.iter().filter(|&&x| x <= t).count();
            list.insert(pos, t);
        }
        fn model_prune(list: &mut Vec<i64>, horizon: i64) {
            let le = list.iter().filter(|&&x| x <= horizon).count();
            list.drain(..le.saturating_sub(1));
        }
        let mut rng = crate::rng::Rng::new(7);
        for case in 0..400 {
            let mut r = RecencyTs::new();
            let mut list = Vec::new();
            let mut all = Vec::new();
            let mut horizon = i64::MIN;
            let mut now = rng.below(100) as i64 - 50;
            let disorder = [0, 3, 30][case % 3];
            let steps = 1 + rng.below(60);
            for _ in 0..steps {
                now += rng.below(8) as i64;
                if rng.chance(0.3) {
                    horizon = horizon.max(now - rng.below(20) as i64);
                }
                let t = if case % 50 == 0 && rng.chance(0.1) {
                    i64::MIN // the inline slots' marker value must still work
                } else {
                    now - rng.below(disorder + 1) as i64
                };
                if rng.chance(0.1) {
                    // merge a small accumulator of its own
                    let mut other = RecencyTs::new();
                    let mut theirs = Vec::new();
                    for _ in 0..rng.below(6) {
                        let u = now - rng.below(40) as i64;
                        other.add(u, i64::MIN);
                        model_add(&mut theirs, u);
                        all.push(u);
                    }
                    assert_eq!(other.iter().collect::<Vec<_>>(), theirs);
                    r.merge(&other, horizon);
                    for u in theirs {
                        model_add(&mut list, u);
                    }
                    model_prune(&mut list, horizon);
                } else if rng.chance(0.02) {
                    r.clear();
                    list.clear();
                    all.clear();
                } else {
                    r.add(t, horizon);
                    model_add(&mut list, t);
                    model_prune(&mut list, horizon);
                    all.push(t);
                }
                assert_eq!(r.iter().collect::<Vec<_>>(), list, "case {case}");
                assert!(r.heap_bytes() > 0 || list.len() <= 3);
                for as_of in [horizon, horizon.saturating_add(1), now - 5, now, now + 3] {
                    if as_of <= horizon {
                        continue;
                    }
                    let want = all.iter().copied().filter(|&x| x <= as_of).max();
                    assert_eq!(
                        r.last_at_or_before(as_of),
                        want,
                        "case {case} as_of {as_of}"
                    );
                }
            }
        }
    }
}
