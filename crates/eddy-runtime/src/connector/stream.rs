//! One partition read from any [`Read`] (a file, stdin, bytes in memory), cut into records by
//! a [`Framing`] and read in large batches. A record's offset is the number of its first line.

use std::io::Read;

use super::{Batch, Framing, Oversized, Record, Source};
use crate::codec::csv::{csv_record_ends, CsvFraming};
use crate::error::RuntimeError;

/// Default size of one read batch.
pub const BATCH_BYTES: usize = 1 << 20;

/// Default largest record (`source.max_record_bytes`): a longer one is a dead letter.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// How much of a record that is too long its dead letter shows.
const PREVIEW_BYTES: usize = 256;

/// A single-partition source over a reader.
pub struct StreamSource<R> {
    name: String,
    reader: R,
    framing: Framing,
    /// The bytes of a record not yet complete, for the next batch.
    carry: Vec<u8>,
    next_line: u64,
    bytes: u64,
    eof: bool,
    batch_bytes: usize,
    /// The largest record; a longer one is reported in [`Batch::oversized`] and skipped.
    max_record: usize,
    /// Discarding the rest of a record that was too long, up to its end.
    skipping: bool,
    /// Reads may wait until the batch is full: the reader is a regular file (or bytes in
    /// memory), never a live stream. Such reads go straight into the batch's spare capacity,
    /// without zeroing it first.
    filling: bool,
    /// Whether the start of the stream has been checked for a byte order mark.
    bom_checked: bool,
}

/// The UTF-8 byte order mark, which some tools (spreadsheet exports, Windows editors) write
/// at the start of a text file. It is not part of the first record, whatever the format.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: Read> StreamSource<R> {
    /// A line-framed source.
    pub fn new(name: impl Into<String>, reader: R) -> Self {
        StreamSource {
            name: name.into(),
            reader,
            framing: Framing::Lines,
            carry: Vec::new(),
            next_line: 1,
            bytes: 0,
            eof: false,
            batch_bytes: BATCH_BYTES,
            max_record: MAX_RECORD_BYTES,
            skipping: false,
            filling: false,
            bom_checked: false,
        }
    }

    /// Caps a record's size (at least 1 byte).
    pub fn max_record(mut self, n: usize) -> Self {
        self.max_record = n.max(1);
        self
    }

    /// Cuts records by `framing` instead of by line.
    pub fn framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }

    /// Lets each read wait until the batch is full (for readers that are never live streams:
    /// regular files, bytes in memory).
    pub fn filling(mut self) -> Self {
        self.filling = true;
        self
    }

    /// Changes the batch size (tests use tiny batches to exercise record splitting).
    pub fn with_batch_bytes(mut self, n: usize) -> Self {
        self.batch_bytes = n.max(1);
        self
    }

    /// Appends up to a batch's worth of bytes to `data`; sets `eof` when the reader is done.
    fn read_more(&mut self, data: &mut Vec<u8>) -> Result<(), RuntimeError> {
        let len = data.len();
        let want = (self.batch_bytes.max(len + 1) - len).max(64 * 1024);
        if self.filling {
            data.reserve(want);
            let n = match (&mut self.reader).take(want as u64).read_to_end(data) {
                Ok(n) => n,
                Err(source) => {
                    data.truncate(len);
                    return Err(self.read_error(source));
                }
            };
            self.bytes += n as u64;
            if n < want {
                self.eof = true;
            }
            return Ok(());
        }
        data.resize(len + want, 0);
        let n = loop {
            match self.reader.read(&mut data[len..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    data.truncate(len);
                    return Err(self.read_error(source));
                }
            }
        };
        data.truncate(len + n);
        self.bytes += n as u64;
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }

    fn read_error(&self, source: std::io::Error) -> RuntimeError {
        RuntimeError::Read {
            name: self.name.clone(),
            source,
        }
    }
}

