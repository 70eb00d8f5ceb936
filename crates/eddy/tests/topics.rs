//! The topics pattern end to end, against a real broker (tansu, started and stopped by
//! [`eddy_testutil::kafka::Broker`]; skipped with a message where it is not installed, except
//! under `CI=true`): `eddy run` with `pattern = "topics"` and `eddy score-worker`s, the real
//! binaries, as child processes killed when the test ends.
//!
//! Scores are checked against the example model's logistic function computed here from its
//! snapshot's weights, and against the embedded pattern's scores for the same rows. tansu's
//! first fetch of a fresh topic can take seconds: deadlines are generous (a minute) wherever
//! a row must be scored, and nothing waits on a clock to decide an outcome.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eddy_testutil::kafka::{Broker, Msg};
use eddy_testutil::{KillOnDrop, Tmp};
use serde_json::Value;

const EDDY: &str = env!("CARGO_BIN_EXE_eddy");

fn model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/fraud_lr.json")
}

/// The example model's score, computed from its snapshot: `1 / (1 + e^-z)`, `z = b + w·x`,
/// as River's `sigmoid` has it: 0 below `z = -30` and 1 above 30.
fn logistic(x: [f64; 2]) -> f64 {
    let snap: Value =
        serde_json::from_str(&std::fs::read_to_string(model_path()).unwrap()).unwrap();
    let glm = &snap["state"]["pipeline"]["model"]["logistic_regression"]["glm"];
    let b = glm["intercept"].as_f64().unwrap();
    let w: Vec<f64> = (glm["weights"].as_array().unwrap().iter())
        .map(|v| v.as_f64().unwrap())
        .collect();
    let z = b + w[0] * x[0] + w[1] * x[1];
    if z < -30.0 {
        0.0
    } else if z > 30.0 {
        1.0
    } else {
        1.0 / (1.0 + (-z).exp())
    }
}

const FEATURES: &str = r#"
[source]
format = "jsonl"
key = "user_id"
timestamp = "ts"
timestamp_format = "rfc3339"
event_id = "event_id"

[source.fields]
event_type = "string"
amount = "float"
label = "int"

[watermark]
max_out_of_orderness = "5s"

[[feature]]
name = "events_5m"
agg = "count"
window = { kind = "sliding", size = "5m", slide = "1m" }

[[feature]]
name = "login_rate_1m"
agg = "rate"
unit = "minute"
where = 'event_type == "login"'
window = { kind = "tumbling", size = "1m" }
"#;

