//! Output sinks: files and stdout, buffered. Outputs that name the same destination share
//! one writer, so `events` and `windows` may both go to stdout.

use std::fs::File;
use std::io::{BufWriter, Write};

use crate::error::RuntimeError;
use crate::spec::{Dest, OutputSpec};

/// Rows arrive in per-batch chunks larger than this, which `BufWriter` passes straight to the
/// file (no extra copy); small outputs (late events, dead letters) are still buffered.
const SINK_BUFFER: usize = 64 << 10;

/// Which output a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Events,
    Windows,
    Late,
    DeadLetter,
}

/// The open outputs of a pipeline; an output without a destination is counted, not written.
pub struct Outputs {
    writers: Vec<(String, Box<dyn Write>)>,
    slots: [Option<usize>; 4],
}

fn idx(kind: OutputKind) -> usize {
    kind as usize
}

impl Outputs {
    /// No outputs at all.
    pub fn none() -> Self {
        Outputs {
            writers: Vec::new(),
            slots: [None; 4],
        }
    }

    /// Opens (creates or truncates) every destination of `spec`.
    pub fn open(spec: &OutputSpec) -> Result<Self, RuntimeError> {
        let mut o = Outputs::none();
        let mut opened: Vec<(Dest, usize)> = Vec::new();
        for (kind, dest) in [
            (OutputKind::Events, &spec.events),
            (OutputKind::Windows, &spec.windows),
            (OutputKind::Late, &spec.late),
            (OutputKind::DeadLetter, &spec.dead_letter),
        ] {
            let Some(dest) = dest else { continue };
            if let Some((_, i)) = opened.iter().find(|(d, _)| d == dest) {
                o.slots[idx(kind)] = Some(*i);
                continue;
            }
            let w: Box<dyn Write> = match dest {
                Dest::Stdout => Box::new(BufWriter::with_capacity(SINK_BUFFER, std::io::stdout())),
                Dest::File(p) => {
                    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(|source| {
                            RuntimeError::CreateOutput {
                                path: p.clone(),
                                source,
                            }
                        })?;
                    }
                    let f = File::create(p).map_err(|source| RuntimeError::CreateOutput {
                        path: p.clone(),
                        source,
                    })?;
                    Box::new(BufWriter::with_capacity(SINK_BUFFER, f))
                }
            };
            let i = o.writers.len();
            o.writers.push((dest.name(), w));
            opened.push((dest.clone(), i));
            o.slots[idx(kind)] = Some(i);
        }
        Ok(o)
    }

    /// Routes `kind` to a caller-supplied writer (tests, benchmarks, samples).
    pub fn set(&mut self, kind: OutputKind, name: impl Into<String>, w: Box<dyn Write>) {
        let i = self.writers.len();
        self.writers.push((name.into(), w));
        self.slots[idx(kind)] = Some(i);
    }

    /// Routes `kind` to the same writer as `other`.
    pub fn share(&mut self, kind: OutputKind, other: OutputKind) {
        self.slots[idx(kind)] = self.slots[idx(other)];
    }

    pub fn enabled(&self, kind: OutputKind) -> bool {
        self.slots[idx(kind)].is_some()
    }

    /// Writes `buf` (whole rows) to the output of `kind`, if it has one.
    pub fn write(&mut self, kind: OutputKind, buf: &[u8]) -> Result<(), RuntimeError> {
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = self.slots[idx(kind)] {
            let (name, w) = &mut self.writers[i];
            w.write_all(buf).map_err(|source| RuntimeError::Write {
                name: name.clone(),
                source,
            })?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), RuntimeError> {
        for (name, w) in &mut self.writers {
            w.flush().map_err(|source| RuntimeError::Write {
                name: name.clone(),
                source,
            })?;
        }
        Ok(())
    }
}
