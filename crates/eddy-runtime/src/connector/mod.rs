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
pub static SOURCES: &[SourceKind] = &[file::SOURCE, stdio::SOURCE, memory::SOURCE];

/// Every sink connector, by an output's `type`.
pub static SINKS: &[SinkKind] = &[file::SINK, stdio::SINK, memory::SINK];

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
}

/// What a sink connector's validated config can do.
pub trait SinkConnector: Debug + Send + Sync {
    fn kind(&self) -> &'static str;
    /// Creates (or truncates) the destination.
    fn open(&self) -> Result<Box<dyn Sink>, RuntimeError>;
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
}

/// Where an output's rows go. Rows arrive in chunks of whole rows, each ending in `\n`.
pub trait Sink {
    /// For messages (a path, `stdout`, `memory`).
    fn name(&self) -> &str;
    fn write(&mut self, rows: &[u8]) -> std::io::Result<()>;
    fn flush(&mut self) -> std::io::Result<()>;
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
