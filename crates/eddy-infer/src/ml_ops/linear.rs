//! `ai.onnx.ml` operators that tract-onnx 0.21 does not provide, as skl2onnx emits them:
//! `LinearRegressor`, `LinearClassifier`, `Normalizer` and `ArrayFeatureExtractor`. Each is an expansion
//! into tract core operators (EinSum, Add, Sigmoid, Softmax, ArgMax, lookups), registered on
//! the ONNX op register before parsing. Semantics follow the ONNX-ML spec as ONNX Runtime
//! implements it; the fixture tests compare against ONNX Runtime's outputs.

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::array::TypedConcat;
use tract_onnx::tract_hir::tract_core;
use tract_onnx::tract_hir::tract_core::ops::einsum::EinSum;

pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("LinearRegressor", linear_regressor);
    reg.insert("LinearClassifier", linear_classifier);
    reg.insert("ArrayFeatureExtractor", array_feature_extractor);
    reg.insert("Normalizer", normalizer);
    reg.insert("TreeEnsembleClassifier", crate::trees::tree_classifier);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Post {
    None,
    Logistic,
    Softmax,
}

fn post_transform(node: &NodeProto) -> TractResult<Post> {
    match node
        .get_attr_opt::<&str>("post_transform")?
        .unwrap_or("NONE")
    {
        "NONE" => Ok(Post::None),
        "LOGISTIC" => Ok(Post::Logistic),
        "SOFTMAX" => Ok(Post::Softmax),
        other => bail!("post_transform {other} is not supported"),
    }
}

/// Weights `[rows, features]` and intercepts `[1, rows]` from the node.
fn weights(node: &NodeProto, rows: usize) -> TractResult<(Arc<Tensor>, Arc<Tensor>)> {
    let coefs: Vec<f32> = node.get_attr_vec("coefficients")?;
    if coefs.is_empty() || coefs.len().checked_rem(rows) != Some(0) {
        bail!("{} coefficients do not make {rows} rows", coefs.len());
    }
    let f = coefs.len() / rows;
    let intercepts: Vec<f32> = node
        .get_attr_opt_vec("intercepts")?
        .unwrap_or_else(|| vec![0.0; rows]);
    if intercepts.len() != rows {
        bail!("{} intercepts for {rows} rows", intercepts.len());
    }
    let w = tensor1(&coefs).into_shape(&[rows, f])?.into_arc_tensor();
    let b = tensor1(&intercepts)
        .into_shape(&[1, rows])?
        .into_arc_tensor();
    Ok((w, b))
}

/// `x · wᵀ + b` in f32, `x` `[N, F]`.
fn wire_affine(
    prefix: &str,
    model: &mut TypedModel,
    x: OutletId,
    w: &Arc<Tensor>,
    b: &Arc<Tensor>,
) -> TractResult<OutletId> {
    let mut x = x;
    if model.outlet_fact(x)?.datum_type != f32::datum_type() {
        x = model.wire_node(
            format!("{prefix}.cast_input"),
            tract_core::ops::cast::cast(f32::datum_type()),
            &[x],
        )?[0];
    }
    let w = model.add_const(format!("{prefix}.coefficients"), w.clone())?;
    let axes = AxesMapping::for_numpy_matmul(2, false, true, false)?;
    let xw = model.wire_node(
        format!("{prefix}.matmul"),
        EinSum::new(axes, f32::datum_type()),
        &[x, w],
    )?[0];
    let b = model.add_const(format!("{prefix}.intercepts"), b.clone())?;
    Ok(model.wire_node(
        format!("{prefix}.add_intercepts"),
        tract_core::ops::math::add(),
        &[xw, b],
    )?[0])
}

// ---------------------------------------------------------------- LinearRegressor

#[derive(Debug, Clone, Hash)]
struct LinearRegressor {
    w: Arc<Tensor>,
    b: Arc<Tensor>,
    targets: usize,
}

