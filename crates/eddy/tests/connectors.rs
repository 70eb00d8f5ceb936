//! Sources and sinks chosen by `type`, from the command line: the registry's errors, one
//! writer per file however its path is spelled, the input never overwritten, the memory
//! source, and CSV records that hold newlines. Expected values are worked out here.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use eddy_testutil::Tmp;
use serde_json::Value;

fn eddy_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run eddy")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one row of `dead.jsonl` in `dir`.
fn only_dead_letter(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("dead.jsonl")).expect("dead.jsonl");
    assert_eq!(text.lines().count(), 1, "{text}");
    serde_json::from_str(text.trim()).expect("a JSON row")
}

/// A spec with one count feature over 1-minute tumbling windows; `source` and `output` are
/// the bodies of those tables.
fn spec(source: &str, output: &str) -> String {
    format!(
        "[source]\nkey = \"k\"\ntimestamp = \"t\"\ntimestamp_format = \"epoch_ms\"\n{source}\n\
         [[feature]]\nname = \"n\"\nagg = \"count\"\nwindow = {{ kind = \"tumbling\", size = \"1m\" }}\n\
         [output]\n{output}\n"
    )
}

/// `n` events of keys `a`/`b` alternating, one a second from t = 0.
fn events(n: u64) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"k\":\"{}\",\"t\":{}}}\n",
                ["a", "b"][i as usize % 2],
                i * 1000
            )
        })
        .collect()
}

