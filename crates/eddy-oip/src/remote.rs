//! The external-service call: score events through any Open Inference Protocol server.
//!
//! A [`RemoteScorer`] is driven by one synchronous pipeline thread and owns a small tokio
//! runtime that does the HTTP:
//!
//! - [`RemoteScorer::submit`] copies an event's features into the open micro-batch; a batch is
//!   sent when it holds [`RemoteConfig::max_batch`] events or its first event has waited
//!   [`RemoteConfig::max_wait`] (a timer on the runtime, so an idle pipeline still flushes).
//! - At most [`RemoteConfig::max_in_flight`] requests are outstanding; at most
//!   [`RemoteConfig::capacity`] events are submitted and not yet emitted; `submit` blocks
//!   (emitting what completes meanwhile into `out`) while the buffer is full.
//! - Each attempt has [`RemoteConfig::timeout`]; timeouts, connection failures and 5xx are
//!   retried up to [`RemoteConfig::max_retries`] times after a full-jitter exponential backoff
//!   (`uniform(0, min(backoff_max, backoff_base · 2^(attempt-1)))`, from a seeded
//!   [`eddy_core::rng::Rng`]). 4xx, malformed JSON and wrong outputs are not retried.
//! - A circuit breaker opens after [`RemoteConfig::breaker_failures`] consecutive failed
//!   attempts; while open, batches fail at once (`circuit_open`); after
//!   [`RemoteConfig::breaker_cooldown`] one probe request is let through (half-open): success
//!   closes the breaker, failure opens it again. A batch whose retry the open breaker refuses
//!   keeps the reason of its last failure; only batches never tried say `circuit_open`.
//! - An event the server could not score still comes out, exactly once, with
//!   [`RemoteConfig::fallback_score`] and a [`FallbackReason`].
//! - Emission follows Flink's Async I/O: [`EmitMode::Ordered`] emits in submission order;
//!   [`EmitMode::Unordered`] emits as results arrive, but watermarks are barriers: an event
//!   never passes a watermark submitted after it, nor a watermark submitted before it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eddy_core::rng::Rng;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use crate::server::Flat;

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

/// Why an event got the fallback score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FallbackReason {
    /// Every attempt timed out.
    Timeout,
    /// The server answered 5xx.
    Http5xx,
    /// The server answered another non-2xx status (the request was refused).
    Http4xx,
    /// The response body was not a valid OIP response.
    Malformed,
    /// The response lacked the score output or had the wrong number of values.
    WrongOutputs,
    /// No connection, or it broke.
    Connect,
    /// The circuit breaker was open.
    CircuitOpen,
    /// The features held a non-finite value (never sent).
    InvalidInput,
}

impl FallbackReason {
    pub const ALL: [FallbackReason; 8] = [
        FallbackReason::Timeout,
        FallbackReason::Http5xx,
        FallbackReason::Http4xx,
        FallbackReason::Malformed,
        FallbackReason::WrongOutputs,
        FallbackReason::Connect,
        FallbackReason::CircuitOpen,
        FallbackReason::InvalidInput,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackReason::Timeout => "timeout",
            FallbackReason::Http5xx => "http_5xx",
            FallbackReason::Http4xx => "http_4xx",
            FallbackReason::Malformed => "malformed",
            FallbackReason::WrongOutputs => "wrong_outputs",
            FallbackReason::Connect => "connect",
            FallbackReason::CircuitOpen => "circuit_open",
            FallbackReason::InvalidInput => "invalid_input",
        }
    }
    fn index(self) -> usize {
        self as usize
    }
    /// Whether another attempt might succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            FallbackReason::Timeout | FallbackReason::Http5xx | FallbackReason::Connect
        )
    }
}

impl fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scored by the server, or the fallback and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Scored,
    Fallback(FallbackReason),
}

/// One event out of the scorer.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredEvent {
    /// The id given to [`RemoteScorer::submit`].
    pub id: u64,
    pub score: f64,
    pub label: Option<i64>,
    pub outcome: Outcome,
    /// From `submit` to emission (batching, the call, retries and ordering waits).
    pub latency: Duration,
    /// HTTP attempts made for the event's batch (0 when none was made).
    pub attempts: u32,
}

