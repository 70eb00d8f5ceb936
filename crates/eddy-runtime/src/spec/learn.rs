//! The optional `[learn]` table: the model that learns inside the pipeline, its inputs, where
//! its labels come from (a field of the event, or a label stream joined by event id), how it
//! learns (mini-batches), adapts to drift, is compared with a frozen baseline, and is
//! snapshotted. The model and its files are checked by [`crate::Pipeline::new`], before any
//! event is read; this module checks the table's shape and the fields it names.

use std::path::PathBuf;

use eddy_core::time::TimestampFormat;
use eddy_core::{FieldType, Schema};
use eddy_learn::registry::Params;
use toml::{Table, Value as Toml};

use super::source::{source_connector, timestamp_format, InputFormat};
use crate::check::{join, type_name, Validator};
use crate::connector::SourceConfig;

/// The validated `[learn]` table.
#[derive(Debug, Clone)]
pub struct LearnSpec {
    pub model: LearnModel,
    /// Numeric features the model takes, in order (`None`: every numeric feature).
    pub inputs: Option<Vec<String>>,
    /// String fields of the event given to the model as categories, after the inputs.
    pub categories: Vec<String>,
    /// A recommender's (`biased_mf`, `funk_mf`) user and item fields (strings; either may
    /// be the entity key).
    pub user: Option<String>,
    pub item: Option<String>,
    /// The value a null input (an empty window's mean, say) is given; `None`: the row is
    /// not scored, and not learned.
    pub fill_null: Option<f64>,
    pub labels: LabelSource,
    /// How long (event time) a scored example waits for its label.
    pub ttl: i64,
    /// The label an example that waited `ttl` is learned with (`None`: it expires).
    pub default: Option<LabelValue>,
    /// The most examples waiting for labels (and labels waiting for their events); beyond
    /// it the oldest expires early (counted).
    pub max_pending: usize,
    /// Examples learned together in one `learn_many` step (1: `learn_one`).
    pub batch_size: usize,
    /// A partial mini-batch is learned once its first example is this old (event time).
    pub batch_interval: Option<i64>,
    /// A learning-log row every this many labelled examples.
    pub log_every: u64,
    pub drift: Option<DriftSpec>,
    pub baseline: Option<BaselineSpec>,
    pub promotion: PromotionSpec,
    pub snapshots: Option<SnapshotSpec>,
}

/// Which model learns.
#[derive(Debug, Clone, PartialEq)]
pub enum LearnModel {
    /// A fresh model by its registry name, with River's parameter names.
    Build { name: String, params: Params },
    /// A snapshot made by `eddy learn --save` (or by a run's `[learn.snapshots]`).
    Init(PathBuf),
}

/// Where labels come from.
#[derive(Debug, Clone)]
pub enum LabelSource {
    /// A declared field of the event: scored, then learned from (test-then-train).
    Field(String),
    /// A second source of `{id, label, timestamp}` records, joined by event id.
    Stream(LabelStreamSpec),
}

/// `[learn.labels]`: the label stream.
#[derive(Debug, Clone)]
pub struct LabelStreamSpec {
    pub connector: SourceConfig,
    pub format: InputFormat,
    /// The field holding the event id (the events' is `source.event_id`).
    pub id: String,
    pub label: String,
    /// The time the label became known (event time).
    pub timestamp: String,
    pub timestamp_format: TimestampFormat,
}

/// A label as written in the spec (`default`).
#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue {
    Num(f64),
    Text(String),
}

/// What runs when the detector finds a drift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DriftAction {
    None,
    /// Learning rate times `factor` for the next `examples` examples.
    Boost {
        factor: f64,
        examples: u64,
    },
    /// A fresh model trained on the examples since the drift (at most `replay`), swapped in
    /// when it beats the current one on the newest `holdout` of them.
    Retrain {
        replay: usize,
        holdout: usize,
    },
    /// A fresh model.
    Reset,
}

/// `[learn.drift]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftSpec {
    /// The detector's name and River parameters (eddy-learn's `drift::build`).
    pub detector: String,
    pub params: Params,
    pub action: DriftAction,
}

