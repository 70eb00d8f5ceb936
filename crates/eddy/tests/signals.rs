//! Ctrl-C and SIGTERM end `eddy run` as if its input ended there: the records read so far are
//! processed, the last windows fire, every output ends with a whole row, the summary is
//! printed and the exit status is the conventional `128 + signal`. Tested with a real child
//! process reading a live stdin and a real signal.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use eddy_testutil::{KillOnDrop, Tmp};
use serde_json::Value;

const SPEC: &str = r#"
[source]
key = "k"
timestamp = "t"
timestamp_format = "epoch_ms"
format = "jsonl"
[[feature]]
name = "n"
agg = "count"
window = { kind = "tumbling", size = "1m" }
[output]
events = "events.jsonl"
windows = "windows.jsonl"
"#;

/// Lines of `path`, each a whole JSON value (a torn last row fails).
fn rows(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "a torn row: {text:?}"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn stops_cleanly_on(signal: &str, status: i32) {
    let tmp = Tmp::new(&format!("signal-{signal}"));
    std::fs::write(tmp.join("s.toml"), SPEC).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "s.toml", "--input", "-"])
        .current_dir(&*tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eddy");
    let mut child = KillOnDrop(child);
    let mut stdin = child.0.stdin.take().expect("stdin");
    // 90 events of keys a and b over 90 s: minutes [0, 1m) and [1m, 2m); the last line is
    // cut short, as a live stream may be when the signal comes
    let mut input = String::new();
    for i in 0..90u64 {
        input.push_str(&format!(
            "{{\"k\":\"{}\",\"t\":{}}}\n",
            ["a", "b"][i as usize % 2],
            i * 1000
        ));
    }
    input.push_str("{\"k\":\"a\",");
    stdin.write_all(input.as_bytes()).expect("write");
    stdin.flush().expect("flush");
    // the rows are out: the run has read everything sent so far
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(tmp.join("events.jsonl")).map_or(0, |t| t.lines().count()) < 90 {
        assert!(Instant::now() < deadline, "the rows never came out");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = child.0.id().to_string();
    let sent = Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    // stdin stays open: the run must not wait for its end
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "eddy did not stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(stdin);
    let mut err = String::new();
    for line in BufReader::new(child.0.stderr.take().expect("stderr")).lines() {
        err.push_str(&line.expect("stderr"));
        err.push('\n');
    }
    assert_eq!(exit.code(), Some(status), "{err}");
    // the summary: 90 events and the cut line (a dead letter: the input ended in it)
    assert!(err.contains("91 events read"), "{err}");
    assert!(err.contains("dead-lettered:  1"), "{err}");
    assert!(err.contains("stopped by signal"), "{err}");
    let events = rows(&tmp.join("events.jsonl"));
    assert_eq!(events.len(), 90);
    // the last windows fired as at the end of the input: 30 + 30 events in the first minute,
    // 15 + 15 in the second
    let mut windows: Vec<(String, i64, i64)> = rows(&tmp.join("windows.jsonl"))
        .iter()
        .map(|w| {
            (
                w["key"].as_str().unwrap().to_owned(),
                w["window_start"].as_i64().unwrap(),
                w["value"].as_i64().unwrap(),
            )
        })
        .collect();
    windows.sort();
    let want = [
        ("a", 0, 30),
        ("a", 60_000, 15),
        ("b", 0, 30),
        ("b", 60_000, 15),
    ]
    .map(|(k, s, v)| (k.to_owned(), s, v));
    assert_eq!(windows, want);
}

#[test]
fn ctrl_c_ends_the_input_where_it_is() {
    stops_cleanly_on("-INT", 130);
}

#[test]
fn sigterm_ends_the_input_where_it_is() {
    stops_cleanly_on("-TERM", 143);
}
