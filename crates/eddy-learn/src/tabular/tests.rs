use super::*;
use crate::drift;
use crate::registry::{self, Params};
use crate::traits::{Metric, Task};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn classes(map: &mut LabelMap, fields: &[Field]) -> Vec<Result<f64, Problem>> {
    fields.iter().map(|f| map.class(*f)).collect()
}

#[test]
fn integer_labels_are_class_numbers_as_written() {
    let mut m = LabelMap::new();
    assert_eq!(m.labels(), None);
    let got = classes(
        &mut m,
        &[
            Field::Text(" 3 "),
            Field::NumText("0", 0.0),
            Field::Num(2.0),
            Field::Text("10000"),
            Field::Text("10001"),
            Field::Text("cat"),
            Field::Text("1.0"),
            Field::Num(1.5),
            Field::Text("-1"),
            Field::Text("true"),
            Field::Text(" "),
            Field::Missing,
        ],
    );
    assert_eq!(
        got,
        vec![
            Ok(3.0),
            Ok(0.0),
            Ok(2.0),
            Ok(10000.0),
            Err(Problem::ClassTooLarge(10001)),
            Err(Problem::NotAnInteger("cat".into())),
            Err(Problem::NotAnInteger("1.0".into())),
            Err(Problem::NotAClassLabel("1.5".into())),
            Err(Problem::NotAnInteger("-1".into())),
            Err(Problem::NotAnInteger("true".into())),
            Err(Problem::MissingTarget),
            Err(Problem::MissingTarget),
        ]
    );
    assert_eq!(m.labels(), Some(&Labels::Int));
    assert_eq!(
        Problem::NotAnInteger("cat".into()).to_string(),
        "label `cat` is not a non-negative integer like the earlier labels"
    );
    assert_eq!(
        Problem::ClassTooLarge(10001).to_string(),
        "class label 10001 is above 10000"
    );
    assert_eq!(m.label(3.0).as_deref(), Some("3"));
    assert_eq!(m.label(0.5), None);
    assert_eq!(m.label(-1.0), None);
    // A number that is an integer reads as one, whatever its size.
    let mut big = LabelMap::new();
    assert_eq!(
        big.class(Field::Num(1e20)),
        Err(Problem::ClassTooLarge(u64::MAX))
    );
}

#[test]
fn boolean_labels_are_one_and_zero() {
    let mut m = LabelMap::new();
    let got = classes(
        &mut m,
        &[
            Field::Text("False"),
            Field::Text(" TRUE "),
            Field::Text("true"),
            Field::Text("1"),
            Field::Num(1.0),
            Field::Text("yes"),
        ],
    );
    assert_eq!(
        got,
        vec![
            Ok(0.0),
            Ok(1.0),
            Ok(1.0),
            Err(Problem::NotABool("1".into())),
            Err(Problem::NotABool("1".into())),
            Err(Problem::NotABool("yes".into())),
        ]
    );
    assert_eq!(
        Problem::NotABool("1".into()).to_string(),
        "label `1` is not true/false like the earlier labels"
    );
    assert_eq!(m.labels(), Some(&Labels::Bool));
    assert_eq!(m.label(0.0).as_deref(), Some("false"));
    assert_eq!(m.label(1.0).as_deref(), Some("true"));
    assert_eq!(m.label(2.0), None);
}

#[test]
fn named_labels_are_numbered_by_first_appearance() {
    let mut m = LabelMap::new();
    let got = classes(
        &mut m,
        &[
            Field::Text("no"),
            Field::Text("yes"),
            Field::Text(" no"),
            Field::Text("maybe"),
            // Once labels are names, integers and booleans are names too.
            Field::NumText("3", 3.0),
            Field::Num(3.0),
            Field::Text("true"),
            Field::Text(""),
        ],
    );
    assert_eq!(
        got,
        vec![
            Ok(0.0),
            Ok(1.0),
            Ok(0.0),
            Ok(2.0),
            Ok(3.0),
            Ok(3.0),
            Ok(4.0),
            Err(Problem::MissingTarget),
        ]
    );
    assert_eq!(
        m.labels(),
        Some(&Labels::Names(names(&["no", "yes", "maybe", "3", "true"])))
    );
    assert_eq!(m.label(2.0).as_deref(), Some("maybe"));
    assert_eq!(m.label(5.0), None);
    // Serialised as the snapshot section holds it.
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        r#"{"Names":["no","yes","maybe","3","true"]}"#
    );
    assert_eq!(serde_json::to_string(&LabelMap::new()).unwrap(), "null");
    let back: LabelMap = serde_json::from_str(r#""Int""#).unwrap();
    assert_eq!(back.labels(), Some(&Labels::Int));
}

