//! Reading a learning log (the `output.learning` of `eddy run`) into columns for the report.
//!
//! JSON Lines (one object per line) or CSV with a header (the same columns). Only `n` is
//! required: every other column may be absent (a log from an older or newer eddy, a run with
//! no baseline), and columns this reader does not know are ignored, except `online_*` and
//! `baseline_*`, which are metrics whatever their name. A bad line (malformed, a missing or
//! decreasing `n`, a number column holding text) is skipped, counted and named with its line
//! and column, so the half-written last line of a live run's log does not stop a report.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use eddy_runtime::codec::csv::{column_count_error, csv_record_end, CsvFraming, CsvParser};

/// Columns holding text; every other known or metric column holds numbers.
pub const TEXT_COLUMNS: [&str; 5] = ["reason", "event_time", "serving", "diff_metric", "action"];

/// Columns holding numbers besides the arms' metrics.
pub const NUMBER_COLUMNS: [&str; 15] = [
    "version",
    "diff",
    "diff_lo",
    "diff_hi",
    "delay_p50_ms",
    "delay_p99_ms",
    "pending",
    "expired",
    "defaulted",
    "duplicate_labels",
    "unknown_labels",
    "drifts",
    "actions",
    "promotions",
    "rollbacks",
];

/// The arms, in the order the report shows them.
pub const ARMS: [&str; 2] = ["online", "baseline"];

/// Bad lines kept with their message (the rest are only counted).
pub const KEPT_BAD_LINES: usize = 10;

/// The two encodings of a learning log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

/// A line that was skipped, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    pub line: u64,
    pub msg: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

/// A log's good rows, column by column (every column as long as `n`; `None` where a row had
/// no value).
#[derive(Debug, Default)]
pub struct Log {
    pub n: Vec<u64>,
    /// The line each row came from.
    pub lines: Vec<u64>,
    pub numbers: BTreeMap<String, Vec<Option<f64>>>,
    pub texts: BTreeMap<String, Vec<Option<String>>>,
    /// Lines skipped, and the first [`KEPT_BAD_LINES`] of them.
    pub skipped: u64,
    pub bad: Vec<BadLine>,
}

/// One value of a row before it is stored.
enum Cell {
    Null,
    Num(f64),
    Text(String),
}