#[test]
fn unknown_connector_types_name_the_key_and_list_the_known_ones() {
    let tmp = Tmp::new("connector-types");
    let p = tmp.join("bad.toml");
    std::fs::write(
        &p,
        spec(
            "type = \"pulsar\"\nformat = \"jsonl\"\ntopic = \"t\"",
            "events = { type = \"s3\", bucket = \"b\" }\nwindows = { path = \"w.jsonl\" }\nlate = 3",
        ),
    )
    .unwrap();
    let o = eddy_in(&tmp, &["validate", "bad.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    for want in [
        "source.type: unknown source type `pulsar`; expected one of: \"file\", \"stdin\", \"memory\", \"kafka\"",
        "source.topic: unknown key",
        "output.events.type: unknown sink type `s3`; expected one of: \"file\", \"stdout\", \"memory\", \"kafka\"",
        "output.windows.type: missing",
        "output.late: expected a path or a sink table",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }

    // a key the chosen connector does not read
    std::fs::write(
        &p,
        spec(
            "type = \"stdin\"\npath = \"x.jsonl\"\nformat = \"jsonl\"",
            "events = \"-\"",
        ),
    )
    .unwrap();
    let o = eddy_in(&tmp, &["validate", "bad.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("source.path: unknown key"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_dir(&*tmp).unwrap().count(),
        1,
        "validate wrote something"
    );
}

#[test]
fn two_spellings_of_one_file_share_one_writer() {
    let tmp = Tmp::new("one-file-two-names");
    std::fs::write(tmp.join("in.jsonl"), events(200)).unwrap();
    std::fs::write(
        tmp.join("s.toml"),
        spec(
            "path = \"in.jsonl\"\nformat = \"jsonl\"",
            "events = \"o.jsonl\"\nwindows = { type = \"file\", path = \"./sub/../o.jsonl\" }",
        ),
    )
    .unwrap();
    std::fs::create_dir(tmp.join("sub")).unwrap();
    let o = eddy_in(&tmp, &["run", "s.toml", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(tmp.join("o.jsonl")).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn row {l:?}: {e}")))
        .collect();
    // 200 per-event rows; windows: 200 s of events is minutes 0..=3 for each of 2 keys
    let per_event = rows.iter().filter(|r| r.get("features").is_some()).count();
    let windows = rows
        .iter()
        .filter(|r| r.get("window_start").is_some())
        .count();
    assert_eq!((per_event, windows, rows.len()), (200, 8, 208));
}

#[test]
fn an_output_that_is_the_input_is_refused_whatever_its_name() {
    let tmp = Tmp::new("output-is-input");
    let data = events(10);
    std::fs::write(tmp.join("in.jsonl"), &data).unwrap();
    std::fs::hard_link(tmp.join("in.jsonl"), tmp.join("link.jsonl")).unwrap();
    std::fs::write(
        tmp.join("s.toml"),
        spec("path = \"in.jsonl\"\nformat = \"jsonl\"", "events = \"-\""),
    )
    .unwrap();
    for out in ["link.jsonl", "./in.jsonl"] {
        let o = eddy_in(&tmp, &["run", "s.toml", "--output", out]);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(
            stderr(&o).contains("is the input file; writing it would destroy the input"),
            "{}",
            stderr(&o)
        );
        assert_eq!(std::fs::read_to_string(tmp.join("in.jsonl")).unwrap(), data);
    }
}

#[test]
fn stdin_redirected_from_an_output_file_is_refused() {
    let tmp = Tmp::new("stdin-is-output");
    let data = events(10);
    std::fs::write(tmp.join("in.jsonl"), &data).unwrap();
    std::fs::write(
        tmp.join("s.toml"),
        spec("format = \"jsonl\"", "events = \"-\""),
    )
    .unwrap();
    // `eddy run s.toml --input - --output in.jsonl < in.jsonl`
    let o = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "s.toml", "--input", "-", "--output", "in.jsonl"])
        .current_dir(&*tmp)
        .stdin(std::fs::File::open(tmp.join("in.jsonl")).unwrap())
        .output()
        .expect("run eddy");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is the input file; writing it would destroy the input"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(tmp.join("in.jsonl")).unwrap(), data);
}

#[test]
fn a_sink_that_cannot_be_opened_stops_the_run_before_any_event_is_read() {
    let tmp = Tmp::new("sink-unopenable");
    std::fs::write(tmp.join("in.jsonl"), events(10)).unwrap();
    std::fs::write(tmp.join("file"), "").unwrap();
    std::fs::write(
        tmp.join("s.toml"),
        spec(
            "path = \"in.jsonl\"\nformat = \"jsonl\"",
            "events = \"e.jsonl\"\nwindows = \"file/w.jsonl\"",
        ),
    )
    .unwrap();
    let o = eddy_in(&tmp, &["run", "s.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot create output `file/w.jsonl`"),
        "{}",
        stderr(&o)
    );
    // nothing was read: no summary, no rows
    assert!(!stderr(&o).contains("events read"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(tmp.join("e.jsonl")).unwrap_or_default(),
        ""
    );
}

#[test]
fn the_memory_source_reads_its_data_key() {
    let tmp = Tmp::new("memory-source");
    std::fs::write(
        tmp.join("s.toml"),
        spec(
            &format!(
                "type = \"memory\"\ndata = '''\n{}'''\nformat = \"jsonl\"",
                events(6)
            ),
            "events = \"-\"",
        ),
    )
    .unwrap();
    let o = eddy_in(&tmp, &["run", "s.toml", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let counts: Vec<i64> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["features"]["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    // a, b, a, b, a, b: each key's running count within the first minute
    assert_eq!(counts, [1, 1, 2, 2, 3, 3]);
}

#[test]
fn a_record_longer_than_the_cap_is_a_dead_letter_and_the_run_goes_on() {
    let tmp = Tmp::new("record-cap");
    // 4 events, then 3 MiB of zero bytes with no line break, then 4 more events
    let mut input = events(4).into_bytes();
    input.extend(std::iter::repeat_n(0u8, 3 << 20));
    input.push(b'\n');
    input.extend(
        events(8)
            .lines()
            .skip(4)
            .flat_map(|l| format!("{l}\n").into_bytes()),
    );
    std::fs::write(tmp.join("in.jsonl"), &input).unwrap();
    std::fs::write(
        tmp.join("s.toml"),
        spec(
            "path = \"in.jsonl\"\nformat = \"jsonl\"\nmax_record_bytes = 1048576",
            "events = \"-\"\ndead_letter = \"dead.jsonl\"",
        ),
    )
    .unwrap();
    let o = eddy_in(&tmp, &["run", "s.toml", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 8);
    let dead = only_dead_letter(&tmp);
    assert_eq!(dead["line"], 5);
    let reason = dead["reason"].as_str().unwrap();
    assert!(reason.contains("longer than 1048576 bytes"), "{reason}");
    assert_eq!(dead["raw"].as_str().unwrap().len(), 256);
}

#[test]
fn a_run_over_max_state_bytes_stops_naming_the_feature() {
    let tmp = Tmp::new("state-limit");
    // 20,000 keys, one event each
    let input: String = (0..20_000)
        .map(|i| format!("{{\"k\":\"k{i}\",\"t\":{},\"x\":1.5}}\n", i * 10))
        .collect();
    std::fs::write(tmp.join("in.jsonl"), input).unwrap();
    let text = |limit: &str| {
        format!(
            "max_state_bytes = {limit}\n{}\n[[feature]]\nname = \"recent_x\"\nagg = \"sum\"\nfield = \"x\"\nwindow = {{ kind = \"sliding\", size = \"1h\", slide = \"1m\" }}\n",
            spec(
                "path = \"in.jsonl\"\nformat = \"jsonl\"\n[source.fields]\nx = \"float\"",
                "events = \"events.jsonl\""
            )
        )
    };
    std::fs::write(tmp.join("s.toml"), text("\"100KiB\"")).unwrap();
    let o = eddy_in(&tmp, &["run", "s.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("more than max_state_bytes (102400)"), "{err}");
    // the sliding sum keeps each key's events of the last hour; the tumbling count keeps a
    // counter in the key's fixed slot
    assert!(
        err.contains("the feature holding the most is `recent_x`"),
        "{err}"
    );
    // a bound the run stays under
    std::fs::write(tmp.join("s.toml"), text("\"1GiB\"")).unwrap();
    let o = eddy_in(&tmp, &["run", "s.toml", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // a bound that is not a size
    std::fs::write(tmp.join("s.toml"), text("\"lots\"")).unwrap();
    let o = eddy_in(&tmp, &["validate", "s.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("max_state_bytes: `lots` is not a size"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn csv_records_may_hold_newlines_in_quoted_cells() {
    let tmp = Tmp::new("csv-newlines");
    // line 1 header; record 1 spans lines 2-3; record 2 is line 4; line 5 is bad (an
    // unterminated quote runs to the end of the input, so it is one record: lines 5-6)
    std::fs::write(
        tmp.join("in.csv"),
        "k,t,note\na,1000,\"two\nlines\"\nb,2000,\"say \"\"hi\"\"\"\nc,3000,\"open\nend\n",
    )
    .unwrap();
    std::fs::write(
        tmp.join("s.toml"),
        spec(
            "path = \"in.csv\"\nformat = \"csv\"\n[source.fields]\nnote = \"string\"",
            "events = \"-\"\ndead_letter = \"dead.jsonl\"",
        ),
    )
    .unwrap();
    let o = eddy_in(&tmp, &["run", "s.toml", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let notes: Vec<&str> = rows.iter().map(|r| r["note"].as_str().unwrap()).collect();
    assert_eq!(notes, ["two\nlines", "say \"hi\""]);
    let dead = only_dead_letter(&tmp);
    assert_eq!(dead["line"], 5);
}
