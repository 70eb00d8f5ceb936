//! Reading `key=value` string parameters with defaults, refusing unknown keys.

use std::str::FromStr;

use crate::registry::Params;
use crate::LearnError;

/// Reads typed parameters out of a [`Params`] map and remembers which keys it accepts, so
/// that [`ParamReader::finish`] can refuse unknown keys by listing the accepted ones.
pub(crate) struct ParamReader<'a> {
    params: &'a Params,
    accepted: Vec<&'static str>,
}

impl<'a> ParamReader<'a> {
    pub(crate) fn new(params: &'a Params) -> Self {
        ParamReader {
            params,
            accepted: Vec::new(),
        }
    }

    /// The value of `name` parsed as `T`, or `default` when absent.
    pub(crate) fn get<T: FromStr>(
        &mut self,
        name: &'static str,
        default: T,
    ) -> Result<T, LearnError> {
        self.accepted.push(name);
        match self.params.get(name) {
            None => Ok(default),
            Some(s) => s.trim().parse::<T>().map_err(|_| LearnError::Param {
                name: name.to_string(),
                msg: format!("cannot parse `{s}`"),
            }),
        }
    }

    /// Like [`ParamReader::get`] for a float that must be finite and satisfy `ok`.
    pub(crate) fn float(
        &mut self,
        name: &'static str,
        default: f64,
        ok: impl Fn(f64) -> bool,
        what: &str,
    ) -> Result<f64, LearnError> {
        let v: f64 = self.get(name, default)?;
        if !v.is_finite() || !ok(v) {
            return Err(LearnError::Param {
                name: name.to_string(),
                msg: format!("{v} is out of range: must be {what}"),
            });
        }
        Ok(v)
    }

    /// Fails on any key that no `get` asked for.
    pub(crate) fn finish(self, owner: &str) -> Result<(), LearnError> {
        for k in self.params.keys() {
            if !self.accepted.contains(&k.as_str()) {
                return Err(LearnError::Param {
                    name: k.clone(),
                    msg: format!(
                        "`{owner}` does not take it; accepted: {}",
                        if self.accepted.is_empty() {
                            "none".to_string()
                        } else {
                            self.accepted.join(", ")
                        }
                    ),
                });
            }
        }
        Ok(())
    }
}
