//! Standard input as a source (one partition, a live stream: batches go on as soon as they
//! hold a whole record) and standard output as a sink.

use std::io::BufWriter;
use std::sync::Arc;

use super::{
    Framing, SinkConnector, SinkIdentity, SinkKind, Source, SourceConnector, SourceKind,
    StreamSource, WriterSink,
};
use crate::error::RuntimeError;

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

    fn open(&self, framing: Framing) -> Result<Box<dyn Source + Send>, RuntimeError> {
        Ok(Box::new(
            StreamSource::new("stdin", std::io::stdin()).framing(framing),
        ))
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
