//! A batch to an infer request body, and an infer response body to one result per row, through
//! the shared [`wire`](crate::wire) types.

use bytes::Bytes;

use super::batch::OutBatch;
use super::config::{RemoteConfig, WireType};
use super::outcome::FallbackReason;
use crate::wire::{Flat, InferRequest, InferResponse, ResponseOutput, TensorData};

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

/// The `n` rows' results in a response body: the score output must hold one value per row
/// (`[N]`, `[N, 1]`) or, with a score column, a row of values per row (`[N, k]`, the column
/// below `k`); the label output (if configured) one integer per row.
pub(super) fn decode(
    cfg: &RemoteConfig,
    body: &[u8],
    n: usize,
) -> Result<Vec<RowResult>, FallbackReason> {
    let resp = InferResponse::from_slice(body).map_err(|_| FallbackReason::Malformed)?;
    let scores = resp
        .output_tensor(&cfg.score_output)
        .ok_or(FallbackReason::WrongOutputs)?;
    let (scores, k) = rows(scores, n)?;
    let col = match cfg.score_column {
        None if k == 1 => 0,
        Some(c) if c < k => c,
        _ => return Err(FallbackReason::WrongOutputs),
    };
    let labels = match &cfg.label_output {
        None => None,
        Some(l) => {
            let t = resp.output_tensor(l).ok_or(FallbackReason::WrongOutputs)?;
            match rows(t, n)? {
                (labels, 1) if t.data.all_int() => Some(labels),
                _ => return Err(FallbackReason::WrongOutputs),
            }
        }
    };
    (0..n)
        .map(|i| {
            let s = scores[i * k + col];
            // JSON has no NaN or infinity; a huge number may still read as one.
            if !s.is_finite() {
                return Err(FallbackReason::Malformed);
            }
            Ok((s, labels.map(|l| l[i] as i64)))
        })
        .collect()
}

