//! Class labels as written (integers, booleans, names) to the class numbers `0, 1, ...` the
//! registry's classifiers learn.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{Field, Problem};

/// Largest integer class label accepted, and the most distinct named labels.
pub const MAX_CLASS: u64 = 10_000;

/// How labels are read, decided by the first label seen.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Labels {
    /// Class numbers as written (non-negative integers, at most [`MAX_CLASS`]).
    Int,
    /// `false`/`true` (any case) → 0/1.
    Bool,
    /// Names numbered by first appearance: the `i`th name is class `i`.
    Names(Vec<String>),
}

/// The label mapping of a classifier's target: the first label decides how all are read —
/// a non-negative integer (a number, or text such as `"3"`) makes labels class numbers as
/// written; `true`/`false` (any case) make them 1/0; anything else makes them names, numbered
/// in order of first appearance — except a fractional number (`0.37`), which is never a
/// label ([`Problem::NotAClassLabel`]). A later label that does not fit is a [`Problem`], and
/// changes nothing.
///
/// Serialised as the [`Labels`] (or `null` before the first label), as the `eddy_learn`
/// snapshot section holds it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(transparent)]
pub struct LabelMap(Option<Labels>);

impl LabelMap {
    /// A mapping that has seen no label yet.
    pub fn new() -> Self {
        LabelMap(None)
    }

    /// How labels are read, once the first one has decided it.
    pub fn labels(&self) -> Option<&Labels> {
        self.0.as_ref()
    }

    /// The class number of a label (text is trimmed). A missing or empty label is
    /// [`Problem::MissingTarget`].
    pub fn class(&mut self, f: Field) -> Result<f64, Problem> {
        // A number is handled as such (no text made of it unless it must be shown or named).
        let (text, num, read) = match f {
            Field::Missing => return Err(Problem::MissingTarget),
            Field::Num(v) => ("", Some(v), Some(v)),
            Field::NumText(t, v) => (t.trim(), None, Some(v)),
            Field::Text(t) => (t.trim(), None, t.trim().parse::<f64>().ok()),
        };
        if num.is_none() && text.is_empty() {
            return Err(Problem::MissingTarget);
        }
        // A fractional number is a measurement, not a class: as a name it would make a class
        // of each distinct value.
        if read.is_some_and(|v| v.is_finite() && v.fract() != 0.0) {
            return Err(Problem::NotAClassLabel(match num {
                Some(v) => v.to_string(),
                None => text.to_string(),
            }));
        }
        let shown = || -> Cow<'_, str> {
            match num {
                Some(v) => Cow::Owned(v.to_string()),
                None => Cow::Borrowed(text),
            }
        };
        // As the number's decimal text would parse, or (beyond `u64`) saturated.
        let as_int = || match num {
            Some(v) => (v >= 0.0 && v.fract() == 0.0).then_some(v as u64),
            None => text.parse::<u64>().ok(),
        };
        let as_bool = || {
            if num.is_some() {
                None
            } else if text.eq_ignore_ascii_case("true") {
                Some(1.0)
            } else if text.eq_ignore_ascii_case("false") {
                Some(0.0)
            } else {
                None
            }
        };
        let labels = self.0.get_or_insert_with(|| {
            if as_int().is_some() {
                Labels::Int
            } else if as_bool().is_some() {
                Labels::Bool
            } else {
                Labels::Names(Vec::new())
            }
        });
        match labels {
            Labels::Int => match as_int() {
                Some(v) if v <= MAX_CLASS => Ok(v as f64),
                Some(v) => Err(Problem::ClassTooLarge(v)),
                None => Err(Problem::NotAnInteger(shown().into_owned())),
            },
            Labels::Bool => as_bool().ok_or_else(|| Problem::NotABool(shown().into_owned())),
            Labels::Names(names) => {
                let name = shown();
                match names.iter().position(|n| *n == *name) {
                    Some(i) => Ok(i as f64),
                    None if (names.len() as u64) < MAX_CLASS => {
                        names.push(name.into_owned());
                        Ok((names.len() - 1) as f64)
                    }
                    None => Err(Problem::TooManyLabels),
                }
            }
        }
    }

    /// The label of a class number, as [`LabelMap::class`] reads it back (`None` for a
    /// number that is no class of this mapping).
    pub fn label(&self, class: f64) -> Option<Cow<'_, str>> {
        if !(class >= 0.0 && class.fract() == 0.0 && class <= MAX_CLASS as f64) {
            return None;
        }
        let c = class as usize;
        match self.0.as_ref()? {
            Labels::Int => Some(Cow::Owned(c.to_string())),
            Labels::Bool => match c {
                0 => Some(Cow::Borrowed("false")),
                1 => Some(Cow::Borrowed("true")),
                _ => None,
            },
            Labels::Names(names) => names.get(c).map(|n| Cow::Borrowed(n.as_str())),
        }
    }
}
