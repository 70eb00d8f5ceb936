//! Writing an output to a topic: one message per row, keyed by the row's entity key, the
//! event id in a header, through an idempotent producer whose queue bounds what is in flight
//! (a full queue holds the run back). A delivery that fails after librdkafka's retries stops
//! the run: nothing is dropped without an error.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use super::client::{config, error};
use super::KafkaSink;
use crate::codec::csv::{csv_record_ends, CsvFraming};
use crate::connector::{RowShape, Sink};
use crate::error::RuntimeError;
use crate::json::{unescape, Kind, Object};

/// The header that carries a row's event id.
pub const EVENT_ID_HEADER: &str = "eddy.event_id";

/// The first delivery failure, kept for the writer to report.
#[derive(Default)]
struct Delivery {
    failed: Mutex<Option<String>>,
}

impl ClientContext for Delivery {}

impl ProducerContext for Delivery {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if let Ok(mut f) = self.failed.lock() {
                f.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Where a row's key or event id is: a JSONL member, or a CSV column (found from the header).
#[derive(Debug, Clone, Default)]
struct Field {
    name: Option<String>,
    column: Option<usize>,
}

pub(crate) struct KafkaWriter {
    producer: ThreadedProducer<Delivery>,
    topic: String,
    name: String,
    key: Field,
    event_id: Field,
    /// The rows are CSV (the first row was a header, not an object).
    csv: Option<bool>,
    /// A CSV output's header (its first row) has been read.
    header_done: bool,
    timeout: Duration,
    key_buf: Vec<u8>,
    id_buf: Vec<u8>,
}

impl KafkaWriter {
    pub(crate) fn open(cfg: &KafkaSink, shape: &RowShape) -> Result<KafkaWriter, RuntimeError> {
        let producer = config(&cfg.brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.timeout.ms", cfg.delivery_timeout_ms.to_string())
            .set(
                "queue.buffering.max.messages",
                cfg.max_in_flight.to_string(),
            )
            .create_with_context(Delivery::default())
            .map_err(|e| error(format!("producer for topic {}", cfg.topic), e))?;
        let key = match cfg.key.as_deref() {
            Some("") => None,
            Some(k) => Some(k.to_string()),
            None => shape.key.clone(),
        };
        Ok(KafkaWriter {
            producer,
            topic: cfg.topic.clone(),
            name: format!("kafka topic {}", cfg.topic),
            key: Field {
                name: key,
                column: None,
            },
            event_id: Field {
                name: shape.event_id.clone(),
                column: None,
            },
            csv: None,
            header_done: false,
            timeout: Duration::from_millis(cfg.delivery_timeout_ms as u64),
            key_buf: Vec::new(),
            id_buf: Vec::new(),
        })
    }

    fn failed(&self) -> std::io::Result<()> {
        failed(&self.producer, &self.topic)
    }

    /// Reads the CSV header: the columns of the key and the event id.
    fn header(&mut self, row: &[u8]) {
        let mut i = 0;
        let mut at = 0;
        let mut cell = Vec::new();
        while let Some(next) = csv_cell(row, at, &mut cell) {
            for f in [&mut self.key, &mut self.event_id] {
                if f.name.as_deref().map(str::as_bytes) == Some(&cell[..]) {
                    f.column = Some(i);
                }
            }
            i += 1;
            at = next;
        }
    }

    /// Sends one row (without its line break).
    fn send(&mut self, row: &[u8]) -> std::io::Result<()> {
        let (key, id) = if self.csv == Some(true) {
            (
                csv_field(row, self.key.column, &mut self.key_buf),
                csv_field(row, self.event_id.column, &mut self.id_buf),
            )
        } else {
            json_fields(
                row,
                self.key.name.as_deref(),
                self.event_id.name.as_deref(),
                &mut self.key_buf,
                &mut self.id_buf,
            )
        };
        let mut record = BaseRecord::<[u8], [u8]>::to(&self.topic).payload(row);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(id) = id {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: EVENT_ID_HEADER,
                value: Some(id),
            }));
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                // the bound on what is in flight: wait for acknowledgements
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    failed(&self.producer, &self.topic)?;
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => {
                    return Err(std::io::Error::other(format!(
                        "cannot produce to topic {}: {e}",
                        self.topic
                    )))
                }
            }
        }
    }
}

/// The first delivery that failed, as the error that stops the run.
fn failed(producer: &ThreadedProducer<Delivery>, topic: &str) -> std::io::Result<()> {
    let failed = (producer.context().failed.lock())
        .ok()
        .and_then(|f| f.clone());
    match failed {
        Some(e) => Err(std::io::Error::other(format!(
            "a delivery to topic {topic} failed after its retries ({e}); the run stops so that no row is lost"
        ))),
        None => Ok(()),
    }
}

