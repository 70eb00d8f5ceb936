//! End-to-end tests of the `eddy` binary. Expected values are computed here, independently
//! of eddy (brute-force scans over the generated input), never copied from eddy's output.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use eddy_testutil::Tmp;
use serde_json::Value;

fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .expect("run eddy")
}

/// `cmd` (eddy, its environment as the caller set it) started with `args` and its standard
/// streams piped.
fn spawn_piped(mut cmd: Command, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Child {
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eddy")
}

/// The arguments of `eddy run SPEC` from stdin to stdout.
fn run_stdio_args(spec: &Path) -> [&OsStr; 6] {
    let arg = OsStr::new;
    let spec = spec.as_os_str();
    [
        arg("run"),
        spec,
        arg("--input"),
        arg("-"),
        arg("--output"),
        arg("-"),
    ]
}

fn eddy_stdin(args: impl IntoIterator<Item = impl AsRef<OsStr>>, input: &[u8]) -> Output {
    let mut child = spawn_piped(Command::new(env!("CARGO_BIN_EXE_eddy")), args);
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait eddy")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "eddy failed: {:?}\nstderr:\n{}",
        o.status,
        text(&o.stderr)
    );
}

fn json_lines(path: &Path) -> Vec<Value> {
    let t = std::fs::read_to_string(path).unwrap_or_default();
    t.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Independent RFC 3339 (`YYYY-MM-DDTHH:MM:SS.mmmZ`) → epoch ms.
fn ts_ms(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().expect("digits");
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400_000 + n(11, 13) * 3_600_000 + n(14, 16) * 60_000 + n(17, 19) * 1000 + n(20, 23)
}

/// Independent epoch ms → RFC 3339 (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
fn rfc3339(ms: i64) -> String {
    let (days, ms) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[test]
fn rfc3339_helper_is_right() {
    assert_eq!(ts_ms("1970-01-01T00:00:00.000Z"), 0);
    assert_eq!(ts_ms("2024-01-01T00:00:00.000Z"), 1_704_067_200_000);
    assert_eq!(ts_ms("2024-03-01T12:34:56.789Z"), 1_709_296_496_789);
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339(1_709_296_496_789), "2024-03-01T12:34:56.789Z");
    assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    for ms in (0..200).map(|i| i * 7_777_777_777 + 123) {
        assert_eq!(ts_ms(&rfc3339(ms)), ms);
    }
}

#[test]
fn generate_is_deterministic() {
    for scenario in ["fraud", "clicks"] {
        let args = [
            "generate",
            scenario,
            "--events",
            "2000",
            "--seed",
            "9",
            "--keys",
            "50",
            "--disorder-ms",
            "500",
            "--late-fraction",
            "0.01",
            "--drift-at",
            "1000",
        ];
        let a = eddy(&args);
        let b = eddy(&args);
        ok(&a);
        assert_eq!(a.stdout, b.stdout, "{scenario}: same seed, different bytes");
        let mut other = args;
        other[4] = "10";
        let c = eddy(&other);
        assert_ne!(
            a.stdout, c.stdout,
            "{scenario}: different seeds, same bytes"
        );
        let lines: Vec<Value> = text(&a.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 2000);
        let users: std::collections::HashSet<&str> = lines
            .iter()
            .map(|v| v["user_id"].as_str().unwrap())
            .collect();
        assert!(users.len() <= 50 && users.len() > 10, "{}", users.len());
        for v in &lines {
            for f in ["event_id", "user_id", "ts", "event_type", "page", "label"] {
                assert!(!v[f].is_null(), "{scenario}: missing {f} in {v}");
            }
        }
    }
    // --output writes the same bytes as stdout.
    let tmp = Tmp::new("gen");
    let args = ["generate", "fraud", "--events", "300", "--seed", "4"];
    let to_stdout = eddy(&args);
    let mut with_file = args.to_vec();
    let out = tmp.s("g.jsonl");
    with_file.extend(["--output", &out]);
    ok(&eddy(&with_file));
    assert_eq!(
        std::fs::read(tmp.join("g.jsonl")).unwrap(),
        to_stdout.stdout
    );
}

#[test]
fn generate_disorder_is_bounded_and_late_fraction_is_late() {
    let o = eddy(&[
        "generate",
        "fraud",
        "--events",
        "20000",
        "--seed",
        "5",
        "--disorder-ms",
        "700",
        "--late-fraction",
        "0.02",
    ]);
    ok(&o);
    let mut max_seen = i64::MIN;
    let (mut within, mut beyond, mut total) = (0, 0, 0);
    for l in text(&o.stdout).lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        let ts = ts_ms(v["ts"].as_str().unwrap());
        if max_seen != i64::MIN {
            let behind = max_seen - ts;
            if behind > 700 {
                beyond += 1;
                // Late events are 10 to 20 minutes behind (plus disorder).
                assert!(behind >= 600_000 - 700 - 20_000, "behind {behind}");
            } else {
                within += 1;
            }
        }
        max_seen = max_seen.max(ts);
        total += 1;
    }
    assert_eq!(total, 20_000);
    let frac = beyond as f64 / total as f64;
    assert!((0.01..0.03).contains(&frac), "late fraction {frac}");
    assert!(within > 19_000);
}

