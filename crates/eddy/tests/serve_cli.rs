//! End to end: `eddy serve` as a child process on an ephemeral port, called over HTTP by a raw
//! HTTP/1.1 exchange and by the external-service client, then killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use eddy_learn::registry::{build, Model as LearnModel, Params};
use eddy_oip::remote::{Emitted, Outcome, RemoteConfig, RemoteScorer};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap())
}

#[test]
fn eddy_serve_end_to_end() {
    let dir = std::env::temp_dir().join(format!("eddy-serve-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fraud.json");
    let mut m = build("logistic_regression", &Params::new()).unwrap();
    let LearnModel::LogisticRegression(lr) = &mut m.pipeline.model else {
        panic!("not logistic")
    };
    lr.glm.weights = vec![1.0, -2.0];
    lr.glm.intercept = 0.0;
    m.save(&path).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["serve", "--model", path.to_str().unwrap()])
        .args(["--addr", "127.0.0.1:0", "--threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run eddy serve");
    let mut child = Killed(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();

    let (s, b) = http(addr, "GET", "/v2/health/ready", "");
    assert_eq!((s, &b["ready"]), (200, &serde_json::json!(true)));
    let (s, b) = http(addr, "GET", "/v2/models/fraud", "");
    assert_eq!(s, 200);
    assert_eq!(b["platform"], "eddy_native");
    // x = [2, 1] → z = 0 → 0.5.
    let req =
        r#"{"id":"a","inputs":[{"name":"input","shape":[1,2],"datatype":"FP64","data":[[2,1]]}]}"#;
    let (s, b) = http(addr, "POST", "/v2/models/fraud/infer", req);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], "a");
    assert_eq!(b["outputs"][0]["data"][0], 0.5);
    let (s, b) = http(addr, "POST", "/v2/models/fraud/infer", "{");
    assert_eq!(s, 400);
    assert!(b["error"].as_str().unwrap().contains("malformed"));

    // The client, through the child process.
    let mut scorer =
        RemoteScorer::new(RemoteConfig::new(format!("http://{addr}"), "fraud")).unwrap();
    let mut out = Vec::new();
    for i in 0..100u64 {
        scorer.submit(i, &[i as f64, i as f64 / 2.0], &mut out);
    }
    scorer.drain(&mut out);
    assert_eq!(out.len(), 100);
    for (i, e) in out.iter().enumerate() {
        let Emitted::Event(ev) = e else { panic!() };
        assert_eq!(ev.id, i as u64);
        assert_eq!(ev.outcome, Outcome::Scored);
        assert_eq!(ev.score, 0.5);
    }

    // Kill the server: the client keeps going on the fallback.
    drop(child);
    for i in 100..120u64 {
        scorer.submit(i, &[1.0, 1.0], &mut out);
    }
    scorer.drain(&mut out);
    assert_eq!(out.len(), 120);
    let c = scorer.counters();
    assert_eq!((c.scored, c.fallback_total()), (100, 20), "{c}");
}

#[test]
fn eddy_serve_refuses_a_missing_model() {
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args([
            "serve",
            "--model",
            "/nonexistent/m.json",
            "--addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot load model"), "{err}");
}
