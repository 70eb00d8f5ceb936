//! eddy-infer integration tests. Expected values come from ONNX Runtime (the committed
//! `fixtures/onnx/*.ref.json`, made by `scripts/make_onnx_fixtures.py`) or are computed by hand.

use std::path::{Path, PathBuf};

use eddy_infer::{
    load_model, load_model_with, Batch, DataType, FeatureSpec, InferError, LoadOptions, Model,
    OutputRole, Scores, Task,
};
use eddy_learn::linear::LogisticRegression;
use eddy_learn::registry::{build, build_recommender, AnyModel, Params};
use eddy_testutil::Tmp;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/onnx")
}

struct Reference {
    inputs: Vec<f64>,
    rows: usize,
    outputs: serde_json::Map<String, serde_json::Value>,
}

fn reference(name: &str) -> Reference {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.ref.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows_v = v["inputs"].as_array().unwrap();
    let inputs: Vec<f64> = rows_v
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN)) // null = missing
        })
        .collect();
    Reference {
        inputs,
        rows: rows_v.len(),
        outputs: v["outputs"].as_object().unwrap().clone(),
    }
}

fn flat(v: &serde_json::Value) -> Vec<f64> {
    match v {
        serde_json::Value::Array(a) => a.iter().flat_map(flat).collect(),
        other => vec![other.as_f64().unwrap()],
    }
}

/// Scores the reference inputs with tract, as one batch and row by row, and compares with
/// ONNX Runtime: labels exact, probabilities and values within 1e-5 (relative above 1).
fn check_against_onnxruntime(name: &str) {
    let r = reference(name);
    let model = load_model(&fixtures().join(format!("{name}.onnx")), name)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let meta = model.metadata();
    assert_eq!(meta.platform, "onnx_tract");
    assert_eq!(meta.inputs.len(), 1);
    assert_eq!(meta.inputs[0].shape, vec![-1, 4]);
    let names: Vec<&str> = meta.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["amount", "hour", "velocity", "distance"],
        "sidecar names"
    );

    let mut batch_scores = Scores::new();
    model
        .score(Batch::new(&r.inputs, r.rows).unwrap(), &mut batch_scores)
        .unwrap();
    assert_eq!(batch_scores.len(), r.rows);

    let close = |got: f64, want: f64, what: &str, i: usize| {
        let tol = 1e-5 * want.abs().max(1.0);
        assert!(
            (got - want).abs() <= tol,
            "{name} {what}[{i}]: tract {got}, onnxruntime {want}"
        );
    };
    if let Some(labels) = r.outputs.get("label") {
        assert_eq!(meta.task, Task::Classification);
        let want: Vec<i64> = flat(labels).iter().map(|&x| x as i64).collect();
        assert_eq!(batch_scores.labels, want, "{name} labels");
        let want_p = flat(&r.outputs["probabilities"]);
        assert_eq!(batch_scores.probabilities.len(), want_p.len());
        for (i, (g, w)) in batch_scores.probabilities.iter().zip(&want_p).enumerate() {
            close(*g, *w, "probabilities", i);
        }
        let c = batch_scores.n_classes;
        assert_eq!(c * r.rows, want_p.len());
        if c == 2 {
            for i in 0..r.rows {
                close(batch_scores.scores[i], want_p[2 * i + 1], "score", i);
            }
        }
    } else {
        assert_eq!(meta.task, Task::Regression);
        let want = flat(&r.outputs["variable"]);
        assert_eq!(want.len(), r.rows);
        for (i, (g, w)) in batch_scores.scores.iter().zip(&want).enumerate() {
            close(*g, *w, "variable", i);
        }
    }

    // Row by row gives the same as the batch (batch dimension is symbolic).
    let mut one = Scores::new();
    for i in 0..r.rows {
        model
            .score(Batch::row(&r.inputs[i * 4..(i + 1) * 4]), &mut one)
            .unwrap();
        assert_eq!(one.len(), 1);
        close(one.scores[0], batch_scores.scores[i], "row score", i);
        assert_eq!(one.label(0), batch_scores.label(i));
    }
}

#[test]
fn onnx_linear_regression_matches_onnxruntime() {
    check_against_onnxruntime("linear_regression");
}

#[test]
fn onnx_logistic_regression_matches_onnxruntime() {
    check_against_onnxruntime("logistic_regression");
}

#[test]
fn onnx_logistic_regression_3class_matches_onnxruntime() {
    check_against_onnxruntime("logistic_regression_3class");
}

#[test]
fn onnx_linear_svc_matches_onnxruntime() {
    check_against_onnxruntime("linear_svc");
}