#[test]
fn generate_fraud_drift_changes_the_pattern() {
    let o = eddy(&[
        "generate",
        "fraud",
        "--events",
        "40000",
        "--seed",
        "8",
        "--drift-at",
        "20000",
    ]);
    ok(&o);
    let (mut risky_before, mut gift_before, mut risky_after, mut gift_after) = (0, 0, 0, 0);
    for (i, l) in text(&o.stdout).lines().enumerate() {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["label"] != 1 || v["event_type"] != "purchase" {
            continue;
        }
        let m = v["merchant"].as_str().unwrap();
        let gift = m.contains("gift") || m.contains("prepaid");
        match (i < 20_000, gift) {
            (true, true) => gift_before += 1,
            (true, false) => risky_before += 1,
            (false, true) => gift_after += 1,
            (false, false) => risky_after += 1,
        }
    }
    assert!(
        risky_before > 10 && gift_before == 0,
        "{risky_before} {gift_before}"
    );
    // A few bursts that started before the drift finish after it.
    assert!(
        gift_after > 100 && risky_after < 40,
        "{gift_after} {risky_after}"
    );
}

#[test]
fn validate_exit_codes() {
    for spec in [
        "fraud.toml",
        "clicks.toml",
        "fraud_embedded.toml",
        "fraud_external.toml",
        "fraud_side_output.toml",
        "fraud_kafka.toml",
    ] {
        let p = examples().join(spec);
        let o = eddy(&["validate", &p.to_string_lossy()]);
        ok(&o);
        assert!(text(&o.stdout).starts_with("OK"), "{}", text(&o.stdout));
    }
    let tmp = Tmp::new("validate");
    let bad = tmp.join("bad.toml");
    std::fs::write(
        &bad,
        r#"
late_policy = "sometimes"
[source]
format = "jsonl"
key = "user_id"
timestamp = "ts"
colour = "blue"
[source.fields]
amount = "float"
[[feature]]
name = "a"
agg = "count"
window = { kind = "sliding", size = "5m", slide = "10m" }
[[feature]]
name = "a"
agg = "mean"
field = "nope"
window = { kind = "tumbling", size = "0s" }
"#,
    )
    .unwrap();
    let o = eddy(&["validate", &bad.to_string_lossy()]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    for needle in [
        "late_policy: unknown value `sometimes`",
        "source.colour: unknown key",
        "feature[0].window.slide: slide (10m) is larger than size (5m)",
        "feature[1].name: duplicate feature name `a`",
        "feature[1].field: unknown field `nope`",
        "feature[1].window.size",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    let missing = eddy(&["validate", &tmp.s("nope.toml")]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("cannot read spec"));
}

#[test]
fn bad_spec_is_refused_before_any_event_is_read() {
    let tmp = Tmp::new("refuse");
    let spec = tmp.join("bad.toml");
    std::fs::write(
        &spec,
        "[source]\nformat = \"jsonl\"\nkey = \"k\"\ntimestamp = \"ts\"\n[[feature]]\nname = \"c\"\nagg = \"count\"\nwindow = { kind = \"tumbling\", size = \"-1m\" }\n",
    )
    .unwrap();
    // The input does not exist: the spec error must come first.
    let o = eddy(&[
        "run",
        &spec.to_string_lossy(),
        "--input",
        &tmp.s("missing.jsonl"),
    ]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("feature[0].window.size"), "{err}");
    assert!(!err.contains("missing.jsonl"), "{err}");
}

/// The example spec with its input and outputs moved into `tmp`.
fn example_spec_in(tmp: &Tmp, input: &str) -> PathBuf {
    let spec = std::fs::read_to_string(examples().join("fraud.toml")).unwrap();
    let spec = spec
        .replace(
            "path = \"fraud.jsonl\"",
            &format!("path = {:?}", tmp.s(input)),
        )
        .replace(
            "events = \"-\"",
            &format!("events = {:?}", tmp.s("events.jsonl")),
        )
        .replace(
            "\"fraud-windows.jsonl\"",
            &format!("{:?}", tmp.s("windows.jsonl")),
        )
        .replace(
            "\"fraud-late.jsonl\"",
            &format!("{:?}", tmp.s("late.jsonl")),
        )
        .replace(
            "\"fraud-dead.jsonl\"",
            &format!("{:?}", tmp.s("dead.jsonl")),
        );
    let p = tmp.join("fraud.toml");
    std::fs::write(&p, spec).unwrap();
    p
}

#[test]
fn run_example_spec_matches_brute_force() {
    let tmp = Tmp::new("example");
    let gen = eddy(&[
        "generate",
        "fraud",
        "--events",
        "6000",
        "--seed",
        "21",
        "--keys",
        "40",
        "--late-fraction",
        "0.01",
        "--output",
        &tmp.s("gen.jsonl"),
    ]);
    ok(&gen);
    // The generated events are 20 ms apart on average: two minutes in all, inside every
    // window of the spec. Stretched in time (keeping their order), they span hours: events
    // leave the 5-minute and 1-hour windows, and every 15 s of the original comes a quiet
    // time: 40 minutes (every session ends), 20 (none does) or 28 (a key's session ends if
    // its events on either side are more than 2 minutes from the quiet time).
    let start = 1_704_067_200_000; // the generator's first event, 2024-01-01
    let quiet = |k: i64| match k {
        ..=0 => k * 2_400_000,
        _ => (1..=k)
            .map(|j| [2_400_000, 1_200_000, 1_680_000][j as usize % 3])
            .sum(),
    };
    let stretch = |t: i64| start + (t - start) * 100 + quiet((t - start).div_euclid(15_000));
    let generated = std::fs::read_to_string(tmp.join("gen.jsonl")).unwrap();
    let stretched: String = generated
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let ts = v["ts"].as_str().unwrap();
            format!("{}\n", l.replace(ts, &rfc3339(stretch(ts_ms(ts)))))
        })
        .collect();
    std::fs::write(tmp.join("in.jsonl"), stretched).unwrap();
    let spec = example_spec_in(&tmp, "in.jsonl");
    let o = eddy(&["run", &spec.to_string_lossy()]);
    ok(&o);
    let input: Vec<Value> = json_lines(&tmp.join("in.jsonl"));
    let events = json_lines(&tmp.join("events.jsonl"));
    let windows = json_lines(&tmp.join("windows.jsonl"));
    let late = json_lines(&tmp.join("late.jsonl"));
    assert!(json_lines(&tmp.join("dead.jsonl")).is_empty());

    // Which events are late: ts + allowed_lateness (60 s) <= watermark, where the watermark
    // after the events before it is max_ts - max_out_of_orderness (5 s) - 1.
    let mut max_ts = i64::MIN;
    let mut accepted: Vec<&Value> = Vec::new();
    let mut expected_late = 0;
    for v in &input {
        let ts = ts_ms(v["ts"].as_str().unwrap());
        let wm = if max_ts == i64::MIN {
            i64::MIN
        } else {
            max_ts - 5_000 - 1
        };
        if wm != i64::MIN && ts + 60_000 <= wm {
            expected_late += 1;
        } else {
            accepted.push(v);
        }
        max_ts = max_ts.max(ts);
    }
    assert!(expected_late > 20, "the input should have late events");
    assert_eq!(late.len(), expected_late);
    assert!(late
        .iter()
        .all(|l| l["reason"].as_str().unwrap().starts_with("late")));
    assert_eq!(events.len(), accepted.len());
    let err = text(&o.stderr);
    assert!(err.contains("events read"), "{err}");

    // Per event, every feature of the spec, brute force over the accepted events of the same
    // key so far (`hist`, the event itself last; accepted events come in time order, checked
    // below, so "so far" is also "at or before t"):
    // - events_5m: events with ts in (t - 5m, t];
    // - avg_order_value_1h: mean amount of the purchases with ts in (t - 1h, t] (null if none);
    // - last_pages: the last 10 pages of the event's session (events no more than 30 min
    //   apart: their `[ts, ts + gap)` windows overlap or touch);
    // - login_rate_1m: logins in the event's tumbling minute, per minute;
    // - ms_since_last_purchase: t - the last purchase's ts (null if none).
    let mut by_key: HashMap<&str, Vec<(i64, &Value)>> = HashMap::new();
    let (mut some_mean, mut some_recency, mut long_pages, mut some_logins) = (0, 0, 0, 0);
    let (mut left_5m, mut left_1h, mut new_sessions) = (0, 0, 0);
    for (row, src) in events.iter().zip(&accepted) {
        assert_eq!(row["event_id"], src["event_id"]);
        assert_eq!(row["page"], src["page"]);
        let key = src["user_id"].as_str().unwrap();
        let ts = ts_ms(src["ts"].as_str().unwrap());
        let hist = by_key.entry(key).or_default();
        if let Some(&(prev, _)) = hist.last() {
            assert!(prev <= ts, "accepted events out of time order: {src}");
        }
        hist.push((ts, src));
        let in_last = |size: i64| hist.iter().filter(move |(t, _)| *t > ts - size);
        let is = |v: &Value, kind: &str| v["event_type"] == kind;
        let f = &row["features"];
        assert_eq!(f.as_object().unwrap().len(), 5, "{row}");

        let expected = in_last(300_000).count();
        left_5m += usize::from(expected < hist.len());
        left_1h += usize::from(in_last(3_600_000).count() < hist.len());
        assert_eq!(
            f["events_5m"].as_i64(),
            Some(expected as i64),
            "events_5m of {row}"
        );

        let amounts: Vec<f64> = in_last(3_600_000)
            .filter(|(_, v)| is(v, "purchase"))
            .map(|(_, v)| v["amount"].as_f64().unwrap())
            .collect();
        let got = &f["avg_order_value_1h"];
        if amounts.is_empty() {
            assert!(got.is_null(), "avg_order_value_1h of {row}");
        } else {
            some_mean += 1;
            let mean = amounts.iter().sum::<f64>() / amounts.len() as f64;
            let got = got
                .as_f64()
                .unwrap_or_else(|| panic!("avg_order_value_1h of {row}"));
            assert!(
                (got - mean).abs() <= 1e-9 * mean.abs().max(1.0),
                "avg_order_value_1h of {row}: expected {mean}"
            );
        }

        let mut session = hist.len() - 1;
        while session > 0 && hist[session].0 - hist[session - 1].0 <= 1_800_000 {
            session -= 1;
        }
        new_sessions += usize::from(session > 0);
        let pages: Vec<&Value> = hist[session..].iter().map(|(_, v)| &v["page"]).collect();
        let pages = &pages[pages.len().saturating_sub(10)..];
        long_pages += usize::from(pages.len() == 10);
        let got: Vec<&Value> = f["last_pages"]
            .as_array()
            .unwrap_or_else(|| panic!("last_pages of {row}"))
            .iter()
            .collect();
        assert_eq!(got, pages, "last_pages of {row}");

        let minute = ts - ts.rem_euclid(60_000);
        let logins = (hist.iter())
            .filter(|(t, v)| *t >= minute && is(v, "login"))
            .count();
        some_logins += usize::from(logins > 0);
        assert_eq!(
            f["login_rate_1m"].as_f64(),
            Some(logins as f64),
            "login_rate_1m of {row}"
        );

        let last_purchase = hist.iter().rev().find(|(_, v)| is(v, "purchase"));
        match last_purchase {
            Some((t, _)) => {
                some_recency += 1;
                assert_eq!(
                    f["ms_since_last_purchase"].as_i64(),
                    Some(ts - t),
                    "ms_since_last_purchase of {row}"
                );
            }
            None => assert!(f["ms_since_last_purchase"].is_null(), "{row}"),
        }
    }
    // Each check saw both cases (null and a value, short and full lists, events in and out
    // of the windows).
    let n = events.len();
    for (what, k) in [
        ("means", some_mean),
        ("recencies", some_recency),
        ("full last_pages", long_pages),
        ("login minutes", some_logins),
        ("events out of the 5-minute window", left_5m),
        ("events out of the 1-hour window", left_1h),
        ("events after a session", new_sessions),
    ] {
        assert!(k > n / 20 && k < n, "{what}: {k} of {n}");
    }

    // Window rows of login_rate_1m (tumbling 1 minute, per minute) = brute-force count of
    // accepted login events per key and minute.
    let mut logins: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for v in &accepted {
        if v["event_type"] == "login" {
            let ts = ts_ms(v["ts"].as_str().unwrap());
            let start = ts - ts.rem_euclid(60_000);
            *logins
                .entry((v["user_id"].as_str().unwrap().to_string(), start))
                .or_default() += 1;
        }
    }
    let mut got: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for w in windows.iter().filter(|w| w["feature"] == "login_rate_1m") {
        assert_eq!(w["update"], false);
        let start = w["window_start"].as_i64().unwrap();
        assert_eq!(w["window_end"].as_i64().unwrap(), start + 60_000);
        let value = w["value"].as_f64().unwrap();
        if value != 0.0 {
            let prev = got.insert(
                (w["key"].as_str().unwrap().to_string(), start),
                value as i64,
            );
            assert!(prev.is_none(), "window fired twice: {w}");
        }
    }
    assert!(!logins.is_empty());
    assert_eq!(got, logins);
    for f in ["events_5m", "avg_order_value_1h", "last_pages"] {
        assert!(
            windows.iter().any(|w| w["feature"] == f),
            "no window rows for {f}"
        );
    }
}

