//! Bytes in memory as a source, and a sink that keeps its rows in memory: what tests, benchmarks
//! and programs embedding eddy use. From a spec file, `[source] type = "memory"` reads its
//! `data` string, and a memory output keeps rows only until the run ends (`eddy bench` uses
//! that to measure encoding without writing).

use std::sync::{Arc, Mutex};

use super::{
    Framing, SinkConnector, SinkIdentity, SinkKind, Source, SourceConfig, SourceConnector,
    SourceKind, StreamSource,
};
use crate::error::RuntimeError;

pub const SOURCE: SourceKind = SourceKind {
    name: "memory",
    keys: &["data"],
    parse: |v, t, path| {
        let data = v.required_string(t, path, "data", "the records, as one string")?;
        Some(MemorySource::config("memory", data.into_bytes()))
    },
};

pub const SINK: SinkKind = SinkKind {
    name: "memory",
    keys: &[],
    parse: |_, _, _| Some(Arc::new(MemorySink::new())),
};

/// Records held in memory.
#[derive(Debug, Clone)]
pub struct MemorySource {
    name: String,
    data: Arc<[u8]>,
    /// Tests read in small batches, to cut records across them.
    batch_bytes: Option<usize>,
}

impl MemorySource {
    pub fn config(name: impl Into<String>, data: impl Into<Arc<[u8]>>) -> SourceConfig {
        Arc::new(MemorySource {
            name: name.into(),
            data: data.into(),
            batch_bytes: None,
        })
    }

    /// Reads `data` in batches of about `n` bytes.
    pub fn with_batch_bytes(
        name: impl Into<String>,
        data: impl Into<Arc<[u8]>>,
        n: usize,
    ) -> SourceConfig {
        Arc::new(MemorySource {
            name: name.into(),
            data: data.into(),
            batch_bytes: Some(n),
        })
    }
}

impl SourceConnector for MemorySource {
    fn kind(&self) -> &'static str {
        SOURCE.name
    }

    fn open(
        &self,
        framing: Framing,
        max_record: usize,
    ) -> Result<Box<dyn Source + Send>, RuntimeError> {
        let src = StreamSource::new(self.name.clone(), std::io::Cursor::new(self.data.clone()))
            .framing(framing)
            .max_record(max_record)
            .filling();
        Ok(Box::new(match self.batch_bytes {
            Some(n) => src.with_batch_bytes(n),
            None => src,
        }))
    }
}

/// Rows kept in memory; clones share the rows, so a caller keeps one to read them after the
/// run. With `discard`, rows are counted and dropped.
#[derive(Debug, Clone)]
pub struct MemorySink {
    rows: Arc<Mutex<Vec<u8>>>,
    discard: bool,
    id: usize,
}

impl Default for MemorySink {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySink {
    pub fn new() -> Self {
        MemorySink {
            rows: Arc::default(),
            discard: false,
            id: super::unique_sink_id(),
        }
    }

    /// A sink that drops what it is given (for measuring everything but the write).
    pub fn discarding() -> Self {
        MemorySink {
            discard: true,
            ..Self::new()
        }
    }

    /// The rows written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.rows.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The rows written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.contents()).into_owned()
    }
}

impl super::Sink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    fn write(&mut self, rows: &[u8]) -> std::io::Result<()> {
        if !self.discard {
            if let Ok(mut r) = self.rows.lock() {
                r.extend_from_slice(rows);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SinkConnector for MemorySink {
    fn kind(&self) -> &'static str {
        SINK.name
    }

    fn open(&self) -> Result<Box<dyn super::Sink>, RuntimeError> {
        Ok(Box::new(self.clone()))
    }

    fn identity(&self) -> SinkIdentity {
        SinkIdentity::Unique(self.id)
    }

    fn describe(&self) -> String {
        "memory".to_string()
    }
}
