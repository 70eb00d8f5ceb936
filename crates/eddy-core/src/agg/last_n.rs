//! Last-N sequence: the newest `n` values of a window in event-time order, kept in one
//! buffer of cache lines.

use super::encode::{decode, encode, TAG_BOOL, TAG_FLOAT, TAG_INT, TAG_STR};
use super::{seq_mut, seq_of_len, FeatureValue};
use crate::Value;

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
///
/// [`Acc`]: super::Acc
/// [`Acc::LastN`]: super::Acc::LastN
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sym;

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
}