fn tumbling_spec(tmp: &Tmp, format: &str, input: &str, ooo: &str) -> PathBuf {
    let p = tmp.join(format!("tumbling-{format}.toml"));
    std::fs::write(
        &p,
        format!(
            r#"
[source]
path = {input:?}
format = "{format}"
key = "user_id"
timestamp = "ts"
[source.fields]
event_type = "string"
amount = "float"
[watermark]
max_out_of_orderness = "{ooo}"
[[feature]]
name = "count_1m"
agg = "count"
window = {{ kind = "tumbling", size = "1m" }}
[[feature]]
name = "spend_2m"
agg = "sum"
field = "amount"
window = {{ kind = "tumbling", size = "2m", offset = "30s" }}
[output]
events = {events:?}
windows = {windows:?}
dead_letter = {dead:?}
"#,
            input = tmp.s(input),
            events = tmp.s(&format!("events-{format}.jsonl")),
            windows = tmp.s(&format!("windows-{format}.jsonl")),
            dead = tmp.s(&format!("dead-{format}.jsonl")),
        ),
    )
    .unwrap();
    p
}

#[test]
fn run_disordered_tumbling_counts_every_event_once() {
    let tmp = Tmp::new("tumbling");
    ok(&eddy(&[
        "generate",
        "fraud",
        "--events",
        "5000",
        "--seed",
        "33",
        "--keys",
        "25",
        "--disorder-ms",
        "3000",
        "--output",
        &tmp.s("in.jsonl"),
    ]));
    let spec = tumbling_spec(&tmp, "jsonl", "in.jsonl", "3s");
    ok(&eddy(&["run", &spec.to_string_lossy()]));
    let input = json_lines(&tmp.join("in.jsonl"));
    let mut counts: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut spend: BTreeMap<(String, i64), f64> = BTreeMap::new();
    for v in &input {
        let ts = ts_ms(v["ts"].as_str().unwrap());
        let key = v["user_id"].as_str().unwrap().to_string();
        *counts
            .entry((key.clone(), ts - ts.rem_euclid(60_000)))
            .or_default() += 1;
        let s = ts - (ts - 30_000).rem_euclid(120_000);
        *spend.entry((key, s)).or_default() += v["amount"].as_f64().unwrap_or(0.0);
    }
    let windows = json_lines(&tmp.join("windows-jsonl.jsonl"));
    let mut got: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut got_spend: BTreeMap<(String, i64), f64> = BTreeMap::new();
    for w in &windows {
        let key = (
            w["key"].as_str().unwrap().to_string(),
            w["window_start"].as_i64().unwrap(),
        );
        if w["feature"] == "count_1m" {
            assert!(got.insert(key, w["value"].as_i64().unwrap()).is_none());
        } else {
            assert_eq!(w["window_end"].as_i64().unwrap() - key.1, 120_000);
            got_spend.insert(key, w["value"].as_f64().unwrap_or(0.0));
        }
    }
    assert_eq!(got, counts);
    assert_eq!(got.values().sum::<i64>(), input.len() as i64);
    // Sums: compare the windows with any spending (a window whose events all lack
    // `amount` may be reported as 0 or null, or not at all).
    spend.retain(|_, v| *v != 0.0);
    got_spend.retain(|_, v| *v != 0.0);
    assert_eq!(
        got_spend.keys().collect::<Vec<_>>(),
        spend.keys().collect::<Vec<_>>()
    );
    for (k, v) in &spend {
        let g = got_spend[k];
        assert!((g - v).abs() < 1e-6 * v.abs().max(1.0), "{k:?}: {g} vs {v}");
    }
    assert_eq!(
        json_lines(&tmp.join("events-jsonl.jsonl")).len(),
        input.len()
    );
}

