//! Kafka end to end, driving the real `eddy` binary against a real broker (tansu, started and
//! stopped by [`eddy_testutil::kafka::Broker`]; skipped with a message where it is not
//! installed, except under `CI=true`).
//!
//! Designed around tansu 0.6's gaps: every topic is created first (no auto-creation), nothing
//! relies on transactions, every wait for a fetch is generous (its first fetch is slow), and
//! nothing trusts its reported end offsets (topics are read to their end-of-partition event).
//! No assertion depends on timing: a fault is injected only once the rows before it are seen,
//! and a live run is stopped only once every row expected is seen.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use eddy_testutil::kafka::{Broker, Msg, Record};
use eddy_testutil::{KillOnDrop, Tmp};

fn eddy() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `eddy generate fraud` into `path`.
fn generate(path: &Path, events: u64, extra: &[&str]) {
    ok(
        eddy()
            .args(["generate", "fraud", "--seed", "7", "--events"])
            .arg(events.to_string())
            .args(extra)
            .arg("--output")
            .arg(path)
            .output()
            .expect("eddy generate"),
        "eddy generate",
    );
}

/// `eddy produce` of `path`'s lines into `topic`, keyed by user.
fn produce_file(b: &Broker, topic: &str, path: &Path) {
    ok(
        eddy()
            .args(["produce", "--brokers", &b.bootstrap(), "--topic", topic])
            .args(["--key", "user_id", "--input"])
            .arg(path)
            .output()
            .expect("eddy produce"),
        "eddy produce",
    );
}

/// examples/fraud.toml with its `[source]` replaced by `source` and its `[output]` by `output`.
fn fraud_spec(source: &str, output: &str) -> String {
    let spec = std::fs::read_to_string(root().join("examples/fraud.toml")).expect("fraud.toml");
    let head = spec.find("[source]").expect("[source]");
    let fields = spec.find("[source.fields]").expect("[source.fields]");
    let out = spec.find("[output]").expect("[output]");
    format!(
        "{}[source]\n{source}\nformat = \"jsonl\"\nkey = \"user_id\"\ntimestamp = \"ts\"\nevent_id = \"event_id\"\n\n{}[output]\n{output}\n",
        &spec[..head],
        &spec[fields..out]
    )
}

fn kafka_source(b: &Broker, topic: &str, extra: &str) -> String {
    format!(
        "type = \"kafka\"\nbrokers = \"{}\"\ntopics = \"{topic}\"\n{extra}",
        b.bootstrap()
    )
}

fn kafka_sink(b: &Broker, topic: &str) -> String {
    format!(
        "{{ type = \"kafka\", brokers = \"{}\", topic = \"{topic}\" }}",
        b.bootstrap()
    )
}

fn run_spec(dir: &Tmp, name: &str, spec: &str) -> Output {
    let p = dir.join(name);
    std::fs::write(&p, spec).expect("write spec");
    eddy()
        .args(["run", "-q"])
        .arg(&p)
        .output()
        .expect("eddy run")
}

fn spawn_spec(dir: &Tmp, name: &str, spec: &str) -> KillOnDrop {
    let p = dir.join(name);
    std::fs::write(&p, spec).expect("write spec");
    KillOnDrop(
        eddy()
            .args(["run", "-q"])
            .arg(&p)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{name}.err"))).expect("stderr file"))
            .spawn()
            .expect("eddy run"),
    )
}

