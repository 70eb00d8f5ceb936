//! Window rows leave as their windows fire, batch by batch, not at the end of the run: over a
//! live stdin that stays open, the rows of windows the watermark has passed are in the
//! windows file before the input ends. Tested with a real child process and a pipe.

use std::io::Write;
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
windows = "windows.jsonl"
"#;

/// The whole rows of the windows file as `(key, start, end, count, update)`, sorted.
fn windows(path: &std::path::Path) -> Vec<(String, i64, i64, i64, bool)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    let mut rows: Vec<_> = whole
        .lines()
        .map(|l| {
            let w: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            (
                w["key"].as_str().unwrap().to_owned(),
                w["window_start"].as_i64().unwrap(),
                w["window_end"].as_i64().unwrap(),
                w["value"].as_i64().unwrap(),
                w["update"].as_bool().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn window_rows_are_written_as_their_windows_fire() {
    let tmp = Tmp::new("streaming-windows");
    std::fs::write(tmp.join("s.toml"), SPEC).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "s.toml", "--input", "-", "-q"])
        .current_dir(&*tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn eddy");
    let mut child = KillOnDrop(child);
    let mut stdin = child.0.stdin.take().expect("stdin");
    // the first minute: 30 events of a and b, one a second (15 each); then one event of a at
    // 2m, which moves the watermark (out-of-orderness 0) to 2m - 1, past the first minute
    let mut input = String::new();
    for i in 0..30u64 {
        let k = ["a", "b"][i as usize % 2];
        input.push_str(&format!("{{\"k\":\"{k}\",\"t\":{}}}\n", i * 1000));
    }
    input.push_str("{\"k\":\"a\",\"t\":120000}\n");
    stdin.write_all(input.as_bytes()).expect("write");
    stdin.flush().expect("flush");
    let first = vec![
        ("a".to_owned(), 0, 60_000, 15, false),
        ("b".to_owned(), 0, 60_000, 15, false),
    ];
    // the first minute's rows come out while the input is still open (a bounded wait: a
    // minute, whatever the machine's load)
    let deadline = Instant::now() + Duration::from_secs(60);
    while windows(&tmp.join("windows.jsonl")) != first {
        let got = windows(&tmp.join("windows.jsonl"));
        assert!(got.len() <= 2, "more rows than fired: {got:?}");
        assert!(
            Instant::now() < deadline,
            "the fired windows were not written before the input ended: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.0.try_wait().expect("wait").is_none(),
        "eddy ended early"
    );
    // the end of the input fires the rest
    drop(stdin);
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "eddy did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success());
    let mut all = first;
    all.insert(1, ("a".to_owned(), 120_000, 180_000, 1, false));
    assert_eq!(windows(&tmp.join("windows.jsonl")), all);
}