#[test]
fn run_writes_dead_letters_and_goes_on() {
    let tmp = Tmp::new("dead");
    let lines = [
        r#"{"user_id":"a","ts":"2024-01-01T00:00:00.000Z","event_type":"login","amount":1.5}"#,
        r#"{"user_id":"a","ts":"2024-01-01T00:00:01.000Z""#,
        r#"{"ts":"2024-01-01T00:00:02.000Z","event_type":"login"}"#,
        r#"{"user_id":"a","event_type":"login"}"#,
        r#"{"user_id":"a","ts":"2024-01-01T00:00:03.000Z","amount":"lots"}"#,
        r#"{"user_id":"a","ts":"2024-01-01T00:00:04.000Z","amount":NaN}"#,
        r#"{"user_id":"a","ts":"2024-01-01T00:00:05.000Z","amount":1e400}"#,
        r#"{"user_id":"a","ts":"1969-12-31T23:59:59.000Z"}"#,
        r#"{"user_id":"a","ts":"10000-01-01T00:00:00.000Z"}"#,
        "",
        r#"{"user_id":"b","ts":"2024-01-01T00:00:06.000Z","event_type":"login","amount":2}"#,
    ];
    std::fs::write(tmp.join("in.jsonl"), lines.join("\n")).unwrap();
    let spec = tumbling_spec(&tmp, "jsonl", "in.jsonl", "1s");
    let o = eddy(&["run", &spec.to_string_lossy()]);
    ok(&o);
    let dead = json_lines(&tmp.join("dead-jsonl.jsonl"));
    let expect: [(i64, &str); 8] = [
        (2, "malformed JSON"),
        (3, "field `user_id`: missing key"),
        (4, "field `ts`: missing timestamp"),
        (5, "field `amount`"),
        (6, "field `amount`"),
        (7, "field `amount`"),
        (8, "field `ts`"),
        (9, "field `ts`"),
    ];
    assert_eq!(dead.len(), expect.len(), "{dead:?}");
    for (d, (line, needle)) in dead.iter().zip(expect) {
        assert_eq!(d["line"], line, "{d}");
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.starts_with(&format!("line {line}")), "{reason}");
        assert!(reason.contains(needle), "`{reason}` lacks `{needle}`");
        assert_eq!(d["raw"].as_str().unwrap(), lines[line as usize - 1]);
    }
    let events = json_lines(&tmp.join("events-jsonl.jsonl"));
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["user_id"], "b");
    assert_eq!(events[1]["features"]["count_1m"], 1);
    let err = text(&o.stderr);
    assert!(err.contains("dead-lettered:  8"), "{err}");
}

