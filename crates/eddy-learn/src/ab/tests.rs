//! The rule and its intervals checked by simulation with known truth, and the formulas by hand.
//!
//! Simulated arms are right (or err) independently of each other: the hardest case for a
//! paired difference, with no shared difficulty to cancel.

use eddy_core::rng::Rng;

use super::*;

fn bit(rng: &mut Rng, p: f64) -> f64 {
    rng.chance(p) as u8 as f64
}

fn accuracy_rule(min_examples: u64) -> AbRule {
    AbRule {
        min_examples,
        ..AbRule::new(AbMetric::Accuracy)
    }
}

/// One simulated comparison on accuracy.
#[derive(Debug)]
struct Run {
    /// The example (1-based) of the first promotion.
    promoted_at: Option<u64>,
    /// Whether the difference's interval covered the true difference at the end, and at
    /// every example from `from` on.
    covered_end: bool,
    covered_always: bool,
}

/// `horizon` labelled examples, arms right with probabilities `p_on`, `p_base`; in split
/// mode each example goes to either arm with probability ½.
fn simulate(
    mode: Mode,
    seed: u64,
    p_on: f64,
    p_base: f64,
    rule: AbRule,
    horizon: u64,
    from: u64,
) -> Run {
    let mut rng = Rng::new(seed);
    let mut ab = AbMonitor::new(rule, mode).unwrap();
    let truth = p_on - p_base;
    let mut run = Run {
        promoted_at: None,
        covered_end: false,
        covered_always: true,
    };
    for i in 1..=horizon {
        let decision = match mode {
            Mode::Shadow => {
                let (a, b) = (bit(&mut rng, p_on), bit(&mut rng, p_base));
                ab.observe_shadow(a, b)
            }
            Mode::Split => {
                if rng.chance(0.5) {
                    let s = bit(&mut rng, p_on);
                    ab.observe_split(Arm::Online, s)
                } else {
                    let s = bit(&mut rng, p_base);
                    ab.observe_split(Arm::Baseline, s)
                }
            }
        };
        if decision == Some(Decision::Promote) && run.promoted_at.is_none() {
            run.promoted_at = Some(i);
        }
        if i >= from {
            let d = ab.diff();
            let covered = d.lo.is_some_and(|lo| lo <= truth) && d.hi.is_some_and(|hi| truth <= hi);
            run.covered_always &= covered;
            run.covered_end = covered;
        }
    }
    run
}

fn count(runs: &[Run], f: impl Fn(&Run) -> bool) -> usize {
    runs.iter().filter(|r| f(r)).count()
}

const SEEDS: u64 = 200;
/// 93% of 200 seeds.
const COVERED: usize = 186;
/// 5% of 200 seeds.
const FALSE_PROMOTIONS: usize = 10;

/// Equal arms, the rule checked at every example from the 100th to the 20,000th: a
/// promotion is a false one. The interval must also cover the true difference (0) at every
/// one of those examples.
fn equal_arms(mode: Mode) {
    let runs: Vec<Run> = (0..SEEDS)
        .map(|s| simulate(mode, s, 0.75, 0.75, accuracy_rule(100), 20_000, 100))
        .collect();
    let promoted = count(&runs, |r| r.promoted_at.is_some());
    let covered = count(&runs, |r| r.covered_always);
    assert!(
        promoted <= FALSE_PROMOTIONS,
        "{mode:?}: {promoted} false promotions of {SEEDS}"
    );
    assert!(
        covered >= COVERED,
        "{mode:?}: covered always in {covered} of {SEEDS}"
    );
}

#[test]
fn equal_arms_are_promoted_at_most_5_percent_of_the_time_shadow() {
    equal_arms(Mode::Shadow);
}

#[test]
fn equal_arms_are_promoted_at_most_5_percent_of_the_time_split() {
    equal_arms(Mode::Split);
}

/// Accuracy 0.80 against 0.75 (true difference 0.05), min_examples 1,000.
fn better_arm(mode: Mode, by: u64, most_by: u64) {
    let runs: Vec<Run> = (0..SEEDS)
        .map(|s| simulate(mode, 1000 + s, 0.80, 0.75, accuracy_rule(1000), 20_000, 30))
        .collect();
    let all = count(&runs, |r| r.promoted_at.is_some_and(|at| at <= by));
    let most = count(&runs, |r| r.promoted_at.is_some_and(|at| at <= most_by));
    assert_eq!(
        all, SEEDS as usize,
        "{mode:?}: promoted by {by} in {all} of {SEEDS}"
    );
    assert!(
        most >= 180,
        "{mode:?}: promoted by {most_by} in {most} of {SEEDS}"
    );
    // No run promotes before min_examples.
    assert!(runs
        .iter()
        .all(|r| r.promoted_at.is_some_and(|at| at >= 1000)));
    let end = count(&runs, |r| r.covered_end);
    let always = count(&runs, |r| r.covered_always);
    assert!(
        end >= COVERED,
        "{mode:?}: covered at the end in {end} of {SEEDS}"
    );
    assert!(
        always >= COVERED,
        "{mode:?}: covered at every n >= 30 in {always} of {SEEDS}"
    );
}

