//! `eddy serve`: an Open Inference Protocol (KServe V2) REST server for any [`Model`].
//!
//! Routes:
//! - `GET  /v2` (server metadata), `/v2/health/live`, `/v2/health/ready`
//! - `GET  /v2/models/{name}`: name, versions, platform, inputs, outputs
//! - `GET  /v2/models/{name}/ready`
//! - `POST /v2/models/{name}/infer`: FP32/FP64/INT64 (and BOOL) tensors, shape `[N, F]`
//!   (or `[N]` for a one-column input), `data` flat or nested, optional `outputs` selection,
//!   request `id` echoed.
//!
//! Every error is JSON `{"error": "..."}`: 400 for a malformed request (bad JSON, wrong
//! shape/datatype/count, non-finite values, unknown output), 404 for an unknown model or
//! route, 413 for a body over the limit, 500 only when the model itself fails.
//! Scoring runs on tokio's blocking pool (tract and the native models are CPU-bound).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use thiserror::Error;

use eddy_infer::{Batch, DataType, Model, OutputMetadata, OutputRole, Scores};

use crate::wire::{
    ErrorBody, Flat, InferRequest, InferResponse, Live, ModelReady, Ready, ResponseOutput,
    ServedModel, ServedTensor, ServerMetadata, TensorData,
};

/// Default request body limit (bytes): 16 MiB.
pub const DEFAULT_MAX_BODY: usize = 16 << 20;

/// Default [`ServerConfig::header_timeout`]: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`ServerConfig::body_timeout`]: 10 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body in bytes (larger → 413; a `Content-Length` over it gets
    /// 413 at once, before the body is read).
    pub max_body: usize,
    /// How long a connection may take to send a request's headers (request line included)
    /// before it is closed. It also bounds how long an idle keep-alive connection stays open
    /// between requests.
    pub header_timeout: Duration,
    /// How long an infer request's body may take to arrive, once its headers have (longer →
    /// 408).
    pub body_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body: DEFAULT_MAX_BODY,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
        }
    }
}

/// Why a model cannot join a [`ModelSet`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelSetError {
    #[error("two models are named {0:?}")]
    DuplicateName(String),
}

/// The models a server serves, by name.
#[derive(Debug, Clone, Default)]
pub struct ModelSet {
    models: HashMap<String, Arc<dyn Model>>,
}

impl ModelSet {
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a model under `metadata().name`; a second model of the same name is refused.
    pub fn insert(&mut self, model: Arc<dyn Model>) -> Result<(), ModelSetError> {
        let name = model.metadata().name.clone();
        if self.models.contains_key(&name) {
            return Err(ModelSetError::DuplicateName(name));
        }
        self.models.insert(name, model);
        Ok(())
    }
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Model>> {
        self.models.get(name)
    }
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.models.keys().cloned().collect();
        v.sort();
        v
    }
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

struct AppState {
    models: ModelSet,
    max_body: usize,
    body_timeout: Duration,
}

/// The axum router serving `models` (use with [`axum::serve()`] or [`serve`]; only [`serve`],
/// [`spawn`] and [`run`] apply [`ServerConfig::header_timeout`]).
pub fn router(models: ModelSet, cfg: &ServerConfig) -> Router {
    let state = Arc::new(AppState {
        models,
        max_body: cfg.max_body,
        body_timeout: cfg.body_timeout,
    });
    Router::new()
        .route("/v2", get(server_meta))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(model_meta))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(cfg.max_body))
        .with_state(state)
}

/// A server running on a background tokio runtime (for tests, benches and embedding).
pub struct ServerHandle {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl ServerHandle {
    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Stops accepting, finishes nothing further and drops every connection at once
    /// (what a crash looks like to a client).
    pub fn kill(mut self) {
        self.stop();
    }
    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Binds `addr` (port 0 for an ephemeral port) and serves `models` on a runtime of its own
/// with `threads` workers; returns once the socket is listening.
pub fn spawn(
    models: ModelSet,
    addr: SocketAddr,
    cfg: &ServerConfig,
    threads: usize,
) -> std::io::Result<ServerHandle> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .max_blocking_threads(threads.max(1))
        .thread_name("eddy-serve")
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr))?;
    let addr = listener.local_addr()?;
    let app = router(models, cfg);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(serve_on(listener, app, cfg.header_timeout, async move {
        let _ = rx.await;
    }));
    Ok(ServerHandle {
        addr,
        shutdown: Some(tx),
        rt: Some(rt),
    })
}

