use eddy_core::rng::Rng;

use super::*;

fn run(spec: &str, ys: &[f64], ps: &[f64], probas: Option<&[f64]>) -> Vec<f64> {
    let mut m = build(spec).unwrap();
    (0..ys.len())
        .map(|i| {
            m.update(ys[i], ps[i], probas.map(|q| q[i]));
            m.get()
        })
        .collect()
}

fn last(spec: &str, ys: &[f64], ps: &[f64], probas: Option<&[f64]>) -> f64 {
    *run(spec, ys, ps, probas).last().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 || (a.is_nan() && b.is_nan())
}

#[test]
fn hand_computed_values() {
    assert!(build("accuracy").unwrap().get().is_nan());
    assert_eq!(
        last("accuracy", &[1., 0., 1., 1.], &[1., 1., 1., 0.], None),
        0.5
    );
    // tp = 1, fp = 1, fn = 2.
    let (y, p) = ([1., 1., 1., 0., 0., 0.], [1., 0., 0., 1., 0., 0.]);
    assert_eq!(last("precision", &y, &p, None), 0.5);
    assert!(close(last("recall", &y, &p, None), 1.0 / 3.0));
    assert!(close(last("f1", &y, &p, None), 0.4));
    assert_eq!(
        last("precision", &[1., 0.], &[0., 0.], None),
        0.0,
        "no positive prediction"
    );
    let ll = last("logloss", &[1., 0.], &[1., 0.], Some(&[0.8, 0.3]));
    assert!(close(ll, (-(0.8f64).ln() - (0.7f64).ln()) / 2.0), "{ll}");
    // y = [3, -0.5, 2, 7], ŷ = [2.5, 0, 2, 8] (scikit-learn's r2_score example: 0.948608...).
    let (y, p) = ([3., -0.5, 2., 7.], [2.5, 0., 2., 8.]);
    assert!(close(last("mae", &y, &p, None), 0.5));
    assert!(close(last("rmse", &y, &p, None), (1.5f64 / 4.0).sqrt()));
    assert!(close(last("r2", &y, &p, None), 0.948_608_137_044_967_9));
    assert_eq!(
        last("r2", &[2., 2.], &[1., 3.], None),
        0.0,
        "constant target"
    );
}

#[test]
fn roc_auc_with_ties() {
    // Positives at 0.9, 0.5, 0.5; negatives at 0.5, 0.2. Pairs won: 0.9 beats both (2),
    // each 0.5 positive ties the 0.5 negative (½ each) and beats 0.2 (1 each): 5 of 6.
    let y = [1., 0., 1., 1., 0.];
    let q = [0.9, 0.5, 0.5, 0.5, 0.2];
    let out = run("rocauc", &y, &[1., 1., 1., 1., 0.], Some(&q));
    assert!(out[0].is_nan(), "one class only");
    assert!(close(out[1], 1.0));
    assert!(close(out[4], 5.0 / 6.0), "{}", out[4]);
    // All scores equal: 0.5.
    assert!(close(
        last("auc", &[1., 0., 1., 0.], &[0.; 4], Some(&[0.3; 4])),
        0.5
    ));
}

/// Weighted AUC by brute force over all pairs.
fn brute_auc(items: &[(f64, f64)], w: &[f64]) -> f64 {
    let (mut u, mut p, mut n) = (0.0, 0.0, 0.0);
    for (i, &(yi, si)) in items.iter().enumerate() {
        if yi == 1.0 {
            p += w[i];
        } else {
            n += w[i];
        }
        for (j, &(yj, sj)) in items.iter().enumerate() {
            if yi == 1.0 && yj == 0.0 {
                let win = if si > sj {
                    1.0
                } else if si == sj {
                    0.5
                } else {
                    0.0
                };
                u += w[i] * w[j] * win;
            }
        }
    }
    if p > 0.0 && n > 0.0 {
        u / (p * n)
    } else {
        f64::NAN
    }
}

