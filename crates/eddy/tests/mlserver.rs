//! End to end against a real third-party model server: Seldon MLServer (from PyPI) serving a
//! scikit-learn classifier saved with joblib, with the runtime's default settings (its
//! metadata declares no inputs or outputs, and `predict_proba` comes back as `[N, 2]`).
//! `eddy run` scores a stream through it with the external pattern, and every score is checked
//! against `predict_proba` computed by scikit-learn directly, in Python.
//!
//! MLServer lives in a virtual environment that `.ci/run` makes (`.venv-mlserver/` at the
//! repository's root) and names in `EDDY_MLSERVER_PYTHON`. Without it the test says so loudly
//! and passes, except under CI (`CI=true`), where it fails.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eddy_testutil::Tmp;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python of the MLServer venv, or `None` (skip) outside CI.
fn venv_python() -> Option<PathBuf> {
    let python = match std::env::var_os("EDDY_MLSERVER_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => root().join(".venv-mlserver/bin/python"),
    };
    if python.exists() {
        return Some(python);
    }
    let msg = format!(
        "MLServer is not installed ({} is absent): run .ci/run, or set EDDY_MLSERVER_PYTHON to the Python of a venv with mlserver, mlserver-sklearn, scikit-learn and joblib",
        python.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    // Straight to stderr, past the test harness's capture, so a skip is seen.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED mlserver test: {msg} ***\n"
    );
    None
}

/// MLServer's whole process group, killed when the test ends, whether it passes or fails.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The child leads its own process group (see `start`): kill everything in it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A port nobody listens on now (the OS picks it; MLServer binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /v2/health/ready` answered 200.
fn ready(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET /v2/health/ready HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw.starts_with("HTTP/1.1 200")
}

/// Starts MLServer over `dir` (its settings and a model folder) and waits until it is ready.
fn start(python: &Path, dir: &Path) -> (Server, SocketAddr) {
    let port = free_port();
    let settings = serde_json::json!({
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": 0,
    });
    std::fs::write(dir.join("settings.json"), settings.to_string()).unwrap();
    let log = dir.join("mlserver.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(python.with_file_name("mlserver"))
        .arg("start")
        .arg(dir)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    let mut server = Server { child, log };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // MLServer takes seconds to start (imports, the model load); a loaded machine, more.
    let end = Instant::now() + Duration::from_secs(180);
    while !ready(addr) {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("MLServer exited ({status}):\n{}", server.log());
        }
        assert!(
            Instant::now() < end,
            "MLServer not ready in 180 s:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    (server, addr)
}

fn eddy(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .unwrap()
}

/// The external example's spec, pointed at MLServer's model and its `predict_proba` column.
fn spec(url: &str, column: usize) -> String {
    let spec = std::fs::read_to_string(root().join("examples/fraud_external.toml")).unwrap();
    let edits = [
        ("url = \"http://127.0.0.1:8000\"", format!("url = \"{url}\"")),
        ("name = \"fraud_lr\"", "name = \"fraud_sk\"".to_string()),
        (
            "label_output = \"label\"",
            format!(
                "score_output = \"predict_proba\"\nscore_column = {column}\nlabel_output = \"predict\""
            ),
        ),
        // A debug-built pipeline against a Python server on a loaded machine: generous.
        ("timeout = \"1s\"", "timeout = \"30s\"".to_string()),
    ];
    edits.iter().fold(spec, |s, (from, to)| {
        assert!(s.contains(from), "the example has no {from:?}");
        s.replace(from, to)
    })
}

/// `eddy run` of `spec` over `input`: stderr and the rows.
fn run(dir: &Path, name: &str, spec: &str, input: &Path) -> (String, Vec<serde_json::Value>) {
    let spec_path = dir.join(format!("{name}.toml"));
    std::fs::write(&spec_path, spec).unwrap();
    let out = dir.join(format!("{name}.jsonl"));
    let o = eddy(&[
        "run",
        spec_path.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    let rows = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (err, rows)
}

#[test]
fn eddy_run_scores_through_mlserver_as_scikit_learn_does() {
    let Some(python) = venv_python() else {
        return;
    };
    let dir = Tmp::new("mlserver");
    let model_dir = dir.join("fraud_sk");
    std::fs::create_dir_all(&model_dir).unwrap();
    let script = root().join("scripts/mlserver_sklearn.py");
    let py = |args: &[&Path]| {
        let o = Command::new(&python)
            .arg(&script)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    py(&[Path::new("model"), &model_dir]);
    let input = dir.join("fraud.jsonl");
    let g = eddy(&[
        "generate",
        "fraud",
        "--events",
        "2000",
        "--seed",
        "5",
        "--keys",
        "40",
        "--output",
        input.to_str().unwrap(),
    ]);
    assert!(g.status.success());

    let (server, addr) = start(&python, &dir);
    let url = format!("http://{addr}");

    let (err, rows) = run(&dir, "proba", &spec(&url, 1), &input);
    // MLServer's metadata names no inputs or outputs: accepted, with warnings.
    assert!(err.contains("declares no inputs"), "{err}");
    assert!(err.contains("declares no outputs"), "{err}");
    assert!(
        err.contains("model fraud_sk (external): 2,000 scored, 0 unscored, 0 fallback"),
        "{err}\n{}",
        server.log()
    );
    assert_eq!(rows.len(), 2000);
    // scikit-learn's own predict_proba of each row's features, in Python.
    let features: Vec<[f64; 2]> = rows
        .iter()
        .map(|r| {
            let f = &r["features"];
            [
                f["events_5m"].as_f64().unwrap(),
                f["login_rate_1m"].as_f64().unwrap(),
            ]
        })
        .collect();
    let rows_path = dir.join("rows.json");
    std::fs::write(&rows_path, serde_json::to_string(&features).unwrap()).unwrap();
    let want_path = dir.join("proba.json");
    py(&[Path::new("proba"), &model_dir, &rows_path, &want_path]);
    let want: Vec<[f64; 2]> =
        serde_json::from_str(&std::fs::read_to_string(&want_path).unwrap()).unwrap();
    assert_eq!(want.len(), rows.len());
    let mut both = [false, false];
    for (i, (r, w)) in rows.iter().zip(&want).enumerate() {
        assert_eq!(r["event_id"], format!("e{:09}", i + 1), "input order");
        let p = &r["prediction"];
        let got = p["score"].as_f64().unwrap();
        // The same model on the same f64 inputs; only the batching of the dot products
        // differs, so at most a rounding apart.
        assert!(
            (got - w[1]).abs() <= 1e-12,
            "row {i}: {got} vs {}: {r}",
            w[1]
        );
        let label = i64::from(w[1] > w[0]);
        assert_eq!(p["label"], label, "row {i}: {r}");
        both[label as usize] = true;
        assert_eq!(r["scored"], true);
    }
    assert_eq!(both, [true, true], "the stream should get both classes");

    // A column the output does not have: MLServer declares no outputs, so this is found only
    // from its answers: every row falls back, counted as `wrong_outputs`.
    // (The breaker is off: else it would open after a few such batches, and the rest would
    // say `circuit_open`.)
    let no_breaker = spec(&url, 2).replace("breaker_failures = 5", "breaker_failures = 0");
    let (err, rows) = run(&dir, "column", &no_breaker, &input);
    assert_eq!(rows.len(), 2000);
    assert!(
        rows.iter()
            .all(|r| r["scored"] == false && r["prediction"]["fallback"] == "wrong_outputs"),
        "{err}"
    );
    assert!(err.contains("fallback_wrong_outputs=2000"), "{err}");
    drop(server);
}
