//! Hoeffding tree classifier (VFDT; River's `tree.HoeffdingTreeClassifier`).
//!
//! River's parameters and defaults: `grace_period` 200, `max_depth` None, `delta` 1e-7
//! (River's name for the split confidence), `tau` 0.05, information-gain split criterion with
//! `min_branch_fraction` 0.01, `max_share_to_split` 0.99, `merit_preprune` on (not
//! configurable), `leaf_prediction` "nba" (naive Bayes adaptive; "mc" and "nb" are available),
//! `nb_threshold` 0, Gaussian splitter with `n_splits` 10 (River's split-point candidates:
//! `n_splits` equally spaced values strictly between the smallest and largest value seen at the
//! leaf), binary numeric splits `x[f] <= threshold` going left, `nominal_attributes` (feature
//! positions here, `"0,3"`; their values are category codes compared exactly) and
//! `binary_split` false.
//!
//! Nominal attributes as River's `NominalSplitterClassif`: class weights per category; the
//! split is one branch per category seen (sorted), replaced by "category = v" against the rest
//! when that has a strictly higher merit (only the latter with `binary_split`); a category first
//! seen after a multiway split gets a new leaf when learning, and follows the child of most
//! weight when predicting.
//!
//! Checked against River 0.26.1 on 15 streams (numeric, nominal, mixed, four classes, and
//! categories that first appear after the tree has split) with six settings each: every
//! prediction, the accuracy and the tree's size are River's (`scripts/make_tree_fixtures.py`,
//! `tests/tree_fixtures.rs`). That takes River's details as they are: ties between classes
//! broken in the order River's dicts hold them (kept per leaf), its sums in that order, its
//! log-density formula (a log-density counts however small), the C library's `erf` (via
//! `libm`), and its pre-pruning as River 0.26 runs it: a leaf pre-pruned by the null split or
//! by `max_share_to_split` is re-activated at once by River's memory management, so it keeps
//! learning with its observers emptied.
//!
//! Differences from River: no memory management (`max_size`, `memory_estimate_period`,
//! `stop_mem_management`, `remove_poor_attrs` are not implemented; River's re-activation of
//! pre-pruned leaves, the only effect of its memory management below `max_size` (100 MiB), is
//! kept); an untrained tree predicts class 0 (River: `None`); the entropy of a split sums
//! classes in label order (River: its dict order), which can move a merit's last bit; when two
//! one-against-the-rest nominal splits have exactly the same merit, the first category in
//! sorted order wins (River: the first in its set's order, the same for small integer
//! codes); a missing nominal value (`NaN`) is counted in no category (River's `None`).
//! Features beyond an input's length are read as 0.

use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::estimator::{load_estimator, EntryKind, ModelEntry};
use crate::param::{ParamReader, ParamSpec, Params};
use crate::traits::{Classifier, Task};

mod nominal;
mod splitter;
use nominal::NominalSplit;
pub use nominal::NominalSplitter;
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
        ParamSpec::new(
            "nominal_attributes",
            "none",
            "positions of nominal features, comma-separated (`0,3`); their values are category codes",
        ),
        ParamSpec::new(
            "binary_split",
            "false",
            "nominal splits are one category against the rest only",
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
    /// Feature positions read as categories (River's `nominal_attributes`), ascending.
    #[serde(default)]
    pub nominal_attributes: Vec<usize>,
    /// River's `binary_split`: no multiway nominal splits.
    #[serde(default)]
    pub binary_split: bool,
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
            nominal_attributes: nominal_positions(r.raw("nominal_attributes"))?,
            binary_split: r.bool("binary_split", d.binary_split)?,
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
            nominal_attributes: Vec::new(),
            binary_split: false,
        }
    }
}

