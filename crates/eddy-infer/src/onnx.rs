//! ONNX models run with tract: loaded, typed with a symbolic batch dimension `N`, optimised
//! and made runnable once; then each [`Model::score`] call runs one batch.
//!
//! Supported signatures (what skl2onnx / onnxmltools export with `zipmap=False`):
//! - one input `[N, F]` (FP32, FP64 or INT64);
//! - a classifier: an integer `label` output `[N]` and a float `probabilities` output `[N, C]`
//!   (found by type: the first integer output and the first float output);
//! - a regressor: one float output (`variable`, `[N, 1]` or `[N]`); column 0 is the score.
//!
//! Besides tract-onnx's own operators, the `ai.onnx.ml` operators `LinearRegressor`,
//! `LinearClassifier`, `Normalizer` and `ArrayFeatureExtractor` are provided by `ml_ops`, and
//! `TreeEnsembleClassifier` is replaced by eddy's own (`ml_ops::trees`; tract 0.21's is
//! O(leaves) per tree and mislabels binary models).

use std::path::Path;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::error::InferError;
use crate::metadata::{
    DataType, FeatureSpec, ModelMetadata, OutputMetadata, OutputRole, Task, TensorMetadata,
};
use crate::model::{Batch, Model, Scores};
use crate::options::{default_feature_names, sidecar_features, LoadOptions};

/// The platform name ONNX models report.
pub const PLATFORM: &str = "onnx_tract";

type Plan = TypedRunnableModel<TypedModel>;

