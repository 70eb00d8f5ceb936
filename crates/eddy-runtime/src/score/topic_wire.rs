//! The messages of the topics pattern, one JSON object per Kafka message: the pipeline writes
//! requests and reads responses; `eddy score-worker` reads requests and writes responses.
//!
//! - Request (message key: the entity key):
//!   `{"id":"<run>-<n>","key":"u42","event_time":1704067200123,"features":{"events_5m":3,"login_rate_1m":0.0}}`
//! - Response: `{"id":"<run>-<n>","score":0.0123,"label":0,"model":"fraud_lr","version":"1"}`,
//!   or `{"id":"<run>-<n>","error":"<why>"}` when the worker could not score it.
//!
//! `id` is the pipeline's: its run id (16 hex digits, new each run) and the row's number in
//! the run. Responses name the request's id unchanged; the run id tells this run's answers
//! from another's on a shared response topic.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::json::write_str;

/// A request's or response's `id`: the run and the row's number in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowId {
    pub run: u64,
    pub n: u64,
}

impl RowId {
    /// Appends `"<run>-<n>"` (quoted).
    pub fn write(self, out: &mut Vec<u8>) {
        out.push(b'"');
        out.extend_from_slice(format_args_hex(self.run).as_slice());
        out.push(b'-');
        out.extend_from_slice(itoa::Buffer::new().format(self.n).as_bytes());
        out.push(b'"');
    }

    /// Reads `<run>-<n>`; `None` when it is not one of eddy's ids.
    pub fn parse(s: &str) -> Option<RowId> {
        let (run, n) = s.split_once('-')?;
        if run.len() != 16 {
            return None;
        }
        Some(RowId {
            run: u64::from_str_radix(run, 16).ok()?,
            n: n.parse().ok()?,
        })
    }
}

/// 16 lower-case hex digits, without allocating.
fn format_args_hex(v: u64) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = HEX[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// Writes requests; the feature names are encoded once.
#[derive(Debug, Clone)]
pub struct RequestWriter {
    /// `"name":` for each input, in order.
    names: Vec<Vec<u8>>,
}

impl RequestWriter {
    pub fn new(inputs: &[String]) -> Self {
        let names = inputs
            .iter()
            .map(|n| {
                let mut b = Vec::new();
                write_str(&mut b, n.as_bytes());
                b.push(b':');
                b
            })
            .collect();
        RequestWriter { names }
    }

    /// One request into `out` (cleared first). A non-finite value is written `null`.
    pub fn write(&self, out: &mut Vec<u8>, id: RowId, key: &str, event_time: i64, values: &[f64]) {
        out.clear();
        out.extend_from_slice(b"{\"id\":");
        id.write(out);
        out.extend_from_slice(b",\"key\":");
        write_str(out, key.as_bytes());
        out.extend_from_slice(b",\"event_time\":");
        out.extend_from_slice(itoa::Buffer::new().format(event_time).as_bytes());
        out.extend_from_slice(b",\"features\":{");
        for (i, (name, v)) in self.names.iter().zip(values).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(name);
            write_f64(out, *v);
        }
        out.extend_from_slice(b"}}");
    }
}

fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// A response as the pipeline reads it.
#[derive(Debug, Deserialize)]
pub struct Response<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub label: Option<i64>,
    #[serde(default, borrow)]
    pub model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub version: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub error: Option<Cow<'a, str>>,
}

impl<'a> Response<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Response<'a>, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// Writes responses (the worker); the model and version are encoded once.
#[derive(Debug, Clone)]
pub struct ResponseWriter {
    /// `,"model":"<m>","version":"<v>"}`
    tail: Vec<u8>,
}

impl ResponseWriter {
    pub fn new(model: &str, version: &str) -> Self {
        let mut tail = b",\"model\":".to_vec();
        write_str(&mut tail, model.as_bytes());
        tail.extend_from_slice(b",\"version\":");
        write_str(&mut tail, version.as_bytes());
        tail.push(b'}');
        ResponseWriter { tail }
    }

    /// A scored request's response into `out` (cleared first); `id` as the request had it.
    pub fn scored(&self, out: &mut Vec<u8>, id: &str, score: f64, label: Option<i64>) {
        out.clear();
        out.extend_from_slice(b"{\"id\":");
        write_str(out, id.as_bytes());
        out.extend_from_slice(b",\"score\":");
        write_f64(out, score);
        out.extend_from_slice(b",\"label\":");
        match label {
            Some(l) => out.extend_from_slice(itoa::Buffer::new().format(l).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(&self.tail);
    }

    /// The response to a request that could not be scored.
    pub fn failed(&self, out: &mut Vec<u8>, id: &str, why: &str) {
        out.clear();
        out.extend_from_slice(b"{\"id\":");
        write_str(out, id.as_bytes());
        out.extend_from_slice(b",\"error\":");
        write_str(out, why.as_bytes());
        out.extend_from_slice(&self.tail);
    }
}

/// Reads requests (the worker): the id, and the features the model takes, by name, into a
/// row of its own order.
#[derive(Debug, Clone)]
pub struct RequestReader {
    inputs: Vec<String>,
}

/// A request read by [`RequestReader::read`].
#[derive(Debug)]
pub struct Request<'a> {
    pub id: Cow<'a, str>,
    /// Inputs the request did not carry, or carried as `null` (the row then holds NaN there).
    pub missing: usize,
}

impl RequestReader {
    /// `inputs`: the model's feature names, in its order.
    pub fn new(inputs: Vec<String>) -> Self {
        RequestReader { inputs }
    }

