//! The embedded inference pattern: a `[model]` scored on each per-event row.

mod common;

use common::{
    check_predictions, csv_input, embedded, jsonl_input, run, spec_text, tmp_dir, trained,
    write_spec,
};
use eddy_runtime::{Pipeline, PipelineSpec, RuntimeError};
use serde_json::Value;

#[test]
fn predictions_match_the_model_recomputed_from_emitted_features() {
    let dir = tmp_dir("match");
    let m = trained(&dir);
    // Inputs in an order other than the spec's features, to exercise the mapping.
    let inputs = ["sx", "n", "my"];
    for (format, input) in [("jsonl", jsonl_input()), ("csv", csv_input())] {
        let path = write_spec(&dir, &spec_text(format, &embedded(r#"["sx", "n", "my"]"#)));
        let spec = PipelineSpec::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            spec.model.as_ref().unwrap().path(),
            Some(dir.join("fraud_lr.json").as_path())
        );
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
    let path = write_spec(&dir, &spec_text("jsonl", &embedded(r#"["sx", "n", "my"]"#)));
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
    let path = write_spec(
        &dir,
        &spec_text("jsonl", &embedded(r#"["sx", "nope", "my"]"#)),
    );
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
    let path = write_spec(&dir, &spec_text("jsonl", &embedded(r#"["sx", "n"]"#)));
    let spec = PipelineSpec::from_file(&path).unwrap();
    let Err(RuntimeError::Spec(errs)) = Pipeline::new(spec) else {
        panic!("a wrong input count was accepted")
    };
    assert!(errs.has_path("model.inputs"), "{errs}");
}

#[test]
fn model_field_names_the_member_that_holds_the_prediction() {
    let dir = tmp_dir("field");
    let m = trained(&dir);
    let model = format!("{}field = \"fraud\"\n", embedded(r#"["sx", "n", "my"]"#));
    let path = write_spec(&dir, &spec_text("jsonl", &model));
    let spec = PipelineSpec::from_file(&path).unwrap();
    let (s, events) = run(spec, &jsonl_input());
    let mut p = Vec::new();
    let mut seen = 0;
    for line in events.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v.get("prediction").is_none(), "{line}");
        if v["scored"] == Value::Bool(false) {
            assert_eq!(v["fraud"], Value::Null, "{line}");
            continue;
        }
        let f = &v["features"];
        let x: Vec<f64> = ["sx", "n", "my"]
            .iter()
            .map(|n| f[*n].as_f64().unwrap())
            .collect();
        m.predict_proba_one(&x, &mut p);
        assert_eq!(v["fraud"]["score"].as_f64().unwrap(), p[1], "{line}");
        seen += 1;
    }
    assert_eq!(seen, s.scored);
    assert!(seen > 0);
    // `features` and `scored` are taken.
    let bad = format!("{}field = \"scored\"\n", embedded(r#"["sx"]"#));
    let e = PipelineSpec::parse(&spec_text("jsonl", &bad)).unwrap_err();
    assert!(e.has_path("model.field"), "{e}");
}

#[test]
fn csv_output_carries_the_prediction_in_columns() {
    let dir = tmp_dir("csv_out");
    let m = trained(&dir);
    let model = format!(
        "{}[output]\nformat = \"csv\"\n",
        embedded(r#"["sx", "n", "my"]"#)
    );
    let path = write_spec(&dir, &spec_text("jsonl", &model));
    let spec = PipelineSpec::from_file(&path).unwrap();
    let (s, events) = run(spec, &jsonl_input());
    let mut lines = events.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header[header.len() - 7..],
        [
            "prediction.score",
            "prediction.label",
            "prediction.model",
            "prediction.version",
            "prediction.latency_us",
            "prediction.fallback",
            "scored"
        ]
    );
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (mut scored, mut unscored) = (0, 0);
    let mut p = Vec::new();
    for line in lines {
        // No feature of this spec is a sequence, so no cell holds a comma.
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), header.len(), "{line}");
        let x: Vec<Option<f64>> = ["sx", "n", "my"]
            .iter()
            .map(|n| cells[col(n)].parse().ok())
            .collect();
        if x.iter().any(Option::is_none) {
            assert_eq!(cells[col("scored")], "false", "{line}");
            assert!(cells[col("prediction.score")].is_empty(), "{line}");
            unscored += 1;
            continue;
        }
        let x: Vec<f64> = x.into_iter().flatten().collect();
        m.predict_proba_one(&x, &mut p);
        assert_eq!(cells[col("scored")], "true", "{line}");
        let score: f64 = cells[col("prediction.score")].parse().unwrap();
        assert_eq!(score, p[1], "{line}");
        let label: f64 = cells[col("prediction.label")].parse().unwrap();
        assert_eq!(label, m.predict_one(&x), "{line}");
        assert_eq!(cells[col("prediction.model")], "fraud_lr");
        assert_eq!(cells[col("prediction.version")], "1");
        assert!(cells[col("prediction.latency_us")].parse::<u64>().is_ok());
        assert!(cells[col("prediction.fallback")].is_empty());
        scored += 1;
    }
    assert_eq!((s.scored, s.unscored), (scored, unscored));
    assert!(scored > 0 && unscored > 0);
}
