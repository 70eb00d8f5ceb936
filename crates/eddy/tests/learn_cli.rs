//! End-to-end tests of `eddy learn` and `eddy drift` through the built binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use eddy_core::rng::Rng;
use eddy_learn::registry::AnyModel;
use eddy_learn::synth::Sea;
use eddy_testutil::Tmp;
use serde_json::Value;

fn eddy(args: &[&str], stdin: Option<&str>) -> Output {
    eddy_in(Path::new("."), args, stdin)
}

/// [`eddy`] in working directory `dir` (a spec's relative outputs land there).
fn eddy_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run eddy");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            // eddy may exit (on a usage error) before reading its input.
            let _ = input.write_all(s.as_bytes());
        }
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "eddy panicked: {err}");
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line `{l}`: {e}")))
        .collect()
}

fn summary(lines: &[Value]) -> &Value {
    &lines.last().expect("a summary line")["summary"]
}

/// A fresh scratch directory for one test, removed when the test ends.
fn scratch(name: &str) -> Tmp {
    Tmp::new(&format!("learn-{name}"))
}

/// SEA (variant 0, 5% noise) as CSV with a categorical column; labels flipped from `flip_at`.
fn sea_csv(n: usize, flip_at: usize, seed: u64) -> String {
    let mut s = String::from("x0,x1,x2,tag,y\n");
    let mut r = Rng::new(seed + 1000);
    for (i, (x, y)) in Sea::new(0, 0.05, seed).unwrap().take(n).enumerate() {
        let y = if i >= flip_at { 1.0 - y } else { y };
        let tag = ["a", "b", "c"][r.below(3) as usize];
        // Features scaled to [0, 1) so plain SGD learns the boundary quickly.
        s.push_str(&format!(
            "{:.5},{:.5},{:.5},{tag},{}\n",
            x[0] / 10.0,
            x[1] / 10.0,
            x[2] / 10.0,
            y as u8
        ));
    }
    s
}

#[test]
fn drift_reports_the_change_point() {
    let mut r = Rng::new(5);
    let mut input = String::new();
    for i in 0..2000 {
        let v = r.normal() * 0.5 + if i < 1000 { 0.0 } else { 2.0 };
        input.push_str(&format!("{v}\n"));
        if i == 10 {
            input.push_str("not-a-number\n"); // line index 11: reported and skipped
        }
    }
    for det in ["adwin", "page_hinkley", "kswin"] {
        let o = eddy(&["drift", "--detector", det], Some(&input));
        assert!(o.status.success(), "{det}: {}", stderr(&o));
        let idx: Vec<usize> = stdout(&o).lines().map(|l| l.parse().unwrap()).collect();
        // The change is at line index 1001 (one bad line before it).
        let first = idx
            .iter()
            .copied()
            .find(|&i| i >= 1001)
            .unwrap_or_else(|| panic!("{det}: {idx:?}"));
        assert!(first - 1001 <= 100, "{det}: first drift at {first}");
        if det != "kswin" {
            assert!(idx.iter().all(|&i| i >= 1001), "{det}: false alarm {idx:?}");
        }
        assert!(
            stderr(&o).contains("line 12 (index 11): `not-a-number` is not a number"),
            "{}",
            stderr(&o)
        );
    }
    // Parameters and warnings: DDM on 0/1 errors whose rate jumps from 0.1 to 0.6.
    let mut bits = String::new();
    for i in 0..3000 {
        let p = if i < 1500 { 0.1 } else { 0.6 };
        bits.push_str(if r.chance(p) { "1\n" } else { "0\n" });
    }
    let o = eddy(
        &[
            "drift",
            "--detector",
            "ddm",
            "--param",
            "drift_threshold=3",
            "--warnings",
        ],
        Some(&bits),
    );
    let out = stdout(&o);
    assert!(out.lines().any(|l| l.starts_with("warning ")), "{out}");
    let first = out
        .lines()
        .filter_map(|l| l.parse::<usize>().ok())
        .find(|&i| i >= 1500)
        .expect("a drift");
    assert!(first < 1700, "{first}");
}

