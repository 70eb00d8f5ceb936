//! The pipeline spec (TOML): parsing, validation into eddy-core types, and every error with
//! the path of its key.
//!
//! The TOML is read into a generic table and walked by hand so that *every* problem is
//! reported at once (serde stops at the first) and each one names its key path, e.g.
//! `feature[2].window.slide: slide (10m) is larger than size (5m)`. Unknown keys are refused
//! everywhere (the equivalent of serde's `deny_unknown_fields`).
//!
//! This module walks the top level (with `[watermark]`, `allowed_lateness` and
//! `late_policy`); each table has its own module, handed the validator, its table and its key
//! path:
//! - `source`: `[source]` and its declared fields, `[source.fields]`;
//! - `features`: the `[[feature]]` entries;
//! - `windows`: a feature's `window = {...}`;
//! - `model`: the optional `[model]`;
//! - `learn`: the optional `[learn]`;
//! - `output`: `[output]`.

mod features;
mod learn;
mod model;
mod output;
mod source;
mod windows;

use eddy_core::engine::{EngineConfig, LatePolicy};
use eddy_core::feature::FeatureSpec;
use eddy_core::watermark::WatermarkConfig;
use eddy_core::{Interner, Schema};
use toml::Table;

use crate::check::{join, Validator};
use crate::error::{SpecError, SpecErrors};

pub use features::DEFAULT_EXACT_LIMIT;
pub use learn::{
    AbMode, BaselineSpec, DriftAction, DriftSpec, LabelSource, LabelStreamSpec, LabelValue,
    LearnModel, LearnSpec, PromotionSpec, SnapshotSpec,
};
pub use model::{ModelSource, ModelSpec, Pattern, TopicsConfig};
pub use output::{OutputFormat, OutputKind, OutputSpec};
pub use source::{InputFormat, SourceSpec};

/// A validated pipeline: everything the runtime needs, in eddy-core types.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub source: SourceSpec,
    /// Declared fields (`[source.fields]`), in [`eddy_core::FieldId`] order.
    pub schema: Schema,
    /// Strings interned while parsing filters; the decoder keeps interning into it.
    pub interner: Interner,
    pub features: Vec<FeatureSpec>,
    pub engine: EngineConfig,
    pub watermark: WatermarkConfig,
    /// The most bytes of feature state the run may hold (`max_state_bytes`); beyond it the run
    /// stops with an error that names the feature holding the most. `None`: no bound.
    pub max_state_bytes: Option<usize>,
    pub output: OutputSpec,
    /// The optional `[model]` table: a model scored on every per-event row.
    pub model: Option<ModelSpec>,
    /// The optional `[learn]` table: a model that scores every per-event row and learns
    /// from the labels.
    pub learn: Option<LearnSpec>,
}

impl PipelineSpec {
    /// Parses and validates a TOML spec. Returns every error found.
    pub fn parse(text: &str) -> Result<PipelineSpec, SpecErrors> {
        let table: Table = match toml::from_str(text) {
            Ok(t) => t,
            Err(e) => {
                return Err(SpecErrors(vec![SpecError {
                    path: String::new(),
                    msg: format!("not valid TOML: {}", e.to_string().trim_end()),
                }]))
            }
        };
        let mut v = Validator::default();
        let spec = pipeline(&mut v, &table);
        match spec {
            Some(s) if v.error_count() == 0 => Ok(s),
            _ => Err(SpecErrors(v.into_errors())),
        }
    }

    /// Reads and validates a spec file.
    pub fn from_file(path: &std::path::Path) -> Result<PipelineSpec, SpecErrors> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut spec = Self::parse(&text)?;
                if let (Some(l), Some(dir)) = (&mut spec.learn, path.parent()) {
                    let files = [
                        match &mut l.model {
                            LearnModel::Init(p) => Some(p),
                            LearnModel::Build { .. } => None,
                        },
                        l.baseline.as_mut().map(|b| &mut b.path),
                    ];
                    for p in files.into_iter().flatten().filter(|p| p.is_relative()) {
                        *p = dir.join(&*p);
                    }
                }
                if let (Some(m), Some(dir)) = (&mut spec.model, path.parent()) {
                    let file = match &mut m.source {
                        ModelSource::File(p) => Some(p),
                        ModelSource::Server { cfg, .. } => cfg.ca_file.as_mut(),
                        ModelSource::Topics(_) => None,
                    };
                    if let Some(p) = file.filter(|p| p.is_relative()) {
                        *p = dir.join(&*p);
                    }
                }
                Ok(spec)
            }
            Err(e) => Err(SpecErrors(vec![SpecError {
                path: String::new(),
                msg: format!("cannot read spec `{}`: {e}", path.display()),
            }])),
        }
    }
}