impl Log {
    /// Reads a log from its bytes; `None` format: told by the first non-blank byte (`{` is
    /// JSON Lines). Fails only when no row is left.
    pub fn parse(bytes: &[u8], format: Option<Format>) -> Result<Log> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let format =
            format.unwrap_or_else(|| match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'{') => Format::Jsonl,
                _ => Format::Csv,
            });
        let mut log = Log::default();
        match format {
            Format::Jsonl => log.read_jsonl(bytes),
            Format::Csv => log.read_csv(bytes)?,
        }
        if log.n.is_empty() {
            match log.bad.first() {
                Some(first) => bail!(
                    "no row could be read ({} bad line{}; the first: {first})",
                    log.skipped,
                    if log.skipped == 1 { "" } else { "s" }
                ),
                None => bail!("the log has no rows"),
            }
        }
        Ok(log)
    }

    fn read_jsonl(&mut self, bytes: &[u8]) {
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line_no = i as u64 + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let row = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line)
                .map_err(|e| {
                    let what = if e.is_eof() {
                        " (the line ends early: cut off while being written?)"
                    } else {
                        ""
                    };
                    format!("column {}: not a JSON object: {e}{what}", e.column())
                })
                .and_then(|obj| {
                    obj.into_iter()
                        .map(|(k, v)| {
                            let cell = match v {
                                serde_json::Value::Null => Cell::Null,
                                serde_json::Value::Number(x) => {
                                    Cell::Num(x.as_f64().unwrap_or(f64::NAN))
                                }
                                serde_json::Value::String(s) => Cell::Text(s),
                                other => {
                                    return Err(format!(
                                        "column `{k}`: expected a number, a string or null, \
                                         found {other}"
                                    ))
                                }
                            };
                            Ok((k, cell))
                        })
                        .collect::<Result<Vec<_>, String>>()
                });
            match row {
                Ok(cells) => self.push(line_no, cells),
                Err(msg) => self.skip(line_no, msg),
            }
        }
    }

    fn read_csv(&mut self, bytes: &[u8]) -> Result<()> {
        let mut parser = CsvParser::new();
        let mut framing = CsvFraming::new();
        let (mut pos, mut line_no) = (0usize, 1u64);
        let mut header: Option<Vec<String>> = None;
        while pos < bytes.len() {
            let (end, lines) = match csv_record_end(&bytes[pos..], &mut framing) {
                Some((end, lines)) => (pos + end, lines),
                None => (bytes.len(), framing.pending_newlines() + 1),
            };
            let (record, line) = (&bytes[pos..end], line_no);
            pos = end;
            line_no += lines;
            if record.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let rec = match parser.parse(record) {
                Ok(rec) => rec,
                Err(e) if header.is_some() => {
                    self.skip(line, e.at_line(line).msg);
                    continue;
                }
                Err(e) => bail!("line {line}: bad header: malformed CSV: {e}"),
            };
            let Some(cells) = rec.str_cells() else {
                match header {
                    Some(_) => self.skip(line, "not UTF-8".into()),
                    None => bail!("line {line}: the header is not UTF-8"),
                }
                continue;
            };
            let Some(names) = &header else {
                let names: Vec<String> = cells.map(|c| c.trim().to_string()).collect();
                if !names.iter().any(|c| c == "n") {
                    bail!("line {line}: the header has no column `n` (is this a learning log?)");
                }
                header = Some(names);
                continue;
            };
            if cells.len() != names.len() {
                let e = column_count_error(line, names.len(), cells.len());
                let cut = if pos >= bytes.len() && cells.len() < names.len() {
                    " (the last line ends early: cut off while being written?)"
                } else {
                    ""
                };
                self.skip(line, format!("{}{cut}", e.msg));
                continue;
            }
            let row = names
                .iter()
                .zip(cells)
                .map(|(name, text)| {
                    let text = text.trim();
                    let cell = if text.is_empty() || text == "null" {
                        Cell::Null
                    } else if is_text(name) {
                        Cell::Text(text.to_string())
                    } else {
                        match text.parse::<f64>() {
                            Ok(v) => Cell::Num(v),
                            Err(_) => Cell::Text(text.to_string()),
                        }
                    };
                    (name.clone(), cell)
                })
                .collect();
            self.push(line, row);
        }
        if header.is_none() {
            bail!("the log is empty: no header and no rows");
        }
        Ok(())
    }

    /// Checks a row's values against their columns and stores it, or skips the line.
    fn push(&mut self, line: u64, cells: Vec<(String, Cell)>) {
        let mut n = None;
        for (name, cell) in &cells {
            let text = is_text(name);
            let number = !text && is_number(name);
            let bad = match cell {
                Cell::Null => None,
                Cell::Num(_) if text => Some("expected a string or null, found a number".into()),
                Cell::Text(s) if number || name == "n" => {
                    Some(format!("expected a number or null, found `{s}`"))
                }
                Cell::Num(v) if !v.is_finite() => Some("not a finite number".to_string()),
                _ => None,
            };
            if let Some(msg) = bad {
                return self.skip(line, format!("column `{name}`: {msg}"));
            }
            if name == "n" {
                n = Some(cell);
            }
        }
        let n = match n {
            None | Some(Cell::Null) => return self.skip(line, "column `n`: missing".into()),
            Some(Cell::Num(v)) if *v >= 0.0 && v.fract() == 0.0 && *v < 2f64.powi(53) => *v as u64,
            Some(_) => {
                return self.skip(
                    line,
                    "column `n`: expected a non-negative whole number".into(),
                )
            }
        };
        if let Some(&last) = self.n.last() {
            if n < last {
                return self.skip(
                    line,
                    format!(
                        "column `n`: {n} is smaller than the row before ({last}); rows must \
                         be in the order they were written"
                    ),
                );
            }
        }
        let row = self.n.len();
        self.n.push(n);
        self.lines.push(line);
        for (name, cell) in cells {
            match cell {
                Cell::Text(s) if is_text(&name) => {
                    column(&mut self.texts, &name, row)[row] = Some(s)
                }
                Cell::Num(v) if is_number(&name) => {
                    column(&mut self.numbers, &name, row)[row] = Some(v)
                }
                Cell::Null if is_text(&name) => {
                    column(&mut self.texts, &name, row);
                }
                Cell::Null if is_number(&name) => {
                    column(&mut self.numbers, &name, row);
                }
                _ => {}
            }
        }
        let rows = self.n.len();
        for c in self.numbers.values_mut() {
            c.resize(rows, None);
        }
        for c in self.texts.values_mut() {
            c.resize(rows, None);
        }
    }

    fn skip(&mut self, line: u64, msg: String) {
        self.skipped += 1;
        if self.bad.len() < KEPT_BAD_LINES {
            self.bad.push(BadLine { line, msg });
        }
    }

    /// The metrics the log has, in the report's order (classification, then regression, then
    /// any other by name), each with the arms that have it.
    pub fn metrics(&self) -> Vec<(String, Vec<&'static str>)> {
        const ORDER: [&str; 5] = ["accuracy", "log_loss", "roc_auc", "mae", "rmse"];
        let mut found: Vec<String> = Vec::new();
        for name in self.numbers.keys() {
            for arm in ARMS {
                let Some(metric) = name.strip_prefix(arm).and_then(|m| m.strip_prefix('_')) else {
                    continue;
                };
                if metric.ends_with("_lo") || metric.ends_with("_hi") {
                    continue;
                }
                if !found.iter().any(|m| m == metric) {
                    found.push(metric.to_string());
                }
            }
        }
        found.sort_by_key(|m| {
            (
                ORDER.iter().position(|o| o == m).unwrap_or(ORDER.len()),
                m.clone(),
            )
        });
        found
            .into_iter()
            .map(|m| {
                let arms = ARMS
                    .into_iter()
                    .filter(|arm| self.numbers.contains_key(&format!("{arm}_{m}")))
                    .collect();
                (m, arms)
            })
            .collect()
    }

    /// A number column's last value, if any row has one.
    pub fn last_number(&self, name: &str) -> Option<f64> {
        self.numbers.get(name)?.iter().rev().find_map(|v| *v)
    }

    /// A text column's last value, if any row has one.
    pub fn last_text(&self, name: &str) -> Option<&str> {
        self.texts
            .get(name)?
            .iter()
            .rev()
            .find_map(|v| v.as_deref())
    }
}

fn is_text(name: &str) -> bool {
    TEXT_COLUMNS.contains(&name)
}

/// A column holding numbers: a known one or an arm's metric.
fn is_number(name: &str) -> bool {
    NUMBER_COLUMNS.contains(&name)
        || ARMS.iter().any(|arm| {
            name.strip_prefix(arm)
                .is_some_and(|m| m.starts_with('_') && m.len() > 1)
        })
}

/// The column `name`, made (all `None` up to `row`) if it is new.
fn column<'a, T: Clone>(
    columns: &'a mut BTreeMap<String, Vec<Option<T>>>,
    name: &str,
    row: usize,
) -> &'a mut Vec<Option<T>> {
    let c = columns.entry(name.to_string()).or_default();
    c.resize(row + 1, None);
    c
}
