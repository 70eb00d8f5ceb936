//! `eddy learn --user --item`: a recommender learning ratings prequentially. Expected values
//! are computed here: a global-mean predictor over the same file, and River's BiasedMF
//! update worked out by hand.

use std::process::{Command, Output};

use eddy_core::rng::Rng;
use eddy_testutil::Tmp;
use serde_json::Value;

fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .expect("run eddy")
}

fn ok(o: &Output) -> Vec<Value> {
    assert!(
        o.status.success(),
        "eddy failed: {:?}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn biased_mf_beats_the_global_mean_on_generated_ratings() {
    let tmp = Tmp::new("learn-ratings");
    let path = tmp.s("r.jsonl");
    ok(&eddy(&[
        "generate", "ratings", "--events", "50000", "--seed", "2", "-o", &path,
    ]));
    // The prequential global mean: each rating predicted by the mean of those before (0
    // for the first), as BiasedMF's own global mean starts.
    let (mut n, mut mean, mut abs) = (0.0, 0.0, 0.0);
    for l in std::fs::read_to_string(&path).unwrap().lines() {
        let r = serde_json::from_str::<Value>(l).unwrap()["rating"]
            .as_f64()
            .unwrap();
        abs += (r - mean).abs();
        n += 1.0;
        mean += (r - mean) / n;
    }
    let baseline = abs / n;
    let lines = ok(&eddy(&[
        "learn",
        "--data",
        &path,
        "--target",
        "rating",
        "--model",
        "biased_mf",
        "--user",
        "user",
        "--item",
        "item",
        "-p",
        "lr=0.05",
        "-p",
        "bias_lr=0.05",
        "--every",
        "10000",
    ]));
    assert_eq!(lines.len(), 6, "{lines:?}");
    let summary = &lines[5]["summary"];
    assert_eq!(summary["examples"], 50_000);
    let mae = summary["metrics"]["mae"].as_f64().unwrap();
    assert!(
        mae < 0.75 * baseline,
        "biased_mf MAE {mae}, global mean {baseline}"
    );
    // Better late than early: the error keeps falling as the model learns.
    let at = |i: usize| lines[i]["mae"].as_f64().unwrap();
    assert!(at(4) < at(0), "{lines:?}");
}

/// River's BiasedMF update, by hand, over three ratings of one pair with `n_factors = 2`
/// and the defaults (SGD 0.01 for biases and factors, no L2, squared loss with gradient
/// `2 (p − y)`): the global mean is updated first, then the prediction, then biases and
/// factors move against the gradient, the factors from their values before the step.
/// Fresh factors are Normal(0, 0.1) draws from eddy's generator seeded with `seed` (0): the
/// user's, then the item's.
#[test]
fn one_prequential_step_is_river_biased_mf_sgd() {
    let tmp = Tmp::new("learn-ratings-step");
    let path = tmp.s("r.csv");
    let ys = [4.0, 3.0, 5.0];
    std::fs::write(
        &path,
        "who,what,stars\nann,film,4\nann,film,3\nann,film,5\n",
    )
    .unwrap();
    let lines = ok(&eddy(&[
        "learn",
        "--data",
        &path,
        "--target",
        "stars",
        "--model",
        "biased_mf",
        "--user",
        "who",
        "--item",
        "what",
        "-p",
        "n_factors=2",
        "--every",
        "1",
        "--metric",
        "mae",
    ]));

    let mut rng = Rng::new(0);
    let mut u = [0.1 * rng.normal(), 0.1 * rng.normal()];
    let mut i = [0.1 * rng.normal(), 0.1 * rng.normal()];
    let (mut bu, mut bi, mut gm, mut n) = (0.0, 0.0, 0.0, 0.0);
    let (mut seen, mut abs) = (false, 0.0);
    let mut want = Vec::new();
    for y in ys {
        // Scored first: unseen ids predict the global mean alone (0 before any rating).
        let pred = if seen {
            gm + bu + bi + u[0] * i[0] + u[1] * i[1]
        } else {
            gm
        };
        abs += (y - pred).abs();
        want.push(abs / (want.len() + 1) as f64);
        // Then learned.
        n += 1.0;
        gm += (y - gm) / n;
        let p = gm + bu + bi + u[0] * i[0] + u[1] * i[1];
        let g = 2.0 * (p - y);
        bu -= 0.01 * g;
        bi -= 0.01 * g;
        let (u0, i0) = (u, i);
        for f in 0..2 {
            u[f] -= 0.01 * g * i0[f];
            i[f] -= 0.01 * g * u0[f];
        }
        seen = true;
    }
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (k, w) in want.iter().enumerate() {
        let got = lines[k]["mae"].as_f64().unwrap();
        assert!((got - w).abs() < 1e-12, "step {}: {got} vs {w}", k + 1);
    }
}

#[test]
fn bad_rating_rows_are_skipped_and_named_and_bad_setups_refused() {
    let tmp = Tmp::new("learn-ratings-bad");
    let path = tmp.s("r.jsonl");
    std::fs::write(
        &path,
        concat!(
            "{\"user\":\"a\",\"item\":1,\"rating\":4}\n",
            "{\"user\":null,\"item\":1,\"rating\":4}\n",
            "{\"user\":\"a\",\"item\":2,\"rating\":\"lots\"}\n",
            "{\"user\":\"b\",\"item\":2,\"rating\":2.5}\n",
        ),
    )
    .unwrap();
    let base = [
        "learn", "--data", &path, "--target", "rating", "--model", "funk_mf",
    ];
    let o = eddy(&[&base[..], &["--user", "user", "--item", "item"]].concat());
    let lines = ok(&o);
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(
        (summary["examples"].clone(), summary["skipped"].clone()),
        (2.into(), 2.into())
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 2, column `user`: no user id"), "{err}");
    assert!(
        err.contains("line 3, column `rating`: `lots` is not a finite number"),
        "{err}"
    );

    for (extra, msg) in [
        (&["--user", "user"][..], "--user and --item go together"),
        (
            &[][..],
            "is a recommender: give the id columns with --user FIELD --item FIELD",
        ),
        (
            &["--user", "user", "--item", "nope"][..],
            "--item column `nope` is not in the input",
        ),
        (
            &["--user", "user", "--item", "item", "--ignore", "x"][..],
            "a recommender reads only",
        ),
        (
            &["--user", "user", "--item", "item", "--metric", "accuracy"][..],
            "is for classification",
        ),
    ] {
        let o = eddy(&[&base[..], extra].concat());
        assert!(!o.status.success(), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{extra:?}: {err}");
    }
    let o = eddy(&[
        "learn",
        "--data",
        &path,
        "--target",
        "rating",
        "--model",
        "logistic_regression",
        "--user",
        "user",
        "--item",
        "item",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("need a recommender"));
}

/// A run saved half-way and continued with `--load` predicts the second half exactly as one
/// run over the whole file (each example's absolute error recovered from the running MAEs).
#[test]
fn a_saved_recommender_continues_where_it_stopped() {
    let tmp = Tmp::new("learn-ratings-save");
    let (all, first, second, snap) = (
        tmp.s("all.jsonl"),
        tmp.s("a.jsonl"),
        tmp.s("b.jsonl"),
        tmp.s("m.json"),
    );
    ok(&eddy(&[
        "generate", "ratings", "--events", "2000", "--seed", "4", "-o", &all,
    ]));
    let text = std::fs::read_to_string(&all).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&first, lines[..1000].join("\n") + "\n").unwrap();
    std::fs::write(&second, lines[1000..].join("\n") + "\n").unwrap();
    let common = [
        "--target", "rating", "--user", "user", "--item", "item", "--every", "1",
    ];
    let maes = |out: Vec<Value>| -> Vec<f64> {
        out.iter()
            .filter_map(|v| v.get("mae").and_then(Value::as_f64))
            .collect()
    };
    let whole = maes(ok(&eddy(
        &[
            &["learn", "--data", &all, "--model", "biased_mf"][..],
            &common,
        ]
        .concat(),
    )));
    ok(&eddy(
        &[
            &[
                "learn",
                "--data",
                &first,
                "--model",
                "biased_mf",
                "--save",
                &snap,
            ][..],
            &common,
        ]
        .concat(),
    ));
    let resumed = maes(ok(&eddy(
        &[&["learn", "--data", &second, "--load", &snap][..], &common].concat(),
    )));
    assert_eq!((whole.len(), resumed.len()), (2000, 1000));
    // |error| of example k from the running means.
    let errors = |m: &[f64]| -> Vec<f64> {
        (0..m.len())
            .map(|k| {
                let prev = if k == 0 { 0.0 } else { k as f64 * m[k - 1] };
                (k + 1) as f64 * m[k] - prev
            })
            .collect()
    };
    let (a, b) = (errors(&whole), errors(&resumed));
    for k in 0..1000 {
        assert!(
            (a[1000 + k] - b[k]).abs() < 1e-9,
            "example {}: {} vs {}",
            1001 + k,
            a[1000 + k],
            b[k]
        );
    }
}