/// `nominal_attributes`: comma-separated feature positions (`none` or empty for none).
fn nominal_positions(text: Option<&str>) -> Result<Vec<usize>, LearnError> {
    let Some(text) = text
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != "none")
    else {
        return Ok(Vec::new());
    };
    let mut v = Vec::new();
    for part in text.split(',') {
        let p = part.trim().parse::<usize>().map_err(|_| {
            LearnError::param(
                "nominal_attributes",
                format!("`{part}` is not a feature position (0, 1, ...)"),
            )
        })?;
        v.push(p);
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// What a leaf keeps about one feature: River's `GaussianSplitter` for a numeric feature, its
/// `NominalSplitterClassif` for a nominal one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Observer {
    Gaussian(GaussianSplitter),
    Nominal(NominalSplitter),
}

impl Observer {
    #[inline]
    fn update(&mut self, x: f64, y: usize, w: f64) {
        match self {
            Observer::Gaussian(s) => s.update(x, y, w),
            Observer::Nominal(s) => s.update(x, y, w),
        }
    }

    #[inline]
    fn log_cond_proba(&self, x: f64, class: usize) -> Option<f64> {
        match self {
            Observer::Gaussian(s) => s.log_cond_proba(x, class),
            Observer::Nominal(s) => s.log_cond_proba(x, class),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leaf {
    pub depth: usize,
    /// Class weights seen at this leaf (including those inherited at the split).
    pub stats: Vec<f64>,
    /// One observer per feature.
    pub splitters: Vec<Observer>,
    pub last_split_attempt_at: f64,
    pub active: bool,
    pub mc_correct_weight: f64,
    pub nb_correct_weight: f64,
    /// The classes of `stats` in the order of River's dict of them, which breaks ties in the
    /// adaptive leaf's bookkeeping (classes missing here, as in older snapshots, come after
    /// in label order).
    #[serde(default)]
    pub order: Vec<usize>,
    /// The classes in the order this leaf's observers first saw them (River's splitters' dict
    /// order), which orders the class weights of the leaves a split makes.
    #[serde(default)]
    pub seen: Vec<usize>,
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
    /// River's `NominalBinaryBranch`: `x[feature] == value` goes to `equal`.
    NominalBinary {
        feature: usize,
        value: f64,
        equal: usize,
        other: usize,
    },
    /// River's `NominalMultiwayBranch`: one child per category. A category first seen after
    /// the split gets a new leaf (at `depth + 1`) when learning; when predicting it follows
    /// the child holding the most weight.
    NominalMultiway {
        feature: usize,
        depth: usize,
        values: Vec<f64>,
        children: Vec<usize>,
    },
}

/// River's `tree.HoeffdingTreeClassifier` (see the module docs).
///
/// # Example
///
/// Progressive validation on the SEA stream (10% label noise) at River's defaults; the numbers
/// are River's on the same stream (`scripts/make_doc_examples.py`, `fixtures/doc_examples.json`).
/// River predicts `None` for the first example (eddy: class 0); here both are misses, so the
/// accuracy is the same either way.
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
/// assert_eq!(format!("{:.6}", accuracy.get()), "0.863600");
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

/// How a leaf splits.
#[derive(Debug, Clone, PartialEq)]
enum Split {
    Numeric(f64),
    Nominal(NominalSplit),
}

/// A split suggestion: its merit and, unless it is the null split, (feature, split, class
/// weights of each branch).
type Suggestion = (f64, Option<(usize, Split, Vec<Vec<f64>>)>);

fn argmax(v: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &x) in v.iter().enumerate() {
        if best.is_none_or(|b| x > v[b]) {
            best = Some(i);
        }
    }
    best
}

/// The classes of a leaf's class weights in River's dict order: `order`, then (for older
/// snapshots, which lack it) any other class with weight, in label order.
fn dict_order<'a>(order: &'a [usize], stats: &'a [f64]) -> impl Iterator<Item = usize> + 'a {
    let rest = (0..stats.len()).filter(move |c| stats[*c] > 0.0 && !order.contains(c));
    order
        .iter()
        .copied()
        .filter(move |&c| c < stats.len())
        .chain(rest)
}

/// `sum(d.values())` of River's dict of class weights, summed in its order.
fn dict_sum(order: &[usize], stats: &[f64]) -> f64 {
    let mut s = 0.0;
    for c in dict_order(order, stats) {
        s += stats[c];
    }
    s
}

/// River 0.26's `do_naive_bayes_prediction`, in its dict order and arithmetic, written into
/// `out` (length `n_classes`; classes outside the dict stay 0). A class in the dict with no
/// weight votes 0 (River's `votes[c] = 0.0`). Returns false (and leaves zeros) when the leaf
/// has seen no weight.
fn naive_bayes(
    x: &[f64],
    stats: &[f64],
    order: &[usize],
    splitters: &[Observer],
    out: &mut [f64],
) -> bool {
    out.iter_mut().for_each(|o| *o = 0.0);
    let total = dict_sum(order, stats);
    if total <= 0.0 {
        return false;
    }
    let mut max = f64::NEG_INFINITY;
    for c in dict_order(order, stats) {
        let w = stats[c];
        let mut vote = 0.0;
        if w > 0.0 {
            vote = (w / total).ln();
            for (s, &xf) in splitters.iter().zip(x) {
                if let Some(lp) = s.log_cond_proba(xf, c) {
                    vote += lp;
                }
            }
        }
        out[c] = vote;
        max = max.max(vote);
    }
    let mut sum = 0.0;
    for c in dict_order(order, stats) {
        sum += (out[c] - max).exp();
    }
    let lse = max + sum.ln();
    for c in dict_order(order, stats) {
        out[c] = (out[c] - lse).exp();
    }
    true
}

/// River's information-gain entropy of one distribution (base 2), with its arithmetic.
fn entropy(dist: &[f64]) -> f64 {
    let mut e = 0.0;
    let mut s = 0.0;
    for &d in dist {
        if d > 0.0 {
            e -= d * d.log2();
            s += d;
        }
    }
    if s > 0.0 {
        (e + s * s.log2()) / s
    } else {
        0.0
    }
}

/// River's `InfoGainSplitCriterion.merit_of_split`: `-inf` unless at least two branches hold
/// more than `min_branch_fraction` of the weight.
pub(crate) fn info_gain<D: AsRef<[f64]>>(
    pre: &[f64],
    dists: &[D],
    min_branch_fraction: f64,
) -> f64 {
    let mut total = 0.0;
    for d in dists {
        total += d.as_ref().iter().sum::<f64>();
    }
    let big = dists
        .iter()
        .filter(|d| total > 0.0 && d.as_ref().iter().sum::<f64>() / total > min_branch_fraction)
        .count();
    if big < 2 {
        return f64::NEG_INFINITY;
    }
    let mut post = 0.0;
    for d in dists {
        let d = d.as_ref();
        post += d.iter().sum::<f64>() * entropy(d);
    }
    entropy(pre) - post / total
}

impl Leaf {
    fn new(depth: usize, stats: Vec<f64>, order: Vec<usize>) -> Self {
        let w = dict_sum(&order, &stats);
        Leaf {
            depth,
            stats,
            splitters: Vec::new(),
            last_split_attempt_at: w,
            active: true,
            mc_correct_weight: 0.0,
            nb_correct_weight: 0.0,
            order,
            seen: Vec::new(),
        }
    }

    /// The class of most weight in `v`, the first in River's dict order among equals (River's
    /// `max(d, key=d.get)`); only classes in the leaf's stats take part.
    fn first_max(&self, v: &[f64]) -> Option<usize> {
        let mut best: Option<usize> = None;
        for c in dict_order(&self.order, &self.stats) {
            let x = v.get(c).copied().unwrap_or(0.0);
            if best.is_none_or(|b| x > v[b]) {
                best = Some(c);
            }
        }
        best
    }

    /// River's `total_weight`: the class weights summed in its dict order.
    fn total_weight(&self) -> f64 {
        dict_sum(&self.order, &self.stats)
    }

    /// River 0.26's pre-pruning as it plays out: the leaf is deactivated, and at once
    /// re-activated by River's memory management (`_enforce_size_limit`, run after every split
    /// decision, re-activates every inactive leaf above `max_depth` while the tree is under
    /// its `max_size`), so it stays active with its observers emptied.
    fn pre_prune(&mut self) {
        self.splitters = Vec::new();
        self.seen = Vec::new();
    }

    /// River's `deactivate`: stop monitoring attributes (and predict the majority class).
    fn deactivate(&mut self) {
        self.active = false;
        self.splitters = Vec::new();
        self.seen = Vec::new();
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
            nodes: vec![Node::Leaf(Leaf::new(0, Vec::new(), Vec::new()))],
            n_classes: 0,
        })
    }