fn lines(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn payloads(rs: &[Record]) -> Vec<String> {
    rs.iter()
        .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
        .collect()
}

/// A JSON row's string member.
fn member(row: &str, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(row).unwrap_or_else(|e| panic!("{e}: {row}"));
    match &v[name] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Waits (generously) until `done` holds, reading `topic` again each time.
fn wait_for(b: &Broker, topic: &str, what: &str, done: impl Fn(&[Record]) -> bool) -> Vec<Record> {
    let start = Instant::now();
    loop {
        let got = b.read_all(topic);
        if done(&got) {
            return got;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{what}: still not there after 180 s ({} messages in {topic})",
            got.len()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// SIGTERM: eddy ends the input where it is, writes and commits, and exits.
fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "eddy did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The harness itself: a topic made, filled and read back in order, per partition; and the
/// broker down and back keeps its topics.
#[test]
fn broker_round_trip() {
    let Some(b) = Broker::start("broker_round_trip") else {
        return;
    };
    b.create_topic("rt", 2);
    let msgs: Vec<Msg> = (0..10)
        .map(|i| Msg {
            partition: i % 2,
            key: Some(b"k"),
            payload: if i % 2 == 0 { b"even" } else { b"odd" },
        })
        .collect();
    b.produce("rt", &msgs);
    let got = b.read_all("rt");
    assert_eq!(got.len(), 10);
    for r in &got {
        let want: &[u8] = if r.partition == 0 { b"even" } else { b"odd" };
        assert_eq!(r.payload, want);
    }
    b.stop();
    b.restart();
    assert_eq!(b.read_all("rt").len(), 10);
}

/// One partition in, the example spec, every output to a topic: each output's messages are,
/// byte for byte and in order, the lines of the same pipeline run file to file. One partition
/// keeps the order of events, so watermarks, late events and window closings are the same
/// too; the one difference is where a late row says it was (`"line":N` for the file, its
/// message's topic, partition and offset N-1 for Kafka). Messages are keyed by the user (the
/// window rows by their `key`), with the event id in a header.
#[test]
fn topic_to_topic_equals_file_to_file() {
    let Some(b) = Broker::start("topic_to_topic") else {
        return;
    };
    let dir = Tmp::new("kafka-equal");
    let input = dir.join("fraud.jsonl");
    generate(
        &input,
        20_000,
        &["--disorder-ms", "2000", "--late-fraction", "0.002"],
    );
    for t in ["in", "events", "windows", "late"] {
        b.create_topic(t, 1);
    }
    produce_file(&b, "in", &input);

    let file_spec = fraud_spec(
        &format!("path = \"{}\"", input.display()),
        &format!(
            "events = \"{}\"\nwindows = \"{}\"\nlate = \"{}\"",
            dir.s("events.jsonl"),
            dir.s("windows.jsonl"),
            dir.s("late.jsonl")
        ),
    );
    ok(run_spec(&dir, "file.toml", &file_spec), "file run");
    let kafka_spec = fraud_spec(
        &kafka_source(&b, "in", "start = \"earliest\"\nend = \"caught_up\""),
        &format!(
            "events = {}\nwindows = {}\nlate = {}",
            kafka_sink(&b, "events"),
            kafka_sink(&b, "windows"),
            kafka_sink(&b, "late")
        ),
    );
    ok(run_spec(&dir, "kafka.toml", &kafka_spec), "kafka run");

    let file_events = lines(&std::fs::read(dir.join("events.jsonl")).unwrap());
    let events = b.read_all("events");
    assert!(file_events.len() > 19_000);
    assert_eq!(payloads(&events), file_events);
    for r in &events {
        let row = String::from_utf8_lossy(&r.payload);
        assert_eq!(r.key.as_deref(), Some(member(&row, "user_id").as_bytes()));
        assert_eq!(
            r.header("eddy.event_id"),
            Some(member(&row, "event_id").as_bytes())
        );
    }
    let windows = b.read_all("windows");
    let file_windows = lines(&std::fs::read(dir.join("windows.jsonl")).unwrap());
    assert!(!file_windows.is_empty());
    assert_eq!(payloads(&windows), file_windows);
    for r in &windows {
        let row = String::from_utf8_lossy(&r.payload);
        assert_eq!(r.key.as_deref(), Some(member(&row, "key").as_bytes()));
    }
    let file_late = lines(&std::fs::read(dir.join("late.jsonl")).unwrap());
    assert!(!file_late.is_empty(), "the data has late events");
    let late = payloads(&b.read_all("late"));
    assert_eq!(late.len(), file_late.len());
    for (k, f) in late.iter().zip(&file_late) {
        let line: u64 = member(f, "line").parse().unwrap();
        let at = format!("\"line\":{line}}}");
        let place = format!("\"topic\":\"in\",\"partition\":0,\"offset\":{}}}", line - 1);
        assert_eq!(k, &f.replace(&at, &place), "late row at line {line}");
    }
}

/// Several partitions (messages keyed by user, so each user's events stay in order): the
/// per-event rows and the window rows are those of the file run, in another order. Without
/// disorder no event is late either way, and a user's features depend only on the user's
/// events before it, which every order keeps; a window's row depends only on its events, all
/// applied before the watermark (the least over the partitions) closes it.
#[test]
fn partitions_give_the_same_rows() {
    let Some(b) = Broker::start("partitions") else {
        return;
    };
    let dir = Tmp::new("kafka-parts");
    let input = dir.join("fraud.jsonl");
    generate(&input, 20_000, &[]);
    b.create_topic("in", 4);
    b.create_topic("events", 3);
    b.create_topic("windows", 2);
    produce_file(&b, "in", &input);
    let by_partition: BTreeMap<i32, usize> =
        b.read_all("in").iter().fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r.partition).or_default() += 1;
            m
        });
    assert!(
        by_partition.len() > 1,
        "the users spread over partitions: {by_partition:?}"
    );

    let file_spec = fraud_spec(
        &format!("path = \"{}\"", input.display()),
        &format!(
            "events = \"{}\"\nwindows = \"{}\"",
            dir.s("events.jsonl"),
            dir.s("windows.jsonl")
        ),
    );
    ok(run_spec(&dir, "file.toml", &file_spec), "file run");
    let kafka_spec = fraud_spec(
        &kafka_source(&b, "in", "start = \"earliest\"\nend = \"caught_up\""),
        &format!(
            "events = {}\nwindows = {}",
            kafka_sink(&b, "events"),
            kafka_sink(&b, "windows")
        ),
    );
    ok(run_spec(&dir, "kafka.toml", &kafka_spec), "kafka run");
    for (topic, file) in [("events", "events.jsonl"), ("windows", "windows.jsonl")] {
        let mut want = lines(&std::fs::read(dir.join(file)).unwrap());
        let mut got = payloads(&b.read_all(topic));
        want.sort();
        got.sort();
        assert_eq!(got.len(), want.len(), "{topic}");
        assert!(got == want, "{topic}: the rows differ");
    }
}

/// A malformed message is a dead letter naming its topic, partition and offset; the run goes
/// on, and the good messages around it come out.
#[test]
fn malformed_message_is_a_dead_letter_with_its_place() {
    let Some(b) = Broker::start("malformed") else {
        return;
    };
    let dir = Tmp::new("kafka-dead");
    b.create_topic("in", 2);
    let good = |i: u32| {
        format!(
            "{{\"event_id\":\"e{i}\",\"user_id\":\"u{}\",\"ts\":\"2024-01-01T00:00:{:02}Z\",\"event_type\":\"view\",\"page\":\"/\",\"amount\":0,\"merchant\":\"\",\"label\":0}}",
            i % 3,
            i
        )
    };
    let rows: Vec<String> = (0..6).map(good).collect();
    let bad = "{\"event_id\":\"e-bad\",\"user_id\":";
    let mut msgs: Vec<Msg> = rows
        .iter()
        .map(|r| Msg {
            partition: 0,
            key: None,
            payload: r.as_bytes(),
        })
        .collect();
    // partition 1: good, good, bad (offset 2), good
    let p1 = [good(10), good(11), bad.to_string(), good(12)];
    msgs.extend(p1.iter().map(|r| Msg {
        partition: 1,
        key: None,
        payload: r.as_bytes(),
    }));
    b.produce("in", &msgs);
    let spec = fraud_spec(
        &kafka_source(&b, "in", "start = \"earliest\"\nend = \"caught_up\""),
        &format!(
            "events = \"{}\"\ndead_letter = \"{}\"",
            dir.s("events.jsonl"),
            dir.s("dead.jsonl")
        ),
    );
    ok(run_spec(&dir, "spec.toml", &spec), "kafka run");
    let dead = lines(&std::fs::read(dir.join("dead.jsonl")).unwrap());
    assert_eq!(dead.len(), 1, "{dead:?}");
    let d: serde_json::Value = serde_json::from_str(&dead[0]).unwrap();
    assert_eq!(d["topic"], "in");
    assert_eq!(d["partition"], 1);
    assert_eq!(d["offset"], 2);
    assert_eq!(d["raw"], bad);
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("topic in partition 1 offset 2"),
        "{reason}"
    );
    assert!(d.get("line").is_none());
    assert_eq!(
        lines(&std::fs::read(dir.join("events.jsonl")).unwrap()).len(),
        9
    );
}

/// `key = "@kafka.key"` and `timestamp = "@kafka.timestamp"`: the message's key and
/// timestamp key and time the events (the payloads have neither), and join the echoed record.
#[test]
fn key_and_time_from_the_message() {
    let Some(b) = Broker::start("message_key") else {
        return;
    };
    let dir = Tmp::new("kafka-msgkey");
    b.create_topic("in", 1);
    let payload =
        |i: u32| format!("{{\"event_id\":\"e{i}\",\"event_type\":\"login\",\"page\":\"/\"}}");
    let sent: Vec<(String, &str, i64)> = [("u1", 0), ("u2", 500), ("u1", 1_000), ("u1", 400_000)]
        .iter()
        .enumerate()
        .map(|(i, &(k, t))| (payload(i as u32), k, 1_704_067_200_000 + t))
        .collect();
    let msgs: Vec<(Msg, Option<i64>)> = sent
        .iter()
        .map(|(p, k, t)| {
            (
                Msg {
                    partition: 0,
                    key: Some(k.as_bytes()),
                    payload: p.as_bytes(),
                },
                Some(*t),
            )
        })
        .collect();
    b.produce_timed("in", &msgs);
    let spec = std::fs::read_to_string(root().join("examples/fraud.toml")).unwrap();
    let fields = spec.find("[source.fields]").unwrap();
    let out = spec.find("[output]").unwrap();
    let spec = format!(
        "[source]\n{}\nformat = \"jsonl\"\nkey = \"@kafka.key\"\ntimestamp = \"@kafka.timestamp\"\ntimestamp_format = \"epoch_ms\"\n\n{}[output]\nevents = \"{}\"\n",
        kafka_source(&b, "in", "start = \"earliest\"\nend = \"caught_up\""),
        &spec[fields..out],
        dir.s("events.jsonl")
    );
    ok(run_spec(&dir, "spec.toml", &spec), "kafka run");
    let rows = lines(&std::fs::read(dir.join("events.jsonl")).unwrap());
    assert_eq!(rows.len(), 4);
    // events in the last 5 minutes of the same user, the event included (by hand)
    let want = [("u1", 1), ("u2", 1), ("u1", 2), ("u1", 1)];
    for (row, (user, n)) in rows.iter().zip(want) {
        let v: serde_json::Value = serde_json::from_str(row).unwrap();
        assert_eq!(v["@kafka.key"], user, "{row}");
        assert_eq!(v["features"]["events_5m"], n, "{row}");
    }
}

/// CSV both ways: CSV messages (no header; `csv_header` names the columns) in, CSV rows out,
/// one message per row without the header line, keyed by the key column; the rows are the
/// file-to-file run's (over the same records with the header line on top), header excepted.
#[test]
fn csv_messages_in_and_out() {
    let Some(b) = Broker::start("csv") else {
        return;
    };
    let dir = Tmp::new("kafka-csv");
    let header = "event_id,user_id,ts,event_type,page,amount,merchant,label";
    let rows: Vec<String> = (0..8)
        .map(|i| {
            format!(
                "e{i},u{},2024-01-01T00:00:{:02}Z,purchase,\"/a,b\",{}.5,shop,0",
                i % 3,
                i * 7,
                i + 1
            )
        })
        .collect();
    std::fs::write(
        dir.join("in.csv"),
        format!("{header}\n{}\n", rows.join("\n")),
    )
    .unwrap();
    b.create_topic("in", 1);
    b.create_topic("events", 1);
    let msgs: Vec<Msg> = rows
        .iter()
        .map(|r| Msg {
            partition: 0,
            key: None,
            payload: r.as_bytes(),
        })
        .collect();
    b.produce("in", &msgs);
    let csv = |spec: String| spec.replace("format = \"jsonl\"", "format = \"csv\"");
    let file_spec = csv(fraud_spec(
        &format!("path = \"{}\"", dir.s("in.csv")),
        &format!("events = \"{}\"\nformat = \"csv\"", dir.s("events.csv")),
    ));
    ok(run_spec(&dir, "file.toml", &file_spec), "file run");
    let kafka_spec = csv(fraud_spec(
        &kafka_source(
            &b,
            "in",
            &format!("start = \"earliest\"\nend = \"caught_up\"\ncsv_header = \"{header}\""),
        ),
        &format!("events = {}\nformat = \"csv\"", kafka_sink(&b, "events")),
    ));
    ok(run_spec(&dir, "kafka.toml", &kafka_spec), "kafka run");
    let file_rows = lines(&std::fs::read(dir.join("events.csv")).unwrap());
    assert!(file_rows[0].starts_with("user_id,ts,"), "{}", file_rows[0]);
    let got = b.read_all("events");
    assert_eq!(payloads(&got), file_rows[1..]);
    for r in &got {
        let row = String::from_utf8_lossy(&r.payload);
        let user = row.split(',').next().unwrap();
        assert_eq!(r.key.as_deref(), Some(user.as_bytes()));
    }
}

/// A delivery that fails after its retries (the broker gone for longer than
/// `delivery_timeout`) stops the run with an error naming the topic: no row is dropped
/// silently.
#[test]
fn a_failed_delivery_stops_the_run() {
    use std::io::Write;
    let Some(b) = Broker::start("delivery") else {
        return;
    };
    let dir = Tmp::new("kafka-delivery");
    let input = dir.join("fraud.jsonl");
    generate(&input, 2_000, &[]);
    let all = lines(&std::fs::read(&input).unwrap());
    b.create_topic("events", 1);
    let spec = fraud_spec(
        "type = \"stdin\"",
        &format!(
            "events = {{ type = \"kafka\", brokers = \"{}\", topic = \"events\", delivery_timeout = \"2s\" }}",
            b.bootstrap()
        ),
    );
    let p = dir.join("spec.toml");
    std::fs::write(&p, spec).unwrap();
    let mut child = KillOnDrop(
        eddy()
            .args(["run", "-q"])
            .arg(&p)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    writeln!(stdin, "{}", all[..1_000].join("\n")).unwrap();
    stdin.flush().unwrap();
    wait_for(&b, "events", "the first rows", |r| r.len() >= 1_000);
    b.stop();
    writeln!(stdin, "{}", all[1_000..].join("\n")).unwrap();
    drop(stdin);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "eddy did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("a delivery to topic events failed after its retries"),
        "{err}"
    );
}

/// No broker at start: with `on_unavailable = "fail"` the run stops with a clear error after
/// `connect_timeout`, before reading anything.
#[test]
fn broker_unavailable_at_start_fails_clearly() {
    let dir = Tmp::new("kafka-down");
    // nobody listens there (the port was free a moment ago)
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = fraud_spec(
        &format!(
            "type = \"kafka\"\nbrokers = \"127.0.0.1:{port}\"\ntopics = \"in\"\nconnect_timeout = \"2s\""
        ),
        &format!("events = \"{}\"", dir.s("events.jsonl")),
    );
    let out = run_spec(&dir, "spec.toml", &spec);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("kafka source at 127.0.0.1:{port}"))
            && err.contains("no broker answered")
            && err.contains("on_unavailable = \"wait\""),
        "{err}"
    );
}