#[test]
fn roc_auc_matches_brute_force_in_every_flavour() {
    let mut r = Rng::new(3);
    // Scores on a coarse grid so ties are frequent; labels correlated with scores.
    let items: Vec<(f64, f64)> = (0..400)
        .map(|_| {
            let s = r.below(11) as f64 / 10.0;
            ((r.next_f64() < 0.2 + 0.6 * s) as u8 as f64, s)
        })
        .collect();
    let ys: Vec<f64> = items.iter().map(|x| x.0).collect();
    let ss: Vec<f64> = items.iter().map(|x| x.1).collect();
    let all = run("rocauc", &ys, &ss, Some(&ss));
    let roll = run("rolling(50):rocauc", &ys, &ss, Some(&ss));
    let fade = run("fading(0.97):rocauc", &ys, &ss, Some(&ss));
    for t in (0..400).step_by(37) {
        let upto = &items[..=t];
        assert!(
            close(all[t], brute_auc(upto, &vec![1.0; t + 1])),
            "all at {t}"
        );
        let from = (t + 1).saturating_sub(50);
        assert!(
            close(
                roll[t],
                brute_auc(&items[from..=t], &vec![1.0; t + 1 - from])
            ),
            "rolling at {t}"
        );
        let w: Vec<f64> = (0..=t).map(|i| 0.97f64.powi((t - i) as i32)).collect();
        assert!(
            close(fade[t], brute_auc(upto, &w)),
            "fading at {t}: {} vs {}",
            fade[t],
            brute_auc(upto, &w)
        );
    }
    // Strong fading crosses the renormalise-and-prune path (every ~330 updates at 0.5).
    let fast = run("fading(0.5):rocauc", &ys, &ss, Some(&ss));
    let w: Vec<f64> = (0..400).map(|i| 0.5f64.powi(399 - i)).collect();
    assert!(
        close(fast[399], brute_auc(&items, &w)),
        "{} vs {}",
        fast[399],
        brute_auc(&items, &w)
    );
    // Rolling removal frees the tree: distinct scores in the window at most.
    let mut m = StreamMetric::rolling(MetricKind::RocAuc, 20);
    for i in 0..1000 {
        m.update((i % 2) as f64, 0.0, Some(i as f64 / 1000.0));
    }
    assert!(m.auc.as_ref().unwrap().n_nodes() <= 20);
}

#[test]
fn roc_auc_stays_exact_across_block_splits_and_removals() {
    // Thousands of mostly distinct scores: the index splits blocks, and the rolling window
    // empties and removes them.
    let mut r = Rng::new(8);
    let items: Vec<(f64, f64)> = (0..5000)
        .map(|_| {
            let s = if r.chance(0.2) { 0.5 } else { r.next_f64() };
            ((r.next_f64() < s) as u8 as f64, s)
        })
        .collect();
    let ys: Vec<f64> = items.iter().map(|x| x.0).collect();
    let ss: Vec<f64> = items.iter().map(|x| x.1).collect();
    let all = run("rocauc", &ys, &ss, Some(&ss));
    let roll = run("rolling(1500):rocauc", &ys, &ss, Some(&ss));
    for t in [1200, 2999, 4999] {
        assert!(
            close(all[t], brute_auc(&items[..=t], &vec![1.0; t + 1])),
            "all at {t}"
        );
        let from = (t + 1).saturating_sub(1500);
        let want = brute_auc(&items[from..=t], &vec![1.0; t + 1 - from]);
        assert!(
            close(roll[t], want),
            "rolling at {t}: {} vs {want}",
            roll[t]
        );
    }
    let mut m = StreamMetric::rolling(MetricKind::RocAuc, 1500);
    for &(y, s) in &items {
        m.update(y, 0.0, Some(s));
    }
    assert!(m.auc.as_ref().unwrap().n_nodes() <= 1500);
}

#[test]
fn rolling_and_fading_hand_worked() {
    // Rolling(2) MAE over errors 1, 2, 3: 1, 1.5, 2.5.
    assert_eq!(
        run("rolling(2):mae", &[1., 2., 3.], &[0.; 3], None),
        vec![1.0, 1.5, 2.5]
    );
    // Rolling(3) accuracy over hits 1, 1, 0, 0, 1: 1, 1, 2/3, 1/3, 1/3.
    let out = run(
        "rolling(3):accuracy",
        &[1., 1., 1., 1., 1.],
        &[1., 1., 0., 0., 1.],
        None,
    );
    let want = [1.0, 1.0, 2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0];
    assert!(out.iter().zip(want).all(|(a, b)| close(*a, b)), "{out:?}");
    // Fading(0.5) MAE over errors 1, 2, 4: (0.25 + 1 + 4) / (0.25 + 0.5 + 1) = 3.
    assert!(close(
        last("fading(0.5):mae", &[1., 2., 4.], &[0.; 3], None),
        3.0
    ));
    // Fading(0.5) accuracy over hits 1, 0, 1: (0.25 + 1) / 1.75.
    assert!(close(
        last("fading(0.5):accuracy", &[1., 1., 1.], &[1., 0., 1.], None),
        1.25 / 1.75
    ));
    // Fading(0.5) RMSE over errors 2, 0: sqrt((0.5 * 4) / 1.5).
    assert!(close(
        last("fading(0.5):rmse", &[2., 0.], &[0.; 2], None),
        (2.0f64 / 1.5).sqrt()
    ));
    // Rolling(2) F1: last two are (y=1, ŷ=1), (y=0, ŷ=1): tp 1, fp 1 → 2/3.
    assert!(close(
        last("rolling(2):f1", &[1., 1., 0.], &[0., 1., 1.], None),
        2.0 / 3.0
    ));
    // Rolling(2) R²: last two (y, ŷ) = (1, 1.5), (3, 3): SSE 0.25, SST 2 → 0.875.
    assert!(close(
        last("rolling(2):r2", &[9., 1., 3.], &[0., 1.5, 3.], None),
        0.875
    ));
}

