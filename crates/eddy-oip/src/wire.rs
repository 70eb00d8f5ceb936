//! The Open Inference Protocol (KServe V2 REST) JSON that [`server`](crate::server) and
//! [`remote`](crate::remote) exchange, in one place: the infer request and response, model and
//! server metadata, health answers and errors, and the tensor `data` codecs.
//!
//! Each message is one type with both directions, so what the client writes is what the server
//! reads and the other way round:
//!
//! - [`InferRequest`] / [`InferResponse`] are generic over their tensors' `data`: encoded as
//!   [`TensorData`] (borrowed rows, FP32 narrowed as it is written), decoded as [`Flat`] (a
//!   number, a boolean or nested arrays of them, flattened).
//! - Fields are declared in the order they are written. Messages that the server used to build
//!   as JSON maps (metadata, health, readiness) keep that map's order, which is alphabetical.
//! - Decoding reads what the reading side uses and no more: the server rejects a request whose
//!   fields are missing or mistyped; the client reads `outputs[].name`, `outputs[].shape` and
//!   `outputs[].data` of a response and ignores the rest, so an odd `model_name` never fails
//!   a batch, and a `shape` that is not an array of sizes reads as unknown.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// ---------------------------------------------------------------------------------------------
// Tensor data

/// A tensor's `data` as it is decoded: every number (or boolean, as 0/1) in order, nested
/// arrays flattened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flat {
    pub values: Vec<f64>,
    /// Whether every value was written as an integer (or a boolean).
    all_int: bool,
    has_bool: bool,
    /// Whether nested arrays were of unequal lengths or depths (`[[1, 2], [3]]`, `[1, [2]]`).
    ragged: bool,
    /// The length first seen at each nesting depth, and the depth of the first scalar.
    dims: Vec<Option<usize>>,
    leaf_depth: Option<usize>,
}

impl Flat {
    /// Whether every value was written as an integer (`2.0` counts, `2.5` does not) or a
    /// boolean.
    pub fn all_int(&self) -> bool {
        self.all_int
    }
    /// Whether any value was written as a boolean.
    pub fn has_bool(&self) -> bool {
        self.has_bool
    }
    /// Whether the data was nested arrays of unequal lengths or depths (`[[1, 2], [3]]`,
    /// `[1, [2]]`): not a tensor.
    pub fn is_ragged(&self) -> bool {
        self.ragged
    }
    /// The lengths of the nested arrays, outermost first (`[[1, 2], [3, 4]]`: `[2, 2]`; a
    /// flat array: its length; a scalar: none). Meaningful only when not ragged.
    pub fn dims(&self) -> Vec<usize> {
        let depth = self.leaf_depth.unwrap_or(self.dims.len());
        self.dims
            .iter()
            .take(depth)
            .map(|d| d.unwrap_or(0))
            .collect()
    }
    /// A scalar at `depth`: every scalar must sit at one depth, below every array.
    fn leaf(&mut self, depth: usize) {
        if self.dims.len() > depth {
            self.ragged = true;
        }
        match self.leaf_depth {
            None => self.leaf_depth = Some(depth),
            Some(d) if d != depth => self.ragged = true,
            _ => {}
        }
    }
}

impl<'de> Deserialize<'de> for Flat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut f = Flat {
            values: Vec::new(),
            all_int: true,
            has_bool: false,
            ragged: false,
            dims: Vec::new(),
            leaf_depth: None,
        };
        FlatSeed(&mut f, 0).deserialize(d)?;
        Ok(f)
    }
}

/// The data being filled and the nesting depth of the value read.
struct FlatSeed<'a>(&'a mut Flat, usize);

impl<'de> DeserializeSeed<'de> for FlatSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FlatSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, a boolean or an array of them")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // `2.0` still counts as an integer; `2.5` does not.
        if !v.is_finite() || v.fract() != 0.0 {
            self.0.all_int = false;
        }
        self.0.leaf(self.1);
        self.0.values.push(v);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.0.leaf(self.1);
        self.0.values.push(v as f64);
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.0.leaf(self.1);
        self.0.values.push(v as f64);
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.has_bool = true;
        self.0.leaf(self.1);
        self.0.values.push(if v { 1.0 } else { 0.0 });
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some(n) = seq.size_hint() {
            self.0.values.reserve(n);
        }
        let depth = self.1;
        let mut len = 0usize;
        while seq
            .next_element_seed(FlatSeed(&mut *self.0, depth + 1))?
            .is_some()
        {
            len += 1;
        }
        // Every array at one depth must have the same length (a rectangular tensor).
        let f = &mut *self.0;
        if f.leaf_depth.is_some_and(|d| depth >= d) {
            f.ragged = true;
        }
        if f.dims.len() <= depth {
            f.dims.resize(depth + 1, None);
        }
        match f.dims[depth] {
            Some(n) if n != len => f.ragged = true,
            Some(_) => {}
            None => f.dims[depth] = Some(len),
        }
        Ok(())
    }
}