#[test]
fn onnx_linear_classifier_one_row_matches_onnxruntime() {
    check_against_onnxruntime("linear_classifier_1row");
}

#[test]
fn onnx_trees_with_missing_values_match_onnxruntime() {
    check_against_onnxruntime("trees_missing");
}

#[test]
fn onnx_random_forest_3class_matches_onnxruntime() {
    check_against_onnxruntime("random_forest_3class");
}

#[test]
fn onnx_gradient_boosting_matches_onnxruntime() {
    check_against_onnxruntime("gradient_boosting");
}

#[test]
fn onnx_mlp_matches_onnxruntime() {
    check_against_onnxruntime("mlp");
}

#[test]
fn onnx_forest_100x6_matches_onnxruntime() {
    check_against_onnxruntime("forest_100x6");
}

#[test]
fn onnx_xgboost_matches_onnxruntime() {
    check_against_onnxruntime("xgboost");
}

#[test]
fn onnx_lightgbm_matches_onnxruntime() {
    check_against_onnxruntime("lightgbm");
}

#[test]
fn onnx_metadata_in_oip_terms() {
    let m = load_model(&fixtures().join("logistic_regression.onnx"), "fraud").unwrap();
    let meta = m.metadata();
    assert_eq!(meta.name, "fraud");
    assert_eq!(meta.version, "1");
    assert_eq!(meta.inputs[0].name, "float_input");
    assert_eq!(meta.inputs[0].datatype, DataType::Fp32);
    assert_eq!(meta.n_classes, 2);
    let outs: Vec<(&str, DataType, OutputRole)> = meta
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.datatype, o.role))
        .collect();
    assert_eq!(
        outs,
        [
            ("label", DataType::Int64, OutputRole::Label),
            ("probabilities", DataType::Fp32, OutputRole::Probabilities)
        ]
    );
    assert_eq!(meta.outputs[1].shape, vec![-1, 2]);
    let json = serde_json::to_value(meta).unwrap();
    assert_eq!(json["inputs"][0]["datatype"], "FP32");
    assert_eq!(json["inputs"][0]["shape"], serde_json::json!([-1, 4]));
}

#[test]
fn onnx_batch_of_wrong_width_is_an_error() {
    let m = load_model(&fixtures().join("mlp.onnx"), "mlp").unwrap();
    let mut s = Scores::new();
    let e = m
        .score(Batch::new(&[1.0, 2.0, 3.0], 1).unwrap(), &mut s)
        .unwrap_err();
    assert!(matches!(e, InferError::Batch { .. }), "{e}");
    assert!(e.to_string().contains("takes 4"), "{e}");
    m.score(Batch::new(&[], 0).unwrap(), &mut s).unwrap();
    assert!(s.is_empty());
}

#[test]
fn onnx_model_is_shared_across_threads() {
    let m: std::sync::Arc<dyn Model> =
        load_model(&fixtures().join("random_forest_3class.onnx"), "rf")
            .unwrap()
            .into();
    let r = reference("random_forest_3class");
    let want: Vec<i64> = flat(&r.outputs["label"])
        .iter()
        .map(|&x| x as i64)
        .collect();
    std::thread::scope(|s| {
        for _ in 0..2 {
            let m = m.clone();
            let (inputs, want) = (&r.inputs, &want);
            s.spawn(move || {
                let mut out = Scores::new();
                for _ in 0..20 {
                    m.score(Batch::new(inputs, 16).unwrap(), &mut out).unwrap();
                    assert_eq!(&out.labels, want);
                }
            });
        }
    });
}

// ------------------------------------------------------------------ native

