//! The embedded inference pattern: a `[model]` scored on each per-event row.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use eddy_learn::registry::{build, AnyModel, Params};
use eddy_runtime::sink::{OutputKind, Outputs};
use eddy_runtime::source::ReaderSource;
use eddy_runtime::{Pipeline, PipelineSpec, RunHooks, RuntimeError, Summary};
use serde_json::Value;

#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eddy_runtime_model_{}_{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A logistic regression over (sx, n, my), trained on a few rows.
fn trained(dir: &Path) -> AnyModel {
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

fn spec_text(format: &str, inputs: &str) -> String {
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
[model]
path = "fraud_lr.json"
inputs = {inputs}
"#
    )
}

fn write_spec(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(spec: PipelineSpec, input: &str) -> (Summary, String) {
    let mut p = Pipeline::new(spec).unwrap();
    let mut src = ReaderSource::new("mem", input.as_bytes()).with_batch_bytes(256);
    let events = Shared::default();
    let mut o = Outputs::none();
    o.set(OutputKind::Events, "mem", Box::new(events.clone()));
    let mut clock = || 0;
    let s = p
        .run(&mut src, &mut o, RunHooks::with_clock(&mut clock))
        .unwrap();
    let text = String::from_utf8(events.0.borrow().clone()).unwrap();
    (s, text)
}

/// Key `a` carries `y` (so `my` is set); key `b` never does (so `my` is null).
fn jsonl_input() -> String {
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

fn csv_input() -> String {
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
fn check_predictions(m: &AnyModel, events: &str, inputs: &[&str]) -> (u64, u64) {
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

#[test]
fn predictions_match_the_model_recomputed_from_emitted_features() {
    let dir = tmp_dir("match");
    let m = trained(&dir);
    // Inputs in an order other than the spec's features, to exercise the mapping.
    let inputs = ["sx", "n", "my"];
    for (format, input) in [("jsonl", jsonl_input()), ("csv", csv_input())] {
        let path = write_spec(&dir, &spec_text(format, r#"["sx", "n", "my"]"#));
        let spec = PipelineSpec::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.model.as_ref().unwrap().path, dir.join("fraud_lr.json"));
        let (s, events) = run(spec, &input);
        let (scored, unscored) = check_predictions(&m, &events, &inputs);
        assert_eq!(s.emitted, 60, "{format}");
        assert_eq!((s.scored, s.unscored), (scored, unscored), "{format}");
        assert_eq!(s.unscored_null_feature, unscored, "{format}");
        assert_eq!(s.unscored_model_error, 0, "{format}");
        assert_eq!(scored + unscored, s.emitted, "{format}");
        assert!(scored > 0 && unscored > 0, "{format}: {scored} {unscored}");
    }
}

#[test]
fn a_null_feature_gives_scored_false_and_keeps_the_row() {
    let dir = tmp_dir("null");
    trained(&dir);
    let path = write_spec(&dir, &spec_text("jsonl", r#"["sx", "n", "my"]"#));
    let spec = PipelineSpec::from_file(&path).unwrap();
    // One event with no `y`: `my` is null, so it cannot be scored.
    let (s, events) = run(spec, "{\"k\":\"z\",\"t\":5000,\"x\":1.5}\n");
    let v: Value = serde_json::from_str(events.trim_end()).unwrap();
    assert_eq!(v["features"]["my"], Value::Null);
    assert_eq!(v["prediction"], Value::Null);
    assert_eq!(v["scored"], Value::Bool(false));
    assert_eq!(
        (s.emitted, s.scored, s.unscored, s.unscored_null_feature),
        (1, 0, 1, 1)
    );
}

#[test]
fn a_bad_input_name_is_refused_before_any_event_with_its_path() {
    let dir = tmp_dir("bad");
    trained(&dir);
    let path = write_spec(&dir, &spec_text("jsonl", r#"["sx", "nope", "my"]"#));
    let spec = PipelineSpec::from_file(&path).unwrap();
    let err = match Pipeline::new(spec) {
        Ok(_) => panic!("a bad model.inputs name was accepted"),
        Err(e) => e,
    };
    let RuntimeError::Spec(errs) = &err else {
        panic!("not a spec error: {err}")
    };
    assert!(errs.has_path("model.inputs[1]"), "{err}");
    assert!(err.to_string().contains("model.inputs[1]: `nope`"), "{err}");

    // A missing model file is refused at `model.path`.
    std::fs::remove_file(dir.join("fraud_lr.json")).unwrap();
    let spec = PipelineSpec::from_file(&dir.join("spec.toml")).unwrap();
    let Err(RuntimeError::Spec(errs)) = Pipeline::new(spec) else {
        panic!("a missing model file was accepted")
    };
    assert!(errs.has_path("model.path"), "{errs}");
}

#[test]
fn wrong_width_is_refused_by_check_inputs() {
    // A model saved with feature names takes exactly those; leaving one out is refused.
    let dir = tmp_dir("width");
    trained(&dir);
    std::fs::write(dir.join("fraud_lr.features.json"), r#"["sx", "n", "my"]"#).unwrap();
    let path = write_spec(&dir, &spec_text("jsonl", r#"["sx", "n"]"#));
    let spec = PipelineSpec::from_file(&path).unwrap();
    let Err(RuntimeError::Spec(errs)) = Pipeline::new(spec) else {
        panic!("a wrong input count was accepted")
    };
    assert!(errs.has_path("model.inputs"), "{errs}");
}