/// Serves on the current runtime until Ctrl-C (graceful shutdown); `on_bound` is called with
/// the bound address before the first request is accepted.
pub async fn serve(
    models: ModelSet,
    addr: SocketAddr,
    cfg: &ServerConfig,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    on_bound(listener.local_addr()?);
    serve_on(listener, router(models, cfg), cfg.header_timeout, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

/// Accepts connections on `listener` and serves `app` on each (HTTP/1.1) until `shutdown`
/// completes; then stops accepting, lets every connection finish its request in flight, and
/// returns. A connection that does not send a request's headers within `header_timeout` is
/// closed (axum's own `serve` has no such timeout).
async fn serve_on(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    let mut conns = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    if !is_connection_error(&e) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        nodelay(&tcp);
        while conns.try_join_next().is_some() {}
        let conn = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app.clone()));
        let mut close = close_rx.clone();
        conns.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = close.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
        });
    }
    drop(listener);
    let _ = close_tx.send(());
    while conns.join_next().await.is_some() {}
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// As [`serve`], on a runtime of its own with `threads` workers (the blocking pool that scores
/// gets `threads` threads too): what the `eddy serve` command runs.
pub fn run(
    models: ModelSet,
    addr: SocketAddr,
    cfg: &ServerConfig,
    threads: usize,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let threads = threads.max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(threads)
        .thread_name("eddy-serve")
        .enable_all()
        .build()?;
    rt.block_on(serve(models, addr, cfg, on_bound))
}

fn nodelay(tcp: &tokio::net::TcpStream) {
    // Small request/response pairs: Nagle would add tens of milliseconds.
    let _ = tcp.set_nodelay(true);
}

// ---------------------------------------------------------------------------------------------
// Responses

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn json<T: Serialize>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => json_response(status, b),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode response: {e}"),
        ),
    }
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    let body = serde_json::to_vec(&ErrorBody { error: msg.into() })
        .unwrap_or_else(|_| b"{\"error\":\"?\"}".to_vec());
    json_response(status, body)
}

fn bad(msg: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, msg)
}

fn unknown_model(st: &AppState, name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "unknown model {name:?} (served: {})",
            st.models.names().join(", ")
        ),
    )
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such route")
}

