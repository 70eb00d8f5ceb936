//! The client's typed errors: starting a scorer, and fetching a model's metadata.

use thiserror::Error;

/// Why [`RemoteScorer::new`](super::RemoteScorer::new) could not start a scorer.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("max_batch, capacity and max_in_flight must be at least 1")]
    Limits,
    #[error("bad server URL {url:?}: {msg}")]
    BadUrl { url: String, msg: String },
    #[error("server URL {url:?}: expected http:// or https://")]
    NotHttp { url: String },
    #[error("CA file {path:?} is only for an https:// server URL")]
    CaWithoutTls { path: std::path::PathBuf },
    #[error("CA file {path:?}: {msg}")]
    CaFile {
        path: std::path::PathBuf,
        msg: String,
    },
    /// The system's root certificates could not be loaded, or TLS could not be set up.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// Names the variable, never a value.
    #[error("header `{header}`: the environment variable `{var}` is not set (or is not UTF-8)")]
    MissingEnv { header: String, var: String },
    /// Names the variable, never its value.
    #[error("header `{header}`: not a valid header, or the value of `{var}` is not a valid header value")]
    BadHeader { header: String, var: String },
    #[error("cannot start the client runtime: {0}")]
    Runtime(std::io::Error),
}

/// The message, for callers that collect errors as text.
impl From<ClientError> for String {
    fn from(e: ClientError) -> String {
        e.to_string()
    }
}

/// Why [`RemoteScorer::fetch_metadata`](super::RemoteScorer::fetch_metadata) has no metadata.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetadataError {
    /// No connection or no answer in time.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered with a non-2xx status (404: it does not serve the model).
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// The answer was not model metadata.
    #[error("{0}")]
    Malformed(String),
    /// The TLS handshake failed (most often: the server's certificate did not verify).
    #[error("{0}")]
    Tls(String),
}
