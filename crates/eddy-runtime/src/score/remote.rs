//! The two server patterns: every per-event row is scored by an Open Inference Protocol
//! server through [`eddy_oip::remote::RemoteScorer`] (batching, bounded requests in flight,
//! timeout, retries, circuit breaker, fallback).
//!
//! - `external`: a row leaves when its score (or the fallback) is back, in input order
//!   (`order = "ordered"`) or as scores arrive but never across a watermark (`"unordered"`).
//! - `side_output`: the stream forks. Rows wait at most `deadline` for their score, then
//!   leave in input order; a score that misses its row is dropped and counted, and a row
//!   without one says `"prediction": null, "scored": false`. While the client already holds
//!   its `capacity` of pending rows, new rows are not sent (shed) rather than held up.
//!
//! Rows are named by an id the caller chooses; [`RemoteStage`] hands each finished row back
//! with its prediction fragment through a callback, exactly once.

use std::time::{Duration, Instant};

use eddy_core::feature::FeatureSpec;
use eddy_core::row::FeatureRow;
use eddy_oip::remote::{
    ClientError, Counters, Emitted, EnvHeader, FallbackReason, MetadataError, Outcome,
    RemoteConfig, RemoteScorer, WireType,
};

use super::join::{micros, Join, Score, Unscored};
use super::{gather, resolve_inputs, spec_err, Deferred, PredictionWriter};
pub use super::{Deliver, StageCounts};
use crate::error::{SpecError, SpecErrors};
use crate::spec::{ModelSource, ModelSpec, OutputFormat, Pattern};

/// A server pattern's client, input mapping and join; see the module docs.
pub struct RemoteStage {
    client: RemoteScorer,
    pattern: Pattern,
    cols: Vec<usize>,
    feats: Vec<f64>,
    /// Whether `feats` holds every input of the last loaded row.
    loaded: bool,
    pred: PredictionWriter,
    /// Side output: rows wait here for their scores, up to the deadline.
    join: Option<Join>,
    out: Vec<Emitted>,
    buf: Vec<u8>,
    last_wm: i64,
    counts: StageCounts,
}

impl std::fmt::Debug for RemoteStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStage")
            .field("client", &self.client)
            .field("pattern", &self.pattern)
            .finish()
    }
}

fn wire_type(datatype: &str) -> Option<WireType> {
    match datatype {
        "FP64" => Some(WireType::Fp64),
        "FP32" => Some(WireType::Fp32),
        _ => None,
    }
}

