//! `eddy serve` over real HTTP on 127.0.0.1: every route, scoring equal to the model, errors.

mod common;

use common::{http, json, logistic, onnx_logistic, start, start_with};
use eddy_oip::server::ServerConfig;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use eddy_infer::{Batch, Scores};

#[test]
fn health_and_metadata_routes() {
    let srv = start(vec![logistic("lr")], 1 << 20);
    let a = srv.addr();
    let (s, b) = http(a, "GET", "/v2/health/live", b"");
    assert_eq!((s, json(&b)["live"].as_bool()), (200, Some(true)));
    let (s, b) = http(a, "GET", "/v2/health/ready", b"");
    assert_eq!((s, json(&b)["ready"].as_bool()), (200, Some(true)));
    let (s, b) = http(a, "GET", "/v2", b"");
    assert_eq!((s, json(&b)["name"].as_str()), (200, Some("eddy")));

    let (s, b) = http(a, "GET", "/v2/models/lr", b"");
    assert_eq!(s, 200, "{b}");
    let m = json(&b);
    assert_eq!(m["name"], "lr");
    assert_eq!(m["versions"], serde_json::json!(["3"]));
    assert_eq!(m["platform"], "eddy_native");
    assert_eq!(
        m["inputs"],
        serde_json::json!([{"name": "input", "datatype": "FP64", "shape": [-1, 3]}])
    );
    let outs: Vec<&str> = m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(outs, ["score", "label", "probabilities"]);

    let (s, b) = http(a, "GET", "/v2/models/lr/ready", b"");
    assert_eq!((s, json(&b)["ready"].as_bool()), (200, Some(true)));
    for path in ["/v2/models/nope", "/v2/models/nope/ready"] {
        let (s, b) = http(a, "GET", path, b"");
        assert_eq!(s, 404, "{path}");
        assert!(
            json(&b)["error"]
                .as_str()
                .unwrap()
                .contains("unknown model"),
            "{b}"
        );
    }
    let (s, b) = http(a, "GET", "/nowhere", b"");
    assert_eq!(s, 404);
    assert!(json(&b)["error"].is_string());
}

