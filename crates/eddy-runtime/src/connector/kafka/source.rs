//! Reading topics: every partition of the configured topics, assigned by eddy itself (the
//! consumer group holds the committed offsets; no rebalancing moves a partition away in the
//! middle of its windows), one record per message, batches of one partition each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::client::{config, error};
use super::{KafkaSource, OnUnavailable, Start};
use crate::connector::stream::BATCH_BYTES;
use crate::connector::{Batch, Committer, Framing, Origin, Oversized, Positions, Record, Source};
use crate::error::RuntimeError;

/// The most records in one batch (and [`BATCH_BYTES`] at most, unless one record is larger).
const BATCH_RECORDS: usize = 4096;
/// How long a poll waits while the batch is still empty (a stop request is seen this often).
const POLL_EMPTY: Duration = Duration::from_millis(100);
/// How much of a record that is too long its dead letter shows.
const PREVIEW_BYTES: usize = 256;

/// The running source.
pub(crate) struct KafkaReader {
    consumer: Arc<BaseConsumer>,
    name: String,
    topics: Vec<String>,
    /// Per topic, the index of its partition 0 among all partitions (the source's partitions
    /// are every topic's, in order).
    base: Vec<usize>,
    parts: Vec<Origin>,
    /// With `end = "caught_up"`: per partition, the end offset at start; `None` once caught
    /// up.
    ends: Option<Vec<Option<End>>>,
    /// Partitions not yet caught up (with `end = "caught_up"`).
    open: usize,
    /// A message of another partition than the batch's, for the next batch: its payload,
    /// key, and (partition, offset, key present, timestamp).
    carry: Vec<u8>,
    carry_key: Vec<u8>,
    carry_at: Option<(usize, u64, bool, Option<i64>)>,
    /// The message's key and timestamp join each record as fields (see [`super::MESSAGE_KEY`]).
    splice: Splice,
    /// CSV records (else JSON objects).
    csv: bool,
    /// The CSV header, put before the first message (CSV messages have none).
    header: Option<Vec<u8>>,
    max_record: usize,
    commit_interval_ms: i64,
    bytes: u64,
    /// Transient consumer errors (a broker gone, a connection cut), which librdkafka retries.
    pub(crate) transient: u64,
}

impl KafkaReader {
    pub(crate) fn open(
        cfg: &KafkaSource,
        framing: Framing,
        max_record: usize,
    ) -> Result<KafkaReader, RuntimeError> {
        let consumer: BaseConsumer = config(&cfg.brokers)
            .set("group.id", &cfg.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "100")
            .set(
                "enable.partition.eof",
                if cfg.end == super::End::CaughtUp {
                    "true"
                } else {
                    "false"
                },
            )
            .create()
            .map_err(|e| error("consumer", e))?;
        let timeout = Duration::from_millis(cfg.connect_timeout_ms as u64);
        let mut parts = Vec::new();
        let mut base = Vec::new();
        for topic in &cfg.topics {
            let n = partitions(&consumer, cfg, topic, timeout)?;
            base.push(parts.len());
            let topic: Arc<str> = topic.as_str().into();
            parts.extend((0..n).map(|partition| Origin {
                topic: topic.clone(),
                partition,
            }));
        }
        let mut tpl = TopicPartitionList::new();
        for o in &parts {
            tpl.add_partition(&o.topic, o.partition);
        }
        let committed = match cfg.start {
            Start::Committed => Some(
                consumer
                    .committed_offsets(tpl.clone(), timeout)
                    .map_err(|e| error(format!("committed offsets of group {}", cfg.group), e))?,
            ),
            _ => None,
        };
        let mut assign = TopicPartitionList::new();
        let mut ends = cfg.end.eq(&super::End::CaughtUp).then(Vec::new);
        for o in &parts {
            let from = match (cfg.start, &committed) {
                (Start::Latest, _) => Offset::End,
                (Start::Committed, Some(c)) => match c.find_partition(&o.topic, o.partition) {
                    Some(e) if matches!(e.offset(), Offset::Offset(_)) => e.offset(),
                    _ => Offset::Beginning,
                },
                _ => Offset::Beginning,
            };
            if let Some(ends) = ends.as_mut() {
                let (low, high) = consumer
                    .fetch_watermarks(&o.topic, o.partition, timeout)
                    .map_err(|e| {
                        error(
                            format!("end offsets of {} partition {}", o.topic, o.partition),
                            e,
                        )
                    })?;
                let at = match from {
                    Offset::Offset(x) => x,
                    Offset::End => high,
                    _ => low,
                };
                ends.push((at < high).then_some(End {
                    end: high,
                    reached: false,
                }));
            }
            assign
                .add_partition_offset(&o.topic, o.partition, from)
                .map_err(|e| error("assignment", e))?;
        }
        consumer
            .assign(&assign)
            .map_err(|e| error("assignment", e))?;
        let open = ends
            .as_ref()
            .map_or(0, |e| e.iter().filter(|x| x.is_some()).count());
        let header = match (framing, &cfg.csv_header) {
            (Framing::Csv, Some(h)) => {
                let mut h = h.as_bytes().to_vec();
                if cfg.message_key {
                    h.extend_from_slice(b",");
                    h.extend_from_slice(super::MESSAGE_KEY.as_bytes());
                }
                if cfg.message_timestamp {
                    h.extend_from_slice(b",");
                    h.extend_from_slice(super::MESSAGE_TIMESTAMP.as_bytes());
                }
                Some(h)
            }
            _ => None,
        };
        Ok(KafkaReader {
            consumer: Arc::new(consumer),
            name: format!("kafka {}", cfg.topics.join(",")),
            topics: cfg.topics.clone(),
            base,
            parts,
            ends,
            open,
            carry: Vec::new(),
            carry_key: Vec::new(),
            carry_at: None,
            splice: Splice {
                key: cfg.message_key,
                timestamp: cfg.message_timestamp,
            },
            csv: framing == Framing::Csv,
            header,
            max_record,
            commit_interval_ms: cfg.commit_interval_ms,
            bytes: 0,
            transient: 0,
        })
    }

