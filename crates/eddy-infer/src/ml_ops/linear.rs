//! `LinearRegressor` and `LinearClassifier` (ONNX-ML): an affine map in f32, then for the
//! classifier a post transform, the argmax label and the probabilities output.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::array::TypedConcat;
use tract_onnx::tract_hir::tract_core;
use tract_onnx::tract_hir::tract_core::ops::einsum::EinSum;

use super::common::{classifier_rules, post_transform, Post};

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

pub(super) fn linear_regressor(
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

pub(super) fn linear_classifier(
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
