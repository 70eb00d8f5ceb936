//! Exact, incremental ROC AUC over weighted (score, label) pairs.
//!
//! The Mann-Whitney numerator `U = Σ_{pos p, neg q} w_p w_q ([s_p > s_q] + ½ [s_p = s_q])` is
//! kept up to date with an order-statistic treap keyed by score: adding weight `w` to a
//! positive at `s` adds `w (N⁻(< s) + ½ N⁻(= s))`, to a negative `w (N⁺(> s) + ½ N⁺(= s))`.
//! Negative weights remove examples (rolling windows); a lazy global factor scales every
//! weight at once (fading). `AUC = U / (P N)`, exact with ties, `O(log n)` per update.

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    key: u64,
    pos: f64,
    neg: f64,
    spos: f64,
    sneg: f64,
    prio: u64,
    l: u32,
    r: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Auc {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    u: f64,
    pos: f64,
    neg: f64,
    /// Real weight = stored weight × `g` (fading); the AUC ratio does not depend on it.
    g: f64,
    rng: u64,
}

impl Default for Auc {
    fn default() -> Self {
        Auc {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            u: 0.0,
            pos: 0.0,
            neg: 0.0,
            g: 1.0,
            rng: 0x9E37_79B9_7F4A_7C15,
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

impl Auc {
    fn spos(&self, n: u32) -> f64 {
        if n == NIL {
            0.0
        } else {
            self.nodes[n as usize].spos
        }
    }
    fn sneg(&self, n: u32) -> f64 {
        if n == NIL {
            0.0
        } else {
            self.nodes[n as usize].sneg
        }
    }
    fn pull(&mut self, n: u32) {
        let (l, r) = (self.nodes[n as usize].l, self.nodes[n as usize].r);
        let (sp, sn) = (self.spos(l) + self.spos(r), self.sneg(l) + self.sneg(r));
        let node = &mut self.nodes[n as usize];
        node.spos = sp + node.pos;
        node.sneg = sn + node.neg;
    }

    /// Splits `t` into keys `< key` and keys `>= key`.
    fn split(&mut self, t: u32, key: u64) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.nodes[t as usize].key < key {
            let (a, b) = self.split(self.nodes[t as usize].r, key);
            self.nodes[t as usize].r = a;
            self.pull(t);
            (t, b)
        } else {
            let (a, b) = self.split(self.nodes[t as usize].l, key);
            self.nodes[t as usize].l = b;
            self.pull(t);
            (a, t)
        }
    }

    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.merge(self.nodes[a as usize].r, b);
            self.nodes[a as usize].r = r;
            self.pull(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].l);
            self.nodes[b as usize].l = l;
            self.pull(b);
            b
        }
    }

    /// `(N⁻(< key), N⁻(= key), N⁺(> key), N⁺(= key), node at key)`.
    fn around(&self, key: u64) -> (f64, f64, f64, f64, u32) {
        let (mut neg_lt, mut pos_gt) = (0.0, 0.0);
        let mut cur = self.root;
        while cur != NIL {
            let n = &self.nodes[cur as usize];
            if key < n.key {
                pos_gt += n.pos + self.spos(n.r);
                cur = n.l;
            } else if key > n.key {
                neg_lt += n.neg + self.sneg(n.l);
                cur = n.r;
            } else {
                neg_lt += self.sneg(n.l);
                pos_gt += self.spos(n.r);
                return (neg_lt, n.neg, pos_gt, n.pos, cur);
            }
        }
        (neg_lt, 0.0, pos_gt, 0.0, NIL)
    }

    /// Adds real weight `w` (may be negative) to an example of label `positive` at `score`.
    pub(crate) fn add(&mut self, score: f64, positive: bool, w: f64) {
        let w = w / self.g;
        self.add_raw(key_of(score), positive, w);
    }

    fn add_raw(&mut self, key: u64, positive: bool, w: f64) {
        let (neg_lt, neg_eq, pos_gt, pos_eq, at) = self.around(key);
        let (dp, dn) = if positive { (w, 0.0) } else { (0.0, w) };
        if positive {
            self.u += w * (neg_lt + 0.5 * neg_eq);
            self.pos += w;
        } else {
            self.u += w * (pos_gt + 0.5 * pos_eq);
            self.neg += w;
        }
        if at != NIL {
            let n = &self.nodes[at as usize];
            let (np, nn) = (n.pos + dp, n.neg + dn);
            if np.abs() < 1e-9 && nn.abs() < 1e-9 && w < 0.0 {
                // Emptied (rolling removal): unlink the node.
                let (a, bc) = self.split(self.root, key);
                let (_, c) = match key.checked_add(1) {
                    Some(k1) => self.split(bc, k1),
                    None => (bc, NIL),
                };
                self.root = self.merge(a, c);
                self.free.push(at);
                return;
            }
            // Every node on the path to `key` holds it in its subtree.
            let mut cur = self.root;
            while cur != NIL {
                let n = &mut self.nodes[cur as usize];
                n.spos += dp;
                n.sneg += dn;
                if key == n.key {
                    n.pos += dp;
                    n.neg += dn;
                    break;
                }
                cur = if key < n.key { n.l } else { n.r };
            }
            return;
        }
        // New score: a fresh node between the keys below and above.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let node = Node {
            key,
            pos: dp,
            neg: dn,
            spos: dp,
            sneg: dn,
            prio: self.rng,
            l: NIL,
            r: NIL,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let (a, b) = self.split(self.root, key);
        let left = self.merge(a, id);
        self.root = self.merge(left, b);
    }

    /// Multiplies every weight by `a` (fading); renormalises and prunes negligible scores now
    /// and then so stored weights stay finite and memory stays bounded.
    pub(crate) fn scale(&mut self, a: f64) {
        self.g *= a;
        if self.g < 1e-100 {
            let g = self.g;
            for n in &mut self.nodes {
                n.pos *= g;
                n.neg *= g;
                n.spos *= g;
                n.sneg *= g;
            }
            self.u *= g * g;
            self.pos *= g;
            self.neg *= g;
            self.g = 1.0;
            let mut tiny = Vec::new();
            self.collect_tiny(self.root, &mut tiny);
            for (key, p, n) in tiny {
                if p != 0.0 {
                    self.add_raw(key, true, -p);
                }
                if n != 0.0 {
                    self.add_raw(key, false, -n);
                }
            }
        }
    }

    fn collect_tiny(&self, t: u32, out: &mut Vec<(u64, f64, f64)>) {
        if t == NIL {
            return;
        }
        let n = &self.nodes[t as usize];
        if n.pos.abs() + n.neg.abs() < 1e-40 {
            out.push((n.key, n.pos, n.neg));
        }
        self.collect_tiny(n.l, out);
        self.collect_tiny(n.r, out);
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
        self.nodes.len() - self.free.len()
    }
}
