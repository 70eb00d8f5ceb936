//! Decoding throughput: eddy's JSONL decoder (declared fields only, typed, interned) against
//! a baseline of `serde_json::from_slice::<serde_json::Value>` on the same lines.
//!
//! `cargo bench -p eddy-runtime --bench decode`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eddy_core::Event;
use eddy_runtime::decode::Decoder;
use eddy_runtime::generate::{generate_to_vec, GenConfig, Scenario};
use eddy_runtime::PipelineSpec;

const SPEC: &str = include_str!("../../../examples/fraud.toml");

fn lines() -> Vec<Vec<u8>> {
    let cfg = GenConfig::new(Scenario::Fraud, 20_000, 11);
    generate_to_vec(&cfg)
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.to_vec())
        .collect()
}

fn bench(c: &mut Criterion) {
    let lines = lines();
    let spec = PipelineSpec::parse(SPEC).expect("example spec");
    let mut g = c.benchmark_group("decode_jsonl");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("eddy_decoder", |b| {
        let mut dec = Decoder::new(&spec.source, &spec.schema);
        let mut interner = spec.interner.clone();
        let mut ev = Event::default();
        b.iter(|| {
            for (i, l) in lines.iter().enumerate() {
                dec.decode(l, i as u64 + 1, &mut ev, &mut interner)
                    .expect("generated lines decode");
                black_box(&ev);
            }
        })
    });
    g.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for l in &lines {
                let v: serde_json::Value = serde_json::from_slice(l).expect("valid JSON");
                black_box(v);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
