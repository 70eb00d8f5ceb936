//! The pipeline spec (TOML): parsing, validation into eddy-core types, and every error with
//! the path of its key.
//!
//! The TOML is read into a generic table and walked by hand so that *every* problem is
//! reported at once (serde stops at the first) and each one names its key path, e.g.
//! `feature[2].window.slide: slide (10m) is larger than size (5m)`. Unknown keys are refused
//! everywhere (the equivalent of serde's `deny_unknown_fields`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use eddy_core::agg::{AggKind, RateUnit};
use eddy_core::engine::{EngineConfig, LatePolicy};
use eddy_core::feature::FeatureSpec;
use eddy_core::filter::Filter;
use eddy_core::time::parse_duration;
use eddy_core::watermark::WatermarkConfig;
use eddy_core::window::{Trigger, WindowSpec};
use eddy_core::{FieldType, Interner, Schema};
use eddy_oip::remote::{EmitMode, RemoteConfig, WireType};
use toml::{Table, Value as Toml};

use crate::error::{SpecError, SpecErrors};

pub(crate) mod check;
mod output;
mod source;

use check::{join, type_name, Validator};

pub use output::{OutputFormat, OutputSpec};
pub use source::{InputFormat, SourceSpec};

/// Default bound of exact distinct counting before switching to HyperLogLog.
pub const DEFAULT_EXACT_LIMIT: usize = 1_000;

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
    pub output: OutputSpec,
    /// The optional `[model]` table: a model scored on every per-event row.
    pub model: Option<ModelSpec>,
}

/// The validated `[model]` table. The model (file or server) is checked by
/// [`crate::Pipeline::new`], before any event is read.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub pattern: Pattern,
    /// Reported in each prediction: by default the file stem (embedded); for a server, the
    /// served model's name (required).
    pub name: String,
    /// Feature names in the order the model takes them (default, embedded only: the model's
    /// own names).
    pub inputs: Option<Vec<String>>,
    /// Where the model is: a file (embedded) or a server (external, side output).
    pub source: ModelSource,
    /// Side output only: how long an event waits for its score before it leaves unscored.
    pub deadline: Option<Duration>,
    /// The member of the per-event row that holds the prediction (default `prediction`).
    pub field: String,
}

/// Which of the inference patterns of DESIGN.md §4 the pipeline uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// In process, on the engine thread, every per-event row.
    Embedded,
    /// Every per-event row through an Open Inference Protocol server; the row waits for its
    /// score (or the fallback).
    External,
    /// The stream forks: rows go on and rejoin their scores within a deadline.
    SideOutput,
}

impl Pattern {
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Embedded => "embedded",
            Pattern::External => "external",
            Pattern::SideOutput => "side_output",
        }
    }
}

/// Where a `[model]` is.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// `.onnx` or an eddy snapshot `.json`; relative paths are resolved against the spec
    /// file's directory by [`PipelineSpec::from_file`].
    File(PathBuf),
    /// An Open Inference Protocol server and the client's settings (`url`, `model` = name).
    /// `input_set`/`datatype_set`: whether the spec chose the input tensor's name and wire
    /// type (otherwise the server's metadata does, when it answers at start).
    Server {
        cfg: Box<RemoteConfig>,
        input_set: bool,
        datatype_set: bool,
    },
}

impl ModelSpec {
    /// The model file, for the embedded pattern.
    pub fn path(&self) -> Option<&std::path::Path> {
        match &self.source {
            ModelSource::File(p) => Some(p),
            ModelSource::Server { .. } => None,
        }
    }
}

