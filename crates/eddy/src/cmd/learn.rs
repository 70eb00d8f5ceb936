//! `eddy learn`: prequential (test-then-train) evaluation of an online model over a CSV or
//! JSONL file, with optional drift detection, label delay and snapshots.
//!
//! Input: CSV with a header row (RFC 4180: a quoted cell may hold commas, doubled quotes `""`
//! and line breaks, so a record may span lines; `\n` or `\r\n` endings) or JSON Lines (one
//! object per line; the first object's keys are the columns), chosen by the file extension
//! (`.csv`, `.jsonl`/`.ndjson`/`.json`) or `--format`. Both are read with eddy-runtime's codec,
//! as `eddy run` reads them, on a thread of their own (reading and parsing the next rows while
//! the model learns). Line numbers are the file's: a record spanning lines has its first.
//!
//! What is done with the rows — columns typed, labels numbered, rows encoded for the model,
//! the model scored then trained, metrics, delay and drift detection — is eddy-learn's
//! [`eddy_learn::tabular`]; this module reads the file, prints and keeps the snapshot files.
//!
//! Columns: a JSONL object's nested objects are flattened to dotted names, so the per-event
//! output of `eddy run` (`{..., "features": {"events_5m": 3, ...}}`) gives the columns
//! `features.events_5m`, ...; arrays (e.g. last-N sequences) are not columns.
//!
//! Features: every column but the target, narrowed by `--features` (only these) and
//! `--ignore` (not these; e.g. ids and timestamps, which one-hot encoding would turn into
//! one slot per row). `--fill-missing X` puts `X` in place of a missing feature value
//! (a JSON null, as a window with no matching events gives, or an empty cell); without it
//! such a row is skipped and counted. A column is numeric when its first non-empty value
//! parses as a finite number (JSON numbers and booleans are numbers), categorical otherwise or
//! when listed in `--categorical`. Rows go to the model registry's pipeline as numbers and
//! categories, so its preprocessing applies: `--param categorical=onehot` (default, a slot per
//! category seen), `categorical=hash` (`n_features`, `hash_seed`) or `categorical=ordinal`
//! (category codes; a Hoeffding tree's nominal attributes), and `--param
//! scaler=standard|minmax` on the numeric columns. An empty categorical cell is the category
//! `""`. Target: a number for regressors; for classifiers, labels that are non-negative
//! integers are used as class numbers, `true`/`false` map to 1/0, other labels are numbered in
//! order of first appearance. Binary metrics treat class 1 as positive.
//!
//! Bad rows — malformed CSV (a bad quote) or JSON, wrong field count, missing target, a
//! non-number, empty value, NaN or infinity in a numeric column — are skipped (never learned
//! from), counted, and named on stderr with their line and column (the first few; then only
//! counted). They are eddy-runtime's `DecodeError`s, with the messages `eddy run` gives the
//! same records as dead letters.
//!
//! Snapshots: `--save` writes the model registry's snapshot (loadable by `AnyModel::load`)
//! plus an `eddy_learn` section (encoder, detector, counts); `--load` takes either kind.
//!
//! Output (stdout, JSON lines): `{"n":N,"<metric>":v,...}` every `--every` examples,
//! `{"n":N,"drift":"<detector>"}` per drift, then a summary line
//! `{"summary":{"examples":..,"skipped":..,"drifts":..,"metrics":{..},"seconds":..,"examples_per_s":..}}`.
//! Undefined metric values print as `null`. With `--delay`, metrics and the detector see an
//! example when its label arrives, so a drift line's `n` counts the examples scored by then.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use eddy_learn::drift::{self, AnyDetector};
use eddy_learn::registry::{self, AnyModel, Params};
use eddy_learn::tabular::{
    build_metrics, trim, BadField, Checkpoint, ColumnList, ColumnSpec, ExampleEncoder, Field,
    PrequentialRun, Problem, Row, SetupError, Step, CHECKPOINT_SECTION,
};
use eddy_learn::{Detector, Metric};
use eddy_runtime::codec::csv::{column_count_error, csv_record_end, CsvFraming, CsvParser};
use eddy_runtime::codec::jsonl::{self, JsonValue, JsonlReader};
use eddy_runtime::codec::parse_f64;
use eddy_runtime::{DeadReason, DecodeError};
use serde::Deserialize;

mod ratings;

