//! The `[output]` table: where per-event rows, window rows, late events and dead letters go,
//! and in which format.

use std::path::PathBuf;

use toml::Table;

use super::check::{join, Validator};

/// Output record format (for every output of a pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jsonl,
    Csv,
}

/// Where an output goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dest {
    Stdout,
    File(PathBuf),
}

impl Dest {
    /// `-` is stdout; anything else a file path.
    pub fn parse(s: &str) -> Dest {
        if s == "-" {
            Dest::Stdout
        } else {
            Dest::File(PathBuf::from(s))
        }
    }

    pub fn name(&self) -> String {
        match self {
            Dest::Stdout => "stdout".to_string(),
            Dest::File(p) => p.display().to_string(),
        }
    }
}

/// The validated `[output]` table; `None` means the output is counted but not written.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    pub events: Option<Dest>,
    pub windows: Option<Dest>,
    pub late: Option<Dest>,
    pub dead_letter: Option<Dest>,
    pub format: OutputFormat,
}

/// The keys of `[output]`, in the order an unknown-key error lists them.
const KEYS: &[&str] = &["events", "windows", "late", "dead_letter", "format"];

/// Validates the `[output]` table at `path`.
pub(super) fn output(v: &mut Validator, o: &Table, path: &str) -> OutputSpec {
    v.unknown_keys(o, path, KEYS);
    OutputSpec {
        events: dest(v, o, path, "events"),
        windows: dest(v, o, path, "windows"),
        late: dest(v, o, path, "late"),
        dead_letter: dest(v, o, path, "dead_letter"),
        format: v
            .choice(
                o,
                path,
                "format",
                &[("jsonl", OutputFormat::Jsonl), ("csv", OutputFormat::Csv)],
            )
            .unwrap_or(OutputFormat::Jsonl),
    }
}

/// The outputs of a spec without an `[output]` table: per-event rows on stdout, so that a bare
/// spec shows its features. `malformed` (an `output` that is not a table, already reported)
/// writes nothing.
pub(super) fn without_table(malformed: bool) -> OutputSpec {
    OutputSpec {
        events: if malformed { None } else { Some(Dest::Stdout) },
        windows: None,
        late: None,
        dead_letter: None,
        format: OutputFormat::Jsonl,
    }
}

/// An output's destination: a path, or `-` for stdout.
pub(crate) fn dest(v: &mut Validator, t: &Table, path: &str, key: &str) -> Option<Dest> {
    let s = v.string(t, path, key)?;
    if s.is_empty() {
        v.err(
            join(path, key),
            "is empty; expected a path, or \"-\" for stdout",
        );
        return None;
    }
    Some(Dest::parse(&s))
}
