//! The label stream: `{id, label, timestamp}` records read and decoded on a thread of their
//! own, handed to the learn stage in batches, in the order read. A record that cannot be
//! read as a label becomes a dead letter naming the stream and its line.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use eddy_core::time::TimestampFormat;
use eddy_learn::tabular::{Field, LabelMap};
use eddy_learn::Task;

use crate::codec::csv::CsvParser;
use crate::connector::{Batch, Framing};
use crate::decode::{event_id_hash, parse_float, ts_from_text};
use crate::encode;
use crate::error::RuntimeError;
use crate::json::{scan_object, unescape, Kind};
use crate::spec::{InputFormat, LabelStreamSpec, OutputFormat};

/// One label: the event's id ([`event_id_hash`]), the label (a class number or a target)
/// and the time it became known (event time, ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Label {
    pub id: u64,
    pub value: f64,
    pub ts: i64,
}

/// Labels read together, with the dead letters of the records that were not labels.
#[derive(Debug, Default)]
pub struct LabelBatch {
    pub labels: Vec<Label>,
    /// Class names seen for the first time in this batch, in class-number order (string
    /// labels).
    pub new_names: Vec<String>,
    pub dead: Vec<u8>,
    pub bad: u64,
}

/// The reading thread and what it sends.
pub struct LabelReader {
    rx: Receiver<Result<LabelBatch, RuntimeError>>,
    thread: Option<JoinHandle<()>>,
    pub name: String,
}

impl LabelReader {
    /// Opens the stream and starts reading it. `task`: whether labels are classes or targets.
    pub fn start(
        spec: &LabelStreamSpec,
        task: Task,
        dead_letters: Option<OutputFormat>,
    ) -> Result<LabelReader, RuntimeError> {
        let framing = match spec.format {
            InputFormat::Jsonl => Framing::Lines,
            InputFormat::Csv => Framing::Csv,
        };
        let mut source = spec
            .connector
            .open(framing, crate::connector::stream::MAX_RECORD_BYTES)?;
        let name = format!("labels {}", source.name());
        let mut decoder = LabelDecoder::new(spec, task, name.clone(), dead_letters);
        let (tx, rx) = sync_channel(4);
        let thread = std::thread::Builder::new()
            .name("eddy-labels".into())
            .spawn(move || {
                let mut batch = Batch::default();
                loop {
                    batch.clear();
                    let more = match source.next_batch(&mut batch) {
                        Ok(m) => m,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let out = decoder.decode(&batch);
                    if tx.send(Ok(out)).is_err() || !more {
                        return;
                    }
                }
            })
            .map_err(|e| RuntimeError::Io {
                context: "starting the label reader".into(),
                source: e,
            })?;
        Ok(LabelReader {
            rx,
            thread: Some(thread),
            name,
        })
    }

    /// The next batch; `None` at the end of the stream. Blocks until it is read.
    pub fn next_batch(&mut self) -> Result<Option<LabelBatch>, RuntimeError> {
        match self.rx.recv() {
            Ok(b) => b.map(Some),
            Err(_) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
                Ok(None)
            }
        }
    }
}

/// Decodes label records.
struct LabelDecoder {
    format: InputFormat,
    id: String,
    label: String,
    timestamp: String,
    ts_format: TimestampFormat,
    task: Task,
    classes: LabelMap,
    names_known: usize,
    name: String,
    dead_letters: Option<OutputFormat>,
    csv: CsvParser,
    /// CSV: the columns of id, label and timestamp, once the header is read.
    columns: Option<[usize; 3]>,
    scratch: Vec<u8>,
}

impl LabelDecoder {
    fn new(
        spec: &LabelStreamSpec,
        task: Task,
        name: String,
        dead_letters: Option<OutputFormat>,
    ) -> Self {
        LabelDecoder {
            format: spec.format,
            id: spec.id.clone(),
            label: spec.label.clone(),
            timestamp: spec.timestamp.clone(),
            ts_format: spec.timestamp_format,
            task,
            classes: LabelMap::new(),
            names_known: 0,
            name,
            dead_letters,
            csv: CsvParser::new(),
            columns: None,
            scratch: Vec::new(),
        }
    }

