//! The server patterns (`external`, `side_output`) against real HTTP servers on 127.0.0.1:
//! `eddy serve` in process for the happy paths, nothing listening for a dead server, and a
//! few lines of std TCP for a server too slow to meet the deadline.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use common::{check_predictions, jsonl_input, run, spec_text, tmp_dir, trained, write_spec};
use eddy_oip::server::{self, ModelSet, ServerConfig, ServerHandle};
use eddy_runtime::{Pipeline, PipelineSpec, RuntimeError};
use serde_json::Value;

const INPUTS: [&str; 3] = ["sx", "n", "my"];

/// Serves the model in `dir/fraud_lr.json` as `fraud_lr`, taking 3 named features.
fn serve(dir: &std::path::Path) -> ServerHandle {
    std::fs::write(dir.join("fraud_lr.features.json"), r#"["sx", "n", "my"]"#).unwrap();
    let model = eddy_infer::load_model(&dir.join("fraud_lr.json"), "fraud_lr").unwrap();
    let mut set = ModelSet::new();
    set.insert(Arc::from(model)).unwrap();
    server::spawn(
        set,
        "127.0.0.1:0".parse().unwrap(),
        &ServerConfig::default(),
        2,
    )
    .unwrap()
}

fn server_model(pattern: &str, url: &str, extra: &str) -> String {
    format!(
        "[model]\npattern = \"{pattern}\"\nurl = \"{url}\"\nname = \"fraud_lr\"\n\
         inputs = [\"sx\", \"n\", \"my\"]\nlabel_output = \"label\"\n{extra}\n"
    )
}

fn spec(dir: &std::path::Path, model: &str) -> PipelineSpec {
    let path = write_spec(dir, &spec_text("jsonl", model));
    PipelineSpec::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn refused(spec: PipelineSpec) -> eddy_runtime::SpecErrors {
    match Pipeline::new(spec.clone()) {
        Ok(_) => panic!("accepted: {:?}", spec.model),
        Err(RuntimeError::Spec(e)) => e,
        Err(e) => panic!("not a spec error: {e}"),
    }
}

/// The lines with `prediction` and `scored` removed, for comparing row sets.
fn without_predictions(events: &str) -> Vec<String> {
    events
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            assert!(o.remove("prediction").is_some(), "{l}");
            assert!(o.remove("scored").is_some(), "{l}");
            v.to_string()
        })
        .collect()
}

#[test]
fn external_ordered_scores_every_row_like_the_model_in_input_order() {
    let dir = tmp_dir("external");
    let m = trained(&dir);
    let srv = serve(&dir);
    let (s, events) = run(
        spec(&dir, &server_model("external", &srv.url(), "max_batch = 8")),
        &jsonl_input(),
    );
    let (scored, unscored) = check_predictions(&m, &events, &INPUTS);
    assert_eq!(s.emitted, 60);
    assert_eq!(scored + unscored, 60);
    assert!(scored > 0 && unscored > 0, "{scored} {unscored}");
    assert_eq!(
        (s.scored, s.unscored_null_feature, s.fallback),
        (scored, unscored, 0)
    );
    let c = s.remote.clone().unwrap();
    assert_eq!(c.scored, scored, "{c}");
    assert!(c.batches >= scored.div_ceil(8), "{c}");
    // Same rows, same order, as the pipeline without a model.
    assert_eq!(without_predictions(&events), plain_rows(&dir));
}

#[test]
fn external_unordered_emits_every_row_exactly_once() {
    let dir = tmp_dir("unordered");
    let m = trained(&dir);
    let srv = serve(&dir);
    let (s, events) = run(
        spec(
            &dir,
            &server_model(
                "external",
                &srv.url(),
                "order = \"unordered\"\nmax_batch = 4",
            ),
        ),
        &jsonl_input(),
    );
    let (scored, unscored) = check_predictions(&m, &events, &INPUTS);
    assert_eq!((scored + unscored, s.emitted), (60, 60));
    let plain: BTreeSet<String> = plain_rows(&dir).into_iter().collect();
    let got: BTreeSet<String> = without_predictions(&events).into_iter().collect();
    assert_eq!(got, plain);
}