    /// The source's index of a message's partition.
    fn index(&self, topic: &str, partition: i32) -> Option<usize> {
        let t = self.topics.iter().position(|x| x == topic)?;
        let i = self.base[t] + usize::try_from(partition).ok()?;
        let end = self.base.get(t + 1).copied().unwrap_or(self.parts.len());
        (i < end).then_some(i)
    }

    /// Whether every partition is read up to its end offset at start (`end = "caught_up"`).
    fn caught_up(&self) -> bool {
        self.ends.is_some() && self.open == 0
    }

    /// Appends a message to `batch` (a record, or an oversized one set aside).
    fn push(&mut self, batch: &mut Batch, index: usize, offset: u64, m: Meta<'_>) {
        let payload = m.payload;
        if batch.records.is_empty() && batch.oversized.is_empty() {
            batch.partition = index;
            batch.origin = Some(self.parts[index].clone());
        }
        if let Some(h) = self.header.take() {
            // the CSV header first: the decoder reads it before any record
            let start = batch.data.len();
            batch.data.extend_from_slice(&h);
            batch.records.push(Record {
                start,
                end: batch.data.len(),
                offset,
            });
        }
        let payload = trim_newline(payload);
        self.bytes += payload.len() as u64;
        if payload.len() > self.max_record {
            batch.oversized.push(Oversized {
                offset,
                preview: payload[..PREVIEW_BYTES.min(payload.len())].to_vec(),
            });
        } else {
            let start = batch.data.len();
            if self.splice.any() {
                self.splice
                    .record(&mut batch.data, payload, m.key, m.timestamp, self.csv);
            } else {
                batch.data.extend_from_slice(payload);
            }
            batch.records.push(Record {
                start,
                end: batch.data.len(),
                offset,
            });
        }
        if let Some(ends) = self.ends.as_mut() {
            if let Some(e) = ends[index].as_mut() {
                e.reached |= offset as i64 + 1 >= e.end;
            }
        }
    }

    /// The broker says partition `partition` (of some topic) has nothing more for now: each
    /// partition of that number read up to its end offset at start is caught up.
    fn end_of_partition(&mut self, partition: i32) {
        let Some(ends) = self.ends.as_mut() else {
            return;
        };
        for (i, o) in self.parts.iter().enumerate() {
            if o.partition == partition && ends[i].is_some_and(|e| e.reached) {
                ends[i] = None;
                self.open -= 1;
            }
        }
    }
}

/// A partition's end offset at start, and whether a record at or past it was read. It is
/// caught up once it also reached the end of what the broker has (librdkafka's end-of-
/// partition event): the record at the end offset at start may be followed, in the same
/// record batch, by more (tansu 0.6 reports an end offset one past the first offset of the
/// partition's last batch, not its last offset), and those are read too.
#[derive(Debug, Clone, Copy)]
struct End {
    end: i64,
    reached: bool,
}

