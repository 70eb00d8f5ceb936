//! CSV records (RFC 4180, `,` delimiter, `"` quotes, `""` for a quote inside quotes).
//!
//! Two jobs:
//! - [`CsvParser::parse`]: one record (a byte slice holding exactly one record, which may span
//!   lines when a quoted cell holds line breaks, with or without its `\n` / `\r\n` ending)
//!   into cells, in buffers reused from record to record (no allocation once they have grown
//!   to the widest record). A record without quotes is split on its commas in place; one with
//!   quotes is checked strictly (see [`CsvErrorKind`]) and unquoted by `csv-core`.
//! - [`csv_record_end`] / [`csv_record_ends`]: framing a byte stream into records, i.e. finding
//!   the line breaks that are outside quoted cells, with the quote state carried from one
//!   buffer to the next and the lines each record spans counted, so sources can cut batches at
//!   record ends and keep line numbers right.
//!
//! Both follow `csv-core`'s reading of the bytes (a `"` opens a quoted cell only at the start of
//! a cell; elsewhere it is an ordinary byte to the framing, and an error to the parser), with
//! `\n` as the only record terminator: a `\r` before it is part of the ending, a `\r` anywhere
//! else is data.

use std::fmt;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder, Terminator};

use super::bytes_eq;
use crate::error::{DeadReason, DecodeError};

/// What is wrong with a malformed CSV record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvErrorKind {
    /// A quoted cell is not closed before the record ends.
    Unterminated,
    /// A closing quote is followed by something other than `,` or the end of the record.
    AfterQuote,
    /// A `"` inside a cell that does not start with one.
    QuoteInUnquoted,
    /// A line break outside quotes in the middle of the slice: it holds more than one record.
    LineBreak,
}

/// A malformed CSV record: what and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct CsvError {
    pub kind: CsvErrorKind,
    /// 1-based byte position in the record: the opening quote (unterminated cell), the byte
    /// after a closing quote, the start of the unquoted cell holding a quote, the line break.
    pub byte: usize,
    /// 0-based index of the cell at fault.
    pub cell: usize,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.byte;
        match self.kind {
            CsvErrorKind::Unterminated => write!(f, "unterminated quoted cell at byte {b}"),
            CsvErrorKind::AfterQuote => {
                write!(f, "unexpected character after a closing quote at byte {b}")
            }
            CsvErrorKind::QuoteInUnquoted => {
                write!(f, "quote inside an unquoted cell near byte {b}")
            }
            CsvErrorKind::LineBreak => write!(
                f,
                "line break outside quotes at byte {b} (more than one record)"
            ),
        }
    }
}

impl CsvError {
    /// The bad row this makes of the record starting at `line`: reason `malformed`, message
    /// `malformed CSV: ...`, no field (the same for `eddy run` and `eddy learn`).
    pub fn at_line(&self, line: u64) -> DecodeError {
        DecodeError::new(
            line,
            DeadReason::Malformed,
            format!("malformed CSV: {self}"),
        )
    }
}

/// The bad row for a record whose cell count differs from the header's.
pub fn column_count_error(line: u64, expected: usize, found: usize) -> DecodeError {
    DecodeError::new(
        line,
        DeadReason::Malformed,
        format!("malformed CSV: expected {expected} columns (as in the header), found {found}"),
    )
}

/// Strips one record ending: `\n`, then a `\r` (so `\r\n`, `\n`, `\r` or nothing).
#[inline]
pub fn strip_ending(record: &[u8]) -> &[u8] {
    let r = record.strip_suffix(b"\n").unwrap_or(record);
    r.strip_suffix(b"\r").unwrap_or(r)
}

/// Parses CSV records into cells, reusing its buffers. One per reader (not shared).
#[derive(Debug, Clone)]
pub struct CsvParser {
    core: Reader,
    /// Unquoted cell bytes of a record with quotes (`csv-core`'s output).
    buf: Vec<u8>,
    /// `csv-core`'s field ends in `buf`.
    ends: Vec<usize>,
    /// Each cell's span: in the record (no quotes) or in `buf` (quotes).
    spans: Vec<(usize, usize)>,
    /// Each cell's quoting, for a record with quotes (empty otherwise: none quoted).
    quoted: Vec<bool>,
}

impl Default for CsvParser {
    fn default() -> Self {
        Self::new()
    }
}

