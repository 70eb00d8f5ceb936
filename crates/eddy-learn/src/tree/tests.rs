use super::*;
use eddy_core::rng::Rng;

/// A tiny STAGGER generator (Schlimmer & Granger 1986, as River's `synth.STAGGER`):
/// size, colour and shape uniform over three values each, one-hot encoded into 9 features
/// (size small/medium/large, colour red/green/blue, shape square/circle/triangle).
/// Concepts: 0: size small and colour red; 1: colour green or shape circle;
/// 2: size medium or large.
fn stagger(rng: &mut Rng, concept: usize) -> ([f64; 9], usize) {
    let (size, color, shape) = (rng.below(3), rng.below(3), rng.below(3));
    let mut x = [0.0; 9];
    x[size as usize] = 1.0;
    x[3 + color as usize] = 1.0;
    x[6 + shape as usize] = 1.0;
    let y = match concept {
        0 => size == 0 && color == 0,
        1 => color == 1 || shape == 1,
        _ => size == 1 || size == 2,
    };
    (x, usize::from(y))
}

#[test]
fn learns_each_stagger_concept() {
    for concept in 0..3 {
        let mut t = HoeffdingTreeClassifier::default();
        let mut rng = Rng::new(100 + concept as u64);
        for _ in 0..12_000 {
            let (x, y) = stagger(&mut rng, concept);
            t.learn_one(&x, y);
        }
        assert!(t.n_leaves() >= 2, "concept {concept}: no split");
        let correct = (0..2000)
            .filter(|_| {
                let (x, y) = stagger(&mut rng, concept);
                t.predict_one(&x) == y
            })
            .count();
        assert!(
            correct >= 1980,
            "concept {concept}: accuracy {correct}/2000"
        );
    }
}

#[test]
fn majority_class_leaves_learn_stagger_too() {
    let mut t = HoeffdingTreeClassifier::new(HoeffdingTreeParams {
        leaf_prediction: LeafPrediction::Mc,
        ..HoeffdingTreeParams::default()
    })
    .unwrap();
    let mut rng = Rng::new(7);
    for _ in 0..15_000 {
        let (x, y) = stagger(&mut rng, 0);
        t.learn_one(&x, y);
    }
    let correct = (0..2000)
        .filter(|_| {
            let (x, y) = stagger(&mut rng, 0);
            t.predict_one(&x) == y
        })
        .count();
    assert!(
        correct >= 1990,
        "accuracy {correct}/2000, {} leaves",
        t.n_leaves()
    );
}

#[test]
fn splits_exactly_at_grace_period() {
    // Class = x0 > 0.5; x1 is noise. The first attempt is at 200 examples: the Hoeffding bound
    // with R = log2(2) = 1 is sqrt(ln(1e7) / 400) = 0.2007, far below the gap between x0's
    // merit (~0.6) and x1's (~0).
    let mut t = HoeffdingTreeClassifier::default();
    let mut rng = Rng::new(1);
    let sample = |rng: &mut Rng| {
        let x = [rng.next_f64(), rng.next_f64()];
        (x, usize::from(x[0] > 0.5))
    };
    for _ in 0..199 {
        let (x, y) = sample(&mut rng);
        t.learn_one(&x, y);
    }
    assert_eq!(t.n_nodes(), 1);
    let (x, y) = sample(&mut rng);
    t.learn_one(&x, y);
    assert_eq!(t.n_nodes(), 3);
    match t.nodes[0] {
        Node::Branch {
            feature, threshold, ..
        } => {
            assert_eq!(feature, 0);
            assert!((0.4..0.6).contains(&threshold), "{threshold}");
        }
        _ => panic!("root did not split"),
    }
    // Children wait for their own grace period: last_split_attempt_at is their inherited weight.
    for n in &t.nodes[1..] {
        let Node::Leaf(l) = n else { panic!() };
        assert_eq!(l.depth, 1);
        assert_eq!(l.last_split_attempt_at, l.stats.iter().sum::<f64>());
    }
}

#[test]
fn pure_leaf_never_splits_and_max_depth_holds() {
    let mut t = HoeffdingTreeClassifier::default();
    for i in 0..1000 {
        t.learn_one(&[i as f64], 0);
    }
    assert_eq!(t.n_nodes(), 1);
    let mut t = HoeffdingTreeClassifier::new(HoeffdingTreeParams {
        max_depth: Some(1),
        ..HoeffdingTreeParams::default()
    })
    .unwrap();
    let mut rng = Rng::new(3);
    for _ in 0..20_000 {
        let (x, y) = stagger(&mut rng, 0);
        t.learn_one(&x, y);
    }
    assert!(t.depth() <= 1);
}

#[test]
fn info_gain_by_hand() {
    // pre [4, 4] has entropy 1; split into [4, 0] / [0, 4] has entropy 0: gain 1.
    assert!(
        (info_gain(&[4.0, 4.0], &[&[4.0, 0.0][..], &[0.0, 4.0][..]], 0.01) - 1.0).abs() < 1e-12
    );
    // [3, 1] / [1, 3]: each side H(0.25) = 0.811278; gain = 1 - 0.811278 = 0.188722.
    let g = info_gain(&[4.0, 4.0], &[&[3.0, 1.0][..], &[1.0, 3.0][..]], 0.01);
    assert!((g - 0.188_721_875_540_867).abs() < 1e-12, "{g}");
    // A branch with under 1% of the weight makes the split invalid.
    assert_eq!(
        info_gain(
            &[500.0, 500.0],
            &[&[500.0, 495.0][..], &[0.0, 5.0][..]],
            0.01
        ),
        f64::NEG_INFINITY
    );
}

#[test]
fn log_density_matches_ln_of_density() {
    let mut s = GaussianSplitter::default();
    for v in [1.0, 2.0, 4.0] {
        s.update(v, 1, 1.0);
    }
    s.update(5.0, 0, 1.0);
    for x in [-3.0, 0.0, 2.3, 10.0] {
        let want = s.cond_proba(x, 1).ln();
        let got = s.log_cond_proba(x, 1).unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    // One value for class 0: variance 0, density 0, skipped; class 2 never seen.
    assert_eq!(s.cond_proba(5.0, 0), 0.0);
    assert_eq!(s.log_cond_proba(5.0, 0), None);
    assert_eq!(s.log_cond_proba(5.0, 2), None);
    // Far in the tail the density underflows to 0, but its log is finite and counts
    // (River 0.26's `cond_log_proba`).
    assert_eq!(s.cond_proba(1e6, 1), 0.0);
    assert!(s.log_cond_proba(1e6, 1).is_some_and(|l| l < -1e9));
}

#[test]
fn dominated_leaf_is_pre_pruned_as_in_river() {
    // 199 examples of class 0 and one of class 1: at the attempt (200) the majority share is
    // 0.995 > max_share_to_split 0.99, so River's pre-pruning deactivates the leaf, and its
    // memory management re-activates it at once with empty observers (River 0.26.1 on this
    // stream: `is_active()` True, `splitters` {}, then 3 nodes after the 2000 examples below).
    let mut t = HoeffdingTreeClassifier::default();
    for i in 0..200 {
        let y = usize::from(i == 100);
        t.learn_one(&[y as f64], y);
    }
    let Node::Leaf(l) = &t.nodes[0] else { panic!() };
    assert!(l.active && l.splitters.is_empty());
    assert_eq!(l.stats, [199.0, 1.0]);
    // A perfectly informative feature then splits it.
    for i in 0..2000 {
        let y = i % 2;
        t.learn_one(&[y as f64], y);
    }
    assert_eq!(t.n_nodes(), 3);
}
