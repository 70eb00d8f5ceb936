//! The exact bytes on the wire, both ways: what `eddy serve` answers on every route and what
//! the client sends, pinned so that a change to the wire types shows up here first.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{http, logistic, onnx_logistic, start};
use eddy_oip::remote::{Emitted, Outcome, RemoteConfig, RemoteScorer, WireType};

#[test]
fn server_bytes() {
    let srv = start(vec![logistic("wb"), onnx_logistic()], 4096);
    let a = srv.addr();
    let get = |path: &str| http(a, "GET", path, b"");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        get("/v2"),
        (
            200,
            format!(r#"{{"extensions":[],"name":"eddy","version":"{version}"}}"#)
        )
    );
    assert_eq!(get("/v2/health/live"), (200, r#"{"live":true}"#.into()));
    assert_eq!(get("/v2/health/ready"), (200, r#"{"ready":true}"#.into()));
    assert_eq!(
        get("/v2/models/wb/ready"),
        (200, r#"{"name":"wb","ready":true}"#.into())
    );
    assert_eq!(
        get("/v2/models/wb"),
        (
            200,
            concat!(
                r#"{"inputs":[{"datatype":"FP64","name":"input","shape":[-1,3]}],"name":"wb","#,
                r#""outputs":[{"datatype":"FP64","name":"score","shape":[-1]},"#,
                r#"{"datatype":"INT64","name":"label","shape":[-1]},"#,
                r#"{"datatype":"FP64","name":"probabilities","shape":[-1,2]}],"#,
                r#""platform":"eddy_native","versions":["3"]}"#
            )
            .into()
        )
    );
    assert_eq!(
        get("/v2/models/onnx_lr"),
        (
            200,
            concat!(
                r#"{"inputs":[{"datatype":"FP32","name":"float_input","shape":[-1,4]}],"#,
                r#""name":"onnx_lr","outputs":[{"datatype":"INT64","name":"label","shape":[-1]},"#,
                r#"{"datatype":"FP32","name":"probabilities","shape":[-1,2]},"#,
                r#"{"datatype":"FP64","name":"score","shape":[-1]}],"#,
                r#""platform":"onnx_tract","versions":["1"]}"#
            )
            .into()
        )
    );
    assert_eq!(
        get("/v2/models/nope"),
        (
            404,
            r#"{"error":"unknown model \"nope\" (served: onnx_lr, wb)"}"#.into()
        )
    );
    assert_eq!(
        get("/nowhere"),
        (404, r#"{"error":"no such route"}"#.into())
    );

    let post = |path: &str, body: &str| http(a, "POST", path, body.as_bytes());
    assert_eq!(
        post(
            "/v2/models/wb/infer",
            r#"{"id":"r1","inputs":[{"name":"input","shape":[2,3],"datatype":"FP64","data":[[1,2,3],[0.5,-1,0]]}]}"#
        ),
        (
            200,
            concat!(
                r#"{"model_name":"wb","model_version":"3","id":"r1","outputs":["#,
                r#"{"name":"score","datatype":"FP64","shape":[2],"data":[0.34864513533394575,0.7981867777396212]},"#,
                r#"{"name":"label","datatype":"INT64","shape":[2],"data":[0,1]},"#,
                r#"{"name":"probabilities","datatype":"FP64","shape":[2,2],"#,
                r#""data":[0.6513548646660543,0.34864513533394575,0.2018132222603788,0.7981867777396212]}]}"#
            )
            .into()
        )
    );
    assert_eq!(
        post(
            "/v2/models/onnx_lr/infer",
            r#"{"inputs":[{"name":"float_input","shape":[1,4],"datatype":"FP32","data":[120,3,1.5,12]}],"outputs":[{"name":"probabilities"},{"name":"score"}]}"#
        ),
        (
            200,
            concat!(
                r#"{"model_name":"onnx_lr","model_version":"1","outputs":["#,
                r#"{"name":"probabilities","datatype":"FP32","shape":[1,2],"data":[2.9802322e-8,1.0]},"#,
                r#"{"name":"score","datatype":"FP64","shape":[1],"data":[1.0]}]}"#
            )
            .into()
        )
    );
    assert_eq!(
        post(
            "/v2/models/wb/infer",
            r#"{"inputs":[{"name":"input","shape":[0,3],"datatype":"FP64","data":[]}],"outputs":[{"name":"score"}]}"#
        ),
        (
            200,
            r#"{"model_name":"wb","model_version":"3","outputs":[{"name":"score","datatype":"FP64","shape":[0],"data":[]}]}"#
                .into()
        )
    );
    let (s, b) = post("/v2/models/wb/infer", "{not json");
    assert_eq!(s, 400);
    assert!(b.starts_with(r#"{"error":"malformed request: "#), "{b}");
    assert_eq!(
        post(
            "/v2/models/wb/infer",
            r#"{"inputs":[{"name":"input","shape":[1,3],"datatype":"BYTES","data":[1,2,3]}]}"#
        ),
        (
            400,
            r#"{"error":"input \"input\": unsupported datatype \"BYTES\" (FP32, FP64, INT64 or BOOL)"}"#
                .into()
        )
    );
}

/// Reads one HTTP/1.1 request (`Content-Length` framed) off `r`: `(request line, body)`.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let request_line = line.trim_end().to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((request_line, body))
}

/// A server that records every request and answers each with `reply`.
fn recorder(reply: &'static str) -> (SocketAddr, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let tx = tx.clone();
            thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                while let Some((line, body)) = read_request(&mut r) {
                    let _ = tx.send((line, String::from_utf8(body).unwrap()));
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        reply.len()
                    );
                    if w.write_all(head.as_bytes()).is_err()
                        || w.write_all(reply.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn scored(out: &[Emitted]) -> Vec<(u64, f64, Option<i64>)> {
    out.iter()
        .map(|e| match e {
            Emitted::Event(ev) if ev.outcome == Outcome::Scored => (ev.id, ev.score, ev.label),
            other => panic!("not scored: {other:?}"),
        })
        .collect()
}

#[test]
fn client_bytes() {
    let reply = r#"{"model_name":"m","outputs":[{"name":"s","datatype":"FP64","shape":[2],"data":[0.25,1e-7]},{"name":"l","datatype":"INT64","shape":[2],"data":[[1],[0]]}]}"#;
    let (addr, rx) = recorder(reply);
    for (wire, want) in [
        (
            WireType::Fp64,
            r#"{"id":"0","inputs":[{"name":"x","shape":[2,3],"datatype":"FP64","data":[0.1,-2.0,3e+20,1.0,0.0,-0.30000000000000004]}],"outputs":[{"name":"s"},{"name":"l"}]}"#,
        ),
        (
            WireType::Fp32,
            r#"{"id":"0","inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[0.1,-2.0,3e+20,1.0,0.0,-0.3]}],"outputs":[{"name":"s"},{"name":"l"}]}"#,
        ),
    ] {
        let mut c = RemoteConfig::new(format!("http://{addr}/"), "m");
        c.input = "x".into();
        c.datatype = wire;
        c.score_output = "s".into();
        c.label_output = Some("l".into());
        c.max_batch = 2;
        c.max_wait = Duration::from_secs(5);
        let mut s = RemoteScorer::new(c).unwrap();
        let mut out = Vec::new();
        s.submit(7, &[0.1, -2.0, 3e20], &mut out);
        s.submit(8, &[1.0, 0.0, 0.1 - 0.4], &mut out);
        assert!(s.drain_for(&mut out, Duration::from_secs(10)));
        assert_eq!(scored(&out), [(7, 0.25, Some(1)), (8, 1e-7, Some(0))]);
        let (line, body) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(line, "POST /v2/models/m/infer HTTP/1.1");
        assert_eq!(body, want);
    }
}

#[test]
fn client_reads_model_metadata() {
    let reply = r#"{"name":"m","versions":["2"],"platform":"p","inputs":[{"name":"x","datatype":"FP32","shape":[-1,3]}],"outputs":[{"name":"s","datatype":"FP64","shape":[-1]}],"extra":1}"#;
    let (addr, rx) = recorder(reply);
    let s = RemoteScorer::new(RemoteConfig::new(format!("http://{addr}"), "m")).unwrap();
    let md = s.fetch_metadata().unwrap();
    let (line, body) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (line.as_str(), body.as_str()),
        ("GET /v2/models/m HTTP/1.1", "")
    );
    assert_eq!(md.name, "m");
    assert_eq!(md.versions, ["2"]);
    assert_eq!(md.inputs.len(), 1);
    assert_eq!(
        (
            md.inputs[0].name.as_str(),
            md.inputs[0].datatype.as_str(),
            md.inputs[0].shape.as_slice()
        ),
        ("x", "FP32", &[-1, 3][..])
    );
    assert_eq!(md.outputs[0].name, "s");
}
