//! String parameters: the [`Params`] map, the [`ParamSpec`] that documents one parameter, and
//! [`ParamReader`], which reads typed values with defaults.
//!
//! Models and drift detectors are built by name from `key=value` pairs (River's argument
//! names), as the CLI and pipeline specs give them. A model declares the parameters it takes as
//! [`ParamSpec`] lists in its own module (see [`crate::estimator::ModelEntry`]); its build
//! function reads them with a [`ParamReader`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::LearnError;

/// `key=value` parameters as given on the command line or in a spec.
pub type Params = BTreeMap<String, String>;

/// One accepted parameter: River's argument name, its default as written on the command line,
/// and a one-line description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    /// The default, as a value the parameter accepts (`none` where River's is `None`).
    pub default: &'static str,
    pub doc: &'static str,
}

impl ParamSpec {
    pub const fn new(name: &'static str, default: &'static str, doc: &'static str) -> Self {
        ParamSpec { name, default, doc }
    }
}

/// Reads typed values out of a [`Params`] map and remembers which keys were asked for, so
/// that [`ParamReader::finish`] can refuse unknown keys by listing the accepted ones.
pub struct ParamReader<'a> {
    params: &'a Params,
    accepted: RefCell<Vec<&'static str>>,
}

impl<'a> ParamReader<'a> {
    pub fn new(params: &'a Params) -> Self {
        ParamReader {
            params,
            accepted: RefCell::new(Vec::new()),
        }
    }

    /// The trimmed text given for `name`, if any.
    pub fn raw(&self, name: &'static str) -> Option<&'a str> {
        self.accepted.borrow_mut().push(name);
        self.params.get(name).map(|s| s.trim())
    }

    /// Whether `name` was given.
    pub fn contains(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }

    /// The value of `name` parsed as `T`, or `default` when absent.
    pub fn get<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, LearnError> {
        match self.raw(name) {
            None => Ok(default),
            Some(s) => s
                .parse::<T>()
                .map_err(|_| LearnError::param(name, format!("cannot parse `{s}`"))),
        }
    }

    /// Like [`ParamReader::get`] for a float that must be finite and satisfy `ok`.
    pub fn float(
        &self,
        name: &'static str,
        default: f64,
        ok: impl Fn(f64) -> bool,
        what: &str,
    ) -> Result<f64, LearnError> {
        let v: f64 = self.get(name, default)?;
        if !v.is_finite() || !ok(v) {
            return Err(LearnError::param(
                name,
                format!("{v} is out of range: must be {what}"),
            ));
        }
        Ok(v)
    }

    /// A finite number, or `default` when absent.
    pub fn f64(&self, name: &'static str, default: f64) -> Result<f64, LearnError> {
        match self.raw(name) {
            None => Ok(default),
            Some(s) => match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(LearnError::param(
                    name,
                    format!("expected a finite number, got `{s}`"),
                )),
            },
        }
    }

    /// A finite number `>= 0`, or `default` when absent.
    pub fn non_negative(&self, name: &'static str, default: f64) -> Result<f64, LearnError> {
        let v = self.f64(name, default)?;
        if v < 0.0 {
            return Err(LearnError::param(name, format!("must be >= 0, got {v}")));
        }
        Ok(v)
    }

    /// A finite number `> 0`, or `default` when absent.
    pub fn positive(&self, name: &'static str, default: f64) -> Result<f64, LearnError> {
        let v = self.f64(name, default)?;
        if v <= 0.0 {
            return Err(LearnError::param(name, format!("must be > 0, got {v}")));
        }
        Ok(v)
    }

    /// A non-negative integer, or `default` when absent.
    pub fn usize(&self, name: &'static str, default: usize) -> Result<usize, LearnError> {
        self.integer(name, default)
    }

    /// A non-negative integer, or `default` when absent.
    pub fn u64(&self, name: &'static str, default: u64) -> Result<u64, LearnError> {
        self.integer(name, default)
    }

    fn integer<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, LearnError> {
        match self.raw(name) {
            None => Ok(default),
            Some(s) => s.parse::<T>().map_err(|_| {
                LearnError::param(name, format!("expected a non-negative integer, got `{s}`"))
            }),
        }
    }

    /// `true`/`1`/`yes` or `false`/`0`/`no`, or `default` when absent.
    pub fn bool(&self, name: &'static str, default: bool) -> Result<bool, LearnError> {
        match self.raw(name) {
            None => Ok(default),
            Some(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(LearnError::param(
                    name,
                    format!("expected true or false, got `{s}`"),
                )),
            },
        }
    }

    /// One of `allowed` (case-insensitive), or `default` when absent.
    pub fn choice(
        &self,
        name: &'static str,
        default: &'static str,
        allowed: &[&'static str],
    ) -> Result<&'static str, LearnError> {
        match self.raw(name) {
            None => Ok(default),
            Some(s) => {
                let s = s.to_ascii_lowercase();
                allowed.iter().copied().find(|a| *a == s).ok_or_else(|| {
                    LearnError::param(
                        name,
                        format!("expected one of {}, got `{s}`", allowed.join(", ")),
                    )
                })
            }
        }
    }

    /// Fails when any of `names` was given: they do not apply (`why` says when they do).
    pub fn refuse(&self, names: &[&str], why: &str) -> Result<(), LearnError> {
        match names.iter().find(|k| self.contains(k)) {
            None => Ok(()),
            Some(k) => Err(LearnError::param(k, format!("does not apply {why}"))),
        }
    }

    /// Fails on any key that was not asked for, listing the accepted ones.
    pub fn finish(self, owner: &str) -> Result<(), LearnError> {
        let accepted = self.accepted.into_inner();
        for k in self.params.keys() {
            if !accepted.contains(&k.as_str()) {
                return Err(LearnError::param(
                    k,
                    format!(
                        "`{owner}` does not take it; accepted: {}",
                        if accepted.is_empty() {
                            "none".to_string()
                        } else {
                            accepted.join(", ")
                        }
                    ),
                ));
            }
        }
        Ok(())
    }
}
