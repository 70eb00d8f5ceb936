//! Typed errors of the runtime crate.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// One problem in a pipeline spec, located by its key path (e.g. `feature[2].window.slide`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Dotted key path; `feature[i]` indexes the `[[feature]]` array from 0.
    pub path: String,
    /// What was wrong and what was expected.
    pub msg: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}: {}", self.path, self.msg)
        }
    }
}

/// Every problem found in a spec (validation never stops at the first).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid pipeline spec ({n} error{})",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl SpecErrors {
    /// Whether any error is located at `path` (exactly).
    pub fn has_path(&self, path: &str) -> bool {
        self.0.iter().any(|e| e.path == path)
    }
}

/// A record that could not be decoded; it goes to the dead-letter output.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}{}: {msg}", field.as_ref().map(|f| format!(", field `{f}`")).unwrap_or_default())]
pub struct DecodeError {
    /// 1-based line number within the source partition (the partition's offset).
    pub line: u64,
    /// The field at fault, when there is one.
    pub field: Option<String>,
    pub msg: String,
}

/// Errors that stop a run (bad spec, unreadable input, unwritable output). Bad records never do.
#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Spec(#[from] SpecErrors),
    #[error("cannot open input `{path}`: {source}")]
    OpenInput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read input `{name}`: {source}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create output `{path}`: {source}")]
    CreateOutput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write output `{name}`: {source}")]
    Write {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("CSV input `{name}`: {msg}")]
    CsvHeader { name: String, msg: String },
    #[error("cannot restore the {stage} stage: {msg}")]
    Restore { stage: &'static str, msg: String },
}
