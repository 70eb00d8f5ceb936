//! Scoring per-event rows with a `[model]`, in the three patterns of `docs/serving.md`:
//!
//! - [`embedded`]: the model runs on the engine thread, on every row;
//! - [`remote`]: rows go to an Open Inference Protocol server, either waiting for their score
//!   (`external`) or rejoining it within a deadline (`side_output`);
//! - [`topics`]: rows' scoring requests go to a Kafka topic, and their scores come back on
//!   another, from `eddy score-worker`s, rejoining them within a deadline.
//!
//! The patterns whose rows wait in the emit stage for their scores are [`Deferred`]; their
//! rows wait in a `join::Join` when the scores come back on their own.
//!
//! Every pattern adds the same thing to a per-event row, after `"features"`:
//! `"prediction": {"score", "label", "model", "version", "latency_us"}` and `"scored": true`;
//! an external call that fell back adds `"fallback": "<reason>"` to the prediction and says
//! `"scored": false`; a row with no score at all says `"prediction": null, "scored": false`.
//! The model and the input mapping are checked before any event is read.

pub mod embedded;
/// Only the server and topics patterns hold rows for their scores.
#[cfg(any(feature = "http", feature = "kafka"))]
pub(crate) mod join;
/// The server patterns need the `http` feature; without it [`deferred`] refuses them.
#[cfg(feature = "http")]
pub mod remote;

pub mod topic_wire;
/// The topics pattern needs the `kafka` feature; without it [`deferred`] refuses it.
#[cfg(feature = "kafka")]
pub mod topics;

pub use embedded::Scorer;
#[cfg(feature = "http")]
pub use remote::RemoteStage;
#[cfg(feature = "kafka")]
pub use topics::TopicsStage;

use eddy_core::agg::AggKind;
use eddy_core::feature::FeatureSpec;
use eddy_core::row::{FeatureRef, FeatureRow};
use eddy_infer::DataType;

use crate::encode::write_csv_cell;
use crate::error::{SpecError, SpecErrors};
use crate::json::write_str;
use crate::spec::{ModelSpec, OutputFormat, Pattern};

/// Counts of what the stage did with its rows (the client keeps its own counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageCounts {
    pub scored: u64,
    /// External: rows given the fallback score.
    pub fallback: u64,
    pub unscored_null_feature: u64,
    pub unscored_deadline: u64,
    pub unscored_server: u64,
    pub unscored_shed: u64,
    /// Side output, topics: scores that came back after their row had left unscored.
    pub late_scores: u64,
    /// Topics: second (or later) scores for a row.
    pub duplicate_scores: u64,
    /// Topics: scores for rows this run never sent.
    pub unknown_scores: u64,
}

/// Called once per finished row: the caller's id and the `,"prediction":...` fragment.
pub type Deliver<'a> = dyn FnMut(u64, &[u8]) + 'a;

