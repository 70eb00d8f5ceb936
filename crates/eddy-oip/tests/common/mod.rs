//! Test helpers: a known native model, an in-process `eddy serve`, a raw HTTP/1.1 client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eddy_infer::{load_model_with, LoadOptions, Model};
use eddy_learn::linear::LogisticRegression;
use eddy_learn::registry::{build, Params};
use eddy_oip::server::{self, ModelSet, ServerConfig, ServerHandle};
pub use eddy_testutil::Tmp;

/// A logistic model with known weights over features `a, b, c`, loaded through the seam.
pub fn logistic(name: &str) -> Arc<dyn Model> {
    let mut m = build("logistic_regression", &Params::new()).unwrap();
    let lr = m.downcast_mut::<LogisticRegression>().expect("logistic");
    lr.glm.weights = vec![0.5, -1.0, 0.25];
    lr.glm.intercept = 0.125;
    // Loading reads the snapshot whole, so its directory can go when this returns.
    let dir = Tmp::new(name);
    let path = dir.join(format!("{name}.json"));
    m.save(&path).unwrap();
    let opts = LoadOptions {
        features: Some(vec!["a".into(), "b".into(), "c".into()]),
        version: Some("3".into()),
    };
    Arc::from(load_model_with(&path, name, &opts).unwrap())
}

pub fn onnx_logistic() -> Arc<dyn Model> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/onnx/logistic_regression.onnx");
    Arc::from(eddy_infer::load_model(&path, "onnx_lr").unwrap())
}

pub fn start(models: Vec<Arc<dyn Model>>, max_body: usize) -> ServerHandle {
    start_with(
        models,
        ServerConfig {
            max_body,
            ..ServerConfig::default()
        },
    )
}

pub fn start_with(models: Vec<Arc<dyn Model>>, cfg: ServerConfig) -> ServerHandle {
    let mut set = ModelSet::new();
    for m in models {
        set.insert(m).unwrap();
    }
    server::spawn(set, "127.0.0.1:0".parse().unwrap(), &cfg, 2).unwrap()
}

/// One HTTP/1.1 exchange over a fresh connection: `(status, body)`.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading everything.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
}