/// A tensor's `data` as it is encoded: a flat array, borrowed from the rows or scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TensorData<'a> {
    /// Written as f64 (shortest round-trip form).
    Fp64(&'a [f64]),
    /// Each value narrowed to f32 and written as f32 (shortest form of the f32).
    Fp32(&'a [f64]),
    Int64(&'a [i64]),
}

impl Serialize for TensorData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            TensorData::Fp64(v) => v.serialize(s),
            TensorData::Int64(v) => v.serialize(s),
            TensorData::Fp32(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for &x in v {
                    seq.serialize_element(&(x as f32))?;
                }
                seq.end()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Infer

/// `POST /v2/models/{name}/infer` request. The client writes it with [`TensorData`], the server
/// reads it with [`Flat`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferRequest<'a, D> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub inputs: Vec<RequestInput<'a, D>>,
    /// The outputs wanted (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<RequestOutput<'a>>>,
}

/// One input tensor of an [`InferRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestInput<'a, D> {
    pub name: Cow<'a, str>,
    pub shape: Vec<i64>,
    /// As written (`"FP64"`, ...): the server names an unsupported one in its answer.
    pub datatype: Cow<'a, str>,
    pub data: D,
}

/// One wanted output of an [`InferRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestOutput<'a> {
    pub name: Cow<'a, str>,
}

impl<'a> InferRequest<'a, TensorData<'a>> {
    /// The request the client sends: one `[rows, width]` input and the outputs wanted.
    pub fn single(
        id: String,
        input: &'a str,
        datatype: &'a str,
        rows: usize,
        width: usize,
        data: TensorData<'a>,
        outputs: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        InferRequest {
            id: Some(id),
            inputs: vec![RequestInput {
                name: Cow::Borrowed(input),
                shape: vec![rows as i64, width as i64],
                datatype: Cow::Borrowed(datatype),
                data,
            }],
            outputs: Some(
                outputs
                    .into_iter()
                    .map(|name| RequestOutput {
                        name: Cow::Borrowed(name),
                    })
                    .collect(),
            ),
        }
    }
}

impl<D: Serialize> InferRequest<'_, D> {
    /// The JSON body.
    pub fn to_vec(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }
}

impl InferRequest<'static, Flat> {
    /// Reads a JSON body.
    pub fn from_slice(body: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(body)
    }
}

/// `POST /v2/models/{name}/infer` response. The server writes it with [`TensorData`], the
/// client reads only `outputs` (each output's `name`, `shape` and `data`, as [`Flat`]): the
/// fields marked so are left empty when it is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferResponse<'a, D> {
    /// Not read.
    #[serde(skip_deserializing)]
    pub model_name: Cow<'a, str>,
    /// Not read.
    #[serde(skip_deserializing)]
    pub model_version: Cow<'a, str>,
    /// The request's `id`, echoed. Not read.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub outputs: Vec<ResponseOutput<'a, D>>,
}

/// One output tensor of an [`InferResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseOutput<'a, D> {
    pub name: Cow<'a, str>,
    /// Not read.
    #[serde(skip_deserializing)]
    pub datatype: Cow<'a, str>,
    /// Read leniently: anything but an array of non-negative integers reads as empty
    /// (unknown).
    #[serde(default, deserialize_with = "shape_or_empty")]
    pub shape: Vec<i64>,
    pub data: D,
}

impl<D: Serialize> InferResponse<'_, D> {
    /// The JSON body.
    pub fn to_vec(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }
}

impl InferResponse<'static, Flat> {
    /// Reads a JSON body.
    pub fn from_slice(body: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(body)
    }
    /// The values of the output named `name` (the first one, if named twice).
    pub fn output(&self, name: &str) -> Option<&[f64]> {
        self.output_tensor(name).map(|o| o.data.values.as_slice())
    }
    /// The output named `name` (the first one, if named twice).
    pub fn output_tensor(&self, name: &str) -> Option<&ResponseOutput<'static, Flat>> {
        self.outputs.iter().find(|o| o.name == name)
    }
}

fn shape_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Sizes(Vec<u64>),
        Other(IgnoredAny),
    }
    Ok(match Lenient::deserialize(d)? {
        Lenient::Sizes(v) if v.iter().all(|&x| x <= i64::MAX as u64) => {
            v.into_iter().map(|x| x as i64).collect()
        }
        _ => Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// Metadata, health, errors

/// `GET /v2/models/{name}`: a served model's metadata. Fields in the order they are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedModel {
    #[serde(default)]
    pub inputs: Vec<ServedTensor>,
    pub name: String,
    #[serde(default)]
    pub outputs: Vec<ServedTensor>,
    /// Read leniently: a value that is not a string reads as empty.
    #[serde(default, deserialize_with = "string_or_empty")]
    pub platform: String,
    #[serde(default)]
    pub versions: Vec<String>,
}

/// One input or output tensor of a [`ServedModel`]. Fields in the order they are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedTensor {
    /// As written (`"FP32"`, ...).
    pub datatype: String,
    pub name: String,
    /// `-1`: any size (the batch dimension).
    #[serde(default)]
    pub shape: Vec<i64>,
}

impl ServedModel {
    /// Reads a JSON body.
    pub fn from_slice(body: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(body)
    }
}

