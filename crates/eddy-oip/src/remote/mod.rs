//! The external-service call: score events through any Open Inference Protocol server.
//!
//! A [`RemoteScorer`] is driven by one synchronous pipeline thread and owns a small tokio
//! runtime that does the HTTP:
//!
//! - [`RemoteScorer::submit`] copies an event's features into the open micro-batch; a batch is
//!   sent when it holds [`RemoteConfig::max_batch`] events or its first event has waited
//!   [`RemoteConfig::max_wait`] (a timer on the runtime, so an idle pipeline still flushes).
//! - At most [`RemoteConfig::max_in_flight`] requests are outstanding; at most
//!   [`RemoteConfig::capacity`] events are submitted and not yet emitted; `submit` blocks
//!   (emitting what completes meanwhile into `out`) while the buffer is full.
//! - Each attempt has [`RemoteConfig::timeout`]; timeouts, connection failures and 5xx are
//!   retried up to [`RemoteConfig::max_retries`] times after a full-jitter exponential backoff
//!   (`uniform(0, min(backoff_max, backoff_base · 2^(attempt-1)))`, from a seeded
//!   [`eddy_core::rng::Rng`]). 4xx (401 and 403 as `unauthorized`), TLS failures, malformed
//!   JSON and wrong outputs are not retried.
//! - `https://` URLs go over rustls, verified against the system's roots or
//!   [`RemoteConfig::ca_file`]; [`RemoteConfig::headers`] are read from the environment when
//!   the scorer starts and marked sensitive (never shown).
//! - A score is one value per row, or a column ([`RemoteConfig::score_column`]) of a 2-D
//!   output such as scikit-learn's `predict_proba`; an answer of any other shape falls back
//!   (`wrong_outputs`), never a guessed score.
//! - A circuit breaker opens after [`RemoteConfig::breaker_failures`] consecutive failed
//!   attempts; while open, batches fail at once (`circuit_open`); after
//!   [`RemoteConfig::breaker_cooldown`] one probe request is let through (half-open): success
//!   closes the breaker, failure opens it again. A batch whose retry the open breaker refuses
//!   keeps the reason of its last failure; only batches never tried say `circuit_open`.
//! - An event the server could not score still comes out, exactly once, with
//!   [`RemoteConfig::fallback_score`] and a [`FallbackReason`].
//! - Emission follows Flink's Async I/O: [`EmitMode::Ordered`] emits in submission order;
//!   [`EmitMode::Unordered`] emits as results arrive, but watermarks are barriers: an event
//!   never passes a watermark submitted after it, nor a watermark submitted before it.
//!
//! # Files
//! One job each: `config` ([`RemoteConfig`]), `outcome` (what comes out), `counters`,
//! `error`, `batch` (the open micro-batch), `codec` (a batch to a request body, a response
//! body to results, through [`wire`](crate::wire)), `transport` (the hyper client, TLS, headers),
//! `breaker` (the circuit breaker), `dispatch` (the runtime side: in-flight bound, timeout,
//! retries with backoff, the flush timer), `metadata` (`GET /v2/models/{model}`) and `scorer`
//! (the caller side: [`RemoteScorer`] and the emission order). `config`, `outcome`,
//! `counters` and `error` use no HTTP crate.

#[cfg(feature = "http")]
mod batch;
#[cfg(feature = "http")]
mod breaker;
#[cfg(feature = "http")]
mod codec;
mod config;
mod counters;
#[cfg(feature = "http")]
mod dispatch;
mod error;
#[cfg(feature = "http")]
mod metadata;
mod outcome;
#[cfg(feature = "http")]
mod scorer;
#[cfg(feature = "http")]
mod transport;

/// The model metadata a server returns (shared with the server: see [`wire`](crate::wire)).
pub use crate::wire::{ServedModel, ServedTensor};
#[cfg(feature = "http")]
pub use breaker::BreakerView;
pub use config::{EmitMode, EnvHeader, RemoteConfig, WireType};
pub use counters::Counters;
#[cfg(feature = "http")]
pub use dispatch::full_jitter;
pub use error::{ClientError, MetadataError};
pub use outcome::{Emitted, FallbackReason, Outcome, ScoredEvent};
#[cfg(feature = "http")]
pub use scorer::RemoteScorer;
