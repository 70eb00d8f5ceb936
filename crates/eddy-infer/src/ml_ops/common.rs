//! What the ONNX-ML operators share: the `post_transform` attribute and the shape rules of a
//! classifier (used by `linear` and `trees`).

use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// The `post_transform` attribute: what turns raw scores into the probabilities output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Post {
    None,
    Logistic,
    Softmax,
}

/// Reads `post_transform` (default `NONE`).
pub(super) fn post_transform(node: &NodeProto) -> TractResult<Post> {
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

/// Shape rules shared by the classifier operators (ai.onnx.ml): one `[N, F]` input, a label
/// per row (`INT64 [N]`) and a probability per class (`FLOAT [N, n_classes]`).
pub(super) fn classifier_rules<'r, 'p: 'r>(
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