impl RemoteStage {
    /// Starts the client and checks the input mapping: against the spec's features, and
    /// against the server's metadata when the server answers. A server that cannot be reached
    /// is not an error (its rows fall back); the returned warnings say so.
    pub fn new(
        spec: &ModelSpec,
        features: &[FeatureSpec],
        format: OutputFormat,
    ) -> Result<(RemoteStage, Vec<String>), SpecErrors> {
        let ModelSource::Server {
            cfg,
            input_set,
            datatype_set,
        } = &spec.source
        else {
            return Err(spec_err(
                "model.url",
                "missing; a server pattern needs `url`",
            ));
        };
        let inputs = spec
            .inputs
            .as_ref()
            .ok_or_else(|| spec_err("model.inputs", "missing; list the model's features"))?;
        let (cols, _) = resolve_inputs(inputs, true, features)?;
        let mut cfg: RemoteConfig = (**cfg).clone();
        let mut warnings = Vec::new();
        let probe = RemoteScorer::new(cfg.clone()).map_err(client_err)?;
        let version = match probe.fetch_metadata() {
            Ok(md) => {
                check_metadata(
                    &md,
                    &mut cfg,
                    (*input_set, *datatype_set),
                    inputs.len(),
                    &mut warnings,
                )?;
                md.versions.first().cloned().unwrap_or_default()
            }
            Err(MetadataError::Tls(msg)) => {
                return Err(spec_err(
                    if cfg.ca_file.is_some() { "model.ca_file" } else { "model.url" },
                    format!(
                        "the TLS handshake with the server at {} failed ({msg}); if its certificate is signed by a private CA, set `ca_file` to that CA's PEM file",
                        cfg.url
                    ),
                ))
            }
            // The body is left out: a server may echo what it refused.
            Err(MetadataError::Status {
                status: status @ (401 | 403),
                ..
            }) => {
                return Err(spec_err(
                    cfg.headers
                        .first()
                        .map(credential_path)
                        .unwrap_or_else(|| "model.bearer_token_env".into()),
                    format!(
                        "the server at {} refused the request for model `{}` (HTTP {status}): {}",
                        cfg.url,
                        cfg.model,
                        if cfg.headers.is_empty() {
                            "it wants credentials; name the environment variable that holds a token in `bearer_token_env` (or `headers_env`)".to_string()
                        } else {
                            format!("the credentials from {} are missing, wrong or expired", env_vars(&cfg))
                        }
                    ),
                ))
            }
            Err(MetadataError::Status { status: 404, body }) => {
                return Err(spec_err(
                    "model.name",
                    format!(
                        "the server at {} does not serve a model `{}` (HTTP 404: {body})",
                        cfg.url, cfg.model
                    ),
                ))
            }
            Err(e) => {
                warnings.push(format!(
                    "model server {}: cannot check model `{}` before the run ({e}); events it cannot score get {}",
                    cfg.url,
                    cfg.model,
                    match spec.pattern {
                        Pattern::SideOutput => format!("\"{}\": null", spec.field),
                        _ => format!("the fallback score {}", cfg.fallback_score),
                    }
                ));
                String::new()
            }
        };
        // A new client only when the server's metadata changed the settings.
        let client = if *probe.config() == cfg {
            probe
        } else {
            drop(probe);
            RemoteScorer::new(cfg).map_err(client_err)?
        };
        let pred = PredictionWriter::new(format, &spec.field, &spec.name, &version);
        let join = (spec.pattern == Pattern::SideOutput).then(|| {
            let deadline = spec.deadline.unwrap_or(Duration::from_millis(50));
            Join::new(deadline, false, false, pred.clone())
        });
        Ok((
            RemoteStage {
                client,
                pattern: spec.pattern,
                feats: Vec::with_capacity(cols.len()),
                loaded: false,
                cols,
                pred,
                join,
                out: Vec::new(),
                buf: Vec::new(),
                last_wm: i64::MIN,
                counts: StageCounts::default(),
            },
            warnings,
        ))
    }

    /// The client's counters (requests, retries, breaker, fallbacks by reason).
    pub fn client_counters(&self) -> Counters {
        self.client.counters()
    }

    /// Applies what the client emitted, then hands finished rows to `deliver`.
    fn deliver(&mut self, deliver: &mut Deliver<'_>) {
        let RemoteStage {
            join,
            out,
            buf,
            pred,
            counts,
            ..
        } = self;
        match join {
            None => {
                for e in out.drain(..) {
                    let Emitted::Event(e) = e else { continue };
                    buf.clear();
                    match e.outcome {
                        Outcome::Scored => {
                            counts.scored += 1;
                            pred.write(buf, e.score, e.label, micros(e.latency), None);
                        }
                        Outcome::Fallback(FallbackReason::InvalidInput) => {
                            counts.unscored_null_feature += 1;
                            pred.write_unscored(buf);
                        }
                        Outcome::Fallback(reason) => {
                            counts.fallback += 1;
                            pred.write(
                                buf,
                                e.score,
                                None,
                                micros(e.latency),
                                Some(reason.as_str()),
                            );
                        }
                    }
                    deliver(e.id, buf);
                }
            }
            Some(j) => {
                for e in out.drain(..) {
                    let Emitted::Event(e) = e else { continue };
                    let r = match e.outcome {
                        Outcome::Scored => Ok(Score {
                            score: e.score,
                            label: e.label,
                            latency: e.latency,
                            origin: 0,
                        }),
                        Outcome::Fallback(_) => Err(Unscored::Server),
                    };
                    j.complete(e.id, r, deliver);
                }
                j.release(Instant::now(), deliver);
            }
        }
    }
}

