//! Drift detector throughput: updates per second on a stationary Bernoulli(0.3) stream
//! (ADWIN's window keeps growing, so every clock tick scans the whole histogram), and on a
//! stream with a change every 50 000 values. Page-Hinkley is the cheap baseline.
//!
//! Run: `cargo bench -p eddy-learn --bench drift`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eddy_core::rng::Rng;
use eddy_learn::drift::{build, AnyDetector};
use eddy_learn::registry::Params;
use eddy_learn::{Detector, DriftState};

const N: usize = 1_000_000;

fn stream(change_every: usize) -> Vec<f64> {
    let mut r = Rng::new(1);
    (0..N)
        .map(|i| {
            let p = if (i / change_every).is_multiple_of(2) {
                0.3
            } else {
                0.7
            };
            r.chance(p) as u8 as f64
        })
        .collect()
}

fn run(det: &mut AnyDetector, xs: &[f64]) -> usize {
    let mut drifts = 0;
    for &x in xs {
        drifts += (det.update(black_box(x)) == DriftState::Drift) as usize;
    }
    drifts
}

fn bench(c: &mut Criterion) {
    let stationary = stream(usize::MAX);
    let changing = stream(50_000);
    let mut g = c.benchmark_group("drift");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    for name in ["adwin", "page_hinkley", "ddm", "eddm", "kswin"] {
        for (label, xs) in [("stationary", &stationary), ("changing", &changing)] {
            if name == "kswin" && label == "changing" {
                continue;
            }
            g.bench_function(format!("{name}/{label}"), |b| {
                b.iter(|| {
                    let mut d = build(name, &Params::new()).unwrap();
                    run(&mut d, xs)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