/// How the baseline and the online model share the traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AbMode {
    /// Both score every event; the serving one's score is the prediction.
    Shadow,
    /// Keys are routed by hash: `online` of them to the online model.
    Split { online: f64 },
}

/// `[learn.baseline]`: a frozen model (ONNX or snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineSpec {
    pub path: PathBuf,
    /// Features it takes, in order (default: its declared names, else `learn.inputs`).
    pub inputs: Option<Vec<String>>,
    pub mode: AbMode,
}

/// `[learn.promotion]`: when the online model starts (and stops) serving.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionSpec {
    /// The metric compared (`accuracy`, `log_loss`, `mae`, `rmse`).
    pub metric: Option<String>,
    pub min_examples: u64,
    pub confidence: f64,
    pub rollback: bool,
}

/// `[learn.snapshots]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSpec {
    pub dir: PathBuf,
    /// A snapshot every this many labelled examples, and/or this much event time.
    pub every: Option<u64>,
    pub interval: Option<i64>,
    /// Start from the directory's latest snapshot when there is one.
    pub resume: bool,
}

const KEYS: &[&str] = &[
    "model",
    "params",
    "init",
    "inputs",
    "categories",
    "user",
    "item",
    "fill_null",
    "label",
    "labels",
    "ttl",
    "default",
    "max_pending",
    "batch_size",
    "batch_interval",
    "log_every",
    "drift",
    "baseline",
    "promotion",
    "snapshots",
];

