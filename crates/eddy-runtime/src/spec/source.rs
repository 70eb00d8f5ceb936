//! The `[source]` table: where events are read from (the connector chosen by `type`, which
//! reads its own keys), in which format, their key and event time, and the declared fields
//! (`[source.fields]`) that make the schema.

use std::path::Path;

use eddy_core::time::TimestampFormat;
use eddy_core::{FieldType, Schema};
use toml::{Table, Value as Toml};

use crate::check::{join, type_name, Validator};
use crate::connector::stream::MAX_RECORD_BYTES;
use crate::connector::{self, SourceConfig, SOURCES};

/// Input record format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Jsonl,
    Csv,
}

/// The validated `[source]` table.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// The connector and its config.
    pub connector: SourceConfig,
    pub format: InputFormat,
    pub key: String,
    pub timestamp: String,
    pub timestamp_format: TimestampFormat,
    pub event_id: Option<String>,
    /// The largest record accepted (`max_record_bytes`); a longer one is a dead letter.
    pub max_record_bytes: usize,
}

/// The keys every source has, in the order an unknown-key error lists them; the connector
/// adds its own.
const KEYS: &[&str] = &[
    "type",
    "format",
    "key",
    "timestamp",
    "timestamp_format",
    "event_id",
    "max_record_bytes",
    "fields",
];

/// Validates the `[source]` table at `path`. The schema comes back even when the rest of the
/// table is wrong, so that the features can still be checked against it.
pub(super) fn source(v: &mut Validator, s: &Table, path: &str) -> (Option<SourceSpec>, Schema) {
    let connector = source_connector(v, s, path, KEYS);
    let format = v.choice(
        s,
        path,
        "format",
        &[("jsonl", InputFormat::Jsonl), ("csv", InputFormat::Csv)],
    );
    let key = v.required_string(s, path, "key", "the name of the entity key field");
    let timestamp = v.required_string(s, path, "timestamp", "the name of the event time field");
    let timestamp_format = timestamp_format(v, s, path);
    let event_id = v.string(s, path, "event_id");
    let max_record_bytes = v
        .positive_int(s, path, "max_record_bytes")
        .unwrap_or(MAX_RECORD_BYTES);
    let schema = match v.table(s, path, "fields") {
        Some(f) => fields(v, f, &join(path, "fields"), timestamp.as_deref()),
        None => Schema::new(),
    };
    if let (Some(k), Some(t)) = (&key, &timestamp) {
        if k == t {
            v.err(
                join(path, "timestamp"),
                format!("`{t}` is also the key field; expected a different field"),
            );
        }
    }
    let source = match (connector, format, key, timestamp, timestamp_format) {
        (Some(connector), Some(format), Some(key), Some(timestamp), Some(timestamp_format)) => {
            Some(SourceSpec {
                connector,
                format,
                key,
                timestamp,
                timestamp_format,
                event_id,
                max_record_bytes,
            })
        }
        (_, None, ..) => {
            if !s.contains_key("format") {
                v.err(
                    join(path, "format"),
                    "missing; expected \"jsonl\" or \"csv\"",
                );
            }
            None
        }
        _ => None,
    };
    (source, schema)
}

/// The connector of a source table at `path` (`[source]`, or a label stream's), with its
/// keys checked: the connector's, and the table's `own`. Without `type`, a
/// `path` is a file and no path (or `"-"`) is stdin, as before connectors had types.
pub(super) fn source_connector(
    v: &mut Validator,
    s: &Table,
    path: &str,
    own: &[&str],
) -> Option<SourceConfig> {
    let with = |keys: &[&'static str]| -> Vec<&str> { [own, keys].concat() };
    let Some(name) = v.string(s, path, "type") else {
        if s.contains_key("type") {
            // not a string (reported): the other keys are checked against every connector's
            let all: Vec<&str> = SOURCES
                .iter()
                .flat_map(|k| k.keys.iter().copied())
                .collect();
            v.unknown_keys(s, path, &with(&all));
            return None;
        }
        v.unknown_keys(s, path, &with(&["path"]));
        return Some(connector::input(Path::new(
            v.string(s, path, "path").as_deref().unwrap_or("-"),
        )));
    };
    match connector::source_kind(&name) {
        Some(kind) => {
            v.unknown_keys(s, path, &with(kind.keys));
            (kind.parse)(v, s, path)
        }
        None => {
            v.err(
                join(path, "type"),
                format!(
                    "unknown source type `{name}`; expected one of: {}",
                    connector::names(SOURCES, |k| k.name)
                ),
            );
            let all: Vec<&str> = SOURCES
                .iter()
                .flat_map(|k| k.keys.iter().copied())
                .collect();
            v.unknown_keys(s, path, &with(&all));
            None
        }
    }
}

/// `timestamp_format` of a source table (`rfc3339` when absent); `None` when it is wrong.
pub(super) fn timestamp_format(
    v: &mut Validator,
    t: &Table,
    path: &str,
) -> Option<TimestampFormat> {
    if !t.contains_key("timestamp_format") {
        return Some(TimestampFormat::Rfc3339);
    }
    v.choice(
        t,
        path,
        "timestamp_format",
        &[
            ("rfc3339", TimestampFormat::Rfc3339),
            ("epoch_s", TimestampFormat::EpochSeconds),
            ("epoch_ms", TimestampFormat::EpochMillis),
        ],
    )
}

/// The `[source.fields]` table at `path` (name = type), in declaration order. The timestamp
/// field is refused: it is declared by `source.timestamp`.
fn fields(v: &mut Validator, f: &Table, path: &str, timestamp: Option<&str>) -> Schema {
    let mut schema = Schema::new();
    for (name, ty) in f {
        let fp = join(path, name);
        let ty = match ty {
            Toml::String(t) => match t.as_str() {
                "bool" => Some(FieldType::Bool),
                "int" => Some(FieldType::Int),
                "float" => Some(FieldType::Float),
                "string" => Some(FieldType::String),
                other => {
                    v.err(
                        fp,
                        format!(
                            "unknown type `{other}`; expected one of: bool, int, float, string"
                        ),
                    );
                    None
                }
            },
            x => {
                v.err(
                    fp,
                    format!(
                        "expected a type name (bool, int, float, string), found {}",
                        type_name(x)
                    ),
                );
                None
            }
        };
        if let Some(ty) = ty {
            if Some(name.as_str()) == timestamp {
                v.err(
                    join(path, name),
                    "the timestamp field is declared by source.timestamp; do not list it in source.fields",
                );
                continue;
            }
            schema.add(name, ty);
        }
    }
    schema
}