    fn decode(&mut self, batch: &Batch) -> LabelBatch {
        let mut out = LabelBatch::default();
        for (line, rec) in batch.records() {
            if rec.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let r = match self.format {
                InputFormat::Jsonl => self.json(rec),
                InputFormat::Csv => self.csv(rec),
            };
            match r {
                Ok(Some(l)) => out.labels.push(l),
                Ok(None) => {} // the CSV header
                Err(msg) => {
                    out.bad += 1;
                    if let Some(f) = self.dead_letters {
                        let place = batch.place(line);
                        let msg = format!("{} {place}: {msg}", self.name);
                        encode::dead_letter(f, &mut out.dead, rec, place, &msg);
                    }
                }
            }
        }
        for o in &batch.oversized {
            out.bad += 1;
            if let Some(f) = self.dead_letters {
                let place = batch.place(o.offset);
                let msg = format!("{} {place}: the record is too long", self.name);
                encode::dead_letter(f, &mut out.dead, &o.preview, place, &msg);
            }
        }
        if let Some(eddy_learn::tabular::Labels::Names(names)) = self.classes.labels() {
            out.new_names
                .extend(names[self.names_known..].iter().cloned());
            self.names_known = names.len();
        }
        out
    }

    fn json(&mut self, rec: &[u8]) -> Result<Option<Label>, String> {
        let (mut id, mut value, mut ts) = (None, None, None);
        let mut err = None;
        let r = scan_object(rec, |key, kind, val| {
            let r = if key == self.id.as_bytes() {
                match kind {
                    Kind::Str { .. } | Kind::Num { int: true } => {
                        id = Some(event_id_hash(val));
                        Ok(())
                    }
                    Kind::Null => Ok(()),
                    k => Err(format!(
                        "`{}`: expected a string or integer event id, found {}",
                        self.id,
                        k.describe()
                    )),
                }
            } else if key == self.label.as_bytes() {
                self.json_label(kind, val).map(|v| value = v)
            } else if key == self.timestamp.as_bytes() {
                self.json_ts(kind, val).map(|t| ts = Some(t))
            } else {
                Ok(())
            };
            r.map_err(|e| err = Some(e))
        });
        if let Some(e) = err {
            return Err(e);
        }
        if let Err(e) = r {
            return Err(format!("not a JSON object: {} at byte {}", e.msg, e.pos));
        }
        self.complete(id, value, ts).map(Some)
    }

    fn complete(
        &self,
        id: Option<u64>,
        value: Option<f64>,
        ts: Option<i64>,
    ) -> Result<Label, String> {
        let id = id.ok_or_else(|| format!("no event id (`{}`)", self.id))?;
        let value = value.ok_or_else(|| format!("no label (`{}`)", self.label))?;
        let ts = ts.ok_or_else(|| format!("no time (`{}`)", self.timestamp))?;
        Ok(Label { id, value, ts })
    }

    fn json_label(&mut self, kind: Kind, val: &[u8]) -> Result<Option<f64>, String> {
        match kind {
            Kind::Null => Ok(None),
            Kind::Bool(b) => self.value(Field::Num(f64::from(u8::from(b)))).map(Some),
            Kind::Num { .. } => {
                let s = std::str::from_utf8(val).unwrap_or("");
                let v = parse_float(s).map_err(|e| format!("`{}`: {e}", self.label))?;
                self.value(Field::Num(v)).map(Some)
            }
            Kind::Str { .. } => {
                // unescaped into the reused scratch buffer, read in place
                self.scratch.clear();
                unescape(val, &mut self.scratch).map_err(|e| e.to_string())?;
                let t = String::from_utf8_lossy(&self.scratch);
                label_value(self.task, &mut self.classes, &self.label, Field::Text(&t)).map(Some)
            }
            k => Err(format!(
                "`{}`: expected a label, found {}",
                self.label,
                k.describe()
            )),
        }
    }

    /// A label's class number, or a regressor's target.
    fn value(&mut self, f: Field) -> Result<f64, String> {
        label_value(self.task, &mut self.classes, &self.label, f)
    }

    fn json_ts(&mut self, kind: Kind, val: &[u8]) -> Result<i64, String> {
        let s = std::str::from_utf8(val).unwrap_or("");
        match (kind, self.ts_format) {
            (Kind::Str { .. }, _)
            | (Kind::Num { .. }, TimestampFormat::EpochMillis)
            | (Kind::Num { .. }, TimestampFormat::EpochSeconds) => {
                ts_from_text(s, self.ts_format).map_err(|e| format!("`{}`: {e}", self.timestamp))
            }
            (k, _) => Err(format!(
                "`{}`: expected a timestamp, found {}",
                self.timestamp,
                k.describe()
            )),
        }
    }

