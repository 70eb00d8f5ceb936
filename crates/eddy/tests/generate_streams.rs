//! `eddy generate` with a label stream (`--labels`), and the `ratings` stream. Expected values
//! come from the documented models (the delay's distribution, the planted ratings), checked
//! with statistics computed here over the files written.

use std::collections::HashMap;
use std::process::{Command, Output};

use eddy_runtime::generate::ratings::{self, RatingsModel};
use eddy_runtime::generate::{GenConfig, Scenario};
use eddy_testutil::Tmp;
use serde_json::Value;

fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .expect("run eddy")
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "eddy failed: {:?}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

fn read_lines(path: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// RFC 3339 (`YYYY-MM-DDTHH:MM:SS.mmmZ`) → epoch ms, by hand (days from civil, H. Hinnant).
fn ts_ms(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().expect("digits");
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400_000 + n(11, 13) * 3_600_000 + n(14, 16) * 60_000 + n(17, 19) * 1000 + n(20, 23)
}

fn ts_of(v: &Value) -> i64 {
    ts_ms(v["ts"].as_str().expect("ts"))
}

fn id_of(v: &Value) -> &str {
    v["event_id"].as_str().expect("event_id")
}

/// The label records are in order of time, and their delays after `event_ts` (by event id)
/// have the documented lognormal distribution: mean `mean_ms` (within `tol`), median
/// `mean · e^(−1/2)` (within `tol`), and about 1% beyond `mean · e^(−1/2 + 2.326)`.
fn check_delays(labels: &[Value], event_ts: &HashMap<String, i64>, mean_ms: f64, tol: f64) {
    let times: Vec<i64> = labels.iter().map(ts_of).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "labels not in time order"
    );
    let mut delays: Vec<f64> = labels
        .iter()
        .map(|l| (ts_of(l) - event_ts[id_of(l)]) as f64)
        .collect();
    assert!(delays.iter().all(|&d| d >= 0.0));
    let n = delays.len() as f64;
    let mean = delays.iter().sum::<f64>() / n;
    delays.sort_by(f64::total_cmp);
    let median = delays[delays.len() / 2];
    let want_median = mean_ms * (-0.5f64).exp();
    let p99 = mean_ms * (-0.5f64 + 2.326).exp();
    let beyond = delays.iter().filter(|&&d| d > p99).count() as f64 / n;
    assert!(
        (mean / mean_ms - 1.0).abs() < tol,
        "mean delay {mean} for {mean_ms}"
    );
    assert!(
        (median / want_median - 1.0).abs() < tol,
        "median delay {median}, expected {want_median}"
    );
    assert!(
        (0.004..0.02).contains(&beyond),
        "beyond the 99th percentile: {beyond}"
    );
}

