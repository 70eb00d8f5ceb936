//! Hoeffding tree classifier (VFDT; River's `tree.HoeffdingTreeClassifier`).
//!
//! River's parameters and defaults: `grace_period` 200, `max_depth` None, `delta` 1e-7
//! (River's name for the split confidence), `tau` 0.05, information-gain split criterion with
//! `min_branch_fraction` 0.01, `max_share_to_split` 0.99 (a leaf whose majority class holds
//! more than that share is deactivated at its split attempt, as River's pre-pruning does),
//! `merit_preprune` on (not configurable), `leaf_prediction` "nba" (naive Bayes adaptive; "mc" and "nb" are
//! available), `nb_threshold` 0, Gaussian splitter with `n_splits` 10 (River's split-point
//! candidates: `n_splits` equally spaced values strictly between the smallest and largest value
//! seen at the leaf), binary numeric splits `x[f] <= threshold` going left.
//!
//! Differences from River: every attribute is numeric (encode categories with one-hot or
//! hashing in front); no memory management (`max_size`, `memory_estimate_period`,
//! `stop_mem_management`, `remove_poor_attrs` are not implemented); ties between classes go to
//! the lowest label (River: the first class inserted in its dict); `erf` is an approximation
//! (absolute error < 1.2e-7); an untrained tree predicts class 0 (River: `None`); naive-Bayes
//! leaves skip a log-density that underflows (below about −745.13) where River 0.26 adds it
//! (see the example on [`HoeffdingTreeClassifier`]). Features beyond an input's length are
//! read as 0.

use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::estimator::{load_estimator, EntryKind, ModelEntry};
use crate::param::{ParamReader, ParamSpec, Params};
use crate::traits::{Classifier, Task};

mod splitter;
pub use splitter::GaussianSplitter;

/// `hoeffding_tree`: River's `tree.HoeffdingTreeClassifier`.
pub static HOEFFDING_TREE: ModelEntry = ModelEntry {
    name: "hoeffding_tree",
    river: "tree.HoeffdingTreeClassifier",
    aliases: &["hoeffding_tree_classifier", "vfdt"],
    params: &[&[
        ParamSpec::new(
            "grace_period",
            "200",
            "examples between split attempts at a leaf",
        ),
        ParamSpec::new("max_depth", "none", "the deepest a leaf may be"),
        ParamSpec::new("delta", "1e-7", "split confidence (1 - delta)"),
        ParamSpec::new("tau", "0.05", "tie threshold"),
        ParamSpec::new(
            "leaf_prediction",
            "nba",
            "`mc` (majority class), `nb` (naive Bayes) or `nba` (adaptive)",
        ),
        ParamSpec::new(
            "nb_threshold",
            "0",
            "leaf weight before naive Bayes is used",
        ),
        ParamSpec::new("n_splits", "10", "split points tried per feature"),
        ParamSpec::new(
            "min_branch_fraction",
            "0.01",
            "least share of weight in a branch of a split",
        ),
        ParamSpec::new(
            "max_share_to_split",
            "0.99",
            "a leaf whose majority class holds more stops splitting",
        ),
    ]],
    kind: EntryKind::Features {
        task: Task::Classification,
        binary: false,
        build: |p| {
            Ok(Box::new(HoeffdingTreeClassifier::new(
                HoeffdingTreeParams::from_params(p)?,
            )?))
        },
        load: load_estimator::<HoeffdingTreeClassifier>,
    },
};

/// How a leaf predicts (River's `leaf_prediction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeafPrediction {
    /// Majority class: the leaf's class distribution.
    Mc,
    /// Naive Bayes over the leaf's Gaussian estimators.
    Nb,
    /// Naive Bayes adaptive: whichever of the two has been right more often at this leaf.
    Nba,
}

/// Hyper-parameters (River's names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoeffdingTreeParams {
    pub grace_period: f64,
    pub max_depth: Option<usize>,
    pub delta: f64,
    pub tau: f64,
    pub leaf_prediction: LeafPrediction,
    pub nb_threshold: f64,
    pub n_splits: usize,
    pub min_branch_fraction: f64,
    pub max_share_to_split: f64,
}

