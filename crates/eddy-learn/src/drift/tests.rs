use eddy_core::rng::Rng;

use super::*;
use eddy_testutil::Tmp;

fn params(kv: &[(&str, &str)]) -> Params {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn det(name: &str) -> AnyDetector {
    build(name, &Params::new()).unwrap()
}

/// Bernoulli(p0) for `change` values, then Bernoulli(p1).
fn bernoulli(seed: u64, n: usize, change: usize, p0: f64, p1: f64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|i| r.chance(if i < change { p0 } else { p1 }) as u8 as f64)
        .collect()
}

/// N(m0, 1) for `change` values, then N(m1, 1).
fn normal(seed: u64, n: usize, change: usize, m0: f64, m1: f64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|i| r.normal() + if i < change { m0 } else { m1 })
        .collect()
}

fn drifts(d: &mut AnyDetector, xs: &[f64]) -> Vec<usize> {
    xs.iter()
        .enumerate()
        .filter(|(_, &x)| d.update(x) == DriftState::Drift)
        .map(|(i, _)| i)
        .collect()
}

/// Over seeds 0..10: the first drift at or after `change` must come within `bound` values on
/// at least `min_ok` seeds (detectors with a non-zero false-alarm rate may lose a change to a
/// false alarm just before it, which restarts them); `strict` also forbids any drift before it.
fn check_detects(
    name: &str,
    stream: impl Fn(u64) -> Vec<f64>,
    change: usize,
    bound: usize,
    min_ok: usize,
    strict: bool,
) {
    let mut ok = 0;
    let mut log = Vec::new();
    for seed in 0..10 {
        let xs = stream(seed);
        let found = drifts(&mut det(name), &xs);
        if strict {
            assert!(
                found.iter().all(|&i| i >= change),
                "{name} seed {seed}: false alarm {found:?}"
            );
        }
        let delay = found
            .iter()
            .copied()
            .find(|&i| i >= change)
            .map(|i| i - change);
        ok += delay.is_some_and(|d| d <= bound) as usize;
        log.push(delay);
    }
    assert!(
        ok >= min_ok,
        "{name}: {ok} of 10 within {bound}: delays {log:?}"
    );
}

/// False drifts per 1 000 stationary values over `seeds` streams of 10 000.
fn false_rate(name: &str, seeds: u64, stream: impl Fn(u64) -> Vec<f64>) -> f64 {
    let mut n = 0;
    for seed in 100..100 + seeds {
        n += drifts(&mut det(name), &stream(seed)).len();
    }
    n as f64 * 1000.0 / (seeds as f64 * 10_000.0)
}

#[test]
fn adwin_detects_bernoulli_shift_and_is_quiet_when_stationary() {
    check_detects(
        "adwin",
        |s| bernoulli(s, 3000, 1000, 0.2, 0.8),
        1000,
        130,
        10,
        true,
    );
    let rate = false_rate("adwin", 20, |s| bernoulli(s, 10_000, 10_000, 0.2, 0.2));
    assert_eq!(rate, 0.0);
    // Without change nothing is dropped: the window holds every value.
    let mut a = Adwin::default();
    for x in bernoulli(5, 5000, 5000, 0.3, 0.3) {
        a.update(x);
    }
    assert_eq!(a.width(), 5000);
    assert!((a.estimation() - 0.3).abs() < 0.03);
}

#[test]
fn adwin_shrinks_window_on_change_and_restarts() {
    let xs = normal(3, 2000, 1000, 0.0, 5.0);
    let mut a = Adwin::default();
    let mut first = None;
    for (i, &x) in xs.iter().enumerate() {
        if a.update(x) == DriftState::Drift && first.is_none() {
            first = Some(i);
            assert_eq!(a.width(), 0, "restarts empty like River");
        }
    }
    let first = first.unwrap();
    assert!((1000..1070).contains(&first), "{first}");
    assert_eq!(
        a.n_detections() as usize,
        drifts(&mut det("adwin"), &xs).len()
    );
}

