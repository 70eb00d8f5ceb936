//! The HTTP side: hyper-util's pooled HTTP/1 client on the scorer's runtime, one POST per
//! infer attempt and a GET for metadata.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::config::RemoteConfig;
use super::error::ClientError;
use super::outcome::FallbackReason;

/// The client and the infer endpoint.
pub(super) struct Transport {
    infer: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Transport {
    /// `{url}/v2/models/{model}/infer`; plain `http://` only.
    pub(super) fn infer_uri(cfg: &RemoteConfig) -> Result<Uri, ClientError> {
        let base = cfg.url.trim_end_matches('/');
        let uri: Uri = format!("{base}/v2/models/{}/infer", cfg.model)
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| ClientError::BadUrl {
                url: cfg.url.clone(),
                msg: e.to_string(),
            })?;
        if uri.scheme_str() != Some("http") {
            return Err(ClientError::NotHttp {
                url: cfg.url.clone(),
            });
        }
        Ok(uri)
    }

    /// A pooled client on `rt` (no connection is made until the first request).
    pub(super) fn new(infer: Uri, cfg: &RemoteConfig, rt: &tokio::runtime::Runtime) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(cfg.timeout));
        let client = {
            let _g = rt.enter();
            Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(cfg.max_in_flight)
                // Under `eddy serve`'s header read timeout (10 s by default), which closes a
                // keep-alive connection idle that long: reusing one as the server closes it
                // would cost a retry.
                .pool_idle_timeout(Duration::from_secs(5))
                .build(conn)
        };
        Transport { infer, client }
    }

    /// One infer attempt: the response body of a 2xx answer, or why there is none.
    pub(super) async fn infer(&self, body: Bytes) -> Result<Bytes, FallbackReason> {
        let req = hyper::Request::post(self.infer.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|_| FallbackReason::InvalidInput)?;
        let resp = self
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
        Ok(body)
    }

    /// `GET uri`: the status and body, whatever the status.
    pub(super) async fn get(&self, uri: Uri) -> Result<(StatusCode, Bytes), String> {
        let req = hyper::Request::get(uri)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }
}
