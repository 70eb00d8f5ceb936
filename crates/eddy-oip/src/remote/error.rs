//! The client's typed errors: starting a scorer, and fetching a model's metadata.

use thiserror::Error;

/// Why [`RemoteScorer::new`](super::RemoteScorer::new) could not start a scorer.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("max_batch, capacity and max_in_flight must be at least 1")]
    Limits,
    #[error("bad server URL {url:?}: {msg}")]
    BadUrl { url: String, msg: String },
    #[error("server URL {url:?}: only plain http:// is supported")]
    NotHttp { url: String },
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
}