/// A spec over the example features with `model` (a `[model]` table's body).
fn spec(dir: &Tmp, name: &str, model: &str) -> PathBuf {
    let text = format!("{FEATURES}\n[model]\n{model}\n");
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The topics pattern over `b`. Each request in a record batch of its own: tansu 0.6 cannot
/// fetch from inside a batch (it skips to the next one), so a worker that resumes from an
/// offset committed inside a batch would miss the rest of it.
fn topics_model(b: &Broker, deadline: &str) -> String {
    format!(
        "pattern = \"topics\"\nbrokers = \"{}\"\nrequest_topic = \"requests\"\nresponse_topic = \"scores\"\nname = \"fraud_lr\"\ninputs = [\"events_5m\", \"login_rate_1m\"]\ndeadline = \"{deadline}\"\nclient = {{ \"batch.num.messages\" = \"1\" }}\n",
        b.bootstrap()
    )
}

fn generate(dir: &Tmp, events: u32) -> PathBuf {
    let p = dir.join("fraud.jsonl");
    let out = Command::new(EDDY)
        .args([
            "generate",
            "fraud",
            "--events",
            &events.to_string(),
            "--seed",
            "7",
            "--output",
        ])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p
}

fn run(spec: &Path, input: &Path, output: &Path) -> Output {
    let out = Command::new(EDDY)
        .arg("run")
        .arg(spec)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn rows(path: &Path) -> Vec<Value> {
    (std::fs::read_to_string(path).unwrap().lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A number from the run summary line that starts with `label`, before `word`.
fn summary_count(stderr: &str, label: &str, word: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = (words.iter())
        .position(|w| w.trim_end_matches([',', ')']) == word)
        .unwrap_or_else(|| panic!("no `{word}` in {line:?}"));
    words[at - 1]
        .trim_start_matches('(')
        .replace(',', "")
        .parse()
        .unwrap()
}

/// A score worker whose stderr lines are collected as they come.
struct Worker {
    child: KillOnDrop,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Worker {
    fn start(b: &Broker, extra: &[&str]) -> Worker {
        let mut child = Command::new(EDDY)
            .args(["score-worker", "--brokers", &b.bootstrap()])
            .args(["--request-topic", "requests", "--response-topic", "scores"])
            .arg("--model")
            .arg(model_path())
            .args(["--session-timeout", "6s"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Worker {
            child: KillOnDrop(child),
            lines,
        }
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until the group gave this worker at least one partition.
    fn wait_assigned(&self) {
        let start = Instant::now();
        while !self
            .text()
            .lines()
            .any(|l| l.starts_with("score-worker: assigned [requests/"))
        {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "no partition assigned:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it with SIGTERM; returns how many requests it answered.
    fn stop(mut self) -> u64 {
        let pid = self.child.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.0.wait();
        // the reader thread ends with the pipe
        std::thread::sleep(Duration::from_millis(100));
        let text = self.text();
        summary_count(&text, "score-worker: answered", "requests")
    }

    /// Kills it with SIGKILL, mid-batch perhaps: it commits nothing more.
    fn kill(mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}

/// The embedded pattern's rows for the same input: event id → (score, features).
fn embedded_scores(dir: &Tmp, input: &Path) -> HashMap<String, (f64, [f64; 2])> {
    let model = format!(
        "path = \"{}\"\nname = \"fraud_lr\"\ninputs = [\"events_5m\", \"login_rate_1m\"]\n",
        model_path().display()
    );
    let s = spec(dir, "embedded.toml", &model);
    let out = dir.join("embedded.jsonl");
    run(&s, input, &out);
    rows(&out)
        .into_iter()
        .map(|r| {
            let f = [
                r["features"]["events_5m"].as_f64().unwrap(),
                r["features"]["login_rate_1m"].as_f64().unwrap(),
            ];
            let id = r["event_id"].as_str().unwrap().to_string();
            (id, (r["prediction"]["score"].as_f64().unwrap(), f))
        })
        .collect()
}

/// Every row scored, with the model's exact score: the embedded pattern's for the same row,
/// which is the logistic of its features.
fn check_all_scored(out: &[Value], reference: &HashMap<String, (f64, [f64; 2])>) {
    assert_eq!(out.len(), reference.len(), "every row comes out once");
    let mut seen = std::collections::HashSet::new();
    for r in out {
        let id = r["event_id"].as_str().unwrap();
        assert!(seen.insert(id.to_string()), "{id} twice");
        assert_eq!(r["scored"], true, "{r}");
        let (want, f) = reference[id];
        let got = r["prediction"]["score"].as_f64().unwrap();
        assert_eq!(got, want, "{r}");
        let hand = logistic(f);
        assert!(
            (got - hand).abs() <= 1e-12 * hand.max(1e-300),
            "{got} vs {hand}: {r}"
        );
        assert_eq!(r["prediction"]["model"], "fraud_lr", "{r}");
        assert_eq!(r["prediction"]["label"], i64::from(got >= 0.5), "{r}");
    }
}

fn topics(b: &Broker) {
    b.create_topic("requests", 4);
    b.create_topic("scores", 2);
}

#[test]
fn two_workers_share_the_load_and_every_row_gets_its_exact_score() {
    let Some(b) = Broker::start("topics_two_workers") else {
        return;
    };
    topics(&b);
    let dir = Tmp::new("topics-two");
    let input = generate(&dir, 3000);
    let reference = embedded_scores(&dir, &input);
    let w1 = Worker::start(&b, &[]);
    w1.wait_assigned();
    let w2 = Worker::start(&b, &[]);
    w2.wait_assigned();
    let s = spec(&dir, "topics.toml", &topics_model(&b, "60s"));
    let out_path = dir.join("out.jsonl");
    let out = run(&s, &input, &out_path);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    check_all_scored(&rows(&out_path), &reference);
    let (a1, a2) = (w1.stop(), w2.stop());
    assert!(a1 > 0 && a2 > 0, "both workers answered: {a1} and {a2}");
    // Each answer scored a row once, or was a duplicate the pipeline ignored.
    let dup = if err.contains("scores ignored") {
        summary_count(&err, "scores ignored", "duplicate")
    } else {
        0
    };
    assert_eq!(a1 + a2, reference.len() as u64 + dup, "{err}");
}

#[test]
fn a_worker_killed_mid_run_loses_no_request() {
    let Some(b) = Broker::start("topics_killed_worker") else {
        return;
    };
    topics(&b);
    let dir = Tmp::new("topics-kill");
    let input = generate(&dir, 4000);
    let reference = embedded_scores(&dir, &input);
    let w1 = Worker::start(&b, &["--max-batch", "16"]);
    w1.wait_assigned();
    let w2 = Worker::start(&b, &["--max-batch", "16"]);
    w2.wait_assigned();
    let s = spec(&dir, "topics.toml", &topics_model(&b, "60s"));
    let out_path = dir.join("out.jsonl");
    let mut pipeline = Command::new(EDDY)
        .arg("run")
        .arg(&s)
        .args(["--input", "-", "--output"])
        .arg(&out_path)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read_to_string(&input).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut stdin: ChildStdin = pipeline.stdin.take().unwrap();
    let half = lines.len() / 2;
    for l in &lines[..half] {
        writeln!(stdin, "{l}").unwrap();
    }
    stdin.flush().unwrap();
    // Once rows are being scored, worker 1 dies without a word; a replacement starts, as a
    // supervisor would restart it. (tansu 0.6 evicts the dead member after its session
    // timeout, but gives its partitions to the next member that joins rather than to the
    // workers still there, as Kafka would; so the test brings that member.)
    wait_for_rows(&out_path, 100);
    w1.kill();
    let w3 = Worker::start(&b, &["--max-batch", "16"]);
    for l in &lines[half..] {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    let out = wait_output(pipeline);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let all = rows(&out_path);
    let missing: Vec<usize> = (0..all.len())
        .filter(|&i| all[i]["scored"] != true)
        .collect();
    let unscored = missing.len();
    assert_eq!(
        unscored,
        0,
        "{err}\nworker 2:\n{}\nworker 3:\n{}",
        w2.text(),
        w3.text()
    );
    check_all_scored(&rows(&out_path), &reference);
    // Every request written after worker 1 died was answered by the others (which of them
    // took its partitions is up to the broker's rebalancing and its timing).
    let (a2, a3) = (w2.stop(), w3.stop());
    assert!(
        a2 + a3 >= (lines.len() - half) as u64,
        "worker 2 answered {a2}, worker 3 {a3}, of {} written after the kill",
        lines.len() - half
    );
}

/// Waits until `path` holds at least `n` lines.
fn wait_for_rows(path: &Path, n: usize) {
    let start = Instant::now();
    loop {
        let have = std::fs::read_to_string(path).map_or(0, |t| t.lines().count());
        if have >= n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "only {have} rows"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pipeline's exit and stderr (its stdin already closed: it ends by itself).
fn wait_output(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

/// `eddy validate` checks what `eddy run` checks before any event: the brokers answer and
/// both topics exist.
fn validate_example(b: &Broker, dir: &Tmp) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fraud_topics.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let text = text
        .replace("127.0.0.1:9092", &b.bootstrap())
        .replace("fraud-requests", "requests")
        .replace("fraud-scores", "scores");
    let validate = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        Command::new(EDDY).arg("validate").arg(&p).output().unwrap()
    };
    let ok = validate("ok.toml", &text);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = validate("bad.toml", &text.replace("\"requests\"", "\"nowhere\""));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        err.contains("model.request_topic: topic `nowhere` does not exist"),
        "{err}"
    );
}

#[test]
fn without_workers_every_row_leaves_unscored_and_strange_answers_are_counted() {
    let Some(b) = Broker::start("topics_no_worker") else {
        return;
    };
    topics(&b);
    let dir = Tmp::new("topics-none");
    validate_example(&b, &dir);
    let input = generate(&dir, 400);
    let s = spec(&dir, "topics.toml", &topics_model(&b, "5s"));
    let out_path = dir.join("out.jsonl");
    let mut pipeline = Command::new(EDDY)
        .arg("run")
        .arg(&s)
        .args(["--input", "-", "--output"])
        .arg(&out_path)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read_to_string(&input).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut stdin = pipeline.stdin.take().unwrap();
    for l in &lines[..200] {
        writeln!(stdin, "{l}").unwrap();
    }
    stdin.flush().unwrap();
    // The rows sent so far left unscored at their deadline; answer one of them now (late),
    // and send answers that name no row of this run. They are on the topic before the rest
    // of the rows is sent, and the pipeline reads the topic until the last row leaves, 5 s
    // after it was sent.
    wait_for_rows(&out_path, 200);
    let requests = b.read_all("requests");
    let first: Value = serde_json::from_slice(&requests[0].payload).unwrap();
    let id = first["id"].as_str().unwrap();
    let run = id.split_once('-').unwrap().0;
    let late = format!(r#"{{"id":"{id}","score":0.5,"label":1,"model":"m","version":"1"}}"#);
    let never = format!(r#"{{"id":"{run}-999999999","score":0.5}}"#);
    let foreign = r#"{"id":"0123456789abcdef-1","score":0.5}"#;
    let payloads: [&[u8]; 4] = [
        late.as_bytes(),
        never.as_bytes(),
        foreign.as_bytes(),
        b"not json",
    ];
    let msgs: Vec<Msg> = payloads
        .iter()
        .map(|p| Msg {
            partition: 0,
            key: None,
            payload: p,
        })
        .collect();
    b.produce("scores", &msgs);
    for l in &lines[200..] {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    let started = Instant::now();
    let out = wait_output(pipeline);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let rows = rows(&out_path);
    assert_eq!(rows.len(), 400, "every row out once");
    for r in &rows {
        assert_eq!(r["prediction"], Value::Null, "{r}");
        assert_eq!(r["scored"], false, "{r}");
        assert_eq!(r["unscored"], "deadline", "{r}");
    }
    assert_eq!(
        summary_count(&err, "model fraud_lr", "missed"),
        400,
        "{err}"
    );
    // Every row out within its deadline: the rest of the input was sent at once, so the run
    // ends about one deadline later (the bound is generous).
    assert!(started.elapsed() < Duration::from_secs(60));
    let duplicate = summary_count(&err, "scores ignored", "duplicate");
    let unknown = summary_count(&err, "scores ignored", "unknown");
    let late = summary_count(&err, "late scores", "(arrived");
    assert_eq!((duplicate, unknown, late), (0, 3, 1), "{err}");
}