/// The cells of one parsed record, borrowed from the record and the parser.
#[derive(Debug, Clone, Copy)]
pub struct CsvRecord<'a> {
    src: &'a [u8],
    spans: &'a [(usize, usize)],
    quoted: &'a [bool],
}

impl<'a> CsvRecord<'a> {
    /// Number of cells (an empty record has one, empty).
    #[inline]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Never: a record has at least one cell.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`-th cell's bytes, quotes removed and `""` resolved.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let &(s, e) = self.spans.get(i)?;
        self.src.get(s..e)
    }

    /// Whether the `i`-th cell was written in quotes.
    #[inline]
    pub fn is_quoted(&self, i: usize) -> bool {
        self.quoted.get(i).copied().unwrap_or(false)
    }

    /// The cells in order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let src = self.src;
        self.spans.iter().map(move |&(s, e)| &src[s..e])
    }

    /// The bytes the cells are cut from: the record (no quotes) or the parser's buffer of
    /// unquoted cells.
    #[inline]
    pub fn source(&self) -> &'a [u8] {
        self.src
    }

    /// Each cell's span in [`CsvRecord::source`].
    #[inline]
    pub fn spans(&self) -> &'a [(usize, usize)] {
        self.spans
    }

    /// The cells as text, or `None` when the record is not UTF-8 (checked once for the whole
    /// record, not cell by cell).
    #[inline]
    pub fn str_cells(&self) -> Option<impl ExactSizeIterator<Item = &'a str> + 'a> {
        let src = std::str::from_utf8(self.src).ok()?;
        // Cells are cut at ASCII bytes, so at character boundaries.
        Some(
            self.spans
                .iter()
                .map(move |&(s, e)| src.get(s..e).unwrap_or_default()),
        )
    }
}

impl CsvParser {
    pub fn new() -> CsvParser {
        let mut core = ReaderBuilder::new()
            .delimiter(b',')
            .quote(b'"')
            .double_quote(true)
            .terminator(Terminator::Any(b'\n'))
            .build();
        // `csv-core` strips a byte order mark from the first bytes it reads; a record is never
        // the start of a file here (the header's mark is the caller's), so read a blank line
        // (skipped, no record) to get past that.
        let _ = core.read_record(b"\n", &mut [0u8; 1], &mut [0usize; 1]);
        CsvParser {
            core,
            buf: Vec::new(),
            ends: Vec::new(),
            spans: Vec::new(),
            quoted: Vec::new(),
        }
    }

    /// Parses one record: `record` holds exactly one record, with or without its ending
    /// (`\n` or `\r\n`); quoted cells may hold line breaks. An empty record is one empty cell.
    pub fn parse<'a>(&'a mut self, record: &'a [u8]) -> Result<CsvRecord<'a>, CsvError> {
        let body = strip_ending(record);
        self.quoted.clear();
        if split_plain(body, &mut self.spans) {
            // No quotes: the cells are the bytes between commas, in place.
            return Ok(CsvRecord {
                src: body,
                spans: &self.spans,
                quoted: &self.quoted,
            });
        }
        self.spans.clear();
        check_strict(body, &mut self.quoted)?;
        self.unquote(body);
        Ok(CsvRecord {
            src: &self.buf,
            spans: &self.spans,
            quoted: &self.quoted,
        })
    }

    /// `csv-core` reads a record that passed [`check_strict`] into `buf`/`ends`/`spans`.
    fn unquote(&mut self, body: &[u8]) {
        let cells = self.quoted.len();
        if self.buf.len() < body.len() + 1 {
            self.buf.resize(body.len() + 1, 0);
        }
        if self.ends.len() < cells + 1 {
            self.ends.resize(cells + 1, 0);
        }
        // The body (no terminator: all of it is consumed, no record yet), then the terminator.
        let (r1, _, nout, nend) = self.core.read_record(body, &mut self.buf, &mut self.ends);
        let (r2, _, _, nend2) =
            self.core
                .read_record(b"\n", &mut self.buf[nout..], &mut self.ends[nend..]);
        debug_assert_eq!(r1, ReadRecordResult::InputEmpty);
        debug_assert_eq!(r2, ReadRecordResult::Record);
        let mut start = 0;
        for &end in &self.ends[..nend + nend2] {
            self.spans.push((start, end));
            start = end;
        }
        // Checked strictly, the record has the cells counted there; should `csv-core` have
        // read it otherwise, its cells are still what is returned (and its state is reset).
        if r2 != ReadRecordResult::Record {
            self.core = CsvParser::new().core;
        }
    }
}