#[test]
fn named_labels_stop_at_the_limit() {
    let mut m = LabelMap::new();
    for i in 0..MAX_CLASS {
        assert_eq!(m.class(Field::Text(&format!("c{i}"))), Ok(i as f64));
    }
    assert_eq!(m.class(Field::Text("c0")), Ok(0.0));
    assert_eq!(
        m.class(Field::Text("one more")),
        Err(Problem::TooManyLabels)
    );
    assert_eq!(
        Problem::TooManyLabels.to_string(),
        "more than 10000 distinct labels"
    );
}

fn encoder(header: &[String], task: Task, spec: &ColumnSpec) -> (ExampleEncoder, Layout) {
    let enc = ExampleEncoder::new("y", task, header, spec).unwrap();
    let layout = enc.layout(header).unwrap();
    (enc, layout)
}

fn texts<'a>(v: &[&'a str]) -> Vec<Field<'a>> {
    v.iter().map(|s| Field::Text(s)).collect()
}

#[test]
fn columns_are_typed_by_their_first_value() {
    // Input order: id (ignored), x, y (target), color.
    let header = names(&["id", "x", "y", "color"]);
    let spec = ColumnSpec {
        ignore: names(&["id"]),
        ..Default::default()
    };
    let (mut enc, layout) = encoder(&header, Task::Classification, &spec);
    assert_eq!(layout.target(), 2);
    assert_eq!(layout.width(), 4);
    assert_eq!(layout.features(), [None, Some(0), None, Some(1)]);
    let kinds = |e: &ExampleEncoder| e.columns().iter().map(|c| c.kind()).collect::<Vec<_>>();
    assert_eq!(kinds(&enc), [ColKind::Undecided, ColKind::Undecided]);

    let mut row = Row::default();
    let y = enc.encode(&texts(&["a", " 1.5 ", "1", "red"]), &layout, &mut row);
    assert_eq!(y, Ok(1.0));
    assert_eq!(row.cells(), [Cell::Num(1.5), Cell::Cat("red".into())]);
    assert_eq!(row.numeric(), None);
    assert_eq!(kinds(&enc), [ColKind::Numeric, ColKind::Categorical]);

    // A categorical column stays one: numbers are categories, by their text.
    let fields = [
        Field::Text("b"),
        Field::NumText("2", 2.0),
        Field::Num(0.0),
        Field::Num(7.0),
    ];
    assert_eq!(enc.encode(&fields, &layout, &mut row), Ok(0.0));
    assert_eq!(row.cells(), [Cell::Num(2.0), Cell::Cat("7".into())]);
    let fields = [
        Field::Missing,
        Field::Num(-3.0),
        Field::Num(1.0),
        Field::Missing,
    ];
    assert_eq!(enc.encode(&fields, &layout, &mut row), Ok(1.0));
    assert_eq!(row.cells(), [Cell::Num(-3.0), Cell::Cat(String::new())]);

    // Bad rows, each naming its column; the encoder is left as it was.
    let before = serde_json::to_string(&enc).unwrap();
    let cases: [(&[&str], &str, Problem); 5] = [
        (
            &["c", "abc", "1", "red"],
            "x",
            Problem::NotANumber("abc".into()),
        ),
        (&["c", "", "1", "red"], "x", Problem::MissingValue),
        (&["c", "1", "", "red"], "y", Problem::MissingTarget),
        (
            &["c", "1", "cat", "red"],
            "y",
            Problem::NotAnInteger("cat".into()),
        ),
        (
            &["c", "1", "2.5", "red"],
            "y",
            Problem::NotAClassLabel("2.5".into()),
        ),
    ];
    for (fields, column, problem) in cases {
        let e = enc.encode(&texts(fields), &layout, &mut row).unwrap_err();
        assert_eq!(
            e,
            BadField {
                column: column.into(),
                problem
            },
            "{fields:?}"
        );
    }
    for t in ["NaN", "inf", "-infinity"] {
        let e = enc
            .encode(&texts(&["c", t, "1", "red"]), &layout, &mut row)
            .unwrap_err();
        assert!(matches!(e.problem, Problem::NotFinite(_)), "{e}");
    }
    let e = enc
        .encode(&texts(&["c", "inf", "1", "red"]), &layout, &mut row)
        .unwrap_err();
    assert_eq!(e.to_string(), "column `x`: inf is not a finite number");
    // A short row: the fields not there are missing.
    let e = enc
        .encode(&texts(&["c", "1"]), &layout, &mut row)
        .unwrap_err();
    assert_eq!(e.problem, Problem::MissingTarget);
    assert_eq!(serde_json::to_string(&enc).unwrap(), before);
}