#[test]
fn external_with_the_server_down_gives_every_row_the_fallback_with_a_reason() {
    let dir = tmp_dir("down");
    trained(&dir);
    // A port with nothing listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let spec = spec(
        &dir,
        &server_model(
            "external",
            &url,
            "fallback_score = 0.25\ntimeout = \"200ms\"\nmax_retries = 1\nbackoff_base = \"1ms\"",
        ),
    );
    let p = Pipeline::new(spec.clone()).unwrap();
    assert!(
        p.warnings().iter().any(|w| w.contains(&url)),
        "{:?}",
        p.warnings()
    );
    let (s, events) = run(spec, &jsonl_input());
    let mut fallback = 0;
    for line in events.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["scored"], Value::Bool(false), "{line}");
        if v["prediction"].is_null() {
            continue; // a null input: never sent
        }
        assert_eq!(v["prediction"]["score"], 0.25, "{line}");
        let reason = v["prediction"]["fallback"].as_str().unwrap();
        assert!(["connect", "circuit_open"].contains(&reason), "{line}");
        fallback += 1;
    }
    assert_eq!(s.emitted, 60);
    assert_eq!(s.fallback, fallback);
    assert_eq!(s.fallback + s.unscored_null_feature, 60);
    assert_eq!(s.scored, 0);
    let c = s.remote.unwrap();
    let null_inputs = c.fallback(eddy_oip::remote::FallbackReason::InvalidInput);
    assert_eq!(null_inputs, s.unscored_null_feature, "{c}");
    assert_eq!(c.fallback_total() - null_inputs, fallback, "{c}");
}

/// An OIP server that answers every request after `delay` (std TCP, one thread per
/// connection, keep-alive): for scores that miss a side-output deadline.
fn slow_server(delay: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut len = 0usize;
                    let mut first = String::new();
                    if r.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    std::thread::sleep(delay);
                    let reply = if first.starts_with("GET") {
                        r#"{"name":"fraud_lr","versions":["1"],"inputs":[{"name":"input","datatype":"FP64","shape":[-1,3]}],"outputs":[{"name":"score","datatype":"FP64","shape":[-1]},{"name":"label","datatype":"INT64","shape":[-1]}]}"#.to_string()
                    } else {
                        let req: Value = serde_json::from_slice(&body).unwrap();
                        let n = req["inputs"][0]["shape"][0].as_u64().unwrap() as usize;
                        let z = vec![0.5; n];
                        let l = vec![1; n];
                        serde_json::json!({"model_name": "fraud_lr", "outputs": [
                            {"name": "score", "datatype": "FP64", "shape": [n], "data": z},
                            {"name": "label", "datatype": "INT64", "shape": [n], "data": l}
                        ]})
                        .to_string()
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        reply.len()
                    );
                    if conn.write_all(head.as_bytes()).is_err()
                        || conn.write_all(reply.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn side_output_rows_miss_a_slow_servers_deadline_and_leave_unscored_in_order() {
    let dir = tmp_dir("side_slow");
    trained(&dir);
    let addr = slow_server(Duration::from_millis(400));
    // The metadata check at start waits too; give it the time.
    let spec = spec(
        &dir,
        &server_model(
            "side_output",
            &format!("http://{addr}"),
            "deadline = \"20ms\"\ntimeout = \"2s\"\nmax_retries = 0",
        ),
    );
    let (s, events) = run(spec.clone(), &jsonl_input());
    assert_eq!(
        without_predictions(&events),
        plain_rows(&dir),
        "rows in input order"
    );
    for line in events.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["prediction"], Value::Null, "{line}");
        assert_eq!(v["scored"], Value::Bool(false), "{line}");
    }
    assert_eq!(s.emitted, 60);
    assert_eq!(s.scored, 0);
    assert!(s.unscored_deadline > 0);
    assert_eq!(
        s.unscored_deadline + s.unscored_null_feature + s.unscored_shed,
        60,
        "{s:?}"
    );
    assert_eq!(s.unscored, 60);
}

/// Input that kills the server once the first half of it has been read.
struct KillHalfway {
    data: Vec<u8>,
    at: usize,
    server: Option<ServerHandle>,
}