/// An ONNX model made runnable by tract.
pub struct OnnxModel {
    meta: ModelMetadata,
    plan: Plan,
    input_dt: DatumType,
    width: usize,
    label_ix: Option<usize>,
    proba_ix: Option<usize>,
    value_ix: Option<usize>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

fn oip_type(dt: DatumType) -> Option<DataType> {
    match dt {
        DatumType::F32 => Some(DataType::Fp32),
        DatumType::F64 => Some(DataType::Fp64),
        DatumType::I64 => Some(DataType::Int64),
        _ => None,
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn check(ok: bool, msg: impl FnOnce() -> String) -> TractResult<()> {
    if ok {
        Ok(())
    } else {
        Err(TractError::msg(msg()))
    }
}

impl OnnxModel {
    /// Loads, types, optimises and plans an ONNX file (see the module docs). A panic inside
    /// tract on a malformed model is caught and returned as [`InferError::Onnx`].
    pub fn load(path: &Path, name: &str, opts: &LoadOptions) -> Result<Self, InferError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::load_inner(path, name, opts)
        }))
        .unwrap_or_else(|panic| {
            Err(InferError::Onnx {
                path: path.display().to_string(),
                msg: format!("tract panicked: {}", panic_message(&panic)),
            })
        })
    }

    fn load_inner(path: &Path, name: &str, opts: &LoadOptions) -> Result<Self, InferError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| InferError::Io {
            path: p.clone(),
            source,
        })?;
        let onnx_err = |stage: &str, e: TractError| InferError::Onnx {
            path: p.clone(),
            msg: format!("{stage}: {e:#}"),
        };
        let sig = |msg: String| InferError::Signature {
            path: p.clone(),
            msg,
        };
        let mut onnx = tract_onnx::onnx();
        crate::ml_ops::register(&mut onnx.op_register);
        let proto = onnx
            .proto_model_for_read(&mut bytes.as_slice())
            .map_err(|e| onnx_err("parsing", e))?;
        let output_names: Vec<String> = proto
            .graph
            .as_ref()
            .map(|g| g.output.iter().map(|o| o.name.clone()).collect())
            .unwrap_or_default();
        let mut model = onnx
            .model_for_proto_model(&proto)
            .map_err(|e| onnx_err("loading", e))?;

        // The input: one [N, F] tensor.
        if model.inputs.len() != 1 {
            return Err(sig(format!(
                "{} inputs; eddy takes models with one [N, F] input",
                model.inputs.len()
            )));
        }
        let in_name = model.node(model.inputs[0].node).name.clone();
        let fact = model
            .input_fact(0)
            .map_err(|e| onnx_err("input", e))?
            .clone();
        let dt = fact
            .datum_type
            .concretize()
            .ok_or_else(|| sig(format!("input `{in_name}` has no declared type")))?;
        let in_type = oip_type(dt).ok_or_else(|| {
            sig(format!(
                "input `{in_name}` is {dt:?}; FP32, FP64 or INT64 expected"
            ))
        })?;
        let dims: Vec<Option<TDim>> = fact.shape.dims().map(|d| d.concretize()).collect();
        if dims.len() != 2 {
            return Err(sig(format!(
                "input `{in_name}` has rank {}; [N, F] expected",
                dims.len()
            )));
        }
        let width = dims[1]
            .as_ref()
            .and_then(|d| d.to_i64().ok())
            .filter(|w| *w > 0)
            .ok_or_else(|| sig(format!("input `{in_name}` has no fixed feature count")))?
            as usize;
        let n = model.symbols.sym("N");
        model
            .set_input_fact(
                0,
                InferenceFact::dt_shape(dt, tvec![n.to_dim(), width.to_dim()]),
            )
            .map_err(|e| onnx_err("setting the input shape", e))?;
        let typed = model
            .into_optimized()
            .map_err(|e| onnx_err("optimising", e))?;

        // Outputs, by type.
        let mut label_ix = None;
        let mut proba_ix = None;
        let mut floats = vec![];
        let mut outputs = vec![];
        for i in 0..typed.outputs.len() {
            let f = typed.output_fact(i).map_err(|e| onnx_err("outputs", e))?;
            let oname = output_names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("output_{i}"));
            let shape: Vec<i64> = f
                .shape
                .iter()
                .enumerate()
                .map(|(k, d)| if k == 0 { -1 } else { d.to_i64().unwrap_or(-1) })
                .collect();
            match f.datum_type {
                DatumType::I64 | DatumType::I32 | DatumType::TDim if label_ix.is_none() => {
                    label_ix = Some(i);
                    outputs.push(OutputMetadata {
                        name: oname,
                        datatype: DataType::Int64,
                        shape,
                        role: OutputRole::Label,
                    });
                }
                DatumType::F32 | DatumType::F64 => floats.push((i, oname, f.datum_type, shape)),
                other => {
                    return Err(sig(format!(
                        "output `{oname}` is {other:?}; integer labels and float scores expected \
                         (string class labels are not supported)"
                    )))
                }
            }
        }
        let Some((fi, fname, fdt, fshape)) = floats.into_iter().next() else {
            return Err(sig("no float output (probabilities or value)".into()));
        };
        let datatype = oip_type(fdt).unwrap_or(DataType::Fp32);
        let (task, n_classes, value_ix) = if label_ix.is_some() {
            proba_ix = Some(fi);
            let c = fshape.get(1).copied().unwrap_or(-1);
            if fshape.len() != 2 || c < 1 {
                return Err(sig(format!(
                    "probabilities output `{fname}` has shape {fshape:?}; [N, C] expected"
                )));
            }
            outputs.push(OutputMetadata {
                name: fname,
                datatype,
                shape: fshape,
                role: OutputRole::Probabilities,
            });
            (Task::Classification, c as usize, None)
        } else {
            outputs.push(OutputMetadata {
                name: fname,
                datatype,
                shape: fshape,
                role: OutputRole::Score,
            });
            (Task::Regression, 0, Some(fi))
        };
        let plan = typed.into_runnable().map_err(|e| onnx_err("planning", e))?;

        let names = match &opts.features {
            Some(f) => f.clone(),
            None => sidecar_features(path)?.unwrap_or_else(|| default_feature_names(width)),
        };
        if names.len() != width {
            return Err(sig(format!(
                "{} feature names given ({}), the input `{in_name}` takes {width}",
                names.len(),
                names.join(", ")
            )));
        }
        let features = names
            .into_iter()
            .map(|n| FeatureSpec::new(n, in_type))
            .collect();
        Ok(OnnxModel {
            meta: ModelMetadata {
                name: name.to_string(),
                version: opts.version.clone().unwrap_or_else(|| "1".into()),
                platform: PLATFORM.into(),
                inputs: vec![TensorMetadata {
                    name: in_name,
                    datatype: in_type,
                    shape: vec![-1, width as i64],
                }],
                outputs,
                features,
                task,
                n_classes,
            },
            plan,
            input_dt: dt,
            width,
            label_ix,
            proba_ix,
            value_ix,
        })
    }

    fn input_tensor(&self, batch: &Batch<'_>) -> TractResult<Tensor> {
        let shape = [batch.rows(), self.width];
        let data = batch.data();
        Ok(match self.input_dt {
            DatumType::F64 => tract_ndarray::Array2::from_shape_vec(shape, data.to_vec())?.into(),
            DatumType::I64 => tract_ndarray::Array2::from_shape_vec(
                shape,
                data.iter().map(|&v| v as i64).collect(),
            )?
            .into(),
            _ => tract_ndarray::Array2::from_shape_vec(
                shape,
                data.iter().map(|&v| v as f32).collect(),
            )?
            .into(),
        })
    }

    fn run(&self, batch: &Batch<'_>, out: &mut Scores) -> TractResult<()> {
        let input = self.input_tensor(batch)?;
        let res = self.plan.run(tvec!(input.into()))?;
        let rows = batch.rows();
        if let Some(vi) = self.value_ix {
            let v = res[vi].cast_to::<f64>()?;
            let v = v.as_slice::<f64>()?;
            let per_row = v.len().checked_div(rows).unwrap_or(0);
            check(per_row >= 1 && per_row * rows == v.len(), || {
                format!("value output has {} values for {rows} rows", v.len())
            })?;
            out.scores.extend(v.iter().step_by(per_row));
            return Ok(());
        }
        if let (Some(li), Some(pi)) = (self.label_ix, self.proba_ix) {
            let l = res[li].cast_to::<i64>()?;
            let l = l.as_slice::<i64>()?;
            let p = res[pi].cast_to::<f64>()?;
            let p = p.as_slice::<f64>()?;
            let c = self.meta.n_classes;
            check(l.len() == rows, || {
                format!("label output has {} values for {rows} rows", l.len())
            })?;
            check(p.len() == rows * c, || {
                format!(
                    "probabilities output has {} values for {rows} rows of {c}",
                    p.len()
                )
            })?;
            out.n_classes = c;
            out.labels.extend_from_slice(l);
            out.probabilities.extend_from_slice(p);
            for row in p.chunks_exact(c) {
                let s = if c == 2 {
                    row[1]
                } else {
                    row.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                };
                out.scores.push(s);
            }
        }
        Ok(())
    }
}

impl Model for OnnxModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.meta
    }

    fn score(&self, batch: Batch<'_>, out: &mut Scores) -> Result<(), InferError> {
        out.clear();
        if batch.rows() == 0 {
            out.n_classes = self.meta.n_classes;
            return Ok(());
        }
        if batch.cols() != self.width {
            return Err(InferError::Batch {
                model: self.meta.name.clone(),
                msg: format!(
                    "rows have {} values, the model takes {}",
                    batch.cols(),
                    self.width
                ),
            });
        }
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(&batch, out)))
            .unwrap_or_else(|panic| {
                Err(TractError::msg(format!(
                    "tract panicked: {}",
                    panic_message(&panic)
                )))
            });
        res.map_err(|e| {
            out.clear();
            InferError::Scoring {
                model: self.meta.name.clone(),
                msg: format!("{e:#}"),
            }
        })
    }
}
