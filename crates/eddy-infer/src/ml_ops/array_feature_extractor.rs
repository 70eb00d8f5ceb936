//! `ArrayFeatureExtractor` (ONNX-ML) as a tract `Gather`.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core;

/// `Y = X[..., indices]` (ONNX-ML `ArrayFeatureExtractor`): skl2onnx uses it to map class
/// indices to labels (rank-1 `X`) and to pick a score column (`X` `[N, C]`, indices `[K]`).
/// For a rank-1 `X` the output has the indices' shape (ONNX Runtime gives `[1, K]`; skl2onnx
/// reshapes the result right after, so the values are the same); for a higher rank, `[..., K]`
/// with scalar (K = 1) or rank-1 indices.
#[derive(Debug, Clone, Hash)]
struct ArrayFeatureExtractor;

pub(super) fn array_feature_extractor(
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
