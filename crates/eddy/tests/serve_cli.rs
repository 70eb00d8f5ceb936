//! End to end: `eddy serve` as a child process on an ephemeral port, called over HTTP by a raw
//! HTTP/1.1 exchange and by the external-service client, then killed.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use eddy_learn::linear::LogisticRegression;
use eddy_learn::registry::{build, Params};
use eddy_oip::remote::{Emitted, Outcome, RemoteConfig, RemoteScorer};
use eddy_testutil::Tmp;

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
    let dir = Tmp::new("serve");
    let path = dir.join("fraud.json");
    let mut m = build("logistic_regression", &Params::new()).unwrap();
    let lr = m.downcast_mut::<LogisticRegression>().expect("logistic");
    lr.glm.weights = vec![1.0, -2.0];
    lr.glm.intercept = 0.0;
    m.save(&path).unwrap();

    let (child, addr) = spawn_serve(&["--model", path.to_str().unwrap()]);

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

/// Starts `eddy serve` on an ephemeral port; returns the child and its address.
fn spawn_serve(args: &[&str]) -> (Killed, SocketAddr) {
    let child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .arg("serve")
        .args(args)
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
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

fn examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The example model's score, computed by hand from its snapshot: sigmoid(w · x + b).
fn hand_score(x: &[f64]) -> f64 {
    let snap: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(examples().join("models/fraud_lr.json")).unwrap(),
    )
    .unwrap();
    let glm = &snap["state"]["pipeline"]["model"]["logistic_regression"]["glm"];
    let w: Vec<f64> = serde_json::from_value(glm["weights"].clone()).unwrap();
    let z = glm["intercept"].as_f64().unwrap() + w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>();
    1.0 / (1.0 + (-z).exp())
}