fn params(kv: &[(&str, &str)]) -> Params {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn native_snapshot_scores_as_anymodel() {
    let dir = Tmp::new("native_snapshot_scores_as_anymodel");
    let mut m = build("logistic_regression", &params(&[("scaler", "standard")])).unwrap();
    for i in 0..200 {
        let x = [(i % 7) as f64, (i % 5) as f64 - 2.0, (i % 3) as f64];
        let y = if x[0] - x[1] > 2.0 { 1.0 } else { 0.0 };
        m.learn_one(&x, y).unwrap();
    }
    let path = dir.join("native_lr.json");
    m.save(&path).unwrap();
    let loaded = load_model(&path, "lr").unwrap();
    assert_eq!(loaded.metadata().platform, "eddy_native");
    assert_eq!(loaded.metadata().task, Task::Classification);
    let rows: Vec<f64> = (0..30).map(|i| (i as f64 * 0.37).sin() * 4.0).collect();
    let mut s = Scores::new();
    loaded
        .score(Batch::new(&rows, 10).unwrap(), &mut s)
        .unwrap();
    let mut p = Vec::new();
    for (i, x) in rows.chunks(3).enumerate() {
        m.predict_proba_one(x, &mut p);
        assert_eq!(s.proba(i).unwrap(), p.as_slice());
        assert_eq!(s.scores[i], p[1]);
        assert_eq!(s.labels[i] as f64, m.predict_one(x));
    }

    // A regressor, too.
    let mut r = build("linear_regression", &Params::new()).unwrap();
    for i in 0..50 {
        let x = [i as f64 / 10.0, 1.0];
        r.learn_one(&x, 2.0 * x[0] + 1.0).unwrap();
    }
    let rp = dir.join("native_linreg.json");
    r.save(&rp).unwrap();
    let lr = load_model(&rp, "linreg").unwrap();
    assert_eq!(lr.metadata().task, Task::Regression);
    lr.score(Batch::new(&[0.5, 1.0, 3.0, 1.0], 2).unwrap(), &mut s)
        .unwrap();
    assert_eq!(
        s.scores,
        [r.predict_one(&[0.5, 1.0]), r.predict_one(&[3.0, 1.0])]
    );
    assert!(s.labels.is_empty() && s.probabilities.is_empty());
}

fn known_logistic() -> AnyModel {
    let mut m = build("logistic_regression", &Params::new()).unwrap();
    let lr = m.downcast_mut::<LogisticRegression>().expect("logistic");
    lr.glm.weights = vec![0.5, -1.0];
    lr.glm.intercept = 0.25;
    m
}

#[test]
fn native_logistic_hand_computed() {
    let dir = Tmp::new("native_logistic_hand_computed");
    let path = dir.join("known_lr.json");
    known_logistic().save(&path).unwrap();
    let m = load_model_with(
        &path,
        "known",
        &LoadOptions {
            features: Some(vec!["a".into(), "b".into()]),
            version: Some("7".into()),
        },
    )
    .unwrap();
    assert_eq!(m.metadata().version, "7");
    let mut s = Scores::new();
    // z = 0.5*2 - 1*1 + 0.25 = 0.25; z = 0.5*0 - 1*3 + 0.25 = -2.75
    m.score(Batch::new(&[2.0, 1.0, 0.0, 3.0], 2).unwrap(), &mut s)
        .unwrap();
    let want = [0.5621765008857981, 0.060086650174007626];
    for (g, w) in s.scores.iter().zip(want) {
        assert!((g - w).abs() < 1e-15, "{g} vs {w}");
    }
    assert_eq!(s.labels, [1, 0]);
    assert!((s.proba(1).unwrap()[0] - (1.0 - want[1])).abs() < 1e-15);
    // The declared width is enforced.
    let e = m.score(Batch::row(&[1.0, 2.0, 3.0]), &mut s).unwrap_err();
    assert!(matches!(e, InferError::Batch { .. }), "{e}");
}

#[test]
fn native_features_from_sidecar_or_any_width() {
    let dir = Tmp::new("native_features_from_sidecar_or_any_width");
    let path = dir.join("sidecar_lr.json");
    known_logistic().save(&path).unwrap();
    // No sidecar: any width of numeric features.
    let m = load_model(&path, "m").unwrap();
    assert!(m.metadata().features.is_empty());
    assert_eq!(m.metadata().inputs[0].shape, vec![-1, -1]);
    let ok = m
        .check_inputs(&[
            FeatureSpec::new("p", DataType::Fp64),
            FeatureSpec::new("q", DataType::Int64),
        ])
        .unwrap();
    assert!(ok.is_identity());
    let e = m
        .check_inputs(&[FeatureSpec::new("city", DataType::Bytes)])
        .unwrap_err();
    assert!(matches!(e, InferError::FeatureType { .. }), "{e}");
    // With a sidecar: names are checked.
    std::fs::write(dir.join("sidecar_lr.features.json"), r#"["a", "b"]"#).unwrap();
    let m = load_model(&path, "m").unwrap();
    assert_eq!(m.metadata().inputs[0].shape, vec![-1, 2]);
    let map = m
        .check_inputs(&[
            FeatureSpec::new("b", DataType::Fp64),
            FeatureSpec::new("a", DataType::Fp64),
        ])
        .unwrap();
    assert_eq!(map.order, [1, 0]);
}

// ------------------------------------------------------------------ input mapping

fn fraud_features() -> Vec<FeatureSpec> {
    ["amount", "hour", "velocity", "distance"]
        .iter()
        .map(|n| FeatureSpec::new(*n, DataType::Fp64))
        .collect()
}

#[test]
fn input_mapping_accepts_matching_features() {
    let m = load_model(&fixtures().join("gradient_boosting.onnx"), "gb").unwrap();
    let map = m.check_inputs(&fraud_features()).unwrap();
    assert!(map.is_identity());
    let mut rev = fraud_features();
    rev.reverse();
    assert_eq!(m.check_inputs(&rev).unwrap().order, [3, 2, 1, 0]);
}

#[test]
fn input_mapping_wrong_name() {
    let m = load_model(&fixtures().join("gradient_boosting.onnx"), "gb").unwrap();
    let mut f = fraud_features();
    f[3].name = "dist".into();
    let e = m.check_inputs(&f).unwrap_err();
    assert!(matches!(e, InferError::MissingFeature { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("expects feature `distance`"), "{msg}");
    assert!(msg.contains("dist: FP64"), "{msg}");
}

#[test]
fn input_mapping_wrong_count() {
    let m = load_model(&fixtures().join("gradient_boosting.onnx"), "gb").unwrap();
    let f = &fraud_features()[..3];
    let e = m.check_inputs(f).unwrap_err();
    assert!(matches!(e, InferError::FeatureCount { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("takes 4 features"), "{msg}");
    assert!(msg.contains("distance: FP32"), "{msg}");
    assert!(msg.contains("supplies 3"), "{msg}");
}

#[test]
fn input_mapping_wrong_type() {
    let m = load_model(&fixtures().join("gradient_boosting.onnx"), "gb").unwrap();
    let mut f = fraud_features();
    f[1].datatype = DataType::Bytes;
    let e = m.check_inputs(&f).unwrap_err();
    assert!(matches!(e, InferError::FeatureType { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("feature `hour` expects FP32"), "{msg}");
    assert!(msg.contains("supplies BYTES"), "{msg}");
}

#[test]
fn sidecar_with_wrong_count_is_refused_at_load() {
    let e = load_model_with(
        &fixtures().join("mlp.onnx"),
        "mlp",
        &LoadOptions {
            features: Some(vec!["a".into()]),
            version: None,
        },
    )
    .unwrap_err();
    assert!(matches!(e, InferError::Signature { .. }), "{e}");
}

// ------------------------------------------------------------------ bad files

#[test]
fn missing_files_are_io_errors() {
    let dir = Tmp::new("missing_files_are_io_errors");
    for f in ["nope.onnx", "nope.json"] {
        let e = load_model(&dir.join(f), "x").unwrap_err();
        assert!(matches!(e, InferError::Io { .. }), "{e}");
    }
}

#[test]
fn unknown_extension_is_refused() {
    let e = load_model(Path::new("model.pkl"), "x").unwrap_err();
    assert!(matches!(e, InferError::UnknownFormat { .. }), "{e}");
}

#[test]
fn corrupt_onnx_is_an_onnx_error() {
    let dir = Tmp::new("corrupt_onnx_is_an_onnx_error");
    let p = dir.join("corrupt.onnx");
    std::fs::write(&p, b"this is not a protobuf \xff\xfe\x00\x01 at all").unwrap();
    let e = load_model(&p, "x").unwrap_err();
    assert!(matches!(e, InferError::Onnx { .. }), "{e}");
    // Truncated real model.
    let bytes = std::fs::read(fixtures().join("random_forest_3class.onnx")).unwrap();
    let p = dir.join("truncated.onnx");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_model(&p, "x").unwrap_err();
    assert!(matches!(e, InferError::Onnx { .. }), "{e}");
}

#[test]
fn wrong_snapshot_kind_is_refused() {
    let dir = Tmp::new("wrong_snapshot_kind_is_refused");
    let rec = build_recommender("funk_mf", &Params::new()).unwrap();
    let p = dir.join("funk.json");
    rec.save(&p).unwrap();
    let e = load_model(&p, "x").unwrap_err();
    assert!(matches!(e, InferError::WrongKind { .. }), "{e}");
    assert!(e.to_string().contains("funk_mf"), "{e}");

    let p = dir.join("notsnap.json");
    std::fs::write(&p, r#"{"hello": 1}"#).unwrap();
    let e = load_model(&p, "x").unwrap_err();
    assert!(matches!(e, InferError::Snapshot { .. }), "{e}");

    let p = dir.join("garbage.json");
    std::fs::write(&p, "{not json").unwrap();
    let e = load_model(&p, "x").unwrap_err();
    assert!(matches!(e, InferError::Snapshot { .. }), "{e}");
}