    fn csv(&mut self, rec: &[u8]) -> Result<Option<Label>, String> {
        let rec = crate::codec::csv::strip_ending(rec);
        let cells = self.csv.parse(rec).map_err(|e| e.to_string())?;
        let Some([ci, cl, ct]) = self.columns else {
            let names: Vec<String> = cells
                .iter()
                .map(|c| String::from_utf8_lossy(c).trim().to_string())
                .collect();
            let find = |n: &str| {
                names
                    .iter()
                    .position(|c| c == n)
                    .ok_or_else(|| format!("the header has no column `{n}`"))
            };
            self.columns = Some([find(&self.id)?, find(&self.label)?, find(&self.timestamp)?]);
            return Ok(None);
        };
        // the cells read in place (a copy only for text that is not UTF-8)
        let cell = |i: usize| String::from_utf8_lossy(cells.get(i).unwrap_or_default());
        let (id, label, ts) = (cell(ci), cell(cl), cell(ct));
        let (id, label, ts) = (id.trim(), label.trim(), ts.trim());
        let id = (!id.is_empty()).then(|| event_id_hash(id.as_bytes()));
        let value = if label.is_empty() {
            None
        } else {
            let f = Field::Text(label);
            Some(label_value(self.task, &mut self.classes, &self.label, f)?)
        };
        let ts = if ts.is_empty() {
            None
        } else {
            Some(
                ts_from_text(ts, self.ts_format)
                    .map_err(|e| format!("`{}`: {e}", self.timestamp))?,
            )
        };
        self.complete(id, value, ts).map(Some)
    }
}

/// A label's class number (`classes` numbers them), or a regressor's target; `name`, the
/// label field, is for the messages. A function of the fields it needs, so that the text it
/// reads may borrow the decoder's other buffers.
fn label_value(task: Task, classes: &mut LabelMap, name: &str, f: Field) -> Result<f64, String> {
    match (task, f) {
        (Task::Regression, Field::Num(v)) if v.is_finite() => Ok(v),
        (Task::Regression, Field::Text(t)) => match parse_float(t.trim()) {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!(
                "`{name}`: `{t}` is not a number (the model is a regressor)"
            )),
        },
        (Task::Regression, _) => Err(format!("`{name}`: not a finite number")),
        (Task::Classification, f) => classes.class(f).map_err(|p| format!("`{name}`: {p}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::Record;

    fn batch(lines: &[&str]) -> Batch {
        let mut b = Batch::default();
        for (i, l) in lines.iter().enumerate() {
            let start = b.data.len();
            b.data.extend_from_slice(l.as_bytes());
            b.records.push(Record {
                start,
                end: b.data.len(),
                offset: i as u64 + 1,
            });
        }
        b
    }

    fn decoder(format: InputFormat) -> LabelDecoder {
        let spec = LabelStreamSpec {
            connector: crate::connector::input(std::path::Path::new("labels")),
            format,
            id: "event_id".into(),
            label: "label".into(),
            timestamp: "ts".into(),
            timestamp_format: TimestampFormat::EpochMillis,
        };
        LabelDecoder::new(
            &spec,
            Task::Classification,
            "labels".into(),
            Some(OutputFormat::Jsonl),
        )
    }

    #[test]
    fn csv_and_jsonl_labels_with_names_and_bad_records() {
        let mut d = decoder(InputFormat::Csv);
        let out = d.decode(&batch(&[
            "ts,label,event_id",
            "1000, fraud ,e1",
            "2000,ok,e2",
            "3000,,e3",
            "4000,fraud,",
        ]));
        // names numbered by first appearance; the cells trimmed; ids hashed as written
        assert_eq!(
            out.labels,
            [
                Label {
                    id: event_id_hash(b"e1"),
                    value: 0.0,
                    ts: 1000
                },
                Label {
                    id: event_id_hash(b"e2"),
                    value: 1.0,
                    ts: 2000
                },
            ]
        );
        assert_eq!(out.new_names, ["fraud", "ok"]);
        assert_eq!(out.bad, 2);
        let dead = String::from_utf8(out.dead).unwrap();
        assert!(dead.contains("labels line 4: no label (`label`)"), "{dead}");
        assert!(
            dead.contains("labels line 5: no event id (`event_id`)"),
            "{dead}"
        );

        let mut d = decoder(InputFormat::Jsonl);
        let out = d.decode(&batch(&[
            r#"{"event_id":"e1","label":"fr\u0061ud","ts":5}"#,
            r#"{"event_id":7,"label":"ok","ts":6}"#,
            r#"{"event_id":"e3","label":[1],"ts":7}"#,
        ]));
        assert_eq!(
            out.labels,
            [
                Label {
                    id: event_id_hash(b"e1"),
                    value: 0.0,
                    ts: 5
                },
                Label {
                    id: event_id_hash(b"7"),
                    value: 1.0,
                    ts: 6
                },
            ]
        );
        assert_eq!(out.new_names, ["fraud", "ok"]);
        assert_eq!(out.bad, 1);
    }
}