/// What [`RemoteScorer::poll`] and friends emit.
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted {
    Event(ScoredEvent),
    Watermark(i64),
}

/// A served model's metadata, as the Open Inference Protocol returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServedModel {
    pub name: String,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub inputs: Vec<ServedTensor>,
    #[serde(default)]
    pub outputs: Vec<ServedTensor>,
}

/// Why [`RemoteScorer::fetch_metadata`] has no metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// No connection or no answer in time.
    Unreachable(String),
    /// The server answered with a non-2xx status (404: it does not serve the model).
    Status { status: u16, body: String },
    /// The answer was not model metadata.
    Malformed(String),
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::Unreachable(m) | MetadataError::Malformed(m) => f.write_str(m),
            MetadataError::Status { status, body } => write!(f, "HTTP {status}: {body}"),
        }
    }
}

/// One input or output tensor of a [`ServedModel`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServedTensor {
    pub name: String,
    pub datatype: String,
    #[serde(default)]
    pub shape: Vec<i64>,
}

/// Counters (a snapshot; see [`RemoteScorer::counters`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub submitted: u64,
    /// Events emitted with a server score.
    pub scored: u64,
    /// Events emitted with the fallback, by [`FallbackReason`] (index = `reason as usize`).
    pub fallback: [u64; 8],
    /// Batches formed (one per completed request sequence, retries not included).
    pub batches: u64,
    /// HTTP attempts made.
    pub requests: u64,
    pub retries: u64,
    /// Times the breaker went to open.
    pub breaker_opened: u64,
}

