//! `eddy learn`: prequential (test-then-train) evaluation of an online model over a CSV or
//! JSONL file, with optional drift detection, label delay and snapshots.
//!
//! Input: CSV with a header row (RFC 4180 quoting, one record per line) or JSON Lines (one
//! object per line; the first object's keys are the columns), chosen by the file extension
//! (`.csv`, `.jsonl`/`.ndjson`/`.json`) or `--format`.
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
//! category seen) or `categorical=hash` (`n_features`, `hash_seed`), and `--param
//! scaler=standard|minmax` on the numeric columns. An empty categorical cell is the category
//! `""`. Target: a number for regressors; for classifiers, labels that are non-negative
//! integers are used as class numbers, `true`/`false` map to 1/0, other labels are numbered in
//! order of first appearance. Binary metrics treat class 1 as positive.
//!
//! Bad rows — missing target, wrong field count, a non-number, empty value, NaN or infinity in
//! a numeric column — are skipped (never learned from), counted, and named on stderr with
//! their line and column (the first few; then only counted).
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
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use eddy_learn::drift::{self, AnyDetector};
use eddy_learn::metrics::{self, StreamMetric};
use eddy_learn::preprocessing::RawValue;
use eddy_learn::prequential::{class_scores_padded, Event, Learner, Prequential};
use eddy_learn::registry::{self, AnyModel, Params, Task};
use eddy_learn::{Detector, Metric};
use serde::{Deserialize, Serialize};

/// Bad-row messages shown before going quiet (the total is in the summary).
const MAX_MESSAGES: u64 = 10;
/// Largest integer class label accepted.
const MAX_CLASS: u64 = 10_000;

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
}

/// Which input columns are features (`--features`, `--ignore`).
#[derive(Debug, Default)]
pub struct ColumnSelect {
    pub only: Vec<String>,
    pub ignore: Vec<String>,
}

impl ColumnSelect {
    fn check(&self, header: &[String]) -> Result<()> {
        for (flag, names) in [("--features", &self.only), ("--ignore", &self.ignore)] {
            if let Some(c) = names.iter().find(|c| !header.contains(c)) {
                bail!(
                    "{flag} column `{c}` is not in the input; columns: {}",
                    header.join(", ")
                );
            }
        }
        Ok(())
    }

    fn keeps(&self, name: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|c| c == name))
            && !self.ignore.iter().any(|c| c == name)
    }
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
// Models: the registry's, fed raw rows (numbers and categories) so that its preprocessing
// (`scaler`, `categorical=onehot|hash`) applies.

/// One encoded row: a cell per feature column, in the encoder's column order.
#[derive(Clone, Debug, Default)]
pub struct Row {
    cells: Vec<Cell>,
}

#[derive(Clone, Debug)]
enum Cell {
    Num(f64),
    Cat(String),
}

/// A registry model scored and learned on [`Row`]s.
struct CliModel {
    model: AnyModel,
    /// Labels the model refused (cannot happen with the encoder's checks; counted anyway).
    refused: u64,
}

fn raw(row: &Row) -> Vec<RawValue<'_>> {
    row.cells
        .iter()
        .map(|c| match c {
            Cell::Num(v) => RawValue::Num(*v),
            Cell::Cat(s) => RawValue::Cat(s),
        })
        .collect()
}

