//! Throughput of the runtime's per-event work, one group per stage, on generated fraud data
//! (examples/fraud.toml), each against a plain baseline:
//!
//! - `decode_jsonl`: eddy's JSONL decoder (declared fields only, typed, interned) against
//!   `serde_json::from_slice::<serde_json::Value>` on the same lines;
//! - `lines`: splitting a 1 MiB batch into lines against a `memchr` per line;
//! - `features_json`: per-event features objects (string arena, cached number text) against
//!   building the same object with `serde_json`;
//! - `window_rows`: window-close rows against `format!` + serde_json;
//! - `pipeline`: the whole run in memory (two threads), outputs discarded.
//!
//! `cargo bench -p eddy-runtime --bench decode`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eddy_core::agg::FeatureValue;
use eddy_core::engine::WindowRow;
use eddy_core::row::FeatureRow;
use eddy_core::{Event, Value};
use eddy_runtime::connector::{Batch, Source, StreamSource};
use eddy_runtime::decode::Decoder;
use eddy_runtime::encode::{FeaturesJson, OutputEncoder};
use eddy_runtime::generate::{generate_to_vec, GenConfig, Scenario};
use eddy_runtime::outputs::{OutputKind, Outputs};
use eddy_runtime::spec::OutputFormat;
use eddy_runtime::{Pipeline, PipelineSpec, RunHooks};

const SPEC: &str = include_str!("../../../examples/fraud.toml");

fn data(events: u64) -> Vec<u8> {
    let mut cfg = GenConfig::new(Scenario::Fraud, events, 11);
    cfg.disorder_ms = 6_000;
    cfg.late_fraction = 0.001;
    generate_to_vec(&cfg)
}

fn lines() -> Vec<Vec<u8>> {
    data(20_000)
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.to_vec())
        .collect()
}

fn decode(c: &mut Criterion) {
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

fn ascii(c: &mut Criterion) {
    let lines = lines();
    let mut g = c.benchmark_group("ascii_check");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("eddy_words", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(eddy_runtime::json::is_ascii(black_box(l)));
            }
        })
    });
    g.bench_function("std_is_ascii", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(black_box(l).is_ascii());
            }
        })
    });
    g.finish();
}

fn split_lines(c: &mut Criterion) {
    let mut data = data(20_000);
    data.truncate(1 << 20);
    let cut = data.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    data.truncate(cut);
    let n = data.iter().filter(|&&c| c == b'\n').count();
    let mut g = c.benchmark_group("lines");
    g.throughput(Throughput::Elements(n as u64));
    let mut batch = Batch::default();
    g.bench_function("source_framing", |b| {
        b.iter(|| {
            let mut src = StreamSource::new("mem", &data[..]).filling();
            while src.next_batch(&mut batch).expect("in memory") {
                for r in batch.records() {
                    black_box(r);
                }
            }
        })
    });
    g.bench_function("memchr_per_line", |b| {
        b.iter(|| {
            let mut rest = &data[..];
            while let Some(i) = memchr::memchr(b'\n', rest) {
                black_box(&rest[..i]);
                rest = &rest[i + 1..];
            }
        })
    });
    g.finish();
}

/// Rows shaped like the fraud example's: a count, a mean, the last pages, a rate, a recency.
fn rows(pages: &[eddy_core::Sym]) -> Vec<Vec<FeatureValue>> {
    (0..10_000usize)
        .map(|i| {
            vec![
                FeatureValue::Int((i % 17) as i64),
                if i % 5 == 0 {
                    FeatureValue::Null
                } else {
                    FeatureValue::Num(40.0 + (i % 97) as f64 / 3.0)
                },
                FeatureValue::Seq(
                    (0..(i % 10 + 1))
                        .map(|j| Value::Str(pages[(i + j) % pages.len()]))
                        .collect(),
                ),
                FeatureValue::Num((i % 3) as f64),
                FeatureValue::Int(i as i64 * 1_234),
            ]
        })
        .collect()
}

