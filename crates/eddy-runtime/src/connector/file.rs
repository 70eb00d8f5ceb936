//! Files: a source that reads one (one partition, offsets are line numbers) and a sink that
//! creates or truncates one, creating its directory if needed.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Table;

use super::{
    Framing, SinkConfig, SinkConnector, SinkIdentity, SinkKind, Source, SourceConfig,
    SourceConnector, SourceKind, StreamSource, WriterSink,
};
use crate::check::Validator;
use crate::error::RuntimeError;
use crate::shutdown::Interruptible;

pub const SOURCE: SourceKind = SourceKind {
    name: "file",
    keys: &["path"],
    parse: |v, t, path| {
        let p = v.required_string(t, path, "path", "the path of the file to read")?;
        Some(FileSource::config(p))
    },
};

pub const SINK: SinkKind = SinkKind {
    name: "file",
    keys: &["path"],
    parse: parse_sink,
};

fn parse_sink(v: &mut Validator, t: &Table, path: &str) -> Option<SinkConfig> {
    let p = v.required_string(t, path, "path", "the path of the file to write")?;
    Some(FileSink::config(p))
}

/// `[source] type = "file"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    pub path: PathBuf,
}

impl FileSource {
    pub fn config(path: impl Into<PathBuf>) -> SourceConfig {
        Arc::new(FileSource { path: path.into() })
    }
}

impl SourceConnector for FileSource {
    fn kind(&self) -> &'static str {
        SOURCE.name
    }

    fn open(
        &self,
        framing: Framing,
        max_record: usize,
    ) -> Result<Box<dyn Source + Send>, RuntimeError> {
        let f = File::open(&self.path).map_err(|source| RuntimeError::OpenInput {
            path: self.path.clone(),
            source,
        })?;
        // A FIFO or a device may be a live stream: only regular files fill whole batches.
        let regular = f.metadata().map(|m| m.is_file()).unwrap_or(false);
        let name = self.path.display().to_string();
        Ok(if regular {
            Box::new(
                StreamSource::new(name, f)
                    .framing(framing)
                    .max_record(max_record)
                    .filling(),
            )
        } else {
            Box::new(
                StreamSource::new(name, Interruptible(f))
                    .framing(framing)
                    .max_record(max_record),
            )
        })
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn file_id(&self) -> Option<FileId> {
        Some(FileId::of(&self.path)).filter(|id| matches!(id, FileId::Inode { .. }))
    }
}

/// Rows arrive in per-batch chunks larger than this, which `BufWriter` passes straight to the
/// file (no extra copy); small outputs (late events, dead letters) are still buffered.
pub const SINK_BUFFER: usize = 64 << 10;

/// An output `{ type = "file", path = "..." }` (or just `"path"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSink {
    pub path: PathBuf,
}

impl FileSink {
    pub fn config(path: impl Into<PathBuf>) -> SinkConfig {
        Arc::new(FileSink { path: path.into() })
    }
}

/// A file's identity: the same file whatever the spelling of its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileId {
    Inode { dev: u64, ino: u64 },
    Path(PathBuf),
}

impl FileId {
    /// What standard input is, when it is a file (`< file`); `None` for a pipe or a terminal.
    pub fn of_stdin() -> Option<FileId> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // /dev/stdin is the process's fd 0: its metadata is that of what fd 0 reads
            let m = std::fs::metadata("/dev/stdin").ok()?;
            m.is_file().then(|| FileId::Inode {
                dev: m.dev(),
                ino: m.ino(),
            })
        }
        #[cfg(not(unix))]
        None
    }

    pub fn of(path: &Path) -> FileId {
        #[cfg(unix)]
        if let Ok(m) = std::fs::metadata(path) {
            use std::os::unix::fs::MetadataExt;
            return FileId::Inode {
                dev: m.dev(),
                ino: m.ino(),
            };
        }
        // Not there yet: its directory's canonical path and its name.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.map_or_else(|| std::fs::canonicalize("."), std::fs::canonicalize);
        match (dir, path.file_name()) {
            (Ok(d), Some(name)) => FileId::Path(d.join(name)),
            _ => FileId::Path(path.to_path_buf()),
        }
    }
}

impl SinkConnector for FileSink {
    fn kind(&self) -> &'static str {
        SINK.name
    }

    fn open(&self) -> Result<Box<dyn super::Sink>, RuntimeError> {
        let p = &self.path;
        let create = |source| RuntimeError::CreateOutput {
            path: p.clone(),
            source,
        };
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(create)?;
        }
        let f = File::create(p).map_err(create)?;
        Ok(Box::new(WriterSink::new(
            p.display().to_string(),
            BufWriter::with_capacity(SINK_BUFFER, f),
        )))
    }

    fn identity(&self) -> SinkIdentity {
        SinkIdentity::File(FileId::of(&self.path))
    }

    fn path(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