/// `[model]` keys that configure the client of a model server.
const SERVER_KEYS: &[&str] = &[
    "url",
    "input",
    "datatype",
    "score_output",
    "label_output",
    "max_batch",
    "max_wait",
    "max_in_flight",
    "capacity",
    "timeout",
    "max_retries",
    "backoff_base",
    "backoff_max",
    "breaker_failures",
    "breaker_cooldown",
    "fallback_score",
    "order",
    "deadline",
];

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
        let spec = v.pipeline(&table);
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
                if let (Some(m), Some(dir)) = (&mut spec.model, path.parent()) {
                    if let ModelSource::File(p) = &mut m.source {
                        if p.is_relative() {
                            *p = dir.join(&*p);
                        }
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
    /// paths (a hard link too: files are compared by identity). Checked after command-line
    /// overrides, before anything is opened for writing.
    pub fn check_paths(&self) -> Result<(), SpecErrors> {
        use crate::connector::file::FileId;
        use crate::connector::SinkIdentity;
        use crate::outputs::OutputKind;
        let Some(input) = self.source.connector.path() else {
            return Ok(());
        };
        let FileId::Inode { .. } = FileId::of(input) else {
            return Ok(()); // a missing input is reported when it is opened
        };
        let input = SinkIdentity::File(FileId::of(input));
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

impl Validator {
    fn pipeline(&mut self, t: &Table) -> Option<PipelineSpec> {
        self.unknown_keys(
            t,
            "",
            &[
                "source",
                "watermark",
                "allowed_lateness",
                "late_policy",
                "feature",
                "output",
                "model",
            ],
        );
        let mut interner = Interner::new();
        let src = match self.table(t, "", "source") {
            Some(s) => Some(s),
            None => {
                if !t.contains_key("source") {
                    self.err("source", "missing; expected a [source] table");
                }
                None
            }
        };
        let (source, schema) = match src {
            Some(s) => source::source(self, s, "source"),
            None => (None, Schema::new()),
        };

        // [watermark]
        let mut watermark = WatermarkConfig {
            max_out_of_orderness: 0,
            idle_timeout: None,
        };
        if let Some(w) = self.table(t, "", "watermark") {
            self.unknown_keys(w, "watermark", &["max_out_of_orderness", "idle_timeout"]);
            if let Some(d) = self.duration(w, "watermark", "max_out_of_orderness") {
                watermark.max_out_of_orderness = d;
            }
            if let Some(d) = self.duration(w, "watermark", "idle_timeout") {
                if d == 0 {
                    self.err(
                        "watermark.idle_timeout",
                        "must be > 0 (leave it out to never treat the source as idle)",
                    );
                } else {
                    watermark.idle_timeout = Some(d);
                }
            }
        }
        let allowed_lateness = self.duration(t, "", "allowed_lateness").unwrap_or(0);
        let late_policy = self
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

        // [[feature]]
        let mut features = Vec::new();
        match t.get("feature") {
            None => self.err(
                "feature",
                "missing; expected at least one [[feature]] entry",
            ),
            Some(Toml::Array(arr)) => {
                if arr.is_empty() {
                    self.err(
                        "feature",
                        "is empty; expected at least one [[feature]] entry",
                    );
                }
                let mut seen: BTreeMap<String, usize> = BTreeMap::new();
                for (i, f) in arr.iter().enumerate() {
                    let path = format!("feature[{i}]");
                    let Toml::Table(ft) = f else {
                        self.err(path, format!("expected a table, found {}", type_name(f)));
                        continue;
                    };
                    if let Some(Toml::String(name)) = ft.get("name") {
                        if let Some(first) = seen.get(name) {
                            self.err(
                                format!("{path}.name"),
                                format!("duplicate feature name `{name}` (first used by feature[{first}]); names must be unique"),
                            );
                        } else {
                            seen.insert(name.clone(), i);
                        }
                    }
                    if let Some(fs) = self.feature(ft, &path, &schema, &mut interner) {
                        features.push(fs);
                    }
                }
            }
            Some(v) => self.err(
                "feature",
                format!(
                    "expected an array of tables ([[feature]]), found {}",
                    type_name(v)
                ),
            ),
        }

        // [output]
        let output = match self.table(t, "", "output") {
            Some(o) => output::output(self, o, "output"),
            None => output::without_table(t.contains_key("output")),
        };

        let model = self.table(t, "", "model").and_then(|m| self.model(m));

        let engine = EngineConfig {
            allowed_lateness,
            late_policy,
        };
        Some(PipelineSpec {
            source: source?,
            schema,
            interner,
            features,
            engine,
            watermark,
            output,
            model,
        })
    }

    fn model(&mut self, m: &Table) -> Option<ModelSpec> {
        let p = "model";
        let mut known = vec!["pattern", "path", "name", "inputs", "field"];
        known.extend_from_slice(SERVER_KEYS);
        self.unknown_keys(m, p, &known);
        let pattern = if m.contains_key("pattern") {
            self.choice(
                m,
                p,
                "pattern",
                &[
                    ("embedded", Pattern::Embedded),
                    ("external", Pattern::External),
                    ("side_output", Pattern::SideOutput),
                ],
            )?
        } else {
            Pattern::Embedded
        };
        let name = self.string(m, p, "name");
        if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            self.err("model.name", "is empty; expected a name (or leave it out)");
        }
        let inputs = self.model_inputs(m);
        let field = self
            .string(m, p, "field")
            .unwrap_or_else(|| "prediction".into());
        if field.is_empty() || field == "features" || field == "scored" {
            self.err(
                "model.field",
                format!("`{field}`: expected a member name other than \"features\" and \"scored\""),
            );
        }
        let (source, name, deadline) = match pattern {
            Pattern::Embedded => {
                for k in SERVER_KEYS.iter().filter(|k| m.contains_key(**k)) {
                    self.err(
                        join(p, k),
                        "is a setting of a model server; set `pattern = \"external\"` or `\"side_output\"` to use one",
                    );
                }
                let path = PathBuf::from(self.required_string(
                    m,
                    p,
                    "path",
                    "the path of a .onnx or .json model",
                )?);
                let name = match name {
                    Some(n) => n,
                    None => path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "model".to_string()),
                };
                (ModelSource::File(path), name, None)
            }
            Pattern::External | Pattern::SideOutput => {
                if m.contains_key("path") {
                    self.err(
                        "model.path",
                        format!(
                            "pattern `{}` scores through a server: set `url` instead (or use `pattern = \"embedded\"`)",
                            pattern.as_str()
                        ),
                    );
                }
                if inputs.is_none() && !m.contains_key("inputs") {
                    self.err(
                        "model.inputs",
                        "missing; a server's metadata does not name features, so list the features the model takes, in order",
                    );
                }
                let cfg = self.server_config(m, pattern, name.as_deref().unwrap_or_default());
                let Some(name) = name else {
                    if !m.contains_key("name") {
                        self.err(
                            "model.name",
                            "missing; expected the served model's name (requests go to {url}/v2/models/{name}/infer)",
                        );
                    }
                    return None;
                };
                let deadline = match pattern {
                    Pattern::SideOutput => Some(Duration::from_millis(
                        self.duration(m, p, "deadline").unwrap_or(50).max(1) as u64,
                    )),
                    _ => None,
                };
                let source = ModelSource::Server {
                    cfg: Box::new(cfg?),
                    input_set: m.contains_key("input"),
                    datatype_set: m.contains_key("datatype"),
                };
                (source, name, deadline)
            }
        };
        Some(ModelSpec {
            pattern,
            name,
            inputs,
            source,
            deadline,
            field,
        })
    }

    fn model_inputs(&mut self, m: &Table) -> Option<Vec<String>> {
        match m.get("inputs") {
            None => None,
            Some(Toml::Array(arr)) => {
                if arr.is_empty() {
                    self.err("model.inputs", "is empty; expected feature names");
                }
                let mut names = Vec::with_capacity(arr.len());
                for (i, v) in arr.iter().enumerate() {
                    match v {
                        Toml::String(s) => names.push(s.clone()),
                        v => self.err(
                            format!("model.inputs[{i}]"),
                            format!("expected a feature name, found {}", type_name(v)),
                        ),
                    }
                }
                Some(names)
            }
            Some(v) => {
                self.err(
                    "model.inputs",
                    format!("expected an array of feature names, found {}", type_name(v)),
                );
                None
            }
        }
    }

    /// The client settings of `pattern = "external"` / `"side_output"`.
    fn server_config(&mut self, m: &Table, pattern: Pattern, name: &str) -> Option<RemoteConfig> {
        let p = "model";
        let url = self.required_string(
            m,
            p,
            "url",
            "the server's base URL, e.g. \"http://127.0.0.1:8080\"",
        );
        if let Some(u) = &url {
            if !u.starts_with("http://") {
                self.err(
                    "model.url",
                    format!("`{u}`: expected a plain-HTTP URL starting with http://"),
                );
            }
        }
        let mut cfg = RemoteConfig::new(url.clone().unwrap_or_default(), name);
        if let Some(s) = self.string(m, p, "input") {
            cfg.input = s;
        }
        if let Some(s) = self.string(m, p, "score_output") {
            cfg.score_output = s;
        }
        cfg.label_output = self.string(m, p, "label_output");
        if let Some(d) = self.choice(
            m,
            p,
            "datatype",
            &[("fp64", WireType::Fp64), ("fp32", WireType::Fp32)],
        ) {
            cfg.datatype = d;
        }
        let ms = |v: i64| Duration::from_millis(v as u64);
        if let Some(n) = self.positive_int(m, p, "max_batch") {
            cfg.max_batch = n;
        }
        if let Some(d) = self.duration(m, p, "max_wait") {
            cfg.max_wait = ms(d);
        }
        if let Some(n) = self.positive_int(m, p, "max_in_flight") {
            cfg.max_in_flight = n;
        }
        if let Some(n) = self.positive_int(m, p, "capacity") {
            cfg.capacity = n;
        }
        if let Some(d) = self.duration(m, p, "timeout") {
            if d == 0 {
                self.err("model.timeout", "is 0; expected a duration such as \"1s\"");
            }
            cfg.timeout = ms(d);
        }
        if let Some(n) = self.count(m, p, "max_retries") {
            cfg.max_retries = n.min(u32::MAX as usize) as u32;
        }
        if let Some(d) = self.duration(m, p, "backoff_base") {
            cfg.backoff_base = ms(d);
        }
        if let Some(d) = self.duration(m, p, "backoff_max") {
            cfg.backoff_max = ms(d);
        }
        if let Some(n) = self.count(m, p, "breaker_failures") {
            cfg.breaker_failures = n.min(u32::MAX as usize) as u32;
        }
        if let Some(d) = self.duration(m, p, "breaker_cooldown") {
            cfg.breaker_cooldown = ms(d);
        }
        match m.get("fallback_score") {
            None => {}
            Some(Toml::Float(f)) if f.is_finite() => cfg.fallback_score = *f,
            Some(Toml::Integer(i)) => cfg.fallback_score = *i as f64,
            Some(v) => self.err(
                "model.fallback_score",
                format!("expected a finite number, found {}", type_name(v)),
            ),
        }
        match pattern {
            Pattern::SideOutput => {
                if m.contains_key("order") {
                    self.err(
                        "model.order",
                        "only for pattern `external`: side-output rows always leave in input order",
                    );
                }
                // Scores are wanted as soon as they arrive; rows keep their order at the join.
                cfg.mode = EmitMode::Unordered;
            }
            _ => {
                if m.contains_key("deadline") {
                    self.err(
                        "model.deadline",
                        "only for pattern `side_output`: an external call waits for its score (bounded by timeout and retries)",
                    );
                }
                if let Some(o) = self.choice(
                    m,
                    p,
                    "order",
                    &[
                        ("ordered", EmitMode::Ordered),
                        ("unordered", EmitMode::Unordered),
                    ],
                ) {
                    cfg.mode = o;
                }
            }
        }
        url.map(|_| cfg)
    }

    fn feature(
        &mut self,
        t: &Table,
        path: &str,
        schema: &Schema,
        interner: &mut Interner,
    ) -> Option<FeatureSpec> {
        self.unknown_keys(
            t,
            path,
            &[
                "name",
                "agg",
                "field",
                "window",
                "where",
                "n",
                "unit",
                "exact_limit",
            ],
        );
        let n_errors = self.error_count();
        let name = self.required_string(t, path, "name", "a feature name");
        if let Some(n) = &name {
            if !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            {
                self.err(
                    join(path, "name"),
                    format!("`{n}` has characters other than letters, digits, `_`, `-` and `.`"),
                );
            }
        }
        let agg_name = self.required_string(t, path, "agg", "an aggregation");
        let mut agg = None;
        if let Some(a) = agg_name.as_deref() {
            let only = |v: &mut Validator, key: &str, agg: &str| {
                if t.contains_key(key) {
                    v.err(join(path, key), format!("only applies to agg = {agg}"));
                }
            };
            if a != "last_n" {
                only(self, "n", "\"last_n\"");
            }
            if a != "rate" {
                only(self, "unit", "\"rate\"");
            }
            if a != "distinct_count" {
                only(self, "exact_limit", "\"distinct_count\"");
            }
            agg = match a {
                "count" => Some(AggKind::Count),
                "sum" => Some(AggKind::Sum),
                "mean" | "avg" => Some(AggKind::Mean),
                "min" => Some(AggKind::Min),
                "max" => Some(AggKind::Max),
                "variance" => Some(AggKind::Variance),
                "stddev" => Some(AggKind::Stddev),
                "distinct_count" => {
                    let exact_limit = if t.contains_key("exact_limit") {
                        self.positive_int(t, path, "exact_limit")
                    } else {
                        Some(DEFAULT_EXACT_LIMIT)
                    };
                    exact_limit.map(|exact_limit| AggKind::DistinctCount { exact_limit })
                }
                "last_n" => {
                    if !t.contains_key("n") {
                        self.err(join(path, "n"), "missing; agg = \"last_n\" needs n >= 1");
                        None
                    } else {
                        self.positive_int(t, path, "n")
                            .map(|n| AggKind::LastN { n })
                    }
                }
                "rate" => {
                    let unit = if t.contains_key("unit") {
                        self.choice(
                            t,
                            path,
                            "unit",
                            &[
                                ("second", RateUnit::Second),
                                ("minute", RateUnit::Minute),
                                ("hour", RateUnit::Hour),
                            ],
                        )
                    } else {
                        Some(RateUnit::Second)
                    };
                    unit.map(|unit| AggKind::Rate { unit })
                }
                "recency" => Some(AggKind::Recency),
                other => {
                    self.err(
                        join(path, "agg"),
                        format!("unknown aggregation `{other}`; expected one of: count, sum, mean, min, max, variance, stddev, distinct_count, last_n, rate, recency"),
                    );
                    None
                }
            };
        }

        // field
        let field_name = self.string(t, path, "field");
        let mut field = None;
        if let Some(agg) = agg {
            match (&field_name, agg.needs_field()) {
                (None, true) => self.err(
                    join(path, "field"),
                    format!(
                        "missing; agg = \"{}\" reads a field",
                        agg_name.as_deref().unwrap_or("")
                    ),
                ),
                (Some(_), false) => self.err(
                    join(path, "field"),
                    format!(
                        "agg = \"{}\" reads no field; remove `field` (use `where` to select events)",
                        agg_name.as_deref().unwrap_or("")
                    ),
                ),
                (Some(f), true) => match schema.field_id(f) {
                    None => self.err(
                        join(path, "field"),
                        format!("unknown field `{f}`; declare it in [source.fields]"),
                    ),
                    Some(id) => {
                        let ty = schema.field_type(id);
                        if agg.needs_numeric() && !matches!(ty, FieldType::Int | FieldType::Float)
                        {
                            self.err(
                                join(path, "field"),
                                format!(
                                    "field `{f}` is {}; agg = \"{}\" needs an int or float field",
                                    match ty {
                                        FieldType::Bool => "bool",
                                        FieldType::String => "string",
                                        _ => "numeric",
                                    },
                                    agg_name.as_deref().unwrap_or("")
                                ),
                            );
                        } else {
                            field = Some(id);
                        }
                    }
                },
                (None, false) => {}
            }
        }

        // where
        let mut filter = None;
        if let Some(expr) = self.string(t, path, "where") {
            match Filter::parse(&expr, schema, interner) {
                Ok(f) => filter = Some(f),
                Err(e) => self.err(join(path, "where"), e.to_string()),
            }
        }

        // window
        let wpath = join(path, "window");
        let window = match t.get("window") {
            None => {
                self.err(
                    &wpath,
                    "missing; expected a table such as { kind = \"tumbling\", size = \"1m\" }",
                );
                None
            }
            Some(Toml::Table(w)) => self.window(w, &wpath),
            Some(v) => {
                self.err(&wpath, format!("expected a table, found {}", type_name(v)));
                None
            }
        };

        if let (Some(AggKind::Rate { .. }), Some(WindowSpec::Global { .. })) = (agg, window) {
            self.err(
                join(path, "window.kind"),
                "agg = \"rate\" divides by the window length; use a tumbling, sliding or session window, not global",
            );
        }
        if self.error_count() != n_errors {
            return None;
        }
        Some(FeatureSpec {
            name: name?,
            agg: agg?,
            field,
            window: window?,
            filter,
        })
    }

    fn window(&mut self, w: &Table, path: &str) -> Option<WindowSpec> {
        const KINDS: &str = "tumbling, sliding, session, global";
        let kind = match w.get("kind") {
            None => {
                self.err(
                    join(path, "kind"),
                    format!("missing; expected one of: {KINDS}"),
                );
                return None;
            }
            Some(_) => self.string(w, path, "kind")?,
        };
        let allowed: &[&str] = match kind.as_str() {
            "tumbling" => &["kind", "size", "offset"],
            "sliding" => &["kind", "size", "slide", "offset"],
            "session" => &["kind", "gap"],
            "global" => &["kind", "trigger", "purge"],
            other => {
                self.err(
                    join(path, "kind"),
                    format!("unknown window kind `{other}`; expected one of: {KINDS}"),
                );
                return None;
            }
        };
        for k in w.keys() {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    join(path, k),
                    format!(
                        "unknown key for a {kind} window; expected one of: {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
        let errs = self.error_count();
        let required_positive = |v: &mut Validator, key: &str| -> Option<i64> {
            let p = join(path, key);
            if !w.contains_key(key) {
                v.err(
                    p,
                    format!("missing; a {kind} window needs a {key} such as \"5m\""),
                );
                return None;
            }
            let d = v.duration(w, path, key)?;
            if d <= 0 {
                v.err(p, format!("{key} must be > 0"));
                return None;
            }
            Some(d)
        };
        let offset = |v: &mut Validator, size: Option<i64>| -> Option<i64> {
            let p = join(path, "offset");
            let off = match w.get("offset") {
                None => 0,
                Some(Toml::String(s)) => {
                    let (neg, body) = match s.trim().strip_prefix('-') {
                        Some(b) => (true, b),
                        None => (false, s.trim()),
                    };
                    match parse_duration(body) {
                        Ok(d) => {
                            if neg {
                                -d
                            } else {
                                d
                            }
                        }
                        Err(_) => {
                            v.err(
                                p,
                                format!(
                                    "`{s}` is not a duration; expected e.g. \"15m\" or \"-15m\""
                                ),
                            );
                            return None;
                        }
                    }
                }
                Some(Toml::Integer(0)) => 0,
                Some(x) => {
                    v.err(
                        p,
                        format!(
                            "expected a duration string such as \"15m\" or \"-15m\", found {}",
                            type_name(x)
                        ),
                    );
                    return None;
                }
            };
            if let Some(size) = size {
                if off.abs() >= size {
                    v.err(
                        p,
                        format!(
                            "offset ({}) must be smaller than size ({}) in absolute value",
                            format_duration(off),
                            format_duration(size)
                        ),
                    );
                    return None;
                }
            }
            Some(off)
        };
        let spec = match kind.as_str() {
            "tumbling" => {
                let size = required_positive(self, "size");
                let off = offset(self, size);
                WindowSpec::Tumbling {
                    size: size?,
                    offset: off?,
                }
            }
            "sliding" => {
                let size = required_positive(self, "size");
                let slide = required_positive(self, "slide");
                if let (Some(size), Some(slide)) = (size, slide) {
                    if slide > size {
                        self.err(
                            join(path, "slide"),
                            format!(
                                "slide ({}) is larger than size ({}); expected slide <= size",
                                format_duration(slide),
                                format_duration(size)
                            ),
                        );
                    }
                }
                let off = offset(self, slide);
                WindowSpec::Sliding {
                    size: size?,
                    slide: slide?,
                    offset: off?,
                }
            }
            "session" => WindowSpec::Session {
                gap: required_positive(self, "gap")?,
            },
            _ => {
                let trigger = match w.get("trigger") {
                    None => Some(Trigger::EveryEvent),
                    Some(Toml::String(s)) => parse_trigger(s).or_else(|| {
                        self.err(
                            join(path, "trigger"),
                            format!("unknown trigger `{s}`; expected \"each_event\", \"every N events\" (N >= 1) or \"every DURATION\" (e.g. \"every 1h\")"),
                        );
                        None
                    }),
                    Some(v) => {
                        self.err(
                            join(path, "trigger"),
                            format!("expected a string such as \"each_event\", found {}", type_name(v)),
                        );
                        None
                    }
                };
                let purge = match w.get("purge") {
                    None => Some(false),
                    Some(Toml::Boolean(b)) => Some(*b),
                    Some(v) => {
                        self.err(
                            join(path, "purge"),
                            format!("expected true or false, found {}", type_name(v)),
                        );
                        None
                    }
                };
                WindowSpec::Global {
                    trigger: trigger?,
                    purge: purge?,
                }
            }
        };
        if self.error_count() != errs {
            return None;
        }
        if let Err(e) = spec.validate() {
            self.err(path, e.to_string());
            return None;
        }
        Some(spec)
    }
}

/// `each_event` | `every N events` | `every DURATION`.
fn parse_trigger(s: &str) -> Option<Trigger> {
    let s = s.trim();
    if s == "each_event" {
        return Some(Trigger::EveryEvent);
    }
    let rest = s.strip_prefix("every ")?.trim();
    if let Some(n) = rest
        .strip_suffix(" events")
        .or_else(|| rest.strip_suffix(" event"))
    {
        let n: u64 = n.trim().parse().ok()?;
        return (n >= 1).then_some(Trigger::Count(n));
    }
    match parse_duration(rest) {
        Ok(d) if d > 0 => Some(Trigger::EventTime(d)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
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

    fn errors(text: &str) -> SpecErrors {
        match PipelineSpec::parse(text) {
            Ok(_) => panic!("spec was accepted:\n{text}"),
            Err(e) => e,
        }
    }

    fn with_feature(feature: &str) -> String {
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
    fn triggers_parse() {
        assert_eq!(parse_trigger("each_event"), Some(Trigger::EveryEvent));
        assert_eq!(parse_trigger("every 100 events"), Some(Trigger::Count(100)));
        assert_eq!(parse_trigger("every 0 events"), None);
        assert_eq!(parse_trigger("sometimes"), None);
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
    fn unknown_window_key() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "c"
agg = "count"
window = { kind = "tumbling", size = "1m", slide = "1m" }"#,
        ));
        assert!(e.has_path("feature[0].window.slide"), "{e}");
    }

    #[test]
    fn zero_and_negative_sizes() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "tumbling", size = "0s" }
[[feature]]
name = "b"
agg = "count"
window = { kind = "sliding", size = "-5m", slide = "1m" }
[[feature]]
name = "c"
agg = "count"
window = { kind = "session", gap = 0 }"#,
        ));
        assert!(e.has_path("feature[0].window.size"), "{e}");
        assert!(e.has_path("feature[1].window.size"), "{e}");
        assert!(e.has_path("feature[2].window.gap"), "{e}");
    }

    #[test]
    fn slide_larger_than_size() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "sliding", size = "5m", slide = "10m" }"#,
        ));
        let msg = e.to_string();
        assert!(
            msg.contains("feature[0].window.slide: slide (10m) is larger than size (5m)"),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_feature_names() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "tumbling", size = "1m" }