impl Deferred for RemoteStage {
    fn counts(&self) -> &StageCounts {
        match &self.join {
            Some(j) => j.counts(),
            None => &self.counts,
        }
    }

    fn client_counters(&self) -> Option<Counters> {
        Some(self.client.counters())
    }

    fn pending(&self) -> usize {
        match &self.join {
            Some(j) => j.len(),
            None => self.client.pending(),
        }
    }

    fn watermark(&mut self, wm: i64, deliver: &mut Deliver<'_>) {
        if wm > self.last_wm && self.join.is_none() {
            self.last_wm = wm;
            self.client.submit_watermark(wm, &mut self.out);
            self.deliver(deliver);
        }
    }

    fn load(&mut self, row: &FeatureRow, _key: &str, _ts: i64) {
        self.loaded = gather(row, &self.cols, &mut self.feats);
    }

    fn send(&mut self, id: u64, deliver: &mut Deliver<'_>) {
        match &mut self.join {
            None => {
                if !self.loaded {
                    // A null input: the client completes it at once, in order.
                    self.feats.clear();
                    self.feats.resize(self.cols.len(), f64::NAN);
                }
                self.client.submit(id, &self.feats, &mut self.out);
            }
            Some(j) => {
                let result = if !self.loaded {
                    Some(Err(Unscored::NullFeature))
                } else if self.client.pending() >= self.client.config().capacity {
                    Some(Err(Unscored::Shed))
                } else {
                    None
                };
                let send = result.is_none();
                let seq = j.push(id, Instant::now(), result, deliver);
                if send {
                    self.client.submit(seq, &self.feats, &mut self.out);
                }
            }
        }
        self.deliver(deliver);
    }

    fn poll(&mut self, deliver: &mut Deliver<'_>) {
        self.client.poll(&mut self.out);
        self.deliver(deliver);
    }

    fn finish(&mut self, deliver: &mut Deliver<'_>) {
        if self.join.is_none() {
            self.client.drain(&mut self.out);
            self.deliver(deliver);
            return;
        }
        self.client.flush();
        loop {
            self.client.poll(&mut self.out);
            self.deliver(deliver);
            let Some(due) = self.join.as_ref().and_then(|j| j.next_due()) else {
                break;
            };
            let wait = due.saturating_duration_since(Instant::now());
            self.client.wait(
                &mut self.out,
                wait.clamp(Duration::from_micros(100), Duration::from_millis(10)),
            );
        }
    }
}

/// The spec key that names a header's variable.
fn credential_path(h: &EnvHeader) -> String {
    if *h == EnvHeader::bearer(&h.var) {
        "model.bearer_token_env".into()
    } else {
        format!("model.headers_env.{}", h.name)
    }
}