fn features(c: &mut Criterion) {
    let spec = PipelineSpec::parse(SPEC).expect("example spec");
    let names: Vec<String> = spec.features.iter().map(|f| f.name.clone()).collect();
    let mut interner = eddy_core::Interner::new();
    let pages: Vec<_> = (0..100)
        .map(|i| interner.intern(&format!("/product/{i}")))
        .collect();
    let rows = rows(&pages);
    let mut g = c.benchmark_group("features_json");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("eddy_features_json", |b| {
        let rows: Vec<FeatureRow> = rows.iter().map(|r| FeatureRow::from_values(r)).collect();
        let mut fj = FeaturesJson::new(&names);
        for id in 0..interner.len() {
            fj.set_string(id, interner.resolve(eddy_core::Sym(id as u32)));
        }
        let mut out = Vec::with_capacity(4 << 20);
        b.iter(|| {
            out.clear();
            for r in &rows {
                fj.encode(&mut out, r);
            }
            black_box(&out);
        })
    });
    g.bench_function("serde_json_object", |b| {
        let mut out = Vec::with_capacity(4 << 20);
        b.iter(|| {
            out.clear();
            for r in &rows {
                let mut m = serde_json::Map::new();
                for (n, v) in names.iter().zip(r) {
                    let v = match v {
                        FeatureValue::Null => serde_json::Value::Null,
                        FeatureValue::Int(i) => (*i).into(),
                        FeatureValue::Num(f) => (*f).into(),
                        FeatureValue::Seq(items) => items
                            .iter()
                            .map(|x| match x {
                                Value::Str(s) => interner.resolve(*s).into(),
                                _ => serde_json::Value::Null,
                            })
                            .collect(),
                    };
                    m.insert(n.clone(), v);
                }
                serde_json::to_writer(&mut out, &m).expect("in memory");
            }
            black_box(&out);
        })
    });
    g.finish();
}

fn windows(c: &mut Criterion) {
    let spec = PipelineSpec::parse(SPEC).expect("example spec");
    let names: Vec<String> = spec.features.iter().map(|f| f.name.clone()).collect();
    let mut dec = Decoder::new(&spec.source, &spec.schema);
    let mut interner = spec.interner.clone();
    let mut keys = Vec::new();
    for k in 0..1000 {
        let line = format!(
            r#"{{"user_id":"u{k:06}","ts":"2024-01-01T00:00:00.000Z","event_type":"login"}}"#
        );
        let mut ev = Event::default();
        dec.decode(line.as_bytes(), 1, &mut ev, &mut interner)
            .expect("decodes");
        keys.push(ev.key);
    }
    let rows: Vec<WindowRow> = (0..10_000usize)
        .map(|i| WindowRow {
            key: keys[(i * 7) % keys.len()],
            feature: if i % 2 == 0 { 0 } else { 3 },
            start: 1_704_067_200_000 + (i / 1000) as i64 * 60_000,
            end: 1_704_067_260_000 + (i / 1000) as i64 * 60_000,
            value: if i % 2 == 0 {
                FeatureValue::Int((i % 9) as i64)
            } else {
                FeatureValue::Num((i % 4) as f64)
            },
            update: false,
        })
        .collect();
    let mut g = c.benchmark_group("window_rows");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("eddy_encoder", |b| {
        let mut enc = OutputEncoder::new(OutputFormat::Jsonl, &names);
        let mut out = Vec::with_capacity(2 << 20);
        b.iter(|| {
            out.clear();
            for r in &rows {
                enc.window(&mut out, r, &dec, &interner);
            }
            black_box(&out);
        })
    });
    g.bench_function("format_serde_json", |b| {
        let mut out = Vec::with_capacity(2 << 20);
        b.iter(|| {
            out.clear();
            for r in &rows {
                let value = match &r.value {
                    FeatureValue::Int(i) => i.to_string(),
                    FeatureValue::Num(f) => serde_json::to_string(f).expect("finite"),
                    _ => "null".to_string(),
                };
                let row = format!(
                    "{{\"key\":{},\"feature\":{},\"window_start\":{},\"window_end\":{},\"value\":{},\"update\":{}}}\n",
                    serde_json::to_string(dec.key(r.key)).expect("string"),
                    serde_json::to_string(&names[usize::from(r.feature)]).expect("string"),
                    r.start,
                    r.end,
                    value,
                    r.update
                );
                out.extend_from_slice(row.as_bytes());
            }
            black_box(&out);
        })
    });
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    let data = data(50_000);
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.throughput(Throughput::Elements(50_000));
    g.bench_function("fraud_in_memory", |b| {
        b.iter(|| {
            let mut p = Pipeline::new(PipelineSpec::parse(SPEC).expect("spec")).expect("pipeline");
            let mut source = StreamSource::new("memory", &data[..]).filling();
            let mut outputs = Outputs::none();
            for kind in [
                OutputKind::Events,
                OutputKind::Windows,
                OutputKind::Late,
                OutputKind::DeadLetter,
            ] {
                outputs.set(kind, "sink", Box::new(std::io::sink()));
            }
            let mut clock = || 0;
            let s = p
                .run(&mut source, &mut outputs, RunHooks::with_clock(&mut clock))
                .expect("runs");
            black_box(s);
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    decode,
    ascii,
    split_lines,
    features,
    windows,
    pipeline
);
criterion_main!(benches);
