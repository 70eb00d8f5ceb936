//! Embedded inference latency: the 100-tree depth-6 ONNX forest (tract) and, as a baseline,
//! a native logistic regression, both through the `Model` seam; batches of 1 and 64.
//!
//! Besides criterion's means, a timing loop of our own prints per-event p50 / p99
//! (for a batch of 64, the call time divided by 64).
//!
//! Run: `cargo bench -p eddy-infer --bench onnx`

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use eddy_infer::{load_model, Batch, Model, NativeModel, Scores};
use eddy_learn::linear::LogisticRegression;
use eddy_learn::registry::{build, Params};

const D: usize = 4;

fn forest() -> Box<dyn Model> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/onnx/forest_100x6.onnx");
    load_model(&p, "forest_100x6").expect("forest fixture loads")
}

fn native_logistic() -> Box<dyn Model> {
    let mut m = build("logistic_regression", &Params::new()).expect("builds");
    if let Some(lr) = m.downcast_mut::<LogisticRegression>() {
        lr.glm.weights = vec![1.5, -2.0, 0.7, 0.3];
        lr.glm.intercept = 0.1;
    }
    Box::new(NativeModel::new(m, "logistic", "1", None))
}

/// Deterministic rows (a small LCG), `n × D`.
fn rows(n: usize) -> Vec<f64> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n * D)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 6.0 - 3.0
        })
        .collect()
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i]
}

/// Calls `model.score` on batches of `batch` rows for about `budget`; per-event latencies.
fn timing_loop(name: &str, model: &dyn Model, data: &[f64], batch: usize, budget: Duration) {
    let n_rows = data.len() / D;
    let mut out = Scores::new();
    // Warm up.
    for i in 0..20 {
        let r = (i * batch) % (n_rows - batch + 1);
        model
            .score(
                Batch::new(&data[r * D..(r + batch) * D], batch).unwrap(),
                &mut out,
            )
            .unwrap();
    }
    let mut per_event = Vec::new();
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < budget || per_event.len() < 50 {
        let r = (i * batch) % (n_rows - batch + 1);
        let b = Batch::new(&data[r * D..(r + batch) * D], batch).unwrap();
        let t = Instant::now();
        model.score(b, &mut out).unwrap();
        let ns = t.elapsed().as_nanos() as f64;
        black_box(&out);
        per_event.push(ns / batch as f64);
        i += 1;
    }
    per_event.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name:<28} batch {batch:>3}: per-event p50 {:>9.2} µs  p99 {:>9.2} µs  ({} calls)",
        pct(&per_event, 0.50) / 1e3,
        pct(&per_event, 0.99) / 1e3,
        per_event.len()
    );
}

fn bench(c: &mut Criterion) {
    let forest = forest();
    let logistic = native_logistic();
    let data = rows(4096);
    println!("-- own timing loop (per event) --");
    for (name, m) in [
        ("onnx forest 100x6 (tract)", &forest),
        ("native logistic", &logistic),
    ] {
        for batch in [1, 64] {
            timing_loop(name, m.as_ref(), &data, batch, Duration::from_secs(3));
        }
    }
    let mut g = c.benchmark_group("embedded");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, m) in [
        ("onnx_forest_100x6", &forest),
        ("native_logistic", &logistic),
    ] {
        for batch in [1usize, 64] {
            let mut out = Scores::new();
            g.bench_function(format!("{name}/batch{batch}"), |b| {
                b.iter(|| {
                    m.score(Batch::new(&data[..batch * D], batch).unwrap(), &mut out)
                        .unwrap();
                    black_box(&out);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