async fn server_meta() -> Response {
    json(
        StatusCode::OK,
        &ServerMetadata {
            extensions: Vec::new(),
            name: "eddy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    )
}

async fn live() -> Response {
    json(StatusCode::OK, &Live { live: true })
}

async fn ready(State(st): State<Arc<AppState>>) -> Response {
    // Models are loaded before the socket is bound, so a listening server is ready.
    let ready = !st.models.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &Ready { ready })
}

fn served_tensor(name: &str, datatype: DataType, shape: &[i64]) -> ServedTensor {
    ServedTensor {
        datatype: datatype.as_str().into(),
        name: name.into(),
        shape: shape.to_vec(),
    }
}

async fn model_meta(State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let Some(m) = st.models.get(&name) else {
        return unknown_model(&st, &name);
    };
    let md = m.metadata();
    json(
        StatusCode::OK,
        &ServedModel {
            inputs: md
                .inputs
                .iter()
                .map(|t| served_tensor(&t.name, t.datatype, &t.shape))
                .collect(),
            name: md.name.clone(),
            outputs: served_outputs(md)
                .iter()
                .map(|t| served_tensor(&t.name, t.datatype, &t.shape))
                .collect(),
            platform: md.platform.clone(),
            versions: vec![md.version.clone()],
        },
    )
}

async fn model_ready(State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    if st.models.get(&name).is_none() {
        return unknown_model(&st, &name);
    }
    json(StatusCode::OK, &ModelReady { name, ready: true })
}

// ---------------------------------------------------------------------------------------------
// The infer request

fn parse_datatype(s: &str) -> Option<DataType> {
    Some(match s {
        "FP32" => DataType::Fp32,
        "FP64" => DataType::Fp64,
        "INT64" => DataType::Int64,
        "BOOL" => DataType::Bool,
        _ => return None,
    })
}

/// Turns a parsed request into row-major rows for `model`: `(values, rows)` or a 400 message.
fn assemble(model: &dyn Model, req: &mut InferRequest<Flat>) -> Result<(Vec<f64>, usize), String> {
    let md = model.metadata();
    if req.inputs.is_empty() {
        return Err("no inputs".into());
    }
    for (i, a) in req.inputs.iter().enumerate() {
        if !md.inputs.iter().any(|t| t.name == a.name) {
            let want: Vec<&str> = md.inputs.iter().map(|t| t.name.as_str()).collect();
            return Err(format!(
                "unknown input {:?} (model {:?} takes {})",
                a.name,
                md.name,
                want.join(", ")
            ));
        }
        if req.inputs[..i].iter().any(|b| b.name == a.name) {
            return Err(format!("input {:?} given twice", a.name));
        }
    }
    let mut rows: Option<usize> = None;
    // (data, width) per declared input, in declared order.
    let mut cols: Vec<(Vec<f64>, usize)> = Vec::with_capacity(md.inputs.len());
    for t in &md.inputs {
        let Some(pos) = req.inputs.iter().position(|a| a.name == t.name) else {
            return Err(format!("missing input {:?}", t.name));
        };
        let a = &mut req.inputs[pos];
        let Some(dt) = parse_datatype(&a.datatype) else {
            return Err(format!(
                "input {:?}: unsupported datatype {:?} (FP32, FP64, INT64 or BOOL)",
                a.name, a.datatype
            ));
        };
        if !dt.feeds(t.datatype) {
            return Err(format!(
                "input {:?}: datatype {} cannot feed the model's {}",
                a.name, dt, t.datatype
            ));
        }
        let declared_width = match t.shape.len() {
            1 => Some(1),
            2 if t.shape[1] >= 0 => Some(t.shape[1] as usize),
            2 => None,
            _ => {
                return Err(format!(
                    "input {:?}: the model declares shape {:?}, which eddy serve cannot batch",
                    t.name, t.shape
                ))
            }
        };
        let (n, w) = match a.shape.as_slice() {
            [n] if declared_width.unwrap_or(1) == 1 && *n >= 0 => (*n as usize, 1),
            [n, w] if *n >= 0 && *w >= 0 => (*n as usize, *w as usize),
            _ => {
                return Err(format!(
                    "input {:?}: shape {:?} is not [N, F]{}",
                    a.name,
                    a.shape,
                    if declared_width == Some(1) {
                        " or [N]"
                    } else {
                        ""
                    }
                ))
            }
        };
        if let Some(dw) = declared_width {
            if w != dw {
                return Err(format!(
                    "input {:?}: {} features per row, the model takes {} (shape {:?})",
                    a.name, w, dw, t.shape
                ));
            }
        }
        if a.data.is_ragged() {
            return Err(format!(
                "input {:?}: data is ragged (nested arrays of unequal lengths or depths), \
                 not a tensor of shape {:?}",
                a.name, a.shape
            ));
        }
        let expect = n.checked_mul(w).ok_or("shape too large")?;
        if a.data.values.len() != expect {
            return Err(format!(
                "input {:?}: shape {:?} needs {} values, data has {}",
                a.name,
                a.shape,
                expect,
                a.data.values.len()
            ));
        }
        if dt == DataType::Int64 && !a.data.all_int() {
            return Err(format!(
                "input {:?}: INT64 data holds a non-integer",
                a.name
            ));
        }
        if dt != DataType::Bool && a.data.has_bool() {
            return Err(format!("input {:?}: {} data holds a boolean", a.name, dt));
        }
        if dt == DataType::Fp32 {
            for v in a.data.values.iter_mut() {
                *v = *v as f32 as f64;
            }
        }
        if let Some(i) = a.data.values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "input {:?}: value {} (row {}) is not finite as {}",
                a.name,
                i,
                i / w.max(1),
                dt
            ));
        }
        match rows {
            None => rows = Some(n),
            Some(r) if r != n => {
                return Err(format!(
                    "input {:?} has {n} rows, another input has {r}",
                    a.name
                ))
            }
            _ => {}
        }
        cols.push((std::mem::take(&mut a.data.values), w));
    }
    let rows = rows.unwrap_or(0);
    if cols.len() == 1 {
        return Ok((cols.pop().map(|c| c.0).unwrap_or_default(), rows));
    }
    let width: usize = cols.iter().map(|c| c.1).sum();
    let mut out = Vec::with_capacity(rows * width);
    for r in 0..rows {
        for (data, w) in &cols {
            out.extend_from_slice(&data[r * w..(r + 1) * w]);
        }
    }
    Ok((out, rows))
}

