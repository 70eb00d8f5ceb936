//! The promotion and rollback rule over a running A/B comparison.

use super::cs::{Boundary, MeanCs};
use super::metric::{AbMetric, Estimate};
use super::AbError;

/// How labelled examples reach the arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Both arms score every example: paired differences.
    Shadow,
    /// Each example is scored by one arm only: two independent samples.
    Split,
}

/// One side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    /// The model that learns online.
    Online,
    /// The frozen model it is compared with.
    Baseline,
}

impl Arm {
    /// The learning log's spelling: `online`, `baseline`.
    pub fn name(self) -> &'static str {
        match self {
            Arm::Online => "online",
            Arm::Baseline => "baseline",
        }
    }
}

/// What the rule decided after an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The online arm is better: it serves from now on.
    Promote,
    /// The online arm fell behind since its promotion: the baseline serves again.
    Rollback,
}

/// The promotion rule: on `metric`, promote when the difference's confidence sequence lies
/// above 0 after at least `min_examples` labelled examples (roll back, symmetrically, when it
/// lies below 0). Both are checked on a sequence restarted at the last switch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbRule {
    pub metric: AbMetric,
    /// Labelled examples since the start (or the last switch) before the rule may fire.
    pub min_examples: u64,
    /// Of every interval (the per-arm ones and the difference's).
    pub confidence: f64,
    /// The sample size at which the sequences are tightest; `None`: `min_examples`
    /// (the first moment the rule may fire).
    pub target_n: Option<u64>,
}

impl AbRule {
    /// `metric` with the defaults: 1,000 examples, 95%, tuned for 1,000.
    pub fn new(metric: AbMetric) -> Self {
        AbRule {
            metric,
            min_examples: 1000,
            confidence: 0.95,
            target_n: None,
        }
    }

    /// The sample size the sequences are tuned for.
    pub fn target_n(&self) -> u64 {
        self.target_n.unwrap_or(self.min_examples).max(1)
    }
}

/// The running comparison of an online arm with a baseline, and the rule deciding which
/// serves. Per example: a few additions and one square root and logarithm per interval; no
/// allocation.
#[derive(Debug, Clone)]
pub struct AbMonitor {
    rule: AbRule,
    mode: Mode,
    /// +1 when bigger is better, −1 for losses: differences are oriented so > 0 favours online.
    sign: f64,
    /// At the rule's confidence: each arm's interval, and the paired difference's.
    boundary: Boundary,
    /// At half the error rate: each arm's part of a split difference (a union bound).
    half: Boundary,
    online: MeanCs,
    baseline: MeanCs,
    /// Paired differences since the start (shadow).
    diff: MeanCs,
    /// Since the last switch: what the rule checks.
    seg_diff: MeanCs,
    seg_online: MeanCs,
    seg_baseline: MeanCs,
    seg_n: u64,
    n: u64,
    serving: Arm,
    promotions: u64,
    rollbacks: u64,
    ignored: u64,
}

impl AbMonitor {
    /// Refuses a metric without per-example scores (`roc_auc`), a confidence outside (0, 1).
    pub fn new(rule: AbRule, mode: Mode) -> Result<Self, AbError> {
        if !rule.metric.has_interval() {
            return Err(AbError::NoInterval(rule.metric.name()));
        }
        let boundary = Boundary::new(rule.confidence, rule.target_n())?;
        let half = Boundary::new(1.0 - (1.0 - rule.confidence) / 2.0, rule.target_n())?;
        Ok(AbMonitor {
            rule,
            mode,
            sign: if rule.metric.bigger_is_better() {
                1.0
            } else {
                -1.0
            },
            boundary,
            half,
            online: MeanCs::default(),
            baseline: MeanCs::default(),
            diff: MeanCs::default(),
            seg_diff: MeanCs::default(),
            seg_online: MeanCs::default(),
            seg_baseline: MeanCs::default(),
            seg_n: 0,
            n: 0,
            serving: Arm::Baseline,
            promotions: 0,
            rollbacks: 0,
            ignored: 0,
        })
    }