#[test]
fn fraud_labels_are_a_delayed_stream_of_every_outcome() {
    let tmp = Tmp::new("gen-fraud-labels");
    let (events, labels, plain) = (tmp.s("e.jsonl"), tmp.s("l.jsonl"), tmp.s("p.jsonl"));
    let common = [
        "generate",
        "fraud",
        "--events",
        "40000",
        "--seed",
        "3",
        "--drift-at",
        "20000",
    ];
    ok(&eddy(&[&common[..], &["-o", &plain]].concat()));
    ok(&eddy(
        &[
            &common[..],
            &["-o", &events, "--labels", &labels, "--label-delay", "30s"],
        ]
        .concat(),
    ));
    let (events, labels, plain) = (read_lines(&events), read_lines(&labels), read_lines(&plain));
    // The events are the same as without a label stream, without their label.
    assert_eq!(events.len(), 40_000);
    let mut truth = HashMap::new();
    for (e, mut p) in events.iter().zip(plain) {
        let label = p.as_object_mut().unwrap().remove("label").expect("label");
        assert_eq!(*e, p);
        truth.insert(id_of(e).to_string(), label);
    }
    // Exactly one label per event, the event's outcome.
    assert_eq!(labels.len(), 40_000);
    let mut seen = HashMap::new();
    for l in &labels {
        assert_eq!(l.as_object().unwrap().len(), 3, "{l}");
        assert_eq!(l["label"], truth[id_of(l)], "{l}");
        *seen.entry(id_of(l).to_string()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 40_000);
    assert!(truth.values().filter(|v| **v == 1).count() > 100);
    let event_ts: HashMap<String, i64> = events
        .iter()
        .map(|e| (id_of(e).to_string(), ts_of(e)))
        .collect();
    check_delays(&labels, &event_ts, 30_000.0, 0.05);
}

#[test]
fn click_labels_are_the_clicked_impressions_at_the_clicks_time() {
    let tmp = Tmp::new("gen-click-labels");
    let (events, labels, plain) = (tmp.s("e.jsonl"), tmp.s("l.jsonl"), tmp.s("p.jsonl"));
    let common = ["generate", "clicks", "--events", "100000", "--seed", "5"];
    ok(&eddy(&[&common[..], &["-o", &plain]].concat()));
    ok(&eddy(
        &[
            &common[..],
            &["-o", &events, "--labels", &labels, "--label-delay", "20s"],
        ]
        .concat(),
    ));
    let (events, labels, plain) = (read_lines(&events), read_lines(&labels), read_lines(&plain));
    assert!(events.iter().all(|e| e.get("label").is_none()));
    let by_id: HashMap<&str, &Value> = events.iter().map(|e| (id_of(e), e)).collect();
    // One record per clicked impression, label 1.
    let mut labelled = HashMap::new();
    for l in &labels {
        assert_eq!(l["label"], 1, "{l}");
        assert!(labelled.insert(id_of(l), l).is_none(), "two labels for {l}");
    }
    // The impressions are drawn as without labels (only the clicks move): the same
    // impressions in the same order, and exactly those clicked then have a label now.
    let impressions = |v: &[Value]| -> Vec<Value> {
        v.iter()
            .filter(|e| e["event_type"] == "impression")
            .cloned()
            .collect()
    };
    let (now, before) = (impressions(&events), impressions(&plain));
    let common_len = now.len().min(before.len());
    assert!(common_len > 70_000, "{common_len}");
    let mut clicked = 0;
    for (a, b) in now.iter().zip(&before).take(common_len) {
        for f in ["user_id", "campaign", "device"] {
            assert_eq!(a[f], b[f]);
        }
        let was_clicked = b["label"] == 1;
        assert_eq!(labelled.contains_key(id_of(a)), was_clicked, "{a}");
        clicked += was_clicked as usize;
    }
    assert!(clicked > 3_000, "{clicked}");
    // Every label is an impression's; a click by the same user on the same campaign is in
    // the events at the label's time (unless the stream ended before it).
    let clicks: std::collections::HashSet<(String, String, i64)> = events
        .iter()
        .filter(|e| e["event_type"] == "click")
        .map(|e| {
            (
                e["user_id"].to_string(),
                e["campaign"].to_string(),
                ts_of(e),
            )
        })
        .collect();
    let last = events.iter().map(ts_of).max().unwrap();
    for l in &labels {
        let imp = by_id[id_of(l)];
        assert_eq!(imp["event_type"], "impression");
        if ts_of(l) < last {
            let key = (
                imp["user_id"].to_string(),
                imp["campaign"].to_string(),
                ts_of(l),
            );
            assert!(clicks.contains(&key), "no click for {l}");
        }
    }
    let event_ts: HashMap<String, i64> = events
        .iter()
        .map(|e| (id_of(e).to_string(), ts_of(e)))
        .collect();
    check_delays(&labels, &event_ts, 20_000.0, 0.08);
}

#[test]
fn label_streams_are_refused_where_they_make_no_sense() {
    let tmp = Tmp::new("gen-label-refusals");
    let same = tmp.s("same.jsonl");
    let cases: [(&[&str], &str); 5] = [
        (
            &["generate", "fraud", "-o", &same, "--labels", &same],
            "is the events' --output",
        ),
        (
            &["generate", "ratings", "--labels", &same],
            "--labels is for fraud and clicks",
        ),
        (
            &["generate", "fraud", "--label-delay", "5s"],
            "--label-delay needs --labels",
        ),
        (
            &["generate", "fraud", "--labels", &same, "--label-delay", "0"],
            "longer than 0",
        ),
        (
            &["generate", "clicks", "--labels", "-"],
            "needs a file path",
        ),
    ];
    for (args, msg) in cases {
        let o = eddy(args);
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    assert!(
        !tmp.join("same.jsonl").exists(),
        "a refused run writes nothing"
    );
}

/// Mean and standard deviation.
fn moments(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[test]
fn ratings_follow_the_planted_low_rank_model_and_drift() {
    let tmp = Tmp::new("gen-ratings");
    let path = tmp.s("r.jsonl");
    let (events, keys, drift_at) = (60_000u64, 300u64, 30_000u64);
    ok(&eddy(&[
        "generate",
        "ratings",
        "--events",
        "60000",
        "--keys",
        "300",
        "--seed",
        "11",
        "--drift-at",
        "30000",
        "-o",
        &path,
    ]));
    let rows: Vec<(usize, usize, f64)> = read_lines(&path)
        .iter()
        .map(|v| {
            let num = |f: &str, p: &str| {
                v[f].as_str()
                    .unwrap()
                    .strip_prefix(p)
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            };
            (
                num("user", "u"),
                num("item", "i"),
                v["rating"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len() as u64, events);
    let mut cfg = GenConfig::new(Scenario::Ratings, events, 11);
    cfg.keys = keys;
    let model = RatingsModel::of(&cfg);
    // The planted parameters have the documented spreads.
    assert!((moments(&model.user_bias).1 - ratings::BIAS_SD).abs() < 0.06);
    assert!((moments(&model.item_bias).1 - ratings::BIAS_SD).abs() < 0.05);
    assert!((moments(&model.item_factors).1 - ratings::FACTOR_SD).abs() < 0.03);
    // rating − (mean + b_u + b_i + ⟨p_u, q_i⟩) is the noise: mean 0, sd NOISE_SD, with the
    // factors of each side of the drift; the old factors after the drift are far off.
    let residuals = |range: std::ops::Range<usize>, drifted: bool| -> Vec<f64> {
        rows[range]
            .iter()
            .map(|&(u, i, r)| r - model.expected(u, i, drifted))
            .collect()
    };
    let d = drift_at as usize;
    for (range, drifted) in [(0..d, false), (d..rows.len(), true)] {
        let (m, sd) = moments(&residuals(range.clone(), drifted));
        assert!(m.abs() < 0.01, "{range:?}: mean residual {m}");
        assert!(
            (sd - ratings::NOISE_SD).abs() < 0.01,
            "{range:?}: residual sd {sd}"
        );
    }
    let (_, stale) = moments(&residuals(d..rows.len(), false));
    assert!(
        stale > 0.6,
        "after the drift the old tastes are stale: {stale}"
    );
    // Without the model: repeated ratings of one (user, item) pair before the drift differ
    // by the noise only (pooled within-pair sd).
    let mut pairs: HashMap<(usize, usize), Vec<f64>> = HashMap::new();
    for &(u, i, r) in &rows[..d] {
        pairs.entry((u, i)).or_default().push(r);
    }
    let (mut ss, mut dof) = (0.0, 0usize);
    for rs in pairs.values().filter(|rs| rs.len() >= 3) {
        let (m, _) = moments(rs);
        ss += rs.iter().map(|r| (r - m) * (r - m)).sum::<f64>();
        dof += rs.len() - 1;
    }
    assert!(dof > 3_000, "{dof}");
    let within = (ss / dof as f64).sqrt();
    assert!(
        (within - ratings::NOISE_SD).abs() < 0.02,
        "within-pair sd {within}"
    );
    // The heaviest user (u000000): its bias, from its ratings less the items' parts.
    let heavy: Vec<f64> = rows[..d]
        .iter()
        .filter(|r| r.0 == 0)
        .map(|&(u, i, r)| r - (model.expected(u, i, false) - model.user_bias[0]))
        .collect();
    assert!(heavy.len() > 1_000, "{}", heavy.len());
    let (b, _) = moments(&heavy);
    assert!(
        (b - model.user_bias[0]).abs() < 0.03,
        "{b} vs {}",
        model.user_bias[0]
    );
}
