//! `eddy bench`: end-to-end throughput of the example pipeline (examples/fraud.toml) over
//! generated fraud data, in memory and file to file (JSONL → JSONL in a temp dir).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context};
use clap::Args;
use eddy_runtime::connector::file::{FileSink, FileSource};
use eddy_runtime::connector::{MemorySink, MemorySource};
use eddy_runtime::generate::{generate_to_vec, GenConfig, Scenario};
use eddy_runtime::outputs::Outputs;
use eddy_runtime::{Pipeline, PipelineSpec, RunHooks, Summary};

use super::{fraud_model, thousands, TempDir, FRAUD_SPEC};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Number of generated events.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Skip the runs with a model (embedded, and external through `eddy serve` on loopback).
    #[arg(long)]
    pub no_model: bool,
}

fn spec() -> anyhow::Result<PipelineSpec> {
    PipelineSpec::parse(FRAUD_SPEC).map_err(|e| anyhow!("built-in spec: {e}"))
}

fn report(label: &str, s: &Summary, secs: f64) -> f64 {
    let rate = s.events_read as f64 / secs.max(1e-9);
    println!(
        "{label:<14} {:>12} events in {:>7.3} s = {:>11} events/s  ({} per-event rows, {} window rows, {} late, {} dead)",
        thousands(s.events_read),
        secs,
        thousands(rate as u64),
        thousands(s.emitted),
        thousands(s.window_rows),
        thousands(s.late + s.late_discarded),
        thousands(s.dead_lettered)
    );
    rate
}

/// Runs `spec` over `data` with the memory source and sinks, outputs encoded and discarded.
fn in_memory(mut spec: PipelineSpec, data: &Arc<[u8]>) -> anyhow::Result<(Summary, f64, Pipeline)> {
    spec.source.connector = MemorySource::config("memory", data.clone());
    let discard = MemorySink::discarding();
    for out in [
        &mut spec.output.events,
        &mut spec.output.windows,
        &mut spec.output.late,
        &mut spec.output.dead_letter,
    ] {
        *out = Some(Arc::new(discard.clone()));
    }
    let mut pipeline = Pipeline::new(spec)?;
    let mut source = pipeline.open_source()?;
    let mut outputs = Outputs::open_for(pipeline.spec())?;
    let start = Instant::now();
    let mut clock = move || start.elapsed().as_millis() as i64;
    let s = pipeline.run(
        source.as_mut(),
        &mut outputs,
        RunHooks::with_clock(&mut clock),
    )?;
    Ok((s, start.elapsed().as_secs_f64(), pipeline))
}

/// The example fraud model in the pipeline: embedded (against the same pipeline without a
/// model, alternating runs, best of two each), then through `eddy serve` on loopback.
fn with_models(dir: &Path, data: &Arc<[u8]>, first_plain_rate: f64) -> anyhow::Result<()> {
    let model = fraud_model(dir)?;
    let (path, n_inputs) = (
        model.path().context("embedded model path")?.to_path_buf(),
        model.inputs.as_ref().map_or(0, Vec::len),
    );
    let mut embedded = spec()?;
    embedded.model = Some(model);
    let (mut plain_best, mut model_best) = (first_plain_rate, 0f64);
    for round in 0..2 {
        let (s, secs, _) = in_memory(embedded.clone(), data)?;
        if s.scored != s.emitted {
            return Err(anyhow!(
                "embedded model: {} of {} rows scored",
                s.scored,
                s.emitted
            ));
        }
        model_best = model_best.max(report("embedded model", &s, secs));
        if round == 0 {
            let (s, secs, _) = in_memory(spec()?, data)?;
            plain_best = plain_best.max(report("in memory", &s, secs));
        }
    }
    println!(
        "embedded/no-model ratio: {:.2}   (best of 2 runs each, logistic regression over {} features)",
        model_best / plain_best.max(1e-9),
        n_inputs
    );

    external(embedded, &path, data, plain_best)
}