impl HoeffdingTreeParams {
    /// From the parameters of [`HOEFFDING_TREE`] (River's defaults where absent).
    pub fn from_params(p: &Params) -> Result<Self, LearnError> {
        let r = ParamReader::new(p);
        let d = HoeffdingTreeParams::default();
        let max_depth = match r.raw("max_depth") {
            None | Some("none") | Some("None") => None,
            Some(_) => Some(r.usize("max_depth", 0)?),
        };
        let leaf_prediction = match r.choice("leaf_prediction", "nba", &["mc", "nb", "nba"])? {
            "mc" => LeafPrediction::Mc,
            "nb" => LeafPrediction::Nb,
            _ => LeafPrediction::Nba,
        };
        Ok(HoeffdingTreeParams {
            grace_period: r.f64("grace_period", d.grace_period)?,
            max_depth,
            delta: r.f64("delta", d.delta)?,
            tau: r.f64("tau", d.tau)?,
            leaf_prediction,
            nb_threshold: r.f64("nb_threshold", d.nb_threshold)?,
            n_splits: r.usize("n_splits", d.n_splits)?,
            min_branch_fraction: r.f64("min_branch_fraction", d.min_branch_fraction)?,
            max_share_to_split: r.f64("max_share_to_split", d.max_share_to_split)?,
        })
    }
}

