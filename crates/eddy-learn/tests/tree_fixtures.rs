//! The Hoeffding tree against River 0.26.1's `HoeffdingTreeClassifier`, test-then-train on
//! streams with numeric, nominal and mixed attributes (`scripts/make_tree_fixtures.py`,
//! `fixtures/tree_prequential.json`): every prediction (by hash), the number right, and the
//! final tree's size must be River's. Runs marked `strings` feed the nominal values as
//! categories (text) through the registry's `categorical=ordinal`, as `eddy learn` does.

use eddy_core::rng::Rng;
use eddy_learn::preprocessing::RawValue;
use eddy_learn::registry::{self, Params};
use eddy_learn::tree::HoeffdingTreeClassifier;
use serde_json::Value;

/// The script's `features`: column by column, `10 * next_f64()` or `below(card)`.
fn features(columns: &[Value], late_at: Option<u64>, seed: u64, n: usize) -> Vec<Vec<f64>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            columns
                .iter()
                .map(|c| {
                    if c["kind"] == "num" {
                        10.0 * rng.next_f64()
                    } else {
                        let late = late_at.is_some_and(|l| i as u64 >= l);
                        let card = c[if late { "card_late" } else { "card" }].as_u64().unwrap();
                        rng.below(card) as f64
                    }
                })
                .collect()
        })
        .collect()
}

/// The script's `as_strings`: nominal codes renamed `k00`, `k01`, ... by first appearance.
fn as_strings(xs: &[Vec<f64>], columns: &[Value]) -> Vec<Vec<Option<String>>> {
    let mut names: Vec<Vec<f64>> = vec![Vec::new(); columns.len()];
    xs.iter()
        .map(|x| {
            x.iter()
                .zip(columns)
                .enumerate()
                .map(|(j, (&v, c))| {
                    (c["kind"] != "num").then(|| {
                        let k = names[j].iter().position(|&n| n == v).unwrap_or_else(|| {
                            names[j].push(v);
                            names[j].len() - 1
                        });
                        format!("k{k:02}")
                    })
                })
                .collect()
        })
        .collect()
}

/// A stream as rebuilt: its name, features, labels and column kinds.
type Stream = (String, Vec<Vec<f64>>, Vec<usize>, Vec<Value>);

fn fnv1a(preds: &[usize]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &p in preds {
        h ^= p as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[test]
fn prequential_predictions_match_river() {
    let text = include_str!("../../../fixtures/tree_prequential.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let streams: Vec<Stream> = doc["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels: Vec<usize> = s["labels"]
                .as_str()
                .unwrap()
                .bytes()
                .map(|b| (b - b'0') as usize)
                .collect();
            let xs = features(
                s["columns"].as_array().unwrap(),
                s["late_at"].as_u64(),
                s["seed"].as_u64().unwrap(),
                labels.len(),
            );
            let name = format!("{} seed {}", s["name"].as_str().unwrap(), s["seed"]);
            (name, xs, labels, s["columns"].as_array().unwrap().clone())
        })
        .collect();
    let mut failures = Vec::new();
    let runs = doc["runs"].as_array().unwrap();
    for run in runs {
        let (name, xs, ys, columns) = &streams[run["stream"].as_u64().unwrap() as usize];
        let strings = run["strings"].as_bool().unwrap();
        let texts = if strings {
            as_strings(xs, columns)
        } else {
            Vec::new()
        };
        let params: Params = run["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let mut model = registry::build("hoeffding_tree", &params).unwrap();
        let mut preds = Vec::with_capacity(ys.len());
        let mut correct = 0;
        for (i, (x, &y)) in xs.iter().zip(ys).enumerate() {
            let p = if strings {
                let raw: Vec<RawValue> = x
                    .iter()
                    .zip(&texts[i])
                    .map(|(&v, t)| t.as_deref().map_or(RawValue::Num(v), RawValue::Cat))
                    .collect();
                let p = model.predict_raw(&raw) as usize;
                model.learn_raw(&raw, y as f64).unwrap();
                p
            } else {
                let p = model.predict_one(x) as usize;
                model.learn_one(x, y as f64).unwrap();
                p
            };
            correct += usize::from(p == y);
            preds.push(p);
        }
        let t = model.downcast_ref::<HoeffdingTreeClassifier>().unwrap();
        let got = (
            correct as u64,
            format!("{:016x}", fnv1a(&preds)),
            t.n_nodes() as u64,
            t.n_leaves() as u64,
            t.depth() as u64 + 1,
        );
        let want = (
            run["correct"].as_u64().unwrap(),
            run["predictions_fnv1a"].as_str().unwrap().to_string(),
            run["n_nodes"].as_u64().unwrap(),
            run["n_leaves"].as_u64().unwrap(),
            run["height"].as_u64().unwrap(),
        );
        if got != want {
            failures.push(format!(
                "{name} {params:?} strings {strings}: (correct, hash, nodes, leaves, height) {got:?}, River {want:?}"
            ));
        }
    }
    assert!(runs.len() >= 60, "only {} runs", runs.len());
    assert!(
        failures.is_empty(),
        "{} of {} runs differ:\n{}",
        failures.len(),
        runs.len(),
        failures.join("\n")
    );
}