fn linear_regressor(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let targets: i64 = node.get_attr_opt("targets")?.unwrap_or(1);
    if targets < 1 {
        bail!("targets must be >= 1");
    }
    if post_transform(node)? != Post::None {
        bail!("LinearRegressor post_transform other than NONE is not supported");
    }
    let (w, b) = weights(node, targets as usize)?;
    Ok((
        expand(LinearRegressor {
            w,
            b,
            targets: targets as usize,
        }),
        vec![],
    ))
}

impl Expansion for LinearRegressor {
    fn name(&self) -> Cow<'_, str> {
        "LinearRegressor".into()
    }
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], self.targets.to_dim())?;
        Ok(())
    }
    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        Ok(tvec!(wire_affine(
            prefix, model, inputs[0], &self.w, &self.b
        )?))
    }
}

// ---------------------------------------------------------------- LinearClassifier

#[derive(Debug, Clone, Hash)]
struct LinearClassifier {
    w: Arc<Tensor>,
    b: Arc<Tensor>,
    /// Class labels (i64).
    labels: Arc<Tensor>,
    post: Post,
}

fn linear_classifier(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let Some(labels) = node.get_attr_opt_slice::<i64>("classlabels_ints")? else {
        bail!("LinearClassifier with string class labels is not supported (export integer labels)");
    };
    let n = labels.len();
    let coefs = node.get_attr_slice::<f32>("coefficients")?.len();
    let intercepts = node
        .get_attr_opt_slice::<f32>("intercepts")?
        .map(|i| i.len())
        .unwrap_or(0);
    // One row per class, or a single row for a binary classifier.
    let rows = if intercepts > 0 { intercepts } else { n };
    if !(rows == n || (rows == 1 && n == 2)) {
        bail!("{rows} coefficient rows for {n} classes");
    }
    if coefs.checked_rem(rows) != Some(0) {
        bail!("{coefs} coefficients do not make {rows} rows");
    }
    let (w, b) = weights(node, rows)?;
    Ok((
        expand(LinearClassifier {
            w,
            b,
            labels: rctensor1(labels),
            post: post_transform(node)?,
        }),
        vec![],
    ))
}

/// Shape rules shared by the classifier operators (ai.onnx.ml): one `[N, F]` input, a label
/// per row (`INT64 [N]`) and a probability per class (`FLOAT [N, n_classes]`).
pub(crate) fn classifier_rules<'r, 'p: 'r>(
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
    n_classes: usize,
) -> InferenceResult {
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, 2)?;
    s.equals(&outputs[0].datum_type, DatumType::I64)?;
    s.equals(&outputs[1].datum_type, DatumType::F32)?;
    s.equals(&inputs[0].rank, 2)?;
    s.equals(&outputs[0].rank, 1)?;
    s.equals(&outputs[1].rank, 2)?;
    s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
    s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
    s.equals(&outputs[1].shape[1], n_classes.to_dim())?;
    Ok(())
}