/// Bad-row messages shown before going quiet (the total is in the summary).
const MAX_MESSAGES: u64 = 10;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Metrics: accuracy, precision, recall, f1, logloss, rocauc (classification); \
    mae, rmse, r2 (regression); each also as rolling(N):name or fading(A):name.\n\
    Drift detectors: adwin, page_hinkley, ddm, eddm, kswin, with parameters as \
    NAME:key=value,key=value (e.g. adwin:delta=0.01). The detector sees 1/0 mistakes \
    (classifiers) or absolute errors (regressors)."
)]
pub struct LearnArgs {
    /// Input file (CSV with a header row, or JSON Lines).
    #[arg(long)]
    pub data: PathBuf,
    /// Target column (optional with --load: the snapshot's).
    #[arg(long)]
    pub target: Option<String>,
    /// Model name, e.g. logistic_regression (optional with --load: the snapshot's).
    #[arg(long)]
    pub model: Option<String>,
    /// Model parameter `key=value` (repeatable), River's names, e.g. `--param l2=0.01`.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Drift detector fed the model's errors: NAME or NAME:key=value,...
    #[arg(long)]
    pub drift: Option<String>,
    /// Metrics, comma-separated (default: accuracy for classifiers, mae,rmse for regressors).
    #[arg(long, value_delimiter = ',')]
    pub metric: Vec<String>,
    /// Report metric values every N examples (0: only the summary).
    #[arg(long, default_value_t = 1000)]
    pub every: u64,
    /// Learn each example only N examples after scoring it (label delay).
    #[arg(long, default_value_t = 0)]
    pub delay: usize,
    /// Save the model (with encoder and detector) to this snapshot file at the end.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Continue from a snapshot written by --save.
    #[arg(long)]
    pub load: Option<PathBuf>,
    /// Input format (default: from the file extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Columns to treat as categorical even when their values look numeric (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Use only these columns as features (comma-separated; default: all but the target).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Columns that are not features, e.g. ids and timestamps (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Use this number for a missing feature value (JSON null, empty cell) instead of
    /// skipping the row. A missing target still skips the row.
    #[arg(long, value_name = "NUMBER", allow_negative_numbers = true)]
    pub fill_missing: Option<f64>,
    /// The user id column, for a recommender (biased_mf, funk_mf); with --item.
    #[arg(long, value_name = "FIELD")]
    pub user: Option<String>,
    /// The item id column, for a recommender; with --user.
    #[arg(long, value_name = "FIELD")]
    pub item: Option<String>,
}

/// Parses `key=value` strings into [`Params`].
pub fn parse_params(kvs: &[String]) -> Result<Params> {
    let mut p = Params::new();
    for kv in kvs {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("parameter `{kv}` is not of the form key=value"))?;
        let k = k.trim();
        if k.is_empty() {
            bail!("parameter `{kv}` has an empty key");
        }
        if p.insert(k.to_string(), v.trim().to_string()).is_some() {
            bail!("parameter `{k}` given twice");
        }
    }
    Ok(p)
}

pub fn is_broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

// ---------------------------------------------------------------------------------------------
// Rows to examples: eddy-learn's `tabular` (the encoder, the label mapping, the model over
// rows and the prequential loop); here only the CLI's wording of its errors.

/// A setup error, in the CLI's words (its flags).
fn setup_error(e: SetupError) -> anyhow::Error {
    match e {
        SetupError::NotInInput {
            list: ColumnList::Categorical,
            column,
            ..
        } => anyhow!("--categorical column `{column}` is not in the input"),
        SetupError::NotInInput {
            list,
            column,
            columns,
        } => {
            let flag = match list {
                ColumnList::Only => "--features",
                _ => "--ignore",
            };
            anyhow!(
                "{flag} column `{column}` is not in the input; columns: {}",
                columns.join(", ")
            )
        }
        e => e.into(),
    }
}

/// A row the encoder refused, as every reader reports a bad row.
fn bad_row(b: BadField, line: u64) -> DecodeError {
    let reason = if b.problem.is_missing() {
        DeadReason::MissingField
    } else {
        DeadReason::BadField
    };
    DecodeError::with_field(line, b.column, reason, b.problem.to_string())
}

// ---------------------------------------------------------------------------------------------
// Readers: eddy-runtime's codec (the CSV parser and record framing `eddy run` uses, the JSONL
// member reader) over large blocks of the file, on a thread of its own: it reads, frames,
// parses and converts numbers while the model learns from the rows before.

/// Bytes read from the file at a time.
const BLOCK: usize = 1 << 20;
/// Records per batch handed from the reader thread, at most.
const BATCH_RECORDS: usize = 4096;
/// A CSV record longer than this (bytes) is a bad row: most likely a quote that is never
/// closed, which would otherwise run on to the end of the input. Reading starts over on the
/// line after the one it started on.
const MAX_RECORD: usize = 4 << 20;