/// The variables the credentials come from, for a message (names, never values).
fn env_vars(cfg: &RemoteConfig) -> String {
    cfg.headers
        .iter()
        .map(|h| format!("`{}`", h.var))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A client that cannot start, at the spec key that caused it.
fn client_err(e: ClientError) -> SpecErrors {
    let path = match &e {
        ClientError::CaFile { .. } | ClientError::CaWithoutTls { .. } => "model.ca_file".into(),
        ClientError::MissingEnv { header, var } | ClientError::BadHeader { header, var } => {
            credential_path(&EnvHeader {
                name: header.clone(),
                var: var.clone(),
                prefix: if header == "Authorization" {
                    "Bearer ".into()
                } else {
                    String::new()
                },
            })
        }
        _ => "model.url".to_string(),
    };
    spec_err(path, e)
}

/// Checks the mapping against what the server says the model takes and gives, and adopts
/// the server's input name and wire type where the spec left them open. A model that
/// declares no inputs (or no outputs) is trusted, with a warning: MLServer's scikit-learn
/// runtime declares neither by default.
fn check_metadata(
    md: &eddy_oip::remote::ServedModel,
    cfg: &mut RemoteConfig,
    (input_set, datatype_set): (bool, bool),
    n_inputs: usize,
    warnings: &mut Vec<String>,
) -> Result<(), SpecErrors> {
    let mut errors = Vec::new();
    let names = |ts: &[eddy_oip::remote::ServedTensor]| {
        ts.iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if md.inputs.is_empty() {
        warnings.push(format!(
            "model server {}: model `{}` declares no inputs, so the {n_inputs} features of `inputs` cannot be checked before the run; a mismatch shows as fallbacks",
            cfg.url, md.name
        ));
    }
    if md.outputs.is_empty() {
        warnings.push(format!(
            "model server {}: model `{}` declares no outputs, so `score_output` (`{}`) cannot be checked before the run; a missing output or a wrong column shows as fallbacks (`wrong_outputs`)",
            cfg.url, md.name, cfg.score_output
        ));
    }
    let input = match md.inputs.iter().find(|t| t.name == cfg.input) {
        Some(t) => Some(t),
        None if md.inputs.is_empty() => None,
        None if !input_set && md.inputs.len() == 1 => {
            cfg.input = md.inputs[0].name.clone();
            Some(&md.inputs[0])
        }
        None => {
            errors.push(SpecError {
                path: "model.input".into(),
                msg: format!(
                    "model `{}` has no input `{}`; its inputs: {}",
                    md.name,
                    cfg.input,
                    names(&md.inputs)
                ),
            });
            None
        }
    };
    if let Some(t) = input {
        if let Some(&w) = t.shape.get(1) {
            if w > 0 && w as usize != n_inputs {
                errors.push(SpecError {
                    path: "model.inputs".into(),
                    msg: format!(
                        "lists {n_inputs} features; model `{}` takes {w} per row (input `{}`, shape {:?})",
                        md.name, t.name, t.shape
                    ),
                });
            }
        }
        if !datatype_set {
            if let Some(wt) = wire_type(&t.datatype) {
                cfg.datatype = wt;
            }
        }
    }
    let outputs = [
        Some(("model.score_output", &cfg.score_output)),
        cfg.label_output.as_ref().map(|l| ("model.label_output", l)),
    ];
    for (path, name) in outputs.into_iter().flatten() {
        if md.outputs.is_empty() {
            continue;
        }
        let Some(out) = md.outputs.iter().find(|o| &o.name == name) else {
            errors.push(SpecError {
                path: path.into(),
                msg: format!(
                    "model `{}` has no output `{name}`; its outputs: {}",
                    md.name,
                    names(&md.outputs)
                ),
            });
            continue;
        };
        let column = if path == "model.score_output" {
            cfg.score_column
        } else {
            None
        };
        if let Some((p, msg)) = check_columns(out, column, path) {
            errors.push(SpecError {
                path: p.into(),
                msg: format!("model `{}`: {msg}", md.name),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(SpecErrors(errors))
    }
}

/// Whether `column` (None: the output's only value per row) fits the values per row that
/// `out`'s declared shape gives (`[N]`, `[N, k]`; a size of -1 or 0 is unknown): the key at
/// fault and why when it does not.
fn check_columns(
    out: &eddy_oip::remote::ServedTensor,
    column: Option<usize>,
    path: &'static str,
) -> Option<(&'static str, String)> {
    let k = match out.shape.as_slice() {
        [] | [_] => 1,
        [_, k] if *k > 0 => *k as usize,
        [_, _] => return None,
        _ => {
            return Some((
                path,
                format!(
                    "output `{}` has shape {:?}; a score or label must be one value, or one column, per row",
                    out.name, out.shape
                ),
            ))
        }
    };
    match column {
        None if k > 1 && path == "model.score_output" => Some((
            "model.score_column",
            format!(
                "output `{}` holds {k} values per row (shape {:?}); set `score_column` (0 to {}) to choose the score",
                out.name,
                out.shape,
                k - 1
            ),
        )),
        None if k > 1 => Some((
            path,
            format!(
                "output `{}` holds {k} values per row (shape {:?}); a label output must hold one",
                out.name, out.shape
            ),
        )),
        Some(c) if c >= k => Some((
            "model.score_column",
            format!(
                "column {c} is out of range: output `{}` holds {k} value{} per row (shape {:?})",
                out.name,
                if k == 1 { "" } else { "s" },
                out.shape
            ),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_oip::remote::{ServedModel, ServedTensor};

    fn tensor(name: &str, shape: &[i64]) -> ServedTensor {
        ServedTensor {
            datatype: "FP64".into(),
            name: name.into(),
            shape: shape.to_vec(),
        }
    }

    /// The errors' paths and the warnings of checking `md` with `score_column`.
    fn check(md: &ServedModel, column: Option<usize>, label: bool) -> (Vec<String>, Vec<String>) {
        let mut cfg = RemoteConfig::new("http://h:1", "m");
        cfg.score_output = "proba".into();
        cfg.score_column = column;
        cfg.label_output = label.then(|| "label".to_string());
        let mut warnings = Vec::new();
        let paths = match check_metadata(md, &mut cfg, (false, false), 2, &mut warnings) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.into_iter().map(|e| e.path).collect(),
        };
        (paths, warnings)
    }

    #[test]
    fn metadata_without_tensors_is_trusted_with_warnings() {
        let md = ServedModel::from_slice(br#"{"name":"m","inputs":[],"outputs":[]}"#).unwrap();
        let (paths, warnings) = check(&md, Some(7), true);
        assert!(paths.is_empty(), "{paths:?}");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("declares no inputs"), "{warnings:?}");
        assert!(warnings[1].contains("declares no outputs"), "{warnings:?}");
    }

    #[test]
    fn a_score_column_is_checked_against_a_declared_shape() {
        let md = |proba: &[i64], label: &[i64]| ServedModel {
            inputs: vec![tensor("input", &[-1, 2])],
            name: "m".into(),
            outputs: vec![tensor("proba", proba), tensor("label", label)],
            platform: String::new(),
            versions: Vec::new(),
        };
        let ok = (Vec::<String>::new(), Vec::<String>::new());
        let col = vec!["model.score_column".to_string()];
        assert_eq!(check(&md(&[-1, 2], &[-1]), Some(1), true), ok);
        assert_eq!(check(&md(&[-1, 2], &[-1, 1]), Some(0), true), ok);
        assert_eq!(check(&md(&[-1, 2], &[-1]), None, false).0, col);
        assert_eq!(check(&md(&[-1, 2], &[-1]), Some(2), false).0, col);
        assert_eq!(check(&md(&[-1], &[-1]), Some(1), false).0, col);
        assert_eq!(check(&md(&[-1], &[-1]), None, false), ok);
        assert_eq!(check(&md(&[-1], &[-1]), Some(0), false), ok);
        // Unknown widths are left to the answers.
        assert_eq!(check(&md(&[-1, -1], &[-1]), Some(5), false), ok);
        assert_eq!(check(&md(&[], &[-1]), None, false), ok);
        // A label output of several values per row; a rank-3 score output.
        assert_eq!(
            check(&md(&[-1], &[-1, 3]), None, true).0,
            ["model.label_output"]
        );
        assert_eq!(
            check(&md(&[-1, 2, 2], &[-1]), Some(1), false).0,
            ["model.score_output"]
        );
    }
}
