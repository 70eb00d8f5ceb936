//! `Normalizer` (ONNX-ML): row normalisation by the max, L1 or L2 norm.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core;

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

pub(super) fn normalizer(
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