impl Counters {
    pub fn fallback(&self, r: FallbackReason) -> u64 {
        self.fallback[r.index()]
    }
    pub fn fallback_total(&self) -> u64 {
        self.fallback.iter().sum()
    }
    /// Events emitted so far.
    pub fn emitted(&self) -> u64 {
        self.scored + self.fallback_total()
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "submitted={} scored={} batches={} requests={} retries={} breaker_opened={}",
            self.submitted,
            self.scored,
            self.batches,
            self.requests,
            self.retries,
            self.breaker_opened
        )?;
        for r in FallbackReason::ALL {
            let n = self.fallback(r);
            if n > 0 {
                write!(f, " fallback_{}={}", r.as_str(), n)?;
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct AtomicCounters {
    batches: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    breaker_opened: AtomicU64,
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// The breaker's state as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerView {
    Closed,
    Open,
    HalfOpen,
}

struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

impl Breaker {
    /// Whether an attempt may go out now (in half-open, only the one probe).
    fn try_acquire(&self) -> bool {
        if self.threshold == 0 {
            return true;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match *s {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if Instant::now() >= until => {
                *s = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => false,
        }
    }
    fn on_success(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match *s {
            BreakerState::Closed { .. } | BreakerState::HalfOpen => {
                *s = BreakerState::Closed { failures: 0 }
            }
            // A late answer to a request sent before the breaker opened proves little.
            BreakerState::Open { .. } => {}
        }
    }
    fn on_failure(&self, counters: &AtomicCounters) {
        if self.threshold == 0 {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let open = BreakerState::Open {
            until: Instant::now() + self.cooldown,
        };
        match *s {
            BreakerState::Closed { failures } if failures + 1 >= self.threshold => {
                *s = open;
                counters.breaker_opened.fetch_add(1, Ordering::Relaxed);
            }
            BreakerState::Closed { failures } => {
                *s = BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            BreakerState::HalfOpen => {
                *s = open;
                counters.breaker_opened.fetch_add(1, Ordering::Relaxed);
            }
            BreakerState::Open { .. } => {}
        }
    }
    fn view(&self) -> BreakerView {
        match *self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            BreakerState::Closed { .. } => BreakerView::Closed,
            BreakerState::Open { .. } => BreakerView::Open,
            BreakerState::HalfOpen => BreakerView::HalfOpen,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Runtime side

/// A batch on its way: internal sequence numbers and row-major features.
struct OutBatch {
    seqs: Vec<u64>,
    values: Vec<f64>,
    width: usize,
}

struct Completion {
    seqs: Vec<u64>,
    result: Result<Vec<(f64, Option<i64>)>, FallbackReason>,
    attempts: u32,
}

#[derive(Default)]
struct OpenBatch {
    seqs: Vec<u64>,
    values: Vec<f64>,
    width: usize,
    started: Option<Instant>,
    /// Bumped on every take, so the timer knows whether the batch it waited on is still open.
    generation: u64,
}

impl OpenBatch {
    fn take(&mut self) -> Option<OutBatch> {
        if self.seqs.is_empty() {
            return None;
        }
        self.started = None;
        self.generation += 1;
        Some(OutBatch {
            seqs: std::mem::take(&mut self.seqs),
            values: std::mem::take(&mut self.values),
            width: self.width,
        })
    }
}

struct Shared {
    cfg: RemoteConfig,
    uri: hyper::Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    sem: tokio::sync::Semaphore,
    breaker: Breaker,
    rng: Mutex<Rng>,
    counters: AtomicCounters,
    tx: Mutex<mpsc::Sender<Completion>>,
    open: Mutex<OpenBatch>,
    wake: tokio::sync::Notify,
    next_request_id: AtomicU64,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    id: String,
    inputs: [WireInput<'a>; 1],
    outputs: Vec<WireOutputSel<'a>>,
}

#[derive(Serialize)]
struct WireInput<'a> {
    name: &'a str,
    shape: [usize; 2],
    datatype: &'static str,
    data: WireData<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireData<'a> {
    F64(&'a [f64]),
    F32(Vec<f32>),
}

#[derive(Serialize)]
struct WireOutputSel<'a> {
    name: &'a str,
}

#[derive(Deserialize)]
struct WireResponse {
    outputs: Vec<WireOutput>,
}

#[derive(Deserialize)]
struct WireOutput {
    name: String,
    data: Flat,
}

fn encode(shared: &Shared, b: &OutBatch) -> Result<Bytes, FallbackReason> {
    let cfg = &shared.cfg;
    let n = b.seqs.len();
    let data = match cfg.datatype {
        WireType::Fp64 => WireData::F64(&b.values),
        WireType::Fp32 => WireData::F32(b.values.iter().map(|&v| v as f32).collect()),
    };
    let mut outputs = vec![WireOutputSel {
        name: &cfg.score_output,
    }];
    if let Some(l) = &cfg.label_output {
        outputs.push(WireOutputSel { name: l });
    }
    let req = WireRequest {
        id: shared
            .next_request_id
            .fetch_add(1, Ordering::Relaxed)
            .to_string(),
        inputs: [WireInput {
            name: &cfg.input,
            shape: [n, b.width],
            datatype: match cfg.datatype {
                WireType::Fp64 => "FP64",
                WireType::Fp32 => "FP32",
            },
            data,
        }],
        outputs,
    };
    serde_json::to_vec(&req)
        .map(Bytes::from)
        .map_err(|_| FallbackReason::InvalidInput)
}

fn decode(
    cfg: &RemoteConfig,
    body: &[u8],
    n: usize,
) -> Result<Vec<(f64, Option<i64>)>, FallbackReason> {
    let resp: WireResponse = serde_json::from_slice(body).map_err(|_| FallbackReason::Malformed)?;
    let scores = resp
        .outputs
        .iter()
        .find(|o| o.name == cfg.score_output)
        .ok_or(FallbackReason::WrongOutputs)?;
    if scores.data.values.len() != n {
        return Err(FallbackReason::WrongOutputs);
    }
    let labels = match &cfg.label_output {
        None => None,
        Some(l) => {
            let o = resp
                .outputs
                .iter()
                .find(|o| &o.name == l)
                .ok_or(FallbackReason::WrongOutputs)?;
            if o.data.values.len() != n {
                return Err(FallbackReason::WrongOutputs);
            }
            Some(&o.data.values)
        }
    };
    Ok((0..n)
        .map(|i| (scores.data.values[i], labels.map(|l| l[i] as i64)))
        .collect())
}

async fn attempt(
    shared: &Shared,
    body: Bytes,
    n: usize,
) -> Result<Vec<(f64, Option<i64>)>, FallbackReason> {
    let req = hyper::Request::post(shared.uri.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|_| FallbackReason::InvalidInput)?;
    let resp = shared
        .client
        .request(req)
        .await
        .map_err(|_| FallbackReason::Connect)?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| FallbackReason::Connect)?
        .to_bytes();
    if status.is_server_error() {
        return Err(FallbackReason::Http5xx);
    }
    if !status.is_success() {
        return Err(FallbackReason::Http4xx);
    }
    decode(&shared.cfg, &body, n)
}

/// Full jitter: `uniform(0, min(max, base · 2^(attempt-1)))` for `attempt` ≥ 1, given a
/// uniform `u` in `[0, 1)`.
pub fn full_jitter(base: Duration, max: Duration, attempt: u32, u: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    exp.min(max).mul_f64(u.clamp(0.0, 1.0))
}

fn backoff(shared: &Shared, attempt: u32) -> Duration {
    let u = shared
        .rng
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .next_f64();
    full_jitter(shared.cfg.backoff_base, shared.cfg.backoff_max, attempt, u)
}

async fn run_batch(shared: Arc<Shared>, b: OutBatch) {
    let n = b.seqs.len();
    let mut attempts = 0u32;
    let result = match encode(&shared, &b) {
        Err(r) => Err(r),
        Ok(body) => {
            let _permit = shared.sem.acquire().await;
            let mut retries = 0u32;
            let mut last: Option<FallbackReason> = None;
            loop {
                if !shared.breaker.try_acquire() {
                    // A batch the server already failed keeps that reason; one that never
                    // got through is `circuit_open`.
                    break Err(last.unwrap_or(FallbackReason::CircuitOpen));
                }
                attempts += 1;
                shared.counters.requests.fetch_add(1, Ordering::Relaxed);
                let r = match tokio::time::timeout(
                    shared.cfg.timeout,
                    attempt(&shared, body.clone(), n),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(FallbackReason::Timeout),
                };
                match r {
                    Ok(v) => {
                        shared.breaker.on_success();
                        break Ok(v);
                    }
                    Err(reason) => {
                        shared.breaker.on_failure(&shared.counters);
                        last = Some(reason);
                        if reason.retryable() && retries < shared.cfg.max_retries {
                            retries += 1;
                            shared.counters.retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(backoff(&shared, retries)).await;
                            continue;
                        }
                        break Err(reason);
                    }
                }
            }
        }
    };
    shared.counters.batches.fetch_add(1, Ordering::Relaxed);
    let tx = shared.tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // The receiver is gone only when the scorer was dropped.
    let _ = tx.send(Completion {
        seqs: b.seqs,
        result,
        attempts,
    });
}

/// Sends open batches whose first event has waited `max_wait`.
async fn flush_timer(shared: Arc<Shared>, rt: tokio::runtime::Handle) {
    loop {
        let next = {
            let open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
            open.started
                .map(|t| (t + shared.cfg.max_wait, open.generation))
        };
        let Some((deadline, gen)) = next else {
            shared.wake.notified().await;
            continue;
        };
        tokio::time::sleep_until(deadline.into()).await;
        let batch = {
            let mut open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
            if open.generation == gen {
                open.take()
            } else {
                None
            }
        };
        if let Some(b) = batch {
            rt.spawn(run_batch(shared.clone(), b));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Caller side

enum Slot {
    Event {
        id: u64,
        submitted: Instant,
        result: Option<(f64, Option<i64>, Outcome, u32)>,
        emitted: bool,
    },
    Watermark(i64),
}

/// The client: see the module docs. Not `Sync`: one pipeline thread drives it.
pub struct RemoteScorer {
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
    rx: mpsc::Receiver<Completion>,
    slots: VecDeque<Slot>,
    /// Internal sequence number of `slots[0]`.
    head: u64,
    next: u64,
    /// Internal sequence numbers of watermarks still in `slots`, in order.
    wms: VecDeque<u64>,
    /// Events submitted and not yet emitted.
    pending: usize,
    submitted: u64,
    scored: u64,
    fallback: [u64; 8],
}

impl fmt::Debug for RemoteScorer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteScorer")
            .field("url", &self.shared.cfg.url)
            .field("model", &self.shared.cfg.model)
            .field("pending", &self.pending)
            .finish()
    }
}

impl RemoteScorer {
    /// Starts the scorer's runtime. No connection is made until the first batch, so a server
    /// that is down at start is not an error here (its events fall back).
    pub fn new(cfg: RemoteConfig) -> Result<Self, String> {
        if cfg.max_batch == 0 || cfg.capacity == 0 || cfg.max_in_flight == 0 {
            return Err("max_batch, capacity and max_in_flight must be at least 1".into());
        }
        let base = cfg.url.trim_end_matches('/');
        let uri: hyper::Uri = format!("{base}/v2/models/{}/infer", cfg.model)
            .parse()
            .map_err(|e| format!("bad server URL {:?}: {e}", cfg.url))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "server URL {:?}: only plain http:// is supported",
                cfg.url
            ));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.threads.max(1))
            .thread_name("eddy-remote")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the client runtime: {e}"))?;
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(cfg.timeout));
        let client = {
            let _g = rt.enter();
            Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(cfg.max_in_flight)
                .pool_idle_timeout(Duration::from_secs(30))
                .build(conn)
        };
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            uri,
            client,
            sem: tokio::sync::Semaphore::new(cfg.max_in_flight),
            breaker: Breaker {
                threshold: cfg.breaker_failures,
                cooldown: cfg.breaker_cooldown,
                state: Mutex::new(BreakerState::Closed { failures: 0 }),
            },
            rng: Mutex::new(Rng::new(cfg.seed)),
            counters: AtomicCounters::default(),
            tx: Mutex::new(tx),
            open: Mutex::new(OpenBatch::default()),
            wake: tokio::sync::Notify::new(),
            next_request_id: AtomicU64::new(0),
            cfg,
        });
        rt.spawn(flush_timer(shared.clone(), rt.handle().clone()));
        Ok(RemoteScorer {
            shared,
            rt: Some(rt),
            rx,
            slots: VecDeque::new(),
            head: 0,
            next: 0,
            wms: VecDeque::new(),
            pending: 0,
            submitted: 0,
            scored: 0,
            fallback: [0; 8],
        })
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.shared.cfg
    }

    /// Events submitted and not yet emitted.
    pub fn pending(&self) -> usize {
        self.pending
    }

    pub fn breaker(&self) -> BreakerView {
        self.shared.breaker.view()
    }

    /// Submits one event. Blocks while [`RemoteConfig::capacity`] events are pending,
    /// emitting into `out` whatever completes meanwhile; also emits what is already done.
    pub fn submit(&mut self, id: u64, features: &[f64], out: &mut Vec<Emitted>) {
        while self.pending >= self.shared.cfg.capacity {
            self.flush();
            self.wait_one(out, Duration::from_millis(50));
        }
        let seq = self.next;
        self.next += 1;
        self.pending += 1;
        self.submitted += 1;
        self.slots.push_back(Slot::Event {
            id,
            submitted: Instant::now(),
            result: None,
            emitted: false,
        });
        if features.iter().any(|v| !v.is_finite()) {
            let fb = self.shared.cfg.fallback_score;
            self.complete(
                seq,
                (fb, None, Outcome::Fallback(FallbackReason::InvalidInput), 0),
                out,
            );
            return;
        }
        let full = {
            let mut open = self.shared.open.lock().unwrap_or_else(|e| e.into_inner());
            let mut early = None;
            if !open.seqs.is_empty() && open.width != features.len() {
                // A batch holds rows of one width.
                early = open.take();
            }
            if open.seqs.is_empty() {
                open.width = features.len();
                open.started = Some(Instant::now());
                self.shared.wake.notify_one();
            }
            open.seqs.push(seq);
            open.values.extend_from_slice(features);
            let full = if open.seqs.len() >= self.shared.cfg.max_batch {
                open.take()
            } else {
                None
            };
            [early, full]
        };
        for b in full.into_iter().flatten() {
            self.dispatch(b);
        }
        self.poll(out);
    }

    /// Submits a watermark: in both modes it is emitted after every event submitted before
    /// it and before every event submitted after it.
    pub fn submit_watermark(&mut self, wm: i64, out: &mut Vec<Emitted>) {
        let seq = self.next;
        self.next += 1;
        self.slots.push_back(Slot::Watermark(wm));
        self.wms.push_back(seq);
        self.pop_front(out);
    }

    /// Emits whatever is ready without blocking; returns how many items it emitted.
    pub fn poll(&mut self, out: &mut Vec<Emitted>) -> usize {
        let before = out.len();
        while let Ok(c) = self.rx.try_recv() {
            self.apply(c, out);
        }
        out.len() - before
    }

    /// Sends the open batch now (without waiting for `max_wait`).
    pub fn flush(&mut self) {
        let b = self
            .shared
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(b) = b {
            self.dispatch(b);
        }
    }

    /// Sends the open batch and blocks until every submitted event and watermark is emitted.
    pub fn drain(&mut self, out: &mut Vec<Emitted>) {
        self.flush();
        self.poll(out);
        while !self.slots.is_empty() {
            self.wait_one(out, Duration::from_millis(100));
        }
    }

    /// As [`drain`](Self::drain), but gives up after `limit`; returns whether all came out.
    pub fn drain_for(&mut self, out: &mut Vec<Emitted>, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        self.flush();
        self.poll(out);
        while !self.slots.is_empty() {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            self.wait_one(out, (end - now).min(Duration::from_millis(100)));
        }
        true
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        let c = &self.shared.counters;
        Counters {
            submitted: self.submitted,
            scored: self.scored,
            fallback: self.fallback,
            batches: c.batches.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            breaker_opened: c.breaker_opened.load(Ordering::Relaxed),
        }
    }

    fn dispatch(&self, b: OutBatch) {
        if let Some(rt) = &self.rt {
            rt.spawn(run_batch(self.shared.clone(), b));
        }
    }

    /// Blocks up to `limit` for the next completed request, then emits what it allows.
    pub fn wait(&mut self, out: &mut Vec<Emitted>, limit: Duration) {
        self.wait_one(out, limit)
    }

    /// Asks the server for the model's metadata (`GET /v2/models/{model}`), within the
    /// configured timeout: how a pipeline checks its input mapping before reading events.
    pub fn fetch_metadata(&self) -> Result<ServedModel, MetadataError> {
        let Some(rt) = &self.rt else {
            return Err(MetadataError::Unreachable(
                "the client runtime is stopped".into(),
            ));
        };
        let cfg = &self.shared.cfg;
        let url = format!("{}/v2/models/{}", cfg.url.trim_end_matches('/'), cfg.model);
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| MetadataError::Unreachable(format!("bad URL {url:?}: {e}")))?;
        let client = self.shared.client.clone();
        let fetched = rt.block_on(async move {
            let req = hyper::Request::get(uri)
                .body(Full::new(Bytes::new()))
                .map_err(|e| e.to_string())?;
            let fetch = async {
                let resp = client.request(req).await.map_err(|e| e.to_string())?;
                let status = resp.status();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                Ok::<_, String>((status, body))
            };
            tokio::time::timeout(cfg.timeout, fetch)
                .await
                .map_err(|_| format!("no answer within {:?}", cfg.timeout))?
        });
        let (status, body) =
            fetched.map_err(|e| MetadataError::Unreachable(format!("GET {url}: {e}")))?;
        if !status.is_success() {
            return Err(MetadataError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).trim().to_string(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| {
            MetadataError::Malformed(format!("GET {url}: not OIP model metadata: {e}"))
        })
    }

    fn wait_one(&mut self, out: &mut Vec<Emitted>, limit: Duration) {
        if let Ok(c) = self.rx.recv_timeout(limit) {
            self.apply(c, out);
            self.poll(out);
        }
    }

    fn apply(&mut self, c: Completion, out: &mut Vec<Emitted>) {
        let fb = self.shared.cfg.fallback_score;
        match c.result {
            Ok(v) => {
                for (seq, (s, l)) in c.seqs.into_iter().zip(v) {
                    self.complete(seq, (s, l, Outcome::Scored, c.attempts), out);
                }
            }
            Err(reason) => {
                for seq in c.seqs {
                    self.complete(seq, (fb, None, Outcome::Fallback(reason), c.attempts), out);
                }
            }
        }
    }

    /// Records one event's result and emits what that allows.
    fn complete(&mut self, seq: u64, r: (f64, Option<i64>, Outcome, u32), out: &mut Vec<Emitted>) {
        let Some(idx) = seq.checked_sub(self.head) else {
            return;
        };
        let barrier = self.wms.front().copied().unwrap_or(u64::MAX);
        let unordered = self.shared.cfg.mode == EmitMode::Unordered;
        if let Some(slot) = self.slots.get_mut(idx as usize) {
            if let Slot::Event { result, .. } = slot {
                if result.is_some() {
                    return; // exactly once, whatever happens
                }
                *result = Some(r);
            }
            if unordered && seq < barrier {
                Self::emit_slot(
                    slot,
                    out,
                    &mut self.pending,
                    &mut self.scored,
                    &mut self.fallback,
                );
            }
        }
        self.pop_front(out);
    }

    fn emit_slot(
        slot: &mut Slot,
        out: &mut Vec<Emitted>,
        pending: &mut usize,
        scored: &mut u64,
        fallback: &mut [u64; 8],
    ) {
        if let Slot::Event {
            id,
            submitted,
            result: Some((score, label, outcome, attempts)),
            emitted,
        } = slot
        {
            if *emitted {
                return;
            }
            *emitted = true;
            *pending -= 1;
            match outcome {
                Outcome::Scored => *scored += 1,
                Outcome::Fallback(r) => fallback[r.index()] += 1,
            }
            out.push(Emitted::Event(ScoredEvent {
                id: *id,
                score: *score,
                label: *label,
                outcome: *outcome,
                latency: submitted.elapsed(),
                attempts: *attempts,
            }));
        }
    }

    /// Emits from the front: completed events (ordered) or already-emitted ones (unordered),
    /// and watermarks once everything before them is out.
    fn pop_front(&mut self, out: &mut Vec<Emitted>) {
        let unordered = self.shared.cfg.mode == EmitMode::Unordered;
        loop {
            let Some(front) = self.slots.front_mut() else {
                return;
            };
            match front {
                Slot::Event { result: None, .. } => return,
                Slot::Event { .. } => {
                    Self::emit_slot(
                        front,
                        out,
                        &mut self.pending,
                        &mut self.scored,
                        &mut self.fallback,
                    );
                    self.slots.pop_front();
                    self.head += 1;
                }
                Slot::Watermark(wm) => {
                    out.push(Emitted::Watermark(*wm));
                    self.slots.pop_front();
                    self.head += 1;
                    self.wms.pop_front();
                    if unordered {
                        // The next group opens: emit its events that already completed.
                        let barrier = self.wms.front().copied().unwrap_or(u64::MAX);
                        let end = (barrier - self.head).min(self.slots.len() as u64) as usize;
                        for i in 0..end {
                            Self::emit_slot(
                                &mut self.slots[i],
                                out,
                                &mut self.pending,
                                &mut self.scored,
                                &mut self.fallback,
                            );
                        }
                    }
                }
            }
        }
    }
}

impl Drop for RemoteScorer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_is_bounded_and_seeded() {
        let base = Duration::from_millis(10);
        let max = Duration::from_millis(100);
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (1..=8)
                .map(|a| full_jitter(base, max, a, rng.next_f64()))
                .collect::<Vec<_>>()
        };
        let a = draw(1);
        assert_eq!(a, draw(1), "same seed, same delays");
        assert_ne!(a, draw(2));
        for (i, d) in a.iter().enumerate() {
            let cap = (base * (1 << i)).min(max);
            assert!(*d <= cap, "attempt {}: {d:?} > {cap:?}", i + 1);
        }
        assert_eq!(full_jitter(base, max, 3, 0.5), Duration::from_millis(20));
        assert_eq!(full_jitter(base, max, 30, 0.5), Duration::from_millis(50));
    }

    #[test]
    fn breaker_state_machine() {
        let c = AtomicCounters::default();
        let b = Breaker {
            threshold: 2,
            cooldown: Duration::from_millis(30),
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        };
        assert!(b.try_acquire());
        b.on_failure(&c);
        b.on_success(); // resets the count
        b.on_failure(&c);
        assert_eq!(b.view(), BreakerView::Closed);
        b.on_failure(&c);
        assert_eq!(b.view(), BreakerView::Open);
        assert!(!b.try_acquire());
        b.on_success(); // a late answer does not close an open breaker
        assert_eq!(b.view(), BreakerView::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.try_acquire(), "the probe");
        assert_eq!(b.view(), BreakerView::HalfOpen);
        assert!(!b.try_acquire(), "one probe at a time");
        b.on_success();
        assert_eq!(b.view(), BreakerView::Closed);
        assert_eq!(c.breaker_opened.load(Ordering::Relaxed), 1);
    }
}