[[feature]]
name = "a"
agg = "count"
window = { kind = "tumbling", size = "5m" }"#,
        ));
        assert!(e.has_path("feature[1].name"), "{e}");
        assert!(e.to_string().contains("duplicate"), "{e}");
    }

    #[test]
    fn unknown_field_in_filter() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
where = 'colour == "red"'
window = { kind = "tumbling", size = "1m" }"#,
        ));
        assert!(e.has_path("feature[0].where"), "{e}");
    }

    #[test]
    fn wrong_types() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = 5
agg = "mean"
field = "event_type"
window = { kind = "tumbling", size = 60 }
[[feature]]
name = "n"
agg = "last_n"
n = "ten"
field = "event_type"
window = { kind = "session", gap = "30m" }"#,
        ));
        assert!(e.has_path("feature[0].name"), "{e}");
        assert!(e.has_path("feature[0].field"), "{e}");
        assert!(e.has_path("feature[0].window.size"), "{e}");
        assert!(e.has_path("feature[1].n"), "{e}");
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
    fn rate_needs_a_time_window() {
        let e = errors(&with_feature(
            r#"[[feature]]
name = "r"
agg = "rate"
window = { kind = "global" }"#,
        ));
        assert!(e.has_path("feature[0].window.kind"), "{e}");
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
    fn model_table() {
        let base = with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "tumbling", size = "1m" }"#,
        );
        let s = PipelineSpec::parse(&format!("{base}[model]\npath = \"m/fraud.onnx\"\n")).unwrap();
        let m = s.model.unwrap();
        assert_eq!(m.path(), Some(std::path::Path::new("m/fraud.onnx")));
        assert_eq!(m.pattern, Pattern::Embedded);
        assert_eq!(m.name, "fraud");
        assert_eq!(m.inputs, None);
        assert!(PipelineSpec::parse(&base).unwrap().model.is_none());
        let e = errors(&format!(
            "{base}[model]\nname = \"\"\ninputs = [\"a\", 3]\nbatch = 2\n"
        ));
        assert!(e.has_path("model.path"), "{e}");
        assert!(e.has_path("model.name"), "{e}");
        assert!(e.has_path("model.inputs[1]"), "{e}");
        assert!(e.has_path("model.batch"), "{e}");
        let e = errors(&format!(
            "{base}[model]\npath = \"m.json\"\ninputs = \"a\"\n"
        ));
        assert!(e.has_path("model.inputs"), "{e}");
    }

    #[test]
    fn model_server_patterns() {
        let base = with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "tumbling", size = "1m" }"#,
        );
        let s = PipelineSpec::parse(&format!(
            "{base}[model]\npattern = \"side_output\"\nurl = \"http://h:1\"\nname = \"m\"\ninputs = [\"a\"]\ndeadline = \"20ms\"\nmax_batch = 16\nmax_retries = 0\nfallback_score = 1\n"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let m = s.model.unwrap();
        assert_eq!(m.pattern, Pattern::SideOutput);
        assert_eq!(m.deadline, Some(Duration::from_millis(20)));
        let ModelSource::Server { cfg, input_set, .. } = &m.source else {
            panic!("not a server")
        };
        assert_eq!((cfg.url.as_str(), cfg.model.as_str()), ("http://h:1", "m"));
        assert_eq!(
            (cfg.max_batch, cfg.max_retries, cfg.fallback_score),
            (16, 0, 1.0)
        );
        assert_eq!(cfg.mode, EmitMode::Unordered);
        assert!(!input_set);
        // Server keys without a server pattern; a path with one; missing url, name, inputs.
        let e = errors(&format!(
            "{base}[model]\npath = \"m.onnx\"\nurl = \"http://h:1\"\ndeadline = \"1s\"\n"
        ));
        assert!(
            e.has_path("model.url") && e.has_path("model.deadline"),
            "{e}"
        );
        let e = errors(&format!(
            "{base}[model]\npattern = \"external\"\npath = \"m.onnx\"\n"
        ));
        for p in ["model.path", "model.url", "model.name", "model.inputs"] {
            assert!(e.has_path(p), "{p}: {e}");
        }
        // Settings that belong to the other server pattern; bad values.
        let e = errors(&format!(
            "{base}[model]\npattern = \"external\"\nurl = \"https://h\"\nname = \"m\"\ninputs = [\"a\"]\ndeadline = \"1s\"\nmax_batch = 0\nmax_retries = -1\ntimeout = 0\norder = \"random\"\nfallback_score = \"x\"\n"
        ));
        for p in [
            "model.url",
            "model.deadline",
            "model.max_batch",
            "model.max_retries",
            "model.timeout",
            "model.order",
            "model.fallback_score",
        ] {
            assert!(e.has_path(p), "{p}: {e}");
        }
        let e = errors(&format!(
            "{base}[model]\npattern = \"side_output\"\nurl = \"http://h\"\nname = \"m\"\ninputs = [\"a\"]\norder = \"ordered\"\n"
        ));
        assert!(e.has_path("model.order"), "{e}");
        let e = errors(&format!("{base}[model]\npattern = \"remote\"\n"));
        assert!(e.has_path("model.pattern"), "{e}");
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
