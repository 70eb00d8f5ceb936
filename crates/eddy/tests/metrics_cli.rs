//! `eddy run --metrics`: the run's counters in the Prometheus text format, scraped over real
//! HTTP while the run reads a live stdin. Expected values are counted here from the records
//! written, never copied from eddy's output.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStderr, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use eddy_testutil::{http_get, KillOnDrop, Tmp};

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fraud.toml");

/// `GET /metrics`: the content type and every sample (`name{labels}` → value).
fn scrape(addr: &str) -> (String, HashMap<String, f64>) {
    let a = http_get(addr, "/metrics");
    assert_eq!(a.status, 200, "{}", a.body);
    let ctype = a
        .headers
        .iter()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    let samples = a
        .body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name value");
            (name.to_owned(), value.parse().expect("a number"))
        })
        .collect();
    (ctype, samples)
}

/// `eddy run SPEC --input - --output - --metrics 127.0.0.1:0` in `dir`: the child, its
/// stderr after the line that gives the metrics address, that address, and its stdin.
fn run_with_metrics(
    dir: &Tmp,
    spec: &str,
) -> (KillOnDrop, BufReader<ChildStderr>, String, ChildStdin) {
    let child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", spec, "--input", "-", "--output", "-"])
        .args(["--metrics", "127.0.0.1:0"])
        .current_dir(&**dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eddy");
    let mut child = KillOnDrop(child);
    let mut stderr = BufReader::new(child.0.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("stderr line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let stdin = child.0.stdin.take().expect("stdin");
    (child, stderr, addr, stdin)
}

fn event(user: &str, secs: u32, kind: &str) -> String {
    format!(
        "{{\"event_id\":\"e{secs}\",\"user_id\":\"{user}\",\"ts\":\"2024-01-01T00:00:{secs:02}Z\",\"event_type\":\"{kind}\",\"page\":\"/\",\"label\":0}}\n"
    )
}

#[test]
fn counters_are_served_while_the_run_reads_stdin() {
    let tmp = Tmp::new("metrics-live");
    let (mut child, mut stderr, addr, mut stdin) = run_with_metrics(&tmp, SPEC);
    let (ctype, m) = scrape(&addr);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(m["eddy_up"], 1.0);
    assert_eq!(m["eddy_records_read_total"], 0.0);

    // four events of two keys, a blank line and a line that is not JSON
    let input = [
        event("a", 0, "login"),
        event("b", 10, "page_view"),
        "\n".to_string(),
        "{\"user_id\": \"a\", \"ts\"\n".to_string(),
        event("a", 20, "page_view"),
        event("a", 30, "logout"),
    ]
    .concat();
    stdin.write_all(input.as_bytes()).expect("write");
    stdin.flush().expect("flush");
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        let (_, m) = scrape(&addr);
        if m["eddy_records_read_total"] == 5.0
            && m["eddy_output_rows_total{output=\"events\"}"] == 4.0
        {
            break m;
        }
        assert!(Instant::now() < deadline, "the counts never arrived: {m:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(m["eddy_blank_lines_total"], 1.0);
    assert_eq!(m["eddy_events_accepted_total"], 4.0);
    let dead: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("eddy_dead_letters_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(dead, 1.0);
    assert_eq!(m["eddy_dead_letters_total{reason=\"malformed\"}"], 1.0);
    assert_eq!(m["eddy_keys"], 2.0);
    // a run that does not learn shows no learning metrics
    assert!(!m.keys().any(|k| k.starts_with("eddy_learn")), "{m:?}");
    // the latest event is at 00:00:30 and the spec allows 5 s of disorder
    let ts_30s = 1_704_067_230_000.0;
    assert_eq!(
        m["eddy_watermark_ms{partition=\"0\"}"],
        ts_30s - 5_000.0 - 1.0
    );
    assert!(m["eddy_watermark_lag_ms{partition=\"0\"}"] > 0.0);
    assert_eq!(
        m["eddy_batch_seconds_count"],
        m["eddy_batch_seconds_bucket{le=\"+Inf\"}"]
    );
    assert!(m["eddy_batch_seconds_count"] >= 1.0);

    drop(stdin);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("stderr");
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{rest}");
    // the summary reads the same counters
    assert!(rest.contains("5 events read"), "{rest}");
    assert!(rest.contains("dead-lettered:  1"), "{rest}");
}

#[test]
fn a_learning_run_serves_its_learning_metrics() {
    let tmp = Tmp::new("metrics-learn");
    let spec = tmp.join("learn.toml");
    let text = std::fs::read_to_string(SPEC).unwrap()
        + "\n[learn]\nmodel = \"logistic_regression\"\ninputs = [\"events_5m\", \"login_rate_1m\"]\nlabel = \"label\"\n";
    std::fs::write(&spec, text).unwrap();
    let (mut child, _stderr, addr, mut stdin) = run_with_metrics(&tmp, &spec.to_string_lossy());
    // three labelled events: each is scored, then learned
    let input = [
        event("a", 0, "login"),
        event("b", 10, "page_view"),
        event("a", 20, "logout"),
    ]
    .concat();
    stdin.write_all(input.as_bytes()).expect("write");
    stdin.flush().expect("flush");
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        let (_, m) = scrape(&addr);
        if m.get("eddy_learn_examples_total") == Some(&3.0) {
            break m;
        }
        assert!(Instant::now() < deadline, "the counts never arrived: {m:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(m["eddy_learn_pending"], 0.0);
    assert_eq!(m["eddy_learn_model_version"], 1.0);
    // no baseline: the online model serves from the start
    assert_eq!(m["eddy_learn_serving_online"], 1.0);
    assert_eq!(m["eddy_learn_drifts_total"], 0.0);
    drop(stdin);
    let status = child.0.wait().expect("wait");
    assert!(status.success());
}

#[test]
fn an_address_that_cannot_be_bound_is_refused_before_anything_is_written() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    for (flag, what) in [("--metrics", "metrics"), ("--serve-features", "features")] {
        let tmp = Tmp::new("port-taken");
        let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(["run", SPEC, "--input", "-", flag, &addr])
            .current_dir(&*tmp)
            .stdin(Stdio::null())
            .output()
            .expect("run eddy");
        assert_eq!(o.status.code(), Some(1), "{flag}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("cannot serve {what} on {addr}")),
            "{err}"
        );
        // refused before the outputs were opened
        let left: Vec<_> = std::fs::read_dir(&*tmp).expect("ls").collect();
        assert!(left.is_empty(), "{flag}: {left:?}");
    }
}
