//! The optional `[model]` table: which inference pattern, where the model is (a file, or a
//! server and its client settings), its inputs and the member that holds its prediction.

use std::path::PathBuf;
use std::time::Duration;

use eddy_oip::remote::{EmitMode, EnvHeader, RemoteConfig, WireType};
use toml::{Table, Value as Toml};

use crate::check::{join, type_name, Validator};

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
    /// Side output and topics: how long an event waits for its score before it leaves
    /// unscored.
    pub deadline: Option<Duration>,
    /// The member of the per-event row that holds the prediction (default `prediction`).
    pub field: String,
}

/// Which inference pattern the pipeline uses (see `docs/serving.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// In process, on the engine thread, every per-event row.
    Embedded,
    /// Every per-event row through an Open Inference Protocol server; the row waits for its
    /// score (or the fallback).
    External,
    /// The stream forks: rows go on and rejoin their scores within a deadline.
    SideOutput,
    /// Each row's scoring request goes to a Kafka topic; its score comes back on another
    /// (from `eddy score-worker`s) and rejoins it within a deadline.
    Topics,
}

impl Pattern {
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Embedded => "embedded",
            Pattern::External => "external",
            Pattern::SideOutput => "side_output",
            Pattern::Topics => "topics",
        }
    }
}

/// Where a `[model]` is.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// `.onnx` or an eddy snapshot `.json`; relative paths are resolved against the spec
    /// file's directory by [`PipelineSpec::from_file`](crate::spec::PipelineSpec::from_file).
    File(PathBuf),
    /// An Open Inference Protocol server and the client's settings (`url`, `model` = name).
    /// `input_set`/`datatype_set`: whether the spec chose the input tensor's name and wire
    /// type (otherwise the server's metadata does, when it answers at start).
    Server {
        cfg: Box<RemoteConfig>,
        input_set: bool,
        datatype_set: bool,
    },
    /// Kafka request and response topics, answered by score workers.
    Topics(TopicsConfig),
}

/// Where the topics pattern sends its requests and reads its scores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicsConfig {
    /// Kafka bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    pub request_topic: String,
    pub response_topic: String,
    /// The response consumer's group (default: one of the run's own, `eddy-scores-<run id>`).
    pub response_group: Option<String>,
    /// Rows sent and not yet out; a full join holds the pipeline up (back-pressure).
    pub capacity: usize,
    pub order: EmitMode,
    /// librdkafka properties for the pipeline's producer and consumer, as given.
    pub client: Vec<(String, String)>,
}

impl ModelSpec {
    /// The model file, for the embedded pattern.
    pub fn path(&self) -> Option<&std::path::Path> {
        match &self.source {
            ModelSource::File(p) => Some(p),
            ModelSource::Server { .. } | ModelSource::Topics(_) => None,
        }
    }
}