impl Read for KillHalfway {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.data.len() / 2 {
            if let Some(s) = self.server.take() {
                s.kill();
            }
        }
        let n = buf.len().min(self.data.len() - self.at).min(512);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn external_goes_on_when_the_server_dies_mid_run() {
    let dir = tmp_dir("dies");
    let m = trained(&dir);
    let srv = serve(&dir);
    let spec = spec(
        &dir,
        &server_model(
            "external",
            &srv.url(),
            "max_batch = 2
max_wait = \"1ms\"\ntimeout = \"300ms\"\nmax_retries = 1\nbackoff_base = \"1ms\"\nfallback_score = -1",
        ),
    );
    // Five copies of the input, each later in event time than the one before.
    let mut input = String::new();
    for c in 0..5u64 {
        for line in jsonl_input().lines() {
            let mut v: Value = serde_json::from_str(line).unwrap();
            v["t"] = (v["t"].as_u64().unwrap() + c * 200_000).into();
            input.push_str(&format!("{v}\n"));
        }
    }
    let mut p = Pipeline::new(spec).unwrap();
    let reader = KillHalfway {
        data: input.into_bytes(),
        at: 0,
        server: Some(srv),
    };
    let mut src = eddy_runtime::connector::StreamSource::new("mem", reader).with_batch_bytes(512);
    let events = eddy_runtime::connector::MemorySink::new();
    let mut o = eddy_runtime::outputs::Outputs::none();
    o.set_sink(
        eddy_runtime::outputs::OutputKind::Events,
        Box::new(events.clone()),
    );
    let mut clock = || 0;
    let s = p
        .run(
            &mut src,
            &mut o,
            eddy_runtime::RunHooks::with_clock(&mut clock),
        )
        .unwrap();
    let text = events.text();
    assert_eq!(text.lines().count(), 300);
    assert_eq!(s.emitted, 300);
    let (mut scored, mut fallback) = (0, 0);
    let mut p = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let pred = &v["prediction"];
        if pred.is_null() {
            continue;
        }
        if v["scored"] == Value::Bool(true) {
            let x: Vec<f64> = INPUTS
                .iter()
                .map(|n| v["features"][*n].as_f64().unwrap())
                .collect();
            m.predict_proba_one(&x, &mut p);
            assert_eq!(pred["score"].as_f64().unwrap(), p[1], "{line}");
            scored += 1;
        } else {
            assert_eq!(pred["score"], -1.0, "{line}");
            assert!(pred["fallback"].is_string(), "{line}");
            fallback += 1;
        }
    }
    assert!(scored > 0 && fallback > 0, "{scored} {fallback}");
    assert_eq!((s.scored, s.fallback), (scored, fallback));
    assert_eq!(s.scored + s.fallback + s.unscored_null_feature, 300);
}

/// The per-event rows of the same pipeline without a model, normalised like
/// [`without_predictions`].
fn plain_rows(dir: &std::path::Path) -> Vec<String> {
    let (_, plain) = run(spec(dir, ""), &jsonl_input());
    plain
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap().to_string())
        .collect()
}

#[test]
fn side_output_with_a_fast_server_rejoins_every_score() {
    let dir = tmp_dir("side_fast");
    let m = trained(&dir);
    let srv = serve(&dir);
    let (s, events) = run(
        spec(
            &dir,
            &server_model(
                "side_output",
                &srv.url(),
                "deadline = \"5s\"\nmax_wait = \"1ms\"",
            ),
        ),
        &jsonl_input(),
    );
    let (scored, unscored) = check_predictions(&m, &events, &INPUTS);
    assert_eq!((s.scored, s.unscored_null_feature), (scored, unscored));
    assert_eq!(scored + unscored, 60);
    assert_eq!(
        (s.unscored_deadline, s.unscored_shed, s.late_scores),
        (0, 0, 0)
    );
    assert_eq!(without_predictions(&events), plain_rows(&dir));
}

#[test]
fn a_server_model_is_checked_before_any_event() {
    let dir = tmp_dir("server_checks");
    trained(&dir);
    let srv = serve(&dir);
    // An unknown model name: the server says 404.
    let e = refused(spec(
        &dir,
        &server_model("external", &srv.url(), "").replace("fraud_lr", "nope"),
    ));
    assert!(e.has_path("model.name"), "{e}");
    assert!(e.to_string().contains("does not serve"), "{e}");
    // Two inputs for a model that takes three.
    let two = server_model("external", &srv.url(), "")
        .replace("[\"sx\", \"n\", \"my\"]", "[\"sx\", \"n\"]");
    let e = refused(spec(&dir, &two));
    assert!(e.has_path("model.inputs"), "{e}");
    assert!(e.to_string().contains("takes 3"), "{e}");
    // An output the model does not have.
    let e = refused(spec(
        &dir,
        &server_model("external", &srv.url(), "score_output = \"proba\""),
    ));
    assert!(e.has_path("model.score_output"), "{e}");
    // A feature that does not exist.
    let e = refused(spec(
        &dir,
        &server_model("side_output", &srv.url(), "").replace("\"my\"", "\"zz\""),
    ));
    assert!(e.has_path("model.inputs[2]"), "{e}");
}

#[test]
fn a_score_column_is_checked_against_the_servers_metadata() {
    let dir = tmp_dir("server_column");
    let m = trained(&dir);
    let srv = serve(&dir);
    // `eddy serve` declares `score` with one value per row: column 0 is it, column 1 is not.
    let e = refused(spec(
        &dir,
        &server_model("external", &srv.url(), "score_column = 1"),
    ));
    assert!(e.has_path("model.score_column"), "{e}");
    assert!(e.to_string().contains("out of range"), "{e}");
    let (s, events) = run(
        spec(
            &dir,
            &server_model("external", &srv.url(), "score_column = 0"),
        ),
        &jsonl_input(),
    );
    let (scored, unscored) = check_predictions(&m, &events, &INPUTS);
    assert_eq!((s.scored, scored + unscored), (scored, 60));
}

