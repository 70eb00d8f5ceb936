//! Typed errors of the learning crate.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LearnError {
    #[error("invalid parameter `{name}`: {msg}")]
    Param { name: String, msg: String },
    #[error("unknown {what} `{name}`; expected one of: {expected}")]
    Unknown {
        what: &'static str,
        name: String,
        expected: String,
    },
    #[error("snapshot {path}: {msg}")]
    Snapshot { path: String, msg: String },
    /// A model whose state holds an infinity or NaN: JSON cannot carry it, so a snapshot
    /// would be written with `null`s that no load accepts.
    #[error("the model has diverged: `{at}` is {value}; lower lr (or scale the features) and learn again")]
    Diverged { at: String, value: String },
    #[error("I/O on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl LearnError {
    /// An invalid parameter (or input) `name`.
    pub(crate) fn param(name: &str, msg: impl Into<String>) -> Self {
        LearnError::Param {
            name: name.to_string(),
            msg: msg.into(),
        }
    }
}