#[test]
fn a_bad_first_row_decides_no_column() {
    let header = names(&["a", "b", "y"]);
    let (mut enc, layout) = encoder(&header, Task::Regression, &ColumnSpec::default());
    let mut row = Row::default();
    // `a` would be numeric, but `b` is missing: neither is decided.
    let e = enc
        .encode(&texts(&["1", " ", "0.5"]), &layout, &mut row)
        .unwrap_err();
    assert_eq!(
        (e.column.as_str(), &e.problem),
        ("b", &Problem::MissingValue)
    );
    assert!(enc.columns().iter().all(|c| c.kind() == ColKind::Undecided));
    // Then `a` is categorical after all, `b` numeric; the target is a number.
    assert_eq!(
        enc.encode(&texts(&["x", "2", "-0.5"]), &layout, &mut row),
        Ok(-0.5)
    );
    assert_eq!(row.cells(), [Cell::Cat("x".into()), Cell::Num(2.0)]);
    let e = enc.encode(&texts(&["x", "2", "y"]), &layout, &mut row);
    assert_eq!(
        e.unwrap_err().problem,
        Problem::NotANumber("y".into()),
        "a regression target is a number"
    );
    let e = enc.encode(&texts(&["x", "2", ""]), &layout, &mut row);
    assert_eq!(e.unwrap_err().problem, Problem::MissingValue);
}

#[test]
fn declared_categorical_columns_and_fill_values() {
    let header = names(&["zip", "n", "y"]);
    let spec = ColumnSpec {
        categorical: names(&["zip"]),
        ..Default::default()
    };
    let (mut enc, layout) = encoder(&header, Task::Classification, &spec);
    assert!(enc.columns()[0].is_forced_categorical());
    let mut row = Row::default();
    // A declared categorical column takes a missing value as the category "".
    assert_eq!(
        enc.encode(&texts(&["", "1", "0"]), &layout, &mut row),
        Ok(0.0)
    );
    assert_eq!(row.cells(), [Cell::Cat(String::new()), Cell::Num(1.0)]);
    let fields = [
        Field::NumText(" 01234 ", 1234.0),
        Field::Missing,
        Field::Num(1.0),
    ];
    assert_eq!(
        enc.encode(&fields, &layout, &mut row).unwrap_err(),
        BadField {
            column: "n".into(),
            problem: Problem::MissingValue
        }
    );
    // With a fill value, a missing feature value is that number (in a categorical column,
    // its text); a missing target is still a bad row.
    enc.set_fill_missing(Some(-1.0)).unwrap();
    assert_eq!(enc.encode(&fields, &layout, &mut row), Ok(1.0));
    assert_eq!(row.cells(), [Cell::Cat("01234".into()), Cell::Num(-1.0)]);
    let fields = [Field::Missing, Field::Text("  "), Field::Num(0.0)];
    assert_eq!(enc.encode(&fields, &layout, &mut row), Ok(0.0));
    assert_eq!(row.cells(), [Cell::Cat("-1".into()), Cell::Num(-1.0)]);
    let fields = [Field::Text("a"), Field::Num(2.0), Field::Missing];
    assert_eq!(
        enc.encode(&fields, &layout, &mut row).unwrap_err().problem,
        Problem::MissingTarget
    );
    assert_eq!(
        enc.set_fill_missing(Some(f64::NAN))
            .unwrap_err()
            .to_string(),
        "the value for missing features must be a finite number, not NaN"
    );
}