/// The values of the members `key` and `id` of a JSON row (strings unescaped), copied into
/// the buffers (reused: no allocation once they have grown).
fn json_fields<'a>(
    row: &[u8],
    key: Option<&str>,
    id: Option<&str>,
    key_buf: &'a mut Vec<u8>,
    id_buf: &'a mut Vec<u8>,
) -> (Option<&'a [u8]>, Option<&'a [u8]>) {
    let (mut k, mut i) = (false, false);
    if key.is_some() || id.is_some() {
        if let Ok(mut obj) = Object::open(row) {
            while let Ok(Some((ns, ne, _))) = obj.name(&[]) {
                let Ok((kind, vs, ve)) = obj.value() else {
                    break;
                };
                let (name, value) = (&row[ns..ne], &row[vs..ve]);
                if !k && key.is_some_and(|x| x.as_bytes() == name) {
                    k = json_value(kind, value, key_buf);
                }
                if !i && id.is_some_and(|x| x.as_bytes() == name) {
                    i = json_value(kind, value, id_buf);
                }
                if (k || key.is_none()) && (i || id.is_none()) {
                    break;
                }
            }
        }
    }
    (k.then_some(&key_buf[..]), i.then_some(&id_buf[..]))
}

/// A string or number value into `buf` as message bytes; `false` for other kinds.
fn json_value(kind: Kind, value: &[u8], buf: &mut Vec<u8>) -> bool {
    buf.clear();
    match kind {
        Kind::Str { escaped: true } => unescape(value, buf).is_ok(),
        Kind::Str { escaped: false } | Kind::Num { .. } => {
            buf.extend_from_slice(value);
            true
        }
        _ => false,
    }
}

/// Cell `column` of a CSV row (quotes removed).
fn csv_field<'a>(row: &[u8], column: Option<usize>, buf: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    let column = column?;
    let mut at = 0;
    for _ in 0..column {
        // the cells before it pass through the same buffer
        at = csv_cell(row, at, buf)?;
    }
    csv_cell(row, at, buf)?;
    Some(&buf[..])
}

/// The CSV cell starting at `at`, unquoted into `out`; returns where the next cell starts
/// (`None` past the last cell).
fn csv_cell(row: &[u8], at: usize, out: &mut Vec<u8>) -> Option<usize> {
    out.clear();
    if at > row.len() {
        return None;
    }
    let mut i = at;
    if row.get(i) == Some(&b'"') {
        i += 1;
        while i < row.len() {
            if row[i] == b'"' {
                if row.get(i + 1) == Some(&b'"') {
                    out.push(b'"');
                    i += 2;
                    continue;
                }
                i += 1;
                break;
            }
            out.push(row[i]);
            i += 1;
        }
        // up to the separator
        while i < row.len() && row[i] != b',' {
            i += 1;
        }
    } else {
        while i < row.len() && row[i] != b',' {
            out.push(row[i]);
            i += 1;
        }
    }
    Some(i + 1)
}

fn trim_row(row: &[u8]) -> &[u8] {
    let row = row.strip_suffix(b"\n").unwrap_or(row);
    row.strip_suffix(b"\r").unwrap_or(row)
}

impl Sink for KafkaWriter {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, rows: &[u8]) -> std::io::Result<()> {
        self.failed()?;
        let mut at = 0;
        while at < rows.len() {
            let csv = *self
                .csv
                .get_or_insert_with(|| !rows[at..].starts_with(b"{"));
            let end = if csv {
                let mut state = CsvFraming::new();
                let mut end = None;
                csv_record_ends(&rows[at..], &mut state, |e, _| {
                    end.get_or_insert(e);
                });
                end.map_or(rows.len(), |e| at + e)
            } else {
                memchr::memchr(b'\n', &rows[at..]).map_or(rows.len(), |i| at + i + 1)
            };
            let row = trim_row(&rows[at..end]);
            if csv && !self.header_done {
                // a CSV output's first row is its header: it names the columns, and is no
                // message
                self.header(row);
                self.header_done = true;
            } else if !row.is_empty() {
                self.send(row)?;
            }
            at = end;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.failed()
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.failed()?;
        self.producer
            .flush(self.timeout + Duration::from_secs(5))
            .map_err(|e| {
                std::io::Error::other(format!(
                    "messages to topic {} not acknowledged within the delivery timeout: {e}",
                    self.topic
                ))
            })?;
        self.failed()
    }
}

#[cfg(test)]
mod tests {
    use super::{csv_field, json_fields};

    #[test]
    fn key_and_event_id_are_found_in_rows() {
        let (mut k, mut i) = (Vec::new(), Vec::new());
        let row = br#"{"event_id":"e\"1","user_id":42,"x":{"user_id":"no"}}"#;
        let (key, id) = json_fields(row, Some("user_id"), Some("event_id"), &mut k, &mut i);
        assert_eq!(key, Some(&b"42"[..]));
        assert_eq!(id, Some(&b"e\"1"[..]));
        let (key, id) = json_fields(row, Some("absent"), None, &mut k, &mut i);
        assert_eq!((key, id), (None, None));
        let mut buf = Vec::new();
        let row = br#"a,"b,""c""",d"#;
        assert_eq!(csv_field(row, Some(0), &mut buf), Some(&b"a"[..]));
        assert_eq!(csv_field(row, Some(1), &mut buf), Some(&b"b,\"c\""[..]));
        assert_eq!(csv_field(row, Some(2), &mut buf), Some(&b"d"[..]));
        assert_eq!(csv_field(row, Some(3), &mut buf), None);
        assert_eq!(csv_field(row, None, &mut buf), None);
    }
}