impl<R: Read> Source for StreamSource<R> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn partitions(&self) -> usize {
        1
    }

    fn next_batch(&mut self, batch: &mut Batch) -> Result<bool, RuntimeError> {
        batch.partition = 0;
        batch.clear();
        std::mem::swap(&mut batch.data, &mut self.carry);
        // Read until the batch holds at least one whole record, or the input ends. A file
        // fills a whole batch in one read; a pipe returns what it has, so a live stream is not
        // held back waiting for a full batch.
        let mut scanned = 0;
        loop {
            if crate::shutdown::requested() {
                // the input ends here: what was read is the last of it
                self.eof = true;
            }
            if !self.eof && batch.data.len() == scanned {
                self.read_more(&mut batch.data)?;
            }
            if self.skipping {
                // the rest of a record that was too long, up to the end of its line
                match memchr::memchr(b'\n', &batch.data) {
                    Some(i) => {
                        batch.data.drain(..=i);
                        self.skipping = false;
                        self.next_line += 1;
                    }
                    None => {
                        batch.data.clear();
                        self.skipping = !self.eof;
                        if self.eof {
                            self.next_line += 1;
                            return Ok(false);
                        }
                    }
                }
                scanned = 0;
                continue;
            }
            if !self.bom_checked {
                // A live stream may deliver the mark a byte at a time: wait for three bytes.
                if batch.data.len() < BOM.len() && BOM.starts_with(&batch.data) && !self.eof {
                    scanned = batch.data.len();
                    continue;
                }
                self.bom_checked = true;
                if batch.data.starts_with(BOM) {
                    batch.data.drain(..BOM.len());
                }
            }
            let (cut, lines) = frame(
                self.framing,
                &batch.data,
                self.next_line,
                self.eof,
                &mut batch.records,
            );
            if batch.data.len() > self.max_record {
                self.set_aside_oversized(batch);
            }
            if !batch.records.is_empty() || !batch.oversized.is_empty() || self.eof {
                self.carry.clear();
                self.carry.extend_from_slice(&batch.data[cut..]);
                batch.data.truncate(cut);
                self.next_line = lines;
                return Ok(!batch.records.is_empty() || !batch.oversized.is_empty());
            }
            if batch.data.len() > self.max_record {
                // one record, unfinished, already too long: report it, skip the rest of it
                batch.oversized.push(Oversized {
                    offset: self.next_line,
                    preview: batch.data[..PREVIEW_BYTES.min(batch.data.len())].to_vec(),
                });
                batch.data.clear();
                self.skipping = true;
                return Ok(true);
            }
            scanned = batch.data.len();
        }
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }
}

impl<R> StreamSource<R> {
    /// Moves the records longer than the cap from `batch.records` to `batch.oversized`.
    fn set_aside_oversized(&self, batch: &mut Batch) {
        let Batch {
            data,
            records,
            oversized,
            ..
        } = batch;
        records.retain(|r| {
            let long = r.end - r.start > self.max_record;
            if long {
                oversized.push(Oversized {
                    offset: r.offset,
                    preview: data[r.start..r.end.min(r.start + PREVIEW_BYTES)].to_vec(),
                });
            }
            !long
        });
    }
}

