//! eddy-runtime: running a pipeline. Connectors (sources and sinks), the stages a batch goes
//! through, the driver that runs them, codecs, the spec, and run statistics.
//!
//! One job per module:
//! - [`spec`]: the TOML pipeline spec, validated into eddy-core types with every error's key path
//!   (through `check`, the validator that connectors use for their own keys too);
//! - [`connector`]: sources and sinks, one registry of them (files, stdin/stdout, memory);
//! - [`json`]: a validating one-object-per-line JSON scanner;
//! - [`codec`]: CSV records and their framing, JSONL members, and the one bad-row type
//!   ([`DecodeError`] with its [`DeadReason`]), shared with `eddy learn`;
//! - [`decode`]: JSONL/CSV records → the reused [`eddy_core::Event`];
//! - [`encode`]: the output contract (per-event rows, window rows, late events, dead letters);
//! - [`outputs`]: which sink each kind of output row goes to;
//! - [`stage`]: the stages (decode, features, score, rows, emit) behind one trait;
//! - [`driver`]: runs the stages over a source on three threads;
//! - [`metrics`]: the run's counters, gauges and histograms (Prometheus text, the summary);
//! - [`pipeline`]: a spec made into its stages, and the run [`pipeline::Summary`];
//! - [`lookup`]: reading the online store while a run goes on (answered between batches);
//! - [`score`]: the optional `[model]`, scoring each per-event row in process or through a
//!   model server (external call, side output; the latter need the `http` feature);
//! - [`shutdown`]: stopping a run early (Ctrl-C, SIGTERM) as if its input ended there;
//! - [`generate`]: deterministic synthetic `fraud` and `clicks` streams;
//! - [`huge_pages`]: asking glibc for transparent huge pages at start-up.

pub(crate) mod check;
pub mod codec;
pub mod commit;
pub mod connector;
pub mod decode;
pub mod driver;
pub mod encode;
pub mod error;
pub mod generate;
pub mod huge_pages;
pub mod json;
pub mod lookup;
pub mod metrics;
pub mod outputs;
pub mod pipeline;
pub mod score;
pub mod shutdown;
pub mod spec;
pub mod stage;
pub mod strings;

pub use error::{DeadReason, DecodeError, RuntimeError, SpecError, SpecErrors};
pub use pipeline::{Pipeline, RunHooks, Summary};
pub use spec::PipelineSpec;
