//! Typed errors of the core crate.

use thiserror::Error;

/// An error from building or validating core objects (specs, filters, windows, times).
///
/// Messages name what was wrong and what was expected; callers add the location
/// (spec path, line, field) around them.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    #[error("invalid window: {0}")]
    Window(String),
    #[error("invalid aggregation: {0}")]
    Aggregation(String),
    #[error("invalid filter `{expr}`: {msg}")]
    Filter { expr: String, msg: String },
    #[error("invalid time: {0}")]
    Time(String),
    #[error("invalid duration `{0}`: expected a number followed by ms, s, m, h or d (e.g. `5m`)")]
    Duration(String),
    #[error("invalid feature `{name}`: {msg}")]
    Feature { name: String, msg: String },
}