#[test]
fn a_better_arm_is_promoted_and_the_difference_covered_shadow() {
    better_arm(Mode::Shadow, 8_000, 3_000);
}

#[test]
fn a_better_arm_is_promoted_and_the_difference_covered_split() {
    // Half the examples per arm and no pairing: slower.
    better_arm(Mode::Split, 20_000, 12_000);
}

/// Why confidence sequences: the textbook 95% interval (mean ± 1.96 σ̂/√n), correct at one
/// fixed n, re-checked at every example between the 100th and the 20,000th, "finds" that
/// one of two equal arms is better in far more than 5% of the runs.
#[test]
fn a_fixed_sample_interval_rechecked_at_every_example_promotes_far_too_often() {
    let mut promoted = 0;
    for seed in 0..SEEDS {
        let mut rng = Rng::new(seed);
        let (mut n, mut sum, mut sum2) = (0.0, 0.0, 0.0);
        for i in 1..=20_000u64 {
            let d = bit(&mut rng, 0.75) - bit(&mut rng, 0.75);
            n += 1.0;
            sum += d;
            sum2 += d * d;
            let mean = sum / n;
            let half = 1.96 * ((sum2 / n - mean * mean).max(0.0) / n).sqrt();
            if i >= 100 && mean - half > 0.0 {
                promoted += 1;
                break;
            }
        }
    }
    assert!(promoted >= 40, "{promoted} of {SEEDS}");
}

/// A loss without a bound: mean absolute errors of two equally good regressors (|N(0, 1)|),
/// the rule checked at every example from the 100th to the 5,000th.
#[test]
fn equal_regressors_are_rarely_promoted_on_mae() {
    let rule = AbRule {
        min_examples: 100,
        ..AbRule::new(AbMetric::Mae)
    };
    let mut promoted = 0;
    for seed in 0..SEEDS {
        let mut rng = Rng::new(7000 + seed);
        let mut ab = AbMonitor::new(rule, Mode::Shadow).unwrap();
        for _ in 0..5_000 {
            let y = 10.0 * rng.normal();
            let on = AbMetric::Mae.score(y, y + rng.normal(), None).unwrap();
            let base = AbMetric::Mae.score(y, y + rng.normal(), None).unwrap();
            if ab.observe_shadow(on, base).is_some() {
                promoted += 1;
                break;
            }
        }
    }
    assert!(promoted <= FALSE_PROMOTIONS, "{promoted} of {SEEDS}");
}

/// Promoted early on (0.80 against 0.75), the online arm drops to 0.70 at example 20,000.
/// The sequence since the promotion holds ~19,000 examples in its favour and does not move
/// below 0 within 10,000 more; restarted when the drift is detected (here 200 examples after
/// it), it rolls back as soon as `min_examples` allows.
#[test]
fn a_drift_after_promotion_rolls_back_once_the_sequence_restarts() {
    for seed in 0..10 {
        for restart_at in [None, Some(20_200u64)] {
            let mut rng = Rng::new(seed);
            let mut ab = AbMonitor::new(accuracy_rule(1000), Mode::Shadow).unwrap();
            let mut rolled_back = None;
            for i in 1..=30_000u64 {
                if Some(i) == restart_at {
                    assert_eq!(ab.serving(), Arm::Online, "seed {seed}");
                    // The difference over all examples is still clearly positive.
                    assert!(ab.diff().lo.unwrap() > 0.0);
                    ab.restart();
                }
                let p_on = if i > 20_000 { 0.70 } else { 0.80 };
                let (a, b) = (bit(&mut rng, p_on), bit(&mut rng, 0.75));
                if ab.observe_shadow(a, b) == Some(Decision::Rollback) {
                    rolled_back.get_or_insert(i);
                }
            }
            match restart_at {
                None => assert_eq!(rolled_back, None, "seed {seed}"),
                Some(at) => {
                    let i = rolled_back.unwrap_or(u64::MAX);
                    assert!(i >= at + 999 && i <= at + 5_000, "seed {seed}: {i}");
                    assert_eq!(ab.serving(), Arm::Baseline);
                    assert_eq!((ab.promotions(), ab.rollbacks()), (1, 1));
                }
            }
        }
    }
}

