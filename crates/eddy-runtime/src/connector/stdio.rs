//! Standard input as a source (one partition, a live stream: batches go on as soon as they
//! hold a whole record) and standard output as a sink.

use std::io::BufWriter;
use std::sync::Arc;

use super::{
    Framing, SinkConnector, SinkIdentity, SinkKind, Source, SourceConnector, SourceKind,
    StreamSource, WriterSink,
};
use crate::error::RuntimeError;
use crate::shutdown::Interruptible;

pub const SOURCE: SourceKind = SourceKind {
    name: "stdin",
    keys: &[],
    parse: |_, _, _| Some(Arc::new(Stdin)),
};

pub const SINK: SinkKind = SinkKind {
    name: "stdout",
    keys: &[],
    parse: |_, _, _| Some(Arc::new(Stdout)),
};

/// `[source] type = "stdin"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stdin;

impl SourceConnector for Stdin {
    fn kind(&self) -> &'static str {
        SOURCE.name
    }

    fn open(
        &self,
        framing: Framing,
        max_record: usize,
    ) -> Result<Box<dyn Source + Send>, RuntimeError> {
        // Reads of at least 64 KiB never go through `Stdin`'s own buffer, so waiting on the
        // file descriptor sees every byte not yet read.
        Ok(Box::new(
            StreamSource::new("stdin", Interruptible(std::io::stdin()))
                .framing(framing)
                .max_record(max_record),
        ))
    }

    fn file_id(&self) -> Option<super::file::FileId> {
        super::file::FileId::of_stdin()
    }
}

/// An output `{ type = "stdout" }` (or `"-"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stdout;

impl SinkConnector for Stdout {
    fn kind(&self) -> &'static str {
        SINK.name
    }

    fn open(&self) -> Result<Box<dyn super::Sink>, RuntimeError> {
        Ok(Box::new(WriterSink::new(
            "stdout",
            BufWriter::with_capacity(super::file::SINK_BUFFER, std::io::stdout()),
        )))
    }

    fn identity(&self) -> SinkIdentity {
        SinkIdentity::Stdout
    }

    fn describe(&self) -> String {
        "stdout".to_string()
    }
}