#[test]
fn batch_is_scored_as_the_model_scores_it() {
    let model = logistic("lr_eq");
    let srv = start(vec![model.clone(), onnx_logistic()], 1 << 20);
    let rows: Vec<f64> = (0..24).map(|i| ((i as f64) * 0.61).sin() * 3.0).collect();
    let mut want = Scores::new();
    model
        .score(Batch::new(&rows, 8).unwrap(), &mut want)
        .unwrap();

    // Flat data, FP64, with an id and the default outputs.
    let req = serde_json::json!({
        "id": "req-7",
        "inputs": [{"name": "input", "shape": [8, 3], "datatype": "FP64", "data": rows}],
    });
    let (s, b) = http(
        srv.addr(),
        "POST",
        "/v2/models/lr_eq/infer",
        req.to_string().as_bytes(),
    );
    assert_eq!(s, 200, "{b}");
    let r = json(&b);
    assert_eq!(r["id"], "req-7");
    assert_eq!(r["model_name"], "lr_eq");
    assert_eq!(r["model_version"], "3");
    let outs = r["outputs"].as_array().unwrap();
    assert_eq!(outs.len(), 3);
    let score: Vec<f64> = serde_json::from_value(outs[0]["data"].clone()).unwrap();
    assert_eq!(score, want.scores, "bit-equal scores");
    assert_eq!(outs[0]["shape"], serde_json::json!([8]));
    let labels: Vec<i64> = serde_json::from_value(outs[1]["data"].clone()).unwrap();
    assert_eq!(labels, want.labels);
    assert_eq!(outs[1]["datatype"], "INT64");
    let proba: Vec<f64> = serde_json::from_value(outs[2]["data"].clone()).unwrap();
    assert_eq!(proba, want.probabilities);
    assert_eq!(outs[2]["shape"], serde_json::json!([8, 2]));

    // Nested data, an output selection, INT64 input.
    let ints: Vec<Vec<i64>> = vec![vec![1, 2, 3], vec![-4, 0, 5]];
    let req = serde_json::json!({
        "inputs": [{"name": "input", "shape": [2, 3], "datatype": "INT64", "data": ints}],
        "outputs": [{"name": "score"}],
    });
    let (s, b) = http(
        srv.addr(),
        "POST",
        "/v2/models/lr_eq/infer",
        req.to_string().as_bytes(),
    );
    assert_eq!(s, 200, "{b}");
    let r = json(&b);
    assert!(r.get("id").is_none());
    let outs = r["outputs"].as_array().unwrap();
    assert_eq!(outs.len(), 1);
    model
        .score(
            Batch::new(&[1.0, 2.0, 3.0, -4.0, 0.0, 5.0], 2).unwrap(),
            &mut want,
        )
        .unwrap();
    let score: Vec<f64> = serde_json::from_value(outs[0]["data"].clone()).unwrap();
    assert_eq!(score, want.scores);

    // An ONNX model with FP32 input.
    let onnx = onnx_logistic();
    let x: Vec<f64> = vec![120.0, 3.0, 1.5, 12.0, 8.0, 22.0, 0.2, 1.0];
    let x32: Vec<f64> = x.iter().map(|&v| v as f32 as f64).collect();
    onnx.score(Batch::new(&x32, 2).unwrap(), &mut want).unwrap();
    let name = &onnx.metadata().inputs[0].name;
    let req = serde_json::json!({
        "inputs": [{"name": name, "shape": [2, 4], "datatype": "FP32", "data": x}],
    });
    let (s, b) = http(
        srv.addr(),
        "POST",
        "/v2/models/onnx_lr/infer",
        req.to_string().as_bytes(),
    );
    assert_eq!(s, 200, "{b}");
    let r = json(&b);
    // A classifier exported by skl2onnx has labels and probabilities; the server adds `score`.
    let out = r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "score")
        .unwrap_or_else(|| panic!("no score output in {b}"));
    let got: Vec<f64> = serde_json::from_value(out["data"].clone()).unwrap();
    assert_eq!(got.len(), 2);
    for (g, w) in got.iter().zip(&want.scores) {
        assert!((g - w).abs() < 1e-6, "{g} vs {w}");
    }
    assert_eq!(out["shape"][0], 2);
}

