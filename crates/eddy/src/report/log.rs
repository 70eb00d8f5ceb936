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
    /// A JSON array, object or boolean (none is a value of a column the report reads).
    Other(String),
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
                .map(|obj| {
                    obj.into_iter()
                        .map(|(k, v)| {
                            let cell = match v {
                                serde_json::Value::Null => Cell::Null,
                                serde_json::Value::Number(x) => {
                                    Cell::Num(x.as_f64().unwrap_or(f64::NAN))
                                }
                                serde_json::Value::String(s) => Cell::Text(s),
                                other => Cell::Other(other.to_string()),
                            };
                            (k, cell)
                        })
                        .collect()
                })
                .map_err(|e| {
                    let what = if e.is_eof() {
                        " (the line ends early: cut off while being written?)"
                    } else {
                        ""
                    };
                    // serde's own "at line 1 column C": the line is ours, the column is said first
                    let msg = e.to_string();
                    let msg = msg
                        .rsplit_once(" at line ")
                        .map_or(msg.as_str(), |(m, _)| m);
                    format!("column {}: not a JSON object: {msg}{what}", e.column())
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
                Cell::Other(x) if text => Some(format!("expected a string or null, found {x}")),
                Cell::Other(x) if number || name == "n" => {
                    Some(format!("expected a number or null, found {x}"))
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "reason,n,serving,online_accuracy,online_accuracy_lo,online_accuracy_hi,\
                        baseline_accuracy,pending,action\n";

    #[test]
    fn jsonl_and_csv_give_the_same_columns() {
        let jsonl = "{\"reason\":\"every\",\"n\":100,\"serving\":\"baseline\",\"online_accuracy\":0.5,\"online_accuracy_lo\":null,\"online_accuracy_hi\":null,\"baseline_accuracy\":0.75,\"pending\":3,\"action\":null}\n\
                     {\"reason\":\"drift\",\"n\":150,\"serving\":\"baseline\",\"online_accuracy\":0.25,\"online_accuracy_lo\":0.125,\"online_accuracy_hi\":0.5,\"baseline_accuracy\":0.5,\"pending\":0,\"action\":\"reset\"}\n";
        let csv = format!("{HEAD}every,100,baseline,0.5,,,0.75,3,\ndrift,150,baseline,0.25,0.125,0.5,0.5,0,reset\n");
        for log in [
            Log::parse(jsonl.as_bytes(), None).unwrap(),
            Log::parse(csv.as_bytes(), None).unwrap(),
        ] {
            assert_eq!(log.n, vec![100, 150]);
            assert_eq!(log.skipped, 0);
            assert_eq!(log.numbers["online_accuracy"], vec![Some(0.5), Some(0.25)]);
            assert_eq!(log.numbers["online_accuracy_lo"], vec![None, Some(0.125)]);
            assert_eq!(log.numbers["pending"], vec![Some(3.0), Some(0.0)]);
            assert_eq!(log.texts["action"], vec![None, Some("reset".to_string())]);
            assert_eq!(log.last_text("serving"), Some("baseline"));
            assert_eq!(
                log.metrics(),
                vec![("accuracy".to_string(), vec!["online", "baseline"])]
            );
        }
    }

    #[test]
    fn a_cut_off_last_line_is_skipped_and_named() {
        let jsonl = b"{\"n\":1,\"online_mae\":2.5}\n{\"n\":2,\"online_mae\":3}\n{\"n\":3,\"onl";
        let log = Log::parse(jsonl, None).unwrap();
        assert_eq!(log.n, vec![1, 2]);
        assert_eq!(log.skipped, 1);
        assert_eq!(log.bad[0].line, 3);
        assert_eq!(
            log.bad[0].msg,
            "column 11: not a JSON object: EOF while parsing a string (the line ends early: \
             cut off while being written?)"
        );
        assert!(log.bad[0].msg.contains("cut off"), "{}", log.bad[0]);

        let csv = format!("{HEAD}every,100,online,0.5,,,0.75,3,\nevery,200,onl");
        let log = Log::parse(csv.as_bytes(), None).unwrap();
        assert_eq!((log.n.len(), log.skipped, log.bad[0].line), (1, 1, 3));
        assert!(
            log.bad[0].msg.contains("expected 9 columns"),
            "{}",
            log.bad[0]
        );
        assert!(log.bad[0].msg.contains("cut off"), "{}", log.bad[0]);
    }

    #[test]
    fn bad_rows_are_skipped_with_their_line_and_column() {
        let jsonl = "{\"n\":10}\n\
                     {\"reason\":\"every\"}\n\
                     {\"n\":-1}\n\
                     {\"n\":2.5}\n\
                     {\"n\":20,\"pending\":\"many\"}\n\
                     {\"n\":20,\"serving\":1}\n\
                     {\"n\":20,\"online_rmse\":[1]}\n\
                     \n\
                     {\"n\":5}\n\
                     {\"n\":30,\"who_knows\":[1,2],\"note\":\"x\"}\n";
        let log = Log::parse(jsonl.as_bytes(), None).unwrap();
        assert_eq!(log.n, vec![10, 30]);
        assert_eq!(log.lines, vec![1, 10]);
        assert!(log.texts.is_empty() && log.numbers.is_empty());
        let bad: Vec<String> = log.bad.iter().map(|b| b.to_string()).collect();
        assert_eq!(
            bad,
            vec![
                "line 2: column `n`: missing",
                "line 3: column `n`: expected a non-negative whole number",
                "line 4: column `n`: expected a non-negative whole number",
                "line 5: column `pending`: expected a number or null, found `many`",
                "line 6: column `serving`: expected a string or null, found a number",
                "line 7: column `online_rmse`: expected a number or null, found [1]",
                "line 9: column `n`: 5 is smaller than the row before (10); rows must be in \
                 the order they were written",
            ]
        );
        assert_eq!(log.skipped, 7);
    }

    #[test]
    fn a_log_with_no_row_is_refused() {
        let e = Log::parse(b"{\"n\":", None).unwrap_err().to_string();
        assert!(
            e.starts_with("no row could be read (1 bad line; the first: line 1:"),
            "{e}"
        );
        let e = Log::parse(b"reason,pending\nevery,1\n", None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "line 1: the header has no column `n` (is this a learning log?)"
        );
        let e = Log::parse(b"\n\n", None).unwrap_err().to_string();
        assert_eq!(e, "the log is empty: no header and no rows");
        let e = Log::parse(b"n,pending\n", None).unwrap_err().to_string();
        assert_eq!(e, "the log has no rows");
    }

    #[test]
    fn metrics_in_the_report_order() {
        let log = Log::parse(
            b"{\"n\":1,\"online_rmse\":1,\"online_mae\":1,\"online_zeta\":1,\"online_mae_lo\":0}\n",
            None,
        )
        .unwrap();
        let names: Vec<String> = log.metrics().into_iter().map(|(m, _)| m).collect();
        assert_eq!(names, vec!["mae", "rmse", "zeta"]);
    }
}