/// Splits a record holding no `"` and no `\n` at its commas into `spans` (cleared first), a
/// word at a time; `false` (spans unspecified) when it holds a `"` or a `\n`.
#[inline]
fn split_plain(body: &[u8], spans: &mut Vec<(usize, usize)>) -> bool {
    spans.clear();
    if memchr::memchr2(b'"', b'\n', body).is_some() {
        return false;
    }
    let mut start = 0;
    let mut i = 0;
    while i + 8 <= body.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&body[i..i + 8]);
        let mut commas = bytes_eq(u64::from_le_bytes(w), b',');
        while commas != 0 {
            let at = i + (commas.trailing_zeros() / 8) as usize;
            spans.push((start, at));
            start = at + 1;
            commas &= commas - 1;
        }
        i += 8;
    }
    for (at, &c) in body.iter().enumerate().skip(i) {
        if c == b',' {
            spans.push((start, at));
            start = at + 1;
        }
    }
    spans.push((start, body.len()));
    true
}

/// Checks a record with quotes or line breaks against RFC 4180 (stricter than `csv-core`,
/// which reads any bytes somehow), and records each cell's quoting in `quoted`.
fn check_strict(line: &[u8], quoted: &mut Vec<bool>) -> Result<(), CsvError> {
    quoted.clear();
    let mut i = 0;
    loop {
        let cell = quoted.len();
        if line.get(i) == Some(&b'"') {
            let open = i;
            let mut j = i + 1;
            loop {
                match memchr::memchr(b'"', &line[j..]) {
                    None => {
                        return Err(CsvError {
                            kind: CsvErrorKind::Unterminated,
                            byte: open + 1,
                            cell,
                        })
                    }
                    Some(off) => {
                        j += off;
                        if line.get(j + 1) == Some(&b'"') {
                            j += 2;
                        } else {
                            break;
                        }
                    }
                }
            }
            quoted.push(true);
            i = j + 1;
            match line.get(i) {
                None => return Ok(()),
                Some(b',') => i += 1,
                Some(&c) => {
                    return Err(CsvError {
                        kind: if c == b'\n' {
                            CsvErrorKind::LineBreak
                        } else {
                            CsvErrorKind::AfterQuote
                        },
                        byte: i + 1,
                        cell,
                    })
                }
            }
        } else {
            let end = memchr::memchr(b',', &line[i..]).map_or(line.len(), |o| i + o);
            if let Some(o) = memchr::memchr2(b'"', b'\n', &line[i..end]) {
                return Err(if line[i + o] == b'"' {
                    CsvError {
                        kind: CsvErrorKind::QuoteInUnquoted,
                        byte: i + 1,
                        cell,
                    }
                } else {
                    CsvError {
                        kind: CsvErrorKind::LineBreak,
                        byte: i + o + 1,
                        cell,
                    }
                });
            }
            quoted.push(false);
            if end == line.len() {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Framing.

/// Where the scan stands inside the current record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum At {
    /// At the start of a cell (and of a record): a `"` here opens a quoted cell.
    #[default]
    CellStart,
    /// Inside a cell that did not start with a quote (or after a quoted cell's closing quote).
    Unquoted,
    /// Inside a quoted cell.
    Quoted,
    /// Just after a `"` inside a quoted cell: the next byte tells whether it closed the cell
    /// (anything but `"`) or was the first of a doubled quote.
    QuoteInQuoted,
}

/// The state of [`csv_record_end`] carried across buffers: where the scan stands in the record
/// not yet ended (in a quoted cell or not) and how many line breaks that record holds so far.
/// `Default` (= [`CsvFraming::new`]) is the start of the input, or of any record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsvFraming {
    quote: At,
    /// `\n` bytes inside the current record so far (in quoted cells).
    newlines: u64,
}

impl CsvFraming {
    /// The state at the start of the input (or of a record).
    pub fn new() -> CsvFraming {
        CsvFraming::default()
    }

    /// Whether the scan is inside a quoted cell: at the end of the input this means the last
    /// record's quote is never closed (its parse fails as unterminated).
    pub fn in_quotes(&self) -> bool {
        matches!(self.quote, At::Quoted)
    }

    /// Whether the scan stands at the start of a record (no byte of an unfinished record seen).
    pub fn at_record_start(&self) -> bool {
        self.quote == At::CellStart && self.newlines == 0
    }

    /// Line breaks inside the unfinished record so far: at the end of the input, the last
    /// record (with no final `\n`) spans this many lines plus one.
    pub fn pending_newlines(&self) -> u64 {
        self.newlines
    }
}

/// Finds the end of the next CSV record in `data`: the first `\n` outside quoted cells.
///
/// `data` continues the bytes given before with the same `state` (a fresh [`CsvFraming`] at
/// the start of the input or at any record start). Returns `Some((end, lines))` with `end`
/// the index in `data` just past that `\n` and `lines` the number of lines the record spans
/// (its `\n` bytes, its terminator included, counting those in earlier `data`: 1 for a record
/// on one line); `state` is then at a record start, ready for `data[end..]`. Returns `None`
/// when no record ends in `data`: `state` has taken all of it in (its quote state and line
/// breaks), ready for the next bytes of the input.
///
/// A `"` opens a quoted cell only at the start of a cell (the record's first byte, or after a
/// `,`); inside one, `""` is a quote and a lone `"` closes it. This is how `csv-core` reads
/// bytes (with `\n` as the terminator), so on any input, well-formed or not, the records found
/// here are those the `csv` crate reads (where it skips empty lines, these are records of no
/// bytes but their ending). Empty lines and `\r\n` endings are records like any other (a
/// record's bytes, `\n` included, go to [`CsvParser::parse`] as they are).
#[inline]
pub fn csv_record_end(data: &[u8], state: &mut CsvFraming) -> Option<(usize, u64)> {
    let mut i = 0;
    let n = data.len();
    loop {
        match state.quote {
            At::CellStart | At::Unquoted => {
                let Some(o) = memchr::memchr2(b'\n', b'"', &data[i..]) else {
                    if i < n {
                        state.quote = if data[n - 1] == b',' {
                            At::CellStart
                        } else {
                            At::Unquoted
                        };
                    }
                    return None;
                };
                let p = i + o;
                if data[p] == b'\n' {
                    let lines = state.newlines + 1;
                    *state = CsvFraming::new();
                    return Some((p + 1, lines));
                }
                let cell_start = if p == i {
                    state.quote == At::CellStart
                } else {
                    data[p - 1] == b','
                };
                state.quote = if cell_start { At::Quoted } else { At::Unquoted };
                i = p + 1;
            }
            At::Quoted => {
                let o = memchr::memchr2(b'"', b'\n', &data[i..])?;
                let p = i + o;
                if data[p] == b'\n' {
                    state.newlines += 1;
                } else {
                    state.quote = At::QuoteInQuoted;
                }
                i = p + 1;
            }
            At::QuoteInQuoted => {
                let c = *data.get(i)?;
                if c == b'"' {
                    state.quote = At::Quoted;
                    i += 1;
                } else {
                    // Closed; the byte is read as outside quotes (a `,`, a `\n`, or data).
                    state.quote = At::Unquoted;
                }
            }
        }
    }
}

/// Finds every record end in `data` (see [`csv_record_end`]): calls `on_end(end, lines)` for
/// each, with `end` the index in `data` just past the record's `\n` and `lines` the lines it
/// spans. Returns the index just past the last record end (0 when none ends in `data`): the
/// bytes from there on begin a record that `state` carries on into the next `data`.
pub fn csv_record_ends(
    data: &[u8],
    state: &mut CsvFraming,
    mut on_end: impl FnMut(usize, u64),
) -> usize {
    let mut at = 0;
    while let Some((end, lines)) = csv_record_end(&data[at..], state) {
        at += end;
        on_end(at, lines);
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(p: &mut CsvParser, rec: &str) -> Result<Vec<String>, CsvError> {
        let r = p.parse(rec.as_bytes())?;
        Ok(r.iter()
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect())
    }

    #[test]
    fn parses_quotes_line_breaks_and_endings() {
        let mut p = CsvParser::new();
        assert_eq!(
            cells(&mut p, r#"a,"b,c","say ""hi""",,d"#).unwrap(),
            vec!["a", "b,c", "say \"hi\"", "", "d"]
        );
        assert_eq!(
            cells(&mut p, "1,,2.5,x").unwrap(),
            vec!["1", "", "2.5", "x"]
        );
        assert_eq!(cells(&mut p, "").unwrap(), vec![""]);
        assert_eq!(cells(&mut p, "\r\n").unwrap(), vec![""]);
        assert_eq!(cells(&mut p, "a,b\r\n").unwrap(), vec!["a", "b"]);
        assert_eq!(cells(&mut p, "a,b\n").unwrap(), vec!["a", "b"]);
        assert_eq!(
            cells(&mut p, "1,\"two\nlines\",3\r\n").unwrap(),
            vec!["1", "two\nlines", "3"]
        );
        assert_eq!(
            cells(&mut p, "\"x\r\ny\",\"\"\n").unwrap(),
            vec!["x\r\ny", ""]
        );
        // A `\r` inside a line is data; a byte order mark is data too.
        assert_eq!(cells(&mut p, "a\rb,c").unwrap(), vec!["a\rb", "c"]);
        assert_eq!(
            cells(&mut CsvParser::new(), "\u{feff}a,\"b\"").unwrap(),
            vec!["\u{feff}a", "b"]
        );
        let r = p.parse(b"\"q\",u").unwrap();
        assert!(r.is_quoted(0) && !r.is_quoted(1));
    }

    #[test]
    fn strict_errors_name_byte_and_cell() {
        let mut p = CsvParser::new();
        let err = |p: &mut CsvParser, rec: &str| p.parse(rec.as_bytes()).unwrap_err();
        let e = err(&mut p, "7000,\"carol,1.0,x");
        assert_eq!((e.kind, e.byte, e.cell), (CsvErrorKind::Unterminated, 6, 1));
        assert_eq!(e.to_string(), "unterminated quoted cell at byte 6");
        let e = err(&mut p, "a,\"b\"c,d");
        assert_eq!((e.kind, e.byte, e.cell), (CsvErrorKind::AfterQuote, 6, 1));
        let e = err(&mut p, "a,b,c\"d\"");
        assert_eq!(
            (e.kind, e.byte, e.cell),
            (CsvErrorKind::QuoteInUnquoted, 5, 2)
        );
        assert_eq!(e.to_string(), "quote inside an unquoted cell near byte 5");
        let e = err(&mut p, "a,b\nc,d");
        assert_eq!((e.kind, e.byte, e.cell), (CsvErrorKind::LineBreak, 4, 1));
        let e = err(&mut p, "\"a\"\nb");
        assert_eq!((e.kind, e.byte, e.cell), (CsvErrorKind::LineBreak, 4, 0));
        // A quoted cell open to the end, its line break included.
        let e = err(&mut p, "x,\"never\nclosed\r\n");
        assert_eq!((e.kind, e.byte, e.cell), (CsvErrorKind::Unterminated, 3, 1));
        // The parser is fine after errors.
        assert_eq!(cells(&mut p, "\"a\"\"\",b").unwrap(), vec!["a\"", "b"]);
        let bad = e.at_line(8);
        assert_eq!(bad.reason, DeadReason::Malformed);
        assert_eq!(
            bad.to_string(),
            "line 8: malformed CSV: unterminated quoted cell at byte 3"
        );
    }

    /// Records and line counts over a whole input, fed in pieces of the given sizes.
    fn frame(input: &[u8], pieces: &[usize]) -> Vec<(usize, usize, u64)> {
        let mut st = CsvFraming::new();
        let mut out = Vec::new();
        let (mut start, mut at, mut k) = (0, 0, 0);
        while at < input.len() {
            let len = pieces
                .get(k)
                .copied()
                .unwrap_or(input.len())
                .max(1)
                .min(input.len() - at);
            k += 1;
            let chunk = &input[at..at + len];
            csv_record_ends(chunk, &mut st, |end, lines| {
                out.push((start, at + end, lines));
                start = at + end;
            });
            at += len;
        }
        if start < input.len() {
            out.push((start, input.len(), st.pending_newlines() + 1));
        }
        out
    }

    #[test]
    fn framing_finds_ends_outside_quotes() {
        let input = b"a,b\n\"x\ny\",2\r\n\n\"q\"\"\n\",\"\"\nlast";
        let want = vec![(0, 4, 1), (4, 13, 2), (13, 14, 1), (14, 24, 2), (24, 28, 1)];
        assert_eq!(frame(input, &[]), want);
        for n in 1..8 {
            assert_eq!(frame(input, &[n; 64]), want, "pieces of {n}");
        }
        // A quote inside an unquoted cell opens nothing; an unclosed one runs to the end.
        assert_eq!(frame(b"a\"b\nc\n", &[]), vec![(0, 4, 1), (4, 6, 1)]);
        let mut st = CsvFraming::new();
        assert_eq!(csv_record_end(b"x,\"open\nstill", &mut st), None);
        assert!(st.in_quotes() && st.pending_newlines() == 1 && !st.at_record_start());
        assert_eq!(csv_record_end(b" open\"\n", &mut st), Some((7, 2)));
        assert!(st.at_record_start());
    }

    mod props {
        use super::super::*;
        use super::frame;
        use proptest::prelude::*;

        /// The `csv` crate's records: start byte, start line, cells.
        fn csv_crate(input: &[u8]) -> Vec<(u64, u64, Vec<Vec<u8>>)> {
            let mut r = ::csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .terminator(::csv::Terminator::Any(b'\n'))
                .from_reader(input);
            let mut out = Vec::new();
            for rec in r.byte_records() {
                let rec = rec.unwrap();
                let pos = rec.position().unwrap();
                out.push((
                    pos.byte(),
                    pos.line(),
                    rec.iter().map(|c| c.to_vec()).collect(),
                ));
            }
            out
        }

        fn bytes() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(
                prop::sample::select(vec![b'a', b'b', b',', b'"', b'\n', b'\r', b' ']),
                0..60,
            )
        }

        fn encode(rows: &[Vec<String>], crlf: bool) -> String {
            let mut s = String::new();
            for row in rows {
                let cells: Vec<String> = row
                    .iter()
                    .map(|c| {
                        if c.contains([',', '"', '\n', '\r']) || c.is_empty() && row.len() == 1 {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c.clone()
                        }
                    })
                    .collect();
                s.push_str(&cells.join(","));
                s.push_str(if crlf { "\r\n" } else { "\n" });
            }
            s
        }

        proptest! {
            /// On any bytes, the framing finds the records the `csv` crate reads (which skips
            /// empty lines), starting on the same lines, however the input is cut.
            #[test]
            fn framing_agrees_with_the_csv_crate(
                input in bytes(),
                pieces in prop::collection::vec(1usize..9, 0..40),
            ) {
                let ours = frame(&input, &pieces);
                let mut line = 1;
                let mut got = Vec::new();
                // The `csv` crate gives a record after empty lines the position of the first.
                let mut empty_run = None;
                for &(s, e, lines) in &ours {
                    let body = input[s..e].strip_suffix(b"\n").unwrap_or(&input[s..e]);
                    if body.is_empty() {
                        empty_run.get_or_insert((s as u64, line));
                    } else {
                        got.push(empty_run.take().unwrap_or((s as u64, line)));
                    }
                    line += lines;
                }
                let want: Vec<(u64, u64)> =
                    csv_crate(&input).iter().map(|(b, l, _)| (*b, *l)).collect();
                prop_assert_eq!(got, want);
                // Whole: contiguous, covering the input.
                prop_assert_eq!(ours.last().map_or(0, |r| r.1), input.len());
            }

            /// Each record the framing finds parses (when strictly well formed) to the cells
            /// the `csv` crate reads.
            #[test]
            fn parse_agrees_with_the_csv_crate(input in bytes()) {
                let mut p = CsvParser::new();
                for (s, e, _) in frame(&input, &[]) {
                    let rec = &input[s..e];
                    let Ok(r) = p.parse(rec) else { continue };
                    let ours: Vec<Vec<u8>> = r.iter().map(|c| c.to_vec()).collect();
                    let body = strip_ending(rec);
                    let theirs = csv_crate(body);
                    if body.is_empty() {
                        prop_assert_eq!(ours, vec![Vec::<u8>::new()]);
                    } else {
                        prop_assert_eq!(theirs.len(), 1);
                        prop_assert_eq!(&ours, &theirs[0].2);
                    }
                }
            }

            /// Written rows (quoted where needed, `\n` or `\r\n` endings) frame and parse back.
            #[test]
            fn rows_round_trip(
                rows in prop::collection::vec(
                    prop::collection::vec("[a-c ,\"\n\r]{0,6}", 1..5), 1..6),
                crlf: bool,
            ) {
                let text = encode(&rows, crlf);
                let framed = frame(text.as_bytes(), &[]);
                prop_assert_eq!(framed.len(), rows.len());
                let mut p = CsvParser::new();
                for ((s, e, lines), row) in framed.iter().zip(&rows) {
                    let rec = &text.as_bytes()[*s..*e];
                    let newlines = rec.iter().filter(|&&c| c == b'\n').count() as u64;
                    prop_assert_eq!(*lines, newlines);
                    let got: Vec<String> = p.parse(rec).unwrap()
                        .iter().map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
                    prop_assert_eq!(&got, row);
                }
            }
        }
    }
}