/// `eddy run` on an example spec whose model server URL is `url` (and with `edits`), over
/// `input`.
fn run_example(
    dir: &std::path::Path,
    example: &str,
    url: &str,
    edits: &[(&str, &str)],
    input: &std::path::Path,
) -> (String, Vec<serde_json::Value>) {
    let mut spec = std::fs::read_to_string(examples().join(example))
        .unwrap()
        .replace("http://127.0.0.1:8000", url);
    for (from, to) in edits {
        assert!(spec.contains(from), "{example} has no {from:?}");
        spec = spec.replace(from, to);
    }
    let spec_path = dir.join(example);
    std::fs::write(&spec_path, spec).unwrap();
    let out_path = dir.join(format!("{example}.out.jsonl"));
    let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args([
            "run",
            spec_path.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ])
        .args(["--output", out_path.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    let rows = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (err, rows)
}

#[test]
fn eddy_run_scores_through_eddy_serve_and_survives_its_death() {
    let dir = Tmp::new("serve-run");
    let input = dir.join("fraud.jsonl");
    let g = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args([
            "generate", "fraud", "--events", "3000", "--seed", "3", "--keys", "50",
        ])
        .args(["--output", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(g.status.success());
    let model = examples().join("models/fraud_lr.json");
    let (child, addr) = spawn_serve(&["--model", model.to_str().unwrap()]);
    let url = format!("http://{addr}");

    // Every row scored by the server, equal to the hand-computed score, in input order.
    let (err, rows) = run_example(&dir, "fraud_external.toml", &url, &[], &input);
    assert!(
        err.contains("model fraud_lr (external): 3,000 scored, 0 unscored, 0 fallback"),
        "{err}"
    );
    assert_eq!(rows.len(), 3000);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["event_id"], format!("e{:09}", i + 1), "input order");
        let f = &r["features"];
        let x = [
            f["events_5m"].as_f64().unwrap(),
            f["login_rate_1m"].as_f64().unwrap(),
        ];
        let p = &r["prediction"];
        let want = hand_score(&x);
        assert!(
            (p["score"].as_f64().unwrap() - want).abs() <= 1e-12 * want.max(1.0),
            "{r}"
        );
        assert_eq!(p["label"], i64::from(want >= 0.5), "{r}");
        assert_eq!(
            (p["model"].as_str(), p["version"].as_str()),
            (Some("fraud_lr"), Some("1"))
        );
        assert_eq!(r["scored"], true);
    }

    // Side output against the same server, with a deadline generous enough for a debug-built
    // server on a loaded machine: rows rejoin their scores.
    let (err, rows) = run_example(
        &dir,
        "fraud_side_output.toml",
        &url,
        &[("deadline = \"20ms\"", "deadline = \"10s\"")],
        &input,
    );
    assert_eq!(rows.len(), 3000, "{err}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["event_id"], format!("e{:09}", i + 1), "input order");
        if r["scored"] == true {
            let f = &r["features"];
            let x = [
                f["events_5m"].as_f64().unwrap(),
                f["login_rate_1m"].as_f64().unwrap(),
            ];
            let want = hand_score(&x);
            let got = r["prediction"]["score"].as_f64().unwrap();
            assert!((got - want).abs() <= 1e-12 * want.max(1.0), "{r}");
        } else {
            assert_eq!(r["prediction"], serde_json::Value::Null, "{r}");
        }
    }
    // Rows may be shed (the file is read faster than the server scores), never lost.
    let scored = rows.iter().filter(|r| r["scored"] == true).count();
    assert!(scored > 0, "{err}");
    let summary = err
        .lines()
        .find(|l| l.contains("model fraud_lr (side_output): "))
        .unwrap_or_else(|| panic!("{err}"));
    let counted: usize = summary
        .split(": ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .map(|n| n.replace(',', "").parse().unwrap())
        .unwrap();
    assert_eq!(counted, scored, "{summary}");

    // The server is gone at start: the run goes on, every row comes out once with the fallback.
    drop(child);
    let (err, rows) = run_example(&dir, "fraud_external.toml", &url, &[], &input);
    assert!(err.contains("warning: model server"), "{err}");
    assert_eq!(rows.len(), 3000);
    for r in &rows {
        assert_eq!(r["scored"], false, "{r}");
        assert_eq!(r["prediction"]["score"], 0.0, "{r}");
        let reason = r["prediction"]["fallback"].as_str().unwrap();
        assert!(["connect", "circuit_open"].contains(&reason), "{r}");
    }
    assert!(
        err.contains("0 scored, 0 unscored, 3,000 fallback"),
        "{err}"
    );
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

/// Half a request line, then nothing.
fn half_header(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /v2/models/fraud_lr/inf").unwrap();
    s
}

/// Whole headers, then half the body.
fn half_body(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v2/models/fraud_lr/infer HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"inputs\":"
    )
    .unwrap();
    s
}

/// What the server sent before it stopped sending, waiting up to a minute: `None` if the
/// connection is still open then.
fn answer(s: &mut TcpStream) -> Option<String> {
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            // reset by the server: closed
            Err(_) => return Some(String::from_utf8_lossy(&got).into_owned()),
        }
    }
}

/// Nothing has come on `s` and it is not closed.
fn still_open(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

/// `--header-timeout` and `--body-timeout` reach the server, both ways: a short one closes a
/// slow connection (within a minute, whatever the machine's load), a long one keeps it open
/// past the 10 s default. Two servers side by side, each short on one timeout and an hour
/// long on the other.
#[test]
fn eddy_serve_times_out_slow_clients_as_told() {
    let model = examples().join("models/fraud_lr.json");
    let model = model.to_str().unwrap();
    let (_short_header, a) = spawn_serve(&[
        "--model",
        model,
        "--header-timeout",
        "1s",
        "--body-timeout",
        "1h",
    ]);
    let (_short_body, b) = spawn_serve(&[
        "--model",
        model,
        "--header-timeout",
        "1h",
        "--body-timeout",
        "1s",
    ]);
    let started = std::time::Instant::now();
    let (mut a_header, mut a_body) = (half_header(a), half_body(a));
    let (mut b_header, mut b_body) = (half_header(b), half_body(b));
    // the short ones: the half header is closed (hyper may answer 408 first), the half
    // body answered 408
    let closed = answer(&mut a_header).expect("a half header still open after a minute");
    assert!(
        closed.is_empty() || closed.starts_with("HTTP/1.1 408"),
        "{closed:?}"
    );
    let closed = answer(&mut b_body).expect("a half body unanswered after a minute");
    assert!(closed.starts_with("HTTP/1.1 408"), "{closed:?}");
    // the long ones outlast the default
    std::thread::sleep(Duration::from_secs(12).saturating_sub(started.elapsed()));
    assert!(still_open(&mut a_body), "--body-timeout 1h was not applied");
    assert!(
        still_open(&mut b_header),
        "--header-timeout 1h was not applied"
    );
}

#[test]
fn eddy_serve_refuses_a_bad_timeout() {
    for (flag, value, says) in [
        ("--header-timeout", "0", "above zero"),
        ("--body-timeout", "10x", "10x"),
        ("--body-timeout", "-1s", "-1s"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(["serve", "--model", "m.json", &format!("{flag}={value}")])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains(says), "{err}");
    }
}