/// With `on_unavailable = "wait"`, a run started while the broker is down waits for it (and
/// says so), then reads everything once it is back.
#[test]
fn broker_unavailable_at_start_is_waited_for() {
    let Some(b) = Broker::start("wait") else {
        return;
    };
    let dir = Tmp::new("kafka-wait");
    let input = dir.join("fraud.jsonl");
    generate(&input, 2_000, &[]);
    b.create_topic("in", 1);
    b.create_topic("events", 1);
    produce_file(&b, "in", &input);
    b.stop();
    let spec = fraud_spec(
        &kafka_source(
            &b,
            "in",
            "start = \"earliest\"\nend = \"caught_up\"\non_unavailable = \"wait\"\nconnect_timeout = \"1s\"",
        ),
        &format!("events = {}", kafka_sink(&b, "events")),
    );
    let mut child = spawn_spec(&dir, "spec.toml", &spec);
    let err_path = dir.join("spec.toml.err");
    let start = Instant::now();
    while !std::fs::read_to_string(&err_path)
        .unwrap_or_default()
        .contains("waiting for a Kafka broker")
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "eddy did not say it waits"
        );
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "eddy stopped instead of waiting"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    b.restart();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "eddy did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&err_path).unwrap()
    );
    assert_eq!(b.read_all("events").len(), 2_000);
}

