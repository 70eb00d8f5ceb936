//! The HTTP side: hyper-util's pooled HTTP/1 client on the scorer's runtime, over plain TCP or
//! rustls, one POST per infer attempt and a GET for metadata, each with the configured headers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::config::RemoteConfig;
use super::error::ClientError;
use super::outcome::FallbackReason;

/// The client, the infer endpoint and the headers every request carries.
pub(super) struct Transport {
    infer: Uri,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Values marked sensitive: they may hold a credential.
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Why a request got no answer: the fallback reason and a message (no header value in it).
pub(super) type Failure = (FallbackReason, String);

impl Transport {
    /// `{url}/v2/models/{model}/infer`; `http://` or `https://`.
    pub(super) fn infer_uri(cfg: &RemoteConfig) -> Result<Uri, ClientError> {
        let base = cfg.url.trim_end_matches('/');
        let uri: Uri = format!("{base}/v2/models/{}/infer", cfg.model)
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| ClientError::BadUrl {
                url: cfg.url.clone(),
                msg: e.to_string(),
            })?;
        match uri.scheme_str() {
            Some("https") => Ok(uri),
            Some("http") => match &cfg.ca_file {
                Some(path) => Err(ClientError::CaWithoutTls { path: path.clone() }),
                None => Ok(uri),
            },
            _ => Err(ClientError::NotHttp {
                url: cfg.url.clone(),
            }),
        }
    }

    /// A pooled client on `rt` (no connection is made until the first request). Reads the
    /// CA file (or the system's roots) for `https://`, and the headers' values from the
    /// environment.
    pub(super) fn new(
        infer: Uri,
        cfg: &RemoteConfig,
        rt: &tokio::runtime::Runtime,
    ) -> Result<Self, ClientError> {
        let headers = env_headers(cfg)?;
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(cfg.timeout));
        conn.enforce_http(false);
        // ring rather than aws-lc-rs (rustls' default, which builds a large C library with
        // cmake): a lean build. rustls deprecates ring's provider only for lacking
        // post-quantum key exchange, which no model server needs yet.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = if infer.scheme_str() != Some("https") {
            // Never used: plain HTTP needs no roots, so none are loaded.
            builder.with_tls_config(tls_config(provider, rustls::RootCertStore::empty())?)
        } else if let Some(path) = &cfg.ca_file {
            builder.with_tls_config(tls_config(provider, ca_roots(path)?)?)
        } else {
            builder
                .with_provider_and_native_roots(provider)
                .map_err(|e| ClientError::Tls(format!("the system's root certificates: {e}")))?
        };
        let https = builder.https_or_http().enable_http1().wrap_connector(conn);
        let client = {
            let _g = rt.enter();
            Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(cfg.max_in_flight)
                // Under `eddy serve`'s header read timeout (10 s by default), which closes a
                // keep-alive connection idle that long: reusing one as the server closes it
                // would cost a retry.
                .pool_idle_timeout(Duration::from_secs(5))
                .build(https)
        };
        Ok(Transport {
            infer,
            client,
            headers,
        })
    }

    fn request(&self, req: hyper::http::request::Builder) -> hyper::http::request::Builder {
        self.headers
            .iter()
            .fold(req, |r, (k, v)| r.header(k.clone(), v.clone()))
    }

    /// One infer attempt: the response body of a 2xx answer, or why there is none.
    pub(super) async fn infer(&self, body: Bytes) -> Result<Bytes, FallbackReason> {
        let req = self
            .request(hyper::Request::post(self.infer.clone()))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|_| FallbackReason::InvalidInput)?;
        let resp = self.client.request(req).await.map_err(|e| classify(&e).0)?;
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
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(FallbackReason::Unauthorized);
        }
        if !status.is_success() {
            return Err(FallbackReason::Http4xx);
        }
        Ok(body)
    }

    /// `GET uri`: the status and body, whatever the status.
    pub(super) async fn get(&self, uri: Uri) -> Result<(StatusCode, Bytes), Failure> {
        let req = self
            .request(hyper::Request::get(uri))
            .body(Full::new(Bytes::new()))
            .map_err(|e| (FallbackReason::InvalidInput, e.to_string()))?;
        let resp = self.client.request(req).await.map_err(|e| classify(&e))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| (FallbackReason::Connect, e.to_string()))?
            .to_bytes();
        Ok((status, body))
    }
}

fn tls_config(
    provider: Arc<rustls::crypto::CryptoProvider>,
    roots: rustls::RootCertStore,
) -> Result<rustls::ClientConfig, ClientError> {
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The certificates of a PEM file, as the only roots trusted.
fn ca_roots(path: &std::path::Path) -> Result<rustls::RootCertStore, ClientError> {
    let err = |msg: String| ClientError::CaFile {
        path: path.to_path_buf(),
        msg,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))? {
        roots
            .add(cert.map_err(|e| err(e.to_string()))?)
            .map_err(|e| err(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(err("holds no PEM certificate".into()));
    }
    Ok(roots)
}

/// The configured headers, their values read from the environment now. An error names the
/// header and the variable, never the value.
fn env_headers(cfg: &RemoteConfig) -> Result<Vec<(HeaderName, HeaderValue)>, ClientError> {
    cfg.headers
        .iter()
        .map(|h| {
            let bad = || ClientError::BadHeader {
                header: h.name.clone(),
                var: h.var.clone(),
            };
            let value = std::env::var(&h.var).map_err(|_| ClientError::MissingEnv {
                header: h.name.clone(),
                var: h.var.clone(),
            })?;
            let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad())?;
            let mut value =
                HeaderValue::from_str(&format!("{}{value}", h.prefix)).map_err(|_| bad())?;
            value.set_sensitive(true);
            Ok((name, value))
        })
        .collect()
}

/// A failed request's reason (`tls` when a TLS error is anywhere in the chain, else
/// `connect`) and its chain of messages.
fn classify(e: &hyper_util::client::legacy::Error) -> Failure {
    let mut reason = FallbackReason::Connect;
    let mut msg = e.to_string();
    let mut last = String::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = next {
        if err.is::<rustls::Error>() {
            reason = FallbackReason::Tls;
        }
        // An io::Error that wraps another error shows that error's text.
        let text = err.to_string();
        if text != last {
            msg.push_str(": ");
            msg.push_str(&text);
            last = text;
        }
        // An io::Error's `source` skips the error it wraps: step into that one instead.
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    (reason, msg)
}
