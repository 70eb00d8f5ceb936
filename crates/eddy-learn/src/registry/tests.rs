use super::*;
use crate::linear::LogisticRegression;
use crate::optim::Optimizer;
use crate::tree::HoeffdingTreeClassifier;
use eddy_core::rng::Rng;
use eddy_testutil::Tmp;

fn params(kv: &[(&str, &str)]) -> Params {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A stream with 3 numeric features; the target depends on the task and class count.
fn example(rng: &mut Rng, task: Task, n_classes: usize) -> ([f64; 3], f64) {
    let x = [rng.normal(), rng.normal() * 2.0 + 1.0, rng.next_f64()];
    let s = x[0] - 0.5 * x[1] + x[2];
    let y = match task {
        Task::Regression => s + 0.1 * rng.normal(),
        Task::Classification if n_classes == 2 => f64::from(u8::from(s > 0.0)),
        Task::Classification => {
            if s < -1.0 {
                0.0
            } else if s < 0.5 {
                1.0
            } else {
                2.0
            }
        }
    };
    (x, y)
}

fn assert_same_predictions(a: &AnyModel, b: &AnyModel, rng: &mut Rng) {
    let (mut pa, mut pb) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let (x, _) = example(rng, a.task(), 3);
        assert_eq!(a.predict_one(&x).to_bits(), b.predict_one(&x).to_bits());
        a.predict_proba_one(&x, &mut pa);
        b.predict_proba_one(&x, &mut pb);
        assert_eq!(pa.len(), pb.len());
        for (u, v) in pa.iter().zip(&pb) {
            assert_eq!(u.to_bits(), v.to_bits());
        }
    }
}