#[test]
fn numeric_rows_are_raw_values_as_they_are() {
    let header = names(&["y", "a", "b"]);
    let (mut enc, layout) = encoder(&header, Task::Regression, &ColumnSpec::default());
    let mut row = Row::default();
    let fields = [Field::Num(1.0), Field::Num(2.0), Field::NumText("3", 3.0)];
    assert_eq!(enc.encode(&fields, &layout, &mut row), Ok(1.0));
    use crate::preprocessing::RawValue;
    assert_eq!(
        row.numeric(),
        Some(&[RawValue::Num(2.0), RawValue::Num(3.0)][..])
    );
    let mut copy = Row::default();
    copy.clone_from(&row);
    assert_eq!(copy, row);
    // Once the types are decided, rows take one pass: the same values and the same errors.
    let fields = [Field::Text("0.5"), Field::Text(" -2 "), Field::Num(4.0)];
    assert_eq!(enc.encode(&fields, &layout, &mut row), Ok(0.5));
    assert_eq!(row.cells(), [Cell::Num(-2.0), Cell::Num(4.0)]);
    assert_eq!(
        row.numeric(),
        Some(&[RawValue::Num(-2.0), RawValue::Num(4.0)][..])
    );
    let bad = |fields: &[Field], row: &mut Row, enc: &mut ExampleEncoder| {
        let e = enc.encode(fields, &layout, row).unwrap_err();
        (e.column, e.problem)
    };
    assert_eq!(
        bad(
            &[Field::Num(1.0), Field::Text("x"), Field::Text("y")],
            &mut row,
            &mut enc
        ),
        ("a".to_string(), Problem::NotANumber("x".into()))
    );
    assert_eq!(
        bad(&[Field::Num(1.0), Field::Num(1.0)], &mut row, &mut enc),
        ("b".to_string(), Problem::MissingValue)
    );
    assert_eq!(
        bad(
            &[Field::Num(1.0), Field::Num(f64::NAN), Field::Num(1.0)],
            &mut row,
            &mut enc
        )
        .0,
        "a"
    );
    // A number the reader parsed is taken only if finite.
    assert_eq!(
        bad(
            &[
                Field::Num(1.0),
                Field::NumText("1e999", f64::INFINITY),
                Field::Num(1.0)
            ],
            &mut row,
            &mut enc
        ),
        ("a".to_string(), Problem::NotFinite(f64::INFINITY))
    );
    enc.set_fill_missing(Some(9.0)).unwrap();
    assert_eq!(
        enc.encode(&[Field::Num(1.0), Field::Text("")], &layout, &mut row),
        Ok(1.0)
    );
    assert_eq!(row.cells(), [Cell::Num(9.0), Cell::Num(9.0)]);
    assert_eq!(row.numeric().map(<[_]>::len), Some(2));
}

#[test]
fn setup_errors_name_the_column() {
    let header = names(&["a", "b", "y"]);
    let e =
        ExampleEncoder::new("z", Task::Regression, &header, &ColumnSpec::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "target column `z` is not in the input; columns: a, b, y"
    );
    let spec = ColumnSpec {
        categorical: names(&["c"]),
        only: names(&["d"]),
        ignore: names(&["e"]),
    };
    let e = ExampleEncoder::new("y", Task::Regression, &header, &spec).unwrap_err();
    assert_eq!(
        e,
        SetupError::NotInInput {
            list: ColumnList::Categorical,
            column: "c".into(),
            columns: header.clone()
        }
    );
    let spec = ColumnSpec {
        only: names(&["a"]),
        ignore: names(&["e"]),
        ..Default::default()
    };
    let e = ExampleEncoder::new("y", Task::Regression, &header, &spec).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ignored column `e` is not in the input; columns: a, b, y"
    );
    // `only` narrows the features; the encoder lays over an input with its columns in any
    // order and more besides, not one without them.
    let spec = ColumnSpec {
        only: names(&["b"]),
        ..Default::default()
    };
    let enc = ExampleEncoder::new("y", Task::Regression, &header, &spec).unwrap();
    assert_eq!(enc.columns().len(), 1);
    let l = enc.layout(&names(&["y", "q", "b"])).unwrap();
    assert_eq!((l.features(), l.target()), (&[None, None, Some(0)][..], 0));
    assert_eq!(
        enc.layout(&names(&["y", "a"])).unwrap_err().to_string(),
        "column `b` (seen by the saved model) is not in the input"
    );
    assert!(matches!(
        enc.layout(&names(&["b"])),
        Err(SetupError::NoTarget { .. })
    ));
}

#[test]
fn encoder_serialises_as_the_snapshot_section_holds_it() {
    let header = names(&["x", "c", "y"]);
    let (mut enc, layout) = encoder(&header, Task::Classification, &ColumnSpec::default());
    let mut row = Row::default();
    enc.encode(&texts(&["1", "u", "yes"]), &layout, &mut row)
        .unwrap();
    let json = serde_json::to_string(&enc).unwrap();
    assert_eq!(
        json,
        r#"{"target":"y","task":"classification","columns":[{"name":"x","kind":"Numeric","force_categorical":false},{"name":"c","kind":"Categorical","force_categorical":false}],"labels":{"Names":["yes"]}}"#
    );
    let back: ExampleEncoder = serde_json::from_str(&json).unwrap();
    assert_eq!(back.task(), Task::Classification);
    assert_eq!(back.target(), "y");
    assert_eq!(back.labels().label(0.0).as_deref(), Some("yes"));
}

