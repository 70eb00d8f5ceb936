//! eddy-core: event time, watermarks, windows, aggregations and feature specs.
//!
//! Everything here is pure: no I/O, no threads, no clocks. Time enters as data
//! (event timestamps, watermarks, and a caller-supplied processing time for idleness).
//! Semantics follow Apache Flink to the millisecond; see `docs/semantics.md`.
//!
//! # Two outputs of one engine
//!
//! A 5-minute sliding count as of each event covers `(t - 5m, t]`, the event included; the
//! same feature's window-close rows come out when the watermark passes each window's end.
//!
//! ```
//! use eddy_core::agg::{AggKind, FeatureValue};
//! use eddy_core::engine::{EngineConfig, FeatureEngine, LatePolicy, Outcome};
//! use eddy_core::feature::FeatureSpec;
//! use eddy_core::row::FeatureRow;
//! use eddy_core::window::WindowSpec;
//! use eddy_core::{Event, KeyId};
//!
//! let minute = 60_000;
//! let count_5m = FeatureSpec {
//!     name: "events_5m".into(),
//!     agg: AggKind::Count,
//!     field: None,
//!     window: WindowSpec::Sliding { size: 5 * minute, slide: minute, offset: 0 },
//!     filter: None,
//! };
//! let config = EngineConfig { allowed_lateness: 0, late_policy: LatePolicy::Update , key_ttl: 0};
//! let mut engine = FeatureEngine::new(vec![count_5m], config).unwrap();
//! let (mut row, mut closed) = (FeatureRow::default(), Vec::new());
//!
//! // One key, events at 0, 1 min, 5 min and 5 min + 1 ms.
//! let mut as_of = Vec::new();
//! for ts in [0, minute, 5 * minute, 5 * minute + 1] {
//!     let ev = Event { key: KeyId(0), ts, fields: vec![] };
//!     assert_eq!(engine.process(&ev, &mut row, &mut closed), Outcome::Accepted);
//!     as_of.push(row.value(0));
//! }
//! // At 5m the window (0, 5m] has lost the event at 0; at 5m+1 it still holds 1m.
//! let counts = [1, 2, 2, 3].map(FeatureValue::Int);
//! assert_eq!(as_of, counts);
//!
//! // Window [0, 5m) closes when the watermark reaches 5m - 1; it held 0 and 1m.
//! engine.advance_watermark(5 * minute - 1, &mut closed);
//! let first = closed.iter().find(|r| r.start == 0).unwrap();
//! assert_eq!((first.end, first.value.clone(), first.update), (5 * minute, FeatureValue::Int(2), false));
//! ```

pub mod agg;
pub mod engine;
pub mod error;
pub mod event;
pub mod feature;
pub mod filter;
pub mod rng;
pub mod row;
pub mod time;
pub mod watermark;
pub mod window;

pub use error::CoreError;
pub use event::{Event, FieldId, FieldType, Interner, KeyId, Schema, Sym, Value};
pub use time::Timestamp;
