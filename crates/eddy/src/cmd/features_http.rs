//! `eddy run --serve-features ADDR`: the online store over HTTP while the run goes on.
//!
//! `GET /features/{key}` answers `200` with `{"key":…,"features":{…}}` (the key's latest
//! per-event row), `404` for a key with no event applied yet, and `503` from the end of the
//! input until the run ends (with `--hold`, the answers then come from the final state).
//! Lookups are answered between batches by the pipeline's own threads
//! (see `eddy_runtime::lookup`), so serving costs the event path nothing.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use eddy_runtime::lookup::{Answer, StoreReader};

/// The server: stops (and frees its port) when dropped.
pub struct FeatureServer {
    pub addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

/// Binds `addr` (port 0: any free port) and serves lookups through `reader` on a thread of
/// its own; returns once the socket is listening.
pub fn spawn(addr: SocketAddr, reader: StoreReader) -> std::io::Result<FeatureServer> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(4)
        .thread_name("eddy-features")
        .enable_io()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr))?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/features/{key}", get(lookup))
        .with_state(reader);
    rt.spawn(async move { axum::serve(listener, app).await });
    Ok(FeatureServer { addr, _rt: rt })
}

async fn lookup(State(reader): State<StoreReader>, Path(key): Path<String>) -> Response {
    // the answer waits for the pipeline's threads: off the async workers
    let answer = tokio::task::spawn_blocking(move || reader.get(&key)).await;
    let (status, body) = match answer {
        Ok(Answer::Found(json)) => (StatusCode::OK, json),
        Ok(Answer::UnknownKey) => (
            StatusCode::NOT_FOUND,
            r#"{"error":"no event of this key has been applied"}"#.to_string(),
        ),
        Ok(Answer::Ended) => (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"the run is past the end of its input"}"#.to_string(),
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"the lookup failed"}"#.to_string(),
        ),
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