    pub fn rule(&self) -> &AbRule {
        &self.rule
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Shadow mode: both arms' scores of one labelled example (see [`AbMetric::score`]).
    /// A NaN or infinite score, or a call in split mode, is ignored (and counted).
    pub fn observe_shadow(&mut self, score_online: f64, score_baseline: f64) -> Option<Decision> {
        if self.mode != Mode::Shadow || !score_online.is_finite() || !score_baseline.is_finite() {
            self.ignored += 1;
            return None;
        }
        let d = self.sign * (score_online - score_baseline);
        self.online.push(score_online);
        self.baseline.push(score_baseline);
        self.diff.push(d);
        self.seg_diff.push(d);
        self.n += 1;
        self.seg_n += 1;
        self.decide()
    }

    /// Split mode: the score of one labelled example by the arm that served it.
    /// A NaN or infinite score, or a call in shadow mode, is ignored (and counted).
    pub fn observe_split(&mut self, arm: Arm, score: f64) -> Option<Decision> {
        if self.mode != Mode::Split || !score.is_finite() {
            self.ignored += 1;
            return None;
        }
        match arm {
            Arm::Online => {
                self.online.push(score);
                self.seg_online.push(score);
            }
            Arm::Baseline => {
                self.baseline.push(score);
                self.seg_baseline.push(score);
            }
        }
        self.n += 1;
        self.seg_n += 1;
        self.decide()
    }

    fn decide(&mut self) -> Option<Decision> {
        if self.seg_n < self.rule.min_examples {
            return None;
        }
        let (lo, hi) = self.interval(&self.seg_diff, &self.seg_online, &self.seg_baseline)?;
        let decision = match self.serving {
            Arm::Baseline if lo > 0.0 => Decision::Promote,
            Arm::Online if hi < 0.0 => Decision::Rollback,
            _ => return None,
        };
        match decision {
            Decision::Promote => {
                self.serving = Arm::Online;
                self.promotions += 1;
            }
            Decision::Rollback => {
                self.serving = Arm::Baseline;
                self.rollbacks += 1;
            }
        }
        self.restart();
        Some(decision)
    }

    /// Starts the sequence the rule checks afresh (the arm serving stays): done at every
    /// promotion and rollback, and by the caller when a drift is detected, so that the rule
    /// weighs only the examples since the change. The first `min_examples` after it cannot
    /// switch. Each restarted sequence holds at the rule's confidence on its own.
    pub fn restart(&mut self) {
        self.seg_diff = MeanCs::default();
        self.seg_online = MeanCs::default();
        self.seg_baseline = MeanCs::default();
        self.seg_n = 0;
    }

    /// The oriented difference's interval: paired (shadow), or each arm's interval at half
    /// the error rate combined (split).
    fn interval(&self, diff: &MeanCs, online: &MeanCs, baseline: &MeanCs) -> Option<(f64, f64)> {
        match self.mode {
            Mode::Shadow => diff.interval(&self.boundary),
            Mode::Split => {
                let (on_lo, on_hi) = online.interval(&self.half)?;
                let (base_lo, base_hi) = baseline.interval(&self.half)?;
                Some(if self.sign > 0.0 {
                    (on_lo - base_hi, on_hi - base_lo)
                } else {
                    (base_lo - on_hi, base_hi - on_lo)
                })
            }
        }
    }

    fn diff_estimate(&self, diff: &MeanCs, online: &MeanCs, baseline: &MeanCs) -> Estimate {
        let (n, value) = match self.mode {
            Mode::Shadow => (diff.n(), diff.mean()),
            Mode::Split => (
                online.n() + baseline.n(),
                online
                    .mean()
                    .zip(baseline.mean())
                    .map(|(a, b)| self.sign * (a - b)),
            ),
        };
        let interval = self.interval(diff, online, baseline);
        Estimate {
            n,
            value: value.unwrap_or(f64::NAN),
            lo: interval.map(|i| i.0),
            hi: interval.map(|i| i.1),
        }
    }

    /// One arm's metric over every example it scored, and its confidence sequence.
    pub fn arm(&self, arm: Arm) -> Estimate {
        let cs = match arm {
            Arm::Online => &self.online,
            Arm::Baseline => &self.baseline,
        };
        Estimate::of(self.rule.metric, cs, &self.boundary)
    }

    /// Online minus baseline over every example, oriented so that > 0 means online is
    /// better (baseline minus online for losses), with its confidence sequence. For `rmse`
    /// it is a difference of mean squared errors (differences of square roots of means are
    /// not means), whose sign is the RMSE difference's.
    pub fn diff(&self) -> Estimate {
        self.diff_estimate(&self.diff, &self.online, &self.baseline)
    }

    /// The same difference over the examples since the last promotion or rollback (all of
    /// them before the first): what the rule checks.
    pub fn diff_since_switch(&self) -> Estimate {
        self.diff_estimate(&self.seg_diff, &self.seg_online, &self.seg_baseline)
    }

    /// The arm whose predictions are served: the baseline until a promotion.
    pub fn serving(&self) -> Arm {
        self.serving
    }

    /// Labelled examples observed.
    pub fn n(&self) -> u64 {
        self.n
    }

    pub fn promotions(&self) -> u64 {
        self.promotions
    }

    pub fn rollbacks(&self) -> u64 {
        self.rollbacks
    }

    /// Observations ignored: NaN or infinite scores, calls for the other mode.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }
}