/// A line that is not UTF-8 is a bad line like any other: named, counted and skipped, and
/// the lines after it are read.
#[test]
fn drift_skips_a_line_that_is_not_utf8() {
    let tmp = Tmp::new("drift-utf8");
    let path = tmp.join("in.txt");
    std::fs::write(&path, b"0.5\n1\n\xff\xfe\n2\n3\nabc\n4\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["drift", "--detector", "adwin"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .expect("run eddy");
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("line 3 (index 2): is not UTF-8; skipped"),
        "{err}"
    );
    assert!(
        err.contains("line 6 (index 5): `abc` is not a number; skipped"),
        "{err}"
    );
    assert!(
        err.contains("2 bad line(s) skipped of 7; 0 drift(s)"),
        "{err}"
    );
}

#[test]
fn drift_refuses_unknown_detectors_and_params() {
    let o = eddy(&["drift", "--detector", "adwn"], Some("1\n"));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("adwin, page_hinkley, ddm, eddm, kswin"),
        "{}",
        stderr(&o)
    );
    let o = eddy(
        &["drift", "--detector", "adwin", "--param", "delat=0.1"],
        Some("1\n"),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("delat"), "{}", stderr(&o));
}

#[test]
fn learn_reports_drifts_and_skips_bad_rows() {
    let dir = scratch("reports");
    let mut csv = sea_csv(4000, 2000, 1);
    // Line 6 (data row 5) gets a non-number, line 9 loses its target.
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    lines[5] = "1.0,oops,3.0,a,1".into();
    lines[8] = "1.0,2.0,3.0,a,".into();
    csv = "\u{feff}".to_string() + &lines.join("\n") + "\n"; // with a byte-order mark
    let path = dir.join("sea.csv");
    std::fs::write(&path, csv).unwrap();
    let o = eddy(
        &[
            "learn",
            "--data",
            path.to_str().unwrap(),
            "--target",
            "y",
            "--model",
            "logistic_regression",
            "--param",
            "lr=0.5",
            "--metric",
            "accuracy,rolling(200):accuracy,f1",
            "--every",
            "1000",
            "--drift",
            "adwin",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    let reports: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("accuracy").is_some())
        .collect();
    assert_eq!(
        reports
            .iter()
            .map(|r| r["n"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1000, 2000, 3000]
    );
    // Before the flip the SEA concept is learned well.
    assert!(
        reports[1]["rolling(200):accuracy"].as_f64().unwrap() > 0.8,
        "{:?}",
        reports[1]
    );
    // The flip (at example 1999 after the two skipped rows) is found within 300 examples.
    let drifts: Vec<u64> = lines
        .iter()
        .filter(|l| l["drift"] == "adwin")
        .map(|l| l["n"].as_u64().unwrap())
        .collect();
    assert!(
        drifts.iter().any(|&n| (1998..2300).contains(&n)),
        "{drifts:?}"
    );
    let s = summary(&lines);
    assert_eq!(s["examples"], 3998);
    assert_eq!(s["skipped"], 2);
    assert!(s["examples_per_s"].as_f64().unwrap() > 0.0);
    let err = stderr(&o);
    assert!(
        err.contains("line 6, column `x1`: `oops` is not a number; row skipped"),
        "{err}"
    );
    assert!(
        err.contains("line 9, column `y`: missing target; row skipped"),
        "{err}"
    );
}

#[test]
fn learn_save_then_load_continues_the_same_model() {
    let dir = scratch("resume");
    let csv = sea_csv(3000, usize::MAX, 2);
    let lines: Vec<&str> = csv.lines().collect();
    let (head, rows) = (lines[0], &lines[1..]);
    let write = |name: &str, rows: &[&str]| {
        let p = dir.join(name);
        std::fs::write(&p, format!("{head}\n{}\n", rows.join("\n"))).unwrap();
        p.to_str().unwrap().to_string()
    };
    let (all, first, second) = (
        write("all.csv", rows),
        write("a.csv", &rows[..1200]),
        write("b.csv", &rows[1200..]),
    );
    let snap = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let base = [
        "--target",
        "y",
        "--model",
        "logistic_regression",
        "--every",
        "0",
        "--drift",
        "ddm",
    ];
    let o = eddy(
        &[
            &["learn", "--data", &all, "--save", &snap("full.json")][..],
            &base,
        ]
        .concat(),
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = eddy(
        &[
            &["learn", "--data", &first, "--save", &snap("half.json")][..],
            &base,
        ]
        .concat(),
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = eddy(
        &[
            "learn",
            "--data",
            &second,
            "--load",
            &snap("half.json"),
            "--save",
            &snap("resumed.json"),
            "--every",
            "0",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&json_lines(&o)).clone();
    assert_eq!(s["examples"], 1800);
    assert_eq!(s["examples_total"], 3000);
    // The resumed model (and detector, and encoder) is exactly the one trained in one go.
    let read = |n: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(n)).unwrap()).unwrap()
    };
    let (full, resumed) = (read("full.json"), read("resumed.json"));
    assert!(full["state"]["pipeline"].is_object(), "{full}");
    assert_eq!(full["state"], resumed["state"]);
    assert!(full["eddy_learn"]["detector"].is_object(), "{full}");
    assert_eq!(
        full["eddy_learn"]["detector"],
        resumed["eddy_learn"]["detector"]
    );
    assert_eq!(
        full["eddy_learn"]["encoder"],
        resumed["eddy_learn"]["encoder"]
    );
    // The file is also a plain model snapshot, as pipelines load it.
    let m = AnyModel::load(&dir.join("full.json")).unwrap();
    assert_eq!(m.name, "logistic_regression");
    // And a plain model snapshot can be continued on (with --target).
    m.save(&dir.join("plain.json")).unwrap();
    let o = eddy(
        &[
            "learn",
            "--data",
            &second,
            "--load",
            &snap("plain.json"),
            "--every",
            "0",
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--target is required"),
        "{}",
        stderr(&o)
    );
    let o = eddy(
        &[
            "learn",
            "--data",
            &second,
            "--load",
            &snap("plain.json"),
            "--target",
            "y",
            "--every",
            "0",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(summary(&json_lines(&o))["examples"], 1800);
    // A snapshot cannot be reused for another model.
    let o = eddy(
        &[
            "learn",
            "--data",
            &second,
            "--load",
            &snap("half.json"),
            "--model",
            "gaussian_nb",
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("differs from the snapshot's model"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn learn_reads_jsonl_with_delay_and_regression_metrics() {
    let dir = scratch("jsonl");
    let mut r = Rng::new(3);
    let mut s = String::from("\n"); // a blank first line is skipped
    for _ in 0..2000 {
        let (a, b) = (r.next_f64(), r.next_f64());
        let kind = if r.chance(0.5) { "\"u\"" } else { "\"v\"" };
        s.push_str(&format!(
            "{{\"a\":{a},\"b\":{b},\"k\":{kind},\"y\":{}}}\n",
            3.0 * a - 2.0 * b + 1.0
        ));
    }
    s.push_str("{\"a\":1,\"b\":null,\"k\":\"u\",\"y\":2}\n");
    s.push_str("not json\n");
    let path = dir.join("lin.jsonl");
    std::fs::write(&path, s).unwrap();
    let o = eddy(
        &[
            "learn",
            "--data",
            path.to_str().unwrap(),
            "--target",
            "y",
            "--model",
            "linear_regression",
            "--param",
            "lr=0.05",
            "--metric",
            "mae,fading(0.99):rmse,r2",
            "--every",
            "500",
            "--delay",
            "10",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.iter().filter(|l| l.get("mae").is_some()).count(), 4);
    let s = summary(&lines);
    assert_eq!(s["examples"], 2000);
    assert_eq!(s["skipped"], 2);
    assert!(
        s["metrics"]["fading(0.99):rmse"].as_f64().unwrap() < 0.2,
        "{s}"
    );
    assert!(s["metrics"]["r2"].as_f64().unwrap() > 0.8, "{s}");
    let err = stderr(&o);
    assert!(
        err.contains("line 2002, column `b`: missing value"),
        "{err}"
    );
    // The same message as `eddy run`'s dead letter for the line.
    assert!(
        err.contains("line 2003: malformed JSON at byte 1: "),
        "{err}"
    );
}

/// RFC 4180 CSV read from a file: quoted line breaks (the record keeps its first line number
/// and the next record's count on), doubled quotes, CRLF endings; a bad quote and a wrong
/// field count are bad rows named by line (and column), the rows after them still read.
#[test]
fn learn_reads_rfc4180_csv_records() {
    let dir = scratch("rfc4180");
    let mut csv = String::from("x,\"note\",k,y\r\n");
    let mut r = Rng::new(5);
    for i in 0..400 {
        let x = r.next_f64();
        let y = u8::from(x > 0.5);
        let note = match i % 4 {
            0 => "\"two\nlines\"".to_string(),         // 2 lines
            1 => "\"say \"\"hi\"\", ok\"".to_string(), // doubled quotes, a comma
            2 => "\"\"".to_string(),                   // empty, quoted
            _ => "plain".to_string(),
        };
        let k = if i % 2 == 0 { "\"a\"" } else { "b" };
        csv.push_str(&format!("{x},{note},{k},{y}\r\n"));
    }
    // Lines so far: 1 + 400 + 100 (the two-line notes) = 501.
    csv.push_str("0.7,\"unclosed,b,1\r\n"); // line 502: the quote never closes...
    csv.push_str("0.2,ok,b,0\r\n"); // ... so it takes this line too (to the end of input)
    let path = dir.join("quoted.csv");
    std::fs::write(&path, &csv).unwrap();
    let learn = |path: &Path| {
        eddy(
            &[
                "learn",
                "--data",
                path.to_str().unwrap(),
                "--target",
                "y",
                "--model",
                "logistic_regression",
                "--ignore",
                "note",
                "--every",
                "0",
            ],
            None,
        )
    };
    let o = learn(&path);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&json_lines(&o)).clone();
    assert_eq!(s["examples"], 400, "{s}");
    assert_eq!(s["skipped"], 1, "{s}");
    let err = stderr(&o);
    assert!(
        err.contains(
            "line 502, column `note`: malformed CSV: unterminated quoted cell at byte 5; row skipped"
        ),
        "{err}"
    );

    // Rows after bad ones are read, on the right lines.
    csv.truncate(csv.len() - "0.7,\"unclosed,b,1\r\n0.2,ok,b,0\r\n".len());
    csv.push_str("0.7,x\"y,b,1\n"); // line 502: a quote inside an unquoted cell
    csv.push_str("0.7,\"z\"w,b,1\n"); // 503: text after a closing quote
    csv.push_str("0.7,b,1\n"); // 504: three fields of four
    csv.push_str("0.9,\"last\nrow\",\"a\",1"); // 505-506, no final line break
    std::fs::write(&path, &csv).unwrap();
    let o = learn(&path);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&json_lines(&o)).clone();
    assert_eq!(
        (&s["examples"], &s["skipped"]),
        (&401.into(), &3.into()),
        "{s}"
    );
    let err = stderr(&o);
    for want in [
        "line 502, column `note`: malformed CSV: quote inside an unquoted cell near byte 5",
        "line 503, column `note`: malformed CSV: unexpected character after a closing quote at byte 8",
        "line 504: malformed CSV: expected 4 columns (as in the header), found 3",
    ] {
        assert!(err.contains(want), "{want}\n{err}");
    }
}

/// A malformed CSV row is the same bad row to `eddy run` (a dead letter) and to `eddy learn`
/// (skipped): the same line and message. (An unclosed quote before the last line would run on
/// into the next lines for `eddy learn`, whose records may span lines, while `eddy run`'s
/// source still reads line by line.)
#[test]
fn run_and_learn_agree_on_bad_csv_rows() {
    let dir = scratch("same-bad-rows");
    let data = dir.join("in.csv");
    std::fs::write(
        &data,
        "user_id,ts,amount,label\n\
         u1,1000,1.5,1\n\
         u1,3000,2.5\n\
         u2,4000,a\"b,1\n\
         u1,5000,\"3\"x,1\n\
         u1,6000,0.5,0\n\
         u2,7000,\"0.5,1",
    )
    .unwrap();
    let spec = dir.join("spec.toml");
    let dead = dir.join("dead.jsonl");
    std::fs::write(
        &spec,
        format!(
            r#"
[source]
path = {data:?}
format = "csv"
key = "user_id"
timestamp = "ts"
timestamp_format = "epoch_ms"
[source.fields]
amount = "float"
[[feature]]
name = "n"
agg = "count"
window = {{ kind = "tumbling", size = "1m" }}
[output]
events = {events:?}
dead_letter = {dead:?}
"#,
            events = dir.join("events.jsonl"),
        ),
    )
    .unwrap();
    let o = eddy(&["run", spec.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let dead: Vec<String> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["reason"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(dead.len(), 4, "{dead:?}");
    let o = eddy(
        &[
            "learn",
            "--data",
            data.to_str().unwrap(),
            "--target",
            "label",
            "--model",
            "logistic_regression",
            "--ignore",
            "user_id,ts",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(summary(&json_lines(&o))["skipped"], 4);
    let err = stderr(&o);
    for d in &dead {
        // `line N: MSG` from run; learn names the line, the column where there is one, and
        // the same message.
        let (line, msg) = d.split_once(": ").unwrap();
        assert!(msg.starts_with("malformed CSV: "), "{d}");
        let learned = err
            .lines()
            .find(|l| {
                l.starts_with(&format!("eddy learn: {line}:"))
                    || l.starts_with(&format!("eddy learn: {line},"))
            })
            .unwrap_or_else(|| panic!("{line} not in {err}"));
        assert!(
            learned.contains(&format!(": {msg}; row skipped")),
            "{learned} vs {d}"
        );
    }
}

#[test]
fn learn_errors_are_clear() {
    let dir = scratch("errors");
    let csv = dir.join("d.csv");
    std::fs::write(&csv, "a,y\n1,0\n2,1\n").unwrap();
    let empty = dir.join("e.csv");
    std::fs::write(&empty, "").unwrap();
    let header_only = dir.join("h.csv");
    std::fs::write(&header_only, "a,y\n").unwrap();
    let c = csv.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--data",
                c,
                "--target",
                "y",
                "--model",
                "logistic_regresion",
            ],
            "unknown model `logistic_regresion`",
        ),
        (
            vec![
                "--data",
                c,
                "--target",
                "y",
                "--model",
                "logistic_regression",
                "--param",
                "lrr=1",
            ],
            "lrr",
        ),
        (
            vec![
                "--data",
                c,
                "--target",
                "z",
                "--model",
                "logistic_regression",
            ],
            "target column `z` is not in the input",
        ),
        (
            vec![
                "--data",
                c,
                "--target",
                "y",
                "--model",
                "logistic_regression",
                "--metric",
                "mae",
            ],
            "metric `mae` is for regression",
        ),
        (
            vec![
                "--data",
                c,
                "--target",
                "y",
                "--model",
                "linear_regression",
                "--drift",
                "ddm",
            ],
            "watches 0/1 mistakes",
        ),
        (
            vec![
                "--data",
                c,
                "--target",
                "y",
                "--model",
                "logistic_regression",
                "--metric",
                "acc(3)",
            ],
            "unknown metric",
        ),
        (
            vec![
                "--data",
                empty.to_str().unwrap(),
                "--target",
                "y",
                "--model",
                "logistic_regression",
            ],
            "is empty",
        ),
        (
            vec![
                "--data",
                header_only.to_str().unwrap(),
                "--target",
                "y",
                "--model",
                "logistic_regression",
            ],
            "no data rows",
        ),
        (
            vec![
                "--data",
                "/nonexistent/x.csv",
                "--target",
                "y",
                "--model",
                "logistic_regression",
            ],
            "cannot open",
        ),
    ];
    for (args, want) in cases {
        let o = eddy(&[&["learn"][..], &args].concat(), None);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

/// The pipeline's per-event output feeds `eddy learn`: nested `features` become dotted
/// columns, `--ignore` drops ids, and null features are skipped (counted) or filled.
#[test]
fn learn_reads_the_pipeline_output() {
    let dir = scratch("pipeline");
    let events = dir.join("events.jsonl");
    let feats = dir.join("features.jsonl");
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fraud.toml");
    let o = eddy(
        &[
            "generate",
            "fraud",
            "--events",
            "3000",
            "--seed",
            "11",
            "--output",
            events.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // in the scratch directory: the spec's window, late and dead-letter outputs are relative
    let o = eddy_in(
        &dir,
        &[
            "run",
            spec,
            "--input",
            events.to_str().unwrap(),
            "--output",
            feats.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // Independently: rows, and rows with at least one null among the numeric features.
    let text = std::fs::read_to_string(&feats).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let with_null = rows
        .iter()
        .filter(|r| {
            r["features"]
                .as_object()
                .unwrap()
                .values()
                .any(Value::is_null)
        })
        .count();
    assert!(
        with_null > 0 && with_null < rows.len(),
        "{with_null} of {}",
        rows.len()
    );

    let ignore = "event_id,user_id,ts,page,event_type";
    let base = [
        "learn",
        "--data",
        feats.to_str().unwrap(),
        "--target",
        "label",
    ];
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(&[
            "--model",
            "logistic_regression",
            "--ignore",
            ignore,
            "--every",
            "0",
        ]);
        a.extend_from_slice(extra);
        let o = eddy(&a, None);
        assert!(o.status.success(), "{}", stderr(&o));
        summary(&json_lines(&o)).clone()
    };
    let skipped = run(&[]);
    assert_eq!(skipped["skipped"].as_u64(), Some(with_null as u64));
    assert_eq!(
        skipped["examples"].as_u64(),
        Some((rows.len() - with_null) as u64)
    );
    let filled = run(&["--fill-missing", "-1"]);
    assert_eq!(filled["skipped"].as_u64(), Some(0));
    assert_eq!(filled["examples"].as_u64(), Some(rows.len() as u64));

    // Naming a column that is not there is refused before learning.
    let o = eddy(
        &[
            "learn",
            "--data",
            feats.to_str().unwrap(),
            "--target",
            "label",
            "--model",
            "logistic_regression",
            "--features",
            "features.nope",
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--features column `features.nope` is not in the input"),
        "{}",
        stderr(&o)
    );
}

/// lr = 1e308 overflows on the first step: for the regressor w = 1e308 · (10 − 0) · 1 = inf,
/// for the classifier w = 1e308 · (1 − 0.5) · 100 = inf. `--save` refuses with the reason,
/// exits non-zero and leaves the existing file as it was; without `--save` the run ends
/// with a warning.
#[test]
fn learn_refuses_to_save_a_diverged_model() {
    let dir = scratch("diverged");
    let data = dir.join("d.csv");
    std::fs::write(&data, "x,y\n1,10\n2,20\n3,30\n").unwrap();
    let data = data.to_str().unwrap();
    let classes = dir.join("c.csv");
    std::fs::write(&classes, "x,y\n100,1\n200,0\n300,1\n").unwrap();
    let m = dir.join("m.json");
    std::fs::write(&m, "keep me").unwrap();
    for (model, file) in [
        ("linear_regression", data),
        ("logistic_regression", classes.to_str().unwrap()),
    ] {
        let o = eddy(
            &[
                "learn",
                "--data",
                file,
                "--target",
                "y",
                "--model",
                model,
                "-p",
                "lr=1e308",
                "--save",
                m.to_str().unwrap(),
            ],
            None,
        );
        let err = stderr(&o);
        assert!(!o.status.success(), "{model}: {err}");
        assert!(err.contains("the model has diverged"), "{model}: {err}");
        assert!(err.contains("lower lr"), "{model}: {err}");
        assert!(err.contains("examples learned"), "{model}: {err}");
        assert_eq!(std::fs::read_to_string(&m).unwrap(), "keep me");
    }
    let fresh = dir.join("fresh.json");
    let o = eddy(
        &[
            "learn",
            "--data",
            data,
            "--target",
            "y",
            "--model",
            "linear_regression",
            "-p",
            "lr=1e308",
            "--save",
            fresh.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(!fresh.exists() && !dir.join("fresh.tmp").exists());
    let o = eddy(
        &[
            "learn",
            "--data",
            data,
            "--target",
            "y",
            "--model",
            "linear_regression",
            "-p",
            "lr=1e308",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning: the model has diverged"), "{err}");
    assert!(err.contains("(3 examples learned)"), "{err}");
}

/// A continuous target given to a classifier: when no example has been learned yet the run
/// stops at the first such row (line 2, the first data line) with the reason; after a good
/// label such a row is a bad row, skipped and counted (rows 0 and 1 learned, 0.5 skipped).
#[test]
fn learn_refuses_a_continuous_target_for_a_classifier() {
    let dir = scratch("continuous");
    let all = dir.join("all.csv");
    std::fs::write(&all, "x,y\n1,0.37\n2,0.81\n3,0.12\n").unwrap();
    for model in ["logistic_regression", "gaussian_nb", "hoeffding_tree"] {
        let o = eddy(
            &[
                "learn",
                "--data",
                all.to_str().unwrap(),
                "--target",
                "y",
                "--model",
                model,
            ],
            None,
        );
        let err = stderr(&o);
        assert!(!o.status.success(), "{model}: {err}");
        assert!(
            err.contains(
                "line 2, column `y`: target `0.37` is not a class label; \
                 use a regressor for a continuous target"
            ),
            "{model}: {err}"
        );
    }
    let some = dir.join("some.csv");
    std::fs::write(&some, "x,y\n1,0\n2,0.5\n3,1\n").unwrap();
    let o = eddy(
        &[
            "learn",
            "--data",
            some.to_str().unwrap(),
            "--target",
            "y",
            "--model",
            "logistic_regression",
        ],
        None,
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("line 3, column `y`: target `0.5` is not a class label"),
        "{err}"
    );
    let s = summary(&json_lines(&o)).clone();
    assert_eq!(
        (s["examples"].as_u64(), s["skipped"].as_u64()),
        (Some(2), Some(1))
    );
}
