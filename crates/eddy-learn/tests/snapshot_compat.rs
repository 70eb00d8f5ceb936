//! Snapshots written by earlier versions of eddy-learn still load and predict the same.
//!
//! `fixtures/snapshots_v1.json` was written by eddy-learn as of commit dd2cbba (when the
//! registry listed its models in enums): for every model, a snapshot after learning 1500 rows
//! of numbers and a category (300 ratings for the recommenders), and the predictions it gave on
//! a few probe rows.

use eddy_learn::preprocessing::RawValue;
use eddy_learn::registry::{AnyModel, AnyRecommender};
use serde_json::Value;

fn fixtures() -> serde_json::Map<String, Value> {
    let text = include_str!("fixtures/snapshots_v1.json");
    serde_json::from_str(text).unwrap()
}

#[test]
fn old_feature_model_snapshots_load_and_predict_the_same() {
    let mut n = 0;
    for (name, case) in fixtures() {
        if name.ends_with("_mf") {
            continue;
        }
        let m = AnyModel::from_snapshot_str(case["snapshot"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.name, name);
        let mut proba = Vec::new();
        for p in case["probes"].as_array().unwrap() {
            let x: Vec<f64> = serde_json::from_value(p["x"].clone()).unwrap();
            let mut row: Vec<RawValue> = x.iter().map(|&v| RawValue::Num(v)).collect();
            row.push(RawValue::Cat(p["cat"].as_str().unwrap()));
            let want = p["pred"].as_f64().unwrap();
            assert_eq!(m.predict_raw(&row).to_bits(), want.to_bits(), "{name}");
            let want: Vec<f64> = serde_json::from_value(p["proba"].clone()).unwrap();
            m.predict_proba_raw(&row, &mut proba);
            assert_eq!(proba.len(), want.len(), "{name}");
            for (a, b) in proba.iter().zip(&want) {
                if name == "hoeffding_tree" {
                    // The tree's naive Bayes now uses River 0.26's arithmetic (log-density
                    // formula, summation order), which moves the last bits.
                    assert!((a - b).abs() <= 1e-12, "{name}: {a} vs {b}");
                } else {
                    assert_eq!(a.to_bits(), b.to_bits(), "{name}");
                }
            }
        }
        // Saved again, it reads back the same.
        let again = AnyModel::from_snapshot_str(&m.to_snapshot_string().unwrap()).unwrap();
        assert_eq!(again, m, "{name}");
        n += 1;
    }
    assert_eq!(n, 7);
}

#[test]
fn old_recommender_snapshots_load_and_predict_the_same() {
    let mut n = 0;
    for (name, case) in fixtures() {
        if !name.ends_with("_mf") {
            continue;
        }
        let m = AnyRecommender::from_snapshot_str(case["snapshot"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.name(), name);
        for p in case["probes"].as_array().unwrap() {
            let (u, i) = (p["user"].as_u64().unwrap(), p["item"].as_u64().unwrap());
            let want = p["pred"].as_f64().unwrap();
            assert_eq!(m.predict_one(u, i).to_bits(), want.to_bits(), "{name}");
        }
        n += 1;
    }
    assert_eq!(n, 2);
}
