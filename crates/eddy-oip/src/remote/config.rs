//! The client's settings: where to send, how to batch, retry and emit.

use std::path::PathBuf;
use std::time::Duration;

/// How results leave the scorer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitMode {
    /// Submission order.
    Ordered,
    /// As results arrive, never across a watermark.
    Unordered,
}

impl std::str::FromStr for EmitMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ordered" => Ok(EmitMode::Ordered),
            "unordered" => Ok(EmitMode::Unordered),
            _ => Err(format!(
                "emission mode {s:?}: expected ordered or unordered"
            )),
        }
    }
}

/// Wire datatype of the features sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Fp32,
    Fp64,
}

impl WireType {
    /// The OIP name (`"FP32"`, `"FP64"`).
    pub fn as_str(self) -> &'static str {
        match self {
            WireType::Fp64 => "FP64",
            WireType::Fp32 => "FP32",
        }
    }
}

/// A request header whose value is read from an environment variable when the scorer
/// starts: the settings (and a pipeline spec) name the variable, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvHeader {
    /// The header's name (`Authorization`, `X-Api-Key`, ...).
    pub name: String,
    /// The environment variable that holds the value.
    pub var: String,
    /// Written before the variable's value (`"Bearer "` for a bearer token).
    pub prefix: String,
}

impl EnvHeader {
    /// `Authorization: Bearer $var`.
    pub fn bearer(var: impl Into<String>) -> Self {
        EnvHeader {
            name: "Authorization".into(),
            var: var.into(),
            prefix: "Bearer ".into(),
        }
    }
}

/// Client settings. [`RemoteConfig::new`] gives workable defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// Server base URL, `http://host:port` or `https://host:port`.
    pub url: String,
    /// Model name: requests go to `{url}/v2/models/{model}/infer`.
    pub model: String,
    /// Name of the model's input tensor (shape `[N, F]`).
    pub input: String,
    pub datatype: WireType,
    /// Output holding the scores: one per row (`[N]` or `[N, 1]`), or, with
    /// [`score_column`](Self::score_column), a row of `k` values per row (`[N, k]`).
    pub score_output: String,
    /// The column of a 2-D score output that holds the score (`1` for scikit-learn's
    /// `predict_proba` of a binary classifier); `None`: the output must hold one value per row.
    pub score_column: Option<usize>,
    /// Output holding one label per row, if wanted.
    pub label_output: Option<String>,
    /// `https://` only: a PEM file of the certificates to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Headers sent with every request (metadata too), their values from the environment.
    pub headers: Vec<EnvHeader>,
    pub max_batch: usize,
    pub max_wait: Duration,
    /// HTTP requests outstanding at once.
    pub max_in_flight: usize,
    /// Events submitted and not yet emitted.
    pub capacity: usize,
    /// Per attempt, connect included.
    pub timeout: Duration,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Consecutive failed attempts that open the breaker (0 = no breaker).
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// The score of an event the server could not score.
    pub fallback_score: f64,
    pub mode: EmitMode,
    /// Seeds the backoff jitter.
    pub seed: u64,
    /// Worker threads of the scorer's runtime.
    pub threads: usize,
}

impl RemoteConfig {
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        RemoteConfig {
            url: url.into(),
            model: model.into(),
            input: "input".into(),
            datatype: WireType::Fp64,
            score_output: "score".into(),
            score_column: None,
            label_output: None,
            ca_file: None,
            headers: Vec::new(),
            max_batch: 64,
            max_wait: Duration::from_millis(2),
            max_in_flight: 8,
            capacity: 4096,
            timeout: Duration::from_secs(1),
            max_retries: 2,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(200),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(1),
            fallback_score: 0.0,
            mode: EmitMode::Ordered,
            seed: 0x5eed,
            threads: 1,
        }
    }
}
