//! The drift detectors reproduce the examples in River's documentation exactly, on the same
//! input streams. The streams come from Python's `random` module (Mersenne Twister), ported
//! in eddy (`drift::PyRandom`): `random.Random(seed).choices(...)`.

use eddy_learn::drift::{build, PyRandom};
use eddy_learn::registry::Params;
use eddy_learn::{Detector, DriftState};

/// The draws River's doc examples make, on eddy's port of Python's `random.Random`.
trait Choices {
    /// `choices(population, k=k)`.
    fn choices(&mut self, population: &[f64], k: usize) -> Vec<f64>;
    /// `choices([0, 1], k=k, weights=[w0, w1])`.
    fn choices01(&mut self, w0: f64, w1: f64, k: usize) -> Vec<f64>;
}

impl Choices for PyRandom {
    fn choices(&mut self, population: &[f64], k: usize) -> Vec<f64> {
        let n = population.len() as f64;
        (0..k)
            .map(|_| population[(self.random() * n).floor() as usize])
            .collect()
    }

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