#[test]
fn a_run_with_a_delay_learns_the_rows_as_scored() {
    // A categorical feature only: one-hot slots, logistic regression.
    let header = names(&["c", "y"]);
    let (mut enc, layout) = encoder(&header, Task::Classification, &ColumnSpec::default());
    let model = registry::build("logistic_regression", &Params::new()).unwrap();
    let det = drift::build("ddm", &Params::new()).unwrap();
    let ms = build_metrics(&model, &names(&["accuracy", "rolling(2):accuracy"])).unwrap();
    let mut run = PrequentialRun::new(model, ms, Some(det), 2, 2).unwrap();
    let mut row = Row::default();
    let mut steps = Vec::new();
    for (c, y) in [("a", "1"), ("b", "0"), ("a", "1"), ("b", "0")] {
        let y = enc.encode(&texts(&[c, y]), &layout, &mut row).unwrap();
        steps.push(run.step(&row, y));
    }
    // Scored 4, learned the first 2 (the others wait for their labels).
    assert_eq!((run.n(), run.n_learned()), (4, 2));
    assert_eq!(
        steps.iter().map(|s| (s.n, s.report)).collect::<Vec<_>>(),
        [(1, false), (2, true), (3, false), (4, true)]
    );
    let mut flushed = Vec::new();
    while let Some(s) = run.flush() {
        flushed.push(s.n);
    }
    assert_eq!(flushed, [4, 4]);
    assert_eq!(run.n_learned(), 4);
    // By hand: rows 1–3 are scored before any learning: a tie, class 0 — row 1 (label 1)
    // missed, row 2 (0) hit, row 3 (1) missed. Row 4 (`b`) is scored after learning only
    // row 1 (`a` → 1, P = 0.5): `a`'s one-hot slot weighs 0.01·0.5 = 0.005, the intercept
    // 0.005, and `b` has no slot yet, so z = 0.005 > 0: class 1, label 0, missed.
    assert_eq!(run.metrics()[0].get(), 0.25);
    assert_eq!(run.metrics()[1].get(), 0.0, "the last two: rows 3 and 4");
    assert_eq!(run.refused(), 0);
    let (model, det) = run.into_parts();
    assert_eq!(model.name, "logistic_regression");
    assert!(det.is_some());
}

#[test]
fn runs_refuse_metrics_and_detectors_of_the_other_task() {
    let reg = registry::build("linear_regression", &Params::new()).unwrap();
    let e = build_metrics(&reg, &names(&["mae", "accuracy"])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "metric `accuracy` is for classification but `linear_regression` is a regression"
    );
    assert!(matches!(
        build_metrics(&reg, &names(&["nope"])),
        Err(RunError::Metric(_))
    ));
    let ms = build_metrics(&reg, &[]).unwrap();
    assert_eq!(
        ms.iter().map(|m| m.label()).collect::<Vec<_>>(),
        ["mae", "rmse"]
    );
    let ddm = drift::build("ddm", &Params::new()).unwrap();
    let e = PrequentialRun::new(reg, ms, Some(ddm), 0, 0).err().unwrap();
    assert_eq!(
        e.to_string(),
        "detector `ddm` watches 0/1 mistakes; a regressor's errors are real numbers: use adwin, page_hinkley or kswin"
    );
}

/// A fractional number is refused whichever way it is written, and decides no mapping: a
/// continuous target is not learned as one class per distinct value.
#[test]
fn fractional_numbers_are_not_class_labels() {
    let mut m = LabelMap::new();
    let got = classes(
        &mut m,
        &[
            Field::Num(0.37),
            Field::NumText("0.5", 0.5),
            Field::Text(" -2.25 "),
        ],
    );
    assert_eq!(
        got,
        vec![
            Err(Problem::NotAClassLabel("0.37".into())),
            Err(Problem::NotAClassLabel("0.5".into())),
            Err(Problem::NotAClassLabel("-2.25".into())),
        ]
    );
    assert_eq!(m.labels(), None);
    assert_eq!(
        Problem::NotAClassLabel("0.37".into()).to_string(),
        "target `0.37` is not a class label; use a regressor for a continuous target"
    );
    let mut named = LabelMap::new();
    assert_eq!(named.class(Field::Text("cat")), Ok(0.0));
    assert_eq!(
        named.class(Field::Text("0.37")),
        Err(Problem::NotAClassLabel("0.37".into()))
    );
    assert_eq!(named.labels(), Some(&Labels::Names(names(&["cat"]))));
}