impl PipelineSpec {
    /// Refuses outputs that would overwrite the input file, whatever the spelling of their
    /// paths (a hard link too, and stdin redirected from the file: files are compared by
    /// identity). Checked after command-line overrides, before anything is opened for writing.
    pub fn check_paths(&self) -> Result<(), SpecErrors> {
        use crate::connector::SinkIdentity;
        let Some(input) = self.source.connector.file_id() else {
            return Ok(()); // a pipe, or a missing input (reported when it is opened)
        };
        let input = SinkIdentity::File(input);
        let mut errors = Vec::new();
        for kind in OutputKind::ALL {
            if let Some(sink) = self.output.sink(kind) {
                if sink.identity() == input {
                    errors.push(SpecError {
                        path: format!("output.{}", kind.as_str()),
                        msg: format!(
                            "`{}` is the input file; writing it would destroy the input",
                            sink.describe()
                        ),
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SpecErrors(errors))
        }
    }

    /// The features' names, in order.
    pub fn feature_names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.name.clone()).collect()
    }
}

/// Formats milliseconds back as the shortest exact duration (`300000` → `5m`).
pub fn format_duration(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (n, u) in UNITS {
        if ms != 0 && ms % n == 0 {
            return format!("{}{u}", ms / n);
        }
    }
    format!("{ms}ms")
}

/// The top level: each table in turn, in the order their errors are reported.
fn pipeline(v: &mut Validator, t: &Table) -> Option<PipelineSpec> {
    v.unknown_keys(
        t,
        "",
        &[
            "source",
            "watermark",
            "allowed_lateness",
            "late_policy",
            "key_ttl",
            "max_state_bytes",
            "feature",
            "output",
            "model",
            "learn",
        ],
    );
    let mut interner = Interner::new();
    let src = match v.table(t, "", "source") {
        Some(s) => Some(s),
        None => {
            if !t.contains_key("source") {
                v.err("source", "missing; expected a [source] table");
            }
            None
        }
    };
    let (source, schema) = match src {
        Some(s) => source::source(v, s, "source"),
        None => (None, Schema::new()),
    };
    let watermark = match v.table(t, "", "watermark") {
        Some(w) => watermark(v, w, "watermark"),
        None => WatermarkConfig {
            max_out_of_orderness: 0,
            idle_timeout: None,
        },
    };
    let allowed_lateness = v.duration(t, "", "allowed_lateness").unwrap_or(0);
    let late_policy = v
        .choice(
            t,
            "",
            "late_policy",
            &[
                ("update", LatePolicy::Update),
                ("discard", LatePolicy::Discard),
            ],
        )
        .unwrap_or(LatePolicy::Update);
    let key_ttl = v.duration(t, "", "key_ttl").unwrap_or(0);
    if key_ttl > eddy_core::window::MAX_WINDOW_MS {
        v.err(
            "key_ttl",
            format!(
                "{} is too long; at most {}",
                format_duration(key_ttl),
                format_duration(eddy_core::window::MAX_WINDOW_MS)
            ),
        );
    }
    let max_state_bytes = v.bytes(t, "", "max_state_bytes");
    let features = features::features(v, t.get("feature"), "feature", &schema, &mut interner);
    let output = match v.table(t, "", "output") {
        Some(o) => output::output(v, o, "output"),
        None => output::without_table(t.contains_key("output")),
    };
    let model = v
        .table(t, "", "model")
        .and_then(|m| model::model(v, m, "model"));
    let event_id = source.as_ref().and_then(|s| s.event_id.as_deref());
    let key = source.as_ref().map(|s| s.key.as_str());
    let learn = v
        .table(t, "", "learn")
        .and_then(|l| learn::learn(v, l, "learn", &schema, event_id, key));
    if learn.is_some() && t.contains_key("model") {
        v.err(
            "learn",
            "[learn] scores every event with the model it trains; a [model] would score them again. Give a frozen model as [learn.baseline] instead",
        );
    }

    let engine = EngineConfig {
        allowed_lateness,
        late_policy,
        key_ttl,
    };
    Some(PipelineSpec {
        source: source?,
        schema,
        interner,
        features,
        engine,
        watermark,
        max_state_bytes,
        output,
        model,
        learn,
    })
}

/// `[watermark]` at `path`: how far events may come out of order, and after how long a quiet
/// partition stops holding the watermark back.
fn watermark(v: &mut Validator, w: &Table, path: &str) -> WatermarkConfig {
    let mut watermark = WatermarkConfig {
        max_out_of_orderness: 0,
        idle_timeout: None,
    };
    v.unknown_keys(w, path, &["max_out_of_orderness", "idle_timeout"]);
    if let Some(d) = v.duration(w, path, "max_out_of_orderness") {
        watermark.max_out_of_orderness = d;
    }
    if let Some(d) = v.duration(w, path, "idle_timeout") {
        if d == 0 {
            v.err(
                join(path, "idle_timeout"),
                "must be > 0 (leave it out to never treat the source as idle)",
            );
        } else {
            watermark.idle_timeout = Some(d);
        }
    }
    watermark
}

#[cfg(test)]
mod tests {

