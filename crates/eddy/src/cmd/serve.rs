//! `eddy serve`: serve models over the Open Inference Protocol (KServe V2 REST).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use eddy_infer::{load_model_with, LoadOptions};
use eddy_oip::server::{self, ModelSet, ServerConfig, DEFAULT_MAX_BODY};

#[derive(clap::Args, Debug)]
#[command(after_help = "Routes: GET /v2, /v2/health/live, /v2/health/ready, \
    /v2/models/{name}, /v2/models/{name}/ready; POST /v2/models/{name}/infer.\n\
    A model is named after its file stem, or `--model NAME=PATH`, or `--name` (one model).\n\
    Prints `listening on http://ADDR` on stdout once the socket is bound (port 0 picks one).")]
pub struct ServeArgs {
    /// Model file (`.json` eddy snapshot or `.onnx`), optionally `NAME=PATH`; repeatable.
    #[arg(long = "model", required = true, value_name = "[NAME=]PATH")]
    pub models: Vec<String>,
    /// Name of the model (only with a single --model).
    #[arg(long)]
    pub name: Option<String>,
    /// Version reported in metadata.
    #[arg(long = "model-version", default_value = "1")]
    pub model_version: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// Largest request body in bytes (larger gets 413).
    #[arg(long, default_value_t = DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// Worker threads (and scoring threads).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// How long a connection may take to send a request's headers (and may stay idle between
    /// requests) before it is closed, such as `500ms`, `30s`, `2m` [default: 10s].
    #[arg(long, value_parser = timeout, value_name = "DURATION")]
    pub header_timeout: Option<Duration>,
    /// How long an infer request's body may take to arrive once its headers have (longer
    /// gets 408) [default: 10s].
    #[arg(long, value_parser = timeout, value_name = "DURATION")]
    pub body_timeout: Option<Duration>,
}

/// A timeout written as spec durations are (`250ms`, `10s`, `2m`, `1h`); zero is refused,
/// as it would close every connection before its first byte.
fn timeout(s: &str) -> Result<Duration> {
    let ms = eddy_core::time::parse_duration(s)?;
    if ms <= 0 {
        bail!("a timeout must be above zero");
    }
    Ok(Duration::from_millis(ms.unsigned_abs()))
}

fn stem(path: &Path) -> Result<String> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
        .with_context(|| format!("cannot name a model after {}", path.display()))
}

pub fn run(args: ServeArgs) -> Result<()> {
    if args.name.is_some() && args.models.len() != 1 {
        bail!("--name applies to a single --model; use --model NAME=PATH for several");
    }
    let mut set = ModelSet::new();
    for spec in &args.models {
        let (name, path) = match spec.split_once('=') {
            Some((n, p)) if !n.is_empty() && !Path::new(spec).exists() => {
                (n.to_string(), PathBuf::from(p))
            }
            _ => {
                let p = PathBuf::from(spec);
                (args.name.clone().map_or_else(|| stem(&p), Ok)?, p)
            }
        };
        let opts = LoadOptions {
            features: None,
            version: Some(args.model_version.clone()),
        };
        let model = load_model_with(&path, &name, &opts)
            .with_context(|| format!("cannot load model {name:?} from {}", path.display()))?;
        set.insert(Arc::from(model)).map_err(anyhow::Error::msg)?;
    }
    let names = set.names().join(", ");
    let default = ServerConfig::default();
    let cfg = ServerConfig {
        max_body: args.max_body,
        header_timeout: args.header_timeout.unwrap_or(default.header_timeout),
        body_timeout: args.body_timeout.unwrap_or(default.body_timeout),
    };
    server::run(set, args.addr, &cfg, args.threads, |addr| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
        eprintln!("eddy serve: models {names}");
    })
    .with_context(|| format!("cannot serve on {}", args.addr))
}