#[test]
fn run_refuses_to_overwrite_its_input() {
    let tmp = Tmp::new("overwrite");
    let line = "{\"user_id\":\"a\",\"ts\":\"2024-01-01T00:00:00.000Z\"}\n";
    std::fs::write(tmp.join("in.jsonl"), line).unwrap();
    let spec = tumbling_spec(&tmp, "jsonl", "in.jsonl", "1s");
    let o = eddy(&[
        "run",
        &spec.to_string_lossy(),
        "--output",
        &tmp.s("in.jsonl"),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("output.events"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(tmp.join("in.jsonl")).unwrap(), line);
}

#[test]
fn run_skips_a_leading_byte_order_mark() {
    let tmp = Tmp::new("bom");
    let jsonl = "\u{feff}{\"user_id\":\"a\",\"ts\":\"2024-01-01T00:00:00.000Z\"}\n\
                 {\"user_id\":\"a\",\"ts\":\"2024-01-01T00:00:10.000Z\"}\n";
    std::fs::write(tmp.join("in.jsonl"), jsonl).unwrap();
    let csv = "\u{feff}user_id,ts\nb,2024-01-01T00:00:00.000Z\n";
    std::fs::write(tmp.join("in.csv"), csv).unwrap();
    for (format, input, key, events) in [("jsonl", "in.jsonl", "a", 2), ("csv", "in.csv", "b", 1)] {
        let spec = tumbling_spec(&tmp, format, input, "0s");
        ok(&eddy(&["run", &spec.to_string_lossy()]));
        let dead = json_lines(&tmp.join(format!("dead-{format}.jsonl")));
        assert!(dead.is_empty(), "{format}: {dead:?}");
        let out = json_lines(&tmp.join(format!("events-{format}.jsonl")));
        assert_eq!(out.len(), events, "{format}");
        assert_eq!(out[0]["user_id"], key, "{format}");
        assert_eq!(out[events - 1]["features"]["count_1m"], events, "{format}");
    }
}

/// An OS error is printed once (it used to be printed in the message and again as its
/// cause).
#[test]
fn run_missing_input_names_the_os_error_once() {
    let tmp = Tmp::new("missing");
    let spec = tumbling_spec(&tmp, "jsonl", "not-there.jsonl", "1s");
    let o = eddy(&["run", &spec.to_string_lossy()]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("not-there.jsonl"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn run_empty_input_file() {
    let tmp = Tmp::new("empty");
    std::fs::write(tmp.join("in.jsonl"), "").unwrap();
    let spec = tumbling_spec(&tmp, "jsonl", "in.jsonl", "1s");
    let o = eddy(&["run", &spec.to_string_lossy()]);
    ok(&o);
    let err = text(&o.stderr);
    assert!(err.contains("is empty"), "{err}");
    assert!(err.contains("0 events read"), "{err}");
    assert_eq!(std::fs::read(tmp.join("events-jsonl.jsonl")).unwrap(), b"");
    assert_eq!(std::fs::read(tmp.join("windows-jsonl.jsonl")).unwrap(), b"");
}

#[test]
fn run_csv_input() {
    let tmp = Tmp::new("csv");
    let csv = "\
user_id,ts,event_type,amount,note
alice,2024-01-01T00:00:10.000Z,purchase,10.5,\"hello, world\"
bob,2024-01-01T00:00:20.000Z,login,,
alice,2024-01-01T00:00:50.000Z,purchase,4.5,
alice,2024-01-01T00:01:10.000Z,purchase,not-a-number,
alice,2024-01-01T00:01:15.000Z,purchase,1,x
";
    std::fs::write(tmp.join("in.csv"), csv).unwrap();
    let spec = tumbling_spec(&tmp, "csv", "in.csv", "0s");
    ok(&eddy(&["run", &spec.to_string_lossy()]));
    let events = json_lines(&tmp.join("events-csv.jsonl"));
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["user_id"], "alice");
    assert_eq!(events[0]["amount"], 10.5);
    assert_eq!(events[0]["ts"], "2024-01-01T00:00:10.000Z");
    assert_eq!(events[1]["amount"], Value::Null);
    let counts: Vec<i64> = events
        .iter()
        .map(|e| e["features"]["count_1m"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [1, 1, 2, 1]);
    let dead = json_lines(&tmp.join("dead-csv.jsonl"));
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["line"], 5);
    assert!(dead[0]["reason"]
        .as_str()
        .unwrap()
        .contains("field `amount`"));
    let windows = json_lines(&tmp.join("windows-csv.jsonl"));
    let alice_first: Vec<&Value> = windows
        .iter()
        .filter(|w| w["key"] == "alice" && w["feature"] == "count_1m")
        .collect();
    assert_eq!(alice_first.len(), 2);
    assert_eq!(alice_first[0]["window_start"], 1_704_067_200_000i64);
    assert_eq!(alice_first[0]["value"], 2);
}

#[test]
fn run_reads_stdin_and_writes_csv() {
    let tmp = Tmp::new("stdin");
    let spec = tumbling_spec(&tmp, "jsonl", "unused.jsonl", "0s");
    let text_spec = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("[output]", "[output]\nformat = \"csv\"");
    std::fs::write(&spec, text_spec).unwrap();
    let input = "{\"user_id\":\"a\",\"ts\":\"2024-01-01T00:00:00.000Z\",\"amount\":2}\n{\"user_id\":\"a\",\"ts\":\"2024-01-01T00:00:30.000Z\",\"amount\":3}\n";
    let o = eddy_stdin(run_stdio_args(&spec), input.as_bytes());
    ok(&o);
    let out = text(&o.stdout);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows[0], "user_id,ts,event_type,amount,count_1m,spend_2m");
    assert_eq!(rows[1], "a,1704067200000,,2.0,1,2.0");
    // spend_2m: 2-minute windows offset by 30 s, so 00:00:30 opens a new window.
    assert_eq!(rows[2], "a,1704067230000,,3.0,2,3.0");
    assert_eq!(rows.len(), 3);
}

/// Where the kernel gives huge pages on request, eddy re-executes itself with glibc's
/// huge-page tunable (same process, same arguments, same stdin and stdout); with
/// `EDDY_HUGE_PAGES` set it does not. Read from the running process's environment while
/// it waits on stdin.
#[test]
fn run_asks_for_huge_pages_and_keeps_its_stdin() {
    let madvise = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|m| m.contains("[madvise]"));
    let tmp = Tmp::new("hugepages");
    let spec = tumbling_spec(&tmp, "jsonl", "unused.jsonl", "0s");
    for opt_out in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
        cmd.env_remove("GLIBC_TUNABLES")
            .env_remove("EDDY_HUGE_PAGES");
        if opt_out {
            cmd.env("EDDY_HUGE_PAGES", "0");
        }
        let mut child = spawn_piped(cmd, run_stdio_args(&spec));
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"{\"user_id\":\"a\",\"ts\":\"2024-01-01T00:00:00.000Z\",\"amount\":2}\n")
            .expect("write stdin");
        // the re-executed program has the tunable once it has started reading
        let environ = format!("/proc/{}/environ", child.id());
        let has_tunable = |env: &[u8]| {
            env.split(|&b| b == 0)
                .any(|v| v == b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1")
        };
        let want = madvise && !opt_out;
        // the re-execution happens at once: half a second is long enough to see it not happen
        let wait = std::time::Duration::from_millis(if want { 10_000 } else { 500 });
        let deadline = std::time::Instant::now() + wait;
        let mut seen = false;
        while !seen && std::time::Instant::now() < deadline {
            seen = std::fs::read(&environ).is_ok_and(|e| has_tunable(&e));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(seen, want, "opt_out {opt_out}, madvise {madvise}");
        stdin
            .write_all(b"{\"user_id\":\"a\",\"ts\":\"2024-01-01T00:00:30.000Z\",\"amount\":3}\n")
            .expect("write stdin");
        drop(stdin);
        let o = child.wait_with_output().expect("wait eddy");
        ok(&o);
        let counts: Vec<i64> = text(&o.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["features"]["count_1m"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(counts, [1, 2], "opt_out {opt_out}");
    }
}

#[test]
fn run_embedded_default() {
    let o = eddy(&["run", "--events", "3000", "--sample", "3"]);
    ok(&o);
    let out = text(&o.stdout);
    assert!(
        out.contains("per-event feature vectors (first 3 of "),
        "{out}"
    );
    let rows: Vec<Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("sample rows are JSON"))
        .collect();
    assert!(rows.iter().any(|r| r["features"]["events_5m"].is_i64()));
    // Every sampled per-event row is scored by the bundled model.
    let scored: Vec<&Value> = rows.iter().filter(|r| r.get("scored").is_some()).collect();
    assert_eq!(scored.len(), 3, "{out}");
    for r in scored {
        assert_eq!(r["prediction"]["model"], "fraud_lr", "{r}");
        let p = r["prediction"]["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{r}");
    }
    let err = text(&o.stderr);
    assert!(err.contains("3,000 events read"), "{err}");
    assert!(err.contains("model fraud_lr (embedded): "), "{err}");
}

#[test]
fn bench_runs_small() {
    let o = eddy(&["bench", "--events", "3000", "--keys", "50"]);
    ok(&o);
    let out = text(&o.stdout);
    assert!(out.contains("in memory"), "{out}");
    assert!(out.contains("file to file"), "{out}");
    assert!(out.contains("file/memory ratio"), "{out}");
    assert!(out.contains("bytes/key"), "{out}");
    // Plain, embedded, plain, embedded, external, file to file.
    assert_eq!(out.matches("3,000 events in").count(), 6, "{out}");
    assert!(out.contains("embedded/no-model ratio"), "{out}");
    assert!(out.contains("external/no-model ratio"), "{out}");
    assert!(out.contains("; 0 fallback)"), "{out}");
    let o = eddy(&["bench", "--events", "3000", "--keys", "50", "--no-model"]);
    ok(&o);
    assert_eq!(text(&o.stdout).matches("3,000 events in").count(), 2);
}

#[test]
fn run_scores_each_event_with_an_onnx_model() {
    let tmp = Tmp::new("onnx-model");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/onnx");
    std::fs::create_dir_all(tmp.join("models")).unwrap();
    for f in [
        "logistic_regression.onnx",
        "logistic_regression.features.json",
    ] {
        std::fs::copy(fixtures.join(f), tmp.join("models").join(f)).unwrap();
    }
    // Features in another order than the model's (amount, hour, velocity, distance);
    // `inputs` left out: the model's declared names are used. The model path is relative
    // to the spec's directory, not to the current one.
    let mut spec = String::from(
        r#"[source]
format = "jsonl"
key = "k"
timestamp = "t"
timestamp_format = "epoch_ms"
[source.fields]
a = "float"
h = "int"
v = "float"
d = "float"
"#,
    );
    for (name, field) in [
        ("distance", "d"),
        ("amount", "a"),
        ("velocity", "v"),
        ("hour", "h"),
    ] {
        spec.push_str(&format!(
            "[[feature]]\nname = \"{name}\"\nagg = \"max\"\nfield = \"{field}\"\nwindow = {{ kind = \"tumbling\", size = \"1m\" }}\n"
        ));
    }
    spec.push_str(&format!(
        "[model]\npath = \"models/logistic_regression.onnx\"\nname = \"fraud\"\n[output]\nevents = \"{}\"\n",
        tmp.s("events.jsonl")
    ));
    std::fs::write(tmp.join("spec.toml"), &spec).unwrap();
    let mut input = String::new();
    for i in 0..20 {
        let f = i as f64;
        input.push_str(&format!(
            "{{\"k\":\"u{}\",\"t\":{},\"a\":{},\"h\":{},\"v\":{},\"d\":{}}}\n",
            i % 3,
            1_000 + i * 500,
            (f * 0.7).sin() * 3.0,
            i % 24,
            (f * 1.3).cos() * 2.0,
            f / 7.0 - 1.0
        ));
    }
    // An event without `d` in a fresh window: `distance` is null, so it is not scored.
    input.push_str("{\"k\":\"lonely\",\"t\":20000,\"a\":1.0,\"h\":3,\"v\":0.5}\n");
    std::fs::write(tmp.join("in.jsonl"), &input).unwrap();
    let o = eddy(&["run", &tmp.s("spec.toml"), "--input", &tmp.s("in.jsonl")]);
    ok(&o);
    let err = text(&o.stderr);
    assert!(
        err.contains("model fraud (embedded): 20 scored, 1 unscored (1 null feature)"),
        "{err}"
    );

    let model = eddy_infer::load_model(&fixtures.join("logistic_regression.onnx"), "x").unwrap();
    let mut scores = eddy_infer::Scores::new();
    let rows = json_lines(&tmp.join("events.jsonl"));
    assert_eq!(rows.len(), 21);
    let mut scored = 0;
    for r in &rows {
        let f = &r["features"];
        if f["distance"].is_null() {
            assert_eq!(r["prediction"], Value::Null, "{r}");
            assert_eq!(r["scored"], false, "{r}");
            continue;
        }
        let x: Vec<f64> = ["amount", "hour", "velocity", "distance"]
            .iter()
            .map(|n| f[*n].as_f64().unwrap())
            .collect();
        model
            .score(eddy_infer::Batch::row(&x), &mut scores)
            .unwrap();
        let p = &r["prediction"];
        assert_eq!(r["scored"], true, "{r}");
        assert_eq!(p["score"].as_f64().unwrap(), scores.scores[0], "{r}");
        assert_eq!(p["label"].as_i64().unwrap(), scores.labels[0], "{r}");
        assert_eq!(p["model"], "fraud", "{r}");
        assert_eq!(p["version"], "1", "{r}");
        scored += 1;
    }
    assert_eq!(scored, 20);

    // `eddy validate` loads the model too: a bad input name is refused with its path.
    std::fs::write(
        tmp.join("bad.toml"),
        spec.replace(
            "name = \"fraud\"",
            "name = \"fraud\"\ninputs = [\"amount\", \"hours\", \"velocity\", \"distance\"]",
        ),
    )
    .unwrap();
    let o = eddy(&["validate", &tmp.s("bad.toml")]);
    assert!(!o.status.success());
    let all = text(&o.stdout) + &text(&o.stderr);
    assert!(all.contains("model.inputs[1]: `hours`"), "{all}");
}

/// Duplicate JSON members: each is typed as it is read, so one that does not fit its declared
/// type dead-letters the event wherever it stands (before or after a valid one); among valid
/// members the last wins, `null` (absent) included. What docs/semantics.md says.
#[test]
fn run_types_every_duplicate_member_and_keeps_the_last() {
    let tmp = Tmp::new("dup-members");
    let lines = [
        r#"{"user_id":"a","ts":"2024-01-01T00:00:00.000Z","amount":"bad","amount":2}"#,
        r#"{"user_id":"b","ts":"2024-01-01T00:00:01.000Z","amount":1,"amount":2}"#,
        r#"{"user_id":"c","ts":"2024-01-01T00:00:02.000Z","amount":2,"amount":"bad"}"#,
        r#"{"user_id":"d","ts":"2024-01-01T00:00:03.000Z","amount":null,"amount":5}"#,
        r#"{"user_id":"e","ts":"2024-01-01T00:00:04.000Z","amount":5,"amount":null}"#,
    ];
    std::fs::write(tmp.join("in.jsonl"), lines.join("\n")).unwrap();
    let spec = tumbling_spec(&tmp, "jsonl", "in.jsonl", "1s");
    let o = eddy(&["run", &spec.to_string_lossy()]);
    ok(&o);
    let dead = json_lines(&tmp.join("dead-jsonl.jsonl"));
    let lines_dead: Vec<i64> = dead.iter().map(|d| d["line"].as_i64().unwrap()).collect();
    assert_eq!(lines_dead, [1, 3], "{dead:?}");
    for d in &dead {
        let reason = d["reason"].as_str().unwrap();
        assert!(reason.contains("field `amount`"), "{reason}");
    }
    let events = json_lines(&tmp.join("events-jsonl.jsonl"));
    let spend: Vec<(&str, f64)> = events
        .iter()
        .map(|e| {
            (
                e["user_id"].as_str().unwrap(),
                e["features"]["spend_2m"].as_f64().unwrap(),
            )
        })
        .collect();
    // b: 1 then 2 → 2; d: null then 5 → 5; e: 5 then null → absent, an empty sum 0.
    assert_eq!(spend, [("b", 2.0), ("d", 5.0), ("e", 0.0)]);
}
