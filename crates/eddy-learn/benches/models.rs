//! Throughput of predict-then-learn (prequential order) on 20 dense numeric features.
//!
//! `cargo bench -p eddy-learn --bench models`; criterion reports elements (examples) per second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eddy_core::rng::Rng;
use eddy_learn::linear::LogisticRegression;
use eddy_learn::tree::HoeffdingTreeClassifier;
use eddy_learn::Classifier;

const D: usize = 20;
const N: usize = 10_000;

/// N rows of 20 features (uniform in [-1, 1]) labelled by a fixed hyperplane with 5% noise.
fn data(seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let w: Vec<f64> = (0..D).map(|_| rng.normal()).collect();
    let mut xs = Vec::with_capacity(N * D);
    let mut ys = Vec::with_capacity(N);
    for _ in 0..N {
        let row: Vec<f64> = (0..D).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
        let s: f64 = row.iter().zip(&w).map(|(a, b)| a * b).sum();
        let y = usize::from(s > 0.0) ^ usize::from(rng.chance(0.05));
        xs.extend(row);
        ys.push(y);
    }
    (xs, ys)
}

fn bench_logistic(c: &mut Criterion) {
    let (xs, ys) = data(1);
    let mut g = c.benchmark_group("logistic_regression_20f");
    g.throughput(Throughput::Elements(N as u64));
    let mut m = LogisticRegression::default();
    let mut proba = Vec::with_capacity(2);
    g.bench_function("predict_proba_then_learn", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for (x, &y) in xs.chunks_exact(D).zip(&ys) {
                m.predict_proba_one(x, &mut proba);
                acc += proba[1];
                m.learn_one(x, y);
            }
            black_box(acc)
        })
    });
    g.finish();
}

fn bench_tree(c: &mut Criterion) {
    let (xs, ys) = data(2);
    let mut g = c.benchmark_group("hoeffding_tree_20f");
    g.throughput(Throughput::Elements(N as u64));
    // Warm up into a grown tree (the stream repeats; the tree keeps learning while measured).
    let mut m = HoeffdingTreeClassifier::default();
    for _ in 0..10 {
        for (x, &y) in xs.chunks_exact(D).zip(&ys) {
            m.learn_one(x, y);
        }
    }
    let mut proba = Vec::with_capacity(2);
    g.bench_function("predict_proba_then_learn", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for (x, &y) in xs.chunks_exact(D).zip(&ys) {
                m.predict_proba_one(x, &mut proba);
                acc += proba[1];
                m.learn_one(x, y);
            }
            black_box(acc)
        })
    });
    g.finish();
    eprintln!(
        "hoeffding tree after the bench: {} nodes, {} leaves, depth {}",
        m.n_nodes(),
        m.n_leaves(),
        m.depth()
    );
}

criterion_group!(benches, bench_logistic, bench_tree);
criterion_main!(benches);