impl Default for HoeffdingTreeParams {
    fn default() -> Self {
        HoeffdingTreeParams {
            grace_period: 200.0,
            max_depth: None,
            delta: 1e-7,
            tau: 0.05,
            leaf_prediction: LeafPrediction::Nba,
            nb_threshold: 0.0,
            n_splits: 10,
            min_branch_fraction: 0.01,
            max_share_to_split: 0.99,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leaf {
    pub depth: usize,
    /// Class weights seen at this leaf (including those inherited at the split).
    pub stats: Vec<f64>,
    /// One Gaussian splitter per feature.
    pub splitters: Vec<GaussianSplitter>,
    pub last_split_attempt_at: f64,
    pub active: bool,
    pub mc_correct_weight: f64,
    pub nb_correct_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    Leaf(Leaf),
    /// `x[feature] <= threshold` goes to `left`.
    Branch {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
}

/// River's `tree.HoeffdingTreeClassifier` (see the module docs).
///
/// # Example
///
/// Progressive validation on the SEA stream (10% label noise) at River's defaults; the numbers
/// are River's on the same stream (`scripts/make_doc_examples.py`, `fixtures/doc_examples.json`)
/// with the two differences below, which change 3 of the 10 000 predictions (eddy 0.8635,
/// River 0.26.1 0.8636; same tree, same final probabilities):
///
/// - River predicts `None` for the first example (counted as a miss), eddy class 0;
/// - eddy's naive Bayes leaves skip a class's log-density below `ln` of the smallest `f64`
///   (≈ −745.13, where the density itself is 0), as River did when it summed `log(pdf)` for
///   `pdf > 0`; River 0.26 adds `cond_log_proba` however small. Twice early on (examples 5
///   and 18, leaves of a few examples) this flips the vote. With that cut-off patched into River
///   and its `None` read as class 0, River gives eddy's 0.8635 exactly
///   (`eddy_nb_cutoff_none_as_0` in the JSON).
///
/// ```
/// use eddy_learn::synth::Sea;
/// use eddy_learn::tree::HoeffdingTreeClassifier;
/// use eddy_learn::{metrics, Classifier, Metric};
///
/// let mut model = HoeffdingTreeClassifier::default(); // grace_period 200, delta 1e-7, nba
/// let mut accuracy = metrics::build("accuracy").unwrap();
/// for (x, y) in Sea::new(0, 0.1, 42).unwrap().take(10_000) {
///     accuracy.update(y, model.predict_one(&x) as f64, None);
///     model.learn_one(&x, y as usize);
/// }
/// assert_eq!(format!("{:.6}", accuracy.get()), "0.863500");
/// // River: n_nodes 7, n_leaves 4, height 3 (levels; eddy's depth counts edges).
/// assert_eq!((model.n_nodes(), model.n_leaves(), model.depth()), (7, 4, 2));
/// let mut proba = Vec::new();
/// model.predict_proba_one(&[6.0, 4.0, 1.0], &mut proba);
/// assert_eq!(format!("{proba:.6?}"), "[0.112130, 0.887870]");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoeffdingTreeClassifier {
    pub params: HoeffdingTreeParams,
    /// Node arena; the root is node 0.
    pub nodes: Vec<Node>,
    pub n_classes: usize,
}

/// A split suggestion: its merit and, unless it is the null split, (feature, threshold, left
/// class weights, right class weights).
type Suggestion = (f64, Option<(usize, f64, Vec<f64>, Vec<f64>)>);

fn argmax(v: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &x) in v.iter().enumerate() {
        if best.is_none_or(|b| x > v[b]) {
            best = Some(i);
        }
    }
    best
}

/// River's `do_naive_bayes_prediction` (with `ln(pdf)` computed directly in log space),
/// written into `out` (length `n_classes`). Returns false
/// (and leaves zeros) when the leaf has seen no weight.
fn naive_bayes(x: &[f64], stats: &[f64], splitters: &[GaussianSplitter], out: &mut [f64]) -> bool {
    out.iter_mut().for_each(|o| *o = 0.0);
    let total: f64 = stats.iter().sum();
    if total <= 0.0 {
        return false;
    }
    let mut max = f64::NEG_INFINITY;
    for (c, &w) in stats.iter().enumerate() {
        if w <= 0.0 {
            continue;
        }
        let mut vote = (w / total).ln();
        for (s, &xf) in splitters.iter().zip(x) {
            if let Some(lp) = s.log_cond_proba(xf, c) {
                vote += lp;
            }
        }
        out[c] = vote;
        max = max.max(vote);
    }
    let mut sum = 0.0;
    for (c, &w) in stats.iter().enumerate() {
        if w > 0.0 {
            sum += (out[c] - max).exp();
        }
    }
    let lse = max + sum.ln();
    for (c, &w) in stats.iter().enumerate() {
        if w > 0.0 {
            out[c] = (out[c] - lse).exp();
        }
    }
    true
}

/// River's information-gain entropy of one distribution (base 2).
fn entropy(dist: &[f64]) -> f64 {
    let mut e = 0.0;
    let mut s = 0.0;
    for &d in dist {
        if d > 0.0 {
            e -= d * d.ln();
            s += d;
        }
    }
    if s > 0.0 {
        (e + s * s.ln()) / (s * std::f64::consts::LN_2)
    } else {
        0.0
    }
}

/// River's `InfoGainSplitCriterion.merit_of_split` for a binary split.
pub(crate) fn info_gain(pre: &[f64], left: &[f64], right: &[f64], min_branch_fraction: f64) -> f64 {
    let (wl, wr): (f64, f64) = (left.iter().sum(), right.iter().sum());
    let total = wl + wr;
    let big = [wl, wr]
        .iter()
        .filter(|&&w| total > 0.0 && w / total > min_branch_fraction)
        .count();
    if big < 2 {
        return f64::NEG_INFINITY;
    }
    entropy(pre) - (wl * entropy(left) + wr * entropy(right)) / total
}

impl Leaf {
    fn new(depth: usize, stats: Vec<f64>) -> Self {
        let w = stats.iter().sum();
        Leaf {
            depth,
            stats,
            splitters: Vec::new(),
            last_split_attempt_at: w,
            active: true,
            mc_correct_weight: 0.0,
            nb_correct_weight: 0.0,
        }
    }

    fn total_weight(&self) -> f64 {
        self.stats.iter().sum()
    }

    /// River's `deactivate`: stop monitoring attributes (and predict the majority class).
    fn deactivate(&mut self) {
        self.active = false;
        self.splitters = Vec::new();
    }

    fn uses_nb(&self, p: &HoeffdingTreeParams) -> bool {
        self.active
            && match p.leaf_prediction {
                LeafPrediction::Mc => false,
                LeafPrediction::Nb => self.total_weight() >= p.nb_threshold,
                LeafPrediction::Nba => self.nb_correct_weight >= self.mc_correct_weight,
            }
    }
}

impl HoeffdingTreeClassifier {
    pub fn new(params: HoeffdingTreeParams) -> Result<Self, LearnError> {
        let bad = |name: &str, msg: String| {
            Err(LearnError::Param {
                name: name.into(),
                msg,
            })
        };
        if params.grace_period.is_nan() || params.grace_period < 1.0 {
            return bad(
                "grace_period",
                format!("must be >= 1, got {}", params.grace_period),
            );
        }
        if !(params.delta > 0.0 && params.delta < 1.0) {
            return bad("delta", format!("must be in (0, 1), got {}", params.delta));
        }
        if params.tau.is_nan() || params.tau < 0.0 {
            return bad("tau", format!("must be >= 0, got {}", params.tau));
        }
        if params.n_splits == 0 {
            return bad("n_splits", "must be >= 1".into());
        }
        if !(0.0..0.5).contains(&params.min_branch_fraction) {
            return bad(
                "min_branch_fraction",
                format!("must be in [0, 0.5), got {}", params.min_branch_fraction),
            );
        }
        if !(0.0..=1.0).contains(&params.max_share_to_split) {
            return bad(
                "max_share_to_split",
                format!("must be in [0, 1], got {}", params.max_share_to_split),
            );
        }
        Ok(HoeffdingTreeClassifier {
            params,
            nodes: vec![Node::Leaf(Leaf::new(0, Vec::new()))],
            n_classes: 0,
        })
    }

    fn leaf_of(&self, x: &[f64]) -> usize {
        let mut i = 0;
        while let Node::Branch {
            feature,
            threshold,
            left,
            right,
        } = self.nodes[i]
        {
            let v = x.get(feature).copied().unwrap_or(0.0);
            i = if v <= threshold { left } else { right };
        }
        i
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }
    pub fn n_leaves(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Leaf(_)))
            .count()
    }
    pub fn depth(&self) -> usize {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Leaf(l) => Some(l.depth),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    fn hoeffding_bound(range: f64, delta: f64, n: f64) -> f64 {
        ((range * range * (1.0 / delta).ln()) / (2.0 * n)).sqrt()
    }

    /// River's `_attempt_to_split` with `merit_preprune=True`.
    fn attempt_to_split(&mut self, idx: usize) {
        let p = self.params.clone();
        let Node::Leaf(leaf) = &mut self.nodes[idx] else {
            return;
        };
        let present = leaf.stats.iter().filter(|&&w| w > 0.0).count();
        if present < 2 {
            return;
        }
        let total = leaf.total_weight();
        let majority = leaf.stats.iter().copied().fold(0.0, f64::max);
        if majority / total > p.max_share_to_split {
            // River: the majority class dominates, only the null split is offered, it wins,
            // and the leaf is deactivated (pre-pruned).
            leaf.deactivate();
            return;
        }
        // River's null split (merit -inf under information gain), then the best split of each
        // feature (merit -inf and no split when a feature has no valid candidate).
        let mut suggestions: Vec<Suggestion> = vec![(f64::NEG_INFINITY, None)];
        for (f, s) in leaf.splitters.iter().enumerate() {
            suggestions.push(
                match s.best_split(&leaf.stats, p.n_splits, p.min_branch_fraction) {
                    Some((merit, threshold, left, right)) => {
                        (merit, Some((f, threshold, left, right)))
                    }
                    None => (f64::NEG_INFINITY, None),
                },
            );
        }
        // Stable sort, as Python's: among equal merits the later suggestion ends up last.
        suggestions.sort_by(|a, b| a.0.total_cmp(&b.0));
        let should_split = if suggestions.len() < 2 {
            !suggestions.is_empty()
        } else {
            let range = (present.max(2) as f64).log2();
            let hb = Self::hoeffding_bound(range, p.delta, total);
            let best = suggestions[suggestions.len() - 1].0;
            let second = suggestions[suggestions.len() - 2].0;
            best - second > hb || hb < p.tau
        };
        if !should_split {
            return;
        }
        let Some((feature, threshold, left, right)) = suggestions.pop().and_then(|s| s.1) else {
            // Pre-pruning: the null split won.
            leaf.deactivate();
            return;
        };
        let depth = leaf.depth + 1;
        let (li, ri) = (self.nodes.len(), self.nodes.len() + 1);
        self.nodes.push(Node::Leaf(Leaf::new(depth, left)));
        self.nodes.push(Node::Leaf(Leaf::new(depth, right)));
        self.nodes[idx] = Node::Branch {
            feature,
            threshold,
            left: li,
            right: ri,
        };
    }
}

impl Default for HoeffdingTreeClassifier {
    fn default() -> Self {
        Self::new(HoeffdingTreeParams::default()).expect("defaults are valid")
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    static PROBA: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Classifier for HoeffdingTreeClassifier {
    fn n_classes(&self) -> usize {
        self.n_classes
    }

    fn predict_proba_one(&self, x: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.resize(self.n_classes, 0.0);
        let Node::Leaf(leaf) = &self.nodes[self.leaf_of(x)] else {
            unreachable!("leaf_of returns a leaf")
        };
        let k = leaf.stats.len().min(self.n_classes);
        if leaf.uses_nb(&self.params) {
            naive_bayes(x, &leaf.stats[..k], &leaf.splitters, &mut out[..k]);
        } else {
            out[..k].copy_from_slice(&leaf.stats[..k]);
        }
        let s: f64 = out.iter().sum();
        if s > 0.0 {
            out.iter_mut().for_each(|o| *o /= s);
        }
    }

    /// As the trait's default, without allocating (a reused thread-local buffer).
    fn predict_one(&self, x: &[f64]) -> usize {
        PROBA.with(|p| {
            let mut p = p.borrow_mut();
            self.predict_proba_one(x, &mut p);
            argmax(&p).unwrap_or(0)
        })
    }

    fn learn_one(&mut self, x: &[f64], y: usize) {
        if y >= self.n_classes {
            self.n_classes = y + 1;
        }
        let idx = self.leaf_of(x);
        let nba = self.params.leaf_prediction == LeafPrediction::Nba;
        let Node::Leaf(leaf) = &mut self.nodes[idx] else {
            unreachable!("leaf_of returns a leaf")
        };
        if leaf.active && nba {
            let total = leaf.total_weight();
            if total == 0.0 || argmax(&leaf.stats) == Some(y) {
                leaf.mc_correct_weight += 1.0;
            }
            let k = leaf.stats.len();
            let nb_right = SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                s.clear();
                s.resize(k, 0.0);
                naive_bayes(x, &leaf.stats, &leaf.splitters, &mut s) && argmax(&s) == Some(y)
            });
            if nb_right {
                leaf.nb_correct_weight += 1.0;
            }
        }
        if leaf.stats.len() <= y {
            leaf.stats.resize(y + 1, 0.0);
        }
        leaf.stats[y] += 1.0;
        if !leaf.active {
            return;
        }
        if leaf.splitters.len() < x.len() {
            leaf.splitters.resize(x.len(), GaussianSplitter::default());
        }
        for (s, &xf) in leaf.splitters.iter_mut().zip(x) {
            s.update(xf, y, 1.0);
        }
        if self.params.max_depth.is_some_and(|m| leaf.depth >= m) {
            leaf.deactivate();
            return;
        }
        let w = leaf.total_weight();
        if w - leaf.last_split_attempt_at >= self.params.grace_period {
            leaf.last_split_attempt_at = w;
            self.attempt_to_split(idx);
        }
    }
}

crate::estimator::impl_estimator!(classifier HoeffdingTreeClassifier, HOEFFDING_TREE);

#[cfg(test)]
mod tests;
