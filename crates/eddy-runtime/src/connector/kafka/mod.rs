//! Kafka: a source that reads topics (`[source] type = "kafka"`) and a sink that writes an
//! output to a topic (`{ type = "kafka", ... }`), through librdkafka (the `kafka` feature).
//!
//! The configs are parsed in every build, so a spec naming Kafka validates anywhere; without
//! the feature, opening one is refused with a clear error before any event is read.

#[cfg(feature = "kafka")]
pub(crate) mod client;
#[cfg(feature = "kafka")]
mod sink;
#[cfg(feature = "kafka")]
mod source;

use std::sync::Arc;

use toml::{Table, Value as Toml};

use super::{
    Framing, Locus, RowShape, SinkConfig, SinkConnector, SinkIdentity, SinkKind, Source,
    SourceConfig, SourceConnector, SourceKind,
};
use crate::check::{join, type_name, Validator};
use crate::error::RuntimeError;

pub const SOURCE: SourceKind = SourceKind {
    name: "kafka",
    keys: &[
        "brokers",
        "topics",
        "group",
        "start",
        "end",
        "on_unavailable",
        "connect_timeout",
        "commit_interval",
        "csv_header",
    ],
    parse: parse_source,
};

pub const SINK: SinkKind = SinkKind {
    name: "kafka",
    keys: &[
        "brokers",
        "topic",
        "key",
        "max_in_flight",
        "delivery_timeout",
    ],
    parse: parse_sink,
};

/// Where a Kafka source starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Earliest,
    Latest,
    /// The group's committed offset, else the earliest.
    Committed,
}

/// When a Kafka source ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Never: a live stream (until stopped).
    Never,
    /// Once every partition has been read up to the end offset it had at start.
    CaughtUp,
}

/// What a Kafka source does when no broker answers at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnavailable {
    /// Fail after `connect_timeout`.
    Fail,
    /// Keep trying (saying so every `connect_timeout`) until a broker answers or the run is
    /// stopped.
    Wait,
}

/// `[source] type = "kafka"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSource {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    pub topics: Vec<String>,
    /// The consumer group whose offsets are committed (and read by `start = "committed"`).
    pub group: String,
    pub start: Start,
    pub end: End,
    pub on_unavailable: OnUnavailable,
    pub connect_timeout_ms: i64,
    /// How often (processing time) the offsets of records whose outputs are written are
    /// committed.
    pub commit_interval_ms: i64,
    /// For CSV messages (one record each, no header): the header line naming the columns.
    pub csv_header: Option<String>,
    /// The message's key and timestamp join each record as the fields [`MESSAGE_KEY`] and
    /// [`MESSAGE_TIMESTAMP`] (when `source.key` or `source.timestamp` names them).
    pub message_key: bool,
    pub message_timestamp: bool,
}

/// The field holding a message's key, for `source.key`.
pub const MESSAGE_KEY: &str = "@kafka.key";
/// The field holding a message's timestamp (epoch ms), for `source.timestamp`.
pub const MESSAGE_TIMESTAMP: &str = "@kafka.timestamp";

/// Default `connect_timeout`.
const CONNECT_TIMEOUT_MS: i64 = 10_000;
/// Default `commit_interval`.
const COMMIT_INTERVAL_MS: i64 = 1_000;
/// Default `max_in_flight`: messages produced and not yet acknowledged.
const MAX_IN_FLIGHT: usize = 100_000;
/// Default `delivery_timeout`: how long a message may take to be acknowledged, retries
/// included.
const DELIVERY_TIMEOUT_MS: i64 = 30_000;

/// A string or a list of strings (`brokers`, `topics`), as a list.
fn strings(v: &mut Validator, t: &Table, path: &str, key: &str) -> Option<Vec<String>> {
    let p = join(path, key);
    match t.get(key)? {
        Toml::String(s) => Some(vec![s.clone()]),
        Toml::Array(a) => {
            let mut out = Vec::new();
            for (i, x) in a.iter().enumerate() {
                match x {
                    Toml::String(s) => out.push(s.clone()),
                    x => {
                        v.err(
                            format!("{p}[{i}]"),
                            format!("expected a string, found {}", type_name(x)),
                        );
                        return None;
                    }
                }
            }
            Some(out)
        }
        x => {
            v.err(
                p,
                format!(
                    "expected a string or a list of strings, found {}",
                    type_name(x)
                ),
            );
            None
        }
    }
}

