//! Idle keys end to end: `eddy run` over phases of new keys frees the keys whose windows
//! have all closed (their ids go to new keys), and its outputs are those of a run that keeps
//! every key (`key_ttl` longer than the input).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eddy_testutil::Tmp;

const MIN: i64 = 60_000;
const PHASES: i64 = 12;
const KEYS: i64 = 2_000;

/// Twelve phases of ten minutes, each with its own 300 keys (4 events each); every 25th key
/// of a phase comes back three phases later (after it was freed), and every phase has a few
/// records with a new key that cannot be decoded (a bad timestamp). Also gives the number of
/// distinct keys of good records.
fn input(format: &str) -> (String, usize) {
    let mut rows = Vec::new();
    for p in 0..PHASES {
        for i in 0..4 * KEYS {
            let ts = p * 10 * MIN + i * 10 * MIN / (4 * KEYS);
            let k = i % KEYS;
            let key = if k % 25 == 0 && p >= 3 {
                format!("user-{}-{k}", p - 3)
            } else {
                format!("user-{p}-{k}")
            };
            let page = ["home", "cart", "pay"][(i % 3) as usize];
            rows.push((key, ts.to_string(), page, (i % 7) as f64));
            if i % (2 * KEYS) == 7 {
                rows.push((format!("bad-{p}-{i}"), "soon".into(), "home", 1.0));
            }
        }
    }
    let good: std::collections::HashSet<&str> = (rows.iter())
        .filter(|r| r.1 != "soon")
        .map(|r| r.0.as_str())
        .collect();
    let distinct = good.len();
    let mut out = String::new();
    if format == "csv" {
        out.push_str("user_id,ts,page,amount\n");
    }
    for (key, ts, page, amount) in rows {
        if format == "csv" {
            out.push_str(&format!("{key},{ts},{page},{amount}\n"));
        } else {
            let ts = if ts == "soon" { "\"soon\"".into() } else { ts };
            out.push_str(&format!(
                "{{\"user_id\":\"{key}\",\"ts\":{ts},\"page\":\"{page}\",\"amount\":{amount}}}\n"
            ));
        }
    }
    (out, distinct)
}

fn spec(tmp: &Tmp, format: &str, key_ttl: &str) -> PathBuf {
    let name = format!("{format}-{key_ttl}");
    let p = tmp.join(format!("{name}.toml"));
    let text = format!(
        r#"
key_ttl = "{key_ttl}"
allowed_lateness = "10s"
[source]
path = {input:?}
format = "{format}"
key = "user_id"
timestamp = "ts"
timestamp_format = "epoch_ms"
[source.fields]
page = "string"
amount = "float"
[watermark]
max_out_of_orderness = "5s"
[[feature]]
name = "n_5m"
agg = "count"
window = {{ kind = "sliding", size = "5m", slide = "1m" }}
[[feature]]
name = "spend_10m"
agg = "mean"
field = "amount"
window = {{ kind = "sliding", size = "10m", slide = "2m" }}
[[feature]]
name = "pages"
agg = "last_n"
n = 3
field = "page"
window = {{ kind = "session", gap = "3m" }}
[[feature]]
name = "per_min"
agg = "sum"
field = "amount"
window = {{ kind = "tumbling", size = "1m" }}
[[feature]]
name = "total"
agg = "sum"
field = "amount"
window = {{ kind = "global", ttl = "15m" }}
[output]
format = "{format}"
events = {events:?}
windows = {windows:?}
dead_letter = {dead:?}
"#,
        input = tmp.s(&format!("in.{format}")),
        events = tmp.s(&format!("events-{name}")),
        windows = tmp.s(&format!("windows-{name}")),
        dead = tmp.s(&format!("dead-{name}")),
    );
    std::fs::write(&p, text).expect("write spec");
    p
}

fn run(spec: &Path) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run".as_ref(), spec.as_os_str()])
        .output()
        .expect("run eddy");
    assert!(
        o.status.success(),
        "eddy failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn sorted_lines(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = read(p).lines().map(str::to_string).collect();
    v.sort();
    v
}

/// `eddy: N events read in ..., K keys held, R freed when idle` → `(K, R)`.
fn keys_line(stderr: &[u8]) -> (u64, u64) {
    let s = String::from_utf8_lossy(stderr);
    let line = s
        .lines()
        .find(|l| l.starts_with("eddy: ") && l.contains(" events read "))
        .unwrap_or_else(|| panic!("no summary in {s}"));
    let num = |t: &str| t.replace(',', "").parse::<u64>().ok();
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = |w: &str| {
        words
            .iter()
            .position(|x| x.trim_matches(['(', ')', ',']) == w)
    };
    let keys = at("keys")
        .and_then(|i| num(words[i - 1]))
        .unwrap_or_else(|| panic!("{line}"));
    let freed = at("freed")
        .and_then(|i| num(words[i - 1].trim_start_matches('(')))
        .unwrap_or(0);
    (keys, freed)
}

#[test]
fn idle_keys_are_freed_and_outputs_unchanged() {
    let tmp = Tmp::new("idle-keys");
    for format in ["jsonl", "csv"] {
        let (text, distinct) = input(format);
        std::fs::write(tmp.join(format!("in.{format}")), text).expect("write input");
        let freeing = run(&spec(&tmp, format, "0s"));
        let keeping = run(&spec(&tmp, format, "100d"));
        let (held, freed) = keys_line(&freeing.stderr);
        let (all, none) = keys_line(&keeping.stderr);
        // every key of a good record, and none of the undecodable ones
        assert_eq!((all, none), (distinct as u64, 0), "{format}");
        // all but the last phases' keys were freed (the returning ones twice: once before
        // they came back): at the end the engine holds the keys of the last 15 minutes
        assert!(
            freed >= (PHASES - 2) as u64 * KEYS as u64,
            "{format}: {freed} freed"
        );
        assert!(held <= 2 * KEYS as u64, "{format}: {held} held of {all}");
        let out = |kind: &str, ttl: &str| tmp.join(format!("{kind}-{format}-{ttl}"));
        assert_eq!(
            read(&out("events", "0s")),
            read(&out("events", "100d")),
            "{format}: per-event rows"
        );
        let windows = sorted_lines(&out("windows", "0s"));
        assert!(
            windows.len() > (PHASES * KEYS * 10) as usize,
            "{format}: {} window rows",
            windows.len()
        );
        let kept = sorted_lines(&out("windows", "100d"));
        let first = windows.iter().zip(&kept).position(|(a, b)| a != b);
        assert!(
            windows == kept,
            "{format}: window rows differ ({} vs {}), first at {first:?}: {:?} vs {:?}",
            windows.len(),
            kept.len(),
            first.map(|i| &windows[i]),
            first.map(|i| &kept[i]),
        );
        let dead = read(&out("dead", "0s"));
        let bad = dead.lines().filter(|l| l.contains("soon")).count();
        assert_eq!(bad, 2 * PHASES as usize, "{format}: {dead}");
    }
}
