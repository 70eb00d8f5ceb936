//! River's `tree.splitter.NominalSplitterClassif`: class weights per category of one nominal
//! attribute.

use serde::{Deserialize, Serialize};

/// Categories are the attribute's values compared exactly (codes such as 0, 1, 2); `NaN` is a
/// missing value (River's `None`): counted in no category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NominalSplitter {
    /// Categories seen, ascending (River sorts them when it splits).
    values: Vec<f64>,
    /// Class weights per category, same order as `values`.
    counts: Vec<Vec<f64>>,
}

/// A nominal split: (merit, the split, the class weights of each branch). `None` as the split
/// only when the attribute has no category yet.
pub(crate) type NominalSuggestion = (f64, Option<(NominalSplit, Vec<Vec<f64>>)>);

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NominalSplit {
    /// One branch per category, in `values` order.
    Multiway(Vec<f64>),
    /// `x == value` or not.
    Binary(f64),
}

impl NominalSplitter {
    #[inline]
    pub fn update(&mut self, x: f64, y: usize, w: f64) {
        if x.is_nan() {
            return;
        }
        let i = match self.values.binary_search_by(|v| v.total_cmp(&x)) {
            Ok(i) => i,
            Err(i) => {
                self.values.insert(i, x);
                self.counts.insert(i, Vec::new());
                i
            }
        };
        let c = &mut self.counts[i];
        if c.len() <= y {
            c.resize(y + 1, 0.0);
        }
        c[y] += w;
    }

    /// `ln` of River's `cond_proba` (the share of the class's weight in `x`'s category), or
    /// `None` where that is 0 (River's naive Bayes then adds nothing).
    #[inline]
    pub fn log_cond_proba(&self, x: f64, class: usize) -> Option<f64> {
        let i = self.values.binary_search_by(|v| v.total_cmp(&x)).ok()?;
        let w = self.counts[i].get(class).copied().unwrap_or(0.0);
        if w <= 0.0 {
            return None;
        }
        let total: f64 = self
            .counts
            .iter()
            .map(|c| c.get(class).copied().unwrap_or(0.0))
            .sum();
        Some((w / total).ln())
    }

    /// Whether River's one-against-the-rest split on `value` has an entry for `class` in the
    /// equal branch and in the other one.
    pub(crate) fn sides(&self, value: f64, class: usize) -> (bool, bool) {
        let has = |c: &Vec<f64>| c.get(class).is_some_and(|&w| w > 0.0);
        let mut equal = false;
        let mut other = false;
        for (v, c) in self.values.iter().zip(&self.counts) {
            if *v == value {
                equal |= has(c);
            } else {
                other |= has(c);
            }
        }
        (equal, other)
    }

    /// The classes seen with `value`, ascending.
    pub(crate) fn classes_at(&self, value: f64) -> Vec<usize> {
        self.values
            .iter()
            .position(|v| *v == value)
            .map(|i| {
                (0..self.counts[i].len())
                    .filter(|&c| self.counts[i][c] > 0.0)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// River's `best_evaluated_split_suggestion`: the multiway split (unless `binary_only`),
    /// replaced by a one-category-against-the-rest split whose merit is strictly higher.
    pub(crate) fn best_split(
        &self,
        pre: &[f64],
        binary_only: bool,
        min_branch_fraction: f64,
    ) -> NominalSuggestion {
        let k = pre
            .len()
            .max(self.counts.iter().map(Vec::len).max().unwrap_or(0));
        let padded = |c: &Vec<f64>| {
            let mut v = c.clone();
            v.resize(k, 0.0);
            v
        };
        let mut best: NominalSuggestion = (f64::NEG_INFINITY, None);
        if self.values.is_empty() {
            return best;
        }
        if !binary_only {
            let children: Vec<Vec<f64>> = self.counts.iter().map(padded).collect();
            let merit = super::info_gain(pre, &children, min_branch_fraction);
            best = (
                merit,
                Some((NominalSplit::Multiway(self.values.clone()), children)),
            );
        }
        for (i, &v) in self.values.iter().enumerate() {
            let equal = padded(&self.counts[i]);
            let mut other = vec![0.0; k];
            for (j, c) in self.counts.iter().enumerate() {
                if j != i {
                    for (o, w) in other.iter_mut().zip(c) {
                        *o += w;
                    }
                }
            }
            let children = vec![equal, other];
            let merit = super::info_gain(pre, &children, min_branch_fraction);
            if merit > best.0 {
                best = (merit, Some((NominalSplit::Binary(v), children)));
            }
        }
        best
    }
}
