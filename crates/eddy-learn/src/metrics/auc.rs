//! Exact, incremental ROC AUC over weighted (score, label) pairs.
//!
//! The Mann-Whitney numerator `U = Σ_{pos p, neg q} w_p w_q ([s_p > s_q] + ½ [s_p = s_q])` is
//! kept up to date with an order-statistic index keyed by score: adding weight `w` to a
//! positive at `s` adds `w (N⁻(< s) + ½ N⁻(= s))`, to a negative `w (N⁺(> s) + ½ N⁺(= s))`.
//! Negative weights remove examples (rolling windows); a lazy global factor scales every
//! weight at once (fading). `AUC = U / (P N)`, exact with ties.
//!
//! The index is a list of sorted blocks of at most `2 * HALF` distinct scores with a Fenwick
//! tree over the blocks' totals: `O(log n + HALF)` per update, cache-friendly (a binary search
//! over block maxima, one block scan, a short memmove).

/// Half the largest block size.
const HALF: usize = 256;

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: u64,
    pos: f64,
    neg: f64,
}

#[derive(Debug, Clone, Default)]
struct Block {
    entries: Vec<Entry>,
    pos: f64,
    neg: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct Auc {
    blocks: Vec<Block>,
    /// Largest key of each block (contiguous, for the binary search).
    maxs: Vec<u64>,
    /// Fenwick trees over the blocks' positive and negative totals.
    fen_pos: Vec<f64>,
    fen_neg: Vec<f64>,
    u: f64,
    pos: f64,
    neg: f64,
    /// Real weight = stored weight × `g` (fading); the AUC ratio does not depend on it.
    g: f64,
}

impl Default for Auc {
    fn default() -> Self {
        Auc {
            blocks: Vec::new(),
            maxs: Vec::new(),
            fen_pos: Vec::new(),
            fen_neg: Vec::new(),
            u: 0.0,
            pos: 0.0,
            neg: 0.0,
            g: 1.0,
        }
    }
}

/// Maps a score to a key whose unsigned order is the numeric order (`-0.0` = `0.0`).
fn key_of(s: f64) -> u64 {
    let s = if s == 0.0 { 0.0 } else { s };
    let b = s.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

fn fen_add(t: &mut [f64], i: usize, d: f64) {
    let mut i = i + 1;
    while i <= t.len() {
        t[i - 1] += d;
        i += i & i.wrapping_neg();
    }
}

/// Sum of the first `i` entries.
fn fen_prefix(t: &[f64], i: usize) -> f64 {
    let (mut i, mut s) = (i, 0.0);
    while i > 0 {
        s += t[i - 1];
        i -= i & i.wrapping_neg();
    }
    s
}

impl Auc {
    /// Rebuilds the Fenwick trees and maxima from the blocks (after a split or removal).
    fn rebuild(&mut self) {
        let n = self.blocks.len();
        self.maxs.clear();
        self.maxs.extend(
            self.blocks
                .iter()
                .map(|b| b.entries.last().map_or(0, |e| e.key)),
        );
        for (t, f) in [(&mut self.fen_pos, 0), (&mut self.fen_neg, 1)] {
            t.clear();
            t.extend(
                self.blocks
                    .iter()
                    .map(|b| if f == 0 { b.pos } else { b.neg }),
            );
            for i in 1..=n {
                let j = i + (i & i.wrapping_neg());
                if j <= n {
                    let v = t[i - 1];
                    t[j - 1] += v;
                }
            }
        }
    }

    /// Adds real weight `w` (may be negative) to an example of label `positive` at `score`.
    pub(crate) fn add(&mut self, score: f64, positive: bool, w: f64) {
        let w = w / self.g;
        self.add_raw(key_of(score), positive, w);
    }

    fn add_raw(&mut self, key: u64, positive: bool, w: f64) {
        if self.blocks.is_empty() {
            if w <= 0.0 {
                return;
            }
            self.blocks.push(Block::default());
            self.rebuild();
        }
        let bi = self
            .maxs
            .partition_point(|&m| m < key)
            .min(self.blocks.len() - 1);
        let b = &self.blocks[bi];
        // One sequential scan finds the position and sums what lies below (a binary search
        // would add dependent cache misses on a block the scan reads anyway).
        let (mut neg_lt, mut pos_le) =
            (fen_prefix(&self.fen_neg, bi), fen_prefix(&self.fen_pos, bi));
        let mut at = b.entries.len();
        for (i, e) in b.entries.iter().enumerate() {
            if e.key >= key {
                at = i;
                break;
            }
            neg_lt += e.neg;
            pos_le += e.pos;
        }
        let found = b.entries.get(at).is_some_and(|e| e.key == key);
        let (neg_eq, pos_eq) = if found {
            (b.entries[at].neg, b.entries[at].pos)
        } else {
            (0.0, 0.0)
        };
        let pos_gt = self.pos - pos_le - pos_eq;
        let (dp, dn) = if positive { (w, 0.0) } else { (0.0, w) };
        if positive {
            self.u += w * (neg_lt + 0.5 * neg_eq);
            self.pos += w;
        } else {
            self.u += w * (pos_gt + 0.5 * pos_eq);
            self.neg += w;
        }
        let b = &mut self.blocks[bi];
        b.pos += dp;
        b.neg += dn;
        let mut restructure = false;
        if found {
            let e = &mut b.entries[at];
            e.pos += dp;
            e.neg += dn;
            if w < 0.0 && e.pos.abs() < 1e-9 && e.neg.abs() < 1e-9 {
                // Emptied (rolling removal): drop the score, and the block if it is empty.
                b.entries.remove(at);
                if b.entries.is_empty() {
                    self.blocks.remove(bi);
                    restructure = true;
                } else {
                    self.maxs[bi] = b.entries[b.entries.len() - 1].key;
                }
            }
        } else {
            b.entries.insert(
                at,
                Entry {
                    key,
                    pos: dp,
                    neg: dn,
                },
            );
            if key > self.maxs[bi] || b.entries.len() == 1 {
                self.maxs[bi] = b.entries[b.entries.len() - 1].key;
            }
            if b.entries.len() > 2 * HALF {
                let tail = b.entries.split_off(HALF);
                let (tp, tn) = tail
                    .iter()
                    .fold((0.0, 0.0), |(p, n), e| (p + e.pos, n + e.neg));
                b.pos -= tp;
                b.neg -= tn;
                self.blocks.insert(
                    bi + 1,
                    Block {
                        entries: tail,
                        pos: tp,
                        neg: tn,
                    },
                );
                restructure = true;
            }
        }
        if restructure {
            self.rebuild();
        } else {
            fen_add(&mut self.fen_pos, bi, dp);
            fen_add(&mut self.fen_neg, bi, dn);
        }
    }

    /// Multiplies every weight by `a` (fading); renormalises and prunes negligible scores now
    /// and then so stored weights stay finite and memory stays bounded.
    pub(crate) fn scale(&mut self, a: f64) {
        self.g *= a;
        if self.g >= 1e-100 {
            return;
        }
        let g = self.g;
        self.g = 1.0;
        // Scale, drop scores whose weight became negligible, and recount U in key order.
        let (mut u, mut pos, mut neg) = (0.0, 0.0, 0.0);
        for b in &mut self.blocks {
            b.entries.retain_mut(|e| {
                e.pos *= g;
                e.neg *= g;
                e.pos.abs() + e.neg.abs() >= 1e-40
            });
            b.pos = 0.0;
            b.neg = 0.0;
            for e in &b.entries {
                u += e.pos * (neg + 0.5 * e.neg);
                pos += e.pos;
                neg += e.neg;
                b.pos += e.pos;
                b.neg += e.neg;
            }
        }
        self.blocks.retain(|b| !b.entries.is_empty());
        self.u = u;
        self.pos = pos;
        self.neg = neg;
        self.rebuild();
    }

    pub(crate) fn value(&self) -> f64 {
        if self.pos > 1e-12 && self.neg > 1e-12 {
            self.u / (self.pos * self.neg)
        } else {
            f64::NAN
        }
    }

    #[cfg(test)]
    pub(crate) fn n_nodes(&self) -> usize {
        self.blocks.iter().map(|b| b.entries.len()).sum()
    }
}