#[test]
fn malformed_requests_get_clear_4xx() {
    let srv = start(vec![logistic("lr_bad")], 4096);
    let a = srv.addr();
    let url = "/v2/models/lr_bad/infer";
    let input = |shape: serde_json::Value, dt: &str, data: serde_json::Value| {
        serde_json::json!({"inputs": [{"name": "input", "shape": shape, "datatype": dt, "data": data}]})
            .to_string()
    };
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "malformed request"),
        (r#"{"inputs": 3}"#.into(), 400, "malformed request"),
        (r#"{"inputs": []}"#.into(), 400, "no inputs"),
        (
            input(serde_json::json!([2, 3]), "FP64", serde_json::json!([1, 2, 3, 4, 5])),
            400,
            "needs 6 values, data has 5",
        ),
        (
            // Nine values for [3, 3], but not three rows of three.
            input(serde_json::json!([3, 3]), "FP64", serde_json::json!([[1, 2, 3, 4], [5, 6], [7, 8, 9]])),
            400,
            "data is ragged",
        ),
        (
            input(serde_json::json!([1, 3]), "FP64", serde_json::json!([1, [2], 3])),
            400,
            "data is ragged",
        ),
        (
            input(serde_json::json!([1, 2]), "FP64", serde_json::json!([1, 2])),
            400,
            "2 features per row, the model takes 3",
        ),
        (
            input(serde_json::json!([3]), "FP64", serde_json::json!([1, 2, 3])),
            400,
            "is not [N, F]",
        ),
        (
            input(serde_json::json!([1, 3]), "BYTES", serde_json::json!([1, 2, 3])),
            400,
            "unsupported datatype",
        ),
        (
            input(serde_json::json!([1, 3]), "INT64", serde_json::json!([1, 2.5, 3])),
            400,
            "INT64 data holds a non-integer",
        ),
        (
            input(serde_json::json!([1, 3]), "FP64", serde_json::json!([1, "x", 3])),
            400,
            "malformed request",
        ),
        (
            // Finite as JSON, infinite as FP32.
            input(serde_json::json!([1, 3]), "FP32", serde_json::json!([1, 1e39, 3])),
            400,
            "not finite",
        ),
        (
            r#"{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP64","data":[1,1e999,3]}]}"#
                .into(),
            400,
            "malformed request",
        ),
        (
            serde_json::json!({"inputs": [{"name": "wrong", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}).to_string(),
            400,
            "unknown input \"wrong\"",
        ),
        (
            serde_json::json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}], "outputs": [{"name": "nope"}]}).to_string(),
            400,
            "unknown output \"nope\"",
        ),
    ];
    for (body, status, msg) in &cases {
        let (s, b) = http(a, "POST", url, body.as_bytes());
        assert_eq!(s, *status, "{body} -> {b}");
        let err = json(&b)["error"].as_str().unwrap().to_string();
        assert!(err.contains(msg), "{body}: {err:?} should say {msg:?}");
    }
    // Unknown model.
    let (s, b) = http(
        a,
        "POST",
        "/v2/models/ghost/infer",
        input(
            serde_json::json!([1, 3]),
            "FP64",
            serde_json::json!([1, 2, 3]),
        )
        .as_bytes(),
    );
    assert_eq!(s, 404);
    assert!(json(&b)["error"].as_str().unwrap().contains("ghost"));
    // Over the 4096-byte limit.
    let big: Vec<f64> = (0..3000).map(|i| i as f64 * 1.5).collect();
    let body = input(serde_json::json!([1000, 3]), "FP64", serde_json::json!(big));
    assert!(body.len() > 4096);
    let (s, b) = http(a, "POST", url, body.as_bytes());
    assert_eq!(s, 413, "{b}");
    assert!(json(&b)["error"].as_str().unwrap().contains("size limit"));
    // Still serving afterwards.
    let (s, _) = http(a, "GET", "/v2/health/live", b"");
    assert_eq!(s, 200);
}

#[test]
fn a_declared_length_over_the_limit_gets_413_at_once() {
    // Headers promising one byte over the limit, then no body: the answer must not wait for it.
    let srv = start(vec![logistic("lr_cl")], 4096);
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let head = format!(
        "POST /v2/models/lr_cl/infer HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        srv.addr(),
        4096 + 1
    );
    s.write_all(head.as_bytes()).unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).expect("no answer within 3 s");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 413"), "{text:?}");
    assert!(text.contains("size limit"), "{text:?}");
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[test]
fn slow_headers_and_bodies_time_out() {
    let cfg = ServerConfig {
        max_body: 4096,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
    };
    let srv = start_with(vec![logistic("lr_slow")], cfg);
    // Half a request line, then nothing: the server closes the connection.
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /v2/models/m/inf").unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 1024];
    match s.read(&mut buf) {
        // Closed (0), or answered (408) then closed.
        Ok(n) => {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text:?}");
        }
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "still open after {:?}: {e}",
            t0.elapsed()
        ),
    }
    assert!(t0.elapsed() < Duration::from_secs(5));

    // Headers, then half the body: 408.
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "POST /v2/models/lr_slow/infer HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"inputs\":",
        srv.addr()
    );
    s.write_all(head.as_bytes()).unwrap();
    let n = s.read(&mut buf).expect("no answer within 5 s");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(text.contains("did not arrive"), "{text:?}");

    // Still serving.
    let (s, _) = http(srv.addr(), "GET", "/v2/health/live", b"");
    assert_eq!(s, 200);
}
