//! The learning log (`output.learning`): a row every `log_every` labelled examples, at each
//! drift, promotion and rollback, and at the end — each arm's metrics with their intervals,
//! the difference the promotion rule watches, the label delay, the join's counts and the
//! model's version. The columns are fixed for a run (they depend on the task and on whether
//! there is a baseline), so a CSV log has one header. `docs/outputs.md` lists them.

use crate::encode::{write_csv_cell, write_f64};
use crate::json::write_str;
use crate::spec::OutputFormat;

/// One cell of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum LogValue {
    Null,
    Int(u64),
    Num(f64),
    Text(String),
}

impl From<Option<f64>> for LogValue {
    fn from(v: Option<f64>) -> Self {
        match v {
            Some(x) if x.is_finite() => LogValue::Num(x),
            _ => LogValue::Null,
        }
    }
}

/// Writes rows in the output's format; the first row of a CSV log is preceded by the
/// header.
pub struct LogWriter {
    format: OutputFormat,
    header_written: bool,
}

impl LogWriter {
    pub fn new(format: OutputFormat) -> Self {
        LogWriter {
            format,
            header_written: false,
        }
    }

    /// Appends `row` (columns in order) to `out`.
    pub fn write(&mut self, row: &[(String, LogValue)], out: &mut Vec<u8>) {
        match self.format {
            OutputFormat::Jsonl => {
                out.push(b'{');
                for (i, (k, v)) in row.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, k.as_bytes());
                    out.push(b':');
                    match v {
                        LogValue::Null => out.extend_from_slice(b"null"),
                        LogValue::Int(n) => {
                            out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
                        }
                        LogValue::Num(x) => write_f64(out, *x),
                        LogValue::Text(t) => write_str(out, t.as_bytes()),
                    }
                }
                out.extend_from_slice(b"}\n");
            }
            OutputFormat::Csv => {
                if !self.header_written {
                    self.header_written = true;
                    for (i, (k, _)) in row.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write_csv_cell(out, k.as_bytes());
                    }
                    out.push(b'\n');
                }
                for (i, (_, v)) in row.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    match v {
                        LogValue::Null => {}
                        LogValue::Int(n) => {
                            out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
                        }
                        LogValue::Num(x) => write_f64(out, *x),
                        LogValue::Text(t) => write_csv_cell(out, t.as_bytes()),
                    }
                }
                out.push(b'\n');
            }
        }
    }
}

/// Label delays (event time, ms) over the run, for their p50 and p99: a histogram of 1% wide
/// buckets, so that memory does not grow with the labels. A label that came before
/// its event counts as 0.
#[derive(Debug, Default)]
pub struct Delays {
    buckets: Vec<u64>,
    n: u64,
}

const GROWTH: f64 = 1.01;

impl Delays {
    pub fn add(&mut self, delay_ms: i64) {
        let d = delay_ms.max(0) as f64;
        let b = ((d + 1.0).ln() / GROWTH.ln()) as usize;
        if self.buckets.len() <= b {
            self.buckets.resize(b + 1, 0);
        }
        self.buckets[b] += 1;
        self.n += 1;
    }

    /// The `q` quantile (within 1%), `None` without delays.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (b, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                // the bucket's middle, back in milliseconds
                let lo = GROWTH.powf(b as f64) - 1.0;
                let hi = GROWTH.powf(b as f64 + 1.0) - 1.0;
                return Some(((lo + hi) / 2.0).round());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_quantiles_are_within_one_percent() {
        let mut d = Delays::default();
        assert_eq!(d.quantile(0.5), None);
        for ms in 1..=10_000 {
            d.add(ms * 100);
        }
        // exact: p50 = 500,000 ms, p99 = 990,000 ms
        let p50 = d.quantile(0.5).unwrap();
        let p99 = d.quantile(0.99).unwrap();
        assert!((p50 / 500_000.0 - 1.0).abs() < 0.01, "{p50}");
        assert!((p99 / 990_000.0 - 1.0).abs() < 0.01, "{p99}");
        let mut d = Delays::default();
        d.add(-5);
        assert_eq!(d.quantile(0.5), Some(0.0));
    }

    #[test]
    fn csv_has_one_header() {
        let mut w = LogWriter::new(OutputFormat::Csv);
        let row = vec![
            ("n".to_string(), LogValue::Int(3)),
            ("x".to_string(), LogValue::Num(0.5)),
            ("r".to_string(), LogValue::Text("every".into())),
            ("z".to_string(), LogValue::Null),
        ];
        let mut out = Vec::new();
        w.write(&row, &mut out);
        w.write(&row, &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "n,x,r,z\n3,0.5,every,\n3,0.5,every,\n"
        );
        let mut j = LogWriter::new(OutputFormat::Jsonl);
        out.clear();
        j.write(&row, &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"n\":3,\"x\":0.5,\"r\":\"every\",\"z\":null}\n"
        );
    }
}