    /// The leaf `x` falls in, as River's `traverse(x, until_leaf=True)`: a category a
    /// multiway branch has no child for follows the heaviest child.
    fn leaf_of(&self, x: &[f64]) -> usize {
        let mut i = 0;
        loop {
            match self.step(i, x) {
                Step::Leaf => return i,
                Step::Child(c) => i = c,
                Step::Unknown(children) => i = self.heaviest(children),
            }
        }
    }

    /// Where `x` goes from node `i`.
    #[inline]
    fn step(&self, i: usize, x: &[f64]) -> Step<'_> {
        let at = |f: usize| x.get(f).copied().unwrap_or(0.0);
        match &self.nodes[i] {
            Node::Leaf(_) => Step::Leaf,
            Node::Branch {
                feature,
                threshold,
                left,
                right,
            } => Step::Child(if at(*feature) <= *threshold {
                *left
            } else {
                *right
            }),
            Node::NominalBinary {
                feature,
                value,
                equal,
                other,
            } => Step::Child(if at(*feature) == *value {
                *equal
            } else {
                *other
            }),
            Node::NominalMultiway {
                feature,
                values,
                children,
                ..
            } => {
                let v = at(*feature);
                match values.iter().position(|c| *c == v) {
                    Some(k) => Step::Child(children[k]),
                    None => Step::Unknown(children),
                }
            }
        }
    }

    /// River's `most_common_path` of a multiway branch: the first child of most weight.
    fn heaviest(&self, children: &[usize]) -> usize {
        let mut best = children[0];
        let mut best_w = self.weight_below(best);
        for &c in &children[1..] {
            let w = self.weight_below(c);
            if w > best_w {
                best = c;
                best_w = w;
            }
        }
        best
    }

    /// River's `total_weight` of a node: a leaf's weight, or the sum of its children's.
    fn weight_below(&self, i: usize) -> f64 {
        match &self.nodes[i] {
            Node::Leaf(l) => l.total_weight(),
            Node::Branch { left, right, .. } => {
                self.weight_below(*left) + self.weight_below(*right)
            }
            Node::NominalBinary { equal, other, .. } => {
                self.weight_below(*equal) + self.weight_below(*other)
            }
            Node::NominalMultiway { children, .. } => {
                children.iter().map(|&c| self.weight_below(c)).sum()
            }
        }
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
            // and the leaf is pre-pruned (see `pre_prune`).
            leaf.pre_prune();
            return;
        }
        // River's null split (merit -inf under information gain), then the best split of each
        // feature (merit -inf and no split when a feature has no valid candidate).
        let mut suggestions: Vec<Suggestion> = vec![(f64::NEG_INFINITY, None)];
        for (f, s) in leaf.splitters.iter().enumerate() {
            suggestions.push(match s {
                Observer::Gaussian(s) => {
                    match s.best_split(&leaf.stats, p.n_splits, p.min_branch_fraction) {
                        Some((merit, threshold, left, right)) => (
                            merit,
                            Some((f, Split::Numeric(threshold), vec![left, right])),
                        ),
                        None => (f64::NEG_INFINITY, None),
                    }
                }
                Observer::Nominal(s) => {
                    let (merit, split) =
                        s.best_split(&leaf.stats, p.binary_split, p.min_branch_fraction);
                    (
                        merit,
                        split.map(|(split, children)| (f, Split::Nominal(split), children)),
                    )
                }
            });
        }
        // Stable sort, as Python's: among equal merits the later suggestion ends up last.
        suggestions.sort_by(|a, b| a.0.total_cmp(&b.0));
        let should_split = if suggestions.len() < 2 {
            !suggestions.is_empty()
        } else {
            // River's `range_of_merit`: log2 of the number of classes in its dict (at least 2).
            let in_dict = dict_order(&leaf.order, &leaf.stats).count();
            let range = (in_dict.max(2) as f64).log2();
            let hb = Self::hoeffding_bound(range, p.delta, total);
            let best = suggestions[suggestions.len() - 1].0;
            let second = suggestions[suggestions.len() - 2].0;
            best - second > hb || hb < p.tau
        };
        if !should_split {
            return;
        }
        let Some((feature, split, children)) = suggestions.pop().and_then(|s| s.1) else {
            // Pre-pruning: the null split won.
            leaf.pre_prune();
            return;
        };
        let depth = leaf.depth;
        let orders = child_orders(&leaf.splitters[feature], &split, &leaf.seen, children.len());
        let first = self.nodes.len();
        let ids: Vec<usize> = (first..first + children.len()).collect();
        for (stats, order) in children.into_iter().zip(orders) {
            self.nodes
                .push(Node::Leaf(Leaf::new(depth + 1, stats, order)));
        }
        self.nodes[idx] = match split {
            Split::Numeric(threshold) => Node::Branch {
                feature,
                threshold,
                left: ids[0],
                right: ids[1],
            },
            Split::Nominal(NominalSplit::Binary(value)) => Node::NominalBinary {
                feature,
                value,
                equal: ids[0],
                other: ids[1],
            },
            Split::Nominal(NominalSplit::Multiway(values)) => Node::NominalMultiway {
                feature,
                depth,
                values,
                children: ids,
            },
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
            // As River, the naive Bayes votes as they are (not normalised again).
            naive_bayes(
                x,
                &leaf.stats[..k],
                &leaf.order,
                &leaf.splitters,
                &mut out[..k],
            );
        } else {
            // River's `normalize_values_in_dict`.
            let s = leaf.total_weight();
            if s > 0.0 {
                for (o, w) in out[..k].iter_mut().zip(&leaf.stats) {
                    *o = w / s;
                }
            }
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
        // River's `walk(x, until_leaf=False)`: stop at a multiway branch without a child for
        // x's category, and give it one (a new leaf, which learns x without a split attempt).
        let mut idx = 0;
        loop {
            match self.step(idx, x) {
                Step::Leaf => break,
                Step::Child(c) => idx = c,
                Step::Unknown(_) => {
                    let leaf = self.nodes.len();
                    let Node::NominalMultiway {
                        feature,
                        depth,
                        values,
                        children,
                    } = &mut self.nodes[idx]
                    else {
                        unreachable!("only multiway branches have unknown categories")
                    };
                    values.push(x.get(*feature).copied().unwrap_or(0.0));
                    children.push(leaf);
                    let depth = *depth + 1;
                    self.nodes
                        .push(Node::Leaf(Leaf::new(depth, Vec::new(), Vec::new())));
                    let Node::Leaf(l) = &mut self.nodes[leaf] else {
                        unreachable!("just pushed")
                    };
                    l.learn(x, y, &self.params);
                    return;
                }
            }
        }
        let Node::Leaf(leaf) = &mut self.nodes[idx] else {
            unreachable!("the walk ends at a leaf")
        };
        if !leaf.learn(x, y, &self.params) {
            return;
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

/// River's dict order of the class weights of each leaf a split makes: the splitter's order
/// (`seen`) for a numeric or one-against-the-rest split, label order for a multiway split;
/// a class is in a branch when River gives it an entry there.
fn child_orders(obs: &Observer, split: &Split, seen: &[usize], n: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); n];
    match (obs, split) {
        (Observer::Gaussian(g), Split::Numeric(v)) => {
            for &c in seen {
                let (left, right) = g.sides(*v, c);
                if left {
                    out[0].push(c);
                }
                if right {
                    out[1].push(c);
                }
            }
        }
        (Observer::Nominal(o), Split::Nominal(NominalSplit::Binary(v))) => {
            for &c in seen {
                let (equal, other) = o.sides(*v, c);
                if equal {
                    out[0].push(c);
                }
                if other {
                    out[1].push(c);
                }
            }
        }
        (Observer::Nominal(o), Split::Nominal(NominalSplit::Multiway(values))) => {
            for (k, v) in values.iter().enumerate() {
                out[k] = o.classes_at(*v);
            }
        }
        _ => {}
    }
    out
}

