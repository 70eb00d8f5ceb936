//! A batch to an infer request body, and an infer response body to one result per row, through
//! the shared [`wire`](crate::wire) types.

use bytes::Bytes;

use super::batch::OutBatch;
use super::config::{RemoteConfig, WireType};
use super::outcome::FallbackReason;
use crate::wire::{InferRequest, InferResponse, TensorData};

/// One row's result: the score and, when a label output is configured, the label.
pub(super) type RowResult = (f64, Option<i64>);

/// The request body for `b`, with request id `id`.
pub(super) fn encode(cfg: &RemoteConfig, id: u64, b: &OutBatch) -> Result<Bytes, FallbackReason> {
    let data = match cfg.datatype {
        WireType::Fp64 => TensorData::Fp64(&b.values),
        WireType::Fp32 => TensorData::Fp32(&b.values),
    };
    let outputs = std::iter::once(cfg.score_output.as_str()).chain(cfg.label_output.as_deref());
    InferRequest::single(
        id.to_string(),
        &cfg.input,
        cfg.datatype.as_str(),
        b.seqs.len(),
        b.width,
        data,
        outputs,
    )
    .to_vec()
    .map(Bytes::from)
    .map_err(|_| FallbackReason::InvalidInput)
}

/// The `n` rows' results in a response body: the score output (and the label output, if
/// configured) must each hold `n` values.
pub(super) fn decode(
    cfg: &RemoteConfig,
    body: &[u8],
    n: usize,
) -> Result<Vec<RowResult>, FallbackReason> {
    let resp = InferResponse::from_slice(body).map_err(|_| FallbackReason::Malformed)?;
    let scores = resp
        .output(&cfg.score_output)
        .ok_or(FallbackReason::WrongOutputs)?;
    if scores.len() != n {
        return Err(FallbackReason::WrongOutputs);
    }
    let labels = match &cfg.label_output {
        None => None,
        Some(l) => {
            let labels = resp.output(l).ok_or(FallbackReason::WrongOutputs)?;
            if labels.len() != n {
                return Err(FallbackReason::WrongOutputs);
            }
            Some(labels)
        }
    };
    Ok((0..n)
        .map(|i| (scores[i], labels.map(|l| l[i] as i64)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(label: bool) -> RemoteConfig {
        let mut c = RemoteConfig::new("http://127.0.0.1:1", "m");
        c.label_output = label.then(|| "label".to_string());
        c
    }

    #[test]
    fn encodes_one_input_and_the_wanted_outputs() {
        let b = OutBatch {
            seqs: vec![4, 5],
            values: vec![1.0, 2.5, -0.1, 3.0],
            width: 2,
        };
        let body = encode(&cfg(true), 12, &b).unwrap();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"id":"12","inputs":[{"name":"input","shape":[2,2],"datatype":"FP64","data":[1.0,2.5,-0.1,3.0]}],"outputs":[{"name":"score"},{"name":"label"}]}"#
        );
    }

    #[test]
    fn decodes_scores_and_labels_or_says_why_not() {
        let ok =
            br#"{"outputs":[{"name":"label","data":[1,0]},{"name":"score","data":[0.75,0.25]}]}"#;
        assert_eq!(
            decode(&cfg(true), ok, 2),
            Ok(vec![(0.75, Some(1)), (0.25, Some(0))])
        );
        assert_eq!(
            decode(&cfg(false), ok, 2),
            Ok(vec![(0.75, None), (0.25, None)])
        );
        assert_eq!(decode(&cfg(true), ok, 3), Err(FallbackReason::WrongOutputs));
        let no_label = br#"{"outputs":[{"name":"score","data":[0.75]}]}"#;
        assert_eq!(
            decode(&cfg(true), no_label, 1),
            Err(FallbackReason::WrongOutputs)
        );
        assert_eq!(
            decode(&cfg(false), b"{\"outputs\":", 1),
            Err(FallbackReason::Malformed)
        );
    }
}
