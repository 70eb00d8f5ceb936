//! eddy-runtime: running a pipeline. The spec, decoding JSONL/CSV into typed events, file and
//! stdin sources, file and stdout sinks, dead letters, and run statistics.
//!
//! One job per module:
//! - [`spec`]: the TOML pipeline spec, validated into eddy-core types with every error's key path;
//! - [`json`]: a validating one-object-per-line JSON scanner;
//! - [`codec`]: CSV records and their framing, JSONL members, and the one bad-row type
//!   ([`DecodeError`] with its [`DeadReason`]), shared with `eddy learn`;
//! - [`decode`]: JSONL/CSV lines → the reused [`eddy_core::Event`];
//! - [`source`]: partitioned line sources with offsets (files, stdin, memory);
//! - [`encode`]: the output contract (per-event rows, window rows, late events, dead letters);
//! - [`sink`]: buffered file/stdout outputs;
//! - [`pipeline`]: source → decode → watermark → engine → model → sinks over three threads,
//!   and the run [`pipeline::Summary`];
//! - [`lookup`]: reading the online store while a run goes on (answered between batches);
//! - [`score`]: the optional `[model]`, scoring each per-event row in process or through a
//!   model server (external call, side output);
//! - [`generate`]: deterministic synthetic `fraud` and `clicks` streams;
//! - [`huge_pages`]: asking glibc for transparent huge pages at start-up.

pub mod codec;
pub mod decode;
pub mod encode;
pub mod error;
pub mod generate;
pub mod huge_pages;
pub mod json;
pub mod lookup;
pub mod pipeline;
pub mod score;
pub mod sink;
pub mod source;
pub mod spec;

pub use error::{DeadReason, DecodeError, RuntimeError, SpecError, SpecErrors};
pub use pipeline::{Pipeline, RunHooks, Summary};
pub use spec::PipelineSpec;