/// A cell of a parsed record, its text in [`Batch::text`].
#[derive(Clone, Copy, Debug)]
enum CellVal {
    Missing,
    Num(f64),
    /// Text at `text[start..end]`; `num` its (trimmed) value when that is a finite number,
    /// else NaN.
    Text {
        start: usize,
        end: usize,
        num: f64,
    },
}

/// Records parsed by the reader thread: each a row of `header.len()` cells, or a bad row.
#[derive(Debug, Default)]
struct Batch {
    text: String,
    cells: Vec<CellVal>,
    /// Per record: its line and first cell, or why it is bad.
    recs: Vec<Result<(u64, usize), DecodeError>>,
}

impl Batch {
    fn clear(&mut self) {
        self.text.clear();
        self.cells.clear();
        self.recs.clear();
    }

    /// The fields of the row whose cells start at `first`.
    fn fields<'a>(&'a self, first: usize, n: usize, out: &mut Vec<Field<'a>>) {
        out.clear();
        out.extend(self.cells[first..first + n].iter().map(|c| match *c {
            CellVal::Missing => Field::Missing,
            CellVal::Num(v) => Field::Num(v),
            CellVal::Text { start, end, num } => {
                let t = self.text.get(start..end).unwrap_or_default();
                if num.is_finite() {
                    Field::NumText(t, num)
                } else {
                    Field::Text(t)
                }
            }
        }));
    }

    /// Adds text cells, cut from `src` at `spans`, their numbers parsed.
    #[inline]
    fn push_texts(&mut self, src: &str, spans: &[(usize, usize)]) {
        let base = self.text.len();
        self.text.push_str(src);
        for &(s, e) in spans {
            let t = src.get(s..e).unwrap_or_default();
            self.cells.push(CellVal::Text {
                start: base + s,
                end: base + e,
                num: finite(t),
            });
        }
    }
}

/// Reads records from CSV or JSONL and parses them into [`Batch`]es.
struct Reader {
    file: File,
    format: Format,
    header: Vec<String>,
    /// Bytes read; `data[pos..]` not parsed yet, `data[scan..]` not framed yet.
    data: Vec<u8>,
    pos: usize,
    scan: usize,
    eof: bool,
    /// CSV framing state at `data[scan..]` (quotes carry over line breaks).
    framing: CsvFraming,
    /// Line number of the record starting at `pos`.
    line_no: u64,
    csv: CsvParser,
    json: JsonlReader,
    /// JSONL: column of each header name.
    index: std::collections::HashMap<String, usize>,
    /// [`MAX_RECORD`] (smaller in tests).
    max_record: usize,
}

/// A framed record: its line, and its span in [`Reader::data`] or why it is bad.
type Framed = (u64, Result<(usize, usize), DecodeError>);