/// Event ids of per-event rows, with how many times each came out.
fn ids(rs: &[Record]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in rs {
        *m.entry(member(&String::from_utf8_lossy(&r.payload), "event_id"))
            .or_default() += 1;
    }
    m
}

fn input_ids(path: &Path) -> Vec<String> {
    lines(&std::fs::read(path).unwrap())
        .iter()
        .map(|l| member(l, "event_id"))
        .collect()
}

/// The broker goes down in the middle of a live run and comes back: the run goes on, and every
/// event comes out; a duplicate could only come from a retried delivery, and the idempotent
/// producer leaves none (counted, and checked to be zero).
#[test]
fn broker_restarted_mid_run_loses_nothing() {
    let Some(b) = Broker::start("restart") else {
        return;
    };
    let dir = Tmp::new("kafka-restart");
    let first = dir.join("first.jsonl");
    let all = dir.join("all.jsonl");
    generate(&all, 6_000, &[]);
    let all_lines = lines(&std::fs::read(&all).unwrap());
    std::fs::write(&first, all_lines[..3_000].join("\n") + "\n").unwrap();
    let second = dir.join("second.jsonl");
    std::fs::write(&second, all_lines[3_000..].join("\n") + "\n").unwrap();
    b.create_topic("in", 2);
    b.create_topic("events", 2);
    produce_file(&b, "in", &first);
    let spec = fraud_spec(
        &kafka_source(
            &b,
            "in",
            "start = \"earliest\"\ncommit_interval = \"200ms\"",
        ),
        &format!("events = {}", kafka_sink(&b, "events")),
    );
    let mut child = spawn_spec(&dir, "spec.toml", &spec);
    wait_for(&b, "events", "the first half", |r| ids(r).len() >= 3_000);
    b.stop();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "eddy stopped with the broker"
    );
    b.restart();
    produce_file(&b, "in", &second);
    let got = wait_for(&b, "events", "the second half", |r| ids(r).len() >= 6_000);
    terminate(&mut child.0);
    let got_ids = ids(&got);
    let want = input_ids(&all);
    for id in &want {
        assert!(got_ids.contains_key(id), "{id} is missing");
    }
    let duplicates: usize = got_ids.values().map(|n| n - 1).sum();
    eprintln!(
        "broker restart: {} rows, {duplicates} duplicates",
        got.len()
    );
    assert_eq!(duplicates, 0);
}