/// An external spec for the HTTPS test server's model `m` (twice the first input).
fn tls_model(url: &str, extra: &str) -> String {
    format!(
        "[model]\npattern = \"external\"\nurl = \"{url}\"\nname = \"m\"\n\
         inputs = [\"sx\", \"n\", \"my\"]\nmax_retries = 0\n{extra}\n"
    )
}

#[test]
fn https_with_a_ca_file_and_a_token_from_the_environment() {
    use eddy_testutil::tls::{TestCa, TlsOptions, TlsServer};
    const SECRET: &str = "runtime-s3cret";
    let dir = tmp_dir("server_tls");
    let ca = TestCa::new();
    ca.write_pem(&dir.join("ca.pem"));
    let srv = TlsServer::start(TlsOptions {
        ca: &ca,
        expired: false,
        token: Some(SECRET.into()),
    });
    std::env::set_var("EDDY_RUNTIME_TLS_TOKEN", SECRET);
    // The CA file is relative to the spec's directory.
    let good = "ca_file = \"ca.pem\"\nbearer_token_env = \"EDDY_RUNTIME_TLS_TOKEN\"";
    let (s, events) = run(spec(&dir, &tls_model(&srv.url(), good)), &jsonl_input());
    assert_eq!((s.emitted, s.scored), (60, 60 - s.unscored_null_feature));
    assert!(s.scored > 0);
    for line in events.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["scored"] == true {
            let sx = v["features"]["sx"].as_f64().unwrap();
            assert_eq!(v["prediction"]["score"].as_f64(), Some(2.0 * sx), "{line}");
        }
    }
    assert!(!events.contains(SECRET));

    // Refused at start, each naming the key to fix and never the token: a certificate the
    // system's roots do not verify, no token, a wrong token, an unset variable.
    let secret_free = |e: &eddy_runtime::SpecErrors| {
        let text = e.to_string();
        assert!(!text.contains(SECRET), "{text}");
        text
    };
    let e = refused(spec(
        &dir,
        &tls_model(&srv.url(), "bearer_token_env = \"EDDY_RUNTIME_TLS_TOKEN\""),
    ));
    assert!(e.has_path("model.url"), "{e}");
    assert!(secret_free(&e).contains("TLS"), "{e}");
    let e = refused(spec(&dir, &tls_model(&srv.url(), "ca_file = \"ca.pem\"")));
    assert!(e.has_path("model.bearer_token_env"), "{e}");
    assert!(secret_free(&e).contains("HTTP 401"), "{e}");
    std::env::set_var("EDDY_RUNTIME_TLS_WRONG", "not-it");
    let e = refused(spec(
        &dir,
        &tls_model(
            &srv.url(),
            "ca_file = \"ca.pem\"\nbearer_token_env = \"EDDY_RUNTIME_TLS_WRONG\"",
        ),
    ));
    assert!(e.has_path("model.bearer_token_env"), "{e}");
    assert!(secret_free(&e).contains("EDDY_RUNTIME_TLS_WRONG"), "{e}");
    let e = refused(spec(
        &dir,
        &tls_model(
            &srv.url(),
            "ca_file = \"ca.pem\"\nheaders_env = { \"X-Key\" = \"EDDY_RUNTIME_TLS_UNSET\" }",
        ),
    ));
    assert!(e.has_path("model.headers_env.X-Key"), "{e}");
    assert!(secret_free(&e).contains("EDDY_RUNTIME_TLS_UNSET"), "{e}");
}

/// Keys come and go while rows wait for their scores: a key the engine releases while an
/// earlier batch's rows are still held is forgotten only once they are written, so every
/// row names its own key (CSV input: the row's key is written from its id).
#[test]
fn rows_held_for_scores_keep_the_names_of_keys_released_meanwhile() {
    let dir = tmp_dir("held-release");
    trained(&dir);
    let srv = serve(&dir);
    let mut input = String::from("k,t,x,y\n");
    // a new key every 4 events (8 s); each is idle a minute after its last event
    for i in 0..3_000u64 {
        let t = 1_000_000 + i * 2_000;
        input.push_str(&format!(
            "u{},{t},{},{}\n",
            i / 4,
            i % 7,
            (i % 5) as f64 - 1.5
        ));
    }
    let path = write_spec(
        &dir,
        &spec_text(
            "csv",
            &server_model("external", &srv.url(), "max_batch = 4"),
        ),
    );
    let spec = PipelineSpec::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let (s, events) = run(spec, &input);
    assert_eq!(s.emitted, 3_000);
    assert!(s.keys_released > 600, "{} keys released", s.keys_released);
    let mut seen = 0;
    for l in events.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        let i = (v["t"].as_i64().unwrap() - 1_000_000) / 2_000;
        assert_eq!(v["k"], format!("u{}", i / 4), "{l}");
        seen += 1;
    }
    assert_eq!(seen, 3_000);
}