#[test]
fn the_boundary_and_the_running_moments_by_hand() {
    // ρ² and the unit margin at t = t* = 4, 95%, from the formulas in Python.
    let b = Boundary::new(0.95, 4).unwrap();
    assert!((b.rho2() - 1.9840386504343912).abs() < 1e-12);
    assert!((b.unit_margin(4) - 1.5176044951881265).abs() < 1e-12);
    let b = Boundary::new(0.975, 1000).unwrap();
    assert!((b.rho2() - 0.009503339353569484).abs() < 1e-15);
    assert!((b.unit_margin(5000) - 0.04795128618609146).abs() < 1e-12);
    assert_eq!(Boundary::new(1.0, 10), Err(AbError::Confidence(1.0)));
    assert!(Boundary::new(f64::NAN, 10).is_err());
    assert_eq!(Boundary::new(0.9, 0), Err(AbError::TargetN));

    // Welford against the two-pass mean and mean squared deviation.
    let xs = [3.5, -1.0, 2.25, 10.0, 0.0, 7.5, 1e3, -2.5];
    let mut cs = MeanCs::default();
    assert_eq!(
        (cs.mean(), cs.variance(), cs.interval(&b)),
        (None, None, None)
    );
    for &x in &xs {
        cs.push(x);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    assert!((cs.mean().unwrap() - mean).abs() < 1e-12);
    assert!((cs.variance().unwrap() - var).abs() < 1e-9 * var);
    let (lo, hi) = cs.interval(&b).unwrap();
    let half = var.sqrt() * b.unit_margin(8);
    assert!((lo - (mean - half)).abs() < 1e-9 && (hi - (mean + half)).abs() < 1e-9);
}

#[test]
fn scores_by_hand() {
    use AbMetric::*;
    assert_eq!(Accuracy.score(1.0, 1.0, None), Some(1.0));
    assert_eq!(Accuracy.score(2.0, 1.0, Some(0.9)), Some(0.0));
    assert!((LogLoss.score(1.0, 1.0, Some(0.9)).unwrap() - 0.1053605156578263).abs() < 1e-15);
    assert!((LogLoss.score(0.0, 1.0, Some(0.2)).unwrap() - 0.2231435513142097).abs() < 1e-15);
    // Clamped as River does: a sure wrong answer costs −ln 1e-15.
    assert!((LogLoss.score(1.0, 0.0, Some(0.0)).unwrap() - 34.538776394910684).abs() < 1e-12);
    assert!((LogLoss.score(1.0, 0.0, None).unwrap() - 34.538776394910684).abs() < 1e-12);
    assert_eq!(Mae.score(3.0, 1.5, None), Some(1.5));
    assert_eq!(Rmse.score(3.0, 1.5, None), Some(2.25));
    assert_eq!(RocAuc.score(1.0, 1.0, Some(0.7)), None);
    assert_eq!(Mae.score(f64::NAN, 1.0, None), None);
    assert_eq!(Mae.score(1.0, f64::INFINITY, None), None);

    // River's LogLoss docstring: y = [1, 0, 0, 1], p = [0.9, 0.1, 0.2, 0.65] → 0.216161.
    let mut ll = ArmMetric::new(LogLoss, 0.95, 100).unwrap();
    for (y, p) in [(1.0, 0.9), (0.0, 0.1), (0.0, 0.2), (1.0, 0.65)] {
        ll.update(y, (p > 0.5) as u8 as f64, Some(p));
    }
    assert!((ll.estimate().value - 0.216161).abs() < 1e-6);

    // RMSE: errors 1, 3 → mean square 5, RMSE √5; the interval is the mean square's, rooted.
    let mut rmse = ArmMetric::new(Rmse, 0.95, 2).unwrap();
    rmse.update(1.0, 0.0, None);
    rmse.update(0.0, 3.0, None);
    let e = rmse.estimate();
    assert!((e.value - 5f64.sqrt()).abs() < 1e-12);
    // Squares 1 and 9: mean 5, σ̂ = 4.
    let half = 4.0 * Boundary::new(0.95, 2).unwrap().unit_margin(2);
    assert_eq!(
        e.lo,
        Some(0.0),
        "a negative lower end of the mean square maps to 0"
    );
    assert!((e.hi.unwrap() - (5.0 + half).sqrt()).abs() < 1e-12);

    // ROC AUC: a point value only. Scores 0.9 (pos), 0.2 (neg), 0.4 (pos), 0.6 (neg):
    // pairs (pos, neg) ordered right: (0.9, 0.2), (0.9, 0.6), (0.4, 0.2) of 4 → 0.75.
    let mut auc = ArmMetric::new(RocAuc, 0.95, 2).unwrap();
    for (y, p) in [
        (1.0, 0.9),
        (0.0, 0.2),
        (1.0, 0.4),
        (0.0, 0.6),
        (f64::NAN, 0.5),
    ] {
        auc.update(y, 0.0, Some(p));
    }
    assert_eq!(
        auc.estimate(),
        Estimate {
            n: 4,
            value: 0.75,
            lo: None,
            hi: None
        }
    );
}

#[test]
fn roc_auc_and_unknown_metrics_are_refused_by_the_rule() {
    let err = AbMonitor::new(AbRule::new(AbMetric::RocAuc), Mode::Shadow).unwrap_err();
    assert_eq!(err, AbError::NoInterval("roc_auc"));
    assert!(
        err.to_string().contains("accuracy, log_loss, mae or rmse"),
        "{err}"
    );
    assert_eq!(AbMetric::from_name("auc"), Ok(AbMetric::RocAuc));
    assert_eq!(AbMetric::from_name(" logloss"), Ok(AbMetric::LogLoss));
    assert_eq!(AbMetric::from_name("f1"), Err(AbError::Metric("f1".into())));
    let rule = AbRule {
        confidence: 95.0,
        ..AbRule::new(AbMetric::Accuracy)
    };
    assert_eq!(
        AbMonitor::new(rule, Mode::Split).unwrap_err(),
        AbError::Confidence(95.0)
    );
}

#[test]
fn differences_favour_the_online_arm_when_positive() {
    // Log loss: the online arm's losses are lower → a positive difference.
    let rule = AbRule {
        min_examples: 1_000_000,
        ..AbRule::new(AbMetric::LogLoss)
    };
    let mut ab = AbMonitor::new(rule, Mode::Shadow).unwrap();
    for (on, base) in [(0.1, 0.5), (0.2, 0.4), (0.3, 0.3)] {
        ab.observe_shadow(on, base);
    }
    assert!((ab.diff().value - 0.2).abs() < 1e-12);
    assert!((ab.arm(Arm::Online).value - 0.2).abs() < 1e-12);
    assert!((ab.arm(Arm::Baseline).value - 0.4).abs() < 1e-12);

    // RMSE: the difference is of mean squares, baseline minus online: (4 + 16)/2 − (1 + 9)/2.
    let rule = AbRule {
        min_examples: 1_000_000,
        ..AbRule::new(AbMetric::Rmse)
    };
    let mut ab = AbMonitor::new(rule, Mode::Split).unwrap();
    assert!(ab.diff().value.is_nan());
    for (arm, err) in [
        (Arm::Online, 1.0),
        (Arm::Baseline, 2.0),
        (Arm::Online, 3.0),
        (Arm::Baseline, 4.0),
    ] {
        ab.observe_split(arm, err * err);
    }
    let d = ab.diff();
    assert_eq!((d.n, d.value), (4, 5.0));
    assert!((ab.arm(Arm::Online).value - 5f64.sqrt()).abs() < 1e-12);
    // Split: each arm's interval at 97.5%, combined.
    let half = Boundary::new(0.975, 1_000_000).unwrap().unit_margin(2);
    let (sd_on, sd_base) = (4.0, 6.0); // squares 1, 9 and 4, 16: σ̂ = 4 and 6
    assert!((d.lo.unwrap() - (5.0 - half * (sd_on + sd_base))).abs() < 1e-9);
    assert!((d.hi.unwrap() - (5.0 + half * (sd_on + sd_base))).abs() < 1e-9);
}

#[test]
fn bad_scores_and_the_other_modes_calls_are_ignored() {
    let mut ab = AbMonitor::new(accuracy_rule(1), Mode::Shadow).unwrap();
    assert_eq!(ab.observe_split(Arm::Online, 1.0), None);
    assert_eq!(ab.observe_shadow(f64::NAN, 1.0), None);
    assert_eq!(ab.observe_shadow(1.0, f64::INFINITY), None);
    assert_eq!((ab.n(), ab.ignored()), (0, 3));
    let mut ab = AbMonitor::new(accuracy_rule(1), Mode::Split).unwrap();
    assert_eq!(ab.observe_shadow(1.0, 0.0), None);
    assert_eq!((ab.n(), ab.ignored()), (0, 1));
    // Before two scores per arm there is no interval, so no decision.
    assert_eq!(ab.observe_split(Arm::Online, 1.0), None);
    assert_eq!(ab.observe_split(Arm::Baseline, 0.0), None);
    let d = ab.diff();
    assert_eq!((d.n, d.value, d.lo, d.hi), (2, 1.0, None, None));
}
