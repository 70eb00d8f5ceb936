//! `eddy run --serve-features`: the online store read over real HTTP while a run reads a live
//! stdin. Expected features are worked out by hand from the events written (the example
//! spec's definitions), never copied from eddy's output.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use eddy_testutil::{http_get, KillOnDrop, Tmp};
use serde_json::{json, Value};

/// `GET path`: (status code, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let a = http_get(addr, path);
    (a.status, a.body)
}

/// Asks for `key` until its `events_5m` is `n` (the run applies what stdin gave it a moment
/// later), then returns the whole answer; fails with the last answer after a deadline.
fn features_once_applied(addr: &str, key: &str, n: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(addr, &format!("/features/{key}"));
        if status == 200 {
            let v: Value = serde_json::from_str(&body).expect("JSON body");
            if v["features"]["events_5m"] == json!(n) {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "key {key} never reached {n} events: last answer {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The served answer for `key` with the example spec's five features, in its order.
fn answer(key: &str, events_5m: i64, mean: f64, pages: &[&str], logins: f64, since: i64) -> Value {
    json!({"key": key, "features": {
        "events_5m": events_5m,
        "avg_order_value_1h": mean,
        "last_pages": pages,
        "login_rate_1m": logins,
        "ms_since_last_purchase": since,
    }})
}

/// The `host:port` of the `http://host:port/...` address in a line eddy printed.
fn address_in(line: &str) -> String {
    line.split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned()
}

fn event(id: u32, user: &str, ts: &str, kind: &str, page: &str, amount: Option<f64>) -> String {
    let mut e = json!({
        "event_id": format!("e{id}"), "user_id": user, "ts": ts,
        "event_type": kind, "page": page, "label": 0,
    });
    if let Some(a) = amount {
        e["amount"] = json!(a);
    }
    format!("{e}\n")
}

#[test]
fn latest_features_are_served_while_the_run_reads_stdin() {
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fraud.toml");
    let tmp = Tmp::new("features-http");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", spec, "--input", "-", "--output", "-", "--quiet"])
        .args(["--serve-features", "127.0.0.1:0"])
        // the example's other outputs are files relative to the working directory
        .current_dir(&*tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eddy");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("stderr line");
    let addr = address_in(&line);
    let mut stdin = child.stdin.take().expect("stdin");

    // nothing applied yet
    assert_eq!(get(&addr, "/features/a").0, 404);

    let first = [
        event(1, "a", "2024-01-01T00:00:00Z", "login", "/login", None),
        event(
            2,
            "a",
            "2024-01-01T00:00:10Z",
            "purchase",
            "/checkout",
            Some(10.0),
        ),
        event(3, "b", "2024-01-01T00:00:20Z", "page_view", "/home", None),
        event(
            4,
            "a",
            "2024-01-01T00:00:30Z",
            "purchase",
            "/pay",
            Some(30.0),
        ),
    ];
    stdin.write_all(first.concat().as_bytes()).expect("write");
    stdin.flush().expect("flush");
    // a as of its event at 0:30: 3 events in (0:30 - 5m, 0:30]; purchases 10 and 30; its
    // pages in order; 1 login in the minute [0:00, 1:00); a purchase at 0:30 itself
    assert_eq!(
        features_once_applied(&addr, "a", 3),
        answer("a", 3, 20.0, &["/login", "/checkout", "/pay"], 1.0, 0)
    );
    assert_eq!(get(&addr, "/features/nobody").0, 404);

    let second = event(5, "a", "2024-01-01T00:00:40Z", "login", "/login", None);
    stdin.write_all(second.as_bytes()).expect("write");
    stdin.flush().expect("flush");
    // as of 0:40: one more event, the same purchases, a second login in [0:00, 1:00), and
    // 10 s since the purchase at 0:30
    let pages = ["/login", "/checkout", "/pay", "/login"];
    assert_eq!(
        features_once_applied(&addr, "a", 4),
        answer("a", 4, 20.0, &pages, 2.0, 10_000)
    );
    let (status, body) = get(&addr, "/features/b");
    assert_eq!(status, 200, "{body}");
    let b: Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(b["features"]["events_5m"], json!(1));
    assert_eq!(b["features"]["ms_since_last_purchase"], Value::Null);

    drop(stdin);
    let status = child.wait().expect("wait eddy");
    assert!(status.success(), "eddy failed: {status:?}");
}

#[test]
fn serving_features_is_refused_without_a_spec() {
    let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--serve-features", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .expect("run eddy");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--serve-features needs a SPEC"));
    // a taken port: see metrics_cli.rs, which tries both servers
}

#[test]
fn hold_keeps_serving_the_features_a_file_left() {
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fraud.toml");
    let tmp = Tmp::new("features-hold");
    let events = [
        event(
            1,
            "a",
            "2024-01-01T00:00:00Z",
            "purchase",
            "/pay",
            Some(4.0),
        ),
        event(2, "a", "2024-01-01T00:02:00Z", "login", "/login", None),
        event(
            3,
            "a",
            "2024-01-01T00:07:30Z",
            "purchase",
            "/pay",
            Some(8.0),
        ),
    ];
    std::fs::write(tmp.join("in.jsonl"), events.concat()).expect("write input");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(["run", spec, "--input", "in.jsonl", "--output", "out.jsonl"])
            .args(["--quiet", "--serve-features", "127.0.0.1:0", "--hold"])
            .current_dir(&*tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn eddy"),
    );
    let mut stderr = BufReader::new(child.0.stderr.take().expect("stderr"));
    let mut line = String::new();
    // the address, then the line saying the input is done (the run has ended by then)
    while !line.contains("input done") {
        line.clear();
        let n = stderr.read_line(&mut line).expect("stderr line");
        assert!(n > 0, "eddy ended without holding");
    }
    let addr = address_in(&line);
    // the run has written every output: one per-event row per event
    let out = std::fs::read_to_string(tmp.join("out.jsonl")).expect("events output");
    assert_eq!(out.lines().count(), 3);
    // a as of its event at 7:30: the events in (2:30, 7:30] are only itself; purchases 4 and
    // 8 within the hour (mean 6); one session (gaps under 30 minutes); no login in
    // [7:00, 8:00); the purchase is the event itself
    let (status, body) = get(&addr, "/features/a");
    assert_eq!(status, 200, "{body}");
    let got: Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(
        got,
        answer("a", 1, 6.0, &["/pay", "/login", "/pay"], 0.0, 0)
    );
    assert_eq!(get(&addr, "/features/b").0, 404);
    // still holding: asking again gives the same answer
    assert_eq!(get(&addr, "/features/a"), (200, body));
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "eddy stopped"
    );
    drop(child);

    // --hold means nothing without --serve-features: refused by the argument parser
    let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", spec, "--hold"])
        .current_dir(&*tmp)
        .stdin(Stdio::null())
        .output()
        .expect("run eddy");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--serve-features"));
}