/// `[model]` keys that configure the client of a model server (refused without one).
const SERVER_KEYS: &[&str] = &[
    "url",
    "input",
    "datatype",
    "score_output",
    "score_column",
    "label_output",
    "ca_file",
    "bearer_token_env",
    "headers_env",
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

/// `[model]` keys of the topics pattern (besides `deadline`, `capacity` and `order`, which
/// it shares with the server patterns).
const TOPICS_KEYS: &[&str] = &[
    "brokers",
    "request_topic",
    "response_topic",
    "response_group",
    "client",
];

/// Validates the `[model]` table at `path`; what it needs depends on `pattern`.
pub(super) fn model(v: &mut Validator, m: &Table, path: &str) -> Option<ModelSpec> {
    let mut known = vec!["pattern", "path", "name", "inputs", "field"];
    known.extend_from_slice(SERVER_KEYS);
    known.extend_from_slice(TOPICS_KEYS);
    if !m.contains_key("pattern") || m.get("pattern").and_then(|p| p.as_str()) != Some("topics") {
        for k in TOPICS_KEYS.iter().filter(|k| m.contains_key(**k)) {
            v.err(
                join(path, k),
                "is a setting of the topics pattern; set `pattern = \"topics\"` to use it",
            );
        }
    }
    v.unknown_keys(m, path, &known);
    let pattern = if m.contains_key("pattern") {
        v.choice(
            m,
            path,
            "pattern",
            &[
                ("embedded", Pattern::Embedded),
                ("external", Pattern::External),
                ("side_output", Pattern::SideOutput),
                ("topics", Pattern::Topics),
            ],
        )?
    } else {
        Pattern::Embedded
    };
    let name = v.string(m, path, "name");
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        v.err(
            join(path, "name"),
            "is empty; expected a name (or leave it out)",
        );
    }
    let inputs = model_inputs(v, m, path);
    let field = v
        .string(m, path, "field")
        .unwrap_or_else(|| "prediction".into());
    if field.is_empty() || field == "features" || field == "scored" {
        v.err(
            join(path, "field"),
            format!("`{field}`: expected a member name other than \"features\" and \"scored\""),
        );
    }
    let (source, name, deadline) = match pattern {
        Pattern::Embedded => {
            for k in SERVER_KEYS.iter().filter(|k| m.contains_key(**k)) {
                v.err(
                    join(path, k),
                    "is a setting of a model server; set `pattern = \"external\"` or `\"side_output\"` to use one",
                );
            }
            let file = PathBuf::from(v.required_string(
                m,
                path,
                "path",
                "the path of a .onnx or .json model",
            )?);
            let name = match name {
                Some(n) => n,
                None => file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "model".to_string()),
            };
            (ModelSource::File(file), name, None)
        }
        Pattern::External | Pattern::SideOutput => {
            if m.contains_key("path") {
                v.err(
                    join(path, "path"),
                    format!(
                        "pattern `{}` scores through a server: set `url` instead (or use `pattern = \"embedded\"`)",
                        pattern.as_str()
                    ),
                );
            }
            if inputs.is_none() && !m.contains_key("inputs") {
                v.err(
                    join(path, "inputs"),
                    "missing; a server's metadata does not name features, so list the features the model takes, in order",
                );
            }
            let cfg = server_config(v, m, path, pattern, name.as_deref().unwrap_or_default());
            let Some(name) = name else {
                if !m.contains_key("name") {
                    v.err(
                        join(path, "name"),
                        "missing; expected the served model's name (requests go to {url}/v2/models/{name}/infer)",
                    );
                }
                return None;
            };
            let deadline = match pattern {
                Pattern::SideOutput => Some(Duration::from_millis(
                    v.duration(m, path, "deadline").unwrap_or(50).max(1) as u64,
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
        Pattern::Topics => {
            for k in ["path", "url"] {
                if m.contains_key(k) {
                    v.err(
                        join(path, k),
                        "pattern `topics` scores through Kafka topics: set `brokers`, `request_topic` and `response_topic` instead",
                    );
                }
            }
            for k in SERVER_KEYS
                .iter()
                .filter(|k| !["url", "deadline", "capacity", "order"].contains(k))
                .filter(|k| m.contains_key(**k))
            {
                v.err(
                    join(path, k),
                    "is a setting of a model server; the topics pattern's score workers hold the model",
                );
            }
            if inputs.is_none() && !m.contains_key("inputs") {
                v.err(
                    join(path, "inputs"),
                    "missing; list the features each request carries, in the order the model takes them",
                );
            }
            let cfg = topics_config(v, m, path);
            let deadline = v.duration(m, path, "deadline").unwrap_or(1000).max(1) as u64;
            let cfg = cfg?;
            let name = name.unwrap_or_else(|| cfg.request_topic.clone());
            (
                ModelSource::Topics(cfg),
                name,
                Some(Duration::from_millis(deadline)),
            )
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

/// The settings of `pattern = "topics"`.
fn topics_config(v: &mut Validator, m: &Table, path: &str) -> Option<TopicsConfig> {
    let brokers = v.required_string(
        m,
        path,
        "brokers",
        "the Kafka bootstrap servers, e.g. \"127.0.0.1:9092\"",
    );
    let request_topic = v.required_string(
        m,
        path,
        "request_topic",
        "the topic the scoring requests go to",
    );
    let response_topic = v.required_string(
        m,
        path,
        "response_topic",
        "the topic the score workers answer on",
    );
    let response_group = v.string(m, path, "response_group");
    for (k, s) in [
        ("brokers", &brokers),
        ("request_topic", &request_topic),
        ("response_topic", &response_topic),
    ] {
        if s.as_deref().is_some_and(|s| s.trim().is_empty()) {
            v.err(join(path, k), "is empty");
        }
    }
    if request_topic.is_some() && request_topic == response_topic {
        v.err(
            join(path, "response_topic"),
            "is the request topic; the scores need a topic of their own",
        );
    }
    let capacity = v.positive_int(m, path, "capacity").unwrap_or(4096);
    let order = v
        .choice(
            m,
            path,
            "order",
            &[
                ("ordered", EmitMode::Ordered),
                ("unordered", EmitMode::Unordered),
            ],
        )
        .unwrap_or(EmitMode::Ordered);
    let mut client = Vec::new();
    match m.get("client") {
        None => {}
        Some(Toml::Table(t)) => {
            for (k, val) in t {
                match val {
                    Toml::String(s) => client.push((k.clone(), s.clone())),
                    Toml::Integer(i) => client.push((k.clone(), i.to_string())),
                    Toml::Boolean(b) => client.push((k.clone(), b.to_string())),
                    x => v.err(
                        format!("{}.{k}", join(path, "client")),
                        format!(
                            "expected a string, integer or boolean, found {}",
                            type_name(x)
                        ),
                    ),
                }
            }
        }
        Some(x) => v.err(
            join(path, "client"),
            format!(
                "expected a table of librdkafka properties, found {}",
                type_name(x)
            ),
        ),
    }
    Some(TopicsConfig {
        client,
        brokers: brokers?,
        request_topic: request_topic?,
        response_topic: response_topic?,
        response_group,
        capacity,
        order,
    })
}

/// `inputs`: the feature names the model takes, in order.
fn model_inputs(v: &mut Validator, m: &Table, path: &str) -> Option<Vec<String>> {
    let p = join(path, "inputs");
    match m.get("inputs") {
        None => None,
        Some(Toml::Array(arr)) => {
            if arr.is_empty() {
                v.err(&p, "is empty; expected feature names");
            }
            let mut names = Vec::with_capacity(arr.len());
            for (i, item) in arr.iter().enumerate() {
                match item {
                    Toml::String(s) => names.push(s.clone()),
                    x => v.err(
                        format!("{p}[{i}]"),
                        format!("expected a feature name, found {}", type_name(x)),
                    ),
                }
            }
            Some(names)
        }
        Some(x) => {
            v.err(
                p,
                format!("expected an array of feature names, found {}", type_name(x)),
            );
            None
        }
    }
}

/// Whether `var` can name an environment variable (non-empty, no `=` or NUL); says why not.
fn env_var_name(v: &mut Validator, p: &str, var: &str) -> bool {
    let ok = !var.is_empty() && !var.contains(['=', '\0']);
    if !ok {
        v.err(
            p,
            format!(
                "`{var}`: expected the name of an environment variable (which holds the secret)"
            ),
        );
    }
    ok
}

/// `headers_env = { "X-Api-Key" = "MODEL_API_KEY" }`: headers whose values are read from
/// environment variables when the run starts (the spec names the variable, never the secret).
fn headers_env(v: &mut Validator, m: &Table, path: &str) -> Vec<EnvHeader> {
    let p = join(path, "headers_env");
    let table = match m.get("headers_env") {
        None => return Vec::new(),
        Some(Toml::Table(t)) => t,
        Some(x) => {
            v.err(
                p,
                format!(
                    "expected a table of header names to environment variable names, found {}",
                    type_name(x)
                ),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(table.len());
    for (name, var) in table {
        let hp = format!("{p}.{name}");
        // RFC 9110 token characters.
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            v.err(&hp, "is not a valid HTTP header name");
            continue;
        }
        match var {
            Toml::String(var) => {
                if env_var_name(v, &hp, var) {
                    out.push(EnvHeader {
                        name: name.clone(),
                        var: var.clone(),
                        prefix: String::new(),
                    });
                }
            }
            x => v.err(
                &hp,
                format!(
                    "expected the name of an environment variable, found {}",
                    type_name(x)
                ),
            ),
        }
    }
    out
}

/// The client settings of `pattern = "external"` / `"side_output"`.
fn server_config(
    v: &mut Validator,
    m: &Table,
    path: &str,
    pattern: Pattern,
    name: &str,
) -> Option<RemoteConfig> {
    let url = v.required_string(
        m,
        path,
        "url",
        "the server's base URL, e.g. \"http://127.0.0.1:8080\"",
    );
    if let Some(u) = &url {
        if !u.starts_with("http://") && !u.starts_with("https://") {
            v.err(
                join(path, "url"),
                format!("`{u}`: expected a URL starting with http:// or https://"),
            );
        }
    }
    let mut cfg = RemoteConfig::new(url.clone().unwrap_or_default(), name);
    if let Some(s) = v.string(m, path, "input") {
        cfg.input = s;
    }
    if let Some(s) = v.string(m, path, "score_output") {
        cfg.score_output = s;
    }
    cfg.score_column = v.count(m, path, "score_column");
    cfg.label_output = v.string(m, path, "label_output");
    cfg.ca_file = v.string(m, path, "ca_file").map(PathBuf::from);
    if cfg.ca_file.is_some() && url.as_deref().is_some_and(|u| u.starts_with("http://")) {
        v.err(
            join(path, "ca_file"),
            "is only for an https:// url (plain HTTP verifies no certificate)",
        );
    }
    if let Some(var) = v.string(m, path, "bearer_token_env") {
        if env_var_name(v, &join(path, "bearer_token_env"), &var) {
            cfg.headers.push(EnvHeader::bearer(var));
        }
    }
    cfg.headers.extend(headers_env(v, m, path));
    if let Some(d) = v.choice(
        m,
        path,
        "datatype",
        &[("fp64", WireType::Fp64), ("fp32", WireType::Fp32)],
    ) {
        cfg.datatype = d;
    }
    let ms = |v: i64| Duration::from_millis(v as u64);
    if let Some(n) = v.positive_int(m, path, "max_batch") {
        cfg.max_batch = n;
    }
    if let Some(d) = v.duration(m, path, "max_wait") {
        cfg.max_wait = ms(d);
    }
    if let Some(n) = v.positive_int(m, path, "max_in_flight") {
        cfg.max_in_flight = n;
    }
    if let Some(n) = v.positive_int(m, path, "capacity") {
        cfg.capacity = n;
    }
    if let Some(d) = v.duration(m, path, "timeout") {
        if d == 0 {
            v.err(
                join(path, "timeout"),
                "is 0; expected a duration such as \"1s\"",
            );
        }
        cfg.timeout = ms(d);
    }
    if let Some(n) = v.count(m, path, "max_retries") {
        cfg.max_retries = n.min(u32::MAX as usize) as u32;
    }
    if let Some(d) = v.duration(m, path, "backoff_base") {
        cfg.backoff_base = ms(d);
    }
    if let Some(d) = v.duration(m, path, "backoff_max") {
        cfg.backoff_max = ms(d);
    }
    if let Some(n) = v.count(m, path, "breaker_failures") {
        cfg.breaker_failures = n.min(u32::MAX as usize) as u32;
    }
    if let Some(d) = v.duration(m, path, "breaker_cooldown") {
        cfg.breaker_cooldown = ms(d);
    }
    match m.get("fallback_score") {
        None => {}
        Some(Toml::Float(f)) if f.is_finite() => cfg.fallback_score = *f,
        Some(Toml::Integer(i)) => cfg.fallback_score = *i as f64,
        Some(x) => v.err(
            join(path, "fallback_score"),
            format!("expected a finite number, found {}", type_name(x)),
        ),
    }
    match pattern {
        Pattern::SideOutput => {
            if m.contains_key("order") {
                v.err(
                    join(path, "order"),
                    "only for pattern `external`: side-output rows always leave in input order",
                );
            }
            // Scores are wanted as soon as they arrive; rows keep their order at the join.
            cfg.mode = EmitMode::Unordered;
        }
        _ => {
            if m.contains_key("deadline") {
                v.err(
                    join(path, "deadline"),
                    "only for pattern `side_output`: an external call waits for its score (bounded by timeout and retries)",
                );
            }
            if let Some(o) = v.choice(
                m,
                path,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::{errors, with_feature};
    use crate::spec::PipelineSpec;

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
            "{base}[model]\npattern = \"external\"\nurl = \"ftp://h\"\nname = \"m\"\ninputs = [\"a\"]\ndeadline = \"1s\"\nmax_batch = 0\nmax_retries = -1\ntimeout = 0\norder = \"random\"\nfallback_score = \"x\"\n"
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
    fn model_server_columns_tls_and_credentials() {
        let base = with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "tumbling", size = "1m" }"#,
        );
        let server = "[model]\npattern = \"external\"\nname = \"m\"\ninputs = [\"a\"]\n";
        let s = PipelineSpec::parse(&format!(
            "{base}{server}url = \"https://h:1\"\nscore_output = \"predict_proba\"\nscore_column = 1\nca_file = \"ca.pem\"\nbearer_token_env = \"TOKEN\"\nheaders_env = {{ \"X-Api-Key\" = \"KEY\" }}\n"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let ModelSource::Server { cfg, .. } = &s.model.unwrap().source else {
            panic!("not a server")
        };
        assert_eq!(
            (cfg.score_output.as_str(), cfg.score_column),
            ("predict_proba", Some(1))
        );
        assert_eq!(cfg.ca_file.as_deref(), Some(std::path::Path::new("ca.pem")));
        assert_eq!(
            cfg.headers,
            [
                EnvHeader::bearer("TOKEN"),
                EnvHeader {
                    name: "X-Api-Key".into(),
                    var: "KEY".into(),
                    prefix: String::new()
                }
            ]
        );
        // A CA file over plain HTTP; a negative column; names that cannot be a variable or a
        // header.
        let e = errors(&format!(
            "{base}{server}url = \"http://h:1\"\nscore_column = -1\nca_file = \"ca.pem\"\nbearer_token_env = \"\"\nheaders_env = {{ \"X Key\" = \"KEY\", \"X-B\" = \"A=B\", \"X-C\" = 3 }}\n"
        ));
        for p in [
            "model.score_column",
            "model.ca_file",
            "model.bearer_token_env",
            "model.headers_env.X Key",
            "model.headers_env.X-B",
            "model.headers_env.X-C",
        ] {
            assert!(e.has_path(p), "{p}: {e}");
        }
        let e = errors(&format!(
            "{base}{server}url = \"https://h\"\nheaders_env = \"KEY\"\n"
        ));
        assert!(e.has_path("model.headers_env"), "{e}");
    }

    #[test]
    fn model_topics_pattern() {
        let base = with_feature(
            r#"[[feature]]
name = "a"
agg = "count"
window = { kind = "tumbling", size = "1m" }"#,
        );
        let topics = "[model]\npattern = \"topics\"\ninputs = [\"a\"]\n";
        let s = PipelineSpec::parse(&format!(
            "{base}{topics}brokers = \"h:9092\"\nrequest_topic = \"rq\"\nresponse_topic = \"rs\"\ndeadline = \"3s\"\ncapacity = 10\norder = \"unordered\"\n"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let m = s.model.unwrap();
        assert_eq!((m.pattern, m.name.as_str()), (Pattern::Topics, "rq"));
        assert_eq!(m.deadline, Some(Duration::from_secs(3)));
        assert_eq!(
            m.source,
            ModelSource::Topics(TopicsConfig {
                brokers: "h:9092".into(),
                request_topic: "rq".into(),
                response_topic: "rs".into(),
                response_group: None,
                capacity: 10,
                order: EmitMode::Unordered,
                client: Vec::new(),
            })
        );
        // Missing settings; one topic for both; a server's and a file's keys.
        let e = errors(&format!(
            "{base}[model]\npattern = \"topics\"\nresponse_topic = \"t\"\nurl = \"http://h\"\npath = \"m.onnx\"\nmax_batch = 3\n"
        ));
        for p in [
            "model.brokers",
            "model.request_topic",
            "model.inputs",
            "model.url",
            "model.path",
            "model.max_batch",
        ] {
            assert!(e.has_path(p), "{p}: {e}");
        }
        let e = errors(&format!(
            "{base}{topics}brokers = \"h\"\nrequest_topic = \"t\"\nresponse_topic = \"t\"\n"
        ));
        assert!(e.has_path("model.response_topic"), "{e}");
        // Topics keys without the topics pattern.
        let e = errors(&format!(
            "{base}[model]\npath = \"m.onnx\"\nbrokers = \"h\"\nrequest_topic = \"t\"\n"
        ));
        assert!(
            e.has_path("model.brokers") && e.has_path("model.request_topic"),
            "{e}"
        );
    }
}
