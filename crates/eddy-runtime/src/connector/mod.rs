//! Connectors: where records come from (sources) and where output rows go (sinks).
//!
//! A connector owns its config: its registry entry names the `type`, lists the keys it reads
//! and parses them, and the parsed config opens the source or sink. [`SOURCES`] and [`SINKS`]
//! are the one list of what exists, so adding a connector is one module plus one line there.
//!
//! Sources are partitioned and their records carry offsets, so that a source whose offsets are
//! not line numbers (Kafka: many partitions, one record per message, no newlines) fits the same
//! batches: a [`Batch`] is the bytes of some records of one partition plus each record's span
//! and offset. File and stdin sources are one partition whose offsets are 1-based line numbers.

pub mod file;
pub mod kafka;
pub mod memory;
pub mod stdio;
pub mod stream;

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use toml::Table;

use crate::check::Validator;
use crate::error::RuntimeError;

pub use memory::{MemorySink, MemorySource};
pub use stream::StreamSource;

/// Every source connector, by `[source] type`.
pub static SOURCES: &[SourceKind] = &[file::SOURCE, stdio::SOURCE, memory::SOURCE, kafka::SOURCE];

/// Every sink connector, by an output's `type`.
pub static SINKS: &[SinkKind] = &[file::SINK, stdio::SINK, memory::SINK, kafka::SINK];

/// A source connector's registry entry.
pub struct SourceKind {
    /// The `type` that selects it.
    pub name: &'static str,
    /// The `[source]` keys it reads (beyond the keys every source has: `type`, `format`, ...).
    pub keys: &'static [&'static str],
    /// Reads its keys from the `[source]` table at `path`, reporting problems to the validator.
    pub(crate) parse: fn(&mut Validator, &Table, &str) -> Option<SourceConfig>,
}

/// A sink connector's registry entry.
pub struct SinkKind {
    pub name: &'static str,
    /// The keys of an output's table it reads (beyond `type`).
    pub keys: &'static [&'static str],
    pub(crate) parse: fn(&mut Validator, &Table, &str) -> Option<SinkConfig>,
}

/// The names in a registry, for error messages.
pub fn names<T>(kinds: &[T], name: fn(&T) -> &'static str) -> String {
    kinds
        .iter()
        .map(|k| format!("\"{}\"", name(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A validated source config, shared (specs are cloned).
pub type SourceConfig = Arc<dyn SourceConnector>;

/// A validated sink config.
pub type SinkConfig = Arc<dyn SinkConnector>;

/// What a source connector's validated config can do.
pub trait SourceConnector: Debug + Send + Sync {
    /// The connector's `type`.
    fn kind(&self) -> &'static str;
    /// Opens the source; records are cut from its bytes by `framing`, and one longer than
    /// `max_record` bytes is skipped (reported in [`Batch::oversized`]).
    fn open(
        &self,
        framing: Framing,
        max_record: usize,
    ) -> Result<Box<dyn Source + Send>, RuntimeError>;
    /// The file it reads, if any: progress needs its size.
    fn path(&self) -> Option<&Path> {
        None
    }
    /// The file it reads, by identity, if it is one that exists (stdin redirected from a file
    /// included): outputs must never overwrite it.
    fn file_id(&self) -> Option<file::FileId> {
        None
    }
    /// How its records are located in late rows and dead letters.
    fn locus(&self) -> Locus {
        Locus::Line
    }
}

/// How a source's records are located in late rows and dead letters: by line (files, stdin:
/// `"line"`) or by message (Kafka: `"topic"`, `"partition"`, `"offset"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locus {
    Line,
    Message,
}

/// Where a record of a batch is, for messages and dead letters: its line, or its message.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    Line(u64),
    Message {
        topic: &'a str,
        partition: i32,
        offset: u64,
    },
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Line(l) => write!(f, "line {l}"),
            Place::Message {
                topic,
                partition,
                offset,
            } => write!(f, "topic {topic} partition {partition} offset {offset}"),
        }
    }
}

/// What a partition of a batch is, when its records are messages: the topic and partition
/// they come from (`None`: its offsets are line numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub topic: std::sync::Arc<str>,
    pub partition: i32,
}

/// Per partition (by the source's partition index), the offset of the next record whose
/// outputs are not yet known to be written: what a source commits (at least once), and what
/// a checkpoint will take with the stages' state (exactly once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions(pub Vec<Option<u64>>);

impl Positions {
    /// Records that the records of `partition` before `next` have their outputs written.
    pub fn advance(&mut self, partition: usize, next: u64) {
        if self.0.len() <= partition {
            self.0.resize(partition + 1, None);
        }
        let p = &mut self.0[partition];
        *p = Some(p.map_or(next, |q| q.max(next)));
    }
}

/// Commits a source's positions (Kafka: the consumer group's offsets). Called only once every
/// output row of the records before the positions is durable in its sink.
pub trait Committer: Send {
    /// `last`: the run is ending (wait for the commit; mid-run ones may go on in the
    /// background, and one that fails is made good by the next).
    fn commit(&mut self, positions: &Positions, last: bool) -> Result<(), RuntimeError>;
    /// How often (processing time, ms) to commit.
    fn interval_ms(&self) -> i64;
}

/// What a sink connector's validated config can do.
pub trait SinkConnector: Debug + Send + Sync {
    fn kind(&self) -> &'static str;
    /// Creates (or truncates) the destination.
    fn open(&self) -> Result<Box<dyn Sink>, RuntimeError>;
    /// Opens it for rows of `shape` (a sink that keys its messages needs to know where the
    /// key is); most sinks ignore it.
    fn open_for(&self, shape: &RowShape) -> Result<Box<dyn Sink>, RuntimeError> {
        let _ = shape;
        self.open()
    }
    /// Outputs whose sinks have the same identity share one writer, so that two outputs to one
    /// file interleave whole rows instead of overwriting each other.
    fn identity(&self) -> SinkIdentity;
    /// The file it writes, if any (checked against the input).
    fn path(&self) -> Option<&Path> {
        None
    }
    /// For messages.
    fn describe(&self) -> String;
}