/// Validates `[learn]` at `path` against the declared fields.
pub(super) fn learn(
    v: &mut Validator,
    t: &Table,
    path: &str,
    schema: &Schema,
    event_id: Option<&str>,
    key: Option<&str>,
) -> Option<LearnSpec> {
    v.unknown_keys(t, path, KEYS);
    let model = match (v.string(t, path, "model"), v.string(t, path, "init")) {
        (Some(name), None) => {
            let params = params(v, t, path);
            Some(LearnModel::Build { name, params })
        }
        (None, Some(p)) => {
            if t.contains_key("params") {
                v.err(
                    join(path, "params"),
                    "a snapshot (`init`) keeps its own parameters; leave `params` out",
                );
            }
            Some(LearnModel::Init(PathBuf::from(p)))
        }
        (Some(_), Some(_)) => {
            v.err(
                join(path, "init"),
                "give either `model` (a fresh model) or `init` (a snapshot), not both",
            );
            None
        }
        (None, None) => {
            if !t.contains_key("model") && !t.contains_key("init") {
                v.err(
                    join(path, "model"),
                    "missing; expected a model name (e.g. \"logistic_regression\") or `init` = a snapshot",
                );
            }
            None
        }
    };
    let inputs = names(v, t, path, "inputs");
    let categories = names(v, t, path, "categories").unwrap_or_default();
    for (i, c) in categories.iter().enumerate() {
        declared(v, schema, &format!("{path}.categories[{i}]"), c, |ty| {
            (ty == FieldType::String).then_some(()).ok_or("a string")
        });
    }
    let (user, item) = (v.string(t, path, "user"), v.string(t, path, "item"));
    for (k, f) in [("user", &user), ("item", &item)] {
        if let Some(f) = f.as_deref().filter(|f| Some(*f) != key) {
            declared(v, schema, &join(path, k), f, |ty| {
                (ty == FieldType::String).then_some(()).ok_or("a string")
            });
        }
    }
    let fill_null = match t.get("fill_null") {
        None => None,
        Some(Toml::Integer(i)) => Some(*i as f64),
        Some(Toml::Float(f)) if f.is_finite() => Some(*f),
        Some(other) => {
            v.err(
                join(path, "fill_null"),
                format!("expected a finite number, found {other}"),
            );
            None
        }
    };
    let labels = match (v.string(t, path, "label"), v.table(t, path, "labels")) {
        (Some(f), None) => {
            declared(v, schema, &join(path, "label"), &f, |_| Ok(()));
            Some(LabelSource::Field(f))
        }
        (None, Some(lt)) => {
            if event_id.is_none() {
                v.err(
                    join(path, "labels"),
                    "a label stream is joined by event id: set source.event_id",
                );
            }
            label_stream(v, lt, &join(path, "labels")).map(LabelSource::Stream)
        }
        (Some(_), Some(_)) => {
            v.err(
                join(path, "labels"),
                "give either `label` (a field of the event) or [learn.labels] (a label stream), not both",
            );
            None
        }
        (None, None) => {
            if !t.contains_key("label") && !t.contains_key("labels") {
                v.err(
                    join(path, "label"),
                    "missing; expected the event field holding the label, or a [learn.labels] stream",
                );
            }
            None
        }
    };
    let stream = matches!(labels, Some(LabelSource::Stream(_)));
    for key in ["ttl", "default", "max_pending"] {
        if !stream && t.contains_key(key) {
            v.err(
                join(path, key),
                "only for a label stream ([learn.labels]); an in-event label is learned at once",
            );
        }
    }
    let ttl = match v.duration(t, path, "ttl") {
        Some(0) => {
            v.err(join(path, "ttl"), "must be > 0");
            0
        }
        Some(d) => d,
        None => 3_600_000,
    };
    let default = t.get("default").and_then(|d| match d {
        Toml::Integer(i) => Some(LabelValue::Num(*i as f64)),
        Toml::Float(f) if f.is_finite() => Some(LabelValue::Num(*f)),
        Toml::Boolean(b) => Some(LabelValue::Num(f64::from(u8::from(*b)))),
        Toml::String(s) => Some(LabelValue::Text(s.clone())),
        other => {
            v.err(
                join(path, "default"),
                format!(
                    "expected a label (a finite number, a boolean or a string), found {}",
                    type_name(other)
                ),
            );
            None
        }
    });
    let max_pending = v.positive_int(t, path, "max_pending").unwrap_or(1_000_000);
    let batch_size = v.positive_int(t, path, "batch_size").unwrap_or(1);
    let batch_interval = v.duration(t, path, "batch_interval");
    let log_every = v.positive_int(t, path, "log_every").unwrap_or(1000) as u64;
    let drift = v
        .table(t, path, "drift")
        .and_then(|d| drift(v, d, &join(path, "drift")));
    let baseline = v
        .table(t, path, "baseline")
        .and_then(|b| baseline(v, b, &join(path, "baseline")));
    let promotion = match v.table(t, path, "promotion") {
        Some(p) => {
            if baseline.is_none() {
                v.err(
                    join(path, "promotion"),
                    "compares the online model with a baseline: add [learn.baseline]",
                );
            }
            promotion(v, p, &join(path, "promotion"))
        }
        None => PromotionSpec {
            metric: None,
            min_examples: 1000,
            confidence: 0.95,
            rollback: true,
        },
    };
    let snapshots = v
        .table(t, path, "snapshots")
        .and_then(|s| snapshots(v, s, &join(path, "snapshots")));
    Some(LearnSpec {
        model: model?,
        inputs,
        categories,
        user,
        item,
        fill_null,
        labels: labels?,
        ttl,
        default,
        max_pending,
        batch_size,
        batch_interval,
        log_every,
        drift,
        baseline,
        promotion,
        snapshots,
    })
}

/// A boolean at `key` (`default` when absent, or wrong: reported).
fn boolean(v: &mut Validator, t: &Table, path: &str, key: &str, default: bool) -> bool {
    match t.get(key) {
        None => default,
        Some(Toml::Boolean(b)) => *b,
        Some(other) => {
            v.err(
                join(path, key),
                format!("expected true or false, found {}", type_name(other)),
            );
            default
        }
    }
}

/// `[learn.params]`: River's parameter names, values as written.
fn params(v: &mut Validator, t: &Table, path: &str) -> Params {
    let mut out = Params::new();
    let Some(p) = v.table(t, path, "params") else {
        return out;
    };
    for (k, val) in p {
        let text = match val {
            Toml::String(s) => s.clone(),
            Toml::Integer(i) => i.to_string(),
            Toml::Float(f) => f.to_string(),
            Toml::Boolean(b) => b.to_string(),
            other => {
                v.err(
                    join(&join(path, "params"), k),
                    format!(
                        "expected a number, boolean or string, found {}",
                        type_name(other)
                    ),
                );
                continue;
            }
        };
        out.insert(k.clone(), text);
    }
    out
}