impl Reader {
    fn open(path: &Path, format: Option<Format>) -> Result<Self> {
        let format = match format {
            Some(f) => f,
            None => match path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("csv") => Format::Csv,
                Some("jsonl" | "ndjson" | "json") => Format::Jsonl,
                _ => bail!(
                    "cannot tell the format of `{}` from its extension; use --format csv|jsonl",
                    path.display()
                ),
            },
        };
        let file = File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
        let mut r = Reader {
            file,
            format,
            header: Vec::new(),
            data: Vec::with_capacity(BLOCK),
            pos: 0,
            scan: 0,
            eof: false,
            framing: CsvFraming::new(),
            line_no: 1,
            csv: CsvParser::new(),
            json: JsonlReader::new(),
            index: Default::default(),
            max_record: MAX_RECORD,
        };
        // The header: the first CSV record, or the first JSON object's keys.
        let Some((line, framed)) = r.next_record()? else {
            bail!("`{}` is empty: no header and no data", path.display());
        };
        let (s, e) = framed.map_err(|e| anyhow!("`{}`: bad header: {e}", path.display()))?;
        // A UTF-8 byte order mark (as spreadsheet exports write) is not part of the header.
        let s = if r.data[s..e].starts_with(b"\xEF\xBB\xBF") {
            s + 3
        } else {
            s
        };
        let bytes = &r.data[s..e];
        match format {
            Format::Csv => {
                let rec = r
                    .csv
                    .parse(bytes)
                    .map_err(|e| anyhow!("`{}` line {line}: bad header: {e}", path.display()))?;
                let names = rec.str_cells().ok_or_else(|| {
                    anyhow!("`{}` line {line}: the header is not UTF-8", path.display())
                })?;
                r.header = names.map(|c| c.trim().to_string()).collect();
                if r.header.iter().any(String::is_empty) {
                    bail!(
                        "`{}` line {line}: the header has an empty column name",
                        path.display()
                    );
                }
                let mut seen = std::collections::HashSet::new();
                if let Some(d) = r.header.iter().find(|h| !seen.insert(h.as_str())) {
                    bail!(
                        "`{}`: column `{d}` appears twice in the header",
                        path.display()
                    );
                }
            }
            Format::Jsonl => {
                // Columns in name order (as a JSON map lists them), each once.
                let mut names = std::collections::BTreeSet::new();
                r.json
                    .read(bytes, line, |name, _| {
                        if !names.contains(name) {
                            names.insert(name.to_string());
                        }
                    })
                    .map_err(|e| {
                        anyhow!(
                            "`{}` line {line}: not a JSON object: {}",
                            path.display(),
                            e.msg
                        )
                    })?;
                r.header = names.into_iter().collect();
                r.index = r
                    .header
                    .iter()
                    .enumerate()
                    .map(|(i, h)| (h.clone(), i))
                    .collect();
                // The first line is data too: read it again (without its byte order mark).
                r.pos = s;
                r.scan = s;
                r.line_no = line;
            }
        }
        Ok(r)
    }

    /// Frames the next non-blank record; `None` at the end.
    fn next_record(&mut self) -> Result<Option<Framed>> {
        loop {
            let found = match self.format {
                Format::Csv => csv_record_end(&self.data[self.scan..], &mut self.framing),
                Format::Jsonl => memchr::memchr(b'\n', &self.data[self.scan..]).map(|i| (i + 1, 1)),
            };
            let (end, lines) = match found {
                Some((end, lines)) => (self.scan + end, lines),
                None => {
                    self.scan = self.data.len();
                    if self.data.len() - self.pos > self.max_record {
                        return Ok(Some(self.too_large()));
                    }
                    if !self.eof {
                        self.fill()?;
                        continue;
                    }
                    if self.pos == self.data.len() {
                        return Ok(None);
                    }
                    // The last record, with no line break after it.
                    (self.data.len(), self.framing.pending_newlines() + 1)
                }
            };
            let (start, line) = (self.pos, self.line_no);
            self.pos = end;
            self.scan = end;
            self.line_no += lines;
            if self.data[start..end].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some((line, Ok((start, end)))));
        }
    }

    /// The record at `pos` has run past [`Reader::max_record`] bytes: a bad row, and framing
    /// starts over on the next line.
    #[cold]
    fn too_large(&mut self) -> Framed {
        let line = self.line_no;
        let end = memchr::memchr(b'\n', &self.data[self.pos..])
            .map_or(self.data.len(), |i| self.pos + i + 1);
        self.pos = end;
        self.scan = end;
        self.line_no += 1;
        self.framing = CsvFraming::new();
        let msg = format!(
            "a record longer than {} bytes (a quote never closed?); reading goes on at the \
             next line",
            self.max_record
        );
        (line, Err(DecodeError::new(line, DeadReason::TooLarge, msg)))
    }

    /// Drops the bytes parsed and reads the next block after the rest.
    fn fill(&mut self) -> Result<()> {
        if self.pos > 0 {
            self.data.copy_within(self.pos.., 0);
            self.data.truncate(self.data.len() - self.pos);
            self.scan -= self.pos;
            self.pos = 0;
        }
        self.data.reserve(BLOCK);
        let n = (&mut self.file)
            .take(BLOCK as u64)
            .read_to_end(&mut self.data)
            .context("reading the input")?;
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// Parses records into `b` (cleared first) until it is full or the bytes read run out;
    /// `false` when there was no record left.
    fn fill_batch(&mut self, b: &mut Batch) -> Result<bool> {
        b.clear();
        let n = self.header.len();
        while b.recs.len() < BATCH_RECORDS {
            let Some((line, framed)) = self.next_record()? else {
                break;
            };
            let (s, e) = match framed {
                Ok(span) => span,
                Err(bad) => {
                    b.recs.push(Err(bad));
                    continue;
                }
            };
            let (first, text) = (b.cells.len(), b.text.len());
            let bytes = &self.data[s..e];
            let res = match self.format {
                Format::Csv => csv_row(&mut self.csv, &self.header, bytes, line, b),
                Format::Jsonl => json_row(&mut self.json, &self.index, n, bytes, line, b),
            };
            match res {
                Ok(()) => b.recs.push(Ok((line, first))),
                Err(e) => {
                    b.cells.truncate(first);
                    b.text.truncate(text);
                    b.recs.push(Err(e));
                }
            }
        }
        Ok(!b.recs.is_empty())
    }

    /// Parses the records on a thread of its own, handing out batches (read and parse
    /// errors included) in order; `recycle` takes spent batches back.
    fn spawn(mut self) -> Rows {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Batch>>(2);
        let (recycle, spent) = std::sync::mpsc::channel::<Batch>();
        let thread = std::thread::spawn(move || loop {
            let mut b = spent.try_recv().unwrap_or_default();
            match self.fill_batch(&mut b) {
                Ok(true) => {
                    if tx.send(Ok(b)).is_err() {
                        return;
                    }
                }
                Ok(false) => return,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        });
        Rows {
            rx,
            recycle,
            thread: Some(thread),
        }
    }
}

/// The finite number a text reads as (trimmed), or NaN.
#[inline]
fn finite(t: &str) -> f64 {
    match parse_f64(trim(t).as_bytes()) {
        Some(v) if v.is_finite() => v,
        _ => f64::NAN,
    }
}

/// Parses a CSV record into `b`'s cells.
fn csv_row(
    csv: &mut CsvParser,
    header: &[String],
    bytes: &[u8],
    line: u64,
    b: &mut Batch,
) -> Result<(), DecodeError> {
    let rec = csv.parse(bytes).map_err(|e| {
        let mut bad = e.at_line(line);
        bad.field = header.get(e.cell).cloned();
        bad
    })?;
    if rec.len() != header.len() {
        return Err(column_count_error(line, header.len(), rec.len()));
    }
    let src = std::str::from_utf8(rec.source()).map_err(|_| jsonl::utf8_error(line))?;
    b.push_texts(src, rec.spans());
    Ok(())
}

/// Parses a JSON line into `b`'s cells (`n` columns, by `index`).
fn json_row(
    json: &mut JsonlReader,
    index: &std::collections::HashMap<String, usize>,
    n: usize,
    bytes: &[u8],
    line: u64,
    b: &mut Batch,
) -> Result<(), DecodeError> {
    let first = b.cells.len();
    b.cells.resize(first + n, CellVal::Missing);
    let Batch { text, cells, .. } = b;
    json.read(bytes, line, |name, v| {
        let Some(&i) = index.get(name) else { return };
        cells[first + i] = match v {
            JsonValue::Null => CellVal::Missing,
            JsonValue::Bool(x) => CellVal::Num(x as u8 as f64),
            JsonValue::Num(x) => CellVal::Num(parse_f64(x.as_bytes()).unwrap_or(f64::NAN)),
            JsonValue::Str(s) => {
                let start = text.len();
                text.push_str(s);
                CellVal::Text {
                    start,
                    end: text.len(),
                    num: finite(s),
                }
            }
        };
    })
}

/// The reader thread's batches.
struct Rows {
    rx: std::sync::mpsc::Receiver<Result<Batch>>,
    recycle: std::sync::mpsc::Sender<Batch>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Rows {
    /// The next batch, or `None` at the end.
    fn next(&mut self) -> Result<Option<Batch>> {
        match self.rx.recv() {
            Ok(b) => b.map(Some),
            Err(_) => {
                if let Some(t) = self.thread.take() {
                    if t.join().is_err() {
                        bail!("the reader thread failed");
                    }
                }
                Ok(None)
            }
        }
    }

    /// Hands a spent batch back for reuse.
    fn done(&self, b: Batch) {
        let _ = self.recycle.send(b);
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions (snapshots) and the run.

/// `--save` writes the model registry's own snapshot (what `AnyModel::load` and pipelines
/// read) with one more top-level section, `eddy_learn`, holding what continuing needs: a
/// [`Checkpoint`] (the column encoder with its types and label numbering, the detector and
/// the example count). `--load` reads such a file, or a plain model snapshot (then
/// `--target` is needed).
struct Session {
    model: AnyModel,
    extra: Option<Checkpoint>,
}

fn load_session(path: &Path) -> Result<Session> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read snapshot `{}`", path.display()))?;
    let model = AnyModel::from_snapshot_str(&text)
        .map_err(|e| anyhow!("snapshot `{}`: {e}", path.display()))?;
    #[derive(Deserialize)]
    struct Extra {
        eddy_learn: Option<Checkpoint>,
    }
    let extra: Extra = serde_json::from_str(&text)
        .with_context(|| format!("snapshot `{}`: bad `eddy_learn` section", path.display()))?;
    Ok(Session {
        model,
        extra: extra.eddy_learn,
    })
}

fn save_session(path: &Path, model: &AnyModel, extra: &Checkpoint) -> Result<()> {
    let mut v: serde_json::Value = serde_json::from_str(&model.to_snapshot_string()?)?;
    v[CHECKPOINT_SECTION] = serde_json::to_value(extra)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string(&v)?)
        .and_then(|_| std::fs::rename(&tmp, path))
        .with_context(|| format!("saving the session to `{}`", path.display()))
}

/// Parses `NAME` or `NAME:key=value,key=value` into a detector.
fn build_detector(spec: &str) -> Result<AnyDetector> {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let kvs: Vec<String> = rest
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let params = parse_params(&kvs)?;
    drift::build(name.trim(), &params).with_context(|| format!("--drift `{spec}`"))
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        serde_json::to_string(&v).unwrap_or_else(|_| "null".into())
    } else {
        "null".into()
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

pub fn run(args: LearnArgs) -> Result<()> {
    let started = Instant::now();
    let params = parse_params(&args.params)?;
    if args.user.is_some() || args.item.is_some() {
        return ratings::run(&args, &params, started);
    }
    if let Some(m) = &args.model {
        if registry::build_recommender(m, &params).is_ok() {
            bail!("`{m}` is a recommender: give the id columns with --user FIELD --item FIELD");
        }
    }
    let loaded: Option<Session> = match &args.load {
        None => None,
        Some(p) => Some(load_session(p)?),
    };
    let reader = Reader::open(&args.data, args.format)?;
    let header = reader.header.clone();
    if let Some(v) = args.fill_missing.filter(|v| !v.is_finite()) {
        bail!("--fill-missing must be a finite number, not {v}");
    }
    let spec = ColumnSpec {
        categorical: args.categorical.clone(),
        only: args.features.clone(),
        ignore: args.ignore.clone(),
    };

    let (model, mut encoder, saved_detector, total_before) = match loaded {
        Some(s) => {
            if let Some(m) = &args.model {
                let wanted = registry::build(m, &Params::new())
                    .map(|b| b.name)
                    .unwrap_or_else(|_| m.clone());
                if wanted != s.model.name {
                    bail!(
                        "--model `{m}` differs from the snapshot's model `{}`",
                        s.model.name
                    );
                }
            }
            if !args.params.is_empty() {
                bail!("--param cannot change a loaded model's parameters");
            }
            match s.extra {
                Some(x) => {
                    if let Some(t) = &args.target {
                        if t != x.encoder.target() {
                            bail!(
                                "--target `{t}` differs from the snapshot's target `{}`",
                                x.encoder.target()
                            );
                        }
                    }
                    if !spec.categorical.is_empty()
                        || !spec.only.is_empty()
                        || !spec.ignore.is_empty()
                    {
                        bail!("--categorical, --features and --ignore cannot change a loaded model's encoding");
                    }
                    (s.model, x.encoder, x.detector, x.examples_total)
                }
                None => {
                    // A plain model snapshot: a fresh encoder for this input.
                    let target = args.target.clone().ok_or_else(|| {
                        anyhow!("--target is required with a model snapshot not written by `eddy learn`")
                    })?;
                    let encoder = ExampleEncoder::new(&target, s.model.task(), &header, &spec)
                        .map_err(setup_error)?;
                    (s.model, encoder, None, 0)
                }
            }
        }
        None => {
            let name = args
                .model
                .clone()
                .ok_or_else(|| anyhow!("--model is required (or --load a snapshot)"))?;
            let target = args
                .target
                .clone()
                .ok_or_else(|| anyhow!("--target is required (or --load a snapshot)"))?;
            let model = registry::build(&name, &params)
                .with_context(|| format!("cannot build model `{name}`"))?;
            let encoder =
                ExampleEncoder::new(&target, model.task(), &header, &spec).map_err(setup_error)?;
            (model, encoder, None, 0)
        }
    };
    let layout = encoder.layout(&header).map_err(setup_error)?;
    encoder.set_fill_missing(args.fill_missing)?;

    let metrics = build_metrics(&model, &args.metric)?;
    let detector = match &args.drift {
        Some(spec) => Some(build_detector(spec)?),
        None => saved_detector,
    };
    let mut run = PrequentialRun::new(model, metrics, detector, args.every, args.delay)?;

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // A drift line, then a report line, as a step brings them.
    let emit = |out: &mut std::io::BufWriter<_>, step: Step, run: &PrequentialRun| {
        if step.drift {
            let name = run.detector().map_or("", |d| d.name());
            writeln!(out, "{{\"n\":{},\"drift\":{}}}", step.n, json_str(name))
                .and_then(|_| out.flush())?;
        }
        if step.report {
            let mut s = format!("{{\"n\":{}", step.n);
            for m in run.metrics() {
                s.push_str(&format!(",{}:{}", json_str(m.label()), json_num(m.get())));
            }
            s.push('}');
            writeln!(out, "{s}").and_then(|_| out.flush())?;
        }
        Ok::<(), std::io::Error>(())
    };

    let mut row = Row::default();
    let mut fields: Vec<Field<'static>> = Vec::new();
    let mut skipped = 0u64;
    let mut report_bad = |e: &DecodeError| {
        skipped += 1;
        if skipped <= MAX_MESSAGES {
            let (line, msg) = (e.line, &e.msg);
            match &e.field {
                Some(c) => eprintln!("eddy learn: line {line}, column `{c}`: {msg}; row skipped"),
                None => eprintln!("eddy learn: line {line}: {msg}; row skipped"),
            }
            if skipped == MAX_MESSAGES {
                eprintln!("eddy learn: further bad rows are counted but not shown");
            }
        }
    };
    let width = header.len();
    let mut io_err: Option<std::io::Error> = None;
    let mut rows = reader.spawn();
    'batches: while let Some(batch) = rows.next()? {
        let mut f = std::mem::take(&mut fields);
        for rec in &batch.recs {
            let (line_no, first) = match rec {
                Err(e) => {
                    report_bad(e);
                    continue;
                }
                Ok(r) => *r,
            };
            batch.fields(first, width, &mut f);
            match encoder.encode(&f, &layout, &mut row) {
                Ok(y) => {
                    let step = run.step(&row, y);
                    if step.drift || step.report {
                        if let Err(e) = emit(&mut out, step, &run) {
                            io_err = Some(e);
                            break 'batches;
                        }
                    }
                }
                // A continuous target before any example learned: the whole column is
                // likely continuous, so the run stops rather than skip every row.
                Err(b) if run.n() == 0 && matches!(b.problem, Problem::NotAClassLabel(_)) => {
                    bail!("line {line_no}, column `{}`: {}", b.column, b.problem);
                }
                Err(b) => report_bad(&bad_row(b, line_no)),
            }
        }
        fields = reuse(f);
        rows.done(batch);
    }
    if io_err.is_none() {
        while let Some(step) = run.flush() {
            if let Err(e) = emit(&mut out, step, &run) {
                io_err = Some(e);
                break;
            }
        }
    }
    if let Some(e) = io_err {
        if is_broken_pipe(&e) {
            return Ok(());
        }
        return Err(e).context("writing stdout");
    }
    if run.n() == 0 && skipped == 0 {
        bail!("`{}` has a header but no data rows", args.data.display());
    }

    let examples = run.n();
    let examples_total = total_before + run.n_learned();
    // A diverged model (an infinite or NaN weight) is never saved: its snapshot could not
    // be loaded. Without --save it is said on stderr, as the run's metrics hide it.
    let diverged = run
        .model()
        .check_diverged()
        .err()
        .map(|e| format!("{e} ({examples_total} examples learned)"));
    if let Some(path) = &args.save {
        if let Some(d) = &diverged {
            bail!("not saving `{}`: {d}", path.display());
        }
        let extra = Checkpoint {
            encoder,
            detector: run.detector().cloned(),
            examples_total,
        };
        save_session(path, run.model(), &extra)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let mut summary = format!(
        "{{\"summary\":{{\"model\":{},\"examples\":{examples},\"skipped\":{skipped},\"drifts\":{},\"metrics\":{{",
        json_str(&run.model().name),
        run.n_drifts()
    );
    for (i, m) in run.metrics().iter().enumerate() {
        if i > 0 {
            summary.push(',');
        }
        summary.push_str(&format!("{}:{}", json_str(m.label()), json_num(m.get())));
    }
    summary.push_str(&format!(
        "}},\"seconds\":{},\"examples_per_s\":{}",
        json_num(secs),
        json_num((examples as f64 / secs.max(1e-9)).round())
    ));
    if args.load.is_some() {
        summary.push_str(&format!(",\"examples_total\":{examples_total}"));
    }
    summary.push_str("}}");
    if let Err(e) = writeln!(out, "{summary}").and_then(|_| out.flush()) {
        if !is_broken_pipe(&e) {
            return Err(e).context("writing stdout");
        }
    }
    if skipped > 0 {
        eprintln!("eddy learn: {skipped} bad row(s) skipped");
    }
    if let Some(d) = &diverged {
        eprintln!("eddy learn: warning: {d}");
    }
    let refused = run.refused();
    if refused > 0 {
        eprintln!("eddy learn: the model refused {refused} label(s)");
    }
    Ok(())
}

/// Empties a field vector so its allocation can hold fields of another lifetime.
fn reuse<'b>(mut v: Vec<Field<'_>>) -> Vec<Field<'b>> {
    v.clear();
    v.into_iter().map(|_| Field::Missing).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Every record of a file, read by [`Reader::fill_batch`]: a line and the cells, or the
    /// bad row's reason and message.
    fn read_all(path: &Path, max_record: usize) -> Vec<(u64, Result<Vec<String>, String>)> {
        let mut r = Reader::open(path, None).unwrap();
        r.max_record = max_record;
        let mut b = Batch::default();
        let mut out = Vec::new();
        while r.fill_batch(&mut b).unwrap() {
            let mut fields = Vec::new();
            for rec in &b.recs {
                out.push(match rec {
                    Ok((line, first)) => {
                        b.fields(*first, r.header.len(), &mut fields);
                        (*line, Ok(fields.iter().map(|f| format!("{f:?}")).collect()))
                    }
                    Err(e) => (e.line, Err(format!("{}: {}", e.reason, e.msg))),
                });
            }
        }
        out
    }

    #[test]
    fn reader_frames_records_and_survives_an_unclosed_quote() {
        let dir = std::env::temp_dir().join(format!("eddy-learn-reader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.csv");
        let text = |v: &[&str]| Ok(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // A quoted line break (CRLF), a blank line, a quote that closes three lines later.
        std::fs::write(
            &path,
            "\u{feff}a,b\r\n1,\"x\r\ny\"\r\n\r\n2,\"open\n3,z\n4,w\n5,\"q\"\"\"\n6,",
        )
        .unwrap();
        assert_eq!(
            read_all(&path, MAX_RECORD),
            vec![
                (2, text(&["NumText(\"1\", 1.0)", "Text(\"x\\r\\ny\")"])),
                (
                    5,
                    Err(
                        "malformed: malformed CSV: unexpected character after a closing quote \
                         at byte 20"
                            .into()
                    )
                ),
                (9, text(&["NumText(\"6\", 6.0)", "Text(\"\")"])),
            ]
        );
        // A quote never closed: to the end of the input, or, past the limit, a bad row and
        // reading goes on at its next line.
        std::fs::write(&path, "a,b\n1,\"x\n2,z\n3,w\n").unwrap();
        assert_eq!(
            read_all(&path, MAX_RECORD),
            vec![(
                2,
                Err("malformed: malformed CSV: unterminated quoted cell at byte 3".into())
            )]
        );
        let got = read_all(&path, 8);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].0, 2);
        let bad = got[0].1.as_ref().unwrap_err();
        assert!(
            bad.starts_with("too_large: a record longer than 8 bytes"),
            "{bad}"
        );
        assert_eq!(got[1], (3, text(&["NumText(\"2\", 2.0)", "Text(\"z\")"])));
        assert_eq!(got[2], (4, text(&["NumText(\"3\", 3.0)", "Text(\"w\")"])));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The same malformed CSV record is the same bad row (reason and message) to `eddy run`'s
    /// decoder and to this reader; learn names the column where the decoder cannot.
    #[test]
    fn bad_csv_rows_are_the_decoders() {
        let spec = eddy_runtime::PipelineSpec::parse(
            r#"
[source]
format = "csv"
key = "user"
timestamp = "ts"
timestamp_format = "epoch_ms"
[[feature]]
name = "n"
agg = "count"
window = { kind = "tumbling", size = "1m" }
"#,
        )
        .unwrap();
        let mut dec = eddy_runtime::decode::Decoder::new(&spec.source, &spec.schema);
        dec.read_header(b"user,ts,x").unwrap();
        let header = fields(&["user", "ts", "x"]);
        let mut csv = CsvParser::new();
        for rec in [
            &b"u,\"1000,2"[..],
            b"u,1000",
            b"u,1000,3,4",
            b"u,10\"00,2",
            b"\"u\"v,1000,2",
            b"u,1000,\"2\"\r\nx",
        ] {
            let mut ev = eddy_core::Event::default();
            let mut interner = eddy_core::Interner::new();
            let run = dec.decode(rec, 4, &mut ev, &mut interner).unwrap_err();
            let mut b = Batch::default();
            let learn = csv_row(&mut csv, &header, rec, 4, &mut b).unwrap_err();
            assert_eq!(
                (learn.line, learn.reason, &learn.msg),
                (run.line, run.reason, &run.msg)
            );
            assert_eq!(run.reason, DeadReason::Malformed);
            if run.msg.contains("byte") {
                assert!(learn.field.is_some(), "{learn}");
            }
        }
        // A good record is good to both, with its cells' numbers parsed.
        let mut b = Batch::default();
        csv_row(
            &mut csv,
            &header,
            b"\"u \"\"1\"\"\",1000, 2.5 \r\n",
            4,
            &mut b,
        )
        .unwrap();
        let mut out = Vec::new();
        b.fields(0, 3, &mut out);
        assert_eq!(
            format!("{out:?}"),
            r#"[Text("u \"1\""), NumText("1000", 1000.0), NumText(" 2.5 ", 2.5)]"#
        );
    }
}