    use eddy_core::agg::AggKind;
    use eddy_core::window::WindowSpec;

    use super::*;

    const GOOD: &str = r#"
allowed_lateness = "1m"
late_policy = "update"

[source]
path = "events.jsonl"
format = "jsonl"
key = "user_id"
timestamp = "ts"
timestamp_format = "rfc3339"
event_id = "event_id"

[source.fields]
event_type = "string"
amount = "float"
page = "string"

[watermark]
max_out_of_orderness = "5s"
idle_timeout = "30s"

[[feature]]
name = "tx_5m"
agg = "count"
window = { kind = "sliding", size = "5m", slide = "1m" }

[[feature]]
name = "aov_1h"
agg = "mean"
field = "amount"
where = 'event_type == "purchase"'
window = { kind = "sliding", size = "1h", slide = "5m" }

[output]
events = "-"
windows = "windows.jsonl"
"#;

    /// The errors of a spec that must be refused.
    pub(super) fn errors(text: &str) -> SpecErrors {
        match PipelineSpec::parse(text) {
            Ok(_) => panic!("spec was accepted:\n{text}"),
            Err(e) => e,
        }
    }

    /// A valid `[source]` (fields `amount`, `event_type`) followed by `feature`.
    pub(super) fn with_feature(feature: &str) -> String {
        format!(
            r#"
[source]
format = "jsonl"
key = "user_id"
timestamp = "ts"
[source.fields]
amount = "float"
event_type = "string"
{feature}
"#
        )
    }

    #[test]
    fn durations_format_back() {
        assert_eq!(format_duration(300_000), "5m");
        assert_eq!(format_duration(3_600_000), "1h");
        assert_eq!(format_duration(1500), "1500ms");
        assert_eq!(format_duration(0), "0ms");
    }

    #[test]
    fn unknown_keys_are_named_everywhere() {
        let text = GOOD
            .replace(
                "event_id = \"event_id\"",
                "event_id = \"event_id\"\ncolour = \"red\"",
            )
            .replace(
                "late_policy = \"update\"",
                "late_policy = \"update\"\nbogus = 1",
            )
            .replace("agg = \"count\"", "agg = \"count\"\nwindw = 3");
        let e = errors(&text);
        assert!(e.has_path("source.colour"), "{e}");
        assert!(e.has_path("bogus"), "{e}");
        assert!(e.has_path("feature[0].windw"), "{e}");
        assert!(e.to_string().contains("unknown key"), "{e}");
        assert_eq!(e.0.len(), 3, "{e}");
    }

    #[test]
    fn missing_source_and_features() {
        let e = errors("[output]\nevents = \"-\"\n");
        assert!(e.has_path("source"), "{e}");
        assert!(e.has_path("feature"), "{e}");
        let e = errors("[source]\nkey = \"k\"\n[[feature]]\nname = \"x\"\nagg = \"count\"\nwindow = { kind = \"global\" }\n");
        assert!(e.has_path("source.format"), "{e}");
        assert!(e.has_path("source.timestamp"), "{e}");
    }

    #[test]
    fn bad_toml_is_one_error() {
        let e = errors("[source\n");
        assert_eq!(e.0.len(), 1);
        assert!(e.to_string().contains("not valid TOML"), "{e}");
    }

    #[test]
    fn unknown_values() {
        let e = errors(&with_feature(
            r#"late_policy = "sometimes"
[[feature]]
name = "a"
agg = "median"
window = { kind = "hopping", size = "1m" }"#,
        ));
        // late_policy comes after [source.fields] in TOML, so it lands in that table.
        assert!(e.has_path("source.fields.late_policy"), "{e}");
        assert!(e.has_path("feature[0].agg"), "{e}");
        assert!(e.has_path("feature[0].window.kind"), "{e}");
    }

    #[test]
    fn good_spec_compiles() {
        let s = PipelineSpec::parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.features.len(), 2);
        assert_eq!(s.features[0].name, "tx_5m");
        assert_eq!(
            s.features[0].window,
            WindowSpec::Sliding {
                size: 300_000,
                slide: 60_000,
                offset: 0
            }
        );
        assert_eq!(s.features[1].agg, AggKind::Mean);
        assert_eq!(s.features[1].field, s.schema.field_id("amount"));
        assert!(s.features[1].filter.is_some());
        assert_eq!(s.watermark.max_out_of_orderness, 5_000);
        assert_eq!(s.watermark.idle_timeout, Some(30_000));
        assert_eq!(s.engine.allowed_lateness, 60_000);
        let sink = |s: &Option<crate::connector::SinkConfig>| s.as_ref().map(|s| s.describe());
        assert_eq!(sink(&s.output.events).as_deref(), Some("stdout"));
        assert_eq!(sink(&s.output.windows).as_deref(), Some("windows.jsonl"));
        assert!(s.output.late.is_none());
        assert_eq!(
            s.source.connector.path(),
            Some(std::path::Path::new("events.jsonl"))
        );
    }
}
