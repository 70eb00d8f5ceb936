//! Shared by the model tests: an in-memory pipeline run, a small spec whose `[model]` section
//! varies, its input, and a checker that recomputes every prediction with the model itself.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eddy_learn::registry::{build, AnyModel, Params};
use eddy_runtime::connector::{MemorySink, MemorySource};
use eddy_runtime::outputs::Outputs;
use eddy_runtime::{Pipeline, PipelineSpec, RunHooks, Summary};
pub use eddy_testutil::Tmp;
use serde_json::Value;

/// A fresh directory for one test, removed when the test ends.
pub fn tmp_dir(name: &str) -> Tmp {
    Tmp::new(name)
}

/// A logistic regression over (sx, n, my), trained on a few rows.
pub fn trained(dir: &Path) -> AnyModel {
    let mut m = build("logistic_regression", &Params::new()).unwrap();
    for i in 0..40 {
        let x = [(i % 9) as f64, (i % 4) as f64, (i % 5) as f64 - 2.0];
        let y = if x[0] - x[1] + 0.5 * x[2] > 3.0 {
            1.0
        } else {
            0.0
        };
        m.learn_one(&x, y).unwrap();
    }
    m.save(&dir.join("fraud_lr.json")).unwrap();
    m
}

pub fn spec_text(format: &str, model: &str) -> String {
    format!(
        r#"
[source]
format = "{format}"
key = "k"
timestamp = "t"
timestamp_format = "epoch_ms"
[source.fields]
x = "float"
y = "float"
[[feature]]
name = "n"
agg = "count"
window = {{ kind = "tumbling", size = "1m" }}
[[feature]]
name = "sx"
agg = "sum"
field = "x"
window = {{ kind = "sliding", size = "1m", slide = "30s" }}
[[feature]]
name = "my"
agg = "max"
field = "y"
window = {{ kind = "tumbling", size = "1m" }}
{model}
"#
    )
}

/// The embedded `[model]` section over `fraud_lr.json`.
pub fn embedded(inputs: &str) -> String {
    format!("[model]\npath = \"fraud_lr.json\"\ninputs = {inputs}\n")
}

pub fn write_spec(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `spec` over `input` with the memory source (in small batches) and a memory sink for
/// the per-event rows; returns the summary and the rows.
pub fn run(mut spec: PipelineSpec, input: &str) -> (Summary, String) {
    spec.source.connector = MemorySource::with_batch_bytes("mem", input.as_bytes(), 256);
    let events = MemorySink::new();
    spec.output.events = Some(Arc::new(events.clone()));
    let mut p = Pipeline::new(spec).unwrap();
    let mut src = p.open_source().unwrap();
    let mut o = Outputs::open(&p.spec().output).unwrap();
    let mut clock = || 0;
    let s = p
        .run(src.as_mut(), &mut o, RunHooks::with_clock(&mut clock))
        .unwrap();
    (s, events.text())
}

/// Key `a` carries `y` (so `my` is set); key `b` never does (so `my` is null).
pub fn jsonl_input() -> String {
    let mut s = String::new();
    for i in 0..60u64 {
        let t = 1_000_000 + i * 2_000;
        if i % 3 == 0 {
            s.push_str(&format!("{{\"k\":\"b\",\"t\":{t},\"x\":{}}}\n", i % 7));
        } else {
            s.push_str(&format!(
                "{{\"k\":\"a\",\"t\":{t},\"x\":{},\"y\":{}}}\n",
                i % 7,
                (i % 5) as f64 - 1.5
            ));
        }
    }
    s
}

pub fn csv_input() -> String {
    let mut s = String::from("k,t,x,y\n");
    for i in 0..60u64 {
        let t = 1_000_000 + i * 2_000;
        if i % 3 == 0 {
            s.push_str(&format!("b,{t},{},\n", i % 7));
        } else {
            s.push_str(&format!("a,{t},{},{}\n", i % 7, (i % 5) as f64 - 1.5));
        }
    }
    s
}

/// Recomputes every prediction from the emitted features and the model's own
/// `predict_proba_one`; returns (scored, unscored) line counts.
pub fn check_predictions(m: &AnyModel, events: &str, inputs: &[&str]) -> (u64, u64) {
    let (mut scored, mut unscored) = (0, 0);
    let mut p = Vec::new();
    for line in events.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        // "prediction" and "scored" come right after the features object, last.
        let f_at = line.find("\"features\":{").unwrap();
        let p_at = line.find("},\"prediction\":").unwrap();
        assert!(
            f_at < p_at && !line[f_at..p_at].contains("\"prediction\""),
            "{line}"
        );
        assert!(
            line.ends_with(",\"scored\":true}") || line.ends_with(",\"scored\":false}"),
            "{line}"
        );
        let f = &v["features"];
        if inputs.iter().any(|n| f[*n].is_null()) {
            assert_eq!(v["prediction"], Value::Null, "{line}");
            assert_eq!(v["scored"], Value::Bool(false), "{line}");
            unscored += 1;
            continue;
        }
        let x: Vec<f64> = inputs.iter().map(|n| f[*n].as_f64().unwrap()).collect();
        m.predict_proba_one(&x, &mut p);
        let pred = &v["prediction"];
        assert_eq!(v["scored"], Value::Bool(true), "{line}");
        assert_eq!(pred["score"].as_f64().unwrap(), p[1], "{line}");
        assert_eq!(
            pred["label"].as_i64().unwrap() as f64,
            m.predict_one(&x),
            "{line}"
        );
        assert_eq!(pred["model"], "fraud_lr", "{line}");
        assert_eq!(pred["version"], "1", "{line}");
        assert!(pred["latency_us"].is_u64(), "{line}");
        scored += 1;
    }
    (scored, unscored)
}