#[test]
fn page_hinkley_detects_mean_shift_up_and_down() {
    check_detects(
        "page_hinkley",
        |s| normal(s, 2000, 1000, 0.0, 3.0),
        1000,
        20,
        10,
        false,
    );
    check_detects(
        "page_hinkley",
        |s| normal(s, 2000, 1000, 3.0, 0.0),
        1000,
        20,
        10,
        false,
    );
    let rate = false_rate("page_hinkley", 20, |s| normal(s, 10_000, 10_000, 0.0, 0.0));
    assert!(rate <= 1.0, "Page-Hinkley false drifts per 1000: {rate}");
    // Mode `up` ignores a decrease that mode `down` reports at once.
    for seed in 0..5 {
        let xs = normal(seed, 2000, 1000, 3.0, 0.0);
        let mut up = build("page_hinkley", &params(&[("mode", "up")])).unwrap();
        let mut down = build("page_hinkley", &params(&[("mode", "down")])).unwrap();
        let near = |v: Vec<usize>| v.into_iter().filter(|i| (1000..1100).contains(i)).count();
        assert_eq!(near(drifts(&mut up, &xs)), 0, "seed {seed}");
        assert!(near(drifts(&mut down, &xs)) >= 1, "seed {seed}");
    }
}

#[test]
fn ddm_detects_error_rate_increase_and_warns_first() {
    check_detects(
        "ddm",
        |s| bernoulli(s, 3000, 1000, 0.2, 0.8),
        1000,
        200,
        10,
        false,
    );
    let rate = false_rate("ddm", 20, |s| bernoulli(s, 10_000, 10_000, 0.2, 0.2));
    assert!(rate <= 0.2, "DDM false drifts per 1000: {rate}");
    let mut d = det("ddm");
    let states: Vec<DriftState> = bernoulli(1, 3000, 1000, 0.1, 0.5)
        .iter()
        .map(|&x| d.update(x))
        .collect();
    let dr = 1000
        + states[1000..]
            .iter()
            .position(|s| *s == DriftState::Drift)
            .unwrap();
    assert!(dr < 1200, "drift {dr}");
    // The error rate climbs through the warning level just before the drift level.
    assert_eq!(states[dr - 1], DriftState::Warning, "drift {dr}");
}

#[test]
fn eddm_detects_error_rate_increase() {
    check_detects(
        "eddm",
        |s| bernoulli(s, 4000, 2000, 0.2, 0.8),
        2000,
        100,
        9,
        false,
    );
    let rate = false_rate("eddm", 20, |s| bernoulli(s, 10_000, 10_000, 0.2, 0.2));
    assert!(rate <= 3.0, "EDDM false drifts per 1000: {rate}");
}

#[test]
fn kswin_detects_distribution_change() {
    check_detects(
        "kswin",
        |s| normal(s, 1300, 300, 0.0, 2.0),
        300,
        30,
        9,
        false,
    );
    let rate = false_rate("kswin", 10, |s| normal(s, 10_000, 10_000, 0.0, 0.0));
    assert!(rate <= 2.0, "KSWIN false drifts per 1000: {rate}");
}

#[test]
fn ks_exact_p_value_matches_brute_force() {
    let mut row = Vec::new();
    let (d, p) = ks_2samp(&mut [1.0, 2.0, 3.0], &mut [4.0, 5.0, 6.0], &mut row);
    assert_eq!(d, 1.0);
    assert!((p - 0.1).abs() < 1e-12, "{p}"); // 2 of C(6,3) = 20 orderings reach D = 1
                                             // Brute force over every assignment of ranks 0..8 to two samples of 4 (C(8,4) = 70).
    let a0 = [0.0, 2.0, 3.0, 7.0];
    let b0 = [1.0, 4.0, 5.0, 6.0];
    let stat = |a: &[f64], b: &[f64]| {
        let mut best: f64 = 0.0;
        for t in 0..8 {
            let fa = a.iter().filter(|&&v| v <= t as f64).count() as f64 / a.len() as f64;
            let fb = b.iter().filter(|&&v| v <= t as f64).count() as f64 / b.len() as f64;
            best = best.max((fa - fb).abs());
        }
        best
    };
    let d_obs = stat(&a0, &b0);
    let (mut total, mut extreme) = (0, 0);
    for mask in 0u32..256 {
        if mask.count_ones() != 4 {
            continue;
        }
        let a: Vec<f64> = (0..8)
            .filter(|i| mask >> i & 1 == 1)
            .map(|i| i as f64)
            .collect();
        let b: Vec<f64> = (0..8)
            .filter(|i| mask >> i & 1 == 0)
            .map(|i| i as f64)
            .collect();
        total += 1;
        if stat(&a, &b) >= d_obs - 1e-12 {
            extreme += 1;
        }
    }
    let (d, p) = ks_2samp(&mut a0.clone(), &mut b0.clone(), &mut row);
    assert!((d - d_obs).abs() < 1e-12);
    assert!(
        (p - extreme as f64 / total as f64).abs() < 1e-12,
        "{p} vs {extreme}/{total}"
    );
    // Ties across samples step together: identical samples give D = 0, p = 1.
    assert_eq!(
        ks_2samp(&mut [1.0, 1.0, 2.0], &mut [2.0, 1.0, 1.0], &mut row),
        (0.0, 1.0)
    );
}