/// `brokers`: required, not empty.
fn brokers(v: &mut Validator, t: &Table, path: &str) -> Option<String> {
    match strings(v, t, path, "brokers") {
        Some(b) if !b.is_empty() && b.iter().all(|s| !s.trim().is_empty()) => Some(b.join(",")),
        Some(_) => {
            v.err(join(path, "brokers"), "empty; expected host:port");
            None
        }
        None => {
            if !t.contains_key("brokers") {
                v.err(
                    join(path, "brokers"),
                    "missing; expected the Kafka brokers to start from (\"host:port\" or a list)",
                );
            }
            None
        }
    }
}

fn parse_source(v: &mut Validator, t: &Table, path: &str) -> Option<SourceConfig> {
    let brokers = brokers(v, t, path);
    let topics = match strings(v, t, path, "topics") {
        Some(ts) if !ts.is_empty() && ts.iter().all(|s| !s.is_empty()) => Some(ts),
        Some(_) => {
            v.err(join(path, "topics"), "empty; expected topic names");
            None
        }
        None => {
            if !t.contains_key("topics") {
                v.err(
                    join(path, "topics"),
                    "missing; expected the topic (or list of topics) to read",
                );
            }
            None
        }
    };
    let group = v.string(t, path, "group").unwrap_or_else(|| "eddy".into());
    let start = if t.contains_key("start") {
        v.choice(
            t,
            path,
            "start",
            &[
                ("earliest", Start::Earliest),
                ("latest", Start::Latest),
                ("committed", Start::Committed),
            ],
        )
    } else {
        Some(Start::Committed)
    };
    let end = if t.contains_key("end") {
        v.choice(
            t,
            path,
            "end",
            &[("never", End::Never), ("caught_up", End::CaughtUp)],
        )
    } else {
        Some(End::Never)
    };
    let on_unavailable = if t.contains_key("on_unavailable") {
        v.choice(
            t,
            path,
            "on_unavailable",
            &[("fail", OnUnavailable::Fail), ("wait", OnUnavailable::Wait)],
        )
    } else {
        Some(OnUnavailable::Fail)
    };
    let connect_timeout_ms = positive_ms(v, t, path, "connect_timeout", CONNECT_TIMEOUT_MS);
    let commit_interval_ms = positive_ms(v, t, path, "commit_interval", COMMIT_INTERVAL_MS);
    let csv_header = v.string(t, path, "csv_header");
    let csv = matches!(t.get("format"), Some(Toml::String(f)) if f == "csv");
    if csv && csv_header.is_none() {
        v.err(
            join(path, "csv_header"),
            "missing; CSV messages carry no header: give the header line naming their columns (\"event_id,user_id,ts,...\")",
        );
    }
    if !csv && csv_header.is_some() {
        v.err(
            join(path, "csv_header"),
            "only for format = \"csv\"; JSONL messages name their fields",
        );
    }
    let named = |k: &str, v: &str| matches!(t.get(k), Some(Toml::String(s)) if s == v);
    let message_key = named("key", MESSAGE_KEY);
    let message_timestamp = named("timestamp", MESSAGE_TIMESTAMP);
    if message_timestamp && !named("timestamp_format", "epoch_ms") {
        v.err(
            join(path, "timestamp_format"),
            format!("a message's timestamp (`{MESSAGE_TIMESTAMP}`) is in epoch milliseconds; set timestamp_format = \"epoch_ms\""),
        );
    }
    Some(Arc::new(KafkaSource {
        brokers: brokers?,
        topics: topics?,
        group,
        start: start?,
        end: end?,
        on_unavailable: on_unavailable?,
        connect_timeout_ms: connect_timeout_ms?,
        commit_interval_ms: commit_interval_ms?,
        csv_header,
        message_key,
        message_timestamp,
    }))
}

