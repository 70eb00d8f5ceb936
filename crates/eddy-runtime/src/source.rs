//! Line sources, designed as partitioned with offsets: a file or stdin is one partition and
//! a record's offset is its 1-based line number. Input is read in large buffered batches of
//! whole lines.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::RuntimeError;

/// Default size of one read batch.
pub const BATCH_BYTES: usize = 1 << 20;

/// A batch of whole lines from one partition.
#[derive(Debug, Default)]
pub struct Batch {
    /// Which partition the lines come from.
    pub partition: usize,
    /// Offset (line number) of the first line in `data`.
    pub first_line: u64,
    /// Whole lines, each ending in `\n` except possibly the last line of the input.
    pub data: Vec<u8>,
}

impl Batch {
    /// Iterates `(line_number, line)` with the newline (and a `\r` before it) removed.
    pub fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut rest: &[u8] = &self.data;
        let mut n = self.first_line;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let no = n;
            n += 1;
            Some((no, line))
        })
    }
}

/// A partitioned source of lines.
pub trait Source {
    /// A name for messages (a path, `stdin`, `memory`).
    fn name(&self) -> String;
    /// Number of partitions (the watermark tracks each).
    fn partitions(&self) -> usize;
    /// Fills `batch` with the next whole lines; returns `false` at the end of every partition.
    fn next_batch(&mut self, batch: &mut Batch) -> Result<bool, RuntimeError>;
    /// Bytes consumed so far (for progress).
    fn bytes_read(&self) -> u64;
}

/// One partition read from any [`Read`] (a file, stdin, or bytes in memory).
pub struct ReaderSource<R> {
    name: String,
    reader: R,
    carry: Vec<u8>,
    next_line: u64,
    bytes: u64,
    eof: bool,
    batch_bytes: usize,
    /// Reads may wait until the batch is full: the reader is a regular file (or bytes in
    /// memory), never a live stream. Such reads go straight into the batch's spare capacity,
    /// without zeroing it first.
    filling: bool,
}

impl<R: Read> ReaderSource<R> {
    pub fn new(name: impl Into<String>, reader: R) -> Self {
        ReaderSource {
            name: name.into(),
            reader,
            carry: Vec::new(),
            next_line: 1,
            bytes: 0,
            eof: false,
            batch_bytes: BATCH_BYTES,
            filling: false,
        }
    }

    /// Lets each read wait until the batch is full (for readers that are never live streams:
    /// regular files, bytes in memory).
    pub fn filling(mut self) -> Self {
        self.filling = true;
        self
    }

    /// Changes the batch size (tests use tiny batches to exercise line splitting).
    pub fn with_batch_bytes(mut self, n: usize) -> Self {
        self.batch_bytes = n.max(1);
        self
    }
}

impl ReaderSource<File> {
    pub fn open(path: &Path) -> Result<Self, RuntimeError> {
        let f = File::open(path).map_err(|source| RuntimeError::OpenInput {
            path: path.to_path_buf(),
            source,
        })?;
        // A FIFO or a device may be a live stream: only regular files fill whole batches.
        let regular = f.metadata().map(|m| m.is_file()).unwrap_or(false);
        let src = ReaderSource::new(path.display().to_string(), f);
        Ok(if regular { src.filling() } else { src })
    }
}

impl<R: Read> Source for ReaderSource<R> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn partitions(&self) -> usize {
        1
    }

    fn next_batch(&mut self, batch: &mut Batch) -> Result<bool, RuntimeError> {
        batch.partition = 0;
        batch.first_line = self.next_line;
        batch.data.clear();
        std::mem::swap(&mut batch.data, &mut self.carry);
        if self.eof && batch.data.is_empty() {
            return Ok(false);
        }
        // Read until the batch holds at least one whole line, or the input ends. A file fills
        // a whole batch in one read; a pipe returns what it has, so a live stream is not
        // held back waiting for a full batch.
        let mut scanned = 0;
        while !self.eof {
            let len = batch.data.len();
            if memchr::memchr(b'\n', &batch.data[scanned..]).is_some() {
                break;
            }
            scanned = len;
            let want = (self.batch_bytes.max(len + 1) - len).max(64 * 1024);
            if self.filling {
                batch.data.reserve(want);
                let n = match (&mut self.reader)
                    .take(want as u64)
                    .read_to_end(&mut batch.data)
                {
                    Ok(n) => n,
                    Err(source) => {
                        batch.data.truncate(len);
                        return Err(RuntimeError::Read {
                            name: self.name.clone(),
                            source,
                        });
                    }
                };
                self.bytes += n as u64;
                if n < want {
                    self.eof = true;
                }
                continue;
            }
            batch.data.resize(len + want, 0);
            let n = loop {
                match self.reader.read(&mut batch.data[len..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        batch.data.truncate(len);
                        return Err(RuntimeError::Read {
                            name: self.name.clone(),
                            source,
                        });
                    }
                }
            };
            batch.data.truncate(len + n);
            self.bytes += n as u64;
            if n == 0 {
                self.eof = true;
            }
        }
        if !self.eof {
            // Keep the partial last line for the next batch.
            let cut = memchr::memrchr(b'\n', &batch.data).map_or(0, |i| i + 1);
            self.carry.clear();
            self.carry.extend_from_slice(&batch.data[cut..]);
            batch.data.truncate(cut);
        }
        self.next_line += memchr::memchr_iter(b'\n', &batch.data).count() as u64;
        if self.eof && !batch.data.is_empty() && batch.data.last() != Some(&b'\n') {
            self.next_line += 1;
        }
        Ok(!batch.data.is_empty() || !self.eof)
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lines(input: &[u8], batch: usize) -> Vec<(u64, String)> {
        let mut src = ReaderSource::new("mem", input).with_batch_bytes(batch);
        let mut b = Batch::default();
        let mut out = Vec::new();
        while src.next_batch(&mut b).unwrap() {
            for (n, l) in b.lines() {
                out.push((n, String::from_utf8(l.to_vec()).unwrap()));
            }
        }
        assert_eq!(src.bytes_read(), input.len() as u64);
        out
    }

    #[test]
    fn filling_reads_give_the_same_lines() {
        let input = b"a\nbb\r\n\nccc\ndddd";
        for batch in [1, 2, 3, 5, 100, 1 << 20] {
            let mut src = ReaderSource::new("mem", &input[..])
                .with_batch_bytes(batch)
                .filling();
            let mut b = Batch::default();
            let mut got = Vec::new();
            while src.next_batch(&mut b).unwrap() {
                for (n, l) in b.lines() {
                    got.push((n, String::from_utf8(l.to_vec()).unwrap()));
                }
            }
            assert_eq!(got, all_lines(input, batch), "batch {batch}");
            assert_eq!(src.bytes_read(), input.len() as u64);
        }
    }

    #[test]
    fn lines_are_numbered_across_batches() {
        let input = b"a\nbb\r\n\nccc\ndddd";
        for batch in [1, 2, 3, 5, 100, 1 << 20] {
            let lines = all_lines(input, batch);
            assert_eq!(
                lines,
                vec![
                    (1, "a".to_string()),
                    (2, "bb".to_string()),
                    (3, String::new()),
                    (4, "ccc".to_string()),
                    (5, "dddd".to_string())
                ],
                "batch {batch}"
            );
        }
        assert!(all_lines(b"", 10).is_empty());
        assert_eq!(all_lines(b"x\n", 1), vec![(1, "x".to_string())]);
    }
}
