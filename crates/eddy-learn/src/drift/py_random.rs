//! Python's `random.Random` (CPython 3.11's MT19937), as far as `random.random()` and
//! `random.Random(seed).sample` on a range, so that KSWIN draws the same sample positions as
//! River's `drift.KSWIN` (and tests draw River's streams).

use serde::{Deserialize, Serialize};

const N: usize = 624;
const M: usize = 397;

/// Python's `random.Random(seed)` for an integer seed: MT19937 seeded by `init_by_array` with
/// the seed's 32-bit words, least significant first (`[0]` for 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PyRandomState")]
pub struct PyRandom {
    mt: Vec<u32>,
    idx: usize,
}

/// A snapshot's generator state, checked before use.
#[derive(Deserialize)]
struct PyRandomState {
    mt: Vec<u32>,
    idx: usize,
}

impl TryFrom<PyRandomState> for PyRandom {
    type Error = String;

    fn try_from(s: PyRandomState) -> Result<Self, String> {
        if s.mt.len() != N || s.idx > N {
            return Err(format!(
                "Mersenne Twister state needs {N} words and a position up to {N} (got {} and {})",
                s.mt.len(),
                s.idx
            ));
        }
        Ok(PyRandom {
            mt: s.mt,
            idx: s.idx,
        })
    }
}

impl PyRandom {
    pub fn new(seed: u64) -> Self {
        let mut r = PyRandom {
            mt: vec![0; N],
            idx: N,
        };
        r.reseed(seed);
        r
    }

    /// As `random.seed(seed)`, in place.
    pub fn reseed(&mut self, seed: u64) {
        let (lo, hi) = (seed as u32, (seed >> 32) as u32);
        let key: &[u32] = if hi == 0 { &[lo] } else { &[lo, hi] };
        let mt = &mut self.mt;
        mt[0] = 19_650_218;
        for i in 1..N {
            let p = mt[i - 1];
            mt[i] = 1_812_433_253u32
                .wrapping_mul(p ^ (p >> 30))
                .wrapping_add(i as u32);
        }
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let p = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ p.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let p = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ p.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        self.idx = N;
    }

    fn next_u32(&mut self) -> u32 {
        if self.idx >= N {
            let mt = &mut self.mt;
            for k in 0..N {
                let y = (mt[k] & 0x8000_0000) | (mt[(k + 1) % N] & 0x7fff_ffff);
                let mut v = mt[(k + M) % N] ^ (y >> 1);
                if y & 1 == 1 {
                    v ^= 0x9908_b0df;
                }
                mt[k] = v;
            }
            self.idx = 0;
        }
        let mut y = self.mt[self.idx];
        self.idx += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random.random()`: 53 bits from two draws.
    pub fn random(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `_randbelow(n)` for `1 <= n < 2^32`: `getrandbits(n.bit_length())` until below `n`.
    fn below(&mut self, n: usize) -> usize {
        let k = usize::BITS - n.leading_zeros();
        loop {
            let r = (self.next_u32() >> (32 - k)) as usize;
            if r < n {
                return r;
            }
        }
    }

    /// `sample(range(n), k)` into `out` (`k <= n < 2^32`), drawing exactly as CPython does:
    /// a shrinking pool when `n` is small next to `k`, else rejection of repeats. `pool` and
    /// `seen` are scratch space kept by the caller.
    pub fn sample_range(
        &mut self,
        n: usize,
        k: usize,
        out: &mut Vec<usize>,
        pool: &mut Vec<usize>,
        seen: &mut Vec<bool>,
    ) {
        out.clear();
        let mut setsize = 21usize;
        if k > 5 {
            // 4 ** ceil(log(3k, 4)), with the same floating-point log as Python's.
            let e = ((k * 3) as f64).ln() / 4f64.ln();
            setsize += 4usize.pow(e.ceil() as u32);
        }
        if n <= setsize {
            pool.clear();
            pool.extend(0..n);
            for i in 0..k {
                let j = self.below(n - i);
                out.push(pool[j]);
                pool[j] = pool[n - i - 1];
            }
        } else {
            seen.clear();
            seen.resize(n, false);
            for _ in 0..k {
                let mut j = self.below(n);
                while seen[j] {
                    j = self.below(n);
                }
                seen[j] = true;
                out.push(j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by CPython 3.11 (`random.Random(seed)`).
    #[test]
    fn matches_cpython() {
        assert_eq!(PyRandom::new(0).random(), 0.8444218515250481);
        assert_eq!(PyRandom::new((1 << 40) + 5).random(), 0.5043802970418443);
        let (mut out, mut pool, mut seen) = (Vec::new(), Vec::new(), Vec::new());
        // The pool branch: random.Random(42).sample(range(70), 30).
        PyRandom::new(42).sample_range(70, 30, &mut out, &mut pool, &mut seen);
        assert_eq!(
            out,
            [
                14, 3, 35, 31, 28, 17, 13, 43, 47, 57, 34, 5, 37, 27, 2, 1, 58, 63, 69, 32, 38, 54,
                67, 12, 45, 41, 59, 26, 51, 65
            ]
        );
        // The rejection branch: random.Random(7).sample(range(970), 30)[:10].
        PyRandom::new(7).sample_range(970, 30, &mut out, &mut pool, &mut seen);
        assert_eq!(out[..10], [331, 154, 404, 666, 49, 74, 840, 548, 96, 374]);
    }
}