/// A duration > 0 in ms, `default` when absent.
fn positive_ms(v: &mut Validator, t: &Table, path: &str, key: &str, default: i64) -> Option<i64> {
    if !t.contains_key(key) {
        return Some(default);
    }
    match v.duration(t, path, key)? {
        0 => {
            v.err(join(path, key), "zero; expected a duration > 0");
            None
        }
        ms => Some(ms),
    }
}

impl SourceConnector for KafkaSource {
    fn kind(&self) -> &'static str {
        SOURCE.name
    }

    fn open(
        &self,
        framing: Framing,
        max_record: usize,
    ) -> Result<Box<dyn Source + Send>, RuntimeError> {
        #[cfg(feature = "kafka")]
        {
            Ok(Box::new(source::KafkaReader::open(
                self, framing, max_record,
            )?))
        }
        #[cfg(not(feature = "kafka"))]
        {
            let _ = (framing, max_record);
            Err(off("source.type"))
        }
    }

    fn locus(&self) -> Locus {
        Locus::Message
    }
}

/// An output `{ type = "kafka", brokers = "...", topic = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSink {
    pub brokers: String,
    pub topic: String,
    /// The member (JSONL) or column (CSV) whose value keys each message; by default the
    /// output's entity key (see [`RowShape`]). `""`: no key.
    pub key: Option<String>,
    pub max_in_flight: usize,
    pub delivery_timeout_ms: i64,
    /// Each sink is its own producer (see [`SinkConnector::identity`]).
    id: usize,
}

impl KafkaSink {
    /// A sink to `topic` at `brokers` with the default settings; `key` as the spec's.
    pub fn config(brokers: &str, topic: &str, key: Option<String>) -> SinkConfig {
        Arc::new(KafkaSink {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            key,
            max_in_flight: MAX_IN_FLIGHT,
            delivery_timeout_ms: DELIVERY_TIMEOUT_MS,
            id: super::unique_sink_id(),
        })
    }
}

fn parse_sink(v: &mut Validator, t: &Table, path: &str) -> Option<SinkConfig> {
    let brokers = brokers(v, t, path);
    let topic = v.required_string(t, path, "topic", "the topic to write to");
    let key = v.string(t, path, "key");
    let max_in_flight = v
        .positive_int(t, path, "max_in_flight")
        .unwrap_or(MAX_IN_FLIGHT);
    let delivery_timeout_ms = positive_ms(v, t, path, "delivery_timeout", DELIVERY_TIMEOUT_MS)?;
    Some(Arc::new(KafkaSink {
        brokers: brokers?,
        topic: topic?,
        key,
        max_in_flight,
        delivery_timeout_ms,
        id: super::unique_sink_id(),
    }))
}

impl SinkConnector for KafkaSink {
    fn kind(&self) -> &'static str {
        SINK.name
    }

    fn open(&self) -> Result<Box<dyn super::Sink>, RuntimeError> {
        self.open_for(&RowShape::default())
    }

    fn open_for(&self, shape: &RowShape) -> Result<Box<dyn super::Sink>, RuntimeError> {
        #[cfg(feature = "kafka")]
        {
            Ok(Box::new(sink::KafkaWriter::open(self, shape)?))
        }
        #[cfg(not(feature = "kafka"))]
        {
            let _ = shape;
            Err(off("output"))
        }
    }

    /// Never shared: two outputs to one topic are two producers (whole messages interleave).
    fn identity(&self) -> SinkIdentity {
        SinkIdentity::Unique(self.id)
    }

    fn describe(&self) -> String {
        format!("kafka topic {} at {}", self.topic, self.brokers)
    }
}

#[cfg(not(feature = "kafka"))]
fn off(what: &str) -> RuntimeError {
    RuntimeError::Kafka {
        what: what.to_string(),
        msg: "this eddy was built without the `kafka` feature; rebuild with default features"
            .to_string(),
    }
}
