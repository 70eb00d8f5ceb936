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
    #[error("I/O on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}
