//! eddy-oip: the Open Inference Protocol (KServe V2 REST) for eddy, both sides.
//!
//! - [`wire`]: the OIP JSON both sides speak (requests, responses, metadata, tensor data).
//! - [`server`]: `eddy serve`, an OIP server for any [`eddy_infer::Model`] (native snapshots
//!   and ONNX files), on tokio + axum.
//! - [`remote`]: the external-service call: a client for any OIP server that a synchronous
//!   pipeline thread drives (`submit` / `submit_watermark` / `poll` / `drain`), with bounded
//!   requests in flight, micro-batching, per-request timeouts, retries with exponential backoff
//!   and full jitter, a circuit breaker, a fallback score with a reason, and ordered or
//!   unordered emission with Flink Async I/O semantics.
//!
//! A crate of its own (rather than a feature of `eddy-infer`) so that `eddy-infer` stays
//! untouched by HTTP. The server and the client's transport are behind the `http` feature (on
//! by default); without it only the protocol's types compile (the wire format, the client's
//! config, outcomes and counters), so a pipeline spec can still name a model server and an
//! embedded-only user compiles no HTTP stack.

pub mod remote;
#[cfg(feature = "http")]
pub mod server;
pub mod wire;
