//! An HTTPS Open Inference Protocol server on 127.0.0.1 with a certificate made on the spot,
//! for the model-server client's TLS and credential tests: it serves one model, `m`, that
//! scores each row as twice its first feature (so scores can be checked by hand), and, when
//! given a token, answers 401 to any request without `Authorization: Bearer <token>`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority made for one test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("the CA certificate");
        TestCa { cert, key }
    }
    /// Writes the CA's certificate (PEM) to `path`, as a client's CA file.
    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).expect("write the CA file");
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// How the server behaves.
pub struct TlsOptions<'a> {
    /// The CA that signs the server's certificate (for `localhost` and `127.0.0.1`).
    pub ca: &'a TestCa,
    /// The certificate ended in 2001.
    pub expired: bool,
    /// Requests must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

/// The running server; stopped on drop.
pub struct TlsServer {
    pub addr: SocketAddr,
    /// Requests that got through the TLS handshake and were answered.
    pub hits: Arc<AtomicU64>,
    rt: Option<tokio::runtime::Runtime>,
}

impl TlsServer {
    pub fn start(opts: TlsOptions<'_>) -> TlsServer {
        let key = KeyPair::generate().expect("a server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        if opts.expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let cert = params
            .signed_by(&key, &opts.ca.cert, &opts.ca.key)
            .expect("the server certificate");
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let pkey = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        // ring, as the client uses (see eddy-oip's transport).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, pkey)
            .expect("the server's TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("the address");
        let hits = Arc::new(AtomicU64::new(0));
        let token = Arc::new(opts.token);
        let h = hits.clone();
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let (token, hits) = (token.clone(), h.clone());
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends here.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req| {
                        let (token, hits) = (token.clone(), hits.clone());
                        async move { Ok::<_, Infallible>(answer(req, &token, &hits).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        TlsServer {
            addr,
            hits,
            rt: Some(rt),
        }
    }

    /// `https://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}

async fn answer(
    req: Request<Incoming>,
    token: &Option<String>,
    hits: &AtomicU64,
) -> Response<Full<Bytes>> {
    hits.fetch_add(1, Ordering::Relaxed);
    if let Some(t) = token {
        let want = format!("Bearer {t}");
        let got = req.headers().get("authorization").map(|v| v.as_bytes());
        if got != Some(want.as_bytes()) {
            return reply(
                StatusCode::UNAUTHORIZED,
                r#"{"error":"unauthorized"}"#.into(),
            );
        }
    }
    let path = req.uri().path().to_string();
    match (req.method().as_str(), path.as_str()) {
        ("GET", "/v2/models/m") => reply(
            StatusCode::OK,
            serde_json::json!({
                "name": "m", "versions": ["1"], "platform": "test",
                "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, -1]}],
                "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1]}],
            })
            .to_string(),
        ),
        ("POST", "/v2/models/m/infer") => {
            let Ok(body) = req.into_body().collect().await else {
                return reply(StatusCode::BAD_REQUEST, r#"{"error":"body"}"#.into());
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body.to_bytes()) else {
                return reply(StatusCode::BAD_REQUEST, r#"{"error":"json"}"#.into());
            };
            let input = &v["inputs"][0];
            let n = input["shape"][0].as_u64().unwrap_or(0) as usize;
            let w = input["shape"][1].as_u64().unwrap_or(1) as usize;
            let data: Vec<f64> = input["data"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default();
            let scores: Vec<f64> = (0..n)
                .map(|i| 2.0 * data.get(i * w).copied().unwrap_or(f64::NAN))
                .collect();
            reply(
                StatusCode::OK,
                serde_json::json!({"model_name": "m", "outputs": [
                    {"name": "score", "datatype": "FP64", "shape": [n], "data": scores}
                ]})
                .to_string(),
            )
        }
        _ => reply(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.into()),
    }
}