impl Expansion for LinearClassifier {
    fn name(&self) -> Cow<'_, str> {
        "LinearClassifier".into()
    }
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        classifier_rules(s, inputs, outputs, self.labels.len())
    }
    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let raw = wire_affine(prefix, model, inputs[0], &self.w, &self.b)?;
        let rows = self.w.shape()[0];
        // `decide`: what the label is the argmax of; `scores`: the probabilities output.
        let (decide, scores) = if rows == 1 {
            // Binary with one row: label is positive iff raw > 0; scores [-z, z] or
            // [1 - σ(z), σ(z)].
            let (neg, pos) = match self.post {
                Post::Logistic => {
                    let p = model.wire_node(
                        format!("{prefix}.logistic"),
                        tract_core::ops::nn::sigmoid(),
                        &[raw],
                    )?[0];
                    let one = model.add_const(format!("{prefix}.one"), rctensor2(&[[1f32]]))?;
                    let q = model.wire_node(
                        format!("{prefix}.complement"),
                        tract_core::ops::math::sub(),
                        &[one, p],
                    )?[0];
                    (q, p)
                }
                Post::None => {
                    let m1 =
                        model.add_const(format!("{prefix}.minus_one"), rctensor2(&[[-1f32]]))?;
                    let q = model.wire_node(
                        format!("{prefix}.negate"),
                        tract_core::ops::math::mul(),
                        &[m1, raw],
                    )?[0];
                    (q, raw)
                }
                Post::Softmax => bail!("SOFTMAX on a one-row binary LinearClassifier"),
            };
            let zero = model.add_const(format!("{prefix}.zero"), rctensor2(&[[0f32]]))?;
            let neg_raw = model.wire_node(
                format!("{prefix}.neg_raw"),
                tract_core::ops::math::sub(),
                &[zero, raw],
            )?[0];
            let decide = model.wire_node(
                format!("{prefix}.decide"),
                TypedConcat::new(1),
                &[neg_raw, raw],
            )?[0];
            let scores =
                model.wire_node(format!("{prefix}.scores"), TypedConcat::new(1), &[neg, pos])?[0];
            (decide, scores)
        } else {
            let scores = match self.post {
                Post::None => raw,
                Post::Logistic => model.wire_node(
                    format!("{prefix}.logistic"),
                    tract_core::ops::nn::sigmoid(),
                    &[raw],
                )?[0],
                Post::Softmax => tract_hir::ops::nn::LayerSoftmax::new(1, false).wire(
                    &format!("{prefix}.softmax"),
                    model,
                    &[raw],
                )?[0],
            };
            (raw, scores)
        };
        let labels = wire_argmax_lookup(prefix, model, decide, &self.labels)?;
        Ok(tvec!(labels, scores))
    }
    fn nboutputs(&self) -> TractResult<usize> {
        Ok(2)
    }
}

/// `labels[argmax(x, axis 1)]` for `x` `[N, C]`, giving `[N]`.
fn wire_argmax_lookup(
    prefix: &str,
    model: &mut TypedModel,
    x: OutletId,
    labels: &Arc<Tensor>,
) -> TractResult<OutletId> {
    use tract_core::ops::nn::{Reduce, Reducer};
    let winners = model.wire_node(
        format!("{prefix}.argmax"),
        Reduce::new(tvec!(1), Reducer::ArgMax(false)),
        &[x],
    )?;
    let reduced = model.wire_node(
        format!("{prefix}.rm_axis"),
        tract_core::ops::change_axes::AxisOp::Rm(1),
        &winners,
    )?;
    let idx = model.wire_node(
        format!("{prefix}.idx"),
        tract_core::ops::cast::cast(i64::datum_type()),
        &reduced,
    )?;
    let table = model.add_const(format!("{prefix}.labels"), labels.clone())?;
    Ok(model.wire_node(
        format!("{prefix}.lookup"),
        tract_core::ops::array::Gather { axis: 0 },
        &[table, idx[0]],
    )?[0])
}

// ---------------------------------------------------------------- ArrayFeatureExtractor

/// `Y = X[..., indices]` (ONNX-ML `ArrayFeatureExtractor`): skl2onnx uses it to map class
/// indices to labels (rank-1 `X`) and to pick a score column (`X` `[N, C]`, indices `[K]`).
/// For a rank-1 `X` the output has the indices' shape (ONNX Runtime gives `[1, K]`; skl2onnx
/// reshapes the result right after, so the values are the same); for a higher rank, `[..., K]`
/// with scalar (K = 1) or rank-1 indices.
#[derive(Debug, Clone, Hash)]
struct ArrayFeatureExtractor;

fn array_feature_extractor(
    _ctx: &ParsingContext,
    _node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(ArrayFeatureExtractor), vec![]))
}