/// What a record is made of: a message's payload, key and timestamp (epoch ms).
#[derive(Clone, Copy)]
struct Meta<'a> {
    payload: &'a [u8],
    key: Option<&'a [u8]>,
    timestamp: Option<i64>,
}

/// Which of a message's key and timestamp join its record as fields.
#[derive(Debug, Clone, Copy)]
struct Splice {
    key: bool,
    timestamp: bool,
}

impl Splice {
    fn any(self) -> bool {
        self.key || self.timestamp
    }

    /// Appends the record with the message's fields: first in a JSON object
    /// (`{"@kafka.key":"k","@kafka.timestamp":1700000000000,...}`; an absent key or
    /// timestamp is `null`, a missing field to the decoder), last in a CSV record (the
    /// header names them there). A payload that is not an object is left as it is (a dead
    /// letter).
    fn record(
        self,
        out: &mut Vec<u8>,
        payload: &[u8],
        key: Option<&[u8]>,
        ts: Option<i64>,
        csv: bool,
    ) {
        if csv {
            out.extend_from_slice(payload);
            if self.key {
                out.push(b',');
                if let Some(k) = key {
                    crate::encode::write_csv_cell(out, k);
                }
            }
            if self.timestamp {
                out.push(b',');
                if let Some(t) = ts {
                    out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes());
                }
            }
            return;
        }
        let at = payload.iter().position(|c| !c.is_ascii_whitespace());
        let Some(open) = at.filter(|&i| payload[i] == b'{') else {
            out.extend_from_slice(payload);
            return;
        };
        out.push(b'{');
        let mut first = true;
        if self.key {
            out.extend_from_slice(b"\"@kafka.key\":");
            match key {
                Some(k) => crate::json::write_str(out, k),
                None => out.extend_from_slice(b"null"),
            }
            first = false;
        }
        if self.timestamp {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(b"\"@kafka.timestamp\":");
            match ts {
                Some(t) => out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes()),
                None => out.extend_from_slice(b"null"),
            }
        }
        let rest = &payload[open + 1..];
        if rest.iter().any(|&c| !c.is_ascii_whitespace() && c != b'}') {
            out.push(b',');
        }
        out.extend_from_slice(rest);
    }
}

/// A message's record: without a trailing line break (a producer may add one).
fn trim_newline(p: &[u8]) -> &[u8] {
    let p = p.strip_suffix(b"\n").unwrap_or(p);
    p.strip_suffix(b"\r").unwrap_or(p)
}

/// The number of partitions of `topic`, waiting for a broker as `on_unavailable` says.
fn partitions(
    consumer: &BaseConsumer,
    cfg: &KafkaSource,
    topic: &str,
    timeout: Duration,
) -> Result<i32, RuntimeError> {
    let started = Instant::now();
    loop {
        match consumer.fetch_metadata(Some(topic), timeout) {
            Ok(m) => {
                let Some(t) = m.topics().iter().find(|t| t.name() == topic) else {
                    return Err(missing(cfg, topic));
                };
                if t.error().is_some() || t.partitions().is_empty() {
                    return Err(missing(cfg, topic));
                }
                return Ok(t.partitions().len() as i32);
            }
            Err(e) => {
                let waited = started.elapsed().as_secs();
                match cfg.on_unavailable {
                    OnUnavailable::Fail => {
                        return Err(RuntimeError::Kafka {
                            what: format!("source at {}", cfg.brokers),
                            msg: format!(
                                "no broker answered within {waited} s (connect_timeout): {e}; \
                                 set on_unavailable = \"wait\" to wait for one"
                            ),
                        })
                    }
                    OnUnavailable::Wait => {
                        if crate::shutdown::requested() {
                            return Err(RuntimeError::Kafka {
                                what: format!("source at {}", cfg.brokers),
                                msg: "stopped while waiting for a broker".into(),
                            });
                        }
                        eprintln!(
                            "eddy: waiting for a Kafka broker at {} ({waited} s so far): {e}",
                            cfg.brokers
                        );
                    }
                }
            }
        }
    }
}

fn missing(cfg: &KafkaSource, topic: &str) -> RuntimeError {
    RuntimeError::Kafka {
        what: format!("source at {}", cfg.brokers),
        msg: format!("topic `{topic}` does not exist (eddy creates no topic; create it first)"),
    }
}

impl Source for KafkaReader {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn partitions(&self) -> usize {
        self.parts.len()
    }