/// A pattern whose per-event rows wait in the emit stage for scores that come back later
/// (a model server, response topics). Each row handed to [`send`](Deferred::send) is handed
/// back to a `deliver` callback exactly once, with its prediction fragment.
pub trait Deferred: Send {
    /// What the stage did with its rows so far.
    fn counts(&self) -> &StageCounts;
    /// A model server's client counters, for the run summary.
    fn client_counters(&self) -> Option<eddy_oip::remote::Counters> {
        None
    }
    /// Rows sent and not yet delivered.
    fn pending(&self) -> usize;
    /// The engine's watermark before the next row (a barrier for unordered emission).
    fn watermark(&mut self, wm: i64, deliver: &mut Deliver<'_>);
    /// Copies one row's model inputs, its entity key and event time; [`send`](Self::send)
    /// sends them.
    fn load(&mut self, row: &FeatureRow, key: &str, ts: i64);
    /// Sends the row last loaded. May block while the pattern holds its capacity of rows,
    /// delivering finished rows meanwhile.
    fn send(&mut self, id: u64, deliver: &mut Deliver<'_>);
    /// Delivers whatever is finished, without blocking.
    fn poll(&mut self, deliver: &mut Deliver<'_>);
    /// Delivers every pending row: blocks until all are out.
    fn finish(&mut self, deliver: &mut Deliver<'_>);
}

/// The deferred pattern a `[model]` names (the registration point of each), started and
/// checked; with the warnings of what could not be checked.
pub fn deferred(
    spec: &ModelSpec,
    features: &[FeatureSpec],
    format: OutputFormat,
) -> Result<(Box<dyn Deferred>, Vec<String>), SpecErrors> {
    // a spec naming a pattern this build lacks validates, and is refused here, when its
    // pipeline is built
    let _ = (features, format);
    match spec.pattern {
        #[cfg(feature = "http")]
        Pattern::External | Pattern::SideOutput => RemoteStage::new(spec, features, format)
            .map(|(s, w)| (Box::new(s) as Box<dyn Deferred>, w)),
        #[cfg(not(feature = "http"))]
        Pattern::External | Pattern::SideOutput => Err(spec_err(
            "model.url",
            "this eddy was built without the `http` feature, so it cannot call a model server; \
             rebuild with default features, or score in process (`model.path`)",
        )),
        #[cfg(feature = "kafka")]
        Pattern::Topics => TopicsStage::new(spec, features, format)
            .map(|(s, w)| (Box::new(s) as Box<dyn Deferred>, w)),
        #[cfg(not(feature = "kafka"))]
        Pattern::Topics => Err(spec_err(
            "model.pattern",
            "this eddy was built without the `kafka` feature, so it cannot score through \
             topics; rebuild with default features, or score in process (`model.path`)",
        )),
        Pattern::Embedded => Err(spec_err(
            "model.pattern",
            "the embedded pattern scores in the pipeline, not in the emit stage",
        )),
    }
}

/// The model input type of a feature, or `None` when it is not numeric.
pub(crate) fn feature_type(f: &FeatureSpec) -> Option<DataType> {
    match f.agg {
        AggKind::LastN { .. } => None,
        AggKind::Count | AggKind::DistinctCount { .. } => Some(DataType::Int64),
        _ => Some(DataType::Fp64),
    }
}

pub(crate) fn spec_err(path: impl Into<String>, msg: impl Into<String>) -> SpecErrors {
    SpecErrors(vec![SpecError {
        path: path.into(),
        msg: msg.into(),
    }])
}

/// Resolves model input names to pipeline features: for each name, the feature's index and
/// what the model is given. `listed`: the names come from `model.inputs` (so errors can
/// point at `model.inputs[i]`).
pub(crate) fn resolve_inputs(
    names: &[String],
    listed: bool,
    features: &[FeatureSpec],
) -> Result<(Vec<usize>, Vec<eddy_infer::FeatureSpec>), SpecErrors> {
    let mut errors = Vec::new();
    let mut idx = Vec::with_capacity(names.len());
    let mut supplied = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let path = if listed {
            format!("model.inputs[{i}]")
        } else {
            "model.inputs".to_string()
        };
        match features.iter().position(|f| &f.name == name) {
            None => {
                let known: Vec<&str> = features.iter().map(|f| f.name.as_str()).collect();
                errors.push(SpecError {
                    path,
                    msg: format!(
                        "`{name}` is not a feature of this spec; expected one of: {}",
                        known.join(", ")
                    ),
                });
            }
            Some(fi) => match feature_type(&features[fi]) {
                None => errors.push(SpecError {
                    path,
                    msg: format!(
                        "feature `{name}` is not numeric (last_n); a model input must be a number"
                    ),
                }),
                Some(dt) => {
                    idx.push(fi);
                    supplied.push(eddy_infer::FeatureSpec::new(name.clone(), dt));
                }
            },
        }
    }
    if errors.is_empty() {
        Ok((idx, supplied))
    } else {
        Err(SpecErrors(errors))
    }
}

/// Copies the model's inputs out of a feature row; `false` (and `out` partly filled) when
/// one is null.
pub(crate) fn gather(row: &FeatureRow, cols: &[usize], out: &mut Vec<f64>) -> bool {
    out.clear();
    for &c in cols {
        match row.get(c) {
            FeatureRef::Num(v) => out.push(v),
            FeatureRef::Int(v) => out.push(v as f64),
            _ => return false,
        }
    }
    true
}

/// Writes what a model adds to a per-event row. JSON: `,"<field>":{...},"scored":...`
/// (`field`: `model.field`). CSV: the cells of [`csv_columns`], each after a comma.
#[derive(Debug, Clone)]
pub(crate) struct PredictionWriter {
    csv: bool,
    /// JSON: `,"<field>":{"score":` pre-encoded.
    head: Vec<u8>,
    /// JSON: `"model":"<name>","version":"<v>","latency_us":`; CSV: `<name>,<version>,`.
    tail: Vec<u8>,
    /// What a row without a score carries: `,"<field>":null,"scored":false`, or empty cells.
    unscored: Vec<u8>,
}

/// A score as the shortest text that reads back to the same `f64` (`null` when not finite).
/// Żmij rather than the outputs' usual ryu: a score is a fresh float on every row, and this
/// is the single largest cost of scoring a row.
pub(crate) fn write_score(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The CSV columns a model adds to per-event rows (after the features).
pub fn csv_columns(field: &str) -> Vec<String> {
    let mut cols: Vec<String> = [
        "score",
        "label",
        "model",
        "version",
        "latency_us",
        "fallback",
    ]
    .iter()
    .map(|c| format!("{field}.{c}"))
    .collect();
    cols.push("scored".into());
    cols
}

/// The `"model":...,"version":...,"latency_us":` part (JSON) or `model,version,` cells (CSV).
fn model_tail(csv: bool, model: &str, version: &str) -> Vec<u8> {
    let mut tail = Vec::new();
    if csv {
        write_csv_cell(&mut tail, model.as_bytes());
        tail.push(b',');
        write_csv_cell(&mut tail, version.as_bytes());
        tail.push(b',');
    } else {
        tail.extend_from_slice(b"\"model\":");
        write_str(&mut tail, model.as_bytes());
        tail.extend_from_slice(b",\"version\":");
        write_str(&mut tail, version.as_bytes());
        tail.extend_from_slice(b",\"latency_us\":");
    }
    tail
}

impl PredictionWriter {
    pub(crate) fn new(format: OutputFormat, field: &str, model: &str, version: &str) -> Self {
        if format == OutputFormat::Csv {
            let tail = model_tail(true, model, version);
            return PredictionWriter {
                csv: true,
                head: b",".to_vec(),
                tail,
                unscored: b",,,,,,,false".to_vec(),
            };
        }
        let mut key = vec![b','];
        write_str(&mut key, field.as_bytes());
        key.push(b':');
        let mut head = key.clone();
        head.extend_from_slice(b"{\"score\":");
        let mut unscored = key;
        unscored.extend_from_slice(b"null,\"scored\":false");
        PredictionWriter {
            csv: false,
            head,
            tail: model_tail(false, model, version),
            unscored,
        }
    }

    /// The same writer for predictions of another model or version (the score worker's
    /// answers name theirs).
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) fn with_model(&self, model: &str, version: &str) -> Self {
        PredictionWriter {
            tail: model_tail(self.csv, model, version),
            ..self.clone()
        }
    }

    /// A row with no score, and (`reason`) why: JSON `,"unscored":"<reason>"` after
    /// `"scored":false`; CSV, the reason in the `fallback` cell.
    #[cfg_attr(not(any(feature = "http", feature = "kafka")), allow(dead_code))]
    pub(crate) fn write_unscored_because(&self, out: &mut Vec<u8>, reason: Option<&str>) {
        match (reason, self.csv) {
            (None, _) => out.extend_from_slice(&self.unscored),
            (Some(r), false) => {
                out.extend_from_slice(&self.unscored);
                out.extend_from_slice(b",\"unscored\":");
                write_str(out, r.as_bytes());
            }
            (Some(r), true) => {
                out.extend_from_slice(b",,,,,,");
                write_csv_cell(out, r.as_bytes());
                out.extend_from_slice(b",false");
            }
        }
    }

    /// Appends the fragment of a row with no score.
    pub(crate) fn write_unscored(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.unscored);
    }

    /// The part of a scored row's fragment after its label, for rows that share a latency
    /// (a batch scored in one call): the row writer then only formats score and label.
    pub(crate) fn scored_suffix(&self, latency_us: u64, suffix: &mut Vec<u8>) {
        suffix.clear();
        self.write_ending(suffix, latency_us, None);
    }

    /// A scored row's fragment: score and label, then a [`Self::scored_suffix`].
    pub(crate) fn write_scored(
        &self,
        out: &mut Vec<u8>,
        score: f64,
        label: Option<i64>,
        suffix: &[u8],
    ) {
        self.write_score_label(out, score, label);
        out.extend_from_slice(suffix);
    }

    /// A row's fragment with its own latency; `fallback`: the reason an external call gave
    /// the fallback score (then `"scored": false`).
    #[cfg_attr(not(any(feature = "http", feature = "kafka")), allow(dead_code))]
    pub(crate) fn write(
        &self,
        out: &mut Vec<u8>,
        score: f64,
        label: Option<i64>,
        latency_us: u64,
        fallback: Option<&str>,
    ) {
        self.write_score_label(out, score, label);
        self.write_ending(out, latency_us, fallback);
    }

    fn write_score_label(&self, out: &mut Vec<u8>, score: f64, label: Option<i64>) {
        out.extend_from_slice(&self.head);
        write_score(out, score);
        out.extend_from_slice(if self.csv { b"," } else { b",\"label\":" });
        match label {
            Some(l) => out.extend_from_slice(itoa::Buffer::new().format(l).as_bytes()),
            None if self.csv => {}
            None => out.extend_from_slice(b"null"),
        }
    }

    /// Model, version, latency, then the fallback reason if any and `scored`.
    fn write_ending(&self, out: &mut Vec<u8>, latency_us: u64, fallback: Option<&str>) {
        out.push(b',');
        out.extend_from_slice(&self.tail);
        out.extend_from_slice(itoa::Buffer::new().format(latency_us).as_bytes());
        match (self.csv, fallback) {
            (true, None) => out.extend_from_slice(b",,true"),
            (true, Some(reason)) => {
                out.push(b',');
                out.extend_from_slice(reason.as_bytes());
                out.extend_from_slice(b",false");
            }
            (false, None) => out.extend_from_slice(b"},\"scored\":true"),
            (false, Some(reason)) => {
                out.extend_from_slice(b",\"fallback\":");
                write_str(out, reason.as_bytes());
                out.extend_from_slice(b"},\"scored\":false");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(format: OutputFormat, f: impl Fn(&PredictionWriter, &mut Vec<u8>)) -> String {
        let w = PredictionWriter::new(format, "p", "m,1", "v");
        let mut out = Vec::new();
        f(&w, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fragments_in_json_and_csv() {
        use OutputFormat::{Csv, Jsonl};
        let scored = |w: &PredictionWriter, o: &mut Vec<u8>| w.write(o, 0.25, Some(1), 7, None);
        let fell =
            |w: &PredictionWriter, o: &mut Vec<u8>| w.write(o, 0.5, None, 9, Some("timeout"));
        let batch = |w: &PredictionWriter, o: &mut Vec<u8>| {
            let mut suffix = Vec::new();
            w.scored_suffix(7, &mut suffix);
            w.write_scored(o, 0.25, Some(1), &suffix);
        };
        let none = |w: &PredictionWriter, o: &mut Vec<u8>| w.write_unscored(o);
        assert_eq!(
            written(Jsonl, scored),
            r#","p":{"score":0.25,"label":1,"model":"m,1","version":"v","latency_us":7},"scored":true"#
        );
        assert_eq!(written(Jsonl, batch), written(Jsonl, scored));
        assert_eq!(
            written(Jsonl, fell),
            r#","p":{"score":0.5,"label":null,"model":"m,1","version":"v","latency_us":9,"fallback":"timeout"},"scored":false"#
        );
        assert_eq!(written(Jsonl, none), r#","p":null,"scored":false"#);
        assert_eq!(written(Csv, scored), r#",0.25,1,"m,1",v,7,,true"#);
        assert_eq!(written(Csv, batch), written(Csv, scored));
        assert_eq!(written(Csv, fell), r#",0.5,,"m,1",v,9,timeout,false"#);
        assert_eq!(written(Csv, none), ",,,,,,,false");
        assert_eq!(csv_columns("p").len(), 7);
    }
}