/// An array of names at `key` (`None` when absent).
fn names(v: &mut Validator, t: &Table, path: &str, key: &str) -> Option<Vec<String>> {
    let at = join(path, key);
    match t.get(key)? {
        Toml::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, x) in a.iter().enumerate() {
                match x {
                    Toml::String(s) if !s.is_empty() => out.push(s.clone()),
                    other => v.err(
                        format!("{at}[{i}]"),
                        format!("expected a name, found {}", type_name(other)),
                    ),
                }
            }
            if out.is_empty() && key == "inputs" {
                v.err(
                    at,
                    "is empty; list the features the model takes (or leave it out)",
                );
                return None;
            }
            Some(out)
        }
        other => {
            v.err(
                at,
                format!("expected an array of names, found {}", type_name(other)),
            );
            None
        }
    }
}

/// Checks that `name` is a declared field whose type `ok` accepts.
fn declared(
    v: &mut Validator,
    schema: &Schema,
    at: &str,
    name: &str,
    ok: impl Fn(FieldType) -> Result<(), &'static str>,
) {
    match schema.field_id(name) {
        None => v.err(
            at,
            format!("`{name}` is not a declared field; declare it in [source.fields]"),
        ),
        Some(f) => {
            if let Err(want) = ok(schema.field_type(f)) {
                v.err(at, format!("`{name}` must be {want}"));
            }
        }
    }
}

fn label_stream(v: &mut Validator, t: &Table, path: &str) -> Option<LabelStreamSpec> {
    const OWN: &[&str] = &["format", "id", "label", "timestamp", "timestamp_format"];
    let connector = source_connector(v, t, path, OWN);
    let format = if t.contains_key("format") {
        v.choice(
            t,
            path,
            "format",
            &[("jsonl", InputFormat::Jsonl), ("csv", InputFormat::Csv)],
        )
    } else {
        Some(InputFormat::Jsonl)
    };
    let timestamp_format = timestamp_format(v, t, path);
    Some(LabelStreamSpec {
        connector: connector?,
        format: format?,
        id: v.string(t, path, "id").unwrap_or_else(|| "event_id".into()),
        label: v.string(t, path, "label").unwrap_or_else(|| "label".into()),
        timestamp: v
            .string(t, path, "timestamp")
            .unwrap_or_else(|| "ts".into()),
        timestamp_format: timestamp_format?,
    })
}

fn drift(v: &mut Validator, t: &Table, path: &str) -> Option<DriftSpec> {
    v.unknown_keys(
        t,
        path,
        &[
            "detector",
            "params",
            "action",
            "boost_factor",
            "boost_examples",
            "replay",
            "holdout",
        ],
    );
    let detector = v
        .string(t, path, "detector")
        .unwrap_or_else(|| "adwin".into());
    let params = params(v, t, path);
    if let Err(e) = eddy_learn::drift::build(&detector, &params) {
        v.err(join(path, "detector"), e.to_string());
    }
    let action = v.choice(
        t,
        path,
        "action",
        &[("none", 0u8), ("boost", 1), ("retrain", 2), ("reset", 3)],
    );
    let own = |k: &str| t.contains_key(k);
    let action = match action.unwrap_or(if own("action") { 255 } else { 0 }) {
        0 => DriftAction::None,
        1 => {
            let factor = match t.get("boost_factor") {
                None => 10.0,
                Some(Toml::Integer(i)) if *i > 0 => *i as f64,
                Some(Toml::Float(f)) if *f > 0.0 && f.is_finite() => *f,
                Some(other) => {
                    v.err(
                        join(path, "boost_factor"),
                        format!("expected a number > 0, found {other}"),
                    );
                    10.0
                }
            };
            let examples = v.positive_int(t, path, "boost_examples").unwrap_or(1000) as u64;
            DriftAction::Boost { factor, examples }
        }
        2 => {
            let replay = v.positive_int(t, path, "replay").unwrap_or(5000);
            let holdout = v.positive_int(t, path, "holdout").unwrap_or(100);
            if 2 * holdout > replay {
                v.err(
                    join(path, "holdout"),
                    format!("{holdout} is more than half of `replay` ({replay}): a retrain needs twice the holdout to train on"),
                );
            }
            DriftAction::Retrain { replay, holdout }
        }
        3 => DriftAction::Reset,
        _ => return None,
    };
    let misplaced: &[(&str, bool)] = &[
        ("boost_factor", matches!(action, DriftAction::Boost { .. })),
        (
            "boost_examples",
            matches!(action, DriftAction::Boost { .. }),
        ),
        ("replay", matches!(action, DriftAction::Retrain { .. })),
        ("holdout", matches!(action, DriftAction::Retrain { .. })),
    ];
    for (k, fits) in misplaced {
        if own(k) && !fits {
            v.err(join(path, k), "does not apply to this action");
        }
    }
    Some(DriftSpec {
        detector,
        params,
        action,
    })
}

