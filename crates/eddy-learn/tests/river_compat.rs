//! The drift detectors reproduce the examples in River's documentation exactly, on the same
//! input streams. The streams come from Python's `random` module (Mersenne Twister), ported
//! here: `random.Random(seed).choices(...)`.

use eddy_learn::drift::build;
use eddy_learn::registry::Params;
use eddy_learn::{Detector, DriftState};

/// Python's `random.Random` (MT19937 seeded by `init_by_array`), enough for `choices`.
struct PyRandom {
    mt: [u32; 624],
    idx: usize,
}

impl PyRandom {
    fn new(seed: u32) -> Self {
        let mut r = PyRandom {
            mt: [0; 624],
            idx: 624,
        };
        r.init_genrand(19_650_218);
        let key = [seed];
        let (n, mut i, mut j) = (624usize, 1usize, 0usize);
        let mt = &mut r.mt;
        for _ in 0..n.max(key.len()) {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= n {
                mt[0] = mt[n - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..n - 1 {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= n {
                mt[0] = mt[n - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        r
    }

    fn init_genrand(&mut self, s: u32) {
        self.mt[0] = s;
        for i in 1..624 {
            let p = self.mt[i - 1];
            self.mt[i] = 1_812_433_253u32
                .wrapping_mul(p ^ (p >> 30))
                .wrapping_add(i as u32);
        }
    }

    fn next_u32(&mut self) -> u32 {
        if self.idx >= 624 {
            for k in 0..624 {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % 624] & 0x7fff_ffff);
                let mut v = self.mt[(k + 397) % 624] ^ (y >> 1);
                if y & 1 == 1 {
                    v ^= 0x9908_b0df;
                }
                self.mt[k] = v;
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
    fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `choices(population, k=k)`.
    fn choices(&mut self, population: &[f64], k: usize) -> Vec<f64> {
        let n = population.len() as f64;
        (0..k)
            .map(|_| population[(self.random() * n).floor() as usize])
            .collect()
    }

    /// `choices([0, 1], k=k, weights=[w0, w1])`.
    fn choices01(&mut self, w0: f64, w1: f64, k: usize) -> Vec<f64> {
        let total = w0 + w1;
        (0..k)
            .map(|_| if self.random() * total < w0 { 0.0 } else { 1.0 })
            .collect()
    }
}

fn run(name: &str, params: &[(&str, &str)], xs: &[f64]) -> Vec<String> {
    let p: Params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut d = build(name, &p).unwrap();
    let mut out = Vec::new();
    let mut print_warning = true;
    for (i, &x) in xs.iter().enumerate() {
        match d.update(x) {
            DriftState::Warning if print_warning => {
                out.push(format!("warning {i}"));
                print_warning = false;
            }
            DriftState::Drift => {
                out.push(format!("drift {i}"));
                print_warning = true;
            }
            _ => {}
        }
    }
    out
}

#[test]
fn python_random_port_matches_cpython() {
    // random.Random(42).random() in CPython.
    let mut r = PyRandom::new(42);
    assert_eq!(r.random(), 0.6394267984578837);
    assert_eq!(r.random(), 0.025010755222666936);
}

/// River's `drift.ADWIN` and `drift.PageHinkley` docstrings:
/// `rng = random.Random(12345)`, `rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)`.
#[test]
fn adwin_and_page_hinkley_match_river_docs() {
    let mut rng = PyRandom::new(12345);
    let mut xs = rng.choices(&[0.0, 1.0], 1000);
    xs.extend(rng.choices(&[4.0, 5.0, 6.0, 7.0], 1000));
    assert_eq!(run("adwin", &[], &xs), vec!["drift 1023"]);
    assert_eq!(run("page_hinkley", &[], &xs), vec!["drift 1006"]);
}

/// River's `drift.binary.DDM` and `EDDM` docstrings: `rng = random.Random(42)`,
/// `rng.choices([0, 1], k=1000) + rng.choices([0, 1], k=1000, weights=[0.3, 0.7])`.
#[test]
fn ddm_and_eddm_match_river_docs() {
    let mut rng = PyRandom::new(42);
    let mut xs = rng.choices(&[0.0, 1.0], 1000);
    xs.extend(rng.choices01(0.3, 0.7, 1000));
    assert_eq!(
        run("ddm", &[], &xs),
        vec!["warning 1084", "drift 1334", "warning 1492"]
    );
    assert_eq!(
        run("eddm", &[("alpha", "0.8"), ("beta", "0.75")], &xs),
        vec!["warning 1059", "drift 1278"]
    );
}