impl Expansion for ArrayFeatureExtractor {
    fn name(&self) -> Cow<'_, str> {
        "ArrayFeatureExtractor".into()
    }
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given_2(&inputs[0].rank, &inputs[1].rank, move |s, rank, irank| {
            if rank == 1 {
                s.equals(&outputs[0].rank, irank)?;
                s.equals(&outputs[0].shape, &inputs[1].shape)?;
            } else {
                s.equals(&outputs[0].rank, rank)?;
                for k in 0..(rank as usize - 1) {
                    s.equals(&outputs[0].shape[k], &inputs[0].shape[k])?;
                }
                if irank == 0 {
                    s.equals(&outputs[0].shape[rank as usize - 1], 1.to_dim())?;
                } else {
                    s.equals(&outputs[0].shape[rank as usize - 1], &inputs[1].shape[0])?;
                }
            }
            Ok(())
        })
    }
    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let rank = model.outlet_fact(inputs[0])?.rank();
        let mut idx = inputs[1];
        let irank = model.outlet_fact(idx)?.rank();
        if rank > 1 && irank > 1 {
            bail!("ArrayFeatureExtractor on rank {rank} takes scalar or rank-1 indices");
        }
        if rank > 1 && irank == 0 {
            idx = model.wire_node(
                format!("{prefix}.index_as_vector"),
                tract_core::ops::change_axes::AxisOp::Add(0),
                &[idx],
            )?[0];
        }
        if rank == 0 {
            bail!("ArrayFeatureExtractor on a scalar");
        }
        if model.outlet_fact(idx)?.datum_type != i64::datum_type() {
            idx = model.wire_node(
                format!("{prefix}.cast_indices"),
                tract_core::ops::cast::cast(i64::datum_type()),
                &[idx],
            )?[0];
        }
        model.wire_node(
            prefix,
            tract_core::ops::array::Gather { axis: rank - 1 },
            &[inputs[0], idx],
        )
    }
}

// ---------------------------------------------------------------- Normalizer

/// Row normalisation of `[N, C]` (skl2onnx puts `L1` after a multiclass `LinearClassifier`).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
enum Norm {
    Max,
    L1,
    L2,
}

#[derive(Debug, Clone, Hash)]
struct Normalizer {
    norm: Norm,
}

fn normalizer(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let norm = match node.get_attr_opt::<&str>("norm")?.unwrap_or("MAX") {
        "MAX" => Norm::Max,
        "L1" => Norm::L1,
        "L2" => Norm::L2,
        other => bail!("Normalizer norm {other} is not supported"),
    };
    Ok((expand(Normalizer { norm }), vec![]))
}

impl Expansion for Normalizer {
    fn name(&self) -> Cow<'_, str> {
        "Normalizer".into()
    }
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }
    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        use tract_core::ops::nn::{Reduce, Reducer};
        let mut x = inputs[0];
        if model.outlet_fact(x)?.datum_type != f32::datum_type() {
            x = model.wire_node(
                format!("{prefix}.cast_input"),
                tract_core::ops::cast::cast(f32::datum_type()),
                &[x],
            )?[0];
        }
        let denom = match self.norm {
            Norm::Max => model.wire_node(
                format!("{prefix}.max"),
                Reduce::new(tvec!(1), Reducer::Max),
                &[x],
            )?[0],
            Norm::L1 => {
                let a =
                    model.wire_node(format!("{prefix}.abs"), tract_core::ops::math::abs(), &[x])?
                        [0];
                model.wire_node(
                    format!("{prefix}.sum"),
                    Reduce::new(tvec!(1), Reducer::Sum),
                    &[a],
                )?[0]
            }
            Norm::L2 => {
                let q = model.wire_node(
                    format!("{prefix}.square"),
                    tract_core::ops::math::square(),
                    &[x],
                )?[0];
                let s = model.wire_node(
                    format!("{prefix}.sum"),
                    Reduce::new(tvec!(1), Reducer::Sum),
                    &[q],
                )?[0];
                model.wire_node(
                    format!("{prefix}.sqrt"),
                    tract_core::ops::math::sqrt(),
                    &[s],
                )?[0]
            }
        };
        model.wire_node(prefix, tract_core::ops::math::div(), &[x, denom])
    }
}
