//! The client's settings: where to send, how to batch, retry and emit.

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

/// Client settings. [`RemoteConfig::new`] gives workable defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// Server base URL, `http://host:port` (plain HTTP).
    pub url: String,
    /// Model name: requests go to `{url}/v2/models/{model}/infer`.
    pub model: String,
    /// Name of the model's input tensor (shape `[N, F]`).
    pub input: String,
    pub datatype: WireType,
    /// Output holding one score per row.
    pub score_output: String,
    /// Output holding one label per row, if wanted.
    pub label_output: Option<String>,
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
            label_output: None,
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