#[test]
fn rolling_equals_cumulative_on_the_window() {
    let mut r = Rng::new(11);
    let n = 200;
    let ys: Vec<f64> = (0..n).map(|_| r.below(2) as f64).collect();
    let ps: Vec<f64> = (0..n).map(|_| r.below(2) as f64).collect();
    let qs: Vec<f64> = (0..n).map(|_| r.next_f64()).collect();
    let yr: Vec<f64> = (0..n).map(|_| r.normal() * 3.0).collect();
    let pr: Vec<f64> = yr.iter().map(|y| y + r.normal()).collect();
    for name in NAMES {
        let kind = MetricKind::from_name(name).unwrap();
        let (y, p) = if kind.task() == Task::Regression {
            (&yr, &pr)
        } else {
            (&ys, &ps)
        };
        let roll = run(&format!("rolling(25):{name}"), y, p, Some(&qs));
        for t in [10usize, 24, 25, 26, 99, 199] {
            let from = (t + 1).saturating_sub(25);
            let fresh = last(name, &y[from..=t], &p[from..=t], Some(&qs[from..=t]));
            assert!(
                (roll[t] - fresh).abs() < 1e-9,
                "{name} at {t}: {} vs {fresh}",
                roll[t]
            );
        }
    }
}

#[test]
fn build_parses_specs_and_refuses_bad_ones() {
    assert_eq!(build("rolling(100):f1").unwrap().label(), "rolling(100):f1");
    assert_eq!(
        build("fading(0.99):mae").unwrap().label(),
        "fading(0.99):mae"
    );
    assert_eq!(build("roc_auc").unwrap().label(), "rocauc");
    assert!(!build("logloss").unwrap().bigger_is_better());
    for bad in [
        "acuracy",
        "rolling(0):mae",
        "rolling(x):mae",
        "fading(1.5):mae",
        "window(3):mae",
        "rolling(3):nope",
    ] {
        assert!(build(bad).is_err(), "{bad}");
    }
    let e = build("acuracy").unwrap_err().to_string();
    assert!(e.contains("accuracy") && e.contains("rolling(N)"), "{e}");
}

/// Every kind's fading variant equals its formula on weights `A^k` (k steps back), computed
/// here directly from the whole history.
#[test]
fn fading_equals_weighted_formulas() {
    let a: f64 = 0.9;
    let mut r = Rng::new(21);
    let n = 60;
    let ys: Vec<f64> = (0..n).map(|_| r.below(2) as f64).collect();
    let ps: Vec<f64> = (0..n).map(|_| r.below(2) as f64).collect();
    let qs: Vec<f64> = (0..n).map(|_| r.next_f64()).collect();
    let yr: Vec<f64> = (0..n).map(|_| r.normal() * 3.0).collect();
    let pr: Vec<f64> = yr.iter().map(|y| y + r.normal()).collect();
    let w: Vec<f64> = (0..n).map(|i| a.powi((n - 1 - i) as i32)).collect();
    let sw: f64 = w.iter().sum();
    let sum = |f: &dyn Fn(usize) -> f64| (0..n).map(|i| w[i] * f(i)).sum::<f64>();
    let tp = sum(&|i| (ys[i] == 1.0 && ps[i] == 1.0) as u8 as f64);
    let fp = sum(&|i| (ys[i] == 0.0 && ps[i] == 1.0) as u8 as f64);
    let fn_ = sum(&|i| (ys[i] == 1.0 && ps[i] == 0.0) as u8 as f64);
    let mean_y = sum(&|i| yr[i]) / sw;
    let want = [
        ("accuracy", sum(&|i| (ys[i] == ps[i]) as u8 as f64) / sw),
        ("precision", tp / (tp + fp)),
        ("recall", tp / (tp + fn_)),
        ("f1", 2.0 * tp / (2.0 * tp + fp + fn_)),
        (
            "logloss",
            sum(&|i| {
                if ys[i] == 1.0 {
                    -qs[i].ln()
                } else {
                    -(1.0 - qs[i]).ln()
                }
            }) / sw,
        ),
        ("mae", sum(&|i| (yr[i] - pr[i]).abs()) / sw),
        ("rmse", (sum(&|i| (yr[i] - pr[i]).powi(2)) / sw).sqrt()),
        (
            "r2",
            1.0 - sum(&|i| (yr[i] - pr[i]).powi(2)) / sum(&|i| (yr[i] - mean_y).powi(2)),
        ),
    ];
    for (name, v) in want {
        let reg = MetricKind::from_name(name).unwrap().task() == Task::Regression;
        let (y, p) = if reg { (&yr, &pr) } else { (&ys, &ps) };
        let got = last(&format!("fading({a}):{name}"), y, p, Some(&qs));
        assert!((got - v).abs() < 1e-9, "{name}: {got} vs {v}");
    }
}