#[test]
fn snapshots_restore_identical_detectors() {
    for name in NAMES {
        let xs = if *name == "ddm" || *name == "eddm" {
            bernoulli(9, 4000, 2500, 0.2, 0.7)
        } else {
            normal(9, 4000, 2500, 0.0, 2.0)
        };
        let mut a = det(name);
        for &x in &xs[..1500] {
            a.update(x);
        }
        let text = a.to_snapshot_string().unwrap();
        let mut b = AnyDetector::from_snapshot_str(&text).unwrap();
        assert_eq!(b.name(), *name);
        let dir = Tmp::new(name);
        let path = dir.join("detector.json");
        a.save(&path).unwrap();
        let mut c = AnyDetector::load(&path).unwrap();
        let out_a: Vec<DriftState> = xs[1500..].iter().map(|&x| a.update(x)).collect();
        let out_b: Vec<DriftState> = xs[1500..].iter().map(|&x| b.update(x)).collect();
        let out_c: Vec<DriftState> = xs[1500..].iter().map(|&x| c.update(x)).collect();
        assert_eq!(out_a, out_b, "{name}");
        assert_eq!(out_a, out_c, "{name}");
        assert!(
            out_a.contains(&DriftState::Drift),
            "{name} should see the change"
        );
    }
}

#[test]
fn build_refuses_unknown_names_and_params() {
    let e = build("adwn", &Params::new()).unwrap_err().to_string();
    assert!(e.contains("adwin, page_hinkley"), "{e}");
    let e = build("adwin", &params(&[("detla", "0.1")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("detla") && e.contains("delta"), "{e}");
    assert!(build("adwin", &params(&[("delta", "2")])).is_err());
    assert!(build("adwin", &params(&[("delta", "x")])).is_err());
    assert!(build("kswin", &params(&[("stat_size", "80")])).is_err());
    assert!(build("ph", &params(&[("mode", "sideways")])).is_err());
    let d = build("adwin", &params(&[("delta", "0.01"), ("clock", "1")])).unwrap();
    assert_eq!(d.name(), "adwin");
}

#[test]
fn kswin_snapshots_of_older_versions_load() {
    // Before KSWIN drew its sample with Python's generator, its snapshot held eddy's
    // xoshiro state (four numbers); such a snapshot resumes with Python's generator seeded
    // afresh. A generator state of the wrong size is refused.
    let mut d = det("kswin");
    for x in normal(3, 150, 150, 0.0, 0.0) {
        d.update(x);
    }
    let mut v: serde_json::Value = serde_json::from_str(&d.to_snapshot_string().unwrap()).unwrap();
    v["state"]["rng"] = serde_json::json!([1, 2, 3, 4]);
    let mut old = AnyDetector::from_snapshot_str(&v.to_string()).unwrap();
    let mut fresh = det("kswin");
    // The last 99 values: no test yet (the window is not full), so its generator is unused.
    for x in normal(3, 150, 150, 0.0, 0.0).into_iter().skip(51) {
        assert_eq!(fresh.update(x), DriftState::Stable);
    }
    // From the next value on both hold the same window and draw from a freshly seeded
    // generator, so they agree.
    for x in normal(4, 500, 500, 0.0, 1.0) {
        assert_eq!(old.update(x), fresh.update(x));
    }
    v["state"]["rng"] = serde_json::json!({"mt": [1, 2, 3], "idx": 0});
    assert!(AnyDetector::from_snapshot_str(&v.to_string()).is_err());
}