/// Appends the complete records of `data` (all of it at `eof`) to `records`, numbering lines
/// from `line`. Returns where the complete records end and the number of the next line.
fn frame(
    framing: Framing,
    data: &[u8],
    mut line: u64,
    eof: bool,
    records: &mut Vec<Record>,
) -> (usize, u64) {
    let mut start = 0;
    let mut push = |start: usize, end: usize, offset: u64| {
        let end = if end > start && data[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        records.push(Record { start, end, offset });
    };
    match framing {
        Framing::Lines => {
            for nl in memchr::memchr_iter(b'\n', data) {
                push(start, nl, line);
                line += 1;
                start = nl + 1;
            }
        }
        Framing::Csv => {
            // `data` starts at a record start: a fresh framing state.
            let mut state = CsvFraming::new();
            let cut = csv_record_ends(data, &mut state, |end, lines| {
                push(start, end - 1, line);
                line += lines;
                start = end;
            });
            if eof && cut < data.len() {
                push(cut, data.len(), line);
                return (data.len(), line + state.pending_newlines() + 1);
            }
            return (cut, line);
        }
    }
    if eof && start < data.len() {
        push(start, data.len(), line);
        return (data.len(), line + 1);
    }
    (start, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records and skipped records of `input` as they come, batch by batch (each batch's
    /// skipped ones first): `(line, text)`, a skipped one as `(line, "!" + its preview)`.
    fn read(
        input: &[u8],
        batch: usize,
        framing: Framing,
        max: usize,
        filling: bool,
    ) -> Vec<(u64, String)> {
        let mut src = StreamSource::new("mem", input)
            .with_batch_bytes(batch)
            .framing(framing)
            .max_record(max);
        if filling {
            src = src.filling();
        }
        let mut b = Batch::default();
        let mut out = Vec::new();
        while src.next_batch(&mut b).unwrap() {
            for o in &b.oversized {
                out.push((
                    o.offset,
                    format!("!{}", String::from_utf8_lossy(&o.preview)),
                ));
            }
            for (n, r) in b.records() {
                out.push((n, String::from_utf8(r.to_vec()).unwrap()));
            }
        }
        assert_eq!(src.bytes_read(), input.len() as u64);
        out
    }

    fn all(input: &[u8], batch: usize, framing: Framing, filling: bool) -> Vec<(u64, String)> {
        read(input, batch, framing, usize::MAX, filling)
    }

    fn owned(v: &[(u64, &str)]) -> Vec<(u64, String)> {
        v.iter().map(|(n, s)| (*n, s.to_string())).collect()
    }

    #[test]
    fn lines_are_numbered_across_batches() {
        let input = b"a\nbb\r\n\nccc\ndddd";
        let want = owned(&[(1, "a"), (2, "bb"), (3, ""), (4, "ccc"), (5, "dddd")]);
        for batch in [1, 2, 3, 5, 100, 1 << 20] {
            for filling in [false, true] {
                assert_eq!(all(input, batch, Framing::Lines, filling), want, "{batch}");
            }
        }
        assert!(all(b"", 10, Framing::Lines, false).is_empty());
        assert_eq!(all(b"x\n", 1, Framing::Lines, false), owned(&[(1, "x")]));
    }

    /// [`read`] by line: a batch gives its skipped records before its others.
    fn capped(input: &[u8], batch: usize, max: usize, filling: bool) -> Vec<(u64, String)> {
        let mut out = read(input, batch, Framing::Lines, max, filling);
        out.sort();
        out
    }

    #[test]
    fn records_longer_than_the_cap_are_skipped_and_reading_goes_on() {
        let long = "x".repeat(300);
        let input = format!("a\n{long}\nbb\n{long}{long}\ncc\n{long}");
        let preview = format!("!{}", "x".repeat(256));
        let want = owned(&[
            (1, "a"),
            (2, &preview),
            (3, "bb"),
            (4, &preview),
            (5, "cc"),
            (6, &preview),
        ]);
        for batch in [1, 7, 64, 1000, 1 << 20] {
            for filling in [false, true] {
                assert_eq!(
                    capped(input.as_bytes(), batch, 100, filling),
                    want,
                    "batch {batch}"
                );
            }
        }
        // at the cap itself a record is kept
        assert_eq!(
            capped(b"abc\nde\n", 64, 3, true),
            owned(&[(1, "abc"), (2, "de")])
        );
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped_once() {
        for framing in [Framing::Lines, Framing::Csv] {
            for batch in [1, 2, 3, 4, 100] {
                for filling in [false, true] {
                    let got = all(b"\xEF\xBB\xBFa\nb\n", batch, framing, filling);
                    assert_eq!(got, owned(&[(1, "a"), (2, "b")]), "{batch}");
                    // Only at the very start: a second mark, or one on a later line, is data.
                    let got = all(
                        b"\xEF\xBB\xBF\xEF\xBB\xBFa\n\xEF\xBB\xBFb",
                        batch,
                        framing,
                        filling,
                    );
                    assert_eq!(got, owned(&[(1, "\u{feff}a"), (2, "\u{feff}b")]), "{batch}");
                }
            }
            // A mark alone is an empty input.
            assert!(all(b"\xEF\xBB\xBF", 1, framing, false).is_empty());
        }
    }

    #[test]
    fn csv_records_may_hold_quoted_newlines() {
        let input = b"a,b\n\"x\ny\",1\r\n\"q\"\"\n\",2\nz\"w,3\n\n\"open\nend";
        let want = owned(&[
            (1, "a,b"),
            (2, "\"x\ny\",1"),
            (4, "\"q\"\"\n\",2"),
            (6, "z\"w,3"),
            (7, ""),
            (8, "\"open\nend"),
        ]);
        for batch in [1, 2, 3, 7, 100, 1 << 20] {
            for filling in [false, true] {
                assert_eq!(all(input, batch, Framing::Csv, filling), want, "{batch}");
            }
        }
    }
}