/// An output's values and how many there are per row, when they fit `n` rows: the data must
/// be rectangular, the values a multiple of `n`, and the shape (the declared one, and the
/// nesting of the data when nested) of rank 1 or 2 with `n` rows.
fn rows<'a>(
    t: &'a ResponseOutput<'static, Flat>,
    n: usize,
) -> Result<(&'a [f64], usize), FallbackReason> {
    let values = t.data.values.as_slice();
    if n == 0 || t.data.is_ragged() || values.is_empty() || !values.len().is_multiple_of(n) {
        return Err(FallbackReason::WrongOutputs);
    }
    let k = values.len() / n;
    let fits = |shape: &[usize]| match *shape {
        [rows] => rows == n && k == 1,
        [rows, cols] => rows == n && cols == k,
        _ => false,
    };
    let declared: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
    let nested = t.data.dims();
    if (!declared.is_empty() && !fits(&declared)) || (nested.len() > 1 && !fits(&nested)) {
        return Err(FallbackReason::WrongOutputs);
    }
    Ok((values, k))
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

    /// One output named `score` with `shape` (omitted when `None`) and `data`.
    fn answer(shape: Option<&str>, data: &str) -> Vec<u8> {
        let shape = shape
            .map(|s| format!(r#""shape":{s},"#))
            .unwrap_or_default();
        format!(r#"{{"outputs":[{{"name":"score",{shape}"data":{data}}}]}}"#).into_bytes()
    }

    fn column(c: Option<usize>) -> RemoteConfig {
        let mut c0 = cfg(false);
        c0.score_column = c;
        c0
    }

    #[test]
    fn a_score_is_a_column_of_a_2d_output() {
        let scores = |r: Result<Vec<RowResult>, FallbackReason>| {
            r.map(|v| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>())
        };
        // [N, 2] as MLServer writes it: flat data and a declared shape.
        let proba = answer(Some("[2,2]"), "[0.75,0.25,0.125,0.875]");
        assert_eq!(
            scores(decode(&column(Some(1)), &proba, 2)),
            Ok(vec![0.25, 0.875])
        );
        assert_eq!(
            scores(decode(&column(Some(0)), &proba, 2)),
            Ok(vec![0.75, 0.125])
        );
        // Nested data, no shape.
        let nested = answer(None, "[[0.75,0.25],[0.125,0.875]]");
        assert_eq!(
            scores(decode(&column(Some(1)), &nested, 2)),
            Ok(vec![0.25, 0.875])
        );
        // Flat data, no shape: the row width is what the row count leaves.
        let flat = answer(None, "[0.75,0.25,0.125,0.875]");
        assert_eq!(
            scores(decode(&column(Some(1)), &flat, 2)),
            Ok(vec![0.25, 0.875])
        );
        // [N] and [N, 1] need no column, and column 0 is theirs.
        for one in [
            answer(Some("[2]"), "[0.5,0.25]"),
            answer(Some("[2,1]"), "[0.5,0.25]"),
            answer(None, "[[0.5],[0.25]]"),
        ] {
            assert_eq!(scores(decode(&column(None), &one, 2)), Ok(vec![0.5, 0.25]));
            assert_eq!(
                scores(decode(&column(Some(0)), &one, 2)),
                Ok(vec![0.5, 0.25])
            );
            assert_eq!(
                decode(&column(Some(1)), &one, 2),
                Err(FallbackReason::WrongOutputs)
            );
        }
        // Several values per row and no column; a column out of range.
        assert_eq!(
            decode(&column(None), &proba, 2),
            Err(FallbackReason::WrongOutputs)
        );
        assert_eq!(
            decode(&column(Some(2)), &proba, 2),
            Err(FallbackReason::WrongOutputs)
        );
        // Shapes that do not fit the batch: transposed, the wrong product, rank 3, ragged.
        for bad in [
            answer(Some("[2,2]"), "[0.75,0.25,0.125]"),
            answer(Some("[1,4]"), "[0.75,0.25,0.125,0.875]"),
            answer(Some("[4]"), "[0.75,0.25,0.125,0.875]"),
            answer(Some("[2,1,2]"), "[0.75,0.25,0.125,0.875]"),
            answer(None, "[[0.75,0.25,0.125,0.875]]"),
            answer(None, "[[0.75,0.25],[0.125]]"),
            answer(None, "[[[0.75,0.25]],[[0.125,0.875]]]"),
            answer(Some("[2,2]"), "[]"),
        ] {
            let text = String::from_utf8(bad.clone()).unwrap();
            assert_eq!(
                decode(&column(Some(1)), &bad, 2),
                Err(FallbackReason::WrongOutputs),
                "{text}"
            );
        }
        // An odd shape member reads as unknown.
        let odd = answer(Some("\"?\""), "[0.75,0.25,0.125,0.875]");
        assert_eq!(
            scores(decode(&column(Some(1)), &odd, 2)),
            Ok(vec![0.25, 0.875])
        );
    }

    #[test]
    fn nan_scores_and_non_integer_labels_fall_back() {
        for bad in ["[NaN,0.5]", "[null,0.5]", "[1e999,0.5]", "[\"0.5\",0.5]"] {
            assert_eq!(
                decode(&column(None), &answer(None, bad), 2),
                Err(FallbackReason::Malformed),
                "{bad}"
            );
        }
        let body =
            br#"{"outputs":[{"name":"score","data":[0.5,0.25]},{"name":"label","data":[0.5,1]}]}"#;
        assert_eq!(
            decode(&cfg(true), body, 2),
            Err(FallbackReason::WrongOutputs)
        );
        let body = br#"{"outputs":[{"name":"score","data":[0.5,0.25]},{"name":"label","shape":[2,1],"data":[0,1]}]}"#;
        assert_eq!(
            decode(&cfg(true), body, 2),
            Ok(vec![(0.5, Some(0)), (0.25, Some(1))])
        );
    }
}