fn string_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Text(String),
        Other(IgnoredAny),
    }
    Ok(match Lenient::deserialize(d)? {
        Lenient::Text(s) => s,
        Lenient::Other(_) => String::new(),
    })
}

/// `GET /v2`: the server's metadata. Fields in the order they are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMetadata {
    #[serde(default)]
    pub extensions: Vec<String>,
    pub name: String,
    pub version: String,
}

/// `GET /v2/health/live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Live {
    pub live: bool,
}

/// `GET /v2/health/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    pub ready: bool,
}

/// `GET /v2/models/{name}/ready`. Fields in the order they are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelReady {
    pub name: String,
    pub ready: bool,
}

/// Every error answer: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes_and_round_trip() {
        let rows = [0.1, -2.0, 3e20, 1.0, 0.0, -0.30000000000000004];
        let req = InferRequest::single(
            "7".into(),
            "x",
            "FP32",
            2,
            3,
            TensorData::Fp32(&rows),
            ["s", "l"],
        );
        let body = req.to_vec().unwrap();
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"id":"7","inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[0.1,-2.0,3e+20,1.0,0.0,-0.3]}],"outputs":[{"name":"s"},{"name":"l"}]}"#
        );
        let back = InferRequest::from_slice(&body).unwrap();
        assert_eq!(back.id.as_deref(), Some("7"));
        let input = &back.inputs[0];
        assert_eq!((&*input.name, &*input.datatype), ("x", "FP32"));
        assert_eq!(input.shape, [2, 3]);
        // The shortest f32 text, read back and narrowed again (as the server does), is the f32.
        let narrow = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        assert_eq!(narrow(&input.data.values), narrow(&rows));
        assert!(!input.data.all_int());
        let names: Vec<&str> = back.outputs.iter().flatten().map(|o| &*o.name).collect();
        assert_eq!(names, ["s", "l"]);
    }

    #[test]
    fn flat_reads_nested_numbers_and_booleans() {
        let f: Flat = serde_json::from_str("[[1, 2.0], [true, 3]]").unwrap();
        assert_eq!(f.values, [1.0, 2.0, 1.0, 3.0]);
        assert!(f.all_int() && f.has_bool());
        let f: Flat = serde_json::from_str("[1, 2.5]").unwrap();
        assert!(!f.all_int() && !f.has_bool());
        assert!(serde_json::from_str::<Flat>(r#"[1, "x"]"#).is_err());
    }

    #[test]
    fn flat_tells_ragged_data() {
        let ragged = |s: &str| serde_json::from_str::<Flat>(s).unwrap().is_ragged();
        for ok in [
            "3",
            "[]",
            "[1, 2]",
            "[[1, 2], [3, 4]]",
            "[[], []]",
            "[[[1], [2]], [[3], [4]]]",
        ] {
            assert!(!ragged(ok), "{ok}");
        }
        for bad in [
            "[[1, 2], [3]]",
            "[[1, 2, 3, 4], [5, 6], [7, 8, 9]]",
            "[[1, 2], []]",
            "[1, [2]]",
            "[[1], 2]",
            "[[[1]], [2]]",
            "[[1, [2]], [3, 4]]",
        ] {
            assert!(ragged(bad), "{bad}");
        }
    }

    #[test]
    fn response_is_read_leniently() {
        let body = br#"{"model_name":5,"id":[],"outputs":[{"name":"s","shape":"?","data":[[0.5],[1]]},{"name":"s","data":[9]}]}"#;
        let r = InferResponse::from_slice(body).unwrap();
        assert_eq!(r.output("s"), Some(&[0.5, 1.0][..]));
        assert_eq!(r.output("l"), None);
        assert!(InferResponse::from_slice(br#"{"outputs":[{"name":"s"}]}"#).is_err());
    }

    #[test]
    fn response_bytes() {
        let scores = [0.5, 0.25];
        let labels = [0, 1];
        let r = InferResponse {
            model_name: "m".into(),
            model_version: "1".into(),
            id: None,
            outputs: vec![
                ResponseOutput {
                    name: "score".into(),
                    datatype: "FP32".into(),
                    shape: vec![2],
                    data: TensorData::Fp32(&scores),
                },
                ResponseOutput {
                    name: "label".into(),
                    datatype: "INT64".into(),
                    shape: vec![2],
                    data: TensorData::Int64(&labels),
                },
            ],
        };
        assert_eq!(
            String::from_utf8(r.to_vec().unwrap()).unwrap(),
            r#"{"model_name":"m","model_version":"1","outputs":[{"name":"score","datatype":"FP32","shape":[2],"data":[0.5,0.25]},{"name":"label","datatype":"INT64","shape":[2],"data":[0,1]}]}"#
        );
    }

    #[test]
    fn metadata_platform_is_lenient() {
        let m = ServedModel::from_slice(br#"{"name":"m","platform":7}"#).unwrap();
        assert_eq!((m.name.as_str(), m.platform.as_str()), ("m", ""));
        assert!(m.inputs.is_empty() && m.versions.is_empty());
        assert!(ServedModel::from_slice(br#"{"platform":"p"}"#).is_err());
    }
}