/// What an output's rows hold that a sink may use: the member (JSONL) or column (CSV) holding
/// the entity key and the event id, when the rows have them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowShape {
    pub key: Option<String>,
    pub event_id: Option<String>,
}

/// A fresh id for a sink that is never shared ([`SinkIdentity::Unique`]).
pub(crate) fn unique_sink_id() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What makes two sinks the same destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkIdentity {
    Stdout,
    /// A file: its device and inode once it exists, else its canonical path.
    File(file::FileId),
    /// A sink that is never shared (each memory sink is its own).
    Unique(usize),
}

/// How a byte stream is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One record per line (`\n`, a `\r` before it removed).
    Lines,
    /// RFC 4180 CSV: a record ends at a newline outside quotes, so a quoted cell may hold
    /// newlines. A record's offset is the number of its first line.
    Csv,
}

/// One record of a [`Batch`]: `data[start..end]`, at `offset` in its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub start: usize,
    pub end: usize,
    /// For files and stdin, the 1-based line number.
    pub offset: u64,
}

/// Some records of one partition, reused from batch to batch.
#[derive(Debug, Default)]
pub struct Batch {
    /// Which partition the records come from.
    pub partition: usize,
    /// The records' bytes.
    pub data: Vec<u8>,
    /// Each record's span in `data` and offset, in order.
    pub records: Vec<Record>,
    /// Records longer than the source's cap, skipped (each becomes a dead letter).
    pub oversized: Vec<Oversized>,
    /// The topic and partition of the records, for a source of messages (Kafka).
    pub origin: Option<Origin>,
}

/// A record longer than the largest a source accepts (`source.max_record_bytes`): skipped,
/// so that a file with no line breaks (or `/dev/zero`) cannot take all memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    pub offset: u64,
    /// Its first bytes, for the dead letter.
    pub preview: Vec<u8>,
}

impl Batch {
    /// Iterates `(offset, record)`.
    pub fn records(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.records
            .iter()
            .map(|r| (r.offset, &self.data[r.start..r.end]))
    }

    /// Where the record at `offset` is (for messages and dead letters).
    pub fn place(&self, offset: u64) -> Place<'_> {
        match &self.origin {
            None => Place::Line(offset),
            Some(o) => Place::Message {
                topic: &o.topic,
                partition: o.partition,
                offset,
            },
        }
    }

    /// The offset just past the batch's last record (skipped ones included), if it has any.
    pub fn next_offset(&self) -> Option<u64> {
        let last = self.records.last().map(|r| r.offset);
        let skipped = self.oversized.last().map(|o| o.offset);
        last.max(skipped).map(|o| o + 1)
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.data.clear();
        self.records.clear();
        self.oversized.clear();
    }
}

/// A partitioned source of records.
pub trait Source {
    /// A name for messages (a path, `stdin`, `memory`).
    fn name(&self) -> String;
    /// Number of partitions (the watermark tracks each).
    fn partitions(&self) -> usize;
    /// Fills `batch` with the next records of one partition; returns `false` at the end of
    /// every partition.
    fn next_batch(&mut self, batch: &mut Batch) -> Result<bool, RuntimeError>;
    /// Bytes consumed so far (for progress).
    fn bytes_read(&self) -> u64;
    /// What commits its positions once their outputs are written (Kafka's consumer group);
    /// `None` for a source that keeps no position (files, stdin).
    fn committer(&mut self) -> Option<Box<dyn Committer>> {
        None
    }
}

/// Where an output's rows go. Rows arrive in chunks of whole rows, each ending in `\n`.
pub trait Sink {
    /// For messages (a path, `stdout`, `memory`).
    fn name(&self) -> &str;
    fn write(&mut self, rows: &[u8]) -> std::io::Result<()>;
    /// Hands what was written on (after every batch); cheap.
    fn flush(&mut self) -> std::io::Result<()>;
    /// Returns once every row written before is in its destination (Kafka: acknowledged), so
    /// that the source may commit the records they came from. A file's flush is enough.
    fn sync(&mut self) -> std::io::Result<()> {
        self.flush()
    }
}

/// Any writer is a sink (tests, benchmarks, a caller's own destination).
pub struct WriterSink<W> {
    name: String,
    w: W,
}

impl<W: std::io::Write> WriterSink<W> {
    pub fn new(name: impl Into<String>, w: W) -> Self {
        WriterSink {
            name: name.into(),
            w,
        }
    }
}

impl<W: std::io::Write> Sink for WriterSink<W> {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, rows: &[u8]) -> std::io::Result<()> {
        self.w.write_all(rows)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

/// The source for a path given on the command line: `-` is stdin, anything else a file.
pub fn input(path: &Path) -> SourceConfig {
    if path.as_os_str() == "-" {
        Arc::new(stdio::Stdin)
    } else {
        file::FileSource::config(path)
    }
}

/// The sink for a path (the short form of an output): `-` is stdout, anything else a file.
pub fn output(path: &Path) -> SinkConfig {
    if path.as_os_str() == "-" {
        Arc::new(stdio::Stdout)
    } else {
        file::FileSink::config(path)
    }
}

/// The source kind named `name`.
pub fn source_kind(name: &str) -> Option<&'static SourceKind> {
    SOURCES.iter().find(|k| k.name == name)
}

/// The sink kind named `name`.
pub fn sink_kind(name: &str) -> Option<&'static SinkKind> {
    SINKS.iter().find(|k| k.name == name)
}