/// The example model through `eddy serve` on loopback (the external pattern).
#[cfg(feature = "http")]
fn external(
    mut external: PipelineSpec,
    path: &Path,
    data: &Arc<[u8]>,
    plain_best: f64,
) -> anyhow::Result<()> {
    use eddy_oip::remote::RemoteConfig;
    use eddy_oip::server::{self, ModelSet, ServerConfig};
    use eddy_runtime::spec::{ModelSource, ModelSpec, Pattern};
    let model = eddy_infer::load_model(path, "fraud_lr")?;
    let mut set = ModelSet::new();
    set.insert(Arc::from(model)).map_err(|e| anyhow!(e))?;
    let server = server::spawn(set, "127.0.0.1:0".parse()?, &ServerConfig::default(), 1)
        .context("starting eddy serve on loopback")?;
    let mut cfg = RemoteConfig::new(server.url(), "fraud_lr");
    cfg.max_batch = 256;
    cfg.max_in_flight = 4;
    external.model = Some(ModelSpec {
        pattern: Pattern::External,
        source: ModelSource::Server {
            cfg: Box::new(cfg),
            input_set: false,
            datatype_set: false,
        },
        ..external.model.take().context("model spec")?
    });
    let (s, secs, _) = in_memory(external, data)?;
    let rate = report("external model", &s, secs);
    println!(
        "external/no-model ratio: {:.2}   (eddy serve on loopback, 1 thread; batches of up to 256, 4 in flight; {} fallback)",
        rate / plain_best.max(1e-9),
        thousands(s.fallback)
    );
    Ok(())
}

#[cfg(not(feature = "http"))]
fn external(_: PipelineSpec, _: &Path, _: &Arc<[u8]>, _: f64) -> anyhow::Result<()> {
    println!("external model: skipped (built without the `http` feature)");
    Ok(())
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = GenConfig::new(Scenario::Fraud, args.events, args.seed);
    cfg.keys = args.keys.max(1);
    cfg.disorder_ms = 6_000;
    cfg.late_fraction = 0.001;
    let data: Arc<[u8]> = generate_to_vec(&cfg).into();
    println!(
        "eddy bench: examples/fraud.toml (5 features), {} generated fraud events, {} keys, {:.1} MiB of JSONL",
        thousands(args.events),
        thousands(cfg.keys),
        data.len() as f64 / (1 << 20) as f64
    );

    // In memory: input from a byte buffer, outputs encoded and discarded.
    let (s, secs, pipeline) = in_memory(spec()?, &data)?;
    let mem_rate = report("in memory", &s, secs);
    let state = pipeline.engine().state_bytes();
    let keys = pipeline.engine().num_keys().max(1);
    drop(pipeline);

    let dir = TempDir::new("bench")?;
    if !args.no_model {
        with_models(&dir.0, &data, mem_rate)?;
    }

    // File to file.
    let input = dir.0.join("events.jsonl");
    std::fs::write(&input, &data).with_context(|| format!("writing {}", input.display()))?;
    drop(data);
    let mut spec = spec()?;
    spec.source.connector = FileSource::config(input);
    spec.output.events = Some(FileSink::config(dir.0.join("features.jsonl")));
    spec.output.windows = Some(FileSink::config(dir.0.join("windows.jsonl")));
    spec.output.late = Some(FileSink::config(dir.0.join("late.jsonl")));
    spec.output.dead_letter = Some(FileSink::config(dir.0.join("dead.jsonl")));
    let start = Instant::now();
    let mut pipeline = Pipeline::new(spec)?;
    let mut source = pipeline.open_source()?;
    let mut outputs = Outputs::open_for(pipeline.spec())?;
    let mut clock = move || start.elapsed().as_millis() as i64;
    let s = pipeline.run(
        source.as_mut(),
        &mut outputs,
        RunHooks::with_clock(&mut clock),
    )?;
    drop(outputs);
    let file_rate = report("file to file", &s, start.elapsed().as_secs_f64());
    let out_bytes = std::fs::metadata(dir.0.join("features.jsonl"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "file/memory ratio: {:.2}   (per-event output {:.1} MiB)",
        file_rate / mem_rate.max(1e-9),
        out_bytes as f64 / (1 << 20) as f64
    );
    println!(
        "feature state at end of input: {} bytes for {} keys = {} bytes/key",
        thousands(state as u64),
        thousands(keys as u64),
        thousands((state / keys) as u64)
    );
    Ok(ExitCode::SUCCESS)
}