impl Learner<Row> for CliModel {
    fn task(&self) -> Task {
        self.model.task()
    }
    fn score(&self, x: &Row, buf: &mut Vec<f64>) -> (f64, Option<f64>) {
        let x = raw(x);
        match self.model.task() {
            Task::Regression => (self.model.predict_raw(&x), None),
            Task::Classification => {
                self.model.predict_proba_raw(&x, buf);
                class_scores_padded(buf)
            }
        }
    }
    fn learn(&mut self, x: &Row, y: f64) {
        if self.model.learn_raw(&raw(x), y).is_err() {
            self.refused += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Feature and target encoding.

#[derive(Serialize, Deserialize, Clone, Debug)]
enum ColKind {
    /// No non-empty value seen yet.
    Undecided,
    Numeric,
    Categorical,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Column {
    name: String,
    kind: ColKind,
    /// Listed in `--categorical`.
    force_categorical: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
enum Labels {
    /// Class numbers as written (non-negative integers).
    Int,
    /// `false`/`true` → 0/1.
    Bool,
    /// Names numbered by first appearance.
    Names(Vec<String>),
}

/// Turns a row's fields into a dense feature vector and a target.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Encoder {
    target: String,
    task: TaskName,
    /// Feature columns, in input order, by name.
    columns: Vec<Column>,
    labels: Option<Labels>,
    /// Numbers parsed from the current row, by column.
    #[serde(skip)]
    nums: Vec<f64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum TaskName {
    Regression,
    Classification,
}

/// One field of a row: absent, a number (JSON), or text to interpret (CSV cell, JSON string).
#[derive(Clone, Copy, Debug)]
enum Field<'a> {
    Missing,
    Num(f64),
    Text(&'a str),
}

/// Why a row was skipped: which column and what was wrong.
#[derive(Debug)]
struct BadRow {
    column: String,
    msg: String,
}

impl Encoder {
    fn new(
        target: &str,
        task: Task,
        header: &[String],
        categorical: &[String],
        select: &ColumnSelect,
    ) -> Result<Self> {
        if !header.iter().any(|h| h == target) {
            bail!(
                "target column `{target}` is not in the input; columns: {}",
                header.join(", ")
            );
        }
        for c in categorical {
            if !header.iter().any(|h| h == c) {
                bail!("--categorical column `{c}` is not in the input");
            }
        }
        select.check(header)?;
        let columns = header
            .iter()
            .filter(|h| *h != target && select.keeps(h))
            .map(|h| Column {
                name: h.clone(),
                kind: ColKind::Undecided,
                force_categorical: categorical.contains(h),
            })
            .collect();
        Ok(Encoder {
            target: target.to_string(),
            task: match task {
                Task::Regression => TaskName::Regression,
                Task::Classification => TaskName::Classification,
            },
            columns,
            labels: None,
            nums: Vec::new(),
        })
    }

    /// Maps input columns (by header position) to the encoder's: `None` for the target.
    /// Fails when a known feature column is absent from this input.
    fn layout(&self, header: &[String]) -> Result<(Vec<Option<usize>>, usize)> {
        let mut map = Vec::with_capacity(header.len());
        let mut target = None;
        for (i, h) in header.iter().enumerate() {
            if *h == self.target {
                target = Some(i);
                map.push(None);
            } else {
                map.push(self.columns.iter().position(|c| c.name == *h));
            }
        }
        let target = target.ok_or_else(|| {
            anyhow!(
                "target column `{}` is not in the input; columns: {}",
                self.target,
                header.join(", ")
            )
        })?;
        for c in &self.columns {
            if !header.contains(&c.name) {
                bail!(
                    "column `{}` (seen by the saved model) is not in the input",
                    c.name
                );
            }
        }
        Ok((map, target))
    }

    /// Encodes a row: `fields` in input order, `map` from [`Encoder::layout`].
    /// On success `row` holds the features and the target is returned; on failure nothing
    /// about the encoder changed.
    fn encode(
        &mut self,
        fields: &[Field],
        map: &[Option<usize>],
        target_at: usize,
        row: &mut Row,
    ) -> Result<f64, BadRow> {
        let y = self.encode_target(fields[target_at])?;
        // Parse every numeric field before deciding any column type. A missing value in a
        // column whose type is not known yet is refused like one in a numeric column: its
        // type cannot be decided from it, and no value is invented for it.
        self.nums.resize(self.columns.len(), 0.0);
        for (f, col) in fields.iter().zip(map) {
            let Some(ci) = *col else { continue };
            let c = &self.columns[ci];
            if matches!(c.kind, ColKind::Undecided) && !c.force_categorical && is_missing(*f) {
                return Err(BadRow {
                    column: c.name.clone(),
                    msg: "missing value".into(),
                });
            }
            let numeric = match c.kind {
                ColKind::Numeric => true,
                ColKind::Categorical => false,
                ColKind::Undecided => !c.force_categorical && looks_numeric(*f),
            };
            if numeric {
                self.nums[ci] = number(*f, &c.name)?;
            }
        }
        row.cells.resize(self.columns.len(), Cell::Num(0.0));
        for (f, col) in fields.iter().zip(map) {
            let Some(ci) = *col else { continue };
            let c = &mut self.columns[ci];
            if let ColKind::Undecided = c.kind {
                c.kind = if !c.force_categorical && looks_numeric(*f) {
                    ColKind::Numeric
                } else {
                    ColKind::Categorical
                };
            }
            let cell = &mut row.cells[ci];
            match c.kind {
                ColKind::Numeric => *cell = Cell::Num(self.nums[ci]),
                ColKind::Categorical => {
                    if !matches!(cell, Cell::Cat(_)) {
                        *cell = Cell::Cat(String::new());
                    }
                    let Cell::Cat(s) = cell else { unreachable!() };
                    s.clear();
                    match f {
                        Field::Missing => {}
                        Field::Num(v) => s.push_str(&v.to_string()),
                        Field::Text(t) => s.push_str(t.trim()),
                    }
                }
                ColKind::Undecided => unreachable!("decided above"),
            }
        }
        Ok(y)
    }

    fn encode_target(&mut self, f: Field) -> Result<f64, BadRow> {
        let bad = |msg: String| BadRow {
            column: self.target.clone(),
            msg,
        };
        if self.task == TaskName::Regression {
            return number(f, &self.target);
        }
        let text: String = match f {
            Field::Missing => return Err(bad("missing target".into())),
            Field::Num(v) => v.to_string(),
            Field::Text(t) => t.trim().to_string(),
        };
        if text.is_empty() {
            return Err(bad("missing target".into()));
        }
        let as_int = text.parse::<u64>().ok().or_else(|| match f {
            Field::Num(v) if v >= 0.0 && v.fract() == 0.0 => Some(v as u64),
            _ => None,
        });
        let as_bool = match text.to_ascii_lowercase().as_str() {
            "true" => Some(1.0),
            "false" => Some(0.0),
            _ => None,
        };
        let labels = self.labels.get_or_insert_with(|| {
            if as_int.is_some() {
                Labels::Int
            } else if as_bool.is_some() {
                Labels::Bool
            } else {
                Labels::Names(Vec::new())
            }
        });
        match labels {
            Labels::Int => match as_int {
                Some(v) if v <= MAX_CLASS => Ok(v as f64),
                Some(v) => Err(bad(format!("class label {v} is above {MAX_CLASS}"))),
                None => Err(bad(format!(
                    "label `{text}` is not a non-negative integer like the earlier labels"
                ))),
            },
            Labels::Bool => as_bool.ok_or_else(|| {
                bad(format!(
                    "label `{text}` is not true/false like the earlier labels"
                ))
            }),
            Labels::Names(names) => match names.iter().position(|n| *n == text) {
                Some(i) => Ok(i as f64),
                None if (names.len() as u64) < MAX_CLASS => {
                    names.push(text);
                    Ok((names.len() - 1) as f64)
                }
                None => Err(bad(format!("more than {MAX_CLASS} distinct labels"))),
            },
        }
    }
}

/// Whether a column whose type is undecided reads this value as a number.
fn looks_numeric(f: Field) -> bool {
    match f {
        Field::Num(_) => true,
        Field::Text(t) => t.trim().parse::<f64>().is_ok(),
        Field::Missing => false,
    }
}

/// A finite number out of a field, or why not.
/// A JSON null, an absent key or an empty CSV cell.
fn is_missing(f: Field) -> bool {
    match f {
        Field::Missing => true,
        Field::Text(t) => t.trim().is_empty(),
        Field::Num(_) => false,
    }
}

fn number(f: Field, column: &str) -> Result<f64, BadRow> {
    let bad = |msg: String| BadRow {
        column: column.to_string(),
        msg,
    };
    let v = match f {
        Field::Missing => return Err(bad("missing value".into())),
        Field::Num(v) => v,
        Field::Text(t) => {
            let t = t.trim();
            if t.is_empty() {
                return Err(bad("missing value".into()));
            }
            t.parse::<f64>()
                .map_err(|_| bad(format!("`{t}` is not a number")))?
        }
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(bad(format!("{v} is not a finite number")))
    }
}

// ---------------------------------------------------------------------------------------------
// Readers.

/// Splits one CSV record into fields (RFC 4180 quotes; `""` inside quotes is a quote).
/// Field texts are written to `buf`; `spans` receives each field's `(start, end)` in `buf`.
fn split_csv(line: &str, buf: &mut String, spans: &mut Vec<(usize, usize)>) -> Result<(), String> {
    buf.clear();
    spans.clear();
    // Fast path, one byte scan: no quotes, so the fields are the text between commas.
    buf.push_str(line);
    let mut quoted = false;
    let mut start = 0;
    for (i, &b) in line.as_bytes().iter().enumerate() {
        if b == b',' {
            spans.push((start, i));
            start = i + 1;
        } else if b == b'"' {
            quoted = true;
            break;
        }
    }
    if !quoted {
        spans.push((start, line.len()));
        return Ok(());
    }
    buf.clear();
    spans.clear();
    let mut start = 0;
    let mut chars = line.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    buf.push('"');
                } else {
                    quoted = false;
                }
            } else {
                buf.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            spans.push((start, buf.len()));
            start = buf.len();
            at_start = true;
        } else {
            buf.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    spans.push((start, buf.len()));
    Ok(())
}

/// Reads rows from CSV or JSONL, handing each to `f` as fields in header order.
struct Reader {
    input: BufReader<File>,
    format: Format,
    header: Vec<String>,
    line: String,
    line_no: u64,
    buf: String,
    spans: Vec<(usize, usize)>,
    json: Vec<serde_json::Value>,
    /// JSONL: the first object (read for its keys) is still to be handed out as data.
    first_pending: bool,
}

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
            input: BufReader::with_capacity(1 << 16, file),
            format,
            header: Vec::new(),
            line: String::new(),
            line_no: 0,
            buf: String::new(),
            spans: Vec::new(),
            json: Vec::new(),
            first_pending: false,
        };
        // The header: the CSV first line, or the first JSON object's keys (kept for `next`).
        loop {
            if !r.read_line()? {
                bail!("`{}` is empty: no header and no data", path.display());
            }
            if !r.line.trim().is_empty() {
                break;
            }
        }
        match format {
            Format::Csv => {
                let line = std::mem::take(&mut r.line);
                split_csv(&line, &mut r.buf, &mut r.spans).map_err(|e| {
                    anyhow!("`{}` line {}: bad header: {e}", path.display(), r.line_no)
                })?;
                r.header = r.fields_text().map(|s| s.trim().to_string()).collect();
                if r.header.iter().any(String::is_empty) {
                    bail!(
                        "`{}` line {}: the header has an empty column name",
                        path.display(),
                        r.line_no
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
                let v: serde_json::Value = serde_json::from_str(&r.line).map_err(|e| {
                    anyhow!("`{}` line {}: not JSON: {e}", path.display(), r.line_no)
                })?;
                let obj = v.as_object().ok_or_else(|| {
                    anyhow!("`{}` line {}: not a JSON object", path.display(), r.line_no)
                })?;
                let mut flat = serde_json::Map::new();
                flatten_into("", obj.clone(), &mut flat);
                r.header = flat.keys().cloned().collect();
                // The first line is data too: `next` hands it out first.
                r.first_pending = true;
            }
        }
        Ok(r)
    }

    fn fields_text(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(move |&(a, b)| &self.buf[a..b])
    }

    fn read_line(&mut self) -> Result<bool> {
        self.line.clear();
        let n = self
            .input
            .read_line(&mut self.line)
            .context("reading the input")?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        while self.line.ends_with('\n') || self.line.ends_with('\r') {
            self.line.pop();
        }
        if self.line_no == 1 && self.line.starts_with('\u{feff}') {
            self.line.drain(..'\u{feff}'.len_utf8());
        }
        Ok(true)
    }

    /// The next non-blank row with its line number: fields in `out` (`Ok`), a malformed row
    /// (`Err`), or `None` at the end.
    fn next<'a>(
        &'a mut self,
        out: &mut Vec<Field<'a>>,
    ) -> Result<Option<(u64, Result<(), String>)>> {
        if self.first_pending {
            // The first JSON line, already in `self.line`.
            self.first_pending = false;
        } else {
            loop {
                if !self.read_line()? {
                    return Ok(None);
                }
                if !self.line.trim().is_empty() {
                    break;
                }
            }
        }
        out.clear();
        match self.format {
            Format::Csv => {
                if let Err(e) = split_csv(&self.line, &mut self.buf, &mut self.spans) {
                    return Ok(Some((self.line_no, Err(e))));
                }
                if self.spans.len() != self.header.len() {
                    return Ok(Some((
                        self.line_no,
                        Err(format!(
                            "expected {} fields, found {}",
                            self.header.len(),
                            self.spans.len()
                        )),
                    )));
                }
                for &(a, b) in &self.spans {
                    out.push(Field::Text(&self.buf[a..b]));
                }
            }
            Format::Jsonl => {
                let v: serde_json::Value = match serde_json::from_str(&self.line) {
                    Ok(v) => v,
                    Err(e) => return Ok(Some((self.line_no, Err(format!("not JSON: {e}"))))),
                };
                let serde_json::Value::Object(nested) = v else {
                    return Ok(Some((self.line_no, Err("not a JSON object".into()))));
                };
                let mut obj = serde_json::Map::new();
                flatten_into("", nested, &mut obj);
                self.json.clear();
                for h in &self.header {
                    self.json
                        .push(obj.remove(h).unwrap_or(serde_json::Value::Null));
                }
                for v in &self.json {
                    out.push(match v {
                        serde_json::Value::Null => Field::Missing,
                        serde_json::Value::Bool(b) => Field::Num(*b as u8 as f64),
                        serde_json::Value::Number(n) => Field::Num(n.as_f64().unwrap_or(f64::NAN)),
                        serde_json::Value::String(s) => Field::Text(s),
                        _ => Field::Text("<nested JSON value>"),
                    });
                }
            }
        }
        Ok(Some((self.line_no, Ok(()))))
    }
}

/// Flattens nested objects to dotted keys (`{"a": {"b": 1}}` → `a.b`); arrays are dropped.
fn flatten_into(
    prefix: &str,
    obj: serde_json::Map<String, serde_json::Value>,
    out: &mut serde_json::Map<String, serde_json::Value>,
) {
    for (k, v) in obj {
        let name = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            serde_json::Value::Object(inner) => flatten_into(&name, inner, out),
            serde_json::Value::Array(_) => {}
            scalar => {
                out.insert(name, scalar);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions (snapshots) and the run.

/// `--save` writes the model registry's own snapshot (what `AnyModel::load` and pipelines
/// read) with one more top-level section, `eddy_learn`, holding what continuing needs: the
/// column encoder (types, label numbering), the detector and the example count. `--load`
/// reads such a file, or a plain model snapshot (then `--target` is needed).
#[derive(Serialize, Deserialize)]
struct SessionExtra {
    encoder: Encoder,
    detector: Option<AnyDetector>,
    /// Examples learned over every run of this session.
    examples_total: u64,
}

struct Session {
    model: AnyModel,
    extra: Option<SessionExtra>,
}

fn load_session(path: &Path) -> Result<Session> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read snapshot `{}`", path.display()))?;
    let model = AnyModel::from_snapshot_str(&text)
        .map_err(|e| anyhow!("snapshot `{}`: {e}", path.display()))?;
    #[derive(Deserialize)]
    struct Extra {
        eddy_learn: Option<SessionExtra>,
    }
    let extra: Extra = serde_json::from_str(&text)
        .with_context(|| format!("snapshot `{}`: bad `eddy_learn` section", path.display()))?;
    Ok(Session {
        model,
        extra: extra.eddy_learn,
    })
}

fn save_session(path: &Path, model: &AnyModel, extra: &SessionExtra) -> Result<()> {
    let mut v: serde_json::Value = serde_json::from_str(&model.to_snapshot_string()?)?;
    v["eddy_learn"] = serde_json::to_value(extra)?;
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
    let loaded: Option<Session> = match &args.load {
        None => None,
        Some(p) => Some(load_session(p)?),
    };
    let mut reader = Reader::open(&args.data, args.format)?;
    let header = reader.header.clone();
    if let Some(v) = args.fill_missing.filter(|v| !v.is_finite()) {
        bail!("--fill-missing must be a finite number, not {v}");
    }
    let select = ColumnSelect {
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
                        if *t != x.encoder.target {
                            bail!(
                                "--target `{t}` differs from the snapshot's target `{}`",
                                x.encoder.target
                            );
                        }
                    }
                    if !args.categorical.is_empty()
                        || !select.only.is_empty()
                        || !select.ignore.is_empty()
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
                    let encoder =
                        Encoder::new(&target, s.model.task(), &header, &args.categorical, &select)?;
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
            let encoder = Encoder::new(&target, model.task(), &header, &args.categorical, &select)?;
            (model, encoder, None, 0)
        }
    };
    let model_name = model.name.clone();
    let task = model.task();
    let mut model = CliModel { model, refused: 0 };
    let (map, target_at) = encoder.layout(&header)?;

    let specs: Vec<String> = if args.metric.is_empty() {
        match task {
            Task::Classification => vec!["accuracy".into()],
            Task::Regression => vec!["mae".into(), "rmse".into()],
        }
    } else {
        args.metric.clone()
    };
    let mut ms = Vec::new();
    for s in &specs {
        let m: StreamMetric = metrics::build(s)?;
        if m.kind().task() != task {
            bail!(
                "metric `{s}` is for {} but `{model_name}` is a {}",
                task_word(m.kind().task()),
                task_word(task)
            );
        }
        ms.push(m);
    }
    let detector = match &args.drift {
        Some(spec) => Some(build_detector(spec)?),
        None => saved_detector,
    };
    if let Some(d) = &detector {
        if d.is_binary() && task == Task::Regression {
            bail!(
                "detector `{}` watches 0/1 mistakes; a regressor's errors are real numbers: use adwin, page_hinkley or kswin",
                d.name()
            );
        }
    }

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io_err: std::cell::RefCell<Option<std::io::Error>> = Default::default();
    let mut emit = |e: Event| {
        if io_err.borrow().is_some() {
            return;
        }
        let line = match e {
            Event::Report { n, metrics } => {
                let mut s = format!("{{\"n\":{n}");
                for m in metrics {
                    s.push_str(&format!(",{}:{}", json_str(m.label()), json_num(m.get())));
                }
                s.push('}');
                s
            }
            Event::Drift { n, detector } => {
                format!("{{\"n\":{n},\"drift\":{}}}", json_str(detector))
            }
            Event::Warning { .. } => return,
        };
        if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
            *io_err.borrow_mut() = Some(e);
        }
    };

    let mut preq: Prequential<Row> = Prequential::new(ms, detector, args.every, args.delay);
    let mut row = Row::default();
    let mut fields: Vec<Field> = Vec::new();
    let mut skipped = 0u64;
    let mut report_bad = |line: u64, column: Option<&str>, msg: &str| {
        skipped += 1;
        if skipped <= MAX_MESSAGES {
            match column {
                Some(c) => eprintln!("eddy learn: line {line}, column `{c}`: {msg}; row skipped"),
                None => eprintln!("eddy learn: line {line}: {msg}; row skipped"),
            }
            if skipped == MAX_MESSAGES {
                eprintln!("eddy learn: further bad rows are counted but not shown");
            }
        }
    };
    let mut rows = 0u64;
    loop {
        let mut f = std::mem::take(&mut fields);
        match reader.next(&mut f)? {
            None => break,
            Some((line_no, Err(msg))) => report_bad(line_no, None, &msg),
            Some((line_no, Ok(()))) => {
                rows += 1;
                if let Some(fill) = args.fill_missing {
                    for (i, field) in f.iter_mut().enumerate() {
                        if i != target_at && is_missing(*field) {
                            *field = Field::Num(fill);
                        }
                    }
                }
                match encoder.encode(&f, &map, target_at, &mut row) {
                    Ok(y) => preq.step(&mut model, &row, y, &mut emit),
                    Err(b) => report_bad(line_no, Some(&b.column), &b.msg),
                }
            }
        }
        fields = reuse(f);
        if io_err.borrow().is_some() {
            break;
        }
    }
    let _ = rows;
    preq.finish(&mut model, &mut emit);
    if let Some(e) = io_err.into_inner() {
        if is_broken_pipe(&e) {
            return Ok(());
        }
        return Err(e).context("writing stdout");
    }
    if preq.n() == 0 && skipped == 0 {
        bail!("`{}` has a header but no data rows", args.data.display());
    }

    let examples = preq.n();
    let refused = model.refused;
    if let Some(path) = &args.save {
        let extra = SessionExtra {
            encoder,
            detector: preq.detector().cloned(),
            examples_total: total_before + preq.n_learned(),
        };
        save_session(path, &model.model, &extra)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let mut summary = format!(
        "{{\"summary\":{{\"model\":{},\"examples\":{examples},\"skipped\":{skipped},\"drifts\":{},\"metrics\":{{",
        json_str(&model_name),
        preq.n_drifts()
    );
    for (i, m) in preq.metrics().iter().enumerate() {
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
        summary.push_str(&format!(
            ",\"examples_total\":{}",
            total_before + preq.n_learned()
        ));
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

fn task_word(t: Task) -> &'static str {
    match t {
        Task::Regression => "regression",
        Task::Classification => "classification",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn csv_split_handles_quotes() {
        let (mut buf, mut spans) = (String::new(), Vec::new());
        let mut split = |line: &str| -> Vec<String> {
            split_csv(line, &mut buf, &mut spans).unwrap();
            spans.iter().map(|&(a, b)| buf[a..b].to_string()).collect()
        };
        assert_eq!(
            split(r#"a,"b,c","say ""hi""",,d"#),
            vec!["a", "b,c", "say \"hi\"", "", "d"]
        );
        assert_eq!(split("1,,2.5,x"), vec!["1", "", "2.5", "x"]);
        assert_eq!(split(""), vec![""]);
        assert!(split_csv(r#"a,"b"#, &mut buf, &mut spans).is_err());
    }

    #[test]
    fn encoder_types_columns_and_refuses_bad_rows() {
        let header = fields(&["x", "color", "y"]);
        let mut enc = Encoder::new(
            "y",
            Task::Classification,
            &header,
            &[],
            &ColumnSelect::default(),
        )
        .unwrap();
        let (map, t) = enc.layout(&header).unwrap();
        let mut r = Row::default();
        let row = |a: &'static str, b: &'static str, c: &'static str| {
            vec![Field::Text(a), Field::Text(b), Field::Text(c)]
        };
        let show = |r: &Row| format!("{:?}", r.cells);
        assert_eq!(
            enc.encode(&row("1.5", "red", "1"), &map, t, &mut r).ok(),
            Some(1.0)
        );
        assert_eq!(show(&r), r#"[Num(1.5), Cat("red")]"#);
        assert_eq!(
            enc.encode(&row("2", "7", "0"), &map, t, &mut r).ok(),
            Some(0.0)
        );
        assert_eq!(
            show(&r),
            r#"[Num(2.0), Cat("7")]"#,
            "a categorical column stays one"
        );
        let e = enc
            .encode(&row("abc", "green", "1"), &map, t, &mut r)
            .unwrap_err();
        assert_eq!(
            (e.column.as_str(), e.msg.as_str()),
            ("x", "`abc` is not a number")
        );
        assert!(enc
            .encode(&row("NaN", "red", "1"), &map, t, &mut r)
            .is_err());
        assert!(enc
            .encode(&row("inf", "red", "1"), &map, t, &mut r)
            .is_err());
        assert!(enc.encode(&row("", "red", "1"), &map, t, &mut r).is_err());
        assert!(enc.encode(&row("1", "red", ""), &map, t, &mut r).is_err());
        // The first labels were integers: a name is refused.
        assert!(enc
            .encode(&row("1", "red", "cat"), &map, t, &mut r)
            .is_err());
        // Named labels are numbered by first appearance; booleans map to 0/1.
        let mut named = Encoder::new(
            "y",
            Task::Classification,
            &header,
            &[],
            &ColumnSelect::default(),
        )
        .unwrap();
        let ys: Vec<f64> = ["no", "yes", "no", "maybe"]
            .iter()
            .map(|l| named.encode_target(Field::Text(l)).ok().unwrap())
            .collect();
        assert_eq!(ys, vec![0.0, 1.0, 0.0, 2.0]);
        let mut b = Encoder::new(
            "y",
            Task::Classification,
            &header,
            &[],
            &ColumnSelect::default(),
        )
        .unwrap();
        assert_eq!(b.encode_target(Field::Text("False")).ok(), Some(0.0));
        assert_eq!(b.encode_target(Field::Text("TRUE")).ok(), Some(1.0));
    }
}