fn round_trip(name: &str, kv: &[(&str, &str)]) {
    let mut m = build(name, &params(kv)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let n_classes =
        if name == "softmax_regression" || name == "gaussian_nb" || name == "hoeffding_tree" {
            3
        } else {
            2
        };
    let mut rng = Rng::new(17);
    for _ in 0..3000 {
        let (x, y) = example(&mut rng, m.task(), n_classes);
        m.learn_one(&x, y).unwrap();
    }
    let text = m.to_snapshot_string().unwrap();
    let mut back = AnyModel::from_snapshot_str(&text).unwrap();
    assert_eq!(back, m, "{name}: state differs after the round trip");
    assert_same_predictions(&m, &back, &mut Rng::new(5));
    // Learning on afterwards stays identical (optimizer state restored too).
    let mut rng2 = Rng::new(99);
    for _ in 0..500 {
        let (x, y) = example(&mut rng2, m.task(), n_classes);
        m.learn_one(&x, y).unwrap();
        back.learn_one(&x, y).unwrap();
    }
    assert_same_predictions(&m, &back, &mut Rng::new(6));
}

#[test]
fn snapshot_round_trip_every_model() {
    round_trip("linear_regression", &[("scaler", "standard")]);
    round_trip(
        "linear_regression",
        &[("l1", "0.01"), ("optimizer", "adagrad")],
    );
    round_trip("logistic_regression", &[]);
    round_trip(
        "logistic_regression",
        &[("optimizer", "adam"), ("l2", "0.01")],
    );
    round_trip(
        "logistic_regression",
        &[
            ("optimizer", "ftrl_proximal"),
            ("alpha", "0.1"),
            ("ftrl_l1", "0.5"),
        ],
    );
    round_trip(
        "logistic_regression",
        &[
            ("schedule", "inverse_scaling"),
            ("lr", "0.1"),
            ("power_t", "0.25"),
        ],
    );
    round_trip("softmax_regression", &[("scaler", "minmax")]);
    round_trip("pa_classifier", &[("C", "0.5"), ("mode", "2")]);
    round_trip("pa_regressor", &[("mode", "0")]);
    round_trip("gaussian_nb", &[]);
    round_trip("hoeffding_tree", &[("grace_period", "100")]);
    round_trip(
        "hoeffding_tree",
        &[("leaf_prediction", "mc"), ("max_depth", "2")],
    );
}

#[test]
fn hoeffding_tree_snapshot_after_splits() {
    let mut m = build("hoeffding_tree", &params(&[("grace_period", "50")])).unwrap();
    let mut rng = Rng::new(4);
    for _ in 0..15_000 {
        let (x, y) = example(&mut rng, Task::Classification, 3);
        m.learn_one(&x, y).unwrap();
    }
    let t = m.downcast_ref::<HoeffdingTreeClassifier>().unwrap();
    assert!(t.n_leaves() > 2, "the tree should have split");
    let back = AnyModel::from_snapshot_str(&m.to_snapshot_string().unwrap()).unwrap();
    assert_same_predictions(&m, &back, &mut Rng::new(8));
}

#[test]
fn snapshot_file_round_trip_with_categories() {
    let mut m = build(
        "logistic_regression",
        &params(&[("scaler", "standard"), ("lr", "0.05")]),
    )
    .unwrap();
    let mut rng = Rng::new(3);
    let cats = ["a", "b", "c"];
    for _ in 0..2000 {
        let c = cats[rng.below(3) as usize];
        let v = rng.normal();
        let y = f64::from(u8::from(c == "a" || v > 1.0));
        m.learn_raw(&[RawValue::Num(v), RawValue::Cat(c)], y)
            .unwrap();
    }
    let dir = Tmp::new("snapshot_file_round_trip");
    let path = dir.join("model.json");
    m.save(&path).unwrap();
    let back = AnyModel::load(&path).unwrap();
    for c in ["a", "b", "c", "unseen"] {
        for v in [-2.0, 0.0, 0.5, 3.0] {
            let row = [RawValue::Num(v), RawValue::Cat(c)];
            assert_eq!(
                m.predict_raw(&row).to_bits(),
                back.predict_raw(&row).to_bits()
            );
        }
    }
    assert_eq!(
        m.predict_raw(&[RawValue::Num(0.0), RawValue::Cat("a")]),
        1.0
    );
    assert_eq!(
        m.predict_raw(&[RawValue::Num(0.0), RawValue::Cat("b")]),
        0.0
    );
    // A snapshot whose kind was tampered with is refused.
    let text = std::fs::read_to_string(&path).unwrap();
    let bad = text.replacen(
        "\"kind\":\"logistic_regression\"",
        "\"kind\":\"gaussian_nb\"",
        1,
    );
    assert!(AnyModel::from_snapshot_str(&bad).is_err());
}

#[test]
fn hashing_pipeline_round_trip() {
    let mut m = build(
        "pa_classifier",
        &params(&[
            ("categorical", "hash"),
            ("n_features", "32"),
            ("hash_seed", "7"),
        ]),
    )
    .unwrap();
    for i in 0..500 {
        let c = ["x", "y"][i % 2];
        m.learn_raw(&[RawValue::Cat(c)], (i % 2) as f64).unwrap();
    }
    assert_eq!(m.predict_raw(&[RawValue::Cat("x")]), 0.0);
    assert_eq!(m.predict_raw(&[RawValue::Cat("y")]), 1.0);
    let back = AnyModel::from_snapshot_str(&m.to_snapshot_string().unwrap()).unwrap();
    assert_eq!(back, m);
}

#[test]
fn recommenders_round_trip() {
    for name in ["funk_mf", "biased_mf"] {
        let mut m = build_recommender(name, &params(&[("seed", "3"), ("n_factors", "4")])).unwrap();
        let mut rng = Rng::new(1);
        for _ in 0..2000 {
            let (u, i) = (rng.below(20), 100 + rng.below(15));
            m.learn_one(u, i, (u % 5) as f64 + (i % 3) as f64).unwrap();
        }
        let back = AnyRecommender::from_snapshot_str(&m.to_snapshot_string().unwrap()).unwrap();
        assert_eq!(back, m);
        for u in 0..25 {
            for i in 95..120 {
                assert_eq!(
                    m.predict_one(u, i).to_bits(),
                    back.predict_one(u, i).to_bits()
                );
            }
        }
        let items: Vec<u64> = (100..115).collect();
        assert_eq!(m.rank(3, &items), back.rank(3, &items));
    }
    assert!(build_recommender("funk_mf", &params(&[("l2_bias", "1")])).is_err());
    assert!(build("funk_mf", &Params::new()).is_err());
}

#[test]
fn unknown_model_lists_names() {
    let e = build("random_forest", &Params::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("random_forest"), "{e}");
    for entry in MODELS {
        assert!(e.contains(entry.name), "{e}");
    }
    assert!(e.contains("funk_mf"));
}

#[test]
fn unknown_param_lists_accepted() {
    let e = build("logistic_regression", &params(&[("learning_rate", "0.1")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("learning_rate") && e.contains("logistic_regression"),
        "{e}"
    );
    for k in [
        "lr",
        "l2",
        "intercept_lr",
        "clip_gradient",
        "optimizer",
        "scaler",
    ] {
        assert!(e.contains(k), "{e}");
    }
    // `C` is a PA parameter, not a tree one.
    let e = build("hoeffding_tree", &params(&[("C", "1")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("grace_period") && e.contains("delta"), "{e}");
}

#[test]
fn bad_values_are_errors() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("logistic_regression", &[("lr", "fast")], "lr"),
        ("logistic_regression", &[("lr", "-1")], "lr"),
        (
            "logistic_regression",
            &[("optimizer", "rmsprop")],
            "optimizer",
        ),
        ("logistic_regression", &[("beta_1", "0.8")], "beta_1"),
        ("logistic_regression", &[("l1", "0.1"), ("l2", "0.1")], "l1"),
        (
            "linear_regression",
            &[("clip_gradient", "nan")],
            "clip_gradient",
        ),
        ("pa_classifier", &[("mode", "3")], "mode"),
        ("pa_regressor", &[("C", "0")], "C"),
        ("hoeffding_tree", &[("delta", "2")], "delta"),
        (
            "hoeffding_tree",
            &[("leaf_prediction", "knn")],
            "leaf_prediction",
        ),
        ("hoeffding_tree", &[("grace_period", "0")], "grace_period"),
        ("gaussian_nb", &[("scaler", "robust")], "scaler"),
        ("gaussian_nb", &[("n_features", "8")], "n_features"),
    ];
    for (name, kv, key) in cases {
        let e = build(name, &params(kv)).unwrap_err().to_string();
        assert!(e.contains(key), "{name} {kv:?}: {e}");
    }
    // Defaults are River's.
    let m = build("logistic_regression", &Params::new()).unwrap();
    let lr = m.downcast_ref::<LogisticRegression>().unwrap();
    assert_eq!(lr.glm.optimizer, Optimizer::sgd(0.01));
    assert_eq!(lr.glm.clip_gradient, 1e12);
    let m = build("logistic_regression", &params(&[("optimizer", "adam")])).unwrap();
    let lr = m.downcast_ref::<LogisticRegression>().unwrap();
    assert_eq!(lr.glm.optimizer, Optimizer::adam(0.1, 0.9, 0.999, 1e-8));
    // River's class names are accepted too.
    assert_eq!(
        build("HoeffdingTreeClassifier", &Params::new())
            .unwrap()
            .name,
        "hoeffding_tree"
    );
}

#[test]
fn bad_labels_are_errors_not_panics() {
    let mut m = build("softmax_regression", &Params::new()).unwrap();
    assert!(m.learn_one(&[1.0], -1.0).is_err());
    assert!(m.learn_one(&[1.0], 0.5).is_err());
    assert!(m.learn_one(&[1.0], f64::NAN).is_err());
    assert!(m.learn_one(&[1.0], 1e9).is_err());
    assert!(m.learn_one(&[1.0], 2.0).is_ok());
    assert_eq!(m.n_classes(), 3);
    let mut b = build("logistic_regression", &Params::new()).unwrap();
    let e = b.learn_one(&[1.0], 2.0).unwrap_err().to_string();
    assert!(e.contains("0..=1"), "{e}");
    assert!(b.learn_one(&[f64::NAN], 1.0).is_err());
    assert!(b
        .learn_raw(&[RawValue::Num(f64::INFINITY), RawValue::Cat("a")], 1.0)
        .is_err());
    let before = b.clone();
    assert!(b.learn_one(&[1.0, f64::NEG_INFINITY], 0.0).is_err());
    assert_eq!(before, b, "a rejected example must not be learned");
    let mut r = build("linear_regression", &Params::new()).unwrap();
    assert!(r.learn_one(&[1.0], f64::INFINITY).is_err());
    assert!(r.learn_one(&[1.0], -3.5).is_ok());
    assert_eq!(r.task(), Task::Regression);
}

#[test]
fn models_are_send_and_sync_and_learn_many_skips_bad_rows() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<AnyModel>();
    send_sync::<AnyRecommender>();
    let mut m = build("linear_regression", &Params::new()).unwrap();
    let xs = [1.0, 2.0, f64::NAN, 1.0, 3.0, 4.0];
    assert_eq!(m.learn_many(&xs, &[1.0, 2.0, 3.0]).unwrap(), 2);
    assert!(m.learn_many(&xs[..5], &[1.0, 2.0]).is_err());
}

#[test]
fn entries_are_found_by_name_and_river_class_and_build_themselves() {
    for entry in MODELS {
        let class = entry.river.rsplit('.').next().unwrap();
        for name in [entry.name, class, entry.river] {
            assert_eq!(find(name).map(|e| e.name), Some(entry.name), "{name}");
        }
        for alias in entry.aliases {
            assert_eq!(find(alias).map(|e| e.name), Some(entry.name), "{alias}");
        }
        match entry.kind {
            EntryKind::Features { task, .. } => {
                let m = build(entry.name, &Params::new()).unwrap();
                assert!(std::ptr::eq(m.entry(), *entry), "{}", entry.name);
                assert_eq!(m.task(), task);
                assert!(build_recommender(entry.name, &Params::new()).is_err());
            }
            EntryKind::Recommender { .. } => {
                let m = build_recommender(entry.name, &Params::new()).unwrap();
                assert_eq!(m.name(), entry.name);
                assert!(build(entry.name, &Params::new()).is_err());
            }
        }
    }
    let names: Vec<&str> = MODELS.iter().map(|e| e.name).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
}

/// Each declared default is the real one: giving it changes nothing. A parameter that only
/// applies with another setting (another optimizer, `categorical=hash`) is refused as such.
#[test]
fn declared_defaults_are_the_defaults() {
    for entry in MODELS {
        let base = match entry.kind {
            EntryKind::Features { .. } => {
                serde_json::to_value(build(entry.name, &Params::new()).unwrap().estimator())
                    .unwrap()
            }
            EntryKind::Recommender { .. } => {
                serde_json::to_value(build_recommender(entry.name, &Params::new()).unwrap())
                    .unwrap()
            }
        };
        let mut checked = 0;
        for name in accepted_params(entry.name).unwrap() {
            let spec = entry
                .params()
                .chain(PREPROCESSING_PARAMS)
                .find(|p| p.name == name)
                .unwrap();
            let p = params(&[(spec.name, spec.default)]);
            let got = match entry.kind {
                EntryKind::Features { .. } => build(entry.name, &p).map(|m| {
                    assert_eq!(m.preprocessed.preprocessors.len(), 1, "{}", spec.name);
                    serde_json::to_value(m.estimator()).unwrap()
                }),
                EntryKind::Recommender { .. } => {
                    build_recommender(entry.name, &p).map(|m| serde_json::to_value(m).unwrap())
                }
            };
            match got {
                Ok(v) => {
                    assert_eq!(v, base, "{} {}={}", entry.name, spec.name, spec.default);
                    checked += 1;
                }
                Err(e) => {
                    let e = e.to_string();
                    assert!(
                        e.contains("does not apply") || e.contains("applies only"),
                        "{} {}={}: {e}",
                        entry.name,
                        spec.name,
                        spec.default
                    );
                }
            }
        }
        assert!(checked >= 2, "{}", entry.name);
    }
}
