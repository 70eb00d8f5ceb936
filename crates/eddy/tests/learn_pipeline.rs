//! `[learn]` end to end through `eddy run`: the model learns from the features as they were
//! scored (checked against an SGD computed here from the emitted rows), never from an event's
//! own label before scoring it; the label join's counts; the same metrics as `eddy learn`;
//! restarting from a snapshot; and the refusals of bad specs and bad labels.

use std::path::Path;
use std::process::{Command, Output};

use eddy_testutil::Tmp;
use serde_json::Value;

fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .expect("eddy runs")
}

fn run_ok(spec: &Path) -> String {
    let o = eddy(&["run", "--quiet", &spec.to_string_lossy()]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "eddy run failed: {err}");
    err
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

const EVENTS: usize = 400;

/// Event `i`: key `k{i % 4}` at `250 i` ms, `x` in -5..=5; its label is `x > 0`, known
/// `3 + (7919 i mod 5000) / 1000` s later.
fn event(i: usize) -> (String, i64, f64, u8, i64) {
    let x = ((i * 37) % 11) as f64 - 5.0;
    let ts = 250 * i as i64;
    let delay = 3_000 + ((i * 7919) % 5_000) as i64;
    (format!("k{}", i % 4), ts, x, u8::from(x > 0.0), ts + delay)
}

/// The events (with or without their label) and the label stream, sorted by time.
fn write_stream(dir: &Path, with_label: bool, flip: Option<usize>) {
    let mut ev = String::new();
    let mut labels: Vec<(i64, usize, u8)> = Vec::new();
    for i in 0..EVENTS {
        let (k, ts, x, mut y, lts) = event(i);
        if flip == Some(i) {
            y = 1 - y;
        }
        if with_label {
            ev.push_str(&format!(
                "{{\"id\":\"e{i}\",\"user\":\"{k}\",\"ts\":{ts},\"x\":{x},\"y\":{y}}}\n"
            ));
        } else {
            ev.push_str(&format!(
                "{{\"id\":\"e{i}\",\"user\":\"{k}\",\"ts\":{ts},\"x\":{x}}}\n"
            ));
        }
        labels.push((lts, i, y));
    }
    labels.sort();
    let lab: String = labels
        .iter()
        .map(|(t, i, y)| format!("{{\"event_id\":\"e{i}\",\"label\":{y},\"ts\":{t}}}\n"))
        .collect();
    std::fs::write(dir.join("events.jsonl"), ev).unwrap();
    std::fs::write(dir.join("labels.jsonl"), lab).unwrap();
}

/// A spec over `write_stream`'s files: a count and a sum per key over tumbling windows of
/// `window`, a logistic regression on both; `learn_extra` ends the `[learn]` table.
fn spec(dir: &Path, window: &str, learn_extra: &str) -> std::path::PathBuf {
    let y = if learn_extra.contains("[learn.labels]") {
        ""
    } else {
        "y = \"int\"\n"
    };
    let inputs = if learn_extra.contains("inputs =") {
        ""
    } else {
        "inputs = [\"n\", \"sx\"]\n"
    };
    let text = format!(
        r#"
[source]
path = "{dir}/events.jsonl"
format = "jsonl"
key = "user"
timestamp = "ts"
timestamp_format = "epoch_ms"
event_id = "id"

[source.fields]
x = "float"
{y}
[[feature]]
name = "n"
agg = "count"
window = {{ kind = "tumbling", size = "{window}" }}

[[feature]]
name = "sx"
agg = "sum"
field = "x"
window = {{ kind = "tumbling", size = "{window}" }}

[output]
events = "{dir}/out.jsonl"
learning = "{dir}/learning.jsonl"
dead_letter = "{dir}/dead.jsonl"

[learn]
model = "logistic_regression"
{inputs}log_every = 100
{learn_extra}
"#,
        dir = dir.display()
    );
    let p = dir.join("spec.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// River's `optim.losses.Log().gradient` for a label in {0, 1} and a raw prediction.
fn log_loss_gradient(y: f64, raw: f64) -> f64 {
    let yt = 2.0 * y - 1.0;
    let z = raw * yt;
    if z > 18.0 {
        (-z).exp() * -yt
    } else if z < -18.0 {
        -yt
    } else {
        -yt / (z.exp() + 1.0)
    }
}

/// River's LogisticRegression with its defaults (SGD 0.01, intercept_lr 0.01) over
/// `(x, y)` in order: weights and intercept.
fn sgd(examples: &[([f64; 2], f64)]) -> ([f64; 2], f64) {
    let (mut w, mut b) = ([0.0f64; 2], 0.0f64);
    for (x, y) in examples {
        let g = log_loss_gradient(*y, w[0] * x[0] + w[1] * x[1] + b);
        b -= 0.01 * g;
        for j in 0..2 {
            w[j] -= 0.01 * g * x[j];
        }
    }
    (w, b)
}

/// Weights and intercept of a logistic-regression snapshot.
fn snapshot_weights(path: &Path) -> ([f64; 2], f64) {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let glm = &v["state"]["pipeline"]["model"]["logistic_regression"]["glm"];
    let w = glm["weights"].as_array().expect("weights");
    (
        [w[0].as_f64().unwrap(), w[1].as_f64().unwrap()],
        glm["intercept"].as_f64().unwrap(),
    )
}

fn features(row: &Value) -> [f64; 2] {
    let f = &row["features"];
    [f["n"].as_f64().unwrap(), f["sx"].as_f64().unwrap()]
}

#[test]
fn the_model_learns_the_features_as_they_were_scored() {
    let tmp = Tmp::new("learn-leak");
    write_stream(&tmp, false, None);
    let spec = spec(
        &tmp,
        "1h",
        &format!(
            "ttl = \"1m\"\n[learn.labels]\npath = \"{}/labels.jsonl\"\ntimestamp_format = \"epoch_ms\"\n[learn.snapshots]\ndir = \"{}/snaps\"\nevery = {EVENTS}\n",
            tmp.display(),
            tmp.display()
        ),
    );
    run_ok(&spec);
    let rows = jsonl(&tmp.join("out.jsonl"));
    assert_eq!(rows.len(), EVENTS);
    // the examples in the order their labels came, with the features as scored ...
    let mut order: Vec<(i64, usize)> = (0..EVENTS).map(|i| (event(i).4, i)).collect();
    order.sort();
    let as_scored: Vec<([f64; 2], f64)> = order
        .iter()
        .map(|&(_, i)| (features(&rows[i]), f64::from(event(i).3)))
        .collect();
    // ... and with the key's features when its label came (its latest event by then)
    let later: Vec<([f64; 2], f64)> = order
        .iter()
        .map(|&(lts, i)| {
            let k = i % 4;
            let last = (0..EVENTS)
                .filter(|&j| j % 4 == k && event(j).1 <= lts)
                .max()
                .unwrap();
            (features(&rows[last]), f64::from(event(i).3))
        })
        .collect();
    let (w, b) = snapshot_weights(&tmp.join("snaps/model-v000002.json"));
    let (we, be) = sgd(&as_scored);
    for j in 0..2 {
        assert!(
            (w[j] - we[j]).abs() <= 1e-12 * we[j].abs().max(1.0),
            "{w:?} vs {we:?}"
        );
    }
    assert!((b - be).abs() <= 1e-12, "{b} vs {be}");
    let (wl, _) = sgd(&later);
    assert!(
        (w[0] - wl[0]).abs() > 1e-4 || (w[1] - wl[1]).abs() > 1e-4,
        "learning on the later values must give other weights: {w:?} {wl:?}"
    );
    // every prediction before the snapshot was made by version 1, and names the arm
    assert_eq!(rows[0]["prediction"]["version"], 1);
    assert_eq!(rows[0]["prediction"]["arm"], "online");
    let log = jsonl(&tmp.join("learning.jsonl"));
    let end = log.last().unwrap();
    assert_eq!(end["reason"], "end");
    assert_eq!(end["n"], EVENTS as u64);
    assert_eq!(end["pending"], 0);
}

/// River's `learn_many` for a LogisticRegression (defaults): one step along the mean
/// gradient of each batch of `size`, the last one partial.
fn sgd_many(examples: &[([f64; 2], f64)], size: usize) -> ([f64; 2], f64) {
    let (mut w, mut b) = ([0.0f64; 2], 0.0f64);
    for batch in examples.chunks(size) {
        let lgs: Vec<f64> = batch
            .iter()
            .map(|(x, y)| log_loss_gradient(*y, w[0] * x[0] + w[1] * x[1] + b))
            .collect();
        let n = batch.len() as f64;
        let g: Vec<f64> = (0..2)
            .map(|j| {
                batch
                    .iter()
                    .zip(&lgs)
                    .map(|((x, _), lg)| x[j] * lg)
                    .sum::<f64>()
                    / n
            })
            .collect();
        b -= 0.01 * lgs.iter().sum::<f64>() / n;
        for j in 0..2 {
            w[j] -= 0.01 * g[j];
        }
    }
    (w, b)
}

#[test]
fn a_mini_batch_is_one_step_along_the_mean_gradient_of_the_features_as_scored() {
    let tmp = Tmp::new("learn-batch");
    write_stream(&tmp, false, None);
    let spec = spec(
        &tmp,
        "1h",
        &format!(
            "ttl = \"1m\"\nbatch_size = 7\n[learn.labels]\npath = \"{}/labels.jsonl\"\ntimestamp_format = \"epoch_ms\"\n[learn.snapshots]\ndir = \"{}/snaps\"\nevery = 100000\n",
            tmp.display(),
            tmp.display()
        ),
    );
    run_ok(&spec);
    let rows = jsonl(&tmp.join("out.jsonl"));
    let mut order: Vec<(i64, usize)> = (0..EVENTS).map(|i| (event(i).4, i)).collect();
    order.sort();
    let as_scored: Vec<([f64; 2], f64)> = order
        .iter()
        .map(|&(_, i)| (features(&rows[i]), f64::from(event(i).3)))
        .collect();
    // the snapshot at the end of the input, after the last (partial) batch
    let (w, b) = snapshot_weights(&tmp.join("snaps/model-v000002.json"));
    let (we, be) = sgd_many(&as_scored, 7);
    for j in 0..2 {
        assert!(
            (w[j] - we[j]).abs() <= 1e-12 * we[j].abs().max(1.0),
            "{w:?} vs {we:?}"
        );
    }
    assert!((b - be).abs() <= 1e-12, "{b} vs {be}");
    // and it is not the example-by-example SGD
    let (w1, _) = sgd(&as_scored);
    assert!((w[0] - w1[0]).abs() > 1e-6, "{w:?} {w1:?}");
}

#[test]
fn a_score_never_sees_its_own_label() {
    let k = 150;
    let mut scores = Vec::new();
    for flip in [None, Some(k)] {
        let tmp = Tmp::new("learn-ttt");
        write_stream(&tmp, true, flip);
        run_ok(&spec(&tmp, "10s", "label = \"y\"\n"));
        let rows = jsonl(&tmp.join("out.jsonl"));
        scores.push(
            rows.iter()
                .map(|r| r["prediction"]["score"].as_f64().unwrap())
                .collect::<Vec<_>>(),
        );
    }
    // up to and including event k, the scores are the same: its label was not learned yet
    assert_eq!(scores[0][..=k], scores[1][..=k]);
    // after it, the other label changed the model
    assert_ne!(scores[0][k + 1], scores[1][k + 1]);
}

#[test]
fn the_label_join_counts_every_example_once() {
    // events (ms): e1..e5 at 1..5 s, e6 at 100 s, e7 at 100.5 s; ttl 10 s
    let events = [
        ("e1", 1000),
        ("e2", 2000),
        ("e3", 3000),
        ("e4", 4000),
        ("e5", 5000),
        ("e6", 100_000),
        ("e7", 100_500),
    ];
    let labels = [
        r#"{"event_id":"e2","label":1,"ts":1500}"#, // before its event
        r#"{"event_id":"e1","label":0,"ts":2500}"#, // after its event
        r#"{"event_id":"e1","label":1,"ts":2600}"#, // a duplicate: the first wins
        r#"{"event_id":"zz","label":1,"ts":3500}"#, // no such event
        r#"{"event_id":"e3","label":"maybe","ts":3600}"#, // not a label
        r#"{"event_id":"e3","label":0.5,"ts":3700}"#, // not a class
        r#"{"label":1,"ts":3800}"#,                 // no event id
        r#"{"event_id":"e5","label":1,"ts":14000}"#, // within e5's ttl
        r#"{"event_id":"e4","label":1,"ts":20000}"#, // later than e4's ttl: late
        r#"{"event_id":"e7","label":0,"ts":100600}"#, // after the last event
    ];
    for default in [false, true] {
        let tmp = Tmp::new("learn-join");
        let ev: String = events
            .iter()
            .map(|(id, ts)| format!("{{\"id\":\"{id}\",\"user\":\"a\",\"ts\":{ts},\"x\":1.0}}\n"))
            .collect();
        std::fs::write(tmp.join("events.jsonl"), ev).unwrap();
        std::fs::write(tmp.join("labels.jsonl"), labels.join("\n") + "\n").unwrap();
        let default_line = if default { "default = 0\n" } else { "" };
        let spec = spec(
            &tmp,
            "1h",
            &format!(
                "ttl = \"10s\"\n{default_line}[learn.labels]\npath = \"{}/labels.jsonl\"\ntimestamp_format = \"epoch_ms\"\n",
                tmp.display()
            ),
        );
        let err = run_ok(&spec);
        let _ = err;
        let log = jsonl(&tmp.join("learning.jsonl"));
        let end = log.last().unwrap();
        // by hand: e1, e2, e5, e7 labelled; e3 (no label) and e4 (late label) expire at
        // the 100 s watermark; e6 still waits
        let (learned, expired, defaulted) = if default { (6, 0, 2) } else { (4, 2, 0) };
        assert_eq!(end["n"], learned, "{end}");
        assert_eq!(end["expired"], expired);
        assert_eq!(end["defaulted"], defaulted);
        assert_eq!(end["pending"], 1);
        assert_eq!(end["duplicate_labels"], 1);
        // zz, and e4's late label
        assert_eq!(end["unknown_labels"], 2);
        // scored = learned + expired + pending
        let scored = events.len() as u64;
        assert_eq!(
            scored,
            end["n"].as_u64().unwrap()
                + end["expired"].as_u64().unwrap()
                + end["pending"].as_u64().unwrap()
        );
        // dead letters: the three records that are not labels, and zz's label
        let dead = std::fs::read_to_string(tmp.join("dead.jsonl")).unwrap();
        assert_eq!(dead.lines().count(), 4, "{dead}");
        assert!(dead.contains("line 5: `label`"), "{dead}");
        assert!(dead.contains("no event id"), "{dead}");
        assert!(
            dead.contains("no event with this id came within ttl"),
            "{dead}"
        );
        // every row has its prediction
        assert_eq!(jsonl(&tmp.join("out.jsonl")).len(), events.len());
    }
}

#[test]
fn in_event_labels_give_the_metrics_of_eddy_learn() {
    let tmp = Tmp::new("learn-same");
    let data = tmp.join("fraud.jsonl");
    let o = eddy(&[
        "generate",
        "fraud",
        "--events",
        "6000",
        "--seed",
        "11",
        "-o",
        &data.to_string_lossy(),
    ]);
    assert!(o.status.success());
    let spec_text = format!(
        r#"
[source]
path = "{d}"
format = "jsonl"
key = "user_id"
timestamp = "ts"
[source.fields]
event_type = "string"
amount = "float"
label = "int"
[[feature]]
name = "events_5m"
agg = "count"
window = {{ kind = "sliding", size = "5m", slide = "1m" }}
[[feature]]
name = "spend_1h"
agg = "sum"
field = "amount"
window = {{ kind = "tumbling", size = "1h" }}
[output]
events = "{t}/out.jsonl"
learning = "{t}/learning.jsonl"
[learn]
model = "logistic_regression"
inputs = ["events_5m", "spend_1h"]
label = "label"
fill_null = 0
[learn.params]
scaler = "standard"
"#,
        d = data.display(),
        t = tmp.display()
    );
    let spec = tmp.join("spec.toml");
    std::fs::write(&spec, spec_text).unwrap();
    run_ok(&spec);
    let o = eddy(&[
        "learn",
        "--data",
        &tmp.s("out.jsonl"),
        "--target",
        "label",
        "--model",
        "logistic_regression",
        "-p",
        "scaler=standard",
        "--features",
        "features.events_5m,features.spend_1h",
        "--fill-missing",
        "0",
        "--metric",
        "accuracy,logloss,rocauc",
        "--every",
        "0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let summary: Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("summary").is_some())
        .expect("a summary line");
    let m = &summary["summary"]["metrics"];
    let end = jsonl(&tmp.join("learning.jsonl")).pop().unwrap();
    assert_eq!(summary["summary"]["examples"], end["n"]);
    assert_eq!(m["accuracy"], end["online_accuracy"]);
    assert_eq!(m["logloss"], end["online_log_loss"]);
    // the pipeline's AUC ranks scores rounded to four decimals (bounded memory)
    let (a, b) = (
        m["rocauc"].as_f64().unwrap(),
        end["online_roc_auc"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 1e-3, "{a} vs {b}");
}

#[test]
fn a_restart_from_a_snapshot_predicts_as_never_stopping() {
    // windows of 10 s: the events from 30 s on see nothing of the earlier ones
    let cut = 120; // event 120 is at 30 s
    assert_eq!(event(cut).1, 30_000);
    let tmp = Tmp::new("learn-restart");
    write_stream(&tmp, true, None);
    let snaps = format!(
        "label = \"y\"\n[learn.snapshots]\ndir = \"{}/snaps\"\nevery = {cut}\n",
        tmp.display()
    );
    run_ok(&spec(&tmp, "10s", &snaps));
    let whole = jsonl(&tmp.join("out.jsonl"));
    // the second run: only the events from the cut on, resuming from the snapshot taken
    // after the cut's first `cut` examples (version 2)
    let tmp2 = Tmp::new("learn-restart-2");
    let ev = std::fs::read_to_string(tmp.join("events.jsonl")).unwrap();
    let rest: String = ev.lines().skip(cut).map(|l| format!("{l}\n")).collect();
    std::fs::write(tmp2.join("events.jsonl"), rest).unwrap();
    std::fs::create_dir(tmp2.join("snaps")).unwrap();
    std::fs::copy(
        tmp.join("snaps/model-v000002.json"),
        tmp2.join("snaps/model-v000002.json"),
    )
    .unwrap();
    let snaps2 = format!(
        "label = \"y\"\n[learn.snapshots]\ndir = \"{}/snaps\"\nevery = {cut}\n",
        tmp2.display()
    );
    let err = run_ok(&spec(&tmp2, "10s", &snaps2));
    let _ = err;
    let resumed = jsonl(&tmp2.join("out.jsonl"));
    assert_eq!(resumed.len(), EVENTS - cut);
    for (a, b) in whole[cut..].iter().zip(&resumed) {
        assert_eq!(a["prediction"], b["prediction"]);
    }
    assert_eq!(resumed[0]["prediction"]["version"], 2);
    // and it kept numbering: its own snapshots come after version 2
    assert!(tmp2.join("snaps/model-v000003.json").exists());
}

#[test]
fn bad_specs_are_refused_before_any_event_is_read() {
    let tmp = Tmp::new("learn-bad");
    write_stream(&tmp, true, None);
    let cases: Vec<(String, &str)> = vec![
        (
            "label = \"y\"\ninputs = [\"n\", \"nope\"]\n".into(),
            "learn.inputs[1]: `nope` is not a feature",
        ),
        (
            "label = \"y\"\ncategories = [\"x\"]\n".into(),
            "learn.categories[0]: `x` must be a string",
        ),
        (
            "label = \"missing\"\n".into(),
            "learn.label: `missing` is not a declared field",
        ),
        (
            format!(
                "label = \"y\"\n[learn.snapshots]\ndir = \"{}/events.jsonl\"\nevery = 5\n",
                tmp.display()
            ),
            "learn.snapshots.dir: cannot create",
        ),
        (
            format!(
                "label = \"y\"\n[learn.baseline]\npath = \"{}/events.jsonl\"\n",
                tmp.display()
            ),
            "learn.baseline.path",
        ),
        (
            "label = \"y\"\n[learn.drift]\naction = \"boost\"\n".into(),
            "",
        ),
    ];
    for (extra, want) in &cases {
        let p = spec(&tmp, "10s", extra);
        let o = eddy(&["run", "--quiet", &p.to_string_lossy()]);
        let err = String::from_utf8_lossy(&o.stderr);
        if want.is_empty() {
            assert!(o.status.success(), "{err}");
            continue;
        }
        assert!(!o.status.success(), "{extra}");
        assert!(err.contains(want), "{extra}: {err}");
        // nothing was written: no event was read
        assert!(
            !tmp.join("out.jsonl").exists() || want.is_empty(),
            "{extra}"
        );
    }
    // a corrupt snapshot at `init` is an error, never a fresh model
    std::fs::write(tmp.join("bad.json"), "{\"format\":\"eddy-snapshot\",").unwrap();
    let p = spec(&tmp, "10s", "label = \"y\"\n");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "model = \"logistic_regression\"",
        &format!("init = \"{}/bad.json\"", tmp.display()),
    );
    std::fs::write(&p, text).unwrap();
    let o = eddy(&["run", "--quiet", &p.to_string_lossy()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("learn.init"), "{err}");
}

/// A stream whose concept flips at event `at`: `y = x > 0` before, `y = x < 0` after, with
/// 5% of labels flipped at random; `z` is noise. Eight keys, an event every 100 ms.
fn flip_stream(seed: u64, n: usize, at: usize) -> String {
    flip_stream_keys(seed, n, at, 8)
}

fn flip_stream_keys(seed: u64, n: usize, at: usize, keys: usize) -> String {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64*: a uniform in [0, 1)
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = String::new();
    for i in 0..n {
        let (x, z) = (2.0 * next() - 1.0, 2.0 * next() - 1.0);
        let mut y = if i < at { x > 0.0 } else { x < 0.0 };
        if next() < 0.05 {
            y = !y;
        }
        out.push_str(&format!(
            "{{\"k\":\"k{}\",\"ts\":{},\"x\":{x:.6},\"z\":{z:.6},\"y\":{}}}\n",
            i % keys,
            100 * i,
            u8::from(y)
        ));
    }
    out
}

/// Accuracy over the examples after `at`, from the learning log's cumulative values.
fn accuracy_after(log: &[Value], at: u64) -> f64 {
    let end = log.last().unwrap();
    let mid = log
        .iter()
        .rfind(|r| r["reason"] == "every" && r["n"].as_u64().unwrap() <= at)
        .unwrap();
    let (n1, a1) = (
        end["n"].as_f64().unwrap(),
        end["online_accuracy"].as_f64().unwrap(),
    );
    let (n0, a0) = (
        mid["n"].as_f64().unwrap(),
        mid["online_accuracy"].as_f64().unwrap(),
    );
    (a1 * n1 - a0 * n0) / (n1 - n0)
}

/// The flip stream's spec with `learn_extra` after `[learn]`'s keys.
fn flip_spec(dir: &Path, learn_extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[source]
path = "{d}/events.jsonl"
format = "jsonl"
key = "k"
timestamp = "ts"
timestamp_format = "epoch_ms"
[source.fields]
x = "float"
z = "float"
y = "int"
[[feature]]
name = "x_now"
agg = "sum"
field = "x"
window = {{ kind = "tumbling", size = "1ms" }}
[[feature]]
name = "z_now"
agg = "sum"
field = "z"
window = {{ kind = "tumbling", size = "1ms" }}
[output]
events = "{d}/out.jsonl"
learning = "{d}/learning.jsonl"
[learn]
model = "logistic_regression"
label = "y"
log_every = 500
{learn_extra}
"#,
        d = dir.display()
    );
    let p = dir.join("flip.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A baseline trained by `eddy learn --save` on the first `at` events of the stream.
fn train_baseline(dir: &Path, stream: &str, at: usize) -> String {
    let pre: String = stream.lines().take(at).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("pre.jsonl"), pre).unwrap();
    let base = dir.join("base.json");
    let o = eddy(&[
        "learn",
        "--data",
        &dir.join("pre.jsonl").to_string_lossy(),
        "--target",
        "y",
        "--model",
        "logistic_regression",
        "-p",
        "lr=0.05",
        "--features",
        "x,z",
        "--every",
        "0",
        "--save",
        &base.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    base.to_string_lossy().into_owned()
}

#[test]
fn the_online_model_is_promoted_once_it_beats_the_baseline_and_every_row_names_its_arm() {
    let (n, at) = (6000, 3000);
    let tmp = Tmp::new("learn-ab");
    let stream = flip_stream(7, n, at);
    std::fs::write(tmp.join("events.jsonl"), &stream).unwrap();
    let base = train_baseline(&tmp, &stream, at);
    let spec = flip_spec(
        &tmp,
        &format!(
            "[learn.params]\nlr = 0.05\n[learn.drift]\naction = \"reset\"\n[learn.baseline]\npath = \"{base}\"\ninputs = [\"x_now\", \"z_now\"]\n[learn.promotion]\nmetric = \"accuracy\"\nmin_examples = 200\n"
        ),
    );
    run_ok(&spec);
    let log = jsonl(&tmp.join("learning.jsonl"));
    let promotions: Vec<u64> = log
        .iter()
        .filter(|r| r["reason"] == "promotion")
        .map(|r| r["n"].as_u64().unwrap())
        .collect();
    // before the drift the baseline (trained on it) is as good: no promotion; after it,
    // the baseline is wrong 95% of the time, and the online model takes over
    assert_eq!(promotions.len(), 1, "{promotions:?}");
    assert!(promotions[0] > at as u64 && promotions[0] < at as u64 + 500);
    let end = log.last().unwrap();
    assert_eq!(end["serving"], "online");
    assert!(end["diff"].as_f64().unwrap() > 0.2, "{end}");
    assert!(end["diff_lo"].as_f64().unwrap() > 0.0);
    assert!(end["baseline_accuracy"].as_f64().unwrap() < 0.6);
    // the rows name the arm that served them: the baseline until the promotion
    let rows = jsonl(&tmp.join("out.jsonl"));
    let p = promotions[0] as usize;
    assert!(rows[..p]
        .iter()
        .all(|r| r["prediction"]["arm"] == "baseline"));
    assert!(rows[..p].iter().all(|r| r["prediction"]["model"] == "base"));
    assert!(rows[p..].iter().all(|r| r["prediction"]["arm"] == "online"));
    // the baseline's score is its own: its class agrees with the pre-drift concept
    let agree = rows[..at]
        .iter()
        .filter(|r| (r["x"].as_f64().unwrap() > 0.0) == (r["prediction"]["label"] == 1))
        .count();
    assert!(agree as f64 > 0.97 * at as f64, "{agree}");
}

#[test]
fn a_split_routes_each_key_to_one_arm() {
    let (n, at) = (4000, 2000);
    let tmp = Tmp::new("learn-split");
    let stream = flip_stream_keys(3, n, at, 200);
    std::fs::write(tmp.join("events.jsonl"), &stream).unwrap();
    let base = train_baseline(&tmp, &stream, at);
    let spec = flip_spec(
        &tmp,
        &format!(
            "[learn.params]\nlr = 0.05\n[learn.baseline]\npath = \"{base}\"\ninputs = [\"x_now\", \"z_now\"]\nmode = \"split\"\nfraction = 0.5\n"
        ),
    );
    run_ok(&spec);
    let rows = jsonl(&tmp.join("out.jsonl"));
    let mut arm_of: std::collections::HashMap<String, String> = Default::default();
    for r in &rows {
        let k = r["k"].as_str().unwrap().to_string();
        let arm = r["prediction"]["arm"].as_str().unwrap().to_string();
        assert_eq!(arm_of.entry(k).or_insert_with(|| arm.clone()), &arm);
    }
    let online = arm_of.values().filter(|a| *a == "online").count();
    assert_eq!(arm_of.len(), 200);
    assert!((70..=130).contains(&online), "{online} of 200 keys online");
    // each arm is evaluated on its own keys' examples only
    let end = jsonl(&tmp.join("learning.jsonl")).pop().unwrap();
    let acc_online = end["online_accuracy"].as_f64().unwrap();
    let served_online: Vec<&Value> = rows
        .iter()
        .filter(|r| r["prediction"]["arm"] == "online")
        .collect();
    let hits = served_online
        .iter()
        .filter(|r| r["prediction"]["label"] == r["y"])
        .count();
    assert!((acc_online - hits as f64 / served_online.len() as f64).abs() < 1e-12);
}

#[test]
fn a_drift_is_found_after_it_happens_and_adapting_beats_not() {
    let (n, at) = (6000, 3000);
    for seed in 1..=3 {
        let tmp = Tmp::new("learn-drift");
        std::fs::write(tmp.join("events.jsonl"), flip_stream(seed, n, at)).unwrap();
        let mut after = Vec::new();
        for action in ["none", "boost", "retrain"] {
            let spec = flip_spec(
                &tmp,
                &format!(
                    "[learn.params]\nlr = 0.05\n[learn.drift]\ndetector = \"adwin\"\naction = \"{action}\"\n"
                ),
            );
            run_ok(&spec);
            let log = jsonl(&tmp.join("learning.jsonl"));
            let drifts: Vec<&Value> = log.iter().filter(|r| r["reason"] == "drift").collect();
            assert!(!drifts.is_empty(), "seed {seed} {action}: no drift found");
            let first = drifts[0]["n"].as_u64().unwrap();
            assert!(
                first > at as u64 && first < at as u64 + 500,
                "seed {seed} {action}: first drift at {first}"
            );
            assert_eq!(drifts[0]["action"], action);
            let end = log.last().unwrap();
            assert_eq!(end["actions"].as_u64().unwrap() > 0, action != "none");
            if action == "retrain" {
                // the retrained model is a new version
                assert!(end["version"].as_u64().unwrap() > 1, "{end}");
            }
            after.push(accuracy_after(&log, at as u64));
        }
        assert!(
            after[1] > after[0] + 0.02 && after[2] > after[0] + 0.005,
            "seed {seed}: accuracy after the drift, none/boost/retrain: {after:?}"
        );
    }
}

#[test]
fn a_recommender_learns_ratings_in_the_pipeline() {
    // a planted rank-2 taste: rating = 3 + b_u + b_i + p_u·q_i + noise, 40 users, 30 items
    let mut s = 12345u64;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let (users, items, n) = (40usize, 30usize, 8000usize);
    let vec2 = |next: &mut dyn FnMut() -> f64| [2.0 * next() - 1.0, 2.0 * next() - 1.0];
    let bu: Vec<f64> = (0..users).map(|_| next() - 0.5).collect();
    let bi: Vec<f64> = (0..items).map(|_| next() - 0.5).collect();
    let p: Vec<[f64; 2]> = (0..users).map(|_| vec2(&mut next)).collect();
    let q: Vec<[f64; 2]> = (0..items).map(|_| vec2(&mut next)).collect();
    let mut ev = String::new();
    let mut ratings = Vec::new();
    for t in 0..n {
        let (u, i) = (
            (next() * users as f64) as usize,
            (next() * items as f64) as usize,
        );
        let r = 3.0 + bu[u] + bi[i] + p[u][0] * q[i][0] + p[u][1] * q[i][1] + 0.1 * (next() - 0.5);
        ratings.push(r);
        ev.push_str(&format!(
            "{{\"user\":\"u{u}\",\"item\":\"i{i}\",\"ts\":{},\"rating\":{r:.6}}}\n",
            1000 * t
        ));
    }
    let tmp = Tmp::new("learn-mf");
    std::fs::write(tmp.join("ratings.jsonl"), ev).unwrap();
    let text = format!(
        r#"
[source]
path = "{d}/ratings.jsonl"
format = "jsonl"
key = "user"
timestamp = "ts"
timestamp_format = "epoch_ms"
[source.fields]
item = "string"
rating = "float"
[[feature]]
name = "ratings_1h"
agg = "count"
window = {{ kind = "tumbling", size = "1h" }}
[output]
events = "{d}/out.jsonl"
learning = "{d}/learning.jsonl"
[learn]
model = "biased_mf"
user = "user"
item = "item"
label = "rating"
log_every = 1000
[learn.params]
n_factors = 4
lr = 0.05
"#,
        d = tmp.display()
    );
    std::fs::write(tmp.join("mf.toml"), text).unwrap();
    run_ok(&tmp.join("mf.toml"));
    let end = jsonl(&tmp.join("learning.jsonl")).pop().unwrap();
    assert_eq!(end["n"], n as u64);
    // a prequential global-mean predictor, computed here
    let (mut sum, mut mae0) = (0.0, 0.0);
    for (t, r) in ratings.iter().enumerate() {
        let guess = if t == 0 { 0.0 } else { sum / t as f64 };
        mae0 += (r - guess).abs();
        sum += r;
    }
    mae0 /= n as f64;
    let mae = end["online_mae"].as_f64().unwrap();
    assert!(
        mae < 0.7 * mae0,
        "biased_mf MAE {mae} vs the global mean's {mae0}"
    );
    // every row carries a rating prediction, and no class label
    let rows = jsonl(&tmp.join("out.jsonl"));
    assert!(rows.iter().all(|r| r["prediction"]["label"].is_null()));
    assert_eq!(rows[0]["prediction"]["model"], "biased_mf");
}

#[test]
fn the_online_example_runs_the_whole_loop() {
    // examples/fraud_online.toml as its header says, on a smaller stream
    let tmp = Tmp::new("learn-example");
    let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .current_dir(&*tmp)
        .args([
            "generate",
            "fraud",
            "--events",
            "60000",
            "--seed",
            "7",
            "--drift-at",
            "30000",
            "--disorder-ms",
            "2000",
            "--labels",
            "fraud-labels.jsonl",
            "--label-delay",
            "2m",
            "--output",
            "fraud.jsonl",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fraud_online.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .current_dir(&*tmp)
        .args(["run", &spec.to_string_lossy()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("    baseline:     accuracy"), "{err}");
    let log = jsonl(&tmp.join("fraud-learning.jsonl"));
    let end = log.last().unwrap();
    // labels came late (minutes), and all but a few in time
    assert!(end["delay_p50_ms"].as_f64().unwrap() > 30_000.0, "{end}");
    assert!(end["n"].as_u64().unwrap() > 59_000, "{end}");
    // the baseline, trained before the drift, decays after it; the online model does not
    let at_drift = log
        .iter()
        .rfind(|r| r["n"].as_u64().unwrap() <= 30_000)
        .unwrap();
    let auc = |r: &Value, arm: &str| r[format!("{arm}_roc_auc")].as_f64().unwrap();
    assert!(
        auc(end, "baseline") < auc(at_drift, "baseline") - 0.05,
        "{at_drift}\n{end}"
    );
    assert!(auc(end, "online") > auc(end, "baseline") + 0.1, "{end}");
    assert_eq!(end["serving"], "online");
    assert!(end["drifts"].as_u64().unwrap() >= 1);
    // snapshots were written, each loadable as a model
    let snap = tmp.join("fraud-snapshots/model-v000002.json");
    assert!(snap.exists());
    let text = std::fs::read_to_string(&snap).unwrap();
    assert!(text.contains("\"kind\":\"logistic_regression\""), "{text}");
}

#[test]
fn the_ratings_example_learns_ratings_in_the_pipeline() {
    let tmp = Tmp::new("learn-ratings-example");
    let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .current_dir(&*tmp)
        .args([
            "generate",
            "ratings",
            "--events",
            "40000",
            "--seed",
            "3",
            "--drift-at",
            "20000",
            "--output",
            "ratings.jsonl",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ratings_online.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .current_dir(&*tmp)
        .args(["run", &spec.to_string_lossy()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = jsonl(&tmp.join("ratings-learning.jsonl"));
    let end = log.last().unwrap();
    assert_eq!(end["n"], 40_000);
    // and the model beats the global mean: the prequential MAE of predicting the running
    // mean, computed here from the ratings
    let rows = jsonl(&tmp.join("ratings-events.jsonl"));
    let (mut sum, mut mae0) = (0.0, 0.0);
    for (t, r) in rows.iter().enumerate() {
        let y = r["rating"].as_f64().unwrap();
        mae0 += (y - if t == 0 { 0.0 } else { sum / t as f64 }).abs();
        sum += y;
    }
    mae0 /= rows.len() as f64;
    let mae = end["online_mae"].as_f64().unwrap();
    assert!(mae < 0.85 * mae0, "{mae} vs {mae0}");
}