    fn next_batch(&mut self, batch: &mut Batch) -> Result<bool, RuntimeError> {
        batch.clear();
        batch.origin = None;
        if let Some((index, offset, has_key, timestamp)) = self.carry_at.take() {
            let carry = std::mem::take(&mut self.carry);
            let key = std::mem::take(&mut self.carry_key);
            let m = Meta {
                payload: &carry,
                key: has_key.then_some(&key[..]),
                timestamp,
            };
            self.push(batch, index, offset, m);
            self.carry = carry;
            self.carry_key = key;
        }
        let consumer = self.consumer.clone();
        loop {
            let full = batch.records.len() >= BATCH_RECORDS || batch.data.len() >= BATCH_BYTES;
            let some = !batch.records.is_empty() || !batch.oversized.is_empty();
            if full || (some && self.caught_up()) {
                return Ok(true);
            }
            if crate::shutdown::requested() || self.caught_up() {
                return Ok(some);
            }
            let wait = if some { Duration::ZERO } else { POLL_EMPTY };
            match consumer.poll(wait) {
                None if some => return Ok(true),
                None => {}
                Some(Ok(m)) => {
                    let Some(index) = self.index(m.topic(), m.partition()) else {
                        continue;
                    };
                    let offset = m.offset().max(0) as u64;
                    let meta = Meta {
                        payload: m.payload().unwrap_or(&[]),
                        key: m.key(),
                        timestamp: m.timestamp().to_millis(),
                    };
                    if some && index != batch.partition {
                        self.carry.clear();
                        self.carry.extend_from_slice(meta.payload);
                        self.carry_key.clear();
                        self.carry_key.extend_from_slice(meta.key.unwrap_or(&[]));
                        self.carry_at = Some((index, offset, meta.key.is_some(), meta.timestamp));
                        return Ok(true);
                    }
                    self.push(batch, index, offset, meta);
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    self.end_of_partition(p);
                    if some && self.caught_up() {
                        return Ok(true);
                    }
                }
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    return Err(RuntimeError::Kafka {
                        what: self.name.clone(),
                        msg: format!("fatal consumer error: {code}"),
                    })
                }
                // a broker gone or a connection cut: librdkafka reconnects and fetches on
                Some(Err(_)) => self.transient += 1,
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }

    fn committer(&mut self) -> Option<Box<dyn Committer>> {
        Some(Box::new(KafkaCommitter {
            consumer: self.consumer.clone(),
            parts: self.parts.clone(),
            done: Positions::default(),
            interval_ms: self.commit_interval_ms,
        }))
    }
}

/// Commits the group's offsets from the back thread (the consumer is shared with the reader).
struct KafkaCommitter {
    consumer: Arc<BaseConsumer>,
    parts: Vec<Origin>,
    /// What was committed last: only partitions that moved are committed again.
    done: Positions,
    interval_ms: i64,
}

impl Committer for KafkaCommitter {
    fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    fn commit(&mut self, positions: &Positions, last: bool) -> Result<(), RuntimeError> {
        let mut tpl = TopicPartitionList::new();
        for (i, p) in positions.0.iter().enumerate() {
            let (Some(next), Some(o)) = (*p, self.parts.get(i)) else {
                continue;
            };
            if self.done.0.get(i).copied().flatten() == Some(next) {
                continue;
            }
            tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(next as i64))
                .map_err(|e| error("commit", e))?;
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        // Mid-run, a commit that fails (a broker down) is retried with the next one; the last
        // one is waited for, and its failure reported.
        let mode = if last {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        self.consumer
            .commit(&tpl, mode)
            .map_err(|e| error("commit of the consumer group's offsets", e))?;
        self.done = positions.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Splice;

    fn spliced(payload: &str, key: Option<&str>, ts: Option<i64>, csv: bool) -> String {
        let mut out = Vec::new();
        let s = Splice {
            key: true,
            timestamp: true,
        };
        s.record(
            &mut out,
            payload.as_bytes(),
            key.map(str::as_bytes),
            ts,
            csv,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn message_key_and_timestamp_join_the_record() {
        assert_eq!(
            spliced(r#"{"a":1}"#, Some("u\"1"), Some(1_700_000_000_123), false),
            r#"{"@kafka.key":"u\"1","@kafka.timestamp":1700000000123,"a":1}"#
        );
        assert_eq!(
            spliced(" { } ", None, None, false),
            r#"{"@kafka.key":null,"@kafka.timestamp":null } "#
        );
        assert_eq!(spliced("[1]", Some("k"), Some(5), false), "[1]");
        assert_eq!(spliced("x,y", Some("a,b"), Some(5), true), "x,y,\"a,b\",5");
        assert_eq!(spliced("x,y", None, None, true), "x,y,,");
    }
}
