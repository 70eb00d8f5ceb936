//! eddy-core: event time, watermarks, windows, aggregations and feature specs.
//!
//! Everything here is pure: no I/O, no threads, no clocks. Time enters as data
//! (event timestamps, watermarks, and a caller-supplied processing time for idleness).
//! Semantics follow Apache Flink to the millisecond; see `shared/DESIGN.md` §2–3.

pub mod agg;
pub mod engine;
pub mod error;
pub mod event;
pub mod feature;
pub mod filter;
pub mod rng;
pub mod time;
pub mod watermark;
pub mod window;

pub use error::CoreError;
pub use event::{Event, FieldId, FieldType, Interner, KeyId, Schema, Sym, Value};
pub use time::Timestamp;