/// Where an example goes from a node.
enum Step<'a> {
    Leaf,
    Child(usize),
    /// A multiway branch without a child for the example's category (its children).
    Unknown(&'a [usize]),
}

impl Leaf {
    /// River's leaf `learn_one`: the adaptive leaf's bookkeeping of which prediction was
    /// right, the class weights, and (if active) the observers. Returns whether it is active.
    fn learn(&mut self, x: &[f64], y: usize, p: &HoeffdingTreeParams) -> bool {
        if self.active && p.leaf_prediction == LeafPrediction::Nba {
            let total = self.total_weight();
            if total == 0.0 || self.first_max(&self.stats) == Some(y) {
                self.mc_correct_weight += 1.0;
            }
            let k = self.stats.len();
            let nb_right = SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                s.clear();
                s.resize(k, 0.0);
                naive_bayes(x, &self.stats, &self.order, &self.splitters, &mut s)
                    && self.first_max(&s) == Some(y)
            });
            if nb_right {
                self.nb_correct_weight += 1.0;
            }
        }
        if self.stats.len() <= y {
            self.stats.resize(y + 1, 0.0);
        }
        self.stats[y] += 1.0;
        if !self.order.contains(&y) {
            self.order.push(y);
        }
        if !self.active {
            return false;
        }
        if !self.seen.contains(&y) {
            self.seen.push(y);
        }
        while self.splitters.len() < x.len() {
            let f = self.splitters.len();
            self.splitters
                .push(if p.nominal_attributes.binary_search(&f).is_ok() {
                    Observer::Nominal(NominalSplitter::default())
                } else {
                    Observer::Gaussian(GaussianSplitter::default())
                });
        }
        for (s, &xf) in self.splitters.iter_mut().zip(x) {
            s.update(xf, y, 1.0);
        }
        true
    }
}

/// As `impl_estimator!`, plus nominal positions from an ordinal encoder.
impl crate::estimator::Estimator for HoeffdingTreeClassifier {
    fn entry(&self) -> &'static ModelEntry {
        &HOEFFDING_TREE
    }
    fn predict(&self, x: &[f64]) -> f64 {
        Classifier::predict_one(self, x) as f64
    }
    fn predict_proba(&self, x: &[f64], out: &mut Vec<f64>) {
        Classifier::predict_proba_one(self, x, out)
    }
    fn learn(&mut self, x: &[f64], y: f64) {
        Classifier::learn_one(self, x, y as usize)
    }
    fn class_count(&self) -> usize {
        Classifier::n_classes(self)
    }
    /// A position becomes nominal for the observers leaves create from now on (a leaf that
    /// already watches it as numeric keeps doing so until it splits).
    fn set_nominal(&mut self, position: usize) {
        let n = &mut self.params.nominal_attributes;
        if let Err(i) = n.binary_search(&position) {
            n.insert(i, position);
        }
    }
}

#[cfg(test)]
mod tests;
