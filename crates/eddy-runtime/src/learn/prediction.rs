//! What a `[learn]` pipeline adds to a per-event row: the serving arm's prediction, with the
//! model, its version and the arm — `,"prediction":{"score","label","model","version","arm"},
//! "scored":true` (or `"prediction":null,"scored":false` when an input is null). CSV: the
//! cells of [`csv_columns`].

use crate::encode::write_csv_cell;
use crate::json::write_str;
use crate::score::write_score;
use crate::spec::OutputFormat;

/// The CSV columns a `[learn]` pipeline adds to per-event rows (after the features).
pub fn csv_columns() -> Vec<String> {
    ["score", "label", "model", "version", "arm"]
        .iter()
        .map(|c| format!("prediction.{c}"))
        .chain(["scored".to_string()])
        .collect()
}

/// Which model served a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    Online,
    Baseline,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Online => "online",
            Arm::Baseline => "baseline",
        }
    }
}

/// A prediction's label as written: a class number, a class name, or none (a regressor).
pub enum LabelOut<'a> {
    None,
    Class(i64),
    Name(&'a str),
}

pub struct PredictionWriter {
    csv: bool,
}

impl PredictionWriter {
    pub fn new(format: OutputFormat) -> Self {
        PredictionWriter {
            csv: format == OutputFormat::Csv,
        }
    }

    pub fn unscored(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if self.csv {
            b",,,,,,false"
        } else {
            b",\"prediction\":null,\"scored\":false"
        });
    }

    pub fn scored(
        &self,
        out: &mut Vec<u8>,
        score: f64,
        label: LabelOut,
        model: &str,
        version: u64,
        arm: Arm,
    ) {
        let mut ib = itoa::Buffer::new();
        if self.csv {
            out.push(b',');
            write_score(out, score);
            out.push(b',');
            match label {
                LabelOut::None => {}
                LabelOut::Class(c) => out.extend_from_slice(ib.format(c).as_bytes()),
                LabelOut::Name(n) => write_csv_cell(out, n.as_bytes()),
            }
            out.push(b',');
            write_csv_cell(out, model.as_bytes());
            out.push(b',');
            out.extend_from_slice(ib.format(version).as_bytes());
            out.push(b',');
            out.extend_from_slice(arm.as_str().as_bytes());
            out.extend_from_slice(b",true");
            return;
        }
        out.extend_from_slice(b",\"prediction\":{\"score\":");
        write_score(out, score);
        out.extend_from_slice(b",\"label\":");
        match label {
            LabelOut::None => out.extend_from_slice(b"null"),
            LabelOut::Class(c) => out.extend_from_slice(ib.format(c).as_bytes()),
            LabelOut::Name(n) => write_str(out, n.as_bytes()),
        }
        out.extend_from_slice(b",\"model\":");
        write_str(out, model.as_bytes());
        out.extend_from_slice(b",\"version\":");
        out.extend_from_slice(ib.format(version).as_bytes());
        out.extend_from_slice(b",\"arm\":\"");
        out.extend_from_slice(arm.as_str().as_bytes());
        out.extend_from_slice(b"\"},\"scored\":true");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_csv_fragments() {
        let mut out = Vec::new();
        let w = PredictionWriter::new(OutputFormat::Jsonl);
        w.scored(&mut out, 0.25, LabelOut::Class(1), "lr", 3, Arm::Online);
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#","prediction":{"score":0.25,"label":1,"model":"lr","version":3,"arm":"online"},"scored":true"#
        );
        out.clear();
        let w = PredictionWriter::new(OutputFormat::Csv);
        w.scored(&mut out, 2.5, LabelOut::Name("a,b"), "m", 1, Arm::Baseline);
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#",2.5,"a,b",m,1,baseline,true"#
        );
        out.clear();
        w.unscored(&mut out);
        assert_eq!(
            out.iter().filter(|&&c| c == b',').count(),
            csv_columns().len()
        );
    }
}
