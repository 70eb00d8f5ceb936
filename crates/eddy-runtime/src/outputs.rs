//! A pipeline's outputs: which sink each kind of row ([`OutputKind`]) goes to. Outputs whose
//! sinks are the same destination (one file however its path is spelled, or stdout) share one
//! writer, so `events` and `windows` may both go to stdout.

use std::io::Write;

use crate::connector::Sink;
use crate::connector::{RowShape, SinkConfig, SinkIdentity, WriterSink};
use crate::error::RuntimeError;
pub use crate::spec::OutputKind;
use crate::spec::{OutputSpec, PipelineSpec};

/// The open outputs of a pipeline; an output without a sink is counted, not written.
pub struct Outputs {
    sinks: Vec<Box<dyn Sink>>,
    slots: [Option<usize>; 4],
}

impl Outputs {
    /// No outputs at all.
    pub fn none() -> Self {
        Outputs {
            sinks: Vec::new(),
            slots: [None; 4],
        }
    }

    /// Opens every sink of `spec` (files are created or truncated).
    pub fn open(spec: &OutputSpec) -> Result<Self, RuntimeError> {
        Self::open_shaped(spec, |_| RowShape::default())
    }

    /// Opens every output of a pipeline, each sink told where its rows hold the entity key
    /// and the event id (a Kafka sink keys its messages by them).
    pub fn open_for(spec: &PipelineSpec) -> Result<Self, RuntimeError> {
        let src = &spec.source;
        Self::open_shaped(&spec.output, |kind| match kind {
            OutputKind::Events => RowShape {
                key: Some(src.key.clone()),
                event_id: src.event_id.clone(),
            },
            OutputKind::Windows => RowShape {
                key: Some("key".to_string()),
                event_id: None,
            },
            // a late row is its input record, with the reason (JSONL; CSV: the raw record)
            OutputKind::Late => RowShape {
                key: Some(src.key.clone()),
                event_id: src.event_id.clone(),
            },
            OutputKind::DeadLetter => RowShape::default(),
        })
    }

    fn open_shaped(
        spec: &OutputSpec,
        shape: impl Fn(OutputKind) -> RowShape,
    ) -> Result<Self, RuntimeError> {
        // Every identity before any sink is opened: opening creates files, and a file's
        // identity changes from its path to its inode once it exists.
        let sinks: Vec<(OutputKind, &SinkConfig, SinkIdentity)> = OutputKind::ALL
            .into_iter()
            .filter_map(|kind| spec.sink(kind).map(|cfg| (kind, cfg, cfg.identity())))
            .collect();
        let mut o = Outputs::none();
        let mut opened: Vec<(&SinkIdentity, usize)> = Vec::new();
        for (kind, cfg, id) in &sinks {
            if let Some((_, i)) = opened.iter().find(|(d, _)| *d == id) {
                o.slots[*kind as usize] = Some(*i);
                continue;
            }
            let i = o.sinks.len();
            o.sinks.push(cfg.open_for(&shape(*kind))?);
            opened.push((id, i));
            o.slots[*kind as usize] = Some(i);
        }
        Ok(o)
    }

    /// Routes `kind` to a caller-supplied sink.
    pub fn set_sink(&mut self, kind: OutputKind, sink: Box<dyn Sink>) {
        let i = self.sinks.len();
        self.sinks.push(sink);
        self.slots[kind as usize] = Some(i);
    }

    /// Routes `kind` to a caller-supplied writer (tests, benchmarks, samples).
    pub fn set(&mut self, kind: OutputKind, name: impl Into<String>, w: Box<dyn Write>) {
        self.set_sink(kind, Box::new(WriterSink::new(name, w)));
    }

    /// Routes `kind` to the same sink as `other`.
    pub fn share(&mut self, kind: OutputKind, other: OutputKind) {
        self.slots[kind as usize] = self.slots[other as usize];
    }

    pub fn enabled(&self, kind: OutputKind) -> bool {
        self.slots[kind as usize].is_some()
    }

    /// Writes `buf` (whole rows) to the output of `kind`, if it has one.
    pub fn write(&mut self, kind: OutputKind, buf: &[u8]) -> Result<(), RuntimeError> {
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = self.slots[kind as usize] {
            let s = &mut self.sinks[i];
            s.write(buf).map_err(|source| RuntimeError::Write {
                name: s.name().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// Returns once every row written so far is in its destination (see [`Sink::sync`]).
    pub fn sync(&mut self) -> Result<(), RuntimeError> {
        for s in &mut self.sinks {
            s.sync().map_err(|source| RuntimeError::Write {
                name: s.name().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), RuntimeError> {
        for s in &mut self.sinks {
            s.flush().map_err(|source| RuntimeError::Write {
                name: s.name().to_string(),
                source,
            })?;
        }
        Ok(())
    }
}