    pub fn inputs(&self) -> &[String] {
        &self.inputs
    }

    /// Reads one request, its features into `row` (as long as the inputs).
    pub fn read<'a>(&self, bytes: &'a [u8], row: &mut [f64]) -> Result<Request<'a>, String> {
        row.fill(f64::NAN);
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let id = RequestSeed {
            names: &self.inputs,
            row,
        }
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        let missing = row.iter().filter(|v| v.is_nan()).count();
        Ok(Request { id, missing })
    }
}

struct RequestSeed<'r> {
    names: &'r [String],
    row: &'r mut [f64],
}

impl<'de> DeserializeSeed<'de> for RequestSeed<'_> {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed<'_> {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scoring request: {\"id\", \"features\": {...}}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id: Option<Cow<'de, str>> = None;
        let mut features = false;
        while let Some(k) = map.next_key::<Cow<'de, str>>()? {
            match &*k {
                "id" => id = Some(map.next_value::<Cow<'de, str>>()?),
                "features" => {
                    map.next_value_seed(FeaturesSeed {
                        names: self.names,
                        row: self.row,
                    })?;
                    features = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !features {
            return Err(de::Error::missing_field("features"));
        }
        id.ok_or_else(|| de::Error::missing_field("id"))
    }
}

struct FeaturesSeed<'r> {
    names: &'r [String],
    row: &'r mut [f64],
}

impl<'de> DeserializeSeed<'de> for FeaturesSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FeaturesSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of feature names to numbers")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<Cow<'de, str>>()? {
            let v = map.next_value::<Option<f64>>()?;
            if let Some(i) = self.names.iter().position(|n| *n == *k) {
                self.row[i] = v.unwrap_or(f64::NAN);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_its_response_round_trip() {
        let id = RowId {
            run: 0x00ab_cdef_0123_4567,
            n: 42,
        };
        let mut out = Vec::new();
        let w = RequestWriter::new(&["b".into(), "a\"x".into()]);
        w.write(&mut out, id, "u\"1", 1_704_067_200_123, &[3.0, 0.5]);
        let text = std::str::from_utf8(&out).unwrap();
        assert_eq!(
            text,
            r#"{"id":"00abcdef01234567-42","key":"u\"1","event_time":1704067200123,"features":{"b":3.0,"a\"x":0.5}}"#
        );
        // The worker's model takes the features in another order.
        let r = RequestReader::new(vec!["a\"x".into(), "b".into()]);
        let mut row = [0.0; 2];
        let req = r.read(&out, &mut row).unwrap();
        assert_eq!(
            (req.id.as_ref(), req.missing, row),
            ("00abcdef01234567-42", 0, [0.5, 3.0])
        );
        assert_eq!(RowId::parse(&req.id), Some(id));
        let rw = ResponseWriter::new("m", "1");
        let req_id = req.id.into_owned();
        rw.scored(&mut out, &req_id, 0.125, Some(1));
        let resp = Response::parse(&out).unwrap();
        assert_eq!(
            (
                resp.score,
                resp.label,
                resp.model.as_deref(),
                resp.version.as_deref()
            ),
            (Some(0.125), Some(1), Some("m"), Some("1"))
        );
        assert_eq!(RowId::parse(&resp.id), Some(id));
        rw.failed(&mut out, "x-1", "bad");
        assert_eq!(Response::parse(&out).unwrap().error.as_deref(), Some("bad"));
    }

    #[test]
    fn bad_requests_and_ids() {
        let r = RequestReader::new(vec!["a".into(), "b".into()]);
        let mut row = [0.0; 2];
        let req = r
            .read(br#"{"id":"x","features":{"a":1,"b":null,"c":2}}"#, &mut row)
            .unwrap();
        assert_eq!(req.missing, 1);
        assert_eq!(row[0], 1.0);
        assert!(r.read(br#"{"features":{}}"#, &mut row).is_err());
        assert!(r.read(br#"{"id":"x"}"#, &mut row).is_err());
        assert!(r
            .read(br#"{"id":"x","features":{"a":"1"}}"#, &mut row)
            .is_err());
        assert!(r.read(b"not json", &mut row).is_err());
        for bad in [
            "",
            "abc",
            "0123456789abcdef",
            "0123456789abcde-1",
            "0123456789abcdeg-1",
            "0123456789abcdef-x",
        ] {
            assert_eq!(RowId::parse(bad), None, "{bad}");
        }
    }
}
