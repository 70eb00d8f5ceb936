//! The `Validator`: collects every spec error with its key path, and the checks each table
//! uses for its keys (strings, choices, durations, counts, unknown keys).
//!
//! A table's module is handed `&mut Validator`, its table and its key path, and reports
//! through these helpers, so errors read alike wherever a key is.

use toml::{Table, Value as Toml};

use eddy_core::time::parse_duration;

use crate::error::SpecError;

/// Every error found so far; validation goes on after an error so that all are reported.
#[derive(Default)]
pub(crate) struct Validator {
    errors: Vec<SpecError>,
}

/// How a wrong value is named in "expected ..., found ..." messages.
pub(crate) fn type_name(v: &Toml) -> &'static str {
    match v {
        Toml::String(_) => "a string",
        Toml::Integer(_) => "an integer",
        Toml::Float(_) => "a float",
        Toml::Boolean(_) => "a boolean",
        Toml::Datetime(_) => "a datetime",
        Toml::Array(_) => "an array",
        Toml::Table(_) => "a table",
    }
}

/// The key path of `key` inside the table at `path` (`""` is the top level).
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Validator {
    /// How many errors so far: a table compares counts to tell whether its own keys failed.
    pub(crate) fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// The errors, in the order they were found.
    pub(crate) fn into_errors(self) -> Vec<SpecError> {
        self.errors
    }

    /// Records one error at `path`.
    pub(crate) fn err(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.errors.push(SpecError {
            path: path.into(),
            msg: msg.into(),
        });
    }

    /// Refuses every key of `t` not in `known` (serde's `deny_unknown_fields`, but all at once).
    pub(crate) fn unknown_keys(&mut self, t: &Table, path: &str, known: &[&str]) {
        for k in t.keys() {
            if !known.contains(&k.as_str()) {
                // A top-level key written after a [table] header lands in that table.
                let hint = if !path.is_empty()
                    && [
                        "allowed_lateness",
                        "late_policy",
                        "max_state_bytes",
                        "source",
                        "watermark",
                        "output",
                    ]
                    .contains(&k.as_str())
                {
                    " (top-level keys must come before the first [table] in TOML)"
                } else {
                    ""
                };
                self.err(
                    join(path, k),
                    format!("unknown key; expected one of: {}{hint}", known.join(", ")),
                );
            }
        }
    }

    /// The sub-table `key`, if present; anything else there is an error.
    pub(crate) fn table<'a>(&mut self, t: &'a Table, path: &str, key: &str) -> Option<&'a Table> {
        match t.get(key) {
            None => None,
            Some(Toml::Table(x)) => Some(x),
            Some(v) => {
                self.err(
                    join(path, key),
                    format!("expected a table, found {}", type_name(v)),
                );
                None
            }
        }
    }

    /// The string `key`, if present; anything else there is an error.
    pub(crate) fn string(&mut self, t: &Table, path: &str, key: &str) -> Option<String> {
        match t.get(key) {
            None => None,
            Some(Toml::String(s)) => Some(s.clone()),
            Some(v) => {
                self.err(
                    join(path, key),
                    format!("expected a string, found {}", type_name(v)),
                );
                None
            }
        }
    }

    /// A string that must be present and not blank; `what` says what it names.
    pub(crate) fn required_string(
        &mut self,
        t: &Table,
        path: &str,
        key: &str,
        what: &str,
    ) -> Option<String> {
        if !t.contains_key(key) {
            self.err(join(path, key), format!("missing; expected {what}"));
            return None;
        }
        let s = self.string(t, path, key)?;
        if s.trim().is_empty() {
            self.err(join(path, key), format!("is empty; expected {what}"));
            return None;
        }
        Some(s)
    }

    /// One of the named `options`, if `key` is present.
    pub(crate) fn choice<T: Copy>(
        &mut self,
        t: &Table,
        path: &str,
        key: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let s = self.string(t, path, key)?;
        match options.iter().find(|(n, _)| *n == s) {
            Some((_, v)) => Some(*v),
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.err(
                    join(path, key),
                    format!("unknown value `{s}`; expected one of: {}", names.join(", ")),
                );
                None
            }
        }
    }

    /// A duration in milliseconds, written as a string (`"5m"`) or a bare `0`.
    pub(crate) fn duration(&mut self, t: &Table, path: &str, key: &str) -> Option<i64> {
        let p = join(path, key);
        match t.get(key)? {
            Toml::String(s) => match parse_duration(s.trim()) {
                Ok(ms) if ms < 0 => {
                    self.err(p, format!("`{s}` is negative; expected a duration >= 0"));
                    None
                }
                Ok(ms) => Some(ms),
                Err(_) => {
                    self.err(
                        p,
                        format!("`{s}` is not a duration; expected a number followed by ms, s, m, h or d (e.g. \"5m\")"),
                    );
                    None
                }
            },
            Toml::Integer(0) => Some(0),
            Toml::Integer(i) if *i < 0 => {
                self.err(
                    p,
                    format!("{i} is negative; expected a duration such as \"5m\""),
                );
                None
            }
            v => {
                self.err(
                    p,
                    format!(
                        "expected a duration string such as \"5m\", found {}",
                        type_name(v)
                    ),
                );
                None
            }
        }
    }

    /// An integer >= 1, if present.
    pub(crate) fn positive_int(&mut self, t: &Table, path: &str, key: &str) -> Option<usize> {
        let p = join(path, key);
        match t.get(key)? {
            Toml::Integer(i) if *i > 0 => Some(*i as usize),
            Toml::Integer(i) => {
                self.err(p, format!("{i} is not positive; expected an integer >= 1"));
                None
            }
            v => {
                self.err(
                    p,
                    format!("expected a positive integer, found {}", type_name(v)),
                );
                None
            }
        }
    }

    /// A size in bytes: an integer >= 1, or a string of a number and a unit (`"512MiB"`,
    /// `"2 GB"`; `KiB`, `MiB`, `GiB`, `TiB` count by 1024, `KB`, `MB`, `GB`, `TB` by 1000).
    pub(crate) fn bytes(&mut self, t: &Table, path: &str, key: &str) -> Option<usize> {
        let p = join(path, key);
        let expected = "expected a number of bytes: an integer >= 1, or a string such as \"512MiB\" or \"2GB\"";
        match t.get(key)? {
            Toml::Integer(i) if *i > 0 => Some(*i as usize),
            Toml::String(text) => {
                let s = text.trim();
                let split = s
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .unwrap_or(s.len());
                let (num, unit) = (&s[..split], s[split..].trim());
                let scale: f64 = match unit {
                    "" | "B" => 1.0,
                    "KB" => 1e3,
                    "MB" => 1e6,
                    "GB" => 1e9,
                    "TB" => 1e12,
                    "KiB" => 1024.0,
                    "MiB" => 1024.0 * 1024.0,
                    "GiB" => 1024.0 * 1024.0 * 1024.0,
                    "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
                    _ => f64::NAN,
                };
                match num.parse::<f64>().map(|n| n * scale) {
                    Ok(b) if (1.0..1.8e19).contains(&b) => Some(b as usize),
                    _ => {
                        self.err(p, format!("`{text}` is not a size; {expected}"));
                        None
                    }
                }
            }
            v => {
                self.err(p, format!("found {}; {expected}", type_name(v)));
                None
            }
        }
    }

    /// An integer >= 0.
    pub(crate) fn count(&mut self, t: &Table, path: &str, key: &str) -> Option<usize> {
        let p = join(path, key);
        match t.get(key)? {
            Toml::Integer(i) if *i >= 0 => Some(*i as usize),
            Toml::Integer(i) => {
                self.err(p, format!("{i} is negative; expected an integer >= 0"));
                None
            }
            v => {
                self.err(
                    p,
                    format!("expected an integer >= 0, found {}", type_name(v)),
                );
                None
            }
        }
    }
}
