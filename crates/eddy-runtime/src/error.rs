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

/// Why a record could not be decoded: the category of a [`DecodeError`] (a dead letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadReason {
    /// Not a record of the format: bad JSON or CSV syntax, the wrong number of CSV columns,
    /// not UTF-8.
    Malformed,
    /// A required field (key, timestamp) is absent, empty or null.
    MissingField,
    /// A field's value is not of its declared type (or not a finite number).
    BadField,
    /// The timestamp does not parse in the declared format, or is outside 1970..9999.
    BadTimestamp,
    /// The key is not a string or an integer, or is empty.
    BadKey,
    /// The record is longer than the largest record accepted.
    TooLarge,
    /// Anything else.
    Other,
}

impl DeadReason {
    /// Every reason, in declaration order.
    pub const ALL: [DeadReason; 7] = [
        DeadReason::Malformed,
        DeadReason::MissingField,
        DeadReason::BadField,
        DeadReason::BadTimestamp,
        DeadReason::BadKey,
        DeadReason::TooLarge,
        DeadReason::Other,
    ];

    /// The reason's name in snake case, as counted and shown (`malformed`, `missing_field`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DeadReason::Malformed => "malformed",
            DeadReason::MissingField => "missing_field",
            DeadReason::BadField => "bad_field",
            DeadReason::BadTimestamp => "bad_timestamp",
            DeadReason::BadKey => "bad_key",
            DeadReason::TooLarge => "too_large",
            DeadReason::Other => "other",
        }
    }
}

impl fmt::Display for DeadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that could not be decoded (a bad row); it goes to the dead-letter output, or, in
/// `eddy learn`, is skipped and counted. The one type for every reader's bad record.
///
/// Its `Display` (`line N[, field `F`]: MSG`) is the dead-letter message; `reason` is not
/// part of it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}{}: {msg}", field.as_ref().map(|f| format!(", field `{f}`")).unwrap_or_default())]
pub struct DecodeError {
    /// 1-based line number within the source partition (the partition's offset): for a record
    /// spanning lines, its first line.
    pub line: u64,
    /// The field at fault, when there is one.
    pub field: Option<String>,
    pub msg: String,
    /// The category, for counting dead letters by cause.
    pub reason: DeadReason,
}

impl DecodeError {
    /// A bad record with no field at fault.
    pub fn new(line: u64, reason: DeadReason, msg: impl Into<String>) -> DecodeError {
        DecodeError {
            line,
            field: None,
            msg: msg.into(),
            reason,
        }
    }

    /// A bad record naming the field at fault.
    pub fn with_field(
        line: u64,
        field: impl Into<String>,
        reason: DeadReason,
        msg: impl Into<String>,
    ) -> DecodeError {
        DecodeError {
            line,
            field: Some(field.into()),
            msg: msg.into(),
            reason,
        }
    }
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
    #[error(
        "the feature state holds {total} bytes, more than max_state_bytes ({max}); the feature holding the most is `{feature}` ({feature_bytes} bytes): shorten its window, raise its slide, or raise max_state_bytes"
    )]
    StateLimit {
        total: u64,
        max: u64,
        feature: String,
        feature_bytes: u64,
    },
    /// A Kafka source or sink failed (a broker unreachable at start, a topic missing, a
    /// delivery that failed after its retries, a commit refused).
    #[error("kafka {what}: {msg}")]
    Kafka { what: String, msg: String },
    #[error("cannot restore the {stage} stage: {msg}")]
    Restore { stage: &'static str, msg: String },
}
