//! The `[output]` table: which sink per-event rows, window rows, late events, dead letters
//! and the learning log go to (a path, or a table naming the connector by `type`), and in which format.

use std::path::Path;

use toml::{Table, Value as Toml};

use crate::check::{join, type_name, Validator};
use crate::connector::{self, SinkConfig, SINKS};

/// Output record format (for every output of a pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jsonl,
    Csv,
}

/// Which output a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputKind {
    /// Per-event feature rows.
    Events,
    /// Window rows.
    Windows,
    /// Late events.
    Late,
    /// Dead letters.
    DeadLetter,
    /// The learning log of a `[learn]` pipeline.
    Learning,
}

impl OutputKind {
    /// Every output, in the order of `[output]`'s keys.
    pub const ALL: [OutputKind; 5] = [
        OutputKind::Events,
        OutputKind::Windows,
        OutputKind::Late,
        OutputKind::DeadLetter,
        OutputKind::Learning,
    ];

    /// The output's key in `[output]` (and its metrics label).
    pub const fn as_str(self) -> &'static str {
        match self {
            OutputKind::Events => "events",
            OutputKind::Windows => "windows",
            OutputKind::Late => "late",
            OutputKind::DeadLetter => "dead_letter",
            OutputKind::Learning => "learning",
        }
    }
}

/// The validated `[output]` table; `None` means the output is counted but not written.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    pub events: Option<SinkConfig>,
    pub windows: Option<SinkConfig>,
    pub late: Option<SinkConfig>,
    pub dead_letter: Option<SinkConfig>,
    /// The learning log (with `[learn]`).
    pub learning: Option<SinkConfig>,
    pub format: OutputFormat,
}

/// The keys of `[output]`, in the order an unknown-key error lists them.
const KEYS: &[&str] = &[
    "events",
    "windows",
    "late",
    "dead_letter",
    "learning",
    "format",
];

/// Validates the `[output]` table at `path`.
pub(super) fn output(v: &mut Validator, o: &Table, path: &str) -> OutputSpec {
    v.unknown_keys(o, path, KEYS);
    OutputSpec {
        events: sink(v, o, path, "events"),
        windows: sink(v, o, path, "windows"),
        late: sink(v, o, path, "late"),
        dead_letter: sink(v, o, path, "dead_letter"),
        learning: sink(v, o, path, "learning"),
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
        events: (!malformed).then(|| connector::output(Path::new("-"))),
        windows: None,
        late: None,
        dead_letter: None,
        learning: None,
        format: OutputFormat::Jsonl,
    }
}

/// An output's sink: a path (`-` for stdout), or a table `{ type = "...", ... }` whose keys the
/// connector reads.
pub(crate) fn sink(v: &mut Validator, t: &Table, path: &str, key: &str) -> Option<SinkConfig> {
    let at = join(path, key);
    match t.get(key)? {
        Toml::String(s) if s.is_empty() => {
            v.err(at, "is empty; expected a path, or \"-\" for stdout");
            None
        }
        Toml::String(s) => Some(connector::output(Path::new(s))),
        Toml::Table(st) => {
            let name = v.required_string(st, &at, "type", "the sink's connector")?;
            let Some(kind) = connector::sink_kind(&name) else {
                v.err(
                    join(&at, "type"),
                    format!(
                        "unknown sink type `{name}`; expected one of: {}",
                        connector::names(SINKS, |k| k.name)
                    ),
                );
                return None;
            };
            v.unknown_keys(st, &at, &[&["type"], kind.keys].concat());
            (kind.parse)(v, st, &at)
        }
        other => {
            v.err(
                at,
                format!(
                    "expected a path or a sink table ({{ type = \"file\", path = \"...\" }}), found {}",
                    type_name(other)
                ),
            );
            None
        }
    }
}

impl OutputSpec {
    /// The sink of output `kind`, if it has one.
    pub fn sink(&self, kind: OutputKind) -> Option<&SinkConfig> {
        match kind {
            OutputKind::Events => self.events.as_ref(),
            OutputKind::Windows => self.windows.as_ref(),
            OutputKind::Late => self.late.as_ref(),
            OutputKind::DeadLetter => self.dead_letter.as_ref(),
            OutputKind::Learning => self.learning.as_ref(),
        }
    }
}