fn baseline(v: &mut Validator, t: &Table, path: &str) -> Option<BaselineSpec> {
    v.unknown_keys(t, path, &["path", "inputs", "mode", "fraction"]);
    let file = v.required_string(
        t,
        path,
        "path",
        "the baseline model file (ONNX or snapshot)",
    );
    let inputs = names(v, t, path, "inputs");
    let mode = if t.contains_key("mode") {
        v.choice(t, path, "mode", &[("shadow", false), ("split", true)])?
    } else {
        false
    };
    let fraction = match t.get("fraction") {
        None => 0.5,
        Some(Toml::Float(f)) if *f > 0.0 && *f < 1.0 => *f,
        Some(other) => {
            v.err(
                join(path, "fraction"),
                format!("expected a number between 0 and 1 (the online arm's share of keys), found {other}"),
            );
            0.5
        }
    };
    if !mode && t.contains_key("fraction") {
        v.err(join(path, "fraction"), "only for mode = \"split\"");
    }
    Some(BaselineSpec {
        path: PathBuf::from(file?),
        inputs,
        mode: if mode {
            AbMode::Split { online: fraction }
        } else {
            AbMode::Shadow
        },
    })
}

fn promotion(v: &mut Validator, t: &Table, path: &str) -> PromotionSpec {
    v.unknown_keys(
        t,
        path,
        &["metric", "min_examples", "confidence", "rollback"],
    );
    let metric = v.string(t, path, "metric");
    if let Some(m) = &metric {
        if !["accuracy", "log_loss", "mae", "rmse"].contains(&m.as_str()) {
            v.err(
                join(path, "metric"),
                format!("`{m}` cannot decide a promotion; expected one of: accuracy, log_loss, mae, rmse (roc_auc has no per-example score to build an interval on)"),
            );
        }
    }
    let confidence = match t.get("confidence") {
        None => 0.95,
        Some(Toml::Float(c)) if *c > 0.5 && *c < 1.0 => *c,
        Some(other) => {
            v.err(
                join(path, "confidence"),
                format!("expected a number between 0.5 and 1 (e.g. 0.95), found {other}"),
            );
            0.95
        }
    };
    let rollback = boolean(v, t, path, "rollback", true);
    PromotionSpec {
        metric,
        min_examples: v.count(t, path, "min_examples").unwrap_or(1000) as u64,
        confidence,
        rollback,
    }
}

fn snapshots(v: &mut Validator, t: &Table, path: &str) -> Option<SnapshotSpec> {
    v.unknown_keys(t, path, &["dir", "every", "interval", "resume"]);
    let dir = v.required_string(t, path, "dir", "the directory snapshots are written to")?;
    let every = v.positive_int(t, path, "every").map(|n| n as u64);
    let interval = v.duration(t, path, "interval");
    if every.is_none() && interval.is_none() {
        v.err(
            path,
            "say when to snapshot: `every` (labelled examples) and/or `interval` (event time)",
        );
    }
    let resume = boolean(v, t, path, "resume", true);
    Some(SnapshotSpec {
        dir: PathBuf::from(dir),
        every,
        interval,
        resume,
    })
}