/// The outputs a model is served with: its own, plus a `score` output (one value per row:
/// the positive-class probability, or the predicted class's) when it has none, so that every
/// model served by eddy answers a client asking for `score`.
fn served_outputs(md: &eddy_infer::ModelMetadata) -> Vec<OutputMetadata> {
    let mut v = md.outputs.clone();
    if !v.iter().any(|o| o.role == OutputRole::Score) && !v.iter().any(|o| o.name == "score") {
        v.push(OutputMetadata {
            name: "score".into(),
            datatype: DataType::Fp64,
            shape: vec![-1],
            role: OutputRole::Score,
        });
    }
    v
}

thread_local! {
    static SCORES: std::cell::RefCell<Scores> = std::cell::RefCell::new(Scores::new());
}

async fn infer(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    req: axum::extract::Request,
) -> Response {
    let Some(model) = st.models.get(&name).cloned() else {
        return unknown_model(&st, &name);
    };
    // A declared length over the limit is answered at once, without waiting for the body.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > st.max_body as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body is over the size limit",
        );
    }
    let body = match tokio::time::timeout(st.body_timeout, Bytes::from_request(req, &())).await {
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {:?}",
                    st.body_timeout
                ),
            )
        }
        Ok(Ok(b)) => b,
        Ok(Err(rej)) => {
            let status = rej.status();
            let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "request body is over the size limit".to_string()
            } else {
                format!("cannot read the request body: {rej}")
            };
            return error(status, msg);
        }
    };
    let res = tokio::task::spawn_blocking(move || score_request(&*model, &body)).await;
    match res {
        Ok(r) => r,
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("scoring task failed: {e}"),
        ),
    }
}

/// Parses, checks and scores one request (runs on the blocking pool).
fn score_request(model: &dyn Model, body: &[u8]) -> Response {
    let mut req = match InferRequest::from_slice(body) {
        Ok(r) => r,
        Err(e) => return bad(format!("malformed request: {e}")),
    };
    let md = model.metadata();
    let served = served_outputs(md);
    // Which outputs to return, checked before scoring.
    let selected: Vec<&OutputMetadata> = match &req.outputs {
        None => served.iter().collect(),
        Some(sel) => {
            let mut v = Vec::with_capacity(sel.len());
            for o in sel {
                match served.iter().find(|m| m.name == o.name) {
                    Some(m) => v.push(m),
                    None => {
                        let have: Vec<&str> = served.iter().map(|m| m.name.as_str()).collect();
                        return bad(format!(
                            "unknown output {:?} (model {:?} has {})",
                            o.name,
                            md.name,
                            have.join(", ")
                        ));
                    }
                }
            }
            v
        }
    };
    let (values, rows) = match assemble(model, &mut req) {
        Ok(x) => x,
        Err(msg) => return bad(msg),
    };
    let batch = match Batch::new(&values, rows) {
        Ok(b) => b,
        Err(e) => return bad(e.to_string()),
    };
    if !md.features.is_empty() && rows > 0 && batch.cols() != md.features.len() {
        return bad(format!(
            "rows have {} features, model {:?} takes {}",
            batch.cols(),
            md.name,
            md.features.len()
        ));
    }
    SCORES.with(|cell| {
        let mut scores = cell.borrow_mut();
        if rows > 0 {
            if let Err(e) = model.score(batch, &mut scores) {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("model {:?} failed: {e}", md.name),
                );
            }
        } else {
            scores.clear();
        }
        let s = &*scores;
        let mut outputs = Vec::with_capacity(selected.len());
        for o in selected {
            let (shape, data) = match o.role {
                OutputRole::Score => (vec![rows as i64], TensorData::Fp64(&s.scores)),
                OutputRole::Label => (vec![rows as i64], TensorData::Int64(&s.labels)),
                OutputRole::Probabilities => (
                    vec![rows as i64, s.n_classes as i64],
                    TensorData::Fp64(&s.probabilities),
                ),
            };
            let data = match (o.datatype, data) {
                (DataType::Fp32, TensorData::Fp64(v)) => TensorData::Fp32(v),
                (_, d) => d,
            };
            outputs.push(ResponseOutput {
                name: Cow::Borrowed(&o.name),
                datatype: Cow::Borrowed(o.datatype.as_str()),
                shape,
                data,
            });
        }
        json(
            StatusCode::OK,
            &InferResponse {
                model_name: Cow::Borrowed(&md.name),
                model_version: Cow::Borrowed(&md.version),
                id: req.id.take(),
                outputs,
            },
        )
    })
}