/// Offsets are committed only once the outputs of their records are written: eddy killed
/// (SIGKILL: no clean end) in the middle of a run leaves committed offsets below which every
/// record's row is already in the output topic; a second run from the committed offsets then
/// brings every row out at least once (the duplicates, counted, are the rows written after the
/// last commit).
#[test]
fn offsets_are_committed_only_after_their_outputs() {
    let Some(b) = Broker::start("commit") else {
        return;
    };
    let dir = Tmp::new("kafka-commit");
    let input = dir.join("fraud.jsonl");
    generate(&input, 30_000, &[]);
    b.create_topic("in", 2);
    b.create_topic("events", 1);
    produce_file(&b, "in", &input);
    let spec = fraud_spec(
        &kafka_source(
            &b,
            "in",
            "group = \"g\"\nstart = \"committed\"\nend = \"caught_up\"\ncommit_interval = \"100ms\"",
        ),
        &format!("events = {}", kafka_sink(&b, "events")),
    );
    let mut child = spawn_spec(&dir, "spec.toml", &spec);
    // some rows out and some offsets committed, then a kill
    let start = Instant::now();
    loop {
        let committed = b.committed("g", "in", 2);
        if committed.iter().any(|c| c.is_some_and(|o| o > 0)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "nothing committed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.0.kill();
    let _ = child.0.wait();
    let committed = b.committed("g", "in", 2);
    let out = ids(&b.read_all("events"));
    let input_msgs = b.read_all("in");
    let mut below = 0;
    for m in &input_msgs {
        let c = committed[m.partition as usize].unwrap_or(0);
        if m.offset < c {
            below += 1;
            let id = member(&String::from_utf8_lossy(&m.payload), "event_id");
            assert!(
                out.contains_key(&id),
                "{id} (partition {} offset {}) is below the committed offset {c} but has no row",
                m.partition,
                m.offset
            );
        }
    }
    assert!(below > 0);
    // the second run resumes from the committed offsets
    ok(run_spec(&dir, "again.toml", &spec), "second run");
    let got = b.read_all("events");
    let got_ids = ids(&got);
    for id in input_ids(&input) {
        assert!(got_ids.contains_key(&id), "{id} is missing");
    }
    let duplicates: usize = got_ids.values().map(|n| n - 1).sum();
    eprintln!(
        "kill and resume: {below} records committed at the kill, {} rows for 30000 events, {duplicates} duplicates",
        got.len()
    );
    assert_eq!(got.len(), 30_000 + duplicates);
    let after = b.committed("g", "in", 2);
    let ends: Vec<i64> = (0..2)
        .map(|p| input_msgs.iter().filter(|m| m.partition == p).count() as i64)
        .collect();
    assert_eq!(after, ends.iter().map(|e| Some(*e)).collect::<Vec<_>>());
}
